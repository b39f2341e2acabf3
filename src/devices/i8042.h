/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Just enough of the i8042 keyboard controller for a guest to reset the
 * machine (command 0xfe on port 0x64, as Linux's reboot=k does) and for probes
 * to find an idle controller with nothing attached.
 */
#ifndef VMM_DEVICES_I8042_H
#define VMM_DEVICES_I8042_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

struct i8042;

/* Called (from a vCPU thread) when the guest pulses the reset line. */
typedef void (*i8042_reset_fn)(void *opaque);

struct i8042 *i8042_create(i8042_reset_fn reset, void *opaque);
void i8042_destroy(struct i8042 *k);
/* Bus handlers: port 0x60 (data) and port 0x64 (status / command). */
void i8042_data_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);
void i8042_cmd_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

/*
 * Snapshot ops (kind "i8042", version 1; dev is a struct i8042). Saved: the command byte, the output
 * port, the output buffer and whether it is full, which port was written last, and a command waiting
 * for its data byte. A failed restore leaves the controller unchanged.
 */
extern const struct vm_device_ops i8042_device_ops;

#endif
