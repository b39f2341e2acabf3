/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The host side of one guest console (the UART, a virtio-console port), served on the I/O thread.
 *
 * Output: devices copy the guest's bytes into a bounded ring (console_write(), any thread, never
 * blocks); the I/O thread writes what has piled up to out_fd with io_uring (few large writes), or
 * hands it to the out callback. When the ring is short of room the device holds its transmitter
 * busy and console_want_room() asks to be told (the tx_ready callback, on the I/O thread) once the
 * writer has made room again. A writer that fails for good (EPIPE, EIO, ENOSPC...) switches the
 * console to discarding, counted and said once; the drop policy discards instead of waiting from
 * the start.
 *
 * Input: the I/O thread reads in_fd with io_uring and offers the bytes to the device's sink; what
 * the sink cannot take yet waits (no further read) until the device calls console_rx_kick(). With
 * an escape byte set, ESC 'x' calls on_quit instead, ESC ESC gives one ESC, ESC other gives both.
 */
#ifndef VMM_CONSOLE_H
#define VMM_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/vmm.h>

#include "event_loop.h"
#include "log.h"

#define CONSOLE_RING_SIZE (128u << 10) /* default output backlog */

struct console;

struct console_opts {
	const char *name;        /* "serial", "hvc0": for messages */
	int out_fd;              /* -1: use out_cb (NULL too: output is discarded) */
	int in_fd;               /* -1: no input */
	vmm_console_fn out_cb;   /* with out_fd -1; called on the I/O thread */
	void *out_opaque;
	bool drop;               /* never hold the guest: discard (and count) what does not fit */
	uint8_t escape;          /* 0: none */
	void (*on_quit)(void *opaque); /* ESC 'x' seen on input (I/O thread) */
	void *quit_opaque;
	size_t ring_size;        /* 0: CONSOLE_RING_SIZE; rounded up to a power of two */
	unsigned gather_us;      /* out_fd: let a small backlog gather this long before writing it (0: at once) */
	const struct vlog *log;
};

/* The fds are borrowed (the caller closes them after console_destroy()). -ENOMEM, -EINVAL. */
int console_create(const struct console_opts *o, struct console **out);
/* Start serving on loop: the writer and the input reader. Once. */
int console_start(struct console *c, struct event_loop *loop);
/*
 * Flush what the ring holds (waiting while the writer makes progress, giving up after timeout_ms
 * without any), then cancel the console's I/O. Call from a thread other than the I/O thread, with
 * the loop running, after the devices stopped producing. Idempotent.
 */
void console_stop(struct console *c, unsigned timeout_ms);
void console_destroy(struct console *c);

/* The device side. */
/* Called on the I/O thread once there is room again after console_want_room(). */
void console_set_tx_ready(struct console *c, void (*fn)(void *opaque), void *opaque);
/*
 * Called on the I/O thread with input bytes; returns how many it took (fewer: the rest is offered
 * again after console_rx_kick()).
 */
void console_set_rx_sink(struct console *c, size_t (*fn)(void *opaque, const uint8_t *buf, size_t len),
			 void *opaque);

/*
 * Copy up to len bytes into the output ring. Returns how many were taken: fewer when the ring is
 * full (the rest is the caller's to hold or count), always len when dropping or discarding (what
 * did not fit is counted as dropped). Any thread; never blocks on I/O.
 */
size_t console_write(struct console *c, const void *buf, size_t len);
/* Is there room for n bytes (always true when dropping or discarding)? Any thread. */
bool console_room(struct console *c, size_t n);
/* The device is short of room: call tx_ready once there is room for n bytes (or more). Any thread. */
void console_want_room(struct console *c, size_t n);
/* The sink can take bytes again: offer what waits, resume reading. Any thread; cheap when nothing waits. */
void console_rx_kick(struct console *c);

/*
 * Queue host bytes as input, for a console without in_fd (the library's API): how many were taken
 * (fewer when 4 KiB already wait). No escape processing. Any thread.
 */
size_t console_inject(struct console *c, const void *buf, size_t len);
/*
 * Wait until the writer has written everything the ring held, giving up after timeout_ms without
 * progress. A no-op on the I/O thread itself (it would wait for itself). Any other thread.
 */
void console_flush(struct console *c, unsigned timeout_ms);

/* Bytes discarded so far (drop policy, a failed writer, or after console_stop()). */
uint64_t console_dropped(const struct console *c);
/* One line for --stats: bytes held for the host, the writer's state, room a device waits for. */
void console_describe(struct console *c, char *buf, size_t len);

#endif
