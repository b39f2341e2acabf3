// SPDX-License-Identifier: Apache-2.0
/*
 * Seeing a boot: the boot-timer phases (--boot-timer) and the exit statistics (--stats), both told
 * through the log callback at VMM_LOG_INFO, one line each.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "device.h"
#include "console.h"
#include "devices/boot_timer.h"
#include "devices/serial.h"
#include "arch.h"
#include "stats.h"
#include "vcpu.h"
#include "vm.h"

/* "boot-timer: WHAT at T ms", T from the origin (signed: an origin given from outside may be late). */
static __attribute__((format(printf, 3, 4))) void phase(struct vmm *vm, uint64_t ns, const char *fmt, ...)
{
	char what[128];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	vlog_info(&vm->log, "boot-timer: %s at %.3f ms", what, (double)(int64_t)(ns - vm->origin_ns) / 1e6);
}

static void on_marker(void *opaque, uint8_t value, uint64_t mono_ns)
{
	struct vmm *vm = opaque;

	if (vm->boot_timer_on)
		phase(vm, mono_ns, "guest marker %u", value);
}

int vm_setup_boot_timer(struct vmm *vm)
{
	int ret;

	vm->boot_timer = boot_timer_create(on_marker, vm);
	if (!vm->boot_timer)
		return -ENOMEM;
	ret = arch_register_vmm_reg(vm, ARCH_REG_BOOT_TIMER, boot_timer_io, vm->boot_timer, "boot-timer");
	ret = ret ?: vm_add_device(vm, "boot-timer", &boot_timer_device_ops, vm->boot_timer);
	if (ret)
		vlog_err(&vm->log, "the boot-timer register collides with another device's (%s)", strerror(-ret));
	return ret;
}

void vm_teardown_boot_timer(struct vmm *vm)
{
	boot_timer_destroy(vm->boot_timer);
	vm->boot_timer = NULL;
}

void vm_first_run(struct vmm *vm, unsigned vcpu)
{
	uint64_t now;

	if (!vm->boot_timer_on || atomic_exchange(&vm->first_run_seen, true))
		return;
	now = boot_timer_now_ns();
	phase(vm, now, "first KVM_RUN (vCPU %u)", vcpu);
}

void vm_created(struct vmm *vm, uint64_t entry_ns)
{
	uint64_t now = boot_timer_now_ns();

	if (!vm->origin_given)
		vm->origin_ns = entry_ns;
	if (!vm->boot_timer_on)
		return;
	if (vm->origin_given) {
		phase(vm, vm->origin_ns, "process start");
		phase(vm, entry_ns, "vmm_create entry");
	} else {
		phase(vm, entry_ns, "vmm_create entry (the origin: no process start time was given)");
	}
	phase(vm, now, "vmm_create done");
}

static void emit(void *opaque, const char *line)
{
	struct vmm *vm = opaque;

	vlog_info(&vm->log, "%s", line);
}

/* Where each console stands at exit: a guest whose output stalled shows which side waits. */
static void report_consoles(struct vmm *vm)
{
	char line[256];

	if (vm->serial) {
		serial_describe(vm->serial, line, sizeof(line));
		vlog_info(&vm->log, "stats: serial: %s", line);
	}
	if (vm->uart_con) {
		console_describe(vm->uart_con, line, sizeof(line));
		vlog_info(&vm->log, "stats: serial console: %s", line);
	}
	if (vm->hvc_con) {
		console_describe(vm->hvc_con, line, sizeof(line));
		vlog_info(&vm->log, "stats: hvc0 console: %s", line);
	}
}

void vm_report_stats(struct vmm *vm)
{
	struct stats total, *per;

	if (!vm->stats || !vm->vcpus[0])
		return;
	per = calloc(vm->ncpus, sizeof(*per));
	if (!per || stats_init(&total, vm->pio.nr, vm->mmio.nr)) {
		free(per);
		vlog_warn(&vm->log, "no memory for the exit statistics");
		return;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		per[i] = vm->vcpus[i]->stats; /* a shallow copy: only read */
		stats_add(&total, &per[i]);
	}
	stats_report(&total, per, vm->ncpus, &vm->pio, &vm->mmio, emit, vm);
	stats_destroy(&total);
	free(per);
	report_consoles(vm);
}
