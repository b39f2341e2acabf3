/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libvmm: a small hosted virtual machine monitor on Linux /dev/kvm.
 *
 * This header is the whole public API. Link with `pkg-config --libs vmm`.
 *
 *   struct vmm_config cfg;
 *   struct vmm *vm;
 *   enum vmm_exit_reason why;
 *
 *   vmm_config_init(&cfg);
 *   cfg.kernel = "bzImage";
 *   cfg.cmdline = "console=ttyS0 panic=-1";
 *   if (vmm_create(&cfg, &vm) == 0 && vmm_start(vm) == 0)
 *           vmm_wait(vm, -1, &why);           // until the guest powers off
 *   vmm_destroy(vm);
 *
 * Conventions. Every function returns 0 or a negative errno value; a sentence saying what went
 * wrong goes to the log callback. Every function may be called from any thread. A NULL, unknown or
 * already destroyed handle, or a call in the wrong state (pause a VM that is not running), returns
 * -EINVAL and changes nothing. The library never calls exit(), never installs a signal handler,
 * never touches the terminal, and opens every file descriptor with O_CLOEXEC.
 *
 * Threads. A VM runs one thread per vCPU, one I/O thread (io_uring) and a supervisor (deadlines).
 * Callbacks (console, event, log) run on those threads or on the thread of an API call: they must be
 * quick, and must not call vmm_destroy() or vmm_wait() on their own VM (every other call is fine,
 * vmm_pause() included). They may run until vmm_destroy() returns. Events arrive in order: RUNNING
 * before anything the guest does, and the stop event (POWEROFF, REBOOT, CRASH, STOPPED) has been
 * delivered before vmm_wait() reports the reason.
 *
 * Signals. The library sends one real-time signal (SIGRTMIN + VMM_KICK_SIGNAL_OFFSET) to its own
 * vCPU threads to kick them out of KVM_RUN. Those threads keep it blocked (KVM unblocks it only
 * inside KVM_RUN) and take it with sigtimedwait(), so it is never delivered: the application's
 * handlers and masks are left alone.
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
#define VMM_MAX_DISKS 16
#define VMM_MAX_NICS 8
#define VMM_MAX_FS 4
#define VMM_MAX_HOSTFWD 16 /* host-to-guest forwards of one user-mode NIC */
/*
 * A guest's write of any byte to this I/O port (x86) or to this guest-physical address (arm64, which
 * has no I/O ports; e.g. busybox `devmem 0x09030000 8 1`) raises VMM_EVENT_SNAPSHOT_REQUEST (reads give 0).
 */
#define VMM_SNAPSHOT_PORT 0x624
#define VMM_SNAPSHOT_MMIO_ARM64 0x09030000ull
/*
 * arm64 has no I/O ports: with any nonzero debug_exit_port, QEMU isa-debug-exit's register is this
 * guest-physical address instead (a guest write of V stops the VM with VMM_EXIT_DEBUG and value V).
 */
#define VMM_DEBUG_EXIT_MMIO_ARM64 0x09040000ull
#define VMM_KICK_SIGNAL_OFFSET 2
#define VMM_DEFAULT_CMDLINE "console=ttyS0 reboot=k panic=-1"
#define VMM_DEFAULT_MEM (512ull << 20)

struct vmm; /* opaque */

enum vmm_log_level {
	VMM_LOG_ERROR = 0,
	VMM_LOG_WARN = 1,
	VMM_LOG_INFO = 2,
	VMM_LOG_DEBUG = 3,
};

/* Why a VM stopped running (vmm_wait()). */
enum vmm_exit_reason {
	VMM_EXIT_NONE = 0,     /* still running (or paused) */
	VMM_EXIT_POWEROFF,     /* the guest powered off (ACPI S5) */
	VMM_EXIT_REBOOT,       /* the guest reset itself (any reset method, a triple fault too) */
	VMM_EXIT_CRASH,        /* KVM internal error, emulation failure (a triple fault is a REBOOT) */
	VMM_EXIT_TIMEOUT,      /* the configured timeout elapsed */
	VMM_EXIT_STOPPED,      /* vmm_request_stop(): a hard stop, or the grace period ran out */
	VMM_EXIT_ERROR,        /* a host-side error inside the VMM */
	VMM_EXIT_DEBUG,        /* the guest wrote the debug-exit port: see vmm_guest_exit_value() */
};

/* What happened to a VM (the event callback). */
enum vmm_event {
	VMM_EVENT_RUNNING,      /* vmm_start() or vmm_resume() took effect */
	VMM_EVENT_PAUSED,       /* vmm_pause() took effect: no vCPU runs, guest time stands still */
	VMM_EVENT_POWEROFF,     /* the guest powered off */
	VMM_EVENT_REBOOT,       /* the guest rebooted (the VM stops: there is no firmware to restart) */
	VMM_EVENT_CRASH,        /* the guest crashed */
	VMM_EVENT_STOPPED,      /* stopped by request, timeout, debug exit or a VMM error */
	VMM_EVENT_DEVICE_ERROR, /* a device gave up on a queue the guest broke (it needs a reset) */
	VMM_EVENT_SNAPSHOT_REQUEST, /* the guest wrote VMM_SNAPSHOT_PORT: it asks to be snapshotted (see vmm_snapshot()) */
};

/* A virtio-blk disk: a raw image (regular file or block device). */
struct vmm_disk {
	const char *path;
	int readonly;        /* non-zero: the guest sees a read-only disk */
	const char *serial;  /* GET_ID string, at most 20 bytes; NULL: none */
	int direct;          /* non-zero: O_DIRECT (bypass the host page cache) */
};

/* A virtio-fs device (config version 2 on): the guest mounts it with mount -t virtiofs TAG DIR. */
struct vmm_fs {
	const char *tag;      /* the name the guest mounts, 1 to 36 bytes */
	const char *socket;   /* the vhost-user backend's unix socket (e.g. virtiofsd --socket-path) */
	unsigned queues;      /* request queues, 1 to 8; 0: 1 */
};

/* Where a NIC's frames go (struct vmm_net, backend). */
enum vmm_net_backend {
	VMM_NET_TAP = 0,   /* a Linux tap device, tap (needs CAP_NET_ADMIN unless it exists for this user) */
	VMM_NET_STREAM,    /* a unix stream socket at path, QEMU "stream" framing (passt, gvproxy) */
	VMM_NET_USER,      /* user-mode networking in the VMM (libslirp): no privileges needed */
};

/*
 * A host-to-guest port forward of a VMM_NET_USER NIC (config version 3 on): connections to (TCP) or
 * datagrams for (UDP) host_addr:host_port on the host go to guest_addr:guest_port in the guest.
 */
struct vmm_hostfwd {
	int udp;                /* non-zero: UDP; else TCP */
	const char *host_addr;  /* IPv4 address to listen on; NULL: 127.0.0.1 (QEMU's default is every address) */
	uint16_t host_port;     /* 1..65535 */
	const char *guest_addr; /* NULL: 10.0.2.15, the address the guest's DHCP gets */
	uint16_t guest_port;    /* 1..65535 */
};

/* A virtio-net NIC. */
struct vmm_net {
	const char *tap;      /* VMM_NET_TAP: interface name, 1 to 15 characters (opened; created when missing and allowed) */
	int has_mac;          /* non-zero: use mac; else a stable MAC derived from the NIC's name and index */
	uint8_t mac[6];
	unsigned queue_pairs; /* RX/TX queue pairs (multi-queue tap), 1 to 8; 0: 1 */
	/* Config version 2 on. */
	int backend;          /* enum vmm_net_backend; VMM_NET_TAP (0) for a version 1 config */
	const char *path;     /* VMM_NET_STREAM: the unix socket to connect to */
	/*
	 * Config version 3 on, VMM_NET_USER only. The guest's network is 10.0.2.0/24: DHCP gives it
	 * 10.0.2.15, the gateway is 10.0.2.2 (where the host's 127.0.0.1 answers too, unless
	 * no_host_loopback), DNS is 10.0.2.3 (the host's resolver). IPv4 only.
	 */
	const struct vmm_hostfwd *hostfwd; /* nhostfwd forwards from the host into the guest */
	unsigned nhostfwd;                 /* 0..VMM_MAX_HOSTFWD */
	int no_host_loopback;              /* non-zero: 10.0.2.2 does not reach the host's loopback */
	int restricted;                    /* non-zero: isolated, as QEMU's restrict=on: the guest reaches
					      * nothing outside 10.0.2.0/24 (DHCP answers; forwards in work) */
	/*
	 * Config version 5 on, VMM_NET_TAP only. Non-zero: the host kernel moves the frames between the
	 * tap and the guest (vhost-net, /dev/vhost-net), with no copy and no wake-up of the library's
	 * threads per frame. Where /dev/vhost-net cannot be opened (no vhost_net module, no permission)
	 * the NIC works all the same on the library's own data path, with one warning in the log.
	 */
	int vhost;
};

/*
 * A guest console's host side as file descriptors, served by the library itself on its I/O thread
 * (io_uring). Output is buffered and written in large writes: up to 16 KiB for the UART, after which
 * its transmitter reads busy and the guest's driver waits (interrupt-driven: the guest runs on);
 * up to 32 MiB for hvc0 (memory used only while the reader lags), after which Linux's hvc driver
 * spins its writing vCPU until there is room. No byte is lost and no vCPU thread of ours blocks on
 * host I/O. When the guest ends itself, what is buffered is written out before the exit is reported,
 * for as long as the reader keeps taking bytes (a reader that takes none for 10 s is given up on:
 * the rest is discarded and counted; 1 s after a stop asked by the host). If out_fd fails for good
 * (the reader went away: EPIPE, EIO; a full disk: ENOSPC), the output is discarded from then on,
 * counted, and said once in the log.
 */
struct vmm_console {
	int fds;     /* non-zero: serve in_fd and out_fd below (else the callbacks are used) */
	int in_fd;   /* read for guest input; -1: none. Borrowed: close it after vmm_destroy() */
	int out_fd;  /* guest output is written here; -1: discarded. Borrowed, like in_fd */
	int escape;  /* non-zero: this byte then 'x' on in_fd stops the VM (VMM_EXIT_STOPPED); the byte
		      * twice sends it once. The vmm command uses 0x01 (Ctrl-A) when in_fd is a terminal */
	int drop;    /* non-zero: never hold the guest back: drop (and count) what out_fd cannot take */
};

/* Called with one complete message (no trailing newline). */
typedef void (*vmm_log_fn)(void *opaque, enum vmm_log_level level, const char *msg);
/* Bytes the guest wrote to a console, in order, in chunks (on the I/O thread). */
typedef void (*vmm_console_fn)(void *opaque, const uint8_t *buf, size_t len);
/* A state change of the VM. */
typedef void (*vmm_event_fn)(void *opaque, struct vmm *vm, enum vmm_event ev);

struct vmm_config {
	const char *kernel;      /* bzImage or vmlinux ELF; required */
	const char *initrd;      /* optional */
	const char *cmdline;     /* NULL: VMM_DEFAULT_CMDLINE */
	uint64_t mem_bytes;      /* guest RAM; 0: VMM_DEFAULT_MEM; 2 MiB to 1 TiB, a multiple of 4 KiB */
	unsigned cpus;           /* 1..VMM_MAX_CPUS; 0: 1 */
	unsigned timeout_ms;     /* 0: none; else the VM stops with VMM_EXIT_TIMEOUT */
	const struct vmm_disk *disks; /* ndisks entries, each a virtio-blk device (PCI) */
	unsigned ndisks;              /* 0..VMM_MAX_DISKS */
	const struct vmm_net *nets;   /* nnets entries, each a virtio-net device (PCI) */
	unsigned nnets;               /* 0..VMM_MAX_NICS */
	/*
	 * A port compatible with QEMU's isa-debug-exit: a guest write of value v stops the VM with
	 * VMM_EXIT_DEBUG and vmm_guest_exit_value() = v (the vmm command exits with ((v << 1) | 1) & 0xff).
	 * 0: none; it takes 4 ports from there (at most 0xfffc).
	 */
	uint16_t debug_exit_port;

	vmm_console_fn console_out; /* NULL: console output is discarded */
	void *console_opaque;
	vmm_event_fn event;         /* NULL: no events */
	void *event_opaque;
	vmm_log_fn log;             /* NULL: messages go to stderr */
	void *log_opaque;
	enum vmm_log_level log_level; /* messages above this level are dropped */

	/*
	 * Fields added later; vmm_config_init() sets each to off.
	 *
	 * boot_timer non-zero: log the boot phases at VMM_LOG_INFO, as they happen, one line each:
	 * "boot-timer: PHASE at T ms", T in host CLOCK_MONOTONIC time since boot_timer_origin_ns. The
	 * phases: process start (the origin; when boot_timer_origin_ns is 0 the origin is vmm_create()'s
	 * entry and that line says so), vmm_create entry, vmm_create done, first KVM_RUN (the first vCPU
	 * entering the guest), and "guest marker V" for each byte V the guest writes to I/O port 0x620
	 * (the boot-timer port; always present, a marker costs one exit).
	 */
	int boot_timer;
	uint64_t boot_timer_origin_ns; /* CLOCK_MONOTONIC ns the times count from (e.g. main()'s entry); 0: vmm_create() entry */
	/*
	 * stats non-zero: count KVM exits by reason and by port / MMIO range per vCPU, time their handling in
	 * user space, and log the totals at VMM_LOG_INFO in vmm_destroy(), lines starting "stats: ".
	 */
	int stats;

	/*
	 * The UART (ttyS0): console.fds non-zero serves console.in_fd/out_fd instead of console_out and
	 * vmm_console_input(). hvc non-zero adds a virtio-console device with one port (the guest's hvc0,
	 * on virtio-pci; the guest needs virtio_console): its host side is hvc_io.fds, or else the hvc_out
	 * callback (NULL: output discarded) and vmm_hvc_input().
	 */
	struct vmm_console console;
	int hvc;
	struct vmm_console hvc_io;
	vmm_console_fn hvc_out;
	void *hvc_opaque;

	/* Config version 2 on (see VMM_CONFIG_VERSION). */
	/*
	 * vsock_cid >= 3 adds a virtio-vsock device with that guest CID, in Firecracker's "hybrid vsock"
	 * style: host connections arrive on the unix socket vsock_uds ("CONNECT <port>\n"), and a guest
	 * connection to the host (CID 2) port P goes to the unix socket "<vsock_uds>_P". 0: none.
	 */
	unsigned vsock_cid;
	const char *vsock_uds;
	/*
	 * nfs entries, each a virtio-fs device (a host folder shared with the guest) served by a
	 * vhost-user backend such as virtiofsd: guest RAM is then shared memory (memfd) the backend maps.
	 */
	const struct vmm_fs *fs;
	unsigned nfs;               /* 0..VMM_MAX_FS */

	/* Config version 4 on. */
	/*
	 * A seccomp filter on each thread the library starts (its vCPUs, its I/O thread, its supervisor,
	 * a user-mode NIC's poller), never on the application's own threads: each may make only the
	 * system calls its kind of thread needs (the lists are in src/seccomp_filter.c), with ioctl held
	 * to the KVM, tap and terminal requests vmm makes, socket to unix and IP sockets, and no memory
	 * made executable. The callbacks run on those threads, under those filters: there they may take
	 * locks, allocate and write to open fds, nothing more. One of enum vmm_seccomp;
	 * vmm_config_init() sets VMM_SECCOMP_OFF.
	 */
	int seccomp;
};

/* What a forbidden system call does in a library thread (struct vmm_config's seccomp). */
enum vmm_seccomp {
	VMM_SECCOMP_OFF = 0, /* no filter */
	/* The process is killed (SIGSYS); the kernel's audit log names the call. */
	VMM_SECCOMP_KILL = 1,
	/*
	 * SIGSYS in the thread that made the call, for the application's handler (siginfo's si_syscall
	 * names it; the vmm command prints it and exits). Without a handler the process dies as with KILL.
	 */
	VMM_SECCOMP_TRAP = 2,
	/* Nothing is refused; each call outside the lists goes to the kernel's audit log (to build the lists). */
	VMM_SECCOMP_LOG = 3,
};

/*
 * The configuration is versioned. A program hands the library the layout of struct vmm_config (and
 * of the struct vmm_net and struct vmm_disk arrays it points at) that it was compiled with:
 * vmm_config_init(), vmm_create() and vmm_restore() below are macros that pass VMM_CONFIG_VERSION
 * to the *_v functions, so a program built against an older header keeps working with a newer
 * library, and one built against a newer header is refused by an older library (-ENOTSUP and one
 * line) instead of being misread. Version 1 is the layout of libvmm 0.1.0, whose exported
 * vmm_config_init and vmm_create symbols still take it; version 2 added vsock, virtio-fs and the NIC
 * backends; version 3 the user-mode NIC's forwards (struct vmm_net grew); version 4 the seccomp
 * filters; version 5 vhost-net (struct vmm_net grew). Fields are only ever added at the end.
 * (Take the address of vmm_create_v, not of the vmm_create macro.)
 */
#define VMM_CONFIG_VERSION 5

/* Fill *cfg with defaults (nothing to free). version: VMM_CONFIG_VERSION (what the macro passes). */
VMM_API void vmm_config_init_v(struct vmm_config *cfg, unsigned version);
#define vmm_config_init(cfg) vmm_config_init_v((cfg), VMM_CONFIG_VERSION)

/* Check the config, open /dev/kvm, create the VM and its devices, load the kernel. The VM does not run yet. */
VMM_API int vmm_create_v(const struct vmm_config *cfg, unsigned version, struct vmm **out);
#define vmm_create(cfg, out) vmm_create_v((cfg), VMM_CONFIG_VERSION, (out))
/* Start the vCPUs (once). */
VMM_API int vmm_start(struct vmm *vm);
/*
 * Wait until the VM stops or timeout_ms elapses (-1: forever). Returns 0 and stores the reason
 * when it stopped, -ETIMEDOUT when it still runs (or is paused), -EINVAL before vmm_start().
 */
VMM_API int vmm_wait(struct vmm *vm, int timeout_ms, enum vmm_exit_reason *reason);
/* Stop every vCPU until vmm_resume(); the guest's clock (kvm-clock) does not advance meanwhile. */
VMM_API int vmm_pause(struct vmm *vm);
VMM_API int vmm_resume(struct vmm *vm);
/*
 * Ask the guest to shut down: press its ACPI power button, and stop the VM hard (VMM_EXIT_STOPPED)
 * if it is still running grace_ms later. grace_ms 0: stop at once. A paused VM is stopped at once.
 * Calling it again only shortens the grace period.
 */
VMM_API int vmm_request_stop(struct vmm *vm, unsigned grace_ms);
/*
 * Snapshot a paused VM (vmm_pause()) into the directory dir (created when missing; a snapshot already
 * there is replaced; a failed one leaves the old snapshot, or none if it failed while replacing it,
 * never a mix of the two). It holds two files: "state"
 * (vCPUs, interrupt controllers, kvm-clock, every device, checksummed) and "memory" (guest RAM, sparse:
 * only non-zero pages are written). In-flight disk and network requests are completed first. The VM
 * stays paused: vmm_resume() it, or stop it with vmm_request_stop(vm, 0). Returns 0 or -errno, with
 * one line through the log callback; -EINVAL when not paused, -EBUSY while another snapshot of the
 * same VM is being taken (vmm_resume() is -EBUSY meanwhile too). The disk images are not copied: a
 * restore needs them as they were (do not let the guest write to them after the snapshot, or copy
 * them alongside).
 */
VMM_API int vmm_snapshot(struct vmm *vm, const char *dir);
/*
 * Create a VM from the snapshot in dir, ready for vmm_start(): it goes on where it was. cfg is read as
 * for vmm_create(), except that kernel, initrd and cmdline are not used (they are in the snapshot),
 * and that mem_bytes and cpus must be 0 (take the snapshot's) or equal to the snapshot's. The disks,
 * NICs, virtio console and debug-exit port must be those the snapshot was taken with (disks of the
 * same size and mode; NIC taps may differ: the guest keeps its MACs); consoles, log, events and
 * timeout are new. Guest memory is the memory file mapped copy-on-write: restoring takes the same time
 * for any RAM size, pages load when the guest touches them, and any number of VMs may be restored from
 * one snapshot, at once or in turn. Guest time goes on from the snapshot (kvm-clock does not jump);
 * the guest's wall clock is as old as the snapshot until it resyncs it (e.g. hwclock -s, NTP). A
 * truncated, corrupt, foreign or mismatching snapshot is refused: -EINVAL (or -errno) and one line.
 */
VMM_API int vmm_restore_v(const struct vmm_config *cfg, unsigned version, const char *dir, struct vmm **out);
#define vmm_restore(cfg, dir, out) vmm_restore_v((cfg), VMM_CONFIG_VERSION, (dir), (out))
/* Feed bytes to the guest's serial console: returns how many were taken (0 when its buffer is full), or -EINVAL. */
VMM_API int vmm_console_input(struct vmm *vm, const void *buf, size_t len);
/* Feed bytes to the guest's hvc0 (config hvc, without hvc_io.fds): how many were taken, or -EINVAL. */
VMM_API int vmm_hvc_input(struct vmm *vm, const void *buf, size_t len);
/* The value the guest wrote to the debug-exit port (after VMM_EXIT_DEBUG), in *value. */
VMM_API int vmm_guest_exit_value(struct vmm *vm, uint32_t *value);
/*
 * Stop the VM if it runs, join its threads, free everything. A second call returns -EINVAL (as long as
 * no later vmm_create() has been given the same address).
 */
VMM_API int vmm_destroy(struct vmm *vm);

VMM_API const char *vmm_exit_reason_str(enum vmm_exit_reason reason);
VMM_API const char *vmm_event_str(enum vmm_event ev);
VMM_API const char *vmm_version(void);

#ifdef __cplusplus
}
#endif
#endif
