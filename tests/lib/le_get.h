/* SPDX-License-Identifier: MIT */
/* Reading little-endian fields of guest structures (a bzImage header). */
#ifndef VCON_TEST_LE_GET_H
#define VCON_TEST_LE_GET_H

#include <stdint.h>

/* The n-byte (n <= 8) little-endian number at p. */
static inline uint64_t
le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	while (n--)
		v = v << 8 | p[n];
	return v;
}

#endif
