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
#include "snapshot/sbuf.h"
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
	uint64_t bar_addr[PCI_BARS]; /* the last address bar_update gave each BAR */
	int cfg_writes;              /* cfg_write hook calls */
	uint32_t cfg_write_off, cfg_write_len;
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
	r->bar_addr[bar] = addr;
}

static const struct pci_dev_ops ops = { .bar_update = bar_update };

static void cfg_write_hook(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct rec *r = d->opaque;

	r->cfg_writes++;
	r->cfg_write_off = off;
	r->cfg_write_len = len;
}

static const struct pci_dev_ops snap_ops = { .bar_update = bar_update, .cfg_write = cfg_write_hook };

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

/* --- Snapshot and restore --- */

#define DEV_REC_LEN 261                 /* layout, slot, size, 256 bytes, INTx request */
#define REC_CFG 4                       /* where the configuration space starts in the record */
#define HOST_REC_LEN (DEV_REC_LEN + 4)  /* and the 0xcf8 latch */
#define MOVED0 (PCI_MMIO32_BASE + 0x100000)
#define MOVED2 (MMIO64 + 0x40000000ull)
#define LATCH (0x80000000u | 1u << 11 | PCI_COMMAND)

static const uint8_t snap_cap[8] = { 0x09, 0, 1, 2, 3, 4, 5, 6 };
static const uint8_t snap_cap_wm[8] = { 0, 0, 0xff, 0x0f };

/* A bus with the host bridge and, in slot 1, dev_init()'s device with a capability at 0x40, as set-up makes it. */
static void snap_machine(struct fake *f, struct pci_dev *d, struct rec *r)
{
	fake_init(f);
	dev_init(d, r);
	d->ops = &snap_ops;
	ck_assert_int_eq(pci_dev_add_cap(d, snap_cap, sizeof(snap_cap), snap_cap_wm), 0x40);
	ck_assert_int_eq(pci_bus_add(&f->pci, d), 0);
}

/* What a guest does: move BARs 0 and 2, enable memory and bus mastering, set registers, raise INTx. */
static void snap_program(struct fake *f, struct pci_dev *d)
{
	uint32_t latch = LATCH;

	cfg1_write(f, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)MOVED0);
	ecam_write(f, 1, PCI_BASE_ADDRESS_2, 4, (uint32_t)MOVED2);
	ecam_write(f, 1, PCI_BASE_ADDRESS_3, 4, (uint32_t)(MOVED2 >> 32));
	cfg1_write(f, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg1_write(f, 1, PCI_INTERRUPT_LINE, 1, 0x0b);
	ecam_write(f, 1, PCI_LATENCY_TIMER, 1, 0x40);
	cfg1_write(f, 1, 0x42, 2, 0xbeef); /* the capability: 0x42 all writable, 0x43 its low nibble */
	cfg1_write(f, 0, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	cfg1_write(f, 0, PCI_LATENCY_TIMER, 1, 0x20);
	pci_dev_set_intx(d, 1);
	pio(f, 0xcf8, &latch, 4, true);
}

static int restore_dev(struct pci_dev *d, const uint8_t *p, size_t len, size_t *used)
{
	struct sreader in;
	int ret;

	sreader_init(&in, p, len);
	ret = pci_dev_restore(d, &in);
	if (used)
		*used = in.off;
	/* A refused record leaves the reader bad, so a caller that checks only the reader sees it too. */
	ck_assert(ret ? !sr_ok(&in) : sr_ok(&in));
	return ret;
}

static int restore_host(struct pci_bus *b, const uint8_t *p, size_t len)
{
	struct sreader in;

	sreader_init(&in, p, len);
	return pci_host_bridge_device_ops.restore(b, &in);
}

/* Save slot 1's function and the host bridge of f into dev and host (initialised here). */
static void snap_save(struct fake *f, struct pci_dev *d, struct sbuf *dev, struct sbuf *host)
{
	sbuf_init(dev);
	sbuf_init(host);
	pci_dev_save(d, dev);
	ck_assert(!dev->oom);
	ck_assert_uint_eq(dev->len, DEV_REC_LEN);
	ck_assert_str_eq(pci_host_bridge_device_ops.kind, "pci-host");
	ck_assert_uint_eq(pci_host_bridge_device_ops.version, 1);
	ck_assert_int_eq(pci_host_bridge_device_ops.save(&f->pci, host), 0);
	ck_assert_uint_eq(host->len, HOST_REC_LEN);
}

START_TEST(snapshot_round_trip)
{
	struct fake f1, f2;
	struct pci_dev d1, d2;
	struct rec r1, r2;
	struct sbuf dev, host;
	uint32_t latch = 0;
	size_t used;

	snap_machine(&f1, &d1, &r1);
	snap_program(&f1, &d1);
	snap_save(&f1, &d1, &dev, &host);

	snap_machine(&f2, &d2, &r2);
	ck_assert_int_eq(restore_host(&f2.pci, host.data, host.len), 0);
	ck_assert_int_eq(restore_dev(&d2, dev.data, dev.len, &used), 0);
	ck_assert_uint_eq(used, dev.len);

	/* The latch first: configuration reads through the ports move it. */
	pio(&f2, 0xcf8, &latch, 4, false);
	ck_assert_uint_eq(latch, LATCH);
	for (unsigned slot = 0; slot < 3; slot++) {
		for (unsigned reg = 0; reg < PCI_CFG_SIZE; reg += 4) {
			ck_assert_uint_eq(cfg1_read(&f2, 0, slot, 0, reg, 4), cfg1_read(&f1, 0, slot, 0, reg, 4));
			ck_assert_uint_eq(ecam_read(&f2, slot, 0, reg, 4), ecam_read(&f1, slot, 0, reg, 4));
		}
	}
	ck_assert_uint_eq(cfg1_read(&f2, 0, 1, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(cfg1_read(&f2, 0, 1, 0, PCI_INTERRUPT_LINE, 1), 0x0b);
	ck_assert_uint_eq(cfg1_read(&f2, 0, 1, 0, 0x40, 4), 0x0eef0009u);
	ck_assert_uint_eq(cfg1_read(&f2, 0, 0, 0, PCI_COMMAND, 2), PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	ck_assert_uint_eq(cfg1_read(&f2, 0, 0, 0, PCI_LATENCY_TIMER, 1), 0x20);

	/* INTx re-driven: the GSI of slot 1 is up, once. */
	ck_assert_int_eq(f2.level[17], 1);
	ck_assert_int_eq(f2.irq_calls, 1);
	/* Dispatch follows the restored BARs; the device heard of each, as from a guest enabling memory. */
	ck_assert_int_eq(r2.updates, 3);
	ck_assert_uint_eq(r2.bar_addr[0], MOVED0);
	ck_assert_uint_eq(r2.bar_addr[2], MOVED2);
	ck_assert_uint_eq(r2.bar_addr[4], d1.bar[4].addr);
	ck_assert_uint_eq(d2.bar[0].addr, MOVED0);
	ck_assert_uint_eq(d2.bar[2].addr, MOVED2);
	ck_assert_int_eq(r2.cfg_writes, 1); /* the cfg_write hook, once for the whole space */
	ck_assert_uint_eq(r2.cfg_write_off, 0);
	ck_assert_uint_eq(r2.cfg_write_len, PCI_CFG_SIZE);
	ck_assert_uint_eq(mmio(&f2, MOVED0 + 8, 4, false, 0), 0x5a5a5a5au);
	ck_assert_int_eq(r2.calls, 1);
	ck_assert_uint_eq(r2.off, 8);
	mmio(&f2, MOVED2 + 0x10, 4, true, 0x77);
	ck_assert_int_eq(r2.calls, 2);
	ck_assert_uint_eq(r2.off, 0x10);
	ck_assert_uint_eq(r2.last_write, 0x77);
	ck_assert_uint_eq(mmio(&f2, d1.bar[4].addr, 4, false, 0), 0x5a5a5a5au);
	ck_assert_int_eq(r2.calls, 3);
	ck_assert_uint_eq(mmio(&f2, PCI_MMIO32_BASE, 4, false, 0), 0xffffffffu); /* where set-up put BAR 0 */
	ck_assert_int_eq(r2.calls, 3);

	/* The guest goes on from there. */
	pci_dev_set_intx(&d2, 0);
	ck_assert_int_eq(f2.level[17], 0);
	cfg1_write(&f2, 1, PCI_COMMAND, 2, 0);
	ck_assert_int_eq(r2.updates, 6);
	ck_assert_uint_eq(r2.bar_addr[0], 0);
	ck_assert_uint_eq(mmio(&f2, MOVED0 + 8, 4, false, 0), 0xffffffffu);
	sbuf_free(&dev);
	sbuf_free(&host);
	fake_destroy(&f1);
	fake_destroy(&f2);
}
END_TEST

/*
 * INTx-disable saved with a request up; a target the guest had already programmed otherwise (only what changes is
 * reported); a BAR the guest put outside its window (accepted, decodes nowhere, as when a guest does it).
 */
START_TEST(snapshot_intx_disabled_moved_target_and_stray_bar)
{
	struct fake f1, f2;
	struct pci_dev d1, d2;
	struct rec r1, r2;
	struct sbuf dev, host;
	uint64_t bar0;

	snap_machine(&f1, &d1, &r1);
	bar0 = d1.bar[0].addr;
	cfg1_write(&f1, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_INTX_DISABLE);
	pci_dev_set_intx(&d1, 1);
	ck_assert_int_eq(f1.level[17], 0);
	snap_save(&f1, &d1, &dev, &host);

	snap_machine(&f2, &d2, &r2);
	cfg1_write(&f2, 1, PCI_BASE_ADDRESS_0, 4, (uint32_t)MOVED0);
	cfg1_write(&f2, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	memset(r2.bar_addr, 0, sizeof(r2.bar_addr));
	r2.updates = 0;
	ck_assert_int_eq(restore_dev(&d2, dev.data, dev.len, NULL), 0);
	ck_assert_int_eq(f2.level[17], 0);
	ck_assert_int_eq(f2.irq_calls, 0);
	ck_assert_uint_eq(cfg1_read(&f2, 0, 1, 0, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT, PCI_STATUS_INTERRUPT);
	ck_assert_int_eq(r2.updates, 1); /* BAR 0 back where it was saved; BARs 2 and 4 did not move */
	ck_assert_uint_eq(r2.bar_addr[0], bar0);
	ck_assert_uint_eq(mmio(&f2, bar0, 4, false, 0), 0x5a5a5a5au);
	ck_assert_uint_eq(mmio(&f2, MOVED0, 4, false, 0), 0xffffffffu);
	ck_assert_int_eq(r2.calls, 1);
	cfg1_write(&f2, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY); /* the guest lifts INTx-disable: the request shows */
	ck_assert_int_eq(f2.level[17], 1);
	sbuf_free(&dev);
	sbuf_free(&host);

	/* BAR 0 in RAM, outside the 32-bit window. */
	cfg1_write(&f1, 1, PCI_BASE_ADDRESS_0, 4, 0x10000000u);
	ck_assert_uint_eq(r1.bar_addr[0], 0x10000000u);
	snap_save(&f1, &d1, &dev, &host);
	r2.calls = r2.updates = 0;
	ck_assert_int_eq(restore_dev(&d2, dev.data, dev.len, NULL), 0);
	ck_assert_int_eq(r2.updates, 1);
	ck_assert_uint_eq(r2.bar_addr[0], 0x10000000u);
	ck_assert_uint_eq(d2.bar[0].addr, 0x10000000u);
	ck_assert_uint_eq(mmio(&f2, bar0, 4, false, 0), 0xffffffffu);
	ck_assert_uint_eq(mmio(&f2, 0x10000000u, 4, false, 0), 0xffffffffu); /* nothing on the bus there */
	ck_assert_int_eq(r2.calls, 0);
	ck_assert_int_eq(f2.level[17], 0); /* INTx-disable restored again */
	sbuf_free(&dev);
	sbuf_free(&host);
	fake_destroy(&f1);
	fake_destroy(&f2);
}
END_TEST

/* What a refused restore must not have touched. */
struct snap_before {
	uint8_t cfg[PCI_CFG_SIZE], host_cfg[PCI_CFG_SIZE];
	uint64_t addr[PCI_BARS];
	uint32_t cf8;
};

static void snap_remember(struct fake *f, struct pci_dev *d, struct snap_before *b)
{
	memcpy(b->cfg, d->cfg, PCI_CFG_SIZE);
	memcpy(b->host_cfg, f->pci.host_bridge.cfg, PCI_CFG_SIZE);
	for (int i = 0; i < PCI_BARS; i++)
		b->addr[i] = d->bar[i].addr;
	b->cf8 = f->pci.cf8;
}

static void snap_unchanged(struct fake *f, struct pci_dev *d, const struct rec *r, const struct snap_before *b)
{
	ck_assert_mem_eq(d->cfg, b->cfg, PCI_CFG_SIZE);
	ck_assert_mem_eq(f->pci.host_bridge.cfg, b->host_cfg, PCI_CFG_SIZE);
	for (int i = 0; i < PCI_BARS; i++)
		ck_assert_uint_eq(d->bar[i].addr, b->addr[i]);
	ck_assert_uint_eq(f->pci.cf8, b->cf8);
	ck_assert(!d->mem_enabled && !d->intx_level && !d->intx_disabled);
	ck_assert(!f->pci.host_bridge.intx_level);
	ck_assert_int_eq(r->updates, 0);
	ck_assert_int_eq(r->cfg_writes, 0);
	ck_assert_int_eq(f->irq_calls, 0);
}

/* Flip bits of one byte of a record and expect a refusal. */
struct flip {
	size_t at;
	uint8_t bits;
};

START_TEST(snapshot_hostile_input)
{
	/* Bytes of the function's record whose change is refused: header, read-only bits, the INTx bool. */
	static const struct flip dev_flips[] = {
		{ 0, 1 },                                        /* layout */
		{ 1, 1 },                                        /* slot */
		{ 2, 1 },                                        /* size of the space */
		{ REC_CFG + PCI_VENDOR_ID, 1 },
		{ REC_CFG + PCI_DEVICE_ID + 1, 0x80 },
		{ REC_CFG + PCI_CLASS_DEVICE, 1 },
		{ REC_CFG + PCI_HEADER_TYPE, 0x80 },             /* multi-function */
		{ REC_CFG + PCI_STATUS, PCI_STATUS_INTERRUPT },  /* derived from the INTx request, never stored */
		{ REC_CFG + PCI_STATUS, PCI_STATUS_CAP_LIST },
		{ REC_CFG + PCI_COMMAND + 1, 0x08 },             /* a command bit no guest can set */
		{ REC_CFG + PCI_BASE_ADDRESS_0, PCI_BASE_ADDRESS_MEM_PREFETCH },
		{ REC_CFG + PCI_BASE_ADDRESS_2, PCI_BASE_ADDRESS_MEM_TYPE_64 },
		{ REC_CFG + PCI_BASE_ADDRESS_4 + 1, 0x10 },      /* address bit 12 of a 64 KiB BAR */
		{ REC_CFG + PCI_BASE_ADDRESS_1, 0x10 },          /* an unused BAR */
		{ REC_CFG + PCI_ROM_ADDRESS + 2, 1 },
		{ REC_CFG + PCI_SUBSYSTEM_ID, 1 },
		{ REC_CFG + PCI_INTERRUPT_PIN, 1 },
		{ REC_CFG + PCI_CAPABILITY_LIST, 4 },
		{ REC_CFG + 0x40, 1 },                           /* capability ID */
		{ REC_CFG + 0x41, 0x48 },                        /* its next pointer */
		{ REC_CFG + 0x43, 0x10 },                        /* its read-only high nibble */
		{ REC_CFG + 0x44, 1 },
		{ REC_CFG + 0xff, 1 },
		{ DEV_REC_LEN - 1, 2 },                          /* INTx request: not a bool */
	};
	struct fake f1, f2;
	struct pci_dev d1, d2, loose;
	struct rec r1, r2;
	struct sbuf dev, host;
	struct snap_before before;
	uint8_t buf[HOST_REC_LEN + 1];
	size_t used;

	snap_machine(&f1, &d1, &r1);
	snap_program(&f1, &d1);
	snap_save(&f1, &d1, &dev, &host);
	snap_machine(&f2, &d2, &r2);
	snap_remember(&f2, &d2, &before);

	/* Every truncation of either record. */
	for (size_t n = 0; n < dev.len; n++) {
		ck_assert_int_eq(restore_dev(&d2, dev.data, n, NULL), -EINVAL);
		snap_unchanged(&f2, &d2, &r2, &before);
	}
	for (size_t n = 0; n < host.len; n++) {
		ck_assert_int_eq(restore_host(&f2.pci, host.data, n), -EINVAL);
		snap_unchanged(&f2, &d2, &r2, &before);
	}
	/* One byte too many: the host bridge's record is the whole entry. */
	memcpy(buf, host.data, host.len);
	buf[host.len] = 0;
	ck_assert_int_eq(restore_host(&f2.pci, buf, host.len + 1), -EINVAL);
	snap_unchanged(&f2, &d2, &r2, &before);

	/* Single bytes changed. */
	for (size_t i = 0; i < sizeof(dev_flips) / sizeof(dev_flips[0]); i++) {
		memcpy(buf, dev.data, dev.len);
		buf[dev_flips[i].at] ^= dev_flips[i].bits;
		ck_assert_msg(restore_dev(&d2, buf, dev.len, NULL) == -EINVAL, "byte %zu ^ 0x%x accepted",
			      dev_flips[i].at, dev_flips[i].bits);
		snap_unchanged(&f2, &d2, &r2, &before);
	}
	/* The host bridge's record: its IDs, an INTx request without a pin, reserved bits of the latch. */
	for (size_t i = 0; i < 3; i++) {
		static const struct flip host_flips[] = {
			{ REC_CFG + PCI_VENDOR_ID, 1 },
			{ DEV_REC_LEN - 1, 1 },
			{ DEV_REC_LEN, 1 },
		};

		memcpy(buf, host.data, host.len);
		buf[host_flips[i].at] ^= host_flips[i].bits;
		ck_assert_int_eq(restore_host(&f2.pci, buf, host.len), -EINVAL);
		snap_unchanged(&f2, &d2, &r2, &before);
	}
	memcpy(buf, host.data, host.len);
	buf[HOST_REC_LEN - 1] |= 0x70; /* latch bits 30:28 */
	ck_assert_int_eq(restore_host(&f2.pci, buf, host.len), -EINVAL);
	snap_unchanged(&f2, &d2, &r2, &before);
	/* The function's record is not the host bridge's, nor the reverse (another slot, other IDs). */
	ck_assert_int_eq(restore_dev(&f2.pci.host_bridge, dev.data, dev.len, NULL), -EINVAL);
	memcpy(buf, host.data, host.len);
	ck_assert_int_eq(restore_dev(&d2, buf, DEV_REC_LEN, NULL), -EINVAL);
	snap_unchanged(&f2, &d2, &r2, &before);
	/* A function on no bus. */
	dev_init(&loose, &r1);
	ck_assert_int_eq(restore_dev(&loose, dev.data, dev.len, NULL), -EINVAL);

	/* Still usable by the guest: nothing decoded, until it enables memory. */
	ck_assert_uint_eq(cfg1_read(&f2, 0, 1, 0, PCI_VENDOR_ID, 4), 0x10421af4u);
	ck_assert_uint_eq(mmio(&f2, d2.bar[0].addr, 4, false, 0), 0xffffffffu);
	cfg1_write(&f2, 1, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	ck_assert_int_eq(r2.updates, 3);
	ck_assert_uint_eq(mmio(&f2, d2.bar[0].addr, 4, false, 0), 0x5a5a5a5au);
	pci_dev_set_intx(&d2, 1);
	ck_assert_int_eq(f2.level[17], 1);
	pci_dev_set_intx(&d2, 0);

	/* And the good records still restore over it; a byte after the function's record is left to the caller. */
	memcpy(buf, dev.data, dev.len);
	buf[dev.len] = 0xaa;
	ck_assert_int_eq(restore_host(&f2.pci, host.data, host.len), 0);
	ck_assert_int_eq(restore_dev(&d2, buf, dev.len + 1, &used), 0);
	ck_assert_uint_eq(used, dev.len);
	ck_assert_uint_eq(mmio(&f2, MOVED0, 4, false, 0), 0x5a5a5a5au);
	ck_assert_int_eq(f2.level[17], 1);
	for (unsigned reg = 0; reg < PCI_CFG_SIZE; reg += 4)
		ck_assert_uint_eq(ecam_read(&f2, 1, 0, reg, 4), ecam_read(&f1, 1, 0, reg, 4));
	sbuf_free(&dev);
	sbuf_free(&host);
	fake_destroy(&f1);
	fake_destroy(&f2);
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
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_intx_disabled_moved_target_and_stray_bar);
	tcase_add_test(tc, snapshot_hostile_input);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
