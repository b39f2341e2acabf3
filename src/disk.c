// SPDX-License-Identifier: Apache-2.0
/* A raw disk image: open, lock, size and capabilities of a regular file or block device. */
#define _GNU_SOURCE /* O_DIRECT, fallocate(), statx() */
#include "disk.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

static bool pow2_in(unsigned v, unsigned lo, unsigned hi)
{
	return v >= lo && v <= hi && !(v & (v - 1));
}

/* Alignment direct I/O needs on fd: statx when the kernel says, else the block size or a page. */
static unsigned dio_alignment(int fd, const struct disk *d)
{
	struct statx stx;
	unsigned a;

	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) &&
	    stx.stx_dio_offset_align) {
		a = stx.stx_dio_offset_align > stx.stx_dio_mem_align ? stx.stx_dio_offset_align : stx.stx_dio_mem_align;
		if (pow2_in(a, 1, 65536))
			return a < d->lbs ? d->lbs : a;
	}
	return d->block_device ? d->lbs : 4096;
}

/*
 * Can fallocate() punch holes and zero ranges here? Tried past the end of the file (KEEP_SIZE),
 * where it changes nothing a reader can see; a zeroed range there is punched out again.
 */
static void probe_fallocate(struct disk *d)
{
	off_t off = (off_t)((d->size + 4095) & ~4095ull);

	if (d->readonly)
		return;
	if (d->block_device) {
		/* blkdev_fallocate() has both; a device without the support fails that request with EOPNOTSUPP. */
		d->can_discard = d->can_write_zeroes = true;
		return;
	}
	d->can_discard = fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 4096) == 0;
	if (d->can_discard && fallocate(d->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, off, 4096) == 0) {
		d->can_write_zeroes = true;
		fallocate(d->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, off, 4096);
	}
}

static int open_file(const char *path, bool readonly, bool *direct, const struct vlog *log)
{
	int flags = (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC;
	int fd;

	if (*direct) {
		fd = open(path, flags | O_DIRECT);
		if (fd >= 0 || errno != EINVAL)
			return fd < 0 ? -errno : fd;
		vlog_warn(log, "disk '%s': the file system refuses O_DIRECT; using the page cache", path);
		*direct = false;
	}
	fd = open(path, flags);
	return fd < 0 ? -errno : fd;
}

static int get_geometry(struct disk *d, const struct stat *st, const struct vlog *log)
{
	int lbs = 0, pbs = 0;

	if (S_ISREG(st->st_mode)) {
		d->size = (uint64_t)st->st_size;
		d->lbs = 512;
		d->pbs = pow2_in((unsigned)st->st_blksize, 512, 65536) ? (unsigned)st->st_blksize : 512;
		return 0;
	}
	if (!S_ISBLK(st->st_mode)) {
		vlog_err(log, "disk '%s' is not a regular file or a block device", d->path);
		return -EINVAL;
	}
	d->block_device = true;
	if (ioctl(d->fd, BLKGETSIZE64, &d->size) < 0 || ioctl(d->fd, BLKSSZGET, &lbs) < 0) {
		int ret = -errno;

		vlog_err(log, "cannot get the size of block device '%s': %s", d->path, strerror(-ret));
		return ret;
	}
	if (ioctl(d->fd, BLKPBSZGET, &pbs) < 0)
		pbs = lbs;
	d->lbs = pow2_in((unsigned)lbs, 512, 65536) ? (unsigned)lbs : 512;
	d->pbs = pow2_in((unsigned)pbs, d->lbs, 65536) ? (unsigned)pbs : d->lbs;
	return 0;
}

int disk_open(const char *path, bool readonly, bool direct, const struct vlog *log, struct disk **out)
{
	struct disk *d;
	struct stat st;
	int ret;

	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->fd = d->fd_buffered = -1;
	d->readonly = readonly;
	d->path = strdup(path);
	if (!d->path) {
		ret = -ENOMEM;
		goto err;
	}
	ret = open_file(path, readonly, &direct, log);
	if (ret < 0) {
		vlog_err(log, "cannot open disk '%s': %s", path, strerror(-ret));
		goto err;
	}
	d->fd = d->fd_buffered = ret;
	d->direct = direct;
	if (fstat(d->fd, &st) < 0) {
		ret = -errno;
		vlog_err(log, "cannot stat disk '%s': %s", path, strerror(-ret));
		goto err;
	}
	ret = get_geometry(d, &st, log);
	if (ret)
		goto err;
	/* Advisory: a second vmm (or qemu with locking) on the same image is refused, not corrupted. */
	if (flock(d->fd, (readonly ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
		ret = -errno;
		if (ret == -EWOULDBLOCK) {
			vlog_err(log, "disk '%s' is in use by another process", path);
			ret = -EBUSY;
		} else {
			vlog_err(log, "cannot lock disk '%s': %s", path, strerror(-ret));
		}
		goto err;
	}
	if (direct) {
		/* Requests the O_DIRECT fd cannot take (unaligned guest buffers) go through the page cache. */
		bool buffered = false;

		d->dio_align = dio_alignment(d->fd, d);
		ret = open_file(path, readonly, &buffered, log);
		if (ret < 0) {
			vlog_err(log, "cannot open disk '%s': %s", path, strerror(-ret));
			goto err;
		}
		d->fd_buffered = ret;
	}
	probe_fallocate(d);
	*out = d;
	return 0;

err:
	disk_close(d);
	return ret;
}

void disk_close(struct disk *d)
{
	if (!d)
		return;
	if (d->fd_buffered >= 0 && d->fd_buffered != d->fd)
		close(d->fd_buffered);
	if (d->fd >= 0)
		close(d->fd); /* drops the flock */
	free(d->path);
	free(d);
}
