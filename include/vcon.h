/* SPDX-License-Identifier: MIT */
/* libvcon: console devices for virtual machine monitors. */
#ifndef VCON_H
#define VCON_H

#include <vcon/bus.h>
#include <vcon/chr.h>
#include <vcon/common.h>
#include <vcon/kvm.h>
#include <vcon/loop.h>
#include <vcon/pci.h>
#include <vcon/serial.h>
#include <vcon/uart.h>
#include <vcon/virtio_serial.h>

#endif /* VCON_H */
