/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A virtio-net backend on a unix stream socket speaking QEMU's "stream" framing: each frame is a
 * 4-byte big-endian length, then the Ethernet frame (no virtio-net header). passt and gvproxy
 * speak it. A copying backend (src/net_backend.h): io_uring reads into a host buffer of
 * NET_STREAM_BUF bytes and sends from another, so what one NIC holds is bounded; one queue pair,
 * no offloads.
 *
 * The link goes down, and stays down (one log line), when the peer closes the connection, a read
 * or write fails, or the peer sends a length of 0 or more than NET_STREAM_MAX_FRAME; then frames
 * the guest sends are dropped. A new connection comes only with a new device (e.g. a restore).
 */
#ifndef VMM_NET_STREAM_H
#define VMM_NET_STREAM_H

#include "log.h"
#include "net_backend.h"

#define NET_STREAM_MAX_FRAME (65535 + 14) /* the largest Ethernet frame either side may send */
#define NET_STREAM_BUF (256u << 10)       /* each direction's buffer */

/*
 * Connect to the unix stream socket at path. 0, or -errno with one message through log (-EINVAL a
 * path too long for a unix socket or empty; -ENOENT, -ECONNREFUSED, -EACCES from connect).
 */
int net_stream_open(const char *path, const struct vlog *log, struct net_backend **out);
/* The same over a connected stream socket fd (tests: a socketpair); it owns fd from then on, even on failure. */
int net_stream_from_fd(int fd, const char *name, const struct vlog *log, struct net_backend **out);

#endif
