/* SPDX-License-Identifier: Apache-2.0 */
/*
 * User-mode networking: a virtio-net backend whose peer is a libslirp stack inside the VMM process
 * (no tap, no privileges). The guest sees QEMU's usual "user" network: 10.0.2.0/24, the gateway
 * (and the host) at 10.0.2.2, DHCP handing out 10.0.2.15 on, DNS at 10.0.2.3 forwarded to the
 * host's resolver. Outbound TCP and UDP become the VMM's own sockets; host-to-guest forwards listen
 * on the host (hostfwd). The host's loopback is reachable at 10.0.2.2 unless no_host_loopback.
 *
 * libslirp is not thread-safe: the I/O thread makes every call into it, as the device's own work,
 * so a guest frame goes into slirp_input (and on to a host socket) with no thread hop, and slirp's
 * frames for the guest wait in one ring of NET_USER_RING bytes for the guest's receive buffers.
 * slirp's sockets are polled by a helper thread that never calls into slirp: it says when one is
 * ready (an eventfd the I/O thread watches) and waits for the next socket set; slirp's timers are a
 * timerfd. (A first version ran slirp on a thread of its own, with a ring each way: measured in
 * bench/README.md, it moved fewer bytes per CPU second than QEMU.) A copying backend
 * (src/net_backend.h): one queue pair, a 65520-byte MTU (NET_USER_MTU), the checksum offloads and
 * no others (a partial checksum from the guest is completed before slirp, which checks every one,
 * sees the frame; slirp's own frames go to the guest marked as checked).
 * When the guest falls behind, slirp's sockets are polled without POLLIN (the host's senders wait,
 * as on a slow link); frames beyond the ring (a guest that takes none) are dropped.
 */
#ifndef VMM_NET_USER_H
#define VMM_NET_USER_H

#include <vmm/vmm.h>

#include "log.h"
#include "net_backend.h"

#define NET_USER_RING (1u << 20) /* each direction's frame ring */
/*
 * The guest's MTU (advised through VIRTIO_NET_F_MTU) and slirp's: its largest, less one byte, as
 * slirp4netns and passt use. slirp ends every TCP connection itself, so the MTU is only the
 * guest<->slirp link's: the fewer frames a byte takes, the fewer turns of slirp and copies it
 * costs (slirp caps a segment at 32 KiB). A guest may still set a smaller one for itself.
 */
#define NET_USER_MTU 65520

/*
 * Start a slirp stack for one NIC with the forwards in n (n->hostfwd, n->nhostfwd) and its
 * no_host_loopback. 0, or -errno with one message through log: -EADDRINUSE (or another bind error)
 * when a forward's host port cannot be bound, -EINVAL a host address that is not an IPv4 address.
 */
struct seccomp_set;
/* sc: the filters for its poll thread (NULL: none). */
int net_user_open(const struct vmm_net *n, const struct vlog *log, const struct seccomp_set *sc, struct net_backend **out);

#endif
