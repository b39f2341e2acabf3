/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What differs by architecture, behind one small interface (DESIGN.md, Architectures): how KVM and
 * the VM are set up, the interrupt controller, the devices only one architecture has, how the kernel
 * is loaded and the machine described to it (ACPI on x86, a device tree on arm64), a vCPU's first
 * state. One implementation per architecture, chosen by the build: src/x86/machine.c or
 * src/arm64/machine.c. Everything else (memory, bus, PCI, MSI-X routing, virtio, the event loop,
 * the API and the CLI) is shared.
 */
#ifndef VMM_ARCH_H
#define VMM_ARCH_H

#include <stdbool.h>

#include "bus.h"
#include "log.h"

struct vmm;
struct sbuf;
struct sreader;

/* The architecture's name, for messages ("x86_64", "arm64"). */
extern const char arch_name[];
/* After /dev/kvm is open and speaks API 12: the capabilities this architecture needs, its tables. */
int arch_open_kvm(struct vmm *vm);
void arch_close_kvm(struct vmm *vm);
/* Do MSI routes carry the PCI requester id (arm64's ITS needs it; x86's KVM refuses it)? */
extern const bool arch_msi_devid;
/* KVM_CREATE_VM's machine type argument. */
unsigned long arch_vm_type(struct vmm *vm);
/* Right after KVM_CREATE_VM, before guest memory. */
int arch_create_vm(struct vmm *vm);
/* The in-kernel interrupt controller (x86: irqchip and PIT; arm64: only recorded, made once the vCPUs exist). */
int arch_setup_irqchip(struct vmm *vm);
/* Its teardown, after the devices wired to it are gone (x86: nothing, it goes with the VM's fd). */
void arch_teardown_irqchip(struct vmm *vm);
/* The devices only this architecture has, and where the UART sits; on the VM's buses and device list. */
int arch_setup_devices(struct vmm *vm);
void arch_teardown_devices(struct vmm *vm);
/* The PCI bus exists: hook what this architecture hangs on it (x86: port 0xcf9). */
void arch_pci_ready(struct vmm *vm);
/*
 * vmm's own registers a guest writes (devices/boot_timer.h, the snapshot request, debug-exit): x86 I/O ports,
 * arm64 MMIO (x86/layout.h, arm64/layout.h). Registers fn on the right bus; 0 or -errno (a collision).
 */
enum arch_vmm_reg { ARCH_REG_BOOT_TIMER, ARCH_REG_SNAPSHOT_REQUEST, ARCH_REG_DEBUG_EXIT /* x86: vm->debug_exit_port */ };
int arch_register_vmm_reg(struct vmm *vm, enum arch_vmm_reg which, bus_io_fn fn, void *opaque, const char *name);
/* Load the kernel and initrd and describe the machine to the guest (not on a restore). */
int arch_load_guest(struct vmm *vm);
/* A new vCPU's first state (id 0 is the boot CPU). */
int arch_vcpu_init(struct vmm *vm, int vcpu_fd, unsigned id);
/* Every vCPU exists (arm64's interrupt controller is finished now). */
int arch_vcpus_created(struct vmm *vm);
/* Log a vCPU's registers (after a crash). */
void arch_dump_regs(int vcpu_fd, const struct vlog *log);
/* Raise (1) or lower (0) the interrupt line gsi of the in-kernel interrupt controller; opaque is the VM. */
void arch_irq_set(void *opaque, unsigned gsi, int level);
/* Is the machine's power button a virtio-input device (vm_setup_power_key()), for want of any other? */
extern const bool arch_virtio_power_key;
/* Does the machine have a power button the guest listens to (a graceful stop)? */
bool arch_has_power_button(struct vmm *vm);
/* Press it. */
void arch_power_button(struct vmm *vm);
/*
 * Guest time stands still while the VM is paused (every vCPU parked, vm->lock held): freeze reads the
 * guest's clock into *saved (x86: kvm-clock; arm64: the virtual counter), thaw sets it back at the
 * resume. 0 or -errno; a failure is logged (guest time then runs on through the pause).
 */
int arch_clock_freeze(struct vmm *vm, uint64_t *saved);
void arch_clock_thaw(struct vmm *vm, uint64_t saved);
/*
 * Snapshot records of KVM's VM-wide and per-vCPU state (the clock, the interrupt controller, registers):
 * their kind names in the state file, so a snapshot of one architecture is refused by the other, and
 * their save and restore. The VM is paused; 0 or -errno with the reason logged.
 */
extern const char arch_vm_state_kind[], arch_vcpu_state_kind[];
int arch_vm_save(struct vmm *vm, struct sbuf *out);
int arch_vm_restore(struct vmm *vm, struct sreader *in);
int arch_vcpu_save(struct vmm *vm, unsigned id, struct sbuf *out);
int arch_vcpu_restore(struct vmm *vm, unsigned id, struct sreader *in);

#endif
