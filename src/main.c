// SPDX-License-Identifier: Apache-2.0
/* The vmm command: options -> struct vmm_config -> vmm_create/vmm_start/vmm_wait; prints and exits. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <vmm/vmm.h>

#include "cli/options.h"
#include "cli/jail.h"
#include "cli/seccomp_report.h"
#include "seccomp_filter.h"
#include "thread.h"
#include "cli/term.h"

#define EXIT_USAGE 1
#define EXIT_CRASH 2
#define EXIT_TIMEOUT 124
#define CTRL_A 0x01 /* the escape byte on a terminal: Ctrl-A x quits */
#define GRACE_MS 10000 /* how long a guest gets to shut down after the first SIGINT/SIGTERM/SIGHUP */

struct cli {
	struct cli_options opt;
	struct vmm *vm;
	struct vmm_console uart, hvc; /* the consoles' fds, served by the library */
	int in_fd;        /* stdin when a console reads it; -1: none */
	int stop_fd;      /* eventfd: tells the signal thread to finish */
	int sig_fd;       /* signalfd for SIGINT, SIGTERM, SIGHUP, SIGUSR1 */
	int snap_fd;      /* eventfd: the guest asked for a snapshot */
	int guest_paused; /* the event callback paused the VM for the guest's request (atomic) */
	unsigned snap_ignored; /* snapshot requests ignored without --snapshot-dir (signal thread) */
	volatile int exit_signal;
	struct seccomp_set seccomp; /* the filters of this main thread and the signal thread */
};

static void log_cb(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	/* In raw mode the terminal no longer turns \n into \r\n. */
	fprintf(stderr, "vmm: %s%s", msg, term_is_raw() ? "\r\n" : "\n");
}

/* The CLI's own use of library helpers that log (the seccomp filters of its threads). */
static const struct vlog cli_log = { .fn = log_cb, .level = VMM_LOG_WARN };

/* The event callback (a vCPU thread): a guest's snapshot request is taken by the signal thread. */
static void event_cb(void *opaque, struct vmm *vm, enum vmm_event ev)
{
	struct cli *c = opaque;
	uint64_t one = 1;

	if (ev != VMM_EVENT_SNAPSHOT_REQUEST)
		return;
	/*
	 * "Snapshot me here": pause at once, from the requesting vCPU (it parks when this returns), so
	 * the guest goes no further than its port write; the signal thread takes the snapshot.
	 */
	if (c->opt.snapshot_dir && vmm_pause(vm) == 0)
		__atomic_store_n(&c->guest_paused, 1, __ATOMIC_RELEASE);
	if (write(c->snap_fd, &one, sizeof(one)) < 0)
		perror("vmm: eventfd");
}

/* SIGUSR1 or the guest's request: pause, save into --snapshot-dir, then stop (exit 0) or resume. */
static void take_snapshot(struct cli *c, const char *why)
{
	const char *dir = c->opt.snapshot_dir;
	int ret;

	if (!dir) {
		char msg[160];

		/* Once: a guest writing the port in a loop must not flood stderr (direct.hostile-snapshot-requests). */
		if (c->snap_ignored++)
			return;
		snprintf(msg, sizeof(msg), "%s asked for a snapshot, but no --snapshot-dir was given: ignored (and so are later requests)",
			 why);
		log_cb(NULL, VMM_LOG_WARN, msg);
		return;
	}
	/* The guest's request paused it already (event_cb); SIGUSR1 pauses it here. */
	if (!__atomic_exchange_n(&c->guest_paused, 0, __ATOMIC_ACQ_REL) && vmm_pause(c->vm))
		return; /* it is stopping (or paused by someone else) */
	ret = vmm_snapshot(c->vm, dir);
	if (ret == 0 && !c->opt.snapshot_resume) {
		fprintf(stderr, "vmm: snapshot saved in '%s' (asked by %s); the VM is stopped%s", dir, why,
			term_is_raw() ? "\r\n" : "\n");
		vmm_request_stop(c->vm, 0);
		return;
	}
	if (ret == 0)
		fprintf(stderr, "vmm: snapshot saved in '%s' (asked by %s)%s", dir, why, term_is_raw() ? "\r\n" : "\n");
	else
		fprintf(stderr, "vmm: the snapshot failed; the VM runs on%s", term_is_raw() ? "\r\n" : "\n");
	vmm_resume(c->vm);
}


/*
 * SIGINT, SIGTERM, SIGHUP: the first presses the guest's power button, a second one stops it now.
 * SIGUSR1 and the guest's request: a snapshot.
 */
static void *signal_thread(void *arg)
{
	struct cli *c = arg;

	if (seccomp_thread_enter(&c->seccomp, SECCOMP_CLI_SIGNAL, "signals", NULL)) {
		vmm_request_stop(c->vm, 0); /* the line said why; vmm exits 2 */
		return NULL;
	}

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = c->stop_fd, .events = POLLIN },
			{ .fd = c->sig_fd, .events = POLLIN },
			{ .fd = c->snap_fd, .events = POLLIN },
		};
		struct signalfd_siginfo si;
		uint64_t n;

		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[2].revents && read(c->snap_fd, &n, sizeof(n)) == (ssize_t)sizeof(n))
			take_snapshot(c, "the guest");
		if (p[1].revents && read(c->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si) && si.ssi_signo == SIGUSR1) {
			take_snapshot(c, "SIGUSR1");
		} else if (p[1].revents) {
			unsigned grace = c->exit_signal ? 0 : GRACE_MS;

			if (grace)
				log_cb(NULL, VMM_LOG_INFO,
				       "asking the guest to shut down (power button); a second signal stops it at once");
			c->exit_signal = (int)si.ssi_signo;
			vmm_request_stop(c->vm, grace);
		}
	}
	return NULL;
}

static int exit_code(struct cli *c, enum vmm_exit_reason reason)
{
	switch (reason) {
	case VMM_EXIT_POWEROFF:
	case VMM_EXIT_REBOOT:
		if (c->exit_signal) { /* a clean shutdown, but on a signal's request: say so in the status */
			fprintf(stderr, "vmm: the guest shut down after signal %s\n", strsignal(c->exit_signal));
			return 128 + c->exit_signal;
		}
		return 0;
	case VMM_EXIT_TIMEOUT:
		fprintf(stderr, "vmm: timeout of %u s reached; the guest was stopped\n", c->opt.timeout_s);
		return EXIT_TIMEOUT;
	case VMM_EXIT_STOPPED:
		if (c->exit_signal) {
			fprintf(stderr, "vmm: stopped by signal %s\n", strsignal(c->exit_signal));
			return 128 + c->exit_signal;
		}
		return 0;
	case VMM_EXIT_DEBUG: {
		uint32_t v = 0;

		vmm_guest_exit_value(c->vm, &v);
		return (int)(((v << 1) | 1) & 0xff); /* as QEMU's isa-debug-exit */
	}
	case VMM_EXIT_CRASH:
	case VMM_EXIT_ERROR:
	default:
		return EXIT_CRASH;
	}
}

/* One console's output: the terminal, a file (created or truncated), or nowhere. */
static int open_output(enum cli_console mode, const char *path, const char *opt)
{
	int fd;

	switch (mode) {
	case CLI_CONSOLE_STDIO:
		return STDOUT_FILENO;
	case CLI_CONSOLE_FILE:
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0)
			fprintf(stderr, "vmm: cannot open %s file '%s': %s\n", opt, path, strerror(errno));
		return fd < 0 ? -2 : fd;
	case CLI_CONSOLE_NONE:
	default:
		return -1;
	}
}

/*
 * The consoles' fds. stdin goes to the console on stdio; with none on stdio, to the serial port
 * when it writes to a file, else to the virtio console when it does.
 */
static int setup_console(struct cli *c)
{
	const struct cli_options *o = &c->opt;
	struct vmm_console none = { .fds = 1, .in_fd = -1, .out_fd = -1 };
	struct vmm_console *input = NULL;

	c->uart = none;
	c->hvc = none;
	c->uart.out_fd = open_output(o->console, o->console_path, "--console");
	c->hvc.out_fd = open_output(o->hvc, o->hvc_path, "--hvc");
	if (c->uart.out_fd == -2 || c->hvc.out_fd == -2)
		return -1;
	if (o->hvc == CLI_CONSOLE_STDIO)
		input = &c->hvc;
	else if (o->console != CLI_CONSOLE_NONE)
		input = &c->uart;
	else if (o->hvc == CLI_CONSOLE_FILE)
		input = &c->hvc;
	/* stdin closed: no input. */
	c->in_fd = input && fcntl(STDIN_FILENO, F_GETFD) >= 0 ? STDIN_FILENO : -1;
	if (input)
		input->in_fd = c->in_fd;
	return 0;
}

/* CLOCK_MONOTONIC in ns: the boot timer's origin is main()'s entry. */
static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	uint64_t start_ns = mono_ns();
	struct cli c = { .stop_fd = -1, .sig_fd = -1, .snap_fd = -1, .in_fd = -1 };
	struct vmm_config cfg;
	enum vmm_exit_reason reason = VMM_EXIT_ERROR;
	pthread_t sigthread;
	sigset_t sigs;
	char err[512];
	int ret, rc;

	if (cli_parse(argc, argv, &c.opt, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		return EXIT_USAGE;
	}
	if (c.opt.help) {
		fputs(cli_usage(), stdout);
		return 0;
	}
	if (c.opt.version) {
		printf("vmm %s\n", vmm_version());
		return 0;
	}
	if (setup_console(&c))
		return EXIT_USAGE;
	if (jail_prepare(&c.opt, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		return EXIT_USAGE;
	}

	/* SIGINT, SIGTERM and SIGHUP arrive through a signalfd; every thread blocks them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	c.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	c.stop_fd = eventfd(0, EFD_CLOEXEC);
	c.snap_fd = eventfd(0, EFD_CLOEXEC);
	if (c.sig_fd < 0 || c.stop_fd < 0 || c.snap_fd < 0) {
		fprintf(stderr, "vmm: cannot set up signal handling: %s\n", strerror(errno));
		return EXIT_USAGE;
	}

	vmm_config_init(&cfg);
	cfg.kernel = c.opt.kernel;
	cfg.initrd = c.opt.initrd;
	cfg.cmdline = c.opt.cmdline;
	cfg.mem_bytes = c.opt.mem_bytes;
	cfg.cpus = c.opt.cpus;
	cfg.io_threads = c.opt.io_threads;
	cfg.timeout_ms = c.opt.timeout_s * 1000u;
	cfg.disks = c.opt.disks;
	cfg.ndisks = c.opt.ndisks;
	cfg.nets = c.opt.nets;
	cfg.nnets = c.opt.nnets;
	cfg.fs = c.opt.fs;
	cfg.nfs = c.opt.nfs;
	cfg.debug_exit_port = c.opt.debug_exit_port;
	cfg.vsock_cid = c.opt.vsock_cid;
	cfg.vsock_uds = c.opt.vsock_uds;
	cfg.console = c.uart;
	cfg.hvc = c.opt.hvc != CLI_CONSOLE_NONE;
	cfg.hvc_io = c.hvc;
	cfg.log = log_cb;
	cfg.event = event_cb;
	cfg.event_opaque = &c;
	cfg.log_level = c.opt.verbose ? VMM_LOG_DEBUG : VMM_LOG_WARN;
	/* Their lines come through the log callback at INFO. */
	cfg.boot_timer = c.opt.boot_timer;
	cfg.boot_timer_origin_ns = start_ns;
	cfg.stats = c.opt.stats;
	/* The library filters its threads; this thread and the signal thread get theirs below. */
	cfg.seccomp = c.opt.seccomp;
	if (c.opt.seccomp == VMM_SECCOMP_TRAP && seccomp_report_install()) {
		fprintf(stderr, "vmm: cannot install the SIGSYS handler for --seccomp: %s\n", strerror(errno));
		return EXIT_USAGE;
	}
	if (seccomp_set_build(&c.seccomp, c.opt.seccomp, 1u << SECCOMP_CLI_MAIN | 1u << SECCOMP_CLI_SIGNAL, &cli_log))
		return EXIT_USAGE;
	if ((c.opt.boot_timer || c.opt.stats) && !c.opt.verbose)
		cfg.log_level = VMM_LOG_INFO;

	/* On a terminal: raw mode, and Ctrl-A x quits (the library watches for it in the input). */
	if (c.in_fd >= 0 && isatty(c.in_fd) && term_raw(c.in_fd) == 0) {
		if (cfg.console.in_fd == c.in_fd)
			cfg.console.escape = CTRL_A;
		else
			cfg.hvc_io.escape = CTRL_A;
	}
	if (c.opt.restore_dir) {
		/* The snapshot knows its RAM and vCPUs; --mem or --cpus, when given, must agree with it. */
		cfg.mem_bytes = c.opt.mem_given ? c.opt.mem_bytes : 0;
		cfg.cpus = c.opt.cpus_given ? c.opt.cpus : 0;
		ret = vmm_restore(&cfg, c.opt.restore_dir, &c.vm);
	} else {
		ret = vmm_create(&cfg, &c.vm);
	}
	if (ret) {
		term_restore();
		seccomp_set_free(&c.seccomp);
		return EXIT_USAGE; /* the library said why through log_cb */
	}
	/* Everything the VM needs is open now: --user / --chroot take effect before the guest runs. */
	if (jail_enter(&c.opt, err, sizeof(err))) {
		fprintf(stderr, "vmm: %s\n", err);
		vmm_destroy(c.vm);
		term_restore();
		seccomp_set_free(&c.seccomp);
		return EXIT_USAGE;
	}
	ret = vmm_start(c.vm);
	if (ret) {
		vmm_destroy(c.vm);
		term_restore();
		seccomp_set_free(&c.seccomp);
		return EXIT_CRASH;
	}
	ret = thread_create(&sigthread, signal_thread, &c);
	if (ret) {
		fprintf(stderr, "vmm: cannot start the signal thread: %s\n", strerror(ret));
		vmm_request_stop(c.vm, 0);
	}
	/* Every thread is started: from here this one only waits, tears down and exits. */
	if (seccomp_thread_enter(&c.seccomp, SECCOMP_CLI_MAIN, NULL, &cli_log))
		vmm_request_stop(c.vm, 0);
	vmm_wait(c.vm, -1, &reason);
	if (!ret) {
		uint64_t one = 1;

		if (write(c.stop_fd, &one, sizeof(one)) < 0)
			perror("vmm: eventfd");
		pthread_join(sigthread, NULL);
	}
	rc = exit_code(&c, reason);
	vmm_destroy(c.vm);
	term_restore();
	if (c.uart.out_fd > STDERR_FILENO)
		close(c.uart.out_fd);
	if (c.hvc.out_fd > STDERR_FILENO)
		close(c.hvc.out_fd);
	seccomp_set_free(&c.seccomp); /* both threads loaded theirs long ago */
	return rc;
}
