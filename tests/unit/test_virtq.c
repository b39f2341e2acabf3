// SPDX-License-Identifier: Apache-2.0
/* The split virtqueue against a fake guest memory: well-formed chains, hostile rings, notifications, a fuzz loop. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "memory.h"
#include "virtio/queue.h"
#include "unit.h"

#define RAM_SIZE (1u << 20)  /* region 0: [0, 1 MiB) */
#define RAM2_GPA RAM_SIZE    /* region 1: [1 MiB, 2 MiB), contiguous in GPA, not in the host */
#define DESC_GPA 0x1000ull   /* room for 1024 descriptors */
#define AVAIL_GPA 0x6000ull
#define USED_GPA 0x8000ull
#define BUF_GPA 0x10000ull
#define TABLE_GPA 0x40000ull /* indirect tables */
#define QSIZE 16
#define MAX_IOV 8

/* A fake guest: two RAM regions, a queue, and the driver's side of the avail ring. */
struct fx {
	struct guest_mem m;
	uint8_t *ram, *ram2;
	struct virtq q;
	uint16_t size;
	uint16_t avail_idx; /* the driver's next avail index */
	struct virtq_chain c;
	struct iovec iov[MAX_IOV];
	struct iovec big[4 * VIRTQ_MAX_SIZE]; /* more than any legal chain: only the walk bounds a loop */
};

static void fx_init(struct fx *f, uint16_t size, bool event_idx)
{
	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, RAM_SIZE);
	f->ram2 = calloc(1, RAM_SIZE);
	ck_assert_ptr_nonnull(f->ram);
	ck_assert_ptr_nonnull(f->ram2);
	ck_assert_int_eq(gmem_add_region(&f->m, 0, RAM_SIZE, f->ram), 0);
	ck_assert_int_eq(gmem_add_region(&f->m, RAM2_GPA, RAM_SIZE, f->ram2), 0);
	f->size = size;
	ck_assert_int_eq(virtq_init(&f->q, &f->m, size, DESC_GPA, AVAIL_GPA, USED_GPA, event_idx), 0);
}

static void fx_fini(struct fx *f)
{
	free(f->ram);
	free(f->ram2);
}

static void *gp(struct fx *f, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(&f->m, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* Write descriptor i of the table at table_gpa, little-endian as a driver would. */
static void set_desc(struct fx *f, uint64_t table_gpa, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	struct vring_desc d = {
		.addr = htole64(addr), .len = htole32(len), .flags = htole16(flags), .next = htole16(next),
	};

	memcpy(gp(f, table_gpa + i * 16ull, 16), &d, 16);
}

static void desc(struct fx *f, unsigned i, uint64_t addr, uint32_t len, uint16_t flags, uint16_t next)
{
	set_desc(f, DESC_GPA, i, addr, len, flags, next);
}

static void put16(struct fx *f, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(gp(f, gpa, 2), &v, 2);
}

static uint16_t get16(struct fx *f, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, gp(f, gpa, 2), 2);
	return le16toh(v);
}

static uint32_t get32(struct fx *f, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, gp(f, gpa, 4), 4);
	return le32toh(v);
}

/* Make head available: ring entry, then the index (the test is single-threaded: no barrier needed). */
static void avail_add(struct fx *f, uint16_t head)
{
	put16(f, AVAIL_GPA + 4 + 2ull * (f->avail_idx % f->size), head);
	f->avail_idx++;
	put16(f, AVAIL_GPA + 2, f->avail_idx);
}

static uint16_t used_idx(struct fx *f)
{
	return get16(f, USED_GPA + 2);
}

static uint64_t used_event_gpa(struct fx *f)
{
	return AVAIL_GPA + 4 + 2ull * f->size;
}

static uint64_t avail_event_gpa(struct fx *f)
{
	return USED_GPA + 4 + 8ull * f->size;
}

static int pop(struct fx *f)
{
	return virtq_pop(&f->q, &f->c, f->iov, MAX_IOV);
}

/* Pop one chain that must come back malformed, with its head, and leave the queue usable. */
static void expect_bad(struct fx *f, uint16_t head)
{
	ck_assert_int_eq(virtq_pop(&f->q, &f->c, f->big, 4 * VIRTQ_MAX_SIZE), 1);
	ck_assert(f->c.bad);
	ck_assert_uint_eq(f->c.head, head);
	ck_assert_uint_eq(f->c.niov, 0);
	ck_assert(!f->q.broken);
	virtq_push(&f->q, head, 0);
}

START_TEST(init_rejects)
{
	struct guest_mem m = { 0 };
	struct fx f;
	struct virtq q;
	uint8_t *buf;

	fx_init(&f, QSIZE, false);
	ck_assert_int_eq(virtq_init(&q, &f.m, 0, DESC_GPA, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_pop(&q, &f.c, f.iov, MAX_IOV), -EIO); /* a refused queue is broken */
	ck_assert(!virtq_has_work(&q));
	ck_assert_int_eq(virtq_init(&q, &f.m, 3, DESC_GPA, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, 48, DESC_GPA, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, 2048, DESC_GPA, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, VIRTQ_MAX_SIZE, DESC_GPA, 0x5000, 0x6000, false), 0);
	ck_assert_int_eq(virtq_init(&q, &f.m, 1, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
	/* Alignment: desc 16, avail 2, used 4. */
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA + 8, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, AVAIL_GPA + 1, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA + 2, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, AVAIL_GPA + 2, USED_GPA + 4, false), 0);
	/* Outside RAM, straddling its end, straddling the two regions, wrapping. */
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, 4ull << 20, AVAIL_GPA, USED_GPA, false), -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, 2 * RAM_SIZE - 6 - 2 * QSIZE + 2, USED_GPA, false),
			 -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, 2 * RAM_SIZE - 6 - 2 * QSIZE, USED_GPA, false), 0);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, AVAIL_GPA, 2 * RAM_SIZE - 132, false),
			 -EINVAL); /* 134 bytes: the avail_event word falls off the end */
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, DESC_GPA, AVAIL_GPA, 2 * RAM_SIZE - 136, false), 0);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, RAM_SIZE - 16 * QSIZE + 16, AVAIL_GPA, USED_GPA, false),
			 -EINVAL);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, RAM_SIZE - 16 * QSIZE, AVAIL_GPA, USED_GPA, false), 0);
	ck_assert_int_eq(virtq_init(&q, &f.m, QSIZE, UINT64_MAX - 15, AVAIL_GPA, USED_GPA, false), -EINVAL);
	fx_fini(&f);

	/* Aligned guest addresses over a host mapping that is not aligned: refused too. */
	buf = calloc(1, 0x10000 + 2);
	ck_assert_int_eq(gmem_add_region(&m, 0, 0x10000, buf + 2), 0);
	ck_assert_int_eq(virtq_init(&q, &m, QSIZE, DESC_GPA, AVAIL_GPA, USED_GPA, false), -EINVAL);
	free(buf);
}
END_TEST

START_TEST(simple_chain)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	ck_assert_int_eq(pop(&f), 0);
	ck_assert(!virtq_has_work(&f.q));
	desc(&f, 3, BUF_GPA, 100, VRING_DESC_F_NEXT, 7);
	desc(&f, 7, BUF_GPA + 0x100, 28, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, RAM2_GPA + 0x1000, 512, VRING_DESC_F_WRITE, 9); /* no NEXT: next is ignored */
	avail_add(&f, 3);
	ck_assert(virtq_has_work(&f.q));
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.head, 3);
	ck_assert_uint_eq(f.c.niov, 3);
	ck_assert_uint_eq(f.c.nout, 2);
	ck_assert_uint_eq(f.c.out_len, 128);
	ck_assert_uint_eq(f.c.in_len, 512);
	ck_assert_ptr_eq(f.iov[0].iov_base, f.ram + BUF_GPA);
	ck_assert_uint_eq(f.iov[0].iov_len, 100);
	ck_assert_ptr_eq(f.iov[1].iov_base, f.ram + BUF_GPA + 0x100);
	ck_assert_uint_eq(f.iov[1].iov_len, 28);
	ck_assert_ptr_eq(f.iov[2].iov_base, f.ram2 + 0x1000);
	ck_assert_uint_eq(f.iov[2].iov_len, 512);
	ck_assert_int_eq(pop(&f), 0);
	ck_assert(!virtq_has_work(&f.q));

	/* Zero-length buffers are skipped, without looking at their address. */
	desc(&f, 0, UINT64_MAX, 0, VRING_DESC_F_NEXT, 2);
	desc(&f, 2, BUF_GPA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 4);
	desc(&f, 4, 0, 0, VRING_DESC_F_WRITE, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.niov, 1);
	ck_assert_uint_eq(f.c.nout, 0);
	ck_assert_uint_eq(f.c.in_len, 8);
	fx_fini(&f);
}
END_TEST

START_TEST(push_updates_used)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	desc(&f, 5, BUF_GPA, 16, VRING_DESC_F_WRITE, 0);
	desc(&f, 6, BUF_GPA + 16, 16, VRING_DESC_F_WRITE, 0);
	avail_add(&f, 5);
	avail_add(&f, 6);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert_uint_eq(f.c.head, 6);
	virtq_push(&f.q, 6, 17);
	ck_assert_uint_eq(used_idx(&f), 1);
	ck_assert_uint_eq(get32(&f, USED_GPA + 4), 6);
	ck_assert_uint_eq(get32(&f, USED_GPA + 8), 17);
	virtq_push(&f.q, 5, 0);
	ck_assert_uint_eq(used_idx(&f), 2);
	ck_assert_uint_eq(get32(&f, USED_GPA + 12), 5);
	ck_assert_uint_eq(get32(&f, USED_GPA + 16), 0);
	ck_assert_uint_eq(f.q.used_idx, 2);
	fx_fini(&f);
}
END_TEST

/* A frame merged over several buffers: every element is written before the one index update. */
START_TEST(fill_then_flush)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	virtq_fill(&f.q, 0, 3, 4096);
	virtq_fill(&f.q, 1, 4, 4096);
	virtq_fill(&f.q, 2, 7, 820);
	ck_assert_uint_eq(used_idx(&f), 0); /* nothing visible to the driver yet */
	ck_assert_uint_eq(get32(&f, USED_GPA + 4 + 2 * 8), 7);
	virtq_flush(&f.q, 3);
	ck_assert_uint_eq(used_idx(&f), 3);
	ck_assert_uint_eq(get32(&f, USED_GPA + 4), 3);
	ck_assert_uint_eq(get32(&f, USED_GPA + 4 + 8), 4);
	ck_assert_uint_eq(get32(&f, USED_GPA + 4 + 2 * 8 + 4), 820);
	/* Offsets past the ring and counts of 0 or more than the ring are ignored. */
	virtq_fill(&f.q, QSIZE, 1, 1);
	virtq_flush(&f.q, 0);
	virtq_flush(&f.q, QSIZE + 1);
	ck_assert_uint_eq(used_idx(&f), 3);
	ck_assert_uint_eq(f.q.used_idx, 3);
	fx_fini(&f);
}
END_TEST

START_TEST(index_wraparound)
{
	struct fx f;

	fx_init(&f, 4, false);
	f.q.last_avail = f.q.used_idx = f.avail_idx = 65533;
	put16(&f, AVAIL_GPA + 2, 65533);
	put16(&f, USED_GPA + 2, 65533);
	for (unsigned round = 0; round < 3; round++) {
		for (uint16_t i = 0; i < 4; i++) {
			desc(&f, i, BUF_GPA + i * 64u, 64, VRING_DESC_F_WRITE, 0);
			avail_add(&f, (uint16_t)(3 - i));
		}
		for (uint16_t i = 0; i < 4; i++) {
			ck_assert_int_eq(pop(&f), 1);
			ck_assert(!f.c.bad);
			ck_assert_uint_eq(f.c.head, 3 - i);
			ck_assert_ptr_eq(f.iov[0].iov_base, f.ram + BUF_GPA + (3 - i) * 64u);
			virtq_push(&f.q, f.c.head, 64);
		}
		ck_assert_int_eq(pop(&f), 0);
	}
	ck_assert_uint_eq(f.q.last_avail, (uint16_t)(65533 + 12));
	ck_assert_uint_eq(used_idx(&f), (uint16_t)(65533 + 12));
	fx_fini(&f);
}
END_TEST

START_TEST(hostile_loops_and_indices)
{
	struct fx f;

	fx_init(&f, 4, false);
	/* a -> b -> a */
	desc(&f, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	/* a -> a */
	desc(&f, 2, BUF_GPA, 8, VRING_DESC_F_NEXT, 2);
	avail_add(&f, 2);
	expect_bad(&f, 2);
	/* A loop of empty buffers takes no iov entries: only the TTL ends it. */
	desc(&f, 0, 0, 0, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, 0, 0, VRING_DESC_F_NEXT, 0);
	avail_add(&f, 1);
	expect_bad(&f, 1);
	/* Exactly the queue size is fine; one more (which must revisit one) is not. */
	for (uint16_t i = 0; i < 4; i++)
		desc(&f, i, BUF_GPA + i * 8u, 8, i < 3 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.niov, 4);
	desc(&f, 3, BUF_GPA, 8, VRING_DESC_F_NEXT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	/* next out of range */
	desc(&f, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 4);
	avail_add(&f, 1);
	expect_bad(&f, 1);
	desc(&f, 1, BUF_GPA, 8, VRING_DESC_F_NEXT, 0xffff);
	avail_add(&f, 1);
	expect_bad(&f, 1);
	/* The queue still works. */
	desc(&f, 1, BUF_GPA, 8, 0, 0);
	avail_add(&f, 1);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	fx_fini(&f);
}
END_TEST

START_TEST(hostile_head_breaks_queue)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	desc(&f, 0, BUF_GPA, 8, 0, 0);
	avail_add(&f, QSIZE);
	ck_assert(virtq_has_work(&f.q));
	ck_assert_int_eq(pop(&f), -EIO);
	ck_assert(f.q.broken);
	/* Stays broken even once the ring looks sane again. */
	put16(&f, AVAIL_GPA + 4, 0);
	ck_assert_int_eq(pop(&f), -EIO);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), -EIO);
	ck_assert(!virtq_has_work(&f.q));
	ck_assert(!virtq_set_notify(&f.q, true));
	fx_fini(&f);
}
END_TEST

START_TEST(hostile_avail_jump)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	for (unsigned i = 0; i < QSIZE; i++)
		desc(&f, i, BUF_GPA, 8, 0, 0);
	put16(&f, AVAIL_GPA + 2, QSIZE); /* exactly a full ring: fine */
	for (unsigned i = 0; i < QSIZE; i++)
		ck_assert_int_eq(pop(&f), 1);
	ck_assert_int_eq(pop(&f), 0);
	put16(&f, AVAIL_GPA + 2, 2 * QSIZE + 1); /* size + 1 beyond what we took */
	ck_assert_int_eq(pop(&f), -EIO);
	ck_assert(f.q.broken);
	put16(&f, AVAIL_GPA + 2, QSIZE + 1);
	ck_assert_int_eq(pop(&f), -EIO);
	fx_fini(&f);

	fx_init(&f, QSIZE, false);
	put16(&f, AVAIL_GPA + 2, 0xffff); /* backwards */
	ck_assert_int_eq(pop(&f), -EIO);
	fx_fini(&f);
}
END_TEST

START_TEST(hostile_buffers)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	desc(&f, 0, 4ull << 20, 8, 0, 0); /* outside RAM */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, 2 * RAM_SIZE - 4, 8, 0, 0); /* past the end */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, UINT64_MAX - 10, 100, 0, 0); /* addr + len wraps */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, UINT64_MAX, 1, 0, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, RAM_SIZE - 8, 16, 0, 0); /* spans the two regions */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, RAM_SIZE - 8, 8, VRING_DESC_F_NEXT, 1); /* each side alone is fine */
	desc(&f, 1, RAM_SIZE, 8, 0, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_ptr_eq(f.iov[0].iov_base, f.ram + RAM_SIZE - 8);
	ck_assert_ptr_eq(f.iov[1].iov_base, f.ram2);
	/* A bad buffer after good ones still spoils the chain. */
	desc(&f, 0, BUF_GPA, 8, VRING_DESC_F_NEXT, 1);
	desc(&f, 1, 3ull << 20, 8, VRING_DESC_F_WRITE, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(buffer_across_mmio_hole)
{
	struct guest_mem m = { 0 };
	uint8_t *low = calloc(1, 0x10000), *high = calloc(1, 0x10000);
	const uint64_t base = GMEM_HOLE_START - 0x10000;
	struct virtq q;
	struct virtq_chain c;
	struct iovec iov[2];
	struct vring_desc d = { .addr = htole64(GMEM_HOLE_START - 16), .len = htole32(32) };
	uint16_t one = htole16(1);

	ck_assert_int_eq(gmem_add_region(&m, base, 0x10000, low), 0);
	ck_assert_int_eq(gmem_add_region(&m, GMEM_HOLE_END, 0x10000, high), 0);
	ck_assert_int_eq(virtq_init(&q, &m, 2, base, base + 0x100, base + 0x200, false), 0);
	memcpy(low, &d, sizeof(d));
	memcpy(low + 0x102, &one, 2); /* avail idx 1, ring[0] = 0 */
	ck_assert_int_eq(virtq_pop(&q, &c, iov, 2), 1);
	ck_assert(c.bad);
	free(low);
	free(high);
}
END_TEST

START_TEST(hostile_order_and_count)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	desc(&f, 0, BUF_GPA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	desc(&f, 1, BUF_GPA + 8, 8, 0, 0); /* readable after writable */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, BUF_GPA, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1); /* even when the writable is empty */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	for (uint16_t i = 0; i < MAX_IOV; i++)
		desc(&f, i, BUF_GPA + i * 8u, 8, i + 1 < MAX_IOV ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1); /* exactly max_iov */
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.niov, MAX_IOV);
	ck_assert_uint_eq(f.c.nout, MAX_IOV);
	desc(&f, MAX_IOV - 1, BUF_GPA, 8, VRING_DESC_F_NEXT, MAX_IOV);
	desc(&f, MAX_IOV, BUF_GPA, 8, 0, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1); /* one more than max_iov */
	ck_assert(f.c.bad);
	ck_assert_uint_eq(f.c.niov, 0);
	avail_add(&f, 1);
	ck_assert_int_eq(virtq_pop(&f.q, &f.c, f.iov, 0), 1); /* no room at all */
	ck_assert(f.c.bad);
	fx_fini(&f);
}
END_TEST

START_TEST(indirect_valid)
{
	struct fx f;

	fx_init(&f, 2, false);
	set_desc(&f, TABLE_GPA, 0, BUF_GPA, 10, VRING_DESC_F_NEXT, 2);
	set_desc(&f, TABLE_GPA, 2, BUF_GPA + 10, 20, VRING_DESC_F_NEXT, 1);
	set_desc(&f, TABLE_GPA, 1, RAM2_GPA, 30, VRING_DESC_F_WRITE, 0);
	/* WRITE on the descriptor that points at the table is ignored. */
	desc(&f, 1, TABLE_GPA, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	avail_add(&f, 1);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.head, 1);
	ck_assert_uint_eq(f.c.niov, 3);
	ck_assert_uint_eq(f.c.nout, 2);
	ck_assert_uint_eq(f.c.out_len, 30);
	ck_assert_uint_eq(f.c.in_len, 30);
	ck_assert_ptr_eq(f.iov[1].iov_base, f.ram + BUF_GPA + 10);
	ck_assert_ptr_eq(f.iov[2].iov_base, f.ram2);
	/* A table longer than the queue, at an odd address (no alignment rule for indirect tables). */
	for (uint16_t i = 0; i < 5; i++)
		set_desc(&f, TABLE_GPA + 8, i, BUF_GPA, 4, i < 4 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	desc(&f, 0, TABLE_GPA + 8, 5 * 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.niov, 5);
	fx_fini(&f);
}
END_TEST

START_TEST(indirect_hostile)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	for (uint16_t i = 0; i < 3; i++)
		set_desc(&f, TABLE_GPA, i, BUF_GPA, 4, i < 2 ? VRING_DESC_F_NEXT : 0, (uint16_t)(i + 1));
	desc(&f, 0, TABLE_GPA, 40, VRING_DESC_F_INDIRECT, 0); /* len not a multiple of 16 */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, TABLE_GPA, 0, VRING_DESC_F_INDIRECT, 0); /* empty table */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, 2 * RAM_SIZE - 32, 48, VRING_DESC_F_INDIRECT, 0); /* table past the end of RAM */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, RAM_SIZE - 16, 48, VRING_DESC_F_INDIRECT, 0); /* table across two regions */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, UINT64_MAX - 15, 48, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, TABLE_GPA, (VIRTQ_MAX_SIZE + 1) * 16, VRING_DESC_F_INDIRECT, 0); /* too many entries */
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, TABLE_GPA, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1); /* INDIRECT with NEXT */
	desc(&f, 1, BUF_GPA, 4, 0, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1); /* indirect not at the head */
	desc(&f, 1, TABLE_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	/* Sanity: the same table is fine from the head. */
	desc(&f, 0, TABLE_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!f.c.bad);
	ck_assert_uint_eq(f.c.niov, 3);
	/* Nested indirect. */
	set_desc(&f, TABLE_GPA, 1, TABLE_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	/* Nested indirect as the outer table's first entry, pointing at a valid inner table. */
	set_desc(&f, TABLE_GPA + 0x200, 0, BUF_GPA, 4, 0, 0);
	set_desc(&f, TABLE_GPA + 0x100, 0, TABLE_GPA + 0x200, 16, VRING_DESC_F_INDIRECT, 0);
	desc(&f, 0, TABLE_GPA + 0x200, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1); /* the inner table alone is fine */
	ck_assert(!f.c.bad);
	desc(&f, 0, TABLE_GPA + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	desc(&f, 0, TABLE_GPA, 48, VRING_DESC_F_INDIRECT, 0);
	/* Loop of empty buffers inside the table. */
	set_desc(&f, TABLE_GPA, 0, 0, 0, VRING_DESC_F_NEXT, 1);
	set_desc(&f, TABLE_GPA, 1, 0, 0, VRING_DESC_F_NEXT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	set_desc(&f, TABLE_GPA, 0, BUF_GPA, 4, VRING_DESC_F_NEXT, 1);
	/* Loop inside the table: 0 -> 1 -> 0. */
	set_desc(&f, TABLE_GPA, 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 0);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	/* next past the table's end (but inside the queue size). */
	set_desc(&f, TABLE_GPA, 1, BUF_GPA, 4, VRING_DESC_F_NEXT, 3);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	/* A bad buffer inside the table. */
	set_desc(&f, TABLE_GPA, 1, RAM_SIZE - 2, 4, VRING_DESC_F_NEXT, 2);
	avail_add(&f, 0);
	expect_bad(&f, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(lengths_past_32_bits)
{
	struct guest_mem m;
	struct virtq q;
	struct virtq_chain c;
	struct iovec iov[4];
	struct vring_desc d[2];
	uint8_t *ram;
	uint16_t v;

	/* 8 GiB, never touched beyond the rings (MAP_NORESERVE): [0, 3 GiB) and [4 GiB, 9 GiB). */
	ck_assert_int_eq(gmem_init(&m, 8ull << 30), 0);
	ram = gmem_ptr(&m, 0, 0x10000);
	ck_assert_int_eq(virtq_init(&q, &m, 4, DESC_GPA, AVAIL_GPA, USED_GPA, false), 0);
	d[0] = (struct vring_desc){ .addr = htole64(0x10000000), .len = htole32(0xb0000000),
				    .flags = htole16(VRING_DESC_F_NEXT), .next = htole16(1) };
	d[1] = (struct vring_desc){ .addr = htole64(GMEM_HOLE_END), .len = htole32(0x50000000),
				    .flags = htole16(VRING_DESC_F_WRITE) };
	memcpy(ram + DESC_GPA, d, sizeof(d));
	v = htole16(1);
	memcpy(ram + AVAIL_GPA + 2, &v, 2);
	ck_assert_int_eq(virtq_pop(&q, &c, iov, 4), 1); /* 2^32 bytes in all: one too many */
	ck_assert(c.bad);

	d[1].len = htole32(0x4fffffff);
	memcpy(ram + DESC_GPA, d, sizeof(d));
	v = htole16(2);
	memcpy(ram + AVAIL_GPA + 2, &v, 2);
	ck_assert_int_eq(virtq_pop(&q, &c, iov, 4), 1);
	ck_assert(!c.bad);
	ck_assert_uint_eq(c.out_len, 0xb0000000u);
	ck_assert_uint_eq(c.in_len, 0x4fffffffu);
	ck_assert_uint_eq(iov[1].iov_len, 0x4fffffffu);
	ck_assert_ptr_eq(iov[1].iov_base, gmem_ptr(&m, GMEM_HOLE_END, 1));
	gmem_destroy(&m);
}
END_TEST

START_TEST(event_idx_interrupts)
{
	struct fx f;

	fx_init(&f, QSIZE, true);
	for (uint16_t i = 0; i < QSIZE; i++)
		desc(&f, i, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	for (uint16_t i = 0; i < 8; i++)
		avail_add(&f, i);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert_uint_eq(get16(&f, avail_event_gpa(&f)), 1); /* kick me when entry 1 ... is added */
	virtq_push(&f.q, f.c.head, 8);
	put16(&f, used_event_gpa(&f), 100); /* the driver does not want one yet ... */
	ck_assert(virtq_should_interrupt(&f.q)); /* ... but the first is always sent */
	put16(&f, used_event_gpa(&f), 4);     /* interrupt once used->idx passes 4 */
	for (unsigned i = 2; i <= 5; i++) {
		ck_assert_int_eq(pop(&f), 1);
		virtq_push(&f.q, f.c.head, 8);
		ck_assert_msg(virtq_should_interrupt(&f.q) == (i == 5), "used idx %u", i);
	}
	/* Crossed inside a batch of pushes. */
	put16(&f, used_event_gpa(&f), 6);
	for (unsigned i = 0; i < 2; i++) {
		ck_assert_int_eq(pop(&f), 1);
		virtq_push(&f.q, f.c.head, 8);
	}
	ck_assert(virtq_should_interrupt(&f.q));
	/* NO_INTERRUPT is ignored under EVENT_IDX. */
	put16(&f, AVAIL_GPA, VRING_AVAIL_F_NO_INTERRUPT);
	put16(&f, used_event_gpa(&f), 7);
	ck_assert_int_eq(pop(&f), 1);
	virtq_push(&f.q, f.c.head, 8);
	ck_assert(virtq_should_interrupt(&f.q));
	ck_assert(!virtq_should_interrupt(&f.q)); /* nothing new pushed */
	/*
	 * 65536 pushes without asking: used->idx is back where we last signalled, so
	 * vring_need_event() alone would say no although the driver waits for all of them.
	 */
	put16(&f, used_event_gpa(&f), 7);
	for (unsigned i = 0; i < 65536; i++)
		virtq_push(&f.q, 0, 0);
	ck_assert_uint_eq(f.q.used_idx, 8);
	ck_assert(virtq_should_interrupt(&f.q));
	fx_fini(&f);
}
END_TEST

START_TEST(no_interrupt_flag)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	desc(&f, 0, BUF_GPA, 8, VRING_DESC_F_WRITE, 0);
	avail_add(&f, 0);
	ck_assert_int_eq(pop(&f), 1);
	virtq_push(&f.q, 0, 8);
	ck_assert(virtq_should_interrupt(&f.q));
	put16(&f, AVAIL_GPA, VRING_AVAIL_F_NO_INTERRUPT);
	ck_assert(!virtq_should_interrupt(&f.q));
	put16(&f, AVAIL_GPA, 0);
	ck_assert(virtq_should_interrupt(&f.q));
	fx_fini(&f);
}
END_TEST

START_TEST(set_notify_flags)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	ck_assert(!virtq_set_notify(&f.q, false));
	ck_assert_uint_eq(get16(&f, USED_GPA) & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
	ck_assert(!virtq_set_notify(&f.q, true)); /* nothing arrived */
	ck_assert_uint_eq(get16(&f, USED_GPA) & VRING_USED_F_NO_NOTIFY, 0);
	ck_assert(!virtq_set_notify(&f.q, false));
	desc(&f, 0, BUF_GPA, 8, 0, 0);
	avail_add(&f, 0); /* arrives while notifications are off */
	ck_assert(!virtq_set_notify(&f.q, false)); /* disabling never asks to poll */
	ck_assert(virtq_set_notify(&f.q, true));
	ck_assert_uint_eq(get16(&f, USED_GPA) & VRING_USED_F_NO_NOTIFY, 0);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!virtq_set_notify(&f.q, true));
	fx_fini(&f);
}
END_TEST

/* A device's take() for virtq_serve() whose guest re-posts each chain the moment it completes. */
static int take_and_repost(void *arg)
{
	struct fx *f = arg;
	int ret = pop(f);

	if (ret == 1) {
		virtq_push(&f->q, f->c.head, 0);
		avail_add(f, f->c.head); /* an endless supply */
	}
	return ret;
}

static int take_once(void *arg)
{
	struct fx *f = arg;
	int ret = pop(f);

	if (ret == 1)
		virtq_push(&f->q, f->c.head, 0);
	return ret;
}

/* The budget: a guest that never lets the ring run dry gets budget chains per run, then a yield. */
START_TEST(serve_budget)
{
	struct fx f;

	fx_init(&f, QSIZE, false);
	desc(&f, 0, BUF_GPA, 8, 0, 0);
	avail_add(&f, 0);
	ck_assert(virtq_serve(&f.q, take_and_repost, &f, QSIZE));
	ck_assert_uint_eq(used_idx(&f), QSIZE);
	/* Cut short: notifications stay off, for the chain left is served without a kick. */
	ck_assert_uint_eq(get16(&f, USED_GPA) & VRING_USED_F_NO_NOTIFY, VRING_USED_F_NO_NOTIFY);
	ck_assert(virtq_serve(&f.q, take_and_repost, &f, 3));
	ck_assert_uint_eq(used_idx(&f), QSIZE + 3);
	/* A guest that stops: the rest is served, notifications are on again. */
	ck_assert(!virtq_serve(&f.q, take_once, &f, QSIZE));
	ck_assert_uint_eq(used_idx(&f), QSIZE + 4);
	ck_assert_uint_eq(get16(&f, USED_GPA) & VRING_USED_F_NO_NOTIFY, 0);
	fx_fini(&f);
}
END_TEST

START_TEST(set_notify_event_idx)
{
	struct fx f;

	fx_init(&f, QSIZE, true);
	f.q.last_avail = f.avail_idx = 40000;
	put16(&f, AVAIL_GPA + 2, 40000);
	ck_assert(!virtq_set_notify(&f.q, true));
	ck_assert_uint_eq(get16(&f, avail_event_gpa(&f)), 40000);
	ck_assert_uint_eq(get16(&f, USED_GPA), 0); /* flags untouched */
	ck_assert(!virtq_set_notify(&f.q, false));
	desc(&f, 0, BUF_GPA, 8, 0, 0);
	avail_add(&f, 0);
	avail_add(&f, 0);
	ck_assert(virtq_set_notify(&f.q, true));
	ck_assert_int_eq(pop(&f), 1);
	ck_assert_int_eq(pop(&f), 1);
	ck_assert(!virtq_set_notify(&f.q, true));
	ck_assert_uint_eq(get16(&f, avail_event_gpa(&f)), 40002);
	fx_fini(&f);
}
END_TEST

/* xorshift64: a fixed sequence, so a failure reproduces. */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* An address that is sometimes in RAM, sometimes at an edge, sometimes anywhere. */
static uint64_t rnd_addr(uint64_t *s)
{
	switch (rnd(s) % 4) {
	case 0:
		return rnd(s);
	case 1:
		return 2 * RAM_SIZE - rnd(s) % 64;
	case 2:
		return RAM_SIZE - rnd(s) % 64;
	default:
		return rnd(s) % (2 * RAM_SIZE);
	}
}

static bool iov_in(const struct iovec *v, const uint8_t *base)
{
	uintptr_t p = (uintptr_t)v->iov_base, b = (uintptr_t)base;

	return p >= b && v->iov_len <= RAM_SIZE && p - b <= RAM_SIZE - v->iov_len;
}

START_TEST(fuzz)
{
	uint64_t s = 0x9e3779b97f4a7c15ull;
	struct fx f;
	unsigned pops = 0, bad = 0, broken = 0;

	fx_init(&f, QSIZE, false);
	for (unsigned iter = 0; iter < 20000; iter++) {
		uint16_t size = (uint16_t)(1u << (rnd(&s) % 9)); /* 1 .. 256 */
		uint8_t *dt = gp(&f, DESC_GPA, 16ull * size);
		uint8_t *tab = gp(&f, TABLE_GPA, 4096);
		int ret;

		if (iter % 64 == 0 || f.q.broken || f.q.size != size) {
			ck_assert_int_eq(virtq_init(&f.q, &f.m, size, DESC_GPA, AVAIL_GPA, USED_GPA, rnd(&s) & 1), 0);
			f.q.last_avail = (uint16_t)rnd(&s);
			f.q.used_idx = (uint16_t)rnd(&s);
			f.size = size;
		}
		/* Random descriptors, half of them plausible; random indirect tables likewise. */
		for (unsigned i = 0; i < size + 256u; i++) {
			uint8_t *d = i < size ? dt + i * 16 : tab + (i - size) * 16;

			for (unsigned b = 0; b < 16; b += 8) {
				uint64_t r = rnd(&s);

				memcpy(d + b, &r, 8);
			}
			if (rnd(&s) & 1) {
				uint64_t addr = rnd(&s) % 3 == 0 ? TABLE_GPA + (rnd(&s) % 256) * 16 : rnd_addr(&s);
				uint32_t len = (uint32_t)(rnd(&s) % 3 == 0 ? rnd(&s) : rnd(&s) % 8192);

				set_desc(&f, i < size ? DESC_GPA : TABLE_GPA, i < size ? i : i - size, addr, len,
					 (uint16_t)(rnd(&s) % 8), (uint16_t)(rnd(&s) % (size + 2u)));
			}
		}
		/* Avail: mostly a few entries ahead, sometimes anything; heads mostly in range. */
		for (unsigned i = 0; i < size; i++)
			put16(&f, AVAIL_GPA + 4 + 2 * i, (uint16_t)(rnd(&s) % 8 ? rnd(&s) % size : rnd(&s)));
		put16(&f, AVAIL_GPA, (uint16_t)rnd(&s));
		put16(&f, AVAIL_GPA + 2 + 2 + 2ull * size, (uint16_t)rnd(&s)); /* used_event */
		put16(&f, AVAIL_GPA + 2,
		      (uint16_t)(rnd(&s) % 16 ? f.q.last_avail + rnd(&s) % (size + 1u) : rnd(&s)));

		for (unsigned n = 0; n < 4; n++) {
			unsigned max = (unsigned)(rnd(&s) % (MAX_IOV + 1));

			ret = virtq_pop(&f.q, &f.c, f.iov, max);
			ck_assert(ret == 1 || ret == 0 || ret == -EIO);
			if (ret == -EIO) {
				ck_assert(f.q.broken);
				ck_assert_int_eq(virtq_pop(&f.q, &f.c, f.iov, max), -EIO);
				broken++;
				break;
			}
			if (ret == 0)
				break;
			pops++;
			ck_assert_uint_lt(f.c.head, size);
			if (f.c.bad) {
				bad++;
				ck_assert_uint_eq(f.c.niov, 0);
			} else {
				uint64_t out = 0, in = 0;

				ck_assert_uint_le(f.c.niov, max);
				ck_assert_uint_le(f.c.nout, f.c.niov);
				for (unsigned i = 0; i < f.c.niov; i++) {
					ck_assert(iov_in(&f.iov[i], f.ram) || iov_in(&f.iov[i], f.ram2));
					ck_assert_uint_gt(f.iov[i].iov_len, 0);
					*(i < f.c.nout ? &out : &in) += f.iov[i].iov_len;
				}
				ck_assert_uint_eq(out, f.c.out_len);
				ck_assert_uint_eq(in, f.c.in_len);
			}
			virtq_push(&f.q, f.c.head, (uint32_t)rnd(&s));
			(void)virtq_should_interrupt(&f.q);
		}
		(void)virtq_set_notify(&f.q, rnd(&s) & 1);
		(void)virtq_has_work(&f.q);
	}
	/* The generator must reach every outcome, or the loop tests little. */
	ck_assert_uint_gt(pops - bad, 100);
	ck_assert_uint_gt(bad, 100);
	ck_assert_uint_gt(broken, 100);
	fx_fini(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtq");
	TCase *tc = tcase_create("virtq");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, init_rejects);
	tcase_add_test(tc, simple_chain);
	tcase_add_test(tc, push_updates_used);
	tcase_add_test(tc, fill_then_flush);
	tcase_add_test(tc, index_wraparound);
	tcase_add_test(tc, hostile_loops_and_indices);
	tcase_add_test(tc, hostile_head_breaks_queue);
	tcase_add_test(tc, hostile_avail_jump);
	tcase_add_test(tc, hostile_buffers);
	tcase_add_test(tc, buffer_across_mmio_hole);
	tcase_add_test(tc, hostile_order_and_count);
	tcase_add_test(tc, indirect_valid);
	tcase_add_test(tc, indirect_hostile);
	tcase_add_test(tc, lengths_past_32_bits);
	tcase_add_test(tc, event_idx_interrupts);
	tcase_add_test(tc, no_interrupt_flag);
	tcase_add_test(tc, set_notify_flags);
	tcase_add_test(tc, set_notify_event_idx);
	tcase_add_test(tc, serve_budget);
	tcase_add_test(tc, fuzz);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
