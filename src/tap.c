// SPDX-License-Identifier: Apache-2.0
/* A Linux tap device: open or create it by name, one non-blocking fd per queue, vnet header and offloads. */
#include "tap.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/ethtool.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <linux/virtio_net.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

/* What the kernel's dev_valid_name() accepts, short of '%' templates (which we allow: the kernel picks the number). */
static bool valid_name(const char *name)
{
	size_t len = name ? strnlen(name, IFNAMSIZ) : 0;

	if (len == 0 || len >= IFNAMSIZ || !strcmp(name, ".") || !strcmp(name, ".."))
		return false;
	for (size_t i = 0; i < len; i++)
		if (name[i] == '/' || name[i] == ':' || isspace((unsigned char)name[i]))
			return false;
	return true;
}

/* ethtool's driver information for interface NAME ("tun" and bus "tap" for a tap); empty strings if none. */
static void driver_of(const char *name, struct ethtool_drvinfo *info)
{
	struct ifreq ifr = { 0 };
	int s;

	memset(info, 0, sizeof(*info));
	info->cmd = ETHTOOL_GDRVINFO;
	s = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_data = (void *)info;
	if (ioctl(s, SIOCETHTOOL, &ifr) < 0)
		info->driver[0] = info->bus_info[0] = '\0';
	info->driver[sizeof(info->driver) - 1] = info->bus_info[sizeof(info->bus_info) - 1] = '\0';
	close(s);
}

/* TUNSETIFF said EINVAL for an interface that exists: say why as well as we can tell. */
static void explain_einval(const char *name, unsigned nqueues, const struct vlog *log)
{
	struct ethtool_drvinfo info;

	driver_of(name, &info);
	if (!info.driver[0])
		vlog_err(log, "cannot open tap '%s': the interface exists and is not a tap device", name);
	else if (strcmp(info.driver, "tun") != 0)
		vlog_err(log, "cannot open tap '%s': the interface exists and is not a tap device (driver %s)", name,
			 info.driver);
	else if (strcmp(info.bus_info, "tap") != 0)
		vlog_err(log, "cannot open tap '%s': the interface exists and is a tun device, not a tap", name);
	else if (nqueues == 1)
		vlog_err(log, "cannot open tap '%s': the kernel refuses its flags: %s", name, strerror(EINVAL));
	else
		vlog_err(log, "cannot open tap '%s' with %u queues: it was created without multi-queue support: "
			      "recreate it with ip tuntap add %s mode tap multi_queue user $USER",
			 name, nqueues, name);
}

static void explain_error(const char *name, unsigned nqueues, bool existed, int err, const struct vlog *log)
{
	const char *mq = nqueues > 1 ? " multi_queue" : "";

	switch (err) {
	case -EPERM:
	case -EACCES:
		if (existed)
			vlog_err(log, "cannot open tap '%s': %s: it belongs to another user: vmm needs "
				      "CAP_NET_ADMIN to attach to it, or recreate it for this user: "
				      "ip tuntap add %s mode tap%s user $USER",
				 name, strerror(-err), name, mq);
		else
			vlog_err(log, "cannot open tap '%s': %s: vmm needs CAP_NET_ADMIN to create it, or "
				      "create it for this user first: ip tuntap add %s mode tap%s user $USER",
				 name, strerror(-err), name, mq);
		break;
	case -EBUSY:
		vlog_err(log, "tap '%s' is in use by another process", name);
		break;
	case -EINVAL:
		if (existed) {
			explain_einval(name, nqueues, log);
			break;
		}
		/* fall through */
	default:
		vlog_err(log, "cannot open tap '%s': %s", name, strerror(-err));
		break;
	}
}

/* Open /dev/net/tun with the process's permission problems spelled out. */
static int open_tun(const char *name, const struct vlog *log)
{
	int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	int err = -errno;

	if (fd >= 0)
		return fd;
	if (err == -ENOENT || err == -ENODEV || err == -ENXIO)
		vlog_err(log, "cannot open tap '%s': /dev/net/tun is missing: load the tun module (modprobe tun)",
			 name);
	else if (err == -EACCES || err == -EPERM)
		vlog_err(log, "cannot open tap '%s': /dev/net/tun: %s: vmm needs read-write access to it", name,
			 strerror(-err));
	else
		vlog_err(log, "cannot open tap '%s': /dev/net/tun: %s", name, strerror(-err));
	return err;
}

/* Attach fd to tap t->name with flags; the kernel may rename a '%d' template, which t->name then follows. */
static int set_iff(struct tap *t, int fd, short flags)
{
	struct ifreq ifr = { 0 };

	memcpy(ifr.ifr_name, t->name, IFNAMSIZ);
	ifr.ifr_flags = flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		return -errno;
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = '\0';
	return 0;
}

/* Check the queue fd really is what we asked for, and give it the 12-byte header. */
static int setup_queue(struct tap *t, int fd, bool multi, const struct vlog *log)
{
	struct ifreq ifr = { 0 };
	int hdr_len = TAP_VNET_HDR_LEN;
	int ret;

	if (ioctl(fd, TUNGETIFF, &ifr) < 0) {
		ret = -errno;
		vlog_err(log, "cannot read the flags of tap '%s': %s", t->name, strerror(-ret));
		return ret;
	}
	if (!(ifr.ifr_flags & IFF_TAP) || !(ifr.ifr_flags & IFF_VNET_HDR) || !(ifr.ifr_flags & IFF_NO_PI) ||
	    (multi && !(ifr.ifr_flags & IFF_MULTI_QUEUE))) {
		vlog_err(log, "tap '%s' lacks tap mode, the virtio-net header or multi-queue support (flags %#x)",
			 t->name, (unsigned)(unsigned short)ifr.ifr_flags);
		return -EOPNOTSUPP;
	}
	if (ioctl(fd, TUNSETVNETHDRSZ, &hdr_len) < 0) {
		ret = -errno;
		vlog_err(log, "cannot set the virtio-net header size of tap '%s': %s", t->name, strerror(-ret));
		return ret;
	}
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
	/* Virtio 1.0 headers are little-endian; the kernel's default is the host's order. */
	{
		int le = 1;

		if (ioctl(fd, TUNSETVNETLE, &le) < 0) {
			ret = -errno;
			vlog_err(log, "cannot make the virtio-net header of tap '%s' little-endian: %s", t->name,
				 strerror(-ret));
			return ret;
		}
	}
#endif
	return 0;
}

int tap_open(const char *name, unsigned nqueues, const struct vlog *log, struct tap **out)
{
	short flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	bool multi = nqueues > 1;
	struct tap *t;
	int ret;

	*out = NULL;
	if (!valid_name(name)) {
		vlog_err(log, "tap name '%s' is not a valid interface name (1 to %d characters, no '/', ':' or spaces)",
			 name ? name : "", IFNAMSIZ - 1);
		return -EINVAL;
	}
	if (nqueues < 1 || nqueues > TAP_MAX_QUEUES) {
		vlog_err(log, "tap '%s' cannot have %u queues (1 to %d)", name, nqueues, TAP_MAX_QUEUES);
		return -EINVAL;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	for (unsigned i = 0; i < TAP_MAX_QUEUES; i++)
		t->fd[i] = -1;
	snprintf(t->name, sizeof(t->name), "%s", name);
	t->created = if_nametoindex(name) == 0;

	for (unsigned i = 0; i < nqueues; i++) {
		ret = open_tun(t->name, log);
		if (ret < 0)
			goto err;
		t->fd[i] = ret;
		t->nqueues = i + 1;
		if (i == 0) {
			ret = set_iff(t, t->fd[0], (short)(flags | (multi ? IFF_MULTI_QUEUE : 0)));
			/*
			 * One queue on an existing multi-queue tap (ip tuntap add ... multi_queue): the kernel wants
			 * the flags to match; a multi-queue device with one queue behaves as a plain one.
			 */
			if (ret == -EINVAL && !multi && !t->created &&
			    set_iff(t, t->fd[0], flags | IFF_MULTI_QUEUE) == 0) {
				multi = true;
				ret = 0;
			}
			if (multi)
				flags |= IFF_MULTI_QUEUE;
		} else {
			ret = set_iff(t, t->fd[i], flags);
		}
		if (ret < 0) {
			explain_error(t->name, nqueues, !t->created, ret, log);
			goto err;
		}
		ret = setup_queue(t, t->fd[i], nqueues > 1, log);
		if (ret < 0)
			goto err;
	}
	*out = t;
	return 0;
err:
	tap_close(t); /* a tap we created goes away with its last fd */
	return ret;
}

int tap_set_offload(struct tap *t, unsigned tun_flags)
{
	if (!t || t->nqueues == 0 || t->fd[0] < 0)
		return -EINVAL;
	/* TUNSETOFFLOAD changes the device (its features), so one queue's fd serves for all. */
	if (ioctl(t->fd[0], TUNSETOFFLOAD, (unsigned long)tun_flags) < 0)
		return -errno;
	return 0;
}

void tap_close(struct tap *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nqueues && i < TAP_MAX_QUEUES; i++)
		if (t->fd[i] >= 0)
			close(t->fd[i]);
	free(t);
}

void tap_default_mac(const char *seed, unsigned index, uint8_t mac[6])
{
	uint32_t h = 2166136261u; /* FNV-1a, 32 bits */

	for (const char *p = seed ? seed : ""; *p; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (int i = 0; i < 4; i++)
		h = (h ^ (uint8_t)(index >> (8 * i))) * 16777619u;
	h = (h >> 24) ^ (h & 0xffffff); /* xor-fold to 24 bits */
	mac[0] = 0x52; /* 52:54:00 is QEMU's prefix: locally administered (bit 1) and unicast (bit 0 clear) */
	mac[1] = 0x54;
	mac[2] = 0x00;
	mac[3] = (uint8_t)(h >> 16);
	mac[4] = (uint8_t)(h >> 8);
	mac[5] = (uint8_t)h;
}

/* The tap as a net_backend: the device reads and writes its fds itself. */
struct tap_backend {
	struct net_backend nb;
	struct tap *tap;
};

static struct tap *tap_of(struct net_backend *b)
{
	return ((struct tap_backend *)(void *)((uint8_t *)b - offsetof(struct tap_backend, nb)))->tap;
}

static int tb_fd(struct net_backend *b, unsigned pair)
{
	struct tap *t = tap_of(b);

	return pair < t->nqueues ? t->fd[pair] : -1;
}

static int tb_set_offload(struct net_backend *b, unsigned tun_flags)
{
	return tap_set_offload(tap_of(b), tun_flags);
}

static void tb_close(struct net_backend *b)
{
	tap_close(tap_of(b));
	tap_backend_free(b);
}

static const struct net_backend_ops tap_backend_ops = {
	.fd = tb_fd,
	.set_offload = tb_set_offload,
	.close = tb_close,
};

struct net_backend *tap_backend_new(struct tap *t)
{
	struct tap_backend *tb = calloc(1, sizeof(*tb));

	if (!tb)
		return NULL;
	tb->tap = t;
	tb->nb.ops = &tap_backend_ops;
	snprintf(tb->nb.name, sizeof(tb->nb.name), "%s", t->name);
	tb->nb.nqueues = t->nqueues;
	tb->nb.offloads = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM) |
			  (1ull << VIRTIO_NET_F_HOST_TSO4) | (1ull << VIRTIO_NET_F_HOST_TSO6) |
			  (1ull << VIRTIO_NET_F_HOST_ECN) | (1ull << VIRTIO_NET_F_GUEST_TSO4) |
			  (1ull << VIRTIO_NET_F_GUEST_TSO6) | (1ull << VIRTIO_NET_F_GUEST_ECN);
	return &tb->nb;
}

void tap_backend_free(struct net_backend *b)
{
	if (b)
		free((uint8_t *)b - offsetof(struct tap_backend, nb));
}
