// SPDX-License-Identifier: Apache-2.0
/*
 * The VM's virtio devices: disks (virtio-blk), NICs (virtio-net) and the power button of a machine
 * with no other (virtio-input), each a virtio-pci function.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arch.h"
#include "device.h"
#include "disk.h"
#include "event_loop.h"
#include "net_stream.h"
#include "net_user.h"
#include "tap.h"
#include "virtio/blk.h"
#include "virtio/input.h"
#include "virtio/net.h"
#include "virtio/pci.h"
#include "vm.h"

static void device_error(void *opaque)
{
	vm_event(opaque, VMM_EVENT_DEVICE_ERROR);
}

struct event_loop *vm_io_loop(struct vmm *vm)
{
	return vm->loops[++vm->placed % vm->nloops];
}

void vm_stop_io_loops(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->nloops; i++)
		if (vm->loops[i])
			event_loop_stop(vm->loops[i]);
}

int vm_attach_virtio_pci(struct vmm *vm, const struct virtio_device_ops *ops, void *dev, struct irq_msix **msix,
			 struct event_loop *loop, struct virtio_pci **out)
{
	int ret = irq_routes_msix_create(&vm->routes, ops->num_queues(dev) + 1, msix);

	if (!ret) {
		struct virtio_pci_opts o = {
			.ops = ops,
			.dev = dev,
			.mem = &vm->mem,
			.loop = loop,
			.bus = &vm->pci,
			.vm_fd = vm->vm_fd,
			.msi_ops = &irq_routes_msi_ops,
			.msi_opaque = *msix,
			.log = &vm->log,
			.device_error = device_error,
			.error_opaque = vm,
		};

		ret = virtio_pci_create(&o, out);
	}
	if (!ret && arch_msi_devid)
		irq_routes_msix_set_devid(*msix, virtio_pci_dev(*out)->slot << 3); /* bus 0, function 0 */
	if (!ret) {
		char name[32];

		/* Named by its slot: the same configuration gives the same names (the snapshot's sections). */
		snprintf(name, sizeof(name), "pci-00:%02x.0", virtio_pci_dev(*out)->slot);
		ret = vm_add_device_on(vm, name, &virtio_pci_device_ops, *out, loop);
	}
	return ret;
}

static int add_disk(struct vmm *vm, unsigned i)
{
	const struct vmm_disk *c = &vm->disk_cfg[i];
	struct virtio_blk_config_opts bo = { .serial = c->serial, .num_queues = vm->ncpus };
	struct disk *d;
	void *blk;
	int ret;

	ret = disk_open(c->path, c->readonly, c->direct, &vm->log, &d);
	if (ret)
		return ret;
	vm->disk[i] = d; /* the device uses it; vm_teardown_disks() closes it after the device is gone */
	ret = virtio_blk_create(d, &bo, &vm->log, &blk);
	if (ret) {
		vlog_err(&vm->log, "cannot create the virtio-blk device for '%s': %s", c->path, strerror(-ret));
		return ret;
	}
	ret = vm_attach_virtio_pci(vm, &virtio_blk_ops, blk, &vm->vblk_msix[i], vm_io_loop(vm), &vm->vblk[i]);
	if (ret) {
		vlog_err(&vm->log, "cannot attach disk '%s' to the PCI bus: %s", c->path, strerror(-ret));
		virtio_blk_ops.destroy(blk); /* not the disk: vm_teardown_disks() closes it */
		return ret;
	}
	return 0;
}

int vm_setup_disks(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->ndisks; i++) {
		int ret = add_disk(vm, i);

		if (ret)
			return ret;
	}
	return 0;
}

void vm_teardown_disks(struct vmm *vm)
{
	/*
	 * Destroying a function resets its device on the I/O thread (which must still run: a NIC's
	 * waiting poll is only cancelled by its reset); the loop then stops once the last in-flight
	 * request has completed, and only then are the disks' fds closed.
	 */
	for (unsigned i = 0; i < vm->ndisks; i++) {
		if (vm->vblk[i])
			virtio_pci_destroy(vm->vblk[i]);
		if (vm->vblk_msix[i])
			irq_routes_msix_destroy(vm->vblk_msix[i]);
		vm->vblk[i] = NULL;
		vm->vblk_msix[i] = NULL;
	}
	vm_stop_io_loops(vm);
	for (unsigned i = 0; i < vm->ndisks; i++) {
		disk_close(vm->disk[i]);
		vm->disk[i] = NULL;
	}
}

/* The NIC's backend: a tap, a stream socket or a slirp stack. Its name for messages in *what. */
static int open_backend(struct vmm *vm, unsigned i, struct tap **tap, struct net_backend **be, const char **what)
{
	struct vmm_net *c = &vm->net_cfg[i];
	int ret;

	switch (c->backend) {
	case VMM_NET_STREAM:
		*what = c->path;
		return net_stream_open(c->path, &vm->log, be);
	case VMM_NET_USER:
		*what = "user";
		ret = net_user_open(c, &vm->log, &vm->seccomp, be);
		c->hostfwd = NULL; /* the caller's array, read once here: not kept */
		return ret;
	default:
		*what = c->tap;
		return tap_open(c->tap, c->queue_pairs ? c->queue_pairs : 1, &vm->log, tap);
	}
}

static int add_net(struct vmm *vm, unsigned i)
{
	const struct vmm_net *c = &vm->net_cfg[i];
	unsigned pairs = c->queue_pairs ? c->queue_pairs : 1;
	struct virtio_net_opts no = { .queue_pairs = pairs, .vhost = c->vhost != 0 };
	struct net_backend *be = NULL;
	struct tap *tap = NULL;
	const char *what = "";
	const char *kind = c->backend == VMM_NET_TAP ? "tap" : c->backend == VMM_NET_STREAM ? "socket" : "network";
	void *dev;
	int ret;

	ret = open_backend(vm, i, &tap, &be, &what);
	if (ret)
		return ret;
	if (!c->has_mac)
		tap_default_mac(what, i, vm->net_cfg[i].mac); /* kept: a snapshot records what the guest saw */
	memcpy(no.mac, c->mac, 6);
	no.tap = tap;
	no.backend = be;
	ret = virtio_net_create(&no, &vm->log, &dev);
	if (ret) {
		vlog_err(&vm->log, "cannot create the virtio-net device on %s '%s': %s", kind, what, strerror(-ret));
		if (be)
			be->ops->close(be);
		tap_close(tap);
		return ret;
	}
	ret = vm_attach_virtio_pci(vm, &virtio_net_ops, dev, &vm->vnet_msix[i], vm_io_loop(vm), &vm->vnet[i]);
	if (ret) {
		vlog_err(&vm->log, "cannot attach the NIC on %s '%s' to the PCI bus: %s", kind, what, strerror(-ret));
		virtio_net_ops.destroy(dev); /* closes the tap or the socket */
	}
	return ret;
}

int vm_setup_nets(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->nnets; i++) {
		int ret = add_net(vm, i);

		if (ret)
			return ret;
	}
	return 0;
}

void vm_teardown_nets(struct vmm *vm)
{
	/* With the I/O thread still running: the reset cancels each RX queue's waiting poll. */
	for (unsigned i = 0; i < vm->nnets; i++) {
		if (vm->vnet[i])
			virtio_pci_destroy(vm->vnet[i]); /* the device closes its tap */
		if (vm->vnet_msix[i])
			irq_routes_msix_destroy(vm->vnet_msix[i]);
		vm->vnet[i] = NULL;
		vm->vnet_msix[i] = NULL;
	}
}

int vm_setup_power_key(struct vmm *vm)
{
	int ret;

	if (!arch_virtio_power_key)
		return 0;
	ret = virtio_input_create(&vm->log, &vm->power_key);
	if (ret)
		return ret;
	ret = vm_attach_virtio_pci(vm, &virtio_input_ops, vm->power_key, &vm->vpower_key_msix, vm->loop,
				   &vm->vpower_key);
	if (ret) {
		vlog_err(&vm->log, "cannot attach the power button (virtio-input) to the PCI bus: %s", strerror(-ret));
		virtio_input_ops.destroy(vm->power_key);
		vm->power_key = NULL;
	}
	return ret;
}

void vm_teardown_power_key(struct vmm *vm)
{
	if (vm->vpower_key)
		virtio_pci_destroy(vm->vpower_key); /* resets and frees the device on the I/O thread */
	if (vm->vpower_key_msix)
		irq_routes_msix_destroy(vm->vpower_key_msix);
	vm->vpower_key = NULL;
	vm->vpower_key_msix = NULL;
	vm->power_key = NULL;
}

static void press_on_loop(void *arg)
{
	virtio_input_press(arg);
}

void vm_press_power_key(struct vmm *vm)
{
	if (vm->vpower_key)
		event_loop_call(vm->loop, press_on_loop, vm->power_key);
}
