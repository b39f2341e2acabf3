/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Guest RAM: its layout around the 32-bit MMIO hole, and the ONLY way to touch
 * it. Every accessor checks the whole range [gpa, gpa + len) for overflow and
 * bounds and fails (NULL / -EFAULT) rather than return a wild pointer.
 */
#ifndef VMM_MEMORY_H
#define VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GMEM_MAX_REGIONS 4
#if defined(__aarch64__)
/* arm64: one region of RAM from 1 GiB (arm64/layout.h); the devices live below it. */
#define GMEM_RAM_BASE 0x40000000ull
#define GMEM_HOLE_START UINT64_MAX    /* no hole: RAM is never split */
#define GMEM_HOLE_END UINT64_MAX
#else
/* x86_64: RAM from 0, split around the 32-bit MMIO hole. */
#define GMEM_RAM_BASE 0ull
#define GMEM_HOLE_START 0xC0000000ull /* 3 GiB: start of the 32-bit MMIO hole */
#define GMEM_HOLE_END 0x100000000ull  /* 4 GiB: RAM continues here */
#endif

struct gmem_region {
	uint64_t gpa;
	uint64_t size;
	uint8_t *hva;
};

struct guest_mem {
	struct gmem_region r[GMEM_MAX_REGIONS];
	int nr;
	uint64_t ram_size; /* sum of region sizes */
	void *map;         /* one mmap backing every region (NULL for caller-owned regions) */
	size_t map_size;
	bool shared;       /* gmem_init_memfd(): map is fd, offset 0, mapped shared */
	int fd;            /* the memfd when shared (a vhost-user backend maps it too); else unused */
};

/* Map ram_size bytes of anonymous memory, laid out from GMEM_RAM_BASE around the hole (if any). */
int gmem_init(struct guest_mem *m, uint64_t ram_size);
/*
 * The same, with the contents of fd (at least ram_size bytes: a snapshot's memory file, regions
 * in guest-physical order, back to back) mapped privately: pages load on first touch and writes
 * are never seen by the file or by another VM mapping it. fd -1: anonymous (gmem_init()).
 */
int gmem_init_file(struct guest_mem *m, uint64_t ram_size, int fd);
/*
 * The same layout on a memfd mapped shared (m->shared, m->fd), sealed against shrinking and
 * growing, so another process (a vhost-user backend) can map the guest's RAM: region i lies at
 * offset r[i].hva - map in fd. gmem_destroy() closes the fd.
 */
int gmem_init_memfd(struct guest_mem *m, uint64_t ram_size);
/* Use caller-owned memory as one region (unit tests, fake guests). */
int gmem_add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, void *hva);
void gmem_destroy(struct guest_mem *m);

/* Host pointer for [gpa, gpa + len) when the whole range lies in one region; else NULL. */
void *gmem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
int gmem_read(const struct guest_mem *m, uint64_t gpa, void *dst, size_t len);
int gmem_write(const struct guest_mem *m, uint64_t gpa, const void *src, size_t len);
/* Highest guest-physical address + 1 covered by RAM below the MMIO hole (the end of RAM on arm64). */
uint64_t gmem_low_end(const struct guest_mem *m);

#endif
