// SPDX-License-Identifier: Apache-2.0
/* virtio-net receive buffers: stashing RX chains, laying out tap reads, merging a frame's chains. */
#include "virtio/net_rx.h"

#include <endian.h>
#include <errno.h>
#include <string.h>

#include "virtio/queue.h"

#define NUM_BUFFERS_OFF 10 /* offsetof(struct virtio_net_hdr_mrg_rxbuf, num_buffers) */
#define FLAGS_OFF 0

void net_rx_init(struct net_rx *rx, struct net_rx_chain *slots, unsigned cap, bool mrg, bool guest_csum, bool gso)
{
	memset(rx, 0, sizeof(*rx));
	rx->c = slots;
	rx->cap = cap;
	rx->mrg = mrg;
	rx->keep_flags = guest_csum;
	rx->max_len = gso ? NET_RX_MAX_GSO : NET_RX_MAX_PLAIN;
}

bool net_rx_full(const struct net_rx *rx)
{
	return rx->count >= rx->cap;
}

static struct net_rx_chain *nth(const struct net_rx *rx, unsigned i)
{
	return &rx->c[(rx->first + i) % rx->cap];
}

int net_rx_add(struct net_rx *rx, uint16_t head, const struct iovec *iov, unsigned niov, unsigned nout)
{
	struct net_rx_chain *c;
	uint64_t len = 0;
	unsigned n = 0;

	if (nout != 0 || niov > NET_RX_CHAIN_IOV)
		return -EINVAL;
	if (net_rx_full(rx))
		return -ENOSPC;
	c = nth(rx, rx->count);
	for (unsigned i = 0; i < niov; i++) {
		if (iov[i].iov_len == 0)
			continue;
		c->iov[n++] = iov[i];
		/* Saturating: only max_len bytes of a chain are ever used. */
		if (__builtin_add_overflow(len, iov[i].iov_len, &len) || len > UINT32_MAX)
			len = UINT32_MAX;
	}
	/* Each buffer holds at least a header (5.1.6.3.1), so the header never spans two chains. */
	if (len < NET_RX_HDR_LEN)
		return -EINVAL;
	c->head = head;
	c->niov = (uint16_t)n;
	c->len = (uint32_t)len;
	rx->count++;
	return 0;
}

unsigned net_rx_prepare(struct net_rx *rx)
{
	return net_rx_prepare_for(rx, rx->max_len);
}

unsigned net_rx_prepare_for(struct net_rx *rx, uint32_t limit)
{
	unsigned max_chains = rx->mrg ? NET_RX_MAX_CHAINS : 1;

	rx->niov = rx->nchains = 0;
	rx->room = 0;
	while (rx->nchains < rx->count && rx->nchains < max_chains && rx->room < limit) {
		const struct net_rx_chain *c = nth(rx, rx->nchains);
		uint32_t want = limit - rx->room;

		/* A chain goes in whole (but for the bytes past limit) or not at all. */
		if (rx->niov + c->niov > NET_RX_READ_IOV) {
			unsigned need = 0;
			uint32_t sum = 0;

			while (need < c->niov) {
				size_t l = c->iov[need++].iov_len;

				if (l >= want - sum)
					break;
				sum += (uint32_t)l;
			}
			if (rx->niov + need > NET_RX_READ_IOV)
				break; /* the room stays short: the chain waits for the next read */
		}
		for (unsigned i = 0; i < c->niov && want; i++) {
			struct iovec v = c->iov[i];

			if (v.iov_len > want)
				v.iov_len = want;
			rx->iov[rx->niov++] = v;
			want -= (uint32_t)v.iov_len;
			rx->room += (uint32_t)v.iov_len;
		}
		rx->nchains++;
	}
	return rx->niov;
}

/* Write len bytes at offset off of chain c's buffers (the header may be split over several). */
static void chain_put(const struct net_rx_chain *c, size_t off, const void *src, size_t len)
{
	virtq_iov_to(c->iov, c->niov, off, src, len);
}

unsigned net_rx_complete(struct net_rx *rx, size_t n, struct net_rx_used *used)
{
	unsigned k = 0;
	uint16_t num;
	size_t left = n;

	if (n < NET_RX_HDR_LEN || n > rx->room || rx->nchains == 0)
		return 0;
	/* The read's room is the first nchains chains, each whole but for the last one's tail. */
	while (left && k < rx->nchains) {
		const struct net_rx_chain *c = nth(rx, k);
		uint32_t take = left < c->len ? (uint32_t)left : c->len;

		used[k].head = c->head;
		used[k].len = take;
		left -= take;
		k++;
	}
	num = htole16((uint16_t)k);
	chain_put(nth(rx, 0), NUM_BUFFERS_OFF, &num, sizeof(num));
	if (!rx->keep_flags) {
		uint8_t zero = 0;

		/* 5.1.6.4: without GUEST_CSUM flags is 0 (the tap may still report DATA_VALID). */
		chain_put(nth(rx, 0), FLAGS_OFF, &zero, 1);
	}
	rx->first = (rx->first + k) % rx->cap;
	rx->count -= k;
	rx->niov = rx->nchains = 0;
	rx->room = 0;
	return k;
}
