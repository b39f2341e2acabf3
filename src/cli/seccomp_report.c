// SPDX-License-Identifier: Apache-2.0
/* The SIGSYS handler of the vmm command (seccomp_report.h). */
#include "cli/seccomp_report.h"

#include <errno.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/term.h"
#include "seccomp_filter.h"

#define NAMES 512 /* x86_64 numbers its system calls below this */

static char names[NAMES][24];

/* Append s to buf at *at (async-signal-safe). */
static void put(char *buf, size_t size, size_t *at, const char *s)
{
	while (*s && *at + 1 < size)
		buf[(*at)++] = *s++;
}

static void put_num(char *buf, size_t size, size_t *at, long v)
{
	char digits[24];
	int n = 0;
	unsigned long u = v < 0 ? 0ul - (unsigned long)v : (unsigned long)v;

	if (v < 0)
		put(buf, size, at, "-");
	do {
		digits[n++] = (char)('0' + u % 10);
		u /= 10;
	} while (u && n < (int)sizeof(digits));
	while (n && *at + 1 < size)
		buf[(*at)++] = digits[--n];
}

static void on_sigsys(int sig, siginfo_t *si, void *uc)
{
	char line[200];
	size_t at = 0;
	long nr = si->si_syscall;

	(void)sig;
	(void)uc;
	put(line, sizeof(line), &at, "vmm: seccomp: thread ");
	put(line, sizeof(line), &at, seccomp_thread_name());
	put(line, sizeof(line), &at, " made system call ");
	put_num(line, sizeof(line), &at, nr);
	put(line, sizeof(line), &at, " (");
	put(line, sizeof(line), &at, nr >= 0 && nr < NAMES && names[nr][0] ? names[nr] : "?");
	put(line, sizeof(line), &at, "), which its filter forbids; stopping");
	put(line, sizeof(line), &at, term_is_raw() ? "\r\n" : "\n");
	if (write(STDERR_FILENO, line, at) < 0) {
		/* nothing more can be said */
	}
	term_restore();
	_exit(SECCOMP_REPORT_EXIT);
}

int seccomp_report_install(void)
{
	struct sigaction sa;

	for (int i = 0; i < NAMES; i++) {
		char *n = seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, i);

		if (n) {
			strncpy(names[i], n, sizeof(names[i]) - 1);
			free(n);
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigsys;
	sa.sa_flags = SA_SIGINFO;
	sigfillset(&sa.sa_mask);
	return sigaction(SIGSYS, &sa, NULL) < 0 ? -errno : 0;
}
