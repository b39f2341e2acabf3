// SPDX-License-Identifier: Apache-2.0
/* The GICv3's state in a snapshot: which registers, in which order, and the blob (arm64/gic_state.h). */
#include "arm64/gic_state.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* GICv3 architecture specification (IHI 0069), distributor and redistributor register maps. */
#define SPI_BITMAP(base) ((base) + 32u / 8u) /* a one-bit-per-interrupt register array from INTID 32 */
#define SGI_FRAME 0x10000u

/*
 * Restore order: configuration first, then pending and active state, enables last (nothing runs
 * during a restore, but a reader sees at once that no interrupt is enabled before it is set up).
 */
const struct gic_reg gic_dist_regs[] = {
	{ 0x0000, 1, 0 },                                           /* GICD_CTLR */
	{ SPI_BITMAP(0x0080), GIC_SPIS / 32, 0 },                   /* GICD_IGROUPR */
	{ 0x6000 + 32 * 8, 2 * GIC_SPIS, 0 },                       /* GICD_IROUTER, 64 bits each */
	{ 0x0c00 + 32 * 2 / 8, GIC_SPIS / 16, 0 },                  /* GICD_ICFGR, 2 bits each */
	{ 0x0400 + 32, GIC_SPIS / 4, 0 },                           /* GICD_IPRIORITYR, 8 bits each */
	{ SPI_BITMAP(0x0200), GIC_SPIS / 32, SPI_BITMAP(0x0280) },  /* GICD_ISPENDR / ICPENDR */
	{ SPI_BITMAP(0x0300), GIC_SPIS / 32, SPI_BITMAP(0x0380) },  /* GICD_ISACTIVER / ICACTIVER */
	{ SPI_BITMAP(0x0100), GIC_SPIS / 32, SPI_BITMAP(0x0180) },  /* GICD_ISENABLER / ICENABLER */
};
const unsigned gic_dist_nregs = sizeof(gic_dist_regs) / sizeof(gic_dist_regs[0]);

/* The LPI tables before GICR_CTLR, whose EnableLPIs makes KVM read them (and freezes them). */
const struct gic_reg gic_redist_regs[] = {
	{ 0x0070, 2, 0 },                                           /* GICR_PROPBASER */
	{ 0x0078, 2, 0 },                                           /* GICR_PENDBASER */
	{ SGI_FRAME + 0x0080, 1, 0 },                               /* GICR_IGROUPR0 */
	{ SGI_FRAME + 0x0c00, 2, 0 },                               /* GICR_ICFGR0, GICR_ICFGR1 */
	{ SGI_FRAME + 0x0400, 8, 0 },                               /* GICR_IPRIORITYR0..7 */
	{ SGI_FRAME + 0x0200, 1, SGI_FRAME + 0x0280 },              /* GICR_ISPENDR0 / ICPENDR0 */
	{ SGI_FRAME + 0x0300, 1, SGI_FRAME + 0x0380 },              /* GICR_ISACTIVER0 / ICACTIVER0 */
	{ SGI_FRAME + 0x0100, 1, SGI_FRAME + 0x0180 },              /* GICR_ISENABLER0 / ICENABLER0 */
	{ 0x0000, 1, 0 },                                           /* GICR_CTLR */
};
const unsigned gic_redist_nregs = sizeof(gic_redist_regs) / sizeof(gic_redist_regs[0]);

const uint32_t gic_icc_main[GIC_ICC_MAIN] = {
	GIC_SYSREG(3, 0, 12, 12, 5), /* ICC_SRE_EL1: first, the others' meaning depends on it */
	ICC_CTLR_EL1,
	GIC_SYSREG(3, 0, 12, 12, 6), /* ICC_IGRPEN0_EL1 */
	GIC_SYSREG(3, 0, 12, 12, 7), /* ICC_IGRPEN1_EL1 */
	GIC_SYSREG(3, 0, 4, 6, 0),   /* ICC_PMR_EL1 */
	GIC_SYSREG(3, 0, 12, 8, 3),  /* ICC_BPR0_EL1 */
	GIC_SYSREG(3, 0, 12, 12, 3), /* ICC_BPR1_EL1 */
};

/* arm-vgic-its.rst: GITS_CBASER before CREADR and CWRITER (writing it zeroes them), GITS_CTLR last. */
const uint32_t gic_its_regs[GIC_ITS_REGS] = {
	0x0004,                                                 /* GITS_IIDR */
	0x0080,                                                 /* GITS_CBASER */
	0x0090,                                                 /* GITS_CREADR */
	0x0088,                                                 /* GITS_CWRITER */
	0x0100, 0x0108, 0x0110, 0x0118, 0x0120, 0x0128, 0x0130, 0x0138, /* GITS_BASER0..7 */
	0x0000,                                                 /* GITS_CTLR */
};

/* ICC_CTLR_EL1.PRIbits (bits 10:8) is the number of priority bits minus one; IHI 0069, ICC_AP0R<n>_EL1. */
unsigned gic_icc_nap(uint64_t icc_ctlr)
{
	unsigned bits = (unsigned)((icc_ctlr >> 8) & 7) + 1;

	return bits == 7 ? 4 : bits == 6 ? 2 : 1;
}

void gic_state_write(const struct gic_state *s, struct sbuf *out)
{
	sbuf_u32(out, GIC_STATE_MAGIC);
	sbuf_u32(out, GIC_STATE_VERSION);
	sbuf_u32(out, VGIC_NR_IRQS);
	sbuf_u32(out, s->ncpus);
	for (unsigned i = 0; i < GIC_DIST_WORDS; i++)
		sbuf_u32(out, s->dist[i]);
	for (unsigned i = 0; i < GIC_LEVEL_WORDS; i++)
		sbuf_u32(out, s->level[i]);
	for (unsigned c = 0; c < s->ncpus && c < ARM64_MAX_CPUS; c++) {
		const struct gic_cpu_state *cpu = &s->cpu[c];

		for (unsigned i = 0; i < GIC_REDIST_WORDS; i++)
			sbuf_u32(out, cpu->redist[i]);
		for (unsigned i = 0; i < GIC_ICC_MAIN; i++)
			sbuf_u64(out, cpu->icc[i]);
		sbuf_u8(out, cpu->nap);
		for (unsigned i = 0; i < cpu->nap && i < 4; i++)
			sbuf_u64(out, cpu->ap0[i]);
		for (unsigned i = 0; i < cpu->nap && i < 4; i++)
			sbuf_u64(out, cpu->ap1[i]);
	}
	sbuf_bool(out, s->its);
	if (s->its)
		for (unsigned i = 0; i < GIC_ITS_REGS; i++)
			sbuf_u64(out, s->its_regs[i]);
}

int gic_state_read(struct sreader *in, unsigned ncpus, struct gic_state *s, char *err, size_t errlen)
{
	uint32_t magic, version, nr, n;
	uint8_t its;

	memset(s, 0, sizeof(*s));
	magic = sr_u32(in);
	version = sr_u32(in);
	nr = sr_u32(in);
	n = sr_u32(in);
	if (!sr_ok(in) || magic != GIC_STATE_MAGIC) {
		snprintf(err, errlen, "it is not a GICv3 state");
		goto bad;
	}
	if (version != GIC_STATE_VERSION || nr != VGIC_NR_IRQS) {
		snprintf(err, errlen, "its GICv3 state is version %u with %u interrupts; this vmm has version %u with %u",
			 version, nr, GIC_STATE_VERSION, VGIC_NR_IRQS);
		goto bad;
	}
	if (n != ncpus || n == 0 || n > ARM64_MAX_CPUS) {
		snprintf(err, errlen, "its GICv3 has %u CPU interfaces; the VM has %u vCPUs", n, ncpus);
		goto bad;
	}
	s->ncpus = n;
	for (unsigned i = 0; i < GIC_DIST_WORDS; i++)
		s->dist[i] = sr_u32(in);
	for (unsigned i = 0; i < GIC_LEVEL_WORDS; i++)
		s->level[i] = sr_u32(in);
	for (unsigned c = 0; c < n && sr_ok(in); c++) {
		struct gic_cpu_state *cpu = &s->cpu[c];

		for (unsigned i = 0; i < GIC_REDIST_WORDS; i++)
			cpu->redist[i] = sr_u32(in);
		for (unsigned i = 0; i < GIC_ICC_MAIN; i++)
			cpu->icc[i] = sr_u64(in);
		cpu->nap = sr_u8(in);
		if (sr_ok(in) && cpu->nap != 1 && cpu->nap != 2 && cpu->nap != 4) {
			snprintf(err, errlen, "CPU interface %u has %u active-priority registers (1, 2 or 4)", c, cpu->nap);
			goto bad;
		}
		for (unsigned i = 0; i < cpu->nap && sr_ok(in); i++)
			cpu->ap0[i] = sr_u64(in);
		for (unsigned i = 0; i < cpu->nap && sr_ok(in); i++)
			cpu->ap1[i] = sr_u64(in);
	}
	its = sr_u8(in);
	if (sr_ok(in) && its > 1) {
		snprintf(err, errlen, "its ITS flag is %u", its);
		goto bad;
	}
	s->its = its;
	for (unsigned i = 0; i < GIC_ITS_REGS && s->its; i++)
		s->its_regs[i] = sr_u64(in);
	if (!sr_ok(in)) {
		snprintf(err, errlen, "its GICv3 state is truncated");
		goto bad;
	}
	return 0;
bad:
	sr_fail(in);
	return -EINVAL;
}

/* The tables' word sums equal GIC_DIST_WORDS and GIC_REDIST_WORDS: tests/unit/test_gic_state.c checks. */
_Static_assert(GIC_REDIST_WORDS == 19 && GIC_DIST_WORDS == 235, "the GIC state's word counts");
