/* SPDX-License-Identifier: MIT */
/*
 * qga-client: talk to a QEMU guest agent (qemu-ga) through the unix
 * socket behind its virtserialport (org.qemu.guest_agent.0).
 *
 *   qga-client [-t SECONDS] SOCKET [COMMAND...]
 *
 * It first synchronises with guest-sync-delimited: a 0xFF byte flushes
 * whatever half a command the agent's parser holds from an earlier client,
 * and the agent puts a 0xFF before its answer, so everything up to that
 * byte is stale output and is skipped. Then each COMMAND (default:
 * guest-ping guest-info guest-get-time) is sent without arguments and its
 * answer printed as one line, "COMMAND: JSON". Exits 0 when every command
 * returned, 1 on an error answer or a timeout, 2 on bad usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define ANSWER_MAX (256 * 1024)

static int timeout_ms = 30000;

static void
die(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
die(int rc, const char *fmt, ...)
{
	va_list ap;

	fputs("qga-client: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(rc);
}

static void
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die(1, "write: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

/* One byte, or -1 after the timeout. */
static int
get_byte(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	unsigned char c;
	ssize_t n;

	if (poll(&pfd, 1, timeout_ms) != 1)
		return -1;
	n = read(fd, &c, 1);
	if (n == 0)
		die(1, "the agent's socket closed");
	return n == 1 ? c : -1;
}

/* One answer: a JSON object ending in a newline. */
static void
get_answer(int fd, char *buf, size_t size, const char *what)
{
	size_t len = 0;
	int c;

	for (;;) {
		c = get_byte(fd);
		if (c < 0)
			die(1, "%s: no answer within %d s", what,
			    timeout_ms / 1000);
		if (c == '\n' && len > 0)
			break;
		if (c == '\n' || c == '\r')
			continue;
		if (len + 1 >= size)
			die(1, "%s: answer longer than %zu bytes", what, size);
		buf[len++] = (char)c;
	}
	buf[len] = 0;
}

static void
sync_agent(int fd)
{
	char cmd[128], answer[256], want[64];
	long id;
	int c;

	srandom((unsigned)time(NULL) ^ (unsigned)getpid());
	id = random() & 0x7fffffff;
	snprintf(cmd, sizeof(cmd),
		 "\xff{\"execute\":\"guest-sync-delimited\","
		 "\"arguments\":{\"id\":%ld}}\n",
		 id);
	send_all(fd, cmd, strlen(cmd));
	/* Skip stale output up to the agent's own 0xFF. */
	do {
		c = get_byte(fd);
		if (c < 0)
			die(1, "guest-sync-delimited: no 0xFF from the agent "
			       "within %d s (is qemu-ga running on the port?)",
			    timeout_ms / 1000);
	} while (c != 0xff);
	get_answer(fd, answer, sizeof(answer), "guest-sync-delimited");
	snprintf(want, sizeof(want), "{\"return\": %ld}", id);
	if (strcmp(answer, want))
		die(1, "guest-sync-delimited: answer %s, want %s", answer,
		    want);
	printf("guest-sync-delimited: %s\n", answer);
}

int
main(int argc, char **argv)
{
	static const char *const defaults[] = { "guest-ping", "guest-info",
						"guest-get-time" };
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	static char answer[ANSWER_MAX];
	char cmd[256];
	int opt, fd, i, n, rc = 0;
	const char *const *cmds;

	while ((opt = getopt(argc, argv, "t:h")) != -1) {
		if (opt == 't' && atoi(optarg) > 0) {
			timeout_ms = atoi(optarg) * 1000;
		} else {
			fprintf(stderr, "usage: qga-client [-t SECONDS] SOCKET "
					"[COMMAND...]\n");
			return opt == 'h' ? 0 : 2;
		}
	}
	if (optind >= argc)
		die(2, "no socket given (usage: qga-client [-t SECONDS] "
		       "SOCKET [COMMAND...])");
	if (strlen(argv[optind]) >= sizeof(sun.sun_path))
		die(2, "%s: path too long for a unix socket", argv[optind]);
	strcpy(sun.sun_path, argv[optind]);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0)
		die(1, "%s: %s", argv[optind], strerror(errno));
	sync_agent(fd);
	n = argc - optind - 1;
	cmds = n ? (const char *const *)argv + optind + 1 : defaults;
	if (!n)
		n = 3;
	for (i = 0; i < n; i++) {
		if (strpbrk(cmds[i], "\"\\{}"))
			die(2, "%s: not a command name", cmds[i]);
		snprintf(cmd, sizeof(cmd), "{\"execute\":\"%s\"}\n", cmds[i]);
		send_all(fd, cmd, strlen(cmd));
		get_answer(fd, answer, sizeof(answer), cmds[i]);
		printf("%s: %s\n", cmds[i], answer);
		if (strncmp(answer, "{\"return\":", 10))
			rc = 1;
	}
	close(fd);
	return rc;
}
