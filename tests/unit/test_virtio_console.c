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
#include "virtq_driver.h"

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
	struct virtq_driver vd;
	struct fake f;
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

static void reactivate(struct drv *d)
{
	ck_assert_int_eq(event_loop_call(d->vd.l, vqd_reset_fn, &d->vd), 0);
	vqd_init_queues(&d->vd);
	ck_assert_int_eq(event_loop_call(d->vd.l, vqd_activate_fn, &d->vd), 0);
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
	vqd_init(&d->vd, &quiet);
	d->vd.used_wait_ms = 10000; /* this suite has always given the device 10 s */
	d->vd.event_idx = event_idx;
	o.backend = (struct virtio_console_backend){ fake_write, fake_want_room, fake_rx_kick, &d->f };
	ck_assert_int_eq(virtio_console_create(&o, &quiet, &d->vd.dev), 0);
	d->f.dev = d->vd.dev;
	ck_assert_uint_eq(virtio_console_ops.num_queues(d->vd.dev), 2);
	vqd_start(&d->vd, &virtio_console_ops, 2, virtio_console_ops.features(d->vd.dev));
}

static void teardown(struct drv *d)
{
	vqd_teardown(&d->vd);
	ck_assert(!d->f.overflow);
	ck_assert(!d->f.bad_want);
	free(d->f.out);
	pthread_mutex_destroy(&d->f.lock);
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
		ck_assert_int_eq(event_loop_call(d->vd.l, nothing, NULL), 0);
	}
}

static void wait_irq(struct drv *d, unsigned q, int n)
{
	for (int i = 0; i < 5000 && atomic_load(&d->vd.irqs[q]) < n; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(&d->vd.irqs[q]), n);
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

	a->took = virtio_console_rx(a->d->vd.dev, a->buf, a->len);
}

/* The backend offers host input on the I/O thread; returns what the device took. */
static size_t host_rx(struct drv *d, const uint8_t *buf, size_t len)
{
	struct rx_arg a = { d, buf, len, 0 };

	ck_assert_int_eq(event_loop_call(d->vd.l, rx_fn, &a), 0);
	return a.took;
}

/* As the real backend: offer, and hold back what was not taken until rx_kick(). */
static void offer_fn(void *arg)
{
	struct rx_arg *a = arg;

	a->took = virtio_console_rx(a->d->vd.dev, a->buf, a->len);
	a->d->f.pending = a->buf + a->took;
	a->d->f.pending_len = a->len - a->took;
}

static size_t host_offer(struct drv *d, const uint8_t *buf, size_t len)
{
	struct rx_arg a = { d, buf, len, 0 };

	ck_assert_int_eq(event_loop_call(d->vd.l, offer_fn, &a), 0);
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

	ck_assert_int_eq(event_loop_call(d->vd.l, look_fn, &k), 0);
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
	g = vqd_alloc(&d.vd, 4096);
	fill(d.vd.ram + g, 4096, 1);
	/* Several descriptors a chain, a one-byte chain, buffers out of order in memory. */
	vqd_add_chain(&d.vd, TXQ, (struct vqd_buf[]){ { g, 5, false }, { g + 5, 7, false }, { g + 100, 100, false },
					   { g + 200, 200, false } },
		  4);
	memcpy(want + n, d.vd.ram + g, 12), n += 12;
	memcpy(want + n, d.vd.ram + g + 100, 300), n += 300;
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g + 1000, 1, false }, 1);
	want[n++] = d.vd.ram[g + 1000];
	vqd_add_chain(&d.vd, TXQ, (struct vqd_buf[]){ { g + 3000, 60, false }, { g + 2000, 4, false } }, 2);
	memcpy(want + n, d.vd.ram + g + 3000, 60), n += 60;
	memcpy(want + n, d.vd.ram + g + 2000, 4), n += 4;
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, 3);
	check_out(&d, want, n);
	for (uint16_t i = 0; i < 3; i++)
		ck_assert_uint_eq(vqd_used_elem(&d.vd, TXQ, i).len, 0);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, TXQ, 1).id, 4);
	wait_irq(&d, TXQ, 1);

	/* 100 chains, one notify: all in order, one interrupt for the batch. */
	settle(&d);
	irqs = atomic_load(&d.vd.irqs[TXQ]);
	for (unsigned i = 0; i < 100; i++) {
		uint64_t b = vqd_alloc(&d.vd, 64);

		fill(d.vd.ram + b, 64, 10 + i);
		vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ b, 7, false }, 1);
		memcpy(want + n, d.vd.ram + b, 7), n += 7;
	}
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, 103);
	check_out(&d, want, n);
	wait_irq(&d, TXQ, irqs + 1);
	settle(&d);
	ck_assert_int_eq(atomic_load(&d.vd.irqs[TXQ]), irqs + 1);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
	teardown(&d);
}
END_TEST

#define PATTERN (1u << 20)
#define CHAINS 64 /* of 4 descriptors, 16 KiB each: 1 MiB, the whole descriptor table */

/* The 1 MiB pattern over 64 chains of descriptors of 1, 4095, 8191 and 4097 bytes. */
static uint8_t *post_pattern(struct drv *d)
{
	static const uint32_t sz[4] = { 1, 4095, 8191, 4097 };
	uint64_t g = vqd_alloc(&d->vd, PATTERN);
	uint8_t *want = malloc(PATTERN);

	ck_assert_ptr_nonnull(want);
	fill(d->vd.ram + g, PATTERN, 77);
	memcpy(want, d->vd.ram + g, PATTERN);
	for (unsigned c = 0; c < CHAINS; c++) {
		struct vqd_buf b[4];
		uint64_t at = g + (uint64_t)c * 16384;

		for (unsigned k = 0; k < 4; k++) {
			b[k] = (struct vqd_buf){ at, sz[k], false };
			at += sz[k];
		}
		vqd_add_chain(&d->vd, TXQ, b, 4);
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
	virtio_console_tx_ready(a->d->vd.dev);
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
	vqd_kick(&d.vd, TXQ);
	ck_assert_int_eq(event_loop_call(d.vd.l, counts_fn, &a), 0);
	ck_assert_uint_eq(a.wants, 1);
	/* Kicked while it waits for room: the device does not try the backend again. */
	writes = a.writes;
	vqd_kick(&d.vd, TXQ);
	ck_assert_int_eq(event_loop_call(d.vd.l, counts_fn, &a), 0);
	ck_assert_uint_eq(a.writes, writes);
	ck_assert_uint_eq(a.wants, 1);
	/* Many stalls, anywhere in a buffer or on its edge: every byte once, in order. */
	while (vqd_used_idx(&d.vd, TXQ) != CHAINS) {
		ck_assert_uint_lt(rounds, 100000);
		a.credit = 1 + (rounds * 7919u) % 6000;
		if (rounds % 50 == 0)
			a.credit = rounds % 100 ? 1 : 16384;
		ck_assert_int_eq(event_loop_call(d.vd.l, ready_fn, &a), 0);
		rounds++;
	}
	check_out(&d, want, PATTERN);
	for (uint16_t i = 0; i < CHAINS; i++) {
		ck_assert_uint_eq(vqd_used_elem(&d.vd, TXQ, i).id, i * 4);
		ck_assert_uint_eq(vqd_used_elem(&d.vd, TXQ, i).len, 0);
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
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, CHAINS);
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
	struct vqd_buf b[64];
	uint64_t g;

	setup(&d, 0, false);
	g = vqd_alloc(&d.vd, 4u << 20);
	for (unsigned i = 0; i < 64; i++)
		b[i] = (struct vqd_buf){ g, 4u << 20, false };
	vqd_add_chain(&d.vd, TXQ, b, 64);
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g, 10, false }, 1);
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, 2);
	settle(&d);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.total, (256ull << 20) + 10);
	ck_assert_uint_gt(d.f.writes, 64); /* cut by the per-turn budget */
	pthread_mutex_unlock(&d.f.lock);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
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
	g = vqd_alloc(&d.vd, 4096);
	h = vqd_alloc(&d.vd, 4096);
	memset(d.vd.ram + g, 0xee, 4096);
	memset(d.vd.ram + h, 0xee, 4096);
	/* A chain of 10 + 20 + 30 bytes, then one of 100. */
	vqd_add_chain(&d.vd, RXQ, (struct vqd_buf[]){ { g, 10, true }, { g + 100, 20, true }, { g + 200, 30, true } }, 3);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ h, 100, true }, 1);
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(host_rx(&d, in, 50), 50);
	vqd_wait_used(&d.vd, RXQ, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 0).len, 50);
	ck_assert_mem_eq(d.vd.ram + g, in, 10);
	ck_assert_mem_eq(d.vd.ram + g + 100, in + 10, 20);
	ck_assert_mem_eq(d.vd.ram + g + 200, in + 30, 20);
	ck_assert_uint_eq(d.vd.ram[g + 220], 0xee); /* nothing past the input */
	wait_irq(&d, RXQ, 1);
	/* 150 bytes, one buffer of 100 left: 100 taken, the rest waits. */
	ck_assert_uint_eq(host_rx(&d, in + 50, 150), 100);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 1).len, 100);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 1).id, 3);
	ck_assert_mem_eq(d.vd.ram + h, in + 50, 100);
	ck_assert_uint_eq(host_rx(&d, in + 150, 50), 0);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, RXQ), 2);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
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
		uint64_t b = vqd_alloc(&d.vd, 128);

		g = i ? g : b;
		vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ b, 128, true }, 1);
	}
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 1);
	ck_assert_uint_eq(look(&d).pending, 44);
	vqd_wait_used(&d.vd, RXQ, 2);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 0).len, 128);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 1).len, 128);
	ck_assert_mem_eq(d.vd.ram + g, in, 128);
	ck_assert_mem_eq(d.vd.ram + g + 4096, in + 128, 128);
	/* A notify without new buffers kicks (the device was short) but nothing moves. */
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 2);
	ck_assert_uint_eq(look(&d).pending, 44);
	/* One more buffer: the rest. */
	g = vqd_alloc(&d.vd, 128);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, 128, true }, 1);
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 3);
	ck_assert_uint_eq(look(&d).pending, 0);
	vqd_wait_used(&d.vd, RXQ, 3);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 2).len, 44);
	ck_assert_mem_eq(d.vd.ram + g, in + 256, 44);
	/* Nothing was short since: a notify does not kick. */
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ vqd_alloc(&d.vd, 128), 128, true }, 1);
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 3);
	wait_irq(&d, RXQ, 1);
	teardown(&d);
}
END_TEST

/* A chain whose two descriptors point at each other. */
static void add_loop(struct drv *d, unsigned q, uint64_t g, bool write)
{
	struct vring_desc *t = vqd_desc(&d->vd, q);
	uint16_t a = d->vd.next_desc[q], b = (uint16_t)(a + 1);
	uint16_t f = VRING_DESC_F_NEXT | (write ? VRING_DESC_F_WRITE : 0);

	t[a] = (struct vring_desc){ htole64(g), htole32(8), htole16(f), htole16(b) };
	t[b] = (struct vring_desc){ htole64(g), htole32(8), htole16(f), htole16(a) };
	d->vd.next_desc[q] = (uint16_t)(a + 2);
	vqd_avail(&d->vd, q)->ring[d->vd.avail_idx[q] % VQD_QSIZE] = htole16(a);
	d->vd.avail_idx[q]++;
	__atomic_store_n(&vqd_avail(&d->vd, q)->idx, htole16(d->vd.avail_idx[q]), __ATOMIC_RELEASE);
}

/* A one-descriptor chain whose NEXT points outside the table. */
static void add_bad_next(struct drv *d, unsigned q, uint64_t g)
{
	uint16_t i = vqd_add_chain(&d->vd, q, &(struct vqd_buf){ g, 8, q == RXQ }, 1);

	vqd_desc(&d->vd, q)[i].flags |= htole16(VRING_DESC_F_NEXT);
	vqd_desc(&d->vd, q)[i].next = htole16(999);
}

START_TEST(hostile_tx)
{
	struct drv d;
	uint64_t g;

	setup(&d, 4096, false);
	g = vqd_alloc(&d.vd, 4096);
	fill(d.vd.ram + g, 4096, 8);
	/* Completed with 0 and dropped: outside RAM, a huge length, a loop, a writable buffer, next out of range. */
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ VQD_RAM_SIZE - 10, 100, false }, 1);
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g, UINT32_MAX, false }, 1);
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ UINT64_MAX - 4, 100, false }, 1);
	add_loop(&d, TXQ, g, false);
	vqd_add_chain(&d.vd, TXQ, (struct vqd_buf[]){ { g, 100, false }, { g + 100, 100, true } }, 2);
	add_bad_next(&d, TXQ, g);
	/* Nothing to write: completed. */
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g, 0, false }, 1);
	/* The good one. */
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g + 500, 33, false }, 1);
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, 8);
	for (uint16_t i = 0; i < 8; i++)
		ck_assert_uint_eq(vqd_used_elem(&d.vd, TXQ, i).len, 0);
	check_out(&d, d.vd.ram + g + 500, 33);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);

	/* An avail index far ahead: the queue cannot be trusted, reported once. */
	__atomic_store_n(&vqd_avail(&d.vd, TXQ)->idx, htole16(d.vd.avail_idx[TXQ] + VQD_QSIZE + 5), __ATOMIC_RELEASE);
	vqd_kick(&d.vd, TXQ);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 1);
	vqd_kick(&d.vd, TXQ);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 1);
	/* A head outside the table: the same. */
	reactivate(&d);
	vqd_avail(&d.vd, TXQ)->ring[0] = htole16(VQD_QSIZE + 3);
	__atomic_store_n(&vqd_avail(&d.vd, TXQ)->idx, htole16(1), __ATOMIC_RELEASE);
	vqd_kick(&d.vd, TXQ);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 2);
	/* After a reset the device works again. */
	reactivate(&d);
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g + 600, 7, false }, 1);
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, 1);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.len, 40);
	ck_assert_mem_eq(d.f.out + 33, d.vd.ram + g + 600, 7);
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
	g = vqd_alloc(&d.vd, 4096);
	ro = vqd_alloc(&d.vd, 4096);
	memset(d.vd.ram + ro, 0xee, 4096);
	/* Completed with 0: read-only, outside RAM, a huge length, zero length, a loop, next out of range. */
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ ro, 100, false }, 1);
	vqd_add_chain(&d.vd, RXQ, (struct vqd_buf[]){ { ro, 10, false }, { g, 100, true } }, 2);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ VQD_RAM_SIZE - 10, 100, true }, 1);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, UINT32_MAX, true }, 1);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, 0, true }, 1);
	add_loop(&d, RXQ, g, true);
	add_bad_next(&d, RXQ, g);
	/* A writable buffer before a readable one (the ring forbids it). */
	vqd_add_chain(&d.vd, RXQ, (struct vqd_buf[]){ { g, 10, true }, { ro, 10, false } }, 2);
	/* The good one. */
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g + 1000, 64, true }, 1);
	vqd_kick(&d.vd, RXQ); /* the first notify kicks the backend (nothing waits yet) */
	ck_assert_uint_eq(look(&d).kicks, 1);
	ck_assert_uint_eq(host_rx(&d, in, 20), 20);
	vqd_wait_used(&d.vd, RXQ, 9);
	for (uint16_t i = 0; i < 8; i++)
		ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, i).len, 0);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 8).len, 20);
	ck_assert_mem_eq(d.vd.ram + g + 1000, in, 20);
	for (unsigned i = 0; i < 4096; i++)
		ck_assert_uint_eq(d.vd.ram[ro + i], 0xee); /* read-only buffers untouched */
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);

	/* An avail index far ahead: nothing taken, reported once; after a reset a notify kicks the backend. */
	__atomic_store_n(&vqd_avail(&d.vd, RXQ)->idx, htole16(d.vd.avail_idx[RXQ] + VQD_QSIZE + 1), __ATOMIC_RELEASE);
	ck_assert_uint_eq(host_offer(&d, in, sizeof(in)), 0);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 1);
	ck_assert_uint_eq(host_offer(&d, in, sizeof(in)), 0);
	vqd_kick(&d.vd, RXQ);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 1);
	ck_assert_uint_eq(look(&d).kicks, 1); /* a broken queue takes nothing: no kick */
	reactivate(&d);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, 128, true }, 1);
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 2);
	ck_assert_uint_eq(look(&d).pending, 0);
	vqd_wait_used(&d.vd, RXQ, 1);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, 0).len, sizeof(in));
	ck_assert_mem_eq(d.vd.ram + g, in, sizeof(in));
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
	g = vqd_alloc(&d.vd, 4096);
	/* A queue's worth of chains per call: the last of them takes the input. */
	for (unsigned i = 0; i < VQD_QSIZE - 1; i++)
		vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, 0, true }, 1);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, 8, true }, 1);
	ck_assert_uint_eq(host_offer(&d, in, 8), 8);
	vqd_wait_used(&d.vd, RXQ, VQD_QSIZE);
	ck_assert_uint_eq(vqd_used_elem(&d.vd, RXQ, VQD_QSIZE - 1).len, 8);
	settle(&d);
	ck_assert_uint_eq(look(&d).kicks, 0);
	/* A queue's worth of empty chains: the call comes short, the backend is kicked on the next turn. */
	for (unsigned i = 0; i < VQD_QSIZE; i++)
		vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g, 0, true }, 1);
	ck_assert_uint_eq(host_offer(&d, in, 8), 0);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, RXQ), (uint16_t)(2 * VQD_QSIZE));
	wait_kicks(&d, 1); /* it found the ring empty: short again */
	settle(&d);
	ck_assert_uint_eq(look(&d).kicks, 1);
	ck_assert_uint_eq(look(&d).pending, 8);
	vqd_add_chain(&d.vd, RXQ, &(struct vqd_buf){ g + 16, 8, true }, 1);
	vqd_kick(&d.vd, RXQ);
	ck_assert_uint_eq(look(&d).kicks, 2);
	ck_assert_uint_eq(look(&d).pending, 0);
	ck_assert_mem_eq(d.vd.ram + g + 16, in, 8);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
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
	ck_assert_uint_eq(virtio_console_ops.queue_max_size, VQD_QSIZE);
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
	g = vqd_alloc(&d.vd, EMERG_BYTES);
	for (size_t i = 0; i < EMERG_BYTES; i++)
		d.vd.ram[g + i] = (uint8_t)('a' + i % 26);
	a = (struct emerg_arg){ d.vd.dev, 2000 };
	ck_assert_int_eq(pthread_create(&t, NULL, emerg_thread, &a), 0);
	for (unsigned r = 0; r < EMERG_ROUNDS; r++) {
		for (unsigned c = 0; c < 64; c++) {
			struct vqd_buf b[4];

			for (unsigned j = 0; j < 4; j++)
				b[j] = (struct vqd_buf){ g + c * 4096 + j * 1024, 1024, false };
			vqd_add_chain(&d.vd, TXQ, b, 4);
		}
		vqd_kick(&d.vd, TXQ);
		vqd_wait_used(&d.vd, TXQ, (uint16_t)(64 * (r + 1)));
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
		if (d.f.out[i] != d.vd.ram[g + k % EMERG_BYTES])
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
	g = vqd_alloc(&d.vd, 4096);
	fill(d.vd.ram + g, 4096, 11);
	d.f.credit = 100;
	vqd_add_chain(&d.vd, TXQ, (struct vqd_buf[]){ { g, 60, false }, { g + 60, 940, false } }, 2);
	vqd_kick(&d.vd, TXQ);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, TXQ), 0);
	ck_assert_int_eq(event_loop_call(d.vd.l, vqd_reset_fn, &d.vd), 0);
	ck_assert_int_eq(event_loop_call(d.vd.l, ready_fn, &a), 0); /* not active: nothing */
	vqd_init_queues(&d.vd);
	ck_assert_int_eq(event_loop_call(d.vd.l, vqd_activate_fn, &d.vd), 0);
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g + 2000, 50, false }, 1);
	vqd_kick(&d.vd, TXQ);
	vqd_wait_used(&d.vd, TXQ, 1);
	pthread_mutex_lock(&d.f.lock);
	ck_assert_uint_eq(d.f.len, 150);
	ck_assert_mem_eq(d.f.out, d.vd.ram + g, 100);
	ck_assert_mem_eq(d.f.out + 100, d.vd.ram + g + 2000, 50);
	pthread_mutex_unlock(&d.f.lock);
	teardown(&d);
}
END_TEST

static void notify_then_destroy(void *arg)
{
	struct drv *d = arg;

	virtio_console_ops.notify(d->vd.dev, TXQ); /* queues the interrupt's defer */
	virtio_console_ops.reset(d->vd.dev);
	virtio_console_ops.destroy(d->vd.dev); /* the defer, when it runs, frees */
}

/* destroy() while the loop still holds the device's callback: freed by it, no use after free. */
START_TEST(destroy_with_defer_queued)
{
	struct drv d;
	uint64_t g;

	setup(&d, 4096, false);
	g = vqd_alloc(&d.vd, 4096);
	vqd_add_chain(&d.vd, TXQ, &(struct vqd_buf){ g, 10, false }, 1);
	ck_assert_int_eq(event_loop_call(d.vd.l, notify_then_destroy, &d), 0);
	settle(&d);
	event_loop_stop(d.vd.l);
	event_loop_destroy(d.vd.l);
	ck_assert_uint_eq(d.f.len, 10);
	free(d.f.out);
	pthread_mutex_destroy(&d.f.lock);
	free(d.vd.ram);
}
END_TEST

/* --- Snapshot: a TX chain held for want of room is recorded by head and taken back --- */

struct snap_arg {
	struct drv *d;
	struct sbuf *b;
	const uint8_t *p;
	size_t n;
	struct virtq_pos pos;
	unsigned inflight;
	int ret;
};

static void snap_save_fn(void *arg)
{
	struct snap_arg *a = arg;

	a->inflight = virtio_console_ops.inflight(a->d->vd.dev);
	virtq_get_pos(&a->d->vd.vq[TXQ], &a->pos);
	a->ret = virtio_console_ops.save(a->d->vd.dev, a->b);
}

/* As the transport does on restore: the queue goes on from the saved position, then the device's record. */
static void snap_restore_fn(void *arg)
{
	struct snap_arg *a = arg;
	struct sreader r;

	ck_assert_int_eq(virtq_set_pos(&a->d->vd.vq[TXQ], &a->pos), 0);
	sreader_init(&r, a->p, a->n);
	a->ret = virtio_console_ops.restore(a->d->vd.dev, &r);
}

static int snap_restore(struct drv *e, struct snap_arg *a, const uint8_t *p, size_t n)
{
	a->d = e;
	a->p = p;
	a->n = n;
	ck_assert_int_eq(event_loop_call(e->vd.l, snap_restore_fn, a), 0);
	return a->ret;
}

START_TEST(snapshot_held_tx_chain)
{
	static const char text[] = "hello, restored world";
	const size_t len = sizeof(text) - 1;
	struct drv d, e;
	struct sbuf b;
	struct snap_arg a = { .d = &d, .b = &b };
	struct ready_arg ra = { .d = &e, .credit = SIZE_MAX };
	uint64_t g;
	uint8_t *bad;

	setup(&d, 256, false);
	d.f.credit = 5;
	g = vqd_alloc(&d.vd, 64);
	memcpy(d.vd.ram + g, text, len);
	vqd_add_chain(&d.vd, TXQ, (struct vqd_buf[]){ { g, 3, false }, { g + 3, (uint32_t)len - 3, false } }, 2);
	vqd_kick(&d.vd, TXQ);
	settle(&d);
	ck_assert_uint_eq(d.f.len, 5);
	ck_assert_uint_eq(vqd_used_idx(&d.vd, TXQ), 0); /* held, waiting for room */
	sbuf_init(&b);
	ck_assert_int_eq(event_loop_call(d.vd.l, snap_save_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	ck_assert_uint_eq(a.inflight, 0); /* held, not in flight: the snapshot does not wait on the backend */
	ck_assert_uint_eq((uint16_t)(a.pos.last_avail - a.pos.used_idx), 1);

	setup(&e, 256, false);
	memcpy(e.vd.ram, d.vd.ram, VQD_RAM_SIZE); /* the memory file */
	/* Hostile records: every truncation, a head out of range, an offset past its buffer. */
	for (size_t n = 0; n < b.len; n++)
		ck_assert_int_eq(snap_restore(&e, &a, b.data, n), -EINVAL);
	bad = malloc(b.len + 1);
	memcpy(bad, b.data, b.len);
	bad[b.len] = 0;
	ck_assert_int_eq(snap_restore(&e, &a, bad, b.len + 1), -EINVAL);
	bad[2] = 200; /* head 200: no chain there */
	ck_assert_int_eq(snap_restore(&e, &a, bad, b.len), -EINVAL);
	memcpy(bad, b.data, b.len);
	bad[4] = 1; /* buffer 1 */
	bad[8] = 30; /* offset 30, past its 18 bytes */
	ck_assert_int_eq(snap_restore(&e, &a, bad, b.len), -EINVAL);
	free(bad);
	/* The record: the rest of the chain goes out, once, and it completes at used index 0. */
	ck_assert_int_eq(snap_restore(&e, &a, b.data, b.len), 0);
	ck_assert_int_eq(event_loop_call(e.vd.l, ready_fn, &ra), 0);
	vqd_wait_used(&e.vd, TXQ, 1);
	ck_assert_uint_eq(e.f.len, len - 5);
	ck_assert_mem_eq(e.f.out, text + 5, len - 5);
	ck_assert_uint_eq(vqd_used_elem(&e.vd, TXQ, 0).id, 0);
	sbuf_free(&b);
	teardown(&e);
	teardown(&d);
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
	tcase_add_test(tc, snapshot_held_tx_chain);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
