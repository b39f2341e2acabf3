/* SPDX-License-Identifier: Apache-2.0 */
/* Opening the files a boot reads (kernel, initrd), the same on every architecture. */
#ifndef VMM_BOOT_FILE_H
#define VMM_BOOT_FILE_H

#include "log.h"

/*
 * Open a kernel or initrd (what: "kernel", "initrd") for reading; it must be a regular, non-empty file.
 * Returns the descriptor or -errno, with the reason logged. Done before anything else when a VM is made,
 * so a wrong path is the first error reported, not hidden behind a later one.
 */
int boot_file_open(const struct vlog *log, const char *what, const char *path);

#endif
