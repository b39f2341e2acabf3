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
#include "cli/term.h"

#define EXIT_USAGE 1
#define EXIT_CRASH 2
#define EXIT_TIMEOUT 124
#define CTRL_A 0x01
#define GRACE_MS 10000 /* how long a guest gets to shut down after the first SIGINT/SIGTERM/SIGHUP */

struct cli {
	struct cli_options opt;
	struct vmm *vm;
	int out_fd;       /* where guest output goes; -1: nowhere */
	int in_fd;        /* guest input; -1: none */
	bool escapes;     /* Ctrl-A x handling (input is a terminal) */
	bool saw_ctrl_a;
	int stop_fd;      /* eventfd: tells the input thread to finish */
	int sig_fd;       /* signalfd for SIGINT, SIGTERM, SIGHUP */
	volatile int exit_signal;
	volatile bool quit_key;
};

static void log_cb(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	(void)level;
	/* In raw mode the terminal no longer turns \n into \r\n. */
	fprintf(stderr, "vmm: %s%s", msg, term_is_raw() ? "\r\n" : "\n");
}

static void write_all(int fd, const uint8_t *buf, size_t len)
{
	while (len) {
		ssize_t w = write(fd, buf, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* a closed or broken output must not stop the guest */
		buf += w;
		len -= (size_t)w;
	}
}

static void console_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct cli *c = opaque;

	if (c->out_fd >= 0)
		write_all(c->out_fd, buf, len);
}

/* Give bytes to the guest, waiting while its UART buffer is full; false when the VM stopped meanwhile. */
static bool feed(struct cli *c, const uint8_t *buf, size_t len)
{
	while (len) {
		struct pollfd p = { .fd = c->stop_fd, .events = POLLIN };
		int n = vmm_console_input(c->vm, buf, len);

		if (n < 0)
			return false;
		buf += n;
		len -= (size_t)n;
		if (len && poll(&p, 1, 10) > 0)
			return false;
	}
	return true;
}

/* Input bytes from a terminal: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A. */
static bool handle_escapes(struct cli *c, const uint8_t *buf, size_t len)
{
	uint8_t out[4096];
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		uint8_t ch = buf[i];

		if (c->saw_ctrl_a) {
			c->saw_ctrl_a = false;
			if (ch == 'x' || ch == 'X') {
				c->quit_key = true;
				vmm_request_stop(c->vm, 0);
				return false;
			}
			if (ch != CTRL_A)
				out[n++] = CTRL_A;
		} else if (ch == CTRL_A) {
			c->saw_ctrl_a = true;
			continue;
		}
		out[n++] = ch;
		if (n >= sizeof(out) - 1) {
			if (!feed(c, out, n))
				return false;
			n = 0;
		}
	}
	return feed(c, out, n);
}

static void *input_thread(void *arg)
{
	struct cli *c = arg;
	uint8_t buf[2048];

	for (;;) {
		struct pollfd p[3] = {
			{ .fd = c->stop_fd, .events = POLLIN },
			{ .fd = c->sig_fd, .events = POLLIN },
			{ .fd = c->in_fd, .events = POLLIN },
		};
		int nfds = c->in_fd >= 0 ? 3 : 2;
		ssize_t r;

		if (poll(p, (nfds_t)nfds, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		if (p[1].revents) {
			struct signalfd_siginfo si;

			if (read(c->sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
				/* The first signal presses the guest's power button; a second one stops it now. */
				unsigned grace = c->exit_signal ? 0 : GRACE_MS;

				if (grace)
					log_cb(NULL, VMM_LOG_INFO,
					       "asking the guest to shut down (power button); a second signal stops it at once");
				c->exit_signal = (int)si.ssi_signo;
				vmm_request_stop(c->vm, grace);
			}
		}
		if (nfds == 3 && p[2].revents) {
			r = read(c->in_fd, buf, sizeof(buf));
			if (r < 0 && (errno == EINTR || errno == EAGAIN))
				continue;
			if (r <= 0) {
				c->in_fd = -1; /* EOF: the guest keeps running without input */
				continue;
			}
			if (!(c->escapes ? handle_escapes(c, buf, (size_t)r) : feed(c, buf, (size_t)r)))
				break;
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

static int setup_console(struct cli *c)
{
	c->out_fd = -1;
	c->in_fd = -1;
	switch (c->opt.console) {
	case CLI_CONSOLE_STDIO:
		c->out_fd = STDOUT_FILENO;
		c->in_fd = STDIN_FILENO;
		break;
	case CLI_CONSOLE_FILE:
		c->out_fd = open(c->opt.console_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (c->out_fd < 0) {
			fprintf(stderr, "vmm: cannot open console file '%s': %s\n", c->opt.console_path,
				strerror(errno));
			return -1;
		}
		c->in_fd = STDIN_FILENO;
		break;
	case CLI_CONSOLE_NONE:
		break;
	}
	/* stdin closed or /dev/null: no input, nothing to poll. */
	if (c->in_fd >= 0 && fcntl(c->in_fd, F_GETFD) < 0)
		c->in_fd = -1;
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
	struct cli c = { .stop_fd = -1, .sig_fd = -1 };
	struct vmm_config cfg;
	enum vmm_exit_reason reason = VMM_EXIT_ERROR;
	pthread_t input;
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

	/* SIGINT, SIGTERM and SIGHUP arrive through a signalfd; every thread blocks them. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);
	c.sig_fd = signalfd(-1, &sigs, SFD_CLOEXEC);
	c.stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c.sig_fd < 0 || c.stop_fd < 0) {
		fprintf(stderr, "vmm: cannot set up signal handling: %s\n", strerror(errno));
		return EXIT_USAGE;
	}

	vmm_config_init(&cfg);
	cfg.kernel = c.opt.kernel;
	cfg.initrd = c.opt.initrd;
	cfg.cmdline = c.opt.cmdline;
	cfg.mem_bytes = c.opt.mem_bytes;
	cfg.cpus = c.opt.cpus;
	cfg.timeout_ms = c.opt.timeout_s * 1000u;
	cfg.disks = c.opt.disks;
	cfg.ndisks = c.opt.ndisks;
	cfg.nets = c.opt.nets;
	cfg.nnets = c.opt.nnets;
	cfg.debug_exit_port = c.opt.debug_exit_port;
	cfg.console_out = console_cb;
	cfg.console_opaque = &c;
	cfg.log = log_cb;
	cfg.log_level = c.opt.verbose ? VMM_LOG_DEBUG : VMM_LOG_WARN;
	/* Their lines come through the log callback at INFO. */
	cfg.boot_timer = c.opt.boot_timer;
	cfg.boot_timer_origin_ns = start_ns;
	cfg.stats = c.opt.stats;
	if ((c.opt.boot_timer || c.opt.stats) && !c.opt.verbose)
		cfg.log_level = VMM_LOG_INFO;

	ret = vmm_create(&cfg, &c.vm);
	if (ret)
		return EXIT_USAGE; /* the library said why through log_cb */

	if (c.in_fd >= 0 && isatty(c.in_fd)) {
		if (term_raw(c.in_fd) == 0)
			c.escapes = true;
	}
	ret = vmm_start(c.vm);
	if (ret) {
		vmm_destroy(c.vm);
		term_restore();
		return EXIT_CRASH;
	}
	ret = pthread_create(&input, NULL, input_thread, &c);
	if (ret) {
		fprintf(stderr, "vmm: cannot start the console input thread: %s\n", strerror(ret));
		vmm_request_stop(c.vm, 0);
	}
	vmm_wait(c.vm, -1, &reason);
	if (!ret) {
		uint64_t one = 1;

		if (write(c.stop_fd, &one, sizeof(one)) < 0)
			perror("vmm: eventfd");
		pthread_join(input, NULL);
	}
	rc = exit_code(&c, reason);
	vmm_destroy(c.vm);
	term_restore();
	if (c.out_fd > STDERR_FILENO)
		close(c.out_fd);
	return rc;
}
