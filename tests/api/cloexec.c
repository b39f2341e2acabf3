// SPDX-License-Identifier: Apache-2.0
/*
 * api.cloexec: every file descriptor the library opens has FD_CLOEXEC, so a program that runs a VM
 * and spawns a child leaks none of them: a child shell sees only 0, 1, 2 (and what ls opens).
 * The VM has a disk, so the disk, io_uring and virtio eventfds are covered too.
 * Usage: api_cloexec PAYLOAD_ELF
 */
#define _GNU_SOURCE /* pipe2, mkostemp */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

#define MAX_FD 4096

static bool ours[MAX_FD]; /* open before the library ran: the test's own (or inherited from ctest) */

static void note_own_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	REQUIRE(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name);

		if (e->d_name[0] != '.' && fd >= 0 && fd < MAX_FD && fd != dirfd(d))
			ours[fd] = true;
	}
	closedir(d);
}

/* Every fd >= 3 that is not the test's own must have FD_CLOEXEC; returns how many were looked at. */
static int check_fds(const char *when)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	REQUIRE(d);
	while ((e = readdir(d)) != NULL) {
		int fd = atoi(e->d_name), flags;
		char path[64], target[256] = "?";
		ssize_t len;

		if (e->d_name[0] == '.' || fd < 3 || fd == dirfd(d) || (fd < MAX_FD && ours[fd]))
			continue;
		n++;
		flags = fcntl(fd, F_GETFD);
		if (flags >= 0 && (flags & FD_CLOEXEC))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		len = readlink(path, target, sizeof(target) - 1);
		if (len >= 0)
			target[len] = '\0';
		fprintf(stderr, "FAIL: %s: fd %d (%s) has no FD_CLOEXEC (F_GETFD = %d)\n", when, fd, target, flags);
		api_failures++;
	}
	closedir(d);
	printf("%s: %d library fds, all checked\n", when, n);
	return n;
}

/* Run sh -c 'ls /proc/self/fd' and check it lists 0, 1, 2 and at most one more (ls's directory). */
static void check_child(void)
{
	int pipefd[2], status, extra = 0;
	char out[4096];
	size_t len = 0;
	ssize_t r;
	pid_t pid;

	/* The test's own descriptors are not the library's business: keep them from the child too. */
	for (int fd = 3; fd < MAX_FD; fd++)
		if (ours[fd])
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	REQUIRE(pipe2(pipefd, O_CLOEXEC) == 0);
	pid = fork();
	REQUIRE(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1); /* dup2 clears FD_CLOEXEC on 1 */
		execl("/bin/sh", "sh", "-c", "ls /proc/self/fd", (char *)NULL);
		_exit(127);
	}
	close(pipefd[1]);
	while (len < sizeof(out) - 1 && (r = read(pipefd[0], out + len, sizeof(out) - 1 - len)) > 0)
		len += (size_t)r;
	out[len] = '\0';
	close(pipefd[0]);
	REQUIRE(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);

	for (char *tok = strtok(out, " \n"); tok; tok = strtok(NULL, " \n")) {
		int fd = atoi(tok);

		if (fd > 2)
			extra++;
	}
	printf("the child sees 0, 1, 2 and %d more fd(s)\n", extra);
	if (extra > 1) {
		fprintf(stderr, "FAIL: the child inherited %d descriptor(s) beyond 0, 1, 2 and ls's own\n", extra - 1);
		api_failures++;
	}
}

int main(int argc, char **argv)
{
	struct vmm_config cfg;
	struct capture con;
	struct vmm_disk disk = { 0 };
	char img[] = "/tmp/vmm-api-cloexec-XXXXXX";
	enum vmm_exit_reason why;
	struct vmm *vm;
	int imgfd;

	REQUIRE(argc == 2);
	setvbuf(stdout, NULL, _IOLBF, 0);
	api_need_kvm("api.cloexec");
	imgfd = mkostemp(img, O_CLOEXEC);
	REQUIRE(imgfd >= 0);
	REQUIRE(ftruncate(imgfd, 1 << 20) == 0);
	close(imgfd);
	note_own_fds();

	capture_init(&con);
	api_payload_config(&cfg, argv[1], "payload=hang", 2, &con, NULL, NULL);
	cfg.log_level = VMM_LOG_WARN;
	disk.path = img;
	cfg.disks = &disk;
	cfg.ndisks = 1;
	REQUIRE(vmm_create(&cfg, &vm) == 0);
	CHECK(check_fds("created") > 0);
	CHECK_EQ(vmm_start(vm), 0);
	CHECK(capture_wait(&con, "payload: spinning forever", 30000));
	CHECK(check_fds("running") > 0);
	check_child();

	CHECK_EQ(vmm_request_stop(vm, 0), 0);
	CHECK_EQ(vmm_wait(vm, 30000, &why), 0);
	CHECK_EQ(vmm_destroy(vm), 0);
	capture_destroy(&con);
	unlink(img);
	return api_result("api.cloexec");
}
