// SPDX-License-Identifier: Apache-2.0
/*
 * vhost-net's own logic: which negotiated features the kernel can serve, and opening (here or in the
 * test host: a missing or unusable /dev/vhost-net is an error the device turns into one warning,
 * never a crash or a leaked fd). The kernel's data path itself is the Linux cases' (net-vhost).
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <linux/vhost.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <linux/virtio_ring.h>

#include "unit.h"
#include "vhost_net.h"

#define BIT(n) (1ull << (n))

START_TEST(features)
{
	uint64_t kernel = BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) | BIT(VIRTIO_RING_F_INDIRECT_DESC) |
			  BIT(VIRTIO_NET_F_MRG_RXBUF) | BIT(VHOST_NET_F_VIRTIO_NET_HDR);
	uint64_t device = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_MAC) |
			  BIT(VIRTIO_NET_F_CTRL_VQ) | BIT(VIRTIO_NET_F_MQ);

	/* What our transport offers, with any device bits (those are the tap's and the device's). */
	ck_assert(vhost_net_features_ok(kernel, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_RING_F_EVENT_IDX) | device));
	ck_assert(vhost_net_features_ok(kernel, kernel & ~BIT(VHOST_NET_F_VIRTIO_NET_HDR)));
	ck_assert(vhost_net_features_ok(kernel, 0));
	/* A ring feature the kernel lacks. */
	ck_assert(!vhost_net_features_ok(kernel & ~BIT(VIRTIO_RING_F_EVENT_IDX), BIT(VIRTIO_RING_F_EVENT_IDX)));
	ck_assert(!vhost_net_features_ok(kernel & ~BIT(VIRTIO_NET_F_MRG_RXBUF), BIT(VIRTIO_NET_F_MRG_RXBUF)));
	/* A transport feature the kernel is not told about (packed ring, platform access, bit 37). */
	ck_assert(!vhost_net_features_ok(kernel | BIT(VIRTIO_F_RING_PACKED), BIT(VIRTIO_F_RING_PACKED)));
	ck_assert(!vhost_net_features_ok(~0ull, BIT(VIRTIO_F_ACCESS_PLATFORM)));
	ck_assert(!vhost_net_features_ok(~0ull, BIT(37)));
}
END_TEST

START_TEST(open_counts_and_no_leak)
{
	struct vhost_net *vn = (void *)1;
	unsigned fds = unit_count_fds();
	int ret;

	ck_assert_int_eq(vhost_net_open(0, &vn), -EINVAL);
	ck_assert_ptr_null(vn);
	ck_assert_int_eq(vhost_net_open(VHOST_NET_MAX_PAIRS + 1, &vn), -EINVAL);
	/* Here /dev/vhost-net may be missing (-ENOENT), refused, or there: either way nothing leaks. */
	ret = vhost_net_open(2, &vn);
	if (ret == 0) {
		ck_assert_uint_eq(unit_count_fds(), fds + 2);
		ck_assert(!vhost_net_started(vn, 0));
		ck_assert(!vhost_net_started(vn, 2));
		vhost_net_stop(vn, 0); /* not started: nothing */
		vhost_net_stop(vn, 7);
		vhost_net_close(vn);
	} else {
		ck_assert_int_lt(ret, 0);
		ck_assert_ptr_null(vn);
	}
	ck_assert_uint_eq(unit_count_fds(), fds);
	vhost_net_close(NULL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhost_net");
	TCase *tc = tcase_create("core");

	tcase_add_test(tc, features);
	tcase_add_test(tc, open_counts_and_no_leak);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
