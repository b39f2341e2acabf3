// SPDX-License-Identifier: Apache-2.0
/*
 * api.abi-v4: a program built against libvmm 0.4.0's header (tests/api/abi/v4/vmm/vmm.h, frozen:
 * configuration version 4, whose struct vmm_net ends at restricted; version 5 added vhost) and
 * linked with this libvmm.so must still work. Needs no KVM: each check provokes a configuration
 * error that only a correct reading of the version 4 NIC array reports as expected, then the whole
 * config is accepted (the missing kernel is the error). Exit 0 pass, 1 fail.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <vmm/vmm.h> /* the 0.4.0 header */

#if VMM_CONFIG_VERSION != 4
#error "built against the current header; this test needs the frozen 0.4.0 one"
#endif

#include "abi_check.h"

/* Every field of a version 4 NIC, the padding left as it is. */
static void nic(struct vmm_net *n, const char *tap, int backend, const char *path, unsigned pairs)
{
	n->tap = tap;
	n->has_mac = 0;
	memset(n->mac, 0, sizeof(n->mac));
	n->queue_pairs = pairs;
	n->backend = backend;
	n->path = path;
	n->hostfwd = NULL;
	n->nhostfwd = 0;
	n->no_host_loopback = 0;
	n->restricted = 0;
}

int main(void)
{
	struct {
		struct vmm_config cfg;
		unsigned char guard[256];
	} c;
	/*
	 * Three NICs of the version 4 layout, garbage in their tail padding (where version 5 keeps
	 * vhost, which is refused for a stream socket): a program may leave it so.
	 */
	struct vmm_net nets[3];
	struct vmm *vm = NULL;

	memset(nets, 0xa5, sizeof(nets));
	nic(&nets[0], NULL, VMM_NET_STREAM, "/nonexistent/a.sock", 0);
	nic(&nets[1], "tap-b", VMM_NET_TAP, NULL, 1);
	nic(&nets[2], NULL, VMM_NET_STREAM, "/nonexistent/c.sock", 2);

	memset(&c, 0xa5, sizeof(c));
	vmm_config_init(&c.cfg);
	for (size_t i = 0; i < sizeof(c.guard); i++)
		if (c.guard[i] != 0xa5) {
			fprintf(stderr, "FAIL: vmm_config_init wrote past a version 4 config (byte %zu)\n", i);
			return 1;
		}
	if (c.cfg.mem_bytes != VMM_DEFAULT_MEM || c.cfg.seccomp != VMM_SECCOMP_OFF || c.cfg.nfs != 0) {
		fprintf(stderr, "FAIL: vmm_config_init did not set the version 4 defaults\n");
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
	/* The last field of the version 4 config. */
	c.cfg.seccomp = 7;
	expect(vmm_create(&c.cfg, &vm), -EINVAL, "seccomp mode 7");
	c.cfg.seccomp = VMM_SECCOMP_OFF;
	/* Everything right: the missing kernel is the error, so the whole version 4 config was accepted. */
	expect_accepted(&c.cfg);
	return verdict("PASS: a version 4 (libvmm 0.4.0) program works with this libvmm");
}
