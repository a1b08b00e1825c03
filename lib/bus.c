/* SPDX-License-Identifier: MIT */
/*
 * The I/O bus: a sorted array of ranges searched by bisection under a
 * read-write lock, so vCPU threads look up concurrently and mapping
 * changes, which are rare, take the lock for writing. Counters are atomic
 * because every vCPU updates them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <vcon/bus.h>

struct range {
	uint64_t base, len;
	const struct vcon_bus_ops *ops;
	void *ctx;
};

struct vcon_bus {
	pthread_rwlock_t lock;
	struct range *r;
	size_t n, cap;
	atomic_uint_fast64_t accesses, unclaimed_reads, unclaimed_writes;
};

VCON_API int
vcon_bus_new(struct vcon_bus **out)
{
	struct vcon_bus *bus = calloc(1, sizeof(*bus));

	if (!bus)
		return -ENOMEM;
	if (pthread_rwlock_init(&bus->lock, NULL)) {
		free(bus);
		return -ENOMEM;
	}
	*out = bus;
	return 0;
}

VCON_API void
vcon_bus_free(struct vcon_bus *bus)
{
	if (!bus)
		return;
	pthread_rwlock_destroy(&bus->lock);
	free(bus->r);
	free(bus);
}

/* Index of the first range whose end is above addr. */
static size_t
lower_bound(const struct vcon_bus *bus, uint64_t addr)
{
	size_t lo = 0, hi = bus->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bus->r[mid].base + bus->r[mid].len - 1 < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

VCON_API int
vcon_bus_map(struct vcon_bus *bus, uint64_t base, uint64_t len,
	     const struct vcon_bus_ops *ops, void *ctx)
{
	size_t i;
	int rc = 0;

	if (!len || base + (len - 1) < base || !ops || !ops->read ||
	    !ops->write)
		return -EINVAL;
	pthread_rwlock_wrlock(&bus->lock);
	i = lower_bound(bus, base);
	if (i < bus->n && bus->r[i].base <= base + (len - 1)) {
		rc = -EEXIST;
		goto done;
	}
	if (bus->n == bus->cap) {
		size_t cap = bus->cap ? bus->cap * 2 : 16;
		struct range *r = realloc(bus->r, cap * sizeof(*r));

		if (!r) {
			rc = -ENOMEM;
			goto done;
		}
		bus->r = r;
		bus->cap = cap;
	}
	memmove(bus->r + i + 1, bus->r + i, (bus->n - i) * sizeof(*bus->r));
	bus->r[i] = (struct range){ base, len, ops, ctx };
	bus->n++;
done:
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

VCON_API int
vcon_bus_unmap(struct vcon_bus *bus, uint64_t base)
{
	size_t i;
	int rc = -ENOENT;

	pthread_rwlock_wrlock(&bus->lock);
	i = lower_bound(bus, base);
	if (i < bus->n && bus->r[i].base == base) {
		memmove(bus->r + i, bus->r + i + 1,
			(bus->n - i - 1) * sizeof(*bus->r));
		bus->n--;
		rc = 0;
	}
	pthread_rwlock_unlock(&bus->lock);
	return rc;
}

static uint64_t
load_le(const uint8_t *p, unsigned size)
{
	uint64_t v = 0;
	unsigned i;

	for (i = 0; i < size; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void
store_le(uint8_t *p, unsigned size, uint64_t v)
{
	unsigned i;

	for (i = 0; i < size; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* One access of size bytes; split for devices narrower than that. */
static void
one_access(struct vcon_bus *bus, uint64_t addr, unsigned size, bool is_write,
	   uint8_t *data)
{
	size_t i = lower_bound(bus, addr);
	const struct range *r;
	unsigned max, done;

	if (i == bus->n || bus->r[i].base > addr) {
		if (is_write) {
			atomic_fetch_add(&bus->unclaimed_writes, 1);
		} else {
			memset(data, 0xff, size);
			atomic_fetch_add(&bus->unclaimed_reads, 1);
		}
		return;
	}
	r = &bus->r[i];
	max = r->ops->max_access ? r->ops->max_access : 8;
	atomic_fetch_add(&bus->accesses, 1);
	for (done = 0; done < size; done += max) {
		unsigned n = size - done < max ? size - done : max;
		uint64_t off = addr + done - r->base;

		/* A split access that runs past the range: unclaimed there. */
		if (off >= r->len) {
			if (!is_write)
				memset(data + done, 0xff, size - done);
			break;
		}
		if (is_write)
			r->ops->write(r->ctx, off, n, load_le(data + done, n));
		else
			store_le(data + done, n, r->ops->read(r->ctx, off, n));
	}
}

VCON_API void
vcon_bus_access(struct vcon_bus *bus, uint64_t addr, unsigned size,
		uint32_t count, bool is_write, uint8_t *data)
{
	uint32_t k;

	if (size == 0 || size > 8)
		return;
	pthread_rwlock_rdlock(&bus->lock);
	for (k = 0; k < count; k++)
		one_access(bus, addr, size, is_write, data + (size_t)k * size);
	pthread_rwlock_unlock(&bus->lock);
}

VCON_API void
vcon_bus_get_stats(struct vcon_bus *bus, struct vcon_bus_stats *stats)
{
	stats->accesses = atomic_load(&bus->accesses);
	stats->unclaimed_reads = atomic_load(&bus->unclaimed_reads);
	stats->unclaimed_writes = atomic_load(&bus->unclaimed_writes);
}
