// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_vsock: the virtio-vsock device (src/virtio/vsock.c, vsock_conn.c) under a hostile driver:
 * transmit packets with bad lengths, unknown ops, wrong CIDs and types, credit lies and every op in
 * any order; receive and event buffers of odd sizes; resets and snapshot restores with connections
 * open. Its host side is real: unix sockets in a temporary directory the target makes (no
 * network), with a listener on "<uds>_1234" (guest connections to port 1234 succeed, to others are
 * refused) and host clients that CONNECT to guest ports. Every socket operation of the device runs
 * through a real io_uring on the fuzzing thread (fuzz_loop.h), so timing makes a run not exactly
 * repeatable.
 *
 * Input: u8 cfg (bits 0-3 rx queue size 2^n, bits 4-7 tx queue size 2^n), u8 cfg2 (bits 0-3 event
 * queue size 2^n, bit 4 EVENT_IDX), then operations until the input ends, u8 op (mod 12):
 *   0 a driver round on queue u8 % 3 (fuzz_vq.h)    1 notify queue u8 % 4
 *   2 a transmit packet, notified: u8 flags (bit 0 wrong src CID, 1 wrong dst CID, 2 wrong type,
 *     3 len from the input (else the payload's), 4 header and payload in two descriptors, 5 a
 *     device-writable descriptor too, 6 a chain shorter than the header), u8 op (mod 16), u8 guest
 *     port (1000 + n % 8), u8 host port (n % 4: 0 1234, 1 1235, else 1024 + n / 4 % 8: the ports of
 *     host-initiated connections), u32 buf_alloc, u32 fwd_cnt, u8 shutdown flags, [u32 len], u16
 *     payload length (mod 66 KiB; its first bytes from the input)
 *   3 receive buffers, notified: u8 count (mod 8), each u16 (bit 15 device-readable: malformed;
 *     low bits the length mod 9000)                 4 an event buffer, notified: u8 length
 *   5 a loop turn                                   6 a host client: u8 (bit 7: u8 length, bytes
 *     of garbage instead; else "CONNECT <1000 + n % 8>\n")
 *   7 host socket u8 % 32: u8 action % 4: write u8 length bytes, read what is there, close, shut
 *     down its write side                           8 accept what waits on the 1234 listener
 *   9 reset and activate again                      10 save and restore (TRANSPORT_RESET owed)
 *   11 configuration read: u8 offset, u8 length
 * Checked beyond the sanitizers: the accounted buffers never pass VIRTIO_VSOCK_TOTAL_BUF, nor the
 * connections VIRTIO_VSOCK_MAX_CONNS; used entries name heads below the queue size; interrupts
 * name queues 0-2; after a reset the device comes to rest with nothing accounted.
 */
#include <linux/virtio_config.h>
#include <linux/virtio_vsock.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "fuzz_loop.h"
#include "fuzz_vq.h"
#include "snapshot/sbuf.h"
#include "virtio/vsock.h"

#define CID 3
#define HDR ((uint32_t)sizeof(struct virtio_vsock_hdr))
#define LISTEN_PORT 1234
#define MAX_FDS 32
#define TX_AT FVQ_RAM_SIZE          /* transmit packets: region 1 */
#define RX_END FVQ_RAM_SIZE         /* receive and event buffers: FVQ_DATA .. the end of region 0 */

struct state {
	struct fvq_driver d;
	struct virtq vq[3];
	uint8_t qsize_log[3];
	bool event_idx, active;
	void *dev;
	struct virtio_ctx ctx;
	uint16_t seen_used[3];
	uint16_t next_desc[3];
	uint64_t rx_at;
	int lfd;                    /* the host's listener on <uds>_1234 */
	int fds[MAX_FDS];
};

static char dir[64], uds[96];

static void cleanup(void)
{
	char p[128];

	unlink(uds);
	snprintf(p, sizeof(p), "%s_%u", uds, LISTEN_PORT);
	unlink(p);
	rmdir(dir);
}

static void irq(void *opaque, unsigned q)
{
	(void)opaque;
	FUZZ_CHECK(q < 3);
}

static void needs_reset(void *opaque)
{
	(void)opaque;
}

/* Post a chain of n buffers (gpa, len, device-writable) on queue q, as a driver would. */
static void post(struct state *s, unsigned q, const uint64_t *gpa, const uint32_t *len, const bool *wr, unsigned n)
{
	uint16_t size = s->d.size[q];
	uint16_t head = s->next_desc[q] % size;

	if (n > size)
		n = size;
	for (unsigned k = 0; k < n; k++) {
		uint16_t i = (uint16_t)((head + k) % size);
		struct vring_desc dsc = {
			.addr = htole64(gpa[k]),
			.len = htole32(len[k]),
			.flags = htole16((wr[k] ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0)),
			.next = htole16((uint16_t)((i + 1) % size)),
		};

		memcpy(fvq_ptr(&s->d, FVQ_DESC(q) + 16ull * i, 16), &dsc, 16);
	}
	s->next_desc[q] = (uint16_t)((head + n) % size);
	fvq_put16(&s->d, FVQ_AVAIL(q) + 4 + 2ull * (s->d.avail_idx[q] % size), head);
	s->d.avail_idx[q]++;
	fvq_put16(&s->d, FVQ_AVAIL(q) + 2, s->d.avail_idx[q]);
}

static void activate(struct state *s)
{
	if (s->active)
		return;
	for (unsigned q = 0; q < 3; q++) {
		memset(&s->vq[q], 0, sizeof(s->vq[q]));
		FUZZ_CHECK(fvq_init(&s->d, q, fvq_size(s->qsize_log[q]), s->event_idx, &s->vq[q]) == 0);
		s->seen_used[q] = 0;
		s->next_desc[q] = 0;
	}
	s->ctx.vq = s->vq;
	FUZZ_CHECK(virtio_vsock_ops.activate(s->dev, &s->ctx) == 0);
	s->active = true;
	for (unsigned q = 0; q < 3; q++)
		virtio_vsock_ops.notify(s->dev, q);
}

static void tx_packet(struct state *s, struct fz *f)
{
	uint8_t fl = fz_u8(f), op = fz_u8(f) % 16, gp = fz_u8(f), hp = fz_u8(f);
	struct virtio_vsock_hdr h = {
		.src_cid = htole64(fl & 1 ? 2 : CID),
		.dst_cid = htole64(fl & 2 ? CID : 2),
		.src_port = htole32(1000 + gp % 8),
		.dst_port = htole32(hp % 4 == 0 ? LISTEN_PORT : hp % 4 == 1 ? LISTEN_PORT + 1 : 1024 + hp / 4 % 8),
		.type = htole16(fl & 4 ? VIRTIO_VSOCK_TYPE_SEQPACKET : VIRTIO_VSOCK_TYPE_STREAM),
		.op = htole16(op),
	};
	uint64_t gpa[3];
	uint32_t len[3], plen;
	bool wr[3] = { false, false, true };
	unsigned n;
	size_t got;
	const uint8_t *p;

	h.buf_alloc = htole32(fz_u32(f));
	h.fwd_cnt = htole32(fz_u32(f));
	h.flags = htole32(fz_u8(f));
	if (fl & 8)
		h.len = htole32(fz_u32(f));
	plen = fz_u16(f) % (66u << 10);
	if (!(fl & 8))
		h.len = htole32(plen);
	p = fz_take(f, plen < 64 ? plen : 64, &got);
	memcpy(fvq_ptr(&s->d, TX_AT, HDR), &h, HDR);
	if (got)
		memcpy(fvq_ptr(&s->d, TX_AT + HDR, got), p, got);
	gpa[0] = TX_AT;
	if (fl & 16) {
		len[0] = HDR;
		gpa[1] = TX_AT + HDR;
		len[1] = plen;
		n = 2;
	} else {
		len[0] = HDR + plen;
		n = 1;
	}
	if (fl & 64)
		len[0] = HDR - 1 - fl % 8;
	if (fl & 32) {
		wr[n] = true;
		gpa[n] = FVQ_DATA;
		len[n] = 64;
		n++;
	}
	for (unsigned k = 0; k < n; k++)
		wr[k] = k == n - 1 && (fl & 32);
	post(s, 1, gpa, len, wr, n);
	virtio_vsock_ops.notify(s->dev, 1);
}

static void rx_buffers(struct state *s, struct fz *f)
{
	unsigned n = fz_u8(f) % 8;

	for (unsigned i = 0; i < n; i++) {
		uint16_t v = fz_u16(f);
		uint64_t gpa = s->rx_at;
		uint32_t len = (v & 0x7fff) % 9000;
		bool wr = !(v & 0x8000);

		if (gpa + len > RX_END)
			gpa = FVQ_DATA;
		s->rx_at = gpa + len + (v & 3);
		if (s->rx_at >= RX_END)
			s->rx_at = FVQ_DATA;
		post(s, 0, &gpa, &len, &wr, 1);
	}
	virtio_vsock_ops.notify(s->dev, 0);
}

static void ev_buffer(struct state *s, struct fz *f)
{
	uint64_t gpa = FVQ_DATA;
	uint32_t len = fz_u8(f);
	bool wr = len != 1;

	post(s, 2, &gpa, &len, &wr, 1);
	virtio_vsock_ops.notify(s->dev, 2);
}

static void add_fd(struct state *s, int fd)
{
	for (unsigned i = 0; i < MAX_FDS; i++) {
		if (s->fds[i] < 0) {
			s->fds[i] = fd;
			return;
		}
	}
	close(fd);
}

static void host_client(struct state *s, struct fz *f)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	uint8_t v = fz_u8(f);
	char line[32];
	const uint8_t *p = (const uint8_t *)line;
	size_t n;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", uds);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		close(fd);
		return;
	}
	if (v & 0x80) {
		p = fz_take(f, fz_u8(f), &n);
	} else {
		snprintf(line, sizeof(line), "CONNECT %u\n", 1000 + v % 8);
		n = strlen(line);
	}
	if (n)
		(void)!send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	add_fd(s, fd);
}

static void host_io(struct state *s, struct fz *f)
{
	unsigned i = fz_u8(f) % MAX_FDS;
	uint8_t act = fz_u8(f) % 4;
	int fd = s->fds[i];

	if (fd < 0)
		return;
	if (act == 0) {
		size_t n;
		const uint8_t *p = fz_take(f, fz_u8(f), &n);

		if (n)
			(void)!send(fd, p, n, MSG_DONTWAIT | MSG_NOSIGNAL);
	} else if (act == 1) {
		static uint8_t buf[64 << 10];

		while (recv(fd, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			;
	} else if (act == 2) {
		close(fd);
		s->fds[i] = -1;
	} else {
		shutdown(fd, SHUT_WR);
	}
}

static void host_accept(struct state *s)
{
	int fd;

	while ((fd = accept(s->lfd, NULL, NULL)) >= 0)
		add_fd(s, fd);
}

static void snapshot(struct state *s)
{
	struct sbuf b;
	struct sreader in;

	FUZZ_CHECK(virtio_vsock_ops.inflight(s->dev) == 0);
	sbuf_init(&b);
	FUZZ_CHECK(virtio_vsock_ops.save(s->dev, &b) == 0);
	in = (struct sreader){ .p = b.data, .len = b.len };
	FUZZ_CHECK(virtio_vsock_ops.restore(s->dev, &in) == 0);
	sbuf_free(&b);
	if (s->active)
		for (unsigned q = 0; q < 3; q++)
			virtio_vsock_ops.notify(s->dev, q);
}

static void config(struct state *s, struct fz *f)
{
	uint32_t off = fz_u8(f) % 8, len = fz_u8(f) % 9;
	uint8_t buf[8];

	if (len && off + len <= virtio_vsock_ops.config_size)
		virtio_vsock_ops.config_read(s->dev, off, buf, len);
}

/* Reset, and run the loop until the closed connections' requests completed: nothing accounted. */
static void reset(struct state *s, struct event_loop *loop)
{
	int ret = 1;

	virtio_vsock_ops.reset(s->dev);
	s->active = false;
	for (int i = 0; i < 1000 && ret == 1; i++)
		ret = event_loop_run_once(loop, i > 0);
	FUZZ_CHECK(ret == 0);
	FUZZ_CHECK(virtio_vsock_buffered(s->dev) == 0);
}

static int listen_at(const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	FUZZ_CHECK(fd >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	unlink(path);
	FUZZ_CHECK(bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 && listen(fd, 64) == 0);
	return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct event_loop *loop = fuzz_loop();
	struct fz f = fz_init(data, size);
	uint8_t cfg = fz_u8(&f), cfg2 = fz_u8(&f);
	struct virtio_vsock_opts o = { .guest_cid = CID, .uds = uds };
	char path[128];

	if (!dir[0]) {
		strcpy(dir, "/tmp/fuzz-vsock-XXXXXX");
		FUZZ_CHECK(mkdtemp(dir));
		snprintf(uds, sizeof(uds), "%s/v.sock", dir);
		atexit(cleanup);
	}
	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < MAX_FDS; i++)
		s.fds[i] = -1;
	if (fvq_ram_init(&s.d))
		return 0;
	s.qsize_log[0] = cfg & 0xf;
	s.qsize_log[1] = cfg >> 4;
	s.qsize_log[2] = cfg2 & 0xf;
	s.event_idx = cfg2 & 0x10;
	s.rx_at = FVQ_DATA;
	snprintf(path, sizeof(path), "%s_%u", uds, LISTEN_PORT);
	s.lfd = listen_at(path);
	FUZZ_CHECK(virtio_vsock_create(&o, &fuzz_log, &s.dev) == 0);
	s.ctx = (struct virtio_ctx){ .mem = &s.d.ram.m, .loop = loop, .nvq = 3, .interrupt = irq,
				     .needs_reset = needs_reset, .config_changed = needs_reset, .irq_opaque = &s };
	s.ctx.features = virtio_vsock_ops.features(s.dev) | 1ull << VIRTIO_F_VERSION_1 |
			 (s.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	activate(&s);

	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);

		switch (op % 12) {
		case 0:
			fvq_round(&s.d, fz_u8(&f) % 3, &f);
			break;
		case 1:
			virtio_vsock_ops.notify(s.dev, fz_u8(&f) % 4);
			break;
		case 2:
			if (s.active)
				tx_packet(&s, &f);
			break;
		case 3:
			if (s.active)
				rx_buffers(&s, &f);
			break;
		case 4:
			if (s.active)
				ev_buffer(&s, &f);
			break;
		case 5:
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		case 6:
			host_client(&s, &f);
			break;
		case 7:
			host_io(&s, &f);
			break;
		case 8:
			host_accept(&s);
			break;
		case 9:
			reset(&s, loop);
			activate(&s);
			break;
		case 10:
			snapshot(&s);
			break;
		case 11:
			config(&s, &f);
			break;
		}
		FUZZ_CHECK(virtio_vsock_buffered(s.dev) <= VIRTIO_VSOCK_TOTAL_BUF);
		FUZZ_CHECK(virtio_vsock_conns(s.dev) <= VIRTIO_VSOCK_MAX_CONNS);
		if (s.active)
			for (unsigned q = 0; q < 3; q++)
				fvq_check_used(&s.d, q, &s.seen_used[q]);
	}
	reset(&s, loop);
	for (unsigned i = 0; i < MAX_FDS; i++)
		if (s.fds[i] >= 0)
			close(s.fds[i]);
	host_accept(&s); /* connections that were never accepted */
	for (unsigned i = 0; i < MAX_FDS; i++)
		if (s.fds[i] >= 0)
			close(s.fds[i]);
	close(s.lfd);
	virtio_vsock_ops.destroy(s.dev);
	fuzz_loop_settle(loop, false); /* frees the device if the loop still held its callbacks */
	fvq_ram_free(&s.d);
	return 0;
}
