/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The modern virtio-pci transport (virtio 1.2 section 4.1): a PCI function whose 16 KiB 64-bit
 * memory BAR 0 holds the common configuration, the ISR, the device configuration, the queue
 * doorbells and the MSI-X table, described by vendor capabilities. It decodes the registers,
 * negotiates features, runs the device status machine and hands a device (struct
 * virtio_device_ops) its validated queues at DRIVER_OK.
 *
 * BAR 0 layout:
 *   0x0000 common configuration (struct virtio_pci_common_cfg)
 *   0x1000 ISR status (1 byte; a read clears it and deasserts INTx)
 *   0x2000 device configuration (ops->config_size bytes)
 *   0x3000 notifications: queue q's doorbell at 0x3000 + 4 * q (notify_off_multiplier 4)
 *   0x3800 MSI-X table (16 bytes per vector), 0x3c00 pending-bit array
 *
 * Threads and locks: vCPU threads run the BAR and configuration-space handlers; the I/O thread
 * runs activate, reset and notify (config_read/config_write run on vCPU threads). Right after a
 * successful activate, notify is called once for every enabled queue (doorbells rung before
 * DRIVER_OK are not lost). reset is called for every driver reset of a device whose status was
 * not 0, whether or not it had been activated. Lock order (outer first):
 *   op_lock   serialises guest register accesses (common and device configuration); held across
 *             event_loop_call(), so it is never taken on the I/O thread.
 *   lock      transport state shared with the I/O thread. Leaf: nothing is called while it is
 *             held but the KVM_IOEVENTFD ioctl. The PCI bus's cfg_lock is held around it in the
 *             bar_update hook.
 *   irq_lock  the ISR and the INTx level together; taken before the PCI bus's intx_lock.
 * The interrupt callbacks (virtio_ctx) take lock and irq_lock in turn, never together, and the
 * MSI-X lock (msix_enabled/msix_notify) with neither held: any thread may call them, including
 * the device from inside activate/reset/config_write.
 */
#ifndef VMM_VIRTIO_PCI_H
#define VMM_VIRTIO_PCI_H

#include "device.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "event_loop.h"
#include "log.h"
#include "memory.h"
#include "virtio/device.h"

#define VIRTIO_PCI_VENDOR 0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* + VIRTIO_ID_* */
#define VIRTIO_PCI_BAR 0
#define VIRTIO_PCI_BAR_SIZE 0x4000
#define VIRTIO_PCI_COMMON_OFF 0x0000
#define VIRTIO_PCI_ISR_OFF 0x1000
#define VIRTIO_PCI_DEVICE_OFF 0x2000
#define VIRTIO_PCI_NOTIFY_OFF 0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4
#define VIRTIO_PCI_MSIX_TABLE_OFF 0x3800
#define VIRTIO_PCI_MSIX_PBA_OFF 0x3c00
#define VIRTIO_PCI_MAX_QUEUES (MSIX_MAX_VECTORS - 1) /* one vector per queue + one for configuration */

struct virtio_pci;

struct virtio_pci_opts {
	const struct virtio_device_ops *ops;
	void *dev;                   /* the device's state, passed to every ops call */
	const struct guest_mem *mem;
	struct event_loop *loop;     /* runs activate/reset/notify */
	struct pci_bus *bus;         /* the function is added here */
	int vm_fd;                   /* KVM_IOEVENTFD doorbells; -1: doorbells only through the BAR handler */
	const struct msi_ops *msi_ops; /* MSI-X delivery (KVM routes + irqfds, a fake in tests) */
	void *msi_opaque;
	const struct vlog *log;
	/* Called (any thread) each time the device is put in DEVICE_NEEDS_RESET; may be NULL. */
	void (*device_error)(void *opaque);
	void *error_opaque;
};

/*
 * Build the PCI function for one device and add it to o->bus (the last step: nothing to undo on
 * the bus on failure). On success the transport owns o->dev: virtio_pci_destroy() resets it and
 * calls ops->destroy. On failure the caller still owns it. 0, -EINVAL (no queues or more than
 * VIRTIO_PCI_MAX_QUEUES, no config callbacks for a config space), -ENOMEM, -ENOSPC, -errno.
 */
int virtio_pci_create(const struct virtio_pci_opts *o, struct virtio_pci **out);
/*
 * After the vCPUs stopped (no more bus dispatch) and before the event loop is destroyed: reset an
 * active device (on the I/O thread, or inline when the loop is stopped), stop watching the
 * doorbells, unregister the ioeventfds, call ops->destroy (the same way), free. The struct
 * pci_dev was on the bus: destroy the transport only when the bus is no longer used. NULL is
 * ignored.
 */
void virtio_pci_destroy(struct virtio_pci *t);
/* The PCI function (slot, BAR address) for the VM's tables and for tests. */
struct pci_dev *virtio_pci_dev(struct virtio_pci *t);

/*
 * Snapshot (virtio/pci_snapshot.c), as one entry of the VM's device list: dev is the struct
 * virtio_pci. The record holds the device id and queue count (another device kind is refused),
 * the configuration space, MSI-X, the transport registers, each queue's registers and position,
 * and the device's own state (virtio_device_ops.save). A restore of a live device re-activates it
 * as DRIVER_OK does, from the saved queue positions; on the loop's first turn each enabled queue
 * is served once and interrupts the guest once. inflight is the device's.
 */
extern const struct vm_device_ops virtio_pci_device_ops;

#endif
