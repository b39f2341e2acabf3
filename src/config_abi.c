// SPDX-License-Identifier: Apache-2.0
/* Older configuration layouts brought to the current one (config_abi.h). */
#include "config_abi.h"

#include <errno.h>
#include <string.h>

/* Version 1 is a prefix of the current layout, field for field. */
#define SAME(f) _Static_assert(offsetof(struct vmm_config_v1, f) == offsetof(struct vmm_config, f), "v1 layout: " #f)
SAME(kernel);
SAME(mem_bytes);
SAME(disks);
SAME(nets);
SAME(nnets);
SAME(debug_exit_port);
SAME(log);
SAME(log_opaque);
SAME(log_level);
SAME(boot_timer_origin_ns);
SAME(console);
SAME(hvc_io);
SAME(hvc_opaque);
#undef SAME
_Static_assert(offsetof(struct vmm_net_v1, queue_pairs) == offsetof(struct vmm_net, queue_pairs), "v1 net layout");
_Static_assert(offsetof(struct vmm_net_v2, path) == offsetof(struct vmm_net, path), "v2 net layout");
_Static_assert(offsetof(struct vmm_net_v3, restricted) == offsetof(struct vmm_net, restricted), "v3 net layout");
#define V3_NET_END (offsetof(struct vmm_net_v3, restricted) + sizeof(int))
_Static_assert(offsetof(struct vmm_net, vhost) >= V3_NET_END, "v5 adds vhost after restricted");

/*
 * Versions 2 and 3 end with nfs; version 4's seccomp sits in what was their tail padding, so their
 * size is counted to the end of nfs: a program of theirs may leave garbage there.
 */
_Static_assert(offsetof(struct vmm_config, seccomp) == offsetof(struct vmm_config, nfs) + sizeof(unsigned), "v3 layout");
#define V3_SIZE offsetof(struct vmm_config, seccomp)

/* Version 6's io_threads sits in version 5's tail padding: a version 5 program's size ends at seccomp. */
_Static_assert(offsetof(struct vmm_config, io_threads) == offsetof(struct vmm_config, seccomp) + sizeof(int),
	       "v5 layout");
#define V5_SIZE offsetof(struct vmm_config, io_threads)

size_t config_abi_size(unsigned version)
{
	switch (version) {
	case 1:
		return sizeof(struct vmm_config_v1);
	case 2: /* the same struct vmm_config; only struct vmm_net grew in version 3 */
	case 3:
		return V3_SIZE;
	case 4: /* the same struct vmm_config; only struct vmm_net grew in version 5 */
	case 5:
		return V5_SIZE;
	case VMM_CONFIG_VERSION:
		return sizeof(struct vmm_config);
	default:
		return 0;
	}
}

int config_abi_upgrade(const void *cfg, unsigned version, struct config_copy *out)
{
	const struct vmm_config_v1 *v1 = cfg;
	size_t size = config_abi_size(version);

	memset(out, 0, sizeof(*out));
	if (!size) {
		/* Every version starts like version 1: its log callback can say why. */
		struct vlog log = { .fn = v1->log, .opaque = v1->log_opaque, .level = v1->log_level };

		vlog_err(&log, "this program was built for libvmm configuration version %u; this libvmm %s knows versions 1 to %d: use a newer libvmm",
			 version, VMM_VERSION_STRING, VMM_CONFIG_VERSION);
		return -ENOTSUP;
	}
	memcpy(&out->cfg, cfg, size);
	/* The fields an older struct vmm_config lacks (after nfs, after seccomp) stay 0: off, one I/O thread. */
	if (version >= 5)
		return 0;
	/* Versions 1 to 4: the NICs are an array of an older, shorter struct (version 1: taps only). */
	out->cfg.nets = NULL;
	if (v1->nets) {
		const struct vmm_net_v2 *v2 = (const void *)v1->nets;
		const struct vmm_net_v3 *v3 = (const void *)v1->nets;

		for (unsigned i = 0; i < v1->nnets && i < VMM_MAX_NICS; i++) {
			if (version >= 3) {
				/* Field by field up to restricted: vhost sits where version 4 had tail padding (garbage). */
				memcpy(&out->nets[i], &v3[i], V3_NET_END);
			} else if (version == 1) {
				out->nets[i].tap = v1->nets[i].tap;
				out->nets[i].has_mac = v1->nets[i].has_mac;
				memcpy(out->nets[i].mac, v1->nets[i].mac, sizeof(out->nets[i].mac));
				out->nets[i].queue_pairs = v1->nets[i].queue_pairs;
				out->nets[i].backend = VMM_NET_TAP;
			} else {
				memcpy(&out->nets[i], &v2[i], sizeof(v2[i])); /* a prefix of the current struct */
			}
		}
		out->cfg.nets = out->nets;
	}
	return 0;
}
