/* SPDX-License-Identifier: Apache-2.0 */
/* ELF vmlinux loading and the PVH boot ABI (hvm_start_info). */
#ifndef VMM_X86_ELF_H
#define VMM_X86_ELF_H

#include "x86/boot.h"

int x86_load_elf(const struct guest_mem *m, const struct vlog *log, const char *what, const struct x86_image *im,
		 struct x86_boot *b);
int x86_write_pvh_info(const struct guest_mem *m, struct x86_boot *b, uint64_t cmdline_gpa, uint64_t initrd_gpa,
		       uint64_t initrd_size, uint64_t rsdp_gpa);

#endif
