/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for tinyvmm's command line (examples/tinyvmm/
 * options.c): the input, split at NUL bytes, is argv; every -device
 * value is then parsed as tinyvmm would, and every argument as a -m size.
 *
 * Invariants: a refusal is -EINVAL with a one-line message; accepted
 * options point into argv and stay within their limits; an accepted
 * -device has NUL-terminated fields, an nr of -1 to 510 (0 only for a
 * virtconsole), a virtconsole or virtserialport has its chardev; a size
 * is a whole, nonzero number of bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../examples/tinyvmm/options.h"

#include "fuzz.h"

#define MAX_ARGS 64

static bool
in_argv(char **argv, int argc, const char *s)
{
	int i;

	for (i = 0; i < argc; i++)
		if (s == argv[i])
			return true;
	return false;
}

static void
check_device(const char *spec)
{
	struct tvm_device d;
	char msg[256] = "";
	int rc = tvm_parse_device(spec, &d, msg, sizeof(msg));

	if (rc) {
		check(rc == -EINVAL);
		check_one_line(msg, sizeof(msg));
		return;
	}
	check(memchr(d.id, 0, sizeof(d.id)) &&
	      memchr(d.chardev, 0, sizeof(d.chardev)) &&
	      memchr(d.name, 0, sizeof(d.name)));
	check(d.kind == TVM_DEV_VIRTIO_SERIAL ||
	      d.kind == TVM_DEV_VIRTCONSOLE || d.kind == TVM_DEV_VIRTSERIALPORT);
	check(d.nr >= -1 && d.nr <= 510);
	check(d.max_ports <= 511);
	if (d.kind != TVM_DEV_VIRTIO_SERIAL)
		check(d.chardev[0]);
	if (d.kind == TVM_DEV_VIRTSERIALPORT)
		check(d.nr != 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[4096];
	char *argv[MAX_ARGS + 1];
	struct tvm_options o;
	char msg[256] = "";
	uint64_t bytes;
	int argc = 1, i, rc;
	size_t k;

	if (size >= sizeof(buf))
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	argv[0] = "tinyvmm";
	for (k = 0; k <= size && argc < MAX_ARGS; k += strlen(buf + k) + 1)
		argv[argc++] = buf + k;
	argv[argc] = NULL;

	for (i = 1; i < argc; i++)
		if (tvm_parse_size(argv[i], &bytes) == 0)
			check(bytes > 0);

	rc = tvm_parse_options(argc, argv, &o, msg, sizeof(msg));
	if (rc) {
		check(rc == -EINVAL);
		check_one_line(msg, sizeof(msg));
		return 0;
	}
	check(o.help || o.version || in_argv(argv, argc, o.kernel));
	check(!o.initrd || in_argv(argv, argc, o.initrd));
	check(o.nserial <= TVM_MAX_SERIAL && o.nchardev <= TVM_MAX_CHARDEV &&
	      o.ndevice <= TVM_MAX_DEVICE);
	check(o.smp >= 1 && o.smp <= 64 && o.mem_bytes > 0);
	for (k = 0; k < o.ndevice; k++)
		check_device(o.device[k]);
	return 0;
}
