/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the libFuzzer targets share: a reader that decodes the input deterministically (past its
 * end it reads zeros, so every input means something), a fake guest RAM, a quiet log, and
 * FUZZ_CHECK() for the invariants a target checks beyond what the sanitizers see.
 */
#ifndef VMM_TESTS_FUZZ_H
#define VMM_TESTS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "log.h"
#include "memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant of the code under test: a violation is a finding (abort: libFuzzer saves the input). */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

struct fz {
	const uint8_t *p;
	size_t n;
};

static inline struct fz fz_init(const uint8_t *data, size_t size)
{
	return (struct fz){ .p = data, .n = size };
}

static inline size_t fz_left(const struct fz *f)
{
	return f->n;
}

/* Copy len bytes (zeros past the end) into dst. */
static inline void fz_bytes(struct fz *f, void *dst, size_t len)
{
	size_t k = len < f->n ? len : f->n;

	if (k)
		memcpy(dst, f->p, k);
	if (len > k)
		memset((uint8_t *)dst + k, 0, len - k);
	f->p += k;
	f->n -= k;
}

/* Take up to len bytes in place: returns the pointer, *got the count (0 at the end). */
static inline const uint8_t *fz_take(struct fz *f, size_t len, size_t *got)
{
	const uint8_t *p = f->p;

	*got = len < f->n ? len : f->n;
	f->p += *got;
	f->n -= *got;
	return p;
}

/* Little-endian integers, as a guest would write them. */
static inline uint64_t fz_uint(struct fz *f, unsigned bytes)
{
	uint8_t b[8];
	uint64_t v = 0;

	fz_bytes(f, b, bytes);
	for (unsigned i = bytes; i-- > 0;)
		v = v << 8 | b[i];
	return v;
}

static inline uint8_t fz_u8(struct fz *f)
{
	return (uint8_t)fz_uint(f, 1);
}

static inline uint16_t fz_u16(struct fz *f)
{
	return (uint16_t)fz_uint(f, 2);
}

static inline uint32_t fz_u32(struct fz *f)
{
	return (uint32_t)fz_uint(f, 4);
}

static inline uint64_t fz_u64(struct fz *f)
{
	return fz_uint(f, 8);
}

/* An access width: 1, 2, 4 or 8 from two bits. */
static inline uint32_t fz_width(uint8_t bits)
{
	return 1u << (bits & 3);
}

static inline void fuzz_drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

/* Messages are formatted (their code runs) and dropped: the fuzzer's output stays readable. */
static const struct vlog fuzz_log = { .fn = fuzz_drop_msg, .level = VMM_LOG_DEBUG };

/*
 * A fake guest RAM of up to two regions: [0, size0) and, when size1, [gpa1, gpa1 + size1), each
 * its own anonymous mapping (so a buffer across both is two host ranges, as in a real VM with the
 * MMIO hole). Zero-filled; fuzz_ram_free() unmaps.
 */
struct fuzz_ram {
	struct guest_mem m;
	uint8_t *hva[2];
	uint64_t size[2];
};

static inline void fuzz_ram_free(struct fuzz_ram *r)
{
	for (int i = 0; i < 2; i++)
		if (r->hva[i])
			munmap(r->hva[i], r->size[i]);
	memset(r, 0, sizeof(*r));
}

static inline int fuzz_ram_init(struct fuzz_ram *r, uint64_t size0, uint64_t gpa1, uint64_t size1)
{
	uint64_t sizes[2] = { size0, size1 }, gpas[2] = { 0, gpa1 };

	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 2; i++) {
		void *p;

		if (!sizes[i])
			continue;
		p = mmap(NULL, sizes[i], PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (p == MAP_FAILED) {
			fuzz_ram_free(r);
			return -1;
		}
		r->hva[i] = p;
		r->size[i] = sizes[i];
		if (gmem_add_region(&r->m, gpas[i], sizes[i], p)) {
			fuzz_ram_free(r);
			return -1;
		}
	}
	return 0;
}

/* Does [p, p + len) lie inside one region of r (a host pointer the code under test handed out)? */
static inline bool fuzz_ram_holds(const struct fuzz_ram *r, const void *p, size_t len)
{
	uintptr_t a = (uintptr_t)p;

	for (int i = 0; i < 2; i++) {
		uintptr_t b = (uintptr_t)r->hva[i];

		if (r->hva[i] && a >= b && len <= r->size[i] && a - b <= r->size[i] - len)
			return true;
	}
	return false;
}

#endif
