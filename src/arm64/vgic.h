/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The arm64 guest's interrupt controller: KVM's in-kernel GICv3 (distributor and one redistributor per
 * vCPU) and, where the host's KVM has one, its ITS, which turns the MSI-X writes of PCI functions into
 * LPIs. Addresses from arm64/layout.h.
 */
#ifndef VMM_ARM64_VGIC_H
#define VMM_ARM64_VGIC_H

#include <stdbool.h>

#include "arm64/gic_state.h"
#include "log.h"

struct vgic {
	int gic_fd; /* KVM_DEV_TYPE_ARM_VGIC_V3 */
	int its_fd; /* KVM_DEV_TYPE_ARM_VGIC_ITS, or -1 (no MSIs: PCI functions fall back to INTx) */
};

/* Before the vCPUs: create the GICv3 (and the ITS) and place them for ncpus redistributors. 0 or -errno. */
int vgic_create(struct vgic *g, int vm_fd, unsigned ncpus, const struct vlog *log);
/* Once every vCPU exists: the number of interrupts and KVM's own initialisation. 0 or -errno. */
int vgic_finish(struct vgic *g, const struct vlog *log);
void vgic_destroy(struct vgic *g);
/*
 * Snapshots (the VM paused, every vCPU outside KVM_RUN). Save writes the LPIs' pending bits and the
 * ITS's tables into guest memory (saved after it), then reads every register of arm64/gic_state.h.
 * Restore (after vgic_finish(), the vCPUs created, guest memory in place) writes them in KVM's order.
 * 0 or -errno, logged.
 */
int vgic_save(struct vgic *g, unsigned ncpus, struct gic_state *s, const struct vlog *log);
int vgic_restore(struct vgic *g, const struct gic_state *s, const struct vlog *log);

#endif
