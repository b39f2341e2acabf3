/* SPDX-License-Identifier: Apache-2.0 */
/*
 * virtio-blk internals shared by the device (blk.c: sessions, queues, io_uring) and the request
 * parser (blk_req.c: a request is checked whole, before any I/O). Not part of the device API.
 */
#ifndef VMM_VIRTIO_BLK_REQ_H
#define VMM_VIRTIO_BLK_REQ_H

#include <linux/virtio_blk.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "virtio/blk.h"

#define SECTOR_SHIFT 9
#define IOV_PER_REQ VIRTIO_BLK_QUEUE_SIZE /* seg_max + header + status */
#define MAX_SEGS 16                        /* discard / write-zeroes segments per request */
#define SIZE_MAX_BYTES (1u << 20)
#define MAX_DISCARD_SECTORS (1u << 22)     /* per segment: 2 GiB */
#define CONFIG_SIZE offsetof(struct virtio_blk_config, max_secure_erase_sectors)

_Static_assert(sizeof(struct virtio_blk_outhdr) == 16, "virtio_blk_outhdr layout");
_Static_assert(sizeof(struct virtio_blk_discard_write_zeroes) == 16, "discard segment layout");
_Static_assert(CONFIG_SIZE == 60, "virtio_blk_config layout");

struct blk_queue;

struct blk_req {
	struct ev_req ev; /* the event loop hands back &ev */
	struct blk_queue *q;
	struct blk_req *next; /* free list, stalled list or flush waiters */
	uint32_t type;
	uint16_t head;
	uint8_t *status;  /* the status byte in guest RAM; NULL: the chain has none */
	uint32_t written; /* used-ring length on completion */
	uint64_t off;     /* byte offset of the next read/write */
	uint64_t wseq;    /* writes: issue number; flushes: writes issued before it */
	unsigned waiting; /* flush: earlier writes still in flight */
	bool counted;     /* a started write: in q->writes_inflight until it completes */
	int fd;
	unsigned iov_idx, niov; /* data still to move: iov[iov_idx..niov) */
	unsigned seg, nseg;
	struct virtio_blk_discard_write_zeroes segs[MAX_SEGS];
	struct iovec iov[]; /* IOV_PER_REQ */
};

struct blk_queue {
	struct blk_session *s;
	struct virtq *vq;
	unsigned idx;
	bool stopped;  /* broken queue: waits for a reset */
	bool need_irq; /* pushed since the last interrupt check */
	bool blocked;  /* stopped popping for want of a slot or an SQE */
	bool resume;   /* a slot or SQE freed: retry stalled requests and popping */
	bool more;     /* served its budget with chains maybe left: served again next turn (dev->later) */
	unsigned writes_inflight;
	uint64_t wseq;
	struct blk_req *free, *stalled, *flushes;
	void *slab;
};

struct blk_session {
	struct virtio_blk *dev; /* NULL: detached, and the device destroyed */
	struct virtio_ctx ctx;
	bool resetting;
	unsigned inflight; /* requests with an SQE in the ring */
	unsigned held;     /* requests popped and not completed (stalled and waiting flushes included) */
	struct blk_session *next_draining; /* on dev->draining while resetting with SQEs in flight */
	unsigned nq;
	struct blk_queue q[];
};

struct virtio_blk {
	struct disk *disk;
	const struct vlog *log;
	unsigned num_queues;
	uint64_t capacity; /* sectors */
	uint64_t features;
	struct virtio_blk_config cfg; /* little-endian, as the guest reads it */
	char serial[VIRTIO_BLK_ID_BYTES];
	struct blk_session *s; /* the active session, or NULL */
	struct blk_session *draining; /* reset sessions whose SQEs may still write guest memory */
	struct ev_defer defer;
	struct ev_defer later; /* queues that used up their budget, on the loop's next turn */
	bool dying; /* destroy() came while defer or later was queued: the last of them frees */
	struct vlog_budget warn; /* guest-triggerable warnings */
};


/* Guest-triggerable warning, rate-limited per device. */
void blk_warn(struct virtio_blk *dev, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Did the driver negotiate feature bit? */
bool blk_has(const struct blk_session *s, unsigned bit);
bool blk_is_write(uint32_t type);
/* Copy len bytes out of (dst), or src / zeros (both NULL) into, iov[*idx..n), consuming them from the front. */
void blk_iov_take(struct iovec *iov, unsigned *idx, unsigned n, void *dst, const void *src, size_t len);
/*
 * Check the whole request in chain c (its iovecs are in r->iov) before any I/O. Returns a status to
 * complete with now, or -1 when the request is to be started. Sets r->status (NULL: no status
 * byte: complete with 0 bytes written), r->written, and for I/O r->fd, r->off, r->iov_idx/niov.
 */
int blk_req_parse(struct blk_req *r, const struct virtq_chain *c);

#endif
