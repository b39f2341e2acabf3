/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-fs device (virtio 1.2 section 5.11), served by a vhost-user backend (virtiofsd):
 * queue 0 is the high-priority queue, queues 1..N the request queues; the configuration space
 * (tag, number of request queues) is ours, the queues are the backend's (vhost_user.h). No DAX
 * window (no shared-memory capability) and no notification queue.
 *
 * A backend that dies or sends garbage while the device runs: the device answers, itself, every
 * request the backend held and never completed (vhost_user_orphans()) and every request the guest
 * makes after that, each exactly once, with a FUSE reply { len 16, error -EIO, unique of the
 * request } in the chain's writable buffers (nothing written when there is no room: a FORGET),
 * and interrupts the guest; the device is in NEEDS_RESET meanwhile. A guest process reading the
 * folder then gets EIO instead of hanging. After the guest's reset the device stays down (no
 * reconnection): activation fails.
 *
 * Threads: activate/reset/notify on the I/O thread (they talk to the backend, each reply waited
 * for at most VHOST_USER_TIMEOUT_MS); config_read on vCPU threads (constant data).
 */
#ifndef VMM_VIRTIO_FS_H
#define VMM_VIRTIO_FS_H

#include "log.h"
#include "vhost_user.h"
#include "virtio/device.h"

#define VIRTIO_FS_TAG_MAX 36
#define VIRTIO_FS_MAX_REQUEST_QUEUES 8
#define VIRTIO_FS_QUEUE_SIZE 1024

struct virtio_fs_opts {
	const char *tag;  /* 1 to VIRTIO_FS_TAG_MAX bytes */
	unsigned queues;  /* request queues, 1 to VIRTIO_FS_MAX_REQUEST_QUEUES; 0: 1 */
};

/*
 * A device over vu, a connection that has done vhost_user_handshake(): the backend must offer
 * VIRTIO_F_VERSION_1, EVENT_IDX and INDIRECT_DESC (the transport offers them to the guest). On
 * success the device owns vu (destroy closes it); on failure the caller still does. 0, -EINVAL
 * (a message through log), -ENOMEM.
 */
int virtio_fs_create(const struct virtio_fs_opts *o, struct vhost_user *vu, const struct vlog *log, void **dev_out);
extern const struct virtio_device_ops virtio_fs_ops;

#endif
