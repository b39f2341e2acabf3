/* SPDX-License-Identifier: Apache-2.0 */
/* The vmm command line: argv -> struct cli_options. No I/O besides the error message buffer. */
#ifndef VMM_CLI_OPTIONS_H
#define VMM_CLI_OPTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <vmm/vmm.h>

enum cli_console { CLI_CONSOLE_STDIO, CLI_CONSOLE_FILE, CLI_CONSOLE_NONE };

struct cli_options {
	const char *kernel, *initrd, *cmdline;
	uint64_t mem_bytes;
	unsigned cpus;
	unsigned io_threads;      /* --io-threads; 0: not given (one) */
	enum cli_console console;
	const char *console_path; /* CLI_CONSOLE_FILE */
	enum cli_console hvc;     /* --hvc: a virtio-console (default none) */
	const char *hvc_path;
	unsigned timeout_s;       /* 0: none */
	struct vmm_disk disks[VMM_MAX_DISKS];
	unsigned ndisks;
	struct vmm_net nets[VMM_MAX_NICS];
	unsigned nnets;
	struct vmm_hostfwd hostfwd[VMM_MAX_NICS][VMM_MAX_HOSTFWD]; /* nets[i].hostfwd points at hostfwd[i] */
	bool no_net; /* --net none */
	unsigned vsock_cid;       /* --vsock cid=N,uds=PATH; 0: none */
	const char *vsock_uds;
	struct vmm_fs fs[VMM_MAX_FS]; /* --fs tag=TAG,socket=PATH[,queues=N] */
	unsigned nfs;
	uint16_t debug_exit_port; /* --debug-exit=IOBASE; 0: none */
	bool verbose;
	bool boot_timer; /* --boot-timer */
	bool stats;      /* --stats */
	int seccomp;     /* --seccomp: VMM_SECCOMP_TRAP (on, the default), _OFF or _LOG */
	bool drop_user;  /* --user UID[:GID]: run as uid:gid once the VM is made (src/cli/jail.c) */
	uint32_t uid, gid;
	const char *chroot_dir; /* --chroot DIR (with --user) */
	uint64_t rlimit_nofile; /* --rlimit nofile=N; 0: unchanged */
	const char *snapshot_dir; /* --snapshot-dir DIR: SIGUSR1 or the guest's request snapshots into DIR */
	bool snapshot_resume;     /* --snapshot-resume: the VM runs on after a snapshot (else vmm exits 0) */
	const char *restore_dir;  /* --restore DIR: start from that snapshot instead of a kernel */
	bool mem_given, cpus_given; /* --mem / --cpus appeared (a restore checks them against the snapshot) */
	bool help, version;
};

/*
 * Parse argv. Returns 0, or -EINVAL with one sentence in err (no "vmm: " prefix).
 * Sizes: a number with an optional K, M, G or T suffix (KiB... accepted too); a bare number means MiB.
 */
int cli_parse(int argc, char **argv, struct cli_options *o, char *err, size_t errlen);
int cli_parse_size(const char *s, uint64_t *out);
/* One --disk value: PATH[,ro][,serial=ID][,direct=on|off]. Modifies s (splits it at commas). */
int cli_parse_disk(char *s, struct vmm_disk *d, char *err, size_t errlen);
/*
 * One --net value: user[,hostfwd=...][,host-loopback=on|off][,restrict=on|off], tap=NAME[,queues=N] or stream=PATH, each
 * [,mac=MAC]. Modifies s; a user NIC's forwards go in fwd[0..VMM_MAX_HOSTFWD) (n->hostfwd points there).
 */
int cli_parse_net(char *s, struct vmm_net *n, struct vmm_hostfwd *fwd, char *err, size_t errlen);
/* The --vsock value: cid=N,uds=PATH (both required; PATH without commas). Modifies s. */
int cli_parse_vsock(char *s, unsigned *cid, const char **uds, char *err, size_t errlen);
/* One --fs value: tag=TAG,socket=PATH[,queues=N]. Modifies s. */
int cli_parse_fs(char *s, struct vmm_fs *f, char *err, size_t errlen);
const char *cli_usage(void);

#endif
