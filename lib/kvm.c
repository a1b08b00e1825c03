/* SPDX-License-Identifier: MIT */
/*
 * The KVM layer: a VM with RAM from address 0, the in-kernel PIC, I/O APIC
 * and local APICs (KVM_CREATE_IRQCHIP), the in-kernel PIT, and one thread
 * per vCPU whose loop turns port and MMIO exits into bus accesses. Only
 * this file and kvm_boot.c include <linux/kvm.h>.
 *
 * Stopping: vcon_vm_request_stop records the reason once, sets each
 * vCPU's kvm_run.immediate_exit (so a vCPU about to enter the guest does
 * not) and signals the threads (so one inside KVM_RUN leaves with EINTR).
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <vcon/kvm.h>
#include <vcon/pci.h>

#include "kvm_impl.h"

#define MAX_VCPUS 64
/* RAM above VCON__LOW_MEM_MAX goes above 4 GiB; 1 TiB is x86's 40 bits
 * with room to spare, and far beyond what a console test needs. */
#define MAX_MEM           (1ull << 40)
#define TSS_ADDR          0xfffbd000u
#define IDENTITY_MAP_ADDR 0xfffbc000u

static void set_err(struct vcon_error *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void
set_err(struct vcon_error *err, const char *fmt, ...)
{
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
}

static void
kick_handler(int sig)
{
	(void)sig;
}

/*
 * Guest RAM, starting on a 2 MiB boundary, with transparent huge pages
 * asked for (QEMU and kvmtool do both). KVM maps guest memory 2 MiB at a
 * time only where the host address and the guest address agree modulo
 * 2 MiB; anywhere else in the slot it uses 4 KiB pages: more TLB misses,
 * and a fault per 4 KiB the guest first touches (nested, each an exit to
 * the L1's KVM; docs/architecture.md). mmap alone gives 4 KiB alignment.
 */
static void *
map_guest_ram(uint64_t size)
{
	const uintptr_t huge = 2u << 20;
	uint8_t *p, *start;
	size_t head;

	p = mmap(NULL, size + huge, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return MAP_FAILED;
	start = (uint8_t *)(((uintptr_t)p + huge - 1) & ~(huge - 1));
	head = (size_t)(start - p);
	if (head)
		munmap(p, head);
	munmap(start + size, huge - head); /* never empty: head < huge */
	/* A hint: EINVAL where the kernel has no THP, and then 4 KiB it is. */
	(void)madvise(start, size, MADV_HUGEPAGE);
	return start;
}

/* The host CPU's physical address width, which bounds KVM's guest RAM. */
static unsigned
host_phys_bits(void)
{
	unsigned a, b, c, d;

	if (!__get_cpuid(0x80000008, &a, &b, &c, &d))
		return 36;
	return a & 0xff;
}

VCON_API int
vcon_vm_new(const struct vcon_vm_config *cfg, struct vcon_vm **out,
	    struct vcon_error *err)
{
	struct kvm_userspace_memory_region region;
	struct kvm_pit_config pit = { .flags = 0 };
	struct sigaction sa;
	pthread_condattr_t ca;
	struct vcon_vm *vm;
	unsigned i;
	int rc, api;

	if (!cfg || cfg->mem_size < (16u << 20) || cfg->mem_size > MAX_MEM) {
		set_err(err, "memory size must be 16 MiB to 1 TiB");
		return -EINVAL;
	}
	if (cfg->mem_size % 4096) {
		/* KVM maps whole pages; the message beats its EINVAL. */
		set_err(err, "memory size must be a multiple of 4 KiB");
		return -EINVAL;
	}
	if (cfg->nr_vcpus > MAX_VCPUS) {
		set_err(err, "at most %d vCPUs", MAX_VCPUS);
		return -EINVAL;
	}
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	vm->kvm = vm->fd = -1;
	vm->mem = MAP_FAILED;
	vm->mem_size = cfg->mem_size;
	vm->low_size = cfg->mem_size < VCON__LOW_MEM_MAX ? cfg->mem_size
							 : VCON__LOW_MEM_MAX;
	vm->high_size = cfg->mem_size - vm->low_size;
	vm->nr_vcpus = cfg->nr_vcpus ? cfg->nr_vcpus : 1;
	vm->kick_signal = cfg->kick_signal ? cfg->kick_signal : SIGUSR2;
	pthread_mutex_init(&vm->lock, NULL);
	pthread_mutex_init(&vm->ring_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&vm->cond, &ca);
	pthread_condattr_destroy(&ca);

	rc = vcon_bus_new(&vm->pio);
	if (!rc)
		rc = vcon_bus_new(&vm->mmio);
	if (rc)
		goto fail;
	vm->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm < 0) {
		rc = -errno;
		set_err(err,
			"/dev/kvm: %s (no KVM here; run the command under "
			"tests/with-kvm)",
			strerror(errno));
		goto fail;
	}
	api = ioctl(vm->kvm, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		rc = -ENOTSUP;
		set_err(err, "/dev/kvm: API version %d, need %d", api,
			KVM_API_VERSION);
		goto fail;
	}
	vm->fd = ioctl(vm->kvm, KVM_CREATE_VM, 0);
	if (vm->fd < 0) {
		rc = -errno;
		set_err(err, "KVM_CREATE_VM: %s", strerror(errno));
		goto fail;
	}
	/* Intel needs these two pages below 4 GiB; harmless on AMD. */
	if (ioctl(vm->fd, KVM_SET_TSS_ADDR, TSS_ADDR) < 0 ||
	    ioctl(vm->fd, KVM_SET_IDENTITY_MAP_ADDR,
		  &(uint64_t){ IDENTITY_MAP_ADDR }) < 0 ||
	    ioctl(vm->fd, KVM_CREATE_IRQCHIP, 0) < 0 ||
	    ioctl(vm->fd, KVM_CREATE_PIT2, &pit) < 0) {
		rc = -errno;
		set_err(err, "setting up the VM's irqchip and PIT: %s",
			strerror(errno));
		goto fail;
	}
	vm->mem = map_guest_ram(vm->mem_size);
	if (vm->mem == MAP_FAILED) {
		rc = -errno;
		set_err(err, "guest memory: %s", strerror(errno));
		goto fail;
	}
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = vm->low_size,
		.userspace_addr = (uint64_t)(uintptr_t)vm->mem,
	};
	if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		rc = -errno;
		set_err(err, "KVM_SET_USER_MEMORY_REGION: %s", strerror(errno));
		goto fail;
	}
	if (vm->high_size) {
		region = (struct kvm_userspace_memory_region){
			.slot = 1,
			.guest_phys_addr = VCON__HIGH_MEM_BASE,
			.memory_size = vm->high_size,
			.userspace_addr =
				(uint64_t)(uintptr_t)(vm->mem + vm->low_size),
		};
		if (ioctl(vm->fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
			uint64_t end = VCON__HIGH_MEM_BASE + vm->high_size;
			unsigned bits;

			rc = -errno;
			bits = host_phys_bits();
			if (rc == -EINVAL && bits < 64 && end >> bits)
				set_err(err,
					"%llu GiB of memory ends at %llu GiB "
					"in the guest, past the %u-bit "
					"physical addresses this host has",
					(unsigned long long)vm->mem_size >> 30,
					(unsigned long long)end >> 30, bits);
			else
				set_err(err,
					"KVM_SET_USER_MEMORY_REGION above 4 "
					"GiB: %s",
					strerror(-rc));
			goto fail;
		}
	}
	for (i = 0; i < 24; i++)
		vm->lines[i] = (struct vm_line){ .vm = vm, .gsi = i };
	for (i = 0; i < vm->nr_vcpus; i++) {
		rc = vcon__vcpu_init(vm, i, err);
		if (rc)
			goto fail;
	}
	/* A signal to leave KVM_RUN must not kill us, nor be ignored. */
	if (sigaction(vm->kick_signal, NULL, &sa) == 0 &&
	    sa.sa_handler == SIG_DFL) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = kick_handler;
		sigemptyset(&sa.sa_mask);
		sigaction(vm->kick_signal, &sa, NULL);
	}
	*out = vm;
	return 0;

fail:
	vcon_vm_free(vm);
	return rc;
}

VCON_API void
vcon_vm_free(struct vcon_vm *vm)
{
	unsigned i;

	if (!vm)
		return;
	for (i = 0; i < vm->nr_vcpus; i++) {
		struct vm_vcpu *c = &vm->vcpus[i];

		if (c->run)
			munmap(c->run, c->run_size);
		if (c->fd > 0)
			close(c->fd);
	}
	if (vm->mem != MAP_FAILED)
		munmap(vm->mem, vm->mem_size);
	if (vm->fd >= 0)
		close(vm->fd);
	if (vm->kvm >= 0)
		close(vm->kvm);
	vcon_pci_free(vm->pci);
	vcon_bus_free(vm->pio);
	vcon_bus_free(vm->mmio);
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->ring_lock);
	pthread_mutex_destroy(&vm->lock);
	free(vm);
}

VCON_API struct vcon_bus *
vcon_vm_pio_bus(struct vcon_vm *vm)
{
	return vm->pio;
}

VCON_API struct vcon_bus *
vcon_vm_mmio_bus(struct vcon_vm *vm)
{
	return vm->mmio;
}

static void
line_set(void *ctx, bool level)
{
	struct vm_line *l = ctx;
	struct kvm_irq_level irq = { .irq = l->gsi, .level = level };

	/* Fails only for a bad GSI, which vcon_vm_irq does not hand out. */
	(void)ioctl(l->vm->fd, KVM_IRQ_LINE, &irq);
}

VCON_API struct vcon_irq
vcon_vm_irq(struct vcon_vm *vm, unsigned gsi)
{
	if (gsi >= 24)
		gsi = 23;
	return (struct vcon_irq){ .set_level = line_set,
				  .ctx = &vm->lines[gsi] };
}

/*
 * The host address of [gpa, gpa + len), or NULL when any of it is not
 * RAM: outside both blocks, or straddling the hole between them.
 */
static uint8_t *
ram_at(const struct vcon_vm *vm, uint64_t gpa, size_t len)
{
	if (gpa <= vm->low_size && len <= vm->low_size - gpa)
		return vm->mem + gpa;
	if (gpa >= VCON__HIGH_MEM_BASE &&
	    gpa - VCON__HIGH_MEM_BASE <= vm->high_size &&
	    len <= vm->high_size - (gpa - VCON__HIGH_MEM_BASE))
		return vm->mem + vm->low_size + (gpa - VCON__HIGH_MEM_BASE);
	return NULL;
}

static int
gmem_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	uint8_t *p = ram_at(ctx, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(buf, p, len);
	return 0;
}

static int
gmem_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	uint8_t *p = ram_at(ctx, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, buf, len);
	return 0;
}

static void *
gmem_map(void *ctx, uint64_t gpa, size_t len)
{
	return ram_at(ctx, gpa, len);
}

static int
ioeventfd_set(void *ctx, uint64_t addr, unsigned len, int fd, bool on)
{
	struct vcon_vm *vm = ctx;
	struct kvm_ioeventfd io = {
		.addr = addr,
		.len = len,
		.fd = fd,
		.flags = on ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
	};

	return ioctl(vm->fd, KVM_IOEVENTFD, &io) < 0 ? -errno : 0;
}

VCON_API struct vcon_ioeventfd
vcon_vm_ioeventfds(struct vcon_vm *vm)
{
	return (struct vcon_ioeventfd){ .set = ioeventfd_set, .ctx = vm };
}

VCON_API struct vcon_gmem
vcon_vm_gmem(struct vcon_vm *vm)
{
	return (struct vcon_gmem){ .read = gmem_read,
				   .write = gmem_write,
				   .map = gmem_map,
				   .ctx = vm };
}

VCON_API void
vcon_vm_request_stop(struct vcon_vm *vm, enum vcon_vm_exit why)
{
	unsigned i;

	pthread_mutex_lock(&vm->lock);
	if (!vm->stopping) {
		vm->stopping = true;
		vm->why = why;
		for (i = 0; i < vm->nr_vcpus; i++) {
			struct vm_vcpu *c = &vm->vcpus[i];

			__atomic_store_n(&c->run->immediate_exit, 1,
					 __ATOMIC_SEQ_CST);
			if (c->running)
				pthread_kill(c->thread, vm->kick_signal);
		}
		pthread_cond_broadcast(&vm->cond);
	}
	pthread_mutex_unlock(&vm->lock);
}

/* For a vCPU thread that hit an error: keep the first message. */
void
vcon__vm_fail(struct vcon_vm *vm, const char *msg)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->stopping && !vm->msg[0])
		snprintf(vm->msg, sizeof(vm->msg), "%s", msg);
	pthread_mutex_unlock(&vm->lock);
	vcon_vm_request_stop(vm, VCON_VM_EXIT_ERROR);
}

VCON_API int
vcon_vm_run(struct vcon_vm *vm, enum vcon_vm_exit *why, struct vcon_error *err)
{
	struct timespec tick;
	unsigned i, started = 0;
	int rc = 0;

	pthread_mutex_lock(&vm->lock);
	vm->stopping = false;
	vm->msg[0] = '\0';
	for (i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].run->immediate_exit = 0;
		rc = -pthread_create(&vm->vcpus[i].thread, NULL,
				     vcon__vcpu_thread, &vm->vcpus[i]);
		if (rc)
			break;
		vm->vcpus[i].running = true;
		started++;
	}
	if (rc && !vm->stopping) {
		vm->stopping = true;
		vm->why = VCON_VM_EXIT_ERROR;
		for (i = 0; i < started; i++) {
			vm->vcpus[i].run->immediate_exit = 1;
			pthread_kill(vm->vcpus[i].thread, vm->kick_signal);
		}
	}
	while (!vm->stopping) {
		if (!vm->ring) {
			pthread_cond_wait(&vm->cond, &vm->lock);
			continue;
		}
		/* Coalesced writes no exit has flushed: see kvm_coalesce.c */
		clock_gettime(CLOCK_MONOTONIC, &tick);
		tick.tv_nsec += 10 * 1000 * 1000;
		if (tick.tv_nsec >= 1000000000) {
			tick.tv_sec++;
			tick.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&vm->cond, &vm->lock, &tick);
		if (vcon__vm_ring_pending(vm)) {
			/* Devices may ask for a stop, which takes vm->lock. */
			pthread_mutex_unlock(&vm->lock);
			vcon__vm_drain(vm);
			pthread_mutex_lock(&vm->lock);
		}
	}
	pthread_mutex_unlock(&vm->lock);
	for (i = 0; i < started; i++) {
		pthread_join(vm->vcpus[i].thread, NULL);
		vm->vcpus[i].running = false;
	}
	/* What the guest wrote just before it stopped reaches the devices. */
	vcon__vm_drain(vm);
	if (rc) {
		set_err(err, "starting vCPU threads: %s", strerror(-rc));
		return rc;
	}
	*why = vm->why;
	if (vm->why == VCON_VM_EXIT_ERROR)
		set_err(err, "%s", vm->msg);
	return 0;
}
