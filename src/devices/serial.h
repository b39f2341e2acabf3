/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 16550A UART (COM1): divisor latch, FIFO-enable bits in IIR, THR-empty,
 * receive-data and modem-status interrupts, loopback. Transmission is
 * instantaneous: output bytes go to a callback. Input bytes wait in a 4 KiB
 * host-side buffer, queued from any thread with serial_receive(); there is no
 * overrun. The interrupt line is "any enabled interrupt pending" and is set
 * only when that changes, so it drops whenever the condition clears (the ISA
 * pin is edge-triggered).
 */
#ifndef VMM_DEVICES_SERIAL_H
#define VMM_DEVICES_SERIAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "irq.h"

struct serial;

/* Bytes the guest transmitted. Called from the vCPU thread that wrote THR, without the UART's lock. */
typedef void (*serial_out_fn)(void *opaque, const uint8_t *buf, size_t len);

/* irq is copied (NULL: no interrupt); out may be NULL (output discarded). NULL on allocation failure. */
struct serial *serial_create(const struct irq_line *irq, serial_out_fn out, void *opaque);
void serial_destroy(struct serial *s);
/*
 * Bus handler for the 8 registers at the UART's base port. Wider accesses act
 * on the low byte (reads zero the rest); offsets past 7 read all-ones.
 */
void serial_io(void *opaque, uint64_t off, void *data, uint32_t len, bool is_write);
/*
 * Queue host bytes as received data. Returns how many were taken (fewer than
 * len when the receive buffer is full: the caller retries later). Any thread.
 */
size_t serial_receive(struct serial *s, const void *buf, size_t len);

#endif
