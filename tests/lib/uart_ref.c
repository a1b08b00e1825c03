/* SPDX-License-Identifier: MIT */
/*
 * lib/uart16550.c again, with no inline accesses and under ref_ names:
 * see uart_ref.h.
 */
#define VCON_UART_NO_INLINE 1

#define vcon_uart_new ref_uart_new
#define vcon_uart_free ref_uart_free
#define vcon_uart_reset ref_uart_reset
#define vcon_uart_read_call ref_uart_read_call
#define vcon_uart_write_call ref_uart_write_call
#define vcon_uart_receive ref_uart_receive
#define vcon_uart_rx_room ref_uart_rx_room
#define vcon_uart_receive_force ref_uart_receive_force
#define vcon_uart_send_break ref_uart_send_break
#define vcon_uart_set_modem_lines ref_uart_set_modem_lines
#define vcon_uart_tx_ready ref_uart_tx_ready
#define vcon_uart_tick ref_uart_tick
#define vcon_uart_flush ref_uart_flush
#define vcon_uart__burst_short ref_uart__burst_short
#define vcon_uart_irq_level ref_uart_irq_level
#define vcon_uart_save ref_uart_save
#define vcon_uart_restore ref_uart_restore
#define vcon_uart_get_stats ref_uart_get_stats

#include "../../lib/uart16550.c"
