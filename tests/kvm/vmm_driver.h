/* SPDX-License-Identifier: MIT */
/*
 * What the end-to-end KVM tests share: run tinyvmm as a child whose
 * stdin/stdout/stderr is our socket (as a terminal would be), wait for
 * what it prints, and the host-side helpers (scratch dirs under $TMPDIR,
 * sockets tinyvmm is about to create, md5 of a file).
 */
#ifndef VCON_VMM_DRIVER_H
#define VCON_VMM_DRIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define OUT_MAX (1 << 20)

/* A test's exit status when the L1 it runs in can no longer run guests
 * (a vCPU stuck in the L1's KVM): tests/with-kvm boots the L1 again. */
#define VMM_L1_BROKEN 75

struct vmm {
	pid_t pid;
	int fd; /* our end of its stdin/stdout */
	char out[OUT_MAX];
	size_t len;
	const char *name;
};

/* Set by main: the program's name for messages, and what to boot. */
extern const char *vmm_test_name;
extern const char *vmm_tinyvmm, *vmm_kernel, *vmm_initrd;
/* Seconds a boot may take: 240, or VCON_E2E_BOOT_S (exits 2 if bad). */
int vmm_boot_s(void);
extern int vmm_failures;

/* Record a failure, saving the output to build/e2e/tinyvmm-NAME.log. */
void vmm_fail(struct vmm *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Start tinyvmm with the kernel, initrd, -append and extra arguments. */
void vmm_start(struct vmm *v, const char *name, const char *append,
	       const char *const *extra);
/* Read until needle appears; false after timeout_s. */
bool vmm_expect(struct vmm *v, const char *needle, int timeout_s);
/* The same, for a needle that appears after byte `from` of the output. */
bool vmm_expect_from(struct vmm *v, size_t from, const char *needle,
		     int timeout_s);
/* The same, until tag and the rest of its line have arrived. */
bool vmm_expect_line(struct vmm *v, const char *tag, int timeout_s);
/* Type keys on tinyvmm's terminal (its stdin). */
void vmm_type(struct vmm *v, const char *keys);
/* Wait for exit: the status, or -1 when killed after timeout_s. */
int vmm_finish(struct vmm *v, int timeout_s);

/*
 * Run a scenario; if it failed and tinyvmm reported a triple fault, or
 * the guest stalled (vmm_stalled), run it again, up to three attempts
 * (known nested-KVM flakes, docs/testing-kvm.md), so only a failure that
 * keeps repeating fails the test. Under tests/with-kvm, three in a row
 * exit VMM_L1_BROKEN instead, and a new L1 goes on from this scenario.
 */
void vmm_scenario(const char *name, void (*fn)(void));
/*
 * A guest that stopped making progress: print what tinyvmm's monitor
 * (which must be on v's terminal, -serial mon:stdio) says of its serial
 * ports and exits, then fail the scenario as a stall.
 */
void vmm_stalled(struct vmm *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/*
 * Wait for needle while the guest fills the host file path (NULL: writes
 * to tinyvmm's terminal, as a booting kernel does on its console); one
 * that stops growing for stall_s seconds is a stall (vmm_stalled). Gives
 * up after timeout_s (0: no limit).
 */
bool vmm_expect_growing(struct vmm *v, const char *needle, const char *path,
			int stall_s, int timeout_s);
/*
 * The same for output that comes on a port's socket w instead of on
 * tinyvmm v's terminal (a virtconsole): w silent for stall_s seconds is
 * v's stall, and w's end is v's end, so a guest that triple-faulted or
 * stopped is run again like one on the terminal.
 */
bool vmm_expect_growing_on(struct vmm *v, struct vmm *w, const char *needle,
			   int stall_s, int timeout_s);

void scratch_dir(const char *name, char *dir, size_t size);
int connect_when_there(const char *path, int tries);
ssize_t read_some(int fd, char *buf, size_t size);
void md5_of(const char *path, char *out);
/* The 32 hex digits after tag in what v printed, or "" (wait for the
 * whole line first: vmm_expect_line). */
void sum_after(const struct vmm *v, const char *tag, char *out);

#endif
