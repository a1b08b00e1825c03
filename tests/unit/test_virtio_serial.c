/* SPDX-License-Identifier: MIT */
/*
 * The virtio-serial controller driven the way Linux's virtio_pci and
 * virtio_console drive it, written here from the specs: configuration
 * mechanism #1 to find and enable the device, the modern common config to
 * negotiate and place the rings, control messages to bring the ports up.
 * Guest RAM is a test buffer; the host side is real socketpairs on a
 * loop thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vcon/pci.h>
#include <vcon/virtio_serial.h>

#include "testutil.h"

#define NPORTS 4
#define NQ (2 * (NPORTS + 1))
#define QSZ 16
#define RAM (4u << 20)
#define CTRL_RX 2
#define CTRL_TX 3

enum { DEVICE_READY, PORT_ADD, PORT_REMOVE, PORT_READY, CONSOLE_PORT, RESIZE,
       PORT_OPEN, PORT_NAME };

/* Modern common configuration offsets (virtio 1.2, 4.1.4.3). */
#define C_DFSELECT 0x00
#define C_DF 0x04
#define C_GFSELECT 0x08
#define C_GF 0x0c
#define C_NUMQ 0x12
#define C_STATUS 0x14
#define C_Q_SELECT 0x16
#define C_Q_SIZE 0x18
#define C_Q_ENABLE 0x1c
#define C_Q_DESC 0x20
#define C_Q_DRIVER 0x28
#define C_Q_DEVICE 0x30
#define OFF_ISR 0x1000
#define OFF_DEVICE 0x2000
#define OFF_NOTIFY 0x3000

struct dq {
	uint64_t desc, avail, used;
	uint16_t avail_idx, used_seen, next;
};

struct guest {
	struct fake_ram ram;
	struct vcon_bus *pio, *mmio;
	struct vcon_pci *pci;
	struct vcon_loop *loop;
	struct vcon_virtio_serial *vs;
	struct vcon_chr *chr[NPORTS];
	int peer[NPORTS];
	volatile int irq;
	uint32_t bar1;
	uint64_t heap;
	struct dq q[NQ];
	int events[NPORTS][4];
	/* MSI-X messages delivered (the VMM's KVM_SIGNAL_MSI): their data. */
	bool msi;
	unsigned nr_msi;
	uint32_t msi_data[256];
	/* Doorbells the device registered (the VMM's ioeventfd), per queue. */
	bool doorbells;
	int bell_fd[NQ];
	uint64_t bell_addr[NQ];
};

static int
bell_set(void *ctx, uint64_t addr, unsigned len, int fd, bool on)
{
	struct guest *g = ctx;
	unsigned q = (unsigned)((addr - g->bar1 - 0x3000) / 4);

	if (len != 2 || q >= NQ)
		return -EINVAL;
	g->bell_fd[q] = on ? fd : -1;
	g->bell_addr[q] = on ? addr : 0;
	return 0;
}

static void
msi_send(void *ctx, uint64_t addr, uint32_t data)
{
	struct guest *g = ctx;
	unsigned n = __atomic_load_n(&g->nr_msi, __ATOMIC_SEQ_CST);

	assert_int_equal(addr, 0xfee00000u);
	if (n < sizeof(g->msi_data) / sizeof(g->msi_data[0]))
		g->msi_data[n] = data;
	__atomic_store_n(&g->nr_msi, n + 1, __ATOMIC_SEQ_CST);
}

static void
irq_set(void *ctx, bool level)
{
	struct guest *g = ctx;

	__atomic_store_n(&g->irq, level, __ATOMIC_SEQ_CST);
}

static struct vcon_irq
gsi_line(void *ctx, unsigned gsi)
{
	(void)gsi;
	return (struct vcon_irq){ irq_set, ctx };
}

static void
on_event(void *ctx, unsigned port, enum vcon_vserial_event ev)
{
	struct guest *g = ctx;

	if (port < NPORTS)
		__atomic_add_fetch(&g->events[port][ev], 1, __ATOMIC_SEQ_CST);
}

static uint32_t
cfg_read(struct guest *g, unsigned slot, unsigned off, unsigned size)
{
	uint8_t b[4];

	memcpy(b, &(uint32_t){ 0x80000000u | slot << 11 | (off & 0xfc) }, 4);
	vcon_bus_access(g->pio, 0xcf8, 4, 1, true, b);
	vcon_bus_access(g->pio, 0xcfc + (off & 3), size, 1, false, b);
	return size == 4 ? (uint32_t)b[0] | b[1] << 8 | b[2] << 16 |
				   (uint32_t)b[3] << 24
			 : size == 2 ? (uint32_t)(b[0] | b[1] << 8) : b[0];
}

static void
cfg_write(struct guest *g, unsigned slot, unsigned off, unsigned size,
	  uint32_t v)
{
	uint8_t b[4];

	memcpy(b, &(uint32_t){ 0x80000000u | slot << 11 | (off & 0xfc) }, 4);
	vcon_bus_access(g->pio, 0xcf8, 4, 1, true, b);
	memcpy(b, &v, 4);
	vcon_bus_access(g->pio, 0xcfc + (off & 3), size, 1, true, b);
}

static uint64_t
mr(struct guest *g, unsigned off, unsigned size)
{
	uint8_t b[8] = { 0 };
	uint64_t v;

	vcon_bus_access(g->mmio, g->bar1 + off, size, 1, false, b);
	memcpy(&v, b, 8);
	return v;
}

static void
mw(struct guest *g, unsigned off, unsigned size, uint64_t v)
{
	uint8_t b[8];

	memcpy(b, &v, 8);
	vcon_bus_access(g->mmio, g->bar1 + off, size, 1, true, b);
}

static uint64_t
alloc(struct guest *g, uint64_t len)
{
	uint64_t a = (g->heap + 4095) & ~4095ull;

	g->heap = a + len;
	assert_true(g->heap <= RAM);
	return a;
}

/* Make one buffer of len bytes at gpa available on queue q. */
static uint16_t
add_buf(struct guest *g, unsigned q, uint64_t gpa, uint32_t len,
	bool writable)
{
	struct dq *d = &g->q[q];
	uint16_t i = d->next++ % QSZ, flags = writable ? 2 : 0, zero = 0;
	uint8_t *p = g->ram.base + d->desc + 16u * i;

	memcpy(p, &gpa, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &zero, 2);
	memcpy(g->ram.base + d->avail + 4 + 2u * (d->avail_idx % QSZ), &i, 2);
	d->avail_idx++;
	__atomic_store_n((uint16_t *)(void *)(g->ram.base + d->avail + 2),
			 d->avail_idx, __ATOMIC_RELEASE);
	return i;
}

/* ... and kick through the notify register. */
static uint16_t
post(struct guest *g, unsigned q, uint64_t gpa, uint32_t len, bool writable)
{
	uint16_t i = add_buf(g, q, gpa, len, writable);

	mw(g, OFF_NOTIFY + 4 * q, 2, q);
	return i;
}

/* The next used entry of q: its descriptor's address and length. */
static bool
take_used(struct guest *g, unsigned q, uint64_t *gpa, uint32_t *len)
{
	struct dq *d = &g->q[q];
	uint16_t idx = __atomic_load_n(
		(uint16_t *)(void *)(g->ram.base + d->used + 2),
		__ATOMIC_ACQUIRE);
	uint32_t id;

	if (idx == d->used_seen)
		return false;
	memcpy(&id, g->ram.base + d->used + 4 + 8u * (d->used_seen % QSZ), 4);
	memcpy(len, g->ram.base + d->used + 8 + 8u * (d->used_seen % QSZ), 4);
	memcpy(gpa, g->ram.base + d->desc + 16u * id, 8);
	d->used_seen++;
	return true;
}

static void
setup_queue(struct guest *g, unsigned q)
{
	struct dq *d = &g->q[q];

	memset(d, 0, sizeof(*d));
	d->desc = alloc(g, 16 * QSZ);
	d->avail = alloc(g, 6 + 2 * QSZ);
	d->used = alloc(g, 6 + 8 * QSZ);
	mw(g, C_Q_SELECT, 2, q);
	assert_int_equal(mr(g, C_Q_SIZE, 2), 256);
	mw(g, C_Q_SIZE, 2, QSZ);
	mw(g, C_Q_DESC, 8, d->desc);
	mw(g, C_Q_DRIVER, 4, (uint32_t)d->avail);
	mw(g, C_Q_DRIVER + 4, 4, d->avail >> 32);
	mw(g, C_Q_DEVICE, 8, d->used);
	mw(g, C_Q_ENABLE, 2, 1);
}

/* Reset, negotiate VERSION_1 and MULTIPORT, place every ring. */
static void
driver_init(struct guest *g, bool event_idx)
{
	uint64_t f;
	unsigned q;

	mw(g, C_STATUS, 1, 0);
	mw(g, C_STATUS, 1, 1 | 2);
	mw(g, C_DFSELECT, 4, 0);
	f = mr(g, C_DF, 4);
	mw(g, C_DFSELECT, 4, 1);
	f |= mr(g, C_DF, 4) << 32;
	assert_true(f >> 32 & 1); /* VERSION_1 */
	assert_true(f >> 1 & 1);  /* MULTIPORT */
	f &= 1ull << 32 | 1ull << 1 | 1ull << 0 |
	     (event_idx ? 1ull << 29 : 0);
	mw(g, C_GFSELECT, 4, 0);
	mw(g, C_GF, 4, (uint32_t)f);
	mw(g, C_GFSELECT, 4, 1);
	mw(g, C_GF, 4, f >> 32);
	mw(g, C_STATUS, 1, 1 | 2 | 8);
	assert_int_equal(mr(g, C_STATUS, 1) & 8, 8);
	assert_int_equal(mr(g, C_NUMQ, 2), NQ);
	g->heap = 0x10000;
	for (q = 0; q < NQ; q++)
		setup_queue(g, q);
	mw(g, C_STATUS, 1, 1 | 2 | 4 | 8);
}

static void
send_ctrl(struct guest *g, uint32_t id, uint16_t event, uint16_t value)
{
	uint64_t a = alloc(g, 8), gpa;
	uint32_t len;

	memcpy(g->ram.base + a, &id, 4);
	memcpy(g->ram.base + a + 4, &event, 2);
	memcpy(g->ram.base + a + 6, &value, 2);
	post(g, CTRL_TX, a, 8, false);
	/* Linux spins for this buffer: it must be back before the kick ends. */
	assert_true(take_used(g, CTRL_TX, &gpa, &len));
	assert_int_equal(gpa, a);
}

struct ctrl {
	uint32_t id;
	uint16_t event, value;
	char extra[64];
	uint32_t len;
};

static bool
recv_ctrl(struct guest *g, struct ctrl *c)
{
	uint64_t gpa;

	memset(c, 0, sizeof(*c));
	if (!take_used(g, CTRL_RX, &gpa, &c->len))
		return false;
	assert_true(c->len >= 8 && c->len < 8 + sizeof(c->extra));
	memcpy(&c->id, g->ram.base + gpa, 4);
	memcpy(&c->event, g->ram.base + gpa + 4, 2);
	memcpy(&c->value, g->ram.base + gpa + 6, 2);
	memcpy(c->extra, g->ram.base + gpa + 8, c->len - 8);
	return true;
}

static void
expect_ctrl(struct guest *g, uint32_t id, uint16_t event, uint16_t value)
{
	struct ctrl c;

	assert_true(recv_ctrl(g, &c));
	assert_int_equal(c.event, event);
	assert_int_equal(c.id, id);
	assert_int_equal(c.value, value);
}

static void
post_ctrl_buffers(struct guest *g, unsigned n)
{
	while (n--)
		post(g, CTRL_RX, alloc(g, 4096), 4096, true);
}

static int
add(struct guest *g, unsigned i, bool console, const char *name, int nr)
{
	struct vcon_vserial_port_config pc = {
		.console = console, .name = name, .nr = nr, .chr = g->chr[i],
	};

	return vcon_virtio_serial_add_port(g->vs, &pc);
}

static bool want_doorbells, want_msi;

static struct guest *
guest_new(const char *chr_extra)
{
	struct guest *g = calloc(1, sizeof(*g));

	g->doorbells = want_doorbells;
	g->msi = want_msi;
	/* Where BAR 1 will be, for bell_set's arithmetic. */
	g->bar1 = VCON_PCI_MMIO_BASE;
	struct vcon_pci_config pcfg = { .gsi_line = gsi_line, .gsi_ctx = g };
	struct vcon_virtio_serial_config vcfg;
	struct vcon_error err;
	char spec[128];
	unsigned i;
	int sv[2];

	assert_non_null(g);
	vcfg = (struct vcon_virtio_serial_config){
		.max_nr_ports = NPORTS,
		.mem = fake_ram_init(&g->ram, RAM),
		.event = on_event,
		.event_ctx = g,
	};
	assert_int_equal(vcon_bus_new(&g->pio), 0);
	assert_int_equal(vcon_bus_new(&g->mmio), 0);
	pcfg.pio = g->pio;
	pcfg.mmio = g->mmio;
	if (g->msi) {
		pcfg.msi = msi_send;
		pcfg.msi_ctx = g;
	}
	assert_int_equal(vcon_pci_new(&pcfg, &g->pci), 0);
	assert_int_equal(vcon_loop_new(&g->loop), 0);
	assert_int_equal(vcon_loop_start_thread(g->loop), 0);
	for (i = 0; i < NPORTS; i++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		g->peer[i] = sv[1];
		/* A small socket, so back-pressure shows with small buffers. */
		assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF,
					    &(int){ 16384 }, sizeof(int)),
				 0);
		snprintf(spec, sizeof(spec), "fd,fd=%d%s", sv[0], chr_extra);
		assert_int_equal(vcon_chr_new(g->loop, spec, &g->chr[i], &err),
				 0);
	}
	vcfg.pci = g->pci;
	vcfg.loop = g->loop;
	if (g->doorbells)
		vcfg.ioeventfd = (struct vcon_ioeventfd){ bell_set, g };
	assert_int_equal(vcon_virtio_serial_new(&vcfg, &g->vs), 0);
	assert_int_equal(vcon_virtio_serial_pci_slot(g->vs), 1);
	g->bar1 = cfg_read(g, 1, 0x14, 4) & ~15u;
	cfg_write(g, 1, 0x04, 2, 0x6); /* memory decode, bus master */
	return g;
}

static void
guest_free(struct guest *g)
{
	unsigned i;

	vcon_virtio_serial_free(g->vs);
	vcon_pci_free(g->pci);
	for (i = 0; i < NPORTS; i++) {
		vcon_chr_free(g->chr[i]);
		close(g->peer[i]);
	}
	vcon_loop_stop(g->loop);
	vcon_loop_join(g->loop);
	vcon_loop_free(g->loop);
	vcon_bus_free(g->pio);
	vcon_bus_free(g->mmio);
	fake_ram_fini(&g->ram);
	free(g);
}

/* Console on 0, "org.test.a" on 1, brought up as Linux brings them up. */
static void
bring_up(struct guest *g)
{
	struct ctrl c;

	assert_int_equal(add(g, 0, true, NULL, -1), 0);
	assert_int_equal(add(g, 1, false, "org.test.a", -1), 1);
	driver_init(g, true);
	post_ctrl_buffers(g, 8);
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	expect_ctrl(g, 0, PORT_ADD, 1);
	expect_ctrl(g, 1, PORT_ADD, 1);
	assert_false(recv_ctrl(g, &c));
	send_ctrl(g, 0, PORT_READY, 1);
	expect_ctrl(g, 0, CONSOLE_PORT, 1);
	expect_ctrl(g, 0, PORT_OPEN, 1); /* an fd is always connected */
	send_ctrl(g, 1, PORT_READY, 1);
	assert_true(recv_ctrl(g, &c));
	assert_int_equal(c.event, PORT_NAME);
	assert_int_equal(c.id, 1);
	assert_int_equal(c.len, 8 + strlen("org.test.a"));
	assert_memory_equal(c.extra, "org.test.a", strlen("org.test.a"));
	expect_ctrl(g, 1, PORT_OPEN, 1);
	post_ctrl_buffers(g, 8);
}

/* The same on a guest whose ports' chardevs are plain fds. */
static struct guest *
guest_up(void)
{
	struct guest *g = guest_new("");

	bring_up(g);
	return g;
}

static void
test_pci_identity_caps_and_bars(void **state)
{
	struct guest *g = guest_new("");
	unsigned cap, types = 0;

	(void)state;
	/* The host bridge Linux's conf1 sanity check looks for. */
	assert_int_equal(cfg_read(g, 0, 0x0a, 2), 0x0600);
	/* Transitional virtio console: 1af4:1003, subsystem 3, rev 0. */
	assert_int_equal(cfg_read(g, 1, 0x00, 4), 0x10031af4);
	assert_int_equal(cfg_read(g, 1, 0x2e, 2), 3);
	assert_int_equal(cfg_read(g, 1, 0x08, 1), 0);
	assert_int_equal(cfg_read(g, 1, 0x3d, 1), 1); /* INTA */
	/* No device: all ones, as on a real bus. */
	assert_int_equal(cfg_read(g, 9, 0x00, 4), 0xffffffffu);
	/* Capabilities: the four virtio structures and the pci_cfg window;
	 * no MSI-X, since this bridge cannot deliver it. */
	assert_true(cfg_read(g, 1, 0x06, 2) & 0x10);
	for (cap = cfg_read(g, 1, 0x34, 1); cap; cap = cfg_read(g, 1, cap + 1, 1)) {
		assert_int_equal(cfg_read(g, 1, cap, 1), 0x09);
		types |= 1u << cfg_read(g, 1, cap + 3, 1);
	}
	assert_int_equal(types, 0x3e);
	/* BAR sizing: all ones reads back the size mask, then restore. */
	cfg_write(g, 1, 0x14, 4, 0xffffffffu);
	assert_int_equal(cfg_read(g, 1, 0x14, 4), ~(0x8000u - 1));
	cfg_write(g, 1, 0x14, 4, g->bar1);
	cfg_write(g, 1, 0x10, 4, 0xffffffffu);
	assert_int_equal(cfg_read(g, 1, 0x10, 4), ~(64u - 1) | 1);
	cfg_write(g, 1, 0x10, 4, 0xc000);
	/* Decoding follows COMMAND.MEM. */
	assert_int_equal(mr(g, C_NUMQ, 2), NQ);
	cfg_write(g, 1, 0x04, 2, 0);
	assert_int_equal(mr(g, C_NUMQ, 2), 0xffff);
	cfg_write(g, 1, 0x04, 2, 6);
	/* A moved BAR answers at its new address only. */
	cfg_write(g, 1, 0x14, 4, g->bar1 + 0x10000);
	assert_int_equal(mr(g, C_NUMQ, 2), 0xffff);
	g->bar1 += 0x10000;
	assert_int_equal(mr(g, C_NUMQ, 2), NQ);
	/* The device config: max_nr_ports. */
	assert_int_equal(mr(g, OFF_DEVICE + 4, 4), NPORTS);
	guest_free(g);
}

/* The pci_cfg capability: a window onto the BARs through config space. */
static void
test_pci_cfg_window_and_legacy_bar(void **state)
{
	struct guest *g = guest_new("");
	unsigned cap, win = 0;
	uint8_t b[4];

	(void)state;
	for (cap = cfg_read(g, 1, 0x34, 1); cap; cap = cfg_read(g, 1, cap + 1, 1))
		if (cfg_read(g, 1, cap + 3, 1) == 5)
			win = cap;
	assert_true(win);
	/* num_queues (common config 0x12, BAR 1), read through the window. */
	cfg_write(g, 1, win + 4, 1, 1);
	cfg_write(g, 1, win + 8, 4, 0x12);
	cfg_write(g, 1, win + 12, 4, 2);
	assert_int_equal(cfg_read(g, 1, win + 16, 4) & 0xffff, NQ);
	/* A write through it reaches the register: device_status. */
	cfg_write(g, 1, win + 8, 4, 0x14);
	cfg_write(g, 1, win + 12, 4, 1);
	cfg_write(g, 1, win + 16, 4, 1);
	assert_int_equal(mr(g, C_STATUS, 1), 1);
	/* The legacy I/O BAR: host features (low 32 bits, MULTIPORT in
	 * them), queue size, and max_nr_ports in the device config at 0x14. */
	cfg_write(g, 1, 0x04, 2, 7);
	vcon_bus_access(g->pio, 0xc000, 4, 1, false, b);
	assert_true(b[0] & 2);
	vcon_bus_access(g->pio, 0xc000 + 0x0c, 2, 1, false, b);
	assert_int_equal(b[0] | b[1] << 8, 256);
	vcon_bus_access(g->pio, 0xc000 + 0x14 + 4, 4, 1, false, b);
	assert_int_equal(b[0], NPORTS);
	guest_free(g);
}

static void
test_handshake_names_and_guest_open_close(void **state)
{
	struct guest *g = guest_up();
	struct vcon_vserial_port_stats st;

	(void)state;
	send_ctrl(g, 1, PORT_OPEN, 1);
	assert_int_equal(vcon_virtio_serial_port_stats(g->vs, 1, &st), 0);
	assert_true(st.guest_ready);
	assert_true(st.guest_open);
	assert_int_equal(st.guest_opens, 1);
	send_ctrl(g, 1, PORT_OPEN, 0);
	assert_int_equal(vcon_virtio_serial_port_stats(g->vs, 1, &st), 0);
	assert_false(st.guest_open);
	assert_int_equal(st.guest_closes, 1);
	assert_int_equal(g->events[1][VCON_VSERIAL_GUEST_READY], 1);
	assert_int_equal(g->events[1][VCON_VSERIAL_GUEST_OPEN], 1);
	assert_int_equal(g->events[1][VCON_VSERIAL_GUEST_CLOSE], 1);
	/* A message about a port that does not exist is ignored. */
	send_ctrl(g, 3, PORT_OPEN, 1);
	assert_int_equal(vcon_virtio_serial_port_stats(g->vs, 3, &st), -ENOENT);
	guest_free(g);
}

static bool
wait_used(struct guest *g, unsigned q, uint64_t *gpa, uint32_t *len)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (take_used(g, q, gpa, len))
			return true;
		usleep(10000);
	}
	return false;
}

static void
test_data_both_ways(void **state)
{
	struct guest *g = guest_up();
	uint64_t a = alloc(g, 4096), gpa;
	char got[64] = "";
	uint32_t len;
	uint8_t isr;
	struct vcon_vserial_stats st;

	(void)state;
	/* Guest to host on port 1 (queue 5). */
	memcpy(g->ram.base + a, "from the guest", 14);
	post(g, 5, a, 14, false);
	assert_true(wait_used(g, 5, &gpa, &len));
	assert_int_equal(read(g->peer[1], got, sizeof(got)), 14);
	assert_memory_equal(got, "from the guest", 14);
	/* Host to guest waits until a program has the port open. */
	a = alloc(g, 4096);
	post(g, 4, a, 4096, true);
	assert_int_equal(write(g->peer[1], "to the guest", 12), 12);
	usleep(100000);
	assert_false(take_used(g, 4, &gpa, &len));
	send_ctrl(g, 1, PORT_OPEN, 1);
	assert_true(wait_used(g, 4, &gpa, &len));
	assert_int_equal(gpa, a);
	assert_int_equal(len, 12);
	assert_memory_equal(g->ram.base + a, "to the guest", 12);
	/* An interrupt says so, and reading ISR lowers it. */
	assert_true(g->irq);
	isr = (uint8_t)mr(g, OFF_ISR, 1);
	assert_true(isr & 1);
	assert_false(g->irq);
	/* The exits a VMM pays for are counted. */
	vcon_virtio_serial_get_stats(g->vs, &st);
	assert_int_equal(st.isr_reads, 1);
	assert_true(st.kicks >= 2 && st.interrupts >= 1);
	guest_free(g);
}

/*
 * A guest that kicks only when the device asks (VIRTIO_F_EVENT_IDX's
 * avail_event, as Linux does) still gets every buffer through: the
 * device turns kicks off while it takes buffers and back on when it
 * stops, or the guest's next write would wait forever.
 */
/* The device's avail_event: where it wants a kick (2.7.10). */
static uint16_t
avail_event(struct guest *g, unsigned q)
{
	uint16_t v;

	memcpy(&v, g->ram.base + g->q[q].used + 4 + 8u * QSZ, 2);
	return v;
}

static bool
guest_wants_kick(struct guest *g, unsigned q, uint16_t old)
{
	struct dq *d = &g->q[q];
	uint16_t event = avail_event(g, q);

	return (uint16_t)(d->avail_idx - event - 1) <
	       (uint16_t)(d->avail_idx - old);
}

static void
test_guest_kicks_only_when_asked(void **state)
{
	struct guest *g = guest_up();
	char want[16], got[16];
	uint64_t a, gpa;
	uint32_t len;
	uint16_t old;
	unsigned i, kicks = 0;

	(void)state;
	for (i = 0; i < 2 * QSZ; i++) {
		a = alloc(g, sizeof(want));
		snprintf(want, sizeof(want), "buffer %06u", i);
		memcpy(g->ram.base + a, want, sizeof(want));
		old = g->q[5].avail_idx;
		add_buf(g, 5, a, sizeof(want), false);
		if (guest_wants_kick(g, 5, old)) {
			mw(g, OFF_NOTIFY + 4 * 5, 2, 5);
			kicks++;
		}
		assert_true(wait_used(g, 5, &gpa, &len));
		assert_int_equal(read(g->peer[1], got, sizeof(got)),
				 sizeof(got));
		assert_memory_equal(got, want, sizeof(want));
	}
	/* The device was idle each time: each buffer needed its kick. */
	assert_int_equal(kicks, 2 * QSZ);
	guest_free(g);
}

/*
 * The same for host to guest: a reading guest posts each buffer back
 * after it reads it, and a kick for that would wake the device for
 * nothing while it has buffers. It must ask for one only once it has
 * bytes and no buffer, and then nothing may be lost.
 */
static size_t
rx_take_all(struct guest *g, uint8_t *out, size_t *got, size_t want,
	    uint64_t *freed, unsigned *nfreed)
{
	uint64_t gpa;
	uint32_t len;
	int i;

	for (i = 0; i < 500 && *got < want; i++) {
		while (take_used(g, 4, &gpa, &len)) {
			memcpy(out + *got, g->ram.base + gpa, len);
			*got += len;
			freed[(*nfreed)++] = gpa;
		}
		if (*got < want)
			usleep(10000);
	}
	return *got;
}

/* Post a buffer back as Linux does: kick only if the device asked. */
static bool
rx_repost(struct guest *g, uint64_t gpa)
{
	uint16_t old = g->q[4].avail_idx;

	add_buf(g, 4, gpa, 16, true);
	if (!guest_wants_kick(g, 4, old))
		return false;
	mw(g, OFF_NOTIFY + 4 * 4, 2, 4);
	return true;
}

static void
test_rx_kicks_only_when_starved(void **state)
{
	struct guest *g = guest_up();
	uint8_t sent[256], got[256];
	uint64_t freed[64];
	unsigned i, nfreed = 0, asked = 0;
	size_t n = 0;

	(void)state;
	for (i = 0; i < sizeof(sent); i++)
		sent[i] = (uint8_t)(i * 7 + 1);
	send_ctrl(g, 1, PORT_OPEN, 1);
	for (i = 0; i < 4; i++)
		post(g, 4, alloc(g, 16), 16, true);
	/* 64 bytes fill all four buffers, and nothing more waits. */
	assert_int_equal(write(g->peer[1], sent, 64), 64);
	assert_int_equal(rx_take_all(g, got, &n, 64, freed, &nfreed), 64);
	/*
	 * Every buffer taken (EVENT_IDX alone would ask for a kick at the
	 * next one), but no bytes wait: posting them back asks for none.
	 */
	for (i = 0; i < nfreed; i++)
		asked += rx_repost(g, freed[i]);
	assert_int_equal(asked, 0);
	nfreed = 0;
	/* 192 more: 64 fit, 128 wait for buffers the guest posts back. */
	assert_int_equal(write(g->peer[1], sent + 64, 192), 192);
	assert_int_equal(rx_take_all(g, got, &n, 128, freed, &nfreed), 128);
	usleep(50000); /* the device has met the empty queue by now */
	for (i = 0; i < nfreed; i++)
		asked += rx_repost(g, freed[i]);
	/* Starved, the device asked for the first one back. */
	assert_true(asked >= 1);
	/* A reader goes on posting each buffer back; nothing is lost. */
	for (i = 0; i < 50 && n < sizeof(sent); i++) {
		unsigned k;

		nfreed = 0;
		(void)rx_take_all(g, got, &n, n + 1, freed, &nfreed);
		for (k = 0; k < nfreed; k++)
			(void)rx_repost(g, freed[k]);
	}
	assert_int_equal(n, sizeof(sent));
	assert_memory_equal(got, sent, sizeof(sent));
	guest_free(g);
}

#define C_MSIX 0x10
#define C_Q_MSIX 0x1a

/* Data arrives in the guest on port 1's receive queue (4). */
static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9));
}

/* The guest's used_event: how far it has taken used buffers (2.7.10). */
static void
set_used_event(struct guest *g, unsigned q, uint16_t v)
{
	memcpy(g->ram.base + g->q[q].avail + 4 + 2 * QSZ, &v, 2);
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

/*
 * Bulk input into a guest that reads each buffer and posts it back, as
 * Linux does (used_event kept at what it has taken, a kick whenever the
 * device asks), slower than the device fills them: a kick per several
 * buffers, not one per buffer, and every byte in order.
 */
static void
test_rx_bulk_kicks_per_many_buffers(void **state)
{
	static uint8_t sent[256 * 64], got[sizeof(sent)];
	struct guest *g = guest_up();
	size_t n = 0, w = 0, i;
	unsigned kicks = 0, bufs = 0, idle = 0;
	uint64_t gpa;
	uint32_t len;
	uint16_t old;
	ssize_t r;

	(void)state;
	for (i = 0; i < sizeof(sent); i++)
		sent[i] = pattern(i);
	send_ctrl(g, 1, PORT_OPEN, 1);
	for (i = 0; i < QSZ; i++)
		add_buf(g, 4, alloc(g, 64), 64, true);
	mw(g, OFF_NOTIFY + 4 * 4, 2, 4);
	assert_int_equal(fcntl(g->peer[1], F_SETFL, O_NONBLOCK), 0);
	while (n < sizeof(sent)) {
		r = write(g->peer[1], sent + w, sizeof(sent) - w);
		if (r > 0)
			w += (size_t)r;
		if (!take_used(g, 4, &gpa, &len)) {
			assert_true(++idle < 20000); /* 2 s */
			usleep(100);
			continue;
		}
		assert_true(len <= sizeof(sent) - n);
		memcpy(got + n, g->ram.base + gpa, len);
		n += len;
		bufs++;
		usleep(100); /* a reader slower than the device */
		set_used_event(g, 4, g->q[4].used_seen);
		old = g->q[4].avail_idx;
		add_buf(g, 4, gpa, 64, true);
		if (guest_wants_kick(g, 4, old)) {
			mw(g, OFF_NOTIFY + 4 * 4, 2, 4);
			kicks++;
		}
	}
	assert_memory_equal(got, sent, sizeof(sent));
	assert_int_equal(bufs, sizeof(sent) / 64);
	assert_true(kicks * 4 <= bufs);
	guest_free(g);
}

/*
 * A guest that posts back fewer buffers than its used_event says it holds
 * is not asked to kick for them, and its input still comes.
 */
static void
test_rx_late_kick_has_a_fallback(void **state)
{
	static uint8_t sent[9 * 64], got[sizeof(sent)];
	struct guest *g = guest_up();
	uint64_t gpa, first = 0;
	uint32_t len;
	size_t n = 0;
	unsigned i;
	uint16_t old, ev = 0;

	(void)state;
	for (i = 0; i < sizeof(sent); i++)
		sent[i] = pattern(i);
	send_ctrl(g, 1, PORT_OPEN, 1);
	set_used_event(g, 4, 0);
	for (i = 0; i < 8; i++)
		add_buf(g, 4, alloc(g, 64), 64, true);
	mw(g, OFF_NOTIFY + 4 * 4, 2, 4);
	assert_int_equal(write(g->peer[1], sent, sizeof(sent)), sizeof(sent));
	for (i = 0; i < 8; i++) {
		assert_true(wait_used(g, 4, &gpa, &len));
		memcpy(got + n, g->ram.base + gpa, len);
		n += len;
		if (i == 0)
			first = gpa;
	}
	assert_int_equal(n, 8 * 64);
	/*
	 * Met the empty queue, the device asks for a kick after four (11);
	 * 10 ms later, for the next one (8). A loaded machine may be there.
	 */
	for (i = 0; i < 500 && (ev = avail_event(g, 4)) != 8 + 4 - 1 &&
		    ev != 8;
	     i++)
		usleep(1000);
	assert_true(ev == 8 + 4 - 1 || ev == 8);
	/* One comes back; the guest kicks only if asked, as Linux does. */
	old = g->q[4].avail_idx;
	add_buf(g, 4, first, 64, true);
	if (guest_wants_kick(g, 4, old)) {
		assert_int_equal(ev, 8);
		mw(g, OFF_NOTIFY + 4 * 4, 2, 4);
	}
	assert_true(wait_used(g, 4, &gpa, &len));
	memcpy(got + n, g->ram.base + gpa, len);
	n += len;
	assert_int_equal(n, sizeof(sent));
	assert_memory_equal(got, sent, sizeof(sent));
	guest_free(g);
}

static void
host_to_guest(struct guest *g, const char *msg)
{
	uint64_t a = alloc(g, 4096), gpa;
	uint32_t len;
	uint16_t seen = g->q[4].used_seen;

	/* used_event: interrupt for the next one, as Linux asks. */
	memcpy(g->ram.base + g->q[4].avail + 4 + 2 * QSZ, &seen, 2);
	post(g, 4, a, 4096, true);
	assert_int_equal(write(g->peer[1], msg, strlen(msg)),
			 (ssize_t)strlen(msg));
	assert_true(wait_used(g, 4, &gpa, &len));
	assert_int_equal(len, strlen(msg));
}

static bool
wait_msi(struct guest *g, unsigned n)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n(&g->nr_msi, __ATOMIC_SEQ_CST) >= n)
			return true;
		usleep(1000);
	}
	return false;
}

/*
 * On a bridge that can deliver MSI-X (KVM's), the device offers a vector
 * per queue and one for configuration, and Linux's virtio_pci uses them:
 * a used buffer is a message on the queue's vector, with no INTx and no
 * ISR bit; a masked vector holds its message as a pending bit until
 * unmasked; the legacy header grows the two vector registers.
 */
static void
test_msix_vectors(void **state)
{
	struct guest *g;
	unsigned cap, msix = 0, v;
	uint8_t b[4];

	(void)state;
	want_msi = true;
	g = guest_up();
	want_msi = false;
	for (cap = cfg_read(g, 1, 0x34, 1); cap; cap = cfg_read(g, 1, cap + 1, 1))
		if (cfg_read(g, 1, cap, 1) == 0x11)
			msix = cap;
	assert_true(msix);
	assert_int_equal(cfg_read(g, 1, msix + 2, 2), NQ); /* NQ + 1 vectors */
	assert_int_equal(cfg_read(g, 1, msix + 4, 4), 0x4000 | 1);
	assert_int_equal(cfg_read(g, 1, msix + 8, 4), 0x6000 | 1);
	/* Every vector starts masked; the table takes address and data. */
	for (v = 0; v <= NQ; v++) {
		assert_int_equal(mr(g, 0x4000 + 16 * v + 12, 4), 1);
		mw(g, 0x4000 + 16 * v, 4, 0xfee00000u);
		mw(g, 0x4000 + 16 * v + 4, 4, 0);
		mw(g, 0x4000 + 16 * v + 8, 4, 0x40 + v);
		mw(g, 0x4000 + 16 * v + 12, 4, 0);
	}
	assert_int_equal(mr(g, 0x4000 + 8, 4), 0x40);
	/* The guest picks vectors; one the table lacks reads NO_VECTOR. */
	mw(g, C_MSIX, 2, 0);
	assert_int_equal(mr(g, C_MSIX, 2), 0);
	for (v = 0; v < NQ; v++) {
		mw(g, C_Q_SELECT, 2, v);
		mw(g, C_Q_MSIX, 2, v + 1);
		assert_int_equal(mr(g, C_Q_MSIX, 2), v + 1);
	}
	mw(g, C_Q_MSIX, 2, NQ + 1);
	assert_int_equal(mr(g, C_Q_MSIX, 2), 0xffff);
	mw(g, C_Q_MSIX, 2, NQ);
	/* Enabled: INTx goes quiet, and port 1's input is a message on
	 * queue 4's vector. */
	assert_true(g->irq); /* the handshake's, not yet acknowledged */
	cfg_write(g, 1, msix + 2, 2, 0x8000);
	assert_false(g->irq);
	(void)mr(g, OFF_ISR, 1);
	send_ctrl(g, 1, PORT_OPEN, 1);
	host_to_guest(g, "by message");
	assert_true(wait_msi(g, 1));
	assert_int_equal(g->msi_data[g->nr_msi - 1], 0x40 + 5);
	assert_false(g->irq);
	assert_int_equal(mr(g, OFF_ISR, 1), 0);
	/* Masked: held as a pending bit, sent on unmask. */
	v = g->nr_msi;
	mw(g, 0x4000 + 16 * 5 + 12, 4, 1);
	host_to_guest(g, "held back");
	usleep(50000);
	assert_int_equal(g->nr_msi, v);
	assert_int_equal(mr(g, 0x6000, 4), 1u << 5);
	mw(g, 0x4000 + 16 * 5 + 12, 4, 0);
	assert_int_equal(g->nr_msi, v + 1);
	assert_int_equal(g->msi_data[v], 0x40 + 5);
	assert_int_equal(mr(g, 0x6000, 4), 0);
	/* The function mask holds every vector the same way. */
	cfg_write(g, 1, msix + 2, 2, 0xc000);
	host_to_guest(g, "function masked");
	usleep(50000);
	assert_int_equal(g->nr_msi, v + 1);
	cfg_write(g, 1, msix + 2, 2, 0x8000);
	assert_int_equal(g->nr_msi, v + 2);
	/* Legacy header: config vector at 0x14, device config from 0x18. */
	cfg_write(g, 1, 0x04, 2, 7);
	vcon_bus_access(g->pio, 0xc000 + 0x14, 2, 1, false, b);
	assert_int_equal(b[0] | b[1] << 8, 0);
	vcon_bus_access(g->pio, 0xc000 + 0x18 + 4, 4, 1, false, b);
	assert_int_equal(b[0], NPORTS);
	/* MSI-X off again: back to INTx and ISR. */
	cfg_write(g, 1, msix + 2, 2, 0);
	host_to_guest(g, "by INTx");
	assert_true(g->irq);
	assert_true(mr(g, OFF_ISR, 1) & 1);
	guest_free(g);
}

static void
test_host_input_waits_for_guest_buffers(void **state)
{
	struct guest *g = guest_up();
	char big[10000], got[10000];
	uint64_t gpa;
	uint32_t len;
	size_t n = 0;
	unsigned i;

	(void)state;
	for (i = 0; i < sizeof(big); i++)
		big[i] = (char)(i * 7 + 3);
	send_ctrl(g, 1, PORT_OPEN, 1);
	assert_int_equal(write(g->peer[1], big, sizeof(big)), sizeof(big));
	/* One 1 KiB buffer at a time: every byte arrives, in order. */
	while (n < sizeof(big)) {
		uint64_t a = alloc(g, 1024);

		post(g, 4, a, 1024, true);
		assert_true(wait_used(g, 4, &gpa, &len));
		assert_true(len > 0 && len <= 1024);
		memcpy(got + n, g->ram.base + gpa, len);
		n += len;
	}
	assert_memory_equal(got, big, sizeof(big));
	guest_free(g);
}

static void
test_control_messages_wait_for_buffers(void **state)
{
	struct guest *g = guest_new("");
	struct vcon_vserial_stats st;
	struct ctrl c;

	(void)state;
	assert_int_equal(add(g, 0, true, NULL, -1), 0);
	assert_int_equal(add(g, 1, false, "a", -1), 1);
	assert_int_equal(add(g, 2, false, "b", 3), 3);
	driver_init(g, false);
	/* No control buffer posted: the answers wait, none is dropped. */
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	vcon_virtio_serial_get_stats(g->vs, &st);
	assert_int_equal(st.ctrl_queued, 3);
	post_ctrl_buffers(g, 2);
	expect_ctrl(g, 0, PORT_ADD, 1);
	expect_ctrl(g, 1, PORT_ADD, 1);
	assert_false(recv_ctrl(g, &c));
	post_ctrl_buffers(g, 1);
	expect_ctrl(g, 3, PORT_ADD, 1);
	guest_free(g);
}

static void
test_hot_add_and_remove(void **state)
{
	struct guest *g = guest_up();
	struct ctrl c;

	(void)state;
	assert_int_equal(add(g, 2, false, "org.test.a", -1), -EEXIST);
	assert_int_equal(add(g, 2, false, "late", -1), 2);
	expect_ctrl(g, 2, PORT_ADD, 1);
	send_ctrl(g, 2, PORT_READY, 1);
	assert_true(recv_ctrl(g, &c));
	assert_int_equal(c.event, PORT_NAME);
	assert_memory_equal(c.extra, "late", 4);
	expect_ctrl(g, 2, PORT_OPEN, 1);
	assert_int_equal(vcon_virtio_serial_remove_port(g->vs, 2), 0);
	expect_ctrl(g, 2, PORT_REMOVE, 1);
	assert_int_equal(vcon_virtio_serial_remove_port(g->vs, 2), -ENOENT);
	/* Numbers and names are checked. */
	assert_int_equal(add(g, 2, false, "x", 0), -EINVAL);
	assert_int_equal(add(g, 2, false, "x/y", -1), -EINVAL);
	assert_int_equal(add(g, 2, false, "x", NPORTS), -EINVAL);
	guest_free(g);
}

static void
test_hostile_chain_breaks_only_this_device(void **state)
{
	struct guest *g = guest_up();
	struct dq *d = &g->q[5];
	struct vcon_vserial_stats st;
	uint16_t flags = 1, next = 0, head = 0;
	uint64_t a = alloc(g, 64);
	uint8_t *p = g->ram.base + d->desc;

	(void)state;
	/* A descriptor that chains to itself, on port 1's transmit queue. */
	memcpy(p, &a, 8);
	memcpy(p + 8, &(uint32_t){ 8 }, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
	memcpy(g->ram.base + d->avail + 4, &head, 2);
	d->avail_idx = 1;
	memcpy(g->ram.base + d->avail + 2, &d->avail_idx, 2);
	mw(g, OFF_NOTIFY + 4 * 5, 2, 5);
	/* DEVICE_NEEDS_RESET with a configuration interrupt. */
	assert_int_equal(mr(g, C_STATUS, 1) & 0x40, 0x40);
	assert_true(g->irq);
	assert_int_equal(mr(g, OFF_ISR, 1) & 2, 2);
	vcon_virtio_serial_get_stats(g->vs, &st);
	assert_true(st.broken);
	assert_non_null(strstr(st.broken_why, "loop"));
	/* The rest of the machine is untouched: the bus still answers. */
	assert_int_equal(cfg_read(g, 0, 0x0a, 2), 0x0600);
	/* A reset brings the device back. */
	driver_init(g, true);
	vcon_virtio_serial_get_stats(g->vs, &st);
	assert_false(st.broken);
	post_ctrl_buffers(g, 4);
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	expect_ctrl(g, 0, PORT_ADD, 1);
	guest_free(g);
}

static void
test_output_back_pressure_holds_guest_buffers(void **state)
{
	/* A 4 KiB backend buffer that blocks, and a peer not reading yet. */
	struct guest *g;
	uint64_t bufs[3], gpa;
	uint32_t len;
	static char got[3 * 65536];
	size_t n = 0;
	ssize_t r;
	unsigned i, used = 0;

	(void)state;
	g = guest_new(",buffer=4096,policy=block");
	bring_up(g);
	for (i = 0; i < 3; i++) {
		bufs[i] = alloc(g, 65536);
		memset(g->ram.base + bufs[i], 'a' + (int)i, 65536);
		post(g, 5, bufs[i], 65536, false);
	}
	usleep(200000);
	while (take_used(g, 5, &gpa, &len))
		used++;
	/* The socket holds some, the backend 4 KiB: not 192 KiB. */
	assert_true(used < 3);
	while (n < sizeof(got) && (r = read(g->peer[1], got + n,
					    sizeof(got) - n)) > 0)
		n += (size_t)r;
	for (i = 0; i < 3; i++) {
		assert_int_equal(got[i * 65536], 'a' + (int)i);
		assert_int_equal(got[i * 65536 + 65535], 'a' + (int)i);
	}
	while (used < 3 && wait_used(g, 5, &gpa, &len))
		used++;
	assert_int_equal(used, 3);
	guest_free(g);
}

/*
 * What a writing guest leaves on the ring goes to the backend in one
 * call: a file gets a queue's worth of buffers with one writev(2).
 */
static void
test_output_is_batched(void **state)
{
	struct guest *g = guest_new("");
	struct vcon_chr_stats st;
	struct vcon_error err;
	char path[128], spec[160];
	static uint8_t got[QSZ * 4096];
	uint64_t a, gpa;
	uint32_t len;
	size_t i;
	int fd;

	(void)state;
	snprintf(path, sizeof(path), "%s/vs-batch-%d.out",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(spec, sizeof(spec), "file,id=f,path=%s", path);
	vcon_chr_free(g->chr[1]);
	assert_int_equal(vcon_chr_new(g->loop, spec, &g->chr[1], &err), 0);
	bring_up(g);
	a = alloc(g, QSZ * 4096);
	for (i = 0; i < QSZ * 4096; i++)
		g->ram.base[a + i] = pattern(i);
	/* Linux adds each write's buffer and kicks once the device asks. */
	for (i = 0; i < QSZ; i++)
		add_buf(g, 5, a + 4096 * i, 4096, false);
	mw(g, OFF_NOTIFY + 4 * 5, 2, 5);
	for (i = 0; i < QSZ; i++) {
		assert_true(wait_used(g, 5, &gpa, &len));
		assert_int_equal(gpa, a + 4096 * i);
	}
	vcon_chr_get_stats(g->chr[1], &st);
	assert_int_equal(st.tx_bytes, QSZ * 4096);
	assert_int_equal(st.tx_writes, 1);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, got, sizeof(got)), sizeof(got));
	close(fd);
	unlink(path);
	for (i = 0; i < sizeof(got); i++)
		if (got[i] != pattern(i))
			fail_msg("byte %zu is wrong", i);
	guest_free(g);
}

/*
 * Batches that the backend takes in part, buffers of every size, a slow
 * reader: one stream, in order, and every buffer comes back once all its
 * bytes went, with a 4 KiB backend buffer.
 */
static void
test_batched_output_in_order_under_back_pressure(void **state)
{
	static const uint32_t sizes[] = { 1, 700, 4096, 65536, 13, 32768, 2 };
	static uint8_t buf[65536];
	const size_t total = 6u << 20;
	struct guest *g = guest_new(",buffer=4096,policy=block");
	struct vcon_vserial_port_stats st;
	uint64_t slot[QSZ], gpa;
	size_t sent = 0, got = 0, k, reads = 0;
	uint32_t len, n;
	unsigned i, out = 0, sz = 0;
	ssize_t r;

	(void)state;
	bring_up(g);
	assert_int_equal(fcntl(g->peer[1], F_SETFL, O_NONBLOCK), 0);
	for (i = 0; i < QSZ; i++)
		slot[i] = alloc(g, 65536);
	while (got < total) {
		/*
		 * Fill every buffer the guest has back, then one kick. They
		 * come back in order, so the next free one is the oldest.
		 */
		while (out < QSZ && sent < total) {
			uint64_t at = slot[g->q[5].avail_idx % QSZ];

			n = sizes[sz++ % (sizeof(sizes) / sizeof(sizes[0]))];
			if (n > total - sent)
				n = (uint32_t)(total - sent);
			for (k = 0; k < n; k++)
				g->ram.base[at + k] = pattern(sent + k);
			add_buf(g, 5, at, n, false);
			sent += n;
			out++;
		}
		mw(g, OFF_NOTIFY + 4 * 5, 2, 5);
		r = read(g->peer[1], buf, ++reads % 3 ? 1000 : sizeof(buf));
		if (r > 0) {
			for (k = 0; k < (size_t)r; k++)
				if (buf[k] != pattern(got + k))
					fail_msg("byte %zu is wrong", got + k);
			got += (size_t)r;
		} else {
			assert_true(r < 0 && errno == EAGAIN);
			usleep(200);
		}
		while (take_used(g, 5, &gpa, &len)) {
			assert_true(out > 0);
			out--;
		}
	}
	while (out && wait_used(g, 5, &gpa, &len))
		out--;
	assert_int_equal(out, 0);
	assert_int_equal(vcon_virtio_serial_port_stats(g->vs, 1, &st), 0);
	assert_int_equal(st.tx_bytes, total);
	assert_int_equal(st.tx_dropped, 0);
	guest_free(g);
}

static void
test_console_stall_is_bounded(void **state)
{
	struct guest *g;
	struct vcon_vserial_port_stats st;
	static uint8_t fill[1 << 20];
	uint64_t a, gpa;
	uint32_t len;
	struct timespec t0, t1;

	(void)state;
	g = guest_new(",buffer=4096,policy=block");
	assert_int_equal(add(g, 0, true, NULL, -1), 0);
	driver_init(g, true);
	post_ctrl_buffers(g, 8);
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	send_ctrl(g, 0, PORT_READY, 1);
	/* Nobody reads the console's peer. */
	a = alloc(g, sizeof(fill));
	memset(g->ram.base + a, 'x', sizeof(fill));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	post(g, 1, a, sizeof(fill), false);
	/* hvc would spin here: the buffer must come back, soon. */
	assert_true(wait_used(g, 1, &gpa, &len));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* One stall of VCON_VSERIAL_CONSOLE_STALL_NS, not one per chunk. */
	assert_true(t1.tv_sec - t0.tv_sec < 3);
	assert_int_equal(vcon_virtio_serial_port_stats(g->vs, 0, &st), 0);
	assert_true(st.tx_dropped > 0);
	assert_int_equal(st.tx_dropped + st.tx_bytes, sizeof(fill));
	guest_free(g);
}

static void
test_port_output_waits_for_a_peer(void **state)
{
	struct guest *g = guest_new("");
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vcon_error err;
	char spec[200], got[16] = "";
	uint64_t a = 0, gpa;
	uint32_t len;
	int fd;

	(void)state;
	/* Port 1 on a socket server nobody has connected to yet. */
	vcon_chr_free(g->chr[1]);
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/vs-%d.sock",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", (int)getpid());
	snprintf(spec, sizeof(spec), "socket,id=s,path=%s,server=on,wait=off",
		 sun.sun_path);
	assert_int_equal(vcon_chr_new(g->loop, spec, &g->chr[1], &err), 0);
	assert_int_equal(add(g, 0, true, NULL, -1), 0);
	assert_int_equal(add(g, 1, false, "a", -1), 1);
	driver_init(g, true);
	post_ctrl_buffers(g, 8);
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	expect_ctrl(g, 0, PORT_ADD, 1);
	expect_ctrl(g, 1, PORT_ADD, 1);
	send_ctrl(g, 1, PORT_READY, 1);
	expect_ctrl(g, 1, PORT_NAME, 1);
	/* No PORT_OPEN: the host side is not there. Output waits. */
	a = alloc(g, 64);
	memcpy(g->ram.base + a, "held", 4);
	post(g, 5, a, 4, false);
	usleep(100000);
	assert_false(take_used(g, 5, &gpa, &len));
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	/* The client came: PORT_OPEN 1, and the held buffer goes to it. */
	assert_true(wait_used(g, 5, &gpa, &len));
	expect_ctrl(g, 1, PORT_OPEN, 1);
	assert_int_equal(read(fd, got, sizeof(got)), 4);
	assert_memory_equal(got, "held", 4);
	close(fd);
	unlink(sun.sun_path);
	guest_free(g);
}

/* The next RESIZE among the control messages: cols, rows. */
static bool
next_resize(struct guest *g, uint16_t *cols, uint16_t *rows)
{
	struct ctrl c;
	int i;

	for (i = 0; i < 300; i++) {
		if (!recv_ctrl(g, &c)) {
			usleep(10000);
			continue;
		}
		if (c.event != RESIZE)
			continue;
		assert_int_equal(c.id, 0);
		assert_int_equal(c.len, 12);
		/* cols first, as Linux reads it */
		memcpy(cols, c.extra, 2);
		memcpy(rows, c.extra + 2, 2);
		return true;
	}
	return false;
}

static void
test_console_follows_the_window_size(void **state)
{
	struct guest *g = guest_new("");
	struct winsize ws = { .ws_row = 25, .ws_col = 90 };
	struct vcon_error err;
	uint16_t cols, rows;
	int slave;

	(void)state;
	/* A console on a pty whose user has a 90x25 window. */
	vcon_chr_free(g->chr[0]);
	assert_int_equal(vcon_chr_new(g->loop, "pty,id=p", &g->chr[0], &err),
			 0);
	slave = open(vcon_chr_pty_name(g->chr[0]), O_RDWR | O_NOCTTY);
	assert_true(slave >= 0);
	assert_int_equal(ioctl(slave, TIOCSWINSZ, &ws), 0);
	assert_int_equal(add(g, 0, true, NULL, -1), 0);
	driver_init(g, true);
	post_ctrl_buffers(g, 8);
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	send_ctrl(g, 0, PORT_READY, 1);
	assert_true(next_resize(g, &cols, &rows));
	assert_int_equal(cols, 90);
	assert_int_equal(rows, 25);
	/* Port 0's size is in the config space too. */
	assert_int_equal(mr(g, OFF_DEVICE, 2), 90);
	assert_int_equal(mr(g, OFF_DEVICE + 2, 2), 25);
	/* The window changes; the VMM (or stdio's SIGWINCH) says so. */
	ws = (struct winsize){ .ws_row = 50, .ws_col = 160 };
	assert_int_equal(ioctl(slave, TIOCSWINSZ, &ws), 0);
	vcon_chr_notify_resize(g->chr[0]);
	assert_true(next_resize(g, &cols, &rows));
	assert_int_equal(cols, 160);
	assert_int_equal(rows, 50);
	close(slave);
	guest_free(g);
}

/*
 * With the VMM's ioeventfd, kicks are eventfd writes the loop thread
 * handles: registered where BAR 1's notify registers are once memory
 * decoding is on, moved with the BAR, and working end to end.
 */
static void
test_doorbells_follow_the_bar(void **state)
{
	struct guest *g;
	uint64_t a, gpa, one = 1;
	uint32_t len;
	char got[16] = "";
	unsigned q;

	(void)state;
	want_doorbells = true;
	g = guest_new("");
	want_doorbells = false;
	assert_int_equal(add(g, 0, true, NULL, -1), 0);
	assert_int_equal(add(g, 1, false, "a", -1), 1);
	for (q = 0; q < NQ; q++)
		assert_int_equal(g->bell_addr[q],
				 VCON_PCI_MMIO_BASE + 0x3000 + 4 * q);
	/* Decoding off: no doorbells. Moved: they follow. */
	cfg_write(g, 1, 0x04, 2, 0);
	assert_int_equal(g->bell_fd[5], -1);
	cfg_write(g, 1, 0x14, 4, VCON_PCI_MMIO_BASE + 0x10000);
	g->bar1 = VCON_PCI_MMIO_BASE + 0x10000;
	cfg_write(g, 1, 0x04, 2, 6);
	assert_int_equal(g->bell_addr[5], g->bar1 + 0x3000 + 4 * 5);
	driver_init(g, true);
	post_ctrl_buffers(g, 8);
	send_ctrl(g, 0xffffffffu, DEVICE_READY, 1);
	send_ctrl(g, 1, PORT_READY, 1);
	/* A buffer on port 1's transmit queue, kicked as KVM would. */
	a = alloc(g, 64);
	memcpy(g->ram.base + a, "rang", 4);
	add_buf(g, 5, a, 4, false);
	assert_int_equal(write(g->bell_fd[5], &one, 8), 8);
	assert_true(wait_used(g, 5, &gpa, &len));
	assert_int_equal(read(g->peer[1], got, sizeof(got)), 4);
	assert_memory_equal(got, "rang", 4);
	guest_free(g);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pci_identity_caps_and_bars),
		cmocka_unit_test(test_pci_cfg_window_and_legacy_bar),
		cmocka_unit_test(test_handshake_names_and_guest_open_close),
		cmocka_unit_test(test_data_both_ways),
		cmocka_unit_test(test_guest_kicks_only_when_asked),
		cmocka_unit_test(test_rx_kicks_only_when_starved),
		cmocka_unit_test(test_rx_bulk_kicks_per_many_buffers),
		cmocka_unit_test(test_rx_late_kick_has_a_fallback),
		cmocka_unit_test(test_msix_vectors),
		cmocka_unit_test(test_host_input_waits_for_guest_buffers),
		cmocka_unit_test(test_control_messages_wait_for_buffers),
		cmocka_unit_test(test_hot_add_and_remove),
		cmocka_unit_test(test_hostile_chain_breaks_only_this_device),
		cmocka_unit_test(test_output_back_pressure_holds_guest_buffers),
		cmocka_unit_test(test_output_is_batched),
		cmocka_unit_test(test_batched_output_in_order_under_back_pressure),
		cmocka_unit_test(test_console_stall_is_bounded),
		cmocka_unit_test(test_port_output_waits_for_a_peer),
		cmocka_unit_test(test_console_follows_the_window_size),
		cmocka_unit_test(test_doorbells_follow_the_bar),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
