/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot's state file: a header and named sections, checked before anything is used.
 *
 *   offset 0   "VMMSNAP\0"          magic (8 bytes)
 *          8   u32 version           SNAP_VERSION; another is refused
 *         12   u32 section count     at most SNAP_MAX_SECTIONS
 *         16   u64 body length       bytes after the header; the file is exactly header + body
 *         24   u32 CRC-32C           of the body
 *         28   u32 0                 reserved
 *         32   body: the sections, each
 *                u8 name length, name (1..31 bytes, printable, unique)
 *                u8 kind length, kind (1..31 bytes, printable): what saved it ("serial", "vcpu", ...)
 *                u32 kind version    the layout of the saved bytes
 *                u32 length, bytes
 *
 * Integers are little-endian. The memory is a separate file (snapshot/ram.h). snap_parse() is
 * the one entry point for untrusted bytes (the fuzz target feeds it); it keeps pointers into buf.
 */
#ifndef VMM_SNAPSHOT_FORMAT_H
#define VMM_SNAPSHOT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshot/sbuf.h"

#define SNAP_MAGIC "VMMSNAP"      /* with its NUL: 8 bytes */
#define SNAP_VERSION 1
#define SNAP_HEADER_SIZE 32
#define SNAP_MAX_SECTIONS 256
#define SNAP_NAME_MAX 31
#define SNAP_MAX_STATE (64u << 20) /* a state file larger than this is refused unread */

struct snap_section {
	char name[SNAP_NAME_MAX + 1];
	char kind[SNAP_NAME_MAX + 1];
	uint32_t version;
	const uint8_t *data;
	uint32_t len;
	bool used;                 /* set by whoever restored from it (unused sections are an error) */
};

struct snap {
	struct snap_section sec[SNAP_MAX_SECTIONS];
	unsigned n;
};

/* Start a state file: reserve the header. */
void snap_begin(struct sbuf *out);
/* Append a section (kind's saved bytes in data). A name or kind snap_parse() would refuse fails the file. */
void snap_add(struct sbuf *out, const char *name, const char *kind, uint32_t version, const void *data, size_t len);
/* Finish: fill in the header (count, length, checksum). -ENOMEM when out ran out of memory, -E2BIG when too large. */
int snap_finish(struct sbuf *out);

/*
 * Check and index a whole state file. 0, or -EINVAL with one sentence in err ("it is truncated",
 * "its checksum does not match", "it is version 7; this vmm reads version 1", ...).
 */
int snap_parse(const void *buf, size_t len, struct snap *out, char *err, size_t errlen);
/* The section called name, or NULL. */
struct snap_section *snap_find(struct snap *s, const char *name);

/* CRC-32C (Castagnoli), as the state file's checksum. */
uint32_t snap_crc32c(uint32_t crc, const void *buf, size_t len);

#endif
