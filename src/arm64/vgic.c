// SPDX-License-Identifier: Apache-2.0
/* KVM's in-kernel GICv3 and ITS for an arm64 guest (KVM_CREATE_DEVICE and its attributes). */
#include "arm64/vgic.h"

#include <errno.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "arm64/layout.h"

/* SGIs and PPIs (32) and 96 SPIs: our devices use SPIs 1..6; a multiple of 32, as KVM wants. */
#define VGIC_NR_IRQS 128

static int set_attr(int fd, uint32_t group, uint64_t attr, const void *val)
{
	struct kvm_device_attr a = { .group = group, .attr = attr, .addr = (uintptr_t)val };

	return ioctl(fd, KVM_SET_DEVICE_ATTR, &a) < 0 ? -errno : 0;
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
