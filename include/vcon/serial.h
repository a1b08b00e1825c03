/* SPDX-License-Identifier: MIT */
/*
 * A COM port, assembled: the 16550A model, one lock, a chardev frontend
 * and a loop timer. This is the glue every VMM would otherwise write: the
 * guest's port accesses (vCPU threads) and the host's input, tx_ready and
 * timer callbacks (the loop thread) are serialized by the port's lock;
 * output goes to the chardev with its back-pressure (THRE stays clear
 * while the backend is full); input is taken only as the receive FIFO has
 * room and resumes when the guest reads RBR; a host break (mux C-a b)
 * reaches the guest as a break, so magic SysRq works.
 */
#ifndef VCON_SERIAL_H
#define VCON_SERIAL_H

#include <stdbool.h>
#include <stdint.h>

#include <vcon/bus.h>
#include <vcon/chr.h>
#include <vcon/common.h>
#include <vcon/loop.h>
#include <vcon/uart.h>

#ifdef __cplusplus
extern "C" {
#endif

struct vcon_serial;

struct vcon_serial_config {
	unsigned fifo_size;     /* as vcon_uart_config: 0/16 or 64 */
	struct vcon_irq irq;    /* required */
	struct vcon_loop *loop; /* required: runs the UART's timer */
	struct vcon_chr *chr;   /* NULL: output is discarded, no input */
	/* Chardev events (QUIT from mux C-a x, CLOSED...); optional. */
	void (*event)(void *ctx, enum vcon_chr_event ev, int arg);
	void *event_ctx;
};

/*
 * vcon_serial_new - create the port and attach it to cfg->chr.
 *
 * Returns: 0, -EINVAL, -EBUSY (the chardev has a frontend and no mux) or
 * -ENOMEM.
 * Context: any thread.
 */
VCON_API VCON_NODISCARD int
vcon_serial_new(const struct vcon_serial_config *cfg, struct vcon_serial **out);

/*
 * vcon_serial_free - detach and release. NULL is a no-op. Unmap it from
 * any bus first. The guest's output still held for its burst goes to the
 * chardev first (vcon_uart_flush); the chardev is not freed.
 *
 * Context: any thread but the loop thread.
 */
VCON_API void
vcon_serial_free(struct vcon_serial *s);

/* Guest register access, offsets 0-7. Context: any thread. */
VCON_API uint8_t
vcon_serial_read(struct vcon_serial *s, unsigned off);

VCON_API void
vcon_serial_write(struct vcon_serial *s, unsigned off, uint8_t val);

/*
 * vcon_serial_map - map the port's 8 registers on bus at base (0x3f8 for
 * COM1, see VCON_COM1_BASE).
 *
 * Returns: 0 or as vcon_bus_map.
 */
VCON_API VCON_NODISCARD int
vcon_serial_map(struct vcon_serial *s, struct vcon_bus *bus, uint64_t base);

/* Snapshot and restore the UART under the port's lock. */
VCON_API void
vcon_serial_save(struct vcon_serial *s, struct vcon_uart_state *st);

VCON_API VCON_NODISCARD int
vcon_serial_restore(struct vcon_serial *s, const struct vcon_uart_state *st);

VCON_API void
vcon_serial_get_stats(struct vcon_serial *s, struct vcon_uart_stats *st);

#ifdef __cplusplus
}
#endif

#endif /* VCON_SERIAL_H */
