/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The split virtqueue (virtio 1.2 section 2.7), shared by every virtio device. The guest is
 * hostile: the rings are validated once when the driver enables the queue (size, alignment,
 * every ring wholly inside guest RAM), each descriptor is copied once before use, chains are
 * bounded by the queue size (a loop ends there), indirect tables by their length and never
 * nested, and every buffer address goes through gmem_ptr(). A queue that cannot be trusted any
 * more (a head index out of range, an avail index that jumps by more than the queue size) is
 * "broken": the device then sets DEVICE_NEEDS_RESET; the VMM keeps running.
 *
 * Not thread-safe: one queue is driven by one thread (the I/O thread) at a time.
 */
#ifndef VMM_VIRTIO_QUEUE_H
#define VMM_VIRTIO_QUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <linux/virtio_ring.h>

#include "memory.h"
#include "snapshot/sbuf.h"

#define VIRTQ_MAX_SIZE 1024 /* the largest queue size a device may offer */

struct virtq {
	const struct guest_mem *mem;
	uint16_t size;                /* power of two, 1..VIRTQ_MAX_SIZE */
	bool event_idx;               /* VIRTIO_RING_F_EVENT_IDX negotiated */
	struct vring_desc *desc;      /* host pointers, validated by virtq_init() */
	struct vring_avail *avail;
	struct vring_used *used;
	uint16_t last_avail;          /* next avail ring entry to consume */
	uint16_t used_idx;            /* our copy of used->idx */
	uint16_t signalled_used;      /* used_idx when we last interrupted the guest (EVENT_IDX) */
	bool signalled_valid;
	bool broken;
};

/* One popped request: device-readable buffers iov[0..nout), then device-writable iov[nout..niov). */
struct virtq_chain {
	uint16_t head;
	unsigned niov, nout;
	uint64_t out_len, in_len; /* bytes readable / writable in total */
	/*
	 * Set when the chain was malformed (a buffer outside RAM or across two RAM regions, a
	 * writable descriptor before a readable one, too many buffers for the caller's iov array, a
	 * bad indirect table, a next index out of range, a loop, more than 2^32 - 1 bytes in total):
	 * the head is valid, so the device completes it (with an error status where it can) via
	 * virtq_push(); iov is not to be used then (niov, nout, out_len, in_len are 0).
	 * Zero-length buffers are accepted and skipped: they take no iov entry.
	 * An indirect table (up to VIRTQ_MAX_SIZE entries) is allowed only as the head descriptor.
	 */
	bool bad;
};

/*
 * Set up a queue the driver enabled: size a power of two <= VIRTQ_MAX_SIZE, desc 16-byte, avail
 * 2-byte, used 4-byte aligned, every ring (including the event-idx words) inside guest RAM.
 * Returns 0 or -EINVAL (the caller reports it and refuses the queue); on -EINVAL q is left broken,
 * so virtq_pop() returns -EIO and nothing touches guest memory.
 */
int virtq_init(struct virtq *q, const struct guest_mem *mem, uint16_t size, uint64_t desc_gpa,
	       uint64_t avail_gpa, uint64_t used_gpa, bool event_idx);

/*
 * Take the next available chain into c, with at most max_iov buffers in iov (host pointers into
 * guest RAM). Returns 1 when a chain was taken (check c->bad), 0 when the ring is empty, -EIO when
 * the queue is broken (q->broken is set; every later call also returns -EIO).
 */
int virtq_pop(struct virtq *q, struct virtq_chain *c, struct iovec *iov, unsigned max_iov);

/* Put a finished chain on the used ring with the number of bytes written into its buffers. */
void virtq_push(struct virtq *q, uint16_t head, uint32_t written);
/*
 * Several chains the driver must see together (a frame merged over several receive buffers: Linux
 * drops it when the first buffer is visible before the rest): virtq_fill() each at offset 0, 1, ...
 * (below q->size), then one virtq_flush(q, count) publishes them with a single used->idx update.
 */
void virtq_fill(struct virtq *q, unsigned offset, uint16_t head, uint32_t written);
void virtq_flush(struct virtq *q, unsigned count);

/* After one or more virtq_push(): must the guest be interrupted (EVENT_IDX / NO_INTERRUPT)? */
bool virtq_should_interrupt(struct virtq *q);

/*
 * Ask the guest to notify (enable) or not to notify (disable) us when it adds buffers. After
 * enabling, returns true when buffers arrived meanwhile (the caller then keeps polling); disabling
 * and a broken queue return false. Without this re-check a kick can be missed, so a device runs:
 *	do { virtq_set_notify(q, false); while (virtq_pop(...) == 1) ...; } while (virtq_set_notify(q, true));
 * With EVENT_IDX, disabling is only a hint (the guest may still kick).
 */
bool virtq_set_notify(struct virtq *q, bool enable);

/*
 * The device loop above with a budget, so one doorbell cannot keep the I/O thread to itself:
 * take(arg) takes one chain and returns 1 (taken: completed or started), 0 (ring empty) or < 0
 * (stop for now: no slot, queue broken, ...). It is called at most budget times. Returns true when
 * the budget ran out with chains possibly left: notifications are still off, and the caller must
 * come back by itself (event_loop_later()), for no kick will announce what is already on the ring.
 * Returns false when take() stopped or the ring was found empty with notifications re-enabled.
 */
bool virtq_serve(struct virtq *q, int (*take)(void *arg), void *arg, unsigned budget);

/* Are there available chains we have not popped? (false once the queue is broken) */
bool virtq_has_work(const struct virtq *q);

/*
 * Snapshot: where a queue is, beyond its ring addresses (the transport's registers). Chains popped
 * and not yet pushed (last_avail - used_idx of them) are the device's to record by head.
 */
struct virtq_pos {
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used; /* EVENT_IDX: used_idx at the last interrupt, if signalled_valid */
	bool signalled_valid;
};

void virtq_get_pos(const struct virtq *q, struct virtq_pos *p);
void virtq_pos_save(const struct virtq_pos *p, struct sbuf *out);
/* Reads what virtq_pos_save() wrote; a bad byte makes in bad. */
void virtq_pos_load(struct virtq_pos *p, struct sreader *in);
/* Can p belong to a queue of size entries (no more chains held than the queue holds)? */
bool virtq_pos_valid(const struct virtq_pos *p, uint16_t size);
/*
 * Right after a successful virtq_init(), before the device uses q: go on from saved positions, as
 * if the queue had never stopped. -EINVAL (q unchanged) when !virtq_pos_valid() or q is broken.
 */
int virtq_set_pos(struct virtq *q, const struct virtq_pos *p);
/*
 * Walk the chain at head again, as virtq_pop() would, without touching the avail ring: a device
 * taking back a chain it held when the snapshot was made. 1 (check c->bad), or -EINVAL (head out of
 * range, queue broken).
 */
int virtq_walk(struct virtq *q, uint16_t head, struct virtq_chain *c, struct iovec *iov, unsigned max_iov);

/*
 * Copy up to len bytes between a popped chain's buffers iov[0..niov), from byte off of the chain on,
 * and a flat buffer; returns how many were copied (fewer when the buffers end first).
 */
size_t virtq_iov_to(const struct iovec *iov, unsigned niov, uint64_t off, const void *src, size_t len);
size_t virtq_iov_from(const struct iovec *iov, unsigned niov, uint64_t off, void *dst, size_t len);

#endif
