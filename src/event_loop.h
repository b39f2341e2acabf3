/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The I/O thread: one io_uring that serves every device backend. Watched file descriptors
 * (ioeventfds of virtio queues, a tap, timers) are multishot polls; disk and network I/O are
 * SQEs whose user_data points at a struct ev_req that names the completion callback. Devices
 * do their queue work on this thread only; other threads reach it with event_loop_call().
 */
#ifndef VMM_EVENT_LOOP_H
#define VMM_EVENT_LOOP_H

#include <stdbool.h>

#include <liburing.h>

#include "log.h"

struct event_loop;

/* A submitted operation: res is the CQE's result (bytes or -errno). Called on the I/O thread. */
struct ev_req {
	void (*done)(struct ev_req *req, int res);
};

/* entries: the ring size (power of two). -errno (and a message) when io_uring is unavailable. */
int event_loop_create(unsigned entries, const struct vlog *log, struct event_loop **out);
/* Start the I/O thread. */
int event_loop_start(struct event_loop *l);
/* Before event_loop_start(): fn(opaque) is the I/O thread's first call (its name, its seccomp filter). */
void event_loop_on_start(struct event_loop *l, void (*fn)(void *opaque), void *opaque);
/* Stop the thread (stop eventfd + join; in-flight SQEs are waited for first). Idempotent. */
void event_loop_stop(struct event_loop *l);
void event_loop_destroy(struct event_loop *l);

/*
 * Call ready(opaque) on the I/O thread each time fd becomes readable (the callback drains it,
 * e.g. reads the eventfd). Before or after start, from any thread. Returns an id >= 0 or -errno.
 */
int event_loop_watch(struct event_loop *l, int fd, void (*ready)(void *opaque), void *opaque);
/* Stop watching (any thread; returns once ready() can no longer run for it). */
void event_loop_unwatch(struct event_loop *l, int id);

/*
 * On the I/O thread only: an SQE whose completion will call req->done; NULL when the ring is
 * full (the caller retries from a later completion: backpressure). SQEs are submitted when the
 * current callback returns to the loop (batched).
 */
struct io_uring_sqe *event_loop_sqe(struct event_loop *l, struct ev_req *req);

/*
 * On the I/O thread only: run d->fn(d) once, after the current batch of completions has been
 * handled (coalescing per-batch work such as guest interrupts). Queuing an already queued d is a
 * no-op. d must stay valid until it has run or the loop has stopped.
 */
struct ev_defer {
	void (*fn)(struct ev_defer *d);
	struct ev_defer *next; /* owned by the loop */
	bool queued;           /* owned by the loop */
};
void event_loop_defer(struct event_loop *l, struct ev_defer *d);

/*
 * On the I/O thread only: run d->fn(d) once on the loop's next turn, after it has gathered new
 * completions, watched fds and calls (without sleeping while d waits). For work cut short so the
 * other devices get their turn (a guest re-posting requests as fast as they complete must not pin
 * the thread). Queuing an already queued d is a no-op; d is not also passed to event_loop_defer().
 * event_loop_stop() waits until nothing is queued here.
 */
void event_loop_later(struct event_loop *l, struct ev_defer *d);

/*
 * Run fn(arg) on the I/O thread and wait until it has returned (from any other thread; called on
 * the I/O thread itself it runs fn at once). 0, or -ESHUTDOWN when the loop is not running (then
 * fn runs on the calling thread: there is no I/O thread to race with).
 */
int event_loop_call(struct event_loop *l, void (*fn)(void *arg), void *arg);
/*
 * For unit tests and fuzz targets that drive devices without an I/O thread: run one turn of the
 * loop on the calling thread (arm watches, submit, dispatch the completions that are there, then
 * the work put off to this turn and the deferred calls). wait: block until a completion arrives
 * when nothing else is pending. Only while the loop's thread is not started (-EBUSY). Returns 1
 * while work remains (requests in flight, work put off to the next turn), 0 when idle, -EIO when
 * io_uring_enter failed.
 */
int event_loop_run_once(struct event_loop *l, bool wait);
/* Is the calling thread l's I/O thread? */
bool event_loop_on_thread(struct event_loop *l);

#endif
