// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_virtio_console: the virtio-console device (src/virtio/console.c) with a fake host backend
 * that runs short of room, under a hostile driver: transmit chains written out buffer by buffer
 * across short writes and tx_ready(), receive chains filled with host input, emergency writes,
 * budgets that put work off to the loop's next turn, resets in the middle of a held chain, and the
 * configuration space. The device's loop work (deferred interrupts, work put off) runs on the
 * fuzzing thread through event_loop_run_once() (fuzz_loop.h).
 *
 * Input: u8 cfg (bits 0-3 receive queue size 2^n, bits 4-7 transmit queue size 2^n), u8 flags
 * (bit 0 EVENT_IDX, bit 1 the backend calls tx_ready() from inside want_room(), bit 2 unlimited
 * room, bit 3 a console size), u16 initial room, then operations until the input ends, u8 op
 * (mod 8): 0 a driver round on queue u8 & 1 (fuzz_vq.h), 1 notify queue u8 & 1, 2 host input
 * (u8 length, bytes; what the device cannot take waits for rx_kick), 3 u8 more bytes of room and
 * tx_ready(), 4 a loop turn, 5 configuration read or write (u8 offset, u8 length, u32 value),
 * 6 reset, 7 activate (queues set up afresh).
 * Checked beyond the sanitizers: the backend gets only bytes from guest RAM (or one emergency
 * byte), never more than offered; want_room() asks for 1..VIRTIO_CONSOLE_ROOM_MAX bytes; host
 * input is delivered in order, never more than given; interrupts name queue 0 or 1.
 */
#include <linux/virtio_config.h>

#include "fuzz_loop.h"
#include "fuzz_vq.h"
#include "virtio/console.h"

#define INPUT_MAX 512

struct state {
	struct fvq_driver d;
	struct virtq vq[2];
	uint8_t qsize_log[2];
	bool event_idx, ready_inline, unlimited, active;
	void *dev;
	struct virtio_ctx ctx;
	size_t room;
	bool in_emerg;
	uint8_t input[INPUT_MAX]; /* host input not yet taken by the device */
	size_t input_len;
	uint16_t seen_used[2];
};

static size_t be_write(void *opaque, const void *buf, size_t len)
{
	struct state *s = opaque;
	size_t n = s->unlimited || len <= s->room ? len : s->room;

	FUZZ_CHECK(len > 0);
	FUZZ_CHECK(s->in_emerg ? len == 1 : fuzz_ram_holds(&s->d.ram, buf, len));
	if (n) {
		volatile uint8_t x = ((const uint8_t *)buf)[0] ^ ((const uint8_t *)buf)[n - 1];

		(void)x;
	}
	if (!s->unlimited)
		s->room -= n;
	return n;
}

static void be_want_room(void *opaque, size_t n)
{
	struct state *s = opaque;

	FUZZ_CHECK(n >= 1 && n <= VIRTIO_CONSOLE_ROOM_MAX);
	if (s->ready_inline) {
		s->room += n; /* room appeared meanwhile: allowed from inside want_room() */
		virtio_console_tx_ready(s->dev);
	}
}

/* Offer the input the device has not taken yet (from rx_kick, or a new arrival). */
static void offer(struct state *s)
{
	size_t n;

	if (!s->input_len)
		return;
	n = virtio_console_rx(s->dev, s->input, s->input_len);
	FUZZ_CHECK(n <= s->input_len);
	memmove(s->input, s->input + n, s->input_len - n);
	s->input_len -= n;
}

static void be_rx_kick(void *opaque)
{
	offer(opaque);
}

static void irq(void *opaque, unsigned q)
{
	(void)opaque;
	FUZZ_CHECK(q < 2);
}

static void needs_reset(void *opaque)
{
	(void)opaque;
}

static void activate(struct state *s)
{
	int ret;

	if (s->active)
		return;
	for (unsigned q = 0; q < 2; q++) {
		memset(&s->vq[q], 0, sizeof(s->vq[q]));
		FUZZ_CHECK(fvq_init(&s->d, q, fvq_size(s->qsize_log[q]), s->event_idx, &s->vq[q]) == 0);
		s->seen_used[q] = 0;
	}
	s->ctx.vq = s->vq;
	ret = virtio_console_ops.activate(s->dev, &s->ctx);
	FUZZ_CHECK(ret == 0);
	s->active = true;
	/* The transport notifies every enabled queue right after a successful activate. */
	virtio_console_ops.notify(s->dev, 0);
	virtio_console_ops.notify(s->dev, 1);
}

static void config(struct state *s, struct fz *f)
{
	size_t cs = virtio_console_ops.config_size;
	uint32_t off = fz_u8(f) % cs, len = fz_u8(f) % 5, v = fz_u32(f);
	uint8_t buf[4];

	if (len == 0 || off + len > cs)
		return; /* the transport checks off + len <= config_size */
	if (fz_u8(f) & 1) {
		memcpy(buf, &v, len);
		s->in_emerg = true;
		virtio_console_ops.config_write(s->dev, off, buf, len);
		s->in_emerg = false;
	} else {
		virtio_console_ops.config_read(s->dev, off, buf, len);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct event_loop *loop = fuzz_loop();
	struct fz f = fz_init(data, size);
	uint8_t cfg = fz_u8(&f), flags = fz_u8(&f);
	struct virtio_console_opts o = { .backend = { .write = be_write, .want_room = be_want_room,
						      .rx_kick = be_rx_kick, .opaque = &s } };

	memset(&s, 0, sizeof(s));
	if (fvq_ram_init(&s.d))
		return 0;
	s.qsize_log[0] = cfg & 0xf;
	s.qsize_log[1] = cfg >> 4;
	s.event_idx = flags & 1;
	s.ready_inline = flags & 2;
	s.unlimited = flags & 4;
	s.room = fz_u16(&f);
	if (flags & 8) {
		o.cols = 80;
		o.rows = 25;
	}
	FUZZ_CHECK(virtio_console_create(&o, &fuzz_log, &s.dev) == 0);
	s.ctx = (struct virtio_ctx){ .mem = &s.d.ram.m, .loop = loop, .nvq = 2, .interrupt = irq,
				     .needs_reset = needs_reset, .config_changed = needs_reset, .irq_opaque = &s };
	s.ctx.features = virtio_console_ops.features(s.dev) | 1ull << VIRTIO_F_VERSION_1 |
			 (s.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	activate(&s);

	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);

		switch (op % 8) {
		case 0: {
			unsigned q = fz_u8(&f) & 1;

			fvq_round(&s.d, q, &f);
			break;
		}
		case 1:
			virtio_console_ops.notify(s.dev, fz_u8(&f) & 1);
			break;
		case 2: {
			size_t n;
			const uint8_t *p = fz_take(&f, fz_u8(&f), &n);

			if (n > INPUT_MAX - s.input_len)
				n = INPUT_MAX - s.input_len;
			memcpy(s.input + s.input_len, p, n);
			s.input_len += n;
			offer(&s);
			break;
		}
		case 3:
			s.room += fz_u8(&f);
			virtio_console_tx_ready(s.dev);
			break;
		case 4:
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		case 5:
			config(&s, &f);
			break;
		case 6:
			virtio_console_ops.reset(s.dev);
			s.active = false;
			break;
		case 7:
			activate(&s);
			break;
		}
		if (s.active) {
			fvq_check_used(&s.d, 0, &s.seen_used[0]);
			fvq_check_used(&s.d, 1, &s.seen_used[1]);
		}
	}
	virtio_console_ops.reset(s.dev);
	virtio_console_ops.destroy(s.dev);
	fuzz_loop_settle(loop, false); /* frees the device if the loop still held its callbacks */
	fvq_ram_free(&s.d);
	return 0;
}
