// SPDX-License-Identifier: Apache-2.0
/*
 * api.abi-v3: a program built against libvmm 0.3.0's header (tests/api/abi/v3/vmm/vmm.h, frozen:
 * configuration version 3, whose struct vmm_config ends at nfs) and linked with this libvmm.so must
 * still work. Version 4 put its seccomp field where version 3 had tail padding, which a version 3
 * program may leave as garbage: the library must read none of it. Needs no KVM. Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <vmm/vmm.h> /* the 0.3.0 header */

#if VMM_CONFIG_VERSION != 3
#error "built against the current header; this test needs the frozen 0.3.0 one"
#endif

#include "abi_check.h"

int main(void)
{
	struct {
		struct vmm_config cfg;
		unsigned char guard[256];
	} c;
	size_t end = offsetof(struct vmm_config, nfs) + sizeof(c.cfg.nfs);
	struct vmm *vm = NULL;

	memset(&c, 0xa5, sizeof(c));
	vmm_config_init(&c.cfg);
	for (size_t i = 0; i < sizeof(c.guard); i++)
		if (c.guard[i] != 0xa5) {
			fprintf(stderr, "FAIL: vmm_config_init wrote past a version 3 config (byte %zu)\n", i);
			return 1;
		}
	if (c.cfg.mem_bytes != VMM_DEFAULT_MEM || c.cfg.vsock_cid != 0 || c.cfg.nfs != 0) {
		fprintf(stderr, "FAIL: vmm_config_init did not set the version 3 defaults\n");
		return 1;
	}
	/* Garbage in the tail padding (where version 4 keeps its seccomp mode), as a program may leave it. */
	if (sizeof(c.cfg) > end)
		memset((unsigned char *)&c.cfg + end, 0xa5, sizeof(c.cfg) - end);
	else
		printf("note: this ABI has no tail padding after nfs\n");
	c.cfg.kernel = "/nonexistent/bzImage";
	c.cfg.log = log_cb;
	c.cfg.nfs = VMM_MAX_FS + 1;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "shared folders asked");
	c.cfg.nfs = 0;
	/* Everything right: the missing kernel is the error, not a seccomp mode read from the padding. */
	expect_accepted(&c.cfg);
	return verdict("PASS: a version 3 (libvmm 0.3.0) program works with this libvmm");
}
