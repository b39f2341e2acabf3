/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a Linux arm64 kernel (Documentation/arch/arm64/booting.rst): the uncompressed Image or a
 * gzip-compressed Image.gz, straight from the file into guest RAM; and the initrd at the top of RAM.
 */
#ifndef VMM_ARM64_IMAGE_H
#define VMM_ARM64_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "memory.h"

#define ARM64_IMAGE_HDR_SIZE 64
#define ARM64_IMAGE_MAGIC 0x644d5241u /* "ARM\x64", little endian, at offset 56 */
/* The Image goes text_offset bytes above a base with this alignment. */
#define ARM64_IMAGE_BASE_ALIGN 0x200000ull

/* What the 64-byte header says, checked. */
struct arm64_image_info {
	uint64_t text_offset; /* where the Image goes above a 2 MiB aligned base */
	/*
	 * Bytes from the start of the Image that the kernel may use (its BSS included). A header
	 * without one (Linux before 3.17): file_size as given to arm64_image_parse(), 0 if unknown.
	 */
	uint64_t image_size;
	uint64_t flags;       /* as written: bit 0 big endian (refused), bits 1-2 page size, bit 3 placement */
	unsigned page_size;   /* 4096, 16384 or 65536; 0: the header does not say */
	bool no_image_size;   /* pre-3.17 header: text_offset assumed 0x80000, image_size is a guess */
};

/*
 * Parse and check the header hdr (len bytes available). file_size: the uncompressed Image's size
 * when known, else 0. Returns 0, -ENOEXEC (not a little-endian arm64 Image) or -EINVAL (fields
 * that cannot describe a loadable kernel), with *why set to a short reason for a message.
 */
int arm64_image_parse(const void *hdr, size_t len, uint64_t file_size, struct arm64_image_info *out,
		      const char **why);

struct arm64_kernel {
	uint64_t entry; /* guest-physical address of the first instruction: the start of the Image */
	uint64_t end;   /* first byte past the kernel's image_size bytes: the initrd and DTB may go from here */
	struct arm64_image_info info;
	bool gzip;      /* it was an Image.gz */
};

/*
 * Load the kernel in the regular file fd (path names it in messages) into m, at ram_base (2 MiB
 * aligned) + text_offset; [ram_base, ram_base + ram_size) is the guest's RAM. The lowest base there
 * is: what flags bit 3 clear asks for (older kernels cannot use RAM below themselves), and what it
 * set allows. An Image.gz inflates straight into RAM, bounded by image_size and by the RAM there
 * is; one gzip member, nothing after it. Returns 0 or -errno with one line logged.
 */
int arm64_load_kernel(const struct guest_mem *m, const struct vlog *log, const char *path, int fd, uint64_t ram_base,
		      uint64_t ram_size, struct arm64_kernel *out);

/*
 * Load the initrd in fd (path names it) as high as it fits in [lo, hi), 64 KiB aligned (a page for
 * every granule a kernel may use). booting.rst wants it and the whole kernel inside one 1 GiB
 * aligned window of at most 32 GiB: the caller keeps hi within that. Returns 0 with its place in
 * *gpa and *size, or -errno with one line logged.
 */
int arm64_load_initrd(const struct guest_mem *m, const struct vlog *log, const char *path, int fd, uint64_t lo,
		      uint64_t hi, uint64_t *gpa, uint64_t *size);

#endif
