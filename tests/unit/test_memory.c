// SPDX-License-Identifier: Apache-2.0
/* Guest memory: layout around the MMIO hole and the bounds checks every guest access relies on. */
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "memory.h"
#include "unit.h"

START_TEST(layout_small)
{
	struct guest_mem m;

	ck_assert_int_eq(gmem_init(&m, 64ull << 20), 0);
	ck_assert_int_eq(m.nr, 1);
	ck_assert_uint_eq(m.r[0].gpa, 0);
	ck_assert_uint_eq(m.r[0].size, 64ull << 20);
	ck_assert_uint_eq(gmem_low_end(&m), 64ull << 20);
	gmem_destroy(&m);
}
END_TEST

START_TEST(layout_split_at_hole)
{
	struct guest_mem m;

	/* 4 GiB: 3 GiB below the hole, 1 GiB from 4 GiB up (MAP_NORESERVE: nothing is touched). */
	ck_assert_int_eq(gmem_init(&m, 4ull << 30), 0);
	ck_assert_int_eq(m.nr, 2);
	ck_assert_uint_eq(m.r[0].size, GMEM_HOLE_START);
	ck_assert_uint_eq(m.r[1].gpa, GMEM_HOLE_END);
	ck_assert_uint_eq(m.r[1].size, (4ull << 30) - GMEM_HOLE_START);
	ck_assert_ptr_null(gmem_ptr(&m, GMEM_HOLE_START, 1));
	ck_assert_ptr_null(gmem_ptr(&m, GMEM_HOLE_START - 1, 2)); /* straddles into the hole */
	ck_assert_ptr_nonnull(gmem_ptr(&m, GMEM_HOLE_END, 4096));
	ck_assert_uint_eq(gmem_low_end(&m), GMEM_HOLE_START);
	gmem_destroy(&m);
}
END_TEST

START_TEST(init_rejects_bad_sizes)
{
	struct guest_mem m;

	ck_assert_int_eq(gmem_init(&m, 0), -EINVAL);
	ck_assert_int_eq(gmem_init(&m, 4097), -EINVAL);
}
END_TEST

START_TEST(bounds_and_overflow)
{
	struct guest_mem m = { 0 };
	uint8_t *buf = calloc(1, 8192), tmp[16];

	ck_assert_int_eq(gmem_add_region(&m, 0x1000, 8192, buf), 0);
	ck_assert_ptr_eq(gmem_ptr(&m, 0x1000, 8192), buf);
	ck_assert_ptr_eq(gmem_ptr(&m, 0x2fff, 1), buf + 8191);
	ck_assert_ptr_null(gmem_ptr(&m, 0x2fff, 2));
	ck_assert_ptr_null(gmem_ptr(&m, 0xfff, 1));
	ck_assert_ptr_null(gmem_ptr(&m, UINT64_MAX, 2));          /* wraps */
	ck_assert_ptr_null(gmem_ptr(&m, 0x1000, UINT64_MAX));     /* wraps */
	ck_assert_ptr_null(gmem_ptr(&m, 0x1001, UINT64_MAX - 1)); /* wraps exactly to 0 */
	ck_assert_int_eq(gmem_read(&m, 0x2ff8, tmp, 16), -EFAULT);
	ck_assert_int_eq(gmem_write(&m, 0x2ff0, tmp, 16), 0);
	ck_assert_int_eq(gmem_add_region(&m, 0x2000, 0x1000, tmp), -EEXIST);
	ck_assert_int_eq(gmem_add_region(&m, UINT64_MAX - 10, 0x1000, tmp), -EINVAL);
	free(buf);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("memory");
	TCase *tc = tcase_create("memory");

	tcase_add_test(tc, layout_small);
	tcase_add_test(tc, layout_split_at_hole);
	tcase_add_test(tc, init_rejects_bad_sizes);
	tcase_add_test(tc, bounds_and_overflow);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
