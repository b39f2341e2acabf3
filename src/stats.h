/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Exit statistics (--stats): per-vCPU counters of KVM exits by reason, of port and MMIO exits by bus
 * range, and the time spent in user space handling exits. Each vCPU thread writes only its own
 * struct stats, without locks or atomics; they are added up after the threads stopped.
 */
#ifndef VMM_STATS_H
#define VMM_STATS_H

#include <stdint.h>

#include "bus.h"

enum stats_exit {
	STATS_EXIT_IO,
	STATS_EXIT_MMIO,
	STATS_EXIT_HLT,
	STATS_EXIT_INTR,
	STATS_EXIT_SHUTDOWN,
	STATS_EXIT_SYSTEM_EVENT,
	STATS_EXIT_INTERNAL_ERROR,
	STATS_EXIT_FAIL_ENTRY,
	STATS_EXIT_OTHER,
	STATS_EXIT_KICK, /* KVM_RUN returned -EINTR: a kick (pause, stop), not an exit of the guest's */
	STATS_EXIT_NR
};

struct stats {
	uint64_t exits[STATS_EXIT_NR];
	uint64_t *pio, *mmio;  /* one counter per bus range, and one more (the last) for unclaimed addresses */
	int npio, nmmio;       /* bus ranges counted (the arrays hold one more) */
	uint64_t handle_ns;    /* user space time from KVM_RUN returning to the exit being handled */
};

/* Counters for buses of npio and nmmio ranges (the buses must not change afterwards). 0 or -ENOMEM. */
int stats_init(struct stats *s, int npio, int nmmio);
void stats_destroy(struct stats *s);
/* The stats_exit bucket of a KVM exit reason (KVM_EXIT_*). */
enum stats_exit stats_exit_kind(uint32_t kvm_exit_reason);
/* Count one exit on bus range idx (bus_dispatch_at()'s answer; negative: unclaimed). */
void stats_count_range(uint64_t *counts, int nranges, int idx);
/* dst += src; both were made for the same buses. */
void stats_add(struct stats *dst, const struct stats *src);
/* Total exits, kicks excluded. */
uint64_t stats_total(const struct stats *s);

/* One finished line of the report (no newline). */
typedef void (*stats_line_fn)(void *opaque, const char *line);
/*
 * Report total (the sum over the vCPUs) as lines "stats: ...": exits by reason, port and MMIO exits by
 * range (ranges nobody exited on are left out), the user space handling time, and, with more than one
 * vCPU, one line per vCPU (per[0..ncpus-1]).
 */
void stats_report(const struct stats *total, const struct stats *per, unsigned ncpus, const struct bus *pio,
		  const struct bus *mmio, stats_line_fn emit, void *opaque);

#endif
