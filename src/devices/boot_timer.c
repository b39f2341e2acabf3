// SPDX-License-Identifier: Apache-2.0
/* The boot-timer port: a guest write of a byte records (host CLOCK_MONOTONIC time, value). */
#include "devices/boot_timer.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct boot_timer {
	boot_timer_fn fn;
	void *opaque;
	_Atomic uint64_t count; /* written by any vCPU, read by any thread */
};

uint64_t boot_timer_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

struct boot_timer *boot_timer_create(boot_timer_fn fn, void *opaque)
{
	struct boot_timer *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->fn = fn;
	t->opaque = opaque;
	return t;
}

void boot_timer_destroy(struct boot_timer *t)
{
	free(t);
}

void boot_timer_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct boot_timer *t = opaque;
	uint64_t now;

	if (len == 0)
		return;
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (off != 0)
		return;
	/* The time first: what the guest marks is the moment of its write, not our bookkeeping. */
	now = boot_timer_now_ns();
	atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed);
	if (t->fn)
		t->fn(t->opaque, *(const uint8_t *)data, now);
}

uint64_t boot_timer_count(const struct boot_timer *t)
{
	return atomic_load_explicit(&t->count, memory_order_relaxed);
}

/*
 * Snapshot layout, version 1: empty. The guest cannot read anything back from the port; the count and
 * the CLOCK_MONOTONIC stamps are the host's record of this run (see boot_timer.h), so a restored VM's
 * timer starts counting afresh and stamps its markers with its own host's clock.
 */
const struct vm_device_ops boot_timer_device_ops = {
	.kind = "boot-timer",
	.version = 1,
	.save = vm_device_save_nothing,
	.restore = vm_device_restore_nothing,
};
