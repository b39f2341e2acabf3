// SPDX-License-Identifier: Apache-2.0
/*
 * api-hvc KERNEL INITRD: the virtio console through the library's callbacks.
 *
 * The guest runs with console=hvc0 (its /init loads virtio_console and takes /dev/hvc0 as its
 * console) and vmmtest=console-input: it prints READY-FOR-INPUT and waits for a line. Everything it
 * prints must arrive through the hvc_out callback (the UART's callback gets no byte of it), the line
 * we send with vmm_hvc_input() must come back as "GOT-INPUT:<line>", and the guest powers off.
 * vmm_hvc_input() on a VM without hvc is -EINVAL. It asks for seccomp filters (VMM_SECCOMP_KILL):
 * while the guest runs, every thread the library started ("vmm-...") has one and this program's own
 * thread has none. Needs a /dev/kvm that runs stock kernels: it runs
 * as the Linux case "api-hvc" (tests/integration/cases/linux.sh). Exit 0 pass, 1 fail.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <vmm/vmm.h>

#define LINE "echo-from-api 44"

/*
 * The seccomp mode (/proc: 0 none, 2 filter) of each thread of this process: the library's ("vmm-*")
 * must all be 2, ours 0. Returns the number of failures.
 */
static int check_filters(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int lib = 0, bad = 0;

	if (!d) {
		fprintf(stderr, "FAIL: cannot list /proc/self/task\n");
		return 1;
	}
	while ((e = readdir(d))) {
		char path[300], comm[32] = "", line[128];
		int mode = -1;
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		while (fgets(line, sizeof(line), f)) {
			if (!strncmp(line, "Name:", 5))
				sscanf(line + 5, "%31s", comm);
			else if (!strncmp(line, "Seccomp:", 8))
				mode = atoi(line + 8);
		}
		fclose(f);
		printf("thread %s (%s): seccomp mode %d\n", e->d_name, comm, mode);
		if (!strncmp(comm, "vmm-", 4)) {
			lib++;
			bad += mode != 2;
		} else {
			bad += mode != 0;
		}
	}
	closedir(d);
	if (bad)
		fprintf(stderr, "FAIL: %d thread(s) with the wrong seccomp mode (the library's need a filter, ours none)\n", bad);
	if (lib < 3) {
		fprintf(stderr, "FAIL: only %d library threads (vmm-*) found; expected its vCPU, I/O and supervisor threads\n", lib);
		bad++;
	}
	return bad;
}

struct capture {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	char buf[1 << 16];
	size_t len;
	size_t uart_bytes;
};

static void on_hvc(void *opaque, const uint8_t *buf, size_t len)
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

static void on_uart(void *opaque, const uint8_t *buf, size_t len)
{
	struct capture *c = opaque;

	(void)buf;
	pthread_mutex_lock(&c->lock);
	c->uart_bytes += len;
	pthread_mutex_unlock(&c->lock);
}

/* Wait up to secs for needle in the hvc output. */
static bool wait_for(struct capture *c, const char *needle, int secs)
{
	struct timespec dl;
	bool found;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += secs;
	pthread_mutex_lock(&c->lock);
	while (!(found = strstr(c->buf, needle) != NULL))
		if (pthread_cond_timedwait(&c->cond, &c->lock, &dl) == ETIMEDOUT)
			break;
	pthread_mutex_unlock(&c->lock);
	return found;
}

int main(int argc, char **argv)
{
	static struct capture cap = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };
	enum vmm_exit_reason why = VMM_EXIT_NONE;
	struct vmm_config cfg;
	struct vmm *vm;
	int failures = 0, ret;

	if (argc != 3) {
		fprintf(stderr, "usage: api-hvc KERNEL INITRD\n");
		return 1;
	}
	vmm_config_init(&cfg);
	cfg.kernel = argv[1];
	cfg.initrd = argv[2];
	cfg.mem_bytes = 256ull << 20;
	cfg.cmdline = "console=hvc0 reboot=k panic=-1 quiet vmmtest=console-input";
	cfg.timeout_ms = 120000;
	cfg.console_out = on_uart;
	cfg.console_opaque = &cap;
	cfg.hvc = 1;
	cfg.hvc_out = on_hvc;
	cfg.hvc_opaque = &cap;
	cfg.log_level = VMM_LOG_WARN;
	cfg.seccomp = VMM_SECCOMP_KILL;
	if (vmm_create(&cfg, &vm) || vmm_start(vm)) {
		fprintf(stderr, "FAIL: cannot create or start the VM\n");
		return 1;
	}
	if (!wait_for(&cap, "READY-FOR-INPUT", 100)) {
		fprintf(stderr, "FAIL: no READY-FOR-INPUT on hvc0 within 100 s\n");
		failures++;
	}
	failures += check_filters();
	ret = vmm_hvc_input(vm, LINE "\n", strlen(LINE) + 1);
	if (ret != (int)strlen(LINE) + 1) {
		fprintf(stderr, "FAIL: vmm_hvc_input() took %d bytes, expected %zu\n", ret, strlen(LINE) + 1);
		failures++;
	}
	if (!wait_for(&cap, "GOT-INPUT:" LINE, 60)) {
		fprintf(stderr, "FAIL: the guest did not get the line sent with vmm_hvc_input()\n");
		failures++;
	}
	if (vmm_wait(vm, 60000, &why) || why != VMM_EXIT_POWEROFF) {
		fprintf(stderr, "FAIL: the guest did not power off (reason %s)\n", vmm_exit_reason_str(why));
		failures++;
		vmm_request_stop(vm, 0);
		vmm_wait(vm, -1, &why);
	}
	/* The stop comes after the console's output: the result line is there by now. */
	if (!strstr(cap.buf, "VMMTEST-RESULT console-input PASS")) {
		fprintf(stderr, "FAIL: no PASS result line on hvc0\n");
		failures++;
	}
	if (cap.uart_bytes) {
		fprintf(stderr, "FAIL: %zu bytes arrived through the UART's callback (console=hvc0)\n", cap.uart_bytes);
		failures++;
	}
	vmm_destroy(vm);
	printf("%s", cap.buf);
	{
		/* A VM without hvc0 refuses hvc input. */
		struct vmm *plain;

		cfg.hvc = 0;
		if (vmm_create(&cfg, &plain) == 0) {
			if (vmm_hvc_input(plain, "x", 1) != -EINVAL) {
				fprintf(stderr, "FAIL: vmm_hvc_input() on a VM without hvc0 is not -EINVAL\n");
				failures++;
			}
			vmm_destroy(plain);
		}
	}
	printf("%s\n", failures ? "FAIL" : "PASS: hvc0 output and input through the callbacks");
	return failures ? 1 : 0;
}
