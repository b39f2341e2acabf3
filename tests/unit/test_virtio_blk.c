// SPDX-License-Identifier: Apache-2.0
/* virtio-blk end to end without KVM: a fake guest RAM and driver, a temp-file disk, a real I/O thread. */
#define _GNU_SOURCE /* mkostemp */
#include <check.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/virtio_blk.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "disk.h"
#include "event_loop.h"
#include "memory.h"
#include "virtio/blk.h"
#include "virtio/blk_req.h" /* the device's in-flight state, for the ordering checks */
#include "guest_flood.h"
#include "unit.h"
#include "virtq_driver.h"

#define DISK_SIZE (4u << 20)
#define SERIAL "vmm-serial-0001"

static const struct vlog quiet = { .level = VMM_LOG_ERROR };

struct drv {
	struct virtq_driver vd;
	struct disk *disk;
	char path[64];
};

static void setup(struct drv *d, bool ro, bool direct, unsigned nq)
{
	struct virtio_blk_config_opts o = { .serial = SERIAL, .num_queues = nq };
	int fd;

	memset(d, 0, sizeof(*d));
	snprintf(d->path, sizeof(d->path), "/tmp/vmm-test-blk-XXXXXX");
	fd = mkostemp(d->path, O_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	ck_assert_int_eq(disk_open(d->path, ro, direct, &quiet, &d->disk), 0);
	vqd_init(&d->vd, &quiet);
	ck_assert_int_eq(virtio_blk_create(d->disk, &o, &quiet, &d->vd.dev), 0);
	ck_assert_uint_eq(virtio_blk_ops.num_queues(d->vd.dev), nq);
	vqd_start(&d->vd, &virtio_blk_ops, nq, virtio_blk_ops.features(d->vd.dev));
}

static void teardown(struct drv *d)
{
	vqd_teardown(&d->vd);
	disk_close(d->disk);
	unlink(d->path);
}

static uint64_t header(struct drv *d, uint32_t type, uint64_t sector)
{
	uint64_t g = vqd_alloc(&d->vd, 16);
	struct virtio_blk_outhdr h = { .type = htole32(type), .sector = htole64(sector) };

	memcpy(d->vd.ram + g, &h, sizeof(h));
	return g;
}

/* Submit one chain on q and wait for it; returns the status byte (0xee if untouched). */
static uint8_t run_chain(struct drv *d, unsigned q, struct vqd_buf *b, unsigned n, uint64_t status_gpa, uint32_t *len)
{
	uint16_t head, idx;

	if (status_gpa)
		d->vd.ram[status_gpa] = 0xee;
	head = vqd_add_chain(&d->vd, q, b, n);
	vqd_kick(&d->vd, q);
	vqd_wait_used(&d->vd, q, d->vd.avail_idx[q]);
	idx = (uint16_t)(d->vd.avail_idx[q] - 1) % VQD_QSIZE;
	ck_assert_uint_eq(le32toh(vqd_used(&d->vd, q)->ring[idx].id), head);
	if (len)
		*len = le32toh(vqd_used(&d->vd, q)->ring[idx].len);
	return status_gpa ? d->vd.ram[status_gpa] : 0xee;
}

/* A plain request: header, one data buffer (or none), status. */
static uint8_t req(struct drv *d, unsigned q, uint32_t type, uint64_t sector, uint64_t data, uint32_t dlen,
		   bool dwrite, uint32_t *len)
{
	struct vqd_buf b[3];
	uint64_t st = vqd_alloc(&d->vd, 1);
	unsigned n = 0;

	b[n++] = (struct vqd_buf){ header(d, type, sector), 16, false };
	if (dlen)
		b[n++] = (struct vqd_buf){ data, dlen, dwrite };
	b[n++] = (struct vqd_buf){ st, 1, true };
	return run_chain(d, q, b, n, st, len);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

START_TEST(write_then_read_back)
{
	struct drv d;
	uint64_t src, dst, st;
	uint8_t file[4096];
	uint32_t len;
	struct vqd_buf b[5];

	setup(&d, false, false, 1);
	src = vqd_alloc(&d.vd, 4096);
	dst = vqd_alloc(&d.vd, 4096);
	fill(d.vd.ram + src, 4096, 1);
	/* Data split into uneven buffers: only the total must be a multiple of 512. */
	st = vqd_alloc(&d.vd, 1);
	b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_OUT, 10), 16, false };
	b[1] = (struct vqd_buf){ src, 100, false };
	b[2] = (struct vqd_buf){ src + 100, 3000, false };
	b[3] = (struct vqd_buf){ src + 3100, 996, false };
	b[4] = (struct vqd_buf){ st, 1, true };
	ck_assert_uint_eq(run_chain(&d, 0, b, 5, st, &len), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(len, 1);
	/* The bytes are really in the file. */
	ck_assert_int_eq(pread(d.disk->fd, file, sizeof(file), 10 * 512), 4096);
	ck_assert_mem_eq(file, d.vd.ram + src, 4096);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 10, dst, 4096, true, &len), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(len, 4097);
	ck_assert_mem_eq(d.vd.ram + dst, d.vd.ram + src, 4096);
	ck_assert_int_ge(atomic_load(&d.vd.irqs[0]), 1);
	/* The last sector of the disk is reachable; one past it is not. */
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, dst, 512, true, NULL), VIRTIO_BLK_S_OK);
	teardown(&d);
}
END_TEST

START_TEST(get_id_and_flush)
{
	struct drv d;
	uint64_t id;
	uint32_t len;
	char want[VIRTIO_BLK_ID_BYTES] = SERIAL;

	setup(&d, false, false, 1);
	id = vqd_alloc(&d.vd, 64);
	memset(d.vd.ram + id, 0xaa, 64);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_GET_ID, 0, id, VIRTIO_BLK_ID_BYTES, true, &len), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(len, VIRTIO_BLK_ID_BYTES + 1);
	ck_assert_mem_eq(d.vd.ram + id, want, VIRTIO_BLK_ID_BYTES); /* NUL padded */
	ck_assert_uint_eq(d.vd.ram[id + VIRTIO_BLK_ID_BYTES], 0xaa);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, &len), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(len, 1);
	teardown(&d);
}
END_TEST

static uint8_t seg_req(struct drv *d, uint32_t type, uint64_t sector, uint32_t num, uint32_t flags)
{
	uint64_t g = vqd_alloc(&d->vd, 16);
	struct virtio_blk_discard_write_zeroes s = {
		.sector = htole64(sector), .num_sectors = htole32(num), .flags = htole32(flags)
	};

	memcpy(d->vd.ram + g, &s, sizeof(s));
	return req(d, 0, type, 0, g, 16, false, NULL);
}

START_TEST(discard_and_write_zeroes)
{
	struct drv d;
	uint8_t pat[65536];
	struct stat st1, st2;
	uint64_t dst;

	setup(&d, false, false, 1);
	ck_assert(virtio_blk_ops.features(d.vd.dev) & (1ull << VIRTIO_BLK_F_DISCARD));
	ck_assert(virtio_blk_ops.features(d.vd.dev) & (1ull << VIRTIO_BLK_F_WRITE_ZEROES));
	fill(pat, sizeof(pat), 3);
	ck_assert_int_eq(pwrite(d.disk->fd, pat, sizeof(pat), 131072), (ssize_t)sizeof(pat));
	ck_assert_int_eq(fsync(d.disk->fd), 0);
	ck_assert_int_eq(fstat(d.disk->fd, &st1), 0);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_DISCARD, 256, 128, 0), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(fstat(d.disk->fd, &st2), 0);
	ck_assert_int_lt(st2.st_blocks, st1.st_blocks); /* blocks freed */
	/* Unmap is not allowed on discard; unknown flags never. */
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_DISCARD, 256, 8, 1), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 256, 8, 2), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_DISCARD, DISK_SIZE / 512 - 4, 8, 0), VIRTIO_BLK_S_IOERR);

	/* Write zeroes, with and without unmap, reads back zeros. */
	for (uint32_t flags = 0; flags <= 1; flags++) {
		ck_assert_int_eq(pwrite(d.disk->fd, pat, 8192, 1 << 20), 8192);
		ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, (1 << 20) / 512, 16, flags),
				  VIRTIO_BLK_S_OK);
		dst = vqd_alloc(&d.vd, 8192);
		memset(d.vd.ram + dst, 0x55, 8192);
		ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, (1 << 20) / 512, dst, 8192, true, NULL),
				  VIRTIO_BLK_S_OK);
		for (unsigned i = 0; i < 8192; i++)
			ck_assert_uint_eq(d.vd.ram[dst + i], 0);
	}
	teardown(&d);
}
END_TEST

/* Zero-length segments are no-ops that succeed; the others in the request are still done. */
START_TEST(zero_length_segments)
{
	struct drv d;
	struct virtio_blk_discard_write_zeroes segs[2] = {
		{ .sector = htole64(64), .num_sectors = 0 },
		{ .sector = htole64(72), .num_sectors = htole32(8) },
	};
	uint8_t pat[8192], back[8192];
	uint64_t g;

	setup(&d, false, false, 1);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_DISCARD, 256, 0, 0), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 256, 0, 0), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, DISK_SIZE / 512, 0, 1), VIRTIO_BLK_S_OK);
	/* Past the end is still out of range, and unknown flags still UNSUPP, even with no sectors. */
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_DISCARD, DISK_SIZE / 512 + 1, 0, 0), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(seg_req(&d, VIRTIO_BLK_T_WRITE_ZEROES, 256, 0, 4), VIRTIO_BLK_S_UNSUPP);
	/* An empty segment before a real one. */
	fill(pat, sizeof(pat), 5);
	ck_assert_int_eq(pwrite(d.disk->fd, pat, sizeof(pat), 64 * 512), (ssize_t)sizeof(pat));
	g = vqd_alloc(&d.vd, sizeof(segs));
	memcpy(d.vd.ram + g, segs, sizeof(segs));
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_WRITE_ZEROES, 0, g, sizeof(segs), false, NULL), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(pread(d.disk->fd, back, sizeof(back), 64 * 512), (ssize_t)sizeof(back));
	ck_assert_mem_eq(back, pat, 4096); /* sectors 64..71 untouched */
	for (unsigned i = 4096; i < sizeof(back); i++) /* 72..79 zeroed */
		ck_assert_uint_eq(back[i], 0);
	teardown(&d);
}
END_TEST

START_TEST(read_only_disk)
{
	struct drv d;
	uint64_t buf;

	setup(&d, true, false, 1);
	ck_assert(virtio_blk_ops.features(d.vd.dev) & (1ull << VIRTIO_BLK_F_RO));
	ck_assert(!(virtio_blk_ops.features(d.vd.dev) & (1ull << VIRTIO_BLK_F_DISCARD)));
	buf = vqd_alloc(&d.vd, 512);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, 0, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 512, true, NULL), VIRTIO_BLK_S_OK);
	teardown(&d);
}
END_TEST

START_TEST(out_of_range)
{
	struct drv d;
	uint64_t buf;

	setup(&d, false, false, 1);
	buf = vqd_alloc(&d.vd, 1024);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, DISK_SIZE / 512 - 1, buf, 1024, true, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, DISK_SIZE / 512, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, UINT64_MAX, buf, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, UINT64_MAX >> 9, buf, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	teardown(&d);
}
END_TEST

START_TEST(malformed_requests_complete)
{
	struct drv d;
	uint64_t buf, st, hdr;
	uint32_t len;
	struct vqd_buf b[3];

	setup(&d, false, false, 1);
	buf = vqd_alloc(&d.vd, 4096);
	st = vqd_alloc(&d.vd, 1);

	/* Header too short. */
	b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_IN, 0), 8, false };
	b[1] = (struct vqd_buf){ st, 1, true };
	ck_assert_uint_eq(run_chain(&d, 0, b, 2, st, &len), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(len, 1);
	/* No status byte (nothing writable): completed with 0 bytes, nothing touched. */
	b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_OUT, 0), 16, false };
	b[1] = (struct vqd_buf){ buf, 512, false };
	ck_assert_uint_eq(run_chain(&d, 0, b, 2, 0, &len), 0xee);
	ck_assert_uint_eq(len, 0);
	/* A writable header: the header is not readable -> IOERR in the status byte. */
	b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_IN, 0), 16, true };
	b[1] = (struct vqd_buf){ st, 1, true };
	ck_assert_uint_eq(run_chain(&d, 0, b, 2, st, NULL), VIRTIO_BLK_S_IOERR);
	/* Data not a multiple of 512. */
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 500, true, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, 0, buf, 513, false, NULL), VIRTIO_BLK_S_IOERR);
	/* IN with readable data, OUT with writable data. */
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 512, false, NULL), VIRTIO_BLK_S_IOERR);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, 0, buf, 512, true, NULL), VIRTIO_BLK_S_IOERR);
	/* Unknown type. */
	ck_assert_uint_eq(req(&d, 0, 99, 0, 0, 0, false, NULL), VIRTIO_BLK_S_UNSUPP);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_SCSI_CMD, 0, buf, 512, true, NULL), VIRTIO_BLK_S_UNSUPP);
	/* A buffer outside guest RAM: the chain is bad but its head is completed (0 bytes). */
	hdr = header(&d, VIRTIO_BLK_T_IN, 0);
	b[0] = (struct vqd_buf){ hdr, 16, false };
	b[1] = (struct vqd_buf){ VQD_RAM_SIZE - 256, 512, true };
	b[2] = (struct vqd_buf){ st, 1, true };
	ck_assert_uint_eq(run_chain(&d, 0, b, 3, st, &len), 0xee);
	ck_assert_uint_eq(len, 0);
	/* The queue still works. */
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 512, true, NULL), VIRTIO_BLK_S_OK);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
	teardown(&d);
}
END_TEST

START_TEST(many_in_flight_and_two_queues)
{
	struct drv d;
	uint64_t data[64], st[64], fst;
	uint8_t file[4096];
	struct vqd_buf b[3];

	setup(&d, false, false, 2);
	ck_assert(virtio_blk_ops.features(d.vd.dev) & (1ull << VIRTIO_BLK_F_MQ));
	/* 64 writes over both queues, all queued before one notify each. */
	for (unsigned i = 0; i < 64; i++) {
		data[i] = vqd_alloc(&d.vd, 4096);
		st[i] = vqd_alloc(&d.vd, 1);
		d.vd.ram[st[i]] = 0xee;
		fill(d.vd.ram + data[i], 4096, 100 + i);
		b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_OUT, i * 8), 16, false };
		b[1] = (struct vqd_buf){ data[i], 4096, false };
		b[2] = (struct vqd_buf){ st[i], 1, true };
		vqd_add_chain(&d.vd, i & 1, b, 3);
	}
	/* A flush behind the writes of queue 0: it waits for them (they are all in flight). */
	fst = vqd_alloc(&d.vd, 1);
	d.vd.ram[fst] = 0xee;
	b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_FLUSH, 0), 16, false };
	b[1] = (struct vqd_buf){ fst, 1, true };
	vqd_add_chain(&d.vd, 0, b, 2);
	vqd_kick(&d.vd, 1);
	vqd_kick(&d.vd, 0);
	vqd_wait_used(&d.vd, 0, 33);
	ck_assert_uint_eq(d.vd.ram[fst], VIRTIO_BLK_S_OK);
	vqd_wait_used(&d.vd, 1, 32);
	for (unsigned i = 0; i < 64; i++) {
		ck_assert_uint_eq(d.vd.ram[st[i]], VIRTIO_BLK_S_OK);
		ck_assert_int_eq(pread(d.disk->fd, file, 4096, i * 4096), 4096);
		ck_assert_mem_eq(file, d.vd.ram + data[i], 4096);
	}
	ck_assert_int_ge(atomic_load(&d.vd.irqs[0]), 1);
	ck_assert_int_ge(atomic_load(&d.vd.irqs[1]), 1);
	/* A flush after them all. */
	ck_assert_uint_eq(req(&d, 1, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
	teardown(&d);
}
END_TEST

static void notify_then_reset(void *arg)
{
	struct drv *d = arg;

	virtio_blk_ops.notify(d->vd.dev, 0);
	virtio_blk_ops.reset(d->vd.dev);
}

START_TEST(reset_and_reactivate)
{
	struct drv d;
	uint64_t buf;

	setup(&d, false, false, 1);
	buf = vqd_alloc(&d.vd, 4096);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 4096, true, NULL), VIRTIO_BLK_S_OK);
	/* Reset with a request in flight, then the driver sets the queue up again. */
	vqd_add_chain(&d.vd, 0, (struct vqd_buf[]){ { header(&d, VIRTIO_BLK_T_IN, 8), 16, false }, { buf, 4096, true },
					 { vqd_alloc(&d.vd, 1), 1, true } },
		  3);
	/* Notify and reset in one go on the I/O thread: the read's SQE is surely still in flight. */
	ck_assert_int_eq(event_loop_call(d.vd.l, notify_then_reset, &d), 0);
	vqd_init_queues(&d.vd);
	ck_assert_int_eq(event_loop_call(d.vd.l, vqd_activate_fn, &d.vd), 0);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 0, buf, 4096, true, NULL), VIRTIO_BLK_S_OK);
	teardown(&d);
}
END_TEST

START_TEST(broken_queue_needs_reset)
{
	struct drv d;

	setup(&d, false, false, 1);
	/* An avail index more than the queue size ahead: the queue cannot be trusted. */
	__atomic_store_n(&vqd_avail(&d.vd, 0)->idx, htole16(VQD_QSIZE + 5), __ATOMIC_RELEASE);
	vqd_kick(&d.vd, 0);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 1);
	vqd_kick(&d.vd, 0); /* stopped: no second report */
	ck_assert_int_eq(atomic_load(&d.vd.resets), 1);
	teardown(&d);
}
END_TEST

START_TEST(direct_unaligned_buffers)
{
	struct drv d;
	uint64_t src, dst;
	uint8_t file[1024];

	setup(&d, false, true, 1);
	/* Guest buffers at odd addresses: served through the buffered fd, still zero-copy. */
	src = vqd_alloc(&d.vd, 2048) + 3;
	dst = vqd_alloc(&d.vd, 2048) + 5;
	fill(d.vd.ram + src, 1024, 9);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, 3, src, 1024, false, NULL), VIRTIO_BLK_S_OK);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 3, dst, 1024, true, NULL), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(d.vd.ram + dst, d.vd.ram + src, 1024);
	ck_assert_int_eq(pread(d.disk->fd_buffered, file, 1024, 3 * 512), 1024);
	ck_assert_mem_eq(file, d.vd.ram + src, 1024);
	/* Aligned ones take the O_DIRECT fd. */
	src = vqd_alloc(&d.vd, 4096);
	fill(d.vd.ram + src, 4096, 10);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, 8, src, 4096, false, NULL), VIRTIO_BLK_S_OK);
	dst = vqd_alloc(&d.vd, 4096);
	ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_IN, 8, dst, 4096, true, NULL), VIRTIO_BLK_S_OK);
	ck_assert_mem_eq(d.vd.ram + dst, d.vd.ram + src, 4096);
	teardown(&d);
}
END_TEST

/* What the device had in flight right after serving a notify, seen from inside the I/O thread. */
struct inflight_look {
	struct drv *d;
	unsigned sqes, writes;
	bool flush_waits;
};

static void notify_and_look(void *arg)
{
	struct inflight_look *a = arg;
	struct virtio_blk *dev = a->d->vd.dev;

	virtio_blk_ops.notify(dev, 0);
	/* Still in this callback: no completion can have run, W1 is surely in flight. */
	a->sqes = dev->s->inflight;
	a->writes = dev->s->q[0].writes_inflight;
	a->flush_waits = dev->s->q[0].flushes != NULL;
}

static void look(void *arg)
{
	struct inflight_look *a = arg;
	struct virtio_blk *dev = a->d->vd.dev;

	a->sqes = dev->s->inflight;
	a->writes = dev->s->q[0].writes_inflight;
	a->flush_waits = dev->s->q[0].flushes != NULL;
}

/* A write-type request the device completes without starting it (n buffers, then the status). */
static unsigned invalid_write(struct drv *d, unsigned kind, struct vqd_buf *b, uint64_t st)
{
	uint64_t data = vqd_alloc(&d->vd, 1024), g = vqd_alloc(&d->vd, 16);
	struct virtio_blk_discard_write_zeroes seg = { .sector = htole64(8), .num_sectors = 0 };

	switch (kind) {
	case 0: /* past the end of the disk */
		b[0] = (struct vqd_buf){ header(d, VIRTIO_BLK_T_OUT, DISK_SIZE / 512), 16, false };
		b[1] = (struct vqd_buf){ data, 512, false };
		break;
	case 1: /* not a multiple of 512 */
		b[0] = (struct vqd_buf){ header(d, VIRTIO_BLK_T_OUT, 0), 16, false };
		b[1] = (struct vqd_buf){ data, 513, false };
		break;
	case 2: /* bad segments: unknown flags */
		seg.num_sectors = htole32(8);
		seg.flags = htole32(8);
		memcpy(d->vd.ram + g, &seg, sizeof(seg));
		b[0] = (struct vqd_buf){ header(d, VIRTIO_BLK_T_DISCARD, 0), 16, false };
		b[1] = (struct vqd_buf){ g, 16, false };
		break;
	case 3: /* nothing to write: done at once */
		b[0] = (struct vqd_buf){ header(d, VIRTIO_BLK_T_OUT, 0), 16, false };
		b[1] = (struct vqd_buf){ st, 1, true };
		return 2;
	default: /* a zero-length write-zeroes: done at once */
		memcpy(d->vd.ram + g, &seg, sizeof(seg));
		b[0] = (struct vqd_buf){ header(d, VIRTIO_BLK_T_WRITE_ZEROES, 0), 16, false };
		b[1] = (struct vqd_buf){ g, 16, false };
		break;
	}
	b[2] = (struct vqd_buf){ st, 1, true };
	return 3;
}

/*
 * Issue 18: W1, a FLUSH that must wait for it, then a write-type request completed without being
 * started. The latter must not count as a finished write: the FLUSH's sync waits for W1, and the
 * writes-in-flight count does not wrap when W1 completes (every later FLUSH would hang).
 */
START_TEST(invalid_write_does_not_release_flush)
{
	static const uint8_t want[] = { VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_UNSUPP,
					VIRTIO_BLK_S_OK, VIRTIO_BLK_S_OK };

	for (unsigned kind = 0; kind < sizeof(want); kind++) {
		struct drv d;
		struct inflight_look a = { .d = &d };
		uint64_t data, st[3];
		struct vqd_buf b[3];
		unsigned n;

		setup(&d, false, false, 1);
		data = vqd_alloc(&d.vd, 65536);
		fill(d.vd.ram + data, 65536, kind);
		for (unsigned i = 0; i < 3; i++) {
			st[i] = vqd_alloc(&d.vd, 1);
			d.vd.ram[st[i]] = 0xee;
		}
		b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_OUT, 0), 16, false };
		b[1] = (struct vqd_buf){ data, 65536, false };
		b[2] = (struct vqd_buf){ st[0], 1, true };
		vqd_add_chain(&d.vd, 0, b, 3);
		b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_FLUSH, 0), 16, false };
		b[1] = (struct vqd_buf){ st[1], 1, true };
		vqd_add_chain(&d.vd, 0, b, 2);
		n = invalid_write(&d, kind, b, st[2]);
		vqd_add_chain(&d.vd, 0, b, n);
		ck_assert_int_eq(event_loop_call(d.vd.l, notify_and_look, &a), 0);
		ck_assert_msg(a.flush_waits && a.sqes == 1 && a.writes == 1,
			      "kind %u: flush waiting %d, SQEs %u (want W1 only), writes in flight %u", kind,
			      a.flush_waits, a.sqes, a.writes);
		vqd_wait_used(&d.vd, 0, 3);
		ck_assert_uint_eq(d.vd.ram[st[0]], VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(d.vd.ram[st[1]], VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(d.vd.ram[st[2]], want[kind]);
		ck_assert_int_eq(event_loop_call(d.vd.l, look, &a), 0);
		ck_assert_uint_eq(a.writes, 0);
		/* A later FLUSH, alone and behind a write, completes. */
		ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_OUT, 8, data, 4096, false, NULL), VIRTIO_BLK_S_OK);
		ck_assert_uint_eq(req(&d, 0, VIRTIO_BLK_T_FLUSH, 0, 0, 0, false, NULL), VIRTIO_BLK_S_OK);
		teardown(&d);
	}
}
END_TEST

/*
 * Issue 18: a guest re-posting GET_ID requests on queue 0 as fast as they complete must not keep
 * the I/O thread: one notify serves at most a queue's worth, the rest comes on later turns by
 * itself (no doorbell: notifications stay off), and queue 1 is served while the flood goes on.
 */
START_TEST(flood_does_not_starve_other_queue)
{
	struct drv d;
	struct flood f;
	uint64_t hdr, id;

	setup(&d, false, false, 2);
	hdr = header(&d, VIRTIO_BLK_T_GET_ID, 0);
	id = vqd_alloc(&d.vd, VIRTIO_BLK_ID_BYTES + 1);
	for (uint16_t i = 0; i < VQD_QSIZE / 2; i++) {
		vqd_desc(&d.vd, 0)[2 * i] = (struct vring_desc){ htole64(hdr), htole32(16), htole16(VRING_DESC_F_NEXT),
							  htole16(2 * i + 1) };
		vqd_desc(&d.vd, 0)[2 * i + 1] = (struct vring_desc){ htole64(id), htole32(VIRTIO_BLK_ID_BYTES + 1),
							      htole16(VRING_DESC_F_WRITE), 0 };
	}
	memset(&f, 0, sizeof(f));
	f = (struct flood){ .l = d.vd.l, .ops = &virtio_blk_ops, .dev = d.vd.dev, .q = 0, .vq = &d.vd.vq[0],
			    .avail = vqd_avail(&d.vd, 0), .used = vqd_used(&d.vd, 0), .qsize = VQD_QSIZE, .nchains = VQD_QSIZE / 2,
			    .stride = 2 };
	flood_start(&f);
	ck_assert(flood_wait_completed(&f, 1024 * VQD_QSIZE));
	ck_assert_uint_eq(req(&d, 1, VIRTIO_BLK_T_GET_ID, 0, vqd_alloc(&d.vd, 32), VIRTIO_BLK_ID_BYTES, true, NULL),
			  VIRTIO_BLK_S_OK);
	ck_assert_msg(atomic_load(&f.running), "queue 1 was served only once the flood had ended");
	flood_stop(&f);
	ck_assert_uint_le(f.max_per_notify, VQD_QSIZE);
	ck_assert_int_eq(atomic_load(&d.vd.resets), 0);
	teardown(&d);
}
END_TEST

static char last_msg[512];

static void capture(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque, (void)level;
	snprintf(last_msg, sizeof(last_msg), "%s", msg);
}

START_TEST(disk_in_use)
{
	const struct vlog log = { .fn = capture, .level = VMM_LOG_ERROR };
	char path[] = "/tmp/vmm-test-disk-XXXXXX";
	struct disk *a, *b, *c;
	int fd = mkostemp(path, O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 1 << 20), 0);
	close(fd);
	ck_assert_int_eq(disk_open(path, false, false, &log, &a), 0);
	ck_assert_uint_eq(a->size, 1 << 20);
	ck_assert_uint_eq(a->lbs, 512);
	last_msg[0] = 0;
	ck_assert_int_eq(disk_open(path, false, false, &log, &b), -EBUSY);
	ck_assert_ptr_nonnull(strstr(last_msg, "is in use by another process"));
	ck_assert_ptr_nonnull(strstr(last_msg, path));
	ck_assert_int_eq(disk_open(path, true, false, &log, &b), -EBUSY);
	disk_close(a);
	/* Two readers share it; a writer is refused while they hold it. */
	ck_assert_int_eq(disk_open(path, true, false, &log, &a), 0);
	ck_assert_int_eq(disk_open(path, true, false, &log, &b), 0);
	ck_assert_int_eq(disk_open(path, false, false, &log, &c), -EBUSY);
	disk_close(a);
	disk_close(b);
	/* Not a regular file or block device. */
	ck_assert_int_eq(disk_open("/dev/null", true, false, &log, &c), -EINVAL);
	ck_assert_ptr_nonnull(strstr(last_msg, "not a regular file or a block device"));
	ck_assert_int_lt(disk_open("/nonexistent/x.img", true, false, &log, &c), 0);
	ck_assert_ptr_nonnull(strstr(last_msg, "cannot open disk '/nonexistent/x.img'"));
	unlink(path);
}
END_TEST

START_TEST(config_space)
{
	struct drv d;
	struct virtio_blk_config c;

	setup(&d, false, false, 2);
	ck_assert_uint_eq(virtio_blk_ops.config_size, 60);
	memset(&c, 0xff, sizeof(c));
	for (uint32_t off = 0; off < virtio_blk_ops.config_size; off += 4)
		virtio_blk_ops.config_read(d.vd.dev, off, (uint8_t *)&c + off, 4);
	ck_assert_uint_eq(le64toh(c.capacity), DISK_SIZE / 512);
	ck_assert_uint_eq(le32toh(c.seg_max), VQD_QSIZE - 2);
	ck_assert_uint_eq(le32toh(c.blk_size), 512);
	ck_assert_uint_eq(le16toh(c.num_queues), 2);
	ck_assert_uint_eq(le32toh(c.max_discard_seg), 16);
	ck_assert_uint_eq(virtio_blk_ops.queue_max_size, VQD_QSIZE);
	teardown(&d);
}
END_TEST

/* --- Snapshot: inflight() and the device's record --- */

struct snap_look {
	struct drv *d;
	bool reset; /* reset the device right after the notify, the read still in flight */
	unsigned inflight;
};

static void notify_and_count(void *arg)
{
	struct snap_look *a = arg;

	virtio_blk_ops.notify(a->d->vd.dev, 0);
	if (a->reset)
		virtio_blk_ops.reset(a->d->vd.dev);
	a->inflight = virtio_blk_ops.inflight(a->d->vd.dev); /* no completion can have run yet */
}

static void count_inflight(void *arg)
{
	struct snap_look *a = arg;

	a->inflight = virtio_blk_ops.inflight(a->d->vd.dev);
}

/* inflight() with nothing, with a read in flight, then again once it completed (or drained after a reset). */
static void inflight_case(bool reset)
{
	struct drv d;
	struct snap_look a;
	uint64_t data, st;
	struct vqd_buf b[3];

	setup(&d, false, false, 1);
	a = (struct snap_look){ .d = &d, .reset = reset };
	ck_assert_int_eq(event_loop_call(d.vd.l, count_inflight, &a), 0);
	ck_assert_uint_eq(a.inflight, 0);
	data = vqd_alloc(&d.vd, 64 << 10);
	st = vqd_alloc(&d.vd, 1);
	b[0] = (struct vqd_buf){ header(&d, VIRTIO_BLK_T_IN, 0), 16, false };
	b[1] = (struct vqd_buf){ data, 64 << 10, true };
	b[2] = (struct vqd_buf){ st, 1, true };
	vqd_add_chain(&d.vd, 0, b, 3);
	ck_assert_int_eq(event_loop_call(d.vd.l, notify_and_count, &a), 0);
	ck_assert_uint_eq(a.inflight, 1);
	if (!reset)
		vqd_wait_used(&d.vd, 0, d.vd.avail_idx[0]);
	for (int i = 0; i < 2000; i++) { /* a reset session drains by itself */
		ck_assert_int_eq(event_loop_call(d.vd.l, count_inflight, &a), 0);
		if (a.inflight == 0)
			break;
		usleep(1000);
	}
	ck_assert_uint_eq(a.inflight, 0);
	if (reset) /* vqd_teardown() resets it again: activate the next session first */
		ck_assert_int_eq(event_loop_call(d.vd.l, vqd_activate_fn, &d.vd), 0);
	teardown(&d);
}

START_TEST(inflight_counts_requests)
{
	inflight_case(false);
	inflight_case(true);
}
END_TEST

START_TEST(save_restore_device_state)
{
	struct drv d, e;
	struct sbuf b;
	struct sreader r;

	setup(&d, false, false, 1);
	sbuf_init(&b);
	ck_assert_int_eq(virtio_blk_ops.save(d.vd.dev, &b), 0);
	ck_assert(!b.oom);
	/* The same disk again: accepted, whole. */
	sreader_init(&r, b.data, b.len);
	ck_assert_int_eq(virtio_blk_ops.restore(d.vd.dev, &r), 0);
	/* Every truncation and trailing garbage: refused. */
	for (size_t n = 0; n < b.len; n++) {
		sreader_init(&r, b.data, n);
		ck_assert_int_eq(virtio_blk_ops.restore(d.vd.dev, &r), -EINVAL);
	}
	/* Another serial (a different disk's record): refused. */
	b.data[b.len - 1] ^= 1;
	sreader_init(&r, b.data, b.len);
	ck_assert_int_eq(virtio_blk_ops.restore(d.vd.dev, &r), -EINVAL);
	b.data[b.len - 1] ^= 1;
	/* A disk of another size shows the guest another capacity: refused. */
	setup(&e, false, false, 1); /* another image of the same size, same serial */
	sreader_init(&r, b.data, b.len);
	ck_assert_int_eq(virtio_blk_ops.restore(e.vd.dev, &r), 0); /* same size and serial: fine */
	teardown(&e);
	b.data[0] ^= 1; /* capacity's low byte */
	sreader_init(&r, b.data, b.len);
	ck_assert_int_eq(virtio_blk_ops.restore(d.vd.dev, &r), -EINVAL);
	sbuf_free(&b);
	teardown(&d);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("virtio_blk");
	TCase *tc = tcase_create("virtio_blk");

	if (!unit_have_io_uring())
		return 77;
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, write_then_read_back);
	tcase_add_test(tc, get_id_and_flush);
	tcase_add_test(tc, discard_and_write_zeroes);
	tcase_add_test(tc, zero_length_segments);
	tcase_add_test(tc, read_only_disk);
	tcase_add_test(tc, out_of_range);
	tcase_add_test(tc, malformed_requests_complete);
	tcase_add_test(tc, many_in_flight_and_two_queues);
	tcase_add_test(tc, reset_and_reactivate);
	tcase_add_test(tc, broken_queue_needs_reset);
	tcase_add_test(tc, direct_unaligned_buffers);
	tcase_add_test(tc, disk_in_use);
	tcase_add_test(tc, config_space);
	tcase_add_test(tc, invalid_write_does_not_release_flush);
	tcase_add_test(tc, flood_does_not_starve_other_queue);
	tcase_add_test(tc, inflight_counts_requests);
	tcase_add_test(tc, save_restore_device_state);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
