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

void vlog_guest(const struct vlog *log, struct vlog_budget *b, const char *prefix, const char *fmt, ...)
{
	unsigned n = atomic_fetch_add(&b->used, 1);
	char msg[256];
	va_list ap;

	if (n >= VLOG_GUEST_BUDGET)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog(log, VMM_LOG_WARN, "%s: %s%s", prefix, msg,
	     n + 1 == VLOG_GUEST_BUDGET ? " (further warnings of this device suppressed)" : "");
}
