/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the bzImage loader's layout (vcon__bzimage_place):
 * the kernel file is the user's, so any bytes in its setup header must
 * end in a one-line refusal or a layout that stays in the guest's RAM.
 *
 * Input: 8 bytes of choices (guest RAM, initrd length, command line
 * length, how the image is made), then the image: either those bytes as
 * they are, or laid over a setup header that has the magic and enough
 * payload behind it, so the fuzzer reaches the layout checks at once.
 * The initrd is zeros from a static buffer, so it can be much longer
 * than the input. Guest RAM ends at an inaccessible page, so a write
 * past it faults.
 *
 * Invariants: a refusal is -ENOEXEC, -ENOMEM, -E2BIG or -EFBIG with a
 * one-line message, and leaves guest memory untouched. An accepted image
 * is in guest RAM (exactly the allocation, so ASan sees any write past
 * it): the payload at 1 MiB, the command line at 0x20000 below the EBDA
 * and terminated, the initrd page aligned between the kernel's
 * decompression buffer (boot protocol 2.10: init_size above its preferred
 * address) and the end of RAM, an e820 map of what the guest has, and the
 * entry point the header names.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/common.h>

#include "../../lib/bzimage.h"
#include "le_get.h"

#include "fuzz.h"

#define MAX_RD  (8u << 20)
#define MAX_LOW (80ull << 20)

static void
check_untouched(const uint8_t *mem)
{
	static const uint8_t ff[4096] = { [0 ... 4095] = 0xa5 };

	check(!memcmp(mem + VCON__BOOT_PARAMS, ff, sizeof(ff)));
	check(!memcmp(mem + VCON__BOOT_CMDLINE, ff, sizeof(ff)));
	check(!memcmp(mem + VCON__BOOT_KERNEL, ff, sizeof(ff)));
}

static void
check_layout(const uint8_t *mem, uint64_t low, uint64_t high,
	     const struct vcon__boot_files *b, uint32_t entry)
{
	const uint8_t *bp = mem + VCON__BOOT_PARAMS, *img = b->img;
	size_t sects = img[0x1f1] ? img[0x1f1] : 4;
	size_t setup = (sects + 1) * 512, payload = b->img_len - setup;
	size_t cl = b->cmdline ? strlen(b->cmdline) : 0;
	unsigned i, n = bp[0x1e8];

	check(entry == le_get(img + 0x214, 4));
	check(le_get(bp + 0x202, 4) == 0x53726448); /* "HdrS" */
	check(le_get(bp + 0x228, 4) == VCON__BOOT_CMDLINE);
	check(VCON__BOOT_CMDLINE + cl < VCON__BOOT_EBDA);
	check(!memcmp(mem + VCON__BOOT_CMDLINE, b->cmdline ? b->cmdline : "",
		      cl));
	check(mem[VCON__BOOT_CMDLINE + cl] == 0);
	check(VCON__BOOT_KERNEL + payload <= low);
	check(!memcmp(mem + VCON__BOOT_KERNEL, img + setup, payload));
	if (b->initrd) {
		uint64_t at = le_get(bp + 0x218, 4), need = 0;

		check(le_get(bp + 0x21c, 4) == b->rd_len);
		check(!(at & 0xfff));
		check(at >= VCON__BOOT_KERNEL + payload);
		check(at + b->rd_len <= low);
		if (le_get(img + 0x206, 2) >= 0x020a) {
			uint64_t pref = le_get(img + 0x258, 8);
			uint64_t init = le_get(img + 0x260, 4);

			need = pref > UINT64_MAX - init ? UINT64_MAX
							: pref + init;
		}
		check(at >= need);
	}
	check(n == (high ? 5u : 4u));
	for (i = 0; i < n; i++) {
		const uint8_t *e = bp + 0x2d0 + 20 * i;
		uint64_t addr = le_get(e, 8), size = le_get(e + 8, 8);

		check(size && addr + size > addr);
		check(addr + size <= low || addr >= (4ull << 30));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t zeros[MAX_RD];
	static uint8_t *ram, img[0x1000 + (128u << 10)];
	struct vcon__boot_files b = { .kernel = "bz", .initrd = NULL };
	struct vcon_error err = { "" };
	char cmdline[4096];
	uint64_t low, high;
	uint8_t *mem;
	uint32_t entry = 0;
	size_t cl;
	int rc;

	if (size < 8)
		return 0;
	/* 16 to 79 MiB, sometimes with RAM above 4 GiB too. */
	low = (16ull + (data[0] & 63)) << 20;
	high = (data[0] & 0x80) ? 1ull << 30 : 0;
	if (data[1] & 1) {
		b.initrd = "rd";
		b.rd = zeros;
		b.rd_len = le_get(data + 2, 3) & (MAX_RD - 1);
	}
	cl = le_get(data + 5, 2) % sizeof(cmdline);
	memset(cmdline, 'x', cl);
	cmdline[cl] = '\0';
	b.cmdline = (data[7] & 1) ? cmdline : NULL;
	if (data[7] & 2) {
		size_t n = size - 8 < 0x270 - 0x1f1 ? size - 8 : 0x270 - 0x1f1;

		memset(img, 0, 0x1000);
		memcpy(img + 0x1f1, data + 8, n);
		memcpy(img + 0x202, "HdrS", 4);
		if (data[7] & 4)
			img[0x211] |= 1; /* LOADED_HIGH */
		b.img = img;
		b.img_len = 0x1000 + ((size_t)(data[7] >> 3) << 12);
	} else {
		b.img = data + 8;
		b.img_len = size - 8;
	}

	/* RAM ends where the mapping's last, inaccessible page begins. */
	if (!ram) {
		ram = mmap(NULL, MAX_LOW + 4096, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		check(ram != MAP_FAILED);
		check(!mprotect(ram + MAX_LOW, 4096, PROT_NONE));
	}
	mem = ram + (MAX_LOW - low);
	memset(mem + VCON__BOOT_PARAMS, 0xa5, 4096);
	memset(mem + VCON__BOOT_CMDLINE, 0xa5, 4096);
	memset(mem + VCON__BOOT_KERNEL, 0xa5, 4096);
	rc = vcon__bzimage_place(mem, low, high, &b, &entry, &err);
	if (rc) {
		check(rc == -ENOEXEC || rc == -ENOMEM || rc == -E2BIG ||
		      rc == -EFBIG);
		check_one_line(err.msg, sizeof(err.msg));
		check_untouched(mem);
	} else {
		check_layout(mem, low, high, &b, entry);
	}
	return 0;
}
