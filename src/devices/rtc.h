/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The MC146818 CMOS real-time clock at ports 0x70 (index) / 0x71 (data): the
 * host's UTC time in BCD or binary, 24- or 12-hour as register B asks, the
 * century at 0x32, and 114 bytes of CMOS RAM. A guest that sets the clock
 * moves an offset, never the host's clock; the guest's clock stays within the
 * years 1970..9999 (a write beyond either end sets it to that end).
 */
#ifndef VMM_DEVICES_RTC_H
#define VMM_DEVICES_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

struct rtc;

/* Seconds since the Unix epoch (UTC). */
typedef int64_t (*rtc_clock_fn)(void *opaque);

/* now NULL: the host's CLOCK_REALTIME. NULL on allocation failure. */
struct rtc *rtc_create(rtc_clock_fn now, void *opaque);
void rtc_destroy(struct rtc *r);
/* Bus handler for the 2 ports (offset 0: index, offset 1: data). */
void rtc_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

/*
 * Snapshot ops (kind "rtc", version 1; dev is a struct rtc). Saved: the index, registers A and B, the
 * alarms and CMOS RAM, the guest's offset from the host clock and its own day of the week, and while
 * B.SET is set the frozen time the guest is editing. The offset is kept, not the time: restored on
 * another day, the clock reads the host's time then plus the same offset, as the guest's wall clock
 * would have run on. A failed restore leaves the clock unchanged.
 */
extern const struct vm_device_ops rtc_device_ops;

#endif
