/* SPDX-License-Identifier: MIT */
/*
 * uart-qcompare: drive QEMU's 16550 (through qtest) and libvcon's
 * (through build/uart-qtest) with the same seeded random register
 * sequences and compare every reply and every interrupt change.
 *
 * Nothing may differ except the entries of docs/uart-vs-qemu.md, each
 * applied as a narrow rule here, by the same ID:
 *   tx-burst            IRQ events inside a run of THR writes and the
 *                       command that ends it; the level after must agree.
 *   msr-loopback-delta  MSR deltas (and the MSI they raise) that the
 *                       datasheet sets in loopback; the comparator
 *                       predicts them and checks libvcon against that.
 *   reset-mcr           QEMU powers on with MCR.OUT2 set; never compared,
 *                       because each sequence starts by writing MCR.
 * The IDs are looked up in the doc at start-up, so neither can drift.
 *
 * usage: uart-qcompare --qemu QEMU --model UART_QTEST [--sequences N]
 *                      [--seed S] [--doc docs/uart-vs-qemu.md] [-v]
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BASE 0x3f8
#define MAX_EVENTS 8
#define MAX_SEQ_CMDS 512

static const char *const allowed_ids[] = {
	"tx-burst",
	"msr-loopback-delta",
	"reset-mcr",
};

struct peer {
	const char *name;
	pid_t pid;
	FILE *in;  /* we write commands here */
	FILE *out; /* we read replies here */
	bool level;
};

struct answer {
	char reply[256];
	int nev;
	bool ev[MAX_EVENTS]; /* level after each IRQ event */
	bool level_after;
};

struct record {
	char cmd[48];
	struct answer q, m;
	const char *note;
};

/* What the comparator knows of the guest-visible configuration. */
struct shadow {
	uint8_t lcr, ier, mcr;
	uint8_t msr_in;     /* modem inputs as libvcon sees them */
	uint8_t msr_delta;  /* deltas libvcon should have latched */
};

static uint64_t rng_state;

static uint32_t
rnd(void)
{
	/* xorshift64*: fast, seedable, good enough for test sequences */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return (uint32_t)((rng_state * 2685821657736338717ull) >> 32);
}

static unsigned
pick(unsigned n)
{
	return rnd() % n;
}

static void
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "uart-qcompare: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static void
spawn(struct peer *p, const char *const argv[])
{
	int to[2], from[2];

	if (pipe(to) || pipe(from))
		die("pipe: %s", strerror(errno));
	p->pid = fork();
	if (p->pid < 0)
		die("fork: %s", strerror(errno));
	if (p->pid == 0) {
		dup2(to[0], 0);
		dup2(from[1], 1);
		close(to[0]);
		close(to[1]);
		close(from[0]);
		close(from[1]);
		/* exec wants char *[]; the child's copies may leak. */
		char *args[32];
		int k;

		for (k = 0; argv[k] && k < 31; k++)
			args[k] = strdup(argv[k]);
		args[k] = NULL;
		execvp(args[0], args);
		fprintf(stderr, "uart-qcompare: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(to[0]);
	close(from[1]);
	p->in = fdopen(to[1], "w");
	p->out = fdopen(from[0], "r");
	if (!p->in || !p->out)
		die("fdopen: %s", strerror(errno));
	p->level = false;
}

/* QEMU's qtest does not exit when its stdin closes, so end it ourselves. */
static void
reap(struct peer *p)
{
	int status;

	if (p->pid <= 0)
		return;
	fclose(p->in);
	fclose(p->out);
	kill(p->pid, SIGTERM);
	waitpid(p->pid, &status, 0);
	p->pid = 0;
}

/* Send one command; collect IRQ lines until the OK/FAIL reply. */
static void
ask(struct peer *p, const char *cmd, struct answer *a)
{
	char line[256];

	memset(a, 0, sizeof(*a));
	fprintf(p->in, "%s\n", cmd);
	fflush(p->in);
	for (;;) {
		if (!fgets(line, sizeof(line), p->out))
			die("%s exited while answering '%s'", p->name, cmd);
		line[strcspn(line, "\r\n")] = '\0';
		if (!strncmp(line, "IRQ ", 4)) {
			bool up = !strncmp(line + 4, "raise", 5);

			if (a->nev < MAX_EVENTS)
				a->ev[a->nev] = up;
			a->nev++;
			p->level = up;
			continue;
		}
		if (!strncmp(line, "OK", 2) || !strncmp(line, "FAIL", 4))
			break;
		/* QEMU may print other asynchronous lines; skip them. */
	}
	snprintf(a->reply, sizeof(a->reply), "%s", line);
	a->level_after = p->level;
}

static void
print_answer(const struct answer *a)
{
	int i;

	printf("%-10s", a->reply);
	for (i = 0; i < a->nev && i < MAX_EVENTS; i++)
		printf(" %s", a->ev[i] ? "raise" : "lower");
}

static void
dump(const struct record *r, size_t n, unsigned seq, uint64_t seed)
{
	size_t i;

	printf("conformance: difference in sequence %u (seed %llu)\n", seq,
	       (unsigned long long)seed);
	printf("  %-22s %-28s %s\n", "command", "qemu", "libvcon");
	for (i = 0; i < n; i++) {
		printf("  %-22s ", r[i].cmd);
		print_answer(&r[i].q);
		printf("  |  ");
		print_answer(&r[i].m);
		if (r[i].note)
			printf("   <-- %s", r[i].note);
		printf("\n");
	}
	printf("replay: feed the commands to build/uart-qtest, or to QEMU with "
	       "-qtest stdio\n");
}

static uint8_t
loop_inputs(uint8_t mcr)
{
	uint8_t in = 0;

	if (!(mcr & 0x10))
		return 0xb0; /* a null chardev: CTS, DSR, DCD */
	if (mcr & 0x01)
		in |= 0x20;
	if (mcr & 0x02)
		in |= 0x10;
	if (mcr & 0x04)
		in |= 0x40;
	if (mcr & 0x08)
		in |= 0x80;
	return in;
}

static void
shadow_mcr(struct shadow *s, uint8_t val)
{
	uint8_t in, changed;

	s->mcr = (uint8_t)(val & 0x1f);
	in = loop_inputs(s->mcr);
	changed = (uint8_t)(in ^ s->msr_in);
	if (changed & 0x10)
		s->msr_delta |= 0x01;
	if (changed & 0x20)
		s->msr_delta |= 0x02;
	if (changed & 0x80)
		s->msr_delta |= 0x08;
	if ((changed & 0x40) && !(in & 0x40))
		s->msr_delta |= 0x04;
	s->msr_in = in;
}

static bool
msi_predicted(const struct shadow *s)
{
	return (s->ier & 0x08) && s->msr_delta;
}

struct compare {
	struct peer q, m;
	struct shadow sh;
	bool in_burst; /* the previous command was a THR write */
	struct record rec[MAX_SEQ_CMDS];
	size_t nrec;
	unsigned long long ncmds;
	unsigned seq;
	uint64_t seed;
};

static bool
same_events(const struct answer *a, const struct answer *b)
{
	int i;

	if (a->nev != b->nev)
		return false;
	for (i = 0; i < a->nev && i < MAX_EVENTS; i++)
		if (a->ev[i] != b->ev[i])
			return false;
	return true;
}

/*
 * Run one command on both and judge it. Returns false on a difference
 * outside the allowed list (after printing the sequence so far).
 */
static bool
step(struct compare *c, const char *cmd)
{
	struct record *r = &c->rec[c->nrec < MAX_SEQ_CMDS ? c->nrec++ : 0];
	struct shadow *sh = &c->sh;
	unsigned addr = 0, val = 0;
	bool is_out = sscanf(cmd, "outb 0x%x 0x%x", &addr, &val) == 2;
	bool is_in = !is_out && sscanf(cmd, "inb 0x%x", &addr) == 1;
	unsigned off = addr - BASE;
	bool dlab = sh->lcr & 0x80;
	bool thr_write = is_out && off == 0 && !dlab;
	bool msi_before = msi_predicted(sh);
	bool ok = true;
	char expect[256];

	snprintf(r->cmd, sizeof(r->cmd), "%s", cmd);
	r->note = NULL;
	ask(&c->q, cmd, &r->q);
	ask(&c->m, cmd, &r->m);
	c->ncmds++;

	/* Replies: equal, or the predicted loopback deltas (and MSI id). */
	snprintf(expect, sizeof(expect), "%s", r->q.reply);
	if (is_in && off == 6) {
		unsigned qv;

		if (sscanf(r->q.reply, "OK 0x%x", &qv) == 1)
			snprintf(expect, sizeof(expect), "OK 0x%04x",
				 (qv & 0xf0) | sh->msr_delta);
		sh->msr_delta = 0;
	} else if (is_in && off == 2 && msi_before) {
		unsigned qv;

		/* MSI is the lowest priority: it shows only if nothing else. */
		if (sscanf(r->q.reply, "OK 0x%x", &qv) == 1 &&
		    (qv & 0x0f) == 0x01)
			snprintf(expect, sizeof(expect), "OK 0x%04x",
				 qv & 0xf0);
	}
	if (strcmp(expect, r->m.reply)) {
		r->note = strcmp(expect, r->q.reply) ? "reply differs from the "
						       "msr-loopback-delta "
						       "prediction"
						     : "reply differs";
		ok = false;
	}

	/* Update the shadow with what the command did. */
	if (is_out && off == 3)
		sh->lcr = (uint8_t)val;
	else if (is_out && off == 1 && !dlab)
		sh->ier = (uint8_t)(val & 0x0f);
	else if (is_out && off == 4)
		shadow_mcr(sh, (uint8_t)val);

	/* IRQ events. */
	if (ok) {
		bool msi_after = msi_predicted(sh);

		if (thr_write) {
			/* tx-burst: inside the run, anything goes */
		} else if (c->in_burst || msi_before || msi_after) {
			/*
			 * tx-burst ends here, or msr-loopback-delta adds an
			 * MSI source QEMU lacks: the level must agree with
			 * QEMU's, or QEMU's plus the predicted MSI.
			 */
			bool want = r->q.level_after || msi_after;

			if (r->m.level_after != want) {
				r->note = "IRQ level after differs";
				ok = false;
			}
		} else if (!same_events(&r->q, &r->m) ||
			   r->q.level_after != r->m.level_after) {
			r->note = "IRQ events differ";
			ok = false;
		}
	}
	c->in_burst = thr_write;
	if (!ok)
		dump(c->rec, c->nrec, c->seq, c->seed);
	return ok;
}

static bool
stepf(struct compare *c, const char *fmt, ...)
{
	char cmd[48];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	return step(c, cmd);
}

/* Every sequence starts from the same guest-visible state on both. */
static bool
normalize(struct compare *c)
{
	static const char *const prefix[] = {
		"outb 0x3fb 0x00", "outb 0x3f9 0x00", "outb 0x3fc 0x00",
		"outb 0x3fa 0x07", "outb 0x3fa 0x00", "inb 0x3fd",
		"inb 0x3fa",       "inb 0x3fe",       "inb 0x3f8",
		"outb 0x3fb 0x80", "outb 0x3f8 0x01", "outb 0x3f9 0x00",
		"outb 0x3fb 0x03", "outb 0x3ff 0x00",
	};
	size_t i;

	for (i = 0; i < sizeof(prefix) / sizeof(prefix[0]); i++)
		if (!step(c, prefix[i]))
			return false;
	return true;
}

static uint8_t
pick_from(const uint8_t *v, size_t n)
{
	/* Mostly meaningful values, sometimes any byte. */
	if (pick(5) == 0)
		return (uint8_t)rnd();
	return v[pick((unsigned)n)];
}

#define PICK(arr) pick_from(arr, sizeof(arr))

static bool
random_command(struct compare *c)
{
	static const uint8_t lcrs[] = { 0x03, 0x83, 0x80, 0x00, 0x1b, 0x07 };
	static const uint8_t iers[] = { 0x00, 0x01, 0x02, 0x03, 0x05, 0x0f,
					0x08, 0x0a };
	static const uint8_t fcrs[] = { 0x01, 0x07, 0x00, 0x81, 0xc7, 0x41,
					0x03, 0x05, 0xc1 };
	static const uint8_t mcrs[] = { 0x10, 0x1b, 0x0b, 0x00, 0x13, 0x1f,
					0x18, 0x14, 0x11, 0x12 };
	unsigned i, n;

	switch (pick(16)) {
	case 0:
		return stepf(c, "outb 0x3fb 0x%02x", PICK(lcrs));
	case 1:
		return stepf(c, "outb 0x3f9 0x%02x", PICK(iers));
	case 2:
		return stepf(c, "outb 0x3fa 0x%02x", PICK(fcrs));
	case 3:
	case 4:
		return stepf(c, "outb 0x3fc 0x%02x", PICK(mcrs));
	case 5:
	case 6:
		n = 1 + pick(20);
		for (i = 0; i < n; i++)
			if (!stepf(c, "outb 0x3f8 0x%02x", rnd() & 0xff))
				return false;
		return true;
	case 7:
		return stepf(c, "outb 0x%x 0x%02x", BASE + 5 + pick(3),
			     rnd() & 0xff);
	default:
		return stepf(c, "inb 0x%x", BASE + pick(8));
	}
}

static struct compare c;

static void
reap_all(void)
{
	reap(&c.q);
	reap(&c.m);
}

static void
check_doc(const char *path)
{
	static char text[1 << 16];
	char heading[64];
	size_t n, i;
	FILE *f = fopen(path, "r");

	if (!f)
		die("cannot read %s: %s", path, strerror(errno));
	n = fread(text, 1, sizeof(text) - 1, f);
	text[n] = '\0';
	fclose(f);
	for (i = 0; i < sizeof(allowed_ids) / sizeof(allowed_ids[0]); i++) {
		snprintf(heading, sizeof(heading), "\n## %s\n", allowed_ids[i]);
		if (!strstr(text, heading))
			die("allowed difference '%s' is not documented in %s",
			    allowed_ids[i], path);
	}
}

int
main(int argc, char **argv)
{
	const char *qemu = "qemu-system-x86_64", *model = "build/uart-qtest";
	const char *doc = "docs/uart-vs-qemu.md";
	unsigned long nseq = 3000, s;
	unsigned long long seed = 1;
	int i;

	for (i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--qemu") && i + 1 < argc)
			qemu = argv[++i];
		else if (!strcmp(argv[i], "--model") && i + 1 < argc)
			model = argv[++i];
		else if (!strcmp(argv[i], "--sequences") && i + 1 < argc)
			nseq = strtoul(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--seed") && i + 1 < argc)
			seed = strtoull(argv[++i], NULL, 0);
		else if (!strcmp(argv[i], "--doc") && i + 1 < argc)
			doc = argv[++i];
		else
			die("usage: uart-qcompare --qemu QEMU --model UART_QTEST "
			    "[--sequences N] [--seed S] [--doc FILE]");
	}
	check_doc(doc);
	signal(SIGPIPE, SIG_IGN);

	const char *qargv[] = { qemu, "-S", "-machine", "pc",
			  "-qtest", "stdio", "-qtest-log", "/dev/null",
			  "-display", "none", "-nodefaults", "-chardev",
			  "null,id=c0", "-device", "isa-serial,chardev=c0",
			  NULL };
	const char *margv[] = { model, NULL };

	atexit(reap_all);
	c.q.name = "qemu";
	c.m.name = "libvcon";
	spawn(&c.q, qargv);
	spawn(&c.m, margv);
	c.seed = seed;
	c.sh.msr_in = 0xb0;
	if (!step(&c, "irq_intercept_in ioapic"))
		return 1;
	for (s = 0; s < nseq; s++) {
		unsigned n;

		rng_state = seed * 0x9e3779b97f4a7c15ull + s + 1;
		c.seq = (unsigned)s;
		c.nrec = 0;
		if (!normalize(&c))
			return 1;
		n = 20 + pick(41);
		while (n--)
			if (!random_command(&c))
				return 1;
	}
	printf("conformance: %lu sequences, %llu commands, 0 differences "
	       "outside %s\n",
	       nseq, c.ncmds, doc);
	return 0;
}
