/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The VM's KVM GSI routing table and MSI delivery through irqfds.
 *
 * KVM_SET_GSI_ROUTING replaces the whole table, so every commit carries KVM's default irqchip routes
 * (GSI 0-15 -> the PIC master/slave pin and the IOAPIC pin of the same number, GSI 16-23 -> IOAPIC
 * pins; exactly what KVM_CREATE_IRQCHIP installs, so KVM_IRQ_LINE users see no change) plus one MSI
 * route per programmed vector, on GSIs allocated from IRQ_ROUTES_MSI_BASE up. Each vector of a device
 * owns a GSI and an eventfd bound to it with KVM_IRQFD; firing the vector writes 1 to the eventfd, so
 * the message reaches the guest without a trip through KVM_SIGNAL_MSI.
 *
 * Route updates are rare (a driver programs or unmasks vectors) and commit the whole table under the
 * lock each time; firing takes no lock.
 */
#ifndef VMM_IRQ_ROUTES_H
#define VMM_IRQ_ROUTES_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "devices/msix.h"
#include "log.h"

#if defined(__aarch64__)
/* arm64: GSI n -> SPI n of the vGIC (INTID 32 + n), as KVM's own default table; the devices use SPIs 1..6. */
#define IRQ_ROUTES_DEFAULT_NR 32
#define IRQ_ROUTES_MSI_BASE 32   /* MSIs go to the ITS (LPIs), routed from GSI 32 up */
#else
#define IRQ_ROUTES_DEFAULT_NR 40 /* 16 GSIs x (IOAPIC + PIC) + 8 GSIs x IOAPIC */
#define IRQ_ROUTES_MSI_BASE 24   /* the first GSI after the IOAPIC's 24 pins */
#endif
#define IRQ_ROUTES_MAX_MSI 1024  /* MSI GSIs from IRQ_ROUTES_MSI_BASE; KVM allows 4096 routes */

struct kvm_irq_routing;
struct kvm_irq_routing_entry;

struct irq_msi_route {
	uint8_t state; /* free, allocated (irqfd bound, no route yet) or routed */
	bool has_devid; /* arm64's ITS tells devices apart by their requester id (KVM_MSI_VALID_DEVID) */
	uint32_t devid;
	uint64_t addr;
	uint32_t data;
};

struct irq_routes {
	int vm_fd;
	const struct vlog *log;
	pthread_mutex_t lock;            /* the MSI routes and table */
	struct kvm_irq_routing *table;   /* scratch for commits: IRQ_ROUTES_DEFAULT_NR + IRQ_ROUTES_MAX_MSI entries */
	struct irq_msi_route msi[IRQ_ROUTES_MAX_MSI]; /* GSI IRQ_ROUTES_MSI_BASE + i */
	struct vlog_budget warn;         /* for failures the guest's MSI-X writes cause */
	struct irq_msix *all;            /* every device's vectors */
	bool live;                       /* irq_routes_start() ran: irqfds are bound at creation */
};

/* The MSI vectors of one device: a GSI and an irqfd each. Opaque for irq_routes_msi_ops. */
struct irq_msix;

/*
 * After KVM_CREATE_IRQCHIP: commits the default table once (so a kernel without GSI routing fails
 * here, with a message). 0 or -errno.
 */
int irq_routes_init(struct irq_routes *r, int vm_fd, const struct vlog *log);
/*
 * The interrupt controller is complete (every vCPU exists; arm64's KVM refuses irqfds before its vGIC
 * is initialised, -EAGAIN): bind the irqfds of every vector created so far, and from now on at
 * creation. Before, a vector's eventfd keeps what is written to it, and KVM delivers it at the binding.
 * 0 or -errno (logged).
 */
int irq_routes_start(struct irq_routes *r);
/* After every irq_routes_msix_destroy(). */
void irq_routes_destroy(struct irq_routes *r);

/* Write KVM's default irqchip routes (IRQ_ROUTES_DEFAULT_NR entries) to e; returns how many. Pure. */
size_t irq_routes_default(struct kvm_irq_routing_entry *e);

/*
 * nvec GSIs, eventfds and irqfds (bound now or by irq_routes_start()) for one device. Pass &irq_routes_msi_ops and *out to msix_init().
 * 0, -EINVAL (nvec 0 or > MSIX_MAX_VECTORS), -ENOSPC (GSIs exhausted), -ENOMEM or the ioctl's -errno.
 */
int irq_routes_msix_create(struct irq_routes *r, unsigned nvec, struct irq_msix **out);
/*
 * The PCI requester id (bus << 8 | device << 3 | function) the device's messages carry: an interrupt
 * translation service (arm64's ITS) needs it in every MSI route; x86 routes ignore it. Before the
 * guest programs a vector.
 */
void irq_routes_msix_set_devid(struct irq_msix *x, uint32_t devid);
/* Unbind the irqfds, close the eventfds, free the GSIs (their routes leave the table at the next commit). */
void irq_routes_msix_destroy(struct irq_msix *x);
/* The eventfd that fires vector vec (e.g. for a backend that signals completions itself); -1 if out of range. */
int irq_routes_msix_fd(const struct irq_msix *x, unsigned vec);
/*
 * update: route the vector's GSI to (addr, data) and commit; fire: write its eventfd; bind: KVM_IRQFD
 * (or its deassignment) of another eventfd on the vector's GSI (msix_lend()).
 */
extern const struct msi_ops irq_routes_msi_ops;

#endif
