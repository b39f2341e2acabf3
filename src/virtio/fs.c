// SPDX-License-Identifier: Apache-2.0
/* virtio-fs on a vhost-user backend: our configuration space, the backend's queues (virtio/fs.h). */
#include "virtio/fs.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ids.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_fs_config) == 40, "virtio_fs_config layout");

/* What the transport offers the guest on its own: the backend must do all of it. */
#define TRANSPORT_FEATURES \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))
/*
 * Device feature bits passed through from the backend: none yet (VIRTIO_FS_F_NOTIFICATION needs a
 * notification queue, which we do not create).
 */
#define PASSED_FEATURES 0ull

struct virtio_fs {
	struct vhost_user *vu;
	const struct vlog *log;
	char tag[VIRTIO_FS_TAG_MAX + 1];
	unsigned nq;                 /* 1 + request queues */
	uint64_t backend_features;
	struct virtio_fs_config cfg; /* fixed at create: read without a lock */
	bool active;                 /* the I/O thread's */
};

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
	*dev_out = dev;
	return 0;
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
}

static void fs_notify(void *opaque, unsigned q)
{
	struct virtio_fs *dev = opaque;

	if (dev->active)
		vhost_user_kick(dev->vu, q);
}

static void fs_destroy(void *opaque)
{
	struct virtio_fs *dev = opaque;

	fs_reset(dev);
	vhost_user_close(dev->vu);
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
