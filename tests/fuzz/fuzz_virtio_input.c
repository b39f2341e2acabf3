// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_virtio_input: the virtio-input power button (src/virtio/input.c) under a hostile driver, against
 * a model of what the guest must see: configuration reads and writes at any offset and width, presses
 * of the button (virtio_input_press(), on the loop's thread: the fuzzing thread is that thread here,
 * the loop's own thread is never started, fuzz_loop.h), driver rounds and notifies on the event queue
 * (0) and the status queue (1), resets and re-activations, snapshots saved and restored into a fresh
 * device, and restores of raw input bytes.
 *
 * Input: u8 cfg (bits 0-3 event queue size 2^(n % 7), bits 4-7 status queue size 2^(n % 7): 1..64,
 * the device's maximum), u8 flags (bit 0 EVENT_IDX, bit 1 no driver yet: the device starts inactive),
 * then operations until the input ends, u8 op (mod 9):
 *   0 a driver round on queue u8 & 1 (fuzz_vq.h)
 *   1 notify queue u8 & 1 (as the transport: only while active, only an enabled queue)
 *   2 press the power button
 *   3 configuration access: u8 offset, u8 mode (bits 0-1 width 1/2/4/8, bit 2 write), u64 value
 *     (an access past the 136 bytes is refused, as the transport does)
 *   4 a loop turn
 *   5 reset
 *   6 activate (queues set up afresh; the transport then notifies the enabled ones): u8 bits, bit 0 the
 *     event queue disabled, bit 1 the status queue disabled, bit 2 first an activation with one queue
 *     (-EINVAL); while active: a second activation (-EBUSY)
 *   7 snapshot: save, restore into a fresh device (re-activated first when live, kicked afterwards),
 *     which replaces the old one
 *   8 restore u8 length bytes of the input into a fresh device, likewise; refused: the old one stays
 * Checked beyond the sanitizers, after every operation:
 * - the device's pending events (its saved record) are what the model says: a press adds key-down,
 *   report, key-up, report unless 4 x VIRTIO_INPUT_MAX_PRESSES events wait already (then it is
 *   dropped), a reset keeps them, a restore sets them; events leave only from the front, in order, and
 *   exactly as many as the event queue completed with 8 bytes: none invented, none lost;
 * - every used entry of the event queue has length 0 or 8, of the status queue 0; the driver reads in
 *   each 8-byte buffer the next event of the model, and only (EV_KEY, KEY_POWER, 1 or 0) and
 *   (EV_SYN, SYN_REPORT, 0) unless a raw restore brought others;
 * - an interrupt names a queue that completed a chain in that operation; a device that asked for a
 *   reset (needs_reset) or was reset completes nothing more until it is activated again; the
 *   configuration never announces a change;
 * - a configuration read fills exactly its width, with the bytes of the answer to the driver's
 *   (select, subsel), which only writes to bytes 0 and 1 set: ID_NAME/0 VIRTIO_INPUT_NAME, ID_DEVIDS/0
 *   BUS_VIRTUAL 0627:0001 version 1, EV_BITS/EV_KEY a bitmap of KEY_POWER alone, anything else size 0
 *   and zeros;
 * - a restore returns 0 exactly for a well-formed record (u8 select, u8 subsel, u8 n <= 16, n events of
 *   8 bytes, nothing left over), else -EINVAL with the fresh device untouched; a saved record restores.
 * Used rings are read only while the device's own writes (the 8 bytes of each event) are known to
 * have gone to buffers above FVQ_DATA, away from every ring (the checks pause until the next
 * activation otherwise), and not after a restore brought foreign events; the pending events are
 * checked always.
 */
#include <errno.h>
#include <linux/input.h>
#include <linux/virtio_config.h>
#include <linux/virtio_input.h>

#include "fuzz_loop.h"
#include "fuzz_vq.h"
#include "virtio/input.h"

#define MAX_EVENTS (4 * VIRTIO_INPUT_MAX_PRESSES)
#define CFG_SIZE sizeof(struct virtio_input_config)

struct ev {
	uint16_t type, code;
	uint32_t value;
};

struct state {
	struct fvq_driver d;
	struct virtq vq[2];
	uint8_t qsize_log[2];
	bool event_idx;
	void *dev;
	struct virtio_ctx ctx;
	bool active;           /* activated since the last reset */
	bool stopped;          /* needs_reset() since then */
	bool ring_tainted;     /* the device's writes may have reached a ring: used rings unread until activation */
	bool foreign;          /* a restore brought events a press does not make */
	unsigned irqs;         /* queues interrupted during this operation */
	uint16_t seen_used[2]; /* fvq_check_used()'s */
	uint16_t my_used[2];   /* this target's walk */
	/* The model. */
	uint8_t select, subsel;
	struct ev pending[MAX_EVENTS];
	unsigned npending;
};

static bool allowed(const struct ev *e)
{
	return (e->type == EV_KEY && e->code == KEY_POWER && e->value <= 1) ||
	       (e->type == EV_SYN && e->code == SYN_REPORT && e->value == 0);
}

static bool ev_eq(const struct ev *a, const struct ev *b)
{
	return a->type == b->type && a->code == b->code && a->value == b->value;
}

static void irq(void *opaque, unsigned q)
{
	struct state *s = opaque;

	FUZZ_CHECK(q < 2);
	FUZZ_CHECK(s->active);
	s->irqs |= 1u << q;
}

static void needs_reset(void *opaque)
{
	struct state *s = opaque;

	FUZZ_CHECK(s->active);
	s->stopped = true;
}

static void config_changed(void *opaque)
{
	(void)opaque;
	FUZZ_CHECK(!"the configuration of a power button never changes by itself");
}

/* The device's record: select, subsel and its pending events, checked for form. */
static void saved(void *dev, uint8_t *select, uint8_t *subsel, struct ev *ev, unsigned *n)
{
	struct sbuf b;
	const uint8_t *p;

	sbuf_init(&b);
	FUZZ_CHECK(virtio_input_ops.inflight(dev) == 0);
	FUZZ_CHECK(virtio_input_ops.save(dev, &b) == 0);
	FUZZ_CHECK(b.len >= 3);
	p = b.data;
	*select = p[0];
	*subsel = p[1];
	*n = p[2];
	FUZZ_CHECK(*n <= MAX_EVENTS && b.len == 3 + 8ull * *n);
	for (unsigned i = 0; i < *n; i++) {
		const uint8_t *e = p + 3 + 8 * i;

		ev[i] = (struct ev){ .type = (uint16_t)(e[0] | e[1] << 8), .code = (uint16_t)(e[2] | e[3] << 8),
				     .value = (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 |
					      (uint32_t)e[7] << 24 };
	}
	sbuf_free(&b);
}

/* The whole configuration space the driver would see, as the model says. */
static void expected_config(uint8_t select, uint8_t subsel, uint8_t *c)
{
	memset(c, 0, CFG_SIZE);
	c[0] = select;
	c[1] = subsel;
	if (select == VIRTIO_INPUT_CFG_ID_NAME && subsel == 0) {
		c[2] = (uint8_t)strlen(VIRTIO_INPUT_NAME);
		memcpy(c + 8, VIRTIO_INPUT_NAME, c[2]);
	} else if (select == VIRTIO_INPUT_CFG_ID_DEVIDS && subsel == 0) {
		static const uint8_t ids[8] = { BUS_VIRTUAL, 0, 0x27, 0x06, 0x01, 0, 0x01, 0 };

		c[2] = sizeof(ids);
		memcpy(c + 8, ids, sizeof(ids));
	} else if (select == VIRTIO_INPUT_CFG_EV_BITS && subsel == EV_KEY) {
		c[2] = KEY_POWER / 8 + 1;
		c[8 + KEY_POWER / 8] = 1u << (KEY_POWER % 8);
	}
}

static void check_config(void *dev, uint8_t select, uint8_t subsel)
{
	uint8_t want[CFG_SIZE], got[CFG_SIZE];

	expected_config(select, subsel, want);
	for (uint32_t off = 0; off < CFG_SIZE; off += 8)
		virtio_input_ops.config_read(dev, off, got + off, 8);
	FUZZ_CHECK(memcmp(want, got, CFG_SIZE) == 0);
}

static void config(struct state *s, struct fz *f)
{
	uint32_t off = fz_u8(f);
	uint8_t mode = fz_u8(f);
	uint32_t len = fz_width(mode);
	uint64_t v = fz_u64(f);
	uint8_t buf[8 + 16], want[CFG_SIZE];

	if (off + len > CFG_SIZE)
		return; /* the transport checks off + len <= config_size */
	if (mode & 4) {
		memcpy(buf, &v, len);
		virtio_input_ops.config_write(s->dev, off, buf, len);
		for (uint32_t i = 0; i < len; i++) {
			if (off + i == 0)
				s->select = buf[i];
			else if (off + i == 1)
				s->subsel = buf[i];
		}
		return;
	}
	memset(buf, 0xa5, sizeof(buf));
	virtio_input_ops.config_read(s->dev, off, buf + 8, len);
	for (unsigned i = 0; i < sizeof(buf); i++)
		if (i < 8 || i >= 8 + len)
			FUZZ_CHECK(buf[i] == 0xa5); /* exactly its width */
	expected_config(s->select, s->subsel, want);
	FUZZ_CHECK(memcmp(buf + 8, want + off, len) == 0);
	check_config(s->dev, s->select, s->subsel);
}

/* The transport after DRIVER_OK (or a restore of a live device): activate, then kick the enabled queues. */
static void kick(struct state *s)
{
	for (unsigned q = 0; q < 2; q++)
		if (s->vq[q].size)
			virtio_input_ops.notify(s->dev, q);
}

static void activate(struct state *s, uint8_t bits)
{
	struct virtio_ctx one = s->ctx;

	if (s->active) {
		FUZZ_CHECK(virtio_input_ops.activate(s->dev, &s->ctx) == -EBUSY);
		return;
	}
	for (unsigned q = 0; q < 2; q++) {
		memset(&s->vq[q], 0, sizeof(s->vq[q]));
		if (bits & (1u << q)) {
			fvq_init(&s->d, q, 1, s->event_idx, &s->vq[q]); /* zeroes the rings */
			memset(&s->vq[q], 0, sizeof(s->vq[q]));       /* disabled: size 0 */
			s->d.size[q] = 0;
		} else {
			FUZZ_CHECK(fvq_init(&s->d, q, fvq_size(s->qsize_log[q]), s->event_idx, &s->vq[q]) == 0);
		}
		s->seen_used[q] = s->my_used[q] = 0;
		s->d.used_shared[q] = false;
	}
	s->ring_tainted = false;
	if (bits & 4) {
		one.nvq = 1;
		FUZZ_CHECK(virtio_input_ops.activate(s->dev, &one) == -EINVAL);
	}
	FUZZ_CHECK(virtio_input_ops.activate(s->dev, &s->ctx) == 0);
	s->active = true;
	s->stopped = false;
	kick(s);
}

static void do_reset(struct state *s)
{
	virtio_input_ops.reset(s->dev);
	s->active = false;
	s->stopped = false;
}

/* A fresh device, as set-up makes it; re-activated on the same queues when the old one was live. */
static void *fresh(struct state *s, bool live)
{
	void *dev;

	FUZZ_CHECK(virtio_input_create(&fuzz_log, &dev) == 0);
	if (live)
		FUZZ_CHECK(virtio_input_ops.activate(dev, &s->ctx) == 0);
	return dev;
}

/* The restored device takes over: the old one is reset and freed, the live queues kicked. */
static void replace(struct state *s, void *dev, bool live)
{
	virtio_input_ops.reset(s->dev);
	virtio_input_ops.destroy(s->dev);
	s->dev = dev;
	s->active = live;
	s->stopped = false;
	if (live)
		kick(s);
}

static void snapshot(struct state *s)
{
	bool live = s->active && !s->stopped;
	struct sbuf b;
	struct sreader r;
	void *dev;

	sbuf_init(&b);
	FUZZ_CHECK(virtio_input_ops.save(s->dev, &b) == 0);
	dev = fresh(s, live);
	sreader_init(&r, b.data, b.len);
	FUZZ_CHECK(virtio_input_ops.restore(dev, &r) == 0);
	FUZZ_CHECK(sr_done(&r));
	sbuf_free(&b);
	replace(s, dev, live);
	check_config(s->dev, s->select, s->subsel);
}

static void restore_raw(struct state *s, struct fz *f)
{
	bool live = s->active && !s->stopped;
	size_t n;
	const uint8_t *p = fz_take(f, fz_u8(f), &n);
	uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: a read past them is the sanitizer's */
	bool well_formed = n >= 3 && p[2] <= MAX_EVENTS && n == 3 + 8u * p[2];
	struct sreader r;
	void *dev;
	int ret;

	FUZZ_CHECK(copy);
	memcpy(copy, p, n);
	dev = fresh(s, live);
	sreader_init(&r, copy, n);
	ret = virtio_input_ops.restore(dev, &r);
	if (!well_formed) {
		uint8_t sel, sub;
		struct ev ev[MAX_EVENTS];
		unsigned k;

		FUZZ_CHECK(ret == -EINVAL);
		saved(dev, &sel, &sub, ev, &k); /* untouched: as set-up made it */
		FUZZ_CHECK(sel == 0 && sub == 0 && k == 0);
		check_config(dev, 0, 0);
		virtio_input_ops.reset(dev);
		virtio_input_ops.destroy(dev);
		free(copy);
		return;
	}
	FUZZ_CHECK(ret == 0);
	s->select = p[0];
	s->subsel = p[1];
	s->npending = p[2];
	for (unsigned i = 0; i < s->npending; i++) {
		const uint8_t *e = p + 3 + 8 * i;

		s->pending[i] = (struct ev){ .type = (uint16_t)(e[0] | e[1] << 8), .code = (uint16_t)(e[2] | e[3] << 8),
					     .value = (uint32_t)e[4] | (uint32_t)e[5] << 8 | (uint32_t)e[6] << 16 |
						      (uint32_t)e[7] << 24 };
		if (!allowed(&s->pending[i]))
			s->foreign = true;
	}
	free(copy);
	replace(s, dev, live);
	check_config(s->dev, s->select, s->subsel);
}

static void press(struct state *s)
{
	static const struct ev press_events[4] = {
		{ EV_KEY, KEY_POWER, 1 },
		{ EV_SYN, SYN_REPORT, 0 },
		{ EV_KEY, KEY_POWER, 0 },
		{ EV_SYN, SYN_REPORT, 0 },
	};

	if (s->npending + 4 <= MAX_EVENTS) { /* else dropped: VIRTIO_INPUT_MAX_PRESSES wait already */
		memcpy(s->pending + s->npending, press_events, sizeof(press_events));
		s->npending += 4;
	}
	virtio_input_press(s->dev);
}

/*
 * Where the device wrote the event of a used entry of the event queue: the one buffer of a lone
 * writable descriptor, above FVQ_DATA and inside one region; 0 when unknown (a chain, an indirect
 * table, a buffer among the rings or the head out of range).
 */
static uint64_t event_buffer(struct state *s, uint32_t head)
{
	struct vring_desc dsc;
	uint64_t addr;
	uint16_t flags;

	if (head >= s->d.size[0])
		return 0;
	memcpy(&dsc, fvq_ptr(&s->d, FVQ_DESC(0) + 16ull * head, 16), 16);
	addr = le64toh(dsc.addr);
	flags = le16toh(dsc.flags);
	if ((flags & (VRING_DESC_F_NEXT | VRING_DESC_F_INDIRECT)) || !(flags & VRING_DESC_F_WRITE) ||
	    le32toh(dsc.len) < sizeof(struct virtio_input_event) || addr < FVQ_DATA || addr >= 2 * FVQ_RAM_SIZE ||
	    addr % FVQ_RAM_SIZE > FVQ_RAM_SIZE - sizeof(struct virtio_input_event))
		return 0;
	return addr;
}

/* After every operation: the checks at the top of this file. */
static void check(struct state *s, bool stopped_before, bool active_before)
{
	uint16_t idx[2], moved[2] = { 0, 0 };
	uint64_t where[FVQ_MAX_SIZE];
	struct ev dev_ev[MAX_EVENTS];
	uint8_t sel, sub;
	unsigned n8 = 0, k, ndev;
	bool readable, known = true;

	/* The pending events: the device's must be what the model has left after the first k went out. */
	saved(s->dev, &sel, &sub, dev_ev, &ndev);
	FUZZ_CHECK(sel == s->select && sub == s->subsel);
	FUZZ_CHECK(ndev <= s->npending); /* nothing invented (a press the model dropped shows here) */
	k = s->npending - ndev;
	for (unsigned i = 0; i < ndev; i++)
		FUZZ_CHECK(ev_eq(&dev_ev[i], &s->pending[k + i])); /* in order, from the front */

	/* The used rings. A buffer over either queue's used rings shares both with the device (fuzz_vq.h). */
	if (!fvq_used_private(&s->d, 0) || !fvq_used_private(&s->d, 1))
		s->d.used_shared[0] = s->d.used_shared[1] = true;
	readable = !s->ring_tainted && !s->foreign;
	for (unsigned q = 0; q < 2; q++) {
		idx[q] = s->d.size[q] ? fvq_get16(&s->d, FVQ_USED(q) + 2) : s->my_used[q];
		moved[q] = (uint16_t)(idx[q] - s->my_used[q]);
	}
	if (readable && s->d.size[0]) {
		/*
		 * Where did this operation's events go? Should one have reached a ring, the last to do so
		 * has an entry that is still intact and names a head that is not a lone buffer above the
		 * rings (a press's 8 bytes cannot forge one): found here, and nothing of the rings is
		 * trusted any more. Else every entry is as the device wrote it. The index is the device's
		 * either way (written after every event); the status queue's may not be, so it waits.
		 */
		FUZZ_CHECK(moved[0] <= s->d.size[0]); /* a pass takes at most a queue's worth */
		for (uint16_t i = s->my_used[0]; i != idx[0]; i++) {
			struct vring_used_elem e;

			memcpy(&e, fvq_ptr(&s->d, FVQ_USED(0) + 4 + 8ull * (i % s->d.size[0]), 8), 8);
			if (le32toh(e.len) == 0)
				continue;
			where[n8] = event_buffer(s, le32toh(e.id));
			if (!where[n8])
				known = false;
			n8++;
		}
		if (!known)
			s->ring_tainted = true; /* until the rings are set up afresh */
		for (uint16_t i = s->my_used[0]; i != idx[0] && known; i++) {
			struct vring_used_elem e;

			memcpy(&e, fvq_ptr(&s->d, FVQ_USED(0) + 4 + 8ull * (i % s->d.size[0]), 8), 8);
			FUZZ_CHECK(le32toh(e.len) == 0 || le32toh(e.len) == sizeof(struct virtio_input_event));
		}
	}
	readable = readable && !s->ring_tainted;
	if (readable) {
		bool apart = true;

		if (s->d.size[1]) {
			FUZZ_CHECK(moved[1] <= s->d.size[1]);
			for (uint16_t i = s->my_used[1]; i != idx[1]; i++) {
				struct vring_used_elem e;

				memcpy(&e, fvq_ptr(&s->d, FVQ_USED(1) + 4 + 8ull * (i % s->d.size[1]), 8), 8);
				FUZZ_CHECK(le32toh(e.len) == 0);
			}
		}
		FUZZ_CHECK(n8 == k); /* every event that left went to the driver, in a buffer of its own */
		for (unsigned i = 0; i < n8; i++)
			for (unsigned j = i + 1; j < n8; j++)
				if (where[i] < where[j] + 8 && where[j] < where[i] + 8)
					apart = false; /* the later event wrote over the earlier */
		for (unsigned i = 0; i < n8 && apart; i++) {
			struct virtio_input_event raw;
			struct ev e;

			memcpy(&raw, fvq_ptr(&s->d, where[i], sizeof(raw)), sizeof(raw));
			e = (struct ev){ le16toh(raw.type), le16toh(raw.code), le32toh(raw.value) };
			FUZZ_CHECK(ev_eq(&e, &s->pending[i]));
			FUZZ_CHECK(allowed(&e));
		}
		for (unsigned q = 0; q < 2; q++) {
			if (s->irqs & (1u << q))
				FUZZ_CHECK(moved[q] != 0); /* an interrupt for something completed */
			if (stopped_before || (!active_before && !s->active))
				FUZZ_CHECK(moved[q] == 0); /* a stopped or reset device keeps off the rings */
		}
	}
	s->irqs = 0;
	for (unsigned q = 0; q < 2; q++) {
		fvq_check_used(&s->d, q, &s->seen_used[q]);
		s->my_used[q] = idx[q];
	}
	memmove(s->pending, s->pending + k, ndev * sizeof(s->pending[0]));
	s->npending = ndev;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct event_loop *loop = fuzz_loop();
	struct fz f = fz_init(data, size);
	uint8_t cfg = fz_u8(&f), flags = fz_u8(&f);

	memset(&s, 0, sizeof(s));
	if (fvq_ram_init(&s.d))
		return 0;
	s.qsize_log[0] = (cfg & 0xf) % 7;
	s.qsize_log[1] = (cfg >> 4) % 7;
	s.event_idx = flags & 1;
	FUZZ_CHECK(virtio_input_create(&fuzz_log, &s.dev) == 0);
	FUZZ_CHECK(virtio_input_ops.num_queues(s.dev) == 2 && virtio_input_ops.queue_max_size == 64);
	s.ctx = (struct virtio_ctx){ .mem = &s.d.ram.m, .loop = loop, .vq = s.vq, .nvq = 2, .interrupt = irq,
				     .needs_reset = needs_reset, .config_changed = config_changed, .irq_opaque = &s };
	s.ctx.features = virtio_input_ops.features(s.dev) | 1ull << VIRTIO_F_VERSION_1 |
			 (s.event_idx ? 1ull << VIRTIO_RING_F_EVENT_IDX : 0);
	if (!(flags & 2))
		activate(&s, 0);
	check(&s, false, s.active);

	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);
		bool stopped_before = s.stopped, active_before = s.active;

		switch (op % 9) {
		case 0: {
			unsigned q = fz_u8(&f) & 1;

			fvq_round(&s.d, q, &f);
			break;
		}
		case 1: {
			unsigned q = fz_u8(&f) & 1;

			if (s.active && s.vq[q].size)
				virtio_input_ops.notify(s.dev, q);
			break;
		}
		case 2:
			press(&s);
			break;
		case 3:
			config(&s, &f);
			break;
		case 4:
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		case 5:
			do_reset(&s);
			break;
		case 6:
			activate(&s, fz_u8(&f));
			break;
		case 7:
			snapshot(&s);
			break;
		case 8:
			restore_raw(&s, &f);
			break;
		}
		check(&s, stopped_before, active_before);
	}
	virtio_input_ops.reset(s.dev);
	virtio_input_ops.destroy(s.dev);
	fuzz_loop_settle(loop, false);
	fvq_ram_free(&s.d);
	return 0;
}
