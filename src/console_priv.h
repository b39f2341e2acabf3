/* SPDX-License-Identifier: Apache-2.0 */
/* The console's state, shared by console.c (output, lifecycle) and console_input.c (input). Private. */
#ifndef VMM_CONSOLE_PRIV_H
#define VMM_CONSOLE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/uio.h>

#include "console.h"

#define IN_CHUNK 4096

struct console {
	struct console_opts o;
	const struct vlog *log;
	int kick_fd;          /* eventfd: producers and kicks wake the I/O thread */

	pthread_mutex_t lock; /* guards the ring and the flags below it */
	pthread_cond_t cond;  /* console_stop() waits here for the writer's progress */
	uint8_t *buf;
	size_t size, head, count;
	size_t touched;       /* bytes of buf written since the last reclaim (from its start) */
	size_t want;          /* room a device waits for (0: nobody waits) */
	uint64_t dropped;
	bool discard;         /* the writer failed for good, or the console stopped: output goes nowhere */
	bool silent;          /* no output configured: discarding is not dropping (nothing counted) */
	bool writing;         /* the I/O thread owns [head, head + count) and will look again */
	bool kicked;          /* a kick is pending: the I/O thread will look */
	bool failed_logged;
	unsigned gave_up_ms;   /* a flush gave up on a reader that took nothing for this long (0: none did) */

	void (*tx_ready)(void *opaque);
	void *tx_opaque;
	size_t (*rx_sink)(void *opaque, const uint8_t *buf, size_t len);
	void *rx_opaque;
	atomic_bool rx_waiting; /* input waits for the sink: console_rx_kick() must wake us */
	uint8_t inj[IN_CHUNK];  /* console_inject()'s bytes, under lock */
	size_t inj_len;

	/* The I/O thread only. */
	struct event_loop *loop;
	int watch_id;
	bool started, stopping;
	struct ev_req wreq, pollreq, rreq, rpollreq, treq, noop;
	bool wr_inflight, poll_inflight, rd_inflight, in_eof;
	bool timer_inflight;  /* the gather delay is running (the writer counts as busy meanwhile) */
	bool gathered;        /* the current batch waited its gather delay already */
	struct __kernel_timespec gather_ts;
	struct iovec iov[2];
	uint8_t in[IN_CHUNK];
	uint8_t pend[2 * IN_CHUNK]; /* input after escape processing, not yet taken by the sink */
	size_t pend_off, pend_len;
	bool saw_escape;
};

/* Wake the I/O thread (the console's eventfd). Any thread. */
void console_kick(struct console *c);
/* Submit an ASYNC_CANCEL for req (I/O thread, or any while the loop is not running). */
void console_cancel(struct console *c, struct ev_req *req);

/* console_input.c: the reader, on the I/O thread. */
void console_input_init(struct console *c);
/* Offer what waits to the sink (injected bytes first when nothing else waits), or read more. */
void console_input_resume(struct console *c);
/* Cancel the read in flight (the console stops). */
void console_input_cancel(struct console *c);

#endif
