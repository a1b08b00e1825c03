#!/bin/sh
# init for bench/e2e: mark init, then either send vcon.kib= KiB through
# raw ttyS1, or (vcon.vs= MiB) move that much through two virtserialports:
# guest to host on bench.tx, host to guest on bench.rx; each transfer
# vcon.reps= times (default 1), every one between numbered marks on the
# console ("BENCH-TX-START 2." starts the second). Power off.
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
exec </dev/console >/dev/console 2>&1
echo "BENCH-INIT"
reps=$(sed -n 's/.*vcon\.reps=\([0-9]*\).*/\1/p' /proc/cmdline)
reps=${reps:-1}
mib=$(sed -n 's/.*vcon\.vs=\([0-9]*\).*/\1/p' /proc/cmdline)
if [ -n "$mib" ]; then
	for m in virtio_ring virtio virtio_pci_legacy_dev \
		virtio_pci_modern_dev virtio_pci virtio_console; do
		insmod /lib/modules/$m.ko
	done
	i=0
	while [ "$(ls /sys/class/virtio-ports 2>/dev/null | wc -l)" -lt 2 ] &&
		[ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	# Each name file appears only when PORT_NAME arrives, after the port.
	tx="" rx=""
	while [ -z "$tx" ] || [ -z "$rx" ] && [ $i -lt 200 ]; do
		for p in /sys/class/virtio-ports/*; do
			case "$(cat "$p/name" 2>/dev/null)" in
			bench.tx) tx=$(basename "$p") ;;
			bench.rx) rx=$(basename "$p") ;;
			esac
		done
		[ -n "$tx" ] && [ -n "$rx" ] || sleep 0.1
		i=$((i + 1))
	done
	head -c $((mib * 1048576)) /dev/urandom >/tmp/data
	r=1
	while [ $r -le "$reps" ]; do
		echo "BENCH-VS-TX-START $r."
		cat /tmp/data >/dev/"$tx"
		r=$((r + 1))
	done
	echo "BENCH-VS-TX-DONE"
	# The host sends each round only after it has seen READY.
	r=1
	while [ $r -le "$reps" ]; do
		echo "BENCH-VS-RX-READY $r."
		head -c $((mib * 1048576)) </dev/"$rx" >/dev/null
		echo "BENCH-VS-RX-DONE $r."
		r=$((r + 1))
	done
	poweroff -f
fi
kib=$(sed -n 's/.*vcon\.kib=\([0-9]*\).*/\1/p' /proc/cmdline)
head -c $((kib * 1024)) /dev/urandom >/tmp/data
stty -F /dev/ttyS1 raw -echo
r=1
while [ $r -le "$reps" ]; do
	echo "BENCH-TX-START $r."
	cat /tmp/data >/dev/ttyS1
	r=$((r + 1))
done
echo "BENCH-TX-DONE"
poweroff -f
