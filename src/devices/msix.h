/* SPDX-License-Identifier: Apache-2.0 */
/*
 * MSI-X for a PCI device: the capability, the vector table and the pending-bit array (both
 * inside one of the device's memory BARs), per-vector and function masking with pending bits
 * delivered on unmask. How a message reaches the guest is not this file's business: it calls
 * an msi_ops table (KVM GSI routes + irqfds in the VM, a fake in tests).
 */
#ifndef VMM_DEVICES_MSIX_H
#define VMM_DEVICES_MSIX_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "devices/pci.h"

#define MSIX_MAX_VECTORS 64
#define MSIX_NO_VECTOR 0xffff

struct msi_ops {
	/* Vector vec now carries (addr, data); called on table writes of an unmasked vector and on unmask. */
	int (*update)(void *opaque, unsigned vec, uint64_t addr, uint32_t data);
	/* Deliver vector vec now (it is unmasked and MSI-X is enabled). Any thread. */
	void (*fire)(void *opaque, unsigned vec);
	/*
	 * Optional (msix_lend()): make a write to eventfd fd deliver vector vec's message without us
	 * (bind, after update), or stop that (!bind; once it returns, fd delivers nothing). 0 or -errno.
	 */
	int (*bind)(void *opaque, unsigned vec, int fd, bool bind);
};

struct msix_entry {
	uint32_t addr_lo, addr_hi, data, ctrl; /* ctrl bit 0: masked */
};

#define MSIX_MAX_LENT 64

/* An eventfd that signals a vector by itself while the vector is live (msix_lend()). */
struct msix_lent {
	int fd;       /* -1: a free slot */
	uint16_t vec;
	bool bound;   /* ops->bind(fd) is in force */
};

struct msix {
	struct pci_dev *dev;
	uint16_t nvec;
	int cap;                 /* offset of the capability in configuration space */
	int bar;
	uint32_t table_off, pba_off; /* inside the BAR */
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pba;            /* pending bits */
	bool enabled, masked;    /* message control: MSI-X enable, function mask */
	pthread_mutex_t lock;
	const struct msi_ops *ops;
	void *ops_opaque;
	struct msix_lent lent[MSIX_MAX_LENT];
};

/*
 * Add the capability to d (table and PBA in BAR bar at the given offsets, both 8-byte aligned and not
 * overlapping; inside the BAR if it is already set); every vector masked, MSI-X disabled. Before
 * pci_bus_add(). 0, -EINVAL, or -ENOSPC (no room for the capability).
 *
 * Locking: m->lock guards the table, the PBA and the enable/mask state; ops->update and ops->fire
 * are called with it held (order: the bus's cfg_lock/bar_lock -> m->lock -> the transport's locks).
 */
int msix_init(struct msix *m, struct pci_dev *d, uint16_t nvec, int bar, uint32_t table_off, uint32_t pba_off,
	      const struct msi_ops *ops, void *ops_opaque);
void msix_destroy(struct msix *m);
/*
 * The device's BAR handler passes accesses inside [table_off, table_off + 16 * nvec) and the PBA here.
 * Aligned dword and qword accesses only; others read 0 and are ignored. The PBA is read-only. A write
 * of an entry's address or data while the vector is live (enabled, not masked) calls ops->update.
 */
void msix_bar_io(struct msix *m, uint64_t off, void *data, uint32_t len, bool is_write);
/* Is off (in the BAR) inside the table or the PBA? */
bool msix_bar_claims(const struct msix *m, uint64_t off);
/*
 * The device's cfg_write hook calls this (it runs under the bus's cfg_lock, which guards d->cfg):
 * re-reads the message control word. Vectors that become live get ops->update, then their pending
 * message.
 */
void msix_cfg_write(struct msix *m);
bool msix_enabled(struct msix *m);
/*
 * Signal vector vec (any thread): fire it, or set its pending bit while it or the function is masked.
 * Nothing while MSI-X is disabled (the transport uses INTx then), for MSIX_NO_VECTOR or vec >= nvec.
 */
void msix_notify(struct msix *m, uint16_t vec);
/*
 * Lend vector vec to eventfd fd (a vhost-user backend's completion signal): while the vector is live
 * (MSI-X enabled, function and vector unmasked) fd is bound to it (ops->bind), so the backend's
 * write interrupts the guest without passing through us; while it is not, fd is unbound and
 * whoever reads fd passes what it finds to msix_notify() (which sets the pending bit). The binding
 * follows every mask, unmask and enable from then on. 0, -EINVAL (vec out of range, fd < 0),
 * -ENOTSUP (ops has no bind), -ENOSPC (MSIX_MAX_LENT lent already), -EEXIST (fd lent already).
 * Binding failures are not errors: fd then stays unbound and its reader delivers.
 */
int msix_lend(struct msix *m, uint16_t vec, int fd);
/* Take fd back (unbound when this returns: close it afterwards, not before). Unknown fds are ignored. */
void msix_unlend(struct msix *m, int fd);
/* Is fd bound to its vector right now? (Tests.) */
bool msix_lent_bound(struct msix *m, int fd);

/*
 * Snapshot: the vector table, the pending bits, enable and function mask (under m->lock; out->oom
 * tells a failed allocation). msix_restore() (after pci_dev_restore() of its function, before the
 * vCPUs run) checks the vector count, the entries and pending bits (only what a guest could leave:
 * no reserved bits, no bits of vectors >= nvec) and that enable and function mask equal the message
 * control word pci_dev_restore() put back in configuration space; -EINVAL on malformed input, with
 * m unchanged and in marked bad. Then it applies the state and, while MSI-X is enabled and the
 * function unmasked, does for every unmasked vector what a guest unmask does: ops->update with its
 * message, then its pending message (ops->fire, the bit cleared), so the routes are as the guest
 * left them. Returns 0, -EINVAL, or the first error ops->update returned (the state is applied
 * all the same). Takes the bus's cfg_lock, then m->lock. Reads only its record from in.
 */
void msix_save(struct msix *m, struct sbuf *out);
int msix_restore(struct msix *m, struct sreader *in);

#endif
