/* SPDX-License-Identifier: MIT */
/*
 * tinyvmm's monitor: what Ctrl-A c switches to on a mux console
 * (`-serial mon:stdio`, the default), with a few of QEMU's HMP commands
 * spelled as QEMU spells them. It is a chardev frontend: it echoes and
 * edits the line itself (the terminal is raw) and runs each command on
 * the loop thread, through the callbacks tinyvmm gives it.
 */
#ifndef TINYVMM_MONITOR_H
#define TINYVMM_MONITOR_H

#include <stddef.h>

#include <vcon/chr.h>

struct tvm_monitor;

struct tvm_monitor_ops {
	/*
	 * Run one command line (without the newline). Output goes through
	 * tvm_monitor_printf. Unknown commands are the callback's to report.
	 */
	void (*command)(void *ctx, struct tvm_monitor *m, const char *line);
};

/* Attach to chr (which must be a mux), as its last frontend. */
int tvm_monitor_new(struct vcon_chr *chr, const struct tvm_monitor_ops *ops,
		    void *ctx, struct tvm_monitor **out);
void tvm_monitor_free(struct tvm_monitor *m);
void tvm_monitor_printf(struct tvm_monitor *m, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
