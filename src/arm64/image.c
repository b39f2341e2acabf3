// SPDX-License-Identifier: Apache-2.0
/*
 * Linux arm64 boot (Documentation/arch/arm64/booting.rst): the Image header, an Image or an Image.gz
 * read from its file straight into guest RAM, and the initrd at the top of RAM.
 */
#include "arm64/image.h"

#include <byteswap.h>
#include <endian.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* booting.rst: a header with image_size 0 (before Linux 3.17) means text_offset 0x80000, whatever it says. */
#define OLD_TEXT_OFFSET 0x80000ull
#define FLAG_BE (1ull << 0)
#define FLAG_PAGE_SHIFT 1
#define FLAG_PAGE_MASK 3ull
/* The largest arm64 page: an initrd aligned to it starts on a page boundary whatever the kernel's granule. */
#define INITRD_ALIGN 0x10000ull
/* What is read of a file before deciding what it is: enough for an x86 bzImage's "HdrS" at 0x202. */
#define HEAD_LEN 0x240
/* One pread(): a bound that keeps each call's length well inside ssize_t and the kernel's 2 GiB cap. */
#define READ_STEP (1ull << 30)
/* Compressed input is read in pieces of this size; inflate's output goes straight into guest RAM. */
#define GZ_IN_CHUNK (256u << 10)
/* inflate() counts its output space in a uInt (32 bits): it is handed guest RAM this much at a time. */
#define GZ_OUT_STEP (1u << 30)

static uint32_t get_le32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get_le64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

int arm64_image_parse(const void *hdr, size_t len, uint64_t file_size, struct arm64_image_info *out,
		      const char **why)
{
	const uint8_t *h = hdr;
	uint64_t text_offset, image_size, flags, end;

	memset(out, 0, sizeof(*out));
	*why = NULL;
	if (len < ARM64_IMAGE_HDR_SIZE) {
		*why = "it is shorter than the 64-byte Image header";
		return -ENOEXEC;
	}
	if (get_le32(h + 56) != ARM64_IMAGE_MAGIC) {
		*why = "it has no \"ARM\\x64\" magic at offset 56";
		return -ENOEXEC;
	}
	text_offset = get_le64(h + 8);
	image_size = get_le64(h + 16);
	flags = get_le64(h + 24);
	if (image_size == 0) {
		/*
		 * Before 3.17 the fields were in the kernel's own byte order and text_offset was always
		 * 0x80000: seen byte-swapped, it is a big-endian kernel from before the flags existed.
		 */
		if (text_offset == bswap_64(OLD_TEXT_OFFSET)) {
			*why = "it is a big-endian kernel; vmm runs little-endian guests only";
			return -ENOEXEC;
		}
		text_offset = OLD_TEXT_OFFSET;
		image_size = file_size;
		out->no_image_size = true;
	} else if (image_size < ARM64_IMAGE_HDR_SIZE) {
		*why = "its image_size is smaller than the header itself";
		return -EINVAL;
	}
	if (flags & FLAG_BE) {
		*why = "it is a big-endian kernel; vmm runs little-endian guests only";
		return -ENOEXEC;
	}
	/*
	 * booting.rst asks only for a 2 MiB aligned base; every kernel that had a text_offset built it
	 * 4 KiB aligned (head.S refused anything else), and one that is not cannot map itself in pages.
	 * A text_offset of 2 MiB or more is allowed (some vendors' kernels use 0x1080000): whether the
	 * Image then fits is the RAM's question.
	 */
	if (text_offset & 0xfff) {
		*why = "its text_offset is not a multiple of 4 KiB";
		return -EINVAL;
	}
	if (__builtin_add_overflow(text_offset, image_size, &end)) {
		*why = "its text_offset + image_size overflows 64 bits";
		return -EINVAL;
	}
	out->text_offset = text_offset;
	out->image_size = image_size;
	out->flags = flags;
	switch ((flags >> FLAG_PAGE_SHIFT) & FLAG_PAGE_MASK) {
	case 1:
		out->page_size = 4096;
		break;
	case 2:
		out->page_size = 16384;
		break;
	case 3:
		out->page_size = 65536;
		break;
	default:
		out->page_size = 0;
	}
	return 0;
}

/*
 * Read n bytes at off straight into dst: 0, -errno, or -ENODATA when the file ends first (it was
 * cut after its size was taken).
 */
static int read_at(int fd, void *dst, uint64_t n, uint64_t off)
{
	uint64_t done = 0;

	while (done < n) {
		uint64_t want = n - done < READ_STEP ? n - done : READ_STEP;
		ssize_t r = pread(fd, (uint8_t *)dst + done, (size_t)want, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ENODATA;
		done += (uint64_t)r;
	}
	return 0;
}

static const char *read_error(int ret)
{
	return ret == -ENODATA ? "the file got shorter while it was being read" : strerror(-ret);
}

/* The size of the regular file fd; what ("kernel", "initrd") and path name it in the message. */
static int file_size(const struct vlog *log, const char *what, const char *path, int fd, uint64_t *size)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		vlog_err(log, "cannot stat %s '%s': %s", what, path, strerror(-ret));
		return ret;
	}
	if (!S_ISREG(st.st_mode)) {
		vlog_err(log, "%s '%s' is not a regular file", what, path);
		return -EINVAL;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

/*
 * What the first n bytes of a file that is not an arm64 Image show it to be, written into buf for
 * "is not an arm64 Image: %s"; NULL when they show nothing we know.
 */
static const char *what_is(const uint8_t *p, size_t n, char *buf, size_t len)
{
	static const struct {
		const char *magic;
		size_t len;
		const char *name;
	} packed[] = {
		{ "\xfd" "7zXZ", 6, "xz" },	 { "\x28\xb5\x2f\xfd", 4, "zstd" }, { "BZh", 3, "bzip2" },
		{ "\x02\x21\x4c\x18", 4, "lz4" }, { "\x04\x22\x4d\x18", 4, "lz4" }, { "\x89LZO", 4, "lzo" },
		{ "\x5d\x00\x00", 3, "lzma" },
	};

	if (n >= 20 && !memcmp(p, "\177ELF", 4)) {
		/* e_machine, read as little endian: a big-endian ELF is no arm64 Linux kernel either. */
		unsigned machine = p[18] | p[19] << 8;

		if (machine == 183)
			return "it is an ELF vmlinux; vmm boots the arch/arm64/boot/Image (or Image.gz) made from it";
		return machine == 62 ? "it is an x86-64 ELF file" : "it is an ELF file";
	}
	if (n >= 0x206 && !memcmp(p + 0x202, "HdrS", 4))
		return "it is an x86 bzImage";
	if (n >= 56 && !memcmp(p, "MZ", 2) && !memcmp(p + 4, "zimg", 4)) {
		char comp[33] = "";

		/* The EFI zboot header names its payload's compression at offset 24. */
		for (size_t i = 0; i < 32 && p[24 + i] >= 0x20 && p[24 + i] < 0x7f; i++)
			comp[i] = (char)p[24 + i];
		snprintf(buf, len, "it is an EFI zboot image (vmlinuz.efi, %s inside), which vmm does not unpack; "
			 "give it the Image or Image.gz", comp[0] ? comp : "compressed");
		return buf;
	}
	for (size_t i = 0; i < sizeof(packed) / sizeof(packed[0]); i++) {
		if (n < packed[i].len || memcmp(p, packed[i].magic, packed[i].len))
			continue;
		snprintf(buf, len, "it is compressed with %s; vmm reads an Image, or an Image.gz made with gzip",
			 packed[i].name);
		return buf;
	}
	if (n >= ARM64_IMAGE_HDR_SIZE && !memcmp(p, "MZ", 2))
		return "it is a PE/EFI executable with no \"ARM\\x64\" magic at offset 56";
	return NULL;
}

/* Why a header was refused, as one line naming the file. */
static void log_bad_header(const struct vlog *log, const char *path, int ret, const char *why, const uint8_t *head,
			   size_t n, bool inflated)
{
	char buf[200];
	/* With the magic there, it is an Image and the parser's reason stands. */
	bool image = n >= ARM64_IMAGE_HDR_SIZE && get_le32(head + 56) == ARM64_IMAGE_MAGIC;
	const char *what = image ? NULL : what_is(head, n, buf, sizeof(buf));

	if (ret == -ENOEXEC)
		vlog_err(log, "kernel '%s' is not %s arm64 Image: %s", path, inflated ? "a gzip-compressed" : "an",
			 what ? what : why);
	else
		vlog_err(log, "kernel '%s' has an arm64 Image header that cannot be loaded: %s", path, why);
}

/*
 * The host pointer for need bytes at ram_base + text_offset, when all of them are in the guest's
 * RAM ([ram_base, ram_base + ram_size), checked by the caller not to wrap); else NULL.
 */
static uint8_t *place(const struct guest_mem *m, uint64_t ram_base, uint64_t ram_size, uint64_t text_offset,
		      uint64_t need)
{
	if (text_offset > ram_size || need > ram_size - text_offset)
		return NULL;
	return gmem_ptr(m, ram_base + text_offset, need);
}

static void log_no_room(const struct vlog *log, const char *path, uint64_t load, uint64_t need)
{
	vlog_err(log, "kernel '%s' needs %llu bytes of guest RAM from 0x%llx, which this VM does not have; "
		 "give it more --mem", path, (unsigned long long)need, (unsigned long long)load);
}

/* An Image.gz being inflated: the file, read a piece at a time, and zlib's state. */
struct gz {
	z_stream zs;
	const struct vlog *log;
	const char *path;
	int fd;
	uint64_t off, size; /* the next byte of the file to read; the file's size */
	uint8_t *in;
};

/*
 * Inflate into dst, at most cap bytes; *done: how many came out. Returns 1 when the gzip member
 * ended (its CRC and length checked by zlib), 0 when dst is full and the stream has more to give,
 * or -errno with one line logged.
 */
static int gz_inflate(struct gz *g, uint8_t *dst, uint64_t cap, uint64_t *done)
{
	*done = 0;
	for (;;) {
		uint64_t room = cap - *done;
		uInt step = room < GZ_OUT_STEP ? (uInt)room : GZ_OUT_STEP;
		int zr, ret;

		if (g->zs.avail_in == 0 && g->off < g->size) {
			uint64_t n = g->size - g->off < GZ_IN_CHUNK ? g->size - g->off : GZ_IN_CHUNK;

			ret = read_at(g->fd, g->in, n, g->off);
			if (ret) {
				vlog_err(g->log, "cannot read kernel '%s': %s", g->path, read_error(ret));
				return ret;
			}
			g->zs.next_in = g->in;
			g->zs.avail_in = (uInt)n;
			g->off += n;
		}
		g->zs.next_out = dst + *done;
		g->zs.avail_out = step;
		zr = inflate(&g->zs, Z_NO_FLUSH);
		*done += step - g->zs.avail_out;
		switch (zr) {
		case Z_OK:
			continue; /* it moved: input was taken or output given */
		case Z_STREAM_END:
			return 1;
		case Z_BUF_ERROR:
			/* No progress was possible: the input is all used (the file is too), or dst is full. */
			if (g->zs.avail_in == 0) {
				vlog_err(g->log, "kernel '%s' is truncated: its gzip stream ends early", g->path);
				return -ENOEXEC;
			}
			return 0;
		case Z_MEM_ERROR:
			vlog_err(g->log, "cannot inflate kernel '%s': out of memory", g->path);
			return -ENOMEM;
		default:
			vlog_err(g->log, "kernel '%s' is not a valid gzip file: %s", g->path,
				 g->zs.msg ? g->zs.msg : "corrupt data");
			return -ENOEXEC;
		}
	}
}

/*
 * An Image.gz: the header from the first 64 bytes inflated, then the rest straight into guest RAM
 * after it. The output is bounded by image_size, or by the RAM there is for an old header without
 * one, so a gzip bomb ends with an error once that is full. One gzip member and nothing after it:
 * trailing bytes are refused, since how much input the member took is known for free.
 */
static int load_gzip(const struct guest_mem *m, const struct vlog *log, const char *path, int fd, uint64_t size,
		     uint64_t ram_base, uint64_t ram_size, struct arm64_kernel *out)
{
	struct gz g = { .log = log, .path = path, .fd = fd, .size = size };
	uint8_t hdr[ARM64_IMAGE_HDR_SIZE];
	struct arm64_image_info info;
	uint64_t got, total, limit, load, consumed;
	const char *why;
	bool ended;
	uint8_t *dst;
	int ret, zr;

	g.in = malloc(GZ_IN_CHUNK);
	if (!g.in) {
		vlog_err(log, "cannot inflate kernel '%s': out of memory", path);
		return -ENOMEM;
	}
	zr = inflateInit2(&g.zs, 16 + MAX_WBITS); /* 16: a gzip wrapper, and only that */
	if (zr != Z_OK) {
		vlog_err(log, "cannot inflate kernel '%s': %s", path,
			 zr == Z_MEM_ERROR ? "out of memory" : "zlib would not start");
		free(g.in);
		return zr == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
	}

	ret = gz_inflate(&g, hdr, sizeof(hdr), &got);
	if (ret < 0)
		goto out;
	ended = ret == 1;
	ret = arm64_image_parse(hdr, got, 0, &info, &why);
	if (ret) {
		log_bad_header(log, path, ret, why, hdr, got, true);
		goto out;
	}
	load = ram_base + info.text_offset;
	limit = info.image_size;
	if (!limit) /* an old header: as much as there is RAM */
		limit = info.text_offset < ram_size ? ram_size - info.text_offset : 0;
	dst = place(m, ram_base, ram_size, info.text_offset, limit);
	if (!dst || limit < sizeof(hdr)) {
		log_no_room(log, path, load, limit > sizeof(hdr) ? limit : sizeof(hdr));
		ret = -ENOMEM;
		goto out;
	}
	memcpy(dst, hdr, sizeof(hdr));
	total = sizeof(hdr);
	if (!ended) {
		ret = gz_inflate(&g, dst + total, limit - total, &got);
		if (ret < 0)
			goto out;
		total += got;
		ended = ret == 1;
	}
	if (!ended) {
		if (info.image_size)
			vlog_err(log, "kernel '%s' inflates to more than the %llu bytes its header's image_size gives",
				 path, (unsigned long long)info.image_size);
		else
			vlog_err(log, "kernel '%s' inflates to more than the %llu bytes of guest RAM from 0x%llx; "
				 "give it more --mem", path, (unsigned long long)limit, (unsigned long long)load);
		ret = -ENOMEM;
		goto out;
	}
	consumed = g.off - g.zs.avail_in;
	if (consumed < size) {
		vlog_err(log, "kernel '%s' has %llu bytes after the end of its gzip stream", path,
			 (unsigned long long)(size - consumed));
		ret = -ENOEXEC;
		goto out;
	}
	if (!info.image_size)
		info.image_size = total; /* an old header: what came out is all we know */
	out->entry = load;
	out->end = load + info.image_size;
	out->info = info;
	out->gzip = true;
	ret = 0;
out:
	inflateEnd(&g.zs);
	free(g.in);
	return ret;
}

/* An uncompressed Image, whose first n bytes (all of them up to HEAD_LEN) are in head. */
static int load_image(const struct guest_mem *m, const struct vlog *log, const char *path, int fd, uint64_t size,
		      const uint8_t *head, size_t n, uint64_t ram_base, uint64_t ram_size, struct arm64_kernel *out)
{
	struct arm64_image_info info;
	uint64_t copy, load;
	const char *why;
	uint8_t *dst;
	int ret;

	ret = arm64_image_parse(head, n, size, &info, &why);
	if (ret) {
		log_bad_header(log, path, ret, why, head, n, false);
		return ret;
	}
	load = ram_base + info.text_offset;
	dst = place(m, ram_base, ram_size, info.text_offset, info.image_size);
	if (!dst) {
		log_no_room(log, path, load, info.image_size);
		return -ENOMEM;
	}
	/*
	 * image_size counts the BSS, so the file is normally shorter. Bytes past image_size (a
	 * signature appended to the file) are no part of the kernel and are left out.
	 */
	copy = size < info.image_size ? size : info.image_size;
	ret = read_at(fd, dst, copy, 0);
	if (ret) {
		vlog_err(log, "cannot read kernel '%s': %s", path, read_error(ret));
		return ret;
	}
	out->entry = load;
	out->end = load + info.image_size;
	out->info = info;
	return 0;
}

int arm64_load_kernel(const struct guest_mem *m, const struct vlog *log, const char *path, int fd, uint64_t ram_base,
		      uint64_t ram_size, struct arm64_kernel *out)
{
	uint8_t head[HEAD_LEN];
	uint64_t size, ram_end;
	size_t n;
	int ret;

	memset(out, 0, sizeof(*out));
	if ((ram_base & (ARM64_IMAGE_BASE_ALIGN - 1)) || __builtin_add_overflow(ram_base, ram_size, &ram_end)) {
		vlog_err(log, "cannot load kernel '%s': guest RAM at 0x%llx (%llu bytes) is not 2 MiB aligned or wraps",
			 path, (unsigned long long)ram_base, (unsigned long long)ram_size);
		return -EINVAL;
	}
	ret = file_size(log, "kernel", path, fd, &size);
	if (ret)
		return ret;
	if (size == 0) {
		vlog_err(log, "kernel '%s' is not an arm64 Image: the file is empty", path);
		return -ENOEXEC;
	}
	n = size < sizeof(head) ? (size_t)size : sizeof(head);
	ret = read_at(fd, head, n, 0);
	if (ret) {
		vlog_err(log, "cannot read kernel '%s': %s", path, read_error(ret));
		return ret;
	}
	if (n >= 2 && head[0] == 0x1f && head[1] == 0x8b)
		ret = load_gzip(m, log, path, fd, size, ram_base, ram_size, out);
	else
		ret = load_image(m, log, path, fd, size, head, n, ram_base, ram_size, out);
	if (ret)
		return ret;
	vlog_debug(log, "kernel '%s': arm64 Image%s at 0x%llx-0x%llx, text_offset 0x%llx, flags 0x%llx%s", path,
		   out->gzip ? ".gz" : "", (unsigned long long)out->entry, (unsigned long long)out->end,
		   (unsigned long long)out->info.text_offset, (unsigned long long)out->info.flags,
		   out->info.no_image_size ? ", no image_size in its header" : "");
	return 0;
}

int arm64_load_initrd(const struct guest_mem *m, const struct vlog *log, const char *path, int fd, uint64_t lo,
		      uint64_t hi, uint64_t *gpa, uint64_t *size)
{
	uint64_t len, addr = 0;
	uint8_t *dst = NULL;
	int ret;

	ret = file_size(log, "initrd", path, fd, &len);
	if (ret)
		return ret;
	if (len == 0) {
		vlog_err(log, "initrd '%s' is empty", path);
		return -EINVAL;
	}
	if (hi > lo && len <= hi - lo) {
		addr = (hi - len) & ~(INITRD_ALIGN - 1);
		if (addr >= lo)
			dst = gmem_ptr(m, addr, len);
	}
	if (!dst) {
		vlog_err(log, "initrd '%s' (%llu bytes) does not fit in guest RAM between 0x%llx and 0x%llx; "
			 "give it more --mem", path, (unsigned long long)len, (unsigned long long)lo,
			 (unsigned long long)hi);
		return -ENOMEM;
	}
	ret = read_at(fd, dst, len, 0);
	if (ret) {
		vlog_err(log, "cannot read initrd '%s': %s", path, read_error(ret));
		return ret;
	}
	*gpa = addr;
	*size = len;
	return 0;
}
