/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A Linux tap device for virtio-net: opened by name with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
 * (and IFF_MULTI_QUEUE for more than one queue pair), a 12-byte virtio-net header
 * (struct virtio_net_hdr_mrg_rxbuf) in front of every frame, non-blocking fds. An existing tap
 * (e.g. `ip tuntap add NAME mode tap user USER`) is attached to; a missing one is created when
 * the process may (CAP_NET_ADMIN) and disappears when vmm closes it.
 *
 * vmm never brings the link up nor gives it addresses, routes or a bridge: that is the user's job
 * (`ip link set NAME up`, `ip link set NAME master br0`, ...), before or after vmm opens it. A tap
 * created by vmm is not persistent, so its configuration goes with it when vmm exits.
 */
#ifndef VMM_TAP_H
#define VMM_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "net_backend.h"

#define TAP_MAX_QUEUES 16
#define TAP_VNET_HDR_LEN 12

struct tap {
	char name[IFNAMSIZ];      /* the kernel's name for it (a "tap%d" template comes back numbered) */
	int fd[TAP_MAX_QUEUES];   /* fd[i] for queue pair i < nqueues; O_NONBLOCK, O_CLOEXEC */
	unsigned nqueues;
	bool created;             /* it did not exist before: it goes away when we close it */
};

/*
 * Open (or create) tap NAME with nqueues queues (1..TAP_MAX_QUEUES). 0 or -errno with one clear message:
 * -EINVAL bad name or count, an interface of that name that is not a tap, or nqueues > 1 on an existing tap
 * made without multi_queue (one queue on a multi_queue tap is fine); -EPERM/-EACCES no CAP_NET_ADMIN to create
 * it or it belongs to another user; -EBUSY a single-queue tap another process holds; -ENOENT no tun module.
 * Does not configure the link (see above). *out is NULL on failure.
 */
int tap_open(const char *name, unsigned nqueues, const struct vlog *log, struct tap **out);
/*
 * TUNSETOFFLOAD with TUN_F_* flags (what the guest's driver negotiated it can receive); it applies to the
 * whole device. 0 or -errno, nothing logged (the caller knows what it asked for).
 */
int tap_set_offload(struct tap *t, unsigned tun_flags);
/*
 * Close fd[0..nqueues) that are >= 0 and free(t); NULL is fine. Works on a struct tap the caller filled by
 * hand from malloc() (unit tests with socketpair fds).
 */
void tap_close(struct tap *t);
/*
 * A stable locally administered unicast MAC 52:54:00:xx:xx:xx: the last 3 bytes are an FNV-1a hash of seed
 * (e.g. the tap name; NULL counts as "") and index, so the same inputs always give the same address.
 */
void tap_default_mac(const char *seed, unsigned index, uint8_t mac[6]);
/*
 * t as a direct virtio-net backend (src/net_backend.h): one fd per queue, every offload honoured.
 * Its close() closes t; tap_backend_free() frees only the wrapper (the caller keeps t). NULL: no memory.
 */
struct net_backend *tap_backend_new(struct tap *t);
void tap_backend_free(struct net_backend *b);

#endif
