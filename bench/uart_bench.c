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
 * bench/superio prints the same lines for rust-vmm's vm-superio, and
 * bench/uart_compare prints the ratios.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/uart.h>

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

static void
polled_tx(struct vcon_uart *u, const uint8_t *data, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		while (!(vcon_uart_read(u, 5, 0) & 0x20))
			;
		vcon_uart_write(u, 0, data[i], 0);
	}
	(void)vcon_uart_read(u, 5, 0);
}

static void
irq_tx(struct vcon_uart *u, const uint8_t *data, size_t n)
{
	size_t i = 0, k;

	vcon_uart_write(u, 1, 0x02, 0);
	while (i < n) {
		(void)vcon_uart_read(u, 2, 0);
		if (!(vcon_uart_read(u, 5, 0) & 0x20))
			continue;
		for (k = 0; k < 16 && i < n; k++)
			vcon_uart_write(u, 0, data[i++], 0);
	}
	(void)vcon_uart_read(u, 5, 0);
	vcon_uart_write(u, 1, 0x00, 0);
}

static uint64_t
rx(struct vcon_uart *u, const uint8_t *data, size_t n, uint8_t *out)
{
	uint64_t sum = 0;
	size_t i = 0, o = 0, chunk;

	while (i < n) {
		chunk = n - i < 64 ? n - i : 64;
		i += vcon_uart_receive(u, data + i, chunk, 0);
		while (vcon_uart_read(u, 5, 0) & 0x01) {
			uint8_t b = vcon_uart_read(u, 0, 0);

			sum += b;
			if (out)
				out[o++] = b;
		}
	}
	return sum;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

enum which { POLLED, IRQ, RX };
static const char *const names[] = { "polled_tx", "irq_tx", "rx" };

static void
run_case(enum which w, size_t n, int reps)
{
	uint8_t *data = __libc_malloc(n), *got = __libc_malloc(n);
	uint64_t t[16], expect_sum = 0, rx_sum = 0;
	struct sink s = { 0 };
	struct vcon_uart *u;
	size_t i, before, allocs;
	int r;

	for (i = 0; i < n; i++) {
		data[i] = (uint8_t)(i * 131 + (i >> 8));
		expect_sum += data[i];
	}
	/* Correctness first: every byte, in order. */
	s.rec = got;
	u = new_uart(&s);
	if (w == POLLED)
		polled_tx(u, data, n);
	else if (w == IRQ)
		irq_tx(u, data, n);
	else
		rx(u, data, n, got);
	if ((w != RX && s.n != n) || memcmp(got, data, n)) {
		fprintf(stderr, "uart_bench: %s: bytes lost or changed\n",
			names[w]);
		exit(1);
	}
	vcon_uart_free(u);

	memset(&s, 0, sizeof(s));
	u = new_uart(&s);
	before = nmallocs;
	for (r = -1; r < reps; r++) { /* r = -1 warms up */
		uint64_t t0 = vcon_now_ns();

		if (w == POLLED)
			polled_tx(u, data, n);
		else if (w == IRQ)
			irq_tx(u, data, n);
		else
			rx_sum += rx(u, data, n, NULL);
		if (r >= 0)
			t[r] = vcon_now_ns() - t0;
	}
	if (w != RX && s.sum != expect_sum * (uint64_t)(reps + 1)) {
		fprintf(stderr, "uart_bench: %s: checksum mismatch\n", names[w]);
		exit(1);
	}
	if (w == RX && rx_sum != expect_sum * (uint64_t)(reps + 1)) {
		fprintf(stderr, "uart_bench: rx: checksum mismatch\n");
		exit(1);
	}
	allocs = nmallocs - before; /* before printf, which allocates */
	qsort(t, (size_t)reps, sizeof(t[0]), cmp_u64);
	printf("case=%s impl=libvcon ns_per_byte=%.3f min_ns_per_byte=%.3f "
	       "bytes_per_s=%.3g sink_calls_per_byte=%.4f mallocs=%zu\n",
	       names[w], (double)t[reps / 2] / (double)n,
	       (double)t[0] / (double)n,
	       (double)n * 1e9 / (double)t[reps / 2],
	       w == RX ? 0.0 : (double)s.calls / ((double)n * (reps + 1)),
	       allocs);
	if (allocs) {
		fprintf(stderr, "uart_bench: %s allocated on its hot path\n",
			names[w]);
		exit(1);
	}
	vcon_uart_free(u);
	free(data);
	free(got);
}

int
main(int argc, char **argv)
{
	bool smoke = argc > 1 && !strcmp(argv[1], "--smoke");
	size_t n = smoke ? 4096 : (size_t)1 << 22;
	int reps = smoke ? 1 : 7;

	run_case(POLLED, n, reps);
	run_case(IRQ, n, reps);
	run_case(RX, n, reps);
	return 0;
}
