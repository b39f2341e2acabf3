// SPDX-License-Identifier: Apache-2.0
/* libslirp loaded on first use (slirp_lib.h). */
#include "slirp_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <string.h>

int slirp_lib_load(const char *name, struct slirp_lib *out, const struct vlog *log)
{
	static const struct {
		const char *sym;
		size_t at; /* where its pointer goes in struct slirp_lib */
	} fns[] = {
		{ "slirp_new", offsetof(struct slirp_lib, new_) },
		{ "slirp_cleanup", offsetof(struct slirp_lib, cleanup) },
		{ "slirp_input", offsetof(struct slirp_lib, input) },
		{ "slirp_pollfds_fill", offsetof(struct slirp_lib, pollfds_fill) },
		{ "slirp_pollfds_poll", offsetof(struct slirp_lib, pollfds_poll) },
		{ "slirp_handle_timer", offsetof(struct slirp_lib, handle_timer) },
		{ "slirp_add_hostfwd", offsetof(struct slirp_lib, add_hostfwd) },
		{ "slirp_version_string", offsetof(struct slirp_lib, version_string) },
	};
	_Static_assert(sizeof(fns) / sizeof(fns[0]) * sizeof(void *) == sizeof(struct slirp_lib),
		       "every member of struct slirp_lib is looked up");
	struct slirp_lib got;
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		vlog_err(log, "user net: cannot load %s (Debian: package libslirp0): %s", name, dlerror());
		return -ENOENT;
	}
	for (unsigned i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		void *fn = dlsym(h, fns[i].sym);

		if (!fn) {
			vlog_err(log, "user net: %s has no %s: not libslirp 4.1 or later", name, fns[i].sym);
			dlclose(h);
			return -ENOENT;
		}
		/* An object pointer stored as a function pointer: what dlsym is for (POSIX makes it work). */
		memcpy((char *)&got + fns[i].at, &fn, sizeof(fn));
	}
	*out = got;
	return 0; /* the handle stays open for the life of the process */
}

const struct slirp_lib *slirp_lib_get(const struct vlog *log)
{
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	static struct slirp_lib lib;
	static bool loaded;
	const struct slirp_lib *ret = &lib;

	pthread_mutex_lock(&lock);
	if (!loaded)
		loaded = slirp_lib_load(SLIRP_LIB_NAME, &lib, log) == 0;
	if (!loaded)
		ret = NULL;
	pthread_mutex_unlock(&lock);
	return ret;
}
