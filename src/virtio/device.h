/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What a virtio device implements (blk.c, net.c, ...) on top of the shared transport
 * (virtio/pci.c) and queue code (virtio/queue.c). A device never parses registers or rings of
 * the transport: it gets its negotiated features, its queues and a way to interrupt the guest.
 */
#ifndef VMM_VIRTIO_DEVICE_H
#define VMM_VIRTIO_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "event_loop.h"
#include "memory.h"
#include "snapshot/sbuf.h"
#include "virtio/queue.h"

/*
 * Given to the device when the driver sets DRIVER_OK. Valid until the device's reset(). The device
 * reaches the transport only through the three callbacks (never a transport type): a unit test
 * passes its own. Each callback may be called from any thread; irq_opaque is their first argument.
 */
struct virtio_ctx {
	const struct guest_mem *mem;
	struct event_loop *loop;
	uint64_t features;          /* negotiated */
	struct virtq *vq;           /* vq[0..nvq): initialised by the transport (disabled queues: size 0) */
	unsigned nvq;
	/* Interrupt the guest for queue q (its MSI-X vector, or INTx + ISR bit 0). */
	void (*interrupt)(void *irq_opaque, unsigned q);
	/* The device found its queue or request stream untrustworthy: DEVICE_NEEDS_RESET + config interrupt. */
	void (*needs_reset)(void *irq_opaque);
	/* The device configuration changed: bump config_generation and send a configuration interrupt. */
	void (*config_changed)(void *irq_opaque);
	void *irq_opaque;           /* the transport's state */
	/*
	 * Queue q's doorbell eventfd, which KVM's ioeventfd (or the BAR handler) signals. take: the
	 * transport stops reading it and returns it (a vhost-user backend reads it instead); !take:
	 * it reads it again and gives the queue one look (ops->notify). I/O thread. NULL, or -errno
	 * returned: the transport has none to give, and doorbells reach the device through notify.
	 */
	int (*doorbell)(void *irq_opaque, unsigned q, bool take);
	/*
	 * lend: efd (a backend's completion eventfd for queue q) interrupts the guest by itself, with
	 * no hop through vmm, whenever the queue's MSI-X vector is live; while the guest masks it, a
	 * count written meanwhile waits in efd and KVM delivers it when the vector is live again (the
	 * pending bit is not shown in the PBA). The device then does not read efd at all. Refused
	 * (-EAGAIN) while MSI-X is off; a driver that turns MSI-X off while the device is live gets the
	 * backend's completions once it turns it on again. !lend: take it back (before closing efd).
	 * I/O thread. NULL, or -errno: not lent; the device reads efd and relays every completion
	 * through interrupt().
	 */
	int (*lend_call)(void *irq_opaque, unsigned q, int efd, bool lend);
};

struct virtio_device_ops {
	const char *name;           /* "virtio-blk" (messages) */
	uint16_t device_id;         /* VIRTIO_ID_* */
	uint32_t pci_class;         /* PCI class code for the function */
	/* Feature bits the device offers (the transport adds VERSION_1, EVENT_IDX, INDIRECT_DESC). */
	uint64_t (*features)(void *dev);
	unsigned (*num_queues)(void *dev);
	uint16_t queue_max_size;
	size_t config_size;
	/* Device configuration space access; off + len <= config_size is checked by the transport. vCPU threads. */
	void (*config_read)(void *dev, uint32_t off, void *data, uint32_t len);
	void (*config_write)(void *dev, uint32_t off, const void *data, uint32_t len);
	/* DRIVER_OK: start serving the queues. On the I/O thread. -errno: the transport sets NEEDS_RESET. */
	int (*activate)(void *dev, const struct virtio_ctx *ctx);
	/* The driver reset the device: stop, wait for in-flight I/O, forget the queues. On the I/O thread. */
	void (*reset)(void *dev);
	/* The driver notified queue q (ioeventfd). On the I/O thread, only while active. */
	void (*notify)(void *dev, unsigned q);
	/* Free everything (after reset). On the I/O thread, or any thread once its loop has stopped. */
	void (*destroy)(void *dev);

	/*
	 * Snapshot (all three optional). inflight: on the I/O thread with the vCPUs paused, whether or
	 * not the device is active: how many requests still own guest buffers in a way save() cannot
	 * record, or have host I/O in flight into guest memory (a detached session's included). A
	 * chain the device merely holds, with nothing moving (a receive buffer waiting for a frame, a
	 * transmit chain waiting for room), is not in flight when save() records it by head. NULL: 0.
	 */
	unsigned (*inflight)(void *dev);
	/* Optional, as struct vm_device_ops' quiesce (src/device.h); called only while the device is active. */
	void (*quiesce)(void *dev, bool quiet);
	/*
	 * save: on the I/O thread, inflight() 0: append the state beyond the transport (what the guest
	 * can observe: a MAC it set, chains held by head). 0 or -errno. NULL: none.
	 * restore: called by the transport on the I/O thread (inline before the loop starts) on a
	 * device fresh from set-up, always: right after the transport re-activated it from the saved
	 * queue positions when it was live, else inactive (the record then says so, or activation
	 * failed and the device is in NEEDS_RESET: its session state is moot and skipped).
	 * Validate everything before applying anything; 0, or -EINVAL (the transport then resets the
	 * device and rolls back). The transport kicks every enabled queue afterwards. NULL: the saved
	 * state must be empty.
	 */
	int (*save)(void *dev, struct sbuf *out);
	int (*restore)(void *dev, struct sreader *in);
	/*
	 * The device logs why it calls ctx->needs_reset in a line of its own (a vhost-user backend that
	 * died), so the transport adds no "needs a reset" line: one event, one line.
	 */
	bool logs_own_reset;
};

/*
 * In a device's loop callbacks (ev_defer), its destroy() may have come while the loop still held
 * them (dying): true then, and the last of them to run (neither a nor b queued) frees dev.
 */
static inline bool virtio_dev_dying(void *dev, bool dying, const struct ev_defer *a, const struct ev_defer *b)
{
	if (!dying)
		return false;
	if (!a->queued && !b->queued)
		free(dev);
	return true;
}

#endif
