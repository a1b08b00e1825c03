/* SPDX-License-Identifier: MIT */
/*
 * The library's clock and version. The clock is CLOCK_MONOTONIC: device
 * models never read it themselves; their callers pass it in.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

#include <vcon/common.h>

#include "internal.h"

#define STR_(x) #x
#define STR(x)  STR_(x)
#define VERSION                                                                \
	STR(VCON_VERSION_MAJOR)                                                \
	"." STR(VCON_VERSION_MINOR) "." STR(VCON_VERSION_PATCH)

VCON_API uint64_t
vcon_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

VCON_API const char *
vcon_version(void)
{
	return VERSION;
}

int
vcon__fail(struct vcon_error *err, int rc, const char *fmt, ...)
{
	va_list ap;
	char *c;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		/* One line, whatever the user's string held. */
		for (c = err->msg; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	return rc;
}
