/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An arm64 vCPU's state in a snapshot (its "vcpuN" section): every register KVM lists for it
 * (KVM_GET_REG_LIST: the core registers, the system registers with the timer's and the pointer
 * authentication keys, the firmware's PSCI and SMCCC registers, the cache geometry), its
 * multiprocessor state (a secondary vCPU the guest never started stays off) and its pending
 * SError (KVM_GET_VCPU_EVENTS). Only the format lives here (no KVM call: it is unit-tested and
 * fuzzed on every build host); arm64/machine.c reads and writes the vCPU.
 *
 * Blob, version 1 (integers little-endian):
 *   u32 ARM64_VCPU_STATE_MAGIC, u32 version, u32 KVM mp_state
 *   u32 events length (0, or ARM64_VCPU_EVENTS_SIZE: struct kvm_vcpu_events), its bytes
 *   u32 nregs (<= ARM64_VCPU_MAX_REGS), nregs times { u64 KVM register id, its value (the size the id
 *   encodes, at most ARM64_REG_MAX_BYTES) }
 */
#ifndef VMM_ARM64_VCPU_STATE_H
#define VMM_ARM64_VCPU_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "snapshot/sbuf.h"

#define ARM64_VCPU_STATE_MAGIC 0x34364176u /* "vA64" as little-endian bytes */
#define ARM64_VCPU_STATE_VERSION 1u
#define ARM64_VCPU_MAX_REGS 4096u /* KVM lists a few hundred */
#define ARM64_REG_MAX_BYTES 256u  /* KVM_REG_SIZE_U2048: an SVE vector register at most */
#define ARM64_VCPU_EVENTS_SIZE 64u

struct arm64_reg {
	uint64_t id;
	uint32_t size; /* bytes, from the id */
	uint32_t off;  /* of its value in values */
};

struct arm64_vcpu_state {
	uint32_t mp_state;
	uint32_t events_len;
	uint8_t events[ARM64_VCPU_EVENTS_SIZE];
	uint32_t nregs;
	struct arm64_reg *regs; /* malloc()ed, nregs */
	uint8_t *values;        /* malloc()ed, every value one after the other */
};

/* The size in bytes of the value of KVM register id, or 0 when id is not an arm64 register's or too large. */
uint32_t arm64_reg_size(uint64_t id);
/* Make room for n registers of at most value_bytes bytes in all. 0 or -ENOMEM. */
int arm64_vcpu_state_alloc(struct arm64_vcpu_state *s, uint32_t n, size_t value_bytes);
void arm64_vcpu_state_free(struct arm64_vcpu_state *s);
void arm64_vcpu_state_write(const struct arm64_vcpu_state *s, struct sbuf *out);
/* Read and check a whole blob into s (free it after). 0, -ENOMEM, or -EINVAL (in marked bad) with the reason in err. */
int arm64_vcpu_state_read(struct sreader *in, struct arm64_vcpu_state *s, char *err, size_t errlen);

#endif
