/* SPDX-License-Identifier: MIT */
/*
 * The 16550A model through its public API, against the TI PC16550D
 * datasheet and what Linux's 8250 driver does. Register values are
 * re-declared here from the datasheet, never taken from the library.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vcon/uart.h>

#include "testutil.h"
#include "uart_ref.h"

/* PC16550D section 8 */
#define RBR 0
#define THR 0
#define DLL 0
#define IER 1
#define DLM 1
#define IIR 2
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define MSR 6
#define SCR 7

#define SPEC_IER_RDI 0x01
#define SPEC_IER_THRI 0x02
#define SPEC_IER_RLSI 0x04
#define SPEC_IER_MSI 0x08
#define SPEC_IIR_NONE 0x01
#define SPEC_IIR_MSI 0x00
#define SPEC_IIR_THRI 0x02
#define SPEC_IIR_RDI 0x04
#define SPEC_IIR_RLSI 0x06
#define SPEC_IIR_CTI 0x0c
#define SPEC_IIR_FIFO 0xc0
#define SPEC_IIR_FIFO64 0x20
#define SPEC_FCR_FE 0x01
#define SPEC_FCR_RFR 0x02
#define SPEC_FCR_XFR 0x04
#define SPEC_FCR_TRIG8 0x80
#define SPEC_FCR_TRIG14 0xc0
#define SPEC_FCR_FIFO64 0x20
#define SPEC_LCR_8N1 0x03
#define SPEC_LCR_SB 0x40
#define SPEC_LCR_DLAB 0x80
#define SPEC_MCR_DTR 0x01
#define SPEC_MCR_RTS 0x02
#define SPEC_MCR_OUT1 0x04
#define SPEC_MCR_OUT2 0x08
#define SPEC_MCR_LOOP 0x10
#define SPEC_LSR_DR 0x01
#define SPEC_LSR_OE 0x02
#define SPEC_LSR_BI 0x10
#define SPEC_LSR_THRE 0x20
#define SPEC_LSR_TEMT 0x40
#define SPEC_LSR_RXFE 0x80
#define SPEC_MSR_DCTS 0x01
#define SPEC_MSR_DDSR 0x02
#define SPEC_MSR_TERI 0x04
#define SPEC_MSR_DDCD 0x08
#define SPEC_MSR_CTS 0x10
#define SPEC_MSR_DSR 0x20
#define SPEC_MSR_RI 0x40
#define SPEC_MSR_DCD 0x80

/* 115200 baud, 8N1: 10 bits of 1/115200 s. */
#define CHAR_NS_115200 86805u

struct fx {
	struct vcon_uart *u;
	struct irq_rec irq;
	struct sink_rec sink;
	struct timer_rec timer;
	bool brk;
	unsigned brk_calls;
	uint64_t now;
};

static void
on_break(void *ctx, bool on)
{
	struct fx *f = ctx;

	f->brk = on;
	f->brk_calls++;
}

static struct fx *
fx_new(unsigned fifo_size)
{
	struct fx *f = test_calloc(1, sizeof(*f));
	struct vcon_uart_config cfg = { .fifo_size = fifo_size };

	cfg.irq = irq_rec_init(&f->irq);
	cfg.tx = sink_rec_init(&f->sink);
	cfg.timer = timer_rec_init(&f->timer);
	cfg.line = (struct vcon_uart_line){ .set_break = on_break, .ctx = f };
	assert_int_equal(vcon_uart_new(&cfg, &f->u), 0);
	return f;
}

static int
setup(void **state)
{
	*state = fx_new(16);
	return 0;
}

static int
setup64(void **state)
{
	*state = fx_new(64);
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	vcon_uart_free(f->u);
	sink_rec_fini(&f->sink);
	test_free(f);
	return 0;
}

static uint8_t
rd(struct fx *f, unsigned off)
{
	return vcon_uart_read(f->u, off, f->now);
}

static void
wr(struct fx *f, unsigned off, uint8_t val)
{
	vcon_uart_write(f->u, off, val, f->now);
}

/* What Linux does at startup: 115200 8N1, FIFO with trigger 8, OUT2. */
static void
linux_setup(struct fx *f)
{
	wr(f, LCR, SPEC_LCR_DLAB | SPEC_LCR_8N1);
	wr(f, DLL, 1);
	wr(f, DLM, 0);
	wr(f, LCR, SPEC_LCR_8N1);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_RFR | SPEC_FCR_XFR | SPEC_FCR_TRIG8);
	wr(f, MCR, SPEC_MCR_DTR | SPEC_MCR_RTS | SPEC_MCR_OUT2);
	(void)rd(f, LSR);
	(void)rd(f, IIR);
	(void)rd(f, MSR);
	irq_rec_clear(&f->irq);
}

static void
test_uart_reset_values_match_datasheet(void **state)
{
	struct fx *f = *state;

	assert_int_equal(rd(f, IER), 0);
	assert_int_equal(rd(f, IIR), SPEC_IIR_NONE);
	assert_int_equal(rd(f, LCR), 0);
	assert_int_equal(rd(f, MCR), 0);
	assert_int_equal(rd(f, LSR), SPEC_LSR_THRE | SPEC_LSR_TEMT);
	/* Host lines at reset: CTS, DSR, DCD asserted. */
	assert_int_equal(rd(f, MSR), SPEC_MSR_CTS | SPEC_MSR_DSR | SPEC_MSR_DCD);
	assert_false(f->irq.level);
	assert_int_equal(f->irq.nchanges, 0);
}

static void
test_uart_dlab_switches_to_divisor_latch(void **state)
{
	struct fx *f = *state;

	wr(f, IER, 0x05);
	wr(f, LCR, SPEC_LCR_DLAB);
	wr(f, DLL, 0x34);
	wr(f, DLM, 0x12);
	assert_int_equal(rd(f, DLL), 0x34);
	assert_int_equal(rd(f, DLM), 0x12);
	wr(f, LCR, 0);
	assert_int_equal(rd(f, IER), 0x05);
	/* Divisor writes never reached the transmitter. */
	assert_int_equal(f->sink.len, 0);
	assert_int_equal(rd(f, LSR), SPEC_LSR_THRE | SPEC_LSR_TEMT);
}

static void
test_uart_ier_keeps_low_nibble_and_scratch_holds(void **state)
{
	struct fx *f = *state;

	wr(f, IER, 0xff);
	assert_int_equal(rd(f, IER), 0x0f);
	wr(f, SCR, 0xa5);
	assert_int_equal(rd(f, SCR), 0xa5);
	wr(f, SCR, 0x5a);
	assert_int_equal(rd(f, SCR), 0x5a);
}

static void
test_uart_polled_tx_reaches_sink_in_order(void **state)
{
	struct fx *f = *state;
	const char *msg = "Linux version 6.1\r\n";
	size_t i;

	linux_setup(f);
	for (i = 0; msg[i]; i++) {
		/* wait_for_xmitr: THRE must be set before each byte */
		assert_true(rd(f, LSR) & SPEC_LSR_THRE);
		wr(f, THR, (uint8_t)msg[i]);
	}
	/* serial8250_console_write ends waiting for BOTH_EMPTY */
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT),
			 SPEC_LSR_THRE | SPEC_LSR_TEMT);
	/*
	 * LSR showed every byte as sent, but they are held as one burst
	 * (the ring has room): they leave one character time after the
	 * first.
	 */
	assert_int_equal(f->sink.len, 0);
	assert_int_equal(f->timer.deadline, f->now + CHAR_NS_115200);
	vcon_uart_tick(f->u, f->now + CHAR_NS_115200);
	assert_int_equal(f->sink.len, strlen(msg));
	assert_memory_equal(f->sink.buf, msg, strlen(msg));
	assert_false(f->irq.level);
}

/*
 * A polled console's output leaves in bursts too: the LSR read before
 * each byte does not flush the bytes before it while the 64-byte ring
 * still has room for the whole FIFO a guest may write after seeing THRE,
 * so a burst is 64 - 16 + 1 = 49 bytes (64 with the FIFO off).
 */
static void
polled_bursts(struct fx *f, unsigned burst)
{
	unsigned i, n = 4 * burst + 3;

	for (i = 0; i < n; i++) {
		assert_true(rd(f, LSR) & SPEC_LSR_THRE);
		wr(f, THR, (uint8_t)i);
	}
	/* serial8250_console_write ends waiting for THRE and TEMT. */
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT),
			 SPEC_LSR_THRE | SPEC_LSR_TEMT);
	assert_int_equal(f->sink.calls, 4);
	assert_int_equal(f->sink.len, 4 * burst);
	/* Any other access ends the burst at once. */
	(void)rd(f, MSR);
	assert_int_equal(f->sink.calls, 5);
	assert_int_equal(f->sink.len, n);
	for (i = 0; i < n; i++)
		assert_int_equal(f->sink.buf[i], (uint8_t)i);
}

static void
test_uart_polled_tx_leaves_in_bursts(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	polled_bursts(f, 49);
}

/* In 16450 mode (FIFO off) THR holds one byte; the ring still bursts. */
static void
test_uart_polled_tx_bursts_with_fifo_off(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	wr(f, FCR, 0);
	polled_bursts(f, 64);
}

/*
 * EDK2's serial port library waits for THRE and TEMT, then fills the
 * whole FIFO. LSR said the held bytes were sent, so a sink that refuses
 * right then must not cost the guest a byte.
 */
static void
test_uart_polled_fifo_fill_after_thre_loses_nothing(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_stats st;
	unsigned i, n = 0;

	linux_setup(f);
	/* A polled console holds as much as the ring allows... */
	for (i = 0; i < 48; i++) {
		assert_true(rd(f, LSR) & SPEC_LSR_THRE);
		wr(f, THR, (uint8_t)n++);
	}
	assert_int_equal(f->sink.len, 0);
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT),
			 SPEC_LSR_THRE | SPEC_LSR_TEMT);
	/* ...and a whole FIFO more fits, however the sink answers. */
	f->sink.refuse = true;
	for (i = 0; i < 16; i++)
		wr(f, THR, (uint8_t)n++);
	vcon_uart_get_stats(f->u, &st);
	assert_int_equal(st.tx_dropped, 0);
	/* Now it is full for real: THRE stays clear, more is dropped. */
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT), 0);
	wr(f, THR, 0xee);
	vcon_uart_get_stats(f->u, &st);
	assert_int_equal(st.tx_dropped, 1);
	f->sink.refuse = false;
	vcon_uart_tx_ready(f->u, f->now);
	assert_int_equal(f->sink.len, 64);
	for (i = 0; i < 64; i++)
		assert_int_equal(f->sink.buf[i], i);
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT),
			 SPEC_LSR_THRE | SPEC_LSR_TEMT);
}

/*
 * With the THRE interrupt enabled the FIFO is the chip's 16 bytes: the
 * 17th write, made without looking, finds it full and it leaves first.
 */
static void
test_uart_thre_irq_fifo_holds_16(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_stats st;
	unsigned i;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	(void)rd(f, IIR);
	for (i = 0; i < 17; i++)
		wr(f, THR, (uint8_t)i);
	assert_int_equal(f->sink.len, 16);
	assert_int_equal(f->sink.calls, 1);
	f->sink.refuse = true;
	for (i = 17; i < 40; i++)
		wr(f, THR, (uint8_t)i);
	/* One held after the burst, fifteen more, then the FIFO is full. */
	vcon_uart_get_stats(f->u, &st);
	assert_int_equal(st.tx_dropped, 40 - 32);
}

static void
test_uart_burst_of_16_is_one_sink_call(void **state)
{
	struct fx *f = *state;
	uint8_t expect[48];
	unsigned burst, i;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	for (burst = 0; burst < 3; burst++) {
		/* serial8250_handle_irq: IIR, LSR, then tx_chars */
		assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_THRI);
		assert_true(rd(f, LSR) & SPEC_LSR_THRE);
		for (i = 0; i < 16; i++) {
			expect[burst * 16 + i] = (uint8_t)(burst * 16 + i);
			wr(f, THR, (uint8_t)(burst * 16 + i));
		}
	}
	/* The handler looks again: the last burst leaves, THRE is back. */
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_THRI);
	assert_int_equal(f->sink.len, 48);
	assert_int_equal(f->sink.calls, 3);
	assert_memory_equal(f->sink.buf, expect, 48);
}

static void
test_uart_thre_irq_rises_after_burst_not_per_byte(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	assert_true(f->irq.level);
	(void)rd(f, IIR); /* clears THRE */
	assert_false(f->irq.level);
	irq_rec_clear(&f->irq);
	wr(f, THR, 'a');
	wr(f, THR, 'b');
	wr(f, THR, 'c');
	/* Still filling: nothing sent, no interrupt. */
	assert_int_equal(f->sink.len, 0);
	assert_int_equal(f->irq.nchanges, 0);
	/* The burst ends with the next other access. */
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_THRI);
	assert_int_equal(f->sink.len, 3);
}

static void
test_uart_tx_tail_leaves_after_one_char_time(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	(void)rd(f, IIR);
	f->now = 1000;
	wr(f, THR, 'x');
	assert_int_equal(f->timer.deadline, 1000 + CHAR_NS_115200);
	vcon_uart_tick(f->u, 1000 + CHAR_NS_115200 - 1);
	assert_int_equal(f->sink.len, 0);
	vcon_uart_tick(f->u, 1000 + CHAR_NS_115200);
	assert_int_equal(f->sink.len, 1);
	assert_true(f->irq.level);
}

static void
test_uart_iir_read_clears_thre(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_THRI);
	assert_false(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_NONE);
}

static void
test_uart_thr_write_clears_thre_interrupt(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	assert_true(f->irq.level);
	wr(f, THR, 'z');
	assert_false(f->irq.level);
}

static void
test_uart_thri_reenable_raises_thre_each_time(void **state)
{
	struct fx *f = *state;
	uint8_t iir1, iir2;

	/* serial8250_do_startup's UART_BUG_THRE probe */
	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	iir1 = rd(f, IIR);
	wr(f, IER, 0);
	wr(f, IER, SPEC_IER_THRI);
	iir2 = rd(f, IIR);
	wr(f, IER, 0);
	assert_int_equal(iir1 & 0x0f, SPEC_IIR_THRI);
	assert_int_equal(iir2 & 0x0f, SPEC_IIR_THRI);
}

static void
test_uart_rx_trigger_level_raises_rdi(void **state)
{
	struct fx *f = *state;
	uint8_t bytes[8] = "01234567";

	linux_setup(f); /* trigger 8 */
	wr(f, IER, SPEC_IER_RDI);
	assert_int_equal(vcon_uart_receive(f->u, bytes, 7, f->now), 7);
	assert_false(f->irq.level);
	assert_int_equal(rd(f, LSR) & SPEC_LSR_DR, SPEC_LSR_DR);
	assert_int_equal(vcon_uart_receive(f->u, bytes + 7, 1, f->now), 1);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_RDI);
	assert_int_equal(rd(f, RBR), '0');
	/* Below the trigger again: no RDI */
	assert_false(f->irq.level);
}

static void
test_uart_receive_takes_only_rx_room(void **state)
{
	struct fx *f = *state;
	uint8_t buf[40];
	unsigned i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)i;
	linux_setup(f);
	assert_int_equal(vcon_uart_rx_room(f->u), 16);
	assert_int_equal(vcon_uart_receive(f->u, buf, sizeof(buf), f->now), 16);
	assert_int_equal(vcon_uart_rx_room(f->u), 0);
	assert_int_equal(vcon_uart_receive(f->u, buf, 1, f->now), 0);
	/* The normal path never overruns. */
	assert_int_equal(rd(f, LSR) & SPEC_LSR_OE, 0);
	for (i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), i);
	assert_int_equal(rd(f, LSR) & SPEC_LSR_DR, 0);
}

static void
test_uart_16450_mode_holds_one_byte(void **state)
{
	struct fx *f = *state;
	uint8_t buf[2] = { 'a', 'b' };

	/* FIFO off (reset state) */
	assert_int_equal(vcon_uart_rx_room(f->u), 1);
	assert_int_equal(vcon_uart_receive(f->u, buf, 2, f->now), 1);
	assert_int_equal(rd(f, IIR), SPEC_IIR_NONE);
	assert_int_equal(rd(f, RBR), 'a');
}

static void
test_uart_forced_input_overruns_and_reports_oe(void **state)
{
	struct fx *f = *state;
	uint8_t buf[17];
	unsigned i;

	for (i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)('A' + i);
	linux_setup(f);
	wr(f, IER, SPEC_IER_RLSI);
	assert_int_equal(vcon_uart_receive_force(f->u, buf, 17, f->now), 17);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_RLSI);
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_OE | SPEC_LSR_DR),
			 SPEC_LSR_OE | SPEC_LSR_DR);
	/* LSR read clears OE; the FIFO kept the first 16 bytes. */
	assert_int_equal(rd(f, LSR) & SPEC_LSR_OE, 0);
	assert_false(f->irq.level);
	for (i = 0; i < 16; i++)
		assert_int_equal(rd(f, RBR), 'A' + i);
	struct vcon_uart_stats st;
	vcon_uart_get_stats(f->u, &st);
	assert_int_equal(st.rx_overruns, 1);
}

static void
test_uart_character_timeout_after_four_char_times(void **state)
{
	struct fx *f = *state;
	uint8_t b = 'k';

	linux_setup(f); /* trigger 8 */
	wr(f, IER, SPEC_IER_RDI);
	f->now = 5000;
	assert_int_equal(vcon_uart_receive(f->u, &b, 1, f->now), 1);
	assert_false(f->irq.level);
	assert_int_equal(f->timer.deadline, 5000 + 4 * CHAR_NS_115200);
	vcon_uart_tick(f->u, 5000 + 4 * CHAR_NS_115200 - 1);
	assert_false(f->irq.level);
	f->now = 5000 + 4 * CHAR_NS_115200;
	vcon_uart_tick(f->u, f->now);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_CTI);
	/* Reading the byte clears the timeout. */
	assert_int_equal(rd(f, RBR), 'k');
	assert_false(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_NONE);
}

static void
test_uart_character_timeout_scales_with_divisor(void **state)
{
	struct fx *f = *state;
	uint8_t b = 'k';

	linux_setup(f);
	wr(f, LCR, SPEC_LCR_DLAB | SPEC_LCR_8N1);
	wr(f, DLL, 12); /* 9600 baud */
	wr(f, LCR, SPEC_LCR_8N1);
	wr(f, IER, SPEC_IER_RDI);
	assert_int_equal(vcon_uart_receive(f->u, &b, 1, 0), 1);
	vcon_uart_tick(f->u, 4 * 12 * (uint64_t)CHAR_NS_115200 - 100);
	assert_false(f->irq.level);
	vcon_uart_tick(f->u, 4 * 12 * (uint64_t)(CHAR_NS_115200 + 1));
	assert_true(f->irq.level);
}

static void
test_uart_interrupt_priorities(void **state)
{
	struct fx *f = *state;
	uint8_t bytes[9] = { 0 };

	linux_setup(f);
	wr(f, IER, SPEC_IER_RDI | SPEC_IER_THRI | SPEC_IER_RLSI | SPEC_IER_MSI);
	vcon_uart_set_modem_lines(f->u, VCON_UART_DSR | VCON_UART_DCD, f->now);
	vcon_uart_receive_force(f->u, bytes, 8, f->now);
	vcon_uart_receive_force(f->u, bytes, 9, f->now); /* overrun */
	assert_int_equal(rd(f, IIR) & 0x0f, SPEC_IIR_RLSI);
	(void)rd(f, LSR);
	assert_int_equal(rd(f, IIR) & 0x0f, SPEC_IIR_RDI);
	while (rd(f, LSR) & SPEC_LSR_DR)
		(void)rd(f, RBR);
	assert_int_equal(rd(f, IIR) & 0x0f, SPEC_IIR_THRI);
	assert_int_equal(rd(f, IIR) & 0x0f, SPEC_IIR_MSI);
	assert_int_equal(rd(f, MSR) & 0x0f, SPEC_MSR_DCTS);
	assert_int_equal(rd(f, IIR) & 0x0f, SPEC_IIR_NONE);
	assert_false(f->irq.level);
}

static void
test_uart_msr_deltas_clear_on_read(void **state)
{
	struct fx *f = *state;

	vcon_uart_set_modem_lines(f->u, VCON_UART_CTS | VCON_UART_RI, f->now);
	assert_int_equal(rd(f, MSR), SPEC_MSR_CTS | SPEC_MSR_RI |
					     SPEC_MSR_DDSR | SPEC_MSR_DDCD);
	vcon_uart_set_modem_lines(f->u, VCON_UART_CTS, f->now);
	/* TERI: trailing edge of RI */
	assert_int_equal(rd(f, MSR), SPEC_MSR_CTS | SPEC_MSR_TERI);
	assert_int_equal(rd(f, MSR), SPEC_MSR_CTS);
}

static void
test_uart_loopback_tx_to_rx_and_mcr_to_msr(void **state)
{
	struct fx *f = *state;

	linux_setup(f);
	wr(f, MCR, SPEC_MCR_LOOP | SPEC_MCR_RTS | SPEC_MCR_OUT2);
	/* Linux autoconfig: MCR=LOOP|0x0A must read MSR high nibble 0x90 */
	assert_int_equal(rd(f, MSR) & 0xf0, SPEC_MSR_CTS | SPEC_MSR_DCD);
	wr(f, THR, 'L');
	wr(f, THR, 'B');
	assert_int_equal(rd(f, LSR) & SPEC_LSR_DR, SPEC_LSR_DR);
	assert_int_equal(rd(f, RBR), 'L');
	assert_int_equal(rd(f, RBR), 'B');
	/* The line is disconnected: nothing reached the sink, no host input. */
	assert_int_equal(f->sink.len, 0);
	assert_int_equal(vcon_uart_rx_room(f->u), 0);
	wr(f, MCR, SPEC_MCR_LOOP | SPEC_MCR_DTR | SPEC_MCR_OUT1);
	assert_int_equal(rd(f, MSR), SPEC_MSR_DSR | SPEC_MSR_RI | SPEC_MSR_DCTS |
					     SPEC_MSR_DDSR | SPEC_MSR_DDCD);
}

static void
test_uart_loopback_modem_change_raises_msi(void **state)
{
	struct fx *f = *state;

	wr(f, MCR, SPEC_MCR_LOOP);
	(void)rd(f, MSR);
	wr(f, IER, SPEC_IER_MSI);
	assert_false(f->irq.level);
	wr(f, MCR, SPEC_MCR_LOOP | SPEC_MCR_RTS);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_MSI);
	assert_int_equal(rd(f, MSR), SPEC_MSR_CTS | SPEC_MSR_DCTS);
	assert_false(f->irq.level);
}

static void
test_uart_host_break_sets_bi_with_zero_byte(void **state)
{
	struct fx *f = *state;
	uint8_t c = 'h';

	linux_setup(f);
	wr(f, IER, SPEC_IER_RLSI | SPEC_IER_RDI);
	vcon_uart_receive(f->u, &c, 1, f->now);
	vcon_uart_send_break(f->u, f->now);
	/* The break byte is second: BI shows only when it reaches the top. */
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_BI | SPEC_LSR_RXFE),
			 SPEC_LSR_RXFE);
	assert_int_equal(rd(f, RBR), 'h');
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_RLSI);
	assert_int_equal(rd(f, LSR),
			 SPEC_LSR_BI | SPEC_LSR_DR | SPEC_LSR_RXFE |
				 SPEC_LSR_THRE | SPEC_LSR_TEMT);
	assert_int_equal(rd(f, RBR), 0);
	assert_int_equal(rd(f, LSR), SPEC_LSR_THRE | SPEC_LSR_TEMT);
}

/* A break's flag leaves with its byte: later bytes in its slot are clean. */
static void
test_uart_break_flag_does_not_stay_in_the_fifo(void **state)
{
	struct fx *f = *state;
	uint8_t buf[16];
	unsigned round, i;

	linux_setup(f);
	vcon_uart_send_break(f->u, f->now);
	assert_true(rd(f, LSR) & SPEC_LSR_BI);
	assert_int_equal(rd(f, RBR), 0);
	/* Round the 64-byte ring twice, through the slot the break used. */
	for (round = 0; round < 8; round++) {
		for (i = 0; i < sizeof(buf); i++)
			buf[i] = (uint8_t)(round * 16 + i + 1);
		assert_int_equal(vcon_uart_receive(f->u, buf, 16, f->now), 16);
		/* Through the calls: the general path reveals flags. */
		for (i = 0; i < 16; i++) {
			assert_int_equal(vcon_uart_read_call(f->u, LSR, f->now),
					 SPEC_LSR_DR | SPEC_LSR_THRE |
						 SPEC_LSR_TEMT);
			assert_int_equal(vcon_uart_read_call(f->u, RBR, f->now),
					 buf[i]);
		}
	}
}

static void
test_uart_guest_break_reaches_line_callback(void **state)
{
	struct fx *f = *state;

	wr(f, LCR, SPEC_LCR_8N1 | SPEC_LCR_SB);
	assert_true(f->brk);
	wr(f, LCR, SPEC_LCR_8N1 | SPEC_LCR_SB);
	assert_int_equal(f->brk_calls, 1);
	wr(f, LCR, SPEC_LCR_8N1);
	assert_false(f->brk);
	assert_int_equal(f->brk_calls, 2);
}

static void
test_uart_sink_backpressure_keeps_thre_clear(void **state)
{
	struct fx *f = *state;
	unsigned i;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	(void)rd(f, IIR);
	f->sink.limit = 5;
	for (i = 0; i < 16; i++)
		wr(f, THR, (uint8_t)i);
	/* The full FIFO leaves at the next access; the sink takes 5. */
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT), 0);
	assert_int_equal(f->sink.len, 5);
	assert_false(f->irq.level);
	/* While blocked, polling does not hammer the sink. */
	f->sink.calls = 0;
	for (i = 0; i < 10; i++)
		(void)rd(f, LSR);
	assert_int_equal(f->sink.calls, 0);
	f->sink.limit = SIZE_MAX;
	vcon_uart_tx_ready(f->u, f->now);
	assert_int_equal(f->sink.len, 16);
	for (i = 0; i < 16; i++)
		assert_int_equal(f->sink.buf[i], i);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT),
			 SPEC_LSR_THRE | SPEC_LSR_TEMT);
}

/* The same where the THRE handler's IIR read ends the burst. */
static void
test_uart_sink_backpressure_at_iir_read(void **state)
{
	struct fx *f = *state;
	size_t calls;
	unsigned i;

	linux_setup(f);
	wr(f, IER, SPEC_IER_THRI);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_THRI);
	for (i = 0; i < 16; i++)
		wr(f, THR, (uint8_t)i);
	(void)rd(f, IIR); /* one full burst through, to warm the paths */
	assert_int_equal(f->sink.len, 16);
	f->sink.limit = 5;
	for (i = 0; i < 16; i++)
		wr(f, THR, (uint8_t)(16 + i));
	/* The sink takes 5: no THRE to show, THRE and TEMT clear. */
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_NONE);
	assert_int_equal(f->sink.len, 21);
	assert_false(f->irq.level);
	calls = f->sink.calls;
	for (i = 0; i < 10; i++) {
		assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_NONE);
		assert_int_equal(rd(f, LSR) & (SPEC_LSR_THRE | SPEC_LSR_TEMT),
				 0);
	}
	assert_int_equal(f->sink.calls, calls);
	f->sink.limit = SIZE_MAX;
	vcon_uart_tx_ready(f->u, f->now);
	assert_int_equal(f->sink.len, 32);
	for (i = 0; i < 32; i++)
		assert_int_equal(f->sink.buf[i], i);
	assert_true(f->irq.level);
	assert_int_equal(rd(f, IIR), SPEC_IIR_FIFO | SPEC_IIR_THRI);
	assert_false(f->irq.level);
}

/* A VMM that stops flushes the burst in hand; a refusing sink keeps it. */
static void
test_uart_flush_hands_the_held_burst_to_the_sink(void **state)
{
	struct fx *f = *state;
	unsigned i;

	linux_setup(f);
	for (i = 0; i < 5; i++) {
		assert_true(rd(f, LSR) & SPEC_LSR_THRE);
		wr(f, THR, (uint8_t)i);
	}
	assert_int_equal(f->sink.len, 0);
	vcon_uart_flush(f->u, f->now);
	assert_int_equal(f->sink.len, 5);
	assert_int_equal(f->sink.calls, 1);
	vcon_uart_flush(f->u, f->now); /* nothing held: no call */
	assert_int_equal(f->sink.calls, 1);
	f->sink.refuse = true;
	wr(f, THR, 'x');
	vcon_uart_flush(f->u, f->now);
	assert_int_equal(rd(f, LSR) & SPEC_LSR_THRE, 0);
	f->sink.refuse = false;
	vcon_uart_tx_ready(f->u, f->now);
	assert_int_equal(f->sink.len, 6);
	assert_int_equal(f->sink.buf[5], 'x');
}

/*
 * A write that finds the transmitter full while the sink refuses is lost
 * and counted. Without the THRE interrupt that is when the 64-byte ring
 * is full (a polled console's bursts share it); with it, the 16-byte
 * FIFO (test_uart_thre_irq_fifo_holds_16).
 */
static void
test_uart_write_to_full_fifo_is_dropped_and_counted(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_stats st;
	unsigned i;

	linux_setup(f);
	f->sink.refuse = true;
	for (i = 0; i < 70; i++)
		wr(f, THR, (uint8_t)i);
	vcon_uart_get_stats(f->u, &st);
	assert_int_equal(st.tx_dropped, 6);
	f->sink.refuse = false;
	vcon_uart_tx_ready(f->u, f->now);
	assert_int_equal(f->sink.len, 64);
	for (i = 0; i < 64; i++)
		assert_int_equal(f->sink.buf[i], i);
}

static void
test_uart_fcr_resets_fifos(void **state)
{
	struct fx *f = *state;
	uint8_t buf[4] = "abcd";

	linux_setup(f);
	vcon_uart_receive(f->u, buf, 4, f->now);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_RFR);
	assert_int_equal(rd(f, LSR) & SPEC_LSR_DR, 0);
	assert_int_equal(vcon_uart_rx_room(f->u), 16);
	/* Turning the FIFO off empties it too. */
	vcon_uart_receive(f->u, buf, 4, f->now);
	wr(f, FCR, 0);
	assert_int_equal(rd(f, LSR) & SPEC_LSR_DR, 0);
	assert_int_equal(rd(f, IIR), SPEC_IIR_NONE);
}

/*
 * Linux's autoconfig() as far as it decides the port type: scratch and IER
 * probes, the loopback MSR test, FIFO detection through IIR bits 7:6, the
 * EFR probes that tell a 16650 apart, and the 16750 probe.
 */
static int
linux_autoconfig_type(struct fx *f)
{
	uint8_t s1, s2, s3, st1, st2;

	s1 = rd(f, IER) & 0x0f;
	wr(f, IER, 0);
	s2 = rd(f, IER) & 0x0f;
	wr(f, IER, 0x0f);
	s3 = rd(f, IER) & 0x0f;
	wr(f, IER, s1);
	if (s2 != 0 || s3 != 0x0f)
		return -1; /* no UART */
	wr(f, MCR, SPEC_MCR_LOOP | 0x0a);
	st1 = rd(f, MSR) & 0xf0;
	wr(f, MCR, 0);
	if (st1 != 0x90)
		return -2; /* loopback test failed */
	wr(f, LCR, 0xbf);
	wr(f, 2, 0); /* EFR on a 16650 */
	wr(f, LCR, 0);
	wr(f, FCR, SPEC_FCR_FE);
	s1 = rd(f, IIR) >> 6;
	if (s1 != 3)
		return s1 == 0 ? 2 /* 16450 */ : 3 /* 16550 */;
	/* autoconfig_16550a */
	wr(f, LCR, 0xbf);
	if (rd(f, 2) == 0)
		return 8; /* 16650 family */
	wr(f, LCR, SPEC_LCR_DLAB);
	if (rd(f, 2) == 0)
		return 9; /* 16650V2 family */
	wr(f, LCR, 0);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_FIFO64);
	st1 = rd(f, IIR) & (SPEC_IIR_FIFO64 | SPEC_IIR_FIFO);
	wr(f, FCR, SPEC_FCR_FE);
	wr(f, LCR, SPEC_LCR_DLAB);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_FIFO64);
	st2 = rd(f, IIR) & (SPEC_IIR_FIFO64 | SPEC_IIR_FIFO);
	wr(f, FCR, SPEC_FCR_FE);
	wr(f, LCR, 0);
	if (st1 == 0xc0 && st2 == 0xe0)
		return 6; /* PORT_16750 */
	return 4;         /* PORT_16550A */
}

static void
test_uart_linux_autoconfig_finds_16550a(void **state)
{
	struct fx *f = *state;

	assert_int_equal(linux_autoconfig_type(f), 4);
}

static void
test_uart_linux_autoconfig_finds_16750(void **state)
{
	struct fx *f = *state;

	assert_int_equal(linux_autoconfig_type(f), 6);
	/* And the 64-byte FIFO is really there. */
	wr(f, LCR, SPEC_LCR_DLAB);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_FIFO64);
	wr(f, LCR, SPEC_LCR_8N1);
	assert_int_equal(vcon_uart_rx_room(f->u), 64);
}

static void
test_uart_16750_depth_change_empties_fifos(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_state st;
	uint8_t buf[40] = { 0 };

	wr(f, LCR, SPEC_LCR_DLAB);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_FIFO64);
	assert_int_equal(vcon_uart_receive(f->u, buf, 40, f->now), 40);
	/* Back to 16 bytes deep: 40 held bytes cannot stay. */
	wr(f, FCR, SPEC_FCR_FE);
	wr(f, LCR, SPEC_LCR_8N1);
	assert_int_equal(rd(f, LSR) & SPEC_LSR_DR, 0);
	assert_int_equal(vcon_uart_rx_room(f->u), 16);
	vcon_uart_save(f->u, &st);
	assert_int_equal(vcon_uart_restore(f->u, &st, f->now), 0);
}

/*
 * A 16750 restored with a full 64-byte transmit FIFO and a sink that
 * refuses: a guest writing on regardless loses those bytes (counted), and
 * what is held never exceeds the FIFO (found by fuzz_uart: the held bytes
 * after a restore once counted as "sent", as a 16-byte FIFO's may).
 */
static void
test_uart_16750_restored_full_fifo_stays_bounded(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_state st;
	struct vcon_uart_stats stats;
	unsigned i;

	wr(f, LCR, SPEC_LCR_DLAB);
	wr(f, FCR, SPEC_FCR_FE | SPEC_FCR_FIFO64);
	wr(f, LCR, SPEC_LCR_8N1);
	f->sink.refuse = true;
	for (i = 0; i < 64; i++)
		wr(f, THR, (uint8_t)i);
	vcon_uart_save(f->u, &st);
	assert_int_equal(st.tx_count, 64);
	assert_int_equal(vcon_uart_restore(f->u, &st, f->now), 0);
	for (i = 0; i < 80; i++)
		wr(f, THR, 0xee);
	vcon_uart_get_stats(f->u, &stats);
	assert_int_equal(stats.tx_dropped, 80);
	vcon_uart_save(f->u, &st);
	assert_int_equal(st.tx_count, 64);
	f->sink.refuse = false;
	vcon_uart_tx_ready(f->u, f->now);
	assert_int_equal(f->sink.len, 64);
	for (i = 0; i < 64; i++)
		assert_int_equal(f->sink.buf[i], i);
}

static void
test_uart_save_restore_round_trip_mid_transfer(void **state)
{
	struct fx *f = *state, *g;
	struct vcon_uart_state st;
	uint8_t buf[5] = "hello";

	linux_setup(f);
	wr(f, IER, SPEC_IER_RDI | SPEC_IER_THRI);
	wr(f, SCR, 0x77);
	vcon_uart_receive(f->u, buf, 5, f->now);
	f->sink.refuse = true;
	wr(f, THR, 'o');
	wr(f, THR, 'k');
	(void)rd(f, SCR); /* ends the burst, which the sink refuses */
	vcon_uart_save(f->u, &st);
	assert_int_equal(st.version, VCON_UART_STATE_VERSION);
	assert_int_equal(st.rx_count, 5);
	assert_int_equal(st.tx_count, 2);

	g = fx_new(16);
	assert_int_equal(vcon_uart_restore(g->u, &st, 0), 0);
	assert_int_equal(rd(g, SCR), 0x77);
	assert_int_equal(rd(g, LSR) & SPEC_LSR_DR, SPEC_LSR_DR);
	/* The held TX bytes leave through the new UART's sink. */
	assert_int_equal(g->sink.len, 2);
	assert_memory_equal(g->sink.buf, "ok", 2);
	assert_int_equal(rd(g, RBR), 'h');
	assert_int_equal(rd(g, RBR), 'e');
	struct vcon_uart_state st2;
	vcon_uart_save(g->u, &st2);
	assert_int_equal(st2.dll, 1);
	assert_int_equal(st2.lcr, SPEC_LCR_8N1);
	vcon_uart_free(g->u);
	sink_rec_fini(&g->sink);
	test_free(g);
}

static void
test_uart_restore_rejects_bad_state(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_state st, before;

	wr(f, SCR, 0x42);
	vcon_uart_save(f->u, &st);
	before = st;
	st.version = 99;
	assert_int_equal(vcon_uart_restore(f->u, &st, 0), -EINVAL);
	st = before;
	st.fifo_size = 64;
	assert_int_equal(vcon_uart_restore(f->u, &st, 0), -EINVAL);
	st = before;
	st.fcr = SPEC_FCR_FE;
	st.rx_count = 17;
	assert_int_equal(vcon_uart_restore(f->u, &st, 0), -EINVAL);
	st = before;
	st.rx_count = 2; /* FIFO off: one byte deep */
	assert_int_equal(vcon_uart_restore(f->u, &st, 0), -EINVAL);
	st = before;
	st.tx_count = 65; /* more than the ring */
	assert_int_equal(vcon_uart_restore(f->u, &st, 0), -EINVAL);
	/* Unchanged by the failures. */
	assert_int_equal(rd(f, SCR), 0x42);
}

static void
test_uart_new_rejects_bad_config(void **state)
{
	struct vcon_uart_config cfg = { 0 };
	struct sink_rec sink;
	struct irq_rec irq;
	struct vcon_uart *u = NULL;

	(void)state;
	assert_int_equal(vcon_uart_new(&cfg, &u), -EINVAL);
	cfg.irq = irq_rec_init(&irq);
	cfg.tx = sink_rec_init(&sink);
	cfg.fifo_size = 32;
	assert_int_equal(vcon_uart_new(&cfg, &u), -EINVAL);
	assert_null(u);
	vcon_uart_free(NULL);
}

/* Every value at every offset in both DLAB states: no crash, sane state. */
static void
test_uart_every_register_value_is_harmless(void **state)
{
	struct fx *f = *state;
	struct vcon_uart_state st;
	unsigned off, val, i;
	uint8_t junk[20] = { 0 };

	for (i = 0; i < 2; i++) {
		for (off = 0; off < 8; off++) {
			for (val = 0; val < 256; val++) {
				wr(f, LCR, i ? SPEC_LCR_DLAB : 0);
				wr(f, off, (uint8_t)val);
				(void)rd(f, off);
				vcon_uart_receive_force(f->u, junk, 20, f->now);
				f->now += 1000;
				vcon_uart_tick(f->u, f->now);
				vcon_uart_save(f->u, &st);
				assert_true(st.rx_count <= 64);
				assert_true(st.tx_count <= 64);
				assert_int_equal(vcon_uart_irq_level(f->u),
						 f->irq.level);
			}
		}
	}
	assert_int_equal(f->irq.nspurious, 0);
}

/*
 * The inline accesses of <vcon/uart.h> against a build of the same model
 * with none (tests/lib/uart_ref.c): three UARTs get the same seeded
 * program of guest drivers (polled console, THRE-interrupt bursts, polled
 * and interrupt-driven receive), register noise, time, host input and
 * sink refusals; one reaches its registers through vcon_uart_read/write,
 * one through the _call functions (as bindings do), one is the reference.
 * Every read, interrupt edge, timer deadline, sink byte and saved state
 * must be the reference's.
 */
static uint32_t
xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

struct uart_api {
	int (*make)(const struct vcon_uart_config *, struct vcon_uart **);
	void (*destroy)(struct vcon_uart *);
	uint8_t (*read)(struct vcon_uart *, unsigned, uint64_t);
	void (*write)(struct vcon_uart *, unsigned, uint8_t, uint64_t);
	size_t (*receive)(struct vcon_uart *, const uint8_t *, size_t,
			  uint64_t);
	size_t (*receive_force)(struct vcon_uart *, const uint8_t *, size_t,
				uint64_t);
	void (*send_break)(struct vcon_uart *, uint64_t);
	void (*set_modem_lines)(struct vcon_uart *, unsigned, uint64_t);
	void (*tx_ready)(struct vcon_uart *, uint64_t);
	void (*tick)(struct vcon_uart *, uint64_t);
	void (*flush)(struct vcon_uart *, uint64_t);
	void (*save)(const struct vcon_uart *, struct vcon_uart_state *);
	int (*restore)(struct vcon_uart *, const struct vcon_uart_state *,
		       uint64_t);
	void (*get_stats)(const struct vcon_uart *, struct vcon_uart_stats *);
};

static uint8_t
read_inline(struct vcon_uart *u, unsigned off, uint64_t now)
{
	return vcon_uart_read(u, off, now);
}

static void
write_inline(struct vcon_uart *u, unsigned off, uint8_t val, uint64_t now)
{
	vcon_uart_write(u, off, val, now);
}

#define LIB_API(rd, wr)                                                       \
	{ vcon_uart_new, vcon_uart_free, rd, wr, vcon_uart_receive,           \
	  vcon_uart_receive_force, vcon_uart_send_break,                      \
	  vcon_uart_set_modem_lines, vcon_uart_tx_ready, vcon_uart_tick,      \
	  vcon_uart_flush, vcon_uart_save, vcon_uart_restore, vcon_uart_get_stats }

static const struct uart_api api_inline = LIB_API(read_inline, write_inline);
static const struct uart_api api_call =
	LIB_API(vcon_uart_read_call, vcon_uart_write_call);
static const struct uart_api api_ref = {
	ref_uart_new, ref_uart_free, ref_uart_read_call, ref_uart_write_call,
	ref_uart_receive, ref_uart_receive_force, ref_uart_send_break,
	ref_uart_set_modem_lines, ref_uart_tx_ready, ref_uart_tick,
	ref_uart_flush, ref_uart_save, ref_uart_restore, ref_uart_get_stats,
};

#define NSIDES 3 /* inline, call, reference (last) */

struct side {
	const struct uart_api *api;
	struct vcon_uart *u;
	struct irq_rec irq;
	struct sink_rec sink;
	struct timer_rec timer;
	uint64_t now;
};

static void
side_init(struct side *d, const struct uart_api *api, unsigned fifo_size)
{
	struct vcon_uart_config cfg = { .fifo_size = fifo_size };

	memset(d, 0, sizeof(*d));
	d->api = api;
	cfg.irq = irq_rec_init(&d->irq);
	cfg.tx = sink_rec_init(&d->sink);
	cfg.timer = timer_rec_init(&d->timer);
	assert_int_equal(api->make(&cfg, &d->u), 0);
}

static uint8_t
all_rd(struct side *d, unsigned off)
{
	uint8_t ref = d[NSIDES - 1].api->read(d[NSIDES - 1].u, off,
					      d[NSIDES - 1].now);
	unsigned j;

	for (j = 0; j < NSIDES - 1; j++)
		assert_int_equal(d[j].api->read(d[j].u, off, d[j].now), ref);
	return ref;
}

static void
all_wr(struct side *d, unsigned off, uint8_t val)
{
	unsigned j;

	for (j = 0; j < NSIDES; j++)
		d[j].api->write(d[j].u, off, val, d[j].now);
}

/* The reference is only one if every inline path stays closed in it. */
static void
reference_takes_no_inline_path(struct vcon_uart *u)
{
	const struct vcon_uart_hot *h = (const struct vcon_uart_hot *)(void *)u;

	assert_int_equal(h->tx_fill, 0);
	assert_int_equal(h->lsr_below, 0);
	assert_int_equal(h->rx_keep, UINT32_MAX);
	assert_int_equal(h->iir_burst, 0);
}

static void
all_agree(struct side *d)
{
	const struct side *r = &d[NSIDES - 1];
	struct vcon_uart_state sa, sr;
	struct vcon_uart_stats ta, tr;
	unsigned j;

	r->api->save(r->u, &sr);
	r->api->get_stats(r->u, &tr);
	reference_takes_no_inline_path(r->u);
	for (j = 0; j < NSIDES - 1; j++) {
		const struct side *a = &d[j];

		assert_int_equal(a->irq.level, r->irq.level);
		assert_int_equal(a->irq.nchanges, r->irq.nchanges);
		assert_int_equal(a->irq.nspurious, 0);
		assert_int_equal(a->timer.deadline, r->timer.deadline);
		assert_int_equal(a->timer.arms, r->timer.arms);
		assert_int_equal(a->sink.len, r->sink.len);
		assert_int_equal(a->sink.calls, r->sink.calls);
		if (r->sink.len)
			assert_memory_equal(a->sink.buf, r->sink.buf,
					    r->sink.len);
		a->api->save(a->u, &sa);
		assert_memory_equal(&sa, &sr, sizeof(sa));
		a->api->get_stats(a->u, &ta);
		assert_memory_equal(&ta, &tr, sizeof(ta));
	}
}

static void
sides_run(unsigned fifo_size, uint32_t seed)
{
	static const uint8_t reg[][2] = {
		{ IER, 0 }, { IER, SPEC_IER_THRI }, { IER, SPEC_IER_RDI },
		{ IER, 0x0f }, { FCR, 0x07 }, { FCR, 0x87 }, { FCR, 0xc1 },
		{ FCR, 0x27 }, { FCR, 0 }, { LCR, 0x03 }, { LCR, 0x83 },
		{ MCR, 0x0b }, { MCR, 0x1b },
	};
	struct side d[NSIDES];
	uint8_t in[64];
	unsigned step, k, n, j;
	uint32_t x = seed;

	side_init(&d[0], &api_inline, fifo_size);
	side_init(&d[1], &api_call, fifo_size);
	side_init(&d[2], &api_ref, fifo_size);
	for (step = 0; step < 20000; step++) {
		uint32_t r = xorshift(&x);

		switch (r % 12) {
		case 0: /* polled console, up to 40 bytes */
			for (k = 0; k < (r >> 8) % 40; k++) {
				for (n = 0; n < 4 && !(all_rd(d, LSR) &
						       SPEC_LSR_THRE); n++)
					;
				all_wr(d, THR, (uint8_t)(r + k));
			}
			break;
		case 1: /* THRE interrupt handler */
			(void)all_rd(d, IIR);
			if (all_rd(d, LSR) & SPEC_LSR_THRE)
				for (k = 0; k < 16; k++)
					all_wr(d, THR, (uint8_t)(r ^ k));
			break;
		case 2: /* receive, then drain as a driver would */
			n = (r >> 8) % 64;
			for (k = 0; k < n; k++)
				in[k] = (uint8_t)(r >> (k & 31));
			for (j = 0; j < NSIDES; j++)
				(void)d[j].api->receive(d[j].u, in, n, d[j].now);
			for (k = 0; k < 70 && (all_rd(d, LSR) & SPEC_LSR_DR);
			     k++)
				(void)all_rd(d, RBR);
			break;
		case 3: /* a few RBR reads without looking */
			for (k = 0; k < (r >> 8) % 8; k++)
				(void)all_rd(d, RBR);
			break;
		case 4: /* the setups drivers use, or noise */
		case 5:
			if (r & 0x80000000u) {
				all_wr(d, (r >> 16) & 7, (uint8_t)(r >> 20));
			} else {
				const uint8_t *w =
					reg[(r >> 8) % (sizeof(reg) /
							sizeof(reg[0]))];

				all_wr(d, w[0], w[1]);
			}
			break;
		case 6:
			(void)all_rd(d, (r >> 8) & 15); /* high bits ignored */
			break;
		case 7: /* time passes; the timer fires when due */
			for (j = 0; j < NSIDES; j++) {
				d[j].now += (r >> 8) % 400000;
				if (d[j].now >= d[j].timer.deadline) {
					d[j].timer.deadline = VCON_NO_DEADLINE;
					d[j].api->tick(d[j].u, d[j].now);
				}
			}
			break;
		case 8: /* the sink slows down, refuses, recovers */
			for (j = 0; j < NSIDES; j++) {
				d[j].sink.refuse = (r >> 8) % 4 == 0;
				d[j].sink.limit =
					(r >> 10) % 2 ? SIZE_MAX : (r >> 11) % 9;
				if ((r >> 14) % 2)
					d[j].api->tx_ready(d[j].u, d[j].now);
				else if ((r >> 15) % 2)
					d[j].api->flush(d[j].u, d[j].now);
			}
			break;
		case 9: /* host line events */
			for (j = 0; j < NSIDES; j++) {
				if ((r >> 8) % 2)
					d[j].api->send_break(d[j].u, d[j].now);
				else
					d[j].api->set_modem_lines(
						d[j].u, (r >> 9) & 0xf,
						d[j].now);
			}
			break;
		case 10: /* forced input: overruns */
			n = (r >> 8) % 20;
			memset(in, (int)(r >> 16), n);
			for (j = 0; j < NSIDES; j++)
				(void)d[j].api->receive_force(d[j].u, in, n,
							      d[j].now);
			break;
		case 11: /* snapshot round trip */
			for (j = 0; j < NSIDES; j++) {
				struct vcon_uart_state st;

				d[j].api->save(d[j].u, &st);
				assert_int_equal(
					d[j].api->restore(d[j].u, &st, d[j].now),
					0);
			}
			break;
		}
		all_agree(d);
	}
	for (j = 0; j < NSIDES; j++) {
		d[j].api->destroy(d[j].u);
		sink_rec_fini(&d[j].sink);
	}
}

static void
test_uart_inline_accesses_match_calls(void **state)
{
	(void)state;
	sides_run(16, 0x9e3779b9u);
	sides_run(16, 12345u);
	sides_run(64, 0xdecafbadu);
}

int
main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
#define T64(fn) cmocka_unit_test_setup_teardown(fn, setup64, teardown)
	const struct CMUnitTest tests[] = {
		T(test_uart_reset_values_match_datasheet),
		T(test_uart_dlab_switches_to_divisor_latch),
		T(test_uart_ier_keeps_low_nibble_and_scratch_holds),
		T(test_uart_polled_tx_reaches_sink_in_order),
		T(test_uart_polled_tx_leaves_in_bursts),
		T(test_uart_polled_tx_bursts_with_fifo_off),
		T(test_uart_thre_irq_fifo_holds_16),
		T(test_uart_polled_fifo_fill_after_thre_loses_nothing),
		T(test_uart_flush_hands_the_held_burst_to_the_sink),
		T(test_uart_sink_backpressure_at_iir_read),
		T(test_uart_burst_of_16_is_one_sink_call),
		T(test_uart_thre_irq_rises_after_burst_not_per_byte),
		T(test_uart_tx_tail_leaves_after_one_char_time),
		T(test_uart_iir_read_clears_thre),
		T(test_uart_thr_write_clears_thre_interrupt),
		T(test_uart_thri_reenable_raises_thre_each_time),
		T(test_uart_rx_trigger_level_raises_rdi),
		T(test_uart_receive_takes_only_rx_room),
		T(test_uart_16450_mode_holds_one_byte),
		T(test_uart_forced_input_overruns_and_reports_oe),
		T(test_uart_character_timeout_after_four_char_times),
		T(test_uart_character_timeout_scales_with_divisor),
		T(test_uart_interrupt_priorities),
		T(test_uart_msr_deltas_clear_on_read),
		T(test_uart_loopback_tx_to_rx_and_mcr_to_msr),
		T(test_uart_loopback_modem_change_raises_msi),
		T(test_uart_host_break_sets_bi_with_zero_byte),
		T(test_uart_break_flag_does_not_stay_in_the_fifo),
		T(test_uart_guest_break_reaches_line_callback),
		T(test_uart_sink_backpressure_keeps_thre_clear),
		T(test_uart_write_to_full_fifo_is_dropped_and_counted),
		T(test_uart_fcr_resets_fifos),
		T(test_uart_linux_autoconfig_finds_16550a),
		T64(test_uart_linux_autoconfig_finds_16750),
		T64(test_uart_16750_depth_change_empties_fifos),
		T64(test_uart_16750_restored_full_fifo_stays_bounded),
		T(test_uart_save_restore_round_trip_mid_transfer),
		T(test_uart_restore_rejects_bad_state),
		T(test_uart_new_rejects_bad_config),
		T(test_uart_every_register_value_is_harmless),
		T64(test_uart_every_register_value_is_harmless),
		cmocka_unit_test(test_uart_inline_accesses_match_calls),
	};

	return cmocka_run_group_tests_name("uart", tests, NULL, NULL);
}
