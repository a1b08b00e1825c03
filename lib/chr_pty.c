/* SPDX-License-Identifier: MIT */
/*
 * The pty backend. The master is ours; a client (minicom, screen, socat)
 * opens the slave. Whether a client is there must be known exactly: output
 * written into a pty nobody has open sits in the kernel's buffer and is
 * read by whoever opens it next, in the wrong order relative to our own
 * backlog, and a master with no slave reports EPOLLHUP forever.
 *
 * So opens and closes of the slave are events, not guesses: inotify on the
 * slave's /dev/pts node reports IN_OPEN and IN_CLOSE, and a dup of the
 * master watched edge-triggered reports the hang-up when the last slave fd
 * goes. On either we recompute: a client is there iff the slave has been
 * opened at least once and the master does not poll POLLHUP. (Linux
 * reports IN_CLOSE before the tty is released, hence the second watch.)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "chr_internal.h"
#include "internal.h"

struct pty_priv {
	struct vcon_chr *chr;
	int master, hup_fd, ino_fd;
	struct vcon__watch w_ino, w_hup;
	bool ever_opened;
	char name[64];
	char *link;
};

static bool
slave_open(struct pty_priv *p)
{
	struct pollfd pfd = { .fd = p->master, .events = POLLIN };

	if (!p->ever_opened)
		return false;
	return poll(&pfd, 1, 0) >= 0 && !(pfd.revents & POLLHUP);
}

static void
pty_recheck(struct pty_priv *p)
{
	bool open = slave_open(p);

	if (open && !vcon_chr_is_connected(p->chr))
		chr_connected(p->chr, p->master, p->master);
	else if (!open && vcon_chr_is_connected(p->chr))
		chr_disconnected(p->chr);
}

static void
ino_ready(struct vcon__watch *w, uint32_t revents)
{
	struct pty_priv *p = container_of(w, struct pty_priv, w_ino);
	char buf[4096]
		__attribute__((aligned(__alignof__(struct inotify_event))));
	const struct inotify_event *ev;
	ssize_t n;
	size_t off;

	(void)revents;
	while ((n = read(p->ino_fd, buf, sizeof(buf))) > 0) {
		for (off = 0; off < (size_t)n; off += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)(buf + off);
			if (ev->mask & (IN_OPEN | IN_Q_OVERFLOW))
				p->ever_opened = true;
		}
	}
	pty_recheck(p);
}

static void
hup_ready(struct vcon__watch *w, uint32_t revents)
{
	(void)revents;
	pty_recheck(container_of(w, struct pty_priv, w_hup));
}

static void
pty_hangup(struct vcon_chr *chr)
{
	/* EIO from the master: the slave is gone; opens are still watched. */
	chr_disconnected(chr);
}

static void
pty_quiesce(struct vcon_chr *chr)
{
	struct pty_priv *p = chr->be_priv;

	if (!p)
		return;
	vcon__watch_stop(&p->w_ino);
	vcon__watch_stop(&p->w_hup);
}

static void
pty_close(struct vcon_chr *chr)
{
	struct pty_priv *p = chr->be_priv;
	char target[PATH_MAX];
	ssize_t n;

	if (!p)
		return;
	if (p->link) {
		/* Remove the link only if it is still ours. */
		n = readlink(p->link, target, sizeof(target) - 1);
		if (n > 0) {
			target[n] = 0;
			if (strcmp(target, p->name) == 0)
				unlink(p->link);
		}
		free(p->link);
	}
	if (p->ino_fd >= 0)
		close(p->ino_fd);
	if (p->hup_fd >= 0)
		close(p->hup_fd);
	if (p->master >= 0)
		close(p->master);
	free(p);
	chr->be_priv = NULL;
}

static int
make_link(struct pty_priv *p, const char *link, struct vcon_error *err)
{
	struct stat st;

	/* A stale link from an earlier run is replaced; anything else not. */
	if (lstat(link, &st) == 0) {
		if (!S_ISLNK(st.st_mode))
			return vcon__fail(err, -EEXIST,
					  "pty: '%s' exists and is not a "
					  "symlink",
					  link);
		unlink(link);
	}
	if (symlink(p->name, link) < 0)
		return vcon__fail(err, -errno,
				  "pty: cannot create link '%s': %s", link,
				  strerror(errno));
	p->link = strdup(link);
	if (!p->link) {
		unlink(link);
		return -ENOMEM;
	}
	return 0;
}

static int
pty_open(struct vcon_chr *chr, const struct chr_opts *o, struct vcon_error *err)
{
	struct pty_priv *p = calloc(1, sizeof(*p));
	struct termios t;
	int rc;

	if (!p)
		return -ENOMEM;
	p->chr = chr;
	p->hup_fd = p->ino_fd = -1;
	chr->be_priv = p;
	p->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (p->master < 0)
		return vcon__fail(err, -errno, "pty: cannot open a pty: %s",
				  strerror(errno));
	if (grantpt(p->master) < 0 || unlockpt(p->master) < 0 ||
	    ptsname_r(p->master, p->name, sizeof(p->name)) != 0)
		return vcon__fail(err, -errno, "pty: cannot set up the pty: %s",
				  strerror(errno));
	/* Raw from the start; on a master this sets the slave's termios. */
	if (tcgetattr(p->master, &t) == 0) {
		cfmakeraw(&t);
		tcsetattr(p->master, TCSANOW, &t);
	}
	p->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (p->ino_fd < 0 ||
	    inotify_add_watch(p->ino_fd, p->name, IN_OPEN | IN_CLOSE) < 0)
		return vcon__fail(err, -errno, "pty: cannot watch '%s': %s",
				  p->name, strerror(errno));
	p->hup_fd = fcntl(p->master, F_DUPFD_CLOEXEC, 3);
	if (p->hup_fd < 0)
		return -errno;
	vcon__watch_init(&p->w_ino, chr->loop, p->ino_fd, ino_ready);
	vcon__watch_init(&p->w_hup, chr->loop, p->hup_fd, hup_ready);
	rc = vcon__watch_set(&p->w_ino, EPOLLIN);
	/* EPOLLHUP is always reported; EPOLLET makes it once per hang-up. */
	if (rc == 0)
		rc = vcon__watch_set(&p->w_hup, EPOLLET);
	if (rc < 0)
		return vcon__fail(err, rc, "pty: cannot watch the master: %s",
				  strerror(-rc));
	if (o->path && (rc = make_link(p, o->path, err)) < 0)
		return rc;
	chr->tty_fd = p->master;
	return 0;
}

VCON_API const char *
vcon_chr_pty_name(const struct vcon_chr *chr)
{
	const struct pty_priv *p = chr->be_priv;

	return chr->be == &chr_pty_backend && p ? p->name : NULL;
}

const struct chr_backend chr_pty_backend = {
	.name = "pty",
	.open = pty_open,
	.hangup = pty_hangup,
	.quiesce = pty_quiesce,
	.close = pty_close,
};
