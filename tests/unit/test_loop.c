/* SPDX-License-Identifier: MIT */
/* The event loop with real threads, a real epoll fd and the real clock. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <vcon/loop.h>

#define MS 1000000ull

struct seq {
	int got[200];
	atomic_int n;
};

static void
record(void *ctx)
{
	struct seq *s = ctx;
	int i = atomic_load(&s->n);

	s->got[i] = i;
	atomic_store(&s->n, i + 1);
}

static void *
poster(void *arg)
{
	struct vcon_loop *loop = arg;
	static struct seq s;
	int i;

	for (i = 0; i < 200; i++)
		if (vcon_loop_post(loop, record, &s))
			return NULL;
	return &s;
}

static void
test_loop_posts_run_in_order_on_the_loop_thread(void **state)
{
	struct vcon_loop *loop;
	pthread_t th;
	struct seq *s;
	int i, spins = 0;

	(void)state;
	assert_int_equal(vcon_loop_new(&loop), 0);
	assert_int_equal(vcon_loop_start_thread(loop), 0);
	assert_int_equal(vcon_loop_start_thread(loop), -EBUSY);
	pthread_create(&th, NULL, poster, loop);
	pthread_join(th, (void **)&s);
	assert_non_null(s);
	while (atomic_load(&s->n) < 200 && spins++ < 2000)
		usleep(1000);
	assert_int_equal(atomic_load(&s->n), 200);
	for (i = 0; i < 200; i++)
		assert_int_equal(s->got[i], i);
	vcon_loop_stop(loop);
	vcon_loop_join(loop);
	vcon_loop_free(loop);
}

struct fired {
	atomic_int count;
	uint64_t at;
	atomic_int started, finished;
	int sleep_ms;
};

static void
on_timer(void *ctx, uint64_t now_ns)
{
	struct fired *f = ctx;

	f->at = now_ns;
	atomic_store(&f->started, 1);
	if (f->sleep_ms)
		usleep((useconds_t)f->sleep_ms * 1000);
	atomic_fetch_add(&f->count, 1);
	atomic_store(&f->finished, 1);
}

static void
test_loop_timer_fires_once_not_before_deadline(void **state)
{
	struct vcon_loop *loop;
	struct vcon_loop_timer *t;
	struct fired f = { 0 };
	uint64_t deadline;
	int i;

	(void)state;
	assert_int_equal(vcon_loop_new(&loop), 0);
	assert_int_equal(vcon_loop_timer_new(loop, on_timer, &f, &t), 0);
	deadline = vcon_now_ns() + 20 * MS;
	vcon_loop_timer_arm(t, deadline);
	for (i = 0; i < 100 && !atomic_load(&f.count); i++)
		assert_int_equal(vcon_loop_run(loop, VCON_RUN_ONCE), 0);
	assert_int_equal(atomic_load(&f.count), 1);
	assert_true(f.at >= deadline);
	/* One-shot: nothing more without a new arm. */
	usleep(30000);
	assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	assert_int_equal(atomic_load(&f.count), 1);
	vcon_loop_timer_free(t);
	vcon_loop_free(loop);
}

static void
test_loop_timer_disarm_and_vcon_timer_adapter(void **state)
{
	struct vcon_loop *loop;
	struct vcon_loop_timer *t;
	struct vcon_timer vt;
	struct fired f = { 0 };

	(void)state;
	assert_int_equal(vcon_loop_new(&loop), 0);
	assert_int_equal(vcon_loop_timer_new(loop, on_timer, &f, &t), 0);
	vt = vcon_loop_timer_as_vcon_timer(t);
	vt.arm(vt.ctx, vcon_now_ns() + 5 * MS);
	vt.arm(vt.ctx, VCON_NO_DEADLINE);
	usleep(20000);
	assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	assert_int_equal(atomic_load(&f.count), 0);
	vt.arm(vt.ctx, vcon_now_ns());
	assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	assert_int_equal(atomic_load(&f.count), 1);
	vcon_loop_timer_free(t);
	vcon_loop_free(loop);
}

static void *
post_later(void *arg)
{
	static struct seq s;

	usleep(20000);
	return vcon_loop_post(arg, record, &s) ? NULL : &s;
}

static void
test_loop_embeds_through_its_fd(void **state)
{
	struct vcon_loop *loop;
	struct vcon_loop_timer *t;
	struct fired f = { 0 };
	struct pollfd pfd;
	pthread_t th;
	struct seq *s;
	int ms;

	(void)state;
	assert_int_equal(vcon_loop_new(&loop), 0);
	pfd = (struct pollfd){ .fd = vcon_loop_fd(loop), .events = POLLIN };
	assert_int_equal(vcon_loop_timeout_ms(loop), -1);
	assert_int_equal(poll(&pfd, 1, 0), 0); /* no work, not readable */
	pthread_create(&th, NULL, post_later, loop);
	assert_int_equal(poll(&pfd, 1, 5000), 1); /* another thread posted */
	pthread_join(th, (void **)&s);
	assert_non_null(s);
	assert_int_equal(vcon_loop_timeout_ms(loop), 0); /* work pending */
	assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	assert_int_equal(atomic_load(&s->n), 1);
	assert_int_equal(vcon_loop_timer_new(loop, on_timer, &f, &t), 0);
	vcon_loop_timer_arm(t, vcon_now_ns() + 500 * MS);
	assert_int_equal(vcon_loop_run(loop, VCON_RUN_NOWAIT), 0);
	ms = vcon_loop_timeout_ms(loop);
	assert_true(ms > 0 && ms <= 500);
	vcon_loop_timer_free(t);
	assert_int_equal(vcon_loop_timeout_ms(loop), -1);
	vcon_loop_free(loop);
}

static void
test_loop_timer_free_waits_for_running_callback(void **state)
{
	struct vcon_loop *loop;
	struct vcon_loop_timer *t;
	struct fired f = { .sleep_ms = 100 };
	int spins = 0;

	(void)state;
	assert_int_equal(vcon_loop_new(&loop), 0);
	assert_int_equal(vcon_loop_timer_new(loop, on_timer, &f, &t), 0);
	assert_int_equal(vcon_loop_start_thread(loop), 0);
	vcon_loop_timer_arm(t, vcon_now_ns());
	while (!atomic_load(&f.started) && spins++ < 5000)
		usleep(1000);
	assert_true(atomic_load(&f.started));
	vcon_loop_timer_free(t);
	/* free returned: the callback must be over. */
	assert_true(atomic_load(&f.finished));
	vcon_loop_stop(loop);
	vcon_loop_join(loop);
	vcon_loop_free(loop);
}

struct chain {
	struct vcon_loop_timer *t;
	atomic_int count;
};

static void
on_chain(void *ctx, uint64_t now_ns)
{
	struct chain *c = ctx;

	if (atomic_fetch_add(&c->count, 1) + 1 < 10)
		vcon_loop_timer_arm(c->t, now_ns + 3 * MS);
}

/*
 * A timer armed again from its own callback, on the loop's thread, with
 * nothing else to wake the loop: the loop's next sleep must end at the
 * new deadline (the chardev stages' look timer works this way).
 */
static void
test_loop_timer_rearmed_from_its_callback_fires_again(void **state)
{
	struct vcon_loop *loop;
	struct chain c = { 0 };
	int spins = 0;

	(void)state;
	assert_int_equal(vcon_loop_new(&loop), 0);
	assert_int_equal(vcon_loop_timer_new(loop, on_chain, &c, &c.t), 0);
	assert_int_equal(vcon_loop_start_thread(loop), 0);
	vcon_loop_timer_arm(c.t, vcon_now_ns());
	while (atomic_load(&c.count) < 10 && spins++ < 2000)
		usleep(1000);
	assert_int_equal(atomic_load(&c.count), 10);
	vcon_loop_timer_free(c.t);
	vcon_loop_stop(loop);
	vcon_loop_join(loop);
	vcon_loop_free(loop);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loop_posts_run_in_order_on_the_loop_thread),
		cmocka_unit_test(test_loop_timer_fires_once_not_before_deadline),
		cmocka_unit_test(test_loop_timer_disarm_and_vcon_timer_adapter),
		cmocka_unit_test(test_loop_embeds_through_its_fd),
		cmocka_unit_test(test_loop_timer_free_waits_for_running_callback),
		cmocka_unit_test(
			test_loop_timer_rearmed_from_its_callback_fires_again),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
