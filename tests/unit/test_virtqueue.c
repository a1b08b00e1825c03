/* SPDX-License-Identifier: MIT */
/*
 * The split virtqueue against a driver written from the spec (virtio 1.2,
 * 2.7): buffers, chains, indirect tables, event-index notification, and
 * every malformed chain a hostile guest can post.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../../lib/virtqueue.h"
#include "testutil.h"

#define QSZ 16
#define DESC_GPA 0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA 0x3000
#define DATA_GPA 0x10000
#define F_NEXT 1
#define F_WRITE 2
#define F_INDIRECT 4
#define ALL_FEATURES                                                          \
	(1ull << VCON_VIRTIO_F_INDIRECT_DESC | 1ull << VCON_VIRTIO_F_EVENT_IDX)

/* The guest's side: the rings as a driver lays them out. */
struct drv {
	struct fake_ram ram;
	struct vcon_vq vq;
	struct vcon_vq_elem elem;
	uint16_t avail_idx;
};

static void
put_desc_at(struct drv *d, uint64_t table, uint16_t i, uint64_t addr,
	    uint32_t len, uint16_t flags, uint16_t next)
{
	uint8_t *p = d->ram.base + table + 16u * i;

	memcpy(p, &addr, 8);
	memcpy(p + 8, &len, 4);
	memcpy(p + 12, &flags, 2);
	memcpy(p + 14, &next, 2);
}

static void
put_desc(struct drv *d, uint16_t i, uint64_t addr, uint32_t len,
	 uint16_t flags, uint16_t next)
{
	put_desc_at(d, DESC_GPA, i, addr, len, flags, next);
}

static void
publish(struct drv *d, uint16_t head)
{
	uint16_t *ring = (uint16_t *)(void *)(d->ram.base + AVAIL_GPA + 4);

	ring[d->avail_idx % QSZ] = head;
	d->avail_idx++;
	memcpy(d->ram.base + AVAIL_GPA + 2, &d->avail_idx, 2);
}

static uint16_t
used_idx(struct drv *d)
{
	uint16_t v;

	memcpy(&v, d->ram.base + USED_GPA + 2, 2);
	return v;
}

static void
used_entry(struct drv *d, uint16_t slot, uint32_t *id, uint32_t *len)
{
	memcpy(id, d->ram.base + USED_GPA + 4 + 8u * slot, 4);
	memcpy(len, d->ram.base + USED_GPA + 8 + 8u * slot, 4);
}

static void
set_used_event(struct drv *d, uint16_t v)
{
	memcpy(d->ram.base + AVAIL_GPA + 4 + 2u * QSZ, &v, 2);
}

static uint16_t
avail_event(struct drv *d)
{
	uint16_t v;

	memcpy(&v, d->ram.base + USED_GPA + 4 + 8u * QSZ, 2);
	return v;
}

static int
setup_features(void **state, uint64_t features, uint64_t ram)
{
	struct drv *d = calloc(1, sizeof(*d));
	struct vcon_gmem mem = fake_ram_init(&d->ram, ram);

	assert_non_null(d->ram.base);
	assert_int_equal(vcon__vq_enable(&d->vq, mem, QSZ, DESC_GPA,
					 AVAIL_GPA, USED_GPA, features),
			 0);
	*state = d;
	return 0;
}

static int
setup(void **state)
{
	return setup_features(state, ALL_FEATURES, 1 << 20);
}

static int
setup_plain(void **state)
{
	return setup_features(state, 0, 1 << 20);
}

static int
teardown(void **state)
{
	struct drv *d = *state;

	fake_ram_fini(&d->ram);
	free(d);
	return 0;
}

static void
test_empty_queue_pops_nothing(void **state)
{
	struct drv *d = *state;

	assert_false(vcon__vq_has_avail(&d->vq));
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 0);
}

static void
test_readable_buffer_round_trip(void **state)
{
	struct drv *d = *state;
	char out[16] = { 0 };
	uint32_t id, len;

	memcpy(d->ram.base + DATA_GPA, "hello, host", 11);
	put_desc(d, 3, DATA_GPA, 11, 0, 0);
	publish(d, 3);
	assert_true(vcon__vq_has_avail(&d->vq));
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	assert_int_equal(d->elem.head, 3);
	assert_int_equal(d->elem.nout, 1);
	assert_int_equal(d->elem.nin, 0);
	assert_int_equal(d->elem.out_len, 11);
	assert_int_equal(vcon__vq_elem_read(&d->elem, 0, out, sizeof(out)), 11);
	assert_string_equal(out, "hello, host");
	/* A partial read resumes at an offset, as a backed-up backend needs. */
	memset(out, 0, sizeof(out));
	assert_int_equal(vcon__vq_elem_read(&d->elem, 7, out, 3), 3);
	assert_string_equal(out, "hos");
	vcon__vq_push(&d->vq, d->elem.head, 0);
	assert_int_equal(used_idx(d), 1);
	used_entry(d, 0, &id, &len);
	assert_int_equal(id, 3);
	assert_int_equal(len, 0);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 0);
}

static void
test_chain_readable_then_writable(void **state)
{
	struct drv *d = *state;
	uint8_t got[8];
	uint32_t id, len;

	memcpy(d->ram.base + DATA_GPA, "abc", 3);
	memcpy(d->ram.base + DATA_GPA + 0x100, "defg", 4);
	put_desc(d, 0, DATA_GPA, 3, F_NEXT, 5);
	put_desc(d, 5, DATA_GPA + 0x100, 4, F_NEXT, 9);
	put_desc(d, 9, DATA_GPA + 0x200, 2, F_WRITE | F_NEXT, 2);
	put_desc(d, 2, DATA_GPA + 0x300, 6, F_WRITE, 0);
	publish(d, 0);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	assert_int_equal(d->elem.nout, 2);
	assert_int_equal(d->elem.nin, 2);
	assert_int_equal(d->elem.out_len, 7);
	assert_int_equal(d->elem.in_len, 8);
	assert_int_equal(vcon__vq_elem_read(&d->elem, 0, got, 8), 7);
	assert_memory_equal(got, "abcdefg", 7);
	/* Writes scatter across the writable segments and stop at their end. */
	assert_int_equal(vcon__vq_elem_write(&d->elem, 0, "0123456789", 10), 8);
	assert_memory_equal(d->ram.base + DATA_GPA + 0x200, "01", 2);
	assert_memory_equal(d->ram.base + DATA_GPA + 0x300, "234567", 6);
	vcon__vq_push(&d->vq, 0, 8);
	used_entry(d, 0, &id, &len);
	assert_int_equal(id, 0);
	assert_int_equal(len, 8);
}

static void
test_indirect_table(void **state)
{
	struct drv *d = *state;
	const uint64_t table = 0x8000;
	uint8_t got[4];

	memcpy(d->ram.base + DATA_GPA, "xy", 2);
	memcpy(d->ram.base + DATA_GPA + 0x10, "zw", 2);
	put_desc_at(d, table, 0, DATA_GPA, 2, F_NEXT, 2);
	put_desc_at(d, table, 2, DATA_GPA + 0x10, 2, F_NEXT, 1);
	put_desc_at(d, table, 1, DATA_GPA + 0x20, 64, F_WRITE, 0);
	/* WRITE on the indirect descriptor itself is ignored, as 2.7.5.3.2 says. */
	put_desc(d, 7, table, 3 * 16, F_INDIRECT | F_WRITE, 0);
	publish(d, 7);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	assert_int_equal(d->elem.head, 7);
	assert_int_equal(d->elem.nout, 2);
	assert_int_equal(d->elem.nin, 1);
	assert_int_equal(d->elem.in_len, 64);
	assert_int_equal(vcon__vq_elem_read(&d->elem, 0, got, 4), 4);
	assert_memory_equal(got, "xyzw", 4);
}

static void
test_unpop_returns_the_same_buffer(void **state)
{
	struct drv *d = *state;

	put_desc(d, 4, DATA_GPA, 8, 0, 0);
	publish(d, 4);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	vcon__vq_unpop(&d->vq);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	assert_int_equal(d->elem.head, 4);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 0);
}

static void
test_wraps_around_the_16_bit_index(void **state)
{
	struct drv *d = *state;
	unsigned i;

	put_desc(d, 1, DATA_GPA, 1, 0, 0);
	for (i = 0; i < 70000; i++) {
		publish(d, 1);
		assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
		vcon__vq_push(&d->vq, 1, 0);
	}
	assert_int_equal(used_idx(d), (uint16_t)70000);
	assert_false(d->vq.broken);
}

static void
test_event_idx_interrupts_only_when_asked(void **state)
{
	struct drv *d = *state;
	unsigned i;

	put_desc(d, 0, DATA_GPA, 1, 0, 0);
	/* The first push always interrupts: we know nothing yet. */
	publish(d, 0);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	vcon__vq_push(&d->vq, 0, 0);
	assert_true(vcon__vq_should_interrupt(&d->vq));
	/* The driver wants an interrupt once used->idx passes 3. */
	set_used_event(d, 3);
	for (i = 1; i <= 4; i++) {
		publish(d, 0);
		assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
		vcon__vq_push(&d->vq, 0, 0);
		/* used->idx is now i + 1; the event fires on crossing 3 -> 4. */
		assert_int_equal(vcon__vq_should_interrupt(&d->vq), i + 1 == 4);
	}
	/* Pushes batched across the event index still interrupt once. */
	set_used_event(d, 6);
	for (i = 0; i < 3; i++) {
		publish(d, 0);
		assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
		vcon__vq_push(&d->vq, 0, 0);
	}
	assert_true(vcon__vq_should_interrupt(&d->vq));
	assert_false(vcon__vq_should_interrupt(&d->vq));
	/* avail_event tells the driver to kick for the next buffer. */
	assert_int_equal(avail_event(d), d->vq.last_avail);
}

static void
test_no_interrupt_flag_without_event_idx(void **state)
{
	struct drv *d = *state;
	uint16_t flags = 1;

	put_desc(d, 0, DATA_GPA, 1, 0, 0);
	publish(d, 0);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	vcon__vq_push(&d->vq, 0, 0);
	assert_true(vcon__vq_should_interrupt(&d->vq));
	memcpy(d->ram.base + AVAIL_GPA, &flags, 2);
	publish(d, 0);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	vcon__vq_push(&d->vq, 0, 0);
	assert_false(vcon__vq_should_interrupt(&d->vq));
	/* Indirect was not negotiated: a table is a broken device. */
	put_desc(d, 1, 0x8000, 16, F_INDIRECT, 0);
	publish(d, 1);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), -EIO);
}

static void
test_set_notify_reports_a_skipped_kick(void **state)
{
	struct drv *d = *state;

	assert_false(vcon__vq_set_notify(&d->vq, false));
	put_desc(d, 0, DATA_GPA, 1, 0, 0);
	publish(d, 0);
	/* The guest added a buffer while kicks were off: set_notify says so. */
	assert_true(vcon__vq_set_notify(&d->vq, true));
	assert_int_equal(avail_event(d), 0);
}

static void
test_used_flags_without_event_idx(void **state)
{
	struct drv *d = *state;
	uint16_t flags;

	vcon__vq_set_notify(&d->vq, false);
	memcpy(&flags, d->ram.base + USED_GPA, 2);
	assert_int_equal(flags, 1);
	assert_false(vcon__vq_set_notify(&d->vq, true));
	memcpy(&flags, d->ram.base + USED_GPA, 2);
	assert_int_equal(flags, 0);
}

/* Each hostile chain breaks the queue and names what was wrong. */
static void
expect_broken(struct drv *d, const char *why)
{
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), -EIO);
	assert_true(d->vq.broken);
	assert_non_null(d->vq.why);
	assert_non_null(strstr(d->vq.why, why));
	/* Broken stays broken, and pushes go nowhere. */
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), -EIO);
	vcon__vq_push(&d->vq, 0, 0);
	assert_int_equal(used_idx(d), 0);
}

static void
test_hostile_loop(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, DATA_GPA, 1, F_NEXT, 1);
	put_desc(d, 1, DATA_GPA, 1, F_NEXT, 0);
	publish(d, 0);
	expect_broken(d, "loop");
}

static void
test_hostile_self_loop(void **state)
{
	struct drv *d = *state;

	put_desc(d, 5, DATA_GPA, 1, F_NEXT, 5);
	publish(d, 5);
	expect_broken(d, "loop");
}

static void
test_hostile_address_outside_ram(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, (1 << 20) - 4, 8, 0, 0);
	publish(d, 0);
	expect_broken(d, "outside guest memory");
}

static void
test_hostile_address_wraps(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, UINT64_MAX - 2, 8, 0, 0);
	publish(d, 0);
	expect_broken(d, "outside guest memory");
}

static void
test_hostile_head_out_of_range(void **state)
{
	struct drv *d = *state;

	publish(d, QSZ);
	expect_broken(d, "head");
}

static void
test_hostile_next_out_of_range(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, DATA_GPA, 1, F_NEXT, 0xffff);
	publish(d, 0);
	expect_broken(d, "next");
}

static void
test_hostile_avail_index_jump(void **state)
{
	struct drv *d = *state;
	uint16_t idx = QSZ + 1;

	memcpy(d->ram.base + AVAIL_GPA + 2, &idx, 2);
	expect_broken(d, "avail index");
}

static void
test_hostile_readable_after_writable(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, DATA_GPA, 1, F_WRITE | F_NEXT, 1);
	put_desc(d, 1, DATA_GPA, 1, 0, 0);
	publish(d, 0);
	expect_broken(d, "readable descriptor after");
}

static void
test_hostile_nested_indirect(void **state)
{
	struct drv *d = *state;

	put_desc_at(d, 0x8000, 0, 0x9000, 16, F_INDIRECT, 0);
	put_desc(d, 0, 0x8000, 16, F_INDIRECT, 0);
	publish(d, 0);
	expect_broken(d, "nested");
}

static void
test_hostile_indirect_with_next(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, 0x8000, 16, F_INDIRECT | F_NEXT, 1);
	publish(d, 0);
	expect_broken(d, "NEXT");
}

static void
test_hostile_indirect_bad_length(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, 0x8000, 24, F_INDIRECT, 0);
	publish(d, 0);
	expect_broken(d, "multiple of 16");
}

static void
test_hostile_indirect_loop(void **state)
{
	struct drv *d = *state;

	put_desc_at(d, 0x8000, 0, DATA_GPA, 1, F_NEXT, 1);
	put_desc_at(d, 0x8000, 1, DATA_GPA, 1, F_NEXT, 0);
	put_desc(d, 0, 0x8000, 32, F_INDIRECT, 0);
	publish(d, 0);
	expect_broken(d, "loop");
}

static void
test_hostile_indirect_table_outside_ram(void **state)
{
	struct drv *d = *state;

	put_desc(d, 0, (1 << 20) - 16, 32, F_INDIRECT, 0);
	publish(d, 0);
	expect_broken(d, "indirect table outside");
}

static void
test_hostile_chain_longer_than_limit(void **state)
{
	struct drv *d = *state;
	uint16_t i, n = VCON_VQ_MAX_SIZE + 1;

	/* Legal-looking links, but more than any queue may hold. */
	for (i = 0; i < n; i++)
		put_desc_at(d, 0x8000, i, DATA_GPA, 1,
			    i + 1 < n ? F_NEXT : 0, (uint16_t)(i + 1));
	put_desc(d, 0, 0x8000, 16u * n, F_INDIRECT, 0);
	publish(d, 0);
	expect_broken(d, "longer than the queue");
}

static void
test_longest_legal_chain(void **state)
{
	struct drv *d = *state;
	uint16_t i, n = VCON_VQ_MAX_SIZE;

	for (i = 0; i < n; i++)
		put_desc_at(d, 0x8000, i, DATA_GPA + i, 1,
			    i + 1 < n ? F_NEXT : 0, (uint16_t)(i + 1));
	put_desc(d, 0, 0x8000, 16u * n, F_INDIRECT, 0);
	publish(d, 0);
	assert_int_equal(vcon__vq_pop(&d->vq, &d->elem), 1);
	assert_int_equal(d->elem.nout, n);
	assert_int_equal(d->elem.out_len, n);
}

static void
test_hostile_length_overflow(void **state)
{
	struct drv *d = *state;
	const uint32_t big = 64u << 20;
	uint16_t i, n = 65; /* 65 * 64 MiB > 4 GiB */

	for (i = 0; i < n; i++)
		put_desc_at(d, 0x8000, i, 0, big, i + 1 < n ? F_NEXT : 0,
			    (uint16_t)(i + 1));
	put_desc(d, 0, 0x8000, 16u * n, F_INDIRECT, 0);
	publish(d, 0);
	expect_broken(d, "overflow");
}

static int
setup_big(void **state)
{
	return setup_features(state, ALL_FEATURES, 64u << 20);
}

static void
test_bad_rings_refused(void **state)
{
	struct fake_ram ram;
	struct vcon_gmem mem = fake_ram_init(&ram, 1 << 16);
	struct vcon_vq vq;

	(void)state;
	assert_int_equal(vcon__vq_enable(&vq, mem, 12, 0, 0x1000, 0x2000, 0),
			 -EINVAL);
	assert_true(vq.broken);
	assert_int_equal(vcon__vq_enable(&vq, mem, 512, 0, 0x2000, 0x3000, 0),
			 -EINVAL);
	assert_int_equal(vcon__vq_enable(&vq, mem, 16, 8, 0x1000, 0x2000, 0),
			 -EINVAL);
	assert_int_equal(vcon__vq_enable(&vq, mem, 16, 0, 0x1000, 0xfffc, 0),
			 -EINVAL);
	assert_non_null(strstr(vq.why, "outside"));
	assert_int_equal(vcon__vq_pop(&vq, &(struct vcon_vq_elem){ 0 }), -EIO);
	assert_int_equal(vcon__vq_enable(&vq, mem, 16, 0, 0x1000, 0x2000, 0),
			 0);
	assert_false(vq.broken);
	fake_ram_fini(&ram);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_empty_queue_pops_nothing,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_readable_buffer_round_trip,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_chain_readable_then_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_indirect_table, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_unpop_returns_the_same_buffer, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_wraps_around_the_16_bit_index, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_event_idx_interrupts_only_when_asked, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_no_interrupt_flag_without_event_idx, setup_plain,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_set_notify_reports_a_skipped_kick, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_used_flags_without_event_idx, setup_plain,
			teardown),
		cmocka_unit_test_setup_teardown(test_hostile_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_self_loop, setup,
						teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_address_outside_ram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_address_wraps,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_head_out_of_range,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_next_out_of_range,
						setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_avail_index_jump,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_readable_after_writable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_nested_indirect,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_indirect_with_next, setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_indirect_bad_length, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_indirect_loop,
						setup, teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_indirect_table_outside_ram, setup,
			teardown),
		cmocka_unit_test_setup_teardown(
			test_hostile_chain_longer_than_limit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_longest_legal_chain, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_length_overflow,
						setup_big, teardown),
		cmocka_unit_test(test_bad_rings_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
