/* SPDX-License-Identifier: MIT */
/*
 * e2e-watch [-p PID] [-t SECONDS] FILE TEXT
 * e2e-watch [-p PID] [-t SECONDS] -s BYTES FILE
 *
 * Waits until FILE contains TEXT (or, with -s, holds at least BYTES
 * bytes) and prints the wall-clock time it saw that, as `date +%s.%N`
 * would. bench/e2e timed its events with a shell loop that forked grep,
 * stat and date every 20 ms; nested, one round took tens of
 * milliseconds, as long as a whole 16 MiB virtio-serial transfer. This
 * looks every millisecond and forks nothing.
 *
 * Exits 1 when PID is gone or SECONDS (default 600) pass first, 2 on a
 * usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BUF_MAX (1 << 20)

static void
usage(void)
{
	fprintf(stderr, "usage: e2e-watch [-p PID] [-t SECONDS] FILE TEXT\n"
			"       e2e-watch [-p PID] [-t SECONDS] -s BYTES FILE\n");
	exit(2);
}

static long long
number(const char *s, const char *what)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 0) {
		fprintf(stderr, "e2e-watch: %s '%s' is not a number\n", what, s);
		exit(2);
	}
	return v;
}

/* Whether FILE holds TEXT; reads the last BUF_MAX bytes at most. */
static int
has_text(const char *path, const char *text, char *buf)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, len = 0;

	if (fd < 0)
		return 0;
	while (len < BUF_MAX - 1 &&
	       (n = read(fd, buf + len, (size_t)(BUF_MAX - 1 - len))) > 0)
		len += n;
	close(fd);
	buf[len] = '\0';
	return memmem(buf, (size_t)len, text, strlen(text)) != NULL;
}

/* A VMM that exited stays a zombie of bench/e2e's shell: count it gone. */
static int
alive(long long pid)
{
	char path[64], stat[512], *rp;
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, stat, sizeof(stat) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	stat[n] = '\0';
	rp = strrchr(stat, ')');
	return rp && rp[1] == ' ' && rp[2] != 'Z' && rp[2] != 'X';
}

int
main(int argc, char **argv)
{
	long long pid = 0, secs = 600, bytes = -1;
	const char *path, *text = NULL;
	struct timespec now, end, tick = { 0, 1000000 };
	char *buf = NULL;
	struct stat st;
	int opt;

	while ((opt = getopt(argc, argv, "p:t:s:")) != -1) {
		switch (opt) {
		case 'p':
			pid = number(optarg, "PID");
			break;
		case 't':
			secs = number(optarg, "SECONDS");
			break;
		case 's':
			bytes = number(optarg, "BYTES");
			break;
		default:
			usage();
		}
	}
	if (argc - optind != (bytes < 0 ? 2 : 1))
		usage();
	path = argv[optind];
	if (bytes < 0) {
		text = argv[optind + 1];
		buf = malloc(BUF_MAX);
		if (!buf) {
			fprintf(stderr, "e2e-watch: out of memory\n");
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += secs;
	for (;;) {
		int seen = text ? has_text(path, text, buf)
				: stat(path, &st) == 0 && st.st_size >= bytes;

		if (seen) {
			clock_gettime(CLOCK_REALTIME, &now);
			printf("%lld.%09ld\n", (long long)now.tv_sec, now.tv_nsec);
			free(buf);
			return 0;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec > end.tv_sec ||
		    (now.tv_sec == end.tv_sec && now.tv_nsec >= end.tv_nsec) ||
		    (pid > 0 && !alive(pid))) {
			/* What it wrote just before it went still counts. */
			if (text ? has_text(path, text, buf)
				 : stat(path, &st) == 0 && st.st_size >= bytes)
				continue;
			break;
		}
		nanosleep(&tick, NULL);
	}
	free(buf);
	return 1;
}
