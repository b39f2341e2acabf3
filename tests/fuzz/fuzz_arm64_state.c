// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_arm64_state: the arm64 snapshot blobs a restore reads from a state file before it makes any KVM
 * call: the GICv3's ("kvm-arm64", src/arm64/gic_state.c) and a vCPU's ("vcpu-arm64",
 * src/arm64/vcpu_state.c).
 *
 * Input: u8 mode: bit 0 clear, a GICv3 blob for a VM of (mode >> 1) % 64 + 1 vCPUs; set, a vCPU blob.
 * The rest of the input is the blob.
 * Checked beyond the sanitizers:
 * - a refusal returns -EINVAL (or -ENOMEM) with the reader marked bad, a reason in err, and nothing
 *   left allocated (the vCPU state's arrays are NULL);
 * - an accepted blob is what the writer makes of what was read: writing it again gives the bytes read
 *   back, exactly (so a restore hands KVM what a save took from it, nothing invented);
 * - a GICv3 blob is accepted only for the VM's own vCPU count, with 1, 2 or 4 active-priority
 *   registers per CPU interface; a vCPU blob's registers are arm64 registers of at most 256 bytes,
 *   packed one after another.
 */
#include <errno.h>

#include "arm64/gic_state.h"
#include "arm64/vcpu_state.h"
#include "fuzz.h"

static struct gic_state gic;

static void check_rewrite(const uint8_t *blob, size_t consumed, struct sbuf *again)
{
	FUZZ_CHECK(!again->oom);
	FUZZ_CHECK(again->len == consumed);
	FUZZ_CHECK(memcmp(again->data, blob, consumed) == 0);
	sbuf_free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sreader r;
	struct sbuf again;
	char err[128] = "";
	uint8_t mode;
	int ret;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	sreader_init(&r, data, size);
	if (!(mode & 1)) {
		unsigned ncpus = (mode >> 1) % ARM64_MAX_CPUS + 1;

		ret = gic_state_read(&r, ncpus, &gic, err, sizeof(err));
		if (ret) {
			FUZZ_CHECK(ret == -EINVAL && !sr_ok(&r) && err[0]);
			return 0;
		}
		FUZZ_CHECK(gic.ncpus == ncpus);
		for (unsigned c = 0; c < ncpus; c++)
			FUZZ_CHECK(gic.cpu[c].nap == 1 || gic.cpu[c].nap == 2 || gic.cpu[c].nap == 4);
		sbuf_init(&again);
		gic_state_write(&gic, &again);
		check_rewrite(data, r.off, &again);
	} else {
		struct arm64_vcpu_state s;
		uint32_t off = 0;

		ret = arm64_vcpu_state_read(&r, &s, err, sizeof(err));
		if (ret) {
			FUZZ_CHECK((ret == -EINVAL && !sr_ok(&r) && err[0]) || ret == -ENOMEM);
			FUZZ_CHECK(!s.regs && !s.values);
			return 0;
		}
		FUZZ_CHECK(s.events_len == 0 || s.events_len == ARM64_VCPU_EVENTS_SIZE);
		for (uint32_t i = 0; i < s.nregs; i++) {
			FUZZ_CHECK(s.regs[i].size == arm64_reg_size(s.regs[i].id) && s.regs[i].size > 0);
			FUZZ_CHECK(s.regs[i].off == off);
			off += s.regs[i].size;
		}
		sbuf_init(&again);
		arm64_vcpu_state_write(&s, &again);
		check_rewrite(data, r.off, &again);
		arm64_vcpu_state_free(&s);
	}
	return 0;
}
