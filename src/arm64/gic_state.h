/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The in-kernel GICv3's state in a snapshot (the "kvm" section of an arm64 VM): which registers are
 * saved, and their format. Only the format lives here (no KVM call, so it is unit-tested and fuzzed on
 * every build host); arm64/vgic.c reads and writes the registers, in the order KVM's documentation
 * asks (Documentation/virt/kvm/devices/arm-vgic-v3.rst and arm-vgic-its.rst).
 *
 * Registers are those of a guest-visible GICv3 with VGIC_NR_IRQS interrupts: the distributor's
 * SPI registers, each redistributor's (LPI tables, SGIs and PPIs), each CPU interface's ICC_*_EL1
 * system registers, the SPIs' line levels and the ITS's registers. Of each set/clear register pair
 * only the set register is saved; a restore clears what is not set, then sets what is.
 *
 * Blob, version 1 (integers little-endian):
 *   u32 GIC_STATE_MAGIC, u32 version, u32 nr_irqs (VGIC_NR_IRQS), u32 ncpus (1..ARM64_MAX_CPUS)
 *   GIC_DIST_WORDS u32: gic_dist_regs[] in order, each register's words
 *   GIC_LEVEL_WORDS u32: the SPIs' line levels, 32 per word from INTID 32
 *   ncpus times: GIC_REDIST_WORDS u32 (gic_redist_regs[]), GIC_ICC_MAIN u64 (gic_icc_main[]),
 *                u8 nap (1, 2 or 4: active-priority registers per group, by the CPU interface's
 *                priority bits), nap u64 ICC_AP0R<n>_EL1, nap u64 ICC_AP1R<n>_EL1
 *   u8 its (0 or 1); if 1: GIC_ITS_REGS u64 (gic_its_regs[])
 */
#ifndef VMM_ARM64_GIC_STATE_H
#define VMM_ARM64_GIC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arm64/layout.h"
#include "snapshot/sbuf.h"

#define GIC_STATE_MAGIC 0x43494776u /* "vGIC" as little-endian bytes */
#define GIC_STATE_VERSION 1u
/* SGIs and PPIs (32) and 96 SPIs: our devices use SPIs 1..6; a multiple of 32, as KVM wants. */
#define VGIC_NR_IRQS 128u
#define GIC_SPIS (VGIC_NR_IRQS - 32u)

/* A register (or an array of them) as 32-bit words at offset; clear: its write-1-to-clear twin, or 0. */
struct gic_reg {
	uint32_t offset;
	uint32_t words;
	uint32_t clear;
};

/* Distributor (SPIs only: the SGI and PPI parts are banked in the redistributors). */
/* GICD_CTLR; four bitmaps (group, enable, pending, active); IROUTER (2 words); ICFGR (2 bits); IPRIORITYR (8 bits). */
#define GIC_DIST_WORDS (1u + 4u * (GIC_SPIS / 32u) + 2u * GIC_SPIS + GIC_SPIS / 16u + GIC_SPIS / 4u)
extern const struct gic_reg gic_dist_regs[];
extern const unsigned gic_dist_nregs;
/* One redistributor: its LPI configuration and control, then its SGI frame. */
#define GIC_REDIST_WORDS (2u + 2u + 1u + 1u + 1u + 2u + 1u + 1u + 8u)
extern const struct gic_reg gic_redist_regs[];
extern const unsigned gic_redist_nregs;
#define GIC_LEVEL_WORDS (GIC_SPIS / 32u)

/* ICC_*_EL1 as KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS names them: op0, op1, CRn, CRm, op2. */
#define GIC_SYSREG(op0, op1, crn, crm, op2) \
	((uint32_t)((op0) << 14 | (op1) << 11 | (crn) << 7 | (crm) << 3 | (op2)))
#define ICC_CTLR_EL1 GIC_SYSREG(3, 0, 12, 12, 4)
#define ICC_AP0R_EL1(n) GIC_SYSREG(3, 0, 12, 8, 4 | (n))
#define ICC_AP1R_EL1(n) GIC_SYSREG(3, 0, 12, 9, (n))
#define GIC_ICC_MAIN 7u
extern const uint32_t gic_icc_main[GIC_ICC_MAIN]; /* ICC_SRE_EL1 first, as a restore needs */
/* Active-priority registers per group for an ICC_CTLR_EL1 value (its PRIbits): 1, 2 or 4. */
unsigned gic_icc_nap(uint64_t icc_ctlr);

/* ITS registers (KVM_DEV_ARM_VGIC_GRP_ITS_REGS offsets), in their restore order; GITS_CTLR last. */
#define GIC_ITS_REGS 13u
extern const uint32_t gic_its_regs[GIC_ITS_REGS];

struct gic_cpu_state {
	uint32_t redist[GIC_REDIST_WORDS];
	uint64_t icc[GIC_ICC_MAIN];
	uint8_t nap;
	uint64_t ap0[4], ap1[4];
};

struct gic_state {
	uint32_t ncpus;
	uint32_t dist[GIC_DIST_WORDS];
	uint32_t level[GIC_LEVEL_WORDS];
	struct gic_cpu_state cpu[ARM64_MAX_CPUS];
	bool its;
	uint64_t its_regs[GIC_ITS_REGS];
};

void gic_state_write(const struct gic_state *s, struct sbuf *out);
/*
 * Read a blob into s and check it whole: version, interrupt count, ncpus (must equal the VM's),
 * the active-priority count. 0, or -EINVAL (in is then marked bad) with the reason in err.
 */
int gic_state_read(struct sreader *in, unsigned ncpus, struct gic_state *s, char *err, size_t errlen);

#endif
