/* SPDX-License-Identifier: MIT */
/*
 * Loading a Linux bzImage without firmware, per the kernel's x86 boot
 * protocol (Documentation/arch/x86/boot.rst), 32-bit entry:
 *
 *   0x00500  GDT with the flat __BOOT_CS (0x10) and __BOOT_DS (0x18)
 *   0x07000  boot_params ("zero page"): the setup header, e820 map
 *   0x20000  command line, up to the EBDA at 0x9fc00
 *   0xe0000  ACPI and MP tables (kvm_acpi.c, kvm_boot.c), reserved
 *   0x100000 the protected-mode kernel; the initrd goes at the top of RAM,
 *            above the buffer the kernel decompresses in
 *
 * Everything is checked before anything is written, so a refused image
 * leaves guest memory as it was.
 */
#include <errno.h>
#include <string.h>

#include "bzimage.h"
#include "internal.h"
#include "kvm_impl.h" /* VCON__HIGH_MEM_BASE */
#include "le.h"

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
#define HDR_MIN_LEN         0x300 /* the image holds all of the above */
#define LOADED_HIGH         0x01
#define CAN_USE_HEAP        0x80

#define KERNEL_ADDR VCON__BOOT_KERNEL

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
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
	/* A forged address near 2^64 must not wrap to a small one. */
	return start > UINT64_MAX - UINT32_MAX
		       ? UINT64_MAX
		       : start + get32(img + HDR_INIT_SIZE);
}

int
vcon__bzimage_place(uint8_t *mem, uint64_t low_size, uint64_t high_size,
		    const struct vcon__boot_files *b, uint32_t *entry,
		    struct vcon_error *err)
{
	static const uint64_t gdt[4] = {
		0, 0,
		0x00cf9b000000ffffull, /* 0x10: flat 4 GiB code, read/exec */
		0x00cf93000000ffffull, /* 0x18: flat 4 GiB data, read/write */
	};
	const uint8_t *img = b->img;
	uint8_t *bp = mem + VCON__BOOT_PARAMS;
	size_t hdr_end, setup_len, payload, cmdline_len;
	uint64_t kernel_end, rd_top, rd_addr = 0, room;
	uint32_t cmdline_max;
	uint16_t version;
	unsigned sects;

	if (b->img_len < HDR_MIN_LEN || memcmp(img + HDR_MAGIC, "HdrS", 4))
		return vcon__fail(err, -ENOEXEC,
				  "%s: not a bzImage (no HdrS header)",
				  b->kernel);
	version = (uint16_t)(img[HDR_VERSION] | img[HDR_VERSION + 1] << 8);
	if (version < 0x0206 || !(img[HDR_LOADFLAGS] & LOADED_HIGH))
		return vcon__fail(err, -ENOEXEC,
				  "%s: boot protocol %x.%02x or not a "
				  "bzImage; need 2.06 or later",
				  b->kernel, version >> 8, version & 0xff);
	/* The header must hold every field its protocol has and we read. */
	hdr_end = 0x202 + (size_t)img[HDR_JUMP_END];
	if (hdr_end <
	    (version >= 0x020a ? HDR_INIT_SIZE + 4 : HDR_CMDLINE_SIZE + 4))
		return vcon__fail(err, -ENOEXEC,
				  "%s: setup header ends at %#zx, short of "
				  "what boot protocol %x.%02x has",
				  b->kernel, hdr_end, version >> 8,
				  version & 0xff);
	sects = img[HDR_SETUP_SECTS] ? img[HDR_SETUP_SECTS] : 4;
	setup_len = ((size_t)sects + 1) * 512;
	if (setup_len >= b->img_len ||
	    KERNEL_ADDR + (b->img_len - setup_len) > low_size)
		return vcon__fail(err, -ENOEXEC,
				  "%s: truncated, or larger than memory",
				  b->kernel);
	payload = b->img_len - setup_len;
	kernel_end = decompress_end(img, version, payload);
	if (kernel_end < KERNEL_ADDR + payload)
		kernel_end = KERNEL_ADDR + payload;
	if (kernel_end > low_size)
		return vcon__fail(err, -ENOMEM,
				  "%s: needs %llu MiB of guest memory to "
				  "decompress; the guest has %llu MiB%s",
				  b->kernel,
				  (unsigned long long)(kernel_end >> 20) +
					  !!(kernel_end & 0xfffff),
				  (unsigned long long)low_size >> 20,
				  high_size ? " below 4 GiB" : "");
	/* The header's limit, and the room below the EBDA whatever it says. */
	cmdline_max = get32(img + HDR_CMDLINE_SIZE);
	if (cmdline_max > VCON__BOOT_EBDA - VCON__BOOT_CMDLINE - 1)
		cmdline_max = VCON__BOOT_EBDA - VCON__BOOT_CMDLINE - 1;
	cmdline_len = b->cmdline ? strlen(b->cmdline) : 0;
	if (cmdline_len > cmdline_max)
		return vcon__fail(err, -E2BIG,
				  "command line longer than the kernel's %u "
				  "bytes",
				  cmdline_max);
	if (b->initrd) {
		/* At the top of RAM, below the kernel's limit, page aligned. */
		rd_top = (uint64_t)get32(img + HDR_INITRD_ADDR_MAX) + 1;
		if (rd_top == 1 || rd_top > low_size)
			rd_top = low_size;
		room = rd_top > kernel_end ? rd_top - kernel_end : 0;
		if (b->rd_len > rd_top ||
		    ((rd_top - b->rd_len) & ~0xfffull) < kernel_end)
			return vcon__fail(err, -EFBIG,
					  "%s: initrd too large for memory: "
					  "%zu bytes, and %llu fit above the "
					  "kernel's decompression area",
					  b->initrd, b->rd_len,
					  (unsigned long long)room & ~0xfffull);
		rd_addr = (rd_top - b->rd_len) & ~0xfffull;
	}

	memset(mem, 0, KERNEL_ADDR);
	memcpy(mem + VCON__BOOT_GDT, gdt, sizeof(gdt));
	memcpy(bp + BP_HDR, img + BP_HDR, hdr_end - BP_HDR);
	bp[HDR_TYPE_OF_LOADER] = 0xff;
	bp[HDR_LOADFLAGS] |= CAN_USE_HEAP;
	put16(bp + HDR_HEAP_END_PTR, 0xfe00);
	put32(bp + HDR_CMD_LINE_PTR, VCON__BOOT_CMDLINE);
	if (cmdline_len)
		memcpy(mem + VCON__BOOT_CMDLINE, b->cmdline, cmdline_len);
	memcpy(mem + KERNEL_ADDR, img + setup_len, payload);
	if (b->initrd) {
		memcpy(mem + rd_addr, b->rd, b->rd_len);
		put32(bp + HDR_RAMDISK_IMAGE, (uint32_t)rd_addr);
		put32(bp + HDR_RAMDISK_SIZE, (uint32_t)b->rd_len);
	}
	add_e820(bp, 0, VCON__BOOT_EBDA, 1);
	add_e820(bp, VCON__BOOT_EBDA, 0xa0000 - VCON__BOOT_EBDA, 2);
	add_e820(bp, VCON__BOOT_FIRMWARE, 0x100000 - VCON__BOOT_FIRMWARE, 2);
	add_e820(bp, KERNEL_ADDR, low_size - KERNEL_ADDR, 1);
	if (high_size)
		add_e820(bp, VCON__HIGH_MEM_BASE, high_size, 1);
	*entry = get32(bp + HDR_CODE32_START);
	return 0;
}
