/* SPDX-License-Identifier: MIT */
/*
 * The cheapest buffered writer a device could call out of line: one byte
 * per call into a 64 KiB buffer, written out with write(2) when full, no
 * thread, no lock, no policy. Compiled apart from chr_bench.c so the calls
 * stay calls; chr_bench times the same one-byte-per-call device against
 * it, for what the call boundary alone costs next to one big write(2).
 */
#include <unistd.h>

#include "chr_floor.h"

static void
floor_drain(struct floor_buf *f)
{
	size_t off = 0;
	ssize_t n;

	while (off < f->len) {
		n = write(f->fd, f->buf + off, f->len - off);
		if (n <= 0) {
			f->failed = 1;
			break;
		}
		off += (size_t)n;
	}
	f->len = 0;
}

size_t
floor_put(struct floor_buf *f, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (f->len == sizeof(f->buf))
			floor_drain(f);
		f->buf[f->len++] = buf[i];
	}
	return len;
}

void
floor_flush(struct floor_buf *f)
{
	floor_drain(f);
}
