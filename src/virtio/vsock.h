/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-vsock device (virtio 1.2 section 5.10), stream sockets only, with a "hybrid vsock" host
 * side compatible with Firecracker's and Cloud Hypervisor's: the VMM listens on a unix socket UDS;
 * a host client connects there and writes "CONNECT <port>\n", the guest's listener on that port
 * answers and the client reads "OK <hostport>\n", then the stream is the connection. A guest
 * connection to the host (CID 2) port P is made to the unix socket "<UDS>_<P>" and refused (RST)
 * when nothing listens there. Queue 0 is the rx queue (to the guest), 1 the tx queue, 2 the event
 * queue. Every socket operation runs on the I/O thread through io_uring SQEs.
 *
 * Threads: activate/reset/notify and the snapshot ops on the I/O thread; config_read on vCPU threads.
 */
#ifndef VMM_VIRTIO_VSOCK_H
#define VMM_VIRTIO_VSOCK_H

#include <stdint.h>

#include "log.h"
#include "virtio/device.h"

#define VIRTIO_VSOCK_QUEUE_SIZE 256
#define VIRTIO_VSOCK_MAX_CONNS 1024  /* connections at once, both directions together */
#define VIRTIO_VSOCK_BUF (256u << 10) /* the largest credit (buf_alloc) we give the guest per connection */
/*
 * What all connections of one device may buffer together (guest -> host credit and host -> guest
 * read-ahead, counted at their full capacity). Every connection starts small (4 KiB each way) and
 * grows while it is busy, so 1024 connections take 8 MiB at most and the other 24 MiB let about 75
 * connections run at their full window (256 KiB + 64 KiB) at once; before, a guest could make the
 * VMM hold 320 MiB (1024 x 320 KiB).
 */
#define VIRTIO_VSOCK_TOTAL_BUF (32u << 20)

struct virtio_vsock_opts {
	uint64_t guest_cid; /* 3 .. 0xfffffffe */
	const char *uds;    /* the host unix socket path (shorter than sun_path) */
};

/*
 * A device with the guest CID, listening on o->uds (a stale socket there is removed first; any other
 * kind of file there is refused with -EEXIST). 0 or -errno, with a message through log.
 */
int virtio_vsock_create(const struct virtio_vsock_opts *o, const struct vlog *log, void **dev_out);
extern const struct virtio_device_ops virtio_vsock_ops;

/* Tests: live connections of the active session (0 when inactive). On the I/O thread. */
unsigned virtio_vsock_conns(void *dev);
/* Tests: the bytes of connection buffers the device accounts now (at most VIRTIO_VSOCK_TOTAL_BUF). */
uint64_t virtio_vsock_buffered(void *dev);

#endif
