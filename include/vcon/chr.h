/* SPDX-License-Identifier: MIT */
/*
 * Character backends ("chardevs"): the host side of a console. A backend
 * owns its fds, a bounded output buffer and a connection state; a device
 * attaches a frontend to it. Specs use QEMU's -chardev and -serial
 * spellings, e.g. "socket,id=c0,path=/run/vm.sock,server=on,wait=off".
 *
 * Data flow and back-pressure: vcon_chr_fe_write() copies into the
 * backend's bounded buffer and returns how much it took; when it took less
 * the device holds the rest and waits for ops.tx_ready. Input is read from
 * the host fd only while the frontend takes it: when ops.receive takes less
 * than offered, reading stops until vcon_chr_fe_input_ready().
 *
 * Threads: backends run on a vcon_loop. Frontend calls may come from any
 * thread (vCPU threads); frontend callbacks run on the loop thread and are
 * never made while a chardev lock is held, so a device may take its own
 * lock in them (lock order: device, then chardev).
 */
#ifndef VCON_CHR_H
#define VCON_CHR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>

#include <vcon/common.h>
#include <vcon/loop.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Default size of a backend's output buffer and replay backlog. */
#define VCON_CHR_DEFAULT_BUFFER (64 * 1024)

enum vcon_chr_event {
	VCON_CHR_EVENT_OPENED, /* a peer came: a client connected, pty opened */
	VCON_CHR_EVENT_CLOSED, /* the peer went away */
	VCON_CHR_EVENT_BREAK,  /* the host sent a break (mux Ctrl-A b) */
	VCON_CHR_EVENT_ERROR,  /* host I/O error, err = errno; once per kind */
	VCON_CHR_EVENT_QUIT,   /* the user asked to quit (mux Ctrl-A x) */
	VCON_CHR_EVENT_FOCUS,  /* got (err = 1) or lost (0) the mux focus */
	VCON_CHR_EVENT_RESIZE, /* window size changed: vcon_chr_get_winsize */
};

/* What happens to output while the peer cannot take it. */
enum vcon_chr_policy {
	VCON_CHR_POLICY_BLOCK, /* stop the device while the buffer is full */
	VCON_CHR_POLICY_KEEP,  /* keep the newest, drop the oldest (backlog) */
	VCON_CHR_POLICY_DROP,  /* drop new bytes when the buffer is full */
};

struct vcon_chr;
struct vcon_chr_fe;

struct vcon_chr_fe_ops {
	/* Host input for the device; returns how many bytes it took. */
	size_t (*receive)(void *ctx, const uint8_t *buf, size_t len);
	/* The backend has room again after vcon_chr_fe_write took less. */
	void (*tx_ready)(void *ctx);
	/* Connection and error events; optional. */
	void (*event)(void *ctx, enum vcon_chr_event ev, int err);
};

struct vcon_chr_stats {
	uint64_t tx_bytes;    /* bytes written to the host fd */
	uint64_t tx_dropped;  /* bytes the output policy dropped */
	uint64_t rx_bytes;    /* bytes read from the host fd */
	uint64_t tx_writes;   /* write/writev calls that moved bytes */
	uint64_t connects;    /* peers that came (clients, pty opens) */
	uint64_t disconnects; /* peers that went */
	uint64_t errors;      /* host I/O errors */
	uint64_t buffered;    /* bytes waiting in the output buffer now */
};

struct vcon_winsize {
	uint16_t cols, rows;
};

/*
 * vcon_chr_new - parse a -chardev spec and open the backend on loop.
 *
 * Backends: null, file, pty, stdio, socket (unix and tcp), fd; options
 * mux=on, logfile=, logappend=, and libvcon's buffer=BYTES and
 * policy=block|keep|drop. A server socket with wait=on returns only when a
 * client has connected. docs/chardev.md lists every key.
 *
 * Returns: 0, or a negative errno with err (may be NULL) naming the bad key
 * or value, e.g. "socket: unknown key 'sever' (did you mean 'server'?)".
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_chr_new(struct vcon_loop *loop, const char *spec, struct vcon_chr **out,
	     struct vcon_error *err);

/*
 * vcon_chr_new_serial - the same for the -serial shorthands: "stdio",
 * "pty", "null", "none", "file:PATH", "unix:PATH[,opts]",
 * "tcp:[HOST]:PORT[,opts]", "mon:SPEC" (SPEC with mux=on). "chardev:ID"
 * names a -chardev the caller already made and keeps by id (see
 * vcon_chr_id); it is refused here with -EINVAL. The backend's id is id,
 * which may be NULL.
 *
 * Returns: as vcon_chr_new; -ENOENT for "none" (no backend: the caller
 * leaves the port unconnected).
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_chr_new_serial(struct vcon_loop *loop, const char *spec, const char *id,
		    struct vcon_chr **out, struct vcon_error *err);

/*
 * vcon_chr_free - close the backend, flushing what the fd takes without
 * blocking, restoring terminals and removing files it created (pty links,
 * unix socket paths). NULL is a no-op.
 *
 * Precondition: every frontend is detached.
 * Context: any thread but the loop thread while the loop runs.
 */
VCON_API void
vcon_chr_free(struct vcon_chr *chr);

/* vcon_chr_id - the id= of the spec ("" if none). Borrowed. */
VCON_API const char *
vcon_chr_id(const struct vcon_chr *chr);

/* vcon_chr_pty_name - the slave path of a pty backend, else NULL. */
VCON_API const char *
vcon_chr_pty_name(const struct vcon_chr *chr);

/*
 * vcon_chr_local_port - the tcp port a tcp server listens on (useful
 * with port=0).
 *
 * Returns: the port, or -ENOTSOCK for other backends.
 */
VCON_API int
vcon_chr_local_port(const struct vcon_chr *chr);

/* vcon_chr_is_connected - a peer is there (always true for files). */
VCON_API bool
vcon_chr_is_connected(const struct vcon_chr *chr);

/*
 * vcon_chr_get_winsize - the terminal size of a stdio or pty backend.
 *
 * Returns: 0, or -ENOTTY for backends without one.
 */
VCON_API int
vcon_chr_get_winsize(const struct vcon_chr *chr, struct vcon_winsize *ws);

/*
 * vcon_chr_notify_resize - the terminal behind chr changed size: send
 * VCON_CHR_EVENT_RESIZE to its frontends. The stdio backend does this
 * itself on SIGWINCH when the signal's disposition was SIG_DFL; a VMM that
 * handles SIGWINCH calls this from its handler's aftermath (any thread,
 * not from the signal handler).
 */
VCON_API void
vcon_chr_notify_resize(struct vcon_chr *chr);

/* vcon_chr_get_stats - the backend's counters, taken consistently. */
VCON_API void
vcon_chr_get_stats(const struct vcon_chr *chr, struct vcon_chr_stats *stats);

/*
 * vcon_chr_attach - give a device a frontend on chr. A backend takes one
 * frontend, or several with mux=on (the first has the focus).
 *
 * Returns: 0, -EBUSY when the backend is taken, or -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_chr_attach(struct vcon_chr *chr, const struct vcon_chr_fe_ops *ops,
		void *ctx, struct vcon_chr_fe **out);

/*
 * vcon_chr_detach - remove a frontend. No callback runs after it returns.
 * NULL is a no-op.
 *
 * Context: any thread but from inside the frontend's own callbacks.
 */
VCON_API void
vcon_chr_detach(struct vcon_chr_fe *fe);

/*
 * vcon_chr_fe_write_call - device output, as a function call;
 * vcon_chr_fe_write() below is the entry C callers use, with the same
 * result. Copies into the backend's buffer and returns how many bytes it
 * took; fewer than len (possibly 0) only under the block policy while the
 * buffer is full, after which ops.tx_ready is called once there is room.
 *
 * Context: any thread, but calls on one frontend must not overlap; never
 * calls back into the frontend.
 */
VCON_API size_t
vcon_chr_fe_write_call(struct vcon_chr_fe *fe, const void *buf, size_t len);

/*
 * The frontend's stage: small writes from the device's thread go here
 * without the chardev's lock, and the loop moves them on (docs/chardev.md,
 * "Small writes: the stage"). It is the first member of every struct
 * vcon_chr_fe, so a frontend pointer is also a pointer to it (C11
 * 6.7.2.1p15), and its layout is part of this library's ABI: a change to
 * it changes the soname. Nothing outside the inline function below may
 * touch it. Each side's fields have a cache line of their own, so that the
 * loop reading the writer's does not take the writer's line per drain. The
 * bytes stay inside the frontend: reached through a pointer, one-byte
 * writes ran at two thirds of the speed (bench/chr_bench).
 */
#define VCON_CHR_STAGE     65536 /* bytes a stage holds (a power of 2) */
#define VCON_CHR_STAGE_MAX 256   /* longest write that goes through it */

struct vcon_chr_stage {
	/* The writer's line: head is written per write, read per drain. */
	uint64_t head __attribute__((aligned(64))); /* bytes ever staged */
	uint64_t limit_seen; /* the writer's copy of limit; 0 if !fast */
	bool fast;           /* writes may be staged: no mux, no logfile */
	/* The loop's line: written per drain, read when limit_seen is hit. */
	uint64_t tail __attribute__((aligned(64))); /* bytes moved on */
	uint64_t limit; /* how far head may go: room, policy */
	/* Set when the loop stops looking; read per write. */
	uint8_t kick __attribute__((aligned(64)));
	uint8_t buf[VCON_CHR_STAGE] __attribute__((aligned(64)));
};

/* Not for callers: a staged write found the loop no longer looking. */
VCON_API void
vcon_chr__stage_kick(struct vcon_chr_fe *fe);

/*
 * vcon_chr_fe_write - device output, as vcon_chr_fe_write_call: a small
 * write that the stage has room for is done inline (a device writing a
 * byte per call costs a few stores, not a call); the rest is the call.
 * Bytes written inline reach the fd at once after a pause in the output,
 * and within a few milliseconds while the writer keeps writing.
 *
 * Context: as vcon_chr_fe_write_call.
 */
static inline size_t
vcon_chr_fe_write(struct vcon_chr_fe *fe, const void *buf, size_t len)
{
	struct vcon_chr_stage *s = (struct vcon_chr_stage *)(void *)fe;
	uint64_t head = __atomic_load_n(&s->head, __ATOMIC_RELAXED);
	const uint8_t *src = (const uint8_t *)buf;
	size_t at;

	/* limit_seen stays 0 while the frontend may not stage (!fast). */
	if (len - 1 >= VCON_CHR_STAGE_MAX || head + len > s->limit_seen)
		return vcon_chr_fe_write_call(fe, buf, len);
	at = (size_t)head & (VCON_CHR_STAGE - 1);
	if (at + len <= VCON_CHR_STAGE) {
		memcpy(s->buf + at, src, len);
	} else {
		memcpy(s->buf + at, src, VCON_CHR_STAGE - at);
		memcpy(s->buf, src + (VCON_CHR_STAGE - at),
		       len - (VCON_CHR_STAGE - at));
	}
	__atomic_store_n(&s->head, head + len, __ATOMIC_RELEASE);
	/*
	 * kick is tested after head is stored, with no fence between: a
	 * test racing with the loop's request may miss it, and the loop's
	 * grace look picks those bytes up (lib/chr.c). The compiler barrier
	 * keeps the test after the store.
	 */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->kick, __ATOMIC_RELAXED))
		vcon_chr__stage_kick(fe);
	return len;
}

/*
 * vcon_chr_fe_writev - vcon_chr_fe_write of iovcnt buffers, in order, as
 * one: where the backend's fd takes them at once it gets them with one
 * writev(2) or sendmsg(2), not a syscall each (a virtio port hands over a
 * batch of guest buffers this way). Returns how many bytes it took, a
 * prefix of the buffers' concatenation; the same rules as
 * vcon_chr_fe_write for fewer and for tx_ready.
 *
 * Context: as vcon_chr_fe_write.
 */
VCON_API size_t
vcon_chr_fe_writev(struct vcon_chr_fe *fe, const struct iovec *iov, int iovcnt);

/*
 * vcon_chr_fe_input_ready - the device can take input again.
 *
 * Context: any thread.
 */
VCON_API void
vcon_chr_fe_input_ready(struct vcon_chr_fe *fe);

/*
 * vcon_chr_fe_backend - the backend fe is attached to, e.g. to read the
 * dropped-byte count with vcon_chr_get_stats.
 */
VCON_API struct vcon_chr *
vcon_chr_fe_backend(struct vcon_chr_fe *fe);

/*
 * vcon_chr_fe_as_sink - a device's struct vcon_sink that writes to fe.
 */
VCON_API struct vcon_sink
vcon_chr_fe_as_sink(struct vcon_chr_fe *fe);

#ifdef __cplusplus
}
#endif

#endif /* VCON_CHR_H */
