// SPDX-License-Identifier: Apache-2.0
/*
 * The snapshot's files: the saved-state writer and reader (snapshot/sbuf.h), the state file's header,
 * sections and checksum (snapshot/format.h), refusing every malformed file, and the sparse memory file
 * (snapshot/ram.h) mapped back by gmem_init_file().
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "memory.h"
#include "snapshot/format.h"
#include "snapshot/ram.h"
#include "snapshot/sbuf.h"
#include "unit.h"

#define PAGE 4096u

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ---- sbuf / sreader ---- */

START_TEST(sbuf_little_endian_round_trip)
{
	static const uint8_t want[] = {
		0x12,                                           /* u8 */
		0x56, 0x34,                                     /* u16 */
		0xde, 0xbc, 0x9a, 0x78,                         /* u32 */
		0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, /* u64 */
		0x01, 0x00,                                     /* bools */
		'x',  'y',  'z',                                /* bytes */
		0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, /* u64 all ones */
	};
	struct sbuf b;
	struct sreader r;
	char s[3];

	sbuf_init(&b);
	sbuf_u8(&b, 0x12);
	sbuf_u16(&b, 0x3456);
	sbuf_u32(&b, 0x789abcdeu);
	sbuf_u64(&b, 0x0123456789abcdefull);
	sbuf_bool(&b, true);
	sbuf_bool(&b, false);
	sbuf_put(&b, "xyz", 3);
	sbuf_put(&b, "ignored", 0);
	sbuf_u64(&b, UINT64_MAX);
	ck_assert(!b.oom);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.data, want, sizeof(want));

	sreader_init(&r, b.data, b.len);
	ck_assert_uint_eq(sr_u8(&r), 0x12);
	ck_assert_uint_eq(sr_u16(&r), 0x3456);
	ck_assert_uint_eq(sr_u32(&r), 0x789abcdeu);
	ck_assert(sr_u64(&r) == 0x0123456789abcdefull);
	ck_assert(sr_bool(&r));
	ck_assert(!sr_bool(&r));
	ck_assert(sr_get(&r, s, 3));
	ck_assert_mem_eq(s, "xyz", 3);
	ck_assert(sr_get(&r, s, 0));
	ck_assert(sr_u64(&r) == UINT64_MAX);
	ck_assert(sr_ok(&r));
	ck_assert(sr_done(&r));
	sbuf_free(&b);
	ck_assert_ptr_null(b.data);
	ck_assert_uint_eq(b.len, 0);
}
END_TEST

/* Large buffers grow past the first allocation with their contents intact. */
START_TEST(sbuf_grows)
{
	struct sbuf b;

	sbuf_init(&b);
	for (uint32_t i = 0; i < 10000; i++)
		sbuf_u32(&b, i * 2654435761u);
	ck_assert(!b.oom);
	ck_assert_uint_eq(b.len, 40000);
	ck_assert_uint_ge(b.cap, b.len);
	for (uint32_t i = 0; i < 10000; i++)
		ck_assert_uint_eq(get_le32(b.data + 4 * i), i * 2654435761u);
	sbuf_free(&b);
}
END_TEST

/* An impossible size marks the buffer out of memory (without reading the source) and it stays so. */
START_TEST(sbuf_oom_sticks)
{
	struct sbuf b;
	uint8_t x = 1;

	sbuf_init(&b);
	sbuf_u32(&b, 7);
	sbuf_put(&b, &x, SIZE_MAX);
	ck_assert(b.oom);
	sbuf_u8(&b, 1);
	ck_assert_uint_eq(b.len, 4);
	ck_assert_int_eq(snap_finish(&b), -ENOMEM);
	sbuf_free(&b);
}
END_TEST

/* A read past the end zero-fills, marks the reader bad, and every later read fails too. */
START_TEST(sreader_short_read)
{
	static const uint8_t in[] = { 0x11, 0x22, 0x33, 0x44, 0x55 };
	struct sreader r;
	uint8_t buf[8];

	sreader_init(&r, in, 3);
	ck_assert_uint_eq(sr_u32(&r), 0);
	ck_assert(!sr_ok(&r));
	ck_assert(!sr_done(&r));
	ck_assert_uint_eq(r.off, 0);
	/* Bytes remain, but a bad reader stays bad and reads zeros. */
	ck_assert_uint_eq(sr_u8(&r), 0);
	memset(buf, 0xaa, sizeof(buf));
	ck_assert(!sr_get(&r, buf, sizeof(buf)));
	for (unsigned i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], 0);

	/* Each width, one byte short. */
	sreader_init(&r, in, 1);
	ck_assert_uint_eq(sr_u16(&r), 0);
	ck_assert(!sr_ok(&r));
	sreader_init(&r, in, 7 > sizeof(in) ? sizeof(in) : 7);
	ck_assert(sr_u64(&r) == 0);
	ck_assert(!sr_ok(&r));
	sreader_init(&r, in, 0);
	ck_assert_uint_eq(sr_u8(&r), 0);
	ck_assert(!sr_ok(&r));
	sreader_init(&r, in, 0);
	ck_assert(!sr_bool(&r));
	ck_assert(!sr_ok(&r));

	/* A read that fits exactly is fine; the next one is not. */
	sreader_init(&r, in, 4);
	ck_assert_uint_eq(sr_u32(&r), 0x44332211u);
	ck_assert(sr_done(&r));
	memset(buf, 0xaa, sizeof(buf));
	ck_assert(!sr_get(&r, buf, 1));
	ck_assert_uint_eq(buf[0], 0);
	ck_assert_uint_eq(buf[1], 0xaa);
	ck_assert(!sr_ok(&r));
}
END_TEST

START_TEST(sreader_bool)
{
	static const uint8_t in[] = { 0, 1, 2 };
	static const uint8_t big[] = { 0xff };
	struct sreader r;

	sreader_init(&r, in, sizeof(in));
	ck_assert(!sr_bool(&r));
	ck_assert(sr_bool(&r));
	ck_assert(sr_ok(&r));
	ck_assert(!sr_bool(&r)); /* 2 is not a bool */
	ck_assert(!sr_ok(&r));
	ck_assert(!sr_done(&r));
	sreader_init(&r, big, sizeof(big));
	(void)sr_bool(&r);
	ck_assert(!sr_ok(&r));
}
END_TEST

START_TEST(sreader_done_and_fail)
{
	static const uint8_t in[] = { 1, 2, 3 };
	struct sreader r;

	sreader_init(&r, in, sizeof(in));
	ck_assert(!sr_done(&r)); /* nothing read yet */
	ck_assert_uint_eq(sr_u16(&r), 0x0201);
	ck_assert(sr_ok(&r));
	ck_assert(!sr_done(&r)); /* a byte left over */
	ck_assert_uint_eq(sr_u8(&r), 3);
	ck_assert(sr_done(&r));
	sr_fail(&r);
	ck_assert(!sr_ok(&r));
	ck_assert(!sr_done(&r));

	sreader_init(&r, NULL, 0);
	ck_assert(sr_done(&r)); /* empty state, read in full */
}
END_TEST

/* ---- The state file ---- */

static const uint8_t blob_a[] = { 0x01, 0x02, 0x03, 0x00, 0xff };

/* A valid state file of four sections (one empty, one of 300 bytes) in b. */
static void build_file(struct sbuf *b)
{
	uint8_t big[300];

	for (unsigned i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7 + 1);
	sbuf_init(b);
	snap_begin(b);
	snap_add(b, "serial", "serial", 1, blob_a, sizeof(blob_a));
	snap_add(b, "vcpu0", "vcpu-x86", 3, big, sizeof(big));
	snap_add(b, "pm", "pm", 1, NULL, 0);
	snap_add(b, "pci-00:02.0", "virtio-blk", 0xfedcba98u, "abc", 3);
	ck_assert_int_eq(snap_finish(b), 0);
}

/* Parse a heap copy of exactly n bytes (so that ASan sees any read past them); the copy is freed. */
static int parse_copy(const void *p, size_t n, char *err, size_t errlen)
{
	struct snap *s = malloc(sizeof(*s));
	uint8_t *copy = malloc(n ? n : 1);
	int ret;

	ck_assert_ptr_nonnull(s);
	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, p, n);
	if (errlen)
		err[0] = 0;
	ret = snap_parse(copy, n, s, err, errlen);
	free(copy);
	free(s);
	return ret;
}

/* Refused with -EINVAL and a message containing what. */
static void refused(const void *p, size_t n, const char *what)
{
	char err[256];

	ck_assert_int_eq(parse_copy(p, n, err, sizeof(err)), -EINVAL);
	ck_assert_msg(err[0] != 0, "no message for a refused file of %zu bytes", n);
	ck_assert_msg(strstr(err, what), "message '%s' does not say '%s'", err, what);
}

/*
 * A state file around body built by hand: a correct header (magic, version, body length, checksum) that
 * claims count sections, whatever the body holds. Returned in f (sbuf_free it).
 */
static void hand_file(struct sbuf *f, uint32_t count, const struct sbuf *body)
{
	sbuf_init(f);
	sbuf_put(f, SNAP_MAGIC, 8);
	sbuf_u32(f, SNAP_VERSION);
	sbuf_u32(f, count);
	sbuf_u64(f, body->len);
	sbuf_u32(f, snap_crc32c(0, body->data, body->len));
	sbuf_u32(f, 0);
	sbuf_put(f, body->data, body->len);
	ck_assert(!f->oom);
}

/* One section's bytes as the format lays them out, with whatever lengths the caller claims. */
static void hand_section(struct sbuf *b, uint8_t name_len, const char *name, uint8_t kind_len, const char *kind,
			 uint32_t version, uint32_t claimed_len, const void *data, size_t len)
{
	sbuf_u8(b, name_len);
	sbuf_put(b, name, strlen(name));
	sbuf_u8(b, kind_len);
	sbuf_put(b, kind, strlen(kind));
	sbuf_u32(b, version);
	sbuf_u32(b, claimed_len);
	sbuf_put(b, data, len);
}

static void plain_section(struct sbuf *b, const char *name, const char *kind, const void *data, size_t len)
{
	hand_section(b, (uint8_t)strlen(name), name, (uint8_t)strlen(kind), kind, 1, (uint32_t)len, data, len);
}

/* Parse a hand-built file of count sections; 0 or -EINVAL, with the message in err. */
static int parse_hand(uint32_t count, const struct sbuf *body, char *err, size_t errlen)
{
	struct sbuf f;
	int ret;

	hand_file(&f, count, body);
	ret = parse_copy(f.data, f.len, err, errlen);
	sbuf_free(&f);
	return ret;
}

static void hand_refused(uint32_t count, const struct sbuf *body, const char *what)
{
	struct sbuf f;

	hand_file(&f, count, body);
	refused(f.data, f.len, what);
	sbuf_free(&f);
}

START_TEST(crc32c_known_answer)
{
	ck_assert_uint_eq(snap_crc32c(0, "123456789", 9), 0xe3069283u);
	ck_assert_uint_eq(snap_crc32c(0, "", 0), 0);
	ck_assert_uint_eq(snap_crc32c(0x1234, "", 0), 0x1234);
	/* It chains: the CRC of a whole is that of its pieces fed in order. */
	ck_assert_uint_eq(snap_crc32c(snap_crc32c(0, "1234", 4), "56789", 5), 0xe3069283u);
	/* RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of ones. */
	{
		uint8_t z[32];

		memset(z, 0, sizeof(z));
		ck_assert_uint_eq(snap_crc32c(0, z, sizeof(z)), 0x8a9136aau);
		memset(z, 0xff, sizeof(z));
		ck_assert_uint_eq(snap_crc32c(0, z, sizeof(z)), 0x62a8ab43u);
	}
}
END_TEST

START_TEST(file_round_trip)
{
	struct snap *s = malloc(sizeof(*s));
	struct snap_section *sec;
	struct sbuf b;
	char err[128] = "";

	ck_assert_ptr_nonnull(s);
	build_file(&b);
	/* The header as format.h lays it out. */
	ck_assert_mem_eq(b.data, "VMMSNAP\0", 8);
	ck_assert_uint_eq(get_le32(b.data + 8), SNAP_VERSION);
	ck_assert_uint_eq(get_le32(b.data + 12), 4);
	ck_assert_uint_eq(get_le32(b.data + 16), b.len - SNAP_HEADER_SIZE);
	ck_assert_uint_eq(get_le32(b.data + 20), 0);
	ck_assert_uint_eq(get_le32(b.data + 24), snap_crc32c(0, b.data + SNAP_HEADER_SIZE, b.len - SNAP_HEADER_SIZE));
	ck_assert_uint_eq(get_le32(b.data + 28), 0);

	ck_assert_int_eq(snap_parse(b.data, b.len, s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s->n, 4);
	ck_assert_str_eq(s->sec[0].name, "serial");
	ck_assert_str_eq(s->sec[0].kind, "serial");
	ck_assert_uint_eq(s->sec[0].version, 1);
	ck_assert_uint_eq(s->sec[0].len, sizeof(blob_a));
	ck_assert_mem_eq(s->sec[0].data, blob_a, sizeof(blob_a));
	ck_assert_str_eq(s->sec[1].name, "vcpu0");
	ck_assert_str_eq(s->sec[1].kind, "vcpu-x86");
	ck_assert_uint_eq(s->sec[1].version, 3);
	ck_assert_uint_eq(s->sec[1].len, 300);
	for (unsigned i = 0; i < 300; i++)
		ck_assert_uint_eq(s->sec[1].data[i], (uint8_t)(i * 7 + 1));
	ck_assert_str_eq(s->sec[2].name, "pm");
	ck_assert_str_eq(s->sec[2].kind, "pm");
	ck_assert_uint_eq(s->sec[2].len, 0);
	ck_assert_str_eq(s->sec[3].name, "pci-00:02.0");
	ck_assert_str_eq(s->sec[3].kind, "virtio-blk");
	ck_assert_uint_eq(s->sec[3].version, 0xfedcba98u);
	ck_assert_uint_eq(s->sec[3].len, 3);
	ck_assert_mem_eq(s->sec[3].data, "abc", 3);
	for (unsigned i = 0; i < s->n; i++) {
		ck_assert(!s->sec[i].used);
		/* The bytes are pointers into the file, inside its body. */
		ck_assert(s->sec[i].data >= b.data + SNAP_HEADER_SIZE);
		ck_assert(s->sec[i].data + s->sec[i].len <= b.data + b.len);
	}

	sec = snap_find(s, "vcpu0");
	ck_assert_ptr_eq(sec, &s->sec[1]);
	ck_assert_ptr_eq(snap_find(s, "pci-00:02.0"), &s->sec[3]);
	ck_assert_ptr_eq(snap_find(s, "serial"), &s->sec[0]);
	ck_assert_ptr_null(snap_find(s, "vcpu"));
	ck_assert_ptr_null(snap_find(s, "vcpu00"));
	ck_assert_ptr_null(snap_find(s, ""));
	ck_assert_ptr_null(snap_find(s, "virtio-blk")); /* a kind, not a name */
	sbuf_free(&b);
	free(s);
}
END_TEST

/* No sections at all: a header alone is a valid (empty) state file. */
START_TEST(file_empty)
{
	struct snap *s = malloc(sizeof(*s));
	struct sbuf b;
	char err[128];

	ck_assert_ptr_nonnull(s);
	sbuf_init(&b);
	snap_begin(&b);
	ck_assert_int_eq(snap_finish(&b), 0);
	ck_assert_uint_eq(b.len, SNAP_HEADER_SIZE);
	ck_assert_int_eq(snap_parse(b.data, b.len, s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s->n, 0);
	ck_assert_ptr_null(snap_find(s, "serial"));
	sbuf_free(&b);
	free(s);
}
END_TEST

/* A name or kind snap_parse() would refuse (too long, empty, not printable) fails the writer instead. */
START_TEST(file_long_name_cut)
{
	const char *bad[] = { "a-very-long-section-name-0123456789", "", "tab\there" };
	struct sbuf b;

	for (unsigned i = 0; i < 3; i++) {
		sbuf_init(&b);
		snap_begin(&b);
		snap_add(&b, bad[i], "kind", 1, "x", 1);
		ck_assert_int_eq(snap_finish(&b), -ENOMEM);
		sbuf_free(&b);
		sbuf_init(&b);
		snap_begin(&b);
		snap_add(&b, "name", bad[i], 1, "x", 1);
		ck_assert_int_eq(snap_finish(&b), -ENOMEM);
		sbuf_free(&b);
	}
}
END_TEST

START_TEST(file_every_prefix_refused)
{
	struct sbuf b;

	build_file(&b);
	for (size_t n = 0; n < b.len; n++)
		refused(b.data, n, n < SNAP_HEADER_SIZE ? "too short" : "truncated");
	ck_assert_int_eq(parse_copy(b.data, b.len, NULL, 0), 0);
	sbuf_free(&b);
}
END_TEST

START_TEST(file_body_flip_refused)
{
	static const uint8_t masks[] = { 0x01, 0x80, 0xff };
	struct sbuf b;

	build_file(&b);
	for (size_t off = SNAP_HEADER_SIZE; off < b.len; off++) {
		for (unsigned m = 0; m < sizeof(masks); m++) {
			b.data[off] ^= masks[m];
			refused(b.data, b.len, "checksum");
			b.data[off] ^= masks[m];
		}
	}
	ck_assert_int_eq(parse_copy(b.data, b.len, NULL, 0), 0);
	sbuf_free(&b);
}
END_TEST

START_TEST(file_header_refused)
{
	struct sbuf b;

	build_file(&b);
	for (size_t off = 0; off < 8; off++) {
		b.data[off] ^= 0x20;
		refused(b.data, b.len, "not a vmm snapshot");
		b.data[off] ^= 0x20;
	}
	for (size_t off = 8; off < 12; off++) {
		b.data[off] ^= 0x04;
		refused(b.data, b.len, "format version");
		b.data[off] ^= 0x04;
	}
	put_le32(b.data + 8, 2);
	refused(b.data, b.len, "it is format version 2; this vmm reads version 1");
	put_le32(b.data + 8, 0);
	refused(b.data, b.len, "format version 0");
	put_le32(b.data + 8, SNAP_VERSION);
	/* Section count, body length, checksum: the header is not under the checksum, but each is checked. */
	for (size_t off = 12; off < 28; off++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			char err[256];

			b.data[off] ^= (uint8_t)(1u << bit);
			ck_assert_int_eq(parse_copy(b.data, b.len, err, sizeof(err)), -EINVAL);
			ck_assert(err[0]);
			b.data[off] ^= (uint8_t)(1u << bit);
		}
	}
	b.data[24] ^= 1;
	refused(b.data, b.len, "checksum");
	b.data[24] ^= 1;
	ck_assert_int_eq(parse_copy(b.data, b.len, NULL, 0), 0);
	sbuf_free(&b);
}
END_TEST

START_TEST(file_body_length_mismatch)
{
	struct sbuf b, longer;
	uint64_t body;

	build_file(&b);
	body = b.len - SNAP_HEADER_SIZE;
	put_le32(b.data + 16, (uint32_t)(body + 1));
	refused(b.data, b.len, "truncated");
	put_le32(b.data + 16, (uint32_t)(body - 1));
	refused(b.data, b.len, "longer than its header says");
	put_le32(b.data + 16, 0);
	refused(b.data, b.len, "longer than its header says");
	put_le32(b.data + 16, (uint32_t)body);
	put_le32(b.data + 20, 1); /* the high half: 4 GiB more */
	refused(b.data, b.len, "truncated");
	put_le32(b.data + 16, UINT32_MAX);
	put_le32(b.data + 20, UINT32_MAX);
	refused(b.data, b.len, "truncated");
	put_le32(b.data + 16, (uint32_t)body);
	put_le32(b.data + 20, 0);

	/* Bytes appended after a file whose header is intact. */
	sbuf_init(&longer);
	sbuf_put(&longer, b.data, b.len);
	sbuf_put(&longer, "\0\0\0", 3);
	refused(longer.data, longer.len, "longer than its header says");
	sbuf_free(&longer);
	sbuf_free(&b);
}
END_TEST

/* The checksum matches, the layout does not. */
START_TEST(file_section_past_end)
{
	struct sbuf body;
	char err[256];

	/* Claims 100 bytes, has 10. */
	sbuf_init(&body);
	hand_section(&body, 3, "rtc", 3, "rtc", 1, 100, "0123456789", 10);
	hand_refused(1, &body, "section 'rtc' runs past the end");
	sbuf_free(&body);

	/* A length that would wrap a pointer. */
	sbuf_init(&body);
	plain_section(&body, "serial", "serial", blob_a, sizeof(blob_a));
	hand_section(&body, 3, "rtc", 3, "rtc", 1, UINT32_MAX, "0123456789", 10);
	hand_refused(2, &body, "runs past the end");
	sbuf_free(&body);

	/* One byte too many claimed; then exactly right. */
	sbuf_init(&body);
	hand_section(&body, 2, "pm", 2, "pm", 1, 4, "abc", 3);
	hand_refused(1, &body, "runs past the end");
	sbuf_free(&body);
	sbuf_init(&body);
	hand_section(&body, 2, "pm", 2, "pm", 1, 3, "abc", 3);
	ck_assert_int_eq(parse_hand(1, &body, err, sizeof(err)), 0);
	sbuf_free(&body);

	/* The body ends inside a section's header: in its version, its length, its kind. */
	sbuf_init(&body);
	sbuf_u8(&body, 2);
	sbuf_put(&body, "pm", 2);
	sbuf_u8(&body, 2);
	sbuf_put(&body, "pm", 2);
	sbuf_u16(&body, 1);
	hand_refused(1, &body, "runs past the end");
	sbuf_u16(&body, 0);
	sbuf_u16(&body, 0);
	hand_refused(1, &body, "runs past the end");
	sbuf_free(&body);
	sbuf_init(&body);
	sbuf_u8(&body, 2);
	sbuf_put(&body, "pm", 2);
	sbuf_u8(&body, 9);
	sbuf_put(&body, "pm", 2);
	hand_refused(1, &body, "malformed name");
	sbuf_free(&body);
}
END_TEST

/* The header's count disagrees with the sections in the body (checksum correct). */
START_TEST(file_count_mismatch)
{
	struct sbuf body;
	char err[256];

	sbuf_init(&body);
	plain_section(&body, "serial", "serial", blob_a, sizeof(blob_a));
	plain_section(&body, "pm", "pm", NULL, 0);
	ck_assert_int_eq(parse_hand(2, &body, err, sizeof(err)), 0);
	hand_refused(1, &body, "bytes after its last section");
	hand_refused(0, &body, "bytes after its last section");
	hand_refused(3, &body, "section 2 has a malformed name");
	hand_refused(SNAP_MAX_SECTIONS, &body, "malformed name");
	sbuf_free(&body);
}
END_TEST

START_TEST(file_duplicate_names)
{
	struct sbuf b, body;

	sbuf_init(&b);
	snap_begin(&b);
	snap_add(&b, "serial", "serial", 1, blob_a, sizeof(blob_a));
	snap_add(&b, "rtc", "rtc", 1, NULL, 0);
	snap_add(&b, "serial", "pm", 2, "x", 1); /* another kind, same name */
	ck_assert_int_eq(snap_finish(&b), 0);
	refused(b.data, b.len, "section 'serial' appears twice");
	sbuf_free(&b);

	sbuf_init(&body);
	plain_section(&body, "a", "x", NULL, 0);
	plain_section(&body, "a", "x", NULL, 0);
	hand_refused(2, &body, "appears twice");
	sbuf_free(&body);

	/* Names differing in case or by a prefix are different names. */
	sbuf_init(&body);
	plain_section(&body, "a", "x", NULL, 0);
	plain_section(&body, "A", "x", NULL, 0);
	plain_section(&body, "aa", "x", NULL, 0);
	ck_assert_int_eq(parse_hand(3, &body, NULL, 0), 0);
	sbuf_free(&body);
}
END_TEST

/* A one-section file whose name (or kind) is name_len bytes of name: 0, or -EINVAL saying why. */
static int parse_named(uint8_t name_len, const char *name, bool as_kind)
{
	struct sbuf body;
	char err[256];
	int ret;

	sbuf_init(&body);
	if (as_kind) {
		sbuf_u8(&body, 2);
		sbuf_put(&body, "ok", 2);
	}
	sbuf_u8(&body, name_len);
	sbuf_put(&body, name, name_len);
	if (!as_kind) {
		sbuf_u8(&body, 2);
		sbuf_put(&body, "ok", 2);
	}
	sbuf_u32(&body, 1);
	sbuf_u32(&body, 2);
	sbuf_put(&body, "zz", 2);
	ret = parse_hand(1, &body, err, sizeof(err));
	if (ret)
		ck_assert_msg(strstr(err, "malformed name"), "message '%s'", err);
	sbuf_free(&body);
	return ret;
}

START_TEST(file_bad_names)
{
	static const uint8_t bad_bytes[] = { 0x00, 0x01, 0x09, 0x0a, 0x1f, 0x20, 0x7f, 0x80, 0xc3, 0xff };
	char name[256];

	for (int as_kind = 0; as_kind < 2; as_kind++) {
		/* Length 0, 32 and beyond. */
		ck_assert_int_eq(parse_named(0, "", as_kind), -EINVAL);
		memset(name, 'n', sizeof(name));
		ck_assert_int_eq(parse_named(SNAP_NAME_MAX + 1, name, as_kind), -EINVAL);
		ck_assert_int_eq(parse_named(63, name, as_kind), -EINVAL);
		ck_assert_int_eq(parse_named(255, name, as_kind), -EINVAL);
		/* 1 and 31 are fine, so are the printable edges. */
		ck_assert_int_eq(parse_named(1, name, as_kind), 0);
		ck_assert_int_eq(parse_named(SNAP_NAME_MAX, name, as_kind), 0);
		ck_assert_int_eq(parse_named(3, "!~!", as_kind), 0);
		/* A non-printable byte first, in the middle, last. */
		for (unsigned i = 0; i < sizeof(bad_bytes); i++) {
			for (unsigned at = 0; at < 5; at += 2) {
				memcpy(name, "vcpu0", 5);
				name[at] = (char)bad_bytes[i];
				ck_assert_msg(parse_named(5, name, as_kind) == -EINVAL, "byte 0x%02x at %u (%s) accepted",
					      bad_bytes[i], at, as_kind ? "kind" : "name");
			}
		}
	}
}
END_TEST

START_TEST(file_too_many_sections)
{
	struct snap *s = malloc(sizeof(*s));
	struct sbuf b, body;
	char name[16], err[256];

	ck_assert_ptr_nonnull(s);
	/* Exactly SNAP_MAX_SECTIONS: written and read back. */
	sbuf_init(&b);
	snap_begin(&b);
	for (unsigned i = 0; i < SNAP_MAX_SECTIONS; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		snap_add(&b, name, "k", i, &i, 1);
	}
	ck_assert_int_eq(snap_finish(&b), 0);
	ck_assert_int_eq(snap_parse(b.data, b.len, s, err, sizeof(err)), 0);
	ck_assert_uint_eq(s->n, SNAP_MAX_SECTIONS);
	ck_assert_ptr_eq(snap_find(s, "s255"), &s->sec[255]);
	ck_assert_uint_eq(s->sec[255].version, 255);
	/* One more: the writer refuses it. */
	snap_add(&b, "s256", "k", 0, NULL, 0);
	ck_assert_int_eq(snap_finish(&b), -E2BIG);
	sbuf_free(&b);

	/* By hand with a correct checksum: 257 sections, each well formed. */
	sbuf_init(&body);
	for (unsigned i = 0; i <= SNAP_MAX_SECTIONS; i++) {
		snprintf(name, sizeof(name), "s%u", i);
		plain_section(&body, name, "k", NULL, 0);
	}
	hand_refused(SNAP_MAX_SECTIONS + 1, &body, "at most 256");
	hand_refused(UINT32_MAX, &body, "sections; at most");
	sbuf_free(&body);
	/* A huge count over an empty body. */
	sbuf_init(&body);
	hand_refused(0x80000000u, &body, "at most");
	sbuf_free(&body);
	free(s);
}
END_TEST

/* The message fits any buffer (cut, NUL-terminated), or is skipped with none. */
START_TEST(file_error_buffer)
{
	static const uint8_t junk[40] = "NOTASNAPSHOT";
	char err[8];

	memset(err, 'x', sizeof(err));
	ck_assert_int_eq(snap_parse(junk, sizeof(junk), &(struct snap){ 0 }, err, sizeof(err)), -EINVAL);
	ck_assert_uint_eq(strlen(err), sizeof(err) - 1);
	ck_assert_int_eq(snap_parse(junk, sizeof(junk), &(struct snap){ 0 }, NULL, 0), -EINVAL);
	ck_assert_int_eq(snap_parse(junk, 3, &(struct snap){ 0 }, NULL, 0), -EINVAL);
	ck_assert_int_eq(snap_parse(NULL, 0, &(struct snap){ 0 }, err, sizeof(err)), -EINVAL);
}
END_TEST

/* ---- The memory file ---- */

static const char *tmp_dir(void)
{
	const char *d = getenv("TMPDIR");

	return d && *d ? d : "/tmp";
}

/* An empty temporary file, already unlinked. */
static int tmp_file(void)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s/vmm-test-snapshot-XXXXXX", tmp_dir());
	fd = mkstemp(path);
	ck_assert_msg(fd >= 0, "mkstemp %s: %s", path, strerror(errno));
	unlink(path);
	return fd;
}

/* Does the temporary directory's file system keep holes (a truncated file has no blocks)? */
static bool tmp_has_holes(void)
{
	int fd = tmp_file();
	struct stat st;
	bool holes;

	ck_assert_int_eq(ftruncate(fd, 8 << 20), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	holes = st.st_blocks == 0;
	close(fd);
	return holes;
}

#define RAM_SIZE (8u << 20)

/* Fill the page at off with a pattern (or, with one, a single non-zero byte at byte). */
static void dirty(uint8_t *base, uint64_t off, int one, unsigned byte)
{
	if (one) {
		base[off + byte] = 0x5a;
		return;
	}
	for (unsigned i = 0; i < PAGE; i++)
		base[off + i] = (uint8_t)((off / PAGE) * 31 + i + 1);
}

START_TEST(ram_sparse_file)
{
	struct guest_mem m, back;
	uint64_t written = 12345, pages = 0;
	uint8_t *file, *base;
	struct stat st;
	ssize_t got;
	int fd;

	ck_assert_int_eq(gmem_init(&m, RAM_SIZE), 0);
	ck_assert_uint_eq(m.map_size, RAM_SIZE);
	base = m.map;
	/* Pages 0, 1 and 7; a run of 260 pages across the 1 MiB write limit; single bytes first and last in a page. */
	dirty(base, 0, 0, 0);
	dirty(base, PAGE, 0, 0);
	dirty(base, 7 * PAGE, 0, 0);
	pages += 3;
	for (uint64_t p = 510; p < 770; p++)
		dirty(base, p * PAGE, 0, 0);
	pages += 260;
	dirty(base, 1000 * PAGE, 1, 0);
	dirty(base, 1002 * PAGE, 1, PAGE - 1);
	dirty(base, RAM_SIZE - PAGE, 1, PAGE - 1);
	pages += 3;
	/* Pages written and cleared again are zero: holes as well. */
	memset(base + 1500 * PAGE, 0x77, 4 * PAGE);
	memset(base + 1500 * PAGE, 0, 4 * PAGE);

	fd = tmp_file();
	ck_assert_int_eq(snap_mem_write(&m, fd, &written), 0);
	ck_assert(written == pages * PAGE);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, RAM_SIZE);

	file = malloc(RAM_SIZE);
	ck_assert_ptr_nonnull(file);
	got = pread(fd, file, RAM_SIZE, 0);
	ck_assert_int_eq(got, RAM_SIZE);
	ck_assert_int_eq(memcmp(file, base, RAM_SIZE), 0);

	if (tmp_has_holes()) {
		ck_assert_int_eq(fsync(fd), 0);
		ck_assert_int_eq(fstat(fd, &st), 0);
		ck_assert_msg((uint64_t)st.st_blocks * 512 <= RAM_SIZE / 2,
			      "memory file of %u bytes (%llu written) occupies %llu bytes: not sparse", RAM_SIZE,
			      (unsigned long long)written, (unsigned long long)st.st_blocks * 512);
	} else {
		printf("note: %s keeps no holes; the sparseness check is skipped\n", tmp_dir());
	}

	/* Mapped back: the same bytes; writes stay in this mapping (MAP_PRIVATE). */
	ck_assert_int_eq(gmem_init_file(&back, RAM_SIZE, fd), 0);
	ck_assert_int_eq(back.nr, 1);
	ck_assert_uint_eq(back.ram_size, RAM_SIZE);
	ck_assert_int_eq(memcmp(back.map, base, RAM_SIZE), 0);
	{
		uint8_t v = 0, w = 0xee;

		ck_assert_int_eq(gmem_read(&back, 7 * PAGE + 5, &v, 1), 0);
		ck_assert_uint_eq(v, base[7 * PAGE + 5]);
		ck_assert_int_eq(gmem_write(&back, 7 * PAGE + 5, &w, 1), 0);
		ck_assert_int_eq(gmem_write(&back, 3 * PAGE, &w, 1), 0); /* a hole */
	}
	memset((uint8_t *)back.map + 600 * PAGE, 0x11, 2 * PAGE);
	got = pread(fd, file, RAM_SIZE, 0);
	ck_assert_int_eq(got, RAM_SIZE);
	ck_assert_int_eq(memcmp(file, base, RAM_SIZE), 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, RAM_SIZE);

	/* A second mapping of the same file sees the file, not the first one's writes. */
	{
		struct guest_mem other;

		ck_assert_int_eq(gmem_init_file(&other, RAM_SIZE, fd), 0);
		ck_assert_int_eq(memcmp(other.map, base, RAM_SIZE), 0);
		gmem_destroy(&other);
	}
	gmem_destroy(&back);
	free(file);
	close(fd);
	gmem_destroy(&m);
}
END_TEST

/* All-zero RAM writes nothing but the file's length. */
START_TEST(ram_all_zero)
{
	struct guest_mem m;
	uint64_t written = 1;
	struct stat st;
	int fd = tmp_file();

	ck_assert_int_eq(gmem_init(&m, 1u << 20), 0);
	ck_assert_int_eq(snap_mem_write(&m, fd, &written), 0);
	ck_assert(written == 0);
	ck_assert_int_eq(fstat(fd, &st), 0);
	ck_assert_int_eq(st.st_size, 1u << 20);
	if (tmp_has_holes())
		ck_assert_int_eq(st.st_blocks, 0);
	close(fd);
	gmem_destroy(&m);
}
END_TEST

/* Only memory that gmem_init made (one mapping) can be written; a bad fd is an errno. */
START_TEST(ram_refused)
{
	struct guest_mem m = { 0 };
	static uint8_t page[PAGE] __attribute__((aligned(4096)));
	uint64_t written = 1;

	ck_assert_int_eq(gmem_add_region(&m, 0, sizeof(page), page), 0);
	ck_assert_int_eq(snap_mem_write(&m, -1, &written), -EINVAL);
	ck_assert(written == 0);
	ck_assert_int_eq(gmem_init(&m, 1u << 20), 0);
	ck_assert_int_lt(snap_mem_write(&m, -1, &written), 0);
	gmem_destroy(&m);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("snapshot");
	TCase *tc = tcase_create("snapshot");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, sbuf_little_endian_round_trip);
	tcase_add_test(tc, sbuf_grows);
	tcase_add_test(tc, sbuf_oom_sticks);
	tcase_add_test(tc, sreader_short_read);
	tcase_add_test(tc, sreader_bool);
	tcase_add_test(tc, sreader_done_and_fail);
	tcase_add_test(tc, crc32c_known_answer);
	tcase_add_test(tc, file_round_trip);
	tcase_add_test(tc, file_empty);
	tcase_add_test(tc, file_long_name_cut);
	tcase_add_test(tc, file_every_prefix_refused);
	tcase_add_test(tc, file_body_flip_refused);
	tcase_add_test(tc, file_header_refused);
	tcase_add_test(tc, file_body_length_mismatch);
	tcase_add_test(tc, file_section_past_end);
	tcase_add_test(tc, file_count_mismatch);
	tcase_add_test(tc, file_duplicate_names);
	tcase_add_test(tc, file_bad_names);
	tcase_add_test(tc, file_too_many_sections);
	tcase_add_test(tc, file_error_buffer);
	tcase_add_test(tc, ram_sparse_file);
	tcase_add_test(tc, ram_all_zero);
	tcase_add_test(tc, ram_refused);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
