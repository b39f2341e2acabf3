/* SPDX-License-Identifier: Apache-2.0 */
/* What a VM holds only on arm64 (struct vmm's arch member; the code is in arm64/machine.c). */
#ifndef VMM_ARM64_MACHINE_H
#define VMM_ARM64_MACHINE_H

#include <stdbool.h>
#include <stdint.h>

#include "arm64/vgic.h"

struct pl031;

struct arch_vm {
	struct vgic vgic;       /* the in-kernel GICv3 and ITS */
	struct pl031 *rtc;      /* PL031 at ARM64_RTC_BASE */
	uint32_t target;        /* KVM_ARM_PREFERRED_TARGET's CPU type, for KVM_ARM_VCPU_INIT */
	bool ptrauth;           /* the host's KVM gives guests pointer authentication */
	uint64_t entry;         /* where the loader put the kernel: the boot CPU's pc */
	uint64_t fdt;           /* the device tree's guest-physical address: the boot CPU's x0 */
};

/* MPIDR_EL1 as KVM gives it to vCPU id (reset_mpidr() in arch/arm64/kvm/sys_regs.c): 16 per cluster. */
static inline uint64_t arm64_vcpu_mpidr(unsigned id)
{
	return (uint64_t)(id & 0xf) | (uint64_t)((id >> 4) & 0xff) << 8 | (uint64_t)((id >> 12) & 0xff) << 16;
}

#endif
