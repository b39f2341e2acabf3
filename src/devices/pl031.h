/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ARM PrimeCell PL031 real-time clock (DDI0224) of an arm64 guest: a 32-bit seconds counter the guest
 * reads at DR and sets through LR, a match register MR with a level interrupt (raised while RIS & IMSC),
 * and the PrimeCell ID registers at 0xfe0..0xffc (periphid 0x00041031, cellid 0xb105f00d) that Linux's
 * AMBA bus reads before it binds rtc-pl031. Its device-tree node: compatible "arm,pl031", "arm,primecell",
 * a 0x1000-byte reg (the bus finds the IDs at the end of the region), the interrupt level-high, and an
 * "apb_pclk" clock (the AMBA bus refuses a node without one).
 *
 * The guest's counter is the host's CLOCK_REALTIME seconds plus an offset that an LR write moves; the
 * host's clock is never set. CR reads 1 from reset on (the clock was started long before the guest
 * booted, as firmware leaves a battery-backed RTC) and writes to it are ignored.
 *
 * The match: RIS is set when the counter reaches MR by counting, or when an MR or LR write makes them
 * equal. There is no host timer behind it yet (the CMOS RTC has none either): the match is evaluated on
 * each guest access and on pl031_poll(), so an alarm the guest armed and then waits for, without reading
 * the clock, is raised only at its next access or the VM's next pl031_poll().
 */
#ifndef VMM_DEVICES_PL031_H
#define VMM_DEVICES_PL031_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "irq.h"

struct pl031;

/* Seconds since the Unix epoch (UTC). */
typedef int64_t (*pl031_clock_fn)(void *opaque);

/* now NULL: the host's CLOCK_REALTIME. irq is copied (NULL: no interrupt). NULL on allocation failure. */
struct pl031 *pl031_create(pl031_clock_fn now, void *opaque, const struct irq_line *irq);
void pl031_destroy(struct pl031 *p);
/*
 * Bus handler for the 0x1000-byte register page. Only 4-byte accesses at 4-aligned offsets reach a
 * register; any other access reads zero and writes nothing, as do reserved offsets. Writes to DR, RIS,
 * MIS, CR and the ID registers are ignored; ICR reads zero.
 */
void pl031_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);
/* Evaluate the match against the clock now and drive the interrupt line: what a timer would call. Any thread. */
void pl031_poll(struct pl031 *p);

/*
 * Snapshot ops (kind "pl031", version 1; dev is a struct pl031). Saved: MR, LR, IMSC, RIS, the guest's
 * offset from the host clock, and the host second at which the match was last evaluated. The offset is
 * kept, not the time, as the CMOS RTC does: restored on another day, the counter reads the host's time
 * then plus the same offset. A match the counter passed between the save and the restore is raised by
 * the restore. A failed restore leaves the clock unchanged; a successful one drives the interrupt line
 * (even when low).
 */
extern const struct vm_device_ops pl031_device_ops;

#endif
