/* SPDX-License-Identifier: Apache-2.0 */
/* struct vmm: everything one VM owns. Internal to the library. */
#ifndef VMM_VM_H
#define VMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include <vmm/vmm.h>

#include "bus.h"
#include "devices/pci.h"
#include "irq_routes.h"
#include "log.h"
#include "memory.h"
#include "seccomp_filter.h"
#if defined(__aarch64__)
#include "arm64/machine.h"
#else
#include "x86/machine.h"
#endif

struct vcpu;
struct serial;
struct event_loop;
struct virtio_pci;
struct disk;
struct boot_timer;
struct console;
struct irq_line;
struct virtio_device_ops;
struct vm_device;
struct vm_device_ops;
struct snap;

struct vmm {
	struct vlog log;
	int seccomp_mode;           /* cfg->seccomp */
	struct seccomp_set seccomp; /* the filters of our threads (none when off) */
	char *kernel, *initrd, *cmdline;
	int kernel_fd, initrd_fd;   /* opened first of all, closed once loaded (-1: not open) */
	uint64_t mem_bytes;
	unsigned ncpus;
	unsigned timeout_ms;
	vmm_console_fn console_out;
	void *console_opaque;
	struct vmm_console console_cfg;   /* the UART's fds (console_cfg.fds) */
	bool hvc_on;                      /* a virtio-console */
	struct vmm_console hvc_cfg;
	vmm_console_fn hvc_out;
	void *hvc_opaque;
	struct console *uart_con, *hvc_con; /* their host sides (vm_console.c) */
	struct virtio_pci *vhvc;
	struct irq_msix *vhvc_msix;

	int kvm_fd, vm_fd;
	int run_size; /* KVM_GET_VCPU_MMAP_SIZE */
	struct guest_mem mem;
	struct bus pio, mmio;
	struct arch_vm arch;        /* what only this architecture has (x86/machine.h, arm64/machine.h) */
	struct serial *serial;
	struct irq_routes routes;   /* GSI routing: irqchip pins + MSI routes (irqfd) */
	struct pci_bus pci;
	uint64_t pci_mmio64_base;
	struct event_loop *loop;    /* the first I/O thread: the consoles, the power button, its share of devices */
	struct event_loop *loops[VMM_MAX_IO_THREADS]; /* every I/O thread; loops[0] is loop */
	unsigned nloops;            /* cfg->io_threads (at least 1) */
	unsigned placed;            /* devices placed on the I/O threads so far (vm_io_loop) */
	struct vmm_disk disk_cfg[VMM_MAX_DISKS]; /* copies: path and serial are ours */
	unsigned ndisks;
	struct disk *disk[VMM_MAX_DISKS];   /* closed after its device is destroyed */
	struct virtio_pci *vblk[VMM_MAX_DISKS];
	struct irq_msix *vblk_msix[VMM_MAX_DISKS];
	struct vmm_net net_cfg[VMM_MAX_NICS]; /* copies: tap is ours */
	unsigned nnets;
	struct virtio_pci *vnet[VMM_MAX_NICS];
	struct irq_msix *vnet_msix[VMM_MAX_NICS];
	struct vmm_fs fs_cfg[VMM_MAX_FS];    /* copies: tag and socket are ours (vm_fs.c) */
	unsigned nfs;                        /* > 0: guest RAM is a shared memfd */
	struct virtio_pci *vfs[VMM_MAX_FS];
	struct irq_msix *vfs_msix[VMM_MAX_FS];
	unsigned vsock_cid;                  /* 0: no virtio-vsock (vm_vsock.c) */
	char *vsock_uds;
	struct virtio_pci *vvsock;
	struct irq_msix *vvsock_msix;
	void *power_key;                     /* virtio-input power button (arch_virtio_power_key), or NULL */
	struct virtio_pci *vpower_key;
	struct irq_msix *vpower_key_msix;
	struct vcpu *vcpus[VMM_MAX_CPUS];
	int init_done; /* how many steps of the init table have run */

	/* Snapshot and restore (vm_snapshot.c). */
	struct vm_device *devices;  /* every device with state, in set-up order (device.h) */
	char *restore_dir;          /* vmm_restore(): the snapshot being restored, else NULL */
	struct snap *snap;          /* its parsed state file (pointers into snap_buf), until vmm_create returns */
	uint8_t *snap_buf;
	size_t snap_len;
	int snap_mem_fd;            /* its memory file, mapped by setup_memory() */
	uint64_t snap_disk_size[VMM_MAX_DISKS]; /* each disk's size when the snapshot was taken */

	vmm_event_fn event;
	void *event_opaque;
	uint16_t debug_exit_port;

	/* Boot phases and exit statistics (vm_observe.c). */
	struct boot_timer *boot_timer; /* the guest's marker port */
	bool boot_timer_on;         /* --boot-timer: log the phases (INFO) */
	bool stats;                 /* --stats: time exit handling, report at vmm_destroy() */
	uint64_t origin_ns;         /* CLOCK_MONOTONIC ns the boot-timer times count from */
	bool origin_given;          /* from the config (the process start); else vmm_create() entry */
	atomic_bool first_run_seen; /* a vCPU has entered KVM_RUN */

	/* vCPU fast-path flags (read without the lock; written under it). */
	atomic_bool stop_flag;      /* every vCPU must leave */
	atomic_bool pause_flag;     /* every vCPU must park in vm_vcpu_checkpoint() */

	pthread_mutex_t lock; /* guards what follows */
	pthread_cond_t cond;
	enum vmm_exit_reason exit_reason; /* set by the first vm_exit() */
	bool exit_published;        /* ... and visible to vmm_wait() once its event callback returned */
	uint32_t debug_exit_value;
	bool started;
	bool stopping;
	bool paused;
	bool snapshotting;          /* vm_snapshot() runs: no second one, no resume (-EBUSY) */
	unsigned parked;            /* vCPU threads parked for a pause */
	unsigned alive;             /* vCPU threads in their run loop */
	struct timespec deadline;   /* CLOCK_MONOTONIC; valid when timeout_ms */
	struct timespec stop_deadline; /* valid when stop_requested: the end of the grace period */
	bool stop_requested;
	pthread_t supervisor;       /* enforces the deadlines */
	bool supervisor_started;
	uint64_t paused_clock;      /* the guest's clock when paused (arch_clock_freeze()) */
	bool paused_clock_valid;

	/* The library's registry of live handles (api.c). */
	struct vmm *next_live;
	unsigned refs;
	bool dying;
};

/* A KVM capability vmm needs, and how a message names it. */
struct kvm_cap_need {
	int cap;
	const char *name;
};
/* 0 when /dev/kvm (vm->kvm_fd) has every one of caps[0..n), else -ENOTSUP with the first missing one logged. */
int vm_require_caps(struct vmm *vm, const struct kvm_cap_need *caps, size_t n);
/* restore_dir: create the VM from that snapshot (vmm_restore), else NULL (a cold boot). */
int vm_init(struct vmm *vm, const struct vmm_config *cfg, const char *restore_dir);
/*
 * Snapshot and restore (vm_snapshot.c). vm_add_device() puts a device on the VM's list (device.h);
 * the list is freed by vm_teardown(). vm_snapshot() saves a paused VM into dir. Restore: the first
 * set-up step, vm_restore_open(), reads and checks the state file and takes the VM's shape from it;
 * vm_restore_state(), the last, hands every vCPU and device its state; vm_restore_close() frees.
 */
int vm_add_device(struct vmm *vm, const char *name, const struct vm_device_ops *ops, void *dev);
/* The same for a device whose ops run on the I/O thread loop (NULL: vm->loop). */
int vm_add_device_on(struct vmm *vm, const char *name, const struct vm_device_ops *ops, void *dev,
		     struct event_loop *loop);
void vm_free_devices(struct vmm *vm);
int vm_snapshot(struct vmm *vm, const char *dir);
int vm_restore_open(struct vmm *vm, const struct vmm_config *cfg);
int vm_restore_state(struct vmm *vm);
void vm_restore_close(struct vmm *vm);
/* The guest's snapshot-request port (VMM_SNAPSHOT_PORT): a write raises VMM_EVENT_SNAPSHOT_REQUEST. */
int vm_setup_snapshot_port(struct vmm *vm);
/* Init steps for the virtio devices (vm_virtio.c); teardown resets them while the I/O thread runs. */
int vm_setup_disks(struct vmm *vm);
void vm_teardown_disks(struct vmm *vm);
int vm_setup_nets(struct vmm *vm);
void vm_teardown_nets(struct vmm *vm);
int vm_setup_vsock(struct vmm *vm);
void vm_teardown_vsock(struct vmm *vm);
/* The virtio-fs devices on their vhost-user backends (vm_fs.c). */
int vm_setup_fs(struct vmm *vm);
void vm_teardown_fs(struct vmm *vm);
/* The virtio-input power button of a machine with no other (arch_virtio_power_key); its press (vm_virtio.c). */
int vm_setup_power_key(struct vmm *vm);
void vm_teardown_power_key(struct vmm *vm);
void vm_press_power_key(struct vmm *vm);
/*
 * A virtio-pci function for device dev (ops), with MSI-X vectors from the VM's routes, served by the
 * I/O thread loop (vm->loop, or vm_io_loop() for a device that moves data).
 */
int vm_attach_virtio_pci(struct vmm *vm, const struct virtio_device_ops *ops, void *dev, struct irq_msix **msix,
			 struct event_loop *loop, struct virtio_pci **out);
/* The I/O thread for the next data device: round robin over them all, the second first (vm_virtio.c). */
struct event_loop *vm_io_loop(struct vmm *vm);
/* Stop every I/O thread (each waits for its requests in flight). */
void vm_stop_io_loops(struct vmm *vm);
/*
 * The consoles (vm_console.c): created before the devices (the UART writes into one), started with
 * the I/O thread (the virtio-console is added then), stopped (flushed) before the I/O thread stops.
 */
int vm_create_consoles(struct vmm *vm);
void vm_destroy_consoles(struct vmm *vm);
struct serial *vm_create_serial(struct vmm *vm, const struct irq_line *irq);
int vm_start_consoles(struct vmm *vm);
void vm_stop_consoles(struct vmm *vm);
/*
 * Wait until the consoles' writers have written what the guest wrote, giving up on a writer that
 * makes no progress for 10 s (guest_ended: the guest's own power-off, reset, crash or debug exit,
 * whose last words matter) or 1 s (a pause, a stop from the host, a timeout).
 */
void vm_flush_consoles(struct vmm *vm, bool guest_ended);
int vm_hvc_input(struct vmm *vm, const void *buf, size_t len);
void vm_teardown(struct vmm *vm);
/* Record why the VM stops (the first reason wins) and kick every vCPU out of the guest. */
void vm_exit(struct vmm *vm, enum vmm_exit_reason reason);
/* Has the VM been told to stop? Cheap (an atomic load). */
bool vm_should_stop(struct vmm *vm);
/* Called by a vCPU thread before each KVM_RUN: parks it while the VM is paused; true: it must stop. */
bool vm_vcpu_checkpoint(struct vmm *vm);
/* A vCPU thread enters / leaves its run loop (what vm_pause() waits to see parked). */
void vm_vcpu_enter(struct vmm *vm);
void vm_vcpu_leave(struct vmm *vm);
/* Pause every vCPU (waits until all are parked) and freeze kvm-clock; resume undoes it. Under no lock. */
int vm_pause(struct vmm *vm);
int vm_resume(struct vmm *vm);
/* Deliver an event to the application's callback (if any). */
void vm_event(struct vmm *vm, enum vmm_event ev);
/*
 * Boot timer and exit statistics (vm_observe.c). The init step registers the marker port; a vCPU calls
 * vm_first_run() before its first KVM_RUN; vmm_create() calls vm_created() when it succeeded and
 * vmm_destroy() calls vm_report_stats() once the vCPU threads have stopped.
 */
int vm_setup_boot_timer(struct vmm *vm);
void vm_teardown_boot_timer(struct vmm *vm);
void vm_first_run(struct vmm *vm, unsigned vcpu);
void vm_created(struct vmm *vm, uint64_t entry_ns);
void vm_report_stats(struct vmm *vm);

#endif
