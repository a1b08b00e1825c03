/* SPDX-License-Identifier: MIT */
/*
 * Coalesced port writes. KVM appends a guest's write to a registered port
 * window to a ring in a page every vCPU maps, and lets the vCPU go on
 * without exiting; the VMM replays the ring onto its port bus. Order is
 * kept by draining before any exit is dispatched (kvm_vcpu.c): the guest
 * can only observe a device through an access that exits, and that access
 * finds every earlier write already applied. vcon_vm_run's thread drains
 * too, on a 10 ms tick, for a guest that writes and then waits without
 * touching a device (Linux does not: its 8250 driver reads IIR or LSR
 * after each burst).
 *
 * When the ring is full, KVM exits with the write as a normal
 * KVM_EXIT_IO; draining first keeps it behind the ones already queued.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kvm_impl.h"

VCON_API int
vcon_vm_coalesce_pio(struct vcon_vm *vm, uint16_t port, uint16_t len)
{
	struct kvm_coalesced_mmio_zone zone = { .addr = port,
						.size = len,
						.pio = 1 };
	long page = sysconf(_SC_PAGESIZE);
	int off;

	if (!len || (unsigned)port + len > 0x10000u)
		return -EINVAL;
	if (ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_PIO) <= 0)
		return -EOPNOTSUPP;
	/* The capability's value is the ring's page in the vCPU mapping. */
	off = ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_COALESCED_MMIO);
	if (off <= 0 || page <= 0 ||
	    (size_t)(off + 1) * (size_t)page > vm->vcpus[0].run_size)
		return -EOPNOTSUPP;
	if (ioctl(vm->fd, KVM_REGISTER_COALESCED_MMIO, &zone) < 0)
		return -errno;
	if (!vm->ring) {
		vm->ring = (struct kvm_coalesced_mmio_ring
				    *)(void *)((uint8_t *)vm->vcpus[0].run +
					       (size_t)off * (size_t)page);
		vm->ring_max = (uint32_t)(((size_t)page - sizeof(*vm->ring)) /
					  sizeof(vm->ring->coalesced_mmio[0]));
	}
	return 0;
}

void
vcon__vm_drain(struct vcon_vm *vm)
{
	struct kvm_coalesced_mmio_ring *r = vm->ring;
	uint32_t first, last;

	if (!r)
		return;
	pthread_mutex_lock(&vm->ring_lock);
	first = r->first;
	last = __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
	while (first != last && first < vm->ring_max && last < vm->ring_max) {
		struct kvm_coalesced_mmio e = r->coalesced_mmio[first];
		uint32_t n = e.len <= sizeof(e.data) ? e.len : sizeof(e.data);

		vcon_bus_access(e.pio ? vm->pio : vm->mmio, e.phys_addr, n, 1,
				true, e.data);
		vm->coalesced++;
		first = (first + 1) % vm->ring_max;
		/* Only now: a vCPU that sees first == last may go on. */
		__atomic_store_n(&r->first, first, __ATOMIC_RELEASE);
		if (first == last)
			last = __atomic_load_n(&r->last, __ATOMIC_ACQUIRE);
	}
	pthread_mutex_unlock(&vm->ring_lock);
}

VCON_API void
vcon_vm_get_stats(struct vcon_vm *vm, struct vcon_vm_stats *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	for (i = 0; i < vm->nr_vcpus; i++) {
		st->io_exits += __atomic_load_n(&vm->vcpus[i].io_exits,
						__ATOMIC_RELAXED);
		st->mmio_exits += __atomic_load_n(&vm->vcpus[i].mmio_exits,
						  __ATOMIC_RELAXED);
	}
	pthread_mutex_lock(&vm->ring_lock);
	st->coalesced_writes = vm->coalesced;
	if (vm->ring) {
		uint32_t first =
			__atomic_load_n(&vm->ring->first, __ATOMIC_ACQUIRE);
		uint32_t last =
			__atomic_load_n(&vm->ring->last, __ATOMIC_ACQUIRE);

		if (first < vm->ring_max && last < vm->ring_max)
			st->coalesced_pending =
				(last + vm->ring_max - first) % vm->ring_max;
	}
	pthread_mutex_unlock(&vm->ring_lock);
}
