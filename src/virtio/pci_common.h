/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Internal to the virtio-pci transport (virtio/pci.c and virtio/pci_common.c): its state, and the
 * common-configuration decoder with the device status machine. Lock order: see virtio/pci.h.
 */
#ifndef VMM_VIRTIO_PCI_COMMON_H
#define VMM_VIRTIO_PCI_COMMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "virtio/pci.h"


/* A guest-triggerable warning, rationed (see vlog_guest()): a guest must not flood the log. */
#define guest_warn(t, ...) vlog_guest((t)->log, &(t)->warn, "virtio-pci", __VA_ARGS__)

struct vp_queue {
	struct virtio_pci *t;
	unsigned idx;
	/* Guarded by t->lock. */
	uint16_t size, vector;
	bool enabled;
	uint64_t desc, avail, used;
	bool ioev; /* efd is registered with KVM_IOEVENTFD at t->ioev_addr */
	bool restore_irq; /* restored: the first doorbell also interrupts the guest once */
	/* Set at creation. */
	int efd;   /* the doorbell: KVM (ioeventfd) or the BAR handler writes it, the I/O thread reads it */
	int watch; /* event_loop_watch() id, -1 */
};

struct virtio_pci {
	struct pci_dev pci;
	struct msix msix;
	const struct virtio_device_ops *ops;
	void *dev;
	const struct guest_mem *mem;
	struct event_loop *loop;
	const struct vlog *log;
	void (*device_error)(void *opaque);
	void *error_opaque;
	int vm_fd;
	unsigned nq;
	uint16_t max_size;
	uint64_t offered;                        /* device features | the transport's */
	pthread_mutex_t op_lock, irq_lock, lock; /* order: see pci.h */

	/* Guarded by lock. */
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t config_vector, queue_sel;
	uint8_t status, generation;
	bool active;        /* activate() succeeded and no reset since */
	uint64_t ioev_addr; /* BAR address the doorbells are registered at; 0: none */
	uint32_t ioev_len;
	struct vp_queue q[VIRTIO_PCI_MAX_QUEUES];

	uint8_t isr; /* guarded by irq_lock */

	/* Callbacks set at creation; the rest built under op_lock at DRIVER_OK, used on the I/O thread until reset. */
	struct virtio_ctx ctx;
	struct virtq vq[VIRTIO_PCI_MAX_QUEUES];

	struct vlog_budget warn;   /* guest-triggerable warnings */
	struct vlog_budget errors; /* device_error() calls: a guest breaking queues in a loop must not flood the VM */
};

/* vCPU thread: an access to the common configuration at off (takes op_lock, then lock). */
void virtio_pci_common_io(struct virtio_pci *t, uint32_t off, void *data, uint32_t len, bool is_write);
/* Registers as after a reset; lock held or the transport not yet shared. */
void virtio_pci_common_clear(struct virtio_pci *t);
/* op_lock held, lock not: reset the device on the I/O thread (when device_too) and wait, then the transport. */
void virtio_pci_common_reset(struct virtio_pci *t, bool device_too);

/*
 * lock held: validate every enabled queue into t->vq (virtq_init(): size, alignment, rings inside
 * guest RAM) and build t->ctx: the DRIVER_OK check. false: a queue is unusable (reported).
 */
bool virtio_pci_prepare_queues(struct virtio_pci *t);
/*
 * I/O thread, t->ctx prepared: ops->activate. On failure DEVICE_NEEDS_RESET, reported, and a
 * configuration interrupt. 0 or its -errno.
 */
int virtio_pci_activate(struct virtio_pci *t);

/* From virtio/pci.c: ring queue q's doorbell (any thread): the I/O thread calls ops->notify. */
void virtio_pci_ring_doorbell(struct virtio_pci *t, unsigned q);

/* From virtio/pci.c: a configuration-change interrupt (ISR bit 1 / the config vector). Any thread, no lock held. */
void virtio_pci_config_interrupt(struct virtio_pci *t);

/* The device went to DEVICE_NEEDS_RESET: tell the VM (its device_error callback), rationed. */
void virtio_pci_device_error(struct virtio_pci *t);

#endif
