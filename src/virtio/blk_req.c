// SPDX-License-Identifier: Apache-2.0
/* virtio-blk request parsing: the header copied once, layout, lengths, sectors and features checked whole. */
#include "virtio/blk_req.h"

#include <endian.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "disk.h"

void blk_warn(struct virtio_blk *dev, const char *fmt, ...)
{
	char msg[160], prefix[64 + 16];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(prefix, sizeof(prefix), "virtio-blk '%.64s'", dev->disk->path);
	vlog_guest(dev->log, &dev->warn, prefix, "%s", msg);
}

bool blk_has(const struct blk_session *s, unsigned bit)
{
	return s->ctx.features & (1ull << bit);
}

bool blk_is_write(uint32_t type)
{
	return type == VIRTIO_BLK_T_OUT || type == VIRTIO_BLK_T_DISCARD || type == VIRTIO_BLK_T_WRITE_ZEROES;
}

/* Copy len bytes out of (or zeros / src into) iov[*idx..n), consuming them from the front. */
void blk_iov_take(struct iovec *iov, unsigned *idx, unsigned n, void *dst, const void *src, size_t len)
{
	while (len && *idx < n) {
		struct iovec *v = &iov[*idx];
		size_t k = v->iov_len < len ? v->iov_len : len;

		if (dst) {
			memcpy(dst, v->iov_base, k);
			dst = (uint8_t *)dst + k;
		} else if (src) {
			memcpy(v->iov_base, src, k);
			src = (const uint8_t *)src + k;
		} else {
			memset(v->iov_base, 0, k);
		}
		v->iov_base = (uint8_t *)v->iov_base + k;
		v->iov_len -= k;
		len -= k;
		if (v->iov_len == 0)
			(*idx)++;
	}
}

/* Is [sector, sector + bytes / 512) inside the disk? bytes is a multiple of 512. */
static bool in_range(const struct virtio_blk *dev, uint64_t sector, uint64_t bytes)
{
	return sector <= dev->capacity && (bytes >> SECTOR_SHIFT) <= dev->capacity - sector;
}

static bool dio_ok(const struct disk *d, const struct blk_req *r)
{
	uint64_t m = d->dio_align - 1;

	if (r->off & m)
		return false;
	for (unsigned i = r->iov_idx; i < r->niov; i++) {
		if (((uintptr_t)r->iov[i].iov_base & m) || (r->iov[i].iov_len & m))
			return false;
	}
	return true;
}

static int parse_segments(struct blk_req *r, struct virtio_blk *dev, uint64_t len, unsigned *ri, unsigned nout)
{
	bool wz = r->type == VIRTIO_BLK_T_WRITE_ZEROES;
	unsigned n;

	if (!blk_has(r->q->s, wz ? VIRTIO_BLK_F_WRITE_ZEROES : VIRTIO_BLK_F_DISCARD))
		return VIRTIO_BLK_S_UNSUPP;
	if (dev->disk->readonly)
		return VIRTIO_BLK_S_IOERR;
	if (len == 0 || len % sizeof(r->segs[0]) || len / sizeof(r->segs[0]) > MAX_SEGS)
		return VIRTIO_BLK_S_IOERR;
	n = (unsigned)(len / sizeof(r->segs[0]));
	r->nseg = r->seg = 0;
	blk_iov_take(r->iov, ri, nout, r->segs, NULL, len);
	for (unsigned i = 0; i < n; i++) {
		uint64_t sector = le64toh(r->segs[i].sector);
		uint32_t num = le32toh(r->segs[i].num_sectors);
		uint32_t flags = le32toh(r->segs[i].flags);

		/* 5.2.6.2: unknown flags, or unmap on a discard, are UNSUPP. */
		if (flags & ~(wz ? VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP : 0u))
			return VIRTIO_BLK_S_UNSUPP;
		if (num > MAX_DISCARD_SECTORS || !in_range(dev, sector, (uint64_t)num << SECTOR_SHIFT))
			return VIRTIO_BLK_S_IOERR;
		if (num == 0)
			continue; /* nothing to do (fallocate() would refuse a zero length) */
		/* Host order from here on, packed to the front: the copy is ours (nseg <= i). */
		r->segs[r->nseg].sector = sector;
		r->segs[r->nseg].num_sectors = num;
		r->segs[r->nseg].flags = flags;
		r->nseg++;
	}
	return r->nseg ? -1 : VIRTIO_BLK_S_OK;
}

/*
 * Check the whole request before any I/O. Returns a status to complete with now, or -1 when the
 * request is to be started. Sets r->status (NULL: no status byte: complete with 0 bytes written).
 */
int blk_req_parse(struct blk_req *r, const struct virtq_chain *c)
{
	struct virtio_blk *dev = r->q->s->dev;
	struct virtio_blk_outhdr hdr;
	unsigned nout = c->nout, niov = c->niov, ri = 0;
	uint64_t out_len = c->out_len, in_len = c->in_len, sector;
	struct iovec *last;

	r->status = NULL;
	r->written = 0;
	r->type = UINT32_MAX;
	if (c->bad) {
		blk_warn(dev, "malformed descriptor chain");
		return VIRTIO_BLK_S_IOERR;
	}
	/* The status is the last byte of the last writable buffer (zero-length ones add no iov). */
	if (niov == nout) {
		blk_warn(dev, "request without a status byte");
		return VIRTIO_BLK_S_IOERR;
	}
	last = &r->iov[niov - 1];
	r->status = (uint8_t *)last->iov_base + last->iov_len - 1;
	if (--last->iov_len == 0)
		niov--;
	in_len--;
	r->written = 1;
	if (out_len < sizeof(hdr)) {
		blk_warn(dev, "request header too short");
		return VIRTIO_BLK_S_IOERR;
	}
	blk_iov_take(r->iov, &ri, nout, &hdr, NULL, sizeof(hdr)); /* copied once */
	out_len -= sizeof(hdr);
	r->type = le32toh(hdr.type);
	sector = le64toh(hdr.sector);

	switch (r->type) {
	case VIRTIO_BLK_T_IN:
	case VIRTIO_BLK_T_OUT: {
		bool in = r->type == VIRTIO_BLK_T_IN;
		uint64_t len = in ? in_len : out_len;

		if (!in && dev->disk->readonly)
			return VIRTIO_BLK_S_IOERR;
		/* IN carries nothing readable but the header, OUT nothing writable but the status. */
		if ((in ? out_len : in_len) != 0 || len % 512 || !in_range(dev, sector, len)) {
			blk_warn(dev, "bad read/write request (layout, length or sector)");
			return VIRTIO_BLK_S_IOERR;
		}
		if (len == 0)
			return VIRTIO_BLK_S_OK;
		r->iov_idx = in ? nout : ri;
		r->niov = in ? niov : nout;
		r->off = sector << SECTOR_SHIFT;
		r->written = in ? (uint32_t)len + 1 : 1; /* the chain is at most 4 GiB - 1 (queue.c) */
		r->fd = dev->disk->direct && !dio_ok(dev->disk, r) ? dev->disk->fd_buffered : dev->disk->fd;
		return -1;
	}
	case VIRTIO_BLK_T_FLUSH:
		return blk_has(r->q->s, VIRTIO_BLK_F_FLUSH) ? -1 : VIRTIO_BLK_S_UNSUPP;
	case VIRTIO_BLK_T_GET_ID: {
		unsigned wi = nout;
		size_t n = in_len < VIRTIO_BLK_ID_BYTES ? (size_t)in_len : VIRTIO_BLK_ID_BYTES;

		if (out_len != 0)
			return VIRTIO_BLK_S_IOERR;
		blk_iov_take(r->iov, &wi, niov, NULL, dev->serial, n);
		r->written = (uint32_t)n + 1;
		return VIRTIO_BLK_S_OK;
	}
	case VIRTIO_BLK_T_DISCARD:
	case VIRTIO_BLK_T_WRITE_ZEROES:
		if (in_len != 0)
			return VIRTIO_BLK_S_IOERR;
		return parse_segments(r, dev, out_len, &ri, nout);
	default:
		return VIRTIO_BLK_S_UNSUPP;
	}
}
