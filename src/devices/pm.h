/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hardware-reduced ACPI power-management registers the FADT points at:
 *   PM_IO_BASE + 0  sleep control: SLP_TYPx in bits 4:2, SLP_EN in bit 5
 *   PM_IO_BASE + 1  sleep status (WAK_STS, bit 7)
 *   PM_IO_BASE + 2  reset register: writing PM_RESET_VALUE resets the machine
 * Entering S5 (SLP_TYP == PM_S5_SLP_TYP with SLP_EN) is a power-off.
 */
#ifndef VMM_DEVICES_PM_H
#define VMM_DEVICES_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define PM_IO_BASE 0x600
#define PM_IO_LEN 4
#define PM_SLEEP_CONTROL_OFF 0
#define PM_SLEEP_STATUS_OFF 1
#define PM_RESET_OFF 2
#define PM_RESET_VALUE 0x0e
#define PM_S5_SLP_TYP 5

enum pm_event { PM_EVENT_POWEROFF, PM_EVENT_RESET };

struct pm;

/* Called from the vCPU thread that wrote the register. */
typedef void (*pm_event_fn)(void *opaque, enum pm_event ev);

struct pm *pm_create(pm_event_fn fn, void *opaque);
void pm_destroy(struct pm *p);
/* Bus handler for the PM_IO_LEN ports at PM_IO_BASE. */
void pm_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

/*
 * Snapshot ops (kind "pm", version 1; dev is a struct pm). These registers keep no state (every read is
 * 0, writes act at once), so nothing is saved and a restore accepts only empty state.
 */
extern const struct vm_device_ops pm_device_ops;

#endif
