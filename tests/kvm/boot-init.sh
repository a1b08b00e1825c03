#!/bin/sh
# init for tests/kvm/kvm_boot_linux: print a marker through the tty layer
# (interrupt-driven 8250 TX), then reboot.
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
echo "LIBVCON-INIT-OK 0123456789abcdefghijklmnopqrstuvwxyz"
reboot -f
