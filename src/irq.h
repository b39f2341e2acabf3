/* SPDX-License-Identifier: Apache-2.0 */
/* An interrupt line a device drives; the VM decides where it goes (KVM_IRQ_LINE, a test fake). */
#ifndef VMM_IRQ_H
#define VMM_IRQ_H

struct irq_line {
	/* Set the line's level (1 asserted, 0 deasserted). */
	void (*set)(void *opaque, unsigned gsi, int level);
	void *opaque;
	unsigned gsi;
};

static inline void irq_line_set(const struct irq_line *irq, int level)
{
	if (irq && irq->set)
		irq->set(irq->opaque, irq->gsi, level);
}

#endif
