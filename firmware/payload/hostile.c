// SPDX-License-Identifier: Apache-2.0
/*
 * The hostile guest: payload=hostile [seed=N] [rounds=N] [idle=S] [ops=N] [snapshots=N]. From a PRNG seeded with N, each round
 * writes random and adversarial values (0, all-ones, sign bits, single bits, random) at every width
 * to the I/O ports the VMM decodes and the ports around them, to the MMIO ranges (both BAR windows,
 * ECAM and the unclaimed hole around them), to every configuration register of the functions on bus
 * 0 through both 0xcf8/0xcfc and ECAM (BARs moved over each other, over RAM, over the LAPIC and
 * IOAPIC, to 0; command bits toggled), fills the MSI-X tables with garbage and enables MSI-X, and
 * sets up virtqueues pointing outside RAM, into MMIO, over each other, with descriptor loops, huge
 * lengths and avail indices far ahead, sets DRIVER_OK with random features, rings every doorbell
 * and resets the devices mid-request. Then it prints one line of counts ("hostile: done ..."),
 * halts for idle= seconds (woken by the LAPIC timer: the host can watch the VMM's CPU use while no
 * guest code pokes it) and powers off through ACPI S5.
 *
 * ops= sets the accesses per round and kind (default 200), idle= the seconds of halt (default 3).
 * Every vCPU attacks at once: the boot vCPU starts the others (INIT and start-up IPIs, a real-mode
 * trampoline at 0x10000 into long mode), each runs the rounds with its own PRNG stream (seed and
 * vCPU index) and counts, and the boot vCPU sums them up; smp=0 keeps to the boot vCPU.
 *
 * What it never does, because it would end the run early or wedge the payload itself rather than
 * test the VMM (see tame() and port_skip()):
 *   - PM1 sleep control 0x600 with SLP_EN (S5 powers off), the reset register 0x602 = 0x0e, a byte
 *     at 0xcf9 with RST_CPU (0x04), i8042 commands 0xf0-0xfe with bit 0 clear (reset pulse) and
 *     0xd1 (write output port: its next data byte may pulse reset);
 *   - the debug-exit port 0xf4 (the tests' --debug-exit; not given to the hostile case anyway);
 *   - the snapshot-request port 0x624 except snapshots= times per run (default 3, in the first
 *     rounds; more are spaced out after the rounds): each write is a request event, and vmm
 *     without --snapshot-dir says it ignores it;
 *   - the ports of KVM's in-kernel PIC, PIT, speaker and ELCR: not the VMM's code, and the payload
 *     needs its interrupts for the idle phase;
 *   - writes to the IOAPIC, the LAPIC (read only, aligned dwords) and the top of the 4 GiB hole;
 *   - MSI messages with the SMI, INIT, SIPI or ExtINT delivery mode (tame_msi_data()): an INIT
 *     resets our own vCPU (seen with a first version: the BSP restarted at f000:fff0 and vmm ended the run as a
 *     crash, exit 2, at KVM's emulation failure there);
 *   - guest addresses inside the payload's own image (960 KiB .. SCRATCH) as DMA targets: descriptor,
 *     ring and buffer addresses are tamed (tame_addr()) so a device never writes over our code.
 * The GED (0x610) is attacked: its writes are ignored by design and its reads only clear events.
 */
#include <stdint.h>

#include "hostile.h"

#define COM1 0x3f8
#define SNAPSHOT_PORT 0x624
#define WIN32 0xc0000000ull
#define WIN32_SIZE 0x20000000ull
#define ECAM 0xe0000000ull
#define ECAM_SIZE 0x100000ull
#define HOLE_WRITABLE_END 0xfec00000ull /* IOAPIC, LAPIC and above: read only */
#define LAPIC 0xfee00000ull
#define IOAPIC 0xfec00000ull
/*
 * The payload image (0x200000..) and its stack start at 1 MiB; the 64 KiB below are protected too: no
 * DMA the devices do (at most the scratch disk's 64 KiB per request) can start below that and reach up
 * into the image (CI: a 1 MiB disk read into a buffer at 0xc0000 overwrote our tables, a triple fault).
 */
#define PROTECT_LO (0x100000ull - 0x10000ull)
#define SCRATCH 0x800000ull             /* rings and buffers; RAM from here up is the devices' */
#define SCRATCH_SIZE 0x400000ull
#define BAR_HOME(i) (0xd0000000ull + (uint64_t)(i) * 0x100000ull) /* where we put function i's BARs */
#define WIN64_MAPPED (2ull << 30)       /* how much of the 64-bit window we map */
#define MAX_FNS 32

/* virtio-pci common configuration (struct virtio_pci_common_cfg) and BAR 0 layout (src/virtio/pci.h). */
#define CC_DFSELECT 0x00
#define CC_DF 0x04
#define CC_GFSELECT 0x08
#define CC_GF 0x0c
#define CC_MSIX 0x10
#define CC_NUMQ 0x12
#define CC_STATUS 0x14
#define CC_QSELECT 0x16
#define CC_QSIZE 0x18
#define CC_QMSIX 0x1a
#define CC_QENABLE 0x1c
#define CC_QDESC 0x20
#define CC_QAVAIL 0x28
#define CC_QUSED 0x30
#define VP_ISR 0x1000
#define VP_DEVICE 0x2000
#define VP_NOTIFY 0x3000

struct fn {
	uint8_t dev, func;
	uint16_t vendor, device;
	int virtio;
	uint8_t msix_cap; /* 0: none */
};

static struct fn fns[MAX_FNS];
static int nfns;
static uint64_t win64; /* the 64-bit BAR window (from the BARs the VMM placed), mapped when non-zero */
static unsigned snapshot_pokes, snapshot_max = 3;
uint64_t volatile hostile_ticks; /* LAPIC timer interrupts (the ISR below counts them) */

struct counts {
	uint32_t port_w, port_r, string_io, mmio_w, mmio_r, cfg_w, cfg_r, bar_moves, msix_w, queues, notifies,
		driver_ok, resets;
};

/* Each vCPU's own PRNG and counts, found through its GS base (struct cpu's first member points to it). */
struct cpu {
	struct cpu *self;
	uint64_t rng;
	struct counts n;
	uint8_t stack_guard[8];
};

#define MAX_CPUS 8
static struct cpu cpus[MAX_CPUS];
static uint32_t rounds_all, ops_all, seed_all;
static volatile uint32_t aps_up, aps_done, go;
uint32_t volatile hostile_ap_next = 1; /* the next AP's index (the trampoline takes one) */
uint8_t hostile_ap_stacks[MAX_CPUS][8192] __attribute__((aligned(16)));

static inline struct cpu *me(void)
{
	struct cpu *c;

	__asm__("mov %%gs:0, %0" : "=r"(c));
	return c;
}

#define N (me()->n)

/* Our own GDT, page tables and IDT: the VMM's sit in low RAM that the devices may be told to write. */
#define SEL_CODE32 0x28
#define SEL_DATA 0x30
#define SEL_CODE64 0x38
static uint64_t gdt[8] __attribute__((aligned(16)));
static uint64_t idt[512] __attribute__((aligned(4096)));
static uint64_t pml4[512] __attribute__((aligned(4096)));
static uint64_t pdpt[512] __attribute__((aligned(4096)));
static uint64_t pd[6][512] __attribute__((aligned(4096)));

/* ---- Primitives. ---- */

static inline void out8(uint16_t p, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(p)); }
static inline void out16(uint16_t p, uint16_t v) { __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(p)); }
static inline void out32(uint16_t p, uint32_t v) { __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(p)); }

static inline uint8_t in8(uint16_t p)
{
	uint8_t v;

	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}

static inline uint16_t in16(uint16_t p)
{
	uint16_t v;

	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}

static inline uint32_t in32(uint16_t p)
{
	uint32_t v;

	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(p));
	return v;
}

static void port_out(uint16_t p, unsigned w, uint32_t v)
{
	if (w == 1)
		out8(p, (uint8_t)v);
	else if (w == 2)
		out16(p, (uint16_t)v);
	else
		out32(p, v);
}

static uint32_t port_in(uint16_t p, unsigned w)
{
	return w == 1 ? in8(p) : w == 2 ? in16(p) : in32(p);
}

/* MMIO with the exact width asked for (the compiler must not merge or split these). */
static void mmio_out(uint64_t a, unsigned w, uint64_t v)
{
	if (w == 1)
		__asm__ volatile("movb %b0, (%1)" : : "q"(v), "r"(a) : "memory");
	else if (w == 2)
		__asm__ volatile("movw %w0, (%1)" : : "r"(v), "r"(a) : "memory");
	else if (w == 4)
		__asm__ volatile("movl %k0, (%1)" : : "r"(v), "r"(a) : "memory");
	else
		__asm__ volatile("movq %0, (%1)" : : "r"(v), "r"(a) : "memory");
}

static uint64_t mmio_in(uint64_t a, unsigned w)
{
	uint64_t v = 0;

	if (w == 1)
		__asm__ volatile("movzbq (%1), %0" : "=r"(v) : "r"(a) : "memory");
	else if (w == 2)
		__asm__ volatile("movzwq (%1), %0" : "=r"(v) : "r"(a) : "memory");
	else if (w == 4)
		__asm__ volatile("movl (%1), %k0" : "=r"(v) : "r"(a) : "memory");
	else
		__asm__ volatile("movq (%1), %0" : "=r"(v) : "r"(a) : "memory");
	return v;
}

static void putc_serial(char c)
{
	for (unsigned i = 0; i < 1000000 && !(in8(COM1 + 5) & 0x20); i++)
		;
	out8(COM1, (uint8_t)c);
}

static void puts_serial(const char *s)
{
	while (*s) {
		if (*s == '\n')
			putc_serial('\r');
		putc_serial(*s++);
	}
}

static void put_dec(uint64_t v)
{
	char buf[20];
	int k = 0;

	do {
		buf[k++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (k)
		putc_serial(buf[--k]);
}

static void put_kv(const char *key, uint64_t v)
{
	puts_serial(" ");
	puts_serial(key);
	puts_serial("=");
	put_dec(v);
}

static uint32_t arg_u32(const char *cmdline, const char *key, uint32_t def)
{
	for (const char *p = cmdline; *p; p++) {
		const char *k = key, *q = p;
		uint32_t v = 0;

		if (p != cmdline && p[-1] != ' ')
			continue;
		while (*k && *q == *k)
			k++, q++;
		if (*k)
			continue;
		for (; *q >= '0' && *q <= '9'; q++)
			v = v * 10 + (uint32_t)(*q - '0');
		return v;
	}
	return def;
}

/* ---- Randomness. ---- */

static uint64_t rnd(void)
{
	struct cpu *c = me();

	/* xorshift64* */
	c->rng ^= c->rng >> 12;
	c->rng ^= c->rng << 25;
	c->rng ^= c->rng >> 27;
	return c->rng * 0x2545f4914f6cdd1dull;
}

static uint32_t below(uint32_t lim)
{
	return (uint32_t)((rnd() >> 32) % lim);
}

static unsigned rand_width(unsigned max)
{
	return 1u << below(max == 8 ? 4 : max == 4 ? 3 : max == 2 ? 2 : 1);
}

/* An adversarial value of w bytes: 0, all-ones, sign bit, max positive, one bit, near the ends, random. */
static uint64_t adv(unsigned w)
{
	uint64_t ones = w >= 8 ? ~0ull : (1ull << (w * 8)) - 1;

	switch (below(10)) {
	case 0: return 0;
	case 1: return ones;
	case 2: return 1;
	case 3: return ones >> 1;
	case 4: return (ones >> 1) + 1;
	case 5: return 1ull << below(w * 8);
	case 6: return ones - below(4);
	case 7: return below(0x100);
	default: return rnd() & ones;
	}
}

/* A guest address the devices may be told to use: never inside the payload image (see the top). */
static uint64_t tame_addr(uint64_t a)
{
	if (a >= PROTECT_LO && a < SCRATCH)
		a |= 0x80000000ull; /* into the MMIO hole */
	return a;
}

/*
 * A 32-bit value written into guest RAM a device may read: rings and buffers get misread as
 * descriptors (overlapping rings, tables at random places), so no such value points into us.
 */
static uint32_t tame32(uint64_t v)
{
	return (uint32_t)tame_addr((uint32_t)v);
}

/* An address for a device to read or write: scratch RAM, RAM past it, low RAM, MMIO, beyond RAM. */
static uint64_t dma_addr(uint64_t len_hint)
{
	switch (below(12)) {
	case 0: return 0;
	case 1: return 0xfffffffffffff000ull;            /* wraps */
	case 2: return 1ull << 40;                        /* far beyond RAM */
	case 3: return LAPIC;                             /* into MMIO */
	case 4: return ECAM + below(0x1000);
	case 5: return BAR_HOME(below(4)) + VP_NOTIFY;    /* a doorbell */
	case 6: return 0x20000000ull - len_hint / 2;      /* straddles the end of 512 MiB of RAM */
	case 7: return SCRATCH + below(SCRATCH_SIZE) + below(2); /* anywhere in scratch, maybe odd */
	case 8: return tame_addr(adv(8));
	default: return SCRATCH + (uint64_t)below(64) * 0x10000;
	}
}

/* ---- I/O ports. ---- */

/* Never touched: KVM's in-kernel PIC, PIT, speaker and ELCR, and the debug-exit port (see the top). */
static int port_skip(uint32_t p)
{
	return p == 0x20 || p == 0x21 || p == 0xa0 || p == 0xa1 || (p >= 0x40 && p <= 0x43) || p == 0x61 ||
	       p == 0x4d0 || p == 0x4d1 || (p >= 0xf4 && p <= 0xf7) || p == SNAPSHOT_PORT || p > 0xffff;
}

/* The value written to port p with width w, without the bits that end the run (see the top). */
static uint32_t tame(uint16_t p, unsigned w, uint32_t v)
{
	if (p == 0x600)
		v &= ~0x20u; /* SLP_EN: the low byte is the sleep control register at every width */
	if (p == 0x602 && (v & 0xff) == 0x0e)
		v ^= 1;      /* PM reset value */
	if (p == 0xcf9 && w == 1)
		v &= ~0x04u; /* RST_CPU */
	if (p == 0x64 && w == 1) {
		if ((v & 0xff) >= 0xf0)
			v |= 1;      /* a pulse with the reset line's bit clear */
		if ((v & 0xff) == 0xd1)
			v = 0xd0;    /* write output port */
	}
	return v;
}

/* Ports where a string of bytes could carry one of the run-ending values: no string I/O there. */
static int string_unsafe(uint32_t p, uint32_t len)
{
	for (uint32_t i = 0; i < len; i++) {
		uint32_t q = p + i;

		if (port_skip(q) || (q >= 0x600 && q <= 0x603) || q == 0x64 || q == 0xcf9)
			return 1;
	}
	return 0;
}

static void port_poke(uint32_t p)
{
	unsigned w = rand_width(4);

	for (unsigned i = 0; i < w; i++)
		if (port_skip(p + i))
			return;
	if (below(3) == 0) {
		port_in((uint16_t)p, w);
		N.port_r++;
	} else {
		port_out((uint16_t)p, w, tame((uint16_t)p, w, (uint32_t)adv(w)));
		N.port_w++;
	}
}

/* rep ins/outs: KVM hands the VMM one exit with a count of elements. */
static void port_string(uint32_t p)
{
	static uint8_t buf[256];
	unsigned w = rand_width(4);
	uint64_t cnt = 1 + below(256 / w);
	void *ptr = buf;

	if (string_unsafe(p, w))
		return;
	for (unsigned i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)rnd();
	if (below(2)) {
		if (w == 1)
			__asm__ volatile("cld; rep outsb" : "+S"(ptr), "+c"(cnt) : "d"((uint16_t)p) : "memory");
		else if (w == 2)
			__asm__ volatile("cld; rep outsw" : "+S"(ptr), "+c"(cnt) : "d"((uint16_t)p) : "memory");
		else
			__asm__ volatile("cld; rep outsl" : "+S"(ptr), "+c"(cnt) : "d"((uint16_t)p) : "memory");
	} else {
		if (w == 1)
			__asm__ volatile("cld; rep insb" : "+D"(ptr), "+c"(cnt) : "d"((uint16_t)p) : "memory");
		else if (w == 2)
			__asm__ volatile("cld; rep insw" : "+D"(ptr), "+c"(cnt) : "d"((uint16_t)p) : "memory");
		else
			__asm__ volatile("cld; rep insl" : "+D"(ptr), "+c"(cnt) : "d"((uint16_t)p) : "memory");
	}
	N.string_io++;
}

/* The ports we decode and the space around them, and a few other legacy ranges (unclaimed here). */
static const struct { uint16_t base, len; } port_ranges[] = {
	{ 0x3f0, 0x20 },  /* COM1 0x3f8..0x3ff */
	{ 0x2e0, 0x20 },  /* COM4, COM2: unclaimed */
	{ 0x3e0, 0x10 },  /* COM3 */
	{ 0x5c, 0x0c },   /* i8042 0x60, 0x64 */
	{ 0x6c, 0x08 },   /* RTC 0x70, 0x71 */
	{ 0x80, 0x10 },   /* POST, DMA page registers */
	{ 0x500, 0x20 },  /* QEMU's fw_cfg */
	{ 0x5f0, 0x40 },  /* PM 0x600..0x603, GED 0x610, boot timer 0x620, snapshot request 0x624 */
	{ 0xcf0, 0x18 },  /* PCI configuration 0xcf8..0xcff, reset control 0xcf9 */
	{ 0xfff0, 0x10 }, /* the top of the port space */
};

static void restore_uart_rtc(void)
{
	out8(COM1 + 3, 0x03); /* 8N1, DLAB off */
	out8(COM1 + 1, 0x00); /* no interrupts */
	out8(COM1 + 2, 0x07); /* FIFOs on and cleared */
	out8(COM1 + 4, 0x03); /* DTR, RTS; no loopback */
	for (int i = 0; i < 32; i++)
		in8(COM1);
	out8(0x70, 0x0b);
	out8(0x71, 0x02); /* 24 h, BCD, no SET, no interrupts */
	out8(0x70, 0x0a);
	out8(0x71, 0x26);
}

static void attack_ports(unsigned ops)
{
	for (unsigned i = 0; i < ops; i++) {
		unsigned r = below(16);
		uint32_t p;

		if (r < 10) {
			unsigned k = below(sizeof(port_ranges) / sizeof(port_ranges[0]));

			p = port_ranges[k].base + below(port_ranges[k].len);
		} else {
			p = below(0x10000);
		}
		if (r == 15)
			port_string(p);
		else
			port_poke(p);
	}
	/* A guest's snapshot request: harmless without --snapshot-dir (more: snapshot_requests()). */
	if (snapshot_pokes < 3 && snapshot_pokes < snapshot_max) {
		out8(SNAPSHOT_PORT, (uint8_t)rnd());
		snapshot_pokes++;
		N.port_w++;
	}
	restore_uart_rtc();
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return (uint64_t)hi << 32 | lo;
}

/* The rest of the snapshots= requests, one about every 2^22 TSC ticks (a millisecond or two). */
static void snapshot_requests(void)
{
	while (snapshot_pokes < snapshot_max) {
		uint64_t t0 = rdtsc();

		out8(SNAPSHOT_PORT, (uint8_t)rnd());
		snapshot_pokes++;
		N.port_w++;
		while (rdtsc() - t0 < (1ull << 22))
			__asm__ volatile("pause");
	}
}

/* ---- MMIO. ---- */

/* Whether [a, a + w) may be written (MMIO only) or read (anything mapped); no sum can wrap. */
static int write_ok(uint64_t a, unsigned w)
{
	if (a >= WIN32 && a <= HOLE_WRITABLE_END - w)
		return 1;
	return win64 && a >= win64 && a <= win64 + WIN64_MAPPED - w;
}

static int read_ok(uint64_t a, unsigned w)
{
	if (a >= LAPIC && a < LAPIC + 0x1000) /* aligned dwords only (KVM refuses others loudly) */
		return w == 4 && (a & 0xf) == 0;
	return a <= (1ull << 32) - w || write_ok(a, w);
}

/* The MSI-X table and PBA of a function at its home: attack_msix() writes them, tamed. */
static int in_msix(uint64_t a, unsigned w)
{
	for (int i = 0; i < nfns; i++)
		if (a + w > BAR_HOME(i) + 0x3800 && a < BAR_HOME(i) + 0x4000)
			return 1;
	return 0;
}

static void mmio_poke(uint64_t a)
{
	unsigned w = rand_width(8);

	if (below(3) && write_ok(a, w) && !in_msix(a, w)) {
		mmio_out(a, w, tame_addr(adv(w)));
		N.mmio_w++;
	} else if (read_ok(a, w)) {
		mmio_in(a, w);
		N.mmio_r++;
	} else if (read_ok(a & ~0xfull, 4)) {
		mmio_in(a & ~0xfull, 4);
		N.mmio_r++;
	}
}

static void attack_mmio(unsigned ops)
{
	for (unsigned i = 0; i < ops; i++) {
		uint64_t a;

		switch (below(9)) {
		case 0: a = ECAM - 0x1000 + below(ECAM_SIZE + 0x2000); break;
		case 1: a = WIN32 + below(WIN32_SIZE); break;
		case 2: a = BAR_HOME(below(4)) + below(0x10000) - 8; break;
		case 3: a = ECAM + ECAM_SIZE + below(0x1000000); break;           /* the unclaimed hole */
		case 4: a = HOLE_WRITABLE_END - 0x1000 + below(0x2000); break;    /* up to and into the IOAPIC */
		case 5: a = LAPIC + (below(0x100) << 4); break;                    /* read only */
		case 6: a = win64 ? win64 + below(0x100000) : WIN32 - 8 + below(16); break;
		case 7: a = win64 ? win64 + (rnd() % WIN64_MAPPED) : WIN32; break;
		default: a = BAR_HOME(below(4)) + (below(4) << 12) + below(0x100); break; /* virtio registers */
		}
		mmio_poke(a);
	}
}

/* ---- PCI configuration space. ---- */

static uint32_t cf8(unsigned dev, unsigned func, unsigned reg)
{
	return 0x80000000u | (reg & 0xf00) << 16 | dev << 11 | func << 8 | (reg & 0xfc);
}

static uint32_t cfg_rd32(const struct fn *f, unsigned reg)
{
	out32(0xcf8, cf8(f->dev, f->func, reg));
	return in32(0xcfc);
}

static void cfg_wr(const struct fn *f, unsigned reg, unsigned w, uint32_t v)
{
	out32(0xcf8, cf8(f->dev, f->func, reg));
	port_out((uint16_t)(0xcfc + (reg & 3)), w, v);
}

/* One access at any offset and width, through the ports or ECAM. */
static void cfg_poke(unsigned dev, unsigned func, unsigned reg, int write)
{
	unsigned w = rand_width(4);
	uint32_t v = (uint32_t)adv(w);

	if (below(2)) {
		uint64_t a = ECAM + ((uint64_t)dev << 15 | func << 12 | (reg & 0xfff));

		if (write)
			mmio_out(a, w, v);
		else
			mmio_in(a, w);
	} else {
		out32(0xcf8, below(8) ? cf8(dev, func, reg) : (uint32_t)adv(4)); /* sometimes a wild latch */
		if (write)
			port_out((uint16_t)(0xcfc + (reg & 3)), w, v);
		else
			port_in((uint16_t)(0xcfc + (reg & 3)), w);
	}
	if (write)
		N.cfg_w++;
	else
		N.cfg_r++;
}

static void enumerate(void)
{
	for (unsigned dev = 0; dev < 32; dev++) {
		for (unsigned func = 0; func < 8 && nfns < MAX_FNS; func++) {
			struct fn f = { .dev = (uint8_t)dev, .func = (uint8_t)func };
			uint32_t id = cfg_rd32(&f, 0);

			if ((id & 0xffff) == 0xffff)
				continue;
			f.vendor = (uint16_t)id;
			f.device = (uint16_t)(id >> 16);
			f.virtio = f.vendor == 0x1af4 && f.device >= 0x1040;
			/* The capability list, bounded: MSI-X is ID 0x11. */
			if (cfg_rd32(&f, 4) & (1u << 20)) {
				unsigned c = cfg_rd32(&f, 0x34) & 0xfc;

				for (int k = 0; k < 48 && c >= 0x40; k++) {
					uint32_t h = cfg_rd32(&f, c);

					if ((h & 0xff) == 0x11) {
						f.msix_cap = (uint8_t)c;
						break;
					}
					c = (h >> 8) & 0xfc;
				}
			}
			/* The 64-bit window starts at the first 64-bit BAR the VMM placed. */
			if (f.virtio && !win64) {
				uint32_t lo = cfg_rd32(&f, 0x10), hi = cfg_rd32(&f, 0x14);

				if ((lo & 0x6) == 0x4 && hi)
					win64 = ((uint64_t)hi << 32 | (lo & ~0xfu)) & ~((1ull << 30) - 1);
			}
			fns[nfns++] = f;
		}
	}
}

/* BAR 0 (64-bit) of function i at its home in the 32-bit window, memory and bus mastering on. */
static void home_bars(int i)
{
	const struct fn *f = &fns[i];

	cfg_wr(f, 0x04, 2, 0);
	cfg_wr(f, 0x10, 4, (uint32_t)BAR_HOME(i));
	cfg_wr(f, 0x14, 4, 0);
	cfg_wr(f, 0x04, 2, 0x0006);
}

static uint64_t bar_target(int i)
{
	switch (below(12)) {
	case 0: return 0;
	case 1: return BAR_HOME((i + 1) % (nfns ? nfns : 1)); /* over another function's BAR */
	case 2: return 0x100000;                               /* over RAM (the payload) */
	case 3: return SCRATCH;
	case 4: return LAPIC;
	case 5: return IOAPIC;
	case 6: return ECAM;
	case 7: return WIN32 + WIN32_SIZE - 0x1000;            /* straddles into ECAM */
	case 8: return 0xfffff000ull;
	case 9: return win64 ? win64 + (64ull << 30) - 0x1000 : (1ull << 40); /* the window's end */
	case 10: return ~0ull;                                  /* sizing */
	default: return (rnd() & ~0xfffull) & 0xffffffffffull;
	}
}

static void attack_config(unsigned ops)
{
	for (unsigned i = 0; i < ops; i++) {
		unsigned dev, func, reg;

		if (nfns && below(8)) {
			const struct fn *f = &fns[below((uint32_t)nfns)];

			dev = f->dev, func = f->func;
		} else {
			dev = below(32), func = below(8);
		}
		reg = below(4) ? below(0x100) : below(0x1000);
		cfg_poke(dev, func, reg, below(4) != 0);
	}
	/* BARs moved around with decoding on and off, and accessed where they land (if writable). */
	for (int i = 0; i < nfns; i++) {
		const struct fn *f = &fns[i];
		uint64_t t = bar_target(i);
		unsigned bar = below(4) ? 0 : below(6);

		cfg_wr(f, 0x04, 2, (uint32_t)(below(2) ? 0x0006 : adv(2)));
		cfg_wr(f, 0x10 + 4 * bar, 4, (uint32_t)t);
		if (bar < 5)
			cfg_wr(f, 0x14 + 4 * bar, 4, (uint32_t)(t >> 32));
		N.bar_moves++;
		cfg_rd32(f, 0x10 + 4 * bar);
		cfg_wr(f, 0x04, 2, below(2) ? 0x0006 : 0x0000);
		for (int k = 0; k < 8; k++)
			mmio_poke(t + below(0x4000));
	}
}

/* ---- MSI-X. ---- */

/*
 * MSI data whose delivery mode (bits 8-10) is SMI, INIT, SIPI or ExtINT would reset or derail our
 * own vCPU (an INIT'ed BSP restarts at 0xfffffff0 and the run ends there), which tests nothing of
 * the VMM: those become fixed delivery. NMI stays (vector 2: our handler returns).
 */
static uint32_t tame_msi_data(uint32_t d)
{
	uint32_t mode = (d >> 8) & 7;

	return mode == 2 || mode >= 5 ? d & ~0x700u : d;
}

/*
 * One vCPU at a time: the masking and taming below only hold if no other vCPU unmasks an entry
 * between our garbage and our fix (seen: a triple fault, most likely an SMI or INIT let through).
 */
static volatile uint32_t msix_lock;

static void attack_msix_locked(int i);

static void attack_msix(int i)
{
	while (__atomic_exchange_n(&msix_lock, 1, __ATOMIC_ACQUIRE))
		__asm__ volatile("pause");
	attack_msix_locked(i);
	__atomic_store_n(&msix_lock, 0, __ATOMIC_RELEASE);
}

static void attack_msix_locked(int i)
{
	const struct fn *f = &fns[i];
	uint32_t ctl, tbl;
	uint64_t base;
	unsigned entries;

	if (!f->msix_cap)
		return;
	home_bars(i);
	ctl = cfg_rd32(f, f->msix_cap) >> 16;
	tbl = cfg_rd32(f, f->msix_cap + 4);
	entries = (ctl & 0x7ff) + 1; /* read racing the other vCPUs: may be any size */
	if (entries > 256)
		entries = 256;
	base = BAR_HOME(i) + (tbl & ~7u); /* BIR 0 is the only BAR our devices have */
	for (unsigned e = 0; e < entries + 2; e++) {
		uint64_t a = base + 16ull * e;

		/* Masked while the garbage goes in, so no message leaves with an untamed data word. */
		mmio_out(a + 12, 4, 1);
		for (unsigned k = 0; k < 4; k++) {
			unsigned w = rand_width(8);
			uint64_t off = below(12);
			uint64_t v = adv(w);

			if (below(2))
				off = k < 3 ? 4ull * k : 0;
			if (off + w > 12)
				w = 4, off = 8ull * below(2);
			if (k == 0 && below(2))
				w = 4, off = 0, v = 0xfee00000ull | (uint64_t)below(256) << 12; /* a plausible address */
			mmio_out(a + off, w, v);
			N.msix_w++;
		}
		mmio_out(a + 8, 4, tame_msi_data((uint32_t)mmio_in(a + 8, 4)));
		/* The vector control word: masked or not, reserved bits and all; sometimes with the data in one go. */
		if (below(4))
			mmio_out(a + 12, 4, adv(4));
		else
			mmio_out(a + 8, 8, (adv(4) << 32) | tame_msi_data((uint32_t)mmio_in(a + 8, 4)));
		N.msix_w++;
	}
	for (unsigned k = 0; k < 8; k++) { /* the pending-bit array: read only, write anyway */
		mmio_out(base + 0x400 + 8 * below(8), rand_width(8), adv(8));
		N.msix_w++;
	}
	/* Enable, with the function mask on or off. */
	cfg_wr(f, f->msix_cap + 2, 2, 0x8000 | (below(2) ? 0x4000 : 0) | (below(4) ? 0 : (uint32_t)adv(2)));
	N.cfg_w++;
}

/* ---- Virtqueues. ---- */

static void cc_wr(uint64_t bar, unsigned off, unsigned w, uint64_t v)
{
	mmio_out(bar + off, w, v);
}

static uint64_t cc_rd(uint64_t bar, unsigned off, unsigned w)
{
	return mmio_in(bar + off, w);
}

static void wr_addr(uint64_t bar, unsigned off, uint64_t a)
{
	if (below(4) == 0) {
		cc_wr(bar, off, 8, a);
	} else {
		cc_wr(bar, off, 4, (uint32_t)a);
		cc_wr(bar, off + 4, 4, (uint32_t)(a >> 32));
	}
}

struct vring_desc_g {
	uint64_t addr;
	uint32_t len;
	uint16_t flags, next;
};

#define DESC_NEXT 1
#define DESC_WRITE 2
#define DESC_INDIRECT 4

/*
 * Descriptors and an avail ring at desc/avail (both in scratch RAM) for a queue of qs entries:
 * block-request-shaped chains, with loops, huge lengths, wild addresses, indirect tables and an
 * index far ahead, per mode.
 */
static void fill_ring(uint64_t desc, uint64_t avail, uint32_t qs, unsigned mode)
{
	struct vring_desc_g *d = (struct vring_desc_g *)desc;
	volatile uint16_t *av = (volatile uint16_t *)avail;
	uint32_t nd = qs > 64 ? 64 : qs;
	uint16_t idx = av[1];

	for (uint32_t k = 0; k < nd; k++) {
		uint32_t kind = below(6);

		d[k].addr = SCRATCH + 0x300000 + (uint64_t)below(0x1000) * 16;
		d[k].len = kind == 0 ? 16 : kind == 1 ? 512 : kind == 2 ? 1 : tame32(adv(4));
		d[k].flags = (uint16_t)(below(2) ? DESC_NEXT : 0) | (uint16_t)(below(2) ? DESC_WRITE : 0);
		d[k].next = (uint16_t)(k + 1 < nd ? k + 1 : 0);
		switch (mode) {
		case 1: d[k].next = (uint16_t)k, d[k].flags |= DESC_NEXT; break;          /* self loop */
		case 2: d[k].len = 0xffffffffu - below(16); break;                          /* huge */
		case 3: d[k].addr = dma_addr(d[k].len); break;                              /* wild */
		case 4: d[k].flags = DESC_INDIRECT | (uint16_t)(below(4) ? 0 : DESC_NEXT);  /* indirect */
			d[k].len = below(2) ? 16u * below(64) : tame32(adv(4));
			d[k].addr = below(2) ? desc : dma_addr(d[k].len);
			break;
		case 5: d[k].next = (uint16_t)adv(2); break;                                /* next out of range */
		default: break;
		}
		d[k].addr = tame_addr(d[k].addr);
	}
	/* A block-request header in the first buffers: a type and a sector, sometimes past the end. */
	for (int k = 0; k < 4; k++) {
		volatile uint32_t *h = (volatile uint32_t *)(SCRATCH + 0x300000 + (uint64_t)below(0x1000) * 16);

		uint64_t sector = tame_addr(below(2) ? below(4096) : adv(8)); /* may be read as an address */

		h[0] = below(3) ? below(9) : tame32(adv(4));
		h[1] = 0;
		h[2] = (uint32_t)sector;
		h[3] = (uint32_t)(sector >> 32);
	}
	for (uint32_t k = 0; k < nd; k++)
		av[2 + (k % (qs ? qs : 1))] = (uint16_t)(below(8) ? below(nd) : adv(2));
	av[0] = (uint16_t)(below(4) ? 0 : adv(2)); /* flags (NO_INTERRUPT) */
	__asm__ volatile("" : : : "memory");
	av[1] = mode == 6 ? (uint16_t)(idx + 0x8000 + below(0x100)) : (uint16_t)(idx + 1 + below(nd));
}

static void notify_all(uint64_t bar, unsigned nq)
{
	for (unsigned q = 0; q < nq + 2; q++) {
		unsigned w = rand_width(4);

		mmio_out(bar + VP_NOTIFY + 4ull * (below(8) ? q : below(0x200)), w, below(4) ? q : adv(w));
		N.notifies++;
	}
}

static void attack_virtio(int i)
{
	uint64_t bar = BAR_HOME(i);
	unsigned nq;

	home_bars(i);
	cc_wr(bar, CC_STATUS, 1, 0);
	N.resets++;
	cc_wr(bar, CC_STATUS, 1, 1);
	cc_wr(bar, CC_STATUS, 1, 3);
	for (unsigned sel = 0; sel < 2; sel++) {
		uint32_t df;

		cc_wr(bar, CC_DFSELECT, 4, sel);
		df = (uint32_t)cc_rd(bar, CC_DF, 4);
		cc_wr(bar, CC_GFSELECT, 4, sel);
		cc_wr(bar, CC_GF, 4, below(2) ? (df | (sel ? 1 : 0)) : (uint32_t)adv(4) | (sel ? 1 : 0));
	}
	cc_wr(bar, CC_GFSELECT, 4, (uint32_t)adv(4));
	cc_wr(bar, CC_GF, 4, (uint32_t)adv(4));
	cc_wr(bar, CC_MSIX, 2, below(2) ? below(4) : adv(2));
	cc_wr(bar, CC_STATUS, 1, below(8) ? 0x0b : adv(1));
	nq = (unsigned)cc_rd(bar, CC_NUMQ, 2);
	if (nq > 8)
		nq = 8;
	for (unsigned q = 0; q < nq + 1; q++) {
		uint64_t slot = SCRATCH + (((uint64_t)i * 9 + q) % 24) * 0x8000;
		uint64_t desc = slot, avail = slot + 0x4000, used = slot + 0x6000;
		uint32_t sizes[] = { 0, 1, 3, 2, 16, 64, 128, 256, 0x8000, 0xffff };
		uint32_t qs, max;
		unsigned mode = below(10);

		cc_wr(bar, CC_QSELECT, 2, below(16) ? q : adv(2));
		max = (uint32_t)cc_rd(bar, CC_QSIZE, 2);
		qs = below(2) ? max : sizes[below(sizeof(sizes) / sizeof(sizes[0]))];
		cc_wr(bar, CC_QSIZE, 2, qs);
		cc_wr(bar, CC_QMSIX, 2, below(2) ? q : adv(2));
		if (mode == 7) {        /* the avail and used rings on top of each other (the device's writes
					 * into a descriptor table would make our own indices its addresses) */
			used = avail;
		} else if (mode == 8) { /* outside RAM or into MMIO */
			desc = dma_addr(16ull * qs), avail = dma_addr(6 + 2ull * qs), used = dma_addr(6 + 8ull * qs);
		} else if (mode == 9) { /* misaligned */
			desc += 1 + below(15), avail += 1, used += 2;
		}
		if (desc >= SCRATCH && desc < SCRATCH + SCRATCH_SIZE && avail >= SCRATCH &&
		    avail < SCRATCH + SCRATCH_SIZE && qs && qs <= 256)
			fill_ring(desc, avail, qs, mode);
		wr_addr(bar, CC_QDESC, tame_addr(desc));
		wr_addr(bar, CC_QAVAIL, tame_addr(avail));
		wr_addr(bar, CC_QUSED, tame_addr(used));
		cc_wr(bar, CC_QENABLE, 2, below(8) ? 1 : adv(2));
		N.queues++;
	}
	/* DRIVER_OK (sometimes with FAILED or NEEDS_RESET or anything), then every doorbell. */
	cc_wr(bar, CC_STATUS, 1, below(4) ? 0x0f : 0x0f | adv(1));
	N.driver_ok++;
	notify_all(bar, nq);
	/* Device configuration and ISR, at every width. */
	for (int k = 0; k < 8; k++) {
		unsigned w = rand_width(8);
		uint64_t a = bar + VP_DEVICE + below(0x80);

		if (below(2))
			mmio_out(a, w, adv(w));
		else
			mmio_in(a, w);
		mmio_in(bar + VP_ISR, 1);
		N.mmio_w++;
	}
	/* More requests on the live queues, doorbells again, then a reset while they run. */
	for (unsigned q = 0; q < nq; q++) {
		uint64_t slot = SCRATCH + (((uint64_t)i * 9 + q) % 24) * 0x8000;

		fill_ring(slot, slot + 0x4000, 16, below(8));
	}
	notify_all(bar, nq);
	for (uint32_t k = below(4) ? below(20000) : 0; k; k--)
		__asm__ volatile("pause");
	if (below(4))
		cc_wr(bar, CC_STATUS, below(2) ? 1 : 4, 0);
	else
		cc_wr(bar, CC_STATUS, 1, adv(1)); /* a random status instead of a reset */
	N.resets++;
	/* Common configuration at random offsets and widths (queue addresses tamed). */
	for (int k = 0; k < 16; k++) {
		unsigned off = below(4) ? below(0x38) : below(0x1000);
		unsigned w = rand_width(8);

		if (below(3))
			mmio_out(bar + off, w, tame_addr(adv(w)));
		else
			mmio_in(bar + off, w);
		N.mmio_w++;
	}
}

/* ---- Set-up, idle, power-off. ---- */

extern const char hostile_isr[];
__asm__(".text\n"
	"hostile_isr:\n"
	"	push %rax\n"
	"	push %rdx\n"
	"	mov $0xfee000b0, %edx\n" /* LAPIC EOI */
	"	movl $0, (%rdx)\n"
	"	lock incq hostile_ticks(%rip)\n"
	"	pop %rdx\n"
	"	pop %rax\n"
	"	iretq\n");

static void own_tables(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} dt;
	uint16_t cs;

	/* GDT: a copy of the VMM's. */
	__asm__ volatile("sgdt %0" : "=m"(dt));
	for (unsigned k = 0; k < 5 && 8u * k < (unsigned)dt.limit + 1; k++)
		gdt[k] = ((const uint64_t *)dt.base)[k];
	gdt[SEL_CODE32 / 8] = 0x00cf9a000000ffffull; /* flat 32-bit code, for the AP trampoline */
	gdt[SEL_DATA / 8] = 0x00cf92000000ffffull;   /* flat data */
	gdt[SEL_CODE64 / 8] = 0x00af9a000000ffffull; /* 64-bit code */
	dt.limit = sizeof(gdt) - 1;
	dt.base = (uint64_t)gdt;
	__asm__ volatile("lgdt %0" : : "m"(dt));
	/* Page tables: 0..4 GiB and 2 GiB of the 64-bit BAR window, 2 MiB pages. */
	for (unsigned g = 0; g < 4; g++) {
		for (unsigned k = 0; k < 512; k++)
			pd[g][k] = ((uint64_t)g << 30) + ((uint64_t)k << 21) + 0x83;
		pdpt[g] = (uint64_t)pd[g] + 3;
	}
	if (win64 >= (4ull << 30) && win64 < (510ull << 30)) {
		for (unsigned g = 0; g < 2; g++) {
			for (unsigned k = 0; k < 512; k++)
				pd[4 + g][k] = win64 + ((uint64_t)g << 30) + ((uint64_t)k << 21) + 0x9b; /* PCD, PWT */
			pdpt[(win64 >> 30) + g] = (uint64_t)pd[4 + g] + 3;
		}
	} else {
		win64 = 0;
	}
	pml4[0] = (uint64_t)pdpt + 3;
	__asm__ volatile("mov %0, %%cr3" : : "r"((uint64_t)pml4) : "memory");
	/* IDT: every vector EOIs the LAPIC and returns (garbage MSIs may arrive on any of them). */
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (unsigned v = 0; v < 256; v++) {
		uint64_t a = (uint64_t)hostile_isr;

		idt[2 * v] = (a & 0xffff) | (uint64_t)cs << 16 | 0x8eull << 40 | ((a >> 16) & 0xffff) << 48;
		idt[2 * v + 1] = a >> 32;
	}
	dt.limit = sizeof(idt) - 1;
	dt.base = (uint64_t)idt;
	__asm__ volatile("lidt %0" : : "m"(dt));
}

static uint8_t rtc_seconds(void)
{
	out8(0x70, 0);
	return in8(0x71);
}

/* Halt for about `seconds` (RTC seconds; the LAPIC timer wakes us every 100 ms at KVM's 1 GHz bus). */
static void idle(uint32_t seconds)
{
	volatile uint32_t *lapic = (volatile uint32_t *)LAPIC;
	uint8_t last = rtc_seconds();
	uint32_t changes = 0;

	out8(0x21, 0xff); /* the PIC: everything masked */
	out8(0xa1, 0xff);
	lapic[0xf0 / 4] = 0x1ff;       /* enabled, spurious vector 0xff */
	lapic[0x3e0 / 4] = 0xb;        /* divide by 1 */
	lapic[0x320 / 4] = 0x20040;    /* periodic, vector 0x40 */
	lapic[0x380 / 4] = 100000000;
	while (changes < seconds + 1 && hostile_ticks < 40ull * seconds + 40) {
		uint8_t s;

		__asm__ volatile("sti; hlt; cli" : : : "memory");
		s = rtc_seconds();
		if (s != last)
			changes++, last = s;
	}
	lapic[0x320 / 4] = 0x10000; /* masked */
}

/*
 * Application processors. The BSP copies this trampoline to TRAMPOLINE and sends INIT and a
 * start-up IPI: an AP starts there in real mode, loads our GDT, goes through 32-bit protected mode
 * into long mode on our page tables and jumps to hostile_ap_entry with a stack of its own.
 */
#define TRAMPOLINE 0x10000ull
extern const char hostile_tramp[], hostile_tramp_end[], hostile_tramp_gdtr[], hostile_tramp_cr3[],
	hostile_tramp_far[], hostile_ap_entry[];
__asm__(".text\n"
	".code16\n"
	"hostile_tramp:\n"
	"	cli\n"
	"	cld\n"
	"	mov %cs, %ax\n"
	"	mov %ax, %ds\n"
	"	lgdtl (hostile_tramp_gdtr - hostile_tramp)\n"
	"	mov %cr0, %eax\n"
	"	or $1, %eax\n"
	"	mov %eax, %cr0\n"
	"	ljmpl $0x28, $(0x10000 + 1f - hostile_tramp)\n"
	".code32\n"
	"1:	mov $0x30, %eax\n"
	"	mov %eax, %ds\n"
	"	mov %eax, %es\n"
	"	mov %eax, %ss\n"
	"	mov %cr4, %eax\n"
	"	or $0x20, %eax\n" /* PAE */
	"	mov %eax, %cr4\n"
	"	mov (0x10000 + hostile_tramp_cr3 - hostile_tramp), %eax\n"
	"	mov %eax, %cr3\n"
	"	mov $0xc0000080, %ecx\n" /* EFER.LME */
	"	rdmsr\n"
	"	or $0x100, %eax\n"
	"	wrmsr\n"
	"	mov %cr0, %eax\n"
	"	or $0x80000000, %eax\n"
	"	mov %eax, %cr0\n"
	"	ljmpl *(0x10000 + hostile_tramp_far - hostile_tramp)\n"
	"	.balign 8\n"
	"hostile_tramp_gdtr: .word 0\n"
	"	.long 0\n"
	"	.balign 4\n"
	"hostile_tramp_cr3: .long 0\n"
	"hostile_tramp_far: .long 0\n"
	"	.word 0x38\n"
	"hostile_tramp_end:\n"
	".code64\n"
	"hostile_ap_entry:\n"
	"	mov $0x30, %eax\n"
	"	mov %eax, %ds\n"
	"	mov %eax, %es\n"
	"	mov %eax, %ss\n"
	"	mov $1, %eax\n"
	"	lock xadd %eax, hostile_ap_next(%rip)\n"
	"	mov %eax, %edi\n"
	"	cmp $8, %eax\n" /* MAX_CPUS */
	"	jae 2f\n"
	"	inc %eax\n"
	"	shl $13, %rax\n"
	"	lea hostile_ap_stacks(%rip), %rsp\n"
	"	add %rax, %rsp\n"
	"	call hostile_ap_main\n"
	"2:	cli\n"
	"	hlt\n"
	"	jmp 2b\n");

static void set_cpu(unsigned idx)
{
	struct cpu *c = &cpus[idx];
	uint64_t a = (uint64_t)c;

	c->self = c;
	c->rng = 0x9e3779b97f4a7c15ull * ((uint64_t)seed_all + 1) + 0x632be59bd9b4e019ull * idx;
	__asm__ volatile("wrmsr" : : "c"(0xc0000101u), "a"((uint32_t)a), "d"((uint32_t)(a >> 32))); /* GS base */
	for (int k = 0; k < 8; k++)
		rnd();
}

static void load_idt(void)
{
	struct __attribute__((packed)) {
		uint16_t limit;
		uint64_t base;
	} dt = { sizeof(idt) - 1, (uint64_t)idt };

	__asm__ volatile("lidt %0" : : "m"(dt));
}

static void rounds_loop(int bsp)
{
	for (uint32_t r = 0; r < rounds_all; r++) {
		attack_ports(ops_all);
		attack_mmio(ops_all);
		attack_config(ops_all);
		for (int i = 0; i < nfns; i++)
			attack_msix(i);
		for (int i = 0; i < nfns; i++)
			if (fns[i].virtio)
				attack_virtio(i);
		/* Some rounds end on a fresh random mix of everything, so the last state is not always tidy. */
		for (unsigned k = 0; k < ops_all / 4; k++) {
			switch (below(3)) {
			case 0: port_poke(below(0x10000)); break;
			case 1: mmio_poke(WIN32 + below(0x20100000)); break;
			default: cfg_poke(below(32), below(8), below(0x100), 1); break;
			}
		}
		if (bsp) {
			restore_uart_rtc();
			puts_serial("hostile: round ");
			put_dec(r + 1);
			puts_serial("\n");
		}
	}
}

void hostile_ap_main(unsigned idx);
void hostile_ap_main(unsigned idx)
{
	load_idt();
	set_cpu(idx);
	__atomic_fetch_add(&aps_up, 1, __ATOMIC_SEQ_CST);
	while (!go)
		__asm__ volatile("pause");
	rounds_loop(0);
	__atomic_fetch_add(&aps_done, 1, __ATOMIC_SEQ_CST);
}

static void wait_tsc(uint64_t ticks)
{
	uint64_t t0 = rdtsc();

	while (rdtsc() - t0 < ticks)
		__asm__ volatile("pause");
}

/* INIT and start-up IPIs to all but ourselves; returns how many APs came up (within about a second). */
static uint32_t start_aps(void)
{
	volatile uint32_t *lapic = (volatile uint32_t *)LAPIC;
	struct __attribute__((packed)) {
		uint16_t limit;
		uint32_t base;
	} gdtr = { sizeof(gdt) - 1, (uint32_t)(uint64_t)gdt };
	uint8_t *t = (uint8_t *)TRAMPOLINE;
	uint32_t last = 0;

	for (const char *p = hostile_tramp; p < hostile_tramp_end; p++)
		*t++ = (uint8_t)*p;
	__builtin_memcpy((uint8_t *)TRAMPOLINE + (hostile_tramp_gdtr - hostile_tramp), &gdtr, sizeof(gdtr));
	*(volatile uint32_t *)(TRAMPOLINE + (uint64_t)(hostile_tramp_cr3 - hostile_tramp)) = (uint32_t)(uint64_t)pml4;
	*(volatile uint32_t *)(TRAMPOLINE + (uint64_t)(hostile_tramp_far - hostile_tramp)) =
		(uint32_t)(uint64_t)hostile_ap_entry;
	lapic[0xf0 / 4] = 0x1ff;     /* enabled, spurious vector 0xff */
	lapic[0x310 / 4] = 0;
	lapic[0x300 / 4] = 0xc4500;  /* INIT, all excluding self */
	wait_tsc(1ull << 24);
	for (int k = 0; k < 2; k++) {
		lapic[0x310 / 4] = 0;
		lapic[0x300 / 4] = 0xc4600 | (uint32_t)(TRAMPOLINE >> 12); /* start-up */
		wait_tsc(1ull << 22);
	}
	/* Until no new AP has come for 2^30 ticks (a fraction of a second). */
	for (;;) {
		wait_tsc(1ull << 30);
		if (aps_up == last)
			return last;
		last = aps_up;
	}
}

void hostile_run(const char *cmdline)
{
	uint32_t idle_s = arg_u32(cmdline, "idle=", 3), ncpu;
	struct counts t = { 0 };

	seed_all = arg_u32(cmdline, "seed=", 1);
	rounds_all = arg_u32(cmdline, "rounds=", 10);
	ops_all = arg_u32(cmdline, "ops=", 200);
	snapshot_max = arg_u32(cmdline, "snapshots=", 3);
	set_cpu(0);
	puts_serial("hostile: seed=");
	put_dec(seed_all);
	puts_serial(" rounds=");
	put_dec(rounds_all);
	puts_serial("\n");
	enumerate();
	own_tables();
	puts_serial("hostile: ");
	put_dec((uint64_t)nfns);
	puts_serial(" PCI functions on bus 0");
	for (int i = 0; i < nfns; i++) {
		puts_serial(i ? ", " : ": ");
		put_dec(fns[i].dev);
		puts_serial(fns[i].virtio ? " virtio" : "");
		puts_serial(fns[i].msix_cap ? "+msix" : "");
	}
	puts_serial(win64 ? "; 64-bit window mapped\n" : "\n");
	ncpu = arg_u32(cmdline, "smp=", 1) ? 1 + start_aps() : 1;
	puts_serial("hostile: attacking from ");
	put_dec(ncpu);
	puts_serial(" vCPU(s)\n");
	go = 1;
	rounds_loop(1);
	/* The APs do the same work: wait for them (bounded: a wedged AP is reported, not waited for). */
	for (uint64_t t0 = rdtsc(); aps_done < ncpu - 1 && rdtsc() - t0 < (1ull << 37);)
		__asm__ volatile("pause");
	snapshot_requests();
	restore_uart_rtc();
	for (uint32_t c = 0; c < ncpu && c < MAX_CPUS; c++) {
		const uint32_t *a = (const uint32_t *)&cpus[c].n;
		uint32_t *b = (uint32_t *)&t;

		for (unsigned k = 0; k < sizeof(t) / sizeof(uint32_t); k++)
			b[k] += a[k];
	}
	puts_serial("\nhostile: done");
	put_kv("seed", seed_all);
	put_kv("rounds", rounds_all);
	put_kv("vcpus", ncpu);
	put_kv("aps-unfinished", ncpu - 1 - aps_done);
	put_kv("port-writes", t.port_w);
	put_kv("port-reads", t.port_r);
	put_kv("string-io", t.string_io);
	put_kv("mmio-writes", t.mmio_w);
	put_kv("mmio-reads", t.mmio_r);
	put_kv("cfg-writes", t.cfg_w);
	put_kv("cfg-reads", t.cfg_r);
	put_kv("bar-moves", t.bar_moves);
	put_kv("msix-writes", t.msix_w);
	put_kv("queues", t.queues);
	put_kv("driver-ok", t.driver_ok);
	put_kv("notifies", t.notifies);
	put_kv("resets", t.resets);
	put_kv("snapshot-requests", snapshot_pokes);
	puts_serial("\nhostile: idle ");
	put_dec(idle_s);
	puts_serial(" s\n");
	idle(idle_s);
	puts_serial("hostile: powering off\n");
	out8(0x600, (5u << 2) | 0x20); /* ACPI S5 */
}
