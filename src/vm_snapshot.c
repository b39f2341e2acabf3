// SPDX-License-Identifier: Apache-2.0
/*
 * Snapshot and restore of a whole VM: the list of its devices, the state file (the VM's shape, the
 * KVM state of the VM and of each vCPU, each device's state) and the memory file.
 *
 * A snapshot directory holds two files:
 *   state   snapshot/format.h: header, checksum, sections "vm" (the shape), "kvm", "vcpuN", one per device
 *   memory  snapshot/ram.h: guest RAM, sparse
 * Saving writes state.tmp and memory.tmp, removes the old state, renames memory then state: a
 * directory has a complete snapshot, or none (no state file), never a state with another's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "arch.h"
#include "device.h"
#include "disk.h"
#include "devices/boot_timer.h"
#include "event_loop.h"
#include "snapshot/format.h"
#include "snapshot/ram.h"
#include "vcpu.h"
#include "vm.h"

#define SHAPE_VERSION 1
#define QUIET_WAIT_MS 10000 /* how long a snapshot waits for the devices' in-flight requests */

int vm_add_device(struct vmm *vm, const char *name, const struct vm_device_ops *ops, void *dev)
{
	return vm_add_device_on(vm, name, ops, dev, NULL);
}

int vm_add_device_on(struct vmm *vm, const char *name, const struct vm_device_ops *ops, void *dev,
		     struct event_loop *loop)
{
	struct vm_device *d = calloc(1, sizeof(*d)), **p;

	if (!d)
		return -ENOMEM;
	d->ops = ops;
	d->dev = dev;
	d->loop = loop;
	snprintf(d->name, sizeof(d->name), "%s", name);
	for (p = &vm->devices; *p; p = &(*p)->next)
		;
	*p = d;
	return 0;
}

void vm_free_devices(struct vmm *vm)
{
	while (vm->devices) {
		struct vm_device *d = vm->devices;

		vm->devices = d->next;
		free(d);
	}
}

/* ---- The VM's shape: what a restore must match. ---- */

static void save_shape(struct vmm *vm, struct sbuf *b)
{
	sbuf_u32(b, vm->ncpus);
	sbuf_u64(b, vm->mem_bytes);
	sbuf_u32(b, vm->ndisks);
	for (unsigned i = 0; i < vm->ndisks; i++) {
		const char *serial = vm->disk_cfg[i].serial ? vm->disk_cfg[i].serial : "";

		sbuf_u64(b, vm->disk[i]->size);
		sbuf_bool(b, vm->disk_cfg[i].readonly != 0);
		sbuf_u8(b, (uint8_t)strlen(serial));
		sbuf_put(b, serial, strlen(serial));
	}
	sbuf_u32(b, vm->nnets);
	for (unsigned i = 0; i < vm->nnets; i++) {
		sbuf_u32(b, vm->net_cfg[i].queue_pairs ? vm->net_cfg[i].queue_pairs : 1);
		sbuf_put(b, vm->net_cfg[i].mac, 6);
	}
	sbuf_bool(b, vm->hvc_on);
	sbuf_u16(b, vm->debug_exit_port);
}

static const char *plural(unsigned n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/*
 * Check the restored VM's configuration against the snapshot's shape and take from it what the
 * guest saw: RAM size, vCPUs, each disk's serial and each NIC's MAC. Before any set-up step.
 */
static int load_shape(struct vmm *vm, const struct snap_section *s, const struct vmm_config *cfg)
{
	struct sreader r;
	uint32_t ncpus, ndisks, nnets;
	uint64_t mem;

	sreader_init(&r, s->data, s->len);
	ncpus = sr_u32(&r);
	mem = sr_u64(&r);
	if (!sr_ok(&r) || ncpus == 0 || ncpus > VMM_MAX_CPUS || mem < (2ull << 20) || mem > (1ull << 40) ||
	    (mem & 0xfff))
		goto bad;
	if ((cfg->cpus && cfg->cpus != ncpus) || (cfg->mem_bytes && cfg->mem_bytes != mem)) {
		vlog_err(&vm->log, "snapshot '%s' is of a VM with %u %s and %llu MiB of memory; the restore asks for %u and %llu MiB",
			 vm->restore_dir, ncpus, plural(ncpus, "vCPU", "vCPUs"), (unsigned long long)(mem >> 20),
			 cfg->cpus ? cfg->cpus : ncpus, (unsigned long long)((cfg->mem_bytes ? cfg->mem_bytes : mem) >> 20));
		return -EINVAL;
	}
	vm->ncpus = ncpus;
	vm->mem_bytes = mem;
	ndisks = sr_u32(&r);
	if (!sr_ok(&r) || ndisks > VMM_MAX_DISKS)
		goto bad;
	if (ndisks != vm->ndisks) {
		vlog_err(&vm->log, "snapshot '%s' was taken with %u %s; the restore has %u: give the same disks again",
			 vm->restore_dir, ndisks, plural(ndisks, "disk", "disks"), vm->ndisks);
		return -EINVAL;
	}
	for (unsigned i = 0; i < ndisks; i++) {
		char serial[21];
		uint8_t n;

		vm->snap_disk_size[i] = sr_u64(&r);
		if (sr_bool(&r) != (vm->disk_cfg[i].readonly != 0) && sr_ok(&r)) {
			vlog_err(&vm->log, "snapshot '%s': disk %u was %s when it was taken", vm->restore_dir, i,
				 vm->disk_cfg[i].readonly ? "writable" : "read-only");
			return -EINVAL;
		}
		n = sr_u8(&r);
		if (n > 20 || !sr_get(&r, serial, n))
			goto bad;
		serial[n] = 0;
		free((char *)vm->disk_cfg[i].serial);
		vm->disk_cfg[i].serial = n ? strdup(serial) : NULL;
		if (n && !vm->disk_cfg[i].serial)
			return -ENOMEM;
	}
	nnets = sr_u32(&r);
	if (!sr_ok(&r) || nnets > VMM_MAX_NICS)
		goto bad;
	if (nnets != vm->nnets) {
		vlog_err(&vm->log, "snapshot '%s' was taken with %u %s; the restore has %u: give the same NICs again",
			 vm->restore_dir, nnets, plural(nnets, "NIC", "NICs"), vm->nnets);
		return -EINVAL;
	}
	for (unsigned i = 0; i < nnets; i++) {
		uint32_t qp = sr_u32(&r);
		unsigned want = vm->net_cfg[i].queue_pairs ? vm->net_cfg[i].queue_pairs : 1;
		uint8_t mac[6];

		sr_get(&r, mac, 6);
		if (sr_ok(&r) && vm->net_cfg[i].has_mac && memcmp(mac, vm->net_cfg[i].mac, 6)) {
			vlog_err(&vm->log, "snapshot '%s': NIC %u had MAC %02x:%02x:%02x:%02x:%02x:%02x; the restore asks for another (leave mac= out)",
				 vm->restore_dir, i, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
			return -EINVAL;
		}
		vm->net_cfg[i].has_mac = 1; /* the guest knows its NIC by the MAC it saw */
		memcpy(vm->net_cfg[i].mac, mac, 6);
		if (sr_ok(&r) && qp != want) {
			vlog_err(&vm->log, "snapshot '%s': NIC %u had %u queue pairs; the restore asks for %u",
				 vm->restore_dir, i, qp, want);
			return -EINVAL;
		}
	}
	if (sr_bool(&r) != vm->hvc_on && sr_ok(&r)) {
		vlog_err(&vm->log, "snapshot '%s' was taken %s a virtio console (--hvc); the restore must match",
			 vm->restore_dir, vm->hvc_on ? "without" : "with");
		return -EINVAL;
	}
	{
		uint16_t port = sr_u16(&r);

		if (sr_done(&r) && port != vm->debug_exit_port) {
			vlog_err(&vm->log, "snapshot '%s' was taken with debug-exit port 0x%x; the restore has 0x%x",
				 vm->restore_dir, port, vm->debug_exit_port);
			return -EINVAL;
		}
	}
	if (sr_done(&r))
		return 0;
bad:
	vlog_err(&vm->log, "snapshot '%s' is corrupt: its VM description is malformed", vm->restore_dir);
	return -EINVAL;
}

/* ---- Files. ---- */

static int read_file(int dirfd, const char *name, uint8_t **out, size_t *len, size_t max)
{
	struct stat st;
	uint8_t *buf;
	size_t got = 0;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC), e;

	if (fd < 0)
		return -errno;
	e = fstat(fd, &st) < 0 ? -errno : !S_ISREG(st.st_mode) ? -EINVAL : (uint64_t)st.st_size > max ? -EFBIG : 0;
	if (e) {
		close(fd);
		return e;
	}
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	*len = got;
	return 0;
}

static int write_file(int dirfd, const char *name, const void *p, size_t len)
{
	const uint8_t *b = p;
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600), ret = 0;

	if (fd < 0)
		return -errno;
	while (len && !ret) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ret = n < 0 ? -errno : -EIO;
		else {
			b += n;
			len -= (size_t)n;
		}
	}
	if (!ret && fsync(fd) < 0)
		ret = -errno;
	close(fd);
	return ret;
}

/* ---- Restore: the first step reads the state, the last one hands it out. ---- */

int vm_restore_open(struct vmm *vm, const struct vmm_config *cfg)
{
	struct snap_section *shape;
	struct stat st;
	char err[160];
	int dirfd, ret;

	dirfd = open(vm->restore_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot open snapshot '%s': %s", vm->restore_dir, strerror(errno));
		return ret;
	}
	ret = read_file(dirfd, "state", &vm->snap_buf, &vm->snap_len, SNAP_MAX_STATE);
	if (ret) {
		vlog_err(&vm->log, "cannot read snapshot '%s': its state file: %s", vm->restore_dir,
			 ret == -ENOENT ? "there is none (not a snapshot, or an unfinished one)"
			 : ret == -EFBIG ? "it is too large" : strerror(-ret));
		close(dirfd);
		return ret;
	}
	vm->snap = calloc(1, sizeof(*vm->snap));
	if (!vm->snap) {
		close(dirfd);
		return -ENOMEM;
	}
	ret = snap_parse(vm->snap_buf, vm->snap_len, vm->snap, err, sizeof(err));
	if (ret) {
		vlog_err(&vm->log, "snapshot '%s' cannot be restored: %s", vm->restore_dir, err);
		close(dirfd);
		return ret;
	}
	shape = snap_find(vm->snap, "vm");
	if (!shape || strcmp(shape->kind, "vm") || shape->version != SHAPE_VERSION) {
		vlog_err(&vm->log, "snapshot '%s' cannot be restored: it has no VM description this vmm reads",
			 vm->restore_dir);
		close(dirfd);
		return -EINVAL;
	}
	shape->used = true;
	ret = load_shape(vm, shape, cfg);
	if (ret) {
		close(dirfd);
		return ret;
	}
	vm->snap_mem_fd = openat(dirfd, "memory", O_RDONLY | O_CLOEXEC);
	ret = vm->snap_mem_fd < 0 ? -errno : 0;
	close(dirfd);
	if (ret) {
		vlog_err(&vm->log, "cannot open snapshot '%s': its memory file: %s", vm->restore_dir, strerror(-ret));
		return ret;
	}
	if (fstat(vm->snap_mem_fd, &st) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot read snapshot '%s': its memory file: %s", vm->restore_dir, strerror(errno));
		return ret;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != vm->mem_bytes) {
		vlog_err(&vm->log, "snapshot '%s' cannot be restored: its memory file has %llu bytes; the VM had %llu",
			 vm->restore_dir, (unsigned long long)st.st_size, (unsigned long long)vm->mem_bytes);
		return -EINVAL;
	}
	return 0;
}

void vm_restore_close(struct vmm *vm)
{
	if (vm->snap_mem_fd >= 0)
		close(vm->snap_mem_fd);
	vm->snap_mem_fd = -1;
	free(vm->snap);
	vm->snap = NULL;
	free(vm->snap_buf);
	vm->snap_buf = NULL;
}

/* A section's bytes for one restore function: its kind and version must be as expected. */
static struct snap_section *take(struct vmm *vm, const char *name, const char *kind, uint32_t version)
{
	struct snap_section *s = snap_find(vm->snap, name);

	if (!s) {
		vlog_err(&vm->log, "snapshot '%s' has no state for '%s', which this VM has", vm->restore_dir, name);
		return NULL;
	}
	if (strcmp(s->kind, kind) || s->version != version) {
		vlog_err(&vm->log, "snapshot '%s': '%s' was saved as %s version %u; this VM has %s version %u",
			 vm->restore_dir, name, s->kind, s->version, kind, version);
		return NULL;
	}
	s->used = true;
	return s;
}

int vm_restore_state(struct vmm *vm)
{
	struct snap_section *s;
	struct sreader r;
	int ret;

	if (!vm->snap)
		return 0; /* a cold boot */
	for (unsigned i = 0; i < vm->ndisks; i++) {
		if (vm->disk[i]->size != vm->snap_disk_size[i]) {
			vlog_err(&vm->log, "snapshot '%s': disk '%s' has %llu bytes; it had %llu when the snapshot was taken",
				 vm->restore_dir, vm->disk_cfg[i].path, (unsigned long long)vm->disk[i]->size,
				 (unsigned long long)vm->snap_disk_size[i]);
			return -EINVAL;
		}
	}
	s = take(vm, "kvm", arch_vm_state_kind, 1);
	if (!s)
		return -EINVAL;
	sreader_init(&r, s->data, s->len);
	ret = arch_vm_restore(vm, &r);
	if (!ret && !sr_done(&r))
		ret = -EINVAL;
	if (ret)
		goto fail;
	for (unsigned i = 0; i < vm->ncpus; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vcpu%u", i);
		s = take(vm, name, arch_vcpu_state_kind, 1);
		if (!s)
			return -EINVAL;
		sreader_init(&r, s->data, s->len);
		ret = arch_vcpu_restore(vm, i, &r);
		if (!ret && !sr_done(&r))
			ret = -EINVAL;
		if (ret)
			goto fail;
	}
	for (struct vm_device *d = vm->devices; d; d = d->next) {
		s = take(vm, d->name, d->ops->kind, d->ops->version);
		if (!s)
			return -EINVAL;
		sreader_init(&r, s->data, s->len);
		ret = d->ops->restore(d->dev, &r);
		if (!ret && !sr_done(&r))
			ret = -EINVAL; /* bytes left over: not what this device saves */
		if (ret) {
			vlog_err(&vm->log, "snapshot '%s' cannot be restored: the state of '%s' (%s) is %s", vm->restore_dir,
				 d->name, d->ops->kind, ret == -EINVAL ? "malformed or does not fit this VM" : strerror(-ret));
			return ret;
		}
	}
	for (unsigned i = 0; i < vm->snap->n; i++) {
		if (!vm->snap->sec[i].used) {
			vlog_err(&vm->log, "snapshot '%s' has state for '%s' (%s), which this VM lacks", vm->restore_dir,
				 vm->snap->sec[i].name, vm->snap->sec[i].kind);
			return -EINVAL;
		}
	}
	vlog_debug(&vm->log, "restored %u sections from snapshot '%s'", vm->snap->n, vm->restore_dir);
	return 0;
fail:
	if (ret == -EINVAL)
		vlog_err(&vm->log, "snapshot '%s' cannot be restored: the state of '%s' is malformed", vm->restore_dir,
			 s->name);
	return ret;
}

/* ---- Snapshot. ---- */

struct save_job {
	struct vmm *vm;
	struct sbuf *state;
	int mem_fd;
	unsigned inflight;
	uint64_t mem_written;
	int ret;
	char failed[32]; /* the device whose save failed */
	bool quiet;      /* quiesce_devices(): stop, or start again */
	struct event_loop *loop; /* the I/O thread each_loop() runs the job's step on now */
};

/* Does device d belong to the I/O thread j->loop? (Device ops run on their device's thread.) */
static bool here(const struct save_job *j, const struct vm_device *d)
{
	return (d->loop ? d->loop : j->vm->loop) == j->loop;
}

/* Run fn on every I/O thread in turn, each for the devices it serves (here()). */
static void each_loop(struct save_job *j, void (*fn)(void *))
{
	for (unsigned i = 0; i < j->vm->nloops; i++) {
		j->loop = j->vm->loops[i];
		event_loop_call(j->loop, fn, j);
		if (j->ret)
			return;
	}
}

/* On the I/O threads: every device stops (j->quiet) or restarts what moves guest memory outside our threads. */
static void quiesce_devices(void *arg)
{
	struct save_job *j = arg;

	for (struct vm_device *d = j->vm->devices; d; d = d->next)
		if (d->ops->quiesce && here(j, d))
			d->ops->quiesce(d->dev, j->quiet);
}

/* On the I/O threads: how many requests do the devices still have in flight? (j->inflight is zeroed first.) */
static void count_inflight(void *arg)
{
	struct save_job *j = arg;

	for (struct vm_device *d = j->vm->devices; d; d = d->next)
		if (d->ops->inflight && here(j, d))
			j->inflight += d->ops->inflight(d->dev);
}

/* On the I/O threads, the devices quiet: their state (the file names each; order does not matter). */
static void save_devices(void *arg)
{
	struct save_job *j = arg;
	struct sbuf b;

	for (struct vm_device *d = j->vm->devices; d; d = d->next) {
		if (!here(j, d))
			continue;
		sbuf_init(&b);
		j->ret = d->ops->save(d->dev, &b);
		if (!j->ret && b.oom)
			j->ret = -ENOMEM;
		if (!j->ret)
			snap_add(j->state, d->name, d->ops->kind, d->ops->version, b.data, b.len);
		sbuf_free(&b);
		if (j->ret) {
			snprintf(j->failed, sizeof(j->failed), "%s", d->name);
			return;
		}
	}
}

/* Then guest RAM (nothing writes it meanwhile: the vCPUs are paused and every device quiet). */
static void save_memory(void *arg)
{
	struct save_job *j = arg;

	j->ret = snap_mem_write(&j->vm->mem, j->mem_fd, &j->mem_written);
	if (j->ret)
		snprintf(j->failed, sizeof(j->failed), "memory");
}

static int wait_quiet(struct vmm *vm, struct save_job *j)
{
	const struct timespec ms = { .tv_nsec = 1000000 };

	for (unsigned waited = 0;; waited++) {
		j->inflight = 0;
		each_loop(j, count_inflight);
		if (waited == 0 && j->inflight)
			vlog_debug(&vm->log, "snapshot: waiting for %u requests in flight", j->inflight);
		if (!j->inflight) {
			if (waited)
				vlog_debug(&vm->log, "snapshot: the devices were quiet after %u ms", waited);
			return 0;
		}
		if (waited >= QUIET_WAIT_MS) {
			vlog_err(&vm->log, "cannot snapshot: the devices still have %u requests in flight after %u s",
				 j->inflight, QUIET_WAIT_MS / 1000);
			return -EBUSY;
		}
		nanosleep(&ms, NULL);
	}
}

static int snapshot(struct vmm *vm, const char *dir);

int vm_snapshot(struct vmm *vm, const char *dir)
{
	int ret;

	pthread_mutex_lock(&vm->lock);
	ret = !vm->paused || vm->stopping ? -EINVAL : vm->snapshotting ? -EBUSY : 0;
	if (!ret) {
		vm->snapshotting = true;
		/*
		 * A pause asked from a vCPU's own callback (the guest's snapshot request) returns before that
		 * vCPU has parked: wait until every vCPU has, its last exit completed (vcpu.c).
		 */
		while (vm->parked < vm->alive && !vm->stopping)
			pthread_cond_wait(&vm->cond, &vm->lock);
		if (vm->stopping) {
			vm->snapshotting = false;
			ret = -EINVAL;
		}
	}
	pthread_mutex_unlock(&vm->lock);
	if (ret) {
		vlog_err(&vm->log, ret == -EBUSY ? "cannot snapshot: another snapshot of this VM is being taken"
						: "cannot snapshot: the VM is not paused");
		return ret;
	}
	ret = snapshot(vm, dir);
	pthread_mutex_lock(&vm->lock);
	vm->snapshotting = false;
	pthread_mutex_unlock(&vm->lock);
	return ret;
}

static int snapshot(struct vmm *vm, const char *dir)
{
	uint64_t t0 = boot_timer_now_ns();
	struct sbuf state, b;
	struct save_job job = { .vm = vm, .mem_fd = -1 };
	int dirfd = -1, ret;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		ret = -errno;
		vlog_err(&vm->log, "cannot snapshot into '%s': %s", dir, strerror(errno));
		return ret;
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot snapshot into '%s': %s", dir, strerror(errno));
		return ret;
	}
	/*
	 * The devices finish what they started first: a request completing now writes guest memory and
	 * raises an interrupt, which must be in the vCPUs' (LAPIC) state saved next.
	 */
	sbuf_init(&state);
	job.quiet = true;
	each_loop(&job, quiesce_devices);
	ret = wait_quiet(vm, &job);
	if (ret)
		goto out;
	snap_begin(&state);
	sbuf_init(&b);
	save_shape(vm, &b);
	snap_add(&state, "vm", "vm", SHAPE_VERSION, b.data, b.len);
	sbuf_free(&b);

	ret = arch_vm_save(vm, &b);
	if (!ret)
		snap_add(&state, "kvm", arch_vm_state_kind, 1, b.data, b.len);
	sbuf_free(&b);
	for (unsigned i = 0; i < vm->ncpus && !ret; i++) {
		char name[16];

		snprintf(name, sizeof(name), "vcpu%u", i);
		ret = arch_vcpu_save(vm, i, &b);
		if (!ret)
			snap_add(&state, name, arch_vcpu_state_kind, 1, b.data, b.len);
		sbuf_free(&b);
	}
	if (ret)
		goto out;

	job.mem_fd = openat(dirfd, "memory.tmp", O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (job.mem_fd < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot snapshot into '%s': memory.tmp: %s", dir, strerror(errno));
		goto out;
	}
	job.state = &state;
	each_loop(&job, save_devices);
	if (!job.ret)
		event_loop_call(vm->loop, save_memory, &job);
	ret = job.ret;
	if (ret) {
		vlog_err(&vm->log, "cannot snapshot into '%s': saving %s failed: %s", dir, job.failed, strerror(-ret));
		goto out;
	}
	if (fsync(job.mem_fd) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot snapshot into '%s': memory: %s", dir, strerror(errno));
		goto out;
	}
	ret = snap_finish(&state);
	if (ret) {
		vlog_err(&vm->log, "cannot snapshot: its state %s", ret == -E2BIG ? "is too large" : "ran out of memory");
		goto out;
	}
	ret = write_file(dirfd, "state.tmp", state.data, state.len);
	if (ret) {
		vlog_err(&vm->log, "cannot snapshot into '%s': state.tmp: %s", dir, strerror(-ret));
		goto out;
	}
	/* No moment where an old state file names the new memory: state goes first, comes back last. */
	if ((unlinkat(dirfd, "state", 0) < 0 && errno != ENOENT) || renameat(dirfd, "memory.tmp", dirfd, "memory") < 0 ||
	    renameat(dirfd, "state.tmp", dirfd, "state") < 0 || fsync(dirfd) < 0) {
		ret = -errno;
		vlog_err(&vm->log, "cannot snapshot into '%s': %s", dir, strerror(errno));
		goto out;
	}
	vlog_info(&vm->log, "snapshot saved in '%s': %zu bytes of state, %llu MiB of memory written, %.1f ms", dir,
		  state.len, (unsigned long long)(job.mem_written >> 20), (double)(boot_timer_now_ns() - t0) / 1e6);
out:
	if (job.quiet) {
		job.quiet = false;
		job.ret = 0; /* each_loop() stops at a failure: every thread restarts its devices */
		each_loop(&job, quiesce_devices);
	}
	if (ret) {
		unlinkat(dirfd, "memory.tmp", 0);
		unlinkat(dirfd, "state.tmp", 0);
	}
	if (job.mem_fd >= 0)
		close(job.mem_fd);
	close(dirfd);
	sbuf_free(&state);
	return ret;
}

/* ---- The guest's snapshot request register (VMM_SNAPSHOT_PORT, VMM_SNAPSHOT_MMIO_ARM64). ---- */

static void request_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	if (!is_write) {
		memset(data, 0, len);
		return;
	}
	if (off == 0)
		vm_event(opaque, VMM_EVENT_SNAPSHOT_REQUEST);
}

int vm_setup_snapshot_port(struct vmm *vm)
{
	int ret = arch_register_vmm_reg(vm, ARCH_REG_SNAPSHOT_REQUEST, request_io, vm, "snapshot-request");

	if (ret)
		vlog_err(&vm->log, "the snapshot-request register collides with another device's");
	return ret;
}
