// SPDX-License-Identifier: Apache-2.0
/* The VM's shared folders: a virtio-fs device per --fs, each on its vhost-user backend (virtiofsd). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vhost_user.h"
#include "virtio/fs.h"
#include "virtio/pci.h"
#include "vm.h"

static int add_fs(struct vmm *vm, unsigned i)
{
	const struct vmm_fs *c = &vm->fs_cfg[i];
	struct virtio_fs_opts o = { .tag = c->tag, .queues = c->queues ? c->queues : 1 };
	struct vhost_user *vu;
	char name[64];
	void *dev;
	int ret;

	snprintf(name, sizeof(name), "virtio-fs '%s'", c->tag);
	ret = vhost_user_connect(c->socket, name, &vm->log, &vu);
	if (ret)
		return ret;
	ret = vhost_user_handshake(vu, 1 + o.queues);
	if (!ret)
		ret = virtio_fs_create(&o, vu, &vm->log, &dev);
	if (ret) {
		vhost_user_close(vu);
		return ret;
	}
	ret = vm_attach_virtio_pci(vm, &virtio_fs_ops, dev, &vm->vfs_msix[i], vm_io_loop(vm), &vm->vfs[i]);
	if (ret) {
		vlog_err(&vm->log, "cannot attach the shared folder '%s' to the PCI bus: %s", c->tag, strerror(-ret));
		virtio_fs_ops.destroy(dev); /* closes the connection */
	}
	return ret;
}

int vm_setup_fs(struct vmm *vm)
{
	for (unsigned i = 0; i < vm->nfs; i++) {
		int ret = add_fs(vm, i);

		if (ret)
			return ret;
	}
	return 0;
}

void vm_teardown_fs(struct vmm *vm)
{
	/* With the I/O thread still running: the reset takes the rings back from the backend. */
	for (unsigned i = 0; i < vm->nfs; i++) {
		if (vm->vfs[i])
			virtio_pci_destroy(vm->vfs[i]); /* the device closes its connection */
		if (vm->vfs_msix[i])
			irq_routes_msix_destroy(vm->vfs_msix[i]);
		vm->vfs[i] = NULL;
		vm->vfs_msix[i] = NULL;
	}
}
