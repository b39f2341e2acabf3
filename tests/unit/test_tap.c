// SPDX-License-Identifier: Apache-2.0
/* Tap backend: argument checks, MACs and close always; real taps as root, each test in its own network namespace. */
#define _GNU_SOURCE /* unshare() */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tap.h"
#include "unit.h"

/*
 * Skip policy: the pure cases always run. The cases that need a real tap run only where a forked probe could
 * unshare(CLONE_NEWNET) and create a tap there (root with /dev/net/tun); otherwise they are left out with a
 * "SKIP:" line and the suite exits 77 if everything that did run passed. Each real case makes its own network
 * namespace first (Check forks every case with CK_FORK=yes), so its taps, links and frames never leave it.
 */

#define ETH_P_TEST 0x88b5 /* IEEE 802 local experimental ethertype */

struct capture {
	char msg[512];
	int n;
};

static void capture_fn(void *opaque, enum vmm_log_level level, const char *msg)
{
	struct capture *c = opaque;

	(void)level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	c->n++;
}

#define LOG_INIT(cap) { .fn = capture_fn, .opaque = &(cap), .level = VMM_LOG_DEBUG }

static void enter_netns(void)
{
	ck_assert_msg(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET): %s", strerror(errno));
}

/* A tap made by the test through its own fd; persistent ones outlive that fd. Returns 0 or -errno. */
static int make_tuntap(const char *name, short flags, bool persist, long owner)
{
	struct ifreq ifr = { 0 };
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	int ret = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0 || (owner >= 0 && ioctl(fd, TUNSETOWNER, owner) < 0) ||
	    (persist && ioctl(fd, TUNSETPERSIST, 1) < 0))
		ret = -errno;
	close(fd);
	return ret;
}

static void link_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(s, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ck_assert_int_eq(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ck_assert_msg(ioctl(s, SIOCSIFFLAGS, &ifr) == 0, "SIOCSIFFLAGS: %s", strerror(errno));
	close(s);
}

static short tun_flags(int fd)
{
	struct ifreq ifr = { 0 };

	ck_assert_int_eq(ioctl(fd, TUNGETIFF, &ifr), 0);
	return ifr.ifr_flags;
}

/* ---- pure cases ---- */

START_TEST(bad_arguments)
{
	static const char *const names[] = { "", "a/b", "a b", "a\tb", "a:b", ".", "..", "abcdefghijklmnop" };
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t = (struct tap *)&cap; /* must come back NULL */

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		cap.n = 0;
		ck_assert_int_eq(tap_open(names[i], 1, &log, &t), -EINVAL);
		ck_assert_ptr_null(t);
		ck_assert_int_eq(cap.n, 1);
		ck_assert_ptr_nonnull(strstr(cap.msg, "not a valid interface name"));
	}
	cap.n = 0;
	ck_assert_int_eq(tap_open(NULL, 1, &log, &t), -EINVAL);
	ck_assert_int_eq(cap.n, 1);
	cap.n = 0;
	ck_assert_int_eq(tap_open("vmmt0", 0, &log, &t), -EINVAL);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_ptr_nonnull(strstr(cap.msg, "0 queues"));
	cap.n = 0;
	ck_assert_int_eq(tap_open("vmmt0", TAP_MAX_QUEUES + 1, &log, &t), -EINVAL);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_ptr_nonnull(strstr(cap.msg, "17 queues"));
	ck_assert_ptr_null(t);
}
END_TEST

START_TEST(default_mac)
{
	static const char *const seeds[] = { "tap0", "tap1", "vmtap", "" };
	uint8_t macs[4 * 8][6], again[6];
	int n = 0;

	for (int s = 0; s < 4; s++) {
		for (unsigned i = 0; i < 8; i++, n++) {
			tap_default_mac(seeds[s], i, macs[n]);
			ck_assert_uint_eq(macs[n][0], 0x52);
			ck_assert_uint_eq(macs[n][1], 0x54);
			ck_assert_uint_eq(macs[n][2], 0x00);
			ck_assert(macs[n][0] & 0x02);    /* locally administered */
			ck_assert(!(macs[n][0] & 0x01)); /* unicast */
			tap_default_mac(seeds[s], i, again);
			ck_assert_mem_eq(macs[n], again, 6);
			for (int j = 0; j < n; j++)
				ck_assert_msg(memcmp(macs[j], macs[n], 6) != 0, "MAC %d equals MAC %d", n, j);
		}
	}
	tap_default_mac(NULL, 0, again);
	ck_assert_mem_eq(again, macs[3 * 8], 6); /* NULL is "" */
	/* Pinned: a change of hash would change every user's guest MAC. */
	ck_assert_mem_eq(macs[0], ((const uint8_t[]){ 0x52, 0x54, 0x00, 0x4a, 0x4b, 0x57 }), 6);
	ck_assert_mem_eq(macs[1], ((const uint8_t[]){ 0x52, 0x54, 0x00, 0x76, 0x8a, 0xf6 }), 6);
}
END_TEST

START_TEST(close_null_and_fake)
{
	int sv[2][2];
	struct tap *t;
	char c;

	tap_close(NULL);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[0]), 0);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv[1]), 0);
	t = malloc(sizeof(*t)); /* deliberately not zeroed: only fd[0..nqueues) may be looked at */
	ck_assert_ptr_nonnull(t);
	memset(t->fd, 0x7f, sizeof(t->fd));
	t->nqueues = 3;
	t->fd[0] = sv[0][0];
	t->fd[1] = -1;
	t->fd[2] = sv[1][0];
	ck_assert_int_lt(tap_set_offload(t, TUN_F_CSUM), 0); /* a socket is no tap: -errno, no crash */
	tap_close(t);
	ck_assert_int_eq(read(sv[0][1], &c, 1), 0); /* EOF: tap_close closed the other end */
	ck_assert_int_eq(read(sv[1][1], &c, 1), 0);
	close(sv[0][1]);
	close(sv[1][1]);
}
END_TEST

/* ---- real taps, each case in a new network namespace ---- */

START_TEST(create_and_remove)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t;
	int hdr_len = 0;

	enter_netns();
	ck_assert_uint_eq(if_nametoindex("vmmt0"), 0);
	ck_assert_int_eq(tap_open("vmmt0", 1, &log, &t), 0);
	ck_assert_int_eq(cap.n, 0);
	ck_assert(t->created);
	ck_assert_uint_eq(t->nqueues, 1);
	ck_assert_str_eq(t->name, "vmmt0");
	ck_assert_uint_ne(if_nametoindex("vmmt0"), 0);
	ck_assert_int_eq(tun_flags(t->fd[0]) & (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_MULTI_QUEUE),
			 IFF_TAP | IFF_NO_PI | IFF_VNET_HDR);
	ck_assert_int_eq(ioctl(t->fd[0], TUNGETVNETHDRSZ, &hdr_len), 0);
	ck_assert_int_eq(hdr_len, TAP_VNET_HDR_LEN);
	ck_assert(fcntl(t->fd[0], F_GETFL) & O_NONBLOCK);
	ck_assert(fcntl(t->fd[0], F_GETFD) & FD_CLOEXEC);
	tap_close(t);
	ck_assert_uint_eq(if_nametoindex("vmmt0"), 0);

	/* A template: the kernel picks the number and t->name follows. */
	ck_assert_int_eq(tap_open("vmmq%d", 1, &log, &t), 0);
	ck_assert_str_eq(t->name, "vmmq0");
	ck_assert_uint_ne(if_nametoindex("vmmq0"), 0);
	tap_close(t);
	ck_assert_uint_eq(if_nametoindex("vmmq0"), 0);
}
END_TEST

START_TEST(attach_persistent)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t;

	enter_netns();
	ck_assert_int_eq(make_tuntap("vmmp0", IFF_TAP | IFF_NO_PI, true, -1), 0);
	ck_assert_int_eq(tap_open("vmmp0", 1, &log, &t), 0);
	ck_assert(!t->created);
	ck_assert(tun_flags(t->fd[0]) & IFF_VNET_HDR);
	tap_close(t);
	ck_assert_uint_ne(if_nametoindex("vmmp0"), 0);
	/* ...and again: the first close left it usable. */
	ck_assert_int_eq(tap_open("vmmp0", 1, &log, &t), 0);
	tap_close(t);
	ck_assert_int_eq(cap.n, 0);
}
END_TEST

START_TEST(multi_queue)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t;

	enter_netns();
	ck_assert_int_eq(tap_open("vmmm0", 2, &log, &t), 0);
	ck_assert_uint_eq(t->nqueues, 2);
	ck_assert(t->created);
	ck_assert_int_ge(t->fd[0], 0);
	ck_assert_int_ge(t->fd[1], 0);
	ck_assert_int_ne(t->fd[0], t->fd[1]);
	ck_assert(tun_flags(t->fd[0]) & IFF_MULTI_QUEUE);
	ck_assert(tun_flags(t->fd[1]) & IFF_MULTI_QUEUE);
	tap_close(t);
	ck_assert_uint_eq(if_nametoindex("vmmm0"), 0);

	ck_assert_int_eq(tap_open("vmmm1", TAP_MAX_QUEUES, &log, &t), 0);
	ck_assert_uint_eq(t->nqueues, TAP_MAX_QUEUES);
	tap_close(t);

	/* One queue on an existing multi_queue tap is fine. */
	ck_assert_int_eq(make_tuntap("vmmm2", IFF_TAP | IFF_NO_PI | IFF_MULTI_QUEUE, true, -1), 0);
	ck_assert_int_eq(tap_open("vmmm2", 1, &log, &t), 0);
	ck_assert(!t->created);
	tap_close(t);
	ck_assert_int_eq(tap_open("vmmm2", 3, &log, &t), 0);
	tap_close(t);
	ck_assert_int_eq(cap.n, 0);
}
END_TEST

START_TEST(refusals)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t, *t2;

	enter_netns();
	/* Two queues on a tap made without multi_queue. */
	ck_assert_int_eq(make_tuntap("vmms0", IFF_TAP | IFF_NO_PI, true, -1), 0);
	ck_assert_int_eq(tap_open("vmms0", 2, &log, &t), -EINVAL);
	ck_assert_ptr_null(t);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_msg(strstr(cap.msg, "without multi-queue") &&
			      strstr(cap.msg, "ip tuntap add vmms0 mode tap multi_queue"),
		      "%s", cap.msg);
	ck_assert_uint_ne(if_nametoindex("vmms0"), 0);

	/* Not a tap at all, and a tun. */
	cap.n = 0;
	ck_assert_int_eq(tap_open("lo", 1, &log, &t), -EINVAL);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_msg(strstr(cap.msg, "is not a tap device"), "%s", cap.msg);
	ck_assert_int_eq(make_tuntap("vmmtun0", IFF_TUN | IFF_NO_PI, true, -1), 0);
	cap.n = 0;
	ck_assert_int_eq(tap_open("vmmtun0", 1, &log, &t), -EINVAL);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_msg(strstr(cap.msg, "tun device"), "%s", cap.msg);

	/* A single-queue tap someone holds. */
	cap.n = 0;
	ck_assert_int_eq(tap_open("vmmb0", 1, &log, &t), 0);
	ck_assert_int_eq(tap_open("vmmb0", 1, &log, &t2), -EBUSY);
	ck_assert_ptr_null(t2);
	ck_assert_int_eq(cap.n, 1);
	ck_assert_msg(strstr(cap.msg, "in use"), "%s", cap.msg);
	tap_close(t);
	ck_assert_uint_eq(if_nametoindex("vmmb0"), 0);
}
END_TEST

START_TEST(offload)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t;

	enter_netns();
	ck_assert_int_eq(tap_open("vmmo0", 2, &log, &t), 0);
	ck_assert_int_eq(tap_set_offload(t, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
	ck_assert_int_eq(tap_set_offload(t, TUN_F_CSUM), 0);
	ck_assert_int_eq(tap_set_offload(t, 0), 0);
	/* TSO without checksum offload is refused by the kernel, and that comes back as -errno. */
	ck_assert_int_eq(tap_set_offload(t, TUN_F_TSO4), -EINVAL);
	ck_assert_int_eq(cap.n, 0);
	tap_close(t);
}
END_TEST

static void make_frame(uint8_t *f, size_t len, uint8_t fill)
{
	memset(f, 0xff, 6);                                  /* broadcast */
	memcpy(f + 6, (const uint8_t[]){ 0x52, 0x54, 0, 1, 2, 3 }, 6);
	f[12] = ETH_P_TEST >> 8;
	f[13] = ETH_P_TEST & 0xff;
	memset(f + 14, fill, len - 14);
}

/* Read from fd (skip=bytes before the Ethernet header) until our test ethertype shows up; the length read. */
static ssize_t read_test_frame(int fd, uint8_t *buf, size_t len, size_t skip)
{
	for (int tries = 0; tries < 50; tries++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;

		if (poll(&p, 1, 2000) != 1)
			return -1;
		n = read(fd, buf, len);
		if (n >= (ssize_t)(skip + 14) && buf[skip + 12] == (ETH_P_TEST >> 8) &&
		    buf[skip + 13] == (ETH_P_TEST & 0xff))
			return n;
		/* something else the kernel sent (IPv6 neighbour discovery, MLD): keep looking */
	}
	return -1;
}

START_TEST(frames_both_ways)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	uint8_t out[TAP_VNET_HDR_LEN + 60] = { 0 }, in[2048];
	struct sockaddr_ll sll = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct tap *t;
	int ps;

	enter_netns();
	ck_assert_int_eq(tap_open("vmmf0", 1, &log, &t), 0);
	link_up(t->name);
	ps = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	ck_assert_int_ge(ps, 0);
	sll.sll_ifindex = (int)if_nametoindex(t->name);
	ck_assert_int_eq(bind(ps, (struct sockaddr *)&sll, sizeof(sll)), 0);

	/* Guest -> host: a zero virtio-net header (no offload) and a frame into the tap fd. */
	make_frame(out + TAP_VNET_HDR_LEN, 60, 0xa5);
	ck_assert_int_eq(write(t->fd[0], out, sizeof(out)), (ssize_t)sizeof(out));
	ck_assert_int_eq(read_test_frame(ps, in, sizeof(in), 0), 60);
	ck_assert_mem_eq(in, out + TAP_VNET_HDR_LEN, 60);

	/* Host -> guest: a frame sent on the interface comes out of the fd behind a 12-byte header. */
	make_frame(out, 60, 0x3c);
	ck_assert_int_eq(sendto(ps, out, 60, 0, (struct sockaddr *)&sll, sizeof(sll)), 60);
	ck_assert_int_eq(read_test_frame(t->fd[0], in, sizeof(in), TAP_VNET_HDR_LEN), TAP_VNET_HDR_LEN + 60);
	ck_assert_mem_eq(in + TAP_VNET_HDR_LEN, out, 60);
	close(ps);
	tap_close(t);
}
END_TEST

/* Drop CAP_NET_ADMIN from this process for good (the caller is a throwaway fork). */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	data[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	data[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
	data[CAP_NET_ADMIN / 32].inheritable &= ~(1u << (CAP_NET_ADMIN % 32));
	return (int)syscall(SYS_capset, &hdr, data);
}

/* The unprivileged half of no_cap_net_admin; the exit code names the first step that went wrong. */
static int unprivileged(void)
{
	struct capture cap = { 0 };
	struct vlog log = LOG_INIT(cap);
	struct tap *t;

	if (drop_net_admin() < 0)
		return 10;
	/* Create: refused, and the message says both ways out. */
	if (tap_open("vmmu0", 1, &log, &t) != -EPERM || cap.n != 1)
		return 11;
	if (!strstr(cap.msg, "CAP_NET_ADMIN") || !strstr(cap.msg, "ip tuntap add vmmu0 mode tap user"))
		return 12;
	if (if_nametoindex("vmmu0"))
		return 13;
	/* Someone else's tap: refused too. */
	cap.n = 0;
	if (tap_open("vmmother0", 1, &log, &t) != -EPERM || cap.n != 1 || !strstr(cap.msg, "another user"))
		return 14;
	/* Ours (ip tuntap add ... user $USER): attached without the capability. */
	cap.n = 0;
	if (tap_open("vmmmine0", 1, &log, &t) != 0 || t->created)
		return 15;
	tap_close(t);
	if (!if_nametoindex("vmmmine0"))
		return 16;
	return 0;
}

START_TEST(no_cap_net_admin)
{
	int status;
	pid_t pid;

	enter_netns();
	ck_assert_int_eq(make_tuntap("vmmother0", IFF_TAP | IFF_NO_PI, true, 12345), 0);
	ck_assert_int_eq(make_tuntap("vmmmine0", IFF_TAP | IFF_NO_PI, true, (long)geteuid()), 0);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(unprivileged());
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unprivileged step %d failed",
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
}
END_TEST

/* Can this process make a network namespace and a tap inside it? NULL if so, else why not. */
static const char *real_taps_unavailable(void)
{
	int status;
	pid_t pid;

	if (access("/dev/net/tun", F_OK) < 0)
		return "no /dev/net/tun";
	pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		if (unshare(CLONE_NEWNET) < 0)
			_exit(1);
		_exit(make_tuntap("vmmprobe0", IFF_TAP | IFF_NO_PI, false, -1) ? 2 : 0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return "the probe process died";
	switch (WEXITSTATUS(status)) {
	case 0:
		return NULL;
	case 1:
		return "cannot create a network namespace (needs root)";
	default:
		return "cannot create a tap in a new network namespace (needs root)";
	}
}

int main(void)
{
	Suite *s = suite_create("tap");
	TCase *pure = tcase_create("pure");
	const char *why = real_taps_unavailable();

	tcase_add_test(pure, bad_arguments);
	tcase_add_test(pure, default_mac);
	tcase_add_test(pure, close_null_and_fake);
	suite_add_tcase(s, pure);
	if (why) {
		printf("SKIP: real tap cases: %s\n", why);
	} else {
		TCase *real = tcase_create("netns");

		tcase_add_test(real, create_and_remove);
		tcase_add_test(real, attach_persistent);
		tcase_add_test(real, multi_queue);
		tcase_add_test(real, refusals);
		tcase_add_test(real, offload);
		tcase_add_test(real, frames_both_ways);
		tcase_add_test(real, no_cap_net_admin);
		tcase_set_timeout(real, 20);
		suite_add_tcase(s, real);
	}
	if (unit_run(s))
		return 1;
	return why ? 77 : 0;
}
