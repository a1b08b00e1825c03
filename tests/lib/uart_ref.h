/* SPDX-License-Identifier: MIT */
/*
 * The UART model with no inline accesses at all: lib/uart16550.c built
 * again with VCON_UART_NO_INLINE (tests/lib/uart_ref.c), its functions
 * renamed ref_uart_*. Every access takes the general path, which is what
 * the tests hold the inline paths of <vcon/uart.h> to. Instances of one
 * build go only to that build's functions.
 */
#ifndef VCON_TEST_UART_REF_H
#define VCON_TEST_UART_REF_H

#include <vcon/uart.h>

int ref_uart_new(const struct vcon_uart_config *cfg, struct vcon_uart **out);
void ref_uart_free(struct vcon_uart *u);
void ref_uart_reset(struct vcon_uart *u, uint64_t now_ns);
uint8_t ref_uart_read_call(struct vcon_uart *u, unsigned off, uint64_t now_ns);
void ref_uart_write_call(struct vcon_uart *u, unsigned off, uint8_t val,
			 uint64_t now_ns);
size_t ref_uart_receive(struct vcon_uart *u, const uint8_t *buf, size_t len,
			uint64_t now_ns);
size_t ref_uart_rx_room(const struct vcon_uart *u);
size_t ref_uart_receive_force(struct vcon_uart *u, const uint8_t *buf,
			      size_t len, uint64_t now_ns);
void ref_uart_send_break(struct vcon_uart *u, uint64_t now_ns);
void ref_uart_set_modem_lines(struct vcon_uart *u, unsigned lines,
			      uint64_t now_ns);
void ref_uart_tx_ready(struct vcon_uart *u, uint64_t now_ns);
void ref_uart_tick(struct vcon_uart *u, uint64_t now_ns);
void ref_uart_flush(struct vcon_uart *u, uint64_t now_ns);
bool ref_uart_irq_level(const struct vcon_uart *u);
void ref_uart_save(const struct vcon_uart *u, struct vcon_uart_state *st);
int ref_uart_restore(struct vcon_uart *u, const struct vcon_uart_state *st,
		     uint64_t now_ns);
void ref_uart_get_stats(const struct vcon_uart *u,
			struct vcon_uart_stats *stats);

#endif
