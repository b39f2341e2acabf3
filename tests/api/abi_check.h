/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the api.abi-v* programs share: the last log line and a check of a call's result and message.
 * Included after the frozen <vmm/vmm.h> of the version under test (it needs only enum vmm_log_level).
 */
#ifndef VMM_TESTS_ABI_CHECK_H
#define VMM_TESTS_ABI_CHECK_H

#include <errno.h>
#include <stdio.h>
#include <string.h>

static char last[512];
static int failures;

static void log_cb(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	snprintf(last, sizeof(last), "%s", msg);
}

/* The call returned want and logged a line containing msg. */
static void expect(int ret, int want, const char *msg)
{
	if (ret != want || !strstr(last, msg)) {
		fprintf(stderr, "FAIL: returned %d (want %d), said '%s' (want '%s')\n", ret, want, last, msg);
		failures++;
	} else {
		printf("ok: %d: %s\n", ret, last);
	}
	last[0] = 0;
}

/*
 * The whole configuration was accepted: cfg names the missing kernel /nonexistent/bzImage, so that
 * is the error, and no handle is left behind.
 */
static void expect_accepted(struct vmm_config *cfg)
{
	struct vmm *vm = NULL;

	expect(vmm_create(cfg, &vm), -ENOENT, "cannot open kernel '/nonexistent/bzImage'");
	if (vm) {
		fprintf(stderr, "FAIL: a failed vmm_create left a handle\n");
		failures++;
	}
}

/* The last line (pass says what passed) and the exit status. */
static int verdict(const char *pass)
{
	printf("%s\n", failures ? "FAIL" : pass);
	return failures ? 1 : 0;
}

#endif
