# SPDX-License-Identifier: MIT
#
# libvcon: one non-recursive Makefile. Overrides go on the command line or in
# config.mak. `make V=1` shows commands; `make WERROR=0` keeps warnings as
# warnings.

-include config.mak

PREFIX     ?= /usr/local
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
DESTDIR    ?=
CLANG      ?= clang
CXX        ?= g++
V          ?= 0
WERROR     ?= 1

VERSION_MAJOR := 0
VERSION_MINOR := 1
VERSION_PATCH := 0
VERSION       := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
SONAME        := libvcon.so.$(VERSION_MAJOR)

ifeq ($(V),1)
Q :=
quiet = @:
else
Q := @
quiet = @printf '  %-7s %s\n'
endif

WARNINGS := -Wall -Wextra -Wshadow -Wconversion -Wstrict-prototypes \
	-Wmissing-prototypes -Wmissing-declarations -Wpointer-arith \
	-Wcast-qual -Wwrite-strings -Wformat=2 -Wundef -Wvla
ifeq ($(WERROR),1)
WARNINGS += -Werror
endif

CFLAGS   ?= -O2 -g
ALL_CFLAGS = -std=c11 -pedantic -fPIC -fvisibility=hidden -Iinclude \
	$(WARNINGS) -MMD -MP $(CFLAGS)
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
TEST_CFLAGS = -std=c11 -Iinclude -Itests/lib $(WARNINGS) -Wno-conversion \
	-MMD -MP -O1 -g $(SAN_FLAGS)
BENCH_CFLAGS = -std=c11 -Iinclude $(WARNINGS) -O2 -DNDEBUG -MMD -MP

# ---- sources: listed, never globbed, so a stray file does not become API
LIB_SRCS += lib/common.c
LIB_SRCS += lib/uart16550.c
LIB_SRCS += lib/bus.c
LIB_SRCS += lib/kvm.c
LIB_SRCS += lib/kvm_vcpu.c
LIB_SRCS += lib/kvm_boot.c
LIB_SRCS += lib/bzimage.c
LIB_SRCS += lib/kvm_reset.c
LIB_SRCS += lib/kvm_acpi.c
LIB_SRCS += lib/kvm_pci.c
LIB_SRCS += lib/kvm_coalesce.c
LIB_SRCS += lib/loop.c
LIB_SRCS += lib/chr.c
LIB_SRCS += lib/chr_spec.c
LIB_SRCS += lib/chr_fd.c
LIB_SRCS += lib/chr_pty.c
LIB_SRCS += lib/chr_socket.c
LIB_SRCS += lib/serial.c
LIB_SRCS += lib/virtqueue.c
LIB_SRCS += lib/pci.c
LIB_SRCS += lib/virtio_pci.c
LIB_SRCS += lib/virtio_serial.c

PUBLIC_HEADERS += include/vcon.h
PUBLIC_HEADERS += include/vcon/common.h
PUBLIC_HEADERS += include/vcon/uart.h
PUBLIC_HEADERS += include/vcon/bus.h
PUBLIC_HEADERS += include/vcon/kvm.h
PUBLIC_HEADERS += include/vcon/loop.h
PUBLIC_HEADERS += include/vcon/chr.h
PUBLIC_HEADERS += include/vcon/serial.h
PUBLIC_HEADERS += include/vcon/pci.h
PUBLIC_HEADERS += include/vcon/virtio_serial.h

# Unit tests: tests/unit/test_NAME.c, one binary per lib/ unit.
TESTS += uart16550
TESTS += bus
TESTS += kvm
TESTS += loop
TESTS += chr
TESTS += chr_stage
TESTS += serial
TESTS += virtqueue
TESTS += virtio_serial
TESTS += tinyvmm_options

TESTUTIL_SRCS += tests/lib/testutil.c

# Benchmarks: bench/NAME.c, run with --smoke by `make check`.
BENCHES += uart_bench
BENCHES += chr_bench

# Fuzz targets: tests/fuzz/fuzz_NAME.c, bounded runs in `make check`.
FUZZERS += uart
FUZZERS += virtqueue
FUZZERS += virtio_serial
FUZZERS += chr_spec
FUZZERS += tinyvmm_options
FUZZERS += bzimage
FUZZ_SECONDS ?= 20

# ---- derived
LIB_OBJS      := $(LIB_SRCS:%.c=build/obj/%.o)
ASAN_LIB_OBJS := $(LIB_SRCS:%.c=build/asan/obj/%.o)
TEST_BINS     := $(TESTS:%=build/asan/test_%)
BENCH_BINS    := $(BENCHES:%=build/bench/%)
FUZZ_BINS     := $(FUZZERS:%=build/fuzz/fuzz_%)

.PHONY: all check check-examples check-install bench bench-compare bench-e2e fuzz demo install uninstall clean format-check \
	deps check-headers check-symbols check-unit check-conformance check-kvm \
	check-fuzz check-bench analyze

all: build/libvcon.a build/libvcon.so build/vcon.pc build/uart-qtest \
	build/tinyvmm build/qga-client

# ---- the library
build/obj/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -c -o $@ $<

build/libvcon.a: $(LIB_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

build/libvcon.so.$(VERSION): $(LIB_OBJS) lib/libvcon.map
	$(quiet) LD $@
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) \
		-Wl,--version-script=lib/libvcon.map -o $@ $(LIB_OBJS) -pthread

build/libvcon.so: build/libvcon.so.$(VERSION)
	$(Q)ln -sf libvcon.so.$(VERSION) build/$(SONAME)
	$(Q)ln -sf $(SONAME) $@

# vcon.pc names the install directories, so `make install PREFIX=...`
# writes its own copy rather than installing one made for another prefix.
GEN_PC = sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' vcon.pc.in

build/vcon.pc: vcon.pc.in Makefile
	$(quiet) GEN $@
	$(Q)mkdir -p $(@D) && $(GEN_PC) > $@

# ---- sanitized library and tests
build/asan/obj/%.o: %.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -O1 -c -o $@ $<

build/asan/libvcon.a: $(ASAN_LIB_OBJS)
	$(quiet) AR $@
	$(Q)rm -f $@ && $(AR) rcs $@ $^

build/asan/tests/%.o: tests/%.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(TEST_CFLAGS) -c -o $@ $<

build/asan/test_%: build/asan/tests/unit/test_%.o \
		$(TESTUTIL_SRCS:tests/%.c=build/asan/tests/%.o) build/asan/libvcon.a
	$(quiet) LD $@
	$(Q)$(CC) $(SAN_FLAGS) -o $@ $^ -lcmocka -pthread -lutil

# The UART tests hold the inline accesses to a build without them.
build/asan/test_uart16550: build/asan/tests/lib/uart_ref.o

build/asan/examples/%.o: examples/%.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN_FLAGS) -O1 -c -o $@ $<

build/asan/test_tinyvmm_options: build/asan/examples/tinyvmm/options.o

build/tinyvmm: examples/tinyvmm/main.c examples/tinyvmm/options.c \
		examples/tinyvmm/monitor.c examples/tinyvmm/monitor.h \
		examples/tinyvmm/options.h build/libvcon.a
	@mkdir -p $(@D)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $(filter %.c,$^) build/libvcon.a -pthread

build/asan/tinyvmm: examples/tinyvmm/main.c examples/tinyvmm/options.c \
		examples/tinyvmm/monitor.c examples/tinyvmm/monitor.h \
		examples/tinyvmm/options.h build/asan/libvcon.a
	@mkdir -p $(@D)
	$(quiet) CC $@
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $(filter %.c,$^) build/asan/libvcon.a \
		-pthread

build/qga-client: examples/qga-client/main.c
	@mkdir -p $(@D)
	$(quiet) CC $@
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $<

build/examples/wire_uart: examples/wire_uart.c build/libvcon.a
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< build/libvcon.a

# ---- conformance harness: libvcon's UART behind QEMU's qtest protocol
build/uart-qtest: tests/conformance/uart_qtest.c build/libvcon.a
	$(quiet) CC $<
	$(Q)$(CC) $(ALL_CFLAGS) -o $@ $< build/libvcon.a

build/asan/uart-qcompare: tests/conformance/uart_qcompare.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(TEST_CFLAGS) -D_GNU_SOURCE -o $@ $<

# ---- KVM tests: run through tests/with-kvm (nested KVM when no /dev/kvm)
KVM_TESTS += kvm_smoke
KVM_TESTS += kvm_boot_linux
KVM_TESTS += tinyvmm_console
KVM_TESTS += tinyvmm_vserial
KVM_TEST_BINS := $(KVM_TESTS:%=build/asan/%)
# The newest stock kernel tools/setup installed, and a busybox initramfs.
GUEST_KERNEL = $(shell ls /boot/vmlinuz-*-amd64 2>/dev/null | sort -V | tail -n 1)

build/asan/tinyvmm_%: tests/kvm/tinyvmm_%.c tests/kvm/vmm_driver.c \
		tests/kvm/vmm_driver.h
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $(filter %.c,$^)

build/e2e/demo.cpio.gz: tests/e2e/demo-init.sh tests/e2e/mkinitramfs
	@mkdir -p $(@D)
	$(quiet) GEN $@
	$(Q)tests/e2e/mkinitramfs $@ tests/e2e/demo-init.sh

# Boots the stock kernel in tinyvmm with a shell on this terminal, through
# the nested runner where /dev/kvm is missing. Ctrl-A x quits.
demo: deps
	@$(MAKE) --no-print-directory build/tinyvmm build/e2e/demo.cpio.gz
	@tests/with-kvm --interactive build/tinyvmm -kernel $(GUEST_KERNEL) \
		-initrd build/e2e/demo.cpio.gz -append "console=ttyS0 quiet" \
		-m 256M

build/e2e/bench.cpio.gz: bench/e2e-init.sh tests/e2e/mkinitramfs
	@mkdir -p $(@D)
	$(quiet) GEN $@
	$(Q)tests/e2e/mkinitramfs $@ bench/e2e-init.sh \
		$(foreach m,$(VSERIAL_MODS),$(GUEST_MODDIR)/$(m).ko=/lib/modules/$(notdir $(m)).ko)

E2E_KIB ?= 32
E2E_MIB ?= 16
E2E_ROUNDS ?= 3
E2E_REPS ?= 3
# tinyvmm against QEMU -accel kvm, end to end (boot, ttyS throughput).
bench-e2e: deps
	@$(MAKE) --no-print-directory build/tinyvmm build/e2e/bench.cpio.gz \
		build/e2e-watch
	@tests/with-kvm bench/e2e $(E2E_KIB) $(E2E_MIB) $(E2E_ROUNDS) $(E2E_REPS)

build/e2e/console.cpio.gz: tests/kvm/console-init.sh tests/e2e/mkinitramfs
	@mkdir -p $(@D)
	$(quiet) GEN $@
	$(Q)tests/e2e/mkinitramfs $@ tests/kvm/console-init.sh

build/asan/kvm_%: tests/kvm/kvm_%.c build/asan/libvcon.a
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(TEST_CFLAGS) -o $@ $< build/asan/libvcon.a -pthread

# The guest's virtio drivers are the stock kernel's modules.
GUEST_MODDIR = $(patsubst /boot/vmlinuz-%,/lib/modules/%,$(GUEST_KERNEL))/kernel/drivers
VSERIAL_MODS = virtio/virtio_ring virtio/virtio virtio/virtio_pci_legacy_dev \
	virtio/virtio_pci_modern_dev virtio/virtio_pci char/virtio_console
# Debian's QEMU guest agent, with the libraries and loader ldd names.
QGA = /usr/sbin/qemu-ga
QGA_LIBS = $(shell ldd $(QGA) 2>/dev/null | \
	awk '$$2 == "=>" && $$3 ~ /^\// {print $$3} $$1 ~ /^\/.*ld-linux/ {print $$1}')
build/e2e/vserial.cpio.gz: tests/kvm/vserial-init.sh tests/e2e/mkinitramfs
	@mkdir -p $(@D)
	$(quiet) GEN $@
	$(Q)tests/e2e/mkinitramfs $@ tests/kvm/vserial-init.sh \
		$(foreach m,$(VSERIAL_MODS),$(GUEST_MODDIR)/$(m).ko=/lib/modules/$(notdir $(m)).ko) \
		$(QGA)=/usr/sbin/qemu-ga $(foreach l,$(QGA_LIBS),$(l)=$(l))

build/e2e/boot.cpio.gz: tests/kvm/boot-init.sh tests/e2e/mkinitramfs
	@mkdir -p $(@D)
	$(quiet) GEN $@
	$(Q)tests/e2e/mkinitramfs $@ tests/kvm/boot-init.sh

# ---- benchmarks: optimized, no sanitizers
build/bench/%: bench/%.c build/libvcon.a
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $(filter %.c,$^) build/libvcon.a \
		-pthread -lutil

# The floors are separate units, so their calls stay calls.
build/bench/uart_bench: bench/uart_floor.c
build/bench/chr_bench: bench/chr_floor.c

# bench/e2e's event timer
build/e2e-watch: bench/e2e_watch.c
	@mkdir -p $(@D)
	$(quiet) CC $<
	$(Q)$(CC) $(BENCH_CFLAGS) -o $@ $<

# ---- fuzzers: clang, libFuzzer
FUZZ_CFLAGS = -std=c11 -Iinclude -Itests/lib -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz.h $(LIB_SRCS)
	@mkdir -p $(@D)
	$(quiet) CLANG $<
	$(Q)$(CLANG) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

build/fuzz/fuzz_uart: tests/lib/uart_ref.c $(wildcard lib/*.h)
build/fuzz/fuzz_chr_spec: $(wildcard lib/*.h)
build/fuzz/fuzz_bzimage: $(wildcard lib/*.h) tests/lib/le_get.h
build/fuzz/fuzz_tinyvmm_options: examples/tinyvmm/options.c \
	examples/tinyvmm/options.h

fuzz: $(FUZZ_BINS)

bench: $(BENCH_BINS)
	@for b in $(BENCH_BINS); do $$b || exit 1; done

# The UART paths on libvcon and on rust-vmm's vm-superio, in one run.
# Needs cargo and Debian's librust-vm-superio-dev; not part of `make check`.
CARGO ?= cargo
build/superio/release/superio-bench: bench/superio/src/main.rs \
		bench/superio/Cargo.toml
	@CARGO=$(CARGO) tools/setup --bench-compare
	$(quiet) CARGO $@
	$(Q)CARGO_TARGET_DIR=build/superio $(CARGO) build -q --offline \
		--release --manifest-path bench/superio/Cargo.toml

bench-compare: build/bench/uart_bench build/superio/release/superio-bench
	@bench/uart_compare build/bench/uart_bench \
		build/superio/release/superio-bench

# ---- make check: everything, sanitized, stopping at the first red step
deps:
	@tools/setup --if-missing

check: deps
	@$(MAKE) --no-print-directory all $(TEST_BINS) $(BENCH_BINS) \
		build/asan/uart-qcompare $(KVM_TEST_BINS) build/e2e-watch
	@$(MAKE) --no-print-directory check-headers check-symbols \
		check-examples check-install format-check analyze
	@$(MAKE) --no-print-directory check-unit
	@$(MAKE) --no-print-directory check-conformance
	@$(MAKE) --no-print-directory check-kvm
	@$(MAKE) --no-print-directory check-fuzz
	@$(MAKE) --no-print-directory check-bench
	@echo "check: all steps passed"

# The README's example is a program: it must build, run and print, and the
# README's code must be the example's, line for line.
check-examples: build/examples/wire_uart
	@test "$$(build/examples/wire_uart)" = "hello from the guest" || \
		{ echo "check-examples: wire_uart printed the wrong thing"; exit 1; }
	@sed -n '/^```c$$/,/^```$$/p' README.md | sed '1d;$$d' > build/readme.c
	@sed -n '/-- README begin/,/-- README end/p' examples/wire_uart.c | \
		sed '1d;$$d' | diff -u - build/readme.c >/dev/null || \
		{ echo "check-examples: README's example differs from examples/wire_uart.c"; exit 1; }
	@echo "check-examples: README example builds, runs and matches examples/wire_uart.c"

# A consumer's view: install into a scratch root, build the example with
# pkg-config against the shared and the static library, run both, uninstall.
check-install: build/libvcon.a build/libvcon.so
	@rm -rf build/inst
	@$(MAKE) -s --no-print-directory install DESTDIR=$(CURDIR)/build/inst \
		PREFIX=/usr >/dev/null
	@set -e; export PKG_CONFIG_SYSROOT_DIR=$(CURDIR)/build/inst \
		PKG_CONFIG_LIBDIR=$(CURDIR)/build/inst/usr/lib/pkgconfig; \
	$(CC) -std=c11 examples/wire_uart.c $$(pkg-config --cflags --libs vcon) \
		-o build/inst/wire_shared; \
	$(CC) -std=c11 -static examples/wire_uart.c \
		$$(pkg-config --cflags --libs --static vcon) -o build/inst/wire_static; \
	test "$$(LD_LIBRARY_PATH=build/inst/usr/lib build/inst/wire_shared)" = \
		"hello from the guest"; \
	test "$$(build/inst/wire_static)" = "hello from the guest"
	@$(MAKE) -s --no-print-directory uninstall DESTDIR=$(CURDIR)/build/inst \
		PREFIX=/usr >/dev/null
	@test -z "$$(find build/inst/usr -type f)" || \
		{ echo "check-install: uninstall left files behind"; exit 1; }
	@echo "check-install: installed, found by pkg-config, linked shared and static, uninstalled"

check-unit: $(TEST_BINS) build/tsan/test_chr_stage
	@tests/run-unit $(TEST_BINS) build/tsan/test_chr_stage

# The chardev stage is lock-free: its test runs under ThreadSanitizer too.
# (GCC's TSan does not model standalone fences and says so; the stage's
# data moves by acquire/release, which it does check.)
TSAN_NOWARN := $(shell $(CC) -Werror -Wno-tsan -E -x c /dev/null \
	>/dev/null 2>&1 && echo -Wno-tsan)
build/tsan/test_chr_stage: tests/unit/test_chr_stage.c $(TESTUTIL_SRCS) \
		$(LIB_SRCS) $(wildcard lib/*.h include/vcon/*.h tests/lib/*.h)
	@mkdir -p $(@D)
	$(quiet) LD $@
	$(Q)$(CC) -std=c11 -Iinclude $(WARNINGS) -Wno-conversion -O1 -g \
		-Itests/lib $(TSAN_NOWARN) -fsanitize=thread -o $@ \
		tests/unit/test_chr_stage.c $(TESTUTIL_SRCS) $(LIB_SRCS) \
		-lcmocka -pthread -lutil

check-headers:
	@set -e; for h in $(PUBLIC_HEADERS); do \
		inc=$${h#include/}; \
		printf '#include <%s>\n' "$$inc" | $(CC) -std=c11 -pedantic \
			-Wall -Wextra -Werror -Iinclude -x c -fsyntax-only - \
			|| { echo "check-headers: $$h fails alone as C11"; exit 1; }; \
		printf '#include <%s>\n' "$$inc" | $(CXX) -std=c++11 -pedantic \
			-Wall -Wextra -Werror -Iinclude -x c++ -fsyntax-only - \
			|| { echo "check-headers: $$h fails alone as C++"; exit 1; }; \
	done; echo "check-headers: $(words $(PUBLIC_HEADERS)) headers compile alone as C11 and C++"

check-symbols: build/libvcon.so
	@bad=$$(nm -D --defined-only build/libvcon.so | awk '{print $$3}' | \
		grep -v '^vcon_' | grep -v '^VCON_0$$'); \
	if [ -n "$$bad" ]; then echo "check-symbols: exported non-vcon_ symbols:"; \
		echo "$$bad"; exit 1; fi; \
	echo "check-symbols: only vcon_* exported ($$(nm -D --defined-only build/libvcon.so | grep -c ' T vcon_') functions)"

check-conformance: build/uart-qtest build/asan/uart-qcompare
	@build/asan/uart-qcompare --qemu qemu-system-x86_64 \
		--model build/uart-qtest --sequences 3000 --seed 1 \
		--doc docs/uart-vs-qemu.md
	@build/uart-qtest < tests/conformance/libvcon-only.qtest | \
		diff -u tests/conformance/libvcon-only.expected - && \
		echo "conformance: libvcon-only commands (RX, timeout, break, back-pressure) match tests/conformance/libvcon-only.expected"

check-kvm: $(KVM_TEST_BINS) build/e2e/boot.cpio.gz build/asan/tinyvmm \
		build/e2e/console.cpio.gz build/e2e/vserial.cpio.gz \
		build/qga-client
	@VCON_KVM_TIMEOUT=$${VCON_KVM_TIMEOUT:-120} tests/with-kvm build/asan/kvm_smoke
	@VCON_KVM_TIMEOUT=$${VCON_KVM_TIMEOUT:-330} tests/with-kvm build/asan/kvm_boot_linux $(GUEST_KERNEL) \
		build/e2e/boot.cpio.gz
	@VCON_KVM_TIMEOUT=$${VCON_KVM_TIMEOUT:-900} tests/with-kvm \
		build/asan/tinyvmm_console build/asan/tinyvmm \
		$(GUEST_KERNEL) build/e2e/console.cpio.gz \
		interactive,quit,ports,poweroff,panic,restart,four
	@# bulk in an L1 of its own: it faults in a long-lived one
	@# (docs/testing-kvm.md)
	@VCON_KVM_TIMEOUT=$${VCON_KVM_TIMEOUT:-600} tests/with-kvm \
		build/asan/tinyvmm_console build/asan/tinyvmm \
		$(GUEST_KERNEL) build/e2e/console.cpio.gz bulk
	@tests/with-kvm build/asan/tinyvmm_vserial build/asan/tinyvmm \
		$(GUEST_KERNEL) build/e2e/vserial.cpio.gz build/qga-client

check-fuzz: $(FUZZ_BINS)
	@set -e; for f in $(FUZZ_BINS); do \
		echo "check-fuzz: $$f for $(FUZZ_SECONDS)s"; \
		$$f -max_total_time=$(FUZZ_SECONDS) -print_final_stats=0 \
			-artifact_prefix=build/fuzz/ \
			2>build/fuzz/$$(basename $$f).log || \
			{ tail -40 build/fuzz/$$(basename $$f).log; exit 1; }; \
		grep -E '^(#[0-9]+|Done)' build/fuzz/$$(basename $$f).log | tail -1; \
	done

check-bench: $(BENCH_BINS)
	@set -e; for b in $(BENCH_BINS); do $$b --smoke; done
	@build/e2e-watch -t 5 Makefile 'check-bench:' >/dev/null && \
		build/e2e-watch -t 5 -s 100 Makefile >/dev/null && \
		! build/e2e-watch -t 0 -s 1 build/no-such-file && \
		! build/e2e-watch -p 999999999 COPYING 'no such text' && \
		echo "e2e-watch: finds text and sizes, gives up on timeout and a gone PID"

# ---- install
install: build/libvcon.a build/libvcon.so
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/vcon
	install -m 644 include/vcon.h $(DESTDIR)$(INCLUDEDIR)/vcon.h
	install -m 644 $(filter include/vcon/%,$(PUBLIC_HEADERS)) \
		$(DESTDIR)$(INCLUDEDIR)/vcon/
	install -m 644 build/libvcon.a $(DESTDIR)$(LIBDIR)/libvcon.a
	install -m 755 build/libvcon.so.$(VERSION) $(DESTDIR)$(LIBDIR)/
	ln -sf libvcon.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libvcon.so
	$(GEN_PC) > $(DESTDIR)$(LIBDIR)/pkgconfig/vcon.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/vcon.pc

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/vcon.h $(DESTDIR)$(LIBDIR)/libvcon.a \
		$(DESTDIR)$(LIBDIR)/libvcon.so $(DESTDIR)$(LIBDIR)/$(SONAME) \
		$(DESTDIR)$(LIBDIR)/libvcon.so.$(VERSION) \
		$(DESTDIR)$(LIBDIR)/pkgconfig/vcon.pc
	rm -rf $(DESTDIR)$(INCLUDEDIR)/vcon

format-check:
	@clang-format --dry-run --Werror $(LIB_SRCS) $(filter-out \
		include/vcon.h,$(PUBLIC_HEADERS)) lib/*.h
	@echo "format-check: lib/ and include/vcon/ are as clang-format lays them out"

# clang's static analyzer over the library and the programs built from
# this tree, one file at a time; any finding fails. The code is kept free
# of findings rather than carrying a list of ignored ones.
ANALYZE_SRCS := $(LIB_SRCS) examples/tinyvmm/main.c \
	examples/tinyvmm/options.c examples/tinyvmm/monitor.c \
	examples/qga-client/main.c examples/wire_uart.c \
	$(BENCHES:%=bench/%.c) bench/chr_floor.c bench/uart_floor.c \
	bench/e2e_watch.c $(KVM_TESTS:%=tests/kvm/%.c) tests/kvm/vmm_driver.c

analyze: $(ANALYZE_SRCS:%.c=build/analyze/%.ok)
	@echo "analyze: clang --analyze found nothing in $(words $(ANALYZE_SRCS)) files"

build/analyze/%.ok: %.c
	$(quiet) ANALYZE $<
	@mkdir -p $(@D)
	$(Q)$(CLANG) --analyze -Xclang -analyzer-werror \
		-Xanalyzer -analyzer-output=text -std=c11 -Iinclude -Ilib \
		-Itests/lib -MD -MP -MT $@ -MF $(@:.ok=.d) $< -o /dev/null
	@touch $@

clean:
	rm -rf build

.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
