// SPDX-License-Identifier: Apache-2.0
/* ELF vmlinux: PT_LOAD segments at their physical addresses; PVH entry from the Xen note. */
#include "x86/elf.h"

#include <elf.h>
#include <errno.h>
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

int x86_load_elf(const struct guest_mem *m, const struct vlog *log, const char *what, const uint8_t *img, size_t len,
		 struct x86_boot *b)
{
	Elf64_Ehdr eh;
	uint64_t pvh_entry = 0, end = 0;
	bool pvh = false, loaded = false;

	if (len < sizeof(eh)) {
		vlog_err(log, "%s is a truncated ELF file", what);
		return -ENOEXEC;
	}
	memcpy(&eh, img, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB || eh.e_machine != EM_X86_64) {
		vlog_err(log, "%s is not a 64-bit little-endian x86-64 ELF file", what);
		return -ENOEXEC;
	}
	if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
	    !in_file(eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr), len)) {
		vlog_err(log, "%s has a malformed ELF program header table", what);
		return -ENOEXEC;
	}
	for (unsigned i = 0; i < eh.e_phnum; i++) {
		Elf64_Phdr ph;
		uint8_t *dst;

		memcpy(&ph, img + eh.e_phoff + i * sizeof(ph), sizeof(ph));
		if (ph.p_type == PT_NOTE && in_file(ph.p_offset, ph.p_filesz, len) && !pvh)
			pvh = find_pvh_note(img + ph.p_offset, ph.p_filesz, &pvh_entry);
		if (ph.p_type != PT_LOAD || ph.p_memsz == 0)
			continue;
		if (ph.p_filesz > ph.p_memsz || !in_file(ph.p_offset, ph.p_filesz, len)) {
			vlog_err(log, "%s has a malformed ELF segment %u", what, i);
			return -ENOEXEC;
		}
		dst = gmem_ptr(m, ph.p_paddr, ph.p_memsz);
		if (!dst || ph.p_paddr < HIGH_MEMORY) {
			vlog_err(log, "%s segment %u wants guest RAM at 0x%llx-0x%llx, which this VM does not have", what,
				 i, (unsigned long long)ph.p_paddr, (unsigned long long)(ph.p_paddr + ph.p_memsz));
			return -ENOMEM;
		}
		memcpy(dst, img + ph.p_offset, ph.p_filesz);
		memset(dst + ph.p_filesz, 0, ph.p_memsz - ph.p_filesz);
		if (ph.p_paddr + ph.p_memsz > end)
			end = ph.p_paddr + ph.p_memsz;
		loaded = true;
	}
	if (!loaded) {
		vlog_err(log, "%s has no loadable segment", what);
		return -ENOEXEC;
	}
	b->pvh = pvh;
	b->entry = pvh ? pvh_entry : eh.e_entry;
	if (!gmem_ptr(m, b->entry, 1)) {
		vlog_err(log, "%s entry point 0x%llx is outside guest RAM", what, (unsigned long long)b->entry);
		return -ENOEXEC;
	}
	b->kernel_end = end;
	b->initrd_addr_max = 0x37ffffff;
	b->cmdline_size = BOOT_CMDLINE_MAX;
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
