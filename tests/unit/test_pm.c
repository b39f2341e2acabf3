// SPDX-License-Identifier: Apache-2.0
/* The ACPI PM registers: S5 powers off, the reset value resets, everything else is ignored. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pm.h"
#include "unit.h"

#define SLP_EN 0x20

struct events {
	int poweroff, reset, other;
};

static void on_event(void *opaque, enum pm_event ev)
{
	struct events *e = opaque;

	if (ev == PM_EVENT_POWEROFF)
		e->poweroff++;
	else if (ev == PM_EVENT_RESET)
		e->reset++;
	else
		e->other++;
}

static void wr(struct pm *p, uint64_t off, uint8_t v)
{
	pm_io(p, off, &v, 1, true);
}

static uint8_t slp(unsigned int typ)
{
	return (uint8_t)(typ << 2);
}

START_TEST(s5_powers_off)
{
	struct events e = { 0 };
	struct pm *p = pm_create(on_event, &e);

	ck_assert_ptr_nonnull(p);
	wr(p, PM_SLEEP_CONTROL_OFF, slp(PM_S5_SLP_TYP) | SLP_EN);
	ck_assert_int_eq(e.poweroff, 1);
	ck_assert_int_eq(e.reset + e.other, 0);
	pm_destroy(p);
	pm_destroy(NULL);
}
END_TEST

START_TEST(other_sleep_requests_ignored)
{
	struct events e = { 0 };
	struct pm *p = pm_create(on_event, &e);
	unsigned int typ;

	wr(p, PM_SLEEP_CONTROL_OFF, slp(PM_S5_SLP_TYP)); /* no SLP_EN */
	wr(p, PM_SLEEP_CONTROL_OFF, slp(3) | SLP_EN);   /* S3 does not exist */
	for (typ = 0; typ < 8; typ++) {
		if (typ != PM_S5_SLP_TYP)
			wr(p, PM_SLEEP_CONTROL_OFF, slp(typ) | SLP_EN);
	}
	wr(p, PM_SLEEP_CONTROL_OFF, 0);
	wr(p, PM_SLEEP_CONTROL_OFF, SLP_EN);
	ck_assert_int_eq(e.poweroff + e.reset + e.other, 0);
	/* Unrelated bits around a real S5 request do not hide it. */
	wr(p, PM_SLEEP_CONTROL_OFF, 0xc3 | slp(PM_S5_SLP_TYP) | SLP_EN);
	ck_assert_int_eq(e.poweroff, 1);
	pm_destroy(p);
}
END_TEST

START_TEST(reset_register)
{
	struct events e = { 0 };
	struct pm *p = pm_create(on_event, &e);
	unsigned int v;

	wr(p, PM_RESET_OFF, PM_RESET_VALUE);
	ck_assert_int_eq(e.reset, 1);
	for (v = 0; v < 0x100; v++) {
		if (v != PM_RESET_VALUE)
			wr(p, PM_RESET_OFF, (uint8_t)v);
	}
	ck_assert_int_eq(e.reset, 1);
	ck_assert_int_eq(e.poweroff + e.other, 0);
	/* The reset value written elsewhere does nothing. */
	wr(p, PM_SLEEP_STATUS_OFF, PM_RESET_VALUE);
	wr(p, 3, PM_RESET_VALUE);
	ck_assert_int_eq(e.reset, 1);
	pm_destroy(p);
}
END_TEST

START_TEST(reads_return_zero)
{
	struct events e = { 0 };
	struct pm *p = pm_create(on_event, &e);
	uint8_t buf[8];
	uint64_t off;

	wr(p, PM_SLEEP_STATUS_OFF, 0xff); /* write-1-to-clear: nothing to clear */
	for (off = 0; off < PM_IO_LEN; off++) {
		memset(buf, 0xa5, sizeof(buf));
		pm_io(p, off, buf, 1, false);
		ck_assert_uint_eq(buf[0], 0);
		ck_assert_uint_eq(buf[1], 0xa5);
	}
	memset(buf, 0xa5, sizeof(buf));
	pm_io(p, 0, buf, 4, false);
	ck_assert_uint_eq(buf[0] | buf[1] | buf[2] | buf[3], 0);
	ck_assert_uint_eq(buf[4], 0xa5);
	ck_assert_int_eq(e.poweroff + e.reset + e.other, 0);
	pm_destroy(p);
}
END_TEST

START_TEST(odd_accesses)
{
	struct events e = { 0 };
	struct pm *p = pm_create(on_event, &e);
	uint8_t buf[8] = { 0 };

	memset(buf, 0xa5, sizeof(buf));
	pm_io(p, 1000, buf, 8, false);
	ck_assert_uint_eq(buf[0] | buf[7], 0);
	buf[0] = slp(PM_S5_SLP_TYP) | SLP_EN;
	pm_io(p, 1000, buf, 8, true);
	pm_io(p, UINT64_MAX, buf, 1, true);
	pm_io(p, 0, buf, 0, true);
	pm_io(p, 0, buf, 0, false);
	ck_assert_int_eq(e.poweroff + e.reset + e.other, 0);
	/* A wider write is a byte write of its low byte. */
	buf[0] = PM_RESET_VALUE;
	buf[1] = 0;
	pm_io(p, PM_RESET_OFF, buf, 2, true);
	ck_assert_int_eq(e.reset, 1);
	buf[0] = slp(PM_S5_SLP_TYP) | SLP_EN;
	buf[1] = 0xff;
	pm_io(p, PM_SLEEP_CONTROL_OFF, buf, 4, true);
	ck_assert_int_eq(e.poweroff, 1);
	pm_destroy(p);
}
END_TEST

START_TEST(no_callback)
{
	struct pm *p = pm_create(NULL, NULL);

	ck_assert_ptr_nonnull(p);
	wr(p, PM_SLEEP_CONTROL_OFF, slp(PM_S5_SLP_TYP) | SLP_EN);
	wr(p, PM_RESET_OFF, PM_RESET_VALUE);
	pm_destroy(p);
}
END_TEST

START_TEST(two_devices_independent)
{
	struct events ea = { 0 }, eb = { 0 };
	struct pm *a = pm_create(on_event, &ea);
	struct pm *b = pm_create(on_event, &eb);

	wr(a, PM_RESET_OFF, PM_RESET_VALUE);
	wr(b, PM_SLEEP_CONTROL_OFF, slp(PM_S5_SLP_TYP) | SLP_EN);
	ck_assert_int_eq(ea.reset, 1);
	ck_assert_int_eq(ea.poweroff, 0);
	ck_assert_int_eq(eb.reset, 0);
	ck_assert_int_eq(eb.poweroff, 1);
	pm_destroy(a);
	pm_destroy(b);
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
	ret = pm_device_ops.restore(dev, &in);
	free(copy);
	return ret;
}

/* Nothing to save: the state is empty, restores as empty, and the registers work after it. */
START_TEST(snapshot_round_trip)
{
	struct events e = { 0 }, e2 = { 0 };
	struct pm *p = pm_create(on_event, &e);
	struct pm *t = pm_create(on_event, &e2);
	struct sbuf b;
	uint8_t v[PM_IO_LEN];

	ck_assert_str_eq(pm_device_ops.kind, "pm");
	ck_assert_uint_eq(pm_device_ops.version, 1);
	wr(p, PM_SLEEP_CONTROL_OFF, slp(3) | SLP_EN); /* ignored: no S3 */
	wr(p, PM_SLEEP_STATUS_OFF, 0xff);
	sbuf_init(&b);
	ck_assert_int_eq(pm_device_ops.save(p, &b), 0);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	for (uint64_t off = 0; off < PM_IO_LEN; off++) {
		v[off] = 0xa5;
		pm_io(t, off, &v[off], 1, false);
		ck_assert_uint_eq(v[off], 0);
	}
	wr(t, PM_SLEEP_CONTROL_OFF, slp(PM_S5_SLP_TYP) | SLP_EN);
	ck_assert_int_eq(e2.poweroff, 1);
	ck_assert_int_eq(e.poweroff + e.reset + e2.reset, 0);
	sbuf_free(&b);
	pm_destroy(p);
	pm_destroy(t);
}
END_TEST

/* Any byte is one too many; the device keeps working. */
START_TEST(snapshot_hostile)
{
	struct events e = { 0 };
	struct pm *t = pm_create(on_event, &e);
	const uint8_t junk[] = { 0x00, 0x05 };
	uint8_t v = 0xa5;

	ck_assert_int_eq(restore(t, junk, 1), -EINVAL);
	ck_assert_int_eq(restore(t, junk, 2), -EINVAL);
	pm_io(t, PM_SLEEP_STATUS_OFF, &v, 1, false);
	ck_assert_uint_eq(v, 0);
	wr(t, PM_RESET_OFF, PM_RESET_VALUE);
	ck_assert_int_eq(e.reset, 1);
	pm_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pm");
	TCase *tc = tcase_create("pm");

	tcase_add_test(tc, s5_powers_off);
	tcase_add_test(tc, other_sleep_requests_ignored);
	tcase_add_test(tc, reset_register);
	tcase_add_test(tc, reads_return_zero);
	tcase_add_test(tc, odd_accesses);
	tcase_add_test(tc, no_callback);
	tcase_add_test(tc, two_devices_independent);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
