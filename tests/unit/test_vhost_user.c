// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE /* F_SEAL_*, F_GET_SEALS */
/*
 * The vhost-user frontend and the virtio-fs device against a fake backend on a socketpair, served
 * by a thread: the frontend's message sequence and payloads (features, the memory table and its
 * fd, ring sizes, bases, addresses, kick and call fds), the kick and call paths, and backends that
 * misbehave (close mid-handshake, answer with another request code, a short or huge size, an fd,
 * not at all): an error, one log line, NEEDS_RESET, no crash, no fd left open. A backend that dies
 * or sends garbage with requests outstanding: the test plays guest and backend on the shared RAM
 * (posting chains, completing some out of order), and every chain the backend did not complete gets
 * exactly one FUSE -EIO answer with its unique, as does every later request.
 */
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <linux/fuse.h>
#include <linux/virtio_config.h>
#include <linux/virtio_fs.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "event_loop.h"
#include "unit.h"
#include "vhost_user.h"
#include "virtio/fs.h"

#define RAM (16u << 20)
#define QSIZE 256
#define NQ 3
#define MAX_MSGS 256
#define BACKEND_FEATURES                                                                                        \
	((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) | (1ull << VIRTIO_RING_F_INDIRECT_DESC) | \
	 (1ull << VHOST_USER_F_PROTOCOL_FEATURES))

enum fault {
	F_NONE,
	F_CLOSE,  /* close the socket instead of answering */
	F_WRONG,  /* answer with another request code */
	F_SHORT,  /* answer with a 4-byte payload */
	F_HUGE,   /* a size field of 2 GiB */
	F_SILENT, /* never answer */
	F_FD,     /* an fd along with the answer */
	F_NACK,   /* acknowledge with a non-zero status */
	F_SPLIT,  /* a good answer, one byte at a time (short reads for the frontend) */
};

struct msg {
	uint32_t request, flags, size;
	uint8_t payload[sizeof(struct vhost_user_mem)];
	int nfds;
	int fd; /* the first fd received (kept open for kick/call, else closed after an fstat) */
	ino_t ino;
};

struct fake {
	int fd;
	pthread_t th;
	uint64_t features, protocol, qnum;
	uint32_t fault_req; /* answer this request with fault */
	enum fault fault;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct msg m[MAX_MSGS];
	unsigned n;
	bool done;
};

static atomic_int errors; /* log lines at ERROR */
static atomic_int irqs[NQ];
static atomic_int resets;

static void count_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	(void)msg;
	if (level == VMM_LOG_ERROR)
		atomic_fetch_add(&errors, 1);
}

static const struct vlog counted = { .fn = count_msg, .level = VMM_LOG_ERROR };

static bool read_all(int fd, void *buf, size_t len, int *rfd)
{
	size_t done = 0;

	while (done < len) {
		char ctl[CMSG_SPACE(sizeof(int) * 8)];
		struct iovec iov = { .iov_base = (uint8_t *)buf + done, .iov_len = len - done };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		ssize_t n = recvmsg(fd, &m, MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return false;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c)) {
			if (c->cmsg_type != SCM_RIGHTS)
				continue;
			for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
				int f;

				memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(f));
				if (rfd[0] < 0)
					rfd[0] = f;
				else
					close(f);
				rfd[1]++;
			}
		}
		done += (size_t)n;
	}
	return true;
}

static void reply(struct fake *f, uint32_t req, const void *p, uint32_t size)
{
	struct vhost_user_hdr h = { .request = req, .flags = VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY, .size = size };
	uint8_t buf[64];
	int sent_fd = -1;

	if (f->fault_req == req) {
		switch (f->fault) {
		case F_WRONG:
			h.request = req + 1;
			break;
		case F_SHORT:
			h.size = 4;
			size = 4;
			break;
		case F_HUGE:
			h.size = 0x80000000u;
			break;
		case F_SILENT:
			return;
		case F_FD:
			sent_fd = eventfd(0, EFD_CLOEXEC);
			break;
		default:
			break;
		}
	}
	memcpy(buf, &h, sizeof(h));
	memcpy(buf + sizeof(h), p, size);
	if (f->fault_req == req && f->fault == F_SPLIT) {
		for (size_t i = 0; i < sizeof(h) + size; i++) {
			(void)!send(f->fd, buf + i, 1, MSG_NOSIGNAL);
			usleep(1000);
		}
		return;
	}
	if (sent_fd >= 0) {
		char ctl[CMSG_SPACE(sizeof(int))];
		struct iovec iov = { .iov_base = buf, .iov_len = sizeof(h) + size };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl, .msg_controllen = sizeof(ctl) };
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);

		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &sent_fd, sizeof(int));
		ck_assert_int_gt(sendmsg(f->fd, &m, MSG_NOSIGNAL), 0);
		close(sent_fd);
		return;
	}
	(void)!send(f->fd, buf, sizeof(h) + size, MSG_NOSIGNAL);
}

static void *backend(void *arg)
{
	struct fake *f = arg;

	for (;;) {
		struct msg m = { .fd = -1 };
		int rfd[2] = { -1, 0 };
		uint64_t v = 0;
		struct vhost_user_state st;

		if (!read_all(f->fd, &m, 12, rfd) || m.size > sizeof(m.payload) || !read_all(f->fd, m.payload, m.size, rfd))
			break;
		m.fd = rfd[0];
		m.nfds = rfd[1];
		if (m.fd >= 0) {
			struct stat sb;

			fstat(m.fd, &sb);
			m.ino = sb.st_ino;
			if (m.request != VHOST_USER_SET_VRING_KICK && m.request != VHOST_USER_SET_VRING_CALL) {
				close(m.fd);
				m.fd = -1;
			}
		}
		pthread_mutex_lock(&f->lock);
		if (f->n < MAX_MSGS)
			f->m[f->n++] = m;
		else if (m.fd >= 0)
			close(m.fd);
		pthread_cond_broadcast(&f->cond);
		pthread_mutex_unlock(&f->lock);
		if (f->fault_req == m.request && f->fault == F_CLOSE)
			break;
		switch (m.request) {
		case VHOST_USER_GET_FEATURES:
			reply(f, m.request, &f->features, 8);
			break;
		case VHOST_USER_GET_PROTOCOL_FEATURES:
			reply(f, m.request, &f->protocol, 8);
			break;
		case VHOST_USER_GET_QUEUE_NUM:
			reply(f, m.request, &f->qnum, 8);
			break;
		case VHOST_USER_GET_VRING_BASE:
			memcpy(&st, m.payload, sizeof(st));
			st.num = 40 + st.index;
			reply(f, m.request, &st, 8);
			break;
		default:
			if (m.flags & VHOST_USER_FLAG_NEED_REPLY) {
				v = f->fault_req == m.request && f->fault == F_NACK ? 1 : 0;
				reply(f, m.request, &v, 8);
			}
			break;
		}
	}
	shutdown(f->fd, SHUT_RDWR);
	pthread_mutex_lock(&f->lock);
	f->done = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

/* A backend thread; the frontend's end of the socketpair in *front. */
static void fake_start(struct fake *f, int *front)
{
	int sv[2];

	memset(f, 0, sizeof(*f));
	f->features = BACKEND_FEATURES;
	f->protocol = (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK) | (1ull << 9);
	f->qnum = 8;
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	f->fd = sv[1];
	*front = sv[0];
	ck_assert_int_eq(pthread_create(&f->th, NULL, backend, f), 0);
}

static void fake_stop(struct fake *f)
{
	shutdown(f->fd, SHUT_RDWR);
	pthread_join(f->th, NULL);
	close(f->fd);
	for (unsigned i = 0; i < f->n; i++)
		if (f->m[i].fd >= 0)
			close(f->m[i].fd);
}

/* Wait until the backend has received n messages. */
static void fake_wait(struct fake *f, unsigned n)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 5;
	pthread_mutex_lock(&f->lock);
	while (f->n < n && !f->done)
		if (pthread_cond_timedwait(&f->cond, &f->lock, &ts))
			break;
	pthread_mutex_unlock(&f->lock);
	ck_assert_uint_ge(f->n, n);
}

static uint64_t u64_of(const struct msg *m)
{
	uint64_t v;

	ck_assert_uint_eq(m->size, 8);
	memcpy(&v, m->payload, 8);
	return v;
}

static struct vhost_user_state state_of(const struct msg *m)
{
	struct vhost_user_state s;

	ck_assert_uint_eq(m->size, 8);
	memcpy(&s, m->payload, 8);
	return s;
}

/* The guest side: shared RAM, NQ queues, an I/O thread, and the transport's callbacks counted. */
struct guest {
	struct guest_mem mem;
	struct virtq vq[NQ];
	struct event_loop *l;
	struct virtio_ctx ctx;
};

static void irq(void *opaque, unsigned q)
{
	(void)opaque;
	atomic_fetch_add(&irqs[q], 1);
}

static void needs_reset(void *opaque)
{
	(void)opaque;
	atomic_fetch_add(&resets, 1);
}

static void config_changed(void *opaque)
{
	(void)opaque;
}

static void guest_init(struct guest *g, unsigned enabled)
{
	memset(g, 0, sizeof(*g));
	ck_assert_int_eq(gmem_init_memfd(&g->mem, RAM), 0);
	for (unsigned q = 0; q < NQ; q++) {
		uint64_t base = 0x10000u * (q + 1);

		if (q < enabled)
			ck_assert_int_eq(virtq_init(&g->vq[q], &g->mem, QSIZE, base, base + 0x1000, base + 0x2000, true), 0);
	}
	ck_assert_int_eq(event_loop_create(64, &counted, &g->l), 0);
	ck_assert_int_eq(event_loop_start(g->l), 0);
	g->ctx = (struct virtio_ctx){
		.mem = &g->mem,
		.loop = g->l,
		.features = (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX),
		.vq = g->vq,
		.nvq = NQ,
		.interrupt = irq,
		.needs_reset = needs_reset,
		.config_changed = config_changed,
	};
	atomic_store(&errors, 0);
	atomic_store(&resets, 0);
	for (unsigned q = 0; q < NQ; q++)
		atomic_store(&irqs[q], 0);
}

static void guest_fini(struct guest *g)
{
	event_loop_stop(g->l);
	event_loop_destroy(g->l);
	gmem_destroy(&g->mem);
}

struct call_arg {
	const struct virtio_device_ops *ops;
	void *dev;
	struct guest *g;
	unsigned q;
	int ret;
};

static void activate_fn(void *arg)
{
	struct call_arg *a = arg;

	a->ret = a->ops->activate(a->dev, &a->g->ctx);
}

static void reset_fn(void *arg)
{
	struct call_arg *a = arg;

	a->ops->reset(a->dev);
}

static void notify_fn(void *arg)
{
	struct call_arg *a = arg;

	a->ops->notify(a->dev, a->q);
}

static void destroy_fn(void *arg)
{
	struct call_arg *a = arg;

	a->ops->destroy(a->dev);
}

static struct vhost_user *handshaken(struct fake *f, int timeout_ms)
{
	struct vhost_user *vu;
	int front;

	fake_start(f, &front);
	ck_assert_int_eq(vhost_user_open(front, "virtio-fs 'test'", &counted, timeout_ms, &vu), 0);
	ck_assert_int_eq(vhost_user_handshake(vu, NQ), 0);
	return vu;
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(v), want);
}

START_TEST(handshake_and_rings)
{
	unsigned fds0 = unit_count_fds();
	struct fake f;
	struct guest g;
	struct vhost_user *vu;
	struct virtio_fs_opts o = { .tag = "share", .queues = NQ - 1 };
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct virtio_fs_config cfg;
	struct stat sb;
	unsigned i = 0, at;
	uint64_t one = 1;

	guest_init(&g, NQ);
	a.g = &g;
	vu = handshaken(&f, 2000);
	fake_wait(&f, 5);
	ck_assert_uint_eq(f.m[0].request, VHOST_USER_GET_FEATURES);
	ck_assert_uint_eq(f.m[0].flags, VHOST_USER_VERSION);
	ck_assert_uint_eq(f.m[0].size, 0);
	ck_assert_uint_eq(f.m[1].request, VHOST_USER_GET_PROTOCOL_FEATURES);
	ck_assert_uint_eq(f.m[2].request, VHOST_USER_SET_PROTOCOL_FEATURES);
	ck_assert_uint_eq(u64_of(&f.m[2]), (1ull << VHOST_USER_PROTOCOL_F_MQ) | (1ull << VHOST_USER_PROTOCOL_F_REPLY_ACK));
	ck_assert_uint_eq(f.m[2].flags, VHOST_USER_VERSION); /* REPLY_ACK not yet in force */
	ck_assert_uint_eq(f.m[3].request, VHOST_USER_GET_QUEUE_NUM);
	ck_assert_uint_eq(f.m[4].request, VHOST_USER_SET_OWNER);
	ck_assert_uint_eq(f.m[4].flags, VHOST_USER_VERSION | VHOST_USER_FLAG_NEED_REPLY);
	ck_assert_uint_eq(vhost_user_features(vu), BACKEND_FEATURES);

	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &a.dev), 0);
	ck_assert_uint_eq(virtio_fs_ops.num_queues(a.dev), NQ);
	ck_assert_uint_eq(virtio_fs_ops.features(a.dev), 1ull << VIRTIO_F_VERSION_1);
	virtio_fs_ops.config_read(a.dev, 0, &cfg, sizeof(cfg));
	ck_assert_str_eq((char *)cfg.tag, "share");
	ck_assert_uint_eq(le32toh(cfg.num_request_queues), NQ - 1);

	g.vq[1].last_avail = 7; /* a queue that does not start at 0 */
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	at = 5;
	fake_wait(&f, at + 2 + 6 * NQ);
	ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_FEATURES);
	ck_assert_uint_eq(u64_of(&f.m[at]), g.ctx.features | (1ull << VHOST_USER_F_PROTOCOL_FEATURES));
	at++;
	{
		const struct msg *m = &f.m[at++];
		struct vhost_user_mem t;

		ck_assert_uint_eq(m->request, VHOST_USER_SET_MEM_TABLE);
		ck_assert_uint_eq(m->size, 8 + 32);
		memcpy(&t, m->payload, m->size);
		ck_assert_uint_eq(t.nregions, 1);
		ck_assert_uint_eq(t.r[0].gpa, 0);
		ck_assert_uint_eq(t.r[0].size, RAM);
		ck_assert_uint_eq(t.r[0].uaddr, (uintptr_t)g.mem.r[0].hva);
		ck_assert_uint_eq(t.r[0].mmap_offset, 0);
		ck_assert_int_eq(m->nfds, 1);
		ck_assert_int_eq(fstat(g.mem.fd, &sb), 0);
		ck_assert_uint_eq(m->ino, sb.st_ino); /* the guest's memfd itself */
	}
	for (unsigned q = 0; q < NQ; q++) {
		struct vhost_user_addr ad;
		struct vhost_user_state s;

		ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_VRING_NUM);
		s = state_of(&f.m[at++]);
		ck_assert_uint_eq(s.index, q);
		ck_assert_uint_eq(s.num, QSIZE);
		ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_VRING_BASE);
		s = state_of(&f.m[at++]);
		ck_assert_uint_eq(s.index, q);
		ck_assert_uint_eq(s.num, q == 1 ? 7 : 0);
		ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_VRING_ADDR);
		ck_assert_uint_eq(f.m[at].size, sizeof(ad));
		memcpy(&ad, f.m[at++].payload, sizeof(ad));
		ck_assert_uint_eq(ad.index, q);
		ck_assert_uint_eq(ad.flags, 0);
		ck_assert_uint_eq(ad.desc, (uintptr_t)g.vq[q].desc);
		ck_assert_uint_eq(ad.avail, (uintptr_t)g.vq[q].avail);
		ck_assert_uint_eq(ad.used, (uintptr_t)g.vq[q].used);
		ck_assert_uint_eq(ad.desc, (uintptr_t)g.mem.r[0].hva + 0x10000u * (q + 1));
		ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_VRING_CALL);
		ck_assert_uint_eq(u64_of(&f.m[at]), q);
		ck_assert_int_eq(f.m[at++].nfds, 1);
		ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_VRING_KICK);
		ck_assert_uint_eq(u64_of(&f.m[at]), q);
		ck_assert_int_eq(f.m[at++].nfds, 1);
		ck_assert_uint_eq(f.m[at].request, VHOST_USER_SET_VRING_ENABLE);
		s = state_of(&f.m[at]);
		ck_assert_uint_eq(f.m[at++].flags, VHOST_USER_VERSION | VHOST_USER_FLAG_NEED_REPLY);
		ck_assert_uint_eq(s.index, q);
		ck_assert_uint_eq(s.num, 1);
	}

	/* The guest's doorbell reaches the backend's kick fd; its call fd interrupts the guest. */
	for (unsigned q = 0; q < NQ; q++) {
		const struct msg *call = &f.m[7 + 6 * q + 3], *kick = &f.m[7 + 6 * q + 4];
		uint64_t v = 0;

		a.q = q;
		ck_assert_int_eq(event_loop_call(g.l, notify_fn, &a), 0);
		ck_assert_int_eq(read(kick->fd, &v, 8), 8);
		ck_assert_uint_eq(v, 1);
		ck_assert_int_eq(write(call->fd, &one, 8), 8);
		wait_for(&irqs[q], 1);
	}

	/* Reset: each ring disabled and stopped, its base taken back. */
	i = f.n;
	ck_assert_int_eq(event_loop_call(g.l, reset_fn, &a), 0);
	fake_wait(&f, i + 2 * NQ);
	for (unsigned q = 0; q < NQ; q++) {
		struct vhost_user_state s = state_of(&f.m[i + 2 * q]);

		ck_assert_uint_eq(f.m[i + 2 * q].request, VHOST_USER_SET_VRING_ENABLE);
		ck_assert_uint_eq(s.index, q);
		ck_assert_uint_eq(s.num, 0);
		ck_assert_uint_eq(f.m[i + 2 * q + 1].request, VHOST_USER_GET_VRING_BASE);
		ck_assert_uint_eq(vhost_user_last_base(vu, q), 40 + q);
	}
	/* A second activation: features again, not the memory table. */
	i = f.n;
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	fake_wait(&f, i + 1 + 6 * NQ);
	ck_assert_uint_eq(f.m[i].request, VHOST_USER_SET_FEATURES);
	ck_assert_uint_eq(f.m[i + 1].request, VHOST_USER_SET_VRING_NUM);

	/* Snapshot: refused with its reason. */
	{
		struct sbuf sb2;

		sbuf_init(&sb2);
		ck_assert_int_eq(virtio_fs_ops.save(a.dev, &sb2), -ENOTSUP);
		sbuf_free(&sb2);
		ck_assert_int_eq(atomic_load(&errors), 1);
	}
	ck_assert_int_eq(event_loop_call(g.l, destroy_fn, &a), 0); /* resets, closes the connection */
	ck_assert_int_eq(atomic_load(&resets), 0);
	fake_stop(&f);
	guest_fini(&g);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/* Faults during the handshake: each request in turn, each fault. */
static const uint32_t handshake_reqs[] = { VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES,
					   VHOST_USER_GET_QUEUE_NUM, VHOST_USER_SET_OWNER };
static const enum fault faults[] = { F_CLOSE, F_WRONG, F_SHORT, F_HUGE, F_SILENT, F_FD, F_NACK };

START_TEST(handshake_faults)
{
	uint32_t req = handshake_reqs[_i / 7];
	enum fault fault = faults[_i % 7];
	unsigned fds0 = unit_count_fds();
	struct timespec t0, t1;
	struct vhost_user *vu;
	struct fake f;
	int front, ret;

	if (fault == F_NACK && req != VHOST_USER_SET_OWNER)
		return; /* only acknowledged requests can be refused */
	atomic_store(&errors, 0);
	fake_start(&f, &front);
	f.fault_req = req;
	f.fault = fault;
	ck_assert_int_eq(vhost_user_open(front, "virtio-fs 'test'", &counted, 300, &vu), 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = vhost_user_handshake(vu, NQ);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_lt(ret, 0);
	ck_assert(vhost_user_broken(vu));
	ck_assert_int_eq(atomic_load(&errors), 1);
	ck_assert_int_lt(t1.tv_sec - t0.tv_sec, 3); /* bounded */
	if (fault == F_SILENT)
		ck_assert_int_eq(ret, -ETIMEDOUT);
	if (fault == F_CLOSE)
		ck_assert_int_eq(ret, -EPIPE);
	/* Broken: every later call fails at once, silently. */
	ck_assert_int_eq(vhost_user_set_features(vu, 1), -EIO);
	ck_assert_int_eq(atomic_load(&errors), 1);
	vhost_user_close(vu);
	fake_stop(&f);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/* Faults at activation: activate fails (the transport then sets NEEDS_RESET), the next one too. */
static const uint32_t start_reqs[] = { VHOST_USER_SET_FEATURES, VHOST_USER_SET_MEM_TABLE, VHOST_USER_SET_VRING_ADDR,
				       VHOST_USER_SET_VRING_KICK, VHOST_USER_SET_VRING_ENABLE };

START_TEST(activate_faults)
{
	uint32_t req = start_reqs[_i / 3];
	static const enum fault some[] = { F_CLOSE, F_WRONG, F_SILENT };
	unsigned fds0 = unit_count_fds();
	struct virtio_fs_opts o = { .tag = "t", .queues = NQ - 1 };
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct vhost_user *vu;
	struct guest g;
	struct fake f;

	guest_init(&g, NQ);
	a.g = &g;
	vu = handshaken(&f, 300);
	f.fault_req = req;
	f.fault = some[_i % 3];
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &a.dev), 0);
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_lt(a.ret, 0);
	ck_assert(vhost_user_broken(vu));
	ck_assert_int_eq(atomic_load(&errors), 1);
	ck_assert_int_eq(event_loop_call(g.l, reset_fn, &a), 0);
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, -EIO);
	ck_assert_int_eq(atomic_load(&errors), 1);
	ck_assert_int_eq(event_loop_call(g.l, destroy_fn, &a), 0);
	fake_stop(&f);
	guest_fini(&g);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/* The backend dies (or says something unasked) while the device runs: one line, NEEDS_RESET, no crash. */
START_TEST(backend_dies_while_active)
{
	unsigned fds0 = unit_count_fds();
	struct virtio_fs_opts o = { .tag = "t", .queues = 1 };
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct vhost_user *vu;
	struct guest g;
	struct fake f;

	guest_init(&g, 2); /* queue 2 left disabled: not started */
	a.g = &g;
	g.ctx.nvq = 2;
	vu = handshaken(&f, 300);
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &a.dev), 0);
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	fake_wait(&f, 5 + 2 + 6 * 2);
	if (_i == 0) {
		shutdown(f.fd, SHUT_RDWR); /* dies */
	} else {
		struct vhost_user_hdr h = { .request = 99, .flags = VHOST_USER_VERSION, .size = 0 };

		ck_assert_int_eq(send(f.fd, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
	}
	wait_for(&resets, 1);
	ck_assert_int_eq(atomic_load(&errors), 1);
	a.q = 1;
	ck_assert_int_eq(event_loop_call(g.l, notify_fn, &a), 0); /* harmless */
	ck_assert_int_eq(event_loop_call(g.l, reset_fn, &a), 0);
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, -EIO);
	ck_assert_int_eq(atomic_load(&resets), 1);
	ck_assert_int_eq(atomic_load(&errors), 1);
	ck_assert_int_eq(event_loop_call(g.l, destroy_fn, &a), 0);
	fake_stop(&f);
	guest_fini(&g);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/* A transport that lends its doorbells (virtio_ctx.doorbell): one eventfd per queue, lends and returns counted. */
static int lent_efd[NQ];
static atomic_int lent_taken, lent_returned;

static int lend(void *opaque, unsigned q, bool take)
{
	(void)opaque;
	if (q >= NQ)
		return -EINVAL;
	atomic_fetch_add(take ? &lent_taken : &lent_returned, 1);
	return lent_efd[q];
}

/*
 * The backend's kick fd is the transport's own doorbell (what KVM signals reaches it with no hop
 * through us); a reset gives every doorbell back, and so does the backend's death, while the
 * device is active: from then on the transport reads them and the device answers.
 */
START_TEST(doorbells_lent_to_backend)
{
	unsigned fds0 = unit_count_fds();
	struct virtio_fs_opts o = { .tag = "t", .queues = NQ - 1 };
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct vhost_user *vu;
	struct guest g;
	struct fake f;
	uint64_t v, two = 2;

	for (unsigned q = 0; q < NQ; q++)
		ck_assert_int_ge(lent_efd[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), 0);
	atomic_store(&lent_taken, 0);
	atomic_store(&lent_returned, 0);
	guest_init(&g, NQ);
	g.ctx.doorbell = lend;
	a.g = &g;
	vu = handshaken(&f, 2000);
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &a.dev), 0);
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	fake_wait(&f, 5 + 2 + 6 * NQ);
	ck_assert_int_eq(atomic_load(&lent_taken), NQ);
	ck_assert_int_eq(atomic_load(&lent_returned), 0);
	for (unsigned q = 0; q < NQ; q++) {
		const struct msg *kick = &f.m[7 + 6 * q + 4];

		ck_assert_uint_eq(kick->request, VHOST_USER_SET_VRING_KICK);
		/* What "KVM" signals is what the backend reads: nobody in between took it. */
		ck_assert_int_eq(write(lent_efd[q], &two, 8), 8);
		usleep(20000); /* the I/O thread sees it too (it only looks) */
		v = 0;
		ck_assert_int_eq(read(kick->fd, &v, 8), 8);
		ck_assert_uint_eq(v, 2);
	}
	/* The driver's reset: every doorbell back. */
	ck_assert_int_eq(event_loop_call(g.l, reset_fn, &a), 0);
	ck_assert_int_eq(atomic_load(&lent_returned), NQ);
	/* Active again, then the backend dies: given back once more, and the device answers. */
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	ck_assert_int_eq(atomic_load(&lent_taken), 2 * NQ);
	shutdown(f.fd, SHUT_RDWR);
	wait_for(&resets, 1);
	wait_for(&lent_returned, 2 * NQ);
	ck_assert_int_eq(event_loop_call(g.l, destroy_fn, &a), 0);
	ck_assert_int_eq(atomic_load(&lent_returned), 2 * NQ); /* nothing more to give back */
	fake_stop(&f);
	guest_fini(&g);
	for (unsigned q = 0; q < NQ; q++)
		close(lent_efd[q]);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/* A transport that lends the queues' MSI-X vectors to the backend's call eventfds (virtio_ctx.lend_call). */
static int call_lent[NQ];
static atomic_int calls_lent, calls_unlent;
static int lend_refused; /* what lend_call() answers a lend of the last queue (0: accepted) */

static int lend_call(void *opaque, unsigned q, int efd, bool lend)
{
	(void)opaque;
	ck_assert_uint_lt(q, NQ);
	if (lend && q == NQ - 1 && lend_refused)
		return lend_refused;
	if (lend) {
		ck_assert_int_eq(call_lent[q], -1);
		call_lent[q] = efd;
		atomic_fetch_add(&calls_lent, 1);
		return 0;
	}
	ck_assert_int_eq(call_lent[q], efd);
	ck_assert_int_ge(fcntl(efd, F_GETFD), 0); /* taken back before it is closed */
	call_lent[q] = -1;
	atomic_fetch_add(&calls_unlent, 1);
	return 0;
}

/*
 * The backend's call eventfd is lent to the queue's vector: KVM takes the count as the backend
 * writes it and interrupts the guest itself, and while the vector is masked the count waits in the
 * eventfd for KVM's next bind; so the device neither reads it nor interrupts. A queue whose lend the
 * transport refuses (MSI-X off) has its completions relayed. Each is taken back before it is closed.
 */
START_TEST(calls_lent_to_vectors)
{
	unsigned fds0;
	struct virtio_fs_opts o = { .tag = "t", .queues = NQ - 1 };
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct vhost_user *vu;
	struct guest g;
	struct fake f;
	uint64_t one = 1, v;

	fds0 = unit_count_fds();
	for (unsigned q = 0; q < NQ; q++)
		call_lent[q] = -1;
	lend_refused = -EAGAIN;
	atomic_store(&calls_lent, 0);
	atomic_store(&calls_unlent, 0);
	guest_init(&g, NQ);
	g.ctx.lend_call = lend_call;
	a.g = &g;
	vu = handshaken(&f, 2000);
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &a.dev), 0);
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	fake_wait(&f, 5 + 2 + 6 * NQ);
	ck_assert_int_eq(atomic_load(&calls_lent), NQ - 1);
	for (unsigned q = 0; q < NQ - 1; q++) {
		const struct msg *call = &f.m[7 + 6 * q + 3];

		ck_assert_uint_eq(call->request, VHOST_USER_SET_VRING_CALL);
		/* What the backend writes stays for "KVM": the eventfd it writes is the lent one, unread by us. */
		ck_assert_int_eq(write(call->fd, &one, 8), 8);
		ck_assert_int_eq(write(call->fd, &one, 8), 8);
		usleep(50000);
		v = 0;
		ck_assert_int_eq(read(call_lent[q], &v, 8), 8);
		ck_assert_uint_eq(v, 2);
		ck_assert_int_eq(atomic_load(&irqs[q]), 0);
	}
	/* The queue whose lend was refused: relayed through ctx->interrupt. */
	ck_assert_int_eq(write(f.m[7 + 6 * (NQ - 1) + 3].fd, &one, 8), 8);
	wait_for(&irqs[NQ - 1], 1);
	/* The driver's reset: every call eventfd taken back, before it is closed (lend_call checks). */
	ck_assert_int_eq(event_loop_call(g.l, reset_fn, &a), 0);
	ck_assert_int_eq(atomic_load(&calls_unlent), NQ - 1);
	/* Active again, all lent, then the backend dies: taken back when the device stops. */
	lend_refused = 0;
	ck_assert_int_eq(event_loop_call(g.l, activate_fn, &a), 0);
	ck_assert_int_eq(a.ret, 0);
	ck_assert_int_eq(atomic_load(&calls_lent), 2 * NQ - 1);
	shutdown(f.fd, SHUT_RDWR);
	wait_for(&resets, 1);
	ck_assert_int_eq(event_loop_call(g.l, destroy_fn, &a), 0);
	ck_assert_int_eq(atomic_load(&calls_unlent), 2 * NQ - 1);
	fake_stop(&f);
	guest_fini(&g);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/* --- Playing guest and backend on the shared RAM --- */

#define IN_LEN 40
#define OUT_LEN 64

static uint64_t ring_base(unsigned q)
{
	return 0x10000u * (q + 1);
}

static uint64_t in_buf(unsigned q, uint16_t h)
{
	return 0x200000u + 0x100000u * q + 0x200u * h;
}

static void *gp(struct guest *g, uint64_t gpa, uint64_t len)
{
	void *p = gmem_ptr(&g->mem, gpa, len);

	ck_assert_ptr_nonnull(p);
	return p;
}

static struct vring_avail *avail_of(struct guest *g, unsigned q)
{
	return gp(g, ring_base(q) + 0x1000, 6 + 2 * QSIZE + 2);
}

static struct vring_used *used_of(struct guest *g, unsigned q)
{
	return gp(g, ring_base(q) + 0x2000, 6 + 8 * QSIZE + 2);
}

/*
 * The guest posts a FUSE request at head h (h < QSIZE / 2): a 40-byte fuse_in_header with unique,
 * then (writable) a 64-byte reply buffer filled with 0xee at descriptor h + QSIZE / 2. No kick.
 */
static void post(struct guest *g, unsigned q, uint16_t h, uint64_t unique, bool writable)
{
	struct vring_desc *d = gp(g, ring_base(q), 16 * QSIZE);
	struct vring_avail *av = avail_of(g, q);
	struct fuse_in_header in = { .len = IN_LEN, .opcode = FUSE_READ, .unique = unique };
	uint16_t idx = le16toh(av->idx);

	memcpy(gp(g, in_buf(q, h), IN_LEN), &in, sizeof(in));
	memset(gp(g, in_buf(q, h) + 0x100, OUT_LEN), 0xee, OUT_LEN);
	d[h] = (struct vring_desc){ .addr = htole64(in_buf(q, h)), .len = htole32(IN_LEN) };
	if (writable) {
		d[h].flags = htole16(VRING_DESC_F_NEXT);
		d[h].next = htole16(h + QSIZE / 2);
		d[h + QSIZE / 2] = (struct vring_desc){ .addr = htole64(in_buf(q, h) + 0x100), .len = htole32(OUT_LEN),
							.flags = htole16(VRING_DESC_F_WRITE) };
	}
	av->ring[idx % QSIZE] = htole16(h);
	av->ring[QSIZE] = used_of(g, q)->idx; /* used_event: interrupt at the next completion (EVENT_IDX) */
	__atomic_store_n(&av->idx, htole16((uint16_t)(idx + 1)), __ATOMIC_RELEASE);
}

/* The call eventfd the frontend gave the backend for queue q. */
static int call_fd_of(struct fake *f, unsigned q)
{
	for (unsigned i = 0; i < f->n; i++)
		if (f->m[i].request == VHOST_USER_SET_VRING_CALL && u64_of(&f->m[i]) == q)
			return f->m[i].fd;
	ck_abort_msg("no SET_VRING_CALL for queue %u", q);
	return -1;
}

/* The backend completes head h on queue q (its reply: a success header with unique) and calls. */
static void backend_complete(struct guest *g, struct fake *f, unsigned q, uint16_t h, uint64_t unique, bool call)
{
	struct vring_used *u = used_of(g, q);
	uint16_t idx = le16toh(u->idx);
	struct fuse_out_header out = { .len = 16, .error = 0, .unique = unique };
	uint64_t one = 1;

	memcpy(gp(g, in_buf(q, h) + 0x100, sizeof(out)), &out, sizeof(out));
	u->ring[idx % QSIZE].id = htole32(h);
	u->ring[idx % QSIZE].len = htole32(sizeof(out));
	__atomic_store_n(&u->idx, htole16((uint16_t)(idx + 1)), __ATOMIC_RELEASE);
	if (call)
		ck_assert_int_eq(write(call_fd_of(f, q), &one, 8), 8);
}

/* The reply in head h's buffer on queue q. */
static struct fuse_out_header reply_of(struct guest *g, unsigned q, uint16_t h)
{
	struct fuse_out_header out;

	memcpy(&out, gp(g, in_buf(q, h) + 0x100, sizeof(out)), sizeof(out));
	return out;
}

static uint16_t used_idx(struct guest *g, unsigned q)
{
	return le16toh(__atomic_load_n(&used_of(g, q)->idx, __ATOMIC_ACQUIRE));
}

static struct vring_used_elem used_at(struct guest *g, unsigned q, uint16_t i)
{
	struct vring_used_elem e = used_of(g, q)->ring[i % QSIZE];

	e.id = le32toh(e.id);
	e.len = le32toh(e.len);
	return e;
}

static void kick(struct guest *g, struct call_arg *a, unsigned q)
{
	a->q = q;
	ck_assert_int_eq(event_loop_call(g->l, notify_fn, a), 0);
}

/* Call the I/O thread once more: whatever it was doing (a call eventfd being read) is done. */
static void nop_fn(void *arg)
{
	(void)arg;
}

static void sync_loop(struct guest *g)
{
	usleep(20000);
	ck_assert_int_eq(event_loop_call(g->l, nop_fn, NULL), 0);
}

/* An active virtio-fs device (queues 0 and 1) on a fake backend. */
static void fs_up(struct guest *g, struct fake *f, struct call_arg *a)
{
	struct virtio_fs_opts o = { .tag = "t", .queues = 1 };
	struct vhost_user *vu;

	guest_init(g, 2);
	g->ctx.nvq = 2;
	a->g = g;
	a->ops = &virtio_fs_ops;
	vu = handshaken(f, 300);
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &a->dev), 0);
	ck_assert_int_eq(event_loop_call(g->l, activate_fn, a), 0);
	ck_assert_int_eq(a->ret, 0);
	fake_wait(f, 5 + 2 + 6 * 2);
}

static void fs_down(struct guest *g, struct fake *f, struct call_arg *a)
{
	ck_assert_int_eq(event_loop_call(g->l, reset_fn, a), 0);
	ck_assert_int_eq(event_loop_call(g->l, destroy_fn, a), 0);
	fake_stop(f);
	guest_fini(g);
}

static void kill_backend(struct fake *f, int how)
{
	if (how == 0) {
		shutdown(f->fd, SHUT_RDWR); /* dies */
	} else {
		struct vhost_user_hdr h = { .request = 99, .flags = VHOST_USER_VERSION, .size = 0 };

		ck_assert_int_eq(send(f->fd, &h, sizeof(h), MSG_NOSIGNAL), (ssize_t)sizeof(h));
	}
}

/* Entries [from, to) of queue q's used ring: each head in want[] exactly once, each with an EIO answer. */
static void check_eio(struct guest *g, unsigned q, uint16_t from, uint16_t to, const uint16_t *want,
		      const uint64_t *uniques, unsigned n)
{
	ck_assert_uint_eq((uint16_t)(to - from), n);
	for (unsigned k = 0; k < n; k++) {
		unsigned seen = 0;

		for (uint16_t i = from; i != to; i++) {
			struct vring_used_elem e = used_at(g, q, i);

			if (e.id != want[k])
				continue;
			seen++;
			if (uniques) {
				struct fuse_out_header out = reply_of(g, q, want[k]);

				ck_assert_uint_eq(e.len, 16);
				ck_assert_uint_eq(out.len, 16);
				ck_assert_int_eq(out.error, -EIO);
				ck_assert_uint_eq(out.unique, uniques[k]);
			} else {
				ck_assert_uint_eq(e.len, 0);
			}
		}
		ck_assert_msg(seen == 1, "head %u answered %u times", want[k], seen);
	}
}

/*
 * The backend dies (_i 0) or sends garbage (_i 1) holding requests: taken and kicked, completed
 * out of order, a head completed and posted again, one posted without a kick, a FORGET-like
 * chain without a reply buffer on the high-priority queue. Each outstanding one gets exactly one
 * EIO answer with its unique; the completed ones none; a later request one at once; one log line.
 */
START_TEST(backend_dies_holding_requests)
{
	unsigned fds0 = unit_count_fds();
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct guest g;
	struct fake f;
	int irq1;

	fs_up(&g, &f, &a);
	for (uint16_t h = 0; h < 4; h++)
		post(&g, 1, h, 100 + h, true);
	kick(&g, &a, 1);
	backend_complete(&g, &f, 1, 2, 102, true); /* out of order */
	backend_complete(&g, &f, 1, 0, 100, true);
	sync_loop(&g);
	post(&g, 1, 2, 105, true); /* head 2 again: a new request */
	kick(&g, &a, 1);
	post(&g, 1, 4, 104, true); /* no kick (the guest's notifications suppressed) */
	post(&g, 0, 10, 200, false);
	kick(&g, &a, 0);
	irq1 = atomic_load(&irqs[1]);

	kill_backend(&f, _i);
	wait_for(&resets, 1);
	ck_assert_int_eq(atomic_load(&errors), 1); /* the death's one line, nothing else */
	{
		static const uint16_t want[] = { 1, 3, 2, 4 };
		static const uint64_t uniques[] = { 101, 103, 105, 104 };

		ck_assert_uint_eq(used_idx(&g, 1), 6);
		check_eio(&g, 1, 2, 6, want, uniques, 4);
		ck_assert_uint_eq(reply_of(&g, 1, 0).error, 0); /* the backend's answers are left alone */
		ck_assert_uint_eq(reply_of(&g, 1, 0).unique, 100);
	}
	{
		static const uint16_t want[] = { 10 };

		ck_assert_uint_eq(used_idx(&g, 0), 1);
		check_eio(&g, 0, 0, 1, want, NULL, 1);
	}
	ck_assert_int_gt(atomic_load(&irqs[1]), irq1);
	ck_assert_int_ge(atomic_load(&irqs[0]), 1);

	/* Later requests: answered at once, each once. */
	irq1 = atomic_load(&irqs[1]);
	post(&g, 1, 0, 106, true);
	post(&g, 1, 5, 107, true);
	kick(&g, &a, 1);
	{
		static const uint16_t want[] = { 0, 5 };
		static const uint64_t uniques[] = { 106, 107 };

		ck_assert_uint_eq(used_idx(&g, 1), 8);
		check_eio(&g, 1, 6, 8, want, uniques, 2);
	}
	ck_assert_int_gt(atomic_load(&irqs[1]), irq1);
	kick(&g, &a, 1); /* nothing new: nothing answered */
	ck_assert_uint_eq(used_idx(&g, 1), 8);
	ck_assert_int_eq(atomic_load(&resets), 1);
	ck_assert_int_eq(atomic_load(&errors), 1);
	fs_down(&g, &f, &a);
	ck_assert_uint_eq(unit_count_fds(), fds0);
}
END_TEST

/*
 * A backend whose completions make no sense (a head never made available) loses the count: at its
 * death nothing old is answered (never twice, never a guess), later requests still are. Once the
 * queue is seen empty the count starts again and the next death answers what is held.
 */
START_TEST(lost_count_answers_nothing_old)
{
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct guest g;
	struct fake f;

	fs_up(&g, &f, &a);
	post(&g, 1, 0, 100, true);
	post(&g, 1, 1, 101, true);
	kick(&g, &a, 1);
	if (_i == 1) {
		/* Lost, then found again: the backend completes 7 (never posted) and 0; the rings say
		 * empty (2 posted, 2 used) at the next look, so the count starts from there. */
		backend_complete(&g, &f, 1, 7, 0, true);
		sync_loop(&g);
		backend_complete(&g, &f, 1, 0, 100, true);
		sync_loop(&g);
		post(&g, 1, 3, 103, true);
		kick(&g, &a, 1);
	} else {
		backend_complete(&g, &f, 1, 7, 0, true);
		sync_loop(&g);
	}
	kill_backend(&f, 0);
	wait_for(&resets, 1);
	if (_i == 1) {
		static const uint16_t want[] = { 3 };
		static const uint64_t uniques[] = { 103 };

		ck_assert_uint_eq(used_idx(&g, 1), 3);
		check_eio(&g, 1, 2, 3, want, uniques, 1);
	} else {
		ck_assert_uint_eq(used_idx(&g, 1), 1); /* 0 and 1 are left waiting */
	}
	ck_assert_uint_eq(reply_of(&g, 1, 1).unique, 0xeeeeeeeeeeeeeeeeull);
	post(&g, 1, 5, 105, true);
	kick(&g, &a, 1);
	{
		static const uint16_t want[] = { 5 };
		static const uint64_t uniques[] = { 105 };
		uint16_t u = used_idx(&g, 1);

		check_eio(&g, 1, (uint16_t)(u - 1), u, want, uniques, 1);
	}
	fs_down(&g, &f, &a);
}
END_TEST

/* A guest whose avail index runs more than a queue ahead: that queue is not served after the death. */
START_TEST(untrusted_rings_not_served)
{
	struct call_arg a = { .ops = &virtio_fs_ops };
	struct guest g;
	struct fake f;

	fs_up(&g, &f, &a);
	post(&g, 1, 0, 100, true);
	kick(&g, &a, 1);
	avail_of(&g, 1)->idx = htole16(QSIZE + 5);
	kill_backend(&f, 0);
	wait_for(&resets, 1);
	kick(&g, &a, 1);
	ck_assert_uint_eq(used_idx(&g, 1), 0);
	ck_assert_uint_eq(reply_of(&g, 1, 0).unique, 0xeeeeeeeeeeeeeeeeull);
	fs_down(&g, &f, &a);
}
END_TEST

/* A backend without what we need is refused with a line; too few queues too. */
START_TEST(backend_refused)
{
	struct virtio_fs_opts o = { .tag = "t", .queues = 1 };
	struct vhost_user *vu;
	struct fake f;
	void *dev;
	int front;

	atomic_store(&errors, 0);
	fake_start(&f, &front);
	f.qnum = NQ - 1;
	ck_assert_int_eq(vhost_user_open(front, "virtio-fs 't'", &counted, 300, &vu), 0);
	ck_assert_int_eq(vhost_user_handshake(vu, NQ), -EINVAL);
	ck_assert_int_eq(atomic_load(&errors), 1);
	vhost_user_close(vu);
	fake_stop(&f);

	atomic_store(&errors, 0);
	fake_start(&f, &front);
	f.features &= ~(1ull << VIRTIO_RING_F_EVENT_IDX);
	ck_assert_int_eq(vhost_user_open(front, "virtio-fs 't'", &counted, 300, &vu), 0);
	ck_assert_int_eq(vhost_user_handshake(vu, 2), 0);
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &dev), -EINVAL);
	ck_assert_int_eq(atomic_load(&errors), 1);
	o.tag = "0123456789012345678901234567890123456"; /* 37 bytes */
	f.features |= 1ull << VIRTIO_RING_F_EVENT_IDX;
	ck_assert_int_eq(virtio_fs_create(&o, vu, &counted, &dev), -EINVAL);
	vhost_user_close(vu);
	fake_stop(&f);

	/* No protocol features at all: refused. */
	atomic_store(&errors, 0);
	fake_start(&f, &front);
	f.features &= ~(1ull << VHOST_USER_F_PROTOCOL_FEATURES);
	ck_assert_int_eq(vhost_user_open(front, "virtio-fs 't'", &counted, 300, &vu), 0);
	ck_assert_int_eq(vhost_user_handshake(vu, 2), -ENOTSUP);
	ck_assert_int_eq(atomic_load(&errors), 1);
	vhost_user_close(vu);
	fake_stop(&f);
}
END_TEST

/* Answers that arrive in pieces are read whole. */
START_TEST(replies_in_pieces)
{
	static const uint32_t reqs[] = { VHOST_USER_GET_FEATURES, VHOST_USER_GET_PROTOCOL_FEATURES,
					 VHOST_USER_GET_QUEUE_NUM, VHOST_USER_SET_OWNER };
	struct vhost_user *vu;
	struct fake f;
	int front;

	atomic_store(&errors, 0);
	fake_start(&f, &front);
	f.fault_req = reqs[_i];
	f.fault = F_SPLIT;
	ck_assert_int_eq(vhost_user_open(front, "virtio-fs 't'", &counted, 2000, &vu), 0);
	ck_assert_int_eq(vhost_user_handshake(vu, NQ), 0);
	ck_assert(!vhost_user_broken(vu));
	ck_assert_uint_eq(vhost_user_features(vu), BACKEND_FEATURES);
	ck_assert_int_eq(atomic_load(&errors), 0);
	vhost_user_close(vu);
	fake_stop(&f);
}
END_TEST

START_TEST(connect_errors)
{
	struct vhost_user *vu;
	char path[64];
	int fd;

	atomic_store(&errors, 0);
	ck_assert_int_eq(vhost_user_connect("/nonexistent/vfs.sock", "virtio-fs 't'", &counted, &vu), -ENOENT);
	snprintf(path, sizeof(path), "/tmp/vmm-vu-test-%d", (int)getpid());
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600); /* a plain file, not a socket */
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_int_eq(vhost_user_connect(path, "virtio-fs 't'", &counted, &vu), -ECONNREFUSED);
	unlink(path);
	ck_assert_int_eq(atomic_load(&errors), 2);
}
END_TEST

/* Shared guest RAM: a memfd of the right size, sealed, mapped shared, both halves around the hole. */
START_TEST(memfd_ram)
{
	struct guest_mem m;
	struct stat sb;
	uint8_t *p;

	ck_assert_int_eq(gmem_init_memfd(&m, RAM), 0);
	ck_assert(m.shared);
	ck_assert_int_eq(fstat(m.fd, &sb), 0);
	ck_assert_int_eq(sb.st_size, RAM);
	ck_assert_int_eq(fcntl(m.fd, F_GET_SEALS) & (F_SEAL_SHRINK | F_SEAL_GROW), F_SEAL_SHRINK | F_SEAL_GROW);
	ck_assert_int_lt(ftruncate(m.fd, RAM / 2), 0);
	p = gmem_ptr(&m, 0x1000, 4);
	ck_assert_ptr_nonnull(p);
	memcpy(p, "abcd", 4);
	{
		char buf[4];

		ck_assert_int_eq(pread(m.fd, buf, 4, 0x1000), 4); /* the guest's write is in the file */
		ck_assert_int_eq(memcmp(buf, "abcd", 4), 0);
	}
	gmem_destroy(&m);
	ck_assert_int_eq(gmem_init_memfd(&m, 123), -EINVAL);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vhost_user");
	TCase *tc = tcase_create("vhost_user");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, memfd_ram);
	tcase_add_test(tc, handshake_and_rings);
	tcase_add_test(tc, doorbells_lent_to_backend);
	tcase_add_test(tc, calls_lent_to_vectors);
	tcase_add_loop_test(tc, handshake_faults, 0, 4 * 7);
	tcase_add_loop_test(tc, activate_faults, 0, 5 * 3);
	tcase_add_loop_test(tc, backend_dies_while_active, 0, 2);
	tcase_add_loop_test(tc, backend_dies_holding_requests, 0, 2);
	tcase_add_loop_test(tc, lost_count_answers_nothing_old, 0, 2);
	tcase_add_test(tc, untrusted_rings_not_served);
	tcase_add_test(tc, backend_refused);
	tcase_add_loop_test(tc, replies_in_pieces, 0, 4);
	tcase_add_test(tc, connect_errors);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
