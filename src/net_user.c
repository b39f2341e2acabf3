// SPDX-License-Identifier: Apache-2.0
/* User-mode networking on libslirp (net_user.h): slirp on the I/O thread, its sockets watched by a helper. */
#include "net_user.h"

#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <linux/virtio_net.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include "event_loop.h"
#include "seccomp_filter.h"
#include "slirp_lib.h"
#include "thread.h"
#include "virtio/queue.h"

#define MAX_FRAME (65535u + 14) /* the largest frame either side may hand over */
#define REC_HDR 4u
#define WRAP_MARK UINT32_MAX
#define MAX_TIMERS 16
#define MAX_POLL 1024 /* slirp sockets polled at once (each connection is one) */
/*
 * Backpressure towards the host: once frames for the guest fill RX_HIGH of the ring, slirp's
 * sockets are polled without POLLIN (nothing more is read from the host) until the guest has taken
 * the ring down to RX_LOW. What slirp still sends meanwhile (ACKs, its own resends, one socket read
 * it had under way) fits in the rest, so frames are dropped only when a guest takes none for long.
 */
#define RX_HIGH (NET_USER_RING / 2)
#define RX_LOW (NET_USER_RING / 4)

/*
 * The frames slirp sent for the guest, waiting for its receive buffers (I/O thread only). Records
 * are a 4-byte length then the frame, padded to 4 bytes, and never wrap: a record that does not
 * fit before the end leaves a wrap mark (or fewer than 4 bytes) there and starts at 0. used counts
 * every byte between head and tail, the skipped end included. The device holds a pointer to the
 * record at head until it pops it; new records go only where used does not reach.
 */
struct fring {
	uint8_t *buf;
	size_t head, tail, used;
};

static size_t rec_size(size_t len)
{
	return REC_HDR + ((len + 3) & ~(size_t)3);
}

/* Where a record of len bytes would start (and *waste: bytes skipped at the end), or -1 when full. */
static long fring_place(const struct fring *r, size_t len, size_t *waste)
{
	size_t need = rec_size(len);

	*waste = 0;
	if (r->used == 0)
		return need <= NET_USER_RING ? 0 : -1;
	if (r->tail > r->head) {
		if (NET_USER_RING - r->tail >= need)
			return (long)r->tail;
		*waste = NET_USER_RING - r->tail;
		return need <= r->head ? 0 : -1;
	}
	/* tail < head, or tail == head and full */
	return r->head - r->tail >= need ? (long)r->tail : -1;
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t get32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* The record at head: its frame's length and *data; 0 when the ring is empty. Skips a wrap. */
static size_t fring_peek(struct fring *r, const uint8_t **data)
{
	if (r->used == 0)
		return 0;
	if (NET_USER_RING - r->head < REC_HDR || get32(r->buf + r->head) == WRAP_MARK) {
		r->used -= NET_USER_RING - r->head;
		r->head = 0;
	}
	*data = r->buf + r->head + REC_HDR;
	return get32(r->buf + r->head);
}

static void fring_pop(struct fring *r)
{
	size_t n = rec_size(get32(r->buf + r->head));

	r->head += n;
	r->used -= n;
	if (r->used == 0)
		r->head = r->tail = 0; /* empty: start over at 0, the most room in one piece */
	else if (r->head == NET_USER_RING)
		r->head = 0;
}

/* Reserve a record of len bytes: where its frame goes, or NULL when it does not fit. */
static uint8_t *fring_reserve(struct fring *r, size_t len)
{
	size_t waste;
	long at = fring_place(r, len, &waste);

	if (at < 0)
		return NULL;
	if (waste >= REC_HDR)
		put32(r->buf + r->tail, WRAP_MARK);
	r->used += waste + rec_size(len);
	put32(r->buf + at, (uint32_t)len);
	r->tail = (size_t)at + rec_size(len);
	if (r->tail == NET_USER_RING)
		r->tail = 0;
	return r->buf + at + REC_HDR;
}


struct su_timer {
	bool used;
	SlirpTimerId id;       /* timer_new_opaque timers */
	SlirpTimerCb cb;       /* timer_new timers (NULL for the others) */
	void *cb_opaque;
	int64_t expire_ms;     /* -1: not armed */
};

struct net_user {
	struct net_backend nb;
	const struct vlog *log;
	const struct seccomp_set *seccomp; /* the poll thread's filter (NULL: none) */
	const struct slirp_lib *sl; /* libslirp's functions (slirp_lib.h) */
	Slirp *slirp;           /* every call into it on the I/O thread (or before start / in close) */
	struct fring rx;        /* frames for the guest */
	bool rx_full;           /* RX_HIGH reached: sockets are polled without POLLIN until RX_LOW */
	uint64_t rx_dropped;    /* frames for the guest that found the ring full */
	uint8_t *txbuf;         /* a guest frame gathered for slirp_input */

	/* I/O thread. */
	struct event_loop *loop;
	struct net_backend_hooks hooks;
	bool running, dying;    /* running: started (hooks set) and not stopped */
	int ready_watch, timer_watch;
	int ready_efd;          /* the helper: a slirp socket is ready */
	int timer_fd;           /* slirp's timers and its TCP timeouts */
	struct ev_defer turn_d; /* a slirp turn after this batch (guest frames went in, room came back) */
	struct ev_defer wake_d; /* hooks.wake after this batch (frames for the guest) */
	struct su_timer timers[MAX_TIMERS];
	struct su_timer spare;  /* handed out when timers[] is full: never in the list, never fires */
	struct pollfd pfd[MAX_POLL];
	unsigned npfd;
	int64_t armed_ms;       /* the timer's deadline (CLOCK_MONOTONIC ms), -1: none */
	unsigned guest_errors;

	/*
	 * The poll helper thread: it only polls the set the I/O thread last published and says when one
	 * is ready (ready_efd); then it waits for the next set, which the I/O thread publishes after the
	 * turn that served it. It never calls into slirp.
	 */
	pthread_t thread;
	bool thread_started;
	pthread_mutex_t lock;   /* set, nset, gen, quit, waiting */
	pthread_cond_t cond;
	struct pollfd set[MAX_POLL];
	unsigned nset;
	uint64_t gen;
	bool quit;
	bool waiting;           /* the helper reported a ready socket (or has no set yet) and waits for the next one */
	int ctl_efd;            /* a new set, or quit: ends the helper's poll */
};

#define CONTAINER(ptr, type, member) ((type *)(void *)((uint8_t *)(ptr) - offsetof(type, member)))

static struct net_user *nu_of(struct net_backend *b)
{
	return CONTAINER(b, struct net_user, nb);
}

static void kick(int efd)
{
	uint64_t one = 1;

	if (write(efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is saturated, so the reader wakes anyway. */
	}
}

static void drain(int efd)
{
	uint64_t v;

	if (read(efd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing was pending */
	}
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Run d after the current batch (on the I/O thread, once started; before that nothing waits). */
static void later(struct net_user *u, struct ev_defer *d)
{
	if (u->loop && u->running)
		event_loop_defer(u->loop, d);
}

/* ---- libslirp's callbacks (on the I/O thread, or during net_user_open) ---- */

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
	struct net_user *u = opaque;
	uint8_t *p;

	if (len == 0 || len > MAX_FRAME)
		return (ssize_t)len;
	p = fring_reserve(&u->rx, len);
	if (!p) {
		u->rx_dropped++; /* the guest takes nothing: TCP resends, as on a busy wire */
		return (ssize_t)len;
	}
	memcpy(p, buf, len);
	if (u->rx.used >= RX_HIGH)
		u->rx_full = true; /* the next published set reads nothing more from the host */
	later(u, &u->wake_d); /* one wake-up of the device for everything this batch sent */
	return (ssize_t)len;
}

static void cb_guest_error(const char *msg, void *opaque)
{
	struct net_user *u = opaque;

	if (u->guest_errors++ < 10)
		vlog_warn(u->log, "virtio-net '%s': the guest sent a bad packet: %s", u->nb.name, msg);
}

static int64_t cb_clock_get_ns(void *opaque)
{
	(void)opaque;
	return now_ns();
}

static struct su_timer *timer_slot(struct net_user *u)
{
	for (unsigned i = 0; i < MAX_TIMERS; i++) {
		if (!u->timers[i].used) {
			memset(&u->timers[i], 0, sizeof(u->timers[i]));
			u->timers[i].used = true;
			u->timers[i].expire_ms = -1;
			return &u->timers[i];
		}
	}
	/* libslirp makes a fixed handful (4.7: one); a timer beyond ours never fires, said once. */
	if (!u->spare.cb_opaque) {
		vlog_warn(u->log, "virtio-net '%s': libslirp asked for more than %d timers; the rest never fire", u->nb.name,
			  MAX_TIMERS);
		u->spare.cb_opaque = u;
	}
	return &u->spare;
}

/* A timer that calls cb (timer_new) or slirp_handle_timer with id (timer_new_opaque, cb NULL). */
static void *timer_make(struct net_user *u, SlirpTimerCb cb, SlirpTimerId id, void *cb_opaque)
{
	struct su_timer *t = timer_slot(u);

	if (t == &u->spare)
		return t;
	t->cb = cb;
	t->id = id;
	t->cb_opaque = cb_opaque;
	return t;
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
	return timer_make(opaque, cb, SLIRP_TIMER_RA, cb_opaque);
}

static void *cb_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	return timer_make(opaque, NULL, id, cb_opaque);
}

static void cb_timer_free(void *timer, void *opaque)
{
	(void)opaque;
	((struct su_timer *)timer)->used = false;
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct su_timer *)timer)->expire_ms = expire_ms;
}

static void cb_register_poll_fd(int fd, void *opaque)
{
	(void)fd, (void)opaque; /* we poll what slirp_pollfds_fill names, each turn */
}

static void cb_notify(void *opaque)
{
	(void)opaque; /* guestfwd only, which we do not use */
}

static const SlirpCb callbacks = {
	.send_packet = cb_send_packet,
	.guest_error = cb_guest_error,
	.clock_get_ns = cb_clock_get_ns,
	.timer_new = cb_timer_new,
	.timer_free = cb_timer_free,
	.timer_mod = cb_timer_mod,
	.register_poll_fd = cb_register_poll_fd,
	.unregister_poll_fd = cb_register_poll_fd,
	.notify = cb_notify,
	.timer_new_opaque = cb_timer_new_opaque,
};

static short to_poll(int ev)
{
	return (short)((ev & SLIRP_POLL_IN ? POLLIN : 0) | (ev & SLIRP_POLL_OUT ? POLLOUT : 0) |
		       (ev & SLIRP_POLL_PRI ? POLLPRI : 0) | (ev & SLIRP_POLL_ERR ? POLLERR : 0) |
		       (ev & SLIRP_POLL_HUP ? POLLHUP : 0));
}

static int cb_add_poll(int fd, int events, void *opaque)
{
	struct net_user *u = opaque;

	if (u->npfd == MAX_POLL)
		return -1; /* that socket waits a turn: slirp treats an index < 0 as "not polled" */
	if (u->rx_full)
		events &= ~SLIRP_POLL_IN; /* backpressure: the guest is behind */
	u->pfd[u->npfd] = (struct pollfd){ .fd = fd, .events = to_poll(events) };
	return (int)u->npfd++;
}

static int cb_get_revents(int idx, void *opaque)
{
	struct net_user *u = opaque;
	short r;

	if (idx < 0 || (unsigned)idx >= u->npfd)
		return 0;
	r = u->pfd[idx].revents;
	return (r & POLLIN ? SLIRP_POLL_IN : 0) | (r & POLLOUT ? SLIRP_POLL_OUT : 0) |
	       (r & POLLPRI ? SLIRP_POLL_PRI : 0) | (r & POLLERR ? SLIRP_POLL_ERR : 0) |
	       (r & POLLHUP ? SLIRP_POLL_HUP : 0);
}

/* Fire the timers that are due; the milliseconds to the next one (or limit). */
static uint32_t run_timers(struct net_user *u, uint32_t limit)
{
	int64_t now = now_ns() / 1000000;

	for (unsigned i = 0; i < MAX_TIMERS; i++) {
		struct su_timer *t = &u->timers[i];

		if (!t->used || t->expire_ms < 0)
			continue;
		if (t->expire_ms <= now) {
			t->expire_ms = -1;
			if (t->cb)
				t->cb(t->cb_opaque);
			else
				u->sl->handle_timer(u->slirp, t->id, t->cb_opaque);
		}
		/* A callback may have re-armed it (or freed it: then used is false). */
		if (t->used && t->expire_ms >= 0 && (uint64_t)(t->expire_ms > now ? t->expire_ms - now : 0) < limit)
			limit = (uint32_t)(t->expire_ms > now ? t->expire_ms - now : 0);
	}
	return limit;
}

/* ---- the poll helper thread ---- */

static void *poll_main(void *arg)
{
	struct net_user *u = arg;
	struct pollfd set[MAX_POLL + 1];
	uint64_t seen = 0;
	unsigned n = 0;

	/* Without its filter it does not run: the NIC then hears nothing from the host (the line says why). */
	if (seccomp_thread_enter(u->seccomp, SECCOMP_NET_POLL, "net-poll", u->log))
		return NULL;
	for (;;) {
		pthread_mutex_lock(&u->lock);
		/* After a report (or before the first set): wait for the set the next turn publishes. */
		while (!u->quit && u->waiting && u->gen == seen)
			pthread_cond_wait(&u->cond, &u->lock);
		u->waiting = false;
		if (u->quit) {
			pthread_mutex_unlock(&u->lock);
			return NULL;
		}
		if (u->gen != seen) {
			seen = u->gen;
			n = u->nset;
			memcpy(set + 1, u->set, n * sizeof(set[0]));
		}
		pthread_mutex_unlock(&u->lock);
		set[0] = (struct pollfd){ .fd = u->ctl_efd, .events = POLLIN };
		if (poll(set, n + 1, -1) <= 0)
			continue;
		if (set[0].revents)
			drain(u->ctl_efd);
		for (unsigned i = 1; i <= n; i++) {
			if (set[i].revents) {
				/*
				 * waiting is set before the kick: the turn it starts then always publishes a
				 * new generation, even of the same set (else a turn that ran between the kick
				 * and our wait would leave us waiting for a set that never comes).
				 */
				pthread_mutex_lock(&u->lock);
				u->waiting = true;
				pthread_mutex_unlock(&u->lock);
				kick(u->ready_efd);
				break;
			}
		}
	}
}

/* ---- the I/O thread's side ---- */

/* Hand the helper the sockets slirp wants watched now, and arm the timer for slirp's next deadline. */
static void publish(struct net_user *u)
{
	uint32_t timeout = 1000;
	struct itimerspec its = { 0 };
	bool same, interrupt = false;
	int64_t deadline;

	u->npfd = 0;
	u->sl->pollfds_fill(u->slirp, &timeout, cb_add_poll, u);
	timeout = run_timers(u, timeout);
	pthread_mutex_lock(&u->lock);
	same = u->nset == u->npfd && !memcmp(u->set, u->pfd, u->npfd * sizeof(u->pfd[0]));
	if (!same || u->waiting) {
		/* A helper that polls the same set goes on undisturbed (no syscall); else it takes this one. */
		memcpy(u->set, u->pfd, u->npfd * sizeof(u->pfd[0]));
		u->nset = u->npfd;
		u->gen++;
		interrupt = !u->waiting; /* in poll() on the old set: end it */
		pthread_cond_signal(&u->cond);
	}
	pthread_mutex_unlock(&u->lock);
	if (interrupt)
		kick(u->ctl_efd);
	/*
	 * The timer, re-armed only when slirp's next deadline is earlier than the armed one (a timer
	 * that fires early costs one turn, which arms it again).
	 */
	deadline = now_ns() / 1000000 + timeout;
	if (u->armed_ms >= 0 && u->armed_ms <= deadline)
		return;
	u->armed_ms = deadline;
	if (timeout == 0)
		its.it_value.tv_nsec = 100000; /* something is due now: 0.1 ms (0 would disarm) */
	else
		its.it_value = (struct timespec){ .tv_sec = timeout / 1000, .tv_nsec = (long)(timeout % 1000) * 1000000 };
	timerfd_settime(u->timer_fd, 0, &its, NULL);
}

/* One turn of slirp: serve what is ready (a poll that does not wait), its timers, then publish. */
static void turn(struct net_user *u)
{
	uint32_t timeout = 0;
	int n;

	u->npfd = 0;
	u->sl->pollfds_fill(u->slirp, &timeout, cb_add_poll, u);
	n = poll(u->pfd, u->npfd, 0);
	u->sl->pollfds_poll(u->slirp, n < 0, cb_get_revents, u);
	publish(u); /* runs the due timers too */
}

static void turn_fn(struct ev_defer *d)
{
	struct net_user *u = CONTAINER(d, struct net_user, turn_d);

	if (u->dying) {
		if (!u->wake_d.queued)
			free(u);
		return;
	}
	/*
	 * After guest frames went in (or room came back): a whole turn, not only a new socket set. An
	 * ACK from the guest frees room in slirp's send buffer, and the data waiting in the host socket
	 * goes out to the guest in this same turn instead of after two hops through the helper thread
	 * (a poll of slirp's sockets per guest batch: with 65520-byte frames batches are few; the
	 * figures of both ways are in bench/README.md).
	 */
	if (u->running)
		turn(u);
}

static void wake_fn(struct ev_defer *d)
{
	struct net_user *u = CONTAINER(d, struct net_user, wake_d);

	if (u->dying) {
		if (!u->turn_d.queued)
			free(u);
		return;
	}
	if (u->running)
		u->hooks.wake(u->hooks.opaque);
}

static void ready_fn(void *opaque)
{
	struct net_user *u = opaque;

	drain(u->ready_efd);
	if (u->running)
		turn(u);
}

static void timer_fn(void *opaque)
{
	struct net_user *u = opaque;
	uint64_t v;

	if (read(u->timer_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: it was re-armed meanwhile */
	}
	u->armed_ms = -1;
	if (u->running)
		turn(u);
}

static int nu_start(struct net_backend *b, struct event_loop *loop, const struct net_backend_hooks *h)
{
	struct net_user *u = nu_of(b);

	u->hooks = *h;
	if (!u->loop) {
		int r = event_loop_watch(loop, u->ready_efd, ready_fn, u);
		int t = r < 0 ? r : event_loop_watch(loop, u->timer_fd, timer_fn, u);

		if (t < 0) {
			if (r >= 0)
				event_loop_unwatch(loop, r);
			return t;
		}
		u->loop = loop;
		u->ready_watch = r;
		u->timer_watch = t;
	}
	u->running = true;
	turn(u);
	return 0;
}

static void nu_stop(struct net_backend *b)
{
	nu_of(b)->running = false;
}

static size_t nu_rx_peek(struct net_backend *b, const uint8_t **data)
{
	return fring_peek(&nu_of(b)->rx, data);
}

static void nu_rx_consume(struct net_backend *b)
{
	struct net_user *u = nu_of(b);

	if (u->rx.used)
		fring_pop(&u->rx);
	if (u->rx_full && u->rx.used < RX_LOW) {
		u->rx_full = false;
		later(u, &u->turn_d); /* poll the sockets for reading again */
	}
}

static bool nu_tx_room(struct net_backend *b)
{
	(void)b;
	return true; /* slirp takes each frame at once */
}

/*
 * The Internet checksum (RFC 1071) of p[0..len) folded to 16 bits, in memory order: summing
 * native-order words gives the native-order sum, so it is stored back as it is.
 */
static uint16_t inet_csum(const uint8_t *p, size_t len)
{
	uint64_t sum = 0;
	uint32_t w;
	size_t i = 0;

	for (; i + 4 <= len; i += 4) {
		memcpy(&w, p + i, 4);
		sum += w;
	}
	if (i < len) {
		uint8_t tail[4] = { 0 };

		memcpy(tail, p + i, len - i); /* zero-padded: an odd last byte is the high half of its word */
		memcpy(&w, tail, 4);
		sum += w;
	}
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/*
 * The guest's virtio-net header (hdr, the 10 bytes without num_buffers) on frame f of len bytes:
 * a NEEDS_CSUM checksum completed (the field holds the pseudo-header's sum; everything from
 * csum_start is summed into it, as a NIC would). 0, or -EINVAL: GSO asked for (never offered), or
 * the checksum's place out of the frame.
 */
static int tx_offload(const struct virtio_net_hdr *hdr, uint8_t *f, size_t len)
{
	uint16_t start = le16toh(hdr->csum_start), off = le16toh(hdr->csum_offset), c;

	if (hdr->gso_type != VIRTIO_NET_HDR_GSO_NONE)
		return -EINVAL;
	if (!(hdr->flags & VIRTIO_NET_HDR_F_NEEDS_CSUM))
		return 0;
	if ((size_t)start + off + 2 > len)
		return -EINVAL;
	c = inet_csum(f + start, len - start);
	if (c == 0)
		c = 0xffff; /* as Linux does (CSUM_MANGLED_0): 0 means "no checksum" to UDP */
	memcpy(f + start + off, &c, 2);
	return 0;
}

static int nu_tx_write(struct net_backend *b, const struct iovec *iov, unsigned niov, size_t skip)
{
	struct net_user *u = nu_of(b);
	struct virtio_net_hdr hdr = { 0 };
	size_t len = 0;
	int ret;

	for (unsigned i = 0; i < niov; i++)
		len += iov[i].iov_len; /* each at most the chain's bounded length: no overflow */
	if (len <= skip || len - skip > MAX_FRAME)
		return -EMSGSIZE;
	len -= skip;
	/* The header (its first skip bytes at most), then the frame into txbuf. */
	virtq_iov_from(iov, niov, 0, &hdr, skip < sizeof(hdr) ? skip : sizeof(hdr));
	virtq_iov_from(iov, niov, skip, u->txbuf, len);
	ret = tx_offload(&hdr, u->txbuf, len);
	if (ret)
		return ret;
	/* Replies (ARP, DHCP, ACKs) come back through send_packet; data for the host is sent at once. */
	u->sl->input(u->slirp, u->txbuf, (int)len);
	later(u, &u->turn_d); /* after this batch: new sockets to watch, data still to write */
	return 0;
}

static bool nu_link_up(struct net_backend *b)
{
	(void)b;
	return true;
}

static void nu_free(struct net_user *u)
{
	if (u->thread_started) {
		pthread_mutex_lock(&u->lock);
		u->quit = true;
		pthread_cond_signal(&u->cond);
		pthread_mutex_unlock(&u->lock);
		kick(u->ctl_efd);
		pthread_join(u->thread, NULL);
	}
	if (u->loop) {
		event_loop_unwatch(u->loop, u->ready_watch);
		event_loop_unwatch(u->loop, u->timer_watch);
	}
	if (u->slirp)
		u->sl->cleanup(u->slirp);
	if (u->rx_dropped)
		vlog_debug(u->log, "virtio-net '%s': %llu frames for the guest dropped (its ring was full)", u->nb.name,
			   (unsigned long long)u->rx_dropped);
	if (u->ctl_efd >= 0)
		close(u->ctl_efd);
	if (u->ready_efd >= 0)
		close(u->ready_efd);
	if (u->timer_fd >= 0)
		close(u->timer_fd);
	pthread_cond_destroy(&u->cond);
	pthread_mutex_destroy(&u->lock);
	free(u->rx.buf);
	free(u->txbuf);
	if (u->turn_d.queued || u->wake_d.queued) {
		u->dying = true; /* the loop still holds a callback of ours: the last one frees */
		return;
	}
	free(u);
}

static void close_fn(void *arg)
{
	struct net_user *u = arg;

	u->running = false;
	nu_free(u);
}

/*
 * On the I/O thread (event_loop_call): slirp, the watches and the deferred calls are its own. With
 * no I/O thread (never started, or stopped) close_fn runs here.
 */
static void nu_close(struct net_backend *b)
{
	struct net_user *u = nu_of(b);

	if (u->loop)
		event_loop_call(u->loop, close_fn, u);
	else
		close_fn(u);
}

static const struct net_backend_ops net_user_ops = {
	.fd = net_backend_no_fd,
	.start = nu_start,
	.stop = nu_stop,
	.rx_peek = nu_rx_peek,
	.rx_consume = nu_rx_consume,
	.tx_room = nu_tx_room,
	.tx_write = nu_tx_write,
	.link_up = nu_link_up,
	.close = nu_close,
};

static int add_forward(struct net_user *u, const struct vmm_hostfwd *f)
{
	struct in_addr host, guest;
	const char *ha = f->host_addr ? f->host_addr : "127.0.0.1";
	const char *ga = f->guest_addr ? f->guest_addr : "10.0.2.15";
	const char *proto = f->udp ? "udp" : "tcp";

	if (inet_pton(AF_INET, ha, &host) != 1 || inet_pton(AF_INET, ga, &guest) != 1) {
		vlog_err(u->log, "user net: hostfwd %s:%s:%u-%s:%u: an address is not an IPv4 address", proto, ha,
			 f->host_port, ga, f->guest_port);
		return -EINVAL;
	}
	if (f->host_port == 0 || f->guest_port == 0) {
		vlog_err(u->log, "user net: hostfwd %s:%s:%u-%s:%u: ports must be 1 to 65535", proto, ha, f->host_port,
			 ga, f->guest_port);
		return -EINVAL;
	}
	errno = 0;
	if (u->sl->add_hostfwd(u->slirp, f->udp ? 1 : 0, host, f->host_port, guest, f->guest_port) < 0) {
		int err = errno ? errno : EADDRINUSE;

		vlog_err(u->log, "user net: cannot listen on %s %s:%u for the guest's port %u: %s", proto, ha,
			 f->host_port, f->guest_port, strerror(err));
		return -err;
	}
	return 0;
}

int net_user_open(const struct vmm_net *n, const struct vlog *log, const struct seccomp_set *sc, struct net_backend **out)
{
	SlirpConfig cfg = { .version = 4 };
	const struct slirp_lib *sl;
	struct net_user *u;
	int ret;

	*out = NULL;
	if (n->nhostfwd > VMM_MAX_HOSTFWD || (n->nhostfwd && !n->hostfwd)) {
		vlog_err(log, "user net: %u host forwards (at most %d)", n->nhostfwd, VMM_MAX_HOSTFWD);
		return -EINVAL;
	}
	sl = slirp_lib_get(log);
	if (!sl)
		return -ENOENT;
	u = calloc(1, sizeof(*u));
	if (!u)
		return -ENOMEM;
	u->sl = sl;
	u->ctl_efd = u->ready_efd = u->timer_fd = -1;
	u->armed_ms = -1;
	u->waiting = true; /* the helper has no set until the first turn publishes one */
	pthread_mutex_init(&u->lock, NULL);
	pthread_cond_init(&u->cond, NULL);
	u->log = log;
	u->seccomp = sc;
	u->turn_d.fn = turn_fn;
	u->wake_d.fn = wake_fn;
	u->nb.ops = &net_user_ops;
	snprintf(u->nb.name, sizeof(u->nb.name), "user");
	u->nb.nqueues = 1;
	/*
	 * Checksums only: slirp checks every checksum the guest sends (tx_offload completes a partial
	 * one first) and makes every one it sends, so its frames need no check in the guest. No TSO:
	 * slirp takes MTU-sized frames, and the MTU is large.
	 */
	u->nb.offloads = (1ull << VIRTIO_NET_F_CSUM) | (1ull << VIRTIO_NET_F_GUEST_CSUM);
	u->nb.mtu = NET_USER_MTU;
	u->rx.buf = malloc(NET_USER_RING);
	u->txbuf = malloc(MAX_FRAME);
	if (!u->rx.buf || !u->txbuf) {
		nu_free(u);
		return -ENOMEM;
	}
	u->ctl_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->ready_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	u->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (u->ctl_efd < 0 || u->ready_efd < 0 || u->timer_fd < 0) {
		ret = -errno;
		vlog_err(log, "user net: cannot create an eventfd or timerfd: %s", strerror(-ret));
		nu_free(u);
		return ret;
	}
	cfg.in_enabled = true;
	inet_pton(AF_INET, "10.0.2.0", &cfg.vnetwork);
	inet_pton(AF_INET, "255.255.255.0", &cfg.vnetmask);
	inet_pton(AF_INET, "10.0.2.2", &cfg.vhost);
	inet_pton(AF_INET, "10.0.2.15", &cfg.vdhcp_start);
	inet_pton(AF_INET, "10.0.2.3", &cfg.vnameserver);
	cfg.if_mtu = NET_USER_MTU;
	cfg.if_mru = NET_USER_MTU;
	cfg.disable_host_loopback = n->no_host_loopback != 0;
	cfg.restricted = n->restricted != 0;
	u->slirp = u->sl->new_(&cfg, &callbacks, u);
	if (!u->slirp) {
		vlog_err(log, "user net: libslirp %s could not start", u->sl->version_string());
		nu_free(u);
		return -ENOMEM;
	}
	for (unsigned i = 0; i < n->nhostfwd; i++) {
		ret = add_forward(u, &n->hostfwd[i]);
		if (ret) {
			nu_free(u);
			return ret;
		}
	}
	ret = thread_create(&u->thread, poll_main, u);
	if (ret) {
		vlog_err(log, "user net: cannot start its poll thread: %s", strerror(ret > 0 ? ret : -ret));
		nu_free(u);
		return ret > 0 ? -ret : ret;
	}
	u->thread_started = true;
	*out = &u->nb;
	return 0;
}
