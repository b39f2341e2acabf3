// SPDX-License-Identifier: Apache-2.0
/* PCI bus 0: host bridge, type-1 and ECAM configuration access, BAR placement and MMIO dispatch, INTx. */
#define _GNU_SOURCE /* pthread_rwlockattr_setkind_np */
#include "devices/pci.h"

#include <errno.h>
#include <string.h>

#define CF8_ENABLE 0x80000000u
/*
 * Enable, extended register bits 11:8 in 27:24 (AMD's ECS, which Linux uses on AMD CPUs without MMCONFIG),
 * bus, device, function, register bits 7:2; the reserved bits read 0.
 */
#define CF8_MASK 0x8ffffffcu
#define CF9_OFF 1 /* port 0xcf9 - PCI_CONFIG_PORT */
#define PCI_CAP_MAX 48        /* (256 - 64) / 4: bounds a walk of the capability list */

static uint32_t le_get(const void *p, unsigned n)
{
	const uint8_t *b = p;
	uint32_t v = 0;

	for (unsigned i = 0; i < n && i < 4; i++)
		v |= (uint32_t)b[i] << (8 * i);
	return v;
}

static void le_put(void *p, uint32_t v, unsigned n)
{
	uint8_t *b = p;

	for (unsigned i = 0; i < n && i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

unsigned pci_intx_gsi(unsigned slot, unsigned pin)
{
	return PCI_INTX_GSI_BASE + (slot + pin) % PCI_INTX_GSIS;
}

void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision,
		  uint16_t subsys_vendor, uint16_t subsys_id)
{
	memset(d, 0, sizeof(*d));
	le_put(d->cfg + PCI_VENDOR_ID, vendor, 2);
	le_put(d->cfg + PCI_DEVICE_ID, device, 2);
	d->cfg[PCI_REVISION_ID] = revision;
	le_put(d->cfg + PCI_CLASS_PROG, class_code, 3);
	d->cfg[PCI_HEADER_TYPE] = PCI_HEADER_TYPE_NORMAL; /* never multi-function */
	le_put(d->cfg + PCI_SUBSYSTEM_VENDOR_ID, subsys_vendor, 2);
	le_put(d->cfg + PCI_SUBSYSTEM_ID, subsys_id, 2);
	d->cfg[PCI_INTERRUPT_PIN] = 1; /* INTA */
	le_put(d->wmask + PCI_COMMAND,
	       PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE, 2);
	d->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
	d->wmask[PCI_LATENCY_TIMER] = 0xff;
	d->wmask[PCI_INTERRUPT_LINE] = 0xff;
	d->cap_end = 0x40;
}

/* Is bar the upper half of a 64-bit BAR? */
static bool upper_half(const struct pci_dev *d, int bar)
{
	return bar > 0 && d->bar[bar - 1].size && d->bar[bar - 1].is64;
}

int pci_dev_set_bar(struct pci_dev *d, int bar, uint64_t size, bool is64, bus_io_fn fn, void *opaque)
{
	uint8_t *reg;
	uint64_t mask;

	if (bar < 0 || bar >= PCI_BARS || (is64 && bar == PCI_BARS - 1) || !fn)
		return -EINVAL;
	if (size < 4096 || (size & (size - 1)) || size > (is64 ? PCI_MMIO64_SIZE : PCI_MMIO32_SIZE))
		return -EINVAL;
	if (d->bar[bar].size || upper_half(d, bar) || (is64 && d->bar[bar + 1].size))
		return -EINVAL;
	d->bar[bar] = (struct pci_bar){ .size = size, .is64 = is64, .fn = fn, .opaque = opaque };
	reg = d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar;
	mask = ~(size - 1);
	le_put(reg, is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : PCI_BASE_ADDRESS_MEM_TYPE_32, 4);
	le_put(d->wmask + PCI_BASE_ADDRESS_0 + 4 * bar, (uint32_t)mask & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK, 4);
	if (is64) {
		le_put(reg + 4, 0, 4);
		le_put(d->wmask + PCI_BASE_ADDRESS_0 + 4 * (bar + 1), (uint32_t)(mask >> 32), 4);
	}
	return 0;
}

int pci_dev_add_cap(struct pci_dev *d, const void *body, uint8_t len, const void *wmask)
{
	/* cap_end wraps to 0 when a capability ends at 256 exactly: then the space is full. */
	unsigned end = (!d->cap_end && (d->cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) ? PCI_CFG_SIZE : d->cap_end;
	unsigned off = (end + 3u) & ~3u;

	if (len < 2)
		return -EINVAL;
	if (off < 0x40)
		off = 0x40;
	if (off + len > PCI_CFG_SIZE)
		return -ENOSPC;
	memcpy(d->cfg + off, body, len);
	d->cfg[off + 1] = 0;
	if (wmask) {
		memcpy(d->wmask + off, wmask, len);
		d->wmask[off] = d->wmask[off + 1] = 0;
	}
	if (!(d->cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST)) {
		d->cfg[PCI_CAPABILITY_LIST] = (uint8_t)off;
		d->cfg[PCI_STATUS] |= PCI_STATUS_CAP_LIST;
	} else {
		unsigned at = d->cfg[PCI_CAPABILITY_LIST];

		for (int i = 0; i < PCI_CAP_MAX && d->cfg[at + 1]; i++)
			at = d->cfg[at + 1];
		d->cfg[at + 1] = (uint8_t)off;
	}
	d->cap_end = (uint8_t)(off + len);
	return (int)off;
}

/* Recompute the level of gsi (an OR over the devices on it) and tell irq_set about a change. intx_lock held. */
static void update_gsi(struct pci_bus *b, unsigned gsi)
{
	bool level = false;

	for (unsigned s = 0; s < PCI_SLOTS; s++) {
		const struct pci_dev *d = b->dev[s];

		if (d && pci_intx_gsi(s, 0) == gsi && d->intx_level && !d->intx_disabled)
			level = true;
	}
	if (level != b->gsi_level[gsi - PCI_INTX_GSI_BASE]) {
		b->gsi_level[gsi - PCI_INTX_GSI_BASE] = level;
		if (b->irq_set)
			b->irq_set(b->irq_opaque, gsi, level);
	}
}

void pci_dev_set_intx(struct pci_dev *d, int level)
{
	struct pci_bus *b = d->bus;

	if (!b)
		return;
	pthread_mutex_lock(&b->intx_lock);
	d->intx_level = level != 0;
	update_gsi(b, pci_intx_gsi(d->slot, 0));
	pthread_mutex_unlock(&b->intx_lock);
}

static void intx_line_set(void *opaque, unsigned gsi, int level)
{
	(void)gsi;
	pci_dev_set_intx(opaque, level);
}

/* The address a BAR's registers hold now. cfg_lock held. */
static uint64_t bar_addr_cfg(const struct pci_dev *d, int bar)
{
	const uint8_t *reg = d->cfg + PCI_BASE_ADDRESS_0 + 4 * bar;
	uint64_t addr = le_get(reg, 4) & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK;

	if (d->bar[bar].is64)
		addr |= (uint64_t)le_get(reg + 4, 4) << 32;
	return addr;
}

/* Make dispatch follow the BAR registers and the memory enable bit; tell the device what changed. cfg_lock held. */
static void sync_bars(struct pci_bus *b, struct pci_dev *d)
{
	bool enable = le_get(d->cfg + PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;
	uint64_t before[PCI_BARS], after[PCI_BARS];

	pthread_rwlock_wrlock(&b->bar_lock);
	for (int i = 0; i < PCI_BARS; i++) {
		struct pci_bar *bar = &d->bar[i];

		before[i] = d->mem_enabled ? bar->addr : 0;
		if (bar->size)
			bar->addr = bar_addr_cfg(d, i);
		after[i] = enable ? bar->addr : 0;
	}
	d->mem_enabled = enable;
	pthread_rwlock_unlock(&b->bar_lock);
	for (int i = 0; i < PCI_BARS; i++) {
		if (d->bar[i].size && before[i] != after[i] && d->ops && d->ops->bar_update)
			d->ops->bar_update(d, i, after[i]);
	}
}

/* cfg_lock held; reg + len <= 256 and naturally aligned. */
static uint32_t cfg_read(struct pci_bus *b, struct pci_dev *d, uint32_t reg, unsigned len)
{
	uint8_t v[4];

	memcpy(v, d->cfg + reg, len);
	if (reg <= PCI_STATUS && reg + len > PCI_STATUS) {
		pthread_mutex_lock(&b->intx_lock);
		if (d->intx_level) /* the status bit shows the request even while INTx is disabled */
			v[PCI_STATUS - reg] |= PCI_STATUS_INTERRUPT;
		pthread_mutex_unlock(&b->intx_lock);
	}
	return le_get(v, len);
}

/* cfg_lock held; reg + len <= 256 and naturally aligned. */
static void cfg_write(struct pci_bus *b, struct pci_dev *d, uint32_t reg, unsigned len, uint32_t val)
{
	uint16_t old_cmd = (uint16_t)le_get(d->cfg + PCI_COMMAND, 2), cmd;
	bool bars = false;

	for (unsigned i = 0; i < len; i++) {
		unsigned o = reg + i;
		uint8_t v = (uint8_t)(val >> (8 * i));

		d->cfg[o] = (uint8_t)((d->cfg[o] & ~d->wmask[o]) | (v & d->wmask[o]));
		if (o >= PCI_BASE_ADDRESS_0 && o < PCI_BASE_ADDRESS_0 + 4 * PCI_BARS)
			bars = true;
	}
	cmd = (uint16_t)le_get(d->cfg + PCI_COMMAND, 2);
	if ((old_cmd ^ cmd) & PCI_COMMAND_INTX_DISABLE) {
		pthread_mutex_lock(&b->intx_lock);
		d->intx_disabled = cmd & PCI_COMMAND_INTX_DISABLE;
		if (d->bus)
			update_gsi(b, pci_intx_gsi(d->slot, 0));
		pthread_mutex_unlock(&b->intx_lock);
	}
	if (bars || ((old_cmd ^ cmd) & PCI_COMMAND_MEMORY))
		sync_bars(b, d);
	if (d->ops && d->ops->cfg_write)
		d->ops->cfg_write(d, reg, len);
}

/* One configuration access, type 1 or ECAM. cfg_lock held. */
static void config_access(struct pci_bus *b, unsigned bus, unsigned dev, unsigned fn, uint32_t reg, void *data,
			  uint32_t len, bool is_write)
{
	struct pci_dev *d = (bus == 0 && fn == 0 && dev < PCI_SLOTS) ? b->dev[dev] : NULL;

	if (!d || (len != 1 && len != 2 && len != 4) || (reg & (len - 1))) {
		if (!is_write)
			memset(data, 0xff, len);
		return;
	}
	if (reg >= PCI_CFG_SIZE) { /* extended configuration space: nothing there */
		if (!is_write)
			memset(data, 0, len);
		return;
	}
	if (is_write)
		cfg_write(b, d, reg, len, le_get(data, len));
	else
		le_put(data, cfg_read(b, d, reg, len), len);
}

/* Ports 0xcf8..0xcff: the address latch (dword accesses only) and the data window. */
static void config_port_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct pci_bus *b = opaque;
	uint32_t a;

	/* A byte at 0xcf9 is the reset control register, not part of the address latch. */
	if (off == CF9_OFF && len == 1 && b->cf9_fn) {
		b->cf9_fn(b->cf9_opaque, 0, data, len, is_write);
		return;
	}
	pthread_mutex_lock(&b->cfg_lock);
	if (off < 4) {
		if (off == 0 && len == 4) {
			if (is_write)
				b->cf8 = le_get(data, 4) & CF8_MASK;
			else
				le_put(data, b->cf8, 4);
		} else if (!is_write) {
			memset(data, 0xff, len);
		}
	} else {
		a = b->cf8;
		if (a & CF8_ENABLE)
			config_access(b, (a >> 16) & 0xff, (a >> 11) & 0x1f, (a >> 8) & 7,
				      ((a >> 16) & 0xf00) | (a & 0xfc) | (off & 3), data, len, is_write);
		else if (!is_write)
			memset(data, 0xff, len);
	}
	pthread_mutex_unlock(&b->cfg_lock);
}

/* ECAM: off = bus << 20 | device << 15 | function << 12 | register. */
static void ecam_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct pci_bus *b = opaque;

	pthread_mutex_lock(&b->cfg_lock);
	config_access(b, (unsigned)(off >> 20), (off >> 15) & 0x1f, (off >> 12) & 7, off & 0xfff, data, len,
		      is_write);
	pthread_mutex_unlock(&b->cfg_lock);
}

/* An access in a BAR window: to the enabled BAR that holds all of it, else unclaimed. */
static void window_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	const struct pci_window *w = opaque;
	struct pci_bus *b = w->bus;
	uint64_t gpa = w->base + off;

	pthread_rwlock_rdlock(&b->bar_lock);
	for (unsigned s = 1; s < PCI_SLOTS; s++) {
		struct pci_dev *d = b->dev[s];

		if (!d || !d->mem_enabled)
			continue;
		for (int i = 0; i < PCI_BARS; i++) {
			const struct pci_bar *bar = &d->bar[i];
			uint64_t in = gpa - bar->addr;

			if (!bar->size || gpa < bar->addr || in >= bar->size)
				continue;
			if (len > bar->size - in)
				goto unclaimed;
			bar->fn(bar->opaque, in, data, len, is_write);
			pthread_rwlock_unlock(&b->bar_lock);
			return;
		}
	}
unclaimed:
	pthread_rwlock_unlock(&b->bar_lock);
	if (!is_write)
		memset(data, 0xff, len);
}

int pci_bus_init(struct pci_bus *b, struct bus *pio, struct bus *mmio, uint64_t mmio64_base,
		 void (*irq_set)(void *opaque, unsigned gsi, int level), void *irq_opaque, const struct vlog *log)
{
	pthread_rwlockattr_t attr;
	uint64_t end;
	int ret;

	if (mmio64_base < (1ull << 32) || __builtin_add_overflow(mmio64_base, PCI_MMIO64_SIZE, &end))
		return -EINVAL;
	memset(b, 0, sizeof(*b));
	pthread_mutex_init(&b->cfg_lock, NULL);
	/* Writers first: vCPUs hammering a BAR must not starve a guest that moves one. */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&b->bar_lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	pthread_mutex_init(&b->intx_lock, NULL);
	b->mmio32_next = PCI_MMIO32_BASE;
	b->mmio64_base = b->mmio64_next = mmio64_base;
	b->irq_set = irq_set;
	b->irq_opaque = irq_opaque;
	b->log = log;
	b->win32 = (struct pci_window){ .bus = b, .base = PCI_MMIO32_BASE };
	b->win64 = (struct pci_window){ .bus = b, .base = mmio64_base };

	pci_dev_init(&b->host_bridge, PCI_HOST_BRIDGE_VENDOR, PCI_HOST_BRIDGE_DEVICE, 0x060000, 0, 0, 0);
	b->host_bridge.cfg[PCI_INTERRUPT_PIN] = 0;
	b->host_bridge.bus = b;
	b->dev[0] = &b->host_bridge;

	ret = bus_register(pio, PCI_CONFIG_PORT, PCI_CONFIG_PORT_LEN, config_port_io, b, "pci-config");
	ret = ret ?: bus_register(mmio, PCI_ECAM_BASE, PCI_ECAM_SIZE, ecam_io, b, "pci-ecam");
	ret = ret ?: bus_register(mmio, PCI_MMIO32_BASE, PCI_MMIO32_SIZE, window_io, &b->win32, "pci-mmio32");
	ret = ret ?: bus_register(mmio, mmio64_base, PCI_MMIO64_SIZE, window_io, &b->win64, "pci-mmio64");
	if (ret) {
		vlog_err(log, "cannot register the PCI configuration ports and windows: %s", strerror(-ret));
		pci_bus_destroy(b);
	}
	return ret;
}

/* Where a BAR of size bytes goes in [*next, limit), naturally aligned; false if it does not fit. */
static bool place(uint64_t *next, uint64_t limit, uint64_t size, uint64_t *addr)
{
	uint64_t at = (*next + size - 1) & ~(size - 1);

	if (at < *next || at > limit || limit - at < size)
		return false;
	*addr = at;
	*next = at + size;
	return true;
}

int pci_bus_add(struct pci_bus *b, struct pci_dev *d)
{
	uint64_t next32 = b->mmio32_next, next64 = b->mmio64_next, addr[PCI_BARS] = { 0 };
	unsigned slot;

	for (slot = 1; slot < PCI_SLOTS && b->dev[slot]; slot++)
		;
	if (slot == PCI_SLOTS) {
		vlog_err(b->log, "no free PCI slot: bus 0 holds at most %d devices", PCI_SLOTS - 1);
		return -ENOSPC;
	}
	for (int i = 0; i < PCI_BARS; i++) {
		const struct pci_bar *bar = &d->bar[i];
		bool ok;

		if (!bar->size)
			continue;
		if (bar->is64)
			ok = place(&next64, b->mmio64_base + PCI_MMIO64_SIZE, bar->size, &addr[i]);
		else
			ok = place(&next32, PCI_MMIO32_BASE + PCI_MMIO32_SIZE, bar->size, &addr[i]);
		if (!ok) {
			vlog_err(b->log, "no room for a %llu-byte BAR in the PCI %s window",
				 (unsigned long long)bar->size, bar->is64 ? "64-bit" : "32-bit");
			return -ENOSPC;
		}
	}

	pthread_mutex_lock(&b->cfg_lock);
	pthread_rwlock_wrlock(&b->bar_lock);
	for (int i = 0; i < PCI_BARS; i++) {
		uint8_t *reg = d->cfg + PCI_BASE_ADDRESS_0 + 4 * i;

		if (!d->bar[i].size)
			continue;
		d->bar[i].addr = addr[i];
		le_put(reg, (le_get(reg, 4) & ~(uint32_t)PCI_BASE_ADDRESS_MEM_MASK) | (uint32_t)addr[i], 4);
		if (d->bar[i].is64)
			le_put(reg + 4, (uint32_t)(addr[i] >> 32), 4);
	}
	d->mem_enabled = le_get(d->cfg + PCI_COMMAND, 2) & PCI_COMMAND_MEMORY;
	d->bus = b;
	d->slot = slot;
	d->intx = (struct irq_line){ .set = intx_line_set, .opaque = d, .gsi = pci_intx_gsi(slot, 0) };
	d->cfg[PCI_INTERRUPT_LINE] = (uint8_t)pci_intx_gsi(slot, 0);
	b->dev[slot] = d;
	b->mmio32_next = next32;
	b->mmio64_next = next64;
	pthread_rwlock_unlock(&b->bar_lock);
	pthread_mutex_unlock(&b->cfg_lock);
	return 0;
}

void pci_bus_set_port_cf9(struct pci_bus *b, bus_io_fn fn, void *opaque)
{
	b->cf9_fn = fn;
	b->cf9_opaque = opaque;
}

void pci_bus_destroy(struct pci_bus *b)
{
	pthread_mutex_destroy(&b->intx_lock);
	pthread_rwlock_destroy(&b->bar_lock);
	pthread_mutex_destroy(&b->cfg_lock);
}

/*
 * Snapshot of one function, layout 1: u8 layout (1), u8 slot, u16 size of the configuration space (256), the
 * configuration space as stored, bool INTx request. The interrupt-status bit is not stored in cfg[] (cfg_read()
 * derives it from the request), so every byte pci.c changes after pci_bus_add() is guest-writable (wmask): BAR
 * addresses, command, cache line, latency timer, interrupt line, capability registers. Memory decoding, the BAR
 * addresses MMIO dispatch uses and INTx-disable are derived from those bytes on restore, as on a guest write.
 */
#define DEV_STATE_LAYOUT 1

struct dev_state {
	uint8_t slot;
	uint8_t cfg[PCI_CFG_SIZE];
	bool intx_level;
};

/* cfg_lock held when d is on a bus. */
static void save_locked(struct pci_dev *d, struct sbuf *out)
{
	bool level;

	if (d->bus) {
		pthread_mutex_lock(&d->bus->intx_lock);
		level = d->intx_level;
		pthread_mutex_unlock(&d->bus->intx_lock);
	} else {
		level = d->intx_level;
	}
	sbuf_u8(out, DEV_STATE_LAYOUT);
	sbuf_u8(out, (uint8_t)d->slot);
	sbuf_u16(out, PCI_CFG_SIZE);
	sbuf_put(out, d->cfg, PCI_CFG_SIZE);
	sbuf_bool(out, level);
}

void pci_dev_save(struct pci_dev *d, struct sbuf *out)
{
	struct pci_bus *b = d->bus;

	if (b)
		pthread_mutex_lock(&b->cfg_lock);
	save_locked(d, out);
	if (b)
		pthread_mutex_unlock(&b->cfg_lock);
}

/* Read a function's record; in is bad if it is short or not layout 1. */
static void read_dev_state(struct sreader *in, struct dev_state *s)
{
	if (sr_u8(in) != DEV_STATE_LAYOUT)
		sr_fail(in);
	s->slot = sr_u8(in);
	if (sr_u16(in) != PCI_CFG_SIZE)
		sr_fail(in);
	sr_get(in, s->cfg, PCI_CFG_SIZE);
	s->intx_level = sr_bool(in);
}

/*
 * Does s belong to d: same slot, every bit the guest cannot write as d has it now (IDs, class, header, BAR types
 * and sizes, capability list and contents), an INTx request only with an interrupt pin? cfg_lock held.
 */
static bool dev_state_fits(const struct pci_dev *d, const struct dev_state *s)
{
	const struct vlog *log = d->bus->log;

	if (s->slot != d->slot) {
		vlog_debug(log, "saved PCI function is in slot %u, not %u", s->slot, d->slot);
		return false;
	}
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
		if ((s->cfg[i] ^ d->cfg[i]) & ~d->wmask[i]) {
			vlog_debug(log, "saved configuration space of PCI slot %u differs at read-only offset 0x%x "
				   "(0x%02x, here 0x%02x)", d->slot, i, s->cfg[i], d->cfg[i]);
			return false;
		}
	}
	if (s->intx_level && !d->cfg[PCI_INTERRUPT_PIN]) {
		vlog_debug(log, "saved INTx request of PCI slot %u, which has no interrupt pin", d->slot);
		return false;
	}
	return true;
}

/*
 * Apply a fitting s as a guest write of the whole space would (cfg_write()): the writable bits, then INTx (request,
 * disable bit, the shared GSI recomputed and told to irq_set if it changes), BAR dispatch with bar_update
 * (sync_bars()), then the device's cfg_write hook once for all 256 bytes, so what a device mirrors from its
 * capabilities (MSI-X enable and function mask, msix_cfg_write()) follows at once. cfg_lock held.
 */
static void dev_state_apply(struct pci_bus *b, struct pci_dev *d, const struct dev_state *s)
{
	for (unsigned i = 0; i < PCI_CFG_SIZE; i++)
		d->cfg[i] = (uint8_t)((d->cfg[i] & ~d->wmask[i]) | (s->cfg[i] & d->wmask[i]));
	pthread_mutex_lock(&b->intx_lock);
	d->intx_level = s->intx_level;
	d->intx_disabled = le_get(d->cfg + PCI_COMMAND, 2) & PCI_COMMAND_INTX_DISABLE;
	update_gsi(b, pci_intx_gsi(d->slot, 0));
	pthread_mutex_unlock(&b->intx_lock);
	sync_bars(b, d);
	if (d->ops && d->ops->cfg_write)
		d->ops->cfg_write(d, 0, PCI_CFG_SIZE);
}

int pci_dev_restore(struct pci_dev *d, struct sreader *in)
{
	struct pci_bus *b = d->bus;
	struct dev_state s;
	bool ok;

	read_dev_state(in, &s);
	if (!sr_ok(in) || !b) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&b->cfg_lock);
	ok = dev_state_fits(d, &s);
	if (ok)
		dev_state_apply(b, d, &s);
	pthread_mutex_unlock(&b->cfg_lock);
	if (!ok) {
		sr_fail(in);
		return -EINVAL;
	}
	return 0;
}

/* The host bridge's record, version 1: its function's record (above), then u32 the 0xcf8 latch. */
static int host_bridge_save(void *dev, struct sbuf *out)
{
	struct pci_bus *b = dev;

	pthread_mutex_lock(&b->cfg_lock);
	save_locked(&b->host_bridge, out);
	sbuf_u32(out, b->cf8);
	pthread_mutex_unlock(&b->cfg_lock);
	return out->oom ? -ENOMEM : 0;
}

/* All of it checked before any of it applies; the latch must be a value a guest write could leave. */
static int host_bridge_restore(void *dev, struct sreader *in)
{
	struct pci_bus *b = dev;
	struct dev_state s;
	uint32_t cf8;
	bool ok;

	read_dev_state(in, &s);
	cf8 = sr_u32(in);
	if (!sr_done(in) || (cf8 & ~CF8_MASK)) {
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&b->cfg_lock);
	ok = dev_state_fits(&b->host_bridge, &s);
	if (ok) {
		dev_state_apply(b, &b->host_bridge, &s);
		b->cf8 = cf8;
	}
	pthread_mutex_unlock(&b->cfg_lock);
	if (!ok) {
		sr_fail(in);
		return -EINVAL;
	}
	return 0;
}

const struct vm_device_ops pci_host_bridge_device_ops = {
	.kind = "pci-host",
	.version = 1,
	.save = host_bridge_save,
	.restore = host_bridge_restore,
};
