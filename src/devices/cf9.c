// SPDX-License-Identifier: Apache-2.0
/* The reset control register at port 0xcf9: a write with RST_CPU set resets (ends) the machine. */
#include "devices/cf9.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct cf9 {
	cf9_reset_fn reset;
	void *opaque;
	_Atomic uint8_t value; /* SYS_RST and FULL_RST as last written; RST_CPU never stays set */
};

struct cf9 *cf9_create(cf9_reset_fn reset, void *opaque)
{
	struct cf9 *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	r->reset = reset;
	r->opaque = opaque;
	return r;
}

void cf9_destroy(struct cf9 *r)
{
	free(r);
}

void cf9_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct cf9 *r = opaque;
	uint8_t v;

	if (len == 0)
		return;
	if (off != 0 || len != 1) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (!is_write) {
		*(uint8_t *)data = atomic_load(&r->value);
		return;
	}
	v = *(const uint8_t *)data;
	atomic_store(&r->value, (uint8_t)(v & (CF9_SYS_RST | CF9_FULL_RST)));
	/* Soft, hard or full: the VM has no firmware to restart, so each one ends the run as a reboot. */
	if ((v & CF9_RST_CPU) && r->reset)
		r->reset(r->opaque);
}

/* Snapshot layout, version 1: u8 the register (SYS_RST and FULL_RST only). */
static int save_state(void *dev, struct sbuf *out)
{
	struct cf9 *r = dev;

	sbuf_u8(out, atomic_load(&r->value));
	return out->oom ? -ENOMEM : 0;
}

/* Restoring never resets: RST_CPU is not state. Malformed input changes nothing. */
static int restore_state(void *dev, struct sreader *in)
{
	struct cf9 *r = dev;
	uint8_t v = sr_u8(in);

	if (!sr_done(in) || (v & ~(CF9_SYS_RST | CF9_FULL_RST))) {
		sr_fail(in);
		return -EINVAL;
	}
	atomic_store(&r->value, v);
	return 0;
}

const struct vm_device_ops cf9_device_ops = {
	.kind = "cf9",
	.version = 1,
	.save = save_state,
	.restore = restore_state,
};
