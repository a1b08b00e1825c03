/* SPDX-License-Identifier: MIT */
/*
 * Split virtqueue, device side: see lib/virtqueue.h. Ring layouts are
 * virtio 1.2 section 2.7: descriptors of 16 bytes (addr, len, flags,
 * next); avail = flags, idx, ring[size], used_event; used = flags, idx,
 * {id, len}[size], avail_event. All little-endian, which is also the x86
 * host's order, so fields are read with plain loads.
 *
 * Shared-memory ordering: the guest writes ring entries and then avail->idx,
 * so idx is loaded with acquire before the entries; we write used entries
 * and then used->idx with release. Between publishing used->idx and
 * reading the guest's used_event (and between setting avail_event and
 * re-reading avail->idx) a full fence stops the classic lost-wakeup race.
 */
#include <errno.h>
#include <string.h>

#include "virtqueue.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "virtqueue.c reads little-endian rings with native loads");

#define DESC_F_NEXT          1u
#define DESC_F_WRITE         2u
#define DESC_F_INDIRECT      4u
#define AVAIL_F_NO_INTERRUPT 1u
#define USED_F_NO_NOTIFY     1u

struct desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};
_Static_assert(sizeof(struct desc) == 16, "virtq_desc is 16 bytes");

uint64_t
vcon__vq_desc_bytes(uint16_t size)
{
	return 16u * (uint64_t)size;
}

uint64_t
vcon__vq_avail_bytes(uint16_t size)
{
	return 6u + 2u * (uint64_t)size;
}

uint64_t
vcon__vq_used_bytes(uint16_t size)
{
	return 6u + 8u * (uint64_t)size;
}

static uint16_t *
avail_idx_p(struct vcon_vq *vq)
{
	return (uint16_t *)(void *)(vq->avail + 2);
}

static uint16_t *
avail_ring_p(struct vcon_vq *vq, uint16_t i)
{
	return (uint16_t *)(void *)(vq->avail + 4 + 2u * i);
}

static uint16_t *
used_event_p(struct vcon_vq *vq)
{
	return avail_ring_p(vq, vq->size);
}

static uint16_t *
used_flags_p(struct vcon_vq *vq)
{
	return (uint16_t *)(void *)vq->used;
}

static uint16_t *
used_idx_p(struct vcon_vq *vq)
{
	return (uint16_t *)(void *)(vq->used + 2);
}

static uint16_t *
avail_event_p(struct vcon_vq *vq)
{
	return (uint16_t *)(void *)(vq->used + 4 + 8u * vq->size);
}

static uint16_t
load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static int
broken(struct vcon_vq *vq, const char *why)
{
	if (!vq->broken) {
		vq->broken = true;
		vq->why = why;
	}
	return -EIO;
}

void
vcon__vq_reset(struct vcon_vq *vq)
{
	*vq = (struct vcon_vq){ 0 };
}

int
vcon__vq_enable(struct vcon_vq *vq, struct vcon_gmem mem, uint16_t size,
		uint64_t desc, uint64_t avail, uint64_t used, uint64_t features)
{
	vcon__vq_reset(vq);
	vq->mem = mem;
	vq->size = size;
	vq->event_idx = features >> VCON_VIRTIO_F_EVENT_IDX & 1;
	vq->indirect = features >> VCON_VIRTIO_F_INDIRECT_DESC & 1;
	if (size == 0 || size > VCON_VQ_MAX_SIZE || (size & (size - 1))) {
		broken(vq,
		       "queue size is not a power of two up to the maximum");
		return -EINVAL;
	}
	/* 2.7: descriptor table 16-aligned, avail 2, used 4. */
	if ((desc & 15) || (avail & 1) || (used & 3)) {
		broken(vq, "misaligned ring");
		return -EINVAL;
	}
	/* The event words sit after the rings; map them too. */
	vq->desc = mem.map(mem.ctx, desc, vcon__vq_desc_bytes(size));
	vq->avail = mem.map(mem.ctx, avail, vcon__vq_avail_bytes(size) + 2);
	vq->used = mem.map(mem.ctx, used, vcon__vq_used_bytes(size) + 2);
	if (!vq->desc || !vq->avail || !vq->used) {
		broken(vq, "ring outside guest memory");
		return -EINVAL;
	}
	vq->ready = true;
	return 0;
}

bool
vcon__vq_has_avail(struct vcon_vq *vq)
{
	if (!vq->ready || vq->broken)
		return false;
	return __atomic_load_n(avail_idx_p(vq), __ATOMIC_ACQUIRE) !=
	       vq->last_avail;
}

static void
read_desc(const uint8_t *table, uint16_t i, struct desc *d)
{
	/* One copy: later checks see what we use, whatever the guest does. */
	memcpy(d, table + 16u * i, sizeof(*d));
}

static int
add_seg(struct vcon_vq *vq, struct vcon_vq_elem *e, const struct desc *d,
	bool *seen_write)
{
	uint16_t n = (uint16_t)(e->nout + e->nin);
	bool write = d->flags & DESC_F_WRITE;
	uint8_t *p;

	if (n >= VCON_VQ_MAX_SIZE)
		return broken(vq, "descriptor chain longer than the queue");
	if (!write && *seen_write)
		return broken(vq, "readable descriptor after a writable one");
	if (d->len == 0) {
		p = NULL;
	} else {
		p = vq->mem.map(vq->mem.ctx, d->addr, d->len);
		if (!p)
			return broken(vq, "buffer outside guest memory");
	}
	if (write) {
		*seen_write = true;
		if ((uint64_t)e->in_len + d->len > UINT32_MAX)
			return broken(vq, "buffer lengths overflow");
		e->in_len += d->len;
		e->nin++;
	} else {
		if ((uint64_t)e->out_len + d->len > UINT32_MAX)
			return broken(vq, "buffer lengths overflow");
		e->out_len += d->len;
		e->nout++;
	}
	e->seg[n] = (struct vcon_vq_seg){ .p = p, .len = d->len };
	return 0;
}

/* Walk an indirect table of count descriptors, starting at entry 0. */
static int
walk_indirect(struct vcon_vq *vq, struct vcon_vq_elem *e,
	      const struct desc *ind, bool *seen_write)
{
	const uint8_t *table;
	unsigned count, walked = 0;
	struct desc d;
	uint16_t i = 0;
	int rc;

	if (!vq->indirect)
		return broken(vq, "indirect descriptor not negotiated");
	if (ind->flags & DESC_F_NEXT)
		return broken(vq, "indirect descriptor with NEXT set");
	if (ind->len == 0 || ind->len % 16)
		return broken(vq, "indirect table length not a multiple of 16");
	count = ind->len / 16;
	table = vq->mem.map(vq->mem.ctx, ind->addr, ind->len);
	if (!table)
		return broken(vq, "indirect table outside guest memory");
	for (;;) {
		if (++walked > count)
			return broken(vq, "loop in an indirect table");
		read_desc(table, i, &d);
		if (d.flags & DESC_F_INDIRECT)
			return broken(vq, "nested indirect table");
		rc = add_seg(vq, e, &d, seen_write);
		if (rc < 0)
			return rc;
		if (!(d.flags & DESC_F_NEXT))
			return 0;
		if (d.next >= count)
			return broken(vq,
				      "next index outside the indirect table");
		i = d.next;
	}
}

int
vcon__vq_pop(struct vcon_vq *vq, struct vcon_vq_elem *e)
{
	uint16_t avail_idx, head, i;
	unsigned walked = 0;
	bool seen_write = false;
	struct desc d;
	int rc;

	if (!vq->ready || vq->broken)
		return vq->broken ? -EIO : 0;
	avail_idx = __atomic_load_n(avail_idx_p(vq), __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail)
		return 0;
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->size)
		return broken(vq,
			      "avail index moved by more than the queue size");
	head = load16(avail_ring_p(vq, vq->last_avail & (vq->size - 1)));
	if (head >= vq->size)
		return broken(vq, "head descriptor index out of range");
	e->head = head;
	e->nout = e->nin = 0;
	e->out_len = e->in_len = 0;
	i = head;
	for (;;) {
		if (++walked > vq->size)
			return broken(vq, "loop in a descriptor chain");
		read_desc(vq->desc, i, &d);
		if (d.flags & DESC_F_INDIRECT) {
			rc = walk_indirect(vq, e, &d, &seen_write);
			if (rc < 0)
				return rc;
			break;
		}
		rc = add_seg(vq, e, &d, &seen_write);
		if (rc < 0)
			return rc;
		if (!(d.flags & DESC_F_NEXT))
			break;
		if (d.next >= vq->size)
			return broken(vq, "next descriptor index out of range");
		i = d.next;
	}
	vq->last_avail++;
	if (vq->event_idx && !vq->notify_off)
		__atomic_store_n(avail_event_p(vq), vq->last_avail,
				 __ATOMIC_RELAXED);
	return 1;
}

void
vcon__vq_unpop(struct vcon_vq *vq)
{
	vq->last_avail--;
}

void
vcon__vq_push(struct vcon_vq *vq, uint16_t head, uint32_t len)
{
	uint8_t *ent;

	if (!vq->ready || vq->broken)
		return;
	ent = vq->used + 4 + 8u * (vq->used_idx & (vq->size - 1));
	memcpy(ent, &(uint32_t){ head }, 4);
	memcpy(ent + 4, &len, 4);
	vq->used_idx++;
	__atomic_store_n(used_idx_p(vq), vq->used_idx, __ATOMIC_RELEASE);
}

bool
vcon__vq_should_interrupt(struct vcon_vq *vq)
{
	uint16_t old, event;
	bool v;

	if (!vq->ready || vq->broken)
		return false;
	/* Our used->idx store must be visible before we read the guest's. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!vq->event_idx) {
		vq->signalled = vq->used_idx;
		return !(load16((uint16_t *)(void *)vq->avail) &
			 AVAIL_F_NO_INTERRUPT);
	}
	old = vq->signalled;
	v = vq->signalled_valid;
	vq->signalled = vq->used_idx;
	vq->signalled_valid = true;
	if (!v)
		return true;
	event = load16(used_event_p(vq));
	/* 2.7.10: interrupt when used_event lies in (old, new]. */
	return (uint16_t)(vq->used_idx - event - 1) <
	       (uint16_t)(vq->used_idx - old);
}

bool
vcon__vq_set_notify(struct vcon_vq *vq, bool on)
{
	if (on)
		return vcon__vq_notify_after(vq, 1);
	if (vq->ready && !vq->broken) {
		vq->notify_off = true;
		if (!vq->event_idx)
			store16(used_flags_p(vq), USED_F_NO_NOTIFY);
	}
	return false;
}

bool
vcon__vq_notify_after(struct vcon_vq *vq, uint16_t n)
{
	if (!vq->ready || vq->broken)
		return false;
	vq->notify_off = false;
	/* 2.7.10: the driver kicks once its avail idx passes avail_event. */
	if (vq->event_idx)
		store16(avail_event_p(vq),
			(uint16_t)(vq->last_avail + (n > 1 ? n - 1 : 0)));
	else
		store16(used_flags_p(vq), 0);
	/* Our request must be visible before we look at avail->idx. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return vcon__vq_has_avail(vq);
}

uint16_t
vcon__vq_driver_backlog(struct vcon_vq *vq)
{
	uint16_t b;

	if (!vq->ready || vq->broken || !vq->event_idx)
		return 0;
	b = (uint16_t)(vq->used_idx - load16(used_event_p(vq)));
	return b <= vq->size ? b : 0;
}

/* Copy between buf and segments [first, first + n) from byte off on. */
static size_t
copy_segs(const struct vcon_vq_elem *e, unsigned first, unsigned n, size_t off,
	  uint8_t *buf, size_t len, bool to_guest)
{
	size_t done = 0, k;
	unsigned i;

	for (i = first; i < first + n && done < len; i++) {
		const struct vcon_vq_seg *s = &e->seg[i];

		if (off >= s->len) {
			off -= s->len;
			continue;
		}
		k = s->len - off < len - done ? s->len - off : len - done;
		if (to_guest)
			memcpy(s->p + off, buf + done, k);
		else
			memcpy(buf + done, s->p + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t
vcon__vq_elem_read(const struct vcon_vq_elem *e, size_t off, void *buf,
		   size_t len)
{
	return copy_segs(e, 0, e->nout, off, buf, len, false);
}

size_t
vcon__vq_elem_write(const struct vcon_vq_elem *e, size_t off, const void *buf,
		    size_t len)
{
	/* The one cast: buf is only read when copying to the guest. */
	return copy_segs(e, e->nout, e->nin, off, (uint8_t *)(uintptr_t)buf,
			 len, true);
}
