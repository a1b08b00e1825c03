/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the library's own files. Nothing here is API: names
 * shared across files use the vcon__ prefix, the rest are static inline.
 */
#ifndef VCON_INTERNAL_H
#define VCON_INTERNAL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

struct vcon_error;

/*
 * Fill err (which may be NULL) with a one-line message for bad user
 * input and return rc, a negative errno: `return vcon__fail(err, -EINVAL,
 * "socket: no port given");`.
 */
int vcon__fail(struct vcon_error *err, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* -errno after a failed call, never 0: callers take 0 for success. */
static inline int
neg_errno(void)
{
	int e = errno;

	return e > 0 ? -e : -EIO;
}

/* Keep a slow path out of line, so its register saves stay off the hot one. */
#define VCON_NOINLINE __attribute__((noinline))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define container_of(ptr, type, member)                                        \
	((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/*
 * Bit helpers for 8-bit registers. Under -Wconversion, "r &= ~BIT" warns
 * because ~ promotes to int; these keep the casts in one place.
 */
static inline void
reg_set(uint8_t *r, unsigned bits)
{
	*r = (uint8_t)(*r | bits);
}

static inline void
reg_clear(uint8_t *r, unsigned bits)
{
	*r = (uint8_t)(*r & ~bits);
}

static inline void
reg_assign(uint8_t *r, unsigned bits, int on)
{
	if (on)
		reg_set(r, bits);
	else
		reg_clear(r, bits);
}

#endif /* VCON_INTERNAL_H */
