/* SPDX-License-Identifier: MIT */
/*
 * End to end through tinyvmm, as a user would drive it: a stock kernel
 * boots with its console on COM1 and this program is the terminal.
 *   interactive: the guest prompts, we type a line, the guest answers it,
 *                then reboots; with -no-reboot tinyvmm exits 0.
 *                Before that, Ctrl-A b then 'h' is magic SysRq's help.
 *   quit:        Ctrl-A x at the prompt ends tinyvmm at once, exit 0.
 *   poweroff:    the guest's `poweroff -f` ends tinyvmm (ACPI S5), exit 0;
 *                with -smp 2 and -m 5G (RAM above 4 GiB).
 *   panic:       a kernel panic with panic=-1 reboots, so -no-reboot
 *                ends tinyvmm with 0.
 *   restart:     without -no-reboot, the guest's reboot boots it again.
 *   four:        COM1-COM4 on stdio, file, pty and a unix socket; the
 *                kernel's console on ttyS1 (the file) while the user
 *                types on ttyS0; the guest's lines reach the pty and the
 *                socket, and Linux finds all four ports.
 *   bulk:        512 KiB of random bytes from the guest through raw ttyS1
 *                arrive byte-exact in COM2's file, as coalesced THR
 *                writes rather than an exit each (the monitor's
 *                'info kvm' counts them), and 64 KiB sent into
 *                COM3's socket arrive byte-exact in the guest (md5sum on
 *                both sides).
 *   ports:       COM1 to a file, COM2 to a unix socket server we connect
 *                to; Linux finds ttyS1 at 0x2f8 irq 3 and what the guest
 *                writes to it arrives on the socket.
 * Run through tests/with-kvm: tinyvmm_console TINYVMM BZIMAGE INITRD
 * [SCENARIO[,SCENARIO]...] (all of them by default).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm_driver.h"

static const char *const no_reboot[] = { "-no-reboot", NULL };

/*
 * A booting kernel at the default log level writes to its console every
 * second or two; a minute of silence before the prompt is the nested
 * stall of docs/testing-kvm.md, which vmm_scenario runs again.
 */
#define STALL_S 60
/* What bulk sends out of ttyS1: tests/kvm/console-init.sh, head -c. Was
 * 1 MiB; halved to halve a bulk run's exposure to the nested faults
 * (docs/testing-kvm.md). */
#define BULK_OUT (512u << 10)


static void
interactive(void)
{
	static struct vmm v;
	int rc;

	vmm_start(&v, "interactive",
	      "console=ttyS0 panic=-1 loglevel=7 vcon.e2e=interactive",
	      no_reboot);
	if (!vmm_expect_growing(&v, "ttyS0 at I/O 0x3f8 (irq = 4, base_baud = "
				"115200) is a 16550A",
				NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "Linux did not find a 16550A at 0x3f8");
	if (!vmm_expect_growing(&v, "READY>", NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "no prompt from the guest");
	vmm_type(&v, "ping\r");
	if (!vmm_expect(&v, "got:ping", 60))
		vmm_fail(&v, "the guest did not echo what was typed");
	if (!vmm_expect(&v, "SYSRQ>", 60))
		vmm_fail(&v, "no second prompt");
	/* A break, then the SysRq key: 'h' prints SysRq's help. */
	vmm_type(&v, "\001b");
	sleep(1);
	vmm_type(&v, "h");
	if (!vmm_expect(&v, "sysrq: HELP", 60))
		vmm_fail(&v, "Ctrl-A b, h did not reach magic SysRq");
	vmm_type(&v, "done\r");
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d after the guest rebooted", rc);
}

static void
quit(void)
{
	static struct vmm v;
	int rc;

	vmm_start(&v, "quit", "console=ttyS0 panic=-1 vcon.e2e=quit", no_reboot);
	if (!vmm_expect_growing(&v, "READY>", NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "no prompt from the guest");
	vmm_type(&v, "\001x");
	rc = vmm_finish(&v, 20);
	if (rc != 0)
		vmm_fail(&v, "Ctrl-A x: tinyvmm exited %d, want 0", rc);
}

/*
 * Wait for needle in the file a guest logs its boot to: a minute without
 * a new byte there is the nested stall (docs/testing-kvm.md), which
 * vmm_stalled reports and vmm_scenario runs again, as vmm_expect_growing
 * does for the console.
 */
static bool
file_expect_growing(struct vmm *v, const char *path, const char *needle,
		    int stall_s, int timeout_s)
{
	static char buf[OUT_MAX];
	time_t start = time(NULL), last = start;
	size_t size = 0, n;
	FILE *f;

	for (;;) {
		n = 0;
		f = fopen(path, "r");
		if (f) {
			n = fread(buf, 1, sizeof(buf), f);
			fclose(f);
		}
		if (memmem(buf, n, needle, strlen(needle)))
			return true;
		if (n != size) {
			size = n;
			last = time(NULL);
		} else if (time(NULL) - last >= stall_s) {
			vmm_stalled(v, "'%s' did not come and %s stopped "
				       "growing at %zu bytes %d s ago",
				    needle, path, size, stall_s);
			return false;
		}
		if (time(NULL) - start >= timeout_s) {
			vmm_fail(v, "'%s' did not reach %s in %d s", needle,
				 path, timeout_s);
			return false;
		}
		usleep(200000);
	}
}

static void
ports(void)
{
	static struct vmm v;
	char dir[128], log[160], sock[160], chardev[256], serial1[200];
	const char *extra[] = { "-serial", serial1, "-chardev", chardev,
				"-serial", "chardev:com2", "-no-reboot",
				NULL };
	char got[4096] = "";
	size_t len = 0;
	ssize_t n;
	int fd = -1, rc;
	FILE *f;

	scratch_dir("ports", dir, sizeof(dir));
	snprintf(log, sizeof(log), "%s/com1.log", dir);
	snprintf(sock, sizeof(sock), "%s/com2.sock", dir);
	snprintf(serial1, sizeof(serial1), "file:%s", log);
	snprintf(chardev, sizeof(chardev),
		 "socket,id=com2,path=%s,server=on,wait=off", sock);
	vmm_start(&v, "ports", "console=ttyS0 panic=-1 loglevel=7 vcon.e2e=ports",
	      extra);
	fd = connect_when_there(sock, 200);
	if (fd < 0)
		vmm_fail(&v, "cannot connect to COM2's socket %s", sock);
	/* The boot goes to COM1's file; then the guest powers off. */
	if (!file_expect_growing(&v, log, "LIBVCON-INIT-OK", STALL_S,
				 vmm_boot_s())) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
	while (fd >= 0 && len < sizeof(got) - 1 &&
	       (n = read(fd, got + len, sizeof(got) - 1 - len)) > 0)
		len += (size_t)n;
	got[len] = 0;
	if (!strstr(got, "hello-ttyS1"))
		vmm_fail(&v, "COM2's socket got '%s', not the guest's line", got);
	if (fd >= 0)
		close(fd);
	v.len = 0;
	f = fopen(log, "r");
	if (f) {
		v.len = fread(v.out, 1, OUT_MAX - 1, f);
		fclose(f);
	}
	if (!memmem(v.out, v.len, "ttyS1 at I/O 0x2f8 (irq = 3", 27))
		vmm_fail(&v, "COM1's file log does not show ttyS1 at 0x2f8 irq 3");
	if (!memmem(v.out, v.len, "LIBVCON-INIT-OK", 15))
		vmm_fail(&v, "COM1's file log lacks init's marker");
	unlink(log);
	unlink(sock);
	rmdir(dir);
}

/* The guest ends itself; tinyvmm must exit 0 with the marker seen. */
static struct vmm *
guest_ends(const char *name, const char *append, const char *const *extra,
	   const char *marker)
{
	static struct vmm v;
	int rc;

	vmm_start(&v, name, append, extra);
	if (!vmm_expect_growing(&v, marker, NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "no '%s' from the guest", marker);
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d, want 0", rc);
	return &v;
}

static void
panic(void)
{
	(void)guest_ends("panic", "console=ttyS0 panic=-1 vcon.e2e=panic",
			 no_reboot, "Kernel panic");
}

static const char high_ram[] =
	"[mem 0x0000000100000000-0x000000017fffffff] usable";

/* With two vCPUs, so the MADT and AP start-up are used too. */
static void
poweroff(void)
{
	static const char *const smp2[] = { "-no-reboot", "-smp", "2", "-m",
					    "5G", NULL };
	struct vmm *v = guest_ends("poweroff",
				   "console=ttyS0 panic=-1 loglevel=7 "
				   "vcon.e2e=poweroff",
				   smp2, "reboot: Power down");

	if (!memmem(v->out, v->len, "smp: Brought up 1 node, 2 CPUs", 30))
		vmm_fail(v, "-smp 2: Linux did not bring up two CPUs");
	if (!memmem(v->out, v->len, "ACPI: PM: (supports S0 S5)", 26))
		vmm_fail(v, "Linux did not find S5 in libvcon's ACPI tables");
	/* -m 5G: 3 GiB below the hole, 2 GiB from 4 GiB. */
	if (!memmem(v->out, v->len, high_ram, strlen(high_ram)))
		vmm_fail(v, "-m 5G: Linux's e820 lacks RAM at 4-6 GiB");
}

/* Count non-overlapping occurrences of needle in the output so far. */
static unsigned
occurrences(const struct vmm *v, const char *needle)
{
	const char *p = v->out, *end = v->out + v->len;
	unsigned n = 0;

	while ((p = memmem(p, (size_t)(end - p), needle, strlen(needle)))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

static void
restart(void)
{
	static struct vmm v;
	time_t end;
	int rc;

	vmm_start(&v, "restart", "console=ttyS0 panic=-1 vcon.e2e=restart", NULL);
	end = time(NULL) + 2 * vmm_boot_s();
	while (occurrences(&v, "LIBVCON-INIT-OK") < 2 && time(NULL) < end)
		vmm_expect(&v, "\001never", 1);
	if (occurrences(&v, "LIBVCON-INIT-OK") < 2)
		vmm_fail(&v, "the guest did not boot again after its reboot");
	vmm_type(&v, "\001x");
	rc = vmm_finish(&v, 20);
	if (rc != 0)
		vmm_fail(&v, "Ctrl-A x: tinyvmm exited %d, want 0", rc);
}

static void
bulk(void)
{
	static struct vmm v;
	static char data[65536];
	char dir[128], out2[160], in3[160], sock[160], chardev[256];
	char serial2[200], want[40], got[40];
	const char *extra[] = { "-no-reboot", "-serial", "mon:stdio", "-serial",
				serial2, "-chardev", chardev, "-serial",
				"chardev:com3", NULL };
	unsigned long long io = 0, coalesced = 0, tx = 0, dropped = 0;
	const char *p;
	size_t mark;
	int fd = -1, rc;
	FILE *f;

	scratch_dir("bulk", dir, sizeof(dir));
	snprintf(out2, sizeof(out2), "%s/com2.out", dir);
	snprintf(in3, sizeof(in3), "%s/com3.in", dir);
	snprintf(sock, sizeof(sock), "%s/com3.sock", dir);
	snprintf(serial2, sizeof(serial2), "file:%s", out2);
	snprintf(chardev, sizeof(chardev),
		 "socket,id=com3,path=%s,server=on,wait=off", sock);
	vmm_start(&v, "bulk", "console=ttyS0 panic=-1 vcon.e2e=bulk", extra);
	/* Bytes arrive every few ms while the guest sends (about 50 s for
	 * the 512 KiB nested); a minute without one is a stall, and waiting
	 * further for the rest would only spend the runner's time. */
	if (!vmm_expect_growing(&v, "TXSUM ", NULL, STALL_S, vmm_boot_s())) {
		vmm_fail(&v, "the guest did not start sending");
		goto out;
	}
	if (!vmm_expect_growing(&v, "TXDONE", out2, 60, 0))
		goto out;
	sum_after(&v, "TXSUM ", want);
	md5_of(out2, got);
	if (!*want || strcmp(want, got))
		vmm_fail(&v, "%u KiB guest->host: md5 %s in the guest, %s on "
			 "the host", BULK_OUT >> 10, want, got);
	if (!vmm_expect(&v, "RXREADY", 60))
		vmm_fail(&v, "the guest is not ready to receive");
	/*
	 * The 512 KiB left as coalesced THR writes (KVM_CAP_COALESCED_PIO),
	 * not as an exit per byte: ask the monitor while the guest waits.
	 */
	mark = v.len;
	vmm_type(&v, "\001c");
	vmm_type(&v, "info serial\r");
	vmm_type(&v, "info kvm\r");
	if (!vmm_expect_from(&v, mark, "coalesced writes=", 30) ||
	    !vmm_expect_from(&v, mark, "\n(tinyvmm)", 30))
		vmm_fail(&v, "no answer to 'info kvm' from the monitor");
	/* COM2 carried the 512 KiB and nothing else, and lost none of it. */
	p = memmem(v.out + mark, v.len - mark, "COM2 0x2f8 irq 3 (file:", 23);
	p = p ? memmem(p, (size_t)(v.out + v.len - p), "\n  tx ", 6) : NULL;
	if (!p || sscanf(p, "\n  tx %llu bytes in %*u sink calls, %llu dropped",
			 &tx, &dropped) != 2 || tx != BULK_OUT || dropped)
		vmm_fail(&v, "'info serial' does not show COM2's %u KiB sent "
			 "and none dropped", BULK_OUT >> 10);
	p = memmem(v.out + mark, v.len - mark, "exits: io=", 10);
	if (!p || sscanf(p, "exits: io=%llu mmio=%*u; coalesced writes=%llu",
			 &io, &coalesced) != 2)
		vmm_fail(&v, "cannot parse 'info kvm'");
	else if (coalesced < BULK_OUT || io >= coalesced)
		vmm_fail(&v, "%u KiB out of ttyS1 took %llu port exits and only "
			 "%llu coalesced writes", BULK_OUT >> 10, io, coalesced);
	vmm_type(&v, "\001c");
	fd = connect_when_there(sock, 100);
	f = fopen("/dev/urandom", "rb");
	if (!f || fread(data, 1, sizeof(data), f) != sizeof(data))
		exit(2);
	fclose(f);
	f = fopen(in3, "wb");
	if (!f || fwrite(data, 1, sizeof(data), f) != sizeof(data))
		exit(2);
	fclose(f);
	md5_of(in3, want);
	if (fd < 0 || write(fd, data, sizeof(data)) != (ssize_t)sizeof(data))
		vmm_fail(&v, "cannot send 64 KiB to COM3's socket");
	if (!vmm_expect_line(&v, "RXSUM ", 2 * vmm_boot_s()))
		vmm_fail(&v, "the guest did not receive 64 KiB");
	sum_after(&v, "RXSUM ", got);
	if (strcmp(want, got))
		vmm_fail(&v, "64 KiB host->guest: md5 %s sent, %s received", want,
		     got);
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
out:
	if (v.fd >= 0) /* not finished yet: end it */
		vmm_finish(&v, 0);
	if (fd >= 0)
		close(fd);
	unlink(out2);
	unlink(in3);
	unlink(sock);
	rmdir(dir);
}

static void
four(void)
{
	static struct vmm v;
	char dir[128], log[160], sock[160], chardev[256], serial2[200];
	char pty[64] = "", buf[256] = "";
	const char *extra[] = { "-no-reboot", "-serial", "mon:stdio",
				"-serial", serial2, "-serial", "pty",
				"-chardev", chardev, "-serial", "chardev:com4",
				NULL };
	const char *p;
	size_t len = 0;
	ssize_t n;
	int fd = -1, pfd = -1, i, rc;
	FILE *f;

	scratch_dir("four", dir, sizeof(dir));
	snprintf(log, sizeof(log), "%s/boot.log", dir);
	snprintf(sock, sizeof(sock), "%s/com4.sock", dir);
	snprintf(serial2, sizeof(serial2), "file:%s", log);
	snprintf(chardev, sizeof(chardev),
		 "socket,id=com4,path=%s,server=on,wait=off", sock);
	vmm_start(&v, "four", "console=ttyS1 panic=-1 loglevel=7 vcon.e2e=four",
	      extra);
	/* tinyvmm names the pty as QEMU does, before the guest runs. */
	if (!vmm_expect(&v, "(label serial2)", 30))
		vmm_fail(&v, "tinyvmm did not name COM3's pty");
	p = memmem(v.out, v.len, "redirected to ", 14);
	if (p)
		sscanf(p + 14, "%63s", pty);
	pfd = *pty ? open(pty, O_RDWR | O_NOCTTY) : -1;
	if (pfd < 0)
		vmm_fail(&v, "cannot open COM3's pty '%s'", pty);
	fd = connect_when_there(sock, 100);
	/* The kernel logs to COM2, the file: it grows while the boot goes. */
	if (!vmm_expect_growing(&v, "READY>", log, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "no prompt on ttyS0");
	vmm_type(&v, "four\r");
	if (!vmm_expect(&v, "got:four", 60))
		vmm_fail(&v, "ttyS0 did not echo what was typed");
	if (!vmm_expect(&v, "PTY-WRITTEN", 60))
		vmm_fail(&v, "the guest did not write to ttyS2");
	if (pfd >= 0)
		len = (size_t)read_some(pfd, buf, sizeof(buf) - 1);
	buf[len] = 0;
	if (!strstr(buf, "hello-ttyS2"))
		vmm_fail(&v, "COM3's pty got '%s'", buf);
	len = 0;
	if (fd >= 0)
		len = (size_t)read_some(fd, buf, sizeof(buf) - 1);
	buf[len] = 0;
	if (!strstr(buf, "hello-ttyS3"))
		vmm_fail(&v, "COM4's socket got '%s'", buf);
	vmm_type(&v, "bye\r");
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
	v.len = 0;
	f = fopen(log, "r");
	if (f) {
		v.len = fread(v.out, 1, OUT_MAX - 1, f);
		fclose(f);
	}
	for (i = 0; i < 4; i++) {
		static const char *const ports[] = {
			"ttyS0 at I/O 0x3f8 (irq = 4",
			"ttyS1 at I/O 0x2f8 (irq = 3",
			"ttyS2 at I/O 0x3e8 (irq = 4",
			"ttyS3 at I/O 0x2e8 (irq = 3",
		};

		if (!memmem(v.out, v.len, ports[i], strlen(ports[i])))
			vmm_fail(&v, "the boot log on COM2 lacks '%s'", ports[i]);
	}
	if (pfd >= 0)
		close(pfd);
	if (fd >= 0)
		close(fd);
	(void)n;
	unlink(log);
	unlink(sock);
	rmdir(dir);
}

/* Whether scenario name is in the comma-separated list (NULL: all). */
static bool
wanted(const char *list, const char *name)
{
	size_t n = strlen(name);
	const char *p;

	if (!list)
		return true;
	for (p = list; (p = strstr(p, name)); p += n)
		if ((p == list || p[-1] == ',') && (p[n] == ',' || !p[n]))
			return true;
	return false;
}

int
main(int argc, char **argv)
{
	const char *only = argc == 5 ? argv[4] : NULL;

	if (argc != 4 && argc != 5) {
		fprintf(stderr, "usage: tinyvmm_console TINYVMM BZIMAGE INITRD "
				"[SCENARIO[,SCENARIO]...]\n"
				"  scenarios: interactive quit ports poweroff "
				"panic restart four bulk, or quit3, "
				"interactive3\n");
		return 2;
	}
	vmm_test_name = "tinyvmm_console";
	(void)vmm_boot_s(); /* a bad VCON_E2E_BOOT_S fails now */
	vmm_tinyvmm = argv[1];
	vmm_kernel = argv[2];
	vmm_initrd = argv[3];
	signal(SIGPIPE, SIG_IGN);
	if (wanted(only, "interactive"))
		vmm_scenario("interactive", interactive);
	if (wanted(only, "quit"))
		vmm_scenario("quit", quit);
	if (only && wanted(only, "quit3")) {
		vmm_scenario("quit", quit);
		vmm_scenario("quit", quit);
		vmm_scenario("quit", quit);
	}
	if (wanted(only, "ports"))
		vmm_scenario("ports", ports);
	if (wanted(only, "poweroff"))
		vmm_scenario("poweroff", poweroff);
	if (wanted(only, "panic"))
		vmm_scenario("panic", panic);
	if (wanted(only, "restart"))
		vmm_scenario("restart", restart);
	if (wanted(only, "four"))
		vmm_scenario("four", four);
	if (wanted(only, "bulk"))
		vmm_scenario("bulk", bulk);
	if (only && wanted(only, "interactive3")) {
		vmm_scenario("interactive", interactive);
		vmm_scenario("interactive", interactive);
		vmm_scenario("interactive", interactive);
	}
	if (vmm_failures)
		return 1;
	if (only) {
		printf("tinyvmm_console: %s passed\n", only);
		return 0;
	}
	printf("tinyvmm_console: typed input echoed, SysRq by Ctrl-A b, "
	       "Ctrl-A x quits, COM1 file and COM2 socket carry the guest's "
	       "output, poweroff/panic/reboot end or restart it, 512 KiB out "
	       "and 64 KiB in byte-exact, four UARTs on four backends\n");
	return 0;
}
