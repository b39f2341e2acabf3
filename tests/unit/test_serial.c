// SPDX-License-Identifier: Apache-2.0
/* The 16550A UART: registers, interrupt identification and line edges, receive buffer, loopback, threads. */
#include <check.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "devices/serial.h"
#include "unit.h"

enum { THR = 0, RBR = 0, DLL = 0, IER = 1, DLM = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

/* A fake interrupt line: the level, how many times set() was called and how many rising edges it made. */
struct fake_irq {
	int level;
	int calls;
	int rises;
	unsigned gsi;
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct fake_irq *f = opaque;

	f->calls++;
	if (level && !f->level)
		f->rises++;
	f->level = level;
	f->gsi = gsi;
}

/*
 * A fake backend: everything the guest transmitted. cap > 0 limits how many bytes it holds
 * (the room left is cap - len) until the test empties it, as a console ring whose writer stalls.
 */
struct sink {
	uint8_t buf[4096];
	size_t len;
	int calls;
	size_t cap;
	int want_calls;
	size_t want_n;
	int rx_room_calls;
};

static size_t sink_room_left(const struct sink *k)
{
	return k->cap ? k->cap - k->len : sizeof(k->buf) - k->len;
}

static size_t sink_write(void *opaque, const uint8_t *buf, size_t len)
{
	struct sink *k = opaque;

	if (len > sink_room_left(k))
		len = sink_room_left(k);
	memcpy(k->buf + k->len, buf, len);
	k->len += len;
	k->calls++;
	return len;
}

static bool sink_room(void *opaque, size_t n)
{
	return sink_room_left(opaque) >= n;
}

static void sink_want_room(void *opaque, size_t n)
{
	struct sink *k = opaque;

	k->want_calls++;
	k->want_n = n;
}

static void sink_rx_room(void *opaque)
{
	((struct sink *)opaque)->rx_room_calls++;
}

static struct serial *make(struct fake_irq *f, struct sink *k)
{
	const struct irq_line irq = { .set = fake_irq_set, .opaque = f, .gsi = 4 };
	struct serial *s;

	memset(f, 0, sizeof(*f));
	memset(k, 0, sizeof(*k));
	{
		const struct serial_backend be = { .write = sink_write, .room = sink_room, .want_room = sink_want_room,
						   .rx_room = sink_rx_room, .opaque = k };

		s = serial_create(&irq, &be);
	}
	ck_assert_ptr_nonnull(s);
	return s;
}

static uint8_t rd(struct serial *s, uint64_t off)
{
	uint8_t v = 0x5a;

	serial_io(s, off, &v, 1, false);
	return v;
}

static void wr(struct serial *s, uint64_t off, uint8_t v)
{
	serial_io(s, off, &v, 1, true);
}

START_TEST(reset_values)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	ck_assert_uint_eq(rd(s, LSR), 0x60);
	ck_assert_uint_eq(rd(s, IIR), 0x01);
	ck_assert_uint_eq(rd(s, MSR), 0xb0);
	ck_assert_uint_eq(rd(s, MSR), 0xb0);
	ck_assert_uint_eq(rd(s, IER), 0);
	ck_assert_uint_eq(rd(s, LCR), 0);
	ck_assert_uint_eq(rd(s, MCR), 0);
	ck_assert_uint_eq(rd(s, RBR), 0);
	ck_assert_int_eq(f.calls, 0);
	ck_assert_uint_eq(k.len, 0);
	serial_destroy(s);
	serial_destroy(NULL);
}
END_TEST

START_TEST(divisor_latch)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	wr(s, IER, 0x05);
	wr(s, LCR, 0x83); /* DLAB, 8N1 */
	wr(s, DLL, 0x01);
	wr(s, DLM, 0x02);
	ck_assert_uint_eq(rd(s, DLL), 0x01);
	ck_assert_uint_eq(rd(s, DLM), 0x02);
	ck_assert_uint_eq(rd(s, LCR), 0x83);
	ck_assert_uint_eq(k.len, 0); /* the DLL write was not a THR write */
	wr(s, LCR, 0x03);
	ck_assert_uint_eq(rd(s, IER), 0x05); /* the DLM write did not reach IER */
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	wr(s, LCR, 0x83);
	ck_assert_uint_eq(rd(s, DLL), 0x01); /* and IER writes do not reach the latch */
	ck_assert_uint_eq(rd(s, DLM), 0x02);
	wr(s, LCR, 0x03);
	wr(s, IER, 0xff);
	ck_assert_uint_eq(rd(s, IER), 0x0f); /* only the low 4 bits exist */
	wr(s, MCR, 0xff);
	ck_assert_uint_eq(rd(s, MCR), 0x1f);
	serial_destroy(s);
}
END_TEST

START_TEST(scratch)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	wr(s, SCR, 0xa5);
	ck_assert_uint_eq(rd(s, SCR), 0xa5);
	wr(s, SCR, 0x5a);
	ck_assert_uint_eq(rd(s, SCR), 0x5a);
	wr(s, LCR, 0x80); /* DLAB does not hide the scratch register */
	ck_assert_uint_eq(rd(s, SCR), 0x5a);
	serial_destroy(s);
}
END_TEST

START_TEST(thr_output)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);
	const char *msg = "hello\n";

	for (const char *c = msg; *c; c++) {
		ck_assert(rd(s, LSR) & 0x20); /* the polling guest's check */
		wr(s, THR, (uint8_t)*c);
	}
	ck_assert_uint_eq(k.len, strlen(msg));
	ck_assert(!memcmp(k.buf, msg, k.len));
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	ck_assert_int_eq(f.calls, 0); /* no interrupt enabled, no line activity */
	serial_destroy(s);

	/* No output callback, no interrupt line: output is discarded. */
	s = serial_create(NULL, NULL);
	ck_assert_ptr_nonnull(s);
	wr(s, IER, 0x0f);
	wr(s, THR, 'x');
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	serial_destroy(s);
}
END_TEST

START_TEST(thre_interrupt)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	wr(s, IER, 0x02); /* ETBEI on with THR empty */
	ck_assert_int_eq(f.level, 1);
	ck_assert_int_eq(f.rises, 1);
	ck_assert_uint_eq(f.gsi, 4);
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	ck_assert_int_eq(f.level, 0); /* the IIR read acknowledged it: the line drops */
	ck_assert_uint_eq(rd(s, IIR), 0x01);
	wr(s, THR, 'a');
	ck_assert_int_eq(f.level, 1); /* a new rising edge for the edge-triggered pin */
	ck_assert_int_eq(f.rises, 2);
	ck_assert_uint_eq(k.len, 1);
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	ck_assert_int_eq(f.level, 0);

	/* Linux's UART_BUG_THRE probe: ETBEI off then on re-raises THR-empty. */
	wr(s, IER, 0x00);
	wr(s, IER, 0x02);
	ck_assert_int_eq(f.rises, 3);
	wr(s, IER, 0x02); /* rewriting it unchanged raises nothing new */
	ck_assert_int_eq(f.rises, 3);
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	wr(s, IER, 0x02);
	ck_assert_uint_eq(rd(s, IIR), 0x01);

	/* Disabling ETBEI with THR-empty pending drops the line. */
	wr(s, THR, 'b');
	ck_assert_int_eq(f.level, 1);
	wr(s, IER, 0x00);
	ck_assert_int_eq(f.level, 0);
	ck_assert_uint_eq(rd(s, IIR), 0x01);
	/* The line is set only on changes: every call alternated the level. */
	ck_assert_int_eq(f.calls, 2 * f.rises);
	serial_destroy(s);
}
END_TEST

START_TEST(rx_basic)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	ck_assert_uint_eq(serial_receive(s, "abc", 3), 3);
	ck_assert_uint_eq(serial_receive(s, NULL, 0), 0);
	ck_assert_uint_eq(rd(s, LSR), 0x61);
	ck_assert_uint_eq(rd(s, IIR), 0x01); /* ERBFI off */
	ck_assert_int_eq(f.calls, 0);
	wr(s, IER, 0x01);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, IIR), 0x04);
	ck_assert_uint_eq(rd(s, IIR), 0x04); /* reading IIR does not acknowledge received data */
	ck_assert_int_eq(f.level, 1);
	wr(s, FCR, 0x01);
	ck_assert_uint_eq(rd(s, IIR), 0xc4);
	ck_assert_uint_eq(rd(s, RBR), 'a');
	ck_assert_uint_eq(rd(s, RBR), 'b');
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, RBR), 'c');
	ck_assert_int_eq(f.level, 0);
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	ck_assert_uint_eq(rd(s, IIR), 0xc1);
	ck_assert_uint_eq(rd(s, RBR), 0); /* empty: nothing popped, nothing broken */
	ck_assert_uint_eq(rd(s, LSR), 0x60);

	/* Data arriving while the line is high makes no extra calls; a new burst makes a new edge. */
	ck_assert_uint_eq(serial_receive(s, "d", 1), 1);
	ck_assert_uint_eq(serial_receive(s, "e", 1), 1);
	ck_assert_int_eq(f.rises, 2);
	ck_assert_int_eq(f.calls, 3);
	ck_assert_uint_eq(rd(s, RBR), 'd');
	ck_assert_uint_eq(rd(s, RBR), 'e');
	ck_assert_int_eq(f.level, 0);
	wr(s, FCR, 0x00);
	ck_assert_uint_eq(rd(s, IIR), 0x01);
	serial_destroy(s);
}
END_TEST

START_TEST(rx_buffer_full)
{
	static uint8_t big[100000];
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);
	size_t taken;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	taken = serial_receive(s, big, sizeof(big));
	ck_assert_uint_ge(taken, 1024);
	ck_assert_uint_lt(taken, sizeof(big));
	ck_assert_uint_eq(serial_receive(s, big + taken, sizeof(big) - taken), 0);
	ck_assert_uint_eq(rd(s, RBR), big[0]);
	ck_assert_uint_eq(serial_receive(s, big + taken, sizeof(big) - taken), 1); /* room for exactly one */
	taken++;
	for (size_t i = 1; i < taken; i++) {
		ck_assert_uint_eq(rd(s, LSR), 0x61); /* never an overrun */
		ck_assert_uint_eq(rd(s, RBR), big[i]);
	}
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	serial_destroy(s);
}
END_TEST

START_TEST(priority_rx_over_thre)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	wr(s, IER, 0x03);
	ck_assert_uint_eq(serial_receive(s, "xy", 2), 2);
	ck_assert_uint_eq(rd(s, IIR), 0x04);
	ck_assert_uint_eq(rd(s, IIR), 0x04); /* THR-empty is still pending behind it, not acknowledged */
	ck_assert_uint_eq(rd(s, RBR), 'x');
	ck_assert_uint_eq(rd(s, RBR), 'y');
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	ck_assert_int_eq(f.level, 0);
	ck_assert_uint_eq(rd(s, IIR), 0x01);
	ck_assert_int_eq(f.rises, 1);

	/* Modem status is the lowest: reported only once THR-empty is acknowledged. */
	wr(s, IER, 0x00);
	wr(s, IER, 0x0b); /* ETBEI switched on again: THR-empty pending */
	wr(s, MCR, 0x10); /* loopback: CTS, DSR, DCD all drop, setting their delta bits */
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, IIR), 0x00);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, MSR), 0x0b);
	ck_assert_int_eq(f.level, 0);
	ck_assert_uint_eq(rd(s, IIR), 0x01);
	serial_destroy(s);
}
END_TEST

START_TEST(loopback)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	/* Linux's autoconfig check: loopback with OUT2|RTS reads back DCD|CTS. */
	wr(s, MCR, 0x10 | 0x0a);
	ck_assert_uint_eq(rd(s, MSR) & 0xf0, 0x90);
	ck_assert_uint_eq(rd(s, MSR), 0x90); /* deltas cleared by the read */
	wr(s, MCR, 0x1f);
	ck_assert_uint_eq(rd(s, MSR), 0xf0 | 0x02); /* DSR rose (RI rising sets no delta); CTS and DCD stayed */
	wr(s, MCR, 0x10 | 0x01); /* DTR only: RI trailing edge */
	ck_assert_uint_eq(rd(s, MSR), 0x20 | 0x01 | 0x04 | 0x08);
	wr(s, MCR, 0x10);
	ck_assert_uint_eq(rd(s, MSR), 0x02);

	wr(s, IER, 0x01);
	wr(s, THR, 'q');
	wr(s, THR, 'r');
	ck_assert_uint_eq(k.len, 0); /* nothing reaches the output */
	ck_assert_uint_eq(rd(s, LSR), 0x61);
	ck_assert_uint_eq(rd(s, IIR), 0x04);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, RBR), 'q');
	ck_assert_uint_eq(rd(s, RBR), 'r');
	ck_assert_int_eq(f.level, 0);

	wr(s, MCR, 0x0b); /* out of loopback: the terminal is connected again */
	ck_assert_uint_eq(rd(s, MSR) & 0xf0, 0xb0);
	ck_assert_uint_eq(rd(s, MSR), 0xb0);
	wr(s, THR, 's');
	ck_assert_uint_eq(k.len, 1);
	ck_assert_uint_eq(k.buf[0], 's');
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	serial_destroy(s);
}
END_TEST

START_TEST(fcr_clear_rx)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	wr(s, IER, 0x01);
	ck_assert_uint_eq(serial_receive(s, "0123456789", 10), 10);
	ck_assert_int_eq(f.level, 1);
	wr(s, FCR, 0x05); /* enable, clear TX only */
	ck_assert_uint_eq(rd(s, LSR), 0x61);
	ck_assert_uint_eq(rd(s, IIR), 0xc4);
	ck_assert_uint_eq(rd(s, RBR), '0');
	wr(s, FCR, 0x03); /* enable, clear RX */
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	ck_assert_int_eq(f.level, 0);
	ck_assert_uint_eq(rd(s, IIR), 0xc1);
	ck_assert_uint_eq(serial_receive(s, "z", 1), 1);
	ck_assert_uint_eq(rd(s, RBR), 'z');
	serial_destroy(s);
}
END_TEST

START_TEST(odd_accesses)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);
	uint8_t d[4];

	memset(d, 0xee, sizeof(d));
	serial_io(s, LSR, d, 4, false);
	ck_assert_uint_eq(d[0], 0x60);
	ck_assert_uint_eq(d[1] | d[2] | d[3], 0);

	d[0] = 0x11;
	d[1] = 0x22;
	serial_io(s, SCR, d, 2, true);
	ck_assert_uint_eq(rd(s, SCR), 0x11);

	d[0] = 'w';
	d[1] = 'v';
	serial_io(s, THR, d, 2, true); /* outw to THR sends the low byte once */
	ck_assert_uint_eq(k.len, 1);
	ck_assert_uint_eq(k.buf[0], 'w');

	ck_assert_uint_eq(serial_receive(s, "AB", 2), 2);
	memset(d, 0xee, sizeof(d));
	serial_io(s, RBR, d, 2, false); /* inw pops one byte */
	ck_assert_uint_eq(d[0], 'A');
	ck_assert_uint_eq(d[1], 0);
	ck_assert_uint_eq(rd(s, RBR), 'B');

	/* Offsets past the 8 registers: writes ignored, reads all-ones. */
	wr(s, 8, 0x12);
	wr(s, 100, 0x12);
	wr(s, UINT64_MAX, 0x12);
	ck_assert_uint_eq(rd(s, 8), 0xff);
	ck_assert_uint_eq(rd(s, UINT64_MAX), 0xff);
	memset(d, 0, sizeof(d));
	serial_io(s, 9, d, 4, false);
	ck_assert_uint_eq(d[0] & d[1] & d[2] & d[3], 0xff);
	serial_io(s, LSR, d, 0, false); /* zero length: nothing touched */
	ck_assert_uint_eq(d[0], 0xff);
	ck_assert_uint_eq(rd(s, SCR), 0x11);
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	ck_assert_uint_eq(k.len, 1);
	serial_destroy(s);
}
END_TEST

START_TEST(two_instances)
{
	struct fake_irq f1, f2;
	struct sink k1, k2;
	struct serial *a = make(&f1, &k1);
	struct serial *b = make(&f2, &k2);

	wr(a, SCR, 1);
	wr(b, SCR, 2);
	ck_assert_uint_eq(rd(a, SCR), 1);
	ck_assert_uint_eq(rd(b, SCR), 2);
	wr(a, IER, 0x01);
	wr(b, IER, 0x01);
	ck_assert_uint_eq(serial_receive(a, "A", 1), 1);
	ck_assert_int_eq(f1.level, 1);
	ck_assert_int_eq(f2.calls, 0);
	ck_assert_uint_eq(rd(b, LSR), 0x60);
	wr(b, THR, 'B');
	ck_assert_uint_eq(k1.len, 0);
	ck_assert_uint_eq(k2.len, 1);
	wr(a, LCR, 0x80);
	ck_assert_uint_eq(rd(b, LCR), 0);
	wr(b, THR, 'C'); /* b's DLAB is clear even though a's is set */
	ck_assert_uint_eq(k2.len, 2);
	wr(a, LCR, 0x00);
	ck_assert_uint_eq(rd(a, RBR), 'A');
	ck_assert_int_eq(f1.level, 0);
	serial_destroy(a);
	serial_destroy(b);
}
END_TEST

/* A backend short of room: THR reads busy, no THR-empty interrupt, until serial_tx_ready(). */
START_TEST(tx_backpressure)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	k.cap = 40;
	wr(s, FCR, 0x01); /* FIFO on: THRE means room for 16 */
	wr(s, IER, 0x02);
	ck_assert_int_eq(f.level, 1); /* ETBEI with an empty transmitter */
	ck_assert_uint_eq(rd(s, IIR), 0xc2);
	ck_assert_int_eq(f.level, 0);
	for (int i = 0; i < 24; i++)
		wr(s, THR, (uint8_t)('a' + i));
	/* 24 taken, 16 left: still room for a FIFO's worth. One more and it is short. */
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x60);
	wr(s, THR, 'y');
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x00);
	ck_assert_int_eq(k.want_calls, 1);
	ck_assert_uint_eq(k.want_n, 16);
	ck_assert_uint_eq(rd(s, IIR), 0xc1); /* no THR-empty while busy */
	ck_assert_int_eq(f.level, 0);
	/* A guest that writes anyway fills the rest, then loses bytes (counted), never blocks. */
	for (int i = 0; i < 20; i++)
		wr(s, THR, 'z');
	ck_assert_uint_eq(k.len, 40);
	ck_assert_uint_eq(serial_tx_lost(s), 5);
	ck_assert_int_eq(k.want_calls, 1); /* asked once per busy period */
	{
		char line[256];

		serial_describe(s, line, sizeof(line));
		ck_assert_str_eq(line, "IER 0x02, interrupt pending: none, IRQ line low, transmitter waits for the host "
				       "to take output, 0 received bytes unread, 5 sent bytes lost");
	}
	/* The backend made room: THRE and TEMT again, and a THR-empty interrupt. */
	k.len = 0;
	serial_tx_ready(s);
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x60);
	ck_assert_int_eq(f.level, 1);
	ck_assert_uint_eq(rd(s, IIR), 0xc2);
	ck_assert_int_eq(f.level, 0);
	/* A tx_ready without a busy period changes nothing. */
	serial_tx_ready(s);
	ck_assert_int_eq(f.level, 0);
	/* Room came but not enough for a FIFO's worth: still busy, asked again. */
	k.len = 30;
	wr(s, THR, '1');
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x00);
	ck_assert_int_eq(k.want_calls, 2);
	k.len = 30;
	serial_tx_ready(s);
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x00);
	ck_assert_int_eq(f.level, 0);
	ck_assert_int_eq(k.want_calls, 3);
	serial_destroy(s);
}
END_TEST

/* Without the FIFO one byte of room is enough for THRE. */
START_TEST(tx_backpressure_nofifo)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);

	k.cap = 2;
	wr(s, THR, 'a');
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x60);
	wr(s, THR, 'b');
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x00);
	ck_assert_int_eq(k.want_calls, 1);
	ck_assert_uint_eq(k.want_n, 1);
	serial_destroy(s);
}
END_TEST

/* A short serial_receive() is followed by rx_room once the guest reads (or clears the FIFO). */
START_TEST(rx_room_kick)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);
	static uint8_t big[5000];

	ck_assert_uint_eq(serial_receive(s, big, sizeof(big)), 4096);
	ck_assert_int_eq(k.rx_room_calls, 0);
	rd(s, RBR);
	ck_assert_int_eq(k.rx_room_calls, 1);
	rd(s, RBR);
	ck_assert_int_eq(k.rx_room_calls, 1); /* once per short receive */
	ck_assert_uint_eq(serial_receive(s, big, 10), 2);
	wr(s, FCR, 0x03);
	ck_assert_int_eq(k.rx_room_calls, 2);
	serial_destroy(s);
}
END_TEST

/* Save s into b (initialised here). */
static void save(struct serial *s, struct sbuf *b)
{
	sbuf_init(b);
	ck_assert_int_eq(serial_device_ops.save(s, b), 0);
	ck_assert(!b->oom);
}

/* Restore s from a heap copy of exactly n bytes, so that ASan sees any read past them. */
static int restore(struct serial *s, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader r;
	int ret;

	ck_assert_ptr_nonnull(copy);
	if (n)
		memcpy(copy, p, n);
	sreader_init(&r, copy, n);
	ret = serial_device_ops.restore(s, &r);
	free(copy);
	return ret;
}

/* The same reads, in the same order, return the same bytes and leave the lines at the same levels. */
static void assert_same(struct serial *a, struct fake_irq *fa, struct serial *b, struct fake_irq *fb)
{
	static const uint8_t order[] = { LCR, MCR, SCR, LSR, IIR, MSR, MSR, IER, IIR, IIR };
	uint8_t lcr = rd(a, LCR);

	ck_assert_int_eq(fa->level, fb->level);
	for (size_t i = 0; i < sizeof(order); i++) {
		ck_assert_uint_eq(rd(a, order[i]), rd(b, order[i]));
		ck_assert_int_eq(fa->level, fb->level);
	}
	wr(a, LCR, lcr | 0x80);
	wr(b, LCR, lcr | 0x80);
	ck_assert_uint_eq(rd(a, DLL), rd(b, DLL));
	ck_assert_uint_eq(rd(a, DLM), rd(b, DLM));
	wr(a, LCR, lcr & 0x7f);
	wr(b, LCR, lcr & 0x7f);
	/* Drain what was received, then see the interrupts that remain acknowledged the same way. */
	for (int i = 0; i < 5000 && (rd(a, LSR) & 0x01); i++) {
		ck_assert_uint_eq(rd(a, LSR), rd(b, LSR));
		ck_assert_uint_eq(rd(a, RBR), rd(b, RBR));
		ck_assert_int_eq(fa->level, fb->level);
	}
	ck_assert_uint_eq(rd(a, LSR), rd(b, LSR));
	for (int i = 0; i < 4; i++) {
		ck_assert_uint_eq(rd(a, IIR), rd(b, IIR));
		ck_assert_int_eq(fa->level, fb->level);
	}
	wr(a, LCR, lcr);
	wr(b, LCR, lcr);
}

/* Every register, the divisor, pending interrupts and a wrapped receive buffer survive save and restore. */
START_TEST(snapshot_round_trip)
{
	static uint8_t fill[4090];
	struct fake_irq f, f2;
	struct sink k, k2;
	struct serial *s = make(&f, &k);
	struct serial *t = make(&f2, &k2);
	struct sbuf b;

	ck_assert_str_eq(serial_device_ops.kind, "serial");
	ck_assert_uint_eq(serial_device_ops.version, 1);
	/* Move the ring's head near its end so the queued bytes wrap. */
	ck_assert_uint_eq(serial_receive(s, fill, sizeof(fill)), sizeof(fill));
	for (size_t i = 0; i < sizeof(fill); i++)
		rd(s, RBR);
	ck_assert_uint_eq(serial_receive(s, "0123456789abcdefghij", 20), 20);
	wr(s, FCR, 0x01);
	wr(s, LCR, 0x83);
	wr(s, DLL, 0x34);
	wr(s, DLM, 0x12);
	wr(s, LCR, 0x1b);
	wr(s, SCR, 0xa5);
	wr(s, MCR, 0x1a); /* loopback: DSR drops */
	wr(s, MCR, 0x0b); /* and rises again: DDSR stays set until MSR is read */
	wr(s, IER, 0x0f);
	ck_assert_int_eq(f.level, 1);

	save(s, &b);
	ck_assert_int_eq(f2.level, 0);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, 1);
	ck_assert_uint_eq(f2.gsi, 4);
	ck_assert_int_eq(k2.want_calls, 0);
	/* A second save of the restored UART is byte for byte the first. */
	{
		struct sbuf b2;

		save(t, &b2);
		ck_assert_uint_eq(b2.len, b.len);
		ck_assert(!memcmp(b2.data, b.data, b.len));
		sbuf_free(&b2);
	}
	assert_same(s, &f, t, &f2);
	ck_assert_int_eq(f2.level, 0);
	/* Both go on alike: transmit reaches the new backend. */
	wr(t, THR, 'Z');
	ck_assert_uint_eq(k2.len, 1);
	ck_assert_uint_eq(k2.buf[0], 'Z');
	sbuf_free(&b);

	/* Defaults restore as defaults; the line is driven low. */
	serial_destroy(s);
	s = make(&f, &k);
	save(s, &b);
	wr(t, IER, 0x02);
	ck_assert_int_eq(f2.level, 1);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(f2.level, 0);
	assert_same(s, &f, t, &f2);
	sbuf_free(&b);
	serial_destroy(s);
	serial_destroy(t);
}
END_TEST

/* A transmitter saved busy waits for room in the new backend, then interrupts as usual. */
START_TEST(snapshot_tx_busy)
{
	struct fake_irq f, f2;
	struct sink k, k2;
	struct serial *s = make(&f, &k);
	struct serial *t = make(&f2, &k2);
	struct sbuf b;

	k.cap = 1;
	wr(s, IER, 0x02);
	ck_assert_uint_eq(rd(s, IIR), 0x02);
	wr(s, THR, 'a');
	ck_assert_uint_eq(rd(s, LSR) & 0x60, 0x00);
	ck_assert_int_eq(f.level, 0);
	save(s, &b);

	/* The new backend is short of room too: still busy, and it is asked to say when there is. */
	k2.cap = 1;
	k2.len = 1;
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(k2.want_calls, 1);
	ck_assert_uint_eq(k2.want_n, 1);
	ck_assert_int_eq(f2.level, 0);
	ck_assert_uint_eq(rd(t, LSR) & 0x60, 0x00);
	ck_assert_uint_eq(rd(t, IIR), 0x01);
	k2.len = 0;
	serial_tx_ready(t);
	ck_assert_int_eq(f2.level, 1);
	ck_assert_uint_eq(rd(t, LSR) & 0x60, 0x60);
	ck_assert_uint_eq(rd(t, IIR), 0x02);
	ck_assert_int_eq(f2.level, 0);
	serial_destroy(t);

	/* The new backend has room: THR-empty at once, as if tx_ready had come. */
	t = make(&f2, &k2);
	ck_assert_int_eq(restore(t, b.data, b.len), 0);
	ck_assert_int_eq(k2.want_calls, 0);
	ck_assert_int_eq(f2.level, 1);
	ck_assert_uint_eq(rd(t, LSR) & 0x60, 0x60);
	ck_assert_uint_eq(rd(t, IIR), 0x02);
	ck_assert_int_eq(f2.level, 0);
	sbuf_free(&b);
	serial_destroy(s);
	serial_destroy(t);
}
END_TEST

/* The UART a failed restore left: unchanged (SCR 0x77, IER 0x01, one byte queued) and working. */
static void assert_untouched(struct serial *t, struct fake_irq *f)
{
	ck_assert_uint_eq(rd(t, SCR), 0x77);
	ck_assert_uint_eq(rd(t, IER), 0x01);
	ck_assert_uint_eq(rd(t, LSR), 0x61);
	ck_assert_int_eq(f->level, 1);
}

/* Truncated, overlong and out-of-range state is refused and leaves the UART as it was. */
START_TEST(snapshot_hostile)
{
	struct fake_irq f, f2;
	struct sink k, k2;
	struct serial *s = make(&f, &k);
	struct serial *t = make(&f2, &k2);
	struct sbuf b;
	uint8_t *bad;

	wr(s, IER, 0x0f);
	ck_assert_uint_eq(serial_receive(s, "abc", 3), 3);
	save(s, &b);
	ck_assert_uint_eq(b.len, 14 + 3);
	wr(t, SCR, 0x77);
	wr(t, IER, 0x01);
	ck_assert_uint_eq(serial_receive(t, "q", 1), 1);

	for (size_t n = 0; n < b.len; n++) {
		ck_assert_int_eq(restore(t, b.data, n), -EINVAL);
		assert_untouched(t, &f2);
	}
	bad = malloc(b.len + 4097 + 8);
	ck_assert_ptr_nonnull(bad);
	memcpy(bad, b.data, b.len);
	bad[b.len] = 0;
	ck_assert_int_eq(restore(t, bad, b.len + 1), -EINVAL); /* one byte left over */
	assert_untouched(t, &f2);

	{
		/* Offset, value: one field out of its range each. */
		static const struct {
			size_t off;
			uint8_t v;
		} cases[] = {
			{ 0, 0x10 },            /* IER bit 4 does not exist */
			{ 2, 0x20 },            /* nor MCR bit 5 */
			{ 6, 0x00 },            /* MSR status bits that MCR (no loopback) cannot give */
			{ 7, 2 },  { 8, 0xff }, { 9, 2 }, /* bools other than 0 or 1 */
			{ 10, 4 },              /* 4 bytes counted, 3 there */
			{ 10, 2 },              /* 2 counted, 3 there */
		};

		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			memcpy(bad, b.data, b.len);
			bad[cases[i].off] = cases[i].v;
			ck_assert_int_eq(restore(t, bad, b.len), -EINVAL);
			assert_untouched(t, &f2);
		}
	}
	/* More bytes than the buffer holds, all of them present; and a count near 2^32. */
	memcpy(bad, b.data, 10);
	bad[10] = 0x01;
	bad[11] = 0x10;
	bad[12] = bad[13] = 0;
	memset(bad + 14, 'x', 4097);
	ck_assert_int_eq(restore(t, bad, 14 + 4097), -EINVAL);
	assert_untouched(t, &f2);
	bad[10] = bad[11] = bad[12] = bad[13] = 0xff;
	ck_assert_int_eq(restore(t, bad, 14 + 4097), -EINVAL);
	assert_untouched(t, &f2);
	/* Exactly a full buffer is fine. */
	bad[10] = 0x00;
	bad[11] = 0x10;
	bad[12] = bad[13] = 0;
	ck_assert_int_eq(restore(t, bad, 14 + 4096), 0);
	ck_assert_uint_eq(rd(t, LSR), 0x61);
	ck_assert_uint_eq(rd(t, RBR), 'x');
	free(bad);
	sbuf_free(&b);
	serial_destroy(s);
	serial_destroy(t);
}
END_TEST

#define THREAD_BYTES 200000

struct producer {
	struct serial *s;
	size_t calls;
};

static void *produce(void *arg)
{
	struct producer *p = arg;
	uint8_t chunk[509];
	size_t sent = 0;

	while (sent < THREAD_BYTES) {
		size_t n = THREAD_BYTES - sent < sizeof(chunk) ? THREAD_BYTES - sent : sizeof(chunk);
		size_t got;

		for (size_t i = 0; i < n; i++)
			chunk[i] = (uint8_t)((sent + i) % 251);
		got = serial_receive(p->s, chunk, n);
		sent += got;
		p->calls++;
		if (got < n)
			sched_yield();
	}
	return NULL;
}

START_TEST(threaded_receive)
{
	struct fake_irq f;
	struct sink k;
	struct serial *s = make(&f, &k);
	struct producer p = { .s = s };
	pthread_t t;

	wr(s, IER, 0x03);
	wr(s, FCR, 0x01);
	ck_assert_int_eq(pthread_create(&t, NULL, produce, &p), 0);
	for (size_t i = 0; i < THREAD_BYTES;) {
		uint8_t iir = rd(s, IIR);

		ck_assert_uint_eq(iir & 0xc0, 0xc0);
		if (!(rd(s, LSR) & 0x01)) {
			sched_yield();
			continue;
		}
		ck_assert_uint_eq(rd(s, RBR), i % 251);
		i++;
		if (i % 1000 == 0)
			wr(s, THR, (uint8_t)(i / 1000)); /* transmit on the way, as a console would */
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	ck_assert_uint_eq(rd(s, LSR), 0x60);
	ck_assert_uint_eq(k.len, THREAD_BYTES / 1000);
	for (size_t i = 0; i < k.len; i++)
		ck_assert_uint_eq(k.buf[i], (uint8_t)(i + 1));
	/* Drained and acknowledged: the line is low and every set() call changed the level. */
	while (rd(s, IIR) != 0xc1)
		;
	ck_assert_int_eq(f.level, 0);
	ck_assert_int_eq(f.calls, 2 * f.rises);
	serial_destroy(s);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("serial");
	TCase *regs = tcase_create("registers");
	TCase *irq = tcase_create("interrupts");
	TCase *rx = tcase_create("receive");
	TCase *mt = tcase_create("threads");
	TCase *snap = tcase_create("snapshot");

	tcase_add_test(regs, reset_values);
	tcase_add_test(regs, divisor_latch);
	tcase_add_test(regs, scratch);
	tcase_add_test(regs, thr_output);
	tcase_add_test(regs, odd_accesses);
	tcase_add_test(regs, two_instances);
	tcase_add_test(irq, thre_interrupt);
	tcase_add_test(irq, priority_rx_over_thre);
	tcase_add_test(irq, tx_backpressure);
	tcase_add_test(irq, tx_backpressure_nofifo);
	tcase_add_test(rx, rx_room_kick);
	tcase_add_test(rx, rx_basic);
	tcase_add_test(rx, rx_buffer_full);
	tcase_add_test(rx, loopback);
	tcase_add_test(rx, fcr_clear_rx);
	tcase_add_test(mt, threaded_receive);
	tcase_add_test(snap, snapshot_round_trip);
	tcase_add_test(snap, snapshot_tx_busy);
	tcase_add_test(snap, snapshot_hostile);
	tcase_set_timeout(mt, 60);
	suite_add_tcase(s, regs);
	suite_add_tcase(s, irq);
	suite_add_tcase(s, rx);
	suite_add_tcase(s, mt);
	suite_add_tcase(s, snap);
	return unit_run(s);
}
