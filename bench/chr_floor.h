/* SPDX-License-Identifier: MIT */
/*
 * The cheapest buffered writer a device could have: each byte stored
 * inline into a 64 KiB buffer, written out with write(2) when full, no
 * thread, no lock, no policy. chr_bench times the same one-byte-per-call
 * device against it: what storing bytes one at a time costs next to one
 * big write(2), before anything a chardev adds.
 */
#ifndef CHR_FLOOR_H
#define CHR_FLOOR_H

#include <stddef.h>
#include <stdint.h>

struct floor_buf {
	int fd, failed;
	size_t len;
	uint8_t buf[65536];
};

/* Write out what the buffer holds; out of line, as a chardev's is. */
void floor_flush(struct floor_buf *f);

static inline size_t
floor_put(struct floor_buf *f, const uint8_t *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (f->len == sizeof(f->buf))
			floor_flush(f);
		f->buf[f->len++] = buf[i];
	}
	return len;
}

#endif
