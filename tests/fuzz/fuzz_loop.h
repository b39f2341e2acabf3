/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The event loop for targets whose device defers work to it (virtio-console, virtio-net,
 * virtio-pci): one loop per process whose thread is never started; the target runs its turns
 * itself with event_loop_run_once(), so everything happens on the fuzzing thread, in order.
 */
#ifndef VMM_TESTS_FUZZ_LOOP_H
#define VMM_TESTS_FUZZ_LOOP_H

#include "event_loop.h"
#include "fuzz.h"

/* The process's loop (created at the first call; it lives as long as the process). */
static inline struct event_loop *fuzz_loop(void)
{
	static struct event_loop *l;

	if (!l)
		FUZZ_CHECK(event_loop_create(256, &fuzz_log, &l) == 0);
	return l;
}

/*
 * Run turns until nothing is pending (requests in flight, work put off), waiting for completions
 * when wait: the device must come to rest after a reset, or an iteration would leak into the next.
 */
static inline void fuzz_loop_settle(struct event_loop *l, bool wait)
{
	int ret = 1;

	for (int i = 0; i < 1000 && ret == 1; i++)
		ret = event_loop_run_once(l, wait);
	FUZZ_CHECK(ret == 0);
}

#endif
