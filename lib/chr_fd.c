/* SPDX-License-Identifier: MIT */
/*
 * Backends on plain fds: null, file, stdio and fd (inherited).
 *
 * The fds of stdio and of an inherited fd= belong to someone else, and a
 * flag set on them is seen by every process sharing the open file (QEMU's
 * O_NONBLOCK on stdio breaks the parent shell). So we never change their
 * flags: we reopen them through /proc/self/fd, which gives our own open
 * file with our own O_NONBLOCK, or use send/recv with MSG_DONTWAIT for
 * sockets. Regular files are dup()ed instead, to share the file offset
 * (`vmm > log` must append, not overwrite from 0), and never block.
 *
 * The terminal's mode is the one thing we must change for stdio. It is
 * process-wide by nature, so its saved copy is the library's only global
 * state: raw mode is undone by vcon_chr_free, by exit(), and by the
 * fatal signals whose disposition was the default (SIGINT, SIGTERM,
 * SIGHUP, SIGQUIT and the crash signals), which restore the terminal and
 * then die as they would have.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "chr_internal.h"
#include "internal.h"

struct fd_priv {
	int in, out;           /* ours: reopened or dup()ed */
	int orig_in, orig_out; /* the inherited fds of fd=, closed on free */
};

/*
 * Our own descriptor for an fd we do not own: see the comment at the top.
 * Returns the new fd or -errno; *sock tells whether to use send/recv.
 */
static int
own_fd(int fd, bool output, bool *sock)
{
	char path[32];
	struct stat st;
	int nfd;

	*sock = false;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode) && !S_ISSOCK(st.st_mode)) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		nfd = open(path, (output ? O_WRONLY : O_RDONLY) | O_NONBLOCK |
					 O_CLOEXEC | O_NOCTTY);
		if (nfd >= 0)
			return nfd;
	}
	*sock = S_ISSOCK(st.st_mode);
	nfd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	return nfd < 0 ? -errno : nfd;
}

static void
fd_close(struct vcon_chr *chr)
{
	struct fd_priv *p = chr->be_priv;

	if (!p)
		return;
	if (p->in >= 0)
		close(p->in);
	if (p->out >= 0 && p->out != p->in)
		close(p->out);
	if (p->orig_in >= 0)
		close(p->orig_in);
	if (p->orig_out >= 0 && p->orig_out != p->orig_in)
		close(p->orig_out);
	free(p);
	chr->be_priv = NULL;
}

static struct fd_priv *
new_priv(struct vcon_chr *chr)
{
	struct fd_priv *p = calloc(1, sizeof(*p));

	if (p) {
		p->in = p->out = p->orig_in = p->orig_out = -1;
		chr->be_priv = p;
	}
	return p;
}

/* ---- null ----------------------------------------------------------- */

static int
null_open(struct vcon_chr *chr, const struct chr_opts *o,
	  struct vcon_error *err)
{
	(void)o;
	(void)err;
	chr_connected(chr, -1, -1);
	return 0;
}

const struct chr_backend chr_null_backend = {
	.name = "null",
	.open = null_open,
};

/* ---- file ----------------------------------------------------------- */

static int
file_open(struct vcon_chr *chr, const struct chr_opts *o,
	  struct vcon_error *err)
{
	struct fd_priv *p = new_priv(chr);
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOCTTY;
	struct stat st;

	if (!p)
		return -ENOMEM;
	flags |= o->append ? O_APPEND : O_TRUNC;
	p->out = open(o->path, flags, 0666);
	if (p->out < 0)
		return vcon__fail(err, -errno, "file: cannot open '%s': %s",
				  o->path, strerror(errno));
	/* A FIFO or device (file:/dev/stdout in a pipe): never block the
	 * loop on it. The open file is ours, so the flag is too. */
	if (fstat(p->out, &st) == 0 && !S_ISREG(st.st_mode))
		(void)chr_set_nonblock(p->out);
	if (o->input_path) {
		p->in = open(o->input_path,
			     O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
		if (p->in < 0)
			return vcon__fail(err, -errno,
					  "file: cannot open input-path "
					  "'%s': %s",
					  o->input_path, strerror(errno));
	}
	chr_connected(chr, p->in, p->out);
	return 0;
}

const struct chr_backend chr_file_backend = {
	.name = "file",
	.open = file_open,
	.close = fd_close,
};

/* ---- fd ------------------------------------------------------------- */

static int
fd_open(struct vcon_chr *chr, const struct chr_opts *o, struct vcon_error *err)
{
	struct fd_priv *p = new_priv(chr);
	int in = o->fd >= 0 ? o->fd : o->in_fd;
	int out = o->fd >= 0 ? o->fd : o->out_fd;
	int rc;

	if (!p)
		return -ENOMEM;
	if (in >= 0) {
		rc = own_fd(in, false, &chr->in_sock);
		if (rc < 0)
			return vcon__fail(err, rc, "fd: cannot use fd %d: %s",
					  in, strerror(-rc));
		p->in = rc;
	}
	if (out >= 0) {
		rc = own_fd(out, true, &chr->out_sock);
		if (rc < 0)
			return vcon__fail(err, rc, "fd: cannot use fd %d: %s",
					  out, strerror(-rc));
		p->out = rc;
	}
	/* From here on they are ours to close. */
	p->orig_in = in;
	p->orig_out = out;
	chr_connected(chr, p->in, p->out);
	return 0;
}

const struct chr_backend chr_fd_backend = {
	.name = "fd",
	.open = fd_open,
	.close = fd_close,
};

/* ---- stdio ---------------------------------------------------------- */

static const int fatal_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGSEGV,
				     SIGBUS, SIGABRT, SIGFPE, SIGILL };

/* The process's terminal: see the comment at the top. */
static struct {
	volatile sig_atomic_t raw; /* tty holds our mode; saved is valid */
	struct termios saved;
	bool in_use, atexit_done;
	bool hooked[sizeof(fatal_signals) / sizeof(fatal_signals[0])];
	/* SIGWINCH, when it was ours to take: the handler writes a byte to
	 * winch[1]; the loop reads winch[0] and tells the frontends. */
	int winch[2];
	bool winch_hooked;
	struct vcon__watch winch_watch;
	struct vcon_chr *chr;
} term = { .winch = { -1, -1 } };

static void
term_restore(void)
{
	if (term.raw) {
		/* TCSANOW: draining could wait on a stopped reader. */
		tcsetattr(STDIN_FILENO, TCSANOW, &term.saved);
		term.raw = 0;
	}
}

static void
term_signal(int sig)
{
	int saved_errno = errno;

	term_restore();
	/* SA_RESETHAND put the default back: die as we would have. */
	raise(sig);
	errno = saved_errno;
}

static void
term_hook_signals(void)
{
	struct sigaction sa, old;
	size_t i;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_signal;
	sa.sa_flags = (int)(SA_RESETHAND | SA_NODEFER);
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		/* A VMM's own handler owns the exit path; leave it be. */
		if (sigaction(fatal_signals[i], NULL, &old) < 0 ||
		    old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
			continue;
		if (sigaction(fatal_signals[i], &sa, NULL) == 0)
			term.hooked[i] = true;
	}
}

static void
term_unhook_signals(void)
{
	struct sigaction old;
	size_t i;

	for (i = 0; i < sizeof(fatal_signals) / sizeof(fatal_signals[0]); i++) {
		if (!term.hooked[i])
			continue;
		term.hooked[i] = false;
		if (sigaction(fatal_signals[i], NULL, &old) == 0 &&
		    old.sa_handler == term_signal)
			signal(fatal_signals[i], SIG_DFL);
	}
}

static void
term_winch(int sig)
{
	int saved_errno = errno;

	(void)sig;
	if (write(term.winch[1], "w", 1) < 0) {
		/* Full: a wakeup is already pending, which is all we need. */
	}
	errno = saved_errno;
}

static void
winch_ready(struct vcon__watch *w, uint32_t revents)
{
	char buf[64];

	(void)w;
	(void)revents;
	while (read(term.winch[0], buf, sizeof(buf)) > 0)
		;
	vcon_chr_notify_resize(term.chr);
}

/* Follow the window size, unless the VMM handles SIGWINCH itself. */
static void
term_hook_winch(struct vcon_chr *chr)
{
	struct sigaction sa, old;

	if (!isatty(STDOUT_FILENO) || sigaction(SIGWINCH, NULL, &old) < 0 ||
	    old.sa_handler != SIG_DFL || (old.sa_flags & SA_SIGINFO))
		return;
	if (pipe2(term.winch, O_NONBLOCK | O_CLOEXEC) < 0) {
		term.winch[0] = term.winch[1] = -1;
		return;
	}
	term.chr = chr;
	vcon__watch_init(&term.winch_watch, chr->loop, term.winch[0],
			 winch_ready);
	if (vcon__watch_set(&term.winch_watch, EPOLLIN) < 0)
		goto fail;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = term_winch;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGWINCH, &sa, NULL) < 0)
		goto fail;
	term.winch_hooked = true;
	return;
fail:
	vcon__watch_stop(&term.winch_watch);
	close(term.winch[0]);
	close(term.winch[1]);
	term.winch[0] = term.winch[1] = -1;
}

static void
term_unhook_winch(void)
{
	struct sigaction old;

	if (!term.winch_hooked)
		return;
	term.winch_hooked = false;
	if (sigaction(SIGWINCH, NULL, &old) == 0 &&
	    old.sa_handler == term_winch)
		signal(SIGWINCH, SIG_DFL);
	vcon__watch_stop(&term.winch_watch);
	close(term.winch[0]);
	close(term.winch[1]);
	term.winch[0] = term.winch[1] = -1;
	term.chr = NULL;
}

static int
term_make_raw(bool signals)
{
	struct termios t;

	if (!isatty(STDIN_FILENO))
		return 0;
	if (tcgetattr(STDIN_FILENO, &term.saved) < 0)
		return -errno;
	t = term.saved;
	t.c_iflag &= ~(tcflag_t)(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR |
				 IGNCR | ICRNL | IXON);
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | IEXTEN | ISIG);
	if (signals)
		t.c_lflag |= ISIG;
	t.c_cflag &= ~(tcflag_t)(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!term.atexit_done && atexit(term_restore) == 0)
		term.atexit_done = true;
	term_hook_signals();
	if (tcsetattr(STDIN_FILENO, TCSANOW, &t) < 0) {
		term_unhook_signals();
		return -errno;
	}
	term.raw = 1;
	return 0;
}

static int
stdio_open(struct vcon_chr *chr, const struct chr_opts *o,
	   struct vcon_error *err)
{
	struct fd_priv *p;
	int rc;

	if (term.in_use)
		return vcon__fail(err, -EBUSY,
				  "stdio: only one stdio chardev per process");
	p = new_priv(chr);
	if (!p)
		return -ENOMEM;
	rc = own_fd(STDIN_FILENO, false, &chr->in_sock);
	/* No stdin (closed) is fine: output only. */
	p->in = rc < 0 ? -1 : rc;
	rc = own_fd(STDOUT_FILENO, true, &chr->out_sock);
	if (rc < 0)
		return vcon__fail(err, rc, "stdio: cannot use stdout: %s",
				  strerror(-rc));
	p->out = rc;
	rc = term_make_raw(o->signal);
	if (rc < 0)
		return vcon__fail(err, rc, "stdio: cannot set the terminal: %s",
				  strerror(-rc));
	term.in_use = true;
	chr->tty_fd = STDOUT_FILENO;
	term_hook_winch(chr);
	chr_connected(chr, p->in, p->out);
	return 0;
}

static void
stdio_close(struct vcon_chr *chr)
{
	if (!chr->be_priv) /* refused before it took the terminal */
		return;
	term_unhook_winch();
	fd_close(chr);
	term_restore();
	term_unhook_signals();
	term.in_use = false;
}

const struct chr_backend chr_stdio_backend = {
	.name = "stdio",
	.open = stdio_open,
	.close = stdio_close,
};

/* ---- shared --------------------------------------------------------- */

VCON_API int
vcon_chr_get_winsize(const struct vcon_chr *chr, struct vcon_winsize *ws)
{
	struct winsize w;

	if (chr->tty_fd < 0 || ioctl(chr->tty_fd, TIOCGWINSZ, &w) < 0)
		return -ENOTTY;
	ws->cols = w.ws_col;
	ws->rows = w.ws_row;
	return 0;
}
