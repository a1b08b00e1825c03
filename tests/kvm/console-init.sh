#!/bin/sh
# init for tests/kvm/tinyvmm_console: what a user does at the console,
# picked by vcon.e2e= on the kernel command line.
mount -t devtmpfs dev /dev
exec </dev/console >/dev/console 2>&1
mount -t proc proc /proc
echo "LIBVCON-INIT-OK"
case "$(cat /proc/cmdline)" in
*vcon.e2e=interactive*)
	echo "READY>"
	read -r line
	echo "got:$line"
	echo "SYSRQ>"
	read -r line
	;;
*vcon.e2e=quit*)
	echo "READY>"
	sleep 600
	;;
*vcon.e2e=ports*)
	echo "hello-ttyS1" >/dev/ttyS1
	;;
*vcon.e2e=poweroff*)
	poweroff -f
	;;
*vcon.e2e=panic*)
	echo c >/proc/sysrq-trigger
	;;
esac
reboot -f
