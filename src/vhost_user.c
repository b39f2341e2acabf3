// SPDX-License-Identifier: Apache-2.0
/* A vhost-user frontend: messages over a unix socket, the handshake, memory table and queues (vhost_user.h). */
#include "vhost_user.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_config.h>
#include <poll.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "event_loop.h"

_Static_assert(sizeof(struct vhost_user_hdr) == 12, "vhost-user header");
_Static_assert(sizeof(struct vhost_user_state) == 8, "vhost-user vring state");
_Static_assert(sizeof(struct vhost_user_addr) == 40, "vhost-user vring address");
_Static_assert(sizeof(struct vhost_user_region) == 32, "vhost-user memory region");
_Static_assert(offsetof(struct vhost_user_mem, r) == 8, "vhost-user memory table");

#define WANTED_PROTOCOL ((1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK))
#define MAX_PAYLOAD sizeof(struct vhost_user_mem)
#define LOOK_MS 10 /* between the timed looks at the rings while requests are out (look_ready()) */

struct vu_queue {
	struct vhost_user *vu;
	unsigned idx;
	bool started;
	int kick_fd, call_fd;
	int watch;          /* of call_fd, -1 */
	bool kick_lent;     /* kick_fd is a copy of the transport's doorbell (virtio_ctx.doorbell) */
	bool call_lent;     /* call_fd is lent to the transport's MSI-X vector (virtio_ctx.lend_call) */
	int kick_watch;     /* of kick_fd when lent, -1: we look, the backend reads */
	bool kick_paused;   /* kick_watch dropped until the next timed look (look_ready()) */
	uint16_t last_base; /* from GET_VRING_BASE */
	/* What the backend holds (vhost_user.h), while started, on the I/O thread. */
	const struct virtq *vq;
	uint16_t seen_avail, seen_used; /* ring entries counted so far */
	bool lost;
	int16_t held[VIRTQ_MAX_SIZE];   /* per head: made available - completed (0 or 1) */
};

struct vhost_user {
	int fd;
	char name[64];
	const struct vlog *log;
	int timeout_ms;
	bool broken;
	uint64_t features, protocol;
	bool mem_sent;
	/* Between vhost_user_start() and vhost_user_stop(), on the I/O thread. */
	struct virtio_ctx ctx;
	int sock_watch;
	int timer_fd;       /* the timed looks at the rings (look_ready()); -1: none, look at every kick */
	int timer_watch;
	bool timer_armed;
	void (*on_broken)(void *opaque);
	void *broken_opaque;
	struct vu_queue q[VHOST_USER_MAX_QUEUES];
};

static const char *req_name(uint32_t req)
{
	switch (req) {
	case VHOST_USER_GET_FEATURES: return "GET_FEATURES";
	case VHOST_USER_SET_FEATURES: return "SET_FEATURES";
	case VHOST_USER_SET_OWNER: return "SET_OWNER";
	case VHOST_USER_SET_MEM_TABLE: return "SET_MEM_TABLE";
	case VHOST_USER_SET_VRING_NUM: return "SET_VRING_NUM";
	case VHOST_USER_SET_VRING_ADDR: return "SET_VRING_ADDR";
	case VHOST_USER_SET_VRING_BASE: return "SET_VRING_BASE";
	case VHOST_USER_GET_VRING_BASE: return "GET_VRING_BASE";
	case VHOST_USER_SET_VRING_KICK: return "SET_VRING_KICK";
	case VHOST_USER_SET_VRING_CALL: return "SET_VRING_CALL";
	case VHOST_USER_GET_PROTOCOL_FEATURES: return "GET_PROTOCOL_FEATURES";
	case VHOST_USER_SET_PROTOCOL_FEATURES: return "SET_PROTOCOL_FEATURES";
	case VHOST_USER_GET_QUEUE_NUM: return "GET_QUEUE_NUM";
	case VHOST_USER_SET_VRING_ENABLE: return "SET_VRING_ENABLE";
	default: return "?";
	}
}

/* The connection cannot be trusted any more: say why once, and make the backend see EOF. Returns err. */
static int fail(struct vhost_user *vu, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(struct vhost_user *vu, int err, const char *fmt, ...)
{
	char msg[200];
	va_list ap;

	if (vu->broken)
		return -EIO;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	vlog_err(vu->log, "%s: vhost-user backend %s", vu->name, msg);
	vu->broken = true;
	shutdown(vu->fd, SHUT_RDWR);
	return err;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until fd is ready for events or the deadline passes: 0, -ETIMEDOUT, -errno. */
static int wait_fd(int fd, short events, int64_t deadline)
{
	for (;;) {
		int64_t left = deadline - now_ms();
		struct pollfd p = { .fd = fd, .events = events };
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		n = poll(&p, 1, (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

/* Header, payload and fds (with the first byte) in as many sendmsg() calls as the socket needs. */
static int send_msg(struct vhost_user *vu, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned nfds, int64_t deadline)
{
	uint8_t buf[sizeof(struct vhost_user_hdr) + MAX_PAYLOAD];
	struct vhost_user_hdr h = { .request = req, .flags = flags, .size = size };
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_REGIONS)];
	} ctl;
	size_t len = sizeof(h) + size, done = 0;

	if (size > MAX_PAYLOAD || nfds > VHOST_USER_MAX_REGIONS)
		return -EINVAL;
	memcpy(buf, &h, sizeof(h));
	if (size)
		memcpy(buf + sizeof(h), payload, size);
	while (done < len) {
		struct iovec iov = { .iov_base = buf + done, .iov_len = len - done };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		int ret;

		if (done == 0 && nfds) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			m.msg_control = ctl.buf;
			m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
			c = CMSG_FIRSTHDR(&m);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
		}
		n = sendmsg(vu->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(vu->fd, POLLOUT, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

/* Exactly len bytes; a file descriptor coming along is closed and refused (-EBADMSG). 0 at EOF: -EPIPE. */
static int recv_exact(struct vhost_user *vu, void *buf, size_t len, int64_t deadline)
{
	size_t done = 0;

	while (done < len) {
		union {
			struct cmsghdr align;
			char buf[CMSG_SPACE(sizeof(int) * 16)];
		} ctl;
		struct iovec iov = { .iov_base = (uint8_t *)buf + done, .iov_len = len - done };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
				    .msg_controllen = sizeof(ctl.buf) };
		bool fds = false;
		ssize_t n;
		int ret;

		n = recvmsg(vu->fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n >= 0) {
			for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
				if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
					continue;
				for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
					int fd;

					memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
					close(fd);
				}
				fds = true;
			}
			if (fds || (m.msg_flags & MSG_CTRUNC))
				return -EBADMSG;
		}
		if (n > 0) {
			done += (size_t)n;
			continue;
		}
		if (n == 0)
			return -EPIPE;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		ret = wait_fd(vu->fd, POLLIN, deadline);
		if (ret)
			return ret;
	}
	return 0;
}

static int io_error(struct vhost_user *vu, int err, uint32_t req, bool sending)
{
	switch (err) {
	case -EPIPE:
	case -ECONNRESET:
		return fail(vu, -EPIPE, "closed the connection (at %s)", req_name(req));
	case -ETIMEDOUT:
		return fail(vu, -ETIMEDOUT, "did not %s %s within %d ms", sending ? "take" : "answer", req_name(req),
			    vu->timeout_ms);
	case -EBADMSG:
		return fail(vu, -EPROTO, "sent a file descriptor with its reply to %s", req_name(req));
	default:
		return fail(vu, err, "connection failed at %s: %s", req_name(req), strerror(-err));
	}
}

/*
 * Send req and wait for its reply: reply_size bytes into reply, or (reply NULL) the acknowledgement
 * when REPLY_ACK was negotiated (nothing otherwise). 0 or -errno; an error breaks the connection.
 */
static int request(struct vhost_user *vu, uint32_t req, const void *payload, uint32_t size, const int *fds,
		   unsigned nfds, void *reply, uint32_t reply_size)
{
	bool ack = !reply && (vu->protocol & (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	int64_t deadline = now_ms() + vu->timeout_ms;
	struct vhost_user_hdr h;
	uint64_t status;
	int ret;

	if (vu->broken)
		return -EIO;
	ret = send_msg(vu, req, VHOST_USER_VERSION | (ack ? VHOST_USER_FLAG_NEED_REPLY : 0), payload, size, fds, nfds,
		       deadline);
	if (ret)
		return io_error(vu, ret, req, true);
	if (!reply && !ack)
		return 0;
	if (ack) {
		reply = &status;
		reply_size = sizeof(status);
	}
	ret = recv_exact(vu, &h, sizeof(h), deadline);
	if (ret)
		return io_error(vu, ret, req, false);
	if (h.request != req || (h.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION ||
	    !(h.flags & VHOST_USER_FLAG_REPLY) || h.size != reply_size)
		return fail(vu, -EPROTO, "answered %s with garbage (request %u, flags 0x%x, size %u)", req_name(req),
			    h.request, h.flags, h.size);
	ret = recv_exact(vu, reply, reply_size, deadline);
	if (ret)
		return io_error(vu, ret, req, false);
	if (ack && status)
		return fail(vu, -EIO, "refused %s (status %llu)", req_name(req), (unsigned long long)status);
	return 0;
}

static int get_u64(struct vhost_user *vu, uint32_t req, uint64_t *v)
{
	return request(vu, req, NULL, 0, NULL, 0, v, sizeof(*v));
}

static int set_u64(struct vhost_user *vu, uint32_t req, uint64_t v)
{
	return request(vu, req, &v, sizeof(v), NULL, 0, NULL, 0);
}

static int set_state(struct vhost_user *vu, uint32_t req, unsigned idx, uint32_t num)
{
	struct vhost_user_state s = { .index = idx, .num = num };

	return request(vu, req, &s, sizeof(s), NULL, 0, NULL, 0);
}

/* SET_VRING_KICK / _CALL: the index in the payload, the fd alongside. */
static int set_vring_fd(struct vhost_user *vu, uint32_t req, unsigned idx, int fd)
{
	uint64_t v = idx;

	return request(vu, req, &v, sizeof(v), &fd, 1, NULL, 0);
}

/* --- Connection and handshake --- */

int vhost_user_open(int fd, const char *name, const struct vlog *log, int timeout_ms, struct vhost_user **out)
{
	struct vhost_user *vu = calloc(1, sizeof(*vu));
	int fl = fcntl(fd, F_GETFL);

	if (!vu || fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int e = vu ? errno : ENOMEM;

		free(vu);
		close(fd);
		vlog_err(log, "%s: cannot set up the vhost-user connection: %s", name, strerror(e));
		return -e;
	}
	vu->fd = fd;
	vu->log = log;
	vu->timeout_ms = timeout_ms;
	vu->sock_watch = -1;
	vu->timer_fd = vu->timer_watch = -1;
	snprintf(vu->name, sizeof(vu->name), "%s", name);
	for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
		vu->q[i] = (struct vu_queue){ .vu = vu, .idx = i, .kick_fd = -1, .call_fd = -1, .watch = -1, .kick_watch = -1 };
	*out = vu;
	return 0;
}

int vhost_user_connect(const char *path, const char *name, const struct vlog *log, struct vhost_user **out)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd, e;

	if (strlen(path) >= sizeof(a.sun_path)) {
		vlog_err(log, "%s: socket path '%s' is too long", name, path);
		return -ENAMETOOLONG;
	}
	memcpy(a.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		e = errno;
		vlog_err(log, "%s: cannot create a unix socket: %s", name, strerror(e));
		return -e;
	}
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		e = errno;
		if (e == ECONNREFUSED || e == ENOTSOCK)
			vlog_err(log, "%s: cannot connect to the vhost-user backend at '%s': %s (is the daemon running?)",
				 name, path, strerror(e));
		else
			vlog_err(log, "%s: cannot connect to the vhost-user backend at '%s': %s", name, path, strerror(e));
		close(fd);
		return -e;
	}
	return vhost_user_open(fd, name, log, VHOST_USER_TIMEOUT_MS, out);
}

int vhost_user_handshake(struct vhost_user *vu, unsigned nq)
{
	uint64_t proto = 0, qnum;
	int ret;

	ret = get_u64(vu, VHOST_USER_GET_FEATURES, &vu->features);
	if (ret)
		return ret;
	if (!(vu->features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)))
		return fail(vu, -ENOTSUP, "offers no protocol features (features 0x%llx)",
			    (unsigned long long)vu->features);
	ret = get_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &proto);
	if (ret)
		return ret;
	proto &= WANTED_PROTOCOL;
	ret = set_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES, proto);
	if (ret)
		return ret;
	vu->protocol = proto; /* REPLY_ACK from the next request on */
	if (proto & (1ull << VHOST_USER_PROTOCOL_F_MQ)) {
		ret = get_u64(vu, VHOST_USER_GET_QUEUE_NUM, &qnum);
		if (ret)
			return ret;
		if (qnum < nq)
			return fail(vu, -EINVAL, "serves at most %llu queues, and the device needs %u",
				    (unsigned long long)qnum, nq);
	}
	return request(vu, VHOST_USER_SET_OWNER, NULL, 0, NULL, 0, NULL, 0);
}

uint64_t vhost_user_features(const struct vhost_user *vu)
{
	return vu->features;
}

uint64_t vhost_user_protocol_features(const struct vhost_user *vu)
{
	return vu->protocol;
}

bool vhost_user_broken(const struct vhost_user *vu)
{
	return vu->broken;
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features)
{
	return set_u64(vu, VHOST_USER_SET_FEATURES, features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct guest_mem *m)
{
	struct vhost_user_mem t = { .nregions = 0 };
	int fds[VHOST_USER_MAX_REGIONS];

	if (vu->broken)
		return -EIO;
	if (!m->shared || m->nr > VHOST_USER_MAX_REGIONS) {
		vlog_err(vu->log, "%s: guest RAM is not shared memory, so the vhost-user backend cannot map it", vu->name);
		return -EINVAL;
	}
	for (int i = 0; i < m->nr; i++) {
		t.r[i] = (struct vhost_user_region){
			.gpa = m->r[i].gpa,
			.size = m->r[i].size,
			.uaddr = (uint64_t)(uintptr_t)m->r[i].hva,
			.mmap_offset = (uint64_t)(m->r[i].hva - (uint8_t *)m->map),
		};
		fds[i] = m->fd;
	}
	t.nregions = (uint32_t)m->nr;
	return request(vu, VHOST_USER_SET_MEM_TABLE, &t, (uint32_t)(offsetof(struct vhost_user_mem, r) +
								    sizeof(t.r[0]) * (size_t)m->nr),
		       fds, (unsigned)m->nr, NULL, 0);
}

/* --- What the backend holds --- */

static uint16_t load_idx(const uint16_t *idx)
{
	/*
	 * Acquire: the ring entries read after this are the ones written before the index was
	 * published. Pairs with the driver's write barrier before it stores avail->idx (virtio_wmb()
	 * in Linux's virtqueue_add_split()) and with the backend's before it stores used->idx
	 * (smp_wmb() in libvhost-user's vu_queue_flush()).
	 */
	return le16toh(__atomic_load_n(idx, __ATOMIC_ACQUIRE));
}

static void track_reset(struct vu_queue *q, const struct virtq *vq)
{
	q->vq = vq;
	q->seen_avail = vq->last_avail;
	q->seen_used = vq->used_idx;
	/* Chains held from before (a restored queue) are not ours to know: lost until the queue is empty. */
	q->lost = vq->last_avail != vq->used_idx;
	memset(q->held, 0, sizeof(q->held));
}

/*
 * I/O thread, at each kick and call and at the backend's death: count the ring entries added since
 * the last look. Per head, additions and completions alternate (a head is made available again
 * only after it was completed), so after counting both windows every head is held 0 or 1 times,
 * whatever order the backend completed in, as long as neither window lapped the ring.
 */
static void track(struct vu_queue *q)
{
	const struct virtq *vq = q->vq;
	uint16_t touched[2 * VIRTQ_MAX_SIZE];
	uint16_t used, avail, na, nu, mask;
	unsigned nt = 0;
	bool ok = true;

	if (!vq || vq->broken || !vq->size)
		return;
	mask = (uint16_t)(vq->size - 1);
	/*
	 * The used index first, then the avail index: a completion counted below is of a chain the
	 * driver published before the backend could take it, so before our read of avail->idx: its
	 * addition is counted too, and no head goes below 0 for a race with the guest.
	 */
	used = load_idx(&vq->used->idx);
	avail = load_idx(&vq->avail->idx);
	if (q->lost) {
		if (used != avail)
			return;
		/* Everything made available has been completed: nothing is held. Start again from here. */
		memset(q->held, 0, sizeof(q->held));
		q->seen_avail = avail;
		q->seen_used = used;
		q->lost = false;
		return;
	}
	na = (uint16_t)(avail - q->seen_avail);
	nu = (uint16_t)(used - q->seen_used);
	if (na > vq->size || nu > vq->size) {
		q->lost = true;
		return;
	}
	for (uint16_t i = 0; i < na && ok; i++) {
		uint16_t h = le16toh(__atomic_load_n(&vq->avail->ring[(uint16_t)(q->seen_avail + i) & mask],
						     __ATOMIC_RELAXED));

		ok = h < vq->size;
		if (ok) {
			q->held[h]++;
			touched[nt++] = h;
		}
	}
	for (uint16_t i = 0; i < nu && ok; i++) {
		uint32_t id = le32toh(__atomic_load_n(&vq->used->ring[(uint16_t)(q->seen_used + i) & mask].id,
						      __ATOMIC_RELAXED));

		ok = id < vq->size;
		if (ok) {
			q->held[id]--;
			touched[nt++] = (uint16_t)id;
		}
	}
	if (ok) {
		/*
		 * The slots just read were not reused meanwhile: a slot is rewritten only a queue's worth
		 * of entries later. The acquire fence keeps the entry loads above before these index loads.
		 */
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		ok = (uint16_t)(load_idx(&vq->avail->idx) - q->seen_avail) <= vq->size &&
		     (uint16_t)(load_idx(&vq->used->idx) - q->seen_used) <= vq->size;
	}
	for (unsigned i = 0; i < nt && ok; i++)
		ok = q->held[touched[i]] == 0 || q->held[touched[i]] == 1;
	if (!ok) {
		q->lost = true; /* held[] means nothing now: reset when the queue is next seen empty */
		return;
	}
	q->seen_avail = avail;
	q->seen_used = used;
}

void vhost_user_on_broken(struct vhost_user *vu, void (*fn)(void *opaque), void *opaque)
{
	vu->on_broken = fn;
	vu->broken_opaque = opaque;
}

int vhost_user_orphans(struct vhost_user *vu, unsigned qi, uint16_t *heads, unsigned max, struct virtq_pos *pos)
{
	struct vu_queue *q;
	const struct virtq *vq;
	unsigned n = 0;

	if (qi >= VHOST_USER_MAX_QUEUES || !vu->q[qi].vq)
		return -EINVAL;
	q = &vu->q[qi];
	vq = q->vq;
	if (vq->broken || !vq->size)
		return -EIO;
	if (max < vq->size)
		return -EINVAL;
	track(q); /* the last entries, if the backend completed some after its last call */
	memset(pos, 0, sizeof(*pos));
	if (!q->lost) {
		for (uint16_t h = 0; h < vq->size; h++)
			if (q->held[h] == 1)
				heads[n++] = h;
		/* Sum of held = additions - completions: anything else is a miscount, so say nothing. */
		if (n == (uint16_t)(q->seen_avail - q->seen_used)) {
			pos->last_avail = q->seen_avail;
			pos->used_idx = q->seen_used;
			return (int)n;
		}
		q->lost = true;
	}
	/* Lost: go on after everything published so far and complete nothing old (vhost_user.h). */
	pos->used_idx = load_idx(&vq->used->idx);
	pos->last_avail = load_idx(&vq->avail->idx);
	if ((uint16_t)(pos->last_avail - pos->used_idx) > vq->size)
		return -EIO;
	return 0;
}

/* --- Queues --- */

/*
 * I/O thread: the backend used a queue's buffers. Watched only while the call eventfd is not lent
 * (start_queue()): we count and deliver; a wake-up with no count in the eventfd delivers nothing.
 */
static void call_ready(void *opaque)
{
	struct vu_queue *q = opaque;
	uint64_t n;
	ssize_t got;

	while ((got = read(q->call_fd, &n, sizeof(n))) < 0 && errno == EINTR)
		;
	track(q);
	if (got == (ssize_t)sizeof(n))
		q->vu->ctx.interrupt(q->vu->ctx.irq_opaque, q->idx);
}

static void return_doorbell(struct vu_queue *q);
static void stop_looks(struct vhost_user *vu);

/* I/O thread: the socket is readable while no request waits: EOF (the backend died) or junk. */
static void sock_ready(void *opaque)
{
	struct vhost_user *vu = opaque;
	char c;
	ssize_t n = recv(vu->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);

	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	if (!vu->broken) {
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			fail(vu, -EPIPE, "closed the connection");
		else if (n < 0)
			fail(vu, -EIO, "connection failed: %s", strerror(errno));
		else
			fail(vu, -EPROTO, "sent a message nobody asked for");
		/* The backend's completion signals mean nothing now: the device answers the queues. */
		for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
			if (vu->q[i].watch >= 0)
				event_loop_unwatch(vu->ctx.loop, vu->q[i].watch);
			vu->q[i].watch = -1;
		}
		stop_looks(vu); /* the device counts nothing more from here */
		if (vu->on_broken)
			vu->on_broken(vu->broken_opaque);
		/* Lent doorbells go back: from now on the guest's kicks reach the device, which answers. */
		for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++)
			return_doorbell(&vu->q[i]);
		vu->ctx.needs_reset(vu->ctx.irq_opaque);
	}
	event_loop_unwatch(vu->ctx.loop, vu->sock_watch); /* on the I/O thread: at once */
	vu->sock_watch = -1;
}

/* Look at the rings again in LOOK_MS (once; a look already due stays). false: no timer. */
static bool arm_look(struct vhost_user *vu)
{
	struct itimerspec its = { .it_value = { .tv_nsec = LOOK_MS * 1000000L } };

	if (vu->timer_fd < 0 || vu->timer_watch < 0)
		return false;
	if (!vu->timer_armed && timerfd_settime(vu->timer_fd, 0, &its, NULL) < 0)
		return false;
	vu->timer_armed = true;
	return true;
}

/* Requests out on q's ring (made available, not yet completed)? */
static bool ring_busy(const struct vu_queue *q)
{
	return q->vq && q->vq->size && load_idx(&q->vq->avail->idx) != load_idx(&q->vq->used->idx);
}

/*
 * I/O thread: the guest rang a lent doorbell. The backend reads the eventfd; we count, then stop
 * looking at this doorbell until a timed look: at one look per kick, the wake-ups of our I/O thread
 * would cost a small request as much as the backend's work (bench/README.md, virtio-fs).
 */
static void kick_seen(void *opaque)
{
	struct vu_queue *q = opaque;

	track(q);
	if (!arm_look(q->vu))
		return; /* no timer: this doorbell stays watched */
	event_loop_unwatch(q->vu->ctx.loop, q->kick_watch); /* on the I/O thread: at once */
	q->kick_watch = -1;
	q->kick_paused = true;
}

/*
 * I/O thread, LOOK_MS after a kick: count every started ring. While requests are out on any, or
 * the guest added any since the last look, look again in LOOK_MS (a busy backend may let the guest
 * add requests without kicks: EVENT_IDX; a guest that sends one small request after another would
 * otherwise wake us twice per look, at its next kick and at the look); once a look finds all rings
 * empty and unchanged, watch the doorbells again. Between two looks, fewer than a queue's worth of
 * ring entries are made (else the count is lost until the ring is next seen empty: vhost_user.h).
 */
static void look_ready(void *opaque)
{
	struct vhost_user *vu = opaque;
	bool busy = false;
	uint64_t n;

	while (read(vu->timer_fd, &n, sizeof(n)) < 0 && errno == EINTR)
		;
	vu->timer_armed = false;
	for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		struct vu_queue *q = &vu->q[i];
		uint16_t before;

		if (!q->started)
			continue;
		before = q->seen_avail;
		track(q);
		busy |= ring_busy(q) || q->seen_avail != before;
	}
	if (busy && arm_look(vu))
		return;
	for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		struct vu_queue *q = &vu->q[i];

		if (!q->kick_paused)
			continue;
		q->kick_watch = event_loop_watch(vu->ctx.loop, q->kick_fd, kick_seen, q);
		if (q->kick_watch >= 0)
			q->kick_paused = false;
		else
			arm_look(vu); /* try again at the next look */
	}
}

/* Stop the timed looks (the rings are no longer ours to count). */
static void stop_looks(struct vhost_user *vu)
{
	struct itimerspec off = { 0 };

	if (vu->timer_watch >= 0)
		event_loop_unwatch(vu->ctx.loop, vu->timer_watch);
	vu->timer_watch = -1;
	if (vu->timer_fd >= 0)
		timerfd_settime(vu->timer_fd, 0, &off, NULL);
	vu->timer_armed = false;
}

/* Stop looking at a lent doorbell and give it back: the transport reads it (and the device answers). */
static void return_doorbell(struct vu_queue *q)
{
	if (q->kick_watch >= 0)
		event_loop_unwatch(q->vu->ctx.loop, q->kick_watch);
	q->kick_watch = -1;
	q->kick_paused = false;
	if (q->kick_lent)
		q->vu->ctx.doorbell(q->vu->ctx.irq_opaque, q->idx, false);
	q->kick_lent = false;
}

static void put_queue(struct vu_queue *q)
{
	if (q->watch >= 0)
		event_loop_unwatch(q->vu->ctx.loop, q->watch);
	return_doorbell(q);
	if (q->call_lent)
		q->vu->ctx.lend_call(q->vu->ctx.irq_opaque, q->idx, q->call_fd, false); /* before the close */
	q->call_lent = false;
	if (q->kick_fd >= 0)
		close(q->kick_fd);
	if (q->call_fd >= 0)
		close(q->call_fd);
	q->watch = q->kick_fd = q->call_fd = -1;
	q->started = false;
	q->vq = NULL;
}

/*
 * The queue's kick: the transport's own doorbell eventfd where it lends it (KVM signals it and the
 * backend reads it, no hop through us; we watch it without reading, to count what the guest
 * added), else an eventfd of ours that vhost_user_kick() writes.
 */
static int open_kick(struct vhost_user *vu, struct vu_queue *q)
{
	int efd = vu->ctx.doorbell ? vu->ctx.doorbell(vu->ctx.irq_opaque, q->idx, true) : -1;

	if (efd < 0) {
		q->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		return q->kick_fd < 0 ? -errno : 0;
	}
	q->kick_lent = true;
	q->kick_fd = fcntl(efd, F_DUPFD_CLOEXEC, 0);
	if (q->kick_fd < 0)
		return -errno;
	q->kick_watch = event_loop_watch(vu->ctx.loop, q->kick_fd, kick_seen, q);
	return q->kick_watch < 0 ? q->kick_watch : 0;
}

static int start_queue(struct vhost_user *vu, struct vu_queue *q, const struct virtq *vq)
{
	struct vhost_user_addr a = {
		.index = q->idx,
		.desc = (uint64_t)(uintptr_t)vq->desc,
		.used = (uint64_t)(uintptr_t)vq->used,
		.avail = (uint64_t)(uintptr_t)vq->avail,
	};
	int ret;

	track_reset(q, vq); /* before the kick watch can count */
	q->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = q->call_fd < 0 ? -errno : open_kick(vu, q);
	if (ret) {
		vlog_err(vu->log, "%s: cannot set up queue %u's eventfds: %s", vu->name, q->idx, strerror(-ret));
		return ret;
	}
	/*
	 * Lent to the queue's vector: KVM delivers every completion, also one the backend signals while
	 * the vector is masked (the count waits in the eventfd until KVM binds it again), so we do not
	 * read it. Not lent (no vector, MSI-X off, no bind): each comes through call_ready().
	 */
	q->call_lent = vu->ctx.lend_call && vu->ctx.lend_call(vu->ctx.irq_opaque, q->idx, q->call_fd, true) == 0;
	if (!q->call_lent) {
		q->watch = event_loop_watch(vu->ctx.loop, q->call_fd, call_ready, q);
		if (q->watch < 0) {
			vlog_err(vu->log, "%s: cannot watch queue %u's call eventfd: %s", vu->name, q->idx,
				 strerror(-q->watch));
			return q->watch;
		}
	}
	q->started = true; /* from here on the backend may hold the ring: stop it on failure */
	ret = set_state(vu, VHOST_USER_SET_VRING_NUM, q->idx, vq->size);
	ret = ret ?: set_state(vu, VHOST_USER_SET_VRING_BASE, q->idx, vq->last_avail);
	ret = ret ?: request(vu, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0, NULL, 0);
	ret = ret ?: set_vring_fd(vu, VHOST_USER_SET_VRING_CALL, q->idx, q->call_fd);
	ret = ret ?: set_vring_fd(vu, VHOST_USER_SET_VRING_KICK, q->idx, q->kick_fd);
	ret = ret ?: set_state(vu, VHOST_USER_SET_VRING_ENABLE, q->idx, 1);
	return ret;
}

int vhost_user_start(struct vhost_user *vu, const struct virtio_ctx *ctx, uint64_t features)
{
	int ret;

	if (vu->broken)
		return -EIO;
	if (ctx->nvq > VHOST_USER_MAX_QUEUES)
		return -EINVAL;
	vu->ctx = *ctx;
	ret = vhost_user_set_features(vu, features);
	if (!ret && !vu->mem_sent) {
		ret = vhost_user_set_mem_table(vu, ctx->mem);
		vu->mem_sent = ret == 0;
	}
	if (!ret) {
		vu->sock_watch = event_loop_watch(ctx->loop, vu->fd, sock_ready, vu);
		if (vu->sock_watch < 0)
			ret = vu->sock_watch;
	}
	/* The timed looks (kick_seen()); without a timer every kick is looked at. */
	if (!ret && vu->timer_fd < 0)
		vu->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (!ret && vu->timer_fd >= 0)
		vu->timer_watch = event_loop_watch(ctx->loop, vu->timer_fd, look_ready, vu);
	for (unsigned i = 0; i < ctx->nvq && !ret; i++)
		if (ctx->vq[i].size)
			ret = start_queue(vu, &vu->q[i], &ctx->vq[i]);
	if (ret)
		vhost_user_stop(vu);
	return ret;
}

void vhost_user_stop(struct vhost_user *vu)
{
	for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		struct vu_queue *q = &vu->q[i];
		struct vhost_user_state s = { .index = i };

		if (q->started) {
			/* After GET_VRING_BASE the backend no longer touches the ring (nor guest RAM for it). */
			if (!set_state(vu, VHOST_USER_SET_VRING_ENABLE, i, 0) &&
			    !request(vu, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), NULL, 0, &s, sizeof(s))) {
				if (s.index != i)
					fail(vu, -EPROTO, "answered GET_VRING_BASE for queue %u with queue %u", i, s.index);
				else
					q->last_base = (uint16_t)s.num;
			}
		}
		if (q->started || q->kick_fd >= 0 || q->call_fd >= 0 || q->watch >= 0 || q->kick_lent || q->call_lent)
			put_queue(q);
	}
	if (vu->sock_watch >= 0)
		event_loop_unwatch(vu->ctx.loop, vu->sock_watch);
	vu->sock_watch = -1;
	stop_looks(vu);
}

void vhost_user_kick(struct vhost_user *vu, unsigned q)
{
	uint64_t one = 1;

	if (q >= VHOST_USER_MAX_QUEUES || !vu->q[q].started)
		return;
	track(&vu->q[q]); /* what the guest added, before the backend can take it */
	while (write(vu->q[q].kick_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

uint16_t vhost_user_last_base(const struct vhost_user *vu, unsigned q)
{
	return q < VHOST_USER_MAX_QUEUES ? vu->q[q].last_base : 0;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (!vu)
		return;
	for (unsigned i = 0; i < VHOST_USER_MAX_QUEUES; i++) {
		/* vhost_user_stop() was called: only fds are left to close, if anything. */
		if (vu->q[i].kick_fd >= 0)
			close(vu->q[i].kick_fd);
		if (vu->q[i].call_fd >= 0)
			close(vu->q[i].call_fd);
	}
	if (vu->timer_fd >= 0)
		close(vu->timer_fd);
	close(vu->fd);
	free(vu);
}
