/* SPDX-License-Identifier: MIT */
/*
 * uart_bench: the UART model's own cost on the three paths a Linux guest
 * drives, with a no-op interrupt line and a sink that takes everything.
 *
 *   polled_tx  serial8250_console_write: LSR until THRE, then THR, per byte
 *   irq_tx     the THRE interrupt handler: IIR, LSR, then 16 THR writes
 *   rx         host offers up to 64 bytes; the guest reads LSR and RBR per
 *              byte until DR clears
 *
 * Each case first checks that every byte arrives intact and in order, then
 * times repetitions with CLOCK_MONOTONIC and prints one line:
 *   case=polled_tx impl=libvcon ns_per_byte=.. min_ns_per_byte=..
 *   bytes_per_s=.. sink_calls_per_byte=.. mallocs=0
 * --smoke runs tiny sizes (make check); it never judges the times.
 * Each case runs on libvcon (vcon_uart_read/write, inline where they can
 * be), on impl=call (the same model through vcon_uart_read_call/
 * write_call only, as bindings from other languages reach it), and on
 * impl=floor (uart_floor.c), the least a model behind out-of-line calls
 * could do, for the cost of the calls.
 * bench/superio prints the same lines for rust-vmm's vm-superio, and
 * bench/uart_compare prints the ratios.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/uart.h>

#include "uart_floor.h"

/* Count allocations made while the timed loops run: there must be none. */
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
static size_t nmallocs;

void *malloc(size_t size);
void *calloc(size_t n, size_t size);
void *realloc(void *p, size_t size);

void *
malloc(size_t size)
{
	nmallocs++;
	return __libc_malloc(size);
}

void *
calloc(size_t n, size_t size)
{
	nmallocs++;
	return __libc_calloc(n, size);
}

void *
realloc(void *p, size_t size)
{
	nmallocs++;
	return __libc_realloc(p, size);
}

struct sink {
	uint64_t sum, n, calls;
	uint8_t *rec; /* when set, record bytes (correctness pass) */
};

static size_t
sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct sink *s = ctx;
	size_t i;

	s->calls++;
	if (s->rec)
		memcpy(s->rec + s->n, buf, len);
	for (i = 0; i < len; i++)
		s->sum += buf[i];
	s->n += len;
	return len;
}

static void
irq_nop(void *ctx, bool level)
{
	(void)ctx;
	(void)level;
}

static void
timer_nop(void *ctx, uint64_t deadline)
{
	(void)ctx;
	(void)deadline;
}

static struct vcon_uart *
new_uart(struct sink *s)
{
	struct vcon_uart_config cfg = {
		.irq = { .set_level = irq_nop },
		.tx = { .write = sink_write, .ctx = s },
		.timer = { .arm = timer_nop },
	};
	struct vcon_uart *u;

	if (vcon_uart_new(&cfg, &u)) {
		fprintf(stderr, "uart_bench: cannot create a UART\n");
		exit(1);
	}
	/* 115200 8N1, FIFO on, as Linux leaves it */
	vcon_uart_write(u, 3, 0x83, 0);
	vcon_uart_write(u, 0, 0x01, 0);
	vcon_uart_write(u, 1, 0x00, 0);
	vcon_uart_write(u, 3, 0x03, 0);
	vcon_uart_write(u, 2, 0x87, 0);
	vcon_uart_write(u, 4, 0x0b, 0);
	return u;
}

#define MODEL struct vcon_uart
#define RD(u, off) vcon_uart_read(u, off, 0)
#define WR(u, off, val) vcon_uart_write(u, off, val, 0)
#define RECV(u, buf, len) vcon_uart_receive(u, buf, len, 0)
#define NAME(x) x##_libvcon
#include "uart_drivers.h"

/* The same model through the out-of-line calls, as other languages get it. */
#define MODEL struct vcon_uart
#define RD(u, off) vcon_uart_read_call(u, off, 0)
#define WR(u, off, val) vcon_uart_write_call(u, off, val, 0)
#define RECV(u, buf, len) vcon_uart_receive(u, buf, len, 0)
#define NAME(x) x##_call
#include "uart_drivers.h"

#define MODEL struct floor_uart
#define RD(u, off) floor_read(u, off)
#define WR(u, off, val) floor_write(u, off, val)
#define RECV(u, buf, len) floor_receive(u, buf, len)
#define NAME(x) x##_floor
#include "uart_drivers.h"

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

enum which { POLLED, IRQ, RX };
static const char *const names[] = { "polled_tx", "irq_tx", "rx" };

enum impl { LIBVCON, CALL, FLOOR };
static const char *const impls[] = { "libvcon", "call", "floor" };

struct model {
	enum impl impl;
	struct vcon_uart *u;
	struct floor_uart fl;
};

static void
model_init(struct model *m, enum impl impl, struct sink *s)
{
	memset(m, 0, sizeof(*m));
	m->impl = impl;
	if (impl != FLOOR) {
		m->u = new_uart(s);
	} else {
		m->fl.sink = sink_write;
		m->fl.sink_ctx = s;
	}
}

static void
model_fini(struct model *m)
{
	if (m->impl != FLOOR)
		vcon_uart_free(m->u);
}

/* One pass of case w over n bytes; returns what rx read, summed. */
static uint64_t
drive(struct model *m, enum which w, const uint8_t *data, size_t n,
      uint8_t *out)
{
	if (m->impl == LIBVCON) {
		if (w == POLLED)
			polled_tx_libvcon(m->u, data, n);
		else if (w == IRQ)
			irq_tx_libvcon(m->u, data, n);
		else
			return rx_libvcon(m->u, data, n, out);
	} else if (m->impl == CALL) {
		if (w == POLLED)
			polled_tx_call(m->u, data, n);
		else if (w == IRQ)
			irq_tx_call(m->u, data, n);
		else
			return rx_call(m->u, data, n, out);
	} else {
		if (w == POLLED)
			polled_tx_floor(&m->fl, data, n);
		else if (w == IRQ)
			irq_tx_floor(&m->fl, data, n);
		else
			return rx_floor(&m->fl, data, n, out);
	}
	/*
	 * A polled console's last burst waits for the next access (or a
	 * character time, but the bench's clock stands still): make one, in
	 * the timed loop, so that every byte reaches the sink.
	 */
	if (w == POLLED && m->impl != FLOOR)
		(void)vcon_uart_read_call(m->u, 6, 0);
	return 0;
}

static void
run_case(enum which w, enum impl impl, size_t n, int reps)
{
	uint8_t *data = __libc_malloc(n), *got = __libc_malloc(n);
	uint64_t t[16], expect_sum = 0, rx_sum = 0;
	struct sink s = { 0 };
	struct model m;
	size_t i, before, allocs;
	int r;

	for (i = 0; i < n; i++) {
		data[i] = (uint8_t)(i * 131 + (i >> 8));
		expect_sum += data[i];
	}
	/* Correctness first: every byte, in order. */
	s.rec = got;
	model_init(&m, impl, &s);
	(void)drive(&m, w, data, n, got);
	if ((w != RX && s.n != n) || memcmp(got, data, n)) {
		fprintf(stderr, "uart_bench: %s %s: bytes lost or changed\n",
			impls[impl], names[w]);
		exit(1);
	}
	model_fini(&m);

	memset(&s, 0, sizeof(s));
	model_init(&m, impl, &s);
	before = nmallocs;
	for (r = -1; r < reps; r++) { /* r = -1 warms up */
		uint64_t t0 = vcon_now_ns();

		rx_sum += drive(&m, w, data, n, NULL);
		if (r >= 0)
			t[r] = vcon_now_ns() - t0;
	}
	if ((w != RX ? s.sum : rx_sum) != expect_sum * (uint64_t)(reps + 1)) {
		fprintf(stderr, "uart_bench: %s %s: checksum mismatch\n",
			impls[impl], names[w]);
		exit(1);
	}
	allocs = nmallocs - before; /* before printf, which allocates */
	qsort(t, (size_t)reps, sizeof(t[0]), cmp_u64);
	printf("case=%s impl=%s ns_per_byte=%.3f min_ns_per_byte=%.3f "
	       "bytes_per_s=%.3g sink_calls_per_byte=%.4f mallocs=%zu\n",
	       names[w], impls[impl], (double)t[reps / 2] / (double)n,
	       (double)t[0] / (double)n,
	       (double)n * 1e9 / (double)t[reps / 2],
	       w == RX ? 0.0 : (double)s.calls / ((double)n * (reps + 1)),
	       allocs);
	if (allocs) {
		fprintf(stderr, "uart_bench: %s allocated on its hot path\n",
			names[w]);
		exit(1);
	}
	model_fini(&m);
	free(data);
	free(got);
}

int
main(int argc, char **argv)
{
	bool smoke = argc > 1 && !strcmp(argv[1], "--smoke");
	size_t n = smoke ? 4096 : (size_t)1 << 22;
	int reps = smoke ? 1 : 7;
	enum which w;

	for (w = POLLED; w <= RX; w++) {
		run_case(w, LIBVCON, n, reps);
		run_case(w, CALL, n, reps);
		run_case(w, FLOOR, n, reps);
	}
	return 0;
}
