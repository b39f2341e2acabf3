// SPDX-License-Identifier: Apache-2.0
/* The boot-timer port: a byte write at offset 0 records (CLOCK_MONOTONIC now, value); nothing else does. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "devices/boot_timer.h"
#include "unit.h"

struct marks {
	int n;
	uint8_t value[8];
	uint64_t ns[8];
};

static void on_mark(void *opaque, uint8_t value, uint64_t mono_ns)
{
	struct marks *m = opaque;

	if (m->n < 8) {
		m->value[m->n] = value;
		m->ns[m->n] = mono_ns;
	}
	m->n++;
}

START_TEST(byte_write_records_time_and_value)
{
	struct marks m = { 0 };
	struct boot_timer *t = boot_timer_create(on_mark, &m);
	uint64_t before, after;
	uint8_t v = 42;

	ck_assert_ptr_nonnull(t);
	before = boot_timer_now_ns();
	boot_timer_io(t, 0, &v, 1, true);
	after = boot_timer_now_ns();
	ck_assert_int_eq(m.n, 1);
	ck_assert_uint_eq(m.value[0], 42);
	ck_assert_uint_ge(m.ns[0], before);
	ck_assert_uint_le(m.ns[0], after);
	v = 7;
	boot_timer_io(t, 0, &v, 1, true);
	ck_assert_int_eq(m.n, 2);
	ck_assert_uint_eq(m.value[1], 7);
	ck_assert_uint_ge(m.ns[1], m.ns[0]);
	ck_assert_uint_eq(boot_timer_count(t), 2);
	boot_timer_destroy(t);
	boot_timer_destroy(NULL);
}
END_TEST

START_TEST(wide_write_takes_low_byte)
{
	struct marks m = { 0 };
	struct boot_timer *t = boot_timer_create(on_mark, &m);
	uint32_t v = 0x12345603;

	boot_timer_io(t, 0, &v, 4, true);
	ck_assert_int_eq(m.n, 1);
	ck_assert_uint_eq(m.value[0], 0x03);
	boot_timer_destroy(t);
}
END_TEST

START_TEST(reads_and_other_offsets_do_nothing)
{
	struct marks m = { 0 };
	struct boot_timer *t = boot_timer_create(on_mark, &m);
	uint32_t r = 0xdeadbeef;
	uint8_t v = 1;

	boot_timer_io(t, 0, &r, 4, false);
	ck_assert_uint_eq(r, 0);
	boot_timer_io(t, 1, &v, 1, true);
	boot_timer_io(t, 0, &v, 0, true);
	ck_assert_int_eq(m.n, 0);
	ck_assert_uint_eq(boot_timer_count(t), 0);
	boot_timer_destroy(t);
}
END_TEST

START_TEST(no_callback_still_counts)
{
	struct boot_timer *t = boot_timer_create(NULL, NULL);
	uint8_t v = 9;

	boot_timer_io(t, 0, &v, 1, true);
	ck_assert_uint_eq(boot_timer_count(t), 1);
	boot_timer_destroy(t);
}
END_TEST

START_TEST(through_the_bus)
{
	struct marks m = { 0 };
	struct boot_timer *t = boot_timer_create(on_mark, &m);
	struct bus b;
	uint8_t v = 5;
	uint16_t w = 0x0102;

	bus_init(&b);
	ck_assert_int_eq(bus_register(&b, BOOT_TIMER_PORT, BOOT_TIMER_LEN, boot_timer_io, t, "boot-timer"), 0);
	ck_assert_int_eq(bus_dispatch_at(&b, BOOT_TIMER_PORT, &v, 1, true), 0);
	ck_assert_int_eq(m.n, 1);
	ck_assert_uint_eq(m.value[0], 5);
	/* A 2-byte write does not fit the one port: unclaimed, not a marker. */
	ck_assert_int_eq(bus_dispatch_at(&b, BOOT_TIMER_PORT, &w, 2, true), -1);
	ck_assert_int_eq(bus_dispatch_at(&b, BOOT_TIMER_PORT + 1, &v, 1, true), -1);
	ck_assert_int_eq(m.n, 1);
	bus_destroy(&b);
	boot_timer_destroy(t);
}
END_TEST

/* Restore dev from a heap copy of exactly n bytes, so that ASan sees any read past them. */
static int restore(void *dev, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader in;
	int ret;

	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, p, n);
	sreader_init(&in, copy, n);
	ret = boot_timer_device_ops.restore(dev, &in);
	free(copy);
	return ret;
}

/* Nothing is saved; a restored timer counts its own markers from 0 and reads 0 as before. */
START_TEST(snapshot_round_trip)
{
	struct marks m = { 0 }, m2 = { 0 };
	struct boot_timer *t = boot_timer_create(on_mark, &m);
	struct boot_timer *u = boot_timer_create(on_mark, &m2);
	struct sbuf b;
	uint8_t v = 7;

	ck_assert_str_eq(boot_timer_device_ops.kind, "boot-timer");
	ck_assert_uint_eq(boot_timer_device_ops.version, 1);
	boot_timer_io(t, 0, &v, 1, true);
	sbuf_init(&b);
	ck_assert_int_eq(boot_timer_device_ops.save(t, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(restore(u, b.data, b.len), 0);
	ck_assert_uint_eq(boot_timer_count(u), 0);
	v = 0xa5;
	boot_timer_io(u, 0, &v, 1, false);
	ck_assert_uint_eq(v, 0);
	v = 9;
	boot_timer_io(u, 0, &v, 1, true);
	ck_assert_uint_eq(boot_timer_count(u), 1);
	ck_assert_int_eq(m2.n, 1);
	ck_assert_uint_eq(m2.value[0], 9);
	sbuf_free(&b);
	boot_timer_destroy(t);
	boot_timer_destroy(u);
}
END_TEST

/* Any byte is one too many; the timer keeps working. */
START_TEST(snapshot_hostile)
{
	struct marks m = { 0 };
	struct boot_timer *t = boot_timer_create(on_mark, &m);
	const uint8_t junk[] = { 1, 2, 3 };
	uint8_t v = 1;

	for (size_t n = 1; n <= sizeof(junk); n++)
		ck_assert_int_eq(restore(t, junk, n), -EINVAL);
	boot_timer_io(t, 0, &v, 1, true);
	ck_assert_uint_eq(boot_timer_count(t), 1);
	ck_assert_int_eq(m.n, 1);
	boot_timer_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot_timer");
	TCase *tc = tcase_create("boot_timer");

	tcase_add_test(tc, byte_write_records_time_and_value);
	tcase_add_test(tc, wide_write_takes_low_byte);
	tcase_add_test(tc, reads_and_other_offsets_do_nothing);
	tcase_add_test(tc, no_callback_still_counts);
	tcase_add_test(tc, through_the_bus);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
