// SPDX-License-Identifier: Apache-2.0
/*
 * MSI-X on a device on a fake PCI bus, with a fake msi_ops: the capability, table reads and writes, vectors masked
 * at start, updates when vectors go live, delivery only when enabled and unmasked, pending bits, the function mask,
 * the read-only PBA, bad widths and vectors. Then the KVM routing table: the default routes (pure), and with a usable
 * /dev/kvm the real KVM_SET_GSI_ROUTING/KVM_IRQFD path (skipped without one).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bus.h"
#include "devices/msix.h"
#include "devices/pci.h"
#include "irq_routes.h"
#include "snapshot/sbuf.h"
#include "unit.h"

#define MMIO64 (1ull << 36)
#define NVEC 4
#define TABLE_OFF 0x1000
#define PBA_OFF 0x1800

struct fake {
	struct bus pio, mmio;
	struct pci_bus pci;
	struct pci_dev dev;
	struct msix m;
	uint64_t bar;
	/* What the transport saw. */
	int updates, fires[NVEC];
	int vec_updates[NVEC];   /* per vector: how many updates, and the last message */
	uint64_t vec_addr[NVEC];
	uint32_t vec_data[NVEC];
	int update_ret;          /* what fake_update returns */
	unsigned last_vec;
	uint64_t last_addr;
	uint32_t last_data;
	int other_calls; /* BAR accesses outside the table and PBA */
	/* msix_lend(): which fd is bound to which vector now, and what bind returns. */
	int bound_fd[NVEC];
	int binds, unbinds, bind_ret;
	bool bound_before_update; /* a bind came before the vector's first update */
};

static int fake_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
	struct fake *f = opaque;

	ck_assert_uint_lt(vec, NVEC);
	f->updates++;
	f->last_vec = vec;
	f->last_addr = addr;
	f->last_data = data;
	f->vec_updates[vec]++;
	f->vec_addr[vec] = addr;
	f->vec_data[vec] = data;
	return f->update_ret;
}

static void fake_fire(void *opaque, unsigned vec)
{
	struct fake *f = opaque;

	ck_assert_uint_lt(vec, NVEC);
	f->fires[vec]++;
}

static int fake_bind(void *opaque, unsigned vec, int fd, bool bind)
{
	struct fake *f = opaque;

	ck_assert_uint_lt(vec, NVEC);
	if (bind) {
		if (f->bind_ret)
			return f->bind_ret;
		ck_assert_int_eq(f->bound_fd[vec], -1);
		f->bound_before_update |= f->vec_updates[vec] == 0;
		f->bound_fd[vec] = fd;
		f->binds++;
	} else {
		ck_assert_int_eq(f->bound_fd[vec], fd);
		f->bound_fd[vec] = -1;
		f->unbinds++;
	}
	return 0;
}

static const struct msi_ops fake_ops = { .update = fake_update, .fire = fake_fire, .bind = fake_bind };

static void bar_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write)
{
	struct fake *f = opaque;

	if (msix_bar_claims(&f->m, off)) {
		msix_bar_io(&f->m, off, data, len, is_write);
		return;
	}
	f->other_calls++;
	if (!is_write)
		memset(data, 0, len);
}

static void cfg_hook(struct pci_dev *d, uint32_t off, uint32_t len)
{
	struct fake *f = d->opaque;

	(void)off;
	(void)len;
	msix_cfg_write(&f->m);
}

static const struct pci_dev_ops dev_ops = { .cfg_write = cfg_hook };

static void irq_none(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	(void)gsi;
	(void)level;
}

static uint64_t get(const uint8_t *b, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)b[i] << (8 * i);
	return v;
}

static void put(uint8_t *b, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t cfg_read(struct fake *f, unsigned reg, unsigned len)
{
	uint8_t b[4];

	ck_assert(bus_dispatch(&f->mmio, PCI_ECAM_BASE + (1u << 15) + reg, b, len, false));
	return (uint32_t)get(b, len);
}

static void cfg_write(struct fake *f, unsigned reg, unsigned len, uint32_t v)
{
	uint8_t b[4];

	put(b, v, len);
	ck_assert(bus_dispatch(&f->mmio, PCI_ECAM_BASE + (1u << 15) + reg, b, len, true));
}

static uint64_t bar_read(struct fake *f, uint64_t off, unsigned len)
{
	uint8_t b[8];

	ck_assert(bus_dispatch(&f->mmio, f->bar + off, b, len, false));
	return get(b, len);
}

static void bar_write(struct fake *f, uint64_t off, unsigned len, uint64_t v)
{
	uint8_t b[8];

	put(b, v, len);
	ck_assert(bus_dispatch(&f->mmio, f->bar + off, b, len, true));
}

static uint64_t entry(unsigned vec, unsigned field)
{
	return TABLE_OFF + (uint64_t)PCI_MSIX_ENTRY_SIZE * vec + field;
}

/* The message control word, through configuration space. */
static void control(struct fake *f, uint16_t v)
{
	cfg_write(f, (unsigned)f->m.cap + PCI_MSIX_FLAGS, 2, v);
}

/* A device in slot 1 with a 16 KiB 64-bit BAR 0 holding the table and the PBA; memory decoding on. */
static void fake_init(struct fake *f)
{
	memset(f, 0, sizeof(*f));
	for (unsigned v = 0; v < NVEC; v++)
		f->bound_fd[v] = -1;
	bus_init(&f->pio);
	bus_init(&f->mmio);
	ck_assert_int_eq(pci_bus_init(&f->pci, &f->pio, &f->mmio, MMIO64, irq_none, NULL, NULL), 0);
	pci_dev_init(&f->dev, 0x1af4, 0x1042, 0x010000, 1, 0x1af4, 2);
	f->dev.ops = &dev_ops;
	f->dev.opaque = f;
	ck_assert_int_eq(pci_dev_set_bar(&f->dev, 0, 0x4000, true, bar_io, f), 0);
	ck_assert_int_eq(msix_init(&f->m, &f->dev, NVEC, 0, TABLE_OFF, PBA_OFF, &fake_ops, f), 0);
	ck_assert_int_eq(pci_bus_add(&f->pci, &f->dev), 0);
	f->bar = f->dev.bar[0].addr;
	cfg_write(f, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
}

static void fake_destroy(struct fake *f)
{
	msix_destroy(&f->m);
	pci_bus_destroy(&f->pci);
	bus_destroy(&f->pio);
	bus_destroy(&f->mmio);
}

/* Program vector vec with (addr, data), leaving its mask bit alone. */
static void program(struct fake *f, unsigned vec, uint64_t addr, uint32_t data)
{
	bar_write(f, entry(vec, PCI_MSIX_ENTRY_LOWER_ADDR), 4, (uint32_t)addr);
	bar_write(f, entry(vec, PCI_MSIX_ENTRY_UPPER_ADDR), 4, (uint32_t)(addr >> 32));
	bar_write(f, entry(vec, PCI_MSIX_ENTRY_DATA), 4, data);
}

static void unmask(struct fake *f, unsigned vec, bool masked)
{
	bar_write(f, entry(vec, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0);
}

START_TEST(capability)
{
	struct fake f;
	unsigned cap;

	fake_init(&f);
	cap = (unsigned)f.m.cap;
	ck_assert_uint_eq(cfg_read(&f, PCI_CAPABILITY_LIST, 1), cap);
	ck_assert_uint_eq(cfg_read(&f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, PCI_STATUS_CAP_LIST);
	ck_assert_uint_eq(cfg_read(&f, cap, 1), PCI_CAP_ID_MSIX);
	ck_assert_uint_eq(cfg_read(&f, cap + PCI_MSIX_FLAGS, 2), NVEC - 1);
	ck_assert_uint_eq(cfg_read(&f, cap + PCI_MSIX_TABLE, 4), TABLE_OFF | 0);
	ck_assert_uint_eq(cfg_read(&f, cap + PCI_MSIX_PBA, 4), PBA_OFF | 0);
	/* Only enable and function mask are writable. */
	control(&f, 0xffff);
	ck_assert_uint_eq(cfg_read(&f, cap + PCI_MSIX_FLAGS, 2),
			  PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL | (NVEC - 1));
	ck_assert(msix_enabled(&f.m));
	cfg_write(&f, cap + PCI_MSIX_TABLE, 4, 0x12345678);
	ck_assert_uint_eq(cfg_read(&f, cap + PCI_MSIX_TABLE, 4), TABLE_OFF);
	control(&f, 0);
	ck_assert(!msix_enabled(&f.m));
	ck_assert(msix_bar_claims(&f.m, TABLE_OFF));
	ck_assert(msix_bar_claims(&f.m, TABLE_OFF + NVEC * 16 - 1));
	ck_assert(!msix_bar_claims(&f.m, TABLE_OFF + NVEC * 16));
	ck_assert(msix_bar_claims(&f.m, PBA_OFF + 7));
	ck_assert(!msix_bar_claims(&f.m, PBA_OFF + 8));
	ck_assert(!msix_bar_claims(&f.m, 0));
	fake_destroy(&f);
}
END_TEST

START_TEST(table_read_write)
{
	struct fake f;

	fake_init(&f);
	for (unsigned v = 0; v < NVEC; v++) { /* masked at start, everything else 0 */
		ck_assert_uint_eq(bar_read(&f, entry(v, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), PCI_MSIX_ENTRY_CTRL_MASKBIT);
		ck_assert_uint_eq(bar_read(&f, entry(v, PCI_MSIX_ENTRY_LOWER_ADDR), 8), 0);
		ck_assert_uint_eq(bar_read(&f, entry(v, PCI_MSIX_ENTRY_DATA), 4), 0);
	}
	program(&f, 2, 0x12fee01003ull, 0x4041); /* low address bits are not kept */
	ck_assert_uint_eq(bar_read(&f, entry(2, PCI_MSIX_ENTRY_LOWER_ADDR), 4), 0xfee01000u);
	ck_assert_uint_eq(bar_read(&f, entry(2, PCI_MSIX_ENTRY_UPPER_ADDR), 4), 0x12);
	ck_assert_uint_eq(bar_read(&f, entry(2, PCI_MSIX_ENTRY_LOWER_ADDR), 8), 0x12fee01000ull);
	ck_assert_uint_eq(bar_read(&f, entry(2, PCI_MSIX_ENTRY_DATA), 4), 0x4041);
	ck_assert_uint_eq(bar_read(&f, entry(2, PCI_MSIX_ENTRY_DATA), 8), 0x100004041ull); /* data + control */
	bar_write(&f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 8, 0xfee02000ull);
	ck_assert_uint_eq(bar_read(&f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 8), 0xfee02000ull);
	bar_write(&f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4, 0xfffffffe); /* reserved bits dropped */
	ck_assert_uint_eq(bar_read(&f, entry(3, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 0);
	ck_assert_int_eq(f.updates, 0); /* MSI-X is disabled */
	ck_assert_int_eq(f.other_calls, 0);
	fake_destroy(&f);
}
END_TEST

START_TEST(enable_unmask_update)
{
	struct fake f;

	fake_init(&f);
	program(&f, 1, 0xfee00000, 0x31);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f.updates, 0); /* every vector still masked */
	unmask(&f, 1, false);
	ck_assert_int_eq(f.updates, 1);
	ck_assert_uint_eq(f.last_vec, 1);
	ck_assert_uint_eq(f.last_addr, 0xfee00000);
	ck_assert_uint_eq(f.last_data, 0x31);
	/* A live vector's message changes: the transport follows. */
	bar_write(&f, entry(1, PCI_MSIX_ENTRY_DATA), 4, 0x32);
	ck_assert_int_eq(f.updates, 2);
	ck_assert_uint_eq(f.last_data, 0x32);
	bar_write(&f, entry(1, PCI_MSIX_ENTRY_LOWER_ADDR), 8, 0x1fee01000ull); /* one update for a qword */
	ck_assert_int_eq(f.updates, 3);
	ck_assert_uint_eq(f.last_addr, 0x1fee01000ull);
	/* Rewriting the mask bit of a live vector with 0 again is no change. */
	unmask(&f, 1, false);
	ck_assert_int_eq(f.updates, 3);
	/* Enable with a vector already unmasked: update at enable time. */
	control(&f, 0);
	unmask(&f, 2, false);
	program(&f, 2, 0xfee00000, 0x40);
	ck_assert_int_eq(f.updates, 3);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f.updates, 5); /* vectors 1 and 2 */
	ck_assert_uint_eq(f.last_vec, 2);
	ck_assert_uint_eq(f.last_data, 0x40);
	fake_destroy(&f);
}
END_TEST

START_TEST(notify_and_pending)
{
	struct fake f;

	fake_init(&f);
	program(&f, 0, 0xfee00000, 0x30);
	unmask(&f, 0, false);
	msix_notify(&f.m, 0); /* disabled: nothing, not even a pending bit */
	ck_assert_int_eq(f.fires[0], 0);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 8), 0);

	control(&f, PCI_MSIX_FLAGS_ENABLE);
	msix_notify(&f.m, 0);
	ck_assert_int_eq(f.fires[0], 1);
	msix_notify(&f.m, 3); /* masked vector: pending */
	ck_assert_int_eq(f.fires[3], 0);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 4), 1u << 3);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 8), 1u << 3);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF + 4, 4), 0);
	program(&f, 3, 0xfee00000, 0x33);
	f.updates = 0;
	unmask(&f, 3, false); /* update, then the held-back message */
	ck_assert_int_eq(f.updates, 1);
	ck_assert_int_eq(f.fires[3], 1);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 8), 0);
	/* Masking again holds messages back again. */
	unmask(&f, 3, true);
	msix_notify(&f.m, 3);
	msix_notify(&f.m, 3);
	ck_assert_int_eq(f.fires[3], 1);
	unmask(&f, 3, false);
	ck_assert_int_eq(f.fires[3], 2); /* one pending bit, one message */
	fake_destroy(&f);
}
END_TEST

START_TEST(function_mask)
{
	struct fake f;

	fake_init(&f);
	program(&f, 2, 0xfee00000, 0x32);
	unmask(&f, 2, false);
	control(&f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	ck_assert_int_eq(f.updates, 0);
	msix_notify(&f.m, 2);
	ck_assert_int_eq(f.fires[2], 0);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 4), 1u << 2);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f.updates, 1);
	ck_assert_int_eq(f.fires[2], 1);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 4), 0);
	msix_notify(&f.m, 2);
	ck_assert_int_eq(f.fires[2], 2);
	fake_destroy(&f);
}
END_TEST

START_TEST(pba_read_only_and_bad_accesses)
{
	struct fake f;

	fake_init(&f);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	msix_notify(&f.m, 1);
	bar_write(&f, PBA_OFF, 4, 0);
	bar_write(&f, PBA_OFF, 8, 0xff);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 4), 1u << 1);

	/* Bytes, words and misaligned dwords: read 0, writes ignored. */
	bar_write(&f, entry(0, PCI_MSIX_ENTRY_DATA), 2, 0xffff);
	bar_write(&f, entry(0, PCI_MSIX_ENTRY_DATA), 1, 0xff);
	bar_write(&f, entry(0, PCI_MSIX_ENTRY_DATA) + 2, 4, 0xffffffff);
	bar_write(&f, entry(0, PCI_MSIX_ENTRY_DATA) + 4, 8, 0); /* qword not 8-aligned: would unmask */
	ck_assert_uint_eq(bar_read(&f, entry(0, PCI_MSIX_ENTRY_DATA), 4), 0);
	ck_assert_uint_eq(bar_read(&f, entry(0, PCI_MSIX_ENTRY_VECTOR_CTRL), 4), 1);
	ck_assert_uint_eq(bar_read(&f, entry(0, PCI_MSIX_ENTRY_VECTOR_CTRL), 2), 0);
	ck_assert_uint_eq(bar_read(&f, entry(0, PCI_MSIX_ENTRY_VECTOR_CTRL), 1), 0);
	ck_assert_uint_eq(bar_read(&f, entry(0, 2), 4), 0);
	ck_assert_int_eq(f.updates, 0);

	/* Vectors past the table, and no vector at all. */
	msix_notify(&f.m, NVEC);
	msix_notify(&f.m, MSIX_MAX_VECTORS + 5);
	msix_notify(&f.m, MSIX_NO_VECTOR);
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 8), 1u << 1);
	for (unsigned v = 0; v < NVEC; v++)
		ck_assert_int_eq(f.fires[v], 0);
	ck_assert_int_eq(f.other_calls, 0);
	fake_destroy(&f);
}
END_TEST

static void *notifier(void *arg)
{
	struct fake *f = arg;

	for (int i = 0; i < 20000; i++)
		msix_notify(&f->m, (uint16_t)(i % NVEC));
	return NULL;
}

/* The I/O thread notifies while a vCPU masks and unmasks: no message is lost or left pending. */
START_TEST(concurrent_notify_and_mask)
{
	struct fake f;
	pthread_t t;
	int fired = 0;

	fake_init(&f);
	for (unsigned v = 0; v < NVEC; v++)
		program(&f, v, 0xfee00000, 0x30 + v);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(pthread_create(&t, NULL, notifier, &f), 0);
	for (int i = 0; i < 20000; i++) {
		unmask(&f, (unsigned)i % NVEC, i & 4);
		if (i % 1000 == 0)
			control(&f, PCI_MSIX_FLAGS_ENABLE | (i & 1000 ? PCI_MSIX_FLAGS_MASKALL : 0));
	}
	ck_assert_int_eq(pthread_join(t, NULL), 0);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	for (unsigned v = 0; v < NVEC; v++) {
		unmask(&f, v, false);
		fired += f.fires[v];
	}
	ck_assert_uint_eq(bar_read(&f, PBA_OFF, 8), 0);
	ck_assert_int_gt(fired, 0);
	ck_assert_int_le(fired, 20000);
	fake_destroy(&f);
}
END_TEST

START_TEST(init_errors)
{
	struct pci_dev d;
	struct msix m;
	struct fake f; /* only as ops_opaque */

	pci_dev_init(&d, 1, 2, 0, 0, 0, 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 2, 0x2000, false, bar_io, &f), 0);
	ck_assert_int_eq(msix_init(&m, &d, 0, 2, 0, 0x1000, &fake_ops, &f), -EINVAL);
	ck_assert_int_eq(msix_init(&m, &d, MSIX_MAX_VECTORS + 1, 2, 0, 0x1800, &fake_ops, &f), -EINVAL);
	ck_assert_int_eq(msix_init(&m, &d, 4, 6, 0, 0x1000, &fake_ops, &f), -EINVAL);
	ck_assert_int_eq(msix_init(&m, &d, 4, 2, 4, 0x1000, &fake_ops, &f), -EINVAL);    /* BIR bits */
	ck_assert_int_eq(msix_init(&m, &d, 4, 2, 0, 0x1004, &fake_ops, &f), -EINVAL);
	ck_assert_int_eq(msix_init(&m, &d, 4, 2, 0, 0x38, &fake_ops, &f), -EINVAL);      /* overlap */
	ck_assert_int_eq(msix_init(&m, &d, 4, 2, 0x1ff8, 0, &fake_ops, &f), -EINVAL);    /* past the BAR */
	ck_assert_int_eq(msix_init(&m, &d, 4, 2, 0, 0x2000, &fake_ops, &f), -EINVAL);
	ck_assert_int_eq(msix_init(&m, &d, 4, 2, 0, 0x1000, NULL, &f), -EINVAL);
	ck_assert_uint_eq(d.cfg[PCI_CAPABILITY_LIST], 0); /* nothing added on failure */
	ck_assert_int_eq(msix_init(&m, &d, 64, 2, 0, 0x1000, &fake_ops, &f), 0);
	ck_assert_uint_eq(d.cfg[m.cap + PCI_MSIX_FLAGS], 63);
	msix_destroy(&m);
}
END_TEST

START_TEST(default_routes)
{
	struct kvm_irq_routing_entry e[IRQ_ROUTES_DEFAULT_NR + 1];
	unsigned ioapic[24] = { 0 }, pic[16] = { 0 };

	memset(e, 0, sizeof(e));
	ck_assert_uint_eq(irq_routes_default(e), IRQ_ROUTES_DEFAULT_NR);
	for (unsigned i = 0; i < IRQ_ROUTES_DEFAULT_NR; i++) {
		ck_assert_uint_eq(e[i].type, KVM_IRQ_ROUTING_IRQCHIP);
		ck_assert_uint_eq(e[i].flags, 0);
		ck_assert_uint_lt(e[i].gsi, 24);
		if (e[i].u.irqchip.irqchip == KVM_IRQCHIP_IOAPIC) {
			ck_assert_uint_eq(e[i].u.irqchip.pin, e[i].gsi); /* GSI 0 is pin 0, as in KVM's table */
			ioapic[e[i].gsi]++;
		} else {
			ck_assert_uint_lt(e[i].gsi, 16);
			ck_assert_uint_eq(e[i].u.irqchip.irqchip,
					  e[i].gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE);
			ck_assert_uint_eq(e[i].u.irqchip.pin, e[i].gsi % 8);
			pic[e[i].gsi]++;
		}
	}
	for (unsigned g = 0; g < 24; g++)
		ck_assert_uint_eq(ioapic[g], 1);
	for (unsigned g = 0; g < 16; g++)
		ck_assert_uint_eq(pic[g], 1);
	ck_assert_uint_eq(e[IRQ_ROUTES_DEFAULT_NR].gsi, 0); /* nothing written past the end */
}
END_TEST

/* A VM with an in-kernel irqchip, or -1 where /dev/kvm is missing or unusable (the test is skipped). */
static int kvm_vm(int *kvm_fd, bool irqchip)
{
	int vm;

	*kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (*kvm_fd < 0)
		return -1;
	vm = ioctl(*kvm_fd, KVM_CREATE_VM, 0);
	if (vm >= 0 && irqchip && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
		close(vm);
		vm = -1;
	}
	if (vm < 0)
		close(*kvm_fd);
	return vm;
}

START_TEST(kvm_routes)
{
	struct irq_routes r;
	struct irq_msix *a, *b;
	int kvm, vm = kvm_vm(&kvm, true);

	if (vm < 0) {
		/* unit.msix-kvm runs this case where KVM is (VMM_REQUIRE_KVM=1), in the test host if need be. */
		ck_assert_msg(!getenv("VMM_REQUIRE_KVM"), "kvm_routes: no usable /dev/kvm: %s", strerror(errno));
		printf("kvm_routes: skipped here, no usable /dev/kvm (unit.msix-kvm runs it)\n");
		return;
	}
	ck_assert_int_eq(irq_routes_init(&r, vm, NULL), 0);
	ck_assert_int_eq(irq_routes_msix_create(&r, 0, &a), -EINVAL);
	ck_assert_int_eq(irq_routes_msix_create(&r, 3, &a), 0); /* its irqfds wait for irq_routes_start() */
	ck_assert_int_eq(irq_routes_start(&r), 0);
	ck_assert_int_eq(irq_routes_msix_create(&r, 2, &b), 0); /* bound at once */
	ck_assert_int_ge(irq_routes_msix_fd(a, 2), 0);
	ck_assert_int_eq(irq_routes_msix_fd(a, 3), -1);
	ck_assert_uint_eq(r.msi[0].state, 1); /* allocated: GSIs 24..28 */
	ck_assert_uint_eq(r.msi[4].state, 1);
	ck_assert_uint_eq(r.msi[5].state, 0);
	ck_assert_int_eq(irq_routes_msi_ops.update(a, 0, 0xfee00000, 0x4030), 0);
	ck_assert_int_eq(irq_routes_msi_ops.update(b, 1, 0xfee00000, 0x4031), 0);
	ck_assert_int_eq(irq_routes_msi_ops.update(b, 1, 0xfee00000, 0x4031), 0); /* unchanged: no commit */
	ck_assert_int_eq(irq_routes_msi_ops.update(a, 3, 0xfee00000, 0x4031), -EINVAL);
	irq_routes_msi_ops.fire(a, 0); /* into the in-kernel LAPIC; no vCPU runs to take it */
	irq_routes_msi_ops.fire(a, 1); /* no route yet: dropped by KVM */
	irq_routes_msi_ops.fire(a, 7); /* out of range: ignored */
	{
		/* A lent eventfd (a backend's call): while bound, KVM takes its count at the write. */
		int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		uint64_t one = 1, n = 0;

		ck_assert_int_ge(efd, 0);
		ck_assert_int_eq(irq_routes_msi_ops.bind(a, 0, efd, true), 0);
		ck_assert_int_eq(irq_routes_msi_ops.bind(a, 0, efd, true), -EBUSY); /* KVM: one irqfd per eventfd */
		ck_assert_int_eq(write(efd, &one, sizeof(one)), 8);
		/*
		 * Consumed by the irqfd as it delivered to the LAPIC (irqfd_wakeup() reads the count on the
		 * kernels this runs on; an older one leaves it, and vhost_user then delivers it a second time).
		 */
		ck_assert_msg(read(efd, &n, sizeof(n)) == -1 && errno == EAGAIN, "KVM's irqfd left the count");
		ck_assert_int_eq(irq_routes_msi_ops.bind(a, 0, efd, false), 0);
		ck_assert_int_eq(write(efd, &one, sizeof(one)), 8);
		ck_assert_int_eq(read(efd, &n, sizeof(n)), 8); /* unbound: the count waits for its reader */
		ck_assert_uint_eq(n, 1);
		ck_assert_int_eq(irq_routes_msi_ops.bind(a, 5, efd, true), -EINVAL);
		close(efd);
	}
	irq_routes_msix_destroy(a);
	ck_assert_uint_eq(r.msi[0].state, 0);
	/* Freed GSIs are reused. */
	ck_assert_int_eq(irq_routes_msix_create(&r, 4, &a), 0);
	ck_assert_uint_eq(r.msi[5].state, 1);
	irq_routes_msix_destroy(a);
	irq_routes_msix_destroy(b);
	irq_routes_destroy(&r);
	close(vm);
	close(kvm);

	/* Without an irqchip KVM refuses irqchip routes: init fails cleanly. */
	vm = kvm_vm(&kvm, false);
	ck_assert_int_ge(vm, 0);
	ck_assert_int_lt(irq_routes_init(&r, vm, NULL), 0);
	close(vm);
	close(kvm);
}
END_TEST

static unsigned route_log_lines;
static void count_log(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	(void)msg;
	route_log_lines++;
}

/* A guest whose MSI-X writes keep failing in KVM gets a rationed number of log lines, not one each. */
START_TEST(failed_routes_log_rationed)
{
	struct vlog log = { .fn = count_log, .level = VMM_LOG_DEBUG };
	struct irq_routes r;
	struct irq_msix *a;
	int kvm, vm = kvm_vm(&kvm, true);

	if (vm < 0) {
		ck_assert_msg(!getenv("VMM_REQUIRE_KVM"), "failed_routes_log_rationed: no usable /dev/kvm: %s",
			      strerror(errno));
		printf("failed_routes_log_rationed: skipped here, no usable /dev/kvm (unit.msix-kvm runs it)\n");
		return;
	}
	ck_assert_int_eq(irq_routes_init(&r, vm, &log), 0);
	ck_assert_int_eq(irq_routes_msix_create(&r, 1, &a), 0);
	route_log_lines = 0;
	/* From here on every KVM_SET_GSI_ROUTING fails (EBADF): the guest cannot make us log each time. */
	r.vm_fd = -1;
	for (unsigned i = 0; i < 1000; i++)
		ck_assert_int_lt(irq_routes_msi_ops.update(a, 0, 0xfee00000, 0x4030 + (i & 1)), 0);
	ck_assert_uint_ge(route_log_lines, 1);
	ck_assert_uint_le(route_log_lines, VLOG_GUEST_BUDGET + 1);
	r.vm_fd = vm;
	irq_routes_msix_destroy(a);
	irq_routes_destroy(&r);
	close(vm);
	close(kvm);
}
END_TEST

/* --- Snapshot and restore --- */

#define MSIX_REC_LEN (3 + 16 * NVEC + 8 + 2) /* layout, nvec, the table, the PBA, enabled, function mask */
#define REC_ENTRY(v) (3 + 16 * (v))
#define REC_PBA (3 + 16 * NVEC)
#define REC_ENABLED (REC_PBA + 8)
#define REC_MASKED (REC_PBA + 9)

static uint64_t snap_addr(unsigned v)
{
	return (uint64_t)v << 32 | (0xfee00000u + 0x1000u * v);
}

/* What a guest does: a message in every vector, 0, 1 and 3 unmasked, 2 masked; MSI-X on (function mask: masked). */
static void snap_program(struct fake *f, bool masked)
{
	for (unsigned v = 0; v < NVEC; v++)
		program(f, v, snap_addr(v), 0x4040 + v);
	unmask(f, 0, false);
	unmask(f, 1, false);
	unmask(f, 3, false);
	control(f, PCI_MSIX_FLAGS_ENABLE | (masked ? PCI_MSIX_FLAGS_MASKALL : 0));
}

/* The function's record and its MSI-X record, as the transport saves them. */
static void snap_save(struct fake *f, struct sbuf *pci, struct sbuf *msix)
{
	sbuf_init(pci);
	sbuf_init(msix);
	pci_dev_save(&f->dev, pci);
	msix_save(&f->m, msix);
	ck_assert(!pci->oom && !msix->oom);
	ck_assert_uint_eq(msix->len, MSIX_REC_LEN);
}

static int restore_msix(struct msix *m, const uint8_t *p, size_t len, size_t *used)
{
	struct sreader in;
	int ret;

	sreader_init(&in, p, len);
	ret = msix_restore(m, &in);
	if (used)
		*used = in.off;
	if (ret == -EINVAL)
		ck_assert(!sr_ok(&in));
	return ret;
}

/* pci_dev_restore() then msix_restore(), as the transport does; the transport's counters start from 0. */
static void snap_restore(struct fake *f, const struct sbuf *pci, const uint8_t *msix, size_t msix_len)
{
	struct sreader in;

	sreader_init(&in, pci->data, pci->len);
	ck_assert_int_eq(pci_dev_restore(&f->dev, &in), 0);
	ck_assert(sr_done(&in));
	ck_assert_int_eq(restore_msix(&f->m, msix, msix_len, NULL), 0);
}

START_TEST(snapshot_round_trip)
{
	struct fake f1, f2;
	struct sbuf pci, msix;

	fake_init(&f1);
	snap_program(&f1, false);
	msix_notify(&f1.m, 2); /* masked: pending */
	msix_notify(&f1.m, 0);
	ck_assert_int_eq(f1.fires[0], 1);
	snap_save(&f1, &pci, &msix);

	fake_init(&f2);
	snap_restore(&f2, &pci, msix.data, msix.len);
	/* The routes are as the guest left them: every unmasked vector's message, once; nothing fired. */
	ck_assert_int_eq(f2.updates, 3);
	for (unsigned v = 0; v < NVEC; v++) {
		ck_assert_int_eq(f2.vec_updates[v], v == 2 ? 0 : 1);
		if (v != 2) {
			ck_assert_uint_eq(f2.vec_addr[v], snap_addr(v));
			ck_assert_uint_eq(f2.vec_data[v], 0x4040 + v);
		}
		ck_assert_int_eq(f2.fires[v], 0);
	}
	ck_assert(msix_enabled(&f2.m));
	/* The guest reads what it left: control word, table, PBA. */
	for (unsigned reg = 0; reg < PCI_CFG_SIZE; reg += 4)
		ck_assert_uint_eq(cfg_read(&f2, reg, 4), cfg_read(&f1, reg, 4));
	for (unsigned v = 0; v < NVEC; v++) {
		ck_assert_uint_eq(bar_read(&f2, entry(v, 0), 8), bar_read(&f1, entry(v, 0), 8));
		ck_assert_uint_eq(bar_read(&f2, entry(v, 8), 8), bar_read(&f1, entry(v, 8), 8));
	}
	ck_assert_uint_eq(bar_read(&f2, PBA_OFF, 8), 1u << 2);

	/* It goes on: the held-back message comes with the unmask, live vectors fire at once. */
	unmask(&f2, 2, false);
	ck_assert_int_eq(f2.vec_updates[2], 1);
	ck_assert_uint_eq(f2.vec_addr[2], snap_addr(2));
	ck_assert_int_eq(f2.fires[2], 1);
	ck_assert_uint_eq(bar_read(&f2, PBA_OFF, 8), 0);
	msix_notify(&f2.m, 3);
	ck_assert_int_eq(f2.fires[3], 1);
	sbuf_free(&pci);
	sbuf_free(&msix);
	fake_destroy(&f1);
	fake_destroy(&f2);
}
END_TEST

/* Function mask and disabled MSI-X: no route until the guest lifts them; pending bits of live vectors delivered. */
START_TEST(snapshot_masked_disabled_and_pending)
{
	struct fake f1, f2, f3;
	struct sbuf pci, msix;
	uint8_t *p, *m;

	fake_init(&f1);
	snap_program(&f1, true);
	msix_notify(&f1.m, 1);
	msix_notify(&f1.m, 2);
	snap_save(&f1, &pci, &msix);

	fake_init(&f2);
	snap_restore(&f2, &pci, msix.data, msix.len);
	ck_assert_int_eq(f2.updates, 0);
	ck_assert_int_eq(f2.fires[1] + f2.fires[2], 0);
	ck_assert_uint_eq(bar_read(&f2, PBA_OFF, 8), 1u << 1 | 1u << 2);
	msix_notify(&f2.m, 0); /* function masked: pending too */
	ck_assert_uint_eq(bar_read(&f2, PBA_OFF, 8), 7);
	control(&f2, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f2.updates, 3);
	ck_assert_int_eq(f2.fires[0], 1);
	ck_assert_int_eq(f2.fires[1], 1);
	ck_assert_int_eq(f2.fires[2], 0);
	ck_assert_uint_eq(bar_read(&f2, PBA_OFF, 8), 1u << 2);
	fake_destroy(&f2);

	/*
	 * The same, function mask cleared in both records (its bit in message control and the flag): vector 1 is live
	 * with its bit pending, and restore does what an unmask does, message then the held-back interrupt.
	 */
	p = pci.data;
	m = msix.data;
	p[4 + f1.m.cap + PCI_MSIX_FLAGS + 1] &= (uint8_t)~(PCI_MSIX_FLAGS_MASKALL >> 8);
	m[REC_MASKED] = 0;
	fake_init(&f3);
	snap_restore(&f3, &pci, msix.data, msix.len);
	ck_assert_int_eq(f3.updates, 3);
	ck_assert_int_eq(f3.fires[1], 1);
	ck_assert_int_eq(f3.fires[2], 0);
	ck_assert_uint_eq(bar_read(&f3, PBA_OFF, 8), 1u << 2);
	fake_destroy(&f3);

	/* MSI-X disabled: the table and pending bits come back, no route and no message until enabled. */
	control(&f1, 0);
	sbuf_free(&pci);
	sbuf_free(&msix);
	snap_save(&f1, &pci, &msix);
	fake_init(&f3);
	snap_restore(&f3, &pci, msix.data, msix.len);
	ck_assert(!msix_enabled(&f3.m));
	ck_assert_int_eq(f3.updates, 0);
	ck_assert_uint_eq(bar_read(&f3, PBA_OFF, 8), 1u << 1 | 1u << 2);
	control(&f3, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f3.updates, 3);
	ck_assert_int_eq(f3.fires[1], 1);
	fake_destroy(&f3);

	/* A route the transport cannot set fails the restore, though the state is in place. */
	control(&f1, PCI_MSIX_FLAGS_ENABLE);
	sbuf_free(&pci);
	sbuf_free(&msix);
	snap_save(&f1, &pci, &msix);
	fake_init(&f3);
	f3.update_ret = -ENOSPC;
	ck_assert_int_eq(pci_dev_restore(&f3.dev, &(struct sreader){ .p = pci.data, .len = pci.len }), 0);
	ck_assert_int_eq(restore_msix(&f3.m, msix.data, msix.len, NULL), -ENOSPC);
	ck_assert_int_eq(f3.updates, 3);
	ck_assert(msix_enabled(&f3.m));
	fake_destroy(&f3);
	sbuf_free(&pci);
	sbuf_free(&msix);
	fake_destroy(&f1);
}
END_TEST

/* What a refused msix_restore() must not have touched. */
struct snap_before {
	struct msix_entry table[NVEC];
	uint64_t pba;
	bool enabled, masked;
};

static void snap_remember(const struct fake *f, struct snap_before *b)
{
	memcpy(b->table, f->m.table, sizeof(b->table));
	b->pba = f->m.pba;
	b->enabled = f->m.enabled;
	b->masked = f->m.masked;
}

static void snap_unchanged(const struct fake *f, const struct snap_before *b)
{
	ck_assert_mem_eq(f->m.table, b->table, sizeof(b->table));
	ck_assert_uint_eq(f->m.pba, b->pba);
	ck_assert(f->m.enabled == b->enabled && f->m.masked == b->masked);
	ck_assert_int_eq(f->updates, 0);
	for (unsigned v = 0; v < NVEC; v++)
		ck_assert_int_eq(f->fires[v], 0);
}

struct flip {
	size_t at;
	uint8_t bits;
};

START_TEST(snapshot_hostile_input)
{
	static const struct flip flips[] = {
		{ 0, 1 },                       /* layout */
		{ 1, 1 },                       /* nvec 5 */
		{ 2, 1 },                       /* nvec 0x104 */
		{ REC_ENTRY(1), 1 },            /* address bits 1:0 */
		{ REC_ENTRY(3) + 12, 2 },       /* reserved vector-control bits */
		{ REC_ENTRY(0) + 15, 0x80 },
		{ REC_PBA, 1u << NVEC },        /* a pending bit of a vector that does not exist */
		{ REC_PBA + 7, 0x80 },
		{ REC_ENABLED, 1 },             /* not what message control says */
		{ REC_MASKED, 1 },
		{ REC_ENABLED, 2 },             /* not a bool */
		{ REC_MASKED, 0x10 },
	};
	struct fake f1, f2;
	struct sbuf pci, msix;
	struct snap_before before;
	struct sreader in;
	struct pci_dev d;
	struct msix small;
	uint8_t buf[MSIX_REC_LEN + 1];
	size_t used;

	fake_init(&f1);
	snap_program(&f1, false);
	msix_notify(&f1.m, 2);
	snap_save(&f1, &pci, &msix);
	/* The target: its configuration space restored (MSI-X enabled there and in struct msix), the table not yet. */
	fake_init(&f2);
	sreader_init(&in, pci.data, pci.len);
	ck_assert_int_eq(pci_dev_restore(&f2.dev, &in), 0);
	ck_assert(msix_enabled(&f2.m));
	ck_assert_int_eq(f2.updates, 0);
	snap_remember(&f2, &before);

	for (size_t n = 0; n < msix.len; n++) {
		ck_assert_int_eq(restore_msix(&f2.m, msix.data, n, NULL), -EINVAL);
		snap_unchanged(&f2, &before);
	}
	for (size_t i = 0; i < sizeof(flips) / sizeof(flips[0]); i++) {
		memcpy(buf, msix.data, msix.len);
		buf[flips[i].at] ^= flips[i].bits;
		ck_assert_msg(restore_msix(&f2.m, buf, msix.len, NULL) == -EINVAL, "byte %zu ^ 0x%x accepted",
			      flips[i].at, flips[i].bits);
		snap_unchanged(&f2, &before);
	}
	/* Another vector count: a function with two vectors (and on no bus). */
	pci_dev_init(&d, 1, 2, 0, 0, 0, 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 0x4000, true, bar_io, &f2), 0);
	ck_assert_int_eq(msix_init(&small, &d, 2, 0, TABLE_OFF, PBA_OFF, &fake_ops, &f2), 0);
	ck_assert_int_eq(restore_msix(&small, msix.data, msix.len, NULL), -EINVAL);
	ck_assert_int_eq(f2.updates, 0);
	msix_destroy(&small);
	/* Message control of the target says disabled: the saved enabled state does not belong here. */
	control(&f2, 0);
	snap_remember(&f2, &before);
	ck_assert_int_eq(restore_msix(&f2.m, msix.data, msix.len, NULL), -EINVAL);
	snap_unchanged(&f2, &before);

	/* Still usable by the guest. */
	program(&f2, 0, 0xfee00000, 0x31);
	unmask(&f2, 0, false);
	control(&f2, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f2.updates, 1);
	msix_notify(&f2.m, 0);
	ck_assert_int_eq(f2.fires[0], 1);

	/* And the good record still restores over it; a byte after it is left to the caller. */
	f2.updates = 0;
	memset(f2.vec_updates, 0, sizeof(f2.vec_updates));
	memcpy(buf, msix.data, msix.len);
	buf[msix.len] = 0xaa;
	ck_assert_int_eq(restore_msix(&f2.m, buf, msix.len + 1, &used), 0);
	ck_assert_uint_eq(used, msix.len);
	ck_assert_int_eq(f2.updates, 3);
	ck_assert_uint_eq(f2.vec_data[0], 0x4040);
	ck_assert_uint_eq(bar_read(&f2, PBA_OFF, 8), 1u << 2);
	sbuf_free(&pci);
	sbuf_free(&msix);
	fake_destroy(&f1);
	fake_destroy(&f2);
}
END_TEST

/* A lent eventfd is bound exactly while its vector is live, after the vector's message is routed. */
START_TEST(lend_follows_liveness)
{
	static const struct msi_ops no_bind = { .update = fake_update, .fire = fake_fire };
	struct fake f;
	struct msix plain;
	struct pci_dev d;

	fake_init(&f);
	ck_assert_int_eq(msix_lend(&f.m, NVEC, 40), -EINVAL);
	ck_assert_int_eq(msix_lend(&f.m, 1, -1), -EINVAL);
	ck_assert_int_eq(msix_lend(&f.m, 1, 40), 0);
	ck_assert_int_eq(msix_lend(&f.m, 2, 40), -EEXIST);
	ck_assert_int_eq(f.binds, 0); /* MSI-X disabled, vector masked */
	ck_assert(!msix_lent_bound(&f.m, 40));
	program(&f, 1, 0xfee00000, 0x31);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f.binds, 0);
	unmask(&f, 1, false);
	ck_assert_int_eq(f.bound_fd[1], 40);
	ck_assert(msix_lent_bound(&f.m, 40));
	ck_assert(!f.bound_before_update);
	/* A new message for a live vector: the route moves, the binding stays. */
	bar_write(&f, entry(1, PCI_MSIX_ENTRY_DATA), 4, 0x32);
	ck_assert_int_eq(f.binds, 1);
	ck_assert_int_eq(f.unbinds, 0);
	/* Vector mask, function mask, disable: unbound each time; live again: bound again. */
	unmask(&f, 1, true);
	ck_assert_int_eq(f.bound_fd[1], -1);
	unmask(&f, 1, false);
	ck_assert_int_eq(f.bound_fd[1], 40);
	control(&f, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	ck_assert_int_eq(f.bound_fd[1], -1);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f.bound_fd[1], 40);
	control(&f, 0);
	ck_assert_int_eq(f.bound_fd[1], -1);
	control(&f, PCI_MSIX_FLAGS_ENABLE);
	ck_assert_int_eq(f.binds, 4);
	ck_assert_int_eq(f.unbinds, 3);
	/* Lending to a live vector binds at once; two fds on one vector are fine for msix (one slot each). */
	unmask(&f, 2, false);
	ck_assert_int_eq(msix_lend(&f.m, 2, 41), 0);
	ck_assert_int_eq(f.bound_fd[2], 41);
	/* Taken back: unbound, forgotten (a later mask does not touch it), unknown fds ignored. */
	msix_unlend(&f.m, 40);
	ck_assert_int_eq(f.bound_fd[1], -1);
	msix_unlend(&f.m, 40);
	msix_unlend(&f.m, 99);
	msix_unlend(&f.m, -1);
	unmask(&f, 1, true);
	unmask(&f, 1, false);
	ck_assert_int_eq(f.unbinds, 4);
	/* A bind KVM refuses leaves the fd unbound (its reader delivers) and is tried again at the next change. */
	f.bind_ret = -EINVAL;
	ck_assert_int_eq(msix_lend(&f.m, 1, 42), 0);
	ck_assert(!msix_lent_bound(&f.m, 42));
	f.bind_ret = 0;
	unmask(&f, 1, true);
	unmask(&f, 1, false);
	ck_assert(msix_lent_bound(&f.m, 42));
	/* Notifications of the device itself are untouched by lending. */
	msix_notify(&f.m, 1);
	ck_assert_int_eq(f.fires[1], 1);
	/* Slots run out at MSIX_MAX_LENT. */
	msix_unlend(&f.m, 41);
	msix_unlend(&f.m, 42);
	for (int i = 0; i < MSIX_MAX_LENT; i++)
		ck_assert_int_eq(msix_lend(&f.m, 3, 100 + i), 0);
	ck_assert_int_eq(msix_lend(&f.m, 3, 100 + MSIX_MAX_LENT), -ENOSPC);
	for (int i = 0; i < MSIX_MAX_LENT; i++)
		msix_unlend(&f.m, 100 + i);
	ck_assert_int_eq(msix_lend(&f.m, 3, 7), 0);
	msix_unlend(&f.m, 7);
	fake_destroy(&f);

	/* A transport without bind lends nothing. */
	pci_dev_init(&d, 1, 2, 0, 0, 0, 0);
	ck_assert_int_eq(pci_dev_set_bar(&d, 0, 0x4000, true, bar_io, &f), 0);
	ck_assert_int_eq(msix_init(&plain, &d, 2, 0, TABLE_OFF, PBA_OFF, &no_bind, &f), 0);
	ck_assert_int_eq(msix_lend(&plain, 0, 40), -ENOTSUP);
	msix_destroy(&plain);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("msix");
	TCase *tc = tcase_create("msix"), *routes = tcase_create("irq_routes");

	tcase_add_test(tc, capability);
	tcase_add_test(tc, table_read_write);
	tcase_add_test(tc, enable_unmask_update);
	tcase_add_test(tc, notify_and_pending);
	tcase_add_test(tc, function_mask);
	tcase_add_test(tc, pba_read_only_and_bad_accesses);
	tcase_add_test(tc, concurrent_notify_and_mask);
	tcase_add_test(tc, init_errors);
	tcase_add_test(tc, snapshot_round_trip);
	tcase_add_test(tc, snapshot_masked_disabled_and_pending);
	tcase_add_test(tc, snapshot_hostile_input);
	tcase_add_test(tc, lend_follows_liveness);
	suite_add_tcase(s, tc);
	tcase_add_test(routes, default_routes);
	tcase_add_test(routes, kvm_routes);
	tcase_add_test(routes, failed_routes_log_rationed);
	suite_add_tcase(s, routes);
	return unit_run(s);
}
