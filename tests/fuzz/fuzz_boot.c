// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_boot: the kernel loaders (src/x86/boot.c, src/x86/elf.c) on a hostile kernel file: the whole
 * of x86_boot_setup() as vm.c calls it, from open file descriptors (memfds the input is written
 * to) into a fake guest RAM: reading the image, bzImage setup-header checks and placement, ELF
 * program headers, PT_LOAD placement and overlap checks, the PVH note, the initrd's placement, the
 * command line, the zero page or hvm_start_info, and the e820 map.
 *
 * Input: u8 cfg (bits 0-1 low RAM 2/16/48/128 MiB, bit 2 16 MiB more at 4 GiB, bit 3 an initrd,
 * bit 4 an RSDP address), u16 command-line length and its bytes, [u16 initrd length and its bytes],
 * then the kernel image (the rest).
 * Checked beyond the sanitizers: on success the entry point is in RAM; the zero page (or
 * hvm_start_info) is where rsi/ebx will point, names the command line we gave, written in full
 * where it says; the initrd's bytes are in RAM where the boot information says, past the kernel.
 */
#define _GNU_SOURCE /* memfd_create */
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuzz.h"
#include "x86/boot.h"
#include "x86/layout.h"

#define MIB (1ull << 20)
#define HVM_START_MAGIC 0x336ec578u

/* Put len bytes in memfd fd as its whole contents. */
static int refill(int fd, const uint8_t *p, size_t len)
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
	return 0;
}

static void check_loaded(const struct fuzz_ram *ram, const struct x86_boot *b, const char *cmdline,
			 const uint8_t *initrd, size_t initrd_len, uint64_t rsdp)
{
	const struct guest_mem *m = &ram->m;
	const char *cl = gmem_ptr(m, BOOT_CMDLINE_ADDR, strlen(cmdline) + 1);
	uint64_t rd_gpa, rd_size;

	FUZZ_CHECK(gmem_ptr(m, b->entry, 1));
	FUZZ_CHECK(cl && !strcmp(cl, cmdline));
	if (b->pvh) {
		const uint32_t *si = gmem_ptr(m, b->boot_info, 56);
		uint64_t q[4];

		FUZZ_CHECK(b->boot_info == BOOT_PVH_INFO_ADDR && si && si[0] == HVM_START_MAGIC);
		memcpy(q, si + 4, sizeof(q)); /* modlist, cmdline, rsdp, memmap */
		FUZZ_CHECK(q[1] == BOOT_CMDLINE_ADDR && q[2] == rsdp);
		if (!initrd_len) {
			FUZZ_CHECK(si[3] == 0);
			return;
		}
		FUZZ_CHECK(si[3] == 1);
		const uint64_t *mod = gmem_ptr(m, q[0], 32);

		FUZZ_CHECK(mod);
		rd_gpa = mod[0];
		rd_size = mod[1];
	} else {
		const struct boot_params *zp = gmem_ptr(m, b->boot_info, sizeof(*zp));

		FUZZ_CHECK(b->boot_info == BOOT_ZERO_PAGE_ADDR && zp);
		FUZZ_CHECK(zp->hdr.cmd_line_ptr == BOOT_CMDLINE_ADDR && zp->acpi_rsdp_addr == rsdp);
		FUZZ_CHECK(zp->e820_entries >= 1 && zp->e820_entries <= E820_MAX_ENTRIES_ZEROPAGE);
		rd_gpa = zp->hdr.ramdisk_image;
		rd_size = zp->hdr.ramdisk_size;
	}
	FUZZ_CHECK(rd_size == initrd_len);
	if (initrd_len) {
		const uint8_t *p = gmem_ptr(m, rd_gpa, rd_size);

		FUZZ_CHECK(p && !memcmp(p, initrd, initrd_len) && rd_gpa >= b->kernel_end);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t low_sizes[4] = { 2 * MIB, 16 * MIB, 48 * MIB, 128 * MIB };
	static int kfd = -1, ifd = -1;
	struct fz f = fz_init(data, size);
	uint8_t cfg = fz_u8(&f);
	size_t cl_len, rd_len = 0, k_len;
	const uint8_t *cl_bytes = fz_take(&f, fz_u16(&f), &cl_len), *rd = NULL, *kernel;
	struct x86_boot_files files = { .kernel = "fuzz-kernel" };
	uint64_t rsdp = cfg & 0x10 ? 0xe0000 : 0;
	struct fuzz_ram ram;
	struct x86_boot b;
	char *cmdline;
	int ret;

	if (cfg & 8)
		rd = fz_take(&f, fz_u16(&f), &rd_len);
	kernel = fz_take(&f, fz_left(&f), &k_len);
	if (kfd < 0)
		kfd = memfd_create("fuzz-kernel", MFD_CLOEXEC);
	if (ifd < 0)
		ifd = memfd_create("fuzz-initrd", MFD_CLOEXEC);
	FUZZ_CHECK(kfd >= 0 && ifd >= 0);
	FUZZ_CHECK(refill(kfd, kernel, k_len) == 0);
	files.kernel_fd = kfd;
	if (cfg & 8) {
		FUZZ_CHECK(refill(ifd, rd, rd_len) == 0);
		files.initrd = "fuzz-initrd";
		files.initrd_fd = ifd;
	}
	cmdline = malloc(cl_len + 1);
	if (!cmdline || fuzz_ram_init(&ram, low_sizes[cfg & 3], 1ull << 32, cfg & 4 ? 16 * MIB : 0)) {
		free(cmdline);
		return 0;
	}
	memcpy(cmdline, cl_bytes, cl_len);
	cmdline[cl_len] = '\0';

	ret = x86_boot_setup(&ram.m, &fuzz_log, &files, cmdline, rsdp, &b);
	FUZZ_CHECK(ret <= 0);
	if (ret == 0)
		check_loaded(&ram, &b, cmdline, rd, rd_len, rsdp);
	fuzz_ram_free(&ram);
	free(cmdline);
	return 0;
}
