// SPDX-License-Identifier: Apache-2.0
/*
 * The system calls each kind of thread may make (seccomp_filter.h). The lists were built the way
 * issue 15 asks: every Linux case of the suite run with VMM_SECCOMP_LOG, the kernel's audit lines
 * (comm "vmm-KIND") collected, each call checked against the code that makes it. Arguments are
 * filtered where that is practical: ioctl takes only the KVM, tap and terminal requests vmm makes,
 * socket only unix and IP sockets, mmap and mprotect never make memory executable, and tgkill and
 * kill reach only this process.
 */
#define _GNU_SOURCE /* memfd_create */
#include "seccomp_filter.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/vhost.h>
#include <pthread.h>
#include <seccomp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

static const char *const kind_names[SECCOMP_KINDS] = {
	[SECCOMP_VCPU] = "vcpu",	     [SECCOMP_IO] = "io",	       [SECCOMP_SUPERVISOR] = "supervisor",
	[SECCOMP_NET_POLL] = "net-poll", [SECCOMP_CLI_MAIN] = "main", [SECCOMP_CLI_SIGNAL] = "signals",
};

const char *seccomp_kind_name(enum seccomp_kind kind)
{
	return (unsigned)kind < SECCOMP_KINDS ? kind_names[kind] : "?";
}

/* Every thread: memory, locks, time, its own fds, logging, leaving. */
static const int base_calls[] = {
	SCMP_SYS(read),		   SCMP_SYS(write),	      SCMP_SYS(readv),	     SCMP_SYS(writev),
	SCMP_SYS(pread64),	   SCMP_SYS(pwrite64),	      SCMP_SYS(close),	     SCMP_SYS(lseek),
	SCMP_SYS(fstat),	   SCMP_SYS(newfstatat),      SCMP_SYS(poll),	     SCMP_SYS(ppoll),
	SCMP_SYS(futex),	   SCMP_SYS(brk),	      SCMP_SYS(munmap),	     SCMP_SYS(mremap),
	SCMP_SYS(madvise),	   SCMP_SYS(clock_gettime),   SCMP_SYS(clock_getres), SCMP_SYS(gettimeofday),
	SCMP_SYS(clock_nanosleep), SCMP_SYS(nanosleep),	      SCMP_SYS(sched_yield), SCMP_SYS(getpid),
	SCMP_SYS(gettid),	   SCMP_SYS(getrandom),	      SCMP_SYS(rt_sigprocmask), SCMP_SYS(rt_sigreturn),
	SCMP_SYS(restart_syscall), SCMP_SYS(exit),	      SCMP_SYS(exit_group),
};

/*
 * vCPUs: KVM_RUN, and what their exits start: interrupt routes and doorbells (eventfds, KVM ioctls),
 * a NIC's offloads (tap ioctls), a vhost-user device's start and stop (its socket's messages).
 */
static const int vcpu_calls[] = {
	SCMP_SYS(eventfd2), SCMP_SYS(fcntl), SCMP_SYS(sendmsg), SCMP_SYS(recvmsg),
	SCMP_SYS(rt_sigtimedwait), /* a kick that arrived outside KVM_RUN is taken (vcpu.c) */
};

/* The I/O thread: io_uring; libslirp's, vsock's and vhost-user's sockets; snapshot files. */
static const int io_calls[] = {
	SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register), SCMP_SYS(eventfd2),	   SCMP_SYS(timerfd_create),
	SCMP_SYS(timerfd_settime), SCMP_SYS(timerfd_gettime), SCMP_SYS(connect),	   SCMP_SYS(bind),
	SCMP_SYS(listen),	   SCMP_SYS(accept),	      SCMP_SYS(accept4),	   SCMP_SYS(setsockopt),
	SCMP_SYS(getsockopt),	   SCMP_SYS(getsockname),     SCMP_SYS(getpeername),	   SCMP_SYS(shutdown),
	SCMP_SYS(sendto),	   SCMP_SYS(recvfrom),	      SCMP_SYS(sendmsg),	   SCMP_SYS(recvmsg),
	SCMP_SYS(fcntl),	   SCMP_SYS(dup),	      SCMP_SYS(openat),		   SCMP_SYS(mkdirat),
	SCMP_SYS(mkdir),	   SCMP_SYS(unlink),	      SCMP_SYS(unlinkat),	   SCMP_SYS(rename),
	SCMP_SYS(renameat),	   SCMP_SYS(renameat2),	      SCMP_SYS(ftruncate),	   SCMP_SYS(fallocate),
	SCMP_SYS(fsync),	   SCMP_SYS(fdatasync),	      SCMP_SYS(fstatfs),	   SCMP_SYS(getdents64),
};

/* The supervisor (timeouts and stops: kicking the vCPUs, waking the I/O thread) needs nothing more. */

/*
 * The user-mode NIC's poller only polls. It is started with the VM, before the vmm command's --user
 * drop, which glibc carries out in every thread (its setxid broadcast: each thread makes the calls
 * itself), so it takes part in that.
 */
static const int net_poll_calls[] = {
	SCMP_SYS(setgroups), SCMP_SYS(setresgid), SCMP_SYS(setresuid),
};

/* The vmm command's main thread once the guest runs: it waits, tears the VM down, restores the terminal. */
static const int main_calls[] = {
	SCMP_SYS(io_uring_enter), SCMP_SYS(unlink),    SCMP_SYS(unlinkat), SCMP_SYS(shutdown),
	SCMP_SYS(sendmsg),	  SCMP_SYS(recvmsg),   SCMP_SYS(fsync),	   SCMP_SYS(fdatasync),
	SCMP_SYS(fcntl),	  SCMP_SYS(eventfd2),
};

/* The vmm command's signal thread: stop requests and snapshots (SIGUSR1, --snapshot-dir). */
static const int signal_calls[] = {
	SCMP_SYS(io_uring_enter), SCMP_SYS(openat),    SCMP_SYS(mkdirat), SCMP_SYS(mkdir),   SCMP_SYS(unlink),
	SCMP_SYS(unlinkat),	  SCMP_SYS(rename),    SCMP_SYS(renameat), SCMP_SYS(renameat2), SCMP_SYS(ftruncate),
	SCMP_SYS(fallocate),	  SCMP_SYS(fsync),     SCMP_SYS(fdatasync), SCMP_SYS(fcntl),   SCMP_SYS(sendmsg),
	SCMP_SYS(recvmsg),	  SCMP_SYS(eventfd2),
};

#ifdef SECCOMP_SANITIZED
/* ASan's and LSan's runtime: reports (symbolizing reads /proc), and the leak check at exit (ptrace). */
static const int sanitizer_calls[] = {
	SCMP_SYS(clone),      SCMP_SYS(clone3),	   SCMP_SYS(ptrace),	 SCMP_SYS(wait4),      SCMP_SYS(waitid),
	SCMP_SYS(prctl),      SCMP_SYS(sigaltstack), SCMP_SYS(rt_sigaction), SCMP_SYS(openat),  SCMP_SYS(open),
	SCMP_SYS(readlink),   SCMP_SYS(readlinkat), SCMP_SYS(getdents), SCMP_SYS(getdents64), SCMP_SYS(sched_getaffinity),
	SCMP_SYS(pipe2),      SCMP_SYS(dup),	   SCMP_SYS(dup2),	 SCMP_SYS(dup3),       SCMP_SYS(uname),
	SCMP_SYS(getrlimit),  SCMP_SYS(prlimit64), SCMP_SYS(setrlimit),	 SCMP_SYS(access),     SCMP_SYS(faccessat),
	SCMP_SYS(getppid),    SCMP_SYS(mmap),	   SCMP_SYS(mprotect),
};
#endif

/* The ioctl requests vmm makes once the VM is running (creation happens before any filter). */
static const unsigned long ioctls[] = {
	KVM_RUN,	  KVM_IRQ_LINE,	   KVM_SIGNAL_MSI,     KVM_IRQFD,	  KVM_IOEVENTFD,
	KVM_SET_GSI_ROUTING, KVM_CHECK_EXTENSION, KVM_GET_MP_STATE, KVM_SET_MP_STATE, KVM_GET_CLOCK, KVM_SET_CLOCK,
	KVM_SET_SIGNAL_MASK, KVM_SET_USER_MEMORY_REGION,
#if defined(__x86_64__)
	/* The vCPU and VM state of a snapshot (x86/vcpu_state.c), registers after a crash. */
	KVM_GET_REGS,	  KVM_SET_REGS,	   KVM_GET_SREGS,      KVM_SET_SREGS,	  KVM_GET_FPU,	  KVM_SET_FPU,
	KVM_GET_XSAVE,	  KVM_GET_XSAVE2,  KVM_SET_XSAVE,      KVM_GET_XCRS,	  KVM_SET_XCRS,	  KVM_GET_MSRS,
	KVM_SET_MSRS,	  KVM_GET_LAPIC,   KVM_SET_LAPIC,      KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, KVM_GET_IRQCHIP, KVM_SET_IRQCHIP,	  KVM_GET_PIT2,	  KVM_SET_PIT2,
	KVM_GET_TSC_KHZ,  KVM_SET_TSC_KHZ, KVM_GET_MSR_INDEX_LIST,
#elif defined(__aarch64__)
	/* Registers after a crash, and the vCPU and GICv3 state of a snapshot (arm64/machine.c, arm64/vgic.c). */
	KVM_GET_ONE_REG,  KVM_SET_ONE_REG, KVM_GET_REG_LIST, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	KVM_GET_DEVICE_ATTR, KVM_SET_DEVICE_ATTR,
#endif
	TUNSETOFFLOAD,	  TUNSETVNETHDRSZ,
	/* vhost-net, handed the rings at each activation (vhost_net.c); the fds are opened at set-up. */
	VHOST_SET_FEATURES, VHOST_SET_MEM_TABLE, VHOST_SET_VRING_NUM, VHOST_SET_VRING_ADDR, VHOST_SET_VRING_BASE,
	VHOST_GET_VRING_BASE, VHOST_SET_VRING_KICK, VHOST_SET_VRING_CALL, VHOST_NET_SET_BACKEND,
	TCGETS,		  TCSETS,	   TCSETSW,	       TCSETSF,		  TIOCGWINSZ,
	FIONBIO,	  FIONREAD,
};

static int add_all(scmp_filter_ctx ctx, const int *calls, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, calls[i], 0);

		if (ret)
			return ret;
	}
	return 0;
}

#define ADD_ALL(ctx, list) add_all((ctx), (list), sizeof(list) / sizeof((list)[0]))

/* What each kind may call besides base_calls and the checked calls (the supervisor: nothing). */
#define LIST(l) { (l), sizeof(l) / sizeof((l)[0]) }
static const struct {
	const int *calls;
	size_t n;
} kind_calls[SECCOMP_KINDS] = {
	[SECCOMP_VCPU] = LIST(vcpu_calls),	   [SECCOMP_IO] = LIST(io_calls),
	[SECCOMP_NET_POLL] = LIST(net_poll_calls), [SECCOMP_CLI_MAIN] = LIST(main_calls),
	[SECCOMP_CLI_SIGNAL] = LIST(signal_calls),
};
#undef LIST

/* Argument n equals v (libseccomp's SCMP_An() leaves datum_b out, which clang warns about). */
#define ARG_EQ(n, v) ((struct scmp_arg_cmp){ .arg = (n), .op = SCMP_CMP_EQ, .datum_a = (scmp_datum_t)(v), .datum_b = 0 })

/* The calls whose arguments are checked: ioctl's request, socket's domain, no executable memory, signals to ourselves. */
static int add_checked(scmp_filter_ctx ctx, enum seccomp_kind kind)
{
	pid_t self = getpid();
	int ret = 0;

	/* Memory is never made executable after start (the sanitizers' runtime is allowed all of mmap). */
	ret = ret ? ret : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mmap), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	ret = ret ? ret : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(mprotect), 1, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals only within this process (a vCPU kick, abort()). */
	ret = ret ? ret : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(tgkill), 1, ARG_EQ(0, self));
	ret = ret ? ret : seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(kill), 1, ARG_EQ(0, self));
	if (kind != SECCOMP_NET_POLL)
		for (size_t i = 0; !ret && i < sizeof(ioctls) / sizeof(ioctls[0]); i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
					       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, (scmp_datum_t)(uint32_t)ioctls[i]));
	if (kind == SECCOMP_IO) {
		/* libslirp's sockets, vsock's and vhost-user's unix sockets: never netlink, packet or raw ones. */
		static const int domains[] = { AF_UNIX, AF_INET, AF_INET6 };

		for (size_t i = 0; !ret && i < sizeof(domains) / sizeof(domains[0]); i++)
			ret = seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(socket), 1, ARG_EQ(0, domains[i]));
	}
	return ret;
}

static int build_one(enum seccomp_kind kind, uint32_t action, struct sock_fprog *out)
{
	scmp_filter_ctx ctx = seccomp_init(action);
	int fd = -1, ret;
	off_t len;

	if (!ctx)
		return -ENOMEM;
	/* We load the program ourselves (seccomp_thread_enter), for one thread at a time. */
	ret = ADD_ALL(ctx, base_calls);
	if (!ret)
		ret = add_checked(ctx, kind);
	if (!ret)
		ret = add_all(ctx, kind_calls[kind].calls, kind_calls[kind].n);
#ifdef SECCOMP_SANITIZED
	ret = ret ? ret : ADD_ALL(ctx, sanitizer_calls);
#endif
	/* libseccomp 2.5 exports to a file descriptor only: a memfd, read back. */
	if (!ret) {
		fd = memfd_create("vmm-seccomp", MFD_CLOEXEC);
		ret = fd < 0 ? -errno : seccomp_export_bpf(ctx, fd);
	}
	if (!ret) {
		len = lseek(fd, 0, SEEK_END);
		if (len <= 0 || len % sizeof(struct sock_filter) || len / sizeof(struct sock_filter) > BPF_MAXINSNS)
			ret = -E2BIG;
	}
	if (!ret) {
		out->filter = malloc((size_t)len);
		out->len = (unsigned short)(len / sizeof(struct sock_filter));
		if (!out->filter)
			ret = -ENOMEM;
		else if (pread(fd, out->filter, (size_t)len, 0) != len)
			ret = -EIO;
	}
	if (ret) {
		free(out->filter);
		out->filter = NULL;
		out->len = 0;
	}
	if (fd >= 0)
		close(fd);
	seccomp_release(ctx);
	return ret;
}

int seccomp_set_build(struct seccomp_set *s, int mode, unsigned kinds, const struct vlog *log)
{
	uint32_t action;
	int ret;

	memset(s, 0, sizeof(*s));
	switch (mode) {
	case VMM_SECCOMP_OFF:
		return 0;
	case VMM_SECCOMP_KILL:
		action = SCMP_ACT_KILL_PROCESS;
		break;
	case VMM_SECCOMP_TRAP:
		action = SCMP_ACT_TRAP;
		break;
	case VMM_SECCOMP_LOG:
		action = SCMP_ACT_LOG;
		break;
	default:
		vlog_err(log, "seccomp mode %d is not one of VMM_SECCOMP_OFF, _KILL, _TRAP or _LOG", mode);
		return -EINVAL;
	}
	/* PR_GET_SECCOMP fails with EINVAL on a kernel built without seccomp. */
	if (prctl(PR_GET_SECCOMP, 0, 0, 0, 0) < 0) {
		vlog_err(log, "this kernel has no seccomp filters (%s): run without them (--seccomp=off)", strerror(errno));
		return -ENOTSUP;
	}
	s->mode = mode;
	for (unsigned k = 0; k < SECCOMP_KINDS; k++) {
		if (!(kinds & (1u << k)))
			continue;
		ret = build_one((enum seccomp_kind)k, action, &s->prog[k]);
		if (ret) {
			vlog_err(log, "cannot build the seccomp filter of the %s thread: %s", kind_names[k], strerror(-ret));
			seccomp_set_free(s);
			return ret;
		}
	}
	return 0;
}

void seccomp_set_free(struct seccomp_set *s)
{
	for (unsigned k = 0; k < SECCOMP_KINDS; k++) {
		free(s->prog[k].filter);
		s->prog[k].filter = NULL;
		s->prog[k].len = 0;
	}
	s->mode = VMM_SECCOMP_OFF;
}

static __thread char thread_name[16];

const char *seccomp_thread_name(void)
{
	return thread_name[0] ? thread_name : "vmm";
}

int seccomp_thread_enter(const struct seccomp_set *s, enum seccomp_kind kind, const char *name,
			 const struct vlog *log)
{
	if (name) {
		snprintf(thread_name, sizeof(thread_name), "vmm-%s", name);
		prctl(PR_SET_NAME, thread_name, 0, 0, 0);
	} else {
		snprintf(thread_name, sizeof(thread_name), "vmm (%s)", seccomp_kind_name(kind));
	}
	if (!s || s->mode == VMM_SECCOMP_OFF || (unsigned)kind >= SECCOMP_KINDS || !s->prog[kind].filter)
		return 0;
	if (s->mode == VMM_SECCOMP_TRAP) {
		sigset_t sys;

		sigemptyset(&sys);
		sigaddset(&sys, SIGSYS);
		pthread_sigmask(SIG_UNBLOCK, &sys, NULL);
	}
	/* No new privileges for this thread (required to load a filter without CAP_SYS_ADMIN). */
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &s->prog[kind]) < 0) {
		int err = errno;

		vlog_err(log, "cannot load the seccomp filter of thread %s: %s", thread_name, strerror(err));
		return -err;
	}
	return 0;
}
