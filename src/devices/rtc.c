// SPDX-License-Identifier: Apache-2.0
/* The MC146818 CMOS clock: the guest's time is the host's clock plus an offset the guest moves by writing registers. */
#include "devices/rtc.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	REG_SEC = 0x00,
	REG_MIN = 0x02,
	REG_HOUR = 0x04,
	REG_DOW = 0x06,
	REG_DAY = 0x07,
	REG_MON = 0x08,
	REG_YEAR = 0x09,
	REG_A = 0x0a,
	REG_B = 0x0b,
	REG_C = 0x0c,
	REG_D = 0x0d,
	REG_CENTURY = 0x32,
};

#define A_UIP 0x80
#define B_SET 0x80
#define B_DM_BINARY 0x04
#define B_24H 0x02
#define D_VRT 0x80
#define HOUR_PM 0x80

/*
 * The guest's clock stays within the years 1970..9999: every second of that
 * fits time_t and struct tm, and the registers hold it (century 19..99). A
 * write that would take the clock past either end (the year register written
 * ten million times, month 0xff of 9999) sets it to that end instead.
 */
#define YEAR_MIN 1970
#define YEAR_MAX 9999
#define TIME_MIN 0LL
#define TIME_MAX 253402300799LL /* 9999-12-31 23:59:59 UTC */

#define PORT_INDEX 0
#define PORT_DATA 1
#define NR_REGS 128

struct rtc {
	pthread_mutex_t lock;
	rtc_clock_fn now;
	void *opaque;
	/*
	 * The guest's time is now() + offset. The chip counts the day of the
	 * week on its own, so a guest may set it apart from the date: it runs
	 * dow_adjust days ahead of the date's, and only a weekday write moves it.
	 */
	int64_t offset;
	int dow_adjust;
	/* While B.SET is set the clock reads frozen and writes accumulate here. */
	struct tm frozen;
	bool frozen_dirty, frozen_dow_written;
	uint8_t index;
	/* Status A and B, the alarms and the RAM; time registers are computed on each read. */
	uint8_t regs[NR_REGS];
};

static int64_t host_realtime(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return ts.tv_sec;
}

struct rtc *rtc_create(rtc_clock_fn now, void *opaque)
{
	struct rtc *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	if (pthread_mutex_init(&r->lock, NULL)) {
		free(r);
		return NULL;
	}
	r->now = now ? now : host_realtime;
	r->opaque = now ? opaque : NULL;
	r->index = REG_D;
	r->regs[REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
	r->regs[REG_B] = B_24H; /* BCD, 24-hour */
	/*
	 * glibc's first gmtime_r()/timegm() loads the time zone (it opens /etc/localtime): done here, on
	 * the thread that creates the VM, so a vCPU's first clock read needs no file (its seccomp filter
	 * has no openat).
	 */
	tzset();
	return r;
}

void rtc_destroy(struct rtc *r)
{
	if (!r)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r);
}

static bool is_time_reg(uint8_t reg)
{
	switch (reg) {
	case REG_SEC:
	case REG_MIN:
	case REG_HOUR:
	case REG_DOW:
	case REG_DAY:
	case REG_MON:
	case REG_YEAR:
	case REG_CENTURY:
		return true;
	default:
		return false;
	}
}

static int64_t clamp_time(int64_t t)
{
	return t < TIME_MIN ? TIME_MIN : t > TIME_MAX ? TIME_MAX : t;
}

/* struct tm's tm_year for a year the guest computed, clamped to the clock's range. */
static int tm_year_of(int64_t year)
{
	if (year < YEAR_MIN)
		year = YEAR_MIN;
	if (year > YEAR_MAX)
		year = YEAR_MAX;
	return (int)year - 1900;
}

static int mod7(int v)
{
	return (v % 7 + 7) % 7;
}

/* The guest's current broken-down time (UTC), with its own day of the week. */
static void guest_time(struct rtc *r, struct tm *tm)
{
	int64_t now;
	time_t t;

	if (r->regs[REG_B] & B_SET) {
		*tm = r->frozen;
		return;
	}
	if (__builtin_add_overflow(r->now(r->opaque), r->offset, &now))
		now = r->offset < 0 ? TIME_MIN : TIME_MAX;
	t = (time_t)clamp_time(now);
	if (!gmtime_r(&t, tm)) {
		t = 0;
		gmtime_r(&t, tm);
	}
	tm->tm_wday = mod7(tm->tm_wday + r->dow_adjust);
}

/*
 * Make tm (out-of-range fields allowed: timegm() normalises them; the year in
 * range) the guest's time from now on, clamped to the clock's range. Its day
 * of the week counts only if the guest wrote it; otherwise it keeps following
 * the date as before.
 */
static void set_guest_time(struct rtc *r, struct tm *tm, bool dow_written)
{
	int wday = tm->tm_wday;
	time_t t;

	tm->tm_isdst = 0;
	t = timegm(tm); /* cannot fail: the year is in range, the other fields below 256 */
	if (__builtin_sub_overflow(clamp_time((int64_t)t), r->now(r->opaque), &r->offset))
		r->offset = 0;
	if (dow_written)
		r->dow_adjust = mod7(wday - tm->tm_wday);
}

static uint8_t to_bcd(unsigned int v)
{
	return (uint8_t)(((v / 10) % 10) << 4 | (v % 10));
}

static unsigned int from_bcd(uint8_t v)
{
	return (v >> 4) * 10u + (v & 0x0f);
}

static uint8_t encode(const struct rtc *r, int v)
{
	unsigned int u = v < 0 ? 0 : (unsigned int)v;

	return r->regs[REG_B] & B_DM_BINARY ? (uint8_t)u : to_bcd(u);
}

static int decode(const struct rtc *r, uint8_t v)
{
	return (int)(r->regs[REG_B] & B_DM_BINARY ? v : from_bcd(v));
}

static uint8_t read_time_reg(struct rtc *r, uint8_t reg)
{
	struct tm tm;
	int year;

	guest_time(r, &tm);
	year = tm.tm_year + 1900; /* YEAR_MIN..YEAR_MAX */
	switch (reg) {
	case REG_SEC:
		return encode(r, tm.tm_sec);
	case REG_MIN:
		return encode(r, tm.tm_min);
	case REG_HOUR:
		if (!(r->regs[REG_B] & B_24H)) {
			int h = tm.tm_hour % 12;

			return (uint8_t)(encode(r, h ? h : 12) | (tm.tm_hour >= 12 ? HOUR_PM : 0));
		}
		return encode(r, tm.tm_hour);
	case REG_DOW:
		return encode(r, tm.tm_wday + 1);
	case REG_DAY:
		return encode(r, tm.tm_mday);
	case REG_MON:
		return encode(r, tm.tm_mon + 1);
	case REG_YEAR:
		return encode(r, year % 100);
	case REG_CENTURY:
		return encode(r, year / 100);
	default:
		return 0;
	}
}

static void write_time_reg(struct rtc *r, uint8_t reg, uint8_t v)
{
	struct tm tm;
	int year;

	guest_time(r, &tm);
	year = tm.tm_year + 1900; /* YEAR_MIN..YEAR_MAX: the sums below stay small */
	switch (reg) {
	case REG_SEC:
		tm.tm_sec = decode(r, v);
		break;
	case REG_MIN:
		tm.tm_min = decode(r, v);
		break;
	case REG_HOUR:
		if (!(r->regs[REG_B] & B_24H))
			tm.tm_hour = decode(r, (uint8_t)(v & ~HOUR_PM)) % 12 + (v & HOUR_PM ? 12 : 0);
		else
			tm.tm_hour = decode(r, v);
		break;
	case REG_DOW:
		tm.tm_wday = decode(r, v) - 1;
		break;
	case REG_DAY:
		tm.tm_mday = decode(r, v);
		break;
	case REG_MON:
		tm.tm_mon = decode(r, v) - 1;
		break;
	case REG_YEAR:
		tm.tm_year = tm_year_of(year - year % 100 + decode(r, v));
		break;
	case REG_CENTURY:
		tm.tm_year = tm_year_of(decode(r, v) * 100 + year % 100);
		break;
	default:
		return;
	}
	if (r->regs[REG_B] & B_SET) {
		r->frozen = tm;
		r->frozen_dirty = true;
		r->frozen_dow_written |= reg == REG_DOW;
	} else {
		set_guest_time(r, &tm, reg == REG_DOW);
	}
}

static void write_status_b(struct rtc *r, uint8_t v)
{
	uint8_t old = r->regs[REG_B];

	if (!(old & B_SET) && (v & B_SET)) {
		guest_time(r, &r->frozen);
		r->frozen_dirty = false;
		r->frozen_dow_written = false;
	}
	r->regs[REG_B] = v;
	/* Time only moves if the guest wrote it: a guest that merely looked loses no seconds. */
	if ((old & B_SET) && !(v & B_SET) && r->frozen_dirty)
		set_guest_time(r, &r->frozen, r->frozen_dow_written);
}

static uint8_t read_reg(struct rtc *r, uint8_t reg)
{
	if (is_time_reg(reg))
		return read_time_reg(r, reg);
	switch (reg) {
	case REG_A:
		return r->regs[REG_A] & ~A_UIP; /* never mid-update */
	case REG_C:
		return 0; /* no interrupt ever pending */
	case REG_D:
		return D_VRT;
	default:
		return r->regs[reg];
	}
}

static void write_reg(struct rtc *r, uint8_t reg, uint8_t v)
{
	if (is_time_reg(reg)) {
		write_time_reg(r, reg, v);
		return;
	}
	switch (reg) {
	case REG_A:
		r->regs[REG_A] = v & ~A_UIP;
		break;
	case REG_B:
		write_status_b(r, v);
		break;
	case REG_C:
	case REG_D:
		break; /* read-only */
	default:
		r->regs[reg] = v;
		break;
	}
}

void rtc_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct rtc *r = opaque;
	uint8_t *p = data;
	uint8_t v = 0xff; /* the index port is write-only */

	if (len == 0)
		return;
	/* A wider access is a byte access on its low byte. */
	if (!is_write)
		memset(p, 0, len);
	pthread_mutex_lock(&r->lock);
	if (off == PORT_INDEX) {
		if (is_write)
			r->index = p[0] & 0x7f; /* bit 7 is the NMI mask, not part of the index */
	} else if (off == PORT_DATA) {
		if (is_write)
			write_reg(r, r->index, p[0]);
		else
			v = read_reg(r, r->index);
	}
	pthread_mutex_unlock(&r->lock);
	if (!is_write && off <= PORT_DATA)
		p[0] = v;
}

/*
 * Snapshot layout, version 1: u8 index; the 128 register bytes (the time registers' and C's and D's
 * slots are always 0: those are computed); u64 offset (two's complement); u8 dow_adjust; and only while
 * B.SET is set, the frozen time as seven u32 (two's complement) fields: sec, min, hour, mday, mon,
 * year (since 1900), wday; then bools frozen_dirty, frozen_dow_written.
 *
 * Time across a restore: the guest's clock is the host's CLOCK_REALTIME plus offset, and the offset is
 * what is saved, so the guest's wall clock keeps its distance from the host's: a guest that never set
 * the clock reads the host's real time after a restore on another day, one that set it an hour ahead
 * stays an hour ahead. (Its kernel's own clock is kvm-clock's business; this is what it re-reads.) A
 * frozen clock (B.SET) reads the frozen time it had, whenever it is restored.
 */
static void put_i32(struct sbuf *out, int v)
{
	sbuf_u32(out, (uint32_t)(int32_t)v);
}

static int get_i32(struct sreader *in)
{
	return (int32_t)sr_u32(in);
}

static int save_state(void *dev, struct sbuf *out)
{
	struct rtc *r = dev;

	pthread_mutex_lock(&r->lock);
	sbuf_u8(out, r->index);
	sbuf_put(out, r->regs, sizeof(r->regs));
	sbuf_u64(out, (uint64_t)r->offset);
	sbuf_u8(out, (uint8_t)r->dow_adjust);
	if (r->regs[REG_B] & B_SET) {
		put_i32(out, r->frozen.tm_sec);
		put_i32(out, r->frozen.tm_min);
		put_i32(out, r->frozen.tm_hour);
		put_i32(out, r->frozen.tm_mday);
		put_i32(out, r->frozen.tm_mon);
		put_i32(out, r->frozen.tm_year);
		put_i32(out, r->frozen.tm_wday);
		sbuf_bool(out, r->frozen_dirty);
		sbuf_bool(out, r->frozen_dow_written);
	}
	pthread_mutex_unlock(&r->lock);
	return out->oom ? -ENOMEM : 0;
}

/* What a restore reads, checked in full before any of it reaches the clock. */
struct saved {
	uint8_t index;
	uint8_t regs[NR_REGS];
	int64_t offset;
	int dow_adjust;
	struct tm frozen;
	bool frozen_dirty, frozen_dow_written;
};

/* A frozen field as the guest can leave it: a decoded byte, less one for the month and weekday. */
static bool field_ok(int v)
{
	return v >= -1 && v <= 255;
}

static bool read_saved(struct sreader *in, struct saved *v)
{
	v->index = sr_u8(in);
	sr_get(in, v->regs, sizeof(v->regs));
	v->offset = (int64_t)sr_u64(in);
	v->dow_adjust = sr_u8(in);
	memset(&v->frozen, 0, sizeof(v->frozen));
	v->frozen_dirty = v->frozen_dow_written = false;
	if (v->regs[REG_B] & B_SET) {
		v->frozen.tm_sec = get_i32(in);
		v->frozen.tm_min = get_i32(in);
		v->frozen.tm_hour = get_i32(in);
		v->frozen.tm_mday = get_i32(in);
		v->frozen.tm_mon = get_i32(in);
		v->frozen.tm_year = get_i32(in);
		v->frozen.tm_wday = get_i32(in);
		v->frozen_dirty = sr_bool(in);
		v->frozen_dow_written = sr_bool(in);
		if (!field_ok(v->frozen.tm_sec) || !field_ok(v->frozen.tm_min) || !field_ok(v->frozen.tm_hour) ||
		    !field_ok(v->frozen.tm_mday) || !field_ok(v->frozen.tm_mon) || !field_ok(v->frozen.tm_wday) ||
		    v->frozen.tm_year < YEAR_MIN - 1900 || v->frozen.tm_year > YEAR_MAX - 1900)
			return false;
	}
	if (!sr_done(in))
		return false;
	if (v->index >= NR_REGS || (v->regs[REG_A] & A_UIP) || v->dow_adjust >= 7)
		return false;
	/* Far enough for any host clock within the guest clock's range; beyond it the offset is garbage. */
	if (v->offset < -TIME_MAX || v->offset > TIME_MAX)
		return false;
	for (unsigned i = 0; i < NR_REGS; i++)
		if ((is_time_reg((uint8_t)i) || i == REG_C || i == REG_D) && v->regs[i])
			return false;
	return true;
}

static int restore_state(void *dev, struct sreader *in)
{
	struct rtc *r = dev;
	struct saved v;

	if (!read_saved(in, &v)) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&r->lock);
	r->index = v.index;
	memcpy(r->regs, v.regs, sizeof(r->regs));
	r->offset = v.offset;
	r->dow_adjust = v.dow_adjust;
	r->frozen = v.frozen;
	r->frozen_dirty = v.frozen_dirty;
	r->frozen_dow_written = v.frozen_dow_written;
	pthread_mutex_unlock(&r->lock);
	return 0;
}

const struct vm_device_ops rtc_device_ops = {
	.kind = "rtc",
	.version = 1,
	.save = save_state,
	.restore = restore_state,
};
