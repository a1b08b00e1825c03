#!/bin/sh
# init for bench/e2e: mark init, send vcon.kib= KiB through raw ttyS1,
# power off.
mount -t devtmpfs dev /dev
mount -t proc proc /proc
exec </dev/console >/dev/console 2>&1
echo "BENCH-INIT"
kib=$(sed -n 's/.*vcon\.kib=\([0-9]*\).*/\1/p' /proc/cmdline)
head -c $((kib * 1024)) /dev/urandom >/tmp/data
stty -F /dev/ttyS1 raw -echo
echo "BENCH-TX-START"
cat /tmp/data >/dev/ttyS1
echo "BENCH-TX-DONE"
poweroff -f
