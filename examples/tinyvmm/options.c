/* SPDX-License-Identifier: MIT */
/*
 * tinyvmm's option parser. QEMU accepts both "-opt" and "--opt", takes
 * the next argument as the value, and lets later -m/-smp/-kernel override
 * earlier ones; so does this. Options QEMU users add out of habit and that
 * mean nothing here (-enable-kvm, -accel kvm, -display none) are accepted;
 * anything else unknown is an error that names it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

const char tvm_usage[] =
	"usage: tinyvmm -kernel BZIMAGE [-initrd FILE] [-append CMDLINE]\n"
	"               [-m SIZE] [-smp N] [-no-reboot]\n"
	"               [-serial SPEC]...   COM1..COM4 in order; default COM1 = stdio\n"
	"               [-chardev SPEC]...  named backends (QEMU -chardev syntax)\n"
	"               [-device virtio-serial[,max_ports=N]]\n"
	"               [-device virtconsole,chardev=ID[,name=N][,nr=K]]\n"
	"               [-device virtserialport,chardev=ID,name=N[,nr=K]]\n"
	"               [-nographic]        same as -serial mon:stdio\n"
	"\n"
	"serial SPECs: stdio, pty, null, none, file:PATH, unix:PATH[,server=on],\n"
	"              tcp:[HOST]:PORT[,server=on], mon:SPEC, chardev:ID\n"
	"Ctrl-A x quits, Ctrl-A c switches to the monitor (mon:SPEC, the default),\n"
	"Ctrl-A h lists the other Ctrl-A keys.\n";

static int
fail(char *msg, size_t msgsz, const char *fmt, ...)
{
	va_list ap;
	char *c;

	va_start(ap, fmt);
	vsnprintf(msg, msgsz, fmt, ap);
	va_end(ap);
	/* One line, whatever the user's argument held. */
	for (c = msg; msgsz && *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	return -EINVAL;
}

int
tvm_parse_size(const char *s, uint64_t *bytes)
{
	unsigned long long v;
	uint64_t mult = 1ull << 20; /* a bare number is MiB, as in QEMU */
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return -EINVAL;
	switch (*end) {
	case '\0':
		break;
	case 'k': case 'K': mult = 1ull << 10; end++; break;
	case 'm': case 'M': mult = 1ull << 20; end++; break;
	case 'g': case 'G': mult = 1ull << 30; end++; break;
	case 't': case 'T': mult = 1ull << 40; end++; break;
	default:
		return -EINVAL;
	}
	if (!strcmp(end, "iB") || !strcmp(end, "B"))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (v == 0 || v > UINT64_MAX / mult)
		return -EINVAL;
	*bytes = v * mult;
	return 0;
}

static int
parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v == 0 || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

/* Options that take a value, and whether they may repeat. */
enum opt_id {
	OPT_KERNEL, OPT_INITRD, OPT_APPEND, OPT_M, OPT_SMP, OPT_SERIAL,
	OPT_CHARDEV, OPT_DEVICE, OPT_DISPLAY, OPT_ACCEL,
	OPT_NO_REBOOT, OPT_NOGRAPHIC, OPT_ENABLE_KVM, OPT_HELP, OPT_VERSION,
};

static const struct {
	const char *name;
	enum opt_id id;
	bool has_arg;
} opt_table[] = {
	{ "kernel", OPT_KERNEL, true },   { "initrd", OPT_INITRD, true },
	{ "append", OPT_APPEND, true },   { "m", OPT_M, true },
	{ "smp", OPT_SMP, true },         { "serial", OPT_SERIAL, true },
	{ "chardev", OPT_CHARDEV, true }, { "device", OPT_DEVICE, true },
	{ "display", OPT_DISPLAY, true }, { "accel", OPT_ACCEL, true },
	{ "no-reboot", OPT_NO_REBOOT, false },
	{ "nographic", OPT_NOGRAPHIC, false },
	{ "enable-kvm", OPT_ENABLE_KVM, false },
	{ "help", OPT_HELP, false },      { "h", OPT_HELP, false },
	{ "version", OPT_VERSION, false },
};

int
tvm_parse_options(int argc, char **argv, struct tvm_options *o, char *msg,
		  size_t msgsz)
{
	int i;

	memset(o, 0, sizeof(*o));
	o->mem_bytes = 512ull << 20;
	o->smp = 1;
	for (i = 1; i < argc; i++) {
		/* val: "" for the options that take none */
		const char *a = argv[i], *name, *val = "";
		size_t k;

		if (a[0] != '-' || a[1] == '\0')
			return fail(msg, msgsz,
				    "unexpected argument '%s' (options start with '-')",
				    a);
		name = a + 1 + (a[1] == '-');
		for (k = 0; k < sizeof(opt_table) / sizeof(opt_table[0]); k++)
			if (!strcmp(name, opt_table[k].name))
				break;
		if (k == sizeof(opt_table) / sizeof(opt_table[0]))
			return fail(msg, msgsz,
				    "unknown option '%s' (see -help)", a);
		if (opt_table[k].has_arg) {
			if (i + 1 >= argc)
				return fail(msg, msgsz,
					    "option '%s' needs a value", a);
			val = argv[++i];
		}
		switch (opt_table[k].id) {
		case OPT_KERNEL: o->kernel = val; break;
		case OPT_INITRD: o->initrd = val; break;
		case OPT_APPEND: o->append = val; break;
		case OPT_M:
			/* QEMU also takes "size=512M[,slots=..]"; take its size. */
			if (!strncmp(val, "size=", 5))
				val += 5;
			if (tvm_parse_size(val, &o->mem_bytes))
				return fail(msg, msgsz,
					    "-m: bad memory size '%s' (e.g. 512M, 2G)",
					    val);
			break;
		case OPT_SMP:
			if (parse_uint(val, 64, &o->smp))
				return fail(msg, msgsz,
					    "-smp: bad vCPU count '%s' (1-64)", val);
			break;
		case OPT_SERIAL:
			if (o->nserial == TVM_MAX_SERIAL)
				return fail(msg, msgsz,
					    "-serial: at most %d ports (COM1-COM4)",
					    TVM_MAX_SERIAL);
			o->serial[o->nserial++] = val;
			break;
		case OPT_CHARDEV:
			if (o->nchardev == TVM_MAX_CHARDEV)
				return fail(msg, msgsz, "-chardev: at most %d",
					    TVM_MAX_CHARDEV);
			o->chardev[o->nchardev++] = val;
			break;
		case OPT_DEVICE:
			if (o->ndevice == TVM_MAX_DEVICE)
				return fail(msg, msgsz, "-device: at most %d",
					    TVM_MAX_DEVICE);
			o->device[o->ndevice++] = val;
			break;
		case OPT_DISPLAY:
			if (strcmp(val, "none"))
				return fail(msg, msgsz,
					    "-display: only 'none' (tinyvmm has no display)");
			break;
		case OPT_ACCEL:
			if (strcmp(val, "kvm"))
				return fail(msg, msgsz,
					    "-accel: only 'kvm' (tinyvmm runs on /dev/kvm)");
			break;
		case OPT_NO_REBOOT: o->no_reboot = true; break;
		case OPT_NOGRAPHIC: o->nographic = true; break;
		case OPT_ENABLE_KVM: break;
		case OPT_HELP: o->help = true; break;
		case OPT_VERSION: o->version = true; break;
		}
	}
	if (o->help || o->version)
		return 0;
	if (!o->kernel)
		return fail(msg, msgsz, "no kernel: give -kernel BZIMAGE");
	return 0;
}

static int
copy_value(char *dst, size_t cap, const char *key, const char *val,
	   size_t len, char *msg, size_t msgsz)
{
	if (len == 0)
		return fail(msg, msgsz, "-device: %s= is empty", key);
	if (len >= cap)
		return fail(msg, msgsz, "-device: %s= is longer than %zu bytes",
			    key, cap - 1);
	memcpy(dst, val, len);
	dst[len] = '\0';
	return 0;
}

int
tvm_parse_device(const char *spec, struct tvm_device *d, char *msg,
		 size_t msgsz)
{
	size_t n = strcspn(spec, ",");
	const char *p = spec + n;
	unsigned v;
	char num[16] = "";

	memset(d, 0, sizeof(*d));
	d->nr = -1;
	if ((n == 13 && !strncmp(spec, "virtio-serial", n)) ||
	    (n == 17 && !strncmp(spec, "virtio-serial-pci", n)))
		d->kind = TVM_DEV_VIRTIO_SERIAL;
	else if (n == 11 && !strncmp(spec, "virtconsole", n))
		d->kind = TVM_DEV_VIRTCONSOLE;
	else if (n == 14 && !strncmp(spec, "virtserialport", n))
		d->kind = TVM_DEV_VIRTSERIALPORT;
	else
		return fail(msg, msgsz,
			    "-device: unknown device '%.*s' (tinyvmm has "
			    "virtio-serial, virtconsole and virtserialport)",
			    (int)n, spec);
	while (*p == ',') {
		const char *key = ++p, *eq, *val;
		size_t klen, vlen;
		int rc = 0;

		n = strcspn(p, ",");
		eq = memchr(p, '=', n);
		if (!eq)
			return fail(msg, msgsz, "-device: '%.*s' is not key=value",
				    (int)n, p);
		klen = (size_t)(eq - key);
		val = eq + 1;
		vlen = n - klen - 1;
		p += n;
#define KEY(k) (klen == strlen(k) && !strncmp(key, k, klen))
		if (KEY("bus")) {
			continue;
		} else if (KEY("id")) {
			rc = copy_value(d->id, sizeof(d->id), "id", val, vlen,
					msg, msgsz);
		} else if (d->kind == TVM_DEV_VIRTIO_SERIAL && KEY("max_ports")) {
			rc = copy_value(num, sizeof(num), "max_ports", val,
					vlen, msg, msgsz);
			if (rc == 0 && (parse_uint(num, 511, &v) < 0 || v == 0))
				return fail(msg, msgsz, "-device: max_ports=%s: "
					    "expected 1 to 511", num);
			if (rc == 0)
				d->max_ports = v;
		} else if (d->kind != TVM_DEV_VIRTIO_SERIAL && KEY("chardev")) {
			rc = copy_value(d->chardev, sizeof(d->chardev),
					"chardev", val, vlen, msg, msgsz);
		} else if (d->kind != TVM_DEV_VIRTIO_SERIAL && KEY("name")) {
			rc = copy_value(d->name, sizeof(d->name), "name", val,
					vlen, msg, msgsz);
		} else if (d->kind != TVM_DEV_VIRTIO_SERIAL && KEY("nr")) {
			rc = copy_value(num, sizeof(num), "nr", val, vlen, msg,
					msgsz);
			if (rc == 0 && strcmp(num, "0") == 0)
				v = 0;
			else if (rc == 0 && parse_uint(num, 510, &v) < 0)
				return fail(msg, msgsz, "-device: nr=%s: "
					    "expected 0 to 510", num);
			if (rc == 0)
				d->nr = (int)v;
		} else {
			return fail(msg, msgsz, "-device %.*s: unknown key "
				    "'%.*s'", (int)strcspn(spec, ","), spec,
				    (int)klen, key);
		}
#undef KEY
		if (rc)
			return rc;
	}
	if (d->kind != TVM_DEV_VIRTIO_SERIAL && !d->chardev[0])
		return fail(msg, msgsz, "-device %s: chardev= is required",
			    d->kind == TVM_DEV_VIRTCONSOLE ? "virtconsole"
							   : "virtserialport");
	if (d->kind == TVM_DEV_VIRTSERIALPORT && d->nr == 0)
		return fail(msg, msgsz, "-device virtserialport: nr=0 is kept "
			    "for a virtconsole");
	return 0;
}
