// SPDX-License-Identifier: Apache-2.0
/* libslirp loaded on first use (slirp_lib.h). */
#include "slirp_lib.h"

#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>

int slirp_lib_load(const char *name, struct slirp_lib *out, const struct vlog *log)
{
	static const char *const names[] = { "slirp_new",	"slirp_cleanup",      "slirp_input",
					     "slirp_pollfds_fill", "slirp_pollfds_poll", "slirp_handle_timer",
					     "slirp_add_hostfwd",  "slirp_version_string" };
	void *h = dlopen(name, RTLD_NOW | RTLD_LOCAL);
	void *fn[sizeof(names) / sizeof(names[0])];

	if (!h) {
		vlog_err(log, "user net: cannot load %s (Debian: package libslirp0): %s", name, dlerror());
		return -ENOENT;
	}
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		fn[i] = dlsym(h, names[i]);
		if (!fn[i]) {
			vlog_err(log, "user net: %s has no %s: not libslirp 4.1 or later", name, names[i]);
			dlclose(h);
			return -ENOENT;
		}
	}
	/* Object pointers to function pointers: what dlsym is for (POSIX guarantees it works). */
	*(void **)&out->new_ = fn[0];
	*(void **)&out->cleanup = fn[1];
	*(void **)&out->input = fn[2];
	*(void **)&out->pollfds_fill = fn[3];
	*(void **)&out->pollfds_poll = fn[4];
	*(void **)&out->handle_timer = fn[5];
	*(void **)&out->add_hostfwd = fn[6];
	*(void **)&out->version_string = fn[7];
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
