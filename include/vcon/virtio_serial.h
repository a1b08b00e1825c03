/* SPDX-License-Identifier: MIT */
/*
 * A virtio-serial controller (virtio console device, type 3) with
 * VIRTIO_CONSOLE_F_MULTIPORT: virtconsole ports, which a Linux guest makes
 * /dev/hvc0, hvc1..., and named virtserialports, which it makes
 * /dev/vportNpM with the name in /sys/class/virtio-ports/vportNpM/name
 * (and, with udev, the link /dev/virtio-ports/NAME). It sits on a
 * transitional virtio-pci transport in a vcon_pci slot.
 *
 * Each port has a chardev. Flow control holds in both directions: the
 * guest's output buffers are returned only as the backend takes the
 * bytes, and host input is read only while the guest has receive buffers
 * posted and the port open. A console port is the exception on output:
 * the guest's hvc driver spins until its buffer comes back, so a console
 * whose backend blocks is stalled for at most VCON_VSERIAL_CONSOLE_STALL_NS
 * and its output is then dropped (and counted) until the backend has room.
 *
 * Control messages the guest cannot take yet (no control buffer posted)
 * are queued (a few per port; QEMU and bhyve drop them) and delivered when
 * it posts buffers. Ports can be added and removed while the guest runs.
 *
 * Threads: guest accesses come on vCPU threads, chardev callbacks on the
 * loop thread; one lock per controller serializes them.
 */
#ifndef VCON_VIRTIO_SERIAL_H
#define VCON_VIRTIO_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/chr.h>
#include <vcon/common.h>
#include <vcon/loop.h>
#include <vcon/pci.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VCON_VSERIAL_DEFAULT_PORTS    31
#define VCON_VSERIAL_MAX_PORTS        511
#define VCON_VSERIAL_NAME_MAX         127
#define VCON_VSERIAL_CONSOLE_STALL_NS (100 * 1000 * 1000ull)

struct vcon_virtio_serial;

enum vcon_vserial_event {
	VCON_VSERIAL_GUEST_READY, /* the guest's driver set the port up */
	VCON_VSERIAL_GUEST_OPEN,  /* a guest program opened the port */
	VCON_VSERIAL_GUEST_CLOSE, /* ... and closed it */
	VCON_VSERIAL_BROKEN,      /* the guest broke the device; see stats */
};

struct vcon_virtio_serial_config {
	unsigned max_nr_ports;  /* 0 means VCON_VSERIAL_DEFAULT_PORTS */
	struct vcon_gmem mem;   /* guest RAM */
	struct vcon_pci *pci;   /* the bus to plug into */
	unsigned slot;          /* 0: the first free slot */
	struct vcon_loop *loop; /* runs stall timers and doorbells */
	/*
	 * Optional (vcon_vm_ioeventfds under KVM): queue notifications as
	 * eventfds, so a kick does not exit to the VMM; the loop handles them.
	 */
	struct vcon_ioeventfd ioeventfd;
	/* Port events; optional. Called with no libvcon lock held. */
	void (*event)(void *ctx, unsigned port, enum vcon_vserial_event ev);
	void *event_ctx;
};

struct vcon_vserial_port_config {
	bool console;         /* virtconsole, else virtserialport */
	const char *name;     /* name=, NULL for none; copied */
	int nr;               /* port number; -1: the next free one */
	struct vcon_chr *chr; /* NULL: output discarded, no input */
};

struct vcon_vserial_port_stats {
	bool guest_ready, guest_open, host_open;
	uint64_t guest_opens, guest_closes;
	uint64_t tx_bytes;   /* guest to host, taken by the backend */
	uint64_t tx_dropped; /* console output dropped after a stall */
	uint64_t rx_bytes;   /* host to guest */
};

struct vcon_vserial_stats {
	bool broken;            /* the guest broke a rule; reset clears it */
	const char *broken_why; /* what it did (static string) */
	uint64_t interrupts;    /* raised (INTx asserted with an ISR bit) */
	uint64_t kicks;         /* queue notifications: one VM exit each */
	uint64_t isr_reads;     /* ISR reads: one VM exit each */
	uint64_t ctrl_queued;   /* control messages now waiting for buffers */
};

/*
 * vcon_virtio_serial_new - create the controller and plug it into
 * cfg->pci.
 *
 * Returns: 0, -EINVAL (max_nr_ports above VCON_VSERIAL_MAX_PORTS, missing
 * memory, pci or loop), or as vcon_pci_add.
 * Context: before vCPUs run.
 */
VCON_API VCON_NODISCARD int
vcon_virtio_serial_new(const struct vcon_virtio_serial_config *cfg,
		       struct vcon_virtio_serial **out);

/*
 * vcon_virtio_serial_free - unplug from the PCI bus, detach every port
 * and release. Call it with the vCPUs stopped and before vcon_pci_free.
 * NULL is a no-op.
 *
 * Context: any thread but the loop thread.
 */
VCON_API void
vcon_virtio_serial_free(struct vcon_virtio_serial *vs);

/*
 * vcon_virtio_serial_add_port - add a port, before the guest runs or
 * while it does (hot add: the guest is sent PORT_ADD). Number 0 is kept
 * for a console, as QEMU keeps it: a virtserialport takes 1 and up.
 *
 * Returns: the port number, -EINVAL (a name too long or with a '/', or a
 * virtserialport asked for 0), -EEXIST (the number or name is taken),
 * -ENOSPC (no free number), -EBUSY (the chardev has a frontend).
 * Context: any thread, the loop thread included (a monitor's command),
 * but not from this port's own chardev callbacks.
 */
VCON_API VCON_NODISCARD int
vcon_virtio_serial_add_port(struct vcon_virtio_serial *vs,
			    const struct vcon_vserial_port_config *pc);

/*
 * vcon_virtio_serial_remove_port - hot-unplug port nr (PORT_REMOVE).
 *
 * Returns: 0 or -ENOENT.
 * Context: as vcon_virtio_serial_add_port.
 */
VCON_API int
vcon_virtio_serial_remove_port(struct vcon_virtio_serial *vs, unsigned nr);

/* Counters. Return 0, or -ENOENT for a port that does not exist. */
VCON_API int
vcon_virtio_serial_port_stats(struct vcon_virtio_serial *vs, unsigned nr,
			      struct vcon_vserial_port_stats *st);
VCON_API void
vcon_virtio_serial_get_stats(struct vcon_virtio_serial *vs,
			     struct vcon_vserial_stats *st);

/* vcon_virtio_serial_pci_slot - the slot the controller got. */
VCON_API unsigned
vcon_virtio_serial_pci_slot(const struct vcon_virtio_serial *vs);

#ifdef __cplusplus
}
#endif

#endif /* VCON_VIRTIO_SERIAL_H */
