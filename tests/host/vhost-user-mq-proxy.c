// SPDX-License-Identifier: Apache-2.0
/*
 * A vhost-user proxy for the Linux case that runs vmm's virtio-fs device with more request queues
 * than the only daemon at hand serves (QEMU's C virtiofsd takes the hiprio queue and one request
 * queue). It sits between vmm (the frontend, on --listen) and the daemon (--backend): queues below
 * --pass go through to the daemon untouched; GET_QUEUE_NUM is answered with --queues, and the
 * set-up messages of the queues from --pass on are accepted and recorded here, never forwarded. A
 * Linux 6.1 guest sets those queues up but puts every request on the first request queue; the
 * proxy checks that it does: the avail index of each extra queue, read from guest memory (its own
 * read-only mapping of SET_MEM_TABLE's regions), must stay at the base SET_VRING_BASE gave. It is
 * checked on every kick of the queue (vmm kicks each queue once when the driver starts it, so a
 * kick alone is no use of it), on GET_VRING_BASE and when vmm hangs up.
 *
 *   vhost-user-mq-proxy --listen PATH --backend PATH [--pass N] [--queues M]
 *
 * Connects to the daemon (retrying for 5 s while its socket is missing or refuses), listens on the
 * unix stream socket PATH, prints "listening on PATH" and serves the one connection it accepts.
 * Prints "queue Q: started, size S, base B" on stderr when an extra queue is enabled. Exit 0 when
 * vmm hangs up, 3 when the guest used an extra queue, 1 on any other error (one line on stderr).
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define NAME "vhost-user-mq-proxy"
#define USAGE "usage: " NAME " --listen PATH --backend PATH [--pass N] [--queues M]"

#define HDR_SIZE 12
#define MAX_PAYLOAD 4096 /* SET_MEM_TABLE, the largest we expect, is 8 + 8 * 32 */
#define MAX_FDS 8
#define MAX_REGIONS 8
#define MAX_QUEUES 64
#define CONNECT_TRIES 100 /* every 50 ms: 5 s */
#define REPLY_MS 10000    /* vmm gives up after 5 s; the daemon gets longer, so vmm's line comes first */

/* Requests (the frontend's), as QEMU's docs/interop/vhost-user.rst numbers them. */
enum {
	REQ_GET_FEATURES = 1,
	REQ_SET_MEM_TABLE = 5,
	REQ_SET_VRING_NUM = 8,
	REQ_SET_VRING_ADDR = 9,
	REQ_SET_VRING_BASE = 10,
	REQ_GET_VRING_BASE = 11,
	REQ_SET_VRING_KICK = 12,
	REQ_SET_VRING_CALL = 13,
	REQ_SET_VRING_ERR = 14,
	REQ_GET_PROTOCOL_FEATURES = 15,
	REQ_GET_QUEUE_NUM = 17,
	REQ_SET_VRING_ENABLE = 18,
	REQ_GET_CONFIG = 24,
	REQ_GET_INFLIGHT_FD = 31,
	REQ_GET_MAX_MEM_SLOTS = 36,
	REQ_GET_STATUS = 40,
};

#define F_VERSION 0x1u
#define F_VERSION_MASK 0x3u
#define F_REPLY 0x4u
#define F_NEED_REPLY 0x8u
#define VRING_INDEX_MASK 0xffu
#define VRING_NOFD (1u << 8) /* in SET_VRING_KICK/CALL/ERR: no fd follows */

struct msg {
	uint32_t req, flags, size;
	uint8_t data[MAX_PAYLOAD];
	int fds[MAX_FDS];
	unsigned nfds;
};

/* One region of guest memory as vmm sees it (uaddr, size) and as we do (map + skew). */
struct region {
	uint64_t uaddr, size;
	void *map;
	size_t maplen, skew;
};

/* An extra queue (index >= pass), served by nobody. */
struct ring {
	uint32_t num;
	uint16_t base;
	bool has_addr; /* SET_VRING_ADDR seen */
	bool stopped;  /* GET_VRING_BASE since then */
	uint64_t avail;
	int kick; /* -1: none */
};

struct proxy {
	int front, back;
	unsigned pass, queues;
	struct region reg[MAX_REGIONS];
	unsigned nreg;
	struct ring ring[MAX_QUEUES];
	unsigned long msgs, forwarded;
};

static __attribute__((format(printf, 1, 2), noreturn)) void fail(const char *fmt, ...)
{
	char line[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(stderr, NAME ": %s\n", line);
	exit(1);
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t get64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

static void put32(uint8_t *p, uint32_t v)
{
	v = htole32(v);
	memcpy(p, &v, sizeof(v));
}

static void put64(uint8_t *p, uint64_t v)
{
	v = htole64(v);
	memcpy(p, &v, sizeof(v));
}

static void close_fds(struct msg *m)
{
	for (unsigned i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	m->nfds = 0;
}

/*
 * Exactly len bytes from fd into buf, the fds that come with them added to m. False at EOF before
 * the first byte when eof_ok; any other EOF, an error or too many fds end the program.
 */
static bool recv_full(int fd, uint8_t *buf, size_t len, struct msg *m, const char *who, bool eof_ok)
{
	size_t got = 0;

	while (got < len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		} c;
		struct iovec iov = { .iov_base = buf + got, .iov_len = len - got };
		struct msghdr mh = {
			.msg_iov = &iov, .msg_iovlen = 1, .msg_control = c.b, .msg_controllen = sizeof(c.b)
		};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("reading from %s: %s", who, strerror(errno));
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
			size_t k;

			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			if (k > MAX_FDS - m->nfds)
				fail("%s sent more than %d file descriptors with one message", who, MAX_FDS);
			memcpy(m->fds + m->nfds, CMSG_DATA(cm), k * sizeof(int));
			m->nfds += (unsigned)k;
		}
		if (mh.msg_flags & MSG_CTRUNC)
			fail("%s sent more than %d file descriptors with one message", who, MAX_FDS);
		if (n == 0) {
			if (eof_ok && got == 0)
				return false;
			fail("%s hung up in the middle of a message", who);
		}
		got += (size_t)n;
	}
	return true;
}

/* One message from fd into m (version 1, a payload we can hold); false when fd hung up between messages. */
static bool recv_msg(int fd, struct msg *m, const char *who)
{
	uint8_t h[HDR_SIZE];

	m->nfds = 0;
	if (!recv_full(fd, h, sizeof(h), m, who, true))
		return false;
	m->req = get32(h);
	m->flags = get32(h + 4);
	m->size = get32(h + 8);
	if ((m->flags & F_VERSION_MASK) != F_VERSION || m->size > MAX_PAYLOAD)
		fail("%s sent a malformed header: request %" PRIu32 ", flags 0x%" PRIx32 ", size %" PRIu32, who, m->req,
		     m->flags, m->size);
	recv_full(fd, m->data, m->size, m, who, false);
	return true;
}

/* Header, payload and m's fds (with the first byte) to fd, in as many sendmsg() calls as it takes. */
static void send_msg(int fd, const struct msg *m, const char *who)
{
	uint8_t buf[HDR_SIZE + MAX_PAYLOAD];
	size_t len = HDR_SIZE + m->size, done = 0;

	put32(buf, m->req);
	put32(buf + 4, m->flags);
	put32(buf + 8, m->size);
	memcpy(buf + HDR_SIZE, m->data, m->size);
	while (done < len) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int) * MAX_FDS)];
		} c;
		struct iovec iov = { .iov_base = buf + done, .iov_len = len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (done == 0 && m->nfds) {
			struct cmsghdr *cm;

			memset(&c, 0, sizeof(c));
			mh.msg_control = c.b;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nfds);
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(int) * m->nfds);
			memcpy(CMSG_DATA(cm), m->fds, sizeof(int) * m->nfds);
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			fail("writing to %s: %s", who, strerror(errno));
		done += (size_t)n;
	}
}

/* Our reply to vmm's request rq. */
static void reply(struct proxy *px, const struct msg *rq, const uint8_t *payload, uint32_t size)
{
	struct msg r = { .req = rq->req, .flags = F_VERSION | F_REPLY, .size = size };

	memcpy(r.data, payload, size);
	send_msg(px->front, &r, "vmm");
}

static void reply_u64(struct proxy *px, const struct msg *rq, uint64_t v)
{
	uint8_t b[8];

	put64(b, v);
	reply(px, rq, b, sizeof(b));
}

/* The requests that are answered whether or not NEED_REPLY is set. */
static bool always_replies(uint32_t req)
{
	switch (req) {
	case REQ_GET_FEATURES:
	case REQ_GET_VRING_BASE:
	case REQ_GET_PROTOCOL_FEATURES:
	case REQ_GET_QUEUE_NUM:
	case REQ_GET_CONFIG:
	case REQ_GET_INFLIGHT_FD:
	case REQ_GET_MAX_MEM_SLOTS:
	case REQ_GET_STATUS:
		return true;
	default:
		return false;
	}
}

/* m to the daemon as it is and, when it has one, the daemon's reply to vmm. */
static void forward(struct proxy *px, struct msg *m)
{
	struct pollfd p = { .fd = px->back, .events = POLLIN };
	struct msg r;
	int n;

	send_msg(px->back, m, "the daemon");
	px->forwarded++;
	if (!always_replies(m->req) && !(m->flags & F_NEED_REPLY))
		return;
	do
		n = poll(&p, 1, REPLY_MS);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		fail("poll: %s", strerror(errno));
	if (n == 0)
		fail("the daemon did not answer request %" PRIu32 " in %d s", m->req, REPLY_MS / 1000);
	if (!recv_msg(px->back, &r, "the daemon"))
		fail("the daemon hung up instead of answering request %" PRIu32, m->req);
	/* libvhost-user leaves NEED_REPLY set in the reply to a request that had it: passed on as is. */
	if (r.req != m->req || (r.flags & ~F_NEED_REPLY) != (F_VERSION | F_REPLY))
		fail("the daemon answered request %" PRIu32 " with request %" PRIu32 ", flags 0x%" PRIx32, m->req,
		     r.req, r.flags);
	send_msg(px->front, &r, "vmm");
	close_fds(&r);
}

/* The address of [a, a + len) of guest memory in our mappings, or NULL when no region holds all of it. */
static const void *guest_ptr(const struct proxy *px, uint64_t a, uint64_t len)
{
	for (unsigned i = 0; i < px->nreg; i++) {
		const struct region *r = &px->reg[i];

		if (a >= r->uaddr && a - r->uaddr <= r->size && len <= r->size - (a - r->uaddr))
			return (const uint8_t *)r->map + r->skew + (a - r->uaddr);
	}
	return NULL;
}

/* Where the avail index of extra queue q is in our mapping; refuses a ring outside the table. */
static const uint16_t *avail_idx(const struct proxy *px, unsigned q)
{
	const struct ring *r = &px->ring[q];
	const uint16_t *p;
	uint64_t at;

	if (__builtin_add_overflow(r->avail, 2, &at) || !(p = guest_ptr(px, at, 2)))
		fail("queue %u: the avail ring at 0x%" PRIx64 " is outside the memory table", q, r->avail);
	if ((uintptr_t)p % sizeof(*p))
		fail("queue %u: the avail ring at 0x%" PRIx64 " is not 2-byte aligned", q, r->avail);
	return p;
}

/* The avail index of extra queue q as the guest left it now; exit 3 when it moved past the base. */
static uint16_t check_ring(const struct proxy *px, unsigned q)
{
	const struct ring *r = &px->ring[q];
	/*
	 * Relaxed: only the index itself is compared, no ring entry is read after it, so there is
	 * nothing to order against the guest's writes (its barrier before the index update pairs with
	 * the reads of a backend that serves the queue; we never do).
	 */
	uint16_t idx = le16toh(__atomic_load_n(avail_idx(px, q), __ATOMIC_RELAXED));

	if (idx != r->base) {
		fprintf(stderr, NAME ": the guest made %u requests on queue %u, which no daemon serves\n",
			(unsigned)(uint16_t)(idx - r->base), q);
		exit(3);
	}
	return idx;
}

/* The queue index of a per-queue request, or -1 for any other; refuses a malformed one. */
static int ring_index(const struct msg *m)
{
	uint64_t v;

	switch (m->req) {
	case REQ_SET_VRING_NUM:
	case REQ_SET_VRING_BASE:
	case REQ_GET_VRING_BASE:
	case REQ_SET_VRING_ENABLE:
		if (m->size != 8)
			break;
		v = get32(m->data);
		if (v >= MAX_QUEUES)
			break;
		return (int)v;
	case REQ_SET_VRING_ADDR:
		if (m->size != 40)
			break;
		v = get32(m->data);
		if (v >= MAX_QUEUES)
			break;
		return (int)v;
	case REQ_SET_VRING_KICK:
	case REQ_SET_VRING_CALL:
	case REQ_SET_VRING_ERR:
		if (m->size != 8)
			break;
		v = get64(m->data);
		if ((v & ~(uint64_t)(VRING_INDEX_MASK | VRING_NOFD)) || (v & VRING_INDEX_MASK) >= MAX_QUEUES)
			break;
		if (!(v & VRING_NOFD) && m->nfds != 1)
			break;
		return (int)(v & VRING_INDEX_MASK);
	default:
		return -1;
	}
	fail("vmm sent a malformed request %" PRIu32 " (%" PRIu32 " bytes, %u fds)", m->req, m->size, m->nfds);
}

/* A per-queue request for extra queue q: recorded and answered here. */
static void own_ring(struct proxy *px, struct msg *m, unsigned q)
{
	struct ring *r = &px->ring[q];
	uint64_t v = m->size >= 8 ? get64(m->data) : 0;
	uint32_t num = m->size >= 8 ? get32(m->data + 4) : 0;
	uint8_t st[8];

	switch (m->req) {
	case REQ_SET_VRING_NUM:
		r->num = num;
		break;
	case REQ_SET_VRING_BASE:
		if (num > UINT16_MAX)
			fail("vmm gave queue %u the base %" PRIu32, q, num);
		r->base = (uint16_t)num;
		r->stopped = false;
		break;
	case REQ_SET_VRING_ADDR:
		r->avail = get64(m->data + 24);
		r->has_addr = true;
		r->stopped = false;
		avail_idx(px, q); /* in the table, as any backend would insist */
		break;
	case REQ_GET_VRING_BASE:
		put32(st, q);
		put32(st + 4, r->has_addr && !r->stopped ? check_ring(px, q) : r->base);
		r->stopped = true; /* the ring stops: its kick is not ours to read any more */
		if (r->kick >= 0)
			close(r->kick);
		r->kick = -1;
		reply(px, m, st, sizeof(st));
		return; /* that is the reply, NEED_REPLY or not */
	case REQ_SET_VRING_KICK:
		if (r->kick >= 0)
			close(r->kick);
		r->kick = -1;
		if (!(v & VRING_NOFD)) {
			r->kick = m->fds[0];
			m->fds[0] = m->fds[--m->nfds];
		}
		break;
	case REQ_SET_VRING_CALL:
	case REQ_SET_VRING_ERR:
		break; /* nobody will signal it: the fd is closed with the message */
	case REQ_SET_VRING_ENABLE:
		if (num > 1)
			fail("vmm sent SET_VRING_ENABLE %" PRIu32 " for queue %u", num, q);
		if (num)
			fprintf(stderr, "queue %u: started, size %" PRIu32 ", base %u\n", q, r->num, (unsigned)r->base);
		break;
	}
	if (m->flags & F_NEED_REPLY)
		reply_u64(px, m, 0);
}

/* SET_MEM_TABLE: mapped here (read-only, for the extra queues' avail rings) and forwarded. */
static void set_mem_table(struct proxy *px, struct msg *m)
{
	struct region nr[MAX_REGIONS] = { 0 };
	long page = sysconf(_SC_PAGESIZE);
	uint32_t n = m->size >= 8 ? get32(m->data) : UINT32_MAX;

	if (n > MAX_REGIONS || m->size < 8 + 32 * n || m->nfds != n)
		fail("vmm sent a malformed SET_MEM_TABLE (%" PRIu32 " bytes, %u fds)", m->size, m->nfds);
	for (unsigned i = 0; i < n; i++) {
		const uint8_t *d = m->data + 8 + 32 * i;
		uint64_t size = get64(d + 8), uaddr = get64(d + 16), off = get64(d + 24), end;
		struct region *r = &nr[i];

		r->skew = (size_t)(off % (uint64_t)page);
		if (!size || size > SIZE_MAX - r->skew || __builtin_add_overflow(uaddr, size, &end) ||
		    off - r->skew > (uint64_t)INT64_MAX)
			fail("vmm sent a malformed SET_MEM_TABLE region %u (0x%" PRIx64 " bytes at 0x%" PRIx64
			     ", offset 0x%" PRIx64 ")",
			     i, size, uaddr, off);
		r->uaddr = uaddr;
		r->size = size;
		r->maplen = (size_t)size + r->skew;
		r->map = mmap(NULL, r->maplen, PROT_READ, MAP_SHARED, m->fds[i], (off_t)(off - r->skew));
		if (r->map == MAP_FAILED)
			fail("mapping SET_MEM_TABLE region %u (0x%" PRIx64 " bytes at offset 0x%" PRIx64 "): %s", i, size,
			     off, strerror(errno));
	}
	forward(px, m);
	for (unsigned i = 0; i < px->nreg; i++)
		munmap(px->reg[i].map, px->reg[i].maplen);
	memcpy(px->reg, nr, sizeof(nr));
	px->nreg = n;
}

/* One message from vmm, routed; false when vmm hung up. */
static bool serve_front(struct proxy *px)
{
	struct msg m;
	int q;

	if (!recv_msg(px->front, &m, "vmm"))
		return false;
	px->msgs++;
	if (m.req == 0 || (m.flags & ~(F_VERSION_MASK | F_NEED_REPLY)))
		fail("vmm sent a malformed header: request %" PRIu32 ", flags 0x%" PRIx32 ", size %" PRIu32, m.req,
		     m.flags, m.size);
	q = ring_index(&m);
	if (q >= (int)px->pass)
		own_ring(px, &m, (unsigned)q);
	else if (m.req == REQ_GET_QUEUE_NUM)
		reply_u64(px, &m, px->queues);
	else if (m.req == REQ_SET_MEM_TABLE)
		set_mem_table(px, &m);
	else
		forward(px, &m);
	close_fds(&m);
	return true;
}

/* The daemon's socket became readable while no request was out: it hung up or speaks unasked. */
static __attribute__((noreturn)) void daemon_unasked(struct proxy *px)
{
	struct msg m;
	bool got = recv_msg(px->back, &m, "the daemon");

	close(px->front);
	if (!got)
		fail("the daemon hung up while vmm is connected");
	fail("the daemon sent request %" PRIu32 " unasked", m.req);
}

/* A kick of extra queue q: cleared, and the ring looked at when it is set up. */
static void kicked(struct proxy *px, unsigned q)
{
	struct ring *r = &px->ring[q];
	uint64_t v;

	if (read(r->kick, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		fail("reading the kick of queue %u: %s", q, strerror(errno));
	if (r->has_addr && !r->stopped)
		check_ring(px, q);
}

static void serve(struct proxy *px)
{
	for (;;) {
		struct pollfd p[2 + MAX_QUEUES] = { { .fd = px->front, .events = POLLIN },
						    { .fd = px->back, .events = POLLIN } };
		unsigned which[MAX_QUEUES], n = 2;

		for (unsigned q = px->pass; q < MAX_QUEUES; q++) {
			if (px->ring[q].kick < 0)
				continue;
			which[n - 2] = q;
			p[n++] = (struct pollfd){ .fd = px->ring[q].kick, .events = POLLIN };
		}
		if (poll(p, n, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		for (unsigned i = 2; i < n; i++)
			if (p[i].revents)
				kicked(px, which[i - 2]);
		/* Either changes what is polled (kick fds, the daemon's reply read): poll again after it. */
		if (p[0].revents) {
			if (!serve_front(px))
				return;
		} else if (p[1].revents) {
			daemon_unasked(px);
		}
	}
}

static int connect_backend(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	strcpy(sa.sun_path, path);
	for (int tries = 1;; tries++) {
		const struct timespec pause = { .tv_nsec = 50 * 1000 * 1000 };
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

		if (fd < 0)
			fail("socket: %s", strerror(errno));
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		e = errno;
		close(fd);
		if ((e != ENOENT && e != ECONNREFUSED) || tries == CONNECT_TRIES)
			fail("connecting to %s: %s", path, strerror(e));
		nanosleep(&pause, NULL);
	}
}

/* Listen on path, say so, and take the one connection (the daemon's socket watched meanwhile). */
static int accept_frontend(const char *path, int back)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), c;

	strcpy(sa.sun_path, path);
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(l, 1) < 0)
		fail("listening on %s: %s", path, strerror(errno));
	printf("listening on %s\n", path);
	fflush(stdout);
	for (;;) {
		struct pollfd p[2] = { { .fd = l, .events = POLLIN }, { .fd = back, .events = POLLIN } };

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fail("poll: %s", strerror(errno));
		}
		if (p[1].revents)
			fail("the daemon hung up or spoke before vmm connected");
		c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c >= 0)
			break;
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			fail("accepting on %s: %s", path, strerror(errno));
	}
	close(l);
	unlink(path); /* one connection only: a second frontend finds no socket */
	return c;
}

static unsigned number(const char *s, unsigned min, unsigned max)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || *s == '-' || v < min || v > max)
		fail(USAGE);
	return (unsigned)v;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' }, { "backend", required_argument, NULL, 'b' },
		{ "pass", required_argument, NULL, 'p' },   { "queues", required_argument, NULL, 'q' },
		{ NULL, 0, NULL, 0 },
	};
	struct proxy px = { .pass = 2, .queues = 3 };
	const char *listen_path = NULL, *backend_path = NULL;
	int o;

	opterr = 0;
	while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (o) {
		case 'l': listen_path = optarg; break;
		case 'b': backend_path = optarg; break;
		case 'p': px.pass = number(optarg, 0, MAX_QUEUES); break;
		case 'q': px.queues = number(optarg, 1, MAX_QUEUES); break;
		default: fail(USAGE);
		}
	}
	if (optind != argc || !listen_path || !backend_path || !*listen_path || !*backend_path ||
	    strlen(listen_path) >= sizeof(((struct sockaddr_un *)0)->sun_path) ||
	    strlen(backend_path) >= sizeof(((struct sockaddr_un *)0)->sun_path))
		fail(USAGE);
	signal(SIGPIPE, SIG_IGN);
	for (unsigned q = 0; q < MAX_QUEUES; q++)
		px.ring[q].kick = -1;

	if (unlink(listen_path) < 0 && errno != ENOENT)
		fail("removing %s: %s", listen_path, strerror(errno));
	px.back = connect_backend(backend_path);
	px.front = accept_frontend(listen_path, px.back);
	serve(&px);

	/* vmm hung up: the extra queues it left started are looked at once more. */
	for (unsigned q = px.pass; q < MAX_QUEUES; q++)
		if (px.ring[q].has_addr && !px.ring[q].stopped)
			check_ring(&px, q);
	shutdown(px.back, SHUT_RDWR); /* the daemon sees its frontend go and exits */
	close(px.back);
	close(px.front);
	printf("vmm hung up after %lu messages, %lu of them passed to the daemon\n", px.msgs, px.forwarded);
	return 0;
}
