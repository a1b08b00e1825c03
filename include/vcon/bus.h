/* SPDX-License-Identifier: MIT */
/*
 * An I/O bus: devices map address ranges (ports or MMIO), and the vCPU
 * loop turns each exit into vcon_bus_access. Accesses no device claims read
 * as all-ones and are dropped on write, and both are counted. Wider
 * accesses to a device that declares itself byte-wide are split into byte
 * accesses at consecutive offsets, as an 8-bit ISA device decodes them.
 *
 * Threads: map and unmap before vCPUs run, or from any thread while they
 * run (a read-write lock keeps lookups safe). Device callbacks run on the
 * calling vCPU thread and must do their own locking.
 */
#ifndef VCON_BUS_H
#define VCON_BUS_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/common.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vcon_bus;

struct vcon_bus_ops {
	uint64_t (*read)(void *ctx, uint64_t off, unsigned size);
	void (*write)(void *ctx, uint64_t off, unsigned size, uint64_t val);
	unsigned max_access; /* widest access the device takes; 0 means 8 */
};

struct vcon_bus_stats {
	uint64_t accesses; /* device accesses made */
	uint64_t unclaimed_reads;
	uint64_t unclaimed_writes;
};

/*
 * vcon_bus_new - an empty bus.
 *
 * Returns: 0 or -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_bus_new(struct vcon_bus **out);

/* vcon_bus_free - release the bus (not the devices). NULL is a no-op. */
VCON_API void
vcon_bus_free(struct vcon_bus *bus);

/*
 * vcon_bus_map - route [base, base + len) to ops; offsets passed to ops are
 * relative to base. ops is borrowed and must outlive the mapping.
 *
 * Returns: 0, -EINVAL for len 0, a wrapping range or ops without read and
 * write, -EEXIST when the range overlaps a mapped one, or -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_bus_map(struct vcon_bus *bus, uint64_t base, uint64_t len,
	     const struct vcon_bus_ops *ops, void *ctx);

/*
 * vcon_bus_unmap - remove the range mapped at base.
 *
 * Returns: 0, or -ENOENT.
 * Context: any thread; the device may still see an access that was under
 * way when this was called.
 */
VCON_API int
vcon_bus_unmap(struct vcon_bus *bus, uint64_t base);

/*
 * vcon_bus_access - perform count accesses of size bytes (1, 2, 4 or 8) at
 * addr, as a string instruction (INS/OUTS) does: data holds count * size
 * bytes, little-endian, read into or written from in order.
 *
 * Context: any thread (vCPU threads).
 */
VCON_API void
vcon_bus_access(struct vcon_bus *bus, uint64_t addr, unsigned size,
		uint32_t count, bool is_write, uint8_t *data);

VCON_API void
vcon_bus_get_stats(struct vcon_bus *bus, struct vcon_bus_stats *stats);

#ifdef __cplusplus
}
#endif

#endif /* VCON_BUS_H */
