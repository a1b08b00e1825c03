/* SPDX-License-Identifier: MIT */
/*
 * The cheapest UART a VMM could call out of line: LSR, RBR, IIR and THR
 * only, no FIFO levels, no interrupt, no time, the sink once per 16 bytes.
 * Compiled apart from uart_bench.c so the calls stay calls, as calls into
 * libvcon are: what uart_bench measures against it is the price of the
 * call boundary itself, which an inlined model (vm-superio under Rust's
 * generics) does not pay.
 */
#include "uart_floor.h"

uint8_t
floor_read(struct floor_uart *f, unsigned off)
{
	switch (off) {
	case 0:
		if (!f->rx_count)
			return 0;
		f->rx_count--;
		return f->rx[f->rx_head++ & 63];
	case 2:
		return 0xc1;
	case 5:
		return (uint8_t)(0x60 | (f->rx_count != 0));
	default:
		return 0;
	}
}

void
floor_write(struct floor_uart *f, unsigned off, uint8_t val)
{
	if (off != 0)
		return;
	f->tx[f->tx_count++] = val;
	if (f->tx_count == 16) {
		f->sink(f->sink_ctx, f->tx, 16);
		f->tx_count = 0;
	}
}

size_t
floor_receive(struct floor_uart *f, const uint8_t *buf, size_t len)
{
	size_t i;

	if (len > 16 - f->rx_count)
		len = 16 - f->rx_count;
	for (i = 0; i < len; i++)
		f->rx[(f->rx_head + f->rx_count + i) & 63] = buf[i];
	f->rx_count += (unsigned)len;
	return len;
}
