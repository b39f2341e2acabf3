/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Loading a kernel into guest memory: bzImage (Linux x86 boot protocol 2.12+,
 * 64-bit entry) or an ELF vmlinux (64-bit entry with a zero page, or the PVH
 * 32-bit entry when the image carries a Xen PHYS32_ENTRY note); the initrd,
 * the command line, e820, and the zero page / hvm_start_info.
 */
#ifndef VMM_X86_BOOT_H
#define VMM_X86_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <asm/bootparam.h>
#include <asm/e820.h>

#include "log.h"
#include "memory.h"

struct x86_boot {
	uint64_t entry;      /* guest-physical entry point */
	uint64_t boot_info;  /* rsi: zero page (64-bit entry); ebx: hvm_start_info (PVH) */
	bool pvh;            /* enter in 32-bit protected mode (PVH) instead of 64-bit long mode */
	bool bzimage;
	uint64_t kernel_end; /* first byte past what the kernel may use after decompression */
	uint32_t initrd_addr_max;
	uint32_t cmdline_size; /* including NUL */
	struct setup_header hdr; /* bzImage only: the image's setup header */
};

/*
 * A kernel image to load: held in memory (buf), or a file read piece by piece (fd, buf NULL), so
 * that its segments go straight from the file into guest RAM. len: its size in bytes.
 */
struct x86_image {
	const uint8_t *buf;
	int fd;
	size_t len;
};
/* Copy [off, off + n) of the image into dst: 0, -ENOEXEC when the range is not all in the image, -errno. */
int x86_image_read(const struct x86_image *im, uint64_t off, void *dst, uint64_t n);
/* Why x86_image_read() failed, for "cannot read ...: %s" (-EIO: the file got shorter while being read). */
const char *x86_image_error(int ret);

/* Load a kernel image held in memory. what names it in messages ("kernel 'bzImage'"). */
int x86_load_kernel(const struct guest_mem *m, const struct vlog *log, const char *what, const uint8_t *img,
		    size_t len, struct x86_boot *b);
/* The same from an image in memory or in a file. */
int x86_load_image(const struct guest_mem *m, const struct vlog *log, const char *what, const struct x86_image *im,
		   struct x86_boot *b);
/* Choose where an initrd of size bytes goes: page aligned, as high as allowed, above the kernel. */
int x86_place_initrd(const struct guest_mem *m, const struct x86_boot *b, uint64_t size, uint64_t *gpa);
/* Fill the BIOS-style e820 map of m into tab; returns the entry count or -ENOSPC. */
int x86_e820(const struct guest_mem *m, struct boot_e820_entry *tab, int max);
/* Write the command line and the zero page (or hvm_start_info for PVH). */
int x86_write_boot_info(const struct guest_mem *m, const struct vlog *log, struct x86_boot *b, const char *cmdline,
			uint64_t initrd_gpa, uint64_t initrd_size, uint64_t rsdp_gpa);
/* Images opened by boot_file_open(); the paths name them in messages. No initrd: initrd NULL. */
struct x86_boot_files {
	const char *kernel, *initrd;
	int kernel_fd, initrd_fd;
};

/* The whole job from open files: kernel, optional initrd, cmdline, RSDP address. */
int x86_boot_setup(const struct guest_mem *m, const struct vlog *log, const struct x86_boot_files *f,
		   const char *cmdline, uint64_t rsdp_gpa, struct x86_boot *b);

#endif
