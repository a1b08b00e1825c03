/* SPDX-License-Identifier: MIT */
/*
 * The socket backend: unix or tcp, server or client.
 *
 * Server: one client at a time. While one is connected the listener is not
 * polled, so the next client waits in the kernel's backlog and is accepted
 * when the first goes. With no client, output goes to the core's
 * keep-newest backlog and is replayed to the next one. A unix socket is
 * made 0600 between bind and listen, so no one else can ever connect; a
 * stale socket file is replaced, a live one or any other file is refused.
 *
 * Client: connects without blocking; with reconnect-ms it retries that
 * often while the server is away, otherwise it stays disconnected (output
 * kept in the backlog) once the server has gone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "chr_internal.h"
#include "internal.h"

struct sock_priv {
	struct vcon_chr *chr;
	bool server, nodelay, is_unix;
	int listen_fd, conn_fd;
	struct vcon__watch w_listen, w_connect;
	struct vcon_loop_timer *retry;
	int64_t reconnect_ms;
	struct sockaddr_storage addr; /* where to connect (client) */
	socklen_t addrlen;
	char *path; /* unix server path to unlink */
	dev_t dev;
	ino_t ino;
	char desc[160]; /* "unix:PATH" or "tcp:HOST:PORT", for errors */
};

static void
set_nodelay(struct sock_priv *p, int fd)
{
	int one = 1;

	if (p->nodelay && !p->is_unix)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void
listen_ready(struct vcon__watch *w, uint32_t revents)
{
	struct sock_priv *p = container_of(w, struct sock_priv, w_listen);
	int fd;

	(void)revents;
	fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0)
		return; /* EAGAIN, ECONNABORTED: wait for the next */
	set_nodelay(p, fd);
	p->conn_fd = fd;
	/* One client at a time: stop accepting until this one goes. */
	(void)vcon__watch_set(&p->w_listen, 0);
	chr_connected(p->chr, fd, fd);
}

static int start_connect(struct sock_priv *p);

static void
connect_done(struct vcon__watch *w, uint32_t revents)
{
	struct sock_priv *p = container_of(w, struct sock_priv, w_connect);
	socklen_t len = sizeof(int);
	int soerr = 0, fd = p->conn_fd;

	(void)revents;
	vcon__watch_stop(&p->w_connect);
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0 || soerr) {
		close(fd);
		p->conn_fd = -1;
		if (p->reconnect_ms)
			vcon_loop_timer_arm(p->retry,
					    vcon_now_ns() +
						    (uint64_t)p->reconnect_ms *
							    1000000u);
		return;
	}
	set_nodelay(p, fd);
	chr_connected(p->chr, fd, fd);
}

/* Begin a non-blocking connect. 0 (done or in progress) or -errno. */
static int
start_connect(struct sock_priv *p)
{
	int fd = socket(p->addr.ss_family,
			SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	if (fd < 0)
		return -errno;
	p->conn_fd = fd;
	if (connect(fd, (struct sockaddr *)&p->addr, p->addrlen) == 0) {
		set_nodelay(p, fd);
		chr_connected(p->chr, fd, fd);
		return 0;
	}
	if (errno == EINPROGRESS) {
		vcon__watch_init(&p->w_connect, p->chr->loop, fd, connect_done);
		return vcon__watch_set(&p->w_connect, EPOLLOUT);
	}
	close(fd);
	p->conn_fd = -1;
	return -errno;
}

static void
retry_fn(void *ctx, uint64_t now_ns)
{
	struct sock_priv *p = ctx;

	(void)now_ns;
	if (p->conn_fd < 0 && start_connect(p) < 0)
		vcon_loop_timer_arm(p->retry,
				    vcon_now_ns() + (uint64_t)p->reconnect_ms *
							    1000000u);
}

static void
sock_hangup(struct vcon_chr *chr)
{
	struct sock_priv *p = chr->be_priv;

	chr_disconnected(chr);
	if (p->conn_fd >= 0) {
		close(p->conn_fd);
		p->conn_fd = -1;
	}
	if (p->server)
		(void)vcon__watch_set(&p->w_listen, EPOLLIN);
	else if (p->reconnect_ms)
		vcon_loop_timer_arm(p->retry,
				    vcon_now_ns() + (uint64_t)p->reconnect_ms *
							    1000000u);
}

static void
sock_quiesce(struct vcon_chr *chr)
{
	struct sock_priv *p = chr->be_priv;

	if (!p)
		return;
	vcon_loop_timer_free(p->retry);
	p->retry = NULL;
	vcon__watch_stop(&p->w_listen);
	vcon__watch_stop(&p->w_connect);
}

static void
sock_close(struct vcon_chr *chr)
{
	struct sock_priv *p = chr->be_priv;
	struct stat st;

	if (!p)
		return;
	if (p->conn_fd >= 0)
		close(p->conn_fd);
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	/* Unlink our socket only, not one a later run put there. */
	if (p->path && stat(p->path, &st) == 0 && st.st_dev == p->dev &&
	    st.st_ino == p->ino)
		unlink(p->path);
	free(p->path);
	free(p);
	chr->be_priv = NULL;
}

static int
unix_addr(struct sock_priv *p, const char *path, struct vcon_error *err)
{
	struct sockaddr_un *sun = (struct sockaddr_un *)&p->addr;

	if (strlen(path) >= sizeof(sun->sun_path))
		return vcon__fail(err, -ENAMETOOLONG,
				  "socket: path '%s' is too long for a unix "
				  "socket",
				  path);
	sun->sun_family = AF_UNIX;
	strcpy(sun->sun_path, path);
	p->addrlen = sizeof(*sun);
	p->is_unix = true;
	snprintf(p->desc, sizeof(p->desc), "unix:%s", path);
	return 0;
}

/* Is something listening at the unix path? Used to tell stale files. */
static bool
unix_live(struct sock_priv *p)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool live;

	if (fd < 0)
		return true;
	live = connect(fd, (struct sockaddr *)&p->addr, p->addrlen) == 0 ||
	       errno != ECONNREFUSED;
	close(fd);
	return live;
}

static int
unix_listen(struct sock_priv *p, const char *path, struct vcon_error *err)
{
	struct stat st;
	int fd;

	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode))
			return vcon__fail(err, -EEXIST,
					  "socket: '%s' exists and is not a "
					  "socket",
					  path);
		if (unix_live(p))
			return vcon__fail(err, -EADDRINUSE,
					  "socket: '%s' is in use by a live "
					  "server",
					  path);
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	p->listen_fd = fd;
	if (bind(fd, (struct sockaddr *)&p->addr, p->addrlen) < 0)
		return vcon__fail(err, -errno, "socket: cannot bind '%s': %s",
				  path, strerror(errno));
	/* Before listen(): until then no one can connect, so no race. */
	if (chmod(path, 0600) < 0 || stat(path, &st) < 0)
		return vcon__fail(err, -errno, "socket: cannot chmod '%s': %s",
				  path, strerror(errno));
	p->path = strdup(path);
	if (!p->path)
		return -ENOMEM;
	p->dev = st.st_dev;
	p->ino = st.st_ino;
	return 0;
}

static int
tcp_resolve(struct sock_priv *p, const struct chr_opts *o,
	    struct vcon_error *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	char port[8];
	int rc;

	snprintf(port, sizeof(port), "%d", o->port);
	snprintf(p->desc, sizeof(p->desc), "tcp:%s:%d", o->host, o->port);
	hints.ai_flags = o->server ? AI_PASSIVE : 0;
	rc = getaddrinfo(*o->host ? o->host : NULL, port, &hints, &res);
	if (rc != 0)
		return vcon__fail(err, -EADDRNOTAVAIL,
				  "socket: cannot resolve '%s': %s", o->host,
				  gai_strerror(rc));
	memcpy(&p->addr, res->ai_addr, res->ai_addrlen);
	p->addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
tcp_listen(struct sock_priv *p, struct vcon_error *err)
{
	int one = 1, fd;

	fd = socket(p->addr.ss_family,
		    SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	p->listen_fd = fd;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&p->addr, p->addrlen) < 0)
		return vcon__fail(err, -errno, "socket: cannot bind %s: %s",
				  p->desc, strerror(errno));
	return 0;
}

/* wait=on: block until the first client, as QEMU does at start-up. */
static int
wait_first_client(struct sock_priv *p, struct vcon_error *err)
{
	struct pollfd pfd = { .fd = p->listen_fd, .events = POLLIN };
	int fd;

	for (;;) {
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return vcon__fail(err, -errno,
					  "socket: waiting on %s: %s", p->desc,
					  strerror(errno));
		fd = accept4(p->listen_fd, NULL, NULL,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			break;
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			return vcon__fail(err, -errno,
					  "socket: accept on %s: %s", p->desc,
					  strerror(errno));
	}
	set_nodelay(p, fd);
	p->conn_fd = fd;
	chr_connected(p->chr, fd, fd);
	return 0;
}

static int
sock_open(struct vcon_chr *chr, const struct chr_opts *o,
	  struct vcon_error *err)
{
	struct sock_priv *p = calloc(1, sizeof(*p));
	int rc;

	if (!p)
		return -ENOMEM;
	chr->be_priv = p;
	p->chr = chr;
	p->listen_fd = p->conn_fd = -1;
	p->server = o->server;
	p->nodelay = o->nodelay;
	p->reconnect_ms = o->reconnect_ms;
	chr->in_sock = chr->out_sock = true;
	rc = o->path ? unix_addr(p, o->path, err) : tcp_resolve(p, o, err);
	if (rc < 0)
		return rc;
	if (p->server) {
		rc = o->path ? unix_listen(p, o->path, err)
			     : tcp_listen(p, err);
		if (rc < 0)
			return rc;
		if (listen(p->listen_fd, 1) < 0)
			return vcon__fail(err, -errno,
					  "socket: listen on %s: %s", p->desc,
					  strerror(errno));
		vcon__watch_init(&p->w_listen, chr->loop, p->listen_fd,
				 listen_ready);
		if (o->wait && (rc = wait_first_client(p, err)) < 0)
			return rc;
		if (p->conn_fd < 0)
			rc = vcon__watch_set(&p->w_listen, EPOLLIN);
		return rc;
	}
	rc = vcon_loop_timer_new(chr->loop, retry_fn, p, &p->retry);
	if (rc < 0)
		return rc;
	rc = start_connect(p);
	if (rc < 0 && !p->reconnect_ms)
		return vcon__fail(err, rc, "socket: cannot connect to %s: %s",
				  p->desc, strerror(-rc));
	if (rc < 0)
		vcon_loop_timer_arm(p->retry,
				    vcon_now_ns() + (uint64_t)p->reconnect_ms *
							    1000000u);
	return 0;
}

VCON_API int
vcon_chr_local_port(const struct vcon_chr *chr)
{
	const struct sock_priv *p = chr->be_priv;
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
		struct sockaddr_storage ss;
	} a = { 0 };
	socklen_t len = sizeof(a);

	if (chr->be != &chr_socket_backend || !p || p->is_unix ||
	    p->listen_fd < 0)
		return -ENOTSOCK;
	if (getsockname(p->listen_fd, &a.sa, &len) < 0)
		return -errno;
	return ntohs(a.sa.sa_family == AF_INET6 ? a.in6.sin6_port
						: a.in.sin_port);
}

const struct chr_backend chr_socket_backend = {
	.name = "socket",
	.open = sock_open,
	.hangup = sock_hangup,
	.quiesce = sock_quiesce,
	.close = sock_close,
};
