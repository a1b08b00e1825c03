/* SPDX-License-Identifier: MIT */
/*
 * What the loop offers the library's own backends and nothing else: fd
 * watches and intrusive tasks. A task is a posted call that needs no
 * allocation and is queued at most once, so a vCPU thread can ask the loop
 * to flush a backend per byte written without a malloc or a second wakeup.
 */
#ifndef VCON_LOOP_INTERNAL_H
#define VCON_LOOP_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/loop.h>

struct vcon__watch {
	struct vcon_loop *loop;
	int fd;
	uint32_t events; /* what epoll holds now; 0 when not registered */
	void (*fn)(struct vcon__watch *w, uint32_t revents);
};

struct vcon__task {
	struct vcon_loop *loop;
	struct vcon__task *next;
	bool queued;
	void (*fn)(struct vcon__task *t);
};

/* Prepare w; it is not registered until vcon__watch_set asks for events. */
void vcon__watch_init(struct vcon__watch *w, struct vcon_loop *loop, int fd,
		      void (*fn)(struct vcon__watch *w, uint32_t revents));

/*
 * Ask for events (EPOLLIN, EPOLLOUT); 0 takes the fd off epoll entirely,
 * the only way to stop EPOLLHUP from a hung-up fd being reported forever.
 * Returns 0, or -EPERM for fds epoll cannot watch (regular files,
 * /dev/null): the caller treats those as always ready.
 * Context: the loop thread, or any thread before the loop sees w.
 */
int vcon__watch_set(struct vcon__watch *w, uint32_t events);

/*
 * Take w off the loop for good: no callback for it runs after this
 * returns, including events already fetched in the current batch.
 * Context: any thread.
 */
void vcon__watch_stop(struct vcon__watch *w);

void vcon__task_init(struct vcon__task *t, struct vcon_loop *loop,
		     void (*fn)(struct vcon__task *t));

/* Queue t to run on the loop thread; does nothing if it is queued. */
void vcon__task_schedule(struct vcon__task *t);

/* Dequeue t and wait out a run of it on another thread. */
void vcon__task_cancel(struct vcon__task *t);

/* Whether the calling thread is running loop's callbacks now. */
bool vcon__loop_on_thread(struct vcon_loop *loop);

#endif /* VCON_LOOP_INTERNAL_H */
