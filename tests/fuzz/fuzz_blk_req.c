// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_blk_req: the virtio-blk request parser (src/virtio/blk_req.c, blk_req_parse()) on chains
 * popped from a hostile driver's queue (src/virtio/queue.c), exactly as blk.c's pop_one() calls
 * it, with the device's configuration (capacity, read-only, O_DIRECT alignment, negotiated
 * features, serial) from the input. What blk.c does around it with io_uring (submission, short
 * I/O, flush ordering) is not driven here: the parser's verdict is checked instead, and the I/O
 * it would start is simulated by touching the buffers it hands out.
 *
 * Input: u8 flags (bit 0 read-only, 1 O_DIRECT, 2 dio_align 4096, 3 EVENT_IDX, bits 4-7 queue
 * size 2^n), u8 features (bit 0 FLUSH, 1 DISCARD, 2 WRITE_ZEROES), u64 capacity in sectors (its low
 * 54 bits: a disk holds at most INT64_MAX bytes), 20
 * serial bytes, then operations: u8 (mod 2) 0 a driver round (fuzz_vq.h), 1 pop and parse up to
 * u8 chains.
 * Checked beyond the sanitizers: the status is OK/IOERR/UNSUPP; the status byte is in guest RAM
 * (the guest may alias it with a data buffer: its business); a request to start has its data buffers in RAM, a length that is
 * a whole number of sectors inside the disk, segments inside the disk, the right descriptor.
 */
#include <errno.h>
#include <linux/virtio_blk.h>

#include "disk.h"
#include "fuzz_vq.h"
#include "virtio/blk_req.h"

#define FD 100
#define FD_BUFFERED 101

struct state {
	struct fvq_driver d;
	struct virtq vq;
	struct disk disk;
	struct virtio_blk dev;
	struct blk_session *s;
	struct blk_req *r;
	uint16_t seen_used;
};

/* A request the parser says to start: check what blk.c would hand to io_uring. */
static void check_start(struct state *s, const struct virtq_chain *c)
{
	struct blk_req *r = s->r;
	uint64_t cap_bytes = s->dev.capacity << SECTOR_SHIFT, total = 0;

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		FUZZ_CHECK(r->iov_idx <= r->niov && r->niov <= c->niov);
		FUZZ_CHECK(r->fd == FD || (s->disk.direct && r->fd == FD_BUFFERED));
		for (unsigned i = r->iov_idx; i < r->niov; i++) {
			struct iovec *v = &r->iov[i];

			FUZZ_CHECK(fuzz_ram_holds(&s->d.ram, v->iov_base, v->iov_len));
			if (r->type == VIRTIO_BLK_T_IN && v->iov_len)
				memset(v->iov_base, 0xd5, v->iov_len); /* what the disk read would do */
			total += v->iov_len;
		}
		FUZZ_CHECK(total > 0 && total % 512 == 0 && !(r->off & 511));
		FUZZ_CHECK(r->off <= cap_bytes && total <= cap_bytes - r->off);
		FUZZ_CHECK(r->written == (r->type == VIRTIO_BLK_T_IN ? total + 1 : 1));
		break;
	case VIRTIO_BLK_T_FLUSH:
		FUZZ_CHECK(s->s->ctx.features & (1ull << VIRTIO_BLK_F_FLUSH));
		break;
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		FUZZ_CHECK(!s->disk.readonly && r->nseg >= 1 && r->nseg <= MAX_SEGS);
		for (unsigned i = 0; i < r->nseg; i++) {
			uint64_t sector = r->segs[i].sector, num = r->segs[i].num_sectors;

			FUZZ_CHECK(num > 0 && sector <= s->dev.capacity && num <= s->dev.capacity - sector);
		}
		break;
	default:
		FUZZ_CHECK(!"a request to start of an unknown type");
	}
}

static void parse_one(struct state *s, const struct virtq_chain *c)
{
	struct blk_req *r = s->r;
	int st;

	r->head = c->head;
	st = blk_req_parse(r, c);
	FUZZ_CHECK(st == -1 || st == VIRTIO_BLK_S_OK || st == VIRTIO_BLK_S_IOERR || st == VIRTIO_BLK_S_UNSUPP);
	if (r->status)
		FUZZ_CHECK(fuzz_ram_holds(&s->d.ram, r->status, 1));
	else
		FUZZ_CHECK(st != -1);
	if (st == -1) {
		check_start(s, c);
		st = VIRTIO_BLK_S_OK; /* the simulated I/O succeeded */
	} else if (st != VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_IN) {
		r->written = 1; /* as blk.c's complete() */
	}
	/* Completion, as blk.c's complete() does it. */
	if (r->status)
		*r->status = (uint8_t)st;
	virtq_push(&s->vq, r->head, r->status ? r->written : 0);
}

static void pop_and_parse(struct state *s, unsigned n)
{
	while (n--) {
		struct virtq_chain c;
		int ret = virtq_pop(&s->vq, &c, s->r->iov, IOV_PER_REQ);

		if (ret != 1)
			return;
		parse_one(s, &c);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct fz f = fz_init(data, size);
	uint8_t flags = fz_u8(&f), feat = fz_u8(&f);
	int ret = 0;

	memset(&s, 0, sizeof(s));
	if (fvq_ram_init(&s.d))
		return 0;
	s.s = calloc(1, sizeof(*s.s) + sizeof(s.s->q[0]));
	s.r = calloc(1, sizeof(*s.r) + IOV_PER_REQ * sizeof(s.r->iov[0]));
	if (!s.s || !s.r)
		goto out;
	s.disk = (struct disk){ .fd = FD, .fd_buffered = FD_BUFFERED, .path = "fuzz.img", .lbs = 512, .pbs = 512,
				.readonly = flags & 1, .direct = flags & 2, .dio_align = flags & 4 ? 4096 : 512 };
	if (!s.disk.direct)
		s.disk.fd_buffered = s.disk.fd;
	s.dev.disk = &s.disk;
	s.dev.log = &fuzz_log;
	/* A disk's size is an off_t: at most INT64_MAX bytes, so sector << 9 never wraps. */
	s.dev.capacity = fz_u64(&f) & ((uint64_t)INT64_MAX >> SECTOR_SHIFT);
	fz_bytes(&f, s.dev.serial, sizeof(s.dev.serial));
	s.dev.num_queues = 1;
	s.s->dev = &s.dev;
	s.s->nq = 1;
	s.s->ctx.mem = &s.d.ram.m;
	s.s->ctx.features = (feat & 1 ? 1ull << VIRTIO_BLK_F_FLUSH : 0) | (feat & 2 ? 1ull << VIRTIO_BLK_F_DISCARD : 0) |
			    (feat & 4 ? 1ull << VIRTIO_BLK_F_WRITE_ZEROES : 0);
	s.s->q[0].s = s.s;
	s.s->q[0].vq = &s.vq;
	s.r->q = &s.s->q[0];
	FUZZ_CHECK(fvq_init(&s.d, 0, fvq_size(flags >> 4), flags & 8, &s.vq) == 0);

	while (fz_left(&f)) {
		if (fz_u8(&f) % 2 == 0)
			fvq_round(&s.d, 0, &f);
		else
			pop_and_parse(&s, fz_u8(&f));
		fvq_check_used(&s.d, 0, &s.seen_used);
	}
out:
	free(s.r);
	free(s.s);
	fvq_ram_free(&s.d);
	return ret;
}
