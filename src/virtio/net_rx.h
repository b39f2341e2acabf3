/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-net receive buffers, pure logic (no I/O): the RX chains the device popped wait here in
 * ring order; net_rx_prepare() lays the first of them out as the iovec list of one tap read
 * (the 12-byte struct virtio_net_hdr_mrg_rxbuf first, then the frame), and net_rx_complete()
 * turns the read's byte count into used-ring entries and the header's num_buffers.
 *
 * With VIRTIO_NET_F_MRG_RXBUF a frame may span several chains (virtio 1.2 section 5.1.6.4): a
 * read gets as many chains, in order, as cover the largest frame the tap may hand over, never
 * more (fewer when fewer are stashed: then the device reads into a buffer of its own instead, as
 * a tap silently cuts a frame to the room it is given; src/virtio/net.c). Without it a frame takes
 * one chain, whatever its size: a chain smaller than the largest frame still takes the frames that
 * fit (the spec only says the driver SHOULD offer more). Nothing is ever written past the buffers
 * the guest gave. Chains not consumed by a read stay, in order, for the next one.
 */
#ifndef VMM_VIRTIO_NET_RX_H
#define VMM_VIRTIO_NET_RX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define NET_RX_HDR_LEN 12                       /* struct virtio_net_hdr_mrg_rxbuf */
#define NET_RX_MAX_GSO (65550 + NET_RX_HDR_LEN) /* with GUEST_TSO4/TSO6/UFO (5.1.6.3.1) */
#define NET_RX_MAX_PLAIN (1514 + 4 + NET_RX_HDR_LEN) /* Ethernet + one VLAN tag */
#define NET_RX_CHAIN_IOV 32                     /* buffers per chain; a longer chain is bad */
#define NET_RX_MAX_CHAINS 64                    /* chains per frame (num_buffers) */
#define NET_RX_READ_IOV 128                     /* iovecs per read (<= IOV_MAX) */

struct net_rx_chain {
	uint16_t head;
	uint16_t niov;
	uint32_t len; /* writable bytes in total, saturated at UINT32_MAX */
	struct iovec iov[NET_RX_CHAIN_IOV];
};

/* One used-ring entry. */
struct net_rx_used {
	uint16_t head;
	uint32_t len;
};

struct net_rx {
	bool mrg;         /* MRG_RXBUF negotiated */
	bool keep_flags;  /* GUEST_CSUM negotiated: the tap's header flags pass; else they read 0 */
	uint32_t max_len; /* the largest read: header + frame */
	/* The stash: a ring of cap slots, count chains from first on. */
	struct net_rx_chain *c;
	unsigned cap, first, count;
	/* The read laid out by net_rx_prepare(): the first nchains chains, room bytes in iov[0..niov). */
	struct iovec iov[NET_RX_READ_IOV];
	unsigned niov, nchains;
	uint32_t room;
};

/*
 * Start empty over cap slots (the caller's; cap >= 1, e.g. the queue size: a driver cannot have
 * more chains outstanding). gso: GUEST_TSO4, GUEST_TSO6 or GUEST_UFO negotiated.
 */
void net_rx_init(struct net_rx *rx, struct net_rx_chain *slots, unsigned cap, bool mrg, bool guest_csum, bool gso);

/* Is there no slot left? (Check before popping a chain: net_rx_add() would refuse it.) */
bool net_rx_full(const struct net_rx *rx);

/*
 * Stash a popped chain: iov[0..nout) readable, iov[nout..niov) writable. 0, or -EINVAL when it
 * is no RX chain (a readable buffer, more than NET_RX_CHAIN_IOV writable ones, fewer than
 * NET_RX_HDR_LEN bytes in all): the caller completes it with length 0. -ENOSPC when full
 * (nothing stored). Zero-length buffers are dropped.
 */
int net_rx_add(struct net_rx *rx, uint16_t head, const struct iovec *iov, unsigned niov, unsigned nout);

/*
 * Lay out the next read over the stashed chains (rx->iov, rx->niov, rx->room). Returns niov; 0
 * when nothing is stashed. Call again after net_rx_add() to cover the new chains too.
 */
unsigned net_rx_prepare(struct net_rx *rx);
/* The same for one read of at most limit bytes (a frame of known length), rx->max_len aside. */
unsigned net_rx_prepare_for(struct net_rx *rx, uint32_t limit);

/*
 * The read prepared last returned n bytes. On a frame (NET_RX_HDR_LEN <= n <= room): writes
 * num_buffers (and clears the flags without keep_flags) into the header in guest memory, takes
 * the consumed chains off the stash and returns how many, with their used entries in used[]
 * (NET_RX_MAX_CHAINS slots). 0: the frame is dropped (too short, or longer than the room: a
 * truncated frame); the chains stay.
 */
unsigned net_rx_complete(struct net_rx *rx, size_t n, struct net_rx_used *used);

#endif
