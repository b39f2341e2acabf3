// SPDX-License-Identifier: Apache-2.0
/* The CLI's option parser: sizes, counts, console modes, and the messages for bad input. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli/options.h"
#include "unit.h"

static char err[512];

/* Writable copies of the arguments: the parser may split values in place (--disk), as it may in argv. */
static char argbuf[64][512];

static int parse(struct cli_options *o, const char *const *args)
{
	char *argv[64];
	int argc = 0;

	argv[argc++] = (char *)"vmm";
	while (*args) {
		snprintf(argbuf[argc], sizeof(argbuf[argc]), "%s", *args++);
		argv[argc] = argbuf[argc];
		argc++;
	}
	argv[argc] = NULL;
	err[0] = 0;
	return cli_parse(argc, argv, o, err, sizeof(err));
}

START_TEST(sizes)
{
	uint64_t v;

	ck_assert_int_eq(cli_parse_size("512M", &v), 0);
	ck_assert_uint_eq(v, 512ull << 20);
	ck_assert_int_eq(cli_parse_size("2G", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(cli_parse_size("2GiB", &v), 0);
	ck_assert_uint_eq(v, 2ull << 30);
	ck_assert_int_eq(cli_parse_size("1024", &v), 0); /* bare number: MiB */
	ck_assert_uint_eq(v, 1ull << 30);
	ck_assert_int_eq(cli_parse_size("65536k", &v), 0);
	ck_assert_uint_eq(v, 64ull << 20);
	ck_assert_int_eq(cli_parse_size("0", &v), -ERANGE);
	ck_assert_int_eq(cli_parse_size("10Q", &v), -EINVAL);
	ck_assert_int_eq(cli_parse_size("-1G", &v), -EINVAL);
	ck_assert_int_eq(cli_parse_size("", &v), -EINVAL);
	ck_assert_int_eq(cli_parse_size("1.5G", &v), -EINVAL);
	ck_assert_int_eq(cli_parse_size("G", &v), -EINVAL);
	ck_assert_int_eq(cli_parse_size("99999999999999999999", &v), -EINVAL);
	ck_assert_int_eq(cli_parse_size("99999999999T", &v), -ERANGE);
	ck_assert_int_eq(cli_parse_size("2Gx", &v), -EINVAL);
}
END_TEST

START_TEST(full_command_line)
{
	struct cli_options o;
	const char *args[] = { "--kernel", "bz", "--initrd=ird", "--cmdline", "console=ttyS0 quiet", "--mem", "2G",
			       "--cpus", "4", "--console=file:/tmp/log", "--timeout", "30", "--io-threads", "3", NULL };

	ck_assert_int_eq(parse(&o, args), 0);
	ck_assert_str_eq(o.kernel, "bz");
	ck_assert_str_eq(o.initrd, "ird");
	ck_assert_str_eq(o.cmdline, "console=ttyS0 quiet");
	ck_assert_uint_eq(o.mem_bytes, 2ull << 30);
	ck_assert_uint_eq(o.cpus, 4);
	ck_assert_int_eq(o.console, CLI_CONSOLE_FILE);
	ck_assert_str_eq(o.console_path, "/tmp/log");
	ck_assert_uint_eq(o.timeout_s, 30);
	ck_assert_uint_eq(o.io_threads, 3);
}
END_TEST

START_TEST(defaults)
{
	struct cli_options o;
	const char *args[] = { "-k", "bz", NULL };

	ck_assert_int_eq(parse(&o, args), 0);
	ck_assert_uint_eq(o.mem_bytes, 512ull << 20);
	ck_assert_uint_eq(o.cpus, 1);
	ck_assert_int_eq(o.console, CLI_CONSOLE_STDIO);
	ck_assert_ptr_null(o.cmdline);
	ck_assert_uint_eq(o.timeout_s, 0);
	ck_assert(!o.boot_timer);
	ck_assert(!o.stats);
	ck_assert_uint_eq(o.io_threads, 0); /* the library's default: one */
}
END_TEST

START_TEST(boot_timer_and_stats)
{
	struct cli_options o;
	const char *args[] = { "-k", "bz", "--boot-timer", "--stats", NULL };
	const char *bad[] = { "-k", "bz", "--stats=1", NULL };

	ck_assert_int_eq(parse(&o, args), 0);
	ck_assert(o.boot_timer);
	ck_assert(o.stats);
	ck_assert_int_eq(parse(&o, bad), -EINVAL);
}
END_TEST

/* --seccomp on|off|log: on (a SIGSYS the command reports) unless told otherwise. */
START_TEST(seccomp)
{
	struct cli_options o;
	const char *dflt[] = { "-k", "bz", NULL };
	const char *on[] = { "-k", "bz", "--seccomp", "on", NULL };
	const char *off[] = { "-k", "bz", "--seccomp=off", NULL };
	const char *log[] = { "-k", "bz", "--seccomp=log", NULL };
	const char *bad[][4] = { { "-k", "bz", "--seccomp=kill", NULL }, { "-k", "bz", "--seccomp=", NULL },
				 { "-k", "bz", "--seccomp", NULL } };

	ck_assert_int_eq(parse(&o, dflt), 0);
	ck_assert_int_eq(o.seccomp, VMM_SECCOMP_TRAP);
	ck_assert_int_eq(parse(&o, on), 0);
	ck_assert_int_eq(o.seccomp, VMM_SECCOMP_TRAP);
	ck_assert_int_eq(parse(&o, off), 0);
	ck_assert_int_eq(o.seccomp, VMM_SECCOMP_OFF);
	ck_assert_int_eq(parse(&o, log), 0);
	ck_assert_int_eq(o.seccomp, VMM_SECCOMP_LOG);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(&o, bad[i]), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "--seccomp"));
	}
}
END_TEST

/* --user UID[:GID] and --chroot DIR (which needs --user); root and nonsense refused. */
START_TEST(user_and_chroot)
{
	struct cli_options o;
	const char *one[] = { "-k", "bz", "--user", "65534", NULL };
	const char *two[] = { "-k", "bz", "--user", "1000:100", "--chroot", "/var/empty", NULL };
	const char *bad[][6] = {
		{ "-k", "bz", "--user", "0", NULL },
		{ "-k", "bz", "--user", "1000:0", NULL },
		{ "-k", "bz", "--user", "nobody", NULL },
		{ "-k", "bz", "--user", "4294967295", NULL },
		{ "-k", "bz", "--user", "12:", NULL },
		{ "-k", "bz", "--user", "-5", NULL },
	};
	const char *chroot_alone[] = { "-k", "bz", "--chroot", "/var/empty", NULL };

	ck_assert_int_eq(parse(&o, one), 0);
	ck_assert(o.drop_user);
	ck_assert_uint_eq(o.uid, 65534);
	ck_assert_uint_eq(o.gid, 65534);
	ck_assert_ptr_null(o.chroot_dir);
	ck_assert_int_eq(parse(&o, two), 0);
	ck_assert_uint_eq(o.uid, 1000);
	ck_assert_uint_eq(o.gid, 100);
	ck_assert_str_eq(o.chroot_dir, "/var/empty");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(&o, bad[i]), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "--user"));
	}
	ck_assert_int_eq(parse(&o, chroot_alone), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--chroot needs --user"));
	{
		const char *lim[] = { "-k", "bz", "--rlimit", "nofile=64", NULL };
		const char *badlim[][4] = { { "-k", "bz", "--rlimit", "nofile=8" }, { "-k", "bz", "--rlimit", "fsize=1M" },
					     { "-k", "bz", "--rlimit", "stack=1M" }, { "-k", "bz", "--rlimit", "nofile=" } };

		ck_assert_int_eq(parse(&o, lim), 0);
		ck_assert_uint_eq(o.rlimit_nofile, 64);
		for (size_t i = 0; i < sizeof(badlim) / sizeof(badlim[0]); i++) {
			const char *a[] = { badlim[i][0], badlim[i][1], badlim[i][2], badlim[i][3], NULL };

			ck_assert_int_eq(parse(&o, a), -EINVAL);
			ck_assert_ptr_nonnull(strstr(err, "--rlimit"));
		}
	}
}
END_TEST

/* --snapshot-dir, --snapshot-resume and --restore (which takes the place of --kernel). */
START_TEST(snapshot_and_restore)
{
	struct cli_options o;
	const char *arm[] = { "-k", "bz", "--snapshot-dir", "snap", "--snapshot-resume", NULL };
	const char *restore[] = { "--restore", "snap", "--disk", "d.img", NULL };
	const char *restore_mem[] = { "--restore", "snap", "-m", "1G", "-c", "2", NULL };
	const struct {
		const char *args[6];
		const char *msg;
	} bad[] = {
		{ { "--restore", "snap", "-k", "bz", NULL }, "drop --kernel" },
		{ { "--restore", "snap", "-i", "init.gz", NULL }, "drop --initrd" },
		{ { "--restore", "snap", "-a", "quiet", NULL }, "drop --cmdline" },
		{ { "--restore", "", NULL }, "--restore needs a directory" },
		{ { "-k", "bz", "--snapshot-dir", "", NULL }, "--snapshot-dir needs a directory" },
		{ { "-k", "bz", "--snapshot-resume", NULL }, "--snapshot-resume needs --snapshot-dir" },
		{ { "--snapshot-dir", "snap", NULL }, "no kernel given" },
	};

	ck_assert_int_eq(parse(&o, arm), 0);
	ck_assert_str_eq(o.snapshot_dir, "snap");
	ck_assert(o.snapshot_resume);
	ck_assert_ptr_null(o.restore_dir);
	ck_assert_int_eq(parse(&o, restore), 0);
	ck_assert_str_eq(o.restore_dir, "snap");
	ck_assert_ptr_null(o.kernel);
	ck_assert_uint_eq(o.ndisks, 1);
	ck_assert(!o.mem_given && !o.cpus_given); /* the snapshot's RAM and vCPUs */
	ck_assert_int_eq(parse(&o, restore_mem), 0);
	ck_assert(o.mem_given && o.cpus_given);
	ck_assert_uint_eq(o.mem_bytes, 1ull << 30);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(parse(&o, bad[i].args), -EINVAL);
		ck_assert_msg(strstr(err, bad[i].msg), "case %zu: '%s' lacks '%s'", i, err, bad[i].msg);
	}
}
END_TEST

/* --hvc: a virtio console; on stdio it takes the terminal from the serial port, never shares it. */
START_TEST(hvc)
{
	struct cli_options o;
	const char *none[] = { "-k", "bz", NULL };
	const char *stdio[] = { "-k", "bz", "--hvc=stdio", NULL };
	const char *both[] = { "-k", "bz", "--hvc=stdio", "--console=stdio", NULL };
	const char *file[] = { "-k", "bz", "--hvc=file:/tmp/h", "--console=file:/tmp/s", NULL };
	const char *same[] = { "-k", "bz", "--hvc=file:/tmp/x", "--console=file:/tmp/x", NULL };
	const char *uart_file[] = { "-k", "bz", "--hvc=stdio", "--console=file:/tmp/s", NULL };
	const char *bad[] = { "-k", "bz", "--hvc=tty", NULL };
	const char *empty[] = { "-k", "bz", "--hvc=file:", NULL };

	ck_assert_int_eq(parse(&o, none), 0);
	ck_assert_int_eq(o.hvc, CLI_CONSOLE_NONE);
	ck_assert_int_eq(parse(&o, stdio), 0);
	ck_assert_int_eq(o.hvc, CLI_CONSOLE_STDIO);
	ck_assert_int_eq(o.console, CLI_CONSOLE_NONE);
	ck_assert_int_eq(parse(&o, both), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "cannot share the terminal"));
	ck_assert_int_eq(parse(&o, file), 0);
	ck_assert_str_eq(o.hvc_path, "/tmp/h");
	ck_assert_str_eq(o.console_path, "/tmp/s");
	ck_assert_int_eq(parse(&o, same), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "same file"));
	ck_assert_int_eq(parse(&o, uart_file), 0);
	ck_assert_int_eq(o.console, CLI_CONSOLE_FILE);
	ck_assert_int_eq(parse(&o, bad), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--hvc 'tty' must be stdio, file:PATH or none"));
	ck_assert_int_eq(parse(&o, empty), -EINVAL);
}
END_TEST

START_TEST(bad_input_messages)
{
	struct cli_options o;
	const char *no_kernel[] = { "--mem", "1G", NULL };
	const char *bad_mem[] = { "-k", "bz", "--mem", "10Q", NULL };
	const char *zero_mem[] = { "-k", "bz", "--mem", "0", NULL };
	const char *odd_mem[] = { "-k", "bz", "--mem", "5000B", NULL };
	const char *cpus0[] = { "-k", "bz", "--cpus", "0", NULL };
	const char *cpus65[] = { "-k", "bz", "--cpus", "65", NULL };
	const char *console[] = { "-k", "bz", "--console=tty", NULL };
	const char *unknown[] = { "-k", "bz", "--frobnicate", NULL };
	const char *missing[] = { "-k", NULL };
	const char *extra[] = { "-k", "bz", "stray", NULL };
	const char *timeout[] = { "-k", "bz", "--timeout", "soon", NULL };
	const char *io0[] = { "-k", "bz", "--io-threads", "0", NULL };
	const char *io9[] = { "-k", "bz", "--io-threads=9", NULL };

	ck_assert_int_eq(parse(&o, no_kernel), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--kernel"));
	ck_assert_int_eq(parse(&o, bad_mem), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "'10Q' is not a size"));
	ck_assert_int_eq(parse(&o, zero_mem), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "out of range"));
	ck_assert_int_eq(parse(&o, odd_mem), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "4 KiB"));
	ck_assert_int_eq(parse(&o, cpus0), -EINVAL);
	ck_assert_int_eq(parse(&o, cpus65), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "1 to 64"));
	ck_assert_int_eq(parse(&o, console), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "stdio, file:PATH or none"));
	ck_assert_int_eq(parse(&o, unknown), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--frobnicate"));
	ck_assert_int_eq(parse(&o, missing), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs a value"));
	ck_assert_int_eq(parse(&o, extra), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "stray"));
	ck_assert_int_eq(parse(&o, timeout), -EINVAL);
	ck_assert_int_eq(parse(&o, io0), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "--io-threads '0' must be a number from 1 to 8"));
	ck_assert_int_eq(parse(&o, io9), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "1 to 8"));
	/* Messages are one line. */
	ck_assert_ptr_null(strchr(err, '\n'));
}
END_TEST

START_TEST(help_and_version)
{
	struct cli_options o;
	const char *help[] = { "--help", NULL };
	const char *version[] = { "-V", NULL };

	ck_assert_int_eq(parse(&o, help), 0);
	ck_assert(o.help);
	ck_assert_int_eq(parse(&o, version), 0);
	ck_assert(o.version);
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--timeout"));
}
END_TEST

START_TEST(disks)
{
	struct cli_options o;
	const char *two[] = { "-k", "K", "--disk", "root.img", "--disk", "data.img,ro,serial=DATA-1,direct=on", NULL };
	const char *bad_opt[] = { "-k", "K", "--disk", "x.img,fast", NULL };
	const char *no_path[] = { "-k", "K", "--disk", ",ro", NULL };
	const char *long_serial[] = { "-k", "K", "--disk", "x.img,serial=123456789012345678901", NULL };
	const char *too_many[48] = { "-k", "K" };
	int n = 2;

	ck_assert_int_eq(parse(&o, two), 0);
	ck_assert_uint_eq(o.ndisks, 2);
	ck_assert_str_eq(o.disks[0].path, "root.img");
	ck_assert(!o.disks[0].readonly && !o.disks[0].direct && !o.disks[0].serial);
	ck_assert_str_eq(o.disks[1].path, "data.img");
	ck_assert(o.disks[1].readonly && o.disks[1].direct);
	ck_assert_str_eq(o.disks[1].serial, "DATA-1");
	ck_assert_int_eq(parse(&o, bad_opt), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "fast"));
	ck_assert_int_eq(parse(&o, no_path), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "path"));
	ck_assert_int_eq(parse(&o, long_serial), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "20 bytes"));
	for (int i = 0; i < 17; i++) {
		too_many[n++] = "--disk";
		too_many[n++] = "d.img";
	}
	too_many[n] = NULL;
	ck_assert_int_eq(parse(&o, too_many), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "at most 16"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--disk"));
}
END_TEST

START_TEST(nets)
{
	struct cli_options o;
	const char *two[] = { "-k", "K", "--net", "tap=vmt0", "--net", "tap=vmt1,mac=52:54:00:aa:bb:cc,queues=2", NULL };
	const char *none[] = { "-k", "K", "--net", "none", NULL };
	const char *none_and_tap[] = { "-k", "K", "--net", "none", "--net", "tap=x", NULL };
	const char *no_tap[] = { "-k", "K", "--net", "mac=52:54:00:aa:bb:cc", NULL };
	const char *multicast[] = { "-k", "K", "--net", "tap=x,mac=01:00:5e:00:00:01", NULL };
	const char *bad_mac[] = { "-k", "K", "--net", "tap=x,mac=52:54:00:aa:bb", NULL };
	const char *bad_queues[] = { "-k", "K", "--net", "tap=x,queues=9", NULL };
	const char *long_name[] = { "-k", "K", "--net", "tap=abcdefghijklmnop", NULL };

	ck_assert_int_eq(parse(&o, two), 0);
	ck_assert_uint_eq(o.nnets, 2);
	ck_assert_str_eq(o.nets[0].tap, "vmt0");
	ck_assert(!o.nets[0].has_mac);
	ck_assert_uint_eq(o.nets[0].queue_pairs, 0);
	ck_assert_str_eq(o.nets[1].tap, "vmt1");
	ck_assert(o.nets[1].has_mac);
	ck_assert_uint_eq(o.nets[1].mac[0], 0x52);
	ck_assert_uint_eq(o.nets[1].mac[5], 0xcc);
	ck_assert_uint_eq(o.nets[1].queue_pairs, 2);
	ck_assert_int_eq(parse(&o, none), 0);
	ck_assert_uint_eq(o.nnets, 0);
	ck_assert_int_eq(parse(&o, none_and_tap), -EINVAL);
	ck_assert_int_eq(parse(&o, no_tap), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs a network"));
	ck_assert_int_eq(parse(&o, multicast), -EINVAL);
	ck_assert_int_eq(parse(&o, bad_mac), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "unicast MAC"));
	ck_assert_int_eq(parse(&o, bad_queues), -EINVAL);
	ck_assert_int_eq(parse(&o, long_name), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "15 characters"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--net tap=NAME"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "vhost=on|off"));
}
END_TEST

START_TEST(net_vhost)
{
	struct cli_options o;
	const char *on[] = { "-k", "K", "--net", "tap=t0,vhost=on,queues=2", "--net", "tap=t1,vhost=off", "--net", "tap=t2", NULL };
	const char *stream[] = { "-k", "K", "--net", "stream=/s,vhost=on", NULL };
	const char *user[] = { "-k", "K", "--net", "user,vhost=on", NULL };
	const char *stream_off[] = { "-k", "K", "--net", "stream=/s,vhost=off", NULL };
	const char *bad[] = { "-k", "K", "--net", "tap=t0,vhost=yes", NULL };

	ck_assert_int_eq(parse(&o, on), 0);
	ck_assert_uint_eq(o.nnets, 3);
	ck_assert(o.nets[0].vhost);
	ck_assert_uint_eq(o.nets[0].queue_pairs, 2);
	ck_assert(!o.nets[1].vhost);
	ck_assert(!o.nets[2].vhost);
	ck_assert_int_eq(parse(&o, stream), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "vhost=on is for a tap only"));
	ck_assert_int_eq(parse(&o, user), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "vhost=on is for a tap only"));
	ck_assert_int_eq(parse(&o, stream_off), 0);
	ck_assert_int_eq(parse(&o, bad), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "vhost=on|off"));
}
END_TEST

START_TEST(net_stream)
{
	struct cli_options o;
	char longpath[200] = "stream=/";
	const char *ok[] = { "-k", "K", "--net", "stream=/run/passt.sock", "--net", "stream=s,mac=52:54:00:aa:bb:cc",
			     "--net", "tap=t0", NULL };
	const char *with_queues[] = { "-k", "K", "--net", "stream=/s,queues=2", NULL };
	const char *both[] = { "-k", "K", "--net", "stream=/s,tap=t0", NULL };
	const char *empty[] = { "-k", "K", "--net", "stream=", NULL };
	const char *too_long[] = { "-k", "K", "--net", longpath, NULL };

	ck_assert_int_eq(parse(&o, ok), 0);
	ck_assert_uint_eq(o.nnets, 3);
	ck_assert_int_eq(o.nets[0].backend, VMM_NET_STREAM);
	ck_assert_str_eq(o.nets[0].path, "/run/passt.sock");
	ck_assert_ptr_null(o.nets[0].tap);
	ck_assert(!o.nets[0].has_mac);
	ck_assert_int_eq(o.nets[1].backend, VMM_NET_STREAM);
	ck_assert_str_eq(o.nets[1].path, "s");
	ck_assert(o.nets[1].has_mac);
	ck_assert_uint_eq(o.nets[1].mac[5], 0xcc);
	ck_assert_int_eq(o.nets[2].backend, VMM_NET_TAP);
	ck_assert_ptr_null(o.nets[2].path);
	ck_assert_int_eq(parse(&o, with_queues), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "tap only"));
	ck_assert_int_eq(parse(&o, both), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "takes one of"));
	ck_assert_int_eq(parse(&o, empty), -EINVAL);
	memset(longpath + 8, 'a', 120);
	longpath[128] = '\0';
	ck_assert_int_eq(parse(&o, too_long), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "107 characters"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--net stream=PATH"));
}
END_TEST

START_TEST(net_user)
{
	struct cli_options o;
	const char *ok[] = { "-k", "K", "--net", "user", "--net",
			     "user,hostfwd=tcp:127.0.0.1:2222-:22,hostfwd=udp::5353-10.0.2.16:53,host-loopback=off,restrict=on",
			     "--net", "user,hostfwd=::8080-:80", NULL };
	const char *bad[][5] = {
		{ "-k", "K", "--net", "user,hostfwd=tcp:127.0.0.1:0-:22", NULL },  /* port 0 */
		{ "-k", "K", "--net", "user,hostfwd=tcp:127.0.0.1:70000-:22", NULL },
		{ "-k", "K", "--net", "user,hostfwd=sctp::1-:2", NULL },
		{ "-k", "K", "--net", "user,hostfwd=tcp:1-:2", NULL },             /* no HOSTADDR field */
		{ "-k", "K", "--net", "user,hostfwd=tcp::1:2", NULL },             /* no '-' */
		{ "-k", "K", "--net", "user,hostfwd=", NULL },
		{ "-k", "K", "--net", "user,queues=2", NULL },
		{ "-k", "K", "--net", "user,tap=t0", NULL },
		{ "-k", "K", "--net", "tap=t0,hostfwd=tcp::1-:2", NULL },         /* forwards need user */
		{ "-k", "K", "--net", "stream=/s,restrict=on", NULL },
		{ "-k", "K", "--net", "user,host-loopback=maybe", NULL },
	};
	char many[40 + VMM_MAX_HOSTFWD * 24] = "user";
	const char *too_many[] = { "-k", "K", "--net", many, NULL };

	ck_assert_int_eq(parse(&o, ok), 0);
	ck_assert_uint_eq(o.nnets, 3);
	ck_assert_int_eq(o.nets[0].backend, VMM_NET_USER);
	ck_assert_uint_eq(o.nets[0].nhostfwd, 0);
	ck_assert(!o.nets[0].no_host_loopback && !o.nets[0].restricted);
	ck_assert_uint_eq(o.nets[1].nhostfwd, 2);
	ck_assert_ptr_eq(o.nets[1].hostfwd, o.hostfwd[1]);
	ck_assert(o.nets[1].no_host_loopback && o.nets[1].restricted);
	ck_assert(!o.hostfwd[1][0].udp);
	ck_assert_str_eq(o.hostfwd[1][0].host_addr, "127.0.0.1");
	ck_assert_uint_eq(o.hostfwd[1][0].host_port, 2222);
	ck_assert_ptr_null(o.hostfwd[1][0].guest_addr);
	ck_assert_uint_eq(o.hostfwd[1][0].guest_port, 22);
	ck_assert(o.hostfwd[1][1].udp);
	ck_assert_ptr_null(o.hostfwd[1][1].host_addr);
	ck_assert_str_eq(o.hostfwd[1][1].guest_addr, "10.0.2.16");
	ck_assert_uint_eq(o.hostfwd[1][1].guest_port, 53);
	ck_assert(!o.hostfwd[2][0].udp); /* no protocol: TCP */
	ck_assert_uint_eq(o.hostfwd[2][0].host_port, 8080);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = 0;
		ck_assert_msg(parse(&o, bad[i]) == -EINVAL, "accepted %s", bad[i][3]);
		ck_assert_msg(err[0] && !strchr(err, '\n'), "no one-line message for %s", bad[i][3]);
	}
	for (int i = 0; i <= VMM_MAX_HOSTFWD; i++)
		snprintf(many + strlen(many), sizeof(many) - strlen(many), ",hostfwd=tcp::%d-:80", 1000 + i);
	ck_assert_int_eq(parse(&o, too_many), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "at most 16"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--net user"));
}
END_TEST

START_TEST(vsock)
{
	struct cli_options o;
	const char *ok[] = { "-k", "K", "--vsock", "cid=42,uds=/tmp/v.sock", NULL };
	const char *low[] = { "-k", "K", "--vsock", "cid=2,uds=/tmp/v.sock", NULL };
	const char *high[] = { "-k", "K", "--vsock", "cid=4294967295,uds=/tmp/v.sock", NULL };
	const char *no_uds[] = { "-k", "K", "--vsock", "cid=3", NULL };
	const char *junk[] = { "-k", "K", "--vsock", "cid=3,uds=x,port=1", NULL };

	ck_assert_int_eq(parse(&o, ok), 0);
	ck_assert_uint_eq(o.vsock_cid, 42);
	ck_assert_str_eq(o.vsock_uds, "/tmp/v.sock");
	ck_assert_int_eq(parse(&o, low), -EINVAL);
	ck_assert_int_eq(parse(&o, high), -EINVAL);
	ck_assert_int_eq(parse(&o, no_uds), -EINVAL);
	ck_assert_int_eq(parse(&o, junk), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "port=1"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--vsock"));
}
END_TEST

START_TEST(shared_folders)
{
	struct cli_options o;
	const char *ok[] = { "-k", "K", "--fs", "tag=share,socket=/tmp/vfs.sock", "--fs",
			     "socket=/run/b.sock,queues=4,tag=0123456789012345678901234567890123456789012345"
			     "678901234567890123456789012345678901234567890123456789012345", NULL };
	const char *ok2[] = { "-k", "K", "--fs", "tag=share,socket=/tmp/vfs.sock", "--fs",
			      "socket=/run/b.sock,queues=8,tag=012345678901234567890123456789012345", NULL };
	const char *no_socket[] = { "-k", "K", "--fs", "tag=share", NULL };
	const char *no_tag[] = { "-k", "K", "--fs", "socket=/s", NULL };
	const char *bad_queues[] = { "-k", "K", "--fs", "tag=a,socket=/s,queues=9", NULL };
	const char *zero_queues[] = { "-k", "K", "--fs", "tag=a,socket=/s,queues=0", NULL };
	const char *unknown[] = { "-k", "K", "--fs", "tag=a,socket=/s,dax=on", NULL };
	const char *twice[] = { "-k", "K", "--fs", "tag=a,socket=/s", "--fs", "tag=a,socket=/t", NULL };
	const char *five[] = { "-k", "K", "--fs", "tag=a,socket=/s", "--fs", "tag=b,socket=/s", "--fs", "tag=c,socket=/s",
			       "--fs", "tag=d,socket=/s", "--fs", "tag=e,socket=/s", NULL };

	ck_assert_int_eq(parse(&o, ok), -EINVAL); /* a tag of 108 bytes */
	ck_assert_ptr_nonnull(strstr(err, "longer than 36 bytes"));
	ck_assert_int_eq(parse(&o, ok2), 0);
	ck_assert_uint_eq(o.nfs, 2);
	ck_assert_str_eq(o.fs[0].tag, "share");
	ck_assert_str_eq(o.fs[0].socket, "/tmp/vfs.sock");
	ck_assert_uint_eq(o.fs[0].queues, 0);
	ck_assert_str_eq(o.fs[1].tag, "012345678901234567890123456789012345"); /* 36 bytes: the most */
	ck_assert_str_eq(o.fs[1].socket, "/run/b.sock");
	ck_assert_uint_eq(o.fs[1].queues, 8);
	ck_assert_int_eq(parse(&o, no_socket), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "needs both"));
	ck_assert_int_eq(parse(&o, no_tag), -EINVAL);
	ck_assert_int_eq(parse(&o, bad_queues), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "1 to 8"));
	ck_assert_int_eq(parse(&o, zero_queues), -EINVAL);
	ck_assert_int_eq(parse(&o, unknown), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "dax=on"));
	ck_assert_int_eq(parse(&o, twice), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "given twice"));
	ck_assert_int_eq(parse(&o, five), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "at most 4"));
	ck_assert_ptr_nonnull(strstr(cli_usage(), "--fs tag=TAG,socket=PATH"));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("options");
	TCase *tc = tcase_create("options");

	tcase_add_test(tc, sizes);
	tcase_add_test(tc, full_command_line);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, hvc);
	tcase_add_test(tc, bad_input_messages);
	tcase_add_test(tc, help_and_version);
	tcase_add_test(tc, disks);
	tcase_add_test(tc, nets);
	tcase_add_test(tc, net_vhost);
	tcase_add_test(tc, net_stream);
	tcase_add_test(tc, net_user);
	tcase_add_test(tc, shared_folders);
	tcase_add_test(tc, boot_timer_and_stats);
	tcase_add_test(tc, seccomp);
	tcase_add_test(tc, user_and_chroot);
	tcase_add_test(tc, snapshot_and_restore);
	tcase_add_test(tc, vsock);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
