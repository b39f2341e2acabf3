// SPDX-License-Identifier: Apache-2.0
/*
 * The stream network backend (src/net_stream.c) with a socketpair as its peer: the framing both
 * ways, frames split across reads and back to back in one, hostile lengths and truncation from the
 * peer, transmit backpressure; then virtio-net over it end to end (fake guest, real I/O thread).
 */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event_loop.h"
#include "net_stream.h"
#include "virtio/net.h"
#include "unit.h"
#include "virtq_driver.h"

#define HDR 12

static void drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)level;
	if (getenv("NS_DEBUG"))
		fprintf(stderr, "log: %s\n", msg);
	if (opaque)
		atomic_fetch_add((atomic_int *)opaque, 1);
}

static atomic_int log_lines;
static const struct vlog quiet = { .fn = drop_msg, .opaque = &log_lines, .level = VMM_LOG_DEBUG };
static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The loop the backend tests turn by hand while the peer waits (NULL: a real I/O thread runs it). */
static struct event_loop *spin_loop;

static void turn(void)
{
	if (spin_loop)
		event_loop_run_once(spin_loop, false);
}

/* Write all of buf to fd (the peer's side, non-blocking), turning the loop meanwhile. */
static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (int tries = 0; len && tries < 20000; tries++) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EAGAIN) {
			struct pollfd pf = { .fd = fd, .events = POLLOUT };

			turn();
			poll(&pf, 1, 1);
			continue;
		}
		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
	ck_assert_uint_eq(len, 0);
}

/* Read exactly len bytes from fd (up to about 10 s), turning the loop meanwhile. */
static void read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	for (int tries = 0; len && tries < 10000; tries++) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		ssize_t n;

		turn();
		if (poll(&pf, 1, 1) != 1)
			continue;
		n = recv(fd, p, len, MSG_DONTWAIT);
		if (n < 0 && errno == EAGAIN)
			continue;
		ck_assert_int_gt(n, 0);
		p += n;
		len -= (size_t)n;
	}
	ck_assert_uint_eq(len, 0);
}

/* ---- the backend alone, driven with event_loop_run_once() ---- */

struct rig {
	struct event_loop *l;
	struct net_backend *b;
	int peer;
	int wakes, downs;
	bool up;
};

static void hook_wake(void *opaque)
{
	((struct rig *)opaque)->wakes++;
}

static void hook_link(void *opaque, bool up)
{
	struct rig *r = opaque;

	r->up = up;
	if (!up)
		r->downs++;
}

static void rig_init(struct rig *r)
{
	int sv[2];
	struct net_backend_hooks h = { .wake = hook_wake, .link = hook_link, .opaque = r };

	memset(r, 0, sizeof(*r));
	r->up = true;
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	r->peer = sv[1];
	ck_assert_int_eq(event_loop_create(64, &quiet, &r->l), 0);
	spin_loop = r->l;
	ck_assert_int_eq(net_stream_from_fd(sv[0], "stream test", &quiet, &r->b), 0);
	ck_assert_ptr_null(r->b->ops->fd(r->b, 0) >= 0 ? r->b : NULL);
	ck_assert_uint_eq(r->b->offloads, 0);
	ck_assert_uint_eq(r->b->nqueues, 1);
	ck_assert_int_eq(r->b->ops->start(r->b, r->l, &h), 0);
}

/* Turn the loop until cond() holds, for up to about 5 s. */
static void spin(struct rig *r, bool (*cond)(struct rig *))
{
	for (int i = 0; i < 5000 && !cond(r); i++) {
		event_loop_run_once(r->l, false);
		usleep(1000);
	}
	ck_assert_msg(cond(r), "condition not reached");
}

static bool has_frame(struct rig *r)
{
	const uint8_t *d;

	return r->b->ops->rx_peek(r->b, &d) != 0;
}

static bool is_down(struct rig *r)
{
	return r->downs > 0;
}

static void rig_fini(struct rig *r)
{
	r->b->ops->stop(r->b);
	r->b->ops->close(r->b);
	for (int i = 0; i < 100 && event_loop_run_once(r->l, false) > 0; i++)
		usleep(1000);
	event_loop_destroy(r->l);
	spin_loop = NULL;
	if (r->peer >= 0)
		close(r->peer);
}

/* Take the next frame and check it is len bytes of fill(seed). */
static void expect_frame(struct rig *r, size_t len, unsigned seed)
{
	const uint8_t *d;
	uint8_t *want = malloc(len);

	spin(r, has_frame);
	ck_assert_uint_eq(r->b->ops->rx_peek(r->b, &d), len);
	fill(want, len, seed);
	ck_assert_mem_eq(d, want, len);
	r->b->ops->rx_consume(r->b);
	free(want);
}

static size_t framed(uint8_t *out, size_t len, unsigned seed)
{
	put_be32(out, (uint32_t)len);
	fill(out + 4, len, seed);
	return len + 4;
}

START_TEST(rx_framing)
{
	struct rig r;
	static uint8_t buf[3 * (65549 + 4)];
	size_t n = 0;
	const uint8_t *d;

	rig_init(&r);
	/* Three frames back to back in one write, the largest allowed among them. */
	n += framed(buf + n, 60, 1);
	n += framed(buf + n, 65549, 2);
	n += framed(buf + n, 14, 3);
	write_all(r.peer, buf, n);
	expect_frame(&r, 60, 1);
	expect_frame(&r, 65549, 2);
	expect_frame(&r, 14, 3);
	ck_assert_uint_eq(r.b->ops->rx_peek(r.b, &d), 0);
	/* One frame split across reads: inside the length, then inside the frame. */
	n = framed(buf, 1500, 4);
	write_all(r.peer, buf, 2);
	for (int i = 0; i < 20; i++)
		event_loop_run_once(r.l, false);
	ck_assert_uint_eq(r.b->ops->rx_peek(r.b, &d), 0);
	write_all(r.peer, buf + 2, 700);
	for (int i = 0; i < 20; i++)
		event_loop_run_once(r.l, false);
	ck_assert_uint_eq(r.b->ops->rx_peek(r.b, &d), 0);
	write_all(r.peer, buf + 702, n - 702);
	expect_frame(&r, 1500, 4);
	ck_assert_int_ge(r.wakes, 1);
	ck_assert_int_eq(r.downs, 0);
	ck_assert(r.b->ops->link_up(r.b));
	/* Many small frames: more than the buffer holds, delivered in order while the "guest" takes them. */
	for (unsigned k = 0; k < 3000; k++) {
		uint8_t f[4 + 200];

		write_all(r.peer, f, framed(f, 200, 10 + k % 50));
		if (k % 100 == 99)
			for (unsigned j = k - 99; j <= k; j++)
				expect_frame(&r, 200, 10 + j % 50);
	}
	rig_fini(&r);
}
END_TEST

/* A hostile or broken peer: the link goes down for good, nothing is delivered past the damage. */
static void bad_peer(uint32_t bad_len)
{
	struct rig r;
	uint8_t buf[4 + 100 + 4 + 64];
	size_t n = framed(buf, 100, 7);
	const uint8_t *d;
	struct iovec v = { buf, 64 };
	int lines = atomic_load(&log_lines);

	rig_init(&r);
	put_be32(buf + n, bad_len);
	memset(buf + n + 4, 0xab, 64);
	write_all(r.peer, buf, n + 4 + 64);
	spin(&r, is_down);
	ck_assert(!r.up);
	ck_assert(!r.b->ops->link_up(r.b));
	/* The good frame before the damage is still there; nothing after it. */
	expect_frame(&r, 100, 7);
	ck_assert_uint_eq(r.b->ops->rx_peek(r.b, &d), 0);
	/* Sends are refused (dropped); the room never runs out, so the guest never stalls. */
	ck_assert(r.b->ops->tx_room(r.b));
	ck_assert_int_eq(r.b->ops->tx_write(r.b, &v, 1, 12), -ENOTCONN);
	/* More garbage from the peer changes nothing, and is logged no more. */
	(void)!send(r.peer, buf, sizeof(buf), MSG_NOSIGNAL | MSG_DONTWAIT);
	for (int i = 0; i < 20; i++)
		event_loop_run_once(r.l, false);
	ck_assert_int_eq(r.downs, 1);
	ck_assert_int_eq(atomic_load(&log_lines), lines + 1);
	rig_fini(&r);
}

START_TEST(rx_len_zero)
{
	bad_peer(0);
}
END_TEST

START_TEST(rx_len_huge)
{
	bad_peer(70000);
	bad_peer(65549 + 1);
	bad_peer(0xffffffffu);
}
END_TEST

START_TEST(rx_truncated_then_closed)
{
	struct rig r;
	uint8_t buf[4 + 100 + 4 + 50];
	size_t n = framed(buf, 100, 8);
	const uint8_t *d;

	rig_init(&r);
	put_be32(buf + n, 1000); /* a frame of 1000 bytes of which 50 come */
	write_all(r.peer, buf, n + 4 + 50);
	close(r.peer);
	r.peer = -1;
	spin(&r, is_down);
	expect_frame(&r, 100, 8);
	ck_assert_uint_eq(r.b->ops->rx_peek(r.b, &d), 0);
	rig_fini(&r);
}
END_TEST

static bool has_room(struct rig *r)
{
	return r->b->ops->tx_room(r->b);
}

START_TEST(tx_framing_and_backpressure)
{
	struct rig r;
	static uint8_t f[HDR + 60000], got[4 + 60000];
	struct iovec v[3];
	unsigned sent = 0;
	int sndbuf = 0;
	socklen_t sl = sizeof(sndbuf);

	rig_init(&r);
	/* The virtio-net header split across buffers, and skipped. */
	fill(f, sizeof(f), 5);
	v[0] = (struct iovec){ f, 5 };
	v[1] = (struct iovec){ f + 5, 10 };
	v[2] = (struct iovec){ f + 15, 100 };
	ck_assert_int_eq(r.b->ops->tx_write(r.b, v, 3, HDR), 0);
	read_all(r.peer, got, 4 + 103);
	ck_assert_uint_eq(get_be32(got), 103);
	ck_assert_mem_eq(got + 4, f + HDR, 103);
	/* Too long, empty. */
	v[0] = (struct iovec){ f, HDR };
	ck_assert_int_eq(r.b->ops->tx_write(r.b, v, 1, HDR), -EMSGSIZE);
	/* The peer does not read: the backend fills up to its bound, then says no room. */
	getsockopt(r.peer, SOL_SOCKET, SO_RCVBUF, &sndbuf, &sl);
	v[0] = (struct iovec){ f, sizeof(f) };
	while (sent < 1000) {
		for (int i = 0; i < 20; i++)
			event_loop_run_once(r.l, false);
		if (!r.b->ops->tx_room(r.b))
			break;
		fill(f + HDR, 60000, 100 + sent);
		ck_assert_int_eq(r.b->ops->tx_write(r.b, v, 1, HDR), 0);
		sent++;
	}
	ck_assert(!r.b->ops->tx_room(r.b));
	/* Bounded: the backend's buffer plus what the kernel's socket buffers hold. */
	ck_assert_uint_lt((size_t)sent * 60004, NET_STREAM_BUF + 4 * (size_t)sndbuf + 4 * 60004);
	/* The peer reads everything: frames arrive whole and in order, and the backend wakes its device. */
	for (unsigned k = 0; k < sent; k++) {
		uint8_t *w = f + HDR;

		read_all(r.peer, got, 4 + 60000);
		ck_assert_uint_eq(get_be32(got), 60000);
		fill(w, 60000, 100 + k);
		ck_assert_mem_eq(got + 4, w, 60000);
	}
	spin(&r, has_room);
	ck_assert_int_ge(r.wakes, 1);
	rig_fini(&r);
}
END_TEST

START_TEST(open_errors)
{
	struct net_backend *b = (void *)1;
	char longpath[200];

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	ck_assert_int_eq(net_stream_open("", &quiet, &b), -EINVAL);
	ck_assert_ptr_null(b);
	ck_assert_int_eq(net_stream_open(longpath, &quiet, &b), -EINVAL);
	ck_assert_int_eq(net_stream_open("/nonexistent/vmm-test.sock", &quiet, &b), -ENOENT);
}
END_TEST

/* ---- virtio-net over the stream backend, end to end ---- */

struct drv {
	struct virtq_driver vd;
	int peer;
};

static void setup(struct drv *d, uint64_t drop)
{
	struct virtio_net_opts o = { .queue_pairs = 1 };
	struct net_backend *b;
	int sv[2];

	memset(d, 0, sizeof(*d));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	d->peer = sv[1];
	ck_assert_int_eq(net_stream_from_fd(sv[0], "stream test", &quiet, &b), 0);
	vqd_init(&d->vd, &quiet);
	memcpy(o.mac, MAC, 6);
	o.backend = b;
	ck_assert_int_eq(virtio_net_create(&o, &quiet, &d->vd.dev), 0);
	ck_assert_uint_eq(virtio_net_ops.num_queues(d->vd.dev), 3);
	vqd_start(&d->vd, &virtio_net_ops, 3, virtio_net_ops.features(d->vd.dev) & ~drop);
}

static void teardown(struct drv *d)
{
	vqd_teardown(&d->vd);
	if (d->peer >= 0)
		close(d->peer);
}

static uint16_t link_status(struct drv *d)
{
	uint16_t st;

	virtio_net_ops.config_read(d->vd.dev, 6, &st, 2);
	return le16toh(st);
}

START_TEST(no_offloads)
{
	struct virtio_net_opts o = { .queue_pairs = 2 };
	struct net_backend *b;
	void *dev;
	uint64_t f, off = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
			  (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |
			  (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_HOST_UFO) |
			  (1ull << VIRTIO_NET_F_GUEST_TSO4) | (1ull << VIRTIO_NET_F_GUEST_TSO6) |
			  (1ull << VIRTIO_NET_F_GUEST_ECN) | (1ull << VIRTIO_NET_F_GUEST_UFO) |
			  (1ull << VIRTIO_NET_F_MQ) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(net_stream_from_fd(sv[0], "stream test", &quiet, &b), 0);
	memcpy(o.mac, MAC, 6);
	o.backend = b;
	/* Multi-queue is a tap's only. */
	ck_assert_int_eq(virtio_net_create(&o, &quiet, &dev), -EINVAL);
	o.queue_pairs = 1;
	ck_assert_int_eq(virtio_net_create(&o, &quiet, &dev), 0);
	f = virtio_net_ops.features(dev);
	ck_assert_uint_eq(f & off, 0);
	ck_assert(f & (1ull << VIRTIO_NET_F_MAC));
	ck_assert(f & (1ull << VIRTIO_NET_F_STATUS));
	ck_assert(f & (1ull << VIRTIO_NET_F_MRG_RXBUF));
	ck_assert(!(f & (1ull << VIRTIO_NET_F_MTU))); /* the peer's MTU is not known: no advice */
	virtio_net_ops.destroy(dev);
	close(sv[1]);
}
END_TEST

START_TEST(both_ways)
{
	struct drv d;
	static uint8_t buf[4 + 9000], got[4 + 9000];
	uint64_t h, f, g;
	struct vring_used_elem e;
	uint16_t nb;

	setup(&d, 0);
	ck_assert_uint_eq(link_status(&d), VIRTIO_NET_S_LINK_UP);
	/* TX: header and frame over three buffers; the peer gets the length and the frame only. */
	h = vqd_alloc(&d.vd, HDR);
	f = vqd_alloc(&d.vd, 300);
	fill(d.vd.ram + h, HDR, 1);
	fill(d.vd.ram + f, 300, 2);
	vqd_add_chain(&d.vd, 1,
		      (struct vqd_buf[]){ { h, 7, false }, { h + 7, 5, false }, { f, 300, false } }, 3);
	vqd_kick(&d.vd, 1);
	read_all(d.peer, got, 4 + 300);
	ck_assert_uint_eq(get_be32(got), 300);
	ck_assert_mem_eq(got + 4, d.vd.ram + f, 300);
	vqd_wait_used(&d.vd, 1, 1);

	/* RX: a small frame into one 4 KiB buffer, behind a zero header with num_buffers 1. */
	g = vqd_alloc(&d.vd, 4096 * 8);
	for (unsigned i = 0; i < 8; i++) {
		memset(d.vd.ram + g + 4096 * i, 0xee, 4096);
		vqd_add_chain(&d.vd, 0, &(struct vqd_buf){ g + 4096 * i, 4096, true }, 1);
	}
	vqd_kick(&d.vd, 0);
	write_all(d.peer, buf, framed(buf, 60, 3));
	vqd_wait_used(&d.vd, 0, 1);
	e = vqd_used_elem(&d.vd, 0, 0);
	ck_assert_uint_eq(e.len, HDR + 60);
	memcpy(&nb, d.vd.ram + g + 10, 2);
	ck_assert_uint_eq(le16toh(nb), 1);
	for (int i = 0; i < 10; i++)
		ck_assert_uint_eq(d.vd.ram[g + i], 0);
	ck_assert_mem_eq(d.vd.ram + g + HDR, buf + 4, 60);
	/* A 9000-byte frame (a jumbo MTU) spans three mergeable buffers. */
	write_all(d.peer, buf, framed(buf, 9000, 4));
	vqd_wait_used(&d.vd, 0, 4);
	memcpy(&nb, d.vd.ram + g + 4096 + 10, 2);
	ck_assert_uint_eq(le16toh(nb), 3);
	ck_assert_mem_eq(d.vd.ram + g + 4096 + HDR, buf + 4, 4096 - HDR);
	ck_assert_mem_eq(d.vd.ram + g + 2 * 4096, buf + 4 + 4096 - HDR, 4096);
	ck_assert_mem_eq(d.vd.ram + g + 3 * 4096, buf + 4 + 2 * 4096 - HDR, 9000 - 2 * 4096 + HDR);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 3).len, 9000 + HDR - 2 * 4096);
	teardown(&d);
}
END_TEST

/* Without MRG_RXBUF a frame larger than the guest's buffer is dropped; the next one still comes. */
START_TEST(rx_too_big_no_mrg)
{
	struct drv d;
	static uint8_t buf[4 + 9000];
	uint64_t g;

	setup(&d, 1ull << VIRTIO_NET_F_MRG_RXBUF);
	g = vqd_alloc(&d.vd, 2048);
	vqd_add_chain(&d.vd, 0, &(struct vqd_buf){ g, 2048, true }, 1);
	vqd_kick(&d.vd, 0);
	write_all(d.peer, buf, framed(buf, 9000, 5));
	write_all(d.peer, buf, framed(buf, 1000, 6));
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, HDR + 1000);
	ck_assert_mem_eq(d.vd.ram + g + HDR, buf + 4, 1000);
	teardown(&d);
}
END_TEST

/* Hostile TX chains are completed (length 0) and dropped; the device stays up and sends the next. */
START_TEST(hostile_tx)
{
	struct drv d;
	uint8_t got[4 + 64];
	uint64_t g = 0;
	uint8_t junk;

	setup(&d, 0);
	g = vqd_alloc(&d.vd, 1 << 17);
	fill(d.vd.ram + g, 1 << 17, 9);
	/* A writable buffer in a TX chain; shorter than the header; header only (an empty frame);
	 * longer than any frame; a buffer past guest RAM. */
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, 100, true }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, 5, false }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, HDR, false }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, 1 << 17, false }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ VQD_RAM_SIZE - 16, 4096, false }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, HDR + 64, false }, 1);
	vqd_kick(&d.vd, 1);
	vqd_wait_used(&d.vd, 1, 6);
	read_all(d.peer, got, sizeof(got));
	ck_assert_uint_eq(get_be32(got), 64);
	ck_assert_mem_eq(got + 4, d.vd.ram + g + HDR, 64);
	ck_assert_int_eq(recv(d.peer, &junk, 1, MSG_DONTWAIT), -1); /* nothing else went out */
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
	teardown(&d);
}
END_TEST

/* The peer does not read: the device stops taking TX chains (they wait in the ring), then goes on. */
START_TEST(device_tx_backpressure)
{
	struct drv d;
	static uint8_t got[4 + 60000];
	uint64_t g;
	uint16_t used;
	const unsigned n = 200;

	setup(&d, 0);
	g = vqd_alloc(&d.vd, HDR + 60000);
	fill(d.vd.ram + g, HDR + 60000, 11);
	for (unsigned i = 0; i < n; i++)
		vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, HDR + 60000, false }, 1);
	vqd_kick(&d.vd, 1);
	usleep(200 * 1000);
	used = vqd_used_idx(&d.vd, 1);
	ck_assert_uint_lt(used, n);
	ck_assert_uint_gt(used, 0);
	for (unsigned k = 0; k < n; k++) {
		read_all(d.peer, got, sizeof(got));
		ck_assert_uint_eq(get_be32(got), 60000);
		ck_assert_mem_eq(got + 4, d.vd.ram + g + HDR, 60000);
	}
	vqd_wait_used(&d.vd, 1, n);
	teardown(&d);
}
END_TEST

/* The peer goes away: the link goes down (the guest sees STATUS), TX chains are still completed. */
START_TEST(device_peer_closes)
{
	struct drv d;
	uint64_t g;

	setup(&d, 0);
	close(d.peer);
	d.peer = -1;
	for (int i = 0; i < 5000 && link_status(&d) != 0; i++)
		usleep(1000);
	ck_assert_uint_eq(link_status(&d), 0);
	g = vqd_alloc(&d.vd, HDR + 64);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, HDR + 64, false }, 1);
	vqd_kick(&d.vd, 1);
	vqd_wait_used(&d.vd, 1, 1);
	teardown(&d);
}
END_TEST

/* A peer that sends a bad length mid-stream while the guest is receiving: link down, guest unharmed. */
START_TEST(device_bad_length)
{
	struct drv d;
	uint8_t buf[4 + 100 + 4];
	size_t n;
	uint64_t g;

	setup(&d, 0);
	g = vqd_alloc(&d.vd, 4096 * 4);
	for (unsigned i = 0; i < 4; i++)
		vqd_add_chain(&d.vd, 0, &(struct vqd_buf){ g + 4096 * i, 4096, true }, 1);
	vqd_kick(&d.vd, 0);
	n = framed(buf, 100, 12);
	put_be32(buf + n, 70000);
	write_all(d.peer, buf, n + 4);
	vqd_wait_used(&d.vd, 0, 1);
	for (int i = 0; i < 5000 && link_status(&d) != 0; i++)
		usleep(1000);
	ck_assert_uint_eq(link_status(&d), 0);
	usleep(50 * 1000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 0), 1);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
	teardown(&d);
}
END_TEST

/* A reset (and re-activation, as after a restore or a driver reload) goes on with the same connection. */
START_TEST(reset_and_again)
{
	struct drv d;
	uint8_t buf[4 + 80];
	uint64_t g;

	setup(&d, 0);
	event_loop_call(d.vd.l, vqd_reset_fn, &d.vd);
	vqd_init_queues(&d.vd);
	ck_assert_int_eq(event_loop_call(d.vd.l, vqd_activate_fn, &d.vd), 0);
	g = vqd_alloc(&d.vd, 4096);
	vqd_add_chain(&d.vd, 0, &(struct vqd_buf){ g, 4096, true }, 1);
	vqd_kick(&d.vd, 0);
	write_all(d.peer, buf, framed(buf, 80, 13));
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_mem_eq(d.vd.ram + g + HDR, buf + 4, 80);
	ck_assert_uint_eq(virtio_net_ops.inflight(d.vd.dev), 0);
	teardown(&d);
}
END_TEST

/* Save as a snapshot does (I/O thread, nothing in flight): each queue's position, then the device's record. */
struct snap_call {
	struct drv *d;
	struct virtq_pos pos[3];
	struct sbuf rec;
	unsigned inflight;
	int ret;
};

static void snap_fn(void *arg)
{
	struct snap_call *c = arg;

	c->inflight = virtio_net_ops.inflight(c->d->vd.dev);
	for (unsigned q = 0; q < 3; q++)
		virtq_get_pos(&c->d->vd.vq[q], &c->pos[q]);
	c->ret = virtio_net_ops.save(c->d->vd.dev, &c->rec);
}

struct restore_call {
	struct drv *d;
	struct sbuf *rec;
	int ret;
};

static void restore_fn(void *arg)
{
	struct restore_call *c = arg;
	struct sreader in;

	sreader_init(&in, c->rec->data, c->rec->len);
	c->ret = virtio_net_ops.restore(c->d->vd.dev, &in);
}

/*
 * A snapshot with receive chains stashed, restored into a device on a new connection (a restore
 * connects to PATH again): the stashed chains take the new peer's frames in order, TX goes on.
 */
START_TEST(snapshot_restore)
{
	struct drv a, b;
	struct snap_call sc = { .d = &a };
	struct restore_call rc = { .d = &b };
	struct virtio_net_opts o = { .queue_pairs = 1 };
	struct net_backend *be;
	uint8_t buf[4 + 200], got[4 + 64];
	uint64_t g, t;
	int sv[2];

	setup(&a, 0);
	g = vqd_alloc(&a.vd, 4096 * 4);
	for (unsigned i = 0; i < 4; i++)
		vqd_add_chain(&a.vd, 0, &(struct vqd_buf){ g + 4096 * i, 4096, true }, 1);
	vqd_kick(&a.vd, 0);
	write_all(a.peer, buf, framed(buf, 100, 20));
	vqd_wait_used(&a.vd, 0, 1);
	sbuf_init(&sc.rec);
	ck_assert_int_eq(event_loop_call(a.vd.l, snap_fn, &sc), 0);
	ck_assert_uint_eq(sc.inflight, 0);
	ck_assert_int_eq(sc.ret, 0);

	/* The restore: fresh set-up on a new connection, the guest RAM copied, queues from the saved positions. */
	memset(&b, 0, sizeof(b));
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	b.peer = sv[1];
	ck_assert_int_eq(net_stream_from_fd(sv[0], "stream test", &quiet, &be), 0);
	vqd_init(&b.vd, &quiet);
	memcpy(o.mac, MAC, 6);
	o.backend = be;
	ck_assert_int_eq(virtio_net_create(&o, &quiet, &b.vd.dev), 0);
	memcpy(b.vd.ram, a.vd.ram, VQD_RAM_SIZE);
	b.vd.heap = a.vd.heap;
	memcpy(b.vd.next_desc, a.vd.next_desc, sizeof(b.vd.next_desc));
	memcpy(b.vd.avail_idx, a.vd.avail_idx, sizeof(b.vd.avail_idx));
	b.vd.ops = &virtio_net_ops;
	b.vd.nq = 3;
	for (unsigned q = 0; q < 3; q++) {
		ck_assert_int_eq(virtq_init(&b.vd.vq[q], &b.vd.mem, VQD_QSIZE, vqd_ring_gpa(q), vqd_ring_gpa(q) + 0x1000,
					    vqd_ring_gpa(q) + 0x2000, false),
				 0);
		ck_assert_int_eq(virtq_set_pos(&b.vd.vq[q], &sc.pos[q]), 0);
	}
	b.vd.ctx = a.vd.ctx;
	b.vd.ctx.loop = b.vd.l;
	b.vd.ctx.mem = &b.vd.mem;
	b.vd.ctx.vq = b.vd.vq;
	b.vd.ctx.irq_opaque = &b.vd;
	teardown(&a); /* the old connection goes */
	ck_assert_int_eq(event_loop_call(b.vd.l, vqd_activate_fn, &b.vd), 0);
	rc.rec = &sc.rec;
	ck_assert_int_eq(event_loop_call(b.vd.l, restore_fn, &rc), 0);
	ck_assert_int_eq(rc.ret, 0);
	for (unsigned q = 0; q < 3; q++)
		vqd_kick(&b.vd, q);
	ck_assert_uint_eq(link_status(&b), VIRTIO_NET_S_LINK_UP);
	/* The new peer's frames land in the chains stashed before the snapshot, in order. */
	write_all(b.peer, buf, framed(buf, 200, 21));
	vqd_wait_used(&b.vd, 0, 2);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, 1).id, 1);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, 1).len, HDR + 200);
	ck_assert_mem_eq(b.vd.ram + g + 4096 + HDR, buf + 4, 200);
	/* And the guest's frames reach it. */
	t = vqd_alloc(&b.vd, HDR + 64);
	fill(b.vd.ram + t, HDR + 64, 22);
	vqd_add_chain(&b.vd, 1, &(struct vqd_buf){ t, HDR + 64, false }, 1);
	vqd_kick(&b.vd, 1);
	read_all(b.peer, got, sizeof(got));
	ck_assert_uint_eq(get_be32(got), 64);
	ck_assert_mem_eq(got + 4, b.vd.ram + t + HDR, 64);
	sbuf_free(&sc.rec);
	teardown(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net_stream");
	TCase *t = tcase_create("backend");
	TCase *v = tcase_create("device");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(t, 60);
	tcase_set_timeout(v, 60);
	tcase_add_test(t, rx_framing);
	tcase_add_test(t, rx_len_zero);
	tcase_add_test(t, rx_len_huge);
	tcase_add_test(t, rx_truncated_then_closed);
	tcase_add_test(t, tx_framing_and_backpressure);
	tcase_add_test(t, open_errors);
	suite_add_tcase(s, t);
	tcase_add_test(v, no_offloads);
	tcase_add_test(v, both_ways);
	tcase_add_test(v, rx_too_big_no_mrg);
	tcase_add_test(v, hostile_tx);
	tcase_add_test(v, device_tx_backpressure);
	tcase_add_test(v, device_peer_closes);
	tcase_add_test(v, device_bad_length);
	tcase_add_test(v, reset_and_again);
	tcase_add_test(v, snapshot_restore);
	suite_add_tcase(s, v);
	return unit_run(s);
}
