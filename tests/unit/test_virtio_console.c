// SPDX-License-Identifier: Apache-2.0
/* virtio-console without KVM: a fake guest RAM and driver, a fake backend, a real I/O thread. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_console.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event_loop.h"
#include "memory.h"
#include "virtio/console.h"
#include "unit.h"

#define RAM_SIZE (8u << 20)
#define QSIZE 256
#define DATA_BASE 0x100000u
#define RXQ 0
#define TXQ 1

static void drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

static const struct vlog quiet = { .fn = drop_msg, .level = VMM_LOG_ERROR };

/*
 * The backend: collects what the guest transmits (or only counts it), takes at most `credit` bytes
 * until the test gives it more, holds back input the device could not take and offers it again at
 * rx_kick(). Its fields are the I/O thread's, except under lock (write() may also run on a vCPU).
 */
struct fake {
	pthread_mutex_t lock;
	uint8_t *out;          /* NULL: count only */
	size_t cap, len;
	uint64_t total;        /* bytes taken */
	size_t credit;         /* bytes it still takes (SIZE_MAX: any) */
	size_t refill;         /* ready_inline: credit given back inside want_room() */
	bool ready_inline;     /* want_room() calls virtio_console_tx_ready() at once */
	bool slow;             /* yield inside write(), to widen the window for overlapping calls */
	unsigned writes, wants, kicks;
	bool bad_want, overflow;
	atomic_int inside;
	atomic_bool overlap;   /* two write() calls at once */
	const uint8_t *pending; /* input offered again at rx_kick() */
	size_t pending_len;
	void *dev;
};

struct drv {
	struct guest_mem mem;
	uint8_t *ram;
	struct virtq vq[2];
	uint16_t next_desc[2], avail_idx[2];
	uint64_t heap;
	bool event_idx;
	struct event_loop *l;
	void *dev;
	struct fake f;
	struct virtio_ctx ctx;
	atomic_int irqs[2];
	atomic_int resets;
};

struct buf {
	uint64_t gpa;
	uint32_t len;
	bool write;
};

static size_t fake_write(void *opaque, const void *buf, size_t len)
{
	struct fake *f = opaque;
	size_t n;

	if (atomic_fetch_add(&f->inside, 1) != 0)
		atomic_store(&f->overlap, true);
	if (f->slow)
		sched_yield();
	pthread_mutex_lock(&f->lock);
	n = len < f->credit ? len : f->credit;
	if (f->credit != SIZE_MAX)
		f->credit -= n;
	if (f->out) {
		if (f->len + n > f->cap)
			f->overflow = true;
		else
			memcpy(f->out + f->len, buf, n);
	}
	f->len += n;
	f->total += n;
	f->writes++;
	pthread_mutex_unlock(&f->lock);
	atomic_fetch_sub(&f->inside, 1);
	return n;
}

static void fake_want_room(void *opaque, size_t n)
{
	struct fake *f = opaque;
	bool inline_ready;

	pthread_mutex_lock(&f->lock);
	f->wants++;
	if (n == 0 || n > VIRTIO_CONSOLE_ROOM_MAX)
		f->bad_want = true;
	inline_ready = f->ready_inline;
	if (inline_ready)
		f->credit = f->refill; /* room appeared meanwhile */
	pthread_mutex_unlock(&f->lock);
	if (inline_ready)
		virtio_console_tx_ready(f->dev);
}

static void fake_rx_kick(void *opaque)
{
	struct fake *f = opaque;
	size_t n;

	f->kicks++;
	if (!f->pending_len)
		return;
	n = virtio_console_rx(f->dev, f->pending, f->pending_len); /* offered again from inside the kick */
	f->pending += n;
	f->pending_len -= n;
}

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
	for (unsigned q = 0; q < 2; q++) {
		memset(d->ram + ring_gpa(q), 0, 0x3000);
		d->next_desc[q] = d->avail_idx[q] = 0;
		ck_assert_int_eq(virtq_init(&d->vq[q], &d->mem, QSIZE, ring_gpa(q), ring_gpa(q) + 0x1000,
					    ring_gpa(q) + 0x2000, d->event_idx),
				 0);
	}
}

static void activate_fn(void *arg)
{
	struct drv *d = arg;

	ck_assert_int_eq(virtio_console_ops.activate(d->dev, &d->ctx), 0);
}

static void reset_fn(void *arg)
{
	struct drv *d = arg;

	virtio_console_ops.reset(d->dev);
}

static void reactivate(struct drv *d)
{
	ck_assert_int_eq(event_loop_call(d->l, reset_fn, d), 0);
	init_queues(d);
	ck_assert_int_eq(event_loop_call(d->l, activate_fn, d), 0);
}

/* A device over the fake backend (collecting up to out_cap bytes; 0: count only), activated. */
static void setup(struct drv *d, size_t out_cap, bool event_idx)
{
	struct virtio_console_opts o = { .cols = 80, .rows = 25 };

	memset(d, 0, sizeof(*d));
	pthread_mutex_init(&d->f.lock, NULL);
	d->f.credit = SIZE_MAX;
	d->f.cap = out_cap;
	if (out_cap) {
		d->f.out = malloc(out_cap);
		ck_assert_ptr_nonnull(d->f.out);
	}
	d->event_idx = event_idx;
	d->ram = aligned_alloc(4096, RAM_SIZE);
	ck_assert_ptr_nonnull(d->ram);
	memset(d->ram, 0, RAM_SIZE);
	ck_assert_int_eq(gmem_add_region(&d->mem, 0, RAM_SIZE, d->ram), 0);
	d->heap = DATA_BASE;
	ck_assert_int_eq(event_loop_create(256, &quiet, &d->l), 0);
	ck_assert_int_eq(event_loop_start(d->l), 0);
	o.backend = (struct virtio_console_backend){ fake_write, fake_want_room, fake_rx_kick, &d->f };
	ck_assert_int_eq(virtio_console_create(&o, &quiet, &d->dev), 0);
	d->f.dev = d->dev;
	ck_assert_uint_eq(virtio_console_ops.num_queues(d->dev), 2);
	init_queues(d);
	d->ctx = (struct virtio_ctx){
		.mem = &d->mem,
		.loop = d->l,
		.features = virtio_console_ops.features(d->dev),
		.vq = d->vq,
		.nvq = 2,
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
	event_loop_stop(d->l);
	virtio_console_ops.destroy(d->dev);
	event_loop_destroy(d->l);
	ck_assert(!d->f.overflow);
	ck_assert(!d->f.bad_want);
	free(d->f.out);
	pthread_mutex_destroy(&d->f.lock);
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

	virtio_console_ops.notify(k->d->dev, k->q);
}

static void kick(struct drv *d, unsigned q)
{
	struct kick_arg k = { d, q };

	ck_assert_int_eq(event_loop_call(d->l, notify_fn, &k), 0);
}

static void nothing(void *arg)
{
	(void)arg;
}

/*
 * Let the loop finish what it deferred (interrupts, a later turn). Calls queued back to back may all
 * run in one turn before its deferred work, so the loop is also given time between them.
 */
static void settle(struct drv *d)
{
	for (int i = 0; i < 3; i++) {
		usleep(2000);
		ck_assert_int_eq(event_loop_call(d->l, nothing, NULL), 0);
	}
}

static uint16_t used_idx(struct drv *d, unsigned q)
{
	return le16toh(__atomic_load_n(&used(d, q)->idx, __ATOMIC_ACQUIRE));
}

/* Wait until the used ring holds n entries; the guest must never wait forever. */
static void wait_used(struct drv *d, unsigned q, uint16_t n)
{
	for (int i = 0; i < 10000; i++) {
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

static void wait_irq(struct drv *d, unsigned q, int n)
{
	for (int i = 0; i < 5000 && atomic_load(&d->irqs[q]) < n; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(&d->irqs[q]), n);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

/* What the backend collected, compared with want. */
static void check_out(struct drv *d, const uint8_t *want, size_t n)
{
	pthread_mutex_lock(&d->f.lock);
	ck_assert_uint_eq(d->f.len, n);
	for (size_t i = 0; i < n; i++)
		if (d->f.out[i] != want[i])
			ck_abort_msg("output differs at byte %zu of %zu", i, n);
	pthread_mutex_unlock(&d->f.lock);
}

struct rx_arg {
	struct drv *d;
	const uint8_t *buf;
	size_t len, took;
};

static void rx_fn(void *arg)
{
	struct rx_arg *a = arg;

	a->took = virtio_console_rx(a->d->dev, a->buf, a->len);
}

/* The backend offers host input on the I/O thread; returns what the device took. */
static size_t host_rx(struct drv *d, const uint8_t *buf, size_t len)
{
	struct rx_arg a = { d, buf, len, 0 };

	ck_assert_int_eq(event_loop_call(d->l, rx_fn, &a), 0);
	return a.took;
}

/* As the real backend: offer, and hold back what was not taken until rx_kick(). */
static void offer_fn(void *arg)
{
	struct rx_arg *a = arg;

	a->took = virtio_console_rx(a->d->dev, a->buf, a->len);
	a->d->f.pending = a->buf + a->took;
	a->d->f.pending_len = a->len - a->took;
}

static size_t host_offer(struct drv *d, const uint8_t *buf, size_t len)
{
	struct rx_arg a = { d, buf, len, 0 };

	ck_assert_int_eq(event_loop_call(d->l, offer_fn, &a), 0);
	return a.took;
}

struct fake_look {
	struct drv *d;
	unsigned kicks;
	size_t pending;
};

static void look_fn(void *arg)
{
	struct fake_look *k = arg;

	k->kicks = k->d->f.kicks;
	k->pending = k->d->f.pending_len;
}

static struct fake_look look(struct drv *d)
{
	struct fake_look k = { .d = d };

	ck_assert_int_eq(event_loop_call(d->l, look_fn, &k), 0);
	return k;
}

/* rx_kick() from a later loop turn: wait for the n-th. */
static void wait_kicks(struct drv *d, unsigned n)
{
	for (int i = 0; i < 5000 && look(d).kicks < n; i++)
		usleep(1000);
	ck_assert_uint_eq(look(d).kicks, n);
}

START_TEST(tx_chains)
{
	struct drv d;
	uint8_t want[2048];
	uint64_t g;
	size_t n = 0;
	int irqs;

	setup(&d, 1 << 20, false);
	g = galloc(&d, 4096);
	fill(d.ram + g, 4096, 1);
	/* Several descriptors a chain, a one-byte chain, buffers out of order in memory. */
	add_chain(&d, TXQ, (struct buf[]){ { g, 5, false }, { g + 5, 7, false }, { g + 100, 100, false },
					   { g + 200, 200, false } },
		  4);
	memcpy(want + n, d.ram + g, 12), n += 12;
	memcpy(want + n, d.ram + g + 100, 300), n += 300;
	add_chain(&d, TXQ, &(struct buf){ g + 1000, 1, false }, 1);
	want[n++] = d.ram[g + 1000];
	add_chain(&d, TXQ, (struct buf[]){ { g + 3000, 60, false }, { g + 2000, 4, false } }, 2);
	memcpy(want + n, d.ram + g + 3000, 60), n += 60;
	memcpy(want + n, d.ram + g + 2000, 4), n += 4;
	kick(&d, TXQ);
	wait_used(&d, TXQ, 3);
	check_out(&d, want, n);
	for (uint16_t i = 0; i < 3; i++)
		ck_assert_uint_eq(used_elem(&d, TXQ, i).len, 0);
	ck_assert_uint_eq(used_elem(&d, TXQ, 1).id, 4);
	wait_irq(&d, TXQ, 1);

	/* 100 chains, one notify: all in order, one interrupt for the batch. */
	settle(&d);
	irqs = atomic_load(&d.irqs[TXQ]);
	for (unsigned i = 0; i < 100; i++) {
		uint64_t b = galloc(&d, 64);

		fill(d.ram + b, 64, 10 + i);
		add_chain(&d, TXQ, &(struct buf){ b, 7, false }, 1);
		memcpy(want + n, d.ram + b, 7), n += 7;
	}
	kick(&d, TXQ);
	wait_used(&d, TXQ, 103);
	check_out(&d, want, n);
	wait_irq(&d, TXQ, irqs + 1);
	settle(&d);
	ck_assert_int_eq(atomic_load(&d.irqs[TXQ]), irqs + 1);
	ck_assert_int_eq(atomic_load(&d.resets), 0);
	teardown(&d);
}
END_TEST

#define PATTERN (1u << 20)
#define CHAINS 64 /* of 4 descriptors, 16 KiB each: 1 MiB, the whole descriptor table */

/* The 1 MiB pattern over 64 chains of descriptors of 1, 4095, 8191 and 4097 bytes. */
static uint8_t *post_pattern(struct drv *d)
{
	static const uint32_t sz[4] = { 1, 4095, 8191, 4097 };
	uint64_t g = galloc(d, PATTERN);
	uint8_t *want = malloc(PATTERN);

	ck_assert_ptr_nonnull(want);
	fill(d->ram + g, PATTERN, 77);
	memcpy(want, d->ram + g, PATTERN);
	for (unsigned c = 0; c < CHAINS; c++) {
		struct buf b[4];
		uint64_t at = g + (uint64_t)c * 16384;

		for (unsigned k = 0; k < 4; k++) {
			b[k] = (struct buf){ at, sz[k], false };
			at += sz[k];
		}
		add_chain(d, TXQ, b, 4);
	}
	return want;
}

struct ready_arg {
	struct drv *d;
	size_t credit;
	unsigned writes, wants;
};

/* The backend made room for a->credit bytes and says so (on the I/O thread, as the real one). */
static void ready_fn(void *arg)
{
	struct ready_arg *a = arg;

	pthread_mutex_lock(&a->d->f.lock);
	a->d->f.credit = a->credit;
	pthread_mutex_unlock(&a->d->f.lock);
	virtio_console_tx_ready(a->d->dev);
}

static void counts_fn(void *arg)
{
	struct ready_arg *a = arg;

	pthread_mutex_lock(&a->d->f.lock);
	a->writes = a->d->f.writes;
	a->wants = a->d->f.wants;
	pthread_mutex_unlock(&a->d->f.lock);
}

START_TEST(tx_backpressure)
{
	struct drv d;
	struct ready_arg a = { .d = &d };
	unsigned rounds = 0, writes;
	uint8_t *want;

	setup(&d, PATTERN, _i); /* without and with EVENT_IDX */
	d.f.credit = 0;
	want = post_pattern(&d);
	kick(&d, TXQ);
	ck_assert_int_eq(event_loop_call(d.l, counts_fn, &a), 0);
	ck_assert_uint_eq(a.wants, 1);
	/* Kicked while it waits for room: the device does not try the backend again. */
	writes = a.writes;
	kick(&d, TXQ);
	ck_assert_int_eq(event_loop_call(d.l, counts_fn, &a), 0);
	ck_assert_uint_eq(a.writes, writes);
	ck_assert_uint_eq(a.wants, 1);
	/* Many stalls, anywhere in a buffer or on its edge: every byte once, in order. */
	while (used_idx(&d, TXQ) != CHAINS) {
		ck_assert_uint_lt(rounds, 100000);
		a.credit = 1 + (rounds * 7919u) % 6000;
		if (rounds % 50 == 0)
			a.credit = rounds % 100 ? 1 : 16384;
		ck_assert_int_eq(event_loop_call(d.l, ready_fn, &a), 0);
		rounds++;
	}
	check_out(&d, want, PATTERN);
	for (uint16_t i = 0; i < CHAINS; i++) {
		ck_assert_uint_eq(used_elem(&d, TXQ, i).id, i * 4);
		ck_assert_uint_eq(used_elem(&d, TXQ, i).len, 0);
	}
	ck_assert_uint_gt(rounds, 100);
	wait_irq(&d, TXQ, 1);
	free(want);
	teardown(&d);
}
END_TEST

/* The backend finds room at once and calls tx_ready() from inside want_room(): no recursion, no loss. */
START_TEST(tx_ready_inside_want_room)
{
	struct drv d;
	uint8_t *want;

	setup(&d, PATTERN, false);
	d.f.credit = 3000;
	d.f.refill = 3000;
	d.f.ready_inline = true;
	want = post_pattern(&d);
	kick(&d, TXQ);
	wait_used(&d, TXQ, CHAINS);
	check_out(&d, want, PATTERN);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_ge(d.f.wants, PATTERN / 3000);
	pthread_mutex_unlock(&d.f.lock);
	free(want);
	teardown(&d);
}
END_TEST

/* 64 descriptors of 4 MiB, all the same buffer: 256 MiB in one chain, served over many loop turns. */
START_TEST(tx_huge_chain)
{
	struct drv d;
	struct buf b[64];
	uint64_t g;

	setup(&d, 0, false);
	g = galloc(&d, 4u << 20);
	for (unsigned i = 0; i < 64; i++)
		b[i] = (struct buf){ g, 4u << 20, false };
	add_chain(&d, TXQ, b, 64);
	add_chain(&d, TXQ, &(struct buf){ g, 10, false }, 1);
	kick(&d, TXQ);
	wait_used(&d, TXQ, 2);
	settle(&d);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.total, (256ull << 20) + 10);
	ck_assert_uint_gt(d.f.writes, 64); /* cut by the per-turn budget */
	pthread_mutex_unlock(&d.f.lock);
	ck_assert_int_eq(atomic_load(&d.resets), 0);
	teardown(&d);
}
END_TEST

START_TEST(rx_buffers)
{
	struct drv d;
	uint8_t in[256];
	uint64_t g, h;

	setup(&d, 4096, false);
	fill(in, sizeof(in), 5);
	g = galloc(&d, 4096);
	h = galloc(&d, 4096);
	memset(d.ram + g, 0xee, 4096);
	memset(d.ram + h, 0xee, 4096);
	/* A chain of 10 + 20 + 30 bytes, then one of 100. */
	add_chain(&d, RXQ, (struct buf[]){ { g, 10, true }, { g + 100, 20, true }, { g + 200, 30, true } }, 3);
	add_chain(&d, RXQ, &(struct buf){ h, 100, true }, 1);
	kick(&d, RXQ);
	ck_assert_uint_eq(host_rx(&d, in, 50), 50);
	wait_used(&d, RXQ, 1);
	ck_assert_uint_eq(used_elem(&d, RXQ, 0).len, 50);
	ck_assert_mem_eq(d.ram + g, in, 10);
	ck_assert_mem_eq(d.ram + g + 100, in + 10, 20);
	ck_assert_mem_eq(d.ram + g + 200, in + 30, 20);
	ck_assert_uint_eq(d.ram[g + 220], 0xee); /* nothing past the input */
	wait_irq(&d, RXQ, 1);
	/* 150 bytes, one buffer of 100 left: 100 taken, the rest waits. */
	ck_assert_uint_eq(host_rx(&d, in + 50, 150), 100);
	ck_assert_uint_eq(used_elem(&d, RXQ, 1).len, 100);
	ck_assert_uint_eq(used_elem(&d, RXQ, 1).id, 3);
	ck_assert_mem_eq(d.ram + h, in + 50, 100);
	ck_assert_uint_eq(host_rx(&d, in + 150, 50), 0);
	ck_assert_uint_eq(used_idx(&d, RXQ), 2);
	ck_assert_int_eq(atomic_load(&d.resets), 0);
	teardown(&d);
}
END_TEST

START_TEST(rx_kick_after_buffers)
{
	struct drv d;
	static uint8_t in[300];
	uint64_t g = 0;

	setup(&d, 4096, _i);
	fill(in, sizeof(in), 6);
	/* No buffer yet: nothing taken, the backend holds it all. */
	ck_assert_uint_eq(host_offer(&d, in, sizeof(in)), 0);
	ck_assert_uint_eq(look(&d).kicks, 0);
	/* Two buffers: the notify kicks the backend, which offers again at once. */
	for (unsigned i = 0; i < 2; i++) {
		uint64_t b = galloc(&d, 128);

		g = i ? g : b;
		add_chain(&d, RXQ, &(struct buf){ b, 128, true }, 1);
	}
	kick(&d, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 1);
	ck_assert_uint_eq(look(&d).pending, 44);
	wait_used(&d, RXQ, 2);
	ck_assert_uint_eq(used_elem(&d, RXQ, 0).len, 128);
	ck_assert_uint_eq(used_elem(&d, RXQ, 1).len, 128);
	ck_assert_mem_eq(d.ram + g, in, 128);
	ck_assert_mem_eq(d.ram + g + 4096, in + 128, 128);
	/* A notify without new buffers kicks (the device was short) but nothing moves. */
	kick(&d, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 2);
	ck_assert_uint_eq(look(&d).pending, 44);
	/* One more buffer: the rest. */
	g = galloc(&d, 128);
	add_chain(&d, RXQ, &(struct buf){ g, 128, true }, 1);
	kick(&d, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 3);
	ck_assert_uint_eq(look(&d).pending, 0);
	wait_used(&d, RXQ, 3);
	ck_assert_uint_eq(used_elem(&d, RXQ, 2).len, 44);
	ck_assert_mem_eq(d.ram + g, in + 256, 44);
	/* Nothing was short since: a notify does not kick. */
	add_chain(&d, RXQ, &(struct buf){ galloc(&d, 128), 128, true }, 1);
	kick(&d, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 3);
	wait_irq(&d, RXQ, 1);
	teardown(&d);
}
END_TEST

/* A chain whose two descriptors point at each other. */
static void add_loop(struct drv *d, unsigned q, uint64_t g, bool write)
{
	struct vring_desc *t = desc(d, q);
	uint16_t a = d->next_desc[q], b = (uint16_t)(a + 1);
	uint16_t f = VRING_DESC_F_NEXT | (write ? VRING_DESC_F_WRITE : 0);

	t[a] = (struct vring_desc){ htole64(g), htole32(8), htole16(f), htole16(b) };
	t[b] = (struct vring_desc){ htole64(g), htole32(8), htole16(f), htole16(a) };
	d->next_desc[q] = (uint16_t)(a + 2);
	avail(d, q)->ring[d->avail_idx[q] % QSIZE] = htole16(a);
	d->avail_idx[q]++;
	__atomic_store_n(&avail(d, q)->idx, htole16(d->avail_idx[q]), __ATOMIC_RELEASE);
}

/* A one-descriptor chain whose NEXT points outside the table. */
static void add_bad_next(struct drv *d, unsigned q, uint64_t g)
{
	uint16_t i = add_chain(d, q, &(struct buf){ g, 8, q == RXQ }, 1);

	desc(d, q)[i].flags |= htole16(VRING_DESC_F_NEXT);
	desc(d, q)[i].next = htole16(999);
}

START_TEST(hostile_tx)
{
	struct drv d;
	uint64_t g;

	setup(&d, 4096, false);
	g = galloc(&d, 4096);
	fill(d.ram + g, 4096, 8);
	/* Completed with 0 and dropped: outside RAM, a huge length, a loop, a writable buffer, next out of range. */
	add_chain(&d, TXQ, &(struct buf){ RAM_SIZE - 10, 100, false }, 1);
	add_chain(&d, TXQ, &(struct buf){ g, UINT32_MAX, false }, 1);
	add_chain(&d, TXQ, &(struct buf){ UINT64_MAX - 4, 100, false }, 1);
	add_loop(&d, TXQ, g, false);
	add_chain(&d, TXQ, (struct buf[]){ { g, 100, false }, { g + 100, 100, true } }, 2);
	add_bad_next(&d, TXQ, g);
	/* Nothing to write: completed. */
	add_chain(&d, TXQ, &(struct buf){ g, 0, false }, 1);
	/* The good one. */
	add_chain(&d, TXQ, &(struct buf){ g + 500, 33, false }, 1);
	kick(&d, TXQ);
	wait_used(&d, TXQ, 8);
	for (uint16_t i = 0; i < 8; i++)
		ck_assert_uint_eq(used_elem(&d, TXQ, i).len, 0);
	check_out(&d, d.ram + g + 500, 33);
	ck_assert_int_eq(atomic_load(&d.resets), 0);

	/* An avail index far ahead: the queue cannot be trusted, reported once. */
	__atomic_store_n(&avail(&d, TXQ)->idx, htole16(d.avail_idx[TXQ] + QSIZE + 5), __ATOMIC_RELEASE);
	kick(&d, TXQ);
	ck_assert_int_eq(atomic_load(&d.resets), 1);
	kick(&d, TXQ);
	ck_assert_int_eq(atomic_load(&d.resets), 1);
	/* A head outside the table: the same. */
	reactivate(&d);
	avail(&d, TXQ)->ring[0] = htole16(QSIZE + 3);
	__atomic_store_n(&avail(&d, TXQ)->idx, htole16(1), __ATOMIC_RELEASE);
	kick(&d, TXQ);
	ck_assert_int_eq(atomic_load(&d.resets), 2);
	/* After a reset the device works again. */
	reactivate(&d);
	add_chain(&d, TXQ, &(struct buf){ g + 600, 7, false }, 1);
	kick(&d, TXQ);
	wait_used(&d, TXQ, 1);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.len, 40);
	ck_assert_mem_eq(d.f.out + 33, d.ram + g + 600, 7);
	pthread_mutex_unlock(&d.f.lock);
	teardown(&d);
}
END_TEST

START_TEST(hostile_rx)
{
	struct drv d;
	uint8_t in[64];
	uint64_t g, ro;

	setup(&d, 4096, false);
	fill(in, sizeof(in), 9);
	g = galloc(&d, 4096);
	ro = galloc(&d, 4096);
	memset(d.ram + ro, 0xee, 4096);
	/* Completed with 0: read-only, outside RAM, a huge length, zero length, a loop, next out of range. */
	add_chain(&d, RXQ, &(struct buf){ ro, 100, false }, 1);
	add_chain(&d, RXQ, (struct buf[]){ { ro, 10, false }, { g, 100, true } }, 2);
	add_chain(&d, RXQ, &(struct buf){ RAM_SIZE - 10, 100, true }, 1);
	add_chain(&d, RXQ, &(struct buf){ g, UINT32_MAX, true }, 1);
	add_chain(&d, RXQ, &(struct buf){ g, 0, true }, 1);
	add_loop(&d, RXQ, g, true);
	add_bad_next(&d, RXQ, g);
	/* A writable buffer before a readable one (the ring forbids it). */
	add_chain(&d, RXQ, (struct buf[]){ { g, 10, true }, { ro, 10, false } }, 2);
	/* The good one. */
	add_chain(&d, RXQ, &(struct buf){ g + 1000, 64, true }, 1);
	kick(&d, RXQ); /* the first notify kicks the backend (nothing waits yet) */
	ck_assert_uint_eq(look(&d).kicks, 1);
	ck_assert_uint_eq(host_rx(&d, in, 20), 20);
	wait_used(&d, RXQ, 9);
	for (uint16_t i = 0; i < 8; i++)
		ck_assert_uint_eq(used_elem(&d, RXQ, i).len, 0);
	ck_assert_uint_eq(used_elem(&d, RXQ, 8).len, 20);
	ck_assert_mem_eq(d.ram + g + 1000, in, 20);
	for (unsigned i = 0; i < 4096; i++)
		ck_assert_uint_eq(d.ram[ro + i], 0xee); /* read-only buffers untouched */
	ck_assert_int_eq(atomic_load(&d.resets), 0);

	/* An avail index far ahead: nothing taken, reported once; after a reset a notify kicks the backend. */
	__atomic_store_n(&avail(&d, RXQ)->idx, htole16(d.avail_idx[RXQ] + QSIZE + 1), __ATOMIC_RELEASE);
	ck_assert_uint_eq(host_offer(&d, in, sizeof(in)), 0);
	ck_assert_int_eq(atomic_load(&d.resets), 1);
	ck_assert_uint_eq(host_offer(&d, in, sizeof(in)), 0);
	kick(&d, RXQ);
	ck_assert_int_eq(atomic_load(&d.resets), 1);
	ck_assert_uint_eq(look(&d).kicks, 1); /* a broken queue takes nothing: no kick */
	reactivate(&d);
	add_chain(&d, RXQ, &(struct buf){ g, 128, true }, 1);
	kick(&d, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 2);
	ck_assert_uint_eq(look(&d).pending, 0);
	wait_used(&d, RXQ, 1);
	ck_assert_uint_eq(used_elem(&d, RXQ, 0).len, sizeof(in));
	ck_assert_mem_eq(d.ram + g, in, sizeof(in));
	teardown(&d);
}
END_TEST

/* A guest re-posting empty receive chains cannot keep one rx() call (and the I/O thread) forever. */
START_TEST(rx_budget)
{
	struct drv d;
	uint8_t in[8] = "abcdefg";
	uint64_t g;

	setup(&d, 4096, false);
	g = galloc(&d, 4096);
	/* A queue's worth of chains per call: the last of them takes the input. */
	for (unsigned i = 0; i < QSIZE - 1; i++)
		add_chain(&d, RXQ, &(struct buf){ g, 0, true }, 1);
	add_chain(&d, RXQ, &(struct buf){ g, 8, true }, 1);
	ck_assert_uint_eq(host_offer(&d, in, 8), 8);
	wait_used(&d, RXQ, QSIZE);
	ck_assert_uint_eq(used_elem(&d, RXQ, QSIZE - 1).len, 8);
	settle(&d);
	ck_assert_uint_eq(look(&d).kicks, 0);
	/* A queue's worth of empty chains: the call comes short, the backend is kicked on the next turn. */
	for (unsigned i = 0; i < QSIZE; i++)
		add_chain(&d, RXQ, &(struct buf){ g, 0, true }, 1);
	ck_assert_uint_eq(host_offer(&d, in, 8), 0);
	ck_assert_uint_eq(used_idx(&d, RXQ), (uint16_t)(2 * QSIZE));
	wait_kicks(&d, 1); /* it found the ring empty: short again */
	settle(&d);
	ck_assert_uint_eq(look(&d).kicks, 1);
	ck_assert_uint_eq(look(&d).pending, 8);
	add_chain(&d, RXQ, &(struct buf){ g + 16, 8, true }, 1);
	kick(&d, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 2);
	ck_assert_uint_eq(look(&d).pending, 0);
	ck_assert_mem_eq(d.ram + g + 16, in, 8);
	ck_assert_int_eq(atomic_load(&d.resets), 0);
	teardown(&d);
}
END_TEST

static void config_expect(void *dev, const uint8_t *want)
{
	for (uint32_t len = 1; len <= 4; len *= 2)
		for (uint32_t off = 0; off + len <= virtio_console_ops.config_size; off++) {
			uint8_t got[4];

			memset(got, 0x5a, sizeof(got));
			virtio_console_ops.config_read(dev, off, got, len);
			ck_assert_msg(memcmp(got, want + off, len) == 0, "config read of %u bytes at %u", len, off);
		}
}

START_TEST(config_space)
{
	static const uint8_t with_size[12] = { 80, 0, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
	static const uint8_t no_size[12] = { 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0 };
	struct fake f = { .credit = SIZE_MAX, .cap = 16 };
	struct virtio_console_opts o = { .backend = { fake_write, fake_want_room, fake_rx_kick, &f }, .cols = 80 };
	uint32_t v;
	void *dev;

	pthread_mutex_init(&f.lock, NULL);
	f.out = malloc(f.cap);
	ck_assert_uint_eq(virtio_console_ops.config_size, 12);
	ck_assert_uint_eq(virtio_console_ops.queue_max_size, QSIZE);
	ck_assert_uint_eq(virtio_console_ops.device_id, 3);
	/* cols without rows: no size. */
	ck_assert_int_eq(virtio_console_create(&o, &quiet, &dev), 0);
	ck_assert_uint_eq(virtio_console_ops.features(dev), 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE);
	config_expect(dev, no_size);
	virtio_console_ops.destroy(dev);
	o.rows = 25;
	ck_assert_int_eq(virtio_console_create(&o, &quiet, &dev), 0);
	ck_assert_uint_eq(virtio_console_ops.features(dev),
			  (1ull << VIRTIO_CONSOLE_F_EMERG_WRITE) | (1ull << VIRTIO_CONSOLE_F_SIZE));
	config_expect(dev, with_size);
	/* Emergency writes (no activation needed): a 32-bit write and a byte write at emerg_wr. */
	v = htole32('A');
	virtio_console_ops.config_write(dev, 8, &v, 4);
	virtio_console_ops.config_write(dev, 8, "B", 1);
	v = htole32(0x4443);
	virtio_console_ops.config_write(dev, 8, &v, 2);
	/* Elsewhere: ignored, read-only. */
	virtio_console_ops.config_write(dev, 9, "X", 1);
	virtio_console_ops.config_write(dev, 10, "XY", 2);
	virtio_console_ops.config_write(dev, 0, "XXXX", 4);
	virtio_console_ops.config_write(dev, 4, "XXXX", 4);
	ck_assert_uint_eq(f.len, 3);
	ck_assert_mem_eq(f.out, "ABC", 3);
	config_expect(dev, with_size);
	/* A full backend drops the emergency byte (the vCPU does not wait). */
	f.credit = 0;
	virtio_console_ops.config_write(dev, 8, "Z", 1);
	ck_assert_uint_eq(f.len, 3);
	virtio_console_ops.destroy(dev);
	/* A backend without its callbacks is refused. */
	o.backend.want_room = NULL;
	ck_assert_int_eq(virtio_console_create(&o, &quiet, &dev), -EINVAL);
	free(f.out);
	pthread_mutex_destroy(&f.lock);
}
END_TEST

struct emerg_arg {
	void *dev;
	unsigned n;
};

static void *emerg_thread(void *arg)
{
	struct emerg_arg *a = arg;
	uint32_t v = htole32('!');

	for (unsigned i = 0; i < a->n; i++)
		virtio_console_ops.config_write(a->dev, 8, &v, 4);
	return NULL;
}

#define EMERG_ROUNDS 16
#define EMERG_BYTES (256u << 10) /* per round: 64 chains of 4 buffers of 1 KiB */

/* A vCPU's emergency writes while the I/O thread transmits: never two backend writes at once. */
START_TEST(emerg_write_races_tx)
{
	struct drv d;
	struct emerg_arg a;
	pthread_t t;
	uint64_t g;
	size_t n = 0, k = 0;

	setup(&d, EMERG_ROUNDS * EMERG_BYTES + 4096, false);
	d.f.slow = true;
	g = galloc(&d, EMERG_BYTES);
	for (size_t i = 0; i < EMERG_BYTES; i++)
		d.ram[g + i] = (uint8_t)('a' + i % 26);
	a = (struct emerg_arg){ d.dev, 2000 };
	ck_assert_int_eq(pthread_create(&t, NULL, emerg_thread, &a), 0);
	for (unsigned r = 0; r < EMERG_ROUNDS; r++) {
		for (unsigned c = 0; c < 64; c++) {
			struct buf b[4];

			for (unsigned j = 0; j < 4; j++)
				b[j] = (struct buf){ g + c * 4096 + j * 1024, 1024, false };
			add_chain(&d, TXQ, b, 4);
		}
		kick(&d, TXQ);
		wait_used(&d, TXQ, (uint16_t)(64 * (r + 1)));
	}
	pthread_join(t, NULL);
	ck_assert(!atomic_load(&d.f.overlap));
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.len, EMERG_ROUNDS * EMERG_BYTES + 2000);
	for (size_t i = 0; i < d.f.len; i++) {
		if (d.f.out[i] == '!') {
			n++;
			continue;
		}
		if (d.f.out[i] != d.ram[g + k % EMERG_BYTES])
			ck_abort_msg("transmitted byte %zu differs", k);
		k++;
	}
	pthread_mutex_unlock(&d.f.lock);
	ck_assert_uint_eq(n, 2000);
	ck_assert_uint_eq(k, EMERG_ROUNDS * EMERG_BYTES);
	teardown(&d);
}
END_TEST

/* A reset while a chain is half written: the rest is dropped, a late tx_ready() is harmless. */
START_TEST(reset_mid_chain)
{
	struct drv d;
	struct ready_arg a = { .d = &d, .credit = SIZE_MAX };
	uint64_t g;

	setup(&d, 4096, false);
	g = galloc(&d, 4096);
	fill(d.ram + g, 4096, 11);
	d.f.credit = 100;
	add_chain(&d, TXQ, (struct buf[]){ { g, 60, false }, { g + 60, 940, false } }, 2);
	kick(&d, TXQ);
	ck_assert_uint_eq(used_idx(&d, TXQ), 0);
	ck_assert_int_eq(event_loop_call(d.l, reset_fn, &d), 0);
	ck_assert_int_eq(event_loop_call(d.l, ready_fn, &a), 0); /* not active: nothing */
	init_queues(&d);
	ck_assert_int_eq(event_loop_call(d.l, activate_fn, &d), 0);
	add_chain(&d, TXQ, &(struct buf){ g + 2000, 50, false }, 1);
	kick(&d, TXQ);
	wait_used(&d, TXQ, 1);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.len, 150);
	ck_assert_mem_eq(d.f.out, d.ram + g, 100);
	ck_assert_mem_eq(d.f.out + 100, d.ram + g + 2000, 50);
	pthread_mutex_unlock(&d.f.lock);
	teardown(&d);
}
END_TEST

static void notify_then_destroy(void *arg)
{
	struct drv *d = arg;

	virtio_console_ops.notify(d->dev, TXQ); /* queues the interrupt's defer */
	virtio_console_ops.reset(d->dev);
	virtio_console_ops.destroy(d->dev); /* the defer, when it runs, frees */
}

/* destroy() while the loop still holds the device's callback: freed by it, no use after free. */
START_TEST(destroy_with_defer_queued)
{
	struct drv d;
	uint64_t g;

	setup(&d, 4096, false);
	g = galloc(&d, 4096);
	add_chain(&d, TXQ, &(struct buf){ g, 10, false }, 1);
	ck_assert_int_eq(event_loop_call(d.l, notify_then_destroy, &d), 0);
	settle(&d);
	event_loop_stop(d.l);
	event_loop_destroy(d.l);
	ck_assert_uint_eq(d.f.len, 10);
	free(d.f.out);
	pthread_mutex_destroy(&d.f.lock);
	free(d.ram);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_console");
	TCase *tc = tcase_create("virtio_console");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, tx_chains);
	tcase_add_loop_test(tc, tx_backpressure, 0, 2);
	tcase_add_test(tc, tx_ready_inside_want_room);
	tcase_add_test(tc, tx_huge_chain);
	tcase_add_test(tc, rx_buffers);
	tcase_add_loop_test(tc, rx_kick_after_buffers, 0, 2);
	tcase_add_test(tc, hostile_tx);
	tcase_add_test(tc, hostile_rx);
	tcase_add_test(tc, rx_budget);
	tcase_add_test(tc, config_space);
	tcase_add_test(tc, emerg_write_races_tx);
	tcase_add_test(tc, reset_mid_chain);
	tcase_add_test(tc, destroy_with_defer_queued);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
