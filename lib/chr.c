/* SPDX-License-Identifier: MIT */
/*
 * The chardev core: frontends, the bounded output ring and its policies,
 * input flow control, the mux, the logfile, and the rules for calling
 * back. Backends only supply fds and connection changes.
 *
 * Threads and locks. Frontend calls (fe_write, input_ready, attach,
 * detach) may come from any thread and take chr->lock only. All fd I/O
 * happens on the loop thread: fe_write copies into the ring and queues the
 * flush task, which writes the whole ring at once; that batching is what
 * makes a byte-at-a-time device cheap. Callbacks to frontends are made on
 * the loop thread with chr->lock released, one at a time, and cb_fe names
 * the frontend being called so that detach can wait it out.
 *
 * Writes to the fd are made with the lock held. They never block (our fds
 * are non-blocking, or regular files), and holding the lock keeps the
 * keep-newest policy from discarding bytes the write is reading.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "chr_internal.h"
#include "internal.h"

/* fe->pending bits: one per event, plus tx_ready. */
#define PEND_EVENT(e) (1u << (e))
#define PEND_TX_READY (1u << 16)

/* errors_seen bits, so each kind of host error is reported once. */
enum { ERRK_WRITE, ERRK_READ, ERRK_LOG };

static void flush_task_fn(struct vcon__task *t);
static void stages_drain_locked(struct vcon_chr *chr, bool loop);
static void stage_look_fn(void *ctx, uint64_t now_ns);
static void input_task_fn(struct vcon__task *t);
static void notify_task_fn(struct vcon__task *t);
static void io_in_ready(struct vcon__watch *w, uint32_t revents);
static void io_out_ready(struct vcon__watch *w, uint32_t revents);

int
chr_set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
	    fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return -errno;
	return 0;
}

/* ---- the output ring ------------------------------------------------ */

static size_t
ring_used(const struct vcon_chr *chr)
{
	return (size_t)(chr->head - chr->tail);
}

static size_t
ring_free(const struct vcon_chr *chr)
{
	return chr->cap - ring_used(chr);
}

static void
ring_put(struct vcon_chr *chr, const uint8_t *buf, size_t len)
{
	size_t at = (size_t)(chr->head & chr->mask);
	size_t first = chr->mask + 1 - at < len ? chr->mask + 1 - at : len;

	memcpy(chr->ring + at, buf, first);
	memcpy(chr->ring, buf + first, len - first);
	chr->head += len;
}

/*
 * The used bytes of a power-of-2 ring of size bytes, from position tail:
 * one iovec, or two where they wrap. Returns how many.
 */
static int
ring_iov(uint8_t *buf, size_t size, uint64_t tail, size_t used,
	 struct iovec iov[2])
{
	size_t at = (size_t)(tail & (size - 1));
	size_t first = size - at < used ? size - at : used;

	iov[0] = (struct iovec){ buf + at, first };
	iov[1] = (struct iovec){ buf, used - first };
	return used > first ? 2 : 1;
}

/*
 * Keep-newest: make room by dropping the oldest bytes. Bytes a write on
 * the loop thread is sending right now cannot be dropped; while one is in
 * flight (a syscall's time) what does not fit is dropped from the new
 * bytes instead.
 */
static void
ring_put_keep(struct vcon_chr *chr, const uint8_t *buf, size_t len)
{
	size_t room = chr->cap - chr->inflight, drop;

	if (len > room) {
		chr->st.tx_dropped += len - room;
		buf += len - room;
		len = room;
	}
	if (ring_free(chr) < len) {
		drop = len - ring_free(chr);
		if (chr->inflight) {
			chr->st.tx_dropped += drop;
			len -= drop;
		} else {
			chr->tail += drop;
			chr->st.tx_dropped += drop;
		}
	}
	ring_put(chr, buf, len);
}

/* ---- callbacks ------------------------------------------------------ */

static void
queue_event(struct vcon_chr *chr, struct vcon_chr_fe *fe,
	    enum vcon_chr_event ev, int arg)
{
	if (ev == VCON_CHR_EVENT_FOCUS)
		fe->focus_arg = arg != 0;
	else if (ev == VCON_CHR_EVENT_ERROR)
		fe->pending_err = arg;
	fe->pending |= PEND_EVENT(ev);
	(void)chr;
}

static void
queue_event_all(struct vcon_chr *chr, enum vcon_chr_event ev, int arg)
{
	unsigned i;

	for (i = 0; i < chr->nfe; i++)
		queue_event(chr, chr->fe[i], ev, arg);
}

static struct vcon_chr_fe *
pending_fe(struct vcon_chr *chr)
{
	unsigned i;

	for (i = 0; i < chr->nfe; i++)
		if (chr->fe[i]->pending)
			return chr->fe[i];
	return NULL;
}

/*
 * Deliver every pending callback. Called on the loop thread with the lock
 * held; drops it around each call.
 */
static void
deliver_locked(struct vcon_chr *chr)
{
	struct vcon_chr_fe *fe;
	unsigned bit, ev;
	int arg;

	while ((fe = pending_fe(chr)) != NULL) {
		bit = fe->pending & PEND_TX_READY ? PEND_TX_READY
						  : fe->pending & -fe->pending;
		fe->pending &= ~bit;
		chr->cb_fe = fe;
		pthread_mutex_unlock(&chr->lock);
		if (bit == PEND_TX_READY) {
			if (fe->ops.tx_ready)
				fe->ops.tx_ready(fe->ctx);
		} else if (fe->ops.event) {
			for (ev = 0; PEND_EVENT(ev) != bit; ev++)
				;
			arg = ev == VCON_CHR_EVENT_FOCUS   ? fe->focus_arg
			      : ev == VCON_CHR_EVENT_ERROR ? fe->pending_err
							   : 0;
			fe->ops.event(fe->ctx, (enum vcon_chr_event)ev, arg);
		}
		pthread_mutex_lock(&chr->lock);
		chr->cb_fe = NULL;
		pthread_cond_broadcast(&chr->cb_idle);
	}
}

static void
notify_task_fn(struct vcon__task *t)
{
	struct vcon_chr *chr = container_of(t, struct vcon_chr, notify_task);

	pthread_mutex_lock(&chr->lock);
	deliver_locked(chr);
	pthread_mutex_unlock(&chr->lock);
}

void
chr_report_error(struct vcon_chr *chr, int err)
{
	pthread_mutex_lock(&chr->lock);
	chr->st.errors++;
	queue_event_all(chr, VCON_CHR_EVENT_ERROR, err);
	pthread_mutex_unlock(&chr->lock);
	vcon__task_schedule(&chr->notify_task);
}

/* Count an error; the first of each kind becomes an ERROR event. */
static void
host_error_locked(struct vcon_chr *chr, unsigned kind, int err)
{
	chr->st.errors++;
	if (chr->errors_seen & (1u << kind))
		return;
	chr->errors_seen |= 1u << kind;
	queue_event_all(chr, VCON_CHR_EVENT_ERROR, err);
	vcon__task_schedule(&chr->notify_task);
}

/* ---- watches -------------------------------------------------------- */

static void
set_watch_locked(struct vcon_chr *chr, struct vcon__watch *w, bool *pollable,
		 uint32_t events)
{
	int rc;

	if (!*pollable)
		return;
	rc = vcon__watch_set(w, events);
	if (rc == -EPERM) {
		/* A regular file or /dev/null: always ready. */
		*pollable = false;
		vcon__task_schedule(&chr->input_task);
	}
}

/* Ask epoll for exactly what the current state needs. Loop thread. */
static void
update_watches_locked(struct vcon_chr *chr)
{
	uint32_t in = 0, out = 0;

	if (chr->closing)
		return;
	if (chr->connected) {
		if (chr->in_fd >= 0 && !chr->in_eof && !chr->in_paused &&
		    chr->in_off == chr->in_len && chr->nfe > 0)
			in = EPOLLIN;
		if (chr->out_fd >= 0 && chr->out_blocked)
			out = EPOLLOUT;
	}
	if (chr->in_fd >= 0 && chr->in_fd == chr->out_fd) {
		set_watch_locked(chr, &chr->w_in, &chr->in_pollable, in | out);
		return;
	}
	if (chr->in_fd >= 0)
		set_watch_locked(chr, &chr->w_in, &chr->in_pollable, in);
	if (chr->out_fd >= 0)
		set_watch_locked(chr, &chr->w_out, &chr->out_pollable, out);
}

/*
 * Whether writing fd can never block the calling thread: a socket we send
 * to with MSG_DONTWAIT, an fd with O_NONBLOCK, or a regular file.
 */
static bool
never_blocks(const struct vcon_chr *chr, int fd)
{
	struct stat st;
	int fl;

	if (fd < 0)
		return false;
	if (chr->out_sock)
		return true;
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0 && (fl & O_NONBLOCK))
		return true;
	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
}

void
chr_connected(struct vcon_chr *chr, int in_fd, int out_fd)
{
	bool direct = never_blocks(chr, out_fd);

	pthread_mutex_lock(&chr->lock);
	chr->in_fd = in_fd;
	chr->out_fd = out_fd;
	chr->out_direct = direct;
	chr->in_pollable = chr->out_pollable = true;
	vcon__watch_init(&chr->w_in, chr->loop, in_fd, io_in_ready);
	vcon__watch_init(&chr->w_out, chr->loop, out_fd, io_out_ready);
	chr->connected = true;
	chr->in_eof = false;
	chr->out_blocked = false;
	chr->st.connects++;
	queue_event_all(chr, VCON_CHR_EVENT_OPENED, 0);
	pthread_mutex_unlock(&chr->lock);
	/* The backlog kept meanwhile goes out first. */
	vcon__task_schedule(&chr->flush_task);
	vcon__task_schedule(&chr->input_task);
	vcon__task_schedule(&chr->notify_task);
}

void
chr_disconnected(struct vcon_chr *chr)
{
	pthread_mutex_lock(&chr->lock);
	if (!chr->connected) {
		pthread_mutex_unlock(&chr->lock);
		return;
	}
	chr->connected = false;
	/* The backend closes the fd next: no caller may be writing it. */
	while (chr->direct_busy)
		pthread_cond_wait(&chr->cb_idle, &chr->lock);
	pthread_mutex_unlock(&chr->lock);
	/* Unlocked: stop may wait for a batch on another thread. */
	vcon__watch_stop(&chr->w_in);
	vcon__watch_stop(&chr->w_out);
	pthread_mutex_lock(&chr->lock);
	chr->in_fd = chr->out_fd = -1;
	chr->out_blocked = false;
	chr->st.disconnects++;
	queue_event_all(chr, VCON_CHR_EVENT_CLOSED, 0);
	pthread_mutex_unlock(&chr->lock);
	vcon__task_schedule(&chr->notify_task);
}

/* ---- output --------------------------------------------------------- */

static void
log_flush_locked(struct vcon_chr *chr)
{
	size_t off = 0;
	ssize_t n;

	while (off < chr->log_len) {
		n = write(chr->log_fd, chr->logbuf + off, chr->log_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			host_error_locked(chr, ERRK_LOG, n < 0 ? errno : EIO);
			break;
		}
		off += (size_t)n;
	}
	chr->log_len = 0;
}

static void
log_append_locked(struct vcon_chr *chr, const uint8_t *buf, size_t len)
{
	size_t n;

	while (len) {
		if (chr->log_len == CHR_LOGBUF)
			log_flush_locked(chr);
		n = CHR_LOGBUF - chr->log_len;
		if (n > len)
			n = len;
		memcpy(chr->logbuf + chr->log_len, buf, n);
		chr->log_len += n;
		buf += n;
		len -= n;
	}
}

/*
 * Write what the ring holds. Returns true when the peer has gone; the
 * caller then settles (watches, callbacks, the backend's hangup).
 */
static bool
flush_locked(struct vcon_chr *chr)
{
	bool hangup = false, freed = false;
	struct iovec iov[2];
	struct msghdr msg = { .msg_iov = iov };
	size_t used;
	ssize_t n;
	unsigned i;
	int fd, err;

	stages_drain_locked(chr, true);
	if (chr->log_fd >= 0 && chr->log_len)
		log_flush_locked(chr);
	while (chr->connected && chr->out_fd >= 0 && !chr->out_blocked &&
	       (used = ring_used(chr)) > 0) {
		msg.msg_iovlen = (size_t)ring_iov(chr->ring, chr->mask + 1,
						  chr->tail, used, iov);
		/*
		 * Unlocked, so devices keep appending meanwhile: they write
		 * past head, never into [tail, tail + used), and keep-newest
		 * leaves those bytes alone while inflight says so.
		 */
		chr->inflight = used;
		fd = chr->out_fd;
		pthread_mutex_unlock(&chr->lock);
		if (chr->out_sock)
			n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
		else
			n = writev(fd, iov, (int)msg.msg_iovlen);
		err = errno;
		pthread_mutex_lock(&chr->lock);
		chr->inflight = 0;
		if (n > 0) {
			chr->tail += (uint64_t)n;
			chr->st.tx_bytes += (uint64_t)n;
			chr->st.tx_writes++;
			freed = true;
			continue;
		}
		if (n < 0 && err == EINTR)
			continue;
		if (n < 0 && (err == EAGAIN || err == EWOULDBLOCK)) {
			/* Without epoll the next fe_write retries. */
			chr->out_blocked = chr->out_pollable;
			break;
		}
		if (n < 0 && (err == EPIPE || err == ECONNRESET || err == EIO ||
			      err == ENOTCONN)) {
			hangup = true;
			break;
		}
		/* ENOSPC, EFBIG, EDQUOT...: the bytes cannot go; drop them. */
		host_error_locked(chr, ERRK_WRITE, n < 0 ? err : EIO);
		chr->st.tx_dropped += used;
		chr->tail += used;
		freed = true;
		break;
	}
	if (freed) {
		/* Room again: what waited in a stage moves up (and is
		 * flushed), and refused frontends may write. */
		stages_drain_locked(chr, true);
		for (i = 0; i < chr->nfe; i++)
			if (chr->fe[i]->want_tx_ready) {
				chr->fe[i]->want_tx_ready = false;
				chr->fe[i]->pending |= PEND_TX_READY;
			}
	}
	return hangup;
}

static void
hangup(struct vcon_chr *chr)
{
	if (chr->be->hangup)
		chr->be->hangup(chr);
	else
		chr_disconnected(chr);
}

/*
 * The end of every loop-thread handler: set the watches for the new state
 * (unless the peer went), make the callbacks, drop the lock, and let the
 * backend handle a hang-up.
 */
static void
settle_and_unlock(struct vcon_chr *chr, bool hup)
{
	if (!hup)
		update_watches_locked(chr);
	deliver_locked(chr);
	pthread_mutex_unlock(&chr->lock);
	if (hup)
		hangup(chr);
}

static void
flush_task_fn(struct vcon__task *t)
{
	struct vcon_chr *chr = container_of(t, struct vcon_chr, flush_task);

	pthread_mutex_lock(&chr->lock);
	chr->flush_queued = false;
	settle_and_unlock(chr, flush_locked(chr));
}

/* The loop's look at the stages, CHR_STAGE_LOOK_NS after the last. */
static void
stage_look_fn(void *ctx, uint64_t now_ns)
{
	struct vcon_chr *chr = ctx;

	(void)now_ns;
	pthread_mutex_lock(&chr->lock);
	settle_and_unlock(chr, flush_locked(chr));
}

static void
format_stamp(struct vcon_chr *chr, char *buf, size_t size)
{
	uint64_t ms = (vcon_now_ns() - chr->created_ns) / 1000000;

	snprintf(buf, size, "[%02u:%02u:%02u.%03u] ",
		 (unsigned)(ms / 3600000 % 100), (unsigned)(ms / 60000 % 60),
		 (unsigned)(ms / 1000 % 60), (unsigned)(ms % 1000));
}

/* Append per the policy; returns how many bytes were taken. */
static size_t
put_locked(struct vcon_chr *chr, const uint8_t *buf, size_t len)
{
	enum vcon_chr_policy policy;
	size_t n;

	if (chr->connected && chr->out_fd < 0) {
		/* null: gone as soon as written. */
		chr->st.tx_bytes += len;
		return len;
	}
	/* Nobody there: keep the newest bytes for whoever comes. */
	policy = chr->connected ? chr->policy : VCON_CHR_POLICY_KEEP;
	switch (policy) {
	case VCON_CHR_POLICY_KEEP:
		ring_put_keep(chr, buf, len);
		return len;
	case VCON_CHR_POLICY_DROP:
		n = ring_free(chr) < len ? ring_free(chr) : len;
		ring_put(chr, buf, n);
		chr->st.tx_dropped += len - n;
		return len;
	case VCON_CHR_POLICY_BLOCK:
	default:
		n = ring_free(chr) < len ? ring_free(chr) : len;
		ring_put(chr, buf, n);
		return n;
	}
}

/* The same for a frontend's own write: a refusal asks for tx_ready. */
static size_t
put_policy_locked(struct vcon_chr_fe *fe, const uint8_t *buf, size_t len)
{
	size_t took = put_locked(fe->chr, buf, len);

	if (took < len)
		fe->want_tx_ready = true;
	return took;
}

/* ---- the stage: small writes without the lock ------------------------ */

/*
 * A device writing a byte or a burst at a time would take chr->lock per
 * call, and the lock bounces between its thread and the loop's. Instead a
 * frontend without mux or logfile appends small writes to its own stage
 * (one producer, no lock; the inline vcon_chr_fe_write in <vcon/chr.h>),
 * and whoever next holds chr->lock moves them on under the policy: the
 * writer itself when the stage is full (straight to the fd where it can,
 * stage_direct_locked), the loop's visits (stage_visit_locked), any
 * slow-path write, stats, detach.
 *
 * The hand-over when the loop stops looking has no fence on the writer's
 * side: the loop sets kick and looks once more a grace period later; the
 * writer stores head, then tests kick. A writer whose test raced with the
 * loop's store may miss it, but its head store is visible to the loop long
 * before the grace look (stores become visible in bounded time, C11
 * 7.17.3p16; a store buffer drains in well under a microsecond), and any
 * later write sees kick. A seq_cst fence per write cost 4-5 ns of a 6 ns
 * one-byte write; membarrier(2) instead interrupts every CPU running a
 * vCPU at each pause (docs/chardev.md).
 */

VCON_API void
vcon_chr__stage_kick(struct vcon_chr_fe *fe)
{
	if (__atomic_exchange_n(&fe->stage.kick, 0, __ATOMIC_RELAXED))
		vcon__task_schedule(&fe->chr->flush_task);
}

/*
 * All of buf into the stage, or nothing: vcon_chr_fe_write's inline part,
 * for when the writer's copy of limit is stale. Producer only.
 */
static bool
stage_put(struct vcon_chr_fe *fe, const uint8_t *buf, size_t len)
{
	struct vcon_chr_stage *s = &fe->stage;
	uint64_t head = __atomic_load_n(&s->head, __ATOMIC_RELAXED);

	if (len == 0)
		return true; /* an empty iovec: nothing to stage or call */
	if (head + len > s->limit_seen) {
		s->limit_seen = __atomic_load_n(&s->limit, __ATOMIC_ACQUIRE);
		if (head + len > s->limit_seen)
			return false;
	}
	return vcon_chr_fe_write(fe, buf, len) == len;
}

static size_t
stage_used(struct vcon_chr_fe *fe)
{
	return (size_t)(__atomic_load_n(&fe->stage.head, __ATOMIC_ACQUIRE) -
			__atomic_load_n(&fe->stage.tail, __ATOMIC_RELAXED));
}

/*
 * How far the producer may stage: the stage's size, and under the block
 * policy no more than the ring has room for, so that buffer= bounds what
 * is held in all (ring + stage) as it did before there was a stage.
 * Published after tail, so the producer's acquire of limit also says the
 * bytes below tail were read. Lock held.
 */
static void
stage_publish_locked(struct vcon_chr *chr, struct vcon_chr_fe *fe)
{
	struct vcon_chr_stage *s = &fe->stage;
	uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
	size_t room = VCON_CHR_STAGE;

	if (chr->connected && chr->out_fd >= 0 &&
	    chr->policy == VCON_CHR_POLICY_BLOCK && ring_free(chr) < room)
		room = ring_free(chr);
	__atomic_store_n(&s->limit, tail + room, __ATOMIC_RELEASE);
}

/* Move fe's staged bytes to the ring; true if any moved. */
static bool
stage_drain_locked(struct vcon_chr *chr, struct vcon_chr_fe *fe)
{
	struct vcon_chr_stage *s = &fe->stage;
	uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
	uint64_t head = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	size_t at, n, took;
	bool moved = false;

	while (head != tail) {
		at = (size_t)(tail & (VCON_CHR_STAGE - 1));
		n = VCON_CHR_STAGE - at < head - tail ? VCON_CHR_STAGE - at
						      : (size_t)(head - tail);
		took = put_locked(chr, s->buf + at, n);
		if (took == 0)
			break; /* the ring is full under the block policy */
		tail += took;
		moved = true;
		__atomic_store_n(&s->tail, tail, __ATOMIC_RELEASE);
		if (took < n)
			break;
	}
	stage_publish_locked(chr, fe);
	return moved;
}

/*
 * The loop's visit to fe's stage (the flush task, the look timer); true
 * if the loop must look again CHR_STAGE_LOOK_NS later.
 *
 * Bytes the writer kicked for go at once (a lone keystroke's echo). After
 * that the loop keeps looking, and the writer does not kick, until a whole
 * look finds nothing new: a guest printing a byte per exit costs a
 * wake-up per look, not per byte. Meanwhile a busy writer is left alone
 * while its bytes are younger than one look (so they wait at most two):
 * it sends a full stage itself (stage_direct_locked), and a loop copying
 * behind it would take its cache lines away at every drain.
 *
 * When the loop stops looking it asks the writer's next write to kick.
 * The writer tests that request without a fence, so a write racing with
 * it may miss it; one more look a grace period later picks its bytes up
 * (docs/chardev.md, "Small writes: the stage").
 */
static bool
stage_visit_locked(struct vcon_chr *chr, struct vcon_chr_fe *fe, bool *moved)
{
	struct vcon_chr_stage *s = &fe->stage;
	uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
	uint64_t head = __atomic_load_n(&s->head, __ATOMIC_ACQUIRE);
	bool kick = __atomic_load_n(&s->kick, __ATOMIC_RELAXED);
	bool kicked = fe->asked && !kick;
	uint64_t now = vcon_now_ns();

	if (kicked)
		fe->asked = false;
	if (head != fe->look_head)
		fe->active_ns = now;
	if (head == tail) {
		fe->look_head = head;
		if (kick)
			return false; /* idle, and the writer will kick */
		if (now - fe->active_ns < CHR_STAGE_LOOK_NS)
			return true;
		__atomic_store_n(&s->kick, 1, __ATOMIC_RELAXED);
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		fe->asked = true;
		return true; /* the grace look */
	}
	if (!kicked && !kick && tail >= fe->look_head) {
		fe->look_head = head; /* young bytes: look again */
		return true;
	}
	fe->look_head = head;
	if (stage_drain_locked(chr, fe))
		*moved = true;
	/* Back when bytes remain, unless the ring is full: then the fd's
	 * room brings the flush. */
	return stage_used(fe) == 0 || ring_free(chr) > 0 ||
	       chr->policy != VCON_CHR_POLICY_BLOCK;
}

/*
 * Every frontend's stage. The loop (flush task, look timer) visits and
 * comes back as the stages ask; from anywhere else, bytes moved into
 * the ring get a flush.
 */
static void
stages_drain_locked(struct vcon_chr *chr, bool loop)
{
	bool moved = false, again = false;
	struct vcon_chr_fe *fe;
	unsigned i;

	if (chr->direct_busy) {
		/* A writer is sending its stage: look again later. */
		again = loop;
		goto out;
	}
	for (i = 0; i < chr->nfe; i++) {
		fe = chr->fe[i];
		if (!fe->stage.fast)
			continue;
		if (loop && !chr->closing)
			again |= stage_visit_locked(chr, fe, &moved);
		else
			moved |= stage_drain_locked(chr, fe);
	}
out:
	if (chr->closing)
		return;
	if (again)
		vcon_loop_timer_arm(chr->stage_look,
				    vcon_now_ns() + CHR_STAGE_LOOK_NS);
	if (moved && !loop && !chr->flush_queued) {
		chr->flush_queued = true;
		vcon__task_schedule(&chr->flush_task);
	}
}

/* Output with mux timestamps at the start of each line. */
static size_t
put_stamped_locked(struct vcon_chr_fe *fe, const uint8_t *buf, size_t len)
{
	struct vcon_chr *chr = fe->chr;
	const uint8_t *nl;
	size_t done = 0, seg, took;
	char stamp[32];

	while (done < len) {
		nl = memchr(buf + done, '\n', len - done);
		seg = nl ? (size_t)(nl - (buf + done)) + 1 : len - done;
		if (chr->at_line_start) {
			format_stamp(chr, stamp, sizeof(stamp));
			if (chr->connected &&
			    chr->policy == VCON_CHR_POLICY_BLOCK &&
			    ring_free(chr) <= strlen(stamp)) {
				fe->want_tx_ready = true;
				break;
			}
			ring_put_keep(chr, (const uint8_t *)stamp,
				      strlen(stamp));
			chr->at_line_start = false;
		}
		took = put_policy_locked(fe, buf + done, seg);
		done += took;
		if (took < seg)
			break;
		chr->at_line_start = buf[done - 1] == '\n';
	}
	return done;
}

/*
 * Large writes with nothing queued ahead go straight to the fd from the
 * caller's thread: no copy into the ring and no wakeup of the loop, which
 * for a virtio port's 4-32 KiB buffers is most of the cost; a batch of
 * them is one writev(2). Only where the fd cannot block the caller
 * (never_blocks), and only for writes large enough that a syscall each is
 * cheaper than batching on the loop. Returns the bytes written; the
 * caller queues the rest as usual.
 */
static size_t
write_direct_locked(struct vcon_chr *chr, const struct iovec *iov, int cnt,
		    size_t len)
{
	struct msghdr msg = { .msg_iovlen = (size_t)cnt };
	ssize_t n;
	int fd;

	if (len < CHR_DIRECT_MIN || !chr->out_direct || !chr->connected ||
	    chr->closing || chr->out_blocked || chr->stamps || chr->nfe != 1 ||
	    ring_used(chr) || chr->inflight)
		return 0;
	if (cnt > IOV_MAX)
		msg.msg_iovlen = IOV_MAX; /* the rest queues behind */
	chr->direct_busy = true;
	fd = chr->out_fd;
	pthread_mutex_unlock(&chr->lock);
	if (chr->out_sock) {
		/* sendmsg only reads the iovecs. */
		msg.msg_iov = (struct iovec *)(uintptr_t)iov;
		n = sendmsg(fd, &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
	} else {
		n = writev(fd, iov, (int)msg.msg_iovlen);
	}
	pthread_mutex_lock(&chr->lock);
	chr->direct_busy = false;
	pthread_cond_broadcast(&chr->cb_idle);
	if (n <= 0)
		return 0; /* the ring path meets the error again, handles it */
	chr->st.tx_bytes += (uint64_t)n;
	chr->st.tx_writes++;
	return (size_t)n;
}

/*
 * A writer that filled its stage sends it to the fd itself, as a large
 * write: one syscall per stage, no copy into the ring and no wakeup of
 * the loop. The loop leaves the stage alone meanwhile (direct_busy).
 */
static void
stage_direct_locked(struct vcon_chr *chr, struct vcon_chr_fe *fe)
{
	struct vcon_chr_stage *s = &fe->stage;
	uint64_t tail = __atomic_load_n(&s->tail, __ATOMIC_RELAXED);
	uint64_t head = __atomic_load_n(&s->head, __ATOMIC_RELAXED);
	size_t used = (size_t)(head - tail), n;
	struct iovec iov[2];
	int cnt = ring_iov(s->buf, VCON_CHR_STAGE, tail, used, iov);

	n = write_direct_locked(chr, iov, cnt, used);
	if (n) {
		__atomic_store_n(&s->tail, tail + n, __ATOMIC_RELEASE);
		stage_publish_locked(chr, fe);
	}
}

/* The first len bytes of iov into the logfile. */
static void
log_iov_locked(struct vcon_chr *chr, const struct iovec *iov, int cnt,
	       size_t len)
{
	size_t n;
	int i;

	for (i = 0; i < cnt && len; i++) {
		n = iov[i].iov_len < len ? iov[i].iov_len : len;
		log_append_locked(chr, iov[i].iov_base, n);
		len -= n;
	}
}

/* Onto the stage, behind what it holds: a prefix that fits, in order. */
static size_t
stage_put_iov(struct vcon_chr_fe *fe, const struct iovec *iov, int cnt,
	      size_t len)
{
	size_t took = 0;
	int i;

	if (len > VCON_CHR_STAGE_MAX)
		return 0;
	for (i = 0; i < cnt; i++) {
		if (!stage_put(fe, iov[i].iov_base, iov[i].iov_len))
			break;
		took += iov[i].iov_len;
	}
	return took;
}

/*
 * The bytes of iov past skip into the ring, per the policy; returns how
 * many it took, stopping at the first refusal.
 */
static size_t
put_iov_locked(struct vcon_chr_fe *fe, const struct iovec *iov, int cnt,
	       size_t skip)
{
	struct vcon_chr *chr = fe->chr;
	size_t took = 0, n, t;
	const uint8_t *b;
	int i;

	for (i = 0; i < cnt; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		b = (const uint8_t *)iov[i].iov_base + skip;
		n = iov[i].iov_len - skip;
		skip = 0;
		if (chr->connected && chr->out_fd < 0) {
			/* null: gone as soon as written. */
			chr->st.tx_bytes += n;
			t = n;
		} else if (chr->stamps) {
			t = put_stamped_locked(fe, b, n);
		} else {
			t = put_policy_locked(fe, b, n);
		}
		took += t;
		if (t < n)
			break;
	}
	return took;
}

/* Everything but a small write that the stage takes. */
static __attribute__((noinline)) size_t
fe_writev_locked_path(struct vcon_chr_fe *fe, const struct iovec *iov, int cnt,
		      size_t len)
{
	struct vcon_chr *chr = fe->chr;
	size_t took;
	bool kick;

	if (len == 0)
		return 0;
	pthread_mutex_lock(&chr->lock);
	/* Bytes keep their order behind a direct write under way. */
	while (chr->direct_busy)
		pthread_cond_wait(&chr->cb_idle, &chr->lock);
	/* ... and behind what this frontend staged. */
	if (fe->stage.fast) {
		stage_direct_locked(chr, fe);
		stage_drain_locked(chr, fe);
		if (stage_used(fe) || len <= VCON_CHR_STAGE_MAX) {
			/* Behind the bytes the ring could not take (block
			 * policy), or into the stage that has room again. */
			took = stage_put_iov(fe, iov, cnt, len);
			if (took || stage_used(fe)) {
				if (took < len)
					fe->want_tx_ready = true;
				goto out;
			}
		}
	}
	took = write_direct_locked(chr, iov, cnt, len);
	if (took < len)
		took += put_iov_locked(fe, iov, cnt, took);
	/* What was taken, once: a refused rest comes again. */
	if (chr->log_fd >= 0)
		log_iov_locked(chr, iov, cnt, took);
	if (fe->stage.fast)
		stage_publish_locked(chr, fe); /* the ring's room changed */
out:
	kick = !chr->flush_queued &&
	       ((chr->connected && !chr->out_blocked && ring_used(chr)) ||
		chr->log_len);
	if (kick)
		chr->flush_queued = true;
	pthread_mutex_unlock(&chr->lock);
	if (kick)
		vcon__task_schedule(&chr->flush_task);
	return took;
}

static size_t
sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	return vcon_chr_fe_write(ctx, buf, len);
}

/* What the inline vcon_chr_fe_write could not do. */
VCON_API size_t
vcon_chr_fe_write_call(struct vcon_chr_fe *fe, const void *buf, size_t len)
{
	struct iovec iov;

	if (fe->stage.fast && len - 1 < VCON_CHR_STAGE_MAX &&
	    stage_put(fe, buf, len))
		return len;
	iov.iov_base = (void *)(uintptr_t)buf; /* only read */
	iov.iov_len = len;
	return fe_writev_locked_path(fe, &iov, 1, len);
}

VCON_API size_t
vcon_chr_fe_writev(struct vcon_chr_fe *fe, const struct iovec *iov, int iovcnt)
{
	size_t len = 0;
	int i;

	if (iovcnt == 1)
		return vcon_chr_fe_write(fe, iov[0].iov_base, iov[0].iov_len);
	for (i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	return fe_writev_locked_path(fe, iov, iovcnt, len);
}

VCON_API struct vcon_sink
vcon_chr_fe_as_sink(struct vcon_chr_fe *fe)
{
	return (struct vcon_sink){ .write = sink_write, .ctx = fe };
}

/* ---- input ---------------------------------------------------------- */

static const char mux_help[] = "\r\n"
			       "C-a h    print this help\r\n"
			       "C-a x    exit emulator\r\n"
			       "C-a t    toggle console timestamps\r\n"
			       "C-a b    send break (magic sysrq)\r\n"
			       "C-a c    switch between console and monitor\r\n"
			       "C-a C-a  sends C-a\r\n";

/*
 * Hand len bytes to the focused frontend, unlocked. Returns how many it
 * took; fewer pauses input until vcon_chr_fe_input_ready, unless that was
 * called while the frontend ran (ready_seq moved).
 */
static size_t
give_locked(struct vcon_chr *chr, const uint8_t *buf, size_t len, bool *paused)
{
	struct vcon_chr_fe *fe;
	uint64_t seq;
	size_t took;

	if (chr->nfe == 0) {
		*paused = true;
		return 0;
	}
	fe = chr->fe[chr->focus];
	seq = chr->ready_seq;
	chr->cb_fe = fe;
	pthread_mutex_unlock(&chr->lock);
	took = fe->ops.receive ? fe->ops.receive(fe->ctx, buf, len) : len;
	pthread_mutex_lock(&chr->lock);
	chr->cb_fe = NULL;
	pthread_cond_broadcast(&chr->cb_idle);
	if (took > len)
		took = len;
	if (took < len && seq == chr->ready_seq) {
		chr->in_paused = true;
		*paused = true;
	}
	return took;
}

static void
mux_switch_locked(struct vcon_chr *chr)
{
	if (chr->nfe < 2)
		return;
	queue_event(chr, chr->fe[chr->focus], VCON_CHR_EVENT_FOCUS, 0);
	chr->focus = (chr->focus + 1) % chr->nfe;
	queue_event(chr, chr->fe[chr->focus], VCON_CHR_EVENT_FOCUS, 1);
}

/* Act on the key after C-a. Returns false if it must be retried. */
static bool
mux_command_locked(struct vcon_chr *chr, uint8_t c, bool *paused)
{
	static const uint8_t ctrl_a = 0x01;

	switch (c) {
	case 0x01:
		return give_locked(chr, &ctrl_a, 1, paused) == 1;
	case 'c':
		mux_switch_locked(chr);
		break;
	case 'x':
		queue_event_all(chr, VCON_CHR_EVENT_QUIT, 0);
		break;
	case 'b':
		if (chr->nfe)
			queue_event(chr, chr->fe[chr->focus],
				    VCON_CHR_EVENT_BREAK, 0);
		break;
	case 't':
		chr->stamps = !chr->stamps;
		chr->at_line_start = true;
		break;
	case 'h':
	case '?':
		ring_put_keep(chr, (const uint8_t *)mux_help,
			      sizeof(mux_help) - 1);
		break;
	default: /* unknown keys are swallowed, as QEMU does */
		break;
	}
	return true;
}

/* Deliver inbuf[in_off, in_len) through the mux or straight. */
static void
deliver_input_locked(struct vcon_chr *chr)
{
	bool paused = false;
	size_t i, j;

	while (chr->in_off < chr->in_len && !paused) {
		i = chr->in_off;
		if (!chr->mux) {
			chr->in_off += give_locked(chr, chr->inbuf + i,
						   chr->in_len - i, &paused);
			continue;
		}
		if (chr->esc) {
			if (!mux_command_locked(chr, chr->inbuf[i], &paused))
				break;
			chr->esc = false;
			chr->in_off++;
			continue;
		}
		if (chr->inbuf[i] == 0x01) {
			chr->esc = true;
			chr->in_off++;
			continue;
		}
		for (j = i; j < chr->in_len && chr->inbuf[j] != 0x01; j++)
			;
		chr->in_off += give_locked(chr, chr->inbuf + i, j - i, &paused);
	}
	if (chr->in_off == chr->in_len)
		chr->in_off = chr->in_len = 0;
	if (ring_used(chr) && !chr->flush_queued) {
		chr->flush_queued = true;
		vcon__task_schedule(&chr->flush_task);
	}
}

/* Read once and deliver. Returns true when the peer has gone. */
static bool
input_locked(struct vcon_chr *chr)
{
	ssize_t n;

	deliver_input_locked(chr);
	if (!chr->connected || chr->in_fd < 0 || chr->in_eof ||
	    chr->in_paused || chr->in_len || chr->nfe == 0)
		return false;
	if (chr->in_sock)
		n = recv(chr->in_fd, chr->inbuf, sizeof(chr->inbuf),
			 MSG_DONTWAIT);
	else
		n = read(chr->in_fd, chr->inbuf, sizeof(chr->inbuf));
	if (n > 0) {
		chr->in_len = (size_t)n;
		chr->st.rx_bytes += (uint64_t)n;
		deliver_input_locked(chr);
		/* Regular files never wake epoll: keep reading by task. */
		if (!chr->in_pollable && !chr->in_paused)
			vcon__task_schedule(&chr->input_task);
		return false;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return false;
	if (n == 0 && chr->be->hangup == NULL) {
		/* End of a file or of stdin: output goes on. */
		chr->in_eof = true;
		return false;
	}
	if (n == 0 || errno == EIO || errno == ECONNRESET || errno == EPIPE ||
	    errno == ENOTCONN)
		return true;
	host_error_locked(chr, ERRK_READ, errno);
	chr->in_eof = true;
	return false;
}

static void
input_task_fn(struct vcon__task *t)
{
	struct vcon_chr *chr = container_of(t, struct vcon_chr, input_task);

	pthread_mutex_lock(&chr->lock);
	settle_and_unlock(chr, input_locked(chr));
}

static void
io_ready(struct vcon_chr *chr, uint32_t revents, bool out_side)
{
	bool hup = false;

	pthread_mutex_lock(&chr->lock);
	if (out_side && chr->out_blocked) {
		chr->out_blocked = false;
		hup = flush_locked(chr);
	}
	if (!hup && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)) &&
	    !(out_side && chr->in_fd != chr->out_fd))
		hup = input_locked(chr);
	settle_and_unlock(chr, hup);
}

static void
io_in_ready(struct vcon__watch *w, uint32_t revents)
{
	struct vcon_chr *chr = container_of(w, struct vcon_chr, w_in);

	/* in_fd == out_fd shares this watch for both directions. */
	io_ready(chr, revents,
		 chr->in_fd == chr->out_fd &&
			 (revents & (EPOLLOUT | EPOLLERR)));
}

static void
io_out_ready(struct vcon__watch *w, uint32_t revents)
{
	io_ready(container_of(w, struct vcon_chr, w_out), revents, true);
}

VCON_API void
vcon_chr_fe_input_ready(struct vcon_chr_fe *fe)
{
	struct vcon_chr *chr = fe->chr;

	pthread_mutex_lock(&chr->lock);
	chr->ready_seq++;
	chr->in_paused = false;
	pthread_mutex_unlock(&chr->lock);
	vcon__task_schedule(&chr->input_task);
}

/* ---- life cycle ----------------------------------------------------- */

static int
open_logfile(struct vcon_chr *chr, const struct chr_opts *o,
	     struct vcon_error *err)
{
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY;

	if (!o->logfile)
		return 0;
	flags |= o->logappend ? O_APPEND : O_TRUNC;
	chr->log_fd = open(o->logfile, flags, 0666);
	if (chr->log_fd < 0)
		return vcon__fail(err, -errno,
				  "%s: cannot open logfile '%s': %s",
				  o->backend, o->logfile, strerror(errno));
	return 0;
}

static void
chr_destroy(struct vcon_chr *chr)
{
	if (chr->log_fd >= 0)
		close(chr->log_fd);
	pthread_cond_destroy(&chr->cb_idle);
	pthread_mutex_destroy(&chr->lock);
	free(chr->ring);
	free(chr);
}

VCON_API int
vcon_chr_new(struct vcon_loop *loop, const char *spec, struct vcon_chr **out,
	     struct vcon_error *err)
{
	struct chr_opts *o = malloc(sizeof(*o));
	struct vcon_chr *chr = NULL;
	int rc;

	if (err)
		err->msg[0] = 0;
	if (!o)
		return -ENOMEM;
	rc = chr_parse(spec, o, err);
	if (rc < 0)
		goto out;
	rc = -ENOMEM;
	chr = calloc(1, sizeof(*chr));
	if (!chr)
		goto out;
	/* A power of two to index by mask; cap is the limit that counts. */
	for (chr->mask = 1; chr->mask < o->buffer; chr->mask <<= 1)
		;
	chr->ring = malloc(chr->mask);
	chr->mask--;
	if (!chr->ring) {
		free(chr);
		chr = NULL;
		goto out;
	}
	chr->cap = o->buffer;
	chr->policy = o->policy;
	chr->loop = loop;
	chr->be = chr_find_backend(o->backend);
	chr->mux = o->mux;
	chr->in_fd = chr->out_fd = chr->log_fd = chr->tty_fd = -1;
	chr->at_line_start = true;
	chr->created_ns = vcon_now_ns();
	snprintf(chr->id, sizeof(chr->id), "%s", o->id ? o->id : "");
	pthread_mutex_init(&chr->lock, NULL);
	pthread_cond_init(&chr->cb_idle, NULL);
	vcon__task_init(&chr->flush_task, loop, flush_task_fn);
	vcon__task_init(&chr->input_task, loop, input_task_fn);
	vcon__task_init(&chr->notify_task, loop, notify_task_fn);
	rc = vcon_loop_timer_new(loop, stage_look_fn, chr, &chr->stage_look);
	if (rc == 0)
		rc = open_logfile(chr, o, err);
	if (rc == 0 && chr->be->open)
		rc = chr->be->open(chr, o, err);
	if (rc < 0) {
		vcon__task_cancel(&chr->flush_task);
		vcon__task_cancel(&chr->input_task);
		vcon__task_cancel(&chr->notify_task);
		vcon_loop_timer_free(chr->stage_look);
		vcon__watch_stop(&chr->w_in);
		vcon__watch_stop(&chr->w_out);
		if (chr->be->quiesce)
			chr->be->quiesce(chr);
		if (chr->be->close)
			chr->be->close(chr);
		chr_destroy(chr);
		goto out;
	}
	*out = chr;
out:
	free(o);
	return rc;
}

VCON_API void
vcon_chr_free(struct vcon_chr *chr)
{
	if (!chr)
		return;
	/* The backend first, so that no new peer arrives meanwhile. */
	if (chr->be->quiesce)
		chr->be->quiesce(chr);
	/* From here a task still running leaves the watches alone. */
	pthread_mutex_lock(&chr->lock);
	chr->closing = true;
	pthread_mutex_unlock(&chr->lock);
	vcon__watch_stop(&chr->w_in);
	vcon__watch_stop(&chr->w_out);
	vcon__task_cancel(&chr->flush_task);
	vcon__task_cancel(&chr->input_task);
	vcon__task_cancel(&chr->notify_task);
	vcon_loop_timer_free(chr->stage_look);
	pthread_mutex_lock(&chr->lock);
	while (chr->direct_busy)
		pthread_cond_wait(&chr->cb_idle, &chr->lock);
	/* Last chance for the tail of the output: what the fd takes now. */
	(void)flush_locked(chr);
	if (chr->log_fd >= 0)
		log_flush_locked(chr);
	pthread_mutex_unlock(&chr->lock);
	if (chr->be->close)
		chr->be->close(chr);
	chr_destroy(chr);
}

VCON_API void
vcon_chr_notify_resize(struct vcon_chr *chr)
{
	pthread_mutex_lock(&chr->lock);
	queue_event_all(chr, VCON_CHR_EVENT_RESIZE, 0);
	pthread_mutex_unlock(&chr->lock);
	vcon__task_schedule(&chr->notify_task);
}

VCON_API int
vcon_chr_attach(struct vcon_chr *chr, const struct vcon_chr_fe_ops *ops,
		void *ctx, struct vcon_chr_fe **out)
{
	struct vcon_chr_fe *fe;

	pthread_mutex_lock(&chr->lock);
	if ((chr->nfe > 0 && !chr->mux) || chr->nfe == CHR_MAX_FE) {
		pthread_mutex_unlock(&chr->lock);
		return -EBUSY;
	}
	/* Aligned: the stage keeps each side's fields on its own line. */
	fe = aligned_alloc(_Alignof(struct vcon_chr_fe), sizeof(*fe));
	if (!fe) {
		pthread_mutex_unlock(&chr->lock);
		return -ENOMEM;
	}
	/* All but the stage's bytes, which are only read once staged: its
	 * pages stay untouched where nothing is staged (mux, logfile). */
	memset(fe, 0, offsetof(struct vcon_chr_fe, stage.buf));
	memset((char *)fe + sizeof(fe->stage), 0,
	       sizeof(*fe) - sizeof(fe->stage));
	fe->chr = chr;
	fe->ops = *ops;
	fe->ctx = ctx;
	/* A mux interleaves frontends and a logfile copies in write order. */
	fe->stage.fast = !chr->mux && chr->log_fd < 0;
	fe->stage.kick = 1; /* nobody is looking yet */
	fe->asked = true;
	stage_publish_locked(chr, fe);
	chr->fe[chr->nfe++] = fe;
	/* A peer already there is news to the new frontend. */
	if (chr->connected && chr->be->hangup)
		queue_event(chr, fe, VCON_CHR_EVENT_OPENED, 0);
	pthread_mutex_unlock(&chr->lock);
	*out = fe;
	vcon__task_schedule(&chr->input_task);
	vcon__task_schedule(&chr->notify_task);
	return 0;
}

VCON_API void
vcon_chr_detach(struct vcon_chr_fe *fe)
{
	struct vcon_chr *chr;
	unsigned i;

	if (!fe)
		return;
	chr = fe->chr;
	pthread_mutex_lock(&chr->lock);
	/*
	 * What it wrote stays, as if it had gone to the ring directly;
	 * what the ring cannot take now (block policy, full) is dropped,
	 * and counted.
	 */
	stages_drain_locked(chr, false);
	if (fe->stage.fast)
		chr->st.tx_dropped += stage_used(fe);
	for (i = 0; i < chr->nfe && chr->fe[i] != fe; i++)
		;
	if (i < chr->nfe) {
		memmove(&chr->fe[i], &chr->fe[i + 1],
			(chr->nfe - i - 1) * sizeof(chr->fe[0]));
		chr->nfe--;
		if (chr->focus > i || chr->focus >= chr->nfe) {
			chr->focus = chr->focus > i ? chr->focus - 1 : 0;
		}
		if (i == chr->focus && chr->nfe > 0 && chr->mux)
			queue_event(chr, chr->fe[chr->focus],
				    VCON_CHR_EVENT_FOCUS, 1);
	}
	while (chr->cb_fe == fe && !vcon__loop_on_thread(chr->loop))
		pthread_cond_wait(&chr->cb_idle, &chr->lock);
	pthread_mutex_unlock(&chr->lock);
	vcon__task_schedule(&chr->input_task);
	vcon__task_schedule(&chr->notify_task);
	free(fe);
}

VCON_API struct vcon_chr *
vcon_chr_fe_backend(struct vcon_chr_fe *fe)
{
	return fe->chr;
}

VCON_API const char *
vcon_chr_id(const struct vcon_chr *chr)
{
	return chr->id;
}

VCON_API bool
vcon_chr_is_connected(const struct vcon_chr *chr)
{
	struct vcon_chr *c = (struct vcon_chr *)(uintptr_t)chr;
	bool on;

	pthread_mutex_lock(&c->lock);
	on = c->connected;
	pthread_mutex_unlock(&c->lock);
	return on;
}

VCON_API void
vcon_chr_get_stats(const struct vcon_chr *chr, struct vcon_chr_stats *stats)
{
	struct vcon_chr *c = (struct vcon_chr *)(uintptr_t)chr;
	unsigned i;

	pthread_mutex_lock(&c->lock);
	stages_drain_locked(c, false);
	*stats = c->st;
	stats->buffered = ring_used(c);
	/* What a full ring left staged (block policy) is buffered too. */
	for (i = 0; i < c->nfe; i++)
		if (c->fe[i]->stage.fast)
			stats->buffered += stage_used(c->fe[i]);
	pthread_mutex_unlock(&c->lock);
}
