// SPDX-License-Identifier: Apache-2.0
/* The ACPI Generic Event Device: a read-to-clear event byte and an edge-triggered interrupt for the power button. */
#include "devices/ged.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define REG_EVENTS 0

struct ged {
	/*
	 * Guards events. The irq callback is called with it held, so that the pulses of two presses never
	 * interleave (1, 1, 0, 0 would be one edge for two presses; KVM_IRQ_LINE never calls back into the GED).
	 */
	pthread_mutex_t lock;
	struct irq_line irq;
	uint8_t events; /* GED_EVENT_* bits not yet read by the guest */
};

struct ged *ged_create(const struct irq_line *irq)
{
	struct ged *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	if (pthread_mutex_init(&g->lock, NULL)) {
		free(g);
		return NULL;
	}
	if (irq)
		g->irq = *irq;
	return g;
}

void ged_destroy(struct ged *g)
{
	if (!g)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void ged_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct ged *g = opaque;

	if (len == 0 || is_write)
		return;
	memset(data, 0, len);
	if (off != REG_EVENTS)
		return;
	pthread_mutex_lock(&g->lock);
	*(uint8_t *)data = g->events;
	g->events = 0;
	pthread_mutex_unlock(&g->lock);
}

void ged_power_button(struct ged *g)
{
	pthread_mutex_lock(&g->lock);
	g->events |= GED_EVENT_POWER_BUTTON;
	irq_line_set(&g->irq, 1);
	irq_line_set(&g->irq, 0);
	pthread_mutex_unlock(&g->lock);
}

/* Snapshot layout, version 1: u8 pending events (GED_EVENT_* bits only). */
static int save_state(void *dev, struct sbuf *out)
{
	struct ged *g = dev;

	pthread_mutex_lock(&g->lock);
	sbuf_u8(out, g->events);
	pthread_mutex_unlock(&g->lock);
	return out->oom ? -ENOMEM : 0;
}

/*
 * The line is driven low, the level it rests at between pulses: the pulse of a pending event was
 * delivered before the snapshot and is in the restored irqchip's state, so none is made again (the
 * guest's _EVT reads the byte whenever that interrupt is handled). Malformed input changes nothing.
 */
static int restore_state(void *dev, struct sreader *in)
{
	struct ged *g = dev;
	uint8_t events = sr_u8(in);

	if (!sr_done(in) || (events & ~GED_EVENT_POWER_BUTTON)) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&g->lock);
	g->events = events;
	irq_line_set(&g->irq, 0);
	pthread_mutex_unlock(&g->lock);
	return 0;
}

const struct vm_device_ops ged_device_ops = {
	.kind = "ged",
	.version = 1,
	.save = save_state,
	.restore = restore_state,
};
