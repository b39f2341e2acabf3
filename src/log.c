// SPDX-License-Identifier: Apache-2.0
#include "log.h"

#include <stdarg.h>
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
