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

/*
 * A device over a fake tap with this MAC, not yet activated: pairs socketpairs (SOCK_SEQPACKET keeps
 * frame boundaries, like a tap).
 */
static void make_dev(struct drv *d, unsigned pairs, const uint8_t *mac)
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
	memcpy(o.mac, mac, 6);
	o.tap = d->tap;
	ck_assert_int_eq(virtio_net_create(&o, dev_log, &d->vd.dev), 0);
	ck_assert_uint_eq(virtio_net_ops.num_queues(d->vd.dev), 2 * pairs + 1);
}

/* A device over a fake tap (make_dev() with MAC), driven to active with its features but drop_features. */
static void setup(struct drv *d, unsigned pairs, uint64_t drop_features)
{
	make_dev(d, pairs, MAC);
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

static atomic_int lines;

static void count_line(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
	atomic_fetch_add(&lines, 1);
}

static atomic_int fit_lines;

static void count_fit_line(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level;
	if (strstr(msg, "does not fit the receive buffers"))
		atomic_fetch_add(&fit_lines, 1);
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
	int irqs;

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

	/* Many at once: all sent, in order, all completed, and signalled (batched, never withheld for good). */
	irqs = atomic_load(&d.vd.irqs[1]);
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
	for (int i = 0; i < 1000 && atomic_load(&d.vd.irqs[1]) == irqs; i++)
		usleep(1000);
	ck_assert_int_gt(atomic_load(&d.vd.irqs[1]), irqs);
	teardown(&d);
}
END_TEST

/*
 * While a pair's tap writes are in flight its TX notifications are off, and the last completion
 * looks at the ring again: a frame the driver adds meanwhile goes out without a kick.
 */
START_TEST(tx_frame_added_while_writing)
{
	static uint8_t filler[8192], got[8192];
	struct drv d;
	uint64_t a, b;
	ssize_t n;
	unsigned fillers = 0;

	setup(&d, 1, 0);
	/* The host is slow: the tap's buffer is full, so the device's write waits for room. */
	memset(filler, 0, sizeof(filler));
	while (send(d.tap->fd[0], filler, sizeof(filler), MSG_DONTWAIT) == (ssize_t)sizeof(filler))
		fillers++;
	ck_assert_uint_gt(fillers, 0);
	a = vqd_alloc(&d.vd, HDR + 100);
	b = vqd_alloc(&d.vd, HDR + 200);
	fill(d.vd.ram + a, HDR + 100, 21);
	fill(d.vd.ram + b, HDR + 200, 22);
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ a, HDR + 100, false }, 1);
	vqd_kick(&d.vd, 1);
	usleep(50000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 1), 0); /* the write waits */
	vqd_add_chain(&d.vd, 1, &(struct vqd_buf){ b, HDR + 200, false }, 1); /* no kick */
	for (unsigned i = 0; i < fillers; i++)
		ck_assert_int_eq(host_recv(&d, 0, got, sizeof(got)), (ssize_t)sizeof(filler));
	n = host_recv(&d, 0, got, sizeof(got));
	ck_assert_int_eq(n, HDR + 100);
	ck_assert_mem_eq(got, d.vd.ram + a, HDR + 100);
	n = host_recv(&d, 0, got, sizeof(got));
	ck_assert_int_eq(n, HDR + 200);
	ck_assert_mem_eq(got, d.vd.ram + b, HDR + 200);
	vqd_wait_used(&d.vd, 1, 2);
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

/*
 * The guest has posted less than a frame of the largest size (a tap read cuts a frame to the room it
 * is given and says nothing, which Linux then drops as a truncated packet): the frame waits, whole,
 * until the driver adds chains, then spans them with the tap's header and every byte.
 */
START_TEST(rx_frame_waits_for_buffers)
{
	static uint8_t pkt[HDR + 20000];
	struct drv d;
	uint64_t g, g2;
	size_t off = 0;

	setup(&d, 1, 0);
	g = post_rx(&d, 0, 2, 4096);
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 11);
	pkt[0] = 0x01; /* the tap's header reaches the guest as sent (flags kept: GUEST_CSUM) */
	usleep(50000);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, 0), 0);
	g2 = post_rx(&d, 0, 4, 4096);
	ck_assert_uint_eq(g2, g + 2 * 4096);
	vqd_kick(&d.vd, 0);
	vqd_wait_used(&d.vd, 0, 5);
	ck_assert_uint_eq(num_buffers(&d, g), 5);
	for (unsigned i = 0; i < 5; i++) {
		struct vring_used_elem e = vqd_used_elem(&d.vd, 0, i);
		size_t want = sizeof(pkt) - off < 4096 ? sizeof(pkt) - off : 4096;

		ck_assert_uint_eq(e.id, i);
		ck_assert_uint_eq(e.len, want);
		off += want;
	}
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, sizeof(pkt) - HDR);
	/* The next frame goes into the chain left over. */
	host_send(&d, 0, pkt, 100, 12);
	vqd_wait_used(&d.vd, 0, 6);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 5).id, 5);
	ck_assert_mem_eq(d.vd.ram + g + 5 * 4096 + HDR, pkt + HDR, 100 - HDR);
	teardown(&d);
}
END_TEST

/*
 * A frame that can never fit: more chains than a frame may take (MRG_RXBUF), or no MRG_RXBUF and a
 * chain shorter than the frame. It is dropped with a line; the chains take the next frame.
 */
START_TEST(rx_frame_never_fits)
{
	static const struct vlog counting = { .fn = count_fit_line, .level = VMM_LOG_DEBUG };
	static uint8_t pkt[HDR + 20000];
	struct drv d;
	uint64_t g;

	dev_log = &counting;
	atomic_store(&fit_lines, 0);
	setup(&d, 1, 0);
	g = post_rx(&d, 0, 64, 256); /* 64 chains, 16 KiB */
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, sizeof(pkt), 13);
	host_send(&d, 0, pkt, 200, 14);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).id, 0);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, 200);
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, 200 - HDR);
	ck_assert_int_eq(atomic_load(&fit_lines), 1);
	teardown(&d);

	atomic_store(&fit_lines, 0);
	setup(&d, 1, 1ull << VIRTIO_NET_F_MRG_RXBUF);
	g = post_rx(&d, 0, 1, 1000);
	vqd_kick(&d.vd, 0);
	host_send(&d, 0, pkt, 1500, 15);
	host_send(&d, 0, pkt, 300, 16);
	vqd_wait_used(&d.vd, 0, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, 0, 0).len, 300);
	ck_assert_mem_eq(d.vd.ram + g + HDR, pkt + HDR, 300 - HDR);
	ck_assert_int_eq(atomic_load(&fit_lines), 1);
	teardown(&d);
	dev_log = &quiet;
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

/*
 * --- Snapshot and restore, driven as src/virtio/pci_snapshot.c drives them: on the I/O thread with
 * nothing in flight, each queue's position (virtq_pos_save) and the device's record (ops->save); then
 * a device fresh from set-up over another tap, its guest RAM a copy of the original's (the memory
 * file), its queues going on from the saved positions, activated as the transport re-activates a
 * live function, given the record (ops->restore) and every queue's doorbell rung. ---
 */

/* What a snapshot keeps of a virtio-net device beyond the transport's registers. */
struct net_snap {
	uint64_t features;
	unsigned nq;
	struct virtq_pos pos[VQD_MAX_QUEUES]; /* read back from the saved bytes */
	struct sbuf queues;                   /* virtq_pos_save() of each queue, as the transport writes it */
	struct sbuf dev;                      /* virtio_net_ops.save() */
};

struct save_call {
	struct drv *d;
	struct sbuf *queues; /* NULL: the device's record alone */
	struct sbuf *dev;
	unsigned inflight;
	int ret;
};

static void save_fn(void *arg)
{
	struct save_call *c = arg;
	struct virtq_driver *vd = &c->d->vd;

	c->inflight = virtio_net_ops.inflight(vd->dev);
	for (unsigned q = 0; c->queues && q < vd->nq; q++) {
		struct virtq_pos p;

		virtq_get_pos(&vd->vq[q], &p);
		virtq_pos_save(&p, c->queues);
	}
	c->ret = virtio_net_ops.save(vd->dev, c->dev);
}

/*
 * Save on the I/O thread, as a snapshot does with the vCPUs paused: once nothing is in flight (a
 * snapshot waits for that; the tap read that follows a frame ends at once with -EAGAIN).
 */
static void dev_save(struct drv *d, struct sbuf *queues, struct sbuf *dev)
{
	struct save_call c = { .d = d, .queues = queues, .dev = dev };

	for (int i = 0; i < 1000; i++) {
		if (queues)
			sbuf_init(queues);
		sbuf_init(dev);
		ck_assert_int_eq(event_loop_call(d->vd.l, save_fn, &c), 0);
		if (c.inflight == 0)
			break;
		if (queues)
			sbuf_free(queues);
		sbuf_free(dev);
		usleep(1000);
	}
	ck_assert_uint_eq(c.inflight, 0);
	ck_assert_int_eq(c.ret, 0);
	ck_assert(!dev->oom && !(queues && queues->oom));
}

static void snapshot(struct drv *d, struct net_snap *s)
{
	struct sreader in;

	memset(s, 0, sizeof(*s));
	s->features = d->vd.ctx.features;
	s->nq = d->vd.nq;
	dev_save(d, &s->queues, &s->dev);
	sreader_init(&in, s->queues.data, s->queues.len);
	for (unsigned q = 0; q < s->nq; q++) {
		virtq_pos_load(&s->pos[q], &in);
		ck_assert(virtq_pos_valid(&s->pos[q], VQD_QSIZE));
	}
	ck_assert(sr_done(&in));
}

static void snap_free(struct net_snap *s)
{
	sbuf_free(&s->queues);
	sbuf_free(&s->dev);
}

/*
 * Into b: a device over a fresh fake tap with mac (what the restore's options give it), the guest
 * RAM and driver of a, its queues going on from s's positions and activated; not yet given its record.
 */
static void resume(struct drv *b, const struct drv *a, const struct net_snap *s, unsigned pairs, const uint8_t *mac)
{
	struct virtq_driver *vd = &b->vd;

	make_dev(b, pairs, mac);
	memcpy(vd->ram, a->vd.ram, VQD_RAM_SIZE);
	vd->heap = a->vd.heap;
	memcpy(vd->next_desc, a->vd.next_desc, sizeof(vd->next_desc));
	memcpy(vd->avail_idx, a->vd.avail_idx, sizeof(vd->avail_idx));
	vd->ops = &virtio_net_ops;
	vd->nq = s->nq;
	for (unsigned q = 0; q < s->nq; q++) {
		ck_assert_int_eq(virtq_init(&vd->vq[q], &vd->mem, VQD_QSIZE, vqd_ring_gpa(q), vqd_ring_gpa(q) + 0x1000,
					    vqd_ring_gpa(q) + 0x2000, vd->event_idx),
				 0);
		ck_assert_int_eq(virtq_set_pos(&vd->vq[q], &s->pos[q]), 0);
	}
	vd->ctx = (struct virtio_ctx){
		.mem = &vd->mem,
		.loop = vd->l,
		.features = s->features,
		.vq = vd->vq,
		.nvq = s->nq,
		.interrupt = vqd_irq,
		.needs_reset = vqd_needs_reset,
		.config_changed = vqd_config_changed,
		.irq_opaque = vd,
	};
	ck_assert_int_eq(event_loop_call(vd->l, vqd_activate_fn, vd), 0);
}

struct restore_call {
	struct drv *d;
	const void *p;
	size_t n;
	int ret;
};

static void restore_fn(void *arg)
{
	struct restore_call *c = arg;
	struct sreader in;

	sreader_init(&in, c->p, c->n);
	c->ret = virtio_net_ops.restore(c->d->vd.dev, &in);
}

/* ops->restore of n bytes at p, on the I/O thread. */
static int restore_bytes(struct drv *d, const void *p, size_t n)
{
	struct restore_call c = { .d = d, .p = p, .n = n };

	ck_assert_int_eq(event_loop_call(d->vd.l, restore_fn, &c), 0);
	return c.ret;
}

/* The transport's doorbells after a restore: every queue served once. */
static void ring_all(struct drv *d)
{
	for (unsigned q = 0; q < d->vd.nq; q++)
		vqd_kick(&d->vd, q);
}

/* A record the device must refuse (-EINVAL), leaving it as it was: its saved state still base. */
static void refused(struct drv *d, const struct sbuf *base, const void *p, size_t n, const char *what, size_t i)
{
	struct sbuf now;

	ck_assert_msg(restore_bytes(d, p, n) == -EINVAL, "%s %zu was accepted", what, i);
	dev_save(d, NULL, &now);
	ck_assert_msg(now.len == base->len && !memcmp(now.data, base->data, base->len), "%s %zu changed the device",
		      what, i);
	sbuf_free(&now);
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Receive buffers the original posts in snapshot_round_trip; two take frames, the rest wait in its stash. */
#define SNAP_RX 6

START_TEST(snapshot_round_trip)
{
	static const uint8_t mac2[6] = { 0x02, 0xaa, 0xbb, 0xcc, 0xdd, 0xee };
	struct drv a, b;
	struct net_snap s;
	struct sbuf again;
	uint8_t pkt[HDR + 200], got[512], cfg[6];
	struct vring_used_elem e;
	uint64_t g, tx;

	/* The original: frames both ways, a MAC the guest set, SNAP_RX - 2 buffers stashed for the next frames. */
	setup(&a, 1, 0);
	g = post_rx(&a, 0, SNAP_RX, 4096);
	vqd_kick(&a.vd, 0);
	for (uint16_t i = 0; i < 2; i++) {
		host_send(&a, 0, pkt, sizeof(pkt), 20 + i);
		vqd_wait_used(&a.vd, 0, (uint16_t)(i + 1));
	}
	for (unsigned i = 0; i < 3; i++) {
		tx = vqd_alloc(&a.vd, 100);
		fill(a.vd.ram + tx, 100, 30 + i);
		vqd_add_chain(&a.vd, 1, &(struct vqd_buf){ tx, 100, false }, 1);
	}
	vqd_kick(&a.vd, 1);
	for (unsigned i = 0; i < 3; i++)
		ck_assert_int_eq(host_recv(&a, 0, got, sizeof(got)), 100);
	vqd_wait_used(&a.vd, 1, 3);
	ck_assert_uint_eq(ctrl(&a, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, mac2, 6, NULL), VIRTIO_NET_OK);
	snapshot(&a, &s);
	/* Where the queues were: RX all popped, two used; TX and control all done. */
	ck_assert_uint_eq(s.pos[0].last_avail, SNAP_RX);
	ck_assert_uint_eq(s.pos[0].used_idx, 2);
	ck_assert_uint_eq(s.pos[1].last_avail, 3);
	ck_assert_uint_eq(s.pos[1].used_idx, 3);
	ck_assert_uint_eq(s.pos[2].last_avail, 1);
	ck_assert_uint_eq(s.pos[2].used_idx, 1);
	/* The record (net.c): the MAC, a session of one pair with one active, the stashed heads 2..5 in order. */
	ck_assert_uint_eq(s.dev.len, 6 + 1 + 2 + 2 + 2 + 2 * (SNAP_RX - 2));
	ck_assert_mem_eq(s.dev.data, mac2, 6);
	ck_assert_uint_eq(s.dev.data[6], 1);
	ck_assert_uint_eq(s.dev.data[7] | s.dev.data[8] << 8, 1);
	ck_assert_uint_eq(s.dev.data[9] | s.dev.data[10] << 8, 1);
	ck_assert_uint_eq(s.dev.data[11] | s.dev.data[12] << 8, SNAP_RX - 2);
	for (unsigned k = 0; k < SNAP_RX - 2; k++)
		ck_assert_uint_eq(s.dev.data[13 + 2 * k] | s.dev.data[14 + 2 * k] << 8, 2 + k);

	/* The restored device, over another tap, created with the MAC of the original's options. */
	resume(&b, &a, &s, 1, MAC);
	virtio_net_ops.config_read(b.vd.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, MAC, 6);
	ck_assert_int_eq(restore_bytes(&b, s.dev.data, s.dev.len), 0);
	virtio_net_ops.config_read(b.vd.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, mac2, 6); /* the MAC the guest set */
	dev_save(&b, NULL, &again);
	ck_assert_uint_eq(again.len, s.dev.len);
	ck_assert_mem_eq(again.data, s.dev.data, s.dev.len);
	sbuf_free(&again);
	ring_all(&b);
	usleep(20000);
	ck_assert_uint_eq(vqd_used_idx(&b.vd, 0), 2); /* the doorbells completed nothing by themselves */
	ck_assert_int_eq(atomic_load(&b.vd.resets), 0);

	/* A frame from the host lands in the first stashed buffer (head 2), at used index 3. */
	host_send(&b, 0, pkt, sizeof(pkt), 40);
	vqd_wait_used(&b.vd, 0, 3);
	e = vqd_used_elem(&b.vd, 0, 2);
	ck_assert_uint_eq(e.id, 2);
	ck_assert_uint_eq(e.len, sizeof(pkt));
	ck_assert_uint_eq(num_buffers(&b, g + 2 * 4096), 1);
	ck_assert_mem_eq(b.vd.ram + g + 2 * 4096 + HDR, pkt + HDR, sizeof(pkt) - HDR);
	ck_assert_uint_eq(b.vd.ram[g + 2 * 4096 + sizeof(pkt)], 0xee);
	/* The next ones take heads 3..5, then buffers posted after the restore. */
	for (uint16_t k = 3; k < SNAP_RX; k++) {
		host_send(&b, 0, pkt, sizeof(pkt), 40 + k);
		vqd_wait_used(&b.vd, 0, (uint16_t)(k + 1));
		ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, k).id, k);
		ck_assert_mem_eq(b.vd.ram + g + k * 4096u + HDR, pkt + HDR, sizeof(pkt) - HDR);
	}
	tx = post_rx(&b, 0, 1, 4096);
	vqd_kick(&b.vd, 0);
	host_send(&b, 0, pkt, sizeof(pkt), 50);
	vqd_wait_used(&b.vd, 0, SNAP_RX + 1);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, SNAP_RX).id, SNAP_RX);
	ck_assert_mem_eq(b.vd.ram + tx + HDR, pkt + HDR, sizeof(pkt) - HDR);
	/* TX and the control queue go on from their positions. */
	tx = vqd_alloc(&b.vd, 100);
	fill(b.vd.ram + tx, 100, 51);
	vqd_add_chain(&b.vd, 1, &(struct vqd_buf){ tx, 100, false }, 1);
	vqd_kick(&b.vd, 1);
	ck_assert_int_eq(host_recv(&b, 0, got, sizeof(got)), 100);
	ck_assert_mem_eq(got, b.vd.ram + tx, 100);
	vqd_wait_used(&b.vd, 1, 4);
	ck_assert_uint_eq(ctrl(&b, VIRTIO_NET_CTRL_MAC, VIRTIO_NET_CTRL_MAC_ADDR_SET, MAC, 6, NULL), VIRTIO_NET_OK);
	ck_assert_uint_eq(vqd_used_idx(&b.vd, 2), 2);
	virtio_net_ops.config_read(b.vd.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, MAC, 6);
	/* Nothing reached the original's tap. */
	ck_assert_int_eq(recv(a.peer[0], got, sizeof(got), MSG_DONTWAIT), -1);
	ck_assert_int_eq(atomic_load(&b.vd.resets), 0);
	snap_free(&s);
	teardown(&b);
	teardown(&a);
}
END_TEST

/* Two pairs, both on (VQ_PAIRS_SET 2): each pair's stash and the active count come back. */
START_TEST(snapshot_multiqueue)
{
	struct drv a, b;
	struct net_snap s;
	struct sbuf again, base;
	uint8_t pkt[HDR + 64], *bad;
	uint64_t g0, g1;

	setup(&a, 2, 0);
	g0 = post_rx(&a, 0, 3, 2048);
	g1 = post_rx(&a, 2, 3, 2048);
	vqd_kick(&a.vd, 0);
	vqd_kick(&a.vd, 2);
	ck_assert_uint_eq(ctrl(&a, VIRTIO_NET_CTRL_MQ, VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET, "\2\0", 2, NULL), VIRTIO_NET_OK);
	host_send(&a, 0, pkt, sizeof(pkt), 60);
	vqd_wait_used(&a.vd, 0, 1);
	host_send(&a, 1, pkt, sizeof(pkt), 61);
	vqd_wait_used(&a.vd, 2, 1);
	snapshot(&a, &s);
	/* MAC, session, 2 pairs, 2 active; then per pair a count of 2 and heads 1, 2. */
	ck_assert_uint_eq(s.dev.len, 11 + 2 * (2 + 2 * 2));
	ck_assert_uint_eq(s.dev.data[9] | s.dev.data[10] << 8, 2);
	resume(&b, &a, &s, 2, MAC);
	dev_save(&b, NULL, &base);

	/* A third pair the device does not have (its count 0 appended), 3 active of 2, a record of one pair. */
	bad = malloc(s.dev.len + 2);
	ck_assert_ptr_nonnull(bad);
	memcpy(bad, s.dev.data, s.dev.len);
	put_le(bad + 7, 3, 2);
	put_le(bad + s.dev.len, 0, 2);
	refused(&b, &base, bad, s.dev.len + 2, "three pairs", 0);
	memcpy(bad, s.dev.data, s.dev.len);
	put_le(bad + 9, 3, 2);
	refused(&b, &base, bad, s.dev.len, "three active", 0);
	memcpy(bad, s.dev.data, s.dev.len);
	put_le(bad + 7, 1, 2);
	put_le(bad + 9, 1, 2);
	refused(&b, &base, bad, 11 + 2 + 2 * 2, "one pair of two", 0);
	free(bad);
	sbuf_free(&base);

	ck_assert_int_eq(restore_bytes(&b, s.dev.data, s.dev.len), 0);
	dev_save(&b, NULL, &again);
	ck_assert_uint_eq(again.len, s.dev.len);
	ck_assert_mem_eq(again.data, s.dev.data, s.dev.len);
	sbuf_free(&again);
	ring_all(&b);
	/* Both pairs receive at once (no VQ_PAIRS_SET after the restore): head 1 of each, at used index 2. */
	host_send(&b, 1, pkt, sizeof(pkt), 62);
	vqd_wait_used(&b.vd, 2, 2);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 2, 1).id, 1);
	ck_assert_mem_eq(b.vd.ram + g1 + 4096 + HDR, pkt + HDR, 64);
	host_send(&b, 0, pkt, sizeof(pkt), 63);
	vqd_wait_used(&b.vd, 0, 2);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, 1).id, 1);
	ck_assert_mem_eq(b.vd.ram + g0 + 4096 + HDR, pkt + HDR, 64);
	ck_assert_int_eq(atomic_load(&b.vd.resets), 0);
	snap_free(&s);
	teardown(&b);
	teardown(&a);
}
END_TEST

/*
 * A hostile record: every truncated prefix, a byte too many, and each field out of range is refused
 * with -EINVAL and changes nothing; the device then still takes the good record and works.
 */
START_TEST(snapshot_refuses_bad_records)
{
	/* Offsets in the record of one pair and three stashed heads (1, 2, 3). */
	const struct {
		size_t off;
		unsigned len;
		uint64_t v;
		const char *what;
	} flips[] = {
		{ 6, 1, 2, "session flag not a bool" },
		{ 7, 2, 0, "no pairs" },
		{ 7, 2, 2, "two pairs (count cut short)" },
		{ 7, 2, TAP_MAX_QUEUES + 1, "more pairs than a tap has queues" },
		{ 9, 2, 0, "no active pair" },
		{ 9, 2, 2, "two active of one" },
		{ 11, 2, 4, "four heads, three given" },
		{ 11, 2, 2, "two heads, one left over" },
		{ 11, 2, VIRTIO_NET_QUEUE_SIZE + 1, "more heads than a queue holds" },
		{ 13, 2, VQD_QSIZE, "head == queue size" },
		{ 17, 2, 0xffff, "head 0xffff" },
		{ 15, 2, 1, "head 1 twice" },
		{ 17, 2, 200, "head naming no receive buffer" },
	};
	struct drv a, b;
	struct net_snap s;
	struct sbuf base, forged;
	uint8_t pkt[HDR + 64], *bad, cfg[6];
	uint64_t g;

	setup(&a, 1, 0);
	g = post_rx(&a, 0, 4, 2048);
	vqd_kick(&a.vd, 0);
	host_send(&a, 0, pkt, sizeof(pkt), 70);
	vqd_wait_used(&a.vd, 0, 1);
	snapshot(&a, &s);
	ck_assert_uint_eq(s.dev.len, 13 + 2 * 3);
	resume(&b, &a, &s, 1, MAC);
	dev_save(&b, NULL, &base);

	for (size_t n = 0; n < s.dev.len; n++)
		refused(&b, &base, s.dev.data, n, "prefix of", n);
	bad = malloc(s.dev.len + 1);
	ck_assert_ptr_nonnull(bad);
	memcpy(bad, s.dev.data, s.dev.len);
	bad[s.dev.len] = 0;
	refused(&b, &base, bad, s.dev.len + 1, "one byte more than the record", s.dev.len + 1);
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(bad, s.dev.data, s.dev.len);
		put_le(bad + flips[i].off, flips[i].v, flips[i].len);
		refused(&b, &base, bad, s.dev.len, flips[i].what, i);
	}
	free(bad);
	/* Well-formed but not this device: a second pair (none stashed), no session on an active device. */
	sbuf_init(&forged);
	sbuf_put(&forged, s.dev.data, 7);
	sbuf_u16(&forged, 2);
	sbuf_u16(&forged, 1);
	sbuf_put(&forged, s.dev.data + 11, s.dev.len - 11);
	sbuf_u16(&forged, 0);
	refused(&b, &base, forged.data, forged.len, "a second pair", 2);
	sbuf_free(&forged);
	sbuf_init(&forged);
	sbuf_put(&forged, s.dev.data, 6);
	sbuf_bool(&forged, false);
	refused(&b, &base, forged.data, forged.len, "no session on an active device", 0);
	sbuf_free(&forged);
	virtio_net_ops.config_read(b.vd.dev, 0, cfg, 6);
	ck_assert_mem_eq(cfg, MAC, 6);
	ck_assert_int_eq(atomic_load(&b.vd.resets), 0);

	/* Still usable: the good record is taken (once: its heads are then stashed) and a frame lands. */
	ck_assert_int_eq(restore_bytes(&b, s.dev.data, s.dev.len), 0);
	ck_assert_int_eq(restore_bytes(&b, s.dev.data, s.dev.len), -EINVAL);
	ring_all(&b);
	host_send(&b, 0, pkt, sizeof(pkt), 71);
	vqd_wait_used(&b.vd, 0, 2);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, 1).id, 1);
	ck_assert_uint_eq(vqd_used_elem(&b.vd, 0, 1).len, sizeof(pkt));
	ck_assert_mem_eq(b.vd.ram + g + 4096 + HDR, pkt + HDR, 64);
	ck_assert_int_eq(atomic_load(&b.vd.resets), 0);
	sbuf_free(&base);
	snap_free(&s);
	teardown(&b);
	teardown(&a);
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
	tcase_add_test(tc, tx_frame_added_while_writing);
	tcase_add_test(tc, rx_frame);
	tcase_add_test(tc, rx_big_frame_merged);
	tcase_add_test(tc, rx_without_mrg);
	tcase_add_test(tc, rx_buffers_after_frame);
	tcase_add_test(tc, rx_frame_waits_for_buffers);
	tcase_add_test(tc, rx_frame_never_fits);
	tcase_add_test(tc, control_queue);
	tcase_add_test(tc, multiqueue);
	tcase_add_test(tc, malformed_tx);
	tcase_add_test(tc, reset_and_reactivate);
	tcase_add_test(tc, tap_gone);
	tcase_add_test(tc, config_space);
	tcase_add_test(tc, create_checks);
	tcase_add_test(tc, flood_does_not_starve_other_queue);
	tcase_add_test(tc, broken_queue_lines_rationed);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_multiqueue);
	tcase_add_test(tc, snapshot_refuses_bad_records);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
