/* SPDX-License-Identifier: MIT */
/*
 * Reset ports of a PC: the 8042 keyboard controller's "pulse reset line"
 * command and the chipset's reset control register (0xCF9). Guests that
 * find no ACPI reset register use the first (Linux's reboot=kbd), and
 * firmware and some kernels use the second. Both become a stop request.
 */
#include <errno.h>

#include <vcon/kvm.h>

#define I8042_CMD         0x64
#define I8042_PULSE_RESET 0xfe
#define RST_CNT           0xcf9
#define RST_CNT_RST_CPU   0x04

static uint64_t
no_controller(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	(void)off;
	(void)size;
	return 0xff;
}

static void
i8042_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	(void)off;
	(void)size;
	if ((val & 0xff) == I8042_PULSE_RESET)
		vcon_vm_request_stop(ctx, VCON_VM_EXIT_REBOOT);
}

static uint64_t
rst_cnt_read(void *ctx, uint64_t off, unsigned size)
{
	(void)ctx;
	(void)off;
	(void)size;
	return 0;
}

static void
rst_cnt_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	(void)off;
	(void)size;
	if (val & RST_CNT_RST_CPU)
		vcon_vm_request_stop(ctx, VCON_VM_EXIT_REBOOT);
}

static const struct vcon_bus_ops i8042_ops = {
	.read = no_controller,
	.write = i8042_write,
	.max_access = 1,
};
static const struct vcon_bus_ops rst_cnt_ops = {
	.read = rst_cnt_read,
	.write = rst_cnt_write,
	.max_access = 1,
};

VCON_API int
vcon_vm_add_reset_ports(struct vcon_vm *vm)
{
	struct vcon_bus *pio = vcon_vm_pio_bus(vm);
	int rc;

	rc = vcon_bus_map(pio, I8042_CMD, 1, &i8042_ops, vm);
	if (rc)
		return rc;
	rc = vcon_bus_map(pio, RST_CNT, 1, &rst_cnt_ops, vm);
	if (rc)
		(void)vcon_bus_unmap(pio, I8042_CMD);
	return rc;
}
