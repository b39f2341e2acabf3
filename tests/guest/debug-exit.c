// SPDX-License-Identifier: Apache-2.0
/*
 * vmm-debug-exit STATUS [PORT]: write STATUS (0..255) as one byte to the I/O port PORT (default 0xf4,
 * QEMU's isa-debug-exit; vmm --debug-exit=0xf4 then stops and exits with (STATUS << 1) | 1).
 * The test guest's t_run uses it: Debian's kernels have no /dev/port (CONFIG_DEVPORT is unset).
 * Returns only when the write did not stop the VM: exit status 1.
 *
 * Called as vmm-mark (a link to it): vmm-mark V writes the byte V to vmm's boot-timer port 0x620 and
 * exits 0, silently: a boot marker (vmm --boot-timer prints when it came). The test guest's /init
 * marks 1 first thing.
 *
 * Called as vmm-snapshot: writes a byte to vmm's snapshot-request port 0x624 (VMM_SNAPSHOT_PORT) and
 * exits 0: vmm, given --snapshot-dir, pauses the guest and saves it (the guest goes on from here
 * when the snapshot is restored).
 */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>

static int number(const char *s, unsigned long max, unsigned long *out)
{
	char *end;

	errno = 0;
	*out = strtoul(s, &end, 0);
	return errno || end == s || *end || *out > max ? -1 : 0;
}

int main(int argc, char **argv)
{
	unsigned long status, port = 0xf4;

	if (!strcmp(basename(argv[0]), "vmm-mark")) {
		if (argc != 2 || number(argv[1], 255, &status)) {
			fprintf(stderr, "usage: vmm-mark VALUE(0..255)\n");
			return 2;
		}
		if (ioperm(0x620, 1, 1))
			return 1;
		outb((unsigned char)status, 0x620);
		return 0;
	}
	if (!strcmp(basename(argv[0]), "vmm-snapshot")) {
		if (ioperm(0x624, 1, 1)) {
			fprintf(stderr, "vmm-snapshot: ioperm(0x624): %s\n", strerror(errno));
			return 1;
		}
		outb(1, 0x624);
		return 0;
	}
	if (argc < 2 || argc > 3 || number(argv[1], 255, &status) || (argc == 3 && number(argv[2], 0xffff, &port))) {
		fprintf(stderr, "usage: vmm-debug-exit STATUS(0..255) [PORT(default 0xf4)]\n");
		return 2;
	}
	if (ioperm(port, 1, 1)) {
		fprintf(stderr, "vmm-debug-exit: ioperm(0x%lx): %s\n", port, strerror(errno));
		return 1;
	}
	outb((unsigned char)status, (unsigned short)port);
	fprintf(stderr, "vmm-debug-exit: writing %lu to port 0x%lx did not stop the VM\n", status, port);
	return 1;
}
