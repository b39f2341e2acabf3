// SPDX-License-Identifier: Apache-2.0
/*
 * virtio-input as a power button (virtio 1.2, 5.8): the configuration answers the driver's questions
 * (name, ids, which events: EV_KEY with KEY_POWER only), the event queue carries the presses, the
 * status queue (LEDs, which a power button has none of) is drained and ignored.
 *
 * Events wait in dev->pending until the driver posts buffers for them, one 8-byte struct
 * virtio_input_event per buffer. A chain too small for one, read-only, or malformed is completed
 * empty with a warning; a broken queue puts the device in NEEDS_RESET.
 *
 * Threads: config_read/config_write on vCPU threads (select and subsel under cfg_lock); everything
 * else on the I/O thread.
 */
#include "virtio/input.h"

#include <endian.h>
#include <errno.h>
#include <linux/input.h> /* BUS_VIRTUAL; input-event-codes.h: EV_KEY, KEY_POWER */
#include <linux/virtio_ids.h>
#include <linux/virtio_input.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define EVENTQ 0
#define STATUSQ 1
#define MAX_PENDING (4 * VIRTIO_INPUT_MAX_PRESSES)
#define CHAIN_IOV 4

_Static_assert(sizeof(struct virtio_input_config) == 136, "virtio_input_config layout");
_Static_assert(sizeof(struct virtio_input_event) == 8, "virtio_input_event layout");

struct virtio_input {
	const struct vlog *log;
	struct vlog_budget warn; /* guest-triggerable warnings */
	pthread_mutex_t cfg_lock;
	uint8_t select, subsel;  /* the driver's question (cfg_lock) */

	/* The I/O thread's only. */
	bool active;
	bool stopped;            /* a queue broke: nothing more until a reset */
	struct virtio_ctx ctx;
	struct virtio_input_event pending[MAX_PENDING];
	unsigned npending;
	struct iovec iov[CHAIN_IOV];
};

static void guest_warn(struct virtio_input *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void guest_warn(struct virtio_input *dev, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog_guest(dev->log, &dev->warn, "virtio-input", "%s", msg);
}

static void broken(struct virtio_input *dev, unsigned q)
{
	guest_warn(dev, "queue %u is broken; the device needs a reset", q);
	dev->stopped = true;
	dev->ctx.needs_reset(dev->ctx.irq_opaque);
}

/* The answer to (select, subsel), as the configuration space shows it. */
static void answer(uint8_t select, uint8_t subsel, struct virtio_input_config *c)
{
	memset(c, 0, sizeof(*c));
	c->select = select;
	c->subsel = subsel;
	switch (select) {
	case VIRTIO_INPUT_CFG_ID_NAME:
		if (subsel == 0) {
			c->size = (uint8_t)strlen(VIRTIO_INPUT_NAME);
			memcpy(c->u.string, VIRTIO_INPUT_NAME, c->size);
		}
		break;
	case VIRTIO_INPUT_CFG_ID_DEVIDS:
		if (subsel == 0) {
			c->size = sizeof(c->u.ids);
			c->u.ids.bustype = htole16(BUS_VIRTUAL);
			c->u.ids.vendor = htole16(0x0627); /* as QEMU's virtio-input devices */
			c->u.ids.product = htole16(0x0001);
			c->u.ids.version = htole16(0x0001);
		}
		break;
	case VIRTIO_INPUT_CFG_EV_BITS:
		if (subsel == EV_KEY) {
			c->size = KEY_POWER / 8 + 1;
			c->u.bitmap[KEY_POWER / 8] = 1u << (KEY_POWER % 8);
		}
		break;
	default: /* no serial, no properties, no absolute axes: size 0 */
		break;
	}
}

static void in_config_read(void *opaque, uint32_t off, void *data, uint32_t len)
{
	struct virtio_input *dev = opaque;
	struct virtio_input_config c;

	pthread_mutex_lock(&dev->cfg_lock);
	answer(dev->select, dev->subsel, &c);
	pthread_mutex_unlock(&dev->cfg_lock);
	memcpy(data, (const uint8_t *)&c + off, len);
}

/* Only select (byte 0) and subsel (byte 1) are the driver's to write; a wider write sets both. */
static void in_config_write(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	struct virtio_input *dev = opaque;
	const uint8_t *b = data;

	pthread_mutex_lock(&dev->cfg_lock);
	for (uint32_t i = 0; i < len; i++) {
		if (off + i == 0)
			dev->select = b[i];
		else if (off + i == 1)
			dev->subsel = b[i];
	}
	pthread_mutex_unlock(&dev->cfg_lock);
}

/* Hand the pending events to the driver's buffers, in order; interrupt once. */
static void flush_events(struct virtio_input *dev)
{
	struct virtq *q;
	unsigned done = 0, budget;
	bool irq = false;

	if (!dev->active || dev->stopped || !dev->ctx.vq[EVENTQ].size)
		return;
	q = &dev->ctx.vq[EVENTQ];
	budget = q->size;
	for (; done < dev->npending && budget; budget--) { /* bounded: a guest posting bad chains without end */
		struct virtq_chain c;
		int ret = virtq_pop(q, &c, dev->iov, CHAIN_IOV);

		if (ret < 0) {
			broken(dev, EVENTQ);
			break;
		}
		if (ret == 0) {
			if (virtq_set_notify(q, true))
				continue;
			break; /* the driver's next buffers come with a notify */
		}
		if (c.bad || c.nout || c.in_len < sizeof(struct virtio_input_event)) {
			guest_warn(dev, "malformed event buffer (%s): completed empty",
				   c.bad ? "bad descriptors" : c.nout ? "read-only buffers" : "smaller than an event");
			virtq_push(q, c.head, 0);
			irq = true;
			continue;
		}
		virtq_iov_to(dev->iov, c.niov, 0, &dev->pending[done], sizeof(struct virtio_input_event));
		virtq_push(q, c.head, sizeof(struct virtio_input_event));
		irq = true;
		done++;
	}
	if (done) {
		memmove(dev->pending, dev->pending + done, (dev->npending - done) * sizeof(dev->pending[0]));
		dev->npending -= done;
	}
	if (irq && virtq_should_interrupt(q))
		dev->ctx.interrupt(dev->ctx.irq_opaque, EVENTQ);
}

/* LED and other status reports: taken and completed unread (a power button has no LEDs). */
static void drain_status(struct virtio_input *dev)
{
	struct virtq *q;
	bool irq = false;

	if (!dev->active || dev->stopped || !dev->ctx.vq[STATUSQ].size)
		return;
	q = &dev->ctx.vq[STATUSQ];
	for (unsigned budget = q->size;;) {
		struct virtq_chain c;
		int ret = virtq_pop(q, &c, dev->iov, CHAIN_IOV);

		if (ret < 0) {
			broken(dev, STATUSQ);
			break;
		}
		if (ret == 0 && !virtq_set_notify(q, true))
			break;
		if (ret == 0)
			continue;
		virtq_push(q, c.head, 0);
		irq = true;
		if (--budget == 0)
			break; /* the rest waits for the driver's next notify */
	}
	if (irq && virtq_should_interrupt(q))
		dev->ctx.interrupt(dev->ctx.irq_opaque, STATUSQ);
}

static void push_event(struct virtio_input *dev, uint16_t type, uint16_t code, uint32_t value)
{
	dev->pending[dev->npending++] = (struct virtio_input_event){
		.type = htole16(type),
		.code = htole16(code),
		.value = htole32(value),
	};
}

void virtio_input_press(void *opaque)
{
	struct virtio_input *dev = opaque;

	if (dev->npending + 4 > MAX_PENDING) {
		vlog_warn(dev->log, "virtio-input: the guest has not taken the last %u power-button presses: this one is dropped",
			  VIRTIO_INPUT_MAX_PRESSES);
		return;
	}
	push_event(dev, EV_KEY, KEY_POWER, 1);
	push_event(dev, EV_SYN, SYN_REPORT, 0);
	push_event(dev, EV_KEY, KEY_POWER, 0);
	push_event(dev, EV_SYN, SYN_REPORT, 0);
	flush_events(dev);
}

static void in_notify(void *opaque, unsigned q)
{
	struct virtio_input *dev = opaque;

	if (q == EVENTQ)
		flush_events(dev);
	else if (q == STATUSQ)
		drain_status(dev);
}

static int in_activate(void *opaque, const struct virtio_ctx *ctx)
{
	struct virtio_input *dev = opaque;

	if (dev->active)
		return -EBUSY;
	if (ctx->nvq < 2)
		return -EINVAL;
	dev->ctx = *ctx;
	dev->active = true;
	dev->stopped = false;
	/* Presses from before: the transport notifies every enabled queue after this, which flushes them. */
	return 0;
}

/* Presses not delivered yet stay: the next driver gets them (the host did press the button). */
static void in_reset(void *opaque)
{
	struct virtio_input *dev = opaque;

	dev->active = false;
	dev->stopped = false;
	memset(&dev->ctx, 0, sizeof(dev->ctx));
}

static void in_destroy(void *opaque)
{
	struct virtio_input *dev = opaque;

	if (!dev)
		return;
	pthread_mutex_destroy(&dev->cfg_lock);
	free(dev);
}

/*
 * The device's record, version 1: u8 select, u8 subsel (the driver's question), u8 npending, then
 * each pending event as u16 type, u16 code, u32 value. Events go to the driver at once when it has
 * buffers, so nothing the guest handed over is ever held: no chains to record.
 */
static int in_save(void *opaque, struct sbuf *out)
{
	struct virtio_input *dev = opaque;

	pthread_mutex_lock(&dev->cfg_lock);
	sbuf_u8(out, dev->select);
	sbuf_u8(out, dev->subsel);
	pthread_mutex_unlock(&dev->cfg_lock);
	sbuf_u8(out, (uint8_t)dev->npending);
	for (unsigned i = 0; i < dev->npending; i++) {
		sbuf_u16(out, le16toh(dev->pending[i].type));
		sbuf_u16(out, le16toh(dev->pending[i].code));
		sbuf_u32(out, le32toh(dev->pending[i].value));
	}
	return out->oom ? -ENOMEM : 0;
}

static int in_restore(void *opaque, struct sreader *in)
{
	struct virtio_input *dev = opaque;
	struct virtio_input_event ev[MAX_PENDING];
	uint8_t select = sr_u8(in), subsel = sr_u8(in), n = sr_u8(in);

	if (!sr_ok(in) || n > MAX_PENDING)
		return -EINVAL;
	for (unsigned i = 0; i < n; i++) {
		ev[i].type = htole16(sr_u16(in));
		ev[i].code = htole16(sr_u16(in));
		ev[i].value = htole32(sr_u32(in));
	}
	if (!sr_done(in))
		return -EINVAL;
	pthread_mutex_lock(&dev->cfg_lock);
	dev->select = select;
	dev->subsel = subsel;
	pthread_mutex_unlock(&dev->cfg_lock);
	memcpy(dev->pending, ev, n * sizeof(ev[0]));
	dev->npending = n;
	return 0; /* the transport notifies the queues next: what waits goes out */
}

static unsigned in_inflight(void *opaque)
{
	(void)opaque;
	return 0;
}

static uint64_t in_features(void *opaque)
{
	(void)opaque;
	return 0;
}

static unsigned in_num_queues(void *opaque)
{
	(void)opaque;
	return 2;
}

int virtio_input_create(const struct vlog *log, void **dev_out)
{
	struct virtio_input *dev = calloc(1, sizeof(*dev));

	if (!dev) {
		vlog_err(log, "virtio-input: out of memory");
		return -ENOMEM;
	}
	dev->log = log;
	pthread_mutex_init(&dev->cfg_lock, NULL);
	*dev_out = dev;
	return 0;
}

const struct virtio_device_ops virtio_input_ops = {
	.name = "virtio-input",
	.device_id = VIRTIO_ID_INPUT,
	.pci_class = 0x098000, /* input device controller, other (as QEMU reports it) */
	.features = in_features,
	.num_queues = in_num_queues,
	.queue_max_size = VIRTIO_INPUT_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_input_config),
	.config_read = in_config_read,
	.config_write = in_config_write,
	.activate = in_activate,
	.reset = in_reset,
	.notify = in_notify,
	.destroy = in_destroy,
	.inflight = in_inflight,
	.save = in_save,
	.restore = in_restore,
};
