/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libslirp, loaded when the first user-mode NIC is made (dlopen of SLIRP_LIB_NAME), not at program
 * start: libslirp brings GLib, PCRE2 and libm along, about 1 MiB of mapped code and their
 * start-up work, which a VM without --net user would otherwise pay for (bench/README.md, boot).
 * The library stays loaded for the rest of the process. Only the functions net_user.c calls.
 */
#ifndef VMM_SLIRP_LIB_H
#define VMM_SLIRP_LIB_H

#include <slirp/libslirp.h>

#include "log.h"

#define SLIRP_LIB_NAME "libslirp.so.0"

struct slirp_lib {
	__typeof__(slirp_new) *new_;
	__typeof__(slirp_cleanup) *cleanup;
	__typeof__(slirp_input) *input;
	__typeof__(slirp_pollfds_fill) *pollfds_fill;
	__typeof__(slirp_pollfds_poll) *pollfds_poll;
	__typeof__(slirp_handle_timer) *handle_timer;
	__typeof__(slirp_add_hostfwd) *add_hostfwd;
	__typeof__(slirp_version_string) *version_string;
};

/*
 * libslirp's functions, loaded on the first call (thread-safe); NULL, with one message through log,
 * when it cannot be loaded (then the next call tries again).
 */
const struct slirp_lib *slirp_lib_get(const struct vlog *log);

/* Load the library file name into *out: 0, or -ENOENT with one message through log. */
int slirp_lib_load(const char *name, struct slirp_lib *out, const struct vlog *log);

#endif
