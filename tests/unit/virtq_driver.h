/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake virtio driver over fake guest RAM, for the device suites (blk, net, console): what the guest
 * kernel's driver would do, done by the test. It owns the guest RAM (VQD_RAM_SIZE at GPA 0, with a
 * bump allocator for data buffers from VQD_DATA_BASE up), lays out split rings for the device's
 * queues (queue q's descriptor table, avail and used rings at 0x10000 * (q + 1), 4 KiB apart), posts
 * descriptor chains, notifies the device on a real I/O thread, and reads back the used ring and the
 * interrupts the device raised. The device itself, its backend and its options are the suite's own:
 * it creates the device into vd->dev and hands it over with vqd_start().
 *
 * Usage: vqd_init(); create the device into vd->dev; vqd_start(); vqd_alloc() / vqd_add_chain() /
 * vqd_kick() / vqd_wait_used(); vqd_teardown(). No KVM: the device's DMA is plain memory here.
 */
#ifndef VMM_TESTS_VIRTQ_DRIVER_H
#define VMM_TESTS_VIRTQ_DRIVER_H

#include <check.h>
#include <endian.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_loop.h"
#include "memory.h"
#include "virtio/device.h"

#define VQD_RAM_SIZE (8u << 20)
#define VQD_QSIZE 256
#define VQD_DATA_BASE 0x100000u /* vqd_alloc() hands out guest RAM from here (the rings lie below) */
#define VQD_MAX_QUEUES 5        /* virtio-net with two queue pairs and its control queue */

struct virtq_driver {
	/* The fake guest. */
	struct guest_mem mem;
	uint8_t *ram;               /* VQD_RAM_SIZE bytes at GPA 0: GPA g is ram + g */
	uint64_t heap;              /* vqd_alloc()'s next free GPA */
	/* The driver's side of each queue: the rings are laid out in RAM, vq[] is the device's view. */
	unsigned nq;
	bool event_idx;             /* VIRTIO_F_EVENT_IDX for vqd_init_queues(); set before vqd_start() */
	struct virtq vq[VQD_MAX_QUEUES];
	uint16_t next_desc[VQD_MAX_QUEUES]; /* where vqd_add_chain() puts the next chain */
	uint16_t avail_idx[VQD_MAX_QUEUES]; /* the avail index the driver published */
	int used_wait_ms;           /* how long vqd_wait_used() waits before failing the test */
	/* The device it drives, on a real I/O thread. */
	struct event_loop *l;
	const struct virtio_device_ops *ops;
	void *dev;
	struct virtio_ctx ctx;
	/* What the device signalled (counted on the I/O thread). */
	atomic_int irqs[VQD_MAX_QUEUES];
	atomic_int resets;          /* needs_reset() calls */
};

/* One buffer of a chain: guest address, length, and whether the device writes it (else reads it). */
struct vqd_buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

/* The transport's callbacks, as the device calls them: counted. */
static inline void vqd_irq(void *opaque, unsigned q)
{
	atomic_fetch_add(&((struct virtq_driver *)opaque)->irqs[q], 1);
}

static inline void vqd_needs_reset(void *opaque)
{
	atomic_fetch_add(&((struct virtq_driver *)opaque)->resets, 1);
}

static inline void vqd_config_changed(void *opaque)
{
	(void)opaque;
}

/* Queue q's rings: the descriptor table, the avail ring 4 KiB above it, the used ring 4 KiB above that. */
static inline uint64_t vqd_ring_gpa(unsigned q)
{
	return 0x10000u * (q + 1);
}

static inline struct vring_desc *vqd_desc(struct virtq_driver *vd, unsigned q)
{
	return (struct vring_desc *)(vd->ram + vqd_ring_gpa(q));
}

static inline struct vring_avail *vqd_avail(struct virtq_driver *vd, unsigned q)
{
	return (struct vring_avail *)(vd->ram + vqd_ring_gpa(q) + 0x1000);
}

static inline struct vring_used *vqd_used(struct virtq_driver *vd, unsigned q)
{
	return (struct vring_used *)(vd->ram + vqd_ring_gpa(q) + 0x2000);
}

/* len bytes of guest RAM for a buffer (4 KiB aligned, never reused); returns its GPA. */
static inline uint64_t vqd_alloc(struct virtq_driver *vd, uint32_t len)
{
	uint64_t g = vd->heap;

	vd->heap = (vd->heap + len + 4095) & ~4095ull;
	ck_assert_uint_le(vd->heap, VQD_RAM_SIZE);
	return g;
}

/* Empty rings for queues 0..nq, and the device's view of them (as the transport sets them up). */
static inline void vqd_init_queues(struct virtq_driver *vd)
{
	for (unsigned q = 0; q < vd->nq; q++) {
		memset(vd->ram + vqd_ring_gpa(q), 0, 0x3000);
		vd->next_desc[q] = vd->avail_idx[q] = 0;
		ck_assert_int_eq(virtq_init(&vd->vq[q], &vd->mem, VQD_QSIZE, vqd_ring_gpa(q), vqd_ring_gpa(q) + 0x1000,
					    vqd_ring_gpa(q) + 0x2000, vd->event_idx),
				 0);
	}
}

/* For event_loop_call(): activate or reset the device on the I/O thread (arg: the virtq_driver). */
static inline void vqd_activate_fn(void *arg)
{
	struct virtq_driver *vd = arg;

	ck_assert_int_eq(vd->ops->activate(vd->dev, &vd->ctx), 0);
}

static inline void vqd_reset_fn(void *arg)
{
	struct virtq_driver *vd = arg;

	vd->ops->reset(vd->dev);
}

/* The guest RAM (zeroed), the heap, and a running I/O thread logging to log; no device yet. */
static inline void vqd_init(struct virtq_driver *vd, const struct vlog *log)
{
	vd->ram = aligned_alloc(4096, VQD_RAM_SIZE);
	ck_assert_ptr_nonnull(vd->ram);
	memset(vd->ram, 0, VQD_RAM_SIZE);
	ck_assert_int_eq(gmem_add_region(&vd->mem, 0, VQD_RAM_SIZE, vd->ram), 0);
	vd->heap = VQD_DATA_BASE;
	vd->used_wait_ms = 5000;
	ck_assert_int_eq(event_loop_create(256, log, &vd->l), 0);
	ck_assert_int_eq(event_loop_start(vd->l), 0);
}

/* Drive the device created into vd->dev: lay out its nq queues and activate it with these features. */
static inline void vqd_start(struct virtq_driver *vd, const struct virtio_device_ops *ops, unsigned nq,
			     uint64_t features)
{
	ck_assert_uint_le(nq, VQD_MAX_QUEUES);
	vd->ops = ops;
	vd->nq = nq;
	vqd_init_queues(vd);
	vd->ctx = (struct virtio_ctx){
		.mem = &vd->mem,
		.loop = vd->l,
		.features = features,
		.vq = vd->vq,
		.nvq = nq,
		.interrupt = vqd_irq,
		.needs_reset = vqd_needs_reset,
		.config_changed = vqd_config_changed,
		.irq_opaque = vd,
	};
	ck_assert_int_eq(event_loop_call(vd->l, vqd_activate_fn, vd), 0);
}

/* Reset the device, stop the I/O thread, destroy the device and free the guest RAM. */
static inline void vqd_teardown(struct virtq_driver *vd)
{
	event_loop_call(vd->l, vqd_reset_fn, vd);
	event_loop_stop(vd->l);
	vd->ops->destroy(vd->dev);
	event_loop_destroy(vd->l);
	free(vd->ram);
}

/* Put a chain of n buffers on queue q's avail ring (not yet notified); returns its head. */
static inline uint16_t vqd_add_chain(struct virtq_driver *vd, unsigned q, const struct vqd_buf *b, unsigned n)
{
	struct vring_desc *t = vqd_desc(vd, q);
	struct vring_avail *a = vqd_avail(vd, q);
	uint16_t head = vd->next_desc[q];

	if (head + n > VQD_QSIZE)
		head = 0;
	for (unsigned k = 0; k < n; k++) {
		uint16_t i = (uint16_t)(head + k);

		t[i].addr = htole64(b[k].gpa);
		t[i].len = htole32(b[k].len);
		t[i].flags = htole16((b[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0));
		t[i].next = htole16((uint16_t)(i + 1));
	}
	vd->next_desc[q] = (uint16_t)((head + n) % VQD_QSIZE);
	a->ring[vd->avail_idx[q] % VQD_QSIZE] = htole16(head);
	vd->avail_idx[q]++;
	__atomic_store_n(&a->idx, htole16(vd->avail_idx[q]), __ATOMIC_RELEASE);
	return head;
}

struct vqd_kick_arg {
	struct virtq_driver *vd;
	unsigned q;
};

static inline void vqd_notify_fn(void *arg)
{
	struct vqd_kick_arg *k = arg;

	k->vd->ops->notify(k->vd->dev, k->q);
}

/* Notify queue q, as the guest's doorbell write would, on the I/O thread; returns when notify() did. */
static inline void vqd_kick(struct virtq_driver *vd, unsigned q)
{
	struct vqd_kick_arg k = { vd, q };

	ck_assert_int_eq(event_loop_call(vd->l, vqd_notify_fn, &k), 0);
}

static inline uint16_t vqd_used_idx(struct virtq_driver *vd, unsigned q)
{
	return le16toh(__atomic_load_n(&vqd_used(vd, q)->idx, __ATOMIC_ACQUIRE));
}

/* Wait until the used ring holds n entries; the guest must never wait forever. */
static inline void vqd_wait_used(struct virtq_driver *vd, unsigned q, uint16_t n)
{
	for (int i = 0; i < vd->used_wait_ms; i++) {
		if (vqd_used_idx(vd, q) == n)
			return;
		usleep(1000);
	}
	ck_abort_msg("queue %u: used idx %u, want %u", q, vqd_used_idx(vd, q), n);
}

/* Used entry i of queue q (i taken modulo the queue size), in host byte order. */
static inline struct vring_used_elem vqd_used_elem(struct virtq_driver *vd, unsigned q, uint16_t i)
{
	struct vring_used_elem e = vqd_used(vd, q)->ring[i % VQD_QSIZE];

	return (struct vring_used_elem){ .id = le32toh(e.id), .len = le32toh(e.len) };
}

#endif
