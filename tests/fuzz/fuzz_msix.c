// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_msix: MSI-X (src/devices/msix.c): the capability's message control (enable, function mask)
 * written through configuration space, the vector table and the pending-bit array in a memory BAR
 * accessed at every offset and width, and device-side notifications, on a PCI function of a real
 * PCI bus (src/devices/pci.c) wired as virtio-pci wires it (its cfg_write hook and BAR handler).
 *
 * Input: u8 vectors (1..64), u16 table offset, u16 PBA offset (both multiples of 8 in a 16 KiB
 * BAR; a layout msix_init() refuses falls back to table 0x3800, PBA 0x3c00), then operations until
 * the input ends, u8 op (bits 0-2 the kind, bit 3 write, bits 4-5 width 1 << n):
 *   0 the BAR at u16 offset (mod 16 KiB + 8), u64 value; 1 message control := u16 (config write);
 *   2 msix_notify(u8 vector; 0xff: MSIX_NO_VECTOR); 3 configuration space: u8 register, u32 value;
 *   4 msix_enabled(); 6 lend (msix_lend) or take back (msix_unlend) eventfd slot u8 (mod 8) to
 *   u8 vector; 5 and 7 an aligned table access: u8 vector, u8 field (mod 4).
 * Checked beyond the sanitizers: a message is delivered (fire) or reprogrammed (update) only for a
 * vector below the count that is live (MSI-X enabled, function and vector unmasked); pending bits
 * stay below the count; a read fills its width and no more; after every operation a lent eventfd
 * is bound (ops->bind) exactly while its vector is live, and one taken back is not bound.
 */
#include <errno.h>
#include <linux/pci_regs.h>

#include "bus.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "fuzz.h"

#define MMIO64_BASE (1ull << 36)
#define BAR_SIZE 0x4000u
#define LENDS 8
#define FD0 100 /* slot i lends fake eventfd FD0 + i */

struct state {
	struct bus pio, mmio;
	struct pci_bus pb;
	struct pci_dev dev;
	struct msix m;
	unsigned fired, updates;
	int bound[LENDS];       /* the vector slot i's fake eventfd is bound to, -1 */
	bool lent[LENDS];
	uint16_t lent_vec[LENDS];
};

static bool live(const struct msix *m, unsigned vec)
{
	return m->enabled && !m->masked && !(m->table[vec].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

/* Both run with m->lock held: the state they check is the one they were called for. */
static int msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
	struct state *s = opaque;

	(void)addr, (void)data;
	FUZZ_CHECK(vec < s->m.nvec && live(&s->m, vec));
	s->updates++;
	return 0;
}

static void msi_fire(void *opaque, unsigned vec)
{
	struct state *s = opaque;

	FUZZ_CHECK(vec < s->m.nvec && live(&s->m, vec));
	FUZZ_CHECK(!(s->m.pba & (1ull << vec))); /* a delivered vector is not also pending */
	s->fired++;
}

static int msi_bind(void *opaque, unsigned vec, int fd, bool bind)
{
	struct state *s = opaque;
	unsigned i = (unsigned)(fd - FD0);

	FUZZ_CHECK(i < LENDS && vec < s->m.nvec);
	if (bind) {
		FUZZ_CHECK(live(&s->m, vec) && s->bound[i] < 0);
		s->bound[i] = (int)vec;
	} else {
		FUZZ_CHECK(s->bound[i] == (int)vec);
		s->bound[i] = -1;
	}
	return 0;
}

static const struct msi_ops msi = { .update = msi_update, .fire = msi_fire, .bind = msi_bind };

static void bar_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct state *s = opaque;

	if (!is_write)
		memset(data, 0, len);
	if (msix_bar_claims(&s->m, off))
		msix_bar_io(&s->m, off, data, len, is_write);
}

static void cfg_write(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct state *s = d->opaque;
	uint32_t cap = (uint32_t)s->m.cap;

	if (off < cap + 4 && off + len > cap)
		msix_cfg_write(&s->m);
}

static const struct pci_dev_ops hooks = { .cfg_write = cfg_write };

static void io(struct bus *b, uint64_t addr, uint32_t len, bool is_write, uint64_t value)
{
	uint8_t buf[8];

	memset(buf, 0xcc, sizeof(buf));
	if (is_write) {
		memcpy(buf, &value, len);
		bus_dispatch(b, addr, buf, len, true);
		return;
	}
	bus_dispatch(b, addr, buf, len, false);
	for (uint32_t i = len; i < sizeof(buf); i++)
		FUZZ_CHECK(buf[i] == 0xcc);
}

static void cfg(struct state *s, uint32_t reg, uint32_t len, bool is_write, uint32_t value)
{
	io(&s->mmio, PCI_ECAM_BASE + ((uint64_t)s->dev.slot << 15) + reg, len, is_write, value);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct fz f = fz_init(data, size);
	uint16_t nvec = (uint16_t)(fz_u8(&f) % MSIX_MAX_VECTORS + 1);
	uint32_t table = fz_u16(&f) % BAR_SIZE, pba = fz_u16(&f) % BAR_SIZE;

	memset(&s, 0, sizeof(s));
	for (unsigned i = 0; i < LENDS; i++)
		s.bound[i] = -1;
	bus_init(&s.pio);
	bus_init(&s.mmio);
	FUZZ_CHECK(pci_bus_init(&s.pb, &s.pio, &s.mmio, MMIO64_BASE, NULL, NULL, &fuzz_log) == 0);
	pci_dev_init(&s.dev, 0x1af4, 0x1044, 0xff0000, 1, 0x1af4, 0);
	s.dev.ops = &hooks;
	s.dev.opaque = &s;
	FUZZ_CHECK(pci_dev_set_bar(&s.dev, 0, BAR_SIZE, true, bar_io, &s) == 0);
	if (msix_init(&s.m, &s.dev, nvec, 0, table & ~7u, pba & ~7u, &msi, &s))
		FUZZ_CHECK(msix_init(&s.m, &s.dev, nvec, 0, 0x3800, 0x3c00, &msi, &s) == 0);
	FUZZ_CHECK(pci_bus_add(&s.pb, &s.dev) == 0);
	cfg(&s, PCI_COMMAND, 2, true, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);
		bool wr = op & 8;
		uint32_t len = fz_width(op >> 4);

		switch (op & 7) {
		case 0: {
			uint64_t off = fz_u16(&f) % (BAR_SIZE + 8);

			io(&s.mmio, s.dev.bar[0].addr + off, len, wr, fz_u64(&f));
			break;
		}
		case 1:
			cfg(&s, (uint32_t)s.m.cap + PCI_MSIX_FLAGS, 2, true, fz_u16(&f));
			break;
		case 2: {
			uint8_t v = fz_u8(&f);

			msix_notify(&s.m, v == 0xff ? MSIX_NO_VECTOR : v);
			break;
		}
		case 3: {
			uint32_t reg = fz_u8(&f), clen = len == 8 ? 4 : len;

			cfg(&s, reg & ~(clen - 1), clen, wr, fz_u32(&f));
			break;
		}
		case 4:
			msix_enabled(&s.m);
			break;
		case 6: {
			uint8_t v = fz_u8(&f);
			unsigned i = fz_u8(&f) % LENDS;

			if (s.lent[i]) {
				msix_unlend(&s.m, FD0 + (int)i);
				s.lent[i] = false;
			} else {
				int r = msix_lend(&s.m, v, FD0 + (int)i);

				FUZZ_CHECK(r == 0 || (r == -EINVAL && v >= nvec));
				s.lent[i] = r == 0;
				s.lent_vec[i] = v;
			}
			break;
		}
		default: {
			uint64_t off = s.m.table_off + 16ull * (fz_u8(&f) % (nvec + 1)) + 4 * (fz_u8(&f) % 4);

			io(&s.mmio, s.dev.bar[0].addr + off, 4, wr, fz_u32(&f));
			break;
		}
		}
		FUZZ_CHECK(!(s.m.pba >> (nvec - 1) >> 1)); /* no pending bit at or past nvec */
		for (unsigned i = 0; i < LENDS; i++)
			FUZZ_CHECK(s.lent[i] ? (s.bound[i] >= 0) == live(&s.m, s.lent_vec[i]) : s.bound[i] < 0);
	}
	for (unsigned i = 0; i < LENDS; i++)
		if (s.lent[i])
			msix_unlend(&s.m, FD0 + (int)i);
	msix_destroy(&s.m);
	pci_bus_destroy(&s.pb);
	bus_destroy(&s.mmio);
	bus_destroy(&s.pio);
	return 0;
}
