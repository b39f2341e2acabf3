/* SPDX-License-Identifier: Apache-2.0 */
/* What every Check suite's main() shares. */
#ifndef VMM_TESTS_UNIT_H
#define VMM_TESTS_UNIT_H

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How many file descriptors this process holds now (leak checks compare two counts). */
static inline unsigned unit_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	unsigned n = 0;

	ck_assert_ptr_nonnull(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Run suite s (each test forks when CK_FORK=yes, as CTest sets it); 0 when every test passed, else 1. */
static inline int unit_run(Suite *s)
{
	SRunner *sr = srunner_create(s);
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}

/*
 * Can this process use io_uring? If not, say SKIP (the caller then exits 77, CTest's skip code);
 * with VMM_REQUIRE_ALL=1 (run-tests.sh) a missing io_uring fails the suite at once instead.
 */
static inline bool unit_have_io_uring(void)
{
	struct io_uring probe;
	int ret = io_uring_queue_init(4, &probe, 0);

	if (ret == -ENOSYS || ret == -EPERM) {
		if (getenv("VMM_REQUIRE_ALL") && strcmp(getenv("VMM_REQUIRE_ALL"), "1") == 0) {
			printf("FAIL: io_uring unavailable (%s), and VMM_REQUIRE_ALL=1\n", strerror(-ret));
			exit(1);
		}
		printf("SKIP: io_uring unavailable\n");
		return false;
	}
	if (ret == 0)
		io_uring_queue_exit(&probe);
	return true;
}

#endif
