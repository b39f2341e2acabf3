/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hostile driver's side of split virtqueues, decoded from fuzz input, for the targets that feed a
 * device through its queues (virtq, blk_req, net, virtio_console, virtio_pci).
 *
 * The fake guest RAM is two 128 KiB regions, [0, 128K) and [128K, 256K): contiguous in guest-physical
 * space, separate on the host, so a buffer across the boundary is one the device must refuse.
 * Queue q (< 6) has its rings in region 0 at FVQ_DESC(q), FVQ_AVAIL(q), FVQ_USED(q) (room for up to
 * 256 entries); everything else of RAM, from FVQ_DATA on, is buffers, indirect tables and headers
 * the input writes.
 *
 * One "driver round" (fvq_round) reads, in order:
 *   u8 ndesc, then ndesc descriptors: u8 index (mod size), then the 16 raw bytes of struct vring_desc
 *   u8 navail: low 7 bits a count of u16 heads appended to the avail ring; bit 7: then a raw u16
 *     written as avail->idx instead of the count (a hostile jump)
 *   u8 nblob, then nblob blobs: u32 gpa (mod the RAM's 256 KiB), u8 len, len bytes written there
 *     (headers, frames, indirect tables; a blob that does not fit is cut at the region's end; one
 *     that would touch the used rings is skipped)
 *   u16 avail->flags, u16 used_event (the driver's EVENT_IDX word)
 */
#ifndef VMM_TESTS_FUZZ_VQ_H
#define VMM_TESTS_FUZZ_VQ_H

#include <endian.h>
#include <linux/virtio_ring.h>

#include "fuzz.h"
#include "virtio/queue.h"

#define FVQ_RAM_SIZE 0x20000ull /* each of the two regions */
#define FVQ_MAX_QUEUES 6
#define FVQ_MAX_SIZE 256
#define FVQ_DESC(q) (0x0000ull + 0x1000ull * (q))  /* 16 * 256 bytes each */
#define FVQ_AVAIL(q) (0x6000ull + 0x400ull * (q))  /* 6 + 2 * 256 */
#define FVQ_USED(q) (0x8000ull + 0x1000ull * (q))  /* 6 + 8 * 256 */
#define FVQ_DATA 0xe000ull                         /* first free byte */

struct fvq_driver {
	struct fuzz_ram ram;
	uint16_t size[FVQ_MAX_QUEUES]; /* 0: queue not set up */
	uint16_t avail_idx[FVQ_MAX_QUEUES];
	bool used_shared[FVQ_MAX_QUEUES]; /* a buffer may have covered the used rings: their entries are not checked */
};

static inline int fvq_ram_init(struct fvq_driver *d)
{
	memset(d, 0, sizeof(*d));
	return fuzz_ram_init(&d->ram, FVQ_RAM_SIZE, FVQ_RAM_SIZE, FVQ_RAM_SIZE);
}

static inline void fvq_ram_free(struct fvq_driver *d)
{
	fuzz_ram_free(&d->ram);
}

/* A power-of-two queue size from the low bits of b: 1..FVQ_MAX_SIZE. */
static inline uint16_t fvq_size(uint8_t b)
{
	return (uint16_t)(1u << (b % 9));
}

static inline void *fvq_ptr(struct fvq_driver *d, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(&d->ram.m, gpa, len);

	FUZZ_CHECK(p); /* the rings are ours: always inside region 0 */
	return p;
}

/* Set up queue q's rings (zeroed) and init vq over them; returns virtq_init()'s result. */
static inline int fvq_init(struct fvq_driver *d, unsigned q, uint16_t size, bool event_idx, struct virtq *vq)
{
	memset(fvq_ptr(d, FVQ_DESC(q), 16ull * FVQ_MAX_SIZE), 0, 16ull * FVQ_MAX_SIZE);
	memset(fvq_ptr(d, FVQ_AVAIL(q), 6 + 2ull * FVQ_MAX_SIZE), 0, 6 + 2ull * FVQ_MAX_SIZE);
	memset(fvq_ptr(d, FVQ_USED(q), 6 + 8ull * FVQ_MAX_SIZE), 0, 6 + 8ull * FVQ_MAX_SIZE);
	d->size[q] = size;
	d->avail_idx[q] = 0;
	return virtq_init(vq, &d->ram.m, size, FVQ_DESC(q), FVQ_AVAIL(q), FVQ_USED(q), event_idx);
}

static inline void fvq_put16(struct fvq_driver *d, uint64_t gpa, uint16_t v)
{
	v = htole16(v);
	memcpy(fvq_ptr(d, gpa, 2), &v, 2);
}

static inline uint16_t fvq_get16(struct fvq_driver *d, uint64_t gpa)
{
	uint16_t v;

	memcpy(&v, fvq_ptr(d, gpa, 2), 2);
	return le16toh(v);
}

/* Write len bytes at gpa (mod the RAM), cut at the end of its region. */
static inline void fvq_blob(struct fvq_driver *d, uint64_t gpa, const uint8_t *src, size_t len)
{
	uint64_t end;

	gpa %= 2 * FVQ_RAM_SIZE;
	end = (gpa / FVQ_RAM_SIZE + 1) * FVQ_RAM_SIZE;
	if (len > end - gpa)
		len = (size_t)(end - gpa);
	/* The used rings are the device's to write: a driver scribbling there would only defeat fvq_check_used(). */
	if (gpa < FVQ_DATA && gpa + len > FVQ_USED(0))
		return;
	if (len)
		memcpy(fvq_ptr(d, gpa, len), src, len);
}

/*
 * Does no buffer the driver may have offered on queue q overlap the used rings? Only the direct
 * descriptor table can be read here; an INDIRECT descriptor (its table may name any address) or
 * one that covers the used rings makes the answer no.
 */
static inline bool fvq_used_private(struct fvq_driver *d, unsigned q)
{
	for (unsigned i = 0; i < d->size[q]; i++) {
		uint8_t raw[16];
		uint64_t addr;
		uint32_t len;
		uint16_t flags;

		memcpy(raw, fvq_ptr(d, FVQ_DESC(q) + 16ull * i, 16), 16);
		memcpy(&addr, raw, 8);
		memcpy(&len, raw + 8, 4);
		memcpy(&flags, raw + 12, 2);
		addr = le64toh(addr);
		len = le32toh(len);
		if (le16toh(flags) & 4) /* VRING_DESC_F_INDIRECT */
			return false;
		if (addr < FVQ_DATA && addr + len > FVQ_USED(0))
			return false;
	}
	return true;
}

/* One driver round on queue q (see the top of this file). */
static inline void fvq_round(struct fvq_driver *d, unsigned q, struct fz *f)
{
	uint16_t size = d->size[q] ? d->size[q] : 1;
	unsigned n;
	uint8_t b;

	n = fz_u8(f);
	for (unsigned i = 0; i < n && fz_left(f); i++) {
		unsigned idx = fz_u8(f) % size;
		uint8_t raw[16];

		fz_bytes(f, raw, sizeof(raw));
		memcpy(fvq_ptr(d, FVQ_DESC(q) + 16ull * idx, 16), raw, 16);
	}
	b = fz_u8(f);
	for (unsigned i = 0; i < (b & 0x7fu); i++) {
		fvq_put16(d, FVQ_AVAIL(q) + 4 + 2ull * (d->avail_idx[q] % size), fz_u16(f));
		d->avail_idx[q]++;
	}
	if (b & 0x80)
		d->avail_idx[q] = fz_u16(f);
	fvq_put16(d, FVQ_AVAIL(q) + 2, d->avail_idx[q]);
	n = fz_u8(f);
	for (unsigned i = 0; i < n && fz_left(f); i++) {
		uint64_t gpa = fz_u32(f);
		size_t len;
		const uint8_t *src = fz_take(f, fz_u8(f), &len);

		fvq_blob(d, gpa, src, len);
	}
	fvq_put16(d, FVQ_AVAIL(q), fz_u16(f));
	fvq_put16(d, FVQ_AVAIL(q) + 4 + 2ull * size, fz_u16(f));
}

/*
 * The used ring as the driver sees it: walk what the device published since the last look (the
 * last size entries at most). Each entry names a head below size, unless the driver posted a
 * buffer over a used ring (descriptors and indirect tables are fuzzed freely): then the
 * device's data writes, into memory the guest gave it, land there too, as they must. So entries
 * are held to the bound only while no buffer of any queue's descriptor table has covered the used
 * rings (checked at every look, which follows every device step).
 */
static inline void fvq_check_used(struct fvq_driver *d, unsigned q, uint16_t *seen_idx)
{
	uint16_t size = d->size[q], idx;

	if (!size)
		return;
	/* Any queue's buffer may cover this queue's used ring (the rings lie side by side). */
	for (unsigned k = 0; k < FVQ_MAX_QUEUES && !d->used_shared[q]; k++)
		if (!fvq_used_private(d, k))
			d->used_shared[q] = true; /* for good: what the device wrote there stays */
	idx = fvq_get16(d, FVQ_USED(q) + 2);
	/* (A hostile driver may reuse heads, so how far used->idx moves is not bounded by size.) */
	for (unsigned n = 0; *seen_idx != idx && n < size; (*seen_idx)++, n++) {
		struct vring_used_elem e;

		memcpy(&e, fvq_ptr(d, FVQ_USED(q) + 4 + 8ull * (*seen_idx % size), 8), 8);
		FUZZ_CHECK(le32toh(e.id) < size || d->used_shared[q]);
	}
	*seen_idx = idx;
}

#endif
