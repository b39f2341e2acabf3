// SPDX-License-Identifier: Apache-2.0
/* The public API (include/vmm/vmm.h): argument checks, start, wait, stop, destroy. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmm/vmm.h>

#include "devices/serial.h"
#include "event_loop.h"
#include "vcpu.h"
#include "vm.h"

#define VMM_MIN_MEM (2ull << 20)
#define VMM_MAX_MEM (1ull << 40)

VMM_API void vmm_config_init(struct vmm_config *cfg)
{
	if (!cfg)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_bytes = VMM_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->log_level = VMM_LOG_INFO;
}

static int check_config(const struct vmm_config *cfg, const struct vlog *log)
{
	if (!cfg->kernel || !*cfg->kernel) {
		vlog_err(log, "no kernel given");
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
	if (cfg->ndisks > VMM_MAX_DISKS || (cfg->ndisks && !cfg->disks)) {
		vlog_err(log, "%u disks asked; vmm supports up to %d", cfg->ndisks, VMM_MAX_DISKS);
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
	if (cfg->nnets > VMM_MAX_NICS || (cfg->nnets && !cfg->nets)) {
		vlog_err(log, "%u NICs asked; vmm supports up to %d", cfg->nnets, VMM_MAX_NICS);
		return -EINVAL;
	}
	for (unsigned i = 0; i < cfg->nnets; i++) {
		if (!cfg->nets[i].tap || !*cfg->nets[i].tap || strlen(cfg->nets[i].tap) >= 16) {
			vlog_err(log, "NIC %u needs a tap name of 1 to 15 characters", i);
			return -EINVAL;
		}
		if (cfg->nets[i].queue_pairs > 8) {
			vlog_err(log, "NIC '%s': at most 8 queue pairs", cfg->nets[i].tap);
			return -EINVAL;
		}
	}
	if (cfg->mem_bytes & 0xfff) {
		vlog_err(log, "guest memory must be a multiple of 4 KiB");
		return -EINVAL;
	}
	return 0;
}

VMM_API int vmm_create(const struct vmm_config *cfg, struct vmm **out)
{
	struct vlog log;
	struct vmm *vm;
	int ret;

	if (!cfg || !out)
		return -EINVAL;
	*out = NULL;
	log = (struct vlog){ .fn = cfg->log, .opaque = cfg->log_opaque, .level = cfg->log_level };
	ret = check_config(cfg, &log);
	if (ret)
		return ret;
	vm = calloc(1, sizeof(*vm));
	if (!vm)
		return -ENOMEM;
	ret = vm_init(vm, cfg);
	if (ret) {
		vm_teardown(vm);
		free(vm);
		return ret;
	}
	*out = vm;
	return 0;
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

VMM_API int vmm_start(struct vmm *vm)
{
	int ret;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	vm->started = true;
	if (vm->timeout_ms)
		deadline_after(&vm->deadline, vm->timeout_ms);
	pthread_mutex_unlock(&vm->lock);

	ret = event_loop_start(vm->loop);
	if (ret) {
		vlog_err(&vm->log, "cannot start the I/O thread: %s", strerror(-ret));
		vm_exit(vm, VMM_EXIT_ERROR);
		return ret;
	}
	for (unsigned i = 0; i < vm->ncpus; i++) {
		ret = vcpu_start(vm->vcpus[i]);
		if (ret) {
			vm_exit(vm, VMM_EXIT_ERROR);
			return ret;
		}
	}
	return 0;
}

VMM_API int vmm_wait(struct vmm *vm, int timeout_ms, enum vmm_exit_reason *reason)
{
	struct timespec until, now;
	bool have_until = false;
	int ret = 0;

	if (!vm)
		return -EINVAL;
	pthread_mutex_lock(&vm->lock);
	if (!vm->started) {
		pthread_mutex_unlock(&vm->lock);
		return -EINVAL;
	}
	if (timeout_ms >= 0) {
		deadline_after(&until, (unsigned)timeout_ms);
		have_until = true;
	}
	if (vm->timeout_ms && (!have_until || before(&vm->deadline, &until))) {
		until = vm->deadline;
		have_until = true;
	}
	while (vm->exit_reason == VMM_EXIT_NONE) {
		if (!have_until) {
			pthread_cond_wait(&vm->cond, &vm->lock);
			continue;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (!before(&now, &until))
			break;
		pthread_cond_timedwait(&vm->cond, &vm->lock, &until);
	}
	if (vm->exit_reason == VMM_EXIT_NONE) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (vm->timeout_ms && !before(&now, &vm->deadline)) {
			pthread_mutex_unlock(&vm->lock);
			vm_exit(vm, VMM_EXIT_TIMEOUT);
			pthread_mutex_lock(&vm->lock);
		} else {
			ret = -ETIMEDOUT;
		}
	}
	if (!ret && reason)
		*reason = vm->exit_reason;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

VMM_API int vmm_request_stop(struct vmm *vm)
{
	if (!vm)
		return -EINVAL;
	vm_exit(vm, VMM_EXIT_STOPPED);
	return 0;
}

VMM_API int vmm_console_input(struct vmm *vm, const void *buf, size_t len)
{
	if (!vm || (!buf && len))
		return -EINVAL;
	return (int)serial_receive(vm->serial, buf, len > 65536 ? 65536 : len);
}

VMM_API void vmm_destroy(struct vmm *vm)
{
	if (!vm)
		return;
	vm_exit(vm, VMM_EXIT_STOPPED);
	for (unsigned i = 0; i < vm->ncpus; i++)
		if (vm->vcpus[i])
			vcpu_join(vm->vcpus[i]);
	vm_teardown(vm);
	free(vm);
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
	}
	return "unknown";
}

VMM_API const char *vmm_version(void)
{
	return VMM_VERSION_STRING;
}
