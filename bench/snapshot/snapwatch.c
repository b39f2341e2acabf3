// SPDX-License-Identifier: Apache-2.0
// snapwatch: time one run of a VMM that restores (or boots) a guest, from process start to console
// markers and to exit; bench/boot/bootwatch.c extended for the snapshot benchmark.
//
//   snapwatch [-t SECONDS] [-o FILE] [-e FILE] [-m MARK] [-s] [-i TEXT [-w WAITFOR]]
//             [-q QMP_SOCKET -u URI] PATTERN -- CMD [ARGS...]
//
// Forks and execs CMD with stdout+stderr on one pipe (with -e, stderr on a pipe of its own, copied
// to that FILE) and stdin on /dev/null, or, with -i, on a pipe: TEXT and a newline are written to it
// once the substring WAITFOR has appeared on stdout (without -w: right after the fork); the pipe
// stays open until CMD exits. It reads the pipes until EOF (copying stdout to FILE with -o), notes
// (CLOCK_MONOTONIC, from the fork) when PATTERN first appears on stdout, and reaps CMD with wait4.
//
// With -q and -u (QEMU started with -incoming defer and -qmp unix:QMP_SOCKET,server=on,wait=off),
// it drives QEMU's restore the way a management tool does: connects to the QMP socket (retrying
// every millisecond until QEMU has made it), sends qmp_capabilities, turns on the "events"
// migration capability, migrate-incoming URI, waits for the MIGRATION event with status
// "completed", then sends "cont" (the guest was saved while paused).
//
// Prints one line:
//   result_ms=%.1f exit_ms=%.1f rss_kib=%ld status=%s user_ms=%.0f sys_ms=%.0f first_ms=%.1f exec_ms=%.1f
// then, as asked for: mark_ms (-m: MARK on stderr), wait_ms and input_ms (-w: WAITFOR seen, TEXT
// written), loaded_ms, cont_ms and qmp=ok|error:WHAT (-q), smaps_rss_kib, ram_rss_kib, ram_size_kib
// (-s: /proc/PID/smaps when PATTERN appeared: all Rss, and Rss and Size of the largest mapping).
// Times are from the fork; -1 when the event never came. result_ms: PATTERN; first_ms: the first
// byte on stdout; rss_kib: peak RSS (ru_maxrss); status: exit code, 128+N for signal N, or
// "timeout" after -t SECONDS (default 120; then SIGKILL). A bench tool, not part of libvmm.
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
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/un.h>
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
	fprintf(stderr, "usage: snapwatch [-t SECONDS] [-o FILE] [-e FILE] [-m MARK] [-s] [-i TEXT [-w WAITFOR]]\n"
			"                 [-q QMP_SOCKET -u URI] PATTERN -- CMD [ARGS...]\n");
	exit(2);
}

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

// A substring search across reads: the last (patlen - 1) bytes seen stay in front of new data.
struct matcher {
	const char *pat;
	size_t patlen;
	char *buf;
	size_t carry;
	bool found;
};

static int matcher_init(struct matcher *m, const char *pat)
{
	*m = (struct matcher){ .pat = pat, .patlen = strlen(pat) };
	m->buf = malloc(m->patlen + READ_CHUNK);
	return m->buf != NULL ? 0 : -1;
}

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

static void sample_smaps(pid_t pid, struct smaps_sample *s)
{
	char path[64], line[512];
	snprintf(path, sizeof(path), "/proc/%d/smaps", (int)pid);
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return;
	long total = 0, best_size = -1, best_rss = -1, v;
	bool cur_best = false;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Size: %ld kB", &v) == 1) {
			cur_best = v > best_size;
			if (cur_best)
				best_size = v;
		} else if (sscanf(line, "Rss: %ld kB", &v) == 1) {
			total += v;
			if (cur_best)
				best_rss = v;
		}
	}
	fclose(f);
	*s = (struct smaps_sample){ .rss_kib = total, .ram_rss_kib = best_rss, .ram_size_kib = best_size };
}

// The QMP conversation, one step per reply: greeting, capabilities, events on, migrate-incoming,
// the MIGRATION "completed" event, cont.
enum qmp_step { Q_OFF, Q_CONNECT, Q_GREETING, Q_CAPS, Q_EVENTS, Q_INCOMING, Q_LOADING, Q_CONT, Q_DONE, Q_FAILED };

struct qmp {
	enum qmp_step step;
	const char *path, *uri;
	int fd;
	char line[8192];
	size_t len;
	double t0, loaded_ms, cont_ms; // t0: the fork, as now_ms() gives it
	char err[64];
};

static void qmp_fail(struct qmp *q, const char *what)
{
	snprintf(q->err, sizeof(q->err), "%s", what);
	q->step = Q_FAILED;
}

static void qmp_send(struct qmp *q, const char *cmd)
{
	if (write_all(q->fd, cmd, strlen(cmd)) < 0)
		qmp_fail(q, "write");
}

static void qmp_try_connect(struct qmp *q)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", q->path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		qmp_fail(q, "socket");
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return; // not there yet
	}
	q->fd = fd;
	q->step = Q_GREETING;
}

// One complete line (a JSON message) from QEMU.
static void qmp_line(struct qmp *q, const char *l, double t)
{
	bool ret = strstr(l, "\"return\"") != NULL;
	if (strstr(l, "\"error\"") != NULL) {
		qmp_fail(q, q->step == Q_INCOMING ? "migrate-incoming" : "command");
		return;
	}
	switch (q->step) {
	case Q_GREETING:
		if (strstr(l, "\"QMP\"") != NULL) {
			qmp_send(q, "{\"execute\":\"qmp_capabilities\"}\n");
			q->step = q->step == Q_FAILED ? Q_FAILED : Q_CAPS;
		}
		break;
	case Q_CAPS:
		if (ret) {
			qmp_send(q, "{\"execute\":\"migrate-set-capabilities\",\"arguments\":{\"capabilities\":"
				    "[{\"capability\":\"events\",\"state\":true}]}}\n");
			q->step = q->step == Q_FAILED ? Q_FAILED : Q_EVENTS;
		}
		break;
	case Q_EVENTS:
		if (ret) {
			char cmd[1200];
			snprintf(cmd, sizeof(cmd), "{\"execute\":\"migrate-incoming\",\"arguments\":{\"uri\":\"%s\"}}\n", q->uri);
			qmp_send(q, cmd);
			q->step = q->step == Q_FAILED ? Q_FAILED : Q_INCOMING;
		}
		break;
	case Q_INCOMING:
	case Q_LOADING:
		if (ret && q->step == Q_INCOMING)
			q->step = Q_LOADING;
		if (strstr(l, "\"MIGRATION\"") != NULL) {
			if (strstr(l, "\"completed\"") != NULL) {
				q->loaded_ms = t;
				qmp_send(q, "{\"execute\":\"cont\"}\n");
				q->cont_ms = now_ms() - q->t0;
				q->step = q->step == Q_FAILED ? Q_FAILED : Q_CONT;
			} else if (strstr(l, "\"failed\"") != NULL) {
				qmp_fail(q, "migration-failed");
			}
		}
		break;
	case Q_CONT:
		if (ret)
			q->step = Q_DONE;
		break;
	default:
		break;
	}
}

static void qmp_read(struct qmp *q, double t)
{
	char buf[READ_CHUNK];
	ssize_t r = read(q->fd, buf, sizeof(buf));
	if (r <= 0) {
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			return;
		if (q->step != Q_DONE)
			qmp_fail(q, "closed");
		close(q->fd);
		q->fd = -1;
		return;
	}
	for (ssize_t i = 0; i < r && q->step != Q_FAILED; i++) {
		if (buf[i] == '\n') {
			q->line[q->len] = '\0';
			qmp_line(q, q->line, t);
			q->len = 0;
		} else if (q->len + 1 < sizeof(q->line)) {
			q->line[q->len++] = buf[i];
		}
	}
}

struct stream {
	int fd, outfd;
	bool eof, console;
	struct matcher *mark;
};

struct watch {
	double t0, result_ms, first_ms, mark_ms, wait_ms, input_ms;
	pid_t pid;
	bool smaps;
	struct matcher pat, mark, waitfor;
	const char *input;
	int infd; // the child's stdin (-i), or -1
	struct smaps_sample sm;
};

static void send_input(struct watch *w, double t)
{
	if (w->input == NULL || w->input_ms >= 0 || w->infd < 0)
		return;
	size_t n = strlen(w->input);
	char *s = malloc(n + 2);
	if (s == NULL)
		return;
	memcpy(s, w->input, n);
	s[n] = '\n';
	(void)write_all(w->infd, s, n + 1);
	free(s);
	w->input_ms = t;
}

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
		if (w->waitfor.pat != NULL && !w->waitfor.found && matcher_feed(&w->waitfor, data, len)) {
			w->wait_ms = t;
			send_input(w, now_ms() - w->t0);
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
		fprintf(stderr, "snapwatch: %s: %s\n", path, strerror(errno));
	return fd;
}

int main(int argc, char **argv)
{
	double timeout_s = 120;
	const char *outpath = NULL, *errpath = NULL, *markpat = NULL, *waitpat = NULL;
	struct watch w = { .result_ms = -1, .first_ms = -1, .mark_ms = -1, .wait_ms = -1, .input_ms = -1,
			   .infd = -1, .sm = { -1, -1, -1 } };
	struct qmp q = { .step = Q_OFF, .fd = -1, .loaded_ms = -1, .cont_ms = -1 };
	int opt;
	signal(SIGPIPE, SIG_IGN);
	while ((opt = getopt(argc, argv, "+t:o:e:m:si:w:q:u:h")) != -1) {
		switch (opt) {
		case 't': {
			char *end;
			timeout_s = strtod(optarg, &end);
			if (*end != '\0' || !(timeout_s > 0))
				usage();
			break;
		}
		case 'o': outpath = optarg; break;
		case 'e': errpath = optarg; break;
		case 'm': markpat = optarg; break;
		case 's': w.smaps = true; break;
		case 'i': w.input = optarg; break;
		case 'w': waitpat = optarg; break;
		case 'q': q.path = optarg; break;
		case 'u': q.uri = optarg; break;
		default: usage();
		}
	}
	if (argc - optind < 3 || strcmp(argv[optind + 1], "--") != 0 || (waitpat != NULL && w.input == NULL) ||
	    (q.path == NULL) != (q.uri == NULL) || (q.path != NULL && strlen(q.path) >= sizeof(((struct sockaddr_un *)0)->sun_path)))
		usage();
	char **cmd = &argv[optind + 2];
	if (matcher_init(&w.pat, argv[optind]) < 0 || (markpat != NULL && matcher_init(&w.mark, markpat) < 0) ||
	    (waitpat != NULL && matcher_init(&w.waitfor, waitpat) < 0)) {
		perror("snapwatch: malloc");
		return 2;
	}
	if (q.path != NULL)
		q.step = Q_CONNECT;
	double *exec_at = mmap(NULL, sizeof(double), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (exec_at == MAP_FAILED) {
		perror("snapwatch: mmap");
		return 2;
	}
	*exec_at = -1;

	struct stream st[2];
	int nst = errpath != NULL ? 2 : 1;
	int pfd[2][2], infd[2];
	for (int i = 0; i < nst; i++) {
		if (pipe2(pfd[i], O_CLOEXEC) < 0) {
			perror("snapwatch: pipe2");
			return 2;
		}
		st[i] = (struct stream){ .fd = pfd[i][0], .outfd = -1, .console = i == 0 };
	}
	st[nst - 1].mark = markpat != NULL ? &w.mark : NULL;
	if (outpath != NULL && (st[0].outfd = open_out(outpath)) < 0)
		return 2;
	if (errpath != NULL && (st[1].outfd = open_out(errpath)) < 0)
		return 2;
	if (w.input != NULL) {
		if (pipe2(infd, O_CLOEXEC) < 0) {
			perror("snapwatch: pipe2");
			return 2;
		}
	} else if ((infd[0] = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
		perror("snapwatch: /dev/null");
		return 2;
	}

	w.t0 = q.t0 = now_ms();
	pid_t pid = fork();
	if (pid < 0) {
		perror("snapwatch: fork");
		return 2;
	}
	if (pid == 0) {
		if (dup2(infd[0], STDIN_FILENO) < 0 || dup2(pfd[0][1], STDOUT_FILENO) < 0 ||
		    dup2(pfd[nst - 1][1], STDERR_FILENO) < 0)
			_exit(127);
		*exec_at = now_ms() - w.t0;
		execvp(cmd[0], cmd);
		dprintf(STDERR_FILENO, "snapwatch: exec %s: %s\n", cmd[0], strerror(errno));
		_exit(127);
	}
	w.pid = pid;
	for (int i = 0; i < nst; i++)
		close(pfd[i][1]);
	close(infd[0]);
	if (w.input != NULL) {
		w.infd = infd[1];
		if (waitpat == NULL)
			send_input(&w, now_ms() - w.t0);
	}
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
		if (q.step == Q_CONNECT && !exited)
			qmp_try_connect(&q);
		struct pollfd fds[4];
		int sidx[4];
		nfds_t nfds = 0;
		int pid_idx = -1, qmp_idx = -1;
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
		if (q.fd >= 0) {
			qmp_idx = (int)nfds;
			fds[nfds++] = (struct pollfd){ .fd = q.fd, .events = POLLIN };
		}
		if (nfds == 0) {
			if (wait4(pid, &wstatus, WNOHANG, &ru) == pid) {
				exit_ms = now_ms() - w.t0;
				exited = true;
			} else {
				nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
			}
			continue;
		}
		// While QEMU has not made its QMP socket yet, look again every millisecond.
		int tmo = q.step == Q_CONNECT ? 1 : (left > 1000 ? 1000 : (int)left + 1);
		int n = poll(fds, nfds, tmo);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("snapwatch: poll");
			break;
		}
		for (int k = 0; k < (int)nfds; k++) {
			if (k == pid_idx || k == qmp_idx || fds[k].revents == 0)
				continue;
			struct stream *s = &st[sidx[k]];
			ssize_t r = read(s->fd, chunk, sizeof(chunk));
			if (r > 0)
				take(&w, s, chunk, (size_t)r, now_ms() - w.t0);
			else if (r == 0 || (errno != EINTR && errno != EAGAIN))
				s->eof = true;
		}
		if (qmp_idx >= 0 && fds[qmp_idx].revents != 0)
			qmp_read(&q, now_ms() - w.t0);
		if (pid_idx >= 0 && fds[pid_idx].revents != 0) {
			if (wait4(pid, &wstatus, WNOHANG, &ru) == pid) {
				exit_ms = now_ms() - w.t0;
				exited = true;
			}
		}
		if (exited) {
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
	if (w.infd >= 0)
		close(w.infd);
	if (q.fd >= 0)
		close(q.fd);
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
	if (w.input != NULL)
		printf(" wait_ms=%.1f input_ms=%.1f", w.wait_ms, w.input_ms);
	if (q.step != Q_OFF)
		printf(" loaded_ms=%.1f cont_ms=%.1f qmp=%s%s", q.loaded_ms, q.cont_ms,
		       q.step == Q_DONE ? "ok" : "error:", q.step == Q_DONE ? "" : (q.err[0] ? q.err : "unfinished"));
	if (w.smaps)
		printf(" smaps_rss_kib=%ld ram_rss_kib=%ld ram_size_kib=%ld", w.sm.rss_kib, w.sm.ram_rss_kib,
		       w.sm.ram_size_kib);
	printf("\n");
	free(w.pat.buf);
	free(w.mark.buf);
	free(w.waitfor.buf);
	return 0;
}
