/* SPDX-License-Identifier: MIT */
/*
 * chr_bench: how fast a device writing one byte at a time gets its output
 * to the host through a chardev, next to the same bytes sent with a single
 * write(2) from a plain fd. For each backend it prints
 *   backend=file via=chr bytes=.. s=.. mb_per_s=..     1 byte per call
 *   backend=file via=chr16 bytes=.. s=.. mb_per_s=..   16 (a UART burst)
 *   backend=file via=floor bytes=.. s=.. mb_per_s=..   see chr_floor.h
 *   backend=file via=write bytes=.. s=.. mb_per_s=..
 *   backend=file chr_over_write=0.NN chr16_over_write=0.NN
 *     floor_over_write=0.NN
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

#include "chr_floor.h"

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
	struct vcon_chr_fe *fe;
	size_t chunk; /* bytes per vcon_chr_fe_write call */
};

static void
dev_tx_ready(void *ctx)
{
	struct dev *d = ctx;

	pthread_mutex_lock(&d->lock);
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static const struct vcon_chr_fe_ops dev_ops = { .tx_ready = dev_tx_ready };

/*
 * The rest of a write the chardev did not take at once: retried under the
 * device's lock, which tx_ready takes too, so that a tx_ready between the
 * refusal and the wait is not missed (the lock order is device, then
 * chardev).
 */
static __attribute__((noinline)) void
dev_put_slow(struct dev *d, const uint8_t *buf, size_t len)
{
	size_t took;

	pthread_mutex_lock(&d->lock);
	while (len) {
		took = vcon_chr_fe_write(d->fe, buf, len);
		buf += took;
		len -= took;
		if (len && !took)
			pthread_cond_wait(&d->cond, &d->lock);
	}
	pthread_mutex_unlock(&d->lock);
}

/* All of buf, waiting for tx_ready whenever the chardev takes nothing. */
static inline void
dev_put(struct dev *d, const uint8_t *buf, size_t len)
{
	size_t took = vcon_chr_fe_write(d->fe, buf, len);

	if (took < len)
		dev_put_slow(d, buf + took, len - took);
}

static void
dev_write_bytes(struct dev *d, size_t n)
{
	struct vcon_chr_fe *fe = d->fe;
	uint8_t b[16];
	size_t i, k, len;

	if (d->chunk == 1) {
		for (i = 0; i < n; i++) {
			b[0] = (uint8_t)i;
			if (vcon_chr_fe_write(fe, b, 1) != 1)
				dev_put_slow(d, b, 1);
		}
		return;
	}
	for (i = 0; i < n; i += len) {
		len = n - i < d->chunk ? n - i : d->chunk;
		for (k = 0; k < len; k++)
			b[k] = (uint8_t)(i + k);
		dev_put(d, b, len);
	}
}

/* The same bytes, one per call, through the floor writer into fd. */
static void
floor_write_bytes(int fd, size_t n)
{
	static struct floor_buf f;
	uint8_t b;
	size_t i;

	f.fd = fd;
	f.failed = 0;
	f.len = 0;
	for (i = 0; i < n; i++) {
		b = (uint8_t)i;
		floor_put(&f, &b, 1);
	}
	floor_flush(&f);
	if (f.failed)
		die("floor: write failed");
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
	uint8_t diff = 0, first;
	size_t i;
	ssize_t n;

	/* The check is a loop the compiler vectorizes: the peer's own
	 * cost should not be what a run on two cores measures. */
	while (r->got < r->want) {
		n = read(r->fd, buf, sizeof(buf));
		if (n <= 0)
			break;
		first = (uint8_t)r->got;
		for (i = 0; i < (size_t)n; i++)
			diff |= (uint8_t)(buf[i] ^ (uint8_t)(first + i));
		r->got += (size_t)n;
	}
	r->bad = diff != 0;
	return NULL;
}

/* Best times of one backend: chardev at 1 and 16 bytes per call, floor,
 * one write(2). */
struct best {
	double chr[2], floor, raw;
};

static void
best_init(struct best *b)
{
	b->chr[0] = b->chr[1] = b->floor = b->raw = 1e9;
}

static void
keep_best(double *best, double t)
{
	if (t < *best)
		*best = t;
}

static const size_t chunks[2] = { 1, 16 };

static void
report(const char *backend, const struct best *b)
{
	double mb = (double)total / (1 << 20);

	printf("backend=%s via=chr bytes=%zu s=%.4f mb_per_s=%.1f\n", backend,
	       total, b->chr[0], mb / b->chr[0]);
	printf("backend=%s via=chr16 bytes=%zu s=%.4f mb_per_s=%.1f\n",
	       backend, total, b->chr[1], mb / b->chr[1]);
	printf("backend=%s via=floor bytes=%zu s=%.4f mb_per_s=%.1f\n",
	       backend, total, b->floor, mb / b->floor);
	printf("backend=%s via=write bytes=%zu s=%.4f mb_per_s=%.1f\n",
	       backend, total, b->raw, mb / b->raw);
	printf("backend=%s chr_over_write=%.2f chr16_over_write=%.2f "
	       "floor_over_write=%.2f\n",
	       backend, b->raw / b->chr[0], b->raw / b->chr[1],
	       b->raw / b->floor);
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
	struct vcon_error err;
	struct vcon_chr *chr;
	struct dev d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 NULL, 1 };
	uint8_t *buf = pattern_buf();
	struct best b;
	struct stat sb;
	double t;
	int r, c, fd;

	best_init(&b);
	snprintf(path, sizeof(path), "%s/out", dir);
	snprintf(spec, sizeof(spec), "file,path=%s", path);
	for (r = 0; r < runs; r++) {
		for (c = 0; c < 2; c++) {
			d.chunk = chunks[c];
			if (vcon_chr_new(loop, spec, &chr, &err) ||
			    vcon_chr_attach(chr, &dev_ops, &d, &d.fe))
				die(err.msg);
			t = now_s();
			dev_write_bytes(&d, total);
			do
				vcon_chr_get_stats(chr, &st);
			while (st.tx_bytes < total);
			keep_best(&b.chr[c], now_s() - t);
			vcon_chr_detach(d.fe);
			vcon_chr_free(chr);
			if (stat(path, &sb) || (size_t)sb.st_size != total)
				die("file: wrong size");
		}

		fd = open(path, O_WRONLY | O_TRUNC);
		if (fd < 0)
			die("file: cannot open");
		t = now_s();
		floor_write_bytes(fd, total);
		keep_best(&b.floor, now_s() - t);
		close(fd);

		fd = open(path, O_WRONLY | O_TRUNC);
		t = now_s();
		if (fd < 0 || write(fd, buf, total) != (ssize_t)total)
			die("file: raw write failed");
		keep_best(&b.raw, now_s() - t);
		close(fd);
	}
	unlink(path);
	free(buf);
	report("file", &b);
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

/*
 * Time the bytes written into wfd, for a reader on rfd: with one write(2)
 * from buf, or with buf NULL through the floor writer.
 */
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
	if (!buf)
		floor_write_bytes(wfd, total);
	while (buf && off < total) {
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
	struct dev d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 NULL, 1 };
	struct vcon_error err;
	struct vcon_chr *chr;
	uint8_t *buf = pattern_buf();
	struct best b;
	int r, c, k, sv[2];

	best_init(&b);
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(spec, sizeof(spec), "socket,path=%s,server=on,wait=off",
		 path);
	for (r = 0; r < runs; r++) {
		for (c = 0; c < 2; c++) {
			d.chunk = chunks[c];
			if (vcon_chr_new(loop, spec, &chr, &err) ||
			    vcon_chr_attach(chr, &dev_ops, &d, &d.fe))
				die(err.msg);
			k = unix_connect(path);
			while (!vcon_chr_is_connected(chr))
				usleep(100);
			keep_best(&b.chr[c], run_chr_reader(&d, k));
			close(k);
			vcon_chr_detach(d.fe);
			vcon_chr_free(chr);
		}
		for (c = 0; c < 2; c++) {
			if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
				die("socketpair");
			keep_best(c ? &b.raw : &b.floor,
				  run_raw_reader(sv[0], sv[1], c ? buf : NULL));
			close(sv[0]);
			close(sv[1]);
		}
	}
	free(buf);
	report("unix", &b);
}

static void
bench_pty(struct vcon_loop *loop)
{
	struct dev d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
			 NULL, 1 };
	struct vcon_error err;
	struct vcon_chr *chr;
	struct termios tio;
	uint8_t *buf = pattern_buf();
	struct best b;
	int r, c, s, m;

	best_init(&b);
	for (r = 0; r < runs; r++) {
		for (c = 0; c < 2; c++) {
			d.chunk = chunks[c];
			if (vcon_chr_new(loop, "pty", &chr, &err) ||
			    vcon_chr_attach(chr, &dev_ops, &d, &d.fe))
				die(err.msg);
			s = open(vcon_chr_pty_name(chr), O_RDWR | O_NOCTTY);
			if (s < 0)
				die("pty: cannot open the slave");
			while (!vcon_chr_is_connected(chr))
				usleep(100);
			keep_best(&b.chr[c], run_chr_reader(&d, s));
			close(s);
			vcon_chr_detach(d.fe);
			vcon_chr_free(chr);
		}
		for (c = 0; c < 2; c++) {
			if (openpty(&m, &s, NULL, NULL, NULL))
				die("openpty");
			tcgetattr(s, &tio);
			cfmakeraw(&tio);
			tcsetattr(s, TCSANOW, &tio);
			keep_best(c ? &b.raw : &b.floor,
				  run_raw_reader(m, s, c ? buf : NULL));
			close(m);
			close(s);
		}
	}
	free(buf);
	report("pty", &b);
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
