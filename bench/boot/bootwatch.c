// SPDX-License-Identifier: Apache-2.0
// bootwatch: time one run of a VMM from process start to a console marker and to exit.
//
//   bootwatch [-t SECONDS] [-o FILE] [-e FILE] [-m MARK] [-s] PATTERN -- CMD [ARGS...]
//
// Forks and execs CMD with stdin on /dev/null and stdout+stderr on one pipe (with -e, stderr on a
// second pipe of its own, copied to that FILE), reads the pipes until EOF (copying stdout to FILE
// with -o), notes (CLOCK_MONOTONIC) when PATTERN, a plain substring, first appears on stdout (also
// when a read splits it), and reaps CMD with wait4. Prints one line:
//
//   result_ms=%.1f exit_ms=%.1f rss_kib=%ld status=%d user_ms=%.0f sys_ms=%.0f
//
// result_ms is -1 when PATTERN never appeared; rss_kib is the child's peak RSS (ru_maxrss), user_ms
// and sys_ms the CPU time it used (all from wait4's rusage);
// status is CMD's exit code, 128+N when signal N killed it, or "timeout" when it ran longer than
// -t SECONDS (default 120), in which case it is killed with SIGKILL. Exit status: 0 when a line was
// printed, 2 on usage or set-up errors. A bench tool, not part of libvmm.
//
// The line goes on with first_ms=%.1f (start to the first console byte; -1 when none came) and
// exec_ms=%.1f (start to the child's execvp call); with -m, mark_ms=%.1f: start to the first
// appearance of the substring MARK on stderr (on the one pipe without -e; -1 when it never came),
// e.g. a VMM's log line for its first KVM_RUN, as late as this process read it; with -s,
// smaps_rss_kib=N ram_rss_kib=N ram_size_kib=N: /proc/PID/smaps of CMD read when PATTERN appeared,
// the Rss of all its mappings, and Rss and Size of its largest mapping (the guest RAM of a VMM);
// total Rss minus the guest RAM's Rss is the VMM's own memory (-1 when not sampled).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define READ_CHUNK 4096

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double tv_ms(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

static void usage(void)
{
	fprintf(stderr, "usage: bootwatch [-t SECONDS] [-o FILE] [-e FILE] [-m MARK] [-s] PATTERN -- CMD [ARGS...]\n");
	exit(2);
}

// A pidfd becomes readable when the child exits, so poll() sees the exit even if a grandchild
// keeps the pipe open. -1 on kernels without pidfd_open (then EOF on the pipe stands for the exit).
static int open_pidfd(pid_t pid)
{
#ifdef SYS_pidfd_open
	return (int)syscall(SYS_pidfd_open, pid, 0);
#else
	(void)pid;
	errno = ENOSYS;
	return -1;
#endif
}

// Substring search across reads: the last (patlen - 1) bytes seen are kept in front of new data.
struct matcher {
	const char *pat;
	size_t patlen;
	char *buf; // carry + one read
	size_t carry;
	bool found;
};

static bool matcher_feed(struct matcher *m, const char *data, size_t len)
{
	if (m->found || m->patlen == 0)
		return m->found = true;
	memcpy(m->buf + m->carry, data, len);
	size_t n = m->carry + len;
	if (memmem(m->buf, n, m->pat, m->patlen) != NULL)
		return m->found = true;
	size_t keep = m->patlen - 1 < n ? m->patlen - 1 : n;
	memmove(m->buf, m->buf + n - keep, keep);
	m->carry = keep;
	return false;
}

struct smaps_sample {
	long rss_kib, ram_rss_kib, ram_size_kib;
};

// Sums Rss over /proc/PID/smaps and notes Size and Rss of the largest mapping.
static void sample_smaps(pid_t pid, struct smaps_sample *s)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return;
	long total = 0, size = 0, best_size = -1, best_rss = -1, v;
	bool cur_best = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Size: %ld kB", &v) == 1) {
			size = v;
			cur_best = size > best_size;
			if (cur_best)
				best_size = size;
		} else if (sscanf(line, "Rss: %ld kB", &v) == 1) {
			total += v;
			if (cur_best)
				best_rss = v;
		}
	}
	fclose(f);
	*s = (struct smaps_sample){ .rss_kib = total, .ram_rss_kib = best_rss, .ram_size_kib = best_size };
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

// One pipe from the child: stdout (with the console and, without -e, stderr too) or stderr alone.
struct stream {
	int fd;               // read end
	int outfd;            // copy of what came, or -1
	bool eof;
	bool console;         // stdout: first_ms and PATTERN
	struct matcher *mark; // -m MARK on this pipe, or NULL
};

struct watch {
	double t0, result_ms, first_ms, mark_ms;
	pid_t pid;
	bool smaps;
	struct matcher pat, mark;
	struct smaps_sample sm;
};

// Takes one read's worth of a stream; t is its time since the start.
static void take(struct watch *w, struct stream *s, const char *data, size_t len, double t)
{
	if (s->console) {
		if (w->first_ms < 0)
			w->first_ms = t;
		if (!w->pat.found && matcher_feed(&w->pat, data, len)) {
			w->result_ms = t;
			if (w->smaps)
				sample_smaps(w->pid, &w->sm);
		}
	}
	if (s->mark != NULL && !s->mark->found && matcher_feed(s->mark, data, len))
		w->mark_ms = t;
	if (s->outfd >= 0)
		(void)write_all(s->outfd, data, len);
}

static int open_out(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		fprintf(stderr, "bootwatch: %s: %s\n", path, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	double timeout_s = 120;
	const char *outpath = NULL, *errpath = NULL, *markpat = NULL;
	struct watch w = { .result_ms = -1, .first_ms = -1, .mark_ms = -1, .sm = { -1, -1, -1 } };
	int opt;
	while ((opt = getopt(argc, argv, "+t:o:e:m:sh")) != -1) {
		switch (opt) {
		case 't': {
			char *end;
			timeout_s = strtod(optarg, &end);
			if (*end != '\0' || !(timeout_s > 0))
				usage();
			break;
		}
		case 'o':
			outpath = optarg;
			break;
		case 'e':
			errpath = optarg;
			break;
		case 'm':
			markpat = optarg;
			break;
		case 's':
			w.smaps = true;
			break;
		default:
			usage();
		}
	}
	if (argc - optind < 3 || strcmp(argv[optind + 1], "--") != 0)
		usage();
	const char *pattern = argv[optind];
	char **cmd = &argv[optind + 2];

	w.pat = (struct matcher){ .pat = pattern, .patlen = strlen(pattern) };
	w.pat.buf = malloc(w.pat.patlen + READ_CHUNK);
	if (markpat != NULL) {
		w.mark = (struct matcher){ .pat = markpat, .patlen = strlen(markpat) };
		w.mark.buf = malloc(w.mark.patlen + READ_CHUNK);
	}
	if (w.pat.buf == NULL || (markpat != NULL && w.mark.buf == NULL)) {
		perror("bootwatch: malloc");
		return 2;
	}
	// The child notes when it calls execvp here (a shared page survives the fork).
	double *exec_at = mmap(NULL, sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (exec_at == MAP_FAILED) {
		perror("bootwatch: mmap");
		return 2;
	}
	*exec_at = -1;

	struct stream st[2];
	int nst = errpath != NULL ? 2 : 1;
	int pfd[2][2];
	for (int i = 0; i < nst; i++) {
		if (pipe2(pfd[i], O_CLOEXEC) < 0) {
			perror("bootwatch: pipe2");
			return 2;
		}
		st[i] = (struct stream){ .fd = pfd[i][0], .outfd = -1, .console = i == 0 };
	}
	st[nst - 1].mark = markpat != NULL ? &w.mark : NULL;
	if (outpath != NULL && (st[0].outfd = open_out(outpath)) < 0)
		return 2;
	if (errpath != NULL && (st[1].outfd = open_out(errpath)) < 0)
		return 2;
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (devnull < 0) {
		perror("bootwatch: /dev/null");
		return 2;
	}

	w.t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("bootwatch: fork");
		return 2;
	}
	if (pid == 0) {
		if (dup2(devnull, STDIN_FILENO) < 0 || dup2(pfd[0][1], STDOUT_FILENO) < 0 ||
		    dup2(pfd[nst - 1][1], STDERR_FILENO) < 0)
			_exit(127);
		*exec_at = now_ms() - w.t0;
		execvp(cmd[0], cmd);
		dprintf(STDERR_FILENO, "bootwatch: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	w.pid = pid;
	for (int i = 0; i < nst; i++)
		close(pfd[i][1]);
	close(devnull);
	int pidfd = open_pidfd(pid);

	double exit_ms = -1;
	bool exited = false, timed_out = false;
	int wstatus = 0;
	struct rusage ru = { 0 };
	char chunk[READ_CHUNK];
	for (;;) {
		bool all_eof = true;
		for (int i = 0; i < nst; i++)
			all_eof = all_eof && st[i].eof;
		if (all_eof && exited)
			break;
		double left = timeout_s * 1e3 - (now_ms() - w.t0);
		if (left <= 0) {
			timed_out = true;
			break;
		}
		struct pollfd fds[3];
		int sidx[3];
		nfds_t nfds = 0;
		int pid_idx = -1;
		for (int i = 0; i < nst; i++) {
			if (!st[i].eof) {
				sidx[nfds] = i;
				fds[nfds++] = (struct pollfd){ .fd = st[i].fd, .events = POLLIN };
			}
		}
		if (!exited && pidfd >= 0) {
			pid_idx = (int)nfds;
			fds[nfds++] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		}
		if (nfds == 0) {
			// EOF and no pidfd: poll for the exit every millisecond, still under the timeout.
			if (wait4(pid, &wstatus, WNOHANG, &ru) == pid) {
				exit_ms = now_ms() - w.t0;
				exited = true;
			} else {
				nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
			}
			continue;
		}
		int n = poll(fds, nfds, left > 1000 ? 1000 : (int)left + 1);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("bootwatch: poll");
			break;
		}
		for (int k = 0; k < (int)nfds; k++) {
			if (k == pid_idx || fds[k].revents == 0)
				continue;
			struct stream *s = &st[sidx[k]];
			ssize_t r = read(s->fd, chunk, sizeof(chunk));
			if (r > 0)
				take(&w, s, chunk, (size_t)r, now_ms() - w.t0);
			else if (r == 0 || (errno != EINTR && errno != EAGAIN))
				s->eof = true;
		}
		if (pid_idx >= 0 && fds[pid_idx].revents != 0) {
			if (wait4(pid, &wstatus, WNOHANG, &ru) == pid) {
				exit_ms = now_ms() - w.t0;
				exited = true;
			}
		}
		if (exited) {
			// Whatever is still in the pipes was written before the exit; drain it, but do not
			// wait for grandchildren that may hold a pipe open.
			for (int i = 0; i < nst; i++) {
				ssize_t r;
				if (st[i].eof)
					continue;
				fcntl(st[i].fd, F_SETFL, O_NONBLOCK);
				while ((r = read(st[i].fd, chunk, sizeof(chunk))) > 0)
					take(&w, &st[i], chunk, (size_t)r, now_ms() - w.t0);
				st[i].eof = true;
			}
		}
	}
	if (timed_out) {
		kill(pid, SIGKILL);
		while (wait4(pid, &wstatus, 0, &ru) < 0 && errno == EINTR)
			;
	}
	for (int i = 0; i < nst; i++)
		if (st[i].outfd >= 0)
			close(st[i].outfd);

	char status[32];
	if (timed_out)
		snprintf(status, sizeof(status), "timeout");
	else if (WIFEXITED(wstatus))
		snprintf(status, sizeof(status), "%d", WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(status, sizeof(status), "%d", 128 + WTERMSIG(wstatus));
	else
		snprintf(status, sizeof(status), "unknown");
	printf("result_ms=%.1f exit_ms=%.1f rss_kib=%ld status=%s user_ms=%.0f sys_ms=%.0f first_ms=%.1f exec_ms=%.1f",
	       w.result_ms, exit_ms, ru.ru_maxrss, status, tv_ms(ru.ru_utime), tv_ms(ru.ru_stime), w.first_ms, *exec_at);
	if (markpat != NULL)
		printf(" mark_ms=%.1f", w.mark_ms);
	if (w.smaps)
		printf(" smaps_rss_kib=%ld ram_rss_kib=%ld ram_size_kib=%ld", w.sm.rss_kib, w.sm.ram_rss_kib,
		       w.sm.ram_size_kib);
	printf("\n");

	free(w.pat.buf);
	free(w.mark.buf);
	return 0;
}
