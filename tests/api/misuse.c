// SPDX-License-Identifier: Apache-2.0
/*
 * api.misuse: every function rejects a NULL handle or argument, a pointer that was never a handle
 * (without dereferencing it: run under ASan, and with pointers that would fault), a destroyed
 * handle, calls in the wrong state, and bad configs (with exactly one log message each).
 * Usage: api_misuse PAYLOAD_ELF
 */
#include <errno.h>
#include <string.h>

#include "common.h"

static const char *payload;

/* Every handle-taking function must return -EINVAL for h and change nothing. */
static void check_bad_handle(struct vmm *h, const char *what)
{
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	uint32_t value = 12345;
	int fails = api_failures;

	CHECK_EQ(vmm_start(h), -EINVAL);
	CHECK_EQ(vmm_wait(h, 0, &why), -EINVAL);
	CHECK_EQ(vmm_wait(h, -1, &why), -EINVAL); /* must not block */
	CHECK_EQ(why, VMM_EXIT_NONE);
	CHECK_EQ(vmm_pause(h), -EINVAL);
	CHECK_EQ(vmm_resume(h), -EINVAL);
	CHECK_EQ(vmm_request_stop(h, 0), -EINVAL);
	CHECK_EQ(vmm_request_stop(h, 100), -EINVAL);
	CHECK_EQ(vmm_console_input(h, "x", 1), -EINVAL);
	CHECK_EQ(vmm_console_input(h, NULL, 0), -EINVAL);
	CHECK_EQ(vmm_guest_exit_value(h, &value), -EINVAL);
	CHECK_EQ(value, 12345);
	CHECK_EQ(vmm_destroy(h), -EINVAL);
	if (api_failures != fails)
		fprintf(stderr, "  (with %s)\n", what);
}

/* vmm_create(cfg) must fail with want and exactly one log message (an error, no newline). */
static void check_bad_config(struct vmm_config *cfg, int want, const char *what)
{
	struct logs logs;
	struct vmm *vm = (struct vmm *)&logs; /* must be set to NULL */
	int ret;

	logs_init(&logs);
	cfg->log = logs_cb;
	cfg->log_opaque = &logs;
	cfg->log_level = VMM_LOG_DEBUG;
	ret = vmm_create(cfg, &vm);
	if (ret != want || logs.n != 1 || logs.errors != 1 || logs.bad_newline || vm != NULL) {
		fprintf(stderr, "FAIL: config '%s': vmm_create = %d (expected %d), %u log message(s) (%u errors), "
				"handle %p\n", what, ret, want, logs.n, logs.errors, (void *)vm);
		api_failures++;
	} else {
		printf("ok: config '%s' -> %d: %s\n", what, ret, logs.last);
	}
	if (ret == 0)
		vmm_destroy(vm);
	logs_destroy(&logs);
}

static void payload_cfg(struct vmm_config *cfg)
{
	vmm_config_init(cfg);
	cfg->kernel = payload;
	cfg->cmdline = "payload=hang";
	cfg->mem_bytes = 32ull << 20;
}

static void config_errors(void)
{
	struct vmm_config cfg;
	struct vmm_disk disks[VMM_MAX_DISKS + 1];
	struct vmm_net nets[VMM_MAX_NICS + 1];

	memset(disks, 0, sizeof(disks));
	memset(nets, 0, sizeof(nets));
	for (unsigned i = 0; i <= VMM_MAX_DISKS; i++)
		disks[i].path = "/nonexistent/disk.img";
	for (unsigned i = 0; i <= VMM_MAX_NICS; i++)
		nets[i].tap = "vmmtest0";

	payload_cfg(&cfg);
	cfg.kernel = NULL;
	check_bad_config(&cfg, -EINVAL, "no kernel");
	payload_cfg(&cfg);
	cfg.kernel = "";
	check_bad_config(&cfg, -EINVAL, "empty kernel path");
	payload_cfg(&cfg);
	cfg.mem_bytes = 1;
	check_bad_config(&cfg, -EINVAL, "mem 1 byte");
	payload_cfg(&cfg);
	cfg.mem_bytes = (2ull << 20) - 4096;
	check_bad_config(&cfg, -EINVAL, "mem 2 MiB - 4 KiB");
	payload_cfg(&cfg);
	cfg.mem_bytes = (1ull << 40) + 4096;
	check_bad_config(&cfg, -EINVAL, "mem 1 TiB + 4 KiB");
	payload_cfg(&cfg);
	cfg.mem_bytes = (32ull << 20) + 1;
	check_bad_config(&cfg, -EINVAL, "mem not a multiple of 4 KiB");
	payload_cfg(&cfg);
	cfg.seccomp = VMM_SECCOMP_LOG + 1;
	check_bad_config(&cfg, -EINVAL, "seccomp mode 4");
	payload_cfg(&cfg);
	cfg.seccomp = -1;
	check_bad_config(&cfg, -EINVAL, "seccomp mode -1");
	payload_cfg(&cfg);
	cfg.io_threads = VMM_MAX_IO_THREADS + 1;
	check_bad_config(&cfg, -EINVAL, "io_threads 9");
	payload_cfg(&cfg);
	cfg.cpus = VMM_MAX_CPUS + 1;
	check_bad_config(&cfg, -EINVAL, "cpus 65");
	payload_cfg(&cfg);
	cfg.cpus = ~0u;
	check_bad_config(&cfg, -EINVAL, "cpus UINT_MAX");
	payload_cfg(&cfg);
	cfg.disks = disks;
	cfg.ndisks = VMM_MAX_DISKS + 1;
	check_bad_config(&cfg, -EINVAL, "ndisks 17");
	payload_cfg(&cfg);
	cfg.disks = NULL;
	cfg.ndisks = 1;
	check_bad_config(&cfg, -EINVAL, "ndisks 1, disks NULL");
	payload_cfg(&cfg);
	disks[1].path = NULL;
	cfg.disks = disks;
	cfg.ndisks = 2;
	check_bad_config(&cfg, -EINVAL, "a disk with a NULL path");
	disks[1].path = "/nonexistent/disk.img";
	payload_cfg(&cfg);
	disks[0].serial = "123456789012345678901"; /* 21 bytes */
	cfg.disks = disks;
	cfg.ndisks = 1;
	check_bad_config(&cfg, -EINVAL, "a disk serial of 21 bytes");
	disks[0].serial = NULL;
	payload_cfg(&cfg);
	cfg.nets = nets;
	cfg.nnets = VMM_MAX_NICS + 1;
	check_bad_config(&cfg, -EINVAL, "nnets 9");
	payload_cfg(&cfg);
	cfg.nets = NULL;
	cfg.nnets = 1;
	check_bad_config(&cfg, -EINVAL, "nnets 1, nets NULL");
	payload_cfg(&cfg);
	nets[0].tap = NULL;
	cfg.nets = nets;
	cfg.nnets = 1;
	check_bad_config(&cfg, -EINVAL, "a NIC with a NULL tap");
	payload_cfg(&cfg);
	nets[0].tap = "0123456789abcdef"; /* 16 characters */
	cfg.nets = nets;
	cfg.nnets = 1;
	check_bad_config(&cfg, -EINVAL, "a tap name of 16 characters");
	payload_cfg(&cfg);
	nets[0].tap = "vmmtest0";
	nets[0].queue_pairs = 9;
	cfg.nets = nets;
	cfg.nnets = 1;
	check_bad_config(&cfg, -EINVAL, "9 queue pairs");
	nets[0].queue_pairs = 0;
	payload_cfg(&cfg);
	nets[0].tap = NULL;
	nets[0].backend = VMM_NET_STREAM;
	nets[0].path = "/nonexistent.sock";
	nets[0].vhost = 1;
	cfg.nets = nets;
	cfg.nnets = 1;
	check_bad_config(&cfg, -EINVAL, "vhost-net on a stream NIC");
	nets[0] = (struct vmm_net){ .tap = "vmmtest0" };
}

static void null_args(void)
{
	struct vmm_config cfg;
	struct vmm *vm = (struct vmm *)&cfg;

	vmm_config_init(NULL); /* must not crash */
	payload_cfg(&cfg);
	CHECK_EQ(vmm_create(NULL, &vm), -EINVAL);
	CHECK_EQ(vmm_create(&cfg, NULL), -EINVAL);
	check_bad_handle(NULL, "a NULL handle");

	/* Strings for every value and for values out of range. */
	for (int r = VMM_EXIT_NONE; r <= VMM_EXIT_DEBUG + 1; r++)
		CHECK(vmm_exit_reason_str((enum vmm_exit_reason)r) != NULL);
	for (int e = VMM_EVENT_RUNNING; e <= VMM_EVENT_DEVICE_ERROR + 1; e++)
		CHECK(vmm_event_str((enum vmm_event)e) != NULL);
	CHECK(vmm_exit_reason_str((enum vmm_exit_reason)-1) != NULL);
	CHECK(vmm_event_str((enum vmm_event)1000) != NULL);
	CHECK(vmm_version() != NULL && vmm_version()[0] != '\0');
}

static void fake_handles(void)
{
	/* Filled with a pattern: a library that reads it would find nothing sensible. */
	struct {
		unsigned char junk[8192];
	} fake;

	memset(&fake, 0xa5, sizeof(fake));
	check_bad_handle((struct vmm *)&fake, "the address of a local struct");
	check_bad_handle((struct vmm *)(uintptr_t)8, "the pointer 0x8");
	check_bad_handle((struct vmm *)(uintptr_t)0xdead0000ul, "the pointer 0xdead0000");
	check_bad_handle((struct vmm *)(uintptr_t)~(uintptr_t)0xf, "the pointer ~0xf");
	for (size_t i = 0; i < sizeof(fake.junk); i++)
		if (fake.junk[i] != 0xa5) {
			fprintf(stderr, "FAIL: the library wrote into a fake handle at offset %zu\n", i);
			api_failures++;
			break;
		}
}

static void wrong_states(void)
{
	struct vmm_config cfg;
	struct capture con;
	struct logs logs;
	struct vmm *vm, *idle;
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	uint32_t value = 777;
	int ret;

	capture_init(&con);
	logs_init(&logs);
	api_payload_config(&cfg, payload, "payload=hang", 1, &con, NULL, &logs);
	cfg.debug_exit_port = 0xf4;

	/* A kernel that does not exist: an error and exactly one message. */
	cfg.kernel = "/nonexistent/vmlinuz";
	vm = (struct vmm *)&cfg;
	ret = vmm_create(&cfg, &vm);
	CHECK(ret < 0);
	CHECK(vm == NULL);
	CHECK_EQ(logs.errors, 1);
	printf("ok: a missing kernel -> %d (%s): %s\n", ret, strerror(-ret), logs.last);
	logs_reset(&logs);
	cfg.kernel = payload;

	ret = vmm_create(&cfg, &vm);
	REQUIRE(ret == 0 && vm != NULL);

	/* Before vmm_start(). */
	CHECK_EQ(vmm_pause(vm), -EINVAL);
	CHECK_EQ(vmm_resume(vm), -EINVAL);
	CHECK_EQ(vmm_wait(vm, 0, &why), -EINVAL);
	CHECK_EQ(vmm_wait(vm, -1, &why), -EINVAL); /* must not block */
	CHECK_EQ(vmm_request_stop(vm, 0), -EINVAL);
	CHECK_EQ(vmm_request_stop(vm, 1000), -EINVAL);
	CHECK_EQ(vmm_guest_exit_value(vm, &value), -EINVAL);
	CHECK_EQ(value, 777);
	CHECK_EQ(vmm_guest_exit_value(vm, NULL), -EINVAL);
	CHECK_EQ(vmm_console_input(vm, NULL, 1), -EINVAL);

	CHECK_EQ(vmm_start(vm), 0);
	CHECK(capture_wait(&con, "payload: spinning forever", 30000));

	/* Running. */
	CHECK_EQ(vmm_start(vm), -EINVAL);
	CHECK_EQ(vmm_resume(vm), -EINVAL);
	CHECK_EQ(vmm_wait(vm, 0, &why), -ETIMEDOUT);
	CHECK_EQ(vmm_wait(vm, 50, &why), -ETIMEDOUT);
	CHECK_EQ(why, VMM_EXIT_NONE);
	CHECK_EQ(vmm_guest_exit_value(vm, &value), -EINVAL);
	CHECK_EQ(vmm_guest_exit_value(vm, NULL), -EINVAL);
	CHECK_EQ(vmm_console_input(vm, NULL, 1), -EINVAL);
	CHECK_EQ(vmm_console_input(vm, "", 0), 0);

	/* Paused. */
	CHECK_EQ(vmm_pause(vm), 0);
	CHECK_EQ(vmm_pause(vm), -EINVAL);
	CHECK_EQ(vmm_start(vm), -EINVAL);
	CHECK_EQ(vmm_wait(vm, 20, &why), -ETIMEDOUT);
	CHECK_EQ(vmm_resume(vm), 0);
	CHECK_EQ(vmm_resume(vm), -EINVAL);

	/* Stopped. */
	CHECK_EQ(vmm_request_stop(vm, 0), 0);
	CHECK_EQ(vmm_wait(vm, 10000, &why), 0);
	CHECK_EQ(why, VMM_EXIT_STOPPED);
	CHECK_EQ(vmm_wait(vm, -1, &why), 0); /* again: the same answer at once */
	CHECK_EQ(why, VMM_EXIT_STOPPED);
	CHECK_EQ(vmm_guest_exit_value(vm, &value), -EINVAL); /* not a debug exit */
	CHECK_EQ(value, 777);
	CHECK_EQ(vmm_pause(vm), -EINVAL);
	CHECK_EQ(vmm_resume(vm), -EINVAL);
	CHECK_EQ(vmm_start(vm), -EINVAL);

	CHECK_EQ(vmm_destroy(vm), 0);
	check_bad_handle(vm, "a destroyed handle");

	/* Created, never started: destroy works, once. */
	CHECK_EQ(vmm_create(&cfg, &idle), 0);
	CHECK_EQ(vmm_destroy(idle), 0);
	check_bad_handle(idle, "a destroyed, never started handle");
	CHECK_EQ(logs.errors, 0);

	logs_destroy(&logs);
	capture_destroy(&con);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);

	null_args();
	fake_handles();
	config_errors();
	if (!api_have_kvm()) {
		if (api_failures)
			return api_result("api.misuse");
		printf("SKIP: api.misuse: the checks without KVM passed; the state checks need /dev/kvm\n");
		return EXIT_SKIP;
	}
	wrong_states();
	return api_result("api.misuse");
}
