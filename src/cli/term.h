/* SPDX-License-Identifier: Apache-2.0 */
/* The CLI's terminal: raw mode for the serial console, restored on every exit path. */
#ifndef VMM_CLI_TERM_H
#define VMM_CLI_TERM_H

#include <stdbool.h>

/* Put fd (a terminal) in raw mode and arrange for restoration at exit and on fatal signals. */
int term_raw(int fd);
/* Restore the saved mode; async-signal-safe; harmless when nothing was changed. */
void term_restore(void);
bool term_is_raw(void);

#endif
