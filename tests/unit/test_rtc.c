// SPDX-License-Identifier: Apache-2.0
/* The CMOS clock on a fake host clock: formats, guest writes moving an offset, SET, RAM, hostile accesses. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/rtc.h"
#include "unit.h"

#define EPOCH 1795614307 /* 2026-11-25 13:45:07 UTC, a Wednesday */

struct fake_clock {
	int64_t t;
	int calls;
};

static int64_t fake_now(void *opaque)
{
	struct fake_clock *c = opaque;

	c->calls++;
	return c->t;
}

static void wr(struct rtc *r, uint8_t reg, uint8_t v)
{
	rtc_io(r, 0, &reg, 1, true);
	rtc_io(r, 1, &v, 1, true);
}

static uint8_t rd(struct rtc *r, uint8_t reg)
{
	uint8_t v = 0xa5;

	rtc_io(r, 0, &reg, 1, true);
	rtc_io(r, 1, &v, 1, false);
	return v;
}

START_TEST(bcd_defaults)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(rd(r, 0x00), 0x07);
	ck_assert_uint_eq(rd(r, 0x02), 0x45);
	ck_assert_uint_eq(rd(r, 0x04), 0x13);
	ck_assert_uint_eq(rd(r, 0x06), 4);
	ck_assert_uint_eq(rd(r, 0x07), 0x25);
	ck_assert_uint_eq(rd(r, 0x08), 0x11);
	ck_assert_uint_eq(rd(r, 0x09), 0x26);
	ck_assert_uint_eq(rd(r, 0x32), 0x20);
	ck_assert_int_gt(c.calls, 0);
	rtc_destroy(r);
}
END_TEST

START_TEST(status_registers)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	ck_assert_uint_eq(rd(r, 0x0a), 0x26);
	ck_assert_uint_eq(rd(r, 0x0b), 0x02);
	ck_assert_uint_eq(rd(r, 0x0c), 0x00);
	ck_assert_uint_eq(rd(r, 0x0d), 0x80);
	/* UIP is never reported; the divider bits read back. */
	wr(r, 0x0a, 0xa5);
	ck_assert_uint_eq(rd(r, 0x0a), 0x25);
	/* C and D are read-only. */
	wr(r, 0x0c, 0xff);
	wr(r, 0x0d, 0x00);
	ck_assert_uint_eq(rd(r, 0x0c), 0x00);
	ck_assert_uint_eq(rd(r, 0x0d), 0x80);
	rtc_destroy(r);
}
END_TEST

START_TEST(binary_mode)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x0b, 0x06);
	ck_assert_uint_eq(rd(r, 0x0b), 0x06);
	ck_assert_uint_eq(rd(r, 0x00), 7);
	ck_assert_uint_eq(rd(r, 0x02), 45);
	ck_assert_uint_eq(rd(r, 0x04), 13);
	ck_assert_uint_eq(rd(r, 0x06), 4);
	ck_assert_uint_eq(rd(r, 0x07), 25);
	ck_assert_uint_eq(rd(r, 0x08), 11);
	ck_assert_uint_eq(rd(r, 0x09), 26);
	ck_assert_uint_eq(rd(r, 0x32), 20);
	/* A binary write is read as binary. */
	wr(r, 0x02, 59);
	ck_assert_uint_eq(rd(r, 0x02), 59);
	wr(r, 0x0b, 0x02);
	ck_assert_uint_eq(rd(r, 0x02), 0x59);
	rtc_destroy(r);
}
END_TEST

START_TEST(twelve_hour)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x0b, 0x00); /* BCD, 12-hour */
	ck_assert_uint_eq(rd(r, 0x04), 0x81); /* 1 PM */
	wr(r, 0x0b, 0x04); /* binary, 12-hour */
	ck_assert_uint_eq(rd(r, 0x04), 0x81);
	c.t = EPOCH - 13 * 3600; /* 00:45: 12 AM */
	ck_assert_uint_eq(rd(r, 0x04), 12);
	c.t = EPOCH - 3600; /* 12:45: 12 PM */
	wr(r, 0x0b, 0x00);
	ck_assert_uint_eq(rd(r, 0x04), 0x92);
	/* Writing 11 PM in 12-hour mode reads back as 23 in 24-hour mode. */
	wr(r, 0x04, 0x80 | 0x11);
	ck_assert_uint_eq(rd(r, 0x04), 0x91);
	wr(r, 0x0b, 0x02);
	ck_assert_uint_eq(rd(r, 0x04), 0x23);
	ck_assert_uint_eq(rd(r, 0x07), 0x25); /* same day */
	rtc_destroy(r);
}
END_TEST

START_TEST(nmi_bit_masked)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	ck_assert_uint_eq(rd(r, 0x80 | 0x00), 0x07);
	ck_assert_uint_eq(rd(r, 0x80 | 0x0d), 0x80);
	wr(r, 0x80 | 0x40, 0x5a);
	ck_assert_uint_eq(rd(r, 0x40), 0x5a);
	rtc_destroy(r);
}
END_TEST

START_TEST(cmos_ram)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);
	const uint8_t alarms[] = { 0x01, 0x03, 0x05 };
	unsigned int i;

	for (i = 0x0e; i < 0x80; i++) {
		if (i != 0x32)
			wr(r, (uint8_t)i, (uint8_t)(i ^ 0xa5));
	}
	for (i = 0; i < sizeof(alarms); i++)
		wr(r, alarms[i], (uint8_t)(0x10 + i));
	for (i = 0x0e; i < 0x80; i++) {
		if (i != 0x32)
			ck_assert_uint_eq(rd(r, (uint8_t)i), i ^ 0xa5);
	}
	for (i = 0; i < sizeof(alarms); i++)
		ck_assert_uint_eq(rd(r, alarms[i]), 0x10 + i);
	/* The time did not move. */
	ck_assert_uint_eq(rd(r, 0x00), 0x07);
	ck_assert_uint_eq(rd(r, 0x32), 0x20);
	rtc_destroy(r);
}
END_TEST

START_TEST(guest_write_moves_offset)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x09, 0x30);
	ck_assert_int_eq(c.t, EPOCH); /* the host clock is never set */
	ck_assert_uint_eq(rd(r, 0x09), 0x30);
	ck_assert_uint_eq(rd(r, 0x32), 0x20);
	ck_assert_uint_eq(rd(r, 0x00), 0x07);
	ck_assert_uint_eq(rd(r, 0x08), 0x11);
	ck_assert_uint_eq(rd(r, 0x07), 0x25);
	c.t += 10;
	ck_assert_uint_eq(rd(r, 0x00), 0x17);
	ck_assert_uint_eq(rd(r, 0x09), 0x30);
	/* Other fields move the same offset. */
	wr(r, 0x32, 0x21);
	ck_assert_uint_eq(rd(r, 0x32), 0x21);
	ck_assert_uint_eq(rd(r, 0x09), 0x30);
	wr(r, 0x00, 0x58);
	c.t += 3;
	ck_assert_uint_eq(rd(r, 0x00), 0x01);
	ck_assert_uint_eq(rd(r, 0x02), 0x46);
	rtc_destroy(r);
}
END_TEST

START_TEST(day_of_week_write)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x06, 1); /* the guest says it is Sunday */
	ck_assert_uint_eq(rd(r, 0x06), 1);
	ck_assert_uint_eq(rd(r, 0x07), 0x25);
	c.t += 86400;
	ck_assert_uint_eq(rd(r, 0x06), 2);
	ck_assert_uint_eq(rd(r, 0x07), 0x26);
	c.t += 6 * 86400;
	ck_assert_uint_eq(rd(r, 0x06), 1);
	/* Moving the date a day on moves the weekday with it: the guest's shift is kept. */
	wr(r, 0x07, 0x03);
	ck_assert_uint_eq(rd(r, 0x06), 2);
	c.t += 86400;
	ck_assert_uint_eq(rd(r, 0x06), 3);
	/* A weekday written under SET applies when SET clears. */
	wr(r, 0x0b, 0x82);
	wr(r, 0x06, 7);
	ck_assert_uint_eq(rd(r, 0x06), 7);
	wr(r, 0x0b, 0x02);
	ck_assert_uint_eq(rd(r, 0x06), 7);
	c.t += 86400;
	ck_assert_uint_eq(rd(r, 0x06), 1);
	rtc_destroy(r);
}
END_TEST

START_TEST(set_freezes_then_applies)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x0b, 0x82);
	c.t += 5;
	ck_assert_uint_eq(rd(r, 0x00), 0x07); /* frozen */
	wr(r, 0x00, 0x30);
	wr(r, 0x02, 0x00);
	wr(r, 0x04, 0x08);
	wr(r, 0x07, 0x01);
	wr(r, 0x08, 0x01);
	wr(r, 0x09, 0x27);
	c.t += 100;
	/* Accumulated writes read back as written, still frozen. */
	ck_assert_uint_eq(rd(r, 0x00), 0x30);
	ck_assert_uint_eq(rd(r, 0x02), 0x00);
	ck_assert_uint_eq(rd(r, 0x04), 0x08);
	ck_assert_uint_eq(rd(r, 0x07), 0x01);
	ck_assert_uint_eq(rd(r, 0x08), 0x01);
	ck_assert_uint_eq(rd(r, 0x09), 0x27);
	wr(r, 0x0b, 0x02);
	ck_assert_uint_eq(rd(r, 0x00), 0x30);
	ck_assert_uint_eq(rd(r, 0x06), 6); /* 2027-01-01 is a Friday */
	c.t += 31;
	ck_assert_uint_eq(rd(r, 0x00), 0x01);
	ck_assert_uint_eq(rd(r, 0x02), 0x01);
	ck_assert_uint_eq(rd(r, 0x04), 0x08);
	ck_assert_uint_eq(rd(r, 0x09), 0x27);
	rtc_destroy(r);
}
END_TEST

START_TEST(set_without_writes_keeps_time)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x0b, 0x82);
	c.t += 5;
	ck_assert_uint_eq(rd(r, 0x00), 0x07);
	wr(r, 0x0b, 0x02);
	ck_assert_uint_eq(rd(r, 0x00), 0x12);
	rtc_destroy(r);
}
END_TEST

START_TEST(odd_accesses)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);
	uint8_t buf[8];
	unsigned int reg, v, mode;

	/* Wider reads fill every byte: the register in the low byte, zeros above. */
	memset(buf, 0xa5, sizeof(buf));
	buf[0] = 0x00;
	rtc_io(r, 0, buf, 4, true);
	memset(buf, 0xa5, sizeof(buf));
	rtc_io(r, 1, buf, 4, false);
	ck_assert_uint_eq(buf[0], 0x07);
	ck_assert_uint_eq(buf[1] | buf[2] | buf[3], 0);
	ck_assert_uint_eq(buf[4], 0xa5);
	/* A 16-bit write to the index port is a write of its low byte only. */
	buf[0] = 0x0d;
	buf[1] = 0x55;
	rtc_io(r, 0, buf, 2, true);
	memset(buf, 0xa5, sizeof(buf));
	rtc_io(r, 1, buf, 1, false);
	ck_assert_uint_eq(buf[0], 0x80);
	/* The index port is write-only; offsets past the data port do nothing. */
	memset(buf, 0xa5, sizeof(buf));
	rtc_io(r, 0, buf, 2, false);
	ck_assert_uint_eq(buf[0], 0xff);
	ck_assert_uint_eq(buf[1], 0);
	memset(buf, 0xa5, sizeof(buf));
	rtc_io(r, 2, buf, 8, false);
	ck_assert_uint_eq(buf[0] | buf[7], 0);
	rtc_io(r, UINT64_MAX, buf, 8, true);
	rtc_io(r, 1, buf, 0, false);
	rtc_io(r, 1, buf, 0, true);
	ck_assert_uint_eq(rd(r, 0x00), 0x07);
	/* Every value into every register, in every mode: no crash, no undefined behaviour. */
	for (mode = 0; mode < 8; mode++) {
		for (reg = 0; reg < 0x80; reg++) {
			for (v = 0; v < 0x100; v += 0x11) {
				wr(r, 0x0b, (uint8_t)(mode << 1 | (mode & 4 ? 0x80 : 0)));
				wr(r, (uint8_t)reg, (uint8_t)v);
				(void)rd(r, (uint8_t)reg);
				(void)rd(r, 0x00);
			}
		}
	}
	wr(r, 0x0b, 0x02);
	for (reg = 0; reg < 0x80; reg++)
		(void)rd(r, (uint8_t)reg);
	rtc_destroy(r);
}
END_TEST

START_TEST(two_rtcs_independent)
{
	struct fake_clock c1 = { .t = EPOCH }, c2 = { .t = EPOCH };
	struct rtc *a = rtc_create(fake_now, &c1);
	struct rtc *b = rtc_create(fake_now, &c2);
	uint8_t idx = 0x00, v;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	wr(a, 0x09, 0x99);
	wr(a, 0x0b, 0x06);
	wr(a, 0x50, 0x42);
	wr(b, 0x50, 0x24);
	ck_assert_uint_eq(rd(b, 0x09), 0x26);
	ck_assert_uint_eq(rd(b, 0x0b), 0x02);
	ck_assert_uint_eq(rd(a, 0x09), 99);
	ck_assert_uint_eq(rd(a, 0x50), 0x42);
	ck_assert_uint_eq(rd(b, 0x50), 0x24);
	/* Each has its own index. */
	rtc_io(a, 0, &idx, 1, true);
	idx = 0x0d;
	rtc_io(b, 0, &idx, 1, true);
	rtc_io(a, 1, &v, 1, false);
	ck_assert_uint_eq(v, 7);
	/* Each reads its own clock. */
	c2.t += 20;
	ck_assert_uint_eq(rd(a, 0x00), 7);
	ck_assert_uint_eq(rd(b, 0x00), 0x27);
	rtc_destroy(a);
	rtc_destroy(b);
}
END_TEST

START_TEST(host_clock_default)
{
	struct rtc *r = rtc_create(NULL, NULL);

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(rd(r, 0x32), 0x20);
	ck_assert_uint_ge(rd(r, 0x09), 0x25);
	rtc_destroy(r);
	rtc_destroy(NULL);
}
END_TEST

/* Write v to reg n times: the index once, then the data port only (the index stays). */
static void wr_many(struct rtc *r, uint8_t reg, uint8_t v, unsigned long n)
{
	rtc_io(r, 0, &reg, 1, true);
	for (unsigned long i = 0; i < n; i++)
		rtc_io(r, 1, &v, 1, true);
}

/* The year the guest reads in binary mode (the mode is restored after). */
static unsigned int read_year(struct rtc *r)
{
	uint8_t b = rd(r, 0x0b);
	unsigned int y;

	wr(r, 0x0b, (uint8_t)((b & 0x80) | 0x06));
	y = rd(r, 0x32) * 100u + rd(r, 0x09);
	wr(r, 0x0b, b);
	return y;
}

/* The year, checked to be in the clock's range. */
static unsigned int year_in_range(struct rtc *r)
{
	unsigned int y = read_year(r);

	ck_assert_uint_ge(y, 1970);
	ck_assert_uint_le(y, 9999);
	return y;
}

/*
 * Eleven million writes of 255 to the year register once overflowed an int (a
 * sanitized VMM aborted): the year now stops at 9999, with or without SET, in
 * binary or BCD, and the century register cannot push it past either.
 */
START_TEST(year_writes_clamp)
{
	/* Binary 255 adds 200 years a write: 11 million writes pass INT_MAX. BCD 0xff adds 100, 0x99 none. */
	static const struct {
		uint8_t b, v;
		unsigned long n;
	} modes[] = {
		{ 0x06, 0xff, 11000000 }, /* binary, running */
		{ 0x86, 0xff, 11000000 }, /* binary, SET */
		{ 0x02, 0xff, 100000 }, /* BCD garbage, running */
		{ 0x82, 0xff, 100000 }, /* BCD garbage, SET */
		{ 0x02, 0x99, 100000 }, /* BCD 99 */
		{ 0x82, 0x99, 100000 },
	};
	struct fake_clock c = { .t = EPOCH };

	for (unsigned int i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		struct rtc *r = rtc_create(fake_now, &c);

		wr(r, 0x0b, modes[i].b);
		wr_many(r, 0x09, modes[i].v, modes[i].n);
		if (year_in_range(r) != 9999)
			ck_assert_uint_eq(modes[i].v, 0x99);
		wr(r, 0x0b, 0x02); /* SET clears: the frozen time applies */
		year_in_range(r);
		c.t += 400ll * 86400; /* the host clock moves on: the guest stays at the end */
		year_in_range(r);
		c.t = EPOCH;
		rtc_destroy(r);
	}
}
END_TEST

/* The century register, months and days out of range, at both ends of the clock. */
START_TEST(fields_out_of_range_clamp)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);

	wr(r, 0x0b, 0x06);
	wr(r, 0x32, 0xff);
	ck_assert_uint_eq(read_year(r), 9999);
	wr(r, 0x08, 0xff); /* month 255 of 9999 */
	wr(r, 0x07, 0xff);
	ck_assert_uint_eq(read_year(r), 9999);
	ck_assert_uint_eq(rd(r, 0x08), 12);
	ck_assert_uint_eq(rd(r, 0x07), 31);
	ck_assert_uint_eq(rd(r, 0x04), 23);
	wr(r, 0x32, 0x00);
	ck_assert_uint_eq(read_year(r), 1970);
	wr(r, 0x08, 0x00); /* month 0 of 1970: December 1969 */
	ck_assert_uint_eq(read_year(r), 1970);
	ck_assert_uint_eq(rd(r, 0x08), 1);
	ck_assert_uint_eq(rd(r, 0x07), 1);
	ck_assert_uint_eq(rd(r, 0x00), 0);
	/* A host clock far out of range reads as an end of the guest's range too. */
	c.t = INT64_MAX;
	ck_assert_uint_eq(read_year(r), 9999);
	c.t = INT64_MIN;
	year_in_range(r);
	rtc_destroy(r);
}
END_TEST

static void save(struct rtc *r, struct sbuf *b)
{
	sbuf_init(b);
	ck_assert_int_eq(rtc_device_ops.save(r, b), 0);
	ck_assert(!b->oom);
}

/* Restore r from a heap copy of exactly n bytes, so that ASan sees any read past them. */
static int restore(struct rtc *r, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader in;
	int ret;

	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, p, n);
	sreader_init(&in, copy, n);
	ret = rtc_device_ops.restore(r, &in);
	free(copy);
	return ret;
}

static uint8_t rd_data(struct rtc *r)
{
	uint8_t v = 0xa5;

	rtc_io(r, 1, &v, 1, false);
	return v;
}

/* The data port at the current index, then every register, read the same on both. */
static void assert_same(struct rtc *a, struct rtc *b)
{
	ck_assert_uint_eq(rd_data(a), rd_data(b));
	for (unsigned i = 0; i < 128; i++)
		ck_assert_uint_eq(rd(a, (uint8_t)i), rd(b, (uint8_t)i));
}

/* Formats, a guest-set time and weekday, CMOS RAM and the index survive; the offset, not the time, is kept. */
START_TEST(snapshot_round_trip)
{
	struct fake_clock c = { .t = EPOCH }, c2 = { .t = EPOCH + 3 * 86400 + 7 };
	struct rtc *r = rtc_create(fake_now, &c);
	struct rtc *t = rtc_create(fake_now, &c2);
	struct sbuf b;
	uint8_t idx = 0x80 | 0x40;

	ck_assert_str_eq(rtc_device_ops.kind, "rtc");
	ck_assert_uint_eq(rtc_device_ops.version, 1);
	wr(r, 0x0b, 0x04); /* binary, 12-hour */
	wr(r, 0x0a, 0x2f);
	wr(r, 0x04, 0x80 | 5); /* 5 PM */
	wr(r, 0x06, 3);
	wr(r, 0x09, 31);
	for (unsigned i = 0x0e; i < 0x80; i++)
		if (i != 0x32)
			wr(r, (uint8_t)i, (uint8_t)(i * 3));
	wr(r, 0x01, 0x11);
	wr(r, 0x03, 0x22);
	wr(r, 0x05, 0x33);
	rtc_io(r, 0, &idx, 1, true);
	save(r, &b);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	/* A second save of the restored clock, before any access, is byte for byte the first. */
	{
		struct sbuf b2;

		save(t, &b2);
		ck_assert_uint_eq(b2.len, b.len);
		ck_assert(!memcmp(b2.data, b.data, b.len));
		sbuf_free(&b2);
	}
	ck_assert_uint_eq(rd_data(t), (uint8_t)(0x40 * 3)); /* the saved index */
	ck_assert_uint_eq(rd(t, 0x09), 31);
	ck_assert_uint_eq(rd(t, 0x04), 0x80 | 5);
	/* Restored three days later: it reads what the original reads three days later. */
	c.t = c2.t;
	rtc_io(r, 0, &idx, 1, true);
	rtc_io(t, 0, &idx, 1, true);
	assert_same(r, t);
	c.t += 1000;
	c2.t += 1000;
	assert_same(r, t);
	sbuf_free(&b);
	rtc_destroy(r);
	rtc_destroy(t);
}
END_TEST

/* A clock saved under B.SET restores frozen at the guest's edits, which apply when SET clears. */
START_TEST(snapshot_frozen)
{
	struct fake_clock c = { .t = EPOCH }, c2 = { .t = EPOCH + 12345 };
	struct rtc *r = rtc_create(fake_now, &c);
	struct rtc *t = rtc_create(fake_now, &c2);
	struct sbuf b;

	wr(r, 0x0b, 0x82);
	c.t += 5;
	wr(r, 0x00, 0x30);
	wr(r, 0x06, 7);
	save(r, &b);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	assert_same(r, t); /* frozen: the host clocks differ, the reads do not */
	ck_assert_uint_eq(rd(t, 0x00), 0x30);
	ck_assert_uint_eq(rd(t, 0x06), 7);
	wr(r, 0x0b, 0x02);
	wr(t, 0x0b, 0x02);
	assert_same(r, t);
	c.t += 86400;
	c2.t += 86400;
	assert_same(r, t);
	ck_assert_uint_eq(rd(t, 0x06), 1); /* the weekday the guest wrote runs on */
	sbuf_free(&b);
	rtc_destroy(r);
	rtc_destroy(t);
}
END_TEST

/* The clock a failed restore left: unchanged (index 0x20 holding 0x77, BCD) and working. */
static void assert_untouched(struct rtc *t)
{
	ck_assert_uint_eq(rd_data(t), 0x77);
	ck_assert_uint_eq(rd(t, 0x0b), 0x02);
	ck_assert_uint_eq(rd(t, 0x00), 0x07);
	wr(t, 0x20, 0x77);
}

/* Truncated, overlong and out-of-range state is refused and leaves the clock as it was. */
START_TEST(snapshot_hostile)
{
	struct fake_clock c = { .t = EPOCH };
	struct rtc *r = rtc_create(fake_now, &c);
	struct rtc *t = rtc_create(fake_now, &c);
	struct sbuf b, plain;
	uint8_t bad[200];
	/* Offset, bytes: one field out of its range each (the frozen blob: 1 + 128 + 8 + 1 + 28 + 2). */
	static const struct {
		size_t off, n;
		uint8_t v[8];
	} cases[] = {
		{ 0, 1, { 0x80 } },                                  /* index past the registers */
		{ 1 + 0x0a, 1, { 0xa6 } },                           /* A with UIP */
		{ 1 + 0x0c, 1, { 0x01 } },                           /* C's slot */
		{ 1 + 0x0d, 1, { 0x80 } },                           /* D's slot */
		{ 1 + 0x00, 1, { 0x01 } },                           /* a time register's slot */
		{ 1 + 0x32, 1, { 0x20 } },                           /* the century's */
		{ 129, 8, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f } }, /* offset INT64_MAX */
		{ 129, 8, { 0, 0, 0, 0, 0, 0, 0, 0x80 } },           /* offset INT64_MIN */
		{ 137, 1, { 7 } },                                   /* dow_adjust */
		{ 138, 4, { 0x00, 0x01, 0, 0 } },                    /* frozen seconds 256 */
		{ 138, 4, { 0xfe, 0xff, 0xff, 0xff } },              /* frozen seconds -2 */
		{ 154, 4, { 0x00, 0x00, 0x00, 0x80 } },              /* frozen month INT32_MIN */
		{ 158, 4, { 0, 0, 0, 0 } },                          /* frozen year 1900 */
		{ 158, 4, { 0xa4, 0x1f, 0, 0 } },                    /* frozen year 10000 */
		{ 166, 1, { 2 } },                                   /* a bool other than 0 or 1 */
		{ 167, 1, { 0xff } },
	};

	wr(r, 0x0b, 0x82);
	wr(r, 0x00, 0x30);
	save(r, &b);
	ck_assert_uint_eq(b.len, 168);
	wr(r, 0x0b, 0x02);
	save(r, &plain);
	ck_assert_uint_eq(plain.len, 138);
	wr(t, 0x20, 0x77);

	for (size_t n = 0; n < b.len; n++) {
		ck_assert_int_eq(restore(t, b.data, n), -EINVAL);
		assert_untouched(t);
	}
	memcpy(bad, b.data, b.len);
	bad[b.len] = 0;
	ck_assert_int_eq(restore(t, bad, b.len + 1), -EINVAL);
	assert_untouched(t);
	memcpy(bad, plain.data, plain.len);
	bad[plain.len] = 0;
	ck_assert_int_eq(restore(t, bad, plain.len + 1), -EINVAL);
	assert_untouched(t);
	/* SET cleared in the frozen blob: the frozen fields are left over. */
	memcpy(bad, b.data, b.len);
	bad[1 + 0x0b] = 0x02;
	ck_assert_int_eq(restore(t, bad, b.len), -EINVAL);
	assert_untouched(t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, b.data, b.len);
		memcpy(bad + cases[i].off, cases[i].v, cases[i].n);
		ck_assert_int_eq(restore(t, bad, b.len), -EINVAL);
		assert_untouched(t);
	}
	/* The extremes that are allowed. */
	memcpy(bad, b.data, b.len);
	memcpy(bad + 138, (const uint8_t[]){ 0xff, 0xff, 0xff, 0xff }, 4); /* seconds -1 */
	memcpy(bad + 158, (const uint8_t[]){ 0xa3, 0x1f, 0, 0 }, 4);       /* year 1900 + 8099 */
	ck_assert_int_eq(restore(t, bad, b.len), 0);
	ck_assert_uint_eq(rd(t, 0x09), 0x99);
	ck_assert_uint_eq(rd(t, 0x32), 0x99);
	sbuf_free(&b);
	sbuf_free(&plain);
	rtc_destroy(r);
	rtc_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rtc");
	TCase *tc = tcase_create("rtc");

	tcase_add_test(tc, bcd_defaults);
	tcase_add_test(tc, status_registers);
	tcase_add_test(tc, binary_mode);
	tcase_add_test(tc, twelve_hour);
	tcase_add_test(tc, nmi_bit_masked);
	tcase_add_test(tc, cmos_ram);
	tcase_add_test(tc, guest_write_moves_offset);
	tcase_add_test(tc, day_of_week_write);
	tcase_add_test(tc, set_freezes_then_applies);
	tcase_add_test(tc, set_without_writes_keeps_time);
	tcase_add_test(tc, odd_accesses);
	tcase_add_test(tc, two_rtcs_independent);
	tcase_add_test(tc, host_clock_default);
	tcase_add_test(tc, fields_out_of_range_clamp);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_frozen);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	/* 22 million port writes: about 2 s under ASan, more on a busy machine than Check's default 4 s allows. */
	tc = tcase_create("rtc_long");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, year_writes_clamp);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
