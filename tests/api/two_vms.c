// SPDX-License-Identifier: Apache-2.0
/*
 * api.two-vms: two VMs in one process at once, each with its own console callback; neither sees
 * the other's output or its exit. Linked against the shared library (libvmm.so).
 * Usage: api_two_vms PAYLOAD_ELF
 */
#include <errno.h>
#include <string.h>

#include "common.h"

#define HELLO "payload: hello from the guest"

static const char *payload;

struct vm_run {
	struct capture con;
	struct events ev;
	struct vmm *vm;
};

static void run_init(struct vm_run *r, const char *cmdline, unsigned cpus)
{
	struct vmm_config cfg;

	capture_init(&r->con);
	events_init(&r->ev);
	api_payload_config(&cfg, payload, cmdline, cpus, &r->con, &r->ev, NULL);
	cfg.log_level = VMM_LOG_WARN;
	REQUIRE(vmm_create(&cfg, &r->vm) == 0);
}

static void run_fini(struct vm_run *r)
{
	CHECK_EQ(vmm_destroy(r->vm), 0);
	events_destroy(&r->ev);
	capture_destroy(&r->con);
}

static enum vmm_exit_reason wait_for(struct vm_run *r)
{
	enum vmm_exit_reason why = VMM_EXIT_NONE;

	CHECK_EQ(vmm_wait(r->vm, 90000, &why), 0);
	return why;
}

/* Both print the hello line: each console must hold exactly its own run, once. */
static void both_hello(void)
{
	static const char want[] = "payload: started\r\n" HELLO "\r\n";
	struct vm_run a, b;
	char *ta, *tb;

	run_init(&a, "payload=hello", 1);
	run_init(&b, "payload=hello", 2);
	CHECK_EQ(vmm_start(a.vm), 0);
	CHECK_EQ(vmm_start(b.vm), 0);
	CHECK_EQ(wait_for(&a), VMM_EXIT_POWEROFF);
	CHECK_EQ(wait_for(&b), VMM_EXIT_POWEROFF);
	ta = capture_text(&a.con);
	tb = capture_text(&b.con);
	printf("VM a (1 vCPU) console: %s", ta);
	printf("VM b (2 vCPUs) console: %s", tb);
	CHECK(strcmp(ta, want) == 0);
	CHECK(strcmp(tb, want) == 0);
	/* The exit event may come just after vmm_wait() returns. */
	CHECK(events_wait_n(&a.ev, 2, 5000));
	CHECK(events_wait_n(&b.ev, 2, 5000));
	/* (Their order is api.events' business.) */
	CHECK(events_at(&a.ev, 0) == VMM_EVENT_POWEROFF || events_at(&a.ev, 1) == VMM_EVENT_POWEROFF);
	CHECK(events_at(&b.ev, 0) == VMM_EVENT_POWEROFF || events_at(&b.ev, 1) == VMM_EVENT_POWEROFF);
	free(ta);
	free(tb);
	run_fini(&a);
	run_fini(&b);
}

/* Different programs at once: no line crosses over. */
static void hello_and_cpuid(void)
{
	struct vm_run a, b;

	run_init(&a, "payload=hello", 1);
	run_init(&b, "payload=cpuid", 2);
	CHECK_EQ(vmm_start(b.vm), 0);
	CHECK_EQ(vmm_start(a.vm), 0);
	CHECK_EQ(wait_for(&a), VMM_EXIT_POWEROFF);
	CHECK_EQ(wait_for(&b), VMM_EXIT_POWEROFF);
	CHECK_EQ(capture_count(&a.con, HELLO), 1);
	CHECK_EQ(capture_count(&a.con, "payload: hypervisor"), 0);
	CHECK_EQ(capture_count(&b.con, "payload: hypervisor KVMKVMKVM"), 1);
	CHECK_EQ(capture_count(&b.con, HELLO), 0);
	run_fini(&a);
	run_fini(&b);
}

/* One VM powers off while the other keeps running: the exit is not shared. */
static void one_stops_other_runs(void)
{
	struct vm_run a, b;
	enum vmm_exit_reason why = VMM_EXIT_NONE;

	run_init(&a, "payload=hang", 2);
	run_init(&b, "payload=hello", 1);
	CHECK_EQ(vmm_start(a.vm), 0);
	CHECK(capture_wait(&a.con, "payload: spinning forever", 30000));
	CHECK_EQ(vmm_start(b.vm), 0);
	CHECK_EQ(wait_for(&b), VMM_EXIT_POWEROFF);
	CHECK_EQ(vmm_wait(a.vm, 300, &why), -ETIMEDOUT); /* still running */
	CHECK_EQ(vmm_pause(a.vm), 0);
	CHECK_EQ(vmm_resume(a.vm), 0);
	CHECK_EQ(vmm_request_stop(a.vm, 0), 0);
	CHECK_EQ(wait_for(&a), VMM_EXIT_STOPPED);
	CHECK_EQ(capture_count(&a.con, HELLO), 0);
	CHECK_EQ(capture_count(&b.con, "spinning"), 0);
	run_fini(&a);
	run_fini(&b);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.two-vms");
	both_hello();
	hello_and_cpuid();
	one_stops_other_runs();
	return api_result("api.two-vms");
}
