// SPDX-License-Identifier: Apache-2.0
/* The I/O thread: one io_uring, multishot polls for watched fds, SQEs that complete into struct ev_req. */
#include "event_loop.h"
#include "thread.h"
#include "valgrind_hints.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

/*
 * What a CQE's user_data names:
 *   0                  an internal operation whose result nobody needs (POLL_REMOVE);
 *   pointer | 1        a struct watch (the low bit is free: both structs are pointer-aligned);
 *   pointer            a struct ev_req of a device: l->inflight counts these, stop waits for them.
 *
 * Watches live in a table under l->lock, so any thread may add or remove one. The ring itself
 * belongs to the I/O thread while it runs: other threads mark the table dirty and kick the call
 * eventfd, and the thread arms and removes polls in sync_watches() before it next waits. A watch
 * struct is freed only once its poll has ended (a CQE without IORING_CQE_F_MORE), so a late CQE
 * never names freed memory.
 */
#define UD_WATCH 1ull

struct watch {
	int fd;
	int id;
	void (*ready)(void *opaque);
	void *opaque;
	bool armed;       /* a poll for it is in the ring (I/O thread, or anyone while stopped) */
	bool remove_sent; /* POLL_REMOVE submitted for it */
	bool dead;        /* unwatched: ready() is never called again */
	bool failed;      /* its poll failed: not re-armed (the id stays taken until unwatched) */
};

struct call {
	void (*fn)(void *arg);
	void *arg;
	bool done;
	struct call *next;
};

struct event_loop {
	struct io_uring ring;
	const struct vlog *log;
	int stop_fd, call_fd;
	pthread_t thread;
	bool started; /* a thread to join (lifecycle callers only) */
	bool poll_wait; /* sleep in poll() on the ring's fd, not in io_uring_enter (Valgrind) */
	void (*on_start)(void *opaque);
	void *on_start_opaque;

	pthread_mutex_t lock;
	pthread_cond_t cond;
	/* Under lock. */
	bool running;
	struct call *calls, **calls_tail;
	struct watch **watches;
	unsigned nwatches;
	atomic_bool dirty; /* the watch table has work for sync_watches() */

	/* The I/O thread only. */
	bool stopping;
	unsigned inflight;
	struct ev_defer *defer_head, **defer_tail;
	struct ev_defer *later_head, **later_tail; /* for the next turn */
};

/* Opcodes the ring may execute once restricted. */
static const uint8_t allowed_ops[] = {
	IORING_OP_NOP,	     IORING_OP_READV,	    IORING_OP_WRITEV,	    IORING_OP_READ,
	IORING_OP_WRITE,     IORING_OP_FSYNC,	    IORING_OP_FALLOCATE,    IORING_OP_POLL_ADD,
	IORING_OP_POLL_REMOVE, IORING_OP_ASYNC_CANCEL, IORING_OP_TIMEOUT,
	/* sockets (virtio-vsock's unix sockets; IORING_OP_SEND for --net stream too) */
	IORING_OP_ACCEPT, IORING_OP_CONNECT, IORING_OP_SEND, IORING_OP_RECV, IORING_OP_SHUTDOWN,
};

static int ring_register(struct io_uring *r, unsigned op, const void *arg, unsigned n)
{
	/* The raw syscall: liburing 2.3 as shipped does not export the restriction helpers. */
	long ret = syscall(__NR_io_uring_register, r->ring_fd, op, arg, n);

	return ret < 0 ? -errno : 0;
}

/* A ring created disabled, restricted to our opcodes, then enabled; plainer rings on older kernels. */
static int ring_init(struct event_loop *l, unsigned entries)
{
	struct io_uring_restriction res[sizeof(allowed_ops)];
	int ret;

	ret = io_uring_queue_init(entries, &l->ring, IORING_SETUP_SUBMIT_ALL | IORING_SETUP_R_DISABLED);
	if (ret == -EINVAL)
		return io_uring_queue_init(entries, &l->ring, 0);
	if (ret)
		return ret;
	memset(res, 0, sizeof(res));
	for (size_t i = 0; i < sizeof(allowed_ops); i++) {
		res[i].opcode = IORING_RESTRICTION_SQE_OP;
		res[i].sqe_op = allowed_ops[i];
	}
	ret = ring_register(&l->ring, IORING_REGISTER_RESTRICTIONS, res, sizeof(allowed_ops));
	if (ret)
		vlog_debug(l->log, "io_uring restrictions unavailable (%s); continuing without", strerror(-ret));
	ret = ring_register(&l->ring, IORING_REGISTER_ENABLE_RINGS, NULL, 0);
	if (ret) {
		io_uring_queue_exit(&l->ring);
		return io_uring_queue_init(entries, &l->ring, 0);
	}
	return 0;
}

/* An SQE, submitting what is queued to make room when the SQ is full. */
static struct io_uring_sqe *get_sqe(struct event_loop *l)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);

	if (!sqe && io_uring_submit(&l->ring) >= 0)
		sqe = io_uring_get_sqe(&l->ring);
	if (sqe)
		memset(sqe, 0, sizeof(*sqe));
	return sqe;
}

static bool on_thread(struct event_loop *l)
{
	return pthread_equal(pthread_self(), l->thread);
}

static void kick(int fd)
{
	uint64_t one = 1;

	while (write(fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

static void drain_eventfd(int fd)
{
	uint64_t v;

	while (read(fd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
}

/* Arm new watches, remove dead ones, free those whose poll has ended. Under l->lock; ring owner. */
static void sync_watches_locked(struct event_loop *l)
{
	bool again = false;

	atomic_store(&l->dirty, false);
	for (unsigned i = 0; i < l->nwatches; i++) {
		struct watch *w = l->watches[i];
		struct io_uring_sqe *sqe;

		if (!w)
			continue;
		if (w->dead && !w->armed) {
			free(w);
			l->watches[i] = NULL;
			continue;
		}
		if (w->dead ? w->remove_sent : (w->armed || w->failed))
			continue;
		sqe = get_sqe(l);
		if (!sqe) {
			again = true;
			continue;
		}
		if (w->dead) {
			io_uring_prep_poll_remove(sqe, (uintptr_t)w | UD_WATCH);
			io_uring_sqe_set_data64(sqe, 0);
			w->remove_sent = true;
		} else {
			io_uring_prep_poll_multishot(sqe, w->fd, POLLIN);
			io_uring_sqe_set_data64(sqe, (uintptr_t)w | UD_WATCH);
			w->armed = true;
		}
	}
	if (again)
		atomic_store(&l->dirty, true);
}

static void sync_watches(struct event_loop *l)
{
	if (!atomic_load(&l->dirty))
		return;
	pthread_mutex_lock(&l->lock);
	sync_watches_locked(l);
	pthread_mutex_unlock(&l->lock);
}

static void handle_watch(struct event_loop *l, struct watch *w, int res, unsigned flags)
{
	if (!(flags & IORING_CQE_F_MORE)) {
		w->armed = false;
		atomic_store(&l->dirty, true); /* re-arm, or free when dead */
	}
	if (w->dead)
		return;
	if (res > 0) {
		w->ready(w->opaque);
	} else if (res < 0 && res != -ECANCELED) {
		vlog_err(l->log, "event loop: poll on fd %d failed: %s", w->fd, strerror(-res));
		w->failed = true; /* do not re-arm a poll that fails */
	}
}

static void dispatch(struct event_loop *l, uint64_t ud, int res, unsigned flags)
{
	struct ev_req *req;

	if (ud == 0)
		return;
	if (ud & UD_WATCH) {
		handle_watch(l, (struct watch *)(uintptr_t)(ud & ~UD_WATCH), res, flags);
		return;
	}
	req = (struct ev_req *)(uintptr_t)ud;
	l->inflight--;
	req->done(req, res);
}

static void run_defers(struct event_loop *l)
{
	while (l->defer_head) {
		struct ev_defer *d = l->defer_head;

		l->defer_head = d->next;
		if (!l->defer_head)
			l->defer_tail = &l->defer_head;
		d->queued = false;
		d->fn(d);
	}
}

/* The work put off to this turn; what it puts off again waits for the next one. */
static void run_later(struct event_loop *l)
{
	struct ev_defer *d = l->later_head;

	l->later_head = NULL;
	l->later_tail = &l->later_head;
	while (d) {
		struct ev_defer *next = d->next;

		d->queued = false;
		d->fn(d); /* may queue d again, on the fresh list */
		d = next;
	}
}

/* Run the queued calls on this thread, then wake their callers. */
static void run_calls(struct event_loop *l)
{
	struct call *c, *next;

	pthread_mutex_lock(&l->lock);
	c = l->calls;
	l->calls = NULL;
	l->calls_tail = &l->calls;
	pthread_mutex_unlock(&l->lock);
	for (struct call *i = c; i; i = i->next)
		i->fn(i->arg);
	pthread_mutex_lock(&l->lock);
	for (; c; c = next) {
		next = c->next; /* c lives on its caller's stack: read next before releasing it */
		c->done = true;
	}
	pthread_cond_broadcast(&l->cond);
	pthread_mutex_unlock(&l->lock);
}

static void stop_ready(void *opaque)
{
	struct event_loop *l = opaque;

	drain_eventfd(l->stop_fd);
	l->stopping = true;
}

static void call_ready(void *opaque)
{
	struct event_loop *l = opaque;

	drain_eventfd(l->call_fd);
	run_calls(l);
}

/*
 * One turn of the loop: submit what is queued (waiting for a completion when wait is set and
 * nothing else is pending), dispatch the CQEs that are there, then the work put off to this turn
 * and the deferred calls. false when the ring failed for good (said once, through *failed).
 */
static bool loop_turn(struct event_loop *l, bool wait, bool *failed)
{
	struct io_uring_cqe *cqe;
	unsigned budget;
	bool may_sleep;
	int ret;

	/* Waiting while the watch table or put-off work is pending would sleep on it: only submit. */
	may_sleep = wait && !atomic_load(&l->dirty) && !l->later_head;
	if (may_sleep && l->poll_wait) {
		/*
		 * Valgrind (3.19, Debian 12) keeps its one lock while a thread sleeps in
		 * io_uring_enter, so every other thread of the process would stop until a CQE came:
		 * there, submit, then sleep in poll() on the ring's fd, a call it knows may block.
		 */
		ret = io_uring_submit(&l->ring);
		if (ret >= 0 && !io_uring_cq_ready(&l->ring)) {
			struct pollfd p = { .fd = l->ring.ring_fd, .events = POLLIN };

			(void)poll(&p, 1, -1);
		}
	} else {
		ret = io_uring_submit_and_wait(&l->ring, may_sleep ? 1 : 0);
	}
	if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY && ret != -ETIME) {
		if (!*failed)
			vlog_err(l->log, "event loop: io_uring_enter failed: %s", strerror(-ret));
		if (ret == -EBADF || ret == -EFAULT || ret == -EOPNOTSUPP)
			return false;
		*failed = true;
	}
	/* One CQE at a time, released before its callback runs (which may submit more). */
	budget = l->ring.cq.ring_entries;
	while (budget-- && io_uring_peek_cqe(&l->ring, &cqe) == 0) {
		uint64_t ud = cqe->user_data;
		int res = cqe->res;
		unsigned flags = cqe->flags;

		io_uring_cqe_seen(&l->ring, cqe);
		dispatch(l, ud, res, flags);
	}
	run_later(l); /* before the defers: the interrupts for its completions go out this turn */
	run_defers(l);
	return true;
}

static void *loop_thread(void *arg)
{
	struct event_loop *l = arg;
	bool failed = false;

	if (l->on_start)
		l->on_start(l->on_start_opaque);
	for (;;) {
		sync_watches(l);
		if (l->stopping && l->inflight == 0 && !l->later_head)
			break;
		if (!loop_turn(l, true, &failed))
			break;
	}
	pthread_mutex_lock(&l->lock);
	l->running = false;
	pthread_mutex_unlock(&l->lock);
	run_calls(l); /* callers that queued before running went false; later ones run fn themselves */
	return NULL;
}

int event_loop_run_once(struct event_loop *l, bool wait)
{
	bool started, failed = false;

	pthread_mutex_lock(&l->lock);
	started = l->started;
	pthread_mutex_unlock(&l->lock);
	if (started)
		return -EBUSY; /* the ring belongs to the I/O thread */
	sync_watches(l);
	if (!loop_turn(l, wait, &failed) || failed)
		return -EIO;
	return l->inflight || l->later_head || l->defer_head ? 1 : 0;
}

static int add_watch_locked(struct event_loop *l, struct watch *w)
{
	unsigned i;

	for (i = 0; i < l->nwatches; i++) {
		if (!l->watches[i])
			break;
	}
	if (i == l->nwatches) {
		unsigned n = l->nwatches ? 2 * l->nwatches : 8;
		struct watch **t = realloc(l->watches, n * sizeof(*t));

		if (!t)
			return -ENOMEM;
		memset(t + l->nwatches, 0, (n - l->nwatches) * sizeof(*t));
		l->watches = t;
		l->nwatches = n;
	}
	w->id = (int)i;
	l->watches[i] = w;
	atomic_store(&l->dirty, true);
	return (int)i;
}

int event_loop_watch(struct event_loop *l, int fd, void (*ready)(void *opaque), void *opaque)
{
	struct watch *w;
	bool need_kick;
	int id;

	if (fd < 0 || !ready)
		return -EINVAL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->ready = ready;
	w->opaque = opaque;
	pthread_mutex_lock(&l->lock);
	id = add_watch_locked(l, w);
	need_kick = l->running && !on_thread(l);
	pthread_mutex_unlock(&l->lock);
	if (id < 0) {
		free(w);
		return id;
	}
	if (need_kick)
		kick(l->call_fd); /* the thread arms it in sync_watches() */
	return id;
}

struct unwatch_arg {
	struct event_loop *l;
	int id;
};

static void unwatch_fn(void *arg)
{
	struct unwatch_arg *a = arg;
	struct event_loop *l = a->l;

	pthread_mutex_lock(&l->lock);
	if (a->id >= 0 && (unsigned)a->id < l->nwatches && l->watches[a->id]) {
		l->watches[a->id]->dead = true;
		atomic_store(&l->dirty, true);
	}
	pthread_mutex_unlock(&l->lock);
}

void event_loop_unwatch(struct event_loop *l, int id)
{
	struct unwatch_arg a = { .l = l, .id = id };

	/*
	 * On the I/O thread (or with no thread) this marks the watch dead at once; from another
	 * thread it waits for the I/O thread, so no ready() for it is running when we return.
	 */
	event_loop_call(l, unwatch_fn, &a);
}

struct io_uring_sqe *event_loop_sqe(struct event_loop *l, struct ev_req *req)
{
	struct io_uring_sqe *sqe = get_sqe(l);

	if (!sqe)
		return NULL;
	/* io_uring_prep_*() keep user_data: the caller preps this SQE (it must: there is no "unget"). */
	io_uring_sqe_set_data(sqe, req);
	l->inflight++;
	return sqe;
}

/* Append d to the list whose tail pointer is *tail, unless it is queued already (on either list). */
static void enqueue(struct ev_defer ***tail, struct ev_defer *d)
{
	if (d->queued)
		return;
	d->queued = true;
	d->next = NULL;
	**tail = d;
	*tail = &d->next;
}

void event_loop_defer(struct event_loop *l, struct ev_defer *d)
{
	enqueue(&l->defer_tail, d);
}

void event_loop_later(struct event_loop *l, struct ev_defer *d)
{
	enqueue(&l->later_tail, d);
}

int event_loop_call(struct event_loop *l, void (*fn)(void *arg), void *arg)
{
	struct call c = { .fn = fn, .arg = arg };

	pthread_mutex_lock(&l->lock);
	if (!l->running) {
		pthread_mutex_unlock(&l->lock);
		fn(arg);
		return -ESHUTDOWN;
	}
	if (on_thread(l)) {
		pthread_mutex_unlock(&l->lock);
		fn(arg);
		return 0;
	}
	*l->calls_tail = &c;
	l->calls_tail = &c.next;
	pthread_mutex_unlock(&l->lock);
	kick(l->call_fd);
	pthread_mutex_lock(&l->lock);
	while (!c.done)
		pthread_cond_wait(&l->cond, &l->lock);
	pthread_mutex_unlock(&l->lock);
	return 0;
}

bool event_loop_on_thread(struct event_loop *l)
{
	bool self;

	pthread_mutex_lock(&l->lock);
	self = l->running && on_thread(l);
	pthread_mutex_unlock(&l->lock);
	return self;
}

void event_loop_on_start(struct event_loop *l, void (*fn)(void *opaque), void *opaque)
{
	l->on_start = fn;
	l->on_start_opaque = opaque;
}

int event_loop_start(struct event_loop *l)
{
	sigset_t all, old;
	int ret;

	pthread_mutex_lock(&l->lock);
	if (l->started) {
		pthread_mutex_unlock(&l->lock);
		return -EALREADY;
	}
	l->stopping = false;
	l->running = true;
	/* The I/O thread takes no signals: they belong to the application's threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = thread_create(&l->thread, loop_thread, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret)
		l->running = false;
	else
		l->started = true;
	pthread_mutex_unlock(&l->lock);
	if (ret) {
		vlog_err(l->log, "cannot start the I/O thread: %s", strerror(ret));
		return -ret;
	}
	return 0;
}

void event_loop_stop(struct event_loop *l)
{
	bool started, self;

	pthread_mutex_lock(&l->lock);
	started = l->started;
	self = started && on_thread(l);
	pthread_mutex_unlock(&l->lock);
	if (!started)
		return;
	kick(l->stop_fd);
	if (self)
		return; /* the thread cannot join itself: it ends after this callback; a later stop joins */
	pthread_join(l->thread, NULL);
	pthread_mutex_lock(&l->lock);
	l->started = false;
	pthread_mutex_unlock(&l->lock);
}

int event_loop_create(unsigned entries, const struct vlog *log, struct event_loop **out)
{
	struct event_loop *l;
	int ret;

	l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->log = log;
	l->poll_wait = under_valgrind();
	l->calls_tail = &l->calls;
	l->defer_tail = &l->defer_head;
	l->later_tail = &l->later_head;
	atomic_init(&l->dirty, false);
	pthread_mutex_init(&l->lock, NULL);
	pthread_cond_init(&l->cond, NULL);
	l->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	l->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (l->stop_fd < 0 || l->call_fd < 0) {
		ret = -errno;
		vlog_err(log, "cannot create an eventfd: %s", strerror(-ret));
		goto err_fds;
	}
	ret = ring_init(l, entries ? entries : 256);
	if (ret) {
		vlog_err(log, "io_uring unavailable: %s", strerror(-ret));
		goto err_fds;
	}
	ret = event_loop_watch(l, l->stop_fd, stop_ready, l);
	if (ret >= 0)
		ret = event_loop_watch(l, l->call_fd, call_ready, l);
	if (ret < 0) {
		event_loop_destroy(l);
		return ret;
	}
	*out = l;
	return 0;

err_fds:
	if (l->stop_fd >= 0)
		close(l->stop_fd);
	if (l->call_fd >= 0)
		close(l->call_fd);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
	return ret;
}

void event_loop_destroy(struct event_loop *l)
{
	if (!l)
		return;
	event_loop_stop(l);
	io_uring_queue_exit(&l->ring); /* ends every poll still armed: no CQE is read after this */
	for (unsigned i = 0; i < l->nwatches; i++)
		free(l->watches[i]);
	free(l->watches);
	close(l->stop_fd);
	close(l->call_fd);
	pthread_cond_destroy(&l->cond);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
