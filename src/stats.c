// SPDX-License-Identifier: Apache-2.0
/* Exit statistics: counting (on the vCPU threads, lock-free) and the report (after they stopped). */
#include "stats.h"

#include <errno.h>
#include <stdarg.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const exit_names[STATS_EXIT_NR] = {
	[STATS_EXIT_IO] = "io",
	[STATS_EXIT_MMIO] = "mmio",
	[STATS_EXIT_HLT] = "hlt",
	[STATS_EXIT_INTR] = "intr",
	[STATS_EXIT_SHUTDOWN] = "shutdown",
	[STATS_EXIT_SYSTEM_EVENT] = "system-event",
	[STATS_EXIT_INTERNAL_ERROR] = "internal-error",
	[STATS_EXIT_FAIL_ENTRY] = "fail-entry",
	[STATS_EXIT_OTHER] = "other",
	[STATS_EXIT_KICK] = "kick",
};

int stats_init(struct stats *s, int npio, int nmmio)
{
	memset(s, 0, sizeof(*s));
	if (npio < 0 || nmmio < 0)
		return -EINVAL;
	s->pio = calloc((size_t)npio + 1, sizeof(*s->pio));
	s->mmio = calloc((size_t)nmmio + 1, sizeof(*s->mmio));
	if (!s->pio || !s->mmio) {
		stats_destroy(s);
		return -ENOMEM;
	}
	s->npio = npio;
	s->nmmio = nmmio;
	return 0;
}

void stats_destroy(struct stats *s)
{
	free(s->pio);
	free(s->mmio);
	memset(s, 0, sizeof(*s));
}

enum stats_exit stats_exit_kind(uint32_t kvm_exit_reason)
{
	switch (kvm_exit_reason) {
	case KVM_EXIT_IO:
		return STATS_EXIT_IO;
	case KVM_EXIT_MMIO:
		return STATS_EXIT_MMIO;
	case KVM_EXIT_HLT:
		return STATS_EXIT_HLT;
	case KVM_EXIT_INTR:
		return STATS_EXIT_INTR;
	case KVM_EXIT_SHUTDOWN:
		return STATS_EXIT_SHUTDOWN;
	case KVM_EXIT_SYSTEM_EVENT:
		return STATS_EXIT_SYSTEM_EVENT;
	case KVM_EXIT_INTERNAL_ERROR:
		return STATS_EXIT_INTERNAL_ERROR;
	case KVM_EXIT_FAIL_ENTRY:
		return STATS_EXIT_FAIL_ENTRY;
	default:
		return STATS_EXIT_OTHER;
	}
}

void stats_count_range(uint64_t *counts, int nranges, int idx)
{
	counts[idx >= 0 && idx < nranges ? idx : nranges]++;
}

void stats_add(struct stats *dst, const struct stats *src)
{
	for (int i = 0; i < STATS_EXIT_NR; i++)
		dst->exits[i] += src->exits[i];
	for (int i = 0; i <= dst->npio && i <= src->npio; i++)
		dst->pio[i] += src->pio[i];
	for (int i = 0; i <= dst->nmmio && i <= src->nmmio; i++)
		dst->mmio[i] += src->mmio[i];
	dst->handle_ns += src->handle_ns;
}

uint64_t stats_total(const struct stats *s)
{
	uint64_t n = 0;

	for (int i = 0; i < STATS_EXIT_NR; i++)
		if (i != STATS_EXIT_KICK)
			n += s->exits[i];
	return n;
}

/* Append to a line buffer; a line that does not fit is cut short (never overflows). */
static __attribute__((format(printf, 3, 4))) void add(char *buf, size_t len, const char *fmt, ...)
{
	size_t used = strnlen(buf, len);
	va_list ap;

	if (used + 1 >= len)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
}

static void report_ranges(const char *kind, const uint64_t *counts, const struct bus *b, int n, stats_line_fn emit,
			  void *opaque)
{
	char line[160];

	for (int i = 0; i < n && i < b->nr; i++) {
		const struct bus_range *r = &b->ranges[i];

		if (!counts[i])
			continue;
		if (r->len == 1)
			snprintf(line, sizeof(line), "stats: %s 0x%llx %s: %llu exits", kind, (unsigned long long)r->base,
				 r->name ? r->name : "?", (unsigned long long)counts[i]);
		else
			snprintf(line, sizeof(line), "stats: %s 0x%llx-0x%llx %s: %llu exits", kind,
				 (unsigned long long)r->base, (unsigned long long)(r->base + r->len - 1),
				 r->name ? r->name : "?", (unsigned long long)counts[i]);
		emit(opaque, line);
	}
	if (counts[n]) {
		snprintf(line, sizeof(line), "stats: %s unclaimed (no device): %llu exits", kind,
			 (unsigned long long)counts[n]);
		emit(opaque, line);
	}
}

void stats_report(const struct stats *total, const struct stats *per, unsigned ncpus, const struct bus *pio,
		  const struct bus *mmio, stats_line_fn emit, void *opaque)
{
	uint64_t n = stats_total(total);
	char line[256] = "";
	const char *sep = " (";

	add(line, sizeof(line), "stats: exits: %llu", (unsigned long long)n);
	for (int i = 0; i < STATS_EXIT_NR; i++) {
		if (total->exits[i]) {
			add(line, sizeof(line), "%s%s %llu", sep, exit_names[i], (unsigned long long)total->exits[i]);
			sep = ", ";
		}
	}
	if (*sep == ',')
		add(line, sizeof(line), ")");
	emit(opaque, line);
	report_ranges("port", total->pio, pio, total->npio, emit, opaque);
	report_ranges("mmio", total->mmio, mmio, total->nmmio, emit, opaque);
	snprintf(line, sizeof(line), "stats: user space exit handling: %.3f ms in total, %.1f us per exit",
		 (double)total->handle_ns / 1e6, n ? (double)total->handle_ns / 1e3 / (double)n : 0.0);
	emit(opaque, line);
	for (unsigned i = 0; ncpus > 1 && i < ncpus; i++) {
		snprintf(line, sizeof(line), "stats: vCPU %u: %llu exits, %.3f ms handling them", i,
			 (unsigned long long)stats_total(&per[i]), (double)per[i].handle_ns / 1e6);
		emit(opaque, line);
	}
}
