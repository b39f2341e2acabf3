// SPDX-License-Identifier: Apache-2.0
#include "cli/term.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* Process-wide by nature: there is one controlling terminal, and a signal handler must find it. */
static struct termios saved;
static volatile sig_atomic_t raw_fd = -1;

void term_restore(void)
{
	int fd = raw_fd;

	if (fd >= 0) {
		tcsetattr(fd, TCSAFLUSH, &saved);
		raw_fd = -1;
	}
}

bool term_is_raw(void)
{
	return raw_fd >= 0;
}

static void fatal_signal(int sig)
{
	term_restore();
	/* SA_RESETHAND restored the default action: die of the same signal. */
	raise(sig);
}

int term_raw(int fd)
{
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT };
	struct termios t;
	struct sigaction sa;

	if (tcgetattr(fd, &saved) < 0)
		return -errno;
	t = saved;
	cfmakeraw(&t);
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(fd, TCSAFLUSH, &t) < 0)
		return -errno;
	raw_fd = fd;
	atexit(term_restore);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = fatal_signal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
	return 0;
}
