/* SPDX-License-Identifier: MIT */
/*
 * Proves that tests/with-kvm gives a working /dev/kvm: a real-mode guest
 * of a few hand-assembled bytes does OUT, IN and HLT on COM1's data port,
 * and the exits carry exactly what the guest did. Then it times a loop of
 * port writes, the cost every emulated register access pays under KVM.
 * Raw ioctls on purpose: this checks the machine, not libvcon's KVM layer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define MEM_SIZE 0x10000
#define CODE 0x1000

static const unsigned char guest[] = {
	0xba, 0xf8, 0x03, /* mov dx, 0x3f8 */
	0xb0, 0x4b,       /* mov al, 'K' */
	0xee,             /* out dx, al */
	0xec,             /* in al, dx */
	0x04, 0x01,       /* add al, 1 */
	0xee,             /* out dx, al */
	0xf4,             /* hlt */
	/* CODE + 11: the timing loop */
	0xb9, 0xe8, 0x03, /* mov cx, 1000 */
	0xee,             /* out dx, al */
	0xe2, 0xfd,       /* loop -3 */
	0xf4,             /* hlt */
};

static int fails;

#define expect(cond, ...)                                                     \
	do {                                                                  \
		if (!(cond)) {                                                \
			fprintf(stderr, "kvm_smoke: " __VA_ARGS__);           \
			fputc('\n', stderr);                                  \
			fails++;                                              \
		}                                                             \
	} while (0)

static void
die(const char *what)
{
	fprintf(stderr, "kvm_smoke: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void
set_rip(int vcpu, unsigned long rip)
{
	struct kvm_regs regs;

	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 0x2;
	if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0)
		die("KVM_SET_REGS");
}

int
main(void)
{
	int kvm, vm, vcpu, api;
	long run_size;
	unsigned char *mem;
	struct kvm_run *run;
	struct kvm_sregs sregs;
	struct kvm_userspace_memory_region region;
	struct timespec t0, t1;
	unsigned outs = 0;
	double us;

	kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm < 0)
		die("open /dev/kvm (run under tests/with-kvm)");
	api = ioctl(kvm, KVM_GET_API_VERSION, 0);
	expect(api == 12, "KVM API %d, expected 12", api);
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		die("KVM_CREATE_VM");
	mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		die("mmap");
	memcpy(mem + CODE, guest, sizeof(guest));
	region = (struct kvm_userspace_memory_region){
		.slot = 0,
		.guest_phys_addr = 0,
		.memory_size = MEM_SIZE,
		.userspace_addr = (unsigned long)mem,
	};
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0)
		die("KVM_SET_USER_MEMORY_REGION");
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	if (vcpu < 0)
		die("KVM_CREATE_VCPU");
	run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   vcpu, 0);
	if (run == MAP_FAILED)
		die("mmap kvm_run");
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0)
		die("KVM_GET_SREGS");
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0)
		die("KVM_SET_SREGS");
	set_rip(vcpu, CODE);

	/* OUT 'K', IN (we answer 'A'), OUT 'A' + 1, HLT */
	static const struct {
		int dir;
		unsigned char val;
	} want[] = { { KVM_EXIT_IO_OUT, 'K' },
		     { KVM_EXIT_IO_IN, 'A' },
		     { KVM_EXIT_IO_OUT, 'B' } };
	for (unsigned i = 0; i < 3; i++) {
		unsigned char *data;

		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			die("KVM_RUN");
		expect(run->exit_reason == KVM_EXIT_IO,
		       "exit %u: reason %u, expected KVM_EXIT_IO", i,
		       run->exit_reason);
		if (run->exit_reason != KVM_EXIT_IO)
			return 1;
		data = (unsigned char *)run + run->io.data_offset;
		expect(run->io.port == 0x3f8 && run->io.size == 1 &&
			       run->io.count == 1 &&
			       run->io.direction == want[i].dir,
		       "exit %u: port %#x size %u count %u dir %u", i,
		       run->io.port, run->io.size, run->io.count,
		       run->io.direction);
		if (want[i].dir == KVM_EXIT_IO_IN)
			*data = want[i].val;
		else
			expect(*data == want[i].val,
			       "exit %u: guest wrote %#x, expected %#x", i,
			       *data, want[i].val);
	}
	if (ioctl(vcpu, KVM_RUN, 0) < 0)
		die("KVM_RUN");
	expect(run->exit_reason == KVM_EXIT_HLT, "reason %u, expected HLT",
	       run->exit_reason);

	set_rip(vcpu, CODE + 11);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (ioctl(vcpu, KVM_RUN, 0) < 0)
			die("KVM_RUN");
		if (run->exit_reason != KVM_EXIT_IO)
			break;
		outs++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	expect(run->exit_reason == KVM_EXIT_HLT && outs == 1000,
	       "timing loop: %u OUT exits, then reason %u", outs,
	       run->exit_reason);
	us = ((double)(t1.tv_sec - t0.tv_sec) * 1e9 +
	      (double)(t1.tv_nsec - t0.tv_nsec)) / 1e3 / (outs ? outs : 1);
	if (fails)
		return 1;
	printf("kvm_smoke: API %d; OUT/IN/HLT exits as the guest did them; "
	       "%u PIO exits at %.1f us each\n", api, outs, us);
	return 0;
}
