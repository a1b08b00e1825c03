/* SPDX-License-Identifier: MIT */
/* Private state of the KVM layer, shared by kvm.c, kvm_vcpu.c, kvm_boot.c. */
#ifndef VCON_KVM_IMPL_H
#define VCON_KVM_IMPL_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vcon/kvm.h>

struct vm_line {
	struct vcon_vm *vm;
	unsigned gsi;
};

struct vm_vcpu {
	struct vcon_vm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	size_t run_size;
	pthread_t thread;
	bool running; /* thread exists; under vm->lock */
	/* Exits to the VMM; written by this vCPU's thread only. */
	uint64_t io_exits, mmio_exits;
};

/*
 * Guest RAM is one host block split around the PCI and APIC hole: the
 * first 3 GiB at guest address 0, the rest from 4 GiB, as on a PC.
 */
#define VCON__LOW_MEM_MAX   (3ull << 30)
#define VCON__HIGH_MEM_BASE (4ull << 30)

struct vcon_vm {
	int kvm, fd;
	uint8_t *mem;
	uint64_t mem_size;  /* all of RAM; host mapping is one block */
	uint64_t low_size;  /* RAM at 0 (at most VCON__LOW_MEM_MAX) */
	uint64_t high_size; /* the rest, at VCON__HIGH_MEM_BASE */
	unsigned nr_vcpus;
	int kick_signal;
	struct vcon_bus *pio, *mmio;
	struct vm_line lines[24];
	struct vm_vcpu vcpus[64];

	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;         /* under lock */
	enum vcon_vm_exit why; /* under lock */
	char msg[256];         /* error text, under lock */

	bool acpi;              /* vcon_vm_add_acpi: write tables at load */
	struct vcon_pci *pci;   /* vcon_vm_add_pci: PCI0 in the DSDT */
	uint16_t pm_en, pm_cnt; /* ACPI PM1 registers (vCPU threads) */

	/*
	 * KVM's coalesced ring (vcon_vm_coalesce_pio): one page shared by
	 * all vCPUs. The kernel appends at last; we consume at first under
	 * ring_lock and advance first only after the write was dispatched.
	 */
	struct kvm_coalesced_mmio_ring *ring;
	uint32_t ring_max; /* entries in the ring */
	pthread_mutex_t ring_lock;
	uint64_t coalesced; /* writes dispatched from the ring */
};

int vcon__vcpu_init(struct vcon_vm *vm, unsigned id, struct vcon_error *err);
void *vcon__vcpu_thread(void *arg);
void vcon__vm_fail(struct vcon_vm *vm, const char *msg);
void vcon__vm_drain(struct vcon_vm *vm);

/* Whether the coalesced ring holds writes not yet dispatched. */
static inline bool
vcon__vm_ring_pending(struct vcon_vm *vm)
{
	return vm->ring &&
	       __atomic_load_n(&vm->ring->first, __ATOMIC_ACQUIRE) !=
		       __atomic_load_n(&vm->ring->last, __ATOMIC_ACQUIRE);
}
void vcon__acpi_write_tables(struct vcon_vm *vm, uint8_t *boot_params);

#endif /* VCON_KVM_IMPL_H */
