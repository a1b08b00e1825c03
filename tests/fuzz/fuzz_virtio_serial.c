/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtio-serial controller as a guest sees it:
 * after a driver set-up as Linux does it (features from the input), the
 * input is a program of control messages of any length and content,
 * descriptors written anywhere in the rings, kicks of any queue, register
 * writes to the modern and legacy BARs and to configuration space, and
 * host-side port hot add/remove; one port's backend soon refuses output.
 * The device may break itself; it must not touch memory outside guest RAM
 * (ASan), crash, or hang, and every control message it hands the guest is
 * a whole header.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vcon/pci.h>
#include <vcon/virtio_serial.h>

#include "fuzz.h"

#define RAM_SIZE (1u << 20)
#define NPORTS 3
#define NQ (2 * (NPORTS + 1))
#define QSZ 8
#define RING(q) (0x10000u + 0x1000u * (q))
#define DESC(q) RING(q)
#define AVAIL(q) (RING(q) + 0x200)
#define USED(q) (RING(q) + 0x400)

struct fz {
	uint8_t *ram;
	struct vcon_bus *pio, *mmio;
	struct vcon_pci *pci;
	struct vcon_loop *loop;
	struct vcon_chr *chr[NPORTS];
	struct vcon_virtio_serial *vs;
	uint32_t bar0, bar1;
	uint16_t avail_idx[NQ], used_seen[NQ];
	const uint8_t *p, *end;
};

static bool
in_ram(uint64_t gpa, uint64_t len)
{
	return gpa <= RAM_SIZE && len <= RAM_SIZE - gpa;
}

static int
ram_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	if (!in_ram(gpa, len))
		return -1;
	memcpy(buf, (uint8_t *)ctx + gpa, len);
	return 0;
}

static int
ram_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	if (!in_ram(gpa, len))
		return -1;
	memcpy((uint8_t *)ctx + gpa, buf, len);
	return 0;
}

static void *
ram_map(void *ctx, uint64_t gpa, size_t len)
{
	return in_ram(gpa, len) ? (uint8_t *)ctx + gpa : NULL;
}

static void
irq_set(void *ctx, bool level)
{
	(void)ctx;
	(void)level;
}

/* MSI-X messages go nowhere; the table, masks and PBA are fuzzed. */
static void
msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	(void)ctx;
	(void)addr;
	(void)data;
}

static struct vcon_irq
gsi_line(void *ctx, unsigned gsi)
{
	(void)gsi;
	return (struct vcon_irq){ irq_set, ctx };
}

static unsigned
next(struct fz *f)
{
	return f->p < f->end ? *f->p++ : 0;
}

static void
io(struct vcon_bus *bus, uint64_t addr, unsigned size, bool wr, uint64_t v)
{
	uint8_t b[8];

	memcpy(b, &v, 8);
	vcon_bus_access(bus, addr, size, 1, wr, b);
}

static void
cfg_write(struct fz *f, unsigned off, unsigned size, uint32_t v)
{
	io(f->pio, 0xcf8, 4, true, 0x80000000u | 1u << 11 | (off & 0xfc));
	io(f->pio, 0xcfc + (off & 3), size, true, v);
}

static void
mw(struct fz *f, unsigned off, unsigned size, uint64_t v)
{
	io(f->mmio, f->bar1 + off, size, true, v);
}

static void
publish(struct fz *f, unsigned q, uint16_t head)
{
	uint8_t *a = f->ram + AVAIL(q);

	memcpy(a + 4 + 2 * (f->avail_idx[q] % QSZ), &head, 2);
	f->avail_idx[q]++;
	memcpy(a + 2, &f->avail_idx[q], 2);
	mw(f, 0x3000 + 4 * q, 2, q);
}

static void
put_desc(struct fz *f, unsigned q, unsigned i, uint64_t addr, uint32_t len,
	 uint16_t flags, uint16_t nxt)
{
	uint8_t *d = f->ram + DESC(q) + 16 * (i % QSZ);

	memcpy(d, &addr, 8);
	memcpy(d + 8, &len, 4);
	memcpy(d + 12, &flags, 2);
	memcpy(d + 14, &nxt, 2);
}

static void
driver_init(struct fz *f, unsigned feat)
{
	unsigned q;

	mw(f, 0x14, 1, 0);
	mw(f, 0x14, 1, 3);
	mw(f, 0x08, 4, 0);
	mw(f, 0x0c, 4, (feat & 7) | (feat & 8 ? 1u << 28 : 0) |
			       (feat & 16 ? 1u << 29 : 0));
	mw(f, 0x08, 4, 1);
	mw(f, 0x0c, 4, 1);
	mw(f, 0x14, 1, 11);
	for (q = 0; q < NQ; q++) {
		mw(f, 0x16, 2, q);
		mw(f, 0x18, 2, QSZ);
		mw(f, 0x20, 8, DESC(q));
		mw(f, 0x28, 8, AVAIL(q));
		mw(f, 0x30, 8, USED(q));
		mw(f, 0x1c, 2, 1);
		f->avail_idx[q] = f->used_seen[q] = 0;
	}
	mw(f, 0x14, 1, 15);
}

/* Control messages the device returned: each at least a header. */
static void
check_ctrl_rx(struct fz *f)
{
	uint8_t *u = f->ram + USED(2);
	uint16_t idx;
	uint32_t len;

	memcpy(&idx, u + 2, 2);
	while (f->used_seen[2] != idx) {
		memcpy(&len, u + 8 + 8 * (f->used_seen[2] % QSZ), 4);
		check(len >= 8 || len == 0);
		f->used_seen[2]++;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = { .p = data, .end = data + size };
	struct vcon_pci_config pcfg = { .gsi_line = gsi_line,
					.msi = msi_send };
	struct vcon_virtio_serial_config vcfg = { .max_nr_ports = NPORTS };
	struct vcon_vserial_port_config pc = { .nr = -1 };
	unsigned i, ops = 0;
	int pipe_fd[2];
	char spec[48];

	f.ram = calloc(1, RAM_SIZE);
	if (!f.ram || vcon_bus_new(&f.pio) || vcon_bus_new(&f.mmio) ||
	    vcon_loop_new(&f.loop))
		abort();
	pcfg.pio = f.pio;
	pcfg.mmio = f.mmio;
	if (vcon_pci_new(&pcfg, &f.pci))
		abort();
	/*
	 * Port 1's backend takes a little and then refuses (a pipe of one
	 * page nobody reads, a 4 KiB buffer that blocks; no loop runs to
	 * drain it): held and part-written transmit buffers. The rest take
	 * everything.
	 */
	if (pipe2(pipe_fd, O_NONBLOCK | O_CLOEXEC))
		abort();
	(void)fcntl(pipe_fd[1], F_SETPIPE_SZ, 4096);
	for (i = 0; i < NPORTS; i++) {
		if (i == 1)
			snprintf(spec, sizeof(spec),
				 "fd,out-fd=%d,buffer=4096", pipe_fd[1]);
		else
			snprintf(spec, sizeof(spec), "null,id=n%u", i);
		if (vcon_chr_new(f.loop, spec, &f.chr[i], NULL))
			abort();
	}
	vcfg.mem = (struct vcon_gmem){ ram_read, ram_write, ram_map, f.ram };
	vcfg.pci = f.pci;
	vcfg.loop = f.loop;
	if (vcon_virtio_serial_new(&vcfg, &f.vs))
		abort();
	pc.console = true;
	pc.chr = f.chr[0];
	(void)vcon_virtio_serial_add_port(f.vs, &pc);
	pc.console = false;
	pc.name = "org.fuzz.a";
	pc.chr = f.chr[1];
	(void)vcon_virtio_serial_add_port(f.vs, &pc);
	f.bar0 = VCON_PCI_IO_BASE;
	f.bar1 = VCON_PCI_MMIO_BASE; /* the first BAR of each kind */
	cfg_write(&f, 0x04, 2, 7);
	driver_init(&f, next(&f));
	/* Control receive buffers, as Linux posts them. */
	for (i = 0; i < QSZ; i++) {
		put_desc(&f, 2, i, 0x80000 + 0x1000 * i, 4096, 2, 0);
		publish(&f, 2, (uint16_t)i);
	}
	while (f.p < f.end && ops++ < 256) {
		unsigned op = next(&f), q = next(&f) % NQ, n, k;
		uint64_t buf = 0x40000 + 0x1000 * (ops % 32);

		switch (op % 8) {
		case 0: /* a control message of any length */
			n = next(&f);
			for (k = 0; k < n; k++)
				f.ram[buf + k] = (uint8_t)next(&f);
			put_desc(&f, 3, ops, buf, n, 0, 0);
			publish(&f, 3, (uint16_t)(ops % QSZ));
			break;
		case 1: { /* a raw descriptor, then a kick */
			uint64_t addr = 0;
			uint32_t len = 0;

			for (k = 0; k < 4; k++)
				addr |= (uint64_t)next(&f) << (8 * k);
			len = next(&f) | next(&f) << 8;
			put_desc(&f, q, next(&f), addr, len,
				 (uint16_t)(next(&f) & 7), (uint16_t)next(&f));
			publish(&f, q, (uint16_t)next(&f));
			break;
		}
		case 2: /* a receive buffer for a port */
			put_desc(&f, q, ops, buf, 4096, 2, 0);
			publish(&f, q, (uint16_t)(ops % QSZ));
			break;
		case 3: /* any modern register, the MSI-X table and PBA */
			n = next(&f) | next(&f) << 8;
			mw(&f, n % 0x8000, 1u << (next(&f) % 4), next(&f));
			break;
		case 4: /* any legacy register */
			io(f.pio, f.bar0 + next(&f) % 64, 1u << (next(&f) % 3),
			   true, next(&f) | next(&f) << 8);
			break;
		case 5: /* configuration space */
			cfg_write(&f, next(&f), 1u << (next(&f) % 3),
				  next(&f) | next(&f) << 8);
			break;
		case 6: /* host hot-plug */
			if (next(&f) & 1) {
				(void)vcon_virtio_serial_remove_port(f.vs, q % NPORTS);
			} else {
				pc.name = NULL;
				pc.chr = f.chr[2];
				(void)vcon_virtio_serial_add_port(f.vs, &pc);
			}
			break;
		case 7: /* reset and start over */
			driver_init(&f, next(&f));
			break;
		}
		check_ctrl_rx(&f);
	}
	vcon_virtio_serial_free(f.vs);
	vcon_pci_free(f.pci);
	for (i = 0; i < NPORTS; i++)
		vcon_chr_free(f.chr[i]); /* port 1's closes the pipe's end */
	close(pipe_fd[0]);
	vcon_loop_free(f.loop);
	vcon_bus_free(f.pio);
	vcon_bus_free(f.mmio);
	free(f.ram);
	return 0;
}
