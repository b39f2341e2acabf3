// SPDX-License-Identifier: Apache-2.0
/*
 * pty-run: run a command on a fresh pseudo-terminal, as a person at a shell would, type some keys
 * once its output shows a string, and check it leaves the terminal as it found it.
 *
 * usage: pty-run TIMEOUT_S EXPECT KEYS [EXPECT KEYS]... -- CMD [ARG...]
 *   once the output so far contains EXPECT, type KEYS (then wait for the next EXPECT, searched
 *   after the previous one); in both, "\xNN" is the byte NN (e.g. "\x01x" is Ctrl-A x). KEYS
 *   "HANGUP" closes the terminal instead (the command gets SIGHUP; its settings are not checked then)
 * Prints everything the command wrote. Exit status: the command's (or 128 + its signal), 124 when
 * it did not end within TIMEOUT_S (it is killed), 125 on a set-up error, 126 when the terminal's
 * settings after the command differ from those before it (raw mode not undone).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

static size_t unescape(const char *in, char *out)
{
	size_t n = 0;

	while (*in) {
		if (in[0] == '\\' && in[1] == 'x' && in[2] && in[3]) {
			char hex[3] = { in[2], in[3], 0 };

			out[n++] = (char)strtol(hex, NULL, 16);
			in += 4;
		} else {
			out[n++] = *in++;
		}
	}
	return n;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static bool same_termios(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag && a->c_cflag == b->c_cflag &&
	       a->c_lflag == b->c_lflag && !memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc));
}

int main(int argc, char **argv)
{
	static char seen[1 << 20];
	char keys[256];
	size_t nkeys, nseen = 0, from = 0;
	struct termios before, after;
	double deadline;
	int master, slave, status = 0, npairs = 0, next = 0, cmd = 0;
	bool hung_up = false;
	pid_t pid;

	for (int i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			cmd = i + 1;
			break;
		}
		if (strlen(argv[i]) >= sizeof(keys)) {
			fprintf(stderr, "pty-run: '%s' is too long\n", argv[i]);
			return 125;
		}
	}
	npairs = (cmd - 3) / 2;
	if (argc < 2 || cmd <= 2 || cmd >= argc || (cmd - 3) % 2) {
		fprintf(stderr, "usage: pty-run TIMEOUT_S EXPECT KEYS [EXPECT KEYS]... -- CMD [ARG...]\n");
		return 125;
	}
	deadline = now_s() + atof(argv[1]);
	if (openpty(&master, &slave, NULL, NULL, NULL) < 0 || tcgetattr(slave, &before) < 0) {
		perror("pty-run: openpty");
		return 125;
	}
	pid = fork();
	if (pid < 0) {
		perror("pty-run: fork");
		return 125;
	}
	if (pid == 0) {
		/* The pty becomes the command's controlling terminal and its stdin, stdout and stderr. */
		setsid();
		ioctl(slave, TIOCSCTTY, 0);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		close(master);
		if (slave > 2)
			close(slave);
		execvp(argv[cmd], argv + cmd);
		perror("pty-run: exec");
		_exit(125);
	}
	for (;;) {
		struct pollfd p = { .fd = master, .events = POLLIN };
		pid_t w = waitpid(pid, &status, WNOHANG);
		char buf[4096];
		ssize_t r;

		if (w == pid)
			break;
		if (now_s() > deadline) {
			fprintf(stderr, "pty-run: '%s' still runs after %s s; killing it\n", argv[cmd], argv[1]);
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return 124;
		}
		if (hung_up) {
			usleep(100 * 1000);
			continue;
		}
		if (poll(&p, 1, 100) > 0) {
			r = read(master, buf, sizeof(buf));
			if (r > 0) {
				fwrite(buf, 1, (size_t)r, stdout);
				fflush(stdout);
				if (nseen + (size_t)r < sizeof(seen) - 1) {
					memcpy(seen + nseen, buf, (size_t)r);
					nseen += (size_t)r;
					seen[nseen] = 0;
				}
			}
		}
		if (next < npairs) {
			char want[256];
			size_t nwant = unescape(argv[2 + 2 * next], want);
			char *at = memmem(seen + from, nseen - from, want, nwant);

			if (at && !strcmp(argv[3 + 2 * next], "HANGUP")) {
				/* The terminal goes away: the session leader gets SIGHUP, its writes EIO. */
				close(slave);
				close(master);
				hung_up = true;
				next++;
				continue;
			}
			if (at) {
				nkeys = unescape(argv[3 + 2 * next], keys);
				if (write(master, keys, nkeys) != (ssize_t)nkeys) {
					perror("pty-run: write");
					kill(pid, SIGKILL);
					return 125;
				}
				from = (size_t)(at - seen) + nwant;
				next++;
			}
		}
	}
	if (hung_up)
		return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	if (tcgetattr(slave, &after) < 0) {
		perror("pty-run: tcgetattr");
		return 125;
	}
	if (!same_termios(&before, &after)) {
		fprintf(stderr, "pty-run: the terminal's settings were not restored (lflag %#x -> %#x)\n",
			(unsigned)before.c_lflag, (unsigned)after.c_lflag);
		return 126;
	}
	if (next < npairs)
		fprintf(stderr, "pty-run: '%s' never appeared\n", argv[2 + 2 * next]);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
