/* SPDX-License-Identifier: MIT */
/*
 * virtio-serial (virtio 1.2, 5.3) over the transitional PCI transport:
 * see include/vcon/virtio_serial.h.
 *
 * Queues: port 0 receive/transmit are 0/1, the control receive/transmit
 * queues are 2/3, port n >= 1 uses 2n + 2 and 2n + 3.
 *
 * What Linux's virtio_console does, and so what this must handle: the
 * guest sends DEVICE_READY once its control receive buffers are posted; we
 * answer with PORT_ADD per port; it sets each port up and sends
 * PORT_READY, to which we answer CONSOLE_PORT (and RESIZE) for consoles,
 * PORT_NAME for named ports and PORT_OPEN when the host side is
 * connected. Opening and closing /dev/vportNpM sends PORT_OPEN 1/0. The
 * guest spins on the control transmit queue and on a console's transmit
 * queue until its buffer comes back, so those are always answered within
 * the kick. A RESIZE carries cols then rows, as Linux and QEMU lay it out
 * (the spec's struct says rows first; the guests are what we serve).
 *
 * Locking: the transport's lock is the controller's lock. Chardev
 * callbacks (loop thread) take it; calls into the chardev are made with
 * it held (lock order: device, then chardev). vcon_chr_detach waits for
 * running callbacks, so it is called with the lock released.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/virtio_serial.h>

#include "internal.h"
#include "virtio_pci.h"

#define VIRTIO_ID_CONSOLE 3
#define F_SIZE            0
#define F_MULTIPORT       1
#define F_EMERG_WRITE     2

#define QUEUE_SIZE 256
#define TX_BATCH   64 /* guest buffers handed to the backend at once */
/* A starved receive queue asks for a kick after at most this many
 * buffers come back, and for the next one after RX_LOOK_NS. */
#define RX_KICK_MAX 64
#define RX_LOOK_NS  (10 * 1000 * 1000)
#define CTRL_RX     2
#define CTRL_TX     3
#define BAD_ID      0xffffffffu

enum {
	MSG_DEVICE_READY = 0,
	MSG_PORT_ADD = 1,
	MSG_PORT_REMOVE = 2,
	MSG_PORT_READY = 3,
	MSG_CONSOLE_PORT = 4,
	MSG_RESIZE = 5,
	MSG_PORT_OPEN = 6,
	MSG_PORT_NAME = 7,
};

struct ctrl_msg {
	uint32_t id;
	uint16_t event, value;
	uint16_t cols, rows;                  /* RESIZE */
	char name[VCON_VSERIAL_NAME_MAX + 1]; /* PORT_NAME */
};

/*
 * Transmit buffers taken from the guest and not yet given back: their
 * readable bytes as one list of iovecs (the first may be partly written
 * already), and where each buffer's iovecs end.
 */
struct tx_batch {
	unsigned nbuf, niov;
	uint16_t head[TX_BATCH];
	uint16_t end[TX_BATCH];
	struct iovec iov[VCON_VQ_MAX_SIZE]; /* a chain's most segments */
};

struct port {
	struct vcon_virtio_serial *vs;
	unsigned nr;
	bool console;
	char name[VCON_VSERIAL_NAME_MAX + 1];
	struct vcon_chr_fe *fe;
	struct vcon_loop_timer *stall; /* consoles only */
	struct vcon_loop_timer *rx_look;
	bool dead;        /* removed; callbacks do nothing */
	bool guest_ready; /* PORT_READY 1 came */
	bool guest_open;
	bool host_open;
	bool rx_starved;  /* the chardev holds input we had no buffer for */
	bool tx_dropping; /* a console gave up waiting; drop until tx_ready */
	uint64_t stall_deadline;
	struct tx_batch tx; /* held transmit buffers */
	struct vcon_vserial_port_stats st;
};

struct pending_event {
	unsigned port;
	enum vcon_vserial_event ev;
};

struct vcon_virtio_serial {
	struct vcon_virtio_serial_config cfg;
	struct vcon__vpci *t;
	unsigned max_ports;
	struct port **ports;
	bool multiport;
	bool guest_ready;      /* DEVICE_READY 1 came */
	struct ctrl_msg *ctrl; /* ring of control messages for the guest */
	unsigned ctrl_cap, ctrl_head, ctrl_len;
	struct vcon_vq_elem scratch;
	uint8_t config[12];
	const char *broken_why;
	bool broken_reported;
	struct pending_event *events; /* reported after the lock is dropped */
	unsigned nevents, events_cap;
};

static unsigned
rx_queue(unsigned nr)
{
	return nr == 0 ? 0 : 2 * nr + 2;
}

static unsigned
tx_queue(unsigned nr)
{
	return rx_queue(nr) + 1;
}

static struct port *
port_of_queue(struct vcon_virtio_serial *vs, unsigned q, bool *tx)
{
	unsigned nr;

	*tx = q & 1;
	if (q == CTRL_RX || q == CTRL_TX)
		return NULL;
	nr = q < 2 ? 0 : (q - 2) / 2;
	return nr < vs->max_ports ? vs->ports[nr] : NULL;
}

static void
post_event(struct vcon_virtio_serial *vs, unsigned port,
	   enum vcon_vserial_event ev)
{
	if (!vs->cfg.event || vs->nevents == vs->events_cap)
		return;
	vs->events[vs->nevents++] = (struct pending_event){ port, ev };
}

static void
mark_broken(struct vcon_virtio_serial *vs, unsigned q)
{
	if (!vs->broken_why)
		vs->broken_why = vs->t->vqs[q].why;
	vcon__vpci_broken(vs->t, q);
	if (!vs->broken_reported) {
		vs->broken_reported = true;
		post_event(vs, q, VCON_VSERIAL_BROKEN);
	}
}

/* ---- control messages to the guest ---------------------------------- */

static void
flush_ctrl(struct vcon_virtio_serial *vs)
{
	struct vcon_vq *vq = &vs->t->vqs[CTRL_RX];
	bool pushed = false;
	uint8_t hdr[8 + 4];
	int rc;

	if (!vcon__vpci_queue_ok(vs->t, CTRL_RX))
		return;
	while (vs->ctrl_len) {
		const struct ctrl_msg *m = &vs->ctrl[vs->ctrl_head];
		size_t n = 8, extra = 0;

		rc = vcon__vq_pop(vq, &vs->scratch);
		if (rc < 0) {
			mark_broken(vs, CTRL_RX);
			return;
		}
		if (rc == 0)
			break;
		memcpy(hdr, &m->id, 4);
		memcpy(hdr + 4, &m->event, 2);
		memcpy(hdr + 6, &m->value, 2);
		if (m->event == MSG_RESIZE) {
			memcpy(hdr + 8, &m->cols, 2);
			memcpy(hdr + 10, &m->rows, 2);
			n = 12;
		}
		n = vcon__vq_elem_write(&vs->scratch, 0, hdr, n);
		if (m->event == MSG_PORT_NAME) {
			extra = strlen(m->name);
			extra = vcon__vq_elem_write(&vs->scratch, n, m->name,
						    extra);
		}
		vcon__vq_push(vq, vs->scratch.head, (uint32_t)(n + extra));
		pushed = true;
		vs->ctrl_head = (vs->ctrl_head + 1) % vs->ctrl_cap;
		vs->ctrl_len--;
	}
	if (pushed)
		vcon__vpci_used(vs->t, CTRL_RX);
}

/*
 * Queue a message. The ring holds a few messages per port; should a guest
 * never post control buffers while ports churn, the oldest go first.
 */
static struct ctrl_msg *
send_ctrl(struct vcon_virtio_serial *vs, uint32_t id, uint16_t event,
	  uint16_t value)
{
	struct ctrl_msg *m;

	if (!vs->multiport)
		return NULL;
	if (vs->ctrl_len == vs->ctrl_cap) {
		vs->ctrl_head = (vs->ctrl_head + 1) % vs->ctrl_cap;
		vs->ctrl_len--;
	}
	m = &vs->ctrl[(vs->ctrl_head + vs->ctrl_len) % vs->ctrl_cap];
	memset(m, 0, sizeof(*m));
	m->id = id;
	m->event = event;
	m->value = value;
	vs->ctrl_len++;
	return m; /* for a message's payload */
}

/*
 * A console's window size, from its backend: RESIZE for a multiport
 * guest, and the config's cols/rows (port 0) for one without.
 */
static void
send_size(struct vcon_virtio_serial *vs, struct port *p)
{
	struct vcon_winsize ws;
	struct ctrl_msg *m;

	if (!p->console || !p->fe ||
	    vcon_chr_get_winsize(vcon_chr_fe_backend(p->fe), &ws) < 0)
		return;
	if (p->nr == 0) {
		memcpy(vs->config, &ws.cols, 2);
		memcpy(vs->config + 2, &ws.rows, 2);
		if (!vs->multiport)
			vcon__vpci_config_changed(vs->t);
	}
	if (!vs->multiport || !p->guest_ready)
		return;
	m = send_ctrl(vs, p->nr, MSG_RESIZE, 0);
	m->cols = ws.cols;
	m->rows = ws.rows;
}

static void
send_port_setup(struct vcon_virtio_serial *vs, struct port *p)
{
	struct ctrl_msg *m;

	if (p->console) {
		send_ctrl(vs, p->nr, MSG_CONSOLE_PORT, 1);
		send_size(vs, p);
	}
	if (p->name[0] && (m = send_ctrl(vs, p->nr, MSG_PORT_NAME, 1)))
		memcpy(m->name, p->name, sizeof(m->name));
	if (p->host_open)
		send_ctrl(vs, p->nr, MSG_PORT_OPEN, 1);
}

/* ---- guest to host ------------------------------------------------- */

/* Add a popped buffer's readable segments; false when they do not fit. */
static bool
batch_add(struct tx_batch *b, const struct vcon_vq_elem *e)
{
	unsigned i;

	if (b->niov + e->nout > VCON_VQ_MAX_SIZE)
		return false;
	for (i = 0; i < e->nout; i++)
		b->iov[b->niov++] =
			(struct iovec){ e->seg[i].p, e->seg[i].len };
	b->head[b->nbuf] = e->head;
	b->end[b->nbuf++] = (uint16_t)b->niov;
	return true;
}

/*
 * n bytes of the batch went: give back each buffer whose bytes all went,
 * and keep the rest, first at the front. Returns how many went back.
 */
static unsigned
batch_consume(struct vcon_virtio_serial *vs, struct port *p, size_t n)
{
	struct vcon_vq *vq = &vs->t->vqs[tx_queue(p->nr)];
	struct tx_batch *b = &p->tx;
	unsigned iov = 0, done = 0, i;

	while (iov < b->niov && n >= b->iov[iov].iov_len)
		n -= b->iov[iov++].iov_len;
	if (iov < b->niov) {
		b->iov[iov].iov_base = (uint8_t *)b->iov[iov].iov_base + n;
		b->iov[iov].iov_len -= n;
	}
	while (done < b->nbuf && b->end[done] <= iov)
		vcon__vq_push(vq, b->head[done++], 0);
	memmove(b->iov, b->iov + iov, (b->niov - iov) * sizeof(b->iov[0]));
	b->niov -= iov;
	for (i = done; i < b->nbuf; i++) {
		b->head[i - done] = b->head[i];
		b->end[i - done] = (uint16_t)(b->end[i] - iov);
	}
	b->nbuf -= done;
	return done;
}

/* Give every held buffer back, its bytes unsent (reset, removal). */
static void
batch_return(struct vcon_virtio_serial *vs, struct port *p)
{
	struct vcon_vq *vq = &vs->t->vqs[tx_queue(p->nr)];
	unsigned i;

	for (i = 0; i < p->tx.nbuf; i++)
		vcon__vq_push(vq, p->tx.head[i], 0);
	if (p->tx.nbuf)
		vcon__vpci_used(vs->t, tx_queue(p->nr));
	p->tx.nbuf = p->tx.niov = 0;
}

/*
 * Hand the held bytes to the backend, straight from guest memory and in
 * one call (one writev(2) where the backend's fd takes them at once), and
 * give back the buffers that went. True when they all did.
 */
static bool
drain_batch(struct vcon_virtio_serial *vs, struct port *p, bool *pushed)
{
	struct tx_batch *b = &p->tx;
	size_t len = 0, took;
	unsigned i;

	for (i = 0; i < b->niov; i++)
		len += b->iov[i].iov_len;
	if (!p->fe || p->tx_dropping) {
		if (p->tx_dropping)
			p->st.tx_dropped += len;
		took = len;
	} else {
		took = vcon_chr_fe_writev(p->fe, b->iov, (int)b->niov);
		p->st.tx_bytes += took;
	}
	if (batch_consume(vs, p, took))
		*pushed = true;
	return took == len;
}

static void
process_tx(struct vcon_virtio_serial *vs, struct port *p)
{
	unsigned q = tx_queue(p->nr);
	struct vcon_vq *vq = &vs->t->vqs[q];
	bool pushed = false, empty = false;
	int rc;

	if (!vcon__vpci_queue_ok(vs->t, q))
		return;
	/*
	 * No peer on a port's backend: the guest was told (PORT_OPEN 0) and
	 * its writers wait; what is already queued waits too, rather than
	 * overflowing the backend's backlog. A console cannot wait (hvc
	 * spins), so its output goes to the backlog and the policy.
	 */
	if (!p->console && !p->host_open)
		return;
	/*
	 * No kicks while we take buffers: the guest's would only wake us
	 * for what this loop finds anyway (4.1.5.4's notification
	 * suppression). Back on whenever we stop taking them.
	 */
	vcon__vq_set_notify(vq, false);
	while (!empty) {
		while (p->tx.nbuf < TX_BATCH) {
			rc = vcon__vq_pop(vq, &vs->scratch);
			if (rc < 0) {
				mark_broken(vs, q);
				return;
			}
			if (rc == 0) {
				/* A buffer added before kicks came back on. */
				if (!vcon__vq_set_notify(vq, true)) {
					empty = true;
					break;
				}
				vcon__vq_set_notify(vq, false);
				continue;
			}
			if (!batch_add(&p->tx, &vs->scratch)) {
				vcon__vq_unpop(vq); /* next batch */
				break;
			}
		}
		if (p->tx.nbuf == 0)
			break;
		if (!drain_batch(vs, p, &pushed)) {
			/* Back-pressure: the buffers stay with us until
			 * tx_ready; a console's only for a bounded time. */
			if (p->console && p->stall) {
				p->stall_deadline =
					vcon_now_ns() +
					VCON_VSERIAL_CONSOLE_STALL_NS;
				vcon_loop_timer_arm(p->stall,
						    p->stall_deadline);
			}
			vcon__vq_set_notify(vq, true);
			break;
		}
	}
	if (pushed)
		vcon__vpci_used(vs->t, q);
}

/* ---- host to guest ------------------------------------------------- */

static bool
rx_open(struct vcon_virtio_serial *vs, struct port *p)
{
	/* Linux discards data that reaches a port no program has open. */
	if (p->dead || !vcon__vpci_queue_ok(vs->t, rx_queue(p->nr)))
		return false;
	if (!vs->multiport)
		return p->nr == 0;
	return p->guest_ready && (p->console || p->guest_open);
}

/*
 * Starved: bytes and no buffer. A reading guest posts each buffer back
 * once it has read it, and Linux kicks for each (add_inbuf), so asking for
 * the next kick made every 4 KiB buffer of bulk input cost an exit and a
 * wakeup. Ask instead for a kick once the guest has posted back half of
 * what it still has to read (its used_event says how far it has got): it
 * reads the other half while we fill those. A guest that posts back fewer
 * than it said it had is asked for the next kick RX_LOOK_NS later.
 */
static bool
rx_starved_notify(struct port *p, struct vcon_vq *vq)
{
	unsigned n = vcon__vq_driver_backlog(vq) / 2;

	if (n > RX_KICK_MAX)
		n = RX_KICK_MAX;
	if (n > 1)
		vcon_loop_timer_arm(p->rx_look, vcon_now_ns() + RX_LOOK_NS);
	return vcon__vq_notify_after(vq, (uint16_t)n);
}

static size_t
deliver_rx(struct vcon_virtio_serial *vs, struct port *p, const uint8_t *buf,
	   size_t len)
{
	unsigned q = rx_queue(p->nr);
	struct vcon_vq *vq = &vs->t->vqs[q];
	size_t done = 0;
	int rc;

	if (!rx_open(vs, p))
		return 0;
	/*
	 * A receive queue needs a kick only when we have bytes and no
	 * buffer: the buffers a reading guest posts back would otherwise
	 * each cost an exit for nothing. Kicks stay off while we take
	 * buffers, and come back on only when we run out with bytes left.
	 */
	vcon__vq_set_notify(vq, false);
	while (done < len) {
		size_t n;

		rc = vcon__vq_pop(vq, &vs->scratch);
		if (rc < 0) {
			mark_broken(vs, q);
			break;
		}
		if (rc == 0) {
			/* A buffer added before kicks came back on. */
			if (!rx_starved_notify(p, vq))
				break;
			vcon__vq_set_notify(vq, false);
			continue;
		}
		n = vcon__vq_elem_write(&vs->scratch, 0, buf + done,
					len - done);
		vcon__vq_push(vq, vs->scratch.head, (uint32_t)n);
		done += n;
		if (n == 0)
			break; /* a buffer with no room: the guest's bug */
	}
	if (done) {
		p->st.rx_bytes += done;
		vcon__vpci_used(vs->t, q);
	}
	return done;
}

static void
resume_rx(struct port *p)
{
	if (p->rx_starved && p->fe) {
		p->rx_starved = false;
		vcon_chr_fe_input_ready(p->fe);
	}
}

/* ---- control messages from the guest -------------------------------- */

static void
guest_port_ready(struct vcon_virtio_serial *vs, struct port *p, bool ok)
{
	if (!ok || p->guest_ready)
		return;
	p->guest_ready = true;
	p->st.guest_ready = true;
	post_event(vs, p->nr, VCON_VSERIAL_GUEST_READY);
	send_port_setup(vs, p);
	if (p->console)
		resume_rx(p);
}

static void
guest_port_open(struct vcon_virtio_serial *vs, struct port *p, bool open)
{
	if (open == p->guest_open)
		return;
	p->guest_open = open;
	p->st.guest_open = open;
	if (open) {
		p->st.guest_opens++;
		resume_rx(p);
	} else {
		p->st.guest_closes++;
	}
	post_event(vs, p->nr,
		   open ? VCON_VSERIAL_GUEST_OPEN : VCON_VSERIAL_GUEST_CLOSE);
}

static void
handle_ctrl(struct vcon_virtio_serial *vs, const uint8_t *msg, size_t len)
{
	uint32_t id;
	uint16_t event, value;
	struct port *p;
	unsigned i;

	if (len < 8)
		return; /* too short to mean anything: ignored, as Linux does */
	memcpy(&id, msg, 4);
	memcpy(&event, msg + 4, 2);
	memcpy(&value, msg + 6, 2);
	if (event == MSG_DEVICE_READY) {
		if (value != 1 || vs->guest_ready)
			return;
		vs->guest_ready = true;
		for (i = 0; i < vs->max_ports; i++)
			if (vs->ports[i] && !vs->ports[i]->dead)
				send_ctrl(vs, i, MSG_PORT_ADD, 1);
		return;
	}
	p = id < vs->max_ports ? vs->ports[id] : NULL;
	if (!p || p->dead)
		return;
	switch (event) {
	case MSG_PORT_READY:
		guest_port_ready(vs, p, value == 1);
		break;
	case MSG_PORT_OPEN:
		guest_port_open(vs, p, value != 0);
		break;
	default:
		break; /* nothing else is the guest's to send */
	}
}

static void
process_ctrl_tx(struct vcon_virtio_serial *vs)
{
	struct vcon_vq *vq = &vs->t->vqs[CTRL_TX];
	uint8_t msg[8];
	bool pushed = false;
	int rc;

	/* The guest spins on this queue: answer everything now. */
	for (;;) {
		size_t n;

		rc = vcon__vq_pop(vq, &vs->scratch);
		if (rc < 0) {
			mark_broken(vs, CTRL_TX);
			return;
		}
		if (rc == 0)
			break;
		n = vcon__vq_elem_read(&vs->scratch, 0, msg, sizeof(msg));
		vcon__vq_push(vq, vs->scratch.head, 0);
		pushed = true;
		handle_ctrl(vs, msg, n);
	}
	if (pushed)
		vcon__vpci_used(vs->t, CTRL_TX);
	flush_ctrl(vs);
}

/* ---- transport callbacks (lock held) -------------------------------- */

static void
vs_notify(void *ctx, unsigned q)
{
	struct vcon_virtio_serial *vs = ctx;
	struct port *p;
	bool tx;

	if (q == CTRL_TX) {
		process_ctrl_tx(vs);
		return;
	}
	if (q == CTRL_RX) {
		flush_ctrl(vs);
		return;
	}
	p = port_of_queue(vs, q, &tx);
	if (!p || p->dead)
		return;
	if (tx)
		process_tx(vs, p);
	else
		resume_rx(p);
}

static void
vs_reset(void *ctx)
{
	struct vcon_virtio_serial *vs = ctx;
	unsigned i;

	vs->guest_ready = false;
	vs->ctrl_len = 0;
	vs->broken_why = NULL;
	vs->broken_reported = false;
	vs->multiport = false;
	for (i = 0; i < vs->max_ports; i++) {
		struct port *p = vs->ports[i];

		if (!p)
			continue;
		/* Held buffers belong to rings that no longer exist. */
		p->tx.nbuf = p->tx.niov = 0;
		p->guest_ready = p->guest_open = false;
		p->st.guest_ready = p->st.guest_open = false;
	}
}

static void
vs_driver_ok(void *ctx)
{
	struct vcon_virtio_serial *vs = ctx;
	unsigned i;

	vs->multiport = vs->t->driver_features >> F_MULTIPORT & 1;
	if (vs->multiport)
		return; /* the guest starts with DEVICE_READY */
	for (i = 0; i < vs->max_ports; i++)
		if (vs->ports[i])
			vs->ports[i]->rx_starved = true;
	if (vs->ports[0]) {
		vs->ports[0]->guest_ready = true;
		resume_rx(vs->ports[0]);
	}
}

static void
vs_cfg_read(void *ctx, unsigned off, void *buf, unsigned len)
{
	struct vcon_virtio_serial *vs = ctx;

	memcpy(buf, vs->config + off, len);
}

static void
vs_cfg_write(void *ctx, unsigned off, const void *buf, unsigned len)
{
	struct vcon_virtio_serial *vs = ctx;
	struct port *p = vs->ports[0];
	uint8_t c;

	/* emerg_wr (offset 8): one character for port 0, early or dying. */
	if (off != 8 || len < 1 || !p || !p->fe)
		return;
	memcpy(&c, buf, 1);
	p->st.tx_bytes += vcon_chr_fe_write(p->fe, &c, 1);
}

static void
vs_unlocked(void *ctx)
{
	struct vcon_virtio_serial *vs = ctx;
	struct pending_event ev[16];
	unsigned n, i;

	for (;;) {
		vcon__vpci_lock(vs->t);
		n = vs->nevents < ARRAY_SIZE(ev) ? vs->nevents : ARRAY_SIZE(ev);
		memcpy(ev, vs->events, n * sizeof(*ev));
		memmove(vs->events, vs->events + n,
			(vs->nevents - n) * sizeof(*ev));
		vs->nevents -= n;
		vcon__vpci_unlock(vs->t);
		if (n == 0)
			return;
		for (i = 0; i < n; i++)
			vs->cfg.event(vs->cfg.event_ctx, ev[i].port, ev[i].ev);
	}
}

static const struct vcon__virtio_ops vs_ops = {
	.notify = vs_notify,
	.reset = vs_reset,
	.driver_ok = vs_driver_ok,
	.cfg_read = vs_cfg_read,
	.cfg_write = vs_cfg_write,
	.unlocked = vs_unlocked,
};

/* ---- chardev callbacks (loop thread, no lock held) ------------------- */

static size_t
on_receive(void *ctx, const uint8_t *buf, size_t len)
{
	struct port *p = ctx;
	struct vcon_virtio_serial *vs = p->vs;
	size_t took;

	vcon__vpci_lock(vs->t);
	took = deliver_rx(vs, p, buf, len);
	if (took < len)
		p->rx_starved = true;
	vcon__vpci_unlock(vs->t);
	vs_unlocked(vs);
	return took;
}

static void
on_tx_ready(void *ctx)
{
	struct port *p = ctx;
	struct vcon_virtio_serial *vs = p->vs;

	vcon__vpci_lock(vs->t);
	if (!p->dead) {
		p->tx_dropping = false;
		if (p->stall)
			vcon_loop_timer_arm(p->stall, VCON_NO_DEADLINE);
		process_tx(vs, p);
	}
	vcon__vpci_unlock(vs->t);
	vs_unlocked(vs);
}

static void
on_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct port *p = ctx;
	struct vcon_virtio_serial *vs = p->vs;
	bool open;

	(void)arg;
	if (ev == VCON_CHR_EVENT_RESIZE) {
		vcon__vpci_lock(vs->t);
		if (!p->dead) {
			send_size(vs, p);
			flush_ctrl(vs);
		}
		vcon__vpci_unlock(vs->t);
		return;
	}
	if (ev != VCON_CHR_EVENT_OPENED && ev != VCON_CHR_EVENT_CLOSED)
		return;
	open = ev == VCON_CHR_EVENT_OPENED;
	vcon__vpci_lock(vs->t);
	if (!p->dead && p->host_open != open) {
		p->host_open = open;
		p->st.host_open = open;
		if (p->guest_ready) {
			send_ctrl(vs, p->nr, MSG_PORT_OPEN, open);
			flush_ctrl(vs);
		}
		if (open)
			process_tx(vs, p);
	}
	vcon__vpci_unlock(vs->t);
	vs_unlocked(vs);
}

static const struct vcon_chr_fe_ops port_fe_ops = {
	.receive = on_receive,
	.tx_ready = on_tx_ready,
	.event = on_event,
};

static void
on_stall(void *ctx, uint64_t now_ns)
{
	struct port *p = ctx;
	struct vcon_virtio_serial *vs = p->vs;

	vcon__vpci_lock(vs->t);
	if (!p->dead && p->tx.nbuf && now_ns >= p->stall_deadline) {
		/* The backend has had its chance: drop, count, move on. */
		p->tx_dropping = true;
		process_tx(vs, p);
	}
	vcon__vpci_unlock(vs->t);
	vs_unlocked(vs);
}

/*
 * RX_LOOK_NS after a starved queue asked for a late kick: buffers the
 * guest posted meanwhile are taken now, and if there are none the next
 * one it posts kicks.
 */
static void
on_rx_look(void *ctx, uint64_t now_ns)
{
	struct port *p = ctx;
	struct vcon_virtio_serial *vs = p->vs;
	unsigned q = rx_queue(p->nr);

	(void)now_ns;
	vcon__vpci_lock(vs->t);
	if (!p->dead && p->rx_starved && vcon__vpci_queue_ok(vs->t, q) &&
	    vcon__vq_set_notify(&vs->t->vqs[q], true))
		resume_rx(p);
	vcon__vpci_unlock(vs->t);
	vs_unlocked(vs);
}

/* ---- life cycle ------------------------------------------------------ */

VCON_API int
vcon_virtio_serial_new(const struct vcon_virtio_serial_config *cfg,
		       struct vcon_virtio_serial **out)
{
	struct vcon__vpci_config tc;
	struct vcon_virtio_serial *vs;
	unsigned max = cfg->max_nr_ports ? cfg->max_nr_ports
					 : VCON_VSERIAL_DEFAULT_PORTS;
	uint32_t max32 = max;
	int rc;

	if (max > VCON_VSERIAL_MAX_PORTS || !cfg->mem.map || !cfg->pci ||
	    !cfg->loop)
		return -EINVAL;
	vs = calloc(1, sizeof(*vs));
	if (!vs)
		return -ENOMEM;
	vs->cfg = *cfg;
	vs->max_ports = max;
	vs->ctrl_cap = 4 * max + 16;
	vs->events_cap = 4 * max + 16;
	vs->ports = calloc(max, sizeof(*vs->ports));
	vs->ctrl = calloc(vs->ctrl_cap, sizeof(*vs->ctrl));
	vs->events = calloc(vs->events_cap, sizeof(*vs->events));
	if (!vs->ports || !vs->ctrl || !vs->events) {
		rc = -ENOMEM;
		goto fail;
	}
	/* cols, rows: 0 until a console backend has a size. */
	memcpy(vs->config + 4, &max32, 4);
	tc = (struct vcon__vpci_config){
		.device_type = VIRTIO_ID_CONSOLE,
		.features = 1ull << F_SIZE | 1ull << F_MULTIPORT |
			    1ull << F_EMERG_WRITE,
		.nr_queues = 2 * (max + 1),
		.queue_size = QUEUE_SIZE,
		.cfg_size = sizeof(vs->config),
		.mem = cfg->mem,
		.ioeventfd = cfg->ioeventfd,
		.loop = cfg->loop,
		.ops = &vs_ops,
		.ctx = vs,
	};
	rc = vcon__vpci_new(&tc, cfg->pci, cfg->slot, &vs->t);
	if (rc)
		goto fail;
	*out = vs;
	return 0;
fail:
	free(vs->ports);
	free(vs->ctrl);
	free(vs->events);
	free(vs);
	return rc;
}

static void
free_port(struct port *p)
{
	vcon_chr_detach(p->fe);
	vcon_loop_timer_free(p->stall);
	vcon_loop_timer_free(p->rx_look);
	free(p);
}

VCON_API void
vcon_virtio_serial_free(struct vcon_virtio_serial *vs)
{
	unsigned i;

	if (!vs)
		return;
	vcon__vpci_stop_doorbells(vs->t);
	vcon__vpci_lock(vs->t);
	for (i = 0; i < vs->max_ports; i++)
		if (vs->ports[i])
			vs->ports[i]->dead = true;
	vcon__vpci_unlock(vs->t);
	for (i = 0; i < vs->max_ports; i++)
		if (vs->ports[i])
			free_port(vs->ports[i]);
	vcon__vpci_free(vs->t);
	free(vs->ports);
	free(vs->ctrl);
	free(vs->events);
	free(vs);
}

static int
check_name(const char *name)
{
	size_t n = strlen(name);

	if (n > VCON_VSERIAL_NAME_MAX || strchr(name, '/'))
		return -EINVAL;
	return 0;
}

static int
pick_nr(struct vcon_virtio_serial *vs,
	const struct vcon_vserial_port_config *pc)
{
	unsigned i;

	if (pc->nr >= 0) {
		if ((unsigned)pc->nr >= vs->max_ports)
			return -EINVAL;
		if (pc->nr == 0 && !pc->console)
			return -EINVAL;
		return vs->ports[pc->nr] ? -EEXIST : pc->nr;
	}
	/* Port 0 is the first console's, as in QEMU. */
	for (i = pc->console ? 0 : 1; i < vs->max_ports; i++)
		if (!vs->ports[i])
			return (int)i;
	return -ENOSPC;
}

VCON_API int
vcon_virtio_serial_add_port(struct vcon_virtio_serial *vs,
			    const struct vcon_vserial_port_config *pc)
{
	struct port *p;
	unsigned i;
	int nr, rc;

	if (pc->name && check_name(pc->name))
		return -EINVAL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->vs = vs;
	p->console = pc->console;
	if (pc->name)
		strcpy(p->name, pc->name);
	if (pc->console) {
		rc = vcon_loop_timer_new(vs->cfg.loop, on_stall, p, &p->stall);
		if (rc)
			goto fail;
	}
	rc = vcon_loop_timer_new(vs->cfg.loop, on_rx_look, p, &p->rx_look);
	if (rc)
		goto fail;
	if (pc->chr) {
		rc = vcon_chr_attach(pc->chr, &port_fe_ops, p, &p->fe);
		if (rc)
			goto fail;
	}
	vcon__vpci_lock(vs->t);
	/*
	 * Files and ttys are there from the start; sockets say OPENED. Asked
	 * after attaching, under our lock: a client that connected before
	 * the attach sent its OPENED to nobody, and one that connects now
	 * queues behind us on the lock.
	 */
	p->host_open = !pc->chr || vcon_chr_is_connected(pc->chr);
	p->st.host_open = p->host_open;
	nr = pick_nr(vs, pc);
	for (i = 0; nr >= 0 && p->name[0] && i < vs->max_ports; i++)
		if (vs->ports[i] && !strcmp(vs->ports[i]->name, p->name))
			nr = -EEXIST;
	if (nr >= 0) {
		p->nr = (unsigned)nr;
		vs->ports[nr] = p;
		p->rx_starved = true;
		if (vs->guest_ready) {
			send_ctrl(vs, p->nr, MSG_PORT_ADD, 1);
			flush_ctrl(vs);
		}
	}
	vcon__vpci_unlock(vs->t);
	if (nr < 0) {
		rc = nr;
		goto fail;
	}
	return nr;
fail:
	free_port(p);
	return rc;
}

VCON_API int
vcon_virtio_serial_remove_port(struct vcon_virtio_serial *vs, unsigned nr)
{
	struct port *p;

	vcon__vpci_lock(vs->t);
	p = nr < vs->max_ports ? vs->ports[nr] : NULL;
	if (!p) {
		vcon__vpci_unlock(vs->t);
		return -ENOENT;
	}
	p->dead = true;
	vs->ports[nr] = NULL;
	batch_return(vs, p); /* the guest's buffers, back */
	if (vs->guest_ready) {
		send_ctrl(vs, nr, MSG_PORT_REMOVE, 1);
		flush_ctrl(vs);
	}
	vcon__vpci_unlock(vs->t);
	vs_unlocked(vs);
	free_port(p);
	return 0;
}

VCON_API int
vcon_virtio_serial_port_stats(struct vcon_virtio_serial *vs, unsigned nr,
			      struct vcon_vserial_port_stats *st)
{
	int rc = -ENOENT;

	vcon__vpci_lock(vs->t);
	if (nr < vs->max_ports && vs->ports[nr]) {
		*st = vs->ports[nr]->st;
		rc = 0;
	}
	vcon__vpci_unlock(vs->t);
	return rc;
}

VCON_API void
vcon_virtio_serial_get_stats(struct vcon_virtio_serial *vs,
			     struct vcon_vserial_stats *st)
{
	vcon__vpci_lock(vs->t);
	st->broken = vcon__vpci_is_broken(vs->t);
	st->broken_why = vs->broken_why;
	st->interrupts = vs->t->interrupts;
	st->kicks = vs->t->kicks;
	st->isr_reads = vs->t->isr_reads;
	st->ctrl_queued = vs->ctrl_len;
	vcon__vpci_unlock(vs->t);
}

VCON_API unsigned
vcon_virtio_serial_pci_slot(const struct vcon_virtio_serial *vs)
{
	return vcon_pci_dev_slot(vs->t->pci);
}
