// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-vsock without KVM: a fake guest RAM and driver (virtq_driver.h), a real I/O thread, and
 * real unix sockets on the host side in a temporary directory.
 */
#include <check.h>
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_vsock.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "snapshot/sbuf.h"
#include "unit.h"
#include "virtio/vsock.h"
#include "virtq_driver.h"

#define RXQ 0
#define TXQ 1
#define EVQ 2
#define CID 3
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define RXBUF (4096 + HDR)
#define TXSLOT 4096
#define BIG (64u << 10)

static void drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

static const struct vlog quiet = { .fn = drop_msg, .level = VMM_LOG_ERROR };

struct t {
	struct virtq_driver vd;
	char dir[64], uds[96];
	uint64_t rxgpa[VQD_QSIZE], txgpa[VQD_QSIZE], big;
	uint16_t rx_posted, rx_seen;
	uint16_t tx_posted;
};

static void setup(struct t *t)
{
	struct virtio_vsock_opts o = { .guest_cid = CID };

	memset(t, 0, sizeof(*t));
	strcpy(t->dir, "/tmp/vsock-test-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(t->dir));
	snprintf(t->uds, sizeof(t->uds), "%s/v.sock", t->dir);
	o.uds = t->uds;
	vqd_init(&t->vd, &quiet);
	ck_assert_int_eq(virtio_vsock_create(&o, &quiet, &t->vd.dev), 0);
	ck_assert_uint_eq(virtio_vsock_ops.num_queues(t->vd.dev), 3);
	for (unsigned i = 0; i < VQD_QSIZE; i++) {
		t->rxgpa[i] = vqd_alloc(&t->vd, RXBUF);
		t->txgpa[i] = vqd_alloc(&t->vd, TXSLOT);
	}
	t->big = vqd_alloc(&t->vd, BIG + HDR);
	vqd_start(&t->vd, &virtio_vsock_ops, 3, 0);
}

static void teardown(struct t *t)
{
	char cmd[200];

	ck_assert_int_eq(atomic_load(&t->vd.resets), 0);
	vqd_teardown(&t->vd);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* Keep 128 receive buffers posted. */
static void rx_fill(struct t *t)
{
	bool added = false;

	while ((uint16_t)(t->rx_posted - t->rx_seen) < 128) {
		struct vqd_buf b = { t->rxgpa[t->vd.next_desc[RXQ]], RXBUF, true };

		vqd_add_chain(&t->vd, RXQ, &b, 1);
		t->rx_posted++;
		added = true;
	}
	if (added)
		vqd_kick(&t->vd, RXQ);
}

static struct virtio_vsock_hdr mkhdr(uint16_t op, uint32_t src_port, uint32_t dst_port, uint32_t len)
{
	return (struct virtio_vsock_hdr){
		.src_cid = htole64(CID),
		.dst_cid = htole64(2),
		.src_port = htole32(src_port),
		.dst_port = htole32(dst_port),
		.len = htole32(len),
		.type = htole16(VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
		.buf_alloc = htole32(1u << 20),
	};
}

/* Queue one packet (header h, payload p of plen bytes, chain length clen) without a kick. */
static void tx_add(struct t *t, const struct virtio_vsock_hdr *h, const void *p, uint32_t plen, uint32_t clen)
{
	uint64_t g = plen + HDR > TXSLOT ? t->big : t->txgpa[t->vd.next_desc[TXQ]];
	struct vqd_buf b = { g, clen, false };

	ck_assert_uint_le(clen, plen + HDR > TXSLOT ? BIG + HDR : TXSLOT);
	memcpy(t->vd.ram + g, h, HDR);
	if (plen)
		memcpy(t->vd.ram + g + HDR, p, plen);
	vqd_add_chain(&t->vd, TXQ, &b, 1);
	t->tx_posted++;
}

static void tx_kick(struct t *t)
{
	vqd_kick(&t->vd, TXQ);
	vqd_wait_used(&t->vd, TXQ, t->tx_posted);
}

static void tx(struct t *t, const struct virtio_vsock_hdr *h, const void *p, uint32_t plen)
{
	tx_add(t, h, p, plen, HDR + plen);
	tx_kick(t);
}

/* The next packet the device sent the guest (false: none within ms). */
static bool rx_get_ms(struct t *t, struct virtio_vsock_hdr *h, uint8_t *payload, int ms)
{
	struct vring_used_elem e;
	uint64_t g;

	rx_fill(t);
	for (int i = 0; i < ms && vqd_used_idx(&t->vd, RXQ) == t->rx_seen; i++)
		usleep(1000);
	if (vqd_used_idx(&t->vd, RXQ) == t->rx_seen)
		return false;
	e = vqd_used_elem(&t->vd, RXQ, t->rx_seen++);
	ck_assert_uint_ge(e.len, HDR);
	ck_assert_uint_le(e.len, RXBUF);
	g = t->rxgpa[e.id];
	memcpy(h, t->vd.ram + g, HDR);
	ck_assert_uint_eq(le32toh(h->len), e.len - HDR);
	ck_assert_uint_eq(le64toh(h->src_cid), 2);
	ck_assert_uint_eq(le64toh(h->dst_cid), CID);
	if (payload)
		memcpy(payload, t->vd.ram + g + HDR, e.len - HDR);
	return true;
}

static void rx_get(struct t *t, struct virtio_vsock_hdr *h, uint8_t *payload)
{
	ck_assert_msg(rx_get_ms(t, h, payload, 5000), "no packet for the guest");
}

/* The next packet that is not a CREDIT_UPDATE. */
static void rx_get_op(struct t *t, struct virtio_vsock_hdr *h, uint8_t *payload, uint16_t op)
{
	do
		rx_get(t, h, payload);
	while (le16toh(h->op) == VIRTIO_VSOCK_OP_CREDIT_UPDATE && op != VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	ck_assert_uint_eq(le16toh(h->op), op);
}

static void nothing(void *arg)
{
	(void)arg;
}

static void settle(struct t *t)
{
	for (int i = 0; i < 3; i++) {
		usleep(5000);
		ck_assert_int_eq(event_loop_call(t->vd.l, nothing, NULL), 0);
	}
}

struct count_arg {
	void *dev;
	unsigned n;
};

static void count_fn(void *arg)
{
	struct count_arg *a = arg;

	a->n = virtio_vsock_conns(a->dev);
}

static unsigned conns(struct t *t)
{
	struct count_arg a = { t->vd.dev, 0 };

	ck_assert_int_eq(event_loop_call(t->vd.l, count_fn, &a), 0);
	return a.n;
}

static int uds_connect(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	return fd;
}

static int uds_listen(struct t *t, unsigned port, int backlog)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s_%u", t->uds, port);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	return fd;
}

/* Read exactly n bytes from fd within 5 s. */
static void read_n(int fd, void *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t r;

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		r = read(fd, (uint8_t *)buf + got, n - got);
		ck_assert_int_gt(r, 0);
		got += (size_t)r;
	}
}

static void write_all(int fd, const void *buf, size_t n)
{
	ck_assert_int_eq(write(fd, buf, n), (ssize_t)n);
}

/* Host CONNECT to guest port gport: the guest accepts. Returns the client fd; *hport the host port. */
static int host_connect(struct t *t, uint32_t gport, uint32_t *hport)
{
	struct virtio_vsock_hdr h, r;
	char line[64], want[64];
	int fd = uds_connect(t->uds);

	snprintf(line, sizeof(line), "CONNECT %u\n", gport);
	write_all(fd, line, strlen(line));
	rx_get_op(t, &h, NULL, VIRTIO_VSOCK_OP_REQUEST);
	ck_assert_uint_eq(le32toh(h.dst_port), gport);
	ck_assert_uint_ge(le32toh(h.src_port), 1024);
	ck_assert_uint_eq(le16toh(h.type), VIRTIO_VSOCK_TYPE_STREAM);
	*hport = le32toh(h.src_port);
	r = mkhdr(VIRTIO_VSOCK_OP_RESPONSE, gport, *hport, 0);
	tx(t, &r, NULL, 0);
	snprintf(want, sizeof(want), "OK %u\n", *hport);
	read_n(fd, line, strlen(want));
	ck_assert_int_eq(memcmp(line, want, strlen(want)), 0);
	return fd;
}

START_TEST(config_space)
{
	struct t t;
	uint64_t cid = 0;

	setup(&t);
	virtio_vsock_ops.config_read(t.vd.dev, 0, &cid, 8);
	ck_assert_uint_eq(le64toh(cid), CID);
	ck_assert_uint_eq(virtio_vsock_ops.device_id, 19);
	teardown(&t);
}
END_TEST

START_TEST(host_connect_data_credit)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	uint8_t buf[8192], big[1000];
	uint32_t hport, got = 0;
	int fd;

	setup(&t);
	fd = host_connect(&t, 5000, &hport);
	ck_assert_uint_eq(conns(&t), 1);
	/* host -> guest */
	write_all(fd, "hello", 5);
	rx_get_op(&t, &h, buf, VIRTIO_VSOCK_OP_RW);
	ck_assert_uint_eq(le32toh(h.len), 5);
	ck_assert_int_eq(memcmp(buf, "hello", 5), 0);
	/* A fresh connection's window: small (4 KiB), growing while the guest uses it. */
	ck_assert_uint_ge(le32toh(h.buf_alloc), 4096);
	ck_assert_uint_le(le32toh(h.buf_alloc), VIRTIO_VSOCK_BUF);
	/* guest -> host */
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 5000, hport, 5);
	tx(&t, &r, "world", 5);
	read_n(fd, buf, 5);
	ck_assert_int_eq(memcmp(buf, "world", 5), 0);
	/* The guest's credit: buf_alloc 100 with 5 taken so far leaves 95 bytes. */
	r = mkhdr(VIRTIO_VSOCK_OP_CREDIT_UPDATE, 5000, hport, 0);
	r.buf_alloc = htole32(100);
	r.fwd_cnt = htole32(5);
	tx(&t, &r, NULL, 0);
	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	write_all(fd, big, sizeof(big));
	while (got < 100 && rx_get_ms(&t, &h, buf, 300)) {
		if (le16toh(h.op) == VIRTIO_VSOCK_OP_RW) {
			ck_assert_int_eq(memcmp(buf, big + got, le32toh(h.len)), 0);
			got += le32toh(h.len);
		}
	}
	ck_assert_uint_eq(got, 100); /* 5 + 95: its whole buffer, and not one byte more */
	ck_assert(!rx_get_ms(&t, &h, buf, 100) || le16toh(h.op) != VIRTIO_VSOCK_OP_RW);
	/* The guest read it all: the rest comes. */
	r.buf_alloc = htole32(1u << 20);
	r.fwd_cnt = htole32(105);
	tx(&t, &r, NULL, 0);
	while (got < sizeof(big)) {
		rx_get(&t, &h, buf);
		if (le16toh(h.op) == VIRTIO_VSOCK_OP_RW) {
			ck_assert_int_eq(memcmp(buf, big + got, le32toh(h.len)), 0);
			got += le32toh(h.len);
		}
	}
	/* CREDIT_REQUEST is answered. */
	r = mkhdr(VIRTIO_VSOCK_OP_CREDIT_REQUEST, 5000, hport, 0);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
	ck_assert_uint_eq(le32toh(h.fwd_cnt), 5);
	/* The client leaves: SHUTDOWN to the guest; the guest's full shutdown gets the RST. */
	close(fd);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_SHUTDOWN);
	r = mkhdr(VIRTIO_VSOCK_OP_SHUTDOWN, 5000, hport, 0);
	r.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	ck_assert_uint_eq(conns(&t), 0);
	teardown(&t);
}
END_TEST

START_TEST(host_connect_refused_by_guest)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	char c;
	int fd;

	setup(&t);
	fd = uds_connect(t.uds);
	write_all(fd, "CONNECT 77\n", 11);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_REQUEST);
	r = mkhdr(VIRTIO_VSOCK_OP_RST, 77, le32toh(h.src_port), 0);
	tx(&t, &r, NULL, 0);
	read_n(fd, &c, 0);
	{
		struct pollfd p = { fd, POLLIN, 0 };

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ck_assert_int_eq(read(fd, &c, 1), 0); /* closed, no "OK" */
	}
	close(fd);
	/* Garbage instead of CONNECT: closed. */
	fd = uds_connect(t.uds);
	write_all(fd, "HELLO\n", 6);
	{
		struct pollfd p = { fd, POLLIN, 0 };

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ck_assert_int_eq(read(fd, &c, 1), 0);
	}
	close(fd);
	settle(&t);
	ck_assert_uint_eq(conns(&t), 0);
	teardown(&t);
}
END_TEST

START_TEST(guest_connect)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	uint8_t buf[8192];
	int lfd, fd;

	setup(&t);
	lfd = uds_listen(&t, 6000, 8);
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 40000, 6000, 0);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RESPONSE);
	ck_assert_uint_eq(le32toh(h.src_port), 6000);
	ck_assert_uint_eq(le32toh(h.dst_port), 40000);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 40000, 6000, 3);
	tx(&t, &r, "abc", 3);
	read_n(fd, buf, 3);
	ck_assert_int_eq(memcmp(buf, "abc", 3), 0);
	write_all(fd, "xyz", 3);
	rx_get_op(&t, &h, buf, VIRTIO_VSOCK_OP_RW);
	ck_assert_int_eq(memcmp(buf, "xyz", 3), 0);
	/* Refused: nobody listens on 6001. The RST comes without another kick of the rx queue. */
	rx_fill(&t);
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 40001, 6001, 0);
	tx(&t, &r, NULL, 0);
	for (int i = 0; i < 2000 && vqd_used_idx(&t.vd, RXQ) == t.rx_seen; i++)
		usleep(1000);
	ck_assert_uint_ne(vqd_used_idx(&t.vd, RXQ), t.rx_seen);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	ck_assert_uint_eq(le32toh(h.src_port), 6001);
	ck_assert_uint_eq(le32toh(h.dst_port), 40001);
	/* The guest closes with a full shutdown: the host sees end of file, the guest an RST. */
	r = mkhdr(VIRTIO_VSOCK_OP_SHUTDOWN, 40000, 6000, 0);
	r.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	{
		struct pollfd p = { fd, POLLIN, 0 };

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
		ck_assert_int_eq(read(fd, buf, 1), 0);
	}
	ck_assert_uint_eq(conns(&t), 0);
	close(fd);
	close(lfd);
	teardown(&t);
}
END_TEST

/* Half-close from the guest: the host gets end of file, and can still answer. */
START_TEST(guest_half_close)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	uint8_t buf[64];
	int lfd, fd;

	setup(&t);
	lfd = uds_listen(&t, 6100, 8);
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 41000, 6100, 0);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RESPONSE);
	fd = accept(lfd, NULL, NULL);
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 41000, 6100, 4);
	tx(&t, &r, "ping", 4);
	r = mkhdr(VIRTIO_VSOCK_OP_SHUTDOWN, 41000, 6100, 0);
	r.flags = htole32(VIRTIO_VSOCK_SHUTDOWN_SEND);
	tx(&t, &r, NULL, 0);
	read_n(fd, buf, 4);
	ck_assert_int_eq(read(fd, buf, 1), 0);
	write_all(fd, "pong", 4);
	close(fd);
	rx_get_op(&t, &h, buf, VIRTIO_VSOCK_OP_RW);
	ck_assert_int_eq(memcmp(buf, "pong", 4), 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_SHUTDOWN);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	ck_assert_uint_eq(conns(&t), 0);
	close(lfd);
	teardown(&t);
}
END_TEST

START_TEST(hostile_packets)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	static uint8_t junk[BIG];
	uint32_t hport;
	int fd, lfd;
	bool rst = false;

	setup(&t);
	lfd = uds_listen(&t, 6200, 8);
	fd = host_connect(&t, 5000, &hport);
	/* len beyond the chain: dropped, and the connection reset. */
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 5000, hport, 100);
	tx_add(&t, &r, "x", 1, HDR + 1);
	tx_kick(&t);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	ck_assert_uint_eq(conns(&t), 0);
	close(fd);
	/* A chain shorter than a header; len over 64 KiB; zero-length chain parts. */
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 1, 2, 0);
	tx_add(&t, &r, NULL, 0, HDR - 1);
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 1, 2, BIG + 1);
	tx_add(&t, &r, junk, BIG - HDR, BIG);
	tx_kick(&t);
	/* Unknown op, wrong CIDs, another type: never a connection. */
	r = mkhdr(99, 1, 2, 0);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 1, 6200, 0);
	r.src_cid = htole64(7);
	tx(&t, &r, NULL, 0);
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 1, 6200, 0);
	r.dst_cid = htole64(CID);
	tx(&t, &r, NULL, 0);
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 1, 6200, 0);
	r.type = htole16(VIRTIO_VSOCK_TYPE_SEQPACKET);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	settle(&t);
	ck_assert(!rx_get_ms(&t, &h, NULL, 50));
	ck_assert_uint_eq(conns(&t), 0);
	/* A data packet with no connection, a RESPONSE out of the blue: RST. An RST: nothing. */
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 9, 9, 1);
	tx(&t, &r, "z", 1);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	r = mkhdr(VIRTIO_VSOCK_OP_RST, 9, 9, 0);
	tx(&t, &r, NULL, 0);
	ck_assert(!rx_get_ms(&t, &h, NULL, 50));
	/* Credit lie: more than VIRTIO_VSOCK_BUF unacknowledged, with a host that does not read. */
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 42000, 6200, 0);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RESPONSE);
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	for (int i = 0; i < 40 && !rst; i++) {
		r = mkhdr(VIRTIO_VSOCK_OP_RW, 42000, 6200, BIG);
		tx(&t, &r, junk, BIG);
		while (rx_get_ms(&t, &h, NULL, 20))
			rst |= le16toh(h.op) == VIRTIO_VSOCK_OP_RST;
	}
	ck_assert(rst);
	ck_assert_uint_eq(conns(&t), 0);
	close(fd);
	/* A duplicate REQUEST on a live connection resets it. */
	r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 42001, 6200, 0);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RESPONSE);
	tx(&t, &r, NULL, 0);
	rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RST);
	ck_assert_uint_eq(conns(&t), 0);
	/* Still serving. */
	fd = host_connect(&t, 5001, &hport);
	close(fd);
	close(lfd);
	teardown(&t);
}
END_TEST

/* 10000 REQUESTs: at most VIRTIO_VSOCK_MAX_CONNS connections, the rest refused; all gone after a reset. */
START_TEST(request_flood)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	unsigned responses = 0, rsts = 0;
	int lfd, fds;

	setup(&t);
	fds = unit_count_fds();
	lfd = uds_listen(&t, 6300, 4096);
	for (unsigned i = 0; i < 10000; i += 100) {
		for (unsigned k = 0; k < 100; k++) {
			r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 10000 + i + k, 6300, 0);
			tx_add(&t, &r, NULL, 0, HDR);
		}
		tx_kick(&t);
		while (rx_get_ms(&t, &h, NULL, responses + rsts < i + 100 ? 2000 : 1)) {
			responses += le16toh(h.op) == VIRTIO_VSOCK_OP_RESPONSE;
			rsts += le16toh(h.op) == VIRTIO_VSOCK_OP_RST;
			if (responses + rsts == i + 100)
				break;
		}
	}
	ck_assert_uint_eq(responses + rsts, 10000);
	ck_assert_uint_le(responses, VIRTIO_VSOCK_MAX_CONNS);
	ck_assert_uint_le(conns(&t), VIRTIO_VSOCK_MAX_CONNS);
	ck_assert_uint_eq(conns(&t), responses);
	/* A driver reset ends them all. */
	ck_assert_int_eq(event_loop_call(t.vd.l, vqd_reset_fn, &t.vd), 0);
	settle(&t);
	close(lfd);
	ck_assert_int_eq(unit_count_fds(), fds);
	teardown(&t);
}
END_TEST

/* 100 connections each way opened and closed: no fd left behind. */
START_TEST(no_leaks)
{
	struct t t;
	struct virtio_vsock_hdr h, r;
	int fds, lfd;

	setup(&t);
	lfd = uds_listen(&t, 6400, 8);
	fds = unit_count_fds();
	for (int i = 0; i < 100; i++) {
		uint32_t hport;
		int fd = host_connect(&t, 5000, &hport), afd;

		close(fd);
		rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_SHUTDOWN);
		r = mkhdr(VIRTIO_VSOCK_OP_RST, 5000, hport, 0);
		tx(&t, &r, NULL, 0);

		r = mkhdr(VIRTIO_VSOCK_OP_REQUEST, 43000, 6400, 0);
		tx(&t, &r, NULL, 0);
		rx_get_op(&t, &h, NULL, VIRTIO_VSOCK_OP_RESPONSE);
		afd = accept(lfd, NULL, NULL);
		ck_assert_int_ge(afd, 0);
		r = mkhdr(VIRTIO_VSOCK_OP_RST, 43000, 6400, 0);
		tx(&t, &r, NULL, 0);
		close(afd);
	}
	settle(&t);
	ck_assert_uint_eq(conns(&t), 0);
	ck_assert_int_eq(unit_count_fds(), fds);
	close(lfd);
	teardown(&t);
}
END_TEST

struct buffered_arg {
	void *dev;
	uint64_t n;
};

static void buffered_fn(void *arg)
{
	struct buffered_arg *a = arg;

	a->n = virtio_vsock_buffered(a->dev);
}

static uint64_t buffered(struct t *t)
{
	struct buffered_arg a = { t->vd.dev, 0 };

	ck_assert_int_eq(event_loop_call(t->vd.l, buffered_fn, &a), 0);
	return a.n;
}

/* A guest that keeps to the credit it heard: per connection, what the device told it last. */
#define GPORT0 20000u
#define NBIG 32

struct gconn {
	uint32_t buf_alloc, fwd_cnt, tx_cnt;
	bool live, rst;
};

struct greedy {
	struct t *t;
	struct gconn *c;
	unsigned n;
	uint32_t hport;
	uint64_t big[NBIG];
	unsigned batch;
	uint32_t max_alloc;
};

static uint32_t credit(const struct gconn *c)
{
	uint32_t used = c->tx_cnt - c->fwd_cnt;

	return used > c->buf_alloc ? 0 : c->buf_alloc - used;
}

/* Take every packet the device has sent (no waiting) into the guest's view. */
static unsigned drain(struct greedy *g)
{
	struct virtio_vsock_hdr h;
	unsigned got = 0;

	while (rx_get_ms(g->t, &h, NULL, 0)) {
		uint32_t p = le32toh(h.dst_port) - GPORT0;

		got++;
		ck_assert_uint_le(p, g->n); /* n: the one past the limit */
		ck_assert_uint_eq(le32toh(h.src_port), g->hport);
		if (le16toh(h.op) == VIRTIO_VSOCK_OP_RST) {
			g->c[p].live = false;
			g->c[p].rst = true;
			continue;
		}
		if (le16toh(h.op) == VIRTIO_VSOCK_OP_RESPONSE)
			g->c[p].live = true;
		g->c[p].buf_alloc = le32toh(h.buf_alloc);
		g->c[p].fwd_cnt = le32toh(h.fwd_cnt);
		if (g->c[p].buf_alloc > g->max_alloc)
			g->max_alloc = g->c[p].buf_alloc;
	}
	return got;
}

static void flush(struct greedy *g)
{
	if (!g->batch)
		return;
	tx_kick(g->t);
	g->batch = 0;
	drain(g);
}

/* One packet of len bytes (whatever the buffer holds) on connection p, as the guest's op. */
static void send_pkt(struct greedy *g, unsigned p, uint16_t op, uint32_t len)
{
	struct virtio_vsock_hdr h = mkhdr(op, GPORT0 + p, g->hport, len);
	uint64_t gpa = g->big[g->batch];
	struct vqd_buf b = { gpa, HDR + len, false };

	ck_assert_uint_le(len, BIG);
	memcpy(g->t->vd.ram + gpa, &h, HDR);
	vqd_add_chain(&g->t->vd, TXQ, &b, 1);
	g->t->tx_posted++;
	if (op == VIRTIO_VSOCK_OP_RW)
		g->c[p].tx_cnt += len;
	if (++g->batch == NBIG)
		flush(g);
}

/* Every live connection sends all the credit it has; returns the bytes sent. */
static uint64_t greedy_round(struct greedy *g)
{
	uint64_t sent = 0;

	for (unsigned p = 0; p < g->n; p++) {
		uint32_t k;

		while (g->c[p].live && (k = credit(&g->c[p])) > 0) {
			k = k < BIG ? k : BIG;
			send_pkt(g, p, VIRTIO_VSOCK_OP_RW, k);
			sent += k;
		}
	}
	flush(g);
	settle(g->t);
	drain(g);
	return sent;
}

/*
 * A guest opens the most connections it may, to a host that never reads, and fills every one as
 * fast as its credit grows: what the device accounts never passes VIRTIO_VSOCK_TOTAL_BUF, nobody
 * who keeps to the credit is reset, one who does not is, and the device is as good as new after.
 */
START_TEST(buffer_total_bound)
{
	struct t t;
	struct greedy g = { .t = &t, .n = VIRTIO_VSOCK_MAX_CONNS, .hport = 6500 };
	struct virtio_vsock_hdr h, r;
	uint64_t most = 0, sent = 0;
	unsigned live = 0, stable = 0;
	uint32_t hport;
	int lfd, fd;

	setup(&t);
	for (unsigned i = 0; i < NBIG; i++)
		g.big[i] = vqd_alloc(&t.vd, BIG + HDR);
	g.c = calloc(g.n + 1, sizeof(*g.c));
	ck_assert_ptr_nonnull(g.c);
	lfd = uds_listen(&t, g.hport, 4096);
	for (unsigned p = 0; p <= g.n; p++) /* one more than the limit: refused */
		send_pkt(&g, p, VIRTIO_VSOCK_OP_REQUEST, 0);
	flush(&g);
	for (int i = 0; i < 5000 && live + g.c[g.n].rst < g.n + 1; i++) {
		usleep(1000);
		drain(&g);
		live = 0;
		for (unsigned p = 0; p < g.n; p++)
			live += g.c[p].live;
	}
	ck_assert_uint_eq(live, g.n);
	ck_assert(g.c[g.n].rst);
	ck_assert_uint_eq(conns(&t), VIRTIO_VSOCK_MAX_CONNS);
	ck_assert_uint_le(buffered(&t), VIRTIO_VSOCK_TOTAL_BUF);
	/* Fill them until the accounted total stops growing (the host's socket buffers fill too). */
	for (int round = 0; round < 40 && stable < 3; round++) {
		uint64_t b;

		sent += greedy_round(&g);
		b = buffered(&t);
		ck_assert_uint_le(b, VIRTIO_VSOCK_TOTAL_BUF);
		stable = b == most ? stable + 1 : 0;
		most = b > most ? b : most;
	}
	for (unsigned p = 0; p < g.n; p++)
		ck_assert_msg(g.c[p].live && !g.c[p].rst, "connection %u was reset", p);
	ck_assert_uint_eq(conns(&t), VIRTIO_VSOCK_MAX_CONNS);
	ck_assert_uint_gt(most, VIRTIO_VSOCK_TOTAL_BUF / 2); /* the pool was used, and is the limit */
	ck_assert_uint_gt(sent, (uint64_t)VIRTIO_VSOCK_TOTAL_BUF);
	ck_assert_uint_eq(g.max_alloc, VIRTIO_VSOCK_BUF); /* some connections reached the full window */
	/* A credit liar: 64 KiB packets beyond its window, to a host that reads nothing. Reset. */
	for (int i = 0; i < 40 && !g.c[0].rst; i++) {
		send_pkt(&g, 0, VIRTIO_VSOCK_OP_RW, BIG);
		flush(&g);
		settle(&t);
		drain(&g);
	}
	ck_assert(g.c[0].rst);
	ck_assert_uint_le(buffered(&t), VIRTIO_VSOCK_TOTAL_BUF);
	/* The guest resets them all: everything accounted goes back. */
	for (unsigned p = 0; p < g.n; p++)
		if (g.c[p].live)
			send_pkt(&g, p, VIRTIO_VSOCK_OP_RST, 0);
	flush(&g);
	for (int i = 0; i < 5000 && (conns(&t) || buffered(&t)); i++)
		usleep(1000);
	ck_assert_uint_eq(conns(&t), 0);
	ck_assert_uint_eq(buffered(&t), 0);
	close(lfd);
	/* Still serving, both ways. */
	while (rx_get_ms(&t, &h, NULL, 10))
		;
	fd = host_connect(&t, 5001, &hport);
	ck_assert_uint_gt(buffered(&t), 0);
	r = mkhdr(VIRTIO_VSOCK_OP_RW, 5001, hport, 2);
	tx(&t, &r, "hi", 2);
	{
		char buf[2];

		read_n(fd, buf, 2);
		ck_assert_int_eq(memcmp(buf, "hi", 2), 0);
	}
	close(fd);
	free(g.c);
	teardown(&t);
}
END_TEST

/* One busy connection, with a host that reads: its window grows to the full VIRTIO_VSOCK_BUF. */
START_TEST(window_grows)
{
	struct t t;
	struct greedy g = { .t = &t, .n = 1, .hport = 6600 };
	static uint8_t sink[BIG];
	uint64_t sent = 0, got = 0;
	int lfd, fd;

	setup(&t);
	for (unsigned i = 0; i < NBIG; i++)
		g.big[i] = vqd_alloc(&t.vd, BIG + HDR);
	g.c = calloc(2, sizeof(*g.c));
	ck_assert_ptr_nonnull(g.c);
	lfd = uds_listen(&t, g.hport, 8);
	send_pkt(&g, 0, VIRTIO_VSOCK_OP_REQUEST, 0);
	flush(&g);
	for (int i = 0; i < 5000 && !g.c[0].live; i++) {
		usleep(1000);
		drain(&g);
	}
	ck_assert(g.c[0].live);
	ck_assert_uint_lt(g.c[0].buf_alloc, VIRTIO_VSOCK_BUF); /* starts small */
	fd = accept(lfd, NULL, NULL);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	for (int round = 0; round < 2000 && (sent < (8u << 20) || g.max_alloc < VIRTIO_VSOCK_BUF); round++) {
		ssize_t n;

		sent += greedy_round(&g);
		while ((n = read(fd, sink, sizeof(sink))) > 0)
			got += (uint64_t)n;
	}
	ck_assert_uint_eq(g.max_alloc, VIRTIO_VSOCK_BUF);
	ck_assert(!g.c[0].rst);
	while (got < sent) {
		struct pollfd pf = { fd, POLLIN, 0 };
		ssize_t n;

		ck_assert_int_eq(poll(&pf, 1, 5000), 1);
		n = read(fd, sink, sizeof(sink));
		ck_assert_int_gt(n, 0);
		got += (uint64_t)n;
	}
	ck_assert_uint_eq(got, sent);
	close(fd);
	close(lfd);
	free(g.c);
	teardown(&t);
}
END_TEST

static void save_fn(void *arg)
{
	struct t *t = arg;
	struct sbuf b;
	struct sreader in;

	ck_assert_uint_eq(virtio_vsock_ops.inflight(t->vd.dev), 0);
	sbuf_init(&b);
	ck_assert_int_eq(virtio_vsock_ops.save(t->vd.dev, &b), 0);
	in = (struct sreader){ .p = b.data, .len = b.len };
	ck_assert_int_eq(virtio_vsock_ops.restore(t->vd.dev, &in), 0);
	in = (struct sreader){ .p = b.data, .len = b.len - 1 };
	ck_assert_int_ne(virtio_vsock_ops.restore(t->vd.dev, &in), 0);
	sbuf_free(&b);
}

/* After a restore, the guest hears TRANSPORT_RESET on the event queue. */
START_TEST(snapshot_transport_reset)
{
	struct t t;
	struct vqd_buf b;
	struct vring_used_elem e;
	uint64_t g;

	setup(&t);
	g = vqd_alloc(&t.vd, 64);
	memset(t.vd.ram + g, 0xff, 4);
	b = (struct vqd_buf){ g, 64, true };
	vqd_add_chain(&t.vd, EVQ, &b, 1);
	vqd_kick(&t.vd, EVQ);
	settle(&t);
	ck_assert_uint_eq(vqd_used_idx(&t.vd, EVQ), 0); /* nothing to say yet */
	ck_assert_int_eq(event_loop_call(t.vd.l, save_fn, &t), 0);
	vqd_kick(&t.vd, EVQ);
	vqd_wait_used(&t.vd, EVQ, 1);
	e = vqd_used_elem(&t.vd, EVQ, 0);
	ck_assert_uint_eq(e.len, 4);
	ck_assert_uint_eq(le32toh(*(uint32_t *)(t.vd.ram + g)), VIRTIO_VSOCK_EVENT_TRANSPORT_RESET);
	teardown(&t);
}
END_TEST

START_TEST(uds_checks)
{
	struct virtio_vsock_opts o = { .guest_cid = CID };
	char dir[] = "/tmp/vsock-test-XXXXXX", path[96];
	void *dev;
	int fd;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	o.uds = path;
	ck_assert_int_eq(virtio_vsock_create(&o, &quiet, &dev), -EEXIST);
	unlink(path);
	o.uds = "";
	ck_assert_int_eq(virtio_vsock_create(&o, &quiet, &dev), -EINVAL);
	o.uds = path;
	o.guest_cid = 2;
	ck_assert_int_eq(virtio_vsock_create(&o, &quiet, &dev), -EINVAL);
	o.guest_cid = CID;
	/* A stale socket is replaced. */
	ck_assert_int_eq(virtio_vsock_create(&o, &quiet, &dev), 0);
	close(uds_connect(path));
	virtio_vsock_ops.destroy(dev);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	{
		struct sockaddr_un a = { .sun_family = AF_UNIX };

		snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
		ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	}
	close(fd);
	ck_assert_int_eq(virtio_vsock_create(&o, &quiet, &dev), 0);
	virtio_vsock_ops.destroy(dev);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_vsock");
	TCase *tc = tcase_create("virtio_vsock");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, config_space);
	tcase_add_test(tc, host_connect_data_credit);
	tcase_add_test(tc, host_connect_refused_by_guest);
	tcase_add_test(tc, guest_connect);
	tcase_add_test(tc, guest_half_close);
	tcase_add_test(tc, hostile_packets);
	tcase_add_test(tc, request_flood);
	tcase_add_test(tc, no_leaks);
	tcase_add_test(tc, buffer_total_bound);
	tcase_add_test(tc, window_grows);
	tcase_add_test(tc, snapshot_transport_reset);
	tcase_add_test(tc, uds_checks);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
