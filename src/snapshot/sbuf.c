// SPDX-License-Identifier: Apache-2.0
/* The saved-state writer and reader (sbuf.h). */
#include "snapshot/sbuf.h"

#include <stdlib.h>
#include <string.h>

void sbuf_init(struct sbuf *b)
{
	*b = (struct sbuf){ 0 };
}

void sbuf_free(struct sbuf *b)
{
	free(b->data);
	*b = (struct sbuf){ 0 };
}

void sbuf_put(struct sbuf *b, const void *p, size_t n)
{
	if (b->oom || n == 0)
		return;
	if (n > SIZE_MAX / 2 - b->len) {
		b->oom = true;
		return;
	}
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		uint8_t *d;

		while (cap < b->len + n)
			cap *= 2;
		d = realloc(b->data, cap);
		if (!d) {
			b->oom = true;
			return;
		}
		b->data = d;
		b->cap = cap;
	}
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

void sbuf_u8(struct sbuf *b, uint8_t v)
{
	sbuf_put(b, &v, 1);
}

void sbuf_u16(struct sbuf *b, uint16_t v)
{
	uint8_t x[2] = { (uint8_t)v, (uint8_t)(v >> 8) };

	sbuf_put(b, x, sizeof(x));
}

void sbuf_u32(struct sbuf *b, uint32_t v)
{
	uint8_t x[4];

	for (int i = 0; i < 4; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	sbuf_put(b, x, sizeof(x));
}

void sbuf_u64(struct sbuf *b, uint64_t v)
{
	uint8_t x[8];

	for (int i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	sbuf_put(b, x, sizeof(x));
}

void sbuf_bool(struct sbuf *b, bool v)
{
	sbuf_u8(b, v ? 1 : 0);
}

void sreader_init(struct sreader *r, const void *p, size_t len)
{
	*r = (struct sreader){ .p = p, .len = len };
}

bool sr_get(struct sreader *r, void *p, size_t n)
{
	if (r->bad || n > r->len - r->off) {
		r->bad = true;
		memset(p, 0, n);
		return false;
	}
	memcpy(p, r->p + r->off, n);
	r->off += n;
	return true;
}

uint8_t sr_u8(struct sreader *r)
{
	uint8_t v;

	sr_get(r, &v, 1);
	return v;
}

uint16_t sr_u16(struct sreader *r)
{
	uint8_t x[2];

	sr_get(r, x, sizeof(x));
	return (uint16_t)(x[0] | x[1] << 8);
}

uint32_t sr_u32(struct sreader *r)
{
	uint8_t x[4];
	uint32_t v = 0;

	sr_get(r, x, sizeof(x));
	for (int i = 3; i >= 0; i--)
		v = v << 8 | x[i];
	return v;
}

uint64_t sr_u64(struct sreader *r)
{
	uint8_t x[8];
	uint64_t v = 0;

	sr_get(r, x, sizeof(x));
	for (int i = 7; i >= 0; i--)
		v = v << 8 | x[i];
	return v;
}

bool sr_bool(struct sreader *r)
{
	uint8_t v = sr_u8(r);

	if (v > 1)
		r->bad = true;
	return v == 1;
}

void sr_fail(struct sreader *r)
{
	r->bad = true;
}
