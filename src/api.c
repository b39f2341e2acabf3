// SPDX-License-Identifier: Apache-2.0
/* The public API (include/vmm/vmm.h): argument checks, start, wait, stop, destroy. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmm/vmm.h>

#include "arch.h"
#include "devices/boot_timer.h"
#include "thread.h"
#include "config_abi.h"
#include "devices/serial.h"
#include "event_loop.h"
#include "vcpu.h"
#include "vm.h"

#define VMM_MIN_MEM (2ull << 20)
#define VMM_MAX_MEM (1ull << 40)

/*
 * libvmm 0.1.0's symbols, which take a version 1 configuration: programs built against its header
 * call them by these names. The header maps the names to the *_v functions for everyone else.
 */
#undef vmm_config_init
#undef vmm_create
#undef vmm_restore
VMM_API void vmm_config_init(struct vmm_config_v1 *cfg);
VMM_API int vmm_create(const struct vmm_config_v1 *cfg, struct vmm **out);

VMM_API void vmm_config_init_v(struct vmm_config *cfg, unsigned version)
{
	size_t size = config_abi_size(version);

	if (!cfg)
		return;
	/* An unknown (newer) version: what we know of it; vmm_create_v() refuses it with a message. */
	memset(cfg, 0, size ? size : sizeof(struct vmm_config_v1));
	cfg->mem_bytes = VMM_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->log_level = VMM_LOG_INFO;
	cfg->console.in_fd = cfg->console.out_fd = -1;
	cfg->hvc_io.in_fd = cfg->hvc_io.out_fd = -1;
}

VMM_API void vmm_config_init(struct vmm_config_v1 *cfg)
{
	vmm_config_init_v((struct vmm_config *)cfg, 1);
}

/* A console's fds, when it has them: open, and not the other console's input. */
static int check_console(const struct vmm_console *c, const char *what, const struct vlog *log)
{
	if (!c->fds)
		return 0;
	if (c->in_fd < -1 || c->out_fd < -1 || (c->in_fd >= 0 && fcntl(c->in_fd, F_GETFD) < 0) ||
	    (c->out_fd >= 0 && fcntl(c->out_fd, F_GETFD) < 0)) {
		vlog_err(log, "the %s's file descriptors (in %d, out %d) are not open", what, c->in_fd, c->out_fd);
		return -EBADF;
	}
	if (c->escape < 0 || c->escape > 255) {
		vlog_err(log, "the %s's escape byte %d is not a byte", what, c->escape);
		return -EINVAL;
	}
	return 0;
}

/* The virtio-fs devices (issue 14): a tag the guest mounts, a vhost-user backend's socket. */
static int check_fs(const struct vmm_config *cfg, const struct vlog *log, bool restore)
{
	if (cfg->nfs > VMM_MAX_FS) {
		vlog_err(log, "%u shared folders asked; vmm supports up to %d", cfg->nfs, VMM_MAX_FS);
		return -EINVAL;
	}
	if (cfg->nfs && !cfg->fs) {
		vlog_err(log, "nfs is %u but fs is NULL", cfg->nfs);
		return -EINVAL;
	}
	if (cfg->nfs && restore) {
		vlog_err(log, "a VM with a shared folder (virtio-fs) cannot be restored: its backend's state is not saved");
		return -ENOTSUP;
	}
	for (unsigned i = 0; i < cfg->nfs; i++) {
		const struct vmm_fs *f = &cfg->fs[i];

		if (!f->tag || !*f->tag || strlen(f->tag) > 36) {
			vlog_err(log, "shared folder %u needs a tag of 1 to 36 bytes", i);
			return -EINVAL;
		}
		/* 108: Linux's sizeof(struct sockaddr_un.sun_path), the terminating NUL included */
		if (!f->socket || !*f->socket || strlen(f->socket) >= 108) {
			vlog_err(log, "shared folder '%s' needs a socket path of 1 to 107 characters", f->tag);
			return -EINVAL;
		}
		if (f->queues > 8) {
			vlog_err(log, "shared folder '%s': 1 to 8 request queues", f->tag);
			return -EINVAL;
		}
		for (unsigned j = 0; j < i; j++) {
			if (!strcmp(cfg->fs[j].tag, f->tag)) {
				vlog_err(log, "two shared folders have the tag '%s'", f->tag);
				return -EINVAL;
			}
		}
	}
	return 0;
}

static int check_config(const struct vmm_config *cfg, const struct vlog *log, bool restore)
{
	int ret;

	if (!restore && (!cfg->kernel || !*cfg->kernel)) {
		vlog_err(log, "no kernel given");
		return -EINVAL;
	}
	ret = check_console(&cfg->console, "serial console", log);
	if (!ret && cfg->hvc)
		ret = check_console(&cfg->hvc_io, "virtio console", log);
	if (ret)
		return ret;
	if (cfg->hvc && cfg->console.fds && cfg->hvc_io.fds && cfg->console.in_fd >= 0 &&
	    cfg->console.in_fd == cfg->hvc_io.in_fd) {
		vlog_err(log, "the serial and the virtio console cannot both read fd %d", cfg->console.in_fd);
		return -EINVAL;
	}
	if (cfg->cpus > VMM_MAX_CPUS) {
		vlog_err(log, "%u vCPUs asked; vmm supports 1 to %d", cfg->cpus, VMM_MAX_CPUS);
		return -EINVAL;
	}
	if (cfg->mem_bytes && (cfg->mem_bytes < VMM_MIN_MEM || cfg->mem_bytes > VMM_MAX_MEM)) {
		vlog_err(log, "guest memory must be between 2 MiB and 1 TiB");
		return -EINVAL;
	}
	if (cfg->ndisks > VMM_MAX_DISKS) {
		vlog_err(log, "%u disks asked; vmm supports up to %d", cfg->ndisks, VMM_MAX_DISKS);
		return -EINVAL;
	}
	if (cfg->ndisks && !cfg->disks) {
		vlog_err(log, "ndisks is %u but disks is NULL", cfg->ndisks);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->ndisks; i++) {
		if (!cfg->disks[i].path || !*cfg->disks[i].path) {
			vlog_err(log, "disk %u has no path", i);
			return -EINVAL;
		}
		if (cfg->disks[i].serial && strlen(cfg->disks[i].serial) > 20) {
			vlog_err(log, "the serial of disk '%s' is longer than 20 bytes", cfg->disks[i].path);
			return -EINVAL;
		}
	}
	if (cfg->nnets > VMM_MAX_NICS) {
		vlog_err(log, "%u NICs asked; vmm supports up to %d", cfg->nnets, VMM_MAX_NICS);
		return -EINVAL;
	}
	if (cfg->nnets && !cfg->nets) {
		vlog_err(log, "nnets is %u but nets is NULL", cfg->nnets);
		return -EINVAL;
	}
	if (cfg->vsock_cid && (cfg->vsock_cid < 3 || cfg->vsock_cid >= 0xffffffffu)) {
		vlog_err(log, "vsock guest CID %u: it must be 3 to 4294967294", cfg->vsock_cid);
		return -EINVAL;
	}
	/* 108: Linux's sizeof(struct sockaddr_un.sun_path), the terminating NUL included */
	if (cfg->vsock_cid && (!cfg->vsock_uds || !*cfg->vsock_uds || strlen(cfg->vsock_uds) >= 108)) {
		vlog_err(log, "vsock needs a unix socket path of 1 to 107 characters");
		return -EINVAL;
	}
	if (cfg->debug_exit_port > 0xfffc) {
		vlog_err(log, "debug-exit port 0x%x: its 4 ports must lie below 0x10000", cfg->debug_exit_port);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		const struct vmm_net *n = &cfg->nets[i];

		if (n->vhost && n->backend != VMM_NET_TAP) {
			vlog_err(log, "NIC %u: vhost-net is for a tap NIC only", i);
			return -EINVAL;
		}
		if (n->backend == VMM_NET_USER) {
			if (n->queue_pairs > 1) {
				vlog_err(log, "NIC %u: user-mode networking has one queue pair", i);
				return -EINVAL;
			}
			if (n->nhostfwd > VMM_MAX_HOSTFWD || (n->nhostfwd && !n->hostfwd)) {
				vlog_err(log, "NIC %u: %u host forwards (at most %d, and hostfwd not NULL)", i, n->nhostfwd,
					 VMM_MAX_HOSTFWD);
				return -EINVAL;
			}
			continue;
		}
		if (n->backend == VMM_NET_STREAM) {
			/* 108: Linux's sizeof(struct sockaddr_un.sun_path), the terminating NUL included */
			if (!n->path || !*n->path || strlen(n->path) >= 108) {
				vlog_err(log, "NIC %u needs a socket path of 1 to 107 characters", i);
				return -EINVAL;
			}
			if (n->queue_pairs > 1) {
				vlog_err(log, "NIC %u: a stream socket has one queue pair", i);
				return -EINVAL;
			}
			continue;
		}
		if (n->backend != VMM_NET_TAP) {
			vlog_err(log, "NIC %u: unknown backend %d", i, n->backend);
			return -EINVAL;
		}
		if (!n->tap || !*n->tap || strlen(n->tap) >= 16) {
			vlog_err(log, "NIC %u needs a tap name of 1 to 15 characters", i);
			return -EINVAL;
		}
		if (n->queue_pairs > 8) {
			vlog_err(log, "NIC '%s': at most 8 queue pairs", n->tap);
			return -EINVAL;
		}
	}
	if (cfg->mem_bytes & 0xfff) {
		vlog_err(log, "guest memory must be a multiple of 4 KiB");
		return -EINVAL;
	}
	if (cfg->seccomp < VMM_SECCOMP_OFF || cfg->seccomp > VMM_SECCOMP_LOG) {
		vlog_err(log, "seccomp mode %d is not one of VMM_SECCOMP_OFF, _KILL, _TRAP or _LOG", cfg->seccomp);
		return -EINVAL;
	}
	if (cfg->io_threads > VMM_MAX_IO_THREADS) {
		vlog_err(log, "%u I/O threads: at most %d", cfg->io_threads, VMM_MAX_IO_THREADS);
		return -EINVAL;
	}
	return check_fs(cfg, log, restore);
}

/*
 * The live handles. A handle is valid from vmm_create() until vmm_destroy() begins; every call
 * looks it up and holds a reference while it runs, so a call racing with vmm_destroy() on another
 * thread gets -EINVAL or finishes before the VM is freed; a destroyed handle is never dereferenced.
 * Process-wide by nature: it is what tells a live handle from a stale pointer.
 */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t registry_cond = PTHREAD_COND_INITIALIZER;
static struct vmm *live;

static struct vmm *get(struct vmm *h)
{
	struct vmm *vm;

	if (!h)
		return NULL;
	pthread_mutex_lock(&registry_lock);
	for (vm = live; vm && vm != h; vm = vm->next_live)
		;
	if (vm && vm->dying)
		vm = NULL;
	if (vm)
		vm->refs++;
	pthread_mutex_unlock(&registry_lock);
	return vm;
}

static void put(struct vmm *vm)
{
	pthread_mutex_lock(&registry_lock);
	vm->refs--;
	pthread_cond_broadcast(&registry_cond);
	pthread_mutex_unlock(&registry_lock);
}

/* cfg in the current layout (and only valid during the call). */
static int create_current(const struct vmm_config *cfg, const char *restore_dir, uint64_t entry_ns, struct vmm **out)
{
	struct vlog log;
	struct vmm *vm;
	int ret;

	log = (struct vlog){ .fn = cfg->log, .opaque = cfg->log_opaque, .level = cfg->log_level };
	ret = check_config(cfg, &log, restore_dir != NULL);
	if (ret)
		return ret;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	ret = vm_init(vm, cfg, restore_dir);
	if (ret) {
		vm_teardown(vm);
		free(vm);
		return ret;
	}
	pthread_mutex_lock(&registry_lock);
	vm->next_live = live;
	live = vm;
	pthread_mutex_unlock(&registry_lock);
	vm_created(vm, entry_ns);
	*out = vm;
	return 0;
}

static int create(const void *given, unsigned version, const char *restore_dir, struct vmm **out)
{
	uint64_t entry_ns = boot_timer_now_ns(); /* the boot timer's earliest time when no origin is given */
	struct config_copy *copy;
	int ret;

	if (!given || !out)
		return -EINVAL;
	*out = NULL;
	copy = malloc(sizeof(*copy));
	if (!copy)
		return -ENOMEM;
	ret = config_abi_upgrade(given, version, copy);
	if (ret) {
		free(copy);
		return ret;
	}
	ret = create_current(&copy->cfg, restore_dir, entry_ns, out);
	free(copy); /* vm_init() copied what it keeps */
	return ret;
}

VMM_API int vmm_create_v(const struct vmm_config *cfg, unsigned version, struct vmm **out)
{
	return create(cfg, version, NULL, out);
}

VMM_API int vmm_create(const struct vmm_config_v1 *cfg, struct vmm **out)
{
	return create(cfg, 1, NULL, out);
}

VMM_API int vmm_restore_v(const struct vmm_config *cfg, unsigned version, const char *dir, struct vmm **out)
{
	if (!dir || !*dir) {
		if (out)
			*out = NULL;
		return -EINVAL;
	}
	return create(cfg, version, dir, out);
}

VMM_API int vmm_snapshot(struct vmm *h, const char *dir)
{
	struct vmm *vm;
	int ret;

	if (!dir || !*dir)
		return -EINVAL;
	vm = get(h);
	if (!vm)
		return -EINVAL;
	ret = vm_snapshot(vm, dir);
	put(vm);
	return ret;
}

static void deadline_after(struct timespec *ts, unsigned ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

static bool before(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* The supervisor: stops the VM when --timeout or a stop request's grace period runs out. */
static void *supervise(void *arg)
{
	struct vmm *vm = arg;

	if (seccomp_thread_enter(&vm->seccomp, SECCOMP_SUPERVISOR, "supervisor", &vm->log))
		vm_exit(vm, VMM_EXIT_ERROR);
	pthread_mutex_lock(&vm->lock);
	while (!vm->stopping) {
		struct timespec now, until;
		bool have = false;
		enum vmm_exit_reason why = VMM_EXIT_TIMEOUT;

		if (vm->timeout_ms) {
			until = vm->deadline;
			have = true;
		}
		if (vm->stop_requested && (!have || before(&vm->stop_deadline, &until))) {
			until = vm->stop_deadline;
			why = VMM_EXIT_STOPPED;
			have = true;
		}
		if (!have) {
			pthread_cond_wait(&vm->cond, &vm->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (before(&now, &until)) {
			pthread_cond_timedwait(&vm->cond, &vm->lock, &until);
			continue;
		}
		pthread_mutex_unlock(&vm->lock);
		if (why == VMM_EXIT_STOPPED)
			vlog_info(&vm->log, "the guest did not shut down within the grace period: stopping it");
		vm_exit(vm, why);
		pthread_mutex_lock(&vm->lock);
	}
	pthread_mutex_unlock(&vm->lock);
	return NULL;
}

static int start(struct vmm *vm)
{
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	vm->started = true;
	if (vm->timeout_ms)
		deadline_after(&vm->deadline, vm->timeout_ms);
	pthread_mutex_unlock(&vm->lock);

	for (unsigned i = 0; i < vm->nloops && !ret; i++)
		ret = event_loop_start(vm->loops[i]);
	if (ret) {
		vlog_err(&vm->log, "cannot start the I/O thread: %s", strerror(-ret));
		vm_exit(vm, VMM_EXIT_ERROR);
		return ret;
	}
	ret = -thread_create(&vm->supervisor, supervise, vm);
	if (ret) {
		vlog_err(&vm->log, "cannot start the supervisor thread: %s", strerror(-ret));
		vm_exit(vm, VMM_EXIT_ERROR);
		return ret;
	}
	vm->supervisor_started = true;
	/* RUNNING before the first vCPU runs: no event of the guest's can overtake it. */
	vm_event(vm, VMM_EVENT_RUNNING);
	for (unsigned i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start(vm->vcpus[i]);
		if (ret) {
			vm_exit(vm, VMM_EXIT_ERROR);
			return ret;
		}
	}
	return 0;
}

VMM_API int vmm_start(struct vmm *h)
{
	struct vmm *vm = get(h);
	int ret;

	if (!vm)
		return -EINVAL;
	ret = start(vm);
	put(vm);
	return ret;
}

static int wait_stop(struct vmm *vm, int timeout_ms, enum vmm_exit_reason *reason)
{
	struct timespec until;
	int ret = 0;

	pthread_mutex_lock(&vm->lock);
	if (!vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	if (timeout_ms >= 0)
		deadline_after(&until, (unsigned)timeout_ms);
	while (!vm->exit_published) {
		if (timeout_ms < 0) {
			pthread_cond_wait(&vm->cond, &vm->lock);
		} else if (pthread_cond_timedwait(&vm->cond, &vm->lock, &until) == ETIMEDOUT) {
			break;
		}
	}
	if (!vm->exit_published)
		ret = -ETIMEDOUT;
	else if (reason)
		*reason = vm->exit_reason;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

VMM_API int vmm_wait(struct vmm *h, int timeout_ms, enum vmm_exit_reason *reason)
{
	struct vmm *vm = get(h);
	int ret;

	if (!vm)
		return -EINVAL;
	ret = wait_stop(vm, timeout_ms, reason);
	put(vm);
	return ret;
}

VMM_API int vmm_pause(struct vmm *h)
{
	struct vmm *vm = get(h);
	int ret;

	if (!vm)
		return -EINVAL;
	ret = vm_pause(vm);
	put(vm);
	return ret;
}

VMM_API int vmm_resume(struct vmm *h)
{
	struct vmm *vm = get(h);
	int ret;

	if (!vm)
		return -EINVAL;
	ret = vm_resume(vm);
	put(vm);
	return ret;
}

static int request_stop(struct vmm *vm, unsigned grace_ms)
{
	struct timespec until;
	bool hard;

	pthread_mutex_lock(&vm->lock);
	if (!vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	if (vm->stopping) {
		pthread_mutex_unlock(&vm->lock);
		return 0;
	}
	hard = grace_ms == 0 || vm->paused || !arch_has_power_button(vm);
	if (!hard) {
		deadline_after(&until, grace_ms);
		if (!vm->stop_requested || before(&until, &vm->stop_deadline))
			vm->stop_deadline = until;
		vm->stop_requested = true;
		pthread_cond_broadcast(&vm->cond); /* the supervisor picks up the new deadline */
	}
	pthread_mutex_unlock(&vm->lock);
	if (hard)
		vm_exit(vm, VMM_EXIT_STOPPED);
	else
		arch_power_button(vm);
	return 0;
}

VMM_API int vmm_request_stop(struct vmm *h, unsigned grace_ms)
{
	struct vmm *vm = get(h);
	int ret;

	if (!vm)
		return -EINVAL;
	ret = request_stop(vm, grace_ms);
	put(vm);
	return ret;
}

static int uart_input(struct vmm *vm, const void *buf, size_t len)
{
	return (int)serial_receive(vm->serial, buf, len);
}

/* Host bytes for one of the guest's consoles: at most 64 KiB a call; how many were taken, or -EINVAL. */
static int console_input(struct vmm *h, const void *buf, size_t len, int (*feed)(struct vmm *, const void *, size_t))
{
	struct vmm *vm;
	int ret;

	if (!buf && len)
		return -EINVAL;
	vm = get(h);
	if (!vm)
		return -EINVAL;
	ret = feed(vm, buf, len > 65536 ? 65536 : len);
	put(vm);
	return ret;
}

VMM_API int vmm_console_input(struct vmm *h, const void *buf, size_t len)
{
	return console_input(h, buf, len, uart_input);
}

VMM_API int vmm_hvc_input(struct vmm *h, const void *buf, size_t len)
{
	return console_input(h, buf, len, vm_hvc_input);
}

VMM_API int vmm_guest_exit_value(struct vmm *h, uint32_t *value)
{
	struct vmm *vm = get(h);
	int ret = 0;

	if (!vm || !value) {
		if (vm)
			put(vm);
		return -EINVAL;
	}
	pthread_mutex_lock(&vm->lock);
	if (vm->exit_reason == VMM_EXIT_DEBUG)
		*value = vm->debug_exit_value;
	else
		ret = -EINVAL;
	pthread_mutex_unlock(&vm->lock);
	put(vm);
	return ret;
}

VMM_API int vmm_destroy(struct vmm *h)
{
	struct vmm *vm, **pp;

	if (!h)
		return -EINVAL;
	pthread_mutex_lock(&registry_lock);
	for (vm = live; vm && vm != h; vm = vm->next_live)
		;
	if (!vm || vm->dying) {
		pthread_mutex_unlock(&registry_lock);
		return -EINVAL;
	}
	vm->dying = true; /* no new calls get it */
	pthread_mutex_unlock(&registry_lock);

	vm_exit(vm, VMM_EXIT_STOPPED); /* wakes calls that wait on it */
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			vcpu_join(vm->vcpus[i]);
	if (vm->supervisor_started)
		pthread_join(vm->supervisor, NULL);
	vm_report_stats(vm); /* every vCPU thread has stopped: their counters hold still */

	pthread_mutex_lock(&registry_lock);
	while (vm->refs)
		pthread_cond_wait(&registry_cond, &registry_lock);
	for (pp = &live; *pp != vm; pp = &(*pp)->next_live)
		;
	*pp = vm->next_live;
	pthread_mutex_unlock(&registry_lock);

	vm_teardown(vm);
	free(vm);
	return 0;
}

VMM_API const char *vmm_exit_reason_str(enum vmm_exit_reason reason)
{
	switch (reason) {
	case VMM_EXIT_NONE:
		return "running";
	case VMM_EXIT_POWEROFF:
		return "guest powered off";
	case VMM_EXIT_REBOOT:
		return "guest rebooted";
	case VMM_EXIT_CRASH:
		return "guest crashed";
	case VMM_EXIT_TIMEOUT:
		return "timeout reached";
	case VMM_EXIT_STOPPED:
		return "stopped";
	case VMM_EXIT_ERROR:
		return "VMM error";
	case VMM_EXIT_DEBUG:
		return "guest wrote the debug-exit port";
	}
	return "unknown";
}

VMM_API const char *vmm_event_str(enum vmm_event ev)
{
	switch (ev) {
	case VMM_EVENT_RUNNING:
		return "running";
	case VMM_EVENT_PAUSED:
		return "paused";
	case VMM_EVENT_POWEROFF:
		return "guest powered off";
	case VMM_EVENT_REBOOT:
		return "guest rebooted";
	case VMM_EVENT_CRASH:
		return "guest crashed";
	case VMM_EVENT_STOPPED:
		return "stopped";
	case VMM_EVENT_DEVICE_ERROR:
		return "device error";
	case VMM_EVENT_SNAPSHOT_REQUEST:
		return "guest asked for a snapshot";
	}
	return "unknown";
}

VMM_API const char *vmm_version(void)
{
	return VMM_VERSION_STRING;
}
