/* SPDX-License-Identifier: MIT */
/*
 * Chardev backends against real fds: files, ptys from posix_openpt, unix
 * and tcp sockets on loopback, socketpairs handed in with fd=. The loop
 * runs on its own thread as in a VMM; a recording frontend stands in for
 * the device.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pty.h>

#include <cmocka.h>

#include <vcon/chr.h>
#include <vcon/loop.h>

#include "testutil.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

/* ---- a recording frontend ------------------------------------------- */

struct rec {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t *buf;
	size_t len, cap;
	size_t take;          /* accept at most this many per call */
	unsigned calls;       /* receive calls that took bytes */
	unsigned events[8];   /* count per enum vcon_chr_event */
	int last_focus;
	unsigned tx_ready;
	struct vcon_chr_fe *fe;
};

static size_t
rec_receive(void *ctx, const uint8_t *buf, size_t len)
{
	struct rec *r = ctx;

	pthread_mutex_lock(&r->lock);
	if (len > r->take)
		len = r->take;
	if (r->len + len > r->cap) {
		r->cap = (r->len + len) * 2;
		r->buf = realloc(r->buf, r->cap);
	}
	memcpy(r->buf + r->len, buf, len);
	r->len += len;
	r->calls += len > 0;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
	return len;
}

static void
rec_tx_ready(void *ctx)
{
	struct rec *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->tx_ready++;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static void
rec_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct rec *r = ctx;

	pthread_mutex_lock(&r->lock);
	r->events[ev]++;
	if (ev == VCON_CHR_EVENT_FOCUS)
		r->last_focus = arg;
	pthread_cond_broadcast(&r->cond);
	pthread_mutex_unlock(&r->lock);
}

static const struct vcon_chr_fe_ops rec_ops = {
	.receive = rec_receive,
	.tx_ready = rec_tx_ready,
	.event = rec_event,
};

static void
rec_init(struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->take = SIZE_MAX;
}

static void
rec_fini(struct rec *r)
{
	free(r->buf);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->lock);
}

static void
deadline_in(struct timespec *ts, int ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait until the recorder holds n bytes; false after 5 s. */
static bool
rec_wait_len(struct rec *r, size_t n)
{
	struct timespec ts;
	bool ok = true;

	deadline_in(&ts, 5000);
	pthread_mutex_lock(&r->lock);
	while (r->len < n && ok)
		ok = pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0;
	ok = r->len >= n;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static bool
rec_wait_event(struct rec *r, enum vcon_chr_event ev, unsigned n)
{
	struct timespec ts;
	bool ok = true;

	deadline_in(&ts, 5000);
	pthread_mutex_lock(&r->lock);
	while (r->events[ev] < n && ok)
		ok = pthread_cond_timedwait(&r->cond, &r->lock, &ts) == 0;
	ok = r->events[ev] >= n;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

/* ---- fixtures ------------------------------------------------------- */

struct fx {
	struct vcon_loop *loop;
	char dir[64];
};

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/vcon-chr-XXXXXX");
	if (!mkdtemp(fx->dir) || vcon_loop_new(&fx->loop) ||
	    vcon_loop_start_thread(fx->loop))
		return -1;
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	vcon_loop_stop(fx->loop);
	vcon_loop_join(fx->loop);
	vcon_loop_free(fx->loop);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	if (system(cmd) != 0)
		return -1;
	free(fx);
	return 0;
}

static void
path_in(const struct fx *fx, char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", fx->dir, name);
}

#define must_new(fx, ...) chr_new_or_fail((fx)->loop, __VA_ARGS__)

/* tx_ready calls so far, for wait_tx_ready. */
static unsigned
tx_ready_seen(struct rec *r)
{
	unsigned seen;

	pthread_mutex_lock(&r->lock);
	seen = r->tx_ready;
	pthread_mutex_unlock(&r->lock);
	return seen;
}

/* Until a tx_ready after the `seen`th, within 5 s. */
static void
wait_tx_ready(struct rec *r, unsigned seen)
{
	struct timespec ts;

	deadline_in(&ts, 5000);
	pthread_mutex_lock(&r->lock);
	while (r->tx_ready == seen)
		if (pthread_cond_timedwait(&r->cond, &r->lock, &ts))
			fail_msg("tx_ready never came");
	pthread_mutex_unlock(&r->lock);
}

/* Write all of buf through fe, waiting for tx_ready when refused. */
static void
fe_write_all(struct rec *r, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	unsigned seen;
	size_t n;

	while (len) {
		seen = tx_ready_seen(r);
		n = vcon_chr_fe_write(r->fe, p, len);
		p += n;
		len -= n;
		if (len == 0)
			break;
		if (n)
			continue;
		wait_tx_ready(r, seen);
	}
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = calloc(1, 1 << 20);

	*len = f ? fread(buf, 1, (1 << 20) - 1, f) : 0;
	if (f)
		fclose(f);
	return buf;
}

/* ---- specs ---------------------------------------------------------- */

static void
subst_dir(const char *in, const char *dir, char *out, size_t size)
{
	size_t o = 0;

	while (*in && o + 1 < size) {
		if (in[0] == '$' && in[1] == 'D') {
			o += (size_t)snprintf(out + o, size - o, "%s", dir);
			in += 2;
		} else {
			out[o++] = *in++;
		}
	}
	out[o < size ? o : size - 1] = 0;
}

static int
errno_by_name(const char *name)
{
	static const struct {
		const char *name;
		int val;
	} t[] = { { "EINVAL", EINVAL },	    { "ENOENT", ENOENT },
		  { "ERANGE", ERANGE },	    { "EEXIST", EEXIST },
		  { "ENOTSUP", ENOTSUP },   { "EBADF", EBADF },
		  { "EADDRINUSE", EADDRINUSE } };
	size_t i;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		if (!strcmp(t[i].name, name))
			return t[i].val;
	fail_msg("unknown errno name %s", name);
	return 0;
}

/* Every line of tests/chr/specs.tsv: accepted, or refused as written. */
static void
test_specs_table(void **state)
{
	struct fx *fx = *state;
	FILE *f = fopen(SRCDIR "/tests/chr/specs.tsv", "r");
	char line[1024], spec[512], msg[512], path[128];
	struct vcon_error err;
	struct vcon_chr *chr;
	unsigned lines = 0;
	char *tab, *tab2;
	int rc, fd;

	assert_non_null(f);
	path_in(fx, path, sizeof(path), "regular");
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = 0;
		if (line[0] == '#')
			continue;
		lines++;
		tab = strchr(line, '\t');
		if (tab)
			*tab++ = 0;
		subst_dir(line, fx->dir, spec, sizeof(spec));
		chr = NULL;
		memset(&err, 0, sizeof(err));
		rc = vcon_chr_new(fx->loop, spec, &chr, &err);
		if (!tab) {
			if (rc)
				fail_msg("'%s' refused: %s", spec, err.msg);
			vcon_chr_free(chr);
			continue;
		}
		tab2 = strchr(tab, '\t');
		assert_non_null(tab2);
		*tab2++ = 0;
		subst_dir(tab2, fx->dir, msg, sizeof(msg));
		if (rc != -errno_by_name(tab))
			fail_msg("'%s': rc %d, want -%s (msg '%s')", spec, rc,
				 tab, err.msg);
		if (strcmp(err.msg, msg) != 0)
			fail_msg("'%s':\n got '%s'\nwant '%s'", spec, err.msg,
				 msg);
		assert_null(chr);
	}
	fclose(f);
	assert_true(lines > 40);
	/* A message is one line, whatever the spec held. */
	assert_int_equal(vcon_chr_new(fx->loop, "frob\nnicate\t", &chr, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "unknown chardev backend 'frob?nicate?'");
}

static void
test_serial_shorthands(void **state)
{
	struct fx *fx = *state;
	struct vcon_error err;
	struct vcon_chr *chr;
	char spec[256], path[128];
	size_t len;
	char *got;
	struct rec r;

	path_in(fx, path, sizeof(path), "ser,ial.txt");
	snprintf(spec, sizeof(spec), "file:%s", path);
	assert_int_equal(vcon_chr_new_serial(fx->loop, spec, "com1", &chr,
					     &err),
			 0);
	assert_string_equal(vcon_chr_id(chr), "com1");
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	assert_int_equal(vcon_chr_fe_write(r.fe, "hi\n", 3), 3);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	got = slurp(path, &len);
	assert_int_equal(len, 3);
	assert_memory_equal(got, "hi\n", 3);
	free(got);
	rec_fini(&r);

	assert_int_equal(vcon_chr_new_serial(fx->loop, "none", NULL, &chr,
					     &err),
			 -ENOENT);
	assert_int_equal(vcon_chr_new_serial(fx->loop, "chardev:c0", NULL,
					     &chr, &err),
			 -EINVAL);
	assert_int_equal(vcon_chr_new_serial(fx->loop, "vcx", NULL, &chr,
					     &err),
			 -EINVAL);
	assert_string_equal(err.msg, "unknown -serial backend 'vcx'");
	assert_int_equal(vcon_chr_new_serial(fx->loop, "tcp:127.0.0.1", NULL,
					     &chr, &err),
			 -EINVAL);
	/* A trailing comma is an empty option, not an escape of the next. */
	assert_int_equal(vcon_chr_new_serial(fx->loop, "mon:unix:/p,", "com1",
					     &chr, &err),
			 -EINVAL);
	assert_string_equal(err.msg, "-serial 'mon:unix:/p,' ends in an empty "
				     "option");
	/* A host too long for the spec is refused, never left out (an empty
	 * host listens on every address). */
	{
		char lng[1200];

		memset(lng, 'h', sizeof(lng));
		memcpy(lng, "tcp:", 4);
		snprintf(lng + 1100, sizeof(lng) - 1100, ":0,server=on,"
							 "wait=off");
		assert_int_equal(vcon_chr_new_serial(fx->loop, lng, NULL,
						     &chr, &err),
				 -E2BIG);
		assert_string_equal(err.msg, "-serial spec is too long");
		/* The same for a path that does not fit, commas and all. */
		memcpy(lng, "file:", 5);
		memset(lng + 5, ',', sizeof(lng) - 6);
		lng[sizeof(lng) - 1] = 0;
		assert_int_equal(vcon_chr_new_serial(fx->loop, lng, NULL,
						     &chr, &err),
				 -E2BIG);
		assert_string_equal(err.msg, "-serial spec is too long");
	}

	/* tcp:HOST:PORT,server=on,wait=off and unix:PATH,server=on */
	assert_int_equal(vcon_chr_new_serial(fx->loop,
					     "tcp:127.0.0.1:0,server=on,"
					     "wait=off",
					     NULL, &chr, &err),
			 0);
	assert_true(vcon_chr_local_port(chr) > 0);
	vcon_chr_free(chr);
	path_in(fx, path, sizeof(path), "ser.sock");
	snprintf(spec, sizeof(spec), "unix:%s,server=on,wait=off", path);
	assert_int_equal(vcon_chr_new_serial(fx->loop, spec, NULL, &chr, &err),
			 0);
	assert_int_equal(vcon_chr_local_port(chr), -ENOTSOCK);
	vcon_chr_free(chr);
	/* mon: is mux on: two frontends fit. */
	assert_int_equal(vcon_chr_new_serial(fx->loop, "mon:null", NULL, &chr,
					     &err),
			 0);
	{
		struct rec a, b;

		rec_init(&a);
		rec_init(&b);
		assert_int_equal(vcon_chr_attach(chr, &rec_ops, &a, &a.fe), 0);
		assert_int_equal(vcon_chr_attach(chr, &rec_ops, &b, &b.fe), 0);
		vcon_chr_detach(a.fe);
		vcon_chr_detach(b.fe);
		rec_fini(&a);
		rec_fini(&b);
	}
	vcon_chr_free(chr);
}


/* ---- behaviour ------------------------------------------------------ */

static void
test_file_output_input_and_append(void **state)
{
	struct fx *fx = *state;
	char out[128], in[128];
	struct vcon_chr *chr;
	struct rec r;
	size_t len;
	char *got;
	FILE *f;

	path_in(fx, out, sizeof(out), "out.txt");
	path_in(fx, in, sizeof(in), "in.txt");
	f = fopen(in, "w");
	fputs("typed by the host", f);
	fclose(f);
	chr = must_new(fx, "file,id=f,path=%s,input-path=%s", out, in);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	/* A second frontend on a backend without mux is refused. */
	{
		struct vcon_chr_fe *fe2;

		assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &fe2),
				 -EBUSY);
	}
	assert_true(rec_wait_len(&r, 17));
	assert_memory_equal(r.buf, "typed by the host", 17);
	fe_write_all(&r, "first\n", 6);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	chr = must_new(fx, "file,path=%s,append=on", out);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	fe_write_all(&r, "second\n", 7);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	got = slurp(out, &len);
	assert_int_equal(len, 13);
	assert_memory_equal(got, "first\nsecond\n", 13);
	free(got);
	rec_fini(&r);
}

/* ENOSPC: reported once as an event, counted, bytes dropped, no crash. */
static void
test_file_enospc_is_reported_once(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_stats st;
	struct vcon_chr *chr;
	struct rec r;
	char buf[1000];
	int i;

	chr = must_new(fx, "file,path=/dev/full");
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	memset(buf, 'x', sizeof(buf));
	for (i = 0; i < 50; i++) {
		fe_write_all(&r, buf, sizeof(buf));
		usleep(1000);
	}
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_ERROR, 1));
	usleep(50000);
	vcon_chr_get_stats(chr, &st);
	assert_true(st.errors >= 1);
	assert_int_equal(st.tx_bytes, 0);
	assert_int_equal(st.tx_dropped + st.buffered, 50 * sizeof(buf));
	pthread_mutex_lock(&r.lock);
	assert_int_equal(r.events[VCON_CHR_EVENT_ERROR], 1);
	pthread_mutex_unlock(&r.lock);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	rec_fini(&r);
}

/* file: on a FIFO nobody reads: back-pressure, and free does not hang. */
static void
test_file_on_a_stuck_fifo_never_blocks(void **state)
{
	struct fx *fx = *state;
	static char big[256 * 1024];
	struct vcon_chr *chr;
	char path[128];
	struct rec r;
	size_t took;
	int rd;

	path_in(fx, path, sizeof(path), "fifo");
	assert_int_equal(mkfifo(path, 0600), 0);
	rd = open(path, O_RDONLY | O_NONBLOCK); /* there, but never reads */
	assert_true(rd >= 0);
	chr = must_new(fx, "file,path=%s", path);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	took = vcon_chr_fe_write(r.fe, big, sizeof(big));
	usleep(20000);
	took += vcon_chr_fe_write(r.fe, big, sizeof(big));
	assert_true(took < 2 * sizeof(big));
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	close(rd);
	rec_fini(&r);
}

static int
open_slave(const char *name)
{
	int fd = open(name, O_RDWR | O_NOCTTY | O_NONBLOCK);

	assert_true(fd >= 0);
	return fd;
}

static void
test_pty_backlog_goes_to_each_new_client(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr *chr;
	char link[128], target[128], buf[64];
	const char *name;
	struct rec r;
	ssize_t n;
	int s;

	path_in(fx, link, sizeof(link), "console");
	chr = must_new(fx, "pty,id=p,path=%s", link);
	name = vcon_chr_pty_name(chr);
	assert_non_null(name);
	n = readlink(link, target, sizeof(target) - 1);
	assert_true(n > 0);
	target[n] = 0;
	assert_string_equal(target, name);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	assert_false(vcon_chr_is_connected(chr));
	fe_write_all(&r, "boot log\n", 9);

	s = open_slave(name);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_OPENED, 1));
	assert_int_equal(read_exact(s, buf, 9, 5000), 9);
	assert_memory_equal(buf, "boot log\n", 9);
	fe_write_all(&r, "live", 4);
	assert_int_equal(read_exact(s, buf, 4, 5000), 4);
	assert_memory_equal(buf, "live", 4);
	assert_int_equal(write(s, "keys", 4), 4);
	assert_true(rec_wait_len(&r, 4));
	assert_memory_equal(r.buf, "keys", 4);
	close(s);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_CLOSED, 1));
	assert_false(vcon_chr_is_connected(chr));

	/* Written while nobody has it open: kept, then replayed. */
	fe_write_all(&r, "while away", 10);
	usleep(20000);
	s = open_slave(name);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_OPENED, 2));
	assert_int_equal(read_exact(s, buf, 10, 5000), 10);
	assert_memory_equal(buf, "while away", 10);
	close(s);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_CLOSED, 2));
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	/* The link is removed with the backend. */
	assert_int_equal(access(link, F_OK), -1);
	rec_fini(&r);
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	strcpy(sun.sun_path, path);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

static void
test_unix_server_one_client_at_a_time(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_stats st;
	struct vcon_chr *chr;
	char path[128], log[128], buf[64];
	struct stat sb;
	struct rec r;
	int c1, c2;
	size_t len;
	char *got;

	path_in(fx, path, sizeof(path), "con.sock");
	path_in(fx, log, sizeof(log), "con.log");
	chr = must_new(fx, "socket,id=s,path=%s,server=on,wait=off,logfile=%s",
		       path, log);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	fe_write_all(&r, "early ", 6);

	c1 = unix_connect(path);
	assert_true(c1 >= 0);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_OPENED, 1));
	assert_int_equal(read_exact(c1, buf, 6, 5000), 6);
	assert_memory_equal(buf, "early ", 6);
	/* The second client waits in the backlog, unserved. */
	c2 = unix_connect(path);
	assert_true(c2 >= 0);
	fe_write_all(&r, "to-one ", 7);
	assert_int_equal(read_exact(c1, buf, 7, 5000), 7);
	assert_int_equal(read_exact(c2, buf, 1, 100), 0);
	assert_int_equal(write(c1, "ping", 4), 4);
	assert_true(rec_wait_len(&r, 4));
	close(c1);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_CLOSED, 1));
	/* Now the waiting one is taken. */
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_OPENED, 2));
	fe_write_all(&r, "to-two", 6);
	assert_int_equal(read_exact(c2, buf, 6, 5000), 6);
	assert_memory_equal(buf, "to-two", 6);
	close(c2);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_CLOSED, 2));
	vcon_chr_get_stats(chr, &st);
	assert_int_equal(st.connects, 2);
	assert_int_equal(st.disconnects, 2);
	assert_int_equal(st.rx_bytes, 4);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	assert_int_equal(access(path, F_OK), -1);
	/* The logfile has what the clients were sent. */
	got = slurp(log, &len);
	assert_int_equal(len, 19);
	assert_memory_equal(got, "early to-one to-two", 19);
	free(got);
	rec_fini(&r);
}

/* socat, an independent implementation, as the client and as the server. */
static void
test_socat_as_the_peer(void **state)
{
	struct fx *fx = *state;
	char path[128], spath[128], out[128], cmd[512];
	struct vcon_chr *chr;
	struct rec r;
	size_t len;
	char *got;
	int i;

	if (system("command -v socat >/dev/null") != 0)
		fail_msg("socat is missing: run tools/setup");
	/* Our server, socat the client: it gets the backlog and types. */
	path_in(fx, path, sizeof(path), "srv.sock");
	path_in(fx, out, sizeof(out), "socat.out");
	chr = must_new(fx, "socket,path=%s,server=on,wait=off", path);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	fe_write_all(&r, "boot log\n", 9);
	snprintf(cmd, sizeof(cmd),
		 "(printf 'typed'; sleep 1) | timeout 5 socat - UNIX-CONNECT:%s "
		 "> %s",
		 path, out);
	assert_int_equal(system(cmd), 0);
	assert_true(rec_wait_len(&r, 5));
	assert_memory_equal(r.buf, "typed", 5);
	got = slurp(out, &len);
	assert_int_equal(len, 9);
	assert_memory_equal(got, "boot log\n", 9);
	free(got);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	rec_fini(&r);

	/* socat the server, our client: what we write lands in its file. */
	path_in(fx, spath, sizeof(spath), "socat.sock");
	path_in(fx, out, sizeof(out), "socat2.out");
	snprintf(cmd, sizeof(cmd),
		 "timeout 10 socat -u UNIX-LISTEN:%s OPEN:%s,creat,trunc &",
		 spath, out);
	assert_int_equal(system(cmd), 0);
	for (i = 0; i < 100 && access(spath, F_OK) != 0; i++)
		usleep(20000);
	chr = must_new(fx, "socket,path=%s", spath);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	fe_write_all(&r, "to socat", 8);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr); /* flushes, closes: socat sees EOF and exits */
	for (i = 0; i < 250; i++) {
		got = slurp(out, &len);
		if (len == 8)
			break;
		free(got);
		got = NULL;
		usleep(20000);
	}
	assert_non_null(got);
	assert_memory_equal(got, "to socat", 8);
	free(got);
	rec_fini(&r);
}

static void
test_unix_stale_replaced_live_refused(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	struct vcon_error err;
	struct vcon_chr *chr, *chr2;
	char path[128];
	int fd;

	path_in(fx, path, sizeof(path), "stale.sock");
	strcpy(sun.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	close(fd); /* a socket file nobody listens on */
	chr = must_new(fx, "socket,path=%s,server=on,wait=off", path);
	memset(&err, 0, sizeof(err));
	{
		char spec[256];

		snprintf(spec, sizeof(spec),
			 "socket,path=%s,server=on,wait=off", path);
		assert_int_equal(vcon_chr_new(fx->loop, spec, &chr2, &err),
				 -EADDRINUSE);
	}
	vcon_chr_free(chr);
}

static void
test_tcp_client_reconnects(void **state)
{
	struct fx *fx = *state;
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t sl = sizeof(sin);
	struct vcon_chr *chr;
	struct rec r;
	char buf[16];
	int lfd, c;

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 4), 0);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	chr = must_new(fx, "socket,host=127.0.0.1,port=%d,reconnect-ms=20,"
			   "nodelay=on",
		       ntohs(sin.sin_port));
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_OPENED, 1));
	fe_write_all(&r, "one", 3);
	assert_int_equal(read_exact(c, buf, 3, 5000), 3);
	close(c);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_CLOSED, 1));
	fe_write_all(&r, "two", 3); /* kept until the server is back */
	c = accept(lfd, NULL, NULL);
	assert_true(c >= 0);
	assert_true(rec_wait_event(&r, VCON_CHR_EVENT_OPENED, 2));
	assert_int_equal(read_exact(c, buf, 3, 5000), 3);
	assert_memory_equal(buf, "two", 3);
	assert_int_equal(write(c, "back", 4), 4);
	assert_true(rec_wait_len(&r, 4));
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	close(c);
	close(lfd);
	rec_fini(&r);
}

struct producer {
	struct rec *r;
	size_t total;
};

static uint8_t
pattern(size_t i)
{
	return (uint8_t)(i * 131 + (i >> 9));
}

static void *
produce(void *arg)
{
	struct producer *p = arg;
	uint8_t b;
	size_t i;

	for (i = 0; i < p->total; i++) {
		b = pattern(i);
		fe_write_all(p->r, &b, 1);
	}
	return NULL;
}

/*
 * The reader's side: total bytes of pattern() from fd, pausing pause_us
 * every `every` reads so the writer meets a full socket; with bound, the
 * chardev never buffers more than that. Then wait until the chardev counts
 * every byte written (the count moves when the write returns).
 */
static void
read_pattern(int fd, size_t total, unsigned every, unsigned pause_us,
	     struct vcon_chr *chr, uint64_t bound)
{
	static uint8_t buf[8192];
	struct vcon_chr_stats st;
	size_t got = 0, i, reads = 0;
	ssize_t n;

	while (got < total) {
		n = read(fd, buf, sizeof(buf));
		assert_true(n > 0);
		for (i = 0; i < (size_t)n; i++)
			if (buf[i] != pattern(got + i))
				fail_msg("byte %zu is wrong", got + i);
		got += (size_t)n;
		if (++reads % every == 0) {
			usleep(pause_us);
			vcon_chr_get_stats(chr, &st);
			assert_true(!bound || st.buffered <= bound);
		}
	}
	for (i = 0; i < 5000; i++) {
		vcon_chr_get_stats(chr, &st);
		if (st.tx_bytes == total)
			break;
		usleep(1000);
	}
	assert_int_equal(st.tx_bytes, total);
	assert_int_equal(st.tx_dropped, 0);
}

/* Writes of every size, large ones going straight to the fd while small
 * ones queue: the reader sees one stream, in order. */
static void *
produce_mixed(void *arg)
{
	struct producer *p = arg;
	static uint8_t chunk[70000];
	size_t i = 0, n, k, step = 0;

	while (i < p->total) {
		/* 1, 7, 600, 4096, 65536, 513, 70000, ... */
		static const size_t sizes[] = { 1, 7, 600, 4096, 65536, 513,
						70000, 511, 512, 3 };

		n = sizes[step++ % (sizeof(sizes) / sizeof(sizes[0]))];
		if (n > p->total - i)
			n = p->total - i;
		for (k = 0; k < n; k++)
			chunk[k] = pattern(i + k);
		fe_write_all(p->r, chunk, n);
		i += n;
	}
	return NULL;
}

/*
 * total bytes of pattern() from producer fn through a chardev on a small
 * socket, where large writes go out partly and the rest queues (extra: more
 * of the spec), read and checked on the other side.
 */
static void
through_small_socket(struct fx *fx, void *(*fn)(void *), size_t total,
		     unsigned every, const char *extra)
{
	struct producer p;
	struct vcon_chr *chr;
	struct rec r;
	pthread_t th;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF,
				    &(int){ 8192 }, sizeof(int)),
			 0);
	chr = must_new(fx, "fd,fd=%d,buffer=16K%s", sv[0], extra);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	p.r = &r;
	p.total = total;
	assert_int_equal(pthread_create(&th, NULL, fn, &p), 0);
	read_pattern(sv[1], p.total, every, 1000, chr, 0);
	pthread_join(th, NULL);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	close(sv[1]);
	rec_fini(&r);
}

static void
test_mixed_sizes_keep_their_order(void **state)
{
	through_small_socket(*state, produce_mixed, 8u << 20, 64, "");
}

/* pattern() bytes [0, total) are exactly what path holds. */
static void
assert_file_is_pattern(const char *path, size_t total)
{
	static uint8_t buf[65536];
	size_t got = 0, i;
	ssize_t n;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (i = 0; i < (size_t)n; i++)
			if (got + i >= total || buf[i] != pattern(got + i))
				fail_msg("%s: byte %zu is wrong", path, got + i);
		got += (size_t)n;
	}
	close(fd);
	assert_int_equal(got, total);
}

/*
 * Back-pressure with a logfile: writes the ring refuses in part come
 * again, and the logfile keeps each byte once, as the peer received it.
 */
static void
test_logfile_under_back_pressure(void **state)
{
	struct fx *fx = *state;
	char log[128], extra[160];

	path_in(fx, log, sizeof(log), "bp.log");
	snprintf(extra, sizeof(extra), ",logfile=%s", log);
	through_small_socket(fx, produce_mixed, 2u << 20, 16, extra);
	assert_file_is_pattern(log, 2u << 20);
}

/*
 * vcon_chr_fe_writev until all of iov is taken, waiting for tx_ready when
 * nothing is: what it took is always a prefix, so the rest goes next.
 */
static void
fe_writev_all(struct rec *r, struct iovec *iov, int cnt)
{
	unsigned seen;
	size_t n, took;

	while (cnt) {
		seen = tx_ready_seen(r);
		took = n = vcon_chr_fe_writev(r->fe, iov, cnt);
		/* Past what went, and past empty buffers. */
		while (cnt && n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			cnt--;
		}
		if (cnt) {
			iov->iov_base = (uint8_t *)iov->iov_base + n;
			iov->iov_len -= n;
		}
		if (cnt == 0 || took)
			continue;
		wait_tx_ready(r, seen);
	}
}

/* Batches of every shape: empty buffers, one byte, pages, more buffers
 * than one writev(2) takes (IOV_MAX). */
static void *
produce_batches(void *arg)
{
	static const unsigned counts[] = { 1, 3, 64, 1100, 2, 17 };
	static const size_t sizes[] = { 4096, 0, 1, 700, 4096, 13, 32768 };
	static uint8_t data[1100 * 32768 / 64];
	static struct iovec iov[1100];
	struct producer *p = arg;
	size_t i = 0, at, n, k, step = 0, sz = 0;
	unsigned c, cnt;

	while (i < p->total) {
		cnt = counts[step++ % (sizeof(counts) / sizeof(counts[0]))];
		at = 0;
		for (c = 0; c < cnt && i + at < p->total; c++) {
			n = sizes[sz++ % (sizeof(sizes) / sizeof(sizes[0]))];
			if (cnt > 64 && n > 256)
				n = 256;
			if (n > p->total - i - at)
				n = p->total - i - at;
			for (k = 0; k < n; k++)
				data[at + k] = pattern(i + at + k);
			iov[c] = (struct iovec){ data + at, n };
			at += n;
		}
		fe_writev_all(p->r, iov, (int)c);
		i += at;
	}
	return NULL;
}

/*
 * writev keeps the stream in order through a small socket that takes
 * batches in part, and a batch that a file takes whole is one write.
 */
static void
test_writev_batches(void **state)
{
	struct fx *fx = *state;
	static uint8_t page[64][4096];
	struct iovec iov[64];
	struct vcon_chr_stats st;
	struct vcon_chr *chr;
	char path[128];
	struct rec r;
	size_t i;

	path_in(fx, path, sizeof(path), "batch.out");
	chr = must_new(fx, "file,id=f,path=%s", path);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	for (i = 0; i < 64 * 4096; i++)
		page[i / 4096][i % 4096] = pattern(i);
	for (i = 0; i < 64; i++)
		iov[i] = (struct iovec){ page[i], 4096 };
	assert_int_equal(vcon_chr_fe_writev(r.fe, iov, 64), 64 * 4096);
	vcon_chr_get_stats(chr, &st);
	assert_int_equal(st.tx_writes, 1);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	rec_fini(&r);
	assert_file_is_pattern(path, 64 * 4096);

	through_small_socket(fx, produce_batches, 8u << 20, 64, "");
}

/* 16 MiB one byte at a time into a slow reader: all of it, in order,
 * through a 4 KiB buffer. */
static void
test_slow_reader_gets_every_byte_bounded(void **state)
{
	struct fx *fx = *state;
	struct producer p;
	struct vcon_chr *chr;
	struct rec r;
	pthread_t th;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = must_new(fx, "fd,fd=%d,buffer=4K", sv[0]);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	p.r = &r;
	p.total = 16u << 20;
	assert_int_equal(pthread_create(&th, NULL, produce, &p), 0);
	read_pattern(sv[1], p.total, 256, 2000, chr, 4096);
	pthread_join(th, NULL);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	close(sv[1]);
	rec_fini(&r);
}

static void
test_input_waits_for_frontend_room(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr *chr;
	struct rec r;
	int sv[2], i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = must_new(fx, "fd,fd=%d", sv[0]);
	rec_init(&r);
	r.take = 1;
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	assert_int_equal(write(sv[1], "0123456789", 10), 10);
	assert_true(rec_wait_len(&r, 1));
	usleep(50000);
	/* Paused: nothing more until the frontend says it has room. */
	assert_int_equal(r.len, 1);
	for (i = 2; i <= 10; i++) {
		vcon_chr_fe_input_ready(r.fe);
		assert_true(rec_wait_len(&r, (size_t)i));
	}
	assert_memory_equal(r.buf, "0123456789", 10);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	close(sv[1]);
	rec_fini(&r);
}

/*
 * Bulk input reaches the frontend in large pieces: 64 KiB waiting in a
 * socket is one read and one call, not sixteen of a page each.
 */
static void
test_bulk_input_in_large_reads(void **state)
{
	struct fx *fx = *state;
	static uint8_t data[65536];
	struct vcon_chr *chr;
	struct rec r;
	size_t i;
	int sv[2];

	for (i = 0; i < sizeof(data); i++)
		data[i] = pattern(i);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(write(sv[1], data, sizeof(data)), sizeof(data));
	chr = must_new(fx, "fd,fd=%d", sv[0]);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	assert_true(rec_wait_len(&r, sizeof(data)));
	assert_memory_equal(r.buf, data, sizeof(data));
	assert_int_equal(r.calls, 1);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	close(sv[1]);
	rec_fini(&r);
}

/* With nobody reading, drop takes everything and counts what it lost;
 * block refuses. */
static void
test_policies_drop_and_block(void **state)
{
	struct fx *fx = *state;
	static const char *const policy[] = { "drop", "block" };
	struct vcon_chr_stats st;
	struct vcon_chr *chr;
	static char chunk[1024];
	size_t total, took, n;
	struct rec r;
	int sv[2], k, i;

	for (k = 0; k < 2; k++) {
		assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
		chr = must_new(fx, "fd,fd=%d,buffer=8K,policy=%s", sv[0],
			       policy[k]);
		rec_init(&r);
		assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe),
				 0);
		total = took = 0;
		for (i = 0; i < 4096; i++) {
			n = vcon_chr_fe_write(r.fe, chunk, sizeof(chunk));
			total += sizeof(chunk);
			took += n;
			if (i % 64 == 0)
				usleep(1000);
		}
		usleep(20000);
		vcon_chr_get_stats(chr, &st);
		if (k == 0) {
			assert_int_equal(took, total);
			assert_true(st.tx_dropped > 0);
			assert_int_equal(st.tx_bytes + st.tx_dropped +
						 st.buffered,
					 total);
		} else {
			assert_true(took < total);
			assert_int_equal(st.tx_dropped, 0);
			assert_int_equal(st.tx_bytes + st.buffered, took);
		}
		assert_true(st.buffered <= 8192);
		vcon_chr_detach(r.fe);
		vcon_chr_free(chr);
		close(sv[1]);
		rec_fini(&r);
	}
}

/* No client: the newest buffer= bytes are kept and replayed. */
static void
test_backlog_keeps_newest(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_stats st;
	struct vcon_chr *chr;
	char path[128], buf[32];
	struct rec r;
	int c;

	path_in(fx, path, sizeof(path), "bl.sock");
	chr = must_new(fx, "socket,path=%s,server=on,wait=off,buffer=16",
		       path);
	rec_init(&r);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &r, &r.fe), 0);
	fe_write_all(&r, "0123456789", 10);
	fe_write_all(&r, "abcdefghij", 10);
	vcon_chr_get_stats(chr, &st);
	assert_int_equal(st.tx_dropped, 4);
	c = unix_connect(path);
	assert_int_equal(read_exact(c, buf, 16, 5000), 16);
	assert_memory_equal(buf, "456789abcdefghij", 16);
	close(c);
	vcon_chr_detach(r.fe);
	vcon_chr_free(chr);
	rec_fini(&r);
}

static void
test_mux_escapes(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr *chr;
	struct rec a, b;
	char buf[512];
	size_t n;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = must_new(fx, "fd,fd=%d,mux=on", sv[0]);
	rec_init(&a);
	rec_init(&b);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &a, &a.fe), 0);
	assert_int_equal(vcon_chr_attach(chr, &rec_ops, &b, &b.fe), 0);
	assert_int_equal(write(sv[1], "to-a", 4), 4);
	assert_true(rec_wait_len(&a, 4));
	assert_int_equal(write(sv[1], "\001c", 2), 2);
	assert_true(rec_wait_event(&b, VCON_CHR_EVENT_FOCUS, 1));
	assert_int_equal(b.last_focus, 1);
	assert_true(rec_wait_event(&a, VCON_CHR_EVENT_FOCUS, 1));
	assert_int_equal(a.last_focus, 0);
	assert_int_equal(write(sv[1], "B\001\001", 3), 3);
	assert_true(rec_wait_len(&b, 2));
	assert_memory_equal(b.buf, "B\001", 2);
	assert_int_equal(write(sv[1], "\001b", 2), 2);
	assert_true(rec_wait_event(&b, VCON_CHR_EVENT_BREAK, 1));
	assert_int_equal(a.events[VCON_CHR_EVENT_BREAK], 0);
	assert_int_equal(write(sv[1], "\001x", 2), 2);
	assert_true(rec_wait_event(&a, VCON_CHR_EVENT_QUIT, 1));
	assert_true(rec_wait_event(&b, VCON_CHR_EVENT_QUIT, 1));
	/* Output of both frontends reaches the user. */
	fe_write_all(&a, "from-a ", 7);
	fe_write_all(&b, "from-b ", 7);
	assert_int_equal(read_exact(sv[1], buf, 14, 5000), 14);
	assert_memory_equal(buf, "from-a from-b ", 14);
	assert_int_equal(write(sv[1], "\001h", 2), 2);
	n = read_exact(sv[1], buf, 60, 5000);
	assert_true(n == 60);
	buf[n] = 0;
	assert_non_null(strstr(buf, "C-a h"));
	usleep(50000);
	n = (size_t)read(sv[1], buf, sizeof(buf)); /* rest of the help */
	/* C-a t: lines are stamped. */
	assert_int_equal(write(sv[1], "\001t", 2), 2);
	usleep(50000);
	fe_write_all(&a, "line\n", 5);
	n = read_exact(sv[1], buf, 20, 5000);
	assert_int_equal(n, 20);
	assert_true(buf[0] == '[' && buf[3] == ':' && buf[9] == '.' &&
		    buf[13] == ']');
	assert_memory_equal(buf + 15, "line\n", 5);
	vcon_chr_detach(a.fe);
	vcon_chr_detach(b.fe);
	vcon_chr_free(chr);
	close(sv[1]);
	rec_fini(&a);
	rec_fini(&b);
}

/* stdio under a real pty: raw while attached, restored by SIGTERM, and
 * the terminal's file flags never touched. */
struct resize_fe {
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
};

static void
resize_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct resize_fe *r = ctx;
	struct vcon_winsize ws;
	char msg[32];
	int n;

	(void)arg;
	if (ev != VCON_CHR_EVENT_RESIZE ||
	    vcon_chr_get_winsize(r->chr, &ws) < 0)
		return;
	n = snprintf(msg, sizeof(msg), "[%ux%u]", ws.cols, ws.rows);
	(void)!vcon_chr_fe_write(r->fe, msg, (size_t)n);
}

/* The user resizes the terminal: the frontend hears of it with the size. */
static void
test_stdio_window_resize_is_an_event(void **state)
{
	struct winsize ws = { .ws_row = 24, .ws_col = 80 };
	char buf[64];
	int master, status;
	size_t n;
	pid_t pid;

	(void)state;
	pid = forkpty(&master, NULL, NULL, &ws);
	assert_true(pid >= 0);
	if (pid == 0) {
		static const struct vcon_chr_fe_ops ops = {
			.event = resize_event,
		};
		static struct resize_fe r;
		struct vcon_loop *loop;
		struct vcon_error err;

		if (vcon_loop_new(&loop) || vcon_loop_start_thread(loop) ||
		    vcon_chr_new(loop, "stdio,id=s", &r.chr, &err) ||
		    vcon_chr_attach(r.chr, &ops, &r, &r.fe))
			_exit(2);
		(void)!vcon_chr_fe_write(r.fe, "UP", 2);
		for (;;)
			pause();
	}
	assert_int_equal(read_exact(master, buf, 2, 5000), 2);
	assert_memory_equal(buf, "UP", 2);
	/* What a terminal emulator does when its window changes. */
	ws = (struct winsize){ .ws_row = 40, .ws_col = 132 };
	assert_int_equal(ioctl(master, TIOCSWINSZ, &ws), 0);
	n = read_exact(master, buf, 8, 5000);
	assert_int_equal(n, 8);
	assert_memory_equal(buf, "[132x40]", 8);
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	close(master);
}

static void
test_stdio_terminal_restored_after_sigterm(void **state)
{
	struct termios before, during, after;
	char buf[16];
	int master, status;
	pid_t pid;

	(void)state;
	pid = forkpty(&master, NULL, NULL, NULL);
	assert_true(pid >= 0);
	if (pid == 0) {
		struct vcon_loop *loop;
		struct vcon_chr *chr;
		struct vcon_chr_fe *fe;
		struct vcon_error err;
		static const struct vcon_chr_fe_ops ops = { 0 };
		int fl;

		if (vcon_loop_new(&loop) || vcon_loop_start_thread(loop) ||
		    vcon_chr_new(loop, "stdio,id=s", &chr, &err) ||
		    vcon_chr_attach(chr, &ops, NULL, &fe))
			_exit(2);
		fl = fcntl(0, F_GETFL) | fcntl(1, F_GETFL);
		(void)!vcon_chr_fe_write(fe, fl & O_NONBLOCK ? "NB" : "OK",
					 2);
		for (;;)
			pause();
	}
	assert_int_equal(read_exact(master, buf, 2, 5000), 2);
	assert_memory_equal(buf, "OK", 2);
	assert_int_equal(tcgetattr(master, &during), 0);
	assert_int_equal(during.c_lflag & (ICANON | ECHO), 0);
	assert_true(during.c_lflag & ISIG); /* signal=on by default */
	kill(pid, SIGTERM);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGTERM);
	assert_int_equal(tcgetattr(master, &after), 0);
	assert_true(after.c_lflag & ICANON);
	assert_true(after.c_lflag & ECHO);
	(void)before;
	close(master);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_specs_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_serial_shorthands, setup,
						teardown),
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
		T(test_file_output_input_and_append),
		T(test_file_enospc_is_reported_once),
		T(test_file_on_a_stuck_fifo_never_blocks),
		T(test_pty_backlog_goes_to_each_new_client),
		T(test_unix_server_one_client_at_a_time),
		T(test_unix_stale_replaced_live_refused),
		T(test_socat_as_the_peer),
		T(test_tcp_client_reconnects),
		T(test_mixed_sizes_keep_their_order),
		T(test_logfile_under_back_pressure),
		T(test_writev_batches),
		T(test_stdio_window_resize_is_an_event),
		T(test_slow_reader_gets_every_byte_bounded),
		T(test_input_waits_for_frontend_room),
		T(test_bulk_input_in_large_reads),
		T(test_policies_drop_and_block),
		T(test_backlog_keeps_newest),
		T(test_mux_escapes),
		T(test_stdio_terminal_restored_after_sigterm),
#undef T
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests_name("chr", tests, NULL, NULL);
}
