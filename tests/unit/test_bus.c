/* SPDX-License-Identifier: MIT */
/* The I/O bus: ranges, overlap, splitting for byte-wide devices, string
 * I/O, and what the guest sees on unclaimed addresses. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <vcon/bus.h>

struct dev {
	uint8_t regs[8];
	unsigned nreads, nwrites, last_size;
	uint64_t last_off;
};

static uint64_t
dev_read(void *ctx, uint64_t off, unsigned size)
{
	struct dev *d = ctx;
	uint64_t v = 0;
	unsigned i;

	d->nreads++;
	d->last_size = size;
	d->last_off = off;
	for (i = 0; i < size; i++)
		v |= (uint64_t)d->regs[(off + i) & 7] << (8 * i);
	return v;
}

static void
dev_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct dev *d = ctx;
	unsigned i;

	d->nwrites++;
	d->last_size = size;
	d->last_off = off;
	for (i = 0; i < size; i++)
		d->regs[(off + i) & 7] = (uint8_t)(val >> (8 * i));
}

static const struct vcon_bus_ops byte_ops = {
	.read = dev_read, .write = dev_write, .max_access = 1,
};
static const struct vcon_bus_ops wide_ops = {
	.read = dev_read, .write = dev_write,
};

static void
test_bus_overlap_is_refused(void **state)
{
	struct vcon_bus *bus;
	struct dev d;

	memset(&d, 0, sizeof(d));

	(void)state;
	assert_int_equal(vcon_bus_new(&bus), 0);
	assert_int_equal(vcon_bus_map(bus, 0x3f8, 8, &byte_ops, &d), 0);
	assert_int_equal(vcon_bus_map(bus, 0x2f8, 8, &byte_ops, &d), 0);
	assert_int_equal(vcon_bus_map(bus, 0x3ff, 1, &byte_ops, &d), -EEXIST);
	assert_int_equal(vcon_bus_map(bus, 0x3f0, 9, &byte_ops, &d), -EEXIST);
	assert_int_equal(vcon_bus_map(bus, 0x3f0, 8, &byte_ops, &d), 0);
	assert_int_equal(vcon_bus_map(bus, 0x400, 0, &byte_ops, &d), -EINVAL);
	assert_int_equal(vcon_bus_map(bus, UINT64_MAX, 2, &byte_ops, &d),
			 -EINVAL);
	assert_int_equal(vcon_bus_unmap(bus, 0x3f8), 0);
	assert_int_equal(vcon_bus_unmap(bus, 0x3f8), -ENOENT);
	assert_int_equal(vcon_bus_map(bus, 0x3f8, 8, &byte_ops, &d), 0);
	vcon_bus_free(bus);
}

static void
test_bus_wide_access_to_byte_device_is_split(void **state)
{
	struct vcon_bus *bus;
	struct dev d;

	memset(&d, 0, sizeof(d));
	uint8_t data[4] = { 0x11, 0x22, 0x33, 0x44 };

	(void)state;
	assert_int_equal(vcon_bus_new(&bus), 0);
	assert_int_equal(vcon_bus_map(bus, 0x3f8, 8, &byte_ops, &d), 0);
	/* outw 0x3f8 hits THR then IER on an 8-bit UART */
	vcon_bus_access(bus, 0x3f8, 2, 1, true, data);
	assert_int_equal(d.nwrites, 2);
	assert_int_equal(d.regs[0], 0x11);
	assert_int_equal(d.regs[1], 0x22);
	assert_int_equal(d.last_size, 1);
	memset(data, 0, sizeof(data));
	vcon_bus_access(bus, 0x3f8, 4, 1, false, data);
	assert_int_equal(d.nreads, 4);
	assert_int_equal(data[0], 0x11);
	assert_int_equal(data[1], 0x22);
	vcon_bus_free(bus);
}

static void
test_bus_string_io_moves_count_items(void **state)
{
	struct vcon_bus *bus;
	struct dev d;

	memset(&d, 0, sizeof(d));
	uint8_t data[3] = { 'a', 'b', 'c' };

	(void)state;
	assert_int_equal(vcon_bus_new(&bus), 0);
	assert_int_equal(vcon_bus_map(bus, 0x3f8, 8, &byte_ops, &d), 0);
	/* rep outsb: three bytes to the same port, in order */
	vcon_bus_access(bus, 0x3f8, 1, 3, true, data);
	assert_int_equal(d.nwrites, 3);
	assert_int_equal(d.regs[0], 'c');
	d.regs[5] = 0x60;
	memset(data, 0, sizeof(data));
	vcon_bus_access(bus, 0x3fd, 1, 3, false, data);
	assert_memory_equal(data, "\x60\x60\x60", 3);
	vcon_bus_free(bus);
}

static void
test_bus_unclaimed_reads_all_ones_and_counts(void **state)
{
	struct vcon_bus *bus;
	struct vcon_bus_stats st;
	struct dev d;

	memset(&d, 0, sizeof(d));
	uint8_t data[4] = { 0 };

	(void)state;
	assert_int_equal(vcon_bus_new(&bus), 0);
	assert_int_equal(vcon_bus_map(bus, 0x1000, 4, &wide_ops, &d), 0);
	vcon_bus_access(bus, 0x80, 4, 1, false, data);
	assert_memory_equal(data, "\xff\xff\xff\xff", 4);
	vcon_bus_access(bus, 0x80, 1, 1, true, data);
	/* a wide device gets the access whole */
	vcon_bus_access(bus, 0x1000, 4, 1, false, data);
	assert_int_equal(d.last_size, 4);
	vcon_bus_get_stats(bus, &st);
	assert_int_equal(st.unclaimed_reads, 1);
	assert_int_equal(st.unclaimed_writes, 1);
	assert_int_equal(st.accesses, 1);
	assert_int_equal(d.nwrites, 0);
	vcon_bus_free(bus);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bus_overlap_is_refused),
		cmocka_unit_test(test_bus_wide_access_to_byte_device_is_split),
		cmocka_unit_test(test_bus_string_io_moves_count_items),
		cmocka_unit_test(test_bus_unclaimed_reads_all_ones_and_counts),
	};

	return cmocka_run_group_tests_name("bus", tests, NULL, NULL);
}
