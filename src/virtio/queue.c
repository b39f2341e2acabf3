// SPDX-License-Identifier: Apache-2.0
/* The split virtqueue (virtio 1.2 section 2.7): ring validation, hardened chain walk, used ring, notifications. */
#include "virtio/queue.h"

#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <string.h>

#define DESC_SIZE sizeof(struct vring_desc) /* 16 bytes on the wire */

_Static_assert(sizeof(struct vring_desc) == 16, "vring_desc layout");
_Static_assert(sizeof(struct vring_used_elem) == 8, "vring_used_elem layout");
_Static_assert(offsetof(struct vring_avail, ring) == 4, "vring_avail layout");
_Static_assert(offsetof(struct vring_used, ring) == 4, "vring_used layout");
_Static_assert((VIRTQ_MAX_SIZE & (VIRTQ_MAX_SIZE - 1)) == 0, "VIRTQ_MAX_SIZE is a power of two");

/* State of one chain walk: where the buffers go and whether a device-writable one was seen. */
struct walk {
	const struct virtq *q;
	struct virtq_chain *c;
	struct iovec *iov;
	unsigned max_iov;
	bool seen_write;
};

static void *ring_ptr(const struct guest_mem *mem, uint64_t gpa, uint64_t len, uint64_t align)
{
	void *p;

	if (gpa & (align - 1))
		return NULL;
	p = gmem_ptr(mem, gpa, len);
	/* The host side must be aligned as well, or the atomic accesses below would be misaligned. */
	if (!p || ((uintptr_t)p & (align - 1)))
		return NULL;
	return p;
}

int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx)
{
	memset(q, 0, sizeof(*q));
	/* Until it is valid the queue is broken: a device that ignores the error still cannot pop from it. */
	q->broken = true;
	q->mem = mem;
	if (size == 0 || size > VIRTQ_MAX_SIZE || (size & (size - 1)))
		return -EINVAL;
	/* desc[size]; avail flags, idx, ring[size], used_event; used flags, idx, ring[size], avail_event. */
	q->desc = ring_ptr(mem, desc_gpa, DESC_SIZE * size, 16);
	q->avail = ring_ptr(mem, avail_gpa, 6 + 2 * (uint64_t)size, 2);
	q->used = ring_ptr(mem, used_gpa, 6 + 8 * (uint64_t)size, 4);
	if (!q->desc || !q->avail || !q->used) {
		q->desc = NULL;
		q->avail = NULL;
		q->used = NULL;
		return -EINVAL;
	}
	q->size = size;
	q->event_idx = event_idx;
	q->broken = false;
	return 0;
}

static int set_broken(struct virtq *q)
{
	q->broken = true;
	return -EIO;
}

static uint16_t *used_event(const struct virtq *q)
{
	return &q->avail->ring[q->size]; /* inside the 6 + 2 * size bytes virtq_init() checked */
}

static uint16_t *avail_event(const struct virtq *q)
{
	return (uint16_t *)&q->used->ring[q->size]; /* inside the 6 + 8 * size bytes virtq_init() checked */
}

static uint16_t load_avail_idx(const struct virtq *q)
{
	/*
	 * Acquire: the ring entries and descriptors we read after this are the ones the driver wrote
	 * before publishing the index. Pairs with the driver's write barrier (virtio_wmb() in Linux's
	 * virtqueue_add_split()) between filling the ring and storing avail->idx.
	 */
	return le16toh(__atomic_load_n(&q->avail->idx, __ATOMIC_ACQUIRE));
}

/*
 * Copy one descriptor out of guest memory exactly once. The source may be misaligned (an indirect
 * table has no alignment rule), hence memcpy; the empty asm makes the copy final, so the compiler
 * cannot re-read the guest's (changing) memory in place of a field of the local copy.
 */
static void read_desc(struct vring_desc *d, const uint8_t *table, unsigned i)
{
	memcpy(d, table + (size_t)i * DESC_SIZE, DESC_SIZE);
	__asm__ volatile("" : : "r"(d) : "memory");
}

/*
 * Take one buffer into the iov array. A zero-length buffer is accepted and skipped: it adds no iov
 * and its address is not looked at, but it still obeys the readable-before-writable rule.
 */
static int add_buf(struct walk *w, const struct vring_desc *d, uint16_t flags)
{
	struct virtq_chain *c = w->c;
	uint64_t addr = le64toh(d->addr), total;
	uint32_t len = le32toh(d->len);
	bool wr = flags & VRING_DESC_F_WRITE;
	void *p;

	if (!wr && w->seen_write)
		return -EINVAL; /* a device-readable buffer after a device-writable one */
	w->seen_write |= wr;
	if (len == 0)
		return 0;
	if (c->niov >= w->max_iov)
		return -E2BIG;
	p = gmem_ptr(w->q->mem, addr, len); /* NULL when outside RAM, wrapping, or across two regions */
	if (!p)
		return -EFAULT;
	/* A chain carries at most 2^32 - 1 bytes in total (the driver MUST NOT exceed it, 2.7.5). */
	if (__builtin_add_overflow(c->out_len + c->in_len, (uint64_t)len, &total) || total > UINT32_MAX)
		return -EOVERFLOW;
	w->iov[c->niov].iov_base = p;
	w->iov[c->niov].iov_len = len;
	c->niov++;
	if (wr) {
		c->in_len += len;
	} else {
		c->out_len += len;
		c->nout++;
	}
	return 0;
}

static int walk_table(struct walk *w, const uint8_t *table, unsigned n, unsigned i, bool indirect_ok);

/* Follow an indirect descriptor: a table of len / 16 descriptors, walked from entry 0, never nested. */
static int walk_indirect(struct walk *w, const struct vring_desc *d)
{
	uint64_t addr = le64toh(d->addr);
	uint32_t len = le32toh(d->len);
	const uint8_t *table;

	if (len == 0 || len % DESC_SIZE || len / DESC_SIZE > VIRTQ_MAX_SIZE)
		return -EINVAL;
	table = gmem_ptr(w->q->mem, addr, len);
	if (!table)
		return -EFAULT;
	return walk_table(w, table, len / DESC_SIZE, 0, false);
}

/*
 * Walk a chain starting at entry i of a table of n descriptors. The walk stops after n descriptors
 * (a chain cannot be longer than its table, so a longer one is a loop); every next index is
 * checked against n. An indirect descriptor is allowed only as the first (top-level head) one, and
 * never together with NEXT (2.7.5.3.1: the driver MUST NOT set both).
 */
static int walk_table(struct walk *w, const uint8_t *table, unsigned n, unsigned i, bool indirect_ok)
{
	unsigned ttl = n;
	struct vring_desc d;
	uint16_t flags;
	int ret;

	for (;;) {
		if (i >= n)
			return -EINVAL;
		if (ttl-- == 0)
			return -ELOOP;
		read_desc(&d, table, i);
		flags = le16toh(d.flags);
		if (flags & VRING_DESC_F_INDIRECT) {
			if (!indirect_ok || (flags & VRING_DESC_F_NEXT))
				return -EINVAL;
			/* The device ignores WRITE on the descriptor that points at the table (2.7.5.3.2). */
			return walk_indirect(w, &d);
		}
		indirect_ok = false;
		ret = add_buf(w, &d, flags);
		if (ret)
			return ret;
		if (!(flags & VRING_DESC_F_NEXT))
			return 0;
		i = le16toh(d.next);
	}
}

/* Walk the chain at head (< q->size) into c and iov. */
static void walk_chain(const struct virtq *q, uint16_t head, struct virtq_chain *c, struct iovec *iov,
		       unsigned max_iov)
{
	struct walk w = { .q = q, .c = c, .iov = iov, .max_iov = max_iov };

	memset(c, 0, sizeof(*c));
	c->head = head;
	if (walk_table(&w, (const uint8_t *)q->desc, q->size, head, true)) {
		/* Malformed but identified: the device completes head via virtq_push() without using iov. */
		c->bad = true;
		c->niov = c->nout = 0;
		c->out_len = c->in_len = 0;
	}
}

int virtq_pop(struct virtq *q, struct virtq_chain *c, struct iovec *iov, unsigned max_iov)
{
	uint16_t avail_idx, pending, head;

	if (q->broken)
		return -EIO;
	avail_idx = load_avail_idx(q);
	pending = (uint16_t)(avail_idx - q->last_avail);
	if (pending > q->size)
		return set_broken(q); /* the driver cannot have more chains in flight than the queue holds */
	if (pending == 0)
		return 0;
	/* The ring entry is read once; the acquire load above ordered it after the index. */
	head = le16toh(__atomic_load_n(&q->avail->ring[q->last_avail & (q->size - 1)], __ATOMIC_RELAXED));
	if (head >= q->size)
		return set_broken(q); /* no chain to complete: only a reset recovers */
	q->last_avail++;
	if (q->event_idx) {
		/*
		 * Ask for a kick when the driver adds the entry after the ones we took. Without a fence
		 * this is only a hint; virtq_set_notify(q, true) is the race-free re-arm.
		 */
		__atomic_store_n(avail_event(q), htole16(q->last_avail), __ATOMIC_RELAXED);
	}

	walk_chain(q, head, c, iov, max_iov);
	return 1;
}

void virtq_fill(struct virtq *q, unsigned offset, uint16_t head, uint32_t written)
{
	struct vring_used_elem *e;

	if (!q->used || offset >= q->size)
		return; /* never initialised, or a caller bug: never write outside the ring */
	e = &q->used->ring[(uint16_t)(q->used_idx + offset) & (q->size - 1)];
	__atomic_store_n(&e->id, htole32(head), __ATOMIC_RELAXED);
	__atomic_store_n(&e->len, htole32(written), __ATOMIC_RELAXED);
}

void virtq_flush(struct virtq *q, unsigned count)
{
	uint16_t new_idx;

	if (!q->used || count == 0 || count > q->size)
		return;
	new_idx = (uint16_t)(q->used_idx + count);
	/*
	 * Release: the elements (and the data written into the chains' buffers by this thread) are
	 * visible before the new index. Pairs with the driver's read barrier (virtio_rmb() in Linux's
	 * virtqueue_get_buf_ctx_split()) between reading used->idx and reading the elements.
	 */
	__atomic_store_n(&q->used->idx, htole16(new_idx), __ATOMIC_RELEASE);
	q->used_idx = new_idx;
	/*
	 * If we went 2^15 pushes without interrupting, used_idx may have wrapped past signalled_used
	 * and vring_need_event() would compare across the wrap: forget it, so the next check signals.
	 */
	if ((int16_t)(uint16_t)(new_idx - q->signalled_used) <= 0)
		q->signalled_valid = false;
}

void virtq_push(struct virtq *q, uint16_t head, uint32_t written)
{
	virtq_fill(q, 0, head, written);
	virtq_flush(q, 1);
}

bool virtq_should_interrupt(struct virtq *q)
{
	uint16_t old, new_idx, event;
	bool valid;

	if (!q->used)
		return false;
	/*
	 * Full barrier: our used->idx store must be visible before we read used_event / avail->flags.
	 * Pairs with the driver's full barrier (virtio_mb() in Linux's virtqueue_poll()) between
	 * publishing used_event or clearing NO_INTERRUPT and re-reading used->idx; without it both
	 * sides could miss each other and the guest would wait forever.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (!q->event_idx)
		return !(le16toh(__atomic_load_n(&q->avail->flags, __ATOMIC_RELAXED)) & VRING_AVAIL_F_NO_INTERRUPT);

	old = q->signalled_used;
	new_idx = q->used_idx;
	valid = q->signalled_valid;
	q->signalled_used = new_idx;
	q->signalled_valid = true;
	if (!valid)
		return true; /* first interrupt, or after a wrap: always signal */
	event = le16toh(__atomic_load_n(used_event(q), __ATOMIC_RELAXED));
	return vring_need_event(event, new_idx, old);
}

bool virtq_set_notify(struct virtq *q, bool enable)
{
	uint16_t flags;

	if (q->broken)
		return false;
	if (q->event_idx) {
		/*
		 * With EVENT_IDX, disabling writes nothing: avail_event already lags behind, so at most
		 * one more kick arrives (harmless). Enabling asks for a kick at the next new entry.
		 */
		if (!enable)
			return false;
		__atomic_store_n(avail_event(q), htole16(q->last_avail), __ATOMIC_RELAXED);
	} else {
		flags = le16toh(__atomic_load_n(&q->used->flags, __ATOMIC_RELAXED));
		if (enable)
			flags &= (uint16_t)~VRING_USED_F_NO_NOTIFY;
		else
			flags |= VRING_USED_F_NO_NOTIFY;
		__atomic_store_n(&q->used->flags, htole16(flags), __ATOMIC_RELAXED);
		if (!enable)
			return false;
	}
	/*
	 * Full barrier: the re-enabled notification must be visible before we look at avail->idx.
	 * Pairs with the driver's full barrier (virtio_mb() in Linux's virtqueue_kick_prepare_split())
	 * between storing avail->idx and reading avail_event / used->flags: either the driver sees
	 * notifications on and kicks, or we see its new entries here.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	return virtq_has_work(q);
}

bool virtq_serve(struct virtq *q, int (*take)(void *arg), void *arg, unsigned budget)
{
	int ret = 0;

	for (;;) {
		virtq_set_notify(q, false);
		while (budget && (ret = take(arg)) == 1)
			budget--;
		if (!budget)
			return true;
		/* Re-enabled either way; true: chains arrived while disabled, go again. */
		if (!virtq_set_notify(q, true) || ret < 0)
			return false;
	}
}

bool virtq_has_work(const struct virtq *q)
{
	if (q->broken)
		return false; /* nothing can be popped: the device waits for a reset */
	return load_avail_idx(q) != q->last_avail;
}

void virtq_get_pos(const struct virtq *q, struct virtq_pos *p)
{
	p->last_avail = q->last_avail;
	p->used_idx = q->used_idx;
	p->signalled_used = q->signalled_used;
	p->signalled_valid = q->signalled_valid;
}

void virtq_pos_save(const struct virtq_pos *p, struct sbuf *out)
{
	sbuf_u16(out, p->last_avail);
	sbuf_u16(out, p->used_idx);
	sbuf_u16(out, p->signalled_used);
	sbuf_bool(out, p->signalled_valid);
}

void virtq_pos_load(struct virtq_pos *p, struct sreader *in)
{
	p->last_avail = sr_u16(in);
	p->used_idx = sr_u16(in);
	p->signalled_used = sr_u16(in);
	p->signalled_valid = sr_bool(in);
}

bool virtq_pos_valid(const struct virtq_pos *p, uint16_t size)
{
	return (uint16_t)(p->last_avail - p->used_idx) <= size;
}

int virtq_set_pos(struct virtq *q, const struct virtq_pos *p)
{
	if (q->broken || !virtq_pos_valid(p, q->size))
		return -EINVAL;
	q->last_avail = p->last_avail;
	q->used_idx = p->used_idx;
	q->signalled_used = p->signalled_used;
	q->signalled_valid = p->signalled_valid;
	return 0;
}

int virtq_walk(struct virtq *q, uint16_t head, struct virtq_chain *c, struct iovec *iov, unsigned max_iov)
{
	if (q->broken || head >= q->size)
		return -EINVAL;
	walk_chain(q, head, c, iov, max_iov);
	return 1;
}

/* Copy len bytes between buf and the buffers iov[0..niov) from byte off on: into them (to) or out. */
static size_t iov_copy(const struct iovec *iov, unsigned niov, uint64_t off, uint8_t *buf, size_t len, bool to)
{
	size_t done = 0;

	for (unsigned i = 0; i < niov && done < len; i++) {
		uint8_t *b = iov[i].iov_base;
		size_t k;

		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		k = iov[i].iov_len - off < len - done ? iov[i].iov_len - off : len - done;
		if (to)
			memcpy(b + off, buf + done, k);
		else
			memcpy(buf + done, b + off, k);
		done += k;
		off = 0;
	}
	return done;
}

size_t virtq_iov_to(const struct iovec *iov, unsigned niov, uint64_t off, const void *src, size_t len)
{
	return iov_copy(iov, niov, off, (uint8_t *)(uintptr_t)src, len, true);
}

size_t virtq_iov_from(const struct iovec *iov, unsigned niov, uint64_t off, void *dst, size_t len)
{
	return iov_copy(iov, niov, off, dst, len, false);
}
