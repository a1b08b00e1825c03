/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the UART model: the input is a program of guest
 * register accesses, host input, breaks, modem changes, sink behaviour,
 * time steps, resets and save/restore round trips. After every operation
 * the public view must stay consistent; any violation traps.
 *
 * Invariants checked:
 *  - the level seen through the irq callback equals vcon_uart_irq_level,
 *    and the callback is only called on a change;
 *  - FIFO counts stay within the configured depth, rx_room matches them;
 *  - no byte is invented, lost or reordered on transmit: the bytes the
 *    sink took are exactly the THR bytes written outside loopback, in
 *    order, minus those still held and those counted as dropped;
 *  - restore accepts a state just saved and rejects a bad version;
 *  - a twin built with no inline accesses (tests/lib/uart_ref.c) gets
 *    every operation too and answers every read the same, with the same
 *    state, counters, interrupt level, timer deadline and sink bytes,
 *    while the fuzzed UART is reached through vcon_uart_read/write or,
 *    as bindings do, the _call functions: the inline paths of
 *    <vcon/uart.h> do exactly what the general path does.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/uart.h>

#include "uart_ref.h"

#include "fuzz.h"

#define LOG_MAX 4096

struct fz {
	struct vcon_uart *u;
	unsigned fifo_size;
	bool level;
	size_t take;  /* sink takes at most this many per call */
	uint64_t now, deadline;
	/* transmit accounting */
	uint8_t sent[LOG_MAX];  /* THR bytes written outside loopback */
	size_t nsent;
	uint8_t got[LOG_MAX];   /* bytes the sink took */
	size_t ngot;
	bool overflow;          /* logs full: stop comparing */
	size_t discarded;       /* held bytes a TX FIFO reset threw away */
	uint8_t lcr, mcr;       /* shadow of what we wrote */
};

/* The twin: the reference build, with no inline accesses. */
struct twin {
	struct fz *f;           /* for the sink's take */
	struct vcon_uart *u;
	bool level;
	uint64_t deadline;
	uint8_t got[LOG_MAX];
	size_t ngot;
};

static void
twin_level(void *ctx, bool level)
{
	struct twin *t = ctx;

	check(level != t->level);
	t->level = level;
}

static size_t
twin_sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct twin *t = ctx;

	if (len > t->f->take)
		len = t->f->take;
	if (t->ngot + len <= LOG_MAX) {
		memcpy(t->got + t->ngot, buf, len);
		t->ngot += len;
	}
	return len;
}

static void
twin_arm(void *ctx, uint64_t deadline)
{
	struct twin *t = ctx;

	t->deadline = deadline;
}

static void
make_twin(struct twin *t, struct fz *f)
{
	struct vcon_uart_config cfg = {
		.fifo_size = f->fifo_size,
		.irq = { .set_level = twin_level, .ctx = t },
		.tx = { .write = twin_sink, .ctx = t },
		.timer = { .arm = twin_arm, .ctx = t },
	};

	ref_uart_free(t->u);
	memset(t, 0, sizeof(*t));
	t->f = f;
	t->deadline = VCON_NO_DEADLINE;
	check(ref_uart_new(&cfg, &t->u) == 0);
}

static void
same_as_twin(const struct fz *f, const struct twin *t)
{
	struct vcon_uart_state a, b;
	struct vcon_uart_stats sa, sb;

	check(t->level == f->level);
	check(t->deadline == f->deadline);
	vcon_uart_save(f->u, &a);
	ref_uart_save(t->u, &b);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	vcon_uart_get_stats(f->u, &sa);
	ref_uart_get_stats(t->u, &sb);
	check(memcmp(&sa, &sb, sizeof(sa)) == 0);
	check(vcon_uart_rx_room(f->u) == ref_uart_rx_room(t->u));
	if (!f->overflow && t->ngot == f->ngot)
		check(memcmp(t->got, f->got, f->ngot) == 0);
	else if (!f->overflow)
		check(0);
}

static void
set_level(void *ctx, bool level)
{
	struct fz *f = ctx;

	check(level != f->level);
	f->level = level;
}

static size_t
sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct fz *f = ctx;

	if (len > f->take)
		len = f->take;
	if (f->ngot + len > LOG_MAX) {
		f->overflow = true;
		return len;
	}
	memcpy(f->got + f->ngot, buf, len);
	f->ngot += len;
	return len;
}

static void
arm(void *ctx, uint64_t deadline)
{
	struct fz *f = ctx;

	f->deadline = deadline;
}

static void
make_uart(struct fz *f, unsigned fifo_size)
{
	struct vcon_uart_config cfg = {
		.fifo_size = fifo_size,
		.irq = { .set_level = set_level, .ctx = f },
		.tx = { .write = sink, .ctx = f },
		.timer = { .arm = arm, .ctx = f },
	};

	vcon_uart_free(f->u);
	memset(f, 0, sizeof(*f));
	f->fifo_size = fifo_size;
	f->take = SIZE_MAX;
	f->deadline = VCON_NO_DEADLINE;
	check(vcon_uart_new(&cfg, &f->u) == 0);
}

static void
invariants(struct fz *f)
{
	struct vcon_uart_state st;
	struct vcon_uart_stats stats;
	size_t held;

	check(vcon_uart_irq_level(f->u) == f->level);
	vcon_uart_save(f->u, &st);
	check(st.rx_count <= f->fifo_size);
	/* A polled console's bursts may fill the ring, never more. */
	check(st.tx_count <= VCON_UART_RING);
	check(vcon_uart_rx_room(f->u) + st.rx_count <= f->fifo_size);
	if (f->overflow)
		return;
	vcon_uart_get_stats(f->u, &stats);
	check(stats.tx_bytes == f->ngot);
	/* Every THR byte is taken, dropped (counted), held or reset away. */
	held = st.tx_count;
	check(f->nsent == f->ngot + stats.tx_dropped + held + f->discarded);
	/* Without drops or resets, the sink saw exactly what was written. */
	if (stats.tx_dropped == 0 && f->discarded == 0)
		check(memcmp(f->got, f->sent, f->ngot) == 0);
}

/* A TX FIFO reset (FCR) may discard held bytes: the guest asked for it. */
static void
account_fcr(struct fz *f)
{
	struct vcon_uart_state st;
	struct vcon_uart_stats stats;

	vcon_uart_save(f->u, &st);
	vcon_uart_get_stats(f->u, &stats);
	f->discarded = f->nsent - f->ngot - (size_t)stats.tx_dropped -
		       st.tx_count;
}

static uint8_t
next(const uint8_t **p, const uint8_t *end)
{
	return *p < end ? *(*p)++ : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fz f;
	static struct twin t;
	const uint8_t *p = data, *end = data + size;
	uint8_t buf[80];
	struct vcon_uart_state st;

	f.u = NULL;
	t.u = NULL;
	make_uart(&f, (size && (data[0] & 1)) ? 64 : 16);
	make_twin(&t, &f);
	while (p < end) {
		uint8_t op = next(&p, end), a = next(&p, end);
		unsigned off = a & 7, n, i;
		uint8_t val;

		switch (op % 14) {
		case 0:
		case 1:
		case 2:
			/* off's high bits too: both must ignore them */
			check((op & 0x80 ? vcon_uart_read_call(f.u, a, f.now)
					 : vcon_uart_read(f.u, a, f.now)) ==
			      ref_uart_read_call(t.u, a, f.now));
			break;
		case 3:
		case 4:
		case 5:
			val = next(&p, end);
			if (off == 0 && !(f.lcr & 0x80) && !(f.mcr & 0x10) &&
			    !f.overflow) {
				if (f.nsent < LOG_MAX)
					f.sent[f.nsent++] = val;
				else
					f.overflow = true;
			}
			if (off == 3)
				f.lcr = val;
			if (off == 4) {
				/* Loopback swallows bytes: stop exact accounting. */
				if ((val ^ f.mcr) & 0x10)
					f.overflow = true;
				f.mcr = val;
			}
			if (op & 0x80)
				vcon_uart_write_call(f.u, a, val, f.now);
			else
				vcon_uart_write(f.u, a, val, f.now);
			ref_uart_write_call(t.u, a, val, f.now);
			if (off == 2 && !f.overflow)
				account_fcr(&f);
			break;
		case 6:
			n = a % sizeof(buf);
			for (i = 0; i < n; i++)
				buf[i] = next(&p, end);
			check(vcon_uart_receive(f.u, buf, n, f.now) <= n);
			(void)ref_uart_receive(t.u, buf, n, f.now);
			break;
		case 7:
			n = a % sizeof(buf);
			for (i = 0; i < n; i++)
				buf[i] = next(&p, end);
			(void)vcon_uart_receive_force(f.u, buf, n, f.now);
			(void)ref_uart_receive_force(t.u, buf, n, f.now);
			break;
		case 8:
			vcon_uart_send_break(f.u, f.now);
			ref_uart_send_break(t.u, f.now);
			break;
		case 9:
			vcon_uart_set_modem_lines(f.u, a & 0xf, f.now);
			ref_uart_set_modem_lines(t.u, a & 0xf, f.now);
			break;
		case 10:
			f.take = a < 128 ? SIZE_MAX : (size_t)(a & 7);
			if (a & 0x40) { /* the VMM stops: the held burst leaves */
				vcon_uart_flush(f.u, f.now);
				ref_uart_flush(t.u, f.now);
			} else {
				vcon_uart_tx_ready(f.u, f.now);
				ref_uart_tx_ready(t.u, f.now);
			}
			break;
		case 11:
			f.now += (uint64_t)a * 50000u;
			if (f.now >= f.deadline) {
				f.deadline = t.deadline = VCON_NO_DEADLINE;
				vcon_uart_tick(f.u, f.now);
				ref_uart_tick(t.u, f.now);
			}
			break;
		case 12:
			vcon_uart_save(f.u, &st);
			check(vcon_uart_restore(f.u, &st, f.now) == 0);
			st.version++;
			check(vcon_uart_restore(f.u, &st, f.now) < 0);
			ref_uart_save(t.u, &st);
			check(ref_uart_restore(t.u, &st, f.now) == 0);
			/* A restore forgets the sink's refusal and retries. */
			break;
		case 13:
			vcon_uart_reset(f.u, f.now);
			ref_uart_reset(t.u, f.now);
			f.lcr = f.mcr = 0;
			f.overflow = true; /* reset discards held bytes */
			break;
		}
		invariants(&f);
		same_as_twin(&f, &t);
	}
	vcon_uart_free(f.u);
	ref_uart_free(t.u);
	f.u = NULL;
	t.u = NULL;
	return 0;
}
