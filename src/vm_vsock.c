// SPDX-License-Identifier: Apache-2.0
/* The VM's virtio-vsock device (hybrid vsock over a host unix socket), a virtio-pci function. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "virtio/pci.h"
#include "virtio/vsock.h"
#include "vm.h"

int vm_setup_vsock(struct vmm *vm)
{
	struct virtio_vsock_opts o = { .guest_cid = vm->vsock_cid, .uds = vm->vsock_uds };
	void *dev;
	int ret;

	if (!vm->vsock_cid)
		return 0;
	ret = virtio_vsock_create(&o, &vm->log, &dev); /* says why it failed */
	if (ret)
		return ret;
	ret = vm_attach_virtio_pci(vm, &virtio_vsock_ops, dev, &vm->vvsock_msix, vm_io_loop(vm), &vm->vvsock);
	if (ret) {
		vlog_err(&vm->log, "cannot attach the virtio-vsock device to the PCI bus: %s", strerror(-ret));
		virtio_vsock_ops.destroy(dev);
	}
	return ret;
}

void vm_teardown_vsock(struct vmm *vm)
{
	/* With the I/O thread still running: the reset closes every connection and ends its SQEs. */
	if (vm->vvsock)
		virtio_pci_destroy(vm->vvsock);
	if (vm->vvsock_msix)
		irq_routes_msix_destroy(vm->vvsock_msix);
	vm->vvsock = NULL;
	vm->vvsock_msix = NULL;
}
