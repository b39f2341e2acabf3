// SPDX-License-Identifier: Apache-2.0
/* virtio-vsock: one connection between a guest stream socket and a host unix socket. */
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "virtio/vsock_conn.h"

/*
 * Credit (virtio 1.2 section 5.10.6.3): we never send the guest more payload than it advertised
 * (peer_buf_alloc - (tx_cnt - peer_fwd_cnt)); the guest may send us h_win bytes beyond what we have
 * written to the host socket (fwd_cnt): what hbuf holds besides our "OK" line. A guest sending more
 * is reset. A credit update goes out when a quarter of the window was forwarded since the guest last
 * heard our fwd_cnt, or when the guest's view of our free space has fallen under a quarter.
 *
 * Growth (a slow start): h_win starts at VSOCK_WIN_MIN and doubles, up to VIRTIO_VSOCK_BUF, when the
 * guest has used half of it since it last heard our fwd_cnt (and a credit update tells it); gbuf
 * starts at VSOCK_HOSTBUF_MIN and doubles, up to VSOCK_HOSTBUF, when a read left it half full. Both
 * only with the pool's room (see vsock_conn.h) and only while no SQE points into the ring, which is
 * then moved to a larger one. A window is never shrunk: the guest may send what it was told.
 *
 * Ending: the guest's SHUTDOWN SEND shuts the host socket's write side once hbuf is empty; the host
 * socket's end of file becomes SHUTDOWN SEND to the guest once gbuf is empty. When the guest has
 * stopped sending and either stopped receiving or heard our end, the connection is reset (RST to
 * the guest, which Linux waits for) and closed. Errors on the host socket reset it at once.
 */

#define CONTAINER(ptr, type, member) ((type *)(void *)((uint8_t *)(ptr) - offsetof(type, member)))

static void read_done(struct ev_req *ev, int res);
static void write_done(struct ev_req *ev, int res);
static void connect_done(struct ev_req *ev, int res);
static void shut_done(struct ev_req *ev, int res);
static void cancel_done(struct ev_req *ev, int res);

static uint32_t min32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

struct vsock_pool *vsock_pool_new(void)
{
	struct vsock_pool *p = calloc(1, sizeof(*p));

	if (p)
		p->refs = 1;
	return p;
}

void vsock_pool_put(struct vsock_pool *p)
{
	if (p && --p->refs == 0)
		free(p);
}

/* Bytes the pool can give a connection to grow, keeping a floor for each connection not open yet. */
static uint64_t pool_room(const struct vsock_pool *p)
{
	uint64_t keep = 0;

	if (p->conns < VIRTIO_VSOCK_MAX_CONNS)
		keep = (uint64_t)(VIRTIO_VSOCK_MAX_CONNS - p->conns) * VSOCK_CONN_FLOOR;

	return p->used + keep >= VIRTIO_VSOCK_TOTAL_BUF ? 0 : VIRTIO_VSOCK_TOTAL_BUF - p->used - keep;
}

/* Move a ring's len bytes from head (capacity cap) to the start of a new one of new_cap bytes. */
static uint8_t *ring_move(uint8_t *old, uint32_t head, uint32_t len, uint32_t cap, uint32_t new_cap)
{
	uint8_t *p = malloc(new_cap);
	uint32_t first = len < cap - head ? len : cap - head;

	if (!p)
		return NULL;
	if (old) {
		memcpy(p, old + head, first);
		memcpy(p + first, old, len - first);
		free(old);
	}
	return p;
}

/*
 * Double a ring's capacity (*cap, holding the *head/len bytes at *buf when allocated) up to max,
 * within the pool's room, in steps of VSOCK_WIN_MIN; false when it cannot grow now.
 */
static bool ring_grow(struct vsock_pool *p, uint8_t **buf, uint32_t *head, uint32_t len, uint32_t *cap,
		      uint32_t base, uint32_t max)
{
	uint64_t room = pool_room(p), grow = *cap - base;

	if (grow > max - (*cap - base))
		grow = max - (*cap - base);
	if (grow > room)
		grow = room / VSOCK_WIN_MIN * VSOCK_WIN_MIN;
	if (!grow)
		return false;
	if (*buf) {
		uint8_t *n = ring_move(*buf, *head, len, *cap, *cap + (uint32_t)grow);

		if (!n)
			return false;
		*buf = n;
		*head = 0;
	}
	*cap += (uint32_t)grow;
	p->used += grow;
	return true;
}

/*
 * The guest used half its window since it heard our fwd_cnt (and that window): a larger one, told
 * in a credit update.
 */
static void hbuf_grow(struct vsock_conn *c)
{
	if (c->writing || c->h_win >= VIRTIO_VSOCK_BUF || c->win_sent != c->h_win ||
	    c->rx_cnt - c->fwd_sent < c->h_win / 2)
		return;
	if (ring_grow(c->s->pool, &c->hbuf, &c->h_head, c->h_len, &c->h_cap, VSOCK_LINE_MAX, VIRTIO_VSOCK_BUF)) {
		c->h_win = c->h_cap - VSOCK_LINE_MAX;
		c->need_credit = true;
	}
}

static void free_conn(struct vsock_conn *c)
{
	struct vsock_pool *p = c->s->pool;

	if (c->fd >= 0)
		close(c->fd);
	p->used -= c->h_cap + c->g_cap;
	p->conns--;
	free(c->gbuf);
	free(c->hbuf);
	free(c);
}

/* Every completion of c's SQE: false when c is closed (and freed now if it was the last). */
static bool conn_alive(struct vsock_conn *c)
{
	struct vsock_session *s = c->s;

	c->inflight--;
	if (c->closed) {
		if (c->inflight == 0)
			free_conn(c);
		vsock_session_alive(s);
		return false;
	}
	return vsock_session_alive(s);
}

void vsock_conn_hdr(struct vsock_conn *c, struct virtio_vsock_hdr *h, uint16_t op)
{
	memset(h, 0, sizeof(*h));
	h->src_cid = htole64(VSOCK_HOST_CID);
	h->dst_cid = htole64(c->s->cid);
	h->src_port = htole32(c->local_port);
	h->dst_port = htole32(c->peer_port);
	h->type = htole16(VIRTIO_VSOCK_TYPE_STREAM);
	h->op = htole16(op);
	h->buf_alloc = htole32(c->h_win);
	h->fwd_cnt = htole32(c->fwd_cnt);
}

struct vsock_conn *vsock_conn_new(struct vsock_session *s, int fd, enum vsock_state st, uint32_t local,
				  uint32_t peer)
{
	struct vsock_conn *c;

	if (s->nconns >= VIRTIO_VSOCK_MAX_CONNS || s->pool->used + VSOCK_CONN_FLOOR > VIRTIO_VSOCK_TOTAL_BUF)
		return NULL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->h_win = VSOCK_WIN_MIN;
	c->h_cap = VSOCK_WIN_MIN + VSOCK_LINE_MAX;
	c->g_cap = VSOCK_HOSTBUF_MIN;
	s->pool->used += VSOCK_CONN_FLOOR;
	s->pool->conns++;
	c->s = s;
	c->fd = fd;
	c->state = st;
	c->local_port = local;
	c->peer_port = peer;
	c->rd.done = read_done;
	c->wr.done = write_done;
	c->cn.done = connect_done;
	c->sh.done = shut_done;
	c->cancel.done = cancel_done;
	c->idx = s->nconns;
	s->conns[s->nconns++] = c;
	return c;
}

struct vsock_conn *vsock_conn_find(struct vsock_session *s, uint32_t local, uint32_t peer)
{
	for (unsigned i = 0; i < s->nconns; i++) {
		struct vsock_conn *c = s->conns[i];

		if (c->local_port == local && c->peer_port == peer && c->state != CONN_LINE)
			return c;
	}
	return NULL;
}

static void unqueue(struct vsock_conn *c)
{
	struct vsock_session *s = c->s;
	struct vsock_conn **p = &s->q_head;

	if (!c->queued)
		return;
	while (*p && *p != c)
		p = &(*p)->next_q;
	if (*p) {
		*p = c->next_q;
		if (s->q_tail == &c->next_q)
			s->q_tail = p;
	}
	c->queued = false;
	c->next_q = NULL;
}

void vsock_conn_close(struct vsock_conn *c, bool rst)
{
	struct vsock_session *s = c->s;
	struct io_uring_sqe *sqe;

	if (c->closed)
		return;
	if (rst && c->state != CONN_LINE) {
		struct virtio_vsock_hdr h;

		vsock_conn_hdr(c, &h, VIRTIO_VSOCK_OP_RST);
		vsock_ctl_push(s, &h);
	}
	unqueue(c);
	c->closed = true;
	s->conns[c->idx] = s->conns[--s->nconns];
	s->conns[c->idx]->idx = c->idx;
	if (rst)
		vsock_rx_run(s); /* the RST goes out now (inside the rx queue's own run: in its turn) */
	if (c->inflight == 0) {
		free_conn(c);
		return;
	}
	/*
	 * Wake what waits on the socket: a pending recv ends with 0, a send with -EPIPE. A connect is
	 * cancelled (the ring may be full: then it ends with its own timeout or result).
	 */
	if (c->fd >= 0)
		shutdown(c->fd, SHUT_RDWR);
	sqe = event_loop_sqe(s->ctx.loop, &c->cancel);
	if (sqe) {
		io_uring_prep_cancel_fd(sqe, c->fd, IORING_ASYNC_CANCEL_ALL);
		c->inflight++;
		s->inflight++;
	}
}

static void cancel_done(struct ev_req *ev, int res)
{
	(void)res;
	conn_alive(CONTAINER(ev, struct vsock_conn, cancel));
}

/* The guest's idea of the credit we give: it owes us a credit update now? */
static void credit_check(struct vsock_conn *c)
{
	uint32_t fresh = c->fwd_cnt - c->fwd_sent;
	uint32_t guest_free = c->h_win - (c->rx_cnt - c->fwd_sent);

	if (fresh && (fresh >= c->h_win / 4 || guest_free < c->h_win / 4))
		c->need_credit = true;
}

static uint32_t peer_credit(const struct vsock_conn *c)
{
	uint32_t used = c->tx_cnt - c->peer_fwd_cnt;

	return used > c->peer_buf_alloc ? 0 : c->peer_buf_alloc - used;
}

bool vsock_conn_has_pkt(const struct vsock_conn *c)
{
	if (c->closed)
		return false;
	if (c->need_request || c->need_response || c->need_credit || c->need_shutdown)
		return true;
	return c->state == CONN_ESTABLISHED && c->g_len && !c->guest_no_recv && peer_credit(c) > 0;
}

/* Both ways are over: RST the guest and close. */
static bool check_done(struct vsock_conn *c)
{
	if (c->state != CONN_ESTABLISHED || c->h_len || !c->guest_eof)
		return false;
	if (!c->guest_no_recv && !(c->host_eof && c->eof_sent))
		return false;
	vsock_conn_close(c, true);
	return true;
}

static void shut_done(struct ev_req *ev, int res)
{
	(void)res;
	conn_alive(CONTAINER(ev, struct vsock_conn, sh));
}

void vsock_conn_kick(struct vsock_conn *c)
{
	struct vsock_session *s = c->s;

	if (c->closed)
		return;
	if (c->state == CONN_ESTABLISHED && c->host_eof && !c->g_len && !c->eof_sent && !c->guest_no_recv)
		c->need_shutdown = true;
	if (c->state == CONN_ESTABLISHED && c->guest_eof && !c->h_len && !c->host_wr_shut) {
		struct io_uring_sqe *sqe = event_loop_sqe(s->ctx.loop, &c->sh);

		if (sqe) { /* else at the next kick */
			io_uring_prep_shutdown(sqe, c->fd, SHUT_WR);
			c->host_wr_shut = true;
			c->inflight++;
			s->inflight++;
		}
	}
	if (check_done(c))
		return;
	if (!c->queued && vsock_conn_has_pkt(c)) {
		c->queued = true;
		c->next_q = NULL;
		*s->q_tail = c;
		s->q_tail = &c->next_q;
	}
	vsock_rx_run(s);
}

/* ---- host -> guest ---- */

void vsock_conn_read(struct vsock_conn *c)
{
	struct io_uring_sqe *sqe;
	uint8_t *p;
	uint32_t n;

	if (c->closed || c->reading || c->host_eof)
		return;
	if (c->state == CONN_LINE) {
		p = (uint8_t *)c->line + c->line_len;
		n = 1; /* byte by byte: nothing after the newline is taken before the guest answered */
	} else if (c->state == CONN_ESTABLISHED) {
		uint32_t tail;

		if (c->guest_no_recv || c->g_len == c->g_cap)
			return;
		if (!c->gbuf && !(c->gbuf = malloc(c->g_cap)))
			return;
		tail = (c->g_head + c->g_len) % c->g_cap;
		p = c->gbuf + tail;
		n = min32(c->g_cap - c->g_len, c->g_cap - tail);
	} else {
		return;
	}
	sqe = event_loop_sqe(c->s->ctx.loop, &c->rd);
	if (!sqe)
		return; /* the ring is full: the next completion of ours tries again */
	io_uring_prep_recv(sqe, c->fd, p, n, 0);
	c->reading = true;
	c->inflight++;
	c->s->inflight++;
}

/* "CONNECT <port>\n" is complete in c->line: send the guest a REQUEST. */
static void line_done(struct vsock_conn *c)
{
	struct vsock_session *s = c->s;
	char *end;
	unsigned long port;

	c->line[c->line_len - 1] = '\0';
	if (c->line_len > 1 && c->line[c->line_len - 2] == '\r')
		c->line[c->line_len - 2] = '\0';
	if (strncmp(c->line, "CONNECT ", 8) != 0 || c->line[8] < '0' || c->line[8] > '9') {
		vsock_conn_close(c, false);
		return;
	}
	errno = 0;
	port = strtoul(c->line + 8, &end, 10);
	if (errno || *end || port > UINT32_MAX) {
		vsock_conn_close(c, false);
		return;
	}
	/* A fresh host port, unused by any connection. */
	for (unsigned tries = 0;; tries++) {
		bool used = false;

		if (tries > VIRTIO_VSOCK_MAX_CONNS) {
			vsock_conn_close(c, false);
			return;
		}
		if (s->next_port < VSOCK_FIRST_PORT || s->next_port == UINT32_MAX)
			s->next_port = VSOCK_FIRST_PORT;
		c->local_port = s->next_port++;
		for (unsigned i = 0; i < s->nconns && !used; i++)
			used = s->conns[i] != c && s->conns[i]->local_port == c->local_port;
		if (!used)
			break;
	}
	c->peer_port = (uint32_t)port;
	c->state = CONN_REQ_SENT;
	c->need_request = true;
	vsock_conn_read(c);
	vsock_conn_kick(c);
}

static void read_done(struct ev_req *ev, int res)
{
	struct vsock_conn *c = CONTAINER(ev, struct vsock_conn, rd);

	c->reading = false;
	if (!conn_alive(c))
		return;
	if (res < 0 && res != -EAGAIN && res != -EINTR) {
		vsock_conn_close(c, c->state != CONN_LINE);
		return;
	}
	if (c->state == CONN_LINE) {
		if (res <= 0) {
			vsock_conn_close(c, false);
			return;
		}
		c->line_len++;
		if (c->line[c->line_len - 1] == '\n') {
			line_done(c);
			return;
		}
		if (c->line_len == VSOCK_LINE_MAX) {
			vsock_conn_close(c, false);
			return;
		}
		vsock_conn_read(c);
		return;
	}
	if (res == 0) {
		c->host_eof = true;
	} else if (res > 0) {
		c->g_len += (uint32_t)res;
		if (c->g_len >= c->g_cap / 2 && c->g_cap < VSOCK_HOSTBUF) /* no recv in flight: it may move */
			ring_grow(c->s->pool, &c->gbuf, &c->g_head, c->g_len, &c->g_cap, 0, VSOCK_HOSTBUF);
		vsock_conn_read(c);
	} else {
		vsock_conn_read(c);
	}
	vsock_conn_kick(c);
}

/* ---- guest -> host ---- */

static void send_run(struct vsock_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->closed || c->writing || !c->h_len)
		return;
	sqe = event_loop_sqe(c->s->ctx.loop, &c->wr);
	if (!sqe)
		return;
	io_uring_prep_send(sqe, c->fd, c->hbuf + c->h_head, min32(c->h_len, c->h_cap - c->h_head), MSG_NOSIGNAL);
	c->writing = true;
	c->inflight++;
	c->s->inflight++;
}

static void write_done(struct ev_req *ev, int res)
{
	struct vsock_conn *c = CONTAINER(ev, struct vsock_conn, wr);
	uint32_t n, ours;

	c->writing = false;
	if (!conn_alive(c))
		return;
	if (res == -EAGAIN || res == -EINTR) {
		send_run(c);
		return;
	}
	if (res <= 0) {
		vsock_conn_close(c, true);
		return;
	}
	n = min32((uint32_t)res, c->h_len);
	c->h_head = (c->h_head + n) % c->h_cap;
	c->h_len -= n;
	ours = min32(n, c->h_prefix);
	c->h_prefix -= ours;
	c->fwd_cnt += n - ours;
	hbuf_grow(c);
	credit_check(c);
	send_run(c);
	vsock_conn_kick(c);
}

/* Append len payload bytes from iov (after the header) to hbuf. */
static void hbuf_put(struct vsock_conn *c, const struct iovec *iov, unsigned niov, uint64_t off, uint32_t len)
{
	while (len) {
		uint32_t tail = (c->h_head + c->h_len) % c->h_cap;
		uint32_t k = min32(len, c->h_cap - tail);

		k = virtq_iov_from(iov, niov, off, c->hbuf + tail, k);
		if (!k)
			break;
		c->h_len += k;
		off += k;
		len -= k;
	}
}

static void connect_done(struct ev_req *ev, int res)
{
	struct vsock_conn *c = CONTAINER(ev, struct vsock_conn, cn);

	if (!conn_alive(c))
		return;
	if (res < 0) {
		vsock_conn_close(c, true); /* refused: nobody listens at <uds>_<port> */
		return;
	}
	c->state = CONN_ESTABLISHED;
	c->need_response = true;
	vsock_conn_read(c);
	vsock_conn_kick(c);
}

void vsock_conn_connect(struct vsock_conn *c)
{
	struct io_uring_sqe *sqe;
	int n;

	c->addr.sun_family = AF_UNIX;
	n = snprintf(c->addr.sun_path, sizeof(c->addr.sun_path), "%s_%u", vsock_uds(c->s), c->local_port);
	if (n < 0 || (size_t)n >= sizeof(c->addr.sun_path)) {
		vsock_conn_close(c, true);
		return;
	}
	sqe = event_loop_sqe(c->s->ctx.loop, &c->cn);
	if (!sqe) {
		vsock_conn_close(c, true);
		return;
	}
	io_uring_prep_connect(sqe, c->fd, (const struct sockaddr *)&c->addr, sizeof(c->addr));
	c->inflight++;
	c->s->inflight++;
}

void vsock_conn_packet(struct vsock_conn *c, const struct virtio_vsock_hdr *h, const struct iovec *iov,
		       unsigned niov)
{
	uint16_t op = le16toh(h->op);
	uint32_t len = le32toh(h->len), flags = le32toh(h->flags);

	c->peer_buf_alloc = le32toh(h->buf_alloc);
	c->peer_fwd_cnt = le32toh(h->fwd_cnt);
	switch (op) {
	case VIRTIO_VSOCK_OP_RESPONSE:
		if (c->state != CONN_REQ_SENT) {
			vsock_conn_close(c, true);
			return;
		}
		if (!c->hbuf && !(c->hbuf = malloc(c->h_cap))) {
			vsock_conn_close(c, true);
			return;
		}
		c->state = CONN_ESTABLISHED;
		c->h_len = (uint32_t)snprintf((char *)c->hbuf, VSOCK_LINE_MAX, "OK %u\n", c->local_port);
		c->h_prefix = c->h_len;
		send_run(c);
		vsock_conn_read(c);
		break;
	case VIRTIO_VSOCK_OP_RST:
		vsock_conn_close(c, false);
		return;
	case VIRTIO_VSOCK_OP_SHUTDOWN:
		if (c->state != CONN_ESTABLISHED) {
			vsock_conn_close(c, true);
			return;
		}
		if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV) {
			c->guest_no_recv = true;
			c->g_len = 0; /* the guest takes no more: what we hold for it goes */
			c->need_shutdown = false;
		}
		if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
			c->guest_eof = true;
		break;
	case VIRTIO_VSOCK_OP_RW:
		if (c->state != CONN_ESTABLISHED || c->guest_eof ||
		    (c->rx_cnt - c->fwd_cnt) + (uint64_t)len > c->h_win) {
			vsock_guest_warn(c->s, "data beyond the connection's state or credit: reset");
			vsock_conn_close(c, true);
			return;
		}
		if (!c->hbuf && !(c->hbuf = malloc(c->h_cap))) {
			vsock_conn_close(c, true);
			return;
		}
		hbuf_put(c, iov, niov, VSOCK_HDR, len);
		c->rx_cnt += len;
		hbuf_grow(c);
		send_run(c);
		break;
	case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
		break;
	case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
		c->need_credit = true;
		break;
	default: /* REQUEST on a live connection, unknown ops */
		vsock_guest_warn(c->s, "unexpected op %u on a connection: reset", op);
		vsock_conn_close(c, true);
		return;
	}
	vsock_conn_kick(c);
}

uint32_t vsock_conn_fill(struct vsock_conn *c, const struct iovec *iov, unsigned niov, uint64_t room)
{
	struct virtio_vsock_hdr h;
	uint32_t n = 0;

	if (c->need_request) {
		c->need_request = false;
		vsock_conn_hdr(c, &h, VIRTIO_VSOCK_OP_REQUEST);
	} else if (c->need_response) {
		c->need_response = false;
		vsock_conn_hdr(c, &h, VIRTIO_VSOCK_OP_RESPONSE);
	} else if (c->state == CONN_ESTABLISHED && c->g_len && !c->guest_no_recv && peer_credit(c) &&
		   room > VSOCK_HDR) {
		uint32_t first;

		n = min32(c->g_len, peer_credit(c));
		n = min32(n, room - VSOCK_HDR);
		n = min32(n, VSOCK_MAX_PKT);
		first = min32(n, c->g_cap - c->g_head);
		virtq_iov_to(iov, niov, VSOCK_HDR, c->gbuf + c->g_head, first);
		virtq_iov_to(iov, niov, VSOCK_HDR + first, c->gbuf, n - first);
		c->g_head = (c->g_head + n) % c->g_cap;
		c->g_len -= n;
		c->tx_cnt += n;
		vsock_conn_hdr(c, &h, VIRTIO_VSOCK_OP_RW);
		h.len = htole32(n);
		vsock_conn_read(c); /* room again */
	} else if (c->need_shutdown) {
		c->need_shutdown = false;
		c->eof_sent = true;
		vsock_conn_hdr(c, &h, VIRTIO_VSOCK_OP_SHUTDOWN);
		h.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_SEND);
	} else {
		vsock_conn_hdr(c, &h, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	}
	c->need_credit = false; /* every packet carries our credit */
	c->fwd_sent = c->fwd_cnt;
	c->win_sent = c->h_win;
	virtq_iov_to(iov, niov, 0, &h, VSOCK_HDR);
	return VSOCK_HDR + n;
}

