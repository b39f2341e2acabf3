// SPDX-License-Identifier: Apache-2.0
/*
 * vmm-vsock: the vsock test helper (busybox has no vsock). Built statically into the test guest
 * (tests/guest/build-assets.sh) and for the test host (tests/CMakeLists.txt), where it speaks the
 * host side of vmm's hybrid vsock over unix sockets.
 *   vmm-vsock listen PORT            guest: echo server on vsock PORT, forever; after each connection
 *                                    "ECHO-DONE <bytes>" on stdout
 *   vmm-vsock connect CID PORT       guest: connect to CID:PORT; stdin to the socket (then a
 *                                    half-close), the socket to stdout until it ends
 *   vmm-vsock uds-connect PATH PORT  host: "CONNECT PORT\n" on the unix socket PATH, wait for
 *                                    "OK <hostport>\n", then as connect; exit 1 when refused
 *   vmm-vsock uds-listen PATH        host: take one connection on the unix socket PATH and copy it to
 *                                    stdout until it ends
 * Exit status: 0, or 1 with a message on stderr.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

static char buf[1 << 16];

static int die(const char *what)
{
	fprintf(stderr, "vmm-vsock: %s: %s\n", what, strerror(errno));
	return 1;
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* stdin -> s (half-close at its end), s -> stdout until s ends; never blocks on one side only. */
static int relay(int s)
{
	static char out[1 << 16];
	size_t len = 0, off = 0;
	int in_open = 1;

	fcntl(s, F_SETFL, fcntl(s, F_GETFL) | O_NONBLOCK);
	for (;;) {
		struct pollfd p[2] = { { s, POLLIN | (off < len ? POLLOUT : 0), 0 }, { 0, POLLIN, 0 } };
		int np = in_open && off == len ? 2 : 1;

		if (poll(p, (nfds_t)np, -1) < 0) {
			if (errno == EINTR)
				continue;
			return die("poll");
		}
		if (np == 2 && (p[1].revents & (POLLIN | POLLHUP | POLLERR))) {
			ssize_t n = read(0, out, sizeof(out));

			if (n <= 0) {
				in_open = 0;
				shutdown(s, SHUT_WR);
			} else {
				len = (size_t)n;
				off = 0;
			}
		}
		if (off < len && (p[0].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t n = write(s, out + off, len - off);

			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return die("write to the socket");
			if (n > 0)
				off += (size_t)n;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = read(s, buf, sizeof(buf));

			if (n == 0)
				return 0;
			if (n < 0 && errno != EAGAIN && errno != EINTR)
				return die("read from the socket");
			if (n > 0 && write_all(1, buf, (size_t)n))
				return die("write to stdout");
		}
	}
}

static int echo(int c)
{
	unsigned long long total = 0;

	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		if (write_all(c, buf, (size_t)n))
			break;
		total += (unsigned long long)n;
	}
	close(c);
	printf("ECHO-DONE %llu\n", total);
	fflush(stdout);
	return 0;
}

static int vsock_listen(unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (s < 0)
		return die("socket(AF_VSOCK)");
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 16) < 0)
		return die("bind/listen");
	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int c = accept(s, NULL, NULL);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			return die("accept");
		}
		if (fork() == 0) {
			close(s);
			_exit(echo(c));
		}
		close(c);
	}
}

static int vsock_connect(unsigned cid, unsigned port)
{
	struct sockaddr_vm a = { .svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port };
	int s = socket(AF_VSOCK, SOCK_STREAM, 0);

	if (s < 0)
		return die("socket(AF_VSOCK)");
	if (connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return die("connect");
	return relay(s);
}

static int uds_socket(const char *path, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (strlen(path) >= sizeof(a->sun_path)) {
		fprintf(stderr, "vmm-vsock: path too long\n");
		return -1;
	}
	strcpy(a->sun_path, path);
	return socket(AF_UNIX, SOCK_STREAM, 0);
}

static int uds_connect(const char *path, unsigned port)
{
	struct sockaddr_un a;
	char line[64];
	size_t n = 0;
	int s = uds_socket(path, &a);

	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) < 0)
		return die("connect to the unix socket");
	snprintf(line, sizeof(line), "CONNECT %u\n", port);
	if (write_all(s, line, strlen(line)))
		return die("write CONNECT");
	while (n < sizeof(line) - 1) {
		ssize_t r = read(s, line + n, 1);

		if (r <= 0) {
			fprintf(stderr, "vmm-vsock: refused: the connection closed without OK\n");
			return 1;
		}
		if (line[n++] == '\n')
			break;
	}
	line[n] = '\0';
	if (strncmp(line, "OK ", 3) != 0) {
		fprintf(stderr, "vmm-vsock: unexpected answer '%s'\n", line);
		return 1;
	}
	fprintf(stderr, "vmm-vsock: %s", line);
	return relay(s);
}

static int uds_listen(const char *path)
{
	struct sockaddr_un a;
	int s = uds_socket(path, &a), c;

	if (s < 0)
		return die("socket");
	unlink(path);
	if (bind(s, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s, 4) < 0)
		return die("bind/listen");
	chmod(path, 0777); /* vmm may run as another user */
	c = accept(s, NULL, NULL);
	if (c < 0)
		return die("accept");
	for (;;) {
		ssize_t n = read(c, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return die("read");
		if (n == 0)
			return 0;
		if (write_all(1, buf, (size_t)n))
			return die("write to stdout");
	}
}

int main(int argc, char **argv)
{
	signal(SIGPIPE, SIG_IGN);
	if (argc == 3 && !strcmp(argv[1], "listen"))
		return vsock_listen((unsigned)strtoul(argv[2], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "connect"))
		return vsock_connect((unsigned)strtoul(argv[2], NULL, 0), (unsigned)strtoul(argv[3], NULL, 0));
	if (argc == 4 && !strcmp(argv[1], "uds-connect"))
		return uds_connect(argv[2], (unsigned)strtoul(argv[3], NULL, 0));
	if (argc == 3 && !strcmp(argv[1], "uds-listen"))
		return uds_listen(argv[2]);
	fprintf(stderr, "usage: vmm-vsock listen PORT | connect CID PORT | uds-connect PATH PORT | uds-listen PATH\n");
	return 1;
}
