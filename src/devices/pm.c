// SPDX-License-Identifier: Apache-2.0
/* The hardware-reduced ACPI sleep control, sleep status and reset registers: power-off (S5) and reset. */
#include "devices/pm.h"

#include <stdlib.h>
#include <string.h>

#define SLP_EN 0x20
#define SLP_TYP_SHIFT 2
#define SLP_TYP_MASK 0x07

/* No mutable state, hence no lock: each write is decoded on its own. */
struct pm {
	pm_event_fn fn;
	void *opaque;
};

struct pm *pm_create(pm_event_fn fn, void *opaque)
{
	struct pm *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->fn = fn;
	p->opaque = opaque;
	return p;
}

void pm_destroy(struct pm *p)
{
	free(p);
}

static void event(const struct pm *p, enum pm_event ev)
{
	if (p->fn)
		p->fn(p->opaque, ev);
}

void pm_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	const struct pm *p = opaque;
	uint8_t v;

	if (len == 0)
		return;
	/*
	 * Every register reads 0: sleep control has no readable state, WAK_STS
	 * is never set (nothing sleeps) and the reset register is write-only.
	 */
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	/* A wider access is a byte access on its low byte. */
	v = *(const uint8_t *)data;
	switch (off) {
	case PM_SLEEP_CONTROL_OFF:
		/* Only S5 exists; a request for any other sleep state is ignored. */
		if ((v & SLP_EN) && ((v >> SLP_TYP_SHIFT) & SLP_TYP_MASK) == PM_S5_SLP_TYP)
			event(p, PM_EVENT_POWEROFF);
		break;
	case PM_RESET_OFF:
		if (v == PM_RESET_VALUE)
			event(p, PM_EVENT_RESET);
		break;
	default:
		/* Sleep status: writing 1s clears bits, and none is ever set. */
		break;
	}
}

/* Snapshot layout, version 1: empty (struct pm holds only the host's callback). */
const struct vm_device_ops pm_device_ops = {
	.kind = "pm",
	.version = 1,
	.save = vm_device_save_nothing,
	.restore = vm_device_restore_nothing,
};
