// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_net: virtio-net under a hostile driver, in one of two modes (the first input byte's bit 0).
 *
 * Mode 0, receive buffers (src/virtio/net_rx.c), deterministic: chains popped from the receive
 * queue are stashed as net.c's rx_take() does, tap reads are laid out over them (net_rx_prepare)
 * and a frame of the input's length is "read" into that layout as readv() would, then merged
 * (net_rx_complete: num_buffers, flags, used entries) and published (virtq_fill/flush).
 *
 * Mode 1, the whole device (src/virtio/net.c) over a fake tap: a SOCK_SEQPACKET socketpair per
 * queue pair (frame boundaries kept, as a tap's), the I/O thread's io_uring driven on the fuzzing
 * thread (fuzz_loop.h): RX polls and reads straight into guest buffers, TX chains checked (header,
 * lengths, writable buffers) and written from guest RAM, the control queue (RX modes, MAC table and
 * address, MQ pair changes that cancel reads), multiqueue, resets with reads in flight. What the
 * kernel and io_uring do with the socket is real, so this mode's runs are not bit-for-bit
 * repeatable: timing can differ between runs.
 *
 * Input, mode 0: u8 cfg (bit 1 MRG_RXBUF, bit 2 GUEST_CSUM, bit 3 GSO, bit 4 EVENT_IDX, bits 5-7
 * queue size 2^(n+1)), then u8 op (mod 3): 0 a driver round (fuzz_vq.h), 1 stash up to u8 chains,
 * 2 a frame: u16 length (the tap's read returns min(length, room)), its first bytes from the input.
 * Input, mode 1: u8 cfg (bit 1 two queue pairs, bit 2 EVENT_IDX, bits 3-7 dropped features: MQ,
 * MRG_RXBUF, GUEST_CSUM, CTRL_VQ, CTRL_RX), u8 queue size 2^n, then u8 op (mod 8): 0 a driver round
 * on queue u8 (mod the count), 1 notify queue u8, 2 the host sends a frame on pair u8 (u16 length,
 * bytes), 3 a loop turn, 4 the host reads what the device transmitted, 5 reset and activate again,
 * 6 read the configuration (u8 offset, u8 length), 7 a loop turn that waits for a completion when
 * one is in flight.
 * Checked beyond the sanitizers: mode 0: a read's layout lies in guest RAM within the room and
 * the largest frame, a merged frame's used lengths add up to what was read, chains leave the stash
 * in order; mode 1: interrupts name existing queues, frames on the tap carry a header and at most
 * the largest frame, the device comes to rest after a reset (no read or write left in flight).
 */
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_loop.h"
#include "fuzz_vq.h"
#include "tap.h"
#include "virtio/net.h"
#include "virtio/net_rx.h"

#define MAX_PAIRS 2
#define FRAME_MAX (NET_RX_MAX_GSO + 64)

/* --- Mode 0: net_rx.c ---------------------------------------------------------------------- */

struct rx_state {
	struct fvq_driver d;
	struct virtq vq;
	struct net_rx rx;
	struct net_rx_chain slots[FVQ_MAX_SIZE];
	uint16_t seen_used;
};

/* rx_take() of net.c: one chain into the stash, or completed empty when it is no RX chain. */
static int rx_take(struct rx_state *s)
{
	struct iovec iov[NET_RX_CHAIN_IOV];
	struct virtq_chain c;
	int ret;

	if (net_rx_full(&s->rx))
		return -1;
	ret = virtq_pop(&s->vq, &c, iov, NET_RX_CHAIN_IOV);
	if (ret <= 0)
		return ret < 0 ? -1 : 0;
	if (c.bad || net_rx_add(&s->rx, c.head, iov, c.niov, c.nout) < 0)
		virtq_push(&s->vq, c.head, 0);
	return 1;
}

/* A tap read of a frame of n bytes (the first of them from the input) into the prepared layout. */
static void rx_frame(struct rx_state *s, struct fz *f)
{
	struct net_rx_used used[NET_RX_MAX_CHAINS];
	size_t frame = fz_u16(f) % (NET_RX_MAX_GSO + 16), got, n, left;
	const uint8_t *bytes = fz_take(f, frame < 64 ? frame : 64, &got);
	uint16_t first_head;
	bool truncated;
	uint64_t sum = 0;
	unsigned niov = net_rx_prepare(&s->rx), k;

	if (!niov)
		return;
	FUZZ_CHECK(niov <= NET_RX_READ_IOV && s->rx.room <= s->rx.max_len && s->rx.nchains <= s->rx.count);
	for (unsigned i = 0; i < niov; i++) {
		sum += s->rx.iov[i].iov_len;
		FUZZ_CHECK(fuzz_ram_holds(&s->d.ram, s->rx.iov[i].iov_base, s->rx.iov[i].iov_len));
	}
	FUZZ_CHECK(sum == s->rx.room);
	/* readv(): as much of the frame as the room takes (a tap truncates a longer one). */
	n = frame < s->rx.room ? frame : s->rx.room;
	left = n;
	for (unsigned i = 0; i < niov && left; i++) {
		size_t k2 = s->rx.iov[i].iov_len < left ? s->rx.iov[i].iov_len : left, off = n - left;

		for (size_t j = 0; j < k2; j++)
			((uint8_t *)s->rx.iov[i].iov_base)[j] = off + j < got ? bytes[off + j] : (uint8_t)(off + j);
		left -= k2;
	}
	first_head = s->rx.c[s->rx.first].head;
	truncated = frame > s->rx.room;
	/* A tap's read returns the frame's length even when it did not fit: that is how a truncation shows. */
	k = net_rx_complete(&s->rx, truncated ? frame : n, used);
	if (truncated || n < NET_RX_HDR_LEN) {
		FUZZ_CHECK(k == 0); /* truncated or too short: dropped, the chains stay */
		return;
	}
	FUZZ_CHECK(k >= 1 && k <= NET_RX_MAX_CHAINS && (s->rx.mrg || k == 1));
	FUZZ_CHECK(used[0].head == first_head);
	sum = 0;
	for (unsigned i = 0; i < k; i++) {
		FUZZ_CHECK(used[i].len > 0);
		sum += used[i].len;
		virtq_fill(&s->vq, i, used[i].head, used[i].len);
	}
	FUZZ_CHECK(sum == n);
	virtq_flush(&s->vq, k);
}

static void rx_mode(struct fz *f)
{
	static struct rx_state s;
	uint8_t cfg = fz_u8(f);

	memset(&s, 0, sizeof(s));
	if (fvq_ram_init(&s.d))
		return;
	FUZZ_CHECK(fvq_init(&s.d, 0, fvq_size((cfg >> 5) + 1), cfg & 0x10, &s.vq) == 0);
	net_rx_init(&s.rx, s.slots, s.vq.size, cfg & 2, cfg & 4, cfg & 8);
	while (fz_left(f)) {
		switch (fz_u8(f) % 3) {
		case 0:
			fvq_round(&s.d, 0, f);
			break;
		case 1:
			for (unsigned n = fz_u8(f); n && rx_take(&s) == 1; n--)
				;
			break;
		default:
			rx_frame(&s, f);
			break;
		}
		fvq_check_used(&s.d, 0, &s.seen_used);
	}
	fvq_ram_free(&s.d);
}

/* --- Mode 1: net.c over a socketpair tap --------------------------------------------------- */

struct dev_state {
	struct fvq_driver d;
	struct virtq vq[2 * MAX_PAIRS + 1];
	unsigned pairs, nvq;
	uint8_t qsize;
	bool event_idx;
	int peer[MAX_PAIRS];
	void *dev;
	struct virtio_ctx ctx;
	bool active;
	uint8_t frame[FRAME_MAX];
};

static void irq(void *opaque, unsigned q)
{
	struct dev_state *s = opaque;

	FUZZ_CHECK(q < s->nvq);
}

static void needs_reset(void *opaque)
{
	(void)opaque;
}

static void activate(struct dev_state *s)
{
	for (unsigned q = 0; q < s->nvq; q++) {
		memset(&s->vq[q], 0, sizeof(s->vq[q]));
		FUZZ_CHECK(fvq_init(&s->d, q, fvq_size(s->qsize), s->event_idx, &s->vq[q]) == 0);
	}
	FUZZ_CHECK(virtio_net_ops.activate(s->dev, &s->ctx) == 0);
	s->active = true;
	for (unsigned q = 0; q < s->nvq; q++)
		virtio_net_ops.notify(s->dev, q);
}

/* The host side of the tap: read (and check) every frame the device wrote. */
static void drain(struct dev_state *s)
{
	for (unsigned i = 0; i < s->pairs; i++) {
		ssize_t r;

		while ((r = recv(s->peer[i], s->frame, sizeof(s->frame), MSG_DONTWAIT | MSG_TRUNC)) >= 0)
			FUZZ_CHECK(r >= NET_RX_HDR_LEN && r <= NET_RX_MAX_GSO); /* header + at most the largest frame */
	}
}

/* After a reset: every read was cancelled, every write completes once the host reads. */
static void settle(struct dev_state *s, struct event_loop *loop)
{
	int ret = 1;

	for (int i = 0; i < 1000 && ret == 1; i++) {
		drain(s);
		ret = event_loop_run_once(loop, i > 0);
	}
	FUZZ_CHECK(ret == 0);
}

static void dev_mode(struct fz *f)
{
	static struct dev_state s;
	struct event_loop *loop = fuzz_loop();
	uint8_t cfg = fz_u8(f);
	struct virtio_net_opts o = { .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
	uint64_t drop = 0;
	struct tap *tap;
	int sv[2];

	memset(&s, 0, sizeof(s));
	s.pairs = cfg & 2 ? 2 : 1;
	s.event_idx = cfg & 4;
	s.qsize = fz_u8(f) % 9;
	for (unsigned i = 0; i < MAX_PAIRS; i++)
		s.peer[i] = -1;
	if (fvq_ram_init(&s.d))
		return;
	tap = calloc(1, sizeof(*tap)); /* tap_close() (in destroy) closes its fds and frees it */
	FUZZ_CHECK(tap);
	snprintf(tap->name, sizeof(tap->name), "fuzztap0");
	for (unsigned i = 0; i < s.pairs; i++) {
		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		tap->fd[i] = sv[0];
		s.peer[i] = sv[1];
	}
	tap->nqueues = s.pairs;
	o.tap = tap;
	o.queue_pairs = s.pairs;
	FUZZ_CHECK(virtio_net_create(&o, &fuzz_log, &s.dev) == 0);
	s.nvq = virtio_net_ops.num_queues(s.dev);
	FUZZ_CHECK(s.nvq <= FVQ_MAX_QUEUES);
	if (cfg & 0x08)
		drop |= 1ull << VIRTIO_NET_F_MQ;
	if (cfg & 0x10)
		drop |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (cfg & 0x20)
		drop |= 1ull << VIRTIO_NET_F_GUEST_CSUM;
	if (cfg & 0x40)
		drop |= 1ull << VIRTIO_NET_F_CTRL_VQ;
	if (cfg & 0x80)
		drop |= 1ull << VIRTIO_NET_F_CTRL_RX;
	s.ctx = (struct virtio_ctx){ .mem = &s.d.ram.m, .loop = loop, .vq = s.vq, .nvq = s.nvq, .interrupt = irq,
				     .needs_reset = needs_reset, .config_changed = needs_reset, .irq_opaque = &s };
	s.ctx.features = (virtio_net_ops.features(s.dev) & ~drop) | 1ull << VIRTIO_F_VERSION_1 |
			 (s.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	activate(&s);

	while (fz_left(f)) {
		uint8_t op = fz_u8(f);

		switch (op % 8) {
		case 0:
			fvq_round(&s.d, fz_u8(f) % s.nvq, f);
			break;
		case 1: {
			unsigned q = fz_u8(f) % (s.nvq + 1); /* one past the last queue too */

			if (s.active)
				virtio_net_ops.notify(s.dev, q);
			break;
		}
		case 2: {
			unsigned pair = fz_u8(f) % s.pairs;
			size_t len = fz_u16(f) % sizeof(s.frame), got;
			const uint8_t *p = fz_take(f, len < 256 ? len : 256, &got);

			memcpy(s.frame, p, got);
			memset(s.frame + got, 0x5a, len - got);
			if (send(s.peer[pair], s.frame, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0)
				break; /* the socket is full: a tap drops the frame too */
			break;
		}
		case 3:
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		case 4:
			drain(&s);
			break;
		case 5:
			if (s.active)
				virtio_net_ops.reset(s.dev);
			settle(&s, loop);
			activate(&s);
			break;
		case 6: {
			uint32_t off = fz_u8(f) % virtio_net_ops.config_size, len = fz_u8(f) % 9;
			uint8_t buf[8];

			if (len && len <= virtio_net_ops.config_size - off)
				virtio_net_ops.config_read(s.dev, off, buf, len);
			break;
		}
		default:
			drain(&s);
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		}
	}
	virtio_net_ops.reset(s.dev);
	settle(&s, loop);
	virtio_net_ops.destroy(s.dev); /* closes the tap's ends */
	fuzz_loop_settle(loop, false);
	for (unsigned i = 0; i < s.pairs; i++)
		close(s.peer[i]);
	fvq_ram_free(&s.d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	struct fz f = fz_init(data, size);

	if (!once) {
		signal(SIGPIPE, SIG_IGN); /* a write to a closed peer must fail, not kill */
		once = true;
	}
	if (size && (data[0] & 1))
		dev_mode(&f);
	else
		rx_mode(&f);
	return 0;
}
