/* SPDX-License-Identifier: Apache-2.0 */
/* One vCPU: its fd, its kvm_run page, its thread running KVM_RUN and dispatching exits. */
#ifndef VMM_VCPU_H
#define VMM_VCPU_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

#include "stats.h"

struct vmm;

struct vcpu {
	struct vmm *vm;
	unsigned id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	atomic_bool thread_started;
	bool ran;             /* has entered KVM_RUN once (the boot timer's "first KVM_RUN") */
	bool exit_pending;    /* an exit was served and KVM has not yet been re-entered to finish it */
	struct stats stats;   /* written by this vCPU's thread only; read after vcpu_join() */
};

int vcpu_create(struct vmm *vm, unsigned id, struct vcpu **out);
int vcpu_start(struct vcpu *v);
/* Make the vCPU leave KVM_RUN soon (immediate_exit + the kick signal). Any thread. */
void vcpu_kick(struct vcpu *v);
void vcpu_join(struct vcpu *v);
/* Is the calling thread this vCPU's thread? */
bool vcpu_is_self(struct vcpu *v);
void vcpu_destroy(struct vcpu *v);

#endif
