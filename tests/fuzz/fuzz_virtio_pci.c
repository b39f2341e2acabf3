// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_virtio_pci: the modern virtio-pci transport (src/virtio/pci.c, pci_common.c) on a real PCI
 * bus (src/devices/pci.c) with MSI-X (msix.c): BAR 0's common configuration (feature windows, queue
 * select/size/vector/enable/addresses at every width, the status machine with DRIVER_OK's queue
 * validation, resets), the ISR, the device configuration window, the doorbells (through the BAR
 * handler: no KVM), the capability list in configuration space, MSI-X and INTx delivery. Behind it
 * either a fake device (a configurable queue count, queue size and odd-sized configuration space;
 * it pops and completes chains on notify, may refuse activation, may report a broken queue or a
 * configuration change) or the real virtio-console device (src/virtio/console.c). The device's
 * loop work (doorbells, activate/reset/notify) runs on the fuzzing thread (fuzz_loop.h).
 *
 * Input: u8 device (bit 0: virtio-console instead of the fake; bits 1-3 fake queue count 1..8,
 * bits 4-7 fake queue size 2^n), u8 fake behaviour (bit 0 activate fails, bit 1 a notify of its
 * last queue reports it broken, bit 2 a notify of queue 0 changes the configuration, bits 3-7 its
 * configuration size 0..31), then operations until the input ends, u8 op (bits 0-2 the kind,
 * bit 3 write, bits 4-5 width 1 << n):
 *   0 BAR 0 at u16 offset (mod 16 KiB + 8), u64 value; 1 a common-configuration field (u8 index
 *   into the 22 fields) at its natural width, or 8 bytes for a queue address when the width is 8,
 *   u64 value; 2 the device configuration at u8 offset (mod 40), u64 value; 3 ring the doorbell of
 *   queue u8 (mod 10); 4 read the ISR; 5 configuration space at u8 register, u32 value; 6 a loop
 *   turn; 7 u8 sub: even, a driver round on queue sub / 2 (mod its count, fuzz_vq.h); odd, set up
 *   queue sub / 2 in the standard layout with u16 size and enable it.
 * Checked beyond the sanitizers: the device sees configuration accesses only inside its space,
 * activate only with the queues the driver enabled and valid (or none), notify only while active
 * and for its queues, never two activations without a reset; interrupts and MSI-X messages only for
 * existing vectors; a read fills its width and no more.
 */
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>

#include "bus.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "fuzz_loop.h"
#include "fuzz_vq.h"
#include "virtio/console.h"
#include "virtio/pci.h"

#define MMIO64_BASE (1ull << 36)
#define FAKE_MAX_QUEUES 8
#define FAKE_CFG_MAX 31

struct fake {
	unsigned nq;
	uint16_t qmax;
	uint8_t behave;
	size_t cfg_size;
	uint8_t cfg[FAKE_CFG_MAX];
	bool active;
	struct virtio_ctx ctx;
	struct iovec iov[16];
	unsigned destroys;
	const struct fuzz_ram *ram;
};

struct state {
	struct fvq_driver d;
	struct bus pio, mmio;
	struct pci_bus pb;
	struct virtio_pci *vp;
	struct pci_dev *pci;
	struct fake fake;
	bool console;
	unsigned nq;
};

static uint64_t fake_features(void *dev)
{
	(void)dev;
	return 1ull << 0 | 1ull << 40; /* a device bit in each feature window */
}

static unsigned fake_num_queues(void *dev)
{
	return ((struct fake *)dev)->nq;
}

static void fake_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct fake *f = dev;

	FUZZ_CHECK(len > 0 && off < f->cfg_size && len <= f->cfg_size - off);
	memcpy(data, f->cfg + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const void *data, uint32_t len)
{
	struct fake *f = dev;

	FUZZ_CHECK(len > 0 && off < f->cfg_size && len <= f->cfg_size - off);
	memcpy(f->cfg + off, data, len);
}

static int fake_activate(void *dev, const struct virtio_ctx *ctx)
{
	struct fake *f = dev;

	FUZZ_CHECK(!f->active);
	FUZZ_CHECK(ctx->nvq == f->nq && ctx->mem && ctx->vq && ctx->interrupt && ctx->needs_reset);
	for (unsigned i = 0; i < ctx->nvq; i++) {
		const struct virtq *q = &ctx->vq[i];

		/* An enabled queue was validated whole (virtq_init()); a disabled one has size 0. */
		FUZZ_CHECK(q->size == 0 || (q->size <= f->qmax && !q->broken && q->desc && q->avail && q->used));
	}
	if (f->behave & 1)
		return -EINVAL;
	f->ctx = *ctx;
	f->active = true;
	return 0;
}

static void fake_reset(void *dev)
{
	((struct fake *)dev)->active = false;
}

static void fake_notify(void *dev, unsigned q)
{
	struct fake *f = dev;
	struct virtq *vq;
	struct virtq_chain c;
	unsigned n = 0;

	FUZZ_CHECK(f->active && q < f->nq);
	vq = &f->ctx.vq[q];
	if (!vq->size)
		return;
	while (n++ < vq->size && virtq_pop(vq, &c, f->iov, 16) == 1) {
		for (unsigned i = 0; i < c.niov; i++)
			FUZZ_CHECK(fuzz_ram_holds(f->ram, f->iov[i].iov_base, f->iov[i].iov_len));
		virtq_push(vq, c.head, (uint32_t)c.in_len);
	}
	if (virtq_should_interrupt(vq))
		f->ctx.interrupt(f->ctx.irq_opaque, q);
	if ((f->behave & 2) && q == f->nq - 1)
		f->ctx.needs_reset(f->ctx.irq_opaque);
	if ((f->behave & 4) && q == 0)
		f->ctx.config_changed(f->ctx.irq_opaque);
}

static void fake_destroy(void *dev)
{
	struct fake *f = dev;

	FUZZ_CHECK(!f->active);
	f->destroys++;
}

static const struct virtio_device_ops fake_ops = {
	.name = "fuzz-fake",
	.device_id = 4,
	.pci_class = 0xff0000,
	.features = fake_features,
	.num_queues = fake_num_queues,
	.queue_max_size = 0, /* set per input (fake_ops_for) */
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
	.notify = fake_notify,
	.destroy = fake_destroy,
};

/* The console's backend: takes everything, holds no input. */
static size_t con_write(void *opaque, const void *buf, size_t len)
{
	(void)opaque, (void)buf;
	return len;
}

static void con_want_room(void *opaque, size_t n)
{
	(void)opaque, (void)n;
}

static void con_rx_kick(void *opaque)
{
	(void)opaque;
}

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	FUZZ_CHECK(gsi >= PCI_INTX_GSI_BASE && gsi < PCI_INTX_GSI_BASE + PCI_INTX_GSIS && (level == 0 || level == 1));
}

static int msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
	struct state *s = opaque;

	(void)addr, (void)data;
	FUZZ_CHECK(vec <= s->nq); /* one vector per queue, one for configuration */
	return 0;
}

static void msi_fire(void *opaque, unsigned vec)
{
	struct state *s = opaque;

	FUZZ_CHECK(vec <= s->nq);
}

static const struct msi_ops msi = { .update = msi_update, .fire = msi_fire };

static void device_error(void *opaque)
{
	(void)opaque;
}

static void io(struct state *s, uint64_t addr, uint32_t len, bool is_write, uint64_t value)
{
	uint8_t buf[8];

	memset(buf, 0xcc, sizeof(buf));
	if (is_write) {
		memcpy(buf, &value, len);
		bus_dispatch(&s->mmio, addr, buf, len, true);
		return;
	}
	bus_dispatch(&s->mmio, addr, buf, len, false);
	for (uint32_t i = len; i < sizeof(buf); i++)
		FUZZ_CHECK(buf[i] == 0xcc);
}

static void bar(struct state *s, uint64_t off, uint32_t len, bool is_write, uint64_t value)
{
	io(s, s->pci->bar[VIRTIO_PCI_BAR].addr + off, len, is_write, value);
}

static void cfg(struct state *s, uint32_t reg, uint32_t len, bool is_write, uint32_t value)
{
	io(s, PCI_ECAM_BASE + ((uint64_t)s->pci->slot << 15) + reg, len, is_write, value);
}

static const struct {
	uint8_t off, width;
} fields[] = {
	{ VIRTIO_PCI_COMMON_DFSELECT, 4 }, { VIRTIO_PCI_COMMON_DF, 4 },	      { VIRTIO_PCI_COMMON_GFSELECT, 4 },
	{ VIRTIO_PCI_COMMON_GF, 4 },	   { VIRTIO_PCI_COMMON_MSIX, 2 },     { VIRTIO_PCI_COMMON_NUMQ, 2 },
	{ VIRTIO_PCI_COMMON_STATUS, 1 },   { VIRTIO_PCI_COMMON_CFGGENERATION, 1 },
	{ VIRTIO_PCI_COMMON_Q_SELECT, 2 }, { VIRTIO_PCI_COMMON_Q_SIZE, 2 },   { VIRTIO_PCI_COMMON_Q_MSIX, 2 },
	{ VIRTIO_PCI_COMMON_Q_ENABLE, 2 }, { VIRTIO_PCI_COMMON_Q_NOFF, 2 },   { VIRTIO_PCI_COMMON_Q_DESCLO, 4 },
	{ VIRTIO_PCI_COMMON_Q_DESCHI, 4 }, { VIRTIO_PCI_COMMON_Q_AVAILLO, 4 }, { VIRTIO_PCI_COMMON_Q_AVAILHI, 4 },
	{ VIRTIO_PCI_COMMON_Q_USEDLO, 4 }, { VIRTIO_PCI_COMMON_Q_USEDHI, 4 }, { 56, 4 } /* past the end */,
	{ 1, 1 } /* inside a field */,	   { VIRTIO_PCI_COMMON_Q_DESCLO, 8 } /* a 64-bit address */,
};

static void common_wr(struct state *s, uint32_t off, uint32_t len, uint64_t v)
{
	bar(s, VIRTIO_PCI_COMMON_OFF + off, len, true, v);
}

/* What a driver does to set up queue q in the standard layout (fuzz_vq.h). */
static void queue_setup(struct state *s, unsigned q, uint16_t size)
{
	struct virtq scratch;
	uint16_t got = 0;

	common_wr(s, VIRTIO_PCI_COMMON_Q_SELECT, 2, q);
	common_wr(s, VIRTIO_PCI_COMMON_Q_SIZE, 2, size);
	/* Read back the size the device took (all-ones when the BAR does not decode). */
	bus_dispatch(&s->mmio, s->pci->bar[VIRTIO_PCI_BAR].addr + VIRTIO_PCI_COMMON_Q_SIZE, &got, 2, false);
	got = le16toh(got);
	if (q < FVQ_MAX_QUEUES && got && got <= FVQ_MAX_SIZE)
		fvq_init(&s->d, q, got, false, &scratch); /* clears the rings; driver rounds use that size */
	common_wr(s, VIRTIO_PCI_COMMON_Q_MSIX, 2, q + 1);
	common_wr(s, VIRTIO_PCI_COMMON_Q_DESCLO, 8, FVQ_DESC(q % FVQ_MAX_QUEUES));
	common_wr(s, VIRTIO_PCI_COMMON_Q_AVAILLO, 8, FVQ_AVAIL(q % FVQ_MAX_QUEUES));
	common_wr(s, VIRTIO_PCI_COMMON_Q_USEDLO, 8, FVQ_USED(q % FVQ_MAX_QUEUES));
	common_wr(s, VIRTIO_PCI_COMMON_Q_ENABLE, 2, 1);
}

static int setup(struct state *s, uint8_t dev, uint8_t behave)
{
	static struct virtio_device_ops ops;
	struct virtio_pci_opts o = { .mem = &s->d.ram.m, .loop = fuzz_loop(), .bus = &s->pb, .vm_fd = -1,
				     .msi_ops = &msi, .msi_opaque = s, .log = &fuzz_log,
				     .device_error = device_error, .error_opaque = s };

	bus_init(&s->pio);
	bus_init(&s->mmio);
	FUZZ_CHECK(pci_bus_init(&s->pb, &s->pio, &s->mmio, MMIO64_BASE, irq_set, s, &fuzz_log) == 0);
	s->console = dev & 1;
	if (s->console) {
		struct virtio_console_opts co = { .backend = { .write = con_write, .want_room = con_want_room,
							       .rx_kick = con_rx_kick }, .cols = 80, .rows = 24 };

		FUZZ_CHECK(virtio_console_create(&co, &fuzz_log, &o.dev) == 0);
		o.ops = &virtio_console_ops;
		s->nq = 2;
	} else {
		s->fake.nq = ((dev >> 1) & 7) + 1;
		s->fake.qmax = fvq_size(dev >> 4);
		s->fake.behave = behave;
		s->fake.cfg_size = behave >> 3;
		s->fake.ram = &s->d.ram;
		for (size_t i = 0; i < s->fake.cfg_size; i++)
			s->fake.cfg[i] = (uint8_t)(0xa0 + i);
		ops = fake_ops;
		ops.queue_max_size = s->fake.qmax;
		ops.config_size = s->fake.cfg_size;
		o.ops = &ops;
		o.dev = &s->fake;
		s->nq = s->fake.nq;
	}
	if (virtio_pci_create(&o, &s->vp)) {
		if (s->console)
			virtio_console_ops.destroy(o.dev);
		return -1;
	}
	s->pci = virtio_pci_dev(s->vp);
	cfg(s, PCI_COMMAND, 2, true, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct state s;
	struct event_loop *loop = fuzz_loop();
	struct fz f = fz_init(data, size);
	uint8_t dev = fz_u8(&f), behave = fz_u8(&f);

	memset(&s, 0, sizeof(s));
	if (fvq_ram_init(&s.d))
		return 0;
	if (setup(&s, dev, behave))
		goto out;
	while (fz_left(&f)) {
		uint8_t op = fz_u8(&f);
		bool wr = op & 8;
		uint32_t len = fz_width(op >> 4);

		switch (op & 7) {
		case 0:
			bar(&s, fz_u16(&f) % (VIRTIO_PCI_BAR_SIZE + 8), len, wr, fz_u64(&f));
			break;
		case 1: {
			unsigned i = fz_u8(&f) % (sizeof(fields) / sizeof(fields[0]));

			bar(&s, VIRTIO_PCI_COMMON_OFF + fields[i].off, fields[i].width, wr, fz_u64(&f));
			break;
		}
		case 2:
			bar(&s, VIRTIO_PCI_DEVICE_OFF + fz_u8(&f) % 40, len, wr, fz_u64(&f));
			break;
		case 3:
			bar(&s, VIRTIO_PCI_NOTIFY_OFF + VIRTIO_PCI_NOTIFY_MULT * (fz_u8(&f) % 10u), 2, true, 0);
			break;
		case 4:
			bar(&s, VIRTIO_PCI_ISR_OFF, 1, false, 0);
			break;
		case 5: {
			uint32_t reg = fz_u8(&f), clen = len == 8 ? 4 : len;

			cfg(&s, reg & ~(clen - 1), clen, wr, fz_u32(&f));
			break;
		}
		case 6:
			FUZZ_CHECK(event_loop_run_once(loop, false) >= 0);
			break;
		case 7: {
			uint8_t sub = fz_u8(&f);
			unsigned q = (sub >> 1) % s.nq;

			if (sub & 1)
				queue_setup(&s, q, fz_u16(&f));
			else if (q < FVQ_MAX_QUEUES)
				fvq_round(&s.d, q, &f);
			break;
		}
		}
	}
	virtio_pci_destroy(s.vp); /* resets an active device, destroys it */
	if (!s.console)
		FUZZ_CHECK(s.fake.destroys == 1 && !s.fake.active);
	fuzz_loop_settle(loop, false);
out:
	pci_bus_destroy(&s.pb);
	bus_destroy(&s.mmio);
	bus_destroy(&s.pio);
	fvq_ram_free(&s.d);
	return 0;
}
