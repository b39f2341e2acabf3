/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The state KVM holds for an x86 VM and its vCPUs, saved into and restored from a snapshot: per vCPU the
 * registers, special registers, XSAVE area, XCRs, debug registers, LAPIC, MSRs, pending events, MP state and
 * TSC frequency; per VM the in-kernel PIC (master, slave), IOAPIC, PIT and kvm-clock.
 *
 * Each blob starts with a u32 magic and a u32 version, then its sections in a fixed order. Integers are
 * little-endian; kernel uapi structs (fixed layout on x86_64) are written whole, each after a u32 length that a
 * restore checks against the size it expects before it issues any ioctl. A restore parses and checks the whole
 * blob first and only then talks to KVM: malformed input is refused with -EINVAL and no ioctl at all.
 *
 * vCPU blob (version 1):
 *   u32 X86_VCPU_STATE_MAGIC, u32 version, u32 tsc_khz (0: unknown)
 *   u32 len + struct kvm_regs           u32 len + struct kvm_sregs
 *   u32 len + XSAVE area (KVM_GET_XSAVE2 size: 4096..X86_XSAVE_MAX, a multiple of 4)
 *   u32 len + struct kvm_xcrs (len 0: the host had no KVM_CAP_XCRS)
 *   u32 len + struct kvm_debugregs      u32 len + struct kvm_lapic_state
 *   u32 nmsrs (<= X86_VCPU_MAX_MSRS), then nmsrs times { u32 index, u64 value }
 *   u32 len + struct kvm_vcpu_events    u32 len + struct kvm_mp_state
 * VM blob (version 1):
 *   u32 X86_VM_STATE_MAGIC, u32 version
 *   u32 len + struct kvm_irqchip, three times: PIC master, PIC slave, IOAPIC (len 0: no in-kernel irqchip)
 *   u32 len + struct kvm_pit_state2 (len 0: no PIT)
 *   u32 len + struct kvm_clock_data
 */
#ifndef VMM_X86_VCPU_STATE_H
#define VMM_X86_VCPU_STATE_H

#include "log.h"
#include "snapshot/sbuf.h"

#define X86_VCPU_STATE_MAGIC 0x55504376u /* "vCPU" as little-endian bytes */
#define X86_VM_STATE_MAGIC 0x4d564d76u   /* "vMVM" */
#define X86_VCPU_STATE_VERSION 1u
#define X86_VM_STATE_VERSION 1u
/* Limits a restore accepts (KVM reports a few hundred MSRs at most; AMX makes XSAVE about 11 KiB). */
#define X86_VCPU_MAX_MSRS 4096u
#define X86_XSAVE_MAX (256u * 1024u)

/*
 * Save one vCPU into out. The vCPU's thread is parked outside KVM_RUN, and it re-entered KVM_RUN (with
 * immediate_exit) after its last I/O exit, so that KVM finished that instruction. Called from the thread that
 * snapshots (not necessarily the vCPU's own). kvm_fd: /dev/kvm (KVM_GET_MSR_INDEX_LIST); vm_fd: the VM
 * (KVM_CHECK_EXTENSION for the XSAVE size). Every MSR in KVM's index list that reads is saved; those that do
 * not read on this vCPU are left out. 0, or -errno of the ioctl that failed (logged), -ENOMEM when memory
 * ran out. On error out may hold part of a blob: the caller discards it.
 */
int x86_vcpu_save(int kvm_fd, int vm_fd, int vcpu_fd, const struct vlog *log, struct sbuf *out);

/*
 * Restore one vCPU from in, into a freshly created vCPU that has not run (CPUID set as for a cold boot, in a VM
 * whose memory is in place: the kvm-clock, steal-time and async-PF MSRs point into it). Any thread, while the
 * vCPU's thread is not in KVM_RUN. Reads exactly the blob from in. -EINVAL for malformed input (logged, in
 * marked bad, no ioctl issued), else -errno of the ioctl that failed (logged; a KVM_SET_MSRS that sets fewer
 * than asked names the first MSR it refused). A TSC frequency that differs from this host's is set with
 * KVM_SET_TSC_KHZ where KVM allows it, else the boot vCPU logs a warning (the guest's TSC then runs at this
 * host's rate).
 */
int x86_vcpu_restore(int vm_fd, int vcpu_fd, const struct vlog *log, struct sreader *in);

/*
 * Save the VM-wide KVM state: in-kernel PIC master, PIC slave, IOAPIC (KVM_GET_IRQCHIP), the PIT
 * (KVM_GET_PIT2) and kvm-clock (KVM_GET_CLOCK). Call it while every vCPU is parked, just before or after the
 * vCPUs are saved. A VM without an irqchip or PIT saves those as absent. 0 or -errno (logged).
 */
int x86_vm_save(int vm_fd, const struct vlog *log, struct sbuf *out);

/*
 * Restore the VM-wide state into a new VM created like the saved one (irqchip, PIT), before its vCPUs first
 * run. kvm-clock is set back to the saved value exactly (KVM_SET_CLOCK, flags 0): guest time goes on from the
 * snapshot without a jump either way; the guest's wall clock is as stale as the snapshot is old until the guest
 * re-syncs it. -EINVAL for malformed input (no ioctl issued), else -errno of the ioctl that failed (logged).
 */
int x86_vm_restore(int vm_fd, const struct vlog *log, struct sreader *in);

#endif
