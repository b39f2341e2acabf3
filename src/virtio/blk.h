/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk (virtio 1.2 section 5.2) over a raw disk (disk.h): IN/OUT straight between the
 * disk and guest buffers through the event loop's io_uring, FLUSH, GET_ID, DISCARD, WRITE_ZEROES,
 * one request state per queue (multi-queue).
 */
#ifndef VMM_VIRTIO_BLK_H
#define VMM_VIRTIO_BLK_H

#include "disk.h"
#include "log.h"
#include "virtio/device.h"

#define VIRTIO_BLK_QUEUE_SIZE 256 /* virtio_blk_ops.queue_max_size; seg_max is this - 2 */
#define VIRTIO_BLK_MAX_QUEUES 64

struct virtio_blk_config_opts {
	const char *serial;  /* GET_ID string, at most 20 bytes (VIRTIO_BLK_ID_BYTES); NULL: empty */
	unsigned num_queues; /* request queues, 1..VIRTIO_BLK_MAX_QUEUES (vm.c: the vCPU count); 0: 1 */
};

/*
 * A device serving d (borrowed: the caller closes it after virtio_blk_ops.destroy()). 0 or
 * -EINVAL (serial too long, too many queues) / -ENOMEM, with a message through log.
 */
int virtio_blk_create(struct disk *d, const struct virtio_blk_config_opts *o, const struct vlog *log,
		      void **dev_out);

extern const struct virtio_device_ops virtio_blk_ops;

#endif
