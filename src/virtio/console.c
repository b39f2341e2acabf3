// SPDX-License-Identifier: Apache-2.0
/* virtio-console: one port (hvc0) between the guest and a host backend, no MULTIPORT. */
#include "virtio/console.h"

#include <endian.h>
#include <errno.h>
#include <linux/virtio_console.h>
#include <linux/virtio_ids.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * TX: one chain at a time is "held": popped into dev->tx_iov and handed to backend.write buffer by
 * buffer; (tx_idx, tx_off) says where its next byte is. A short write leaves the chain held, sets
 * tx_wait, asks backend.want_room() and stops the queue; virtio_console_tx_ready() resumes from
 * exactly there, so nothing is lost or written twice. The chain is completed (used length 0) once
 * its last byte is taken. Like net.c's TX path, a chain with device-writable buffers or one the
 * queue code found malformed is completed at once and its bytes dropped, with a warning.
 *
 * Fairness: one run of the transmit queue takes at most a queue's worth of chains and TX_RUN_BYTES
 * bytes (a guest can post up to 2^32 - 1 bytes in one chain by repeating a buffer, and a backend
 * that discards takes them all at once); what is left is served from dev->later on the loop's next
 * turn, so other devices get the I/O thread meanwhile.
 *
 * RX: virtio_console_rx() fills receive chains one after the other, each completed at once with the
 * bytes it got (input is interactive: a partly filled chain must not wait for more), at most a
 * queue's worth per call. When the ring is empty it re-arms notifications and marks rx_starved; the
 * driver's next notify of queue 0 then calls backend.rx_kick(). A call that used up its chain
 * budget instead calls rx_kick() on the loop's next turn (dev->later).
 *
 * Interrupts: completions set tx_irq / rx_irq and queue dev->defer, which interrupts the guest once
 * per queue after the loop's current batch of work (EVENT_IDX through virtq_should_interrupt()).
 *
 * Threads: everything but config_read/config_write and the write lock belongs to the I/O thread.
 */

#define RXQ 0
#define TXQ 1
#define CHAIN_IOV VIRTIO_CONSOLE_QUEUE_SIZE /* a chain is no longer than the queue (2.7.5.3.1) */
#define TX_RUN_BYTES (256u << 10)
#define EMERG_OFF offsetof(struct virtio_console_config, emerg_wr)

_Static_assert(sizeof(struct virtio_console_config) == 12, "virtio_console_config layout");
_Static_assert(offsetof(struct virtio_console_config, emerg_wr) == 8, "virtio_console_config layout");

struct virtio_console {
	struct virtio_console_backend be;
	const struct vlog *log;
	uint64_t features;
	struct virtio_console_config cfg; /* fixed at create: read without a lock */
	pthread_mutex_t write_lock;       /* be.write: TX (I/O thread) vs an emergency write (vCPU thread) */
	struct vlog_budget warn;          /* guest-triggerable warnings */

	/* The I/O thread's only. */
	bool active;                /* between activate() and reset() */
	struct virtio_ctx ctx;      /* valid while active */
	bool rx_stopped, tx_stopped; /* the queue broke: served no more until a reset */
	bool rx_irq, tx_irq;        /* completions the guest was not interrupted for yet */
	bool rx_starved;            /* rx() came short: rx_kick() at the driver's next notify of queue 0 */
	bool rx_more, tx_more;      /* used up a budget: served again from dev->later */
	bool tx_wait;               /* want_room() was called: wait for tx_ready() */
	bool in_tx;                 /* tx_run() is on the stack */
	bool tx_held;               /* a popped chain not wholly written yet: */
	uint16_t tx_head;           /*   its head, */
	unsigned tx_niov, tx_idx;   /*   its buffers, the one the next byte comes from, */
	size_t tx_off;              /*   and the offset in that one */
	size_t tx_budget;           /* bytes this run of the transmit queue may still write */
	struct iovec tx_iov[CHAIN_IOV];
	struct iovec rx_iov[CHAIN_IOV];
	struct ev_defer defer;      /* interrupts after the current batch */
	struct ev_defer later;      /* budgets used up: the loop's next turn */
	bool dying;                 /* destroy() came while defer or later was queued: the last of them frees */
};

#define CONTAINER(ptr, type, member) ((type *)(void *)((uint8_t *)(ptr) - offsetof(type, member)))

static void guest_warn(struct virtio_console *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void guest_warn(struct virtio_console *dev, const char *fmt, ...)
{
	char msg[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog_guest(dev->log, &dev->warn, "virtio-console", "%s", msg);
}

static void defer(struct virtio_console *dev)
{
	event_loop_defer(dev->ctx.loop, &dev->defer);
}

/* A queue used up its budget: *more until dev->later serves it on the loop's next turn. */
static void serve_more(struct virtio_console *dev, bool *more)
{
	*more = true;
	event_loop_later(dev->ctx.loop, &dev->later);
}

static void broken(struct virtio_console *dev, bool *stopped, unsigned q)
{
	guest_warn(dev, "queue %u is broken; the device needs a reset", q);
	*stopped = true;
	dev->ctx.needs_reset(dev->ctx.irq_opaque);
}

/* Every call of be.write goes through here: a vCPU's emergency write may come at any time. */
static size_t be_write(struct virtio_console *dev, const void *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&dev->write_lock);
	n = dev->be.write(dev->be.opaque, buf, len);
	pthread_mutex_unlock(&dev->write_lock);
	return n < len ? n : len; /* a backend claiming more must not move us past the buffer */
}

static void tx_complete(struct virtio_console *dev, uint16_t head)
{
	virtq_push(&dev->ctx.vq[TXQ], head, 0);
	dev->tx_irq = true;
}

enum tx_step {
	TX_DONE,   /* the held chain was written and completed */
	TX_FULL,   /* the backend took less than offered */
	TX_BUDGET, /* this run's byte budget is used up */
};

/* Write the held chain on from (tx_idx, tx_off). */
static enum tx_step tx_write(struct virtio_console *dev)
{
	while (dev->tx_idx < dev->tx_niov) {
		const struct iovec *v = &dev->tx_iov[dev->tx_idx];
		size_t left = v->iov_len - dev->tx_off, n, took;

		if (left == 0) { /* the queue code gives no empty buffers; never spin on one anyway */
			dev->tx_idx++;
			dev->tx_off = 0;
			continue;
		}
		if (dev->tx_budget == 0)
			return TX_BUDGET;
		n = left < dev->tx_budget ? left : dev->tx_budget;
		took = be_write(dev, (const uint8_t *)v->iov_base + dev->tx_off, n);
		dev->tx_off += took;
		dev->tx_budget -= took;
		if (took < n)
			return TX_FULL; /* took < n <= left: still inside this buffer */
		if (dev->tx_off == v->iov_len) {
			dev->tx_idx++;
			dev->tx_off = 0;
		}
	}
	dev->tx_held = false;
	tx_complete(dev, dev->tx_head);
	return TX_DONE;
}

/* How much room to wait for: the rest of the current buffer, within what any backend can offer. */
static size_t room_wanted(const struct virtio_console *dev)
{
	size_t left = dev->tx_iov[dev->tx_idx].iov_len - dev->tx_off;

	return left < VIRTIO_CONSOLE_ROOM_MAX ? left : VIRTIO_CONSOLE_ROOM_MAX;
}

/* One step of the transmit queue (virtq_serve()): 1 a chain was completed, 0 the ring is empty, -1 stop. */
static int tx_take(void *arg)
{
	struct virtio_console *dev = arg;
	struct virtq_chain c;
	int ret;

	if (!dev->tx_held) {
		ret = virtq_pop(&dev->ctx.vq[TXQ], &c, dev->tx_iov, CHAIN_IOV);
		if (ret < 0) {
			broken(dev, &dev->tx_stopped, TXQ);
			return -1;
		}
		if (ret == 0)
			return 0;
		if (c.bad || c.in_len) {
			guest_warn(dev, "malformed transmit chain (%s): dropped", c.bad ? "bad descriptors" : "writable buffers");
			tx_complete(dev, c.head);
			return 1;
		}
		dev->tx_held = true;
		dev->tx_head = c.head;
		dev->tx_niov = c.nout; /* == c.niov: no writable buffers */
		dev->tx_idx = 0;
		dev->tx_off = 0;
	}
	switch (tx_write(dev)) {
	case TX_DONE:
		return 1;
	case TX_FULL:
		dev->tx_wait = true; /* before want_room(): it may call virtio_console_tx_ready() at once */
		dev->be.want_room(dev->be.opaque, room_wanted(dev));
		return -1;
	default:
		serve_more(dev, &dev->tx_more);
		return -1;
	}
}

static void tx_run(struct virtio_console *dev)
{
	struct virtq *q;

	if (!dev->active || dev->tx_stopped || dev->tx_wait || dev->tx_more || dev->in_tx)
		return;
	q = &dev->ctx.vq[TXQ];
	if (!q->size)
		return; /* not enabled by the driver */
	dev->in_tx = true;
	dev->tx_budget = TX_RUN_BYTES;
	if (virtq_serve(q, tx_take, dev, q->size))
		serve_more(dev, &dev->tx_more);
	dev->in_tx = false;
	if (dev->tx_irq)
		defer(dev);
}

void virtio_console_tx_ready(void *opaque)
{
	struct virtio_console *dev = opaque;

	dev->tx_wait = false;
	if (dev->in_tx) {
		/* From inside want_room() (or write()): come back on the loop's next turn, do not recurse. */
		if (dev->active && !dev->tx_more)
			serve_more(dev, &dev->tx_more);
		return;
	}
	tx_run(dev);
}

size_t virtio_console_rx(void *opaque, const uint8_t *buf, size_t len)
{
	struct virtio_console *dev = opaque;
	struct virtq_chain c;
	struct virtq *q;
	unsigned budget;
	size_t done = 0;
	bool empty = false;

	if (len == 0)
		return 0;
	if (!dev->active || dev->rx_stopped || !dev->ctx.vq[RXQ].size) {
		dev->rx_starved = true; /* a reset and the next activation's notify kick the backend */
		return 0;
	}
	q = &dev->ctx.vq[RXQ];
	for (budget = q->size; done < len && budget; budget--) {
		int ret = virtq_pop(q, &c, dev->rx_iov, CHAIN_IOV);
		size_t n;

		if (ret < 0) {
			broken(dev, &dev->rx_stopped, RXQ);
			break;
		}
		if (ret == 0) {
			/* Re-arm first: buffers posted meanwhile are taken now, later ones come with a notify. */
			if (virtq_set_notify(q, true))
				continue;
			empty = true;
			break;
		}
		if (c.bad || c.nout || !c.in_len) {
			guest_warn(dev, "malformed receive buffer (%s): completed empty",
				   c.bad ? "bad descriptors" : c.nout ? "read-only buffers" : "no room");
			virtq_push(q, c.head, 0);
			dev->rx_irq = true;
			continue;
		}
		n = virtq_iov_to(dev->rx_iov, c.niov, 0, buf + done, len - done);
		virtq_push(q, c.head, (uint32_t)n); /* n <= c.in_len <= UINT32_MAX */
		dev->rx_irq = true;
		done += n;
	}
	if (done < len) {
		if (empty || dev->rx_stopped)
			dev->rx_starved = true;
		else if (!dev->rx_more)
			serve_more(dev, &dev->rx_more); /* the chain budget ran out: rx_kick() on the next turn */
	}
	if (dev->rx_irq)
		defer(dev);
	return done;
}

static bool dying(struct virtio_console *dev)
{
	return virtio_dev_dying(dev, dev->dying, &dev->defer, &dev->later);
}

/* After the loop's current batch: interrupt the guest once per queue that completed chains. */
static void deferred(struct ev_defer *d)
{
	struct virtio_console *dev = CONTAINER(d, struct virtio_console, defer);

	if (dying(dev) || !dev->active)
		return;
	if (dev->rx_irq) {
		dev->rx_irq = false;
		if (virtq_should_interrupt(&dev->ctx.vq[RXQ]))
			dev->ctx.interrupt(dev->ctx.irq_opaque, RXQ);
	}
	if (dev->tx_irq) {
		dev->tx_irq = false;
		if (virtq_should_interrupt(&dev->ctx.vq[TXQ]))
			dev->ctx.interrupt(dev->ctx.irq_opaque, TXQ);
	}
}

/* The loop's next turn after a budget ran out (or tx_ready() from inside want_room()). */
static void serve_later(struct ev_defer *d)
{
	struct virtio_console *dev = CONTAINER(d, struct virtio_console, later);

	if (dying(dev) || !dev->active)
		return;
	if (dev->tx_more) {
		dev->tx_more = false;
		tx_run(dev);
	}
	if (dev->rx_more) {
		dev->rx_more = false;
		dev->be.rx_kick(dev->be.opaque); /* may call virtio_console_rx() at once */
	}
}

static void con_notify(void *opaque, unsigned q)
{
	struct virtio_console *dev = opaque;

	if (!dev->active)
		return;
	if (q == TXQ) {
		tx_run(dev);
	} else if (q == RXQ && dev->rx_starved && !dev->rx_stopped) {
		dev->rx_starved = false;
		dev->be.rx_kick(dev->be.opaque); /* may call virtio_console_rx() at once */
	}
}

static int con_activate(void *opaque, const struct virtio_ctx *ctx)
{
	struct virtio_console *dev = opaque;

	if (dev->active)
		return -EBUSY;
	if (ctx->nvq < 2)
		return -EINVAL;
	dev->ctx = *ctx;
	dev->active = true;
	/* Chains posted before DRIVER_OK: the transport notifies every enabled queue after this. */
	return 0;
}

static void con_reset(void *opaque)
{
	struct virtio_console *dev = opaque;

	if (!dev->active)
		return;
	/* Input the backend holds back waits for a kick: the next activation's notify of queue 0 gives it. */
	if (dev->rx_more)
		dev->rx_starved = true;
	dev->active = false;
	dev->rx_stopped = dev->tx_stopped = false;
	dev->rx_irq = dev->tx_irq = false;
	dev->rx_more = dev->tx_more = false;
	dev->tx_wait = false; /* a tx_ready() still to come finds nothing to resume */
	dev->tx_held = false; /* the rest of a held chain is dropped: the rings are the next activation's */
	dev->tx_niov = dev->tx_idx = 0;
	dev->tx_off = 0;
	memset(&dev->ctx, 0, sizeof(dev->ctx));
}

static void con_destroy(void *opaque)
{
	struct virtio_console *dev = opaque;

	if (!dev)
		return;
	con_reset(dev);
	pthread_mutex_destroy(&dev->write_lock);
	if (dev->defer.queued || dev->later.queued) {
		dev->dying = true; /* the loop still holds a callback of ours: it frees */
		return;
	}
	free(dev);
}

/*
 * Nothing the guest handed over is in flight: RX fills and completes chains synchronously, and the
 * one TX chain the device may hold (waiting for backend room) is recorded by save() and taken back
 * by restore(), so a snapshot never waits on a backend that does not drain.
 */
static unsigned con_inflight(void *opaque)
{
	(void)opaque;
	return 0;
}

/*
 * The device's record: u8 active; if active, u8 held and for a held TX chain u16 head, u32 the
 * buffer and u64 the offset of its next byte. No MULTIPORT means no port state (open, name) and
 * the configuration is fixed at creation; pending input stays with the backend.
 */
static int con_save(void *opaque, struct sbuf *out)
{
	struct virtio_console *dev = opaque;

	sbuf_bool(out, dev->active);
	if (dev->active) {
		sbuf_bool(out, dev->tx_held);
		if (dev->tx_held) {
			sbuf_u16(out, dev->tx_head);
			sbuf_u32(out, dev->tx_idx);
			sbuf_u64(out, dev->tx_off);
		}
	}
	return out->oom ? -ENOMEM : 0;
}

static int con_restore(void *opaque, struct sreader *in)
{
	struct virtio_console *dev = opaque;
	bool active = sr_bool(in), held = active && sr_bool(in);
	uint16_t head = held ? sr_u16(in) : 0;
	uint32_t idx = held ? sr_u32(in) : 0;
	uint64_t off = held ? sr_u64(in) : 0;
	struct virtq_chain c;

	if (!sr_done(in) || (!active && dev->active))
		return -EINVAL;
	if (!held || !dev->active)
		return 0; /* nothing held; or the device failed to activate (NEEDS_RESET): its queues are moot */
	/* Taken back into tx_iov; used only once tx_held is set. */
	if (virtq_walk(&dev->ctx.vq[TXQ], head, &c, dev->tx_iov, CHAIN_IOV) != 1 || c.bad || c.in_len ||
	    idx >= c.nout || off >= dev->tx_iov[idx].iov_len)
		return -EINVAL;
	dev->tx_held = true;
	dev->tx_head = head;
	dev->tx_niov = c.nout;
	dev->tx_idx = idx;
	dev->tx_off = (size_t)off;
	return 0;
}

static uint64_t con_features(void *opaque)
{
	return ((struct virtio_console *)opaque)->features;
}

static unsigned con_num_queues(void *opaque)
{
	(void)opaque;
	return 2;
}

static void con_config_read(void *opaque, uint32_t off, void *data, uint32_t len)
{
	memcpy(data, (const uint8_t *)&((struct virtio_console *)opaque)->cfg + off, len);
}

/*
 * Only emerg_wr is writable: a write starting there (Linux writes it as 32 bits) emits its low
 * byte, the character. Best effort: a backend that is full drops it (a vCPU must not wait here).
 * vCPU thread; be_write() keeps it from overlapping the I/O thread's TX writes.
 */
static void con_config_write(void *opaque, uint32_t off, const void *data, uint32_t len)
{
	struct virtio_console *dev = opaque;

	if (off != EMERG_OFF || len == 0)
		return; /* cols, rows, max_nr_ports are read-only; so are the other bytes of emerg_wr */
	be_write(dev, data, 1); /* the first byte of a little-endian value is its low byte */
}

int virtio_console_create(const struct virtio_console_opts *o, const struct vlog *log, void **dev_out)
{
	struct virtio_console *dev;

	if (!o || !o->backend.write || !o->backend.want_room || !o->backend.rx_kick) {
		vlog_err(log, "virtio-console: the backend needs write, want_room and rx_kick");
		return -EINVAL;
	}
	dev = calloc(1, sizeof(*dev));
	if (!dev) {
		vlog_err(log, "virtio-console: out of memory");
		return -ENOMEM;
	}
	dev->be = o->backend;
	dev->log = log;
	dev->defer.fn = deferred;
	dev->later.fn = serve_later;
	pthread_mutex_init(&dev->write_lock, NULL);
	/* Kick the backend at the first notify of queue 0: whatever it holds from before is offered. */
	dev->rx_starved = true;
	dev->features = 1ull << VIRTIO_CONSOLE_F_EMERG_WRITE;
	if (o->cols && o->rows) {
		dev->features |= 1ull << VIRTIO_CONSOLE_F_SIZE;
		dev->cfg.cols = htole16(o->cols);
		dev->cfg.rows = htole16(o->rows);
	}
	dev->cfg.max_nr_ports = htole32(1); /* meaningful with MULTIPORT only; one port all the same */
	*dev_out = dev;
	return 0;
}

const struct virtio_device_ops virtio_console_ops = {
	.name = "virtio-console",
	.device_id = VIRTIO_ID_CONSOLE,
	.pci_class = 0x078000, /* simple communication controller, other (as QEMU reports it) */
	.features = con_features,
	.num_queues = con_num_queues,
	.queue_max_size = VIRTIO_CONSOLE_QUEUE_SIZE,
	.config_size = sizeof(struct virtio_console_config),
	.config_read = con_config_read,
	.config_write = con_config_write,
	.activate = con_activate,
	.reset = con_reset,
	.notify = con_notify,
	.destroy = con_destroy,
	.inflight = con_inflight,
	.save = con_save,
	.restore = con_restore,
};
