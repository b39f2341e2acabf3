/* SPDX-License-Identifier: Apache-2.0 */
/* x86 vCPU state at boot: CPUID and topology, MSRs, FPU, LAPIC, segments, page tables, registers. */
#ifndef VMM_X86_CPU_H
#define VMM_X86_CPU_H

#include <linux/kvm.h>

#include "log.h"
#include "memory.h"
#include "x86/boot.h"

/* KVM_GET_SUPPORTED_CPUID; free() the result. */
int x86_supported_cpuid(int kvm_fd, const struct vlog *log, struct kvm_cpuid2 **out);
/* Give one vCPU its APIC id and a topology of ncpus single-threaded cores in one package. */
void x86_cpuid_patch(struct kvm_cpuid2 *c, unsigned apic_id, unsigned ncpus);
/* Write the GDT, an empty IDT and identity-mapping page tables (0..4 GiB) into low guest memory. */
int x86_write_boot_tables(const struct guest_mem *m);
/* CPUID, MSRs, FPU and LAPIC for every vCPU; registers too when b is set (the boot CPU). */
int x86_vcpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id, unsigned ncpus,
		  const struct x86_boot *b, const struct vlog *log);
/* Log the registers of a vCPU (after a crash). */
void x86_dump_regs(int vcpu_fd, const struct vlog *log);

#endif
