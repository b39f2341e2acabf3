// SPDX-License-Identifier: Apache-2.0
/* Linux x86 boot protocol: bzImage, zero page, e820, command line and initrd placement. */
#include "x86/boot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "x86/elf.h"
#include "x86/layout.h"

#define HDRS_MAGIC 0x53726448u /* "HdrS" */
#define SETUP_HDR_OFF 0x1f1
#define MIN_PROTOCOL 0x020c /* 2.12: xloadflags, so we know the 64-bit entry exists */

_Static_assert(sizeof(struct boot_params) == 4096, "zero page layout");
_Static_assert(offsetof(struct boot_params, hdr) == SETUP_HDR_OFF, "setup header offset");

int x86_image_read(const struct x86_image *im, uint64_t off, void *dst, uint64_t n)
{
	uint64_t end, done = 0;

	if (__builtin_add_overflow(off, n, &end) || end > im->len)
		return -ENOEXEC;
	if (im->buf) {
		memcpy(dst, im->buf + off, n);
		return 0;
	}
	while (done < n) {
		ssize_t r = pread(im->fd, (uint8_t *)dst + done, n - done, (off_t)(off + done));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return r < 0 ? -errno : -EIO; /* 0: the file shrank under us */
		done += (uint64_t)r;
	}
	return 0;
}

const char *x86_image_error(int ret)
{
	return ret == -EIO ? "the file got shorter while it was being read" : strerror(-ret);
}

static int load_bzimage(const struct guest_mem *m, const struct vlog *log, const char *what,
			const struct x86_image *im, const uint8_t *head, struct x86_boot *b)
{
	struct setup_header *h = &b->hdr;
	size_t hdr_len, setup_size, ksize, len = im->len;
	uint64_t load, need, end;
	void *dst;
	int ret;

	/* The header's own length: the byte at 0x201 is the jump offset from 0x202. Fields past it are zero. */
	hdr_len = 0x202 + head[0x201] - SETUP_HDR_OFF;
	if (hdr_len > sizeof(*h))
		hdr_len = sizeof(*h);
	memset(h, 0, sizeof(*h));
	memcpy(h, head + SETUP_HDR_OFF, hdr_len);
	if (h->version < MIN_PROTOCOL || !(h->xloadflags & XLF_KERNEL_64)) {
		vlog_err(log, "%s uses Linux boot protocol %u.%02u without a 64-bit entry point; vmm needs 2.12 or newer",
			 what, h->version >> 8, h->version & 0xff);
		return -ENOEXEC;
	}
	if (!(h->loadflags & LOADED_HIGH)) {
		vlog_err(log, "%s is a zImage (loaded low); vmm needs a bzImage", what);
		return -ENOEXEC;
	}

	setup_size = ((size_t)(h->setup_sects ? h->setup_sects : 4) + 1) * 512;
	if (setup_size >= len) {
		vlog_err(log, "%s is truncated: its setup code (%zu bytes) covers the whole file", what, setup_size);
		return -ENOEXEC;
	}
	ksize = len - setup_size;
	if (ksize <= 0x200) {
		vlog_err(log, "%s is truncated: its protected-mode kernel (%zu bytes) ends before the 64-bit entry point", what,
			 ksize);
		return -ENOEXEC;
	}
	load = h->pref_address ? h->pref_address : KERNEL_LOAD_DEFAULT;
	need = h->init_size > ksize ? h->init_size : ksize;
	if (__builtin_add_overflow(load, need, &end)) {
		vlog_err(log, "%s wants %llu bytes of guest RAM at 0x%llx, past the end of the address space", what,
			 (unsigned long long)need, (unsigned long long)load);
		return -ENOMEM;
	}
	if (load < HIGH_MEMORY || !(dst = gmem_ptr(m, load, need))) {
		vlog_err(log, "%s needs guest RAM at 0x%llx-0x%llx, which this VM does not have; give it more --mem", what,
			 (unsigned long long)load, (unsigned long long)end);
		return -ENOMEM;
	}
	ret = x86_image_read(im, setup_size, dst, ksize);
	if (ret) {
		vlog_err(log, "cannot read %s: %s", what, x86_image_error(ret));
		return ret;
	}

	b->bzimage = true;
	b->pvh = false;
	b->entry = load + 0x200; /* startup_64 sits 512 bytes into the protected-mode kernel */
	b->kernel_end = end;
	b->initrd_addr_max = h->initrd_addr_max ? h->initrd_addr_max : 0x37ffffff;
	/* The header counts without the NUL (0: the old default of 255); we never write more than BOOT_CMDLINE_MAX. */
	if (!h->cmdline_size)
		b->cmdline_size = 256;
	else if (h->cmdline_size >= BOOT_CMDLINE_MAX)
		b->cmdline_size = BOOT_CMDLINE_MAX;
	else
		b->cmdline_size = h->cmdline_size + 1;
	vlog_debug(log, "%s: bzImage, boot protocol %u.%02u, 64-bit entry at 0x%llx", what, h->version >> 8,
		   h->version & 0xff, (unsigned long long)b->entry);
	return 0;
}

int x86_load_kernel(const struct guest_mem *m, const struct vlog *log, const char *what, const uint8_t *img,
		    size_t len, struct x86_boot *b)
{
	const struct x86_image im = { .buf = img, .fd = -1, .len = len };

	return x86_load_image(m, log, what, &im, b);
}

int x86_load_image(const struct guest_mem *m, const struct vlog *log, const char *what, const struct x86_image *im,
		   struct x86_boot *b)
{
	uint8_t head[SETUP_HDR_OFF + sizeof(struct setup_header)];
	size_t n = im->len < sizeof(head) ? im->len : sizeof(head);
	int ret;

	memset(b, 0, sizeof(*b));
	ret = x86_image_read(im, 0, head, n);
	if (ret) {
		vlog_err(log, "cannot read %s: %s", what, x86_image_error(ret));
		return ret;
	}
	if (n >= 4 && !memcmp(head, "\177ELF", 4))
		return x86_load_elf(m, log, what, im, b);
	if (n == sizeof(head)) {
		uint32_t magic;

		memcpy(&magic, head + offsetof(struct setup_header, header) + SETUP_HDR_OFF, 4);
		if (magic == HDRS_MAGIC)
			return load_bzimage(m, log, what, im, head, b);
	}
	vlog_err(log, "%s is neither a bzImage (no 'HdrS' boot header) nor an ELF vmlinux", what);
	return -ENOEXEC;
}

int x86_place_initrd(const struct guest_mem *m, const struct x86_boot *b, uint64_t size, uint64_t *gpa)
{
	uint64_t top = gmem_low_end(m), addr;

	if ((uint64_t)b->initrd_addr_max + 1 < top)
		top = (uint64_t)b->initrd_addr_max + 1;
	if (size == 0 || size > top)
		return -ENOMEM;
	addr = (top - size) & ~0xfffull;
	if (addr < b->kernel_end || !gmem_ptr(m, addr, size))
		return -ENOMEM;
	*gpa = addr;
	return 0;
}

static int add_e820(struct boot_e820_entry *tab, int n, int max, uint64_t addr, uint64_t size, uint32_t type)
{
	if (n >= max)
		return -ENOSPC;
	tab[n] = (struct boot_e820_entry){ .addr = addr, .size = size, .type = type };
	return n + 1;
}

int x86_e820(const struct guest_mem *m, struct boot_e820_entry *tab, int max)
{
	int n = 0;

	for (int i = 0; i < m->nr && n >= 0; i++) {
		uint64_t start = m->r[i].gpa, end = start + m->r[i].size;

		if (start == 0) {
			/* Low RAM stops at the EBDA; the legacy hole up to 1 MiB holds our ACPI tables. */
			n = add_e820(tab, n, max, 0, end < EBDA_START ? end : EBDA_START, E820_RAM);
			if (n >= 0 && end > EBDA_START)
				n = add_e820(tab, n, max, EBDA_START, HIGH_MEMORY - EBDA_START, E820_RESERVED);
			if (n >= 0 && end > HIGH_MEMORY)
				n = add_e820(tab, n, max, HIGH_MEMORY, end - HIGH_MEMORY, E820_RAM);
		} else {
			n = add_e820(tab, n, max, start, end - start, E820_RAM);
		}
	}
	return n;
}

static int write_cmdline(const struct guest_mem *m, const struct vlog *log, const struct x86_boot *b,
			 const char *cmdline)
{
	size_t len = strlen(cmdline) + 1;
	size_t max = b->cmdline_size < BOOT_CMDLINE_MAX ? b->cmdline_size : BOOT_CMDLINE_MAX;

	if (max == 0)
		max = 1; /* room for the NUL alone */
	if (len > max) {
		vlog_err(log, "kernel command line is %zu bytes; this kernel accepts at most %zu", len - 1, max - 1);
		return -E2BIG;
	}
	return gmem_write(m, BOOT_CMDLINE_ADDR, cmdline, len);
}

static int write_zero_page(const struct guest_mem *m, struct x86_boot *b, uint64_t initrd_gpa, uint64_t initrd_size,
			   uint64_t rsdp_gpa)
{
	struct boot_params *zp = gmem_ptr(m, BOOT_ZERO_PAGE_ADDR, sizeof(*zp));
	int n;

	if (!zp)
		return -EFAULT;
	memset(zp, 0, sizeof(*zp));
	if (b->bzimage) {
		zp->hdr = b->hdr;
	} else {
		zp->hdr.boot_flag = 0xaa55;
		zp->hdr.header = HDRS_MAGIC;
		zp->hdr.version = MIN_PROTOCOL;
		zp->hdr.kernel_alignment = 0x1000000;
	}
	zp->hdr.type_of_loader = 0xff;
	zp->hdr.loadflags |= CAN_USE_HEAP;
	zp->hdr.heap_end_ptr = 0xfe00;
	zp->hdr.vid_mode = 0xffff;
	zp->hdr.cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
	zp->hdr.ramdisk_image = (uint32_t)initrd_gpa;
	zp->hdr.ramdisk_size = (uint32_t)initrd_size;
	zp->acpi_rsdp_addr = rsdp_gpa;
	n = x86_e820(m, zp->e820_table, E820_MAX_ENTRIES_ZEROPAGE);
	if (n < 0)
		return n;
	zp->e820_entries = (uint8_t)n;
	b->boot_info = BOOT_ZERO_PAGE_ADDR;
	return 0;
}

int x86_write_boot_info(const struct guest_mem *m, const struct vlog *log, struct x86_boot *b, const char *cmdline,
			uint64_t initrd_gpa, uint64_t initrd_size, uint64_t rsdp_gpa)
{
	int ret = write_cmdline(m, log, b, cmdline);

	if (ret)
		return ret;
	if (b->pvh)
		return x86_write_pvh_info(m, b, BOOT_CMDLINE_ADDR, initrd_gpa, initrd_size, rsdp_gpa);
	return write_zero_page(m, b, initrd_gpa, initrd_size, rsdp_gpa);
}

/* The size of an image opened by boot_file_open(), checked against max. */
static int image_size(const struct vlog *log, const char *what, const char *path, int fd, uint64_t max, size_t *len)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		int ret = -errno;

		vlog_err(log, "cannot stat %s '%s': %s", what, path, strerror(errno));
		return ret;
	}
	if (st.st_size <= 0 || (uint64_t)st.st_size > max) {
		vlog_err(log, "%s '%s' is %s (%lld bytes)", what, path, st.st_size ? "too large" : "empty",
			 (long long)st.st_size);
		return st.st_size ? -EFBIG : -ENOEXEC;
	}
	*len = (size_t)st.st_size;
	return 0;
}

/* The initrd goes straight from the file into guest RAM. */
static int load_initrd(const struct guest_mem *m, const struct vlog *log, const struct x86_boot *b, int fd,
		       const char *path, uint64_t *gpa, uint64_t *size)
{
	size_t len = 0;
	int ret;

	ret = image_size(log, "initrd", path, fd, gmem_low_end(m), &len);
	if (ret)
		return ret;
	ret = x86_place_initrd(m, b, len, gpa);
	if (ret) {
		vlog_err(log, "initrd '%s' (%zu bytes) does not fit in guest RAM between the kernel and 0x%llx; give it more --mem",
			 path, len, (unsigned long long)b->initrd_addr_max);
		return ret;
	}
	*size = len;
	ret = x86_image_read(&(struct x86_image){ .fd = fd, .len = len }, 0, gmem_ptr(m, *gpa, len), len);
	if (ret)
		vlog_err(log, "cannot read initrd '%s': %s", path, x86_image_error(ret));
	return ret;
}

int x86_boot_setup(const struct guest_mem *m, const struct vlog *log, const struct x86_boot_files *f,
		   const char *cmdline, uint64_t rsdp_gpa, struct x86_boot *b)
{
	char what[PATH_MAX + 16];
	uint64_t initrd_gpa = 0, initrd_size = 0;
	struct x86_image im;
	size_t len = 0;
	int ret;

	/*
	 * Read from the file piece by piece: the headers into small buffers, each segment straight into
	 * its place in guest RAM (one copy; not mapped: a file truncated meanwhile would raise SIGBUS in
	 * an embedding application, a read just fails).
	 */
	ret = image_size(log, "kernel", f->kernel, f->kernel_fd, 1ull << 30, &len);
	if (ret)
		return ret;
	im = (struct x86_image){ .fd = f->kernel_fd, .len = len };
	snprintf(what, sizeof(what), "kernel '%s'", f->kernel);
	ret = x86_load_image(m, log, what, &im, b);
	if (ret)
		return ret;
	if (f->initrd) {
		ret = load_initrd(m, log, b, f->initrd_fd, f->initrd, &initrd_gpa, &initrd_size);
		if (ret)
			return ret;
	}
	return x86_write_boot_info(m, log, b, cmdline, initrd_gpa, initrd_size, rsdp_gpa);
}
