// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_arm64_image: the arm64 kernel loader (src/arm64/image.c) on a hostile kernel file and initrd: the
 * header parser arm64_image_parse(), and arm64_load_kernel() and arm64_load_initrd() as
 * arch_load_guest() (arm64/machine.c) calls them, from memfds the input is written to into a fake guest
 * RAM at ARM64_RAM_BASE: the Image header (new and pre-3.17 ones), its placement, the copy, and an
 * Image.gz inflated by zlib straight into RAM (bounded by image_size or by the RAM, trailing bytes).
 *
 * Input: u8 cfg: bits 0-3 RAM of 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48 or 64 MiB at
 * ARM64_RAM_BASE; bit 4 the target gzips the kernel itself (so that mutations of the Image reach the
 * loader as a valid Image.gz); bit 5 an initrd; bit 6 the initrd's bounds come from the input (else as
 * machine.c: from the kernel's end to below the last 2 MiB of RAM); bit 7 first a load with a RAM base
 * that is not 2 MiB aligned, one whose size wraps, and a kernel and an initrd that are pipes.
 * u8 pad: the kernel is followed by (pad & 63) KiB of zeros, x 16 KiB with bits 6 and 7 both set (a
 * large image from a small input, a gzip bomb; none after a file that is gzip itself).
 * [bit 4: u8 opts: bits 0-3 the level (% 10), bits 4-7 n: windowBits 9 + n % 7, memLevel 1 + (15 - n) % 7
 * (a small state is cheap to set up, and makes other streams); u8 mangle, % 6: 0 none, 1 append
 * arg % 256 + 1 bytes of val, 2 cut arg % len + 1 bytes off the end, 3 xor the byte at arg % len with
 * val | 1, 4 a second gzip member, 5 the gzip header's FLG byte is val; u16 arg; u8 val.]
 * [bit 5: u16 initrd length and its bytes.] [bit 6: u32 lo, u32 hi, each ARM64_RAM_BASE - 16 MiB + the
 * value, 0xffffffff meaning UINT64_MAX.]
 * u64 file_size for one more arm64_image_parse() of the kernel's first bytes. The rest is the kernel (the
 * file itself without bit 4: it may be gzip already).
 *
 * Checked beyond the sanitizers:
 * - arm64_image_parse() returns 0, -ENOEXEC or -EINVAL, with a reason exactly when it fails; it succeeds
 *   exactly for a little-endian header with the magic, a 4 KiB aligned text_offset, an image_size of 0 or
 *   at least 64, no overflow, and its fields then say what the header does (pre-3.17: 0x80000 and
 *   file_size); a header too short or without the magic is -ENOEXEC;
 * - arm64_load_kernel() returns 0 or -ENOEXEC/-EINVAL/-ENOMEM with exactly one error line, and succeeds
 *   exactly when an independent reading of the file says it should: for an Image, its header parses and
 *   its image_size bytes from text_offset fit in RAM; for an Image.gz (a second zlib pass over the file
 *   here), one gzip member that ends with nothing after it, inflating to a parsable header and to no more
 *   than image_size (or the RAM from text_offset, for an old header) that fits in RAM;
 * - on success the entry is base + text_offset with a 2 MiB aligned base in RAM, entry <= end <= RAM's
 *   end, end = entry + image_size (an old Image.gz: its inflated length); the loaded bytes are the file's
 *   (up to image_size) or the inflated stream's, and the RAM just before the entry and past the loaded
 *   bytes (16 KiB, and the page after end) is still zero;
 * - arm64_load_initrd() returns 0, -EINVAL (empty) or -ENOMEM with one error line; on success the initrd
 *   is 64 KiB aligned, inside [lo, hi), as high as the alignment allows, and holds the file's bytes; with
 *   lo and hi inside RAM it fails only when no 64 KiB aligned place in [lo, hi) can hold it.
 */
#define _GNU_SOURCE /* memfd_create, pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include "arm64/image.h"
#include "arm64/layout.h"
#include "fuzz.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define BASE ARM64_RAM_BASE
#define INITRD_ALIGN (64 * KIB)
#define WINDOW (16 * KIB) /* how far past the loaded bytes the RAM is checked to be untouched */
#define OLD_TEXT_OFFSET 0x80000ull

/* Error lines the code under test logged (each failure must log exactly one). */
struct log_count {
	unsigned errors;
};

static void count_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	struct log_count *c = opaque;

	(void)msg;
	if (level == VMM_LOG_ERROR)
		c->errors++;
}

/* Put len bytes in memfd fd as its whole contents, then extend it with pad zeros. */
static int refill(int fd, const uint8_t *p, size_t len, size_t pad)
{
	size_t done = 0;

	if (ftruncate(fd, 0) < 0)
		return -1;
	while (done < len) {
		ssize_t r = pwrite(fd, p + done, len - done, (off_t)done);

		if (r <= 0)
			return -1;
		done += (size_t)r;
	}
	return pad && ftruncate(fd, (off_t)(len + pad)) < 0 ? -1 : 0;
}

static uint64_t le64_at(const uint8_t *p)
{
	uint64_t v = 0;

	for (unsigned i = 8; i-- > 0;)
		v = v << 8 | p[i];
	return v;
}

/* arm64_image_parse() on hdr (len bytes) against what booting.rst says of those bytes. */
static void check_parse(const uint8_t *hdr, size_t len, uint64_t file_size)
{
	struct arm64_image_info info;
	const char *why = "unset";
	int ret = arm64_image_parse(hdr, len, file_size, &info, &why);
	uint64_t to, is, fl, end;
	static const unsigned pages[4] = { 0, 4096, 16384, 65536 };
	bool ok;

	FUZZ_CHECK(ret == 0 || ret == -ENOEXEC || ret == -EINVAL);
	FUZZ_CHECK((ret == 0) == (why == NULL));
	if (len < ARM64_IMAGE_HDR_SIZE || hdr[56] != 'A' || hdr[57] != 'R' || hdr[58] != 'M' || hdr[59] != 0x64) {
		FUZZ_CHECK(ret == -ENOEXEC);
		return;
	}
	to = le64_at(hdr + 8);
	is = le64_at(hdr + 16);
	fl = le64_at(hdr + 24);
	if (is == 0) {
		to = OLD_TEXT_OFFSET;
		is = file_size;
	}
	ok = !(fl & 1) && (is >= ARM64_IMAGE_HDR_SIZE || le64_at(hdr + 16) == 0) && !(to & 0xfff) &&
	     !__builtin_add_overflow(to, is, &end);
	/* A pre-3.17 header of a big-endian kernel: text_offset 0x80000 in its byte order. */
	if (le64_at(hdr + 16) == 0 && le64_at(hdr + 8) == 0x0000080000000000ull)
		ok = false;
	FUZZ_CHECK(ok == (ret == 0));
	if (ret)
		return;
	FUZZ_CHECK(info.text_offset == to && info.image_size == is && info.flags == fl);
	FUZZ_CHECK(info.no_image_size == (le64_at(hdr + 16) == 0));
	FUZZ_CHECK(info.page_size == pages[(fl >> 1) & 3]);
}

/* How zlib itself reads a gzip file: one member, and what came after it. */
enum gz_end { GZ_END, GZ_BAD, GZ_SHORT, GZ_OVER };

struct gz_ref {
	enum gz_end how;
	uint64_t total;    /* bytes inflated (past cap: stopped) */
	uint64_t consumed; /* bytes of the file the member took */
	uint8_t head[ARM64_IMAGE_HDR_SIZE];
	bool mismatch;     /* the inflated bytes differ from the RAM at cmp (when cmp) */
};

/*
 * Inflate file (n bytes) as far as cap + 1 bytes of output. cmp: the host pointer where the loader put
 * the stream (checked against it as far as it goes, cmp_len bytes at most), or NULL.
 */
static void gz_reference(const uint8_t *file, size_t n, uint64_t cap, const uint8_t *cmp, uint64_t cmp_len,
			 struct gz_ref *r)
{
	static uint8_t out[64 * KIB];
	z_stream zs = { 0 };
	int zr;

	memset(r, 0, sizeof(*r));
	FUZZ_CHECK(inflateInit2(&zs, 16 + MAX_WBITS) == Z_OK);
	zs.next_in = (Bytef *)file;
	zs.avail_in = (uInt)n;
	for (;;) {
		uint64_t got;

		zs.next_out = out;
		zs.avail_out = sizeof(out);
		zr = inflate(&zs, Z_NO_FLUSH);
		got = sizeof(out) - zs.avail_out;
		if (r->total < sizeof(r->head))
			memcpy(r->head + r->total, out,
			       got < sizeof(r->head) - r->total ? got : sizeof(r->head) - r->total);
		if (cmp && got) {
			if (r->total + got > cmp_len || memcmp(cmp + r->total, out, got))
				r->mismatch = true;
		}
		r->total += got;
		if (r->total > cap) {
			r->how = GZ_OVER;
			break;
		}
		if (zr == Z_STREAM_END) {
			r->how = GZ_END;
			break;
		}
		if (zr == Z_OK)
			continue;
		FUZZ_CHECK(zr != Z_MEM_ERROR);
		/* Z_BUF_ERROR with all the output room free: the input ran out mid-stream. */
		r->how = zr == Z_BUF_ERROR ? GZ_SHORT : GZ_BAD;
		break;
	}
	r->consumed = n - zs.avail_in;
	inflateEnd(&zs);
}

static bool all_zero(const uint8_t *p, uint64_t len)
{
	static const uint8_t zeros[64 * KIB];

	for (uint64_t done = 0; done < len; done += sizeof(zeros))
		if (memcmp(p + done, zeros, len - done < sizeof(zeros) ? len - done : sizeof(zeros)))
			return false;
	return true;
}

/* Bytes [gpa, gpa + len) of RAM, clipped to RAM, are zero (untouched by a loader). */
static void check_zero(const struct guest_mem *m, uint64_t ram_end, uint64_t gpa, uint64_t len)
{
	const uint8_t *p;

	if (gpa < BASE) {
		if (len <= BASE - gpa)
			return;
		len -= BASE - gpa;
		gpa = BASE;
	}
	if (gpa >= ram_end)
		return;
	if (len > ram_end - gpa)
		len = ram_end - gpa;
	if (!len)
		return;
	p = gmem_ptr(m, gpa, len);
	FUZZ_CHECK(p && all_zero(p, len));
}

/* The common checks of a kernel the loader accepted. */
static void check_placed(const struct arm64_kernel *k, uint64_t ram_size)
{
	uint64_t base = k->entry - k->info.text_offset;

	FUZZ_CHECK(k->entry >= BASE && k->entry >= k->info.text_offset);
	FUZZ_CHECK(base >= BASE && base % ARM64_IMAGE_BASE_ALIGN == 0);
	FUZZ_CHECK(k->end >= k->entry && k->end <= BASE + ram_size);
	FUZZ_CHECK(k->entry < BASE + ram_size);
	FUZZ_CHECK(k->end - k->entry == k->info.image_size);
	FUZZ_CHECK(k->info.text_offset % 4096 == 0 && !(k->info.flags & 1));
}

/* An uncompressed Image (k_len bytes then pad zeros): the loader's verdict and what it put in RAM. */
static void check_image(const struct guest_mem *m, uint64_t ram_size, const uint8_t *kernel, size_t k_len,
			size_t pad, int ret, const struct arm64_kernel *k)
{
	uint64_t size = k_len + pad, copy, rest;
	struct arm64_image_info info;
	uint8_t head[0x240] = { 0 };
	size_t n = size < sizeof(head) ? (size_t)size : sizeof(head);
	const char *why;
	bool ok;

	memcpy(head, kernel, n < k_len ? n : k_len);
	ok = arm64_image_parse(head, n, size, &info, &why) == 0 && info.text_offset <= ram_size &&
	     info.image_size <= ram_size - info.text_offset;
	FUZZ_CHECK(ok == (ret == 0));
	if (ret)
		return;
	check_placed(k, ram_size);
	FUZZ_CHECK(!k->gzip && k->entry == BASE + info.text_offset && k->info.image_size == info.image_size);
	FUZZ_CHECK(k->info.no_image_size == info.no_image_size);
	copy = size < info.image_size ? size : info.image_size;
	if (copy) {
		const uint8_t *p = gmem_ptr(m, k->entry, copy);
		uint64_t cmp = copy < k_len ? copy : k_len;

		FUZZ_CHECK(p && !memcmp(p, kernel, cmp) && all_zero(p + cmp, copy - cmp)); /* then the pad */
	}
	check_zero(m, BASE + ram_size, k->entry - 4096, 4096);
	rest = k->end - k->entry - copy;
	check_zero(m, BASE + ram_size, k->entry + copy, rest < WINDOW ? rest : WINDOW);
	check_zero(m, BASE + ram_size, k->end, 4096);
}

/* An Image.gz: the loader's verdict and what it put in RAM, against zlib's own reading of the file. */
static void check_gzip(const struct guest_mem *m, uint64_t ram_size, const uint8_t *file, size_t n, int ret,
		       const struct arm64_kernel *k)
{
	const uint8_t *dst = NULL;
	uint64_t dst_len = 0, limit = 0;
	struct arm64_image_info info;
	struct gz_ref r;
	const char *why;
	bool ok;

	if (ret == 0) {
		check_placed(k, ram_size);
		FUZZ_CHECK(k->gzip);
		dst_len = k->end - k->entry;
		dst = gmem_ptr(m, k->entry, dst_len);
		FUZZ_CHECK(dst);
	}
	gz_reference(file, n, ram_size, dst, dst_len, &r);
	ok = r.how == GZ_END && r.consumed == n && r.total >= ARM64_IMAGE_HDR_SIZE &&
	     arm64_image_parse(r.head, sizeof(r.head), 0, &info, &why) == 0 && info.text_offset <= ram_size;
	if (ok) {
		limit = info.image_size ? info.image_size : ram_size - info.text_offset;
		ok = limit <= ram_size - info.text_offset && limit >= ARM64_IMAGE_HDR_SIZE && r.total <= limit;
	}
	if (ok != (ret == 0))
		fprintf(stderr, "gzip: loader %d, zlib: how %d total %llu consumed %llu of %zu, limit %llu\n", ret,
			r.how, (unsigned long long)r.total, (unsigned long long)r.consumed, n,
			(unsigned long long)limit);
	FUZZ_CHECK(ok == (ret == 0));
	if (ret)
		return;
	FUZZ_CHECK(!r.mismatch);
	FUZZ_CHECK(k->entry == BASE + info.text_offset);
	FUZZ_CHECK(k->info.image_size == (info.image_size ? info.image_size : r.total));
	check_zero(m, BASE + ram_size, k->entry - 4096, 4096);
	check_zero(m, BASE + ram_size, k->entry + r.total, limit - r.total < WINDOW ? limit - r.total : WINDOW);
	check_zero(m, BASE + ram_size, k->end, 4096);
}

static void check_initrd(const struct guest_mem *m, uint64_t ram_size, uint64_t lo, uint64_t hi, const uint8_t *rd,
			 size_t rd_len, int ret, unsigned errors, uint64_t gpa, uint64_t size)
{
	uint64_t ram_end = BASE + ram_size, top;
	const uint8_t *p;
	bool fits;

	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOMEM);
	FUZZ_CHECK(errors == (ret ? 1u : 0u));
	if (!rd_len) {
		FUZZ_CHECK(ret == -EINVAL);
		return;
	}
	/* Where it fits, when lo and hi lie in RAM: the highest 64 KiB aligned start it can have. */
	if (lo >= BASE && hi <= ram_end) {
		fits = hi > lo && rd_len <= hi - lo && ((hi - rd_len) & ~(INITRD_ALIGN - 1)) >= lo;
		FUZZ_CHECK(fits == (ret == 0));
	}
	if (ret)
		return;
	FUZZ_CHECK(size == rd_len && gpa % INITRD_ALIGN == 0);
	FUZZ_CHECK(gpa >= lo && gpa >= BASE && gpa <= hi && rd_len <= hi - gpa && gpa + rd_len <= ram_end);
	FUZZ_CHECK(!__builtin_add_overflow(gpa + rd_len, INITRD_ALIGN, &top) && top > hi); /* as high as it goes */
	p = gmem_ptr(m, gpa, rd_len);
	FUZZ_CHECK(p && !memcmp(p, rd, rd_len));
}

/* What the target makes of an Image when cfg bit 4 asks for an Image.gz. */
struct gz_cfg {
	int level, bits, mem;
	uint8_t mangle, val;
	uint16_t arg;
};

/* kernel + pad zeros, gzip-compressed and mangled; NULL on allocation failure. */
static uint8_t *make_gzip(const uint8_t *kernel, size_t k_len, size_t pad, const struct gz_cfg *g, size_t *out_len)
{
	static const uint8_t zeros[64 * KIB];
	z_stream zs = { 0 };
	uint8_t *out;
	size_t cap, len, extra = 256;
	int zr;

	if (deflateInit2(&zs, g->level, Z_DEFLATED, 16 + g->bits, g->mem, Z_DEFAULT_STRATEGY) != Z_OK)
		return NULL;
	cap = deflateBound(&zs, k_len + pad) + 64; /* + a spare empty block or two (level 0, fed in pieces) */
	out = malloc(2 * cap + extra);
	if (!out) {
		deflateEnd(&zs);
		return NULL;
	}
	zs.next_in = (Bytef *)kernel;
	zs.avail_in = (uInt)k_len;
	zs.next_out = out;
	zs.avail_out = (uInt)cap;
	do {
		if (zs.avail_in == 0 && pad) {
			size_t k = pad < sizeof(zeros) ? pad : sizeof(zeros);

			/* Runs of zeros: run-length matching is fast (a stream may change strategy midway). */
			if (zs.next_in != zeros && deflateParams(&zs, g->level ? g->level : 1, Z_RLE) != Z_OK)
				break;

			zs.next_in = (Bytef *)zeros;
			zs.avail_in = (uInt)k;
			pad -= k;
		}
		zr = deflate(&zs, pad == 0 ? Z_FINISH : Z_NO_FLUSH);
	} while (zr == Z_OK);
	if (zr == Z_OK)
		zr = Z_BUF_ERROR; /* deflateParams() had no room */
	if (zr != Z_STREAM_END) { /* out of room: not the loader's business */
		deflateEnd(&zs);
		free(out);
		return NULL;
	}
	len = cap - zs.avail_out;
	deflateEnd(&zs);
	switch (g->mangle % 6) {
	case 1: /* bytes after the member */
		memset(out + len, g->val, g->arg % 256 + 1);
		len += g->arg % 256 + 1;
		break;
	case 2: /* cut short */
		len -= g->arg % len + 1 < len ? g->arg % len + 1 : len - 1;
		break;
	case 3:
		out[g->arg % len] ^= g->val | 1;
		break;
	case 4: /* a second member: the same again */
		memcpy(out + len, out, len);
		len *= 2;
		break;
	case 5: /* FLG: FTEXT, FHCRC, FEXTRA, FNAME, FCOMMENT, reserved bits */
		out[3] = g->val;
		break;
	default:
		break;
	}
	*out_len = len;
	return out;
}

/*
 * The guest RAM: ram_size bytes at ARM64_RAM_BASE, the last ram_size bytes of one mapping of the largest
 * size kept for the whole run, with a page that cannot be touched after it. Each input starts from zeros:
 * MADV_DONTNEED drops whatever the last one touched (a fresh mapping per input costs more in page tables
 * and page faults than the loader does).
 */
#define RAM_MAX (64 * MIB)

static int ram_map(struct guest_mem *m, uint64_t ram_size)
{
	static uint8_t *map;

	if (!map) {
		void *p = mmap(NULL, RAM_MAX + 4096, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

		if (p == MAP_FAILED)
			return -1;
		map = p;
		FUZZ_CHECK(mprotect(map + RAM_MAX, 4096, PROT_NONE) == 0);
	} else {
		FUZZ_CHECK(madvise(map, RAM_MAX, MADV_DONTNEED) == 0);
	}
	memset(m, 0, sizeof(*m));
	return gmem_add_region(m, BASE, ram_size, map + RAM_MAX - ram_size);
}

/* RAM bound from the input: ARM64_RAM_BASE - 16 MiB + v, or UINT64_MAX. */
static uint64_t bound(uint32_t v)
{
	return v == UINT32_MAX ? UINT64_MAX : BASE - 16 * MIB + v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t ram_mib[16] = { 1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 64 };
	static int kfd = -1, ifd = -1, pipefd[2] = { -1, -1 };
	struct fz f = fz_init(data, size);
	uint8_t cfg = fz_u8(&f);
	uint64_t ram_size = ram_mib[cfg & 15] * MIB, ram_end = BASE + ram_size;
	uint8_t pad_sel = fz_u8(&f);
	/* Megabytes cost milliseconds (deflate, two inflates, page faults): only when both top bits ask. */
	size_t pad = (size_t)(pad_sel & 63) << ((pad_sel & 0xc0) == 0xc0 ? 14 : 10);
	struct gz_cfg g = { 0 };
	size_t rd_len = 0, k_len, file_len;
	const uint8_t *rd = NULL, *kernel;
	uint8_t *gz = NULL;
	const uint8_t *file;
	uint64_t lo = 0, hi = 0, parse_size, rd_gpa = 0, rd_size = 0;
	struct log_count lc = { 0 };
	const struct vlog log = { .fn = count_msg, .opaque = &lc, .level = VMM_LOG_DEBUG };
	struct arm64_kernel k;
	struct guest_mem ram;
	int ret;

	if (cfg & 0x10) {
		uint8_t opts = fz_u8(&f);

		g.level = (opts & 15) % 10;
		g.bits = 9 + (opts >> 4) % 7;
		g.mem = 1 + (15 - (opts >> 4)) % 7; /* 8 and 9 make zlib's state large: an mmap per input */
		g.mangle = fz_u8(&f);
		g.arg = fz_u16(&f);
		g.val = fz_u8(&f);
	}
	if (cfg & 0x20)
		rd = fz_take(&f, fz_u16(&f), &rd_len);
	if (cfg & 0x40) {
		lo = bound(fz_u32(&f));
		hi = bound(fz_u32(&f));
	}
	parse_size = fz_u64(&f);
	kernel = fz_take(&f, fz_left(&f), &k_len);

	/* The parser alone, on whatever the kernel's first bytes are, with any file size. */
	check_parse(kernel, k_len < 0x240 ? k_len : 0x240, parse_size);

	if (kfd < 0)
		kfd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	if (ifd < 0)
		ifd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	FUZZ_CHECK(kfd >= 0 && ifd >= 0);
	/* A file that is gzip already gets no zeros after it: they would be trailing garbage. */
	if (!(cfg & 0x10) && k_len >= 2 && kernel[0] == 0x1f && kernel[1] == 0x8b)
		pad = 0;
	if (cfg & 0x10) {
		gz = make_gzip(kernel, k_len, pad, &g, &file_len);
		if (!gz)
			return 0;
		file = gz;
		FUZZ_CHECK(refill(kfd, gz, file_len, 0) == 0);
	} else {
		file = kernel;
		file_len = k_len;
		FUZZ_CHECK(refill(kfd, kernel, k_len, pad) == 0);
	}
	if (ram_map(&ram, ram_size)) {
		free(gz);
		return 0;
	}

	if (cfg & 0x80) {
		/* Bad RAM arguments, and files that are not regular files: refused before any byte moves. */
		ret = arm64_load_kernel(&ram, &log, "fuzz-kernel", kfd, BASE + 4096, ram_size, &k);
		FUZZ_CHECK(ret == -EINVAL && lc.errors == 1);
		ret = arm64_load_kernel(&ram, &log, "fuzz-kernel", kfd, BASE, UINT64_MAX - BASE + 1, &k);
		FUZZ_CHECK(ret == -EINVAL && lc.errors == 2);
		if (pipefd[0] < 0)
			FUZZ_CHECK(pipe2(pipefd, O_CLOEXEC) == 0);
		ret = arm64_load_kernel(&ram, &log, "fuzz-pipe", pipefd[0], BASE, ram_size, &k);
		FUZZ_CHECK(ret == -EINVAL && lc.errors == 3);
		ret = arm64_load_initrd(&ram, &log, "fuzz-pipe", pipefd[0], BASE, ram_end, &rd_gpa, &rd_size);
		FUZZ_CHECK(ret == -EINVAL && lc.errors == 4);
		check_zero(&ram, ram_end, BASE, 4096);
		lc.errors = 0;
	}

	ret = arm64_load_kernel(&ram, &log, "fuzz-kernel", kfd, BASE, ram_size, &k);
	FUZZ_CHECK(ret == 0 || ret == -ENOEXEC || ret == -EINVAL || ret == -ENOMEM);
	FUZZ_CHECK(lc.errors == (ret ? 1u : 0u));
	if (file_len + (gz ? 0 : pad) == 0)
		FUZZ_CHECK(ret == -ENOEXEC);
	else if (file_len >= 2 && file[0] == 0x1f && file[1] == 0x8b)
		check_gzip(&ram, ram_size, file, file_len, ret, &k);
	else /* an Image, or what a mangled gzip header left */
		check_image(&ram, ram_size, file, file_len, gz ? 0 : pad, ret, &k);

	if (cfg & 0x20) {
		FUZZ_CHECK(refill(ifd, rd, rd_len, 0) == 0);
		if (!(cfg & 0x40)) {
			/* machine.c: from the kernel's end to the device tree in the last 2 MiB. */
			lo = ret == 0 ? k.end : BASE;
			hi = ram_size > ARM64_FDT_MAX ? ram_end - ARM64_FDT_MAX : ram_end;
		}
		lc.errors = 0;
		ret = arm64_load_initrd(&ram, &log, "fuzz-initrd", ifd, lo, hi, &rd_gpa, &rd_size);
		check_initrd(&ram, ram_size, lo, hi, rd, rd_len, ret, lc.errors, rd_gpa, rd_size);
	}
	free(gz);
	return 0;
}
