/* SPDX-License-Identifier: MIT */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <vcon/chr.h>

#include "testutil.h"

static void
irq_set(void *ctx, bool level)
{
	struct irq_rec *r = ctx;

	if (level == r->level) {
		r->nspurious++;
		return;
	}
	r->level = level;
	if (r->nchanges < REC_IRQ_MAX)
		r->changes[r->nchanges] = level;
	r->nchanges++;
}

struct vcon_irq
irq_rec_init(struct irq_rec *r)
{
	memset(r, 0, sizeof(*r));
	return (struct vcon_irq){ .set_level = irq_set, .ctx = r };
}

void
irq_rec_clear(struct irq_rec *r)
{
	r->nchanges = 0;
	r->nspurious = 0;
}

static size_t
sink_write(void *ctx, const uint8_t *buf, size_t len)
{
	struct sink_rec *s = ctx;
	size_t n = len;

	s->calls++;
	if (s->refuse)
		return 0;
	if (n > s->limit)
		n = s->limit;
	if (s->len + n > s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		while (cap < s->len + n)
			cap *= 2;
		s->buf = realloc(s->buf, cap);
		if (!s->buf)
			abort();
		s->cap = cap;
	}
	memcpy(s->buf + s->len, buf, n);
	s->len += n;
	return n;
}

struct vcon_sink
sink_rec_init(struct sink_rec *s)
{
	memset(s, 0, sizeof(*s));
	s->limit = SIZE_MAX;
	return (struct vcon_sink){ .write = sink_write, .ctx = s };
}

void
sink_rec_fini(struct sink_rec *s)
{
	free(s->buf);
	memset(s, 0, sizeof(*s));
}

void
sink_rec_clear(struct sink_rec *s)
{
	s->len = 0;
	s->calls = 0;
}

static void
timer_arm(void *ctx, uint64_t deadline)
{
	struct timer_rec *t = ctx;

	t->deadline = deadline;
	t->arms++;
}

struct vcon_timer
timer_rec_init(struct timer_rec *t)
{
	t->deadline = VCON_NO_DEADLINE;
	t->arms = 0;
	return (struct vcon_timer){ .arm = timer_arm, .ctx = t };
}

static bool
ram_range_ok(const struct fake_ram *r, uint64_t gpa, uint64_t len)
{
	return gpa <= r->size && len <= r->size - gpa;
}

static int
ram_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct fake_ram *r = ctx;

	if (!ram_range_ok(r, gpa, len))
		return -EFAULT;
	memcpy(buf, r->base + gpa, len);
	return 0;
}

static int
ram_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct fake_ram *r = ctx;

	if (!ram_range_ok(r, gpa, len))
		return -EFAULT;
	memcpy(r->base + gpa, buf, len);
	return 0;
}

static void *
ram_map(void *ctx, uint64_t gpa, size_t len)
{
	struct fake_ram *r = ctx;

	return ram_range_ok(r, gpa, len) ? r->base + gpa : NULL;
}

struct vcon_gmem
fake_ram_init(struct fake_ram *r, uint64_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	r->base = p == MAP_FAILED ? NULL : p;
	r->size = p == MAP_FAILED ? 0 : size;
	return (struct vcon_gmem){ .read = ram_read,
				   .write = ram_write,
				   .map = ram_map,
				   .ctx = r };
}

void
fake_ram_fini(struct fake_ram *r)
{
	if (r->base)
		munmap(r->base, r->size);
	r->base = NULL;
}

size_t
read_exact(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		if (poll(&pfd, 1, timeout_ms) <= 0)
			break;
		n = read(fd, (uint8_t *)buf + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

struct vcon_chr *
chr_new_or_fail(struct vcon_loop *loop, const char *fmt, ...)
{
	struct vcon_error err = { "" };
	struct vcon_chr *chr = NULL;
	char spec[512];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(spec, sizeof(spec), fmt, ap);
	va_end(ap);
	rc = vcon_chr_new(loop, spec, &chr, &err);
	if (rc)
		fail_msg("%s: %s (%d)", spec, err.msg, rc);
	return chr;
}
