/* SPDX-License-Identifier: Apache-2.0 */
/* What every Check suite's main() shares. */
#ifndef VMM_TESTS_UNIT_H
#define VMM_TESTS_UNIT_H

#include <check.h>

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

#endif
