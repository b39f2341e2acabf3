// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_pl031: the arm64 guest's PL031 real-time clock (src/devices/pl031.c): register reads and writes at
 * any offset and width as the MMIO bus hands them over, a host clock the input moves (forward, back, by
 * up to 2^63 seconds), pl031_poll(), snapshots saved and restored into a fresh device, and restores of
 * garbage, all against a model of the device written from its header and the PL031 TRM.
 *
 * Input: u64 the host clock's start (seconds, two's complement), then operations until the input ends,
 * u8 op: bits 0-2:
 *   0 read, 1 write: bits 3-4 the width (1, 2, 4, 8); bit 5: u8 b, the offset is register (b & 7) x 4
 *     (DR..ICR), else u16 offset (the whole 0x1000-byte page and past it); a write then u64 value;
 *   2 the clock advances u8 seconds; 3 it jumps by s64 seconds (wrapping); 7 it is set to u64;
 *   4 pl031_poll();
 *   5 save, restore into a fresh device on the same clock; bit 3: carry on with the restored one;
 *   6 restore u8 length bytes of the input (bit 3: into a fresh device, else into the one in use).
 * Checked beyond the sanitizers, after every operation:
 * - the interrupt line is RIS & IMSC of the device's saved state (read without catching up with the
 *   clock, as the device stands), it only ever gets 0 and 1, and every call changes it, except the one
 *   call a successful restore makes;
 * - the device's saved state (MR, LR, offset, IMSC, RIS, the second it last looked at) is the model's:
 *   an access catches up with the clock first (RIS set when the counter ticked onto MR on the way: any
 *   d > 0 seconds forward pass through the next d counter values, all 2^32 once d reaches that; never on
 *   a step back), an MR or LR write that makes counter and MR equal sets RIS, LR moves the offset, ICR
 *   bit 0 clears RIS, IMSC keeps bit 0, everything else ignores writes; an access that is not 4 bytes
 *   at a 4-aligned offset in the page changes nothing, not even the second looked at;
 * - a read fills its width and no more, with the register's value (DR: the host second + offset; CR 1;
 *   MIS; the PrimeCell IDs 0x00041031 and 0xb105f00d a byte per word; zero elsewhere) or zeros;
 * - a save restored into a fresh device reads back the same DR, MR, LR, IMSC and RIS; a restore returns
 *   0 exactly for 22 bytes with IMSC and RIS 0 or 1, having read them all, else -EINVAL with the reader
 *   marked bad and the device, its line and its clock untouched;
 * - at the end, a device on the host's clock (no clock given) without a line reads the host's seconds.
 */
#include <endian.h>
#include <errno.h>
#include <time.h>

#include "device.h"
#include "devices/pl031.h"
#include "fuzz.h"
#include "irq.h"
#include "snapshot/sbuf.h"

#define STATE_LEN 22
#define PERIPH_ID 0x00041031u
#define CELL_ID 0xb105f00du

enum { DR = 0x00, MR = 0x04, LR = 0x08, CR = 0x0c, IMSC = 0x10, RIS = 0x14, MIS = 0x18, ICR = 0x1c };

struct clock {
	int64_t t;
};

static int64_t clock_now(void *opaque)
{
	return ((struct clock *)opaque)->t;
}

struct line {
	int level;
	unsigned calls, changes;
};

static void line_set(void *opaque, unsigned gsi, int level)
{
	struct line *l = opaque;

	FUZZ_CHECK(gsi == 34 && (level == 0 || level == 1));
	l->changes += level != l->level;
	l->calls++;
	l->level = level;
}

/* What the device should hold: its saved state. */
struct model {
	uint32_t mr, lr, offset, imsc, ris;
	int64_t seen;
};

/* The counter at host second t. */
static uint32_t counter(const struct model *m, int64_t t)
{
	return (uint32_t)(uint64_t)t + m->offset;
}

/* The seconds (seen, now]: the counter takes the d values after its one at seen; MR among them is a match. */
static void catch_up(struct model *m, int64_t now)
{
	if (now > m->seen) {
		uint64_t d = (uint64_t)now - (uint64_t)m->seen;
		uint32_t c0 = counter(m, m->seen), dist = m->mr - c0; /* MR is dist ticks on (0: 2^32) */
		bool hit = d >= (1ull << 32) || (dist != 0 && dist <= d);

		if (d <= 64) { /* the model itself, tick by tick */
			bool slow = false;

			for (uint64_t k = 1; k <= d; k++)
				slow |= (uint32_t)(c0 + k) == m->mr;
			FUZZ_CHECK(slow == hit);
		}
		if (hit)
			m->ris = 1;
	}
	m->seen = now;
}

static uint32_t id_byte(uint32_t id, uint64_t off)
{
	return (id >> (off / 4 % 4 * 8)) & 0xff;
}

static uint32_t model_read(const struct model *m, uint64_t off, int64_t now)
{
	switch (off) {
	case DR:
		return counter(m, now);
	case MR:
		return m->mr;
	case LR:
		return m->lr;
	case CR:
		return 1;
	case IMSC:
		return m->imsc;
	case RIS:
		return m->ris;
	case MIS:
		return m->ris & m->imsc;
	default:
		break;
	}
	if (off >= 0xfe0 && off < 0xff0)
		return id_byte(PERIPH_ID, off - 0xfe0);
	if (off >= 0xff0 && off < 0x1000)
		return id_byte(CELL_ID, off - 0xff0);
	return 0;
}

static void model_write(struct model *m, uint64_t off, uint32_t v, int64_t now)
{
	switch (off) {
	case MR:
		m->mr = v;
		if (counter(m, now) == v)
			m->ris = 1;
		break;
	case LR:
		m->lr = v;
		m->offset = v - (uint32_t)(uint64_t)now;
		if (v == m->mr)
			m->ris = 1;
		break;
	case IMSC:
		m->imsc = v & 1;
		break;
	case ICR:
		if (v & 1)
			m->ris = 0;
		break;
	default:
		break;
	}
}

/* Parse a saved state the way the header describes it: false when it is not one. */
static bool parse_state(const uint8_t *b, size_t n, struct model *m)
{
	uint64_t seen = 0;

	if (n != STATE_LEN || b[12] > 1 || b[13] > 1)
		return false;
	memcpy(&m->mr, b, 4);
	memcpy(&m->lr, b + 4, 4);
	memcpy(&m->offset, b + 8, 4);
	m->mr = le32toh(m->mr);
	m->lr = le32toh(m->lr);
	m->offset = le32toh(m->offset);
	m->imsc = b[12];
	m->ris = b[13];
	for (unsigned i = 8; i-- > 0;)
		seen = seen << 8 | b[14 + i];
	m->seen = (int64_t)seen;
	return true;
}

/* The device as it stands (a save: no catching up), against the model and its line. */
static void check_state(struct pl031 *p, const struct model *m, const struct line *l)
{
	struct model got;
	struct sbuf b;

	sbuf_init(&b);
	FUZZ_CHECK(pl031_device_ops.save(p, &b) == 0);
	FUZZ_CHECK(parse_state(b.data, b.len, &got));
	sbuf_free(&b);
	FUZZ_CHECK(got.mr == m->mr && got.lr == m->lr && got.offset == m->offset);
	FUZZ_CHECK(got.imsc == m->imsc && got.ris == m->ris && got.seen == m->seen);
	FUZZ_CHECK(l->level == (int)(got.ris & got.imsc));
}

static uint32_t rd32(struct pl031 *p, uint64_t off)
{
	uint8_t b[4];

	pl031_io(p, off, b, 4, false);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* A device on clock c with its interrupt on l (SPI 2: GSI 34). */
static struct pl031 *make(struct clock *c, struct line *l)
{
	const struct irq_line irq = { .set = line_set, .opaque = l, .gsi = 34 };

	memset(l, 0, sizeof(*l));
	return pl031_create(clock_now, c, &irq);
}

/* Restore n bytes into p: the result, with the reader checked. */
static int restore(struct pl031 *p, const uint8_t *data, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1); /* exactly n bytes: ASan sees a read past them */
	struct sreader in;
	int ret;

	FUZZ_CHECK(copy);
	if (n)
		memcpy(copy, data, n);
	sreader_init(&in, copy, n);
	ret = pl031_device_ops.restore(p, &in);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK(ret == 0 ? sr_done(&in) : !sr_ok(&in));
	free(copy);
	return ret;
}

static void do_access(struct pl031 *p, struct model *m, struct clock *c, struct fz *f, uint8_t op)
{
	bool is_write = op & 1;
	uint32_t len = fz_width((uint8_t)(op >> 3));
	uint64_t off = op & 0x20 ? (uint64_t)(fz_u8(f) & 7) * 4 : fz_u16(f);
	uint64_t value = is_write ? fz_u64(f) : 0;
	bool reg = len == 4 && off % 4 == 0 && off < 0x1000;
	uint8_t buf[16];
	uint32_t want = 0;

	memset(buf, 0xa5, sizeof(buf));
	if (is_write)
		memcpy(buf, &value, len);
	pl031_io(p, off, buf, len, is_write);
	if (reg) {
		catch_up(m, c->t);
		if (is_write)
			model_write(m, off, (uint32_t)value, c->t);
		else
			want = model_read(m, off, c->t);
	}
	if (is_write) {
		FUZZ_CHECK(!memcmp(buf, &value, len)); /* the device does not write into a write's data */
	} else {
		for (uint32_t i = 0; i < len; i++)
			FUZZ_CHECK(buf[i] == (i < 4 ? (uint8_t)(want >> (8 * i)) : 0));
	}
	for (size_t i = len; i < sizeof(buf); i++)
		FUZZ_CHECK(buf[i] == 0xa5);
}

/* Save p, restore into a fresh device: both read the same. Returns the fresh one (its line in *nl). */
static struct pl031 *round_trip(struct pl031 *p, struct model *m, struct clock *c, struct line *nl)
{
	static const uint64_t regs[] = { DR, MR, LR, IMSC, RIS, MIS, CR };
	struct pl031 *q;
	struct sbuf b;

	sbuf_init(&b);
	FUZZ_CHECK(pl031_device_ops.save(p, &b) == 0 && b.len == STATE_LEN);
	q = make(c, nl);
	FUZZ_CHECK(q);
	FUZZ_CHECK(restore(q, b.data, b.len) == 0);
	sbuf_free(&b);
	/* The restore catches up with now and drives the new line once, whatever its level. */
	catch_up(m, c->t);
	FUZZ_CHECK(nl->calls == 1 && nl->level == (int)(m->ris & m->imsc));
	nl->calls = nl->changes = 0;
	check_state(q, m, nl);
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		FUZZ_CHECK(rd32(p, regs[i]) == rd32(q, regs[i]));
	return q;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	struct clock c = { .t = (int64_t)fz_u64(&f) };
	struct line lines[2], *l = &lines[0];
	struct model m = { .seen = c.t };
	struct pl031 *p = make(&c, l);

	FUZZ_CHECK(p);
	FUZZ_CHECK(!strcmp(pl031_device_ops.kind, "pl031") && pl031_device_ops.version == 1);
	check_state(p, &m, l);
	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);
		struct line *nl = l == &lines[0] ? &lines[1] : &lines[0];
		struct pl031 *q;
		size_t n;
		const uint8_t *bytes;

		switch (op & 7) {
		case 0:
		case 1:
			do_access(p, &m, &c, &f, op);
			break;
		case 2:
			c.t = (int64_t)((uint64_t)c.t + fz_u8(&f));
			break;
		case 3:
			c.t = (int64_t)((uint64_t)c.t + fz_u64(&f));
			break;
		case 4:
			pl031_poll(p);
			catch_up(&m, c.t);
			break;
		case 5:
			q = round_trip(p, &m, &c, nl);
			if (op & 8) {
				pl031_destroy(p);
				p = q;
				l = nl;
			} else {
				pl031_destroy(q);
			}
			break;
		case 6:
			bytes = fz_take(&f, fz_u8(&f), &n);
			if (op & 8) {
				/* Into a fresh device, which replaces the one in use when the restore works. */
				struct model fresh = { .seen = c.t };

				q = make(&c, nl);
				FUZZ_CHECK(q);
				if (restore(q, bytes, n) == 0) {
					FUZZ_CHECK(parse_state(bytes, n, &fresh));
					catch_up(&fresh, c.t);
					FUZZ_CHECK(nl->calls == 1 && nl->level == (int)(fresh.ris & fresh.imsc));
					nl->calls = nl->changes = 0;
					pl031_destroy(p);
					p = q;
					l = nl;
					m = fresh;
				} else {
					FUZZ_CHECK(!parse_state(bytes, n, &fresh) && nl->calls == 0);
					check_state(q, &fresh, nl);
					pl031_destroy(q);
				}
			} else {
				struct model before = m;
				unsigned calls = l->calls;

				if (restore(p, bytes, n) == 0) {
					FUZZ_CHECK(parse_state(bytes, n, &m));
					catch_up(&m, c.t);
					FUZZ_CHECK(l->calls == calls + 1 && l->level == (int)(m.ris & m.imsc));
					l->calls = l->changes = 0;
				} else {
					FUZZ_CHECK(!parse_state(bytes, n, &m) && l->calls == calls);
					m = before;
				}
			}
			break;
		default:
			c.t = (int64_t)fz_u64(&f);
			break;
		}
		/* Outside a restore's one call, the device touches its line only to change it. */
		FUZZ_CHECK(l->calls == l->changes);
		check_state(p, &m, l);
	}
	pl031_destroy(p);

	/* The host's clock and no interrupt line, as pl031_create() allows: DR reads the host's seconds. */
	p = pl031_create(NULL, NULL, NULL);
	FUZZ_CHECK(p);
	{
		struct timespec before, after;
		uint32_t dr;

		FUZZ_CHECK(clock_gettime(CLOCK_REALTIME, &before) == 0);
		dr = rd32(p, DR);
		FUZZ_CHECK(clock_gettime(CLOCK_REALTIME, &after) == 0);
		/* (A step of the host's clock in between could fail this: seconds apart, never seen.) */
		FUZZ_CHECK(dr - (uint32_t)before.tv_sec <= (uint32_t)(after.tv_sec - before.tv_sec));
	}
	pl031_destroy(p);
	pl031_destroy(NULL);
	return 0;
}
