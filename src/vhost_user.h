/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A vhost-user frontend (QEMU's docs/interop/vhost-user.rst): a virtio device whose queues are
 * served by another process, the backend (virtiofsd, a vhost-user-blk or -net daemon), over a unix
 * stream socket. Generic: the device on top (virtio/fs.c) keeps its configuration space and
 * features; this module speaks the protocol and hands the backend guest RAM (a memfd, see
 * gmem_init_memfd()) and the queues.
 *
 * Messages: a 12-byte header (request, flags with version 1, payload size), the payload, file
 * descriptors as SCM_RIGHTS. Every request that has a reply (or an acknowledgement, with
 * REPLY_ACK) is waited for synchronously, at most timeout_ms (VHOST_USER_TIMEOUT_MS): a backend
 * that closes the socket, does not answer in time, or answers with another request, flags or
 * size, or with file descriptors, makes the connection "broken": one log line, the socket is shut
 * down (the backend sees EOF and stops touching guest memory), and every later call fails with
 * -EIO without a word. The caller (the device) then puts itself in NEEDS_RESET.
 *
 * Queues (vhost_user_start / vhost_user_stop / vhost_user_kick): each started queue's kick is the
 * transport's own doorbell eventfd, lent through virtio_ctx.doorbell: KVM's ioeventfd signals it
 * and the backend reads it, with no hop through vmm; the I/O thread only watches it, without
 * reading, to count (below). (A transport that lends none: an eventfd of ours that
 * vhost_user_kick() writes.) The backend writes a call eventfd of ours, which is lent to the
 * queue's MSI-X vector through virtio_ctx.lend_call: KVM interrupts the guest on the backend's
 * write, again with no hop through vmm, and we never read it; only where the transport does not
 * lend it (MSI-X off) the I/O thread reads it and calls ctx->interrupt. So that the guest's
 * requests do not wake the I/O thread each, a lent doorbell is looked at once, then not again
 * until a timed look 10 ms later (LOOK_MS), which repeats while requests are out on any ring or
 * the guest added any since the last look, and watches the doorbells again once a look finds all
 * empty and unchanged. While started, the socket is watched too:
 * EOF (the backend
 * died) or anything unsolicited breaks the connection (its one log line), stops watching the call
 * eventfds, calls the device's on_broken callback (vhost_user_on_broken()), gives the doorbells
 * back to the transport (the device answers the guest's kicks from then on) and then
 * ctx->needs_reset (the transport's own line).
 *
 * Which chains the backend holds: at each look (a kick seen, a timed look, a relayed call, the
 * backend's death) the new avail and used ring entries are read from guest memory and counted per
 * head, so at the backend's death the chains it took and never completed are known exactly even
 * when it completed out of order (vhost_user_orphans()). The count is lost when either ring lapped
 * what we had read (more than a queue's worth of entries between two looks: over 100,000 requests
 * a second for a 1024-entry queue) or the rings make no sense (a head out of range, a head held
 * twice, completed more often than it was made available); it is found again
 * the next time the queue is seen empty (avail index == used index). While lost, nothing old is
 * reported: a chain never completed (the guest's request waits) is the safe side, a chain
 * completed twice (the guest driver takes the ring for broken) or a guess about another chain's
 * buffers is not. (VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD would let the backend keep that count for
 * us; QEMU's C virtiofsd does not offer it, so it is not used.)
 *
 * Threads: not thread-safe. Connect and handshake at set-up; everything else on the I/O thread.
 */
#ifndef VMM_VHOST_USER_H
#define VMM_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "memory.h"
#include "virtio/device.h"

#define VHOST_USER_TIMEOUT_MS 5000
#define VHOST_USER_MAX_QUEUES 32
#define VHOST_USER_MAX_REGIONS 8 /* what every backend takes in SET_MEM_TABLE */

/* Requests (the frontend's). */
enum {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
};

#define VHOST_USER_VERSION 0x1u
#define VHOST_USER_VERSION_MASK 0x3u
#define VHOST_USER_FLAG_REPLY (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)
#define VHOST_USER_F_PROTOCOL_FEATURES 30
#define VHOST_USER_PROTOCOL_F_MQ 0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK 3
#define VHOST_USER_VRING_NOFD (1u << 8) /* in SET_VRING_KICK/CALL: no fd follows */

/* The wire formats (little-endian, as every vhost-user peer is on x86_64 and arm64). */
struct vhost_user_hdr {
	uint32_t request;
	uint32_t flags;
	uint32_t size; /* of the payload that follows */
};

struct vhost_user_state {
	uint32_t index;
	uint32_t num;
};

struct vhost_user_addr {
	uint32_t index;
	uint32_t flags;
	uint64_t desc;  /* the frontend's virtual addresses of the rings */
	uint64_t used;
	uint64_t avail;
	uint64_t log;
};

struct vhost_user_region {
	uint64_t gpa;
	uint64_t size;
	uint64_t uaddr;       /* the frontend's virtual address of the region */
	uint64_t mmap_offset; /* where the region starts in its fd */
};

struct vhost_user_mem {
	uint32_t nregions;
	uint32_t padding;
	struct vhost_user_region r[VHOST_USER_MAX_REGIONS];
};

struct vhost_user;

/*
 * Connect to the backend's socket at path (name says whose it is in messages: "virtio-fs 'share'").
 * 0, or -errno with one line through log (no such socket, refused, ...).
 */
int vhost_user_connect(const char *path, const char *name, const struct vlog *log, struct vhost_user **out);
/* The same over a connected stream socket fd (taken over, even on failure), replies waited for timeout_ms. */
int vhost_user_open(int fd, const char *name, const struct vlog *log, int timeout_ms, struct vhost_user **out);
/*
 * GET_FEATURES (VHOST_USER_F_PROTOCOL_FEATURES must be offered), GET_PROTOCOL_FEATURES,
 * SET_PROTOCOL_FEATURES (MQ and REPLY_ACK where offered), GET_QUEUE_NUM with MQ (fewer than nq
 * queues is refused), SET_OWNER. 0 or -errno (logged).
 */
int vhost_user_handshake(struct vhost_user *vu, unsigned nq);
/* What the backend offered (GET_FEATURES), after the handshake. */
uint64_t vhost_user_features(const struct vhost_user *vu);
uint64_t vhost_user_protocol_features(const struct vhost_user *vu);

/* Single requests (the handshake and start/stop use them). 0 or -errno; a failure breaks the connection. */
int vhost_user_set_features(struct vhost_user *vu, uint64_t features);
int vhost_user_set_mem_table(struct vhost_user *vu, const struct guest_mem *m);

/*
 * On the I/O thread, the device's activate: SET_FEATURES (features | PROTOCOL_FEATURES), the
 * memory table (once per connection), then for each queue with a size: SET_VRING_NUM, _BASE (its
 * next avail index), _ADDR, _CALL, _KICK and _ENABLE 1. 0, or -errno (the rings started so far are
 * stopped again).
 */
int vhost_user_start(struct vhost_user *vu, const struct virtio_ctx *ctx, uint64_t features);
/* The device's reset: SET_VRING_ENABLE 0 and GET_VRING_BASE (the backend stops) for every started ring; fds closed. */
void vhost_user_stop(struct vhost_user *vu);
/* The device's notify: wake the backend for queue q (ignored when q was not started). */
void vhost_user_kick(struct vhost_user *vu, unsigned q);
/*
 * fn(opaque) on the I/O thread when the connection breaks while started (after its log line,
 * before ctx->needs_reset): the device answers the guest's chains itself from then on. Once.
 */
void vhost_user_on_broken(struct vhost_user *vu, void (*fn)(void *opaque), void *opaque);
/*
 * After the connection broke, on the I/O thread: the chains of started queue q the backend took
 * or was offered and never completed, by head (ascending) into heads[0..max), and in pos where the
 * device goes on from (virtq_set_pos(): last_avail the avail index read now, used_idx the used
 * index the backend left; no interrupt recorded). Returns how many heads (0 while the count is lost:
 * see above), -EINVAL (q never started, or max too small), -EIO (the rings cannot be trusted: the
 * avail index is more than a queue ahead of the used index; the queue is not to be served).
 */
int vhost_user_orphans(struct vhost_user *vu, unsigned q, uint16_t *heads, unsigned max, struct virtq_pos *pos);
/* The last index GET_VRING_BASE returned for queue q (tests, messages). */
uint16_t vhost_user_last_base(const struct vhost_user *vu, unsigned q);
bool vhost_user_broken(const struct vhost_user *vu);
/* After vhost_user_stop(). NULL is ignored. */
void vhost_user_close(struct vhost_user *vu);

#endif
