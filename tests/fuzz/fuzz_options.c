// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_options: the CLI's option parser (src/cli/options.c): cli_parse() on an argv split from the
 * input, and cli_parse_size(), cli_parse_disk(), cli_parse_net() (hostfwd= included) on one string.
 *
 * Input: u8 mode (mod 4; 0 cli_parse, 1 size, 2 disk, 3 net), u8 errlen (the error buffer's exact
 * size, so ASan sees a message written past it), then the text: for cli_parse the arguments
 * separated by NUL bytes (argv[0] is "vmm"; at most 64 of them), else one string.
 * Checked beyond the sanitizers: a parse that succeeds yields values within the documented ranges
 * (sizes, CPU count, disk serial, tap name, queue pairs, MAC unicast, at most 16 disks and 8 NICs);
 * one that fails leaves a NUL-terminated message in the buffer.
 */
#include <errno.h>

#include "cli/options.h"
#include "fuzz.h"

#define MAX_ARGS 64

static void check_disk(const struct vmm_disk *d)
{
	FUZZ_CHECK(d->path && *d->path);
	FUZZ_CHECK(!d->serial || strlen(d->serial) <= 20);
}

static void check_net(const struct vmm_net *n)
{
	if (n->backend == VMM_NET_STREAM) {
		FUZZ_CHECK(n->path && *n->path && !n->tap && n->queue_pairs <= 1);
	} else if (n->backend == VMM_NET_USER) {
		FUZZ_CHECK(!n->path && !n->tap && n->queue_pairs == 0 && n->nhostfwd <= VMM_MAX_HOSTFWD);
		for (unsigned i = 0; i < n->nhostfwd; i++)
			FUZZ_CHECK(n->hostfwd[i].host_port && n->hostfwd[i].guest_port);
	} else {
		FUZZ_CHECK(n->backend == VMM_NET_TAP);
		FUZZ_CHECK(n->tap && *n->tap && strlen(n->tap) <= 15);
	}
	FUZZ_CHECK(n->queue_pairs <= 8);
	FUZZ_CHECK(!n->vhost || n->backend == VMM_NET_TAP); /* vhost-net is for a tap only */
	FUZZ_CHECK(!n->has_mac || !(n->mac[0] & 1));
}

static void check_options(const struct cli_options *o)
{
	if (o->help || o->version)
		return;
	/* A kernel, or a snapshot to restore (which brings its own kernel, initrd and command line). */
	if (o->restore_dir)
		FUZZ_CHECK(*o->restore_dir && !o->kernel && !o->initrd && !o->cmdline);
	else
		FUZZ_CHECK(o->kernel);
	FUZZ_CHECK(!o->snapshot_resume || (o->snapshot_dir && *o->snapshot_dir));
	FUZZ_CHECK(!o->vsock_cid || (o->vsock_cid >= 3 && o->vsock_uds && *o->vsock_uds));
	FUZZ_CHECK(o->nfs <= VMM_MAX_FS);
	for (unsigned i = 0; i < o->nfs; i++)
		FUZZ_CHECK(o->fs[i].tag && *o->fs[i].tag && strlen(o->fs[i].tag) <= 36 && o->fs[i].socket &&
			   *o->fs[i].socket && o->fs[i].queues <= 8);
	FUZZ_CHECK(o->mem_bytes && !(o->mem_bytes & 0xfff));
	FUZZ_CHECK(o->cpus >= 1 && o->cpus <= VMM_MAX_CPUS);
	FUZZ_CHECK(o->io_threads <= VMM_MAX_IO_THREADS);
	FUZZ_CHECK(o->ndisks <= VMM_MAX_DISKS && o->nnets <= VMM_MAX_NICS);
	FUZZ_CHECK(!(o->no_net && o->nnets));
	FUZZ_CHECK(o->console != CLI_CONSOLE_FILE || (o->console_path && *o->console_path));
	FUZZ_CHECK(o->hvc != CLI_CONSOLE_FILE || (o->hvc_path && *o->hvc_path));
	FUZZ_CHECK(!(o->console == CLI_CONSOLE_STDIO && o->hvc == CLI_CONSOLE_STDIO));
	for (unsigned i = 0; i < o->ndisks; i++)
		check_disk(&o->disks[i]);
	for (unsigned i = 0; i < o->nnets; i++)
		check_net(&o->nets[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	uint8_t mode = fz_u8(&f) % 4;
	size_t errlen = fz_u8(&f), len;
	const uint8_t *text = fz_take(&f, fz_left(&f), &len);
	/* The text, NUL-terminated; err exactly errlen bytes (at least one to hold a pointer). */
	char *s = malloc(len + 1), *err = malloc(errlen ? errlen : 1);
	int ret;

	if (!s || !err)
		goto out;
	memcpy(s, text, len);
	s[len] = '\0';
	if (errlen)
		err[0] = '\0';
	switch (mode) {
	case 0: {
		static char prog[] = "vmm";
		char *argv[MAX_ARGS + 2] = { prog };
		int argc = 1;
		struct cli_options o;

		for (char *p = s; p < s + len && argc <= MAX_ARGS; p += strlen(p) + 1)
			argv[argc++] = p;
		ret = cli_parse(argc, argv, &o, err, errlen);
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
		if (ret == 0)
			check_options(&o);
		break;
	}
	case 1: {
		uint64_t v;

		ret = cli_parse_size(s, &v);
		FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ERANGE);
		if (ret == 0)
			FUZZ_CHECK(v != 0);
		break;
	}
	case 2: {
		struct vmm_disk d;

		ret = cli_parse_disk(s, &d, err, errlen);
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
		if (ret == 0)
			check_disk(&d);
		break;
	}
	default: {
		struct vmm_net n;
		struct vmm_hostfwd fwd[VMM_MAX_HOSTFWD];

		ret = cli_parse_net(s, &n, fwd, err, errlen);
		FUZZ_CHECK(ret == 0 || ret == -EINVAL);
		if (ret == 0)
			check_net(&n);
		break;
	}
	}
	if (ret && mode != 1 && errlen)
		FUZZ_CHECK(memchr(err, '\0', errlen) && (errlen == 1 || err[0]));
out:
	free(err);
	free(s);
	return 0;
}
