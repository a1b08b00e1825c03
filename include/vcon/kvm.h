/* SPDX-License-Identifier: MIT */
/*
 * A KVM virtual machine for running libvcon's devices: guest memory, the
 * in-kernel interrupt controllers and PIT, one thread per vCPU, and a
 * port-I/O and an MMIO bus onto which KVM_EXIT_IO and KVM_EXIT_MMIO are
 * dispatched. Plus a loader for Linux bzImage kernels.
 *
 * Signals: to take a vCPU out of KVM_RUN, vcon_vm_request_stop sends the
 * vCPU threads config.kick_signal (SIGUSR2 unless set). If that signal's
 * disposition is SIG_DFL, vcon_vm_new installs an empty handler for it;
 * a VMM that uses the signal itself should pick another.
 */
#ifndef VCON_KVM_H
#define VCON_KVM_H

#include <stdint.h>

#include <vcon/bus.h>
#include <vcon/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vcon_vm;

struct vcon_vm_config {
	uint64_t mem_size; /* bytes of RAM: up to 3 GiB from address 0, the
			     * rest from 4 GiB (as on a PC); at most 1 TiB */
	unsigned nr_vcpus; /* 1 (the default for 0) to 64 */
	int kick_signal;   /* 0 means SIGUSR2 */
};

/* Why vcon_vm_run returned. */
enum vcon_vm_exit {
	VCON_VM_EXIT_STOPPED,  /* asked for by vcon_vm_request_stop */
	VCON_VM_EXIT_POWEROFF, /* the guest powered off */
	VCON_VM_EXIT_REBOOT,   /* the guest asked for a reset */
	VCON_VM_EXIT_SHUTDOWN, /* triple fault: a PC resets */
	VCON_VM_EXIT_ERROR,    /* KVM failed; the message says how */
};

/*
 * vcon_vm_new - open /dev/kvm and create a VM with its memory, irqchip,
 * PIT and vCPUs.
 *
 * Returns: 0, or a negative errno with err naming the problem, e.g.
 * "/dev/kvm: No such file or directory (no KVM here; run the command under
 * tests/with-kvm)".
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_vm_new(const struct vcon_vm_config *cfg, struct vcon_vm **out,
	    struct vcon_error *err);

/*
 * vcon_vm_free - release the VM. NULL is a no-op.
 *
 * Precondition: vcon_vm_run has returned (or never ran).
 * Context: any thread.
 */
VCON_API void
vcon_vm_free(struct vcon_vm *vm);

/* vcon_vm_pio_bus, vcon_vm_mmio_bus - where devices map their ranges. */
VCON_API struct vcon_bus *
vcon_vm_pio_bus(struct vcon_vm *vm);

VCON_API struct vcon_bus *
vcon_vm_mmio_bus(struct vcon_vm *vm);

/*
 * vcon_vm_irq - an interrupt line into the in-kernel irqchip
 * (KVM_IRQ_LINE) for gsi 0-23, as a device's struct vcon_irq.
 *
 * Context: any thread; the returned callback too.
 */
VCON_API struct vcon_irq
vcon_vm_irq(struct vcon_vm *vm, unsigned gsi);

/*
 * vcon_vm_ioeventfds - KVM_IOEVENTFD as a device's struct vcon_ioeventfd:
 * the guest's doorbell writes signal an eventfd in the kernel, and the
 * vCPU goes on without an exit to the VMM.
 *
 * Context: any thread; the returned callback too.
 */
VCON_API struct vcon_ioeventfd
vcon_vm_ioeventfds(struct vcon_vm *vm);

/*
 * vcon_vm_coalesce_pio - let the guest's writes to ports [port, port +
 * len) collect in KVM's coalesced ring (KVM_CAP_COALESCED_PIO) instead of
 * each exiting to the VMM. They reach the port bus in the order written,
 * always before any later exit of any vCPU is dispatched, and within
 * about 10 ms when no exit follows (vcon_vm_run's thread looks), so a
 * device sees them before any read the guest makes. Meant for registers
 * whose writes need no immediate answer and come in runs, such as a
 * 16550's transmit holding register: a driver's burst of 16 then costs no
 * exit at all.
 *
 * Returns: 0; -EOPNOTSUPP when KVM lacks the capability (the writes then
 * exit as before, so callers may ignore it); -EINVAL for an empty or
 * out-of-range window; or KVM's errno.
 * Context: before vcon_vm_run.
 */
VCON_API VCON_NODISCARD int
vcon_vm_coalesce_pio(struct vcon_vm *vm, uint16_t port, uint16_t len);

struct vcon_vm_stats {
	uint64_t io_exits;          /* KVM_EXIT_IO dispatched, all vCPUs */
	uint64_t mmio_exits;        /* KVM_EXIT_MMIO dispatched */
	uint64_t coalesced_writes;  /* writes taken from the coalesced ring */
	uint32_t coalesced_pending; /* writes in the ring not yet taken */
};

/*
 * vcon_vm_get_stats - how the guest reached the VMM's devices so far
 * (counters since vcon_vm_new; a reader racing the vCPUs may see a count
 * one behind).
 *
 * Context: any thread.
 */
VCON_API void
vcon_vm_get_stats(struct vcon_vm *vm, struct vcon_vm_stats *st);

/* vcon_vm_gmem - bounds-checked access to guest RAM. */
VCON_API struct vcon_gmem
vcon_vm_gmem(struct vcon_vm *vm);

/*
 * vcon_vm_load_bzimage - load a Linux bzImage per the x86 boot protocol
 * (2.06 or later), an optional initrd and the command line, with an e820
 * map and an MP table describing the vCPUs and the I/O APIC, and point
 * vCPU 0 at the kernel's 32-bit entry.
 *
 * Returns: 0, or a negative errno with err naming the file and what is
 * wrong with it ("not a bzImage", "initrd too large for memory", ...).
 * Context: before vcon_vm_run.
 */
VCON_API VCON_NODISCARD int
vcon_vm_load_bzimage(struct vcon_vm *vm, const char *kernel, const char *initrd,
		     const char *cmdline, struct vcon_error *err);

/*
 * vcon_vm_add_reset_ports - map the two ways a PC guest asks for a reset:
 * the keyboard controller's pulse-reset command (0xFE written to port
 * 0x64, Linux's fallback without ACPI) and the reset control register at
 * 0xCF9 (a write with RST_CPU, bit 2, set). Either stops the VM with
 * VCON_VM_EXIT_REBOOT. Port 0x64 otherwise reads 0xff, as with no
 * keyboard controller, so the guest's i8042 probe gives up at once.
 *
 * Returns: 0, or -EEXIST when a device already has one of the ports.
 * Context: before vcon_vm_run.
 */
VCON_API VCON_NODISCARD int
vcon_vm_add_reset_ports(struct vcon_vm *vm);

/*
 * vcon_vm_add_acpi - give the guest ACPI so that its poweroff ends the VM:
 * a PM1 block at ports 0x600-0x605 and, written by vcon_vm_load_bzimage,
 * ACPI tables (RSDP at 0xE0000, XSDT, FADT, FACS, MADT, and a DSDT with
 * \_S5). The guest's poweroff then stops the VM with
 * VCON_VM_EXIT_POWEROFF, and its reboot goes through the FADT's reset
 * register (port 0xCF9; map it with vcon_vm_add_reset_ports). Without
 * this call the guest gets only the MP table, and a poweroff halts it.
 *
 * Returns: 0, or -EEXIST when a device already has one of the ports.
 * Context: before vcon_vm_load_bzimage.
 */
VCON_API VCON_NODISCARD int
vcon_vm_add_acpi(struct vcon_vm *vm);

/*
 * vcon_vm_add_pci - give the VM a PCI host bridge (see vcon/pci.h) on its
 * port and MMIO buses, INTx wired to the in-kernel I/O APIC, MSI-X
 * messages delivered with KVM_SIGNAL_MSI (where KVM has it), and describe
 * it in the ACPI DSDT (with vcon_vm_add_acpi: a kernel with ACPI finds PCI
 * only there). The VM owns the bridge: vcon_vm_free frees it, so free the
 * devices on it first.
 *
 * Returns: 0 with *out set, or as vcon_pci_new.
 * Context: before vcon_vm_load_bzimage.
 */
struct vcon_pci;
VCON_API VCON_NODISCARD int
vcon_vm_add_pci(struct vcon_vm *vm, struct vcon_pci **out);

/*
 * vcon_vm_run - start the vCPU threads and wait until the VM stops.
 *
 * Returns: 0 with *why set, or a negative errno (thread creation); for
 * VCON_VM_EXIT_ERROR, err holds KVM's reason and the vCPU's registers.
 * Context: any thread; not concurrently with itself.
 */
VCON_API VCON_NODISCARD int
vcon_vm_run(struct vcon_vm *vm, enum vcon_vm_exit *why, struct vcon_error *err);

/*
 * vcon_vm_request_stop - make vcon_vm_run return with why. The first
 * request wins. Devices use it for reset and power-off ports.
 *
 * Context: any thread, including vCPU threads inside device callbacks.
 */
VCON_API void
vcon_vm_request_stop(struct vcon_vm *vm, enum vcon_vm_exit why);

#ifdef __cplusplus
}
#endif

#endif /* VCON_KVM_H */
