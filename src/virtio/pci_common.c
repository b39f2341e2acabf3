// SPDX-License-Identifier: Apache-2.0
/* virtio-pci common configuration: register decode with width checks, feature negotiation, the status machine. */
#include "virtio/pci_common.h"

#include <endian.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <string.h>

_Static_assert(sizeof(struct virtio_pci_common_cfg) == 56, "common configuration layout");

static uint64_t load_le(const void *data, uint32_t len)
{
	uint64_t v = 0;

	memcpy(&v, data, len);
	return le64toh(v);
}

static void store_le(void *data, uint32_t len, uint64_t v)
{
	v = htole64(v);
	memcpy(data, &v, len);
}

/* I/O thread (event_loop_call). */
static void do_reset(void *arg)
{
	struct virtio_pci *t = arg;

	if (t->ops->reset)
		t->ops->reset(t->dev);
	pthread_mutex_lock(&t->lock);
	t->active = false;
	pthread_mutex_unlock(&t->lock);
}

int virtio_pci_activate(struct virtio_pci *t)
{
	int ret = t->ops->activate(t->dev, &t->ctx);

	pthread_mutex_lock(&t->lock);
	if (ret < 0)
		t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	else
		t->active = true;
	pthread_mutex_unlock(&t->lock);
	if (ret < 0) {
		virtio_pci_device_error(t);
		guest_warn(t, "%s: activation failed: %s", t->ops->name, strerror(-ret)); /* the guest can repeat it */
		virtio_pci_config_interrupt(t);
	}
	return ret;
}

/* I/O thread (event_loop_call). */
static void do_activate(void *arg)
{
	struct virtio_pci *t = arg;

	if (virtio_pci_activate(t) < 0)
		return;
	/* Doorbells rung before DRIVER_OK were dropped: give every enabled queue one look. */
	for (unsigned i = 0; i < t->nq; i++)
		if (t->ctx.vq[i].size)
			t->ops->notify(t->dev, i);
}

void virtio_pci_common_clear(struct virtio_pci *t)
{
	t->status = 0;
	t->dfselect = t->gfselect = 0;
	t->driver_features = 0;
	t->config_vector = VIRTIO_MSI_NO_VECTOR;
	t->queue_sel = 0;
	for (unsigned i = 0; i < t->nq; i++) {
		struct vp_queue *vq = &t->q[i];

		vq->size = t->max_size;
		vq->vector = VIRTIO_MSI_NO_VECTOR;
		vq->enabled = false;
		vq->desc = vq->avail = vq->used = 0;
		vq->restore_irq = false;
	}
}

void virtio_pci_common_reset(struct virtio_pci *t, bool device_too)
{
	if (device_too)
		event_loop_call(t->loop, do_reset, t);
	pthread_mutex_lock(&t->lock);
	virtio_pci_common_clear(t);
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_lock(&t->irq_lock);
	t->isr = 0;
	pci_dev_set_intx(&t->pci, 0);
	pthread_mutex_unlock(&t->irq_lock);
}

bool virtio_pci_prepare_queues(struct virtio_pci *t)
{
	bool event_idx = t->driver_features & (1ull << VIRTIO_RING_F_EVENT_IDX);

	memset(t->vq, 0, sizeof(t->vq));
	for (unsigned i = 0; i < t->nq; i++) {
		struct vp_queue *vq = &t->q[i];

		if (!vq->enabled)
			continue;
		if (virtq_init(&t->vq[i], t->mem, vq->size, vq->desc, vq->avail, vq->used, event_idx) < 0) {
			guest_warn(t, "%s: queue %u (size %u, rings at 0x%llx/0x%llx/0x%llx) is invalid", t->ops->name,
				   i, vq->size, (unsigned long long)vq->desc, (unsigned long long)vq->avail,
				   (unsigned long long)vq->used);
			memset(t->vq, 0, sizeof(t->vq));
			return false;
		}
	}
	t->ctx.mem = t->mem;
	t->ctx.loop = t->loop;
	t->ctx.features = t->driver_features;
	t->ctx.vq = t->vq;
	t->ctx.nvq = t->nq;
	return true;
}

/* op_lock held, lock not. The driver only adds bits; only a reset (0) clears them. */
static void write_status(struct virtio_pci *t, uint8_t val)
{
	bool activate = false, broken = false;
	uint8_t old, new;

	pthread_mutex_lock(&t->lock);
	old = t->status;
	if (!val) {
		pthread_mutex_unlock(&t->lock);
		virtio_pci_common_reset(t, old != 0);
		return;
	}
	new = old | val;
	if ((new & VIRTIO_CONFIG_S_FEATURES_OK) && !(old & VIRTIO_CONFIG_S_FEATURES_OK) &&
	    !(t->driver_features & (1ull << VIRTIO_F_VERSION_1))) {
		guest_warn(t, "%s: the driver did not accept VIRTIO_F_VERSION_1; features refused", t->ops->name);
		new &= (uint8_t)~VIRTIO_CONFIG_S_FEATURES_OK;
	}
	if ((new & VIRTIO_CONFIG_S_DRIVER_OK) && !(old & VIRTIO_CONFIG_S_DRIVER_OK)) {
		if (!(new & VIRTIO_CONFIG_S_FEATURES_OK) || (new & VIRTIO_CONFIG_S_FAILED))
			new &= (uint8_t)~VIRTIO_CONFIG_S_DRIVER_OK; /* out of order: not acted on */
		else if (!(new & VIRTIO_CONFIG_S_NEEDS_RESET))
			broken = !virtio_pci_prepare_queues(t);
		activate = (new & VIRTIO_CONFIG_S_DRIVER_OK) && !(new & VIRTIO_CONFIG_S_NEEDS_RESET) && !broken;
	}
	if (broken)
		new |= VIRTIO_CONFIG_S_NEEDS_RESET;
	t->status = new;
	pthread_mutex_unlock(&t->lock);
	if (broken)
		virtio_pci_device_error(t);
	if (activate)
		event_loop_call(t->loop, do_activate, t);
	if (broken)
		virtio_pci_config_interrupt(t);
}

/* The natural width of the field at off, or 0 for no field. */
static uint32_t field_width(uint32_t off)
{
	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
	case VIRTIO_PCI_COMMON_DF:
	case VIRTIO_PCI_COMMON_GFSELECT:
	case VIRTIO_PCI_COMMON_GF:
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		return 4;
	case VIRTIO_PCI_COMMON_MSIX:
	case VIRTIO_PCI_COMMON_NUMQ:
	case VIRTIO_PCI_COMMON_Q_SELECT:
	case VIRTIO_PCI_COMMON_Q_SIZE:
	case VIRTIO_PCI_COMMON_Q_MSIX:
	case VIRTIO_PCI_COMMON_Q_ENABLE:
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return 2;
	case VIRTIO_PCI_COMMON_STATUS:
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return 1;
	default:
		return 0;
	}
}

static bool is_addr_lo(uint32_t off)
{
	return off == VIRTIO_PCI_COMMON_Q_DESCLO || off == VIRTIO_PCI_COMMON_Q_AVAILLO ||
	       off == VIRTIO_PCI_COMMON_Q_USEDLO;
}

/* The queue address a dword at off (DESCLO..USEDHI) belongs to; *shift: 0 or 32. */
static uint64_t *queue_addr(struct vp_queue *vq, uint32_t off, unsigned *shift)
{
	uint32_t rel = off - VIRTIO_PCI_COMMON_Q_DESCLO;
	uint64_t *addrs[] = { &vq->desc, &vq->avail, &vq->used };

	*shift = rel % 8 ? 32 : 0;
	return addrs[rel / 8];
}

/* lock held. */
static uint32_t common_read(struct virtio_pci *t, uint32_t off)
{
	struct vp_queue *vq = t->queue_sel < t->nq ? &t->q[t->queue_sel] : NULL;
	const uint64_t *addr;
	unsigned shift;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		return t->dfselect;
	case VIRTIO_PCI_COMMON_DF:
		return t->dfselect < 2 ? (uint32_t)(t->offered >> (32 * t->dfselect)) : 0;
	case VIRTIO_PCI_COMMON_GFSELECT:
		return t->gfselect;
	case VIRTIO_PCI_COMMON_GF:
		return t->gfselect < 2 ? (uint32_t)(t->driver_features >> (32 * t->gfselect)) : 0;
	case VIRTIO_PCI_COMMON_MSIX:
		return t->config_vector;
	case VIRTIO_PCI_COMMON_NUMQ:
		return t->nq;
	case VIRTIO_PCI_COMMON_STATUS:
		return t->status;
	case VIRTIO_PCI_COMMON_CFGGENERATION:
		return t->generation;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		return t->queue_sel;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		return vq ? vq->size : 0;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		return vq ? vq->vector : VIRTIO_MSI_NO_VECTOR;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		return vq ? vq->enabled : 0;
	case VIRTIO_PCI_COMMON_Q_NOFF:
		return vq ? vq->idx : 0;
	default: /* the queue addresses */
		if (!vq)
			return 0;
		addr = queue_addr(vq, off, &shift);
		return (uint32_t)(*addr >> shift);
	}
}

/* lock held; not the status. */
static void common_write(struct virtio_pci *t, uint32_t off, uint32_t v)
{
	struct vp_queue *vq = t->queue_sel < t->nq ? &t->q[t->queue_sel] : NULL;
	bool live = t->status & VIRTIO_CONFIG_S_DRIVER_OK;
	uint16_t nvec = t->msix.nvec;
	uint64_t *addr;
	unsigned shift;

	switch (off) {
	case VIRTIO_PCI_COMMON_DFSELECT:
		t->dfselect = v;
		break;
	case VIRTIO_PCI_COMMON_GFSELECT:
		t->gfselect = v;
		break;
	case VIRTIO_PCI_COMMON_GF:
		if ((t->status & VIRTIO_CONFIG_S_FEATURES_OK) || t->gfselect >= 2)
			break;
		shift = 32 * t->gfselect;
		t->driver_features &= ~(0xffffffffull << shift);
		t->driver_features |= ((uint64_t)v << shift) & t->offered; /* only offered bits */
		break;
	case VIRTIO_PCI_COMMON_MSIX:
		t->config_vector = v < nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		break;
	case VIRTIO_PCI_COMMON_Q_SELECT:
		t->queue_sel = (uint16_t)v;
		break;
	case VIRTIO_PCI_COMMON_Q_SIZE:
		if (!vq || live || vq->enabled)
			break;
		if (v && v <= t->max_size && !(v & (v - 1)))
			vq->size = (uint16_t)v;
		else
			guest_warn(t, "%s: queue size %u refused (a power of two up to %u)", t->ops->name, v,
				   t->max_size);
		break;
	case VIRTIO_PCI_COMMON_Q_MSIX:
		if (vq && !live)
			vq->vector = v < nvec ? (uint16_t)v : VIRTIO_MSI_NO_VECTOR;
		break;
	case VIRTIO_PCI_COMMON_Q_ENABLE:
		if (vq && !live && v == 1)
			vq->enabled = true;
		break;
	case VIRTIO_PCI_COMMON_Q_DESCLO:
	case VIRTIO_PCI_COMMON_Q_DESCHI:
	case VIRTIO_PCI_COMMON_Q_AVAILLO:
	case VIRTIO_PCI_COMMON_Q_AVAILHI:
	case VIRTIO_PCI_COMMON_Q_USEDLO:
	case VIRTIO_PCI_COMMON_Q_USEDHI:
		if (!vq || live || vq->enabled)
			break;
		addr = queue_addr(vq, off, &shift);
		*addr = (*addr & ~(0xffffffffull << shift)) | ((uint64_t)v << shift);
		break;
	default: /* read-only: device_feature, num_queues, config_generation, queue_notify_off */
		break;
	}
}

void virtio_pci_common_io(struct virtio_pci *t, uint32_t off, void *data, uint32_t len, bool is_write)
{
	uint32_t width = field_width(off);
	bool pair = width == 4 && len == 8 && is_addr_lo(off); /* a whole 64-bit queue address */
	uint64_t v;

	if (!width || (len != width && !pair)) {
		guest_warn(t, "%s: %u-byte %s at common configuration offset 0x%x ignored", t->ops->name, len,
			   is_write ? "write" : "read", off);
		return;
	}
	pthread_mutex_lock(&t->op_lock);
	if (is_write && off == VIRTIO_PCI_COMMON_STATUS) {
		write_status(t, *(const uint8_t *)data);
		pthread_mutex_unlock(&t->op_lock);
		return;
	}
	pthread_mutex_lock(&t->lock);
	if (is_write) {
		v = load_le(data, len);
		common_write(t, off, (uint32_t)v);
		if (pair)
			common_write(t, off + 4, (uint32_t)(v >> 32));
	} else {
		v = common_read(t, off);
		if (pair)
			v |= (uint64_t)common_read(t, off + 4) << 32;
		store_le(data, len, v);
	}
	pthread_mutex_unlock(&t->lock);
	pthread_mutex_unlock(&t->op_lock);
}
