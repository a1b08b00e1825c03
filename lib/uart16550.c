/* SPDX-License-Identifier: MIT */
/*
 * A 16550A UART (and, with a 64-byte FIFO, a 16750) as a pure state
 * machine, following the TI PC16550D datasheet. The guest reaches it
 * through vcon_uart_read/write, the host through vcon_uart_receive and
 * friends; output leaves through a sink that may refuse bytes, the
 * interrupt level is reported on change, and time arrives as an argument.
 *
 * Transmission happens in bursts (docs/uart-model.md): THR writes collect
 * in the TX FIFO and go to the sink when the FIFO is full, when the guest
 * makes any other access, or one character time later. Every value a guest
 * can read is what an instantly transmitting UART would show; what moves
 * is only when the THRE interrupt rises, and that lets a driver fill the
 * FIFO before it is interrupted again.
 *
 * Threading: none. Callers serialize calls per instance (vcon_serial does).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/uart.h>

#include "internal.h"
#include "uart16550_regs.h"

#define FIFO_MAX VCON_UART_RING /* ring size; the usable depth is cap below */

struct vcon_uart {
	/*
	 * First, so that vcon_uart_read/write in <vcon/uart.h> reach it:
	 * both FIFOs, the times, and the limits of the inline paths.
	 */
	struct vcon_uart_hot hot;

	struct vcon_uart_config cfg;
	unsigned fifo_size; /* 16 or 64: depth with FCR.FE set */
	unsigned cap;       /* current depth: fifo_size, or 1 in 16450 mode */
	unsigned trigger;   /* receive trigger level */

	uint8_t ier;        /* interrupt enable [rw] */
	uint8_t lcr;        /* line control [rw] */
	uint8_t mcr;        /* modem control [rw] */
	uint8_t lsr_err;    /* OE and revealed PE/FE/BI, cleared by LSR read */
	uint8_t msr_in;     /* modem inputs as MSR high nibble, as last seen */
	uint8_t msr_delta;  /* MSR low nibble [r, cleared by read] */
	uint8_t scr;        /* scratch [rw] */
	uint8_t fcr;        /* FIFO control as written [w] */
	uint8_t dll;        /* divisor latch, low [rw with DLAB] */
	uint8_t dlm;        /* divisor latch, high [rw with DLAB] */
	uint8_t rbr;        /* receiver buffer as a 16450: last byte received */
	uint8_t host_lines; /* VCON_UART_CTS... */

	bool cti_pending; /* character timeout latched */
	bool irq_level;   /* as last reported */
	bool tx_blocked;  /* the sink refused; wait for tx_ready */

	/* LSR_PE/FE/BI that came with each byte; 0 in every empty slot */
	uint8_t rx_flags[FIFO_MAX];
	unsigned rx_nflagged; /* entries with flags, for LSR bit 7 */

	uint64_t last_rx_ns; /* last byte received */

	struct vcon_uart_stats stats;
};

static inline bool
fifo_on(const struct vcon_uart *u)
{
	return u->fcr & FCR_FE;
}

static inline bool
loopback(const struct vcon_uart *u)
{
	return u->mcr & MCR_LOOP;
}

/*
 * One character on the line: start bit, 5-8 data bits, optional parity,
 * 1, 1.5 or 2 stop bits; counted in half bits so 1.5 stays exact. Each bit
 * lasts 16 clocks times the divisor.
 */
static void
update_char_time(struct vcon_uart *u)
{
	unsigned data = 5u + (u->lcr & LCR_WLS);
	unsigned half_bits = 2u * (1u + data) + ((u->lcr & LCR_PEN) ? 2u : 0u);
	unsigned divisor = (unsigned)u->dll | (unsigned)u->dlm << 8;

	if (!(u->lcr & LCR_STB))
		half_bits += 2;
	else
		half_bits += data == 5 ? 3u : 4u;
	/* The datasheet leaves divisor 0 undefined; treat it as the fastest. */
	if (divisor == 0)
		divisor = 1;
	u->hot.char_ns = (uint64_t)half_bits * divisor * 16u * 1000000000u /
			 (2u * VCON_UART_CLOCK_HZ);
	u->hot.cti_ns = 4 * u->hot.char_ns;
}

static void
update_trigger(struct vcon_uart *u)
{
	static const unsigned trig16[4] = { 1, 4, 8, 14 };
	static const unsigned trig64[4] = { 1, 16, 32, 56 };
	unsigned sel = (unsigned)(u->fcr & FCR_TRIG) >> 6;

	u->trigger = u->cap == 64 ? trig64[sel] : trig16[sel];
}

/* The modem inputs: the host's lines, or in loopback MCR's outputs. */
static uint8_t
modem_inputs(const struct vcon_uart *u)
{
	uint8_t in = 0;

	if (loopback(u)) {
		/* MCR bit 4 (PC16550D): DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD */
		if (u->mcr & MCR_DTR)
			in |= MSR_DSR;
		if (u->mcr & MCR_RTS)
			in |= MSR_CTS;
		if (u->mcr & MCR_OUT1)
			in |= MSR_RI;
		if (u->mcr & MCR_OUT2)
			in |= MSR_DCD;
		return in;
	}
	if (u->host_lines & VCON_UART_CTS)
		in |= MSR_CTS;
	if (u->host_lines & VCON_UART_DSR)
		in |= MSR_DSR;
	if (u->host_lines & VCON_UART_RI)
		in |= MSR_RI;
	if (u->host_lines & VCON_UART_DCD)
		in |= MSR_DCD;
	return in;
}

/*
 * Record changes of the modem inputs as MSR deltas. The datasheet keeps
 * the modem-status interrupt working in loopback, with MCR as the source,
 * so entering or leaving loopback is itself a change. TERI is set on the
 * trailing edge of RI only.
 */
static void
sample_modem(struct vcon_uart *u)
{
	uint8_t in = modem_inputs(u);
	uint8_t changed = (uint8_t)(in ^ u->msr_in);

	if (changed & MSR_CTS)
		u->msr_delta |= MSR_DCTS;
	if (changed & MSR_DSR)
		u->msr_delta |= MSR_DDSR;
	if (changed & MSR_DCD)
		u->msr_delta |= MSR_DDCD;
	if ((changed & MSR_RI) && !(in & MSR_RI))
		u->msr_delta |= MSR_TERI;
	u->msr_in = in;
}

/*
 * The interrupt identification, in the datasheet's priority order. The
 * character timeout shares the second level with received data and wins
 * over it when both hold, as on the chip (it is only pending while data
 * sits below the trigger level or unread).
 */
static inline uint8_t
intr_id(const struct vcon_uart *u)
{
	/* Polled consoles run with IER = 0: answer them first. */
	if (!u->ier)
		return IIR_NO_INT;
	if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_ERRORS))
		return IIR_RLSI;
	if ((u->ier & IER_ERBFI) && u->cti_pending)
		return IIR_CTI;
	if ((u->ier & IER_ERBFI) && u->hot.rx.count &&
	    (!fifo_on(u) || u->hot.rx.count >= u->trigger))
		return IIR_RDI;
	if ((u->ier & IER_ETBEI) && u->hot.thr_ipending)
		return IIR_THRI;
	if ((u->ier & IER_EDSSI) && u->msr_delta)
		return IIR_MSI;
	return IIR_NO_INT;
}

static inline void
update_irq(struct vcon_uart *u)
{
	bool level = intr_id(u) != IIR_NO_INT;

	if (level == u->irq_level)
		return;
	u->irq_level = level;
	if (level)
		u->stats.irq_raises++;
	u->cfg.irq.set_level(u->cfg.irq.ctx, level);
}

static inline void due_at_most(struct vcon_uart *u, uint64_t d);
static uint64_t next_deadline(const struct vcon_uart *u);

/* ---- receive side */

/* PE/FE/BI of the byte at the top of the FIFO become visible in LSR. */
static void
reveal_head(struct vcon_uart *u)
{
	if (u->hot.rx.count)
		u->lsr_err |= u->rx_flags[u->hot.rx.head];
}

static void
rx_push(struct vcon_uart *u, uint8_t byte, uint8_t flags, uint64_t now)
{
	struct vcon_uart_ring *f = &u->hot.rx;
	unsigned tail;

	/*
	 * Without the FIFO, RBR is the holding register itself and keeps the
	 * last byte received, also after it was read.
	 */
	if (!fifo_on(u))
		u->rbr = byte;
	if (f->count >= u->cap) {
		/*
		 * Overrun. In FIFO mode the byte in the shift register is
		 * lost and the FIFO kept; in 16450 mode the new byte
		 * overwrites the holding register (datasheet, LSR bit 1).
		 */
		u->lsr_err |= LSR_OE;
		u->stats.rx_overruns++;
		if (fifo_on(u))
			return;
		if (u->rx_flags[f->head])
			u->rx_nflagged--;
		f->data[f->head] = byte;
		u->rx_flags[f->head] = flags;
		if (flags)
			u->rx_nflagged++;
		u->lsr_err |= flags;
		u->last_rx_ns = now;
		return;
	}
	tail = (f->head + f->count) & (FIFO_MAX - 1);
	f->data[tail] = byte;
	u->rx_flags[tail] = flags;
	if (flags)
		u->rx_nflagged++;
	if (f->count++ == 0)
		reveal_head(u);
	u->last_rx_ns = now;
	due_at_most(u, now + u->hot.cti_ns);
}

static uint8_t
rx_pop(struct vcon_uart *u)
{
	struct vcon_uart_ring *f = &u->hot.rx;
	uint8_t byte = f->data[f->head];

	if (u->rx_flags[f->head]) {
		u->rx_nflagged--;
		u->rx_flags[f->head] = 0;
	}
	f->head = (f->head + 1) & (FIFO_MAX - 1);
	f->count--;
	reveal_head(u);
	return byte;
}

static void
rx_reset(struct vcon_uart *u)
{
	u->hot.rx.head = 0;
	u->hot.rx.count = 0;
	u->rx_nflagged = 0;
	memset(u->rx_flags, 0, sizeof(u->rx_flags));
	u->cti_pending = false;
	reg_clear(&u->lsr_err, LSR_CHAR_ERRORS);
}

/* ---- transmit side */

/*
 * The sink took `took` of the chunk of `chunk` bytes at the FIFO's head.
 * Returns false (and blocks) if it left some.
 */
static bool
tx_took(struct vcon_uart *u, size_t took, unsigned chunk)
{
	struct vcon_uart_ring *f = &u->hot.tx;

	if (took > chunk)
		took = chunk;
	u->hot.tx_bytes += took;
	f->head = (f->head + (unsigned)took) & (FIFO_MAX - 1);
	f->count -= (unsigned)took;
	if (took < chunk) {
		u->tx_blocked = true;
		return false;
	}
	return true;
}

/*
 * Hand the TX FIFO to the sink (or, in loopback, to the receiver). What
 * the sink does not take stays, with THRE clear, until tx_ready.
 */
static void
tx_drain(struct vcon_uart *u, uint64_t now)
{
	struct vcon_uart_ring *f = &u->hot.tx;

	if (!f->count || u->tx_blocked)
		return;
	if (loopback(u)) {
		while (f->count) {
			rx_push(u, f->data[f->head], 0, now);
			f->head = (f->head + 1) & (FIFO_MAX - 1);
			f->count--;
		}
	} else {
		while (f->count) {
			unsigned chunk = FIFO_MAX - f->head;

			if (chunk > f->count)
				chunk = f->count;
			u->hot.sink_calls++;
			if (!tx_took(u,
				     u->hot.sink.write(u->hot.sink.ctx,
						       f->data + f->head,
						       chunk),
				     chunk))
				return;
		}
	}
	f->head = 0;
	/* The FIFO just emptied: that is the THRE interrupt's event. */
	u->hot.thr_ipending = true;
}

static void
tx_reset(struct vcon_uart *u)
{
	u->hot.tx.head = 0;
	u->hot.tx.count = 0;
	u->tx_blocked = false;
	u->hot.thr_ipending = true;
}

/* ---- time */

static uint64_t
cti_deadline(const struct vcon_uart *u)
{
	uint64_t last = u->last_rx_ns > u->hot.last_read_ns
				? u->last_rx_ns
				: u->hot.last_read_ns;

	return last + u->hot.cti_ns;
}

/* The true earliest deadline of the pending timed work. */
static uint64_t
next_deadline(const struct vcon_uart *u)
{
	uint64_t d = VCON_NO_DEADLINE;

	if (u->hot.tx.count && !u->tx_blocked)
		d = u->hot.tx_deadline;
	if (!u->cti_pending && u->hot.rx.count && fifo_on(u)) {
		uint64_t c = cti_deadline(u);

		if (c < d)
			d = c;
	}
	return d;
}

/*
 * due_ns is a lower bound of next_deadline(): hot paths only pull it
 * earlier (min) and never compute deadlines; the slow path below finds the
 * real ones. Being early costs one slow-path visit, being late would lose
 * a timeout, so every event that can create an earlier deadline calls this.
 */
static inline void
due_at_most(struct vcon_uart *u, uint64_t d)
{
	if (d < u->hot.due_ns)
		u->hot.due_ns = d;
}

static void
catch_up_slow(struct vcon_uart *u, uint64_t now)
{
	if (u->hot.tx.count && !u->tx_blocked && now >= u->hot.tx_deadline)
		tx_drain(u, now);
	/*
	 * Datasheet: a timeout is indicated when at least one character is
	 * in the FIFO and none was received or read for four character
	 * times. FIFO mode only.
	 */
	if (!u->cti_pending && u->hot.rx.count && fifo_on(u) &&
	    now >= cti_deadline(u))
		u->cti_pending = true;
	u->hot.due_ns = next_deadline(u);
}

/*
 * Do what the passage of time has made due. Calling this on every entry
 * makes the model independent of how late the caller's timer fires.
 */
static inline void
catch_up(struct vcon_uart *u, uint64_t now)
{
	if (now >= u->hot.due_ns)
		catch_up_slow(u, now);
}

/*
 * Ask for the deadline we need, but only when it is earlier than the one
 * already armed: a later tick re-evaluates anyway, so the timer callback
 * stays off the per-byte paths.
 */
static inline void
arm_timer(struct vcon_uart *u)
{
	if (u->hot.due_ns < u->hot.armed_ns && u->cfg.timer.arm) {
		u->hot.armed_ns = u->hot.due_ns;
		u->cfg.timer.arm(u->cfg.timer.ctx, u->hot.due_ns);
	}
}

/*
 * What armed_ns reads with nothing armed. Without a timer the caller
 * ticks when it likes and no deadline is ever armed, so every deadline
 * counts as covered (the inline THR path then starts bursts too).
 */
static uint64_t
disarmed(const struct vcon_uart *u)
{
	return u->cfg.timer.arm ? VCON_NO_DEADLINE : 0;
}

static void refresh_fast(struct vcon_uart *u);

/*
 * Every entry point ends here: report the level, keep the timer right,
 * and tell the inline paths what they may do until the next call.
 */
static inline void
settle(struct vcon_uart *u)
{
	update_irq(u);
	arm_timer(u);
	refresh_fast(u);
}

/* ---- register access */

static void
write_fcr(struct vcon_uart *u, uint8_t val)
{
	uint8_t fcr = (uint8_t)(val & FCR_STORED);
	unsigned old_cap;

	/* Switching between FIFO and 16450 mode empties both FIFOs. */
	if ((val ^ u->fcr) & FCR_FE)
		val |= FCR_RFR | FCR_XFR;
	/* TL16C750: the 64-byte bit is writable only while DLAB is set. */
	if (u->fifo_size == 64) {
		if (u->lcr & LCR_DLAB)
			fcr |= (uint8_t)(val & FCR_FIFO64);
		else
			fcr |= (uint8_t)(u->fcr & FCR_FIFO64);
	}
	u->fcr = fcr;
	old_cap = u->cap;
	if (!fifo_on(u))
		u->cap = 1;
	else if (u->fifo_size == 64 && (u->fcr & FCR_FIFO64))
		u->cap = 64;
	else
		u->cap = 16;
	/* Any change of depth (incl. the 16750's 64-byte bit) empties both. */
	if (u->cap != old_cap)
		val |= FCR_RFR | FCR_XFR;
	update_trigger(u);
	if (val & FCR_RFR)
		rx_reset(u);
	if (val & FCR_XFR)
		tx_reset(u);
	u->hot.due_ns = next_deadline(u);
}

static void
write_ier(struct vcon_uart *u, uint8_t val)
{
	uint8_t changed = (uint8_t)((u->ier ^ val) & IER_MASK);

	u->ier = (uint8_t)(val & IER_MASK);
	/*
	 * Enabling ETBEI while the holding register is empty raises THRE at
	 * once; Linux's startup test toggles IER.THRI and expects it each
	 * time, and its TX start path relies on it.
	 */
	if (changed & IER_ETBEI)
		u->hot.thr_ipending =
			(u->ier & IER_ETBEI) && u->hot.tx.count == 0;
}

static void
write_lcr(struct vcon_uart *u, uint8_t val)
{
	bool brk = val & LCR_SB;

	if (brk != !!(u->lcr & LCR_SB)) {
		if (brk)
			u->stats.breaks_sent++;
		if (u->cfg.line.set_break)
			u->cfg.line.set_break(u->cfg.line.ctx, brk);
	}
	u->lcr = val;
	update_char_time(u);
	u->hot.due_ns = next_deadline(u);
}

/*
 * A polled console (Linux's with IER = 0, firmware's) reads LSR before
 * every THR write. Answering it from the held bytes, without draining
 * them, lets such a console's output leave in bursts too: LSR shows THRE
 * and TEMT as an instantly transmitting UART would, and the held bytes
 * count as sent. So there a THR write finds the transmitter full only
 * when the ring is (tx_room), and LSR answers without draining while the
 * ring has room for a whole FIFO more (lsr_drains): a guest that writes a
 * whole FIFO after seeing THRE loses nothing even if the sink refuses at
 * that moment. Only where nothing else could tell: no THRE interrupt
 * enabled (it rises when the FIFO empties), no loopback (the receiver
 * would see the bytes), and room in the ring for a second FIFO (not in
 * the 16750's 64-byte mode).
 */
static inline bool
room_to_defer(unsigned cap)
{
	return cap <= FIFO_MAX / 2; /* a second FIFO fits in the ring */
}

static inline bool
lsr_may_defer(const struct vcon_uart *u)
{
	return !(u->ier & IER_ETBEI) && !loopback(u) && room_to_defer(u->cap);
}

/* How many bytes the transmitter holds before a THR write finds it full. */
static inline unsigned
tx_room(const struct vcon_uart *u)
{
	return lsr_may_defer(u) ? FIFO_MAX : u->cap;
}

static void
thr_write(struct vcon_uart *u, uint8_t val, uint64_t now)
{
	struct vcon_uart_ring *f = &u->hot.tx;
	unsigned room = tx_room(u);

	/*
	 * A full FIFO leaves before the byte that finds it full, not with
	 * the byte that filled it: a driver's next access (the THRE
	 * handler's IIR read) then drains, reports and clears THRE at once.
	 */
	if (f->count >= room)
		tx_drain(u, now);
	/* Still full: only while the sink refuses; the chip loses it too. */
	if (f->count >= room) {
		u->stats.tx_dropped++;
		return;
	}
	if (f->count == 0) {
		u->hot.tx_deadline = now + u->hot.char_ns;
		due_at_most(u, u->hot.tx_deadline);
	}
	f->data[(f->head + f->count) & (FIFO_MAX - 1)] = val;
	f->count++;
	u->hot.thr_ipending = false;
}

/* IIR's FIFO bits: FIFO mode, and the 16750's 64-byte mode. */
static inline uint8_t
iir_fifo_bits(const struct vcon_uart *u)
{
	if (!fifo_on(u))
		return 0;
	return u->cap == 64 ? IIR_FIFO_ON | IIR_FIFO64 : IIR_FIFO_ON;
}

/*
 * The limits of the inline accesses in <vcon/uart.h>, after every call.
 * Each inline access must do exactly what the call would, and the call
 * must have nothing more to do: no callback, no deadline that the timer
 * does not already cover, no change of the interrupt level. What the
 * inline paths change themselves (the FIFO counts, THRE latch cleared)
 * they check as they go.
 */
static void
refresh_fast(struct vcon_uart *u)
{
	struct vcon_uart_hot *h = &u->hot;
	bool dlab = u->lcr & LCR_DLAB;

	/*
	 * THR: one more byte into a FIFO that is not full (a full one drains
	 * first), at the ring's start (the inline store needs no wrap; a
	 * drain that empties the FIFO restarts it there); clearing a latched
	 * THRE may not lower the line, so ETBEI off or THRE taken.
	 */
	h->tx_fill = 0;
	if (!dlab && h->tx.head == 0 &&
	    !((u->ier & IER_ETBEI) && h->thr_ipending))
		h->tx_fill = tx_room(u);
	/*
	 * LSR: no error bits to clear, THRE shown (no refusal), and the held
	 * bytes either count as sent (lsr_may_defer, while the ring has room
	 * for a FIFO more) or there are none.
	 */
	h->lsr_below = 0;
	if (!u->lsr_err && !u->tx_blocked) {
		h->lsr_below = lsr_may_defer(u) ? FIFO_MAX - u->cap + 1 : 1;
		h->lsr = LSR_THRE | LSR_TEMT;
		if (fifo_on(u) && u->rx_nflagged)
			reg_set(&h->lsr, LSR_RXFE);
	}
	/*
	 * RBR: FIFO mode, no flagged byte (nothing for LSR to reveal), no
	 * timeout latched (the read clears it), and with ERBFI the FIFO
	 * stays at or above the trigger level, so the line stays as it is.
	 */
	h->rx_keep = UINT32_MAX;
	if (!dlab && fifo_on(u) && !u->rx_nflagged && !u->cti_pending)
		h->rx_keep = (u->ier & IER_ERBFI) ? u->trigger : 0;
	/*
	 * IIR: the THRE handler's read that ends a burst, where THRE is all
	 * it can show and the line stays low: ETBEI on and nothing pending,
	 * THRE included (a THR write clears it and nothing inline raises
	 * any source; inline RBR reads only lower the receive FIFO), no
	 * loopback, no refusal (so the ring starts at its first slot).
	 */
	h->iir_burst = 0;
	if ((u->ier & IER_ETBEI) && intr_id(u) == IIR_NO_INT && !loopback(u) &&
	    !u->tx_blocked)
		h->iir_burst = IIR_THRI | iir_fifo_bits(u);
#ifdef VCON_UART_NO_INLINE
	/* The tests' reference build (tests/lib/uart_ref.c): none at all. */
	h->tx_fill = 0;
	h->lsr_below = 0;
	h->rx_keep = UINT32_MAX;
	h->iir_burst = 0;
#endif
}

/*
 * Whether an LSR read ends the burst: where it may not defer, or where
 * the ring has no room left for the whole FIFO the guest may now write.
 */
static inline bool
lsr_drains(const struct vcon_uart *u)
{
	return !lsr_may_defer(u) || u->hot.tx.count > FIFO_MAX - u->cap;
}

static inline uint8_t
read_lsr(struct vcon_uart *u)
{
	uint8_t val = u->lsr_err;

	if (u->hot.rx.count)
		val |= LSR_DR;
	if (u->hot.tx.count == 0 || !u->tx_blocked)
		val |= LSR_THRE | LSR_TEMT;
	if (fifo_on(u) && u->rx_nflagged)
		val |= LSR_RXFE;
	u->lsr_err = 0;
	return val;
}

static inline uint8_t
read_rbr(struct vcon_uart *u, uint64_t now_ns)
{
	uint8_t val;

	if (u->hot.rx.count) {
		val = rx_pop(u);
		/* The timeout restarts from this read. */
		due_at_most(u, now_ns + u->hot.cti_ns);
	} else {
		/* An empty FIFO reads 0; a 16450 keeps its last byte. */
		val = fifo_on(u) ? 0 : u->rbr;
	}
	u->hot.last_read_ns = now_ns;
	u->cti_pending = false;
	return val;
}

static uint8_t
read_iir(struct vcon_uart *u)
{
	uint8_t id = intr_id(u), val = id | iir_fifo_bits(u);

	/* Reading IIR clears THRE only when THRE is what it shows. */
	if (id == IIR_THRI)
		u->hot.thr_ipending = false;
	return val;
}

/* Every read, with all its effects; vcon_uart_read_call is the way in. */
static uint8_t
read_general(struct vcon_uart *u, unsigned off, uint64_t now_ns)
{
	uint8_t val = 0;

	off &= 7;
	catch_up(u, now_ns);
	/*
	 * Any access but a THR write ends the burst; LSR may not need to
	 * (lsr_drains).
	 */
	if (off != UART_LSR || lsr_drains(u))
		tx_drain(u, now_ns);
	switch (off) {
	case UART_RBR:
		val = (u->lcr & LCR_DLAB) ? u->dll : read_rbr(u, now_ns);
		break;
	case UART_IER:
		val = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
		break;
	case UART_IIR:
		val = read_iir(u);
		break;
	case UART_LCR:
		val = u->lcr;
		break;
	case UART_MCR:
		val = u->mcr;
		break;
	case UART_LSR:
		val = read_lsr(u);
		break;
	case UART_MSR:
		val = u->msr_in | u->msr_delta;
		u->msr_delta = 0;
		break;
	case UART_SCR:
		val = u->scr;
		break;
	}
	settle(u);
	return val;
}

static void
write_general(struct vcon_uart *u, unsigned off, uint8_t val, uint64_t now_ns)
{
	off &= 7;
	catch_up(u, now_ns);
	/* A THR write adds to the burst; anything else ends it. */
	if (off != UART_THR || (u->lcr & LCR_DLAB))
		tx_drain(u, now_ns);
	switch (off) {
	case UART_THR:
		if (u->lcr & LCR_DLAB) {
			u->dll = val;
			update_char_time(u);
			u->hot.due_ns = next_deadline(u);
		} else {
			thr_write(u, val, now_ns);
		}
		break;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->dlm = val;
			update_char_time(u);
			u->hot.due_ns = next_deadline(u);
		} else {
			write_ier(u, val);
		}
		break;
	case UART_FCR:
		write_fcr(u, val);
		break;
	case UART_LCR:
		write_lcr(u, val);
		break;
	case UART_MCR:
		u->mcr = (uint8_t)(val & MCR_MASK);
		sample_modem(u);
		break;
	case UART_LSR:
	case UART_MSR:
		/* Read-only on the chip (LSR writes are a factory test). */
		break;
	case UART_SCR:
		u->scr = val;
		break;
	}
	settle(u);
}

#ifndef VCON_UART_NO_INLINE
/*
 * The end of a burst as the two drivers that move data meet it: a polled
 * console's LSR read, or the THRE handler's IIR read, finding bytes held
 * while nothing is due. The general path would drain and answer the same
 * and then recompute what cannot have moved: nothing is due and the
 * timer is set, an LSR read here clears nothing and (ETBEI off) the THRE
 * latch cannot raise the line, and the inline limits change only if the
 * ring moved off its start, the sink refused, or THRE stayed latched with
 * ETBEI on. The tests' reference build has no such shortcut and must
 * agree with it.
 */
static bool
burst_end(struct vcon_uart *u, unsigned off, uint64_t now_ns, uint8_t *val)
{
	bool from_start = u->hot.tx.head == 0;
	bool etbei = u->ier & IER_ETBEI;

	if (now_ns >= u->hot.due_ns || !u->hot.tx.count || u->tx_blocked ||
	    loopback(u))
		return false;
	/* Only where the general path would drain too. */
	if (off == UART_LSR && !etbei && !u->lsr_err && lsr_drains(u)) {
		tx_drain(u, now_ns);
		*val = read_lsr(u);
	} else if (off == UART_IIR && etbei) {
		tx_drain(u, now_ns);
		*val = read_iir(u);
		update_irq(u);
	} else {
		return false;
	}
	if (!from_start || u->tx_blocked || (etbei && u->hot.thr_ipending))
		refresh_fast(u);
	return true;
}
#endif

/*
 * Bindings come here for every access, and so do vcon_uart_read/write
 * when their inline part declines; the inline part is tried again (a few
 * loads) so that bindings get it too.
 */
VCON_API uint8_t
vcon_uart_read_call(struct vcon_uart *u, unsigned off, uint64_t now_ns)
{
	uint8_t val;

	if (vcon_uart_read_inline(u, off, now_ns, &val))
		return val;
#ifndef VCON_UART_NO_INLINE
	if (burst_end(u, off & 7, now_ns, &val))
		return val;
#endif
	return read_general(u, off, now_ns);
}

/*
 * The inline IIR read's burst end when the sink took less than the
 * burst: what burst_end does after such a drain. The line stays low:
 * nothing was pending (iir_burst) and THRE does not latch.
 */
VCON_API uint8_t
vcon_uart__burst_short(struct vcon_uart *u, size_t took)
{
	uint8_t val;

	(void)tx_took(u, took, u->hot.tx.count);
	val = read_iir(u);
	refresh_fast(u);
	return val;
}

VCON_API void
vcon_uart_write_call(struct vcon_uart *u, unsigned off, uint8_t val,
		     uint64_t now_ns)
{
	if (!vcon_uart_write_inline(u, off, val, now_ns))
		write_general(u, off, val, now_ns);
}

/* ---- host side */

VCON_API size_t
vcon_uart_rx_room(const struct vcon_uart *u)
{
	if (loopback(u) || u->hot.rx.count >= u->cap)
		return 0;
	return u->cap - u->hot.rx.count;
}

VCON_API size_t
vcon_uart_receive(struct vcon_uart *u, const uint8_t *buf, size_t len,
		  uint64_t now_ns)
{
	size_t room, i;

	catch_up(u, now_ns);
	room = vcon_uart_rx_room(u);
	if (len > room)
		len = room;
	if (fifo_on(u) && len) {
		/*
		 * rx_push for a run that fits: no overrun, no error flags
		 * (so nothing for LSR to reveal), one timeout restart.
		 */
		struct vcon_uart_ring *f = &u->hot.rx;
		unsigned at = (f->head + f->count) & (FIFO_MAX - 1);
		size_t first = FIFO_MAX - at < len ? FIFO_MAX - at : len;

		/* Empty slots already carry no flags (rx_pop). */
		memcpy(f->data + at, buf, first);
		memcpy(f->data, buf + first, len - first);
		f->count += (unsigned)len;
		u->last_rx_ns = now_ns;
		due_at_most(u, now_ns + u->hot.cti_ns);
	} else {
		for (i = 0; i < len; i++)
			rx_push(u, buf[i], 0, now_ns);
	}
	u->stats.rx_bytes += len;
	settle(u);
	return len;
}

VCON_API size_t
vcon_uart_receive_force(struct vcon_uart *u, const uint8_t *buf, size_t len,
			uint64_t now_ns)
{
	size_t i;

	if (loopback(u))
		return 0;
	catch_up(u, now_ns);
	for (i = 0; i < len; i++) {
		if (u->hot.rx.count < u->cap)
			u->stats.rx_bytes++;
		rx_push(u, buf[i], 0, now_ns);
	}
	settle(u);
	return len;
}

VCON_API void
vcon_uart_send_break(struct vcon_uart *u, uint64_t now_ns)
{
	catch_up(u, now_ns);
	/* A break arrives as a zero character flagged BI (LSR bit 4). */
	if (!loopback(u)) {
		rx_push(u, 0, LSR_BI, now_ns);
		u->stats.breaks_received++;
	}
	settle(u);
}

VCON_API void
vcon_uart_set_modem_lines(struct vcon_uart *u, unsigned lines, uint64_t now_ns)
{
	catch_up(u, now_ns);
	u->host_lines = (uint8_t)(lines & (VCON_UART_CTS | VCON_UART_DSR |
					   VCON_UART_RI | VCON_UART_DCD));
	sample_modem(u);
	settle(u);
}

VCON_API void
vcon_uart_tx_ready(struct vcon_uart *u, uint64_t now_ns)
{
	u->tx_blocked = false;
	due_at_most(u, u->hot.tx_deadline);
	catch_up(u, now_ns);
	tx_drain(u, now_ns);
	settle(u);
}

VCON_API void
vcon_uart_flush(struct vcon_uart *u, uint64_t now_ns)
{
	catch_up(u, now_ns);
	tx_drain(u, now_ns);
	settle(u);
}

VCON_API void
vcon_uart_tick(struct vcon_uart *u, uint64_t now_ns)
{
	u->hot.armed_ns = disarmed(u);
	catch_up(u, now_ns);
	settle(u);
}

VCON_API bool
vcon_uart_irq_level(const struct vcon_uart *u)
{
	return u->irq_level;
}

/* ---- lifecycle */

static void
power_on(struct vcon_uart *u)
{
	/* PC16550D Table IV, master reset: divisor and SCR are unaffected. */
	u->ier = 0;
	u->lcr = 0;
	u->mcr = 0;
	u->fcr = 0;
	u->cap = 1;
	u->lsr_err = 0;
	u->msr_delta = 0;
	u->msr_in = modem_inputs(u);
	u->hot.thr_ipending = false;
	u->cti_pending = false;
	u->tx_blocked = false;
	u->hot.rx.head = u->hot.rx.count = u->rx_nflagged = 0;
	memset(u->rx_flags, 0, sizeof(u->rx_flags));
	u->hot.tx.head = u->hot.tx.count = 0;
	update_trigger(u);
	update_char_time(u);
	u->hot.due_ns = VCON_NO_DEADLINE;
	refresh_fast(u);
}

VCON_API int
vcon_uart_new(const struct vcon_uart_config *cfg, struct vcon_uart **out)
{
	struct vcon_uart *u;
	unsigned fifo_size;

	if (!cfg || !out || !cfg->irq.set_level || !cfg->tx.write)
		return -EINVAL;
	fifo_size = cfg->fifo_size ? cfg->fifo_size : 16;
	if (fifo_size != 16 && fifo_size != 64)
		return -EINVAL;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->cfg = *cfg;
	u->hot.sink = cfg->tx;
	u->fifo_size = fifo_size;
	u->host_lines = VCON_UART_CTS | VCON_UART_DSR | VCON_UART_DCD;
	/* 9600 baud until the guest programs the divisor, as PC firmware. */
	u->dll = 0x0c;
	u->hot.armed_ns = disarmed(u);
	power_on(u);
	*out = u;
	return 0;
}

VCON_API void
vcon_uart_free(struct vcon_uart *u)
{
	free(u);
}

VCON_API void
vcon_uart_reset(struct vcon_uart *u, uint64_t now_ns)
{
	if (u->lcr & LCR_SB) {
		if (u->cfg.line.set_break)
			u->cfg.line.set_break(u->cfg.line.ctx, false);
	}
	power_on(u);
	u->last_rx_ns = u->hot.last_read_ns = now_ns;
	settle(u);
}

VCON_API void
vcon_uart_save(const struct vcon_uart *u, struct vcon_uart_state *st)
{
	unsigned i;

	memset(st, 0, sizeof(*st));
	st->version = VCON_UART_STATE_VERSION;
	st->fifo_size = u->fifo_size;
	st->ier = u->ier;
	st->lcr = u->lcr;
	st->mcr = u->mcr;
	st->lsr = u->lsr_err;
	st->msr = (uint8_t)(u->msr_in | u->msr_delta);
	st->scr = u->scr;
	st->fcr = u->fcr;
	st->dll = u->dll;
	st->dlm = u->dlm;
	st->modem_lines = u->host_lines;
	st->thr_ipending = u->hot.thr_ipending;
	st->cti_pending = u->cti_pending;
	st->rx_count = u->hot.rx.count;
	st->tx_count = u->hot.tx.count;
	for (i = 0; i < u->hot.rx.count; i++) {
		unsigned at = (u->hot.rx.head + i) & (FIFO_MAX - 1);

		st->rx[i] = u->hot.rx.data[at];
		st->rx_flags[i] = u->rx_flags[at];
	}
	for (i = 0; i < u->hot.tx.count; i++)
		st->tx[i] =
			u->hot.tx.data[(u->hot.tx.head + i) & (FIFO_MAX - 1)];
	st->last_rx_ns = u->last_rx_ns;
	st->last_read_ns = u->hot.last_read_ns;
}

VCON_API int
vcon_uart_restore(struct vcon_uart *u, const struct vcon_uart_state *st,
		  uint64_t now_ns)
{
	unsigned cap, i;

	if (st->version != VCON_UART_STATE_VERSION ||
	    st->fifo_size != u->fifo_size)
		return -EINVAL;
	if (!(st->fcr & FCR_FE))
		cap = 1;
	else if (u->fifo_size == 64 && (st->fcr & FCR_FIFO64))
		cap = 64;
	else
		cap = 16;
	/* A polled console's bursts may fill the ring (tx_room). */
	if (st->rx_count > cap || st->tx_count > FIFO_MAX)
		return -EINVAL;

	u->ier = (uint8_t)(st->ier & IER_MASK);
	u->lcr = st->lcr;
	u->mcr = (uint8_t)(st->mcr & MCR_MASK);
	u->lsr_err = (uint8_t)(st->lsr & LSR_ERRORS);
	u->scr = st->scr;
	u->fcr = (uint8_t)(st->fcr & (FCR_STORED | FCR_FIFO64));
	u->dll = st->dll;
	u->dlm = st->dlm;
	u->host_lines = st->modem_lines;
	u->msr_in = modem_inputs(u);
	u->msr_delta = (uint8_t)(st->msr & MSR_DELTAS);
	u->hot.thr_ipending = st->thr_ipending;
	u->cti_pending = st->cti_pending;
	u->cap = cap;
	u->tx_blocked = false;
	u->hot.rx.head = 0;
	u->hot.rx.count = st->rx_count;
	u->rx_nflagged = 0;
	memset(u->rx_flags, 0, sizeof(u->rx_flags));
	for (i = 0; i < st->rx_count; i++) {
		u->hot.rx.data[i] = st->rx[i];
		u->rx_flags[i] = (uint8_t)(st->rx_flags[i] & LSR_CHAR_ERRORS);
		if (u->rx_flags[i])
			u->rx_nflagged++;
	}
	u->hot.tx.head = 0;
	u->hot.tx.count = st->tx_count;
	memcpy(u->hot.tx.data, st->tx, st->tx_count);
	u->last_rx_ns = st->last_rx_ns;
	u->hot.last_read_ns = st->last_read_ns;
	u->hot.tx_deadline = now_ns;
	update_trigger(u);
	update_char_time(u);
	u->hot.due_ns = next_deadline(u);
	u->hot.armed_ns = disarmed(u);
	settle(u);
	return 0;
}

VCON_API void
vcon_uart_get_stats(const struct vcon_uart *u, struct vcon_uart_stats *stats)
{
	*stats = u->stats;
	stats->tx_bytes = u->hot.tx_bytes;
	stats->sink_calls = u->hot.sink_calls;
}
