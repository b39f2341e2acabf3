// SPDX-License-Identifier: Apache-2.0
/* A guest console's input: io_uring reads of in_fd, escape processing, bytes injected by the API, the sink. */
#include <errno.h>
#include <poll.h>
#include <string.h>

#include "console.h"
#include "console_priv.h"

size_t console_inject(struct console *c, const void *buf, size_t len)
{
	size_t n;

	pthread_mutex_lock(&c->lock);
	n = sizeof(c->inj) - c->inj_len;
	if (n > len)
		n = len;
	memcpy(c->inj + c->inj_len, buf, n);
	c->inj_len += n;
	pthread_mutex_unlock(&c->lock);
	if (n)
		console_kick(c);
	return n;
}

void console_rx_kick(struct console *c)
{
	if (atomic_load(&c->rx_waiting))
		console_kick(c);
}

void console_set_rx_sink(struct console *c, size_t (*fn)(void *opaque, const uint8_t *buf, size_t len),
			 void *opaque)
{
	c->rx_sink = fn;
	c->rx_opaque = opaque;
}

static void start_read(struct console *c);

/* Offer the pending input to the sink; read more once it has all been taken. */
static void deliver(struct console *c)
{
	while (c->pend_off < c->pend_len) {
		size_t n;

		atomic_store(&c->rx_waiting, true); /* before the sink: a kick after its short answer finds it set */
		n = c->rx_sink ? c->rx_sink(c->rx_opaque, c->pend + c->pend_off, c->pend_len - c->pend_off)
			       : c->pend_len - c->pend_off;
		if (!n)
			return; /* console_rx_kick() wakes us */
		c->pend_off += n;
	}
	atomic_store(&c->rx_waiting, false);
	c->pend_off = c->pend_len = 0;
	start_read(c);
}

/* Escape processing of n input bytes into pend. Returns false when ESC 'x' asked to quit. */
static bool unescape(struct console *c, const uint8_t *in, size_t n)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		uint8_t ch = in[i];

		if (!c->o.escape) {
			c->pend[k++] = ch;
			continue;
		}
		if (c->saw_escape) {
			c->saw_escape = false;
			if (ch == 'x' || ch == 'X') {
				c->pend_len = k;
				return false;
			}
			if (ch != c->o.escape)
				c->pend[k++] = c->o.escape;
		} else if (ch == c->o.escape) {
			c->saw_escape = true;
			continue;
		}
		c->pend[k++] = ch;
	}
	c->pend_len = k;
	return true;
}

static void read_done(struct ev_req *req, int res)
{
	struct console *c = (struct console *)((char *)req - offsetof(struct console, rreq));

	c->rd_inflight = false;
	if (c->stopping)
		return;
	if (res > 0) {
		c->pend_off = 0;
		if (!unescape(c, c->in, (size_t)res)) {
			c->in_eof = true; /* no more input: the VM stops */
			deliver(c);       /* what came before the escape */
			if (c->o.on_quit)
				c->o.on_quit(c->o.quit_opaque);
			return;
		}
		deliver(c);
		return;
	}
	if (res == -EAGAIN) {
		/* A non-blocking in_fd with nothing to read: wait until it is readable. */
		struct io_uring_sqe *sqe = event_loop_sqe(c->loop, &c->rpollreq);

		if (sqe) {
			io_uring_prep_poll_add(sqe, c->o.in_fd, POLLIN);
			c->rd_inflight = true;
		}
		return;
	}
	if (res == -EINTR) {
		start_read(c);
		return;
	}
	if (res < 0 && res != -ECANCELED)
		vlog_warn(c->log, "console %s: cannot read input: %s; no more input", c->o.name, strerror(-res));
	c->in_eof = true; /* 0 is the end of the input: the guest keeps running without */
}

static void rpoll_done(struct ev_req *req, int res)
{
	struct console *c = (struct console *)((char *)req - offsetof(struct console, rpollreq));

	(void)res;
	c->rd_inflight = false;
	if (!c->stopping)
		start_read(c);
}

static void start_read(struct console *c)
{
	struct io_uring_sqe *sqe;

	if (c->o.in_fd < 0 || c->rd_inflight || c->in_eof || c->stopping || c->pend_len)
		return;
	sqe = event_loop_sqe(c->loop, &c->rreq);
	if (!sqe) {
		console_kick(c); /* the ring is full: try again on the next turn */
		return;
	}
	io_uring_prep_read(sqe, c->o.in_fd, c->in, sizeof(c->in), (uint64_t)-1);
	c->rd_inflight = true;
}

void console_input_init(struct console *c)
{
	c->rreq.done = read_done;
	c->rpollreq.done = rpoll_done;
}

void console_input_resume(struct console *c)
{
	if (c->pend_off == c->pend_len) {
		/* Nothing waits for the sink: take what the API injected, if anything. */
		pthread_mutex_lock(&c->lock);
		memcpy(c->pend, c->inj, c->inj_len);
		c->pend_off = 0;
		c->pend_len = c->inj_len;
		c->inj_len = 0;
		pthread_mutex_unlock(&c->lock);
	}
	if (c->pend_off < c->pend_len)
		deliver(c);
	else
		start_read(c);
}

void console_input_cancel(struct console *c)
{
	if (c->rd_inflight) {
		console_cancel(c, &c->rreq);
		console_cancel(c, &c->rpollreq);
	}
}
