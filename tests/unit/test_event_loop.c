// SPDX-License-Identifier: Apache-2.0
/* The I/O thread: watches, calls onto the thread, ev_req completions, stop draining, no fd leaks. */
#define _GNU_SOURCE /* pipe2 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "event_loop.h"
#include "unit.h"

static const struct vlog quiet = { .level = VMM_LOG_ERROR };

static struct event_loop *new_loop(void)
{
	struct event_loop *l = NULL;

	ck_assert_int_eq(event_loop_create(64, &quiet, &l), 0);
	return l;
}

static void wait_for(atomic_int *v, int want)
{
	for (int i = 0; i < 5000 && atomic_load(v) < want; i++)
		usleep(1000);
	ck_assert_int_ge(atomic_load(v), want);
}

struct watch_rec {
	int fd;
	atomic_int calls;
	pthread_t thread;
	struct event_loop *l;
	atomic_bool on_loop; /* an event_loop_call() from ready() ran inline */
};

static void inline_fn(void *arg)
{
	*(int *)arg = 1;
}

static void ready(void *opaque)
{
	struct watch_rec *w = opaque;
	uint64_t v;
	int ran = 0;

	ck_assert_int_eq(read(w->fd, &v, sizeof(v)), sizeof(v));
	w->thread = pthread_self();
	/* On the I/O thread, event_loop_call runs at once. */
	if (event_loop_call(w->l, inline_fn, &ran) == 0 && ran)
		atomic_store(&w->on_loop, true);
	atomic_fetch_add(&w->calls, 1);
}

START_TEST(create_start_stop)
{
	struct event_loop *l = new_loop();

	ck_assert_int_eq(event_loop_start(l), 0);
	ck_assert_int_eq(event_loop_start(l), -EALREADY);
	event_loop_stop(l);
	event_loop_stop(l); /* idempotent */
	ck_assert_int_eq(event_loop_start(l), 0); /* and restartable */
	event_loop_stop(l);
	event_loop_destroy(l);
}
END_TEST

START_TEST(watch_fires_on_io_thread)
{
	struct event_loop *l = new_loop();
	struct watch_rec before = { .l = l }, after = { .l = l };
	uint64_t one = 1;
	int id1, id2;

	before.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	after.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	id1 = event_loop_watch(l, before.fd, ready, &before); /* before start */
	ck_assert_int_ge(id1, 0);
	ck_assert_int_eq(event_loop_start(l), 0);
	id2 = event_loop_watch(l, after.fd, ready, &after); /* from another thread, running */
	ck_assert_int_ge(id2, 0);
	ck_assert_int_ne(id1, id2);
	for (int i = 1; i <= 3; i++) { /* multishot: keeps firing */
		ck_assert_int_eq(write(before.fd, &one, sizeof(one)), sizeof(one));
		wait_for(&before.calls, i);
		ck_assert_int_eq(write(after.fd, &one, sizeof(one)), sizeof(one));
		wait_for(&after.calls, i);
	}
	ck_assert(!pthread_equal(before.thread, pthread_self()));
	ck_assert(pthread_equal(before.thread, after.thread));
	ck_assert(atomic_load(&before.on_loop));

	/* After unwatch returns, ready() never runs for it again. */
	event_loop_unwatch(l, id1);
	ck_assert_int_eq(write(before.fd, &one, sizeof(one)), sizeof(one));
	ck_assert_int_eq(write(after.fd, &one, sizeof(one)), sizeof(one));
	wait_for(&after.calls, 4);
	usleep(20000);
	ck_assert_int_eq(atomic_load(&before.calls), 3);
	event_loop_unwatch(l, id2);
	event_loop_destroy(l);
	close(before.fd);
	close(after.fd);
}
END_TEST

struct call_rec {
	struct event_loop *l;
	pthread_t thread;
	int ran;
};

static void record_thread(void *arg)
{
	struct call_rec *c = arg;

	usleep(10000); /* the caller must really wait for this */
	c->thread = pthread_self();
	c->ran++;
}

START_TEST(call_runs_on_io_thread_and_waits)
{
	struct event_loop *l = new_loop();
	struct call_rec c = { .l = l };

	/* Not running: runs on the caller, says so. */
	ck_assert_int_eq(event_loop_call(l, record_thread, &c), -ESHUTDOWN);
	ck_assert_int_eq(c.ran, 1);
	ck_assert(pthread_equal(c.thread, pthread_self()));
	ck_assert_int_eq(event_loop_start(l), 0);
	for (int i = 0; i < 5; i++)
		ck_assert_int_eq(event_loop_call(l, record_thread, &c), 0);
	ck_assert_int_eq(c.ran, 6);
	ck_assert(!pthread_equal(c.thread, pthread_self()));
	event_loop_stop(l);
	ck_assert_int_eq(event_loop_call(l, record_thread, &c), -ESHUTDOWN);
	ck_assert_int_eq(c.ran, 7);
	event_loop_destroy(l);
}
END_TEST

struct io {
	struct ev_req req;
	struct event_loop *l;
	int fd;
	char buf[64];
	atomic_int res;
	atomic_int done;
	int kind; /* 0 NOP, 1 READ, 2 pipe READ (completes late) */
};

static void io_done(struct ev_req *req, int res)
{
	struct io *io = (struct io *)req;

	atomic_store(&io->res, res);
	atomic_fetch_add(&io->done, 1);
}

static void io_submit(void *arg)
{
	struct io *io = arg;
	struct io_uring_sqe *sqe = event_loop_sqe(io->l, &io->req);

	ck_assert_ptr_nonnull(sqe);
	if (io->kind == 0)
		io_uring_prep_nop(sqe);
	else
		io_uring_prep_read(sqe, io->fd, io->buf, sizeof(io->buf), 0);
}

START_TEST(ev_req_completes)
{
	struct event_loop *l = new_loop();
	char path[] = "/tmp/vmm-test-el-XXXXXX";
	struct io nop = { .req.done = io_done, .l = l, .kind = 0 };
	struct io rd = { .req.done = io_done, .l = l, .kind = 1 };
	int fd = mkostemp(path, O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	unlink(path);
	ck_assert_int_eq(pwrite(fd, "hello, ring", 11, 0), 11);
	rd.fd = fd;
	ck_assert_int_eq(event_loop_start(l), 0);
	ck_assert_int_eq(event_loop_call(l, io_submit, &nop), 0);
	ck_assert_int_eq(event_loop_call(l, io_submit, &rd), 0);
	wait_for(&nop.done, 1);
	wait_for(&rd.done, 1);
	ck_assert_int_eq(atomic_load(&nop.res), 0);
	ck_assert_int_eq(atomic_load(&rd.res), 11);
	ck_assert_mem_eq(rd.buf, "hello, ring", 11);
	event_loop_destroy(l);
	close(fd);
}
END_TEST

START_TEST(stop_waits_for_in_flight)
{
	struct event_loop *l = new_loop();
	struct io rd = { .req.done = io_done, .l = l, .kind = 2 };
	pid_t pid;
	int p[2];

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	rd.fd = p[0];
	ck_assert_int_eq(event_loop_start(l), 0);
	ck_assert_int_eq(event_loop_call(l, io_submit, &rd), 0);
	usleep(20000);
	ck_assert_int_eq(atomic_load(&rd.done), 0); /* the pipe is empty: the read is in flight */
	/* Feed the pipe only after stop has begun: stop must still wait for the read. */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		usleep(100000);
		if (write(p[1], "late", 4) != 4)
			_exit(1);
		_exit(0);
	}
	event_loop_stop(l);
	waitpid(pid, NULL, 0);
	ck_assert_int_eq(atomic_load(&rd.done), 1);
	ck_assert_int_eq(atomic_load(&rd.res), 4);
	event_loop_destroy(l);
	close(p[0]);
	close(p[1]);
}
END_TEST

/* Work that always puts the rest off to the next turn, until told to stop. */
struct yielder {
	struct ev_defer d;
	struct event_loop *l;
	atomic_int runs;
	atomic_bool stop;
	int runs_this_turn, max_runs_per_turn; /* I/O thread */
	struct ev_defer turn;                  /* a defer: runs once per turn, after the later work */
};

static void turn_end(struct ev_defer *d)
{
	struct yielder *y = (struct yielder *)(void *)((char *)d - offsetof(struct yielder, turn));

	if (y->runs_this_turn > y->max_runs_per_turn)
		y->max_runs_per_turn = y->runs_this_turn;
	y->runs_this_turn = 0;
}

static void yield_run(struct ev_defer *d)
{
	struct yielder *y = (struct yielder *)d;

	atomic_fetch_add(&y->runs, 1);
	y->runs_this_turn++;
	event_loop_defer(y->l, &y->turn);
	if (!atomic_load(&y->stop))
		event_loop_later(y->l, &y->d); /* queued again from inside its run: the next turn */
}

static void yield_start(void *arg)
{
	struct yielder *y = arg;

	event_loop_later(y->l, &y->d);
	event_loop_later(y->l, &y->d); /* already queued: a no-op */
}

static void yield_stop(void *arg)
{
	atomic_store(&((struct yielder *)arg)->stop, true);
}

/* event_loop_later(): one run per turn, no sleeping meanwhile, other work served, stop waits for it. */
START_TEST(later_runs_once_per_turn)
{
	struct event_loop *l = new_loop();
	struct yielder y = { .d.fn = yield_run, .turn.fn = turn_end, .l = l };
	int runs;

	ck_assert_int_eq(event_loop_start(l), 0);
	ck_assert_int_eq(event_loop_call(l, yield_start, &y), 0);
	wait_for(&y.runs, 1000); /* no event wakes the loop: it must not sleep while work waits */
	ck_assert_int_eq(event_loop_call(l, yield_stop, &y), 0); /* calls are served meanwhile */
	runs = atomic_load(&y.runs);
	usleep(20000);
	ck_assert_int_le(atomic_load(&y.runs), runs + 1);
	event_loop_stop(l);
	ck_assert_int_eq(y.max_runs_per_turn, 1);
	ck_assert(!y.d.queued);
	event_loop_destroy(l);
}
END_TEST

START_TEST(no_fd_leaks)
{
	int before = unit_count_fds();

	for (int i = 0; i < 100; i++) {
		struct event_loop *l = new_loop();

		ck_assert_int_eq(event_loop_start(l), 0);
		event_loop_stop(l);
		event_loop_destroy(l);
	}
	ck_assert_int_eq(unit_count_fds(), before);
}
END_TEST

/* event_loop_run_once(): the loop's turns on the calling thread, with no I/O thread started. */
START_TEST(run_once_without_thread)
{
	struct event_loop *l = new_loop();
	struct io nop = { .req.done = io_done, .l = l, .kind = 0 };
	struct yielder y = { .d.fn = yield_run, .turn.fn = turn_end, .l = l };
	struct watch_rec w = { .l = l };
	uint64_t one = 1;
	int id;

	ck_assert_int_eq(event_loop_run_once(l, false), 0); /* nothing pending: idle */
	/* A watched fd: armed at the first turn, its ready() called at a later one, on this thread. */
	w.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(w.fd, 0);
	id = event_loop_watch(l, w.fd, ready, &w);
	ck_assert_int_ge(id, 0);
	ck_assert_int_eq(event_loop_run_once(l, false), 0);
	ck_assert_int_eq(write(w.fd, &one, sizeof(one)), sizeof(one));
	for (int i = 0; i < 100 && !atomic_load(&w.calls); i++)
		ck_assert_int_ge(event_loop_run_once(l, i > 0), 0);
	ck_assert_int_eq(atomic_load(&w.calls), 1);
	ck_assert(pthread_equal(w.thread, pthread_self()));
	ck_assert(!atomic_load(&w.on_loop)); /* not the I/O thread: event_loop_call() said -ESHUTDOWN */
	/* A request: in flight (1) until its completion is dispatched. */
	io_submit(&nop);
	ck_assert_int_ge(event_loop_run_once(l, true), 0);
	ck_assert_int_eq(atomic_load(&nop.done), 1);
	ck_assert_int_eq(atomic_load(&nop.res), 0);
	/* Work put off runs one turn at a time; the turn that queues it again reports work pending. */
	event_loop_later(l, &y.d);
	ck_assert_int_eq(event_loop_run_once(l, false), 1);
	ck_assert_int_eq(atomic_load(&y.runs), 1);
	atomic_store(&y.stop, true);
	ck_assert_int_eq(event_loop_run_once(l, false), 0);
	ck_assert_int_eq(atomic_load(&y.runs), 2);
	ck_assert_int_eq(y.max_runs_per_turn, 1);
	/* With the thread started the ring is the thread's. */
	ck_assert_int_eq(event_loop_start(l), 0);
	ck_assert_int_eq(event_loop_run_once(l, false), -EBUSY);
	event_loop_unwatch(l, id);
	event_loop_destroy(l);
	close(w.fd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("event_loop");
	TCase *tc = tcase_create("event_loop");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, create_start_stop);
	tcase_add_test(tc, watch_fires_on_io_thread);
	tcase_add_test(tc, call_runs_on_io_thread_and_waits);
	tcase_add_test(tc, ev_req_completes);
	tcase_add_test(tc, stop_waits_for_in_flight);
	tcase_add_test(tc, no_fd_leaks);
	tcase_add_test(tc, later_runs_once_per_turn);
	tcase_add_test(tc, run_once_without_thread);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
