/* SPDX-License-Identifier: MIT */
/*
 * Small writes through a frontend's stage (lib/chr.c): a device writing a
 * byte or a burst at a time without the chardev lock. What a user relies
 * on: every byte arrives, in order, and promptly even when it is the last
 * one for a while; counters and detach see staged bytes as written; the
 * block policy still bounds what is held and calls tx_ready. Real sockets
 * and files, the loop on its own thread; make check also runs this file
 * under ThreadSanitizer.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <vcon/chr.h>
#include <vcon/loop.h>

#include "testutil.h"

struct fx {
	struct vcon_loop *loop;
	char dir[64];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned tx_ready;
};

static void
on_tx_ready(void *ctx)
{
	struct fx *fx = ctx;

	pthread_mutex_lock(&fx->lock);
	fx->tx_ready++;
	pthread_cond_broadcast(&fx->cond);
	pthread_mutex_unlock(&fx->lock);
}

static const struct vcon_chr_fe_ops ops = { .tx_ready = on_tx_ready };

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	strcpy(fx->dir, "/tmp/vcon-stage-XXXXXX");
	pthread_mutex_init(&fx->lock, NULL);
	pthread_cond_init(&fx->cond, NULL);
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

	vcon_loop_stop(fx->loop);
	vcon_loop_join(fx->loop);
	vcon_loop_free(fx->loop);
	rmdir(fx->dir);
	pthread_cond_destroy(&fx->cond);
	pthread_mutex_destroy(&fx->lock);
	free(fx);
	return 0;
}

#define must_new(fx, ...) chr_new_or_fail((fx)->loop, __VA_ARGS__)

/*
 * One byte, then nothing until the peer has it: each round the loop finds
 * the stage empty and hands the wake-up to the writer, so a lost hand-over
 * shows as a byte that never comes.
 */
static void
test_stage_lone_bytes_arrive_promptly(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	uint8_t b, got;
	int sv[2], i;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = must_new(fx, "fd,fd=%d", sv[0]);
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &fe), 0);
	for (i = 0; i < 3000; i++) {
		b = (uint8_t)(i * 7);
		assert_int_equal(vcon_chr_fe_write(fe, &b, 1), 1);
		if (read_exact(sv[1], &got, 1, 5000) != 1)
			fail_msg("byte %d never arrived", i);
		assert_int_equal(got, b);
	}
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
	close(sv[1]);
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
	uint8_t buf[8192];
	size_t n, i;

	while (r->got < r->want) {
		n = read_exact(r->fd, buf, sizeof(buf) < r->want - r->got
						   ? sizeof(buf)
						   : r->want - r->got,
			       5000);
		if (n == 0)
			break;
		for (i = 0; i < n; i++)
			if (buf[i] != (uint8_t)(r->got + i))
				r->bad = true;
		r->got += n;
	}
	return NULL;
}

/* All of buf; a refusal (the block policy's buffer is full) waits for
 * tx_ready, as a device does. */
static void
write_all(struct fx *fx, struct vcon_chr_fe *fe, const uint8_t *buf,
	  size_t len)
{
	size_t off, took;
	unsigned seen;

	for (off = 0; off < len; off += took) {
		pthread_mutex_lock(&fx->lock);
		seen = fx->tx_ready;
		pthread_mutex_unlock(&fx->lock);
		took = vcon_chr_fe_write(fe, buf + off, len - off);
		if (took)
			continue;
		pthread_mutex_lock(&fx->lock);
		while (fx->tx_ready == seen)
			pthread_cond_wait(&fx->cond, &fx->lock);
		pthread_mutex_unlock(&fx->lock);
	}
}

/* Write n bytes of the counting pattern in pieces of 1..17 bytes. */
static void
write_pattern(struct fx *fx, struct vcon_chr_fe *fe, size_t n)
{
	uint8_t b[17];
	size_t i = 0, k, len;

	while (i < n) {
		len = 1 + i % 17;
		if (len > n - i)
			len = n - i;
		for (k = 0; k < len; k++)
			b[k] = (uint8_t)(i + k);
		write_all(fx, fe, b, len);
		i += len;
	}
}

/* A stream of small writes against a reader: every byte, in order. */
static void
test_stage_stream_keeps_every_byte_in_order(void **state)
{
	struct fx *fx = *state;
	struct reader rd = { .want = 4u << 20 };
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	pthread_t th;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = must_new(fx, "fd,fd=%d,buffer=8K", sv[0]);
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &fe), 0);
	rd.fd = sv[1];
	pthread_create(&th, NULL, reader_main, &rd);
	write_pattern(fx, fe, rd.want);
	pthread_join(th, NULL);
	assert_int_equal(rd.got, rd.want);
	assert_false(rd.bad);
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
	close(sv[1]);
}

/* Counters see staged bytes at once, as if they had gone to the ring. */
static void
test_stage_stats_count_what_was_written(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_stats st;
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	uint8_t b = 'x';
	int i;

	chr = must_new(fx, "null");
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &fe), 0);
	for (i = 0; i < 1000; i++)
		assert_int_equal(vcon_chr_fe_write(fe, &b, 1), 1);
	vcon_chr_get_stats(chr, &st);
	assert_int_equal(st.tx_bytes, 1000);
	assert_int_equal(st.buffered, 0);
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
}

/* A device that writes and detaches at once: the file has every byte. */
static void
test_stage_detach_keeps_written_bytes(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	char path[128];
	uint8_t buf[2000];
	struct stat sb;
	int fd, i;

	snprintf(path, sizeof(path), "%s/out", fx->dir);
	chr = must_new(fx, "file,path=%s", path);
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &fe), 0);
	write_pattern(fx, fe, sizeof(buf));
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, sizeof(buf));
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(read(fd, buf, sizeof(buf)), sizeof(buf));
	close(fd);
	for (i = 0; i < (int)sizeof(buf); i++)
		assert_int_equal(buf[i], (uint8_t)i);
	unlink(path);
}

/*
 * Block policy, nobody reading: small writes are refused once buffer=
 * bytes are held, staged or in the ring; the reader then gets exactly what
 * was taken, and tx_ready lets the device go on.
 */
static void
test_stage_block_policy_is_bounded_and_lossless(void **state)
{
	struct fx *fx = *state;
	struct vcon_chr_stats st;
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	struct reader rd = { 0 };
	size_t taken = 0;
	unsigned seen;
	pthread_t th;
	uint8_t b;
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	/* A small socket buffer, so the ring fills rather than the kernel. */
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF,
				    &(int){ 4096 }, sizeof(int)), 0);
	chr = must_new(fx, "fd,fd=%d,buffer=4K,policy=block", sv[0]);
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &fe), 0);
	for (;;) {
		pthread_mutex_lock(&fx->lock);
		seen = fx->tx_ready;
		pthread_mutex_unlock(&fx->lock);
		b = (uint8_t)taken;
		if (vcon_chr_fe_write(fe, &b, 1) == 0)
			break;
		taken++;
		assert_true(taken < (4u << 20)); /* refused long before */
	}
	vcon_chr_get_stats(chr, &st);
	assert_int_equal(st.tx_dropped, 0);
	/* buffer= bounds the ring and the stage together. */
	assert_true(st.buffered > 0);
	assert_true(st.buffered <= 4096);
	assert_int_equal(taken, st.buffered + st.tx_bytes);

	rd.fd = sv[1];
	rd.want = taken;
	pthread_create(&th, NULL, reader_main, &rd);
	pthread_join(th, NULL);
	assert_int_equal(rd.got, taken);
	assert_false(rd.bad);
	/* Room again: tx_ready comes, and writing goes on. */
	pthread_mutex_lock(&fx->lock);
	while (fx->tx_ready == seen)
		pthread_cond_wait(&fx->cond, &fx->lock);
	pthread_mutex_unlock(&fx->lock);
	assert_int_equal(vcon_chr_fe_write(fe, &b, 1), 1);
	assert_int_equal(read_exact(sv[1], &b, 1, 5000), 1);
	assert_int_equal(b, (uint8_t)taken);
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
	close(sv[1]);
}

/*
 * The writer tests the loop's kick request without a fence, so a write
 * racing with that request can miss it. Such a write is made by hand
 * here: a byte staged just after the loop went idle, with no kick. The
 * loop's look a grace period later must still send it. The test drives
 * the loop itself, so that look cannot come before the write; and the
 * bytes before it leave by the ring, so that no other look is due.
 */
static void
test_stage_write_that_missed_the_kick_request_arrives(void **state)
{
	struct vcon_chr_stage *s;
	struct vcon_loop *loop;
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	uint8_t buf[1 + 1024], got[sizeof(buf)];
	int sv[2], i;

	(void)state;
	memset(buf, 'a', sizeof(buf));
	assert_int_equal(vcon_loop_new(&loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = chr_new_or_fail(loop, "fd,fd=%d", sv[0]);
	assert_int_equal(vcon_chr_attach(chr, &ops, NULL, &fe), 0);
	/* White-box: the stage is the frontend's first member (chr.h). */
	s = (struct vcon_chr_stage *)(void *)fe;
	/* A staged byte that kicks, then a large write behind it. */
	assert_int_equal(vcon_chr_fe_write(fe, buf, 1), 1);
	assert_int_equal(vcon_chr_fe_write(fe, buf + 1, 1024), 1024);
	/* The loop's flush sends them and asks for a kick. */
	for (i = 0; i < 2000 && !__atomic_load_n(&s->kick, __ATOMIC_ACQUIRE);
	     i++) {
		usleep(100);
		assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	}
	assert_true(s->kick);
	assert_int_equal(read_exact(sv[1], got, sizeof(got), 1000),
			 sizeof(got));
	/* A write whose test of kick still saw the old 0. */
	s->buf[s->head & (VCON_CHR_STAGE - 1)] = 'b';
	__atomic_store_n(&s->head, s->head + 1, __ATOMIC_RELEASE);
	got[0] = 0;
	for (i = 0; i < 2000 && read_exact(sv[1], got, 1, 0) == 0; i++) {
		usleep(500);
		assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	}
	assert_int_equal(got[0], 'b');
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
	vcon_loop_free(loop);
	close(sv[1]);
}

struct trickle {
	struct vcon_chr_fe *fe;
	bool stop;
};

static void *
trickle_main(void *arg)
{
	struct trickle *t = arg;
	uint8_t b = 0;
	int i;

	for (i = 0; i < 20000 && !__atomic_load_n(&t->stop, __ATOMIC_ACQUIRE);
	     i++) {
		if (vcon_chr_fe_write(t->fe, &b, 1) != 1)
			break; /* the reader sees the byte missing */
		b++;
		usleep(200);
	}
	return NULL;
}

/*
 * A writer that never pauses long enough to kick, and never fills its
 * stage: the loop, which leaves a busy writer's young bytes alone, still
 * sends them while the writer goes on (in well under the 16 KiB * 200 us
 * that filling the stage would take).
 */
static void
test_stage_trickle_arrives_while_it_flows(void **state)
{
	struct fx *fx = *state;
	struct trickle t = { 0 };
	struct vcon_chr *chr;
	uint8_t got[16];
	pthread_t th;
	int sv[2], i;
	size_t n;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	chr = must_new(fx, "fd,fd=%d", sv[0]);
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &t.fe), 0);
	pthread_create(&th, NULL, trickle_main, &t);
	n = read_exact(sv[1], got, sizeof(got), 1000);
	__atomic_store_n(&t.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	assert_int_equal(n, sizeof(got));
	for (i = 0; i < (int)sizeof(got); i++)
		assert_int_equal(got[i], (uint8_t)i);
	vcon_chr_detach(t.fe);
	vcon_chr_free(chr);
	close(sv[1]);
}

/*
 * One byte per call into a file: the writer sends each full stage itself,
 * and the loop writes at most once per look (a millisecond apart), not
 * once per wake-up behind the writer.
 */
static void
test_stage_bytes_leave_in_stage_sized_writes(void **state)
{
	struct fx *fx = *state;
	const size_t total = 1u << 20;
	struct vcon_chr_stats st;
	struct vcon_chr_fe *fe;
	struct vcon_chr *chr;
	uint64_t t0, ms, most;
	char path[128];
	struct stat sb;
	uint8_t b;
	size_t i;

	snprintf(path, sizeof(path), "%s/out", fx->dir);
	chr = must_new(fx, "file,path=%s", path);
	assert_int_equal(vcon_chr_attach(chr, &ops, fx, &fe), 0);
	t0 = vcon_now_ns();
	for (i = 0; i < total; i++) {
		b = (uint8_t)i;
		write_all(fx, fe, &b, 1);
	}
	for (i = 0; i < 1000; i++) {
		vcon_chr_get_stats(chr, &st);
		if (st.tx_bytes == total)
			break;
		usleep(1000);
	}
	ms = (vcon_now_ns() - t0) / 1000000;
	assert_int_equal(st.tx_bytes, total);
	/* The writer's stages, two looks per millisecond of slack (a slow
	 * writer, under a sanitizer, leaves bytes for the loop), a few for
	 * the start and the end. */
	most = total / VCON_CHR_STAGE + 2 * ms + 8;
	if (st.tx_writes > most)
		fail_msg("%" PRIu64 " writes for %zu bytes in %" PRIu64
			 " ms (at most %" PRIu64 ")",
			 st.tx_writes, total, ms, most);
	vcon_chr_detach(fe);
	vcon_chr_free(chr);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, total);
	unlink(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
			test_stage_lone_bytes_arrive_promptly, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_stream_keeps_every_byte_in_order, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_stats_count_what_was_written, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_detach_keeps_written_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_block_policy_is_bounded_and_lossless, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_write_that_missed_the_kick_request_arrives,
			setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_trickle_arrives_while_it_flows, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_stage_bytes_leave_in_stage_sized_writes, setup,
			teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
