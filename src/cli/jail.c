// SPDX-License-Identifier: Apache-2.0
/* --user and --chroot: drop to an unprivileged user once the VM's files and devices are open. */
#define _GNU_SOURCE /* setresuid, setresgid */
#include "cli/jail.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

int jail_prepare(const struct cli_options *o, char *err, size_t errlen)
{
	if (!o->drop_user)
		return 0;
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot set no-new-privileges: %s", strerror(e));
		return -e;
	}
	/* Every capability out of the bounding set: EINVAL past the last one the kernel knows. */
	for (int cap = 0; cap < 64; cap++) {
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0 || errno == EINVAL)
			continue;
		if (errno == EPERM)
			break; /* without CAP_SETPCAP: the user drop below still clears every capability */
		int e = errno;

		snprintf(err, errlen, "cannot drop capability %d from the bounding set: %s", cap, strerror(e));
		return -e;
	}
	return 0;
}

/* Is any capability left in the effective, permitted or inheritable set of this thread? */
static int caps_left(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d) < 0)
		return -errno;
	for (int i = 0; i < 2; i++)
		if (d[i].effective || d[i].permitted || d[i].inheritable)
			return 1;
	return 0;
}

/* --rlimit: lowered, never raised (soft and hard alike). */
static int set_limit(int res, uint64_t v, const char *name, char *err, size_t errlen)
{
	struct rlimit rl;

	if (!v)
		return 0;
	if (getrlimit(res, &rl) == 0 && rl.rlim_max != RLIM_INFINITY && rl.rlim_max < v)
		v = rl.rlim_max;
	rl.rlim_cur = rl.rlim_max = v;
	if (setrlimit(res, &rl) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot set the %s limit to %llu: %s", name, (unsigned long long)v, strerror(e));
		return -e;
	}
	return 0;
}

int jail_enter(const struct cli_options *o, char *err, size_t errlen)
{
	uid_t ru, eu, su;
	gid_t rg, eg, sg;
	int e;

	/*
	 * No file-size limit on offer: io_uring writes at the file position (offset -1) that hit
	 * RLIMIT_FSIZE return the clamped count again and again without moving the position (seen on
	 * 6.1 and 6.18), so a console file would be overwritten in place, silently.
	 */
	e = set_limit(RLIMIT_NOFILE, o->rlimit_nofile, "open-files", err, errlen);
	if (e || !o->drop_user)
		return e;
	if (o->chroot_dir && (chdir(o->chroot_dir) < 0 || chroot(".") < 0 || chdir("/") < 0)) {
		e = errno;
		snprintf(err, errlen, "cannot change the root directory to '%s': %s", o->chroot_dir, strerror(e));
		return -e;
	}
	/* The group first (afterwards the user could not change it). glibc applies each to every thread. */
	/* Without CAP_SETGID (EPERM) that is fine only when there are none to drop. */
	if (setgroups(0, NULL) < 0 && (errno != EPERM || getgroups(0, NULL) != 0)) {
		e = errno;
		snprintf(err, errlen, "cannot drop the supplementary groups: %s", strerror(e));
		return -e;
	}
	if (setresgid(o->gid, o->gid, o->gid) < 0 || setresuid(o->uid, o->uid, o->uid) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot run as user %u, group %u: %s%s", o->uid, o->gid, strerror(e),
			 e == EPERM ? " (that needs root, or CAP_SETUID and CAP_SETGID)" : "");
		return -e;
	}
	if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 || ru != o->uid || eu != o->uid ||
	    su != o->uid || rg != o->gid || eg != o->gid || sg != o->gid || caps_left() != 0) {
		snprintf(err, errlen, "the switch to user %u, group %u did not take effect in full", o->uid, o->gid);
		return -EPERM;
	}
#if defined(__SANITIZE_ADDRESS__)
	/* The sanitized build's leak check at exit attaches to our threads, which a changed uid forbids. */
	prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	return 0;
}
