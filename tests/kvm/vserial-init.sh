#!/bin/sh
# init for tests/kvm/tinyvmm_vserial: the stock kernel's virtio_console
# on tinyvmm's virtio-serial, the scenario picked by vcon.e2e= on the
# command line. The drivers are Debian's modules, loaded as udev would.
mount -t devtmpfs dev /dev
mount -t proc proc /proc
mount -t sysfs sys /sys
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev \
	virtio_pci virtio_console; do
	insmod /lib/modules/$m.ko || echo "INSMOD-FAILED $m" >/dev/ttyS0
done

# Wait until the controller has announced n ports (its control messages
# arrive after the driver's DEVICE_READY).
wait_ports() {
	i=0
	while [ "$(ls /sys/class/virtio-ports 2>/dev/null | wc -l)" -lt "$1" ] &&
		[ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
}

# The /dev node of the port called $1 (no udev here to make the
# /dev/virtio-ports/NAME link). A port appears in sysfs on PORT_ADD, but
# its name file only once PORT_NAME follows the guest's PORT_READY: wait.
port_dev() {
	i=0
	while [ $i -lt 100 ]; do
		for p in /sys/class/virtio-ports/*; do
			if [ "$(cat "$p/name" 2>/dev/null)" = "$1" ]; then
				basename "$p"
				return
			fi
		done
		sleep 0.1
		i=$((i + 1))
	done
}

case "$(cat /proc/cmdline)" in
*vcon.e2e=hvc*)
	# The kernel's console and this shell are on hvc0. Messages from
	# before the module loaded went to a console with no port yet (as
	# in QEMU); one logged now must show.
	wait_ports 1
	exec </dev/hvc0 >/dev/hvc0 2>&1
	echo "LIBVCON-INIT-OK"
	echo "<6>libvcon: kernel message via hvc0" >/dev/kmsg
	echo "READY>"
	setsid sh -c 'exec sh -i </dev/hvc0 >/dev/hvc0 2>&1'
	;;
*vcon.e2e=probe*)
	wait_ports 3
	exec </dev/ttyS0 >/dev/ttyS0 2>&1
	port_dev org.libvcon.a >/dev/null
	port_dev org.libvcon.b >/dev/null
	echo "LIBVCON-INIT-OK"
	for p in /sys/class/virtio-ports/*; do
		echo "PORT $(basename "$p") name=$(cat "$p/name" 2>/dev/null)"
	done
	echo "hello-hvc0" >/dev/hvc0
	echo "hello-port-a" >/dev/"$(port_dev org.libvcon.a)"
	# Interrupt lines by name: MSI-X gives virtio0-config and one per
	# queue; INTx a single "virtio0".
	for irq in $(grep -o 'virtio0[a-z0-9.-]*' /proc/interrupts); do
		echo "IRQ $irq"
	done
	echo "PROBE-DONE"
	;;
*vcon.e2e=bulk*)
	# 16 MiB each way through two named ports. The host disconnects
	# from port a half way, tells us on the console, and reconnects:
	# what we write meanwhile must wait for it, not vanish.
	wait_ports 2
	exec </dev/ttyS0 >/dev/ttyS0 2>&1
	echo "LIBVCON-INIT-OK"
	a=$(port_dev org.libvcon.a)
	b=$(port_dev org.libvcon.b)
	echo "PORTS a=$a b=$b"
	head -c 16777216 /dev/urandom >/tmp/tx
	echo "TXSUM $(md5sum </tmp/tx)"
	head -c 8388608 /tmp/tx >/dev/"$a"
	echo "HALF>"
	read -r line
	tail -c 8388608 /tmp/tx >/dev/"$a"
	echo "TXDONE"
	echo "RXREADY"
	echo "RXSUM $(head -c 16777216 </dev/"$b" | md5sum)"
	;;
*vcon.e2e=hotplug*)
	# The host adds a port from tinyvmm's monitor, we write to it, the
	# host removes it.
	wait_ports 1
	exec </dev/ttyS0 >/dev/ttyS0 2>&1
	echo "LIBVCON-INIT-OK"
	echo "HOTPLUG-READY>"
	read -r line
	wait_ports 2
	p=$(port_dev org.libvcon.hot)
	echo "HOT-PORT $p"
	echo "hot-data" >/dev/"$p"
	echo "HOT-WRITTEN>"
	read -r line
	i=0
	while [ -e /dev/"$p" ] && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -e /dev/"$p" ] || echo "UNPLUGGED"
	;;
*vcon.e2e=qga*)
	# Debian's qemu-ga on its usual port, as a distribution starts it.
	wait_ports 1
	exec </dev/ttyS0 >/dev/ttyS0 2>&1
	echo "LIBVCON-INIT-OK"
	port=$(port_dev org.qemu.guest_agent.0)
	mkdir -p /var/run /var/lib
	qemu-ga -m virtio-serial -p /dev/"$port" -f /tmp/qga.pid -t /tmp &
	echo "QGA-STARTED on $port"
	read -r line
	;;
esac
poweroff -f
