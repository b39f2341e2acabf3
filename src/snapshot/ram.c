// SPDX-License-Identifier: Apache-2.0
/* Writing guest RAM into a snapshot's memory file, skipping zero pages (memory.h). */
#include "snapshot/ram.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#define PAGE 4096u
#define MAX_RUN (1u << 20) /* one pwrite covers at most this many bytes */

static int is_zero_page(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)(const void *)p;
	uint64_t acc = 0;

	for (unsigned i = 0; i < PAGE / 8; i += 8) {
		acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
		if (acc)
			return 0;
	}
	return 1;
}

static int write_all(int fd, const uint8_t *p, size_t len, uint64_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, p, len, (off_t)off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		off += (uint64_t)n;
		len -= (size_t)n;
	}
	return 0;
}

int snap_mem_write(const struct guest_mem *m, int fd, uint64_t *written)
{
	const uint8_t *base = m->map;
	uint64_t size = m->map_size, run = 0, start = 0;
	int ret;

	*written = 0;
	if (!base || (size & (PAGE - 1)))
		return -EINVAL;
	if (ftruncate(fd, (off_t)size) < 0) /* the holes: the file reads zero where nothing is written */
		return -errno;
	for (uint64_t off = 0; off <= size; off += PAGE) {
		bool zero = off == size || is_zero_page(base + off);

		if (!zero && run == 0)
			start = off;
		if (!zero)
			run += PAGE;
		if (run && (zero || run == MAX_RUN)) {
			ret = write_all(fd, base + start, run, start);
			if (ret)
				return ret;
			*written += run;
			run = 0;
		}
	}
	return 0;
}
