/* SPDX-License-Identifier: MIT */
#ifndef CHR_FLOOR_H
#define CHR_FLOOR_H

#include <stddef.h>
#include <stdint.h>

struct floor_buf {
	int fd, failed;
	size_t len;
	uint8_t buf[65536];
};

size_t floor_put(struct floor_buf *f, const uint8_t *buf, size_t len);
void floor_flush(struct floor_buf *f);

#endif
