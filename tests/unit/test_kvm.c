/* SPDX-License-Identifier: MIT */
/*
 * The KVM layer's answers to bad input, on the host: this machine may
 * have no /dev/kvm, and then the message must say what to do. The layer's
 * real work is tested through tests/with-kvm (tests/kvm/).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <vcon/kvm.h>

static void
test_kvm_bad_memory_size_is_named(void **state)
{
	struct vcon_vm_config cfg = { .mem_size = 2ull << 40 };
	struct vcon_error err = { "" };
	struct vcon_vm *vm = NULL;

	(void)state;
	assert_int_equal(vcon_vm_new(&cfg, &vm, &err), -EINVAL);
	assert_string_equal(err.msg, "memory size must be 16 MiB to 1 TiB");
	assert_null(vm);
	cfg.mem_size = 1u << 20;
	assert_int_equal(vcon_vm_new(&cfg, &vm, &err), -EINVAL);
	/* KVM maps whole pages: said before it can fail as EINVAL. */
	cfg.mem_size = (64u << 20) + 512;
	assert_int_equal(vcon_vm_new(&cfg, &vm, &err), -EINVAL);
	assert_string_equal(err.msg, "memory size must be a multiple of 4 KiB");
	assert_null(vm);
	cfg = (struct vcon_vm_config){ .mem_size = 64u << 20, .nr_vcpus = 65 };
	assert_int_equal(vcon_vm_new(&cfg, &vm, &err), -EINVAL);
	assert_string_equal(err.msg, "at most 64 vCPUs");
	vcon_vm_free(NULL);
}

static void
test_kvm_missing_dev_kvm_points_to_runner(void **state)
{
	struct vcon_vm_config cfg = { .mem_size = 64u << 20 };
	struct vcon_error err = { "" };
	struct vcon_vm *vm = NULL;
	int rc;

	(void)state;
	rc = vcon_vm_new(&cfg, &vm, &err);
	if (access("/dev/kvm", R_OK | W_OK) == 0) {
		/* A machine with KVM: the VM must simply work. */
		assert_int_equal(rc, 0);
		vcon_vm_free(vm);
		return;
	}
	assert_true(rc < 0);
	assert_null(vm);
	assert_non_null(strstr(err.msg, "/dev/kvm: "));
	assert_non_null(strstr(err.msg, "run the command under tests/with-kvm"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kvm_bad_memory_size_is_named),
		cmocka_unit_test(test_kvm_missing_dev_kvm_points_to_runner),
	};

	return cmocka_run_group_tests_name("kvm", tests, NULL, NULL);
}
