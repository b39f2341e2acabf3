/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The snapshot's memory file: guest RAM as gmem_init_file() maps it back (the regions in
 * guest-physical order, back to back), exactly ram_size bytes long and sparse: pages that are all
 * zero (the guest never touched them, or cleared them) are holes, never written.
 */
#ifndef VMM_SNAPSHOT_RAM_H
#define VMM_SNAPSHOT_RAM_H

#include <stdint.h>

#include "memory.h"

/*
 * Write m (made by gmem_init/gmem_init_file) to fd, an empty regular file. *written: bytes of
 * non-zero pages written. 0 or -errno.
 */
int snap_mem_write(const struct guest_mem *m, int fd, uint64_t *written);

#endif
