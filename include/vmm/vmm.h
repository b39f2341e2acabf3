/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvmm: a small hosted virtual machine monitor on Linux /dev/kvm.
 *
 * This header is the whole public API. Every function returns 0 or a negative
 * errno value; a human-readable sentence describing a failure is delivered
 * through the log callback of the configuration. The library never calls
 * exit() and never changes the terminal.
 *
 * The library sends one real-time signal (SIGRTMIN + VMM_KICK_SIGNAL_OFFSET) to
 * its own vCPU threads to kick them out of KVM_RUN. Those threads keep it
 * blocked (KVM unblocks it only inside KVM_RUN) and take it with sigtimedwait(),
 * so it is never delivered: the library installs no signal handler, and the
 * application's handlers and masks are left alone.
 */
#ifndef VMM_VMM_H
#define VMM_VMM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define VMM_API __attribute__((visibility("default")))

#define VMM_MAX_CPUS 64
#define VMM_KICK_SIGNAL_OFFSET 2

struct vmm;

enum vmm_log_level {
	VMM_LOG_ERROR = 0,
	VMM_LOG_WARN = 1,
	VMM_LOG_INFO = 2,
	VMM_LOG_DEBUG = 3,
};

/* Why a VM stopped running. */
enum vmm_exit_reason {
	VMM_EXIT_NONE = 0,     /* still running */
	VMM_EXIT_POWEROFF,     /* the guest powered off (ACPI S5) */
	VMM_EXIT_REBOOT,       /* the guest asked for a reset */
	VMM_EXIT_CRASH,        /* triple fault, KVM internal error, emulation failure */
	VMM_EXIT_TIMEOUT,      /* the configured timeout elapsed */
	VMM_EXIT_STOPPED,      /* vmm_request_stop() */
	VMM_EXIT_ERROR,        /* a host-side error inside the VMM */
};

/* Called with one complete message (no trailing newline). Any thread. */
typedef void (*vmm_log_fn)(void *opaque, enum vmm_log_level level, const char *msg);
/* Bytes the guest wrote to its serial console. Called from vCPU threads. */
typedef void (*vmm_console_fn)(void *opaque, const uint8_t *buf, size_t len);

#define VMM_MAX_DISKS 16

/* A virtio-blk disk: a raw image (regular file or block device). */
struct vmm_disk {
	const char *path;
	int readonly;        /* non-zero: the guest sees a read-only disk */
	const char *serial;  /* GET_ID string, at most 20 bytes; NULL: none */
	int direct;          /* non-zero: O_DIRECT (bypass the host page cache) */
};

#define VMM_MAX_NICS 8

/* A virtio-net NIC on a Linux tap device (opened by name; created when missing and allowed). */
struct vmm_net {
	const char *tap;     /* interface name */
	int has_mac;         /* non-zero: use mac; else a stable MAC derived from the tap name and index */
	uint8_t mac[6];
	unsigned queue_pairs; /* RX/TX queue pairs (multi-queue tap); 0: 1 */
};

struct vmm_config {
	const char *kernel;      /* bzImage or vmlinux ELF; required */
	const char *initrd;      /* optional */
	const char *cmdline;     /* NULL: VMM_DEFAULT_CMDLINE */
	uint64_t mem_bytes;      /* guest RAM; 0: 512 MiB */
	unsigned cpus;           /* 1..VMM_MAX_CPUS; 0: 1 */
	unsigned timeout_ms;     /* 0: none; else the VM stops with VMM_EXIT_TIMEOUT */
	const struct vmm_disk *disks; /* ndisks entries, each a virtio-blk device (PCI) */
	unsigned ndisks;              /* 0..VMM_MAX_DISKS */
	const struct vmm_net *nets;   /* nnets entries, each a virtio-net device (PCI) */
	unsigned nnets;               /* 0..VMM_MAX_NICS */

	vmm_console_fn console_out; /* NULL: console output is discarded */
	void *console_opaque;

	vmm_log_fn log;             /* NULL: messages go to stderr */
	void *log_opaque;
	enum vmm_log_level log_level; /* messages above this level are dropped */
};

#define VMM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
#define VMM_DEFAULT_MEM (512ull << 20)

/* Fill *cfg with defaults. */
VMM_API void vmm_config_init(struct vmm_config *cfg);

/* Check the config, open /dev/kvm, create the VM, load the kernel. */
VMM_API int vmm_create(const struct vmm_config *cfg, struct vmm **out);
/* Start the vCPU threads. */
VMM_API int vmm_start(struct vmm *vm);
/*
 * Wait until the VM stops or timeout_ms elapses (-1: forever). Returns 0 and
 * stores the reason when it stopped, -ETIMEDOUT when it is still running.
 */
VMM_API int vmm_wait(struct vmm *vm, int timeout_ms, enum vmm_exit_reason *reason);
/* Stop the VM now (hard stop). Safe from any thread and from vmm callbacks. */
VMM_API int vmm_request_stop(struct vmm *vm);
/* Feed bytes to the guest's serial console; returns how many were taken. */
VMM_API int vmm_console_input(struct vmm *vm, const void *buf, size_t len);
/* Stop the VM if it runs, join its threads, free everything. NULL is fine. */
VMM_API void vmm_destroy(struct vmm *vm);

VMM_API const char *vmm_exit_reason_str(enum vmm_exit_reason reason);
VMM_API const char *vmm_version(void);

#ifdef __cplusplus
}
#endif
#endif
