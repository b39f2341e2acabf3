/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's privilege drop (--user, --chroot): what Firecracker's jailer does, built in. */
#ifndef VMM_CLI_JAIL_H
#define VMM_CLI_JAIL_H

#include <stddef.h>

#include "cli/options.h"

/*
 * Before any thread exists (every thread inherits it): no new privileges (no setuid binary, no file
 * capability can raise them again) and an empty capability bounding set. The effective capabilities
 * stay, so /dev/kvm, the disks and the taps can still be opened. 0, or -errno with one sentence in err.
 */
int jail_prepare(const struct cli_options *o, char *err, size_t errlen);
/*
 * Once the VM is made (every file it needs is open): the --rlimit limits; with --user the changed
 * root directory, then the user and group, no supplementary groups; checks that no capability is
 * left in any set. 0, or -errno + err.
 */
int jail_enter(const struct cli_options *o, char *err, size_t errlen);

#endif
