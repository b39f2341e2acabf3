// SPDX-License-Identifier: Apache-2.0
/* The VM's KVM GSI routing table: KVM's default irqchip routes plus MSI routes fired through irqfds. */
#include "irq_routes.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

enum { ROUTE_FREE, ROUTE_ALLOCATED, ROUTE_ROUTED };

struct irq_msix {
	struct irq_routes *r;
	struct irq_msix *next; /* on r->all, under r->lock */
	unsigned bound;        /* vectors 0..bound-1 have their irqfd */
	unsigned nvec;
	bool has_devid;
	uint32_t devid;
	struct {
		unsigned gsi;
		int fd;
	} v[];
};

size_t irq_routes_default(struct kvm_irq_routing_entry *e)
{
	size_t n = 0;

#if defined(__aarch64__)
	/* As kvm_vgic_setup_default_irq_routing(): GSI n -> pin n of the vGIC, which is SPI n. */
	for (unsigned gsi = 0; gsi < IRQ_ROUTES_DEFAULT_NR; gsi++)
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = 0, .pin = gsi },
		};
#else
	/* As KVM's default_routing[] (arch/x86/kvm/irq_comm.c): GSI n -> IOAPIC pin n, for n < 16 also PIC pin n. */
	for (unsigned gsi = 0; gsi < 24; gsi++) {
		e[n++] = (struct kvm_irq_routing_entry){
			.gsi = gsi,
			.type = KVM_IRQ_ROUTING_IRQCHIP,
			.u.irqchip = { .irqchip = KVM_IRQCHIP_IOAPIC, .pin = gsi },
		};
		if (gsi < 16)
			e[n++] = (struct kvm_irq_routing_entry){
				.gsi = gsi,
				.type = KVM_IRQ_ROUTING_IRQCHIP,
				.u.irqchip = { .irqchip = gsi < 8 ? KVM_IRQCHIP_PIC_MASTER : KVM_IRQCHIP_PIC_SLAVE,
					       .pin = gsi % 8 },
			};
	}
#endif
	return n;
}

/* Build the whole table and hand it to KVM. lock held. 0 or -errno; the callers say what failed. */
static int commit(struct irq_routes *r)
{
	struct kvm_irq_routing *t = r->table;
	size_t n = irq_routes_default(t->entries);

	for (unsigned i = 0; i < IRQ_ROUTES_MAX_MSI; i++) {
		const struct irq_msi_route *m = &r->msi[i];

		if (m->state != ROUTE_ROUTED)
			continue;
		t->entries[n++] = (struct kvm_irq_routing_entry){
			.gsi = IRQ_ROUTES_MSI_BASE + i,
			.type = KVM_IRQ_ROUTING_MSI,
			.flags = m->has_devid ? KVM_MSI_VALID_DEVID : 0,
			.u.msi = { .address_lo = (uint32_t)m->addr, .address_hi = (uint32_t)(m->addr >> 32),
				   .data = m->data, .devid = m->devid },
		};
	}
	t->nr = (uint32_t)n;
	t->flags = 0;
	return ioctl(r->vm_fd, KVM_SET_GSI_ROUTING, t) < 0 ? -errno : 0;
}

int irq_routes_init(struct irq_routes *r, int vm_fd, const struct vlog *log)
{
	int ret;

	memset(r, 0, sizeof(*r));
	r->vm_fd = vm_fd;
	r->log = log;
	r->table = calloc(1, sizeof(*r->table) + (IRQ_ROUTES_DEFAULT_NR + IRQ_ROUTES_MAX_MSI) *
					       sizeof(struct kvm_irq_routing_entry));
	if (!r->table)
		return -ENOMEM;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_lock(&r->lock);
	ret = commit(r);
	pthread_mutex_unlock(&r->lock);
	if (ret) {
		vlog_err(log, "cannot set the interrupt routing table (KVM_SET_GSI_ROUTING): %s", strerror(-ret));
		irq_routes_destroy(r);
	}
	return ret;
}

void irq_routes_destroy(struct irq_routes *r)
{
	if (!r->table)
		return;
	pthread_mutex_destroy(&r->lock);
	free(r->table);
	r->table = NULL;
}

static int irqfd(struct irq_routes *r, int fd, unsigned gsi, bool assign)
{
	struct kvm_irqfd req = { .fd = (uint32_t)fd, .gsi = gsi, .flags = assign ? 0 : KVM_IRQFD_FLAG_DEASSIGN };

	if (ioctl(r->vm_fd, KVM_IRQFD, &req) < 0) {
		int e = errno;

		vlog_err(r->log, "cannot %s the irqfd of GSI %u (KVM_IRQFD): %s", assign ? "bind" : "unbind", gsi,
			 strerror(e));
		return -e;
	}
	return 0;
}

/* Give back the GSIs and descriptors of x->v[0 .. n). */
static void release(struct irq_msix *x, unsigned n, unsigned bound)
{
	struct irq_routes *r = x->r;

	for (unsigned i = 0; i < n; i++) {
		if (i < bound)
			irqfd(r, x->v[i].fd, x->v[i].gsi, false);
		if (x->v[i].fd >= 0)
			close(x->v[i].fd);
	}
	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < n; i++)
		r->msi[x->v[i].gsi - IRQ_ROUTES_MSI_BASE] = (struct irq_msi_route){ .state = ROUTE_FREE };
	pthread_mutex_unlock(&r->lock);
}

/* Bind the irqfds of x's vectors from x->bound on. 0 or -errno (logged); x->bound says how far it got. */
static int bind_vectors(struct irq_msix *x)
{
	for (; x->bound < x->nvec; x->bound++) {
		int ret = irqfd(x->r, x->v[x->bound].fd, x->v[x->bound].gsi, true);

		if (ret)
			return ret;
	}
	return 0;
}

int irq_routes_msix_create(struct irq_routes *r, unsigned nvec, struct irq_msix **out)
{
	struct irq_msix *x;
	unsigned got = 0;
	bool live;
	int ret;

	if (nvec == 0 || nvec > MSIX_MAX_VECTORS)
		return -EINVAL;
	x = calloc(1, sizeof(*x) + nvec * sizeof(x->v[0]));
	if (!x)
		return -ENOMEM;
	x->r = r;
	x->nvec = nvec;

	pthread_mutex_lock(&r->lock);
	for (unsigned i = 0; i < IRQ_ROUTES_MAX_MSI && got < nvec; i++) {
		if (r->msi[i].state != ROUTE_FREE)
			continue;
		r->msi[i].state = ROUTE_ALLOCATED;
		x->v[got].gsi = IRQ_ROUTES_MSI_BASE + i;
		x->v[got].fd = -1;
		got++;
	}
	pthread_mutex_unlock(&r->lock);
	if (got < nvec) {
		vlog_err(r->log, "out of interrupt routes: %u MSI vectors wanted, %u free", nvec, got);
		ret = -ENOSPC;
		goto err;
	}
	for (unsigned i = 0; i < nvec; i++) {
		x->v[i].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (x->v[i].fd < 0) {
			ret = -errno;
			vlog_err(r->log, "cannot create an eventfd for an MSI vector: %s", strerror(errno));
			goto err;
		}
	}
	pthread_mutex_lock(&r->lock);
	live = r->live;
	x->next = r->all;
	r->all = x;
	pthread_mutex_unlock(&r->lock);
	ret = live ? bind_vectors(x) : 0;
	if (ret) {
		irq_routes_msix_destroy(x);
		return ret;
	}
	*out = x;
	return 0;
err:
	release(x, got, 0);
	free(x);
	return ret;
}

int irq_routes_start(struct irq_routes *r)
{
	int ret = 0;

	pthread_mutex_lock(&r->lock);
	r->live = true;
	for (struct irq_msix *x = r->all; x && !ret; x = x->next)
		ret = bind_vectors(x);
	pthread_mutex_unlock(&r->lock);
	return ret;
}

void irq_routes_msix_destroy(struct irq_msix *x)
{
	struct irq_routes *r;

	if (!x)
		return;
	r = x->r;
	pthread_mutex_lock(&r->lock);
	for (struct irq_msix **p = &r->all; *p; p = &(*p)->next) {
		if (*p == x) {
			*p = x->next;
			break;
		}
	}
	pthread_mutex_unlock(&r->lock);
	release(x, x->nvec, x->bound);
	free(x);
}

void irq_routes_msix_set_devid(struct irq_msix *x, uint32_t devid)
{
	x->has_devid = true;
	x->devid = devid;
}

int irq_routes_msix_fd(const struct irq_msix *x, unsigned vec)
{
	return vec < x->nvec ? x->v[vec].fd : -1;
}

static int msi_update(void *opaque, unsigned vec, uint64_t addr, uint32_t data)
{
	struct irq_msix *x = opaque;
	struct irq_routes *r = x->r;
	struct irq_msi_route *m, old;
	int ret = 0;

	if (vec >= x->nvec)
		return -EINVAL;
	pthread_mutex_lock(&r->lock);
	m = &r->msi[x->v[vec].gsi - IRQ_ROUTES_MSI_BASE];
	old = *m;
	if (old.state != ROUTE_ROUTED || old.addr != addr || old.data != data) {
		*m = (struct irq_msi_route){ .state = ROUTE_ROUTED, .has_devid = x->has_devid, .devid = x->devid,
					     .addr = addr, .data = data };
		ret = commit(r);
		if (ret) {
			*m = old; /* keep what KVM has */
			/* The guest's MSI-X programming got here: rationed, like every guest-triggered line. */
			vlog_guest(r->log, &r->warn, "MSI-X", "cannot route vector %u (KVM_SET_GSI_ROUTING): %s", vec,
				   strerror(-ret));
		}
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static void msi_fire(void *opaque, unsigned vec)
{
	const struct irq_msix *x = opaque;
	uint64_t one = 1;

	if (vec >= x->nvec)
		return;
	if (write(x->v[vec].fd, &one, sizeof(one)) < 0) {
		/* Only EAGAIN, when the counter is about to overflow: the interrupt is pending anyway. */
	}
}

/* Another eventfd on the vector's GSI (a backend's completion signal): KVM delivers its writes. */
static int msi_bind(void *opaque, unsigned vec, int fd, bool bind)
{
	const struct irq_msix *x = opaque;

	if (vec >= x->nvec)
		return -EINVAL;
	return irqfd(x->r, fd, x->v[vec].gsi, bind);
}

const struct msi_ops irq_routes_msi_ops = {
	.update = msi_update,
	.fire = msi_fire,
	.bind = msi_bind,
};
