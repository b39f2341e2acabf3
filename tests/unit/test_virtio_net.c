// SPDX-License-Identifier: Apache-2.0
/* virtio-net end to end without KVM: a fake guest RAM and driver, a socketpair for a tap, a real I/O thread. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "event_loop.h"
#include "memory.h"
#include "tap.h"
#include "virtio/net.h"
#include "guest_flood.h"
#include "unit.h"

#define RAM_SIZE (8u << 20)
#define QSIZE 256
#define DATA_BASE 0x100000u
#define MAXQ 5
#define HDR 12

static void drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

static const struct vlog quiet = { .fn = drop_msg, .level = VMM_LOG_ERROR };
static const struct vlog *dev_log = &quiet; /* the device's log (a test may count its lines) */
static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct drv {
	struct guest_mem mem;
	uint8_t *ram;
	struct virtq vq[MAXQ];
	unsigned nq;
	uint16_t next_desc[MAXQ], avail_idx[MAXQ];
	uint64_t heap;
	struct event_loop *l;
	struct tap *tap;
	int peer[2]; /* the host side of each tap queue */
	unsigned pairs;
	void *dev;
	struct virtio_ctx ctx;
	atomic_int irqs[MAXQ];
	atomic_int resets;
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static void fake_irq(void *opaque, unsigned q)
{
	atomic_fetch_add(&((struct drv *)opaque)->irqs[q], 1);
}

static void fake_needs_reset(void *opaque)
{
	atomic_fetch_add(&((struct drv *)opaque)->resets, 1);
}

static void fake_config_changed(void *opaque)
{
	(void)opaque;
}

static uint64_t ring_gpa(unsigned q)
{
	return 0x10000u * (q + 1);
}

static struct vring_desc *desc(struct drv *d, unsigned q)
{
	return (struct vring_desc *)(d->ram + ring_gpa(q));
}

static struct vring_avail *avail(struct drv *d, unsigned q)
{
	return (struct vring_avail *)(d->ram + ring_gpa(q) + 0x1000);
}

static struct vring_used *used(struct drv *d, unsigned q)
{
	return (struct vring_used *)(d->ram + ring_gpa(q) + 0x2000);
}

static uint64_t galloc(struct drv *d, uint32_t len)
{
	uint64_t g = d->heap;

	d->heap = (d->heap + len + 4095) & ~4095ull;
	ck_assert_uint_le(d->heap, RAM_SIZE);
	return g;
}

static void init_queues(struct drv *d)
{
	for (unsigned q = 0; q < d->nq; q++) {
		memset(d->ram + ring_gpa(q), 0, 0x3000);
		d->next_desc[q] = d->avail_idx[q] = 0;
		ck_assert_int_eq(virtq_init(&d->vq[q], &d->mem, QSIZE, ring_gpa(q), ring_gpa(q) + 0x1000,
					    ring_gpa(q) + 0x2000, false),
				 0);
	}
}

static void activate_fn(void *arg)
{
	struct drv *d = arg;

	ck_assert_int_eq(virtio_net_ops.activate(d->dev, &d->ctx), 0);
}

static void reset_fn(void *arg)
{
	struct drv *d = arg;

	virtio_net_ops.reset(d->dev);
}

/* A device over a fake tap: pairs socketpairs (SOCK_SEQPACKET keeps frame boundaries, like a tap). */
static void setup(struct drv *d, unsigned pairs, uint64_t drop_features)
{
	struct virtio_net_opts o = { .queue_pairs = pairs };
	int sv[2];

	memset(d, 0, sizeof(*d));
	d->tap = malloc(sizeof(*d->tap)); /* tap_close() frees it */
	ck_assert_ptr_nonnull(d->tap);
	memset(d->tap, 0, sizeof(*d->tap));
	snprintf(d->tap->name, sizeof(d->tap->name), "faketap0");
	for (unsigned i = 0; i < pairs; i++) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv), 0);
		d->tap->fd[i] = sv[0];
		d->peer[i] = sv[1];
	}
	d->tap->nqueues = pairs;
	d->pairs = pairs;
	d->tap->created = false;
	d->ram = aligned_alloc(4096, RAM_SIZE);
	ck_assert_ptr_nonnull(d->ram);
	memset(d->ram, 0, RAM_SIZE);
	ck_assert_int_eq(gmem_add_region(&d->mem, 0, RAM_SIZE, d->ram), 0);
	d->heap = DATA_BASE;
	ck_assert_int_eq(event_loop_create(256, &quiet, &d->l), 0);
	ck_assert_int_eq(event_loop_start(d->l), 0);
	memcpy(o.mac, MAC, 6);
	o.tap = d->tap;
	ck_assert_int_eq(virtio_net_create(&o, dev_log, &d->dev), 0);
	d->nq = virtio_net_ops.num_queues(d->dev);
	ck_assert_uint_eq(d->nq, 2 * pairs + 1);
	init_queues(d);
	d->ctx = (struct virtio_ctx){
		.mem = &d->mem,
		.loop = d->l,
		.features = virtio_net_ops.features(d->dev) & ~drop_features,
		.vq = d->vq,
		.nvq = d->nq,
		.interrupt = fake_irq,
		.needs_reset = fake_needs_reset,
		.config_changed = fake_config_changed,
		.irq_opaque = d,
	};
	ck_assert_int_eq(event_loop_call(d->l, activate_fn, d), 0);
}

static void teardown(struct drv *d)
{
	event_loop_call(d->l, reset_fn, d);
	event_loop_stop(d->l); /* returns: reset cancelled the reads waiting for frames */
	virtio_net_ops.destroy(d->dev); /* closes the tap's fds and frees it */
	event_loop_destroy(d->l);
	for (unsigned i = 0; i < d->pairs; i++)
		if (d->peer[i] >= 0)
			close(d->peer[i]);
	free(d->ram);
}

/* Put a chain on the avail ring (not yet notified); returns its head. */
static uint16_t add_chain(struct drv *d, unsigned q, const struct buf *b, unsigned n)
{
	struct vring_desc *t = desc(d, q);
	struct vring_avail *a = avail(d, q);
	uint16_t head = d->next_desc[q];

	if (head + n > QSIZE)
		head = 0;
	for (unsigned k = 0; k < n; k++) {
		uint16_t i = (uint16_t)(head + k);

		t[i].addr = htole64(b[k].gpa);
		t[i].len = htole32(b[k].len);
		t[i].flags = htole16((b[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0));
		t[i].next = htole16((uint16_t)(i + 1));
	}
	d->next_desc[q] = (uint16_t)((head + n) % QSIZE);
	a->ring[d->avail_idx[q] % QSIZE] = htole16(head);
	d->avail_idx[q]++;
	__atomic_store_n(&a->idx, htole16(d->avail_idx[q]), __ATOMIC_RELEASE);
	return head;
}

struct kick_arg {
	struct drv *d;
	unsigned q;
};

static void notify_fn(void *arg)
{
	struct kick_arg *k = arg;

	virtio_net_ops.notify(k->d->dev, k->q);
}

static void kick(struct drv *d, unsigned q)
{
	struct kick_arg k = { d, q };

	ck_assert_int_eq(event_loop_call(d->l, notify_fn, &k), 0);
}

static uint16_t used_idx(struct drv *d, unsigned q)
{
	return le16toh(__atomic_load_n(&used(d, q)->idx, __ATOMIC_ACQUIRE));
}

/* Wait until the used ring holds n entries; the guest must never wait forever. */
static void wait_used(struct drv *d, unsigned q, uint16_t n)
{
	for (int i = 0; i < 5000; i++) {
		if (used_idx(d, q) == n)
			return;
		usleep(1000);
	}
	ck_abort_msg("queue %u: used idx %u, want %u", q, used_idx(d, q), n);
}

static struct vring_used_elem used_elem(struct drv *d, unsigned q, uint16_t i)
{
	struct vring_used_elem e = used(d, q)->ring[i % QSIZE];

	return (struct vring_used_elem){ .id = le32toh(e.id), .len = le32toh(e.len) };
}

/* n one-buffer RX chains of len bytes each; returns the first buffer's address (they are 4 KiB apart). */
static uint64_t post_rx(struct drv *d, unsigned q, unsigned n, uint32_t len)
{
	uint64_t first = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t g = galloc(d, len);

		memset(d->ram + g, 0xee, len);
		if (i == 0)
			first = g;
		add_chain(d, q, &(struct buf){ g, len, true }, 1);
	}
	return first;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* The host side sends hdr + frame of len bytes (header included). */
static void host_send(struct drv *d, unsigned pair, uint8_t *pkt, size_t len, unsigned seed)
{
	fill(pkt, len, seed);
	memset(pkt, 0, HDR);
	pkt[10] = 0x77; /* num_buffers as the tap leaves it: untouched */
	pkt[11] = 0x77;
	ck_assert_int_eq(send(d->peer[pair], pkt, len, 0), (ssize_t)len);
}

/* The host side receives one frame (waits up to 5 s); returns its length. */
static ssize_t host_recv(struct drv *d, unsigned pair, uint8_t *buf, size_t len)
{
	struct pollfd p = { .fd = d->peer[pair], .events = POLLIN };

	if (poll(&p, 1, 5000) != 1)
		return -1;
	return recv(d->peer[pair], buf, len, MSG_DONTWAIT);
}

static uint16_t num_buffers(struct drv *d, uint64_t g)
{
	uint16_t v;

	memcpy(&v, d->ram + g + 10, 2);
	return le16toh(v);
}

START_TEST(tx_frame)
{
	struct drv d;
	uint64_t h, f;
	uint8_t want[HDR + 300], got[1024];
	struct buf b[4];

	setup(&d, 1, 0);
	h = galloc(&d, HDR);
	f = galloc(&d, 300);
	fill(d.ram + h, HDR, 1);
	fill(d.ram + f, 300, 2);
	memcpy(want, d.ram + h, HDR);
	memcpy(want + HDR, d.ram + f, 300);
	/* The header split over two buffers, the frame over two more. */
	b[0] = (struct buf){ h, 5, false };
	b[1] = (struct buf){ h + 5, 7, false };
	b[2] = (struct buf){ f, 100, false };
	b[3] = (struct buf){ f + 100, 200, false };
	add_chain(&d, 1, b, 4);
	kick(&d, 1);
	ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), (ssize_t)sizeof(want));
	ck_assert_mem_eq(got, want, sizeof(want));
	wait_used(&d, 1, 1);
	ck_assert_uint_eq(used_elem(&d, 1, 0).len, 0);
	for (int i = 0; i < 1000 && atomic_load(&d.irqs[1]) == 0; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(&d.irqs[1]), 1);

	/* Many at once: all sent, in order, all completed. */
	for (unsigned i = 0; i < 100; i++) {
		uint64_t g = galloc(&d, 64);

		fill(d.ram + g, 64, 10 + i);
		add_chain(&d, 1, &(struct buf){ g, 64, false }, 1);
	}
	kick(&d, 1);
	for (unsigned i = 0; i < 100; i++) {
		uint8_t w[64];

		fill(w, 64, 10 + i);
		ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), 64);
		ck_assert_mem_eq(got, w, 64);
	}
	wait_used(&d, 1, 101);
	teardown(&d);
}
END_TEST

START_TEST(rx_frame)
{
	struct drv d;
	uint8_t pkt[HDR + 60];
	uint64_t g;
	struct vring_used_elem e;

	setup(&d, 1, 0);
	g = post_rx(&d, 0, 4, 4096);
	kick(&d, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 3);
	wait_used(&d, 0, 1);
	e = used_elem(&d, 0, 0);
	ck_assert_uint_eq(e.id, 0);
	ck_assert_uint_eq(e.len, sizeof(pkt));
	ck_assert_uint_eq(num_buffers(&d, g), 1);
	ck_assert_mem_eq(d.ram + g, pkt, 10);
	ck_assert_mem_eq(d.ram + g + HDR, pkt + HDR, 60);
	ck_assert_uint_eq(d.ram[g + sizeof(pkt)], 0xee); /* nothing past the frame */
	for (int i = 0; i < 1000 && atomic_load(&d.irqs[0]) == 0; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(&d.irqs[0]), 1);
	/* The next frame takes the next buffer. */
	host_send(&d, 0, pkt, sizeof(pkt), 4);
	wait_used(&d, 0, 2);
	ck_assert_uint_eq(used_elem(&d, 0, 1).id, 1);
	ck_assert_mem_eq(d.ram + g + 4096 + HDR, pkt + HDR, 60);
	teardown(&d);
}
END_TEST

START_TEST(rx_big_frame_merged)
{
	static uint8_t pkt[HDR + 9000];
	struct drv d;
	uint64_t g;

	setup(&d, 1, 0);
	g = post_rx(&d, 0, 8, 4096);
	kick(&d, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 5);
	wait_used(&d, 0, 3);
	ck_assert_uint_eq(used_elem(&d, 0, 0).len, 4096);
	ck_assert_uint_eq(used_elem(&d, 0, 1).len, 4096);
	ck_assert_uint_eq(used_elem(&d, 0, 2).len, sizeof(pkt) - 2 * 4096);
	ck_assert_uint_eq(used_elem(&d, 0, 2).id, 2);
	ck_assert_uint_eq(num_buffers(&d, g), 3);
	ck_assert_mem_eq(d.ram + g + HDR, pkt + HDR, 4096 - HDR);
	ck_assert_mem_eq(d.ram + g + 4096, pkt + 4096, 4096);
	ck_assert_mem_eq(d.ram + g + 8192, pkt + 8192, sizeof(pkt) - 8192);
	/* The rest of the buffers serve the next frame. */
	host_send(&d, 0, pkt, 100, 6);
	wait_used(&d, 0, 4);
	ck_assert_uint_eq(used_elem(&d, 0, 3).id, 3);
	ck_assert_uint_eq(num_buffers(&d, g + 3 * 4096), 1);
	teardown(&d);
}
END_TEST

START_TEST(rx_without_mrg)
{
	struct drv d;
	uint8_t pkt[HDR + 1514];
	uint64_t h, f;

	setup(&d, 1, 1ull << VIRTIO_NET_F_MRG_RXBUF);
	/* A header buffer and a data buffer in one chain (the header still carries num_buffers). */
	h = galloc(&d, HDR);
	f = galloc(&d, 1518);
	memset(d.ram + h, 0xee, HDR);
	add_chain(&d, 0, (struct buf[]){ { h, HDR, true }, { f, 1518, true } }, 2);
	kick(&d, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 7);
	wait_used(&d, 0, 1);
	ck_assert_uint_eq(used_elem(&d, 0, 0).len, sizeof(pkt));
	ck_assert_uint_eq(num_buffers(&d, h), 1);
	ck_assert_mem_eq(d.ram + f, pkt + HDR, 1514);
	teardown(&d);
}
END_TEST

START_TEST(rx_buffers_after_frame)
{
	struct drv d;
	uint8_t pkt[HDR + 80];
	uint64_t g;

	setup(&d, 1, 0);
	kick(&d, 0); /* no buffers: nothing is read */
	host_send(&d, 0, pkt, sizeof(pkt), 8);
	usleep(50000);
	ck_assert_uint_eq(used_idx(&d, 0), 0);
	g = post_rx(&d, 0, 2, 2048);
	kick(&d, 0);
	wait_used(&d, 0, 1);
	ck_assert_uint_eq(used_elem(&d, 0, 0).len, sizeof(pkt));
	ck_assert_mem_eq(d.ram + g + HDR, pkt + HDR, 80);
	teardown(&d);
}
END_TEST

/* One control command; returns the ack byte (0xee if untouched) and the used length. */
static uint8_t ctrl(struct drv *d, uint8_t class, uint8_t cmd, const void *data, uint32_t dlen, uint32_t *len)
{
	unsigned q = d->nq - 1;
	uint64_t h = galloc(d, 2), dt = galloc(d, dlen + 1), ack = galloc(d, 1);
	struct buf b[3];
	unsigned n = 0;
	uint16_t head;

	d->ram[h] = class;
	d->ram[h + 1] = cmd;
	if (dlen)
		memcpy(d->ram + dt, data, dlen);
	d->ram[ack] = 0xee;
	b[n++] = (struct buf){ h, 2, false };
	if (dlen)
		b[n++] = (struct buf){ dt, dlen, false };
	b[n++] = (struct buf){ ack, 1, true };
	head = add_chain(d, q, b, n);
	kick(d, q);
	wait_used(d, q, d->avail_idx[q]);
	ck_assert_uint_eq(used_elem(d, q, (uint16_t)(d->avail_idx[q] - 1)).id, head);
	if (len)
		*len = used_elem(d, q, (uint16_t)(d->avail_idx[q] - 1)).len;
	return d->ram[ack];
}

START_TEST(control_queue)
{
	static const uint8_t mac2[6] = { 0x02, 0x11, 0x22, 0x33, 0x44, 0x55 };
	uint8_t on = 1, cfg[6], table[8] = { 0 };
	struct drv d;
	uint32_t len;

	setup(&d, 1, 0);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, &on, 1, &len), VIRTIO_NET_OK);
	ck_assert_uint_eq(len, 1);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI, &on, 1, NULL), VIRTIO_NET_OK);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_NOBCAST, &on, 1, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC, NULL, 0, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, 99, 0, &on, 1, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_VLAN, VIRTIO_NET_CTRL_VLAN_ADD, table, 2, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_TABLE_SET, table, 8, NULL), VIRTIO_NET_OK);
	/* MQ was not offered with one pair. */
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\1\0", 2, NULL), VIRTIO_NET_ERR);
	/* A new MAC: in the configuration space from then on. */
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac2, 5, NULL), VIRTIO_NET_ERR);
	virtio_net_ops.config_read(d.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, MAC, 6);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac2, 6, NULL), VIRTIO_NET_OK);
	virtio_net_ops.config_read(d.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, mac2, 6);
	/* Malformed: no ack byte (completed with 0), a header cut short (ERR). */
	{
		uint64_t h = galloc(&d, 2);
		uint64_t ack = galloc(&d, 1);

		add_chain(&d, 2, &(struct buf){ h, 2, false }, 1);
		kick(&d, 2);
		wait_used(&d, 2, d.avail_idx[2]);
		ck_assert_uint_eq(used_elem(&d, 2, (uint16_t)(d.avail_idx[2] - 1)).len, 0);
		d.ram[ack] = 0xee;
		add_chain(&d, 2, (struct buf[]){ { h, 1, false }, { ack, 1, true } }, 2);
		kick(&d, 2);
		wait_used(&d, 2, d.avail_idx[2]);
		ck_assert_uint_eq(d.ram[ack], VIRTIO_NET_ERR);
	}
	ck_assert_int_eq(atomic_load(&d.irqs[2]), (int)d.avail_idx[2]);
	teardown(&d);
}
END_TEST

START_TEST(multiqueue)
{
	struct drv d;
	uint8_t pkt[HDR + 64], got[256];
	uint64_t g0, g1, tx;

	setup(&d, 2, 0);
	ck_assert(virtio_net_ops.features(d.dev) & (1ull << VIRTIO_NET_F_MQ));
	g0 = post_rx(&d, 0, 4, 2048);
	g1 = post_rx(&d, 2, 4, 2048);
	kick(&d, 0);
	kick(&d, 2);
	/* Only the first pair receives until VQ_PAIRS_SET. */
	host_send(&d, 1, pkt, sizeof(pkt), 9);
	usleep(50000);
	ck_assert_uint_eq(used_idx(&d, 2), 0);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\3\0", 2, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\0\0", 2, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\2\0", 2, NULL), VIRTIO_NET_OK);
	wait_used(&d, 2, 1);
	ck_assert_mem_eq(d.ram + g1 + HDR, pkt + HDR, 64);
	/* Each pair its own tap queue, both ways. */
	host_send(&d, 0, pkt, sizeof(pkt), 10);
	wait_used(&d, 0, 1);
	ck_assert_mem_eq(d.ram + g0 + HDR, pkt + HDR, 64);
	tx = galloc(&d, 100);
	fill(d.ram + tx, 100, 11);
	add_chain(&d, 3, &(struct buf){ tx, 100, false }, 1);
	kick(&d, 3);
	ck_assert_int_eq(host_recv(&d, 1, got, sizeof(got)), 100);
	ck_assert_mem_eq(got, d.ram + tx, 100);
	wait_used(&d, 3, 1);
	/* Back to one pair: the second one's read is cancelled, its frames wait. */
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\1\0", 2, NULL), VIRTIO_NET_OK);
	usleep(20000);
	host_send(&d, 1, pkt, sizeof(pkt), 12);
	usleep(50000);
	ck_assert_uint_eq(used_idx(&d, 2), 1);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\2\0", 2, NULL), VIRTIO_NET_OK);
	wait_used(&d, 2, 2);
	ck_assert_mem_eq(d.ram + g1 + 4096 + HDR, pkt + HDR, 64);
	teardown(&d);
}
END_TEST

START_TEST(malformed_tx)
{
	struct drv d;
	uint64_t g = 0;
	uint8_t got[256];

	setup(&d, 1, 0);
	g = galloc(&d, 4096);
	fill(d.ram + g, 4096, 13);
	/* A writable buffer, a frame shorter than the header, a buffer outside RAM: completed with 0. */
	add_chain(&d, 1, (struct buf[]){ { g, 100, false }, { g + 100, 100, true } }, 2);
	add_chain(&d, 1, &(struct buf){ g, HDR - 1, false }, 1);
	add_chain(&d, 1, &(struct buf){ RAM_SIZE - 10, 100, false }, 1);
	add_chain(&d, 1, &(struct buf){ g, 50, false }, 1);
	kick(&d, 1);
	wait_used(&d, 1, 4);
	for (uint16_t i = 0; i < 4; i++)
		ck_assert_uint_eq(used_elem(&d, 1, i).len, 0);
	/* Only the good frame went out. */
	ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), 50);
	ck_assert_mem_eq(got, d.ram + g, 50);
	ck_assert_int_eq(recv(d.peer[0], got, sizeof(got), MSG_DONTWAIT), -1);
	/* A readable RX buffer: completed with 0, the queue still works. */
	add_chain(&d, 0, &(struct buf){ g, 2048, false }, 1);
	post_rx(&d, 0, 1, 2048);
	kick(&d, 0);
	wait_used(&d, 0, 1);
	ck_assert_uint_eq(used_elem(&d, 0, 0).len, 0);
	host_send(&d, 0, got, 40, 14);
	wait_used(&d, 0, 2);
	ck_assert_uint_eq(used_elem(&d, 0, 1).len, 40);
	ck_assert_int_eq(atomic_load(&d.resets), 0);
	teardown(&d);
}
END_TEST

START_TEST(reset_and_reactivate)
{
	struct drv d;
	uint8_t pkt[HDR + 64];
	uint64_t g;

	setup(&d, 1, 0);
	post_rx(&d, 0, 4, 2048);
	kick(&d, 0); /* a read waits for a frame */
	usleep(20000);
	ck_assert_int_eq(event_loop_call(d.l, reset_fn, &d), 0);
	init_queues(&d);
	ck_assert_int_eq(event_loop_call(d.l, activate_fn, &d), 0);
	g = post_rx(&d, 0, 4, 2048);
	kick(&d, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 15);
	wait_used(&d, 0, 1);
	ck_assert_mem_eq(d.ram + g + HDR, pkt + HDR, 64);
	teardown(&d); /* the loop's stop returns: the read of this session is cancelled too */
}
END_TEST

START_TEST(tap_gone)
{
	struct drv d;

	setup(&d, 1, 0);
	close(d.peer[0]); /* end of file on every read: like a tap that went away */
	d.peer[0] = -1;
	post_rx(&d, 0, 4, 2048);
	kick(&d, 0);
	usleep(50000);
	kick(&d, 0); /* a notify retries once, then the queue parks again: no spinning */
	usleep(50000);
	ck_assert_uint_eq(used_idx(&d, 0), 0);
	ck_assert_int_eq(atomic_load(&d.resets), 0);
	teardown(&d);
}
END_TEST

/* A one-buffer chain the device refuses and completes at once on queue q (wrong direction for it). */
static void bad_chain(unsigned q, struct vring_desc *t, uint64_t g)
{
	*t = (struct vring_desc){ htole64(g), htole32(64), htole16(q == 1 ? VRING_DESC_F_WRITE : 0), 0 };
}

/*
 * Issue 18: a guest re-posting chains that complete at once (malformed RX buffers, malformed TX
 * frames, control commands) must not keep the I/O thread: one notify serves at most a queue's
 * worth, the rest comes on later turns by itself, and another queue is served meanwhile.
 */
START_TEST(flood_does_not_starve_other_queue)
{
	for (unsigned q = 0; q < 3; q++) {
		unsigned other = q == 2 ? 1 : 2;
		struct drv d;
		struct flood f;
		uint64_t g;

		setup(&d, 1, 0);
		g = galloc(&d, 64);
		for (uint16_t i = 0; i < QSIZE; i++)
			bad_chain(q, &desc(&d, q)[i], g);
		memset(&f, 0, sizeof(f));
		f = (struct flood){ .l = d.l, .ops = &virtio_net_ops, .dev = d.dev, .q = q, .vq = &d.vq[q],
				    .avail = avail(&d, q), .used = used(&d, q), .qsize = QSIZE, .nchains = QSIZE,
				    .stride = 1 };
		flood_start(&f);
		ck_assert(flood_wait_completed(&f, 1024 * QSIZE));
		bad_chain(other, &desc(&d, other)[0], g);
		avail(&d, other)->ring[0] = 0;
		__atomic_store_n(&avail(&d, other)->idx, htole16(1), __ATOMIC_RELEASE);
		kick(&d, other);
		wait_used(&d, other, 1);
		ck_assert_msg(atomic_load(&f.running), "queue %u: queue %u was served only once the flood had ended", q,
			      other);
		flood_stop(&f);
		ck_assert_msg(f.max_per_notify <= QSIZE, "queue %u: one notify served %u chains", q, f.max_per_notify);
		teardown(&d);
	}
}
END_TEST

static atomic_int lines;

static void count_line(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
	atomic_fetch_add(&lines, 1);
}

/* Issue 18: a guest breaking its queues in a loop (bad avail index, notify, reset) gets a few lines, not one each. */
START_TEST(broken_queue_lines_rationed)
{
	static const struct vlog counting = { .fn = count_line, .level = VMM_LOG_DEBUG };
	struct drv d;
	int n;

	dev_log = &counting;
	setup(&d, 1, 0);
	for (int i = 0; i < 1000; i++) {
		unsigned q = (unsigned)i % 3;

		/* An avail index more than the queue size ahead: the queue cannot be trusted. */
		__atomic_store_n(&avail(&d, q)->idx, htole16(QSIZE + 5), __ATOMIC_RELEASE);
		kick(&d, q);
		ck_assert_int_eq(atomic_load(&d.resets), i + 1);
		ck_assert_int_eq(event_loop_call(d.l, reset_fn, &d), 0);
		init_queues(&d);
		ck_assert_int_eq(event_loop_call(d.l, activate_fn, &d), 0);
	}
	n = atomic_load(&lines);
	ck_assert_int_ge(n, 1);
	ck_assert_int_le(n, VLOG_GUEST_BUDGET);
	teardown(&d);
	dev_log = &quiet;
}
END_TEST

START_TEST(config_space)
{
	struct drv d;
	struct virtio_net_config c;
	uint64_t f;

	setup(&d, 2, 0);
	ck_assert_uint_eq(virtio_net_ops.config_size, 12);
	ck_assert_uint_eq(virtio_net_ops.queue_max_size, QSIZE);
	memset(&c, 0xff, sizeof(c));
	for (uint32_t off = 0; off < virtio_net_ops.config_size; off += 2)
		virtio_net_ops.config_read(d.dev, off, (uint8_t *)&c + off, 2);
	ck_assert_mem_eq(c.mac, MAC, 6);
	ck_assert_uint_eq(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(le16toh(c.max_virtqueue_pairs), 2);
	f = virtio_net_ops.features(d.dev);
	ck_assert(f & (1ull << VIRTIO_NET_F_MAC));
	ck_assert(f & (1ull << VIRTIO_NET_F_STATUS));
	ck_assert(f & (1ull << VIRTIO_NET_F_MRG_RXBUF));
	ck_assert(f & (1ull << VIRTIO_NET_F_CTRL_VQ));
	ck_assert(!(f & (1ull << VIRTIO_NET_F_GUEST_UFO)));
	ck_assert(!(f & (1ull << VIRTIO_NET_F_HOST_UFO)));
	teardown(&d);
}
END_TEST

START_TEST(create_checks)
{
	struct virtio_net_opts o = { 0 };
	struct tap t = { .nqueues = 1 };
	void *dev;

	ck_assert_int_eq(virtio_net_create(&o, &quiet, &dev), -EINVAL);
	o.tap = &t;
	o.queue_pairs = 2;
	ck_assert_int_eq(virtio_net_create(&o, &quiet, &dev), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_net");
	TCase *tc = tcase_create("virtio_net");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, tx_frame);
	tcase_add_test(tc, rx_frame);
	tcase_add_test(tc, rx_big_frame_merged);
	tcase_add_test(tc, rx_without_mrg);
	tcase_add_test(tc, rx_buffers_after_frame);
	tcase_add_test(tc, control_queue);
	tcase_add_test(tc, multiqueue);
	tcase_add_test(tc, malformed_tx);
	tcase_add_test(tc, reset_and_reactivate);
	tcase_add_test(tc, tap_gone);
	tcase_add_test(tc, config_space);
	tcase_add_test(tc, create_checks);
	tcase_add_test(tc, flood_does_not_starve_other_queue);
	tcase_add_test(tc, broken_queue_lines_rationed);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
