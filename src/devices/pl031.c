// SPDX-License-Identifier: Apache-2.0
/* The PL031 clock: a 32-bit seconds counter that is the host's clock plus an offset the guest moves through LR. */
#include "devices/pl031.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	REG_DR = 0x00,         /* RO: the counter */
	REG_MR = 0x04,         /* match */
	REG_LR = 0x08,         /* load: reads the last value written */
	REG_CR = 0x0c,         /* bit 0: started */
	REG_IMSC = 0x10,       /* bit 0: interrupt enabled */
	REG_RIS = 0x14,        /* RO: bit 0, the match happened */
	REG_MIS = 0x18,        /* RO: RIS & IMSC */
	REG_ICR = 0x1c,        /* WO: bit 0 clears RIS */
	REG_PERIPH_ID = 0xfe0, /* RTCPeriphID0..3: four 8-bit registers, one per word */
	REG_CELL_ID = 0xff0,   /* RTCPCellID0..3, likewise */
	REG_END = 0x1000,
};

/*
 * The IDs as the AMBA bus assembles them from the low bytes of the eight words: part number 0x031 (bits
 * 11:0), designer 0x41 'A' (19:12), revision 0 (23:20; the TRM's r1p3 still reads 0), configuration 0.
 * rtc-pl031 binds id 0x00041031 under mask 0x000fffff; the bus takes only cell ID 0xb105f00d for a PrimeCell.
 */
#define PERIPH_ID 0x00041031u
#define CELL_ID 0xb105f00du

struct pl031 {
	/* Guards every field below; the irq callback is called with it held, so levels reach it in order. */
	pthread_mutex_t lock;
	pl031_clock_fn now;
	void *opaque;
	struct irq_line irq;
	/*
	 * The counter at host second t is (uint32_t)t + offset, modulo 2^32: a 32-bit counter wraps, and
	 * arithmetic that wraps cannot overflow, whatever the host clock or a snapshot says.
	 */
	uint32_t offset;
	uint32_t mr, lr;
	uint32_t imsc, ris; /* bit 0 only */
	/* The host second up to which the match has been looked for. */
	int64_t seen;
	int level; /* the level last given to irq */
};

static int64_t host_realtime(void *opaque)
{
	struct timespec ts;

	(void)opaque;
	if (clock_gettime(CLOCK_REALTIME, &ts))
		return 0;
	return ts.tv_sec;
}

struct pl031 *pl031_create(pl031_clock_fn now, void *opaque, const struct irq_line *irq)
{
	struct pl031 *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	if (pthread_mutex_init(&p->lock, NULL)) {
		free(p);
		return NULL;
	}
	p->now = now ? now : host_realtime;
	p->opaque = now ? opaque : NULL;
	if (irq)
		p->irq = *irq;
	/* Offset 0: the guest reads the host's UTC seconds, what firmware would have left in a started RTC. */
	p->seen = p->now(p->opaque);
	return p;
}

void pl031_destroy(struct pl031 *p)
{
	if (!p)
		return;
	pthread_mutex_destroy(&p->lock);
	free(p);
}

static uint32_t count_at(const struct pl031 *p, int64_t host)
{
	return (uint32_t)((uint32_t)(uint64_t)host + p->offset);
}

/*
 * Look for the match over the host seconds (seen, now]. The counter ticks once a second, so from its
 * value at seen it took the next d values; MR is among them when it lies at most d ticks ahead (always,
 * once d reaches 2^32: the counter went all the way round). A host clock that stood still or stepped back
 * ticked through nothing (a later step forward again counts the seconds it passes, as a counter that was
 * set back would). Call with the lock held.
 */
static void catch_up(struct pl031 *p, int64_t now)
{
	if (now > p->seen) {
		uint64_t d = (uint64_t)now - (uint64_t)p->seen;
		uint32_t ahead = (uint32_t)(p->mr - count_at(p, p->seen) - 1u); /* MR is ahead + 1 ticks away */

		if (ahead < d)
			p->ris = 1;
	}
	p->seen = now;
}

/* The PL031's interrupt is a level: drive it with RIS & IMSC, touching the line only on a change. Lock held. */
static void update_irq(struct pl031 *p)
{
	int level = (p->ris & p->imsc) != 0;

	if (level != p->level) {
		p->level = level;
		irq_line_set(&p->irq, level);
	}
}

static uint32_t id_byte(uint32_t id, uint64_t off)
{
	return (id >> (off / 4 * 8)) & 0xff;
}

static uint32_t read_reg(struct pl031 *p, uint64_t off, int64_t now)
{
	switch (off) {
	case REG_DR:
		return count_at(p, now);
	case REG_MR:
		return p->mr;
	case REG_LR:
		return p->lr;
	case REG_CR:
		return 1;
	case REG_IMSC:
		return p->imsc;
	case REG_RIS:
		return p->ris;
	case REG_MIS:
		return p->ris & p->imsc;
	default:
		break;
	}
	if (off >= REG_PERIPH_ID && off < REG_CELL_ID)
		return id_byte(PERIPH_ID, off - REG_PERIPH_ID);
	if (off >= REG_CELL_ID && off < REG_END)
		return id_byte(CELL_ID, off - REG_CELL_ID);
	return 0; /* ICR is write-only; reserved and test registers read as zero */
}

static void write_reg(struct pl031 *p, uint64_t off, uint32_t v, int64_t now)
{
	switch (off) {
	case REG_MR:
		/* The comparator sees the new value at once: one equal to the counter matches now. */
		p->mr = v;
		if (count_at(p, now) == v)
			p->ris = 1;
		break;
	case REG_LR:
		/* Moves the offset, never the host clock; the counter then ticks on from v. */
		p->lr = v;
		p->offset = (uint32_t)(v - (uint32_t)(uint64_t)now);
		if (v == p->mr)
			p->ris = 1;
		break;
	case REG_CR:
		/*
		 * Always started. The TRM resets the RTC value on a write once started, but rtc-pl031's probe
		 * writes CR | 1 on every bind: a guest that set its clock, then rebinds the driver (module
		 * reload, kexec), would lose the time. The write is ignored instead.
		 */
		break;
	case REG_IMSC:
		p->imsc = v & 1;
		break;
	case REG_ICR:
		if (v & 1)
			p->ris = 0;
		break;
	default:
		break; /* DR, RIS, MIS and the IDs are read-only; reserved and test registers ignore writes */
	}
}

static uint32_t get_le32(const void *data)
{
	const uint8_t *b = data;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put_le32(void *data, uint32_t v)
{
	uint8_t *b = data;

	b[0] = (uint8_t)v;
	b[1] = (uint8_t)(v >> 8);
	b[2] = (uint8_t)(v >> 16);
	b[3] = (uint8_t)(v >> 24);
}

void pl031_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct pl031 *p = opaque;
	uint32_t v = 0;
	int64_t now;

	if (!is_write)
		memset(data, 0, len);
	/* The registers are 32 bits wide on a 32-bit APB: anything else is not a register access. */
	if (len != 4 || off % 4 || off >= REG_END)
		return;
	if (is_write)
		v = get_le32(data);
	pthread_mutex_lock(&p->lock);
	/* No timer drives the match: every access first catches up with the seconds since the last one. */
	now = p->now(p->opaque);
	catch_up(p, now);
	if (is_write)
		write_reg(p, off, v, now);
	else
		v = read_reg(p, off, now);
	update_irq(p);
	pthread_mutex_unlock(&p->lock);
	if (!is_write)
		put_le32(data, v);
}

void pl031_poll(struct pl031 *p)
{
	pthread_mutex_lock(&p->lock);
	catch_up(p, p->now(p->opaque));
	update_irq(p);
	pthread_mutex_unlock(&p->lock);
}

/*
 * Snapshot layout, version 1: u32 MR, u32 LR, u32 offset, u8 IMSC, u8 RIS (each 0 or 1), u64 seen (the
 * host second, two's complement). CR has nothing to save: it always reads 1.
 *
 * Time across a restore: the counter is the host's clock plus the offset, and the offset is what is
 * saved, so the guest's clock keeps its distance from the host's (a guest that never set it reads the
 * host's time after a restore on another day). seen is saved so that the restore can look for the match
 * over the seconds the VM spent saved, as a powered-off board's RTC would have kept counting.
 */
static int save_state(void *dev, struct sbuf *out)
{
	struct pl031 *p = dev;

	pthread_mutex_lock(&p->lock);
	sbuf_u32(out, p->mr);
	sbuf_u32(out, p->lr);
	sbuf_u32(out, p->offset);
	sbuf_u8(out, (uint8_t)p->imsc);
	sbuf_u8(out, (uint8_t)p->ris);
	sbuf_u64(out, (uint64_t)p->seen);
	pthread_mutex_unlock(&p->lock);
	return out->oom ? -ENOMEM : 0;
}

/* What a restore reads, checked in full before any of it reaches the clock. */
struct saved {
	uint32_t mr, lr, offset;
	uint8_t imsc, ris;
	int64_t seen;
};

static bool read_saved(struct sreader *in, struct saved *v)
{
	v->mr = sr_u32(in);
	v->lr = sr_u32(in);
	v->offset = sr_u32(in);
	v->imsc = sr_u8(in);
	v->ris = sr_u8(in);
	v->seen = (int64_t)sr_u64(in);
	/* Every 32-bit value is a counter, match or load value a guest can write; the status bits are one bit. */
	return sr_done(in) && v->imsc <= 1 && v->ris <= 1;
}

/* The irq line is the new VM's: driven (even when low) to what the restored registers, caught up to now, imply. */
static int restore_state(void *dev, struct sreader *in)
{
	struct pl031 *p = dev;
	struct saved v;

	if (!read_saved(in, &v)) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&p->lock);
	p->mr = v.mr;
	p->lr = v.lr;
	p->offset = v.offset;
	p->imsc = v.imsc;
	p->ris = v.ris;
	p->seen = v.seen;
	catch_up(p, p->now(p->opaque));
	p->level = (p->ris & p->imsc) != 0;
	irq_line_set(&p->irq, p->level);
	pthread_mutex_unlock(&p->lock);
	return 0;
}

const struct vm_device_ops pl031_device_ops = {
	.kind = "pl031",
	.version = 1,
	.save = save_state,
	.restore = restore_state,
};
