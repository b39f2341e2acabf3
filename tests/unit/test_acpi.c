// SPDX-License-Identifier: Apache-2.0
/*
 * The AML builder against iasl-compiled bytes, and the ACPI tables in a fake guest memory: placement, checksums,
 * FADT registers, DSDT \_S5, MADT entries, MCFG, the PCI host bridge (windows, _PRT) and the GED power button.
 * With a directory argument, writes the tables (2 vCPUs, PCI, GED) there as .dat files for `iasl -d` (the
 * unit.acpi-iasl test) instead of running the suite.
 */
#define _GNU_SOURCE /* memmem */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "devices/ged.h"
#include "devices/pci.h"
#include "devices/pm.h"
#include "memory.h"
#include "x86/acpi.h"
#include "x86/aml.h"
#include "unit.h"

#define FAKE_RAM (2u << 20)
#define MMIO64_BASE (1ull << 36)

struct fake {
	struct guest_mem m;
	uint8_t *ram;
};

static void fake_init(struct fake *f, uint64_t size)
{
	memset(f, 0, sizeof(*f));
	f->ram = calloc(1, size);
	ck_assert_ptr_nonnull(f->ram);
	ck_assert_int_eq(gmem_add_region(&f->m, 0, size, f->ram), 0);
}

static void fake_destroy(struct fake *f)
{
	free(f->ram);
}

static struct acpi_config config(unsigned ncpus)
{
	return (struct acpi_config){
		.ncpus = ncpus,
		.pm_io_base = PM_IO_BASE,
		.reset_value = PM_RESET_VALUE,
		.s5_slp_typ = PM_S5_SLP_TYP,
		.com1_port = 0x3f8,
		.com1_irq = 4,
		.rtc_port = 0x70,
		.pci = true,
		.pci_mmio64_base = MMIO64_BASE,
	};
}

/* Little-endian reads from the fake RAM (no unaligned host access). */
static uint64_t rd(const struct fake *f, uint64_t gpa, unsigned n)
{
	uint64_t v = 0;

	ck_assert_uint_le(gpa + n, FAKE_RAM);
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)f->ram[gpa + i] << (8 * i);
	return v;
}

static uint8_t sum(const struct fake *f, uint64_t gpa, uint64_t len)
{
	uint8_t s = 0;

	ck_assert_uint_le(gpa + len, FAKE_RAM);
	for (uint64_t i = 0; i < len; i++)
		s += f->ram[gpa + i];
	return s;
}

/* A table listed in the XSDT, by signature; 0 if absent. Checks every listed table on the way. */
static uint64_t find_table(const struct fake *f, uint64_t rsdp, const char *sig)
{
	uint64_t xsdt = rd(f, rsdp + 24, 8);
	uint32_t xlen = (uint32_t)rd(f, xsdt + 4, 4);
	uint64_t found = 0;

	ck_assert_mem_eq(f->ram + xsdt, "XSDT", 4);
	ck_assert_uint_eq(sum(f, xsdt, xlen), 0);
	ck_assert_uint_eq((xlen - 36) % 8, 0);
	for (uint32_t off = 36; off < xlen; off += 8) {
		uint64_t t = rd(f, xsdt + off, 8);
		uint32_t len = (uint32_t)rd(f, t + 4, 4);

		ck_assert_uint_ge(t, ACPI_TABLES_START);
		ck_assert_uint_le(t + len, ACPI_TABLES_END);
		ck_assert_uint_eq(t % 8, 0);
		ck_assert_uint_eq(sum(f, t, len), 0);
		if (!memcmp(f->ram + t, sig, 4))
			found = t;
	}
	return found;
}

static void expect_io_gas(const struct fake *f, uint64_t at, uint64_t port)
{
	ck_assert_uint_eq(rd(f, at, 1), 1); /* SystemIO */
	ck_assert_uint_eq(rd(f, at + 1, 1), 8);
	ck_assert_uint_eq(rd(f, at + 2, 1), 0);
	ck_assert_uint_eq(rd(f, at + 3, 1), 1); /* byte access */
	ck_assert_uint_eq(rd(f, at + 4, 8), port);
}

static void aml_expect(const struct aml *a, const uint8_t *want, size_t len)
{
	ck_assert_int_eq(aml_error(a), 0);
	ck_assert_uint_eq(a->len, len);
	ck_assert_mem_eq(a->buf, want, len);
}

START_TEST(pkglength_boundaries)
{
	uint8_t pl[4];

	/* 1 byte holds values up to 63 (a body of 62). */
	ck_assert_uint_eq(aml_pkglength(pl, 0), 1);
	ck_assert_uint_eq(pl[0], 1);
	ck_assert_uint_eq(aml_pkglength(pl, 62), 1);
	ck_assert_uint_eq(pl[0], 63);
	/* A body of 63 needs 2 bytes: value 65 = 0x041 -> 0x41 0x04. */
	ck_assert_uint_eq(aml_pkglength(pl, 63), 2);
	ck_assert_uint_eq(pl[0], 0x41);
	ck_assert_uint_eq(pl[1], 0x04);
	/* 2 bytes hold values up to 4095 (a body of 4093). */
	ck_assert_uint_eq(aml_pkglength(pl, 4093), 2);
	ck_assert_uint_eq(pl[0], 0x4f);
	ck_assert_uint_eq(pl[1], 0xff);
	/* A body of 4094 needs 3 bytes: value 4097 = 0x1001 -> 0x81 0x00 0x01. */
	ck_assert_uint_eq(aml_pkglength(pl, 4094), 3);
	ck_assert_uint_eq(pl[0], 0x81);
	ck_assert_uint_eq(pl[1], 0x00);
	ck_assert_uint_eq(pl[2], 0x01);
	/* 3 bytes up to 2^20 - 1, then 4 bytes up to 2^28 - 1, then nothing. */
	ck_assert_uint_eq(aml_pkglength(pl, (1u << 20) - 4), 3);
	ck_assert_uint_eq(aml_pkglength(pl, (1u << 20) - 3), 4);
	ck_assert_uint_eq(pl[0], 0xc0 | 1);
	ck_assert_uint_eq(pl[1], 0x00);
	ck_assert_uint_eq(pl[2], 0x00);
	ck_assert_uint_eq(pl[3], 0x01);
	ck_assert_uint_eq(aml_pkglength(pl, AML_PKGLENGTH_MAX - 4), 4);
	ck_assert_uint_eq(aml_pkglength(pl, AML_PKGLENGTH_MAX - 3), 0);
	ck_assert_uint_eq(aml_pkglength(pl, SIZE_MAX), 0);
}
END_TEST

/* A Package whose body is exactly body bytes: the PkgLength is inserted after the body is built. */
static void package_of(struct aml *a, size_t body)
{
	size_t mark = aml_package(a, 1);
	uint8_t *fill = calloc(1, body - 1);

	ck_assert_ptr_nonnull(fill);
	aml_bytes(a, fill, body - 1); /* NumElements is the body's first byte */
	aml_end(a, mark);
	free(fill);
}

START_TEST(pkglength_in_objects)
{
	static const struct {
		size_t body, pl;
	} cases[] = { { 62, 1 }, { 63, 2 }, { 4093, 2 }, { 4094, 3 } };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct aml a;
		uint8_t pl[4];

		aml_init(&a);
		package_of(&a, cases[i].body);
		ck_assert_int_eq(aml_error(&a), 0);
		ck_assert_uint_eq(a.len, 1 + cases[i].pl + cases[i].body);
		ck_assert_uint_eq(a.buf[0], 0x12);
		ck_assert_uint_eq(aml_pkglength(pl, cases[i].body), cases[i].pl);
		ck_assert_mem_eq(a.buf + 1, pl, cases[i].pl);
		ck_assert_uint_eq(a.buf[1 + cases[i].pl], 1); /* NumElements right after the PkgLength */
		aml_free(&a);
	}
}
END_TEST

/* iasl 20200925 output (after the table header) for:
 *	Device (COM1) {
 *		Name (_HID, EisaId ("PNP0501"))
 *		Name (_UID, One)
 *		Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x01, 0x08) IRQNoFlags () {4} })
 *	}
 */
static const uint8_t iasl_com1[] = {
	0x5b, 0x82, 0x2b, 'C', 'O', 'M', '1', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x05, 0x01, 0x08,
	'_', 'U', 'I', 'D', 0x01, 0x08, '_', 'C', 'R', 'S', 0x11, 0x10, 0x0a, 0x0d, 0x47, 0x01, 0xf8, 0x03,
	0xf8, 0x03, 0x01, 0x08, 0x22, 0x10, 0x00, 0x79, 0x00,
};

START_TEST(device_with_resource_template)
{
	struct aml a, rt;
	size_t dev;

	aml_init(&a);
	aml_init(&rt);
	dev = aml_device(&a, "COM1");
	aml_name(&a, "_HID");
	aml_eisaid(&a, "PNP0501");
	aml_name(&a, "_UID");
	aml_int(&a, 1);
	aml_name(&a, "_CRS");
	aml_res_io(&rt, 0x3f8, 0x3f8, 0x01, 0x08);
	aml_res_irq_noflags(&rt, 4);
	aml_resource_template(&a, &rt);
	aml_end(&a, dev);
	aml_expect(&a, iasl_com1, sizeof(iasl_com1));
	aml_free(&rt);
	aml_free(&a);
}
END_TEST

/* iasl 20200925 output for:
 *	Name (RES2, ResourceTemplate () {
 *		Memory32Fixed (ReadWrite, 0xFED00000, 0x00000400)
 *		Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {9}
 *		WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, 0, 0xFF, 0, 0x100)
 *		QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable, ReadWrite,
 *			     0, 0x8000000000, 0xFFFFFFFFFF, 0, 0x8000000000)
 *	})
 *	Name (\_S5, Package (0x04) { 0x05, Zero, Zero, Zero })	(iasl drops the '\' at the root)
 *	Method (_EVT, 1, Serialized) { }
 */
static const uint8_t iasl_res2[] = {
	0x08, 'R', 'E', 'S', '2', 0x11, 0x49, 0x05, 0x0a, 0x55, 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0xd0, 0xfe, 0x00,
	0x04, 0x00, 0x00, 0x89, 0x06, 0x00, 0x03, 0x01, 0x09, 0x00, 0x00, 0x00, 0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00,
	0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x01, 0x8a, 0x2b, 0x00, 0x00, 0x0c, 0x03, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff,
	0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x00,
	0x00, 0x00, 0x79, 0x00, 0x08, '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a, 0x05, 0x00, 0x00, 0x00, 0x14, 0x06,
	'_', 'E', 'V', 'T', 0x09,
};

START_TEST(resources_package_method)
{
	struct aml a, rt;
	size_t mark;

	aml_init(&a);
	aml_init(&rt);
	aml_name(&a, "RES2");
	aml_res_memory32_fixed(&rt, true, 0xfed00000, 0x400);
	aml_res_interrupt(&rt, true, 9);
	aml_res_word(&rt, AML_SPACE_BUS, true, 0, 0, 0xff);
	aml_res_qword(&rt, AML_SPACE_MEMORY, true, AML_MEM_CACHEABLE | AML_MEM_RW, 0x8000000000ull,
		      0xffffffffffull);
	aml_resource_template(&a, &rt);
	aml_name(&a, "_S5");
	mark = aml_package(&a, 4);
	aml_int(&a, 5);
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_int(&a, 0);
	aml_end(&a, mark);
	mark = aml_method(&a, "_EVT", 1, true);
	aml_end(&a, mark);
	aml_expect(&a, iasl_res2, sizeof(iasl_res2));
	aml_free(&rt);
	aml_free(&a);
}
END_TEST

/* iasl 20200925 output for:
 *	OperationRegion (BIGR, SystemMemory, 0xFED00000, 0x400)
 *	Field (BIGR, DWordAcc, Lock, WriteAsZeros) { AAAA, 8, BBBB, 200, CCCC, 32 }
 *	Device (DEV0) { Name (_HID, "ACPI0013") }
 *	Method (MTHD, 2, NotSerialized) {
 *		Store (Arg1, Local7)
 *		If (LEqual (Arg0, Local7)) { Store (Local7, AAAA) }
 *		If (LNotEqual (Arg0, 0x10)) { And (Arg0, 0x0F, CCCC) }
 *		Notify (DEV0, 0x02)
 *	}
 */
static const uint8_t iasl_fields[] = {
	0x5b, 0x80, 'B', 'I', 'G', 'R', 0x00, 0x0c, 0x00, 0x00, 0xd0, 0xfe, 0x0b, 0x00, 0x04, 0x5b, 0x81, 0x16, 'B',
	'I', 'G', 'R', 0x53, 'A', 'A', 'A', 'A', 0x08, 'B', 'B', 'B', 'B', 0x48, 0x0c, 'C', 'C', 'C', 'C', 0x20, 0x5b,
	0x82, 0x14, 'D', 'E', 'V', '0', 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I', '0', '0', '1', '3', 0x00,
	0x14, 0x2a, 'M', 'T', 'H', 'D', 0x02, 0x70, 0x69, 0x67, 0xa0, 0x0a, 0x93, 0x68, 0x67, 0x70, 0x67, 'A', 'A', 'A',
	'A', 0xa0, 0x0e, 0x92, 0x93, 0x68, 0x0a, 0x10, 0x7b, 0x68, 0x0a, 0x0f, 'C', 'C', 'C', 'C', 0x86, 'D', 'E', 'V',
	'0', 0x0a, 0x02,
};

START_TEST(fields_and_methods)
{
	struct aml a;
	size_t mark, cond;

	aml_init(&a);
	aml_operation_region(&a, "BIGR", AML_REGION_SYSTEM_MEMORY, 0xfed00000, 0x400);
	mark = aml_field(&a, "BIGR", AML_FIELD_DWORD_ACC | AML_FIELD_LOCK | AML_FIELD_WRITE_AS_ZEROS);
	aml_field_unit(&a, "AAAA", 8);
	aml_field_unit(&a, "BBBB", 200); /* 200 bits: a 2-byte length */
	aml_field_unit(&a, "CCCC", 32);
	aml_end(&a, mark);
	mark = aml_device(&a, "DEV0");
	aml_name(&a, "_HID");
	aml_string(&a, "ACPI0013");
	aml_end(&a, mark);
	mark = aml_method(&a, "MTHD", 2, false);
	aml_store(&a);
	aml_arg(&a, 1);
	aml_local(&a, 7);
	cond = aml_if(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_local(&a, 7);
	aml_store(&a);
	aml_local(&a, 7);
	aml_namestring(&a, "AAAA");
	aml_end(&a, cond);
	cond = aml_if(&a);
	aml_lnot(&a);
	aml_lequal(&a);
	aml_arg(&a, 0);
	aml_int(&a, 0x10);
	aml_and(&a);
	aml_arg(&a, 0);
	aml_int(&a, 0x0f);
	aml_namestring(&a, "CCCC");
	aml_end(&a, cond);
	aml_notify(&a);
	aml_namestring(&a, "DEV0");
	aml_int(&a, 2);
	aml_end(&a, mark);
	aml_expect(&a, iasl_fields, sizeof(iasl_fields));
	aml_free(&a);
}
END_TEST

START_TEST(fields_and_operands_rejected)
{
	static const char *const bad_units[] = { "", "TOOLONG", "A.B", "\\ABC", "^ABC", "1ABC", "ab" };
	static const uint8_t bad_flags[] = { 0x06, 0x0f, 0x60, 0x80 };
	struct aml a;

	for (size_t i = 0; i < sizeof(bad_units) / sizeof(bad_units[0]); i++) {
		aml_init(&a);
		aml_field_unit(&a, bad_units[i], 8);
		ck_assert_msg(aml_error(&a) == -EINVAL, "field unit '%s' accepted", bad_units[i]);
		aml_free(&a);
	}
	for (size_t i = 0; i < sizeof(bad_flags) / sizeof(bad_flags[0]); i++) {
		aml_init(&a);
		aml_field(&a, "REGN", bad_flags[i]);
		ck_assert_msg(aml_error(&a) == -EINVAL, "field flags 0x%02x accepted", bad_flags[i]);
		aml_free(&a);
	}
	aml_init(&a);
	aml_field_unit(&a, "ABCD", 0);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_field_unit(&a, "ABCD", AML_PKGLENGTH_MAX + 1u);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_field_unit(&a, "ABCD", AML_PKGLENGTH_MAX); /* the largest bit count: 4 bytes */
	ck_assert_int_eq(aml_error(&a), 0);
	ck_assert_uint_eq(a.len, 8);
	ck_assert_uint_eq(a.buf[4], 0xcf);
	ck_assert_uint_eq(a.buf[7], 0xff);
	aml_free(&a);
	aml_init(&a);
	aml_local(&a, 8);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_arg(&a, 7);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_operation_region(&a, "BAD.", AML_REGION_SYSTEM_IO, 0, 1);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
}
END_TEST

START_TEST(names_and_integers)
{
	static const uint8_t want[] = {
		0x5c, '_', 'S', 'B', '_',                                                /* \_SB */
		0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0',                            /* _SB.PCI0 */
		0x5e, 0x5e, 0x2f, 3, 'A', '_', '_', '_', 'B', 'C', '_', '_', 'D', '1', '2', '3', /* ^^A.BC.D123 */
		0x00, 0x01, 0x0a, 0x02, 0x0a, 0xff, 0x0b, 0x00, 0x01, 0x0c, 0x00, 0x00, 0x01, 0x00, /* integers */
		0x0e, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
		0x0d, 'h', 'i', 0x00,
	};
	static const char *const bad[] = { "", "\\", "TOOLONG", "1ABC", "a", "AB..C", "AB.", ".AB", "A-B" };
	struct aml a;

	aml_init(&a);
	aml_namestring(&a, "\\_SB");
	aml_namestring(&a, "_SB.PCI0");
	aml_namestring(&a, "^^A.BC.D123");
	aml_int(&a, 0);
	aml_int(&a, 1);
	aml_int(&a, 2);
	aml_int(&a, 0xff);
	aml_int(&a, 0x100);
	aml_int(&a, 0x10000);
	aml_int(&a, 0x100000000ull);
	aml_string(&a, "hi");
	aml_expect(&a, want, sizeof(want));
	aml_free(&a);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		aml_init(&a);
		aml_name(&a, bad[i]);
		ck_assert_msg(aml_error(&a) == -EINVAL, "name '%s' accepted", bad[i]);
		aml_int(&a, 7); /* errors are sticky */
		ck_assert_int_eq(aml_error(&a), -EINVAL);
		aml_free(&a);
	}
	aml_init(&a);
	aml_eisaid(&a, "pnp0501");
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
	aml_init(&a);
	aml_res_irq_noflags(&a, 16);
	ck_assert_int_eq(aml_error(&a), -EINVAL);
	aml_free(&a);
}
END_TEST

/* An AML integer at p (Zero, One, Byte/Word/DWord/QWordConst): its value; *p moves past it. */
static uint64_t aml_get_int(const uint8_t **p)
{
	const uint8_t *b = *p;
	unsigned n;
	uint64_t v = 0;

	switch (b[0]) {
	case 0x00:
	case 0x01:
		*p = b + 1;
		return b[0];
	case 0x0a:
		n = 1;
		break;
	case 0x0b:
		n = 2;
		break;
	case 0x0c:
		n = 4;
		break;
	case 0x0e:
		n = 8;
		break;
	default:
		ck_abort_msg("not an AML integer: opcode 0x%02x", b[0]);
		return 0;
	}
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[1 + i] << (8 * i);
	*p = b + 1 + n;
	return v;
}

/* A PkgLength at p: the number of bytes it counts (itself and the body); *p moves past it. */
static size_t aml_get_pkglength(const uint8_t **p)
{
	const uint8_t *b = *p;
	unsigned follow = b[0] >> 6;
	size_t v = follow ? b[0] & 0x0f : b[0] & 0x3f;

	for (unsigned i = 0; i < follow; i++)
		v |= (size_t)b[1 + i] << (4 + 8 * i);
	*p = b + 1 + follow;
	return v;
}

static const uint8_t *find_bytes(const struct fake *f, uint64_t table, const void *what, size_t len)
{
	uint32_t tlen = (uint32_t)rd(f, table + 4, 4);

	return memmem(f->ram + table + 36, tlen - 36, what, len);
}

/* MCFG for bus 0 at PCI_ECAM_BASE; PCI0 with its _HID/_CID, windows and the _PRT; the ECAM reserved. */
static void check_pci(const struct fake *f, uint64_t rsdp, uint64_t dsdt)
{
	static const uint8_t pnp0a08[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x08 }, pnp0a03[] = { 0x0c, 0x41, 0xd0, 0x0a, 0x03 },
			     pnp0c02[] = { 0x0c, 0x41, 0xd0, 0x0c, 0x02 };
	/* WordIO (producer, MinFixed, MaxFixed, EntireRange) 0x0d00-0xffff */
	static const uint8_t wordio[] = { 0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00, 0x00, 0x0d,
					  0xff, 0xff, 0x00, 0x00, 0x00, 0xf3 };
	/* DWordMemory (producer, non-cacheable, read-write) 0xc0000000-0xdfffffff, length 0x20000000 */
	static const uint8_t dwordmem[] = { 0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0, 0, 0, 0, 0x00, 0x00, 0x00,
					    0xc0, 0xff, 0xff, 0xff, 0xdf, 0, 0, 0, 0, 0x00, 0x00, 0x00, 0x20 };
	/* Memory32Fixed (ReadWrite, PCI_ECAM_BASE, PCI_ECAM_SIZE) */
	static const uint8_t ecam[] = { 0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0, 0x00, 0x00, 0x10, 0x00 };
	uint64_t mcfg = find_table(f, rsdp, "MCFG"), qword[2] = { MMIO64_BASE, MMIO64_BASE + PCI_MMIO64_SIZE - 1 };
	const uint8_t *p, *end;
	size_t len;

	ck_assert_uint_ne(mcfg, 0);
	ck_assert_uint_eq(rd(f, mcfg + 4, 4), 60);
	ck_assert_uint_eq(rd(f, mcfg + 8, 1), 1);
	ck_assert_uint_eq(rd(f, mcfg + 36, 8), 0);           /* reserved */
	ck_assert_uint_eq(rd(f, mcfg + 44, 8), PCI_ECAM_BASE); /* base address */
	ck_assert_uint_eq(rd(f, mcfg + 52, 2), 0);           /* segment */
	ck_assert_uint_eq(rd(f, mcfg + 54, 1), 0);           /* start bus */
	ck_assert_uint_eq(rd(f, mcfg + 55, 1), 0);           /* end bus */

	ck_assert_ptr_nonnull(find_bytes(f, dsdt, "PCI0", 4));
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, pnp0a08, sizeof(pnp0a08)));
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, pnp0a03, sizeof(pnp0a03)));
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, wordio, sizeof(wordio)));
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, dwordmem, sizeof(dwordmem)));
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, qword, sizeof(qword))); /* QWordMemory min, max */
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, pnp0c02, sizeof(pnp0c02)));
	ck_assert_ptr_nonnull(find_bytes(f, dsdt, ecam, sizeof(ecam)));

	/* Name (_PRT, Package (124) { Package (4) { 0xSSFFFF, pin, Zero, GSI } ... }) */
	p = find_bytes(f, dsdt, "_PRT", 4);
	ck_assert_ptr_nonnull(p);
	p += 4;
	ck_assert_uint_eq(*p++, 0x12);
	end = p;
	len = aml_get_pkglength(&p);
	end += len;
	ck_assert_uint_le((uint64_t)(end - (f->ram + dsdt)), rd(f, dsdt + 4, 4));
	ck_assert_uint_eq(*p++, 31 * 4);
	for (unsigned slot = 1; slot < 32; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			const uint8_t *e;

			ck_assert_uint_eq(*p++, 0x12);
			e = p;
			e += aml_get_pkglength(&p);
			ck_assert_uint_eq(*p++, 4);
			ck_assert_uint_eq(aml_get_int(&p), (uint64_t)slot << 16 | 0xffff);
			ck_assert_uint_eq(aml_get_int(&p), pin);
			ck_assert_uint_eq(aml_get_int(&p), 0);
			ck_assert_uint_eq(aml_get_int(&p), pci_intx_gsi(slot, pin));
			ck_assert_ptr_eq(p, e);
		}
	}
	ck_assert_ptr_eq(p, end);
	/* Slots 1 and 9 share INTA's GSI; pins rotate within 16..23. */
	ck_assert_uint_eq(pci_intx_gsi(1, 0), 17);
	ck_assert_uint_eq(pci_intx_gsi(9, 0), 17);
	ck_assert_uint_eq(pci_intx_gsi(7, 1), 16);
	ck_assert_uint_eq(pci_intx_gsi(31, 3), 18);
}

/* iasl 20200925 output for the two devices of the GED (inside Scope (\_SB)), with io_base 0x610 and GSI 9:
 *	Device (PWRB) { Name (_HID, EisaId ("PNP0C0C")) Name (_UID, Zero) }
 *	Device (GED0) {
 *		Name (_HID, "ACPI0013")
 *		Name (_UID, Zero)
 *		Name (_CRS, ResourceTemplate () { Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) {9} })
 *		OperationRegion (GDST, SystemIO, 0x0610, One)
 *		Field (GDST, ByteAcc, NoLock, Preserve) { GDAT, 8 }
 *		Method (_EVT, 1, Serialized) {
 *			Local0 = GDAT
 *			If ((Local0 & One)) { Notify (PWRB, 0x80) }
 *		}
 *	}
 */
static const uint8_t iasl_ged[] = {
	0x5b, 0x82, 0x15, 'P', 'W', 'R', 'B', 0x08, '_', 'H', 'I', 'D', 0x0c, 0x41, 0xd0, 0x0c, 0x0c, 0x08, '_', 'U',
	'I', 'D', 0x00, 0x5b, 0x82, 0x41, 0x06, 'G', 'E', 'D', '0', 0x08, '_', 'H', 'I', 'D', 0x0d, 'A', 'C', 'P', 'I',
	'0', '0', '1', '3', 0x00, 0x08, '_', 'U', 'I', 'D', 0x00, 0x08, '_', 'C', 'R', 'S', 0x11, 0x0e, 0x0a, 0x0b,
	0x89, 0x06, 0x00, 0x03, 0x01, 0x09, 0x00, 0x00, 0x00, 0x79, 0x00, 0x5b, 0x80, 'G', 'D', 'S', 'T', 0x01, 0x0b,
	0x10, 0x06, 0x01, 0x5b, 0x81, 0x0b, 'G', 'D', 'S', 'T', 0x01, 'G', 'D', 'A', 'T', 0x08, 0x14, 0x19, '_', 'E',
	'V', 'T', 0x09, 0x70, 'G', 'D', 'A', 'T', 0x60, 0xa0, 0x0c, 0x7b, 0x60, 0x01, 0x00, 0x86, 'P', 'W', 'R', 'B',
	0x0a, 0x80,
};

START_TEST(tables_with_ged)
{
	struct acpi_config cfg = config(2);
	struct fake f;
	uint64_t rsdp = 0, fadt, dsdt;

	fake_init(&f, FAKE_RAM);
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), 0);
	fadt = find_table(&f, rsdp, "FACP");
	dsdt = rd(&f, fadt + 140, 8);
	ck_assert_ptr_null(find_bytes(&f, dsdt, "ACPI0013", 8)); /* off by default */
	ck_assert_ptr_null(find_bytes(&f, dsdt, "PWRB", 4));

	cfg.ged = true;
	cfg.ged_io_base = GED_IO_BASE;
	cfg.ged_gsi = GED_GSI;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), 0);
	fadt = find_table(&f, rsdp, "FACP");
	dsdt = rd(&f, fadt + 140, 8);
	ck_assert_ptr_nonnull(find_bytes(&f, dsdt, iasl_ged, sizeof(iasl_ged)));
	/* Still hardware-reduced with no fixed buttons: the power button is the PNP0C0C device. */
	ck_assert_uint_eq(rd(&f, fadt + 112, 4), (1u << 20) | (1u << 10) | (1u << 5) | (1u << 4));
	check_pci(&f, rsdp, dsdt);

	cfg.ged_io_base = 0;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), -EINVAL);
	fake_destroy(&f);
}
END_TEST

static void check_tables(unsigned ncpus)
{
	const struct acpi_config cfg = config(ncpus);
	struct fake f;
	uint64_t rsdp = 0, xsdt, fadt, dsdt, madt;
	uint32_t len;

	fake_init(&f, FAKE_RAM);
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), 0);

	/* RSDP: at the start of the region, both checksums, revision 2, an XSDT. */
	ck_assert_uint_eq(rsdp, ACPI_TABLES_START);
	ck_assert_mem_eq(f.ram + rsdp, "RSD PTR ", 8);
	ck_assert_mem_eq(f.ram + rsdp + 9, "VMM   ", 6);
	ck_assert_uint_eq(sum(&f, rsdp, 20), 0);
	ck_assert_uint_eq(rd(&f, rsdp + 15, 1), 2);
	ck_assert_uint_eq(rd(&f, rsdp + 20, 4), 36);
	ck_assert_uint_eq(sum(&f, rsdp, 36), 0);
	xsdt = rd(&f, rsdp + 24, 8);
	ck_assert_uint_ge(xsdt, ACPI_TABLES_START + 36);
	ck_assert_uint_eq(xsdt % 8, 0);

	/* XSDT: every table checksummed and inside the region; FADT and MADT listed. */
	fadt = find_table(&f, rsdp, "FACP");
	madt = find_table(&f, rsdp, "APIC");
	ck_assert_uint_ne(fadt, 0);
	ck_assert_uint_ne(madt, 0);
	ck_assert_uint_le(xsdt + rd(&f, xsdt + 4, 4), ACPI_TABLES_END);

	/* FADT revision 6: hardware-reduced, the PM registers, X_DSDT. */
	ck_assert_uint_eq(rd(&f, fadt + 4, 4), 276);
	ck_assert_uint_eq(rd(&f, fadt + 8, 1), 6);
	ck_assert_uint_eq(rd(&f, fadt + 112, 4), (1u << 20) | (1u << 10) | (1u << 5) | (1u << 4));
	ck_assert_uint_eq(rd(&f, fadt + 109, 2) & ((1u << 3) | (1u << 5)), 0); /* MSI and the CMOS RTC present */
	ck_assert_uint_eq(rd(&f, fadt + 46, 2), 0);                             /* no SCI */
	for (unsigned off = 48; off < 109; off++) /* SMI_CMD, PM1, PM2, PM timer, GPE blocks: all zero */
		ck_assert_uint_eq(rd(&f, fadt + off, 1), 0);
	for (unsigned off = 148; off < 244; off++) /* X_PM1a_EVT_BLK .. X_GPE1_BLK */
		ck_assert_uint_eq(rd(&f, fadt + off, 1), 0);
	expect_io_gas(&f, fadt + 116, PM_IO_BASE + 2);
	ck_assert_uint_eq(rd(&f, fadt + 128, 1), PM_RESET_VALUE);
	expect_io_gas(&f, fadt + 244, PM_IO_BASE);
	expect_io_gas(&f, fadt + 256, PM_IO_BASE + 1);
	ck_assert_mem_eq(f.ram + fadt + 268, "VMMVMM  ", 8);

	/* DSDT: checksummed, in the region, \_S5 = Package { SLP_TYP, ... }. */
	dsdt = rd(&f, fadt + 140, 8);
	ck_assert_uint_eq(rd(&f, fadt + 40, 4), dsdt);
	ck_assert_mem_eq(f.ram + dsdt, "DSDT", 4);
	len = (uint32_t)rd(&f, dsdt + 4, 4);
	ck_assert_uint_gt(len, 36);
	ck_assert_uint_le(dsdt + len, ACPI_TABLES_END);
	ck_assert_uint_eq(dsdt % 8, 0);
	ck_assert_uint_eq(rd(&f, dsdt + 8, 1), 2);
	ck_assert_uint_eq(sum(&f, dsdt, len), 0);
	const uint8_t *aml = memmem(f.ram + dsdt + 36, len - 36, "_S5_", 4);
	ck_assert_ptr_nonnull(aml);
	ck_assert_uint_le((uint64_t)(aml - (f.ram + dsdt)) + 9, len);
	ck_assert_uint_eq(aml[4], 0x12);           /* PackageOp */
	ck_assert_uint_eq(aml[6], 4);              /* NumElements */
	ck_assert_uint_eq(aml[7], 0x0a);           /* BytePrefix */
	ck_assert_uint_eq(aml[8], PM_S5_SLP_TYP); /* SLP_TYPa */
	ck_assert_ptr_nonnull(memmem(f.ram + dsdt + 36, len - 36, "COM1", 4));
	ck_assert_ptr_nonnull(memmem(f.ram + dsdt + 36, len - 36, "RTC_", 4));

	check_pci(&f, rsdp, dsdt);

	/* MADT: one enabled local APIC per vCPU, the IOAPIC with id ncpus, LINT1 NMI for all. */
	len = (uint32_t)rd(&f, madt + 4, 4);
	ck_assert_uint_ge(rd(&f, madt + 8, 1), 3);
	ck_assert_uint_eq(rd(&f, madt + 36, 4), LAPIC_ADDR);
	ck_assert_uint_eq(rd(&f, madt + 40, 4), 0);
	unsigned nlapic = 0, nioapic = 0, nnmi = 0;
	for (uint32_t off = 44; off < len;) {
		uint64_t e = madt + off;
		unsigned type = (unsigned)rd(&f, e, 1), elen = (unsigned)rd(&f, e + 1, 1);

		ck_assert_uint_ge(elen, 2);
		ck_assert_uint_le(off + elen, len);
		switch (type) {
		case 0:
			ck_assert_uint_eq(elen, 8);
			ck_assert_uint_eq(rd(&f, e + 2, 1), nlapic); /* processor UID */
			ck_assert_uint_eq(rd(&f, e + 3, 1), nlapic); /* APIC id */
			ck_assert_uint_eq(rd(&f, e + 4, 4), 1);      /* enabled */
			nlapic++;
			break;
		case 1:
			ck_assert_uint_eq(elen, 12);
			ck_assert_uint_eq(rd(&f, e + 2, 1), ncpus);
			ck_assert_uint_eq(rd(&f, e + 4, 4), IOAPIC_ADDR);
			ck_assert_uint_eq(rd(&f, e + 8, 4), 0);
			nioapic++;
			break;
		case 4:
			ck_assert_uint_eq(elen, 6);
			ck_assert_uint_eq(rd(&f, e + 2, 1), 0xff);
			ck_assert_uint_eq(rd(&f, e + 3, 2), 0);
			ck_assert_uint_eq(rd(&f, e + 5, 1), 1);
			nnmi++;
			break;
		default:
			ck_abort_msg("unexpected MADT entry type %u", type);
		}
		off += elen;
	}
	ck_assert_uint_eq(nlapic, ncpus);
	ck_assert_uint_eq(nioapic, 1);
	ck_assert_uint_eq(nnmi, 1);
	fake_destroy(&f);
}

START_TEST(tables_1cpu)
{
	check_tables(1);
}
END_TEST

START_TEST(tables_2cpus)
{
	check_tables(2);
}
END_TEST

START_TEST(tables_64cpus)
{
	check_tables(64);
}
END_TEST

START_TEST(bad_config_and_small_memory)
{
	struct acpi_config cfg = config(2);
	struct fake f;
	uint64_t rsdp = 0x1234;

	fake_init(&f, 512u << 10); /* RAM ends below ACPI_TABLES_START */
	ck_assert_int_lt(acpi_build(&f.m, &cfg, &rsdp), 0);
	ck_assert_uint_eq(rsdp, 0x1234);
	fake_destroy(&f);

	fake_init(&f, ACPI_TABLES_START + 0x1000); /* RAM ends inside the region */
	ck_assert_int_lt(acpi_build(&f.m, &cfg, &rsdp), 0);
	fake_destroy(&f);

	fake_init(&f, FAKE_RAM);
	cfg.ncpus = 0;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), -EINVAL);
	cfg.ncpus = 255;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), -EINVAL);
	cfg = config(2);
	cfg.com1_irq = 16;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), -EINVAL);
	cfg = config(254); /* the largest: still fits */
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), 0);
	fake_destroy(&f);
}
END_TEST

START_TEST(tables_without_pci)
{
	struct acpi_config cfg = config(1);
	struct fake f;
	uint64_t rsdp = 0, fadt, dsdt;

	cfg.pci = false;
	cfg.pci_mmio64_base = 0;
	fake_init(&f, FAKE_RAM);
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), 0);
	ck_assert_uint_eq(find_table(&f, rsdp, "MCFG"), 0);
	fadt = find_table(&f, rsdp, "FACP");
	dsdt = rd(&f, fadt + 140, 8);
	ck_assert_ptr_null(find_bytes(&f, dsdt, "PCI0", 4));
	ck_assert_ptr_null(find_bytes(&f, dsdt, "_PRT", 4));
	ck_assert_ptr_nonnull(find_bytes(&f, dsdt, "COM1", 4));

	cfg.pci = true; /* the 64-bit window must be above 4 GiB and must not wrap */
	cfg.pci_mmio64_base = 0x80000000ull;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), -EINVAL);
	cfg.pci_mmio64_base = UINT64_MAX - PCI_MMIO64_SIZE + 2;
	ck_assert_int_eq(acpi_build(&f.m, &cfg, &rsdp), -EINVAL);
	fake_destroy(&f);
}
END_TEST

static int write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char path[4096];
	FILE *fp;
	int ok;

	snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
	fp = fopen(path, "wb");
	if (!fp) {
		perror(path);
		return -1;
	}
	ok = fwrite(data, 1, len, fp) == len;
	ok = (fclose(fp) == 0) && ok;
	if (!ok)
		perror(path);
	return ok ? 0 : -1;
}

/* Write xsdt.dat and one <signature>.dat per listed table (plus dsdt.dat) into dir. */
static int dump_tables(const char *dir)
{
	struct acpi_config cfg = config(2);
	struct guest_mem m = { 0 };
	uint8_t *ram = calloc(1, FAKE_RAM);
	uint64_t rsdp, xsdt, fadt = 0;
	uint32_t xlen;
	int ret = -1;

	cfg.ged = true;
	cfg.ged_io_base = GED_IO_BASE;
	cfg.ged_gsi = GED_GSI;
	if (!ram || gmem_add_region(&m, 0, FAKE_RAM, ram) || acpi_build(&m, &cfg, &rsdp)) {
		fprintf(stderr, "cannot build the ACPI tables\n");
		goto out;
	}
	memcpy(&xsdt, ram + rsdp + 24, 8);
	memcpy(&xlen, ram + xsdt + 4, 4);
	if (write_file(dir, "xsdt", ram + xsdt, xlen)) /* iasl -d does not take a bare RSDP */
		goto out;
	for (uint32_t off = 36; off + 8 <= xlen; off += 8) {
		uint64_t t;
		uint32_t len;
		char name[5] = { 0 };

		memcpy(&t, ram + xsdt + off, 8);
		memcpy(&len, ram + t + 4, 4);
		for (int i = 0; i < 4; i++)
			name[i] = (char)(ram[t + i] | 0x20); /* lower case */
		if (!memcmp(ram + t, "FACP", 4))
			fadt = t;
		if (write_file(dir, name, ram + t, len))
			goto out;
	}
	if (fadt) {
		uint64_t dsdt;
		uint32_t len;

		memcpy(&dsdt, ram + fadt + 140, 8);
		memcpy(&len, ram + dsdt + 4, 4);
		if (write_file(dir, "dsdt", ram + dsdt, len))
			goto out;
	}
	ret = 0;
out:
	free(ram);
	return ret;
}

int main(int argc, char **argv)
{
	Suite *s;
	TCase *aml, *tables;

	if (argc > 1)
		return dump_tables(argv[1]) ? 1 : 0;
	s = suite_create("acpi");
	aml = tcase_create("aml");
	tables = tcase_create("tables");

	tcase_add_test(aml, pkglength_boundaries);
	tcase_add_test(aml, pkglength_in_objects);
	tcase_add_test(aml, device_with_resource_template);
	tcase_add_test(aml, resources_package_method);
	tcase_add_test(aml, fields_and_methods);
	tcase_add_test(aml, fields_and_operands_rejected);
	tcase_add_test(aml, names_and_integers);
	suite_add_tcase(s, aml);
	tcase_add_test(tables, tables_1cpu);
	tcase_add_test(tables, tables_2cpus);
	tcase_add_test(tables, tables_64cpus);
	tcase_add_test(tables, bad_config_and_small_memory);
	tcase_add_test(tables, tables_without_pci);
	tcase_add_test(tables, tables_with_ged);
	suite_add_tcase(s, tables);
	return unit_run(s);
}
