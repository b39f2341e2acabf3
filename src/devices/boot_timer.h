/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The boot-timer port: a guest writes a byte V to BOOT_TIMER_PORT to mark a point of its boot (e.g. its
 * /init starting), and the VMM records (host CLOCK_MONOTONIC time, V). The idea is Firecracker's boot
 * timer device; the port and the byte values are ours:
 *   BOOT_TIMER_PORT + 0  write: a marker with value V (the low byte of a wider write); read: 0
 * The port sits after the ACPI PM (0x600..0x603) and GED (0x610) registers, in the block this VMM
 * owns; it is always present (a marker costs one exit), --boot-timer decides what is printed.
 */
#ifndef VMM_DEVICES_BOOT_TIMER_H
#define VMM_DEVICES_BOOT_TIMER_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define BOOT_TIMER_PORT 0x620
#define BOOT_TIMER_LEN 1

struct boot_timer;

/* Called from the vCPU thread that wrote the marker: value and the CLOCK_MONOTONIC time in ns. */
typedef void (*boot_timer_fn)(void *opaque, uint8_t value, uint64_t mono_ns);

/* fn may be NULL (markers are only counted). NULL on allocation failure. */
struct boot_timer *boot_timer_create(boot_timer_fn fn, void *opaque);
void boot_timer_destroy(struct boot_timer *t);
/* Bus handler for the BOOT_TIMER_LEN ports at BOOT_TIMER_PORT. */
void boot_timer_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);
/* How many markers the guest wrote. Any thread. */
uint64_t boot_timer_count(const struct boot_timer *t);
/* CLOCK_MONOTONIC now, in ns. */
uint64_t boot_timer_now_ns(void);

/*
 * Snapshot ops (kind "boot-timer", version 1; dev is a struct boot_timer). The port has nothing a guest
 * can read back, so nothing is saved and a restore accepts only empty state. The marker count and the
 * CLOCK_MONOTONIC times are the host's record of one run, meaningless on another host or boot: a restored
 * VM counts its own markers from 0, timed by the host it runs on.
 */
extern const struct vm_device_ops boot_timer_device_ops;

#endif
