/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A seccomp filter per thread kind (issue 15): each of the VMM's threads allows only the system calls
 * that kind of thread makes. The filters are built once (libseccomp, on the thread that creates the
 * VM) and each thread loads its own at its start, for itself only: a filter never reaches a thread
 * the library did not start, so an embedding application's threads are untouched.
 */
#ifndef VMM_SECCOMP_FILTER_H
#define VMM_SECCOMP_FILTER_H

#include <linux/filter.h>

#include "log.h"

/*
 * Defined in an ASan build: every filter then also allows the sanitizer runtime's own calls (its
 * reports, and the leak check's tracer at exit), mmap and mprotect unchecked among them.
 */
#if defined(__SANITIZE_ADDRESS__)
#define SECCOMP_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SECCOMP_SANITIZED 1
#endif
#endif

enum seccomp_kind {
	SECCOMP_VCPU,       /* a vCPU: KVM_RUN and the device emulation of its exits */
	SECCOMP_IO,         /* the I/O thread: io_uring, the backends, snapshots */
	SECCOMP_SUPERVISOR, /* the library's timeout and stop watcher */
	SECCOMP_NET_POLL,   /* the user-mode NIC's poller: poll() on libslirp's sockets */
	SECCOMP_CLI_MAIN,   /* the vmm command's main thread once the VM runs: wait, tear down, exit */
	SECCOMP_CLI_SIGNAL, /* the vmm command's signal thread: signalfd, stop and snapshot requests */
	SECCOMP_KINDS
};

/* What a forbidden call does (VMM_SECCOMP_* of include/vmm/vmm.h): 0 no filter. */
struct seccomp_set {
	int mode;
	struct sock_fprog prog[SECCOMP_KINDS];
};

/*
 * Build the filters of the given kinds (a bit mask of 1u << kind) for mode (VMM_SECCOMP_*; OFF
 * builds nothing). 0, or -errno and one line: an unknown mode, or a kernel without seccomp filters.
 */
int seccomp_set_build(struct seccomp_set *s, int mode, unsigned kinds, const struct vlog *log);
void seccomp_set_free(struct seccomp_set *s);

/*
 * In a new thread, first thing: name it (comm "vmm-NAME", what ps, top -H and the kernel's seccomp
 * audit lines show; name NULL keeps the thread's comm, for a process's main thread), then load its
 * kind's filter when s has one. With VMM_SECCOMP_TRAP, SIGSYS is
 * unblocked in the thread, so the application's handler (the vmm command's) runs instead of the
 * kernel killing the process silently. 0, or -errno and one line.
 */
int seccomp_thread_enter(const struct seccomp_set *s, enum seccomp_kind kind, const char *name,
			 const struct vlog *log);

/* The name seccomp_thread_enter() gave the calling thread ("vmm-io"...; "vmm" before any). Async-signal-safe. */
const char *seccomp_thread_name(void);

/* "vcpu", "io", ... */
const char *seccomp_kind_name(enum seccomp_kind kind);

#endif
