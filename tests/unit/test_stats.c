// SPDX-License-Identifier: Apache-2.0
/* Exit statistics: the buckets, adding up per-vCPU counters, and the report lines. */
#include <check.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "stats.h"
#include "unit.h"

struct lines {
	int n;
	char line[32][256];
};

static void collect(void *opaque, const char *line)
{
	struct lines *l = opaque;

	ck_assert_int_lt(l->n, 32);
	snprintf(l->line[l->n], sizeof(l->line[0]), "%s", line);
	l->n++;
}

static bool has(const struct lines *l, const char *want)
{
	for (int i = 0; i < l->n; i++)
		if (!strcmp(l->line[i], want))
			return true;
	return false;
}

static bool has_prefix(const struct lines *l, const char *want)
{
	for (int i = 0; i < l->n; i++)
		if (!strncmp(l->line[i], want, strlen(want)))
			return true;
	return false;
}

static void nop_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	(void)opaque, (void)off, (void)data, (void)len, (void)is_write;
}

/* Two port ranges (serial at 0x3f8, one port at 0x620) and one MMIO range. */
static void buses(struct bus *pio, struct bus *mmio)
{
	bus_init(pio);
	bus_init(mmio);
	ck_assert_int_eq(bus_register(pio, 0x620, 1, nop_io, NULL, "boot-timer"), 0);
	ck_assert_int_eq(bus_register(pio, 0x3f8, 8, nop_io, NULL, "serial"), 0);
	ck_assert_int_eq(bus_register(mmio, 0xe0000000, 0x10000000, nop_io, NULL, "pci-ecam"), 0);
}

START_TEST(exit_kinds)
{
	ck_assert_int_eq(stats_exit_kind(KVM_EXIT_IO), STATS_EXIT_IO);
	ck_assert_int_eq(stats_exit_kind(KVM_EXIT_MMIO), STATS_EXIT_MMIO);
	ck_assert_int_eq(stats_exit_kind(KVM_EXIT_HLT), STATS_EXIT_HLT);
	ck_assert_int_eq(stats_exit_kind(KVM_EXIT_SHUTDOWN), STATS_EXIT_SHUTDOWN);
	ck_assert_int_eq(stats_exit_kind(KVM_EXIT_INTERNAL_ERROR), STATS_EXIT_INTERNAL_ERROR);
	ck_assert_int_eq(stats_exit_kind(KVM_EXIT_SYSTEM_EVENT), STATS_EXIT_SYSTEM_EVENT);
	ck_assert_int_eq(stats_exit_kind(0xffffu), STATS_EXIT_OTHER);
}
END_TEST

START_TEST(ranges_and_unclaimed)
{
	uint64_t c[3] = { 0 };

	stats_count_range(c, 2, 0);
	stats_count_range(c, 2, 1);
	stats_count_range(c, 2, 1);
	stats_count_range(c, 2, -1);
	stats_count_range(c, 2, 2);  /* out of range: unclaimed, never past the array */
	stats_count_range(c, 2, 99);
	ck_assert_uint_eq(c[0], 1);
	ck_assert_uint_eq(c[1], 2);
	ck_assert_uint_eq(c[2], 3);
}
END_TEST

START_TEST(add_up_vcpus)
{
	struct stats a, b, t;

	ck_assert_int_eq(stats_init(&a, 2, 1), 0);
	ck_assert_int_eq(stats_init(&b, 2, 1), 0);
	ck_assert_int_eq(stats_init(&t, 2, 1), 0);
	a.exits[STATS_EXIT_IO] = 10, b.exits[STATS_EXIT_IO] = 5;
	a.exits[STATS_EXIT_HLT] = 3;
	b.exits[STATS_EXIT_KICK] = 4;
	a.pio[1] = 7, b.pio[1] = 8, b.pio[2] = 1;
	a.mmio[0] = 2, b.mmio[1] = 6;
	a.handle_ns = 1000, b.handle_ns = 500;
	stats_add(&t, &a);
	stats_add(&t, &b);
	ck_assert_uint_eq(t.exits[STATS_EXIT_IO], 15);
	ck_assert_uint_eq(t.exits[STATS_EXIT_HLT], 3);
	ck_assert_uint_eq(t.exits[STATS_EXIT_KICK], 4);
	ck_assert_uint_eq(stats_total(&t), 18); /* kicks are not guest exits */
	ck_assert_uint_eq(t.pio[1], 15);
	ck_assert_uint_eq(t.pio[2], 1);
	ck_assert_uint_eq(t.mmio[0], 2);
	ck_assert_uint_eq(t.mmio[1], 6);
	ck_assert_uint_eq(t.handle_ns, 1500);
	stats_destroy(&a);
	stats_destroy(&b);
	stats_destroy(&t);
	stats_destroy(&t); /* twice is harmless */
}
END_TEST

START_TEST(report_lines)
{
	struct bus pio, mmio;
	struct stats per[2], t;
	struct lines l = { 0 };

	buses(&pio, &mmio);
	/* pio.ranges sorted: [0] serial 0x3f8, [1] boot-timer 0x620. */
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(stats_init(&per[i], pio.nr, mmio.nr), 0);
	ck_assert_int_eq(stats_init(&t, pio.nr, mmio.nr), 0);
	per[0].exits[STATS_EXIT_IO] = 12;
	per[0].exits[STATS_EXIT_HLT] = 1;
	per[1].exits[STATS_EXIT_MMIO] = 2;
	per[1].exits[STATS_EXIT_SYSTEM_EVENT] = 1;
	per[0].pio[0] = 4;  /* serial */
	per[0].pio[1] = 5;  /* boot-timer */
	per[0].pio[2] = 3;  /* unclaimed */
	per[1].mmio[0] = 2;
	per[0].handle_ns = 2000000, per[1].handle_ns = 500000;
	stats_add(&t, &per[0]);
	stats_add(&t, &per[1]);
	stats_report(&t, per, 2, &pio, &mmio, collect, &l);
	ck_assert(has(&l, "stats: exits: 16 (io 12, mmio 2, hlt 1, system-event 1)"));
	ck_assert(has(&l, "stats: port 0x3f8-0x3ff serial: 4 exits"));
	ck_assert(has(&l, "stats: port 0x620 boot-timer: 5 exits"));
	ck_assert(has(&l, "stats: port unclaimed (no device): 3 exits"));
	ck_assert(has(&l, "stats: mmio 0xe0000000-0xefffffff pci-ecam: 2 exits"));
	ck_assert(!has_prefix(&l, "stats: mmio unclaimed"));
	ck_assert(has(&l, "stats: user space exit handling: 2.500 ms in total, 156.2 us per exit"));
	ck_assert(has(&l, "stats: vCPU 0: 13 exits, 2.000 ms handling them"));
	ck_assert(has(&l, "stats: vCPU 1: 3 exits, 0.500 ms handling them"));
	ck_assert_int_eq(l.n, 8);
	for (int i = 0; i < 2; i++)
		stats_destroy(&per[i]);
	stats_destroy(&t);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}
END_TEST

START_TEST(report_nothing_happened)
{
	struct bus pio, mmio;
	struct stats t;
	struct lines l = { 0 };

	buses(&pio, &mmio);
	ck_assert_int_eq(stats_init(&t, pio.nr, mmio.nr), 0);
	stats_report(&t, &t, 1, &pio, &mmio, collect, &l);
	ck_assert_int_eq(l.n, 2);
	ck_assert_str_eq(l.line[0], "stats: exits: 0");
	ck_assert_str_eq(l.line[1], "stats: user space exit handling: 0.000 ms in total, 0.0 us per exit");
	stats_destroy(&t);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}
END_TEST

START_TEST(dispatch_at_names_the_range)
{
	struct bus pio, mmio;
	uint8_t v = 0;

	buses(&pio, &mmio);
	ck_assert_int_eq(bus_dispatch_at(&pio, 0x3fd, &v, 1, false), 0);
	ck_assert_int_eq(bus_dispatch_at(&pio, 0x620, &v, 1, true), 1);
	ck_assert_int_eq(bus_dispatch_at(&pio, 0x80, &v, 1, false), -1);
	ck_assert_uint_eq(v, 0xff);
	ck_assert_int_eq(bus_dispatch_at(&mmio, 0xe0000000, &v, 1, false), 0);
	bus_destroy(&pio);
	bus_destroy(&mmio);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("stats");
	TCase *tc = tcase_create("stats");

	tcase_add_test(tc, exit_kinds);
	tcase_add_test(tc, ranges_and_unclaimed);
	tcase_add_test(tc, add_up_vcpus);
	tcase_add_test(tc, report_lines);
	tcase_add_test(tc, report_nothing_happened);
	tcase_add_test(tc, dispatch_at_names_the_range);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
