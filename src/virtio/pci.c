// SPDX-License-Identifier: Apache-2.0
/* The modern virtio-pci transport: capabilities, register decode, status machine, doorbells and interrupts. */
#include "virtio/pci.h"

#include <endian.h>
#include <errno.h>
#include <linux/kvm.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "virtio/pci_common.h"

#define VENDOR_REGION 0x1000 /* length advertised for the common, ISR and notify structures */
#define ISR_QUEUE 0x1
#define ISR_CONFIG 0x2
#define TRANSPORT_FEATURES \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC))

_Static_assert(VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * VIRTIO_PCI_MAX_QUEUES <= VIRTIO_PCI_MSIX_TABLE_OFF,
	       "doorbells overlap the MSI-X table");
_Static_assert(VIRTIO_PCI_MSIX_TABLE_OFF + 16 * MSIX_MAX_VECTORS <= VIRTIO_PCI_MSIX_PBA_OFF,
	       "MSI-X table overlaps the PBA");
_Static_assert(VIRTIO_PCI_MSIX_PBA_OFF + 8 * ((MSIX_MAX_VECTORS + 63) / 64) <= VIRTIO_PCI_BAR_SIZE,
	       "PBA outside the BAR");

/* --- Interrupts (any thread) --- */

/* MSI-X when enabled (ISR kept for completeness), else the ISR bit and a level on INTx. */
static void signal_guest(struct virtio_pci *t, uint16_t vec, uint8_t isr_bit)
{
	bool msix = msix_enabled(&t->msix);

	pthread_mutex_lock(&t->irq_lock);
	t->isr |= isr_bit;
	if (!msix)
		pci_dev_set_intx(&t->pci, 1);
	pthread_mutex_unlock(&t->irq_lock);
	if (msix)
		msix_notify(&t->msix, vec);
}

void virtio_pci_config_interrupt(struct virtio_pci *t)
{
	uint16_t vec;

	pthread_mutex_lock(&t->lock);
	vec = t->config_vector;
	pthread_mutex_unlock(&t->lock);
	signal_guest(t, vec, ISR_CONFIG);
}

/* virtio_ctx.interrupt */
static void queue_interrupt(void *opaque, unsigned q)
{
	struct virtio_pci *t = opaque;
	uint16_t vec;

	if (q >= t->nq)
		return;
	pthread_mutex_lock(&t->lock);
	vec = t->q[q].vector;
	pthread_mutex_unlock(&t->lock);
	signal_guest(t, vec, ISR_QUEUE);
}

void virtio_pci_device_error(struct virtio_pci *t)
{
	unsigned left;

	if (!t->device_error)
		return;
	left = vlog_ration(&t->errors);
	if (!left)
		return;
	if (left == 1)
		vlog_warn(t->log, "%s: the guest keeps breaking the device; further device errors are not reported",
			  t->ops->name);
	t->device_error(t->error_opaque);
}

/* virtio_ctx.needs_reset */
static void needs_reset(void *opaque)
{
	struct virtio_pci *t = opaque;
	bool already;

	pthread_mutex_lock(&t->lock);
	already = t->status & VIRTIO_CONFIG_S_NEEDS_RESET;
	t->status |= VIRTIO_CONFIG_S_NEEDS_RESET;
	pthread_mutex_unlock(&t->lock);
	if (already)
		return; /* reported (two queues broke): the driver's reset clears it */
	if (!t->ops->logs_own_reset)
		guest_warn(t, "%s: the device needs a reset", t->ops->name);
	virtio_pci_device_error(t);
	virtio_pci_config_interrupt(t);
}

/* virtio_ctx.config_changed */
static void config_changed(void *opaque)
{
	struct virtio_pci *t = opaque;

	pthread_mutex_lock(&t->lock);
	t->generation++;
	pthread_mutex_unlock(&t->lock);
	virtio_pci_config_interrupt(t);
}

/* --- Doorbells --- */

static void ring_doorbell(struct vp_queue *vq);

/* I/O thread: a doorbell rang (through KVM or the BAR handler). */
static void doorbell(void *opaque)
{
	struct vp_queue *vq = opaque;
	struct virtio_pci *t = vq->t;
	uint64_t n;
	bool run, irq;

	while (read(vq->efd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	pthread_mutex_lock(&t->lock);
	run = t->active && vq->enabled;
	irq = run && vq->restore_irq;
	vq->restore_irq = false;
	pthread_mutex_unlock(&t->lock);
	if (run)
		t->ops->notify(t->dev, vq->idx);
	/* Restored (virtio/pci_snapshot.c): the interrupt the snapshot may have cut off; a spurious one is harmless. */
	if (irq)
		queue_interrupt(t, vq->idx);
}

void virtio_pci_ring_doorbell(struct virtio_pci *t, unsigned q)
{
	if (q < t->nq)
		ring_doorbell(&t->q[q]);
}

static void ring_doorbell(struct vp_queue *vq)
{
	uint64_t one = 1;

	while (write(vq->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

/* virtio_ctx.doorbell: lend a queue's doorbell eventfd to the device's backend, or take it back. */
static int lend_doorbell(void *opaque, unsigned q, bool take)
{
	struct virtio_pci *t = opaque;
	struct vp_queue *vq;

	if (q >= t->nq || t->q[q].efd < 0)
		return -EINVAL;
	vq = &t->q[q];
	if (take) {
		if (vq->watch >= 0)
			event_loop_unwatch(t->loop, vq->watch); /* on the I/O thread: at once */
		vq->watch = -1;
		return vq->efd;
	}
	if (vq->watch < 0) {
		vq->watch = event_loop_watch(t->loop, vq->efd, doorbell, vq);
		if (vq->watch < 0)
			return vq->watch;
		ring_doorbell(vq); /* what the backend left unread gets looked at */
	}
	return vq->efd;
}

/*
 * virtio_ctx.lend_call: efd signals queue q's MSI-X vector by itself while that vector is live
 * (msix_lend()). The queue's vector cannot change while the device is live (DRIVER_OK), and the
 * device takes efd back before its reset. No lock of ours is held around the MSI-X lock.
 */
static int lend_call(void *opaque, unsigned q, int efd, bool lend)
{
	struct virtio_pci *t = opaque;
	uint16_t vec;

	if (q >= t->nq)
		return -EINVAL;
	if (!lend) {
		msix_unlend(&t->msix, efd);
		return 0;
	}
	pthread_mutex_lock(&t->lock);
	vec = t->q[q].vector;
	pthread_mutex_unlock(&t->lock);
	if (vec == VIRTIO_MSI_NO_VECTOR)
		return -ENOENT;
	if (!msix_enabled(&t->msix))
		return -EAGAIN; /* INTx: the device relays (ISR and level are ours) */
	return msix_lend(&t->msix, vec, efd);
}

/*
 * With t->lock held: (un)register every doorbell with KVM at BAR address addr (0: nothing). Returns
 * 0, or the -errno of the first registration that failed (the caller reports it, lock dropped).
 */
static int ioev_set(struct virtio_pci *t, uint64_t addr, bool assign)
{
	int err = 0;

	if (t->vm_fd < 0 || !addr)
		return 0;
	for (unsigned i = 0; i < t->nq; i++) {
		struct vp_queue *vq = &t->q[i];
		struct kvm_ioeventfd io = {
			.addr = addr + VIRTIO_PCI_NOTIFY_OFF + (uint64_t)VIRTIO_PCI_NOTIFY_MULT * i,
			.len = t->ioev_len,
			.fd = vq->efd,
			.flags = assign ? 0 : KVM_IOEVENTFD_FLAG_DEASSIGN,
		};

		if (!assign && !vq->ioev)
			continue;
		if (ioctl(t->vm_fd, KVM_IOEVENTFD, &io) < 0) {
			/* Not fatal: the doorbell write then exits to the BAR handler, which rings efd. */
			if (assign && !err)
				err = -errno;
			vq->ioev = false;
			continue;
		}
		vq->ioev = assign;
	}
	t->ioev_addr = assign ? addr : 0;
	return err;
}

/* pci_dev_ops.bar_update: the BAR moved or memory decoding toggled (vCPU thread, under the bus's cfg_lock). */
static void bar_update(struct pci_dev *d, int bar, uint64_t addr)
{
	struct virtio_pci *t = d->opaque;
	int err = 0;

	if (bar != VIRTIO_PCI_BAR)
		return;
	pthread_mutex_lock(&t->lock);
	if (addr != t->ioev_addr) {
		ioev_set(t, t->ioev_addr, false);
		err = ioev_set(t, addr, true);
	}
	pthread_mutex_unlock(&t->lock);
	/* The guest places the BAR (over another device's doorbells, say): rationed. */
	if (err)
		guest_warn(t, "%s: KVM_IOEVENTFD at 0x%llx failed (%s); doorbells go through the BAR handler",
			   t->ops->name, (unsigned long long)addr, strerror(-err));
}

static void cfg_write(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct virtio_pci *t = d->opaque;
	uint32_t cap = (uint32_t)t->msix.cap;

	if (t->msix.cap > 0 && off < cap + 4 && off + len > cap)
		msix_cfg_write(&t->msix);
}

static const struct pci_dev_ops vp_pci_ops = {
	.cfg_write = cfg_write,
	.bar_update = bar_update,
};

/* --- The BAR --- */

static void isr_io(struct virtio_pci *t, uint32_t off, void *data, bool is_write)
{
	if (is_write || off)
		return;
	pthread_mutex_lock(&t->irq_lock);
	*(uint8_t *)data = t->isr;
	t->isr = 0;
	pci_dev_set_intx(&t->pci, 0);
	pthread_mutex_unlock(&t->irq_lock);
}

static void device_io(struct virtio_pci *t, uint32_t off, void *data, uint32_t len, bool is_write)
{
	if (off >= t->ops->config_size || len > t->ops->config_size - off) {
		guest_warn(t, "%s: %u-byte %s at device configuration offset 0x%x is out of range", t->ops->name,
			   len, is_write ? "write" : "read", off);
		return;
	}
	pthread_mutex_lock(&t->op_lock);
	if (is_write)
		t->ops->config_write(t->dev, off, data, len);
	else
		t->ops->config_read(t->dev, off, data, len);
	pthread_mutex_unlock(&t->op_lock);
}

static void notify_io(struct virtio_pci *t, uint32_t off, bool is_write)
{
	unsigned q = off / VIRTIO_PCI_NOTIFY_MULT;

	if (!is_write)
		return;
	if (off % VIRTIO_PCI_NOTIFY_MULT || q >= t->nq) {
		guest_warn(t, "%s: doorbell write at notify offset 0x%x ignored", t->ops->name, off);
		return;
	}
	ring_doorbell(&t->q[q]); /* the I/O thread does the rest, exactly as for an ioeventfd */
}

/* vCPU thread: off is relative to BAR 0. Reads of anything unimplemented return 0. */
static void bar_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct virtio_pci *t = opaque;

	if (len == 0 || len > 8 || off >= VIRTIO_PCI_BAR_SIZE || len > VIRTIO_PCI_BAR_SIZE - off)
		return;
	if (!is_write)
		memset(data, 0, len);
	if (msix_bar_claims(&t->msix, off))
		msix_bar_io(&t->msix, off, data, len, is_write);
	else if (off < VIRTIO_PCI_ISR_OFF)
		virtio_pci_common_io(t, (uint32_t)off - VIRTIO_PCI_COMMON_OFF, data, len, is_write);
	else if (off < VIRTIO_PCI_DEVICE_OFF)
		isr_io(t, (uint32_t)off - VIRTIO_PCI_ISR_OFF, data, is_write);
	else if (off < VIRTIO_PCI_NOTIFY_OFF)
		device_io(t, (uint32_t)off - VIRTIO_PCI_DEVICE_OFF, data, len, is_write);
	else if (off < VIRTIO_PCI_MSIX_TABLE_OFF)
		notify_io(t, (uint32_t)off - VIRTIO_PCI_NOTIFY_OFF, is_write);
}

/* --- Creation --- */

static int add_vendor_cap(struct virtio_pci *t, uint8_t type, uint32_t offset, uint32_t length)
{
	struct virtio_pci_cap cap = {
		.cap_vndr = PCI_CAP_ID_VNDR,
		.cap_len = sizeof(cap),
		.cfg_type = type,
		.bar = VIRTIO_PCI_BAR,
		.offset = htole32(offset),
		.length = htole32(length),
	};

	return pci_dev_add_cap(&t->pci, &cap, sizeof(cap), NULL);
}

static int add_caps(struct virtio_pci *t)
{
	struct virtio_pci_notify_cap notify = {
		.cap = {
			.cap_vndr = PCI_CAP_ID_VNDR,
			.cap_len = sizeof(notify),
			.cfg_type = VIRTIO_PCI_CAP_NOTIFY_CFG,
			.bar = VIRTIO_PCI_BAR,
			.offset = htole32(VIRTIO_PCI_NOTIFY_OFF),
			.length = htole32(VIRTIO_PCI_NOTIFY_MULT * t->nq),
		},
		.notify_off_multiplier = htole32(VIRTIO_PCI_NOTIFY_MULT),
	};
	/*
	 * The PCI configuration access window: bar, offset, length and data are writable so a driver
	 * may program it, but it reaches nothing (pci_dev_ops has no read hook to fill the data, and a
	 * BAR access from inside the bus's configuration lock could deadlock). Linux never uses it.
	 */
	struct virtio_pci_cfg_cap window = {
		.cap = { .cap_vndr = PCI_CAP_ID_VNDR, .cap_len = sizeof(window), .cfg_type = VIRTIO_PCI_CAP_PCI_CFG },
	};
	struct virtio_pci_cfg_cap window_mask;
	int ret;

	memset(&window_mask, 0, sizeof(window_mask));
	window_mask.cap.bar = 0xff;
	window_mask.cap.offset = window_mask.cap.length = 0xffffffff;
	memset(window_mask.pci_cfg_data, 0xff, sizeof(window_mask.pci_cfg_data));

	ret = add_vendor_cap(t, VIRTIO_PCI_CAP_COMMON_CFG, VIRTIO_PCI_COMMON_OFF, VENDOR_REGION);
	if (ret >= 0)
		ret = add_vendor_cap(t, VIRTIO_PCI_CAP_ISR_CFG, VIRTIO_PCI_ISR_OFF, VENDOR_REGION);
	if (ret >= 0 && t->ops->config_size)
		ret = add_vendor_cap(t, VIRTIO_PCI_CAP_DEVICE_CFG, VIRTIO_PCI_DEVICE_OFF,
				     (uint32_t)t->ops->config_size);
	if (ret >= 0)
		ret = pci_dev_add_cap(&t->pci, &notify, sizeof(notify), NULL);
	if (ret >= 0)
		ret = pci_dev_add_cap(&t->pci, &window, sizeof(window), &window_mask);
	return ret < 0 ? ret : 0;
}

static bool ops_valid(const struct virtio_device_ops *ops, uint16_t max_size, unsigned nq)
{
	if (!ops->features || !ops->activate || !ops->notify || !ops->num_queues)
		return false;
	if (ops->config_size && (!ops->config_read || !ops->config_write))
		return false;
	if (ops->config_size > VIRTIO_PCI_NOTIFY_OFF - VIRTIO_PCI_DEVICE_OFF)
		return false;
	return nq && nq <= VIRTIO_PCI_MAX_QUEUES && max_size && max_size <= VIRTQ_MAX_SIZE &&
	       !(max_size & (max_size - 1));
}

static void unwatch_doorbells(struct virtio_pci *t)
{
	for (unsigned i = 0; i < t->nq; i++) {
		if (t->q[i].watch >= 0)
			event_loop_unwatch(t->loop, t->q[i].watch);
		t->q[i].watch = -1;
	}
}

/* After unwatch_doorbells() and the KVM deassignment (which needs the fds open). */
static void close_doorbells(struct virtio_pci *t)
{
	for (unsigned i = 0; i < t->nq; i++) {
		if (t->q[i].efd >= 0)
			close(t->q[i].efd);
		t->q[i].efd = -1;
	}
}

static int open_doorbells(struct virtio_pci *t)
{
	for (unsigned i = 0; i < t->nq; i++) {
		struct vp_queue *vq = &t->q[i];

		vq->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (vq->efd < 0)
			return -errno;
		vq->watch = event_loop_watch(t->loop, vq->efd, doorbell, vq);
		if (vq->watch < 0)
			return vq->watch;
	}
	return 0;
}

int virtio_pci_create(const struct virtio_pci_opts *o, struct virtio_pci **out)
{
	const struct virtio_device_ops *ops = o->ops;
	struct virtio_pci *t;
	unsigned nq;
	int ret;

	nq = ops->num_queues ? ops->num_queues(o->dev) : 0;
	if (!ops_valid(ops, ops->queue_max_size, nq)) {
		vlog_err(o->log, "%s: invalid device description for virtio-pci (%u queues, queue size %u)",
			 ops->name, nq, ops->queue_max_size);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->ctx.interrupt = queue_interrupt;
	t->ctx.needs_reset = needs_reset;
	t->ctx.config_changed = config_changed;
	t->ctx.doorbell = lend_doorbell;
	t->ctx.lend_call = lend_call;
	t->ctx.irq_opaque = t;
	t->ops = ops;
	t->dev = o->dev;
	t->mem = o->mem;
	t->loop = o->loop;
	t->log = o->log;
	t->device_error = o->device_error;
	t->error_opaque = o->error_opaque;
	t->vm_fd = o->vm_fd;
	t->nq = nq;
	t->max_size = ops->queue_max_size;
	t->offered = ops->features(o->dev) | TRANSPORT_FEATURES;
	t->ioev_len = 2; /* Linux rings with a 16-bit write */
	if (t->vm_fd >= 0 && ioctl(t->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_IOEVENTFD_NO_LENGTH) > 0)
		t->ioev_len = 0; /* any width */
	pthread_mutex_init(&t->op_lock, NULL);
	pthread_mutex_init(&t->irq_lock, NULL);
	pthread_mutex_init(&t->lock, NULL);
	for (unsigned i = 0; i < nq; i++) {
		t->q[i].t = t;
		t->q[i].idx = i;
		t->q[i].efd = t->q[i].watch = -1;
	}

	pci_dev_init(&t->pci, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id), ops->pci_class, 1,
		     VIRTIO_PCI_VENDOR, 0x40);
	t->pci.ops = &vp_pci_ops;
	t->pci.opaque = t;
	ret = pci_dev_set_bar(&t->pci, VIRTIO_PCI_BAR, VIRTIO_PCI_BAR_SIZE, true, bar_io, t);
	if (ret < 0)
		goto err_free;
	ret = add_caps(t);
	if (ret < 0)
		goto err_free;
	ret = msix_init(&t->msix, &t->pci, (uint16_t)(nq + 1), VIRTIO_PCI_BAR, VIRTIO_PCI_MSIX_TABLE_OFF,
			VIRTIO_PCI_MSIX_PBA_OFF, o->msi_ops, o->msi_opaque);
	if (ret < 0)
		goto err_free;
	virtio_pci_common_clear(t);
	ret = open_doorbells(t);
	if (ret < 0)
		goto err_doorbells;
	ret = pci_bus_add(o->bus, &t->pci);
	if (ret < 0)
		goto err_doorbells;
	/* The doorbells are registered with KVM when the guest enables memory decoding (bar_update). */
	*out = t;
	return 0;

err_doorbells:
	unwatch_doorbells(t);
	close_doorbells(t);
	msix_destroy(&t->msix);
err_free:
	vlog_err(o->log, "%s: cannot create its virtio-pci function: %s", ops->name, strerror(-ret));
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->irq_lock);
	pthread_mutex_destroy(&t->op_lock);
	free(t);
	return ret;
}

static void destroy_device(void *arg)
{
	struct virtio_pci *t = arg;

	t->ops->destroy(t->dev);
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	bool touched;

	if (!t)
		return;
	pthread_mutex_lock(&t->op_lock);
	pthread_mutex_lock(&t->lock);
	touched = t->status != 0;
	pthread_mutex_unlock(&t->lock);
	if (touched)
		virtio_pci_common_reset(t, true);
	pthread_mutex_unlock(&t->op_lock);
	unwatch_doorbells(t); /* no doorbell callback runs after this */
	pthread_mutex_lock(&t->lock);
	ioev_set(t, t->ioev_addr, false);
	pthread_mutex_unlock(&t->lock);
	close_doorbells(t);
	msix_destroy(&t->msix);
	/*
	 * On the I/O thread (inline once the loop has stopped): the device's loop callbacks may still
	 * be queued, and one that is running has already cleared its queued flag, so only there can
	 * destroy() tell whether to free now or leave it to the last callback.
	 */
	if (t->ops->destroy)
		event_loop_call(t->loop, destroy_device, t);
	pthread_mutex_destroy(&t->lock);
	pthread_mutex_destroy(&t->irq_lock);
	pthread_mutex_destroy(&t->op_lock);
	free(t);
}

struct pci_dev *virtio_pci_dev(struct virtio_pci *t)
{
	return &t->pci;
}
