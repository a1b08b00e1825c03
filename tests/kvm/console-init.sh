#!/bin/sh
# init for tests/kvm/tinyvmm_console: what a user does at the console,
# picked by vcon.e2e= on the kernel command line.
mount -t devtmpfs dev /dev
mount -t proc proc /proc
case "$(cat /proc/cmdline)" in
*vcon.e2e=four*)
	# The kernel's console is ttyS1 (a file); the user is on ttyS0.
	exec </dev/ttyS0 >/dev/ttyS0 2>&1
	echo "LIBVCON-INIT-OK"
	echo "hello-ttyS3" >/dev/ttyS3
	echo "READY>"
	read -r line
	echo "got:$line"
	echo "hello-ttyS2" >/dev/ttyS2
	echo "PTY-WRITTEN"
	read -r line
	reboot -f
	;;
esac
exec </dev/console >/dev/console 2>&1
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
*vcon.e2e=bulk*)
	# 512 KiB of random bytes out through raw ttyS1 (COM2), then 64 KiB in
	# through raw ttyS2 (COM3, sharing IRQ 4 with the console).
	head -c 524288 /dev/urandom >/tmp/tx
	# A stall is diagnosed with magic SysRq 'l' (vmm_stalled).
	echo 1 >/proc/sys/kernel/sysrq
	echo "TXSUM $(md5sum </tmp/tx)"
	stty -F /dev/ttyS1 raw -echo
	cat /tmp/tx >/dev/ttyS1
	echo "TXDONE"
	stty -F /dev/ttyS2 raw -echo
	echo "RXREADY"
	head -c 65536 </dev/ttyS2 >/tmp/rx
	echo "RXSUM $(md5sum </tmp/rx)"
	;;
*vcon.e2e=poweroff*)
	poweroff -f
	;;
*vcon.e2e=panic*)
	echo c >/proc/sysrq-trigger
	;;
esac
reboot -f
