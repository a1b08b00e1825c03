/* SPDX-License-Identifier: MIT */
/*
 * The event loop that drives chardev backends and device timers: one epoll
 * instance. It runs on its own thread (vcon_loop_start_thread) or inside
 * the VMM's own loop: vcon_loop_fd() becomes readable when work is pending,
 * vcon_loop_timeout_ms() gives the next deadline, and
 * vcon_loop_run(loop, VCON_RUN_NOWAIT) does the work.
 */
#ifndef VCON_LOOP_H
#define VCON_LOOP_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/common.h>

#ifdef __cplusplus
extern "C" {
#endif

enum vcon_run_mode {
	VCON_RUN_DEFAULT, /* until vcon_loop_stop */
	VCON_RUN_ONCE,    /* wait for an event, then handle what is ready */
	VCON_RUN_NOWAIT,  /* handle what is ready, never block */
};

struct vcon_loop;
struct vcon_loop_timer;

/*
 * vcon_loop_new - create a loop.
 *
 * Returns: 0 or a negative errno (-ENOMEM, -EMFILE...).
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_loop_new(struct vcon_loop **out);

/*
 * vcon_loop_free - release a loop. NULL is a no-op.
 *
 * Precondition: the loop is not running, and every chardev and timer made
 * on it has been freed.
 * Context: any thread but the loop's own.
 */
VCON_API void
vcon_loop_free(struct vcon_loop *loop);

/*
 * vcon_loop_run - run the loop in the given mode.
 *
 * Returns: 0 when stopped (or, for ONCE/NOWAIT, when done), or a negative
 * errno from epoll_wait.
 * Context: one thread at a time; that thread is "the loop thread".
 */
VCON_API int
vcon_loop_run(struct vcon_loop *loop, enum vcon_run_mode mode);

/*
 * vcon_loop_stop - make vcon_loop_run(VCON_RUN_DEFAULT) return soon.
 *
 * Context: any thread.
 */
VCON_API void
vcon_loop_stop(struct vcon_loop *loop);

/*
 * vcon_loop_fd - a file descriptor that is readable when the loop has work,
 * for embedding in another poll/epoll loop. Borrowed.
 *
 * Context: any thread.
 */
VCON_API int
vcon_loop_fd(const struct vcon_loop *loop);

/*
 * vcon_loop_timeout_ms - how long the embedding loop may sleep before the
 * next timer is due: -1 for no timer, 0 if one is due now.
 *
 * Context: any thread.
 */
VCON_API int
vcon_loop_timeout_ms(struct vcon_loop *loop);

/*
 * vcon_loop_post - run fn(ctx) on the loop thread soon. Calls are run in
 * the order posted.
 *
 * Returns: 0, or -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_loop_post(struct vcon_loop *loop, void (*fn)(void *ctx), void *ctx);

/*
 * vcon_loop_start_thread - run the loop on a new thread until
 * vcon_loop_stop; vcon_loop_join waits for it.
 *
 * Returns: 0 or a negative errno from pthread_create.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_loop_start_thread(struct vcon_loop *loop);

/*
 * vcon_loop_join - wait for the thread vcon_loop_start_thread made to
 * return (after vcon_loop_stop). Does nothing if there is none.
 *
 * Context: any thread but the loop's own.
 */
VCON_API void
vcon_loop_join(struct vcon_loop *loop);

/*
 * vcon_loop_timer_new - a one-shot timer that calls fn(ctx, now_ns) on the
 * loop thread when its deadline passes.
 *
 * Returns: 0 or -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_loop_timer_new(struct vcon_loop *loop,
		    void (*fn)(void *ctx, uint64_t now_ns), void *ctx,
		    struct vcon_loop_timer **out);

/*
 * vcon_loop_timer_arm - set the deadline (CLOCK_MONOTONIC ns, see
 * vcon_now_ns), replacing any earlier one; VCON_NO_DEADLINE disarms.
 *
 * Context: any thread.
 */
VCON_API void
vcon_loop_timer_arm(struct vcon_loop_timer *t, uint64_t deadline_ns);

/*
 * vcon_loop_timer_as_vcon_timer - the timer as a device's struct
 * vcon_timer callback.
 *
 * Context: any thread.
 */
VCON_API struct vcon_timer
vcon_loop_timer_as_vcon_timer(struct vcon_loop_timer *t);

/*
 * vcon_loop_timer_free - disarm and release. NULL is a no-op. fn is not
 * called after this returns.
 *
 * Context: any thread.
 */
VCON_API void
vcon_loop_timer_free(struct vcon_loop_timer *t);

#ifdef __cplusplus
}
#endif

#endif /* VCON_LOOP_H */
