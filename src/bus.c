// SPDX-License-Identifier: Apache-2.0
#include "bus.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void bus_init(struct bus *b)
{
	memset(b, 0, sizeof(*b));
}

void bus_destroy(struct bus *b)
{
	free(b->ranges);
	memset(b, 0, sizeof(*b));
}

int bus_register(struct bus *b, uint64_t base, uint64_t len, bus_io_fn fn, void *opaque, const char *name)
{
	uint64_t end;
	int i;

	if (len == 0 || !fn || __builtin_add_overflow(base, len, &end))
		return -EINVAL;
	for (i = 0; i < b->nr; i++) {
		if (base < b->ranges[i].base + b->ranges[i].len && b->ranges[i].base < end)
			return -EEXIST;
	}
	if (b->nr == b->cap) {
		int cap = b->cap ? b->cap * 2 : 16;
		struct bus_range *r = realloc(b->ranges, (size_t)cap * sizeof(*r));

		if (!r)
			return -ENOMEM;
		b->ranges = r;
		b->cap = cap;
	}
	for (i = b->nr; i > 0 && b->ranges[i - 1].base > base; i--)
		b->ranges[i] = b->ranges[i - 1];
	b->ranges[i] = (struct bus_range){ .base = base, .len = len, .fn = fn, .opaque = opaque, .name = name };
	b->nr++;
	return 0;
}

static const struct bus_range *find(const struct bus *b, uint64_t addr)
{
	int lo = 0, hi = b->nr - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		const struct bus_range *r = &b->ranges[mid];

		if (addr < r->base)
			hi = mid - 1;
		else if (addr - r->base >= r->len)
			lo = mid + 1;
		else
			return r;
	}
	return NULL;
}

int bus_dispatch_at(const struct bus *b, uint64_t addr, void *data, uint32_t len, bool is_write)
{
	const struct bus_range *r = find(b, addr);

	/* The whole access must fall inside the one range that claims its first byte. */
	if (!r || len == 0 || len > r->len - (addr - r->base)) {
		if (!is_write)
			memset(data, 0xff, len);
		return -1;
	}
	r->fn(r->opaque, addr - r->base, data, len, is_write);
	return (int)(r - b->ranges);
}

bool bus_dispatch(const struct bus *b, uint64_t addr, void *data, uint32_t len, bool is_write)
{
	return bus_dispatch_at(b, addr, data, len, is_write) >= 0;
}
