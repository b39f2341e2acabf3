/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ACPI Generic Event Device (GED, _HID "ACPI0013") of a hardware-reduced platform: how the host presses the
 * power button. One event-status byte at GED_IO_BASE and one edge-triggered, active-high interrupt (GED_GSI):
 *   GED_IO_BASE + 0  pending events (GED_EVENT_*); read-to-clear, writes are ignored
 * ged_power_button() sets GED_EVENT_POWER_BUTTON and pulses the interrupt. The guest's GED driver (Linux
 * drivers/acpi/evged.c) runs the DSDT's _EVT, which reads the byte and, for bit 0, does Notify (\_SB.PWRB, 0x80):
 * the PNP0C0C button driver reports KEY_POWER. acpi_build() emits that AML when acpi_config.ged is set.
 */
#ifndef VMM_DEVICES_GED_H
#define VMM_DEVICES_GED_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"
#include "irq.h"

#define GED_IO_BASE 0x610 /* after the PM registers (0x600..0x603) */
#define GED_IO_LEN 1
#define GED_GSI 9 /* ISA IRQ 9: free, edge-triggered, active high */
#define GED_EVENT_POWER_BUTTON 0x01

struct ged;

/* irq is copied (NULL: no interrupt). NULL on allocation failure. */
struct ged *ged_create(const struct irq_line *irq);
void ged_destroy(struct ged *g);
/*
 * Bus handler for the GED_IO_LEN ports at GED_IO_BASE. A read at offset 0 returns the pending events in its low
 * byte (the rest zero) and clears them; other offsets read 0. Writes do nothing.
 */
void ged_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);
/* Press the power button: set GED_EVENT_POWER_BUTTON and pulse the interrupt (1 then 0). Any thread. */
void ged_power_button(struct ged *g);

/*
 * Snapshot ops (kind "ged", version 1; dev is a struct ged). Saved: the pending events. A restore drives
 * the interrupt line low: a press only pulses it, and the edge of a pending event reached the guest's
 * irqchip before the snapshot (its state is saved with the irqchip's). A failed restore changes nothing.
 */
extern const struct vm_device_ops ged_device_ops;

#endif
