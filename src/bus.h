/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Port-I/O and MMIO address ranges -> device callbacks. Ranges are registered
 * before the vCPUs start and never change afterwards, so lookups take no lock;
 * each device locks its own state.
 */
#ifndef VMM_BUS_H
#define VMM_BUS_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A device access. off is relative to the start of the registered range; data
 * holds len (1, 2, 4 or 8) bytes, little-endian: filled by the device on a read,
 * supplied by the guest on a write.
 */
typedef void (*bus_io_fn)(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);

struct bus_range {
	uint64_t base, len;
	bus_io_fn fn;
	void *opaque;
	const char *name;
};

struct bus {
	struct bus_range *ranges; /* sorted by base, non-overlapping */
	int nr, cap;
};

void bus_init(struct bus *b);
void bus_destroy(struct bus *b);
/* -EINVAL for len 0 or wrap-around, -EEXIST for an overlap, -ENOMEM. */
__attribute__((warn_unused_result)) int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn,
						     void *opaque, const char *name);
/*
 * Dispatch one access. Returns false when no device claims addr; then a read
 * is answered with all-ones.
 */
bool bus_dispatch(const struct bus *b, uint64_t addr, void *data, uint32_t len, bool is_write);
/* The same, answering which range took it: its index in b->ranges, or -1 when none did. */
int bus_dispatch_at(const struct bus *b, uint64_t addr, void *data, uint32_t len, bool is_write);

#endif
