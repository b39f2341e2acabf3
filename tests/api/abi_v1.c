// SPDX-License-Identifier: Apache-2.0
/*
 * api.abi-v1: a program built against libvmm 0.1.0's header (tests/api/abi/v1/vmm/vmm.h, frozen: the
 * configuration version 1 layout) and linked with this libvmm.so must still work. Needs no KVM: each
 * check provokes a configuration error that only a correct reading of the old layout reports as
 * expected (a NIC array of the old, shorter struct; fields at the end of the old config), then
 * vmm_create_v() with an unknown version is refused with one line. Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmm/vmm.h> /* the 0.1.0 header: no VMM_CONFIG_VERSION, no *_v functions */

#ifdef VMM_CONFIG_VERSION
#error "built against the current header; this test needs the frozen 0.1.0 one"
#endif

/* In this libvmm, not in the old header. */
int vmm_create_v(const struct vmm_config *cfg, unsigned version, struct vmm **out);

#include "abi_check.h"

int main(void)
{
	struct {
		struct vmm_config cfg;
		unsigned char guard[256];
	} c;
	struct vmm_net nets[2] = { { .tap = "tap-a", .queue_pairs = 1 }, { .tap = "tap-b", .queue_pairs = 9 } };
	struct vmm *vm = NULL;

	/* vmm_config_init of 0.1.0 writes the old struct and not a byte past it. */
	memset(&c, 0xa5, sizeof(c));
	vmm_config_init(&c.cfg);
	for (size_t i = 0; i < sizeof(c.guard); i++)
		if (c.guard[i] != 0xa5) {
			fprintf(stderr, "FAIL: vmm_config_init wrote past a version 1 config (byte %zu)\n", i);
			return 1;
		}
	if (c.cfg.mem_bytes != VMM_DEFAULT_MEM || c.cfg.cpus != 1 || c.cfg.console.in_fd != -1 || c.cfg.hvc_io.out_fd != -1 ||
	    c.cfg.hvc_opaque != NULL) {
		fprintf(stderr, "FAIL: vmm_config_init did not set the version 1 defaults\n");
		return 1;
	}
	c.cfg.kernel = "/nonexistent/bzImage";
	c.cfg.log = log_cb;
	/* The second NIC of an old-layout array: read at the old stride. */
	c.cfg.nets = nets;
	c.cfg.nnets = 2;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "NIC 'tap-b': at most 8 queue pairs");
	/* The last fields of the old config. */
	nets[1].queue_pairs = 1;
	c.cfg.hvc = 1;
	c.cfg.hvc_io.fds = 1;
	c.cfg.hvc_io.escape = 300;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "the virtio console's escape byte 300 is not a byte");
	c.cfg.hvc = 0;
	/* Everything right: the missing kernel is the error, so the whole old config was accepted. */
	expect_accepted(&c.cfg);
	/* A program built for a configuration version from the future is refused, with one line. */
	expect(vmm_create_v(&c.cfg, 99, &vm), -ENOTSUP, "configuration version 99");
	return verdict("PASS: a version 1 (libvmm 0.1.0) program works with this libvmm");
}
