// SPDX-License-Identifier: Apache-2.0
/* The reset control register at 0xcf9: RST_CPU resets; the PCI configuration ports hand it its byte. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"
#include "devices/cf9.h"
#include "devices/pci.h"
#include "unit.h"

static void on_reset(void *opaque)
{
	(*(int *)opaque)++;
}

static void wr(struct cf9 *r, uint8_t v)
{
	cf9_io(r, 0, &v, 1, true);
}

static uint8_t rd(struct cf9 *r)
{
	uint8_t v = 0x5a;

	cf9_io(r, 0, &v, 1, false);
	return v;
}

START_TEST(linux_reboot_sequence)
{
	int resets = 0;
	struct cf9 *r = cf9_create(on_reset, &resets);
	uint8_t v;

	ck_assert_ptr_nonnull(r);
	ck_assert_uint_eq(rd(r), 0);
	/* As Linux's reboot=p: hard reset requested first, then the reset itself (cold: 0x0e, warm: 0x06). */
	v = rd(r) & (uint8_t)~0x0e;
	wr(r, v | CF9_SYS_RST);
	ck_assert_int_eq(resets, 0);
	ck_assert_uint_eq(rd(r), CF9_SYS_RST);
	wr(r, v | 0x0e);
	ck_assert_int_eq(resets, 1);
	ck_assert_uint_eq(rd(r), CF9_SYS_RST | CF9_FULL_RST); /* RST_CPU does not stay set */
	wr(r, 0x06);
	ck_assert_int_eq(resets, 2);
	wr(r, CF9_RST_CPU); /* a soft reset ends the run too */
	ck_assert_int_eq(resets, 3);
	cf9_destroy(r);
	cf9_destroy(NULL);
}
END_TEST

START_TEST(other_writes_and_odd_accesses)
{
	int resets = 0;
	struct cf9 *r = cf9_create(on_reset, &resets);
	uint8_t b[4] = { 0xff, 0xff, 0xff, 0xff };
	uint32_t d = 0;

	for (unsigned v = 0; v < 256; v++)
		if (!(v & CF9_RST_CPU))
			wr(r, (uint8_t)v);
	ck_assert_int_eq(resets, 0);
	ck_assert_uint_eq(rd(r), (0xff & (CF9_SYS_RST | CF9_FULL_RST)));
	cf9_io(r, 0, b, 2, true);  /* only byte accesses are the register */
	cf9_io(r, 1, b, 1, true);
	cf9_io(r, 0, b, 0, true);
	ck_assert_int_eq(resets, 0);
	cf9_io(r, 0, &d, 4, false);
	ck_assert_uint_eq(d, 0xffffffffu);
	cf9_destroy(r);
	r = cf9_create(NULL, NULL); /* no callback: nothing happens */
	wr(r, 0x0e);
	cf9_destroy(r);
}
END_TEST

static void fake_irq(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
}

START_TEST(through_the_pci_config_ports)
{
	struct bus pio, mmio;
	struct pci_bus pci;
	int resets = 0;
	struct cf9 *r = cf9_create(on_reset, &resets);
	uint32_t d = 0x80000000u, back = 0;
	uint8_t v = 0;

	bus_init(&pio);
	bus_init(&mmio);
	ck_assert_int_eq(pci_bus_init(&pci, &pio, &mmio, 1ull << 32, fake_irq, NULL, NULL), 0);
	/* Without the hook a byte at 0xcf9 is the latch's, which ignores it. */
	v = CF9_RST_CPU;
	bus_dispatch(&pio, CF9_PORT, &v, 1, true);
	ck_assert_int_eq(resets, 0);
	pci_bus_set_port_cf9(&pci, cf9_io, r);
	v = CF9_SYS_RST;
	bus_dispatch(&pio, CF9_PORT, &v, 1, true);
	v = 0;
	bus_dispatch(&pio, CF9_PORT, &v, 1, false);
	ck_assert_uint_eq(v, CF9_SYS_RST);
	ck_assert_int_eq(resets, 0);
	/* The address latch still takes its dwords. */
	bus_dispatch(&pio, PCI_CONFIG_PORT, &d, 4, true);
	bus_dispatch(&pio, PCI_CONFIG_PORT, &back, 4, false);
	ck_assert_uint_eq(back, d);
	v = 0x0e;
	bus_dispatch(&pio, CF9_PORT, &v, 1, true);
	ck_assert_int_eq(resets, 1);
	pci_bus_destroy(&pci);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	cf9_destroy(r);
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
	ret = cf9_device_ops.restore(dev, &in);
	free(copy);
	return ret;
}

/* The kept bits survive; restoring never resets. */
START_TEST(snapshot_round_trip)
{
	int resets = 0, resets2 = 0;
	struct cf9 *r = cf9_create(on_reset, &resets);
	struct cf9 *t = cf9_create(on_reset, &resets2);
	struct sbuf b;

	ck_assert_str_eq(cf9_device_ops.kind, "cf9");
	ck_assert_uint_eq(cf9_device_ops.version, 1);
	wr(r, CF9_SYS_RST | CF9_FULL_RST);
	sbuf_init(&b);
	ck_assert_int_eq(cf9_device_ops.save(r, &b), 0);
	ck_assert_uint_eq(b.len, 1);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_uint_eq(rd(t), rd(r));
	ck_assert_uint_eq(rd(t), CF9_SYS_RST | CF9_FULL_RST);
	ck_assert_int_eq(resets + resets2, 0);
	wr(t, CF9_RST_CPU);
	ck_assert_int_eq(resets2, 1);
	sbuf_free(&b);
	cf9_destroy(r);
	cf9_destroy(t);
}
END_TEST

/* Truncated, overlong and out-of-range values are refused and leave the register as it was. */
START_TEST(snapshot_hostile)
{
	int resets = 0;
	struct cf9 *t = cf9_create(on_reset, &resets);
	const uint8_t two[] = { CF9_SYS_RST, 0 };
	const uint8_t out_of_range[] = { CF9_RST_CPU, 0x01, 0x10, 0xff };

	wr(t, CF9_SYS_RST);
	ck_assert_int_eq(restore(t, two, 0), -EINVAL);
	ck_assert_uint_eq(rd(t), CF9_SYS_RST);
	ck_assert_int_eq(restore(t, two, 2), -EINVAL);
	ck_assert_uint_eq(rd(t), CF9_SYS_RST);
	for (size_t i = 0; i < sizeof(out_of_range); i++) {
		ck_assert_int_eq(restore(t, &out_of_range[i], 1), -EINVAL);
		ck_assert_uint_eq(rd(t), CF9_SYS_RST);
	}
	ck_assert_int_eq(resets, 0);
	cf9_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cf9");
	TCase *tc = tcase_create("cf9");

	tcase_add_test(tc, linux_reboot_sequence);
	tcase_add_test(tc, other_writes_and_odd_accesses);
	tcase_add_test(tc, through_the_pci_config_ports);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
