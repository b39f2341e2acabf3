/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PC's reset control register, port 0xcf9 (one byte, inside the PCI configuration ports):
 *   bit 1  SYS_RST   a hard reset rather than a soft one (kept, read back)
 *   bit 2  RST_CPU   writing 1 resets the machine
 *   bit 3  FULL_RST  a full power cycle (kept, read back)
 * Linux writes (cf9 | 2) then (cf9 | 6) or (cf9 | 0xe) for reboot=p, and when it falls back
 * through its list of reboot methods. Every reset, of any kind, ends the VM as a reboot.
 */
#ifndef VMM_DEVICES_CF9_H
#define VMM_DEVICES_CF9_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define CF9_PORT 0xcf9
#define CF9_SYS_RST 0x02
#define CF9_RST_CPU 0x04
#define CF9_FULL_RST 0x08

struct cf9;

/* Called from the vCPU thread that wrote RST_CPU. */
typedef void (*cf9_reset_fn)(void *opaque);

struct cf9 *cf9_create(cf9_reset_fn reset, void *opaque);
void cf9_destroy(struct cf9 *r);
/* Bus handler for the one byte at CF9_PORT (off 0); other offsets and widths read 0xff, writes are dropped. */
void cf9_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

/*
 * Snapshot ops (kind "cf9", version 1; dev is a struct cf9). Saved: the register (SYS_RST and FULL_RST;
 * RST_CPU never stays set). A failed restore leaves it unchanged.
 */
extern const struct vm_device_ops cf9_device_ops;

#endif
