/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hardware-reduced ACPI tables for the guest: RSDP, XSDT, FADT (sleep control,
 * sleep status and reset registers), DSDT (\_S5, COM1, RTC; with PCI, the host
 * bridge PCI0 with its windows and _PRT, and a PNP0C02 device reserving the ECAM;
 * with the GED, the power button PWRB and the Generic Event Device GED0 whose
 * _EVT notifies it), MADT (one local APIC per vCPU, the IOAPIC, LINT1 = NMI) and,
 * with PCI, MCFG (the ECAM of bus 0). They live in the reserved legacy region
 * ACPI_TABLES_START..ACPI_TABLES_END of low guest memory.
 */
#ifndef VMM_X86_ACPI_H
#define VMM_X86_ACPI_H

#include <stdbool.h>
#include <stdint.h>

#include "memory.h"

#define ACPI_TABLES_START 0xe0000ull /* the RSDP sits here: also where legacy scans find it */
#define ACPI_TABLES_END 0xffff0ull /* the reset vector's 16 bytes follow (RESET_VECTOR_ADDR) */
#define RESET_VECTOR_ADDR 0xffff0ull /* f000:fff0, where a jump to the BIOS's reset lands (vm.c) */
#define IOAPIC_ADDR 0xfec00000u
#define LAPIC_ADDR 0xfee00000u

struct acpi_config {
	unsigned ncpus;          /* 1..VMM_MAX_CPUS; APIC ids 0..ncpus-1 */
	uint16_t pm_io_base;     /* sleep control at +0, sleep status at +1, reset at +2 */
	uint8_t reset_value;
	uint8_t s5_slp_typ;
	uint16_t com1_port;
	uint8_t com1_irq;
	uint16_t rtc_port;
	bool pci;                 /* false: no PCI0, no MCFG (the zero default) */
	uint64_t pci_mmio64_base; /* with pci: pci_bus_init()'s mmio64_base (>= 4 GiB) */
	bool ged;                 /* false: no power button, no GED (the zero default) */
	uint16_t ged_io_base;     /* with ged: the GED's read-to-clear event byte (bit 0: power button) */
	uint32_t ged_gsi;         /* with ged: its edge-triggered, active-high interrupt */
};

/* Write every table into guest memory; *rsdp_gpa receives the RSDP's address. 0 or -errno. */
int acpi_build(const struct guest_mem *m, const struct acpi_config *cfg, uint64_t *rsdp_gpa);

#endif
