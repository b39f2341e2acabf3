/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-vsock internals shared by vsock.c (the device: queues, packets from the guest) and
 * vsock_conn.c (a connection: its host unix socket, buffers and credit).
 *
 * A "session" is one activation of the device: reset() detaches it, closes every connection (each
 * host socket is shut down so its pending recv/send completes, and connects are cancelled) and the
 * last completion of its SQEs frees it. No SQE ever points into guest memory: payload is copied
 * between the chains and per-connection buffers on the I/O thread, so nothing is "in flight" for a
 * snapshot.
 *
 * Bounds: at most VIRTIO_VSOCK_MAX_CONNS connections. Per connection, a ring for the guest's data
 * of its window (the credit, buf_alloc, we advertise: a guest that sends more is reset) plus
 * VSOCK_LINE_MAX, and a ring of read-ahead from the host socket; both start at VSOCK_WIN_MIN and
 * VSOCK_HOSTBUF_MIN and double, while the connection is busy, up to VIRTIO_VSOCK_BUF and
 * VSOCK_HOSTBUF. A window never shrinks (the guest may use what it was once told at any time), and
 * the rings are allocated lazily at their capacity. Every capacity is accounted in the device's
 * pool (struct vsock_pool, shared by its sessions, so connections of a session that a reset
 * detached still count until freed) before it is advertised or allocated: the total stays at most
 * VIRTIO_VSOCK_TOTAL_BUF. A new connection takes VSOCK_CONN_FLOOR (refused, RST, when even that
 * would pass the total); growth leaves a floor for every connection not yet opened, so below the
 * connection limit a connection is refused only while a reset's leftovers are being freed. Replies
 * that belong to no connection (RSTs) wait in a fixed ring, and the tx queue is not served while
 * it is nearly full. Outside the total: the fixed structures (a struct vsock_conn per connection,
 * about 0.4 KiB, the session with its reply ring, about 60 KiB).
 */
#ifndef VMM_VIRTIO_VSOCK_CONN_H
#define VMM_VIRTIO_VSOCK_CONN_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#include "virtio/vsock.h"

#define VSOCK_RXQ 0
#define VSOCK_TXQ 1
#define VSOCK_EVQ 2
#define VSOCK_HOST_CID 2
#define VSOCK_HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define VSOCK_MAX_PKT (64u << 10)      /* payload of one packet, either way */
#define VSOCK_HOSTBUF (64u << 10)      /* bytes read from a host socket, waiting for the guest */
#define VSOCK_WIN_MIN (4u << 10)       /* a connection's first window (credit) */
#define VSOCK_HOSTBUF_MIN (4u << 10)   /* ... and read-ahead ring */
#define VSOCK_LINE_MAX 32              /* "CONNECT <port>\n" */
#define VSOCK_CTL_MAX (VIRTIO_VSOCK_MAX_CONNS + 256)
#define VSOCK_CTL_TX_LIMIT 256          /* the tx queue waits while this many replies wait */
#define VSOCK_FIRST_PORT 1024u
#define VSOCK_CONN_FLOOR (VSOCK_WIN_MIN + VSOCK_LINE_MAX + VSOCK_HOSTBUF_MIN) /* accounted at creation */

/* Every connection can have its floor, and one of them its full size besides. */
_Static_assert((uint64_t)VIRTIO_VSOCK_MAX_CONNS * VSOCK_CONN_FLOOR + VIRTIO_VSOCK_BUF + VSOCK_HOSTBUF <=
		       VIRTIO_VSOCK_TOTAL_BUF,
	       "VIRTIO_VSOCK_TOTAL_BUF too small");

/* The buffer accounting of one device, shared by its sessions (I/O thread; freed at the last put). */
struct vsock_pool {
	unsigned refs;
	unsigned conns;             /* connections accounted (those of detached sessions included) */
	uint64_t used;              /* bytes of their rings' capacities */
};

enum vsock_state {
	CONN_LINE,        /* host-initiated: reading "CONNECT <port>\n" */
	CONN_REQ_SENT,    /* host-initiated: REQUEST to the guest, waiting for RESPONSE / RST */
	CONN_CONNECTING,  /* guest-initiated: connect to "<uds>_<port>" in flight */
	CONN_ESTABLISHED,
};

struct vsock_session;

struct vsock_conn {
	struct vsock_session *s;
	int fd;
	enum vsock_state state;
	uint32_t local_port; /* the host side's port */
	uint32_t peer_port;  /* the guest's */
	unsigned idx;        /* in s->conns while not closed */
	bool closed;         /* off the table; freed when its last SQE completed */
	unsigned inflight;
	struct ev_req rd, wr, cn, sh, cancel;
	bool reading, writing;
	/* Packets owed to the guest (sent from the rx queue in this order, data before SHUTDOWN). */
	bool queued;                /* on s's rx list */
	struct vsock_conn *next_q;
	bool need_request, need_response, need_credit, need_shutdown;
	/* Host -> guest: bytes read from the socket (ring), and the guest's credit. */
	uint8_t *gbuf;              /* g_cap bytes once allocated */
	uint32_t g_head, g_len, g_cap;
	uint32_t tx_cnt;            /* payload bytes sent to the guest */
	uint32_t peer_buf_alloc, peer_fwd_cnt;
	bool host_eof, eof_sent;    /* the host socket ended; the guest was told (SHUTDOWN SEND) */
	bool guest_no_recv;         /* the guest's SHUTDOWN RCV */
	/* Guest -> host: bytes from the guest (ring), "OK <port>\n" first for host-initiated ones. */
	uint8_t *hbuf;              /* h_cap = h_win + VSOCK_LINE_MAX bytes once allocated */
	uint32_t h_head, h_len, h_cap;
	uint32_t h_win;             /* the window (buf_alloc) we advertise: never shrinks */
	uint32_t h_prefix;          /* bytes at the front that are ours, not the guest's */
	uint32_t rx_cnt;            /* payload bytes the guest sent */
	uint32_t fwd_cnt;           /* ... and of them written to the host socket */
	uint32_t fwd_sent;          /* the fwd_cnt the guest last heard */
	uint32_t win_sent;          /* the h_win it last heard (0: none yet) */
	bool guest_eof;             /* the guest's SHUTDOWN SEND */
	bool host_wr_shut;
	char line[VSOCK_LINE_MAX];
	unsigned line_len;
	struct sockaddr_un addr;
};

struct vsock_session {
	struct vsock *dev;          /* NULL once detached (reset) */
	struct vsock_pool *pool;    /* the device's (a reference) */
	struct virtio_ctx ctx;
	uint64_t cid;
	bool resetting;
	unsigned inflight;          /* SQEs of the session (its connections' included) */
	struct vsock_conn *conns[VIRTIO_VSOCK_MAX_CONNS];
	unsigned nconns;
	struct vsock_conn *q_head, **q_tail; /* connections owing the guest a packet */
	struct virtio_vsock_hdr ctl[VSOCK_CTL_MAX]; /* replies that belong to no connection */
	unsigned ctl_head, ctl_len;
	int listen_fd;
	int watch;                  /* the listening socket's watch id, or -1 */
	struct ev_req acc, acc_cancel;
	bool accepting;
	unsigned accept_errors;
	uint32_t next_port;
	bool rx_stopped, tx_stopped, ev_stopped;
	bool rx_irq, tx_irq, ev_irq;
	bool rx_more, tx_more;
	bool in_rx;                 /* vsock_rx_run() is on the stack */
	bool tx_blocked;            /* the ctl ring was nearly full: served again when it drains */
	bool ev_reset;              /* a TRANSPORT_RESET event is owed to the guest */
};

/* vsock.c */
void vsock_rx_run(struct vsock_session *s);
void vsock_guest_warn(struct vsock_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Queue a reply with no connection behind it (an RST); false when the ring is full (dropped). */
bool vsock_ctl_push(struct vsock_session *s, const struct virtio_vsock_hdr *h);
/* Every completion of a session's SQE: false when the session was detached (and maybe freed now). */
bool vsock_session_alive(struct vsock_session *s);
const char *vsock_uds(const struct vsock_session *s);

/* vsock_conn.c */
struct vsock_pool *vsock_pool_new(void);
void vsock_pool_put(struct vsock_pool *p);
/* NULL at the connection limit, when the pool cannot give VSOCK_CONN_FLOOR, or out of memory. */
struct vsock_conn *vsock_conn_new(struct vsock_session *s, int fd, enum vsock_state st, uint32_t local,
				  uint32_t peer);
struct vsock_conn *vsock_conn_find(struct vsock_session *s, uint32_t local, uint32_t peer);
/* Close: rst sends the guest an RST for it first. The connection must not be used afterwards. */
void vsock_conn_close(struct vsock_conn *c, bool rst);
/* Start reading the host socket (a line, or data when there is room). */
void vsock_conn_read(struct vsock_conn *c);
/* Start a connect to "<uds>_<peer's dst port>"; on failure the connection is closed with RST. */
void vsock_conn_connect(struct vsock_conn *c);
/* A packet from the guest for c (header already checked, payload in iov after VSOCK_HDR). */
void vsock_conn_packet(struct vsock_conn *c, const struct virtio_vsock_hdr *h, const struct iovec *iov,
		       unsigned niov);
/* Does c owe the guest a packet now? Then put it on the rx list. */
void vsock_conn_kick(struct vsock_conn *c);
bool vsock_conn_has_pkt(const struct vsock_conn *c);
/* Write c's next packet into a receive chain (iov, room bytes); returns the bytes written. */
uint32_t vsock_conn_fill(struct vsock_conn *c, const struct iovec *iov, unsigned niov, uint64_t room);
/* A header from the host side of c (op, len 0, our credit). */
void vsock_conn_hdr(struct vsock_conn *c, struct virtio_vsock_hdr *h, uint16_t op);

#endif
