// SPDX-License-Identifier: Apache-2.0
/* A 16550A UART: register decode, interrupt identification, a host-side receive buffer and loopback. */
#include "devices/serial.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Register offsets; DLAB (LCR bit 7) turns 0 and 1 into the divisor latch. */
enum {
	REG_RBR_THR_DLL = 0,
	REG_IER_DLM = 1,
	REG_IIR_FCR = 2,
	REG_LCR = 3,
	REG_MCR = 4,
	REG_LSR = 5,
	REG_MSR = 6,
	REG_SCR = 7,
	NR_REGS = 8,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04 /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

/* Interrupt identification, highest priority first. */
#define IIR_NONE 0x01
#define IIR_RLS 0x06
#define IIR_RDA 0x04
#define IIR_THRE 0x02
#define IIR_MSI 0x00
#define IIR_FIFO 0xc0

#define FCR_ENABLE 0x01
#define FCR_CLEAR_RX 0x02
#define FCR_CLEAR_TX 0x04

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/* What the guest sees outside loopback: a terminal is attached and ready. */
#define MSR_CONNECTED (MSR_CTS | MSR_DSR | MSR_DCD)

/* Host input waiting for the guest; serial_receive() returns short when it is full. */
#define RX_SIZE 4096

struct serial {
	/*
	 * Guards every field below. The irq callback is called with it held so that two threads
	 * cannot deliver their level changes in the opposite order to the one they computed them in
	 * (KVM_IRQ_LINE is quick and never calls back into the UART). The output callback is not.
	 */
	pthread_mutex_t lock;
	struct irq_line irq;
	struct serial_backend be;

	uint8_t ier, lcr, mcr, scr, dll, dlm;
	uint8_t msr; /* modem status bits 7:4 as last seen, delta bits 3:0 until MSR is read */
	bool fifo;
	bool thre_pending; /* the THR-empty interrupt has not been acknowledged */
	bool tx_busy;      /* the backend is short of room: THR reads full until serial_tx_ready() */
	bool rx_short;     /* serial_receive() returned short: tell the backend when room comes */
	uint64_t tx_lost;  /* bytes written to a busy THR with the backend full */
	int level; /* the level last given to irq */

	uint8_t rx[RX_SIZE];
	size_t rx_head, rx_count;
};

static bool rx_push(struct serial *s, uint8_t b)
{
	if (s->rx_count == RX_SIZE)
		return false;
	s->rx[(s->rx_head + s->rx_count) % RX_SIZE] = b;
	s->rx_count++;
	return true;
}

/* The receive buffer has room again: wake a backend whose input waits. */
static void rx_made_room(struct serial *s)
{
	if (s->rx_short && s->rx_count < RX_SIZE) {
		s->rx_short = false;
		if (s->be.rx_room)
			s->be.rx_room(s->be.opaque);
	}
}

static uint8_t rx_pop(struct serial *s)
{
	uint8_t b;

	if (!s->rx_count)
		return 0;
	b = s->rx[s->rx_head];
	s->rx_head = (s->rx_head + 1) % RX_SIZE;
	s->rx_count--;
	rx_made_room(s);
	return b;
}

/* What the guest's driver may write when THR reads empty: a whole FIFO, or one byte without it. */
static size_t tx_chunk(const struct serial *s)
{
	return s->fifo ? 16 : 1;
}

/* Can the transmitter take another FIFO's worth? When not, ask the backend to say when it can. */
static bool tx_empty(struct serial *s)
{
	if (s->tx_busy)
		return false;
	if (!s->be.room || s->be.room(s->be.opaque, tx_chunk(s)))
		return true;
	s->tx_busy = true;
	if (s->be.want_room)
		s->be.want_room(s->be.opaque, tx_chunk(s));
	return false;
}

/* The highest-priority enabled interrupt, as IIR bits 3:0. */
static uint8_t pending(const struct serial *s)
{
	/* IIR_RLS never occurs: no overrun (serial_receive returns short instead), parity, framing or break. */
	if ((s->ier & IER_ERBFI) && s->rx_count)
		return IIR_RDA;
	if ((s->ier & IER_ETBEI) && s->thre_pending)
		return IIR_THRE;
	if ((s->ier & IER_EDSSI) && (s->msr & (MSR_DCTS | MSR_DDSR | MSR_TERI | MSR_DDCD)))
		return IIR_MSI;
	return IIR_NONE;
}

/*
 * Drive the line with "any enabled interrupt pending", touching it only on a change. The guest's
 * IOAPIC pin is edge-triggered: dropping the line when the condition clears is what lets the next
 * one make a new rising edge. Call with the lock held.
 */
static void update_irq(struct serial *s)
{
	int level = pending(s) != IIR_NONE;

	if (level != s->level) {
		s->level = level;
		irq_line_set(&s->irq, level);
	}
}

/* Modem status inputs: wired to MCR in loopback, a connected terminal otherwise. */
static uint8_t modem_inputs(uint8_t mcr)
{
	uint8_t m = 0;

	if (!(mcr & MCR_LOOP))
		return MSR_CONNECTED;
	if (mcr & MCR_RTS)
		m |= MSR_CTS;
	if (mcr & MCR_DTR)
		m |= MSR_DSR;
	if (mcr & MCR_OUT1)
		m |= MSR_RI;
	if (mcr & MCR_OUT2)
		m |= MSR_DCD;
	return m;
}

/* Latch new modem inputs, setting the delta bits for what changed (RI only on its trailing edge). */
static void update_msr(struct serial *s)
{
	uint8_t now = modem_inputs(s->mcr), old = s->msr & 0xf0, delta = s->msr & 0x0f;

	if ((now ^ old) & MSR_CTS)
		delta |= MSR_DCTS;
	if ((now ^ old) & MSR_DSR)
		delta |= MSR_DDSR;
	if ((old & MSR_RI) && !(now & MSR_RI))
		delta |= MSR_TERI;
	if ((now ^ old) & MSR_DCD)
		delta |= MSR_DDCD;
	s->msr = now | delta;
}

static uint8_t reg_read(struct serial *s, unsigned off)
{
	uint8_t v, id;

	switch (off) {
	case REG_RBR_THR_DLL:
		return (s->lcr & LCR_DLAB) ? s->dll : rx_pop(s);
	case REG_IER_DLM:
		return (s->lcr & LCR_DLAB) ? s->dlm : s->ier;
	case REG_IIR_FCR:
		id = pending(s);
		/* Reading IIR acknowledges a THR-empty interrupt, but only when that is what it reports. */
		if (id == IIR_THRE)
			s->thre_pending = false;
		return id | (s->fifo ? IIR_FIFO : 0);
	case REG_LCR:
		return s->lcr;
	case REG_MCR:
		return s->mcr;
	case REG_LSR:
		/* The holding and shift registers are empty whenever the backend has room for a FIFO's worth. */
		return (tx_empty(s) ? LSR_THRE | LSR_TEMT : 0) | (s->rx_count ? LSR_DR : 0);
	case REG_MSR:
		v = s->msr;
		s->msr &= 0xf0;
		return v;
	case REG_SCR:
		return s->scr;
	default:
		return 0xff;
	}
}

/* A byte leaves through THR: to the backend, which may be full (the guest ignored a busy THR: lost). */
static void transmit(struct serial *s, uint8_t v)
{
	if (s->be.write && s->be.write(s->be.opaque, &v, 1) == 0)
		s->tx_lost++;
	/* THR-empty again, unless the backend is now short of room: then serial_tx_ready() raises it. */
	s->thre_pending = tx_empty(s);
}

static void reg_write(struct serial *s, unsigned off, uint8_t v)
{
	uint8_t old;

	switch (off) {
	case REG_RBR_THR_DLL:
		if (s->lcr & LCR_DLAB) {
			s->dll = v;
			return;
		}
		if (!(s->mcr & MCR_LOOP)) {
			transmit(s, v);
			return;
		}
		/* Loopback: THR is empty again at once; with a full buffer the byte is lost (we do not model overrun). */
		s->thre_pending = true;
		rx_push(s, v);
		return;
	case REG_IER_DLM:
		if (s->lcr & LCR_DLAB) {
			s->dlm = v;
			return;
		}
		old = s->ier;
		s->ier = v & IER_MASK;
		/* Switching ETBEI on with THR empty raises THR-empty: Linux's 8250 starts transmitting this way. */
		if (!(old & IER_ETBEI) && (s->ier & IER_ETBEI))
			s->thre_pending = (s->mcr & MCR_LOOP) || tx_empty(s);
		return;
	case REG_IIR_FCR:
		s->fifo = v & FCR_ENABLE;
		if (v & FCR_CLEAR_RX) {
			s->rx_head = s->rx_count = 0;
			rx_made_room(s);
		}
		/* FCR_CLEAR_TX: bytes handed to the backend are gone already. Trigger levels are ignored. */
		return;
	case REG_LCR:
		s->lcr = v;
		return;
	case REG_MCR:
		s->mcr = v & MCR_MASK;
		update_msr(s);
		return;
	case REG_SCR:
		s->scr = v;
		return;
	default: /* LSR and MSR are read-only; nothing lives past offset 7 */
		return;
	}
}

struct serial *serial_create(const struct irq_line *irq, const struct serial_backend *be)
{
	struct serial *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	if (pthread_mutex_init(&s->lock, NULL)) {
		free(s);
		return NULL;
	}
	if (irq)
		s->irq = *irq;
	if (be)
		s->be = *be;
	s->dll = 0x0c; /* 9600 baud from the 1.8432 MHz clock */
	s->msr = MSR_CONNECTED;
	return s;
}

void serial_destroy(struct serial *s)
{
	if (!s)
		return;
	pthread_mutex_destroy(&s->lock);
	free(s);
}

/*
 * Output ordering: the byte is handed to the backend under the lock, so bytes reach it in the
 * order the guest's THR writes completed (an OUT does not complete in the guest before serial_io
 * returned). The backend only copies it into a ring: nothing here waits for host I/O.
 */
void serial_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct serial *s = opaque;
	uint8_t *p = data;

	if (!len)
		return;
	/* Wider accesses act on the low byte; the upper bytes of a read are 0. */
	if (off >= NR_REGS) {
		if (!is_write)
			memset(p, 0xff, len);
		return;
	}
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		reg_write(s, (unsigned)off, p[0]);
	} else {
		p[0] = reg_read(s, (unsigned)off);
		memset(p + 1, 0, len - 1);
	}
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
}

size_t serial_receive(struct serial *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t n;

	if (!len)
		return 0;
	pthread_mutex_lock(&s->lock);
	n = RX_SIZE - s->rx_count;
	if (n > len)
		n = len;
	for (size_t i = 0; i < n; i++)
		rx_push(s, p[i]);
	if (n < len)
		s->rx_short = true;
	update_irq(s);
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_tx_ready(struct serial *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->tx_busy) {
		s->tx_busy = false;
		/* Room again (or still not: then tx_empty() asks once more). THR-empty interrupts anew. */
		if (tx_empty(s))
			s->thre_pending = true;
		update_irq(s);
	}
	pthread_mutex_unlock(&s->lock);
}

uint64_t serial_tx_lost(struct serial *s)
{
	uint64_t n;

	pthread_mutex_lock(&s->lock);
	n = s->tx_lost;
	pthread_mutex_unlock(&s->lock);
	return n;
}

void serial_describe(struct serial *s, char *buf, size_t len)
{
	static const char *const ids[16] = { [IIR_NONE] = "none", [IIR_THRE] = "THR empty", [IIR_RDA] = "data ready",
					     [IIR_MSI] = "modem status" };
	uint8_t id;

	pthread_mutex_lock(&s->lock);
	id = pending(s);
	snprintf(buf, len,
		 "IER 0x%02x, interrupt pending: %s, IRQ line %s, transmitter %s, %zu received bytes unread, "
		 "%llu sent bytes lost",
		 s->ier, ids[id & 15] ? ids[id & 15] : "?", s->level ? "high" : "low",
		 s->tx_busy ? "waits for the host to take output" : "ready", s->rx_count,
		 (unsigned long long)s->tx_lost);
	pthread_mutex_unlock(&s->lock);
}

/*
 * Snapshot layout, version 1: u8 IER, LCR, MCR, SCR, DLL, DLM, MSR; bool FIFO enabled, THR-empty
 * pending, transmitter busy; u32 count, then count received bytes oldest first.
 */
static int save_state(void *dev, struct sbuf *out)
{
	struct serial *s = dev;

	pthread_mutex_lock(&s->lock);
	sbuf_u8(out, s->ier);
	sbuf_u8(out, s->lcr);
	sbuf_u8(out, s->mcr);
	sbuf_u8(out, s->scr);
	sbuf_u8(out, s->dll);
	sbuf_u8(out, s->dlm);
	sbuf_u8(out, s->msr);
	sbuf_bool(out, s->fifo);
	sbuf_bool(out, s->thre_pending);
	sbuf_bool(out, s->tx_busy);
	sbuf_u32(out, (uint32_t)s->rx_count);
	/* The ring may wrap: oldest bytes first, in at most two pieces. */
	{
		size_t first = RX_SIZE - s->rx_head;

		if (first > s->rx_count)
			first = s->rx_count;
		sbuf_put(out, s->rx + s->rx_head, first);
		sbuf_put(out, s->rx, s->rx_count - first);
	}
	pthread_mutex_unlock(&s->lock);
	return out->oom ? -ENOMEM : 0;
}

/* What a restore reads, checked in full before any of it reaches the UART. */
struct saved {
	uint8_t ier, lcr, mcr, scr, dll, dlm, msr;
	bool fifo, thre_pending, tx_busy;
	uint32_t rx_count;
	uint8_t rx[RX_SIZE];
};

static bool read_saved(struct sreader *in, struct saved *v)
{
	v->ier = sr_u8(in);
	v->lcr = sr_u8(in);
	v->mcr = sr_u8(in);
	v->scr = sr_u8(in);
	v->dll = sr_u8(in);
	v->dlm = sr_u8(in);
	v->msr = sr_u8(in);
	v->fifo = sr_bool(in);
	v->thre_pending = sr_bool(in);
	v->tx_busy = sr_bool(in);
	v->rx_count = sr_u32(in);
	if (!sr_ok(in) || v->rx_count > RX_SIZE)
		return false;
	sr_get(in, v->rx, v->rx_count);
	if (!sr_done(in))
		return false;
	if ((v->ier & ~IER_MASK) || (v->mcr & ~MCR_MASK))
		return false;
	/* MSR's status half is always the modem inputs MCR implies: update_msr() runs on every MCR write. */
	return (v->msr & 0xf0) == modem_inputs(v->mcr);
}

/*
 * The backend and the irq line are the new VM's. The receive buffer starts at its head with no short
 * receive outstanding (the old backend's waiting input is gone). A transmitter that read busy waits for
 * room in the new backend as if serial_tx_ready() had just come: THR-empty at once when there is room,
 * else want_room() on the new backend, which calls serial_tx_ready() as usual. The interrupt line is
 * driven (even when low) to what the restored registers imply. Malformed input changes nothing.
 */
static int restore_state(void *dev, struct sreader *in)
{
	struct serial *s = dev;
	struct saved v;

	if (!read_saved(in, &v)) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&s->lock);
	s->ier = v.ier;
	s->lcr = v.lcr;
	s->mcr = v.mcr;
	s->scr = v.scr;
	s->dll = v.dll;
	s->dlm = v.dlm;
	s->msr = v.msr;
	s->fifo = v.fifo;
	s->thre_pending = v.thre_pending;
	s->tx_busy = false;
	s->rx_short = false;
	memcpy(s->rx, v.rx, v.rx_count);
	s->rx_head = 0;
	s->rx_count = v.rx_count;
	if (v.tx_busy && tx_empty(s))
		s->thre_pending = true;
	s->level = pending(s) != IIR_NONE;
	irq_line_set(&s->irq, s->level);
	pthread_mutex_unlock(&s->lock);
	return 0;
}

const struct vm_device_ops serial_device_ops = {
	.kind = "serial",
	.version = 1,
	.save = save_state,
	.restore = restore_state,
};
