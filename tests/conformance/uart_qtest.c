/* SPDX-License-Identifier: MIT */
/*
 * uart-qtest: libvcon's UART behind QEMU's qtest line protocol, so the
 * same command stream can drive QEMU's 16550 and ours and the answers can
 * be compared (tests/conformance/uart_qcompare.c). One UART sits at
 * 0x3f8-0x3ff on IRQ 4; the clock starts at 0 and moves only on
 * clock_step, so every run is deterministic.
 *
 * Commands, as QEMU answers them:
 *   outb ADDR VAL            -> OK
 *   inb ADDR                 -> OK 0x00NN   (unclaimed ports read 0x00ff)
 *   irq_intercept_in ioapic  -> OK; from then on "IRQ raise 4" and
 *                               "IRQ lower 4" on each change of the line,
 *                               printed before the reply of the command
 *                               that caused it, as QEMU does
 * libvcon only:
 *   rx HEX...                -> OK N        bytes offered, N taken
 *   rx_force HEX...          -> OK          offered as a line would (overrun)
 *   break                    -> OK          host sends a break
 *   modem LINES              -> OK          host modem lines (CTS 1 DSR 2 RI 4 DCD 8)
 *   clock_step NS            -> OK NOW      advance time; ticks when due
 *   tx                       -> OK HEX      bytes the sink took since last tx
 *   sink N                   -> OK          sink takes at most N per call
 *                                           (-1: all); then tx_ready
 *   stats                    -> OK tx=.. dropped=.. rx=.. overruns=..
 * Anything else answers "FAIL unknown command".
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/uart.h>

struct harness {
	struct vcon_uart *u;
	bool intercept;
	uint64_t now;
	uint64_t deadline;
	size_t sink_limit;
	uint8_t out[1 << 16];
	size_t nout;
};

static void
set_level(void *ctx, bool level)
{
	struct harness *h = ctx;

	if (h->intercept)
		printf("IRQ %s 4\n", level ? "raise" : "lower");
}

static size_t
sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct harness *h = ctx;

	if (len > h->sink_limit)
		len = h->sink_limit;
	if (len > sizeof(h->out) - h->nout)
		len = sizeof(h->out) - h->nout;
	memcpy(h->out + h->nout, buf, len);
	h->nout += len;
	return len;
}

static void
timer_arm(void *ctx, uint64_t deadline)
{
	struct harness *h = ctx;

	h->deadline = deadline;
}

static bool
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (!s)
		return false;
	errno = 0;
	*v = strtoull(s, &end, 0);
	return !errno && end != s && *end == '\0';
}

static size_t
parse_hex_bytes(char *args, uint8_t *buf, size_t cap)
{
	size_t n = 0;
	char *tok, *save = NULL;

	for (tok = strtok_r(args, " \t", &save); tok && n < cap;
	     tok = strtok_r(NULL, " \t", &save))
		buf[n++] = (uint8_t)strtoul(tok, NULL, 16);
	return n;
}

static void
command(struct harness *h, char *line)
{
	char *save = NULL;
	char *cmd = strtok_r(line, " \t", &save);
	char *a1, *rest;
	uint64_t addr, val;
	uint8_t buf[256];
	size_t n, i;

	if (!cmd) {
		return;
	} else if (!strcmp(cmd, "outb") || !strcmp(cmd, "inb")) {
		a1 = strtok_r(NULL, " \t", &save);
		if (!parse_u64(a1, &addr)) {
			printf("FAIL bad address\n");
			return;
		}
		if (cmd[0] == 'o') {
			if (!parse_u64(strtok_r(NULL, " \t", &save), &val)) {
				printf("FAIL bad value\n");
				return;
			}
			if (addr >= VCON_COM1_BASE &&
			    addr < VCON_COM1_BASE + VCON_UART_NREGS)
				vcon_uart_write(h->u,
						(unsigned)(addr - VCON_COM1_BASE),
						(uint8_t)val, h->now);
			printf("OK\n");
		} else {
			val = 0xff;
			if (addr >= VCON_COM1_BASE &&
			    addr < VCON_COM1_BASE + VCON_UART_NREGS)
				val = vcon_uart_read(
					h->u, (unsigned)(addr - VCON_COM1_BASE),
					h->now);
			printf("OK 0x%04x\n", (unsigned)val);
		}
	} else if (!strcmp(cmd, "irq_intercept_in")) {
		h->intercept = true;
		printf("OK\n");
	} else if (!strcmp(cmd, "rx") || !strcmp(cmd, "rx_force")) {
		rest = strtok_r(NULL, "", &save);
		n = rest ? parse_hex_bytes(rest, buf, sizeof(buf)) : 0;
		if (cmd[2] == '\0')
			printf("OK %zu\n",
			       vcon_uart_receive(h->u, buf, n, h->now));
		else {
			vcon_uart_receive_force(h->u, buf, n, h->now);
			printf("OK\n");
		}
	} else if (!strcmp(cmd, "break")) {
		vcon_uart_send_break(h->u, h->now);
		printf("OK\n");
	} else if (!strcmp(cmd, "modem")) {
		if (!parse_u64(strtok_r(NULL, " \t", &save), &val)) {
			printf("FAIL bad lines\n");
			return;
		}
		vcon_uart_set_modem_lines(h->u, (unsigned)val, h->now);
		printf("OK\n");
	} else if (!strcmp(cmd, "clock_step")) {
		if (!parse_u64(strtok_r(NULL, " \t", &save), &val)) {
			printf("FAIL bad step\n");
			return;
		}
		h->now += val;
		if (h->now >= h->deadline) {
			h->deadline = VCON_NO_DEADLINE;
			vcon_uart_tick(h->u, h->now);
		}
		printf("OK %llu\n", (unsigned long long)h->now);
	} else if (!strcmp(cmd, "tx")) {
		printf("OK ");
		for (i = 0; i < h->nout; i++)
			printf("%02x", h->out[i]);
		printf("\n");
		h->nout = 0;
	} else if (!strcmp(cmd, "sink")) {
		a1 = strtok_r(NULL, " \t", &save);
		if (a1 && !strcmp(a1, "-1"))
			h->sink_limit = SIZE_MAX;
		else if (parse_u64(a1, &val))
			h->sink_limit = (size_t)val;
		else {
			printf("FAIL bad limit\n");
			return;
		}
		vcon_uart_tx_ready(h->u, h->now);
		printf("OK\n");
	} else if (!strcmp(cmd, "stats")) {
		struct vcon_uart_stats st;

		vcon_uart_get_stats(h->u, &st);
		printf("OK tx=%llu dropped=%llu rx=%llu overruns=%llu\n",
		       (unsigned long long)st.tx_bytes,
		       (unsigned long long)st.tx_dropped,
		       (unsigned long long)st.rx_bytes,
		       (unsigned long long)st.rx_overruns);
	} else {
		printf("FAIL unknown command\n");
	}
}

int
main(void)
{
	static struct harness h;
	struct vcon_uart_config cfg = {
		.irq = { .set_level = set_level, .ctx = &h },
		.tx = { .write = sink_write, .ctx = &h },
		.timer = { .arm = timer_arm, .ctx = &h },
	};
	char line[4096];

	h.sink_limit = SIZE_MAX;
	h.deadline = VCON_NO_DEADLINE;
	if (vcon_uart_new(&cfg, &h.u)) {
		fprintf(stderr, "uart-qtest: cannot create the UART\n");
		return 1;
	}
	while (fgets(line, sizeof(line), stdin)) {
		line[strcspn(line, "\r\n")] = '\0';
		command(&h, line);
		fflush(stdout);
	}
	vcon_uart_free(h.u);
	return 0;
}
