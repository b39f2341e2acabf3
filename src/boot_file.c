// SPDX-License-Identifier: Apache-2.0
/* Opening the files a boot reads (kernel, initrd). */
#include "boot_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int boot_file_open(const struct vlog *log, const char *what, const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		int ret = -errno;

		vlog_err(log, "cannot open %s '%s': %s", what, path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		vlog_err(log, "%s '%s' is not a regular file", what, path);
		close(fd);
		return -EINVAL;
	}
	if (st.st_size == 0) {
		vlog_err(log, "%s '%s' is empty", what, path);
		close(fd);
		return -ENOEXEC;
	}
	return fd;
}
