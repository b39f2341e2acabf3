// SPDX-License-Identifier: Apache-2.0
/* ELF vmlinux: PT_LOAD segments at their physical addresses; PVH entry from the Xen note. */
#include "x86/elf.h"

#include <elf.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "x86/layout.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18
#define HVM_START_MAGIC 0x336ec578u

/* The PVH boot ABI (xen/include/public/arch-x86/hvm/start_info.h), version 1. */
struct hvm_start_info {
	uint32_t magic, version, flags, nr_modules;
	uint64_t modlist_paddr, cmdline_paddr, rsdp_paddr, memmap_paddr;
	uint32_t memmap_entries, reserved;
};
struct hvm_modlist_entry {
	uint64_t paddr, size, cmdline_paddr, reserved;
};
struct hvm_memmap_entry {
	uint64_t addr, size;
	uint32_t type, reserved;
};
_Static_assert(sizeof(struct hvm_start_info) == 56, "hvm_start_info");
_Static_assert(sizeof(struct hvm_modlist_entry) == 32, "hvm_modlist_entry");
_Static_assert(sizeof(struct hvm_memmap_entry) == 24, "hvm_memmap_entry");

#define PVH_MODLIST_ADDR (BOOT_PVH_INFO_ADDR + 0x40)
#define PVH_MEMMAP_ADDR (BOOT_PVH_INFO_ADDR + 0x80)
#define PVH_MEMMAP_MAX 16

/*
 * A vmlinux has a handful of PT_LOADs (text, data, percpu, init, bss). More is
 * a hostile file: each one is checked against every other for overlap and
 * zero-filled, so the count is capped.
 */
#define ELF_MAX_LOADS 64

/* One PT_LOAD, checked: [paddr, paddr + memsz) lies in guest RAM, [offset, offset + filesz) in the file. */
struct load_seg {
	uint64_t paddr, memsz, offset, filesz;
	unsigned int idx;
};

/* Is [off, off + n) inside a file of len bytes? */
static bool in_file(uint64_t off, uint64_t n, size_t len)
{
	uint64_t end;

	return !__builtin_add_overflow(off, n, &end) && end <= len;
}

/* Look for the PVH entry point in one PT_NOTE segment. */
static bool find_pvh_note(const uint8_t *p, uint64_t n, uint64_t *entry)
{
	uint64_t off = 0;

	while (n - off >= sizeof(Elf64_Nhdr)) {
		Elf64_Nhdr nh;
		uint64_t name_sz, desc_sz;

		memcpy(&nh, p + off, sizeof(nh));
		off += sizeof(nh);
		name_sz = (nh.n_namesz + 3ull) & ~3ull;
		desc_sz = (nh.n_descsz + 3ull) & ~3ull;
		if (name_sz > n - off || desc_sz > n - off - name_sz)
			return false;
		if (nh.n_type == XEN_ELFNOTE_PHYS32_ENTRY && nh.n_namesz == 4 && !memcmp(p + off, "Xen", 4) &&
		    (nh.n_descsz == 4 || nh.n_descsz == 8)) {
			uint32_t e;

			memcpy(&e, p + off + name_sz, 4);
			*entry = e;
			return true;
		}
		off += name_sz + desc_sz;
	}
	return false;
}

/* Program header i (the table is known to lie in the file); zeroes (PT_NULL) when the read fails. */
static Elf64_Phdr phdr(const struct x86_image *im, const Elf64_Ehdr *eh, unsigned int i)
{
	Elf64_Phdr ph;

	if (x86_image_read(im, eh->e_phoff + (uint64_t)i * sizeof(ph), &ph, sizeof(ph)))
		memset(&ph, 0, sizeof(ph));
	return ph;
}

/* A real kernel's notes take a few hundred bytes; a larger note segment is not searched. */
#define NOTE_MAX (64u << 10)

/*
 * The PVH entry from the PT_NOTE segments. Notes in a real file do not
 * overlap, so the walks read no more than the file's size in all: a file of
 * many PT_NOTEs over the same bytes cannot make them read it again and again.
 */
static bool find_pvh_entry(const struct x86_image *im, const Elf64_Ehdr *eh, uint64_t *entry)
{
	uint64_t budget = im->len;
	bool found = false;

	for (unsigned int i = 0; i < eh->e_phnum && !found; i++) {
		Elf64_Phdr ph = phdr(im, eh, i);
		uint8_t *notes;

		if (ph.p_type != PT_NOTE || !in_file(ph.p_offset, ph.p_filesz, im->len) || ph.p_filesz > NOTE_MAX)
			continue;
		if (ph.p_filesz > budget)
			break;
		budget -= ph.p_filesz;
		notes = malloc(ph.p_filesz ? ph.p_filesz : 1);
		if (notes && !x86_image_read(im, ph.p_offset, notes, ph.p_filesz))
			found = find_pvh_note(notes, ph.p_filesz, entry);
		free(notes);
	}
	return found;
}

/* Check one PT_LOAD on its own: in the file, in guest RAM above the legacy hole. */
static int check_seg(const struct guest_mem *m, const struct vlog *log, const char *what, size_t len,
		     const struct load_seg *s)
{
	uint64_t end;

	if (s->filesz > s->memsz || !in_file(s->offset, s->filesz, len)) {
		vlog_err(log, "%s has a malformed ELF segment %u", what, s->idx);
		return -ENOEXEC;
	}
	if (__builtin_add_overflow(s->paddr, s->memsz, &end)) {
		vlog_err(log, "%s segment %u wants %llu bytes of guest RAM at 0x%llx, past the end of the address space",
			 what, s->idx, (unsigned long long)s->memsz, (unsigned long long)s->paddr);
		return -ENOMEM;
	}
	if (s->paddr < HIGH_MEMORY || !gmem_ptr(m, s->paddr, s->memsz)) {
		vlog_err(log, "%s segment %u wants guest RAM at 0x%llx-0x%llx, which this VM does not have", what,
			 s->idx, (unsigned long long)s->paddr, (unsigned long long)end);
		return -ENOMEM;
	}
	return 0;
}

/*
 * Collect and check every PT_LOAD before any is loaded: at most ELF_MAX_LOADS,
 * no more bytes than the VM has RAM, each valid alone, no two overlapping.
 * Returns the count (at least 1) or -errno.
 */
static int collect_segs(const struct guest_mem *m, const struct vlog *log, const char *what,
			const struct x86_image *im, const Elf64_Ehdr *eh, struct load_seg *segs)
{
	uint64_t total = 0;
	unsigned int n = 0, count = 0;
	int ret;

	for (unsigned int i = 0; i < eh->e_phnum; i++) {
		Elf64_Phdr ph = phdr(im, eh, i);

		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (count++ < ELF_MAX_LOADS)
			segs[n++] = (struct load_seg){ .paddr = ph.p_paddr, .memsz = ph.p_memsz, .offset = ph.p_offset,
						       .filesz = ph.p_filesz, .idx = i };
		if (__builtin_add_overflow(total, ph.p_memsz, &total))
			total = UINT64_MAX;
	}
	if (count > ELF_MAX_LOADS) {
		vlog_err(log, "%s has %u loadable segments; at most %d", what, count, ELF_MAX_LOADS);
		return -ENOEXEC;
	}
	if (n == 0) {
		vlog_err(log, "%s has no loadable segment", what);
		return -ENOEXEC;
	}
	if (total > m->ram_size) {
		vlog_err(log, "%s has %llu bytes of loadable segments; this VM has %llu bytes of RAM", what,
			 (unsigned long long)total, (unsigned long long)m->ram_size);
		return -ENOMEM;
	}
	for (unsigned int i = 0; i < n; i++) {
		ret = check_seg(m, log, what, im->len, &segs[i]);
		if (ret)
			return ret;
		/* Both ranges are known not to wrap: the earlier ones passed check_seg, this one just did. */
		for (unsigned int j = 0; j < i; j++) {
			uint64_t lo = segs[i].paddr > segs[j].paddr ? segs[i].paddr : segs[j].paddr;
			uint64_t hi_i = segs[i].paddr + segs[i].memsz, hi_j = segs[j].paddr + segs[j].memsz;
			uint64_t hi = hi_i < hi_j ? hi_i : hi_j;

			if (lo < hi) {
				vlog_err(log, "%s segments %u and %u overlap in guest memory at 0x%llx-0x%llx", what,
					 segs[j].idx, segs[i].idx, (unsigned long long)lo, (unsigned long long)hi);
				return -ENOEXEC;
			}
		}
	}
	return (int)n;
}

int x86_load_elf(const struct guest_mem *m, const struct vlog *log, const char *what, const struct x86_image *im,
		 struct x86_boot *b)
{
	size_t len = im->len;
	struct load_seg segs[ELF_MAX_LOADS];
	Elf64_Ehdr eh;
	uint64_t pvh_entry = 0, end = 0;
	int n;

	if (len < sizeof(eh)) {
		vlog_err(log, "%s is a truncated ELF file", what);
		return -ENOEXEC;
	}
	if (x86_image_read(im, 0, &eh, sizeof(eh))) {
		vlog_err(log, "cannot read %s", what);
		return -EIO;
	}
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
		vlog_err(log, "%s is not a 64-bit little-endian x86-64 ELF file", what);
		return -ENOEXEC;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len)) {
		vlog_err(log, "%s has a malformed ELF program header table", what);
		return -ENOEXEC;
	}
	n = collect_segs(m, log, what, im, &eh, segs);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		uint8_t *dst = gmem_ptr(m, segs[i].paddr, segs[i].memsz);

		int ret = x86_image_read(im, segs[i].offset, dst, segs[i].filesz);

		if (ret) {
			vlog_err(log, "cannot read segment %u of %s: %s", segs[i].idx, what, x86_image_error(ret));
			return ret;
		}
		memset(dst + segs[i].filesz, 0, segs[i].memsz - segs[i].filesz);
		if (segs[i].paddr + segs[i].memsz > end)
			end = segs[i].paddr + segs[i].memsz;
	}
	b->pvh = find_pvh_entry(im, &eh, &pvh_entry);
	b->entry = b->pvh ? pvh_entry : eh.e_entry;
	if (!gmem_ptr(m, b->entry, 1)) {
		vlog_err(log, "%s entry point 0x%llx is outside guest RAM", what, (unsigned long long)b->entry);
		return -ENOEXEC;
	}
	b->kernel_end = end;
	b->initrd_addr_max = 0x37ffffff;
	b->cmdline_size = BOOT_CMDLINE_MAX;
	vlog_debug(log, "%s: ELF vmlinux, %d segment(s), %s entry at 0x%llx", what, n, b->pvh ? "PVH" : "64-bit ELF",
		   (unsigned long long)b->entry);
	return 0;
}

int x86_write_pvh_info(const struct guest_mem *m, struct x86_boot *b, uint64_t cmdline_gpa, uint64_t initrd_gpa,
		       uint64_t initrd_size, uint64_t rsdp_gpa)
{
	struct boot_e820_entry e820[PVH_MEMMAP_MAX];
	struct hvm_memmap_entry mm[PVH_MEMMAP_MAX];
	struct hvm_modlist_entry mod = { .paddr = initrd_gpa, .size = initrd_size };
	struct hvm_start_info si = {
		.magic = HVM_START_MAGIC,
		.version = 1,
		.cmdline_paddr = cmdline_gpa,
		.rsdp_paddr = rsdp_gpa,
		.memmap_paddr = PVH_MEMMAP_ADDR,
	};
	int n = x86_e820(m, e820, PVH_MEMMAP_MAX), ret;

	if (n < 0)
		return n;
	for (int i = 0; i < n; i++)
		mm[i] = (struct hvm_memmap_entry){ .addr = e820[i].addr, .size = e820[i].size, .type = e820[i].type };
	si.memmap_entries = (uint32_t)n;
	if (initrd_size) {
		si.nr_modules = 1;
		si.modlist_paddr = PVH_MODLIST_ADDR;
		ret = gmem_write(m, PVH_MODLIST_ADDR, &mod, sizeof(mod));
		if (ret)
			return ret;
	}
	ret = gmem_write(m, PVH_MEMMAP_ADDR, mm, (size_t)n * sizeof(mm[0]));
	if (!ret)
		ret = gmem_write(m, BOOT_PVH_INFO_ADDR, &si, sizeof(si));
	b->boot_info = BOOT_PVH_INFO_ADDR;
	return ret;
}
