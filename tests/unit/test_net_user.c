// SPDX-License-Identifier: Apache-2.0
/*
 * The user-mode network backend (src/net_user.c) without a guest: frames handed to tx_write reach
 * libslirp on its own thread and its answers come back through rx_peek (ARP for the gateway, a DHCP
 * offer of 10.0.2.15); hostile frames (empty, too long, random bytes, truncated headers) are refused
 * or dropped and the stack still answers; a guest that takes nothing cannot make the backend hold
 * more than its ring; bad forwards fail with -errno and one line.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "net_user.h"
#include "slirp_lib.h"
#include "unit.h"
#include "virtio/net.h"
#include "virtq_driver.h"

#include <endian.h>
#include <linux/virtio_net.h>

static atomic_int log_lines;
static char last_msg[512];

static void log_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	if (level <= VMM_LOG_WARN) {
		atomic_fetch_add(&log_lines, 1);
		snprintf(last_msg, sizeof(last_msg), "%s", msg);
	}
	if (getenv("NU_DEBUG"))
		fprintf(stderr, "log: %s\n", msg);
}

static const struct vlog lg = { .fn = log_msg, .level = VMM_LOG_DEBUG };
static const uint8_t GUEST_MAC[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };

static struct net_backend *open_user(const struct vmm_net *n)
{
	struct net_backend *b = NULL;

	ck_assert_int_eq(net_user_open(n, &lg, NULL, &b), 0);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(b->ops->fd(b, 0), -1); /* a copying backend */
	ck_assert_uint_eq(b->offloads, (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM));
	ck_assert_uint_eq(b->mtu, NET_USER_MTU);
	return b;
}

/* Send frame (12 zero bytes of virtio-net header first, as the device hands it over). */
static int send_frame(struct net_backend *b, const uint8_t *frame, size_t len)
{
	uint8_t hdr[12] = { 0 };
	struct iovec iov[2] = { { hdr, sizeof(hdr) }, { (void *)frame, len } };

	return b->ops->tx_write(b, iov, 2, sizeof(hdr));
}

static size_t arp_request(uint8_t *f, const char *target)
{
	struct in_addr src, dst;

	inet_pton(AF_INET, "10.0.2.15", &src);
	inet_pton(AF_INET, target, &dst);
	memset(f, 0xff, 6);
	memcpy(f + 6, GUEST_MAC, 6);
	f[12] = 0x08, f[13] = 0x06;                           /* ARP */
	f[14] = 0, f[15] = 1, f[16] = 0x08, f[17] = 0;         /* Ethernet, IPv4 */
	f[18] = 6, f[19] = 4, f[20] = 0, f[21] = 1;            /* sizes, request */
	memcpy(f + 22, GUEST_MAC, 6);
	memcpy(f + 28, &src, 4);
	memset(f + 32, 0, 6);
	memcpy(f + 38, &dst, 4);
	memset(f + 42, 0, 18); /* padded to 60 */
	return 60;
}

/* Wait up to ms for a frame for the guest that satisfies want(); count the others in *other. */
static bool wait_frame(struct net_backend *b, bool (*want)(const uint8_t *, size_t), int ms, unsigned *other)
{
	for (int t = 0; t < ms; t++) {
		const uint8_t *d;
		size_t len;

		while ((len = b->ops->rx_peek(b, &d)) > 0) {
			bool hit = want(d, len);

			b->ops->rx_consume(b);
			if (hit)
				return true;
			if (other)
				(*other)++;
		}
		usleep(1000);
	}
	return false;
}

static bool is_arp_reply_for_gw(const uint8_t *d, size_t len)
{
	struct in_addr gw;

	inet_pton(AF_INET, "10.0.2.2", &gw);
	return len >= 42 && d[12] == 0x08 && d[13] == 0x06 && d[21] == 2 && !memcmp(d + 28, &gw, 4) &&
	       !memcmp(d, GUEST_MAC, 6);
}

START_TEST(arp_for_the_gateway)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct net_backend *b = open_user(&n);
	uint8_t f[64];

	ck_assert_int_eq(send_frame(b, f, arp_request(f, "10.0.2.2")), 0);
	ck_assert(wait_frame(b, is_arp_reply_for_gw, 3000, NULL));
	ck_assert(b->ops->link_up(b));
	b->ops->close(b);
}
END_TEST

/* A DHCP DISCOVER from the guest's MAC; the offer must be 10.0.2.15 from 10.0.2.2. */
static size_t dhcp_discover(uint8_t *f)
{
	uint8_t *ip = f + 14, *udp = ip + 20, *bp = udp + 8;
	size_t bplen = 240 + 4, iplen, sum = 0;

	memset(f, 0, 14 + 20 + 8 + bplen);
	memset(f, 0xff, 6);
	memcpy(f + 6, GUEST_MAC, 6);
	f[12] = 0x08;
	bp[0] = 1, bp[1] = 1, bp[2] = 6;                 /* BOOTREQUEST, Ethernet */
	bp[4] = 0x12, bp[5] = 0x34, bp[6] = 0x56, bp[7] = 0x78; /* xid */
	memcpy(bp + 28, GUEST_MAC, 6);
	bp[236] = 99, bp[237] = 130, bp[238] = 83, bp[239] = 99; /* magic cookie */
	bp[240] = 53, bp[241] = 1, bp[242] = 1;          /* DHCPDISCOVER */
	bp[243] = 255;
	udp[0] = 0, udp[1] = 68, udp[2] = 0, udp[3] = 67;
	udp[4] = (uint8_t)((8 + bplen) >> 8), udp[5] = (uint8_t)(8 + bplen); /* checksum 0: none */
	iplen = 20 + 8 + bplen;
	ip[0] = 0x45, ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen, ip[8] = 64, ip[9] = 17;
	memset(ip + 16, 0xff, 4); /* to 255.255.255.255 from 0.0.0.0 */
	for (int i = 0; i < 20; i += 2)
		sum += (size_t)(ip[i] << 8 | ip[i + 1]);
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	ip[10] = (uint8_t)(~sum >> 8), ip[11] = (uint8_t)~sum;
	return 14 + iplen;
}

static bool is_offer(const uint8_t *d, size_t len)
{
	const uint8_t *bp = d + 14 + 20 + 8;
	struct in_addr yi;

	inet_pton(AF_INET, "10.0.2.15", &yi);
	return len >= 14 + 20 + 8 + 240 && d[12] == 0x08 && d[23] == 17 && bp[0] == 2 && !memcmp(bp + 16, &yi, 4) &&
	       bp[4] == 0x12 && bp[7] == 0x78;
}

START_TEST(dhcp_offers_10_0_2_15)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct net_backend *b = open_user(&n);
	uint8_t f[400];

	ck_assert_int_eq(send_frame(b, f, dhcp_discover(f)), 0);
	ck_assert(wait_frame(b, is_offer, 3000, NULL));
	b->ops->close(b);
}
END_TEST

START_TEST(hostile_frames)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct net_backend *b = open_user(&n);
	static uint8_t big[70000];
	uint8_t f[1600];
	unsigned seed = 12345;

	/* Only a header, and more than the largest Ethernet frame: refused before the stack sees them. */
	ck_assert_int_eq(send_frame(b, f, 0), -EMSGSIZE);
	ck_assert_int_eq(send_frame(b, big, sizeof(big)), -EMSGSIZE);
	/* Random bytes of every length, and truncated ARP/IP/DHCP frames: the stack drops them. */
	for (unsigned i = 0; i < 3000; i++) {
		size_t len = 1 + (seed = seed * 1103515245 + 12345) % sizeof(f);

		for (size_t k = 0; k < len; k++)
			f[k] = (uint8_t)((seed = seed * 1103515245 + 12345) >> 16);
		if (i % 3 == 0) {
			size_t full = i % 2 ? dhcp_discover(f) : arp_request(f, "10.0.2.2");

			len = 1 + i % full;
		}
		while (send_frame(b, f, len) == -ENOBUFS)
			usleep(100); /* the slirp thread drains the ring */
		if (i % 64 == 0) {
			const uint8_t *d;

			while (b->ops->rx_peek(b, &d))
				b->ops->rx_consume(b);
		}
	}
	/* Still answering. */
	ck_assert_int_eq(send_frame(b, f, arp_request(f, "10.0.2.2")), 0);
	ck_assert(wait_frame(b, is_arp_reply_for_gw, 3000, NULL));
	b->ops->close(b);
}
END_TEST

/* A guest that never takes a frame: what waits for it is bounded by the ring, and it goes on afterwards. */
START_TEST(guest_takes_nothing)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct net_backend *b = open_user(&n);
	uint8_t f[64];
	size_t len = arp_request(f, "10.0.2.2");
	unsigned waiting = 0, other = 0;
	const uint8_t *d;

	for (unsigned i = 0; i < 20000; i++)
		while (send_frame(b, f, len) == -ENOBUFS)
			usleep(100);
	usleep(300000);
	while (b->ops->rx_peek(b, &d)) {
		waiting++;
		b->ops->rx_consume(b);
	}
	/* 20000 replies of 64-byte records do not fit in the ring: some were dropped, none overran it. */
	ck_assert_uint_gt(waiting, 1000);
	ck_assert_uint_le(waiting, NET_USER_RING / 64);
	ck_assert_int_eq(send_frame(b, f, len), 0);
	ck_assert(wait_frame(b, is_arp_reply_for_gw, 3000, &other));
	b->ops->close(b);
}
END_TEST

START_TEST(forwards)
{
	struct vmm_hostfwd fwd[2] = { { .host_port = 0, .guest_port = 80 } };
	struct vmm_net n = { .backend = VMM_NET_USER, .hostfwd = fwd, .nhostfwd = 1 };
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	struct net_backend *b = NULL;
	int busy;

	/* Port 0 and a bad address: -EINVAL and one line each. */
	atomic_store(&log_lines, 0);
	ck_assert_int_eq(net_user_open(&n, &lg, NULL, &b), -EINVAL);
	ck_assert_ptr_null(b);
	fwd[0].host_port = 1234;
	fwd[0].host_addr = "10.0.2";
	ck_assert_int_eq(net_user_open(&n, &lg, NULL, &b), -EINVAL);
	ck_assert_int_eq(atomic_load(&log_lines), 2);
	/* A port another socket holds. */
	busy = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_ge(busy, 0);
	ck_assert_int_eq(bind(busy, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(busy, 1), 0);
	ck_assert_int_eq(getsockname(busy, (struct sockaddr *)&sa, &sl), 0);
	fwd[0].host_addr = NULL;
	fwd[0].host_port = ntohs(sa.sin_port);
	atomic_store(&log_lines, 0);
	ck_assert_int_lt(net_user_open(&n, &lg, NULL, &b), 0);
	ck_assert_ptr_null(b);
	ck_assert_int_eq(atomic_load(&log_lines), 1);
	ck_assert_ptr_nonnull(strstr(last_msg, "cannot listen on tcp 127.0.0.1"));
	/* Too many forwards. */
	n.nhostfwd = VMM_MAX_HOSTFWD + 1;
	ck_assert_int_eq(net_user_open(&n, &lg, NULL, &b), -EINVAL);
	/* A free port works, and a UDP one beside it; the listener is there while the backend lives. */
	close(busy);
	n.nhostfwd = 2;
	fwd[1] = (struct vmm_hostfwd){ .udp = 1, .host_port = fwd[0].host_port, .guest_port = 53 };
	ck_assert_int_eq(net_user_open(&n, &lg, NULL, &b), 0);
	busy = socket(AF_INET, SOCK_STREAM, 0);
	sa.sin_port = htons(fwd[0].host_port);
	ck_assert_int_ne(bind(busy, (struct sockaddr *)&sa, sizeof(sa)), 0);
	b->ops->close(b);
	ck_assert_int_eq(bind(busy, (struct sockaddr *)&sa, sizeof(sa)), 0); /* gone with the backend */
	close(busy);
}
END_TEST

static uint16_t csum16(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

#define PING_DATA 40000u /* more than 26 frames of a 1500-byte MTU */
static uint8_t ping_req[14 + 20 + 8 + PING_DATA];

/* An ICMP echo request of PING_DATA bytes from 10.0.2.15 to the gateway 10.0.2.2, in one frame. */
static size_t big_ping(uint8_t *f)
{
	uint8_t *ip = f + 14, *icmp = ip + 20;
	size_t iplen = 20 + 8 + PING_DATA;
	uint16_t c;

	memset(f, 0, 14 + iplen);
	memset(f, 0x52, 6); /* slirp's MAC does not matter to it */
	memcpy(f + 6, GUEST_MAC, 6);
	f[12] = 0x08;
	ip[0] = 0x45, ip[2] = (uint8_t)(iplen >> 8), ip[3] = (uint8_t)iplen, ip[8] = 64, ip[9] = 1;
	inet_pton(AF_INET, "10.0.2.15", ip + 12);
	inet_pton(AF_INET, "10.0.2.2", ip + 16);
	c = csum16(ip, 20);
	ip[10] = (uint8_t)(c >> 8), ip[11] = (uint8_t)c;
	icmp[0] = 8, icmp[4] = 0x42, icmp[6] = 0, icmp[7] = 1; /* echo request, id 0x4200, seq 1 */
	for (size_t i = 0; i < PING_DATA; i++)
		icmp[8 + i] = (uint8_t)(i * 7 + (i >> 9));
	c = csum16(icmp, 8 + PING_DATA);
	icmp[2] = (uint8_t)(c >> 8), icmp[3] = (uint8_t)c;
	return 14 + iplen;
}

/* The whole echo reply in one frame, its data the request's. */
static bool is_big_pong(const uint8_t *d, size_t len)
{
	return len == sizeof(ping_req) && d[12] == 0x08 && d[23] == 1 && d[34] == 0 &&
	       !memcmp(d + 42, ping_req + 42, PING_DATA);
}

/* The 65520-byte MTU both ways: a 40 KB frame goes in whole and its answer comes back whole. */
START_TEST(big_frames_both_ways)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct net_backend *b = open_user(&n);
	uint8_t f[64];

	ck_assert_int_eq(send_frame(b, f, arp_request(f, "10.0.2.2")), 0); /* slirp learns our MAC */
	ck_assert(wait_frame(b, is_arp_reply_for_gw, 3000, NULL));
	ck_assert_int_eq(send_frame(b, ping_req, big_ping(ping_req)), 0);
	ck_assert(wait_frame(b, is_big_pong, 3000, NULL));
	b->ops->close(b);
}
END_TEST

/* Send frame behind the virtio-net header h (as the device hands it over, 12 bytes). */
static int send_hdr(struct net_backend *b, const struct virtio_net_hdr *h, const uint8_t *frame, size_t len)
{
	uint8_t hdr[12] = { 0 };
	struct iovec iov[3] = { { hdr, 5 }, { hdr + 5, 7 }, { (void *)frame, len } }; /* a header split in two */

	memcpy(hdr, h, sizeof(*h));
	return b->ops->tx_write(b, iov, 3, sizeof(hdr));
}

/*
 * CSUM: the guest leaves a checksum for the device (NEEDS_CSUM); the backend completes it before
 * slirp, which checks every checksum, sees the frame: the echo comes back. The same frame with the
 * field left as it is and no NEEDS_CSUM is dropped by slirp (so the completion is what made it).
 * Headers out of the frame, or asking for GSO, are refused.
 */
START_TEST(partial_checksum_completed)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct net_backend *b = open_user(&n);
	struct virtio_net_hdr h = { .flags = VIRTIO_NET_HDR_F_NEEDS_CSUM, .csum_start = htole16(34),
				    .csum_offset = htole16(2) };
	size_t len = big_ping(ping_req);
	uint8_t f[64];

	ck_assert_int_eq(send_frame(b, f, arp_request(f, "10.0.2.2")), 0);
	ck_assert(wait_frame(b, is_arp_reply_for_gw, 3000, NULL));
	ping_req[36] = ping_req[37] = 0; /* ICMP has no pseudo-header: the field starts at 0 */
	ck_assert_int_eq(send_frame(b, ping_req, len), 0);
	ck_assert(!wait_frame(b, is_big_pong, 300, NULL));
	ck_assert_int_eq(send_hdr(b, &h, ping_req, len), 0);
	ck_assert(wait_frame(b, is_big_pong, 3000, NULL));

	/* Hostile headers: the checksum's place past the end, GSO never offered. */
	h.csum_start = htole16((uint16_t)(len - 1));
	ck_assert_int_eq(send_hdr(b, &h, ping_req, len), -EINVAL);
	h.csum_start = htole16(0xffff), h.csum_offset = htole16(0xffff);
	ck_assert_int_eq(send_hdr(b, &h, ping_req, len), -EINVAL);
	h.csum_start = htole16((uint16_t)(len - 2)), h.csum_offset = 0; /* the last two bytes: fits */
	ck_assert_int_eq(send_hdr(b, &h, ping_req, len), 0);
	h = (struct virtio_net_hdr){ .gso_type = VIRTIO_NET_HDR_GSO_TCPV4, .gso_size = htole16(1000) };
	ck_assert_int_eq(send_hdr(b, &h, ping_req, len), -EINVAL);
	/* Still answering. */
	ck_assert_int_eq(send_frame(b, f, arp_request(f, "10.0.2.2")), 0);
	ck_assert(wait_frame(b, is_arp_reply_for_gw, 3000, NULL));
	b->ops->close(b);
}
END_TEST

/*
 * Through the device: the guest's ARP request on the TX queue reaches slirp and its answer lands in
 * an RX buffer, marked DATA_VALID when the driver took GUEST_CSUM, and with flags 0 when it did not.
 */
static void arp_through_device(bool guest_csum)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct virtio_net_opts o = { .queue_pairs = 1, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
	struct virtq_driver vd;
	uint64_t feat, h, g;

	memset(&vd, 0, sizeof(vd));
	vqd_init(&vd, &lg);
	o.backend = open_user(&n);
	ck_assert_int_eq(virtio_net_create(&o, &lg, &vd.dev), 0);
	feat = virtio_net_ops.features(vd.dev);
	ck_assert(feat & (1ull << VIRTIO_NET_F_GUEST_CSUM));
	ck_assert(feat & (1ull << VIRTIO_NET_F_CSUM));
	if (!guest_csum)
		feat &= ~(1ull << VIRTIO_NET_F_GUEST_CSUM);
	vqd_start(&vd, &virtio_net_ops, 3, feat);
	g = vqd_alloc(&vd, 2048);
	memset(vd.ram + g, 0xee, 2048);
	vqd_add_chain(&vd, 0, &(struct vqd_buf){ g, 2048, true }, 1);
	vqd_kick(&vd, 0);
	h = vqd_alloc(&vd, 12 + 60);
	memset(vd.ram + h, 0, 12);
	arp_request(vd.ram + h + 12, "10.0.2.2");
	vqd_add_chain(&vd, 1, &(struct vqd_buf){ h, 12 + 60, false }, 1);
	vqd_kick(&vd, 1);
	vqd_wait_used(&vd, 0, 1);
	ck_assert(is_arp_reply_for_gw(vd.ram + g + 12, vqd_used_elem(&vd, 0, 0).len - 12));
	ck_assert_uint_eq(vd.ram[g], guest_csum ? VIRTIO_NET_HDR_F_DATA_VALID : 0);
	ck_assert_uint_eq(vd.ram[g + 1], VIRTIO_NET_HDR_GSO_NONE);
	vqd_teardown(&vd);
}

START_TEST(device_marks_frames_checked)
{
	arp_through_device(true);
	arp_through_device(false);
}
END_TEST

/* The device on this backend advises the guest the backend's MTU (VIRTIO_NET_F_MTU, config offset 10). */
START_TEST(device_advises_the_mtu)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	struct virtio_net_opts o = { .queue_pairs = 1, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
	uint16_t mtu = 0;
	void *dev;

	o.backend = open_user(&n);
	ck_assert_int_eq(virtio_net_create(&o, &lg, &dev), 0);
	ck_assert(virtio_net_ops.features(dev) & (1ull << VIRTIO_NET_F_MTU));
	virtio_net_ops.config_read(dev, offsetof(struct virtio_net_config, mtu), &mtu, 2);
	ck_assert_uint_eq(le16toh(mtu), 65520);
	virtio_net_ops.destroy(dev);
}
END_TEST

/* libslirp is loaded when the first user NIC is made; a missing library is one line and -ENOENT. */
START_TEST(library_loaded_on_demand)
{
	struct slirp_lib l;

	atomic_store(&log_lines, 0);
	ck_assert_int_eq(slirp_lib_load("libslirp-not-there.so.0", &l, &lg), -ENOENT);
	ck_assert_int_eq(atomic_load(&log_lines), 1);
	ck_assert_ptr_nonnull(strstr(last_msg, "cannot load libslirp-not-there.so.0"));
	ck_assert_int_eq(slirp_lib_load("libc.so.6", &l, &lg), -ENOENT); /* a library, but not libslirp */
	ck_assert_ptr_nonnull(strstr(last_msg, "has no slirp_new"));
	ck_assert_int_eq(slirp_lib_load(SLIRP_LIB_NAME, &l, &lg), 0);
	ck_assert_ptr_nonnull(l.version_string());
	ck_assert_ptr_eq(slirp_lib_get(&lg), slirp_lib_get(&lg));
}
END_TEST

/* Open and close many backends: threads, eventfds and sockets do not pile up. */
START_TEST(open_close_leaves_nothing)
{
	struct vmm_net n = { .backend = VMM_NET_USER };
	int before = dup(0), after;

	close(before);
	for (int i = 0; i < 50; i++) {
		struct net_backend *b = open_user(&n);
		uint8_t f[64];

		ck_assert_int_eq(send_frame(b, f, arp_request(f, "10.0.2.2")), 0);
		b->ops->close(b);
	}
	after = dup(0);
	close(after);
	ck_assert_int_eq(after, before);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net_user");
	TCase *tc = tcase_create("net_user");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, arp_for_the_gateway);
	tcase_add_test(tc, dhcp_offers_10_0_2_15);
	tcase_add_test(tc, hostile_frames);
	tcase_add_test(tc, guest_takes_nothing);
	tcase_add_test(tc, forwards);
	tcase_add_test(tc, big_frames_both_ways);
	tcase_add_test(tc, device_advises_the_mtu);
	tcase_add_test(tc, partial_checksum_completed);
	tcase_add_test(tc, device_marks_frames_checked);
	tcase_add_test(tc, library_loaded_on_demand);
	tcase_add_test(tc, open_close_leaves_nothing);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
