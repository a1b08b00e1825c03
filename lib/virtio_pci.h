/* SPDX-License-Identifier: MIT */
/*
 * The virtio PCI transport, transitional (virtio 1.2, 4.1): a modern
 * interface (common, notify, ISR and device-config capabilities in a
 * memory BAR, plus the pci_cfg window capability) and the legacy I/O BAR
 * 0, so both of Linux's virtio_pci paths drive it. Interrupts are INTx
 * with the ISR register.
 *
 * The transport owns the device's one lock: its register handlers run the
 * device's callbacks with it held, and the device takes it
 * (vcon__vpci_lock) in its own host-side callbacks. Internal to libvcon.
 */
#ifndef VCON_VIRTIO_PCI_H
#define VCON_VIRTIO_PCI_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <vcon/pci.h>

#include "loop_internal.h"
#include "virtqueue.h"

#define VCON_VIRTIO_F_VERSION_1 32

#define VIRTIO_STATUS_ACKNOWLEDGE 1
#define VIRTIO_STATUS_DRIVER      2
#define VIRTIO_STATUS_DRIVER_OK   4
#define VIRTIO_STATUS_FEATURES_OK 8
#define VIRTIO_STATUS_NEEDS_RESET 64
#define VIRTIO_STATUS_FAILED      128

struct vcon__vpci;

struct vcon__virtio_ops {
	/* The guest kicked queue q. */
	void (*notify)(void *ctx, unsigned q);
	/* The guest reset the device (queues are already reset). */
	void (*reset)(void *ctx);
	/* The guest set DRIVER_OK. */
	void (*driver_ok)(void *ctx);
	/* Device configuration space (the device's own struct). */
	void (*cfg_read)(void *ctx, unsigned off, void *buf, unsigned len);
	void (*cfg_write)(void *ctx, unsigned off, const void *buf,
			  unsigned len);
	/*
	 * Called after each guest register access, with the lock released:
	 * where the device runs what must not run under it (user callbacks).
	 */
	void (*unlocked)(void *ctx);
};

struct vcon__vpci_config {
	uint16_t device_type; /* virtio device ID: 3 for a console */
	uint64_t features;    /* device features; the transport adds its own */
	unsigned nr_queues;
	uint16_t queue_size;
	unsigned cfg_size; /* bytes of device configuration */
	struct vcon_gmem mem;
	/* Optional: notifications as eventfds, handled on loop. */
	struct vcon_ioeventfd ioeventfd;
	struct vcon_loop *loop;
	const struct vcon__virtio_ops *ops;
	void *ctx;
};

struct vcon__vpci_bell {
	struct vcon__vpci *t;
	unsigned q;
	int fd;
	bool assigned; /* registered at addr */
	uint64_t addr;
	struct vcon__watch w;
};

struct vcon__vpci {
	pthread_mutex_t lock;
	struct vcon__vpci_config cfg;
	struct vcon_pci_dev *pci;
	uint64_t device_features;
	uint64_t driver_features;
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint8_t status;
	uint8_t isr;
	uint8_t config_generation;
	uint16_t config_vector; /* MSI-X vector for configuration changes */
	unsigned msix_vectors;  /* offered: one per queue and one more */
	bool legacy;            /* the guest used the legacy interface */
	struct vcon_vq *vqs;
	struct vcon__vpci_queue {
		uint16_t size;
		bool enabled;
		uint64_t desc, driver, device;
		uint16_t msix;
	} * q;
	unsigned pci_cfg_off;          /* where the pci_cfg capability sits */
	struct vcon__vpci_bell *bells; /* per queue, with cfg.ioeventfd */
	uint64_t interrupts;           /* INTx assertions and MSI-X messages */
	uint64_t kicks;                /* queue notifications from the guest */
	uint64_t isr_reads;
};

/*
 * vcon__vpci_new - the transport, plugged into pci at slot (0: first
 * free), with its BARs and capabilities.
 */
int vcon__vpci_new(const struct vcon__vpci_config *cfg, struct vcon_pci *pci,
		   unsigned slot, struct vcon__vpci **out);
void vcon__vpci_free(struct vcon__vpci *t);

/*
 * vcon__vpci_stop_doorbells - no eventfd notification runs after this
 * returns: the device's first step in tearing down.
 */
void vcon__vpci_stop_doorbells(struct vcon__vpci *t);

void vcon__vpci_lock(struct vcon__vpci *t);
void vcon__vpci_unlock(struct vcon__vpci *t);

/* Whether queue q is live: DRIVER_OK, enabled, not broken. Lock held. */
bool vcon__vpci_queue_ok(struct vcon__vpci *t, unsigned q);

/*
 * vcon__vpci_used - the device pushed buffers on q: interrupt the guest
 * if it wants one. Lock held.
 */
void vcon__vpci_used(struct vcon__vpci *t, unsigned q);

/* vcon__vpci_config_changed - device config changed: ISR bit 1. */
void vcon__vpci_config_changed(struct vcon__vpci *t);

/*
 * vcon__vpci_broken - the guest broke a rule on queue q: the device stops
 * (DEVICE_NEEDS_RESET, a config interrupt) until the guest resets it.
 */
void vcon__vpci_broken(struct vcon__vpci *t, unsigned q);

/* Whether the device is stopped by vcon__vpci_broken. */
bool vcon__vpci_is_broken(struct vcon__vpci *t);

#endif /* VCON_VIRTIO_PCI_H */
