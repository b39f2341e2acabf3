// SPDX-License-Identifier: Apache-2.0
/*
 * api-pause-clock KERNEL INITRD: vmm_pause() holds guest time still.
 *
 * The guest (tests/guest/init, vmmtest=clock) prints "CLOCK <seconds since boot>" every 0.2 s. After a
 * few lines we pause the VM for 3 s and resume it: no CLOCK line may arrive while paused, and the
 * guest's uptime must advance by less than 1.5 s across the pause (kvm-clock is set back with
 * KVM_SET_CLOCK on resume, arm64's virtual counter through KVM_REG_ARM_TIMER_CNT; without that it would
 * jump by the 3 s). Then the power button stops it (ACPI's on x86, the virtio-input power key on arm64).
 * Needs a /dev/kvm that runs stock kernels: it runs as the Linux case "api-pause"
 * (tests/integration/cases/linux.sh). Exit 0 pass, 1 fail, 77 skip (no /dev/kvm).
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

#define PAUSE_S 3
#define MAX_ADVANCE_S 1.5
#define LINES_BEFORE 5  /* CLOCK lines to see before the pause */
#define LINES_AFTER 3   /* and after it */
#define BOOT_TIMEOUT_S 120
#define MAX_CLOCKS 4096

struct clocks {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char line[256];
	size_t len;
	double uptime[MAX_CLOCKS]; /* every CLOCK value, in arrival order */
	unsigned n;
	bool shutdown_line;
	bool stopped; /* the VM stopped: stop waiting */
};

static void on_line(struct clocks *c, const char *line)
{
	double v;

	if (sscanf(line, "CLOCK %lf", &v) == 1 && c->n < MAX_CLOCKS)
		c->uptime[c->n++] = v;
	if (strstr(line, "vmmtest: power button: shutting down"))
		c->shutdown_line = true;
	if (strncmp(line, "CLOCK ", 6) != 0)
		printf("guest| %s\n", line);
	pthread_cond_broadcast(&c->cond);
}

static void on_console(void *opaque, const uint8_t *buf, size_t len)
{
	struct clocks *c = opaque;

	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r')
			continue;
		if (buf[i] == '\n' || c->len == sizeof(c->line) - 1) {
			c->line[c->len] = '\0';
			on_line(c, c->line);
			c->len = 0;
			if (buf[i] == '\n')
				continue;
		}
		c->line[c->len++] = (char)buf[i];
	}
	pthread_mutex_unlock(&c->lock);
}

static void on_event(void *opaque, struct vmm *vm, enum vmm_event ev)
{
	struct clocks *c = opaque;

	(void)vm;
	printf("event: %s\n", vmm_event_str(ev));
	if (ev == VMM_EVENT_RUNNING || ev == VMM_EVENT_PAUSED || ev == VMM_EVENT_DEVICE_ERROR)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopped = true;
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
}

/* Wait until at least n CLOCK lines arrived; false when the VM stops first or after timeout_s. */
static bool wait_clocks(struct clocks *c, unsigned n, int timeout_s)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_s;
	pthread_mutex_lock(&c->lock);
	while (c->n < n && !c->stopped && pthread_cond_timedwait(&c->cond, &c->lock, &until) != ETIMEDOUT)
		;
	ok = c->n >= n;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

static unsigned clock_count(struct clocks *c)
{
	unsigned n;

	pthread_mutex_lock(&c->lock);
	n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

static double host_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int check(struct vmm *vm, struct clocks *c)
{
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	unsigned n_paused, n_after;
	double before, after, host_pause, t0;
	bool shutdown_line;
	int ret;

	if (!wait_clocks(c, LINES_BEFORE, BOOT_TIMEOUT_S)) {
		printf("FAIL: only %u CLOCK lines within %d s\n", clock_count(c), BOOT_TIMEOUT_S);
		return 1;
	}
	t0 = host_now();
	ret = vmm_pause(vm);
	if (ret) {
		printf("FAIL: vmm_pause: %s\n", strerror(-ret));
		return 1;
	}
	n_paused = clock_count(c);
	sleep(PAUSE_S);
	n_after = clock_count(c);
	ret = vmm_resume(vm);
	host_pause = host_now() - t0;
	if (ret) {
		printf("FAIL: vmm_resume: %s\n", strerror(-ret));
		return 1;
	}
	if (n_after != n_paused) {
		printf("FAIL: %u CLOCK line(s) arrived while the VM was paused\n", n_after - n_paused);
		return 1;
	}
	if (!wait_clocks(c, n_paused + LINES_AFTER, 30)) {
		printf("FAIL: fewer than %d CLOCK lines within 30 s after vmm_resume()\n", LINES_AFTER);
		return 1;
	}
	pthread_mutex_lock(&c->lock);
	before = c->uptime[n_paused - 1];
	after = c->uptime[n_paused];
	for (unsigned i = 1; i < c->n; i++) {
		if (c->uptime[i] < c->uptime[i - 1]) {
			printf("FAIL: guest uptime went backwards: %.2f after %.2f\n", c->uptime[i], c->uptime[i - 1]);
			pthread_mutex_unlock(&c->lock);
			return 1;
		}
	}
	pthread_mutex_unlock(&c->lock);
	printf("paused %.2f s (host); guest uptime %.2f s before the pause, %.2f s after: advanced %.2f s "
	       "(limit %.1f s)\n", host_pause, before, after, after - before, MAX_ADVANCE_S);
	if (after - before >= MAX_ADVANCE_S) {
		printf("FAIL: guest time advanced %.2f s across a %.2f s pause\n", after - before, host_pause);
		return 1;
	}

	ret = vmm_request_stop(vm, 30000);
	if (ret == 0)
		ret = vmm_wait(vm, 60000, &why);
	if (ret) {
		printf("FAIL: stopping the VM: %s\n", strerror(-ret));
		return 1;
	}
	printf("the VM stopped: %s\n", vmm_exit_reason_str(why));
	pthread_mutex_lock(&c->lock);
	shutdown_line = c->shutdown_line;
	pthread_mutex_unlock(&c->lock);
	if (why != VMM_EXIT_POWEROFF || !shutdown_line) {
		printf("FAIL: the power button did not shut the guest down\n");
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct clocks c = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_condattr_t attr;
	struct vmm_config cfg;
	struct vmm *vm;
	int ret, rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s KERNEL INITRD\n", argv[0]);
		return 1;
	}
	if (access("/dev/kvm", R_OK | W_OK) != 0) {
		printf("SKIP: no usable /dev/kvm\n");
		return 77;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&c.cond, &attr);
	pthread_condattr_destroy(&attr);

	vmm_config_init(&cfg);
	cfg.kernel = argv[1];
	cfg.initrd = argv[2];
	cfg.cmdline = "console=ttyS0 quiet panic=-1 vmmtest=clock vmmtest.timeout=300";
	cfg.mem_bytes = 256ull << 20;
	cfg.timeout_ms = 300000; /* a safety net: the checks need far less */
	cfg.console_out = on_console;
	cfg.console_opaque = &c;
	cfg.event = on_event;
	cfg.event_opaque = &c;

	ret = vmm_create(&cfg, &vm);
	if (ret) {
		printf("FAIL: vmm_create: %s\n", strerror(-ret));
		return 1;
	}
	ret = vmm_start(vm);
	if (ret) {
		printf("FAIL: vmm_start: %s\n", strerror(-ret));
		vmm_destroy(vm);
		return 1;
	}
	rc = check(vm, &c);
	vmm_destroy(vm);
	printf("%s: %u CLOCK lines\n", rc ? "FAIL" : "PASS", c.n);
	return rc;
}
