// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-net over a backend (src/net_backend.h): a tap, where io_uring reads and writes go straight
 * between the tap and guest buffers, or a copying backend (a stream socket) whose frames the
 * device copies between the backend's buffers and guest buffers.
 */
#include "virtio/net.h"

#include <endian.h>
#include <errno.h>
#include <linux/if_tun.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "net_backend.h"
#include "vhost_net.h"
#include "virtio/net_rx.h"

/*
 * Lifetimes, as in blk.c: a "session" is one activation. reset() detaches it and cancels its
 * pending tap reads (a read waits for a frame that may never come, and the loop's stop waits for
 * every SQE); whatever is still in flight completes into nothing and the last completion frees it.
 *
 * RX: per RX queue one POLL_ADD (POLLIN) or one read in flight, so frames reach the used ring in
 * the order the tap delivered them. A read never waits inside io_uring (a READV waiting in
 * io_uring's internal poll was seen to miss its ASYNC_CANCEL, leaving the loop's stop waiting for
 * a frame; io_uring waits there even on an O_NONBLOCK fd): it carries RWF_NOWAIT, so an empty tap
 * ends it at once with -EAGAIN, and what waits is always a poll, which reset() and VQ_PAIRS_SET
 * cancel reliably. After a frame the next read goes out at once, no poll first (under load the
 * tap has more); its -EAGAIN polls, so an idle tap costs one read more. A tap that refuses
 * RWF_NOWAIT (-EOPNOTSUPP) is read only after its poll said POLLIN. When the guest has
 * no buffers nothing is polled: the tap queues (and at its limit drops) frames, and the guest's
 * next RX notify resumes. Errors and end of file poll once more, then park the queue until the
 * guest's next notify on that pair: nothing ever spins.
 *
 * A tap read into buffers shorter than the frame returns the buffers' length, the frame cut short
 * and no sign of it (tun's read_iter clamps). So a read goes straight into guest buffers only
 * when the stashed chains hold a frame of the largest size; otherwise (the guest is short of
 * buffers) it goes into the pair's bounce buffer, and the frame waits there, held, until the
 * stash holds it (MRG_RXBUF: the driver adds chains) and is copied in, or is dropped with a line
 * when it never can (more chains than a frame may take, every ring entry already stashed, or no
 * MRG_RXBUF and a chain shorter than the frame). A held frame is not part of a snapshot.
 *
 * TX: each chain is one IORING_OP_WRITEV of its readable buffers (header + frame) from guest RAM,
 * up to a queue's worth in flight; a frame the tap refuses (-EIO while it is down) is dropped and
 * its chain completed all the same. While a pair's writes are in flight its TX notifications stay
 * off: the last completion looks at the ring again (and only then turns them back on), so a guest
 * adding frames meanwhile needs no kick, an exit each (as QEMU's TX bottom half does).
 *
 * Fairness: one run of a queue (RX, TX or control) takes at most its size in chains; a guest
 * re-posting chains that complete at once (malformed frames, control commands) then finds the
 * queue marked "more", notifications off, and served again from dev->later on the loop's next turn.
 *
 * A copying backend (net_backend.h: fd -1) has no fd for the device: RX copies each complete frame
 * the backend holds into the stashed chains behind a zero header (all at once, so nothing is in
 * flight into guest memory); TX copies each chain's frame into the backend's bounded buffer and
 * completes the chain at once; when the backend has no room for a frame of the largest size the
 * device stops taking TX chains until the backend's wake hook. Such a backend has one queue pair and
 * honours at most the checksum offloads (net_backend.h): CSUM when it completes partial checksums
 * itself, GUEST_CSUM when its frames come with checked checksums (the copy's header says DATA_VALID).
 *
 * No UFO either way: Linux stopped producing UFO in its virtio and tun paths (4.14) and a tap
 * cannot be told TUN_F_UFO reliably, so GUEST_UFO / HOST_UFO are not offered.
 */

#define TX_IOV 64
#define TX_MAX_LEN NET_RX_MAX_GSO
#define CTRL_IOV 16
#define CTRL_DATA 64
#define CONFIG_SIZE offsetof(struct virtio_net_config, speed)
#define CANCEL_TRIES 64

_Static_assert(sizeof(struct virtio_net_hdr_mrg_rxbuf) == NET_RX_HDR_LEN, "virtio-net header layout");
_Static_assert(TAP_VNET_HDR_LEN == NET_RX_HDR_LEN, "the tap's header is the device's");
_Static_assert(CONFIG_SIZE == 12, "virtio_net_config layout");

struct net_session;
struct net_pair;

struct tx_req {
	struct ev_req ev;
	struct net_pair *p;
	struct tx_req *next;
	uint16_t head;
	bool polling; /* waiting in a POLL_ADD for the fd to take the write */
	bool writing; /* counted in p->tx_writing */
	unsigned niov;
	struct iovec iov[TX_IOV];
};

struct net_pair {
	struct net_session *s;
	unsigned idx;
	int fd;
	bool direct; /* fd is the backend's (a tap queue); else a copying backend */
	bool vhost;  /* the kernel serves this pair (vhost_net.h): we touch neither its rings nor fd */
	/* RX */
	struct virtq *rvq;
	struct ev_req rd;     /* the read, or its POLL_ADD */
	struct ev_req cancel; /* ASYNC_CANCEL of rd */
	bool busy, polling, readable, parked, rx_stopped, rx_irq, rx_resume;
	bool rx_more; /* used up its budget: served again from dev->later */
	bool bouncing; /* the read in flight goes into bounce, not guest buffers */
	bool no_nowait; /* the fd refused RWF_NOWAIT: read only after POLLIN */
	unsigned rx_errors;
	uint8_t *bounce; /* NET_RX_MAX_GSO bytes (direct pairs) */
	uint32_t held;   /* a frame (header included) waiting in bounce for chains; 0: none */
	unsigned cancels; /* cancel retries of the read in flight */
	struct net_rx rx;
	struct net_rx_chain *slots;
	/* TX */
	struct virtq *tvq;
	bool tx_stopped, tx_irq, tx_blocked, tx_resume, tx_more;
	unsigned tx_writing; /* chains whose tap write is in flight (or waits for room) */
	unsigned tx_polling; /* of those, writes waiting in a POLL_ADD for the tap to take them */
	unsigned tx_unsignalled; /* chains completed since the last TX interrupt decision */
	struct tx_req *free, *stalled;
	struct tx_req *slab;
};

struct net_session {
	struct virtio_net *dev; /* NULL: detached, and the device destroyed */
	struct virtio_ctx ctx;
	bool resetting;
	unsigned inflight; /* SQEs in the ring */
	unsigned tx_held;  /* TX chains popped and not completed */
	struct net_session *next_draining; /* on dev->draining while resetting with SQEs in flight */
	unsigned npairs;   /* usable: max_pairs with MQ, else 1 */
	unsigned active;   /* VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET */
	bool vhost_paused; /* net_quiesce() stopped the kernel's pairs for a snapshot */
	struct virtq *ctrl;
	unsigned ctrl_idx;
	bool ctrl_more;
	struct net_pair p[];
};

struct virtio_net {
	struct net_backend *be;
	struct vhost_net *vn; /* --net tap=...,vhost=on where /dev/vhost-net opened; NULL: our own data path */
	struct net_backend_hooks hooks;
	const struct vlog *log;
	unsigned max_pairs;
	uint64_t features;
	pthread_mutex_t cfg_lock; /* cfg: vCPU reads vs MAC_ADDR_SET on the I/O thread */
	struct virtio_net_config cfg;
	struct net_session *s;
	struct net_session *draining; /* reset sessions whose reads may still write guest memory */
	struct ev_defer defer;
	struct ev_defer later; /* queues that used up their budget, on the loop's next turn */
	bool dying;            /* destroy() came while defer or later was queued: the last of them frees */
	struct vlog_budget warn; /* guest-triggerable warnings */
};

static void rx_run(struct net_pair *p);
static void tx_run(struct net_pair *p);
static void serve_more(struct net_session *s, bool *more);
static void defer(struct net_session *s);

static void guest_warn(struct virtio_net *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void guest_warn(struct virtio_net *dev, const char *fmt, ...)
{
	char msg[160], prefix[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "virtio-net '%.40s'", dev->be->name);
	vlog_guest(dev->log, &dev->warn, prefix, "%s", msg);
}

static bool has(const struct net_session *s, unsigned bit)
{
	return s->ctx.features & (1ull << bit);
}

#define CONTAINER(ptr, type, member) ((type *)(void *)((uint8_t *)(ptr) - offsetof(type, member)))

static void free_session(struct net_session *s)
{
	for (unsigned i = 0; i < s->npairs; i++) {
		free(s->p[i].slots);
		free(s->p[i].slab);
		free(s->p[i].bounce);
	}
	free(s);
}

/* Every completion of a session's SQE: false when it was detached (and maybe freed now). */
static bool session_alive(struct net_session *s)
{
	s->inflight--;
	if (!s->resetting)
		return true;
	if (s->inflight == 0) {
		if (s->dev) { /* off the device's draining list */
			struct net_session **p = &s->dev->draining;

			while (*p && *p != s)
				p = &(*p)->next_draining;
			if (*p)
				*p = s->next_draining;
		}
		free_session(s);
	}
	return false;
}

static void broken(struct net_pair *p, bool *stopped, unsigned q)
{
	guest_warn(p->s->dev, "queue %u is broken; the device needs a reset", q);
	*stopped = true;
	p->s->ctx.needs_reset(p->s->ctx.irq_opaque);
}

static void defer(struct net_session *s)
{
	event_loop_defer(s->ctx.loop, &s->dev->defer);
}

/* A queue's run used up its budget: *more until dev->later serves it on the loop's next turn. */
static void serve_more(struct net_session *s, bool *more)
{
	*more = true;
	event_loop_later(s->ctx.loop, &s->dev->later);
}

/* Cancel the pair's read (or its poll); its CQE comes back with -ECANCELED. */
static void rx_cancel(struct net_pair *p)
{
	struct io_uring_sqe *sqe;

	if (!p->busy)
		return;
	sqe = event_loop_sqe(p->s->ctx.loop, &p->cancel);
	if (!sqe)
		return; /* the ring is full: the read ends with the next frame, which is dropped */
	io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&p->rd, 0);
	p->s->inflight++;
}

static void cancel_done(struct ev_req *ev, int res)
{
	struct net_pair *p = CONTAINER(ev, struct net_pair, cancel);
	struct net_session *s = p->s;

	/*
	 * -ENOENT while the read is still ours: it was between two states (a wake-up being handled)
	 * when the cancel looked for it. Ask again, a bounded number of times.
	 */
	if (res == -ENOENT && p->busy && (s->resetting || p->idx >= s->active) && p->cancels++ < CANCEL_TRIES)
		rx_cancel(p);
	session_alive(s);
}

/* Post the pair's read (poll: a POLL_ADD for POLLIN first). */
static void rx_submit(struct net_pair *p, bool poll)
{
	struct io_uring_sqe *sqe = event_loop_sqe(p->s->ctx.loop, &p->rd);

	if (!sqe) {
		p->rx_resume = true; /* retried after the next completion */
		return;
	}
	if (poll)
		io_uring_prep_poll_add(sqe, p->fd, POLLIN);
	else if (p->bouncing)
		io_uring_prep_read(sqe, p->fd, p->bounce, NET_RX_MAX_GSO, 0);
	else if (p->rx.niov == 1)
		io_uring_prep_read(sqe, p->fd, p->rx.iov[0].iov_base, (unsigned)p->rx.iov[0].iov_len, 0);
	else
		io_uring_prep_readv(sqe, p->fd, p->rx.iov, p->rx.niov, 0);
	if (!poll && !p->no_nowait)
		sqe->rw_flags = RWF_NOWAIT;
	p->polling = poll;
	p->readable = false;
	p->busy = true;
	p->cancels = 0;
	p->s->inflight++;
}

/* A read error (or end of file): poll once; a second in a row parks the queue until a notify. */
static void rx_error(struct net_pair *p, int res)
{
	if (res < 0)
		guest_warn(p->s->dev, "tap read failed: %s", strerror(-res));
	if (p->rx_errors++ == 0)
		rx_run(p); /* poll, then read again */
	else
		p->parked = true;
}

/*
 * Lay the stash out for one frame of need bytes (header included): 1 it fits (rx.iov holds it), 0
 * it waits for more chains, -1 it never fits (dropped, with a line).
 */
static int rx_fit(struct net_pair *p, uint32_t need)
{
	if (net_rx_prepare_for(&p->rx, need) == 0)
		return 0; /* no buffers: the guest's next notify comes back */
	if (p->rx.room >= need)
		return 1;
	if (p->rx.mrg && p->rx.nchains == p->rx.count && !net_rx_full(&p->rx) && p->rx.nchains < NET_RX_MAX_CHAINS)
		return 0; /* more chains may come */
	guest_warn(p->s->dev, "a %u-byte frame does not fit the receive buffers: dropped", need - NET_RX_HDR_LEN);
	return -1;
}

/* The n bytes of a read or copy laid out by net_rx_prepare() are in: their chains to the used ring. */
static void rx_publish(struct net_pair *p, size_t n)
{
	struct net_rx_used used[NET_RX_MAX_CHAINS];
	unsigned k = net_rx_complete(&p->rx, n, used);

	/* One frame's buffers become visible together: the driver reads num_buffers from the first. */
	for (unsigned i = 0; i < k; i++)
		virtq_fill(p->rvq, i, used[i].head, used[i].len);
	virtq_flush(p->rvq, k);
	if (k) {
		p->rx_irq = true;
		defer(p->s);
	}
}

/* The held frame into the stash if it fits now: false while it still waits. */
static bool rx_held(struct net_pair *p)
{
	int fit = rx_fit(p, p->held);

	if (fit == 0)
		return false;
	if (fit > 0) {
		virtq_iov_to(p->rx.iov, p->rx.niov, 0, p->bounce, p->held);
		rx_publish(p, p->held);
	}
	p->held = 0;
	return true;
}

static void rx_done(struct ev_req *ev, int res)
{
	struct net_pair *p = CONTAINER(ev, struct net_pair, rd);
	bool poll = p->polling, bounced = p->bouncing;

	p->busy = p->polling = p->bouncing = false;
	if (!session_alive(p->s) || p->idx >= p->s->active)
		return; /* detached, or the pair was switched off: a frame read meanwhile is dropped */
	if (poll) {
		if (res > 0 && (res & POLLIN) && !(res & (POLLERR | POLLHUP | POLLNVAL)))
			p->readable = true;
		else if (res != -ECANCELED && res != -EINTR)
			p->parked = true; /* an error on the fd: wait for the guest's next notify */
		rx_run(p);
		return;
	}
	if (res == -EOPNOTSUPP && !p->no_nowait) {
		p->no_nowait = true; /* no RWF_NOWAIT on this fd */
		res = -EAGAIN;
	}
	if (res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
		rx_run(p); /* poll again */
		return;
	}
	if (res <= 0) {
		rx_error(p, res);
		return;
	}
	p->rx_errors = 0;
	p->readable = !p->no_nowait; /* the tap may hold more: read again at once */
	if (!bounced) {
		rx_publish(p, (size_t)res); /* a frame shorter than a header is dropped */
	} else if (res >= NET_RX_HDR_LEN) {
		p->held = (uint32_t)res;
		rx_held(p);
	}
	rx_run(p);
}

/* Take one RX chain into the stash: 1 taken, 0 ring empty, -1 stash full or queue broken. */
static int rx_take(void *arg)
{
	struct net_pair *p = arg;
	struct iovec iov[NET_RX_CHAIN_IOV];
	struct virtq_chain c;
	int ret;

	if (net_rx_full(&p->rx))
		return -1;
	ret = virtq_pop(p->rvq, &c, iov, NET_RX_CHAIN_IOV);
	if (ret <= 0) {
		if (ret < 0)
			broken(p, &p->rx_stopped, 2 * p->idx);
		return ret < 0 ? -1 : 0;
	}
	if (c.bad || net_rx_add(&p->rx, c.head, iov, c.niov, c.nout) < 0) {
		guest_warn(p->s->dev, "malformed receive buffer on queue %u", 2 * p->idx);
		virtq_push(p->rvq, c.head, 0);
		p->rx_irq = true;
		defer(p->s);
	}
	return 1;
}

/*
 * Copy len bytes of data behind a virtio-net header into iov[0..niov) (which holds them all). The
 * header is zero but for DATA_VALID when the driver took GUEST_CSUM: a copying backend offers that
 * only when every frame it hands over carries checksums already checked (net_backend.h).
 */
static void copy_frame(const struct iovec *iov, unsigned niov, const uint8_t *data, size_t len, bool valid)
{
	uint8_t hdr[NET_RX_HDR_LEN] = { valid ? VIRTIO_NET_HDR_F_DATA_VALID : 0 };

	virtq_iov_to(iov, niov, 0, hdr, sizeof(hdr));
	virtq_iov_to(iov, niov, NET_RX_HDR_LEN, data, len);
}

/*
 * A copying backend: its complete frames into the stashed chains, in order, at most a queue's worth
 * per run. A frame waits for more chains while the guest may still add them (MRG_RXBUF); one that
 * cannot fit (no MRG_RXBUF and a smaller chain, or more chains than a frame may take) is dropped.
 */
static void rx_copy(struct net_pair *p)
{
	struct net_backend *be = p->s->dev->be;
	unsigned budget = p->rvq->size;
	const uint8_t *data;
	size_t len;

	while ((len = be->ops->rx_peek(be, &data)) != 0) {
		int fit;

		if (budget-- == 0) {
			serve_more(p->s, &p->rx_more);
			return;
		}
		fit = rx_fit(p, (uint32_t)len + NET_RX_HDR_LEN);
		if (fit == 0)
			return; /* the guest's next notify comes back here */
		if (fit > 0) {
			copy_frame(p->rx.iov, p->rx.niov, data, len, p->rx.keep_flags);
			rx_publish(p, len + NET_RX_HDR_LEN);
		}
		be->ops->rx_consume(be);
	}
}

/* Take the guest's RX chains into the stash, then read into them unless a read is in flight. */
static void rx_run(struct net_pair *p)
{
	if (p->vhost || p->rx_stopped || !p->rvq->size || p->idx >= p->s->active || p->rx_more)
		return;
	p->rx_resume = false;
	if (virtq_serve(p->rvq, rx_take, p, p->rvq->size))
		serve_more(p->s, &p->rx_more);
	if (p->rx_stopped)
		return;
	if (!p->direct) {
		rx_copy(p);
		return;
	}
	if (p->held && !rx_held(p))
		return; /* the guest's next notify comes back here */
	if (p->busy || p->parked || net_rx_prepare(&p->rx) == 0)
		return; /* a completion, or the guest's next notify, comes back here */
	p->bouncing = p->rx.room < p->rx.max_len;
	rx_submit(p, !p->readable);
}

static bool tx_submit(struct tx_req *r)
{
	struct net_session *s = r->p->s;
	struct io_uring_sqe *sqe = event_loop_sqe(s->ctx.loop, &r->ev);

	if (!sqe)
		return false;
	if (r->polling)
		io_uring_prep_poll_add(sqe, r->p->fd, POLLOUT);
	else
		io_uring_prep_writev(sqe, r->p->fd, r->iov, r->niov, 0);
	s->inflight++;
	return true;
}

static void tx_stall(struct tx_req *r)
{
	struct tx_req **t = &r->p->stalled;

	while (*t)
		t = &(*t)->next;
	r->next = NULL;
	*t = r;
}

static void tx_complete(struct net_pair *p, struct tx_req *r)
{
	virtq_push(p->tvq, r->head, 0);
	p->s->tx_held--;
	p->tx_irq = true;
	p->tx_unsignalled++;
	r->next = p->free;
	p->free = r;
	if (r->writing) {
		r->writing = false;
		/* The last write: the ring is looked at again, notifications back on when it is empty. */
		if (--p->tx_writing == 0)
			p->tx_resume = true;
	}
	if (p->tx_blocked || p->stalled)
		p->tx_resume = true;
	defer(p->s);
}

static void tx_done(struct ev_req *ev, int res)
{
	struct tx_req *r = CONTAINER(ev, struct tx_req, ev);
	struct net_pair *p = r->p;

	if (!session_alive(p->s))
		return;
	if (r->polling) {
		r->polling = false; /* whatever the poll says, the write tells */
		p->tx_polling--;
	} else if (res == -EAGAIN) {
		r->polling = true;
		p->tx_polling++;
	} else if (res != -EINTR) {
		if (res < 0)
			guest_warn(p->s->dev, "tap write failed (frame dropped): %s", strerror(-res));
		tx_complete(p, r);
		return;
	}
	if (!tx_submit(r))
		tx_stall(r);
	if (p->stalled)
		p->tx_resume = true;
	defer(p->s);
}

/* 1: a chain was taken, 0: the ring is empty, -1: stop popping for now. */
static int tx_pop(void *arg)
{
	struct net_pair *p = arg;
	struct tx_req *r = p->free;
	struct virtq_chain c;
	int ret;

	if (!r || p->stalled || (!p->direct && !p->s->dev->be->ops->tx_room(p->s->dev->be))) {
		p->tx_blocked = true; /* a completion, or the backend's wake, resumes */
		return -1;
	}
	ret = virtq_pop(p->tvq, &c, r->iov, TX_IOV);
	if (ret <= 0) {
		if (ret < 0)
			broken(p, &p->tx_stopped, 2 * p->idx + 1);
		return ret;
	}
	p->free = r->next;
	p->s->tx_held++;
	r->head = c.head;
	r->polling = false;
	if (c.bad || c.in_len || c.out_len < NET_RX_HDR_LEN || c.out_len > TX_MAX_LEN) {
		guest_warn(p->s->dev, "malformed transmit chain on queue %u (%llu bytes)", 2 * p->idx + 1,
			   (unsigned long long)c.out_len);
		tx_complete(p, r);
		return 1;
	}
	if (!p->direct) {
		struct net_backend *be = p->s->dev->be;
		int e = be->ops->tx_write(be, r->iov, c.nout, NET_RX_HDR_LEN);

		if (e == -EMSGSIZE || e == -ENOBUFS || e == -EINVAL)
			guest_warn(p->s->dev, "a transmit frame of %llu bytes was dropped (%s)",
				   (unsigned long long)c.out_len - NET_RX_HDR_LEN,
				   e == -EMSGSIZE ? "empty, or longer than the socket carries" :
				   e == -EINVAL	  ? "its virtio-net header asks for an offload that was not offered, or is out of the frame" :
						    "no room");
		tx_complete(p, r); /* copied (or dropped: the link is down) */
		return 1;
	}
	r->niov = c.nout;
	r->writing = true;
	p->tx_writing++;
	if (!tx_submit(r))
		tx_stall(r);
	return 1;
}

static void tx_run(struct net_pair *p)
{
	if (p->vhost || p->tx_stopped || !p->tvq->size || p->tx_more)
		return;
	p->tx_resume = false;
	p->tx_blocked = false;
	while (p->stalled) {
		struct tx_req *r = p->stalled;

		if (!tx_submit(r))
			return;
		p->stalled = r->next;
	}
	if (p->tx_writing) {
		/* Writes in flight: the last completion comes back here, so no kick is needed meanwhile. */
		unsigned budget = p->tvq->size;

		virtq_set_notify(p->tvq, false);
		while (budget && tx_pop(p) == 1)
			budget--;
		if (!budget)
			serve_more(p->s, &p->tx_more);
		if (p->tx_writing || p->tx_stopped || p->tx_more || p->tx_blocked)
			return;
		/* Every chain taken completed at once (dropped, malformed): the ring as usual. */
	}
	if (virtq_serve(p->tvq, tx_pop, p, p->tvq->size))
		serve_more(p->s, &p->tx_more);
}

static void set_active(struct net_session *s, unsigned n)
{
	unsigned old = s->active;

	s->active = n;
	for (unsigned i = n; i < old; i++) {
		s->p[i].held = 0; /* the pair is off: its frame goes */
		rx_cancel(&s->p[i]);
	}
	for (unsigned i = old; i < n; i++) {
		s->p[i].parked = false;
		rx_run(&s->p[i]);
	}
}

/* One control command: class, cmd, the first bytes of its data (dlen bytes in all). */
static uint8_t ctrl_cmd(struct net_session *s, uint8_t class, uint8_t cmd, const uint8_t *data, uint64_t dlen)
{
	struct virtio_net *dev = s->dev;
	uint16_t pairs;

	switch (class) {
	case VIRTIO_NET_CTRL_RX:
		/* The tap delivers every frame anyway: the modes are acknowledged, not enforced. */
		if (!has(s, VIRTIO_NET_F_CTRL_RX) || dlen != 1 ||
		    (cmd != VIRTIO_NET_CTRL_RX_PROMISC && cmd != VIRTIO_NET_CTRL_RX_ALLMULTI))
			return VIRTIO_NET_ERR;
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MAC:
		if (cmd == VIRTIO_NET_CTRL_MAC_TABLE_SET && has(s, VIRTIO_NET_F_CTRL_RX))
			return dlen >= 8 ? VIRTIO_NET_OK : VIRTIO_NET_ERR; /* two (possibly empty) tables */
		if (cmd != VIRTIO_NET_CTRL_MAC_ADDR_SET || !has(s, VIRTIO_NET_F_CTRL_MAC_ADDR) || dlen != 6)
			return VIRTIO_NET_ERR;
		pthread_mutex_lock(&dev->cfg_lock);
		memcpy(dev->cfg.mac, data, 6);
		pthread_mutex_unlock(&dev->cfg_lock);
		return VIRTIO_NET_OK;
	case VIRTIO_NET_CTRL_MQ:
		if (cmd != VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET || !has(s, VIRTIO_NET_F_MQ) || dlen != 2)
			return VIRTIO_NET_ERR;
		pairs = le16toh((uint16_t)(data[0] | data[1] << 8));
		if (pairs < VIRTIO_NET_CTRL_MQ_VQ_PAIRS_MIN || pairs > s->npairs) {
			guest_warn(dev, "%u queue pairs requested, %u available", pairs, s->npairs);
			return VIRTIO_NET_ERR;
		}
		set_active(s, pairs);
		return VIRTIO_NET_OK;
	default:
		return VIRTIO_NET_ERR;
	}
}

/* Serve one control chain; returns the used length. */
static uint32_t ctrl_one(struct net_session *s, const struct virtq_chain *c, const struct iovec *iov)
{
	uint8_t buf[2 + CTRL_DATA];
	const struct iovec *last;
	size_t got = 0;
	uint8_t ack;

	if (c->bad || c->niov == c->nout || c->out_len < 2) {
		guest_warn(s->dev, "malformed control command");
		if (c->bad || c->niov == c->nout)
			return 0;
		ack = VIRTIO_NET_ERR;
	} else {
		for (unsigned i = 0; i < c->nout && got < sizeof(buf); i++) {
			size_t k = iov[i].iov_len < sizeof(buf) - got ? iov[i].iov_len : sizeof(buf) - got;

			memcpy(buf + got, iov[i].iov_base, k); /* copied once */
			got += k;
		}
		ack = ctrl_cmd(s, buf[0], buf[1], buf + 2, c->out_len - 2);
	}
	/* The ack is the last writable byte (zero-length buffers take no iov). */
	last = &iov[c->niov - 1];
	((uint8_t *)last->iov_base)[last->iov_len - 1] = ack;
	return 1;
}

/* Serve one control chain: 1 served, 0 ring empty, -1 the queue is broken. */
static int ctrl_take(void *arg)
{
	struct net_session *s = arg;
	struct iovec iov[CTRL_IOV];
	struct virtq_chain c;
	int ret = virtq_pop(s->ctrl, &c, iov, CTRL_IOV);

	if (ret < 0) {
		guest_warn(s->dev, "control queue is broken; the device needs a reset");
		s->ctx.needs_reset(s->ctx.irq_opaque);
		return -1;
	}
	if (ret == 1)
		virtq_push(s->ctrl, c.head, ctrl_one(s, &c, iov));
	return ret;
}

static void ctrl_run(struct net_session *s)
{
	struct virtq *q = s->ctrl;
	uint16_t used = q ? q->used_idx : 0;

	if (!q || !q->size || s->ctrl_more)
		return;
	if (virtq_serve(q, ctrl_take, s, q->size))
		serve_more(s, &s->ctrl_more);
	if (q->broken)
		s->ctrl = NULL; /* served no more */
	else if (q->used_idx != used && virtq_should_interrupt(q))
		s->ctx.interrupt(s->ctx.irq_opaque, s->ctrl_idx);
}

static bool dying(struct virtio_net *dev)
{
	return virtio_dev_dying(dev, dev->dying, &dev->defer, &dev->later);
}

/*
 * TX completions are signalled in batches: while writes of the pair are on their way through the
 * tap (their completions come within a loop turn or two), the interrupt waits for them, up to
 * TX_IRQ_BATCH chains. A guest that streams frees what it sent as it adds more (Linux's
 * start_xmit does), and asks for an interrupt at 3/4 of what is outstanding; one per loop turn
 * cost a guest sending small frames about 1.5 times QEMU's TX interrupts (bench/README.md). A write
 * that waits for the tap's room, or for an SQE, does not hold the interrupt back: how long that
 * takes is up to the host.
 */
#define TX_IRQ_BATCH 64
static bool tx_irq_later(const struct net_pair *p)
{
	return p->tx_writing > p->tx_polling && !p->stalled && p->tx_unsignalled < TX_IRQ_BATCH;
}

/* After each batch of completions: resume queues, then interrupt the guest once per queue. */
static void deferred(struct ev_defer *d)
{
	struct virtio_net *dev = CONTAINER(d, struct virtio_net, defer);
	struct net_session *s = dev->s;

	if (dying(dev) || !s)
		return;
	for (unsigned i = 0; i < s->npairs; i++) {
		struct net_pair *p = &s->p[i];

		if (p->rx_resume)
			rx_run(p);
		if (p->tx_resume)
			tx_run(p);
		if (p->rx_irq) {
			p->rx_irq = false;
			if (virtq_should_interrupt(p->rvq))
				s->ctx.interrupt(s->ctx.irq_opaque, 2 * i);
		}
		if (p->tx_irq && !tx_irq_later(p)) {
			p->tx_irq = false;
			p->tx_unsignalled = 0;
			if (virtq_should_interrupt(p->tvq))
				s->ctx.interrupt(s->ctx.irq_opaque, 2 * i + 1);
		}
	}
}

/* The loop's next turn after queues used up their budget: another run each. */
static void serve_later(struct ev_defer *d)
{
	struct virtio_net *dev = CONTAINER(d, struct virtio_net, later);
	struct net_session *s = dev->s;

	if (dying(dev) || !s)
		return;
	for (unsigned i = 0; i < s->npairs; i++) {
		struct net_pair *p = &s->p[i];

		if (p->rx_more) {
			p->rx_more = false;
			rx_run(p);
		}
		if (p->tx_more) {
			p->tx_more = false;
			tx_run(p);
		}
	}
	if (s->ctrl_more) {
		s->ctrl_more = false;
		ctrl_run(s);
	}
	defer(s); /* their interrupts */
}

static void net_notify(void *opaque, unsigned q)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;
	struct net_pair *p;

	if (!s)
		return;
	if (s->ctrl && q == s->ctrl_idx) {
		ctrl_run(s);
		return;
	}
	if (q >= 2 * s->npairs)
		return;
	p = &s->p[q / 2];
	if (p->vhost)
		return; /* the kernel has the doorbell (the transport's first look after activate still comes here) */
	p->parked = false; /* any kick on the pair retries a parked read */
	p->rx_errors = 0;
	if (q % 2)
		tx_run(p);
	rx_run(p);
	defer(s); /* immediate completions want their interrupt */
}

/* The TUN_F_* offloads the driver can receive. */
static unsigned tun_offloads(uint64_t f)
{
	unsigned t = 0;

	if (!(f & (1ull << VIRTIO_NET_F_GUEST_CSUM)))
		return 0; /* segmentation offloads need checksum offload (the tap refuses them alone) */
	t |= TUN_F_CSUM;
	if (f & (1ull << VIRTIO_NET_F_GUEST_TSO4))
		t |= TUN_F_TSO4;
	if (f & (1ull << VIRTIO_NET_F_GUEST_TSO6))
		t |= TUN_F_TSO6;
	if ((t & (TUN_F_TSO4 | TUN_F_TSO6)) && (f & (1ull << VIRTIO_NET_F_GUEST_ECN)))
		t |= TUN_F_TSO_ECN;
	return t;
}

static void set_offload(struct virtio_net *dev, unsigned flags)
{
	int ret;

	if (!dev->be->ops->set_offload)
		return;
	ret = dev->be->ops->set_offload(dev->be, flags);

	/* Not fatal: a tap without offloads hands over plain frames, which every driver takes. */
	if (ret < 0)
		guest_warn(dev, "cannot set tap offloads %#x: %s", flags, strerror(-ret));
}

static int pair_init(struct net_session *s, unsigned i)
{
	struct net_pair *p = &s->p[i];
	uint64_t f = s->ctx.features;

	p->s = s;
	p->idx = i;
	p->fd = s->dev->be->ops->fd(s->dev->be, i);
	p->direct = p->fd >= 0;
	p->rvq = &s->ctx.vq[2 * i];
	p->tvq = &s->ctx.vq[2 * i + 1];
	p->rd.done = rx_done;
	p->cancel.done = cancel_done;
	if (p->rvq->size) {
		p->slots = calloc(p->rvq->size, sizeof(*p->slots));
		if (!p->slots)
			return -ENOMEM;
		if (p->direct && !(p->bounce = malloc(NET_RX_MAX_GSO)))
			return -ENOMEM;
		net_rx_init(&p->rx, p->slots, p->rvq->size, f & (1ull << VIRTIO_NET_F_MRG_RXBUF),
			    f & (1ull << VIRTIO_NET_F_GUEST_CSUM),
			    f & ((1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6)));
	}
	if (p->tvq->size) {
		p->slab = calloc(p->tvq->size, sizeof(*p->slab));
		if (!p->slab)
			return -ENOMEM;
		for (unsigned j = p->tvq->size; j-- > 0;) {
			struct tx_req *r = &p->slab[j];

			r->ev.done = tx_done;
			r->p = p;
			r->next = p->free;
			p->free = r;
		}
	}
	return 0;
}

/* Stop the kernel's pairs of s: their rings' positions come back into s's queues. */
static void vhost_stop(struct virtio_net *dev, struct net_session *s)
{
	for (unsigned i = 0; i < s->npairs; i++) {
		if (s->p[i].vhost)
			vhost_net_stop(dev->vn, i);
		s->p[i].vhost = false;
	}
}

/*
 * Hand every pair of s to the kernel (vhost-net), or none: a pair it cannot take (a feature it
 * does not know, an ioctl refused) leaves all of them on our own path, with the reason in one line.
 */
static void vhost_start(struct virtio_net *dev, struct net_session *s)
{
	if (!dev->vn)
		return;
	if (!vhost_net_supports(dev->vn, s->ctx.features)) {
		guest_warn(dev, "vhost-net cannot serve the features the driver chose (%#llx): frames go through vmm",
			   (unsigned long long)s->ctx.features);
		return;
	}
	for (unsigned i = 0; i < s->npairs; i++) {
		struct net_pair *p = &s->p[i];

		if (!p->direct || !p->rvq->size || !p->tvq->size || vhost_net_start(dev->vn, i, &s->ctx, p->fd, dev->log)) {
			vhost_stop(dev, s);
			return;
		}
		p->vhost = true;
	}
}

static int net_activate(void *opaque, const struct virtio_ctx *ctx)
{
	struct virtio_net *dev = opaque;
	bool mq = ctx->features & (1ull << VIRTIO_NET_F_MQ);
	unsigned npairs = mq ? dev->max_pairs : 1;
	struct net_session *s;
	int ret;

	if (dev->s)
		return -EBUSY;
	if (ctx->nvq < 2 * npairs)
		return -EINVAL;
	s = calloc(1, sizeof(*s) + npairs * sizeof(s->p[0]));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->ctx = *ctx;
	s->npairs = npairs;
	s->active = 1; /* 5.1.6.5.5: multiqueue is off until VQ_PAIRS_SET */
	/* The control queue follows the pairs the driver may use: index 2 without MQ. */
	s->ctrl_idx = 2 * npairs;
	if ((ctx->features & (1ull << VIRTIO_NET_F_CTRL_VQ)) && s->ctrl_idx < ctx->nvq)
		s->ctrl = &s->ctx.vq[s->ctrl_idx];
	for (unsigned i = 0; i < npairs; i++) {
		ret = pair_init(s, i);
		if (ret) {
			free_session(s);
			return ret;
		}
	}
	if (!net_backend_direct(dev->be)) {
		ret = dev->be->ops->start(dev->be, ctx->loop, &dev->hooks);
		if (ret) {
			free_session(s);
			return ret;
		}
	}
	set_offload(dev, tun_offloads(ctx->features));
	vhost_start(dev, s);
	dev->s = s;
	/* Buffers the driver added before DRIVER_OK came with no notify we served. */
	for (unsigned i = 0; i < npairs; i++) {
		tx_run(&s->p[i]);
		rx_run(&s->p[i]);
	}
	ctrl_run(s);
	defer(s);
	return 0;
}

static void net_reset(void *opaque)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;

	if (!s)
		return;
	dev->s = NULL;
	s->resetting = true;
	vhost_stop(dev, s);
	for (unsigned i = 0; i < s->npairs; i++)
		rx_cancel(&s->p[i]);
	if (!net_backend_direct(dev->be))
		dev->be->ops->stop(dev->be);
	set_offload(dev, 0);
	if (s->inflight == 0) {
		free_session(s);
		return;
	}
	s->next_draining = dev->draining; /* a read may still land in guest memory: inflight() */
	dev->draining = s;
}

static void net_destroy(void *opaque)
{
	struct virtio_net *dev = opaque;

	if (!dev)
		return;
	net_reset(dev);
	for (struct net_session *s = dev->draining; s; s = s->next_draining)
		s->dev = NULL; /* they free themselves, without us */
	dev->draining = NULL;
	vhost_net_close(dev->vn); /* before the tap: the kernel lets go of it */
	dev->vn = NULL;
	dev->be->ops->close(dev->be); /* a tap closes its fds */
	dev->be = NULL;
	pthread_mutex_destroy(&dev->cfg_lock);
	if (dev->defer.queued || dev->later.queued) {
		dev->dying = true; /* the loop still holds a callback of ours: it frees */
		return;
	}
	free(dev);
}

/* Tap reads in flight into the session's receive buffers. */
static unsigned reads_inflight(const struct net_session *s)
{
	unsigned n = 0;

	for (unsigned i = 0; i < s->npairs; i++)
		n += s->p[i].busy && !s->p[i].polling;
	return n;
}

/*
 * In flight: transmit chains taken (their write, or its wait for room, reads guest buffers) and
 * tap reads writing into receive buffers, a reset session's reads included. Receive buffers that
 * only wait in the stash for a frame (a POLL_ADD, which touches no guest memory) are not: save()
 * records them by head.
 */
static unsigned net_inflight(void *opaque)
{
	struct virtio_net *dev = opaque;
	unsigned n = 0;

	if (dev->s)
		n = dev->s->tx_held + reads_inflight(dev->s);
	for (const struct net_session *s = dev->draining; s; s = s->next_draining)
		n += reads_inflight(s);
	return n;
}

/*
 * A snapshot: the kernel's pairs stop before anything is saved (their rings' positions come back
 * into our queues for the transport's record; once stopped the kernel holds no chain, a half-taken
 * frame is given back) and start again after the whole snapshot, guest RAM included, is written.
 */
static void net_quiesce(void *opaque, bool quiet)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;

	if (!s)
		return;
	if (quiet && s->p[0].vhost && !s->vhost_paused) {
		/* The pairs stay marked: our own path leaves their rings and taps alone meanwhile. */
		for (unsigned i = 0; i < s->npairs; i++)
			vhost_net_stop(dev->vn, i);
		s->vhost_paused = true;
	} else if (!quiet && s->vhost_paused) {
		s->vhost_paused = false;
		for (unsigned i = 0; i < s->npairs; i++)
			s->p[i].vhost = false;
		vhost_start(dev, s);
		if (s->p[0].vhost)
			return;
		/* The kernel refused them back (said in a line): our own path serves the pairs from here. */
		for (unsigned i = 0; i < s->npairs; i++) {
			tx_run(&s->p[i]);
			rx_run(&s->p[i]);
		}
		defer(s);
	}
}

/*
 * The device's record: the MAC (the guest may have set it with CTRL_MAC_ADDR), then whether a
 * session is active and if so its pair count, the pairs VQ_PAIRS_SET enabled, and each pair's
 * stashed receive chains (u16 count, u16 heads, in stash order). The RX modes and MAC table are
 * acknowledged, not kept (the tap delivers every frame), so there is nothing else to record.
 */
static int net_save(void *opaque, struct sbuf *out)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;

	pthread_mutex_lock(&dev->cfg_lock);
	sbuf_put(out, dev->cfg.mac, sizeof(dev->cfg.mac));
	pthread_mutex_unlock(&dev->cfg_lock);
	sbuf_bool(out, s != NULL);
	if (s) {
		sbuf_u16(out, (uint16_t)s->npairs);
		sbuf_u16(out, (uint16_t)s->active);
		for (unsigned i = 0; i < s->npairs; i++) {
			const struct net_rx *rx = &s->p[i].rx;
			unsigned n = s->p[i].rvq->size ? rx->count : 0;

			sbuf_u16(out, (uint16_t)n);
			for (unsigned k = 0; k < n; k++)
				sbuf_u16(out, rx->c[(rx->first + k) % rx->cap].head);
		}
	}
	return out->oom ? -ENOMEM : 0;
}

/* Take back receive chain head of pair p as it was stashed: check only (add false), or add it. */
static bool retake(struct net_pair *p, uint16_t head, bool add)
{
	struct iovec iov[NET_RX_CHAIN_IOV];
	struct virtq_chain c;

	if (virtq_walk(p->rvq, head, &c, iov, NET_RX_CHAIN_IOV) != 1 || c.bad)
		return false;
	if (!add)
		return c.nout == 0 && c.in_len >= NET_RX_HDR_LEN;
	return net_rx_add(&p->rx, head, iov, c.niov, c.nout) == 0;
}

/* Are the saved heads of pair p (n of them) chains it can stash: in range, distinct, not stashed already? */
static bool heads_fit(struct net_pair *p, const uint16_t *heads, unsigned n)
{
	uint8_t seen[VIRTQ_MAX_SIZE / 8] = { 0 };
	const struct net_rx *rx = &p->rx;

	if (!p->rvq->size)
		return n == 0;
	if (n > rx->cap - rx->count)
		return false;
	for (unsigned k = 0; k < rx->count; k++) {
		uint16_t h = rx->c[(rx->first + k) % rx->cap].head;

		seen[h / 8] |= (uint8_t)(1u << (h % 8));
	}
	for (unsigned k = 0; k < n; k++) {
		uint16_t h = heads[k];

		if (h >= p->rvq->size || (seen[h / 8] & (1u << (h % 8))) || !retake(p, h, false))
			return false;
		seen[h / 8] |= (uint8_t)(1u << (h % 8));
	}
	return true;
}

static int net_restore(void *opaque, struct sreader *in)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;
	uint16_t npairs = 0, active = 0, *heads, count[TAP_MAX_QUEUES] = { 0 };
	uint8_t mac[6];
	bool session, ok;

	sr_get(in, mac, sizeof(mac));
	session = sr_bool(in);
	if (session) {
		npairs = sr_u16(in);
		active = sr_u16(in);
		if (npairs != dev->max_pairs && npairs != 1)
			sr_fail(in);
	}
	heads = calloc((size_t)TAP_MAX_QUEUES * VIRTIO_NET_QUEUE_SIZE, sizeof(*heads));
	if (!heads)
		return -ENOMEM;
	for (unsigned i = 0; sr_ok(in) && i < npairs; i++) {
		count[i] = sr_u16(in);
		if (count[i] > VIRTIO_NET_QUEUE_SIZE)
			sr_fail(in);
		for (unsigned k = 0; sr_ok(in) && k < count[i]; k++)
			heads[i * VIRTIO_NET_QUEUE_SIZE + k] = sr_u16(in);
	}
	ok = sr_done(in) && (!session || (active >= 1 && active <= npairs));
	/* A session saved but none here: the device failed to activate (NEEDS_RESET); its queues are moot. */
	if (ok && s) {
		ok = session && npairs == s->npairs;
		for (unsigned i = 0; ok && i < npairs; i++)
			ok = heads_fit(&s->p[i], &heads[i * VIRTIO_NET_QUEUE_SIZE], count[i]);
	} else if (ok && !session && s) {
		ok = false;
	}
	if (!ok) {
		free(heads);
		return -EINVAL;
	}
	pthread_mutex_lock(&dev->cfg_lock);
	memcpy(dev->cfg.mac, mac, sizeof(mac));
	pthread_mutex_unlock(&dev->cfg_lock);
	if (s) {
		for (unsigned i = 0; i < npairs; i++)
			for (unsigned k = 0; k < count[i]; k++)
				retake(&s->p[i], heads[i * VIRTIO_NET_QUEUE_SIZE + k], true);
		if (active != s->active)
			set_active(s, active);
	}
	free(heads);
	return 0;
}

static uint64_t net_features(void *opaque)
{
	return ((struct virtio_net *)opaque)->features;
}

static unsigned net_num_queues(void *opaque)
{
	return 2 * ((struct virtio_net *)opaque)->max_pairs + 1;
}

static void net_config_read(void *opaque, uint32_t off, void *data, uint32_t len)
{
	struct virtio_net *dev = opaque;

	pthread_mutex_lock(&dev->cfg_lock);
	memcpy(data, (const uint8_t *)&dev->cfg + off, len);
	pthread_mutex_unlock(&dev->cfg_lock);
}

static void net_config_write(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	/* Read-only for a VERSION_1 driver (the MAC changes through CTRL_MAC_ADDR). */
	(void)opaque, (void)off, (void)data, (void)len;
}

/* The backend's peer came or went (a copying backend, on the I/O thread). */
static void backend_link(void *opaque, bool up)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;

	pthread_mutex_lock(&dev->cfg_lock);
	dev->cfg.status = htole16(up ? VIRTIO_NET_S_LINK_UP : 0);
	pthread_mutex_unlock(&dev->cfg_lock);
	if (s && has(s, VIRTIO_NET_F_STATUS))
		s->ctx.config_changed(s->ctx.irq_opaque);
}

/* A copying backend has frames for us, or room again: serve its (only) pair. */
static void backend_wake(void *opaque)
{
	struct virtio_net *dev = opaque;
	struct net_session *s = dev->s;

	if (!s)
		return;
	if (s->p[0].tx_blocked)
		tx_run(&s->p[0]);
	rx_run(&s->p[0]);
	defer(s);
}

int virtio_net_create(const struct virtio_net_opts *o, const struct vlog *log, void **dev_out)
{
	unsigned pairs = o->queue_pairs ? o->queue_pairs : 1;
	struct net_backend *be = o->backend;
	struct virtio_net *dev;

	if ((!o->tap) == (!be) || (be && !net_backend_direct(be) && pairs != 1)) {
		vlog_err(log, "virtio-net: needs one backend (a copying one has one queue pair)");
		return -EINVAL;
	}
	if (o->tap && (pairs > o->tap->nqueues || pairs > TAP_MAX_QUEUES)) {
		vlog_err(log, "virtio-net: %u queue pairs requested, the tap has %u queues", pairs, o->tap->nqueues);
		return -EINVAL;
	}
	if (be && (pairs > be->nqueues || pairs > TAP_MAX_QUEUES)) {
		vlog_err(log, "virtio-net: %u queue pairs requested, the backend has %u", pairs, be->nqueues);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	if (o->tap) {
		be = tap_backend_new(o->tap);
		if (!be) {
			free(dev);
			return -ENOMEM;
		}
	}
	dev->be = be;
	dev->hooks = (struct net_backend_hooks){ .wake = backend_wake, .link = backend_link, .opaque = dev };
	dev->log = log;
	dev->max_pairs = pairs;
	dev->defer.fn = deferred;
	dev->later.fn = serve_later;
	pthread_mutex_init(&dev->cfg_lock, NULL);
	dev->features = (1ull << VIRTIO_NET_F_MAC) | (1ull << VIRTIO_NET_F_STATUS) | (1ull << VIRTIO_NET_F_MRG_RXBUF) |
			(1ull << VIRTIO_NET_F_CTRL_VQ) | (1ull << VIRTIO_NET_F_CTRL_RX) |
			(1ull << VIRTIO_NET_F_CTRL_MAC_ADDR);
	/* Checksum and segmentation offloads: only those the backend honours (a tap: all of them). */
	dev->features |= be->offloads & ((1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
					 (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |
					 (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_GUEST_TSO4) |
					 (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN));
	if (pairs > 1)
		dev->features |= 1ull << VIRTIO_NET_F_MQ;
	if (be->mtu >= 68) { /* the spec's smallest (5.1.4.1): a smaller one would be no advice */
		dev->features |= 1ull << VIRTIO_NET_F_MTU;
		dev->cfg.mtu = htole16(be->mtu);
	}
	memcpy(dev->cfg.mac, o->mac, 6);
	dev->cfg.status = htole16(!be->ops->link_up || be->ops->link_up(be) ? VIRTIO_NET_S_LINK_UP : 0);
	dev->cfg.max_virtqueue_pairs = htole16((uint16_t)pairs);
	if (o->vhost && o->tap) {
		int ret = vhost_net_open(pairs, &dev->vn);

		if (ret)
			vlog_warn(log, "tap '%s': vhost-net is not available (/dev/vhost-net: %s); frames go through vmm",
				  o->tap->name, strerror(-ret));
	}
	*dev_out = dev;
	return 0;
}

const struct virtio_device_ops virtio_net_ops = {
	.name = "virtio-net",
	.device_id = VIRTIO_ID_NET,
	.pci_class = 0x020000, /* network, Ethernet */
	.features = net_features,
	.num_queues = net_num_queues,
	.queue_max_size = VIRTIO_NET_QUEUE_SIZE,
	.config_size = CONFIG_SIZE,
	.config_read = net_config_read,
	.config_write = net_config_write,
	.activate = net_activate,
	.reset = net_reset,
	.notify = net_notify,
	.destroy = net_destroy,
	.inflight = net_inflight,
	.quiesce = net_quiesce,
	.save = net_save,
	.restore = net_restore,
};
