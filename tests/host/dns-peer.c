// SPDX-License-Identifier: Apache-2.0
/*
 * dns-peer ADDR PORT NAME IPV4: a tiny DNS server for the user-net case (tests/integration/cases/
 * user_net.sh). It answers UDP queries on ADDR:PORT: an A query for NAME gets IPV4, anything else
 * NXDOMAIN. The case points the test host's /etc/resolv.conf at it, so the guest's query to slirp's
 * resolver (10.0.2.3) has a known answer. Prints one line per query on stdout; runs until killed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* The query's first name as dotted text in out; the offset just past it, or 0 when malformed. */
static size_t qname(const uint8_t *p, size_t n, size_t at, char *out, size_t outlen)
{
	size_t o = 0;

	while (at < n && p[at]) {
		size_t l = p[at++];

		if (l > 63 || at + l > n || o + l + 2 > outlen)
			return 0;
		if (o)
			out[o++] = '.';
		for (size_t i = 0; i < l; i++)
			out[o++] = (char)tolower(p[at + i]);
		at += l;
	}
	out[o] = 0;
	return at < n ? at + 1 : 0;
}

int main(int argc, char **argv)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	struct in_addr answer;
	int fd;

	if (argc != 5 || inet_pton(AF_INET, argv[1], &sa.sin_addr) != 1 || inet_pton(AF_INET, argv[4], &answer) != 1) {
		fprintf(stderr, "usage: dns-peer ADDR PORT NAME IPV4\n");
		return 2;
	}
	sa.sin_port = htons((uint16_t)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("dns-peer: bind");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		uint8_t q[512], r[512 + 16];
		struct sockaddr_in from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		char name[256];
		size_t end;
		uint16_t qtype;
		bool hit;

		if (n < 12 || (q[2] & 0x80) || q[4] != 0 || q[5] != 1)
			continue; /* not a query with one question */
		end = qname(q, (size_t)n, 12, name, sizeof(name));
		if (!end || end + 4 > (size_t)n)
			continue;
		qtype = (uint16_t)(q[end] << 8 | q[end + 1]);
		end += 4;
		hit = !strcasecmp(name, argv[3]) && qtype == 1;
		memcpy(r, q, end);
		r[2] = 0x84 | (q[2] & 0x01); /* a response, authoritative, RD echoed */
		r[3] = hit ? 0x00 : 0x03;    /* NOERROR or NXDOMAIN */
		r[6] = 0, r[7] = hit;        /* answers */
		r[8] = r[9] = r[10] = r[11] = 0;
		if (hit) {
			const uint8_t rr[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };

			memcpy(r + end, rr, sizeof(rr));
			memcpy(r + end + sizeof(rr), &answer, 4);
			end += sizeof(rr) + 4;
		}
		printf("dns-peer: %s type %u from %s: %s\n", name, qtype, inet_ntoa(from.sin_addr), hit ? argv[4] : "NXDOMAIN");
		sendto(fd, r, end, 0, (struct sockaddr *)&from, fl);
	}
}
