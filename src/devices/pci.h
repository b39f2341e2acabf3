/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PCI bus 0: a host bridge at 00.0, type-1 configuration access (ports 0xcf8/0xcfc), an ECAM
 * window (MCFG) for bus 0, 256-byte configuration spaces with write masks, capability lists,
 * memory BARs placed (naturally aligned) in the 32-bit window of the MMIO hole or the 64-bit
 * window above RAM, and legacy INTx lines. The bus owns its MMIO windows and routes an access to
 * the device whose BAR decodes it, so a guest that moves a BAR is followed.
 *
 * Only function 0 of each device exists (no multi-function devices); other functions and empty
 * slots read all-ones and ignore writes. Register offsets and bits are <linux/pci_regs.h>'s.
 *
 * Locking (outer first): cfg_lock -> bar_lock -> a device's own locks -> intx_lock.
 *   - cfg_lock: the 0xcf8 latch and every configuration space (cfg[]); held while a device's
 *     cfg_write and bar_update hooks run, so hooks may read d->cfg but must not access configuration
 *     space through the bus.
 *   - bar_lock: BAR addresses and decode enables; MMIO dispatch holds it for reading while it calls
 *     a BAR's fn, so a BAR moved by the guest is not accessed at its old place once the move is done.
 *     It prefers writers and is not recursive: a BAR's fn must not access the bus's MMIO windows.
 *   - intx_lock: INTx levels; pci_dev_set_intx() takes only this one, so it may be called from any
 *     thread, from a BAR's fn and from the hooks.
 *
 * Guest-physical layout (x86): see PCI_* below and src/x86/layout.h.
 */
#ifndef VMM_DEVICES_PCI_H
#define VMM_DEVICES_PCI_H

#include <linux/pci_regs.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "device.h"
#include "irq.h"
#include "log.h"
#include "snapshot/sbuf.h"

#define PCI_CFG_SIZE 256
#define PCI_SLOTS 32
#define PCI_BARS 6
#if defined(__aarch64__)
#include "arm64/layout.h"
#define PCI_MMIO32_BASE ARM64_PCI_MMIO32_BASE
#define PCI_MMIO32_SIZE ARM64_PCI_MMIO32_SIZE
#define PCI_ECAM_BASE ARM64_PCI_ECAM_BASE
#else
#define PCI_MMIO32_BASE 0xc0000000ull
#define PCI_MMIO32_SIZE 0x20000000ull /* up to the ECAM window */
#define PCI_ECAM_BASE 0xe0000000ull
#endif
#define PCI_ECAM_SIZE 0x100000ull     /* bus 0 only: 32 devices x 8 functions x 4 KiB */
#define PCI_MMIO64_SIZE (64ull << 30) /* from pci_bus_init()'s mmio64_base */
#define PCI_CONFIG_PORT 0xcf8         /* type 1: address latch at 0xcf8, data window at 0xcfc..0xcff */
#define PCI_CONFIG_PORT_LEN 8
/* The host bridge at 00.0: the IDs Cloud Hypervisor uses; class host bridge. */
#define PCI_HOST_BRIDGE_VENDOR 0x8086
#define PCI_HOST_BRIDGE_DEVICE 0x0d57
/*
 * INTx: slot s, pin p (0 = INTA) -> IOAPIC GSI PCI_INTX_GSI_BASE + (s + p) % PCI_INTX_GSIS. Every
 * device uses INTA, so slots s and s + 8 share a GSI: the line is the OR of its devices.
 *
 * Polarity: the DSDT's _PRT names these GSIs in GSI form, which ACPI defines as level-triggered,
 * active-low, and Linux programs the IOAPIC redirection entries that way. KVM's in-kernel IOAPIC
 * ignores the polarity bit: since commit 100943c54e09 ("kvm: x86: ignore ioapic polarity", 2014;
 * KVM_CAP_X86_IOAPIC_POLARITY_IGNORED) ioapic_set_irq() in arch/x86/kvm/ioapic.c no longer does
 * `irq_level ^= entry.fields.polarity`, and the KVM_IRQ_LINE documentation says level 1 always
 * means asserted. So irq_set() gets 1 to assert and 0 to deassert, which is right for the guest's
 * active-low programming too.
 */
#if defined(__aarch64__)
#define PCI_INTX_GSI_BASE ARM64_PCI_INTX_SPI /* SPIs 3..6, as the device tree's interrupt-map says */
#define PCI_INTX_GSIS 4
#else
#define PCI_INTX_GSI_BASE 16
#define PCI_INTX_GSIS 8
#endif

struct pci_dev;
struct pci_bus;

/* Optional hooks of a device; NULL members are skipped. Called from vCPU threads under cfg_lock. */
struct pci_dev_ops {
	/*
	 * After the generic code applied a guest write of len bytes at off (e.g. MSI-X control), and
	 * once with (0, PCI_CFG_SIZE) after pci_dev_restore() applied a saved space.
	 */
	void (*cfg_write)(struct pci_dev *d, uint32_t off, uint32_t len);
	/*
	 * BAR bar now decodes at addr, or addr 0: not decoded (memory space off). Called when the
	 * decoded address changes: memory enable toggled, or the guest moved an enabled BAR. For
	 * ioeventfds. Not called by pci_bus_add() (nothing decodes until the guest enables memory).
	 */
	void (*bar_update)(struct pci_dev *d, int bar, uint64_t addr);
};

struct pci_bar {
	uint64_t size;   /* 0: unused; else a power of two >= 4096 */
	uint64_t addr;   /* current guest address (under bar_lock) */
	bool is64;
	bus_io_fn fn;    /* off is relative to the BAR's start */
	void *opaque;
};

struct pci_dev {
	uint8_t cfg[PCI_CFG_SIZE];
	uint8_t wmask[PCI_CFG_SIZE]; /* bits the guest may change */
	struct pci_bar bar[PCI_BARS];
	const struct pci_dev_ops *ops;
	void *opaque;                /* for the device's hooks */
	struct pci_bus *bus;         /* set by pci_bus_add() */
	unsigned slot;
	uint8_t cap_end;             /* next free offset for a capability */
	struct irq_line intx;        /* set by pci_bus_add(): irq_line_set(&d->intx, l) == pci_dev_set_intx(d, l) */
	/* Private to pci.c. */
	bool mem_enabled;            /* command memory bit, under bar_lock */
	bool intx_level;             /* the device's INTx request, under intx_lock */
	bool intx_disabled;          /* command INTx-disable bit, under intx_lock */
};

/* Header type 0, given IDs and class (base << 16 | sub << 8 | prog-if); interrupt pin INTA. */
void pci_dev_init(struct pci_dev *d, uint16_t vendor, uint16_t device, uint32_t class_code, uint8_t revision,
		  uint16_t subsys_vendor, uint16_t subsys_id);
/*
 * A memory BAR of size bytes (a power of two >= 4096, no larger than its window); a 64-bit BAR
 * also takes bar + 1. Not prefetchable. Before pci_bus_add(). 0 or -EINVAL (bad index or size, or
 * the BAR or its upper half already taken).
 */
int pci_dev_set_bar(struct pci_dev *d, int bar, uint64_t size, bool is64, bus_io_fn fn, void *opaque);
/*
 * Append a capability: body[0] is its ID, body[1] (next) is filled in here; len bytes (>= 2), 4-byte
 * aligned placement from 0x40. wmask (may be NULL: read-only) gives the guest-writable bits of the
 * capability (those of its first two bytes are ignored). Before pci_bus_add(). Returns its offset
 * in configuration space, or -ENOSPC (-EINVAL for len < 2).
 */
int pci_dev_add_cap(struct pci_dev *d, const void *body, uint8_t len, const void *wmask);
/*
 * Drive the device's INTx line (level 1 asserted, 0 deasserted); the interrupt-status bit follows
 * it, the command register's INTx-disable bit masks it. Any thread; a no-op before pci_bus_add().
 */
void pci_dev_set_intx(struct pci_dev *d, int level);

/* One of the bus's two MMIO windows, as registered on the MMIO bus. */
struct pci_window {
	struct pci_bus *bus;
	uint64_t base;
};

struct pci_bus {
	struct pci_dev *dev[PCI_SLOTS];
	struct pci_dev host_bridge;
	uint32_t cf8;
	pthread_mutex_t cfg_lock;     /* cf8 and every configuration space */
	pthread_rwlock_t bar_lock;    /* BAR addresses against MMIO dispatch */
	pthread_mutex_t intx_lock;    /* INTx levels */
	uint64_t mmio32_next, mmio64_base, mmio64_next;
	void (*irq_set)(void *opaque, unsigned gsi, int level);
	void *irq_opaque;
	const struct vlog *log;
	bool gsi_level[PCI_INTX_GSIS]; /* what irq_set() was last told, under intx_lock */
	struct pci_window win32, win64;
	bus_io_fn cf9_fn;             /* the byte at port 0xcf9 (reset control), or NULL */
	void *cf9_opaque;
};

/*
 * Register the configuration ports (PCI_CONFIG_PORT) on pio, the ECAM (PCI_ECAM_BASE) and both BAR
 * windows on mmio, and put the host bridge at 00.0. mmio64_base (above RAM, 4 GiB-aligned
 * suggested) starts the 64-bit window of PCI_MMIO64_SIZE bytes. irq_set drives an IOAPIC pin
 * (KVM_IRQ_LINE in the VM, a fake in tests). The bus ranges cannot be unregistered: destroy the
 * buses before reusing b. 0, or -errno from bus_register (-EEXIST, -EINVAL, -ENOMEM) or -EINVAL for
 * a window that wraps.
 */
int pci_bus_init(struct pci_bus *b, struct bus *pio, struct bus *mmio, uint64_t mmio64_base,
		 void (*irq_set)(void *opaque, unsigned gsi, int level), void *irq_opaque, const struct vlog *log);
/*
 * Put d in the next free slot (1..31), place its BARs, wire its INTx. Before the vCPUs run. 0,
 * -ENOSPC (no slot, no window space).
 */
int pci_bus_add(struct pci_bus *b, struct pci_dev *d);
/*
 * Hand byte accesses to port 0xcf9, which sits inside the configuration ports, to fn (the reset
 * control register, devices/cf9.h) at offset 0, outside the bus's locks. Before the vCPUs run.
 */
void pci_bus_set_port_cf9(struct pci_bus *b, bus_io_fn fn, void *opaque);
/* Releases the bus's locks; the devices belong to their owners. */
void pci_bus_destroy(struct pci_bus *b);
/*
 * Snapshot: a function's configuration space (what the guest may have changed: command, BAR
 * addresses, interrupt line, capability registers) and its INTx request, with its slot. Save with
 * the VM paused (takes cfg_lock, intx_lock); out->oom tells a failed allocation. The record is
 * self-delimiting (a device embeds it in its own) and versioned.
 * pci_dev_restore() takes a function already on the bus (same slot, same BARs and capabilities as
 * when saved): it refuses (-EINVAL) a short or malformed record, another slot, a saved space whose
 * read-only bits differ, or an INTx request without an interrupt pin, and then changes nothing.
 * Else it applies the guest-writable bits (through the write masks, as a guest write would: a BAR
 * placed outside its window decodes nowhere, as when a guest puts it there), makes MMIO dispatch
 * follow the restored BAR addresses and memory enable (the bar_update hook runs for each BAR whose
 * decoded address changes, as for a guest write) and re-drives INTx (request, INTx-disable, the
 * shared GSI); last the cfg_write hook runs once with (0, PCI_CFG_SIZE), as after a guest write,
 * so what a device mirrors from configuration space follows (msix_cfg_write(): MSI-X enable and
 * function mask; the vector table comes with msix_restore() after this). Reads only its record
 * from in (more may follow); on failure in is marked bad. Before the vCPUs run. Locks as a guest
 * access: cfg_lock (held over the hooks) -> bar_lock -> intx_lock.
 */
void pci_dev_save(struct pci_dev *d, struct sbuf *out);
int pci_dev_restore(struct pci_dev *d, struct sreader *in);
/*
 * The host bridge (00.0) and the 0xcf8 latch, as one entry of the VM's device list (kind "pci-host",
 * version 1): dev is the struct pci_bus. Its restore wants exactly the record (nothing left over)
 * and a latch value a guest write could leave (reserved bits 0); -EINVAL changes nothing.
 */
extern const struct vm_device_ops pci_host_bridge_device_ops;

/* The GSI of a slot's INTx pin (0 = INTA), as the DSDT's _PRT tells the guest. */
unsigned pci_intx_gsi(unsigned slot, unsigned pin);

#endif
