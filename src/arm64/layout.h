/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arm64 guest's physical address map. Devices below 1 GiB, RAM from 1 GiB (one region, as QEMU's
 * virt machine lays it out, so the same kernels find the same shape), 64-bit PCI BARs above RAM.
 * Interrupt numbers are SPI numbers as a device tree writes them (GIC_SPI n is INTID 32 + n).
 */
#ifndef VMM_ARM64_LAYOUT_H
#define VMM_ARM64_LAYOUT_H

#include "vmm/vmm.h"

#define ARM64_GICD_BASE 0x08000000ull /* GICv3 distributor */
#define ARM64_GICD_SIZE 0x00010000ull
#define ARM64_ITS_BASE 0x08080000ull /* GICv3 ITS: MSI-X of PCI functions */
#define ARM64_ITS_SIZE 0x00020000ull
#define ARM64_GICR_BASE 0x080a0000ull /* redistributors, one 128 KiB pair of frames per vCPU */
#define ARM64_GICR_STRIDE 0x00020000ull
#define ARM64_MAX_CPUS 64 /* 64 redistributors end at 0x088a0000, below the UART */
#define ARM64_UART_BASE 0x09000000ull /* 16550A, byte-wide registers */
#define ARM64_UART_SIZE 0x00001000ull
#define ARM64_UART_SPI 1
#define ARM64_RTC_BASE 0x09010000ull /* PL031 */
#define ARM64_RTC_SIZE 0x00001000ull
#define ARM64_RTC_SPI 2
#define ARM64_BOOT_TIMER_BASE 0x09020000ull /* the boot-timer marker (x86: port 0x620) */
#define ARM64_BOOT_TIMER_SIZE 0x00001000ull
#define ARM64_SNAPSHOT_BASE VMM_SNAPSHOT_MMIO_ARM64 /* the snapshot request (x86: port 0x624) */
#define ARM64_DEBUG_EXIT_BASE VMM_DEBUG_EXIT_MMIO_ARM64 /* with --debug-exit (x86: its I/O port) */
#define ARM64_PCI_INTX_SPI 3 /* INTA..INTD: SPIs 3..6, swizzled by slot */
#define ARM64_PCI_MMIO32_BASE 0x10000000ull
#define ARM64_PCI_MMIO32_SIZE 0x2eff0000ull
#define ARM64_PCI_ECAM_BASE 0x3f000000ull /* bus 0 only: 1 MiB of configuration space */
#define ARM64_PCI_ECAM_SIZE 0x00100000ull
#define ARM64_RAM_BASE 0x40000000ull
#define ARM64_FDT_MAX 0x00200000ull /* the boot protocol's limit for the device tree */

#endif
