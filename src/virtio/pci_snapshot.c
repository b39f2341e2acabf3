// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot and restore of a virtio-pci function: its PCI configuration space and MSI-X state, the
 * transport registers, each queue's registers and position, and the device's own state.
 *
 * The record (version 1; integers little-endian):
 *   u16 device id, u16 queue count          a restore into another device kind or shape is refused
 *   u32 n, n bytes: pci_dev_save()          length-prefixed, so the whole record is checked first
 *   u32 n, n bytes: msix_save()
 *   u8 status, u32 dfselect, u32 gfselect, u64 driver features, u16 config vector, u16 queue select,
 *   u8 config generation, u8 ISR
 *   per queue: u16 size, u16 vector, u8 enabled, u64 desc, avail, used, then struct virtq_pos (u16
 *   last_avail, u16 used_idx, u16 signalled_used, u8 signalled_valid; zeros when not active)
 *   u32 n, n bytes: the device's save() (n = 0 without one)
 *
 * Restore checks every field a guest write could not have produced before touching the function,
 * then applies the configuration space (its bar_update hook registers the doorbells), MSI-X, the
 * registers, and for a live device (DRIVER_OK, neither NEEDS_RESET nor FAILED) re-activates it as
 * DRIVER_OK does (the same ring checks, the same ops->activate) with its queues continuing from the
 * saved positions, then hands the device its bytes. A live device's enabled queues get their
 * doorbell rung: on the loop's first turn each is served once (chains the guest posted before the
 * snapshot) and interrupts the guest once (a completion whose interrupt the snapshot cut off; a
 * spurious one is harmless). Anything refused leaves the function as set-up made it.
 */
#include "virtio/pci_common.h"

#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"

#define LEGAL_STATUS                                                                                    \
	(VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER | VIRTIO_CONFIG_S_DRIVER_OK |             \
	 VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED)
#define ISR_BITS 0x3 /* queue, configuration */

struct saved_queue {
	uint16_t size, vector;
	bool enabled;
	uint64_t desc, avail, used;
	struct virtq_pos pos;
};

struct saved {
	struct sreader pci, msix, dev; /* the nested records */
	uint8_t status, generation, isr;
	uint32_t dfselect, gfselect;
	uint64_t driver_features;
	uint16_t config_vector, queue_sel;
	struct saved_queue q[VIRTIO_PCI_MAX_QUEUES];
};

/* --- Save (I/O thread, vCPUs paused) --- */

/* u32 length, then what save wrote. */
static int put_nested(struct sbuf *out, const struct sbuf *sub)
{
	if (sub->oom || sub->len > UINT32_MAX)
		return -ENOMEM;
	sbuf_u32(out, (uint32_t)sub->len);
	sbuf_put(out, sub->data, sub->len);
	return 0;
}

static int vp_save(void *dev, struct sbuf *out)
{
	struct virtio_pci *t = dev;
	struct sbuf sub;
	int ret;

	sbuf_u16(out, t->ops->device_id);
	sbuf_u16(out, (uint16_t)t->nq);

	sbuf_init(&sub);
	pci_dev_save(&t->pci, &sub);
	ret = put_nested(out, &sub);
	sbuf_free(&sub);
	if (ret == 0) {
		msix_save(&t->msix, &sub);
		ret = put_nested(out, &sub);
		sbuf_free(&sub);
	}
	if (ret < 0)
		return ret;

	pthread_mutex_lock(&t->lock);
	sbuf_u8(out, t->status);
	sbuf_u32(out, t->dfselect);
	sbuf_u32(out, t->gfselect);
	sbuf_u64(out, t->driver_features);
	sbuf_u16(out, t->config_vector);
	sbuf_u16(out, t->queue_sel);
	sbuf_u8(out, t->generation);
	pthread_mutex_lock(&t->irq_lock); /* lock and irq_lock are never taken the other way round */
	sbuf_u8(out, t->isr);
	pthread_mutex_unlock(&t->irq_lock);
	for (unsigned i = 0; i < t->nq; i++) {
		const struct vp_queue *vq = &t->q[i];
		struct virtq_pos pos = { 0 };

		sbuf_u16(out, vq->size);
		sbuf_u16(out, vq->vector);
		sbuf_bool(out, vq->enabled);
		sbuf_u64(out, vq->desc);
		sbuf_u64(out, vq->avail);
		sbuf_u64(out, vq->used);
		if (t->active && t->vq[i].size)
			virtq_get_pos(&t->vq[i], &pos); /* the I/O thread's: we are on it */
		virtq_pos_save(&pos, out);
	}
	pthread_mutex_unlock(&t->lock);

	sbuf_init(&sub);
	ret = t->ops->save ? t->ops->save(t->dev, &sub) : 0;
	if (ret == 0)
		ret = put_nested(out, &sub);
	sbuf_free(&sub);
	if (ret < 0)
		return ret;
	return out->oom ? -ENOMEM : 0;
}

/* --- Restore (before the vCPUs run and before the I/O thread starts) --- */

/* A u32 length and that many bytes, as a reader of their own. */
static void take_nested(struct sreader *in, struct sreader *sub)
{
	uint32_t n = sr_u32(in);

	if (!sr_ok(in) || n > in->len - in->off) {
		sr_fail(in);
		sreader_init(sub, NULL, 0);
		sub->bad = true;
		return;
	}
	sreader_init(sub, in->p + in->off, n);
	in->off += n;
}

static bool vector_ok(const struct virtio_pci *t, uint16_t v)
{
	return v == VIRTIO_MSI_NO_VECTOR || v < t->msix.nvec;
}

static bool live(uint8_t status)
{
	return (status & VIRTIO_CONFIG_S_DRIVER_OK) &&
	       !(status & (VIRTIO_CONFIG_S_NEEDS_RESET | VIRTIO_CONFIG_S_FAILED));
}

/* Read the whole record into s and check what can be checked without guest memory. 0 or -EINVAL. */
static int parse(struct virtio_pci *t, struct sreader *in, struct saved *s)
{
	uint16_t id = sr_u16(in), nq = sr_u16(in);

	if (!sr_ok(in))
		return -EINVAL;
	if (id != t->ops->device_id || nq != t->nq) {
		vlog_err(t->log, "%s: the snapshot holds virtio device %u with %u queues here, not device %u with %u",
			 t->ops->name, id, nq, t->ops->device_id, t->nq);
		return -EINVAL;
	}
	take_nested(in, &s->pci);
	take_nested(in, &s->msix);
	s->status = sr_u8(in);
	s->dfselect = sr_u32(in);
	s->gfselect = sr_u32(in);
	s->driver_features = sr_u64(in);
	s->config_vector = sr_u16(in);
	s->queue_sel = sr_u16(in);
	s->generation = sr_u8(in);
	s->isr = sr_u8(in);
	for (unsigned i = 0; i < t->nq; i++) {
		struct saved_queue *q = &s->q[i];

		q->size = sr_u16(in);
		q->vector = sr_u16(in);
		q->enabled = sr_bool(in);
		q->desc = sr_u64(in);
		q->avail = sr_u64(in);
		q->used = sr_u64(in);
		virtq_pos_load(&q->pos, in);
	}
	take_nested(in, &s->dev);
	if (!sr_done(in))
		return -EINVAL;

	/* Only what the status machine (pci_common.c) lets a driver reach. */
	if ((s->status & ~LEGAL_STATUS) ||
	    ((s->status & VIRTIO_CONFIG_S_DRIVER_OK) && !(s->status & VIRTIO_CONFIG_S_FEATURES_OK)) ||
	    ((s->status & VIRTIO_CONFIG_S_FEATURES_OK) && !(s->driver_features & (1ull << VIRTIO_F_VERSION_1)))) {
		vlog_debug(t->log, "%s: saved device status 0x%x is not one a driver can reach", t->ops->name,
			   s->status);
		return -EINVAL;
	}
	if (s->driver_features & ~t->offered) {
		vlog_debug(t->log, "%s: saved driver features 0x%llx were not offered (0x%llx)", t->ops->name,
			   (unsigned long long)s->driver_features, (unsigned long long)t->offered);
		return -EINVAL;
	}
	if (!vector_ok(t, s->config_vector) || (s->isr & ~ISR_BITS))
		return -EINVAL;
	for (unsigned i = 0; i < t->nq; i++) {
		const struct saved_queue *q = &s->q[i];

		if (!q->size || q->size > t->max_size || (q->size & (q->size - 1)) || !vector_ok(t, q->vector) ||
		    !virtq_pos_valid(&q->pos, q->size)) {
			vlog_debug(t->log, "%s: saved queue %u (size %u, vector %u) is invalid", t->ops->name, i,
				   q->size, q->vector);
			return -EINVAL;
		}
	}
	return 0;
}

/* lock held: the registers as saved. */
static void apply_registers(struct virtio_pci *t, const struct saved *s)
{
	t->status = s->status;
	t->dfselect = s->dfselect;
	t->gfselect = s->gfselect;
	t->driver_features = s->driver_features;
	t->config_vector = s->config_vector;
	t->queue_sel = s->queue_sel;
	t->generation = s->generation;
	for (unsigned i = 0; i < t->nq; i++) {
		struct vp_queue *vq = &t->q[i];
		const struct saved_queue *q = &s->q[i];

		vq->size = q->size;
		vq->vector = q->vector;
		vq->enabled = q->enabled;
		vq->desc = q->desc;
		vq->avail = q->avail;
		vq->used = q->used;
	}
}

struct restore_call {
	struct virtio_pci *t;
	struct sreader *dev;
	bool activate;
	bool active; /* out: activated */
	int ret;     /* out: the device's restore */
};

/* I/O thread (inline while the loop is not running): activate as DRIVER_OK does, then the device's state. */
static void restore_on_loop(void *arg)
{
	struct restore_call *c = arg;
	struct virtio_pci *t = c->t;

	c->active = c->activate && virtio_pci_activate(t) == 0; /* failed: NEEDS_RESET, as for the guest */
	if (t->ops->restore)
		c->ret = t->ops->restore(t->dev, c->dev);
	else
		c->ret = c->dev->len ? -EINVAL : 0;
	if (c->ret == 0 && !sr_done(c->dev))
		c->ret = -EINVAL; /* the device left bytes unread */
}

/* Back to the function as set-up made it (pci and msix hold what it had then). op_lock held. */
static void roll_back(struct virtio_pci *t, bool device_too, uint8_t generation, const struct sbuf *pci,
		      const struct sbuf *msix)
{
	struct sreader r;

	virtio_pci_common_reset(t, device_too);
	pthread_mutex_lock(&t->lock);
	t->generation = generation;
	pthread_mutex_unlock(&t->lock);
	sreader_init(&r, pci->data, pci->len);
	if (pci_dev_restore(&t->pci, &r) < 0)
		vlog_err(t->log, "%s: cannot put the PCI function back as it was", t->ops->name);
	sreader_init(&r, msix->data, msix->len);
	if (msix_restore(&t->msix, &r) < 0)
		vlog_err(t->log, "%s: cannot put MSI-X back as it was", t->ops->name);
}

static int vp_restore(void *dev, struct sreader *in)
{
	struct virtio_pci *t = dev;
	struct restore_call call = { .t = t };
	struct sbuf pci_was, msix_was;
	struct saved *s;
	uint8_t generation;
	bool pci_done = false;
	int ret;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = parse(t, in, s);
	if (ret < 0) {
		sr_fail(in);
		free(s);
		return ret;
	}
	call.dev = &s->dev;
	call.activate = live(s->status);

	sbuf_init(&pci_was);
	sbuf_init(&msix_was);
	pci_dev_save(&t->pci, &pci_was);
	msix_save(&t->msix, &msix_was);
	if (pci_was.oom || msix_was.oom) {
		ret = -ENOMEM;
		goto out;
	}
	pthread_mutex_lock(&t->op_lock);
	pthread_mutex_lock(&t->lock);
	generation = t->generation;
	pthread_mutex_unlock(&t->lock);

	ret = pci_dev_restore(&t->pci, &s->pci); /* bar_update registers the doorbells (takes t->lock) */
	pci_done = ret == 0;
	if (ret == 0 && !sr_done(&s->pci))
		ret = -EINVAL;
	if (ret == 0)
		ret = msix_restore(&t->msix, &s->msix);
	if (ret == 0 && !sr_done(&s->msix))
		ret = -EINVAL;
	if (ret < 0)
		goto fail;

	pthread_mutex_lock(&t->lock);
	apply_registers(t, s);
	if (call.activate && !virtio_pci_prepare_queues(t)) {
		pthread_mutex_unlock(&t->lock);
		vlog_debug(t->log, "%s: a saved queue's rings are not in guest RAM", t->ops->name);
		ret = -EINVAL;
		goto fail;
	}
	for (unsigned i = 0; call.activate && i < t->nq; i++) {
		if (t->vq[i].size && virtq_set_pos(&t->vq[i], &s->q[i].pos) < 0)
			ret = -EINVAL; /* cannot happen: parse() checked it */
	}
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&t->irq_lock);
	t->isr = s->isr; /* the INTx level was re-driven by pci_dev_restore() */
	pthread_mutex_unlock(&t->irq_lock);
	if (ret < 0)
		goto fail;

	event_loop_call(t->loop, restore_on_loop, &call);
	ret = call.ret;
	if (ret < 0) {
		vlog_debug(t->log, "%s: the saved device state is invalid", t->ops->name);
		goto fail;
	}
	if (call.active) {
		pthread_mutex_lock(&t->lock);
		for (unsigned i = 0; i < t->nq; i++)
			t->q[i].restore_irq = t->q[i].enabled;
		pthread_mutex_unlock(&t->lock);
		for (unsigned i = 0; i < t->nq; i++)
			if (t->q[i].enabled)
				virtio_pci_ring_doorbell(t, i);
	}
	pthread_mutex_unlock(&t->op_lock);
	goto out;

fail:
	if (pci_done)
		roll_back(t, call.activate, generation, &pci_was, &msix_was);
	pthread_mutex_unlock(&t->op_lock);
	sr_fail(in);
	ret = ret == -ENOMEM ? ret : -EINVAL;
out:
	sbuf_free(&pci_was);
	sbuf_free(&msix_was);
	free(s);
	return ret;
}

/* On the I/O thread: the device's count (a detached session still draining included), active or not. */
static unsigned vp_inflight(void *dev)
{
	struct virtio_pci *t = dev;

	return t->ops->inflight ? t->ops->inflight(t->dev) : 0;
}

/* On the I/O thread (where the device's active state changes): only an active device has anything to stop. */
static void vp_quiesce(void *dev, bool quiet)
{
	struct virtio_pci *t = dev;
	bool active;

	pthread_mutex_lock(&t->lock);
	active = t->active;
	pthread_mutex_unlock(&t->lock);
	if (active && t->ops->quiesce)
		t->ops->quiesce(t->dev, quiet);
}

const struct vm_device_ops virtio_pci_device_ops = {
	.kind = "virtio-pci",
	.version = 1,
	.save = vp_save,
	.restore = vp_restore,
	.inflight = vp_inflight,
	.quiesce = vp_quiesce,
};
