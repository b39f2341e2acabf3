// SPDX-License-Identifier: Apache-2.0
/* virtio-net receive-buffer merging with hostile buffers: no I/O, plain memory. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/net_rx.h"
#include "unit.h"

#define CAP 128

static struct net_rx rx;
static struct net_rx_chain slots[CAP];
static uint8_t mem[1 << 20];
static size_t mem_used;

static void init(unsigned cap, bool mrg, bool csum, bool gso)
{
	memset(mem, 0xee, sizeof(mem));
	mem_used = 0;
	net_rx_init(&rx, slots, cap, mrg, csum, gso);
}

static uint8_t *alloc(size_t n)
{
	uint8_t *p = mem + mem_used;

	mem_used += n;
	ck_assert_uint_le(mem_used, sizeof(mem));
	return p;
}

/* A chain of one writable buffer of len bytes. */
static void add1(uint16_t head, size_t len)
{
	struct iovec v = { alloc(len), len };

	ck_assert_int_eq(net_rx_add(&rx, head, &v, 1, 0), 0);
}

static uint16_t num_buffers(const uint8_t *hdr)
{
	uint16_t v;

	memcpy(&v, hdr + 10, 2);
	return le16toh(v);
}

START_TEST(mrg_off_one_chain)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];
	uint8_t *b;

	init(CAP, false, false, false);
	ck_assert_uint_eq(net_rx_prepare(&rx), 0); /* nothing stashed */
	add1(7, 2048);
	add1(8, 2048);
	b = mem;
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	ck_assert_uint_eq(rx.nchains, 1);
	ck_assert_uint_eq(rx.room, NET_RX_MAX_PLAIN); /* capped: never more than the largest frame */
	b[0] = 0x02; /* the tap's DATA_VALID: cleared without GUEST_CSUM */
	ck_assert_uint_eq(net_rx_complete(&rx, 100, u), 1);
	ck_assert_uint_eq(u[0].head, 7);
	ck_assert_uint_eq(u[0].len, 100);
	ck_assert_uint_eq(num_buffers(b), 1);
	ck_assert_uint_eq(b[0], 0);
	ck_assert_uint_eq(rx.count, 1);
	/* The next read takes the next chain. */
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	ck_assert_ptr_eq(rx.iov[0].iov_base, mem + 2048);
	ck_assert_uint_eq(net_rx_complete(&rx, NET_RX_MAX_PLAIN, u), 1);
	ck_assert_uint_eq(u[0].head, 8);
	ck_assert_uint_eq(u[0].len, NET_RX_MAX_PLAIN);
	ck_assert_uint_eq(rx.count, 0);
}
END_TEST

START_TEST(mrg_off_small_chain)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];

	init(CAP, false, true, true);
	add1(1, 600);
	add1(2, 600);
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	ck_assert_uint_eq(rx.room, 600); /* one chain, whatever its size, without MRG_RXBUF */
	/* More than the room (the tap reports the frame's length): truncated, dropped, chain kept. */
	ck_assert_uint_eq(net_rx_complete(&rx, 601, u), 0);
	ck_assert_uint_eq(rx.count, 2);
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	/* Shorter than a header: dropped. */
	ck_assert_uint_eq(net_rx_complete(&rx, 11, u), 0);
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	mem[0] = 0x01; /* NEEDS_CSUM stays with GUEST_CSUM */
	ck_assert_uint_eq(net_rx_complete(&rx, 600, u), 1);
	ck_assert_uint_eq(u[0].head, 1);
	ck_assert_uint_eq(u[0].len, 600);
	ck_assert_uint_eq(mem[0], 0x01);
	ck_assert_uint_eq(num_buffers(mem), 1);
}
END_TEST

START_TEST(mrg_exact_fit)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];

	init(CAP, true, false, false);
	add1(3, NET_RX_MAX_PLAIN);
	add1(4, NET_RX_MAX_PLAIN);
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	ck_assert_uint_eq(rx.nchains, 1); /* never more buffers than needed */
	ck_assert_uint_eq(net_rx_complete(&rx, NET_RX_MAX_PLAIN, u), 1);
	ck_assert_uint_eq(u[0].len, NET_RX_MAX_PLAIN);
	ck_assert_uint_eq(num_buffers(mem), 1);
}
END_TEST

START_TEST(mrg_three_chains)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];

	init(CAP, true, false, true);
	for (uint16_t i = 0; i < 20; i++)
		add1(100 + i, 4096);
	ck_assert_uint_eq(net_rx_prepare(&rx), 17); /* 65562 bytes: 16 whole buffers and 26 bytes */
	ck_assert_uint_eq(rx.room, NET_RX_MAX_GSO);
	ck_assert_uint_eq(rx.iov[16].iov_len, NET_RX_MAX_GSO - 16 * 4096);
	ck_assert_uint_eq(net_rx_complete(&rx, 9000 + NET_RX_HDR_LEN, u), 3);
	ck_assert_uint_eq(u[0].head, 100);
	ck_assert_uint_eq(u[0].len, 4096);
	ck_assert_uint_eq(u[1].head, 101);
	ck_assert_uint_eq(u[1].len, 4096);
	ck_assert_uint_eq(u[2].head, 102);
	ck_assert_uint_eq(u[2].len, 9012 - 2 * 4096);
	ck_assert_uint_eq(num_buffers(mem), 3);
	ck_assert_uint_eq(num_buffers(mem + 4096), 0xeeee); /* only the first buffer has a header */
	/* The chains not consumed stay, in order. */
	ck_assert_uint_eq(rx.count, 17);
	ck_assert_uint_gt(net_rx_prepare(&rx), 0);
	ck_assert_ptr_eq(rx.iov[0].iov_base, mem + 3 * 4096);
	ck_assert_uint_eq(net_rx_complete(&rx, 64, u), 1);
	ck_assert_uint_eq(u[0].head, 103);
	/* A maximal frame takes every buffer of the room. */
	ck_assert_uint_eq(net_rx_prepare(&rx), 16); /* only 16 chains left */
	ck_assert_uint_eq(rx.room, 16 * 4096);
	ck_assert_uint_eq(net_rx_complete(&rx, 16 * 4096, u), 16);
	ck_assert_uint_eq(u[15].head, 119);
	ck_assert_uint_eq(num_buffers(mem + 4 * 4096), 16);
	ck_assert_uint_eq(rx.count, 0);
}
END_TEST

START_TEST(split_header)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];
	uint8_t *a = alloc(5), *b = alloc(6), *c = alloc(1), *d = alloc(200);
	struct iovec v[5] = { { a, 5 }, { b, 6 }, { NULL, 0 }, { c, 1 }, { d, 200 } };

	init(CAP, true, false, false);
	mem_used = 212;
	ck_assert_int_eq(net_rx_add(&rx, 9, v, 5, 0), 0);
	ck_assert_uint_eq(slots[0].niov, 4); /* the zero-length one is gone */
	ck_assert_uint_eq(slots[0].len, 212);
	ck_assert_uint_eq(net_rx_prepare(&rx), 4);
	/* num_buffers is bytes 10 and 11: the last of b and the single byte of c. */
	ck_assert_uint_eq(net_rx_complete(&rx, 150, u), 1);
	ck_assert_uint_eq(b[5], 1);
	ck_assert_uint_eq(c[0], 0);
	ck_assert_uint_eq(a[0], 0); /* flags */
	ck_assert_uint_eq(a[1], 0xee);
	ck_assert_uint_eq(d[0], 0xee);
	ck_assert_uint_eq(u[0].len, 150);
}
END_TEST

START_TEST(bad_chains)
{
	uint8_t *p = alloc(4096);
	struct iovec v[NET_RX_CHAIN_IOV + 1];

	init(CAP, true, false, true);
	for (unsigned i = 0; i < NET_RX_CHAIN_IOV + 1; i++)
		v[i] = (struct iovec){ p + i * 100, 100 };
	/* A readable buffer, too many buffers, no room for a header, nothing at all. */
	ck_assert_int_eq(net_rx_add(&rx, 1, v, 2, 1), -EINVAL);
	ck_assert_int_eq(net_rx_add(&rx, 1, v, NET_RX_CHAIN_IOV + 1, 0), -EINVAL);
	v[0].iov_len = 11;
	ck_assert_int_eq(net_rx_add(&rx, 1, v, 1, 0), -EINVAL);
	v[0].iov_len = 0;
	v[1].iov_len = 0;
	ck_assert_int_eq(net_rx_add(&rx, 1, v, 2, 0), -EINVAL);
	ck_assert_int_eq(net_rx_add(&rx, 1, v, 0, 0), -EINVAL);
	ck_assert_uint_eq(rx.count, 0);
	/* Exactly NET_RX_CHAIN_IOV buffers is fine. */
	ck_assert_int_eq(net_rx_add(&rx, 2, v, NET_RX_CHAIN_IOV, 0), 0);
	ck_assert_uint_eq(slots[0].niov, NET_RX_CHAIN_IOV - 2);
}
END_TEST

START_TEST(huge_lengths)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];
	uint8_t *p = alloc(4096);
	struct iovec v[3] = { { p, SIZE_MAX / 2 + 1 }, { p, SIZE_MAX / 2 + 1 }, { p, SIZE_MAX } };

	init(CAP, false, false, true);
	ck_assert_int_eq(net_rx_add(&rx, 5, v, 3, 0), 0);
	ck_assert_uint_eq(slots[0].len, UINT32_MAX); /* saturated, not wrapped */
	ck_assert_uint_eq(net_rx_prepare(&rx), 1);
	ck_assert_uint_eq(rx.room, NET_RX_MAX_GSO);
	ck_assert_uint_eq(rx.iov[0].iov_len, NET_RX_MAX_GSO);
	ck_assert_uint_eq(net_rx_complete(&rx, (size_t)NET_RX_MAX_GSO + 1, u), 0);
	ck_assert_uint_eq(net_rx_complete(&rx, SIZE_MAX, u), 0);
	ck_assert_uint_eq(net_rx_complete(&rx, 1000, u), 1);
	ck_assert_uint_eq(u[0].len, 1000);
}
END_TEST

START_TEST(stash_full_and_wrap)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];
	struct iovec v;

	init(4, true, false, false);
	for (uint16_t i = 0; i < 4; i++)
		add1(i, 1000);
	ck_assert(net_rx_full(&rx));
	v = (struct iovec){ alloc(1000), 1000 };
	ck_assert_int_eq(net_rx_add(&rx, 4, &v, 1, 0), -ENOSPC);
	ck_assert_uint_eq(rx.count, 4);
	ck_assert_uint_eq(net_rx_prepare(&rx), 2); /* 1530 bytes: two chains */
	ck_assert_uint_eq(net_rx_complete(&rx, 1500, u), 2);
	ck_assert_uint_eq(u[1].head, 1);
	ck_assert(!net_rx_full(&rx));
	add1(4, 1000);
	add1(5, 1000);
	/* Around the ring, still in order. */
	for (uint16_t want = 2; want < 6; want++) {
		ck_assert_uint_gt(net_rx_prepare(&rx), 0);
		ck_assert_uint_eq(net_rx_complete(&rx, 20, u), 1);
		ck_assert_uint_eq(u[0].head, want);
	}
	ck_assert_uint_eq(net_rx_prepare(&rx), 0);
}
END_TEST

START_TEST(limits_per_read)
{
	struct net_rx_used u[NET_RX_MAX_CHAINS];
	uint8_t *p = alloc(32 * 16);
	struct iovec v[32];

	/* Tiny one-buffer chains: at most NET_RX_MAX_CHAINS of them in one frame. */
	init(CAP, true, false, true);
	for (uint16_t i = 0; i < 100; i++)
		add1(i, 100);
	ck_assert_uint_eq(net_rx_prepare(&rx), NET_RX_MAX_CHAINS);
	ck_assert_uint_eq(rx.room, NET_RX_MAX_CHAINS * 100);
	ck_assert_uint_eq(net_rx_complete(&rx, NET_RX_MAX_CHAINS * 100, u), NET_RX_MAX_CHAINS);
	ck_assert_uint_eq(num_buffers(mem), NET_RX_MAX_CHAINS);

	/* Chains of 32 buffers: the read's iovec array holds four. */
	init(CAP, true, false, true);
	for (unsigned i = 0; i < 32; i++)
		v[i] = (struct iovec){ p + i * 16, 16 };
	for (uint16_t i = 0; i < 6; i++)
		ck_assert_int_eq(net_rx_add(&rx, i, v, 32, 0), 0);
	ck_assert_uint_eq(net_rx_prepare(&rx), NET_RX_READ_IOV);
	ck_assert_uint_eq(rx.nchains, 4);
	ck_assert_uint_eq(rx.room, 4 * 32 * 16);
	ck_assert_uint_eq(net_rx_complete(&rx, 3 * 512 + 1, u), 4);
	ck_assert_uint_eq(u[3].len, 1);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("net_rx");
	TCase *tc = tcase_create("net_rx");

	tcase_add_test(tc, mrg_off_one_chain);
	tcase_add_test(tc, mrg_off_small_chain);
	tcase_add_test(tc, mrg_exact_fit);
	tcase_add_test(tc, mrg_three_chains);
	tcase_add_test(tc, split_header);
	tcase_add_test(tc, bad_chains);
	tcase_add_test(tc, huge_lengths);
	tcase_add_test(tc, stash_full_and_wrap);
	tcase_add_test(tc, limits_per_read);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
