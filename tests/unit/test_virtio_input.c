// SPDX-License-Identifier: Apache-2.0
/* virtio-input, the power button, without KVM: a fake guest RAM and driver, a real I/O thread. */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <linux/input.h>
#include <linux/virtio_input.h>
#include <stdint.h>
#include <string.h>

#include "virtio/input.h"
#include "unit.h"
#include "virtq_driver.h"

#define EVENTQ 0
#define STATUSQ 1

static void drop_msg(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
}

static const struct vlog quiet = { .fn = drop_msg, .level = VMM_LOG_ERROR };

static void press_fn(void *dev)
{
	virtio_input_press(dev);
}

static void press(struct virtq_driver *vd)
{
	ck_assert_int_eq(event_loop_call(vd->l, press_fn, vd->dev), 0);
}

/* A device, activated. */
static void setup(struct virtq_driver *vd)
{
	memset(vd, 0, sizeof(*vd));
	vqd_init(vd, &quiet);
	ck_assert_int_eq(virtio_input_create(&quiet, &vd->dev), 0);
	vqd_start(vd, &virtio_input_ops, 2, 0);
}

/* Post n 8-byte event buffers on the event queue; their GPAs in gpa[]. */
static void post_events(struct virtq_driver *vd, unsigned n, uint64_t *gpa)
{
	for (unsigned i = 0; i < n; i++) {
		struct vqd_buf b = { .gpa = vqd_alloc(vd, 8), .len = 8, .write = true };

		memset(vd->ram + b.gpa, 0xee, 8);
		vqd_add_chain(vd, EVENTQ, &b, 1);
		gpa[i] = b.gpa;
	}
}

static void check_event(struct virtq_driver *vd, uint64_t gpa, uint16_t type, uint16_t code, uint32_t value)
{
	struct virtio_input_event e;

	memcpy(&e, vd->ram + gpa, sizeof(e));
	ck_assert_uint_eq(le16toh(e.type), type);
	ck_assert_uint_eq(le16toh(e.code), code);
	ck_assert_uint_eq(le32toh(e.value), value);
}

/* The four events of one press, in four buffers. */
static void check_press(struct virtq_driver *vd, const uint64_t *gpa)
{
	check_event(vd, gpa[0], EV_KEY, KEY_POWER, 1);
	check_event(vd, gpa[1], EV_SYN, SYN_REPORT, 0);
	check_event(vd, gpa[2], EV_KEY, KEY_POWER, 0);
	check_event(vd, gpa[3], EV_SYN, SYN_REPORT, 0);
}

static void cfg_ask(void *dev, uint8_t select, uint8_t subsel, struct virtio_input_config *c)
{
	virtio_input_ops.config_write(dev, 0, &select, 1);
	virtio_input_ops.config_write(dev, 1, &subsel, 1);
	virtio_input_ops.config_read(dev, 0, c, sizeof(*c));
}

START_TEST(config_answers)
{
	struct virtio_input_config c;
	void *dev;

	ck_assert_int_eq(virtio_input_create(&quiet, &dev), 0);
	ck_assert_uint_eq(virtio_input_ops.config_size, 136);
	ck_assert_uint_eq(virtio_input_ops.device_id, 18);
	cfg_ask(dev, VIRTIO_INPUT_CFG_ID_NAME, 0, &c);
	ck_assert_uint_eq(c.select, VIRTIO_INPUT_CFG_ID_NAME);
	ck_assert_uint_eq(c.size, strlen(VIRTIO_INPUT_NAME));
	ck_assert_mem_eq(c.u.string, VIRTIO_INPUT_NAME, c.size);
	cfg_ask(dev, VIRTIO_INPUT_CFG_ID_DEVIDS, 0, &c);
	ck_assert_uint_eq(c.size, 8);
	ck_assert_uint_eq(le16toh(c.u.ids.bustype), BUS_VIRTUAL);
	/* Which events: EV_KEY with KEY_POWER, nothing else. */
	cfg_ask(dev, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY, &c);
	ck_assert_uint_eq(c.size, KEY_POWER / 8 + 1);
	for (unsigned bit = 0; bit < c.size * 8u; bit++)
		ck_assert_int_eq(!!(c.u.bitmap[bit / 8] & (1u << (bit % 8))), bit == KEY_POWER);
	for (unsigned ev = 0; ev < 256; ev++) {
		if (ev == EV_KEY)
			continue;
		cfg_ask(dev, VIRTIO_INPUT_CFG_EV_BITS, (uint8_t)ev, &c);
		ck_assert_uint_eq(c.size, 0);
	}
	/* Every other question, and every subsel of the named ones but 0: size 0, an all-zero answer. */
	for (unsigned sel = 0; sel < 256; sel++) {
		for (unsigned sub = 0; sub < 256; sub += 37) {
			static const uint8_t zero[128];

			if (sel == VIRTIO_INPUT_CFG_EV_BITS || ((sel == VIRTIO_INPUT_CFG_ID_NAME || sel == VIRTIO_INPUT_CFG_ID_DEVIDS) && sub == 0))
				continue;
			cfg_ask(dev, (uint8_t)sel, (uint8_t)sub, &c);
			ck_assert_uint_eq(c.size, 0);
			ck_assert_mem_eq(c.u.bitmap, zero, sizeof(zero));
		}
	}
	/* A 16-bit write sets select and subsel; writes elsewhere change nothing. */
	{
		uint16_t both = htole16(VIRTIO_INPUT_CFG_EV_BITS | EV_KEY << 8);
		uint8_t junk[136];

		virtio_input_ops.config_write(dev, 0, &both, 2);
		memset(junk, 0xff, sizeof(junk));
		virtio_input_ops.config_write(dev, 2, junk, 134);
		virtio_input_ops.config_read(dev, 0, &c, sizeof(c));
		ck_assert_uint_eq(c.select, VIRTIO_INPUT_CFG_EV_BITS);
		ck_assert_uint_eq(c.subsel, EV_KEY);
		ck_assert_uint_eq(c.size, KEY_POWER / 8 + 1);
	}
	/* Reads at every offset and width fill that width only. */
	for (uint32_t off = 0; off < 136; off++) {
		for (uint32_t len = 1; len <= 8 && off + len <= 136; len *= 2) {
			uint8_t buf[10];

			memset(buf, 0xa5, sizeof(buf));
			virtio_input_ops.config_read(dev, off, buf + 1, len);
			ck_assert_uint_eq(buf[0], 0xa5);
			ck_assert_uint_eq(buf[len + 1], 0xa5);
		}
	}
	virtio_input_ops.destroy(dev);
}
END_TEST

START_TEST(a_press_reaches_the_driver)
{
	struct virtq_driver vd;
	uint64_t gpa[4];

	setup(&vd);
	post_events(&vd, 4, gpa);
	vqd_kick(&vd, EVENTQ);
	ck_assert_uint_eq(vqd_used_idx(&vd, EVENTQ), 0); /* nothing to say yet */
	press(&vd);
	vqd_wait_used(&vd, EVENTQ, 4);
	check_press(&vd, gpa);
	for (uint16_t i = 0; i < 4; i++)
		ck_assert_uint_eq(vqd_used_elem(&vd, EVENTQ, i).len, 8);
	ck_assert_int_ge(atomic_load(&vd.irqs[EVENTQ]), 1);
	ck_assert_int_eq(atomic_load(&vd.resets), 0);
	vqd_teardown(&vd);
}
END_TEST

START_TEST(presses_wait_for_buffers_and_for_the_driver)
{
	struct virtq_driver vd;
	uint64_t gpa[8];

	memset(&vd, 0, sizeof(vd));
	vqd_init(&vd, &quiet);
	ck_assert_int_eq(virtio_input_create(&quiet, &vd.dev), 0);
	/* Pressed before the driver is there: kept. */
	press(&vd);
	vqd_start(&vd, &virtio_input_ops, 2, 0);
	post_events(&vd, 2, gpa);
	vqd_kick(&vd, EVENTQ);
	vqd_wait_used(&vd, EVENTQ, 2);
	check_event(&vd, gpa[0], EV_KEY, KEY_POWER, 1);
	check_event(&vd, gpa[1], EV_SYN, SYN_REPORT, 0);
	/* The rest when the driver posts more; an event split over two 4-byte buffers is one event. */
	{
		struct vqd_buf split[2] = { { vqd_alloc(&vd, 4), 4, true }, { vqd_alloc(&vd, 4), 4, true } };
		uint64_t one;

		vqd_add_chain(&vd, EVENTQ, split, 2);
		post_events(&vd, 1, &one);
		vqd_kick(&vd, EVENTQ);
		vqd_wait_used(&vd, EVENTQ, 4);
		ck_assert_uint_eq(le16toh(*(uint16_t *)(vd.ram + split[0].gpa)), EV_KEY);
		ck_assert_uint_eq(le16toh(*(uint16_t *)(vd.ram + split[0].gpa + 2)), KEY_POWER);
		ck_assert_uint_eq(le32toh(*(uint32_t *)(vd.ram + split[1].gpa)), 0);
		check_event(&vd, one, EV_SYN, SYN_REPORT, 0);
	}
	/* A reset keeps what the host pressed and the driver has not taken. */
	press(&vd);
	event_loop_call(vd.l, vqd_reset_fn, &vd);
	vqd_init_queues(&vd);
	ck_assert_int_eq(event_loop_call(vd.l, vqd_activate_fn, &vd), 0);
	post_events(&vd, 4, gpa);
	vqd_kick(&vd, EVENTQ);
	vqd_wait_used(&vd, EVENTQ, 4);
	check_press(&vd, gpa);
	vqd_teardown(&vd);
}
END_TEST

START_TEST(a_driver_that_never_takes_them_holds_four_presses)
{
	struct virtq_driver vd;
	uint64_t gpa[20];

	setup(&vd);
	for (unsigned i = 0; i < VIRTIO_INPUT_MAX_PRESSES + 3; i++)
		press(&vd);
	post_events(&vd, 20, gpa);
	vqd_kick(&vd, EVENTQ);
	vqd_wait_used(&vd, EVENTQ, 4 * VIRTIO_INPUT_MAX_PRESSES);
	for (unsigned i = 0; i < VIRTIO_INPUT_MAX_PRESSES; i++)
		check_press(&vd, gpa + 4 * i);
	usleep(20000);
	ck_assert_uint_eq(vqd_used_idx(&vd, EVENTQ), 4 * VIRTIO_INPUT_MAX_PRESSES);
	vqd_teardown(&vd);
}
END_TEST

START_TEST(hostile_event_buffers)
{
	struct virtq_driver vd;
	uint64_t gpa[4];

	setup(&vd);
	/* Read-only, too small, outside RAM: each completed empty, no event lost. */
	{
		struct vqd_buf ro = { vqd_alloc(&vd, 8), 8, false };
		struct vqd_buf small = { vqd_alloc(&vd, 4), 4, true };
		struct vqd_buf outside = { VQD_RAM_SIZE + 4096, 8, true };

		vqd_add_chain(&vd, EVENTQ, &ro, 1);
		vqd_add_chain(&vd, EVENTQ, &small, 1);
		vqd_add_chain(&vd, EVENTQ, &outside, 1);
	}
	press(&vd);
	vqd_wait_used(&vd, EVENTQ, 3);
	for (uint16_t i = 0; i < 3; i++)
		ck_assert_uint_eq(vqd_used_elem(&vd, EVENTQ, i).len, 0);
	post_events(&vd, 4, gpa);
	vqd_kick(&vd, EVENTQ);
	vqd_wait_used(&vd, EVENTQ, 7);
	check_press(&vd, gpa);
	ck_assert_int_eq(atomic_load(&vd.resets), 0);
	/* The status queue: taken and completed unread, whatever it holds. */
	{
		struct vqd_buf led[2] = { { vqd_alloc(&vd, 8), 8, false }, { vqd_alloc(&vd, 16), 16, true } };

		vqd_add_chain(&vd, STATUSQ, led, 1);
		vqd_add_chain(&vd, STATUSQ, led + 1, 1);
		vqd_kick(&vd, STATUSQ);
		vqd_wait_used(&vd, STATUSQ, 2);
		ck_assert_uint_eq(vqd_used_elem(&vd, STATUSQ, 1).len, 0);
	}
	/* An avail index far ahead of the ring: the queue is broken, the device asks for a reset. */
	vqd_avail(&vd, EVENTQ)->idx = htole16((uint16_t)(vd.avail_idx[EVENTQ] + 1000));
	press(&vd);
	ck_assert_int_eq(atomic_load(&vd.resets), 1);
	vqd_teardown(&vd);
}
END_TEST

static void save_fn(void *arg)
{
	struct { struct virtq_driver *vd; struct sbuf *b; } *a = arg;

	ck_assert_int_eq(virtio_input_ops.save(a->vd->dev, a->b), 0);
}

START_TEST(snapshot_keeps_pending_presses)
{
	struct virtq_driver vd;
	struct sbuf b;
	struct sreader r;
	uint64_t gpa[8];
	void *fresh;

	setup(&vd);
	press(&vd);
	press(&vd);
	ck_assert_uint_eq(virtio_input_ops.inflight(vd.dev), 0);
	sbuf_init(&b);
	{
		struct { struct virtq_driver *vd; struct sbuf *b; } a = { &vd, &b };

		ck_assert_int_eq(event_loop_call(vd.l, save_fn, &a), 0);
	}
	ck_assert_uint_eq(b.len, 3 + 8 * 8);
	/* Restored into a fresh device, which then gives the same two presses to the next driver. */
	event_loop_call(vd.l, vqd_reset_fn, &vd);
	ck_assert_int_eq(virtio_input_create(&quiet, &fresh), 0);
	sreader_init(&r, b.data, b.len);
	ck_assert_int_eq(virtio_input_ops.restore(fresh, &r), 0);
	virtio_input_ops.destroy(vd.dev);
	vd.dev = fresh;
	vqd_init_queues(&vd);
	ck_assert_int_eq(event_loop_call(vd.l, vqd_activate_fn, &vd), 0);
	post_events(&vd, 8, gpa);
	vqd_kick(&vd, EVENTQ);
	vqd_wait_used(&vd, EVENTQ, 8);
	check_press(&vd, gpa);
	check_press(&vd, gpa + 4);
	/* Hostile records: too many events, truncated, bytes left over. */
	{
		uint8_t many[3 + 8 * 17] = { 0, 0, 17 };
		void *d;

		ck_assert_int_eq(virtio_input_create(&quiet, &d), 0);
		sreader_init(&r, many, sizeof(many));
		ck_assert_int_eq(virtio_input_ops.restore(d, &r), -EINVAL);
		for (size_t len = 0; len < b.len; len++) {
			sreader_init(&r, b.data, len);
			ck_assert_int_eq(virtio_input_ops.restore(d, &r), -EINVAL);
		}
		sbuf_u8(&b, 0);
		sreader_init(&r, b.data, b.len);
		ck_assert_int_eq(virtio_input_ops.restore(d, &r), -EINVAL);
		virtio_input_ops.destroy(d);
	}
	sbuf_free(&b);
	vqd_teardown(&vd);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_input");
	TCase *tc = tcase_create("virtio_input");

	tcase_add_test(tc, config_answers);
	tcase_add_test(tc, a_press_reaches_the_driver);
	tcase_add_test(tc, presses_wait_for_buffers_and_for_the_driver);
	tcase_add_test(tc, a_driver_that_never_takes_them_holds_four_presses);
	tcase_add_test(tc, hostile_event_buffers);
	tcase_add_test(tc, snapshot_keeps_pending_presses);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
