/* SPDX-License-Identifier: MIT */
/*
 * vCPUs: creation with the host's supported CPUID (APIC IDs made unique),
 * and the run loop that dispatches exits. Every exit is either handled,
 * turned into a stop reason, or reported with the registers.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kvm_impl.h"

static int
set_cpuid(struct vcon_vm *vm, struct vm_vcpu *c)
{
	struct kvm_cpuid2 *cpuid;
	unsigned n = 128, i;
	int rc = 0;

	for (;;) {
		cpuid = calloc(1,
			       sizeof(*cpuid) + n * sizeof(cpuid->entries[0]));
		if (!cpuid)
			return -ENOMEM;
		cpuid->nent = n;
		if (ioctl(vm->kvm, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		rc = -errno;
		free(cpuid);
		if (rc != -E2BIG || n >= 4096)
			return rc;
		n *= 2;
		rc = 0;
	}
	for (i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 *e = &cpuid->entries[i];

		/* Leaf 1 EBX[31:24] and leaf 0xB EDX: this vCPU's APIC ID. */
		if (e->function == 1)
			e->ebx = (e->ebx & 0x00ffffffu) | (c->id << 24);
		/*
		 * Leaf 1 ECX[31]: a hypervisor is present. KVM leaves it
		 * clear, and without it Linux never looks at the KVM leaves
		 * (0x40000000): no kvm-clock, so it calibrates the TSC
		 * against the PIT, which fails when nested, and falls back
		 * to jiffies as its clocksource; its time then runs slow.
		 */
		if (e->function == 1)
			e->ecx |= 1u << 31;
		if (e->function == 0xb)
			e->edx = c->id;
	}
	if (ioctl(c->fd, KVM_SET_CPUID2, cpuid) < 0)
		rc = -errno;
	free(cpuid);
	return rc;
}

int
vcon__vcpu_init(struct vcon_vm *vm, unsigned id, struct vcon_error *err)
{
	struct vm_vcpu *c = &vm->vcpus[id];
	long size;
	int rc;

	c->vm = vm;
	c->id = id;
	c->fd = ioctl(vm->fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (c->fd < 0) {
		rc = -errno;
		goto fail;
	}
	size = ioctl(vm->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0) {
		rc = size < 0 ? -errno : -EINVAL;
		goto fail;
	}
	c->run_size = (size_t)size;
	c->run = mmap(NULL, c->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->fd, 0);
	if (c->run == MAP_FAILED) {
		c->run = NULL;
		rc = -errno;
		goto fail;
	}
	rc = set_cpuid(vm, c);
	if (rc)
		goto fail;
	return 0;
fail:
	if (err)
		snprintf(err->msg, sizeof(err->msg), "vCPU %u: %s", id,
			 strerror(-rc));
	return rc;
}

/* Registers for an error message: where the guest was when KVM gave up. */
static void
describe(struct vm_vcpu *c, const char *what, char *buf, size_t len)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(c->fd, KVM_GET_REGS, &r) < 0 ||
	    ioctl(c->fd, KVM_GET_SREGS, &s) < 0) {
		snprintf(buf, len, "vCPU %u: %s", c->id, what);
		return;
	}
	snprintf(buf, len,
		 "vCPU %u: %s; rip=%#llx rsp=%#llx rax=%#llx cr0=%#llx "
		 "cr3=%#llx cr4=%#llx efer=%#llx cs=%#x",
		 c->id, what, (unsigned long long)r.rip,
		 (unsigned long long)r.rsp, (unsigned long long)r.rax,
		 (unsigned long long)s.cr0, (unsigned long long)s.cr3,
		 (unsigned long long)s.cr4, (unsigned long long)s.efer,
		 s.cs.selector);
}

/* Returns false when the loop must end. */
static bool
handle_exit(struct vm_vcpu *c)
{
	struct kvm_run *run = c->run;
	struct vcon_vm *vm = c->vm;
	char msg[256], what[96];

	/* Coalesced writes come first: this exit may read what they wrote. */
	if (vcon__vm_ring_pending(vm))
		vcon__vm_drain(vm);
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		__atomic_store_n(&c->io_exits, c->io_exits + 1,
				 __ATOMIC_RELAXED);
		vcon_bus_access(vm->pio, run->io.port, run->io.size,
				run->io.count,
				run->io.direction == KVM_EXIT_IO_OUT,
				(uint8_t *)run + run->io.data_offset);
		return true;
	case KVM_EXIT_MMIO:
		__atomic_store_n(&c->mmio_exits, c->mmio_exits + 1,
				 __ATOMIC_RELAXED);
		vcon_bus_access(vm->mmio, run->mmio.phys_addr, run->mmio.len, 1,
				run->mmio.is_write, run->mmio.data);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; ours has one. */
		vcon_vm_request_stop(vm, VCON_VM_EXIT_POWEROFF);
		return false;
	case KVM_EXIT_SHUTDOWN:
		vcon_vm_request_stop(vm, VCON_VM_EXIT_SHUTDOWN);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		if (run->system_event.type == KVM_SYSTEM_EVENT_SHUTDOWN)
			vcon_vm_request_stop(vm, VCON_VM_EXIT_POWEROFF);
		else if (run->system_event.type == KVM_SYSTEM_EVENT_RESET)
			vcon_vm_request_stop(vm, VCON_VM_EXIT_REBOOT);
		else {
			snprintf(what, sizeof(what), "system event %u",
				 run->system_event.type);
			describe(c, what, msg, sizeof(msg));
			vcon__vm_fail(vm, msg);
		}
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		snprintf(what, sizeof(what), "entry failed, reason %#llx",
			 (unsigned long long)
				 run->fail_entry.hardware_entry_failure_reason);
		break;
	case KVM_EXIT_INTERNAL_ERROR:
		snprintf(what, sizeof(what), "KVM internal error %u",
			 run->internal.suberror);
		break;
	default:
		snprintf(what, sizeof(what), "unhandled exit %u",
			 run->exit_reason);
		break;
	}
	describe(c, what, msg, sizeof(msg));
	vcon__vm_fail(vm, msg);
	return false;
}

void *
vcon__vcpu_thread(void *arg)
{
	struct vm_vcpu *c = arg;
	char msg[256];

	for (;;) {
		if (ioctl(c->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* A kick: leave if a stop was asked for. */
				if (__atomic_load_n(&c->run->immediate_exit,
						    __ATOMIC_SEQ_CST))
					break;
				continue;
			}
			snprintf(msg, sizeof(msg), "vCPU %u: KVM_RUN: %s",
				 c->id, strerror(errno));
			vcon__vm_fail(c->vm, msg);
			break;
		}
		if (!handle_exit(c))
			break;
	}
	return NULL;
}
