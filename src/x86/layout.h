/* SPDX-License-Identifier: Apache-2.0 */
/* Where the VMM puts boot structures in low guest memory (x86_64). */
#ifndef VMM_X86_LAYOUT_H
#define VMM_X86_LAYOUT_H

#define BOOT_GDT_ADDR 0x500ull       /* our GDT (5 entries) */
#define BOOT_IDT_ADDR 0x528ull       /* an empty IDT */
#define BOOT_PVH_INFO_ADDR 0x6000ull /* hvm_start_info, module list, memory map (PVH entry) */
#define BOOT_ZERO_PAGE_ADDR 0x7000ull
#define BOOT_STACK_TOP 0x8ff0ull
#define BOOT_PML4_ADDR 0x9000ull
#define BOOT_PDPT_ADDR 0xa000ull
#define BOOT_PD_ADDR 0xb000ull       /* 4 page directories: identity map of 0..4 GiB with 2 MiB pages */
#define BOOT_CMDLINE_ADDR 0x20000ull
#define BOOT_CMDLINE_MAX 0x10000ull  /* including the terminating NUL */
#define EBDA_START 0x9fc00ull        /* start of the reserved legacy hole */
#define HIGH_MEMORY 0x100000ull      /* 1 MiB: end of the legacy hole */
#define KERNEL_LOAD_DEFAULT 0x1000000ull

/* GDT selectors (index * 8). */
#define GDT_CODE64 0x08
#define GDT_DATA 0x10
#define GDT_TSS 0x18
#define GDT_CODE32 0x20

#define KVM_TSS_ADDR 0xfffbd000ull
#define KVM_IDENTITY_MAP_ADDR 0xfffbc000ull

#endif
