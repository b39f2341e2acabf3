// SPDX-License-Identifier: Apache-2.0
/*
 * api.events: the event callback sees each state change in order (RUNNING, PAUSED, RUNNING,
 * STOPPED / POWEROFF / REBOOT), pause/resume/request_stop reject the wrong state, a callback may
 * call vmm_request_stop(), and vmm_request_stop() with a grace period stops a guest that ignores
 * the power button when the period runs out. Linked against the shared library (libvmm.so).
 * Usage: api_events PAYLOAD_ELF
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

/* Slack for a busy 2-core machine and the sanitizers. */
#define SLACK_MS 1500

static const char *payload;

struct run {
	struct capture con;
	struct events ev;
	struct logs logs;
	struct vmm *vm;
	atomic_int hook_ret;   /* what the hook's vmm_request_stop() returned */
	atomic_int hook_calls;
	_Atomic(struct vmm *) seen_vm; /* the handle the callback got */
	bool bad_handle;
};

static void run_init(struct run *r, const char *cmdline, unsigned timeout_ms)
{
	struct vmm_config cfg;

	memset(r, 0, sizeof(*r));
	capture_init(&r->con);
	events_init(&r->ev);
	logs_init(&r->logs);
	r->ev.hook_data = r;
	atomic_store(&r->hook_ret, 1);
	api_payload_config(&cfg, payload, cmdline, 1, &r->con, &r->ev, &r->logs);
	cfg.log_level = VMM_LOG_INFO;
	if (timeout_ms)
		cfg.timeout_ms = timeout_ms;
	REQUIRE(vmm_create(&cfg, &r->vm) == 0);
}

static void run_fini(struct run *r, const char *what)
{
	unsigned n = events_count(&r->ev);

	CHECK_EQ(vmm_destroy(r->vm), 0);
	/* vmm_destroy() of a stopped VM adds no event. */
	CHECK_EQ(events_count(&r->ev), n);
	events_dump(&r->ev, what);
	events_destroy(&r->ev);
	logs_destroy(&r->logs);
	capture_destroy(&r->con);
}

static void check_seq(struct run *r, const enum vmm_event *want, unsigned n, const char *what)
{
	bool ok = events_count(&r->ev) == n;

	for (unsigned i = 0; ok && i < n; i++)
		ok = events_at(&r->ev, i) == (int)want[i];
	if (!ok) {
		fprintf(stderr, "FAIL: %s: unexpected event sequence\n", what);
		events_dump(&r->ev, what);
		api_failures++;
	}
}

static enum vmm_exit_reason wait_exit(struct run *r, int timeout_ms)
{
	enum vmm_exit_reason why = VMM_EXIT_NONE;

	CHECK_EQ(vmm_wait(r->vm, timeout_ms, &why), 0);
	return why;
}

static void pause_resume_stop(void)
{
	static const enum vmm_event want[] = { VMM_EVENT_RUNNING, VMM_EVENT_PAUSED, VMM_EVENT_RUNNING,
					       VMM_EVENT_STOPPED };
	struct run r;
	enum vmm_exit_reason why;

	run_init(&r, "payload=hang", 0);
	CHECK_EQ(events_count(&r.ev), 0);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK(events_wait_n(&r.ev, 1, 5000));
	CHECK_EQ(events_at(&r.ev, 0), VMM_EVENT_RUNNING);
	CHECK(capture_wait(&r.con, "payload: spinning forever", 30000));

	CHECK_EQ(vmm_pause(r.vm), 0);
	CHECK(events_wait_n(&r.ev, 2, 5000));
	CHECK_EQ(events_at(&r.ev, 1), VMM_EVENT_PAUSED);
	CHECK_EQ(vmm_pause(r.vm), -EINVAL);
	CHECK_EQ(vmm_wait(r.vm, 100, &why), -ETIMEDOUT);

	CHECK_EQ(vmm_resume(r.vm), 0);
	CHECK(events_wait_n(&r.ev, 3, 5000));
	CHECK_EQ(events_at(&r.ev, 2), VMM_EVENT_RUNNING);
	CHECK_EQ(vmm_resume(r.vm), -EINVAL);

	CHECK_EQ(vmm_request_stop(r.vm, 0), 0);
	CHECK(events_wait_n(&r.ev, 4, 5000));
	CHECK_EQ(wait_exit(&r, 10000), VMM_EXIT_STOPPED);
	CHECK_EQ(vmm_pause(r.vm), -EINVAL);
	CHECK_EQ(vmm_resume(r.vm), -EINVAL);
	check_seq(&r, want, 4, "hang: pause, resume, stop");
	run_fini(&r, "hang: pause, resume, stop");
}

static void guest_exits(const char *cmdline, enum vmm_exit_reason reason, enum vmm_event last)
{
	const enum vmm_event want[] = { VMM_EVENT_RUNNING, last };
	struct run r;

	run_init(&r, cmdline, 0);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK_EQ(wait_exit(&r, 60000), reason);
	CHECK(events_wait_n(&r.ev, 2, 5000));
	api_sleep_ms(50); /* nothing more may come */
	check_seq(&r, want, 2, cmdline);
	run_fini(&r, cmdline);
}

/* Hooks: call vmm_request_stop() from inside the event callback. */
static void stop_on(struct events *e, struct vmm *vm, enum vmm_event ev, enum vmm_event trigger)
{
	struct run *r = e->hook_data;

	if (vm != r->vm)
		r->bad_handle = true;
	if (ev != trigger)
		return;
	atomic_fetch_add(&r->hook_calls, 1);
	atomic_store(&r->hook_ret, vmm_request_stop(vm, 0));
}

static void stop_on_running(struct events *e, struct vmm *vm, enum vmm_event ev)
{
	stop_on(e, vm, ev, VMM_EVENT_RUNNING);
}

static void stop_on_poweroff(struct events *e, struct vmm *vm, enum vmm_event ev)
{
	stop_on(e, vm, ev, VMM_EVENT_POWEROFF);
}

static void stop_from_callback(void)
{
	static const enum vmm_event want_hang[] = { VMM_EVENT_RUNNING, VMM_EVENT_STOPPED };
	static const enum vmm_event want_hello[] = { VMM_EVENT_RUNNING, VMM_EVENT_POWEROFF };
	struct run r;

	/* RUNNING comes on the thread of vmm_start(). */
	run_init(&r, "payload=hang", 0);
	r.ev.hook = stop_on_running;
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK_EQ(wait_exit(&r, 10000), VMM_EXIT_STOPPED);
	CHECK_EQ(atomic_load(&r.hook_calls), 1);
	CHECK_EQ(atomic_load(&r.hook_ret), 0);
	CHECK(!r.bad_handle);
	CHECK(events_wait_n(&r.ev, 2, 5000));
	check_seq(&r, want_hang, 2, "request_stop from the RUNNING callback");
	run_fini(&r, "request_stop from the RUNNING callback");

	/* POWEROFF comes on a vCPU thread; the VM is stopping already: 0, and the reason stays. */
	run_init(&r, "payload=hello", 0);
	r.ev.hook = stop_on_poweroff;
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK_EQ(wait_exit(&r, 60000), VMM_EXIT_POWEROFF);
	CHECK(events_wait_n(&r.ev, 2, 5000));
	/* The callback may still be in its call when vmm_wait() returns. */
	for (int i = 0; i < 500 && atomic_load(&r.hook_ret) == 1; i++)
		api_sleep_ms(10);
	CHECK_EQ(atomic_load(&r.hook_calls), 1);
	CHECK_EQ(atomic_load(&r.hook_ret), 0);
	CHECK(!r.bad_handle);
	check_seq(&r, want_hello, 2, "request_stop from the POWEROFF callback");
	run_fini(&r, "request_stop from the POWEROFF callback");
}

/* The payload has no ACPI driver: the power button does nothing, the grace timer stops it. */
static void grace_period(unsigned first_ms, unsigned second_ms, unsigned expect_ms)
{
	struct run r;
	int64_t t0, took;
	enum vmm_exit_reason why;

	run_init(&r, "payload=hang", 0);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK(capture_wait(&r.con, "payload: spinning forever", 30000));
	t0 = api_now_ms();
	CHECK_EQ(vmm_request_stop(r.vm, first_ms), 0);
	if (second_ms)
		CHECK_EQ(vmm_request_stop(r.vm, second_ms), 0);
	/* Still running a little before the period ends. */
	if (expect_ms > 250)
		CHECK_EQ(vmm_wait(r.vm, (int)expect_ms - 200, &why), -ETIMEDOUT);
	CHECK_EQ(wait_exit(&r, (int)expect_ms + 10000), VMM_EXIT_STOPPED);
	took = api_now_ms() - t0;
	printf("request_stop(%u), then (%u): stopped after %lld ms\n", first_ms, second_ms, (long long)took);
	CHECK(took >= (int64_t)expect_ms - 20);
	CHECK(took <= (int64_t)expect_ms + SLACK_MS);
	CHECK(events_wait_n(&r.ev, 2, 5000)); /* the event may come just after vmm_wait() returns */
	CHECK_EQ(events_at(&r.ev, 1), VMM_EVENT_STOPPED);
	run_fini(&r, "grace period");
}

static void stop_paused(void)
{
	static const enum vmm_event want[] = { VMM_EVENT_RUNNING, VMM_EVENT_PAUSED, VMM_EVENT_STOPPED };
	struct run r;
	int64_t t0;

	run_init(&r, "payload=hang", 0);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK(capture_wait(&r.con, "payload: spinning forever", 30000));
	CHECK_EQ(vmm_pause(r.vm), 0);
	t0 = api_now_ms();
	CHECK_EQ(vmm_request_stop(r.vm, 30000), 0); /* a paused VM stops at once */
	CHECK_EQ(wait_exit(&r, 5000), VMM_EXIT_STOPPED);
	CHECK(api_now_ms() - t0 < SLACK_MS);
	CHECK_EQ(vmm_resume(r.vm), -EINVAL);
	CHECK(events_wait_n(&r.ev, 3, 5000));
	check_seq(&r, want, 3, "request_stop while paused");
	run_fini(&r, "request_stop while paused");
}

static void timeout(void)
{
	static const enum vmm_event want[] = { VMM_EVENT_RUNNING, VMM_EVENT_STOPPED };
	struct run r;

	run_init(&r, "payload=hang", 300);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK_EQ(wait_exit(&r, 10000), VMM_EXIT_TIMEOUT);
	CHECK(events_wait_n(&r.ev, 2, 5000));
	check_seq(&r, want, 2, "timeout_ms");
	run_fini(&r, "timeout_ms");
}

/* Destroying a running VM stops it: one STOPPED event, delivered before vmm_destroy() returns. */
static void destroy_running(void)
{
	struct run r;

	run_init(&r, "payload=hang", 0);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK(capture_wait(&r.con, "payload: spinning forever", 30000));
	CHECK_EQ(vmm_destroy(r.vm), 0);
	CHECK_EQ(events_count(&r.ev), 2);
	CHECK_EQ(events_at(&r.ev, 1), VMM_EVENT_STOPPED);
	events_destroy(&r.ev);
	logs_destroy(&r.logs);
	capture_destroy(&r.con);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.events");

	pause_resume_stop();
	guest_exits("payload=hello", VMM_EXIT_POWEROFF, VMM_EVENT_POWEROFF);
	guest_exits("payload=triple", VMM_EXIT_REBOOT, VMM_EVENT_REBOOT); /* a triple fault resets */
	guest_exits("payload=reboot", VMM_EXIT_REBOOT, VMM_EVENT_REBOOT);
	stop_from_callback();
	grace_period(500, 0, 500);
	grace_period(5000, 400, 400); /* a second call shortens the period */
	grace_period(400, 5000, 400); /* ... and never lengthens it */
	stop_paused();
	timeout();
	destroy_running();
	return api_result("api.events");
}
