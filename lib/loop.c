/* SPDX-License-Identifier: MIT */
/*
 * The event loop: one epoll instance with an eventfd in it. The eventfd
 * carries every cross-thread request (posted calls, timer changes, stop),
 * so the epoll fd is readable whenever there is work, which is what lets a
 * VMM embed the loop by polling vcon_loop_fd(). Timers are deadlines kept
 * in a short list and turned into epoll_wait's timeout; there are few of
 * them (one per device), so a scan beats a heap.
 *
 * Locking: one mutex guards the post queue and the timer list. Callbacks
 * run with it released. vcon_loop_timer_free waits, via a condition
 * variable, for a callback of that timer that is running on the loop
 * thread, so "fn is not called after free returns" holds from any thread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <vcon/loop.h>

#include "loop_internal.h"

struct post {
	struct post *next;
	void (*fn)(void *ctx);
	void *ctx;
};

struct vcon_loop_timer {
	struct vcon_loop *loop;
	struct vcon_loop_timer *next;
	void (*fn)(void *ctx, uint64_t now_ns);
	void *ctx;
	uint64_t deadline; /* VCON_NO_DEADLINE when disarmed */
};

struct vcon_loop {
	int epfd, evfd;
	pthread_mutex_t lock;
	pthread_cond_t idle;      /* a timer callback finished */
	struct post *head, *tail; /* posted calls, in order */
	struct vcon_loop_timer *timers;
	struct vcon_loop_timer *firing;        /* timer whose fn runs now */
	struct vcon__task *tasks, *tasks_tail; /* queued tasks, in order */
	struct vcon__task *running;            /* task whose fn runs now */
	bool dispatching;                      /* fd callbacks of a batch run */
	struct epoll_event *batch;             /* that batch, for watch_stop */
	int batch_n;
	bool stop;
	bool has_thread, in_run;
	bool run_default;         /* in_run with VCON_RUN_DEFAULT */
	pthread_t thread, runner; /* own thread; who runs now */
};

static void
wake(struct vcon_loop *loop)
{
	uint64_t one = 1;

	/* EAGAIN means the counter is already non-zero: awake anyway. */
	(void)!write(loop->evfd, &one, sizeof(one));
}

static bool
on_thread_locked(const struct vcon_loop *loop)
{
	return loop->in_run && pthread_equal(loop->runner, pthread_self());
}

VCON_API int
vcon_loop_new(struct vcon_loop **out)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct vcon_loop *loop = calloc(1, sizeof(*loop));
	int rc;

	if (!loop)
		return -ENOMEM;
	loop->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (loop->epfd < 0) {
		rc = -errno;
		goto fail_epoll;
	}
	loop->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (loop->evfd < 0) {
		rc = -errno;
		goto fail_eventfd;
	}
	ev.data.ptr = NULL;
	if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, loop->evfd, &ev) < 0) {
		rc = -errno;
		goto fail_add;
	}
	pthread_mutex_init(&loop->lock, NULL);
	pthread_cond_init(&loop->idle, NULL);
	*out = loop;
	return 0;

fail_add:
	close(loop->evfd);
fail_eventfd:
	close(loop->epfd);
fail_epoll:
	free(loop);
	return rc;
}

VCON_API void
vcon_loop_free(struct vcon_loop *loop)
{
	struct post *p, *next;

	if (!loop)
		return;
	for (p = loop->head; p; p = next) {
		next = p->next;
		free(p);
	}
	close(loop->evfd);
	close(loop->epfd);
	pthread_cond_destroy(&loop->idle);
	pthread_mutex_destroy(&loop->lock);
	free(loop);
}

VCON_API int
vcon_loop_fd(const struct vcon_loop *loop)
{
	return loop->epfd;
}

static uint64_t
earliest_locked(const struct vcon_loop *loop)
{
	const struct vcon_loop_timer *t;
	uint64_t d = VCON_NO_DEADLINE;

	for (t = loop->timers; t; t = t->next)
		if (t->deadline < d)
			d = t->deadline;
	return d;
}

VCON_API int
vcon_loop_timeout_ms(struct vcon_loop *loop)
{
	uint64_t d, now;
	int ms;

	pthread_mutex_lock(&loop->lock);
	d = loop->head || loop->tasks ? 0 : earliest_locked(loop);
	pthread_mutex_unlock(&loop->lock);
	if (d == VCON_NO_DEADLINE)
		return -1;
	now = vcon_now_ns();
	if (d <= now)
		return 0;
	/* Round up: waking a little late is fine, early would spin. */
	d = (d - now + 999999) / 1000000;
	ms = d > INT_MAX ? INT_MAX : (int)d;
	return ms;
}

/* Run the timers whose deadline has passed, one at a time, unlocked. */
static void
run_timers(struct vcon_loop *loop)
{
	struct vcon_loop_timer *t;
	uint64_t now = vcon_now_ns();

	pthread_mutex_lock(&loop->lock);
	for (;;) {
		for (t = loop->timers; t; t = t->next)
			if (t->deadline <= now)
				break;
		if (!t)
			break;
		t->deadline = VCON_NO_DEADLINE; /* one-shot */
		loop->firing = t;
		pthread_mutex_unlock(&loop->lock);
		t->fn(t->ctx, now);
		pthread_mutex_lock(&loop->lock);
		loop->firing = NULL;
		pthread_cond_broadcast(&loop->idle);
	}
	pthread_mutex_unlock(&loop->lock);
}

static void
run_posts(struct vcon_loop *loop)
{
	struct post *p, *next;

	pthread_mutex_lock(&loop->lock);
	p = loop->head;
	loop->head = loop->tail = NULL;
	pthread_mutex_unlock(&loop->lock);
	for (; p; p = next) {
		next = p->next;
		p->fn(p->ctx);
		free(p);
	}
}

/*
 * Run the fd callbacks of one epoll batch. The batch is published so that
 * a callback stopping another watch can scrub that watch's pending event.
 */
static void
dispatch(struct vcon_loop *loop, struct epoll_event *evs, int n)
{
	struct vcon__watch *w;
	uint64_t count;
	int i;

	pthread_mutex_lock(&loop->lock);
	loop->dispatching = true;
	loop->batch = evs;
	loop->batch_n = n;
	pthread_mutex_unlock(&loop->lock);
	for (i = 0; i < n; i++) {
		pthread_mutex_lock(&loop->lock);
		w = evs[i].data.ptr;
		pthread_mutex_unlock(&loop->lock);
		if (w == NULL) /* the eventfd, or a watch stopped meanwhile */
			(void)!read(loop->evfd, &count, sizeof(count));
		else
			w->fn(w, evs[i].events);
	}
	pthread_mutex_lock(&loop->lock);
	loop->dispatching = false;
	loop->batch = NULL;
	loop->batch_n = 0;
	pthread_cond_broadcast(&loop->idle);
	pthread_mutex_unlock(&loop->lock);
}

static void
run_tasks(struct vcon_loop *loop)
{
	struct vcon__task *t;
	size_t n = 0;

	pthread_mutex_lock(&loop->lock);
	/* Only as many as are queued now: one that requeues itself waits. */
	for (t = loop->tasks; t; t = t->next)
		n++;
	while (n-- > 0 && (t = loop->tasks) != NULL) {
		loop->tasks = t->next;
		if (!loop->tasks)
			loop->tasks_tail = NULL;
		t->next = NULL;
		t->queued = false;
		loop->running = t;
		pthread_mutex_unlock(&loop->lock);
		t->fn(t);
		pthread_mutex_lock(&loop->lock);
		loop->running = NULL;
		pthread_cond_broadcast(&loop->idle);
	}
	pthread_mutex_unlock(&loop->lock);
}

VCON_API int
vcon_loop_run(struct vcon_loop *loop, enum vcon_run_mode mode)
{
	struct epoll_event evs[16];
	int n, timeout, rc = 0;

	pthread_mutex_lock(&loop->lock);
	loop->in_run = true;
	loop->run_default = mode == VCON_RUN_DEFAULT;
	loop->runner = pthread_self();
	pthread_mutex_unlock(&loop->lock);
	for (;;) {
		timeout = mode == VCON_RUN_NOWAIT ? 0
						  : vcon_loop_timeout_ms(loop);
		n = epoll_wait(loop->epfd, evs, 16, timeout);
		if (n < 0 && errno != EINTR) {
			rc = -errno;
			break;
		}
		if (n < 0)
			n = 0;
		dispatch(loop, evs, n);
		run_timers(loop);
		run_posts(loop);
		run_tasks(loop);
		pthread_mutex_lock(&loop->lock);
		if (loop->stop || mode != VCON_RUN_DEFAULT) {
			loop->stop = false;
			pthread_mutex_unlock(&loop->lock);
			break;
		}
		pthread_mutex_unlock(&loop->lock);
	}
	pthread_mutex_lock(&loop->lock);
	loop->in_run = false;
	pthread_mutex_unlock(&loop->lock);
	return rc;
}

VCON_API void
vcon_loop_stop(struct vcon_loop *loop)
{
	pthread_mutex_lock(&loop->lock);
	loop->stop = true;
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
}

VCON_API int
vcon_loop_post(struct vcon_loop *loop, void (*fn)(void *ctx), void *ctx)
{
	struct post *p = malloc(sizeof(*p));

	if (!p)
		return -ENOMEM;
	*p = (struct post){ .fn = fn, .ctx = ctx };
	pthread_mutex_lock(&loop->lock);
	if (loop->tail)
		loop->tail->next = p;
	else
		loop->head = p;
	loop->tail = p;
	pthread_mutex_unlock(&loop->lock);
	wake(loop);
	return 0;
}

static void *
thread_main(void *arg)
{
	(void)vcon_loop_run(arg, VCON_RUN_DEFAULT);
	return NULL;
}

VCON_API int
vcon_loop_start_thread(struct vcon_loop *loop)
{
	int rc;

	if (loop->has_thread)
		return -EBUSY;
	rc = pthread_create(&loop->thread, NULL, thread_main, loop);
	if (rc)
		return -rc;
	loop->has_thread = true;
	return 0;
}

VCON_API void
vcon_loop_join(struct vcon_loop *loop)
{
	if (!loop->has_thread)
		return;
	pthread_join(loop->thread, NULL);
	loop->has_thread = false;
}

VCON_API int
vcon_loop_timer_new(struct vcon_loop *loop,
		    void (*fn)(void *ctx, uint64_t now_ns), void *ctx,
		    struct vcon_loop_timer **out)
{
	struct vcon_loop_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return -ENOMEM;
	t->loop = loop;
	t->fn = fn;
	t->ctx = ctx;
	t->deadline = VCON_NO_DEADLINE;
	pthread_mutex_lock(&loop->lock);
	t->next = loop->timers;
	loop->timers = t;
	pthread_mutex_unlock(&loop->lock);
	*out = t;
	return 0;
}

VCON_API void
vcon_loop_timer_arm(struct vcon_loop_timer *t, uint64_t deadline_ns)
{
	struct vcon_loop *loop = t->loop;
	bool earlier;

	pthread_mutex_lock(&loop->lock);
	/* Only an earlier deadline shortens the sleep already begun; the
	 * loop's own thread computes the next sleep after its callbacks. */
	earlier =
		deadline_ns < earliest_locked(loop) && !on_thread_locked(loop);
	t->deadline = deadline_ns;
	pthread_mutex_unlock(&loop->lock);
	if (earlier)
		wake(loop);
}

static void
timer_arm_cb(void *ctx, uint64_t deadline_ns)
{
	vcon_loop_timer_arm(ctx, deadline_ns);
}

VCON_API struct vcon_timer
vcon_loop_timer_as_vcon_timer(struct vcon_loop_timer *t)
{
	return (struct vcon_timer){ .arm = timer_arm_cb, .ctx = t };
}

VCON_API void
vcon_loop_timer_free(struct vcon_loop_timer *t)
{
	struct vcon_loop *loop;
	struct vcon_loop_timer **pp;

	if (!t)
		return;
	loop = t->loop;
	pthread_mutex_lock(&loop->lock);
	for (pp = &loop->timers; *pp; pp = &(*pp)->next) {
		if (*pp == t) {
			*pp = t->next;
			break;
		}
	}
	/* Wait out a running callback, unless we are that callback. */
	while (loop->firing == t && !on_thread_locked(loop))
		pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	free(t);
}

bool
vcon__loop_on_thread(struct vcon_loop *loop)
{
	bool on;

	pthread_mutex_lock(&loop->lock);
	on = on_thread_locked(loop);
	pthread_mutex_unlock(&loop->lock);
	return on;
}

void
vcon__watch_init(struct vcon__watch *w, struct vcon_loop *loop, int fd,
		 void (*fn)(struct vcon__watch *w, uint32_t revents))
{
	*w = (struct vcon__watch){ .loop = loop, .fd = fd, .fn = fn };
}

int
vcon__watch_set(struct vcon__watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	uint32_t old;
	int op;

	if (events == w->events)
		return 0;
	if (events == 0)
		op = EPOLL_CTL_DEL;
	else if (w->events == 0)
		op = EPOLL_CTL_ADD;
	else
		op = EPOLL_CTL_MOD;
	/*
	 * Record the new set first: once added, the event may be handled on
	 * the loop thread before epoll_ctl returns here, and a handler that
	 * stops the watch must see it as set (else the fd stays in epoll).
	 */
	old = w->events;
	w->events = events;
	if (epoll_ctl(w->loop->epfd, op, w->fd, &ev) < 0) {
		w->events = old;
		return -errno;
	}
	return 0;
}

void
vcon__watch_stop(struct vcon__watch *w)
{
	struct vcon_loop *loop = w->loop;
	int i;

	if (!loop)
		return;
	(void)vcon__watch_set(w, 0);
	pthread_mutex_lock(&loop->lock);
	for (i = 0; i < loop->batch_n; i++)
		if (loop->batch[i].data.ptr == w)
			loop->batch[i].data.ptr = NULL;
	while (loop->dispatching && !on_thread_locked(loop))
		pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
	w->loop = NULL;
}

void
vcon__task_init(struct vcon__task *t, struct vcon_loop *loop,
		void (*fn)(struct vcon__task *t))
{
	*t = (struct vcon__task){ .loop = loop, .fn = fn };
}

void
vcon__task_schedule(struct vcon__task *t)
{
	struct vcon_loop *loop = t->loop;
	bool first;

	pthread_mutex_lock(&loop->lock);
	if (t->queued) {
		pthread_mutex_unlock(&loop->lock);
		return;
	}
	t->queued = true;
	t->next = NULL;
	/*
	 * A non-empty queue has already woken the loop; and a task queued
	 * from the loop's own run (a flush task coming back while bytes
	 * flow) needs no wake-up either: the run looks at the queue before
	 * it sleeps. An embedder's run (one pass) keeps vcon_loop_fd's
	 * promise, so it gets one.
	 */
	first = loop->tasks == NULL &&
		!(on_thread_locked(loop) && loop->run_default);
	if (loop->tasks_tail)
		loop->tasks_tail->next = t;
	else
		loop->tasks = t;
	loop->tasks_tail = t;
	pthread_mutex_unlock(&loop->lock);
	if (first)
		wake(loop);
}

void
vcon__task_cancel(struct vcon__task *t)
{
	struct vcon_loop *loop = t->loop;
	struct vcon__task **pp, *prev = NULL;

	if (!loop)
		return;
	pthread_mutex_lock(&loop->lock);
	if (t->queued) {
		for (pp = &loop->tasks; *pp; prev = *pp, pp = &(*pp)->next) {
			if (*pp == t) {
				*pp = t->next;
				if (loop->tasks_tail == t)
					loop->tasks_tail = prev;
				break;
			}
		}
		t->queued = false;
	}
	while (loop->running == t && !on_thread_locked(loop))
		pthread_cond_wait(&loop->idle, &loop->lock);
	pthread_mutex_unlock(&loop->lock);
}
