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
#include "virtq_driver.h"

#define HDR 12

static void drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

static const struct vlog quiet = { .fn = drop_msg, .level = VMM_LOG_ERROR };
static const struct vlog *dev_log = &quiet; /* the device's log (a test may count its lines) */
static const uint8_t MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

struct drv {
	struct virtq_driver vd;
	struct tap *tap;
	int peer[2]; /* the host side of each tap queue */
	unsigned pairs;
};

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
	vqd_init(&d->vd, &quiet);
	memcpy(o.mac, MAC, 6);
	o.tap = d->tap;
	ck_assert_int_eq(virtio_net_create(&o, dev_log, &d->vd.dev), 0);
	ck_assert_uint_eq(virtio_net_ops.num_queues(d->vd.dev), 2 * pairs + 1);
	vqd_start(&d->vd, &virtio_net_ops, 2 * pairs + 1, virtio_net_ops.features(d->vd.dev) & ~drop_features);
}

static void teardown(struct drv *d)
{
	/* The loop stops (reset cancelled the reads waiting for frames); destroy() closes the tap's fds and frees it. */
	vqd_teardown(&d->vd);
	for (unsigned i = 0; i < d->pairs; i++)
		if (d->peer[i] >= 0)
			close(d->peer[i]);
}

/* n one-buffer RX chains of len bytes each; returns the first buffer's address (they are 4 KiB apart). */
static uint64_t post_rx(struct drv *d, unsigned q, unsigned n, uint32_t len)
{
	uint64_t first = 0;

	for (unsigned i = 0; i < n; i++) {
		uint64_t g = vqd_alloc(&d->vd, len);

		memset(d->vd.ram + g, 0xee, len);
		if (i == 0)
			first = g;
		vqd_add_chain(&d->vd, q, &(struct vqd_buf){ g, len, true }, 1);
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

	memcpy(&v, d->vd.ram + g + 10, 2);
	return le16toh(v);
}

START_TEST(tx_frame)
{
	struct drv d;
	uint64_t h, f;
	uint8_t want[HDR + 300], got[1024];
	struct vqd_buf b[4];

	setup(&d, 1, 0);
	h = vqd_alloc(&d.vd, HDR);
	f = vqd_alloc(&d.vd, 300);
	fill(d.vd.ram + h, HDR, 1);
	fill(d.vd.ram + f, 300, 2);
	memcpy(want, d.vd.ram + h, HDR);
	memcpy(want + HDR, d.vd.ram + f, 300);
	/* The header split over two buffers, the frame over two more. */
	b[0] = (struct vqd_buf){ h, 5, false };
	b[1] = (struct vqd_buf){ h + 5, 7, false };
	b[2] = (struct vqd_buf){ f, 100, false };
	b[3] = (struct vqd_buf){ f + 100, 200, false };
	vqd_add_chain(&d.vd, 1, b, 4);
	vqd_kick(&d.vd, 1);
	ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), (ssize_t)sizeof(want));
	ck_assert_mem_eq(got, want, sizeof(want));
	vqd_wait_used(&d.vd, 1, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 1, 0).len, 0);
	for (int i = 0; i < 1000 && atomic_load(&d.vd.irqs[1]) == 0; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(&d.vd.irqs[1]), 1);

	/* Many at once: all sent, in order, all completed. */
	for (unsigned i = 0; i < 100; i++) {
		uint64_t g = vqd_alloc(&d.vd, 64);

		fill(d.vd.ram + g, 64, 10 + i);
		vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, 64, false }, 1);
	}
	vqd_kick(&d.vd, 1);
	for (unsigned i = 0; i < 100; i++) {
		uint8_t w[64];

		fill(w, 64, 10 + i);
		ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), 64);
		ck_assert_mem_eq(got, w, 64);
	}
	vqd_wait_used(&d.vd, 1, 101);
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
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 3);
	vqd_wait_used(&d.vd, 0, 1);
	e = vqd_used_elem(&d.vd, 0, 0);
	ck_assert_uint_eq(e.id, 0);
	ck_assert_uint_eq(e.len, sizeof(pkt));
	ck_assert_uint_eq(num_buffers(&d, g), 1);
	ck_assert_mem_eq(d.vd.ram + g, pkt, 10);
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, 60);
	ck_assert_uint_eq(d.vd.ram[g + sizeof(pkt)], 0xee); /* nothing past the frame */
	for (int i = 0; i < 1000 && atomic_load(&d.vd.irqs[0]) == 0; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(&d.vd.irqs[0]), 1);
	/* The next frame takes the next buffer. */
	host_send(&d, 0, pkt, sizeof(pkt), 4);
	vqd_wait_used(&d.vd, 0, 2);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 1).id, 1);
	ck_assert_mem_eq(d.vd.ram + g + 4096 + HDR, pkt + HDR, 60);
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
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 5);
	vqd_wait_used(&d.vd, 0, 3);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, 4096);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 1).len, 4096);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 2).len, sizeof(pkt) - 2 * 4096);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 2).id, 2);
	ck_assert_uint_eq(num_buffers(&d, g), 3);
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, 4096 - HDR);
	ck_assert_mem_eq(d.vd.ram + g + 4096, pkt + 4096, 4096);
	ck_assert_mem_eq(d.vd.ram + g + 8192, pkt + 8192, sizeof(pkt) - 8192);
	/* The rest of the buffers serve the next frame. */
	host_send(&d, 0, pkt, 100, 6);
	vqd_wait_used(&d.vd, 0, 4);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 3).id, 3);
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
	h = vqd_alloc(&d.vd, HDR);
	f = vqd_alloc(&d.vd, 1518);
	memset(d.vd.ram + h, 0xee, HDR);
	vqd_add_chain(&d.vd, 0, (struct vqd_buf[]){ { h, HDR, true }, { f, 1518, true } }, 2);
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 7);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, sizeof(pkt));
	ck_assert_uint_eq(num_buffers(&d, h), 1);
	ck_assert_mem_eq(d.vd.ram + f, pkt + HDR, 1514);
	teardown(&d);
}
END_TEST

START_TEST(rx_buffers_after_frame)
{
	struct drv d;
	uint8_t pkt[HDR + 80];
	uint64_t g;

	setup(&d, 1, 0);
	vqd_kick(&d.vd, 0); /* no buffers: nothing is read */
	host_send(&d, 0, pkt, sizeof(pkt), 8);
	usleep(50000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 0), 0);
	g = post_rx(&d, 0, 2, 2048);
	vqd_kick(&d.vd, 0);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, sizeof(pkt));
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, 80);
	teardown(&d);
}
END_TEST

/* One control command; returns the ack byte (0xee if untouched) and the used length. */
static uint8_t ctrl(struct drv *d, uint8_t class, uint8_t cmd, const void *data, uint32_t dlen, uint32_t *len)
{
	unsigned q = d->vd.nq - 1;
	uint64_t h = vqd_alloc(&d->vd, 2), dt = vqd_alloc(&d->vd, dlen + 1), ack = vqd_alloc(&d->vd, 1);
	struct vqd_buf b[3];
	unsigned n = 0;
	uint16_t head;

	d->vd.ram[h] = class;
	d->vd.ram[h + 1] = cmd;
	if (dlen)
		memcpy(d->vd.ram + dt, data, dlen);
	d->vd.ram[ack] = 0xee;
	b[n++] = (struct vqd_buf){ h, 2, false };
	if (dlen)
		b[n++] = (struct vqd_buf){ dt, dlen, false };
	b[n++] = (struct vqd_buf){ ack, 1, true };
	head = vqd_add_chain(&d->vd, q, b, n);
	vqd_kick(&d->vd, q);
	vqd_wait_used(&d->vd, q, d->vd.avail_idx[q]);
	ck_assert_uint_eq(vqd_used_elem(&d->vd, q, (uint16_t)(d->vd.avail_idx[q] - 1)).id, head);
	if (len)
		*len = vqd_used_elem(&d->vd, q, (uint16_t)(d->vd.avail_idx[q] - 1)).len;
	return d->vd.ram[ack];
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
	virtio_net_ops.config_read(d.vd.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, MAC, 6);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac2, 6, NULL), VIRTIO_NET_OK);
	virtio_net_ops.config_read(d.vd.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, mac2, 6);
	/* Malformed: no ack byte (completed with 0), a header cut short (ERR). */
	{
		uint64_t h = vqd_alloc(&d.vd, 2);
		uint64_t ack = vqd_alloc(&d.vd, 1);

		vqd_add_chain(&d.vd, 2, &(struct vqd_buf){ h, 2, false }, 1);
		vqd_kick(&d.vd, 2);
		vqd_wait_used(&d.vd, 2, d.vd.avail_idx[2]);
		ck_assert_uint_eq(vqd_used_elem(&d.vd, 2, (uint16_t)(d.vd.avail_idx[2] - 1)).len, 0);
		d.vd.ram[ack] = 0xee;
		vqd_add_chain(&d.vd, 2, (struct vqd_buf[]){ { h, 1, false }, { ack, 1, true } }, 2);
		vqd_kick(&d.vd, 2);
		vqd_wait_used(&d.vd, 2, d.vd.avail_idx[2]);
		ck_assert_uint_eq(d.vd.ram[ack], VIRTIO_NET_ERR);
	}
	ck_assert_int_eq(atomic_load(&d.vd.irqs[2]), (int)d.vd.avail_idx[2]);
	teardown(&d);
}
END_TEST

START_TEST(multiqueue)
{
	struct drv d;
	uint8_t pkt[HDR + 64], got[256];
	uint64_t g0, g1, tx;

	setup(&d, 2, 0);
	ck_assert(virtio_net_ops.features(d.vd.dev) & (1ull << VIRTIO_NET_F_MQ));
	g0 = post_rx(&d, 0, 4, 2048);
	g1 = post_rx(&d, 2, 4, 2048);
	vqd_kick(&d.vd, 0);
	vqd_kick(&d.vd, 2);
	/* Only the first pair receives until VQ_PAIRS_SET. */
	host_send(&d, 1, pkt, sizeof(pkt), 9);
	usleep(50000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 2), 0);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\3\0", 2, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\0\0", 2, NULL), VIRTIO_NET_ERR);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\2\0", 2, NULL), VIRTIO_NET_OK);
	vqd_wait_used(&d.vd, 2, 1);
	ck_assert_mem_eq(d.vd.ram + g1 + HDR, pkt + HDR, 64);
	/* Each pair its own tap queue, both ways. */
	host_send(&d, 0, pkt, sizeof(pkt), 10);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_mem_eq(d.vd.ram + g0 + HDR, pkt + HDR, 64);
	tx = vqd_alloc(&d.vd, 100);
	fill(d.vd.ram + tx, 100, 11);
	vqd_add_chain(&d.vd, 3, &(struct vqd_buf){ tx, 100, false }, 1);
	vqd_kick(&d.vd, 3);
	ck_assert_int_eq(host_recv(&d, 1, got, sizeof(got)), 100);
	ck_assert_mem_eq(got, d.vd.ram + tx, 100);
	vqd_wait_used(&d.vd, 3, 1);
	/* Back to one pair: the second one's read is cancelled, its frames wait. */
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\1\0", 2, NULL), VIRTIO_NET_OK);
	usleep(20000);
	host_send(&d, 1, pkt, sizeof(pkt), 12);
	usleep(50000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 2), 1);
	ck_assert_uint_eq(ctrl(&d, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\2\0", 2, NULL), VIRTIO_NET_OK);
	vqd_wait_used(&d.vd, 2, 2);
	ck_assert_mem_eq(d.vd.ram + g1 + 4096 + HDR, pkt + HDR, 64);
	teardown(&d);
}
END_TEST

START_TEST(malformed_tx)
{
	struct drv d;
	uint64_t g = 0;
	uint8_t got[256];

	setup(&d, 1, 0);
	g = vqd_alloc(&d.vd, 4096);
	fill(d.vd.ram + g, 4096, 13);
	/* A writable buffer, a frame shorter than the header, a buffer outside RAM: completed with 0. */
	vqd_add_chain(&d.vd, 1, (struct vqd_buf[]){ { g, 100, false }, { g + 100, 100, true } }, 2);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, HDR - 1, false }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ VQD_RAM_SIZE - 10, 100, false }, 1);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ g, 50, false }, 1);
	vqd_kick(&d.vd, 1);
	vqd_wait_used(&d.vd, 1, 4);
	for (uint16_t i = 0; i < 4; i++)
		ck_assert_uint_eq(vqd_used_elem(&d.vd, 1, i).len, 0);
	/* Only the good frame went out. */
	ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), 50);
	ck_assert_mem_eq(got, d.vd.ram + g, 50);
	ck_assert_int_eq(recv(d.peer[0], got, sizeof(got), MSG_DONTWAIT), -1);
	/* A readable RX buffer: completed with 0, the queue still works. */
	vqd_add_chain(&d.vd, 0, &(struct vqd_buf){ g, 2048, false }, 1);
	post_rx(&d, 0, 1, 2048);
	vqd_kick(&d.vd, 0);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, 0);
	host_send(&d, 0, got, 40, 14);
	vqd_wait_used(&d.vd, 0, 2);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 1).len, 40);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
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
	vqd_kick(&d.vd, 0); /* a read waits for a frame */
	usleep(20000);
	ck_assert_int_eq(event_loop_call(d.vd.l, vqd_reset_fn, &d.vd), 0);
	vqd_init_queues(&d.vd);
	ck_assert_int_eq(event_loop_call(d.vd.l, vqd_activate_fn, &d.vd), 0);
	g = post_rx(&d, 0, 4, 2048);
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 15);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, 64);
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
	vqd_kick(&d.vd, 0);
	usleep(50000);
	vqd_kick(&d.vd, 0); /* a notify retries once, then the queue parks again: no spinning */
	usleep(50000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 0), 0);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
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
		g = vqd_alloc(&d.vd, 64);
		for (uint16_t i = 0; i < VQD_QSIZE; i++)
			bad_chain(q, &vqd_desc(&d.vd, q)[i], g);
		memset(&f, 0, sizeof(f));
		f = (struct flood){ .l = d.vd.l, .ops = &virtio_net_ops, .dev = d.vd.dev, .q = q, .vq = &d.vd.vq[q],
				    .avail = vqd_avail(&d.vd, q), .used = vqd_used(&d.vd, q), .qsize = VQD_QSIZE, .nchains = VQD_QSIZE,
				    .stride = 1 };
		flood_start(&f);
		ck_assert(flood_wait_completed(&f, 1024 * VQD_QSIZE));
		bad_chain(other, &vqd_desc(&d.vd, other)[0], g);
		vqd_avail(&d.vd, other)->ring[0] = 0;
		__atomic_store_n(&vqd_avail(&d.vd, other)->idx, htole16(1), __ATOMIC_RELEASE);
		vqd_kick(&d.vd, other);
		vqd_wait_used(&d.vd, other, 1);
		ck_assert_msg(atomic_load(&f.running), "queue %u: queue %u was served only once the flood had ended", q,
			      other);
		flood_stop(&f);
		ck_assert_msg(f.max_per_notify <= VQD_QSIZE, "queue %u: one notify served %u chains", q, f.max_per_notify);
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
		__atomic_store_n(&vqd_avail(&d.vd, q)->idx, htole16(VQD_QSIZE + 5), __ATOMIC_RELEASE);
		vqd_kick(&d.vd, q);
		ck_assert_int_eq(atomic_load(&d.vd.resets), i + 1);
		ck_assert_int_eq(event_loop_call(d.vd.l, vqd_reset_fn, &d.vd), 0);
		vqd_init_queues(&d.vd);
		ck_assert_int_eq(event_loop_call(d.vd.l, vqd_activate_fn, &d.vd), 0);
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
	ck_assert_uint_eq(virtio_net_ops.queue_max_size, VQD_QSIZE);
	memset(&c, 0xff, sizeof(c));
	for (uint32_t off = 0; off < virtio_net_ops.config_size; off += 2)
		virtio_net_ops.config_read(d.vd.dev, off, (uint8_t *)&c + off, 2);
	ck_assert_mem_eq(c.mac, MAC, 6);
	ck_assert_uint_eq(le16toh(c.status), VIRTIO_NET_S_LINK_UP);
	ck_assert_uint_eq(le16toh(c.max_virtqueue_pairs), 2);
	f = virtio_net_ops.features(d.vd.dev);
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
