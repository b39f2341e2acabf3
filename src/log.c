// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>

void vlog(const struct vlog *log, enum vmm_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!log || level > log->level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log->fn)
		log->fn(log->opaque, level, msg);
	else
		fprintf(stderr, "vmm: %s\n", msg);
}

unsigned vlog_ration(struct vlog_budget *b)
{
	unsigned n = atomic_load(&b->used);

	/* Never past the budget: a counter that kept counting would wrap and start over. */
	do {
		if (n >= VLOG_GUEST_BUDGET)
			return 0;
	} while (!atomic_compare_exchange_weak(&b->used, &n, n + 1));
	return VLOG_GUEST_BUDGET - n;
}

void vlog_guest(const struct vlog *log, struct vlog_budget *b, const char *prefix, const char *fmt, ...)
{
	unsigned left = vlog_ration(b);
	char msg[256];
	va_list ap;

	if (!left)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog(log, VMM_LOG_WARN, "%s: %s%s", prefix, msg,
	     left == 1 ? " (further warnings of this device suppressed)" : "");
}
