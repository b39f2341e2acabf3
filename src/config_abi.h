/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Older layouts of the public configuration (include/vmm/vmm.h, VMM_CONFIG_VERSION), frozen as they
 * were released, and their conversion to the current one. Version 1: libvmm 0.1.0; version 2: 0.2.0
 * (its struct vmm_config ends at nfs, its struct vmm_net is shorter); version 3: 0.3.0 (its struct
 * vmm_config ends at nfs; config_abi.c counts its size so); version 4: 0.4.0; version 5: 0.5.0 (its
 * struct vmm_config ends at seccomp, counted so). Never edit a frozen layout; add the
 * next one when a released struct grows.
 */
#ifndef VMM_CONFIG_ABI_H
#define VMM_CONFIG_ABI_H

#include <stddef.h>

#include <vmm/vmm.h>

#include "log.h"

/* struct vmm_net of version 1. */
struct vmm_net_v1 {
	const char *tap;
	int has_mac;
	uint8_t mac[6];
	unsigned queue_pairs;
};

/* struct vmm_net of version 2 (struct vmm_config of version 2 is that of version 3). */
struct vmm_net_v2 {
	const char *tap;
	int has_mac;
	uint8_t mac[6];
	unsigned queue_pairs;
	int backend;
	const char *path;
};

/* struct vmm_net of versions 3 and 4 (struct vmm_config of version 4 is that of version 5). */
struct vmm_net_v3 {
	const char *tap;
	int has_mac;
	uint8_t mac[6];
	unsigned queue_pairs;
	int backend;
	const char *path;
	const struct vmm_hostfwd *hostfwd;
	unsigned nhostfwd;
	int no_host_loopback;
	int restricted;
};

/* struct vmm_config of version 1 (struct vmm_disk and struct vmm_console are unchanged since). */
struct vmm_config_v1 {
	const char *kernel;
	const char *initrd;
	const char *cmdline;
	uint64_t mem_bytes;
	unsigned cpus;
	unsigned timeout_ms;
	const struct vmm_disk *disks;
	unsigned ndisks;
	const struct vmm_net_v1 *nets;
	unsigned nnets;
	uint16_t debug_exit_port;
	vmm_console_fn console_out;
	void *console_opaque;
	vmm_event_fn event;
	void *event_opaque;
	vmm_log_fn log;
	void *log_opaque;
	enum vmm_log_level log_level;
	int boot_timer;
	uint64_t boot_timer_origin_ns;
	int stats;
	struct vmm_console console;
	int hvc;
	struct vmm_console hvc_io;
	vmm_console_fn hvc_out;
	void *hvc_opaque;
};

/* A configuration of any known version, in the current layout (nets points at this copy's own array). */
struct config_copy {
	struct vmm_config cfg;
	struct vmm_net nets[VMM_MAX_NICS];
};

/* The size of struct vmm_config in version v (0: a version this library does not know). */
size_t config_abi_size(unsigned version);
/*
 * Bring cfg (of version `version`) to the current layout in *out. -ENOTSUP (and one line through the
 * log callback found at the same place in every version) for an unknown version.
 */
int config_abi_upgrade(const void *cfg, unsigned version, struct config_copy *out);

#endif
