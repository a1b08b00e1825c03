/* SPDX-License-Identifier: MIT */
/*
 * A PCI host bridge and bus 0, on configuration mechanism #1 (the address
 * port 0xCF8 and the data port 0xCFC, all port I/O), for VMMs that give a
 * stock kernel PCI devices without firmware. The host bridge is function
 * 00.0 (class 0600, which Linux's conf1 sanity check looks for); devices
 * take slots 1-31, function 0.
 *
 * BARs: the library plays firmware and assigns every BAR an address in a
 * fixed window (I/O 0xC000-0xFFFF, memory VCON_PCI_MMIO_BASE up), so the
 * kernel finds devices ready to use. The guest may move or size them as PCI
 * allows (write all-ones, read the size mask); accesses reach a BAR only
 * while its decode bit in COMMAND is set. The two windows are mapped on the
 * buses once and decoded here, so a BAR moves without touching the bus.
 *
 * Interrupts: INTx of slot S, pin P (1 = INTA) goes to the I/O APIC input
 * vcon_pci_intx_gsi(S, P), level-triggered; the ACPI DSDT that
 * vcon_vm_add_acpi writes describes the bridge, its windows and this
 * routing (_PRT), which is how a kernel with ACPI finds PCI at all.
 * Functions that share a line are OR-combined. A device may also offer
 * MSI-X (PCI 3.0, 6.8.2), which the library implements whole: the
 * capability, the table and pending bits, masking; a function with MSI-X
 * enabled drives no INTx.
 *
 * Threads: vCPU threads make config and BAR accesses; a device raises its
 * INTx from any thread.
 */
#ifndef VCON_PCI_H
#define VCON_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/bus.h>
#include <vcon/common.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VCON_PCI_CONF_ADDR 0xcf8
#define VCON_PCI_CONF_DATA 0xcfc
#define VCON_PCI_IO_BASE   0xc000
#define VCON_PCI_IO_SIZE   0x4000
#define VCON_PCI_MMIO_BASE 0xe0000000u
#define VCON_PCI_MMIO_SIZE 0x1ec00000u /* up to the I/O APIC at 0xfec00000 */
#define VCON_PCI_MAX_SLOTS 32
#define VCON_PCI_NR_BARS   6

struct vcon_pci;
struct vcon_pci_dev;

struct vcon_pci_bar {
	uint32_t size; /* a power of two, at least 16; 0: no BAR */
	bool io;       /* I/O space (at most 256 bytes), else 32-bit memory */
	const struct vcon_bus_ops *ops;
	void *ctx;
};

struct vcon_pci_dev_config {
	uint16_t vendor_id, device_id;
	uint16_t subsystem_vendor_id, subsystem_id;
	uint32_t class_code; /* base class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
	uint8_t irq_pin; /* 0: none; 1-4: INTA-INTD */
	struct vcon_pci_bar bars[VCON_PCI_NR_BARS];
	/*
	 * Capabilities: each entry is the capability's bytes from its ID on;
	 * the library chains them from offset 0x40 (filling the next
	 * pointers) and reports their offsets in cap_offsets.
	 */
	const uint8_t *const *caps;
	const uint8_t *cap_lens;
	unsigned nr_caps;
	/*
	 * Writes to capability bytes, after the default (caps are read-only
	 * unless this hook stores the value): off is the config-space offset.
	 * Optional. cap_read, also optional, sees reads of capability bytes
	 * with the stored value and returns what the guest reads (a window
	 * register such as virtio's pci_cfg_data reads through to a BAR).
	 */
	void (*cap_write)(void *ctx, unsigned off, unsigned size, uint32_t val);
	uint32_t (*cap_read)(void *ctx, unsigned off, unsigned size,
			     uint32_t stored);
	/*
	 * BAR bar now decodes at addr (decoding) or not at all: called when
	 * the guest moves a BAR or flips its COMMAND decode bit, for devices
	 * that register doorbells by address. Optional.
	 */
	void (*bar_changed)(void *ctx, unsigned bar, uint32_t addr,
			    bool decoding);
	void *ctx;
	/*
	 * MSI-X: msix_vectors entries (0: none, at most 2048) in a table at
	 * msix_table_off and a pending-bit array at msix_pba_off, both
	 * inside memory BAR msix_bar; the library adds the capability and
	 * answers those ranges itself (the BAR's ops never see them). Only
	 * on a bridge with an msi hook; elsewhere the device has INTx only.
	 */
	unsigned msix_vectors;
	unsigned msix_bar;
	uint32_t msix_table_off, msix_pba_off;
};

struct vcon_pci_config {
	struct vcon_bus *pio;  /* where 0xCF8/0xCFC and the I/O window go */
	struct vcon_bus *mmio; /* where the memory window goes */
	/* The interrupt line for an I/O APIC input (a GSI). */
	struct vcon_irq (*gsi_line)(void *ctx, unsigned gsi);
	void *gsi_ctx;
	/*
	 * Deliver a message-signalled interrupt (under KVM:
	 * KVM_SIGNAL_MSI). Optional: without it no device offers MSI-X.
	 */
	void (*msi)(void *ctx, uint64_t addr, uint32_t data);
	void *msi_ctx;
};

/* vcon_pci_intx_gsi - the GSI that INTx pin (1-4) of slot reaches. */
VCON_API unsigned
vcon_pci_intx_gsi(unsigned slot, unsigned pin);

/*
 * vcon_pci_new - the host bridge, mapped at 0xCF8-0xCFF except 0xCF9
 * (the reset control register), and its two windows.
 *
 * Returns: 0, -EEXIST when a device already has one of the ranges, or
 * -ENOMEM.
 */
VCON_API VCON_NODISCARD int
vcon_pci_new(const struct vcon_pci_config *cfg, struct vcon_pci **out);

/* vcon_pci_free - unmap and release, devices included. NULL is a no-op. */
VCON_API void
vcon_pci_free(struct vcon_pci *pci);

/*
 * vcon_pci_add - plug a device into the first free slot (or slot, when
 * not 0) and assign its BARs.
 *
 * Returns: 0 with *out set, -EBUSY (slot taken or none free), -ENOSPC (a
 * window is full), -EINVAL (bad BAR size or capability) or -ENOMEM.
 * Context: before vCPUs run.
 */
VCON_API VCON_NODISCARD int
vcon_pci_add(struct vcon_pci *pci, const struct vcon_pci_dev_config *cfg,
	     unsigned slot, struct vcon_pci_dev **out);

/*
 * vcon_pci_remove - unplug the device and free it; its BARs stop decoding
 * and its INTx is released. No callback runs after it returns.
 */
VCON_API void
vcon_pci_remove(struct vcon_pci_dev *dev);

/* vcon_pci_dev_slot - the slot the device got. */
VCON_API unsigned
vcon_pci_dev_slot(const struct vcon_pci_dev *dev);

/* vcon_pci_dev_cap_offset - where capability i was placed. */
VCON_API unsigned
vcon_pci_dev_cap_offset(const struct vcon_pci_dev *dev, unsigned i);

/*
 * vcon_pci_dev_config_space - the device's 256 bytes of configuration
 * space, for a cap_write hook that stores values. Only the hook may write.
 */
VCON_API uint8_t *
vcon_pci_dev_config_space(struct vcon_pci_dev *dev);

/* vcon_pci_dev_bar_addr - where BAR i is now (0 when not assigned). */
VCON_API uint32_t
vcon_pci_dev_bar_addr(struct vcon_pci_dev *dev, unsigned i);

/*
 * vcon_pci_dev_set_intx - drive the device's INTx line. A device masked
 * by COMMAND.INTX_DISABLE still reports the level in STATUS.
 *
 * Context: any thread.
 */
VCON_API void
vcon_pci_dev_set_intx(struct vcon_pci_dev *dev, bool level);

/*
 * vcon_pci_dev_msix_enabled - whether the guest turned the device's MSI-X
 * on (and so its INTx off).
 *
 * Context: any thread.
 */
VCON_API bool
vcon_pci_dev_msix_enabled(struct vcon_pci_dev *dev);

/*
 * vcon_pci_dev_msix_notify - signal vector: its message is sent now, or,
 * while the vector or the whole function is masked, its pending bit is
 * set and the message goes when the guest unmasks it.
 *
 * Returns: false when MSI-X is off or vector is out of range (nothing
 * was signalled; a device then uses INTx).
 * Context: any thread.
 */
VCON_API bool
vcon_pci_dev_msix_notify(struct vcon_pci_dev *dev, unsigned vector);

/* Configuration mechanism #1, for tests and VMMs with their own bus. */
VCON_API uint32_t
vcon_pci_config_read(struct vcon_pci *pci, unsigned bus, unsigned slot,
		     unsigned fn, unsigned off, unsigned size);
VCON_API void
vcon_pci_config_write(struct vcon_pci *pci, unsigned bus, unsigned slot,
		      unsigned fn, unsigned off, unsigned size, uint32_t val);

#ifdef __cplusplus
}
#endif

#endif /* VCON_PCI_H */
