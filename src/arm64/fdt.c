// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 guest's device tree, written with libfdt's sequential-write API straight into the caller's buffer
 * (fdt_finish() leaves it packed: no fdt_pack() needed). Node names are the generic ones the Linux 6.1 schemas
 * ask for (serial@, interrupt-controller@, msi-controller@, pcie@); nothing in Linux looks them up by name.
 */
#include "arm64/fdt.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <libfdt.h>

#include "arm64/layout.h"

/* The nodes others point at. Any value but 0 and 0xffffffff will do; fixed ones keep the tree reproducible. */
#define PHANDLE_GIC 1
#define PHANDLE_ITS 2
#define PHANDLE_CLK 3

/* arm,gic-v3 interrupt specifiers: <type number flags> (include/dt-bindings/interrupt-controller/arm-gic.h). */
#define GIC_SPI 0
#define GIC_PPI 1
#define IRQ_TYPE_LEVEL_HIGH 4
#define GIC_MAX_SPI 987 /* SPIs are INTIDs 32..1019 */

/*
 * PPI numbers (INTID - 16) of the architected timer and of the GIC maintenance interrupt, as KVM raises them
 * (the SBSA's numbers). All are level-triggered; on GICv3 the flags cell has no CPU mask (that is GICv2's).
 */
#define PPI_TIMER_SEC_PHYS 13
#define PPI_TIMER_PHYS 14
#define PPI_TIMER_VIRT 11
#define PPI_TIMER_HYP 10
#define PPI_GIC_MAINT 9

#define MPIDR_AFF_MASK 0xff00ffffffull /* Aff3 (39:32), Aff2..Aff0 (23:0): what a cpu node's reg holds */

#define ECAM_BUS_SIZE (1ull << 20) /* 32 devices x 8 functions x 4 KiB */
#define ECAM_MAX_BUSES 256
#define PCI_MAX_SLOTS 32
#define PCI_PINS 4
/* phys.hi of a PCI address (IEEE 1275 PCI binding): npt000ss bbbbbbbb dddddfff rrrrrrrr. */
#define PCI_SPACE_MMIO32 0x02000000u /* ss = 10: 32-bit memory space */
#define PCI_SPACE_MMIO64 0x03000000u /* ss = 11: 64-bit memory space */
#define PCI_DEVICE_SHIFT 11
#define PCI_DEVICE_MASK 0xf800u
#define PCI_PIN_MASK 7u
#define PCI_RID_COUNT 0x10000u /* every requester ID: msi-map is an identity map onto ITS DeviceIDs */

#define UART_CLOCK_HZ 1843200 /* the 16550A's classic crystal: divisor 1 is 115200 baud */
#define APB_PCLK_HZ 24000000  /* the AMBA bus clock the PL031's driver asks for by name */

/* The tree being written, and the first libfdt error (a negative FDT_ERR_*): every later call does nothing. */
struct fdtw {
	void *fdt;
	int err;
};

static void begin(struct fdtw *w, const char *name)
{
	if (!w->err)
		w->err = fdt_begin_node(w->fdt, name);
}

/* A node named name@<addr in lower-case hex, no leading zeros>, as the unit-address convention wants. */
static void begin_at(struct fdtw *w, const char *name, uint64_t addr)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s@%" PRIx64, name, addr);

	if (n < 0 || (size_t)n >= sizeof(buf)) {
		if (!w->err)
			w->err = -FDT_ERR_INTERNAL;
		return;
	}
	begin(w, buf);
}

static void end(struct fdtw *w)
{
	if (!w->err)
		w->err = fdt_end_node(w->fdt);
}

static void prop(struct fdtw *w, const char *name, const void *val, size_t len)
{
	if (w->err)
		return;
	/* libfdt lengths are ints; anything near that is far past ARM64_FDT_MAX anyway. */
	w->err = len > INT_MAX ? -FDT_ERR_NOSPACE : fdt_property(w->fdt, name, val, (int)len);
}

static void prop_empty(struct fdtw *w, const char *name)
{
	prop(w, name, "", 0);
}

static void prop_str(struct fdtw *w, const char *name, const char *s)
{
	prop(w, name, s, strlen(s) + 1);
}

static void prop_u32(struct fdtw *w, const char *name, uint32_t v)
{
	if (!w->err)
		w->err = fdt_property_u32(w->fdt, name, v);
}

static void prop_u64(struct fdtw *w, const char *name, uint64_t v)
{
	if (!w->err)
		w->err = fdt_property_u64(w->fdt, name, v);
}

/* Room for ncells cells of property name, written in place with put32()/put64(); NULL once anything failed. */
static uint8_t *prop_cells(struct fdtw *w, const char *name, size_t ncells)
{
	void *p = NULL;

	if (w->err)
		return NULL;
	if (ncells > INT_MAX / 4)
		w->err = -FDT_ERR_NOSPACE;
	else
		w->err = fdt_property_placeholder(w->fdt, name, (int)(ncells * 4), &p);
	return w->err ? NULL : p;
}

/* Big-endian and byte-wise: a property's value is only 4-byte aligned. */
static uint8_t *put32(uint8_t *p, uint32_t v)
{
	fdt32_st(p, v);
	return p + 4;
}

/* A 64-bit number as two cells, high first: an address or size where #address-cells/#size-cells is 2. */
static uint8_t *put64(uint8_t *p, uint64_t v)
{
	return put32(put32(p, (uint32_t)(v >> 32)), (uint32_t)v);
}

static void prop_u32s(struct fdtw *w, const char *name, const uint32_t *v, size_t n)
{
	uint8_t *p = prop_cells(w, name, n);

	for (size_t i = 0; p && i < n; i++)
		p = put32(p, v[i]);
}

/* reg = <base size> with 2 address and 2 size cells (the root's, and the GIC's for its ITS). */
static void prop_reg(struct fdtw *w, uint64_t base, uint64_t size)
{
	uint8_t *p = prop_cells(w, "reg", 4);

	if (p)
		put64(put64(p, base), size);
}

static void prop_spi(struct fdtw *w, uint32_t spi)
{
	const uint32_t irq[] = { GIC_SPI, spi, IRQ_TYPE_LEVEL_HIGH };

	prop_u32s(w, "interrupts", irq, 3);
}

/* --- the config --- */

struct range {
	uint64_t base, size;
};

/* Non-empty and not wrapping past 2^64; *last is its last byte. */
static bool range_valid(struct range r, uint64_t *last)
{
	return r.size && !__builtin_add_overflow(r.base, r.size - 1, last);
}

static bool spi_in(uint32_t spi, uint32_t first, uint32_t n)
{
	return spi >= first && spi - first < n;
}

static int check_config(const struct arm64_fdt_config *c)
{
	struct range r[9];
	uint64_t last[9], ilast;
	unsigned n = 0, ram, m32;

	if (c->ncpus == 0 || c->ncpus > ARM64_MAX_CPUS || !c->mpidr || !c->cmdline)
		return -EINVAL;
	/* Two cpu nodes with one reg: Linux would start one vCPU and lose the other. */
	for (unsigned i = 0; i < c->ncpus; i++)
		for (unsigned j = 0; j < i; j++)
			if (!((c->mpidr[i] ^ c->mpidr[j]) & MPIDR_AFF_MASK))
				return -EINVAL;
	/* A vCPU without its redistributor frames would never come up (the GIC driver looks them up by MPIDR). */
	if (c->gicr_size / ARM64_GICR_STRIDE < c->ncpus)
		return -EINVAL;
	if (c->pci_ecam_size % ECAM_BUS_SIZE || c->pci_ecam_size / ECAM_BUS_SIZE > ECAM_MAX_BUSES)
		return -EINVAL;
	if (c->pci_slots == 0 || c->pci_slots > PCI_MAX_SLOTS)
		return -EINVAL;
	/* Each line is level-triggered and owned by one device: a shared SPI would mix two devices' levels. */
	if (c->uart_spi > GIC_MAX_SPI || c->rtc_spi > GIC_MAX_SPI || c->pci_intx_spi > GIC_MAX_SPI - (PCI_PINS - 1) ||
	    c->uart_spi == c->rtc_spi || spi_in(c->uart_spi, c->pci_intx_spi, PCI_PINS) ||
	    spi_in(c->rtc_spi, c->pci_intx_spi, PCI_PINS))
		return -EINVAL;

	ram = n;
	r[n++] = (struct range){ c->ram_base, c->ram_size };
	r[n++] = (struct range){ c->gicd_base, c->gicd_size };
	r[n++] = (struct range){ c->gicr_base, c->gicr_size };
	if (c->its_size)
		r[n++] = (struct range){ c->its_base, c->its_size };
	r[n++] = (struct range){ c->uart_base, c->uart_size };
	r[n++] = (struct range){ c->rtc_base, c->rtc_size };
	r[n++] = (struct range){ c->pci_ecam_base, c->pci_ecam_size };
	m32 = n;
	r[n++] = (struct range){ c->pci_mmio32_base, c->pci_mmio32_size };
	if (c->pci_mmio64_size)
		r[n++] = (struct range){ c->pci_mmio64_base, c->pci_mmio64_size };
	for (unsigned i = 0; i < n; i++) {
		if (!range_valid(r[i], &last[i]))
			return -EINVAL;
		for (unsigned j = 0; j < i; j++)
			if (r[i].base <= last[j] && r[j].base <= last[i])
				return -EINVAL;
	}
	/* The window for 32-bit BARs. */
	if (last[m32] > UINT32_MAX)
		return -EINVAL;
	/* The kernel ignores an initrd that is not in memory. */
	if (c->initrd_size && (!range_valid((struct range){ c->initrd_start, c->initrd_size }, &ilast) ||
			       c->initrd_start < c->ram_base || ilast > last[ram]))
		return -EINVAL;
	return 0;
}

/* --- the nodes --- */

static void add_memory(struct fdtw *w, const struct arm64_fdt_config *c)
{
	begin_at(w, "memory", c->ram_base);
	prop_str(w, "device_type", "memory");
	prop_reg(w, c->ram_base, c->ram_size);
	end(w);
}

/*
 * Two address cells: a reg holds the MPIDR affinity, Aff3 in bits 7:0 of the first cell, Aff2..Aff0 in the
 * second (Documentation/devicetree/bindings/arm/cpus.yaml); one cell could not say Aff3. The unit address is
 * that reg, so above 16 vCPUs (KVM puts 16 in each Aff1 cluster) it is not the vCPU index.
 */
static void add_cpus(struct fdtw *w, const struct arm64_fdt_config *c)
{
	begin(w, "cpus");
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 0);
	for (unsigned i = 0; i < c->ncpus; i++) {
		uint64_t aff = c->mpidr[i] & MPIDR_AFF_MASK;

		begin_at(w, "cpu", aff);
		prop_str(w, "device_type", "cpu");
		/* The schema's name for a CPU it knows only as ARMv8; arm64 Linux does not read it. */
		prop_str(w, "compatible", "arm,armv8");
		prop_str(w, "enable-method", "psci");
		prop_u64(w, "reg", aff);
		end(w);
	}
	end(w);
}

/* KVM implements PSCI 1.0 in the kernel; 0.2 is the fallback the binding lists after it. */
static void add_psci(struct fdtw *w)
{
	static const char compatible[] = "arm,psci-1.0\0arm,psci-0.2";

	begin(w, "psci");
	prop(w, "compatible", compatible, sizeof(compatible));
	prop_str(w, "method", "hvc");
	end(w);
}

static void add_timer(struct fdtw *w)
{
	/* In the binding's order: secure physical, non-secure physical, virtual, hypervisor physical. */
	static const uint32_t irqs[] = {
		GIC_PPI, PPI_TIMER_SEC_PHYS, IRQ_TYPE_LEVEL_HIGH, GIC_PPI, PPI_TIMER_PHYS, IRQ_TYPE_LEVEL_HIGH,
		GIC_PPI, PPI_TIMER_VIRT,     IRQ_TYPE_LEVEL_HIGH, GIC_PPI, PPI_TIMER_HYP,  IRQ_TYPE_LEVEL_HIGH,
	};

	begin(w, "timer");
	prop_str(w, "compatible", "arm,armv8-timer");
	prop_u32s(w, "interrupts", irqs, sizeof(irqs) / sizeof(irqs[0]));
	/* The counter keeps running whatever the vCPU does: no need for a broadcast timer in idle. */
	prop_empty(w, "always-on");
	end(w);
}

static void add_gic(struct fdtw *w, const struct arm64_fdt_config *c)
{
	static const uint32_t maint[] = { GIC_PPI, PPI_GIC_MAINT, IRQ_TYPE_LEVEL_HIGH };
	uint8_t *p;

	begin_at(w, "interrupt-controller", c->gicd_base);
	prop_str(w, "compatible", "arm,gic-v3");
	prop_u32(w, "#interrupt-cells", 3);
	prop_empty(w, "interrupt-controller");
	/* The ITS is a child with an address of its own, in the same (identity-mapped) space as the root's. */
	prop_u32(w, "#address-cells", 2);
	prop_u32(w, "#size-cells", 2);
	prop_empty(w, "ranges");
	p = prop_cells(w, "reg", 8);
	if (p)
		put64(put64(put64(put64(p, c->gicd_base), c->gicd_size), c->gicr_base), c->gicr_size);
	prop_u32s(w, "interrupts", maint, 3);
	prop_u32(w, "phandle", PHANDLE_GIC);
	if (c->its_size) {
		begin_at(w, "msi-controller", c->its_base);
		prop_str(w, "compatible", "arm,gic-v3-its");
		prop_empty(w, "msi-controller");
		/* The one cell is the DeviceID: PCI's msi-map supplies it from the requester ID. */
		prop_u32(w, "#msi-cells", 1);
		prop_reg(w, c->its_base, c->its_size);
		prop_u32(w, "phandle", PHANDLE_ITS);
		end(w);
	}
	end(w);
}

/* reg-shift 0 and reg-io-width 1 are the defaults, and right: byte-wide registers one byte apart. */
static void add_uart(struct fdtw *w, const struct arm64_fdt_config *c)
{
	begin_at(w, "serial", c->uart_base);
	prop_str(w, "compatible", "ns16550a");
	prop_reg(w, c->uart_base, c->uart_size);
	prop_u32(w, "clock-frequency", UART_CLOCK_HZ);
	prop_spi(w, c->uart_spi);
	end(w);
}

/* The AMBA bus will not probe a primecell without its "apb_pclk", though the PL031 never reads it. */
static void add_rtc(struct fdtw *w, const struct arm64_fdt_config *c)
{
	static const char compatible[] = "arm,pl031\0arm,primecell";

	begin(w, "apb-pclk");
	prop_str(w, "compatible", "fixed-clock");
	prop_u32(w, "#clock-cells", 0);
	prop_u32(w, "clock-frequency", APB_PCLK_HZ);
	prop_str(w, "clock-output-names", "clk24mhz");
	prop_u32(w, "phandle", PHANDLE_CLK);
	end(w);

	begin_at(w, "rtc", c->rtc_base);
	prop(w, "compatible", compatible, sizeof(compatible));
	prop_reg(w, c->rtc_base, c->rtc_size);
	prop_spi(w, c->rtc_spi);
	prop_u32(w, "clocks", PHANDLE_CLK);
	prop_str(w, "clock-names", "apb_pclk");
	end(w);
}

/*
 * interrupt-map: one entry per (device, pin), each <child address (3 cells: only phys.hi's device number
 * counts), child pin (1..4), &gic, the GIC's unit address (its #address-cells = 2: zeros), GIC_SPI spi flags>.
 * The mask keeps all five device bits, so every entry means exactly its device; devices past pci_slots get no
 * INTx.
 */
static void add_pci_irq_map(struct fdtw *w, const struct arm64_fdt_config *c)
{
	static const uint32_t mask[] = { PCI_DEVICE_MASK, 0, 0, PCI_PIN_MASK };
	uint8_t *p;

	prop_u32(w, "#interrupt-cells", 1);
	prop_u32s(w, "interrupt-map-mask", mask, 4);
	p = prop_cells(w, "interrupt-map", (size_t)c->pci_slots * PCI_PINS * 10);
	for (uint32_t dev = 0; p && dev < c->pci_slots; dev++) {
		for (uint32_t pin = 0; pin < PCI_PINS; pin++) {
			p = put32(p, dev << PCI_DEVICE_SHIFT);
			p = put64(p, 0);
			p = put32(p, pin + 1);
			p = put32(p, PHANDLE_GIC);
			p = put64(p, 0);
			p = put32(p, GIC_SPI);
			p = put32(p, c->pci_intx_spi + (dev + pin) % PCI_PINS);
			p = put32(p, IRQ_TYPE_LEVEL_HIGH);
		}
	}
}

static void add_pci(struct fdtw *w, const struct arm64_fdt_config *c)
{
	const uint32_t bus_range[] = { 0, (uint32_t)(c->pci_ecam_size / ECAM_BUS_SIZE - 1) };
	uint8_t *p;

	begin_at(w, "pcie", c->pci_ecam_base);
	prop_str(w, "compatible", "pci-host-ecam-generic");
	prop_str(w, "device_type", "pci");
	prop_reg(w, c->pci_ecam_base, c->pci_ecam_size);
	prop_u32s(w, "bus-range", bus_range, 2);
	prop_u32(w, "#address-cells", 3);
	prop_u32(w, "#size-cells", 2);
	/* <phys.hi, PCI address, CPU address, size>: PCI and CPU addresses are the same (no translation). */
	p = prop_cells(w, "ranges", c->pci_mmio64_size ? 14 : 7);
	if (p) {
		p = put32(p, PCI_SPACE_MMIO32);
		p = put64(put64(put64(p, c->pci_mmio32_base), c->pci_mmio32_base), c->pci_mmio32_size);
	}
	if (p && c->pci_mmio64_size) {
		p = put32(p, PCI_SPACE_MMIO64);
		put64(put64(put64(p, c->pci_mmio64_base), c->pci_mmio64_base), c->pci_mmio64_size);
	}
	/* Guest RAM is ordinary cacheable memory to the host: no cache maintenance around device DMA. */
	prop_empty(w, "dma-coherent");
	prop_u32(w, "linux,pci-domain", 0);
	/*
	 * MSIs through the ITS, DeviceID = requester ID. Not msi-parent: with an ITS that has #msi-cells = 1,
	 * Linux 6.1 (of_msi_get_domain) finds no PCI MSI domain from a bare msi-parent, and dtc warns about it.
	 */
	if (c->its_size) {
		const uint32_t msi_map[] = { 0, PHANDLE_ITS, 0, PCI_RID_COUNT };

		prop_u32s(w, "msi-map", msi_map, 4);
	}
	add_pci_irq_map(w, c);
	end(w);
}

static void add_chosen(struct fdtw *w, const struct arm64_fdt_config *c, const char *uart_path)
{
	begin(w, "chosen");
	prop_str(w, "bootargs", c->cmdline);
	prop_str(w, "stdout-path", uart_path);
	if (c->initrd_size) {
		/* Linux reads either width; 64 bits never truncate. initrd-end is exclusive. */
		prop_u64(w, "linux,initrd-start", c->initrd_start);
		prop_u64(w, "linux,initrd-end", c->initrd_start + c->initrd_size);
	}
	if (c->rng_seed) {
		uint8_t *p = prop_cells(w, "rng-seed", 2);

		/* The kernel credits rng-seed to its pool and wipes it, and zeroes kaslr-seed after use. */
		if (p)
			put64(p, c->rng_seed);
		prop_u64(w, "kaslr-seed", c->rng_seed);
	}
	end(w);
}

/* serial0 makes the UART ttyS0 whatever order the 8250 driver finds ports in. */
static void add_aliases(struct fdtw *w, const char *uart_path)
{
	begin(w, "aliases");
	prop_str(w, "serial0", uart_path);
	end(w);
}

int arm64_fdt_build(const struct arm64_fdt_config *c, void *buf, size_t len)
{
	struct fdtw w = { .fdt = buf };
	char uart_path[32];
	int ret;

	if (!c || (!buf && len) || (uintptr_t)buf % 8)
		return -EINVAL;
	ret = check_config(c);
	if (ret)
		return ret;
	/* The boot protocol's limit: a bigger tree is of no use, and it keeps every size an int for libfdt. */
	if (len > ARM64_FDT_MAX)
		len = ARM64_FDT_MAX;
	snprintf(uart_path, sizeof(uart_path), "/serial@%" PRIx64, c->uart_base);

	/* Until fdt_finish() the header's magic is the sequential-write one: a half-written tree never checks. */
	w.err = fdt_create(buf, (int)len);
	if (!w.err)
		w.err = fdt_finish_reservemap(buf);
	begin(&w, "");
	prop_str(&w, "compatible", "linux,dummy-virt");
	prop_str(&w, "model", "vmm arm64 virtual machine");
	prop_u32(&w, "#address-cells", 2);
	prop_u32(&w, "#size-cells", 2);
	prop_u32(&w, "interrupt-parent", PHANDLE_GIC);
	add_memory(&w, c);
	add_cpus(&w, c);
	add_psci(&w);
	add_timer(&w);
	add_gic(&w, c);
	add_uart(&w, c);
	add_rtc(&w, c);
	add_pci(&w, c);
	add_chosen(&w, c, uart_path);
	add_aliases(&w, uart_path);
	end(&w);
	if (!w.err)
		w.err = fdt_finish(buf);
	if (w.err == -FDT_ERR_NOSPACE)
		return -ENOSPC;
	return w.err ? -EINVAL : 0;
}
