/* SPDX-License-Identifier: MIT */
/*
 * PCI host bridge, bus 0 and BAR decoding: see include/vcon/pci.h.
 *
 * Each function keeps its 256 configuration bytes and a mask of the bits
 * a guest may write; a write merges through the mask and then the BAR,
 * COMMAND and capability side effects follow. The I/O and memory windows
 * are each one bus mapping, decoded here under a read-write lock, so a
 * guest that moves a BAR (a config write, itself a port access made while
 * the port bus is locked for reading) never needs the bus's write lock.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/pci.h>

#include "internal.h"

#define CFG_VENDOR        0x00
#define CFG_COMMAND       0x04
#define CFG_STATUS        0x06
#define CFG_REVISION      0x08
#define CFG_CACHE_LINE    0x0c
#define CFG_HEADER_TYPE   0x0e
#define CFG_BAR0          0x10
#define CFG_SUBSYS_VENDOR 0x2c
#define CFG_CAP_PTR       0x34
#define CFG_INT_LINE      0x3c
#define CFG_INT_PIN       0x3d
#define CFG_CAPS_START    0x40

#define CMD_IO           0x0001
#define CMD_MEM          0x0002
#define CMD_MASTER       0x0004
#define CMD_PARITY       0x0040
#define CMD_SERR         0x0100
#define CMD_INTX_DISABLE 0x0400
#define STATUS_INTX      0x0008
#define STATUS_CAP_LIST  0x0010

#define CONF_ADDR_ENABLE 0x80000000u

#define CAP_MSIX         0x11
#define MSIX_CAP_LEN     12
#define MSIX_CTRL        2 /* in the capability */
#define MSIX_CTRL_ENABLE 0x8000
#define MSIX_CTRL_FMASK  0x4000
#define MSIX_ENTRY       16
#define MSIX_E_DATA      8
#define MSIX_E_CTRL      12
#define MSIX_E_MASKED    1u
#define MSIX_MAX         2048

/* The bridge is an i440FX-era host bridge as far as a kernel can tell. */
#define HOST_VENDOR 0x8086
#define HOST_DEVICE 0x1237
#define HOST_CLASS  0x060000

struct vcon_pci_dev {
	struct vcon_pci *pci;
	unsigned slot;
	uint8_t cfg[256];
	uint8_t wmask[256];
	struct vcon_pci_bar bars[VCON_PCI_NR_BARS];
	unsigned cap_off[16];
	unsigned nr_caps;
	bool intx;     /* the device's line, before INTX_DISABLE */
	bool intx_out; /* what we last drove onto the GSI */
	struct vcon_irq line;
	void (*cap_write)(void *ctx, unsigned off, unsigned size, uint32_t val);
	uint32_t (*cap_read)(void *ctx, unsigned off, unsigned size,
			     uint32_t stored);
	void (*bar_changed)(void *ctx, unsigned bar, uint32_t addr,
			    bool decoding);
	uint32_t told_addr[VCON_PCI_NR_BARS]; /* what bar_changed last said */
	bool told_decoding[VCON_PCI_NR_BARS];
	void *ctx;
	/* MSI-X, under pci->irq_lock: see the MSI-X section. */
	unsigned msix_n, msix_bar, msix_cap;
	uint32_t msix_table, msix_pba;
	uint8_t *msix_entries;  /* 16 bytes per vector */
	uint64_t *msix_pending; /* one bit per vector */
};

struct vcon_pci {
	struct vcon_pci_config cfg;
	pthread_rwlock_t lock;    /* config space and BAR decoding */
	pthread_mutex_t irq_lock; /* the shared-line counts */
	uint32_t conf_addr;
	struct vcon_pci_dev host;
	struct vcon_pci_dev *slots[VCON_PCI_MAX_SLOTS];
	unsigned gsi_count[24];
	uint32_t next_io, next_mmio; /* firmware's allocation cursors */
	bool mapped_conf, mapped_io, mapped_mmio;
};

VCON_API unsigned
vcon_pci_intx_gsi(unsigned slot, unsigned pin)
{
	/* The usual swizzle onto the I/O APIC inputs ISA leaves free. */
	return 16 + ((slot + pin - 1) & 7);
}

static uint32_t
cfg_get(const uint8_t *cfg, unsigned off, unsigned size)
{
	uint32_t v = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		v |= (uint32_t)cfg[off + i] << (8 * i);
	return v;
}

static void
cfg_put(uint8_t *cfg, unsigned off, unsigned size, uint32_t v)
{
	unsigned i;

	for (i = 0; i < size; i++)
		cfg[off + i] = (uint8_t)(v >> (8 * i));
}

static void
set_mask(struct vcon_pci_dev *d, unsigned off, unsigned size, uint32_t m)
{
	cfg_put(d->wmask, off, size, m);
}

static uint32_t
bar_addr(const struct vcon_pci_dev *d, unsigned i)
{
	uint32_t v = cfg_get(d->cfg, CFG_BAR0 + 4 * i, 4);

	return d->bars[i].io ? v & ~3u : v & ~15u;
}

static bool
bar_decodes(const struct vcon_pci_dev *d, unsigned i)
{
	uint16_t cmd = (uint16_t)cfg_get(d->cfg, CFG_COMMAND, 2);

	if (!d->bars[i].size)
		return false;
	return d->bars[i].io ? cmd & CMD_IO : cmd & CMD_MEM;
}

/* ---- MSI-X (PCI Local Bus 3.0, 6.8.2): state under pci->irq_lock */

static uint16_t
msix_ctrl(const struct vcon_pci_dev *d)
{
	return (uint16_t)cfg_get(d->cfg, d->msix_cap + MSIX_CTRL, 2);
}

static bool
msix_on(const struct vcon_pci_dev *d)
{
	return d->msix_n && (msix_ctrl(d) & MSIX_CTRL_ENABLE);
}

static bool
msix_masked(const struct vcon_pci_dev *d, unsigned v)
{
	return (msix_ctrl(d) & MSIX_CTRL_FMASK) ||
	       (cfg_get(d->msix_entries + MSIX_ENTRY * v + MSIX_E_CTRL, 0, 4) &
		MSIX_E_MASKED);
}

static void
msix_send(struct vcon_pci_dev *d, unsigned v)
{
	const uint8_t *e = d->msix_entries + MSIX_ENTRY * v;
	uint64_t addr = cfg_get(e, 0, 4) | (uint64_t)cfg_get(e, 4, 4) << 32;

	d->pci->cfg.msi(d->pci->cfg.msi_ctx, addr, cfg_get(e, MSIX_E_DATA, 4));
}

/* After an unmask: what was held back goes now (6.8.3.5). */
static void
msix_flush_locked(struct vcon_pci_dev *d)
{
	unsigned v;

	if (!msix_on(d))
		return;
	for (v = 0; v < d->msix_n; v++) {
		if (!(d->msix_pending[v / 64] >> (v % 64) & 1) ||
		    msix_masked(d, v))
			continue;
		d->msix_pending[v / 64] &= ~(1ull << (v % 64));
		msix_send(d, v);
	}
}

VCON_API bool
vcon_pci_dev_msix_enabled(struct vcon_pci_dev *d)
{
	bool on;

	pthread_mutex_lock(&d->pci->irq_lock);
	on = msix_on(d);
	pthread_mutex_unlock(&d->pci->irq_lock);
	return on;
}

VCON_API bool
vcon_pci_dev_msix_notify(struct vcon_pci_dev *d, unsigned v)
{
	bool on;

	pthread_mutex_lock(&d->pci->irq_lock);
	on = msix_on(d) && v < d->msix_n;
	if (on && msix_masked(d, v))
		d->msix_pending[v / 64] |= 1ull << (v % 64);
	else if (on)
		msix_send(d, v);
	pthread_mutex_unlock(&d->pci->irq_lock);
	return on;
}

/* Writable bits of byte b of a table entry: address (dword-aligned),
 * upper address, data, and the vector's mask bit. */
static uint8_t
entry_wmask(unsigned b)
{
	if (b == 0)
		return 0xfc;
	if (b < MSIX_E_CTRL)
		return 0xff;
	return b == MSIX_E_CTRL ? MSIX_E_MASKED : 0;
}

/* Byte i of the pending-bit array. */
static uint8_t
pba_byte(const struct vcon_pci_dev *d, uint32_t i)
{
	return (uint8_t)(d->msix_pending[i / 8] >> (8 * (i % 8)));
}

/*
 * A table or PBA access at off in the MSI-X BAR: true when it was one
 * (answered in *val for a read). Entries take naturally aligned dword or
 * qword accesses; the PBA is read-only.
 */
static bool
msix_access(struct vcon_pci_dev *d, uint32_t off, unsigned size, bool write,
	    uint64_t *val)
{
	uint32_t tlen = MSIX_ENTRY * d->msix_n;
	uint32_t plen = 8 * ((d->msix_n + 63) / 64);
	unsigned i;

	if (off - d->msix_table < tlen) {
		uint32_t o = off - d->msix_table;

		if ((size != 4 && size != 8) || (o & (size - 1)) ||
		    (o % MSIX_ENTRY) + size > MSIX_ENTRY) {
			if (!write)
				*val = size == 8 ? UINT64_MAX
						 : (1ull << (8 * size)) - 1;
			return true;
		}
		pthread_mutex_lock(&d->pci->irq_lock);
		if (!write) {
			*val = cfg_get(d->msix_entries, o, 4) |
			       (size == 8 ? (uint64_t)cfg_get(d->msix_entries,
							      o + 4, 4)
						    << 32
					  : 0);
		} else {
			for (i = 0; i < size; i++) {
				uint8_t m = entry_wmask((o + i) % MSIX_ENTRY);
				uint8_t *b = &d->msix_entries[o + i];

				*b = (uint8_t)((*b & ~m) |
					       ((*val >> (8 * i)) & m));
			}
			msix_flush_locked(d);
		}
		pthread_mutex_unlock(&d->pci->irq_lock);
		return true;
	}
	if (off - d->msix_pba < plen) {
		uint32_t o = off - d->msix_pba;

		if (!write) {
			uint64_t v = 0;

			pthread_mutex_lock(&d->pci->irq_lock);
			for (i = 0; i < size && o + i < plen; i++)
				v |= (uint64_t)pba_byte(d, o + i) << (8 * i);
			pthread_mutex_unlock(&d->pci->irq_lock);
			*val = v;
		}
		return true;
	}
	return false;
}

/* Drive the GSI from this function's line; caller holds irq_lock. */
static void
update_intx_locked(struct vcon_pci_dev *d)
{
	struct vcon_pci *pci = d->pci;
	bool out;
	unsigned gsi;

	if (!d->cfg[CFG_INT_PIN])
		return;
	if (d->intx)
		d->cfg[CFG_STATUS] |= STATUS_INTX;
	else
		d->cfg[CFG_STATUS] &= (uint8_t)~STATUS_INTX;
	out = d->intx &&
	      !(cfg_get(d->cfg, CFG_COMMAND, 2) & CMD_INTX_DISABLE) &&
	      !msix_on(d);
	if (out == d->intx_out)
		return;
	d->intx_out = out;
	gsi = vcon_pci_intx_gsi(d->slot, d->cfg[CFG_INT_PIN]);
	if (out ? pci->gsi_count[gsi]++ == 0 : --pci->gsi_count[gsi] == 0)
		d->line.set_level(d->line.ctx, out);
}

VCON_API void
vcon_pci_dev_set_intx(struct vcon_pci_dev *d, bool level)
{
	pthread_mutex_lock(&d->pci->irq_lock);
	d->intx = level;
	update_intx_locked(d);
	pthread_mutex_unlock(&d->pci->irq_lock);
}

/* Tell the device about BARs that moved or started or stopped decoding. */
static void
tell_bars(struct vcon_pci_dev *d)
{
	unsigned i;

	for (i = 0; d->bar_changed && i < VCON_PCI_NR_BARS; i++) {
		uint32_t addr = bar_addr(d, i);
		bool on = bar_decodes(d, i);

		if (!d->bars[i].size ||
		    (addr == d->told_addr[i] && on == d->told_decoding[i]))
			continue;
		d->told_addr[i] = addr;
		d->told_decoding[i] = on;
		d->bar_changed(d->ctx, i, addr, on);
	}
}

static struct vcon_pci_dev *
find_dev(struct vcon_pci *pci, unsigned bus, unsigned slot, unsigned fn)
{
	if (bus != 0 || fn != 0 || slot >= VCON_PCI_MAX_SLOTS)
		return NULL;
	return slot == 0 ? &pci->host : pci->slots[slot];
}

static uint32_t
config_read_locked(struct vcon_pci *pci, unsigned bus, unsigned slot,
		   unsigned fn, unsigned off, unsigned size)
{
	struct vcon_pci_dev *d = find_dev(pci, bus, slot, fn);
	uint32_t v;

	if (!d || off + size > 256)
		return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
	pthread_mutex_lock(&pci->irq_lock); /* STATUS.INTX changes there */
	v = cfg_get(d->cfg, off, size);
	pthread_mutex_unlock(&pci->irq_lock);
	if (off >= CFG_CAPS_START && d->cap_read)
		v = d->cap_read(d->ctx, off, size, v);
	return v;
}

VCON_API uint32_t
vcon_pci_config_read(struct vcon_pci *pci, unsigned bus, unsigned slot,
		     unsigned fn, unsigned off, unsigned size)
{
	uint32_t v;

	pthread_rwlock_rdlock(&pci->lock);
	v = config_read_locked(pci, bus, slot, fn, off, size);
	pthread_rwlock_unlock(&pci->lock);
	return v;
}

static void
config_write_locked(struct vcon_pci *pci, unsigned bus, unsigned slot,
		    unsigned fn, unsigned off, unsigned size, uint32_t val)
{
	struct vcon_pci_dev *d = find_dev(pci, bus, slot, fn);
	unsigned i;

	if (!d || off + size > 256)
		return;
	pthread_mutex_lock(&pci->irq_lock);
	for (i = 0; i < size; i++) {
		uint8_t m = d->wmask[off + i], b = (uint8_t)(val >> (8 * i));

		d->cfg[off + i] = (uint8_t)((d->cfg[off + i] & ~m) | (b & m));
	}
	/* INTX_DISABLE may have changed what the line should show. */
	if (off < CFG_COMMAND + 2 && off + size > CFG_COMMAND)
		update_intx_locked(d);
	/* MSI-X enable or function mask: INTx and held messages follow. */
	if (d->msix_n && off < d->msix_cap + MSIX_CTRL + 2 &&
	    off + size > d->msix_cap + MSIX_CTRL) {
		update_intx_locked(d);
		msix_flush_locked(d);
	}
	pthread_mutex_unlock(&pci->irq_lock);
	if (off + size > CFG_CAPS_START && d->cap_write)
		d->cap_write(d->ctx, off, size, val);
	tell_bars(d);
}

VCON_API void
vcon_pci_config_write(struct vcon_pci *pci, unsigned bus, unsigned slot,
		      unsigned fn, unsigned off, unsigned size, uint32_t val)
{
	pthread_rwlock_wrlock(&pci->lock);
	config_write_locked(pci, bus, slot, fn, off, size, val);
	pthread_rwlock_unlock(&pci->lock);
}

/* ---- 0xCF8 (address), 0xCFA-0xCFB (ignored), 0xCFC-0xCFF (data) */

static uint64_t
conf_addr_read(void *ctx, uint64_t off, unsigned size)
{
	struct vcon_pci *pci = ctx;
	uint32_t v;

	(void)off;
	/* Only a dword access at 0xCF8 is the address register. */
	if (size != 4)
		return (1u << (8 * size)) - 1;
	pthread_rwlock_rdlock(&pci->lock);
	v = pci->conf_addr;
	pthread_rwlock_unlock(&pci->lock);
	return v;
}

static void
conf_addr_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct vcon_pci *pci = ctx;

	(void)off;
	if (size != 4)
		return;
	pthread_rwlock_wrlock(&pci->lock);
	pci->conf_addr = (uint32_t)val & 0x80fffffcu;
	pthread_rwlock_unlock(&pci->lock);
}

static uint64_t
ignore_read(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	(void)off;
	return (1u << (8 * size)) - 1;
}

static void
ignore_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	(void)ctx;
	(void)off;
	(void)size;
	(void)val;
}

static bool
decode_addr(uint32_t a, unsigned *bus, unsigned *slot, unsigned *fn,
	    unsigned *reg)
{
	if (!(a & CONF_ADDR_ENABLE))
		return false;
	*bus = a >> 16 & 0xff;
	*slot = a >> 11 & 0x1f;
	*fn = a >> 8 & 7;
	*reg = a & 0xfc;
	return true;
}

static uint64_t
conf_data_read(void *ctx, uint64_t off, unsigned size)
{
	struct vcon_pci *pci = ctx;
	unsigned bus, slot, fn, reg;
	uint32_t v = (uint32_t)((1ull << (8 * size)) - 1);

	if (size > 4 || off + size > 4)
		return v;
	pthread_rwlock_rdlock(&pci->lock);
	if (decode_addr(pci->conf_addr, &bus, &slot, &fn, &reg))
		v = config_read_locked(pci, bus, slot, fn, reg + (unsigned)off,
				       size);
	pthread_rwlock_unlock(&pci->lock);
	return v;
}

static void
conf_data_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct vcon_pci *pci = ctx;
	unsigned bus, slot, fn, reg;

	if (size > 4 || off + size > 4)
		return;
	pthread_rwlock_wrlock(&pci->lock);
	if (decode_addr(pci->conf_addr, &bus, &slot, &fn, &reg))
		config_write_locked(pci, bus, slot, fn, reg + (unsigned)off,
				    size, (uint32_t)val);
	pthread_rwlock_unlock(&pci->lock);
}

static const struct vcon_bus_ops conf_addr_ops = {
	.read = conf_addr_read,
	.write = conf_addr_write,
	.max_access = 4,
};
static const struct vcon_bus_ops conf_ignore_ops = {
	.read = ignore_read,
	.write = ignore_write,
	.max_access = 1,
};
static const struct vcon_bus_ops conf_data_ops = {
	.read = conf_data_read,
	.write = conf_data_write,
	.max_access = 4,
};

/* ---- the windows: find the BAR that decodes an address */

static struct vcon_pci_dev *
find_bar(struct vcon_pci *pci, bool io, uint32_t addr, unsigned *bar,
	 uint32_t *off)
{
	unsigned s, i;

	for (s = 1; s < VCON_PCI_MAX_SLOTS; s++) {
		struct vcon_pci_dev *d = pci->slots[s];

		if (!d)
			continue;
		for (i = 0; i < VCON_PCI_NR_BARS; i++) {
			uint32_t base = bar_addr(d, i);

			if (d->bars[i].io != io || !bar_decodes(d, i))
				continue;
			if (addr - base < d->bars[i].size) {
				*bar = i;
				*off = addr - base;
				return d;
			}
		}
	}
	return NULL;
}

static uint64_t
window_read(struct vcon_pci *pci, bool io, uint64_t addr, unsigned size)
{
	struct vcon_pci_dev *d;
	unsigned bar;
	uint32_t off;
	uint64_t v = size == 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;

	pthread_rwlock_rdlock(&pci->lock);
	d = find_bar(pci, io, (uint32_t)addr, &bar, &off);
	if (d && off + size <= d->bars[bar].size &&
	    !(d->msix_n && bar == d->msix_bar &&
	      msix_access(d, off, size, false, &v)))
		v = d->bars[bar].ops->read(d->bars[bar].ctx, off, size);
	pthread_rwlock_unlock(&pci->lock);
	return v;
}

static void
window_write(struct vcon_pci *pci, bool io, uint64_t addr, unsigned size,
	     uint64_t val)
{
	struct vcon_pci_dev *d;
	unsigned bar;
	uint32_t off;

	pthread_rwlock_rdlock(&pci->lock);
	d = find_bar(pci, io, (uint32_t)addr, &bar, &off);
	if (d && off + size <= d->bars[bar].size &&
	    !(d->msix_n && bar == d->msix_bar &&
	      msix_access(d, off, size, true, &val)))
		d->bars[bar].ops->write(d->bars[bar].ctx, off, size, val);
	pthread_rwlock_unlock(&pci->lock);
}

static uint64_t
io_read(void *ctx, uint64_t off, unsigned size)
{
	return window_read(ctx, true, VCON_PCI_IO_BASE + off, size);
}

static void
io_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	window_write(ctx, true, VCON_PCI_IO_BASE + off, size, val);
}

static uint64_t
mmio_read(void *ctx, uint64_t off, unsigned size)
{
	return window_read(ctx, false, VCON_PCI_MMIO_BASE + off, size);
}

static void
mmio_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	window_write(ctx, false, VCON_PCI_MMIO_BASE + off, size, val);
}

static const struct vcon_bus_ops io_window_ops = {
	.read = io_read,
	.write = io_write,
	.max_access = 4,
};
static const struct vcon_bus_ops mmio_window_ops = {
	.read = mmio_read,
	.write = mmio_write,
	.max_access = 8,
};

/* ---- construction */

static void
init_header(struct vcon_pci_dev *d, uint16_t vendor, uint16_t device,
	    uint32_t class_code, uint8_t revision)
{
	cfg_put(d->cfg, CFG_VENDOR, 2, vendor);
	cfg_put(d->cfg, CFG_VENDOR + 2, 2, device);
	d->cfg[CFG_REVISION] = revision;
	cfg_put(d->cfg, CFG_REVISION + 1, 3, class_code);
	set_mask(d, CFG_COMMAND, 2,
		 CMD_IO | CMD_MEM | CMD_MASTER | CMD_PARITY | CMD_SERR |
			 CMD_INTX_DISABLE);
	set_mask(d, CFG_CACHE_LINE, 2, 0xffff); /* cache line, latency */
}

VCON_API int
vcon_pci_new(const struct vcon_pci_config *cfg, struct vcon_pci **out)
{
	struct vcon_pci *pci;
	int rc;

	if (!cfg->pio || !cfg->mmio || !cfg->gsi_line)
		return -EINVAL;
	pci = calloc(1, sizeof(*pci));
	if (!pci)
		return -ENOMEM;
	pci->cfg = *cfg;
	pthread_rwlock_init(&pci->lock, NULL);
	pthread_mutex_init(&pci->irq_lock, NULL);
	pci->host.pci = pci;
	init_header(&pci->host, HOST_VENDOR, HOST_DEVICE, HOST_CLASS, 2);
	pci->next_io = VCON_PCI_IO_BASE;
	pci->next_mmio = VCON_PCI_MMIO_BASE;
	rc = vcon_bus_map(cfg->pio, VCON_PCI_CONF_ADDR, 1, &conf_addr_ops, pci);
	if (rc)
		goto fail;
	pci->mapped_conf = true;
	rc = vcon_bus_map(cfg->pio, VCON_PCI_CONF_ADDR + 2, 2, &conf_ignore_ops,
			  pci);
	if (rc)
		goto fail;
	rc = vcon_bus_map(cfg->pio, VCON_PCI_CONF_DATA, 4, &conf_data_ops, pci);
	if (rc)
		goto fail;
	rc = vcon_bus_map(cfg->pio, VCON_PCI_IO_BASE, VCON_PCI_IO_SIZE,
			  &io_window_ops, pci);
	if (rc)
		goto fail;
	pci->mapped_io = true;
	rc = vcon_bus_map(cfg->mmio, VCON_PCI_MMIO_BASE, VCON_PCI_MMIO_SIZE,
			  &mmio_window_ops, pci);
	if (rc)
		goto fail;
	pci->mapped_mmio = true;
	*out = pci;
	return 0;
fail:
	vcon_pci_free(pci);
	return rc;
}

static void
free_dev(struct vcon_pci_dev *d)
{
	if (d) {
		free(d->msix_entries);
		free(d->msix_pending);
	}
	free(d);
}

VCON_API void
vcon_pci_free(struct vcon_pci *pci)
{
	unsigned s;

	if (!pci)
		return;
	if (pci->mapped_conf) {
		(void)vcon_bus_unmap(pci->cfg.pio, VCON_PCI_CONF_ADDR);
		(void)vcon_bus_unmap(pci->cfg.pio, VCON_PCI_CONF_ADDR + 2);
		(void)vcon_bus_unmap(pci->cfg.pio, VCON_PCI_CONF_DATA);
	}
	if (pci->mapped_io)
		(void)vcon_bus_unmap(pci->cfg.pio, VCON_PCI_IO_BASE);
	if (pci->mapped_mmio)
		(void)vcon_bus_unmap(pci->cfg.mmio, VCON_PCI_MMIO_BASE);
	for (s = 0; s < VCON_PCI_MAX_SLOTS; s++)
		free_dev(pci->slots[s]);
	pthread_mutex_destroy(&pci->irq_lock);
	pthread_rwlock_destroy(&pci->lock);
	free(pci);
}

static int
assign_bar(struct vcon_pci *pci, struct vcon_pci_dev *d, unsigned i)
{
	const struct vcon_pci_bar *b = &d->bars[i];
	uint32_t *next = b->io ? &pci->next_io : &pci->next_mmio;
	uint64_t end =
		b->io ? VCON_PCI_IO_BASE + VCON_PCI_IO_SIZE
		      : (uint64_t)VCON_PCI_MMIO_BASE + VCON_PCI_MMIO_SIZE;
	uint64_t base;

	if (b->size < 16 || (b->size & (b->size - 1)) ||
	    (b->io && b->size > 256) || !b->ops || !b->ops->read ||
	    !b->ops->write)
		return -EINVAL;
	base = ((uint64_t)*next + b->size - 1) & ~(uint64_t)(b->size - 1);
	if (base + b->size > end)
		return -ENOSPC;
	*next = (uint32_t)(base + b->size);
	cfg_put(d->cfg, CFG_BAR0 + 4 * i, 4, (uint32_t)base | (b->io ? 1 : 0));
	set_mask(d, CFG_BAR0 + 4 * i, 4, ~(b->size - 1));
	return 0;
}

static int
place_caps(struct vcon_pci_dev *d, const struct vcon_pci_dev_config *cfg)
{
	unsigned off = CFG_CAPS_START, i, prev = CFG_CAP_PTR;

	if (cfg->nr_caps > ARRAY_SIZE(d->cap_off))
		return -EINVAL;
	for (i = 0; i < cfg->nr_caps; i++) {
		unsigned len = cfg->cap_lens[i];

		if (len < 2 || off + len > 256)
			return -EINVAL;
		memcpy(d->cfg + off, cfg->caps[i], len);
		d->cfg[off + 1] = 0;
		d->cfg[prev] = (uint8_t)off;
		prev = off + 1;
		d->cap_off[i] = off;
		off = (off + len + 3) & ~3u;
	}
	d->nr_caps = cfg->nr_caps;
	if (cfg->nr_caps)
		d->cfg[CFG_STATUS] |= STATUS_CAP_LIST;
	return 0;
}

/* The capability after the device's own, every vector masked. */
static int
msix_init(struct vcon_pci_dev *d, const struct vcon_pci_dev_config *cfg)
{
	unsigned n = cfg->msix_vectors, off = CFG_CAPS_START, last = 0, v;
	uint32_t tlen = MSIX_ENTRY * n, plen = 8 * ((n + 63) / 64);
	const struct vcon_pci_bar *b;

	if (n > MSIX_MAX || cfg->msix_bar >= VCON_PCI_NR_BARS ||
	    d->nr_caps >= ARRAY_SIZE(d->cap_off))
		return -EINVAL;
	b = &d->bars[cfg->msix_bar];
	/* Both ranges inside the memory BAR, apart, dword-aligned. */
	if (!b->size || b->io || (cfg->msix_table_off & 7) ||
	    (cfg->msix_pba_off & 7) || cfg->msix_table_off > b->size ||
	    tlen > b->size - cfg->msix_table_off ||
	    cfg->msix_pba_off > b->size || plen > b->size - cfg->msix_pba_off ||
	    (cfg->msix_pba_off < cfg->msix_table_off + tlen &&
	     cfg->msix_table_off < cfg->msix_pba_off + plen))
		return -EINVAL;
	if (d->nr_caps) {
		last = d->cap_off[d->nr_caps - 1];
		off = (last + cfg->cap_lens[d->nr_caps - 1] + 3) & ~3u;
	}
	if (off + MSIX_CAP_LEN > 256)
		return -EINVAL;
	d->msix_entries = calloc(n, MSIX_ENTRY);
	d->msix_pending = calloc((n + 63) / 64, 8);
	if (!d->msix_entries || !d->msix_pending)
		return -ENOMEM;
	for (v = 0; v < n; v++)
		d->msix_entries[MSIX_ENTRY * v + MSIX_E_CTRL] = MSIX_E_MASKED;
	d->cfg[off] = CAP_MSIX;
	d->cfg[off + 1] = 0;
	d->cfg[last ? last + 1 : CFG_CAP_PTR] = (uint8_t)off;
	cfg_put(d->cfg, off + MSIX_CTRL, 2, n - 1);
	set_mask(d, off + MSIX_CTRL, 2, MSIX_CTRL_ENABLE | MSIX_CTRL_FMASK);
	cfg_put(d->cfg, off + 4, 4, cfg->msix_table_off | cfg->msix_bar);
	cfg_put(d->cfg, off + 8, 4, cfg->msix_pba_off | cfg->msix_bar);
	d->cfg[CFG_STATUS] |= STATUS_CAP_LIST;
	d->cap_off[d->nr_caps] = off;
	d->msix_cap = off;
	d->msix_n = n;
	d->msix_bar = cfg->msix_bar;
	d->msix_table = cfg->msix_table_off;
	d->msix_pba = cfg->msix_pba_off;
	return 0;
}

VCON_API int
vcon_pci_add(struct vcon_pci *pci, const struct vcon_pci_dev_config *cfg,
	     unsigned slot, struct vcon_pci_dev **out)
{
	struct vcon_pci_dev *d;
	uint32_t save_io = pci->next_io, save_mmio = pci->next_mmio;
	unsigned i;
	int rc;

	if (cfg->irq_pin > 4 || slot >= VCON_PCI_MAX_SLOTS)
		return -EINVAL;
	if (slot == 0) {
		for (slot = 1; slot < VCON_PCI_MAX_SLOTS && pci->slots[slot];)
			slot++;
		if (slot == VCON_PCI_MAX_SLOTS)
			return -EBUSY;
	} else if (pci->slots[slot]) {
		return -EBUSY;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->pci = pci;
	d->slot = slot;
	d->cap_write = cfg->cap_write;
	d->cap_read = cfg->cap_read;
	d->bar_changed = cfg->bar_changed;
	d->ctx = cfg->ctx;
	init_header(d, cfg->vendor_id, cfg->device_id, cfg->class_code,
		    cfg->revision);
	cfg_put(d->cfg, CFG_SUBSYS_VENDOR, 2, cfg->subsystem_vendor_id);
	cfg_put(d->cfg, CFG_SUBSYS_VENDOR + 2, 2, cfg->subsystem_id);
	rc = place_caps(d, cfg);
	for (i = 0; rc == 0 && i < VCON_PCI_NR_BARS; i++) {
		d->bars[i] = cfg->bars[i];
		if (d->bars[i].size)
			rc = assign_bar(pci, d, i);
	}
	if (rc == 0 && cfg->msix_vectors && pci->cfg.msi)
		rc = msix_init(d, cfg);
	if (rc) {
		pci->next_io = save_io;
		pci->next_mmio = save_mmio;
		free_dev(d);
		return rc;
	}
	if (cfg->irq_pin) {
		unsigned gsi = vcon_pci_intx_gsi(slot, cfg->irq_pin);

		d->cfg[CFG_INT_PIN] = cfg->irq_pin;
		d->cfg[CFG_INT_LINE] = (uint8_t)gsi;
		set_mask(d, CFG_INT_LINE, 1, 0xff);
		d->line = pci->cfg.gsi_line(pci->cfg.gsi_ctx, gsi);
	}
	pthread_rwlock_wrlock(&pci->lock);
	pci->slots[slot] = d;
	pthread_rwlock_unlock(&pci->lock);
	*out = d;
	return 0;
}

VCON_API void
vcon_pci_remove(struct vcon_pci_dev *d)
{
	struct vcon_pci *pci;

	if (!d)
		return;
	pci = d->pci;
	vcon_pci_dev_set_intx(d, false);
	/* The write lock waits out any access under way. */
	pthread_rwlock_wrlock(&pci->lock);
	pci->slots[d->slot] = NULL;
	pthread_rwlock_unlock(&pci->lock);
	free_dev(d);
}

VCON_API unsigned
vcon_pci_dev_slot(const struct vcon_pci_dev *d)
{
	return d->slot;
}

VCON_API unsigned
vcon_pci_dev_cap_offset(const struct vcon_pci_dev *d, unsigned i)
{
	return i < d->nr_caps ? d->cap_off[i] : 0;
}

VCON_API uint8_t *
vcon_pci_dev_config_space(struct vcon_pci_dev *d)
{
	return d->cfg;
}

VCON_API uint32_t
vcon_pci_dev_bar_addr(struct vcon_pci_dev *d, unsigned i)
{
	uint32_t v;

	if (i >= VCON_PCI_NR_BARS || !d->bars[i].size)
		return 0;
	pthread_rwlock_rdlock(&d->pci->lock);
	v = bar_addr(d, i);
	pthread_rwlock_unlock(&d->pci->lock);
	return v;
}
