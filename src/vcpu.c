// SPDX-License-Identifier: Apache-2.0
/* A vCPU thread: KVM_RUN, exit dispatch to the buses, and the stop handshake. */
#include "vcpu.h"
#include "thread.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "arch.h"
#include "devices/boot_timer.h"
#include "vm.h"

/*
 * Kicking a vCPU out of KVM_RUN without a signal handler: the kick signal stays blocked in the
 * vCPU thread, and KVM_SET_SIGNAL_MASK unblocks it only while the thread is inside KVM_RUN. A
 * kick (pthread_kill) then makes KVM_RUN return -EINTR, and because the thread's own mask blocks
 * the signal again on the way out, it is never delivered: it stays pending until the thread takes
 * it with sigtimedwait(). A kick that lands outside KVM_RUN stays pending and ends the next
 * KVM_RUN at once. So the library installs no handler and needs none from the application.
 */
static int kick_signal(void)
{
	return SIGRTMIN + VMM_KICK_SIGNAL_OFFSET;
}

/* Make KVM_RUN run with every signal blocked but the kick. */
static int set_run_sigmask(int fd)
{
	/* struct kvm_signal_mask is a 4-byte len followed at once by the kernel's 8-byte sigset. */
	union {
		struct kvm_signal_mask hdr;
		uint8_t bytes[sizeof(struct kvm_signal_mask) + 8];
	} m;
	uint64_t set = ~(1ull << (kick_signal() - 1));

	_Static_assert(sizeof(struct kvm_signal_mask) == 4, "kvm_signal_mask layout");
	memset(&m, 0, sizeof(m));
	m.hdr.len = 8;
	memcpy(m.hdr.sigset, &set, sizeof(set));
	return ioctl(fd, KVM_SET_SIGNAL_MASK, &m) < 0 ? -errno : 0;
}

/* Take a pending kick (never delivered: blocked outside KVM_RUN). */
static void consume_kick(void)
{
	const struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, kick_signal());
	while (sigtimedwait(&set, NULL, &zero) > 0)
		;
}

int vcpu_create(struct vmm *vm, unsigned id, struct vcpu **out)
{
	struct vcpu *v = calloc(1, sizeof(*v));
	int ret;

	if (!v)
		return -ENOMEM;
	v->vm = vm;
	v->id = id;
	v->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, (unsigned long)id);
	if (v->fd < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot create vCPU %u: %s", id, strerror(errno));
		free(v);
		return ret;
	}
	v->run = mmap(NULL, (size_t)vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, v->fd, 0);
	if (v->run == MAP_FAILED) {
		ret = -errno;
		vlog_err(&vm->log, "cannot map the kvm_run area of vCPU %u: %s", id, strerror(errno));
		close(v->fd);
		free(v);
		return ret;
	}
	ret = stats_init(&v->stats, vm->pio.nr, vm->mmio.nr);
	if (ret) {
		vlog_err(&vm->log, "vCPU %u: no memory for its exit statistics", id);
		vcpu_destroy(v);
		return ret;
	}
	ret = set_run_sigmask(v->fd);
	if (ret) {
		vlog_err(&vm->log, "vCPU %u: KVM_SET_SIGNAL_MASK failed: %s", id, strerror(-ret));
		vcpu_destroy(v);
		return ret;
	}
	ret = arch_vcpu_init(vm, v->fd, id);
	if (ret) {
		vcpu_destroy(v);
		return ret;
	}
	*out = v;
	return 0;
}

static void handle_io(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t size = run->io.size, count = run->io.count;
	uint64_t off = run->io.data_offset, end;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	int idx = -1;

	/* KVM fills these, but a bad value must not make us touch memory past the run page. */
	if ((size != 1 && size != 2 && size != 4) ||
	    __builtin_add_overflow(off, (uint64_t)size * count, &end) || end > (uint64_t)v->vm->run_size)
		return;
	for (uint32_t i = 0; i < count; i++)
		idx = bus_dispatch_at(&v->vm->pio, run->io.port, (uint8_t *)run + off + (uint64_t)i * size, size,
				      is_write);
	stats_count_range(v->stats.pio, v->stats.npio, idx);
}

static void handle_mmio(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	uint32_t len = run->mmio.len;
	int idx = -1;

	if (len != 0 && len <= sizeof(run->mmio.data))
		idx = bus_dispatch_at(&v->vm->mmio, run->mmio.phys_addr, run->mmio.data, len, run->mmio.is_write);
	stats_count_range(v->stats.mmio, v->stats.nmmio, idx);
}

/* Report why the guest died, with its registers, and stop the VM (exit code 2 in the CLI). */
static __attribute__((format(printf, 2, 3))) void crash(struct vcpu *v, const char *fmt, ...)
{
	struct vmm *vm = v->vm;
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	vlog_err(&vm->log, "guest crashed: vCPU %u: %s", v->id, why);
	arch_dump_regs(v->fd, &vm->log);
	vm_exit(vm, VMM_EXIT_CRASH);
}

static const char *internal_error_str(uint32_t suberror)
{
	switch (suberror) {
	case KVM_INTERNAL_ERROR_EMULATION:
		return "instruction emulation failed";
	case KVM_INTERNAL_ERROR_SIMUL_EX:
		return "exception while delivering an exception";
	case KVM_INTERNAL_ERROR_DELIVERY_EV:
		return "exception while delivering an event";
	default:
		return "internal error";
	}
}

/* Handle one exit; false when the vCPU must stop. */
static bool handle_exit(struct vcpu *v)
{
	struct kvm_run *run = v->run;
	struct vmm *vm = v->vm;

	v->stats.exits[stats_exit_kind(run->exit_reason)]++;
	switch (run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(v);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(v);
		return true;
	case KVM_EXIT_INTR:
	case KVM_EXIT_HLT:
		return true;
	case KVM_EXIT_SHUTDOWN:
		/*
		 * A triple fault resets a PC, and it is Linux's last way to reboot (reboot=t, or when
		 * every other method failed): a reset, as in QEMU, not a crash. Registers with -v only.
		 */
		vlog_warn(&vm->log, "the guest reset itself (triple fault)");
		if (vm->log.level >= VMM_LOG_DEBUG)
			arch_dump_regs(v->fd, &vm->log);
		vm_exit(vm, VMM_EXIT_REBOOT);
		return false;
	case KVM_EXIT_INTERNAL_ERROR:
		if (run->internal.suberror == KVM_INTERNAL_ERROR_EMULATION && run->internal.ndata >= 1)
			crash(v, "KVM %s (KVM_EXIT_INTERNAL_ERROR, data 0x%llx)",
			      internal_error_str(run->internal.suberror), (unsigned long long)run->internal.data[0]);
		else
			crash(v, "KVM %s (KVM_EXIT_INTERNAL_ERROR, suberror %u)",
			      internal_error_str(run->internal.suberror), run->internal.suberror);
		return false;
	case KVM_EXIT_FAIL_ENTRY:
		crash(v, "KVM could not enter the guest (KVM_EXIT_FAIL_ENTRY, hardware reason 0x%llx)",
		      (unsigned long long)run->fail_entry.hardware_entry_failure_reason);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		switch (run->system_event.type) {
		case KVM_SYSTEM_EVENT_SHUTDOWN:
			vm_exit(vm, VMM_EXIT_POWEROFF);
			break;
		case KVM_SYSTEM_EVENT_RESET:
			vm_exit(vm, VMM_EXIT_REBOOT);
			break;
		default:
			crash(v, "KVM system event %u", run->system_event.type);
		}
		return false;
	default:
		crash(v, "unexpected KVM exit reason %u", run->exit_reason);
		return false;
	}
}

/*
 * KVM finishes the instruction behind an I/O or MMIO exit (a port read's value into a register, the
 * rest of a string instruction) only at the next KVM_RUN, and that state is not in anything user space
 * can save. Before parking for a pause (a snapshot may follow), re-enter with immediate_exit set: KVM
 * completes the instruction and returns -EINTR without running the guest further (or exits again for
 * the next part of a string instruction, which is served the same way). false: the VM must stop.
 */
static bool complete_exit(struct vcpu *v)
{
	for (unsigned i = 0; v->exit_pending && i < 4096; i++) {
		atomic_store_explicit((_Atomic uint8_t *)&v->run->immediate_exit, 1, memory_order_relaxed);
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			consume_kick();
			v->exit_pending = false;
		} else if (!handle_exit(v)) {
			return false;
		}
	}
	atomic_store_explicit((_Atomic uint8_t *)&v->run->immediate_exit, 0, memory_order_relaxed);
	return true;
}

/*
 * --stats, a run that --timeout stopped: where this vCPU was (a guest that hung, or spun, tells
 * where). The registers are read after the stop, so they are where KVM_RUN last left the guest.
 */
static void report_timeout(struct vcpu *v)
{
	struct vmm *vm = v->vm;
	bool timeout;

	if (!vm->stats)
		return;
	pthread_mutex_lock(&vm->lock);
	timeout = vm->exit_reason == VMM_EXIT_TIMEOUT;
	pthread_mutex_unlock(&vm->lock);
	if (!timeout)
		return;
	vlog_info(&vm->log, "stats: vCPU %u at the timeout:", v->id);
	arch_dump_regs(v->fd, &vm->log);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *v = arg;
	struct vmm *vm = v->vm;
	char name[12];

	snprintf(name, sizeof(name), "vcpu%u", v->id);
	if (seccomp_thread_enter(&vm->seccomp, SECCOMP_VCPU, name, &vm->log)) {
		vm_exit(vm, VMM_EXIT_ERROR);
		return NULL;
	}
	/* Every signal stays blocked in this thread (vcpu_start); KVM_RUN unblocks only the kick. */
	vm_vcpu_enter(vm);
	for (;;) {
		uint64_t t = 0;
		bool go;

		if (v->exit_pending && atomic_load_explicit(&vm->pause_flag, memory_order_acquire) && !complete_exit(v))
			break;
		if (vm_vcpu_checkpoint(vm))
			break;

		if (!v->ran) {
			v->ran = true;
			vm_first_run(vm, v->id);
		}
		if (ioctl(v->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				/* Kicked: take the signal, clear the request, look at the stop flag again. */
				v->stats.exits[STATS_EXIT_KICK]++;
				v->exit_pending = false; /* KVM finished the last exit's instruction first */
				consume_kick();
				atomic_store_explicit((_Atomic uint8_t *)&v->run->immediate_exit, 0,
						      memory_order_relaxed);
				continue;
			}
			vlog_err(&vm->log, "vCPU %u: KVM_RUN failed: %s", v->id, strerror(errno));
			vm_exit(vm, VMM_EXIT_ERROR);
			break;
		}
		/* --stats: the user space time of an exit, from KVM_RUN returning until it is handled. */
		if (vm->stats)
			t = boot_timer_now_ns();
		go = handle_exit(v);
		v->exit_pending = true;
		if (vm->stats)
			v->stats.handle_ns += boot_timer_now_ns() - t;
		if (!go)
			break;
	}
	report_timeout(v);
	vm_vcpu_leave(vm);
	return NULL;
}

int vcpu_start(struct vcpu *v)
{
	sigset_t all, old;
	int ret;

	/* The thread starts, and stays, with every signal blocked (see kick_signal()). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = -thread_create(&v->thread, vcpu_thread, v);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		vlog_err(&v->vm->log, "cannot start the thread of vCPU %u: %s", v->id, strerror(-ret));
		return ret;
	}
	v->thread_started = true;
	return 0;
}

void vcpu_kick(struct vcpu *v)
{
	/* immediate_exit covers a kick that lands just before the thread enters KVM_RUN. */
	atomic_store_explicit((_Atomic uint8_t *)&v->run->immediate_exit, 1, memory_order_release);
	if (v->thread_started)
		pthread_kill(v->thread, kick_signal());
}

bool vcpu_is_self(struct vcpu *v)
{
	return atomic_load(&v->thread_started) && pthread_equal(v->thread, pthread_self());
}

void vcpu_join(struct vcpu *v)
{
	if (v->thread_started) {
		pthread_join(v->thread, NULL);
		v->thread_started = false;
	}
}

void vcpu_destroy(struct vcpu *v)
{
	if (!v)
		return;
	vcpu_join(v);
	if (v->run && v->run != MAP_FAILED)
		munmap(v->run, (size_t)v->vm->run_size);
	if (v->fd >= 0)
		close(v->fd);
	stats_destroy(&v->stats);
	free(v);
}
