// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_net_copy: virtio-net (src/virtio/net.c) over a copying backend (src/net_backend.h: fd -1,
 * frames moved with rx_peek / rx_consume / tx_room / tx_write), under a hostile driver, as
 * fuzz_net's mode 1 drives the tap path: the I/O thread's io_uring runs on the fuzzing thread
 * (fuzz_loop.h), fuzz_vq.h plays the driver. The first input byte's bit 0 picks the backend:
 *
 *  - 0, stream (src/net_stream.c) over a socketpair: the host end writes framed bytes (4-byte
 *    big-endian lengths) into it, well-formed or hostile (a length of 0 or over 65549, a frame cut
 *    short, garbage, end of file, a closed peer), and reads what the device sent. What the kernel
 *    and io_uring do with the socket is real; completions arrive at once on this thread, so runs
 *    are nearly repeatable.
 *  - 1, user (src/net_user.c): libslirp on its own thread, restricted and without the host's
 *    loopback (a fuzzed guest reaches nothing outside 10.0.2.0/24). The input can have the driver
 *    post well-formed frames (ARP, DHCP, ICMP, UDP, TCP to 10.0.2.x, checksums filled in) that slirp
 *    answers asynchronously: a "wait" turn after the guest sent frames spins the loop until a
 *    receive buffer is used, for at most 1 ms (10 ms per input). Timing varies between runs; what
 *    is checked does not.
 *
 * Input: u8 cfg (bit 0 the backend; bit 1 EVENT_IDX; bits 2-6 dropped features: MRG_RXBUF,
 * CTRL_VQ, CTRL_RX, STATUS, CTRL_MAC_ADDR), u8 queues (bits 0-3 size 2^(n mod 9), bits 4-6 leave
 * rx0 / tx0 / the control queue disabled), then u8 op (mod 8):
 *   0 a driver round (fuzz_vq.h) on queue u8 (mod 3: rx0, tx0, ctrl)
 *   1 notify queue u8 (mod 4: one past the last too)
 *   2 stream: the host writes, u8 kind (bits 0-1): 0 a frame (u16 length, plus 65536 when kind's
 *     bit 2 is set, 1 + that mod 65549; its first bytes from the input: u8 count then bytes), 1 a
 *     raw u32 length then u8 count bytes, 2 as 0 but only u8 count of the frame's bytes follow
 *     its header, 3 end of file (u8 bit 0: close the socket)
 *     user: the driver transmits a well-formed frame, u8 kind (mod 6): 0 ARP request for 10.0.2.u8,
 *     1 DHCP of message type u8, 2 ICMP echo, 3 UDP, 4 TCP to 10.0.2.u8 (u16 port, u8 TCP flags,
 *     u32 seq, u32 ack), 5 raw bytes; then u8 count and payload bytes; u8 descriptor index. When
 *     kind / 6 is odd, kinds 1-4 leave their checksum to the device (NEEDS_CSUM, as with CSUM)
 *   3 a loop turn
 *   4 stream: the host reads what the device sent; user: a wait turn
 *   5 reset (u8 bit 0: let the loop settle and check nothing is in flight), then activate again
 *   6 read the configuration (u8 offset, u8 length)
 *   7 stream: the host reads, then loop turns until idle or 8; user: a wait turn
 *
 * Checked beyond the sanitizers: interrupts name existing queues; every used length is at most the
 * writable bytes of a chain the driver posted under that head (walked as the device walks it
 * before each step that can pop; not checked once a writable buffer overlapped the rings or an
 * indirect table, where the device's own writes may legitimately change a chain); a copying
 * backend holds no chain in flight (inflight() is 0 after every step); after a reset the loop
 * comes to rest; frames on the socket have lengths 1..65549; each input ends with the device and
 * backend destroyed, no fd left open (counted in /proc/self/fd) and, through LeakSanitizer, no
 * memory left.
 */
#include <dirent.h>
#include <errno.h>
#include <linux/virtio_config.h>
#include <linux/virtio_net.h>
#include <signal.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fuzz_loop.h"
#include "fuzz_vq.h"
#include "net_stream.h"
#include "net_user.h"
#include "virtio/net.h"
#include "virtio/net_rx.h"

#define NQ 3                                      /* rx0, tx0, ctrl: one queue pair */
#define MAX_FRAME NET_STREAM_MAX_FRAME            /* 65549 */
#define RAM_END (2 * FVQ_RAM_SIZE)                /* guest-physical end of the fake RAM */
#define GRAN 64                                   /* the overlap maps' granule */
#define NGRAN (RAM_END / GRAN)
#define WALK_IOV (VIRTQ_MAX_SIZE + FVQ_MAX_SIZE)  /* more than any chain the device accepts */
#define TX_AREA (RAM_END - 0x1000)                /* where op 2 (user) puts its frame */
#define WAIT_STEP_US 50
#define WAIT_OP_US 1000
#define WAIT_INPUT_US 10000

struct st {
	struct fvq_driver d;
	struct virtq vq[NQ];
	uint16_t size[NQ]; /* 0: the queue stays disabled */
	bool user, event_idx;
	uint64_t features;
	void *dev;
	struct virtio_ctx ctx;
	bool active;
	int peer; /* stream: the host's end; -1 closed */
	/* stream: the host's reader, between frames or inside one */
	uint8_t rhdr[4];
	unsigned rhdr_got;
	uint32_t rskip;
	/* used lengths: the most writable bytes seen under each head since activation */
	uint32_t max_in[NQ][FVQ_MAX_SIZE];
	uint16_t seen_used[NQ];
	uint8_t rings[NGRAN / 8]; /* the rings and indirect tables the device reads chains from */
	uint8_t wbuf[NGRAN / 8];  /* writable buffers the device may write */
	bool tainted;             /* they overlapped: used entries are not checked */
	unsigned wait_us;
	uint16_t tx_seen; /* tx0's used index at the last wait turn */
	struct iovec iov[WALK_IOV];
	uint8_t buf[MAX_FRAME + 8];
};

static void irq(void *opaque, unsigned q)
{
	FUZZ_CHECK(q < NQ);
	(void)opaque;
}

static void cfg_irq(void *opaque)
{
	(void)opaque;
}

static unsigned count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned n = 0;

	FUZZ_CHECK(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

/* --- used lengths --------------------------------------------------------------------------- */

static void mark(struct st *s, uint8_t *map, const uint8_t *other, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (!len || gpa >= RAM_END)
		return;
	end = len > RAM_END - gpa ? RAM_END : gpa + len;
	for (uint64_t g = gpa / GRAN; g <= (end - 1) / GRAN; g++) {
		map[g / 8] |= (uint8_t)(1u << (g % 8));
		if (other[g / 8] & (1u << (g % 8)))
			s->tainted = true;
	}
}

static uint64_t gpa_of(const struct st *s, const void *p)
{
	uintptr_t a = (uintptr_t)p;

	for (int i = 0; i < 2; i++) {
		uintptr_t b = (uintptr_t)s->d.ram.hva[i];

		if (a >= b && a - b < s->d.ram.size[i])
			return (uint64_t)i * FVQ_RAM_SIZE + (a - b);
	}
	FUZZ_CHECK(0); /* the walk hands out pointers into our RAM only */
	return 0;
}

/*
 * Before each step that may pop chains: walk every chain the device would pop now, as it would
 * (same memory, a copy of its queue state), and note its writable bytes under its head, its
 * writable buffers and its indirect table.
 */
static void record(struct st *s)
{
	for (unsigned q = 0; q < NQ; q++) {
		struct virtq c = s->vq[q];
		uint16_t avail, pending;

		if (!c.size || c.broken)
			continue;
		avail = fvq_get16(&s->d, FVQ_AVAIL(q) + 2);
		pending = (uint16_t)(avail - c.last_avail);
		if (pending > c.size)
			continue; /* the device breaks the queue: nothing is popped */
		for (uint16_t i = 0; i < pending; i++) {
			uint16_t slot = (uint16_t)(c.last_avail + i) & (c.size - 1);
			uint16_t head = fvq_get16(&s->d, FVQ_AVAIL(q) + 4 + 2ull * slot);
			struct vring_desc dsc;
			struct virtq_chain ch;

			if (head >= c.size)
				break; /* the device breaks the queue here */
			memcpy(&dsc, fvq_ptr(&s->d, FVQ_DESC(q) + 16ull * head, 16), 16);
			if (le16toh(dsc.flags) & VRING_DESC_F_INDIRECT)
				mark(s, s->rings, s->wbuf, le64toh(dsc.addr), le32toh(dsc.len));
			if (virtq_walk(&c, head, &ch, s->iov, WALK_IOV) != 1 || ch.bad)
				continue;
			for (unsigned k = ch.nout; k < ch.niov; k++)
				mark(s, s->wbuf, s->rings, gpa_of(s, s->iov[k].iov_base), s->iov[k].iov_len);
			if (ch.in_len > s->max_in[q][head])
				s->max_in[q][head] = (uint32_t)ch.in_len;
		}
	}
}

/* After each step: what the device published, and that it holds nothing in flight. */
static void check(struct st *s)
{
	for (unsigned q = 0; q < NQ; q++) {
		uint16_t idx;

		if (!s->size[q] || !s->active)
			continue;
		idx = fvq_get16(&s->d, FVQ_USED(q) + 2);
		for (unsigned n = 0; s->seen_used[q] != idx && n < s->size[q]; s->seen_used[q]++, n++) {
			struct vring_used_elem e;
			uint32_t id, len;

			memcpy(&e, fvq_ptr(&s->d, FVQ_USED(q) + 4 + 8ull * (s->seen_used[q] % s->size[q]), 8), 8);
			id = le32toh(e.id);
			len = le32toh(e.len);
			if (s->tainted)
				continue;
			FUZZ_CHECK(id < s->size[q]);
			FUZZ_CHECK(len <= s->max_in[q][id]);
		}
		s->seen_used[q] = idx;
	}
	/* A copying backend completes transmit chains at once and copies received frames at once. */
	FUZZ_CHECK(virtio_net_ops.inflight(s->dev) == 0);
}

/* --- the device ----------------------------------------------------------------------------- */

static void activate(struct st *s)
{
	memset(s->max_in, 0, sizeof(s->max_in));
	memset(s->seen_used, 0, sizeof(s->seen_used));
	memset(s->rings, 0, sizeof(s->rings));
	memset(s->wbuf, 0, sizeof(s->wbuf));
	s->tainted = false;
	s->tx_seen = 0;
	mark(s, s->rings, s->wbuf, 0, FVQ_DATA); /* every queue's rings */
	for (unsigned q = 0; q < NQ; q++) {
		memset(&s->vq[q], 0, sizeof(s->vq[q]));
		s->d.size[q] = 0;
		if (s->size[q])
			FUZZ_CHECK(fvq_init(&s->d, q, s->size[q], s->event_idx, &s->vq[q]) == 0);
	}
	record(s);
	FUZZ_CHECK(virtio_net_ops.activate(s->dev, &s->ctx) == 0);
	s->active = true;
	for (unsigned q = 0; q < NQ; q++)
		if (s->size[q])
			virtio_net_ops.notify(s->dev, q); /* as virtio-pci does after DRIVER_OK */
	check(s);
}

/* --- the stream backend's host end ---------------------------------------------------------- */

static void host_send(struct st *s, const void *p, size_t len)
{
	if (s->peer >= 0 && len)
		(void)send(s->peer, p, len, MSG_DONTWAIT | MSG_NOSIGNAL); /* full: a cut frame, as a peer may */
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

/* The host reads what the device sent: every frame's length must be 1..65549. */
static void host_read(struct st *s)
{
	ssize_t r;

	while (s->peer >= 0 && (r = recv(s->peer, s->buf, sizeof(s->buf), MSG_DONTWAIT)) > 0) {
		const uint8_t *p = s->buf;
		size_t left = (size_t)r;

		while (left) {
			size_t k;

			if (s->rskip) {
				k = left < s->rskip ? left : s->rskip;
				s->rskip -= (uint32_t)k;
				p += k;
				left -= k;
				continue;
			}
			s->rhdr[s->rhdr_got++] = *p++;
			left--;
			if (s->rhdr_got == 4) {
				uint32_t len = (uint32_t)s->rhdr[0] << 24 | (uint32_t)s->rhdr[1] << 16 |
					       (uint32_t)s->rhdr[2] << 8 | s->rhdr[3];

				FUZZ_CHECK(len >= 1 && len <= MAX_FRAME);
				s->rskip = len;
				s->rhdr_got = 0;
			}
		}
	}
}

static void stream_write(struct st *s, struct fz *f)
{
	uint8_t kind = fz_u8(f), hdr[4];
	size_t got;
	const uint8_t *p;

	switch (kind % 4) {
	case 0:
	case 2: {
		size_t len = 1 + ((kind & 4 ? 0x10000u : 0) | fz_u16(f)) % MAX_FRAME, n = fz_u8(f), send_len = len;

		p = fz_take(f, n < len ? n : len, &got);
		put_be32(hdr, (uint32_t)len);
		memcpy(s->buf, hdr, 4);
		memcpy(s->buf + 4, p, got);
		if (kind % 4 == 2) {
			send_len = fz_u8(f); /* cut short: the rest never comes, or the next frame reads as it */
			if (send_len > len)
				send_len = len;
			if (send_len > got)
				send_len = got;
		} else {
			memset(s->buf + 4 + got, 0x5a, len - got);
		}
		host_send(s, s->buf, 4 + send_len);
		break;
	}
	case 1:
		put_be32(hdr, fz_u32(f)); /* 0, over 65549, or anything */
		memcpy(s->buf, hdr, 4);
		p = fz_take(f, fz_u8(f), &got);
		memcpy(s->buf + 4, p, got);
		host_send(s, s->buf, 4 + got);
		break;
	default:
		if (s->peer < 0)
			break;
		if (fz_u8(f) & 1) {
			close(s->peer);
			s->peer = -1;
		} else {
			shutdown(s->peer, SHUT_WR);
		}
		break;
	}
}

/* --- the user backend: frames a guest would send -------------------------------------------- */

static const uint8_t guest_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x56 };
static const uint8_t gw_mac[6] = { 0x52, 0x55, 10, 0, 2, 2 }; /* slirp's hosts: 52:55:IP */

static uint32_t sum16(const uint8_t *p, size_t n, uint32_t sum)
{
	for (size_t i = 0; i + 1 < n; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (n & 1)
		sum += (uint32_t)p[n - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v;
}

/* Ethernet + IPv4 around the l4 bytes already at f + 34 (l4len of them); fills the checksums. */
static size_t ipv4(uint8_t *f, uint8_t proto, const uint8_t src[4], const uint8_t dst[4], size_t l4len)
{
	uint8_t *ip = f + 14, *l4 = ip + 20;
	uint32_t pseudo;

	memcpy(f, dst[3] == 255 ? (const uint8_t[6]){ 0xff, 0xff, 0xff, 0xff, 0xff, 0xff } : gw_mac, 6);
	memcpy(f + 6, guest_mac, 6);
	f[12] = 0x08, f[13] = 0x00;
	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + l4len));
	ip[8] = 64;
	ip[9] = proto;
	memcpy(ip + 12, src, 4);
	memcpy(ip + 16, dst, 4);
	put16(ip + 10, fold(sum16(ip, 20, 0)));
	pseudo = sum16(ip + 12, 8, 0) + proto + (uint32_t)l4len;
	if (proto == 1) /* ICMP: no pseudo-header */
		put16(l4 + 2, fold(sum16(l4, l4len, 0)));
	else if (proto == 6)
		put16(l4 + 16, fold(sum16(l4, l4len, pseudo)));
	else if (proto == 17)
		put16(l4 + 6, fold(sum16(l4, l4len, pseudo)));
	return 34 + l4len;
}

/* The frame of kind (mod 6: see op 2) into out; returns its length. */
static size_t guest_frame_of(struct fz *f, uint8_t *out, uint8_t kind)
{
	static const uint8_t me[4] = { 10, 0, 2, 15 }, any[4] = { 0, 0, 0, 0 }, all[4] = { 255, 255, 255, 255 };
	uint8_t host = fz_u8(f), *l4 = out + 34;
	uint8_t dst[4] = { 10, 0, 2, host };
	uint16_t port = fz_u16(f);
	uint8_t tcp_flags = fz_u8(f);
	uint32_t seq = fz_u32(f), ack = fz_u32(f);
	size_t n;
	const uint8_t *pl = fz_take(f, fz_u8(f), &n);

	switch (kind) {
	case 0: /* ARP request */
		memset(out, 0xff, 6);
		memcpy(out + 6, guest_mac, 6);
		out[12] = 0x08, out[13] = 0x06;
		memcpy(out + 14, (const uint8_t[8]){ 0, 1, 0x08, 0, 6, 4, 0, 1 }, 8); /* Ethernet, IPv4, request */
		memcpy(out + 22, guest_mac, 6);
		memcpy(out + 28, me, 4);
		memset(out + 32, 0, 6);
		memcpy(out + 38, dst, 4);
		memset(out + 42, 0, 18);
		return 60;
	case 1: { /* DHCP from 0.0.0.0:68 to 255.255.255.255:67: message type, requested 10.0.2.15 */
		uint8_t *bp = l4 + 8;
		size_t len = 8 + 240 + 3 + 6 + 1;

		memset(l4, 0, len);
		put16(l4, 68), put16(l4 + 2, 67), put16(l4 + 4, (uint16_t)len);
		bp[0] = 1, bp[1] = 1, bp[2] = 6;
		memcpy(bp + 4, &seq, 4); /* xid */
		memcpy(bp + 28, guest_mac, 6);
		bp[236] = 99, bp[237] = 130, bp[238] = 83, bp[239] = 99;
		bp[240] = 53, bp[241] = 1, bp[242] = host; /* DISCOVER 1, REQUEST 3, RELEASE 7, ... */
		bp[243] = 50, bp[244] = 4;
		memcpy(bp + 245, me, 4);
		bp[249] = 255;
		return ipv4(out, 17, any, all, len);
	}
	case 2: /* ICMP echo request */
		l4[0] = 8, l4[1] = 0, l4[2] = l4[3] = 0;
		memcpy(l4 + 4, &seq, 4);
		memcpy(l4 + 8, pl, n);
		return ipv4(out, 1, me, dst, 8 + n);
	case 3: /* UDP */
		put16(l4, 1024 + (port >> 6)), put16(l4 + 2, port), put16(l4 + 4, (uint16_t)(8 + n)), put16(l4 + 6, 0);
		memcpy(l4 + 8, pl, n);
		return ipv4(out, 17, me, dst, 8 + n);
	case 4: /* TCP */
		memset(l4, 0, 20);
		put16(l4, 40000), put16(l4 + 2, port);
		put_be32(l4 + 4, seq);
		put_be32(l4 + 8, ack);
		l4[12] = 5 << 4;
		l4[13] = tcp_flags ? tcp_flags : 0x02; /* SYN */
		put16(l4 + 14, 65535);
		memcpy(l4 + 20, pl, n);
		return ipv4(out, 6, me, dst, 20 + n);
	default: /* raw bytes */
		memcpy(out, pl, n);
		return n;
	}
}

/*
 * A checksum left to the device (CSUM): the frame's TCP, UDP or ICMP checksum field set as a guest
 * sets it, with hdr saying where it goes (the backend must complete it for slirp to take the frame).
 */
static void leave_checksum(uint8_t *frame, size_t len, struct virtio_net_hdr *hdr)
{
	uint8_t *ip = frame + 14, proto = ip[9];
	uint16_t off = proto == 1 ? 2 : proto == 6 ? 16 : proto == 17 ? 6 : 0;

	if (!off || len < 34u + off + 2)
		return;
	if (proto == 1) /* ICMP: no pseudo-header */
		put16(frame + 34 + off, 0);
	else /* the pseudo-header's sum, not inverted */
		put16(frame + 34 + off, (uint16_t)~fold(sum16(ip + 12, 8, 0) + proto + (uint32_t)(len - 34)));
	hdr->flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
	hdr->csum_start = htole16(34);
	hdr->csum_offset = htole16(off);
}

/*
 * The frame of op 2 (user mode) into f (after the 12-byte header); returns its length. A kind byte
 * of 6 or more whose (kind / 6) is odd leaves the checksum to the device (leave_checksum, *hdr).
 */
static size_t guest_frame(struct fz *f, uint8_t *out, struct virtio_net_hdr *hdr)
{
	size_t len = 0;
	uint8_t raw = fz_u8(f);

	len = guest_frame_of(f, out, raw % 6);
	if ((raw / 6) & 1 && raw % 6 >= 1 && raw % 6 <= 4)
		leave_checksum(out, len, hdr);
	return len;
}

/* Op 2, user mode: the driver puts header + frame at TX_AREA and posts it as one descriptor on tx0. */
static void guest_send(struct st *s, struct fz *f)
{
	uint8_t *area = fvq_ptr(&s->d, TX_AREA, 0x1000);
	struct virtio_net_hdr hdr = { 0 };
	size_t len = guest_frame(f, area + NET_RX_HDR_LEN, &hdr);
	uint16_t size = s->d.size[1] ? s->d.size[1] : 1, idx = fz_u8(f) % size;
	struct vring_desc dsc = { .addr = htole64(TX_AREA), .len = htole32((uint32_t)(NET_RX_HDR_LEN + len)) };

	memset(area, 0, NET_RX_HDR_LEN);
	memcpy(area, &hdr, sizeof(hdr));
	memcpy(fvq_ptr(&s->d, FVQ_DESC(1) + 16ull * idx, 16), &dsc, 16);
	fvq_put16(&s->d, FVQ_AVAIL(1) + 4 + 2ull * (s->d.avail_idx[1] % size), idx);
	s->d.avail_idx[1]++;
	fvq_put16(&s->d, FVQ_AVAIL(1) + 2, s->d.avail_idx[1]);
	if (s->active) {
		record(s);
		virtio_net_ops.notify(s->dev, 1);
	}
}

static void sleep_us(long us)
{
	struct timespec ts = { 0, us * 1000 };

	nanosleep(&ts, NULL);
}

/*
 * A loop turn that gives slirp's thread a moment when the guest sent frames since the last such
 * turn (else there is nothing to answer): until a receive buffer is used, or 1 ms.
 */
static void wait_turn(struct st *s, struct event_loop *loop)
{
	uint16_t used0 = s->size[0] ? fvq_get16(&s->d, FVQ_USED(0) + 2) : 0;
	uint16_t sent = s->size[1] ? fvq_get16(&s->d, FVQ_USED(1) + 2) : 0;
	bool wait = sent != s->tx_seen && s->size[0];

	s->tx_seen = sent;
	for (unsigned t = 0;; t += WAIT_STEP_US) {
		record(s);
		FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
		if (!wait || t >= WAIT_OP_US || s->wait_us >= WAIT_INPUT_US)
			return;
		if (fvq_get16(&s->d, FVQ_USED(0) + 2) != used0)
			return; /* an answer reached the guest */
		sleep_us(WAIT_STEP_US);
		s->wait_us += WAIT_STEP_US;
	}
}

/* After a reset: the backend's cancelled I/O completes; then nothing may be pending. */
static void settle(struct st *s, struct event_loop *loop)
{
	int ret = 1;

	for (int i = 0; i < 2000 && ret == 1; i++) {
		host_read(s);
		ret = event_loop_run_once(loop, false);
		if (ret == 1 && i >= 16)
			sleep_us(50);
	}
	FUZZ_CHECK(ret == 0);
}

static void run(struct fz *f)
{
	static struct st s;
	struct event_loop *loop = fuzz_loop();
	uint8_t cfg = fz_u8(f), qb = fz_u8(f);
	struct virtio_net_opts o = { .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x56 } };
	struct net_backend *be = NULL;
	uint64_t drop = 0;
	int sv[2];

	memset(&s.d, 0, sizeof(s.d));
	s.user = cfg & 1;
	s.event_idx = cfg & 2;
	s.active = false;
	s.peer = -1;
	s.rhdr_got = 0;
	s.rskip = 0;
	s.wait_us = 0;
	s.tx_seen = 0;
	for (unsigned q = 0; q < NQ; q++)
		s.size[q] = qb & (0x10u << q) ? 0 : fvq_size(qb & 0x0f);
	if (fvq_ram_init(&s.d))
		return;
	if (s.user) {
		struct vmm_net n = { .backend = VMM_NET_USER, .restricted = 1, .no_host_loopback = 1 };

		FUZZ_CHECK(net_user_open(&n, &fuzz_log, NULL, &be) == 0);
	} else {
		FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
		s.peer = sv[1];
		FUZZ_CHECK(net_stream_from_fd(sv[0], "stream fuzz", &fuzz_log, &be) == 0);
	}
	FUZZ_CHECK(be->ops->fd(be, 0) == -1 && !net_backend_direct(be));
	o.backend = be;
	FUZZ_CHECK(virtio_net_create(&o, &fuzz_log, &s.dev) == 0);
	FUZZ_CHECK(virtio_net_ops.num_queues(s.dev) == NQ);
	if (cfg & 0x04)
		drop |= 1ull << VIRTIO_NET_F_MRG_RXBUF;
	if (cfg & 0x08)
		drop |= 1ull << VIRTIO_NET_F_CTRL_VQ;
	if (cfg & 0x10)
		drop |= 1ull << VIRTIO_NET_F_CTRL_RX;
	if (cfg & 0x20)
		drop |= 1ull << VIRTIO_NET_F_STATUS;
	if (cfg & 0x40)
		drop |= 1ull << VIRTIO_NET_F_CTRL_MAC_ADDR;
	s.ctx = (struct virtio_ctx){ .mem = &s.d.ram.m, .loop = loop, .vq = s.vq, .nvq = NQ, .interrupt = irq,
				     .needs_reset = cfg_irq, .config_changed = cfg_irq, .irq_opaque = &s };
	s.ctx.features = (virtio_net_ops.features(s.dev) & ~drop) | 1ull << VIRTIO_F_VERSION_1 |
			 (s.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	activate(&s);

	while (fz_left(f)) {
		switch (fz_u8(f) % 8) {
		case 0:
			fvq_round(&s.d, fz_u8(f) % NQ, f);
			break;
		case 1: {
			unsigned q = fz_u8(f) % (NQ + 1);

			record(&s);
			virtio_net_ops.notify(s.dev, q);
			break;
		}
		case 2:
			if (s.user)
				guest_send(&s, f);
			else
				stream_write(&s, f);
			break;
		case 3:
			record(&s);
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		case 4:
			if (s.user)
				wait_turn(&s, loop);
			else
				host_read(&s);
			break;
		case 5: {
			bool rest = fz_u8(f) & 1;

			virtio_net_ops.reset(s.dev);
			s.active = false;
			FUZZ_CHECK(virtio_net_ops.inflight(s.dev) == 0);
			if (rest)
				settle(&s, loop);
			activate(&s);
			break;
		}
		case 6: {
			uint32_t off = fz_u8(f) % virtio_net_ops.config_size, len = fz_u8(f) % 9;
			uint8_t b[8];

			if (len && len <= virtio_net_ops.config_size - off)
				virtio_net_ops.config_read(s.dev, off, b, len);
			break;
		}
		default:
			if (s.user) {
				wait_turn(&s, loop);
				break;
			}
			for (int i = 0; i < 8; i++) {
				int ret;

				host_read(&s);
				record(&s);
				ret = event_loop_run_once(loop, false);
				FUZZ_CHECK(ret >= 0);
				if (ret == 0)
					break;
			}
			break;
		}
		check(&s);
	}
	virtio_net_ops.reset(s.dev);
	s.active = false;
	FUZZ_CHECK(virtio_net_ops.inflight(s.dev) == 0);
	settle(&s, loop);
	virtio_net_ops.destroy(s.dev); /* closes the backend: the socket, or slirp and its thread */
	s.dev = NULL;
	settle(&s, loop); /* the backend's last completions free it; an unwatched poll ends */
	if (s.peer >= 0)
		close(s.peer);
	s.peer = -1;
	fvq_ram_free(&s.d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool once;
	struct fz f = fz_init(data, size);
	unsigned fds;

	if (!once) {
		signal(SIGPIPE, SIG_IGN); /* a write to a closed peer must fail, not kill */
		once = true;
	}
	fuzz_loop(); /* its ring's fds are the process's, not the input's */
	fds = count_fds();
	run(&f);
	FUZZ_CHECK(count_fds() == fds); /* socket, eventfds, slirp's sockets: all closed */
	return 0;
}
