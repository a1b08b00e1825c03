/* SPDX-License-Identifier: MIT */
/*
 * What the libFuzzer targets share: an invariant that traps when it does
 * not hold (libFuzzer then keeps the input), and the rule for a message
 * that refuses what a user typed.
 */
#ifndef VCON_FUZZ_H
#define VCON_FUZZ_H

#include <stddef.h>
#include <string.h>

#define check(cond)                                                           \
	do {                                                                  \
		if (!(cond))                                                  \
			__builtin_trap();                                     \
	} while (0)

/* A refusal's message: not empty, a string within size, one line. */
static inline void
check_one_line(const char *msg, size_t size)
{
	const char *end = memchr(msg, 0, size), *c;

	check(end && end > msg);
	for (c = msg; c < end; c++)
		check((unsigned char)*c >= 0x20 && *c != 0x7f);
}

#endif
