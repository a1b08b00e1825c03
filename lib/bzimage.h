/* SPDX-License-Identifier: MIT */
/*
 * Where a Linux bzImage, its initrd and its command line go in guest RAM
 * for the kernel's x86 boot protocol, 32-bit entry. No KVM in here, so a
 * fuzzer can give it any image (tests/fuzz/fuzz_bzimage.c).
 */
#ifndef VCON_BZIMAGE_H
#define VCON_BZIMAGE_H

#include <stddef.h>
#include <stdint.h>

struct vcon_error;

#define VCON__BOOT_GDT      0x500  /* __BOOT_CS 0x10, __BOOT_DS 0x18 */
#define VCON__BOOT_PARAMS   0x7000 /* the "zero page" */
#define VCON__BOOT_CMDLINE  0x20000
#define VCON__BOOT_EBDA     0x9fc00 /* reserved from here to 640 KiB */
#define VCON__BOOT_FIRMWARE 0xe0000 /* ACPI and MP tables, reserved */
#define VCON__BOOT_KERNEL   0x100000

struct vcon__boot_files {
	const char *kernel; /* names, for messages */
	const uint8_t *img;
	size_t img_len;
	const char *initrd; /* NULL: no initrd */
	const uint8_t *rd;
	size_t rd_len;
	const char *cmdline; /* NULL: empty */
};

/*
 * Check b against a guest of low_size bytes of RAM at 0 and high_size
 * more at 4 GiB, then lay it out in mem (the low_size bytes at 0): the
 * GDT, boot_params with the kernel's setup header and the e820 map, the
 * command line, the protected-mode kernel at 1 MiB, the initrd at the
 * top of RAM. Returns 0 and the 32-bit entry point, or a negative errno
 * with err naming the file and the problem and mem untouched.
 */
int vcon__bzimage_place(uint8_t *mem, uint64_t low_size, uint64_t high_size,
			const struct vcon__boot_files *b, uint32_t *entry,
			struct vcon_error *err);

#endif
