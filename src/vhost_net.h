/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vhost-net: the host kernel moves a virtio-net queue pair's frames between the guest's rings and
 * a tap (/dev/vhost-net, <linux/vhost.h>), so neither a frame nor a notification passes through
 * vmm. One /dev/vhost-net fd per queue pair (its vrings 0 = RX, 1 = TX); the kernel runs a worker
 * thread for each.
 *
 * What the kernel gets at start: the negotiated ring features, the guest memory table (guest
 * physical -> our virtual addresses), each ring's size, base (next avail index) and addresses,
 * the transport's doorbell eventfd as its kick (virtio_ctx.doorbell: KVM signals it, the kernel
 * reads it), an eventfd of ours as its call, lent to the queue's MSI-X vector
 * (virtio_ctx.lend_call: KVM interrupts the guest on the kernel's write; a write while the vector
 * is masked is delivered when it is live again; where the transport does not lend, MSI-X off, the
 * I/O thread reads the eventfd and calls ctx->interrupt), and the tap fd. The tap keeps its 12-byte virtio-net header (IFF_VNET_HDR, as on
 * our own path), so VHOST_NET_F_VIRTIO_NET_HDR is not asked for and the offloads stay the tap's
 * (TUNSETOFFLOAD, set by the device).
 *
 * At stop the tap is detached, each ring's next avail index comes back (GET_VRING_BASE) and is
 * written with the used index the kernel left into the ctx's struct virtq, so the device (a
 * snapshot, our own data path) goes on from there; the doorbells are given back and the calls
 * taken back.
 *
 * Threads: open/close anywhere; start/stop on the I/O thread (they watch and unwatch fds there).
 */
#ifndef VMM_VHOST_NET_H
#define VMM_VHOST_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"
#include "virtio/device.h"

#define VHOST_NET_MAX_PAIRS 16

struct vhost_net;

/*
 * Open /dev/vhost-net once per pair (1..VHOST_NET_MAX_PAIRS), SET_OWNER and GET_FEATURES. 0, or
 * -errno with nothing logged (-ENOENT no such device, -EACCES not allowed, ...): the caller says
 * it in one line and uses its own data path.
 */
int vhost_net_open(unsigned npairs, struct vhost_net **out);
/*
 * Can the kernel serve rings with these negotiated features (ring layout: VERSION_1, EVENT_IDX,
 * INDIRECT_DESC, MRG_RXBUF)? False: a feature it does not know (the caller uses its own path).
 */
bool vhost_net_supports(const struct vhost_net *vn, uint64_t features);
/* The same from the kernel's VHOST_GET_FEATURES (pure; unit tests). */
bool vhost_net_features_ok(uint64_t kernel, uint64_t features);
/*
 * I/O thread, the device's activate: hand pair's rings (ctx->vq[2 * pair], [2 * pair + 1], both
 * with a size) to the kernel with tap_fd. 0, or -errno with one line through log (the pair is
 * left stopped, everything given back).
 */
int vhost_net_start(struct vhost_net *vn, unsigned pair, const struct virtio_ctx *ctx, int tap_fd,
		    const struct vlog *log);
/* I/O thread: stop pair (nothing if not started); its rings' positions are back in ctx->vq. */
void vhost_net_stop(struct vhost_net *vn, unsigned pair);
bool vhost_net_started(const struct vhost_net *vn, unsigned pair);
/* After every vhost_net_stop(). NULL is ignored. */
void vhost_net_close(struct vhost_net *vn);

#endif
