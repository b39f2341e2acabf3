// SPDX-License-Identifier: Apache-2.0
/* A virtio-net backend on a unix stream socket, QEMU "stream" framing, io_uring on the I/O thread. */
#include "net_stream.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "event_loop.h"

/*
 * RX: one POLL_ADD (POLLIN) or one read in flight into rx[rx_end..); as in the tap's path a read is
 * issued only after the poll said readable (or the last read filled its room), so what waits is a
 * poll, which stop() cancels reliably. Bytes [rx_start, rx_end) are undelivered: the frames in
 * [rx_start, rx_scan) have checked lengths and are complete; the rest is a partial frame. When
 * the buffer is full of frames the guest has not taken, no read is posted: the peer's writes wait
 * in the socket (backpressure), and rx_consume() resumes.
 *
 * TX: tx is a ring of framed bytes [tx_head, tx_head + tx_len); one SEND (MSG_NOSIGNAL) of
 * what is there (its contiguous part), or its POLL_ADD (POLLOUT) after -EAGAIN, is in flight. A short send leaves the
 * rest at the head, so frames go out whole and in order, never interleaved. (The ring must allow
 * IORING_OP_SEND: src/event_loop.c's allowed_ops.)
 *
 * Lifetime: close() cancels what is in flight; the last completion frees (as does a queued retry).
 */

#define HDR 4

struct net_stream {
	struct net_backend nb;
	const struct vlog *log;
	int fd;
	struct event_loop *loop;
	struct net_backend_hooks hooks;
	bool hooked, running, down, closing, shut;
	unsigned inflight;
	/* RX */
	struct ev_req rd, rd_cancel;
	bool rd_busy, rd_polling, rd_readable;
	uint8_t *rx;
	size_t rx_start, rx_scan, rx_end, rx_want;
	/* TX */
	struct ev_req wr, wr_cancel;
	bool wr_busy, wr_polling, tx_blocked;
	uint8_t *tx;
	size_t tx_head, tx_len;
	/* A submission that found the ring full, retried on the loop's next turn. */
	struct ev_defer retry;
	bool retry_rd, retry_wr, retry_cancel;
};

#define CONTAINER(ptr, type, member) ((type *)(void *)((uint8_t *)(ptr) - offsetof(type, member)))

static struct net_stream *ns_of(struct net_backend *b)
{
	return CONTAINER(b, struct net_stream, nb);
}

static uint32_t be32_at(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void ns_free(struct net_stream *s)
{
	if (s->fd >= 0)
		close(s->fd);
	free(s->rx);
	free(s->tx);
	free(s);
}

/* Called after each completion while closing: free once nothing refers to s any more. */
static bool ns_gone(struct net_stream *s)
{
	if (!s->closing)
		return false;
	if (s->inflight == 0 && !s->retry.queued)
		ns_free(s);
	return true;
}

static void link_down(struct net_stream *s, const char *fmt, const char *why)
{
	if (s->down)
		return;
	s->down = true;
	vlog_warn(s->log, "virtio-net '%s': %s%s; the link is down", s->nb.name, fmt, why);
	/* Waiting polls end (POLLHUP), and the peer learns we are gone. */
	shutdown(s->fd, SHUT_RDWR);
	if (!s->wr_busy)
		s->tx_len = 0;
	if (s->hooked)
		s->hooks.link(s->hooks.opaque, false);
}

static struct io_uring_sqe *sqe_or_retry(struct net_stream *s, struct ev_req *req, bool *retry)
{
	struct io_uring_sqe *sqe = event_loop_sqe(s->loop, req);

	if (!sqe) {
		*retry = true;
		event_loop_later(s->loop, &s->retry);
		return NULL;
	}
	s->inflight++;
	return sqe;
}

/* Check the lengths of every frame that is complete in the buffer; a bad one takes the link down. */
static void rx_check(struct net_stream *s)
{
	while (s->rx_end - s->rx_scan >= HDR) {
		uint32_t len = be32_at(s->rx + s->rx_scan);

		if (len == 0 || len > NET_STREAM_MAX_FRAME) {
			char why[48];

			snprintf(why, sizeof(why), "%u", len);
			s->rx_end = s->rx_scan; /* what follows is not frames */
			link_down(s, "the peer sent a frame length of ", why);
			return;
		}
		if (s->rx_end - s->rx_scan < HDR + (size_t)len)
			return;
		s->rx_scan += HDR + len;
	}
}

static void rx_arm(struct net_stream *s)
{
	struct io_uring_sqe *sqe;

	if (!s->running || s->down || s->rd_busy || s->closing)
		return;
	if (s->rx_start == s->rx_end)
		s->rx_start = s->rx_scan = s->rx_end = 0;
	if (NET_STREAM_BUF - s->rx_end < HDR + NET_STREAM_MAX_FRAME && s->rx_start > 0) {
		/* Room for a whole frame at the end: slide the undelivered bytes to the front. */
		memmove(s->rx, s->rx + s->rx_start, s->rx_end - s->rx_start);
		s->rx_end -= s->rx_start;
		s->rx_scan -= s->rx_start;
		s->rx_start = 0;
	}
	if (s->rx_end == NET_STREAM_BUF)
		return; /* full of frames the guest has not taken: rx_consume() comes back */
	sqe = sqe_or_retry(s, &s->rd, &s->retry_rd);
	if (!sqe)
		return;
	s->rd_polling = !s->rd_readable;
	if (s->rd_polling) {
		io_uring_prep_poll_add(sqe, s->fd, POLLIN);
	} else {
		s->rx_want = NET_STREAM_BUF - s->rx_end;
		io_uring_prep_read(sqe, s->fd, s->rx + s->rx_end, (unsigned)s->rx_want, 0);
	}
	s->rd_busy = true;
}

static void rd_done(struct ev_req *ev, int res)
{
	struct net_stream *s = CONTAINER(ev, struct net_stream, rd);
	bool poll = s->rd_polling;

	s->inflight--;
	s->rd_busy = s->rd_polling = false;
	if (ns_gone(s))
		return;
	if (poll) {
		if (res > 0)
			s->rd_readable = true; /* POLLIN or POLLHUP/POLLERR: the read tells which */
		if (res == -ECANCELED || res == -EINTR || res > 0)
			rx_arm(s);
		else
			link_down(s, "cannot poll the socket: ", strerror(-res));
		return;
	}
	if (res == -EAGAIN || res == -EINTR || res == -ECANCELED) {
		s->rd_readable = false;
		rx_arm(s);
		return;
	}
	if (res <= 0) {
		link_down(s, res == 0 ? "the peer closed the connection" : "cannot read the socket: ",
			  res == 0 ? "" : strerror(-res));
		return;
	}
	s->rd_readable = (size_t)res == s->rx_want; /* it filled the room: more may wait */
	s->rx_end += (size_t)res;
	rx_check(s);
	if (s->rx_scan > s->rx_start && s->hooked)
		s->hooks.wake(s->hooks.opaque);
	rx_arm(s);
}

static void tx_arm(struct net_stream *s)
{
	struct io_uring_sqe *sqe;
	size_t first;

	if (!s->running || s->down || s->wr_busy || s->closing || s->tx_len == 0)
		return;
	sqe = sqe_or_retry(s, &s->wr, &s->retry_wr);
	if (!sqe)
		return;
	if (s->wr_polling) {
		io_uring_prep_poll_add(sqe, s->fd, POLLOUT);
	} else {
		/* What lies contiguous at the head (a wrapped rest goes with the next send). */
		first = NET_STREAM_BUF - s->tx_head;
		if (first > s->tx_len)
			first = s->tx_len;
		/* SEND, not WRITE: MSG_NOSIGNAL, so a peer gone away is -EPIPE and never a SIGPIPE. */
		io_uring_prep_send(sqe, s->fd, s->tx + s->tx_head, first, MSG_NOSIGNAL | MSG_DONTWAIT);
	}
	s->wr_busy = true;
}

static bool room(const struct net_stream *s)
{
	return NET_STREAM_BUF - s->tx_len >= HDR + NET_STREAM_MAX_FRAME;
}

static void wr_done(struct ev_req *ev, int res)
{
	struct net_stream *s = CONTAINER(ev, struct net_stream, wr);

	s->inflight--;
	s->wr_busy = false;
	if (ns_gone(s))
		return;
	if (s->down) {
		s->tx_len = 0;
	} else if (s->wr_polling) {
		s->wr_polling = false; /* whatever the poll says, the send tells */
		if (res < 0 && res != -ECANCELED && res != -EINTR)
			link_down(s, "cannot poll the socket: ", strerror(-res));
	} else if (res == -EAGAIN) {
		s->wr_polling = true;
	} else if (res < 0 && res != -EINTR && res != -ECANCELED) {
		link_down(s, "cannot write to the socket: ", strerror(-res));
	} else if (res > 0) {
		s->tx_head = (s->tx_head + (size_t)res) % NET_STREAM_BUF;
		s->tx_len -= (size_t)res;
		if (s->tx_len == 0)
			s->tx_head = 0;
	}
	if (s->tx_blocked && (room(s) || s->down) && s->hooked) {
		s->tx_blocked = false;
		s->hooks.wake(s->hooks.opaque);
	}
	tx_arm(s);
}

static void cancel_done(struct ev_req *ev, int res)
{
	struct net_stream *s = CONTAINER(ev, struct net_stream, rd_cancel);

	(void)res;
	s->inflight--;
	ns_gone(s);
}

static void wr_cancel_done(struct ev_req *ev, int res)
{
	struct net_stream *s = CONTAINER(ev, struct net_stream, wr_cancel);

	(void)res;
	s->inflight--;
	ns_gone(s);
}

/* Cancel what waits on the peer: the read (or its poll) and a write's poll. */
static void cancel_waits(struct net_stream *s)
{
	struct io_uring_sqe *sqe;

	s->retry_cancel = false;
	if (s->rd_busy) {
		sqe = sqe_or_retry(s, &s->rd_cancel, &s->retry_cancel);
		if (!sqe)
			return;
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->rd, 0);
	}
	if (s->wr_busy) {
		sqe = sqe_or_retry(s, &s->wr_cancel, &s->retry_cancel);
		if (!sqe)
			return;
		io_uring_prep_cancel64(sqe, (uint64_t)(uintptr_t)&s->wr, 0);
	}
}

static void retry_fn(struct ev_defer *d)
{
	struct net_stream *s = CONTAINER(d, struct net_stream, retry);

	if (s->retry_cancel && !s->running)
		cancel_waits(s); /* before ns_gone(): a closing backend still waits for its cancels */
	if (ns_gone(s))
		return;
	if (s->retry_rd) {
		s->retry_rd = false;
		rx_arm(s);
	}
	if (s->retry_wr) {
		s->retry_wr = false;
		tx_arm(s);
	}
}

static int ns_start(struct net_backend *b, struct event_loop *loop, const struct net_backend_hooks *h)
{
	struct net_stream *s = ns_of(b);

	s->loop = loop;
	s->hooks = *h;
	s->hooked = true;
	s->running = true;
	if (s->down) {
		s->hooks.link(s->hooks.opaque, false);
		return 0;
	}
	rx_arm(s);
	tx_arm(s);
	return 0;
}

static void ns_stop(struct net_backend *b)
{
	struct net_stream *s = ns_of(b);

	s->running = false;
	if (s->loop)
		cancel_waits(s);
}

static size_t ns_rx_peek(struct net_backend *b, const uint8_t **data)
{
	struct net_stream *s = ns_of(b);

	if (s->rx_scan == s->rx_start)
		return 0;
	*data = s->rx + s->rx_start + HDR;
	return be32_at(s->rx + s->rx_start);
}

static void ns_rx_consume(struct net_backend *b)
{
	struct net_stream *s = ns_of(b);

	if (s->rx_scan == s->rx_start)
		return;
	s->rx_start += HDR + be32_at(s->rx + s->rx_start);
	rx_arm(s); /* it may have stopped for room */
}

static bool ns_tx_room(struct net_backend *b)
{
	struct net_stream *s = ns_of(b);

	if (s->down || room(s))
		return true;
	s->tx_blocked = true; /* the next send completion wakes the device */
	return false;
}

static int ns_tx_write(struct net_backend *b, const struct iovec *iov, unsigned niov, size_t skip)
{
	struct net_stream *s = ns_of(b);
	size_t len = 0, at;
	uint8_t hdr[HDR];

	for (unsigned i = 0; i < niov; i++)
		len += iov[i].iov_len; /* each at most the chain's bounded length: no overflow */
	if (s->down)
		return -ENOTCONN;
	if (len <= skip || len - skip > NET_STREAM_MAX_FRAME)
		return -EMSGSIZE;
	len -= skip;
	if (NET_STREAM_BUF - s->tx_len < HDR + len)
		return -ENOBUFS;
	hdr[0] = (uint8_t)(len >> 24);
	hdr[1] = (uint8_t)(len >> 16);
	hdr[2] = (uint8_t)(len >> 8);
	hdr[3] = (uint8_t)len;
	at = (s->tx_head + s->tx_len) % NET_STREAM_BUF;
	for (unsigned i = 0; i < HDR; i++) {
		s->tx[at] = hdr[i];
		at = (at + 1) % NET_STREAM_BUF;
	}
	for (unsigned i = 0; i < niov; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t n = iov[i].iov_len;

		if (skip >= n) {
			skip -= n;
			continue;
		}
		p += skip;
		n -= skip;
		skip = 0;
		while (n) {
			size_t k = NET_STREAM_BUF - at < n ? NET_STREAM_BUF - at : n;

			memcpy(s->tx + at, p, k);
			p += k;
			n -= k;
			at = (at + k) % NET_STREAM_BUF;
		}
	}
	s->tx_len += HDR + len;
	tx_arm(s);
	return 0;
}

static bool ns_link_up(struct net_backend *b)
{
	return !ns_of(b)->down;
}

static void ns_close(struct net_backend *b)
{
	struct net_stream *s = ns_of(b);

	if (s->running)
		ns_stop(b);
	s->closing = true;
	s->hooked = false;
	if (s->inflight == 0 && !s->retry.queued)
		ns_free(s);
}

static const struct net_backend_ops net_stream_ops = {
	.fd = net_backend_no_fd,
	.start = ns_start,
	.stop = ns_stop,
	.rx_peek = ns_rx_peek,
	.rx_consume = ns_rx_consume,
	.tx_room = ns_tx_room,
	.tx_write = ns_tx_write,
	.link_up = ns_link_up,
	.close = ns_close,
};

int net_stream_from_fd(int fd, const char *name, const struct vlog *log, struct net_backend **out)
{
	struct net_stream *s = calloc(1, sizeof(*s));
	int fl;

	*out = NULL;
	if (s) {
		s->rx = malloc(NET_STREAM_BUF);
		s->tx = malloc(NET_STREAM_BUF);
	}
	if (!s || !s->rx || !s->tx) {
		if (s) {
			s->fd = -1;
			ns_free(s);
		}
		close(fd);
		return -ENOMEM;
	}
	s->fd = fd;
	fl = fcntl(fd, F_GETFL);
	if (fl >= 0)
		fcntl(fd, F_SETFL, fl | O_NONBLOCK);
	s->log = log;
	s->nb.ops = &net_stream_ops;
	snprintf(s->nb.name, sizeof(s->nb.name), "%s", name);
	s->nb.nqueues = 1;
	s->nb.offloads = 0; /* plain Ethernet frames: no checksum or segmentation offload */
	s->rd.done = rd_done;
	s->wr.done = wr_done;
	s->rd_cancel.done = cancel_done;
	s->wr_cancel.done = wr_cancel_done;
	s->retry.fn = retry_fn;
	*out = &s->nb;
	return 0;
}

int net_stream_open(const char *path, const struct vlog *log, struct net_backend **out)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char name[sizeof(sa.sun_path) + 8];
	int fd, ret;

	*out = NULL;
	if (!path || !*path || strlen(path) >= sizeof(sa.sun_path)) {
		vlog_err(log, "net stream: the socket path '%s' is empty or longer than %zu characters", path ? path : "",
			 sizeof(sa.sun_path) - 1);
		return -EINVAL;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		vlog_err(log, "cannot create a unix socket for '%s': %s", path, strerror(-ret));
		return ret;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		ret = -errno;
		vlog_err(log, "cannot connect to the network socket '%s': %s", path, strerror(-ret));
		close(fd);
		return ret;
	}
	snprintf(name, sizeof(name), "stream %s", path);
	return net_stream_from_fd(fd, name, log, out);
}
