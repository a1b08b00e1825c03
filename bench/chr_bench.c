/* SPDX-License-Identifier: MIT */
/*
 * chr_bench: how fast a device writing one byte at a time gets its output
 * to the host through a chardev, next to the same bytes sent with a single
 * write(2) from a plain fd. For each backend it prints
 *   backend=file via=chr bytes=.. s=.. mb_per_s=..
 *   backend=file via=write bytes=.. s=.. mb_per_s=..
 *   backend=file chr_over_write=0.NN
 * file: a regular file, timed until every byte is written;
 * unix: a unix socket server with a client reading 64 KiB at a time;
 * pty: a pty with a reader on the slave.
 * A unix socket or pty is timed until the reader has every byte. Each
 * figure is the best of 5 runs. --smoke uses 1 MiB and one run (make
 * check); it checks every byte arrived and never judges the times.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <pty.h>
#include <termios.h>

#include <vcon/chr.h>
#include <vcon/loop.h>

static size_t total = 64u << 20;
static int runs = 5;

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
die(const char *what)
{
	fprintf(stderr, "chr_bench: %s\n", what);
	exit(1);
}

/* The device side: one byte per call, waiting for tx_ready if refused. */
struct dev {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned ready;
	struct vcon_chr_fe *fe;
};

static void
dev_tx_ready(void *ctx)
{
	struct dev *d = ctx;

	pthread_mutex_lock(&d->lock);
	d->ready++;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static const struct vcon_chr_fe_ops dev_ops = { .tx_ready = dev_tx_ready };

static void
dev_write_bytes(struct dev *d, size_t n)
{
	unsigned seen;
	uint8_t b;
	size_t i;

	for (i = 0; i < n; i++) {
		b = (uint8_t)i;
		for (;;) {
			seen = __atomic_load_n(&d->ready, __ATOMIC_ACQUIRE);
			if (vcon_chr_fe_write(d->fe, &b, 1) == 1)
				break;
			pthread_mutex_lock(&d->lock);
			while (d->ready == seen)
				pthread_cond_wait(&d->cond, &d->lock);
			pthread_mutex_unlock(&d->lock);
		}
	}
}

struct reader {
	int fd;
	size_t want, got;
	bool bad;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;
	static __thread uint8_t buf[65536];
	ssize_t n, i;

	while (r->got < r->want) {
		n = read(r->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		for (i = 0; i < n; i++)
			if (buf[i] != (uint8_t)(r->got + (size_t)i))
				r->bad = true;
		r->got += (size_t)n;
	}
	return NULL;
}

static void
report(const char *backend, double chr_s, double raw_s)
{
	double mb = (double)total / (1 << 20);

	printf("backend=%s via=chr bytes=%zu s=%.4f mb_per_s=%.1f\n", backend,
	       total, chr_s, mb / chr_s);
	printf("backend=%s via=write bytes=%zu s=%.4f mb_per_s=%.1f\n",
	       backend, total, raw_s, mb / raw_s);
	printf("backend=%s chr_over_write=%.2f\n", backend, raw_s / chr_s);
}

static uint8_t *
pattern_buf(void)
{
	uint8_t *buf = malloc(total);
	size_t i;

	if (!buf)
		die("out of memory");
	for (i = 0; i < total; i++)
		buf[i] = (uint8_t)i;
	return buf;
}

static void
bench_file(struct vcon_loop *loop, const char *dir)
{
	char path[256], spec[300];
	struct vcon_chr_stats st;
	double best_chr = 1e9, best_raw = 1e9, t;
	struct vcon_error err;
	struct vcon_chr *chr;
	struct dev d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 0, NULL };
	uint8_t *buf = pattern_buf();
	struct stat sb;
	int r, fd;

	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(spec, sizeof(spec), "file,path=%s", path);
	for (r = 0; r < runs; r++) {
		if (vcon_chr_new(loop, spec, &chr, &err) ||
		    vcon_chr_attach(chr, &dev_ops, &d, &d.fe))
			die(err.msg);
		t = now_s();
		dev_write_bytes(&d, total);
		do
			vcon_chr_get_stats(chr, &st);
		while (st.tx_bytes < total);
		t = now_s() - t;
		best_chr = t < best_chr ? t : best_chr;
		vcon_chr_detach(d.fe);
		vcon_chr_free(chr);
		if (stat(path, &sb) || (size_t)sb.st_size != total)
			die("file: wrong size");

		fd = open(path, O_WRONLY | O_TRUNC);
		t = now_s();
		if (fd < 0 || write(fd, buf, total) != (ssize_t)total)
			die("file: raw write failed");
		t = now_s() - t;
		close(fd);
		best_raw = t < best_raw ? t : best_raw;
	}
	unlink(path);
	free(buf);
	report("file", best_chr, best_raw);
}

static int
unix_connect(const char *path)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (strlen(path) >= sizeof(sun.sun_path))
		die("unix: path too long");
	memcpy(sun.sun_path, path, strlen(path) + 1);
	if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die("unix: connect failed");
	return fd;
}

/* Time n bytes via the chardev into a reader on rfd. */
static double
run_chr_reader(struct dev *d, int rfd)
{
	struct reader rd = { rfd, total, 0, false };
	pthread_t th;
	double t;

	pthread_create(&th, NULL, reader_main, &rd);
	t = now_s();
	dev_write_bytes(d, total);
	pthread_join(th, NULL);
	t = now_s() - t;
	if (rd.got != total || rd.bad)
		die("bytes lost or corrupted");
	return t;
}

static double
run_raw_reader(int wfd, int rfd, const uint8_t *buf)
{
	struct reader rd = { rfd, total, 0, false };
	size_t off = 0;
	pthread_t th;
	ssize_t n;
	double t;

	pthread_create(&th, NULL, reader_main, &rd);
	t = now_s();
	while (off < total) {
		n = write(wfd, buf + off, total - off);
		if (n <= 0)
			die("raw write failed");
		off += (size_t)n;
	}
	pthread_join(th, NULL);
	t = now_s() - t;
	if (rd.got != total || rd.bad)
		die("raw bytes lost");
	return t;
}

static void
bench_unix(struct vcon_loop *loop, const char *dir)
{
	char path[256], spec[300];
	double best_chr = 1e9, best_raw = 1e9, t;
	struct dev d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 0, NULL };
	struct vcon_error err;
	struct vcon_chr *chr;
	uint8_t *buf = pattern_buf();
	int r, c, sv[2];

	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(spec, sizeof(spec), "socket,path=%s,server=on,wait=off",
		 path);
	for (r = 0; r < runs; r++) {
		if (vcon_chr_new(loop, spec, &chr, &err) ||
		    vcon_chr_attach(chr, &dev_ops, &d, &d.fe))
			die(err.msg);
		c = unix_connect(path);
		while (!vcon_chr_is_connected(chr))
			usleep(100);
		t = run_chr_reader(&d, c);
		best_chr = t < best_chr ? t : best_chr;
		close(c);
		vcon_chr_detach(d.fe);
		vcon_chr_free(chr);

		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair");
		t = run_raw_reader(sv[0], sv[1], buf);
		best_raw = t < best_raw ? t : best_raw;
		close(sv[0]);
		close(sv[1]);
	}
	free(buf);
	report("unix", best_chr, best_raw);
}

static void
bench_pty(struct vcon_loop *loop)
{
	double best_chr = 1e9, best_raw = 1e9, t;
	struct dev d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 0, NULL };
	struct vcon_error err;
	struct vcon_chr *chr;
	struct termios tio;
	uint8_t *buf = pattern_buf();
	int r, s, m;

	for (r = 0; r < runs; r++) {
		if (vcon_chr_new(loop, "pty", &chr, &err) ||
		    vcon_chr_attach(chr, &dev_ops, &d, &d.fe))
			die(err.msg);
		s = open(vcon_chr_pty_name(chr), O_RDWR | O_NOCTTY);
		if (s < 0)
			die("pty: cannot open the slave");
		while (!vcon_chr_is_connected(chr))
			usleep(100);
		t = run_chr_reader(&d, s);
		best_chr = t < best_chr ? t : best_chr;
		close(s);
		vcon_chr_detach(d.fe);
		vcon_chr_free(chr);

		if (openpty(&m, &s, NULL, NULL, NULL))
			die("openpty");
		tcgetattr(s, &tio);
		cfmakeraw(&tio);
		tcsetattr(s, TCSANOW, &tio);
		t = run_raw_reader(m, s, buf);
		best_raw = t < best_raw ? t : best_raw;
		close(m);
		close(s);
	}
	free(buf);
	report("pty", best_chr, best_raw);
}

int
main(int argc, char **argv)
{
	char dir[] = "/tmp/chr-bench-XXXXXX";
	struct vcon_loop *loop;

	if (argc > 1 && !strcmp(argv[1], "--smoke")) {
		total = 1u << 20;
		runs = 1;
	}
	if (!mkdtemp(dir))
		die("mkdtemp");
	if (vcon_loop_new(&loop) || vcon_loop_start_thread(loop))
		die("loop");
	bench_file(loop, dir);
	bench_unix(loop, dir);
	bench_pty(loop);
	vcon_loop_stop(loop);
	vcon_loop_join(loop);
	vcon_loop_free(loop);
	rmdir(dir);
	return 0;
}
