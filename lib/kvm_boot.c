/* SPDX-License-Identifier: MIT */
/*
 * vcon_vm_load_bzimage: read the kernel and initrd, lay them out
 * (bzimage.c), write the MP table at 0xf0000 (so the kernel finds the I/O
 * APIC and the other vCPUs without ACPI) and the ACPI tables, and start
 * vCPU 0 at code32_start in 32-bit protected mode, paging off, with %esi
 * pointing at boot_params, as the boot protocol requires.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bzimage.h"
#include "internal.h"
#include "kvm_impl.h"
#include "le.h"

#define MPTABLE_ADDR 0xf0000

/*
 * Read a whole file into malloc'd memory, or return NULL with *rc and err
 * naming the file. A regular file can hold fewer bytes than its size says
 * (sysfs attributes report 4096, a file truncated under us): that is an
 * error, not a short image.
 */
static uint8_t *
slurp(const char *path, size_t *len, int *rc, struct vcon_error *err)
{
	struct stat st;
	uint8_t *buf = NULL;
	ssize_t n;
	size_t got = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	*len = 0;
	if (fd < 0) {
		*rc = vcon__fail(err, neg_errno(), "%s: %s", path,
				 strerror(errno));
		return NULL;
	}
	if (fstat(fd, &st) < 0) {
		*rc = vcon__fail(err, neg_errno(), "%s: %s", path,
				 strerror(errno));
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		*rc = vcon__fail(err, -EINVAL, "%s: not a regular file", path);
		goto out;
	}
	buf = malloc((size_t)st.st_size + 1);
	if (!buf) {
		*rc = vcon__fail(err, -ENOMEM, "%s: no memory for %lld bytes",
				 path, (long long)st.st_size);
		goto out;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n < 0)
				*rc = vcon__fail(err, neg_errno(), "%s: %s",
						 path, strerror(errno));
			else
				*rc = vcon__fail(err, -EIO,
						 "%s: ends after %zu of the "
						 "%lld bytes its size says",
						 path, got,
						 (long long)st.st_size);
			free(buf);
			buf = NULL;
			goto out;
		}
		got += (size_t)n;
	}
	*len = got;
out:
	close(fd);
	return buf;
}

/*
 * Intel MultiProcessor Specification 1.4: a floating pointer, then a
 * configuration table with one processor entry per vCPU, an ISA bus, the
 * I/O APIC, ISA IRQ n wired to I/O APIC pin n (as KVM's default routing
 * does), and the local interrupts (ExtINT on LINT0, NMI on LINT1).
 */
static void
write_mptable(struct vcon_vm *vm)
{
	uint8_t *fp = vm->mem + MPTABLE_ADDR;
	uint8_t *t = fp + 16, *e = t + 44;
	unsigned i, entries = 0, ioapic_id = vm->nr_vcpus;

	memset(fp, 0, 16 + 44 + 20 * 64 + 8 * 40);
	for (i = 0; i < vm->nr_vcpus; i++, entries++, e += 20) {
		e[0] = 0;          /* processor */
		e[1] = (uint8_t)i; /* local APIC ID */
		e[2] = 0x14;       /* local APIC version */
		/* enabled, and the BSP for CPU 0 */
		e[3] = (uint8_t)(0x01 | (i == 0 ? 0x02 : 0));
		put32(e + 4, 0x600); /* family 6 signature */
		put32(e + 8, 0x201); /* FPU, APIC */
	}
	memcpy(e, "\x01\x00ISA   ", 8); /* bus 0: ISA */
	e += 8, entries++;
	e[0] = 2; /* I/O APIC */
	e[1] = (uint8_t)ioapic_id;
	e[2] = 0x11;
	e[3] = 0x01;
	put32(e + 4, 0xfec00000u);
	e += 8, entries++;
	for (i = 0; i < 16; i++, e += 8, entries++) {
		e[0] = 3;          /* I/O interrupt */
		e[1] = 0;          /* INT */
		e[4] = 0;          /* source bus ISA */
		e[5] = (uint8_t)i; /* source IRQ */
		e[6] = (uint8_t)ioapic_id;
		e[7] = (uint8_t)i; /* pin */
	}
	for (i = 0; i < 2; i++, e += 8, entries++) {
		e[0] = 4;              /* local interrupt */
		e[1] = i == 0 ? 3 : 1; /* ExtINT, NMI */
		e[4] = 0;
		e[5] = 0;
		e[6] = 0xff;       /* all local APICs */
		e[7] = (uint8_t)i; /* LINT0, LINT1 */
	}
	memcpy(t, "PCMP", 4);
	put16(t + 4, (uint16_t)(e - t));
	t[6] = 4; /* spec 1.4 */
	memcpy(t + 8, "LIBVCON ", 8);
	memcpy(t + 16, "TINYVMM     ", 12);
	put16(t + 34, (uint16_t)entries);
	put32(t + 36, 0xfee00000u); /* local APIC address */
	t[7] = checksum(t, (size_t)(e - t));

	memcpy(fp, "_MP_", 4);
	put32(fp + 4, MPTABLE_ADDR + 16);
	fp[8] = 1; /* length in 16 bytes */
	fp[9] = 4;
	fp[10] = checksum(fp, 16);
}

static int
set_entry_state(struct vm_vcpu *c, uint32_t entry)
{
	struct kvm_segment code = {
		.base = 0,
		.limit = 0xffffffff,
		.selector = 0x10,
		.type = 0xb,
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.l = 0,
		.g = 1,
	};
	struct kvm_segment data = code;
	struct kvm_sregs s;
	struct kvm_regs r;

	data.selector = 0x18;
	data.type = 0x3;
	if (ioctl(c->fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.gdt.base = VCON__BOOT_GDT;
	s.gdt.limit = 4 * 8 - 1;
	s.cr0 = 0x11; /* PE, ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.rip = entry;
	r.rsi = VCON__BOOT_PARAMS;
	r.rflags = 0x2;
	if (ioctl(c->fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

VCON_API int
vcon_vm_load_bzimage(struct vcon_vm *vm, const char *kernel, const char *initrd,
		     const char *cmdline, struct vcon_error *err)
{
	struct vcon__boot_files b = { .kernel = kernel,
				      .initrd = initrd,
				      .cmdline = cmdline };
	uint8_t *img, *rd = NULL;
	uint32_t entry;
	int rc;

	img = slurp(kernel, &b.img_len, &rc, err);
	if (!img)
		return rc;
	if (initrd) {
		rd = slurp(initrd, &b.rd_len, &rc, err);
		if (!rd)
			goto out;
	}
	b.img = img;
	b.rd = rd;
	rc = vcon__bzimage_place(vm->mem, vm->low_size, vm->high_size, &b,
				 &entry, err);
	if (rc)
		goto out;
	write_mptable(vm);
	if (vm->acpi)
		vcon__acpi_write_tables(vm, vm->mem + VCON__BOOT_PARAMS);
	rc = set_entry_state(&vm->vcpus[0], entry);
	if (rc)
		vcon__fail(err, rc, "setting vCPU 0's entry state: %s",
			   strerror(-rc));
out:
	free(img);
	free(rd);
	return rc;
}
