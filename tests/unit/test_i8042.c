// SPDX-License-Identifier: Apache-2.0
/* The i8042 with nothing attached: status bits, controller commands, and the reset line. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/i8042.h"
#include "unit.h"

#define STS_OBF 0x01
#define STS_IBF 0x02
#define STS_SYS 0x04
#define STS_CMD 0x08

static void on_reset(void *opaque)
{
	(*(int *)opaque)++;
}

static void cmd(struct i8042 *k, uint8_t v)
{
	i8042_cmd_io(k, 0, &v, 1, true);
}

static void data_wr(struct i8042 *k, uint8_t v)
{
	i8042_data_io(k, 0, &v, 1, true);
}

static uint8_t status(struct i8042 *k)
{
	uint8_t v = 0xa5;

	i8042_cmd_io(k, 0, &v, 1, false);
	return v;
}

static uint8_t data_rd(struct i8042 *k)
{
	uint8_t v = 0xa5;

	i8042_data_io(k, 0, &v, 1, false);
	return v;
}

START_TEST(status_after_create)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);

	ck_assert_ptr_nonnull(k);
	ck_assert_uint_eq(status(k), STS_SYS);
	ck_assert_uint_eq(data_rd(k), 0);
	ck_assert_int_eq(resets, 0);
	i8042_destroy(k);
	i8042_destroy(NULL);
}
END_TEST

START_TEST(self_test)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);

	cmd(k, 0xaa);
	ck_assert_uint_eq(status(k), STS_OBF | STS_SYS | STS_CMD);
	ck_assert_uint_eq(data_rd(k), 0x55);
	ck_assert_uint_eq(status(k) & STS_OBF, 0);
	cmd(k, 0xab);
	ck_assert_uint_eq(data_rd(k), 0x00);
	cmd(k, 0xa9);
	ck_assert_uint_eq(status(k) & STS_OBF, STS_OBF);
	ck_assert_uint_eq(data_rd(k), 0x00);
	ck_assert_int_eq(resets, 0);
	i8042_destroy(k);
}
END_TEST

START_TEST(command_byte)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);
	uint8_t cb;

	cmd(k, 0x20);
	ck_assert_uint_eq(status(k) & STS_OBF, STS_OBF);
	cb = data_rd(k);
	ck_assert_uint_eq(cb & STS_SYS, STS_SYS);
	cmd(k, 0x60);
	ck_assert_uint_eq(status(k) & STS_CMD, STS_CMD);
	data_wr(k, 0x61);
	ck_assert_uint_eq(status(k) & STS_CMD, 0); /* the last write went to the data port */
	ck_assert_uint_eq(status(k) & STS_SYS, 0); /* the system flag follows the command byte */
	cmd(k, 0x20);
	ck_assert_uint_eq(data_rd(k), 0x61);
	/* Disable / enable keyboard and aux show in the command byte. */
	cmd(k, 0xad);
	cmd(k, 0xa7);
	cmd(k, 0x20);
	ck_assert_uint_eq(data_rd(k), 0x61 | 0x10 | 0x20);
	cmd(k, 0xae);
	cmd(k, 0xa8);
	cmd(k, 0x20);
	ck_assert_uint_eq(data_rd(k), 0x41);
	/* Self-test sets the system flag again. */
	cmd(k, 0xaa);
	ck_assert_uint_eq(data_rd(k), 0x55);
	ck_assert_uint_eq(status(k) & STS_SYS, STS_SYS);
	ck_assert_int_eq(resets, 0);
	i8042_destroy(k);
}
END_TEST

START_TEST(pulse_reset)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);

	/* What Linux's reboot=k does: wait for IBF clear, then pulse. */
	ck_assert_uint_eq(status(k) & STS_IBF, 0);
	cmd(k, 0xfe);
	ck_assert_int_eq(resets, 1);
	/* Pulses that leave line 0 alone do not reset. */
	cmd(k, 0xff);
	cmd(k, 0xf1);
	ck_assert_int_eq(resets, 1);
	cmd(k, 0xf0);
	ck_assert_int_eq(resets, 2);
	i8042_destroy(k);
}
END_TEST

START_TEST(output_port)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);

	cmd(k, 0xd0);
	ck_assert_uint_eq(data_rd(k) & 0x03, 0x03);
	cmd(k, 0xd1);
	data_wr(k, 0x03);
	ck_assert_int_eq(resets, 0);
	cmd(k, 0xd1);
	data_wr(k, 0x02);
	ck_assert_int_eq(resets, 1);
	/* The write was consumed: the next data byte goes to the (absent) keyboard. */
	data_wr(k, 0x00);
	ck_assert_int_eq(resets, 1);
	cmd(k, 0xd0);
	ck_assert_uint_eq(data_rd(k) & 0x01, 0x01);
	i8042_destroy(k);
}
END_TEST

START_TEST(output_buffer_writes)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);

	cmd(k, 0xd2);
	data_wr(k, 0x9c);
	ck_assert_uint_eq(status(k) & STS_OBF, STS_OBF);
	ck_assert_uint_eq(data_rd(k), 0x9c);
	cmd(k, 0xd3);
	data_wr(k, 0x42);
	ck_assert_uint_eq(data_rd(k), 0x42);
	/* Bytes for the mouse and the keyboard vanish. */
	cmd(k, 0xd4);
	data_wr(k, 0xff);
	ck_assert_uint_eq(status(k) & STS_OBF, 0);
	data_wr(k, 0xff);
	data_wr(k, 0xed);
	ck_assert_uint_eq(status(k) & STS_OBF, 0);
	ck_assert_uint_eq(data_rd(k), 0);
	/* Unknown commands are ignored. */
	cmd(k, 0x00);
	cmd(k, 0xc0);
	cmd(k, 0xe0);
	ck_assert_uint_eq(status(k) & STS_OBF, 0);
	ck_assert_int_eq(resets, 0);
	i8042_destroy(k);
}
END_TEST

START_TEST(empty_read)
{
	struct i8042 *k = i8042_create(NULL, NULL);

	ck_assert_uint_eq(data_rd(k), 0);
	ck_assert_uint_eq(status(k) & STS_OBF, 0);
	/* A byte is read once. */
	cmd(k, 0xaa);
	ck_assert_uint_eq(data_rd(k), 0x55);
	ck_assert_uint_eq(data_rd(k), 0);
	/* No reset callback: a pulse does nothing. */
	cmd(k, 0xfe);
	i8042_destroy(k);
}
END_TEST

START_TEST(odd_accesses)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);
	uint8_t buf[8];

	cmd(k, 0xaa);
	memset(buf, 0xa5, sizeof(buf));
	i8042_data_io(k, 0, buf, 4, false);
	ck_assert_uint_eq(buf[0], 0x55);
	ck_assert_uint_eq(buf[1] | buf[2] | buf[3], 0);
	ck_assert_uint_eq(buf[4], 0xa5);
	memset(buf, 0xa5, sizeof(buf));
	i8042_cmd_io(k, 3, buf, 8, false);
	ck_assert_uint_eq(buf[0] | buf[7], 0);
	buf[0] = 0xfe;
	i8042_cmd_io(k, 1, buf, 1, true);
	i8042_cmd_io(k, 0, buf, 0, true);
	ck_assert_int_eq(resets, 0);
	buf[1] = 0x00;
	i8042_cmd_io(k, 0, buf, 2, true); /* low byte 0xfe */
	ck_assert_int_eq(resets, 1);
	i8042_destroy(k);
}
END_TEST

START_TEST(two_controllers_independent)
{
	int ra = 0, rb = 0;
	struct i8042 *a = i8042_create(on_reset, &ra);
	struct i8042 *b = i8042_create(on_reset, &rb);

	cmd(a, 0xaa);
	ck_assert_uint_eq(status(b) & STS_OBF, 0);
	cmd(b, 0xd1);
	data_wr(a, 0x00);
	ck_assert_int_eq(ra + rb, 0);
	data_wr(b, 0x00);
	ck_assert_int_eq(ra, 0);
	ck_assert_int_eq(rb, 1);
	ck_assert_uint_eq(data_rd(a), 0x55);
	i8042_destroy(a);
	i8042_destroy(b);
}
END_TEST

/* Restore dev from a heap copy of exactly n bytes, so that ASan sees any read past them. */
static int restore(void *dev, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader in;
	int ret;

	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, p, n);
	sreader_init(&in, copy, n);
	ret = i8042_device_ops.restore(dev, &in);
	free(copy);
	return ret;
}

/* Both read alike: the status, the output buffer, a data byte for the waiting command, the command byte. */
static void assert_same(struct i8042 *a, struct i8042 *b)
{
	ck_assert_uint_eq(status(a), status(b));
	ck_assert_uint_eq(data_rd(a), data_rd(b));
	ck_assert_uint_eq(status(a), status(b));
	data_wr(a, 0x99);
	data_wr(b, 0x99);
	ck_assert_uint_eq(status(a), status(b));
	ck_assert_uint_eq(data_rd(a), data_rd(b));
	cmd(a, 0x20);
	cmd(b, 0x20);
	ck_assert_uint_eq(status(a), status(b));
	ck_assert_uint_eq(data_rd(a), data_rd(b));
	cmd(a, 0xd0);
	cmd(b, 0xd0);
	ck_assert_uint_eq(data_rd(a), data_rd(b));
	ck_assert_uint_eq(status(a), status(b));
}

/* The command byte, output port, a full output buffer and a command waiting for its data survive. */
START_TEST(snapshot_round_trip)
{
	int resets = 0, resets2 = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);
	struct i8042 *t = i8042_create(on_reset, &resets2);
	struct sbuf b;

	ck_assert_str_eq(i8042_device_ops.kind, "i8042");
	ck_assert_uint_eq(i8042_device_ops.version, 1);
	cmd(k, 0x60);
	data_wr(k, 0x65);
	cmd(k, 0xd1);
	data_wr(k, 0xc3);
	cmd(k, 0xd0); /* the output port waits in the output buffer */
	cmd(k, 0xd2); /* and a byte for the keyboard's output buffer is expected */
	ck_assert_uint_eq(status(k), STS_OBF | STS_SYS | STS_CMD);
	sbuf_init(&b);
	ck_assert_int_eq(i8042_device_ops.save(k, &b), 0);
	ck_assert_uint_eq(b.len, 6);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_uint_eq(status(t), STS_OBF | STS_SYS | STS_CMD);
	assert_same(k, t);
	ck_assert_int_eq(resets + resets2, 0);
	/* The restored reset line still works. */
	cmd(t, 0xfe);
	ck_assert_int_eq(resets2, 1);
	sbuf_free(&b);
	i8042_destroy(k);
	i8042_destroy(t);
}
END_TEST

/* The controller a failed restore left: unchanged (command byte 0x45) and working. */
static void assert_untouched(struct i8042 *t)
{
	cmd(t, 0x20);
	ck_assert_uint_eq(status(t), STS_OBF | STS_SYS | STS_CMD);
	ck_assert_uint_eq(data_rd(t), 0x45);
}

/* Truncated, overlong and out-of-range state is refused and leaves the controller as it was. */
START_TEST(snapshot_hostile)
{
	int resets = 0;
	struct i8042 *k = i8042_create(on_reset, &resets);
	struct i8042 *t = i8042_create(on_reset, &resets);
	struct sbuf b;
	uint8_t bad[8];
	/* Offset, value: one field out of its range each (cmd byte, outport, obuf, obf, last cmd, pending). */
	static const uint8_t cases[][2] = {
		{ 1, 0x02 }, /* the reset line held low */
		{ 3, 2 },    { 4, 0xff }, /* bools other than 0 or 1 */
		{ 5, 0x20 }, /* a command that takes no data byte */
		{ 5, 0xfe }, { 5, 0x01 },
	};

	cmd(k, 0xd4);
	sbuf_init(&b);
	ck_assert_int_eq(i8042_device_ops.save(k, &b), 0);
	ck_assert_uint_eq(b.len, 6);
	cmd(t, 0x60);
	data_wr(t, 0x45);
	for (size_t n = 0; n < b.len; n++) {
		ck_assert_int_eq(restore(t, b.data, n), -EINVAL);
		assert_untouched(t);
	}
	memcpy(bad, b.data, b.len);
	bad[b.len] = 0;
	ck_assert_int_eq(restore(t, bad, b.len + 1), -EINVAL);
	assert_untouched(t);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memcpy(bad, b.data, b.len);
		bad[cases[i][0]] = cases[i][1];
		ck_assert_int_eq(restore(t, bad, b.len), -EINVAL);
		assert_untouched(t);
	}
	ck_assert_int_eq(resets, 0);
	/* Every command that waits for data is accepted. */
	for (size_t i = 0; i < 5; i++) {
		static const uint8_t ok[] = { 0x60, 0xd1, 0xd2, 0xd3, 0xd4 };

		memcpy(bad, b.data, b.len);
		bad[5] = ok[i];
		ck_assert_int_eq(restore(t, bad, b.len), 0);
	}
	sbuf_free(&b);
	i8042_destroy(k);
	i8042_destroy(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("i8042");
	TCase *tc = tcase_create("i8042");

	tcase_add_test(tc, status_after_create);
	tcase_add_test(tc, self_test);
	tcase_add_test(tc, command_byte);
	tcase_add_test(tc, pulse_reset);
	tcase_add_test(tc, output_port);
	tcase_add_test(tc, output_buffer_writes);
	tcase_add_test(tc, empty_read);
	tcase_add_test(tc, odd_accesses);
	tcase_add_test(tc, two_controllers_independent);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_hostile);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
