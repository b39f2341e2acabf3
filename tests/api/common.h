/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the API tests (tests/api/): a CHECK macro that records a failure and goes on,
 * a skip when /dev/kvm is unusable, and thread-safe recorders for the console, events and log
 * callbacks. Every test program exits 0 (pass), 1 (fail) or 77 (skip).
 */
#ifndef API_COMMON_H
#define API_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <pthread.h>

#include <vmm/vmm.h>

#define EXIT_SKIP 77

extern int api_failures;

/* Record a failure (with the expression and where) and continue. */
#define CHECK(cond)                                                                       \
	do {                                                                              \
		if (!(cond)) {                                                            \
			fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);  \
			api_failures++;                                                   \
		}                                                                         \
	} while (0)
/* CHECK that an int expression equals an expected value; prints both on failure. */
#define CHECK_EQ(got, want)                                                                   \
	do {                                                                                  \
		long long got_ = (long long)(got), want_ = (long long)(want);                 \
		if (got_ != want_) {                                                          \
			fprintf(stderr, "FAIL %s:%d: %s is %lld, expected %s (%lld)\n", __FILE__, \
				__LINE__, #got, got_, #want, want_);                          \
			api_failures++;                                                       \
		}                                                                             \
	} while (0)
/* Like CHECK, but the test cannot go on: exit 1 at once. */
#define REQUIRE(cond)                                                                         \
	do {                                                                                  \
		if (!(cond)) {                                                                \
			fprintf(stderr, "FATAL %s:%d: %s\n", __FILE__, __LINE__, #cond);     \
			exit(1);                                                              \
		}                                                                             \
	} while (0)

/* true when /dev/kvm can be opened read-write. */
bool api_have_kvm(void);
/* Exit 77 with "SKIP: <test>: ..." when /dev/kvm is absent or not accessible (1, "FAIL", with VMM_REQUIRE_ALL=1). */
void api_need_kvm(const char *test);
/* Milliseconds on CLOCK_MONOTONIC. */
int64_t api_now_ms(void);
void api_sleep_ms(unsigned ms);
/* Run by tests/api/valgrind.sh (API_UNDER_VALGRIND=1): the process's size is Valgrind's as much as ours. */
bool api_under_valgrind(void);
/*
 * A thread that, unless api_watchdog_cancel() comes first, prints "FAIL: <what> hung" after
 * seconds and exits 1: a deadlock in the library fails the test quickly instead of at the CTest timeout.
 */
void api_watchdog(unsigned seconds, const char *what);
void api_watchdog_cancel(void);
/* The process exit status: 1 when any CHECK failed, else 0; prints PASS or the failure count. */
int api_result(const char *test);

/* Console output of one VM. */
struct capture {
	pthread_mutex_t lock;
	char buf[1 << 16]; /* NUL-terminated; NUL bytes from the guest are kept as '?' */
	size_t len;
	size_t dropped;
	unsigned calls;
};
void capture_init(struct capture *c);
void capture_destroy(struct capture *c);
void capture_cb(void *opaque, const uint8_t *buf, size_t len);
size_t capture_len(struct capture *c);
bool capture_has(struct capture *c, const char *s);
/* How many times s occurs. */
unsigned capture_count(struct capture *c, const char *s);
/* Wait until s appears (true) or timeout_ms passes (false). */
bool capture_wait(struct capture *c, const char *s, int timeout_ms);
/* A copy of the text (caller frees). */
char *capture_text(struct capture *c);

/* Events of one VM, in order. */
#define MAX_EVENTS 64
struct events {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	enum vmm_event ev[MAX_EVENTS];
	unsigned n;
	/* Optional hook run (outside the lock) after recording each event. */
	void (*hook)(struct events *e, struct vmm *vm, enum vmm_event ev);
	void *hook_data;
};
void events_init(struct events *e);
void events_destroy(struct events *e);
void events_cb(void *opaque, struct vmm *vm, enum vmm_event ev);
unsigned events_count(struct events *e);
/* Wait until at least n events were recorded (true) or timeout_ms passes (false). */
bool events_wait_n(struct events *e, unsigned n, int timeout_ms);
/* Event i, or -1 when there is none. */
int events_at(struct events *e, unsigned i);
/* Print the sequence on stderr (diagnostics). */
void events_dump(struct events *e, const char *what);

/* Log messages. */
struct logs {
	pthread_mutex_t lock;
	unsigned n;
	unsigned errors;
	bool bad_newline; /* a message ended in '\n' (the contract says it never does) */
	char last[512];
};
void logs_init(struct logs *l);
void logs_destroy(struct logs *l);
void logs_cb(void *opaque, enum vmm_log_level level, const char *msg);
void logs_reset(struct logs *l);

/*
 * A config for the payload: PAYLOAD=name on the command line, 32 MiB, cpus vCPUs, a 60 s safety
 * timeout, the given recorders (each may be NULL).
 */
void api_payload_config(struct vmm_config *cfg, const char *payload_elf, const char *cmdline, unsigned cpus,
			struct capture *con, struct events *ev, struct logs *log);

#endif
