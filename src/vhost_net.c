// SPDX-License-Identifier: Apache-2.0
/* vhost-net: a virtio-net queue pair served by the host kernel (vhost_net.h). */
#include "vhost_net.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "event_loop.h"
#include "memory.h"
#include "virtio/queue.h"

/* The ring layout the kernel must know; everything else negotiated is the device's or the tap's. */
#define RING_FEATURES                                                                                     \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ull << VIRTIO_NET_F_MRG_RXBUF))

struct vn_ring {
	struct vhost_net *vn;
	unsigned q;       /* the device's queue index */
	int call;         /* our eventfd, the kernel's VHOST_SET_VRING_CALL */
	int watch;        /* of call, -1 */
	bool kick_lent;   /* the transport's doorbell is the kernel's kick */
	bool call_lent;   /* call is lent to the queue's MSI-X vector */
	struct virtq *vq;
};

struct vn_pair {
	int fd;           /* /dev/vhost-net */
	bool started;
	struct vn_ring r[2]; /* RX, TX */
};

struct vhost_net {
	unsigned npairs;
	uint64_t features; /* VHOST_GET_FEATURES */
	struct virtio_ctx ctx;
	struct vn_pair p[];
};

int vhost_net_open(unsigned npairs, struct vhost_net **out)
{
	struct vhost_net *vn;
	int ret = 0;

	*out = NULL;
	if (npairs == 0 || npairs > VHOST_NET_MAX_PAIRS)
		return -EINVAL;
	vn = calloc(1, sizeof(*vn) + npairs * sizeof(vn->p[0]));
	if (!vn)
		return -ENOMEM;
	vn->npairs = npairs;
	for (unsigned i = 0; i < npairs; i++)
		vn->p[i].fd = -1;
	for (unsigned i = 0; i < npairs && !ret; i++) {
		uint64_t f = 0;

		vn->p[i].fd = open("/dev/vhost-net", O_RDWR | O_CLOEXEC);
		if (vn->p[i].fd < 0 || ioctl(vn->p[i].fd, VHOST_SET_OWNER) < 0 ||
		    ioctl(vn->p[i].fd, VHOST_GET_FEATURES, &f) < 0)
			ret = -errno;
		vn->features = i ? vn->features & f : f;
	}
	if (ret) {
		vhost_net_close(vn);
		return ret;
	}
	*out = vn;
	return 0;
}

bool vhost_net_features_ok(uint64_t kernel, uint64_t features)
{
	uint64_t ring = features & RING_FEATURES;
	/* Bits 28..37 are the transport's: any we do not hand the kernel is one it cannot honour. */
	uint64_t transport = features & (((1ull << 38) - 1) & ~((1ull << 28) - 1));

	return (ring & kernel) == ring && (transport & ~RING_FEATURES) == 0;
}

bool vhost_net_supports(const struct vhost_net *vn, uint64_t features)
{
	return vhost_net_features_ok(vn->features, features);
}

bool vhost_net_started(const struct vhost_net *vn, unsigned pair)
{
	return pair < vn->npairs && vn->p[pair].started;
}

/* I/O thread: the kernel signalled a completion on a call eventfd that is not lent (start_ring()): relay it. */
static void call_ready(void *opaque)
{
	struct vn_ring *r = opaque;
	uint64_t n;
	ssize_t got;

	while ((got = read(r->call, &n, sizeof(n))) < 0 && errno == EINTR)
		;
	if (got == (ssize_t)sizeof(n))
		r->vn->ctx.interrupt(r->vn->ctx.irq_opaque, r->q);
}

static int set_mem_table(int fd, const struct guest_mem *m)
{
	struct vhost_memory *t = calloc(1, sizeof(*t) + (size_t)m->nr * sizeof(t->regions[0]));
	int ret = 0;

	if (!t)
		return -ENOMEM;
	t->nregions = (uint32_t)m->nr;
	for (int i = 0; i < m->nr; i++)
		t->regions[i] = (struct vhost_memory_region){
			.guest_phys_addr = m->r[i].gpa,
			.memory_size = m->r[i].size,
			.userspace_addr = (uint64_t)(uintptr_t)m->r[i].hva,
		};
	if (ioctl(fd, VHOST_SET_MEM_TABLE, t) < 0)
		ret = -errno;
	free(t);
	return ret;
}

/* Give everything of ring r back (doorbell, call); the kernel no longer uses them. */
static void put_ring(struct vn_ring *r)
{
	const struct virtio_ctx *c = &r->vn->ctx;

	if (r->watch >= 0)
		event_loop_unwatch(c->loop, r->watch);
	r->watch = -1;
	if (r->kick_lent)
		c->doorbell(c->irq_opaque, r->q, false);
	r->kick_lent = false;
	if (r->call_lent)
		c->lend_call(c->irq_opaque, r->q, r->call, false);
	r->call_lent = false;
	if (r->call >= 0)
		close(r->call);
	r->call = -1;
	r->vq = NULL;
}

static int start_ring(struct vhost_net *vn, struct vn_pair *p, unsigned idx, unsigned q)
{
	const struct virtio_ctx *c = &vn->ctx;
	struct vn_ring *r = &p->r[idx];
	struct virtq *vq = &c->vq[q];
	struct vhost_vring_state num = { .index = idx, .num = vq->size };
	struct vhost_vring_state base = { .index = idx, .num = vq->last_avail };
	struct vhost_vring_addr addr = {
		.index = idx,
		.desc_user_addr = (uint64_t)(uintptr_t)vq->desc,
		.used_user_addr = (uint64_t)(uintptr_t)vq->used,
		.avail_user_addr = (uint64_t)(uintptr_t)vq->avail,
	};
	struct vhost_vring_file kick = { .index = idx }, call = { .index = idx };

	*r = (struct vn_ring){ .vn = vn, .q = q, .call = -1, .watch = -1, .vq = vq };
	if (!vq->size || !c->doorbell)
		return -EINVAL;
	kick.fd = c->doorbell(c->irq_opaque, q, true);
	if (kick.fd < 0)
		return kick.fd;
	r->kick_lent = true;
	r->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->call < 0)
		return -errno;
	call.fd = r->call;
	/* Lent: KVM delivers every completion (virtio_ctx.lend_call); else we relay each. */
	r->call_lent = c->lend_call && c->lend_call(c->irq_opaque, q, r->call, true) == 0;
	if (!r->call_lent) {
		r->watch = event_loop_watch(c->loop, r->call, call_ready, r);
		if (r->watch < 0)
			return r->watch;
	}
	if (ioctl(p->fd, VHOST_SET_VRING_NUM, &num) < 0 || ioctl(p->fd, VHOST_SET_VRING_BASE, &base) < 0 ||
	    ioctl(p->fd, VHOST_SET_VRING_ADDR, &addr) < 0 || ioctl(p->fd, VHOST_SET_VRING_KICK, &kick) < 0 ||
	    ioctl(p->fd, VHOST_SET_VRING_CALL, &call) < 0)
		return -errno;
	return 0;
}

/* Detach the tap, take each ring's position back into its struct virtq, unbind kick and call. */
static void stop_pair(struct vn_pair *p)
{
	for (unsigned idx = 0; idx < 2; idx++) {
		struct vn_ring *r = &p->r[idx];
		struct vhost_vring_file off = { .index = idx, .fd = -1 };
		struct vhost_vring_state base = { .index = idx };

		ioctl(p->fd, VHOST_NET_SET_BACKEND, &off); /* refused harmlessly where none was set */
		if (r->vq && ioctl(p->fd, VHOST_GET_VRING_BASE, &base) == 0) {
			r->vq->last_avail = (uint16_t)base.num;
			r->vq->used_idx = le16toh(__atomic_load_n(&r->vq->used->idx, __ATOMIC_ACQUIRE));
			r->vq->signalled_valid = false; /* the kernel's own record of it stays with it */
		}
		ioctl(p->fd, VHOST_SET_VRING_KICK, &off);
		ioctl(p->fd, VHOST_SET_VRING_CALL, &off);
		put_ring(r);
	}
	p->started = false;
}

int vhost_net_start(struct vhost_net *vn, unsigned pair, const struct virtio_ctx *ctx, int tap_fd,
		    const struct vlog *log)
{
	struct vn_pair *p;
	uint64_t f = ctx->features & RING_FEATURES;
	int ret = 0;

	if (pair >= vn->npairs || vn->p[pair].started || 2 * pair + 1 >= ctx->nvq)
		return -EINVAL;
	p = &vn->p[pair];
	vn->ctx = *ctx;
	if (ioctl(p->fd, VHOST_SET_FEATURES, &f) < 0)
		ret = -errno;
	ret = ret ?: set_mem_table(p->fd, ctx->mem);
	for (unsigned idx = 0; idx < 2; idx++)
		p->r[idx] = (struct vn_ring){ .vn = vn, .q = 2 * pair + idx, .call = -1, .watch = -1 };
	for (unsigned idx = 0; idx < 2 && !ret; idx++)
		ret = start_ring(vn, p, idx, 2 * pair + idx);
	for (unsigned idx = 0; idx < 2 && !ret; idx++) {
		struct vhost_vring_file be = { .index = idx, .fd = tap_fd };

		if (ioctl(p->fd, VHOST_NET_SET_BACKEND, &be) < 0)
			ret = -errno;
	}
	if (ret) {
		vlog_err(log, "vhost-net: cannot start queue pair %u: %s", pair, strerror(-ret));
		stop_pair(p);
		return ret;
	}
	p->started = true;
	return 0;
}

void vhost_net_stop(struct vhost_net *vn, unsigned pair)
{
	if (pair < vn->npairs && vn->p[pair].started)
		stop_pair(&vn->p[pair]);
}

void vhost_net_close(struct vhost_net *vn)
{
	if (!vn)
		return;
	for (unsigned i = 0; i < vn->npairs; i++)
		if (vn->p[i].fd >= 0)
			close(vn->p[i].fd);
	free(vn);
}
