// SPDX-License-Identifier: Apache-2.0
/* The virtio-pci transport driven like the Linux driver: capabilities, negotiation, queues, doorbells, interrupts. */
#define _GNU_SOURCE /* mkostemp */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/pci_regs.h>
#include <linux/virtio_config.h>
#include <linux/virtio_pci.h>
#include <linux/virtio_ring.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bus.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "event_loop.h"
#include "memory.h"
#include "disk.h"
#include "virtio/blk.h"
#include "virtio/pci.h"
#include "unit.h"

#define RAM_SIZE (1u << 20)
#define MMIO64_BASE (1ull << 32)
#define FAKE_ID 4 /* VIRTIO_ID_RNG: any ID will do */
#define FAKE_FEATURE (1ull << 5)
#define FAKE_QUEUES 2
#define FAKE_QMAX 64
#define CFG_SIZE 16
#define DESC_GPA 0x1000ull
#define AVAIL_GPA 0x2000ull
#define USED_GPA 0x3000ull
#define STATUS_UP (VIRTIO_CONFIG_S_ACKNOWLEDGE | VIRTIO_CONFIG_S_DRIVER)

/* --- The fake device: records what the transport asks of it. --- */
struct fake_dev {
	pthread_t test_thread;
	atomic_int activates, resets, destroys, notifies[FAKE_QUEUES], wrong_thread;
	int activate_ret;
	struct virtio_ctx ctx; /* a copy of what activate got */
	struct virtq vq0;      /* a copy of queue 0 at activation */
	uint8_t config[CFG_SIZE];
};

static uint64_t fake_features(void *dev)
{
	(void)dev;
	return FAKE_FEATURE;
}

static unsigned fake_num_queues(void *dev)
{
	(void)dev;
	return FAKE_QUEUES;
}

static void fake_config_read(void *dev, uint32_t off, void *data, uint32_t len)
{
	struct fake_dev *f = dev;

	ck_assert_uint_le(off + len, CFG_SIZE);
	memcpy(data, f->config + off, len);
}

static void fake_config_write(void *dev, uint32_t off, const void *data, uint32_t len)
{
	struct fake_dev *f = dev;

	ck_assert_uint_le(off + len, CFG_SIZE);
	memcpy(f->config + off, data, len);
}

static void check_thread(struct fake_dev *f)
{
	if (pthread_equal(pthread_self(), f->test_thread))
		f->wrong_thread++;
}

static int fake_activate(void *dev, const struct virtio_ctx *ctx)
{
	struct fake_dev *f = dev;

	check_thread(f);
	f->ctx = *ctx;
	if (ctx->nvq)
		f->vq0 = ctx->vq[0];
	f->activates++;
	return f->activate_ret;
}

static void fake_reset(void *dev)
{
	struct fake_dev *f = dev;

	check_thread(f);
	f->resets++;
}

static void fake_notify(void *dev, unsigned q)
{
	struct fake_dev *f = dev;

	check_thread(f);
	if (q < FAKE_QUEUES)
		f->notifies[q]++;
}

static void fake_destroy(void *dev)
{
	struct fake_dev *f = dev;

	f->destroys++;
}

static const struct virtio_device_ops fake_ops = {
	.name = "fake",
	.device_id = FAKE_ID,
	.pci_class = 0xff0000,
	.features = fake_features,
	.num_queues = fake_num_queues,
	.queue_max_size = FAKE_QMAX,
	.config_size = CFG_SIZE,
	.config_read = fake_config_read,
	.config_write = fake_config_write,
	.activate = fake_activate,
	.reset = fake_reset,
	.notify = fake_notify,
	.destroy = fake_destroy,
};

/* --- The rig: RAM, buses, a PCI bus, an event loop, fake IRQ and MSI delivery. --- */
struct rig {
	atomic_int device_errors; /* the VM's device_error callback */
	const struct virtio_device_ops *ops; /* &fake_ops, or a real device's */
	struct fake_dev dev;
	struct guest_mem mem;
	uint8_t *ram;
	struct bus pio, mmio;
	struct pci_bus pb;
	struct event_loop *loop;
	struct virtio_pci *vp;
	atomic_int irq_level[256], irq_changes;
	atomic_int fired[MSIX_MAX_VECTORS];
	unsigned slot;
	uint64_t bar;
	int cap[VIRTIO_PCI_CAP_PCI_CFG + 1]; /* vendor capability offset by cfg_type */
	int msix_cap;
};

static void fake_irq_set(void *opaque, unsigned gsi, int level)
{
	struct rig *r = opaque;

	if (gsi < 256)
		r->irq_level[gsi] = level;
	r->irq_changes++;
}

static int fake_msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
	(void)opaque;
	(void)vec;
	(void)addr;
	(void)data;
	return 0;
}

static void fake_msi_fire(void *opaque, unsigned vec)
{
	struct rig *r = opaque;

	if (vec < MSIX_MAX_VECTORS)
		r->fired[vec]++;
}

static const struct msi_ops fake_msi = { .update = fake_msi_update, .fire = fake_msi_fire };

static uint32_t cfg_rd(struct rig *r, uint32_t off, uint32_t len)
{
	uint32_t v = 0;

	ck_assert(bus_dispatch(&r->mmio, PCI_ECAM_BASE + ((uint64_t)r->slot << 15) + off, &v, len, false));
	return le32toh(v);
}

static void cfg_wr(struct rig *r, uint32_t off, uint32_t len, uint32_t v)
{
	v = htole32(v);
	ck_assert(bus_dispatch(&r->mmio, PCI_ECAM_BASE + ((uint64_t)r->slot << 15) + off, &v, len, true));
}

static uint64_t rd(struct rig *r, uint64_t off, uint32_t len)
{
	uint64_t v = 0;

	ck_assert(bus_dispatch(&r->mmio, r->bar + off, &v, len, false));
	return le64toh(v);
}

static void wr(struct rig *r, uint64_t off, uint32_t len, uint64_t v)
{
	v = htole64(v);
	ck_assert(bus_dispatch(&r->mmio, r->bar + off, &v, len, true));
}

/* Where the vendor capability of a type points (BAR offset). */
static uint32_t cap_off(struct rig *r, int type)
{
	ck_assert_int_gt(r->cap[type], 0);
	return cfg_rd(r, (uint32_t)r->cap[type] + VIRTIO_PCI_CAP_OFFSET, 4);
}

#define COMMON(r, f) (cap_off((r), VIRTIO_PCI_CAP_COMMON_CFG) + (f))

/* Find the function, walk its capabilities, enable memory decoding and read the BAR, as Linux does. */
static void discover(struct rig *r)
{
	unsigned at, n = 0;

	for (r->slot = 0; r->slot < PCI_SLOTS; r->slot++)
		if (cfg_rd(r, PCI_VENDOR_ID, 2) == 0x1af4 && cfg_rd(r, PCI_DEVICE_ID, 2) == 0x1040u + r->ops->device_id)
			break;
	ck_assert_uint_lt(r->slot, PCI_SLOTS);
	ck_assert(cfg_rd(r, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	memset(r->cap, 0, sizeof(r->cap));
	r->msix_cap = 0;
	for (at = cfg_rd(r, PCI_CAPABILITY_LIST, 1) & ~3u; at && n < 48; at = cfg_rd(r, at + 1, 1) & ~3u, n++) {
		unsigned id = cfg_rd(r, at, 1);

		if (id == PCI_CAP_ID_MSIX)
			r->msix_cap = (int)at;
		if (id == PCI_CAP_ID_VNDR) {
			unsigned type = cfg_rd(r, at + VIRTIO_PCI_CAP_CFG_TYPE, 1);

			ck_assert_uint_le(type, VIRTIO_PCI_CAP_PCI_CFG);
			ck_assert_int_eq(r->cap[type], 0);
			r->cap[type] = (int)at;
		}
	}
	ck_assert_int_gt(r->msix_cap, 0);
	cfg_wr(r, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	r->bar = (cfg_rd(r, PCI_BASE_ADDRESS_0, 4) & ~0xfull) | (uint64_t)cfg_rd(r, PCI_BASE_ADDRESS_1, 4) << 32;
	ck_assert_uint_ge(r->bar, MMIO64_BASE);
}

static void count_device_error(void *opaque)
{
	struct rig *r = opaque;

	atomic_fetch_add(&r->device_errors, 1);
}

/*
 * The rig around device dev (ops), its transport logging to log. start: run the I/O thread and
 * find the function as a driver does; else the function is as set-up leaves it (for a restore).
 */
static void rig_open(struct rig *r, const struct virtio_device_ops *ops, void *dev, const struct vlog *log,
		     bool start)
{
	struct virtio_pci_opts o;

	r->ops = ops;
	r->ram = calloc(1, RAM_SIZE);
	ck_assert_ptr_nonnull(r->ram);
	ck_assert_int_eq(gmem_add_region(&r->mem, 0, RAM_SIZE, r->ram), 0);
	bus_init(&r->pio);
	bus_init(&r->mmio);
	ck_assert_int_eq(pci_bus_init(&r->pb, &r->pio, &r->mmio, MMIO64_BASE, fake_irq_set, r, NULL), 0);
	ck_assert_int_eq(event_loop_create(64, NULL, &r->loop), 0);
	if (start)
		ck_assert_int_eq(event_loop_start(r->loop), 0);
	o = (struct virtio_pci_opts){
		.ops = ops, .dev = dev, .mem = &r->mem, .loop = r->loop, .bus = &r->pb, .vm_fd = -1,
		.msi_ops = &fake_msi, .msi_opaque = r, .log = log,
		.device_error = count_device_error, .error_opaque = r,
	};
	ck_assert_int_eq(virtio_pci_create(&o, &r->vp), 0);
	if (start)
		discover(r);
}

static void rig_start(struct rig *r, const struct virtio_device_ops *ops, void *dev, const struct vlog *log)
{
	rig_open(r, ops, dev, log, true);
}

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->dev.test_thread = pthread_self();
	for (int i = 0; i < CFG_SIZE; i++)
		r->dev.config[i] = (uint8_t)(0xa0 + i);
	rig_start(r, &fake_ops, &r->dev, NULL);
}

static void rig_fini(struct rig *r)
{
	virtio_pci_destroy(r->vp); /* with the loop running: its reset runs on the I/O thread */
	if (r->ops == &fake_ops) {
		ck_assert_int_eq(r->dev.destroys, 1);
		ck_assert_int_eq(r->dev.wrong_thread, 0);
	}
	event_loop_stop(r->loop);
	event_loop_destroy(r->loop);
	pci_bus_destroy(&r->pb);
	bus_destroy(&r->mmio);
	bus_destroy(&r->pio);
	free(r->ram);
}

/* Wait (up to 2 s) for *counter to reach want. */
static bool wait_for(atomic_int *counter, int want)
{
	for (int i = 0; i < 2000; i++) {
		if (*counter >= want)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return *counter >= want;
}

static uint8_t status(struct rig *r)
{
	return (uint8_t)rd(r, COMMON(r, VIRTIO_PCI_COMMON_STATUS), 1);
}

static void set_status(struct rig *r, uint8_t s)
{
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_STATUS), 1, s);
}

static uint64_t device_features(struct rig *r)
{
	uint64_t f;

	wr(r, COMMON(r, VIRTIO_PCI_COMMON_DFSELECT), 4, 0);
	f = rd(r, COMMON(r, VIRTIO_PCI_COMMON_DF), 4);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_DFSELECT), 4, 1);
	return f | rd(r, COMMON(r, VIRTIO_PCI_COMMON_DF), 4) << 32;
}

static void driver_features(struct rig *r, uint64_t f)
{
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_GF), 4, (uint32_t)f);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_GF), 4, f >> 32);
}

/* Reset, acknowledge, negotiate f; returns whether FEATURES_OK stuck. */
static bool negotiate(struct rig *r, uint64_t f)
{
	set_status(r, 0);
	ck_assert_uint_eq(status(r), 0);
	set_status(r, VIRTIO_CONFIG_S_ACKNOWLEDGE);
	set_status(r, STATUS_UP);
	driver_features(r, f & device_features(r));
	set_status(r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK);
	return status(r) & VIRTIO_CONFIG_S_FEATURES_OK;
}

static void setup_queue(struct rig *r, uint16_t q, uint16_t size, uint64_t desc, uint64_t avail, uint64_t used,
			uint16_t vec)
{
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SELECT), 2, q);
	ck_assert_uint_eq(rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SIZE), 2), r->ops->queue_max_size);
	ck_assert_uint_eq(rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_NOFF), 2), q);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SIZE), 2, size);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_DESCLO), 4, (uint32_t)desc);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_DESCHI), 4, desc >> 32);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_AVAILLO), 4, (uint32_t)avail);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_AVAILHI), 4, avail >> 32);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_USEDLO), 4, (uint32_t)used);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_USEDHI), 4, used >> 32);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_MSIX), 2, vec);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
}

#define GOOD_FEATURES ((1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) | FAKE_FEATURE)

/* The whole bring-up of queue 0 (size 8, vector 1; config vector 0). */
static void bring_up(struct rig *r)
{
	ck_assert(negotiate(r, GOOD_FEATURES));
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_MSIX), 2, 0);
	ck_assert_uint_eq(rd(r, COMMON(r, VIRTIO_PCI_COMMON_MSIX), 2), 0);
	setup_queue(r, 0, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 1);
	ck_assert_uint_eq(rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_MSIX), 2), 1);
	set_status(r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
}

/* Enable MSI-X and unmask vectors 0..n-1. */
static void enable_msix(struct rig *r, unsigned n)
{
	uint32_t table = cfg_rd(r, (uint32_t)r->msix_cap + PCI_MSIX_TABLE, 4);

	ck_assert_uint_eq(table & PCI_MSIX_TABLE_BIR, 0);
	table &= PCI_MSIX_TABLE_OFFSET;
	for (unsigned v = 0; v < n; v++) {
		wr(r, table + 16 * v + PCI_MSIX_ENTRY_LOWER_ADDR, 4, 0xfee00000);
		wr(r, table + 16 * v + PCI_MSIX_ENTRY_UPPER_ADDR, 4, 0);
		wr(r, table + 16 * v + PCI_MSIX_ENTRY_DATA, 4, 0x40 + v);
		wr(r, table + 16 * v + PCI_MSIX_ENTRY_VECTOR_CTRL, 4, 0);
	}
	cfg_wr(r, (uint32_t)r->msix_cap + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE);
}

START_TEST(identity_and_capabilities)
{
	struct rig r;
	uint32_t notify = 0;

	rig_init(&r);
	ck_assert_uint_eq(cfg_rd(&r, PCI_REVISION_ID, 1), 1);
	ck_assert_uint_eq(cfg_rd(&r, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	ck_assert_uint_ge(cfg_rd(&r, PCI_SUBSYSTEM_ID, 2), 0x40);
	ck_assert_uint_eq(cfg_rd(&r, PCI_CLASS_REVISION, 4) >> 8, 0xff0000);
	ck_assert_uint_eq(cfg_rd(&r, PCI_BASE_ADDRESS_0, 4) & PCI_BASE_ADDRESS_MEM_TYPE_MASK,
			  PCI_BASE_ADDRESS_MEM_TYPE_64);
	for (int type = VIRTIO_PCI_CAP_COMMON_CFG; type <= VIRTIO_PCI_CAP_PCI_CFG; type++) {
		ck_assert_int_gt(r.cap[type], 0);
		ck_assert_uint_eq(cfg_rd(&r, (uint32_t)r.cap[type] + VIRTIO_PCI_CAP_BAR, 1), 0);
	}
	ck_assert_uint_eq(cap_off(&r, VIRTIO_PCI_CAP_COMMON_CFG), 0);
	ck_assert_uint_ge(cfg_rd(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_COMMON_CFG] + VIRTIO_PCI_CAP_LENGTH, 4),
			  sizeof(struct virtio_pci_common_cfg));
	ck_assert_uint_eq(cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 0x1000);
	ck_assert_uint_eq(cap_off(&r, VIRTIO_PCI_CAP_DEVICE_CFG), 0x2000);
	ck_assert_uint_eq(cfg_rd(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_DEVICE_CFG] + VIRTIO_PCI_CAP_LENGTH, 4), CFG_SIZE);
	notify = cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG);
	ck_assert_uint_eq(notify, 0x3000);
	ck_assert_uint_ge(cfg_rd(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_NOTIFY_CFG] + VIRTIO_PCI_CAP_LENGTH, 4),
			  4 * (FAKE_QUEUES - 1) + 2);
	ck_assert_uint_eq(cfg_rd(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_NOTIFY_CFG] + VIRTIO_PCI_NOTIFY_CAP_MULT, 4), 4);
	/* MSI-X: one vector per queue and one for configuration changes, table and PBA past the doorbells. */
	ck_assert_uint_eq((cfg_rd(&r, (uint32_t)r.msix_cap + PCI_MSIX_FLAGS, 2) & PCI_MSIX_FLAGS_QSIZE) + 1,
			  FAKE_QUEUES + 1);
	ck_assert_uint_ge(cfg_rd(&r, (uint32_t)r.msix_cap + PCI_MSIX_TABLE, 4) & PCI_MSIX_TABLE_OFFSET,
			  notify + 4 * FAKE_QUEUES);
	/* The PCI configuration access window is harmless: writable, reaching nothing. */
	cfg_wr(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_PCI_CFG] + VIRTIO_PCI_CAP_OFFSET, 4, 0x14);
	cfg_wr(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_PCI_CFG] + VIRTIO_PCI_CAP_LENGTH, 4, 1);
	cfg_wr(&r, (uint32_t)r.cap[VIRTIO_PCI_CAP_PCI_CFG] + 16, 1, 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_STATUS), 1), 0);
	/* Initial state. */
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_NUMQ), 2), FAKE_QUEUES);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	rig_fini(&r);
}
END_TEST

START_TEST(negotiate_activate_notify)
{
	struct rig r;
	int before;

	rig_init(&r);
	ck_assert_uint_eq(device_features(&r), (1ull << VIRTIO_F_VERSION_1) | (1ull << VIRTIO_RING_F_EVENT_IDX) |
						     (1ull << VIRTIO_RING_F_INDIRECT_DESC) | FAKE_FEATURE);
	/* Only offered bits are accepted. */
	set_status(&r, STATUS_UP);
	driver_features(&r, ~0ull);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_GF), 4), 1u << (VIRTIO_F_VERSION_1 - 32));
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_GFSELECT), 4, 7);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_GF), 4), 0);

	bring_up(&r);
	ck_assert_uint_eq(status(&r), STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_int_eq(r.dev.activates, 1);
	ck_assert_int_eq(r.dev.resets, 1); /* the negotiate() reset after STATUS_UP above */
	ck_assert_uint_eq(r.dev.ctx.features, GOOD_FEATURES);
	ck_assert_uint_eq(r.dev.ctx.nvq, FAKE_QUEUES);
	ck_assert_ptr_eq(r.dev.ctx.mem, &r.mem);
	ck_assert_ptr_eq(r.dev.ctx.loop, r.loop);
	ck_assert_ptr_nonnull(r.dev.ctx.interrupt);
	ck_assert_ptr_nonnull(r.dev.ctx.needs_reset);
	ck_assert_ptr_nonnull(r.dev.ctx.config_changed);
	ck_assert_uint_eq(r.dev.vq0.size, 8);
	ck_assert(r.dev.vq0.event_idx);
	ck_assert(!r.dev.vq0.broken);
	ck_assert_ptr_eq(r.dev.vq0.desc, r.ram + DESC_GPA);
	ck_assert_ptr_eq(r.dev.vq0.avail, (void *)(r.ram + AVAIL_GPA));
	ck_assert_ptr_eq(r.dev.vq0.used, (void *)(r.ram + USED_GPA));
	ck_assert_uint_eq(r.dev.ctx.vq[1].size, 0); /* queue 1 was not enabled */

	/* Queue registers are frozen after DRIVER_OK. */
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT), 2, 0);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2, 4);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_DESCLO), 4, 0x9000);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), 8);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_DESCLO), 8), DESC_GPA);
	/* A second DRIVER_OK write does not activate again. */
	set_status(&r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_int_eq(r.dev.activates, 1);

	/* The doorbell (queue 0 at notify + 0, 16-bit as Linux writes it) reaches notify(0) on the I/O thread. */
	ck_assert(wait_for(&r.dev.notifies[0], 1)); /* the look after activation */
	before = r.dev.notifies[0];
	wr(&r, cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG), 2, 0);
	ck_assert(wait_for(&r.dev.notifies[0], before + 1));
	/* Queue 1 is not enabled: its doorbell is dropped; a doorbell past the last queue is ignored. */
	wr(&r, cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG) + 4, 2, 1);
	wr(&r, cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG) + 4 * FAKE_QUEUES, 2, 2);
	wr(&r, cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG), 2, 0);
	ck_assert(wait_for(&r.dev.notifies[0], before + 2));
	ck_assert_int_eq(r.dev.notifies[1], 0);
	rig_fini(&r);
}
END_TEST

START_TEST(msix_interrupts)
{
	struct rig r;
	uint8_t gen;

	rig_init(&r);
	bring_up(&r);
	ck_assert_int_eq(r.dev.activates, 1);
	enable_msix(&r, FAKE_QUEUES + 1);
	r.dev.ctx.interrupt(r.dev.ctx.irq_opaque, 0);
	ck_assert_int_eq(r.fired[1], 1);
	ck_assert_int_eq(r.irq_changes, 0);
	gen = (uint8_t)rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_CFGGENERATION), 1);
	r.dev.ctx.config_changed(r.dev.ctx.irq_opaque);
	ck_assert_int_eq(r.fired[0], 1);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_CFGGENERATION), 1), (uint8_t)(gen + 1));
	/* Out-of-range queue: nothing. */
	r.dev.ctx.interrupt(r.dev.ctx.irq_opaque, 99);
	ck_assert_int_eq(r.fired[1], 1);
	ck_assert_int_eq(r.irq_changes, 0);
	/* A vector beyond the table reads back NO_VECTOR (before DRIVER_OK: reset first). */
	set_status(&r, 0);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_MSIX), 2, FAKE_QUEUES + 1);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_MSIX), 2, 500);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	rig_fini(&r);
}
END_TEST

START_TEST(intx_interrupts)
{
	struct rig r;
	unsigned gsi;

	rig_init(&r);
	gsi = pci_intx_gsi(r.slot, 0);
	bring_up(&r);
	r.dev.ctx.interrupt(r.dev.ctx.irq_opaque, 0);
	ck_assert_int_eq(r.irq_level[gsi], 1);
	ck_assert(cfg_rd(&r, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
	ck_assert_uint_eq(rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1), 1);
	ck_assert_int_eq(r.irq_level[gsi], 0); /* the read cleared the ISR and deasserted */
	ck_assert_uint_eq(rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1), 0);
	r.dev.ctx.config_changed(r.dev.ctx.irq_opaque);
	ck_assert_int_eq(r.irq_level[gsi], 1);
	r.dev.ctx.interrupt(r.dev.ctx.irq_opaque, 0);
	ck_assert_uint_eq(rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1), 3);
	ck_assert_int_eq(r.irq_level[gsi], 0);
	ck_assert_int_eq(r.fired[0] + r.fired[1], 0);
	/* MSI-X enabled: no INTx. */
	enable_msix(&r, FAKE_QUEUES + 1);
	r.dev.ctx.interrupt(r.dev.ctx.irq_opaque, 0);
	ck_assert_int_eq(r.irq_level[gsi], 0);
	ck_assert_int_eq(r.fired[1], 1);
	rig_fini(&r);
}
END_TEST

START_TEST(device_config_bounds)
{
	struct rig r;
	uint32_t dev;

	rig_init(&r);
	dev = cap_off(&r, VIRTIO_PCI_CAP_DEVICE_CFG);
	ck_assert_uint_eq(rd(&r, dev, 4), 0xa3a2a1a0);
	ck_assert_uint_eq(rd(&r, dev + 12, 4), 0xafaeadac);
	ck_assert_uint_eq(rd(&r, dev + 8, 8), 0xafaeadacabaaa9a8ull);
	ck_assert_uint_eq(rd(&r, dev + 15, 1), 0xaf);
	ck_assert_uint_eq(rd(&r, dev + 14, 4), 0); /* runs past config_size */
	ck_assert_uint_eq(rd(&r, dev + 16, 1), 0);
	ck_assert_uint_eq(rd(&r, dev + 0xff8, 8), 0);
	wr(&r, dev + 13, 4, 0x11111111);
	wr(&r, dev + 16, 4, 0x11111111);
	ck_assert_uint_eq(rd(&r, dev + 12, 4), 0xafaeadac);
	wr(&r, dev + 4, 2, 0x5566);
	ck_assert_uint_eq(r.dev.config[4], 0x66);
	ck_assert_uint_eq(r.dev.config[5], 0x55);
	rig_fini(&r);
}
END_TEST

START_TEST(queue_select_out_of_range)
{
	struct rig r;

	rig_init(&r);
	set_status(&r, STATUS_UP);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT), 2, FAKE_QUEUES);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT), 2), FAKE_QUEUES);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2, 4);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_ENABLE), 2, 1);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_DESCLO), 4, 0x1000);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_DESCLO), 4), 0);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT), 2, 0xffff);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), 0);
	/* Queue 1 is untouched; a size that is not a power of two, or too big, is refused. */
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT), 2, 1);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), FAKE_QMAX);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2, 12);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), FAKE_QMAX);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2, 2 * FAKE_QMAX);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), FAKE_QMAX);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2, 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), FAKE_QMAX);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2, 16);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), 16);
	/* A whole 64-bit address in one access, and its halves. */
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_AVAILLO), 8, 0x1234567800002000ull);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_AVAILHI), 4), 0x12345678);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_AVAILLO), 4), 0x2000);
	rig_fini(&r);
}
END_TEST

START_TEST(features_without_version_1)
{
	struct rig r;

	rig_init(&r);
	ck_assert(!negotiate(&r, FAKE_FEATURE | (1ull << VIRTIO_RING_F_EVENT_IDX)));
	ck_assert_uint_eq(status(&r), STATUS_UP);
	/* DRIVER_OK without FEATURES_OK does nothing. */
	setup_queue(&r, 0, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 1);
	set_status(&r, STATUS_UP | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert_int_eq(r.dev.activates, 0);
	ck_assert(!(status(&r) & VIRTIO_CONFIG_S_DRIVER_OK));
	/* Features are frozen once FEATURES_OK stuck. */
	ck_assert(negotiate(&r, GOOD_FEATURES));
	driver_features(&r, 1ull << VIRTIO_F_VERSION_1);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_GF), 4), (uint32_t)GOOD_FEATURES);
	rig_fini(&r);
}
END_TEST

START_TEST(rings_outside_ram)
{
	struct rig r;

	rig_init(&r);
	ck_assert(negotiate(&r, GOOD_FEATURES));
	setup_queue(&r, 0, 8, RAM_SIZE - 16, AVAIL_GPA, USED_GPA, 1); /* the descriptor table runs off RAM */
	set_status(&r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert(status(&r) & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_int_eq(r.dev.activates, 0);
	ck_assert_int_eq(atomic_load(&r.device_errors), 1); /* the VM hears of it */
	ck_assert_uint_eq(rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1), 2); /* a configuration interrupt */
	/* Misaligned and wrapping rings are refused too. */
	ck_assert(negotiate(&r, GOOD_FEATURES));
	setup_queue(&r, 0, 8, DESC_GPA + 8, AVAIL_GPA, USED_GPA, 1);
	set_status(&r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert(status(&r) & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert(negotiate(&r, GOOD_FEATURES));
	setup_queue(&r, 1, 8, DESC_GPA, AVAIL_GPA, UINT64_MAX - 15, 1);
	set_status(&r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert(status(&r) & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_int_eq(r.dev.activates, 0);
	/* A device that fails activation: NEEDS_RESET too. */
	r.dev.activate_ret = -EINVAL;
	bring_up(&r);
	ck_assert_int_eq(r.dev.activates, 1);
	ck_assert(status(&r) & VIRTIO_CONFIG_S_NEEDS_RESET);
	/* The device reporting a broken queue. */
	r.dev.activate_ret = 0;
	bring_up(&r);
	ck_assert_int_eq(r.dev.activates, 2);
	ck_assert(!(status(&r) & VIRTIO_CONFIG_S_NEEDS_RESET));
	rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1);
	r.dev.ctx.needs_reset(r.dev.ctx.irq_opaque);
	ck_assert(status(&r) & VIRTIO_CONFIG_S_NEEDS_RESET);
	ck_assert_int_eq(atomic_load(&r.device_errors), 5); /* 3 bad rings, a failed activation, this */
	ck_assert_uint_eq(rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1), 2);
	rig_fini(&r);
}
END_TEST

START_TEST(reset_restores_initial_state)
{
	struct rig r;
	int notified, resets;

	rig_init(&r);
	bring_up(&r);
	ck_assert(wait_for(&r.dev.notifies[0], 1));
	resets = r.dev.resets;
	r.dev.ctx.interrupt(r.dev.ctx.irq_opaque, 0); /* INTx asserted */
	set_status(&r, 0);
	ck_assert_int_eq(r.dev.resets, resets + 1);
	ck_assert_uint_eq(status(&r), 0);
	ck_assert_int_eq(r.irq_level[pci_intx_gsi(r.slot, 0)], 0);
	ck_assert_uint_eq(rd(&r, cap_off(&r, VIRTIO_PCI_CAP_ISR_CFG), 1), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SIZE), 2), FAKE_QMAX);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_ENABLE), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_DESCLO), 8), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_USEDLO), 8), 0);
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_GF), 4), 0);
	/* A second reset of a reset device does not bother it; a doorbell now reaches nobody. */
	set_status(&r, 0);
	ck_assert_int_eq(r.dev.resets, resets + 1);
	notified = r.dev.notifies[0];
	wr(&r, cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG), 2, 0);
	nanosleep(&(struct timespec){ .tv_nsec = 50000000 }, NULL);
	ck_assert_int_eq(r.dev.notifies[0], notified);
	/* And it comes up again. */
	bring_up(&r);
	ck_assert_int_eq(r.dev.activates, 2);
	rig_fini(&r);
}
END_TEST

START_TEST(hostile_accesses)
{
	static const uint32_t lens[] = { 1, 2, 3, 4, 5, 8 };
	struct rig r;
	uint64_t v;

	rig_init(&r);
	bring_up(&r);
	/* Wrong widths at the common configuration are ignored (and read 0). */
	wr(&r, COMMON(&r, VIRTIO_PCI_COMMON_STATUS), 4, 0);
	ck_assert_uint_ne(status(&r), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_STATUS), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_Q_SELECT + 1), 1), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, VIRTIO_PCI_COMMON_DF + 2), 2), 0);
	ck_assert_uint_eq(rd(&r, COMMON(&r, 0x200), 4), 0);
	/* Every offset, width and value through the whole BAR, reads and writes: nothing crashes. */
	srand(1);
	for (uint64_t off = 0; off < VIRTIO_PCI_BAR_SIZE; off++) {
		for (unsigned i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
			uint32_t len = lens[i];

			if (off + len > VIRTIO_PCI_BAR_SIZE)
				continue;
			v = 0;
			bus_dispatch(&r.mmio, r.bar + off, &v, len, false);
			v = ((uint64_t)rand() << 32) | (uint64_t)rand();
			bus_dispatch(&r.mmio, r.bar + off, &v, len, true);
		}
	}
	/* Still a working transport. */
	bring_up(&r);
	ck_assert(status(&r) & VIRTIO_CONFIG_S_DRIVER_OK);
	rig_fini(&r);
}
END_TEST

/* vm.c's teardown order: the loop stops first (in-flight I/O drained), then the transport resets the device inline. */
START_TEST(destroy_after_loop_stop)
{
	struct rig r;
	int resets;

	rig_init(&r);
	bring_up(&r);
	ck_assert_int_eq(r.dev.activates, 1);
	resets = r.dev.resets;
	event_loop_stop(r.loop);
	virtio_pci_destroy(r.vp);
	ck_assert_int_eq(r.dev.resets, resets + 1);
	ck_assert_int_eq(r.dev.destroys, 1);
	event_loop_destroy(r.loop);
	pci_bus_destroy(&r.pb);
	bus_destroy(&r.mmio);
	bus_destroy(&r.pio);
	free(r.ram);
}
END_TEST

START_TEST(create_rejects_bad_devices)
{
	struct rig r;
	struct virtio_device_ops ops = fake_ops;
	struct virtio_pci *vp = NULL;
	struct virtio_pci_opts o;

	rig_init(&r);
	o = (struct virtio_pci_opts){
		.ops = &ops, .dev = &r.dev, .mem = &r.mem, .loop = r.loop, .bus = &r.pb, .vm_fd = -1,
		.msi_ops = &fake_msi, .msi_opaque = &r,
	};
	ops.queue_max_size = 48;
	ck_assert_int_eq(virtio_pci_create(&o, &vp), -EINVAL);
	ops.queue_max_size = 2048;
	ck_assert_int_eq(virtio_pci_create(&o, &vp), -EINVAL);
	ops = fake_ops;
	ops.config_read = NULL;
	ck_assert_int_eq(virtio_pci_create(&o, &vp), -EINVAL);
	ck_assert_ptr_null(vp);
	ck_assert_int_eq(r.dev.destroys, 0);
	rig_fini(&r);
}
END_TEST

static atomic_int log_lines;

static void count_line(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level, (void)msg;
	atomic_fetch_add(&log_lines, 1);
}

/* Wait (up to 2 s) for the device to report DEVICE_NEEDS_RESET. */
static bool wait_needs_reset(struct rig *r)
{
	for (int i = 0; i < 2000; i++) {
		if (status(r) & VIRTIO_CONFIG_S_NEEDS_RESET)
			return true;
		nanosleep(&(struct timespec){ .tv_nsec = 1000000 }, NULL);
	}
	return false;
}

/*
 * Issue 18: a guest looping reset, queue enable, a bad avail index, doorbell, against a real
 * virtio-blk, gets a bounded number of log lines and of device-error events, not one per loop.
 */
START_TEST(break_loop_is_rationed)
{
	static const struct vlog counting = { .fn = count_line, .level = VMM_LOG_DEBUG };
	char path[] = "/tmp/vmm-test-vpci-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);
	struct disk *disk;
	struct rig r;
	void *blk;
	int lines, errors;

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	ck_assert_int_eq(disk_open(path, false, false, &counting, &disk), 0);
	ck_assert_int_eq(virtio_blk_create(disk, NULL, &counting, &blk), 0);
	memset(&r, 0, sizeof(r));
	rig_start(&r, &virtio_blk_ops, blk, &counting);
	atomic_store(&log_lines, 0);
	for (int i = 0; i < 1000; i++) {
		ck_assert(negotiate(&r, GOOD_FEATURES)); /* starts with a reset */
		setup_queue(&r, 0, 8, DESC_GPA, AVAIL_GPA, USED_GPA, 1);
		set_status(&r, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
		ck_assert(status(&r) & VIRTIO_CONFIG_S_DRIVER_OK);
		/* An avail index more than the queue size ahead, then the doorbell. */
		__atomic_store_n((uint16_t *)(r.ram + AVAIL_GPA + 2), htole16(8 + 5), __ATOMIC_RELEASE);
		wr(&r, cap_off(&r, VIRTIO_PCI_CAP_NOTIFY_CFG), 2, 0);
		ck_assert_msg(wait_needs_reset(&r), "loop %d: no DEVICE_NEEDS_RESET", i);
		memset(r.ram + AVAIL_GPA, 0, 4);
	}
	lines = atomic_load(&log_lines);
	errors = atomic_load(&r.device_errors);
	ck_assert_int_ge(errors, 1); /* the VM hears of it, */
	ck_assert_int_le(errors, VLOG_GUEST_BUDGET); /* but not 1000 times */
	ck_assert_int_ge(lines, 1);
	ck_assert_int_le(lines, 2 * VLOG_GUEST_BUDGET + 1); /* the device's ration, the transport's, "no more" */
	rig_fini(&r);
	disk_close(disk);
	unlink(path);
}
END_TEST

/* --- Snapshot and restore --- */

struct save_call {
	struct virtio_pci *vp;
	struct sbuf *out;
	int ret;
	unsigned inflight;
};

static void save_fn(void *arg)
{
	struct save_call *c = arg;

	c->inflight = virtio_pci_device_ops.inflight(c->vp);
	c->ret = virtio_pci_device_ops.save(c->vp, c->out);
}

/* Save the function as a snapshot does: on its I/O thread (or inline when the loop is not running). */
static void snap(struct rig *r, struct sbuf *out)
{
	struct save_call c = { .vp = r->vp, .out = out };

	sbuf_init(out);
	event_loop_call(r->loop, save_fn, &c);
	ck_assert_int_eq(c.inflight, 0);
	ck_assert_int_eq(c.ret, 0);
	ck_assert(!out->oom);
}

static int restore_bytes(struct rig *r, const void *p, size_t n)
{
	struct sreader in;

	sreader_init(&in, p, n);
	return virtio_pci_device_ops.restore(r->vp, &in);
}

/* A fresh fake-device rig, not started, as set-up leaves a VM to be restored. */
static void rig_fresh(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	/* No test_thread: a restore runs the device's I/O-thread calls inline, before the loop starts. */
	for (int i = 0; i < CFG_SIZE; i++)
		r->dev.config[i] = (uint8_t)(0xa0 + i);
	rig_open(r, &fake_ops, &r->dev, NULL, false);
}

/* I/O thread: the driver posted three chains on queue 0; the "device" takes and completes them. */
static void serve_three(void *arg)
{
	struct rig *r = arg;
	struct virtq *q = &r->dev.ctx.vq[0];
	struct virtq_chain c;
	struct iovec iov[4];

	for (int i = 0; i < 3; i++) {
		ck_assert_int_eq(virtq_pop(q, &c, iov, 4), 1);
		virtq_push(q, c.head, 16);
	}
	ck_assert(virtq_should_interrupt(q));
}

/* The original: queue 0 live with three chains served, MSI-X on, an interrupt sent. */
static void rig_live(struct rig *r)
{
	struct vring_desc *d;

	rig_init(r);
	d = (struct vring_desc *)(r->ram + DESC_GPA);
	d[0] = (struct vring_desc){ .addr = htole64(0x5000), .len = htole32(16), .flags = htole16(VRING_DESC_F_WRITE) };
	bring_up(r);
	enable_msix(r, FAKE_QUEUES + 1);
	ck_assert_int_eq(r->dev.activates, 1);
	for (int i = 0; i < 3; i++)
		((struct vring_avail *)(r->ram + AVAIL_GPA))->ring[i] = 0;
	__atomic_store_n(&((struct vring_avail *)(r->ram + AVAIL_GPA))->idx, htole16(3), __ATOMIC_RELEASE);
	ck_assert_int_eq(event_loop_call(r->loop, serve_three, r), 0);
	r->dev.ctx.interrupt(r->dev.ctx.irq_opaque, 0);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SELECT), 2, 1); /* leave a non-zero select behind */
}

/* What a driver reads: the common configuration, queue registers and the device configuration. */
static void read_regs(struct rig *r, uint64_t *v, unsigned n)
{
	static const uint32_t offs[] = { VIRTIO_PCI_COMMON_STATUS, VIRTIO_PCI_COMMON_MSIX, VIRTIO_PCI_COMMON_Q_SELECT };
	unsigned k = 0;

	for (unsigned i = 0; i < 3; i++)
		v[k++] = rd(r, COMMON(r, offs[i]), offs[i] == VIRTIO_PCI_COMMON_STATUS ? 1 : 2);
	for (uint16_t q = 0; q < FAKE_QUEUES; q++) {
		wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SELECT), 2, q);
		v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SIZE), 2);
		v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_MSIX), 2);
		v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_ENABLE), 2);
		v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_DESCLO), 8);
		v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_AVAILLO), 8);
		v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_Q_USEDLO), 8);
	}
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_Q_SELECT), 2, (uint16_t)v[2]);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_GFSELECT), 4, 0);
	v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_GF), 4);
	wr(r, COMMON(r, VIRTIO_PCI_COMMON_GFSELECT), 4, 1);
	v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_GF), 4);
	v[k++] = rd(r, COMMON(r, VIRTIO_PCI_COMMON_CFGGENERATION), 1);
	for (uint32_t off = 0; off < CFG_SIZE; off += 4)
		v[k++] = rd(r, VIRTIO_PCI_DEVICE_OFF + off, 4);
	ck_assert_uint_le(k, n);
}

#define NREGS 40

START_TEST(snapshot_round_trip)
{
	struct rig a, b;
	struct sbuf sa, sb;
	uint64_t ra[NREGS] = { 0 }, rb[NREGS] = { 0 };

	rig_live(&a);
	snap(&a, &sa);
	rig_fresh(&b);
	memcpy(b.ram, a.ram, RAM_SIZE); /* the memory file */
	ck_assert_int_eq(restore_bytes(&b, sa.data, sa.len), 0);
	/* Re-activated inline, from the saved positions, before the I/O thread runs. */
	ck_assert_int_eq(b.dev.activates, 1);
	ck_assert_uint_eq(b.dev.vq0.size, 8);
	ck_assert_uint_eq(b.dev.vq0.last_avail, 3);
	ck_assert_uint_eq(b.dev.vq0.used_idx, 3);
	ck_assert_ptr_eq(b.dev.vq0.desc, b.ram + DESC_GPA);
	ck_assert_uint_eq(b.dev.ctx.features, GOOD_FEATURES);
	ck_assert_int_eq(b.dev.notifies[0], 0);
	ck_assert_int_eq(event_loop_start(b.loop), 0);
	discover(&b);
	ck_assert_uint_eq(b.bar, a.bar);
	/* The first turn serves the enabled queue once and interrupts once (MSI-X vector 1). */
	ck_assert(wait_for(&b.dev.notifies[0], 1));
	ck_assert(wait_for(&b.fired[1], 1));
	ck_assert_int_eq(b.dev.notifies[1], 0);
	read_regs(&a, ra, NREGS);
	read_regs(&b, rb, NREGS);
	ck_assert_mem_eq(ra, rb, sizeof(ra));
	/* The guest goes on: a chain posted now is served at used index 3. */
	((struct vring_avail *)(b.ram + AVAIL_GPA))->ring[3] = 0;
	__atomic_store_n(&((struct vring_avail *)(b.ram + AVAIL_GPA))->idx, htole16(4), __ATOMIC_RELEASE);
	wr(&b, cap_off(&b, VIRTIO_PCI_CAP_NOTIFY_CFG), 2, 0);
	ck_assert(wait_for(&b.dev.notifies[0], 2));
	{
		struct virtq_chain c;
		struct iovec iov[4];

		ck_assert_int_eq(virtq_pop(&b.dev.ctx.vq[0], &c, iov, 4), 1);
		ck_assert_uint_eq(c.head, 0);
		virtq_push(&b.dev.ctx.vq[0], c.head, 16);
		ck_assert_uint_eq(le16toh(((struct vring_used *)(b.ram + USED_GPA))->idx), 4);
		ck_assert_uint_eq(le32toh(((struct vring_used *)(b.ram + USED_GPA))->ring[3].len), 16);
	}
	/* Saved again: the same bytes but for the positions of the one more chain. */
	snap(&b, &sb);
	ck_assert_uint_eq(sa.len, sb.len);
	sbuf_free(&sa);
	sbuf_free(&sb);
	rig_fini(&b);
	rig_fini(&a);
}
END_TEST

/* The record's transport part starts after the ids and the two length-prefixed records. */
static size_t regs_at(const struct sbuf *s)
{
	size_t off = 4, n;

	for (int i = 0; i < 2; i++) {
		n = (size_t)s->data[off] | (size_t)s->data[off + 1] << 8 | (size_t)s->data[off + 2] << 16;
		off += 4 + n;
	}
	return off;
}

static void put_le(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

START_TEST(snapshot_refuses_bad_records)
{
	struct rig a, c;
	struct sbuf sa, base, now;
	/* Offsets in the transport part: status 0, features 9, config vector 17, ISR 22, queue 0 from 23. */
	const struct {
		size_t off; /* from regs_at(), or SIZE_MAX: the device id */
		unsigned len;
		uint64_t v;
	} flips[] = {
		{ SIZE_MAX, 2, 1 },                 /* another device kind (virtio-net) */
		{ 0, 1, 0x1f },                     /* a status bit no driver can set */
		{ 0, 1, VIRTIO_CONFIG_S_DRIVER_OK | VIRTIO_CONFIG_S_ACKNOWLEDGE }, /* DRIVER_OK without FEATURES_OK */
		{ 9, 8, GOOD_FEATURES | (1ull << 40) }, /* a feature not offered */
		{ 9, 8, FAKE_FEATURE },             /* FEATURES_OK without VERSION_1 */
		{ 17, 2, FAKE_QUEUES + 1 },         /* a config vector past the table */
		{ 22, 1, 4 },                       /* an ISR bit that does not exist */
		{ 23, 2, 3 },                       /* queue size 3 */
		{ 23, 2, 2 * FAKE_QMAX },           /* queue size over the maximum */
		{ 23 + 5, 8, RAM_SIZE + 0x1000 },   /* descriptor table beyond RAM */
		{ 23 + 21, 8, RAM_SIZE - 4 },       /* used ring running off the end of RAM */
		{ 23 + 13, 8, AVAIL_GPA + 1 },      /* a misaligned avail ring */
		{ 23 + 29, 2, 100 },                /* last_avail more than a queue ahead of used_idx */
	};
	size_t at;

	rig_live(&a);
	snap(&a, &sa);
	at = regs_at(&sa);
	rig_fresh(&c);
	memcpy(c.ram, a.ram, RAM_SIZE);
	snap(&c, &base);
	for (size_t n = 0; n < sa.len; n++) {
		ck_assert_msg(restore_bytes(&c, sa.data, n) == -EINVAL, "prefix of %zu bytes accepted", n);
		snap(&c, &now);
		ck_assert_msg(now.len == base.len && !memcmp(now.data, base.data, base.len),
			      "prefix of %zu bytes changed the function", n);
		sbuf_free(&now);
	}
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		uint8_t *bad = malloc(sa.len + 1);

		memcpy(bad, sa.data, sa.len);
		put_le(bad + (flips[i].off == SIZE_MAX ? 0 : at + flips[i].off), flips[i].v, flips[i].len);
		ck_assert_msg(restore_bytes(&c, bad, sa.len) == -EINVAL, "flip %zu accepted", i);
		ck_assert_msg(restore_bytes(&c, bad, sa.len + 1) == -EINVAL, "flip %zu + 1 byte accepted", i);
		snap(&c, &now);
		ck_assert_msg(now.len == base.len && !memcmp(now.data, base.data, base.len), "flip %zu changed it", i);
		sbuf_free(&now);
		free(bad);
	}
	ck_assert_int_eq(c.dev.activates, 0);
	/* Still usable: the good record restores and the function runs. */
	ck_assert_int_eq(restore_bytes(&c, sa.data, sa.len), 0);
	ck_assert_int_eq(c.dev.activates, 1);
	ck_assert_int_eq(event_loop_start(c.loop), 0);
	discover(&c);
	ck_assert(wait_for(&c.dev.notifies[0], 1));
	sbuf_free(&base);
	sbuf_free(&sa);
	rig_fini(&c);
	rig_fini(&a);
}
END_TEST

/* A function the driver never touched, and one that was negotiating (no DRIVER_OK): not activated. */
START_TEST(snapshot_not_live)
{
	struct rig a, b;
	struct sbuf sa, sb;

	rig_init(&a);
	snap(&a, &sa);
	rig_fresh(&b);
	ck_assert_int_eq(restore_bytes(&b, sa.data, sa.len), 0);
	ck_assert_int_eq(b.dev.activates, 0);
	sbuf_free(&sa);
	ck_assert(negotiate(&a, GOOD_FEATURES));
	setup_queue(&a, 0, 8, RAM_SIZE + 0x1000, AVAIL_GPA, USED_GPA, 1); /* not checked before DRIVER_OK */
	snap(&a, &sa);
	ck_assert_int_eq(restore_bytes(&b, sa.data, sa.len), 0);
	ck_assert_int_eq(b.dev.activates, 0);
	ck_assert_int_eq(event_loop_start(b.loop), 0);
	discover(&b);
	ck_assert_uint_eq(status(&b), STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK);
	snap(&b, &sb);
	ck_assert_uint_eq(sa.len, sb.len);
	ck_assert_mem_eq(sa.data, sb.data, sa.len);
	/* DRIVER_OK now runs the usual check: the ring outside RAM is refused. */
	set_status(&b, STATUS_UP | VIRTIO_CONFIG_S_FEATURES_OK | VIRTIO_CONFIG_S_DRIVER_OK);
	ck_assert(status(&b) & VIRTIO_CONFIG_S_NEEDS_RESET);
	sbuf_free(&sa);
	sbuf_free(&sb);
	rig_fini(&b);
	rig_fini(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_pci");
	TCase *tc = tcase_create("virtio_pci");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, identity_and_capabilities);
	tcase_add_test(tc, negotiate_activate_notify);
	tcase_add_test(tc, msix_interrupts);
	tcase_add_test(tc, intx_interrupts);
	tcase_add_test(tc, device_config_bounds);
	tcase_add_test(tc, queue_select_out_of_range);
	tcase_add_test(tc, features_without_version_1);
	tcase_add_test(tc, rings_outside_ram);
	tcase_add_test(tc, reset_restores_initial_state);
	tcase_add_test(tc, hostile_accesses);
	tcase_add_test(tc, destroy_after_loop_stop);
	tcase_add_test(tc, create_rejects_bad_devices);
	tcase_add_test(tc, break_loop_is_rationed);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_refuses_bad_records);
	tcase_add_test(tc, snapshot_not_live);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
