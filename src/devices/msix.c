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
	for (unsigned i = 0; i < MSIX_MAX_LENT; i++)
		m->lent[i].fd = -1;
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

static int update(struct msix *m, unsigned v)
{
	const struct msix_entry *e = &m->table[v];

	return m->ops->update(m->ops_opaque, v, (uint64_t)e->addr_hi << 32 | e->addr_lo, e->data);
}

/*
 * Vector v has just become live: give the transport its message, then deliver what was held back. lock held.
 * What ops->update returned (the guest paths ignore it: the transport reports its own failures).
 */
static int went_live(struct msix *m, unsigned v)
{
	int ret = update(m, v);

	if (m->pba & (1ull << v)) {
		m->pba &= ~(1ull << v);
		m->ops->fire(m->ops_opaque, v);
	}
	return ret;
}

/* Bind or unbind one lent eventfd. lock held. */
static void bind_lent(struct msix *m, struct msix_lent *l, bool bind)
{
	if (l->bound == bind)
		return;
	if (!m->ops->bind(m->ops_opaque, l->vec, l->fd, bind))
		l->bound = bind;
	else if (!bind)
		l->bound = false; /* an unbind failed (fd gone?): nothing more to do about it */
}

/* After any change of the vectors' liveness: every lent eventfd bound exactly while its vector is live. lock held. */
static void sync_lent(struct msix *m)
{
	for (unsigned i = 0; i < MSIX_MAX_LENT; i++) {
		struct msix_lent *l = &m->lent[i];

		if (l->fd >= 0)
			bind_lent(m, l, live(m, l->vec));
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
	if (!is_write)
		return;
	if (live(m, v)) {
		if (!was)
			went_live(m, v);
		else if (message)
			update(m, v);
	}
	if (was != live(m, v))
		sync_lent(m);
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
	sync_lent(m);
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

int msix_lend(struct msix *m, uint16_t vec, int fd)
{
	struct msix_lent *slot = NULL;
	int ret = 0;

	if (vec >= m->nvec || fd < 0)
		return -EINVAL;
	if (!m->ops->bind)
		return -ENOTSUP;
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < MSIX_MAX_LENT && ret == 0; i++) {
		if (m->lent[i].fd == fd)
			ret = -EEXIST;
		else if (m->lent[i].fd < 0 && !slot)
			slot = &m->lent[i];
	}
	if (!ret && !slot)
		ret = -ENOSPC;
	if (!ret) {
		*slot = (struct msix_lent){ .fd = fd, .vec = vec };
		bind_lent(m, slot, live(m, vec));
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

void msix_unlend(struct msix *m, int fd)
{
	if (fd < 0)
		return;
	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < MSIX_MAX_LENT; i++) {
		struct msix_lent *l = &m->lent[i];

		if (l->fd != fd)
			continue;
		bind_lent(m, l, false);
		*l = (struct msix_lent){ .fd = -1 };
	}
	pthread_mutex_unlock(&m->lock);
}

bool msix_lent_bound(struct msix *m, int fd)
{
	bool bound = false;

	pthread_mutex_lock(&m->lock);
	for (unsigned i = 0; i < MSIX_MAX_LENT; i++)
		if (m->lent[i].fd == fd && fd >= 0)
			bound = m->lent[i].bound;
	pthread_mutex_unlock(&m->lock);
	return bound;
}

/*
 * Snapshot, layout 1: u8 layout (1), u16 nvec, nvec entries of u32 address low, address high, data, vector
 * control, u64 pending bits, bool enabled, bool function mask. The capability itself (table and PBA location,
 * message control) is configuration space, saved and checked by pci_dev_save()/pci_dev_restore().
 */
#define MSIX_STATE_LAYOUT 1

struct msix_state {
	struct msix_entry table[MSIX_MAX_VECTORS];
	uint64_t pba;
	bool enabled, masked;
};

void msix_save(struct msix *m, struct sbuf *out)
{
	pthread_mutex_lock(&m->lock);
	sbuf_u8(out, MSIX_STATE_LAYOUT);
	sbuf_u16(out, m->nvec);
	for (unsigned v = 0; v < m->nvec; v++) {
		const struct msix_entry *e = &m->table[v];

		sbuf_u32(out, e->addr_lo);
		sbuf_u32(out, e->addr_hi);
		sbuf_u32(out, e->data);
		sbuf_u32(out, e->ctrl);
	}
	sbuf_u64(out, m->pba);
	sbuf_bool(out, m->enabled);
	sbuf_bool(out, m->masked);
	pthread_mutex_unlock(&m->lock);
}

/*
 * Read m's record into s; in is bad if it is short, for another vector count, or holds what no guest write leaves
 * (address bits 1:0, reserved vector-control bits, pending bits of vectors that do not exist).
 */
static void read_state(const struct msix *m, struct sreader *in, struct msix_state *s)
{
	if (sr_u8(in) != MSIX_STATE_LAYOUT || sr_u16(in) != m->nvec) {
		sr_fail(in);
		return;
	}
	for (unsigned v = 0; v < m->nvec; v++) {
		struct msix_entry *e = &s->table[v];

		e->addr_lo = sr_u32(in);
		e->addr_hi = sr_u32(in);
		e->data = sr_u32(in);
		e->ctrl = sr_u32(in);
		if ((e->addr_lo & 3) || (e->ctrl & ~(uint32_t)PCI_MSIX_ENTRY_CTRL_MASKBIT))
			sr_fail(in);
	}
	s->pba = sr_u64(in);
	if (m->nvec < 64 && (s->pba >> m->nvec))
		sr_fail(in);
	s->enabled = sr_bool(in);
	s->masked = sr_bool(in);
}

/*
 * The enable and function-mask bits must be those of the message control word that pci_dev_restore() put back:
 * struct msix mirrors configuration space (msix_cfg_write()). With MSI-X enabled, every vector that is live then
 * goes through went_live() as an unmask by the guest does: ops->update with its message, then its pending message.
 * Locks as on the guest's path: cfg_lock (guards cfg[]) -> m->lock.
 */
int msix_restore(struct msix *m, struct sreader *in)
{
	struct pci_bus *b = m->dev->bus;
	struct msix_state s;
	const uint8_t *c;
	uint16_t ctrl;
	int ret = 0;

	read_state(m, in, &s);
	if (!sr_ok(in))
		return -EINVAL;
	if (b)
		pthread_mutex_lock(&b->cfg_lock);
	c = m->dev->cfg + m->cap + PCI_MSIX_FLAGS;
	ctrl = (uint16_t)(c[0] | c[1] << 8);
	if (s.enabled != !!(ctrl & PCI_MSIX_FLAGS_ENABLE) || s.masked != !!(ctrl & PCI_MSIX_FLAGS_MASKALL)) {
		if (b) {
			vlog_debug(b->log, "saved MSI-X state of PCI slot %u does not match its message control 0x%04x",
				   m->dev->slot, ctrl);
			pthread_mutex_unlock(&b->cfg_lock);
		}
		sr_fail(in);
		return -EINVAL;
	}
	pthread_mutex_lock(&m->lock);
	memcpy(m->table, s.table, sizeof(m->table[0]) * m->nvec);
	m->pba = s.pba;
	m->enabled = s.enabled;
	m->masked = s.masked;
	for (unsigned v = 0; v < m->nvec; v++) {
		if (live(m, v)) {
			int err = went_live(m, v);

			if (err && !ret)
				ret = err;
		}
	}
	sync_lent(m);
	pthread_mutex_unlock(&m->lock);
	if (b)
		pthread_mutex_unlock(&b->cfg_lock);
	return ret;
}
