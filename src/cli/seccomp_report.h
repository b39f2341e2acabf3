/* SPDX-License-Identifier: Apache-2.0 */
/* The vmm command's answer to a forbidden system call (--seccomp=on): one line naming it, then exit. */
#ifndef VMM_CLI_SECCOMP_REPORT_H
#define VMM_CLI_SECCOMP_REPORT_H

/* The exit code after a forbidden system call (the same as a crash). */
#define SECCOMP_REPORT_EXIT 2

/*
 * Install the SIGSYS handler that VMM_SECCOMP_TRAP filters raise: it writes "vmm: seccomp: thread
 * T made system call N (NAME), which its filter forbids; stopping", restores the terminal and ends
 * the process with SECCOMP_REPORT_EXIT. The names are looked up now (the handler may not allocate).
 * 0 or -errno.
 */
int seccomp_report_install(void);

#endif
