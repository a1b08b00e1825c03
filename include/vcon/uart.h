/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART register model (optionally a 16750 with a 64-byte FIFO).
 *
 * The model is a pure state machine: it has no locks, threads, clocks or
 * syscalls. The guest drives it through register reads and writes at
 * offsets 0-7, the host offers input bytes with vcon_uart_receive(), and the
 * model reports through the callbacks in its config: output bytes to a sink
 * that may take fewer than offered, the interrupt level on change, and a
 * deadline for the character-timeout and transmit timers. Time is passed in
 * by the caller on every call that may need it.
 *
 * Calls on one instance must be serialized by the caller (vcon_serial does
 * this with one lock per UART). Different instances are independent.
 */
#ifndef VCON_UART_H
#define VCON_UART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vcon/common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Register offsets the UART decodes, relative to its base port. */
#define VCON_UART_NREGS 8

/* The PC's conventional COM ports and their ISA interrupt lines. */
#define VCON_COM1_BASE 0x3f8
#define VCON_COM2_BASE 0x2f8
#define VCON_COM3_BASE 0x3e8
#define VCON_COM4_BASE 0x2e8
#define VCON_COM1_IRQ  4
#define VCON_COM2_IRQ  3
#define VCON_COM3_IRQ  4
#define VCON_COM4_IRQ  3

/* Input clock of a PC UART: divisor 1 gives 115200 baud. */
#define VCON_UART_CLOCK_HZ 1843200

/* Modem input lines the host side can drive (vcon_uart_set_modem_lines). */
#define VCON_UART_CTS 0x1u /* clear to send */
#define VCON_UART_DSR 0x2u /* data set ready */
#define VCON_UART_RI  0x4u /* ring indicator */
#define VCON_UART_DCD 0x8u /* data carrier detect */

struct vcon_uart;

/*
 * Events on the line that a byte sink cannot carry. Optional: a NULL
 * set_break means the host does not care.
 */
struct vcon_uart_line {
	/* The guest started (on) or stopped (off) sending a break (LCR.SB). */
	void (*set_break)(void *ctx, bool on);
	void *ctx;
};

struct vcon_uart_config {
	unsigned fifo_size;         /* 16 (16550A; also for 0) or 64 (16750) */
	struct vcon_irq irq;        /* required */
	struct vcon_sink tx;        /* required */
	struct vcon_timer timer;    /* optional; without it no timeouts fire */
	struct vcon_uart_line line; /* optional */
};

/* Version of struct vcon_uart_state this library writes and accepts. */
#define VCON_UART_STATE_VERSION 1

/*
 * The whole guest-visible state, for snapshot and migration. Plain data:
 * copy it, store it, restore it into a UART of the same fifo_size.
 */
struct vcon_uart_state {
	uint32_t version;     /* VCON_UART_STATE_VERSION */
	uint32_t fifo_size;   /* 16 or 64 */
	uint8_t ier;          /* interrupt enable */
	uint8_t lcr;          /* line control */
	uint8_t mcr;          /* modem control */
	uint8_t lsr;          /* line status */
	uint8_t msr;          /* modem status */
	uint8_t scr;          /* scratch */
	uint8_t fcr;          /* FIFO control as last written (write-only) */
	uint8_t dll;          /* divisor latch, low */
	uint8_t dlm;          /* divisor latch, high */
	uint8_t modem_lines;  /* VCON_UART_CTS... as driven by the host */
	bool thr_ipending;    /* THRE interrupt pending (an IIR read clears) */
	bool cti_pending;     /* character-timeout interrupt pending */
	uint32_t rx_count;    /* bytes in rx[], oldest first */
	uint32_t tx_count;    /* bytes in tx[], oldest first */
	uint8_t rx[64];       /* receive FIFO contents */
	uint8_t rx_flags[64]; /* per-byte LSR error bits (PE, FE, BI) */
	/* transmit FIFO contents not yet taken by the sink (a polled
	 * console's may fill all 64: docs/uart-model.md, polled consoles) */
	uint8_t tx[64];
	uint64_t last_rx_ns;   /* time of the last byte received */
	uint64_t last_read_ns; /* time of the last RBR read */
};

struct vcon_uart_stats {
	uint64_t tx_bytes;        /* bytes taken by the sink */
	uint64_t tx_dropped;      /* THR writes lost to a full transmit FIFO */
	uint64_t rx_bytes;        /* host bytes taken into the receive FIFO */
	uint64_t rx_overruns;     /* lost to a full receive FIFO (forced) */
	uint64_t breaks_sent;     /* breaks the guest started */
	uint64_t breaks_received; /* breaks the host sent */
	uint64_t irq_raises;      /* interrupt line low-to-high transitions */
	uint64_t sink_calls;      /* calls to the sink's write */
};

/*
 * vcon_uart_new - create a UART in its power-on reset state.
 *
 * The config is copied. fifo_size 0 means 16. irq.set_level and tx.write
 * must be set.
 *
 * Returns: 0, -EINVAL for a bad config, or -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_uart_new(const struct vcon_uart_config *cfg, struct vcon_uart **out);

/*
 * vcon_uart_free - release a UART. NULL is a no-op. No callback is made
 * during or after the call, so transmit bytes still held for their burst
 * are dropped: vcon_uart_flush first keeps the guest's last output.
 *
 * Context: serialize per instance.
 */
VCON_API void
vcon_uart_free(struct vcon_uart *u);

/*
 * vcon_uart_reset - return to the power-on state (MR pin). FIFOs are
 * emptied; the divisor and scratch registers keep their values, as on the
 * chip.
 *
 * Context: serialize per instance.
 */
VCON_API void
vcon_uart_reset(struct vcon_uart *u, uint64_t now_ns);

/*
 * vcon_uart_read_call - guest read of the register at off (0-7; higher
 * bits of off are ignored), as a function call.
 *
 * Returns: the register value. Reads have the chip's side effects
 * (RBR pops the FIFO, IIR clears a THRE interrupt, LSR clears errors, MSR
 * clears deltas).
 * Context: serialize per instance. May call the sink, irq and timer.
 *
 * C callers use vcon_uart_read() below, which answers the per-byte
 * accesses inline and calls this for the rest; bindings that cannot use
 * inline functions call this for every access, with the same result
 * (it tries the same inline part first).
 */
VCON_API uint8_t
vcon_uart_read_call(struct vcon_uart *u, unsigned off, uint64_t now_ns);

/*
 * vcon_uart_write_call - guest write of val to the register at off (0-7),
 * as a function call; vcon_uart_write() below is the inline entry.
 *
 * Context: serialize per instance. May call the sink, irq, timer and line.
 */
VCON_API void
vcon_uart_write_call(struct vcon_uart *u, unsigned off, uint8_t val,
		     uint64_t now_ns);

/*
 * The state that the inline accesses below read and write. It is the
 * first member of every struct vcon_uart, so a struct vcon_uart pointer
 * is also a pointer to it (C11 6.7.2.1p15), and its layout is part of this
 * library's ABI: a change to it changes the soname. Nothing outside
 * the inline functions below may touch it. The library keeps the four
 * limits (tx_fill, lsr_below, rx_keep, iir_burst) such that an inline
 * access does exactly what the call would, and no more than it: no
 * callback but the sink's at a burst's end, no deadline the timer does
 * not already cover, no change of the interrupt level
 * (docs/uart-model.md, "Inline accesses").
 */
#define VCON_UART_RING 64 /* ring size of either FIFO */

struct vcon_uart_ring {
	uint8_t data[VCON_UART_RING];
	uint32_t head, count;
};

struct vcon_uart_hot {
	uint64_t due_ns;       /* no timed work is due before this */
	uint64_t armed_ns;     /* deadline the timer already covers */
	uint64_t tx_deadline;  /* when the oldest held TX byte must leave */
	uint64_t char_ns;      /* one character time */
	uint64_t cti_ns;       /* four character times: the RX timeout */
	uint64_t last_read_ns; /* last RBR read */
	uint64_t tx_bytes;     /* stats.tx_bytes */
	uint64_t sink_calls;   /* stats.sink_calls */
	struct vcon_sink sink; /* config.tx */
	uint32_t tx_fill;      /* THR inline while tx.count < tx_fill */
	uint32_t lsr_below;    /* LSR inline while tx.count < lsr_below */
	uint32_t rx_keep;      /* RBR inline while rx.count > rx_keep */
	uint8_t lsr;           /* LSR (less DR) as an inline read shows it */
	uint8_t iir_burst;     /* IIR at an inline burst end; 0: none */
	bool thr_ipending;     /* THRE interrupt latched */
	struct vcon_uart_ring tx, rx;
};

/* Not for callers: the end of an inline burst the sink did not all take. */
VCON_API uint8_t
vcon_uart__burst_short(struct vcon_uart *u, size_t took);

/*
 * vcon_uart_read_inline - the part of a guest read done without a call:
 * an LSR read, an RBR read with data waiting, or the THRE handler's IIR
 * read that ends a burst (the sink is called), when nothing else is due.
 * Returns true with *val set if it did the read, false (nothing changed)
 * if the read needs vcon_uart_read_call.
 */
static inline bool
vcon_uart_read_inline(struct vcon_uart *u, unsigned off, uint64_t now_ns,
		      uint8_t *val)
{
	struct vcon_uart_hot *h = (struct vcon_uart_hot *)(void *)u;

	if (now_ns >= h->due_ns)
		return false;
	if (off == 5 && h->tx.count < h->lsr_below) {
		*val = (uint8_t)(h->lsr | (h->rx.count != 0));
		return true;
	}
	if (off == 0 && h->rx.count > h->rx_keep && h->tx.count == 0 &&
	    now_ns + h->cti_ns >= h->due_ns) {
		*val = h->rx.data[h->rx.head];
		h->rx.head = (h->rx.head + 1) & (VCON_UART_RING - 1);
		h->rx.count--;
		h->last_read_ns = now_ns;
		return true;
	}
	if (off == 2 && h->iir_burst && h->tx.count) {
		/* The burst leaves; THRE shows and clears, with no edge. */
		uint32_t n = h->tx.count;
		size_t took = h->sink.write(h->sink.ctx, h->tx.data, n);

		h->sink_calls++;
		if (took < n) {
			*val = vcon_uart__burst_short(u, took);
			return true;
		}
		h->tx_bytes += n;
		h->tx.count = 0;
		*val = h->iir_burst;
		return true;
	}
	return false;
}

/*
 * vcon_uart_write_inline - the part of a guest write done without a call:
 * a THR write into a transmit FIFO that is not full, when nothing else is
 * due. Returns true if it did the write, false (nothing changed) if the
 * write needs vcon_uart_write_call.
 */
static inline bool
vcon_uart_write_inline(struct vcon_uart *u, unsigned off, uint8_t val,
		       uint64_t now_ns)
{
	struct vcon_uart_hot *h = (struct vcon_uart_hot *)(void *)u;
	uint32_t n = h->tx.count;

	if (off != 0 || now_ns >= h->due_ns || n >= h->tx_fill)
		return false;
	if (n == 0) {
		/* A burst starts: its deadline must be armed already. */
		uint64_t d = now_ns + h->char_ns;

		if (d < h->armed_ns)
			return false;
		h->tx_deadline = d;
		if (d < h->due_ns)
			h->due_ns = d;
		h->thr_ipending = false;
	}
	h->tx.data[n] = val; /* tx_fill is 0 unless tx.head is 0 */
	h->tx.count = n + 1;
	return true;
}

/*
 * vcon_uart_read - guest read of the register at off (0-7; higher bits of
 * off are ignored).
 *
 * Returns: the register value, with the chip's side effects, as
 * vcon_uart_read_call: inline where vcon_uart_read_inline can, else the
 * call.
 * Context: serialize per instance. May call the sink, irq and timer.
 */
static inline uint8_t
vcon_uart_read(struct vcon_uart *u, unsigned off, uint64_t now_ns)
{
	uint8_t val;

	if (vcon_uart_read_inline(u, off, now_ns, &val))
		return val;
	return vcon_uart_read_call(u, off, now_ns);
}

/*
 * vcon_uart_write - guest write of val to the register at off (0-7), as
 * vcon_uart_write_call: inline where vcon_uart_write_inline can.
 *
 * Context: serialize per instance. May call the sink, irq, timer and line.
 */
static inline void
vcon_uart_write(struct vcon_uart *u, unsigned off, uint8_t val, uint64_t now_ns)
{
	if (!vcon_uart_write_inline(u, off, val, now_ns))
		vcon_uart_write_call(u, off, val, now_ns);
}

/*
 * vcon_uart_receive - offer host bytes to the guest side.
 *
 * Takes at most vcon_uart_rx_room() bytes; never overruns. In loopback
 * mode the line is disconnected from the host and nothing is taken.
 *
 * Returns: the number of bytes taken from the front of buf.
 * Context: serialize per instance. May call irq and timer.
 */
VCON_API size_t
vcon_uart_receive(struct vcon_uart *u, const uint8_t *buf, size_t len,
		  uint64_t now_ns);

/*
 * vcon_uart_rx_room - how many bytes vcon_uart_receive would take now.
 *
 * Context: serialize per instance.
 */
VCON_API size_t
vcon_uart_rx_room(const struct vcon_uart *u);

/*
 * vcon_uart_receive_force - offer host bytes as a line would: bytes that
 * arrive while the receive FIFO is full are lost and set the overrun error,
 * as on the chip. For tests and for hosts that want hardware-faithful loss.
 *
 * Returns: the number of bytes consumed (always len, outside loopback).
 * Context: serialize per instance. May call irq and timer.
 */
VCON_API size_t
vcon_uart_receive_force(struct vcon_uart *u, const uint8_t *buf, size_t len,
			uint64_t now_ns);

/*
 * vcon_uart_send_break - the host sends a break: a zero character with the
 * break-interrupt flag enters the receive FIFO, as Linux's magic SysRq
 * expects.
 *
 * Context: serialize per instance. May call irq and timer.
 */
VCON_API void
vcon_uart_send_break(struct vcon_uart *u, uint64_t now_ns);

/*
 * vcon_uart_set_modem_lines - set the modem input lines (VCON_UART_CTS,
 * DSR, RI, DCD), as a backend's connection state would. Changes show in
 * MSR and its delta bits and may raise the modem-status interrupt. The
 * reset value is CTS | DSR | DCD.
 *
 * Context: serialize per instance. May call irq.
 */
VCON_API void
vcon_uart_set_modem_lines(struct vcon_uart *u, unsigned lines, uint64_t now_ns);

/*
 * vcon_uart_tx_ready - the sink can take more bytes: resume transmitting
 * what is held in the transmit FIFO.
 *
 * Context: serialize per instance. May call the sink, irq and timer.
 */
VCON_API void
vcon_uart_tx_ready(struct vcon_uart *u, uint64_t now_ns);

/*
 * vcon_uart_flush - hand the transmit bytes held for the current burst to
 * the sink now, not at the guest's next access or a character time after
 * the burst began: before the VMM stops, exits or frees the UART, so that
 * the guest's last output is not lost. Bytes a refusing sink left wait
 * for vcon_uart_tx_ready as before.
 *
 * Context: serialize per instance. May call the sink, irq and timer.
 */
VCON_API void
vcon_uart_flush(struct vcon_uart *u, uint64_t now_ns);

/*
 * vcon_uart_tick - the deadline last armed through config.timer has
 * passed (or may have: early and repeated calls are harmless).
 *
 * Context: serialize per instance. May call the sink, irq and timer.
 */
VCON_API void
vcon_uart_tick(struct vcon_uart *u, uint64_t now_ns);

/*
 * vcon_uart_irq_level - the level last reported to config.irq.
 *
 * Context: serialize per instance.
 */
VCON_API bool
vcon_uart_irq_level(const struct vcon_uart *u);

/*
 * vcon_uart_save - copy the guest-visible state into st.
 *
 * Context: serialize per instance.
 */
VCON_API void
vcon_uart_save(const struct vcon_uart *u, struct vcon_uart_state *st);

/*
 * vcon_uart_restore - load state saved by vcon_uart_save, possibly in
 * another process. The interrupt level is recomputed and reported, and the
 * timer re-armed.
 *
 * Returns: 0, or -EINVAL for an unknown version, a fifo_size different from
 * this UART's, or a count out of range (the UART is then unchanged).
 * Context: serialize per instance. May call irq and timer.
 */
VCON_API VCON_NODISCARD int
vcon_uart_restore(struct vcon_uart *u, const struct vcon_uart_state *st,
		  uint64_t now_ns);

/*
 * vcon_uart_get_stats - copy the counters.
 *
 * Context: serialize per instance.
 */
VCON_API void
vcon_uart_get_stats(const struct vcon_uart *u, struct vcon_uart_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VCON_UART_H */
