/* SPDX-License-Identifier: MIT */
/*
 * Test recorders: the test's own interrupt line, byte sink and timer, given
 * to a device as its callbacks. They record what a guest or host would
 * observe (level transitions in order, bytes, deadlines); they are not
 * mocks of the kernel. And a few helpers the unit tests share (reading a
 * real fd, opening a chardev spec).
 */
#ifndef VCON_TESTUTIL_H
#define VCON_TESTUTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vcon/common.h>

#define REC_IRQ_MAX 4096

struct irq_rec {
	bool level;
	size_t nchanges;
	bool changes[REC_IRQ_MAX]; /* level after each change, in order */
	size_t nspurious;          /* set_level calls that changed nothing */
};

/* A sink that stores bytes; a script can limit how much each call takes. */
struct sink_rec {
	uint8_t *buf;
	size_t len, cap;
	size_t calls;
	size_t limit;   /* take at most this many per call; SIZE_MAX = all */
	bool refuse;    /* take nothing */
};

struct timer_rec {
	uint64_t deadline; /* VCON_NO_DEADLINE when disarmed */
	size_t arms;
};

struct vcon_irq irq_rec_init(struct irq_rec *r);
void irq_rec_clear(struct irq_rec *r);

struct vcon_sink sink_rec_init(struct sink_rec *s);
void sink_rec_fini(struct sink_rec *s);
void sink_rec_clear(struct sink_rec *s);

struct vcon_timer timer_rec_init(struct timer_rec *t);

/*
 * Guest RAM for device tests: size bytes from guest address 0, anonymous
 * and zeroed, behind the same bounds checks a VMM's vcon_gmem makes.
 */
struct fake_ram {
	uint8_t *base;
	uint64_t size;
};
struct vcon_gmem fake_ram_init(struct fake_ram *r, uint64_t size);
void fake_ram_fini(struct fake_ram *r);

/*
 * Read exactly len bytes from fd, or fewer when timeout_ms passes without
 * any arriving (or at EOF). Returns how many were read.
 */
size_t read_exact(int fd, void *buf, size_t len, int timeout_ms);

struct vcon_chr;
struct vcon_loop;

/*
 * A chardev from a spec built like printf, on loop; a spec that does not
 * open fails the running cmocka test with vcon_chr_new's message.
 */
struct vcon_chr *chr_new_or_fail(struct vcon_loop *loop, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* VCON_TESTUTIL_H */
