// SPDX-License-Identifier: Apache-2.0
/* MSI-X: capability, vector table and pending bits of a PCI device; delivery through an msi_ops table. */
#include "devices/msix.h"

#include <errno.h>
#include <string.h>

#define MSIX_CAP_LEN 12
#define PBA_LEN 8 /* one qword: MSIX_MAX_VECTORS <= 64 */
_Static_assert(MSIX_MAX_VECTORS <= 64, "the PBA is a single uint64_t");

static uint32_t get32(const void *p)
{
	const uint8_t *b = p;

	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void put32(void *p, uint32_t v)
{
	uint8_t *b = p;

	for (int i = 0; i < 4; i++)
		b[i] = (uint8_t)(v >> (8 * i));
}

int msix_init(struct msix *m, struct pci_dev *d, uint16_t nvec, int bar, uint32_t table_off, uint32_t pba_off,
	      const struct msi_ops *ops, void *ops_opaque)
{
	uint8_t cap[MSIX_CAP_LEN] = { PCI_CAP_ID_MSIX }, wmask[MSIX_CAP_LEN] = { 0 };
	uint64_t table_end = (uint64_t)table_off + (uint64_t)PCI_MSIX_ENTRY_SIZE * nvec;
	uint64_t pba_end = (uint64_t)pba_off + PBA_LEN;
	int off;

	if (nvec == 0 || nvec > MSIX_MAX_VECTORS || bar < 0 || bar >= PCI_BARS || !ops || !ops->update || !ops->fire)
		return -EINVAL;
	if ((table_off & PCI_MSIX_TABLE_BIR) || (pba_off & PCI_MSIX_PBA_BIR))
		return -EINVAL; /* the low 3 bits hold the BAR index */
	if (table_off < pba_end && pba_off < table_end)
		return -EINVAL;
	if (d->bar[bar].size && (table_end > d->bar[bar].size || pba_end > d->bar[bar].size))
		return -EINVAL;

	memset(m, 0, sizeof(*m));
	cap[PCI_MSIX_FLAGS] = (uint8_t)(nvec - 1);
	cap[PCI_MSIX_FLAGS + 1] = (uint8_t)((nvec - 1) >> 8);
	put32(cap + PCI_MSIX_TABLE, table_off | (uint32_t)bar);
	put32(cap + PCI_MSIX_PBA, pba_off | (uint32_t)bar);
	wmask[PCI_MSIX_FLAGS + 1] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
	off = pci_dev_add_cap(d, cap, sizeof(cap), wmask);
	if (off < 0)
		return off;

	m->dev = d;
	m->nvec = nvec;
	m->cap = off;
	m->bar = bar;
	m->table_off = table_off;
	m->pba_off = pba_off;
	for (unsigned v = 0; v < nvec; v++)
		m->table[v].ctrl = PCI_MSIX_ENTRY_CTRL_MASKBIT;
	m->ops = ops;
	m->ops_opaque = ops_opaque;
	pthread_mutex_init(&m->lock, NULL);
	return 0;
}

void msix_destroy(struct msix *m)
{
	if (m->dev)
		pthread_mutex_destroy(&m->lock);
	m->dev = NULL;
}

/* Would a message of vector v reach the guest now? lock held. */
static bool live(const struct msix *m, unsigned v)
{
	return m->enabled && !m->masked && !(m->table[v].ctrl & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

static void update(struct msix *m, unsigned v)
{
	const struct msix_entry *e = &m->table[v];

	m->ops->update(m->ops_opaque, v, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/* Vector v has just become live: give the transport its message, then deliver what was held back. lock held. */
static void went_live(struct msix *m, unsigned v)
{
	update(m, v);
	if (m->pba & (1ull << v)) {
		m->pba &= ~(1ull << v);
		m->ops->fire(m->ops_opaque, v);
	}
}

/* A table access of whole dwords (one, or two for a qword), off relative to the table. lock held. */
static void table_io(struct msix *m, uint64_t off, void *data, uint32_t len, bool is_write)
{
	unsigned v = (unsigned)(off / PCI_MSIX_ENTRY_SIZE), first = (unsigned)(off % PCI_MSIX_ENTRY_SIZE) / 4;
	struct msix_entry *e = &m->table[v];
	uint32_t *field[4] = { &e->addr_lo, &e->addr_hi, &e->data, &e->ctrl };
	bool was = live(m, v), message = false;

	for (unsigned k = 0; k < len / 4; k++) {
		unsigned i = first + k;
		uint32_t val;

		if (!is_write) {
			put32((uint8_t *)data + 4 * k, *field[i]);
			continue;
		}
		val = get32((const uint8_t *)data + 4 * k);
		if (i == 0)
			val &= ~3u; /* the address is dword-aligned */
		if (i == 3)
			val &= PCI_MSIX_ENTRY_CTRL_MASKBIT; /* the other bits are reserved */
		else
			message = true;
		*field[i] = val;
	}
	if (!is_write || !live(m, v))
		return;
	if (!was)
		went_live(m, v);
	else if (message)
		update(m, v);
}

static void pba_read(const struct msix *m, uint64_t off, void *data, uint32_t len)
{
	if (len == 8) {
		put32(data, (uint32_t)m->pba);
		put32((uint8_t *)data + 4, (uint32_t)(m->pba >> 32));
	} else {
		put32(data, (uint32_t)(m->pba >> (off ? 32 : 0)));
	}
}

void msix_bar_io(struct msix *m, uint64_t off, void *data, uint32_t len, bool is_write)
{
	bool width_ok = (len == 4 && off % 4 == 0) || (len == 8 && off % 8 == 0);

	if (!is_write)
		memset(data, 0, len);
	if (!width_ok)
		return;
	pthread_mutex_lock(&m->lock);
	if (off >= m->table_off && off - m->table_off < (uint64_t)PCI_MSIX_ENTRY_SIZE * m->nvec)
		table_io(m, off - m->table_off, data, len, is_write);
	else if (off >= m->pba_off && off - m->pba_off < PBA_LEN && !is_write) /* the PBA is read-only */
		pba_read(m, off - m->pba_off, data, len);
	pthread_mutex_unlock(&m->lock);
}

bool msix_bar_claims(const struct msix *m, uint64_t off)
{
	return (off >= m->table_off && off - m->table_off < (uint64_t)PCI_MSIX_ENTRY_SIZE * m->nvec) ||
	       (off >= m->pba_off && off - m->pba_off < PBA_LEN);
}

void msix_cfg_write(struct msix *m)
{
	const uint8_t *c = m->dev->cfg + m->cap + PCI_MSIX_FLAGS;
	uint16_t ctrl = (uint16_t)(c[0] | c[1] << 8);
	bool was[MSIX_MAX_VECTORS];

	pthread_mutex_lock(&m->lock);
	for (unsigned v = 0; v < m->nvec; v++)
		was[v] = live(m, v);
	m->enabled = ctrl & PCI_MSIX_FLAGS_ENABLE;
	m->masked = ctrl & PCI_MSIX_FLAGS_MASKALL;
	for (unsigned v = 0; v < m->nvec; v++) {
		if (!was[v] && live(m, v))
			went_live(m, v);
	}
	pthread_mutex_unlock(&m->lock);
}

bool msix_enabled(struct msix *m)
{
	bool on;

	pthread_mutex_lock(&m->lock);
	on = m->enabled;
	pthread_mutex_unlock(&m->lock);
	return on;
}

void msix_notify(struct msix *m, uint16_t vec)
{
	if (vec == MSIX_NO_VECTOR)
		return;
	pthread_mutex_lock(&m->lock);
	if (vec < m->nvec && m->enabled) {
		if (live(m, vec))
			m->ops->fire(m->ops_opaque, vec);
		else
			m->pba |= 1ull << vec;
	}
	pthread_mutex_unlock(&m->lock);
}
