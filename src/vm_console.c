// SPDX-License-Identifier: Apache-2.0
/*
 * The VM's consoles: the UART's host side and the virtio-console (hvc0), each a struct console
 * (console.c) served on the I/O thread, wired to its device here.
 */
#include <errno.h>
#include <string.h>

#include "console.h"
#include "devices/serial.h"
#include "virtio/console.h"
#include "virtio/pci.h"
#include "vm.h"

/*
 * Output backlogs. The UART moves a byte per VM exit and its driver waits politely (interrupts) while
 * the transmitter is busy: 16 KiB lets the I/O thread gather many bytes into one write. Linux's hvc
 * driver instead spins the writing vCPU, interrupts off, until the device takes its buffer: hvc0 holds
 * up to 32 MiB for a stalled reader (memory used only while it is stalled, see console.c) before
 * the guest has to wait.
 */
#define UART_RING (16u << 10)
#define HVC_RING (32u << 20)
/*
 * The UART's writer lets bytes gather this long before a write (1 ms of echo latency at most): a
 * kernel printing at full speed then costs one write per millisecond instead of a write and an
 * I/O-thread wake-up per byte.
 */
#define UART_GATHER_US 1000
/*
 * How long the consoles' output may make no progress before we give up on it and discard the rest.
 * When the guest ends itself, a reader that lags (a stopped `less`) is waited for as long as it
 * keeps taking bytes, and EXIT_FLUSH_MS when it takes none; a pause, a stop asked by the host, a
 * timeout and the final stop (after that wait) give it FLUSH_MS.
 */
#define EXIT_FLUSH_MS 10000
#define FLUSH_MS 1000

static void on_quit(void *opaque)
{
	struct vmm *vm = opaque;

	vlog_info(&vm->log, "escape key: stopping the VM");
	vm_exit(vm, VMM_EXIT_STOPPED);
}

static int make_console(struct vmm *vm, const char *name, const struct vmm_console *fds, vmm_console_fn out,
			void *opaque, size_t ring, unsigned gather_us, struct console **c)
{
	struct console_opts o = {
		.name = name,
		.out_fd = -1,
		.in_fd = -1,
		.on_quit = on_quit,
		.quit_opaque = vm,
		.log = &vm->log,
		.ring_size = ring,
		.gather_us = gather_us,
	};
	int ret;

	if (fds->fds) {
		o.out_fd = fds->out_fd;
		o.in_fd = fds->in_fd;
		o.escape = (uint8_t)fds->escape;
		o.drop = fds->drop != 0;
	} else {
		o.out_cb = out;
		o.out_opaque = opaque;
	}
	ret = console_create(&o, c);
	if (ret)
		vlog_err(&vm->log, "cannot create the %s console: %s", name, strerror(-ret));
	return ret;
}

/* The UART's backend: the console's ring. */
static size_t uart_write(void *opaque, const uint8_t *buf, size_t len)
{
	return console_write(opaque, buf, len);
}

static bool uart_room(void *opaque, size_t n)
{
	return console_room(opaque, n);
}

static void uart_want_room(void *opaque, size_t n)
{
	console_want_room(opaque, n);
}

static void uart_rx_room(void *opaque)
{
	console_rx_kick(opaque);
}

static void uart_tx_ready(void *opaque)
{
	serial_tx_ready(opaque);
}

static size_t uart_rx(void *opaque, const uint8_t *buf, size_t len)
{
	return serial_receive(opaque, buf, len);
}

int vm_create_consoles(struct vmm *vm)
{
	int ret = make_console(vm, "serial", &vm->console_cfg, vm->console_out, vm->console_opaque, UART_RING,
			       UART_GATHER_US, &vm->uart_con);

	if (!ret && vm->hvc_on)
		ret = make_console(vm, "hvc0", &vm->hvc_cfg, vm->hvc_out, vm->hvc_opaque, HVC_RING, 0, &vm->hvc_con);
	return ret;
}

void vm_destroy_consoles(struct vmm *vm)
{
	console_destroy(vm->uart_con);
	console_destroy(vm->hvc_con);
	vm->uart_con = vm->hvc_con = NULL;
}

struct serial *vm_create_serial(struct vmm *vm, const struct irq_line *irq)
{
	const struct serial_backend be = {
		.write = uart_write,
		.room = uart_room,
		.want_room = uart_want_room,
		.rx_room = uart_rx_room,
		.opaque = vm->uart_con,
	};
	struct serial *s = serial_create(irq, &be);

	if (s) {
		console_set_tx_ready(vm->uart_con, uart_tx_ready, s);
		console_set_rx_sink(vm->uart_con, uart_rx, s);
	}
	return s;
}

/* The virtio-console's backend: the hvc console's ring. */
static size_t hvc_write(void *opaque, const void *buf, size_t len)
{
	return console_write(opaque, buf, len);
}

static void hvc_want_room(void *opaque, size_t n)
{
	console_want_room(opaque, n);
}

static void hvc_rx_kick(void *opaque)
{
	console_rx_kick(opaque);
}

static void hvc_tx_ready(void *opaque)
{
	virtio_console_tx_ready(opaque);
}

static size_t hvc_rx(void *opaque, const uint8_t *buf, size_t len)
{
	return virtio_console_rx(opaque, buf, len);
}

static int add_hvc(struct vmm *vm)
{
	const struct virtio_console_opts co = {
		.backend = {
			.write = hvc_write,
			.want_room = hvc_want_room,
			.rx_kick = hvc_rx_kick,
			.opaque = vm->hvc_con,
		},
	};
	void *dev;
	int ret;

	ret = virtio_console_create(&co, &vm->log, &dev);
	if (ret) {
		vlog_err(&vm->log, "cannot create the virtio-console device: %s", strerror(-ret));
		return ret;
	}
	ret = vm_attach_virtio_pci(vm, &virtio_console_ops, dev, &vm->vhvc_msix, vm->loop, &vm->vhvc);
	if (ret) {
		vlog_err(&vm->log, "cannot attach the virtio-console to the PCI bus: %s", strerror(-ret));
		virtio_console_ops.destroy(dev);
		return ret;
	}
	console_set_tx_ready(vm->hvc_con, hvc_tx_ready, dev);
	console_set_rx_sink(vm->hvc_con, hvc_rx, dev);
	return 0;
}

int vm_start_consoles(struct vmm *vm)
{
	int ret;

	if (vm->hvc_con) {
		ret = add_hvc(vm);
		if (ret)
			return ret;
	}
	ret = console_start(vm->uart_con, vm->loop);
	if (!ret && vm->hvc_con)
		ret = console_start(vm->hvc_con, vm->loop);
	return ret;
}

void vm_stop_consoles(struct vmm *vm)
{
	uint64_t lost = vm->serial ? serial_tx_lost(vm->serial) : 0;

	/* The vCPUs have stopped: write out what they left in the rings, then end the consoles' I/O. */
	console_stop(vm->uart_con, FLUSH_MS);
	console_stop(vm->hvc_con, FLUSH_MS);
	if (lost)
		vlog_warn(&vm->log, "serial: the guest wrote %llu bytes to its busy transmitter while the output "
			  "buffer was full; they were lost", (unsigned long long)lost);
	if (vm->vhvc)
		virtio_pci_destroy(vm->vhvc); /* resets the device on the I/O thread, then frees it */
	if (vm->vhvc_msix)
		irq_routes_msix_destroy(vm->vhvc_msix);
	vm->vhvc = NULL;
	vm->vhvc_msix = NULL;
	if (vm->hvc_con) {
		console_set_tx_ready(vm->hvc_con, NULL, NULL);
		console_set_rx_sink(vm->hvc_con, NULL, NULL);
	}
}

void vm_flush_consoles(struct vmm *vm, bool guest_ended)
{
	unsigned ms = guest_ended ? EXIT_FLUSH_MS : FLUSH_MS;

	console_flush(vm->uart_con, ms);
	console_flush(vm->hvc_con, ms);
}

int vm_hvc_input(struct vmm *vm, const void *buf, size_t len)
{
	if (!vm->hvc_con || vm->hvc_cfg.fds)
		return -EINVAL;
	return (int)console_inject(vm->hvc_con, buf, len);
}
