// SPDX-License-Identifier: Apache-2.0
/* The I/O bus: registration rules, offsets handed to devices, all-ones for unclaimed reads. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "unit.h"

struct rec {
	uint64_t off;
	uint32_t len;
	bool is_write;
	int calls;
};

static void dev(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->off = off;
	r->len = len;
	r->is_write = is_write;
	r->calls++;
	if (!is_write)
		memset(data, 0x5a, len);
}

START_TEST(register_rules)
{
	struct bus b;
	struct rec r = { 0 };

	bus_init(&b);
	ck_assert_int_eq(bus_register(&b, 0x3f8, 8, dev, &r, "a"), 0);
	ck_assert_int_eq(bus_register(&b, 0x3f8, 0, dev, &r, "zero"), -EINVAL);
	ck_assert_int_eq(bus_register(&b, 0x3ff, 1, dev, &r, "overlap"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, 0x3f0, 9, dev, &r, "overlap2"), -EEXIST);
	ck_assert_int_eq(bus_register(&b, UINT64_MAX, 2, dev, &r, "wrap"), -EINVAL);
	ck_assert_int_eq(bus_register(&b, 0x3f0, 8, dev, &r, "below"), 0);
	ck_assert_int_eq(bus_register(&b, 0x400, 1, dev, &r, "above"), 0);
	ck_assert_int_eq(b.nr, 3);
	bus_destroy(&b);
}
END_TEST

START_TEST(dispatch_offsets)
{
	struct bus b;
	struct rec r1 = { 0 }, r2 = { 0 };
	uint8_t data[8];

	bus_init(&b);
	for (int i = 0; i < 40; i++) /* many ranges: the sorted lookup must find each */
		ck_assert_int_eq(bus_register(&b, 0x1000 + (uint64_t)i * 0x10, 8, dev, &r2, "filler"), 0);
	ck_assert_int_eq(bus_register(&b, 0x3f8, 8, dev, &r1, "uart"), 0);
	ck_assert(bus_dispatch(&b, 0x3fd, data, 1, false));
	ck_assert_uint_eq(r1.off, 5);
	ck_assert_uint_eq(data[0], 0x5a);
	ck_assert(bus_dispatch(&b, 0x1000 + 39 * 0x10 + 7, data, 1, true));
	ck_assert_uint_eq(r2.off, 7);
	ck_assert(r2.is_write);
	bus_destroy(&b);
}
END_TEST

START_TEST(unclaimed_reads_all_ones)
{
	struct bus b;
	struct rec r = { 0 };
	uint8_t data[4] = { 0 };

	bus_init(&b);
	ck_assert_int_eq(bus_register(&b, 0x70, 2, dev, &r, "rtc"), 0);
	ck_assert(!bus_dispatch(&b, 0x80, data, 4, false));
	ck_assert_uint_eq(data[0] & data[1] & data[2] & data[3], 0xff);
	/* An access running past the end of its range is not given to the device. */
	ck_assert(!bus_dispatch(&b, 0x71, data, 2, false));
	ck_assert_int_eq(r.calls, 0);
	ck_assert(!bus_dispatch(&b, 0x80, data, 1, true));
	bus_destroy(&b);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("bus");
	TCase *tc = tcase_create("bus");

	tcase_add_test(tc, register_rules);
	tcase_add_test(tc, dispatch_offsets);
	tcase_add_test(tc, unclaimed_reads_all_ones);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
