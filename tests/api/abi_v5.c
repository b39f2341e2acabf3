// SPDX-License-Identifier: Apache-2.0
/*
 * api.abi-v5: a program built against libvmm 0.5.0's header (tests/api/abi/v5/vmm/vmm.h, frozen:
 * configuration version 5, whose struct vmm_config ends at seccomp; version 6 added io_threads in
 * what was its tail padding) and linked with this libvmm.so must still work. Needs no KVM: garbage
 * in the tail padding would read as an absurd number of I/O threads, which is refused, so only a
 * config read to its version 5 end is accepted (the missing kernel is the error). Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmm/vmm.h> /* the 0.5.0 header */

#if VMM_CONFIG_VERSION != 5
#error "built against the current header; this test needs the frozen 0.5.0 one"
#endif

#include "abi_check.h"

int main(void)
{
	struct {
		struct vmm_config cfg;
		unsigned char guard[256];
	} c;
	struct vmm_net net;
	struct vmm *vm = NULL;
	size_t end = offsetof(struct vmm_config, seccomp) + sizeof(c.cfg.seccomp);

	/* Garbage everywhere, the tail padding included: vmm_config_init sets fields, not padding. */
	memset(&c, 0xa5, sizeof(c));
	vmm_config_init(&c.cfg);
	for (size_t i = 0; i < sizeof(c.guard); i++)
		if (c.guard[i] != 0xa5) {
			fprintf(stderr, "FAIL: vmm_config_init wrote past a version 5 config (byte %zu)\n", i);
			return 1;
		}
	if (sizeof(c.cfg) > end)
		memset((unsigned char *)&c.cfg + end, 0xa5, sizeof(c.cfg) - end);
	if (c.cfg.mem_bytes != VMM_DEFAULT_MEM || c.cfg.seccomp != VMM_SECCOMP_OFF || c.cfg.nfs != 0) {
		fprintf(stderr, "FAIL: vmm_config_init did not set the version 5 defaults\n");
		return 1;
	}
	c.cfg.kernel = "/nonexistent/bzImage";
	c.cfg.log = log_cb;
	/* A version 5 NIC with vhost, the field that version added, read where it is. */
	memset(&net, 0, sizeof(net));
	net.backend = VMM_NET_STREAM;
	net.path = "/nonexistent/a.sock";
	net.vhost = 1;
	c.cfg.nets = &net;
	c.cfg.nnets = 1;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "vhost");
	net.vhost = 0;
	/* The last field of the version 5 config. */
	c.cfg.seccomp = 7;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "seccomp mode 7");
	c.cfg.seccomp = VMM_SECCOMP_OFF;
	/* Everything right: the missing kernel is the error, so the whole version 5 config was accepted. */
	expect_accepted(&c.cfg);
	return verdict("PASS: a version 5 (libvmm 0.5.0) program works with this libvmm");
}
