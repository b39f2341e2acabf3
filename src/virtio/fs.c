// SPDX-License-Identifier: Apache-2.0
/* virtio-fs on a vhost-user backend: our configuration space, the backend's queues (virtio/fs.h). */
#include "virtio/fs.h"

#include <endian.h>
#include <errno.h>
#include <linux/fuse.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_fs_config) == 40, "virtio_fs_config layout");
_Static_assert(sizeof(struct fuse_out_header) == 16, "fuse_out_header layout");
_Static_assert(offsetof(struct fuse_in_header, unique) == 8, "fuse_in_header layout");

/* What the transport offers the guest on its own: the backend must do all of it. */
#define TRANSPORT_FEATURES \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))
/*
 * Device feature bits passed through from the backend: none yet (VIRTIO_FS_F_NOTIFICATION needs a
 * notification queue, which we do not create).
 */
#define PASSED_FEATURES 0ull

struct virtio_fs;

/* A queue we answer ourselves once the backend broke. */
struct fs_queue {
	struct virtio_fs *dev;
	struct virtq *vq;
	bool served; /* taken over (its rings could be trusted) */
	bool more;   /* the budget ran out: serve_later() goes on */
	unsigned done; /* chains answered since the last interrupt check */
};

struct virtio_fs {
	struct vhost_user *vu;
	const struct vlog *log;
	char tag[VIRTIO_FS_TAG_MAX + 1];
	unsigned nq;                 /* 1 + request queues */
	uint64_t backend_features;
	struct virtio_fs_config cfg; /* fixed at create: read without a lock */
	/* The I/O thread's. */
	bool active;
	bool dead;                   /* the backend broke while active: we answer every request with EIO */
	bool dying;                  /* destroyed while later was queued: serve_later() frees */
	struct virtio_ctx ctx;       /* while active */
	struct fs_queue q[1 + VIRTIO_FS_MAX_REQUEST_QUEUES];
	struct ev_defer later;
	uint16_t heads[VIRTQ_MAX_SIZE];
	struct iovec iov[VIRTQ_MAX_SIZE]; /* a chain has at most VIRTQ_MAX_SIZE buffers (queue.h) */
};

static void backend_broke(void *opaque);
static void serve_later(struct ev_defer *d);

int virtio_fs_create(const struct virtio_fs_opts *o, struct vhost_user *vu, const struct vlog *log, void **dev_out)
{
	unsigned queues = o->queues ? o->queues : 1;
	size_t tlen = o->tag ? strlen(o->tag) : 0;
	uint64_t bf = vhost_user_features(vu);
	struct virtio_fs *dev;

	if (tlen == 0 || tlen > VIRTIO_FS_TAG_MAX || queues > VIRTIO_FS_MAX_REQUEST_QUEUES) {
		vlog_err(log, "virtio-fs: the tag must be 1 to %d bytes and request queues 1 to %d",
			 VIRTIO_FS_TAG_MAX, VIRTIO_FS_MAX_REQUEST_QUEUES);
		return -EINVAL;
	}
	if ((bf & TRANSPORT_FEATURES) != TRANSPORT_FEATURES) {
		vlog_err(log, "virtio-fs '%s': the vhost-user backend lacks virtio features vmm needs (it offers 0x%llx; "
			 "VERSION_1, EVENT_IDX and INDIRECT_DESC are required)", o->tag, (unsigned long long)bf);
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev)
		return -ENOMEM;
	dev->vu = vu;
	dev->log = log;
	memcpy(dev->tag, o->tag, tlen);
	memcpy(dev->cfg.tag, o->tag, tlen); /* not NUL-terminated when 36 bytes long, padded with NULs */
	dev->cfg.num_request_queues = htole32(queues);
	dev->nq = 1 + queues;
	dev->backend_features = bf;
	dev->later.fn = serve_later;
	for (unsigned i = 0; i < dev->nq; i++)
		dev->q[i].dev = dev;
	vhost_user_on_broken(vu, backend_broke, dev);
	*dev_out = dev;
	return 0;
}

/* --- Without a backend: every request fails with EIO --- */

/*
 * Answer one chain as a FUSE server that failed: a fuse_out_header { len 16, error -EIO, unique of
 * the request's fuse_in_header } in the chain's device-writable buffers. Returns the bytes written:
 * 16, or 0 when the chain was malformed or has no room for the header (a FORGET has none: it wants
 * no answer, only its buffers back). Guest memory only through the chain's checked iov.
 */
static uint32_t answer_eio(const struct virtq_chain *c, const struct iovec *iov)
{
	struct fuse_in_header in = { .unique = 0 };
	struct fuse_out_header out;
	uint8_t *p = (uint8_t *)&in;
	size_t left = sizeof(in);

	if (c->bad || c->in_len < sizeof(out))
		return 0;
	/* Copied once: the guest may change its buffers meanwhile. Short: unique stays 0. */
	if (c->out_len >= offsetof(struct fuse_in_header, unique) + sizeof(in.unique)) {
		for (unsigned i = 0; i < c->nout && left; i++) {
			size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;

			memcpy(p, iov[i].iov_base, n);
			p += n;
			left -= n;
		}
	}
	out = (struct fuse_out_header){
		.len = htole32(sizeof(out)),
		.error = (int32_t)htole32((uint32_t)-EIO),
		.unique = in.unique, /* little-endian as it came */
	};
	p = (uint8_t *)&out;
	left = sizeof(out);
	for (unsigned i = c->nout; i < c->niov && left; i++) {
		size_t n = iov[i].iov_len < left ? iov[i].iov_len : left;

		memcpy(iov[i].iov_base, p, n);
		p += n;
		left -= n;
	}
	return sizeof(out);
}

/* virtq_serve()'s take: the next chain, answered at once. */
static int take_one(void *arg)
{
	struct fs_queue *q = arg;
	struct virtio_fs *dev = q->dev;
	struct virtq_chain c;
	int ret = virtq_pop(q->vq, &c, dev->iov, VIRTQ_MAX_SIZE);

	if (ret != 1)
		return ret;
	virtq_push(q->vq, c.head, answer_eio(&c, dev->iov));
	q->done++;
	return 1;
}

static void interrupt_if(struct virtio_fs *dev, struct fs_queue *q)
{
	if (q->done && virtq_should_interrupt(q->vq))
		dev->ctx.interrupt(dev->ctx.irq_opaque, (unsigned)(q - dev->q));
	q->done = 0;
}

static void serve(struct virtio_fs *dev, struct fs_queue *q)
{
	if (!q->served || q->more)
		return;
	/* A queue's worth per turn: a guest re-posting as fast as we answer must not pin the I/O thread. */
	if (virtq_serve(q->vq, take_one, q, q->vq->size)) {
		q->more = true;
		event_loop_later(dev->ctx.loop, &dev->later);
	}
	interrupt_if(dev, q);
}

static void serve_later(struct ev_defer *d)
{
	struct virtio_fs *dev = (struct virtio_fs *)((uint8_t *)d - offsetof(struct virtio_fs, later));

	if (virtio_dev_dying(dev, dev->dying, &dev->later, &dev->later) || !dev->dead)
		return;
	for (unsigned i = 0; i < dev->nq; i++) {
		if (dev->q[i].more) {
			dev->q[i].more = false;
			serve(dev, &dev->q[i]);
		}
	}
}

/*
 * vhost_user's on_broken, on the I/O thread: the backend died or sent garbage. Every chain it
 * held gets its EIO answer now (each exactly once: vhost_user_orphans() names only chains made
 * available and never completed), then whatever the guest posted meanwhile and posts later.
 */
static void backend_broke(void *opaque)
{
	struct virtio_fs *dev = opaque;

	if (!dev->active || dev->dead)
		return;
	dev->dead = true;
	for (unsigned i = 0; i < dev->nq && i < dev->ctx.nvq; i++) {
		struct fs_queue *q = &dev->q[i];
		struct virtq_pos pos;
		int n;

		q->vq = &dev->ctx.vq[i];
		if (!q->vq->size)
			continue; /* disabled: never started */
		n = vhost_user_orphans(dev->vu, i, dev->heads, VIRTQ_MAX_SIZE, &pos);
		if (n < 0 || virtq_set_pos(q->vq, &pos))
			continue; /* rings not to be trusted: the queue waits for the guest's reset */
		q->served = true;
		for (int k = 0; k < n; k++) {
			struct virtq_chain c;

			if (virtq_walk(q->vq, dev->heads[k], &c, dev->iov, VIRTQ_MAX_SIZE) == 1) {
				virtq_push(q->vq, c.head, answer_eio(&c, dev->iov));
				q->done++;
			}
		}
		interrupt_if(dev, q);
		serve(dev, q);
	}
}

static uint64_t fs_features(void *opaque)
{
	struct virtio_fs *dev = opaque;

	return (1ull << VIRTIO_F_VERSION_1) | (dev->backend_features & PASSED_FEATURES);
}

static unsigned fs_num_queues(void *opaque)
{
	return ((struct virtio_fs *)opaque)->nq;
}

static void fs_config_read(void *opaque, uint32_t off, void *data, uint32_t len)
{
	struct virtio_fs *dev = opaque;

	memcpy(data, (const uint8_t *)&dev->cfg + off, len); /* off + len <= config_size: the transport's check */
}

static void fs_config_write(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	(void)opaque;
	(void)off;
	(void)data;
	(void)len; /* read-only */
}

static int fs_activate(void *opaque, const struct virtio_ctx *ctx)
{
	struct virtio_fs *dev = opaque;
	int ret;

	if (ctx->features & ~dev->backend_features)
		return -EINVAL; /* cannot happen: only offered bits are negotiated, all of them the backend's */
	/* Only the negotiated bits: EVENT_IDX and INDIRECT_DESC change the ring layout the backend sees. */
	dev->ctx = *ctx;
	ret = vhost_user_start(dev->vu, ctx, ctx->features);
	if (ret)
		return ret;
	dev->active = true;
	return 0;
}

static void fs_reset(void *opaque)
{
	struct virtio_fs *dev = opaque;

	if (!dev->active)
		return;
	vhost_user_stop(dev->vu);
	dev->active = false;
	dev->dead = false;
	for (unsigned i = 0; i < dev->nq; i++)
		dev->q[i] = (struct fs_queue){ .dev = dev };
}

static void fs_notify(void *opaque, unsigned q)
{
	struct virtio_fs *dev = opaque;

	if (!dev->active)
		return;
	if (dev->dead) {
		if (q < dev->nq)
			serve(dev, &dev->q[q]);
		return;
	}
	vhost_user_kick(dev->vu, q);
}

static void fs_destroy(void *opaque)
{
	struct virtio_fs *dev = opaque;

	fs_reset(dev);
	vhost_user_close(dev->vu);
	if (dev->later.queued) {
		dev->dying = true; /* the loop still holds serve_later(): it frees */
		return;
	}
	free(dev);
}

static int fs_save(void *opaque, struct sbuf *out)
{
	struct virtio_fs *dev = opaque;

	(void)out;
	vlog_err(dev->log, "cannot snapshot: virtio-fs '%s' is served by a vhost-user backend whose state vmm cannot save",
		 dev->tag);
	return -ENOTSUP;
}

const struct virtio_device_ops virtio_fs_ops = {
	.name = "virtio-fs",
	.logs_own_reset = true, /* vhost_user.c's line says the backend died or misbehaved */
	.device_id = VIRTIO_ID_FS,
	.pci_class = 0x018000, /* mass storage, other (as QEMU's vhost-user-fs-pci) */
	.features = fs_features,
	.num_queues = fs_num_queues,
	.queue_max_size = VIRTIO_FS_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_fs_config),
	.config_read = fs_config_read,
	.config_write = fs_config_write,
	.activate = fs_activate,
	.reset = fs_reset,
	.notify = fs_notify,
	.destroy = fs_destroy,
	.save = fs_save,
};
