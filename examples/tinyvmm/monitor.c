/* SPDX-License-Identifier: MIT */
/* tinyvmm's monitor frontend: see monitor.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "monitor.h"

#define LINE_MAX_LEN 512
#define PROMPT "(tinyvmm) "

struct tvm_monitor {
	struct vcon_chr_fe *fe;
	const struct tvm_monitor_ops *ops;
	void *ctx;
	char line[LINE_MAX_LEN];
	size_t len;
	bool greeted;
	bool focused;
	bool skip_lf; /* CR ended the line; a following LF is not another */
	unsigned esc; /* in an escape sequence: 1 after ESC, 2 after ESC [ */
};

/* Output to a mux goes out whoever has the focus; a full one drops. */
static void
out(struct tvm_monitor *m, const char *s, size_t n)
{
	(void)vcon_chr_fe_write(m->fe, s, n);
}

void
tvm_monitor_printf(struct tvm_monitor *m, const char *fmt, ...)
{
	char buf[1024], crlf[2100];
	size_t i, n = 0;
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	/* The terminal is raw: a newline needs its carriage return. */
	for (i = 0; buf[i] && n + 2 < sizeof(crlf); i++) {
		if (buf[i] == '\n')
			crlf[n++] = '\r';
		crlf[n++] = buf[i];
	}
	out(m, crlf, n);
}

static void
run_line(struct tvm_monitor *m)
{
	m->line[m->len] = '\0';
	out(m, "\r\n", 2);
	if (m->len)
		m->ops->command(m->ctx, m, m->line);
	m->len = 0;
	if (m->focused)
		out(m, PROMPT, strlen(PROMPT));
}

static size_t
on_receive(void *ctx, const uint8_t *buf, size_t len)
{
	struct tvm_monitor *m = ctx;
	size_t i;

	for (i = 0; i < len; i++) {
		uint8_t c = buf[i];

		/* Escape sequences (cursor keys...): ESC [ params final. */
		if (m->esc == 1) {
			m->esc = c == '[' ? 2 : 0;
			continue;
		}
		if (m->esc == 2) {
			if (c >= 0x40 && c <= 0x7e)
				m->esc = 0;
			continue;
		}
		if (c == '\n' && m->skip_lf) {
			m->skip_lf = false;
			continue;
		}
		m->skip_lf = c == '\r';
		if (c == '\r' || c == '\n') {
			run_line(m);
		} else if (c == 0x7f || c == 0x08) {
			if (m->len) {
				m->len--;
				out(m, "\b \b", 3);
			}
		} else if (c == 0x1b) {
			m->esc = 1;
		} else if (c >= 0x20 && m->len + 1 < sizeof(m->line)) {
			m->line[m->len++] = (char)c;
			out(m, (const char *)&c, 1);
		}
	}
	return len;
}

static void
on_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct tvm_monitor *m = ctx;

	if (ev != VCON_CHR_EVENT_FOCUS)
		return;
	m->focused = arg;
	if (!arg)
		return;
	if (!m->greeted) {
		m->greeted = true;
		tvm_monitor_printf(m, "tinyvmm monitor - type 'help' for "
				      "more information\n");
	}
	out(m, PROMPT, strlen(PROMPT));
	if (m->len)
		out(m, m->line, m->len);
}

static const struct vcon_chr_fe_ops monitor_ops = {
	.receive = on_receive,
	.event = on_event,
};

int
tvm_monitor_new(struct vcon_chr *chr, const struct tvm_monitor_ops *ops,
		void *ctx, struct tvm_monitor **out_m)
{
	struct tvm_monitor *m = calloc(1, sizeof(*m));
	int rc;

	if (!m)
		return -ENOMEM;
	m->ops = ops;
	m->ctx = ctx;
	rc = vcon_chr_attach(chr, &monitor_ops, m, &m->fe);
	if (rc) {
		free(m);
		return rc;
	}
	*out_m = m;
	return 0;
}

void
tvm_monitor_free(struct tvm_monitor *m)
{
	if (!m)
		return;
	vcon_chr_detach(m->fe);
	free(m);
}
