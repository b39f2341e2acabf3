// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_pci: PCI bus 0 (src/devices/pci.c): the host bridge, type-1 configuration cycles through
 * ports 0xcf8/0xcfc (and the byte at 0xcf9 they share with the reset register), ECAM, write masks,
 * capability lists, BARs the guest sizes, moves (over each other, out of the windows, to 0) and
 * enables, MMIO routed through the windows to the BAR that decodes it, and INTx lines.
 * Three fake devices: 32- and 64-bit BARs of several sizes, capabilities with writable bits, one
 * whose capability space is full.
 *
 * Input: operations until the input ends, u8 op (bits 0-2 the kind, bit 3 write, bits 4-5 width
 * 1 << n):
 *   0 u32 to the 0xcf8 latch; 1 port 0xcf8 + u8 % 8; 2 ECAM at u32 (mod the window + 64);
 *   3 a device's BAR: u8 device, u8 BAR, u32 offset (mod its size + 16) from its current address;
 *   4 a BAR window: u8 (32- or 64-bit), u32 offset; 5 INTx: u8 device, u8 level;
 *   6 a type-1 cycle: u8 device/function, u8 register (0xcf8 then 0xcfc); 7 ECAM: u8 slot, u16 register;
 *   accesses carry a u32 value (written, or the read's sentinel check).
 * Checked beyond the sanitizers: a read fills its width and no more; a BAR handler gets only
 * accesses inside its BAR with widths 1/2/4/8; a moved BAR is size-aligned; interrupt lines are
 * PCI INTx GSIs at levels 0/1.
 */
#include "bus.h"
#include "devices/pci.h"
#include "fuzz.h"

#define MMIO64_BASE (1ull << 36)
#define NDEV 3

struct state {
	struct bus pio, mmio;
	struct pci_bus pb;
	struct pci_dev dev[NDEV];
	unsigned resets;
};

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	FUZZ_CHECK(gsi >= PCI_INTX_GSI_BASE && gsi < PCI_INTX_GSI_BASE + PCI_INTX_GSIS);
	FUZZ_CHECK(level == 0 || level == 1);
}

/* A BAR's registers: bar->opaque is the struct pci_bar itself, to check each access against its size. */
static void bar_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	const struct pci_bar *bar = opaque;

	FUZZ_CHECK(len == 1 || len == 2 || len == 4 || len == 8);
	FUZZ_CHECK(off < bar->size && len <= bar->size - off);
	if (!is_write)
		memset(data, (int)(off & 0xff), len);
}

static void cfg_write_hook(struct pci_dev *d, uint32_t off, uint32_t len)
{
	(void)d;
	FUZZ_CHECK(len == 1 || len == 2 || len == 4);
	FUZZ_CHECK(off + len <= PCI_CFG_SIZE && !(off & (len - 1)));
}

static void bar_update_hook(struct pci_dev *d, int bar, uint64_t addr)
{
	FUZZ_CHECK(bar >= 0 && bar < PCI_BARS && d->bar[bar].size);
	FUZZ_CHECK(addr % d->bar[bar].size == 0);
}

static const struct pci_dev_ops hooks = { .cfg_write = cfg_write_hook, .bar_update = bar_update_hook };

static void cf9(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct state *s = opaque;

	FUZZ_CHECK(off == 0 && len == 1);
	if (is_write)
		s->resets++;
	else
		*(uint8_t *)data = 0;
}

static int add_bar(struct pci_dev *d, int i, uint64_t size, bool is64)
{
	return pci_dev_set_bar(d, i, size, is64, bar_io, &d->bar[i]);
}

static int setup(struct state *s)
{
	/* A vendor-specific capability: 8 bytes, the last 4 writable. */
	static const uint8_t vndr[8] = { PCI_CAP_ID_VNDR, 0, 8, 0, 0, 0, 0, 0 };
	static const uint8_t vndr_wmask[8] = { 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff };
	int ret = 0;

	bus_init(&s->pio);
	bus_init(&s->mmio);
	if (pci_bus_init(&s->pb, &s->pio, &s->mmio, MMIO64_BASE, irq_set, s, &fuzz_log))
		return -1;
	pci_bus_set_port_cf9(&s->pb, cf9, s);
	for (int i = 0; i < NDEV; i++) {
		pci_dev_init(&s->dev[i], 0x1af4, (uint16_t)(0x10f0 + i), 0xff0000, 1, 0x1af4, (uint16_t)i);
		s->dev[i].ops = &hooks;
	}
	ret = ret ?: add_bar(&s->dev[0], 0, 4096, false);
	ret = ret ?: add_bar(&s->dev[0], 2, 0x10000, true);
	ret = ret ?: add_bar(&s->dev[1], 1, 1u << 20, false);
	ret = ret ?: add_bar(&s->dev[1], 4, 4096, true);
	ret = ret ?: add_bar(&s->dev[2], 5, 8192, false);
	if (ret)
		return -1;
	if (pci_dev_add_cap(&s->dev[0], vndr, sizeof(vndr), vndr_wmask) < 0 ||
	    pci_dev_add_cap(&s->dev[1], vndr, sizeof(vndr), NULL) < 0 ||
	    pci_dev_add_cap(&s->dev[1], vndr, sizeof(vndr), vndr_wmask) < 0)
		return -1;
	while (pci_dev_add_cap(&s->dev[2], vndr, sizeof(vndr), vndr_wmask) >= 0)
		; /* fill the capability space to its end */
	for (int i = 0; i < NDEV; i++)
		if (pci_bus_add(&s->pb, &s->dev[i]))
			return -1;
	return 0;
}

static void io(struct bus *b, uint64_t addr, uint32_t len, bool is_write, uint32_t value)
{
	uint8_t buf[8];
	uint64_t v = value | (uint64_t)value << 32;

	memset(buf, 0xcc, sizeof(buf));
	if (is_write) {
		memcpy(buf, &v, len);
		bus_dispatch(b, addr, buf, len, true);
		return;
	}
	bus_dispatch(b, addr, buf, len, false);
	for (uint32_t i = len; i < sizeof(buf); i++)
		FUZZ_CHECK(buf[i] == 0xcc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct fz f = fz_init(data, size);

	memset(&s, 0, sizeof(s));
	FUZZ_CHECK(setup(&s) == 0);
	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);
		bool wr = op & 8;
		uint32_t len = fz_width(op >> 4), pio_len = len == 8 ? 4 : len;

		switch (op & 7) {
		case 0:
			io(&s.pio, PCI_CONFIG_PORT, 4, true, fz_u32(&f));
			break;
		case 1: {
			uint64_t port = PCI_CONFIG_PORT + fz_u8(&f) % 8;

			io(&s.pio, port, pio_len, wr, fz_u32(&f));
			break;
		}
		case 2: {
			uint64_t off = fz_u32(&f) % (PCI_ECAM_SIZE + 64);

			io(&s.mmio, PCI_ECAM_BASE + off, len, wr, fz_u32(&f));
			break;
		}
		case 3: {
			const struct pci_dev *d = &s.dev[fz_u8(&f) % NDEV];
			const struct pci_bar *bar = &d->bar[fz_u8(&f) % PCI_BARS];
			uint64_t off = fz_u32(&f) % (bar->size + 16);

			io(&s.mmio, bar->addr + off, len, wr, fz_u32(&f));
			break;
		}
		case 4: {
			uint64_t base = fz_u8(&f) & 1 ? MMIO64_BASE : PCI_MMIO32_BASE;

			io(&s.mmio, base + fz_u32(&f), len, wr, fz_u32(&f));
			break;
		}
		case 5: {
			struct pci_dev *d = &s.dev[fz_u8(&f) % NDEV];

			pci_dev_set_intx(d, fz_u8(&f) & 1);
			break;
		}
		case 6: {
			uint32_t devfn = fz_u8(&f), reg = fz_u8(&f);

			io(&s.pio, PCI_CONFIG_PORT, 4, true, 0x80000000u | devfn << 8 | (reg & 0xfc));
			io(&s.pio, PCI_CONFIG_PORT + 4 + (reg & 3), pio_len, wr, fz_u32(&f));
			break;
		}
		case 7: {
			uint64_t slot = fz_u8(&f) % PCI_SLOTS, reg = fz_u16(&f) & 0xfff;

			io(&s.mmio, PCI_ECAM_BASE + (slot << 15) + reg, len, wr, fz_u32(&f));
			break;
		}
		}
	}
	pci_bus_destroy(&s.pb);
	bus_destroy(&s.mmio);
	bus_destroy(&s.pio);
	return 0;
}
