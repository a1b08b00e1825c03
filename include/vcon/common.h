/* SPDX-License-Identifier: MIT */
/*
 * Definitions shared by every libvcon header: export and attribute macros,
 * the version, the user-input error message, and the small callback structs
 * through which a lower layer talks to the layer above it (an interrupt
 * line, a byte sink, a one-shot timer, guest memory).
 */
#ifndef VCON_COMMON_H
#define VCON_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VCON_API       __attribute__((visibility("default")))
#define VCON_NODISCARD __attribute__((warn_unused_result))

#define VCON_VERSION_MAJOR 0
#define VCON_VERSION_MINOR 1
#define VCON_VERSION_PATCH 0

/* Deadline value that means "no deadline" for struct vcon_timer. */
#define VCON_NO_DEADLINE UINT64_MAX

/*
 * A one-line, human-readable message for bad user input. It names the
 * offending key or value; strerror() of the returned errno covers the rest.
 */
struct vcon_error {
	char msg[256];
};

/*
 * An interrupt line. The model calls set_level only when the level changes;
 * the glue decides whether that becomes a level, an edge or a pulse.
 */
struct vcon_irq {
	void (*set_level)(void *ctx, bool level);
	void *ctx;
};

/*
 * Where a device's output bytes go. write may take fewer bytes than offered
 * (back-pressure) and returns how many it took; the device keeps the rest
 * and waits to be told the sink is ready again.
 */
struct vcon_sink {
	size_t (*write)(void *ctx, const uint8_t *buf, size_t len);
	void *ctx;
};

/*
 * A one-shot timer owned by one device. arm replaces any earlier deadline;
 * VCON_NO_DEADLINE disarms. Deadlines are CLOCK_MONOTONIC nanoseconds (see
 * vcon_now_ns). Firing late or spuriously is harmless: the device checks
 * the time it is given.
 */
struct vcon_timer {
	void (*arm)(void *ctx, uint64_t deadline_ns);
	void *ctx;
};

/*
 * Guest physical memory, bounds-checked. read and write return 0 or
 * -EFAULT when any part of [gpa, gpa + len) is outside guest RAM; map
 * returns a host pointer to the whole range, or NULL in the same case.
 */
struct vcon_gmem {
	int (*read)(void *ctx, uint64_t gpa, void *buf, size_t len);
	int (*write)(void *ctx, uint64_t gpa, const void *buf, size_t len);
	void *(*map)(void *ctx, uint64_t gpa, size_t len);
	void *ctx;
};

/*
 * Doorbells that need not exit to the VMM: set(on) asks that a guest write
 * of len bytes to the MMIO address addr signal the eventfd fd instead of
 * being dispatched on the bus (KVM's ioeventfd); set(off) undoes it.
 * Returns 0 or a negative errno; a device that gets an error keeps using
 * the bus.
 */
struct vcon_ioeventfd {
	int (*set)(void *ctx, uint64_t addr, unsigned len, int fd, bool on);
	void *ctx;
};

/*
 * vcon_now_ns - the library's clock.
 *
 * Returns: CLOCK_MONOTONIC in nanoseconds, the time base of every now_ns
 * argument and timer deadline in libvcon.
 * Context: any thread.
 */
VCON_API uint64_t
vcon_now_ns(void);

/*
 * vcon_version - the library's version.
 *
 * Returns: a static string, "MAJOR.MINOR.PATCH".
 * Context: any thread.
 */
VCON_API const char *
vcon_version(void);

#ifdef __cplusplus
}
#endif

#endif /* VCON_COMMON_H */
