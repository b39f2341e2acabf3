/* SPDX-License-Identifier: Apache-2.0 */
/* Messages from the library to its user: one sentence per call, through a callback. */
#ifndef VMM_LOG_H
#define VMM_LOG_H

#include <vmm/vmm.h>

struct vlog {
	vmm_log_fn fn;      /* NULL: stderr */
	void *opaque;
	enum vmm_log_level level;
};

/* Format one message and deliver it if level <= log->level. log may be NULL (dropped). */
void vlog(const struct vlog *log, enum vmm_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Guest-triggerable warnings are rationed per device: a hostile guest must not flood the log. */
#define VLOG_GUEST_BUDGET 16
struct vlog_budget {
	_Atomic unsigned used;
};

/*
 * Take one from ration b: 0 when it is used up, else how many were left with this one (1: this is
 * the last). It saturates (a guest cannot wrap it around). Any thread. For guest-triggerable
 * events other than log lines (e.g. VMM_EVENT_DEVICE_ERROR).
 */
unsigned vlog_ration(struct vlog_budget *b);

/* A warning caused by the guest: "prefix: message", the last one allowed says so. Any thread. */
void vlog_guest(const struct vlog *log, struct vlog_budget *b, const char *prefix, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#define vlog_err(l, ...) vlog((l), VMM_LOG_ERROR, __VA_ARGS__)
#define vlog_warn(l, ...) vlog((l), VMM_LOG_WARN, __VA_ARGS__)
#define vlog_info(l, ...) vlog((l), VMM_LOG_INFO, __VA_ARGS__)
#define vlog_debug(l, ...) vlog((l), VMM_LOG_DEBUG, __VA_ARGS__)

#endif
