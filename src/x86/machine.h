/* SPDX-License-Identifier: Apache-2.0 */
/* What a VM holds only on x86_64 (struct vmm's arch member; the code is in x86/machine.c). */
#ifndef VMM_X86_MACHINE_H
#define VMM_X86_MACHINE_H

#include "x86/boot.h"

struct kvm_cpuid2;
struct rtc;
struct i8042;
struct pm;
struct cf9;
struct ged;

struct arch_vm {
	struct kvm_cpuid2 *cpuid; /* KVM's table, completed (x86/cpu.c); each vCPU gets a patched copy */
	struct x86_boot boot;     /* where the loader left the boot CPU's entry state */
	struct rtc *rtc;          /* CMOS RTC at ports 0x70-0x71 */
	struct i8042 *i8042;      /* its reset line (port 0x64) ends the run as a reboot */
	struct pm *pm;            /* ACPI PM registers: power-off and reset */
	struct cf9 *cf9;          /* port 0xcf9, reached through the PCI configuration ports */
	struct ged *ged;          /* the ACPI power button (Generic Event Device) */
};

#endif
