// SPDX-License-Identifier: Apache-2.0
/*
 * api.pause-stops-vcpus: payload=count prints "payload: count N" about every 100 ms of busy work;
 * while the VM is paused for 1 s the console gets not one byte, and after vmm_resume() the count
 * goes on from where it stopped (no line lost or repeated). With 1 and 2 vCPUs (the second one
 * sits in KVM_RUN waiting for a start-up IPI and must park too).
 * Usage: api_pause_stops_vcpus PAYLOAD_ELF
 */
#include <errno.h>
#include <string.h>

#include "common.h"

static const char *payload;

/* The highest N of the complete "payload: count N\r\n" lines, -1 when none; checks they are 0, 1, 2, ... */
static long last_count(struct capture *c, bool *in_order)
{
	char *text = capture_text(c), *p = text;
	long last = -1;

	*in_order = true;
	while ((p = strstr(p, "payload: count ")) != NULL) {
		char *end;
		long n = strtol(p + 15, &end, 10);

		if (strncmp(end, "\r\n", 2) != 0)
			break; /* an incomplete last line */
		if (n != last + 1)
			*in_order = false;
		last = n;
		p = end;
	}
	free(text);
	return last;
}

static void run(unsigned cpus, int pauses)
{
	struct vmm_config cfg;
	struct capture con;
	struct events ev;
	struct vmm *vm;
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	bool in_order;
	long n;

	capture_init(&con);
	events_init(&ev);
	api_payload_config(&cfg, payload, "payload=count", cpus, &con, &ev, NULL);
	cfg.log_level = VMM_LOG_WARN;
	REQUIRE(vmm_create(&cfg, &vm) == 0);
	CHECK_EQ(vmm_start(vm), 0);
	CHECK(capture_wait(&con, "payload: count 3\r\n", 30000));

	for (int i = 0; i < pauses; i++) {
		size_t before, after;
		int64_t t0;

		CHECK_EQ(vmm_pause(vm), 0);
		before = capture_len(&con);
		n = last_count(&con, &in_order);
		t0 = api_now_ms();
		api_sleep_ms(1000);
		after = capture_len(&con);
		printf("%u vCPU(s), pause %d: count %ld, %zu bytes before and %zu after 1 s paused\n", cpus, i + 1, n,
		       before, after);
		if (after != before) {
			fprintf(stderr, "FAIL: %zu console byte(s) arrived while the VM was paused\n", after - before);
			api_failures++;
		}
		CHECK_EQ(vmm_wait(vm, 0, &why), -ETIMEDOUT); /* paused, not stopped */
		CHECK(api_now_ms() - t0 >= 1000);
		CHECK_EQ(vmm_resume(vm), 0);
		/* About 100 ms per line: two more lines well within 10 s. */
		{
			char want[64];

			snprintf(want, sizeof(want), "payload: count %ld\r\n", n + 2);
			CHECK(capture_wait(&con, want, 10000));
		}
	}
	n = last_count(&con, &in_order);
	CHECK(in_order);
	CHECK_EQ(vmm_request_stop(vm, 0), 0);
	CHECK_EQ(vmm_wait(vm, 10000, &why), 0);
	CHECK_EQ(why, VMM_EXIT_STOPPED);
	printf("%u vCPU(s): the guest counted to %ld, every line in order: %s\n", cpus, n, in_order ? "yes" : "no");
	CHECK_EQ(vmm_destroy(vm), 0);
	events_destroy(&ev);
	capture_destroy(&con);
}

int main(int argc, char **argv)
{
	REQUIRE(argc == 2);
	payload = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.pause-stops-vcpus");
	run(1, 1);
	run(2, 2);
	return api_result("api.pause-stops-vcpus");
}
