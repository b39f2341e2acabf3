// SPDX-License-Identifier: Apache-2.0
/*
 * A tiny freestanding guest for testing the VMM where no stock kernel runs
 * (PVM hosts run it in KVM's instruction emulator). It reads "payload=NAME"
 * from the kernel command line in the zero page, does that one thing through
 * real port I/O, and reports on COM1.
 */
#include <stdint.h>

#include "hostile.h"

#define COM1 0x3f8
#define PM_SLEEP_CONTROL 0x600
#define PM_RESET 0x602
#define SLP_EN (1u << 5)
#define S5 5u

void payload_main(const uint8_t *zero_page);

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint8_t inb(uint16_t port)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

static void putc_serial(char c)
{
	while (!(inb(COM1 + 5) & 0x20))
		;
	outb(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	while (*s) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s++);
	}
}

static void put_hex(uint32_t v, int digits)
{
	for (int i = digits - 1; i >= 0; i--)
		putc_serial("0123456789abcdef"[(v >> (i * 4)) & 0xf]);
}

static void put_dec2(uint8_t v)
{
	putc_serial((char)('0' + v / 10));
	putc_serial((char)('0' + v % 10));
}

static void poweroff(void)
{
	outb(PM_SLEEP_CONTROL, (uint8_t)((S5 << 2) | SLP_EN));
	puts_serial("payload: poweroff did not stop the VM\n");
}

static int starts_with(const char *s, const char *p)
{
	while (*p)
		if (*s++ != *p++)
			return 0;
	return 1;
}

static int word_is(const char *s, const char *w)
{
	while (*w)
		if (*s++ != *w++)
			return 0;
	return *s == ' ' || *s == '\0';
}

static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

static void put_dec(uint32_t v)
{
	char buf[10];
	int n = 0;

	do {
		buf[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		putc_serial(buf[--n]);
}

/* The decimal value of "KEY=N" on the command line; def when absent. */
static uint32_t cmdline_u32(const char *cmdline, const char *key, uint32_t def)
{
	for (const char *p = cmdline; *p; p++) {
		uint32_t v = 0;

		if ((p != cmdline && p[-1] != ' ') || !starts_with(p, key))
			continue;
		for (const char *k = key; *k; k++)
			p++;
		for (; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (uint32_t)(*p - '0');
		return v;
	}
	return def;
}

/* Writes payload.value=N (default 0) to the debug-exit port 0xf4 as a 32-bit value. */
static void debug_exit(const char *cmdline)
{
	uint32_t v = cmdline_u32(cmdline, "payload.value=", 0);

	puts_serial("payload: debug exit ");
	put_dec(v);
	puts_serial("\n");
	outl(0xf4, v);
	puts_serial("payload: the debug-exit port did not stop the VM\n");
}

/*
 * Boot-timer markers: writes the bytes 1..N (N = payload.markers=, default 3) to the boot-timer port
 * 0x620, one serial line before each, so the host records N increasing times.
 */
static void markers(const char *cmdline)
{
	uint32_t n = cmdline_u32(cmdline, "payload.markers=", 3);

	for (uint32_t v = 1; v <= n && v <= 255; v++) {
		puts_serial("payload: marker ");
		put_dec(v);
		puts_serial("\n");
		outb(0x620, (uint8_t)v);
	}
}

/* Busy work: prints "payload: count N" about every 100 ms (2^28 TSC ticks), forever. */
static void count(void)
{
	for (uint32_t n = 0;; n++) {
		uint64_t t0 = rdtsc();

		puts_serial("payload: count ");
		put_dec(n);
		puts_serial("\n");
		while (rdtsc() - t0 < (1ull << 28))
			__asm__ volatile("pause");
	}
}

static uint8_t cmos(uint8_t reg)
{
	outb(0x70, reg);
	return inb(0x71);
}

static uint8_t bcd(uint8_t v)
{
	return (uint8_t)((v >> 4) * 10 + (v & 0xf));
}

static void rtc(void)
{
	uint8_t s, m, h, d, mo, y, c;

	while (cmos(0x0a) & 0x80)
		; /* update in progress */
	s = bcd(cmos(0)), m = bcd(cmos(2)), h = bcd(cmos(4));
	d = bcd(cmos(7)), mo = bcd(cmos(8)), y = bcd(cmos(9)), c = bcd(cmos(0x32));
	puts_serial("payload: rtc ");
	put_dec2(c), put_dec2(y), putc_serial('-'), put_dec2(mo), putc_serial('-'), put_dec2(d);
	putc_serial(' ');
	put_dec2(h), putc_serial(':'), put_dec2(m), putc_serial(':'), put_dec2(s);
	puts_serial("\n");
}

static void cpuid_sig(void)
{
	uint32_t a, b, c, d;
	char sig[13];

	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(0x40000000u), "c"(0));
	__builtin_memcpy(sig, &b, 4);
	__builtin_memcpy(sig + 4, &c, 4);
	__builtin_memcpy(sig + 8, &d, 4);
	sig[12] = 0;
	puts_serial("payload: hypervisor ");
	puts_serial(sig);
	puts_serial(" max leaf 0x");
	put_hex(a, 8);
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1u), "c"(0));
	puts_serial(" apic id ");
	put_hex(b >> 24, 2);
	puts_serial("\n");
}

static void echo(void)
{
	puts_serial("payload: ready for input\n");
	for (;;) {
		uint8_t ch;

		while (!(inb(COM1 + 5) & 0x01))
			;
		ch = inb(COM1);
		if (ch >= 'a' && ch <= 'z')
			ch = (uint8_t)(ch - 'a' + 'A');
		if (ch == '\r' || ch == '\n') {
			puts_serial("\n");
			return;
		}
		putc_serial((char)ch);
	}
}

static void triple_fault(void)
{
	static const struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} empty_idt = { 0, 0 };

	/* No IDT: the first exception becomes #GP, then #DF, then a shutdown. */
	__asm__ volatile("lidt %0" : : "m"(empty_idt));
	__asm__ volatile("ud2");
}

void payload_main(const uint8_t *zp)
{
	uint32_t cmdline_ptr;
	const char *p, *cmdline;

	__builtin_memcpy(&cmdline_ptr, zp + 0x228, 4);
	p = cmdline = (const char *)(uintptr_t)cmdline_ptr;
	puts_serial("payload: started\n");
	while (*p && !starts_with(p, "payload="))
		p++;
	if (*p)
		p += 8;

	if (word_is(p, "hello")) {
		puts_serial("payload: hello from the guest\n");
		poweroff();
	} else if (word_is(p, "reboot")) {
		outb(0x64, 0xfe);
	} else if (word_is(p, "reset-reg")) {
		outb(PM_RESET, 0x0e);
	} else if (word_is(p, "triple")) {
		triple_fault();
	} else if (word_is(p, "hang")) {
		puts_serial("payload: spinning forever\n");
		for (;;)
			__asm__ volatile("pause");
	} else if (word_is(p, "echo")) {
		echo();
		poweroff();
	} else if (word_is(p, "rtc")) {
		rtc();
		poweroff();
	} else if (word_is(p, "cpuid")) {
		cpuid_sig();
		poweroff();
	} else if (word_is(p, "unclaimed")) {
		puts_serial("payload: port 0x2e8 reads 0x");
		put_hex(inb(0x2e8 + 5), 2);
		puts_serial("\n");
		poweroff();
	} else if (word_is(p, "debugexit")) {
		debug_exit(cmdline);
		poweroff();
	} else if (word_is(p, "marker")) {
		markers(cmdline);
		poweroff();
	} else if (word_is(p, "count")) {
		count();
	} else if (word_is(p, "hostile")) {
		hostile_run(cmdline); /* hostile.c: attacks every device, then powers off */
	} else {
		puts_serial("payload: unknown test; use payload=hello|reboot|reset-reg|triple|hang|echo|rtc|cpuid|unclaimed"
			    "|debugexit|marker|count|hostile\n");
		poweroff();
	}
}
