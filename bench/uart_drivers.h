/* SPDX-License-Identifier: MIT */
/*
 * The three guest drivers of uart_bench, written once and included once
 * per model, so both models run exactly the same loops with direct calls.
 * The includer defines MODEL (the model's type), RD(u, off),
 * WR(u, off, val), RECV(u, buf, len) and NAME(x), which names the
 * functions for the model.
 */

/* serial8250_console_write: LSR until THRE, then THR, per byte */
static void
NAME(polled_tx)(MODEL *u, const uint8_t *data, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		while (!(RD(u, 5) & 0x20))
			;
		WR(u, 0, data[i]);
	}
	(void)RD(u, 5);
}

/* the THRE interrupt handler: IIR, LSR, then 16 THR writes */
static void
NAME(irq_tx)(MODEL *u, const uint8_t *data, size_t n)
{
	size_t i = 0, k;

	WR(u, 1, 0x02);
	while (i < n) {
		(void)RD(u, 2);
		if (!(RD(u, 5) & 0x20))
			continue;
		for (k = 0; k < 16 && i < n; k++)
			WR(u, 0, data[i++]);
	}
	(void)RD(u, 5);
	WR(u, 1, 0x00);
}

/* host offers up to 64 bytes; the guest reads LSR and RBR per byte */
static uint64_t
NAME(rx)(MODEL *u, const uint8_t *data, size_t n, uint8_t *out)
{
	uint64_t sum = 0;
	size_t i = 0, o = 0, chunk;

	while (i < n) {
		chunk = n - i < 64 ? n - i : 64;
		i += RECV(u, data + i, chunk);
		while (RD(u, 5) & 0x01) {
			uint8_t b = RD(u, 0);

			sum += b;
			if (out)
				out[o++] = b;
		}
	}
	return sum;
}

#undef MODEL
#undef RD
#undef WR
#undef RECV
#undef NAME
