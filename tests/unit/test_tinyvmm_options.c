/* SPDX-License-Identifier: MIT */
/* tinyvmm's QEMU-style command line: what users type, and the errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "../../examples/tinyvmm/options.h"

#define MIB (1ull << 20)

static int
parse(struct tvm_options *o, char *msg, ...)
{
	static char prog[] = "tinyvmm";
	char *argv[64] = { prog };
	int argc = 1;
	va_list ap;
	char *a;

	/* Literals are passed through varargs, so no const is cast away. */
	va_start(ap, msg);
	for (a = va_arg(ap, char *); a; a = va_arg(ap, char *))
		argv[argc++] = a;
	va_end(ap);
	msg[0] = '\0';
	return tvm_parse_options(argc, argv, o, msg, 256);
}

static void
test_options_qemu_spelling_is_accepted(void **state)
{
	struct tvm_options o;
	char msg[256];

	(void)state;
	assert_int_equal(parse(&o, msg, "-kernel", "bz", "-initrd", "rd",
			       "-append", "console=ttyS0 quiet", "-m", "1G",
			       "-smp", "2", "-no-reboot", "-serial", "stdio",
			       "-serial", "file:/tmp/x", "--chardev",
			       "socket,id=c,path=/tmp/s,server=on,wait=off",
			       "-device", "virtconsole,chardev=c", "-enable-kvm",
			       "-display", "none", "-accel", "kvm", NULL),
			 0);
	assert_string_equal(o.kernel, "bz");
	assert_string_equal(o.initrd, "rd");
	assert_string_equal(o.append, "console=ttyS0 quiet");
	assert_int_equal(o.mem_bytes, 1024 * MIB);
	assert_int_equal(o.smp, 2);
	assert_true(o.no_reboot);
	assert_int_equal(o.nserial, 2);
	assert_string_equal(o.serial[1], "file:/tmp/x");
	assert_int_equal(o.nchardev, 1);
	assert_int_equal(o.ndevice, 1);
}

static void
test_options_defaults(void **state)
{
	struct tvm_options o;
	char msg[256];

	(void)state;
	assert_int_equal(parse(&o, msg, "-kernel", "bz", NULL), 0);
	assert_int_equal(o.mem_bytes, 512 * MIB);
	assert_int_equal(o.smp, 1);
	assert_int_equal(o.nserial, 0);
	assert_false(o.no_reboot);
}

static void
test_options_memory_sizes_follow_qemu(void **state)
{
	uint64_t b;

	(void)state;
	assert_int_equal(tvm_parse_size("512", &b), 0);
	assert_int_equal(b, 512 * MIB);
	assert_int_equal(tvm_parse_size("2G", &b), 0);
	assert_int_equal(b, 2048 * MIB);
	assert_int_equal(tvm_parse_size("65536k", &b), 0);
	assert_int_equal(b, 64 * MIB);
	assert_int_equal(tvm_parse_size("256MiB", &b), 0);
	assert_int_equal(b, 256 * MIB);
	assert_int_equal(tvm_parse_size("", &b), -EINVAL);
	assert_int_equal(tvm_parse_size("0", &b), -EINVAL);
	assert_int_equal(tvm_parse_size("-1", &b), -EINVAL);
	assert_int_equal(tvm_parse_size("12Q", &b), -EINVAL);
	assert_int_equal(tvm_parse_size("99999999999999999999", &b), -EINVAL);
	assert_int_equal(tvm_parse_size("20000000T", &b), -EINVAL);
}

static void
test_options_errors_name_the_problem(void **state)
{
	struct tvm_options o;
	char msg[256];

	(void)state;
	assert_int_equal(parse(&o, msg, "-kernal", "bz", NULL), -EINVAL);
	assert_string_equal(msg, "unknown option '-kernal' (see -help)");
	assert_int_equal(parse(&o, msg, "-kernel", NULL), -EINVAL);
	assert_string_equal(msg, "option '-kernel' needs a value");
	assert_int_equal(parse(&o, msg, "-kernel", "bz", "-m", "lots", NULL),
			 -EINVAL);
	assert_string_equal(msg, "-m: bad memory size 'lots' (e.g. 512M, 2G)");
	assert_int_equal(parse(&o, msg, "-kernel", "bz", "-smp", "0", NULL),
			 -EINVAL);
	assert_string_equal(msg, "-smp: bad vCPU count '0' (1-64)");
	/* One line, whatever the argument held. */
	assert_int_equal(parse(&o, msg, "-kernel", "bz", "-smp", "2\n3", NULL),
			 -EINVAL);
	assert_string_equal(msg, "-smp: bad vCPU count '2?3' (1-64)");
	assert_int_equal(parse(&o, msg, "-m", "1G", NULL), -EINVAL);
	assert_string_equal(msg, "no kernel: give -kernel BZIMAGE");
	assert_int_equal(parse(&o, msg, "bzImage", NULL), -EINVAL);
	assert_string_equal(msg,
			    "unexpected argument 'bzImage' (options start with '-')");
	assert_int_equal(parse(&o, msg, "-kernel", "bz", "-serial", "a",
			       "-serial", "b", "-serial", "c", "-serial", "d",
			       "-serial", "e", NULL),
			 -EINVAL);
	assert_string_equal(msg, "-serial: at most 4 ports (COM1-COM4)");
	assert_int_equal(parse(&o, msg, "-kernel", "bz", "-display", "gtk",
			       NULL),
			 -EINVAL);
	assert_string_equal(msg,
			    "-display: only 'none' (tinyvmm has no display)");
}

static void
test_device_specs_as_qemu_spells_them(void **state)
{
	struct tvm_device d;
	char msg[256];

	(void)state;
	assert_int_equal(tvm_parse_device("virtio-serial-pci,id=vs0,"
					  "max_ports=4", &d, msg, sizeof(msg)),
			 0);
	assert_int_equal(d.kind, TVM_DEV_VIRTIO_SERIAL);
	assert_int_equal(d.max_ports, 4);
	assert_string_equal(d.id, "vs0"); /* for device_del */
	assert_int_equal(tvm_parse_device("virtconsole,chardev=c0", &d, msg,
					  sizeof(msg)),
			 0);
	assert_int_equal(d.kind, TVM_DEV_VIRTCONSOLE);
	assert_string_equal(d.chardev, "c0");
	assert_int_equal(d.nr, -1);
	assert_int_equal(tvm_parse_device("virtconsole,chardev=c0,nr=0", &d,
					  msg, sizeof(msg)),
			 0);
	assert_int_equal(d.nr, 0);
	assert_int_equal(tvm_parse_device("virtserialport,bus=vs0.0,chardev=q,"
					  "name=org.qemu.guest_agent.0,nr=3",
					  &d, msg, sizeof(msg)),
			 0);
	assert_int_equal(d.kind, TVM_DEV_VIRTSERIALPORT);
	assert_string_equal(d.name, "org.qemu.guest_agent.0");
	assert_int_equal(d.nr, 3);
}

static void
expect_device_error(const char *spec, const char *want)
{
	struct tvm_device d;
	char msg[256] = "";

	assert_int_equal(tvm_parse_device(spec, &d, msg, sizeof(msg)),
			 -EINVAL);
	if (!strstr(msg, want))
		fail_msg("'%s': message '%s' lacks '%s'", spec, msg, want);
}

static void
test_device_errors_name_the_problem(void **state)
{
	(void)state;
	expect_device_error("virtio-net", "unknown device 'virtio-net'");
	expect_device_error("virtconsole", "chardev= is required");
	expect_device_error("virtserialport,chardev=c,nmae=x",
			    "unknown key 'nmae'");
	expect_device_error("virtserialport,chardev=c,nr=0",
			    "nr=0 is kept for a virtconsole");
	expect_device_error("virtserialport,chardev=c,nr=x", "nr=x");
	expect_device_error("virtio-serial,max_ports=0", "max_ports=0");
	expect_device_error("virtio-serial,max_ports=512", "max_ports=512");
	expect_device_error("virtconsole,chardev=", "chardev= is empty");
	expect_device_error("virtconsole,chardev", "not key=value");
	expect_device_error("virtio-serial,chardev=c", "unknown key 'chardev'");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_options_qemu_spelling_is_accepted),
		cmocka_unit_test(test_options_defaults),
		cmocka_unit_test(test_options_memory_sizes_follow_qemu),
		cmocka_unit_test(test_options_errors_name_the_problem),
		cmocka_unit_test(test_device_specs_as_qemu_spells_them),
		cmocka_unit_test(test_device_errors_name_the_problem),
	};

	return cmocka_run_group_tests_name("tinyvmm_options", tests, NULL,
					   NULL);
}
