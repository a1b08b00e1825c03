/* SPDX-License-Identifier: MIT */
/*
 * The device side of a virtio split virtqueue (virtio 1.2, 2.7), over
 * guest memory reached only through struct vcon_gmem. Every index, length,
 * address and chain the guest supplies is checked before use; a guest that
 * breaks the rules (a loop, an address outside RAM, a head out of range, a
 * chain longer than the queue, a writable buffer before a readable one,
 * nested indirect tables) gets the queue marked broken, and the transport
 * then reports DEVICE_NEEDS_RESET. Host memory outside guest RAM is never
 * touched.
 *
 * Descriptors are copied out of guest memory before they are checked, so a
 * guest that rewrites them concurrently cannot make a checked value change
 * under us. Data segments are host pointers into guest RAM: the guest may
 * change the bytes while we copy, which only garbles its own data.
 *
 * Not thread-safe: the owning device serializes calls.
 */
#ifndef VCON_VIRTQUEUE_H
#define VCON_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/common.h>

/* Feature bits the virtqueue itself implements (virtio 1.2, 6). */
#define VCON_VIRTIO_F_INDIRECT_DESC 28
#define VCON_VIRTIO_F_EVENT_IDX     29

/*
 * The largest queue we offer, and so the longest legal chain (a driver
 * must not build a chain longer than the queue, indirect tables included).
 */
#define VCON_VQ_MAX_SIZE 256

struct vcon_vq_seg {
	uint8_t *p; /* host pointer into guest RAM */
	uint32_t len;
};

/* One popped buffer: nout device-readable segments, then nin writable. */
struct vcon_vq_elem {
	uint16_t head;
	uint16_t nout, nin;
	uint32_t out_len, in_len; /* byte totals */
	struct vcon_vq_seg seg[VCON_VQ_MAX_SIZE];
};

struct vcon_vq {
	struct vcon_gmem mem;
	uint16_t size;
	bool ready;      /* enabled with valid rings */
	bool broken;     /* the guest broke a rule; see vcon_vq_broken */
	bool event_idx;  /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;   /* VIRTIO_F_INDIRECT_DESC negotiated */
	const char *why; /* what the guest did, for the log */
	/* Host views of the rings. */
	uint8_t *desc, *avail, *used;
	uint16_t last_avail; /* next avail ring slot to take */
	uint16_t used_idx;   /* our copy of used->idx */
	uint16_t signalled;  /* used_idx when we last interrupted */
	bool signalled_valid;
	bool notify_off; /* the device asked for no kicks */
};

/*
 * vcon__vq_enable - start using the rings at desc/avail/used (guest
 * physical) with size entries and the negotiated features (bit mask of
 * VCON_VIRTIO_F_*). The indices start at 0.
 *
 * Returns: 0, or -EINVAL with the queue broken: size not a power of two
 * or above VCON_VQ_MAX_SIZE, misaligned rings, rings outside RAM.
 */
int vcon__vq_enable(struct vcon_vq *vq, struct vcon_gmem mem, uint16_t size,
		    uint64_t desc, uint64_t avail, uint64_t used,
		    uint64_t features);

/* vcon__vq_reset - forget the rings; the queue is not ready. */
void vcon__vq_reset(struct vcon_vq *vq);

/*
 * vcon__vq_pop - take the next available buffer into elem.
 *
 * Returns: 1 with elem filled, 0 when none is available, or -EIO when the
 * guest broke a rule (the queue is broken from then on; vq->why says how).
 */
int vcon__vq_pop(struct vcon_vq *vq, struct vcon_vq_elem *elem);

/*
 * vcon__vq_unpop - give the last popped buffer back, unused, so the next
 * pop returns it again (the backend could not take any of it).
 */
void vcon__vq_unpop(struct vcon_vq *vq);

/* vcon__vq_push - return buffer head to the guest with len bytes written. */
void vcon__vq_push(struct vcon_vq *vq, uint16_t head, uint32_t len);

/*
 * vcon__vq_should_interrupt - whether the guest wants an interrupt for the
 * buffers pushed since the last call that returned true (EVENT_IDX's
 * used_event, else the avail NO_INTERRUPT flag).
 */
bool vcon__vq_should_interrupt(struct vcon_vq *vq);

/*
 * vcon__vq_set_notify - ask the guest to kick (true) or not to (false)
 * when it adds buffers. Returns true when buffers are available after the
 * change: the caller must then look again, or it could miss a kick the
 * guest skipped.
 */
bool vcon__vq_set_notify(struct vcon_vq *vq, bool on);

/*
 * vcon__vq_notify_after - vcon__vq_set_notify(vq, true), but with EVENT_IDX
 * ask for the kick only once the guest has added n more buffers (0 and 1:
 * the next one; without EVENT_IDX always the next one).
 */
bool vcon__vq_notify_after(struct vcon_vq *vq, uint16_t n);

/*
 * vcon__vq_driver_backlog - used buffers the guest has not taken back yet,
 * by its used_event (EVENT_IDX; else 0). The guest's word, so only a hint:
 * at most the queue's size.
 */
uint16_t vcon__vq_driver_backlog(struct vcon_vq *vq);

/* vcon__vq_has_avail - at least one buffer is waiting. */
bool vcon__vq_has_avail(struct vcon_vq *vq);

/*
 * Copy helpers over a popped element's segments: copy up to len bytes out
 * of the readable part starting at byte off, or into the writable part.
 * Return the bytes copied.
 */
size_t vcon__vq_elem_read(const struct vcon_vq_elem *e, size_t off, void *buf,
			  size_t len);
size_t vcon__vq_elem_write(const struct vcon_vq_elem *e, size_t off,
			   const void *buf, size_t len);

/* The byte sizes of the three rings, for transports that place them. */
uint64_t vcon__vq_desc_bytes(uint16_t size);
uint64_t vcon__vq_avail_bytes(uint16_t size);
uint64_t vcon__vq_used_bytes(uint16_t size);

#endif /* VCON_VIRTQUEUE_H */
