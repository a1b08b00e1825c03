/* SPDX-License-Identifier: MIT */
/* The VM's PCI host bridge: vcon_pci on the VM's buses and I/O APIC. */
#include <errno.h>

#include <vcon/kvm.h>
#include <vcon/pci.h>

#include "kvm_impl.h"

static struct vcon_irq
gsi_line(void *ctx, unsigned gsi)
{
	return vcon_vm_irq(ctx, gsi);
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
	rc = vcon_pci_new(&cfg, &vm->pci);
	if (rc == 0)
		*out = vm->pci;
	return rc;
}
