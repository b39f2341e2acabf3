// SPDX-License-Identifier: Apache-2.0
/* The Generic Event Device: a power-button press sets bit 0 and pulses the interrupt once; reading clears. */
#include <check.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/ged.h"
#include "unit.h"

#define NTHREADS 4
#define PRESSES 1000

/* A fake interrupt line: counts rising edges and checks the level only moves between 0 and 1. */
struct fake_irq {
	pthread_mutex_t lock;
	unsigned gsi_seen;
	int level;
	unsigned rising, calls, bad;
};

static void fake_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	pthread_mutex_lock(&f->lock);
	f->gsi_seen = gsi;
	f->calls++;
	if (level == f->level || (level != 0 && level != 1))
		f->bad++; /* a pulse is always 1 then 0 */
	if (level && !f->level)
		f->rising++;
	f->level = level;
	pthread_mutex_unlock(&f->lock);
}

static struct irq_line fake_line(struct fake_irq *f)
{
	memset(f, 0, sizeof(*f));
	pthread_mutex_init(&f->lock, NULL);
	return (struct irq_line){ .set = fake_set, .opaque = f, .gsi = GED_GSI };
}

static uint8_t rd8(struct ged *g, uint64_t off)
{
	uint8_t v = 0xa5;

	ged_io(g, off, &v, 1, false);
	return v;
}

START_TEST(power_button_sets_bit_and_pulses)
{
	struct fake_irq f;
	const struct irq_line irq = fake_line(&f);
	struct ged *g = ged_create(&irq);

	ck_assert_ptr_nonnull(g);
	ck_assert_uint_eq(f.calls, 0);
	ck_assert_uint_eq(rd8(g, 0), 0); /* nothing pending at reset */
	ged_power_button(g);
	ck_assert_uint_eq(f.rising, 1);
	ck_assert_uint_eq(f.calls, 2);
	ck_assert_int_eq(f.level, 0); /* an edge: the line is low again */
	ck_assert_uint_eq(f.bad, 0);
	ck_assert_uint_eq(f.gsi_seen, GED_GSI);
	/* Read-to-clear. */
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(g, 0), 0);
	ck_assert_uint_eq(f.calls, 2); /* reading does not touch the line */
	/* A second press: a second edge. */
	ged_power_button(g);
	ck_assert_uint_eq(f.rising, 2);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ged_destroy(g);
	ged_destroy(NULL);
}
END_TEST

START_TEST(presses_accumulate_until_read)
{
	struct fake_irq f;
	const struct irq_line irq = fake_line(&f);
	struct ged *g = ged_create(&irq);

	ged_power_button(g);
	ged_power_button(g);
	ged_power_button(g);
	ck_assert_uint_eq(f.rising, 3); /* one edge per press */
	ck_assert_uint_eq(f.bad, 0);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(g, 0), 0);
	ged_destroy(g);
}
END_TEST

START_TEST(writes_do_not_clear)
{
	struct fake_irq f;
	const struct irq_line irq = fake_line(&f);
	struct ged *g = ged_create(&irq);
	uint8_t buf[8];

	ged_power_button(g);
	memset(buf, 0xff, sizeof(buf));
	ged_io(g, 0, buf, 1, true); /* read-to-clear, not write-1-to-clear */
	ged_io(g, 0, buf, 4, true);
	buf[0] = 0;
	ged_io(g, 0, buf, 1, true);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(f.calls, 2);
	ged_destroy(g);
}
END_TEST

START_TEST(odd_accesses)
{
	struct fake_irq f;
	const struct irq_line irq = fake_line(&f);
	struct ged *g = ged_create(&irq);
	uint8_t buf[8];

	ged_power_button(g);
	/* Other offsets read zero and do not clear the events. */
	ck_assert_uint_eq(rd8(g, 1), 0);
	ck_assert_uint_eq(rd8(g, 3), 0);
	ck_assert_uint_eq(rd8(g, UINT64_MAX), 0);
	memset(buf, 0xa5, sizeof(buf));
	ged_io(g, 1000, buf, 8, false);
	for (int i = 0; i < 8; i++)
		ck_assert_uint_eq(buf[i], 0);
	/* Zero-length accesses do nothing: the buffer is untouched. */
	memset(buf, 0xa5, sizeof(buf));
	ged_io(g, 0, buf, 0, false);
	ged_io(g, 0, buf, 0, true);
	ck_assert_uint_eq(buf[0], 0xa5);
	/* A wider read at offset 0: the events in the low byte, zeros above, and the events cleared. */
	memset(buf, 0xa5, sizeof(buf));
	ged_io(g, 0, buf, 4, false);
	ck_assert_uint_eq(buf[0], GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(buf[1] | buf[2] | buf[3], 0);
	ck_assert_uint_eq(buf[4], 0xa5);
	ck_assert_uint_eq(rd8(g, 0), 0);
	ck_assert_uint_eq(f.calls, 2);
	ged_destroy(g);
}
END_TEST

START_TEST(no_irq)
{
	struct ged *g = ged_create(NULL);

	ck_assert_ptr_nonnull(g);
	ged_power_button(g);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ged_destroy(g);
}
END_TEST

START_TEST(two_devices_independent)
{
	struct fake_irq fa, fb;
	const struct irq_line ia = fake_line(&fa), ib = fake_line(&fb);
	struct ged *a = ged_create(&ia), *b = ged_create(&ib);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ged_power_button(a);
	ck_assert_uint_eq(fa.rising, 1);
	ck_assert_uint_eq(fb.rising, 0);
	ck_assert_uint_eq(rd8(b, 0), 0);
	ck_assert_uint_eq(rd8(a, 0), GED_EVENT_POWER_BUTTON);
	ged_power_button(b);
	ck_assert_uint_eq(fa.rising, 1);
	ck_assert_uint_eq(fb.rising, 1);
	ck_assert_uint_eq(rd8(a, 0), 0);
	ck_assert_uint_eq(rd8(b, 0), GED_EVENT_POWER_BUTTON);
	ged_destroy(a);
	ged_destroy(b);
}
END_TEST

static void *presser(void *opaque)
{
	for (int i = 0; i < PRESSES; i++)
		ged_power_button(opaque);
	return NULL;
}

/* Threads press while another reads: every press is one clean pulse, and the last press is never lost. */
START_TEST(concurrent_presses)
{
	struct fake_irq f;
	const struct irq_line irq = fake_line(&f);
	struct ged *g = ged_create(&irq);
	pthread_t t[NTHREADS];
	unsigned seen = 0;

	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, presser, g), 0);
	for (int i = 0; i < PRESSES; i++) {
		uint8_t v = rd8(g, 0);

		ck_assert_uint_eq(v & ~GED_EVENT_POWER_BUTTON, 0);
		seen += v;
	}
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_uint_eq(f.rising, NTHREADS * PRESSES);
	ck_assert_uint_eq(f.calls, 2 * NTHREADS * PRESSES);
	ck_assert_uint_eq(f.bad, 0);
	ck_assert_int_eq(f.level, 0);
	/* The presses after the reader's last read are still pending; one read takes them all. */
	seen += rd8(g, 0);
	ck_assert_uint_ge(seen, 1);
	ged_power_button(g);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(g, 0), 0);
	ged_destroy(g);
}
END_TEST

/* Presses from many threads and no reader: the bit stays set until a read. */
START_TEST(concurrent_presses_keep_bit)
{
	struct fake_irq f;
	const struct irq_line irq = fake_line(&f);
	struct ged *g = ged_create(&irq);
	pthread_t t[NTHREADS];

	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, presser, g), 0);
	for (int i = 0; i < NTHREADS; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	ck_assert_uint_eq(f.rising, NTHREADS * PRESSES);
	ck_assert_uint_eq(f.bad, 0);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(g, 0), 0);
	ged_destroy(g);
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
	ret = ged_device_ops.restore(dev, &in);
	free(copy);
	return ret;
}

/* A pending press survives; the restore drives the line low (no new pulse), later presses pulse as usual. */
START_TEST(snapshot_round_trip)
{
	struct fake_irq f, f2;
	struct irq_line l = fake_line(&f), l2 = fake_line(&f2);
	struct ged *g = ged_create(&l);
	struct ged *t = ged_create(&l2);
	struct sbuf b;

	ck_assert_str_eq(ged_device_ops.kind, "ged");
	ck_assert_uint_eq(ged_device_ops.version, 1);
	ged_power_button(g);
	sbuf_init(&b);
	ck_assert_int_eq(ged_device_ops.save(g, &b), 0);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, f.level);
	ck_assert_int_eq(f2.level, 0);
	ck_assert_uint_eq(f2.rising, 0);
	ck_assert_uint_eq(f2.calls, 1); /* driven low once, not pulsed */
	ck_assert_uint_eq(f2.gsi_seen, GED_GSI);
	ck_assert_uint_eq(rd8(t, 1), rd8(g, 1));
	ck_assert_uint_eq(rd8(t, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(g, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(t, 0), rd8(g, 0));
	ged_power_button(t);
	ck_assert_uint_eq(f2.rising, 1);
	ck_assert_int_eq(f2.level, 0);
	ck_assert_uint_eq(rd8(t, 0), GED_EVENT_POWER_BUTTON);
	sbuf_free(&b);

	/* Nothing pending restores as nothing pending. */
	sbuf_init(&b);
	ck_assert_int_eq(ged_device_ops.save(g, &b), 0);
	ged_power_button(t);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_uint_eq(rd8(t, 0), 0);
	ck_assert_int_eq(f2.level, 0);
	sbuf_free(&b);
	ged_destroy(g);
	ged_destroy(t);
}
END_TEST

/* Truncated, overlong and unknown events are refused and leave the device as it was. */
START_TEST(snapshot_hostile)
{
	struct fake_irq f;
	struct irq_line l = fake_line(&f);
	struct ged *t = ged_create(&l);
	const uint8_t one[] = { GED_EVENT_POWER_BUTTON, 0 };
	const uint8_t unknown[] = { 0x02, 0x80, 0xff };

	ged_power_button(t);
	ck_assert_int_eq(restore(t, one, 0), -EINVAL);
	ck_assert_uint_eq(rd8(t, 1), 0);
	ck_assert_int_eq(restore(t, one, 2), -EINVAL);
	ck_assert_uint_eq(rd8(t, 1), 0);
	for (size_t i = 0; i < sizeof(unknown); i++) {
		ck_assert_int_eq(restore(t, &unknown[i], 1), -EINVAL);
		ck_assert_uint_eq(rd8(t, 1), 0);
	}
	ck_assert_uint_eq(f.calls, 2); /* only the press's pulse: failed restores leave the line alone */
	ck_assert_uint_eq(rd8(t, 0), GED_EVENT_POWER_BUTTON);
	ck_assert_uint_eq(rd8(t, 0), 0);
	ged_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("ged");
	TCase *tc = tcase_create("ged");

	tcase_add_test(tc, power_button_sets_bit_and_pulses);
	tcase_add_test(tc, presses_accumulate_until_read);
	tcase_add_test(tc, writes_do_not_clear);
	tcase_add_test(tc, odd_accesses);
	tcase_add_test(tc, no_irq);
	tcase_add_test(tc, two_devices_independent);
	tcase_add_test(tc, concurrent_presses);
	tcase_add_test(tc, concurrent_presses_keep_bit);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
