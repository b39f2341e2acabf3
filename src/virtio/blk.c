// SPDX-License-Identifier: Apache-2.0
/* virtio-blk: requests parsed and checked whole, then served by io_uring straight into guest RAM. */
#define _GNU_SOURCE /* FALLOC_FL_* */
#include "virtio/blk.h"
#include "virtio/blk_req.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Lifetimes. A "session" is one activation: the context, the queues and their request slots.
 * reset() runs on the I/O thread and must not block it, so it detaches the session (dev->s = NULL)
 * and marks it resetting; requests whose SQEs are still in the ring complete into nothing (no
 * status byte, no used ring: the rings belong to the next activation now) and the last one frees
 * the session. A new activate() builds a fresh session at once, so re-activation after reset works
 * while the old one drains. The reads of a draining session may still land in guest buffers the
 * driver reclaimed by its reset, like any DMA in flight on real hardware at reset.
 *
 * FLUSH is ordered after every write popped earlier from the same queue: it waits (w/o an SQE)
 * until those writes have completed, then issues IORING_OP_FSYNC(DATASYNC). IOSQE_IO_DRAIN is not
 * used: it would also wait for the loop's armed multishot polls, which never complete.
 *
 * O_DIRECT (disk->direct): a request whose offset, buffers and lengths are all aligned to
 * disk->dio_align goes to the O_DIRECT fd; any other goes to disk->fd_buffered (same file, page
 * cache). No bounce buffers either way; the kernel keeps the two coherent (direct I/O writes back
 * and invalidates the cached range).
 *
 * Backpressure: every popped chain has a slot (a queue has as many slots as entries, so the driver
 * cannot outrun them). When the loop has no SQE the request waits on the queue's stalled list
 * and the queue stops popping; both resume from the device's deferred work after a completion.
 *
 * Fairness: one run of a queue takes at most its size in chains. A guest can keep re-posting
 * requests that complete at once (GET_ID, malformed ones) as fast as they complete; when the
 * budget runs out the queue is left with notifications off, marked "more", and served again from
 * dev->later on the loop's next turn, after every other device and caller has had its turn.
 *
 * Only a started write counts in writes_inflight (r->counted): a request completed from the pop
 * path (invalid, or nothing to do) was never counted, so it must not release a waiting FLUSH.
 */

static bool submit(struct blk_req *r);

static void free_session(struct blk_session *s)
{
	for (unsigned i = 0; i < s->nq; i++)
		free(s->q[i].slab);
	free(s);
}

/* The last SQE of a reset session completed: off the device's draining list (if it still has one), freed. */
static void free_draining(struct blk_session *s)
{
	if (s->dev) {
		struct blk_session **p = &s->dev->draining;

		while (*p && *p != s)
			p = &(*p)->next_draining;
		if (*p)
			*p = s->next_draining;
	}
	free_session(s);
}

/* Start a parsed request: FLUSH may first wait for earlier writes; the rest go to submit(). */
static void start(struct blk_req *r)
{
	struct blk_queue *q = r->q;

	if (blk_is_write(r->type)) {
		r->wseq = q->wseq++;
		q->writes_inflight++;
		r->counted = true;
	} else if (r->type == VIRTIO_BLK_T_FLUSH) {
		r->wseq = q->wseq;
		r->waiting = q->writes_inflight;
		if (r->waiting) {
			r->next = q->flushes;
			q->flushes = r;
			return;
		}
	}
	if (!submit(r)) {
		/* No SQE: wait at the tail of the stalled list (FIFO keeps the queue's order). */
		struct blk_req **p = &q->stalled;

		while (*p)
			p = &(*p)->next;
		r->next = NULL;
		*p = r;
	}
}

/* A write of wseq finished: flushes issued after it wait for one write less. */
static void release_flushes(struct blk_queue *q, uint64_t wseq)
{
	struct blk_req **p = &q->flushes;

	while (*p) {
		struct blk_req *f = *p;

		if (wseq < f->wseq && --f->waiting == 0) {
			*p = f->next;
			f->waiting = 0;
			f->wseq = 0;
			if (!submit(f)) {
				f->next = q->stalled;
				q->stalled = f;
			}
			continue;
		}
		p = &f->next;
	}
}

static bool submit(struct blk_req *r)
{
	struct blk_session *s = r->q->s;
	struct disk *d = s->dev->disk;
	struct io_uring_sqe *sqe = event_loop_sqe(s->ctx.loop, &r->ev);
	const struct virtio_blk_discard_write_zeroes *g;
	int mode;

	if (!sqe)
		return false;
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
		io_uring_prep_readv(sqe, r->fd, &r->iov[r->iov_idx], r->niov - r->iov_idx, r->off);
		break;
	case VIRTIO_BLK_T_OUT:
		io_uring_prep_writev(sqe, r->fd, &r->iov[r->iov_idx], r->niov - r->iov_idx, r->off);
		break;
	case VIRTIO_BLK_T_FLUSH:
		io_uring_prep_fsync(sqe, d->fd, IORING_FSYNC_DATASYNC);
		break;
	default: /* DISCARD, WRITE_ZEROES: one fallocate per segment, in turn */
		g = &r->segs[r->seg];
		if (r->type == VIRTIO_BLK_T_DISCARD ||
		    ((g->flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) && d->can_discard))
			mode = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE; /* reads back as zeros too */
		else
			mode = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
		io_uring_prep_fallocate(sqe, d->fd, mode, (off_t)(g->sector << SECTOR_SHIFT),
					(off_t)((uint64_t)g->num_sectors << SECTOR_SHIFT));
		break;
	}
	s->inflight++;
	return true;
}

static void kick_deferred(struct blk_queue *q)
{
	if (q->blocked || q->stalled)
		q->resume = true;
	event_loop_defer(q->s->ctx.loop, &q->s->dev->defer);
}

static void complete(struct blk_req *r, uint8_t st)
{
	struct blk_queue *q = r->q;

	if (st != VIRTIO_BLK_S_OK && r->type == VIRTIO_BLK_T_IN)
		r->written = 1; /* only the status is known to be valid */
	if (r->status)
		*r->status = st; /* a byte of guest RAM; virtq_push() publishes it with release order */
	virtq_push(q->vq, r->head, r->status ? r->written : 0);
	q->s->held--;
	q->need_irq = true;
	if (r->counted) {
		r->counted = false;
		q->writes_inflight--;
		release_flushes(q, r->wseq);
	}
	r->next = q->free;
	q->free = r;
	kick_deferred(q);
}

/* Advance the data iovs past n bytes the kernel moved. */
static void iov_advance(struct blk_req *r, size_t n)
{
	while (n && r->iov_idx < r->niov) {
		struct iovec *v = &r->iov[r->iov_idx];
		size_t k = v->iov_len < n ? v->iov_len : n;

		v->iov_base = (uint8_t *)v->iov_base + k;
		v->iov_len -= k;
		n -= k;
		if (v->iov_len == 0)
			r->iov_idx++;
	}
}

/* One step of a request finished; returns the status to complete with, or -1 when it continues. */
static int progress(struct blk_req *r, int res)
{
	struct virtio_blk *dev = r->q->s->dev;

	if (res == -EAGAIN || res == -EINTR)
		return -1; /* the same SQE again */
	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT:
		if (res < 0 || (res == 0 && r->type == VIRTIO_BLK_T_OUT))
			break;
		if (res == 0) { /* end of file (a shrunk image): the rest reads as zeros */
			blk_iov_take(r->iov, &r->iov_idx, r->niov, NULL, NULL, SIZE_MAX);
			return VIRTIO_BLK_S_OK;
		}
		r->off += (unsigned)res;
		iov_advance(r, (unsigned)res);
		return r->iov_idx < r->niov ? -1 : VIRTIO_BLK_S_OK; /* short: resubmit the rest */
	case VIRTIO_BLK_T_FLUSH:
		if (res < 0)
			break;
		return VIRTIO_BLK_S_OK;
	default:
		/* Discard is a hint: a file system or device without it still completes it. */
		if (res < 0 && !(res == -EOPNOTSUPP && r->type == VIRTIO_BLK_T_DISCARD))
			break;
		return ++r->seg < r->nseg ? -1 : VIRTIO_BLK_S_OK;
	}
	blk_warn(dev, "I/O error: %s", res < 0 ? strerror(-res) : "a write made no progress");
	return VIRTIO_BLK_S_IOERR;
}

static void req_done(struct ev_req *ev, int res)
{
	struct blk_req *r = (struct blk_req *)ev;
	struct blk_queue *q = r->q;
	struct blk_session *s = q->s;
	int st;

	s->inflight--;
	if (s->resetting) {
		/* The rings belong to the next activation: complete nothing. The last one out frees. */
		if (s->inflight == 0)
			free_draining(s);
		return;
	}
	st = progress(r, res);
	if (st >= 0) {
		complete(r, (uint8_t)st);
		return;
	}
	if (!submit(r)) {
		r->next = q->stalled;
		q->stalled = r;
	}
	kick_deferred(q);
}

/* Take one chain: 1 taken (started or completed), 0 ring empty, -1 stop popping for now. */
static int pop_one(void *arg)
{
	struct blk_queue *q = arg;
	struct blk_session *s = q->s;
	struct virtq_chain c;
	struct blk_req *r = q->free;
	int ret, st;

	if (!r || q->stalled) {
		q->blocked = true; /* resumed from a completion */
		return -1;
	}
	ret = virtq_pop(q->vq, &c, r->iov, IOV_PER_REQ);
	if (ret == 0)
		return 0;
	if (ret < 0) {
		blk_warn(s->dev, "queue %u is broken; the device needs a reset", q->idx);
		q->stopped = true;
		s->ctx.needs_reset(s->ctx.irq_opaque);
		return -1;
	}
	q->free = r->next;
	s->held++;
	r->head = c.head;
	st = blk_req_parse(r, &c);
	if (st >= 0)
		complete(r, (uint8_t)st);
	else
		start(r);
	return 1;
}

static void run_queue(struct blk_queue *q)
{
	if (q->stopped || !q->vq->size || q->more)
		return;
	q->resume = false;
	q->blocked = false;
	while (q->stalled) {
		struct blk_req *r = q->stalled;

		if (!submit(r))
			return;
		q->stalled = r->next;
	}
	if (virtq_serve(q->vq, pop_one, q, q->vq->size)) {
		q->more = true;
		event_loop_later(q->s->ctx.loop, &q->s->dev->later);
	}
}

static bool dying(struct virtio_blk *dev)
{
	return virtio_dev_dying(dev, dev->dying, &dev->defer, &dev->later);
}

/* After each batch of completions: resume queues, then interrupt the guest once per queue. */
static void deferred(struct ev_defer *d)
{
	struct virtio_blk *dev = (struct virtio_blk *)((uint8_t *)d - offsetof(struct virtio_blk, defer));
	struct blk_session *s = dev->s;

	if (dying(dev) || !s)
		return;
	for (unsigned i = 0; i < s->nq; i++) {
		struct blk_queue *q = &s->q[i];

		if (q->resume)
			run_queue(q);
		if (q->need_irq) {
			q->need_irq = false;
			if (virtq_should_interrupt(q->vq))
				s->ctx.interrupt(s->ctx.irq_opaque, i);
		}
	}
}

/* The loop's next turn after queues used up their budget: another run each. */
static void serve_later(struct ev_defer *d)
{
	struct virtio_blk *dev = (struct virtio_blk *)((uint8_t *)d - offsetof(struct virtio_blk, later));
	struct blk_session *s = dev->s;

	if (dying(dev) || !s)
		return;
	for (unsigned i = 0; i < s->nq; i++) {
		if (s->q[i].more) {
			s->q[i].more = false;
			run_queue(&s->q[i]);
		}
	}
	event_loop_defer(s->ctx.loop, &dev->defer); /* their interrupts */
}

static void blk_notify(void *opaque, unsigned qi)
{
	struct virtio_blk *dev = opaque;
	struct blk_session *s = dev->s;

	if (!s || qi >= s->nq)
		return;
	run_queue(&s->q[qi]);
	event_loop_defer(s->ctx.loop, &dev->defer); /* immediate completions want their interrupt */
}

static int blk_activate(void *opaque, const struct virtio_ctx *ctx)
{
	struct virtio_blk *dev = opaque;
	size_t req_size = sizeof(struct blk_req) + IOV_PER_REQ * sizeof(struct iovec);
	struct blk_session *s;
	unsigned nq;

	if (dev->s)
		return -EBUSY;
	nq = ctx->nvq < dev->num_queues ? ctx->nvq : dev->num_queues;
	s = calloc(1, sizeof(*s) + nq * sizeof(s->q[0]));
	if (!s)
		return -ENOMEM;
	s->dev = dev;
	s->ctx = *ctx;
	s->nq = nq;
	for (unsigned i = 0; i < nq; i++) {
		struct blk_queue *q = &s->q[i];

		q->s = s;
		q->vq = &ctx->vq[i];
		q->idx = i;
		if (!q->vq->size)
			continue; /* not enabled by the driver */
		q->slab = calloc(q->vq->size, req_size);
		if (!q->slab) {
			free_session(s);
			return -ENOMEM;
		}
		for (unsigned j = q->vq->size; j-- > 0;) {
			struct blk_req *r = (struct blk_req *)((uint8_t *)q->slab + j * req_size);

			r->ev.done = req_done;
			r->q = q;
			r->next = q->free;
			q->free = r;
		}
	}
	dev->s = s;
	return 0;
}

static void blk_reset(void *opaque)
{
	struct virtio_blk *dev = opaque;
	struct blk_session *s = dev->s;

	if (!s)
		return;
	dev->s = NULL;
	s->resetting = true;
	if (s->inflight == 0) {
		free_session(s); /* stalled requests and waiting flushes had no SQE: dropped with it */
		return;
	}
	s->next_draining = dev->draining; /* its reads may still land in guest memory: inflight() */
	dev->draining = s;
}

static void blk_destroy(void *opaque)
{
	struct virtio_blk *dev = opaque;

	if (!dev)
		return;
	blk_reset(dev);
	for (struct blk_session *s = dev->draining; s; s = s->next_draining)
		s->dev = NULL; /* they free themselves, without us */
	dev->draining = NULL;
	if (dev->defer.queued || dev->later.queued) {
		dev->dying = true; /* the loop still holds a callback of ours: it frees */
		return;
	}
	free(dev);
}

/* Requests holding guest buffers, and a reset session's SQEs still in flight into guest memory. */
static unsigned blk_inflight(void *opaque)
{
	struct virtio_blk *dev = opaque;
	unsigned n = dev->s ? dev->s->held : 0;

	for (const struct blk_session *s = dev->draining; s; s = s->next_draining)
		n += s->inflight;
	return n;
}

/*
 * Nothing of the device changes after creation (no writable configuration: CONFIG_WCE is not
 * offered; inflight() 0 means no request is held). What the guest read stays what it reads: the
 * configuration space (capacity, geometry, limits) and the GET_ID serial are recorded and a restore
 * over a disk that would show the guest other values is refused.
 */
static int blk_save(void *opaque, struct sbuf *out)
{
	struct virtio_blk *dev = opaque;

	sbuf_put(out, &dev->cfg, CONFIG_SIZE);
	sbuf_put(out, dev->serial, sizeof(dev->serial));
	return out->oom ? -ENOMEM : 0;
}

static int blk_restore(void *opaque, struct sreader *in)
{
	struct virtio_blk *dev = opaque;
	uint8_t cfg[CONFIG_SIZE];
	char serial[VIRTIO_BLK_ID_BYTES];

	sr_get(in, cfg, sizeof(cfg));
	sr_get(in, serial, sizeof(serial));
	if (!sr_done(in))
		return -EINVAL;
	if (memcmp(cfg, &dev->cfg, sizeof(cfg)) || memcmp(serial, dev->serial, sizeof(serial))) {
		vlog_err(dev->log, "disk '%s': its size, geometry or serial differ from the snapshot's", dev->disk->path);
		return -EINVAL;
	}
	return 0;
}

static uint64_t blk_features(void *opaque)
{
	return ((struct virtio_blk *)opaque)->features;
}

static unsigned blk_num_queues(void *opaque)
{
	return ((struct virtio_blk *)opaque)->num_queues;
}

static void blk_config_read(void *opaque, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, (const uint8_t *)&((struct virtio_blk *)opaque)->cfg + off, len);
}

static void blk_config_write(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	/* Nothing is writable: CONFIG_WCE is not offered. */
	(void)opaque, (void)off, (void)data, (void)len;
}

static unsigned log2u(unsigned v)
{
	return v > 1 ? (unsigned)__builtin_ctz(v) : 0;
}

int virtio_blk_create(struct disk *d, const struct virtio_blk_config_opts *o, const struct vlog *log,
		      void **dev_out)
{
	const char *serial = o && o->serial ? o->serial : "";
	unsigned nq = o && o->num_queues ? o->num_queues : 1;
	struct virtio_blk *dev;
	struct virtio_blk_config *c;

	if (strlen(serial) > VIRTIO_BLK_ID_BYTES) {
		vlog_err(log, "disk '%s': serial '%s' is longer than %d bytes", d->path, serial, VIRTIO_BLK_ID_BYTES);
		return -EINVAL;
	}
	if (nq > VIRTIO_BLK_MAX_QUEUES) {
		vlog_err(log, "disk '%s': %u queues requested, at most %d", d->path, nq, VIRTIO_BLK_MAX_QUEUES);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->disk = d;
	dev->log = log;
	dev->num_queues = nq;
	dev->capacity = d->size >> SECTOR_SHIFT;
	dev->defer.fn = deferred;
	dev->later.fn = serve_later;
	memcpy(dev->serial, serial, strlen(serial)); /* NUL padded, not terminated at 20 */

	dev->features = (1ull << VIRTIO_BLK_F_SIZE_MAX) | (1ull << VIRTIO_BLK_F_SEG_MAX) | (1ull << VIRTIO_BLK_F_BLK_SIZE) |
			(1ull << VIRTIO_BLK_F_TOPOLOGY) | (1ull << VIRTIO_BLK_F_FLUSH);
	if (d->readonly)
		dev->features |= 1ull << VIRTIO_BLK_F_RO;
	if (d->can_discard && !d->readonly)
		dev->features |= 1ull << VIRTIO_BLK_F_DISCARD;
	if (d->can_write_zeroes && !d->readonly)
		dev->features |= 1ull << VIRTIO_BLK_F_WRITE_ZEROES;
	if (nq > 1)
		dev->features |= 1ull << VIRTIO_BLK_F_MQ;

	c = &dev->cfg;
	c->capacity = htole64(dev->capacity);
	c->size_max = htole32(SIZE_MAX_BYTES);
	c->seg_max = htole32(VIRTIO_BLK_QUEUE_SIZE - 2);
	c->blk_size = htole32(d->lbs);
	c->physical_block_exp = (uint8_t)log2u(d->pbs / d->lbs);
	c->alignment_offset = 0;
	c->min_io_size = htole16(1);
	c->opt_io_size = htole32(0);
	c->num_queues = htole16((uint16_t)nq);
	c->max_discard_sectors = htole32(MAX_DISCARD_SECTORS);
	c->max_discard_seg = htole32(MAX_SEGS);
	c->discard_sector_alignment = htole32(d->pbs >> SECTOR_SHIFT);
	c->max_write_zeroes_sectors = htole32(MAX_DISCARD_SECTORS);
	c->max_write_zeroes_seg = htole32(MAX_SEGS);
	c->write_zeroes_may_unmap = d->can_discard ? 1 : 0;
	*dev_out = dev;
	return 0;
}

const struct virtio_device_ops virtio_blk_ops = {
	.name = "virtio-blk",
	.device_id = VIRTIO_ID_BLOCK,
	.pci_class = 0x010000, /* mass storage, SCSI (as other VMMs report virtio-blk) */
	.features = blk_features,
	.num_queues = blk_num_queues,
	.queue_max_size = VIRTIO_BLK_QUEUE_SIZE,
	.config_size = CONFIG_SIZE,
	.config_read = blk_config_read,
	.config_write = blk_config_write,
	.activate = blk_activate,
	.reset = blk_reset,
	.notify = blk_notify,
	.destroy = blk_destroy,
	.inflight = blk_inflight,
	.save = blk_save,
	.restore = blk_restore,
};
