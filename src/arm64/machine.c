// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 side of src/arch.h: KVM's arm64 capabilities and CPU target, the in-kernel GICv3 and
 * ITS, the MMIO UART and PL031 RTC, the Image loader and the device tree, the boot CPU's registers
 * (booting.rst: x0 = the device tree, MMU off, EL1 with interrupts masked) and PSCI for the others,
 * which KVM implements: a secondary vCPU starts powered off until the guest's CPU_ON, and the
 * guest's SYSTEM_OFF and SYSTEM_RESET come back as KVM_EXIT_SYSTEM_EVENT (vcpu.c).
 */
#include "arch.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>

#include "arm64/fdt.h"
#include "arm64/image.h"
#include "arm64/layout.h"
#include "arm64/vcpu_state.h"
#include "device.h"
#include "devices/pl031.h"
#include "devices/serial.h"
#include "irq.h"
#include "vcpu.h"
#include "vm.h"

const char arch_name[] = "arm64";
const bool arch_msi_devid = true;

static const struct kvm_cap_need required_caps[] = {
	{ KVM_CAP_ONE_REG, "KVM_CAP_ONE_REG" },
	{ KVM_CAP_DEVICE_CTRL, "in-kernel devices (KVM_CAP_DEVICE_CTRL)" },
	{ KVM_CAP_ARM_PSCI_0_2, "PSCI 0.2 (KVM_CAP_ARM_PSCI_0_2)" },
	{ KVM_CAP_IRQ_ROUTING, "interrupt routing (KVM_CAP_IRQ_ROUTING)" },
};

int arch_open_kvm(struct vmm *vm)
{
	int ret = vm_require_caps(vm, required_caps, sizeof(required_caps) / sizeof(required_caps[0]));

	if (ret)
		return ret;
	/* Pointer authentication, as QEMU's -cpu host gives it: both kinds or neither (KVM's rule). */
	vm->arch.ptrauth = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PTRAUTH_ADDRESS) > 0 &&
			   ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_ARM_PTRAUTH_GENERIC) > 0;
	if (vm->ncpus > ARM64_MAX_CPUS) {
		vlog_err(&vm->log, "--cpus %u: an arm64 guest has at most %d vCPUs", vm->ncpus, ARM64_MAX_CPUS);
		return -EINVAL;
	}
	return 0;
}

void arch_close_kvm(struct vmm *vm)
{
	(void)vm;
}

unsigned long arch_vm_type(struct vmm *vm)
{
	(void)vm;
	return 0; /* KVM's default 40-bit guest physical addresses: RAM and the 64-bit PCI window fit */
}

int arch_create_vm(struct vmm *vm)
{
	struct kvm_vcpu_init init;

	vm->arch.vgic.gic_fd = vm->arch.vgic.its_fd = -1;
	if (ioctl(vm->vm_fd, KVM_ARM_PREFERRED_TARGET, &init) < 0) {
		int e = errno;

		vlog_err(&vm->log, "KVM_ARM_PREFERRED_TARGET failed: %s", strerror(e));
		return -e;
	}
	vm->arch.target = init.target;
	return 0;
}

int arch_setup_irqchip(struct vmm *vm)
{
	return vgic_create(&vm->arch.vgic, vm->vm_fd, vm->ncpus, &vm->log);
}

void arch_teardown_irqchip(struct vmm *vm)
{
	vgic_destroy(&vm->arch.vgic);
}

/* SPI n is INTID 32 + n; KVM_IRQ_LINE names it by type and INTID. */
void arch_irq_set(void *opaque, unsigned gsi, int level)
{
	struct vmm *vm = opaque;
	struct kvm_irq_level irq = {
		.irq = KVM_ARM_IRQ_TYPE_SPI << KVM_ARM_IRQ_TYPE_SHIFT | ((32 + gsi) & KVM_ARM_IRQ_NUM_MASK),
		.level = (uint32_t)level,
	};

	if (ioctl(vm->vm_fd, KVM_IRQ_LINE, &irq) < 0)
		vlog_warn(&vm->log, "KVM_IRQ_LINE (SPI %u) failed: %s", gsi, strerror(errno));
}

int arch_setup_devices(struct vmm *vm)
{
	const struct irq_line uart = { .set = arch_irq_set, .opaque = vm, .gsi = ARM64_UART_SPI };
	const struct irq_line rtc = { .set = arch_irq_set, .opaque = vm, .gsi = ARM64_RTC_SPI };
	int ret;

	vm->serial = vm_create_serial(vm, &uart);
	vm->arch.rtc = pl031_create(NULL, NULL, &rtc);
	if (!vm->serial || !vm->arch.rtc)
		return -ENOMEM;
	ret = bus_register(&vm->mmio, ARM64_UART_BASE, 8, serial_io, vm->serial, "serial");
	ret = ret ?: bus_register(&vm->mmio, ARM64_RTC_BASE, ARM64_RTC_SIZE, pl031_io, vm->arch.rtc, "rtc");
	ret = ret ?: vm_add_device(vm, "serial", &serial_device_ops, vm->serial);
	ret = ret ?: vm_add_device(vm, "rtc", &pl031_device_ops, vm->arch.rtc);
	if (ret)
		vlog_err(&vm->log, "cannot register the UART and the RTC: %s", strerror(-ret));
	return ret;
}

void arch_teardown_devices(struct vmm *vm)
{
	serial_destroy(vm->serial);
	pl031_destroy(vm->arch.rtc);
	vm->serial = NULL;
	vm->arch.rtc = NULL;
}

void arch_pci_ready(struct vmm *vm)
{
	(void)vm;
}

int arch_load_guest(struct vmm *vm)
{
	uint64_t ram_end = ARM64_RAM_BASE + vm->mem_bytes, mpidr[ARM64_MAX_CPUS], fdt_gpa, seed = 0;
	uint64_t initrd = 0, initrd_size = 0;
	struct arm64_kernel k;
	void *fdt;
	int ret;

	ret = arm64_load_kernel(&vm->mem, &vm->log, vm->kernel, vm->kernel_fd, ARM64_RAM_BASE, vm->mem_bytes, &k);
	if (ret)
		return ret;
	/* The device tree in the last 2 MiB of RAM, the initrd below it (booting.rst allows both anywhere). */
	if (vm->mem_bytes < ARM64_FDT_MAX || k.end > ram_end - ARM64_FDT_MAX) {
		vlog_err(&vm->log, "guest memory is too small for kernel '%s' and its device tree", vm->kernel);
		return -ENOMEM;
	}
	fdt_gpa = ram_end - ARM64_FDT_MAX;
	if (vm->initrd_fd >= 0) {
		/* booting.rst: kernel and initrd in one 1 GiB aligned window of at most 32 GiB. */
		uint64_t hi = fdt_gpa < ARM64_RAM_BASE + (32ull << 30) ? fdt_gpa : ARM64_RAM_BASE + (32ull << 30);

		ret = arm64_load_initrd(&vm->mem, &vm->log, vm->initrd, vm->initrd_fd, k.end, hi, &initrd, &initrd_size);
		if (ret)
			return ret;
	}
	for (unsigned i = 0; i < vm->ncpus; i++)
		mpidr[i] = arm64_vcpu_mpidr(i);
	if (getrandom(&seed, sizeof(seed), GRND_NONBLOCK) != sizeof(seed))
		seed = 0; /* no entropy yet: the guest gathers its own */
	const struct arm64_fdt_config c = {
		.ncpus = vm->ncpus,
		.mpidr = mpidr,
		.ram_base = ARM64_RAM_BASE,
		.ram_size = vm->mem_bytes,
		.cmdline = vm->cmdline,
		.initrd_start = initrd,
		.initrd_size = initrd_size,
		.gicd_base = ARM64_GICD_BASE,
		.gicd_size = ARM64_GICD_SIZE,
		.gicr_base = ARM64_GICR_BASE,
		.gicr_size = vm->ncpus * ARM64_GICR_STRIDE,
		.its_base = ARM64_ITS_BASE,
		.its_size = vm->arch.vgic.its_fd >= 0 ? ARM64_ITS_SIZE : 0,
		.uart_base = ARM64_UART_BASE,
		.uart_size = ARM64_UART_SIZE,
		.uart_spi = ARM64_UART_SPI,
		.rtc_base = ARM64_RTC_BASE,
		.rtc_size = ARM64_RTC_SIZE,
		.rtc_spi = ARM64_RTC_SPI,
		.pci_ecam_base = ARM64_PCI_ECAM_BASE,
		.pci_ecam_size = ARM64_PCI_ECAM_SIZE,
		.pci_mmio32_base = ARM64_PCI_MMIO32_BASE,
		.pci_mmio32_size = ARM64_PCI_MMIO32_SIZE,
		.pci_mmio64_base = vm->pci_mmio64_base,
		.pci_mmio64_size = PCI_MMIO64_SIZE,
		.pci_intx_spi = ARM64_PCI_INTX_SPI,
		.pci_slots = PCI_SLOTS,
		.rng_seed = seed,
	};
	fdt = gmem_ptr(&vm->mem, fdt_gpa, ARM64_FDT_MAX);
	ret = fdt ? arm64_fdt_build(&c, fdt, ARM64_FDT_MAX) : -EFAULT;
	if (ret) {
		vlog_err(&vm->log, "cannot write the device tree: %s%s", strerror(-ret),
			 ret == -ENOSPC ? " (is the command line very long?)" : "");
		return ret;
	}
	vm->arch.entry = k.entry;
	vm->arch.fdt = fdt_gpa;
	return 0;
}

/* No I/O ports on arm64: the same byte registers on MMIO pages (a guest writes them with busybox devmem). */
int arch_register_vmm_reg(struct vmm *vm, enum arch_vmm_reg which, bus_io_fn fn, void *opaque, const char *name)
{
	if (which == ARCH_REG_DEBUG_EXIT)
		return bus_register(&vm->mmio, ARM64_DEBUG_EXIT_BASE, 4, fn, opaque, name);
	return bus_register(&vm->mmio, which == ARCH_REG_BOOT_TIMER ? ARM64_BOOT_TIMER_BASE : ARM64_SNAPSHOT_BASE, 1, fn,
			    opaque, name);
}

#define CORE_REG(name) (KVM_REG_ARM64 | KVM_REG_SIZE_U64 | KVM_REG_ARM_CORE | KVM_REG_ARM_CORE_REG(name))

/* KVM_GET_ONE_REG or KVM_SET_ONE_REG (req) of register id, its value at p (the size the id encodes). */
static int one_reg(int fd, unsigned long req, uint64_t id, void *p)
{
	struct kvm_one_reg r = { .id = id, .addr = (uintptr_t)p };

	return ioctl(fd, req, &r) < 0 ? -errno : 0;
}

static int set_reg(int fd, uint64_t id, uint64_t val)
{
	return one_reg(fd, KVM_SET_ONE_REG, id, &val);
}

static int get_reg(int fd, uint64_t id, uint64_t *val)
{
	return one_reg(fd, KVM_GET_ONE_REG, id, val);
}

/* EL1h, with debug, SError, IRQ and FIQ masked (booting.rst: "all forms of interrupts must be masked"). */
#define PSTATE_BOOT 0x3c5ull

int arch_vcpu_init(struct vmm *vm, int vcpu_fd, unsigned id)
{
	struct kvm_vcpu_init init = { .target = vm->arch.target };
	int ret;

	init.features[0] = 1u << KVM_ARM_VCPU_PSCI_0_2;
	if (vm->arch.ptrauth)
		init.features[0] |= 1u << KVM_ARM_VCPU_PTRAUTH_ADDRESS | 1u << KVM_ARM_VCPU_PTRAUTH_GENERIC;
	if (id != 0)
		init.features[0] |= 1u << KVM_ARM_VCPU_POWER_OFF; /* until the guest's PSCI CPU_ON */
	if (ioctl(vcpu_fd, KVM_ARM_VCPU_INIT, &init) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot initialise vCPU %u (KVM_ARM_VCPU_INIT): %s", id, strerror(errno));
		return ret;
	}
	if (id != 0 || vm->restore_dir)
		return 0;
	ret = set_reg(vcpu_fd, CORE_REG(regs.pstate), PSTATE_BOOT);
	ret = ret ?: set_reg(vcpu_fd, CORE_REG(regs.regs[0]), vm->arch.fdt);
	for (unsigned i = 1; i < 4 && !ret; i++)
		ret = set_reg(vcpu_fd, CORE_REG(regs.regs[i]), 0);
	ret = ret ?: set_reg(vcpu_fd, CORE_REG(regs.pc), vm->arch.entry);
	if (ret)
		vlog_err(&vm->log, "cannot set the boot vCPU's registers: %s", strerror(-ret));
	return ret;
}

int arch_vcpus_created(struct vmm *vm)
{
	return vgic_finish(&vm->arch.vgic, &vm->log);
}

void arch_dump_regs(int vcpu_fd, const struct vlog *log)
{
	uint64_t pc = 0, pstate = 0, sp = 0, x[31] = { 0 };

	if (get_reg(vcpu_fd, CORE_REG(regs.pc), &pc) || get_reg(vcpu_fd, CORE_REG(regs.pstate), &pstate) ||
	    get_reg(vcpu_fd, CORE_REG(sp_el1), &sp)) {
		vlog_err(log, "cannot read the vCPU's registers");
		return;
	}
	for (unsigned i = 0; i < 31; i++)
		get_reg(vcpu_fd, CORE_REG(regs.regs[i]), &x[i]);
	vlog_err(log, "pc %016llx pstate %08llx sp_el1 %016llx", (unsigned long long)pc, (unsigned long long)pstate,
		 (unsigned long long)sp);
	for (unsigned i = 0; i < 31; i += 4)
		vlog_err(log, "x%-2u %016llx %016llx %016llx %016llx", i, (unsigned long long)x[i],
			 (unsigned long long)x[i + 1], (unsigned long long)x[i + 2],
			 (unsigned long long)(i + 3 < 31 ? x[i + 3] : 0));
}

/*
 * Debian's arm64 kernels have no gpio-keys (the peers' device-tree power button) but have virtio_input:
 * the power button is a virtio-input device that reports KEY_POWER.
 */
const bool arch_virtio_power_key = true;

bool arch_has_power_button(struct vmm *vm)
{
	return vm->vpower_key != NULL;
}

void arch_power_button(struct vmm *vm)
{
	vm_press_power_key(vm);
}

/*
 * The guest's virtual counter (CNTVCT_EL0, which its timekeeping reads): KVM_REG_ARM_TIMER_CNT reads
 * it, and writing it moves the VM's counter offset so that it reads the value written from then on.
 */
int arch_clock_freeze(struct vmm *vm, uint64_t *saved)
{
	int ret = get_reg(vm->vcpus[0]->fd, KVM_REG_ARM_TIMER_CNT, saved);

	if (ret)
		vlog_warn(&vm->log, "cannot read the guest's virtual counter (%s): guest time runs on while paused",
			  strerror(-ret));
	return ret;
}

void arch_clock_thaw(struct vmm *vm, uint64_t saved)
{
	/* One write moves the offset of every vCPU of the VM (update_vtimer_cntvoff() in 6.1). */
	int ret = set_reg(vm->vcpus[0]->fd, KVM_REG_ARM_TIMER_CNT, saved);

	if (ret)
		vlog_warn(&vm->log, "cannot set the guest's virtual counter (%s): guest time jumped over the pause",
			  strerror(-ret));
}

/* ---- Snapshots: the GICv3 (arm64/gic_state.h) and each vCPU (arm64/vcpu_state.h). ---- */

const char arch_vm_state_kind[] = "kvm-arm64", arch_vcpu_state_kind[] = "vcpu-arm64";

int arch_vm_save(struct vmm *vm, struct sbuf *out)
{
	struct gic_state *s = malloc(sizeof(*s));
	int ret;

	if (!s)
		return -ENOMEM;
	ret = vgic_save(&vm->arch.vgic, vm->ncpus, s, &vm->log);
	if (!ret)
		gic_state_write(s, out);
	free(s);
	return ret;
}

int arch_vm_restore(struct vmm *vm, struct sreader *in)
{
	struct gic_state *s = malloc(sizeof(*s));
	char err[128];
	int ret;

	if (!s)
		return -ENOMEM;
	ret = gic_state_read(in, vm->ncpus, s, err, sizeof(err));
	if (ret)
		vlog_err(&vm->log, "snapshot '%s' cannot be restored: %s", vm->restore_dir, err);
	else
		ret = vgic_restore(&vm->arch.vgic, s, &vm->log);
	free(s);
	return ret;
}

_Static_assert(sizeof(struct kvm_vcpu_events) == ARM64_VCPU_EVENTS_SIZE, "struct kvm_vcpu_events");

/* Every register KVM lists for the vCPU (KVM_GET_REG_LIST) into s. 0 or -errno. */
static int read_regs(int fd, struct arm64_vcpu_state *s, const struct vlog *log, unsigned id)
{
	struct kvm_reg_list probe = { .n = 0 }, *list;
	size_t bytes = 0;
	int ret = 0;

	if (ioctl(fd, KVM_GET_REG_LIST, &probe) == 0 || errno != E2BIG || probe.n > ARM64_VCPU_MAX_REGS) {
		vlog_err(log, "cannot list vCPU %u's registers (KVM_GET_REG_LIST): %s", id,
			 probe.n > ARM64_VCPU_MAX_REGS ? "too many" : strerror(errno));
		return -EIO;
	}
	list = calloc(1, sizeof(*list) + probe.n * sizeof(list->reg[0]));
	if (!list)
		return -ENOMEM;
	list->n = probe.n;
	if (ioctl(fd, KVM_GET_REG_LIST, list) < 0) {
		ret = -errno;
		vlog_err(log, "cannot list vCPU %u's registers (KVM_GET_REG_LIST): %s", id, strerror(errno));
		goto out;
	}
	for (uint64_t i = 0; i < list->n; i++) {
		if (!arm64_reg_size(list->reg[i])) {
			vlog_err(log, "vCPU %u has register 0x%llx, which a snapshot cannot hold", id,
				 (unsigned long long)list->reg[i]);
			ret = -ENOTSUP;
			goto out;
		}
		bytes += arm64_reg_size(list->reg[i]);
	}
	ret = arm64_vcpu_state_alloc(s, (uint32_t)list->n, bytes);
	for (uint64_t i = 0, off = 0; i < list->n && !ret; i++) {
		struct arm64_reg *r = &s->regs[i];

		*r = (struct arm64_reg){ .id = list->reg[i], .size = arm64_reg_size(list->reg[i]), .off = (uint32_t)off };
		ret = one_reg(fd, KVM_GET_ONE_REG, r->id, s->values + off);
		if (ret)
			vlog_err(log, "cannot read vCPU %u's register 0x%llx: %s", id, (unsigned long long)r->id, strerror(-ret));
		off += r->size;
		s->nregs = (uint32_t)i + 1;
	}
out:
	free(list);
	return ret;
}

int arch_vcpu_save(struct vmm *vm, unsigned id, struct sbuf *out)
{
	struct arm64_vcpu_state s = { 0 };
	struct kvm_mp_state mp;
	int fd = vm->vcpus[id]->fd, ret;

	if (ioctl(fd, KVM_GET_MP_STATE, &mp) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot read vCPU %u's state (KVM_GET_MP_STATE): %s", id, strerror(errno));
		return ret;
	}
	s.mp_state = mp.mp_state;
	if (ioctl(vm->vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_VCPU_EVENTS) > 0) {
		if (ioctl(fd, KVM_GET_VCPU_EVENTS, s.events) < 0) {
			ret = -errno;
			vlog_err(&vm->log, "cannot read vCPU %u's pending events: %s", id, strerror(errno));
			return ret;
		}
		s.events_len = ARM64_VCPU_EVENTS_SIZE;
	}
	ret = read_regs(fd, &s, &vm->log, id);
	/* The guest's counter as it stood at the pause: a restored guest goes on from there. */
	for (uint32_t i = 0; i < s.nregs && !ret && vm->paused_clock_valid; i++)
		if (s.regs[i].id == KVM_REG_ARM_TIMER_CNT && s.regs[i].size == sizeof(vm->paused_clock))
			memcpy(s.values + s.regs[i].off, &vm->paused_clock, sizeof(vm->paused_clock));
	if (!ret)
		arm64_vcpu_state_write(&s, out);
	arm64_vcpu_state_free(&s);
	return ret;
}

/* Into a vCPU made by arch_vcpu_init() for a restore (same features), before it first runs. */
int arch_vcpu_restore(struct vmm *vm, unsigned id, struct sreader *in)
{
	struct arm64_vcpu_state s;
	struct kvm_mp_state mp;
	int fd = vm->vcpus[id]->fd, ret = 0;
	char err[128];

	if (arm64_vcpu_state_read(in, &s, err, sizeof(err))) {
		vlog_err(&vm->log, "snapshot '%s' cannot be restored: vCPU %u: %s", vm->restore_dir, id, err);
		return -EINVAL;
	}
	for (uint32_t i = 0; i < s.nregs && !ret; i++) {
		ret = one_reg(fd, KVM_SET_ONE_REG, s.regs[i].id, s.values + s.regs[i].off);
		if (ret)
			vlog_err(&vm->log, "cannot restore vCPU %u's register 0x%llx: %s%s", id,
				 (unsigned long long)s.regs[i].id, strerror(-ret),
				 ret == -ENOENT ? " (this host's KVM has no such register: a snapshot from another kind of host?)" : "");
	}
	if (!ret && s.events_len && ioctl(fd, KVM_SET_VCPU_EVENTS, s.events) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot restore vCPU %u's pending events: %s", id, strerror(errno));
	}
	mp.mp_state = s.mp_state;
	if (!ret && ioctl(fd, KVM_SET_MP_STATE, &mp) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot restore vCPU %u's state (KVM_SET_MP_STATE %u): %s", id, s.mp_state, strerror(errno));
	}
	arm64_vcpu_state_free(&s);
	return ret;
}
