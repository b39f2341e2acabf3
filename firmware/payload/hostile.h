/* SPDX-License-Identifier: Apache-2.0 */
/* The hostile guest (payload=hostile seed=N rounds=N idle=N): see hostile.c. */
#ifndef PAYLOAD_HOSTILE_H
#define PAYLOAD_HOSTILE_H

/* Attacks every device, idles, powers off; returns only if the power-off did not stop the VM. */
void hostile_run(const char *cmdline);

#endif
