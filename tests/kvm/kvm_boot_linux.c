/* SPDX-License-Identifier: MIT */
/*
 * End to end: Debian's stock kernel boots on libvcon's KVM layer with
 * libvcon's 16550A at COM1 (IRQ 4 through the in-kernel irqchip), and
 * Linux's own 8250 driver probes it. Asserts that
 *   - the kernel identifies the port: "ttyS0 at I/O 0x3f8 (irq = 4,
 *     base_baud = 115200) is a 16550A";
 *   - init's output reaches the host through the interrupt-driven tty
 *     path, byte for byte;
 *   - init's `reboot -f` ends the VM with VCON_VM_EXIT_REBOOT through the
 *     reset ports (Linux without ACPI pulses the keyboard controller);
 *   - with COM1's data port coalesced (vcon_vm_coalesce_pio), every byte
 *     still arrives in order and none of them as an exit of its own;
 *   - KVM maps the guest's RAM with 2 MiB pages where the host has
 *     transparent huge pages (guest RAM starts on a 2 MiB boundary).
 * Run through tests/with-kvm: kvm_boot_linux BZIMAGE INITRD
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include <vcon/bus.h>
#include <vcon/kvm.h>
#include <vcon/uart.h>

#include "le_get.h"
#include "vmm_driver.h" /* VMM_L1_BROKEN */

#define LOG_MAX (1 << 20)
#define MARKER "LIBVCON-INIT-OK 0123456789abcdefghijklmnopqrstuvwxyz"

struct com {
	pthread_mutex_t lock;
	struct vcon_uart *uart;
	struct vcon_vm *vm;
	char log[LOG_MAX];
	size_t len;
	_Atomic bool stalled; /* the watchdog stopped a silent guest */
};

static size_t
sink(void *ctx, const uint8_t *buf, size_t len)
{
	struct com *c = ctx;
	size_t n = len < LOG_MAX - 1 - c->len ? len : LOG_MAX - 1 - c->len;

	memcpy(c->log + c->len, buf, n);
	c->len += n;
	c->log[c->len] = '\0';
	return len;
}

static uint64_t
com_read(void *ctx, uint64_t off, unsigned size)
{
	struct com *c = ctx;
	uint8_t v;

	(void)size;
	pthread_mutex_lock(&c->lock);
	v = vcon_uart_read(c->uart, (unsigned)off, vcon_now_ns());
	pthread_mutex_unlock(&c->lock);
	return v;
}

static void
com_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct com *c = ctx;

	(void)size;
	pthread_mutex_lock(&c->lock);
	vcon_uart_write(c->uart, (unsigned)off, (uint8_t)val, vcon_now_ns());
	pthread_mutex_unlock(&c->lock);
}

static const struct vcon_bus_ops com_ops = {
	.read = com_read,
	.write = com_write,
	.max_access = 1,
};

/*
 * A boot takes under half a minute. A console that stays silent for a
 * minute is the nested stall of docs/testing-kvm.md (the guest no longer
 * runs), and one that has not rebooted after 200 s has failed: either way
 * the VM is stopped. A vCPU that does not come out of KVM_RUN 30 s after
 * that is stuck in the L1's KVM, which nothing here can end. A stall and
 * a stuck vCPU are the machine's faults, not libvcon's: the test exits
 * VMM_L1_BROKEN and tests/with-kvm boots the L1 again, all within the
 * 270 s its L1 allows the test.
 */
static void *
watchdog(void *arg)
{
	struct com *c = arg;
	size_t len, last = 0;
	int t, quiet = 0;

	for (t = 0; t < 200 && quiet < 60; t++) {
		sleep(1);
		pthread_mutex_lock(&c->lock);
		len = c->len;
		pthread_mutex_unlock(&c->lock);
		quiet = len == last ? quiet + 1 : 0;
		last = len;
	}
	if (quiet == 60) {
		fprintf(stderr, "kvm_boot_linux: the console stopped at %zu "
				"bytes for 60 s: the nested stall\n", last);
		c->stalled = true;
	} else {
		fprintf(stderr, "kvm_boot_linux: the guest did not reboot "
				"within 200 s\n");
	}
	vcon_vm_request_stop(c->vm, VCON_VM_EXIT_ERROR);
	sleep(30);
	fprintf(stderr, "kvm_boot_linux: the vCPU is still in KVM_RUN 30 s "
			"after the stop: stuck in the L1's kernel\n");
	_exit(VMM_L1_BROKEN);
}

/*
 * 1 TiB (tinyvmm's -m limit) ends at 1 TiB + 1 GiB in the guest: KVM takes
 * it where the host CPU has more than 40 physical address bits, and
 * refuses it otherwise (the nested L1 has 40), which must read as what
 * it is rather than as a failed ioctl.
 */
static int
check_too_much_memory(void)
{
	struct vcon_vm_config cfg = { .mem_size = 1ull << 40 };
	struct vcon_error err = { "" };
	struct vcon_vm *vm;
	unsigned a, b, c, d, bits;
	char want[160];
	int rc;

	bits = __get_cpuid(0x80000008, &a, &b, &c, &d) ? a & 0xff : 36;
	rc = vcon_vm_new(&cfg, &vm, &err);
	if (bits > 40) {
		if (rc == 0) {
			vcon_vm_free(vm);
			return 1;
		}
		fprintf(stderr, "kvm_boot_linux: a 1 TiB VM on a %u-bit host: "
				"%s\n", bits, err.msg);
		return 0;
	}
	snprintf(want, sizeof(want),
		 "1024 GiB of memory ends at 1025 GiB in the guest, past the "
		 "%u-bit physical addresses this host has", bits);
	if (rc != -EINVAL || strcmp(err.msg, want)) {
		fprintf(stderr, "kvm_boot_linux: a 1 TiB VM on a %u-bit host "
				"gave %d '%s'\n", bits, rc, err.msg);
		if (rc == 0)
			vcon_vm_free(vm);
		return 0;
	}
	return 1;
}

/*
 * RAM above 3 GiB lives from 4 GiB: guest memory is reachable on both
 * sides of the hole and nowhere in it, nor across its edges.
 */
static int
check_split_memory(void)
{
	struct vcon_vm_config cfg = { .mem_size = 5ull << 30 };
	struct vcon_error err = { "" };
	struct vcon_gmem m;
	struct vcon_vm *vm;
	uint8_t *lo, *hi;
	int ok = 1;

	if (vcon_vm_new(&cfg, &vm, &err)) {
		fprintf(stderr, "kvm_boot_linux: 5 GiB VM: %s\n", err.msg);
		return 0;
	}
	m = vcon_vm_gmem(vm);
	lo = m.map(m.ctx, (3ull << 30) - 16, 16);
	hi = m.map(m.ctx, 4ull << 30, 16);
	ok &= lo && hi && hi == lo + 16; /* one host block, split in two */
	/* KVM maps 2 MiB pages only where host and guest agree mod 2 MiB. */
	ok &= ((uintptr_t)m.map(m.ctx, 0, 1) & ((2u << 20) - 1)) == 0;
	ok &= m.map(m.ctx, (3ull << 30) - 8, 16) == NULL;
	ok &= m.map(m.ctx, 0xe0000000u, 1) == NULL;
	ok &= m.map(m.ctx, (4ull << 30) - 8, 16) == NULL;
	ok &= m.map(m.ctx, (6ull << 30) - 16, 16) != NULL;
	ok &= m.map(m.ctx, (6ull << 30) - 8, 16) == NULL;
	ok &= m.write(m.ctx, (6ull << 30) - 4, "abcd", 4) == 0;
	ok &= m.write(m.ctx, 6ull << 30, "abcd", 4) == -EFAULT;
	vcon_vm_free(vm);
	if (!ok)
		fprintf(stderr, "kvm_boot_linux: guest memory around the "
				"3-4 GiB hole is wrong\n");
	return ok && check_too_much_memory();
}

/* A sparse file of len bytes under $TMPDIR; returns its path. */
static const char *
zero_file(char *path, size_t cap, uint64_t len)
{
	const char *dir = getenv("TMPDIR");
	int fd;

	snprintf(path, cap, "%s/kvm_boot_linux.XXXXXX", dir ? dir : "/tmp");
	fd = mkstemp(path);
	if (fd < 0 || ftruncate(fd, (off_t)len) < 0) {
		perror("kvm_boot_linux: a scratch initrd");
		exit(1);
	}
	close(fd);
	return path;
}

/*
 * The bzImage moves itself to the end of an init_size buffer at its
 * preferred address before it decompresses (boot protocol 2.10, Linux's
 * compressed/head_64.S). Less RAM than that ends is refused, naming what
 * the kernel needs; so is an initrd that would lie in that buffer, where
 * the kernel would overwrite it (the old rule, twice the payload above
 * 1 MiB, let a 17 MiB initrd into a 96 MiB guest there).
 */
static int
check_decompress_room(const char *kernel)
{
	struct vcon_vm_config cfg = { .nr_vcpus = 1 };
	struct vcon_error err = { "" };
	char want[512], path[256];
	uint8_t hdr[0x264];
	uint64_t end, small, room;
	struct vcon_vm *vm;
	FILE *f = fopen(kernel, "rb");
	int rc, ok = 1;

	if (!f || fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr)) {
		fprintf(stderr, "kvm_boot_linux: cannot read %s\n", kernel);
		return 0;
	}
	fclose(f);
	/* Debian's kernels: 2 MiB aligned, relocatable, 16 MiB preferred. */
	end = le_get(hdr + 0x258, 8);
	if (end < (2u << 20))
		end = 2u << 20;
	end += le_get(hdr + 0x260, 4);
	small = ((end - 1) >> 20) << 20;

	cfg.mem_size = small;
	if (vcon_vm_new(&cfg, &vm, &err)) {
		fprintf(stderr, "kvm_boot_linux: small VM: %s\n", err.msg);
		return 0;
	}
	rc = vcon_vm_load_bzimage(vm, kernel, NULL, "", &err);
	snprintf(want, sizeof(want),
		 "%s: needs %llu MiB of guest memory to decompress; the guest "
		 "has %llu MiB",
		 kernel, (unsigned long long)(end + 0xfffff) >> 20,
		 (unsigned long long)small >> 20);
	if (rc != -ENOMEM || strcmp(err.msg, want)) {
		fprintf(stderr, "kvm_boot_linux: %llu MiB for a kernel that "
				"ends at %#llx gave %d '%s'\n",
			(unsigned long long)small >> 20,
			(unsigned long long)end, rc, err.msg);
		ok = 0;
	}
	vcon_vm_free(vm);

	cfg.mem_size = ((end >> 20) + 16) << 20;
	room = (cfg.mem_size - end) & ~0xfffull;
	if (vcon_vm_new(&cfg, &vm, &err)) {
		fprintf(stderr, "kvm_boot_linux: VM: %s\n", err.msg);
		return 0;
	}
	rc = vcon_vm_load_bzimage(vm, kernel,
				  zero_file(path, sizeof(path), room + 4096),
				  "", &err);
	unlink(path);
	if (rc != -EFBIG || !strstr(err.msg, "initrd too large for memory")) {
		fprintf(stderr, "kvm_boot_linux: an initrd over the kernel's "
				"decompression area gave %d '%s'\n", rc, err.msg);
		ok = 0;
	}
	rc = vcon_vm_load_bzimage(vm, kernel,
				  zero_file(path, sizeof(path), room), "",
				  &err);
	unlink(path);
	if (rc) {
		fprintf(stderr, "kvm_boot_linux: an initrd that just fits "
				"gave %d '%s'\n", rc, err.msg);
		ok = 0;
	}
	vcon_vm_free(vm);
	return ok;
}

/* Whether the kernel would back anonymous memory with huge pages. */
static bool
thp_enabled(void)
{
	char buf[128] = "";
	FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");

	if (!f)
		return false;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	return !strstr(buf, "[never]");
}

/*
 * KVM's own count of the guest memory it maps with 4 KiB and with 2 MiB
 * pages (the VM's binary stats, Linux 5.14 and later). The VM's fd is
 * libvcon's, so find it the way a debugger would: the only kvm-vm file
 * this process has open. Returns false if KVM has no such stats.
 */
static bool
kvm_page_counts(uint64_t *p4k, uint64_t *p2m)
{
	struct kvm_stats_header h;
	char path[64], link[64];
	int fd = -1, sfd, i, found = 0;
	uint8_t *desc = NULL;
	size_t dsz;

	for (i = 3; i < 1024 && fd < 0; i++) {
		ssize_t n;

		snprintf(path, sizeof(path), "/proc/self/fd/%d", i);
		n = readlink(path, link, sizeof(link) - 1);
		if (n > 0) {
			link[n] = '\0';
			if (!strcmp(link, "anon_inode:kvm-vm"))
				fd = i;
		}
	}
	if (fd < 0)
		return false;
	sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (sfd < 0)
		return false;
	if (pread(sfd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		goto out;
	dsz = sizeof(struct kvm_stats_desc) + h.name_size;
	desc = malloc(dsz * h.num_desc);
	if (!desc || pread(sfd, desc, dsz * h.num_desc, h.desc_offset) !=
			     (ssize_t)(dsz * h.num_desc))
		goto out;
	for (i = 0; i < (int)h.num_desc; i++) {
		struct kvm_stats_desc *d = (void *)(desc + (size_t)i * dsz);
		uint64_t v;

		if (pread(sfd, &v, sizeof(v), h.data_offset + d->offset) !=
		    (ssize_t)sizeof(v))
			continue;
		if (!strcmp(d->name, "pages_4k")) {
			*p4k = v;
			found |= 1;
		} else if (!strcmp(d->name, "pages_2m")) {
			*p2m = v;
			found |= 2;
		}
	}
out:
	free(desc);
	close(sfd);
	return found == 3;
}

int
main(int argc, char **argv)
{
	static struct com com;
	struct vcon_vm_config vcfg = { .mem_size = 512u << 20,
				       .nr_vcpus = 1 };
	struct vcon_error err = { "" };
	enum vcon_vm_exit why;
	struct vcon_vm_stats st;
	uint64_t p4k = 0, p2m = 0;
	pthread_t wd;
	int rc, coalesced, ok = 1;

	if (argc != 3) {
		fprintf(stderr, "usage: kvm_boot_linux BZIMAGE INITRD\n");
		return 2;
	}
	if (!check_split_memory() || !check_decompress_room(argv[1]))
		return 1;
	pthread_mutex_init(&com.lock, NULL);
	if (vcon_vm_new(&vcfg, &com.vm, &err)) {
		fprintf(stderr, "kvm_boot_linux: %s\n", err.msg);
		return 1;
	}
	struct vcon_uart_config ucfg = {
		.irq = vcon_vm_irq(com.vm, VCON_COM1_IRQ),
		.tx = { .write = sink, .ctx = &com },
	};
	if (vcon_vm_add_reset_ports(com.vm) ||
	    vcon_vm_add_reset_ports(com.vm) != -EEXIST ||
	    vcon_uart_new(&ucfg, &com.uart) ||
	    vcon_bus_map(vcon_vm_pio_bus(com.vm), VCON_COM1_BASE,
			 VCON_UART_NREGS, &com_ops, &com)) {
		fprintf(stderr, "kvm_boot_linux: wiring COM1 failed\n");
		return 1;
	}
	if (vcon_vm_coalesce_pio(com.vm, 0xffff, 2) != -EINVAL ||
	    vcon_vm_coalesce_pio(com.vm, VCON_COM1_BASE, 0) != -EINVAL) {
		fprintf(stderr, "kvm_boot_linux: a port window out of range "
				"was not refused\n");
		return 1;
	}
	coalesced = vcon_vm_coalesce_pio(com.vm, VCON_COM1_BASE, 1);
	if (coalesced && coalesced != -EOPNOTSUPP) {
		fprintf(stderr, "kvm_boot_linux: coalescing COM1: %s\n",
			strerror(-coalesced));
		return 1;
	}
	coalesced = !coalesced;
	/* Bad input first: one line that names the file and the problem. */
	rc = vcon_vm_load_bzimage(com.vm, argv[2], NULL, "", &err);
	if (rc != -ENOEXEC || !strstr(err.msg, "not a bzImage")) {
		fprintf(stderr, "kvm_boot_linux: an initrd loaded as a kernel "
				"gave %d '%s'\n", rc, err.msg);
		return 1;
	}
	rc = vcon_vm_load_bzimage(com.vm, "/nonexistent/bzImage", NULL, "",
				  &err);
	if (rc != -ENOENT ||
	    strcmp(err.msg, "/nonexistent/bzImage: No such file or directory")) {
		fprintf(stderr, "kvm_boot_linux: a missing kernel gave %d '%s'\n",
			rc, err.msg);
		return 1;
	}
	rc = vcon_vm_load_bzimage(com.vm, argv[1], "/dev/null", "", &err);
	if (rc != -EINVAL ||
	    strcmp(err.msg, "/dev/null: not a regular file")) {
		fprintf(stderr, "kvm_boot_linux: /dev/null as the initrd "
				"gave %d '%s'\n", rc, err.msg);
		return 1;
	}
	/* A sysfs attribute's size is 4096, whatever it holds. */
	rc = vcon_vm_load_bzimage(com.vm, argv[1], "/sys/kernel/uevent_seqnum",
				  "", &err);
	if (rc != -EIO || !strstr(err.msg, "/sys/kernel/uevent_seqnum: ends "
					   "after ")) {
		fprintf(stderr, "kvm_boot_linux: an initrd shorter than its "
				"size gave %d '%s'\n", rc, err.msg);
		return 1;
	}
	if (vcon_vm_load_bzimage(com.vm, argv[1], argv[2],
				 "console=ttyS0 panic=-1 loglevel=7",
				 &err)) {
		fprintf(stderr, "kvm_boot_linux: %s\n", err.msg);
		return 1;
	}
	pthread_create(&wd, NULL, watchdog, &com);
	pthread_detach(wd);
	rc = vcon_vm_run(com.vm, &why, &err);
	if (com.stalled)
		return VMM_L1_BROKEN;
	if (rc || why != VCON_VM_EXIT_REBOOT) {
		fprintf(stderr, "kvm_boot_linux: the VM stopped (rc %d, why %d): %s\n",
			rc, (int)why, err.msg);
		ok = 0;
	}
	if (!strstr(com.log, "ttyS0 at I/O 0x3f8 (irq = 4, base_baud = "
			     "115200) is a 16550A")) {
		fprintf(stderr, "kvm_boot_linux: Linux did not report "
				"ttyS0 as a 16550A\n");
		ok = 0;
	}
	if (!strstr(com.log, MARKER "\r\n")) {
		fprintf(stderr, "kvm_boot_linux: init's marker did not arrive intact\n");
		ok = 0;
	}
	/* Every byte in the log was a THR write; coalesced, none exited. */
	vcon_vm_get_stats(com.vm, &st);
	if (st.coalesced_pending) {
		fprintf(stderr, "kvm_boot_linux: %u coalesced writes left in "
				"the ring after the VM stopped\n",
			st.coalesced_pending);
		ok = 0;
	}
	if (coalesced && (st.coalesced_writes < com.len || !st.io_exits)) {
		fprintf(stderr, "kvm_boot_linux: %zu bytes out but %llu "
				"coalesced writes, %llu port exits\n",
			com.len, (unsigned long long)st.coalesced_writes,
			(unsigned long long)st.io_exits);
		ok = 0;
	}
	/*
	 * Guest RAM on a 2 MiB boundary lets KVM map it 2 MiB at a time
	 * (with 4 KiB host alignment it was 4 KiB throughout: some 29,000
	 * pages for this boot, each a fault the guest took first).
	 */
	if (kvm_page_counts(&p4k, &p2m) && thp_enabled() && p2m == 0) {
		fprintf(stderr, "kvm_boot_linux: KVM mapped the guest's memory "
				"with no 2 MiB pages (%llu of 4 KiB)\n",
			(unsigned long long)p4k);
		ok = 0;
	}
	if (!ok) {
		FILE *f = fopen("build/e2e/kvm_boot_linux.log", "w");

		if (f) {
			fwrite(com.log, 1, com.len, f);
			fclose(f);
		}
		fprintf(stderr, "kvm_boot_linux: guest console in "
				"build/e2e/kvm_boot_linux.log\n");
		return 1;
	}
	printf("kvm_boot_linux: Linux booted on libvcon: ttyS0 is a 16550A, "
	       "%zu console bytes, init's output intact, reboot seen; "
	       "%llu port exits, %llu coalesced writes; KVM's pages: "
	       "%llu of 2 MiB, %llu of 4 KiB\n",
	       com.len, (unsigned long long)st.io_exits,
	       (unsigned long long)st.coalesced_writes,
	       (unsigned long long)p2m, (unsigned long long)p4k);
	vcon_uart_free(com.uart);
	vcon_vm_free(com.vm);
	return 0;
}
