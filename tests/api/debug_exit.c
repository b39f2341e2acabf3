// SPDX-License-Identifier: Apache-2.0
/*
 * api.debug-exit: with cfg.debug_exit_port = 0xf4, payload=debugexit writes payload.value=V there
 * (outl): vmm_wait() gives VMM_EXIT_DEBUG and vmm_guest_exit_value() gives V. Without the port the
 * write goes nowhere and the guest powers off; a port that collides with a device is refused.
 * (The CLI's exit status (V << 1) | 1 is checked by direct.debug-exit.)
 * Usage: api_debug_exit PAYLOAD_ELF
 */
#include <errno.h>
#include <string.h>

#include "common.h"

static const char *payload;

static void debug_exit(uint32_t v, uint16_t port, enum vmm_exit_reason want)
{
	struct vmm_config cfg;
	struct capture con;
	struct events ev;
	struct vmm *vm;
	char cmdline[96], line[64];
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	uint32_t got = 0xdeadbeef;

	snprintf(cmdline, sizeof(cmdline), "payload=debugexit payload.value=%u", v);
	capture_init(&con);
	events_init(&ev);
	api_payload_config(&cfg, payload, cmdline, 1, &con, &ev, NULL);
	cfg.log_level = VMM_LOG_WARN;
	cfg.debug_exit_port = port;
	REQUIRE(vmm_create(&cfg, &vm) == 0);
	CHECK_EQ(vmm_guest_exit_value(vm, &got), -EINVAL);
	CHECK_EQ(vmm_start(vm), 0);
	CHECK_EQ(vmm_wait(vm, 60000, &why), 0);
	CHECK_EQ(why, want);
	snprintf(line, sizeof(line), "payload: debug exit %u\r\n", v);
	CHECK(capture_has(&con, line));
	if (want == VMM_EXIT_DEBUG) {
		CHECK_EQ(vmm_guest_exit_value(vm, &got), 0);
		CHECK_EQ(got, v);
		CHECK(!capture_has(&con, "did not stop"));
		CHECK_EQ(vmm_guest_exit_value(vm, NULL), -EINVAL);
		/* Order is api.events' business: here, that a STOPPED event came. */
		CHECK(events_wait_n(&ev, 2, 5000));
		CHECK(events_at(&ev, 0) == VMM_EVENT_STOPPED || events_at(&ev, 1) == VMM_EVENT_STOPPED);
	} else {
		CHECK_EQ(vmm_guest_exit_value(vm, &got), -EINVAL);
		CHECK_EQ(got, 0xdeadbeef);
		CHECK(capture_has(&con, "payload: the debug-exit port did not stop the VM"));
	}
	if (want == VMM_EXIT_DEBUG)
		printf("port 0x%x, value %u: %s, value %u\n", port, v, vmm_exit_reason_str(why), got);
	else
		printf("port 0x%x, value %u: %s\n", port, v, vmm_exit_reason_str(why));
	CHECK_EQ(vmm_destroy(vm), 0);
	events_destroy(&ev);
	capture_destroy(&con);
}

/* A port inside COM1's range cannot be the debug-exit port: vmm_create() fails with one message. */
static void collision(void)
{
	struct vmm_config cfg;
	struct logs logs;
	struct vmm *vm = NULL;
	int ret;

	logs_init(&logs);
	api_payload_config(&cfg, payload, "payload=hello", 1, NULL, NULL, &logs);
	cfg.debug_exit_port = 0x3fa;
	ret = vmm_create(&cfg, &vm);
	CHECK(ret < 0);
	CHECK(vm == NULL);
	CHECK_EQ(logs.errors, 1);
	printf("debug-exit port 0x3fa -> %d (%s): %s\n", ret, strerror(-ret), logs.last);
	if (ret == 0)
		vmm_destroy(vm);
	logs_destroy(&logs);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.debug-exit");
	debug_exit(0, 0xf4, VMM_EXIT_DEBUG);
	debug_exit(1, 0xf4, VMM_EXIT_DEBUG);
	debug_exit(42, 0xf4, VMM_EXIT_DEBUG);
	debug_exit(0xffffffffu, 0xf4, VMM_EXIT_DEBUG);
	debug_exit(42, 0, VMM_EXIT_POWEROFF); /* no port: the write goes nowhere */
	collision();
	return api_result("api.debug-exit");
}
