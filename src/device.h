/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's one list of devices, as snapshot and restore see them. Every device with state the guest
 * can see (UART, RTC, i8042, PM, GED, cf9, the PCI host bridge, each virtio-pci function with its
 * MSI-X and its device) registers itself once with vm_add_device(); a snapshot saves each in list
 * order under its name, a restore hands each its bytes back. A device added later gets snapshot
 * support by filling in these operations; one that cannot be saved (a vhost-user backend) sets
 * save to a function that logs why and returns -ENOTSUP.
 */
#ifndef VMM_DEVICE_H
#define VMM_DEVICE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "snapshot/sbuf.h"

struct vm_device_ops {
	const char *kind;      /* "serial", "virtio-blk", ...: recorded; a restore checks it */
	uint32_t version;      /* of the saved layout; a restore refuses another one */
	/*
	 * The VM is paused and the device quiet (inflight() is 0); on the I/O thread. Append the state
	 * to out. 0 or -errno (the device logged why).
	 */
	int (*save)(void *dev, struct sbuf *out);
	/*
	 * The device as set-up made it (reset state, on the bus), before any vCPU runs and before the
	 * I/O thread starts. Read the state from in; leave it consistent even when in is bad. 0, or
	 * -EINVAL for state that is malformed or out of range (the caller names the device and file).
	 */
	int (*restore)(void *dev, struct sreader *in);
	/*
	 * Optional. On the I/O thread, with the vCPUs paused: how many requests of the device still
	 * own guest buffers (taken from a ring, not yet returned) or have host I/O in flight into guest
	 * memory. A snapshot waits for 0 before it saves anything.
	 */
	unsigned (*inflight)(void *dev);
	/*
	 * Optional. On the I/O thread, the vCPUs paused: quiet, before a snapshot waits for inflight():
	 * stop what moves guest memory for the device outside our threads (the host kernel's vhost-net
	 * rings), so that the state and RAM saved next agree; !quiet, once the snapshot is saved or
	 * failed: start it again.
	 */
	void (*quiesce)(void *dev, bool quiet);
};

/* For a device with no state a guest can see: save writes nothing, restore accepts only nothing. */
static inline int vm_device_save_nothing(void *dev, struct sbuf *out)
{
	(void)dev;
	(void)out;
	return 0;
}

static inline int vm_device_restore_nothing(void *dev, struct sreader *in)
{
	(void)dev;
	if (!sr_done(in)) {
		sr_fail(in);
		return -EINVAL;
	}
	return 0;
}

struct vm_device {
	struct vm_device *next;
	const struct vm_device_ops *ops;
	void *dev;
	struct event_loop *loop; /* the I/O thread its ops run on (NULL: the VM's first) */
	char name[32];         /* unique in the VM: "serial", "rtc", "pci-00:02.0", ... */
};

#endif
