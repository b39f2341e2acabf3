// SPDX-License-Identifier: Apache-2.0
/*
 * PCI bus 0 on fake port and MMIO buses: the host bridge through 0xcf8/0xcfc and ECAM, access widths, missing
 * devices, BAR placement, sizing and moves, MMIO dispatch gated by memory decoding, capability lists, write masks,
 * INTx on shared GSIs and the slot limit.
 */
#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "bus.h"
#include "devices/pci.h"
#include "unit.h"

#define MMIO64 (1ull << 36)

struct fake {
	struct bus pio, mmio;
	struct pci_bus pci;
	int level[24];
	int irq_calls;
};

/* What a BAR's fn saw, and what bar_update told. */
struct rec {
	uint64_t off;
	uint32_t len;
	bool is_write;
	int calls;
	uint32_t last_write;
	int updates;
	int update_bar;
	uint64_t update_addr;
};

static void fake_irq(void *opaque, unsigned gsi, int level)
{
	struct fake *f = opaque;

	ck_assert_uint_lt(gsi, 24);
	f->level[gsi] = level;
	f->irq_calls++;
}

static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	bus_init(&f->pio);
	bus_init(&f->mmio);
	ck_assert_int_eq(pci_bus_init(&f->pci, &f->pio, &f->mmio, MMIO64, fake_irq, f, NULL), 0);
}

static void fake_destroy(struct fake *f)
{
	pci_bus_destroy(&f->pci);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
}

static uint64_t get(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put(uint8_t *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static void pio(struct fake *f, uint16_t port, uint32_t *v, unsigned len, bool is_write)
{
	uint8_t b[4];

	put(b, *v, len);
	ck_assert(bus_dispatch(&f->pio, port, b, len, is_write));
	if (!is_write)
		*v = (uint32_t)get(b, len);
}

static uint32_t cfg1_read(struct fake *f, unsigned bus, unsigned dev, unsigned fn, unsigned reg, unsigned len)
{
	uint32_t a = 0x80000000u | bus << 16 | dev << 11 | fn << 8 | (reg & 0xfc), v = 0;

	pio(f, 0xcf8, &a, 4, true);
	pio(f, (uint16_t)(0xcfc + (reg & 3)), &v, len, false);
	return v;
}

static void cfg1_write(struct fake *f, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
	uint32_t a = 0x80000000u | dev << 11 | (reg & 0xfc);

	pio(f, 0xcf8, &a, 4, true);
	pio(f, (uint16_t)(0xcfc + (reg & 3)), &v, len, true);
}

static uint32_t ecam_read(struct fake *f, unsigned dev, unsigned fn, unsigned reg, unsigned len)
{
	uint8_t b[4];

	ck_assert(bus_dispatch(&f->mmio, PCI_ECAM_BASE + (dev << 15 | fn << 12 | reg), b, len, false));
	return (uint32_t)get(b, len);
}

static void ecam_write(struct fake *f, unsigned dev, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t b[4];

	put(b, v, len);
	ck_assert(bus_dispatch(&f->mmio, PCI_ECAM_BASE + (dev << 15 | reg), b, len, true));
}

static uint64_t mmio(struct fake *f, uint64_t addr, unsigned len, bool is_write, uint64_t v)
{
	uint8_t b[8];

	put(b, v, len);
	bus_dispatch(&f->mmio, addr, b, len, is_write);
	return get(b, len);
}

static void bar_fn(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct rec *r = opaque;

	r->off = off;
	r->len = len;
	r->is_write = is_write;
	r->calls++;
	if (is_write)
		r->last_write = (uint32_t)get(data, len < 4 ? len : 4);
	else
		memset(data, 0x5a, len);
}

static void bar_update(struct pci_dev *d, int bar, uint64_t addr)
{
	struct rec *r = d->opaque;

	r->updates++;
	r->update_bar = bar;
	r->update_addr = addr;
}

static const struct pci_dev_ops ops = { .bar_update = bar_update };

/* A device with a 4 KiB 32-bit BAR 0, a 16 KiB 64-bit BAR 2 and a 64 KiB 32-bit BAR 4. */
static void dev_init(struct pci_dev *d, struct rec *r)
{
	memset(r, 0, sizeof(*r));
	pci_dev_init(d, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 2);
	d->ops = &ops;
	d->opaque = r;
	ck_assert_int_eq(pci_dev_set_bar(d, 0, 0x1000, false, bar_fn, r), 0);
	ck_assert_int_eq(pci_dev_set_bar(d, 2, 0x4000, true, bar_fn, r), 0);
	ck_assert_int_eq(pci_dev_set_bar(d, 4, 0x10000, false, bar_fn, r), 0);
}

START_TEST(host_bridge_type1)
{
	struct fake f;
	uint32_t a = 0x80000000u;

	fake_init(&f);
	pio(&f, 0xcf8, &a, 4, true);
	a = 0;
	pio(&f, 0xcf8, &a, 4, false);
	ck_assert_uint_eq(a, 0x80000000u); /* what Linux's pci_check_type1() looks for */
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_VENDOR_ID, 4), 0x0d578086u);
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_CLASS_REVISION, 4), 0x06000000u);
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_HEADER_TYPE, 1), 0);
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_INTERRUPT_PIN, 1), 0);
	/* Byte and word reads through cfc + (offset & 3). */
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_VENDOR_ID + 1, 1), 0x80);
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_DEVICE_ID, 2), 0x0d57);
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, PCI_CLASS_DEVICE + 1, 1), 0x06);
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 0, 1, 2), 0xffff); /* misaligned word */
	/* Extended registers through bits 27:24 of the latch (AMD ECS): nothing there, no aliasing of 0x00. */
	a = 0x81000000u;
	pio(&f, 0xcf8, &a, 4, true);
	pio(&f, 0xcfc, &a, 4, false);
	ck_assert_uint_eq(a, 0);
	a = 0xf1000003u; /* reserved bits read back as 0 */
	pio(&f, 0xcf8, &a, 4, true);
	pio(&f, 0xcf8, &a, 4, false);
	ck_assert_uint_eq(a, 0x81000000u);
	/* Byte accesses to the latch: not the latch (Linux's type 2 probe must fail). */
	a = 0;
	pio(&f, 0xcf8, &a, 1, false);
	ck_assert_uint_eq(a, 0xff);
	fake_destroy(&f);
}
END_TEST

START_TEST(missing_functions)
{
	struct fake f;
	uint32_t a = 0, v = 0;

	fake_init(&f);
	ck_assert_uint_eq(cfg1_read(&f, 0, 5, 0, 0, 4), 0xffffffffu);  /* empty slot */
	ck_assert_uint_eq(cfg1_read(&f, 0, 0, 1, 0, 4), 0xffffffffu);  /* function 1 */
	ck_assert_uint_eq(cfg1_read(&f, 1, 0, 0, 0, 4), 0xffffffffu);  /* bus 1 */
	ck_assert_uint_eq(cfg1_read(&f, 0, 31, 7, 0, 2), 0xffff);
	cfg1_write(&f, 5, PCI_COMMAND, 2, 0xffff);                     /* ignored */
	ck_assert_uint_eq(cfg1_read(&f, 0, 5, 0, 0, 4), 0xffffffffu);
	pio(&f, 0xcf8, &a, 4, true); /* enable bit clear: no configuration cycle */
	pio(&f, 0xcfc, &v, 4, false);
	ck_assert_uint_eq(v, 0xffffffffu);
	ck_assert_uint_eq(ecam_read(&f, 5, 0, 0, 4), 0xffffffffu);
	ck_assert_uint_eq(ecam_read(&f, 0, 3, 0, 4), 0xffffffffu);
	fake_destroy(&f);
}
END_TEST

START_TEST(ecam_matches_type1)
{
	struct fake f;
	struct pci_dev d;
	struct rec r;

	fake_init(&f);
	dev_init(&d, &r);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d), 0);
	ck_assert_uint_eq(d.slot, 1);
	for (unsigned dev = 0; dev < 2; dev++) {
		for (unsigned reg = 0; reg < 0x40; reg += 4)
			ck_assert_uint_eq(ecam_read(&f, dev, 0, reg, 4), cfg1_read(&f, 0, dev, 0, reg, 4));
		ck_assert_uint_eq(ecam_read(&f, dev, 0, 2, 2), cfg1_read(&f, 0, dev, 0, 2, 2));
		ck_assert_uint_eq(ecam_read(&f, dev, 0, 0x3d, 1), cfg1_read(&f, 0, dev, 0, 0x3d, 1));
		ck_assert_uint_eq(ecam_read(&f, dev, 0, 0x100, 4), 0); /* extended space of an existing function */
		ck_assert_uint_eq(ecam_read(&f, dev, 0, 0xffc, 4), 0);
	}
	ck_assert_uint_eq(ecam_read(&f, 1, 0, PCI_VENDOR_ID, 4), 0x10421af4u);
	ck_assert_uint_eq(ecam_read(&f, 1, 0, PCI_INTERRUPT_PIN, 1), 1);
	/* A write through ECAM is seen through the ports. */
	ecam_write(&f, 1, PCI_LATENCY_TIMER, 1, 0x40);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_LATENCY_TIMER, 1), 0x40);
	fake_destroy(&f);
}
END_TEST

START_TEST(bar_placement_and_sizing)
{
	struct fake f;
	struct pci_dev d1, d2;
	struct rec r1, r2;

	fake_init(&f);
	dev_init(&d1, &r1);
	dev_init(&d2, &r2);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d1), 0);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d2), 0);
	ck_assert_uint_eq(d2.slot, 2);
	/* Naturally aligned, in the right window, not overlapping. */
	ck_assert_uint_eq(d1.bar[0].addr, PCI_MMIO32_BASE);
	ck_assert_uint_eq(d1.bar[4].addr, PCI_MMIO32_BASE + 0x10000);
	ck_assert_uint_eq(d1.bar[2].addr, MMIO64);
	ck_assert_uint_eq(d2.bar[0].addr, PCI_MMIO32_BASE + 0x20000);
	ck_assert_uint_eq(d2.bar[4].addr, PCI_MMIO32_BASE + 0x30000);
	ck_assert_uint_eq(d2.bar[2].addr, MMIO64 + 0x4000);
	/* The registers hold the addresses, with the type bits. */
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_0, 4), (uint32_t)(PCI_MMIO32_BASE + 0x20000));
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_2, 4), 0x4000u | PCI_BASE_ADDRESS_MEM_TYPE_64);
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_3, 4), (uint32_t)(MMIO64 >> 32));
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_1, 4), 0); /* unused BAR */
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_ROM_ADDRESS, 4), 0);
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_1, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_1, 4), 0);
	cfg1_write(&f, 2, PCI_ROM_ADDRESS, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_ROM_ADDRESS, 4), 0);

	/* Sizing a 32-bit BAR: all-ones in, ~(size - 1) | type out, then the address back. */
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_0, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_0, 4), 0xfffff000u);
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_0, 4, (uint32_t)(PCI_MMIO32_BASE + 0x20000));
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_0, 4), (uint32_t)(PCI_MMIO32_BASE + 0x20000));
	/* Sizing a 64-bit BAR, both halves. */
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_2, 4, 0xffffffffu);
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_3, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_2, 4), 0xffffc000u | PCI_BASE_ADDRESS_MEM_TYPE_64);
	ck_assert_uint_eq(cfg1_read(&f, 0, 2, 0, PCI_BASE_ADDRESS_3, 4), 0xffffffffu);
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_2, 4, (uint32_t)(MMIO64 + 0x4000));
	cfg1_write(&f, 2, PCI_BASE_ADDRESS_3, 4, (uint32_t)(MMIO64 >> 32));
	ck_assert_uint_eq(d2.bar[2].addr, MMIO64 + 0x4000);
	ck_assert_int_eq(r2.updates, 0); /* memory decoding is off: nothing decoded before or after */
	fake_destroy(&f);
}
END_TEST

START_TEST(big_64bit_bar_sizing)
{
	struct fake f;
	struct pci_dev d;
	struct rec r = { 0 };

	fake_init(&f);
	pci_dev_init(&d, 0x1af4, 0x1000, 0xff0000, 0, 0, 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 8ull << 30, true, bar_fn, &r), 0);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d), 0);
	ck_assert_uint_eq(d.bar[0].addr, MMIO64);
	cfg1_write(&f, 1, PCI_BASE_ADDRESS_0, 4, 0xffffffffu);
	cfg1_write(&f, 1, PCI_BASE_ADDRESS_1, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_BASE_ADDRESS_0, 4), PCI_BASE_ADDRESS_MEM_TYPE_64);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_BASE_ADDRESS_1, 4), 0xfffffffeu);
	fake_destroy(&f);
}
END_TEST

START_TEST(mmio_dispatch_and_moves)
{
	struct fake f;
	struct pci_dev d;
	struct rec r;
	uint64_t bar0, bar2, moved = PCI_MMIO32_BASE + 0x100000;

	fake_init(&f);
	dev_init(&d, &r);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d), 0);
	bar0 = d.bar[0].addr;
	bar2 = d.bar[2].addr;

	/* Memory decoding off: the BAR does not answer. */
	ck_assert_uint_eq(mmio(&f, bar0 + 0x10, 4, false, 0), 0xffffffffu);
	mmio(&f, bar0 + 0x10, 4, true, 1);
	ck_assert_int_eq(r.calls, 0);

	cfg1_write(&f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_int_eq(r.updates, 3); /* each BAR now decodes */
	ck_assert_uint_eq(mmio(&f, bar0 + 0x10, 4, false, 0), 0x5a5a5a5au);
	ck_assert_uint_eq(r.off, 0x10);
	ck_assert_uint_eq(r.len, 4);
	mmio(&f, bar2 + 0x3ff8, 8, true, 0x1234);
	ck_assert(r.is_write);
	ck_assert_uint_eq(r.off, 0x3ff8);
	ck_assert_uint_eq(r.last_write, 0x1234);
	ck_assert_int_eq(r.calls, 2);
	/* Crossing the end of a BAR, or between BARs: unclaimed. */
	ck_assert_uint_eq(mmio(&f, bar0 + 0xffe, 4, false, 0), 0xffffffffu);
	ck_assert_uint_eq(mmio(&f, bar0 + 0x1000, 4, false, 0), 0xffffffffu);
	ck_assert_int_eq(r.calls, 2);

	/* Moving BAR 0: dispatch follows, the device is told. */
	r.updates = 0;
	cfg1_write(&f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)moved);
	ck_assert_int_eq(r.updates, 1);
	ck_assert_int_eq(r.update_bar, 0);
	ck_assert_uint_eq(r.update_addr, moved);
	ck_assert_uint_eq(mmio(&f, bar0, 4, false, 0), 0xffffffffu);
	ck_assert_uint_eq(mmio(&f, moved + 4, 4, false, 0), 0x5a5a5a5au);
	ck_assert_uint_eq(r.off, 4);

	/* Memory decoding off again: every BAR reported as not decoded. */
	r.updates = 0;
	cfg1_write(&f, 1, PCI_COMMAND, 2, 0);
	ck_assert_int_eq(r.updates, 3);
	ck_assert_uint_eq(r.update_addr, 0);
	ck_assert_uint_eq(mmio(&f, moved + 4, 4, false, 0), 0xffffffffu);
	fake_destroy(&f);
}
END_TEST

START_TEST(capabilities)
{
	struct fake f;
	struct pci_dev d;
	struct rec r;
	const uint8_t cap1[12] = { 0x11, 0xee, 1, 2, 3, 4 }, cap2[6] = { 0x09, 0, 0xaa, 0xbb };
	const uint8_t wm1[12] = { 0xff, 0xff, 0, 0xc0 };
	int off1, off2;

	fake_init(&f);
	dev_init(&d, &r);
	ck_assert_uint_eq(d.cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST, 0);
	off1 = pci_dev_add_cap(&d, cap1, sizeof(cap1), wm1);
	off2 = pci_dev_add_cap(&d, cap2, sizeof(cap2), NULL);
	ck_assert_int_eq(off1, 0x40);
	ck_assert_int_eq(off2, 0x4c);
	ck_assert_int_eq(pci_dev_add_cap(&d, cap2, 1, NULL), -EINVAL);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d), 0);

	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_CAPABILITY_LIST, 1), 0x40);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, 0x40, 2), 0x4c11);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, 0x4c, 2), 0x0009);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, 0x4e, 2), 0xbbaa);
	/* Only the capability's writable bits change; ID and next never. */
	cfg1_write(&f, 1, 0x40, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, 0x40, 4), 0xc2014c11u);
	cfg1_write(&f, 1, 0x4c, 4, 0);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, 0x4c, 4), 0xbbaa0009u);

	/* Out of room: a capability must end inside the 256 bytes. */
	{
		struct pci_dev e;
		uint8_t big[200] = { 0x09 };

		pci_dev_init(&e, 1, 2, 0, 0, 0, 0);
		ck_assert_int_eq(pci_dev_add_cap(&e, big, 192, NULL), 0x40);
		ck_assert_int_eq(pci_dev_add_cap(&e, big, 4, NULL), -ENOSPC);
	}
	fake_destroy(&f);
}
END_TEST

START_TEST(write_masks)
{
	struct fake f;
	struct pci_dev d;
	struct rec r;

	fake_init(&f);
	dev_init(&d, &r);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d), 0);
	cfg1_write(&f, 1, PCI_VENDOR_ID, 4, 0);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_VENDOR_ID, 4), 0x10421af4u);
	cfg1_write(&f, 1, PCI_CLASS_REVISION, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_CLASS_REVISION, 4), 0x01000001u);
	cfg1_write(&f, 1, PCI_SUBSYSTEM_VENDOR_ID, 4, 0);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_SUBSYSTEM_VENDOR_ID, 4), 0x00021af4u);
	cfg1_write(&f, 1, PCI_INTERRUPT_LINE, 2, 0xffff); /* line writable, pin not */
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_INTERRUPT_LINE, 2), 0x01ff);
	cfg1_write(&f, 1, PCI_HEADER_TYPE, 1, 0x80); /* never multi-function */
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_HEADER_TYPE, 1), 0);
	/* Command: I/O, memory, bus master, INTx disable; status read-only. */
	cfg1_write(&f, 1, PCI_COMMAND, 4, 0xffffffffu);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_COMMAND, 2),
			  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_STATUS, 2), 0);
	cfg1_write(&f, 1, PCI_CACHE_LINE_SIZE, 2, 0x2010);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_CACHE_LINE_SIZE, 2), 0x2010);
	/* Byte writes inside a BAR dword keep the low type bits. */
	cfg1_write(&f, 1, PCI_BASE_ADDRESS_2, 1, 0xff);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_BASE_ADDRESS_2, 1), PCI_BASE_ADDRESS_MEM_TYPE_64);
	fake_destroy(&f);
}
END_TEST

START_TEST(intx)
{
	struct fake f;
	struct pci_dev d[9];
	struct rec r[9];

	fake_init(&f);
	for (int i = 0; i < 9; i++) {
		dev_init(&d[i], &r[i]);
		ck_assert_int_eq(pci_bus_add(&f.pci, &d[i]), 0);
	}
	ck_assert_uint_eq(d[0].slot, 1);
	ck_assert_uint_eq(d[8].slot, 9);
	ck_assert_uint_eq(pci_intx_gsi(1, 0), 17);
	ck_assert_uint_eq(pci_intx_gsi(9, 0), 17);
	ck_assert_uint_eq(d[0].intx.gsi, 17);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_INTERRUPT_LINE, 1), 17);

	pci_dev_set_intx(&d[0], 1);
	ck_assert_int_eq(f.level[17], 1);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(cfg1_read(&f, 0, 9, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, 0);
	/* INTx disable masks the line but not the status bit. */
	cfg1_write(&f, 1, PCI_COMMAND, 2, PCI_COMMAND_INTX_DISABLE);
	ck_assert_int_eq(f.level[17], 0);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_STATUS, 1) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	cfg1_write(&f, 1, PCI_COMMAND, 2, 0);
	ck_assert_int_eq(f.level[17], 1);
	/* Slot 9 shares GSI 17: the line stays up until both deassert. */
	irq_line_set(&d[8].intx, 1);
	ck_assert_int_eq(f.level[17], 1);
	pci_dev_set_intx(&d[0], 0);
	ck_assert_int_eq(f.level[17], 1);
	ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_STATUS, 1) & PCI_STATUS_INTERRUPT, 0);
	irq_line_set(&d[8].intx, 0);
	ck_assert_int_eq(f.level[17], 0);
	/* Another slot, another GSI; repeated levels are not repeated to the irqchip. */
	pci_dev_set_intx(&d[1], 1);
	ck_assert_int_eq(f.level[18], 1);
	f.irq_calls = 0;
	pci_dev_set_intx(&d[1], 1);
	ck_assert_int_eq(f.irq_calls, 0);
	pci_dev_set_intx(&d[1], 0);
	ck_assert_int_eq(f.level[18], 0);
	ck_assert_int_eq(f.irq_calls, 1);
	fake_destroy(&f);
}
END_TEST

START_TEST(limits)
{
	struct fake f;
	struct pci_dev d[32], big[3];
	struct rec r = { 0 };

	fake_init(&f);
	for (int i = 0; i < 31; i++) {
		pci_dev_init(&d[i], 0x1af4, 0x1000, 0xff0000, 0, 0, 0);
		ck_assert_int_eq(pci_bus_add(&f.pci, &d[i]), 0);
		ck_assert_uint_eq(d[i].slot, (unsigned)i + 1);
	}
	pci_dev_init(&d[31], 0x1af4, 0x1000, 0xff0000, 0, 0, 0);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d[31]), -ENOSPC);
	fake_destroy(&f);

	/* The 32-bit window holds two 256 MiB BARs, not three. */
	fake_init(&f);
	for (int i = 0; i < 3; i++) {
		pci_dev_init(&big[i], 0x1af4, 0x1000, 0xff0000, 0, 0, 0);
		ck_assert_int_eq(pci_dev_set_bar(&big[i], 0, 256u << 20, false, bar_fn, &r), 0);
	}
	ck_assert_int_eq(pci_bus_add(&f.pci, &big[0]), 0);
	ck_assert_int_eq(pci_bus_add(&f.pci, &big[1]), 0);
	ck_assert_int_eq(pci_bus_add(&f.pci, &big[2]), -ENOSPC);
	ck_assert_ptr_null(f.pci.dev[3]);
	fake_destroy(&f);
}
END_TEST

START_TEST(bad_arguments)
{
	struct fake f;
	struct pci_dev d;
	struct rec r = { 0 };
	struct bus pio, mmio;
	struct pci_bus b;

	pci_dev_init(&d, 1, 2, 0, 0, 0, 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, -1, 4096, false, bar_fn, &r), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 6, 4096, false, bar_fn, &r), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 5, 4096, true, bar_fn, &r), -EINVAL); /* no upper half */
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 2048, false, bar_fn, &r), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 12288, false, bar_fn, &r), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 1ull << 30, false, bar_fn, &r), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 4096, false, NULL, &r), -EINVAL);
	ck_assert_int_eq(pci_dev_set_bar(&d, 1, 4096, true, bar_fn, &r), 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 1, 4096, false, bar_fn, &r), -EINVAL); /* taken */
	ck_assert_int_eq(pci_dev_set_bar(&d, 2, 4096, false, bar_fn, &r), -EINVAL); /* upper half of 1 */
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 4096, true, bar_fn, &r), -EINVAL);  /* would take 1 */
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 4096, false, bar_fn, &r), 0);

	bus_init(&pio);
	bus_init(&mmio);
	ck_assert_int_eq(pci_bus_init(&b, &pio, &mmio, 0x80000000ull, fake_irq, NULL, NULL), -EINVAL);
	ck_assert_int_eq(pci_bus_init(&b, &pio, &mmio, UINT64_MAX - 4096, fake_irq, NULL, NULL), -EINVAL);
	bus_destroy(&pio);
	bus_destroy(&mmio);
	/* The ranges are taken: a second bus on the same buses fails. */
	fake_init(&f);
	ck_assert_int_eq(pci_bus_init(&b, &f.pio, &f.mmio, MMIO64, fake_irq, NULL, NULL), -EEXIST);
	fake_destroy(&f);
}
END_TEST

/* A BAR whose accesses raise and lower the device's INTx, as a virtio ISR read does. */
static void intx_bar_fn(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct pci_dev *d = opaque;

	pci_dev_set_intx(d, off == 0);
	if (!is_write)
		memset(data, 0, len);
}

struct stress {
	struct fake *f;
	struct pci_dev *d;
	bool stop;
};

static void *mmio_thread(void *arg)
{
	struct stress *s = arg;

	for (int i = 0; !__atomic_load_n(&s->stop, __ATOMIC_ACQUIRE); i++) {
		uint64_t addr = __atomic_load_n(&s->d->bar[0].addr, __ATOMIC_RELAXED);

		mmio(s->f, addr + (i & 1 ? 4 : 0), 4, false, 0);
	}
	return NULL;
}

/* vCPU threads in the BAR (raising INTx) while another moves the BAR and toggles decoding and INTx-disable. */
START_TEST(concurrent_access_no_deadlock)
{
	struct fake f;
	struct pci_dev d;
	struct stress s = { .f = &f, .d = &d };
	pthread_t t[2];

	fake_init(&f);
	pci_dev_init(&d, 0x1af4, 0x1000, 0xff0000, 0, 0, 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 0x1000, false, intx_bar_fn, &d), 0);
	ck_assert_int_eq(pci_bus_add(&f.pci, &d), 0);
	cfg1_write(&f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, mmio_thread, &s), 0);
	for (int i = 0; i < 5000; i++) {
		cfg1_write(&f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)(PCI_MMIO32_BASE + (uint64_t)(i % 4) * 0x1000));
		cfg1_write(&f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | (i & 1 ? PCI_COMMAND_INTX_DISABLE : 0));
		ck_assert_uint_eq(cfg1_read(&f, 0, 1, 0, PCI_VENDOR_ID, 2), 0x1af4);
	}
	__atomic_store_n(&s.stop, true, __ATOMIC_RELEASE);
	for (int i = 0; i < 2; i++)
		ck_assert_int_eq(pthread_join(t[i], NULL), 0);
	/* Quiet now: the line is what the device last asked for, unless disabled. */
	cfg1_write(&f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	pci_dev_set_intx(&d, 1);
	ck_assert_int_eq(f.level[17], 1);
	pci_dev_set_intx(&d, 0);
	ck_assert_int_eq(f.level[17], 0);
	fake_destroy(&f);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("pci");
	TCase *tc = tcase_create("pci");

	tcase_add_test(tc, host_bridge_type1);
	tcase_add_test(tc, missing_functions);
	tcase_add_test(tc, ecam_matches_type1);
	tcase_add_test(tc, bar_placement_and_sizing);
	tcase_add_test(tc, big_64bit_bar_sizing);
	tcase_add_test(tc, mmio_dispatch_and_moves);
	tcase_add_test(tc, capabilities);
	tcase_add_test(tc, write_masks);
	tcase_add_test(tc, intx);
	tcase_add_test(tc, limits);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, concurrent_access_no_deadlock);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
