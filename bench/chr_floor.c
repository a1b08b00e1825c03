/* SPDX-License-Identifier: MIT */
/* The floor writer's write-out (chr_floor.h). */
#include <unistd.h>

#include "chr_floor.h"

void
floor_flush(struct floor_buf *f)
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
