// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_virtq: the split-virtqueue code every virtio device uses (src/virtio/queue.c): ring
 * validation at enable, the chain walk (descriptors, indirect tables, loops, lengths, the iov
 * bound), the used ring, EVENT_IDX / NO_INTERRUPT and the notification re-check, driven by a
 * hostile driver whose rings and buffers come from the input.
 *
 * Input: u8 cfg, u8 max_iov, [custom ring addresses], then operations until the input ends.
 *   cfg bits 0-3: queue size 2^n (n <= 8) in the standard layout (fuzz_vq.h); bit 4: instead a
 *   raw u16 size and u32 desc/avail/used addresses (virtq_init()'s checks); bit 5: EVENT_IDX.
 *   operation u8 (mod 8): 0 a driver round (fuzz_vq.h), 1 pop up to u8 chains, 2 push a popped
 *   head (u8 pick, u32 written), 3 virtq_should_interrupt, 4 virtq_set_notify(u8 & 1),
 *   5 virtq_serve (u8 budget) popping and completing, 6 fill (u8 offset) and flush (u8 count)
 *   popped heads, 7 virtq_has_work.
 * Checked beyond the sanitizers: a popped chain's head is below the size; a good chain's
 * buffers lie in guest RAM, one region each, readable before writable, their lengths add up to
 * out_len / in_len, at most max_iov of them; a bad one carries none.
 */
#include <errno.h>

#include "fuzz_vq.h"

#define MAX_IOV 64
#define PENDING 64

struct state {
	struct fvq_driver d;
	struct virtq q;
	unsigned max_iov;
	struct iovec iov[MAX_IOV];
	uint16_t pending[PENDING]; /* popped heads not yet pushed */
	unsigned npending;
	uint16_t seen_used;
};

/* Check one popped chain and touch its buffers (ASan sees a pointer outside RAM). */
static void check_chain(struct state *s, const struct virtq_chain *c)
{
	uint64_t out = 0, in = 0;

	FUZZ_CHECK(c->head < s->q.size);
	if (c->bad) {
		FUZZ_CHECK(c->niov == 0 && c->nout == 0 && c->out_len == 0 && c->in_len == 0);
		return;
	}
	FUZZ_CHECK(c->nout <= c->niov && c->niov <= s->max_iov);
	for (unsigned i = 0; i < c->niov; i++) {
		uint8_t *p = s->iov[i].iov_base;
		size_t len = s->iov[i].iov_len;

		FUZZ_CHECK(len > 0 && fuzz_ram_holds(&s->d.ram, p, len));
		if (i < c->nout) {
			volatile uint8_t x = p[0];

			x ^= p[len - 1];
			(void)x;
			out += len;
		} else {
			p[0] = 0xa5;
			p[len - 1] = 0x5a;
			in += len;
		}
	}
	FUZZ_CHECK(out == c->out_len && in == c->in_len && out + in <= UINT32_MAX);
}

static int pop_one(struct state *s)
{
	struct virtq_chain c;
	int ret = virtq_pop(&s->q, &c, s->iov, s->max_iov);

	FUZZ_CHECK(ret == 1 || ret == 0 || ret == -EIO);
	FUZZ_CHECK((ret == -EIO) == s->q.broken);
	if (ret == 1) {
		check_chain(s, &c);
		if (s->npending < PENDING)
			s->pending[s->npending++] = c.head;
		else
			virtq_push(&s->q, c.head, (uint32_t)c.in_len);
	}
	return ret;
}

/* virtq_serve()'s take(): pop one chain and complete it at once, as a device with no I/O does. */
static int take(void *arg)
{
	struct state *s = arg;
	struct virtq_chain c;
	int ret = virtq_pop(&s->q, &c, s->iov, s->max_iov);

	if (ret == 1) {
		check_chain(s, &c);
		virtq_push(&s->q, c.head, (uint32_t)c.in_len);
	}
	return ret < 0 ? -1 : ret;
}

static uint16_t take_pending(struct state *s, uint8_t pick)
{
	unsigned i = pick % s->npending;
	uint16_t head = s->pending[i];

	s->pending[i] = s->pending[--s->npending];
	return head;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct fz f = fz_init(data, size);
	uint8_t cfg = fz_u8(&f);
	bool event_idx = cfg & 0x20;

	memset(&s, 0, sizeof(s));
	if (fvq_ram_init(&s.d))
		return 0;
	s.max_iov = fz_u8(&f) % (MAX_IOV + 1);
	if (cfg & 0x10) {
		uint16_t qsize = fz_u16(&f);
		uint64_t desc = fz_u32(&f), avail = fz_u32(&f), used = fz_u32(&f);

		/* Any addresses: virtq_init() must refuse what is not wholly in RAM or misaligned. */
		if (virtq_init(&s.q, &s.d.ram.m, qsize, desc, avail, used, event_idx) == 0) {
			FUZZ_CHECK(qsize && qsize <= VIRTQ_MAX_SIZE && !(qsize & (qsize - 1)));
			FUZZ_CHECK(gmem_ptr(&s.d.ram.m, desc, 16ull * qsize) && !(desc & 15));
			FUZZ_CHECK(gmem_ptr(&s.d.ram.m, avail, 6 + 2ull * qsize) && !(avail & 1));
			FUZZ_CHECK(gmem_ptr(&s.d.ram.m, used, 6 + 8ull * qsize) && !(used & 3));
		} else {
			FUZZ_CHECK(s.q.broken && virtq_pop(&s.q, &(struct virtq_chain){ 0 }, s.iov, s.max_iov) == -EIO);
		}
		/* The driver rounds below write the standard layout; a custom queue just sees them as RAM. */
		s.d.size[0] = s.q.size ? (s.q.size <= FVQ_MAX_SIZE ? s.q.size : FVQ_MAX_SIZE) : 1;
	} else {
		FUZZ_CHECK(fvq_init(&s.d, 0, fvq_size(cfg & 0xf), event_idx, &s.q) == 0);
	}

	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);

		switch (op % 8) {
		case 0:
			fvq_round(&s.d, 0, &f);
			break;
		case 1:
			for (unsigned n = fz_u8(&f); n && pop_one(&s) == 1; n--)
				;
			break;
		case 2: {
			uint8_t pick = fz_u8(&f);
			uint32_t written = fz_u32(&f);

			if (s.npending)
				virtq_push(&s.q, take_pending(&s, pick), written);
			break;
		}
		case 3:
			virtq_should_interrupt(&s.q);
			break;
		case 4:
			virtq_set_notify(&s.q, fz_u8(&f) & 1);
			break;
		case 5:
			virtq_serve(&s.q, take, &s, fz_u8(&f));
			break;
		case 6: {
			unsigned off = fz_u8(&f), count = fz_u8(&f);

			for (unsigned i = 0; s.npending && i < count; i++)
				virtq_fill(&s.q, off + i, take_pending(&s, 0), 0);
			virtq_flush(&s.q, count);
			break;
		}
		case 7:
			FUZZ_CHECK(!virtq_has_work(&s.q) || !s.q.broken);
			break;
		}
		if (!(cfg & 0x10))
			fvq_check_used(&s.d, 0, &s.seen_used);
	}
	fvq_ram_free(&s.d);
	return 0;
}
