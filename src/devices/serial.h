/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A 16550A UART (COM1): divisor latch, FIFO-enable bits in IIR, THR-empty,
 * receive-data and modem-status interrupts, loopback. Transmitted bytes go to
 * a backend (the console's output ring) that may be short of room: then the
 * transmitter reads busy (LSR THRE/TEMT clear, no THR-empty interrupt) until
 * the backend calls serial_tx_ready(), so the guest's driver waits instead of
 * bytes being lost or the vCPU blocking. Input bytes wait in a 4 KiB
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

#include "device.h"
#include "irq.h"

struct serial;

/* Where transmitted bytes go. Its calls come with the UART's lock held: they must not call back into it. */
struct serial_backend {
	/* Take up to len bytes; returns how many were taken (the rest is lost: the guest wrote to a busy THR). */
	size_t (*write)(void *opaque, const uint8_t *buf, size_t len);
	/* Is there room for n bytes? NULL: always. */
	bool (*room)(void *opaque, size_t n);
	/* Short of room: call serial_tx_ready() once there is room for n bytes. */
	void (*want_room)(void *opaque, size_t n);
	/* serial_receive() returned short and the guest has since made room. NULL: nothing. */
	void (*rx_room)(void *opaque);
	void *opaque;
};

/* irq is copied (NULL: no interrupt); so is be (NULL or write NULL: output discarded). NULL on allocation failure. */
struct serial *serial_create(const struct irq_line *irq, const struct serial_backend *be);
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
/* The backend has room again (after want_room): the transmitter is empty, THR-empty may interrupt. Any thread. */
void serial_tx_ready(struct serial *s);
/* Bytes the guest wrote while the transmitter was busy and the backend full (lost). */
uint64_t serial_tx_lost(struct serial *s);
/*
 * One line for --stats: IER, the pending interrupt, whether the transmitter waits for the backend,
 * the interrupt line's level, bytes lost. Shows which side a stalled console waits on. Any thread.
 */
void serial_describe(struct serial *s, char *buf, size_t len);

/*
 * Snapshot ops (kind "serial", version 1; dev is a struct serial). Saved: IER, LCR, MCR, SCR, the
 * divisor latch, MSR with its delta bits, the FIFO enable, the THR-empty interrupt condition, whether
 * the transmitter reads busy, and the bytes queued for the guest. Not saved: the backend, the irq
 * line, serial_tx_lost(). A failed restore leaves the UART unchanged; a successful one re-drives the
 * interrupt line and asks the new backend for room if the transmitter was busy.
 */
extern const struct vm_device_ops serial_device_ops;

#endif
