/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The flattened device tree that describes the arm64 guest to Linux: RAM, the vCPUs (started through PSCI over
 * HVC), the architected timer, the GICv3 and its ITS, the 16550A UART, the PL031 RTC and its clock, the generic
 * ECAM PCI host (INTx swizzled onto four SPIs, MSIs through the ITS) and /chosen. Pure: it writes into the
 * caller's buffer and knows nothing of the VM; every address and interrupt comes from the config, whose usual
 * values are in arm64/layout.h.
 */
#ifndef VMM_ARM64_FDT_H
#define VMM_ARM64_FDT_H

#include <stddef.h>
#include <stdint.h>

struct arm64_fdt_config {
	unsigned ncpus;                      /* 1..ARM64_MAX_CPUS */
	const uint64_t *mpidr;               /* ncpus MPIDR_EL1 values; only the affinity bits are used, distinct */
	uint64_t ram_base, ram_size;         /* one region */
	const char *cmdline;                 /* /chosen/bootargs */
	uint64_t initrd_start, initrd_size;  /* inside RAM; size 0: no initrd properties */
	uint64_t gicd_base, gicd_size;
	uint64_t gicr_base, gicr_size;       /* at least ncpus * ARM64_GICR_STRIDE */
	uint64_t its_base, its_size;         /* size 0: no ITS, and PCI has no MSIs */
	uint64_t uart_base, uart_size;
	uint32_t uart_spi;                   /* SPI numbers as a device tree writes them: INTID - 32 */
	uint64_t rtc_base, rtc_size;
	uint32_t rtc_spi;
	uint64_t pci_ecam_base, pci_ecam_size; /* 1 MiB per bus, buses 0..size/1MiB-1, at most 256 */
	uint64_t pci_mmio32_base, pci_mmio32_size; /* non-prefetchable, below 4 GiB */
	uint64_t pci_mmio64_base, pci_mmio64_size; /* size 0: no 64-bit window */
	uint32_t pci_intx_spi;               /* INTA's SPI; INTB..INTD take the next three */
	unsigned pci_slots;                  /* 1..32: devices 0..pci_slots-1 get INTx, pin p (INTA = 0) of device d on
					      * SPI pci_intx_spi + (d + p) % 4 (the PCI-to-PCI bridge swizzle) */
	uint64_t rng_seed;                   /* non-zero: /chosen/rng-seed and kaslr-seed, fresh for every boot */
};

/*
 * Write the tree into buf (len bytes, 8-byte aligned). 0, and fdt_totalsize(buf) is its size; -ENOSPC when it
 * needs more than len or more than ARM64_FDT_MAX (what the boot protocol accepts); -EINVAL for a config that
 * makes no sense (no or too many vCPUs, two with one affinity, a NULL cmdline, an empty, wrapping or overlapping
 * range, an initrd outside RAM, an SPI out of range or shared, a bad ECAM size or slot count). On error, use
 * nothing in buf: a tree cut short keeps libfdt's sequential-write magic, which fdt_check_header() refuses.
 */
int arm64_fdt_build(const struct arm64_fdt_config *c, void *buf, size_t len);

#endif
