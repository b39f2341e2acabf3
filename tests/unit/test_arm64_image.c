// SPDX-License-Identifier: Apache-2.0
/* arm64 kernel loading: the Image header, Image and Image.gz into guest RAM, hostile files, the initrd. */
#define _GNU_SOURCE /* memfd_create */
#include <byteswap.h>
#include <check.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "arm64/image.h"
#include "arm64/layout.h"
#include "unit.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define BASE ARM64_RAM_BASE

static struct guest_mem mem;
static uint8_t *ram;
static uint64_t ram_size;

/* What was logged: the last line and how many, so each failure is seen to say exactly one thing. */
static char said[512];
static int lines;
static void keep(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	if (level > VMM_LOG_WARN)
		return; /* the debug line on success is not counted */
	snprintf(said, sizeof(said), "%s", msg);
	lines++;
}

static const struct vlog kept = { .fn = keep, .opaque = NULL, .level = VMM_LOG_DEBUG };

static void with_ram(uint64_t size)
{
	memset(&mem, 0, sizeof(mem));
	ram = calloc(1, size);
	ck_assert_ptr_nonnull(ram);
	ram_size = size;
	ck_assert_int_eq(gmem_add_region(&mem, BASE, size, ram), 0);
	said[0] = 0;
	lines = 0;
}

static void teardown(void)
{
	free(ram);
	ram = NULL;
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, 8);
}

/* A 64-byte Image header. */
static void make_header(uint8_t *h, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	memset(h, 0, ARM64_IMAGE_HDR_SIZE);
	memcpy(h, "MZ\x40\xfa", 4); /* code0 as an EFI-stub kernel has it: it must not be taken for a PE file */
	put64(h + 8, text_offset);
	put64(h + 16, image_size);
	put64(h + 24, flags);
	memcpy(h + 56, "ARM\x64", 4);
}

/* A synthetic Image of len bytes: the header, then a pattern that shows where every byte went. */
static uint8_t *make_image(size_t len, uint64_t text_offset, uint64_t image_size, uint64_t flags)
{
	uint8_t *img = malloc(len);

	ck_assert_ptr_nonnull(img);
	for (size_t i = 0; i < len; i++)
		img[i] = (uint8_t)(i * 7 + (i >> 9));
	make_header(img, text_offset, image_size, flags);
	return img;
}

static void write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t r = write(fd, p, len);

		ck_assert_int_gt(r, 0);
		p += r;
		len -= (size_t)r;
	}
}

/* A memfd (a regular file) holding len bytes of data. */
static int file_with(const void *data, size_t len)
{
	int fd = memfd_create("vmm-test-image", MFD_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	write_all(fd, data, len);
	return fd;
}

/* A memfd holding len bytes of data then zeros zero bytes, gzip-compressed (windowBits 31: a gzip wrapper). */
static int gz_file(const void *data, size_t len, size_t zeros)
{
	static const uint8_t nul[64 * KIB];
	uint8_t out[64 * KIB];
	z_stream zs = { 0 };
	int fd = memfd_create("vmm-test-image.gz", MFD_CLOEXEC);
	int zr;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
	zs.next_in = (Bytef *)data;
	zs.avail_in = (uInt)len;
	do {
		if (zs.avail_in == 0 && zeros) {
			size_t n = zeros < sizeof(nul) ? zeros : sizeof(nul);

			zs.next_in = (Bytef *)nul;
			zs.avail_in = (uInt)n;
			zeros -= n;
		}
		zs.next_out = out;
		zs.avail_out = sizeof(out);
		zr = deflate(&zs, zs.avail_in == 0 && zeros == 0 ? Z_FINISH : Z_NO_FLUSH);
		ck_assert(zr == Z_OK || zr == Z_STREAM_END || zr == Z_BUF_ERROR);
		write_all(fd, out, sizeof(out) - zs.avail_out);
	} while (zr != Z_STREAM_END);
	deflateEnd(&zs);
	return fd;
}

static uint64_t size_of(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return (uint64_t)st.st_size;
}

/* Load a kernel held in memory through a file; the descriptor is closed again. */
static int load_bytes(const void *data, size_t len, struct arm64_kernel *k)
{
	int fd = file_with(data, len);
	int ret = arm64_load_kernel(&mem, &kept, "k", fd, BASE, ram_size, k);

	close(fd);
	return ret;
}

static int load_fd(int fd, struct arm64_kernel *k)
{
	int ret = arm64_load_kernel(&mem, &kept, "k", fd, BASE, ram_size, k);

	close(fd);
	return ret;
}

/* A load that failed with ret and said one line containing text. */
#define ck_refused(call, ret, text)                                                                             \
	do {                                                                                                       \
		said[0] = 0;                                                                                       \
		lines = 0;                                                                                         \
		ck_assert_int_eq((call), (ret));                                                                   \
		ck_assert_int_eq(lines, 1);                                                                        \
		ck_assert_msg(strstr(said, (text)), "'%s' does not say '%s'", said, (text));                      \
		ck_assert_msg(strstr(said, "'k'"), "'%s' does not name the file", said);                          \
	} while (0)

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

START_TEST(image_loads)
{
	static const uint64_t offsets[] = { 0, 0x80000 };
	struct arm64_kernel k;

	for (size_t i = 0; i < 2; i++) {
		uint8_t *img = make_image(256 * KIB, offsets[i], 1 * MIB, 0xa);

		with_ram(8 * MIB);
		ck_assert_int_eq(load_bytes(img, 256 * KIB, &k), 0);
		ck_assert_int_eq(lines, 0);
		ck_assert_uint_eq(k.entry, BASE + offsets[i]);
		ck_assert_uint_eq(k.end, BASE + offsets[i] + 1 * MIB);
		ck_assert_uint_eq(k.info.text_offset, offsets[i]);
		ck_assert_uint_eq(k.info.image_size, 1 * MIB);
		ck_assert_uint_eq(k.info.page_size, 4096);
		ck_assert(!k.gzip && !k.info.no_image_size);
		ck_assert_mem_eq(ram + offsets[i], img, 256 * KIB);
		ck_assert(all_zero(ram, offsets[i]));
		ck_assert(all_zero(ram + offsets[i] + 256 * KIB, ram_size - offsets[i] - 256 * KIB));
		free(img);
		teardown();
	}
}
END_TEST

/* Before Linux 3.17: image_size 0, text_offset 0x80000 whatever the field says, the file's size as the size. */
START_TEST(image_old_header)
{
	uint8_t *img = make_image(100 * KIB, 0x123000, 0, 0);
	struct arm64_kernel k;

	with_ram(8 * MIB);
	ck_assert_int_eq(load_bytes(img, 100 * KIB, &k), 0);
	ck_assert(k.info.no_image_size);
	ck_assert_uint_eq(k.entry, BASE + 0x80000);
	ck_assert_uint_eq(k.end, BASE + 0x80000 + 100 * KIB);
	ck_assert_uint_eq(k.info.page_size, 0);
	ck_assert_mem_eq(ram + 0x80000, img, 100 * KIB);
	free(img);
}
END_TEST

/* The same Images as Image.gz land as the same bytes. */
START_TEST(gzip_loads)
{
	static const struct {
		uint64_t text_offset, image_size;
	} cases[] = { { 0, 1 * MIB }, { 0x80000, 1 * MIB }, { 0x123000, 0 } };
	struct arm64_kernel k;

	for (size_t i = 0; i < 3; i++) {
		uint64_t at = cases[i].image_size ? cases[i].text_offset : 0x80000;
		uint8_t *img = make_image(300 * KIB, cases[i].text_offset, cases[i].image_size, 0xa);

		with_ram(8 * MIB);
		ck_assert_int_eq(load_fd(gz_file(img, 300 * KIB, 0), &k), 0);
		ck_assert_int_eq(lines, 0);
		ck_assert(k.gzip);
		ck_assert_uint_eq(k.entry, BASE + at);
		ck_assert_uint_eq(k.end, BASE + at + (cases[i].image_size ? cases[i].image_size : 300 * KIB));
		ck_assert_mem_eq(ram + at, img, 300 * KIB);
		ck_assert(all_zero(ram + at + 300 * KIB, ram_size - at - 300 * KIB));
		free(img);
		teardown();
	}
}
END_TEST

/* Exactly filling image_size (or all of RAM for an old header) is fine; one byte more is not. */
START_TEST(gzip_exact_fit)
{
	uint8_t *img = make_image(1 * MIB, 0, 1 * MIB, 0xa);
	struct arm64_kernel k;

	with_ram(4 * MIB);
	ck_assert_int_eq(load_fd(gz_file(img, 1 * MIB, 0), &k), 0);
	ck_assert_mem_eq(ram, img, 1 * MIB);
	ck_refused(load_fd(gz_file(img, 1 * MIB, 1), &k), -ENOMEM,
		   "more than the 1048576 bytes its header's image_size");
	free(img);
	teardown();

	img = make_image(4 * MIB - 0x80000, 0, 0, 0);
	with_ram(4 * MIB);
	ck_assert_int_eq(load_fd(gz_file(img, 4 * MIB - 0x80000, 0), &k), 0);
	ck_assert_uint_eq(k.end, BASE + 4 * MIB);
	ck_refused(load_fd(gz_file(img, 4 * MIB - 0x80000, 1), &k), -ENOMEM, "of guest RAM from 0x40080000");
	free(img);
}
END_TEST

START_TEST(hostile_headers)
{
	uint8_t *img = make_image(64 * KIB, 0, 1 * MIB, 0xa);
	struct arm64_kernel k;

	with_ram(8 * MIB);
	img[56] = 'B';
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOEXEC, "no \"ARM\\x64\" magic at offset 56");
	make_header(img, 0, 1 * MIB, 0xb); /* bit 0: big endian */
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOEXEC, "big-endian");
	make_header(img, bswap_64(0x80000), 0, 0); /* a big-endian kernel from before the flags */
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOEXEC, "big-endian");
	make_header(img, 0x80100, 1 * MIB, 0xa);
	ck_refused(load_bytes(img, 64 * KIB, &k), -EINVAL, "text_offset is not a multiple of 4 KiB");
	make_header(img, 0, 9 * MIB, 0xa); /* more than RAM */
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOMEM, "needs 9437184 bytes of guest RAM from 0x40000000");
	make_header(img, 0x1000, UINT64_MAX - 0x800, 0xa);
	ck_refused(load_bytes(img, 64 * KIB, &k), -EINVAL, "overflows");
	make_header(img, 0x200000, UINT64_MAX - 0x1fffff, 0xa); /* sums to exactly 2^64 */
	ck_refused(load_bytes(img, 64 * KIB, &k), -EINVAL, "overflows");
	make_header(img, 0, UINT64_MAX, 0xa);
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOMEM, "needs");
	make_header(img, 0, 32, 0xa);
	ck_refused(load_bytes(img, 64 * KIB, &k), -EINVAL, "image_size is smaller than the header");
	make_header(img, 0xfffffffffff00000ull, 64 * KIB, 0xa); /* a base + text_offset that would wrap */
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOMEM, "needs");
	make_header(img, 8 * MIB, 64, 0xa); /* just past RAM */
	ck_refused(load_bytes(img, 64 * KIB, &k), -ENOMEM, "needs");

	/* Shorter than the header, and empty. */
	make_header(img, 0, 1 * MIB, 0xa);
	ck_refused(load_bytes(img, 63, &k), -ENOEXEC, "shorter than the 64-byte Image header");
	ck_refused(load_bytes(img, 0, &k), -ENOEXEC, "is not an arm64 Image: the file is empty");
	free(img);
}
END_TEST

/* booting.rst asks for no text_offset limit: a vendor's 0x1080000 loads where RAM holds it. */
START_TEST(large_text_offset)
{
	uint8_t *img = make_image(64 * KIB, 0x1080000, 1 * MIB, 0xa);
	struct arm64_kernel k;

	with_ram(32 * MIB);
	ck_assert_int_eq(load_bytes(img, 64 * KIB, &k), 0);
	ck_assert_uint_eq(k.entry, BASE + 0x1080000);
	ck_assert_mem_eq(ram + 0x1080000, img, 64 * KIB);
	free(img);
}
END_TEST

/* Bytes past image_size (an appended signature) are not loaded: they would sit where the initrd goes. */
START_TEST(file_longer_than_image_size)
{
	uint8_t *img = make_image(128 * KIB, 0, 64 * KIB, 0xa);
	struct arm64_kernel k;

	with_ram(8 * MIB);
	ck_assert_int_eq(load_bytes(img, 128 * KIB, &k), 0);
	ck_assert_uint_eq(k.end, BASE + 64 * KIB);
	ck_assert_mem_eq(ram, img, 64 * KIB);
	ck_assert(all_zero(ram + 64 * KIB, 64 * KIB));
	free(img);
}
END_TEST

/* Files that are something else say what they are. */
START_TEST(other_formats)
{
	uint8_t buf[1024] = { 0 };
	struct arm64_kernel k;

	with_ram(8 * MIB);
	memcpy(buf, "\177ELF\2\1\1", 7);
	buf[18] = 62; /* EM_X86_64 */
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "is not an arm64 Image: it is an x86-64 ELF file");
	buf[18] = 183; /* EM_AARCH64 */
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "it is an ELF vmlinux");
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "MZ", 2);
	memcpy(buf + 0x202, "HdrS", 4);
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "it is an x86 bzImage");
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "MZ\0\0zimg", 8);
	memcpy(buf + 24, "zstd", 4);
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "it is an EFI zboot image (vmlinuz.efi, zstd inside)");
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\xfd" "7zXZ\0", 6);
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "it is compressed with xz");
	memcpy(buf, "\x28\xb5\x2f\xfd", 4);
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "it is compressed with zstd");
	memcpy(buf, "MZ\0\0\0\0", 6);
	ck_refused(load_bytes(buf, sizeof(buf), &k), -ENOEXEC, "it is a PE/EFI executable with no \"ARM\\x64\" magic");
	/* Inside a gzip stream too. */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, "\177ELF\2\1\1", 7);
	buf[18] = 62;
	ck_refused(load_fd(gz_file(buf, sizeof(buf), 0), &k), -ENOEXEC,
		   "is not a gzip-compressed arm64 Image: it is an x86-64 ELF file");
	memset(buf, 0, sizeof(buf));
	ck_refused(load_fd(gz_file(buf, 40, 0), &k), -ENOEXEC, "shorter than the 64-byte Image header");
	ck_refused(load_fd(gz_file(buf, 0, 0), &k), -ENOEXEC, "shorter than the 64-byte Image header");
}
END_TEST

/* A gzip stream cut short: inside the Image, inside the header, inside the gzip header. */
START_TEST(gzip_truncated)
{
	uint8_t *img = make_image(512 * KIB, 0, 1 * MIB, 0xa);
	static const uint64_t cuts[] = { 2, 10, 30 };
	struct arm64_kernel k;
	int fd;

	with_ram(8 * MIB);
	fd = gz_file(img, 512 * KIB, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)(size_of(fd) / 2)), 0);
	ck_refused(load_fd(fd, &k), -ENOEXEC, "is truncated: its gzip stream ends early");
	for (size_t i = 0; i < 3; i++) {
		fd = gz_file(img, 512 * KIB, 0);
		ck_assert_int_eq(ftruncate(fd, (off_t)cuts[i]), 0);
		ck_refused(load_fd(fd, &k), -ENOEXEC, "is truncated");
	}
	/* Without only the last byte of its length field. */
	fd = gz_file(img, 512 * KIB, 0);
	ck_assert_int_eq(ftruncate(fd, (off_t)(size_of(fd) - 1)), 0);
	ck_refused(load_fd(fd, &k), -ENOEXEC, "is truncated");
	free(img);
}
END_TEST

/* A bomb: a header then 64 MiB of zeros, into 8 MiB of RAM, stops when RAM (or image_size) is full. */
START_TEST(gzip_bomb)
{
	uint8_t h[ARM64_IMAGE_HDR_SIZE];
	struct arm64_kernel k;

	with_ram(8 * MIB);
	make_header(h, 0, 0, 0);
	ck_refused(load_fd(gz_file(h, sizeof(h), 64 * MIB), &k), -ENOMEM,
		   "inflates to more than the 7864320 bytes of guest RAM from 0x40080000");
	make_header(h, 0, 2 * MIB, 0xa);
	ck_refused(load_fd(gz_file(h, sizeof(h), 64 * MIB), &k), -ENOMEM,
		   "inflates to more than the 2097152 bytes its header's image_size gives");
	/* Not even a header: the bomb is refused after 64 bytes. */
	ck_refused(load_fd(gz_file(NULL, 0, 64 * MIB), &k), -ENOEXEC, "is not a gzip-compressed arm64 Image");
}
END_TEST

/* Corruption zlib catches: the CRC, the length, the deflate data; then two members and trailing garbage. */
START_TEST(gzip_corrupt)
{
	uint8_t *img = make_image(256 * KIB, 0, 1 * MIB, 0xa);
	struct arm64_kernel k;
	uint8_t b;
	uint64_t n;
	int fd;

	with_ram(8 * MIB);
	fd = gz_file(img, 256 * KIB, 0);
	n = size_of(fd);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)(n - 8)), 1); /* the CRC-32 */
	b ^= 0x40;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)(n - 8)), 1);
	ck_refused(load_fd(fd, &k), -ENOEXEC, "is not a valid gzip file: incorrect data check");

	fd = gz_file(img, 256 * KIB, 0);
	n = size_of(fd);
	ck_assert_int_eq(pread(fd, &b, 1, (off_t)(n - 2)), 1); /* ISIZE */
	b ^= 0x01;
	ck_assert_int_eq(pwrite(fd, &b, 1, (off_t)(n - 2)), 1);
	ck_refused(load_fd(fd, &k), -ENOEXEC, "is not a valid gzip file: incorrect length check");

	fd = gz_file(img, 256 * KIB, 0);
	ck_assert_int_eq(pwrite(fd, "\x0e", 1, 2), 1); /* compression method 14 */
	ck_refused(load_fd(fd, &k), -ENOEXEC, "is not a valid gzip file: unknown compression method");

	/* Trailing bytes, and a second gzip member, are refused. */
	fd = gz_file(img, 256 * KIB, 0);
	n = size_of(fd);
	ck_assert_int_eq(pwrite(fd, "junk", 4, (off_t)n), 4);
	ck_refused(load_fd(fd, &k), -ENOEXEC, "has 4 bytes after the end of its gzip stream");
	fd = gz_file(img, 256 * KIB, 0);
	n = size_of(fd);
	{
		uint8_t *copy = malloc(n);

		ck_assert_int_eq(pread(fd, copy, n, 0), (ssize_t)n);
		ck_assert_int_eq(pwrite(fd, copy, n, (off_t)n), (ssize_t)n);
		free(copy);
	}
	ck_refused(load_fd(fd, &k), -ENOEXEC, "after the end of its gzip stream");
	free(img);
}
END_TEST

/* Random damage anywhere in an Image.gz: an error or a load, never a crash or a write outside RAM. */
START_TEST(gzip_random_damage)
{
	uint8_t *img = make_image(64 * KIB, 0, 1 * MIB, 0xa);
	struct arm64_kernel k;
	uint8_t *gz;
	uint64_t n;
	int fd = gz_file(img, 64 * KIB, 0);

	with_ram(2 * MIB);
	n = size_of(fd);
	gz = malloc(n);
	ck_assert_int_eq(pread(fd, gz, n, 0), (ssize_t)n);
	close(fd);
	srand(7);
	for (int i = 0; i < 300; i++) {
		uint8_t *bad = malloc(n);
		int ret;

		memcpy(bad, gz, n);
		for (int j = 0; j < 1 + i % 4; j++)
			bad[(size_t)rand() % n] ^= (uint8_t)(1 + rand() % 255);
		lines = 0;
		ret = load_bytes(bad, i % 5 ? n : (size_t)rand() % n, &k);
		ck_assert(ret == 0 || ret == -ENOEXEC || ret == -EINVAL || ret == -ENOMEM);
		ck_assert_int_eq(lines, ret ? 1 : 0);
		free(bad);
	}
	free(gz);
	free(img);
}
END_TEST

/* What is handed in that is not a regular file or not a usable RAM base. */
START_TEST(bad_arguments)
{
	uint8_t *img = make_image(64 * KIB, 0, 1 * MIB, 0xa);
	struct arm64_kernel k;
	uint64_t gpa, size;
	int fd = file_with(img, 64 * KIB), p[2];

	with_ram(8 * MIB);
	ck_refused(arm64_load_kernel(&mem, &kept, "k", fd, BASE + 4096, ram_size, &k), -EINVAL, "not 2 MiB aligned");
	ck_refused(arm64_load_kernel(&mem, &kept, "k", fd, BASE, UINT64_MAX, &k), -EINVAL, "wraps");
	/* RAM said to be larger than the memory there is: gmem_ptr() has the last word. */
	make_header(img, 0, 9 * MIB, 0xa);
	ck_assert_int_eq(pwrite(fd, img, 64, 0), 64);
	ck_refused(arm64_load_kernel(&mem, &kept, "k", fd, BASE, 16 * MIB, &k), -ENOMEM, "needs");
	close(fd);
	ck_assert_int_eq(pipe(p), 0);
	ck_refused(arm64_load_kernel(&mem, &kept, "k", p[0], BASE, ram_size, &k), -EINVAL, "'k' is not a regular file");
	ck_refused(arm64_load_initrd(&mem, &kept, "k", p[0], BASE, BASE + ram_size, &gpa, &size), -EINVAL,
		   "initrd 'k' is not a regular file");
	close(p[0]);
	close(p[1]);
	free(img);
}
END_TEST

START_TEST(initrd_placement)
{
	uint8_t *data = make_image(100 * KIB + 3, 0, 0, 0);
	uint64_t gpa = 0, size = 0, lo = BASE + 2 * MIB, hi = BASE + 8 * MIB - 12345;
	int fd = file_with(data, 100 * KIB + 3);

	with_ram(8 * MIB);
	ck_assert_int_eq(arm64_load_initrd(&mem, &kept, "k", fd, lo, hi, &gpa, &size), 0);
	ck_assert_int_eq(lines, 0);
	ck_assert_uint_eq(size, 100 * KIB + 3);
	ck_assert_uint_eq(gpa % (64 * KIB), 0);
	ck_assert_uint_ge(gpa, lo);
	ck_assert_uint_le(gpa + size, hi);
	ck_assert_uint_gt(gpa + size + 64 * KIB, hi); /* as high as it goes */
	ck_assert_mem_eq(ram + (gpa - BASE), data, size);
	/* Exactly room above lo (after alignment), then none. */
	lo = BASE + 6 * MIB;
	hi = lo + 100 * KIB + 3;
	ck_assert_int_eq(arm64_load_initrd(&mem, &kept, "k", fd, lo, hi, &gpa, &size), 0);
	ck_assert_uint_eq(gpa, lo);
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, lo + 1, hi + 4096, &gpa, &size), -ENOMEM,
		   "initrd 'k' (102403 bytes) does not fit in guest RAM between 0x40600001 and 0x4061a003");
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, lo, lo, &gpa, &size), -ENOMEM, "does not fit");
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, hi, lo, &gpa, &size), -ENOMEM, "does not fit");
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, 0, 50 * KIB, &gpa, &size), -ENOMEM, "does not fit");
	/* hi past the end of RAM: the range is checked against guest memory too. */
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, lo, BASE + 16 * MIB, &gpa, &size), -ENOMEM, "does not fit");
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, lo, UINT64_MAX, &gpa, &size), -ENOMEM, "does not fit");
	close(fd);
	fd = file_with(data, 0);
	ck_refused(arm64_load_initrd(&mem, &kept, "k", fd, lo, hi, &gpa, &size), -EINVAL, "initrd 'k' is empty");
	close(fd);
	free(data);
}
END_TEST

/* 2000 random headers (half with the magic, to get past it) through the parser: it never crashes or lies. */
START_TEST(parse_fuzz)
{
	struct arm64_image_info info;
	uint8_t h[ARM64_IMAGE_HDR_SIZE];
	const char *why;
	int ok = 0;

	srand(1);
	for (int i = 0; i < 2000; i++) {
		uint64_t sum;
		int ret;

		for (size_t j = 0; j < sizeof(h); j++)
			h[j] = (uint8_t)rand();
		if (i % 2)
			memcpy(h + 56, "ARM\x64", 4);
		if (i % 4 == 1)
			h[24] &= ~1; /* little endian */
		if (i % 8 == 1) { /* a 4 KiB aligned text_offset */
			h[8] = 0;
			h[9] &= 0xf0;
		}
		if (i % 16 == 1) { /* an offset and a size that do not overflow */
			memset(h + 11, 0, 5);
			memset(h + 19, 0, 5);
		}
		ret = arm64_image_parse(h, (size_t)(i % 3 ? 64 : rand() % 65), (uint64_t)rand(), &info, &why);
		if (ret) {
			ck_assert(ret == -ENOEXEC || ret == -EINVAL);
			ck_assert_ptr_nonnull(why);
			continue;
		}
		ok++;
		ck_assert_ptr_null(why);
		ck_assert_uint_eq(info.text_offset % 4096, 0);
		ck_assert(!__builtin_add_overflow(info.text_offset, info.image_size, &sum));
		ck_assert(!(info.flags & 1));
	}
	ck_assert_int_gt(ok, 50); /* the loop reached the checks past the magic */
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arm64_image");
	TCase *tc = tcase_create("arm64_image");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_set_timeout(tc, 60); /* the bomb deflates 128 MiB of zeros; slower under sanitizers */
	tcase_add_test(tc, image_loads);
	tcase_add_test(tc, image_old_header);
	tcase_add_test(tc, gzip_loads);
	tcase_add_test(tc, gzip_exact_fit);
	tcase_add_test(tc, hostile_headers);
	tcase_add_test(tc, large_text_offset);
	tcase_add_test(tc, file_longer_than_image_size);
	tcase_add_test(tc, other_formats);
	tcase_add_test(tc, gzip_truncated);
	tcase_add_test(tc, gzip_bomb);
	tcase_add_test(tc, gzip_corrupt);
	tcase_add_test(tc, gzip_random_damage);
	tcase_add_test(tc, bad_arguments);
	tcase_add_test(tc, initrd_placement);
	tcase_add_test(tc, parse_fuzz);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
