/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where a virtio-net device's frames go: a small interface between the device (src/virtio/net.c)
 * and its backend. Two kinds of backend fit it:
 *
 *  - direct (a tap, src/tap.c): the backend hands the device one fd per queue pair (ops->fd) that
 *    speaks the device's own wire format, a 12-byte virtio-net header then the frame; the device
 *    reads and writes it with io_uring straight between the fd and guest buffers (no copy), and
 *    polls it for "readable". The backend honours the header's checksum and segmentation offloads.
 *
 *  - copying (a unix stream socket, src/net_stream.c; libslirp next): ops->fd returns -1 and the
 *    backend moves plain Ethernet frames itself on the I/O thread. The device takes received
 *    frames out of the backend's buffer (rx_peek / rx_consume: a pointer into host memory that the
 *    device copies into the guest's receive buffers behind a zero header), and hands frames to
 *    send with tx_write (gathered from guest buffers, the virtio-net header skipped, copied into
 *    the backend's bounded buffer at once, so the chain completes at once). tx_room says whether
 *    a frame of the largest size still fits: when it does not, the device stops taking transmit
 *    chains until the backend's wake hook says room came back (backpressure, never an unbounded
 *    buffer). The backend calls wake when frames arrived or room came back, and link when its peer
 *    went away (the device clears VIRTIO_NET_S_LINK_UP and interrupts the guest).
 *
 * offloads: the VIRTIO_NET_F_* offload bits (CSUM, GUEST_CSUM, HOST_/GUEST_TSO4/TSO6/ECN) the
 * backend can honour; the device offers only those. A copying backend carries plain frames, so its
 * guest segments itself; of the checksum bits it may offer
 *  - CSUM: tx_write reads the virtio-net header in its skip bytes and completes a NEEDS_CSUM
 *    checksum itself (a header out of the frame, or asking for GSO: -EINVAL, the frame dropped);
 *  - GUEST_CSUM: every frame it hands over carries correct checksums, checked or made by the
 *    backend (a network stack in the process), so the device marks each DATA_VALID when the
 *    driver took GUEST_CSUM and the guest checks none again.
 * MRG_RXBUF is the device's own business (it writes num_buffers), so every backend gets it.
 *
 * mtu: the MTU the device advises the guest (VIRTIO_NET_F_MTU, which Linux takes as eth0's MTU);
 * 0 offers none (the guest picks 1500). A backend sets it when its peer takes larger frames than
 * 1514 bytes and gains from them: libslirp at 65520 moves a TCP segment of up to 32 KiB per frame.
 *
 * Every op runs on the I/O thread, except create/close as their comments say.
 */
#ifndef VMM_NET_BACKEND_H
#define VMM_NET_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct event_loop;
struct net_backend;

/* What the device gives a copying backend at start(); called on the I/O thread. */
struct net_backend_hooks {
	void (*wake)(void *opaque);          /* frames to take, or transmit room came back */
	void (*link)(void *opaque, bool up); /* the peer came or went */
	void *opaque;
};

struct net_backend_ops {
	/* Direct: pair's fd (pair < nqueues), O_NONBLOCK; -1: a copying backend. */
	int (*fd)(struct net_backend *b, unsigned pair);
	/* Direct: TUN_F_* offloads the driver can receive. 0 or -errno. NULL: nothing to set. */
	int (*set_offload)(struct net_backend *b, unsigned tun_flags);

	/* Copying only (NULL for a direct backend). */
	/* The device became active (again): start (or resume) the backend's I/O. 0 or -errno. */
	int (*start)(struct net_backend *b, struct event_loop *loop, const struct net_backend_hooks *h);
	/* The device was reset: stop I/O that waits on the peer (cancelled; may complete later). */
	void (*stop)(struct net_backend *b);
	/* The next complete received frame: its length and *data, valid until rx_consume; 0: none. */
	size_t (*rx_peek)(struct net_backend *b, const uint8_t **data);
	/* Done with the frame rx_peek returned (delivered or dropped). */
	void (*rx_consume)(struct net_backend *b);
	/* Does a frame of the largest size (65549 bytes) fit for sending now? */
	bool (*tx_room)(struct net_backend *b);
	/*
	 * Send the frame in iov[0..niov) minus its first skip bytes (the virtio-net header). 0 queued;
	 * -ENOBUFS no room (tx_room said false); -EMSGSIZE too long or empty; -EINVAL a header the
	 * backend cannot honour (with CSUM offered, see above); -ENOTCONN the link is down (the frame
	 * is dropped).
	 */
	int (*tx_write)(struct net_backend *b, const struct iovec *iov, unsigned niov, size_t skip);
	/* Is the link up (the peer there)? */
	bool (*link_up)(struct net_backend *b);
	/* Guest memory in flight: none for a copying backend (it copies synchronously). */

	/*
	 * Free everything; the device calls it from its destroy(), after stop(). I/O still in flight
	 * (cancelled) finishes on the I/O thread and the last completion frees the backend.
	 */
	void (*close)(struct net_backend *b);
};

struct net_backend {
	const struct net_backend_ops *ops;
	char name[128];     /* for messages: the tap's name, "stream PATH" */
	unsigned nqueues;   /* queue pairs it can serve (multi-queue: only a tap) */
	uint64_t offloads;  /* VIRTIO_NET_F_* offload bits it honours (see above) */
	uint16_t mtu;       /* advised to the guest (see above); 0: none */
};

static inline bool net_backend_direct(const struct net_backend *b)
{
	return b->ops->start == NULL;
}

/* ops->fd of every copying backend: there is no fd the device could use. */
static inline int net_backend_no_fd(struct net_backend *b, unsigned pair)
{
	(void)b, (void)pair;
	return -1;
}

#endif
