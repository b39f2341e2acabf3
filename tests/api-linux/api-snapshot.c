// SPDX-License-Identifier: Apache-2.0
/*
 * api-snapshot KERNEL INITRD: snapshot and restore through the library.
 *
 * The guest runs vmmtest=snapshot (tests/guest/init: a counter in memory, a file on tmpfs, then a
 * write to port 0x624). The VMM_EVENT_SNAPSHOT_REQUEST event must arrive; vmm_snapshot() on the running
 * VM is -EINVAL; paused, it saves into a temporary directory. Then two VMs are restored from it in
 * this one process, the second while the first runs: each gets its own command through
 * vmm_console_input(), must print its own output, the counter 42 and PASS, and power off; neither sees
 * the other's output. vmm_restore() of a missing directory is -ENOENT with *out NULL. Needs a /dev/kvm
 * that runs stock kernels: the Linux case "api-snapshot" (tests/integration/cases/linux.sh). Exit 0
 * pass, 1 fail.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmm/vmm.h>

struct capture {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char buf[1 << 16];
	size_t len;
	bool snapshot_asked;
};

static void on_out(void *opaque, const uint8_t *buf, size_t len)
{
	struct capture *c = opaque;

	pthread_mutex_lock(&c->lock);
	if (len > sizeof(c->buf) - 1 - c->len)
		len = sizeof(c->buf) - 1 - c->len;
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = 0;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

static void on_event(void *opaque, struct vmm *vm, enum vmm_event ev)
{
	struct capture *c = opaque;

	(void)vm;
	if (ev != VMM_EVENT_SNAPSHOT_REQUEST)
		return;
	pthread_mutex_lock(&c->lock);
	c->snapshot_asked = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Wait up to secs for needle in c's output (or, needle NULL, for the snapshot request). */
static bool wait_for(struct capture *c, const char *needle, int secs)
{
	struct timespec dl;
	bool found;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += secs;
	pthread_mutex_lock(&c->lock);
	while (!(found = needle ? strstr(c->buf, needle) != NULL : c->snapshot_asked))
		if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->lock);
	return found;
}

static struct capture *capture_new(void)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (c) {
		pthread_mutex_init(&c->lock, NULL);
		pthread_cond_init(&c->cond, NULL);
	}
	return c;
}

static int failures;

static void check(bool ok, const char *what, const struct capture *c)
{
	if (ok)
		return;
	fprintf(stderr, "FAIL: %s\n", what);
	if (c)
		fprintf(stderr, "--- its console:\n%s\n---\n", c->buf);
	failures++;
}

int main(int argc, char **argv)
{
	char dir[] = "/tmp/api-snapshot.XXXXXX";
	struct capture *first = capture_new(), *a = capture_new(), *b = capture_new();
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	struct vmm_config cfg;
	struct vmm *vm, *va = NULL, *vb = NULL;
	int ret;

	if (argc != 3 || !first || !a || !b || !mkdtemp(dir)) {
		fprintf(stderr, "usage: api-snapshot KERNEL INITRD\n");
		return 1;
	}
	vmm_config_init(&cfg);
	cfg.kernel = argv[1];
	cfg.initrd = argv[2];
	cfg.mem_bytes = 256ull << 20;
	cfg.cmdline = "console=ttyS0 reboot=k panic=-1 quiet vmmtest=snapshot vmmtest.timeout=900";
	cfg.timeout_ms = 300000;
	cfg.console_out = on_out;
	cfg.console_opaque = first;
	cfg.event = on_event;
	cfg.event_opaque = first;
	cfg.log_level = VMM_LOG_WARN;
	if (vmm_create(&cfg, &vm) || vmm_start(vm)) {
		fprintf(stderr, "FAIL: cannot create or start the VM\n");
		return 1;
	}
	check(wait_for(first, NULL, 200), "no VMM_EVENT_SNAPSHOT_REQUEST within 200 s", first);
	check(vmm_snapshot(vm, dir) == -EINVAL, "vmm_snapshot() of a running VM is not -EINVAL", NULL);
	ret = vmm_pause(vm);
	check(ret == 0, "vmm_pause() failed", NULL);
	ret = vmm_snapshot(vm, dir);
	check(ret == 0, "vmm_snapshot() of the paused VM failed", NULL);
	vmm_request_stop(vm, 0);
	vmm_wait(vm, -1, &why);
	vmm_destroy(vm);
	if (ret) {
		printf("FAIL\n");
		free(first);
		free(a);
		free(b);
		return 1;
	}

	/* Two VMs from one snapshot, the second restored while the first runs. */
	cfg.kernel = cfg.initrd = cfg.cmdline = NULL;
	cfg.mem_bytes = 0;
	cfg.cpus = 0;
	cfg.event = NULL;
	cfg.console_opaque = a;
	ret = vmm_restore(&cfg, dir, &va);
	check(ret == 0 && va, "vmm_restore() (first) failed", NULL);
	if (va)
		check(vmm_start(va) == 0, "vmm_start() of the first restored VM failed", NULL);
	cfg.console_opaque = b;
	ret = vmm_restore(&cfg, dir, &vb);
	check(ret == 0 && vb, "vmm_restore() (second, while the first runs) failed", NULL);
	if (vb)
		check(vmm_start(vb) == 0, "vmm_start() of the second restored VM failed", NULL);
	if (va)
		vmm_console_input(va, "echo from-A\n", 12);
	if (vb)
		vmm_console_input(vb, "echo from-B\n", 12);
	check(wait_for(a, "VMMTEST-RESULT snapshot", 120), "the first restored VM printed no result", a);
	check(wait_for(b, "VMMTEST-RESULT snapshot", 120), "the second restored VM printed no result", b);
	for (int i = 0; i < 2; i++) {
		struct vmm *v = i ? vb : va;
		struct capture *c = i ? b : a;

		if (!v)
			continue;
		why = VMM_EXIT_NONE;
		if (vmm_wait(v, 60000, &why) || why != VMM_EXIT_POWEROFF) {
			check(false, i ? "the second VM did not power off" : "the first VM did not power off", c);
			vmm_request_stop(v, 0);
			vmm_wait(v, -1, &why);
		}
		vmm_destroy(v);
	}
	check(strstr(a->buf, "VMMTEST-RESULT snapshot PASS") != NULL, "the first restored VM did not PASS", a);
	check(strstr(b->buf, "VMMTEST-RESULT snapshot PASS") != NULL, "the second restored VM did not PASS", b);
	check(strstr(a->buf, "SNAP-CMD-OUT from-A") && !strstr(a->buf, "from-B"), "the first VM's output is not its own", a);
	check(strstr(b->buf, "SNAP-CMD-OUT from-B") && !strstr(b->buf, "from-A"), "the second VM's output is not its own", b);
	check(strstr(a->buf, "SNAP-COUNT 42") && strstr(b->buf, "SNAP-COUNT 42"), "a counter is not 42", NULL);

	va = (struct vmm *)&failures; /* not a handle: must be set to NULL */
	check(vmm_restore(&cfg, "/nonexistent/snapshot", &va) == -ENOENT && va == NULL,
	      "vmm_restore() of a missing directory is not -ENOENT with *out NULL", NULL);

	printf("--- first VM:\n%s\n--- restored A:\n%s\n--- restored B:\n%s\n", first->buf, a->buf, b->buf);
	{
		char path[64];

		snprintf(path, sizeof(path), "%s/state", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/memory", dir);
		unlink(path);
		rmdir(dir);
	}
	printf("%s\n", failures ? "FAIL" : "PASS: snapshot, and two VMs restored from it at once");
	free(first);
	free(a);
	free(b);
	return failures ? 1 : 0;
}
