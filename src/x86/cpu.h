/* SPDX-License-Identifier: Apache-2.0 */
/* x86 vCPU state at boot: CPUID and topology, MSRs, FPU, LAPIC, segments, page tables, registers. */
#ifndef VMM_X86_CPU_H
#define VMM_X86_CPU_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "memory.h"
#include "x86/boot.h"

/* KVM_GET_SUPPORTED_CPUID, completed by x86_cpuid_complete() for this host; free() the result. */
int x86_supported_cpuid(int kvm_fd, const struct vlog *log, struct kvm_cpuid2 **out);

/* CPUID on the host: out = { eax, ebx, ecx, edx } of leaf (subleaf 0). A parameter below, so tests can fake it. */
typedef void (*x86_host_cpuid_fn)(uint32_t leaf, uint32_t out[4]);
void x86_host_cpuid(uint32_t leaf, uint32_t out[4]);
/*
 * What KVM_GET_SUPPORTED_CPUID leaves out although the VM has it: TSC-deadline mode (CPUID.1:ECX[24]) when
 * tsc_deadline (KVM_CAP_TSC_DEADLINE_TIMER: the in-kernel LAPIC emulates it), and the processor brand string
 * (leaves 0x80000002..4) from the host when KVM's are missing or zero, with 0x80000000.EAX raised to cover
 * them. c has room for capacity entries; -ENOSPC (c unchanged) when the brand leaves do not fit.
 */
int x86_cpuid_complete(struct kvm_cpuid2 *c, unsigned capacity, bool tsc_deadline, x86_host_cpuid_fn host);
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
