/* SPDX-License-Identifier: MIT */
/*
 * Transitional virtio-pci: see lib/virtio_pci.h. Layout:
 *
 *   BAR0  I/O, legacy header (virtio 1.2, 4.1.4.8) then device config
 *   BAR1  memory, 32 KiB: common config at 0x0000, ISR at 0x1000, device
 *         config at 0x2000, notifications at 0x3000 + 4 * queue, the
 *         MSI-X table at 0x4000 and its pending bits at 0x6000 (both
 *         answered by lib/pci.c)
 *
 * Interrupts: MSI-X when the bridge can deliver it and the guest enables
 * it (a vector per queue and one for configuration changes, as the guest
 * assigns them), else INTx with the ISR register.
 *
 * PCI identity per 4.1.2: vendor 0x1af4, the transitional device ID from
 * the spec's table (0x1003 for a console), subsystem ID = type, revision 0.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"
#include "virtio_pci.h"

#define VIRTIO_PCI_VENDOR  0x1af4
#define MODERN_DEVICE_BASE 0x1040

#define CAP_VNDR   0x09
#define CAP_COMMON 1
#define CAP_NOTIFY 2
#define CAP_ISR    3
#define CAP_DEVICE 4
#define CAP_PCI    5

#define MODERN_BAR       1
#define MODERN_SIZE      0x8000
#define OFF_COMMON       0x0000
#define OFF_ISR          0x1000
#define OFF_DEVICE       0x2000
#define OFF_NOTIFY       0x3000
#define OFF_MSIX_TABLE   0x4000
#define OFF_MSIX_PBA     0x6000
#define MSIX_MAX_VECTORS 512 /* the table's 8 KiB */
#define NOTIFY_MULT      4
#define COMMON_LEN       0x40

/* Legacy header (4.1.4.8); with MSI-X on, two vector registers follow. */
#define L_HOST_FEATURES  0x00
#define L_GUEST_FEATURES 0x04
#define L_QUEUE_PFN      0x08
#define L_QUEUE_NUM      0x0c
#define L_QUEUE_SEL      0x0e
#define L_QUEUE_NOTIFY   0x10
#define L_STATUS         0x12
#define L_ISR            0x13
#define L_CONFIG         0x14
#define L_MSIX_CONFIG    0x14
#define L_MSIX_QUEUE     0x16
#define L_CONFIG_MSIX    0x18
#define LEGACY_ALIGN     4096

/* Common configuration (4.1.4.3). */
#define C_DFSELECT 0x00
#define C_DF       0x04
#define C_GFSELECT 0x08
#define C_GF       0x0c
#define C_MSIX     0x10
#define C_NUMQ     0x12
#define C_STATUS   0x14
#define C_CFGGEN   0x15
#define C_Q_SELECT 0x16
#define C_Q_SIZE   0x18
#define C_Q_MSIX   0x1a
#define C_Q_ENABLE 0x1c
#define C_Q_NOFF   0x1e
#define C_Q_DESC   0x20
#define C_Q_DRIVER 0x28
#define C_Q_DEVICE 0x30
#define C_Q_NDATA  0x38
#define C_Q_RESET  0x3a

#define NO_VECTOR 0xffff

void
vcon__vpci_lock(struct vcon__vpci *t)
{
	pthread_mutex_lock(&t->lock);
}

void
vcon__vpci_unlock(struct vcon__vpci *t)
{
	pthread_mutex_unlock(&t->lock);
}

bool
vcon__vpci_is_broken(struct vcon__vpci *t)
{
	return t->status & VIRTIO_STATUS_NEEDS_RESET;
}

bool
vcon__vpci_queue_ok(struct vcon__vpci *t, unsigned q)
{
	return q < t->cfg.nr_queues && (t->status & VIRTIO_STATUS_DRIVER_OK) &&
	       !vcon__vpci_is_broken(t) && t->vqs[q].ready;
}

/*
 * Tell the guest: through the vector it chose when MSI-X is on (none when
 * it chose NO_VECTOR), else the ISR bit and INTx. The configuration bit
 * is set in ISR either way (4.1.5.3).
 */
static void
interrupt(struct vcon__vpci *t, uint8_t isr_bit, uint16_t vector)
{
	if (isr_bit == 2)
		t->isr |= isr_bit;
	if (vcon_pci_dev_msix_enabled(t->pci)) {
		if (vector != NO_VECTOR &&
		    vcon_pci_dev_msix_notify(t->pci, vector))
			t->interrupts++;
		return;
	}
	t->isr |= isr_bit;
	t->interrupts++;
	vcon_pci_dev_set_intx(t->pci, true);
}

void
vcon__vpci_used(struct vcon__vpci *t, unsigned q)
{
	if (q < t->cfg.nr_queues && vcon__vq_should_interrupt(&t->vqs[q]))
		interrupt(t, 1, t->q[q].msix);
}

void
vcon__vpci_config_changed(struct vcon__vpci *t)
{
	t->config_generation++;
	if (t->status & VIRTIO_STATUS_DRIVER_OK)
		interrupt(t, 2, t->config_vector);
}

/* A vector the guest may assign: one the table has, or NO_VECTOR. */
static uint16_t
vector_or_none(struct vcon__vpci *t, uint64_t v)
{
	return v < t->msix_vectors ? (uint16_t)v : NO_VECTOR;
}

/* Where the legacy header's device configuration starts now. */
static unsigned
legacy_config_off(struct vcon__vpci *t)
{
	return vcon_pci_dev_msix_enabled(t->pci) ? L_CONFIG_MSIX : L_CONFIG;
}

void
vcon__vpci_broken(struct vcon__vpci *t, unsigned q)
{
	(void)q;
	if (vcon__vpci_is_broken(t))
		return;
	t->status |= VIRTIO_STATUS_NEEDS_RESET;
	vcon__vpci_config_changed(t);
}

static void
reset_locked(struct vcon__vpci *t)
{
	unsigned i;

	for (i = 0; i < t->cfg.nr_queues; i++) {
		vcon__vq_reset(&t->vqs[i]);
		t->q[i] = (struct vcon__vpci_queue){ .size = t->cfg.queue_size,
						     .msix = NO_VECTOR };
	}
	t->status = 0;
	t->isr = 0;
	t->config_vector = NO_VECTOR;
	t->driver_features = 0;
	t->dfselect = t->gfselect = 0;
	t->queue_sel = 0;
	t->legacy = false;
	vcon_pci_dev_set_intx(t->pci, false);
	t->cfg.ops->reset(t->cfg.ctx);
}

static void
enable_queue(struct vcon__vpci *t, unsigned q)
{
	struct vcon__vpci_queue *s = &t->q[q];

	if (vcon__vq_enable(&t->vqs[q], t->cfg.mem, s->size, s->desc, s->driver,
			    s->device, t->driver_features) < 0) {
		vcon__vpci_broken(t, q);
		return;
	}
	s->enabled = true;
}

static void
notify(struct vcon__vpci *t, unsigned q)
{
	t->kicks++;
	if (vcon__vpci_queue_ok(t, q))
		t->cfg.ops->notify(t->cfg.ctx, q);
}

/*
 * A status write. The legacy interface has no FEATURES_OK to check
 * (features are taken as written); the rest is the same for both.
 */
static void
write_status(struct vcon__vpci *t, uint8_t v, bool legacy)
{
	uint8_t old = t->status;

	if (v == 0) {
		reset_locked(t);
		return;
	}
	if (!legacy && (v & VIRTIO_STATUS_FEATURES_OK) &&
	    !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* 3.1.1: refuse features we did not offer, and a modern
		 * driver that did not take VERSION_1. */
		if ((t->driver_features & ~t->device_features) ||
		    !(t->driver_features >> VCON_VIRTIO_F_VERSION_1 & 1))
			v &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
	}
	/* NEEDS_RESET is ours to set; the guest cannot clear it. */
	t->status = (uint8_t)((v & ~VIRTIO_STATUS_NEEDS_RESET) |
			      (old & VIRTIO_STATUS_NEEDS_RESET));
	if ((v & VIRTIO_STATUS_DRIVER_OK) && !(old & VIRTIO_STATUS_DRIVER_OK) &&
	    !vcon__vpci_is_broken(t))
		t->cfg.ops->driver_ok(t->cfg.ctx);
}

static uint8_t
read_isr(struct vcon__vpci *t)
{
	uint8_t v = t->isr;

	t->isr_reads++;
	t->isr = 0;
	vcon_pci_dev_set_intx(t->pci, false);
	return v;
}

static uint64_t
get_bytes(const void *p, unsigned size)
{
	uint64_t v = 0;

	memcpy(&v, p, size);
	return v;
}

/* ---- legacy I/O BAR */

static uint64_t
legacy_read_locked(struct vcon__vpci *t, uint64_t off, unsigned size)
{
	struct vcon__vpci_queue *s = &t->q[t->queue_sel];
	uint8_t buf[8] = { 0 };
	unsigned cfg_off = legacy_config_off(t);

	if (off >= cfg_off) {
		if (off - cfg_off + size <= t->cfg.cfg_size)
			t->cfg.ops->cfg_read(t->cfg.ctx,
					     (unsigned)(off - cfg_off), buf,
					     size);
		return get_bytes(buf, size);
	}
	switch (off) {
	case L_MSIX_CONFIG:
		return t->config_vector; /* only reached with MSI-X on */
	case L_MSIX_QUEUE:
		return s->msix;
	case L_HOST_FEATURES:
		/* Legacy drivers see the low 32 bits, less VERSION_1. */
		return (uint32_t)t->device_features;
	case L_GUEST_FEATURES:
		return (uint32_t)t->driver_features;
	case L_QUEUE_PFN:
		return s->enabled ? (uint32_t)(s->desc / LEGACY_ALIGN) : 0;
	case L_QUEUE_NUM:
		return t->cfg.queue_size;
	case L_QUEUE_SEL:
		return t->queue_sel;
	case L_STATUS:
		return t->status;
	case L_ISR:
		return read_isr(t);
	default:
		return 0;
	}
}

static void
legacy_set_pfn(struct vcon__vpci *t, uint32_t pfn)
{
	struct vcon__vpci_queue *s = &t->q[t->queue_sel];
	uint16_t n = t->cfg.queue_size;
	uint64_t avail_end;

	t->legacy = true;
	if (pfn == 0) {
		vcon__vq_reset(&t->vqs[t->queue_sel]);
		s->enabled = false;
		return;
	}
	/* 2.7.2 legacy layout: avail after desc, used on the next page. */
	s->size = n;
	s->desc = (uint64_t)pfn * LEGACY_ALIGN;
	s->driver = s->desc + vcon__vq_desc_bytes(n);
	avail_end = s->driver + vcon__vq_avail_bytes(n) + 2;
	s->device =
		(avail_end + LEGACY_ALIGN - 1) & ~(uint64_t)(LEGACY_ALIGN - 1);
	enable_queue(t, t->queue_sel);
}

static void
legacy_write_locked(struct vcon__vpci *t, uint64_t off, unsigned size,
		    uint64_t val)
{
	uint8_t buf[8];
	unsigned cfg_off = legacy_config_off(t);

	if (off >= cfg_off) {
		memcpy(buf, &val, sizeof(buf));
		if (off - cfg_off + size <= t->cfg.cfg_size)
			t->cfg.ops->cfg_write(t->cfg.ctx,
					      (unsigned)(off - cfg_off), buf,
					      size);
		return;
	}
	switch (off) {
	case L_MSIX_CONFIG:
		t->config_vector = vector_or_none(t, val & 0xffff);
		break;
	case L_MSIX_QUEUE:
		t->q[t->queue_sel].msix = vector_or_none(t, val & 0xffff);
		break;
	case L_GUEST_FEATURES:
		t->legacy = true;
		t->driver_features = (uint32_t)val & t->device_features;
		break;
	case L_QUEUE_PFN:
		legacy_set_pfn(t, (uint32_t)val);
		break;
	case L_QUEUE_SEL:
		if (val < t->cfg.nr_queues)
			t->queue_sel = (uint16_t)val;
		break;
	case L_QUEUE_NOTIFY:
		notify(t, (unsigned)val);
		break;
	case L_STATUS:
		write_status(t, (uint8_t)val, true);
		break;
	default:
		break;
	}
}

/* Every register access: under the lock, then the device's unlocked part. */
static uint64_t
locked_read(struct vcon__vpci *t,
	    uint64_t (*fn)(struct vcon__vpci *, uint64_t, unsigned),
	    uint64_t off, unsigned size)
{
	uint64_t v;

	pthread_mutex_lock(&t->lock);
	v = fn(t, off, size);
	pthread_mutex_unlock(&t->lock);
	t->cfg.ops->unlocked(t->cfg.ctx);
	return v;
}

static void
locked_write(struct vcon__vpci *t,
	     void (*fn)(struct vcon__vpci *, uint64_t, unsigned, uint64_t),
	     uint64_t off, unsigned size, uint64_t val)
{
	pthread_mutex_lock(&t->lock);
	fn(t, off, size, val);
	pthread_mutex_unlock(&t->lock);
	t->cfg.ops->unlocked(t->cfg.ctx);
}

static uint64_t
legacy_read(void *ctx, uint64_t off, unsigned size)
{
	return locked_read(ctx, legacy_read_locked, off, size);
}

static void
legacy_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	locked_write(ctx, legacy_write_locked, off, size, val);
}

static const struct vcon_bus_ops legacy_ops = {
	.read = legacy_read,
	.write = legacy_write,
	.max_access = 4,
};

/* ---- modern memory BAR */

static uint64_t
common_read(struct vcon__vpci *t, uint64_t off, unsigned size)
{
	struct vcon__vpci_queue *s = &t->q[t->queue_sel];
	uint64_t v;

	switch (off) {
	case C_DFSELECT:
		return t->dfselect;
	case C_DF:
		return t->dfselect < 2 ? (uint32_t)(t->device_features >>
						    (32 * t->dfselect))
				       : 0;
	case C_GFSELECT:
		return t->gfselect;
	case C_GF:
		return t->gfselect < 2 ? (uint32_t)(t->driver_features >>
						    (32 * t->gfselect))
				       : 0;
	case C_MSIX:
		return t->config_vector;
	case C_NUMQ:
		return t->cfg.nr_queues;
	case C_STATUS:
		return t->status;
	case C_CFGGEN:
		return t->config_generation;
	case C_Q_SELECT:
		return t->queue_sel;
	case C_Q_SIZE:
		return s->size;
	case C_Q_MSIX:
		return s->msix;
	case C_Q_ENABLE:
		return s->enabled;
	case C_Q_NOFF:
	case C_Q_NDATA:
		return t->queue_sel;
	case C_Q_DESC:
	case C_Q_DESC + 4:
		v = s->desc;
		break;
	case C_Q_DRIVER:
	case C_Q_DRIVER + 4:
		v = s->driver;
		break;
	case C_Q_DEVICE:
	case C_Q_DEVICE + 4:
		v = s->device;
		break;
	default:
		return 0;
	}
	/* 64-bit fields are read as two dwords or one qword. */
	if (off & 4)
		return v >> 32;
	return size == 8 ? v : (uint32_t)v;
}

static void
set_half(uint64_t *f, uint64_t off, unsigned size, uint64_t val)
{
	if (size == 8)
		*f = val;
	else if (off & 4)
		*f = (*f & 0xffffffffu) | (val & 0xffffffffu) << 32;
	else
		*f = (*f & ~0xffffffffull) | (val & 0xffffffffu);
}

static void
common_write(struct vcon__vpci *t, uint64_t off, unsigned size, uint64_t val)
{
	struct vcon__vpci_queue *s = &t->q[t->queue_sel];
	bool live = s->enabled || (t->status & VIRTIO_STATUS_DRIVER_OK);

	switch (off) {
	case C_DFSELECT:
		t->dfselect = (uint32_t)val;
		break;
	case C_GFSELECT:
		t->gfselect = (uint32_t)val;
		break;
	case C_GF:
		/* Features are fixed once FEATURES_OK is set (3.1.1). */
		if (t->gfselect < 2 &&
		    !(t->status & VIRTIO_STATUS_FEATURES_OK)) {
			unsigned sh = 32 * t->gfselect;

			t->driver_features =
				(t->driver_features & ~(0xffffffffull << sh)) |
				((val & 0xffffffffu) << sh);
		}
		break;
	case C_STATUS:
		write_status(t, (uint8_t)val, false);
		break;
	case C_MSIX:
		t->config_vector = vector_or_none(t, val & 0xffff);
		break;
	case C_Q_MSIX:
		s->msix = vector_or_none(t, val & 0xffff);
		break;
	case C_Q_SELECT:
		/* An out-of-range select reads queue_size 0: "no queue". */
		t->queue_sel =
			val < t->cfg.nr_queues ? (uint16_t)val : t->queue_sel;
		break;
	case C_Q_SIZE:
		if (!live)
			s->size = (uint16_t)val;
		break;
	case C_Q_ENABLE:
		if ((val & 1) && !s->enabled)
			enable_queue(t, t->queue_sel);
		break;
	case C_Q_DESC:
	case C_Q_DESC + 4:
		if (!live)
			set_half(&s->desc, off, size, val);
		break;
	case C_Q_DRIVER:
	case C_Q_DRIVER + 4:
		if (!live)
			set_half(&s->driver, off, size, val);
		break;
	case C_Q_DEVICE:
	case C_Q_DEVICE + 4:
		if (!live)
			set_half(&s->device, off, size, val);
		break;
	default:
		break;
	}
}

static uint64_t
modern_read_locked(struct vcon__vpci *t, uint64_t off, unsigned size)
{
	uint8_t buf[8] = { 0 };

	if (off < OFF_COMMON + COMMON_LEN)
		return common_read(t, off - OFF_COMMON, size);
	if (off == OFF_ISR)
		return read_isr(t);
	if (off >= OFF_DEVICE && off - OFF_DEVICE + size <= t->cfg.cfg_size) {
		t->cfg.ops->cfg_read(t->cfg.ctx, (unsigned)(off - OFF_DEVICE),
				     buf, size);
		return get_bytes(buf, size);
	}
	return 0;
}

static void
modern_write_locked(struct vcon__vpci *t, uint64_t off, unsigned size,
		    uint64_t val)
{
	uint8_t buf[8];

	if (off < OFF_COMMON + COMMON_LEN) {
		common_write(t, off - OFF_COMMON, size, val);
	} else if (off >= OFF_NOTIFY &&
		   off < OFF_NOTIFY +
				   NOTIFY_MULT * (uint64_t)t->cfg.nr_queues) {
		notify(t, (unsigned)((off - OFF_NOTIFY) / NOTIFY_MULT));
	} else if (off >= OFF_DEVICE &&
		   off - OFF_DEVICE + size <= t->cfg.cfg_size) {
		memcpy(buf, &val, sizeof(buf));
		t->cfg.ops->cfg_write(t->cfg.ctx, (unsigned)(off - OFF_DEVICE),
				      buf, size);
	}
}

static uint64_t
modern_read(void *ctx, uint64_t off, unsigned size)
{
	return locked_read(ctx, modern_read_locked, off, size);
}

static void
modern_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	locked_write(ctx, modern_write_locked, off, size, val);
}

static const struct vcon_bus_ops modern_ops = {
	.read = modern_read,
	.write = modern_write,
	.max_access = 8,
};

/* ---- the pci_cfg window capability (4.1.4.9) */

static uint32_t
pcicfg_get(struct vcon__vpci *t, unsigned field, unsigned size)
{
	const uint8_t *c = vcon_pci_dev_config_space(t->pci) + t->pci_cfg_off;
	uint32_t v = 0;

	memcpy(&v, c + field, size);
	return v;
}

static bool
pcicfg_window(struct vcon__vpci *t, unsigned *bar, uint32_t *off, unsigned *len)
{
	*bar = pcicfg_get(t, 4, 1);
	*off = pcicfg_get(t, 8, 4);
	*len = pcicfg_get(t, 12, 4);
	return (*len == 1 || *len == 2 || *len == 4) &&
	       (*bar == 0 || *bar == MODERN_BAR);
}

static void
pcicfg_write(void *ctx, unsigned off, unsigned size, uint32_t val)
{
	struct vcon__vpci *t = ctx;
	uint8_t *cs = vcon_pci_dev_config_space(t->pci);
	unsigned c = t->pci_cfg_off, bar, len, i;
	uint32_t boff;

	for (i = 0; i < size; i++) {
		unsigned o = off + i;

		/* bar, offset and length are the writable fields. */
		if (o == c + 4 || (o >= c + 8 && o < c + 16))
			cs[o] = (uint8_t)(val >> (8 * i));
	}
	if (off != c + 16 || !pcicfg_window(t, &bar, &boff, &len))
		return;
	if (bar == 0)
		legacy_write(t, boff, len, val);
	else if (boff + len <= MODERN_SIZE)
		modern_write(t, boff, len, val);
}

static uint32_t
pcicfg_read(void *ctx, unsigned off, unsigned size, uint32_t stored)
{
	struct vcon__vpci *t = ctx;
	unsigned bar, len;
	uint32_t boff;

	if (off != t->pci_cfg_off + 16 || size != 4 ||
	    !pcicfg_window(t, &bar, &boff, &len))
		return stored;
	if (bar == 0)
		return (uint32_t)legacy_read(t, boff, len);
	return boff + len <= MODERN_SIZE ? (uint32_t)modern_read(t, boff, len)
					 : stored;
}

/* ---- doorbells: modern notifications as eventfds (ioeventfd) */

/*
 * The guest's kick wrote the eventfd in the kernel and went on running;
 * here, on the loop thread, is where the device hears of it.
 */
static void
bell_ready(struct vcon__watch *w, uint32_t revents)
{
	struct vcon__vpci_bell *b = container_of(w, struct vcon__vpci_bell, w);
	struct vcon__vpci *t = b->t;
	uint64_t n;

	(void)revents;
	if (read(b->fd, &n, sizeof(n)) != sizeof(n))
		return;
	pthread_mutex_lock(&t->lock);
	t->kicks += n - 1; /* notify counts one */
	notify(t, b->q);
	pthread_mutex_unlock(&t->lock);
	t->cfg.ops->unlocked(t->cfg.ctx);
}

static void
bell_off(struct vcon__vpci *t, struct vcon__vpci_bell *b)
{
	if (!b->assigned)
		return;
	(void)t->cfg.ioeventfd.set(t->cfg.ioeventfd.ctx, b->addr, 2, b->fd,
				   false);
	b->assigned = false;
}

/* BAR 1 moved or changed decoding: the doorbells follow it. */
static void
bar_changed(void *ctx, unsigned bar, uint32_t addr, bool decoding)
{
	struct vcon__vpci *t = ctx;
	unsigned q;

	if (bar != MODERN_BAR || !t->bells)
		return;
	for (q = 0; q < t->cfg.nr_queues; q++) {
		struct vcon__vpci_bell *b = &t->bells[q];

		bell_off(t, b);
		if (!decoding)
			continue;
		/* Linux writes the queue index as 16 bits (iowrite16). */
		b->addr = (uint64_t)addr + OFF_NOTIFY + NOTIFY_MULT * q;
		b->assigned =
			t->cfg.ioeventfd.set(t->cfg.ioeventfd.ctx, b->addr, 2,
					     b->fd, true) == 0;
	}
}

static int
bells_new(struct vcon__vpci *t)
{
	unsigned q;

	if (!t->cfg.ioeventfd.set || !t->cfg.loop)
		return 0;
	t->bells = calloc(t->cfg.nr_queues, sizeof(*t->bells));
	if (!t->bells)
		return -ENOMEM;
	for (q = 0; q < t->cfg.nr_queues; q++)
		t->bells[q].fd = -1;
	for (q = 0; q < t->cfg.nr_queues; q++) {
		struct vcon__vpci_bell *b = &t->bells[q];

		b->t = t;
		b->q = q;
		b->fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (b->fd < 0)
			return -errno;
		vcon__watch_init(&b->w, t->cfg.loop, b->fd, bell_ready);
		if (vcon__watch_set(&b->w, EPOLLIN) < 0)
			return -ENOMEM;
	}
	return 0;
}

void
vcon__vpci_stop_doorbells(struct vcon__vpci *t)
{
	unsigned q;

	if (!t || !t->bells)
		return;
	for (q = 0; q < t->cfg.nr_queues; q++) {
		struct vcon__vpci_bell *b = &t->bells[q];

		if (b->fd < 0)
			continue;
		bell_off(t, b);
		vcon__watch_stop(&b->w);
		close(b->fd);
		b->fd = -1;
	}
	free(t->bells);
	t->bells = NULL;
}

/* ---- construction */

/* 4.1.2.1: transitional IDs are a table, not a formula. */
static uint16_t
transitional_id(uint16_t type)
{
	static const uint16_t ids[][2] = {
		{ 1, 0x1000 }, { 2, 0x1001 }, { 5, 0x1002 }, { 3, 0x1003 },
		{ 8, 0x1004 }, { 4, 0x1005 }, { 9, 0x1009 },
	};
	unsigned i;

	for (i = 0; i < ARRAY_SIZE(ids); i++)
		if (ids[i][0] == type)
			return ids[i][1];
	return (uint16_t)(MODERN_DEVICE_BASE + type); /* modern only */
}

static void
make_cap(uint8_t *c, uint8_t len, uint8_t type, uint32_t off, uint32_t n)
{
	memset(c, 0, len);
	c[0] = CAP_VNDR;
	c[2] = len;
	c[3] = type;
	c[4] = type == CAP_PCI ? 0 : MODERN_BAR;
	memcpy(c + 8, &off, 4);
	memcpy(c + 12, &n, 4);
}

int
vcon__vpci_new(const struct vcon__vpci_config *cfg, struct vcon_pci *pci,
	       unsigned slot, struct vcon__vpci **out)
{
	uint8_t common[16], isr[16], device[16], notify_cap[20], pcicfg[20];
	const uint8_t *caps[] = { common, isr, device, notify_cap, pcicfg };
	const uint8_t lens[] = { 16, 16, 16, 20, 20 };
	uint32_t mult = NOTIFY_MULT, legacy_size = 32;
	struct vcon_pci_dev_config pc;
	struct vcon__vpci *t;
	int rc;

	if (!cfg->nr_queues || cfg->nr_queues > 0xffff || !cfg->queue_size ||
	    cfg->queue_size > VCON_VQ_MAX_SIZE || cfg->cfg_size > 0x100)
		return -EINVAL;
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->cfg = *cfg;
	t->vqs = calloc(cfg->nr_queues, sizeof(*t->vqs));
	t->q = calloc(cfg->nr_queues, sizeof(*t->q));
	if (!t->vqs || !t->q) {
		rc = -ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&t->lock, NULL);
	t->device_features = cfg->features | 1ull << VCON_VIRTIO_F_VERSION_1 |
			     1ull << VCON_VIRTIO_F_INDIRECT_DESC |
			     1ull << VCON_VIRTIO_F_EVENT_IDX;
	for (unsigned i = 0; i < cfg->nr_queues; i++)
		t->q[i] = (struct vcon__vpci_queue){ .size = cfg->queue_size,
						     .msix = NO_VECTOR };
	t->config_vector = NO_VECTOR;
	t->msix_vectors = cfg->nr_queues + 1 < MSIX_MAX_VECTORS
				  ? cfg->nr_queues + 1
				  : MSIX_MAX_VECTORS;
	make_cap(common, 16, CAP_COMMON, OFF_COMMON, COMMON_LEN);
	make_cap(isr, 16, CAP_ISR, OFF_ISR, 1);
	make_cap(device, 16, CAP_DEVICE, OFF_DEVICE, cfg->cfg_size);
	make_cap(notify_cap, 20, CAP_NOTIFY, OFF_NOTIFY,
		 NOTIFY_MULT * cfg->nr_queues);
	memcpy(notify_cap + 16, &mult, 4);
	make_cap(pcicfg, 20, CAP_PCI, 0, 0);
	while (legacy_size < L_CONFIG_MSIX + cfg->cfg_size)
		legacy_size *= 2;
	pc = (struct vcon_pci_dev_config){
		.vendor_id = VIRTIO_PCI_VENDOR,
		.device_id = transitional_id(cfg->device_type),
		.subsystem_vendor_id = VIRTIO_PCI_VENDOR,
		.subsystem_id = cfg->device_type,
		/* Simple communication controller, "other". */
		.class_code = 0x078000,
		.revision = 0,
		.irq_pin = 1,
		.bars = {
			[0] = { .size = legacy_size, .io = true,
				.ops = &legacy_ops, .ctx = t },
			[MODERN_BAR] = { .size = MODERN_SIZE, .ops = &modern_ops,
					 .ctx = t },
		},
		.caps = caps,
		.cap_lens = lens,
		.nr_caps = ARRAY_SIZE(caps),
		.cap_write = pcicfg_write,
		.cap_read = pcicfg_read,
		.bar_changed = bar_changed,
		.ctx = t,
		.msix_vectors = t->msix_vectors,
		.msix_bar = MODERN_BAR,
		.msix_table_off = OFF_MSIX_TABLE,
		.msix_pba_off = OFF_MSIX_PBA,
	};
	rc = bells_new(t);
	if (rc)
		goto fail_lock;
	rc = vcon_pci_add(pci, &pc, slot, &t->pci);
	if (rc)
		goto fail_lock;
	t->pci_cfg_off = vcon_pci_dev_cap_offset(t->pci, 4);
	*out = t;
	return 0;
fail_lock:
	vcon__vpci_stop_doorbells(t);
	pthread_mutex_destroy(&t->lock);
fail:
	free(t->vqs);
	free(t->q);
	free(t);
	return rc;
}

void
vcon__vpci_free(struct vcon__vpci *t)
{
	if (!t)
		return;
	vcon_pci_remove(t->pci);
	vcon__vpci_stop_doorbells(t);
	pthread_mutex_destroy(&t->lock);
	free(t->vqs);
	free(t->q);
	free(t);
}
