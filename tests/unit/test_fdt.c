// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 device tree parsed back with libfdt: every node and property with its exact value for 1, 2 and 64
 * vCPUs and for other addresses, what goes when the ITS, the initrd, the 64-bit window or the seed is absent, the
 * interrupt-map's swizzle by hand, hostile configs, and every buffer size up to the one needed. With FDT_DUMP=path
 * in the environment, writes the 2-vCPU tree there (for dtc: the unit.fdt-dtc test) instead of running the suite.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libfdt.h>

#include "arm64/fdt.h"
#include "arm64/layout.h"
#include "unit.h"

#define MiB (1ull << 20)
#define GiB (1ull << 30)
#define BUF_LEN (64 * 1024)
#define HI(x) ((uint32_t)((uint64_t)(x) >> 32))
#define LO(x) ((uint32_t)(x))

/* The binding constants, written out here rather than shared with fdt.c, so a wrong one there shows. */
#define SPI 0
#define PPI 1
#define LEVEL_HIGH 4

/* A config and the MPIDRs it points at (never copy one: c.mpidr points into it). */
struct tcfg {
	struct arm64_fdt_config c;
	uint64_t mpidr[ARM64_MAX_CPUS + 1];
};

/* MPIDR_EL1 as KVM resets it for vCPU i: 16 vCPUs per Aff1 cluster, and bit 31 (RES1) set. */
static uint64_t kvm_mpidr(unsigned i)
{
	return (1ull << 31) | (uint64_t)((i >> 12) & 0xff) << 16 | (uint64_t)((i >> 4) & 0xff) << 8 | (i & 0xf);
}

/* layout.h's machine with every optional part present. */
static void defaults(struct tcfg *t, unsigned ncpus)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i <= ARM64_MAX_CPUS; i++)
		t->mpidr[i] = kvm_mpidr(i);
	t->c = (struct arm64_fdt_config){
		.ncpus = ncpus,
		.mpidr = t->mpidr,
		.ram_base = ARM64_RAM_BASE,
		.ram_size = 512 * MiB,
		.cmdline = "console=ttyS0 earlycon panic=-1",
		.initrd_start = ARM64_RAM_BASE + 256 * MiB,
		.initrd_size = 0x123456,
		.gicd_base = ARM64_GICD_BASE,
		.gicd_size = ARM64_GICD_SIZE,
		.gicr_base = ARM64_GICR_BASE,
		.gicr_size = ncpus * ARM64_GICR_STRIDE,
		.its_base = ARM64_ITS_BASE,
		.its_size = ARM64_ITS_SIZE,
		.uart_base = ARM64_UART_BASE,
		.uart_size = ARM64_UART_SIZE,
		.uart_spi = ARM64_UART_SPI,
		.rtc_base = ARM64_RTC_BASE,
		.rtc_size = ARM64_RTC_SIZE,
		.rtc_spi = ARM64_RTC_SPI,
		.pci_ecam_base = ARM64_PCI_ECAM_BASE,
		.pci_ecam_size = ARM64_PCI_ECAM_SIZE,
		.pci_mmio32_base = ARM64_PCI_MMIO32_BASE,
		.pci_mmio32_size = ARM64_PCI_MMIO32_SIZE,
		.pci_mmio64_base = 512 * GiB,
		.pci_mmio64_size = 512 * GiB,
		.pci_intx_spi = ARM64_PCI_INTX_SPI,
		.pci_slots = 4,
		.rng_seed = 0x0123456789abcdefull,
	};
}

/* Build into a fresh BUF_LEN buffer (the caller frees it) and check the result is a whole, sound tree. */
static void *build(const struct arm64_fdt_config *c)
{
	void *fdt = malloc(BUF_LEN);

	ck_assert_ptr_nonnull(fdt);
	ck_assert_int_eq(arm64_fdt_build(c, fdt, BUF_LEN), 0);
	ck_assert_int_eq(fdt_check_header(fdt), 0);
	ck_assert_uint_le(fdt_totalsize(fdt), BUF_LEN);
	ck_assert_int_eq(fdt_check_full(fdt, fdt_totalsize(fdt)), 0);
	ck_assert_int_eq(fdt_num_mem_rsv(fdt), 0);
	return fdt;
}

/* --- reading it back --- */

static int node(const void *fdt, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int node(const void *fdt, const char *fmt, ...)
{
	char path[128];
	va_list ap;
	int off;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	off = fdt_path_offset(fdt, path);
	ck_assert_msg(off >= 0, "no node %s (%s)", path, fdt_strerror(off));
	return off;
}

static const char *name_of(const void *fdt, int node_off)
{
	const char *name = fdt_get_name(fdt, node_off, NULL);

	return name && *name ? name : "/";
}

static const uint8_t *prop_len(const void *fdt, int node_off, const char *name, int len)
{
	int got = -1;
	const uint8_t *p = fdt_getprop(fdt, node_off, name, &got);

	ck_assert_msg(p != NULL, "%s: no %s", name_of(fdt, node_off), name);
	ck_assert_msg(got == len, "%s: %s is %d bytes, not %d", name_of(fdt, node_off), name, got, len);
	return p;
}

static void expect_absent(const void *fdt, int node_off, const char *name)
{
	ck_assert_msg(!fdt_getprop(fdt, node_off, name, NULL), "%s: unexpected %s", name_of(fdt, node_off), name);
}

static void expect_bytes(const void *fdt, int node_off, const char *name, const void *v, int len)
{
	const uint8_t *p = prop_len(fdt, node_off, name, len);

	ck_assert_msg(!memcmp(p, v, (size_t)len), "%s: %s differs", name_of(fdt, node_off), name);
}

static void expect_str(const void *fdt, int node_off, const char *name, const char *s)
{
	expect_bytes(fdt, node_off, name, s, (int)strlen(s) + 1);
}

static void expect_empty(const void *fdt, int node_off, const char *name)
{
	prop_len(fdt, node_off, name, 0);
}

static uint32_t get_u32(const void *fdt, int node_off, const char *name)
{
	return fdt32_ld((const fdt32_t *)prop_len(fdt, node_off, name, 4));
}

static void expect_u32(const void *fdt, int node_off, const char *name, uint32_t v)
{
	uint32_t got = get_u32(fdt, node_off, name);

	ck_assert_msg(got == v, "%s: %s = %#x, not %#x", name_of(fdt, node_off), name, got, v);
}

static void expect_u64(const void *fdt, int node_off, const char *name, uint64_t v)
{
	uint64_t got = fdt64_ld((const fdt64_t *)prop_len(fdt, node_off, name, 8));

	ck_assert_msg(got == v, "%s: %s = %#" PRIx64 ", not %#" PRIx64, name_of(fdt, node_off), name, got, v);
}

static void expect_cells(const void *fdt, int node_off, const char *name, const uint32_t *v, size_t n)
{
	const uint8_t *p = prop_len(fdt, node_off, name, (int)(n * 4));

	for (size_t i = 0; i < n; i++) {
		uint32_t got = fdt32_ld((const fdt32_t *)(p + 4 * i));

		ck_assert_msg(got == v[i], "%s: %s cell %zu = %#x, not %#x", name_of(fdt, node_off), name, i, got,
			      v[i]);
	}
}

#define EXPECT_CELLS(fdt, node_off, name, ...)                                       \
	expect_cells(fdt, node_off, name, (const uint32_t[]){ __VA_ARGS__ },            \
		     sizeof((const uint32_t[]){ __VA_ARGS__ }) / sizeof(uint32_t))

/* reg = <base size> in 2 + 2 cells. */
static void expect_reg(const void *fdt, int node_off, uint64_t base, uint64_t size)
{
	EXPECT_CELLS(fdt, node_off, "reg", HI(base), LO(base), HI(size), LO(size));
}

/* A property holding one phandle: it must lead to target. */
static void expect_ref(const void *fdt, int node_off, const char *name, int target)
{
	uint32_t ph = get_u32(fdt, node_off, name);

	ck_assert_int_eq(fdt_node_offset_by_phandle(fdt, ph), target);
}

/* Exactly n properties: nothing beyond what the checks looked at. */
static void expect_nprops(const void *fdt, int node_off, int n)
{
	int count = 0, off;

	for (off = fdt_first_property_offset(fdt, node_off); off >= 0; off = fdt_next_property_offset(fdt, off))
		count++;
	ck_assert_int_eq(off, -FDT_ERR_NOTFOUND);
	ck_assert_msg(count == n, "%s has %d properties, not %d", name_of(fdt, node_off), count, n);
}

static int nsubnodes(const void *fdt, int node_off)
{
	int count = 0, off;

	fdt_for_each_subnode(off, fdt, node_off)
		count++;
	return count;
}

/* --- the whole tree against its config --- */

static void check_root(const void *fdt, const struct arm64_fdt_config *c)
{
	int root = node(fdt, "/"), gic = node(fdt, "/interrupt-controller@%" PRIx64, c->gicd_base);

	expect_str(fdt, root, "compatible", "linux,dummy-virt");
	expect_str(fdt, root, "model", "vmm arm64 virtual machine");
	expect_u32(fdt, root, "#address-cells", 2);
	expect_u32(fdt, root, "#size-cells", 2);
	expect_ref(fdt, root, "interrupt-parent", gic);
	expect_nprops(fdt, root, 5);
	/* memory cpus psci timer interrupt-controller serial apb-pclk rtc pcie chosen aliases */
	ck_assert_int_eq(nsubnodes(fdt, root), 11);

	int mem = node(fdt, "/memory@%" PRIx64, c->ram_base);

	expect_str(fdt, mem, "device_type", "memory");
	expect_reg(fdt, mem, c->ram_base, c->ram_size);
	expect_nprops(fdt, mem, 2);

	int psci = node(fdt, "/psci");
	static const char psci_compat[] = "arm,psci-1.0\0arm,psci-0.2";

	expect_bytes(fdt, psci, "compatible", psci_compat, sizeof(psci_compat));
	ck_assert_int_eq(fdt_stringlist_count(fdt, psci, "compatible"), 2);
	expect_str(fdt, psci, "method", "hvc");
	expect_nprops(fdt, psci, 2);

	int timer = node(fdt, "/timer");

	expect_str(fdt, timer, "compatible", "arm,armv8-timer");
	EXPECT_CELLS(fdt, timer, "interrupts", PPI, 13, LEVEL_HIGH, PPI, 14, LEVEL_HIGH, PPI, 11, LEVEL_HIGH, PPI, 10,
		     LEVEL_HIGH);
	expect_empty(fdt, timer, "always-on");
	expect_nprops(fdt, timer, 3);
}

static void check_cpus(const void *fdt, const struct arm64_fdt_config *c)
{
	int cpus = node(fdt, "/cpus"), cpu;
	unsigned i = 0;

	expect_u32(fdt, cpus, "#address-cells", 2);
	expect_u32(fdt, cpus, "#size-cells", 0);
	expect_nprops(fdt, cpus, 2);
	ck_assert_int_eq(nsubnodes(fdt, cpus), (int)c->ncpus);
	/* In vCPU order: Linux numbers them as it meets them, and vCPU 0 boots. */
	fdt_for_each_subnode(cpu, fdt, cpus) {
		uint64_t aff = c->mpidr[i] & 0xff00ffffffull;

		ck_assert_int_eq(cpu, node(fdt, "/cpus/cpu@%" PRIx64, aff));
		expect_str(fdt, cpu, "device_type", "cpu");
		expect_str(fdt, cpu, "compatible", "arm,armv8");
		expect_str(fdt, cpu, "enable-method", "psci");
		EXPECT_CELLS(fdt, cpu, "reg", HI(aff), LO(aff));
		expect_nprops(fdt, cpu, 4);
		i++;
	}
	ck_assert_uint_eq(i, c->ncpus);
}

/* The GIC and its ITS; returns the ITS node or -1 without one. */
static int check_gic(const void *fdt, const struct arm64_fdt_config *c)
{
	int gic = node(fdt, "/interrupt-controller@%" PRIx64, c->gicd_base), its = -1;

	expect_str(fdt, gic, "compatible", "arm,gic-v3");
	expect_u32(fdt, gic, "#interrupt-cells", 3);
	expect_empty(fdt, gic, "interrupt-controller");
	expect_u32(fdt, gic, "#address-cells", 2);
	expect_u32(fdt, gic, "#size-cells", 2);
	expect_empty(fdt, gic, "ranges");
	EXPECT_CELLS(fdt, gic, "reg", HI(c->gicd_base), LO(c->gicd_base), HI(c->gicd_size), LO(c->gicd_size),
		     HI(c->gicr_base), LO(c->gicr_base), HI(c->gicr_size), LO(c->gicr_size));
	EXPECT_CELLS(fdt, gic, "interrupts", PPI, 9, LEVEL_HIGH);
	ck_assert_int_eq(fdt_node_offset_by_phandle(fdt, get_u32(fdt, gic, "phandle")), gic);
	expect_nprops(fdt, gic, 9);
	if (!c->its_size) {
		ck_assert_int_eq(nsubnodes(fdt, gic), 0);
		return -1;
	}
	ck_assert_int_eq(nsubnodes(fdt, gic), 1);
	its = node(fdt, "/interrupt-controller@%" PRIx64 "/msi-controller@%" PRIx64, c->gicd_base, c->its_base);
	expect_str(fdt, its, "compatible", "arm,gic-v3-its");
	expect_empty(fdt, its, "msi-controller");
	expect_u32(fdt, its, "#msi-cells", 1);
	expect_reg(fdt, its, c->its_base, c->its_size);
	ck_assert_int_eq(fdt_node_offset_by_phandle(fdt, get_u32(fdt, its, "phandle")), its);
	ck_assert_uint_ne(get_u32(fdt, its, "phandle"), get_u32(fdt, gic, "phandle"));
	expect_nprops(fdt, its, 5);
	return its;
}

/* The UART, the RTC and its clock; returns the UART node. */
static int check_devices(const void *fdt, const struct arm64_fdt_config *c)
{
	int uart = node(fdt, "/serial@%" PRIx64, c->uart_base);

	expect_str(fdt, uart, "compatible", "ns16550a");
	expect_reg(fdt, uart, c->uart_base, c->uart_size);
	expect_u32(fdt, uart, "clock-frequency", 1843200);
	EXPECT_CELLS(fdt, uart, "interrupts", SPI, c->uart_spi, LEVEL_HIGH);
	expect_nprops(fdt, uart, 4);

	int clk = node(fdt, "/apb-pclk");

	expect_str(fdt, clk, "compatible", "fixed-clock");
	expect_u32(fdt, clk, "#clock-cells", 0);
	expect_u32(fdt, clk, "clock-frequency", 24000000);
	expect_str(fdt, clk, "clock-output-names", "clk24mhz");
	ck_assert_int_eq(fdt_node_offset_by_phandle(fdt, get_u32(fdt, clk, "phandle")), clk);
	expect_nprops(fdt, clk, 5);

	int rtc = node(fdt, "/rtc@%" PRIx64, c->rtc_base);
	static const char rtc_compat[] = "arm,pl031\0arm,primecell";

	expect_bytes(fdt, rtc, "compatible", rtc_compat, sizeof(rtc_compat));
	expect_reg(fdt, rtc, c->rtc_base, c->rtc_size);
	EXPECT_CELLS(fdt, rtc, "interrupts", SPI, c->rtc_spi, LEVEL_HIGH);
	expect_ref(fdt, rtc, "clocks", clk);
	expect_str(fdt, rtc, "clock-names", "apb_pclk");
	expect_nprops(fdt, rtc, 5);
	return uart;
}

static void check_pci(const void *fdt, const struct arm64_fdt_config *c, int its)
{
	int pci = node(fdt, "/pcie@%" PRIx64, c->pci_ecam_base);
	int gic = node(fdt, "/interrupt-controller@%" PRIx64, c->gicd_base);
	uint32_t gic_ph = get_u32(fdt, gic, "phandle");
	size_t n = (size_t)c->pci_slots * 4 * 10, k = 0;
	uint32_t *map = malloc(n * sizeof(*map));

	expect_str(fdt, pci, "compatible", "pci-host-ecam-generic");
	expect_str(fdt, pci, "device_type", "pci");
	expect_reg(fdt, pci, c->pci_ecam_base, c->pci_ecam_size);
	EXPECT_CELLS(fdt, pci, "bus-range", 0, (uint32_t)(c->pci_ecam_size / MiB - 1));
	expect_u32(fdt, pci, "#address-cells", 3);
	expect_u32(fdt, pci, "#size-cells", 2);
	expect_u32(fdt, pci, "#interrupt-cells", 1);
	if (c->pci_mmio64_size)
		EXPECT_CELLS(fdt, pci, "ranges", 0x02000000, HI(c->pci_mmio32_base), LO(c->pci_mmio32_base),
			     HI(c->pci_mmio32_base), LO(c->pci_mmio32_base), HI(c->pci_mmio32_size),
			     LO(c->pci_mmio32_size), 0x03000000, HI(c->pci_mmio64_base), LO(c->pci_mmio64_base),
			     HI(c->pci_mmio64_base), LO(c->pci_mmio64_base), HI(c->pci_mmio64_size),
			     LO(c->pci_mmio64_size));
	else
		EXPECT_CELLS(fdt, pci, "ranges", 0x02000000, HI(c->pci_mmio32_base), LO(c->pci_mmio32_base),
			     HI(c->pci_mmio32_base), LO(c->pci_mmio32_base), HI(c->pci_mmio32_size),
			     LO(c->pci_mmio32_size));
	expect_empty(fdt, pci, "dma-coherent");
	expect_u32(fdt, pci, "linux,pci-domain", 0);
	expect_absent(fdt, pci, "msi-parent");
	if (its >= 0) {
		uint32_t its_ph = get_u32(fdt, its, "phandle");

		EXPECT_CELLS(fdt, pci, "msi-map", 0, its_ph, 0, 0x10000);
		ck_assert_int_eq(fdt_node_offset_by_phandle(fdt, its_ph), its);
	} else {
		expect_absent(fdt, pci, "msi-map");
	}
	EXPECT_CELLS(fdt, pci, "interrupt-map-mask", 0xf800, 0, 0, 7);
	ck_assert_ptr_nonnull(map);
	for (uint32_t d = 0; d < c->pci_slots; d++) {
		for (uint32_t p = 0; p < 4; p++) {
			const uint32_t e[] = { d << 11, 0, 0, p + 1, gic_ph, 0, 0, SPI, c->pci_intx_spi + (d + p) % 4,
					       LEVEL_HIGH };

			memcpy(map + k, e, sizeof(e));
			k += 10;
		}
	}
	expect_cells(fdt, pci, "interrupt-map", map, n);
	free(map);
	expect_nprops(fdt, pci, its >= 0 ? 13 : 12);
	ck_assert_int_eq(nsubnodes(fdt, pci), 0);
}

static void check_chosen(const void *fdt, const struct arm64_fdt_config *c, int uart)
{
	int chosen = node(fdt, "/chosen"), aliases = node(fdt, "/aliases");
	const char *path = fdt_getprop(fdt, chosen, "stdout-path", NULL);
	char want[64];
	static const uint8_t seed[] = { 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef };

	expect_str(fdt, chosen, "bootargs", c->cmdline);
	snprintf(want, sizeof(want), "/serial@%" PRIx64, c->uart_base);
	expect_str(fdt, chosen, "stdout-path", want);
	ck_assert_int_eq(fdt_path_offset(fdt, path), uart);
	if (c->initrd_size) {
		expect_u64(fdt, chosen, "linux,initrd-start", c->initrd_start);
		expect_u64(fdt, chosen, "linux,initrd-end", c->initrd_start + c->initrd_size);
	} else {
		expect_absent(fdt, chosen, "linux,initrd-start");
		expect_absent(fdt, chosen, "linux,initrd-end");
	}
	if (c->rng_seed) {
		/* The tests' seed, byte by byte, so a byte-order slip shows. */
		ck_assert_uint_eq(c->rng_seed, 0x0123456789abcdefull);
		expect_bytes(fdt, chosen, "rng-seed", seed, 8);
		expect_u64(fdt, chosen, "kaslr-seed", c->rng_seed);
	} else {
		expect_absent(fdt, chosen, "rng-seed");
		expect_absent(fdt, chosen, "kaslr-seed");
	}
	expect_nprops(fdt, chosen, 2 + (c->initrd_size ? 2 : 0) + (c->rng_seed ? 2 : 0));
	expect_str(fdt, aliases, "serial0", want);
	ck_assert_int_eq(fdt_path_offset(fdt, "serial0"), uart); /* libfdt resolves an alias as a path */
	expect_nprops(fdt, aliases, 1);
}

static void check_tree(const void *fdt, const struct arm64_fdt_config *c)
{
	int its, uart;

	check_root(fdt, c);
	check_cpus(fdt, c);
	its = check_gic(fdt, c);
	uart = check_devices(fdt, c);
	check_pci(fdt, c, its);
	check_chosen(fdt, c, uart);
}

static void build_and_check(const struct arm64_fdt_config *c)
{
	void *fdt = build(c);

	check_tree(fdt, c);
	free(fdt);
}

/* --- tests --- */

START_TEST(tree_1cpu)
{
	struct tcfg t;

	defaults(&t, 1);
	build_and_check(&t.c);
}
END_TEST

START_TEST(tree_2cpus)
{
	struct tcfg t;
	void *fdt;

	defaults(&t, 2);
	fdt = build(&t.c);
	check_tree(fdt, &t.c);
	/* The literal names, not only ones computed like fdt.c computes them. */
	node(fdt, "/cpus/cpu@0");
	node(fdt, "/cpus/cpu@1");
	node(fdt, "/memory@40000000");
	node(fdt, "/interrupt-controller@8000000/msi-controller@8080000");
	node(fdt, "/serial@9000000");
	node(fdt, "/rtc@9010000");
	node(fdt, "/pcie@3f000000");
	expect_str(fdt, node(fdt, "/chosen"), "stdout-path", "/serial@9000000");
	EXPECT_CELLS(fdt, node(fdt, "/pcie@3f000000"), "bus-range", 0, 0);
	free(fdt);
}
END_TEST

START_TEST(tree_64cpus)
{
	struct tcfg t;
	void *fdt;

	defaults(&t, ARM64_MAX_CPUS);
	fdt = build(&t.c);
	check_tree(fdt, &t.c);
	/* Past 16 the unit address is the affinity, not the index: vCPU 17 is Aff1 1, Aff0 1. */
	EXPECT_CELLS(fdt, node(fdt, "/cpus/cpu@101"), "reg", 0, 0x101);
	EXPECT_CELLS(fdt, node(fdt, "/cpus/cpu@30f"), "reg", 0, 0x30f);
	ck_assert_int_eq(fdt_path_offset(fdt, "/cpus/cpu@10"), -FDT_ERR_NOTFOUND);
	free(fdt);
}
END_TEST

/* Every address moved, Aff3 and non-affinity MPIDR bits set, 256 buses, 32 slots, SPIs at the ends. */
START_TEST(other_addresses)
{
	struct tcfg t;
	void *fdt;

	defaults(&t, 3);
	t.mpidr[0] = 0x7f00000000ull | 1ull << 31 | 1ull << 30 | 1ull << 24; /* Aff3 0x7f; U, MT: not affinity */
	t.mpidr[1] = 0x0100020304ull;
	t.mpidr[2] = 0xff00ffffffull | 0xffull << 56;
	t.c.ram_base = 8 * GiB;
	t.c.ram_size = 3 * GiB + 4096;
	t.c.cmdline = "";
	t.c.initrd_start = t.c.ram_base + t.c.ram_size - 4096;
	t.c.initrd_size = 4096; /* the last page of RAM */
	t.c.gicd_base = 0x2f000000;
	t.c.gicr_base = 0x2f100000;
	t.c.gicr_size = 4 * ARM64_GICR_STRIDE; /* room for more than ncpus is fine */
	t.c.its_base = 0x2f020000;
	t.c.uart_base = 0x1c090000;
	t.c.uart_spi = 983;
	t.c.rtc_base = 0x1c170000;
	t.c.rtc_spi = 0;
	t.c.pci_ecam_base = 64 * GiB;
	t.c.pci_ecam_size = 256 * MiB;
	t.c.pci_mmio32_base = 0x80000000;
	t.c.pci_mmio32_size = 0x80000000; /* up to the last byte below 4 GiB */
	t.c.pci_mmio64_base = 0xffff000000000000ull;
	t.c.pci_mmio64_size = 0x0001000000000000ull; /* up to the last byte of the address space */
	t.c.pci_intx_spi = 984; /* INTD on the last SPI, 987 */
	t.c.pci_slots = 32;
	fdt = build(&t.c);
	check_tree(fdt, &t.c);
	EXPECT_CELLS(fdt, node(fdt, "/cpus/cpu@7f00000000"), "reg", 0x7f, 0);
	EXPECT_CELLS(fdt, node(fdt, "/cpus/cpu@100020304"), "reg", 0x1, 0x00020304);
	EXPECT_CELLS(fdt, node(fdt, "/cpus/cpu@ff00ffffff"), "reg", 0xff, 0x00ffffff);
	EXPECT_CELLS(fdt, node(fdt, "/pcie@1000000000"), "bus-range", 0, 255);
	expect_str(fdt, node(fdt, "/chosen"), "stdout-path", "/serial@1c090000");
	free(fdt);
}
END_TEST

START_TEST(without_its)
{
	struct tcfg t;
	void *fdt;
	int gic;

	defaults(&t, 2);
	t.c.its_size = 0;
	t.c.its_base = t.c.gicd_base; /* ignored without a size: no overlap */
	t.c.uart_spi = 987;           /* the last SPI */
	fdt = build(&t.c);
	check_tree(fdt, &t.c);
	gic = node(fdt, "/interrupt-controller@8000000");
	ck_assert_int_eq(fdt_first_subnode(fdt, gic), -FDT_ERR_NOTFOUND);
	expect_absent(fdt, node(fdt, "/pcie@3f000000"), "msi-map");
	expect_absent(fdt, node(fdt, "/pcie@3f000000"), "msi-parent");
	ck_assert_int_eq(fdt_node_offset_by_compatible(fdt, -1, "arm,gic-v3-its"), -FDT_ERR_NOTFOUND);
	free(fdt);
}
END_TEST

START_TEST(without_initrd_seed_or_mmio64)
{
	struct tcfg t;
	void *fdt;
	int chosen;

	defaults(&t, 2);
	t.c.initrd_size = 0;
	t.c.initrd_start = 0; /* ignored without a size */
	t.c.rng_seed = 0;
	t.c.pci_mmio64_size = 0;
	t.c.pci_mmio64_base = t.c.ram_base; /* likewise */
	fdt = build(&t.c);
	check_tree(fdt, &t.c);
	chosen = node(fdt, "/chosen");
	expect_absent(fdt, chosen, "linux,initrd-start");
	expect_absent(fdt, chosen, "linux,initrd-end");
	expect_absent(fdt, chosen, "rng-seed");
	expect_absent(fdt, chosen, "kaslr-seed");
	/* One ranges entry: 3 + 2 + 2 cells. */
	prop_len(fdt, node(fdt, "/pcie@3f000000"), "ranges", 7 * 4);
	free(fdt);
}
END_TEST

/* The swizzle written out by hand for 4 slots on SPIs 3..6, entry by entry. */
START_TEST(interrupt_map_by_hand)
{
	struct tcfg t;
	void *fdt;
	uint32_t g;
	int pci;

	defaults(&t, 1);
	fdt = build(&t.c);
	g = get_u32(fdt, node(fdt, "/interrupt-controller@8000000"), "phandle");
	pci = node(fdt, "/pcie@3f000000");
	EXPECT_CELLS(fdt, pci, "interrupt-map",
		     0x0000, 0, 0, 1, g, 0, 0, SPI, 3, LEVEL_HIGH, /* device 0: INTA..INTD -> 3 4 5 6 */
		     0x0000, 0, 0, 2, g, 0, 0, SPI, 4, LEVEL_HIGH,
		     0x0000, 0, 0, 3, g, 0, 0, SPI, 5, LEVEL_HIGH,
		     0x0000, 0, 0, 4, g, 0, 0, SPI, 6, LEVEL_HIGH,
		     0x0800, 0, 0, 1, g, 0, 0, SPI, 4, LEVEL_HIGH, /* device 1: 4 5 6 3 */
		     0x0800, 0, 0, 2, g, 0, 0, SPI, 5, LEVEL_HIGH,
		     0x0800, 0, 0, 3, g, 0, 0, SPI, 6, LEVEL_HIGH,
		     0x0800, 0, 0, 4, g, 0, 0, SPI, 3, LEVEL_HIGH,
		     0x1000, 0, 0, 1, g, 0, 0, SPI, 5, LEVEL_HIGH, /* device 2: 5 6 3 4 */
		     0x1000, 0, 0, 2, g, 0, 0, SPI, 6, LEVEL_HIGH,
		     0x1000, 0, 0, 3, g, 0, 0, SPI, 3, LEVEL_HIGH,
		     0x1000, 0, 0, 4, g, 0, 0, SPI, 4, LEVEL_HIGH,
		     0x1800, 0, 0, 1, g, 0, 0, SPI, 6, LEVEL_HIGH, /* device 3: 6 3 4 5 */
		     0x1800, 0, 0, 2, g, 0, 0, SPI, 3, LEVEL_HIGH,
		     0x1800, 0, 0, 3, g, 0, 0, SPI, 4, LEVEL_HIGH,
		     0x1800, 0, 0, 4, g, 0, 0, SPI, 5, LEVEL_HIGH);
	free(fdt);
}
END_TEST

/* Each way a config can make no sense, one at a time on an otherwise good 2-vCPU config. */
static void break_config(struct tcfg *t, int k)
{
	struct arm64_fdt_config *c = &t->c;

	switch (k) {
	case 0: c->ncpus = 0; break;
	case 1: c->ncpus = ARM64_MAX_CPUS + 1; c->gicr_size = (ARM64_MAX_CPUS + 1) * ARM64_GICR_STRIDE; break;
	case 2: c->cmdline = NULL; break;
	case 3: c->mpidr = NULL; break;
	case 4: c->ram_size = 0; break;
	case 5: t->mpidr[1] = t->mpidr[0] | 1ull << 30; break; /* one affinity, differing outside it */
	case 6: c->gicr_size = ARM64_GICR_STRIDE; break;      /* one redistributor for two vCPUs */
	case 7: c->gicr_base = c->gicd_base + 0x8000; break;
	case 8: c->rtc_base = c->uart_base; break;
	case 9: c->pci_mmio32_size += 0x20000; break;         /* into the ECAM */
	case 10: c->pci_mmio64_base = c->ram_base + c->ram_size - 1; break;
	case 11: c->its_base = c->gicr_base + c->gicr_size - 0x10000; break;
	case 12: c->pci_mmio64_base = UINT64_MAX - 0xfff; c->pci_mmio64_size = 0x2000; break;
	case 13: c->pci_mmio32_base = 0xffff0000; c->pci_mmio32_size = 0x20000; break; /* past 4 GiB */
	case 14: c->pci_ecam_size = MiB + MiB / 2; break;
	case 15: c->pci_ecam_base = 64 * GiB; c->pci_ecam_size = 257 * MiB; break;
	case 16: c->pci_ecam_size = 0; break;
	case 17: c->pci_slots = 0; break;
	case 18: c->pci_slots = 33; break;
	case 19: c->rtc_spi = c->uart_spi; break;
	case 20: c->uart_spi = c->pci_intx_spi + 3; break;
	case 21: c->rtc_spi = c->pci_intx_spi; break;
	case 22: c->rtc_spi = 988; break;
	case 23: c->pci_intx_spi = 985; break;
	case 24: c->initrd_start = c->ram_base + c->ram_size - 0x1000; c->initrd_size = 0x1001; break;
	case 25: c->initrd_start = c->ram_base - 1; break;
	case 26: c->initrd_start = UINT64_MAX - 10; c->initrd_size = 100; break;
	case 27: c->uart_size = 0; break;
	case 28: c->gicd_size = 0; break;
	case 29: c->rtc_size = 0; break;
	case 30: c->pci_mmio32_size = 0; break;
	case 31: c->ram_base = UINT64_MAX - MiB; break;       /* wraps */
	case 32: c->uart_spi = 1000; break;
	}
}
#define NBREAKS 33

START_TEST(nonsense_configs)
{
	uint64_t *buf = malloc(BUF_LEN);
	struct tcfg t;

	ck_assert_ptr_nonnull(buf);
	for (int k = 0; k < NBREAKS; k++) {
		defaults(&t, 2);
		break_config(&t, k);
		ck_assert_msg(arm64_fdt_build(&t.c, buf, BUF_LEN) == -EINVAL, "break %d accepted", k);
	}
	defaults(&t, 2);
	ck_assert_int_eq(arm64_fdt_build(NULL, buf, BUF_LEN), -EINVAL);
	ck_assert_int_eq(arm64_fdt_build(&t.c, NULL, BUF_LEN), -EINVAL);
	ck_assert_int_eq(arm64_fdt_build(&t.c, (uint8_t *)buf + 4, BUF_LEN - 4), -EINVAL); /* not 8-aligned */
	/* And the good config still builds after all that. */
	ck_assert_int_eq(arm64_fdt_build(&t.c, buf, BUF_LEN), 0);
	free(buf);
}
END_TEST

START_TEST(huge_cmdline)
{
	size_t n = 100 * 1024, big = ARM64_FDT_MAX + 4096;
	char *cmdline = malloc(big + 1);
	void *buf = malloc(2 * big);
	struct tcfg t;

	ck_assert_ptr_nonnull(cmdline);
	ck_assert_ptr_nonnull(buf);
	memset(cmdline, 'x', big);
	cmdline[n] = '\0';
	defaults(&t, 2);
	t.c.cmdline = cmdline;
	ck_assert_int_eq(arm64_fdt_build(&t.c, buf, 64 * 1024), -ENOSPC);
	/* Room enough, it is only a long string (Linux keeps the first COMMAND_LINE_SIZE bytes). */
	ck_assert_int_eq(arm64_fdt_build(&t.c, buf, 256 * 1024), 0);
	expect_str(buf, node(buf, "/chosen"), "bootargs", cmdline);
	/* Past what the guest accepts, however big the buffer: the string alone, or with the rest of the tree. */
	cmdline[n] = 'x';
	cmdline[big] = '\0';
	ck_assert_int_eq(arm64_fdt_build(&t.c, buf, 2 * big), -ENOSPC);
	cmdline[ARM64_FDT_MAX - 1024] = '\0';
	ck_assert_int_eq(arm64_fdt_build(&t.c, buf, 2 * big), -ENOSPC);
	free(buf);
	free(cmdline);
}
END_TEST

/* Every length short of the tree, in a buffer of exactly that length (ASan sees a byte too far): -ENOSPC. */
static void every_length(unsigned ncpus)
{
	struct tcfg t;
	void *ref, *buf;
	size_t need;

	defaults(&t, ncpus);
	ref = build(&t.c);
	need = fdt_totalsize(ref);
	ck_assert_int_eq(arm64_fdt_build(&t.c, NULL, 0), -ENOSPC);
	for (size_t len = 1; len < need; len++) {
		buf = malloc(len);
		ck_assert_ptr_nonnull(buf);
		ck_assert_int_eq(arm64_fdt_build(&t.c, buf, len), -ENOSPC);
		if (len >= 4)
			ck_assert_uint_ne(fdt_magic(buf), FDT_MAGIC);
		free(buf);
	}
	buf = malloc(need);
	ck_assert_ptr_nonnull(buf);
	ck_assert_int_eq(arm64_fdt_build(&t.c, buf, need), 0);
	ck_assert_uint_eq(fdt_totalsize(buf), need);
	ck_assert_int_eq(memcmp(buf, ref, need), 0);
	free(buf);
	free(ref);
}

START_TEST(every_buffer_length_2cpus)
{
	every_length(2);
}
END_TEST

START_TEST(every_buffer_length_64cpus)
{
	every_length(ARM64_MAX_CPUS);
}
END_TEST

/* The same config gives the same bytes whatever the buffer held or how big it is. */
START_TEST(reproducible)
{
	size_t big = ARM64_FDT_MAX + MiB;
	uint8_t *a = malloc(BUF_LEN), *b = malloc(big);
	struct tcfg t;

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	defaults(&t, 4);
	memset(a, 0x00, BUF_LEN);
	memset(b, 0xa5, big);
	ck_assert_int_eq(arm64_fdt_build(&t.c, a, BUF_LEN), 0);
	ck_assert_int_eq(arm64_fdt_build(&t.c, b, big), 0);
	ck_assert_uint_eq(fdt_totalsize(a), fdt_totalsize(b));
	ck_assert_int_eq(memcmp(a, b, fdt_totalsize(a)), 0);
	free(a);
	free(b);
}
END_TEST

/* FDT_DUMP: the 2-vCPU tree with every optional part, for dtc. Plain checks: no Check test is running. */
static int dump(const char *path)
{
	struct tcfg t;
	void *buf = malloc(BUF_LEN);
	FILE *f;
	int ret;

	if (!buf)
		return 1;
	defaults(&t, 2);
	ret = arm64_fdt_build(&t.c, buf, BUF_LEN);
	if (ret) {
		fprintf(stderr, "arm64_fdt_build: %s\n", strerror(-ret));
		free(buf);
		return 1;
	}
	f = fopen(path, "wb");
	if (!f || fwrite(buf, 1, fdt_totalsize(buf), f) != fdt_totalsize(buf) || fclose(f)) {
		fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
		free(buf);
		return 1;
	}
	free(buf);
	return 0;
}

int main(void)
{
	Suite *s;
	TCase *tc;

	if (getenv("FDT_DUMP"))
		return dump(getenv("FDT_DUMP"));
	s = suite_create("fdt");
	tc = tcase_create("tree");
	tcase_add_test(tc, tree_1cpu);
	tcase_add_test(tc, tree_2cpus);
	tcase_add_test(tc, tree_64cpus);
	tcase_add_test(tc, other_addresses);
	tcase_add_test(tc, without_its);
	tcase_add_test(tc, without_initrd_seed_or_mmio64);
	tcase_add_test(tc, interrupt_map_by_hand);
	tcase_add_test(tc, reproducible);
	suite_add_tcase(s, tc);
	tc = tcase_create("hostile");
	tcase_add_test(tc, nonsense_configs);
	tcase_add_test(tc, huge_cmdline);
	tcase_add_test(tc, every_buffer_length_2cpus);
	tcase_add_test(tc, every_buffer_length_64cpus);
	/* Thousands of builds under the sanitizers take a while. */
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
