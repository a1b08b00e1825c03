/* SPDX-License-Identifier: MIT */
/*
 * The README's example, compiled and run by `make check`: a VMM wires a
 * 16550A to its interrupt controller and to stdout, and routes COM1's port
 * exits to it. A scripted "guest" stands in for the vCPU loop here; it does
 * what Linux's polled console does.
 */
#include <stdio.h>
#include <string.h>

#include <vcon.h>

/* -- README begin */
static void set_irq4(void *vmm, bool level)     /* e.g. KVM_IRQ_LINE, GSI 4 */
{
	(void)vmm, (void)level;
}

static size_t to_stdout(void *vmm, const uint8_t *buf, size_t len)
{
	(void)vmm;
	return fwrite(buf, 1, len, stdout);     /* may take fewer: back-pressure */
}

/* The vCPU loop calls this for every port exit in 0x3f8-0x3ff. */
static void com1_pio(struct vcon_uart *com1, uint16_t port, bool is_write,
		     uint8_t *data)
{
	unsigned off = (unsigned)(port - VCON_COM1_BASE);

	if (is_write)
		vcon_uart_write(com1, off, *data, vcon_now_ns());
	else
		*data = vcon_uart_read(com1, off, vcon_now_ns());
}
/* -- README end */

int
main(void)
{
	struct vcon_uart_config cfg = {
		.irq = { .set_level = set_irq4 },
		.tx = { .write = to_stdout },
	};
	const char *msg = "hello from the guest\n";
	struct vcon_uart *com1;
	uint8_t lsr;
	size_t i;

	if (vcon_uart_new(&cfg, &com1))
		return 1;
	for (i = 0; i < strlen(msg); i++) {
		do
			com1_pio(com1, VCON_COM1_BASE + 5, false, &lsr);
		while (!(lsr & 0x20)); /* THRE */
		lsr = (uint8_t)msg[i];
		com1_pio(com1, VCON_COM1_BASE, true, &lsr);
	}
	com1_pio(com1, VCON_COM1_BASE + 5, false, &lsr); /* THRE and TEMT */
	vcon_uart_flush(com1, vcon_now_ns()); /* the held tail, before exit */
	vcon_uart_free(com1);
	return 0;
}
