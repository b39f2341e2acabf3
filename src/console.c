// SPDX-License-Identifier: Apache-2.0
/* A guest console's host side: the output ring, its writer on io_uring, and the lifecycle (input: console_input.c). */
#include "console.h"
#include "console_priv.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

/*
 * The ring is anonymous memory reserved at create and touched only as the backlog grows: whenever
 * the writer has caught up, the next bytes go to the start again, and what a backlog of more than
 * RECLAIM_AT touched is given back (MADV_DONTNEED), so a large ring costs memory only while a
 * reader is stalled.
 */
#define RECLAIM_AT (256u << 10)

void console_kick(struct console *c)
{
	uint64_t one = 1;

	while (write(c->kick_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static size_t room_locked(const struct console *c)
{
	return c->size - c->count;
}

/* Wake a device waiting for room when there is enough (or the console discards). Returns true to call tx_ready. */
static bool take_want_locked(struct console *c)
{
	if (!c->want || (!c->discard && room_locked(c) < c->want))
		return false;
	c->want = 0;
	return true;
}

/*
 * On the I/O thread only. Once the console stops, its device may be torn down while completions of
 * cancelled writes still arrive: they must not call back into it.
 */
static void notify_tx(struct console *c, bool call)
{
	if (call && c->tx_ready && !c->stopping)
		c->tx_ready(c->tx_opaque);
}

static void start_write(struct console *c);

size_t console_write(struct console *c, const void *buf, size_t len)
{
	size_t n, tail, first, ret;
	bool need_kick = false;

	if (!len)
		return 0;
	pthread_mutex_lock(&c->lock);
	if (c->discard) {
		if (!c->silent)
			c->dropped += len;
		pthread_mutex_unlock(&c->lock);
		return len;
	}
	n = room_locked(c);
	if (n > len)
		n = len;
	tail = (c->head + c->count) & (c->size - 1);
	first = c->size - tail < n ? c->size - tail : n;
	memcpy(c->buf + tail, buf, first);
	memcpy(c->buf, (const uint8_t *)buf + first, n - first);
	c->count += n;
	if (n - first || tail + first > c->touched)
		c->touched = n - first ? c->size : tail + first;
	ret = n;
	if (c->o.drop) {
		c->dropped += len - n;
		ret = len;
	}
	if (n && !c->writing && !c->kicked) {
		c->kicked = true;
		need_kick = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (need_kick) {
		/* A device on the I/O thread (virtio-console) starts the writer itself: no eventfd round trip. */
		if (c->started && event_loop_on_thread(c->loop))
			start_write(c);
		else
			console_kick(c);
	}
	return ret;
}

bool console_room(struct console *c, size_t n)
{
	bool ok;

	pthread_mutex_lock(&c->lock);
	ok = c->discard || c->o.drop || room_locked(c) >= n;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

void console_want_room(struct console *c, size_t n)
{
	bool need_kick = false;

	if (n > c->size)
		n = c->size;
	pthread_mutex_lock(&c->lock);
	c->want = n ? n : 1;
	/* Room came already (or nothing is being written that would make some): let the I/O thread say so. */
	if ((c->discard || room_locked(c) >= c->want || !c->writing) && !c->kicked) {
		c->kicked = true;
		need_kick = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (need_kick)
		console_kick(c);
}

uint64_t console_dropped(const struct console *c)
{
	uint64_t d;

	pthread_mutex_lock((pthread_mutex_t *)&c->lock);
	d = c->dropped;
	pthread_mutex_unlock((pthread_mutex_t *)&c->lock);
	return d;
}

void console_describe(struct console *c, char *buf, size_t len)
{
	char want[64] = "no device waits for room";

	pthread_mutex_lock(&c->lock);
	if (c->want)
		snprintf(want, sizeof(want), "a device waits for %zu bytes of room", c->want);
	snprintf(buf, len, "%zu bytes held for the host, writer %s%s, %s, %llu bytes dropped", c->count,
		 c->discard ? "discarding" : c->writing ? "busy" : "idle", c->kicked ? " (kicked)" : "", want,
		 (unsigned long long)c->dropped);
	pthread_mutex_unlock(&c->lock);
}

void console_set_tx_ready(struct console *c, void (*fn)(void *opaque), void *opaque)
{
	c->tx_ready = fn;
	c->tx_opaque = opaque;
}

/* ---- the writer (I/O thread) ---- */

/* The writer failed for good: discard from now on, say so once. */
static void writer_failed(struct console *c, int err)
{
	bool call, say;

	pthread_mutex_lock(&c->lock);
	c->discard = true;
	c->dropped += c->count;
	c->count = 0;
	c->head = 0;
	c->writing = false;
	say = !c->failed_logged;
	c->failed_logged = true;
	call = take_want_locked(c);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (say && !c->stopping)
		vlog_warn(c->log, "console %s: cannot write the guest's output (%s); discarding it from now on",
			  c->o.name, strerror(err));
	notify_tx(c, call);
}

/* Bytes [head, head + n) have left: free them, wake who waits for room or for the drain. */
static void advance(struct console *c, size_t n)
{
	bool call;

	pthread_mutex_lock(&c->lock);
	if (n > c->count)
		n = c->count;
	c->head = (c->head + n) & (c->size - 1);
	c->count -= n;
	c->writing = false;
	if (!c->count) {
		/* Caught up: start from the beginning again, and give back what a backlog touched. */
		c->head = 0;
		if (c->touched > RECLAIM_AT) {
			madvise(c->buf + RECLAIM_AT, c->touched - RECLAIM_AT, MADV_DONTNEED);
			c->touched = RECLAIM_AT;
		}
	}
	call = take_want_locked(c);
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	notify_tx(c, call);
}


/*
 * With a gather delay, a writer that has caught up stays "busy" for one more delay: bytes that come
 * meanwhile are picked up by the timer, so a steady trickle never makes a producer kick (a syscall
 * on a vCPU thread per byte or two is what a UART flood would otherwise cost). True when armed.
 */
static bool linger(struct console *c)
{
	struct io_uring_sqe *sqe;
	bool armed = false;

	if (!c->o.gather_us || c->stopping || c->o.out_fd < 0)
		return false;
	pthread_mutex_lock(&c->lock);
	if (!c->writing && !c->count && !c->discard) {
		sqe = event_loop_sqe(c->loop, &c->treq);
		if (sqe) {
			io_uring_prep_timeout(sqe, &c->gather_ts, 0, 0);
			c->timer_inflight = true;
			c->writing = true;
			c->kicked = false;
			armed = true;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return armed;
}

static void write_done(struct ev_req *req, int res)
{
	struct console *c = (struct console *)((char *)req - offsetof(struct console, wreq));

	c->wr_inflight = false;
	if (res > 0) {
		advance(c, (size_t)res);
		if (linger(c))
			return;
	} else if (res == -EAGAIN) {
		/* A non-blocking out_fd that is full: wait until it is writable. */
		struct io_uring_sqe *sqe = c->stopping ? NULL : event_loop_sqe(c->loop, &c->pollreq);

		if (sqe) {
			io_uring_prep_poll_add(sqe, c->o.out_fd, POLLOUT);
			c->poll_inflight = true;
		} else {
			pthread_mutex_lock(&c->lock);
			c->writing = false;
			pthread_mutex_unlock(&c->lock);
		}
		return;
	} else if (res == -ECANCELED || (res == -EINTR && c->stopping)) {
		pthread_mutex_lock(&c->lock);
		c->writing = false;
		pthread_cond_broadcast(&c->cond);
		pthread_mutex_unlock(&c->lock);
		return;
	} else if (res != -EINTR) {
		writer_failed(c, res ? -res : EIO); /* 0: nothing was written and nothing will be */
		return;
	} else {
		pthread_mutex_lock(&c->lock);
		c->writing = false;
		pthread_mutex_unlock(&c->lock);
	}
	start_write(c);
}

static void timer_done(struct ev_req *req, int res)
{
	struct console *c = (struct console *)((char *)req - offsetof(struct console, treq));

	(void)res; /* -ETIME: it expired; -ECANCELED: the console stops */
	c->timer_inflight = false;
	pthread_mutex_lock(&c->lock);
	c->writing = false;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	if (c->stopping)
		return;
	c->gathered = true;
	start_write(c);
}

static void poll_done(struct ev_req *req, int res)
{
	struct console *c = (struct console *)((char *)req - offsetof(struct console, pollreq));

	(void)res;
	c->poll_inflight = false;
	pthread_mutex_lock(&c->lock);
	c->writing = false;
	pthread_mutex_unlock(&c->lock);
	start_write(c);
}

/* Write what the ring holds: one writev of its (at most two) pieces, or the callback. */
static void start_write(struct console *c)
{
	struct io_uring_sqe *sqe;
	size_t first, total;
	int niov;

	for (;;) {
		pthread_mutex_lock(&c->lock);
		if (c->writing || c->stopping || c->discard || !c->count) {
			pthread_mutex_unlock(&c->lock);
			return;
		}
		c->writing = true;
		c->kicked = false;
		total = c->count;
		if (c->o.gather_us && !c->gathered && total < c->size / 4 && c->o.out_fd >= 0) {
			/*
			 * A trickle (a UART's byte per VM exit): let more pile up for gather_us before writing,
			 * so a flood costs one write per gather_us, not a write and a producer's wake-up per
			 * byte or two. The writer counts as busy meanwhile: producers do not kick.
			 */
			sqe = event_loop_sqe(c->loop, &c->treq);
			if (sqe) {
				io_uring_prep_timeout(sqe, &c->gather_ts, 0, 0);
				c->timer_inflight = true;
				pthread_mutex_unlock(&c->lock);
				return;
			}
		}
		c->gathered = false;
		first = c->size - c->head < total ? c->size - c->head : total;
		c->iov[0] = (struct iovec){ c->buf + c->head, first };
		c->iov[1] = (struct iovec){ c->buf, total - first };
		niov = total > first ? 2 : 1;
		pthread_mutex_unlock(&c->lock);
		/* The producers only append past head + count: these bytes stay put until advance(). */
		if (c->o.out_fd < 0) {
			if (c->o.out_cb)
				for (int i = 0; i < niov; i++)
					c->o.out_cb(c->o.out_opaque, c->iov[i].iov_base, c->iov[i].iov_len);
			advance(c, total);
			continue;
		}
		sqe = event_loop_sqe(c->loop, &c->wreq);
		if (!sqe) {
			/* The ring is full: a later kick or completion tries again. */
			pthread_mutex_lock(&c->lock);
			c->writing = false;
			pthread_mutex_unlock(&c->lock);
			console_kick(c);
			return;
		}
		io_uring_prep_writev(sqe, c->o.out_fd, c->iov, (unsigned)niov, (uint64_t)-1);
		c->wr_inflight = true;
		return;
	}
}

/* ---- the kick eventfd, start, stop ---- */

static void on_kick(void *opaque)
{
	struct console *c = opaque;
	uint64_t v;
	bool call;

	while (read(c->kick_fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	if (c->stopping)
		return;
	pthread_mutex_lock(&c->lock);
	c->kicked = false;
	call = take_want_locked(c);
	pthread_mutex_unlock(&c->lock);
	notify_tx(c, call);
	console_input_resume(c);
	start_write(c);
}

static void noop_done(struct ev_req *req, int res)
{
	(void)req;
	(void)res;
}

int console_create(const struct console_opts *o, struct console **out)
{
	struct console *c = calloc(1, sizeof(*c));
	size_t size = o->ring_size ? o->ring_size : CONSOLE_RING_SIZE;

	if (!c)
		return -ENOMEM;
	if (size < 64 || size > (1u << 30)) {
		free(c);
		return -EINVAL;
	}
	while (size & (size - 1))
		size += size & -size; /* round up to a power of two */
	c->o = *o;
	if (!c->o.name)
		c->o.name = "console";
	c->log = o->log;
	c->size = size;
	c->watch_id = -1;
	c->wreq.done = write_done;
	c->pollreq.done = poll_done;
	console_input_init(c);
	c->treq.done = timer_done;
	c->gather_ts.tv_sec = o->gather_us / 1000000;
	c->gather_ts.tv_nsec = (long long)(o->gather_us % 1000000) * 1000;
	c->noop.done = noop_done;
	atomic_init(&c->rx_waiting, false);
	c->buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (c->buf == MAP_FAILED) {
		free(c);
		return -ENOMEM;
	}
	c->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (c->kick_fd < 0) {
		int ret = -errno;

		munmap(c->buf, size);
		free(c);
		return ret;
	}
	pthread_mutex_init(&c->lock, NULL);
	{
		/* console_flush() waits on cond with CLOCK_MONOTONIC deadlines: a wall-clock jump changes nothing. */
		pthread_condattr_t ca;

		pthread_condattr_init(&ca);
		pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
		pthread_cond_init(&c->cond, &ca);
		pthread_condattr_destroy(&ca);
	}
	/* Nothing reads or writes: act as a sink that swallows everything (no guest ever waits). */
	if (o->out_fd < 0 && !o->out_cb)
		c->discard = c->silent = true;
	*out = c;
	return 0;
}

static void start_fn(void *arg)
{
	struct console *c = arg;

	console_input_resume(c);
	start_write(c);
}

int console_start(struct console *c, struct event_loop *loop)
{
	int id;

	if (c->started)
		return -EALREADY;
	c->loop = loop;
	id = event_loop_watch(loop, c->kick_fd, on_kick, c);
	if (id < 0) {
		vlog_err(c->log, "console %s: cannot watch its eventfd: %s", c->o.name, strerror(-id));
		return id;
	}
	c->watch_id = id;
	c->started = true;
	event_loop_call(loop, start_fn, c);
	return 0;
}

void console_cancel(struct console *c, struct ev_req *req)
{
	struct io_uring_sqe *sqe = event_loop_sqe(c->loop, &c->noop);

	if (sqe)
		io_uring_prep_cancel(sqe, req, 0);
}

/* On the I/O thread: no new I/O, cancel what is in flight (the loop's stop waits for their completions). */
static void stop_fn(void *arg)
{
	struct console *c = arg;

	c->stopping = true;
	if (c->wr_inflight)
		console_cancel(c, &c->wreq);
	if (c->poll_inflight)
		console_cancel(c, &c->pollreq);
	if (c->timer_inflight)
		console_cancel(c, &c->treq);
	console_input_cancel(c);
	if (c->watch_id >= 0)
		event_loop_unwatch(c->loop, c->watch_id);
	c->watch_id = -1;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void console_flush(struct console *c, unsigned timeout_ms)
{
	uint64_t last_progress = mono_ms();
	size_t last_count;

	if (!c || !c->started || event_loop_on_thread(c->loop))
		return;
	pthread_mutex_lock(&c->lock);
	last_count = c->count;
	/* Wait while the writer makes progress; give up after timeout_ms without any. */
	while (c->count && !c->discard) {
		struct timespec ts;

		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_nsec += 50 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		if (!c->writing && !c->kicked) {
			c->kicked = true;
			pthread_mutex_unlock(&c->lock);
			console_kick(c);
			pthread_mutex_lock(&c->lock);
		}
		pthread_cond_timedwait(&c->cond, &c->lock, &ts);
		if (c->count != last_count) {
			last_count = c->count;
			last_progress = mono_ms();
		} else if (mono_ms() - last_progress >= timeout_ms) {
			c->gave_up_ms = timeout_ms;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
}

void console_stop(struct console *c, unsigned timeout_ms)
{
	uint64_t dropped, left;
	unsigned gave_up;

	if (!c || !c->started)
		return;
	console_flush(c, timeout_ms);
	event_loop_call(c->loop, stop_fn, c);
	pthread_mutex_lock(&c->lock);
	left = c->count;
	c->dropped += c->count;
	c->count = 0;
	c->discard = true;
	dropped = c->dropped;
	gave_up = c->gave_up_ms;
	pthread_mutex_unlock(&c->lock);
	if (dropped && left && gave_up)
		vlog_warn(c->log, "console %s: its reader took nothing for %u s; %llu bytes of the guest's output "
			  "were discarded", c->o.name, (gave_up + 999) / 1000, (unsigned long long)dropped);
	else if (dropped)
		vlog_warn(c->log, "console %s: %llu bytes of the guest's output were discarded", c->o.name,
			  (unsigned long long)dropped);
	c->started = false;
}

void console_destroy(struct console *c)
{
	if (!c)
		return;
	close(c->kick_fd);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	munmap(c->buf, c->size);
	free(c);
}
