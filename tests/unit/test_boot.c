// SPDX-License-Identifier: Apache-2.0
/* Kernel loading: bzImage header validation, zero page, e820, initrd placement, ELF and PVH. */
#include <check.h>
#include <elf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "boot_file.h"
#include "x86/boot.h"
#include "x86/elf.h"
#include "x86/layout.h"
#include "unit.h"

#define MIB (1ull << 20)

static struct guest_mem mem;
static uint8_t *ram;
static void drop(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

static const struct vlog quiet = { .fn = drop, .opaque = NULL, .level = VMM_LOG_DEBUG };

/* The last message logged through kept, for tests that check what the user is told. */
static char said[512];
static void keep(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level;
	snprintf(said, sizeof(said), "%s", msg);
}

static const struct vlog kept = { .fn = keep, .opaque = NULL, .level = VMM_LOG_DEBUG };

static void with_ram(uint64_t size)
{
	memset(&mem, 0, sizeof(mem));
	ram = calloc(1, size);
	ck_assert_ptr_nonnull(ram);
	ck_assert_int_eq(gmem_add_region(&mem, 0, size, ram), 0);
}

static void teardown(void)
{
	free(ram);
	ram = NULL;
}

/* A synthetic bzImage: 4 setup sectors + 1 boot sector, then 8 KiB of "kernel". */
static uint8_t *make_bzimage(size_t *len, uint16_t version)
{
	struct setup_header h = { 0 };
	size_t n = 5 * 512 + 8192;
	uint8_t *img = calloc(1, n);

	h.setup_sects = 4;
	h.boot_flag = 0xaa55;
	h.header = 0x53726448;
	h.version = version;
	h.loadflags = 1;
	h.xloadflags = 1;
	h.pref_address = 0x1000000;
	h.init_size = 0x400000;
	h.cmdline_size = 255;
	h.initrd_addr_max = 0x7fffffff;
	h.kernel_alignment = 0x200000;
	memcpy(img + 0x1f1, &h, sizeof(h));
	img[0x201] = (uint8_t)(0x1f1 + sizeof(h) - 0x202); /* the jump that ends the header */
	for (size_t i = 5 * 512; i < n; i++)
		img[i] = (uint8_t)i;
	*len = n;
	return img;
}

START_TEST(bzimage_loads)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);

	with_ram(64 * MIB);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert(b.bzimage && !b.pvh);
	ck_assert_uint_eq(b.entry, 0x1000200);
	ck_assert_uint_eq(b.kernel_end, 0x1400000);
	ck_assert_mem_eq(ram + 0x1000000, img + 5 * 512, 8192);
	free(img);
}
END_TEST

START_TEST(bzimage_rejects_old_and_garbage)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x0209);

	with_ram(64 * MIB);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	memset(img, 0x41, len); /* no HdrS, no ELF magic */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, 100, &b), -ENOEXEC);
	free(img);
}
END_TEST

START_TEST(bzimage_truncated_and_too_big)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);

	with_ram(64 * MIB);
	img[0x1f1] = 200; /* setup_sects past the end of the file */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	free(img);
	teardown();
	img = make_bzimage(&len, 0x020f);
	with_ram(18 * MIB); /* the kernel wants 16..20 MiB */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOMEM);
	free(img);
	teardown();
	/*
	 * A protected-mode kernel that ends before its 64-bit entry point (0x200 bytes in), placed at
	 * the very end of RAM with no init_size: it fits, the entry would not (found by fuzz_boot).
	 */
	img = make_bzimage(&len, 0x020f);
	with_ram(64 * MIB);
	{
		uint64_t pref = 64 * MIB - 0x100;
		uint32_t zero = 0;

		memcpy(img + 0x258, &pref, 8);
		memcpy(img + 0x260, &zero, 4); /* init_size */
		for (size_t k = 0x100; k <= 0x200; k += 0x100) {
			said[0] = 0;
			ck_assert_int_eq(x86_load_kernel(&mem, &kept, "k", img, 5 * 512 + k, &b), -ENOEXEC);
			ck_assert_ptr_nonnull(strstr(said, "ends before the 64-bit entry point"));
		}
	}
	free(img);
}
END_TEST

START_TEST(zero_page_and_e820)
{
	struct x86_boot b;
	struct boot_params zp;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);
	uint64_t initrd;

	with_ram(64 * MIB);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert_int_eq(x86_place_initrd(&mem, &b, 5000, &initrd), 0);
	ck_assert_uint_eq(initrd & 0xfff, 0);
	ck_assert_uint_ge(initrd, b.kernel_end);
	ck_assert_uint_le(initrd + 5000, 64 * MIB);
	ck_assert_int_eq(x86_write_boot_info(&mem, &quiet, &b, "console=ttyS0", initrd, 5000, 0xe0000), 0);
	memcpy(&zp, ram + BOOT_ZERO_PAGE_ADDR, sizeof(zp));
	ck_assert_uint_eq(zp.hdr.header, 0x53726448);
	ck_assert_uint_eq(zp.hdr.type_of_loader, 0xff);
	ck_assert_uint_eq(zp.hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
	ck_assert_str_eq((char *)ram + BOOT_CMDLINE_ADDR, "console=ttyS0");
	ck_assert_uint_eq(zp.hdr.ramdisk_image, initrd);
	ck_assert_uint_eq(zp.hdr.ramdisk_size, 5000);
	ck_assert_uint_eq(zp.acpi_rsdp_addr, 0xe0000);
	ck_assert_uint_eq(zp.e820_entries, 3);
	ck_assert_uint_eq(zp.e820_table[0].addr, 0);
	ck_assert_uint_eq(zp.e820_table[0].size, EBDA_START);
	ck_assert_uint_eq(zp.e820_table[0].type, E820_RAM);
	ck_assert_uint_eq(zp.e820_table[1].type, E820_RESERVED);
	ck_assert_uint_eq(zp.e820_table[1].addr + zp.e820_table[1].size, HIGH_MEMORY);
	ck_assert_uint_eq(zp.e820_table[2].addr, HIGH_MEMORY);
	ck_assert_uint_eq(zp.e820_table[2].addr + zp.e820_table[2].size, 64 * MIB);
	free(img);
}
END_TEST

START_TEST(initrd_and_cmdline_limits)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);
	uint64_t initrd;
	char longline[400];

	with_ram(64 * MIB);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert_int_eq(x86_place_initrd(&mem, &b, 61 * MIB, &initrd), -ENOMEM); /* would overlap the kernel */
	ck_assert_int_eq(x86_place_initrd(&mem, &b, 0, &initrd), -ENOMEM);
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = 0;
	ck_assert_int_eq(x86_write_boot_info(&mem, &quiet, &b, longline, 0, 0, 0), -E2BIG);
	free(img);
}
END_TEST

START_TEST(e820_above_4g)
{
	struct guest_mem m = { 0 };
	struct boot_e820_entry t[8];
	static uint8_t fake; /* never dereferenced: only the layout matters */

	ck_assert_int_eq(gmem_add_region(&m, 0, GMEM_HOLE_START, &fake), 0);
	ck_assert_int_eq(gmem_add_region(&m, GMEM_HOLE_END, 1ull << 30, &fake), 0);
	ck_assert_int_eq(x86_e820(&m, t, 8), 4);
	ck_assert_uint_eq(t[2].addr + t[2].size, GMEM_HOLE_START);
	ck_assert_uint_eq(t[3].addr, GMEM_HOLE_END);
	ck_assert_uint_eq(t[3].size, 1ull << 30);
	ck_assert_int_eq(x86_e820(&m, t, 2), -ENOSPC);
}
END_TEST

/* An ELF64 header and n zeroed program headers, then data bytes of zeros at *data_off. */
static uint8_t *elf_with(unsigned int n, size_t data, size_t *len, size_t *data_off)
{
	Elf64_Ehdr eh = { 0 };
	uint8_t *img;

	*data_off = sizeof(eh) + (size_t)n * sizeof(Elf64_Phdr);
	*len = *data_off + data;
	img = calloc(1, *len);
	ck_assert_ptr_nonnull(img);
	memcpy(eh.e_ident, ELFMAG, SELFMAG);
	eh.e_ident[EI_CLASS] = ELFCLASS64;
	eh.e_ident[EI_DATA] = ELFDATA2LSB;
	eh.e_machine = EM_X86_64;
	eh.e_entry = 0x200000;
	eh.e_phoff = sizeof(eh);
	eh.e_phentsize = sizeof(Elf64_Phdr);
	eh.e_phnum = (uint16_t)n;
	memcpy(img, &eh, sizeof(eh));
	return img;
}

static void set_ph(uint8_t *img, unsigned int i, uint32_t type, uint64_t off, uint64_t paddr, uint64_t filesz,
		   uint64_t memsz)
{
	Elf64_Phdr ph = { .p_type = type, .p_offset = off, .p_paddr = paddr, .p_filesz = filesz, .p_memsz = memsz };

	memcpy(img + sizeof(Elf64_Ehdr) + (size_t)i * sizeof(ph), &ph, sizeof(ph));
}

/* A minimal ELF64 with one PT_LOAD at 2 MiB, optionally a PT_NOTE with the PVH entry, in 4 KiB. */
static uint8_t *make_elf(size_t *len, bool pvh, uint64_t paddr)
{
	unsigned int nph = pvh ? 2 : 1;
	size_t data;
	uint8_t *img = elf_with(nph, 4096 - sizeof(Elf64_Ehdr) - nph * sizeof(Elf64_Phdr), len, &data);
	Elf64_Nhdr nh = { .n_namesz = 4, .n_descsz = 4, .n_type = 18 };
	uint32_t entry32 = 0x200040;

	set_ph(img, 0, PT_LOAD, 0x800, paddr, 0x100, 0x2000);
	if (pvh)
		set_ph(img, 1, PT_NOTE, 0x400, 0, sizeof(nh) + 8, 0);
	memcpy(img + 0x400, &nh, sizeof(nh));
	memcpy(img + 0x400 + sizeof(nh), "Xen", 4);
	memcpy(img + 0x400 + sizeof(nh) + 4, &entry32, 4);
	memset(img + 0x800, 0xcc, 0x100);
	return img;
}

START_TEST(elf_loads_and_pvh)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_elf(&len, false, 0x200000);
	uint32_t magic;

	with_ram(8 * MIB);
	memset(ram + 0x200100, 0x77, 0x100); /* bss must be zeroed */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert(!b.pvh && !b.bzimage);
	ck_assert_uint_eq(b.entry, 0x200000);
	ck_assert_uint_eq(ram[0x2000ff], 0xcc);
	ck_assert_uint_eq(ram[0x200100], 0);
	free(img);

	img = make_elf(&len, true, 0x200000);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert(b.pvh);
	ck_assert_uint_eq(b.entry, 0x200040);
	ck_assert_int_eq(x86_write_boot_info(&mem, &quiet, &b, "x", 0, 0, 0xe0000), 0);
	ck_assert_uint_eq(b.boot_info, BOOT_PVH_INFO_ADDR);
	memcpy(&magic, ram + BOOT_PVH_INFO_ADDR, 4);
	ck_assert_uint_eq(magic, 0x336ec578);
	free(img);
}
END_TEST

/* A temporary file holding n bytes of img; its descriptor (the file is already unlinked). */
static int file_with(const uint8_t *img, size_t n)
{
	char path[] = "/tmp/vmm-test-kernel-XXXXXX";
	int fd = mkstemp(path);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(write(fd, img, n), (ssize_t)n);
	return fd;
}

/*
 * Loading from a file (the VMM's path: each piece read straight into guest RAM) gives the same guest
 * memory and boot facts as loading from memory (the fuzz targets' path); a file that is shorter than
 * it was said to be (truncated meanwhile) is an error, not a crash.
 */
START_TEST(image_from_file)
{
	struct x86_boot b, bf;
	struct x86_image im;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);
	int fd = file_with(img, len);

	with_ram(64 * MIB);
	im = (struct x86_image){ .fd = fd, .len = len };
	ck_assert_int_eq(x86_load_image(&mem, &quiet, "k", &im, &bf), 0);
	ck_assert(bf.bzimage);
	ck_assert_mem_eq(ram + 0x1000000, img + 5 * 512, 8192);
	memset(ram + 0x1000000, 0, 8192);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert_mem_eq(&b, &bf, sizeof(b));
	im.len = len + 4096; /* the file shrank after it was measured */
	ck_assert_int_eq(x86_load_image(&mem, &kept, "k", &im, &bf), -EIO);
	ck_assert_ptr_nonnull(strstr(said, "cannot read k: the file got shorter while it was being read"));
	close(fd);
	free(img);

	img = make_elf(&len, true, 0x200000);
	fd = file_with(img, len);
	memset(ram + 0x200000, 0x77, 0x2000);
	im = (struct x86_image){ .fd = fd, .len = len };
	ck_assert_int_eq(x86_load_image(&mem, &quiet, "k", &im, &bf), 0);
	ck_assert(bf.pvh);
	ck_assert_uint_eq(bf.entry, 0x200040);
	ck_assert_uint_eq(ram[0x2000ff], 0xcc);
	ck_assert_uint_eq(ram[0x200100], 0);
	ck_assert_int_eq(ftruncate(fd, 0x880), 0); /* cut into the PT_LOAD's bytes (0x800-0x900) */
	ck_assert_int_eq(x86_load_image(&mem, &kept, "k", &im, &bf), -EIO);
	ck_assert_ptr_nonnull(strstr(said, "cannot read segment 0 of k: the file got shorter while it was being read"));
	close(fd);
	free(img);
}
END_TEST

START_TEST(elf_hostile)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_elf(&len, false, 0x7fffff00); /* segment outside RAM */
	Elf64_Ehdr eh;

	with_ram(8 * MIB);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOMEM);
	free(img);
	img = make_elf(&len, false, UINT64_MAX - 0x100); /* wraps around */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOMEM);
	free(img);
	img = make_elf(&len, false, 0x200000);
	memcpy(&eh, img, sizeof(eh));
	eh.e_phoff = len - 8; /* program headers past the end of the file */
	memcpy(img, &eh, sizeof(eh));
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	eh.e_phoff = sizeof(eh);
	eh.e_phnum = 0xffff;
	memcpy(img, &eh, sizeof(eh));
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, 20, &b), -ENOEXEC);
	free(img);
}
END_TEST

/* A header-field change in a synthetic bzImage. */
#define SET_HDR(img, field, v)                                                                                   \
	do {                                                                                                       \
		__typeof__(((struct setup_header *)0)->field) v_ = (v);                                             \
		memcpy((img) + 0x1f1 + offsetof(struct setup_header, field), &v_, sizeof(v_));                      \
	} while (0)

/* A cmdline_size of 0xffffffff once wrapped to a limit of 0 and a message of "at most 18446744073709551615". */
START_TEST(bzimage_cmdline_size_huge)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);
	char *longline = malloc(BOOT_CMDLINE_MAX + 1);

	with_ram(64 * MIB);
	SET_HDR(img, cmdline_size, 0xffffffffu);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert_uint_eq(b.cmdline_size, BOOT_CMDLINE_MAX);
	ck_assert_int_eq(x86_write_boot_info(&mem, &kept, &b, "console=ttyS0", 0, 0, 0), 0);
	memset(longline, 'x', BOOT_CMDLINE_MAX);
	longline[BOOT_CMDLINE_MAX] = 0;
	said[0] = 0;
	ck_assert_int_eq(x86_write_boot_info(&mem, &kept, &b, longline, 0, 0, 0), -E2BIG);
	ck_assert_str_eq(said, "kernel command line is 65536 bytes; this kernel accepts at most 65535");
	longline[BOOT_CMDLINE_MAX - 1] = 0;
	ck_assert_int_eq(x86_write_boot_info(&mem, &kept, &b, longline, 0, 0, 0), 0);
	/* 0 means the protocol's old default of 255. */
	SET_HDR(img, cmdline_size, 0);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert_uint_eq(b.cmdline_size, 256);
	free(longline);
	free(img);
}
END_TEST

/* Other header fields a hostile bzImage controls: a load address at the top of the address space, a short header. */
START_TEST(bzimage_hostile_header)
{
	struct x86_boot b;
	size_t len;
	uint8_t *img = make_bzimage(&len, 0x020f);

	with_ram(64 * MIB);
	SET_HDR(img, pref_address, UINT64_MAX - 0xfff);
	said[0] = 0;
	ck_assert_int_eq(x86_load_kernel(&mem, &kept, "k", img, len, &b), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(said, "0xfffffffffffff000"));
	ck_assert_ptr_null(strstr(said, "-0x")); /* no wrapped end address */
	free(img);
	/* A header that ends before its version field is not a 2.12 header, whatever the bytes after it say. */
	img = make_bzimage(&len, 0x020f);
	img[0x201] = 0;
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	free(img);
}
END_TEST

/* Text, data and bss back to back, as a linker lays out a vmlinux: all load, the bss is zeroed. */
START_TEST(elf_three_segments)
{
	struct x86_boot b;
	size_t len, data;
	uint8_t *img = elf_with(3, 0x3000, &len, &data);

	with_ram(8 * MIB);
	memset(img + data, 0x11, 0x2000);
	memset(img + data + 0x2000, 0x22, 0x1000);
	set_ph(img, 0, PT_LOAD, data, 0x200000, 0x2000, 0x2000);
	set_ph(img, 1, PT_LOAD, data + 0x2000, 0x202000, 0x1000, 0x1000);
	set_ph(img, 2, PT_LOAD, 0, 0x203000, 0, 0x5000);
	memset(ram + 0x203000, 0x77, 0x5000);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert_uint_eq(b.entry, 0x200000);
	ck_assert_uint_eq(b.kernel_end, 0x208000);
	ck_assert_uint_eq(ram[0x201fff], 0x11);
	ck_assert_uint_eq(ram[0x202fff], 0x22);
	ck_assert_uint_eq(ram[0x203000] | ram[0x207fff], 0);
	free(img);
}
END_TEST

/* n PT_LOADs of memsz bytes each, 4 KiB apart from 2 MiB on: refused with their count before any is loaded. */
static void refuse_many_loads(unsigned int n, uint64_t memsz, uint64_t ram_size, const char *want)
{
	struct x86_boot b;
	size_t len, data;
	uint8_t *img = elf_with(n, 0x1000, &len, &data);

	with_ram(ram_size);
	for (unsigned int i = 0; i < n; i++)
		set_ph(img, i, PT_LOAD, data, 0x200000 + i * 0x1000ull, 0x1000, memsz);
	said[0] = 0;
	ram[0x200000] = 0x55;
	ck_assert_int_eq(x86_load_kernel(&mem, &kept, "kernel 'x'", img, len, &b), -ENOEXEC);
	ck_assert_str_eq(said, want);
	ck_assert_uint_eq(ram[0x200000], 0x55); /* nothing was written */
	free(img);
}

/* 2,000 overlapping PT_LOADs of 1 MiB each once took seconds of zero-filling. */
START_TEST(elf_too_many_segments)
{
	refuse_many_loads(2000, MIB, 40 * MIB, "kernel 'x' has 2000 loadable segments; at most 64");
}
END_TEST

/* 65,535 small segments side by side, 256 MiB in all against 8 MiB of RAM. */
START_TEST(elf_segments_beyond_ram)
{
	struct x86_boot b;
	size_t len, data;
	uint8_t *img;

	refuse_many_loads(0xffff, 0x1000, 8 * MIB, "kernel 'x' has 65535 loadable segments; at most 64");
	/* Few segments, more than the RAM together. */
	img = elf_with(2, 0x1000, &len, &data);
	set_ph(img, 0, PT_LOAD, data, 0x100000, 0x1000, 5 * MIB);
	set_ph(img, 1, PT_LOAD, data, 0x600000, 0x1000, 5 * MIB);
	said[0] = 0;
	ck_assert_int_eq(x86_load_kernel(&mem, &kept, "k", img, len, &b), -ENOMEM);
	ck_assert_str_eq(said, "k has 10485760 bytes of loadable segments; this VM has 8388608 bytes of RAM");
	free(img);
}
END_TEST

START_TEST(elf_overlapping_segments)
{
	struct x86_boot b;
	size_t len, data;
	uint8_t *img = elf_with(2, 0x1000, &len, &data);

	with_ram(8 * MIB);
	set_ph(img, 0, PT_LOAD, data, 0x200000, 0x1000, 0x2000);
	set_ph(img, 1, PT_LOAD, data, 0x201fff, 0x1000, 0x1000);
	said[0] = 0;
	ck_assert_int_eq(x86_load_kernel(&mem, &kept, "k", img, len, &b), -ENOEXEC);
	ck_assert_str_eq(said, "k segments 0 and 1 overlap in guest memory at 0x201fff-0x202000");
	/* The other way round, and one inside the other. */
	set_ph(img, 0, PT_LOAD, data, 0x201000, 0x1000, 0x1000);
	set_ph(img, 1, PT_LOAD, data, 0x200000, 0x1000, 0x4000);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	/* Side by side is fine. */
	set_ph(img, 0, PT_LOAD, data, 0x204000, 0x1000, 0x1000);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	free(img);
}
END_TEST

/* Segment fields that do not add up. */
START_TEST(elf_bad_segments)
{
	struct x86_boot b;
	size_t len, data;
	uint8_t *img = elf_with(1, 0x1000, &len, &data);
	Elf64_Ehdr eh;

	with_ram(8 * MIB);
	set_ph(img, 0, PT_LOAD, data, 0x200000, 0x2000, 0x1000); /* filesz > memsz */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	set_ph(img, 0, PT_LOAD, data + 1, 0x200000, 0x1000, 0x1000); /* past the end of the file */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	set_ph(img, 0, PT_LOAD, UINT64_MAX, 0x200000, 2, 0x1000); /* offset + filesz wraps */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	said[0] = 0;
	set_ph(img, 0, PT_LOAD, data, UINT64_MAX - 0xfff, 0x1000, 0x2000); /* address wraps */
	ck_assert_int_eq(x86_load_kernel(&mem, &kept, "k", img, len, &b), -ENOMEM);
	ck_assert_ptr_nonnull(strstr(said, "0xfffffffffffff000"));
	ck_assert_ptr_null(strstr(said, "-0x")); /* no wrapped end address */
	set_ph(img, 0, PT_LOAD, data, 0x80000, 0x1000, 0x1000); /* below 1 MiB: our boot structures */
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOMEM);
	set_ph(img, 0, PT_LOAD, data, 0x200000, 0x1000, 0x1000);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	memcpy(&eh, img, sizeof(eh));
	eh.e_phentsize = 32; /* not an Elf64_Phdr */
	memcpy(img, &eh, sizeof(eh));
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), -ENOEXEC);
	free(img);
}
END_TEST

/*
 * 65,535 PT_NOTE segments, each over the same 4 MiB of empty notes: every
 * walk once read the whole area again (hours). The walks now read no more
 * than the file's size in all; a PVH note after them is not looked for.
 */
START_TEST(elf_note_walks_bounded)
{
	struct x86_boot b;
	size_t len, data;
	uint8_t *img = elf_with(0xffff, 4 * MIB, &len, &data);

	with_ram(8 * MIB);
	set_ph(img, 0, PT_LOAD, data, 0x200000, 0x1000, 0x1000);
	for (unsigned int i = 1; i < 0xffff; i++)
		set_ph(img, i, PT_NOTE, data, 0, 4 * MIB, 0);
	ck_assert_int_eq(x86_load_kernel(&mem, &quiet, "k", img, len, &b), 0);
	ck_assert(!b.pvh);
	free(img);
}
END_TEST

/* The first message vmm_create() logs: what the user reads. */
static char first[512];
static void keep_first(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level;
	if (!first[0])
		snprintf(first, sizeof(first), "%s", msg);
}

START_TEST(images_checked_first)
{
	char dir[] = "/tmp/vmm-test-boot-XXXXXX", empty[64];
	struct vmm_config cfg = { .kernel = "/nonexistent/bzImage", .log = keep_first, .log_level = VMM_LOG_DEBUG };
	struct vmm *vm = NULL;
	FILE *f;

	/* Before /dev/kvm, memory or anything else: a wrong path is what the user hears about. */
	first[0] = 0;
	ck_assert_int_eq(vmm_create(&cfg, &vm), -ENOENT);
	ck_assert_ptr_null(vm);
	ck_assert_str_eq(first, "cannot open kernel '/nonexistent/bzImage': No such file or directory");

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(empty, sizeof(empty), "%s/empty", dir);
	f = fopen(empty, "w");
	ck_assert_ptr_nonnull(f);
	fclose(f);
	said[0] = 0;
	ck_assert_int_eq(boot_file_open(&kept, "initrd", dir), -EINVAL);
	ck_assert(strstr(said, "is not a regular file"));
	ck_assert_int_eq(boot_file_open(&kept, "kernel", empty), -ENOEXEC);
	ck_assert(strstr(said, "is empty"));
	unlink(empty);
	rmdir(dir);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("boot");
	TCase *tc = tcase_create("boot");

	tcase_add_checked_fixture(tc, NULL, teardown);
	tcase_add_test(tc, bzimage_loads);
	tcase_add_test(tc, bzimage_rejects_old_and_garbage);
	tcase_add_test(tc, bzimage_truncated_and_too_big);
	tcase_add_test(tc, zero_page_and_e820);
	tcase_add_test(tc, initrd_and_cmdline_limits);
	tcase_add_test(tc, e820_above_4g);
	tcase_add_test(tc, elf_loads_and_pvh);
	tcase_add_test(tc, elf_hostile);
	tcase_add_test(tc, image_from_file);
	tcase_add_test(tc, bzimage_cmdline_size_huge);
	tcase_add_test(tc, bzimage_hostile_header);
	tcase_add_test(tc, elf_three_segments);
	tcase_add_test(tc, elf_too_many_segments);
	tcase_add_test(tc, elf_segments_beyond_ram);
	tcase_add_test(tc, elf_overlapping_segments);
	tcase_add_test(tc, elf_bad_segments);
	tcase_add_test(tc, elf_note_walks_bounded);
	tcase_add_test(tc, images_checked_first);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
