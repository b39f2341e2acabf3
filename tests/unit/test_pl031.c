// SPDX-License-Identifier: Apache-2.0
/* The PL031 clock on a fake host clock and a fake interrupt line: IDs, counter, match, hostile accesses, snapshots. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "devices/pl031.h"
#include "unit.h"

#define EPOCH 1795614307 /* 2026-11-25 13:45:07 UTC */
#define STATE_LEN 22     /* the version 1 snapshot: MR, LR, offset, IMSC, RIS, seen */

enum { DR = 0x00, MR = 0x04, LR = 0x08, CR = 0x0c, IMSC = 0x10, RIS = 0x14, MIS = 0x18, ICR = 0x1c };

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

struct fake_irq {
	int level;
	int changes; /* calls that set the level it already had count too: the device should make none */
	int calls;
	unsigned gsi;
};

static void fake_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	f->changes += level != f->level;
	f->level = level;
	f->calls++;
	f->gsi = gsi;
}

/* A device on clock c with its interrupt on f (GSI 34: SPI 2). */
static struct pl031 *make(struct fake_clock *c, struct fake_irq *f)
{
	struct irq_line irq = { .set = fake_set, .opaque = f, .gsi = 34 };
	struct pl031 *p = pl031_create(fake_now, c, f ? &irq : NULL);

	ck_assert_ptr_nonnull(p);
	return p;
}

static uint32_t rd(struct pl031 *p, uint64_t off)
{
	uint8_t b[4] = { 0xa5, 0xa5, 0xa5, 0xa5 };

	pl031_io(p, off, b, 4, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(struct pl031 *p, uint64_t off, uint32_t v)
{
	uint8_t b[4] = { (uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24) };

	pl031_io(p, off, b, 4, true);
}

/* What drivers/amba/bus.c computes: the low byte of each of four words at the end of the 4 KiB region. */
static uint32_t amba_id(struct pl031 *p, uint64_t base)
{
	uint32_t id = 0;

	for (unsigned i = 0; i < 4; i++)
		id |= (rd(p, base + 4 * i) & 255) << (i * 8);
	return id;
}

START_TEST(id_registers)
{
	struct fake_clock c = { .t = EPOCH };
	struct pl031 *p = make(&c, NULL);
	uint32_t pid = amba_id(p, 0x1000 - 0x20), cid = amba_id(p, 0x1000 - 0x10);

	ck_assert_uint_eq(pid, 0x00041031);
	ck_assert_uint_eq(cid, 0xb105f00d);
	/* rtc-pl031's table entry for ARM's part, and the fields the TRM names. */
	ck_assert_uint_eq(pid & 0x000fffff, 0x00041031);
	ck_assert_uint_eq(pid & 0xfff, 0x031);
	ck_assert_uint_eq((pid >> 12) & 0xff, 0x41);
	ck_assert_uint_eq((pid >> 20) & 0xf, 0);
	/* Each register is a byte: the rest of the word reads zero. */
	for (uint64_t off = 0xfe0; off < 0x1000; off += 4)
		ck_assert_uint_eq(rd(p, off) & ~0xffu, 0);
	ck_assert_uint_eq(rd(p, 0xfe0), 0x31);
	ck_assert_uint_eq(rd(p, 0xffc), 0xb1);
	/* Read-only. */
	for (uint64_t off = 0xfe0; off < 0x1000; off += 4)
		wr(p, off, 0);
	ck_assert_uint_eq(amba_id(p, 0xfe0), 0x00041031);
	ck_assert_uint_eq(amba_id(p, 0xff0), 0xb105f00d);
	/* Reserved space before them reads zero. */
	ck_assert_uint_eq(rd(p, 0xfd0), 0);
	ck_assert_uint_eq(rd(p, 0x20), 0);
	ck_assert_uint_eq(rd(p, 0x80), 0);
	pl031_destroy(p);
}
END_TEST

START_TEST(counter_follows_clock)
{
	struct fake_clock c = { .t = EPOCH };
	struct pl031 *p = make(&c, NULL);

	ck_assert_uint_eq(rd(p, DR), EPOCH);
	ck_assert_int_gt(c.calls, 0);
	c.t += 5;
	ck_assert_uint_eq(rd(p, DR), EPOCH + 5);
	/* A write to DR is ignored. */
	wr(p, DR, 42);
	ck_assert_uint_eq(rd(p, DR), EPOCH + 5);
	/* Reset values. */
	ck_assert_uint_eq(rd(p, MR), 0);
	ck_assert_uint_eq(rd(p, LR), 0);
	ck_assert_uint_eq(rd(p, IMSC), 0);
	ck_assert_uint_eq(rd(p, RIS), 0);
	ck_assert_uint_eq(rd(p, MIS), 0);
	/* Past 2106 the 32-bit counter wraps, as the hardware's does, and passes MR 0 on the way. */
	c.t = (int64_t)UINT32_MAX + 10;
	ck_assert_uint_eq(rd(p, DR), 9);
	ck_assert_uint_eq(rd(p, RIS), 1);
	pl031_destroy(p);
}
END_TEST

START_TEST(load_sets_counter)
{
	struct fake_clock c = { .t = EPOCH };
	struct pl031 *p = make(&c, NULL);

	wr(p, LR, 1000);
	ck_assert_int_eq(c.t, EPOCH); /* the host clock is never set */
	ck_assert_uint_eq(rd(p, DR), 1000);
	ck_assert_uint_eq(rd(p, LR), 1000);
	c.t += 7;
	ck_assert_uint_eq(rd(p, DR), 1007);
	ck_assert_uint_eq(rd(p, LR), 1000); /* LR reads what was written, not the time */
	/* Forward past the counter's end: it wraps. */
	wr(p, LR, 0xfffffffe);
	c.t += 3;
	ck_assert_uint_eq(rd(p, DR), 1);
	/* A host clock far outside 32 bits still gives the loaded value and then counts. */
	c.t = INT64_MIN;
	wr(p, LR, 77);
	ck_assert_uint_eq(rd(p, DR), 77);
	c.t = INT64_MIN + 1;
	ck_assert_uint_eq(rd(p, DR), 78);
	c.t = INT64_MAX;
	wr(p, LR, 5);
	ck_assert_uint_eq(rd(p, DR), 5);
	pl031_destroy(p);
}
END_TEST

/* CR reads 1 from reset on; rtc-pl031's probe (read CR, write CR | 1) must not disturb a time the guest set. */
START_TEST(control_always_started)
{
	struct fake_clock c = { .t = EPOCH };
	struct pl031 *p = make(&c, NULL);

	ck_assert_uint_eq(rd(p, CR), 1);
	wr(p, LR, 123456);
	wr(p, CR, rd(p, CR) | 1);
	ck_assert_uint_eq(rd(p, CR), 1);
	ck_assert_uint_eq(rd(p, DR), 123456);
	wr(p, CR, 0);
	ck_assert_uint_eq(rd(p, CR), 1);
	c.t += 2;
	ck_assert_uint_eq(rd(p, DR), 123458); /* cannot be stopped */
	wr(p, CR, 0xffffffff);
	ck_assert_uint_eq(rd(p, CR), 1);
	ck_assert_uint_eq(rd(p, DR), 123458);
	pl031_destroy(p);
}
END_TEST

START_TEST(status_registers)
{
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 };
	struct pl031 *p = make(&c, &f);

	/* IMSC holds bit 0 only. */
	wr(p, IMSC, 0xffffffff);
	ck_assert_uint_eq(rd(p, IMSC), 1);
	wr(p, IMSC, 0xfffffffe);
	ck_assert_uint_eq(rd(p, IMSC), 0);
	/* RIS and MIS are read-only: writing them raises nothing. */
	wr(p, IMSC, 1);
	wr(p, RIS, 1);
	wr(p, MIS, 1);
	ck_assert_uint_eq(rd(p, RIS), 0);
	ck_assert_uint_eq(rd(p, MIS), 0);
	ck_assert_int_eq(f.level, 0);
	/* ICR is write-only. */
	ck_assert_uint_eq(rd(p, ICR), 0);
	/* A match: RIS, then MIS with the mask; ICR bit 0 clears, other bits do not. */
	wr(p, IMSC, 0);
	wr(p, MR, EPOCH + 1);
	c.t++;
	ck_assert_uint_eq(rd(p, RIS), 1);
	ck_assert_uint_eq(rd(p, MIS), 0);
	wr(p, IMSC, 1);
	ck_assert_uint_eq(rd(p, MIS), 1);
	wr(p, ICR, 0xfffffffe);
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, ICR, 1);
	ck_assert_uint_eq(rd(p, RIS), 0);
	ck_assert_uint_eq(rd(p, MIS), 0);
	ck_assert_uint_eq(rd(p, ICR), 0);
	pl031_destroy(p);
}
END_TEST

/* The line is RIS & IMSC, set only when it changes. */
START_TEST(interrupt_line)
{
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 };
	struct pl031 *p = make(&c, &f);

	wr(p, MR, EPOCH + 3);
	wr(p, IMSC, 1);
	c.t += 2;
	ck_assert_uint_eq(rd(p, RIS), 0);
	ck_assert_int_eq(f.calls, 0);
	c.t += 1;
	ck_assert_uint_eq(rd(p, DR), EPOCH + 3);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(f.gsi, 34);
	ck_assert_uint_eq(rd(p, MIS), 1);
	/* Masked: down; unmasked: up again; cleared: down, and the counter passing on does not re-raise it. */
	wr(p, IMSC, 0);
	ck_assert_int_eq(f.level, 0);
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, IMSC, 1);
	ck_assert_int_eq(f.level, 1);
	wr(p, ICR, 1);
	ck_assert_int_eq(f.level, 0);
	c.t += 100;
	ck_assert_uint_eq(rd(p, RIS), 0);
	ck_assert_int_eq(f.level, 0);
	ck_assert_int_eq(f.changes, f.calls);
	ck_assert_int_eq(f.calls, 4);
	pl031_destroy(p);
}
END_TEST

/* How the counter reaches MR: by ticking onto it, jumping past it, or a write that makes them equal. */
START_TEST(match_rules)
{
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 };
	struct pl031 *p = make(&c, &f);

	/* A host clock that jumps over MR: the counter passed it. */
	wr(p, MR, EPOCH + 50);
	c.t += 100;
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, ICR, 1);
	/* MR in the past does not match (until the counter wraps, 136 years on). */
	wr(p, MR, EPOCH);
	c.t += 1000;
	ck_assert_uint_eq(rd(p, RIS), 0);
	/* MR written equal to the counter matches at once; LR loaded equal to MR too. */
	wr(p, MR, rd(p, DR));
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, ICR, 1);
	wr(p, MR, 5000);
	ck_assert_uint_eq(rd(p, RIS), 0);
	wr(p, LR, 5000);
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, ICR, 1);
	/* A load below MR: the counter counts up to it. */
	wr(p, LR, 4990);
	c.t += 9;
	ck_assert_uint_eq(rd(p, RIS), 0);
	c.t += 1;
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, ICR, 1);
	/* Across the wrap. */
	wr(p, LR, 0xfffffffe);
	wr(p, MR, 1);
	c.t += 2;
	ck_assert_uint_eq(rd(p, RIS), 0);
	c.t += 1;
	ck_assert_uint_eq(rd(p, RIS), 1);
	wr(p, ICR, 1);
	/* A host clock that steps back ticks through nothing. */
	wr(p, MR, rd(p, DR) + 10);
	c.t -= 3600;
	ck_assert_uint_eq(rd(p, RIS), 0);
	/* Over 2^32 seconds at once: every value went by. */
	wr(p, MR, rd(p, DR) - 1);
	c.t += (int64_t)1 << 33;
	ck_assert_uint_eq(rd(p, RIS), 1);
	/* Extreme host clocks neither crash nor undefine anything. */
	c.t = INT64_MIN;
	(void)rd(p, DR);
	c.t = INT64_MAX;
	ck_assert_uint_eq(rd(p, RIS), 1);
	c.t = INT64_MIN;
	(void)rd(p, RIS);
	pl031_destroy(p);
}
END_TEST

/*
 * rtc-pl031 arms an alarm as: MR = t; ICR = 1; IMSC |= 1; then it waits for the interrupt, and its
 * handler reads MIS and writes ICR. With no timer, pl031_poll() is what raises the line in time.
 */
START_TEST(linux_alarm_sequence)
{
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 };
	struct pl031 *p = make(&c, &f);

	wr(p, MR, EPOCH + 10);
	wr(p, ICR, 1);
	wr(p, IMSC, rd(p, IMSC) | 1);
	c.t += 9;
	pl031_poll(p);
	ck_assert_int_eq(f.level, 0);
	c.t += 1;
	pl031_poll(p);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(p, MIS) & 1, 1);
	wr(p, ICR, 1);
	ck_assert_int_eq(f.level, 0);
	pl031_poll(p);
	ck_assert_int_eq(f.level, 0);
	/* alarm_irq_enable(0) */
	wr(p, ICR, 1);
	wr(p, IMSC, rd(p, IMSC) & ~1u);
	ck_assert_uint_eq(rd(p, IMSC), 0);
	pl031_destroy(p);
}
END_TEST

/* Tiny deterministic generator for the hostile tests. */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/*
 * One hostile write then read of len bytes at off. Reports whether it kept to the rules: only the bytes
 * asked for touched, anything but a register access read as zero, DR still what the last proper LR write
 * loaded (*expect, updated here). Plain checks: a ck_assert per byte costs a pipe write under CK_FORK.
 */
static bool hostile_access(struct pl031 *p, uint64_t off, uint32_t len, uint64_t r, uint32_t *expect)
{
	uint8_t buf[16];
	bool ok = true;

	memcpy(buf, &r, 8);
	memset(buf + 8, 0x5c, 8);
	pl031_io(p, off, buf, len, true);
	if (len == 4 && off == LR)
		*expect = (uint32_t)buf[0] | (uint32_t)buf[1] << 8 | (uint32_t)buf[2] << 16 | (uint32_t)buf[3] << 24;
	for (unsigned k = 8; k < 16; k++)
		ok &= buf[k] == 0x5c;
	memset(buf, 0xa5, sizeof(buf));
	pl031_io(p, off, buf, len, false);
	for (unsigned k = len; k < 16; k++)
		ok &= buf[k] == 0xa5;
	if (len != 4 || off % 4 || off >= 0x1000)
		for (unsigned k = 0; k < len; k++)
			ok &= buf[k] == 0;
	return ok && rd(p, DR) == *expect;
}

/*
 * Every offset of the page and just past it, every size (and unaligned ones), writes of random data then
 * reads: no crash, and the device stays a clock (DR exactly the last value loaded through a proper LR write).
 */
START_TEST(hostile_accesses)
{
	static const uint32_t sizes[] = { 1, 2, 3, 4, 8 };
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 };
	struct pl031 *p = make(&c, &f);
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	uint32_t expect = EPOCH;

	for (int round = 0; round < 3; round++) {
		for (uint64_t off = 0; off <= 0x1008; off++) {
			for (unsigned i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
				if (!hostile_access(p, off, sizes[i], next_rand(&seed), &expect))
					ck_abort_msg("access at 0x%llx, %u bytes", (unsigned long long)off, sizes[i]);
			}
		}
		ck_assert_uint_eq(rd(p, DR), expect);
		ck_assert_uint_eq(rd(p, LR), expect);
		ck_assert_uint_eq(rd(p, CR), 1);
		ck_assert_uint_le(rd(p, IMSC), 1);
		ck_assert_uint_le(rd(p, RIS), 1);
		ck_assert_uint_eq(rd(p, MIS), rd(p, RIS) & rd(p, IMSC));
		ck_assert_int_eq(f.level, (int)rd(p, MIS));
		ck_assert_uint_eq(amba_id(p, 0xfe0), 0x00041031);
		ck_assert_uint_eq(amba_id(p, 0xff0), 0xb105f00d);
		c.t += 1000;
		expect += 1000;
	}
	/* Offsets far out, zero lengths. */
	{
		uint8_t buf[8] = { 0 };

		pl031_io(p, UINT64_MAX, buf, 8, true);
		pl031_io(p, UINT64_MAX - 3, buf, 4, true);
		pl031_io(p, UINT64_MAX - 3, buf, 4, false);
		ck_assert_uint_eq(buf[0] | buf[1] | buf[2] | buf[3], 0);
		pl031_io(p, DR, buf, 0, false);
		pl031_io(p, LR, buf, 0, true);
	}
	ck_assert_uint_eq(rd(p, DR), expect);
	ck_assert_int_eq(f.changes, f.calls);
	pl031_destroy(p);
}
END_TEST

/* Proper writes to the read-only registers change nothing. */
START_TEST(read_only_registers)
{
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 };
	struct pl031 *p = make(&c, &f);
	static const uint64_t ro[] = { DR, RIS, MIS, CR, 0xfe0, 0xfe4, 0xfe8, 0xfec, 0xff0, 0xff4, 0xff8, 0xffc };
	uint32_t before[sizeof(ro) / sizeof(ro[0])];

	wr(p, LR, 0x12345678);
	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		before[i] = rd(p, ro[i]);
	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
		wr(p, ro[i], 0xffffffff);
		wr(p, ro[i], 0);
	}
	for (unsigned i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		ck_assert_uint_eq(rd(p, ro[i]), before[i]);
	ck_assert_uint_eq(rd(p, MR), 0);
	ck_assert_uint_eq(rd(p, IMSC), 0);
	ck_assert_int_eq(f.calls, 0);
	pl031_destroy(p);
}
END_TEST

START_TEST(two_devices_independent)
{
	struct fake_clock c1 = { .t = EPOCH }, c2 = { .t = EPOCH };
	struct fake_irq f1 = { 0 }, f2 = { 0 };
	struct pl031 *a = make(&c1, &f1), *b = make(&c2, &f2);

	wr(a, LR, 100);
	wr(a, MR, 100);
	wr(a, IMSC, 1);
	ck_assert_int_eq(f1.level, 1);
	ck_assert_int_eq(f2.level, 0);
	ck_assert_uint_eq(rd(b, DR), EPOCH);
	ck_assert_uint_eq(rd(b, MR), 0);
	c2.t += 20;
	ck_assert_uint_eq(rd(a, DR), 100);
	ck_assert_uint_eq(rd(b, DR), EPOCH + 20);
	pl031_destroy(a);
	pl031_destroy(b);
}
END_TEST

/*
 * The host's seconds as the device reads them (CLOCK_REALTIME). Not time(): that is the kernel's
 * coarse clock, which can still show the previous second for up to a tick after CLOCK_REALTIME
 * turned over (a CI run saw the device one second ahead of time()).
 */
static uint32_t realtime_s(void)
{
	struct timespec ts;

	ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &ts), 0);
	return (uint32_t)ts.tv_sec;
}

START_TEST(host_clock_default)
{
	struct pl031 *p = pl031_create(NULL, NULL, NULL);
	uint32_t before = realtime_s(), dr, after;

	ck_assert_ptr_nonnull(p);
	dr = rd(p, DR);
	after = realtime_s();
	ck_assert_uint_ge(dr, before);
	ck_assert_uint_le(dr, after);
	/* No irq line: a match changes the registers, calls nothing. A load equal to MR matches whenever it lands. */
	wr(p, IMSC, 1);
	wr(p, MR, 1000);
	wr(p, LR, 1000);
	ck_assert_uint_eq(rd(p, RIS), 1);
	pl031_poll(p);
	pl031_destroy(p);
	pl031_destroy(NULL);
}
END_TEST

static void save(struct pl031 *p, struct sbuf *b)
{
	sbuf_init(b);
	ck_assert_int_eq(pl031_device_ops.save(p, b), 0);
	ck_assert(!b->oom);
}

/* Restore p from a heap copy of exactly n bytes, so that ASan sees any read past them. */
static int restore(struct pl031 *p, const uint8_t *data, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader in;
	int ret;

	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, data, n);
	sreader_init(&in, copy, n);
	ret = pl031_device_ops.restore(p, &in);
	free(copy);
	return ret;
}

/* Every register the guest can read, the same on both. */
static void assert_same(struct pl031 *a, struct pl031 *b)
{
	static const uint64_t regs[] = { DR, MR, LR, CR, IMSC, RIS, MIS, ICR };

	for (unsigned i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		ck_assert_uint_eq(rd(a, regs[i]), rd(b, regs[i]));
}

/* The registers and the guest's offset survive; restored later, it reads what the original reads then. */
START_TEST(snapshot_round_trip)
{
	struct fake_clock c = { .t = EPOCH }, c2 = { .t = EPOCH };
	struct fake_irq f = { 0 }, f2 = { 0 };
	struct pl031 *p = make(&c, &f), *t = make(&c2, &f2);
	struct sbuf b, b2;

	ck_assert_str_eq(pl031_device_ops.kind, "pl031");
	ck_assert_uint_eq(pl031_device_ops.version, 1);
	wr(p, LR, 0x40000000);
	wr(p, MR, 0x40000002);
	c.t += 2; /* the match */
	wr(p, IMSC, 1);
	wr(p, MR, 0x50000000);
	ck_assert_int_eq(f.level, 1);
	save(p, &b);
	ck_assert_uint_eq(b.len, STATE_LEN);
	/* Into a device whose clock reads the same: the same bytes come back out. */
	c2.t = c.t;
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, 1);
	ck_assert_int_eq(f2.calls, 1);
	save(t, &b2);
	ck_assert_uint_eq(b2.len, b.len);
	ck_assert(!memcmp(b2.data, b.data, b.len));
	sbuf_free(&b2);
	assert_same(p, t);
	pl031_destroy(t);
	/* Three days later: the counter moved on with the host's clock, by the same offset. */
	f2 = (struct fake_irq){ 0 };
	c2.t = c.t + 3 * 86400;
	t = make(&c2, &f2);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	c.t = c2.t;
	assert_same(p, t);
	ck_assert_uint_eq(rd(t, DR), 0x40000002 + 3 * 86400);
	ck_assert_uint_eq(rd(t, LR), 0x40000000);
	ck_assert_uint_eq(rd(t, MR), 0x50000000);
	ck_assert_int_eq(f2.level, 1);
	sbuf_free(&b);
	pl031_destroy(p);
	pl031_destroy(t);
}
END_TEST

/* An alarm that fell while the VM was saved is raised by the restore; a clear line is driven low. */
START_TEST(snapshot_alarm_in_gap)
{
	struct fake_clock c = { .t = EPOCH }, c2 = { .t = EPOCH + 200 };
	struct fake_irq f = { 0 }, f2 = { .level = 1 };
	struct pl031 *p = make(&c, &f), *t = make(&c2, &f2);
	struct sbuf b;

	wr(p, MR, EPOCH + 100);
	wr(p, IMSC, 1);
	save(p, &b);
	/* Restored before the alarm: the line is driven low (the new VM's line may be anything). */
	c2.t = EPOCH + 50;
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, 0);
	ck_assert_int_eq(f2.calls, 1);
	ck_assert_uint_eq(rd(t, RIS), 0);
	/* Restored after it: raised at once. */
	c2.t = EPOCH + 200;
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, 1);
	ck_assert_uint_eq(rd(t, RIS), 1);
	ck_assert_uint_eq(rd(t, DR), EPOCH + 200);
	/* Restored on a host whose clock is behind the saved one: nothing ticked. */
	c2.t = EPOCH - 1000;
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, 0);
	sbuf_free(&b);
	pl031_destroy(p);
	pl031_destroy(t);
}
END_TEST

/* The device a failed restore left: unchanged (LR 777 loaded at EPOCH, MR 999, IMSC 1) and working. */
static void assert_untouched(struct pl031 *t, struct fake_clock *c, struct fake_irq *f)
{
	ck_assert_uint_eq(rd(t, DR), 777 + (uint32_t)(c->t - EPOCH));
	ck_assert_uint_eq(rd(t, LR), 777);
	ck_assert_uint_eq(rd(t, MR), 999);
	ck_assert_uint_eq(rd(t, IMSC), 1);
	ck_assert_uint_eq(rd(t, RIS), 0);
	ck_assert_int_eq(f->level, 0);
}

/* Truncated, overlong, out-of-range and random state is refused and leaves the device as it was. */
START_TEST(snapshot_hostile)
{
	struct fake_clock c = { .t = EPOCH };
	struct fake_irq f = { 0 }, ft = { 0 };
	struct pl031 *p = make(&c, &f), *t = make(&c, &ft);
	struct sbuf b;
	uint8_t bad[64];
	uint64_t seed = 0x0123456789abcdefull;

	wr(p, LR, 5);
	wr(p, MR, 9);
	wr(p, IMSC, 1);
	save(p, &b);
	ck_assert_uint_eq(b.len, STATE_LEN);
	wr(t, LR, 777);
	wr(t, MR, 999);
	wr(t, IMSC, 1);

	for (size_t n = 0; n < b.len; n++) {
		ck_assert_int_eq(restore(t, b.data, n), -EINVAL);
		assert_untouched(t, &c, &ft);
	}
	memcpy(bad, b.data, b.len);
	bad[b.len] = 0;
	ck_assert_int_eq(restore(t, bad, b.len + 1), -EINVAL);
	assert_untouched(t, &c, &ft);
	/* IMSC (offset 12) and RIS (13) are one bit each. */
	for (unsigned v = 2; v < 256; v += 17) {
		memcpy(bad, b.data, b.len);
		bad[12] = (uint8_t)v;
		ck_assert_int_eq(restore(t, bad, b.len), -EINVAL);
		assert_untouched(t, &c, &ft);
		memcpy(bad, b.data, b.len);
		bad[13] = (uint8_t)v;
		ck_assert_int_eq(restore(t, bad, b.len), -EINVAL);
		assert_untouched(t, &c, &ft);
	}
	/* Random bytes of random lengths: refused unless they happen to be well formed, never a crash. */
	for (int i = 0; i < 2000; i++) {
		size_t n = next_rand(&seed) % sizeof(bad);

		for (size_t k = 0; k < n; k++)
			bad[k] = (uint8_t)next_rand(&seed);
		if (n == STATE_LEN)
			bad[12] |= 2; /* keep it malformed, so that the device must stay untouched */
		ck_assert_int_eq(restore(t, bad, n), -EINVAL);
		assert_untouched(t, &c, &ft);
	}
	/* Well-formed extremes are accepted, and the counter is still a counter. */
	memset(bad, 0xff, STATE_LEN);
	bad[12] = 1;
	bad[13] = 1;
	ck_assert_int_eq(restore(t, bad, STATE_LEN), 0);
	ck_assert_int_eq(ft.level, 1);
	ck_assert_uint_eq(rd(t, MR), 0xffffffff);
	c.t += 1;
	ck_assert_uint_eq(rd(t, DR), (uint32_t)(uint32_t)c.t + 0xffffffffu);
	memset(bad, 0, STATE_LEN);
	ck_assert_int_eq(restore(t, bad, STATE_LEN), 0);
	ck_assert_int_eq(ft.level, 0);
	ck_assert_uint_eq(rd(t, DR), (uint32_t)c.t);
	sbuf_free(&b);
	pl031_destroy(p);
	pl031_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pl031");
	TCase *tc = tcase_create("pl031");

	tcase_add_test(tc, id_registers);
	tcase_add_test(tc, counter_follows_clock);
	tcase_add_test(tc, load_sets_counter);
	tcase_add_test(tc, control_always_started);
	tcase_add_test(tc, status_registers);
	tcase_add_test(tc, interrupt_line);
	tcase_add_test(tc, match_rules);
	tcase_add_test(tc, linux_alarm_sequence);
	tcase_add_test(tc, hostile_accesses);
	tcase_add_test(tc, read_only_registers);
	tcase_add_test(tc, two_devices_independent);
	tcase_add_test(tc, host_clock_default);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_alarm_in_gap);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
