/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The virtio-console device (virtio 1.2 section 5.3): one port (hvc0), no MULTIPORT. Queue 0 is the
 * receiveq (host -> guest), queue 1 the transmitq (guest -> host). It offers CONSOLE_F_SIZE when a
 * size is given and CONSOLE_F_EMERG_WRITE. The device knows its host side only through the small
 * backend interface below (src/console.c in the VMM, a fake in the unit tests).
 *
 * Threads: activate/reset/notify, virtio_console_tx_ready() and virtio_console_rx() run on the I/O
 * thread; config_read/config_write on vCPU threads. backend.write is called from both (TX on the
 * I/O thread, an emergency write on a vCPU), never from two at once: the device serialises those
 * calls with its own mutex. backend.want_room and backend.rx_kick are called on the I/O thread only.
 */
#ifndef VMM_VIRTIO_CONSOLE_H
#define VMM_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "log.h"
#include "virtio/device.h"

#define VIRTIO_CONSOLE_QUEUE_SIZE 256
/* The most backend.want_room() asks for: a backend's buffer must hold at least this many bytes. */
#define VIRTIO_CONSOLE_ROOM_MAX 256u

struct virtio_console_backend {
	/*
	 * Take up to len bytes the guest transmitted; returns how many were taken (fewer: the backend
	 * is full). It may run on a vCPU thread (an emergency write): it must not block, nor call back
	 * into the device.
	 */
	size_t (*write)(void *opaque, const void *buf, size_t len);
	/*
	 * The device is short of room: the backend calls virtio_console_tx_ready() once there is room
	 * for n bytes (1 <= n <= VIRTIO_CONSOLE_ROOM_MAX). It may do so from inside want_room().
	 */
	void (*want_room)(void *opaque, size_t n);
	/*
	 * The device can take input again after virtio_console_rx() returned short: the backend offers
	 * what waits (it may call virtio_console_rx() from inside rx_kick()).
	 */
	void (*rx_kick)(void *opaque);
	void *opaque;
};

struct virtio_console_opts {
	struct virtio_console_backend backend; /* write, want_room and rx_kick are all required */
	uint16_t cols, rows;                   /* the console size; 0 (either): not reported (no F_SIZE) */
};

/*
 * A device over o->backend. 0, or -EINVAL (a backend callback missing) / -ENOMEM with a message
 * through log.
 *
 * Teardown: after reset() the device calls the backend no more from the I/O thread, and once the
 * vCPUs have stopped no emergency write comes either. The backend must stop calling
 * virtio_console_tx_ready() / virtio_console_rx() before destroy() (detach its callbacks on the I/O
 * thread, or stop it first); it must stay valid until then.
 */
int virtio_console_create(const struct virtio_console_opts *o, const struct vlog *log, void **dev_out);
extern const struct virtio_device_ops virtio_console_ops;

/*
 * On the I/O thread, by the backend: there is room again (after want_room). Any time is safe: a
 * call while the device is not waiting, not active, or already transmitting just resumes (or
 * schedules) the transmit queue.
 */
void virtio_console_tx_ready(void *dev);

/*
 * On the I/O thread, by the backend, with host input bytes: returns how many were put into the
 * guest's receive buffers (each buffer the device takes is completed at once, however few bytes it
 * got, so the guest sees input without delay). Fewer than len, possibly 0: no buffer was available
 * or the device is not active; the device calls backend.rx_kick() once the driver has posted
 * receive buffers and notified, or (after a long burst) on the loop's next turn.
 */
size_t virtio_console_rx(void *dev, const uint8_t *buf, size_t len);

#endif
