// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_snapshot: a snapshot's state file, as `vmm --restore` reads it: snap_parse()
 * (src/snapshot/format.c), then each section handed to the restore function of its kind, as
 * vm_restore_state() does: the legacy devices' vm_device_ops (serial, rtc, i8042, pm, ged, cf9,
 * boot-timer: src/devices/; pci-host: the host bridge of src/devices/pci.c), each into a fresh device,
 * and the KVM state (x86/vcpu_state.c: "vcpu-x86", "kvm-x86") with fd -1, so that a blob which
 * passes its checks reaches an ioctl that fails with EBADF.
 *
 * Input: a whole state file (format.h), or raw mode: when the first byte is 'R' (a state file starts
 * with 'V'), it is followed by a u16 section count and then the body; the target wraps a valid header
 * around it (magic, version, that count, the body's length and its CRC-32C), so that mutations of the
 * sections get past the checksum instead of all being refused by it.
 *
 * Checked beyond the sanitizers:
 * - an accepted file is what the writer makes of its sections: snap_begin/snap_add/snap_finish give
 *   the same bytes back (the reserved header word aside); names and kinds are 1..31 printable bytes,
 *   names unique, snap_find() finds each; a refusal comes with a message;
 * - a device restore returns 0 having read its bytes exactly, or -EINVAL with the reader marked bad;
 *   afterwards the device answers reads of its registers, filling each read's width and no more, and
 *   drives its interrupt line only to levels 0 and 1;
 * - a KVM restore returns -EINVAL with the reader marked bad (no ioctl), or fails in an ioctl (EBADF)
 *   only after the blob passed its checks.
 */
#include "bus.h"
#include "devices/boot_timer.h"
#include "devices/cf9.h"
#include "devices/ged.h"
#include "devices/i8042.h"
#include "devices/pci.h"
#include "devices/pm.h"
#include "devices/rtc.h"
#include "devices/serial.h"
#include "device.h"
#include "fuzz.h"
#include "irq.h"
#include "snapshot/format.h"
#include "x86/vcpu_state.h"

#include <errno.h>

static void irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque, (void)gsi;
	FUZZ_CHECK(level == 0 || level == 1);
}

static size_t be_write(void *opaque, const uint8_t *buf, size_t len)
{
	volatile uint8_t sink = 0;

	(void)opaque;
	for (size_t i = 0; i < len; i++)
		sink ^= buf[i];
	(void)sink;
	return len;
}

static void be_want_room(void *opaque, size_t n)
{
	(void)opaque, (void)n;
}

static int64_t clock_now(void *opaque)
{
	(void)opaque;
	return 1700000000; /* 2023-11-14 */
}

static void on_event(void *opaque)
{
	(void)opaque;
}

static void on_pm_event(void *opaque, enum pm_event ev)
{
	(void)opaque, (void)ev;
}

static void on_boot_mark(void *opaque, uint8_t value, uint64_t ns)
{
	(void)opaque, (void)value, (void)ns;
}

/* One access through a handler; a read must fill len bytes and no more. */
static void dev_access(bus_io_fn fn, void *dev, uint64_t off, uint32_t len, bool is_write, uint32_t value)
{
	uint8_t buf[8];

	memset(buf, 0xcc, sizeof(buf));
	if (is_write) {
		memcpy(buf, &value, len);
		fn(dev, off, buf, len, true);
		return;
	}
	fn(dev, off, buf, len, false);
	for (uint32_t i = len; i < sizeof(buf); i++)
		FUZZ_CHECK(buf[i] == 0xcc);
}

/* Byte reads of each register in [0, n) and one past, then wider reads at 0. */
static void read_all(bus_io_fn fn, void *dev, uint64_t n)
{
	for (uint64_t off = 0; off <= n; off++)
		dev_access(fn, dev, off, 1, false, 0);
	dev_access(fn, dev, 0, 2, false, 0);
	dev_access(fn, dev, 0, 4, false, 0);
}

/* The same on a bus (the PCI host bridge's ports and ECAM). */
static void bus_access(struct bus *b, uint64_t addr, uint32_t len, bool is_write, uint32_t value)
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

/* Restore ops from [p, p + n) copied to the heap (ASan sees a read past them); the contract checked. */
static void restore_dev(const struct vm_device_ops *ops, void *dev, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader in;
	int ret;

	FUZZ_CHECK(copy);
	if (n)
		memcpy(copy, p, n);
	sreader_init(&in, copy, n);
	ret = ops->restore(dev, &in);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK(ret ? !sr_ok(&in) : sr_done(&in));
	free(copy);
}

static void restore_serial(const uint8_t *p, size_t n)
{
	const struct irq_line irq = { .set = irq_set, .gsi = 4 };
	const struct serial_backend be = { .write = be_write, .want_room = be_want_room };
	struct serial *s = serial_create(&irq, &be);

	FUZZ_CHECK(s);
	restore_dev(&serial_device_ops, s, p, n);
	serial_tx_ready(s);
	read_all(serial_io, s, 8);
	dev_access(serial_io, s, 0, 1, true, 'x'); /* THR, or the divisor latch with DLAB set */
	dev_access(serial_io, s, 5, 1, false, 0);
	dev_access(serial_io, s, 2, 1, false, 0);
	FUZZ_CHECK(serial_receive(s, (const uint8_t *)"ok\r", 3) <= 3);
	read_all(serial_io, s, 8);
	serial_destroy(s);
}

static void restore_rtc(const uint8_t *p, size_t n)
{
	static const uint8_t regs[] = { 0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x32, 0x7f };
	struct rtc *r = rtc_create(clock_now, NULL);

	FUZZ_CHECK(r);
	restore_dev(&rtc_device_ops, r, p, n);
	dev_access(rtc_io, r, 1, 1, false, 0); /* the restored index */
	read_all(rtc_io, r, 2);
	for (unsigned i = 0; i < sizeof(regs); i++) {
		dev_access(rtc_io, r, 0, 1, true, regs[i]);
		dev_access(rtc_io, r, 1, 1, false, 0);
	}
	rtc_destroy(r);
}

static void restore_i8042(const uint8_t *p, size_t n)
{
	struct i8042 *k = i8042_create(on_event, NULL);

	FUZZ_CHECK(k);
	restore_dev(&i8042_device_ops, k, p, n);
	read_all(i8042_cmd_io, k, 1);
	read_all(i8042_data_io, k, 1);
	dev_access(i8042_cmd_io, k, 0, 1, false, 0);
	i8042_destroy(k);
}

static void restore_pm(const uint8_t *p, size_t n)
{
	struct pm *d = pm_create(on_pm_event, NULL);

	FUZZ_CHECK(d);
	restore_dev(&pm_device_ops, d, p, n);
	read_all(pm_io, d, PM_IO_LEN);
	pm_destroy(d);
}

static void restore_ged(const uint8_t *p, size_t n)
{
	const struct irq_line irq = { .set = irq_set, .gsi = GED_GSI };
	struct ged *g = ged_create(&irq);

	FUZZ_CHECK(g);
	restore_dev(&ged_device_ops, g, p, n);
	read_all(ged_io, g, GED_IO_LEN);
	ged_power_button(g);
	read_all(ged_io, g, GED_IO_LEN);
	ged_destroy(g);
}

static void restore_cf9(const uint8_t *p, size_t n)
{
	struct cf9 *c = cf9_create(on_event, NULL);

	FUZZ_CHECK(c);
	restore_dev(&cf9_device_ops, c, p, n);
	read_all(cf9_io, c, 1);
	cf9_destroy(c);
}

static void restore_boot_timer(const uint8_t *p, size_t n)
{
	struct boot_timer *t = boot_timer_create(on_boot_mark, NULL);

	FUZZ_CHECK(t);
	restore_dev(&boot_timer_device_ops, t, p, n);
	read_all(boot_timer_io, t, BOOT_TIMER_LEN);
	boot_timer_destroy(t);
}

static void pci_irq_set(void *opaque, unsigned gsi, int level)
{
	(void)opaque;
	FUZZ_CHECK(gsi >= PCI_INTX_GSI_BASE && gsi < PCI_INTX_GSI_BASE + PCI_INTX_GSIS);
	FUZZ_CHECK(level == 0 || level == 1);
}

struct pci_host {
	struct bus pio, mmio;
	struct pci_bus pb;
};

static void restore_pci_host(const uint8_t *p, size_t n)
{
	static const uint8_t regs[] = { 0x00, 0x04, 0x08, 0x0c, 0x10, 0x2c, 0x34, 0x3c, 0xfc };
	struct pci_host *h = calloc(1, sizeof(*h));

	FUZZ_CHECK(h);
	bus_init(&h->pio);
	bus_init(&h->mmio);
	FUZZ_CHECK(pci_bus_init(&h->pb, &h->pio, &h->mmio, 1ull << 36, pci_irq_set, NULL, &fuzz_log) == 0);
	restore_dev(&pci_host_bridge_device_ops, &h->pb, p, n);
	/* The restored latch, as the guest left it, then type-1 cycles and ECAM reads of 00.0 and 01.0. */
	bus_access(&h->pio, PCI_CONFIG_PORT, 4, false, 0);
	bus_access(&h->pio, PCI_CONFIG_PORT + 4, 4, false, 0);
	bus_access(&h->pio, PCI_CONFIG_PORT + 6, 2, false, 0);
	for (unsigned i = 0; i < sizeof(regs); i++) {
		bus_access(&h->pio, PCI_CONFIG_PORT, 4, true, 0x80000000u | regs[i]);
		bus_access(&h->pio, PCI_CONFIG_PORT + 4, 4, false, 0);
		bus_access(&h->mmio, PCI_ECAM_BASE + regs[i], 4, false, 0);
		bus_access(&h->mmio, PCI_ECAM_BASE + (1u << 15) + regs[i], 4, false, 0);
	}
	bus_access(&h->pio, PCI_CONFIG_PORT, 4, true, 0x80000000u | PCI_COMMAND);
	bus_access(&h->pio, PCI_CONFIG_PORT + 4, 2, true, 0x0007);
	bus_access(&h->pio, PCI_CONFIG_PORT + 4, 4, false, 0);
	pci_bus_destroy(&h->pb);
	bus_destroy(&h->mmio);
	bus_destroy(&h->pio);
	free(h);
}

/* A KVM state blob: refused before any ioctl, or failing in one (fd -1) only after passing its checks. */
static void restore_kvm(bool vcpu, const uint8_t *p, size_t n)
{
	uint8_t *copy = malloc(n ? n : 1);
	struct sreader in;
	int ret;

	FUZZ_CHECK(copy);
	if (n)
		memcpy(copy, p, n);
	sreader_init(&in, copy, n);
	ret = vcpu ? x86_vcpu_restore(-1, -1, &fuzz_log, &in) : x86_vm_restore(-1, &fuzz_log, &in);
	FUZZ_CHECK(ret <= 0);
	if (ret == -EINVAL)
		FUZZ_CHECK(!sr_ok(&in));
	else if (ret != -ENOMEM)
		FUZZ_CHECK(sr_ok(&in));
	free(copy);
}

/* The legacy devices by kind: each kind is its ops' own (a typo cannot leave one unfuzzed). */
static const struct {
	const struct vm_device_ops *ops;
	void (*restore)(const uint8_t *p, size_t n);
} kinds[] = {
	{ &serial_device_ops, restore_serial },
	{ &rtc_device_ops, restore_rtc },
	{ &i8042_device_ops, restore_i8042 },
	{ &pm_device_ops, restore_pm },
	{ &ged_device_ops, restore_ged },
	{ &cf9_device_ops, restore_cf9 },
	{ &boot_timer_device_ops, restore_boot_timer },
	{ &pci_host_bridge_device_ops, restore_pci_host },
};

static void restore_section(const struct snap_section *s)
{
	if (strcmp(s->kind, "vcpu-x86") == 0) {
		restore_kvm(true, s->data, s->len);
		return;
	}
	if (strcmp(s->kind, "kvm-x86") == 0) {
		restore_kvm(false, s->data, s->len);
		return;
	}
	for (unsigned i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		if (strcmp(s->kind, kinds[i].ops->kind) == 0) {
			kinds[i].restore(s->data, s->len);
			return;
		}
	}
}

static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > SNAP_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (s[i] < 0x21 || s[i] > 0x7e)
			return false;
	return true;
}

/* An accepted file: well-formed sections, and exactly what the writer makes of them. */
static void check_accepted(struct snap *s, const uint8_t *buf, size_t len)
{
	struct sbuf out;

	FUZZ_CHECK(s->n <= SNAP_MAX_SECTIONS);
	sbuf_init(&out);
	snap_begin(&out);
	for (unsigned i = 0; i < s->n; i++) {
		const struct snap_section *sec = &s->sec[i];

		FUZZ_CHECK(name_ok(sec->name) && name_ok(sec->kind));
		FUZZ_CHECK(!sec->used);
		FUZZ_CHECK(sec->data >= buf + SNAP_HEADER_SIZE && sec->len <= len &&
			   (size_t)(sec->data - buf) <= len - sec->len);
		FUZZ_CHECK(snap_find(s, sec->name) == sec);
		snap_add(&out, sec->name, sec->kind, sec->version, sec->data, sec->len);
	}
	FUZZ_CHECK(snap_finish(&out) == 0);
	FUZZ_CHECK(out.len == len);
	FUZZ_CHECK(memcmp(out.data, buf, 28) == 0);
	FUZZ_CHECK(memcmp(out.data + SNAP_HEADER_SIZE, buf + SNAP_HEADER_SIZE, len - SNAP_HEADER_SIZE) == 0);
	sbuf_free(&out);
}

/* Raw mode: a valid header (count from the input) around the body, in a buffer of exactly its size. */
static uint8_t *wrap_raw(const uint8_t *data, size_t size, size_t *len)
{
	struct fz f = fz_init(data + 1, size - 1);
	uint16_t count = fz_u16(&f);
	size_t body = fz_left(&f);
	uint8_t *buf = malloc(SNAP_HEADER_SIZE + body);
	uint32_t crc = snap_crc32c(0, f.p, body);

	FUZZ_CHECK(buf);
	memcpy(buf, SNAP_MAGIC, 8);
	for (int i = 0; i < 4; i++) {
		buf[8 + i] = (uint8_t)(SNAP_VERSION >> (8 * i));
		buf[12 + i] = (uint8_t)(count >> (8 * i));
		buf[24 + i] = (uint8_t)(crc >> (8 * i));
		buf[28 + i] = 0;
	}
	for (int i = 0; i < 8; i++)
		buf[16 + i] = (uint8_t)((uint64_t)body >> (8 * i));
	if (body)
		memcpy(buf + SNAP_HEADER_SIZE, f.p, body);
	*len = SNAP_HEADER_SIZE + body;
	return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct snap s;
	uint8_t *owned = NULL;
	const uint8_t *buf = data;
	size_t len = size;
	char err[256];
	int ret;

	if (size > SNAP_MAX_STATE)
		return 0;
	if (size >= 1 && data[0] == 'R') {
		owned = wrap_raw(data, size, &len);
		buf = owned;
	}
	err[0] = 0;
	ret = snap_parse(buf, len, &s, err, sizeof(err));
	if (ret) {
		FUZZ_CHECK(ret == -EINVAL);
		FUZZ_CHECK(err[0] != 0 && strlen(err) < sizeof(err));
	} else {
		check_accepted(&s, buf, len);
		for (unsigned i = 0; i < s.n; i++)
			restore_section(&s.sec[i]);
	}
	free(owned);
	return 0;
}
