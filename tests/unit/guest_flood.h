/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A hostile fake driver for the device suites: a thread that keeps one queue's avail ring full,
 * re-posting each chain as soon as the device completes it, and rings a doorbell (an eventfd the
 * I/O thread watches, as KVM's ioeventfd) only when the device has notifications on. The doorbell
 * calls the device's notify() and records how many chains one call completed.
 */
#ifndef VMM_TESTS_GUEST_FLOOD_H
#define VMM_TESTS_GUEST_FLOOD_H

#include <check.h>
#include <endian.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "event_loop.h"
#include "virtio/device.h"

#define FLOOD_SECONDS 20 /* a safety stop: the test stops the flood long before */

struct flood {
	/* Set by the caller; the descriptor table holds nchains chains at heads 0, stride, 2 * stride... */
	struct event_loop *l;
	const struct virtio_device_ops *ops;
	void *dev;
	unsigned q;
	const struct virtq *vq; /* the device's view of queue q (its used_idx), read on the I/O thread */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t qsize, nchains, stride;
	/* The flood's own. */
	int efd, watch;
	pthread_t thread;
	atomic_bool stop, running;
	atomic_uint completed;
	unsigned max_per_notify; /* I/O thread; read after flood_stop() */
};

static inline void flood_doorbell(void *opaque)
{
	struct flood *f = opaque;
	uint16_t before = f->vq->used_idx;
	unsigned n;
	uint64_t v;

	if (read(f->efd, &v, sizeof(v)) != sizeof(v))
		return; /* drained by an earlier wake-up */
	f->ops->notify(f->dev, f->q);
	n = (uint16_t)(f->vq->used_idx - before);
	if (n > f->max_per_notify)
		f->max_per_notify = n;
}

static inline uint16_t flood_used_idx(const struct flood *f)
{
	return le16toh(__atomic_load_n(&f->used->idx, __ATOMIC_ACQUIRE));
}

static inline void *flood_thread(void *arg)
{
	struct flood *f = arg;
	uint16_t posted = le16toh(f->avail->idx), seen = flood_used_idx(f);
	struct timespec start, now;
	uint64_t one = 1;

	clock_gettime(CLOCK_MONOTONIC, &start);
	now = start;
	for (unsigned n = 0; !atomic_load(&f->stop) && now.tv_sec - start.tv_sec < FLOOD_SECONDS; n++) {
		uint16_t done = flood_used_idx(f);
		bool added = false;

		atomic_fetch_add(&f->completed, (uint16_t)(done - seen));
		seen = done;
		/* Chains complete in order here: the oldest posted is the next free. */
		while ((uint16_t)(posted - done) < f->nchains) {
			f->avail->ring[posted % f->qsize] = htole16((uint16_t)(posted % f->nchains * f->stride));
			posted++;
			added = true;
		}
		if (added) {
			__atomic_store_n(&f->avail->idx, htole16(posted), __ATOMIC_RELEASE);
			/* Full barrier between publishing avail->idx and reading used->flags (as Linux's virtio_mb()). */
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			if (!(le16toh(__atomic_load_n(&f->used->flags, __ATOMIC_RELAXED)) & VRING_USED_F_NO_NOTIFY) &&
			    write(f->efd, &one, sizeof(one)) != sizeof(one))
				break;
		}
		if (n % 1024 == 0)
			clock_gettime(CLOCK_MONOTONIC, &now);
	}
	atomic_store(&f->running, false);
	return NULL;
}

static inline void flood_start(struct flood *f)
{
	f->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ck_assert_int_ge(f->efd, 0);
	f->watch = event_loop_watch(f->l, f->efd, flood_doorbell, f);
	ck_assert_int_ge(f->watch, 0);
	atomic_store(&f->running, true);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, flood_thread, f), 0);
}

/* Wait (up to 10 s: a loaded or sanitized build) until the device completed n of the flood's chains. */
static inline bool flood_wait_completed(struct flood *f, unsigned n)
{
	for (int i = 0; i < 10000 && atomic_load(&f->completed) < n; i++)
		usleep(1000);
	return atomic_load(&f->completed) >= n;
}

static inline void flood_stop(struct flood *f)
{
	atomic_store(&f->stop, true);
	pthread_join(f->thread, NULL);
	event_loop_unwatch(f->l, f->watch);
	close(f->efd);
}

#endif
