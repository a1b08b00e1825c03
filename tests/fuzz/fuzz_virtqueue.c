/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target for the virtqueue walker. The input is guest memory:
 * a descriptor table, an avail ring and whatever indirect tables and
 * buffers the fuzzer invents, in a small RAM whose edges are real (the
 * pages around it are unmapped-equivalent: every access goes through the
 * bounds-checked map). The walker pops until the queue is empty or
 * broken, copying out of and into every buffer it returns.
 *
 * Invariants: no access outside RAM (ASan), a popped element's segments
 * lie inside RAM and sum to its totals, a chain never exceeds the queue,
 * and once broken the queue stays broken.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../lib/virtqueue.h"

#include "fuzz.h"

#define RAM_SIZE 65536

struct ram {
	uint8_t *base;
};

static bool
in_ram(uint64_t gpa, uint64_t len)
{
	return gpa <= RAM_SIZE && len <= RAM_SIZE - gpa;
}

static int
ram_read(void *ctx, uint64_t gpa, void *buf, size_t len)
{
	struct ram *r = ctx;

	if (!in_ram(gpa, len))
		return -1;
	memcpy(buf, r->base + gpa, len);
	return 0;
}

static int
ram_write(void *ctx, uint64_t gpa, const void *buf, size_t len)
{
	struct ram *r = ctx;

	if (!in_ram(gpa, len))
		return -1;
	memcpy(r->base + gpa, buf, len);
	return 0;
}

static void *
ram_map(void *ctx, uint64_t gpa, size_t len)
{
	struct ram *r = ctx;

	return in_ram(gpa, len) ? r->base + gpa : NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct vcon_vq_elem e;
	static uint8_t scratch[1 << 16];
	struct ram r = { malloc(RAM_SIZE) };
	struct vcon_gmem mem = { ram_read, ram_write, ram_map, &r };
	struct vcon_vq vq;
	uint16_t qsize;
	uint64_t features;
	unsigned pops = 0, i;
	int rc;

	if (size < 2)
		goto out;
	/* Byte 0: queue size (a power of two up to 32) and features. */
	qsize = (uint16_t)(1u << (data[0] % 6));
	features = (data[0] & 0x10 ? 1ull << VCON_VIRTIO_F_INDIRECT_DESC : 0) |
		   (data[0] & 0x20 ? 1ull << VCON_VIRTIO_F_EVENT_IDX : 0);
	memset(r.base, 0, RAM_SIZE);
	memcpy(r.base, data + 1, size - 1 < RAM_SIZE ? size - 1 : RAM_SIZE);
	/*
	 * Rings first, where the input reaches them (avail, then the
	 * descriptors, then used); the rest of RAM is the fuzzer's to fill
	 * with indirect tables and buffers.
	 */
	if (vcon__vq_enable(&vq, mem, qsize, 0x80, 0x0, 0x300, features) < 0)
		goto out;
	for (;;) {
		rc = vcon__vq_pop(&vq, &e);
		if (rc <= 0) {
			if (rc < 0)
				check(vq.broken && vcon__vq_pop(&vq, &e) < 0);
			break;
		}
		check((unsigned)e.nout + e.nin <= VCON_VQ_MAX_SIZE);
		check(e.head < qsize);
		{
			uint64_t out = 0, in = 0;

			for (i = 0; i < (unsigned)e.nout + e.nin; i++) {
				const struct vcon_vq_seg *s = &e.seg[i];

				if (s->len)
					check(s->p >= r.base &&
					      s->p + s->len <= r.base + RAM_SIZE);
				if (i < e.nout)
					out += s->len;
				else
					in += s->len;
			}
			check(out == e.out_len && in == e.in_len);
		}
		check(vcon__vq_elem_read(&e, 0, scratch, sizeof(scratch)) ==
		      (e.out_len < sizeof(scratch) ? e.out_len
						   : sizeof(scratch)));
		vcon__vq_elem_write(&e, 1, scratch, sizeof(scratch));
		vcon__vq_push(&vq, e.head, e.in_len);
		(void)vcon__vq_should_interrupt(&vq);
		/* The guest can keep the avail index moving forever. */
		if (++pops > 4 * qsize)
			break;
	}
	(void)vcon__vq_set_notify(&vq, pops & 1);
out:
	free(r.base);
	return 0;
}
