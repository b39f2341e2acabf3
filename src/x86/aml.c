// SPDX-License-Identifier: Apache-2.0
/* A small AML byte-code builder: names, integers, packages, devices, fields, methods and resource templates. */
#include "x86/aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and prefixes (ACPI 6.5, section 20.3). */
#define ZERO_OP 0x00
#define NULL_NAME 0x00 /* an empty Target */
#define ONE_OP 0x01
#define NAME_OP 0x08
#define BYTE_PREFIX 0x0a
#define WORD_PREFIX 0x0b
#define DWORD_PREFIX 0x0c
#define STRING_PREFIX 0x0d
#define QWORD_PREFIX 0x0e
#define SCOPE_OP 0x10
#define BUFFER_OP 0x11
#define PACKAGE_OP 0x12
#define METHOD_OP 0x14
#define LOCAL0_OP 0x60
#define ARG0_OP 0x68
#define STORE_OP 0x70
#define AND_OP 0x7b
#define NOTIFY_OP 0x86
#define LNOT_OP 0x92
#define LEQUAL_OP 0x93
#define IF_OP 0xa0
#define DUAL_NAME_PREFIX 0x2e
#define MULTI_NAME_PREFIX 0x2f
#define EXT_OP_PREFIX 0x5b
#define OP_REGION_OP 0x80 /* after EXT_OP_PREFIX */
#define FIELD_OP 0x81     /* after EXT_OP_PREFIX */
#define DEVICE_OP 0x82    /* after EXT_OP_PREFIX */
#define ROOT_CHAR '\\'
#define PARENT_PREFIX_CHAR '^'

/* Resource descriptor tags (ACPI 6.5, section 6.4). */
#define RES_IRQ_NOFLAGS 0x22 /* small item 0x04, length 2 */
#define RES_IO 0x47          /* small item 0x08, length 7 */
#define RES_END_TAG 0x79     /* small item 0x0f, length 1 */
#define RES_MEMORY32_FIXED 0x86
#define RES_DWORD_ADDRESS 0x87
#define RES_WORD_ADDRESS 0x88
#define RES_EXT_IRQ 0x89
#define RES_QWORD_ADDRESS 0x8a

/* General flags of an address space descriptor. */
#define ADDR_CONSUMER 0x01
#define ADDR_MIN_FIXED 0x04
#define ADDR_MAX_FIXED 0x08

/* FieldFlags: AccessType in bits 3:0, LockRule in bit 4, UpdateRule in bits 6:5, bit 7 reserved. */
#define FIELD_ACCESS_MASK 0x0f
#define FIELD_ACCESS_MAX 0x05 /* BufferAcc */
#define FIELD_UPDATE_SHIFT 5
#define FIELD_UPDATE_MAX 2 /* WriteAsZeros */
#define FIELD_RESERVED 0x80

#define NAMESEG_LEN 4
#define MAX_SEGMENTS 255
#define MAX_LOCAL 7
#define MAX_ARG 6

static void fail(struct aml *a, int err)
{
	if (!a->err)
		a->err = err;
}

static bool reserve(struct aml *a, size_t more)
{
	size_t need, cap;
	uint8_t *p;

	if (a->err)
		return false;
	if (__builtin_add_overflow(a->len, more, &need)) {
		fail(a, -E2BIG);
		return false;
	}
	if (need <= a->cap)
		return true;
	cap = a->cap ? a->cap : 256;
	while (cap < need) {
		if (__builtin_mul_overflow(cap, 2, &cap)) {
			fail(a, -E2BIG);
			return false;
		}
	}
	p = realloc(a->buf, cap);
	if (!p) {
		fail(a, -ENOMEM);
		return false;
	}
	a->buf = p;
	a->cap = cap;
	return true;
}

void aml_init(struct aml *a)
{
	memset(a, 0, sizeof(*a));
}

void aml_free(struct aml *a)
{
	free(a->buf);
	memset(a, 0, sizeof(*a));
}

int aml_error(const struct aml *a)
{
	return a->err;
}

void aml_bytes(struct aml *a, const void *data, size_t len)
{
	if (!len || !reserve(a, len))
		return;
	memcpy(a->buf + a->len, data, len);
	a->len += len;
}

static void byte(struct aml *a, uint8_t b)
{
	aml_bytes(a, &b, 1);
}

/* Little-endian n-byte value. */
static void le(struct aml *a, uint64_t v, unsigned n)
{
	uint8_t b[8];

	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
	aml_bytes(a, b, n);
}

/* Whether v fits a PkgLength-style encoding of n bytes: 6 bits in one, 4 + 8 * (n - 1) bits in more. */
static bool len_fits(size_t v, size_t n)
{
	return n == 1 ? v <= 0x3f : v < (size_t)1 << (4 + 8 * (n - 1));
}

/* Multi-byte: bits 7:6 of the lead byte say how many follow, its low nibble holds bits 3:0. */
static void put_len(uint8_t out[4], size_t v, size_t n)
{
	if (n == 1) {
		out[0] = (uint8_t)v;
		return;
	}
	out[0] = (uint8_t)(((n - 1) << 6) | (v & 0x0f));
	for (size_t i = 1; i < n; i++)
		out[i] = (uint8_t)(v >> (4 + 8 * (i - 1)));
}

size_t aml_pkglength(uint8_t out[4], size_t body_len)
{
	if (body_len > AML_PKGLENGTH_MAX)
		return 0;
	for (size_t n = 1; n <= 4; n++) {
		if (len_fits(body_len + n, n)) {
			put_len(out, body_len + n, n);
			return n;
		}
	}
	return 0;
}

static bool seg_char(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_namestring(struct aml *a, const char *name)
{
	const char *p = name;
	uint8_t segs[MAX_SEGMENTS][NAMESEG_LEN];
	size_t nseg = 0;

	if (a->err)
		return;
	if (*p == ROOT_CHAR) {
		byte(a, ROOT_CHAR);
		p++;
	} else {
		while (*p == PARENT_PREFIX_CHAR) {
			byte(a, PARENT_PREFIX_CHAR);
			p++;
		}
	}
	while (*p) {
		size_t n = 0;

		if (nseg == MAX_SEGMENTS)
			goto bad;
		memset(segs[nseg], '_', NAMESEG_LEN);
		while (*p && *p != '.') {
			if (n == NAMESEG_LEN || !seg_char(*p, n == 0))
				goto bad;
			segs[nseg][n++] = (uint8_t)*p++;
		}
		if (n == 0)
			goto bad;
		nseg++;
		if (*p == '.' && !*++p)
			goto bad;
	}
	if (nseg == 0)
		goto bad;
	if (nseg == 2) {
		byte(a, DUAL_NAME_PREFIX);
	} else if (nseg > 2) {
		byte(a, MULTI_NAME_PREFIX);
		byte(a, (uint8_t)nseg);
	}
	aml_bytes(a, segs, nseg * NAMESEG_LEN);
	return;
bad:
	fail(a, -EINVAL);
}

void aml_name(struct aml *a, const char *name)
{
	byte(a, NAME_OP);
	aml_namestring(a, name);
}

void aml_int(struct aml *a, uint64_t v)
{
	if (v == 0) {
		byte(a, ZERO_OP);
	} else if (v == 1) {
		byte(a, ONE_OP);
	} else if (v <= UINT8_MAX) {
		byte(a, BYTE_PREFIX);
		le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		byte(a, WORD_PREFIX);
		le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		byte(a, DWORD_PREFIX);
		le(a, v, 4);
	} else {
		byte(a, QWORD_PREFIX);
		le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++) {
		if ((unsigned char)*p > 0x7f) {
			fail(a, -EINVAL);
			return;
		}
	}
	byte(a, STRING_PREFIX);
	aml_bytes(a, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7)
		goto bad;
	/* Three letters, 5 bits each ('A' = 1), then four hex digits; stored big-endian. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z')
			goto bad;
		v = (v << 5) | (uint32_t)(id[i] - 'A' + 1);
	}
	for (int i = 3; i < 7; i++) {
		int d = hex_digit(id[i]);

		if (d < 0)
			goto bad;
		v = (v << 4) | (uint32_t)d;
	}
	byte(a, DWORD_PREFIX);
	le(a, __builtin_bswap32(v), 4);
	return;
bad:
	fail(a, -EINVAL);
}

/* The body of an object starts here; aml_end() puts the PkgLength in front of it. */
static size_t body_mark(const struct aml *a)
{
	return a->len;
}

void aml_end(struct aml *a, size_t mark)
{
	uint8_t pl[4];
	size_t n;

	if (a->err)
		return;
	if (mark > a->len) {
		fail(a, -EINVAL);
		return;
	}
	n = aml_pkglength(pl, a->len - mark);
	if (!n) {
		fail(a, -E2BIG);
		return;
	}
	if (!reserve(a, n))
		return;
	memmove(a->buf + mark + n, a->buf + mark, a->len - mark);
	memcpy(a->buf + mark, pl, n);
	a->len += n;
}

size_t aml_scope(struct aml *a, const char *name)
{
	size_t mark;

	byte(a, SCOPE_OP);
	mark = body_mark(a);
	aml_namestring(a, name);
	return mark;
}

size_t aml_device(struct aml *a, const char *name)
{
	size_t mark;

	byte(a, EXT_OP_PREFIX);
	byte(a, DEVICE_OP);
	mark = body_mark(a);
	aml_namestring(a, name);
	return mark;
}

size_t aml_package(struct aml *a, uint8_t nelems)
{
	size_t mark;

	byte(a, PACKAGE_OP);
	mark = body_mark(a);
	byte(a, nelems);
	return mark;
}

size_t aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized)
{
	size_t mark;

	if (nargs > 7)
		fail(a, -EINVAL);
	byte(a, METHOD_OP);
	mark = body_mark(a);
	aml_namestring(a, name);
	byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
	return mark;
}

void aml_operation_region(struct aml *a, const char *name, enum aml_region_space space, uint64_t offset,
			  uint64_t len)
{
	if ((unsigned)space > UINT8_MAX) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, EXT_OP_PREFIX);
	byte(a, OP_REGION_OP);
	aml_namestring(a, name);
	byte(a, (uint8_t)space);
	aml_int(a, offset);
	aml_int(a, len);
}

size_t aml_field(struct aml *a, const char *region, uint8_t flags)
{
	size_t mark;

	if ((flags & FIELD_ACCESS_MASK) > FIELD_ACCESS_MAX || ((flags >> FIELD_UPDATE_SHIFT) & 3) > FIELD_UPDATE_MAX ||
	    (flags & FIELD_RESERVED))
		fail(a, -EINVAL);
	byte(a, EXT_OP_PREFIX);
	byte(a, FIELD_OP);
	mark = body_mark(a);
	aml_namestring(a, region);
	byte(a, flags);
	return mark;
}

void aml_field_unit(struct aml *a, const char *name, uint32_t bits)
{
	uint8_t len[4];
	size_t n = 1;

	/* One NameSeg, no prefix; the bit count is encoded like a PkgLength that does not count itself. */
	if (!*name || strlen(name) > NAMESEG_LEN || strpbrk(name, ".\\^") || bits == 0 || bits > AML_PKGLENGTH_MAX) {
		fail(a, -EINVAL);
		return;
	}
	while (!len_fits(bits, n))
		n++;
	put_len(len, bits, n);
	aml_namestring(a, name);
	aml_bytes(a, len, n);
}

size_t aml_if(struct aml *a)
{
	byte(a, IF_OP);
	return body_mark(a);
}

void aml_store(struct aml *a)
{
	byte(a, STORE_OP);
}

void aml_and(struct aml *a)
{
	byte(a, AND_OP);
}

void aml_lequal(struct aml *a)
{
	byte(a, LEQUAL_OP);
}

void aml_lnot(struct aml *a)
{
	byte(a, LNOT_OP);
}

void aml_notify(struct aml *a)
{
	byte(a, NOTIFY_OP);
}

void aml_local(struct aml *a, unsigned n)
{
	if (n > MAX_LOCAL) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, (uint8_t)(LOCAL0_OP + n));
}

void aml_arg(struct aml *a, unsigned n)
{
	if (n > MAX_ARG) {
		fail(a, -EINVAL);
		return;
	}
	byte(a, (uint8_t)(ARG0_OP + n));
}

void aml_no_target(struct aml *a)
{
	byte(a, NULL_NAME);
}

void aml_buffer(struct aml *a, const void *data, size_t len)
{
	size_t mark;

	byte(a, BUFFER_OP);
	mark = body_mark(a);
	aml_int(a, len);
	aml_bytes(a, data, len);
	aml_end(a, mark);
}

void aml_res_io(struct aml *rt, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
	byte(rt, RES_IO);
	byte(rt, 0x01); /* Decode16 */
	le(rt, min, 2);
	le(rt, max, 2);
	byte(rt, align);
	byte(rt, len);
}

void aml_res_irq_noflags(struct aml *rt, uint8_t irq)
{
	if (irq > 15) {
		fail(rt, -EINVAL);
		return;
	}
	byte(rt, RES_IRQ_NOFLAGS);
	le(rt, 1u << irq, 2);
}

void aml_res_memory32_fixed(struct aml *rt, bool rw, uint32_t base, uint32_t len)
{
	byte(rt, RES_MEMORY32_FIXED);
	le(rt, 9, 2);
	byte(rt, rw ? 0x01 : 0x00);
	le(rt, base, 4);
	le(rt, len, 4);
}

void aml_res_interrupt(struct aml *rt, bool edge, uint32_t gsi)
{
	byte(rt, RES_EXT_IRQ);
	le(rt, 6, 2);
	byte(rt, ADDR_CONSUMER | (edge ? 0x02 : 0)); /* active high, exclusive, not wake capable */
	byte(rt, 1);
	le(rt, gsi, 4);
}

/* An address space descriptor whose five numbers are each width bytes wide. */
static void addr_space(struct aml *rt, uint8_t tag, unsigned width, enum aml_space space, bool producer,
		       uint8_t type_flags, uint64_t min, uint64_t max)
{
	if (max < min) {
		fail(rt, -EINVAL);
		return;
	}
	byte(rt, tag);
	le(rt, 3 + 5 * width, 2);
	byte(rt, (uint8_t)space);
	byte(rt, ADDR_MIN_FIXED | ADDR_MAX_FIXED | (producer ? 0 : ADDR_CONSUMER));
	byte(rt, type_flags);
	le(rt, 0, width);             /* granularity */
	le(rt, min, width);
	le(rt, max, width);
	le(rt, 0, width);             /* translation offset */
	le(rt, max - min + 1, width); /* length (wraps to 0 for a full 64-bit range) */
}

void aml_res_word(struct aml *rt, enum aml_space space, bool producer, uint8_t type_flags, uint16_t min,
		  uint16_t max)
{
	addr_space(rt, RES_WORD_ADDRESS, 2, space, producer, type_flags, min, max);
}

void aml_res_dword(struct aml *rt, enum aml_space space, bool producer, uint8_t type_flags, uint32_t min,
		   uint32_t max)
{
	addr_space(rt, RES_DWORD_ADDRESS, 4, space, producer, type_flags, min, max);
}

void aml_res_qword(struct aml *rt, enum aml_space space, bool producer, uint8_t type_flags, uint64_t min,
		   uint64_t max)
{
	addr_space(rt, RES_QWORD_ADDRESS, 8, space, producer, type_flags, min, max);
}

void aml_resource_template(struct aml *a, const struct aml *rt)
{
	static const uint8_t end_tag[2] = { RES_END_TAG, 0x00 }; /* checksum 0: "sums to zero" */
	size_t mark;

	if (rt->err) {
		fail(a, rt->err);
		return;
	}
	byte(a, BUFFER_OP);
	mark = body_mark(a);
	aml_int(a, rt->len + sizeof(end_tag));
	aml_bytes(a, rt->buf, rt->len);
	aml_bytes(a, end_tag, sizeof(end_tag));
	aml_end(a, mark);
}
