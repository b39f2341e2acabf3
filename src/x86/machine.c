// SPDX-License-Identifier: Apache-2.0
/*
 * The x86_64 side of src/arch.h: KVM's x86 capabilities and CPUID table, the TSS and identity-map
 * pages, the in-kernel irqchip and PIT, the PC devices (COM1, CMOS RTC, i8042, ACPI PM and GED,
 * port 0xcf9), the ACPI tables, the bzImage/ELF loader and the reset vector.
 */
#include "arch.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "device.h"
#include "devices/boot_timer.h"
#include "devices/cf9.h"
#include "devices/ged.h"
#include "devices/i8042.h"
#include "devices/pm.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "irq.h"
#include "vm.h"
#include "x86/acpi.h"
#include "x86/cpu.h"
#include "x86/layout.h"
#include "vcpu.h"
#include "x86/vcpu_state.h"

#define COM1_PORT 0x3f8
#define COM1_IRQ 4

const char arch_name[] = "x86_64";
const bool arch_msi_devid = false;

static const struct kvm_cap_need required_caps[] = {
	{ KVM_CAP_IRQCHIP, "in-kernel irqchip (KVM_CAP_IRQCHIP)" },
	{ KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR" },
	{ KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID" },
	{ KVM_CAP_PIT2, "in-kernel PIT (KVM_CAP_PIT2)" },
};

int arch_open_kvm(struct vmm *vm)
{
	int ret = vm_require_caps(vm, required_caps, sizeof(required_caps) / sizeof(required_caps[0]));

	if (ret)
		return ret;
	return x86_supported_cpuid(vm->kvm_fd, &vm->log, &vm->arch.cpuid);
}

void arch_close_kvm(struct vmm *vm)
{
	free(vm->arch.cpuid);
	vm->arch.cpuid = NULL;
}

unsigned long arch_vm_type(struct vmm *vm)
{
	(void)vm;
	return 0;
}

int arch_create_vm(struct vmm *vm)
{
	if (ioctl(vm->vm_fd, KVM_SET_TSS_ADDR, (unsigned long)KVM_TSS_ADDR) < 0) {
		int e = errno;

		vlog_err(&vm->log, "KVM_SET_TSS_ADDR failed: %s", strerror(e));
		return -e;
	}
	if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_SET_IDENTITY_MAP_ADDR) > 0) {
		uint64_t addr = KVM_IDENTITY_MAP_ADDR;

		if (ioctl(vm->vm_fd, KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
			vlog_warn(&vm->log, "KVM_SET_IDENTITY_MAP_ADDR failed: %s", strerror(errno));
	}
	return 0;
}

int arch_setup_irqchip(struct vmm *vm)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };

	if (ioctl(vm->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		int e = errno;

		vlog_err(&vm->log, "cannot create the in-kernel irqchip: %s", strerror(e));
		return -e;
	}
	if (ioctl(vm->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		int e = errno;

		vlog_err(&vm->log, "cannot create the in-kernel PIT: %s", strerror(e));
		return -e;
	}
	return 0;
}

void arch_teardown_irqchip(struct vmm *vm)
{
	(void)vm;
}

void arch_irq_set(void *opaque, unsigned gsi, int level)
{
	struct vmm *vm = opaque;
	struct kvm_irq_level irq = { .irq = gsi, .level = (uint32_t)level };

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		vlog_warn(&vm->log, "KVM_IRQ_LINE %u failed: %s", gsi, strerror(errno));
}

static void on_reset(void *opaque)
{
	vm_exit(opaque, VMM_EXIT_REBOOT);
}

static void on_pm_event(void *opaque, enum pm_event ev)
{
	vm_exit(opaque, ev == PM_EVENT_POWEROFF ? VMM_EXIT_POWEROFF : VMM_EXIT_REBOOT);
}

int arch_setup_devices(struct vmm *vm)
{
	const struct irq_line com1 = { .set = arch_irq_set, .opaque = vm, .gsi = COM1_IRQ };
	const struct irq_line ged_irq = { .set = arch_irq_set, .opaque = vm, .gsi = GED_GSI };
	int ret;

	vm->serial = vm_create_serial(vm, &com1);
	vm->arch.rtc = rtc_create(NULL, NULL);
	vm->arch.i8042 = i8042_create(on_reset, vm);
	vm->arch.pm = pm_create(on_pm_event, vm);
	vm->arch.cf9 = cf9_create(on_reset, vm);
	vm->arch.ged = ged_create(&ged_irq);
	if (!vm->serial || !vm->arch.rtc || !vm->arch.i8042 || !vm->arch.pm || !vm->arch.cf9 || !vm->arch.ged)
		return -ENOMEM;
	ret = bus_register(&vm->pio, COM1_PORT, 8, serial_io, vm->serial, "serial");
	ret = ret ?: bus_register(&vm->pio, 0x70, 2, rtc_io, vm->arch.rtc, "rtc");
	ret = ret ?: bus_register(&vm->pio, 0x60, 1, i8042_data_io, vm->arch.i8042, "i8042-data");
	ret = ret ?: bus_register(&vm->pio, 0x64, 1, i8042_cmd_io, vm->arch.i8042, "i8042-cmd");
	ret = ret ?: bus_register(&vm->pio, PM_IO_BASE, PM_IO_LEN, pm_io, vm->arch.pm, "acpi-pm");
	ret = ret ?: bus_register(&vm->pio, GED_IO_BASE, GED_IO_LEN, ged_io, vm->arch.ged, "acpi-ged");
	ret = ret ?: vm_add_device(vm, "serial", &serial_device_ops, vm->serial);
	ret = ret ?: vm_add_device(vm, "rtc", &rtc_device_ops, vm->arch.rtc);
	ret = ret ?: vm_add_device(vm, "i8042", &i8042_device_ops, vm->arch.i8042);
	ret = ret ?: vm_add_device(vm, "pm", &pm_device_ops, vm->arch.pm);
	ret = ret ?: vm_add_device(vm, "cf9", &cf9_device_ops, vm->arch.cf9);
	ret = ret ?: vm_add_device(vm, "ged", &ged_device_ops, vm->arch.ged);
	if (ret)
		vlog_err(&vm->log, "cannot register the legacy devices: %s", strerror(-ret));
	return ret;
}

void arch_teardown_devices(struct vmm *vm)
{
	serial_destroy(vm->serial);
	rtc_destroy(vm->arch.rtc);
	i8042_destroy(vm->arch.i8042);
	pm_destroy(vm->arch.pm);
	cf9_destroy(vm->arch.cf9);
	ged_destroy(vm->arch.ged);
	vm->arch.ged = NULL;
	vm->serial = NULL;
	vm->arch.rtc = NULL;
	vm->arch.i8042 = NULL;
	vm->arch.pm = NULL;
	vm->arch.cf9 = NULL;
}

void arch_pci_ready(struct vmm *vm)
{
	pci_bus_set_port_cf9(&vm->pci, cf9_io, vm->arch.cf9);
}

/*
 * There is no BIOS, but a guest may still jump to its reset entry at f000:fff0 in real mode to
 * reboot: Linux does for reboot=b, and by default on our hardware-reduced ACPI machine (it picks
 * EFI there, finds no EFI and falls back to the BIOS). Put there what a reset would end with: the
 * keyboard controller's reset pulse, which ends the run as a reboot.
 */
static void write_reset_vector(struct vmm *vm)
{
	static const uint8_t stub[] = {
		0xfa,       /* cli */
		0xb0, 0xfe, /* mov al, 0xfe: pulse the reset line */
		0xe6, 0x64, /* out 0x64, al */
		0xf4,       /* 1: hlt */
		0xeb, 0xfd, /* jmp 1b */
	};
	uint8_t *p = gmem_ptr(&vm->mem, RESET_VECTOR_ADDR, sizeof(stub));

	if (p) /* else RAM ends below 1 MiB, and a jump there finds no RAM either way */
		memcpy(p, stub, sizeof(stub));
}

int arch_load_guest(struct vmm *vm)
{
	const struct acpi_config acpi = {
		.ncpus = vm->ncpus,
		.pm_io_base = PM_IO_BASE,
		.reset_value = PM_RESET_VALUE,
		.s5_slp_typ = PM_S5_SLP_TYP,
		.com1_port = COM1_PORT,
		.com1_irq = COM1_IRQ,
		.rtc_port = 0x70,
		.pci = true,
		.pci_mmio64_base = vm->pci_mmio64_base,
		.ged = true,
		.ged_io_base = GED_IO_BASE,
		.ged_gsi = GED_GSI,
	};
	const struct x86_boot_files f = { .kernel = vm->kernel, .initrd = vm->initrd, .kernel_fd = vm->kernel_fd,
					  .initrd_fd = vm->initrd_fd };
	uint64_t rsdp = 0;
	int ret;

	ret = acpi_build(&vm->mem, &acpi, &rsdp);
	if (ret) {
		vlog_err(&vm->log, "cannot build the ACPI tables: %s", strerror(-ret));
		return ret;
	}
	write_reset_vector(vm);
	ret = x86_write_boot_tables(&vm->mem);
	if (ret) {
		vlog_err(&vm->log, "guest memory is too small for the boot page tables");
		return ret;
	}
	return x86_boot_setup(&vm->mem, &vm->log, &f, vm->cmdline, rsdp, &vm->arch.boot);
}

int arch_register_vmm_reg(struct vmm *vm, enum arch_vmm_reg which, bus_io_fn fn, void *opaque, const char *name)
{
	if (which == ARCH_REG_DEBUG_EXIT) /* QEMU's isa-debug-exit: 4 ports */
		return bus_register(&vm->pio, vm->debug_exit_port, 4, fn, opaque, name);
	return bus_register(&vm->pio, which == ARCH_REG_BOOT_TIMER ? BOOT_TIMER_PORT : VMM_SNAPSHOT_PORT, 1, fn, opaque,
			    name);
}

int arch_vcpu_init(struct vmm *vm, int vcpu_fd, unsigned id)
{
	return x86_vcpu_init(vcpu_fd, vm->arch.cpuid, id, vm->ncpus, id == 0 ? &vm->arch.boot : NULL, &vm->log);
}

int arch_vcpus_created(struct vmm *vm)
{
	(void)vm;
	return 0;
}

void arch_dump_regs(int vcpu_fd, const struct vlog *log)
{
	x86_dump_regs(vcpu_fd, log);
}

const bool arch_virtio_power_key = false; /* the ACPI power button (GED) */

bool arch_has_power_button(struct vmm *vm)
{
	return vm->arch.ged != NULL;
}

void arch_power_button(struct vmm *vm)
{
	ged_power_button(vm->arch.ged);
}

int arch_clock_freeze(struct vmm *vm, uint64_t *saved)
{
	struct kvm_clock_data clock = { 0 };

	if (ioctl(vm->vm_fd, KVM_GET_CLOCK, &clock) < 0) {
		int e = errno;

		vlog_warn(&vm->log, "KVM_GET_CLOCK failed (%s): guest time runs on while paused", strerror(e));
		return -e;
	}
	*saved = clock.clock;
	return 0;
}

void arch_clock_thaw(struct vmm *vm, uint64_t saved)
{
	struct kvm_clock_data clock = { .clock = saved };

	if (ioctl(vm->vm_fd, KVM_SET_CLOCK, &clock) < 0)
		vlog_warn(&vm->log, "KVM_SET_CLOCK failed (%s): guest time jumped over the pause", strerror(errno));
}

const char arch_vm_state_kind[] = "kvm-x86", arch_vcpu_state_kind[] = "vcpu-x86";

int arch_vm_save(struct vmm *vm, struct sbuf *out)
{
	return x86_vm_save(vm->vm_fd, &vm->log, out);
}

int arch_vm_restore(struct vmm *vm, struct sreader *in)
{
	return x86_vm_restore(vm->vm_fd, &vm->log, in);
}

int arch_vcpu_save(struct vmm *vm, unsigned id, struct sbuf *out)
{
	return x86_vcpu_save(vm->kvm_fd, vm->vm_fd, vm->vcpus[id]->fd, &vm->log, out);
}

int arch_vcpu_restore(struct vmm *vm, unsigned id, struct sreader *in)
{
	return x86_vcpu_restore(vm->vm_fd, vm->vcpus[id]->fd, &vm->log, in);
}
