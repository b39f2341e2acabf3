/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-net device (virtio 1.2 section 5.1) over a backend (src/net_backend.h): a tap
 * (src/tap.h) or a stream socket (src/net_stream.h). Over a tap: MAC, STATUS (link up),
 * MRG_RXBUF, checksum and segmentation offloads both ways through the tap's virtio-net header,
 * a control queue (promiscuous mode, MAC filter: accepted and acknowledged), and multiqueue (one
 * tap queue per RX/TX pair). The data path runs on the I/O thread's io_uring: RX reads from the
 * tap straight into guest buffers as soon as the guest offers them, TX writes gather guest
 * buffers; nothing the guest handed us is dropped for lack of room on our side.
 */
#ifndef VMM_VIRTIO_NET_H
#define VMM_VIRTIO_NET_H

#include <stdint.h>

#include "log.h"
#include "tap.h"
#include "virtio/device.h"

#define VIRTIO_NET_QUEUE_SIZE 256

struct virtio_net_opts {
	/* Exactly one of tap and backend (src/net_backend.h); the device owns it from a successful create. */
	struct tap *tap;      /* the device owns it from a successful create: destroy closes it */
	struct net_backend *backend; /* e.g. net_stream_open(): one queue pair; destroy closes it */
	uint8_t mac[6];
	unsigned queue_pairs; /* 1..tap->nqueues; 0: 1. Pair i uses tap->fd[i]. */
	/*
	 * With a tap: the host kernel moves the frames (vhost-net, src/vhost_net.h) whenever the
	 * driver's features allow; where /dev/vhost-net cannot be opened, one warning and our own path.
	 */
	bool vhost;
};

/*
 * A device over o->tap or o->backend. 0, or -EINVAL (no backend, more pairs than it has queues) / -ENOMEM with a
 * message through log; on failure the caller still owns (and closes) the tap or backend.
 *
 * Queues: rx0, tx0, rx1, tx1, ..., then the control queue: num_queues() is 2 * queue_pairs + 1.
 * A driver that does not negotiate MQ uses rx0, tx0 and the control queue at index 2.
 *
 * Teardown: reset() before event_loop_stop(): a tap read waits for a frame that may never come,
 * so reset() cancels it (the loop's stop waits for every SQE in flight). destroy() (after reset,
 * loop stopped or not) closes the tap.
 */
int virtio_net_create(const struct virtio_net_opts *o, const struct vlog *log, void **dev_out);
extern const struct virtio_device_ops virtio_net_ops;

#endif
