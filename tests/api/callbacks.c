// SPDX-License-Identifier: Apache-2.0
/*
 * api.callbacks: vmm.h says a callback may call every function on its own VM but vmm_destroy()
 * and vmm_wait(). Calls from the event callback (on the thread of vmm_start()) and from the console
 * callback (on a vCPU thread): vmm_pause(), vmm_request_stop(), vmm_console_input(). A watchdog
 * turns a deadlock into a quick failure.
 * Usage: api_callbacks PAYLOAD_ELF
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "common.h"

#define PENDING (-1000)
#define RUNNING_CALL (-999)

enum action { PAUSE_ON_RUNNING, STOP_ON_CONSOLE, INPUT_ON_CONSOLE, PAUSE_ON_CONSOLE };

static const char *payload;

struct run {
	struct capture con;
	struct events ev;
	struct vmm *_Atomic vm;
	enum action action;
	const char *trigger; /* console text that fires a console action */
	atomic_int ret;      /* what the call in the callback returned */
};

static void fire(struct run *r, struct vmm *vm)
{
	int expected = PENDING;

	if (!atomic_compare_exchange_strong(&r->ret, &expected, RUNNING_CALL))
		return; /* once */
	switch (r->action) {
	case PAUSE_ON_RUNNING:
	case PAUSE_ON_CONSOLE:
		atomic_store(&r->ret, vmm_pause(vm));
		break;
	case STOP_ON_CONSOLE:
		atomic_store(&r->ret, vmm_request_stop(vm, 0));
		break;
	case INPUT_ON_CONSOLE:
		atomic_store(&r->ret, vmm_console_input(vm, "abc\n", 4));
		break;
	}
}

static void on_event(struct events *e, struct vmm *vm, enum vmm_event ev)
{
	struct run *r = e->hook_data;

	if (r->action == PAUSE_ON_RUNNING && ev == VMM_EVENT_RUNNING)
		fire(r, vm);
}

static void on_console(void *opaque, const uint8_t *buf, size_t len)
{
	struct run *r = opaque;
	struct vmm *vm = atomic_load(&r->vm);

	capture_cb(&r->con, buf, len);
	if (r->action != PAUSE_ON_RUNNING && vm && capture_has(&r->con, r->trigger))
		fire(r, vm);
}

static void run_init(struct run *r, const char *cmdline, enum action action, const char *trigger)
{
	struct vmm_config cfg;
	struct vmm *vm;

	memset(r, 0, sizeof(*r));
	capture_init(&r->con);
	events_init(&r->ev);
	r->ev.hook = on_event;
	r->ev.hook_data = r;
	r->action = action;
	r->trigger = trigger;
	atomic_store(&r->ret, PENDING);
	api_payload_config(&cfg, payload, cmdline, 1, NULL, &r->ev, NULL);
	cfg.console_out = on_console;
	cfg.console_opaque = r;
	cfg.log_level = VMM_LOG_WARN;
	REQUIRE(vmm_create(&cfg, &vm) == 0);
	atomic_store(&r->vm, vm);
}

static void run_fini(struct run *r, const char *what)
{
	CHECK_EQ(vmm_destroy(atomic_load(&r->vm)), 0);
	events_dump(&r->ev, what);
	events_destroy(&r->ev);
	capture_destroy(&r->con);
}

/* Wait until the call in the callback returned; false when it did not within timeout_ms. */
static bool call_returned(struct run *r, int timeout_ms)
{
	int64_t end = api_now_ms() + timeout_ms;

	while (atomic_load(&r->ret) == PENDING || atomic_load(&r->ret) == RUNNING_CALL) {
		if (api_now_ms() >= end)
			return false;
		api_sleep_ms(10);
	}
	return true;
}

static void pause_on_running(void)
{
	struct run r;
	enum vmm_exit_reason why;

	api_watchdog(30, "vmm_pause() from the RUNNING event callback (inside vmm_start())");
	run_init(&r, "payload=hang", PAUSE_ON_RUNNING, NULL);
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK(call_returned(&r, 10000));
	CHECK_EQ(atomic_load(&r.ret), 0);
	CHECK(events_wait_n(&r.ev, 2, 5000));
	CHECK_EQ(events_at(&r.ev, 1), VMM_EVENT_PAUSED);
	CHECK_EQ(vmm_resume(r.vm), 0);
	CHECK(capture_wait(&r.con, "payload: spinning forever", 30000));
	CHECK_EQ(vmm_request_stop(r.vm, 0), 0);
	CHECK_EQ(vmm_wait(r.vm, 10000, &why), 0);
	CHECK_EQ(why, VMM_EXIT_STOPPED);
	run_fini(&r, "vmm_pause() from the RUNNING callback");
	api_watchdog_cancel();
}

static void stop_on_console(void)
{
	struct run r;
	enum vmm_exit_reason why = VMM_EXIT_NONE;

	api_watchdog(30, "vmm_request_stop() from the console callback");
	run_init(&r, "payload=hang", STOP_ON_CONSOLE, "payload: spinning forever");
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK_EQ(vmm_wait(r.vm, 30000, &why), 0);
	CHECK_EQ(why, VMM_EXIT_STOPPED);
	CHECK(call_returned(&r, 5000)); /* vmm_wait() may return while the callback is still in the call */
	CHECK_EQ(atomic_load(&r.ret), 0);
	run_fini(&r, "vmm_request_stop() from the console callback");
	api_watchdog_cancel();
}

static void input_on_console(void)
{
	struct run r;
	enum vmm_exit_reason why = VMM_EXIT_NONE;

	api_watchdog(30, "vmm_console_input() from the console callback");
	run_init(&r, "payload=echo", INPUT_ON_CONSOLE, "payload: ready for input\r\n");
	CHECK_EQ(vmm_start(r.vm), 0);
	CHECK_EQ(vmm_wait(r.vm, 30000, &why), 0);
	CHECK_EQ(why, VMM_EXIT_POWEROFF);
	CHECK(call_returned(&r, 5000));
	CHECK_EQ(atomic_load(&r.ret), 4);
	CHECK(capture_has(&r.con, "ABC"));
	run_fini(&r, "vmm_console_input() from the console callback");
	api_watchdog_cancel();
}

/* On a vCPU thread: vmm_pause() must not wait for that very thread to park. */
static void pause_on_console(void)
{
	struct run r;
	enum vmm_exit_reason why = VMM_EXIT_NONE;

	api_watchdog(60, "vmm_pause() from the console callback");
	run_init(&r, "payload=hang", PAUSE_ON_CONSOLE, "payload: spinning forever");
	CHECK_EQ(vmm_start(r.vm), 0);
	if (!call_returned(&r, 5000)) {
		fprintf(stderr, "FAIL: vmm_pause() called from the console callback (a vCPU thread) did not return "
				"in 5 s: it waits for its own thread to park; the VM is wedged until stopped\n");
		api_failures++;
	} else {
		CHECK_EQ(atomic_load(&r.ret), 0);
		CHECK_EQ(vmm_resume(r.vm), 0);
	}
	CHECK_EQ(vmm_request_stop(r.vm, 0), 0);
	CHECK_EQ(vmm_wait(r.vm, 10000, &why), 0);
	CHECK_EQ(why, VMM_EXIT_STOPPED);
	CHECK(call_returned(&r, 5000));
	run_fini(&r, "vmm_pause() from the console callback");
	api_watchdog_cancel();
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.callbacks");
	pause_on_running();
	stop_on_console();
	input_on_console();
	pause_on_console();
	return api_result("api.callbacks");
}
