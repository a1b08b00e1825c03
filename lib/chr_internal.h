/* SPDX-License-Identifier: MIT */
/*
 * The chardev core's view of a backend. The core (chr.c) owns the output
 * ring, the frontends, the mux, the logfile and every callback; a backend
 * (chr_fd.c, chr_pty.c, chr_socket.c) only opens fds and tells the core
 * when a peer comes and goes, through chr_connected/chr_hangup.
 */
#ifndef VCON_CHR_INTERNAL_H
#define VCON_CHR_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <vcon/chr.h>

#include "loop_internal.h"

#define CHR_MAX_FE 8
/*
 * One read(2) of input: 64 KiB, so that bulk input into a virtio port is a
 * syscall and an interrupt per 16 of the guest's 4 KiB buffers, not per
 * buffer (QEMU reads 4 KiB). Still bounded: the fd is not read again until
 * the frontend has taken it all.
 */
#define CHR_INBUF 65536
/* Writes at least this long may go to the fd from the caller (chr.c). */
#define CHR_DIRECT_MIN 512
#define CHR_LOGBUF     4096
/* How long the loop leaves a stage alone: while it fills, and once more
 * after it went idle (chr.c, stages_drain_locked). */
#define CHR_STAGE_LOOK_NS 1000000

/* A parsed -chardev spec. Strings point into buf. */
struct chr_opts {
	char buf[1024];
	const char *backend, *id;
	const char *path, *input_path, *host, *logfile;
	int port; /* -1: none given */
	int fd, in_fd, out_fd;
	bool append, server, wait, nodelay, mux, logappend, signal;
	bool has_server, has_wait;
	int64_t reconnect_ms; /* 0: no reconnect */
	size_t buffer;
	enum vcon_chr_policy policy;
};

struct chr_backend {
	const char *name;
	/* Open the backend's fds; fill err on failure. */
	int (*open)(struct vcon_chr *chr, const struct chr_opts *o,
		    struct vcon_error *err);
	/* The peer went away (EOF, EPIPE, EIO, HUP); loop thread, unlocked.
	 * NULL: just chr_disconnected; also marks backends whose input
	 * ends at EOF without the peer going (files, stdin). */
	void (*hangup)(struct vcon_chr *chr);
	/* Stop the backend's own watches and timers; any thread. */
	void (*quiesce)(struct vcon_chr *chr);
	/* Release what open made; the core has stopped the io watches. */
	void (*close)(struct vcon_chr *chr);
};

struct vcon_chr_fe {
	/* First: <vcon/chr.h>'s inline write reaches it through fe. One
	 * producer (calls on one frontend do not overlap), consumed under
	 * chr->lock by whoever holds it (chr.c, stage_drain_locked). */
	struct vcon_chr_stage stage;
	uint64_t look_head; /* stage head at the loop's last visit */
	uint64_t active_ns; /* when a visit last found new bytes */
	bool asked;         /* the loop set stage.kick: a 0 there is a kick */
	struct vcon_chr *chr;
	struct vcon_chr_fe_ops ops;
	void *ctx;
	bool want_tx_ready; /* a write was refused: call tx_ready on room */
	unsigned pending;   /* events to deliver (bit per event) + TX_READY */
	int pending_err;
	bool focus_arg;
};

struct vcon_chr {
	struct vcon_loop *loop;
	const struct chr_backend *be;
	void *be_priv;
	char id[64];
	pthread_mutex_t lock;
	pthread_cond_t cb_idle;

	/* Frontends; with mux several, input goes to fe[focus]. */
	struct vcon_chr_fe *fe[CHR_MAX_FE];
	unsigned nfe, focus;
	bool mux;
	struct vcon_chr_fe *cb_fe; /* frontend whose callback runs now */

	/* The host side, set by the backend. in_fd may equal out_fd. */
	int in_fd, out_fd;
	bool in_pollable, out_pollable;
	int tty_fd;             /* for the window size; -1 if none */
	bool in_sock, out_sock; /* use recv/send with MSG_DONTWAIT */
	bool connected;         /* a peer is there */
	bool in_eof, in_paused;
	bool out_blocked; /* the fd said EAGAIN: wait for EPOLLOUT */
	bool out_direct;  /* out_fd never blocks: callers may write it */
	bool direct_busy; /* a caller is writing out_fd unlocked now */
	bool flush_queued;
	bool closing;         /* vcon_chr_free has begun */
	uint64_t ready_seq;   /* bumped by every fe_input_ready */
	uint64_t created_ns;  /* origin of mux timestamps */
	unsigned errors_seen; /* bit per error kind already reported */
	struct vcon__watch w_in, w_out;
	struct vcon__task flush_task, input_task, notify_task;
	struct vcon_loop_timer *stage_look; /* the grace look (chr.c) */

	/* Output ring: positions count bytes ever written/consumed. */
	uint8_t *ring;
	size_t cap, mask; /* limit; allocation size - 1 (a power of 2) */
	size_t inflight;  /* bytes from tail a write is sending now */
	uint64_t head, tail;
	enum vcon_chr_policy policy;

	/* Input read but not yet taken by the frontend. */
	uint8_t inbuf[CHR_INBUF];
	size_t in_off, in_len;

	/* Mux escape state and timestamps. */
	bool esc, stamps, at_line_start;

	/* logfile= */
	int log_fd;
	uint8_t logbuf[CHR_LOGBUF];
	size_t log_len;

	struct vcon_chr_stats st;
};

/* Called by backends, on the loop thread (or during open), unlocked. */
void chr_connected(struct vcon_chr *chr, int in_fd, int out_fd);
void chr_disconnected(struct vcon_chr *chr);
void chr_report_error(struct vcon_chr *chr, int err);

int chr_parse(const char *spec, struct chr_opts *o, struct vcon_error *err);
int chr_serial_spec(const char *spec, const char *id, char *buf, size_t size,
		    struct vcon_error *err);
const struct chr_backend *chr_find_backend(const char *name);

extern const struct chr_backend chr_null_backend, chr_file_backend,
	chr_stdio_backend, chr_fd_backend, chr_pty_backend, chr_socket_backend;

/* Make a fd of ours non-blocking and close-on-exec. */
int chr_set_nonblock(int fd);

#endif /* VCON_CHR_INTERNAL_H */
