/* SPDX-License-Identifier: MIT */
/*
 * End to end through tinyvmm's virtio-serial, with the stock kernel's
 * virtio_pci and virtio_console drivers:
 *   hvc:    console=hvc0 on a virtconsole whose backend is a unix socket
 *           we connect to: the kernel's messages (logged once the module
 *           is in) arrive there, and a shell on /dev/hvc0 runs what we
 *           type.
 *   probe:  a virtconsole and two named virtserialports: Linux finds the
 *           device and names the ports; the guest's lines reach hvc0's
 *           file and port a's socket; the guest takes an MSI-X vector
 *           for configuration and one per queue. Once through the modern
 *           interface and once with virtio_pci.force_legacy=1 (the
 *           legacy I/O BAR, whose header then has the vector registers).
 *   bulk:   16 MiB of random bytes each way through two named ports on
 *           unix sockets, byte-exact (md5 on both sides). Half way we
 *           disconnect from port a, let the guest write on, and reconnect:
 *           nothing it wrote is lost. With -m 5G, so rings and buffers
 *           may lie above 4 GiB.
 *   qga:    Debian's qemu-ga in the guest on org.qemu.guest_agent.0;
 *           examples/qga-client syncs with it (guest-sync-delimited) and
 *           gets answers to guest-ping, guest-info and guest-get-time.
 *   hotplug: from tinyvmm's monitor (Ctrl-A c), chardev-add and
 *           device_add a named port; the guest finds it and writes to it,
 *           the host reads it; `info virtio-serial` shows the guest's open
 *           and close; device_del makes it go away in the guest.
 * Run through tests/with-kvm:
 *   tinyvmm_vserial TINYVMM BZIMAGE INITRD QGA_CLIENT [NAME]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vmm_driver.h"

/* A minute without console output before the marker: the nested stall of
 * docs/testing-kvm.md (vmm_expect_growing), which vmm_scenario reruns. */
#define STALL_S 60
static const char *qga_client;
#define BULK (16u << 20)

/* A stream we watch with vmm_expect: a socket rather than tinyvmm's stdio. */
static void
watch_fd(struct vmm *w, const char *name, int fd)
{
	memset(w, 0, sizeof(*w));
	w->name = name;
	w->fd = fd;
}

static void
hvc(void)
{
	static struct vmm v, con;
	char dir[128], sock[160], chardev[256];
	const char *extra[] = { "-chardev", chardev, "-device",
				"virtconsole,chardev=h0", "-serial",
				"mon:stdio", "-no-reboot", NULL };
	int fd, rc;

	scratch_dir("hvc", dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/hvc.sock", dir);
	snprintf(chardev, sizeof(chardev),
		 "socket,id=h0,path=%s,server=on,wait=off", sock);
	vmm_start(&v, "hvc", "console=hvc0 panic=-1 loglevel=7 vcon.e2e=hvc",
		  extra);
	fd = connect_when_there(sock, 200);
	if (fd < 0) {
		vmm_fail(&v, "cannot connect to hvc0's socket %s", sock);
		vmm_finish(&v, 5);
		return;
	}
	watch_fd(&con, "hvc-console", fd);
	/* hvc0 is silent until the driver registers it: a wider stall. */
	if (!vmm_expect_growing_on(&v, &con, "READY>", 2 * STALL_S,
				   vmm_boot_s())) {
		vmm_fail(&con, "no prompt on hvc0");
		vmm_finish(&v, 5);
		goto out;
	}
	if (!vmm_expect(&con, "libvcon: kernel message via hvc0", 30))
		vmm_fail(&con, "the kernel's messages did not reach hvc0");
	sleep(1); /* let the shell start reading */
	vmm_type(&con, "echo answer-$((6*7))\n");
	if (!vmm_expect(&con, "answer-42", 60))
		vmm_fail(&con, "the shell on hvc0 did not run what we typed");
	vmm_type(&con, "poweroff -f\n");
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d after poweroff", rc);
out:
	close(fd);
	unlink(sock);
	rmdir(dir);
}

static void
probe(const char *name, const char *append)
{
	static struct vmm v, pa;
	char dir[128], sock[160], hvcfile[160], c0[256], c1[256];
	const char *extra[] = { "-chardev", c0, "-chardev", c1, "-chardev",
				"null,id=n2", "-device",
				"virtconsole,chardev=h0", "-device",
				"virtserialport,chardev=pa,name=org.libvcon.a",
				"-device",
				"virtserialport,chardev=n2,name=org.libvcon.b,"
				"nr=5",
				"-no-reboot", NULL };
	char got[256];
	ssize_t n;
	int fd, rc, hf;

	scratch_dir(name, dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/a.sock", dir);
	snprintf(hvcfile, sizeof(hvcfile), "%s/hvc0.out", dir);
	snprintf(c0, sizeof(c0), "file,id=h0,path=%s", hvcfile);
	snprintf(c1, sizeof(c1), "socket,id=pa,path=%s,server=on,wait=off",
		 sock);
	vmm_start(&v, name, append, extra);
	fd = connect_when_there(sock, 200);
	if (fd < 0)
		vmm_fail(&v, "cannot connect to port a's socket %s", sock);
	if (!vmm_expect_growing(&v, "PROBE-DONE", NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "the guest did not finish probing");
	if (!vmm_expect(&v, "virtio-pci 0000:00:01.0: enabling device", 1))
		vmm_fail(&v, "Linux did not enable the virtio-pci device");
	if (!vmm_expect(&v, "PORT vport0p0 name=", 1) ||
	    !vmm_expect(&v, "PORT vport0p1 name=org.libvcon.a", 1) ||
	    !vmm_expect(&v, "PORT vport0p5 name=org.libvcon.b", 1))
		vmm_fail(&v, "the ports are not vport0p0, vport0p1 "
			     "(org.libvcon.a) and vport0p5 (org.libvcon.b)");
	/* MSI-X: a configuration vector and one per queue (KVM delivers). */
	if (!vmm_expect(&v, "IRQ virtio0-config\r\n", 1) ||
	    !vmm_expect(&v, "IRQ virtio0-input\r\n", 1) ||
	    !vmm_expect(&v, "IRQ virtio0-output\r\n", 1))
		vmm_fail(&v, "the guest does not use MSI-X vectors per queue");
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
	if (fd >= 0) {
		watch_fd(&pa, "port-a", fd);
		if (!vmm_expect(&pa, "hello-port-a", 5))
			vmm_fail(&pa, "port a's socket lacks the guest's line");
		close(fd);
	}
	hf = open(hvcfile, O_RDONLY);
	n = hf >= 0 ? read(hf, got, sizeof(got) - 1) : -1;
	got[n > 0 ? n : 0] = 0;
	if (!strstr(got, "hello-hvc0"))
		vmm_fail(&v, "hvc0's file has '%s', not the guest's line", got);
	if (hf >= 0)
		close(hf);
	unlink(hvcfile);
	unlink(sock);
	rmdir(dir);
}

/* Read exactly len bytes from fd into the file out; false on EOF/timeout. */
static bool
copy_exactly(int fd, int out, size_t len)
{
	static char buf[65536];
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t n;

	while (len) {
		if (poll(&pfd, 1, 120000) != 1)
			return false;
		n = read(fd, buf, len < sizeof(buf) ? len : sizeof(buf));
		if (n <= 0 || write(out, buf, (size_t)n) != n)
			return false;
		len -= (size_t)n;
	}
	return true;
}

/* Write len random bytes (from the file src) to fd. */
static bool
send_file(int fd, const char *src)
{
	static char buf[65536];
	int in = open(src, O_RDONLY);
	ssize_t n;
	bool ok = in >= 0;

	while (ok && (n = read(in, buf, sizeof(buf))) > 0) {
		char *p = buf;

		while (n > 0) {
			ssize_t w = write(fd, p, (size_t)n);

			if (w <= 0) {
				ok = false;
				break;
			}
			p += w;
			n -= w;
		}
	}
	if (in >= 0)
		close(in);
	return ok;
}

static void
probe_modern(void)
{
	probe("probe", "console=ttyS0 panic=-1 loglevel=7 vcon.e2e=probe");
}

static void
probe_legacy(void)
{
	probe("legacy", "console=ttyS0 panic=-1 loglevel=7 "
			"virtio_pci.force_legacy=1 vcon.e2e=probe");
}

static void
bulk(void)
{
	static struct vmm v;
	char dir[128], sa[160], sb[160], ca[256], cb[256], rx[160], tx[160];
	char cmd[400], want[40], got[40];
	const char *extra[] = { "-chardev", ca, "-chardev", cb, "-device",
				"virtserialport,chardev=pa,name=org.libvcon.a",
				"-device",
				"virtserialport,chardev=pb,name=org.libvcon.b",
				"-m", "5G", "-no-reboot", NULL };
	int fa, fb, out, rc;

	scratch_dir("bulk", dir, sizeof(dir));
	snprintf(sa, sizeof(sa), "%s/a.sock", dir);
	snprintf(sb, sizeof(sb), "%s/b.sock", dir);
	snprintf(rx, sizeof(rx), "%s/from-guest", dir);
	snprintf(tx, sizeof(tx), "%s/to-guest", dir);
	snprintf(ca, sizeof(ca), "socket,id=pa,path=%s,server=on,wait=off",
		 sa);
	snprintf(cb, sizeof(cb), "socket,id=pb,path=%s,server=on,wait=off",
		 sb);
	snprintf(cmd, sizeof(cmd), "head -c %u /dev/urandom > '%s'", BULK, tx);
	if (system(cmd) != 0)
		exit(2);
	vmm_start(&v, "bulk", "console=ttyS0 panic=-1 vcon.e2e=bulk", extra);
	fa = connect_when_there(sa, 200);
	fb = connect_when_there(sb, 200);
	out = open(rx, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fa < 0 || fb < 0 || out < 0) {
		vmm_fail(&v, "cannot connect to the ports' sockets");
		vmm_finish(&v, 5);
		return;
	}
	if (!vmm_expect_growing(&v, "TXSUM ", NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "the guest did not start sending");
	if (!copy_exactly(fa, out, BULK / 2))
		vmm_fail(&v, "the first 8 MiB from port a did not arrive");
	if (!vmm_expect(&v, "HALF>", 60))
		vmm_fail(&v, "the guest did not finish the first half");
	/* Gone: the guest's writes must now wait for us. */
	close(fa);
	vmm_type(&v, "go\r");
	sleep(2);
	fa = connect_when_there(sa, 200);
	if (fa < 0 || !copy_exactly(fa, out, BULK / 2))
		vmm_fail(&v, "the second 8 MiB from port a did not arrive");
	close(out);
	if (!vmm_expect(&v, "RXREADY", 60))
		vmm_fail(&v, "the guest is not ready to receive");
	if (!send_file(fb, tx))
		vmm_fail(&v, "cannot send 16 MiB into port b");
	if (!vmm_expect_line(&v, "RXSUM ", 240))
		vmm_fail(&v, "the guest did not receive 16 MiB on port b");
	sum_after(&v, "TXSUM ", want);
	md5_of(rx, got);
	if (!want[0] || strcmp(want, got))
		vmm_fail(&v, "guest to host: guest sent md5 %s, host got %s",
			 want, got);
	md5_of(tx, want);
	sum_after(&v, "RXSUM ", got);
	if (strcmp(want, got))
		vmm_fail(&v, "host to guest: host sent md5 %s, guest got %s",
			 want, got);
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
	if (fa >= 0)
		close(fa);
	close(fb);
	unlink(rx);
	unlink(tx);
	unlink(sa);
	unlink(sb);
	rmdir(dir);
}

/* Run one command at the monitor (which has the focus). */
static void
monitor_cmd(struct vmm *v, const char *cmd)
{
	vmm_type(v, cmd);
	vmm_type(v, "\r");
}

static void
hotplug(void)
{
	static struct vmm v, hot;
	const char *extra[] = { "-chardev", "null,id=n0", "-device",
				"virtio-serial,id=vs0", "-device",
				"virtserialport,chardev=n0,name=org.libvcon.boot",
				"-no-reboot", NULL };
	char dir[128], sock[160], cmd[300];
	size_t mark;
	int fd = -1, rc;

	scratch_dir("hotplug", dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/hot.sock", dir);
	vmm_start(&v, "hotplug", "console=ttyS0 panic=-1 vcon.e2e=hotplug",
		  extra);
	if (!vmm_expect_growing(&v, "HOTPLUG-READY>", NULL, STALL_S,
				vmm_boot_s()))
		vmm_fail(&v, "the guest did not come up");
	/* Ctrl-A c: QEMU's key for the monitor. */
	vmm_type(&v, "\001c");
	if (!vmm_expect(&v, "(tinyvmm) ", 20))
		vmm_fail(&v, "Ctrl-A c did not bring up the monitor");
	snprintf(cmd, sizeof(cmd),
		 "chardev-add socket,id=h1,path=%s,server=on,wait=off", sock);
	monitor_cmd(&v, cmd);
	monitor_cmd(&v, "device_add virtserialport,chardev=h1,"
			"name=org.libvcon.hot,id=hot1");
	fd = connect_when_there(sock, 200);
	if (fd < 0)
		vmm_fail(&v, "cannot connect to the hot-added port's socket");
	/* Back to the console: the guest's read gets the line. */
	vmm_type(&v, "\001cgo\r");
	if (!vmm_expect(&v, "HOT-WRITTEN>", 60))
		vmm_fail(&v, "the guest did not find and write the new port");
	if (fd >= 0) {
		watch_fd(&hot, "hot-port", fd);
		if (!vmm_expect(&hot, "hot-data", 10))
			vmm_fail(&hot, "the hot-added port's socket lacks the "
				       "guest's line");
	}
	/* The monitor shows the guest opened and closed the port. */
	mark = v.len;
	vmm_type(&v, "\001c");
	if (!vmm_expect_from(&v, mark, "(tinyvmm) ", 20))
		vmm_fail(&v, "Ctrl-A c did not bring the monitor back");
	monitor_cmd(&v, "info virtio-serial");
	if (!vmm_expect_from(&v, mark, "name=org.libvcon.hot\r\n", 20) ||
	    !memmem(v.out + mark, v.len - mark, "host connected, opened 1 "
						 "closed 1, 9 bytes out", 45))
		vmm_fail(&v, "info virtio-serial does not show the guest's "
			     "open, write and close");
	monitor_cmd(&v, "device_del hot1");
	vmm_type(&v, "\001cgo\r");
	if (!vmm_expect(&v, "UNPLUGGED", 60))
		vmm_fail(&v, "the port did not go away in the guest");
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
	if (fd >= 0)
		close(fd);
	unlink(sock);
	rmdir(dir);
}

static void
qga(void)
{
	static struct vmm v;
	char dir[128], sock[160], chardev[256], cmd[400], out[8192];
	const char *extra[] = { "-chardev", chardev, "-device",
				"virtio-serial,id=vs0", "-device",
				"virtserialport,bus=vs0.0,chardev=qga0,"
				"name=org.qemu.guest_agent.0",
				"-no-reboot", NULL };
	size_t len;
	FILE *p;
	int rc;

	scratch_dir("qga", dir, sizeof(dir));
	snprintf(sock, sizeof(sock), "%s/qga.sock", dir);
	snprintf(chardev, sizeof(chardev),
		 "socket,id=qga0,path=%s,server=on,wait=off", sock);
	vmm_start(&v, "qga", "console=ttyS0 panic=-1 vcon.e2e=qga", extra);
	if (!vmm_expect_growing(&v, "QGA-STARTED", NULL, STALL_S, vmm_boot_s()))
		vmm_fail(&v, "the guest did not start qemu-ga");
	snprintf(cmd, sizeof(cmd), "%s -t 60 '%s' 2>&1", qga_client, sock);
	p = popen(cmd, "r");
	len = p ? fread(out, 1, sizeof(out) - 1, p) : 0;
	out[len] = 0;
	rc = p ? pclose(p) : -1;
	if (rc != 0)
		vmm_fail(&v, "qga-client failed (%d): %s", rc, out);
	if (!strstr(out, "guest-sync-delimited: {\"return\": ") ||
	    !strstr(out, "guest-ping: {\"return\": {}}") ||
	    !strstr(out, "guest-info: {\"return\": {\"version\": ") ||
	    !strstr(out, "guest-get-time: {\"return\": "))
		vmm_fail(&v, "qemu-ga's answers are not what they should be: "
			     "%s", out);
	vmm_type(&v, "done\r");
	rc = vmm_finish(&v, 60);
	if (rc != 0)
		vmm_fail(&v, "tinyvmm exited %d", rc);
	unlink(sock);
	rmdir(dir);
}

int
main(int argc, char **argv)
{
	const char *only = argc == 6 ? argv[5] : NULL;

	if (argc != 5 && argc != 6) {
		fprintf(stderr, "usage: tinyvmm_vserial TINYVMM BZIMAGE INITRD "
				"QGA_CLIENT [hvc|probe|legacy|bulk|qga|"
				"hotplug]\n");
		return 2;
	}
	qga_client = argv[4];
	vmm_test_name = "tinyvmm_vserial";
	(void)vmm_boot_s(); /* a bad VCON_E2E_BOOT_S fails now */
	vmm_tinyvmm = argv[1];
	vmm_kernel = argv[2];
	vmm_initrd = argv[3];
	signal(SIGPIPE, SIG_IGN);
	if (!only || !strcmp(only, "hvc"))
		vmm_scenario("hvc", hvc);
	if (!only || !strcmp(only, "probe"))
		vmm_scenario("probe", probe_modern);
	if (!only || !strcmp(only, "legacy"))
		vmm_scenario("legacy", probe_legacy);
	if (!only || !strcmp(only, "bulk"))
		vmm_scenario("bulk", bulk);
	if (!only || !strcmp(only, "qga"))
		vmm_scenario("qga", qga);
	if (!only || !strcmp(only, "hotplug"))
		vmm_scenario("hotplug", hotplug);
	if (vmm_failures)
		return 1;
	printf("tinyvmm_vserial: console=hvc0 carries kernel messages and a "
	       "shell, Linux names the ports (modern and legacy virtio-pci), "
	       "16 MiB each way byte-exact across a host reconnect, qemu-ga "
	       "answers qga-client, ports hot-added and removed from the "
	       "monitor\n");
	return 0;
}
