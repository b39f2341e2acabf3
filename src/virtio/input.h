/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-input (device 18) as a power button: one key, KEY_POWER, which the host presses. For machines
 * with no ACPI power button: an arm64 guest is described by a device tree, and Debian's arm64 kernels
 * have no gpio-keys driver (the peers' device-tree power button), but they have virtio_input; the
 * guest's input layer then reports KEY_POWER like any power button (systemd-logind or busybox acpid
 * shut down on it).
 */
#ifndef VMM_VIRTIO_INPUT_H
#define VMM_VIRTIO_INPUT_H

#include "log.h"
#include "virtio/device.h"

#define VIRTIO_INPUT_QUEUE_SIZE 64
#define VIRTIO_INPUT_NAME "vmm Power Button"
/* Presses (each a key-down, a report, a key-up, a report) kept until the driver takes them. */
#define VIRTIO_INPUT_MAX_PRESSES 4

int virtio_input_create(const struct vlog *log, void **dev_out);
/*
 * Press and release the power button. On the I/O thread (event_loop_call()). Delivered at once when
 * the driver has posted buffers, else when it does (a press before the driver is loaded is kept);
 * at most VIRTIO_INPUT_MAX_PRESSES wait, later ones are dropped with a warning.
 */
void virtio_input_press(void *dev);

extern const struct virtio_device_ops virtio_input_ops;

#endif
