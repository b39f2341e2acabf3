// SPDX-License-Identifier: Apache-2.0
/*
 * VM lifecycle: open the kernel and initrd, then /dev/kvm; create the VM, memory, irqchip, devices, ACPI,
 * kernel, vCPUs; teardown.
 */
#include "vm.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "arch.h"
#include "boot_file.h"
#include "device.h"
#include "devices/boot_timer.h"
#include "devices/serial.h"
#include "event_loop.h"
#include "irq.h"
#include "vcpu.h"

#define KVM_API_VERSION_WANTED 12

static const struct kvm_cap_need required_caps[] = {
	{ KVM_CAP_USER_MEMORY, "user memory regions (KVM_CAP_USER_MEMORY)" },
	{ KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT" },
	{ KVM_CAP_IOEVENTFD, "ioeventfd (KVM_CAP_IOEVENTFD)" },
	{ KVM_CAP_IRQFD, "irqfd (KVM_CAP_IRQFD)" },
};

int vm_require_caps(struct vmm *vm, const struct kvm_cap_need *caps, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, caps[i].cap) <= 0) {
			vlog_err(&vm->log, "this host's KVM lacks %s, which vmm needs", caps[i].name);
			return -ENOTSUP;
		}
	}
	return 0;
}

static void close_images(struct vmm *vm)
{
	if (vm->kernel_fd >= 0)
		close(vm->kernel_fd);
	if (vm->initrd_fd >= 0)
		close(vm->initrd_fd);
	vm->kernel_fd = vm->initrd_fd = -1;
}

/*
 * The files named by the user, before anything else: a mistyped path must be the error reported, not
 * a missing /dev/kvm or too little memory. The kernel and initrd stay open until load_guest() reads them;
 * a disk is only looked up here (disk_open() opens, checks and locks it later, with its device).
 */
static int open_images(struct vmm *vm)
{
	int fd;

	if (!vm->restore_dir) { /* a restore takes the guest from its snapshot */
		fd = boot_file_open(&vm->log, "kernel", vm->kernel);
		if (fd < 0)
			return fd;
		vm->kernel_fd = fd;
	}
	if (vm->initrd && !vm->restore_dir) {
		fd = boot_file_open(&vm->log, "initrd", vm->initrd);
		if (fd < 0)
			return fd;
		vm->initrd_fd = fd;
	}
	for (unsigned i = 0; i < vm->ndisks; i++) {
		struct stat st;

		if (stat(vm->disk_cfg[i].path, &st) < 0) {
			int e = errno;

			vlog_err(&vm->log, "cannot open disk '%s': %s", vm->disk_cfg[i].path, strerror(e));
			return -e;
		}
	}
	for (unsigned i = 0; i < vm->nfs; i++) { /* connected later, with its device (vm_fs.c) */
		const struct vmm_fs *f = &vm->fs_cfg[i];
		struct stat st;
		int e = stat(f->socket, &st) < 0 ? errno : S_ISSOCK(st.st_mode) ? 0 : ENOTSOCK;

		if (e) {
			vlog_err(&vm->log, "shared folder '%s': no vhost-user socket at '%s': %s (is virtiofsd running?)",
				 f->tag, f->socket, strerror(e));
			return -e;
		}
	}
	return 0;
}

static int open_kvm(struct vmm *vm)
{
	int v;

	vm->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (vm->kvm_fd < 0) {
		int e = errno;

		if (e == ENOENT)
			vlog_err(&vm->log, "/dev/kvm does not exist: load the kvm module (kvm_intel or kvm_amd) and enable virtualization in the firmware");
		else if (e == EACCES || e == EPERM)
			vlog_err(&vm->log, "no permission to open /dev/kvm: add this user to the 'kvm' group or run as root");
		else
			vlog_err(&vm->log, "cannot open /dev/kvm: %s", strerror(e));
		return -e;
	}
	v = ioctl(vm->kvm_fd, KVM_GET_API_VERSION, 0);
	if (v != KVM_API_VERSION_WANTED) {
		vlog_err(&vm->log, "/dev/kvm speaks KVM API version %d; vmm needs version %d", v,
			 KVM_API_VERSION_WANTED);
		return -ENOTSUP;
	}
	v = vm_require_caps(vm, required_caps, sizeof(required_caps) / sizeof(required_caps[0]));
	if (v)
		return v;
	v = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
	if (v <= 0)
		v = ioctl(vm->kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
	if (v > 0 && vm->ncpus > (unsigned)v) {
		vlog_err(&vm->log, "--cpus %u is more than this host's KVM allows (%d)", vm->ncpus, v);
		return -EINVAL;
	}
	vm->run_size = ioctl(vm->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (vm->run_size < (int)sizeof(struct kvm_run)) {
		vlog_err(&vm->log, "KVM_GET_VCPU_MMAP_SIZE failed: %s", strerror(errno));
		return -EIO;
	}
	return arch_open_kvm(vm);
}

static void close_kvm(struct vmm *vm)
{
	arch_close_kvm(vm);
	if (vm->kvm_fd >= 0)
		close(vm->kvm_fd);
	vm->kvm_fd = -1;
}

static int create_vm(struct vmm *vm)
{
	/*
	 * KVM_CREATE_VM registers an MMU notifier, which gives up with EINTR when the thread has a
	 * signal or task work pending (io_uring queues task work to the thread that tore a previous
	 * VM's ring down; seen in the nested test host, once in a few dozen creations; QEMU retries
	 * too). Nothing was created, and returning to user space ran the work: try again, boundedly.
	 */
	for (unsigned tries = 0; tries < 100; tries++) {
		vm->vm_fd = ioctl(vm->kvm_fd, KVM_CREATE_VM, arch_vm_type(vm));
		if (vm->vm_fd >= 0 || errno != EINTR)
			break;
	}
	if (vm->vm_fd < 0) {
		int e = errno;

		vlog_err(&vm->log, "cannot create a VM (KVM_CREATE_VM): %s", strerror(e));
		return -e;
	}
	return arch_create_vm(vm);
}

static void destroy_vm(struct vmm *vm)
{
	if (vm->vm_fd >= 0)
		close(vm->vm_fd);
	vm->vm_fd = -1;
}

static char *human_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 6) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static int setup_memory(struct vmm *vm)
{
	struct sysinfo si;
	char a[32], b[32];
	int ret;

	if (sysinfo(&si) == 0) {
		uint64_t host = (uint64_t)si.totalram * si.mem_unit + (uint64_t)si.totalswap * si.mem_unit;

		if (vm->mem_bytes > host) {
			vlog_err(&vm->log, "cannot give the guest %s of memory: this host has only %s of RAM and swap",
				 human_size(vm->mem_bytes, a, sizeof(a)), human_size(host, b, sizeof(b)));
			return -ENOMEM;
		}
	}
	/* A vhost-user backend (virtio-fs) maps guest RAM too: then it is a shared memfd. */
	if (vm->nfs)
		ret = gmem_init_memfd(&vm->mem, vm->mem_bytes);
	else
		ret = gmem_init_file(&vm->mem, vm->mem_bytes, vm->snap_mem_fd); /* -1: anonymous */
	if (ret) {
		vlog_err(&vm->log, "cannot map %s of guest memory: %s", human_size(vm->mem_bytes, a, sizeof(a)),
			 strerror(-ret));
		return ret;
	}
	for (int i = 0; i < vm->mem.nr; i++) {
		struct kvm_userspace_memory_region r = {
			.slot = (uint32_t)i,
			.guest_phys_addr = vm->mem.r[i].gpa,
			.memory_size = vm->mem.r[i].size,
			.userspace_addr = (uintptr_t)vm->mem.r[i].hva,
		};

		if (ioctl(vm->vm_fd, KVM_SET_USER_MEMORY_REGION, &r) < 0) {
			ret = -errno;
			vlog_err(&vm->log, "cannot give %s of memory to KVM: %s", human_size(r.memory_size, a, sizeof(a)),
				 strerror(errno));
			return ret;
		}
	}
	return 0;
}

static void teardown_memory(struct vmm *vm)
{
	gmem_destroy(&vm->mem);
}

static int setup_irq_routes(struct vmm *vm)
{
	return irq_routes_init(&vm->routes, vm->vm_fd, &vm->log);
}

static void teardown_irq_routes(struct vmm *vm)
{
	irq_routes_destroy(&vm->routes);
}

/* QEMU's isa-debug-exit: a write of v stops the VM with VMM_EXIT_DEBUG and value v; reads are 0. */
static void debug_exit_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct vmm *vm = opaque;
	uint32_t v = 0;

	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (off != 0)
		return;
	memcpy(&v, data, len < sizeof(v) ? len : sizeof(v));
	pthread_mutex_lock(&vm->lock);
	if (vm->exit_reason == VMM_EXIT_NONE)
		vm->debug_exit_value = v; /* the first reason wins, as in vm_exit() */
	pthread_mutex_unlock(&vm->lock);
	vm_exit(vm, VMM_EXIT_DEBUG);
}

static int setup_devices(struct vmm *vm)
{
	int ret = arch_setup_devices(vm);

	if (ret)
		return ret;
	if (vm->debug_exit_port) {
		ret = arch_register_vmm_reg(vm, ARCH_REG_DEBUG_EXIT, debug_exit_io, vm, "debug-exit");
		if (ret)
			vlog_err(&vm->log, "the debug-exit port 0x%x collides with another device's ports",
				 vm->debug_exit_port);
	}
	return ret;
}

static int setup_pci(struct vmm *vm)
{
	uint64_t top = 0;
	int ret;

	/* 64-bit BARs go above RAM (and above 4 GiB), 1 GiB aligned. */
	for (int i = 0; i < vm->mem.nr; i++)
		if (vm->mem.r[i].gpa + vm->mem.r[i].size > top)
			top = vm->mem.r[i].gpa + vm->mem.r[i].size;
	if (top < (1ull << 32))
		top = 1ull << 32;
	vm->pci_mmio64_base = (top + (1ull << 30) - 1) & ~((1ull << 30) - 1);
	ret = pci_bus_init(&vm->pci, &vm->pio, &vm->mmio, vm->pci_mmio64_base, arch_irq_set, vm, &vm->log);
	if (!ret)
		arch_pci_ready(vm);
	ret = ret ?: vm_add_device(vm, "pci-host", &pci_host_bridge_device_ops, &vm->pci);
	if (ret)
		vlog_err(&vm->log, "cannot set up the PCI bus: %s", strerror(-ret));
	return ret;
}

static void teardown_pci(struct vmm *vm)
{
	pci_bus_destroy(&vm->pci);
}

/* The seccomp filters of the library's threads, built before the first of them starts. */
static int setup_seccomp(struct vmm *vm)
{
	unsigned kinds = 1u << SECCOMP_VCPU | 1u << SECCOMP_IO | 1u << SECCOMP_SUPERVISOR | 1u << SECCOMP_NET_POLL;

	return seccomp_set_build(&vm->seccomp, vm->seccomp_mode, kinds, &vm->log);
}

static void teardown_seccomp(struct vmm *vm)
{
	seccomp_set_free(&vm->seccomp);
}

/* The I/O thread's first act: its name and filter; a filter that cannot be loaded stops the VM. */
static void io_thread_start(void *opaque)
{
	struct vmm *vm = opaque;
	char name[16] = "io";

	/* vmm-io, vmm-io2, vmm-io3, ... (--io-threads): each its own name in ps and top. */
	for (unsigned i = 1; i < vm->nloops; i++)
		if (event_loop_on_thread(vm->loops[i]))
			snprintf(name, sizeof(name), "io%u", i + 1);
	if (seccomp_thread_enter(&vm->seccomp, SECCOMP_IO, name, &vm->log))
		vm_exit(vm, VMM_EXIT_ERROR);
}

static int setup_event_loop(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->nloops; i++) {
		int ret = event_loop_create(1024, &vm->log, &vm->loops[i]);

		if (ret)
			return ret;
		event_loop_on_start(vm->loops[i], io_thread_start, vm);
	}
	vm->loop = vm->loops[0];
	return 0;
}

static void teardown_event_loop(struct vmm *vm)
{
	vm_stop_io_loops(vm);
	for (unsigned i = 0; i < vm->nloops; i++) {
		if (vm->loops[i])
			event_loop_destroy(vm->loops[i]);
		vm->loops[i] = NULL;
	}
	vm->loop = NULL;
}

static int load_guest(struct vmm *vm)
{
	int ret;

	if (vm->restore_dir)
		return 0; /* the machine's description, kernel and command line are in the snapshot's memory */
	ret = arch_load_guest(vm);
	close_images(vm); /* read: not held while the guest runs */
	return ret;
}

static int create_vcpus(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		int ret = vcpu_create(vm, i, &vm->vcpus[i]);

		if (ret)
			return ret;
	}
	return arch_vcpus_created(vm) ?: irq_routes_start(&vm->routes);
}

static void destroy_vcpus(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++) {
		vcpu_destroy(vm->vcpus[i]);
		vm->vcpus[i] = NULL;
	}
}

static void nothing(struct vmm *vm)
{
	(void)vm;
}

/* The order of set-up; teardown runs the finishers of the steps that ran, in reverse. */
#define STEP(init, fini) { init, fini, #init }
static const struct {
	int (*init)(struct vmm *vm);
	void (*fini)(struct vmm *vm);
	const char *name; /* for the debug line with its duration */
} steps[] = {
	STEP(open_images, close_images),
	STEP(setup_seccomp, teardown_seccomp),
	STEP(open_kvm, close_kvm),
	STEP(create_vm, destroy_vm),
	STEP(setup_memory, teardown_memory),
	STEP(arch_setup_irqchip, arch_teardown_irqchip),
	STEP(setup_irq_routes, teardown_irq_routes),
	STEP(vm_create_consoles, vm_destroy_consoles),
	STEP(setup_devices, arch_teardown_devices),
	STEP(vm_setup_snapshot_port, nothing),
	STEP(vm_setup_boot_timer, vm_teardown_boot_timer),
	STEP(setup_pci, teardown_pci),
	STEP(setup_event_loop, teardown_event_loop),
	STEP(vm_setup_disks, vm_teardown_disks),
	STEP(vm_setup_nets, vm_teardown_nets),
	STEP(vm_setup_vsock, vm_teardown_vsock),
	STEP(vm_setup_fs, vm_teardown_fs),
	STEP(vm_setup_power_key, vm_teardown_power_key),
	STEP(vm_start_consoles, vm_stop_consoles),
	STEP(load_guest, nothing),
	STEP(create_vcpus, destroy_vcpus),
	STEP(vm_restore_state, nothing),
};
#undef STEP

int vm_init(struct vmm *vm, const struct vmm_config *cfg, const char *restore_dir)
{
	vm->log = (struct vlog){ .fn = cfg->log, .opaque = cfg->log_opaque, .level = cfg->log_level };
	vm->kvm_fd = vm->vm_fd = -1;
	vm->kernel_fd = vm->initrd_fd = -1;
	vm->snap_mem_fd = -1;
	vm->mem_bytes = cfg->mem_bytes ? cfg->mem_bytes : VMM_DEFAULT_MEM;
	vm->ncpus = cfg->cpus ? cfg->cpus : 1;
	vm->timeout_ms = cfg->timeout_ms;
	vm->console_out = cfg->console_out;
	vm->console_opaque = cfg->console_opaque;
	vm->console_cfg = cfg->console;
	vm->hvc_on = cfg->hvc != 0;
	vm->hvc_cfg = cfg->hvc_io;
	vm->hvc_out = cfg->hvc_out;
	vm->hvc_opaque = cfg->hvc_opaque;
	vm->event = cfg->event;
	vm->event_opaque = cfg->event_opaque;
	vm->debug_exit_port = cfg->debug_exit_port;
	vm->boot_timer_on = cfg->boot_timer != 0;
	vm->stats = cfg->stats != 0;
	vm->seccomp_mode = cfg->seccomp;
	vm->nloops = cfg->io_threads ? cfg->io_threads : 1;
	vm->origin_given = cfg->boot_timer_origin_ns != 0;
	if (vm->origin_given)
		vm->origin_ns = cfg->boot_timer_origin_ns;
	bus_init(&vm->pio);
	bus_init(&vm->mmio);
	pthread_mutex_init(&vm->lock, NULL);
	{
		/* Every timed wait on cond (vmm_wait, the supervisor) counts in CLOCK_MONOTONIC. */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&vm->cond, &ca);
		pthread_condattr_destroy(&ca);
	}

	vm->kernel = cfg->kernel ? strdup(cfg->kernel) : NULL;
	vm->initrd = cfg->initrd ? strdup(cfg->initrd) : NULL;
	vm->cmdline = strdup(cfg->cmdline ? cfg->cmdline : VMM_DEFAULT_CMDLINE);
	vm->restore_dir = restore_dir ? strdup(restore_dir) : NULL;
	vm->vsock_cid = cfg->vsock_cid;
	vm->vsock_uds = cfg->vsock_cid && cfg->vsock_uds ? strdup(cfg->vsock_uds) : NULL;
	if (cfg->vsock_cid && !vm->vsock_uds)
		return -ENOMEM;
	if ((cfg->kernel && !vm->kernel) || !vm->cmdline || (cfg->initrd && !vm->initrd) ||
	    (restore_dir && !vm->restore_dir))
		return -ENOMEM;
	for (unsigned i = 0; i < cfg->nnets; i++) {
		vm->net_cfg[i] = cfg->nets[i];
		vm->net_cfg[i].tap = cfg->nets[i].tap ? strdup(cfg->nets[i].tap) : NULL;
		vm->net_cfg[i].path = cfg->nets[i].path ? strdup(cfg->nets[i].path) : NULL;
		vm->nnets = i + 1;
		if ((cfg->nets[i].tap && !vm->net_cfg[i].tap) || (cfg->nets[i].path && !vm->net_cfg[i].path))
			return -ENOMEM;
	}
	for (unsigned i = 0; i < cfg->nfs; i++) {
		vm->fs_cfg[i] = cfg->fs[i];
		vm->fs_cfg[i].tag = strdup(cfg->fs[i].tag);
		vm->fs_cfg[i].socket = strdup(cfg->fs[i].socket);
		vm->nfs = i + 1;
		if (!vm->fs_cfg[i].tag || !vm->fs_cfg[i].socket)
			return -ENOMEM;
	}
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		vm->disk_cfg[i] = cfg->disks[i];
		vm->disk_cfg[i].path = strdup(cfg->disks[i].path);
		vm->disk_cfg[i].serial = cfg->disks[i].serial ? strdup(cfg->disks[i].serial) : NULL;
		vm->ndisks = i + 1;
		if (!vm->disk_cfg[i].path || (cfg->disks[i].serial && !vm->disk_cfg[i].serial))
			return -ENOMEM;
	}

	if (vm->restore_dir) {
		/* Before anything is opened: a bad snapshot is the error reported, and it gives the VM's shape. */
		int ret = vm_restore_open(vm, cfg);

		if (ret)
			return ret;
	}
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		uint64_t t0 = boot_timer_now_ns();
		int ret = steps[i].init(vm);

		/* -v: where vmm_create's time goes, step by step (issue 10: see every phase). */
		vlog_debug(&vm->log, "set-up: %s took %.3f ms", steps[i].name, (double)(boot_timer_now_ns() - t0) / 1e6);
		vm->init_done = (int)i + 1;
		if (ret)
			return ret;
	}
	vm_restore_close(vm); /* the memory file stays mapped */
	return 0;
}

void vm_teardown(struct vmm *vm)
{
	for (int i = vm->init_done - 1; i >= 0; i--)
		steps[i].fini(vm);
	vm->init_done = 0;
	vm_free_devices(vm);
	vm_restore_close(vm);
	free(vm->restore_dir);
	bus_destroy(&vm->pio);
	bus_destroy(&vm->mmio);
	free(vm->kernel);
	free(vm->initrd);
	free(vm->cmdline);
	free(vm->vsock_uds);
	for (unsigned i = 0; i < vm->nnets; i++) {
		free((char *)vm->net_cfg[i].tap);
		free((char *)vm->net_cfg[i].path);
	}
	for (unsigned i = 0; i < vm->nfs; i++) {
		free((char *)vm->fs_cfg[i].tag);
		free((char *)vm->fs_cfg[i].socket);
	}
	for (unsigned i = 0; i < vm->ndisks; i++) {
		free((char *)vm->disk_cfg[i].path);
		free((char *)vm->disk_cfg[i].serial);
	}
	pthread_cond_destroy(&vm->cond);
	pthread_mutex_destroy(&vm->lock);
}

void vm_event(struct vmm *vm, enum vmm_event ev)
{
	if (vm->event)
		vm->event(vm->event_opaque, vm, ev);
}

static enum vmm_event exit_event(enum vmm_exit_reason reason)
{
	switch (reason) {
	case VMM_EXIT_POWEROFF:
		return VMM_EVENT_POWEROFF;
	case VMM_EXIT_REBOOT:
		return VMM_EVENT_REBOOT;
	case VMM_EXIT_CRASH:
		return VMM_EVENT_CRASH;
	default:
		return VMM_EVENT_STOPPED;
	}
}

void vm_exit(struct vmm *vm, enum vmm_exit_reason reason)
{
	bool first;

	pthread_mutex_lock(&vm->lock);
	first = vm->exit_reason == VMM_EXIT_NONE;
	if (first)
		vm->exit_reason = reason;
	vm->stopping = true;
	atomic_store(&vm->stop_flag, true);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			vcpu_kick(vm->vcpus[i]);
	if (!first)
		return;
	/* What the guest wrote to its consoles is out before anyone hears that it stopped. */
	vm_flush_consoles(vm, reason == VMM_EXIT_POWEROFF || reason == VMM_EXIT_REBOOT || reason == VMM_EXIT_CRASH ||
				       reason == VMM_EXIT_DEBUG);
	/* The event is delivered before vmm_wait() learns the reason: a waiter may free what it uses. */
	vm_event(vm, exit_event(reason));
	pthread_mutex_lock(&vm->lock);
	vm->exit_published = true;
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
}

bool vm_should_stop(struct vmm *vm)
{
	return atomic_load_explicit(&vm->stop_flag, memory_order_acquire);
}

bool vm_vcpu_checkpoint(struct vmm *vm)
{
	if (!atomic_load_explicit(&vm->pause_flag, memory_order_acquire))
		return vm_should_stop(vm);
	pthread_mutex_lock(&vm->lock);
	if (vm->pause_flag && !vm->stopping) {
		vm->parked++;
		pthread_cond_broadcast(&vm->cond);
		while (atomic_load(&vm->pause_flag) && !vm->stopping)
			pthread_cond_wait(&vm->cond, &vm->lock);
		vm->parked--;
	}
	pthread_mutex_unlock(&vm->lock);
	return vm_should_stop(vm);
}

void vm_vcpu_enter(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->alive++;
	pthread_mutex_unlock(&vm->lock);
}

void vm_vcpu_leave(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	vm->alive--;
	pthread_cond_broadcast(&vm->cond); /* a pause waiting for it to park counts one fewer */
	pthread_mutex_unlock(&vm->lock);
}

/* Is the calling thread one of this VM's vCPUs (a callback called vmm_pause())? */
static bool on_vcpu_thread(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i] && vcpu_is_self(vm->vcpus[i]))
			return true;
	return false;
}

int vm_pause(struct vmm *vm)
{
	unsigned self = on_vcpu_thread(vm) ? 1 : 0; /* it parks when its callback returns */
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (!vm->started || vm->stopping || vm->paused || atomic_load(&vm->pause_flag)) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	atomic_store(&vm->pause_flag, true);
	pthread_mutex_unlock(&vm->lock);
	for (unsigned i = 0; i < vm->ncpus; i++)
		vcpu_kick(vm->vcpus[i]);
	pthread_mutex_lock(&vm->lock);
	/* vCPU threads not yet (or no longer) in their loop park at their first checkpoint. */
	while (vm->parked + self < vm->alive && !vm->stopping)
		pthread_cond_wait(&vm->cond, &vm->lock);
	if (vm->stopping) {
		atomic_store(&vm->pause_flag, false);
		ret = -EINVAL; /* it stopped meanwhile */
	} else {
		vm->paused = true;
		/* Guest time stands still while paused: remember the guest's clock, set it back on resume. */
		vm->paused_clock_valid = arch_clock_freeze(vm, &vm->paused_clock) == 0;
	}
	pthread_mutex_unlock(&vm->lock);
	if (!ret) {
		vm_flush_consoles(vm, false); /* what the guest wrote before the pause is out before PAUSED */
		vm_event(vm, VMM_EVENT_PAUSED);
	}
	return ret;
}

int vm_resume(struct vmm *vm)
{
	pthread_mutex_lock(&vm->lock);
	if (!vm->paused || vm->stopping || vm->snapshotting) {
		bool busy = vm->snapshotting;

		pthread_mutex_unlock(&vm->lock);
		return busy ? -EBUSY : -EINVAL;
	}
	if (vm->paused_clock_valid)
		arch_clock_thaw(vm, vm->paused_clock);
	vm->paused = false;
	pthread_mutex_unlock(&vm->lock);
	/* RUNNING before the vCPUs go on: no event of the guest's can overtake it. */
	vm_event(vm, VMM_EVENT_RUNNING);
	pthread_mutex_lock(&vm->lock);
	atomic_store(&vm->pause_flag, false);
	pthread_cond_broadcast(&vm->cond);
	pthread_mutex_unlock(&vm->lock);
	return 0;
}
