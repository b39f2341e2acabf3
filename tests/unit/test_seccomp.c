// SPDX-License-Identifier: Apache-2.0
/*
 * The per-thread seccomp filters (src/seccomp_filter.c), loaded for real in a forked child: what a
 * kind of thread may do works, what it may not is stopped as the mode says (KILL: the process dies
 * of SIGSYS; TRAP: a SIGSYS handler sees the call's number; LOG: the call goes through), and the
 * argument checks hold (ioctl requests, socket domains, executable memory, signals to other
 * processes). The Linux case seccomp-audit checks the lists against a whole guest run.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "seccomp_filter.h"
#include "unit.h"

static struct vlog quiet = { .level = VMM_LOG_ERROR };

typedef int (*probe_fn)(void);

static int gp[2] = { -1, -1 }; /* a pipe made before the filter (pipe2 is on no list) */

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	_exit(100 + (si->si_syscall & 0x7f) % 100); /* 100..199: trapped, and which call */
}

/*
 * Fork; the child loads kind's filter in mode, runs probe and exits with its result (0..99). The
 * parent's view: the exit code, or 1000 + the signal that killed it.
 */
static int in_child(int mode, enum seccomp_kind kind, probe_fn probe)
{
	struct seccomp_set s;
	pid_t pid;
	int st;

	ck_assert_int_eq(pipe(gp), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		/* Built here: the filters name this process (tgkill and kill reach only it). */
		if (seccomp_set_build(&s, mode, 1u << kind, &quiet))
			_exit(97);
		if (mode == VMM_SECCOMP_TRAP) {
			struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO };

			sigaction(SIGSYS, &sa, NULL);
		}
		if (seccomp_thread_enter(&s, kind, "test", &quiet))
			_exit(98);
		_exit(probe());
	}
	close(gp[0]);
	close(gp[1]);
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : WEXITSTATUS(st);
}

static int probe_basics(void)
{
	struct timespec ts;
	char b = 'x';
	void *m;

	if (write(gp[1], &b, 1) != 1 || read(gp[0], &b, 1) != 1)
		return 2;
	if (clock_gettime(CLOCK_MONOTONIC, &ts) || syscall(SYS_getpid) <= 0)
		return 3;
	m = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || munmap(m, 65536))
		return 4;
	free(malloc(1 << 20)); /* malloc's own mmap/brk */
	close(gp[0]);
	return 0;
}

static int probe_socket_inet(void)
{
	int fd = (int)syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);

	return fd >= 0 ? 0 : 5;
}

static int probe_socket_unix(void)
{
	int fd = (int)syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0);

	return fd >= 0 ? 0 : 6;
}

static int probe_socket_netlink(void)
{
	syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0);
	return 0; /* reached only if allowed */
}

/* KVM_RUN on a fd that is not a vCPU: allowed by the filter, refused by the kernel. */
static int probe_kvm_run(void)
{
	return ioctl(0, KVM_RUN, 0) < 0 && (errno == EBADF || errno == ENOTTY || errno == EINVAL) ? 0 : 7;
}

/* TIOCSTI (push bytes into a terminal's input) is nothing vmm does. */
static int probe_tiocsti(void)
{
	char c = 'x';

	ioctl(0, TIOCSTI, &c);
	return 0;
}

static int probe_exec_memory(void)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return 0;
}

static int probe_kill_other(void)
{
	syscall(SYS_tgkill, 1, 1, 0); /* signal 0 to init: a probe, harmless if it went through */
	return 0;
}

static int probe_kill_self(void)
{
	return syscall(SYS_tgkill, getpid(), syscall(SYS_gettid), 0) == 0 ? 0 : 8;
}

static int probe_execve(void)
{
	char *argv[] = { "true", NULL };

	execve("/bin/true", argv, NULL);
	return 9;
}

START_TEST(off_builds_nothing)
{
	struct seccomp_set s;

	ck_assert_int_eq(seccomp_set_build(&s, VMM_SECCOMP_OFF, ~0u, &quiet), 0);
	for (int k = 0; k < SECCOMP_KINDS; k++)
		ck_assert_ptr_null(s.prog[k].filter);
	ck_assert_int_eq(seccomp_set_build(&s, 7, ~0u, &quiet), -EINVAL);
	ck_assert_int_eq(seccomp_set_build(&s, -1, ~0u, &quiet), -EINVAL);
	ck_assert_int_eq(in_child(VMM_SECCOMP_OFF, SECCOMP_NET_POLL, probe_execve), 0); /* /bin/true ran */
}
END_TEST

START_TEST(every_kind_lives)
{
	for (int k = 0; k < SECCOMP_KINDS; k++)
		ck_assert_msg(in_child(VMM_SECCOMP_KILL, (enum seccomp_kind)k, probe_basics) == 0, "kind %s",
			      seccomp_kind_name((enum seccomp_kind)k));
}
END_TEST

START_TEST(kill_mode_kills)
{
	/* The poller may not open sockets or exec; the I/O thread may open unix and IP sockets only. */
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_NET_POLL, probe_socket_unix), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_NET_POLL, probe_execve), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_IO, probe_socket_unix), 0);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_IO, probe_socket_inet), 0);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_IO, probe_socket_netlink), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_VCPU, probe_socket_inet), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_IO, probe_execve), 1000 + SIGSYS);
}
END_TEST

START_TEST(ioctl_requests)
{
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_VCPU, probe_kvm_run), 0);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_VCPU, probe_tiocsti), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_CLI_MAIN, probe_tiocsti), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_NET_POLL, probe_kvm_run), 1000 + SIGSYS);
}
END_TEST

START_TEST(signals_stay_home)
{
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_SUPERVISOR, probe_kill_self), 0);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_SUPERVISOR, probe_kill_other), 1000 + SIGSYS);
}
END_TEST

START_TEST(no_executable_memory)
{
#ifdef SECCOMP_SANITIZED
	/* The sanitizers' runtime is allowed all of mmap (seccomp_filter.c): nothing to check here. */
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_IO, probe_exec_memory), 0);
#else
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_IO, probe_exec_memory), 1000 + SIGSYS);
	ck_assert_int_eq(in_child(VMM_SECCOMP_KILL, SECCOMP_VCPU, probe_exec_memory), 1000 + SIGSYS);
#endif
}
END_TEST

START_TEST(trap_mode_names_the_call)
{
	ck_assert_int_eq(in_child(VMM_SECCOMP_TRAP, SECCOMP_NET_POLL, probe_socket_unix), 100 + SYS_socket % 100);
	ck_assert_int_eq(in_child(VMM_SECCOMP_TRAP, SECCOMP_IO, probe_socket_netlink), 100 + SYS_socket % 100);
	ck_assert_int_eq(in_child(VMM_SECCOMP_TRAP, SECCOMP_VCPU, probe_tiocsti), 100 + SYS_ioctl % 100);
}
END_TEST

START_TEST(log_mode_allows)
{
	ck_assert_int_eq(in_child(VMM_SECCOMP_LOG, SECCOMP_NET_POLL, probe_socket_unix), 0);
	ck_assert_int_eq(in_child(VMM_SECCOMP_LOG, SECCOMP_IO, probe_socket_netlink), 0);
}
END_TEST

START_TEST(thread_names)
{
	ck_assert_str_eq(seccomp_kind_name(SECCOMP_IO), "io");
	ck_assert_str_eq(seccomp_kind_name(SECCOMP_KINDS), "?");
	ck_assert_int_eq(seccomp_thread_enter(NULL, SECCOMP_IO, "io", &quiet), 0);
	ck_assert_str_eq(seccomp_thread_name(), "vmm-io");
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("seccomp");
	TCase *tc = tcase_create("filters");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, off_builds_nothing);
	tcase_add_test(tc, every_kind_lives);
	tcase_add_test(tc, kill_mode_kills);
	tcase_add_test(tc, ioctl_requests);
	tcase_add_test(tc, signals_stay_home);
	tcase_add_test(tc, no_executable_memory);
	tcase_add_test(tc, trap_mode_names_the_call);
	tcase_add_test(tc, log_mode_allows);
	tcase_add_test(tc, thread_names);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return unit_run(suite());
}
