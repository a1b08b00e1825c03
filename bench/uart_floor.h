/* SPDX-License-Identifier: MIT */
#ifndef UART_FLOOR_H
#define UART_FLOOR_H

#include <stddef.h>
#include <stdint.h>

struct floor_uart {
	uint8_t tx[16], rx[64];
	unsigned tx_count, rx_head, rx_count;
	size_t (*sink)(void *ctx, const uint8_t *buf, size_t len);
	void *sink_ctx;
};

uint8_t floor_read(struct floor_uart *f, unsigned off);
void floor_write(struct floor_uart *f, unsigned off, uint8_t val);
size_t floor_receive(struct floor_uart *f, const uint8_t *buf, size_t len);

#endif
