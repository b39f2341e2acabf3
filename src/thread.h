/* SPDX-License-Identifier: Apache-2.0 */
/* Starting the VMM's own threads (vCPUs, the I/O thread, the supervisor, the CLI's signal thread). */
#ifndef VMM_THREAD_H
#define VMM_THREAD_H

#include <pthread.h>

/*
 * Each thread gets a THREAD_STACK stack instead of the 8 MiB default: none of ours needs more than
 * a few dozen KiB (a sanitized build a few times that), and a stack smaller than 2 MiB can never be
 * backed by a transparent huge page, which a default stack that happens to be 2 MiB aligned is
 * (measured: 2 MiB of resident memory for one idle thread's stack).
 */
#define THREAD_STACK (1u << 20)

/* pthread_create() with our stack size: 0 or a positive error number. */
int thread_create(pthread_t *t, void *(*fn)(void *), void *arg);

#endif
