/* SPDX-License-Identifier: MIT */
/*
 * tinyvmm's command line, spelled as QEMU's so that habits and scripts
 * carry over:
 *
 *   tinyvmm -kernel BZIMAGE [-initrd FILE] [-append CMDLINE] [-m SIZE]
 *           [-smp N] [-no-reboot] [-serial SPEC]... [-chardev SPEC]...
 *           [-device virtconsole|virtserialport|virtio-serial,...]...
 *           [-nographic] [-display none] [-enable-kvm] [-accel kvm]
 */
#ifndef TINYVMM_OPTIONS_H
#define TINYVMM_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TVM_MAX_SERIAL 4
#define TVM_MAX_CHARDEV 16
#define TVM_MAX_DEVICE 32

struct tvm_options {
	const char *kernel;
	const char *initrd;
	const char *append;
	uint64_t mem_bytes;
	unsigned smp;
	bool no_reboot;
	bool nographic;
	size_t nserial;
	const char *serial[TVM_MAX_SERIAL];
	size_t nchardev;
	const char *chardev[TVM_MAX_CHARDEV];
	size_t ndevice;
	const char *device[TVM_MAX_DEVICE];
	bool help;
	bool version;
};

/*
 * tvm_parse_options - fill opts from argv. Strings point into argv.
 *
 * Returns: 0, or -EINVAL with a one-line message in msg (msgsz bytes).
 */
int tvm_parse_options(int argc, char **argv, struct tvm_options *opts,
		      char *msg, size_t msgsz);

/*
 * tvm_parse_size - QEMU's -m: a number of MiB, or a number with a suffix
 * K, M, G or T (optionally followed by "B" or "iB").
 *
 * Returns: 0, or -EINVAL.
 */
int tvm_parse_size(const char *s, uint64_t *bytes);

enum tvm_device_kind {
	TVM_DEV_VIRTIO_SERIAL,  /* the controller: virtio-serial[-pci] */
	TVM_DEV_VIRTCONSOLE,
	TVM_DEV_VIRTSERIALPORT,
};

struct tvm_device {
	enum tvm_device_kind kind;
	char id[64];       /* id=, for device_del */
	char chardev[64];  /* chardev=, the -chardev id */
	char name[128];    /* name= */
	int nr;            /* nr=, -1 when not given */
	unsigned max_ports; /* max_ports= of the controller, 0 = default */
};

/*
 * tvm_parse_device - one -device argument, QEMU's spelling: the driver
 * name, then key=value pairs. Keys QEMU has that change nothing here
 * (id=, bus=) are accepted.
 *
 * Returns: 0, or -EINVAL with a one-line message naming the bad part.
 */
int tvm_parse_device(const char *spec, struct tvm_device *d, char *msg,
		     size_t msgsz);

extern const char tvm_usage[];

#endif /* TINYVMM_OPTIONS_H */
