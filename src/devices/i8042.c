// SPDX-License-Identifier: Apache-2.0
/* An i8042 keyboard controller with nothing attached: answers probes and pulses the reset line on request. */
#include "devices/i8042.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Status register (read from port 0x64). */
#define STS_OBF 0x01 /* a byte waits in the output buffer */
#define STS_SYS 0x04 /* system flag: mirrors the command byte's bit 2 */
#define STS_CMD 0x08 /* the last write went to port 0x64 */

/* Command byte. */
#define CB_SYS 0x04
#define CB_KBD_DISABLE 0x10
#define CB_AUX_DISABLE 0x20
#define CB_XLATE 0x40

/* Output port. */
#define OUT_RESET 0x01 /* low pulses the CPU reset line */
#define OUT_A20 0x02

enum {
	CMD_READ_CB = 0x20,
	CMD_WRITE_CB = 0x60,
	CMD_AUX_DISABLE = 0xa7,
	CMD_AUX_ENABLE = 0xa8,
	CMD_AUX_TEST = 0xa9,
	CMD_SELF_TEST = 0xaa,
	CMD_KBD_TEST = 0xab,
	CMD_KBD_DISABLE = 0xad,
	CMD_KBD_ENABLE = 0xae,
	CMD_READ_OUTPORT = 0xd0,
	CMD_WRITE_OUTPORT = 0xd1,
	CMD_WRITE_KBD_OBUF = 0xd2,
	CMD_WRITE_AUX_OBUF = 0xd3,
	CMD_WRITE_AUX = 0xd4,
	CMD_PULSE_FIRST = 0xf0,
};

struct i8042 {
	pthread_mutex_t lock;
	i8042_reset_fn reset;
	void *opaque;
	uint8_t cmd_byte;
	uint8_t outport;
	uint8_t obuf;
	bool obf;
	bool last_was_cmd;
	uint8_t pending; /* a command waiting for its data byte on port 0x60, or 0 */
};

struct i8042 *i8042_create(i8042_reset_fn reset, void *opaque)
{
	struct i8042 *k = calloc(1, sizeof(*k));

	if (!k)
		return NULL;
	if (pthread_mutex_init(&k->lock, NULL)) {
		free(k);
		return NULL;
	}
	k->reset = reset;
	k->opaque = opaque;
	/* As firmware leaves it: self-test passed, translation on; IRQs 1 and 12 are not wired, so left off. */
	k->cmd_byte = CB_SYS | CB_XLATE;
	k->outport = OUT_RESET | OUT_A20;
	return k;
}

void i8042_destroy(struct i8042 *k)
{
	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

static void put_obuf(struct i8042 *k, uint8_t v)
{
	k->obuf = v;
	k->obf = true;
}

/* Returns true when the command pulses the reset line. */
static bool command(struct i8042 *k, uint8_t cmd)
{
	k->pending = 0;
	switch (cmd) {
	case CMD_READ_CB:
		put_obuf(k, k->cmd_byte);
		break;
	case CMD_WRITE_CB:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		k->pending = cmd;
		break;
	case CMD_AUX_DISABLE:
		k->cmd_byte |= CB_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		k->cmd_byte &= (uint8_t)~CB_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		put_obuf(k, 0x00); /* no clock or data line stuck */
		break;
	case CMD_SELF_TEST:
		k->cmd_byte |= CB_SYS;
		put_obuf(k, 0x55);
		break;
	case CMD_KBD_DISABLE:
		k->cmd_byte |= CB_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		k->cmd_byte &= (uint8_t)~CB_KBD_DISABLE;
		break;
	case CMD_READ_OUTPORT:
		put_obuf(k, k->outport);
		break;
	default:
		/* 0xf0-0xff pulse the output lines whose bits are clear; line 0 is reset. */
		if (cmd >= CMD_PULSE_FIRST && !(cmd & OUT_RESET))
			return true;
		break; /* anything else: ignored */
	}
	return false;
}

/* A byte written to port 0x60. Returns true when it pulses the reset line. */
static bool data_write(struct i8042 *k, uint8_t v)
{
	uint8_t cmd = k->pending;

	k->pending = 0;
	switch (cmd) {
	case CMD_WRITE_CB:
		k->cmd_byte = v;
		break;
	case CMD_WRITE_OUTPORT:
		/* The line goes back high once the machine has reset. */
		k->outport = v | OUT_RESET;
		return !(v & OUT_RESET);
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
		put_obuf(k, v);
		break;
	default:
		/* To the mouse (0xd4) or, with no command, to the keyboard: nothing is attached. */
		break;
	}
	return false;
}

static void io(struct i8042 *k, bool is_cmd_port, uint64_t off, void *data, uint32_t len, bool is_write)
{
	uint8_t *p = data;
	bool pulse = false;
	uint8_t v = 0;

	if (len == 0)
		return;
	if (!is_write)
		memset(p, 0, len);
	if (off != 0)
		return;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = is_cmd_port;
		pulse = is_cmd_port ? command(k, p[0]) : data_write(k, p[0]);
	} else if (is_cmd_port) {
		v = (k->obf ? STS_OBF : 0) | (k->cmd_byte & CB_SYS ? STS_SYS : 0) | (k->last_was_cmd ? STS_CMD : 0);
	} else if (k->obf) {
		v = k->obuf;
		k->obf = false;
	}
	pthread_mutex_unlock(&k->lock);
	if (!is_write)
		p[0] = v;
	/* Outside the lock: the callback may tear the VM down or reset this device. */
	if (pulse && k->reset)
		k->reset(k->opaque);
}

void i8042_data_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	io(opaque, false, off, data, len, is_write);
}

void i8042_cmd_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	io(opaque, true, off, data, len, is_write);
}

/*
 * Snapshot layout, version 1: u8 command byte, output port, output buffer; bool output buffer full,
 * last write to the command port; u8 the command waiting for its data byte (0: none).
 */
static int save_state(void *dev, struct sbuf *out)
{
	struct i8042 *k = dev;

	pthread_mutex_lock(&k->lock);
	sbuf_u8(out, k->cmd_byte);
	sbuf_u8(out, k->outport);
	sbuf_u8(out, k->obuf);
	sbuf_bool(out, k->obf);
	sbuf_bool(out, k->last_was_cmd);
	sbuf_u8(out, k->pending);
	pthread_mutex_unlock(&k->lock);
	return out->oom ? -ENOMEM : 0;
}

/* The commands command() leaves waiting for a data byte. */
static bool pending_ok(uint8_t cmd)
{
	switch (cmd) {
	case 0:
	case CMD_WRITE_CB:
	case CMD_WRITE_OUTPORT:
	case CMD_WRITE_KBD_OBUF:
	case CMD_WRITE_AUX_OBUF:
	case CMD_WRITE_AUX:
		return true;
	default:
		return false;
	}
}

/* Malformed input changes nothing. There is no interrupt line to re-drive (IRQs 1 and 12 are not wired). */
static int restore_state(void *dev, struct sreader *in)
{
	struct i8042 *k = dev;
	uint8_t cmd_byte = sr_u8(in), outport = sr_u8(in), obuf = sr_u8(in);
	bool obf = sr_bool(in), last_was_cmd = sr_bool(in);
	uint8_t pending = sr_u8(in);

	/* The reset line reads high except during a pulse, which never outlives the write that made it. */
	if (!sr_done(in) || !(outport & OUT_RESET) || !pending_ok(pending)) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&k->lock);
	k->cmd_byte = cmd_byte;
	k->outport = outport;
	k->obuf = obuf;
	k->obf = obf;
	k->last_was_cmd = last_was_cmd;
	k->pending = pending;
	pthread_mutex_unlock(&k->lock);
	return 0;
}

const struct vm_device_ops i8042_device_ops = {
	.kind = "i8042",
	.version = 1,
	.save = save_state,
	.restore = restore_state,
};
