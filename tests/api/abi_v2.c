// SPDX-License-Identifier: Apache-2.0
/*
 * api.abi-v2: a program built against libvmm 0.2.0's header (tests/api/abi/v2/vmm/vmm.h, frozen:
 * configuration version 2, whose struct vmm_net is shorter than version 3's) and linked with this
 * libvmm.so must still work. Needs no KVM: each check provokes a configuration error that only a
 * correct reading of the version 2 NIC array reports as expected, then a whole version 2 config is
 * accepted (the missing kernel is the error). Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmm/vmm.h> /* the 0.2.0 header */

#if VMM_CONFIG_VERSION != 2
#error "built against the current header; this test needs the frozen 0.2.0 one"
#endif

#include "abi_check.h"

int main(void)
{
	struct {
		struct vmm_config cfg;
		unsigned char guard[256];
	} c;
	/* Three NICs of the version 2 layout: a reader at version 3's (longer) stride misreads the last two. */
	struct vmm_net nets[3] = {
		{ .backend = VMM_NET_STREAM, .path = "/nonexistent/a.sock" },
		{ .tap = "tap-b", .queue_pairs = 1 },
		{ .backend = VMM_NET_STREAM, .path = "/nonexistent/c.sock", .queue_pairs = 2 },
	};
	struct vmm *vm = NULL;

	memset(&c, 0xa5, sizeof(c));
	vmm_config_init(&c.cfg);
	for (size_t i = 0; i < sizeof(c.guard); i++)
		if (c.guard[i] != 0xa5) {
			fprintf(stderr, "FAIL: vmm_config_init wrote past a version 2 config (byte %zu)\n", i);
			return 1;
		}
	if (c.cfg.mem_bytes != VMM_DEFAULT_MEM || c.cfg.vsock_cid != 0 || c.cfg.fs != NULL || c.cfg.nfs != 0) {
		fprintf(stderr, "FAIL: vmm_config_init did not set the version 2 defaults\n");
		return 1;
	}
	c.cfg.kernel = "/nonexistent/bzImage";
	c.cfg.log = log_cb;
	c.cfg.nets = nets;
	c.cfg.nnets = 3;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "NIC 2: a stream socket has one queue pair");
	nets[2].queue_pairs = 0;
	nets[1].queue_pairs = 9;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "NIC 'tap-b': at most 8 queue pairs");
	nets[1].queue_pairs = 1;
	/* The last fields of the version 2 config. */
	c.cfg.vsock_cid = 3;
	c.cfg.vsock_uds = "";
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "vsock needs a unix socket path");
	c.cfg.vsock_cid = 0;
	c.cfg.nfs = VMM_MAX_FS + 1;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "shared folders asked");
	c.cfg.nfs = 0;
	/* Everything right: the missing kernel is the error, so the whole version 2 config was accepted. */
	expect_accepted(&c.cfg);
	return verdict("PASS: a version 2 (libvmm 0.2.0) program works with this libvmm");
}
