/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The bytes of a saved state: a growing writer (struct sbuf) and a bounds-checked reader (struct
 * sreader). Integers are little-endian and fixed-width. A reader never reads past its end: a short
 * read zero-fills, sets bad and stays bad, so a restore function reads everything it wants and checks
 * sr_ok() once (or sr_done(): also nothing left over). A snapshot file is hostile input.
 */
#ifndef VMM_SNAPSHOT_SBUF_H
#define VMM_SNAPSHOT_SBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sbuf {
	uint8_t *data;
	size_t len, cap;
	bool oom;      /* an allocation failed: the contents are incomplete */
};

void sbuf_init(struct sbuf *b);
void sbuf_free(struct sbuf *b);
void sbuf_put(struct sbuf *b, const void *p, size_t n);
void sbuf_u8(struct sbuf *b, uint8_t v);
void sbuf_u16(struct sbuf *b, uint16_t v);
void sbuf_u32(struct sbuf *b, uint32_t v);
void sbuf_u64(struct sbuf *b, uint64_t v);
void sbuf_bool(struct sbuf *b, bool v);

struct sreader {
	const uint8_t *p;
	size_t len, off;
	bool bad;      /* a read went past the end (or a restore function called sr_fail()) */
};

void sreader_init(struct sreader *r, const void *p, size_t len);
/* Copy n bytes out; false (and zeroes) when fewer than n remain. */
bool sr_get(struct sreader *r, void *p, size_t n);
uint8_t sr_u8(struct sreader *r);
uint16_t sr_u16(struct sreader *r);
uint32_t sr_u32(struct sreader *r);
uint64_t sr_u64(struct sreader *r);
/* A byte that must be 0 or 1 (anything else makes the reader bad). */
bool sr_bool(struct sreader *r);
/* Mark the input invalid (a value out of range). */
void sr_fail(struct sreader *r);
static inline bool sr_ok(const struct sreader *r)
{
	return !r->bad;
}
/* Everything read, nothing bad, nothing left over. */
static inline bool sr_done(const struct sreader *r)
{
	return !r->bad && r->off == r->len;
}
/* Bytes not read yet (0 once bad). */
static inline size_t sr_left(const struct sreader *r)
{
	return r->bad ? 0 : r->len - r->off;
}

#endif
