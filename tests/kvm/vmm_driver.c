/* SPDX-License-Identifier: MIT */
/* Shared by the end-to-end KVM tests: see vmm_driver.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "vmm_driver.h"

const char *vmm_test_name = "e2e";
const char *vmm_tinyvmm, *vmm_kernel, *vmm_initrd;
int vmm_failures;
static bool triple_fault_seen, stall_seen;

/*
 * 240 s is for the nested L1, where a boot takes 10-30 s and the host may
 * be loaded; VCON_E2E_BOOT_S changes it where the tests run directly (the
 * L1 passes no variables but PATH, HOME and TERM in).
 */
int
vmm_boot_s(void)
{
	static int secs;
	const char *s;
	char *end;
	long v;

	if (secs)
		return secs;
	s = getenv("VCON_E2E_BOOT_S");
	if (!s) {
		secs = 240;
		return secs;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > 86400) {
		fprintf(stderr, "%s: VCON_E2E_BOOT_S '%s' is not a number of "
				"seconds from 1 to 86400\n", vmm_test_name, s);
		exit(2);
	}
	secs = (int)v;
	return secs;
}

void
vmm_fail(struct vmm *v, const char *fmt, ...)
{
	static const char tf[] = "tinyvmm: the guest triple-faulted";

	if (memmem(v->out, v->len, tf, strlen(tf)))
		triple_fault_seen = true;
	char path[128];
	va_list ap;
	FILE *f;

	fprintf(stderr, "%s: %s: ", vmm_test_name, v->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	snprintf(path, sizeof(path), "build/e2e/tinyvmm-%s.log", v->name);
	f = fopen(path, "w");
	if (f) {
		fwrite(v->out, 1, v->len, f);
		fclose(f);
		fprintf(stderr, " (output in %s)", path);
	}
	fputc('\n', stderr);
	vmm_failures++;
}


void
vmm_start(struct vmm *v, const char *name, const char *append,
      const char *const *extra)
{
	const char *fixed[] = { vmm_tinyvmm, "-kernel", vmm_kernel, "-initrd",
				vmm_initrd,	 "-append", append, "-m",
				"256" };
	char *argv[32];
	int sv[2];
	size_t n = 0, i;

	memset(v, 0, sizeof(*v));
	v->name = name;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		exit(2);
	v->pid = fork();
	if (v->pid == 0) {
		/* In the child only: the copies go with exec. */
		for (i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
			argv[n++] = strdup(fixed[i]);
		while (extra && *extra)
			argv[n++] = strdup(*extra++);
		argv[n] = NULL;
		dup2(sv[1], 0);
		dup2(sv[1], 1);
		dup2(sv[1], 2); /* as on a terminal: messages too */
		execv(vmm_tinyvmm, argv);
		_exit(127);
	}
	close(sv[1]);
	v->fd = sv[0];
}


/*
 * Read until needle appears; false after timeout_s. The console is
 * sampled every 100 ms rather than waited on: under the nested L1, a
 * reader woken by each console write makes the L2 guest triple-fault in
 * about one boot in four (see docs/testing-kvm.md), and a terminal that
 * looks ten times a second tests the same thing.
 */
bool
vmm_expect(struct vmm *v, const char *needle, int timeout_s)
{
	return vmm_expect_from(v, 0, needle, timeout_s);
}

bool
vmm_expect_from(struct vmm *v, size_t from, const char *needle,
		int timeout_s)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	time_t end = time(NULL) + timeout_s;
	ssize_t n;

	if (v->fd < 0) /* ended (vmm_finish): nothing more will come */
		return false;
	for (;;) {
		while ((n = recv(v->fd, v->out + v->len, OUT_MAX - 1 - v->len,
				 MSG_DONTWAIT)) > 0) {
			v->len += (size_t)n;
			if (getenv("VCON_E2E_VERBOSE"))
				fwrite(v->out + v->len - (size_t)n, 1,
				       (size_t)n, stderr);
		}
		if (from <= v->len &&
		    memmem(v->out + from, v->len - from, needle, strlen(needle)))
			return true;
		if (n == 0 || time(NULL) >= end)
			return false;
		nanosleep(&tick, NULL);
	}
}


/* Each thread of process pid: state, wait channel, system call and the
 * top of its kernel stack, on stderr. */
static void
list_threads(pid_t pid)
{
	char cmd[512];

	fflush(stderr);
	snprintf(cmd, sizeof(cmd),
		 "for t in /proc/%d/task/*; do "
		 "echo \"  $(cat $t/comm): $(awk '/^State:/ { print $2 }' "
		 "$t/status), in $(cat $t/wchan), syscall $(cut -d' ' -f1,2 "
		 "$t/syscall)\"; grep -v -e do_syscall_64 -e entry_SYSCALL "
		 "$t/stack | head -n 6 | sed 's/^/      /'; done >&2",
		 (int)pid);
	if (system(cmd) != 0)
		fprintf(stderr, "  (cannot list them)\n");
}

/*
 * SIGKILL tinyvmm and reap it. A tinyvmm that outlives SIGKILL has a
 * thread that never leaves the L1's kernel (a vCPU looping inside KVM_RUN,
 * docs/testing-kvm.md): nothing this test does can end it, and waiting
 * for it would only use up the L1's time, so the test ends with
 * VMM_L1_BROKEN and tests/with-kvm boots the L1 again.
 */
static void
kill_and_reap(struct vmm *v)
{
	int i;

	kill(v->pid, SIGKILL);
	for (i = 0; i < 300; i++) {
		if (waitpid(v->pid, NULL, WNOHANG) == v->pid)
			return;
		usleep(100 * 1000);
	}
	fprintf(stderr, "%s: %s: tinyvmm is still there 30 s after SIGKILL; "
			"its threads:\n", vmm_test_name, v->name);
	list_threads(v->pid);
	fprintf(stderr, "%s: %s: a thread is stuck in the L1's kernel: the L1 "
			"must be booted again\n", vmm_test_name, v->name);
	exit(VMM_L1_BROKEN);
}

/*
 * Read until tag and the rest of its line are in: a line the guest prints
 * arrives a FIFO's worth at a time, so "RXSUM " can be there before the
 * sum that follows it.
 */
bool
vmm_expect_line(struct vmm *v, const char *tag, int timeout_s)
{
	const char *p;

	if (!vmm_expect(v, tag, timeout_s))
		return false;
	p = memmem(v->out, v->len, tag, strlen(tag));
	return vmm_expect_from(v, (size_t)(p - v->out), "\n", timeout_s);
}

/* Wait for exit; returns the status code, or -1 (killed after timeout). */
int
vmm_finish(struct vmm *v, int timeout_s)
{
	time_t end = time(NULL) + timeout_s;
	int status;

	if (v->fd < 0) /* already ended */
		return -1;
	for (;;) {
		if (waitpid(v->pid, &status, WNOHANG) == v->pid)
			break;
		if (time(NULL) >= end) {
			fprintf(stderr, "%s: %s: killing tinyvmm\n", vmm_test_name,
				v->name);
			kill_and_reap(v);
			close(v->fd);
			v->fd = -1;
			return -1;
		}
		vmm_expect(v, "\001never", 1); /* keep draining its output */
	}
	close(v->fd);
	v->fd = -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}


/* A scratch directory under $TMPDIR (the L1's tmpfs: 9p holds no
 * sockets), named for the scenario. */
void
scratch_dir(const char *name, char *dir, size_t size)
{
	const char *tmp = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";

	snprintf(dir, size, "%s/vcon-%s-XXXXXX", tmp, name);
	if (!mkdtemp(dir))
		exit(2);
}

/* Connect to a unix socket tinyvmm is about to create, trying every
 * 50 ms up to tries times; -1 if it never answers. */
int
connect_when_there(const char *path, int tries)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd, i;

	if (strlen(path) >= sizeof(sun.sun_path))
		return -1;
	strcpy(sun.sun_path, path);
	for (i = 0; i < tries; i++) {
		fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0)
			return fd;
		close(fd);
		usleep(50000);
	}
	return -1;
}


ssize_t
read_some(int fd, char *buf, size_t size)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	size_t got = 0;
	ssize_t n;

	while (got < size && poll(&pfd, 1, got ? 200 : 5000) == 1) {
		n = read(fd, buf + got, size - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

/* md5sum of a file, by the host's md5sum(1): 32 hex digits or "". */
void
md5_of(const char *path, char *out)
{
	char cmd[300];
	FILE *p;

	out[0] = 0;
	snprintf(cmd, sizeof(cmd), "md5sum < '%s'", path);
	p = popen(cmd, "r");
	if (!p)
		return;
	if (fscanf(p, "%32s", out) != 1)
		out[0] = 0;
	pclose(p);
}


void
sum_after(const struct vmm *v, const char *tag, char *out)
{
	const char *p = memmem(v->out, v->len, tag, strlen(tag));

	out[0] = 0;
	if (p && sscanf(p + strlen(tag), "%32s", out) != 1)
		out[0] = 0;
}

/*
 * tests/with-kvm boots the L1 again when it dies, and so runs this test
 * again from the start. What each scenario came to is kept in the file
 * $VCON_KVM_PROGRESS (in the run directory, which the L1 writes through
 * to this machine): "P" or "F", the test, the scenario's place in the
 * run and its name. A scenario with an outcome from an earlier boot is
 * not run again, and a failure there still counts, so a boot that dies
 * neither repeats the work before it nor forgets a failure.
 */
static char
progress_get(int place, const char *name)
{
	const char *path = getenv("VCON_KVM_PROGRESS");
	char line[256], key[200];
	char got = 0;
	FILE *f;

	if (!path || !(f = fopen(path, "r")))
		return 0;
	snprintf(key, sizeof(key), "%s %d %s\n", vmm_test_name, place, name);
	while (fgets(line, sizeof(line), f))
		if ((line[0] == 'P' || line[0] == 'F') && line[1] == ' ' &&
		    !strcmp(line + 2, key))
			got = line[0];
	fclose(f);
	return got;
}

static void
progress_put(int place, const char *name, char outcome)
{
	const char *path = getenv("VCON_KVM_PROGRESS");
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	fprintf(f, "%c %s %d %s\n", outcome, vmm_test_name, place, name);
	fclose(f);
}

void
vmm_scenario(const char *name, void (*fn)(void))
{
	static int places;
	int before = vmm_failures, attempt, place = ++places;
	char earlier = progress_get(place, name);

	if (earlier) {
		fprintf(stderr, "%s: %s: %s in an earlier boot of the L1; not "
				"run again\n", vmm_test_name, name,
			earlier == 'P' ? "passed" : "failed");
		if (earlier == 'F')
			vmm_failures++;
		return;
	}
	/*
	 * docs/testing-kvm.md: the nested L1 now and then makes an L2 guest
	 * triple-fault or stop running, a few times in a full make check.
	 * Such a failure is run again, up to three attempts; any other
	 * failure stands. Three of these in a row under tests/with-kvm end
	 * the test with VMM_L1_BROKEN, for a new L1 to go on from this
	 * scenario; elsewhere they stand.
	 */
	for (attempt = 1;; attempt++) {
		triple_fault_seen = stall_seen = false;
		fn();
		if (vmm_failures == before || !(triple_fault_seen || stall_seen))
			break;
		if (attempt == 3) {
			/* Three in a row: this L1 is a bad one. Under
			 * tests/with-kvm another boot runs it again. */
			if (!getenv("VCON_KVM_PROGRESS"))
				break;
			fprintf(stderr, "%s: %s: three nested faults in a row "
					"in this L1\n",
				vmm_test_name, name);
			exit(VMM_L1_BROKEN);
		}
		fprintf(stderr, "%s: %s: the guest %s under the nested runner; "
				"running the scenario again (%d of 3)\n",
			vmm_test_name, name,
			triple_fault_seen ? "triple-faulted" : "stalled",
			attempt + 1);
		vmm_failures = before;
	}
	progress_put(place, name, vmm_failures == before ? 'P' : 'F');
}

/* Whether tinyvmm has closed its end: it exited (or died). */
static bool
tinyvmm_gone(const struct vmm *v)
{
	return recv(v->fd, &(char){ 0 }, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* What tinyvmm printed from byte mark on, without the terminal's CRs. */
static void
print_since(const struct vmm *v, size_t mark)
{
	size_t i;

	for (i = mark; i < v->len; i++)
		if (v->out[i] != '\r')
			fputc(v->out[i], stderr);
	fputc('\n', stderr);
}

static long long
file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (long long)st.st_size : -1;
}

/*
 * Wait for needle on w while the guest fills path (NULL: w's own output);
 * a stall, w's end or the time running out is tinyvmm v's. w is v itself
 * for the terminal, a port's socket for a virtconsole.
 */
static bool
expect_growing(struct vmm *v, struct vmm *w, const char *needle,
	       const char *path, int stall_s, int timeout_s)
{
	time_t start = time(NULL), last = start;
	long long size = -1, now;

	for (;;) {
		if (vmm_expect(w, needle, 5))
			return true;
		now = path ? file_size(path) : (long long)w->len;
		if (now != size) {
			size = now;
			last = time(NULL);
		} else if (time(NULL) - last >= stall_s) {
			break;
		}
		if (tinyvmm_gone(w)) {
			if (w != v) /* tinyvmm closes its ports, then says why */
				vmm_expect(v, "\001never", 5);
			vmm_fail(v, "%s ended before '%s'",
				 w == v ? "tinyvmm" : w->name, needle);
			return false;
		}
		if (timeout_s > 0 && time(NULL) - start >= timeout_s) {
			vmm_expect(v, "\001never", 0); /* what it said so far */
			vmm_fail(v, "'%s' did not come in %d s", needle,
				 timeout_s);
			return false;
		}
	}
	vmm_expect(v, "\001never", 0);
	vmm_stalled(v, "'%s' did not come and %s stopped growing at %lld "
		       "bytes %d s ago", needle,
		    path ? path : w == v ? "the console" : w->name, size,
		    stall_s);
	return false;
}

bool
vmm_expect_growing(struct vmm *v, const char *needle, const char *path,
		   int stall_s, int timeout_s)
{
	return expect_growing(v, v, needle, path, stall_s, timeout_s);
}

bool
vmm_expect_growing_on(struct vmm *v, struct vmm *w, const char *needle,
		      int stall_s, int timeout_s)
{
	return expect_growing(v, w, needle, NULL, stall_s, timeout_s);
}

void
vmm_stalled(struct vmm *v, const char *fmt, ...)
{
	char msg[512];
	size_t mark = v->len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (tinyvmm_gone(v)) {
		vmm_fail(v, "%s; tinyvmm has ended", msg);
		return;
	}
	/*
	 * What the ports and KVM say (twice: whether the guest still exits),
	 * where tinyvmm's threads are (a vCPU inside KVM_RUN, or blocked in
	 * tinyvmm), and last, since printing on the polled console is what
	 * most often upsets the nested guest, where the guest's CPUs are
	 * (magic SysRq 'l').
	 */
	vmm_type(v, "\001c");
	vmm_type(v, "info serial\r");
	vmm_type(v, "info kvm\r");
	if (vmm_expect_from(v, mark, "coalesced writes=", 20)) {
		size_t again = v->len;

		sleep(3);
		vmm_type(v, "info kvm\r");
		vmm_expect_from(v, again, "coalesced writes=", 20);
		vmm_expect_from(v, again, "\n(tinyvmm)", 5);
	}
	vmm_type(v, "\001c");
	fprintf(stderr, "%s: %s: the monitor said:\n", vmm_test_name,
		v->name);
	print_since(v, mark);
	fprintf(stderr, "%s: %s: tinyvmm's threads:\n", vmm_test_name,
		v->name);
	list_threads(v->pid);
	mark = v->len;
	vmm_type(v, "\001b");
	sleep(1);
	vmm_type(v, "l");
	vmm_expect_from(v, mark, "\001never", 10);
	fprintf(stderr, "%s: %s: after SysRq 'l', the console said:\n",
		vmm_test_name, v->name);
	print_since(v, mark);
	stall_seen = true;
	vmm_fail(v, "%s", msg);
	/* End it: the rest of the scenario then fails at once, not after
	 * each of its timeouts, and vmm_scenario runs it again. */
	vmm_finish(v, 0);
}

void
vmm_type(struct vmm *v, const char *keys)
{
	size_t n = strlen(keys);

	if (v->fd < 0) /* ended after a stall: the scenario is over */
		return;
	if (write(v->fd, keys, n) != (ssize_t)n)
		vmm_fail(v, "cannot type: %s", strerror(errno));
}
