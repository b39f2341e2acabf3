// SPDX-License-Identifier: Apache-2.0
/* An arm64 vCPU's state in a snapshot: the blob (arm64/vcpu_state.h). */
#include "arm64/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint32_t arm64_reg_size(uint64_t id)
{
	uint32_t size;

	if ((id & KVM_REG_ARCH_MASK) != KVM_REG_ARM64)
		return 0;
	size = 1u << ((id & KVM_REG_SIZE_MASK) >> KVM_REG_SIZE_SHIFT);
	return size <= ARM64_REG_MAX_BYTES ? size : 0;
}

int arm64_vcpu_state_alloc(struct arm64_vcpu_state *s, uint32_t n, size_t value_bytes)
{
	s->regs = calloc(n ? n : 1, sizeof(*s->regs));
	s->values = malloc(value_bytes ? value_bytes : 1);
	if (!s->regs || !s->values) {
		arm64_vcpu_state_free(s);
		return -ENOMEM;
	}
	return 0;
}

void arm64_vcpu_state_free(struct arm64_vcpu_state *s)
{
	free(s->regs);
	free(s->values);
	s->regs = NULL;
	s->values = NULL;
	s->nregs = 0;
}

void arm64_vcpu_state_write(const struct arm64_vcpu_state *s, struct sbuf *out)
{
	sbuf_u32(out, ARM64_VCPU_STATE_MAGIC);
	sbuf_u32(out, ARM64_VCPU_STATE_VERSION);
	sbuf_u32(out, s->mp_state);
	sbuf_u32(out, s->events_len);
	sbuf_put(out, s->events, s->events_len <= ARM64_VCPU_EVENTS_SIZE ? s->events_len : 0);
	sbuf_u32(out, s->nregs);
	for (uint32_t i = 0; i < s->nregs; i++) {
		sbuf_u64(out, s->regs[i].id);
		sbuf_put(out, s->values + s->regs[i].off, s->regs[i].size);
	}
}

int arm64_vcpu_state_read(struct sreader *in, struct arm64_vcpu_state *s, char *err, size_t errlen)
{
	uint32_t magic, version, n;
	size_t off = 0;
	int ret;

	memset(s, 0, sizeof(*s));
	magic = sr_u32(in);
	version = sr_u32(in);
	if (!sr_ok(in) || magic != ARM64_VCPU_STATE_MAGIC || version != ARM64_VCPU_STATE_VERSION) {
		snprintf(err, errlen, "it is not an arm64 vCPU state of version %u", ARM64_VCPU_STATE_VERSION);
		goto bad;
	}
	s->mp_state = sr_u32(in);
	s->events_len = sr_u32(in);
	if (sr_ok(in) && s->events_len != 0 && s->events_len != ARM64_VCPU_EVENTS_SIZE) {
		snprintf(err, errlen, "its pending events have %u bytes, not %u", s->events_len, ARM64_VCPU_EVENTS_SIZE);
		goto bad;
	}
	sr_get(in, s->events, s->events_len);
	n = sr_u32(in);
	if (!sr_ok(in) || n > ARM64_VCPU_MAX_REGS) {
		snprintf(err, errlen, "it lists %u registers (at most %u)", n, ARM64_VCPU_MAX_REGS);
		goto bad;
	}
	/* At most ARM64_REG_MAX_BYTES each, and no more than the blob still holds. */
	ret = arm64_vcpu_state_alloc(s, n, (size_t)n * ARM64_REG_MAX_BYTES < sr_left(in) ? (size_t)n * ARM64_REG_MAX_BYTES
											: sr_left(in));
	if (ret)
		return ret;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t id = sr_u64(in);
		uint32_t size = arm64_reg_size(id);

		if (!sr_ok(in))
			break;
		if (!size) {
			snprintf(err, errlen, "register %u has id 0x%llx, not an arm64 register's", i, (unsigned long long)id);
			goto bad;
		}
		if (size > sr_left(in))
			break; /* truncated */
		s->regs[i] = (struct arm64_reg){ .id = id, .size = size, .off = (uint32_t)off };
		sr_get(in, s->values + off, size);
		off += size;
		s->nregs = i + 1;
	}
	if (!sr_ok(in) || s->nregs != n) {
		snprintf(err, errlen, "its registers are truncated");
		goto bad;
	}
	return 0;
bad:
	sr_fail(in);
	arm64_vcpu_state_free(s);
	return -EINVAL;
}
