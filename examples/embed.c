// SPDX-License-Identifier: Apache-2.0
/*
 * embed: libvmm in an application, the example to copy.
 *
 *   embed KERNEL INITRD
 *
 * Boots the test guest (tests/guest/: vmmtest=wait_power prints READY, then waits for its ACPI power
 * button), pauses it for a second, resumes it, and asks it to shut down with vmm_request_stop().
 * It shows the three callbacks an application usually wants:
 *   - console: guest output arrives in pieces on a vCPU thread; we cut it into lines and wake the
 *     main thread through a condition variable when a line it waits for shows up;
 *   - event:   state changes (running, paused, powered off, ...);
 *   - log:     left NULL here, so the library's messages go to stderr.
 * Exit status: 0 when every step did what it should, 1 otherwise.
 */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, pthread_condattr_setclock, sleep */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <vmm/vmm.h>

#define READY_TIMEOUT_S 120
#define SHUTDOWN_LINE "vmmtest: power button: shutting down"

/* What the callbacks share with the main thread; every field is under lock. */
struct app {
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* signalled on every complete console line and every event */
	char line[1024];          /* the console line being received */
	size_t line_len;
	unsigned long bytes;      /* console bytes received so far */
	bool ready;               /* the guest printed READY */
	bool shutting_down;       /* the guest printed SHUTDOWN_LINE */
	bool stopped;             /* the VM stopped (powered off, crashed, ...): stop waiting */
	unsigned events[16];      /* how often each enum vmm_event arrived */
};

static void step(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("embed: ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

/* One complete console line (called with app->lock held). */
static void console_line(struct app *app, const char *line)
{
	printf("  guest| %s\n", line);
	if (strcmp(line, "READY") == 0)
		app->ready = true;
	if (strstr(line, SHUTDOWN_LINE))
		app->shutting_down = true;
	pthread_cond_broadcast(&app->cond);
}

/* Console callback: runs on a vCPU thread, so it only copies bytes and signals. */
static void on_console(void *opaque, const uint8_t *buf, size_t len)
{
	struct app *app = opaque;

	pthread_mutex_lock(&app->lock);
	app->bytes += len;
	for (size_t i = 0; i < len; i++) {
		char c = (char)buf[i];

		if (c == '\r')
			continue;
		if (c == '\n' || app->line_len == sizeof(app->line) - 1) {
			app->line[app->line_len] = '\0';
			console_line(app, app->line);
			app->line_len = 0;
			if (c == '\n')
				continue;
		}
		app->line[app->line_len++] = c;
	}
	pthread_mutex_unlock(&app->lock);
}

/* Event callback: count and print every state change. */
static void on_event(void *opaque, struct vmm *vm, enum vmm_event ev)
{
	struct app *app = opaque;

	(void)vm;
	printf("  event: %s\n", vmm_event_str(ev));
	pthread_mutex_lock(&app->lock);
	if ((unsigned)ev < sizeof(app->events) / sizeof(app->events[0]))
		app->events[ev]++;
	if (ev != VMM_EVENT_RUNNING && ev != VMM_EVENT_PAUSED && ev != VMM_EVENT_DEVICE_ERROR)
		app->stopped = true;
	pthread_cond_broadcast(&app->cond);
	pthread_mutex_unlock(&app->lock);
}

/* Wait until *flag is true, the VM stops or timeout_s elapses; returns the flag. */
static bool wait_for(struct app *app, const bool *flag, int timeout_s)
{
	struct timespec until;
	bool ok;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += timeout_s;
	pthread_mutex_lock(&app->lock);
	while (!*flag && !app->stopped && pthread_cond_timedwait(&app->cond, &app->lock, &until) != ETIMEDOUT)
		;
	ok = *flag;
	pthread_mutex_unlock(&app->lock);
	return ok;
}

static unsigned long console_bytes(struct app *app)
{
	unsigned long n;

	pthread_mutex_lock(&app->lock);
	n = app->bytes;
	pthread_mutex_unlock(&app->lock);
	return n;
}

static unsigned event_count(struct app *app, enum vmm_event ev)
{
	unsigned n;

	pthread_mutex_lock(&app->lock);
	n = app->events[ev];
	pthread_mutex_unlock(&app->lock);
	return n;
}

static int fail(const char *what)
{
	step("FAIL: %s", what);
	return 1;
}

/* The steps; any failure returns 1 and main() destroys the VM. */
static int run(struct vmm *vm, struct app *app)
{
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	unsigned long before;
	int ret;

	step("starting the guest");
	ret = vmm_start(vm);
	if (ret) {
		step("vmm_start: %s", strerror(-ret));
		return 1;
	}
	if (event_count(app, VMM_EVENT_RUNNING) != 1)
		return fail("no 'running' event after vmm_start()");

	step("waiting up to %d s for READY", READY_TIMEOUT_S);
	if (!wait_for(app, &app->ready, READY_TIMEOUT_S))
		return fail("the guest did not print READY");

	step("pausing for 1 s");
	ret = vmm_pause(vm);
	if (ret) {
		step("vmm_pause: %s", strerror(-ret));
		return 1;
	}
	/* vmm_pause() returns once no vCPU runs: from here on the guest cannot write a byte. */
	before = console_bytes(app);
	sleep(1);
	if (event_count(app, VMM_EVENT_PAUSED) != 1)
		return fail("no 'paused' event after vmm_pause()");
	if (console_bytes(app) != before)
		return fail("console output arrived while the VM was paused");
	if (vmm_wait(vm, 0, &why) != -ETIMEDOUT)
		return fail("vmm_wait() says a paused VM has stopped");

	step("resuming");
	ret = vmm_resume(vm);
	if (ret) {
		step("vmm_resume: %s", strerror(-ret));
		return 1;
	}
	if (event_count(app, VMM_EVENT_RUNNING) != 2)
		return fail("no 'running' event after vmm_resume()");

	step("pressing the power button (vmm_request_stop, 30 s grace)");
	ret = vmm_request_stop(vm, 30000);
	if (ret) {
		step("vmm_request_stop: %s", strerror(-ret));
		return 1;
	}
	ret = vmm_wait(vm, 60000, &why);
	if (ret) {
		step("vmm_wait: %s", strerror(-ret));
		return 1;
	}
	step("the VM stopped: %s", vmm_exit_reason_str(why));
	if (why != VMM_EXIT_POWEROFF)
		return fail("the guest did not power itself off");
	if (!wait_for(app, &app->shutting_down, 0))
		return fail("the guest's shutdown line '" SHUTDOWN_LINE "' is missing");
	return 0;
}

int main(int argc, char **argv)
{
	struct app app = { .lock = PTHREAD_MUTEX_INITIALIZER };
	pthread_condattr_t attr;
	struct vmm_config cfg;
	struct vmm *vm = NULL;
	int ret, rc;

	if (argc != 3) {
		fprintf(stderr, "usage: %s KERNEL INITRD\n", argv[0]);
		return 1;
	}
	/* The condition variable counts in CLOCK_MONOTONIC, like the deadlines in wait_for(). */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&app.cond, &attr);
	pthread_condattr_destroy(&attr);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("embed: libvmm %s\n", vmm_version());

	vmm_config_init(&cfg);
	cfg.kernel = argv[1];
	cfg.initrd = argv[2];
	cfg.cmdline = "console=ttyS0 quiet panic=-1 vmmtest=wait_power";
	cfg.mem_bytes = 256ull << 20;
	cfg.cpus = 1;
	cfg.console_out = on_console;
	cfg.console_opaque = &app;
	cfg.event = on_event;
	cfg.event_opaque = &app;

	step("creating a VM (256 MiB, 1 vCPU)");
	ret = vmm_create(&cfg, &vm);
	if (ret) {
		step("vmm_create: %s", strerror(-ret)); /* the library logged why on stderr */
		return 1;
	}
	rc = run(vm, &app);
	vmm_destroy(vm); /* stops the VM if it still runs */
	pthread_cond_destroy(&app.cond);
	step("%s", rc ? "FAILED" : "all steps passed");
	return rc;
}
