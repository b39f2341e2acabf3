// SPDX-License-Identifier: Apache-2.0
/* KVM's in-kernel GICv3 and ITS for an arm64 guest (KVM_CREATE_DEVICE and its attributes). */
#include "arm64/vgic.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arm64/layout.h"
#include "arm64/machine.h"

static int set_attr(int fd, uint32_t group, uint64_t attr, const void *val)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)val };

	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static int get_attr(int fd, uint32_t group, uint64_t attr, void *val)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)val };

	return ioctl(fd, KVM_GET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
}

static int create_device(int vm_fd, uint32_t type)
{
	struct kvm_create_device d = { .type = type };

	return ioctl(vm_fd, KVM_CREATE_DEVICE, &d) < 0 ? -errno : (int)d.fd;
}

int vgic_create(struct vgic *g, int vm_fd, unsigned ncpus, const struct vlog *log)
{
	uint64_t dist = ARM64_GICD_BASE, redist = ARM64_GICR_BASE, its = ARM64_ITS_BASE;
	int ret;

	g->gic_fd = g->its_fd = -1;
	if (ncpus > ARM64_MAX_CPUS) {
		vlog_err(log, "an arm64 guest has at most %d vCPUs here (one GICv3 redistributor each)", ARM64_MAX_CPUS);
		return -EINVAL;
	}
	ret = create_device(vm_fd, KVM_DEV_TYPE_ARM_VGIC_V3);
	if (ret < 0) {
		vlog_err(log, "cannot create the in-kernel GICv3 (KVM_CREATE_DEVICE): %s%s", strerror(-ret),
			 ret == -ENODEV ? " (this host's interrupt controller cannot emulate a GICv3)" : "");
		return ret;
	}
	g->gic_fd = ret;
	ret = set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_DIST, &dist);
	ret = ret ?: set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST, &redist);
	if (ret) {
		vlog_err(log, "cannot place the GICv3 in the guest's address space: %s", strerror(-ret));
		return ret;
	}
	/* The ITS: without it the guest has no MSIs, and virtio-pci works through INTx, slower. */
	ret = create_device(vm_fd, KVM_DEV_TYPE_ARM_VGIC_ITS);
	if (ret < 0) {
		vlog_info(log, "no in-kernel GICv3 ITS (%s): PCI functions use INTx, not MSI-X", strerror(-ret));
		return 0;
	}
	g->its_fd = ret;
	ret = set_attr(g->its_fd, KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_ITS_ADDR_TYPE, &its);
	ret = ret ?: set_attr(g->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	if (ret) {
		vlog_err(log, "cannot set up the GICv3 ITS: %s", strerror(-ret));
		return ret;
	}
	return 0;
}

int vgic_finish(struct vgic *g, const struct vlog *log)
{
	uint32_t nr = VGIC_NR_IRQS;
	int ret = set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_NR_IRQS, 0, &nr);

	ret = ret ?: set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_CTRL_INIT, NULL);
	if (ret)
		vlog_err(log, "cannot initialise the in-kernel GICv3: %s", strerror(-ret));
	return ret;
}

void vgic_destroy(struct vgic *g)
{
	if (g->its_fd >= 0)
		close(g->its_fd);
	if (g->gic_fd >= 0)
		close(g->gic_fd);
	g->gic_fd = g->its_fd = -1;
}

/* ---- Snapshots (arm64/gic_state.h: which registers, and in which order). ---- */

/* A vCPU as the redistributor and CPU-interface groups name it: its affinity in bits 63:32. */
static uint64_t cpu_attr(unsigned id)
{
	uint64_t mpidr = arm64_vcpu_mpidr(id);

	return (mpidr & 0xffffff) << KVM_DEV_ARM_VGIC_V3_MPIDR_SHIFT;
}

static uint64_t level_attr(unsigned word)
{
	return (uint64_t)VGIC_LEVEL_INFO_LINE_LEVEL << KVM_DEV_ARM_VGIC_LINE_LEVEL_INFO_SHIFT | (32u + 32u * word);
}

/* One word of a register: read it into *out, or write *in (after clearing, through its twin, the bits it does not set). */
static int word_access(int fd, uint32_t group, uint64_t cpu, const struct gic_reg *r, unsigned k, const uint32_t *in,
		       uint32_t *out)
{
	uint64_t off = r->offset + 4u * k;

	if (out)
		return get_attr(fd, group, cpu | off, out);
	if (r->clear) {
		uint32_t clear = ~*in;
		int ret = set_attr(fd, group, cpu | (r->clear + 4u * k), &clear);

		if (ret)
			return ret;
	}
	return set_attr(fd, group, cpu | off, in);
}

/*
 * Read the registers of table into out, or write them from in (the other NULL); cpu is a
 * redistributor's attr bits (0: the distributor).
 */
static int regs_access(int fd, uint32_t group, uint64_t cpu, const struct gic_reg *table, unsigned n,
		       const uint32_t *in, uint32_t *out, const char **what)
{
	unsigned w = 0;
	int ret = 0;

	*what = group == KVM_DEV_ARM_VGIC_GRP_DIST_REGS ? "a distributor register" : "a redistributor register";
	for (unsigned i = 0; i < n && !ret; i++)
		for (unsigned k = 0; k < table[i].words && !ret; k++, w++)
			ret = word_access(fd, group, cpu, &table[i], k, in ? &in[w] : NULL, out ? &out[w] : NULL);
	return ret;
}

int vgic_save(struct vgic *g, unsigned ncpus, struct gic_state *s, const struct vlog *log)
{
	const char *what = "";
	int ret;

	memset(s, 0, sizeof(*s));
	s->ncpus = ncpus;
	s->its = g->its_fd >= 0;
	/* Into guest memory, which is saved after this: the LPIs' pending bits and the ITS's tables. */
	if (s->its) {
		what = "the LPIs' pending tables";
		ret = set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_VGIC_SAVE_PENDING_TABLES, NULL);
		if (ret)
			goto fail;
		what = "the ITS's tables";
		ret = set_attr(g->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_SAVE_TABLES, NULL);
		if (ret)
			goto fail;
	}
	ret = regs_access(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0, gic_dist_regs, gic_dist_nregs, NULL, s->dist,
			  &what);
	for (unsigned i = 0; i < GIC_LEVEL_WORDS && !ret; i++) {
		what = "the interrupt lines' levels";
		ret = get_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, level_attr(i), &s->level[i]);
	}
	for (unsigned c = 0; c < ncpus && !ret; c++) {
		struct gic_cpu_state *cpu = &s->cpu[c];

		ret = regs_access(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, cpu_attr(c), gic_redist_regs,
				  gic_redist_nregs, NULL, cpu->redist, &what);
		for (unsigned i = 0; i < GIC_ICC_MAIN && !ret; i++) {
			what = "a CPU interface register";
			ret = get_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | gic_icc_main[i], &cpu->icc[i]);
		}
		cpu->nap = (uint8_t)gic_icc_nap(cpu->icc[1]);
		for (unsigned i = 0; i < cpu->nap && !ret; i++) {
			ret = get_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | ICC_AP0R_EL1(i), &cpu->ap0[i]);
			ret = ret ?: get_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | ICC_AP1R_EL1(i),
					      &cpu->ap1[i]);
		}
	}
	for (unsigned i = 0; i < GIC_ITS_REGS && s->its && !ret; i++) {
		what = "an ITS register";
		ret = get_attr(g->its_fd, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, gic_its_regs[i], &s->its_regs[i]);
	}
	if (!ret)
		return 0;
fail:
	vlog_err(log, "cannot save the GICv3's state: %s: %s", what, strerror(-ret));
	return ret;
}

int vgic_restore(struct vgic *g, const struct gic_state *s, const struct vlog *log)
{
	const char *what = "";
	int ret;

	if (s->its != (g->its_fd >= 0)) {
		vlog_err(log, "the snapshot's GICv3 %s an ITS; this host's KVM %s", s->its ? "had" : "had no",
			 s->its ? "has none" : "has one");
		return -EINVAL;
	}
	ret = regs_access(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_DIST_REGS, 0, gic_dist_regs, gic_dist_nregs, s->dist, NULL, &what);
	for (unsigned i = 0; i < GIC_LEVEL_WORDS && !ret; i++) {
		what = "the interrupt lines' levels";
		ret = set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_LEVEL_INFO, level_attr(i), &s->level[i]);
	}
	/* arm-vgic-its.rst: the redistributors before the ITS. */
	for (unsigned c = 0; c < s->ncpus && !ret; c++) {
		const struct gic_cpu_state *cpu = &s->cpu[c];
		uint64_t ctlr = 0;

		ret = regs_access(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, cpu_attr(c), gic_redist_regs,
				  gic_redist_nregs, cpu->redist, NULL, &what);
		for (unsigned i = 0; i < GIC_ICC_MAIN && !ret; i++) {
			what = "a CPU interface register";
			ret = set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | gic_icc_main[i], &cpu->icc[i]);
		}
		/* The active-priority registers this host's CPU interface has (its priority bits are its own). */
		ret = ret ?: get_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | ICC_CTLR_EL1, &ctlr);
		if (!ret && gic_icc_nap(ctlr) != cpu->nap) {
			vlog_err(log, "the snapshot's GICv3 CPU interface had %u active-priority registers; this host's has %u",
				 cpu->nap, gic_icc_nap(ctlr));
			return -EINVAL;
		}
		for (unsigned i = 0; i < cpu->nap && !ret; i++) {
			ret = set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | ICC_AP0R_EL1(i), &cpu->ap0[i]);
			ret = ret ?: set_attr(g->gic_fd, KVM_DEV_ARM_VGIC_GRP_CPU_SYSREGS, cpu_attr(c) | ICC_AP1R_EL1(i),
					      &cpu->ap1[i]);
		}
	}
	/* arm-vgic-its.rst: GITS_CBASER, the other registers, the tables from guest memory, GITS_CTLR. */
	for (unsigned i = 0; i < GIC_ITS_REGS && s->its && !ret; i++) {
		if (gic_its_regs[i] == 0x0000) { /* GITS_CTLR */
			what = "the ITS's tables";
			ret = set_attr(g->its_fd, KVM_DEV_ARM_VGIC_GRP_CTRL, KVM_DEV_ARM_ITS_RESTORE_TABLES, NULL);
			if (ret)
				break;
		}
		what = "an ITS register";
		ret = set_attr(g->its_fd, KVM_DEV_ARM_VGIC_GRP_ITS_REGS, gic_its_regs[i], &s->its_regs[i]);
	}
	if (ret)
		vlog_err(log, "cannot restore the GICv3's state: %s: %s", what, strerror(-ret));
	return ret;
}
