/* SPDX-License-Identifier: MIT */
/*
 * ACPI, as little as a stock kernel needs to power the VM off: a PM1 event
 * and control block at port 0x600 (PIIX4's layout, which QEMU also uses),
 * and the tables that describe it. The guest's `poweroff` evaluates \_S5
 * in the DSDT and writes SLP_TYPx | SLP_EN to PM1a_CNT; that write stops
 * the VM with VCON_VM_EXIT_POWEROFF. The FADT's reset register is 0xCF9
 * (value 6), so `reboot` takes the ACPI path to the reset port.
 *
 * The hardware is "full" ACPI, not hardware-reduced: reduced mode makes
 * Linux drop the legacy PIC and PIT set-up, which the rest of this VM (the
 * in-kernel PIT, ISA interrupts through the 8259/IOAPIC) relies on.
 * SMI_CMD is 0, so the OS finds ACPI already enabled (SCI_EN reads 1). No
 * SCI is ever raised; no PM timer, GPEs or sleep states other than S5.
 *
 * Tables live in the BIOS area at 0xE0000, where Linux also scans for the
 * RSDP; the boot protocol's acpi_rsdp_addr points there too. With them
 * Linux takes CPUs and the IOAPIC from the MADT instead of the MP table,
 * so the MADT says what the MP table says: ISA IRQ n on IOAPIC pin n
 * (KVM's default routing), and the SCI (IRQ 9) level-triggered.
 */
#include <errno.h>
#include <string.h>

#include <vcon/kvm.h>
#include <vcon/pci.h>

#include "kvm_impl.h"
#include "le.h"

#define PM_BASE        0x600
#define PM1_EVT_LEN    4
#define PM1_CNT        (PM_BASE + PM1_EVT_LEN)
#define PM1_CNT_LEN    2
#define SCI_IRQ        9
#define PM1_CNT_SCI_EN 0x0001
#define PM1_CNT_SLP_EN 0x2000
#define SLP_TYP_S5     5 /* what \_S5 says; any value the two agree on */

#define RSDP_ADDR 0xe0000
#define FACS_ADDR 0xe0040 /* 64-byte aligned */
#define XSDT_ADDR 0xe0080
#define FADT_ADDR 0xe0100
#define MADT_ADDR 0xe0280
#define DSDT_ADDR 0xe1000 /* last: its size depends on PCI */

/* DefinitionBlock's body: Name (_S5, Package () { 5, 5, 0, 0 }). */
/* clang-format off: a table laid out by hand */
static const uint8_t dsdt_aml[] = {
	0x08, '_',        'S',  '5',        '_', /* NameOp "_S5_" */
	0x12, 0x08,       0x04, /* PackageOp, PkgLength 8, 4 elements */
	0x0a, SLP_TYP_S5, 0x0a, SLP_TYP_S5, /* BytePrefix 5, BytePrefix 5 */
	0x00, 0x00,                         /* Zero, Zero */
};
/* clang-format on */

/*
 * AML for PCI0, a PNP0A03 host bridge: its bus, the config ports and the
 * two windows in _CRS, and _PRT routing every slot's INTA-D straight to
 * an I/O APIC input (a Source of Zero means "Source Index is a GSI").
 * Built from the inside out, since each PkgLength counts what follows.
 */
struct aml {
	uint8_t *p;
	size_t len;
};

static void
emit(struct aml *a, const void *b, size_t n)
{
	memcpy(a->p + a->len, b, n);
	a->len += n;
}

static void
emit1(struct aml *a, uint8_t b)
{
	emit(a, &b, 1);
}

/* PkgLength (ACPI 6.4, 20.2.4) for a body of n bytes, then the body. */
static void
emit_pkg(struct aml *a, const struct aml *body)
{
	size_t n = body->len;

	if (n + 1 <= 63) {
		emit1(a, (uint8_t)(n + 1));
	} else if (n + 2 <= 0xfff) {
		n += 2;
		emit1(a, (uint8_t)(0x40 | (n & 0xf)));
		emit1(a, (uint8_t)(n >> 4));
	} else {
		n += 3;
		emit1(a, (uint8_t)(0x80 | (n & 0xf)));
		emit1(a, (uint8_t)(n >> 4));
		emit1(a, (uint8_t)(n >> 12));
	}
	emit(a, body->p, body->len);
}

static void
emit_dword(struct aml *a, uint32_t v)
{
	uint8_t b[5] = { 0x0c };

	put32(b + 1, v);
	emit(a, b, 5);
}

static void
emit_int(struct aml *a, uint32_t v)
{
	if (v <= 1) {
		emit1(a, (uint8_t)v); /* ZeroOp, OneOp */
	} else if (v <= 0xff) {
		emit1(a, 0x0a);
		emit1(a, (uint8_t)v);
	} else {
		emit_dword(a, v);
	}
}

static size_t
pci0_aml(uint8_t *out)
{
	/* clang-format off: a table laid out by hand */
	static const uint8_t crs[] = {
		/* WordBusNumber: producer, fixed, bus 0 only */
		0x88,
		0x0d,
		0x00,
		0x02,
		0x0c,
		0x00,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		1,
		0,
		/* IO (Decode16, 0xCF8, 0xCF8, 1, 8): the config ports */
		0x47,
		0x01,
		0xf8,
		0x0c,
		0xf8,
		0x0c,
		0x01,
		0x08,
		/* WordIO window 0xC000-0xFFFF */
		0x88,
		0x0d,
		0x00,
		0x01,
		0x0c,
		0x03,
		0,
		0,
		0x00,
		0xc0,
		0xff,
		0xff,
		0,
		0,
		0x00,
		0x40,
		/* DWordMemory window, read-write, non-cacheable */
		0x87,
		0x17,
		0x00,
		0x00,
		0x0c,
		0x01,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		0,
		/* EndTag */
		0x79,
		0x00,
	};
	/* clang-format on */
	uint8_t scratch[4][4096];
	struct aml prt = { scratch[0], 0 }, tmp = { scratch[1], 0 };
	struct aml dev = { scratch[2], 0 }, scope = { scratch[3], 0 };
	struct aml res = { out, 0 };
	uint8_t c[sizeof(crs)];
	unsigned slot, pin;

	memcpy(c, crs, sizeof(c));
	put32(c + 40 + 10, VCON_PCI_MMIO_BASE);
	put32(c + 40 + 14, VCON_PCI_MMIO_BASE + VCON_PCI_MMIO_SIZE - 1);
	put32(c + 40 + 22, VCON_PCI_MMIO_SIZE);

	/* _PRT: Package { Package { addr, pin, Zero, gsi } ... } */
	emit1(&tmp, 4 * 31);
	for (slot = 1; slot < 32; slot++) {
		for (pin = 0; pin < 4; pin++) {
			struct aml e = { scratch[0], 0 };

			emit1(&e, 4);
			emit_dword(&e, slot << 16 | 0xffff);
			emit_int(&e, pin);
			emit1(&e, 0x00);
			emit_int(&e, vcon_pci_intx_gsi(slot, pin + 1));
			emit1(&tmp, 0x12);
			emit_pkg(&tmp, &e);
		}
	}
	emit(&dev, "\x08_HID\x0c\x41\xd0\x0a\x03", 10); /* EisaId PNP0A03 */
	emit(&dev, "\x08_UID\x00", 6);
	emit(&dev, "\x08_BBN\x00", 6);
	emit(&dev, "\x08_CRS\x11", 6);
	prt.len = 0;
	emit1(&prt, 0x0a);
	emit1(&prt, (uint8_t)sizeof(c));
	emit(&prt, c, sizeof(c));
	emit_pkg(&dev, &prt);
	emit(&dev, "\x08_PRT\x12", 6);
	emit_pkg(&dev, &tmp);

	/* Device (PCI0) { ... } inside Scope (\_SB) { ... } */
	tmp.len = 0;
	emit(&tmp, "PCI0", 4);
	emit(&tmp, dev.p, dev.len);
	emit(&scope, "\\_SB_", 5);
	emit1(&scope, 0x5b);
	emit1(&scope, 0x82);
	emit_pkg(&scope, &tmp);
	emit1(&res, 0x10);
	emit_pkg(&res, &scope);
	return res.len;
}

static void
header(uint8_t *t, const char *sig, uint32_t len, uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "LIBVCO", 6);
	memcpy(t + 16, "TINYVMM ", 8);
	put32(t + 24, 1);
	memcpy(t + 28, "VCON", 4);
	put32(t + 32, 1);
}

static void
finish(uint8_t *t, uint32_t len)
{
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* A Generic Address Structure for an I/O port block. */
static void
gas_io(uint8_t *g, uint16_t port, uint8_t bits, uint8_t access)
{
	g[0] = 1; /* system I/O */
	g[1] = bits;
	g[2] = 0;
	g[3] = access; /* 1 byte, 2 word, 3 dword */
	put64(g + 4, port);
}

static uint32_t
write_fadt(uint8_t *t)
{
	const uint32_t len = 276; /* ACPI 6.0 */

	memset(t, 0, len);
	header(t, "FACP", len, 6);
	/* FIRMWARE_CTRL stays 0: X_FIRMWARE_CTRL has the FACS. */
	put32(t + 40, DSDT_ADDR);
	put16(t + 46, SCI_IRQ);
	put32(t + 56, PM_BASE); /* PM1a_EVT_BLK */
	put32(t + 64, PM1_CNT); /* PM1a_CNT_BLK */
	t[88] = PM1_EVT_LEN;
	t[89] = PM1_CNT_LEN;
	put16(t + 96, 0x0fff); /* no C2 */
	put16(t + 98, 0xffff); /* no C3 */
	/* IAPC_BOOT_ARCH: ISA devices; no 8042, no VGA, no CMOS RTC. */
	put16(t + 109, 0x0001 | 0x0004 | 0x0020);
	/* WBINVD, C1 on all CPUs, power and sleep buttons not fixed,
	 * reset register supported. */
	put32(t + 112, 0x0001 | 0x0004 | 0x0010 | 0x0020 | 0x0400);
	gas_io(t + 116, 0xcf9, 8, 1); /* RESET_REG */
	t[128] = 0x06;                /* RESET_VALUE: RST_CPU | SYS_RST */
	put64(t + 132, FACS_ADDR);
	put64(t + 140, DSDT_ADDR);
	gas_io(t + 148, PM_BASE, 32, 2); /* X_PM1a_EVT_BLK */
	gas_io(t + 172, PM1_CNT, 16, 2); /* X_PM1a_CNT_BLK */
	memcpy(t + 268, "LIBVCON ", 8);  /* hypervisor vendor */
	finish(t, len);
	return len;
}

static uint32_t
write_madt(uint8_t *t, unsigned nr_vcpus)
{
	uint8_t *e = t + 44;
	uint32_t len;
	unsigned i;

	header(t, "APIC", 0, 5);
	put32(t + 36, 0xfee00000u); /* local APIC address */
	put32(t + 40, 1);           /* PCAT_COMPAT: there are 8259s */
	for (i = 0; i < nr_vcpus; i++, e += 8) {
		e[0] = 0; /* processor local APIC */
		e[1] = 8;
		e[2] = (uint8_t)i; /* processor UID */
		e[3] = (uint8_t)i; /* APIC ID */
		put32(e + 4, 1);   /* enabled */
	}
	e[0] = 1; /* I/O APIC, id after the CPUs' as in the MP table */
	e[1] = 12;
	e[2] = (uint8_t)nr_vcpus;
	e[3] = 0;
	put32(e + 4, 0xfec00000u);
	put32(e + 8, 0); /* GSI base */
	e += 12;
	e[0] = 2; /* interrupt source override: SCI, level, active high */
	e[1] = 10;
	e[2] = 0;
	e[3] = SCI_IRQ;
	put32(e + 4, SCI_IRQ);
	put16(e + 8, 0x000d);
	e += 10;
	e[0] = 4; /* local APIC NMI: all processors, LINT1 */
	e[1] = 6;
	e[2] = 0xff;
	put16(e + 3, 0);
	e[5] = 1;
	e += 6;
	len = (uint32_t)(e - t);
	put32(t + 4, len);
	finish(t, len);
	return len;
}

void
vcon__acpi_write_tables(struct vcon_vm *vm, uint8_t *boot_params)
{
	uint8_t *m = vm->mem, *t;
	uint32_t len;

	/* FACS: no firmware waking vector, no global lock owner. */
	t = m + FACS_ADDR;
	memset(t, 0, 64);
	memcpy(t, "FACS", 4);
	put32(t + 4, 64);
	t[32] = 2; /* version */

	t = m + DSDT_ADDR;
	len = 36 + (uint32_t)sizeof(dsdt_aml);
	memcpy(t + 36, dsdt_aml, sizeof(dsdt_aml));
	if (vm->pci)
		len += (uint32_t)pci0_aml(t + len);
	header(t, "DSDT", len, 2);
	finish(t, len);

	write_fadt(m + FADT_ADDR);
	write_madt(m + MADT_ADDR, vm->nr_vcpus);

	t = m + XSDT_ADDR;
	len = 36 + 2 * 8;
	header(t, "XSDT", len, 1);
	put64(t + 36, FADT_ADDR);
	put64(t + 44, MADT_ADDR);
	finish(t, len);

	t = m + RSDP_ADDR;
	memset(t, 0, 36);
	memcpy(t, "RSD PTR ", 8);
	memcpy(t + 9, "LIBVCO", 6);
	t[15] = 2; /* ACPI 2.0+: use the XSDT */
	put32(t + 20, 36);
	put64(t + 24, XSDT_ADDR);
	t[8] = checksum(t, 20);
	t[32] = checksum(t, 36);

	put64(boot_params + 0x070, RSDP_ADDR); /* acpi_rsdp_addr (2.14+) */
}

/* ---- the PM1 block -------------------------------------------------- */

static uint64_t
pm_read(void *ctx, uint64_t off, unsigned size)
{
	struct acpi_pm_regs {
		uint8_t b[6];
	} r = { { 0 } };
	const struct vcon_vm *vm = ctx;
	uint64_t v = 0;
	unsigned i;

	/* PM1_STS reads 0: no event is ever pending. */
	put16(r.b + 2, vm->pm_en);
	put16(r.b + 4, (uint16_t)(vm->pm_cnt | PM1_CNT_SCI_EN));
	for (i = 0; i < size && off + i < sizeof(r.b); i++)
		v |= (uint64_t)r.b[off + i] << (8 * i);
	return v;
}

static void
pm_write(void *ctx, uint64_t off, unsigned size, uint64_t val)
{
	struct vcon_vm *vm = ctx;
	unsigned i, at;
	uint16_t typ;

	for (i = 0; i < size; i++) {
		at = (unsigned)off + i;
		uint8_t b = (uint8_t)(val >> (8 * i));

		if (at == 2 || at == 3)
			vm->pm_en =
				(uint16_t)(at == 2 ? (vm->pm_en & 0xff00) | b
						   : (vm->pm_en & 0x00ff) |
							     b << 8);
		else if (at == 4 || at == 5)
			vm->pm_cnt =
				(uint16_t)(at == 4 ? (vm->pm_cnt & 0xff00) | b
						   : (vm->pm_cnt & 0x00ff) |
							     b << 8);
	}
	typ = (uint16_t)((vm->pm_cnt >> 10) & 7);
	if ((vm->pm_cnt & PM1_CNT_SLP_EN) && off + size > 4) {
		vm->pm_cnt &= (uint16_t)~PM1_CNT_SLP_EN; /* self-clearing */
		if (typ == SLP_TYP_S5)
			vcon_vm_request_stop(vm, VCON_VM_EXIT_POWEROFF);
	}
}

static const struct vcon_bus_ops pm_ops = {
	.read = pm_read,
	.write = pm_write,
	.max_access = 4,
};

VCON_API int
vcon_vm_add_acpi(struct vcon_vm *vm)
{
	int rc = vcon_bus_map(vcon_vm_pio_bus(vm), PM_BASE,
			      PM1_EVT_LEN + PM1_CNT_LEN, &pm_ops, vm);

	if (rc == 0)
		vm->acpi = true;
	return rc;
}
