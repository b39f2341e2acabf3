// SPDX-License-Identifier: Apache-2.0
/* virtio-vsock: the device (queues, packets from the guest, the host listener, snapshots). */
#include "virtio/vsock.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_ids.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "virtio/vsock_conn.h"

/*
 * RX (to the guest): a receive chain is popped only when a packet is owed: first the replies that
 * belong to no connection (s->ctl), then the connections on s->q_head in turn, one packet each. TX:
 * each chain is one packet, checked whole (header in the readable buffers, len within them and
 * within VSOCK_MAX_PKT, our CIDs, stream type) and handled at once; its payload is copied, so the
 * chain is completed before the next. Event queue: only TRANSPORT_RESET, after a restore (the host
 * sockets are not in a snapshot, so every connection the guest had is gone).
 *
 * Fairness, as in console.c: a run takes at most a queue's worth of chains; the rest is served from
 * dev->later on the loop's next turn.
 */

#define CHAIN_IOV VIRTIO_VSOCK_QUEUE_SIZE
#define CONTAINER(ptr, type, member) ((type *)(void *)((uint8_t *)(ptr) - offsetof(type, member)))

_Static_assert(sizeof(struct virtio_vsock_hdr) == 44, "virtio_vsock_hdr layout");
_Static_assert(sizeof(struct virtio_vsock_config) == 8, "virtio_vsock_config layout");

struct vsock {
	const struct vlog *log;
	uint64_t cid;
	char *uds;
	int listen_fd;
	struct vsock_session *s;
	struct vsock_pool *pool;    /* buffer accounting, shared with the sessions */
	struct ev_defer defer;
	struct ev_defer later;
	bool dying;
	struct vlog_budget warn;
	struct iovec iov[CHAIN_IOV];
};

void vsock_guest_warn(struct vsock_session *s, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	if (!s->dev)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog_guest(s->dev->log, &s->dev->warn, "virtio-vsock", "%s", msg);
}

const char *vsock_uds(const struct vsock_session *s)
{
	return s->dev ? s->dev->uds : "";
}

static void session_free(struct vsock_session *s)
{
	vsock_pool_put(s->pool);
	free(s);
}

bool vsock_session_alive(struct vsock_session *s)
{
	s->inflight--;
	if (!s->resetting)
		return true;
	if (s->inflight == 0)
		session_free(s);
	return false;
}

bool vsock_ctl_push(struct vsock_session *s, const struct virtio_vsock_hdr *h)
{
	if (s->ctl_len == VSOCK_CTL_MAX)
		return false;
	s->ctl[(s->ctl_head + s->ctl_len) % VSOCK_CTL_MAX] = *h;
	s->ctl_len++;
	return true;
}

/* An RST answering the guest's packet h (no connection behind it). */
static void ctl_rst(struct vsock_session *s, const struct virtio_vsock_hdr *h)
{
	struct virtio_vsock_hdr r = {
		.src_cid = htole64(VSOCK_HOST_CID),
		.dst_cid = htole64(s->cid),
		.src_port = h->dst_port,
		.dst_port = h->src_port,
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(VIRTIO_VSOCK_OP_RST),
	};

	if (le16toh(h->op) == VIRTIO_VSOCK_OP_RST)
		return; /* never answer an RST */
	if (!vsock_ctl_push(s, &r))
		vsock_guest_warn(s, "too many replies waiting for receive buffers: RST dropped");
}

static void broken(struct vsock_session *s, bool *stopped, unsigned q)
{
	vsock_guest_warn(s, "queue %u is broken; the device needs a reset", q);
	*stopped = true;
	s->ctx.needs_reset(s->ctx.irq_opaque);
}

static void defer(struct vsock_session *s)
{
	event_loop_defer(s->ctx.loop, &s->dev->defer);
}

static void serve_more(struct vsock_session *s, bool *more)
{
	*more = true;
	event_loop_later(s->ctx.loop, &s->dev->later);
}

static void tx_run(struct vsock_session *s);

/* The first connection on the rx list that owes a packet (others fall off the list). */
static struct vsock_conn *next_conn(struct vsock_session *s)
{
	struct vsock_conn *c;

	while ((c = s->q_head) && !vsock_conn_has_pkt(c)) {
		s->q_head = c->next_q;
		if (!s->q_head)
			s->q_tail = &s->q_head;
		c->queued = false;
		c->next_q = NULL;
	}
	return c;
}

void vsock_rx_run(struct vsock_session *s)
{
	struct virtq *q = &s->ctx.vq[VSOCK_RXQ];
	struct iovec *iov = s->dev ? s->dev->iov : NULL;
	unsigned budget;

	if (!s->dev || s->resetting || s->rx_stopped || s->rx_more || s->in_rx || !q->size)
		return;
	s->in_rx = true;
	for (budget = q->size; budget; budget--) {
		struct virtq_chain ch;
		struct vsock_conn *c = NULL;
		uint32_t n;
		int ret;

		if (!s->ctl_len && !(c = next_conn(s)))
			break;
		ret = virtq_pop(q, &ch, iov, CHAIN_IOV);
		if (ret < 0) {
			broken(s, &s->rx_stopped, VSOCK_RXQ);
			break;
		}
		if (ret == 0) {
			if (virtq_set_notify(q, true))
				continue;
			break; /* the guest's next rx notify brings us back */
		}
		if (ch.bad || ch.nout || ch.in_len < VSOCK_HDR) {
			vsock_guest_warn(s, "malformed receive buffer: completed empty");
			virtq_push(q, ch.head, 0);
			s->rx_irq = true;
			continue;
		}
		if (s->ctl_len) {
			n = virtq_iov_to(iov, ch.niov, 0, &s->ctl[s->ctl_head], VSOCK_HDR);
			s->ctl_head = (s->ctl_head + 1) % VSOCK_CTL_MAX;
			s->ctl_len--;
		} else {
			/* Take c off the head; back at the tail when it owes more. */
			s->q_head = c->next_q;
			if (!s->q_head)
				s->q_tail = &s->q_head;
			c->queued = false;
			c->next_q = NULL;
			n = vsock_conn_fill(c, iov, ch.niov, ch.in_len);
			vsock_conn_kick(c); /* back on the list if it owes more (in_rx: no recursion) */
		}
		virtq_push(q, ch.head, n);
		s->rx_irq = true;
	}
	s->in_rx = false;
	if (!budget && (s->ctl_len || s->q_head))
		serve_more(s, &s->rx_more);
	if (s->rx_irq)
		defer(s);
	if (s->tx_blocked && s->ctl_len < VSOCK_CTL_TX_LIMIT) {
		s->tx_blocked = false;
		tx_run(s);
	}
}

/* A packet from the guest, its header h checked for length already. */
static void packet(struct vsock_session *s, const struct virtio_vsock_hdr *h, const struct iovec *iov,
		   unsigned niov)
{
	uint16_t op = le16toh(h->op);
	uint32_t local = le32toh(h->dst_port), peer = le32toh(h->src_port);
	struct vsock_conn *c;
	int fd;

	if (le64toh(h->src_cid) != s->cid || le64toh(h->dst_cid) != VSOCK_HOST_CID) {
		vsock_guest_warn(s, "packet from CID %llu to CID %llu: dropped", (unsigned long long)le64toh(h->src_cid),
				 (unsigned long long)le64toh(h->dst_cid));
		return;
	}
	if (le16toh(h->type) != VIRTIO_VSOCK_TYPE_STREAM) {
		ctl_rst(s, h);
		return;
	}
	c = vsock_conn_find(s, local, peer);
	if (c) {
		vsock_conn_packet(c, h, iov, niov);
		return;
	}
	if (op != VIRTIO_VSOCK_OP_REQUEST) {
		ctl_rst(s, h);
		return;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ctl_rst(s, h);
		return;
	}
	c = vsock_conn_new(s, fd, CONN_CONNECTING, local, peer);
	if (!c) {
		close(fd);
		vsock_guest_warn(s, "connection limit (%u, or %u MiB of buffers) reached: refused",
				 VIRTIO_VSOCK_MAX_CONNS, VIRTIO_VSOCK_TOTAL_BUF >> 20);
		ctl_rst(s, h);
		return;
	}
	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	vsock_conn_connect(c);
}

static int tx_take(void *arg)
{
	struct vsock_session *s = arg;
	struct virtq *q = &s->ctx.vq[VSOCK_TXQ];
	struct iovec *iov = s->dev->iov;
	struct virtio_vsock_hdr h;
	struct virtq_chain ch;
	int ret;

	if (s->ctl_len >= VSOCK_CTL_TX_LIMIT) {
		s->tx_blocked = true; /* the guest reads its replies first */
		return -1;
	}
	ret = virtq_pop(q, &ch, iov, CHAIN_IOV);
	if (ret < 0) {
		broken(s, &s->tx_stopped, VSOCK_TXQ);
		return -1;
	}
	if (ret == 0)
		return 0;
	if (ch.bad || ch.out_len < VSOCK_HDR) {
		vsock_guest_warn(s, "malformed transmit chain: dropped");
	} else {
		virtq_iov_from(iov, ch.nout, 0, &h, VSOCK_HDR);
		if (le32toh(h.len) > ch.out_len - VSOCK_HDR || le32toh(h.len) > VSOCK_MAX_PKT) {
			vsock_guest_warn(s, "packet length %u beyond its buffers: dropped", le32toh(h.len));
			if (le16toh(h.op) == VIRTIO_VSOCK_OP_RW) {
				struct vsock_conn *c = vsock_conn_find(s, le32toh(h.dst_port), le32toh(h.src_port));

				if (c && le64toh(h.src_cid) == s->cid)
					vsock_conn_close(c, true);
			}
		} else {
			packet(s, &h, iov, ch.nout);
		}
	}
	virtq_push(q, ch.head, 0);
	s->tx_irq = true;
	return 1;
}

static void tx_run(struct vsock_session *s)
{
	struct virtq *q = &s->ctx.vq[VSOCK_TXQ];

	if (!s->dev || s->tx_stopped || s->tx_more || s->tx_blocked || !q->size)
		return;
	if (virtq_serve(q, tx_take, s, q->size))
		serve_more(s, &s->tx_more);
	if (s->tx_irq)
		defer(s);
	vsock_rx_run(s);
}

/* The event queue: a TRANSPORT_RESET owed to the guest. */
static void ev_run(struct vsock_session *s)
{
	struct virtq *q = &s->ctx.vq[VSOCK_EVQ];
	struct virtio_vsock_event e = { .id = htole32(VIRTIO_VSOCK_EVENT_TRANSPORT_RESET) };
	struct virtq_chain ch;
	int ret;

	if (!s->ev_reset || s->ev_stopped || !q->size)
		return;
	ret = virtq_pop(q, &ch, s->dev->iov, CHAIN_IOV);
	if (ret < 0) {
		broken(s, &s->ev_stopped, VSOCK_EVQ);
		return;
	}
	if (ret == 0) {
		if (virtq_set_notify(q, true))
			ev_run(s);
		return;
	}
	if (ch.bad || ch.nout || ch.in_len < sizeof(e)) {
		vsock_guest_warn(s, "malformed event buffer: completed empty");
		virtq_push(q, ch.head, 0);
	} else {
		virtq_push(q, ch.head, virtq_iov_to(s->dev->iov, ch.niov, 0, &e, sizeof(e)));
		s->ev_reset = false;
	}
	s->ev_irq = true;
	defer(s);
}

/* ---- the host listener ---- */

static void accept_next(struct vsock_session *s);

static void accept_done(struct ev_req *ev, int res)
{
	struct vsock_session *s = CONTAINER(ev, struct vsock_session, acc);
	struct vsock_conn *c;

	s->accepting = false;
	if (!vsock_session_alive(s)) {
		if (res >= 0)
			close(res);
		return;
	}
	if (res < 0) {
		if (res != -EAGAIN && res != -ECANCELED && s->accept_errors++ < 16) {
			vlog_warn(s->dev->log, "virtio-vsock: accept on '%s' failed: %s", s->dev->uds, strerror(-res));
			accept_next(s);
		}
		return;
	}
	s->accept_errors = 0;
	c = vsock_conn_new(s, res, CONN_LINE, 0, 0);
	if (!c) {
		vlog_warn(s->dev->log,
			  "virtio-vsock: connection limit (%u, or %u MiB of buffers) reached: host connection refused",
			  VIRTIO_VSOCK_MAX_CONNS, VIRTIO_VSOCK_TOTAL_BUF >> 20);
		close(res);
	} else {
		vsock_conn_read(c);
	}
	accept_next(s); /* more may wait: until -EAGAIN */
}

static void accept_next(struct vsock_session *s)
{
	struct io_uring_sqe *sqe;

	if (s->accepting || s->resetting)
		return;
	sqe = event_loop_sqe(s->ctx.loop, &s->acc);
	if (!sqe)
		return; /* the next readiness of the listener tries again */
	io_uring_prep_accept(sqe, s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	s->accepting = true;
	s->inflight++;
}

/* The listener is readable (a multishot poll of the loop's): accept on the ring. */
static void listen_ready(void *opaque)
{
	struct vsock *dev = opaque;

	if (dev->s)
		accept_next(dev->s);
}

/* ---- device ops ---- */

static bool dying(struct vsock *dev)
{
	return virtio_dev_dying(dev, dev->dying, &dev->defer, &dev->later);
}

static void deferred(struct ev_defer *d)
{
	struct vsock *dev = CONTAINER(d, struct vsock, defer);
	static const unsigned qs[3] = { VSOCK_RXQ, VSOCK_TXQ, VSOCK_EVQ };
	struct vsock_session *s;
	bool *irq[3];

	if (dying(dev) || !(s = dev->s))
		return;
	irq[0] = &s->rx_irq;
	irq[1] = &s->tx_irq;
	irq[2] = &s->ev_irq;
	for (unsigned i = 0; i < 3; i++) {
		if (!*irq[i])
			continue;
		*irq[i] = false;
		if (virtq_should_interrupt(&s->ctx.vq[qs[i]]))
			s->ctx.interrupt(s->ctx.irq_opaque, qs[i]);
	}
}

static void serve_later(struct ev_defer *d)
{
	struct vsock *dev = CONTAINER(d, struct vsock, later);
	struct vsock_session *s;

	if (dying(dev) || !(s = dev->s))
		return;
	if (s->tx_more) {
		s->tx_more = false;
		tx_run(s);
	}
	if (s->rx_more) {
		s->rx_more = false;
		vsock_rx_run(s);
	}
}

static void acc_cancel_done(struct ev_req *ev, int res);

static void vs_notify(void *opaque, unsigned q)
{
	struct vsock *dev = opaque;
	struct vsock_session *s = dev->s;

	if (!s)
		return;
	if (q == VSOCK_TXQ)
		tx_run(s);
	else if (q == VSOCK_RXQ)
		vsock_rx_run(s);
	else if (q == VSOCK_EVQ)
		ev_run(s);
}

static int vs_activate(void *opaque, const struct virtio_ctx *ctx)
{
	struct vsock *dev = opaque;
	struct vsock_session *s;

	if (dev->s)
		return -EBUSY;
	if (ctx->nvq < 3)
		return -EINVAL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->pool = dev->pool;
	s->ctx = *ctx;
	s->cid = dev->cid;
	s->q_tail = &s->q_head;
	s->listen_fd = dev->listen_fd;
	s->acc.done = accept_done;
	s->acc_cancel.done = acc_cancel_done;
	s->next_port = VSOCK_FIRST_PORT;
	s->watch = event_loop_watch(ctx->loop, dev->listen_fd, listen_ready, dev);
	if (s->watch < 0) {
		int ret = s->watch;

		free(s);
		return ret;
	}
	dev->pool->refs++;
	dev->s = s;
	return 0;
}

static void acc_cancel_done(struct ev_req *ev, int res)
{
	(void)res;
	vsock_session_alive(CONTAINER(ev, struct vsock_session, acc_cancel));
}

static void vs_reset(void *opaque)
{
	struct vsock *dev = opaque;
	struct vsock_session *s = dev->s;

	if (!s)
		return;
	event_loop_unwatch(s->ctx.loop, s->watch);
	while (s->nconns)
		vsock_conn_close(s->conns[0], false);
	dev->s = NULL;
	s->dev = NULL;
	s->resetting = true;
	if (s->accepting) {
		struct io_uring_sqe *sqe = event_loop_sqe(s->ctx.loop, &s->acc_cancel);

		/* Cancel the accept; its own completion (or the cancel's) frees the session. */
		if (sqe) {
			io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->acc, 0);
			s->inflight++;
		}
	}
	if (s->inflight == 0)
		session_free(s);
}

static void vs_destroy(void *opaque)
{
	struct vsock *dev = opaque;

	if (!dev)
		return;
	vs_reset(dev);
	if (dev->listen_fd >= 0) {
		close(dev->listen_fd);
		unlink(dev->uds);
	}
	free(dev->uds);
	vsock_pool_put(dev->pool); /* the detached session may still hold it */
	dev->pool = NULL;
	if (dev->defer.queued || dev->later.queued) {
		dev->dying = true;
		return;
	}
	free(dev);
}

unsigned virtio_vsock_conns(void *opaque)
{
	struct vsock *dev = opaque;

	return dev->s ? dev->s->nconns : 0;
}

uint64_t virtio_vsock_buffered(void *opaque)
{
	struct vsock *dev = opaque;

	return dev->pool ? dev->pool->used : 0;
}

/* Payload is copied on the I/O thread: no SQE ever reads or writes guest memory. */
static unsigned vs_inflight(void *opaque)
{
	(void)opaque;
	return 0;
}

/*
 * The record: u8 active. No chain is ever held between two callbacks, and the connections cannot
 * be saved (their host sockets are not ours to keep): after a restore the guest gets a
 * TRANSPORT_RESET event and resets every socket it had.
 */
static int vs_save(void *opaque, struct sbuf *out)
{
	sbuf_bool(out, ((struct vsock *)opaque)->s != NULL);
	return out->oom ? -ENOMEM : 0;
}

static int vs_restore(void *opaque, struct sreader *in)
{
	struct vsock *dev = opaque;
	bool active = sr_bool(in);

	if (!sr_done(in) || (!active && dev->s))
		return -EINVAL;
	if (dev->s)
		dev->s->ev_reset = true; /* sent when the transport kicks the event queue */
	return 0;
}

static uint64_t vs_features(void *opaque)
{
	(void)opaque;
	return 0; /* stream only: no VIRTIO_VSOCK_F_SEQPACKET */
}

static unsigned vs_num_queues(void *opaque)
{
	(void)opaque;
	return 3;
}

static void vs_config_read(void *opaque, uint32_t off, void *data, uint32_t len)
{
	struct virtio_vsock_config cfg = { .guest_cid = htole64(((struct vsock *)opaque)->cid) };

	memcpy(data, (const uint8_t *)&cfg + off, len);
}

static void vs_config_write(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	(void)opaque, (void)off, (void)data, (void)len; /* read-only */
}

/* Listen on path: a stale socket there goes, any other file is refused. */
static int listen_on(const char *path, const struct vlog *log, int *fd_out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, ret;

	if (!path || !*path || strlen(path) >= sizeof(a.sun_path)) {
		vlog_err(log, "virtio-vsock: the unix socket path must be 1 to %zu bytes", sizeof(a.sun_path) - 1);
		return -EINVAL;
	}
	strcpy(a.sun_path, path);
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			vlog_err(log, "virtio-vsock: '%s' exists and is not a socket", path);
			return -EEXIST;
		}
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		vlog_err(log, "virtio-vsock: cannot create a unix socket: %s", strerror(-ret));
		return ret;
	}
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 128) < 0) {
		ret = -errno;
		vlog_err(log, "virtio-vsock: cannot listen on '%s': %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	*fd_out = fd;
	return 0;
}

int virtio_vsock_create(const struct virtio_vsock_opts *o, const struct vlog *log, void **dev_out)
{
	struct vsock *dev;
	int ret;

	if (!o || o->guest_cid < 3 || o->guest_cid >= 0xffffffffu) {
		vlog_err(log, "virtio-vsock: the guest CID must be 3 to 4294967294");
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev || !(dev->uds = strdup(o->uds ? o->uds : "")) || !(dev->pool = vsock_pool_new())) {
		if (dev)
			free(dev->uds);
		free(dev);
		vlog_err(log, "virtio-vsock: out of memory");
		return -ENOMEM;
	}
	ret = listen_on(o->uds, log, &dev->listen_fd);
	if (ret) {
		vsock_pool_put(dev->pool);
		free(dev->uds);
		free(dev);
		return ret;
	}
	dev->log = log;
	dev->cid = o->guest_cid;
	dev->defer.fn = deferred;
	dev->later.fn = serve_later;
	*dev_out = dev;
	return 0;
}

const struct virtio_device_ops virtio_vsock_ops = {
	.name = "virtio-vsock",
	.device_id = VIRTIO_ID_VSOCK,
	.pci_class = 0x078000, /* communication controller, other */
	.features = vs_features,
	.num_queues = vs_num_queues,
	.queue_max_size = VIRTIO_VSOCK_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_vsock_config),
	.config_read = vs_config_read,
	.config_write = vs_config_write,
	.activate = vs_activate,
	.reset = vs_reset,
	.notify = vs_notify,
	.destroy = vs_destroy,
	.inflight = vs_inflight,
	.save = vs_save,
	.restore = vs_restore,
};
