// SPDX-License-Identifier: Apache-2.0
/* The snapshot state file: writing and checking its header and sections (format.h). */
#include "snapshot/format.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len)
{
	static uint32_t table[256];
	static _Atomic int ready;
	const uint8_t *p = buf;

	if (!ready) { /* idempotent: racing threads compute the same table */
		for (uint32_t i = 0; i < 256; i++) {
			uint32_t c = i;

			for (int k = 0; k < 8; k++)
				c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
			table[i] = c;
		}
		ready = 1;
	}
	crc = ~crc;
	while (len--)
		crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return ~crc;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = n; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

void snap_begin(struct sbuf *out)
{
	uint8_t h[SNAP_HEADER_SIZE] = { 0 };

	sbuf_put(out, h, sizeof(h));
}

/* A name as snap_parse() accepts it, or the writer fails (snap_finish: -ENOMEM): never a file it refuses. */
static void put_name(struct sbuf *out, const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SNAP_NAME_MAX)
		out->oom = true;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			out->oom = true;
	if (out->oom)
		return;
	sbuf_u8(out, (uint8_t)n);
	sbuf_put(out, s, n);
}

void snap_add(struct sbuf *out, const char *name, const char *kind, uint32_t version, const void *data, size_t len)
{
	if (len > UINT32_MAX) {
		out->oom = true;
		return;
	}
	put_name(out, name);
	put_name(out, kind);
	sbuf_u32(out, version);
	sbuf_u32(out, (uint32_t)len);
	sbuf_put(out, data, len);
	if (out->len >= SNAP_HEADER_SIZE) /* the count lives in the header */
		put_le(out->data + 12, get_le(out->data + 12, 4) + 1, 4);
}

int snap_finish(struct sbuf *out)
{
	uint64_t body;

	if (out->oom || out->len < SNAP_HEADER_SIZE)
		return -ENOMEM;
	body = out->len - SNAP_HEADER_SIZE;
	if (out->len > SNAP_MAX_STATE || get_le(out->data + 12, 4) > SNAP_MAX_SECTIONS)
		return -E2BIG;
	memcpy(out->data, SNAP_MAGIC, 8);
	put_le(out->data + 8, SNAP_VERSION, 4);
	put_le(out->data + 16, body, 8);
	put_le(out->data + 24, snap_crc32c(0, out->data + SNAP_HEADER_SIZE, body), 4);
	put_le(out->data + 28, 0, 4);
	return 0;
}

static __attribute__((format(printf, 3, 4))) int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* A name or kind: 1..SNAP_NAME_MAX printable bytes. */
static bool get_name(struct sreader *r, char *dst)
{
	uint8_t n = sr_u8(r);

	if (!sr_ok(r) || n == 0 || n > SNAP_NAME_MAX || !sr_get(r, dst, n))
		return false;
	dst[n] = 0;
	for (unsigned i = 0; i < n; i++)
		if (dst[i] < 0x21 || dst[i] > 0x7e)
			return false;
	return true;
}

int snap_parse(const void *buf, size_t len, struct snap *out, char *err, size_t errlen)
{
	const uint8_t *p = buf;
	struct sreader r;
	uint64_t body;
	uint32_t version, count;

	out->n = 0;
	if (len < SNAP_HEADER_SIZE)
		return fail(err, errlen, "it is too short to be a vmm snapshot (%zu bytes)", len);
	if (memcmp(p, SNAP_MAGIC, 8) != 0)
		return fail(err, errlen, "it is not a vmm snapshot (no VMMSNAP header)");
	version = (uint32_t)get_le(p + 8, 4);
	if (version != SNAP_VERSION)
		return fail(err, errlen, "it is format version %u; this vmm reads version %u", version, SNAP_VERSION);
	count = (uint32_t)get_le(p + 12, 4);
	body = get_le(p + 16, 8);
	if (body != len - SNAP_HEADER_SIZE)
		return fail(err, errlen, "it is %s (%zu bytes of state; the header says %llu)",
			    body > len - SNAP_HEADER_SIZE ? "truncated" : "longer than its header says",
			    len - SNAP_HEADER_SIZE, (unsigned long long)body);
	if (snap_crc32c(0, p + SNAP_HEADER_SIZE, body) != (uint32_t)get_le(p + 24, 4))
		return fail(err, errlen, "its checksum does not match: the file is corrupt");
	if (get_le(p + 28, 4) != 0)
		return fail(err, errlen, "its header is malformed (reserved bytes set)");
	if (count > SNAP_MAX_SECTIONS)
		return fail(err, errlen, "it has %u sections; at most %d are allowed", count, SNAP_MAX_SECTIONS);
	sreader_init(&r, p + SNAP_HEADER_SIZE, body);
	for (uint32_t i = 0; i < count; i++) {
		struct snap_section *s = &out->sec[i];

		memset(s, 0, sizeof(*s));
		if (!get_name(&r, s->name) || !get_name(&r, s->kind))
			return fail(err, errlen, "section %u has a malformed name", i);
		s->version = sr_u32(&r);
		s->len = sr_u32(&r);
		if (!sr_ok(&r) || s->len > r.len - r.off)
			return fail(err, errlen, "section '%s' runs past the end of the file", s->name);
		s->data = r.p + r.off;
		r.off += s->len;
		for (uint32_t j = 0; j < i; j++)
			if (strcmp(out->sec[j].name, s->name) == 0)
				return fail(err, errlen, "section '%s' appears twice", s->name);
	}
	if (r.off != r.len)
		return fail(err, errlen, "it has %zu bytes after its last section", r.len - r.off);
	out->n = count; /* only now: a refused file has no sections */
	return 0;
}

struct snap_section *snap_find(struct snap *s, const char *name)
{
	for (unsigned i = 0; i < s->n; i++)
		if (strcmp(s->sec[i].name, name) == 0)
			return &s->sec[i];
	return NULL;
}
