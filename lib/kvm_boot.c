/* SPDX-License-Identifier: MIT */
/*
 * Loading a Linux bzImage without firmware, per the kernel's x86 boot
 * protocol (Documentation/arch/x86/boot.rst), 32-bit entry:
 *
 *   0x00500  GDT with the flat __BOOT_CS (0x10) and __BOOT_DS (0x18)
 *   0x07000  boot_params ("zero page"): the setup header, e820 map
 *   0x20000  command line
 *   0xf0000  MP floating pointer and configuration table (BIOS area,
 *            reserved in e820), so the kernel finds the I/O APIC and the
 *            other vCPUs without ACPI
 *   0x100000 the protected-mode kernel; the initrd goes at the top of RAM
 *
 * vCPU 0 starts at code32_start in 32-bit protected mode, paging off,
 * with %esi pointing at boot_params, as the protocol requires.
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

#include "internal.h"
#include "kvm_impl.h"
#include "le.h"

#define GDT_ADDR     0x500
#define BOOT_PARAMS  0x7000
#define CMDLINE_ADDR 0x20000
#define MPTABLE_ADDR 0xf0000
#define KERNEL_ADDR  0x100000
#define EBDA_START   0x9fc00

/* boot_params offsets (arch/x86/include/uapi/asm/bootparam.h) */
#define BP_E820_ENTRIES     0x1e8
#define BP_HDR              0x1f1
#define BP_E820_TABLE       0x2d0
#define HDR_SETUP_SECTS     0x1f1
#define HDR_JUMP_END        0x201 /* header ends at 0x202 + this byte */
#define HDR_MAGIC           0x202
#define HDR_VERSION         0x206
#define HDR_TYPE_OF_LOADER  0x210
#define HDR_LOADFLAGS       0x211
#define HDR_CODE32_START    0x214
#define HDR_RAMDISK_IMAGE   0x218
#define HDR_RAMDISK_SIZE    0x21c
#define HDR_HEAP_END_PTR    0x224
#define HDR_CMD_LINE_PTR    0x228
#define HDR_INITRD_ADDR_MAX 0x22c
#define HDR_KERNEL_ALIGN    0x230
#define HDR_CMDLINE_SIZE    0x238
#define HDR_PREF_ADDRESS    0x258 /* protocol 2.10 */
#define HDR_INIT_SIZE       0x260 /* protocol 2.10 */
#define LOADED_HIGH         0x01
#define CAN_USE_HEAP        0x80

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

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

static void
add_e820(uint8_t *bp, uint64_t addr, uint64_t size, uint32_t type)
{
	uint8_t *ent = bp + BP_E820_TABLE + 20 * bp[BP_E820_ENTRIES];

	put64(ent, addr);
	put64(ent + 8, size);
	put32(ent + 16, type);
	bp[BP_E820_ENTRIES]++;
}

static int
set_entry_state(struct vm_vcpu *c)
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
	s.gdt.base = GDT_ADDR;
	s.gdt.limit = 4 * 8 - 1;
	s.cr0 = 0x11; /* PE, ET */
	s.cr4 = 0;
	s.efer = 0;
	if (ioctl(c->fd, KVM_SET_SREGS, &s) < 0)
		return -errno;
	memset(&r, 0, sizeof(r));
	r.rip = get32(c->vm->mem + BOOT_PARAMS + HDR_CODE32_START);
	r.rsi = BOOT_PARAMS;
	r.rflags = 0x2;
	if (ioctl(c->fd, KVM_SET_REGS, &r) < 0)
		return -errno;
	return 0;
}

/*
 * Where the guest's memory stops being the kernel's own while it
 * decompresses. The bzImage's 32-bit entry moves its payload to the end
 * of an init_size buffer at its preferred address (or its load address
 * aligned up, if higher: Linux's compressed/head_64.S) before it reads
 * anything else, so that whole buffer must be RAM and must not hold the
 * initrd. Before protocol 2.10 the header does not say; twice the payload
 * above the load address is the old rule of thumb.
 */
static uint64_t
decompress_end(const uint8_t *img, uint16_t version, size_t payload)
{
	uint64_t align, start, pref;

	if (version < 0x020a)
		return KERNEL_ADDR + 2 * (uint64_t)payload;
	align = get32(img + HDR_KERNEL_ALIGN);
	if (!align || (align & (align - 1)))
		align = 1;
	start = (KERNEL_ADDR + align - 1) & ~(align - 1);
	pref = get32(img + HDR_PREF_ADDRESS) |
	       (uint64_t)get32(img + HDR_PREF_ADDRESS + 4) << 32;
	if (pref > start)
		start = pref;
	return start + get32(img + HDR_INIT_SIZE);
}

VCON_API int
vcon_vm_load_bzimage(struct vcon_vm *vm, const char *kernel, const char *initrd,
		     const char *cmdline, struct vcon_error *err)
{
	static const uint64_t gdt[4] = {
		0, 0,
		0x00cf9b000000ffffull, /* 0x10: flat 4 GiB code, read/exec */
		0x00cf93000000ffffull, /* 0x18: flat 4 GiB data, read/write */
	};
	uint8_t *img = NULL, *rd = NULL, *bp = vm->mem + BOOT_PARAMS;
	size_t img_len = 0, rd_len = 0, setup_len, hdr_end;
	uint64_t kernel_end, room;
	uint32_t cmdline_max = 255, rd_max, rd_addr = 0;
	uint16_t version;
	unsigned setup_sects;
	int rc;

	img = slurp(kernel, &img_len, &rc, err);
	if (!img)
		return rc;
	if (img_len < 0x300 || memcmp(img + HDR_MAGIC, "HdrS", 4)) {
		rc = vcon__fail(err, -ENOEXEC,
				"%s: not a bzImage (no HdrS header)", kernel);
		goto out;
	}
	version = (uint16_t)(img[HDR_VERSION] | img[HDR_VERSION + 1] << 8);
	if (version < 0x0206 || !(img[HDR_LOADFLAGS] & LOADED_HIGH)) {
		rc = vcon__fail(err, -ENOEXEC,
				"%s: boot protocol %x.%02x or not a "
				"bzImage; need 2.06 or later",
				kernel, version >> 8, version & 0xff);
		goto out;
	}
	setup_sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	setup_len = (setup_sects + 1) * 512;
	if (setup_len >= img_len ||
	    KERNEL_ADDR + (img_len - setup_len) > vm->low_size) {
		rc = vcon__fail(err, -ENOEXEC,
				"%s: truncated, or larger than memory", kernel);
		goto out;
	}
	kernel_end = decompress_end(img, version, img_len - setup_len);
	if (kernel_end > vm->low_size) {
		rc = vcon__fail(err, -ENOMEM,
				"%s: needs %llu MiB of guest memory to "
				"decompress; the guest has %llu MiB%s",
				kernel,
				(unsigned long long)(kernel_end + 0xfffff) >>
					20,
				(unsigned long long)vm->low_size >> 20,
				vm->high_size ? " below 4 GiB" : "");
		goto out;
	}
	/* The header's limit, and the room below the EBDA whatever it says. */
	cmdline_max = get32(img + HDR_CMDLINE_SIZE);
	if (cmdline_max > EBDA_START - CMDLINE_ADDR - 1)
		cmdline_max = EBDA_START - CMDLINE_ADDR - 1;
	if (cmdline && strlen(cmdline) > cmdline_max) {
		rc = vcon__fail(err, -E2BIG,
				"command line longer than the kernel's "
				"%u bytes",
				cmdline_max);
		goto out;
	}

	memset(vm->mem, 0, KERNEL_ADDR);
	memcpy(vm->mem + GDT_ADDR, gdt, sizeof(gdt));
	hdr_end = 0x202 + img[HDR_JUMP_END];
	memcpy(bp + BP_HDR, img + BP_HDR, hdr_end - BP_HDR);
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	bp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	put16(bp + HDR_HEAP_END_PTR, 0xfe00);
	put32(bp + HDR_CMD_LINE_PTR, CMDLINE_ADDR);
	if (cmdline)
		memcpy(vm->mem + CMDLINE_ADDR, cmdline, strlen(cmdline) + 1);
	memcpy(vm->mem + KERNEL_ADDR, img + setup_len, img_len - setup_len);

	if (initrd) {
		rd = slurp(initrd, &rd_len, &rc, err);
		if (!rd)
			goto out;
		/* At the top of RAM, below the kernel's limit, page aligned. */
		rd_max = get32(img + HDR_INITRD_ADDR_MAX);
		if (!rd_max || rd_max > vm->low_size - 1)
			rd_max = (uint32_t)(vm->low_size - 1);
		room = rd_max + 1 > kernel_end ? rd_max + 1 - kernel_end : 0;
		if (rd_len > rd_max ||
		    ((rd_max + 1 - rd_len) & ~0xfffu) < kernel_end) {
			rc = vcon__fail(err, -EFBIG,
					"%s: initrd too large for memory: %zu "
					"bytes, and %llu fit above the "
					"kernel's decompression area",
					initrd, rd_len,
					(unsigned long long)room & ~0xfffull);
			goto out;
		}
		rd_addr = (uint32_t)((rd_max + 1 - rd_len) & ~0xfffu);
		memcpy(vm->mem + rd_addr, rd, rd_len);
		put32(bp + HDR_RAMDISK_IMAGE, rd_addr);
		put32(bp + HDR_RAMDISK_SIZE, (uint32_t)rd_len);
	}

	bp[BP_E820_ENTRIES] = 0;
	add_e820(bp, 0, EBDA_START, 1);
	add_e820(bp, EBDA_START, 0xa0000 - EBDA_START, 2);
	/* The BIOS area: MP table at 0xF0000, ACPI tables at 0xE0000. */
	add_e820(bp, 0xe0000, 0x20000, 2);
	add_e820(bp, KERNEL_ADDR, vm->low_size - KERNEL_ADDR, 1);
	if (vm->high_size)
		add_e820(bp, VCON__HIGH_MEM_BASE, vm->high_size, 1);
	write_mptable(vm);
	if (vm->acpi)
		vcon__acpi_write_tables(vm, bp);
	rc = set_entry_state(&vm->vcpus[0]);
	if (rc)
		vcon__fail(err, rc, "setting vCPU 0's entry state: %s",
			   strerror(-rc));
out:
	free(img);
	free(rd);
	return rc;
}
