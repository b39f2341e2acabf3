// SPDX-License-Identifier: Apache-2.0
/*
 * The far end of `vmm --net stream=PATH` for the Linux case net-stream: listens on the unix stream
 * socket PATH and bridges each connection (QEMU "stream" framing: a 4-byte big-endian length, then
 * the Ethernet frame) to tap TAP (made here, IFF_NO_PI, no virtio-net header), whose host end the
 * case configures like the tap cases'. Connections are served one after another until killed.
 *
 *   net-stream-peer PATH TAP
 *
 * Prints one line per connection and what it carried, and refuses a bad length from vmm (exit 1).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_FRAME (65535 + 14)

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t k = write(fd, p, n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int open_tap(const char *name)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		perror("net-stream-peer: /dev/net/tun");
		exit(1);
	}
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		perror("net-stream-peer: TUNSETIFF");
		exit(1);
	}
	return fd;
}

/* Bridge one connection until it closes. 0 when it closed cleanly, -1 on a protocol error. */
static int serve(int c, int tap)
{
	static uint8_t in[4 + MAX_FRAME + 65536], out[4 + MAX_FRAME];
	size_t have = 0;
	unsigned long rx = 0, tx = 0;

	for (;;) {
		struct pollfd p[2] = { { .fd = c, .events = POLLIN }, { .fd = tap, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (p[1].revents & POLLIN) { /* the host's frame to vmm */
			ssize_t n = read(tap, out + 4, MAX_FRAME);

			if (n > 0) {
				out[0] = (uint8_t)(n >> 24);
				out[1] = (uint8_t)(n >> 16);
				out[2] = (uint8_t)(n >> 8);
				out[3] = (uint8_t)n;
				if (write_all(c, out, (size_t)n + 4) < 0) {
					printf("net-stream-peer: connection gone while writing (%lu frames in, %lu out)\n", rx, tx);
					return 0;
				}
				tx++;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) { /* vmm's frames to the host */
			ssize_t n = read(c, in + have, sizeof(in) - have);
			size_t at = 0;

			if (n <= 0) {
				printf("net-stream-peer: connection closed (%lu frames in, %lu out)\n", rx, tx);
				return 0;
			}
			have += (size_t)n;
			while (have - at >= 4) {
				uint32_t len = (uint32_t)in[at] << 24 | (uint32_t)in[at + 1] << 16 | (uint32_t)in[at + 2] << 8 |
					       in[at + 3];

				if (len == 0 || len > MAX_FRAME) {
					printf("net-stream-peer: vmm sent a frame length of %u\n", len);
					return -1;
				}
				if (have - at < 4 + (size_t)len)
					break;
				/* A frame the tap refuses (e.g. while it is down) is dropped, as on a wire. */
				if (write(tap, in + at + 4, len) < 0 && errno != EIO)
					perror("net-stream-peer: tap write");
				rx++;
				at += 4 + len;
			}
			memmove(in, in + at, have - at);
			have -= at;
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l, tap;

	if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: net-stream-peer PATH TAP\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGPIPE, SIG_IGN);
	tap = open_tap(argv[2]);
	strcpy(sa.sun_path, argv[1]);
	unlink(argv[1]);
	l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0) {
		perror("net-stream-peer: listen");
		return 1;
	}
	printf("net-stream-peer: listening on %s, bridging to tap %s\n", argv[1], argv[2]);
	for (;;) {
		int c = accept4(l, NULL, NULL, SOCK_CLOEXEC);

		if (c < 0) {
			if (errno == EINTR)
				continue;
			perror("net-stream-peer: accept");
			return 1;
		}
		printf("net-stream-peer: connected\n");
		if (serve(c, tap) < 0)
			return 1;
		close(c);
	}
}
