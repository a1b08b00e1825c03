#!/bin/sh
# init for `make demo`: a busybox shell on the console.
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
exec </dev/console >/dev/console 2>&1
echo
echo "libvcon demo: Debian's kernel on tinyvmm, this shell on ttyS0 (a libvcon 16550A)."
echo "Ctrl-A x quits, Ctrl-A h lists the other Ctrl-A keys; 'poweroff -f' ends it too."
setsid sh -c 'exec sh </dev/ttyS0 >/dev/ttyS0 2>&1'
poweroff -f
