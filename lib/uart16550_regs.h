/* SPDX-License-Identifier: MIT */
/*
 * Register offsets and bits of the 16550A, from the TI (National) PC16550D
 * datasheet, section 8 ("Registers"), plus the TI TL16C750 additions used
 * by the 64-byte FIFO mode.
 */
#ifndef VCON_UART16550_REGS_H
#define VCON_UART16550_REGS_H

/* Offsets; DLL/DLM replace RBR/THR and IER while LCR.DLAB is set. */
#define UART_RBR 0 /* receiver buffer [r] */
#define UART_THR 0 /* transmitter holding [w] */
#define UART_DLL 0 /* divisor latch LSB (DLAB) */
#define UART_IER 1 /* interrupt enable */
#define UART_DLM 1 /* divisor latch MSB (DLAB) */
#define UART_IIR 2 /* interrupt identification [r] */
#define UART_FCR 2 /* FIFO control [w] */
#define UART_LCR 3 /* line control */
#define UART_MCR 4 /* modem control */
#define UART_LSR 5 /* line status */
#define UART_MSR 6 /* modem status */
#define UART_SCR 7 /* scratch */

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI  0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK  0x0f

#define IIR_NO_INT  0x01
#define IIR_MSI     0x00
#define IIR_THRI    0x02
#define IIR_RDI     0x04
#define IIR_RLSI    0x06
#define IIR_CTI     0x0c
#define IIR_FIFO64  0x20 /* TL16C750: 64-byte FIFO enabled */
#define IIR_FIFO_ON 0xc0

#define FCR_FE     0x01 /* FIFO enable */
#define FCR_RFR    0x02 /* receiver FIFO reset */
#define FCR_XFR    0x04 /* transmitter FIFO reset */
#define FCR_DMA    0x08 /* DMA mode select */
#define FCR_FIFO64 0x20 /* TL16C750: 64-byte FIFO, writable only with DLAB */
#define FCR_TRIG   0xc0 /* receiver trigger level */
#define FCR_STORED (FCR_FE | FCR_DMA | FCR_TRIG)

#define LCR_WLS  0x03 /* word length - 5 */
#define LCR_STB  0x04 /* stop bits: 2 (1.5 for 5-bit words) */
#define LCR_PEN  0x08 /* parity enable */
#define LCR_SB   0x40 /* set break */
#define LCR_DLAB 0x80 /* divisor latch access */

#define MCR_DTR  0x01
#define MCR_RTS  0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR          0x01
#define LSR_OE          0x02
#define LSR_PE          0x04
#define LSR_FE          0x08
#define LSR_BI          0x10
#define LSR_THRE        0x20
#define LSR_TEMT        0x40
#define LSR_RXFE        0x80 /* error in receiver FIFO */
#define LSR_ERRORS      (LSR_OE | LSR_PE | LSR_FE | LSR_BI)
#define LSR_CHAR_ERRORS (LSR_PE | LSR_FE | LSR_BI)

#define MSR_DCTS   0x01
#define MSR_DDSR   0x02
#define MSR_TERI   0x04
#define MSR_DDCD   0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS    0x10
#define MSR_DSR    0x20
#define MSR_RI     0x40
#define MSR_DCD    0x80

#endif /* VCON_UART16550_REGS_H */
