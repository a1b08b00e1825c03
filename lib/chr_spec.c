/* SPDX-License-Identifier: MIT */
/*
 * The -chardev and -serial spec parser. Spellings follow QEMU's, including
 * ",," for a literal comma in a value and the bare legacy flags (server,
 * nowait, nodelay), so command lines carry over. Every refusal names the
 * backend and the key or value at fault, and suggests the nearest key.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chr_internal.h"
#include "internal.h"

enum key_type { K_STR, K_BOOL, K_PORT, K_MS, K_SIZE, K_POLICY, K_FD };

struct key {
	const char *name;
	enum key_type type;
	size_t off; /* into struct chr_opts */
};

/* clang-format off: one line each, as they are used */
#define STR(n, f)                                                              \
	{                                                                      \
		n, K_STR, offsetof(struct chr_opts, f)                         \
	}
#define BOOL(n, f)                                                             \
	{                                                                      \
		n, K_BOOL, offsetof(struct chr_opts, f)                        \
	}
/* clang-format on */

static const struct key common_keys[] = {
	STR("id", id),
	BOOL("mux", mux),
	STR("logfile", logfile),
	BOOL("logappend", logappend),
	{ "buffer", K_SIZE, offsetof(struct chr_opts, buffer) },
	{ "policy", K_POLICY, offsetof(struct chr_opts, policy) },
	{ NULL, K_STR, 0 },
};

static const struct key file_keys[] = {
	STR("path", path),
	BOOL("append", append),
	STR("input-path", input_path),
	{ NULL, K_STR, 0 },
};

static const struct key pty_keys[] = {
	STR("path", path),
	{ NULL, K_STR, 0 },
};

static const struct key stdio_keys[] = {
	BOOL("signal", signal),
	{ NULL, K_STR, 0 },
};

static const struct key socket_keys[] = {
	STR("path", path),
	STR("host", host),
	{ "port", K_PORT, offsetof(struct chr_opts, port) },
	BOOL("server", server),
	BOOL("wait", wait),
	{ "reconnect-ms", K_MS, offsetof(struct chr_opts, reconnect_ms) },
	{ "reconnect", K_MS, offsetof(struct chr_opts, reconnect_ms) },
	BOOL("nodelay", nodelay),
	{ NULL, K_STR, 0 },
};

static const struct key fd_keys[] = {
	{ "fd", K_FD, offsetof(struct chr_opts, fd) },
	{ "in-fd", K_FD, offsetof(struct chr_opts, in_fd) },
	{ "out-fd", K_FD, offsetof(struct chr_opts, out_fd) },
	{ NULL, K_STR, 0 },
};

static const struct key no_keys[] = { { NULL, K_STR, 0 } };

static const struct {
	const char *name;
	const struct key *keys;
	const struct chr_backend *be;
} backends[] = {
	{ "null", no_keys, &chr_null_backend },
	{ "file", file_keys, &chr_file_backend },
	{ "pty", pty_keys, &chr_pty_backend },
	{ "stdio", stdio_keys, &chr_stdio_backend },
	{ "socket", socket_keys, &chr_socket_backend },
	{ "fd", fd_keys, &chr_fd_backend },
};

/* QEMU backends a user may try that libvcon does not have. */
static const char *const qemu_only[] = {
	"vc",       "udp",       "pipe",     "serial",       "parallel",
	"ringbuf",  "memory",    "braille",  "msmouse",      "testdev",
	"spicevmc", "spiceport", "wctablet", "qemu-vdagent", "dbus",
	"console",  "tty",       "parport",
};

const struct chr_backend *
chr_find_backend(const char *name)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(backends); i++)
		if (strcmp(backends[i].name, name) == 0)
			return backends[i].be;
	return NULL;
}

/* Edit distance, for "did you mean". Names are short. */
static size_t
distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j, d[32], prev, tmp;

	if (la >= ARRAY_SIZE(d) || lb >= ARRAY_SIZE(d))
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		d[j] = j;
	for (i = 1; i <= la; i++) {
		prev = d[0];
		d[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = d[j];
			d[j] = a[i - 1] == b[j - 1] ? prev : 1 + prev;
			if (d[j - 1] + 1 < d[j])
				d[j] = d[j - 1] + 1;
			if (tmp + 1 < d[j])
				d[j] = tmp + 1;
			prev = tmp;
		}
	}
	return d[lb];
}

static void
suggest(const char *word, const char *cand, const char **best, size_t *bd)
{
	size_t d = distance(word, cand);

	if (d < *bd && d <= (strlen(cand) + 2) / 3) {
		*best = cand;
		*bd = d;
	}
}

static int
unknown_key(const char *be, const struct key *keys, const char *key,
	    struct vcon_error *err)
{
	const char *best = NULL;
	size_t bd = SIZE_MAX;
	const struct key *k;

	for (k = keys; k->name; k++)
		suggest(key, k->name, &best, &bd);
	for (k = common_keys; k->name; k++)
		suggest(key, k->name, &best, &bd);
	if (best)
		return vcon__fail(err, -EINVAL,
				  "%s: unknown key '%s' (did you mean '%s'?)",
				  be, key, best);
	return vcon__fail(err, -EINVAL, "%s: unknown key '%s'", be, key);
}

static int
unknown_backend(const char *name, struct vcon_error *err)
{
	const char *best = NULL;
	size_t i, bd = SIZE_MAX;

	if (!*name)
		return vcon__fail(err, -EINVAL, "empty chardev spec");
	for (i = 0; i < ARRAY_SIZE(qemu_only); i++)
		if (strcmp(qemu_only[i], name) == 0)
			return vcon__fail(err, -ENOTSUP,
					  "chardev backend '%s' is not "
					  "supported",
					  name);
	for (i = 0; i < ARRAY_SIZE(backends); i++)
		suggest(name, backends[i].name, &best, &bd);
	if (best)
		return vcon__fail(err, -EINVAL,
				  "unknown chardev backend '%s' (did you mean "
				  "'%s'?)",
				  name, best);
	return vcon__fail(err, -EINVAL, "unknown chardev backend '%s'", name);
}

static const struct key *
find_key(const struct key *keys, const char *name)
{
	const struct key *k;

	for (k = keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	for (k = common_keys; k->name; k++)
		if (strcmp(k->name, name) == 0)
			return k;
	return NULL;
}

static int
parse_bool(const char *v, bool *out)
{
	if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"))
		*out = true;
	else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false"))
		*out = false;
	else
		return -EINVAL;
	return 0;
}

static int
parse_u64(const char *v, unsigned long long max, unsigned long long *out)
{
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	*out = strtoull(v, &end, 10);
	if (errno || *end || *out > max)
		return -ERANGE;
	return 0;
}

/* buffer=: bytes, or with a K/M suffix; 1 byte to 256 MiB. */
static int
parse_size(const char *v, size_t *out)
{
	unsigned long long n, mul = 1;
	char *end;

	if (*v < '0' || *v > '9')
		return -EINVAL;
	errno = 0;
	n = strtoull(v, &end, 10);
	if (*end == 'k' || *end == 'K')
		mul = 1024, end++;
	else if (*end == 'm' || *end == 'M')
		mul = 1024 * 1024, end++;
	if (errno || *end)
		return -EINVAL;
	if (n == 0 || n > (256ull << 20) / mul)
		return -ERANGE;
	*out = (size_t)(n * mul);
	return 0;
}

static int
set_value(const char *be, const struct key *k, const char *v,
	  struct chr_opts *o, struct vcon_error *err)
{
	char *field = (char *)o + k->off;
	unsigned long long n;
	bool b;

	switch (k->type) {
	case K_STR:
		memcpy(field, &v, sizeof(v));
		return 0;
	case K_BOOL:
		if (parse_bool(v, &b) < 0)
			return vcon__fail(err, -EINVAL,
					  "%s: '%s' must be on or off, "
					  "not '%s'",
					  be, k->name, v);
		memcpy(field, &b, sizeof(b));
		if (!strcmp(k->name, "server"))
			o->has_server = true;
		if (!strcmp(k->name, "wait"))
			o->has_wait = true;
		return 0;
	case K_PORT:
		if (parse_u64(v, 65535, &n) < 0)
			return vcon__fail(err, -ERANGE,
					  "%s: port '%s' is not a number in "
					  "0-65535",
					  be, v);
		o->port = (int)n;
		return 0;
	case K_MS:
		if (parse_u64(v, 24ull * 3600 * 1000, &n) < 0)
			return vcon__fail(err, -ERANGE,
					  "%s: '%s' must be milliseconds, not "
					  "'%s'",
					  be, k->name, v);
		/* QEMU's older reconnect= counts seconds. */
		o->reconnect_ms =
			(int64_t)n * (strcmp(k->name, "reconnect") ? 1 : 1000);
		return 0;
	case K_SIZE:
		if (parse_size(v, &o->buffer) < 0)
			return vcon__fail(err, -ERANGE,
					  "%s: buffer '%s' must be 1 to 256M "
					  "bytes",
					  be, v);
		return 0;
	case K_POLICY:
		if (!strcmp(v, "block"))
			o->policy = VCON_CHR_POLICY_BLOCK;
		else if (!strcmp(v, "keep"))
			o->policy = VCON_CHR_POLICY_KEEP;
		else if (!strcmp(v, "drop"))
			o->policy = VCON_CHR_POLICY_DROP;
		else
			return vcon__fail(err, -EINVAL,
					  "%s: policy must be block, keep or "
					  "drop, not '%s'",
					  be, v);
		return 0;
	case K_FD:
		if (parse_u64(v, INT_MAX, &n) < 0)
			return vcon__fail(err, -EINVAL,
					  "%s: '%s' must be a file descriptor "
					  "number, not '%s'",
					  be, k->name, v);
		memcpy(field, &(int){ (int)n }, sizeof(int));
		return 0;
	}
	return -EINVAL;
}

/* Split at single commas; ",," is a literal comma. Returns token count. */
static size_t
split(char *buf, char **tok, size_t max)
{
	char *r = buf, *w = buf;
	size_t n = 0;

	tok[n++] = w;
	for (; *r; r++) {
		if (*r == ',' && r[1] == ',') {
			*w++ = ',';
			r++;
		} else if (*r == ',') {
			*w++ = 0;
			if (n == max)
				return SIZE_MAX;
			tok[n++] = w;
		} else {
			*w++ = *r;
		}
	}
	*w = 0;
	return n;
}

static int
check_socket(struct chr_opts *o, struct vcon_error *err)
{
	if (o->path && (o->host || o->port >= 0))
		return vcon__fail(err, -EINVAL,
				  "socket: give 'path' (unix) or 'host' and "
				  "'port' (tcp), not both");
	if (!o->path && !o->host && o->port < 0)
		return vcon__fail(err, -EINVAL,
				  "socket: give 'path' (unix) or 'host' and "
				  "'port' (tcp)");
	if (o->host && o->port < 0)
		return vcon__fail(err, -EINVAL, "socket: no port given");
	if (!o->path && !o->host)
		return vcon__fail(err, -EINVAL,
				  "socket: 'port' needs 'host' (empty for all "
				  "addresses)");
	if (o->path && !*o->path)
		return vcon__fail(err, -EINVAL, "socket: 'path' is empty");
	if (!o->server && o->has_wait)
		return vcon__fail(err, -EINVAL,
				  "socket: 'wait' is only for servers");
	if (o->server && o->reconnect_ms)
		return vcon__fail(err, -EINVAL,
				  "socket: 'reconnect-ms' is only for clients");
	if (!o->server && o->host && o->port == 0)
		return vcon__fail(err, -EINVAL,
				  "socket: port 0 is only for servers");
	if (!o->server && o->host && !*o->host)
		return vcon__fail(err, -EINVAL,
				  "socket: a client needs a 'host'");
	return 0;
}

int
chr_parse(const char *spec, struct chr_opts *o, struct vcon_error *err)
{
	const struct key *keys = NULL, *k;
	char *tok[64], *eq;
	const char *be;
	size_t seen[64], nseen = 0;
	size_t n, i, b;
	int rc;

	memset(o, 0, sizeof(*o));
	o->port = -1;
	o->fd = o->in_fd = o->out_fd = -1;
	o->wait = true;
	o->signal = true;
	o->buffer = VCON_CHR_DEFAULT_BUFFER;
	if (strlen(spec) >= sizeof(o->buf))
		return vcon__fail(err, -E2BIG, "chardev spec is too long");
	strcpy(o->buf, spec);
	n = split(o->buf, tok, ARRAY_SIZE(tok));
	if (n == SIZE_MAX)
		return vcon__fail(err, -E2BIG,
				  "chardev spec has too many keys");
	be = o->backend = tok[0];
	if (strchr(be, '='))
		return vcon__fail(err, -EINVAL,
				  "chardev spec must start with the backend, "
				  "not '%s'",
				  be);
	for (b = 0; b < ARRAY_SIZE(backends); b++)
		if (strcmp(backends[b].name, be) == 0)
			keys = backends[b].keys;
	if (!keys)
		return unknown_backend(be, err);
	for (i = 1; i < n; i++) {
		const char *v, *name = tok[i];

		eq = strchr(tok[i], '=');
		if (eq) {
			*eq = 0;
			v = eq + 1;
		} else if (!strcmp(name, "nowait") && keys == socket_keys) {
			name = "wait";
			v = "off";
		} else {
			v = NULL;
		}
		if (!*name)
			return vcon__fail(err, -EINVAL, "%s: empty key", be);
		k = find_key(keys, name);
		if (!k)
			return unknown_key(be, keys, name, err);
		if (!v && k->type != K_BOOL)
			return vcon__fail(err, -EINVAL,
					  "%s: '%s' needs a value", be,
					  k->name);
		/* Keys alias (reconnect, reconnect-ms) by sharing a field. */
		for (b = 0; b < nseen; b++)
			if (seen[b] == k->off)
				return vcon__fail(err, -EINVAL,
						  "%s: '%s' is given twice", be,
						  k->name);
		seen[nseen++] = k->off;
		rc = set_value(be, k, v ? v : "on", o, err);
		if (rc < 0)
			return rc;
	}
	if (keys == file_keys && !o->path)
		return vcon__fail(err, -EINVAL, "file: 'path' is required");
	if (keys == socket_keys)
		return check_socket(o, err);
	if (keys == fd_keys) {
		if (o->fd >= 0 && (o->in_fd >= 0 || o->out_fd >= 0))
			return vcon__fail(err, -EINVAL,
					  "fd: give 'fd' or "
					  "'in-fd'/'out-fd', not both");
		if (o->fd < 0 && o->in_fd < 0 && o->out_fd < 0)
			return vcon__fail(err, -EINVAL, "fd: 'fd' is required");
	}
	return 0;
}

/* Append s to the spec being built, doubling commas; 0 or -E2BIG. dst
 * stays a string either way. */
static int
append(char *dst, size_t size, const char *s, bool escape)
{
	size_t len = strlen(dst);
	int rc = 0;

	for (; *s; s++) {
		if (len + 3 > size) {
			rc = -E2BIG;
			break;
		}
		dst[len++] = *s;
		if (escape && *s == ',')
			dst[len++] = ',';
	}
	dst[len] = 0;
	return rc;
}

/*
 * The -chardev spec a -serial spec stands for, in buf; no chardev is made.
 * Apart from vcon_chr_new_serial so that it can be tested alone.
 */
int
chr_serial_spec(const char *spec, const char *id, char *buf, size_t size,
		struct vcon_error *err)
{
	const char *given = spec, *rest, *colon, *opts;
	bool mux = false, odd = false;
	size_t len;
	int rc = 0;

	if (size == 0)
		return vcon__fail(err, -E2BIG, "-serial spec is too long");
	buf[0] = 0;
	if (!strncmp(spec, "mon:", 4)) {
		spec += 4;
		mux = true;
	}
	if (!strcmp(spec, "none"))
		return vcon__fail(err, -ENOENT, "no backend ('none')");
	if (!strcmp(spec, "stdio") || !strcmp(spec, "pty") ||
	    !strcmp(spec, "null")) {
		rc = append(buf, size, spec, false);
	} else if (!strncmp(spec, "file:", 5)) {
		rc = append(buf, size, "file,path=", false);
		if (rc == 0)
			rc = append(buf, size, spec + 5, true);
	} else if (!strncmp(spec, "unix:", 5)) {
		/* The path ends at the first comma; options follow. */
		rc = append(buf, size, "socket,path=", false);
		if (rc == 0)
			rc = append(buf, size, spec + 5, false);
	} else if (!strncmp(spec, "tcp:", 4)) {
		rest = spec + 4;
		opts = strchr(rest, ',');
		colon = memrchr(rest, ':',
				opts ? (size_t)(opts - rest) : strlen(rest));
		if (!colon)
			return vcon__fail(err, -EINVAL,
					  "-serial tcp: needs HOST:PORT, got "
					  "'%s'",
					  rest);
		rc = append(buf, size, "socket,host=", false);
		/* Too long is an error: an empty host is every address. */
		if (rc == 0 && strlen(buf) + (size_t)(colon - rest) + 8 >= size)
			rc = -E2BIG;
		if (rc == 0)
			strncat(buf, rest, (size_t)(colon - rest));
		if (rc == 0)
			rc = append(buf, size, ",port=", false);
		if (rc == 0)
			rc = append(buf, size, colon + 1, false);
	} else if (!strncmp(spec, "chardev:", 8)) {
		return vcon__fail(err, -EINVAL,
				  "'%s' names a -chardev; look it up by id",
				  spec);
	} else {
		return vcon__fail(err, -EINVAL, "unknown -serial backend '%s'",
				  spec);
	}
	/* An odd run of commas at the end (an empty option) would turn the
	 * comma of what is appended next into a literal one. */
	for (len = strlen(buf); rc == 0 && len > 0 && buf[len - 1] == ',';
	     len--)
		odd = !odd;
	if (odd)
		return vcon__fail(err, -EINVAL,
				  "-serial '%s' ends in an empty option",
				  given);
	if (rc == 0 && mux)
		rc = append(buf, size, ",mux=on", false);
	if (rc == 0 && id) {
		rc = append(buf, size, ",id=", false);
		if (rc == 0)
			rc = append(buf, size, id, true);
	}
	if (rc < 0)
		return vcon__fail(err, -E2BIG, "-serial spec is too long");
	return 0;
}

VCON_API int
vcon_chr_new_serial(struct vcon_loop *loop, const char *spec, const char *id,
		    struct vcon_chr **out, struct vcon_error *err)
{
	char buf[1024];
	int rc;

	if (err)
		err->msg[0] = 0;
	rc = chr_serial_spec(spec, id, buf, sizeof(buf), err);
	if (rc < 0)
		return rc;
	return vcon_chr_new(loop, buf, out, err);
}
