/* SPDX-License-Identifier: MIT */
/*
 * The VM's PCI host bridge: vcon_pci on the VM's buses and I/O APIC, and
 * MSI-X messages straight into KVM's local APICs.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include <vcon/kvm.h>
#include <vcon/pci.h>

#include "kvm_impl.h"

static struct vcon_irq
gsi_line(void *ctx, unsigned gsi)
{
	return vcon_vm_irq(ctx, gsi);
}

/*
 * An MSI write is an interrupt message, not a memory access: KVM routes
 * it to the APIC that address and data name. A message KVM refuses (a
 * guest's bogus address) is dropped, as a real bus would drop it.
 */
static void
signal_msi(void *ctx, uint64_t addr, uint32_t data)
{
	struct vcon_vm *vm = ctx;
	struct kvm_msi msi;

	memset(&msi, 0, sizeof(msi));
	msi.address_lo = (uint32_t)addr;
	msi.address_hi = (uint32_t)(addr >> 32);
	msi.data = data;
	(void)ioctl(vm->fd, KVM_SIGNAL_MSI, &msi);
}

VCON_API int
vcon_vm_add_pci(struct vcon_vm *vm, struct vcon_pci **out)
{
	struct vcon_pci_config cfg = {
		.pio = vm->pio,
		.mmio = vm->mmio,
		.gsi_line = gsi_line,
		.gsi_ctx = vm,
	};
	int rc;

	if (vm->pci)
		return -EEXIST;
	if (ioctl(vm->kvm, KVM_CHECK_EXTENSION, KVM_CAP_SIGNAL_MSI) > 0) {
		cfg.msi = signal_msi;
		cfg.msi_ctx = vm;
	}
	rc = vcon_pci_new(&cfg, &vm->pci);
	if (rc == 0)
		*out = vm->pci;
	return rc;
}
