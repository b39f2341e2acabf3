// SPDX-License-Identifier: Apache-2.0
/*
 * For direct.seccomp and net-seccomp (LD_PRELOAD into vmm): the clock read behind the guest's RTC
 * first opens a socket, a call the vCPU filter does not list: on x86 gmtime_r(), which the CMOS RTC
 * calls on the vCPU thread that reads it; on arm64 clock_gettime(CLOCK_REALTIME) on a vCPU thread (one
 * that has called KVM_RUN), which the PL031 makes. A real vmm binary then meets a forbidden call exactly where a compromised
 * vCPU thread would make one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void forbidden_call(void)
{
	long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);

	if (fd >= 0)
		close((int)fd);
}

#if defined(__aarch64__)
/* A thread that has run KVM_RUN is a vCPU thread (prctl(PR_GET_NAME) is itself outside its list). */
static __thread int vcpu_thread;

int ioctl(int fd, unsigned long req, ...)
{
	static int (*real)(int, unsigned long, ...);
	va_list ap;
	void *arg;

	va_start(ap, req);
	arg = va_arg(ap, void *);
	va_end(ap);
	if (req == KVM_RUN)
		vcpu_thread = 1;
	if (!real)
		real = (int (*)(int, unsigned long, ...))dlsym(RTLD_NEXT, "ioctl");
	return real ? real(fd, req, arg) : -1;
}

int clock_gettime(clockid_t clk, struct timespec *ts)
{
	static int (*real)(clockid_t, struct timespec *);

	if (clk == CLOCK_REALTIME && vcpu_thread)
		forbidden_call();
	if (!real)
		real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
	return real ? real(clk, ts) : -1;
}
#endif

struct tm *gmtime_r(const time_t *t, struct tm *out)
{
	static struct tm *(*real)(const time_t *, struct tm *);

	forbidden_call();
	if (!real)
		real = (struct tm * (*)(const time_t *, struct tm *)) dlsym(RTLD_NEXT, "gmtime_r");
	return real ? real(t, out) : NULL;
}
