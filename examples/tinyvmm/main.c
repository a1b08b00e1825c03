/* SPDX-License-Identifier: MIT */
/*
 * tinyvmm: a small VMM on libvcon that boots a stock Linux kernel with its
 * console on COM1. The command line is QEMU's (see options.h), so
 *
 *   tinyvmm -kernel bzImage -initrd initrd -append console=ttyS0 -nographic
 *
 * behaves as the same qemu-system-x86_64 line would: COM1 on stdio with
 * the Ctrl-A keys, -serial/-chardev for the other ports and backends, the
 * guest's reboot restarting it (or ending tinyvmm with -no-reboot).
 *
 * Threads: vCPUs (libvcon's), the chardev loop, and one that waits for
 * SIGINT/SIGTERM/SIGHUP (blocked everywhere else) and stops the VM, so
 * every exit goes through the same teardown and the terminal is restored.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <vcon.h>

#include "monitor.h"
#include "options.h"

static const struct {
	uint16_t base;
	uint8_t irq;
} com_ports[TVM_MAX_SERIAL] = {
	{ VCON_COM1_BASE, VCON_COM1_IRQ },
	{ VCON_COM2_BASE, VCON_COM2_IRQ },
	{ VCON_COM3_BASE, VCON_COM3_IRQ },
	{ VCON_COM4_BASE, VCON_COM4_IRQ },
};

/*
 * COM1 and COM3 share IRQ 4, COM2 and COM4 IRQ 3: the line is the OR of
 * the ports driving it, or one port lowering it would hide the other.
 */
struct shared_irq {
	pthread_mutex_t lock;
	struct vcon_irq line;
	unsigned levels; /* bit per port */
};

struct port_irq {
	struct shared_irq *shared;
	unsigned bit;
};

struct tvm {
	struct tvm_options o;
	struct vcon_loop *loop;
	struct vcon_chr *named[TVM_MAX_CHARDEV];
	size_t nnamed;
	struct vcon_chr *com_chr[TVM_MAX_SERIAL]; /* NULL: not connected */
	bool com_owned[TVM_MAX_SERIAL];
	struct shared_irq irqs[2];
	struct port_irq port_irqs[TVM_MAX_SERIAL];
	struct vcon_serial *com[TVM_MAX_SERIAL];
	struct tvm_device dev[TVM_MAX_DEVICE];
	unsigned max_ports;      /* virtio-serial's max_ports, 0 = default */
	bool want_vserial;
	struct vcon_virtio_serial *vserial;
	/* The ports of this boot, by number: for the monitor. */
	struct tvm_device port[VCON_VSERIAL_MAX_PORTS];
	bool port_used[VCON_VSERIAL_MAX_PORTS];
	struct tvm_monitor *monitor;
	pthread_mutex_t vm_lock; /* guards vm for the loop and signal threads */
	struct vcon_vm *vm;
	bool quit;               /* C-a x or a signal: do not restart */
	int signal;
};

static void
die(const char *fmt, ...)
{
	va_list ap;

	fputs("tinyvmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static void
stop_vm(struct tvm *t, int sig)
{
	pthread_mutex_lock(&t->vm_lock);
	t->quit = true;
	if (sig)
		t->signal = sig;
	if (t->vm)
		vcon_vm_request_stop(t->vm, VCON_VM_EXIT_STOPPED);
	pthread_mutex_unlock(&t->vm_lock);
}

static void *
signal_thread(void *arg)
{
	struct tvm *t = arg;
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	for (;;)
		if (sigwait(&set, &sig) == 0)
			stop_vm(t, sig);
	return NULL;
}

static void
on_chr_event(void *ctx, enum vcon_chr_event ev, int arg)
{
	struct tvm *t = ctx;

	if (ev == VCON_CHR_EVENT_QUIT)
		stop_vm(t, 0);
	else if (ev == VCON_CHR_EVENT_ERROR)
		fprintf(stderr, "tinyvmm: console I/O error: %s\r\n",
			strerror(arg));
}

static void
shared_irq_set(void *ctx, bool level)
{
	struct port_irq *p = ctx;
	struct shared_irq *s = p->shared;
	unsigned before, after;

	pthread_mutex_lock(&s->lock);
	before = s->levels;
	s->levels = level ? before | p->bit : before & ~p->bit;
	after = s->levels;
	if (!before != !after)
		s->line.set_level(s->line.ctx, after != 0);
	pthread_mutex_unlock(&s->lock);
}

static struct vcon_chr *
find_named(struct tvm *t, const char *id)
{
	size_t i;

	for (i = 0; i < t->nnamed; i++)
		if (!strcmp(vcon_chr_id(t->named[i]), id))
			return t->named[i];
	return NULL;
}

static void
report_pty(struct vcon_chr *chr, const char *label)
{
	const char *name = vcon_chr_pty_name(chr);

	if (name)
		fprintf(stderr, "char device redirected to %s (label %s)\n",
			name, label);
}

/* Chardevs live for the whole run, across guest reboots. */
static void
open_chardevs(struct tvm *t)
{
	struct vcon_error err;
	struct vcon_chr *chr;
	char label[32];
	size_t i;
	int rc;

	for (i = 0; i < t->o.nchardev; i++) {
		rc = vcon_chr_new(t->loop, t->o.chardev[i], &chr, &err);
		if (rc < 0)
			die("-chardev %s: %s", t->o.chardev[i],
			    err.msg[0] ? err.msg : strerror(-rc));
		if (!*vcon_chr_id(chr))
			die("-chardev %s: 'id' is required", t->o.chardev[i]);
		if (find_named(t, vcon_chr_id(chr)))
			die("-chardev %s: duplicate id '%s'", t->o.chardev[i],
			    vcon_chr_id(chr));
		t->named[t->nnamed++] = chr;
		report_pty(chr, vcon_chr_id(chr));
	}
	if (t->o.nserial == 0) /* QEMU's -nographic default, and ours */
		t->o.serial[t->o.nserial++] = "mon:stdio";
	for (i = 0; i < t->o.nserial; i++) {
		const char *spec = t->o.serial[i];

		if (!strncmp(spec, "chardev:", 8)) {
			t->com_chr[i] = find_named(t, spec + 8);
			if (!t->com_chr[i])
				die("-serial %s: no -chardev with id '%s'",
				    spec, spec + 8);
			continue;
		}
		snprintf(label, sizeof(label), "serial%zu", i);
		rc = vcon_chr_new_serial(t->loop, spec, label, &chr, &err);
		if (rc == -ENOENT) /* none */
			continue;
		if (rc < 0)
			die("-serial %s: %s", spec,
			    err.msg[0] ? err.msg : strerror(-rc));
		t->com_chr[i] = chr;
		t->com_owned[i] = true;
		report_pty(chr, label);
	}
}

static void
close_chardevs(struct tvm *t)
{
	size_t i;

	for (i = 0; i < TVM_MAX_SERIAL; i++)
		if (t->com_owned[i])
			vcon_chr_free(t->com_chr[i]);
	for (i = 0; i < t->nnamed; i++)
		vcon_chr_free(t->named[i]);
}

static const char *
vserial_event_name(enum vcon_vserial_event ev)
{
	switch (ev) {
	case VCON_VSERIAL_BROKEN: return "broken";
	default: return NULL;
	}
}

static void
on_vserial_event(void *ctx, unsigned port, enum vcon_vserial_event ev)
{
	struct tvm *t = ctx;
	struct vcon_vserial_stats st;

	if (!vserial_event_name(ev))
		return;
	vcon_virtio_serial_get_stats(t->vserial, &st);
	fprintf(stderr, "tinyvmm: the guest broke virtio-serial (queue %u: "
		"%s); it stays stopped until the guest resets it\r\n", port,
		st.broken_why ? st.broken_why : "?");
}

/* One virtconsole or virtserialport; msg says why not. */
static int
add_port(struct tvm *t, const struct tvm_device *d, char *msg, size_t msgsz)
{
	struct vcon_vserial_port_config pc = {
		.console = d->kind == TVM_DEV_VIRTCONSOLE,
		.name = d->name[0] ? d->name : NULL,
		.nr = d->nr,
		.chr = find_named(t, d->chardev),
	};
	unsigned i;
	int rc;

	if (!pc.chr) {
		snprintf(msg, msgsz, "no -chardev with id '%s'", d->chardev);
		return -ENOENT;
	}
	for (i = 0; d->id[0] && i < VCON_VSERIAL_MAX_PORTS; i++)
		if (t->port_used[i] && !strcmp(t->port[i].id, d->id)) {
			snprintf(msg, msgsz, "id '%s' is taken", d->id);
			return -EEXIST;
		}
	rc = vcon_virtio_serial_add_port(t->vserial, &pc);
	if (rc == -EBUSY)
		snprintf(msg, msgsz, "chardev '%s' is already in use (add "
			 "mux=on to share it)", d->chardev);
	else if (rc == -EEXIST)
		snprintf(msg, msgsz, "the port number or name is taken");
	else if (rc == -ENOSPC || rc == -EINVAL)
		snprintf(msg, msgsz, "no such port number (max_ports is %u)",
			 t->max_ports ? t->max_ports
				      : VCON_VSERIAL_DEFAULT_PORTS);
	else if (rc < 0)
		snprintf(msg, msgsz, "%s", strerror(-rc));
	if (rc < 0)
		return rc;
	t->port[rc] = *d;
	t->port_used[rc] = true;
	return rc;
}

/* The virtio-serial controller and its ports, in -device order. */
static void
add_vserial(struct tvm *t, struct vcon_vm *vm)
{
	struct vcon_virtio_serial_config cfg = {
		.max_nr_ports = t->max_ports,
		.mem = vcon_vm_gmem(vm),
		.loop = t->loop,
		.ioeventfd = vcon_vm_ioeventfds(vm),
		.event = on_vserial_event,
		.event_ctx = t,
	};
	size_t i;
	int rc;

	if (vcon_vm_add_pci(vm, &cfg.pci) < 0)
		die("cannot create the PCI host bridge");
	rc = vcon_virtio_serial_new(&cfg, &t->vserial);
	if (rc < 0)
		die("-device virtio-serial: %s", strerror(-rc));
	for (i = 0; i < t->o.ndevice; i++) {
		char msg[256];

		if (t->dev[i].kind == TVM_DEV_VIRTIO_SERIAL)
			continue;
		if (add_port(t, &t->dev[i], msg, sizeof(msg)) < 0)
			die("-device %s: %s", t->o.device[i], msg);
	}
}

/* ---- the monitor (Ctrl-A c on a mon: console) ---------------------- */

static void
mon_info_chardev(struct tvm *t, struct tvm_monitor *m)
{
	struct vcon_chr_stats st;
	size_t i;

	for (i = 0; i < t->nnamed; i++) {
		const char *pty = vcon_chr_pty_name(t->named[i]);

		vcon_chr_get_stats(t->named[i], &st);
		tvm_monitor_printf(m, "%s: %s%s%s, %llu bytes out, %llu in\n",
				   vcon_chr_id(t->named[i]),
				   vcon_chr_is_connected(t->named[i])
					   ? "connected"
					   : "no peer",
				   pty ? ", pty " : "", pty ? pty : "",
				   (unsigned long long)st.tx_bytes,
				   (unsigned long long)st.rx_bytes);
	}
}

static void
mon_info_kvm(struct tvm *t, struct tvm_monitor *m)
{
	struct vcon_vm_stats st;
	bool have;

	pthread_mutex_lock(&t->vm_lock);
	have = t->vm != NULL;
	if (have)
		vcon_vm_get_stats(t->vm, &st);
	pthread_mutex_unlock(&t->vm_lock);
	if (!have)
		return;
	tvm_monitor_printf(m,
			   "exits: io=%llu mmio=%llu; coalesced writes=%llu, "
			   "%u waiting in the ring\n",
			   (unsigned long long)st.io_exits,
			   (unsigned long long)st.mmio_exits,
			   (unsigned long long)st.coalesced_writes,
			   st.coalesced_pending);
}

/* The state keeps LSR's latched error bits; the rest follow the FIFOs. */
static unsigned
lsr_of(const struct vcon_uart_state *st)
{
	unsigned lsr = st->lsr;

	if (st->rx_count)
		lsr |= 0x01; /* DR */
	if (!st->tx_count)
		lsr |= 0x60; /* THRE, TEMT */
	return lsr;
}

/*
 * What each COM port's registers and counters say: when a guest's serial
 * output stalls, whether the port still owes it a THRE interrupt (IER
 * bit 1 set, THRE pending) or waits on the guest (FIFO full, or the
 * interrupt off) tells a lost interrupt from a busy guest.
 */
static void
mon_info_serial(struct tvm *t, struct tvm_monitor *m)
{
	struct vcon_uart_state st[TVM_MAX_SERIAL];
	struct vcon_uart_stats ss[TVM_MAX_SERIAL];
	size_t i, n = 0;

	pthread_mutex_lock(&t->vm_lock);
	for (; t->vm && n < t->o.nserial; n++) {
		vcon_serial_save(t->com[n], &st[n]);
		vcon_serial_get_stats(t->com[n], &ss[n]);
	}
	pthread_mutex_unlock(&t->vm_lock);
	for (i = 0; i < n; i++)
		tvm_monitor_printf(
			m,
			"COM%zu 0x%x irq %u (%s): IER=%02x LCR=%02x MCR=%02x "
			"LSR=%02x MSR=%02x; rx fifo %u, tx fifo %u%s%s\n"
			"  tx %llu bytes in %llu sink calls, %llu dropped; "
			"rx %llu bytes, %llu overruns; %llu interrupts\n",
			i + 1, (unsigned)com_ports[i].base,
			(unsigned)com_ports[i].irq, t->o.serial[i], st[i].ier,
			st[i].lcr, st[i].mcr, lsr_of(&st[i]), st[i].msr,
			(unsigned)st[i].rx_count, (unsigned)st[i].tx_count,
			st[i].thr_ipending ? ", THRE pending" : "",
			st[i].cti_pending ? ", timeout pending" : "",
			(unsigned long long)ss[i].tx_bytes,
			(unsigned long long)ss[i].sink_calls,
			(unsigned long long)ss[i].tx_dropped,
			(unsigned long long)ss[i].rx_bytes,
			(unsigned long long)ss[i].rx_overruns,
			(unsigned long long)ss[i].irq_raises);
}

static void
mon_info_vserial(struct tvm *t, struct tvm_monitor *m)
{
	struct vcon_vserial_port_stats st;
	unsigned i;

	if (!t->vserial) {
		tvm_monitor_printf(m, "no virtio-serial controller\n");
		return;
	}
	for (i = 0; i < VCON_VSERIAL_MAX_PORTS; i++) {
		const struct tvm_device *d = &t->port[i];

		if (!t->port_used[i] ||
		    vcon_virtio_serial_port_stats(t->vserial, i, &st) < 0)
			continue;
		tvm_monitor_printf(
			m,
			"port %u%s%s%s %s chardev=%s: guest %s%s, host %s, "
			"opened %llu closed %llu, %llu bytes out, %llu in, "
			"%llu dropped\n",
			i, d->id[0] ? " (" : "", d->id, d->id[0] ? ")" : "",
			d->kind == TVM_DEV_VIRTCONSOLE ? "virtconsole"
						       : "virtserialport",
			d->chardev, st.guest_ready ? "ready" : "not ready",
			st.guest_open ? ", open" : "",
			st.host_open ? "connected" : "not connected",
			(unsigned long long)st.guest_opens,
			(unsigned long long)st.guest_closes,
			(unsigned long long)st.tx_bytes,
			(unsigned long long)st.rx_bytes,
			(unsigned long long)st.tx_dropped);
		if (d->name[0])
			tvm_monitor_printf(m, "  name=%s\n", d->name);
	}
}

static void
mon_chardev_add(struct tvm *t, struct tvm_monitor *m, const char *spec)
{
	struct vcon_error err = { "" };
	struct vcon_chr *chr;
	int rc;

	if (t->nnamed == TVM_MAX_CHARDEV) {
		tvm_monitor_printf(m, "chardev-add: at most %d chardevs\n",
				   TVM_MAX_CHARDEV);
		return;
	}
	rc = vcon_chr_new(t->loop, spec, &chr, &err);
	if (rc < 0) {
		tvm_monitor_printf(m, "chardev-add: %s\n",
				   err.msg[0] ? err.msg : strerror(-rc));
		return;
	}
	if (!*vcon_chr_id(chr) || find_named(t, vcon_chr_id(chr))) {
		tvm_monitor_printf(m, "chardev-add: %s\n",
				   *vcon_chr_id(chr) ? "duplicate id"
						     : "'id' is required");
		vcon_chr_free(chr);
		return;
	}
	t->named[t->nnamed++] = chr;
	report_pty(chr, vcon_chr_id(chr));
}

static void
mon_device_add(struct tvm *t, struct tvm_monitor *m, const char *spec)
{
	struct tvm_device d;
	char msg[256];
	int rc;

	if (tvm_parse_device(spec, &d, msg, sizeof(msg)) < 0) {
		tvm_monitor_printf(m, "%s\n", msg);
		return;
	}
	if (d.kind == TVM_DEV_VIRTIO_SERIAL || !t->vserial) {
		tvm_monitor_printf(m, "device_add: only ports can be added, "
				      "to the controller tinyvmm started "
				      "with (-device virtio-serial)\n");
		return;
	}
	rc = add_port(t, &d, msg, sizeof(msg));
	if (rc < 0)
		tvm_monitor_printf(m, "device_add %s: %s\n", spec, msg);
}

static void
mon_device_del(struct tvm *t, struct tvm_monitor *m, const char *id)
{
	unsigned i;

	for (i = 0; t->vserial && i < VCON_VSERIAL_MAX_PORTS; i++) {
		if (!t->port_used[i] || strcmp(t->port[i].id, id))
			continue;
		(void)vcon_virtio_serial_remove_port(t->vserial, i);
		t->port_used[i] = false;
		return;
	}
	tvm_monitor_printf(m, "device_del: no device with id '%s'\n", id);
}

static void
mon_command(void *ctx, struct tvm_monitor *m, const char *line)
{
	struct tvm *t = ctx;
	const char *arg;
	size_t n;

	while (*line == ' ')
		line++;
	n = strcspn(line, " ");
	arg = line + n + strspn(line + n, " ");
#define CMD(s) (n == strlen(s) && !strncmp(line, s, n))
	if (CMD("help") || CMD("?")) {
		tvm_monitor_printf(
			m,
			"chardev-add SPEC      open a chardev (-chardev syntax)\n"
			"device_add SPEC       add a virtconsole or "
			"virtserialport (-device syntax, with id=)\n"
			"device_del ID         remove that port\n"
			"info chardev          chardevs and their peers\n"
			"info virtio-serial    ports: guest and host state, "
			"counters\n"
			"info kvm              exits to tinyvmm, coalesced "
			"port writes\n"
			"info serial           COM ports: registers, FIFOs, "
			"counters\n"
			"system_reset          reset the VM\n"
			"quit|q                quit tinyvmm\n");
	} else if (CMD("quit") || CMD("q")) {
		stop_vm(t, 0);
	} else if (CMD("system_reset")) {
		pthread_mutex_lock(&t->vm_lock);
		if (t->vm)
			vcon_vm_request_stop(t->vm, VCON_VM_EXIT_REBOOT);
		pthread_mutex_unlock(&t->vm_lock);
	} else if (CMD("info") && !strcmp(arg, "chardev")) {
		mon_info_chardev(t, m);
	} else if (CMD("info") && !strcmp(arg, "kvm")) {
		mon_info_kvm(t, m);
	} else if (CMD("info") && !strcmp(arg, "serial")) {
		mon_info_serial(t, m);
	} else if (CMD("info") && !strcmp(arg, "virtio-serial")) {
		mon_info_vserial(t, m);
	} else if (CMD("chardev-add") && *arg) {
		mon_chardev_add(t, m, arg);
	} else if (CMD("device_add") && *arg) {
		mon_device_add(t, m, arg);
	} else if (CMD("device_del") && *arg) {
		mon_device_del(t, m, arg);
	} else {
		tvm_monitor_printf(m, "unknown command: '%s' (try 'help')\n",
				   line);
	}
#undef CMD
}

static const struct tvm_monitor_ops monitor_ops = {
	.command = mon_command,
};

/* One boot: a fresh VM with the ports on the same chardevs. */
static enum vcon_vm_exit
boot(struct tvm *t)
{
	struct vcon_vm_config cfg = { .mem_size = t->o.mem_bytes,
				      .nr_vcpus = t->o.smp };
	struct vcon_serial_config scfg;
	struct vcon_error err = { "" };
	enum vcon_vm_exit why;
	struct vcon_vm *vm;
	size_t i;
	int rc;

	rc = vcon_vm_new(&cfg, &vm, &err);
	if (rc < 0)
		die("%s", err.msg[0] ? err.msg : strerror(-rc));
	if (vcon_vm_add_reset_ports(vm) < 0 || vcon_vm_add_acpi(vm) < 0)
		die("cannot map the reset and ACPI ports");
	/*
	 * A write to the PCI address register (0xCF8) only selects what the
	 * next access at 0xCFC sees, and that access exits and finds it
	 * applied: half the exits of every configuration access go. Linux
	 * makes 16K of them at boot on AMD family 0xf CPUs, which is what a
	 * nested L1 reports (the AGP aperture search). 0xCF9, the reset
	 * register, shares the window: a reset written there waits for the
	 * next exit, or 10 ms at most.
	 */
	rc = vcon_vm_coalesce_pio(vm, 0xcf8, 4);
	if (rc < 0 && rc != -EOPNOTSUPP)
		die("coalescing the PCI address register: %s", strerror(-rc));
	for (i = 0; i < 2; i++) {
		t->irqs[i].line = vcon_vm_irq(vm, i ? VCON_COM2_IRQ
						    : VCON_COM1_IRQ);
		t->irqs[i].levels = 0;
	}
	for (i = 0; i < t->o.nserial; i++) {
		t->port_irqs[i].shared = &t->irqs[i % 2];
		t->port_irqs[i].bit = 1u << i;
		scfg = (struct vcon_serial_config){
			.irq = { shared_irq_set, &t->port_irqs[i] },
			.loop = t->loop,
			.chr = t->com_chr[i],
			.event = on_chr_event,
			.event_ctx = t,
		};
		rc = vcon_serial_new(&scfg, &t->com[i]);
		if (rc == -EBUSY)
			die("-serial %s: the chardev is already in use (add "
			    "mux=on to share it)",
			    t->o.serial[i]);
		if (rc < 0 || vcon_serial_map(t->com[i], vcon_vm_pio_bus(vm),
					      com_ports[i].base) < 0)
			die("cannot create COM%zu", i + 1);
		/*
		 * THR writes need no answer: let a driver's 16-byte burst
		 * pass without 16 exits. Without the capability they exit.
		 */
		rc = vcon_vm_coalesce_pio(vm, (uint16_t)com_ports[i].base, 1);
		if (rc < 0 && rc != -EOPNOTSUPP)
			die("COM%zu: coalescing THR writes: %s", i + 1,
			    strerror(-rc));
	}
	if (t->want_vserial)
		add_vserial(t, vm);
	/* The monitor last, so the console keeps the first focus. */
	for (i = 0; i < t->o.nserial; i++)
		if (!strncmp(t->o.serial[i], "mon:", 4) && t->com_chr[i] &&
		    tvm_monitor_new(t->com_chr[i], &monitor_ops, t,
				    &t->monitor) == 0)
			break;
	rc = vcon_vm_load_bzimage(vm, t->o.kernel, t->o.initrd,
				  t->o.append ? t->o.append : "", &err);
	if (rc < 0)
		die("%s", err.msg);
	pthread_mutex_lock(&t->vm_lock);
	t->vm = vm;
	if (t->quit)
		vcon_vm_request_stop(vm, VCON_VM_EXIT_STOPPED);
	pthread_mutex_unlock(&t->vm_lock);
	rc = vcon_vm_run(vm, &why, &err);
	pthread_mutex_lock(&t->vm_lock);
	t->vm = NULL;
	pthread_mutex_unlock(&t->vm_lock);
	if (rc < 0) {
		snprintf(err.msg, sizeof(err.msg), "%s", strerror(-rc));
		why = VCON_VM_EXIT_ERROR;
	}
	if (why == VCON_VM_EXIT_ERROR)
		fprintf(stderr, "tinyvmm: the VM failed: %s\r\n", err.msg);
	if (why == VCON_VM_EXIT_SHUTDOWN)
		fprintf(stderr, "tinyvmm: the guest triple-faulted\r\n");
	tvm_monitor_free(t->monitor);
	t->monitor = NULL;
	for (i = 0; i < t->o.nserial; i++) {
		vcon_serial_free(t->com[i]);
		t->com[i] = NULL;
	}
	vcon_virtio_serial_free(t->vserial);
	t->vserial = NULL;
	memset(t->port_used, 0, sizeof(t->port_used));
	vcon_vm_free(vm);
	return why;
}

int
main(int argc, char **argv)
{
	static struct tvm t;
	enum vcon_vm_exit why;
	pthread_t sig_th;
	sigset_t set;
	char msg[256];
	size_t i;

	if (tvm_parse_options(argc, argv, &t.o, msg, sizeof(msg)) < 0)
		die("%s", msg);
	if (t.o.help) {
		fputs(tvm_usage, stdout);
		return 0;
	}
	if (t.o.version) {
		printf("tinyvmm (libvcon %s)\n", vcon_version());
		return 0;
	}
	for (i = 0; i < t.o.ndevice; i++) {
		if (tvm_parse_device(t.o.device[i], &t.dev[i], msg,
				     sizeof(msg)) < 0)
			die("%s", msg);
		/* The first port implies the controller, as in QEMU. */
		t.want_vserial = true;
		if (t.dev[i].kind == TVM_DEV_VIRTIO_SERIAL)
			t.max_ports = t.dev[i].max_ports;
	}
	/* Before any thread: they all inherit the mask. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	pthread_mutex_init(&t.vm_lock, NULL);
	for (i = 0; i < 2; i++)
		pthread_mutex_init(&t.irqs[i].lock, NULL);
	if (vcon_loop_new(&t.loop) < 0 || vcon_loop_start_thread(t.loop) < 0)
		die("cannot start the event loop");
	open_chardevs(&t);
	for (i = 0; i < t.o.ndevice; i++)
		if (t.dev[i].kind != TVM_DEV_VIRTIO_SERIAL &&
		    !find_named(&t, t.dev[i].chardev))
			die("-device %s: no -chardev with id '%s'", t.o.device[i],
			    t.dev[i].chardev);
	if (pthread_create(&sig_th, NULL, signal_thread, &t) != 0)
		die("cannot start the signal thread");
	pthread_detach(sig_th);
	for (;;) {
		why = boot(&t);
		if (why != VCON_VM_EXIT_REBOOT && why != VCON_VM_EXIT_SHUTDOWN)
			break;
		if (t.o.no_reboot || t.quit)
			break;
	}
	close_chardevs(&t);
	vcon_loop_stop(t.loop);
	vcon_loop_join(t.loop);
	vcon_loop_free(t.loop);
	if (t.signal)
		fprintf(stderr, "tinyvmm: terminating on signal %d\n",
			t.signal);
	return why == VCON_VM_EXIT_ERROR ? 1 : 0;
}
