// SPDX-License-Identifier: Apache-2.0
#define _GNU_SOURCE /* memfd_create, F_ADD_SEALS */
#include "memory.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int gmem_add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, void *hva)
{
	uint64_t end;

	if (m->nr >= GMEM_MAX_REGIONS || size == 0 || !hva)
		return -EINVAL;
	if (__builtin_add_overflow(gpa, size, &end))
		return -EINVAL;
	for (int i = 0; i < m->nr; i++) {
		if (gpa < m->r[i].gpa + m->r[i].size && m->r[i].gpa < end)
			return -EEXIST;
	}
	m->r[m->nr++] = (struct gmem_region){ .gpa = gpa, .size = size, .hva = hva };
	m->ram_size += size;
	return 0;
}

#define HUGE_ALIGN (2ull << 20)

/* Anonymous guest RAM whose start is 2 MiB aligned (so huge pages line up with guest-physical ones). NULL + errno. */
static void *map_aligned(uint64_t size)
{
	uint64_t len = size + HUGE_ALIGN, start, head;
	uint8_t *p;

	if (len < size) {
		errno = ENOMEM;
		return NULL;
	}
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	start = ((uint64_t)(uintptr_t)p + HUGE_ALIGN - 1) & ~(HUGE_ALIGN - 1);
	head = start - (uint64_t)(uintptr_t)p;
	if (head)
		munmap(p, head);
	if (len - head > size)
		munmap(p + head + size, len - head - size);
	return p + head;
}

int gmem_init(struct guest_mem *m, uint64_t ram_size)
{
	return gmem_init_file(m, ram_size, -1);
}

/* Lay the ram_size bytes at p out as the guest's RAM: from GMEM_RAM_BASE, continued above the hole. */
static int add_ram_regions(struct guest_mem *m, uint8_t *p, uint64_t ram_size)
{
	uint64_t room = GMEM_HOLE_START - GMEM_RAM_BASE, low = ram_size < room ? ram_size : room;
	int ret = gmem_add_region(m, GMEM_RAM_BASE, low, p);

	if (!ret && ram_size > low)
		ret = gmem_add_region(m, GMEM_HOLE_END, ram_size - low, p + low);
	return ret;
}

int gmem_init_file(struct guest_mem *m, uint64_t ram_size, int fd)
{
	void *p;
	int ret;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || (ram_size & 0xfff))
		return -EINVAL;
	p = map_aligned(ram_size);
	if (!p)
		return -errno;
	m->map = p;
	m->map_size = ram_size;
	/*
	 * A snapshot's memory file replaces the anonymous pages, copy-on-write: a page is read from the
	 * file (the page cache) when the guest first touches it, and what the guest writes stays ours.
	 */
	if (fd >= 0 && mmap(p, ram_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd, 0) ==
			       MAP_FAILED) {
		ret = -errno;
		gmem_destroy(m);
		return ret;
	}
	/* Guest RAM is never in a core dump of ours, and never shared with a forked child. */
	madvise(p, ram_size, MADV_DONTDUMP);
	madvise(p, ram_size, MADV_DONTFORK);
	/*
	 * Transparent huge pages where the host offers them (Debian's default is "madvise"): a guest
	 * touching its RAM costs one fault (and one nested-paging entry) per 2 MiB instead of per 4 KiB.
	 * Nothing is touched here; EINVAL (a kernel without THP) changes nothing.
	 */
	madvise(p, ram_size, MADV_HUGEPAGE);

	ret = add_ram_regions(m, p, ram_size);
	if (ret) {
		gmem_destroy(m);
		return ret;
	}
	return 0;
}

int gmem_init_memfd(struct guest_mem *m, uint64_t ram_size)
{
	void *p;
	int fd, ret;

	memset(m, 0, sizeof(*m));
	if (ram_size == 0 || (ram_size & 0xfff))
		return -EINVAL;
	fd = memfd_create("vmm-guest-ram", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	/* Sealed: a backend that maps it can trust its size (no SIGBUS from a file that shrank). */
	if (ftruncate(fd, (off_t)ram_size) < 0 || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	p = map_aligned(ram_size);
	if (!p) {
		ret = -errno;
		close(fd);
		return ret;
	}
	m->map = p;
	m->map_size = ram_size;
	m->shared = true;
	m->fd = fd;
	if (mmap(p, ram_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0) == MAP_FAILED) {
		ret = -errno;
		gmem_destroy(m);
		return ret;
	}
	madvise(p, ram_size, MADV_DONTDUMP);
	madvise(p, ram_size, MADV_DONTFORK);
	/* Huge pages for shmem only where the host allows them (shmem_enabled "advise" or more). */
	madvise(p, ram_size, MADV_HUGEPAGE);
	ret = add_ram_regions(m, p, ram_size);
	if (ret) {
		gmem_destroy(m);
		return ret;
	}
	return 0;
}

void gmem_destroy(struct guest_mem *m)
{
	if (m->shared)
		close(m->fd);
	if (m->map)
		munmap(m->map, m->map_size);
	memset(m, 0, sizeof(*m));
}

void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
	uint64_t end;

	if (__builtin_add_overflow(gpa, len, &end))
		return NULL;
	for (int i = 0; i < m->nr; i++) {
		const struct gmem_region *r = &m->r[i];

		if (gpa >= r->gpa && end <= r->gpa + r->size)
			return r->hva + (gpa - r->gpa);
	}
	return NULL;
}

int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len)
{
	const void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(dst, p, len);
	return 0;
}

int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len)
{
	void *p = gmem_ptr(m, gpa, len);

	if (!p)
		return -EFAULT;
	memcpy(p, src, len);
	return 0;
}

uint64_t gmem_low_end(const struct guest_mem *m)
{
	uint64_t end = 0;

	for (int i = 0; i < m->nr; i++) {
		uint64_t e = m->r[i].gpa + m->r[i].size;

		if (m->r[i].gpa < GMEM_HOLE_START && e > end)
			end = e;
	}
	return end;
}
