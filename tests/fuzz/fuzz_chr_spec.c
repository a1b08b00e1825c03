/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for what a user types: -chardev specs (chr_parse) and
 * -serial specs (chr_serial_spec, then chr_parse on the -chardev spec it
 * stands for). Nothing is opened; only the parsing is under test.
 *
 * Invariants: a refusal is a negative errno with a one-line message; an
 * accepted spec names a known backend, its strings lie in the parsed
 * copy, its numbers in their ranges; and a -serial shorthand means what
 * it says: file:PATH is that path (commas and all), unix:PATH that path
 * up to the first comma, tcp:HOST:PORT that host, mon: turns mux on, and
 * the id given is the id.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../lib/chr_internal.h"

#include "fuzz.h"

static bool
in_buf(const struct chr_opts *o, const char *s)
{
	return !s || (s >= o->buf && s < o->buf + sizeof(o->buf) &&
		      memchr(s, 0, (size_t)(o->buf + sizeof(o->buf) - s)));
}

static void
check_refusal(int rc, const struct vcon_error *err)
{
	check(rc == -EINVAL || rc == -ERANGE || rc == -E2BIG ||
	      rc == -ENOTSUP || rc == -ENOENT);
	check_one_line(err->msg, sizeof(err->msg));
}

static void
check_parsed(const struct chr_opts *o)
{
	check(o->backend && chr_find_backend(o->backend));
	check(in_buf(o, o->backend) && in_buf(o, o->id) &&
	      in_buf(o, o->path) && in_buf(o, o->input_path) &&
	      in_buf(o, o->host) && in_buf(o, o->logfile));
	check(o->port >= -1 && o->port <= 65535);
	check(o->buffer >= 1 && o->buffer <= (256u << 20));
	check(o->reconnect_ms >= 0);
}

/* A -chardev spec: refused cleanly or parsed sanely; 0 if parsed. */
static int
parse(const char *spec, struct chr_opts *o)
{
	struct vcon_error err = { "" };
	int rc = chr_parse(spec, o, &err);

	if (rc < 0) {
		check_refusal(rc, &err);
	} else {
		check(rc == 0);
		check_parsed(o);
	}
	return rc;
}

/* The -serial spec in, translated: its parts must come out unchanged. */
static void
check_serial(const char *in, const struct chr_opts *o)
{
	const char *s = in, *comma, *colon;
	char want[1536]; /* as long as the input */
	size_t n;

	check(o->id && !strcmp(o->id, "fz"));
	if (!strncmp(s, "mon:", 4)) {
		check(o->mux);
		s += 4;
	}
	if (!strncmp(s, "file:", 5)) {
		check(o->path && !strcmp(o->path, s + 5));
	} else if (!strncmp(s, "unix:", 5)) {
		/* Up to the first lone comma; ",," is a comma in the path. */
		for (s += 5, n = 0; *s && (*s != ',' || s[1] == ','); n++) {
			want[n] = *s;
			s += *s == ',' ? 2 : 1;
		}
		want[n] = 0;
		check(o->path && !strcmp(o->path, want));
	} else if (!strncmp(s, "tcp:", 4)) {
		comma = strchr(s + 4, ',');
		n = comma ? (size_t)(comma - (s + 4)) : strlen(s + 4);
		colon = memrchr(s + 4, ':', n);
		check(colon);
		n = (size_t)(colon - (s + 4));
		check(o->host && strlen(o->host) == n &&
		      !memcmp(o->host, s + 4, n));
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chr_opts o;
	struct vcon_error err = { "" };
	char in[1536], spec[1024];
	int rc;

	if (size >= sizeof(in) || memchr(data, 0, size))
		return 0;
	memcpy(in, data, size);
	in[size] = 0;

	parse(in, &o);

	rc = chr_serial_spec(in, "fz", spec, sizeof(spec), &err);
	if (rc < 0) {
		check_refusal(rc, &err);
		return 0;
	}
	check(rc == 0 && strlen(spec) < sizeof(spec));
	if (parse(spec, &o) == 0)
		check_serial(in, &o);
	return 0;
}
