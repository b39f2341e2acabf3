// SPDX-License-Identifier: Apache-2.0
/*
 * For direct.seccomp only (LD_PRELOAD into vmm): gmtime_r(), which the RTC calls on the vCPU thread
 * that reads it, first opens a socket, a call the vCPU filter does not list. A real vmm binary
 * then meets a forbidden call exactly where a compromised vCPU thread would make one.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

struct tm *gmtime_r(const time_t *t, struct tm *out)
{
	static struct tm *(*real)(const time_t *, struct tm *);
	long fd = syscall(SYS_socket, AF_INET, SOCK_DGRAM, 0);

	if (fd >= 0)
		close((int)fd);
	if (!real)
		real = (struct tm * (*)(const time_t *, struct tm *)) dlsym(RTLD_NEXT, "gmtime_r");
	return real ? real(t, out) : NULL;
}
