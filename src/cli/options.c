// SPDX-License-Identifier: Apache-2.0
#include "cli/options.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <vmm/vmm.h>

#define MAX_TIMEOUT_S (7u * 24 * 3600)

/* What differs in the help between the architectures: the kernel formats, vmm's guest registers, the power button. */
#if defined(__aarch64__)
#define HELP_KERNELS "an arm64 Image or Image.gz"
#define HELP_MARKER "the MMIO byte at 0x9020000"
#define HELP_NO_PORTS                                                                                \
	"                           (on arm64, which has no I/O ports, any IOBASE puts the register at\n" \
	"                           the MMIO address 0x9040000)\n"
#define HELP_SNAPSHOT_REQUEST "the MMIO byte at 0x9030000"
#define HELP_POWER_BUTTON "power button (a virtio-input key)"
#else
#define HELP_KERNELS "bzImage or ELF vmlinux"
#define HELP_MARKER "port 0x620"
#define HELP_NO_PORTS ""
#define HELP_SNAPSHOT_REQUEST "port 0x624"
#define HELP_POWER_BUTTON "ACPI power button"
#endif

const char *cli_usage(void)
{
	return "usage: vmm --kernel PATH [options]\n"
	       "       vmm --restore DIR [options]\n"
	       "Boot a Linux kernel (" HELP_KERNELS ") in a KVM virtual machine with a serial console,\n"
	       "or go on with a VM from a snapshot.\n"
	       "\n"
	       "  -k, --kernel PATH        kernel to boot (required, unless --restore)\n"
	       "  -i, --initrd PATH        initial ramdisk\n"
	       "  -a, --cmdline STRING     kernel command line (default: \"" VMM_DEFAULT_CMDLINE "\")\n"
	       "  -m, --mem SIZE           guest RAM, e.g. 512M or 2G; a bare number is MiB (default 512M)\n"
	       "  -c, --cpus N             number of vCPUs, 1 to 64 (default 1)\n"
	       "      --io-threads N       I/O threads, 1 to 8 (default 1): the first serves the consoles; the\n"
	       "                           disks, then NICs, vsock and shared folders are spread over them\n"
	       "                           all, the second first (a device's queues stay on one thread)\n"
	       "      --console=MODE       where the serial port (ttyS0) goes: stdio (the default, unless\n"
	       "                           --hvc=stdio): the terminal; file:PATH: output to PATH, input from\n"
	       "                           stdin (unless --hvc=stdio); none: nowhere\n"
	       "      --hvc=MODE           a virtio-console (the guest's hvc0, module virtio_console): stdio,\n"
	       "                           file:PATH (input from stdin unless the serial port has it) or none\n"
	       "                           (the default). With --cmdline 'console=hvc0' it is a fast console\n"
	       "                           (buffers, not one VM exit per byte)\n"
	       "  -d, --disk PATH[,ro][,serial=ID][,direct=on|off]\n"
	       "                           a virtio-blk disk on a raw image or block device; repeat for more\n"
	       "                           (up to 16); ro: read-only; serial: up to 20 bytes; direct: O_DIRECT\n"
	       "  -n, --net user[,hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT]...\n"
	       "            [,host-loopback=on|off][,restrict=on|off][,mac=MAC]\n"
	       "                           a virtio-net NIC on user-mode networking (libslirp; no root needed):\n"
	       "                           the guest's DHCP gets 10.0.2.15, gateway 10.0.2.2 (also the host's\n"
	       "                           127.0.0.1 unless host-loopback=off), DNS 10.0.2.3; hostfwd: host\n"
	       "                           HOSTADDR (default 127.0.0.1) port HOSTPORT to the guest's (default\n"
	       "                           10.0.2.15) GUESTPORT, up to 16; restrict=on: the guest reaches\n"
	       "                           nothing outside (forwards in still work); IPv4 only; MTU 65520;\n"
	       "                           checksum offloads only\n"
	       "  -n, --net tap=NAME[,mac=MAC][,queues=N][,vhost=on|off]\n"
	       "                           a virtio-net NIC on tap NAME (attached if it exists, else created,\n"
	       "                           which needs CAP_NET_ADMIN); repeat for more (up to 8); MAC default:\n"
	       "                           derived from NAME; queues: RX/TX pairs (multi-queue tap), 1 to 8;\n"
	       "                           vhost=on: the host kernel moves the frames (vhost-net; without\n"
	       "                           /dev/vhost-net, a warning and vmm's own path); default off\n"
	       "  -n, --net stream=PATH[,mac=MAC]\n"
	       "                           a virtio-net NIC on the unix stream socket PATH (QEMU's stream\n"
	       "                           framing: passt, gvproxy); no root needed; no offloads\n"
	       "      --net none           no network (the default)\n"
	       "      --fs tag=TAG,socket=PATH[,queues=N]\n"
	       "                           share a host folder: a virtio-fs device the guest mounts with\n"
	       "                           mount -t virtiofs TAG DIR, served by the vhost-user daemon\n"
	       "                           (virtiofsd) listening on PATH; TAG 1 to 36 bytes; queues: request\n"
	       "                           queues, 1 to 8 (default 1); repeat for more (up to 4)\n"
	       "      --vsock cid=N,uds=PATH\n"
	       "                           a virtio-vsock device, guest CID N (3 or more), Firecracker-style\n"
	       "                           \"hybrid vsock\": a host program connects to the unix socket PATH and\n"
	       "                           writes \"CONNECT <port>\\n\" (answer: \"OK <hostport>\\n\"); a guest\n"
	       "                           connection to CID 2 port P goes to the unix socket PATH_P\n"
	       "      --debug-exit=IOBASE  a port like QEMU's isa-debug-exit (e.g. 0xf4): a guest write of V\n"
	       "                           stops the VM and vmm exits with (V << 1) | 1\n"
	       HELP_NO_PORTS
	       "      --boot-timer         print on stderr when each boot phase happened (ms since vmm started):\n"
	       "                           vmm_create done, first KVM_RUN, each byte V the guest writes to\n"
	       "                           " HELP_MARKER " (\"guest marker V\")\n"
	       "      --stats              print on stderr at exit the KVM exits by reason and by port and MMIO\n"
	       "                           range, the time spent handling them in user space, and where\n"
	       "                           each console stands (what a stalled console waits for); after\n"
	       "                           --timeout, each vCPU's registers (where a hung guest was)\n"
	       "      --user UID[:GID]     once /dev/kvm, the kernel, the disks and the taps are open, run as\n"
	       "                           this user and group (numbers; GID defaults to UID, neither may be\n"
	       "                           0), with no capabilities, no supplementary groups and no way to\n"
	       "                           gain privileges again (needs root, or CAP_SETUID and CAP_SETGID)\n"
	       "      --chroot DIR         with --user: change the root directory to DIR first\n"
	       "      --rlimit nofile=N    once the VM is made, at most N open files (16 to 1048576)\n"
	       "      --seccomp on|off|log each of vmm's threads may make only the system calls it needs;\n"
	       "                           on (default): any other stops vmm with a line naming it (exit 2);\n"
	       "                           log: any other is allowed and goes to the kernel's audit log;\n"
	       "                           off: no filter\n"
	       "      --snapshot-dir DIR   arm snapshots: on SIGUSR1, or when the guest writes a byte to\n"
	       "                           " HELP_SNAPSHOT_REQUEST ", pause the VM, save it into DIR\n"
	       "                           (created if missing; a snapshot there is replaced) and exit 0\n"
	       "      --snapshot-resume    with --snapshot-dir: let the VM run on after each snapshot\n"
	       "      --restore DIR        start the VM saved in DIR where it was (no --kernel, --initrd or\n"
	       "                           --cmdline; --mem and --cpus may be left out; give the same --disk,\n"
	       "                           --net, --hvc and --debug-exit options as when it was saved, with\n"
	       "                           the disk images as they were then)\n"
	       "  -t, --timeout SECONDS    stop the guest after SECONDS and exit with 124 (default: never)\n"
	       "  -v, --verbose            print debug messages\n"
	       "  -h, --help               print this help and exit\n"
	       "  -V, --version            print the version and exit\n"
	       "\n"
	       "On a terminal, press Ctrl-A then x to quit (Ctrl-A Ctrl-A sends a Ctrl-A to the guest).\n"
	       "Guest output is buffered and written by the I/O thread: a slow or stopped reader makes the\n"
	       "guest wait (nothing is lost); a reader that went away (or a full disk) makes vmm discard\n"
	       "the rest, with one message.\n"
	       "\n"
	       "SIGINT, SIGTERM or SIGHUP presses the guest's " HELP_POWER_BUTTON " and gives it 10 s to\n"
	       "shut down; a second signal stops it at once.\n"
	       "\n"
	       "Exit status: 0 the guest powered off or rebooted (or Ctrl-A x); 1 usage or set-up error;\n"
	       "2 the guest crashed or a device failed; 124 --timeout reached; 128+N signal N stopped the guest\n"
	       "(or shut it down through its power button);\n"
	       "(V << 1) | 1 the guest wrote V to the --debug-exit port.\n";
}

int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned shift = 20;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'B':
		shift = 0;
		end++;
		break;
	case 'K':
		shift = 10;
		end++;
		break;
	case 'M':
		shift = 20;
		end++;
		break;
	case 'G':
		shift = 30;
		end++;
		break;
	case 'T':
		shift = 40;
		end++;
		break;
	default:
		return -EINVAL;
	}
	if (shift && (!strcasecmp(end, "iB") || !strcasecmp(end, "B")))
		end += strlen(end);
	if (*end)
		return -EINVAL;
	if (v == 0 || v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_uint(const char *s, unsigned max, unsigned *out)
{
	unsigned long v;
	char *end;

	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = (unsigned)v;
	return 0;
}

int cli_parse_disk(char *s, struct vmm_disk *d, char *err, size_t errlen)
{
	char *save = NULL, *opt;
	char *path = strtok_r(s, ",", &save);

	memset(d, 0, sizeof(*d));
	if (!path || !*path || s[0] == ',') {
		snprintf(err, errlen, "--disk needs a path: --disk PATH[,ro][,serial=ID][,direct=on|off]");
		return -EINVAL;
	}
	d->path = path;
	while ((opt = strtok_r(NULL, ",", &save))) {
		if (!strcmp(opt, "ro") || !strcmp(opt, "readonly")) {
			d->readonly = 1;
		} else if (!strcmp(opt, "rw")) {
			d->readonly = 0;
		} else if (!strncmp(opt, "serial=", 7)) {
			if (strlen(opt + 7) > 20) {
				snprintf(err, errlen, "--disk serial '%s' is longer than 20 bytes", opt + 7);
				return -EINVAL;
			}
			d->serial = opt + 7;
		} else if (!strcmp(opt, "direct=on")) {
			d->direct = 1;
		} else if (!strcmp(opt, "direct=off")) {
			d->direct = 0;
		} else {
			snprintf(err, errlen, "--disk option '%s' is not one of ro, serial=ID, direct=on|off", opt);
			return -EINVAL;
		}
	}
	return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
	unsigned v[6];
	char tail;

	if (sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
		return -EINVAL;
	for (int i = 0; i < 6; i++)
		mac[i] = (uint8_t)v[i];
	if (mac[0] & 1) /* multicast */
		return -EINVAL;
	return 0;
}

/* Split s at the first c: returns what follows it (s ends there), or NULL when there is no c. */
static char *cut(char *s, char c)
{
	char *p = strchr(s, c);

	if (!p)
		return NULL;
	*p = 0;
	return p + 1;
}

static int parse_port(const char *s, uint16_t *port)
{
	unsigned v;

	if (parse_uint(s, 65535, &v) || v == 0)
		return -EINVAL;
	*port = (uint16_t)v;
	return 0;
}

/* hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (QEMU's syntax), in place. */
static int parse_hostfwd(char *s, struct vmm_hostfwd *f, char *err, size_t errlen)
{
	char whole[80];
	char *haddr, *hport = NULL, *gaddr = NULL, *gport = NULL;

	snprintf(whole, sizeof(whole), "%s", s); /* for the message: s is cut up below */
	haddr = cut(s, ':');
	if (haddr)
		hport = cut(haddr, ':');
	if (hport)
		gaddr = cut(hport, '-');
	if (gaddr)
		gport = cut(gaddr, ':');
	memset(f, 0, sizeof(*f));
	if (!gport || (strcmp(s, "tcp") && strcmp(s, "udp") && *s) || parse_port(hport, &f->host_port) ||
	    parse_port(gport, &f->guest_port)) {
		snprintf(err, errlen, "--net hostfwd=%s is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT "
				      "with ports 1 to 65535 (e.g. hostfwd=tcp:127.0.0.1:2222-:22)", whole);
		return -EINVAL;
	}
	f->udp = !strcmp(s, "udp");
	f->host_addr = *haddr ? haddr : NULL;
	f->guest_addr = *gaddr ? gaddr : NULL;
	return 0;
}

int cli_parse_net(char *s, struct vmm_net *n, struct vmm_hostfwd *fwd, char *err, size_t errlen)
{
	char *save = NULL, *opt;
	bool user = false;

	memset(n, 0, sizeof(*n));
	for (opt = strtok_r(s, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strncmp(opt, "tap=", 4) && opt[4]) {
			if (strlen(opt + 4) >= 16) {
				snprintf(err, errlen, "--net tap name '%s' is longer than 15 characters", opt + 4);
				return -EINVAL;
			}
			n->tap = opt + 4;
		} else if (!strncmp(opt, "stream=", 7) && opt[7]) {
			/* 108: Linux's sizeof(struct sockaddr_un.sun_path), the terminating NUL included */
			if (strlen(opt + 7) >= 108) {
				snprintf(err, errlen, "--net stream socket path '%s' is longer than 107 characters", opt + 7);
				return -EINVAL;
			}
			n->path = opt + 7;
			n->backend = VMM_NET_STREAM;
		} else if (!strcmp(opt, "user")) {
			user = true;
		} else if (!strncmp(opt, "hostfwd=", 8)) {
			if (n->nhostfwd == VMM_MAX_HOSTFWD) {
				snprintf(err, errlen, "--net takes at most %d hostfwd= forwards", VMM_MAX_HOSTFWD);
				return -EINVAL;
			}
			if (parse_hostfwd(opt + 8, &fwd[n->nhostfwd], err, errlen))
				return -EINVAL;
			n->nhostfwd++;
		} else if (!strcmp(opt, "host-loopback=off") || !strcmp(opt, "host-loopback=on")) {
			n->no_host_loopback = !strcmp(opt, "host-loopback=off");
		} else if (!strcmp(opt, "restrict=on") || !strcmp(opt, "restrict=off")) {
			n->restricted = !strcmp(opt, "restrict=on");
		} else if (!strncmp(opt, "mac=", 4)) {
			if (parse_mac(opt + 4, n->mac)) {
				snprintf(err, errlen, "--net mac '%s' is not a unicast MAC like 52:54:00:12:34:56", opt + 4);
				return -EINVAL;
			}
			n->has_mac = 1;
		} else if (!strcmp(opt, "vhost=on") || !strcmp(opt, "vhost=off")) {
			n->vhost = !strcmp(opt, "vhost=on");
		} else if (!strncmp(opt, "queues=", 7)) {
			if (parse_uint(opt + 7, 8, &n->queue_pairs) || n->queue_pairs == 0) {
				snprintf(err, errlen, "--net queues '%s' must be a number from 1 to 8", opt + 7);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "--net option '%s' is not one of user, hostfwd=..., host-loopback=on|off, restrict=on|off, "
					      "tap=NAME, stream=PATH, mac=MAC, queues=N, vhost=on|off", opt);
			return -EINVAL;
		}
	}
	if (!!n->tap + !!n->path + user > 1) {
		snprintf(err, errlen, "--net takes one of user, tap=NAME and stream=PATH");
		return -EINVAL;
	}
	if (user) {
		n->backend = VMM_NET_USER;
		n->hostfwd = n->nhostfwd ? fwd : NULL;
	} else if (n->nhostfwd || n->no_host_loopback || n->restricted) {
		snprintf(err, errlen, "--net hostfwd=, host-loopback= and restrict= are for user-mode networking (--net user,...)");
		return -EINVAL;
	}
	if ((n->path || user) && n->vhost) {
		snprintf(err, errlen, "--net vhost=on is for a tap only (the kernel's vhost-net moves frames to and from a tap)");
		return -EINVAL;
	}
	if ((n->path || user) && n->queue_pairs) {
		snprintf(err, errlen, "--net queues=N is for a tap only (%s has one queue pair)",
			 user ? "user-mode networking" : "a stream socket");
		return -EINVAL;
	}
	if (!n->tap && !n->path && !user) {
		snprintf(err, errlen, "--net needs a network: --net user[,hostfwd=...], --net tap=NAME[,mac=MAC][,queues=N][,vhost=on], "
				      "--net stream=PATH[,mac=MAC] (or --net none)");
		return -EINVAL;
	}
	return 0;
}

int cli_parse_vsock(char *s, unsigned *cid, const char **uds, char *err, size_t errlen)
{
	char *save = NULL, *opt;

	*cid = 0;
	*uds = NULL;
	for (opt = strtok_r(s, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strncmp(opt, "cid=", 4)) {
			char *end;
			unsigned long long v;

			errno = 0;
			v = strtoull(opt + 4, &end, 0);
			if (errno || *end || !isdigit((unsigned char)opt[4]) || v < 3 || v >= 0xffffffffull) {
				snprintf(err, errlen, "--vsock cid '%s' must be a number from 3 to 4294967294", opt + 4);
				return -EINVAL;
			}
			*cid = (unsigned)v;
		} else if (!strncmp(opt, "uds=", 4) && opt[4]) {
			if (strlen(opt + 4) >= 108) { /* sizeof(sun_path), its NUL included */
				snprintf(err, errlen, "--vsock uds path is longer than 107 characters");
				return -EINVAL;
			}
			*uds = opt + 4;
		} else {
			snprintf(err, errlen, "--vsock option '%s' is not one of cid=N, uds=PATH", opt);
			return -EINVAL;
		}
	}
	if (!*cid || !*uds) {
		snprintf(err, errlen, "--vsock needs both: --vsock cid=N,uds=PATH");
		return -EINVAL;
	}
	return 0;
}

/* One --fs value: tag=TAG,socket=PATH[,queues=N]. */
int cli_parse_fs(char *s, struct vmm_fs *f, char *err, size_t errlen)
{
	char *save = NULL, *opt;

	memset(f, 0, sizeof(*f));
	for (opt = strtok_r(s, ",", &save); opt; opt = strtok_r(NULL, ",", &save)) {
		if (!strncmp(opt, "tag=", 4) && opt[4]) {
			if (strlen(opt + 4) > 36) {
				snprintf(err, errlen, "--fs tag '%s' is longer than 36 bytes", opt + 4);
				return -EINVAL;
			}
			f->tag = opt + 4;
		} else if (!strncmp(opt, "socket=", 7) && opt[7]) {
			if (strlen(opt + 7) >= 108) { /* sizeof(sun_path), its NUL included */
				snprintf(err, errlen, "--fs socket path '%s' is longer than 107 characters", opt + 7);
				return -EINVAL;
			}
			f->socket = opt + 7;
		} else if (!strncmp(opt, "queues=", 7)) {
			if (parse_uint(opt + 7, 8, &f->queues) || f->queues == 0) {
				snprintf(err, errlen, "--fs queues '%s' must be a number from 1 to 8", opt + 7);
				return -EINVAL;
			}
		} else {
			snprintf(err, errlen, "--fs option '%s' is not one of tag=TAG, socket=PATH, queues=N", opt);
			return -EINVAL;
		}
	}
	if (!f->tag || !f->socket) {
		snprintf(err, errlen, "--fs needs both: --fs tag=TAG,socket=PATH[,queues=N]");
		return -EINVAL;
	}
	return 0;
}

enum {
	OPT_CONSOLE = 256,
	OPT_HVC,
	OPT_DEBUG_EXIT,
	OPT_BOOT_TIMER,
	OPT_STATS,
	OPT_USER,
	OPT_CHROOT,
	OPT_RLIMIT,
	OPT_SNAPSHOT_DIR,
	OPT_SNAPSHOT_RESUME,
	OPT_RESTORE,
	OPT_VSOCK,
	OPT_FS,
	OPT_SECCOMP,
	OPT_IO_THREADS,
};

static const struct option longopts[] = {
	{ "kernel", required_argument, NULL, 'k' },
	{ "initrd", required_argument, NULL, 'i' },
	{ "cmdline", required_argument, NULL, 'a' },
	{ "mem", required_argument, NULL, 'm' },
	{ "cpus", required_argument, NULL, 'c' },
	{ "console", required_argument, NULL, OPT_CONSOLE },
	{ "hvc", required_argument, NULL, OPT_HVC },
	{ "timeout", required_argument, NULL, 't' },
	{ "disk", required_argument, NULL, 'd' },
	{ "net", required_argument, NULL, 'n' },
	{ "debug-exit", required_argument, NULL, OPT_DEBUG_EXIT },
	{ "boot-timer", no_argument, NULL, OPT_BOOT_TIMER },
	{ "stats", no_argument, NULL, OPT_STATS },
	{ "user", required_argument, NULL, OPT_USER },
	{ "chroot", required_argument, NULL, OPT_CHROOT },
	{ "rlimit", required_argument, NULL, OPT_RLIMIT },
	{ "snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR },
	{ "snapshot-resume", no_argument, NULL, OPT_SNAPSHOT_RESUME },
	{ "restore", required_argument, NULL, OPT_RESTORE },
	{ "vsock", required_argument, NULL, OPT_VSOCK },
	{ "fs", required_argument, NULL, OPT_FS },
	{ "seccomp", required_argument, NULL, OPT_SECCOMP },
	{ "io-threads", required_argument, NULL, OPT_IO_THREADS },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 },
};

/* One id of --user: 1 to 4294967294 (0 is root, -1 means "unchanged" to setresuid). */
static int parse_id(const char *s, char **end, uint32_t *id)
{
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, end, 10);
	if (errno || v == 0 || v >= UINT32_MAX)
		return -EINVAL;
	*id = (uint32_t)v;
	return 0;
}

/* --user UID[:GID] */
static int parse_user(const char *arg, struct cli_options *o)
{
	char *end;

	if (parse_id(arg, &end, &o->uid))
		return -EINVAL;
	o->gid = o->uid;
	if (*end == ':' && parse_id(end + 1, &end, &o->gid))
		return -EINVAL;
	if (*end)
		return -EINVAL;
	o->drop_user = true;
	return 0;
}

static int parse_console(const char *arg, enum cli_console *mode, const char **path)
{
	if (!strcmp(arg, "stdio"))
		*mode = CLI_CONSOLE_STDIO;
	else if (!strcmp(arg, "none"))
		*mode = CLI_CONSOLE_NONE;
	else if (!strncmp(arg, "file:", 5) && arg[5])
		*mode = CLI_CONSOLE_FILE, *path = arg + 5;
	else
		return -EINVAL;
	return 0;
}

int cli_parse(int argc, char **argv, struct cli_options *o, char *err, size_t errlen)
{
	bool console_given = false;
	int c, ret;

	memset(o, 0, sizeof(*o));
	o->mem_bytes = VMM_DEFAULT_MEM;
	o->cpus = 1;
	o->seccomp = VMM_SECCOMP_TRAP;
	o->console = CLI_CONSOLE_STDIO;
	o->hvc = CLI_CONSOLE_NONE;
	optind = 0; /* a full reset: the parser may run more than once (tests) */
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":k:i:a:m:c:t:d:n:vhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'k':
			o->kernel = optarg;
			break;
		case 'i':
			o->initrd = optarg;
			break;
		case 'a':
			o->cmdline = optarg;
			break;
		case 'm':
			o->mem_given = true;
			ret = cli_parse_size(optarg, &o->mem_bytes);
			if (ret == -ERANGE) {
				snprintf(err, errlen, "--mem '%s' is out of range", optarg);
				return -EINVAL;
			}
			if (ret) {
				snprintf(err, errlen, "--mem '%s' is not a size (use e.g. 512M or 2G)", optarg);
				return -EINVAL;
			}
			break;
		case 'c':
			o->cpus_given = true;
			if (parse_uint(optarg, VMM_MAX_CPUS, &o->cpus) || o->cpus == 0) {
				snprintf(err, errlen, "--cpus '%s' must be a number from 1 to %d", optarg, VMM_MAX_CPUS);
				return -EINVAL;
			}
			break;
		case OPT_CONSOLE:
			if (parse_console(optarg, &o->console, &o->console_path)) {
				snprintf(err, errlen, "--console '%s' must be stdio, file:PATH or none", optarg);
				return -EINVAL;
			}
			console_given = true;
			break;
		case OPT_HVC:
			if (parse_console(optarg, &o->hvc, &o->hvc_path)) {
				snprintf(err, errlen, "--hvc '%s' must be stdio, file:PATH or none", optarg);
				return -EINVAL;
			}
			break;
		case 't':
			if (parse_uint(optarg, MAX_TIMEOUT_S, &o->timeout_s)) {
				snprintf(err, errlen, "--timeout '%s' must be a whole number of seconds up to %u", optarg,
					 MAX_TIMEOUT_S);
				return -EINVAL;
			}
			break;
		case 'd':
			if (o->ndisks >= VMM_MAX_DISKS) {
				snprintf(err, errlen, "at most %d disks", VMM_MAX_DISKS);
				return -EINVAL;
			}
			if (cli_parse_disk(optarg, &o->disks[o->ndisks], err, errlen))
				return -EINVAL;
			o->ndisks++;
			break;
		case 'n':
			if (!strcmp(optarg, "none")) {
				o->nnets = 0;
				o->no_net = true;
				break;
			}
			if (o->nnets >= VMM_MAX_NICS) {
				snprintf(err, errlen, "at most %d NICs", VMM_MAX_NICS);
				return -EINVAL;
			}
			if (cli_parse_net(optarg, &o->nets[o->nnets], o->hostfwd[o->nnets], err, errlen))
				return -EINVAL;
			o->nnets++;
			break;
		case OPT_DEBUG_EXIT: {
			char *end;
			unsigned long v;

			errno = 0;
			v = strtoul(optarg, &end, 0);
			if (errno || *end || !isdigit((unsigned char)*optarg) || v == 0 || v > 0xfffc) {
				snprintf(err, errlen, "--debug-exit '%s' must be an I/O port such as 0xf4", optarg);
				return -EINVAL;
			}
			o->debug_exit_port = (uint16_t)v;
			break;
		}
		case OPT_BOOT_TIMER:
			o->boot_timer = true;
			break;
		case OPT_STATS:
			o->stats = true;
			break;
		case OPT_IO_THREADS:
			if (parse_uint(optarg, VMM_MAX_IO_THREADS, &o->io_threads) || o->io_threads == 0) {
				snprintf(err, errlen, "--io-threads '%s' must be a number from 1 to %d", optarg,
					 VMM_MAX_IO_THREADS);
				return -EINVAL;
			}
			break;
		case OPT_SECCOMP:
			if (!strcmp(optarg, "on"))
				o->seccomp = VMM_SECCOMP_TRAP;
			else if (!strcmp(optarg, "off"))
				o->seccomp = VMM_SECCOMP_OFF;
			else if (!strcmp(optarg, "log"))
				o->seccomp = VMM_SECCOMP_LOG;
			else {
				snprintf(err, errlen, "--seccomp '%s' must be on, off or log", optarg);
				return -EINVAL;
			}
			break;
		case OPT_USER:
			if (parse_user(optarg, o)) {
				snprintf(err, errlen, "--user '%s' must be UID or UID:GID, numbers from 1 to 4294967294", optarg);
				return -EINVAL;
			}
			break;
		case OPT_RLIMIT: {
			uint64_t v = 0;
			char *end;

			if (!strncmp(optarg, "nofile=", 7) && isdigit((unsigned char)optarg[7])) {
				errno = 0;
				v = strtoull(optarg + 7, &end, 10);
				if (errno || *end || v < 16 || v > (1u << 20))
					v = 0;
				o->rlimit_nofile = v;
			}
			if (!v) {
				snprintf(err, errlen, "--rlimit '%s' must be nofile=N, N from 16 to 1048576", optarg);
				return -EINVAL;
			}
			break;
		}
		case OPT_SNAPSHOT_DIR:
		case OPT_RESTORE:
			if (!*optarg) {
				snprintf(err, errlen, "--%s needs a directory", c == OPT_RESTORE ? "restore" : "snapshot-dir");
				return -EINVAL;
			}
			*(c == OPT_RESTORE ? &o->restore_dir : &o->snapshot_dir) = optarg;
			break;
		case OPT_SNAPSHOT_RESUME:
			o->snapshot_resume = true;
			break;
		case OPT_VSOCK:
			if (cli_parse_vsock(optarg, &o->vsock_cid, &o->vsock_uds, err, errlen))
				return -EINVAL;
			break;
		case OPT_FS:
			if (o->nfs >= VMM_MAX_FS) {
				snprintf(err, errlen, "at most %d shared folders", VMM_MAX_FS);
				return -EINVAL;
			}
			if (cli_parse_fs(optarg, &o->fs[o->nfs], err, errlen))
				return -EINVAL;
			for (unsigned i = 0; i < o->nfs; i++) {
				if (!strcmp(o->fs[i].tag, o->fs[o->nfs].tag)) {
					snprintf(err, errlen, "--fs tag '%s' is given twice", o->fs[i].tag);
					return -EINVAL;
				}
			}
			o->nfs++;
			break;
		case OPT_CHROOT:
			if (!*optarg) {
				snprintf(err, errlen, "--chroot needs a directory");
				return -EINVAL;
			}
			o->chroot_dir = optarg;
			break;
		case 'v':
			o->verbose = true;
			break;
		case 'h':
			o->help = true;
			return 0;
		case 'V':
			o->version = true;
			return 0;
		case ':':
			snprintf(err, errlen, "option '%s' needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			snprintf(err, errlen, "unknown option '%s' (see vmm --help)", argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		snprintf(err, errlen, "unexpected argument '%s' (see vmm --help)", argv[optind]);
		return -EINVAL;
	}
	if (o->restore_dir && (o->kernel || o->initrd || o->cmdline)) {
		snprintf(err, errlen, "--restore takes the kernel, initrd and command line from the snapshot: drop --%s",
			 o->kernel ? "kernel" : o->initrd ? "initrd" : "cmdline");
		return -EINVAL;
	}
	if (!o->kernel && !o->restore_dir) {
		snprintf(err, errlen, "no kernel given: use --kernel PATH (see vmm --help)");
		return -EINVAL;
	}
	if (o->snapshot_resume && !o->snapshot_dir) {
		snprintf(err, errlen, "--snapshot-resume needs --snapshot-dir DIR");
		return -EINVAL;
	}
	if (o->hvc == CLI_CONSOLE_STDIO && !console_given)
		o->console = CLI_CONSOLE_NONE; /* two devices never share the terminal */
	if (o->hvc == CLI_CONSOLE_STDIO && o->console == CLI_CONSOLE_STDIO) {
		snprintf(err, errlen, "--console=stdio and --hvc=stdio cannot share the terminal; send one to a file");
		return -EINVAL;
	}
	if (o->hvc == CLI_CONSOLE_FILE && o->console == CLI_CONSOLE_FILE && !strcmp(o->hvc_path, o->console_path)) {
		snprintf(err, errlen, "--console and --hvc cannot write the same file '%s'", o->hvc_path);
		return -EINVAL;
	}
	if (o->no_net && o->nnets) {
		snprintf(err, errlen, "--net none cannot be combined with another --net");
		return -EINVAL;
	}
	if (o->chroot_dir && !o->drop_user) {
		snprintf(err, errlen, "--chroot needs --user: root can leave a changed root directory");
		return -EINVAL;
	}
	if (o->mem_bytes & 0xfff) {
		snprintf(err, errlen, "--mem must be a multiple of 4 KiB");
		return -EINVAL;
	}
	return 0;
}
