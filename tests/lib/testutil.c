/* SPDX-License-Identifier: MIT */
#include <stdlib.h>
#include <string.h>

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
