/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A raw disk image: a regular file or a block device, opened once, locked against a second
 * user (flock), with its size, block sizes and what fallocate() can do on it. The device models
 * (virtio-blk) do the I/O on fd themselves through the event loop.
 */
#ifndef VMM_DISK_H
#define VMM_DISK_H

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

struct disk {
	int fd;               /* O_DIRECT when direct */
	int fd_buffered;      /* the same file without O_DIRECT (== fd unless direct) */
	char *path;           /* for messages */
	uint64_t size;        /* bytes */
	unsigned lbs;         /* logical block size: 512, or the block device's */
	unsigned pbs;         /* physical block size (>= lbs) */
	unsigned dio_align;   /* with direct: file offsets, lengths and buffer addresses aligned to this use fd */
	bool readonly;
	bool direct;
	bool block_device;
	bool can_discard;     /* fallocate(PUNCH_HOLE | KEEP_SIZE) */
	bool can_write_zeroes; /* fallocate(ZERO_RANGE | KEEP_SIZE) */
};

/*
 * Open path read-only or read-write, with O_DIRECT when direct (falling back to buffered I/O
 * with a warning when the file system refuses it). 0 or -errno with one message through log:
 * not a regular file or block device, cannot open, "in use by another process".
 */
int disk_open(const char *path, bool readonly, bool direct, const struct vlog *log, struct disk **out);
/* Close the descriptors (dropping the lock) and free d. NULL is a no-op. */
void disk_close(struct disk *d);

#endif
