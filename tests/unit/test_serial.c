/* SPDX-License-Identifier: MIT */
/*
 * The assembled COM port: a guest's register accesses on this thread, a
 * real socketpair as the host side, the loop on its own thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include <vcon/serial.h>

#define RBR 0
#define IER 1
#define FCR 2
#define LCR 3
#define LSR 5
#define LSR_DR 0x01
#define LSR_BI 0x10
#define LSR_THRE 0x20

struct irq_state {
	volatile int level;
};

static void
set_level(void *ctx, bool level)
{
	((struct irq_state *)ctx)->level = level;
}

struct port {
	struct vcon_loop *loop;
	struct vcon_chr *chr;
	struct vcon_serial *s;
	struct irq_state irq;
	int peer;
	int events[8];
};

static void
on_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct port *p = ctx;

	(void)arg;
	__atomic_add_fetch(&p->events[ev], 1, __ATOMIC_SEQ_CST);
}

static void
port_open(struct port *p, const char *extra)
{
	struct vcon_serial_config cfg = { 0 };
	struct vcon_error err;
	char spec[128];
	int sv[2];

	memset(p, 0, sizeof(*p));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->peer = sv[1];
	assert_int_equal(vcon_loop_new(&p->loop), 0);
	assert_int_equal(vcon_loop_start_thread(p->loop), 0);
	snprintf(spec, sizeof(spec), "fd,fd=%d%s", sv[0], extra);
	assert_int_equal(vcon_chr_new(p->loop, spec, &p->chr, &err), 0);
	cfg.irq = (struct vcon_irq){ set_level, &p->irq };
	cfg.loop = p->loop;
	cfg.chr = p->chr;
	cfg.event = on_event;
	cfg.event_ctx = p;
	assert_int_equal(vcon_serial_new(&cfg, &p->s), 0);
}

static void
port_close(struct port *p)
{
	vcon_serial_free(p->s);
	vcon_chr_free(p->chr);
	vcon_loop_stop(p->loop);
	vcon_loop_join(p->loop);
	vcon_loop_free(p->loop);
	close(p->peer);
}

/* What a driver's receive loop does: read RBR while LSR.DR. */
static size_t
guest_drain(struct port *p, uint8_t *buf, size_t max, uint8_t *lsr_seen)
{
	size_t n = 0;
	uint8_t lsr;

	while (n < max && ((lsr = vcon_serial_read(p->s, LSR)) & LSR_DR)) {
		*lsr_seen |= lsr;
		buf[n++] = vcon_serial_read(p->s, RBR);
	}
	return n;
}

static void
test_host_input_reaches_guest_in_order_without_loss(void **state)
{
	struct port p;
	uint8_t in[3000], got[3000], lsr = 0;
	size_t n = 0, i;
	int spins = 0;

	(void)state;
	port_open(&p, "");
	vcon_serial_write(p.s, FCR, 0x07); /* FIFO on, both reset */
	vcon_serial_write(p.s, IER, 0x01); /* RX data interrupt */
	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 7);
	/* Far more than the 16-byte FIFO holds: the rest must wait. */
	assert_int_equal(write(p.peer, in, sizeof(in)), (ssize_t)sizeof(in));
	while (n < sizeof(in) && spins < 20000) {
		size_t k = guest_drain(&p, got + n, sizeof(in) - n, &lsr);

		n += k;
		if (!k) {
			usleep(100);
			spins++;
		}
	}
	assert_int_equal(n, sizeof(in));
	assert_memory_equal(got, in, sizeof(in));
	assert_int_equal(lsr & 0x02, 0); /* never an overrun */
	port_close(&p);
}

/* What Linux's polled console does: LSR until THRE, then THR. */
static void
guest_print(struct port *p, const char *msg)
{
	size_t i;

	for (i = 0; msg[i]; i++) {
		while (!(vcon_serial_read(p->s, LSR) & LSR_THRE))
			usleep(10);
		vcon_serial_write(p->s, RBR, (uint8_t)msg[i]);
	}
}

/* The host side must read exactly msg, within seconds. */
static void
host_expect(struct port *p, const char *msg)
{
	struct pollfd pfd = { .fd = p->peer, .events = POLLIN };
	size_t got = 0, len = strlen(msg);
	char buf[64];
	ssize_t n;

	assert_true(len <= sizeof(buf));
	while (got < len && poll(&pfd, 1, 5000) == 1) {
		n = read(p->peer, buf + got, sizeof(buf) - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	assert_int_equal(got, len);
	assert_memory_equal(buf, msg, got);
}

static void
test_guest_output_reaches_host(void **state)
{
	struct port p;

	(void)state;
	port_open(&p, "");
	vcon_serial_write(p.s, FCR, 0x07);
	guest_print(&p, "Linux version 6.1\r\n");
	host_expect(&p, "Linux version 6.1\r\n");
	port_close(&p);
}

/*
 * The guest's last words before the VM stops: a polled console's tail is
 * held for a character time, and a slow line (37.5 baud, about 0.27 s a
 * character) keeps the timer from sending it first. Freeing the port
 * must hand it to the chardev, and freeing that must write it out.
 */
static void
test_guest_output_at_exit_is_not_lost(void **state)
{
	struct port p;

	(void)state;
	port_open(&p, "");
	vcon_serial_write(p.s, LCR, 0x83);
	vcon_serial_write(p.s, RBR, 0x00); /* divisor 0x0c00 */
	vcon_serial_write(p.s, IER, 0x0c);
	vcon_serial_write(p.s, LCR, 0x03);
	vcon_serial_write(p.s, IER, 0x00);
	vcon_serial_write(p.s, FCR, 0x07);
	guest_print(&p, "reboot: Power down\r\n");
	vcon_serial_free(p.s);
	p.s = NULL;
	vcon_chr_free(p.chr);
	p.chr = NULL;
	host_expect(&p, "reboot: Power down\r\n");
	port_close(&p);
}

/* Mux C-a b: the guest sees a break (what magic SysRq needs); C-a x
 * reaches the VMM as QUIT. */
static void
test_mux_break_and_quit(void **state)
{
	struct port p;
	uint8_t buf[4], lsr = 0;
	int spins = 0;

	(void)state;
	port_open(&p, ",mux=on");
	vcon_serial_write(p.s, FCR, 0x07);
	assert_int_equal(write(p.peer, "\001b", 2), 2);
	while (!(lsr & LSR_BI) && spins++ < 5000) {
		guest_drain(&p, buf, sizeof(buf), &lsr);
		usleep(200);
	}
	assert_true(lsr & LSR_BI);
	assert_int_equal(write(p.peer, "\001x", 2), 2);
	spins = 0;
	while (!__atomic_load_n(&p.events[VCON_CHR_EVENT_QUIT],
				__ATOMIC_SEQ_CST) &&
	       spins++ < 5000)
		usleep(200);
	assert_int_equal(p.events[VCON_CHR_EVENT_QUIT], 1);
	port_close(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(
			test_host_input_reaches_guest_in_order_without_loss),
		cmocka_unit_test(test_guest_output_reaches_host),
		cmocka_unit_test(test_guest_output_at_exit_is_not_lost),
		cmocka_unit_test(test_mux_break_and_quit),
	};

	return cmocka_run_group_tests_name("serial", tests, NULL, NULL);
}
