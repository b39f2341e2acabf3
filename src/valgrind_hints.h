/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running under Valgrind: the one place that asks. Valgrind's header (Debian: package valgrind) is
 * optional; without it vmm never thinks it runs under Valgrind. Its client requests are a few
 * no-op instructions when the program runs natively.
 */
#ifndef VMM_VALGRIND_HINTS_H
#define VMM_VALGRIND_HINTS_H

#include <stdbool.h>

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#define VMM_HAVE_VALGRIND_H 1
#endif
#endif

static inline bool under_valgrind(void)
{
#ifdef VMM_HAVE_VALGRIND_H
	return RUNNING_ON_VALGRIND != 0;
#else
	return false;
#endif
}

#endif
