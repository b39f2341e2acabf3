// SPDX-License-Identifier: Apache-2.0
/*
 * The arm64 snapshot blobs (src/arm64/gic_state.c, src/arm64/vcpu_state.c): the register tables, round
 * trips, and hostile input: every truncation, bad magic, version, counts and sizes, random bytes.
 */
#include <check.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arm64/gic_state.h"
#include "arm64/vcpu_state.h"
#include "unit.h"

static unsigned words(const struct gic_reg *r, unsigned n)
{
	unsigned w = 0;

	for (unsigned i = 0; i < n; i++)
		w += r[i].words;
	return w;
}

START_TEST(tables_match_the_format)
{
	ck_assert_uint_eq(words(gic_dist_regs, gic_dist_nregs), GIC_DIST_WORDS);
	ck_assert_uint_eq(words(gic_redist_regs, gic_redist_nregs), GIC_REDIST_WORDS);
	/* GICR_CTLR (EnableLPIs) after the LPI tables; GICD_CTLR first; GITS_CTLR last, CBASER before CREADR. */
	ck_assert_uint_eq(gic_redist_regs[gic_redist_nregs - 1].offset, 0);
	ck_assert_uint_eq(gic_dist_regs[0].offset, 0);
	ck_assert_uint_eq(gic_its_regs[GIC_ITS_REGS - 1], 0);
	ck_assert_uint_eq(gic_its_regs[1], 0x80);
	ck_assert_uint_eq(gic_icc_main[0], GIC_SYSREG(3, 0, 12, 12, 5)); /* ICC_SRE_EL1 */
	ck_assert_uint_eq(gic_icc_main[1], ICC_CTLR_EL1);
	/* Every set register with a clear twin: the twin is 0x80 above it, as in the GICv3 map. */
	for (unsigned i = 0; i < gic_dist_nregs; i++)
		if (gic_dist_regs[i].clear)
			ck_assert_uint_eq(gic_dist_regs[i].clear, gic_dist_regs[i].offset + 0x80);
}
END_TEST

START_TEST(active_priority_registers_by_priority_bits)
{
	ck_assert_uint_eq(gic_icc_nap(4u << 8), 1);  /* 5 bits: KVM's usual */
	ck_assert_uint_eq(gic_icc_nap(5u << 8), 2);  /* 6 bits */
	ck_assert_uint_eq(gic_icc_nap(6u << 8), 4);  /* 7 bits */
	ck_assert_uint_eq(gic_icc_nap(0), 1);
	ck_assert_uint_eq(gic_icc_nap(~0ull), 1);    /* 8 "bits" cannot be: read as the smallest */
}
END_TEST

static void fill_gic(struct gic_state *s, unsigned ncpus, bool its, uint8_t nap)
{
	memset(s, 0, sizeof(*s));
	s->ncpus = ncpus;
	for (unsigned i = 0; i < GIC_DIST_WORDS; i++)
		s->dist[i] = 0x1000u + i;
	for (unsigned i = 0; i < GIC_LEVEL_WORDS; i++)
		s->level[i] = 0xa5a50000u + i;
	for (unsigned c = 0; c < ncpus; c++) {
		for (unsigned i = 0; i < GIC_REDIST_WORDS; i++)
			s->cpu[c].redist[i] = c << 16 | i;
		for (unsigned i = 0; i < GIC_ICC_MAIN; i++)
			s->cpu[c].icc[i] = (uint64_t)c << 32 | i;
		s->cpu[c].nap = nap;
		for (unsigned i = 0; i < nap; i++) {
			s->cpu[c].ap0[i] = 0x100 + i;
			s->cpu[c].ap1[i] = 0x200 + i;
		}
	}
	s->its = its;
	for (unsigned i = 0; its && i < GIC_ITS_REGS; i++)
		s->its_regs[i] = 0xfeed0000ull + i;
}

START_TEST(gic_round_trip)
{
	static const struct {
		unsigned ncpus;
		bool its;
		uint8_t nap;
	} cases[] = { { 1, true, 1 }, { 2, false, 2 }, { ARM64_MAX_CPUS, true, 4 } };
	struct gic_state *a = malloc(sizeof(*a)), *b = malloc(sizeof(*b));
	char err[128];

	for (unsigned k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		struct sbuf out, again;
		struct sreader r;

		fill_gic(a, cases[k].ncpus, cases[k].its, cases[k].nap);
		sbuf_init(&out);
		gic_state_write(a, &out);
		ck_assert(!out.oom);
		sreader_init(&r, out.data, out.len);
		ck_assert_int_eq(gic_state_read(&r, cases[k].ncpus, b, err, sizeof(err)), 0);
		ck_assert(sr_done(&r));
		ck_assert_mem_eq(a->dist, b->dist, sizeof(a->dist));
		ck_assert_mem_eq(a->level, b->level, sizeof(a->level));
		ck_assert_mem_eq(a->cpu, b->cpu, cases[k].ncpus * sizeof(a->cpu[0]));
		ck_assert_int_eq(a->its, b->its);
		ck_assert_mem_eq(a->its_regs, b->its_regs, sizeof(a->its_regs));
		sbuf_init(&again);
		gic_state_write(b, &again);
		ck_assert_uint_eq(again.len, out.len);
		ck_assert_mem_eq(again.data, out.data, out.len);
		/* Another VM shape: refused with the reason. */
		sreader_init(&r, out.data, out.len);
		ck_assert_int_eq(gic_state_read(&r, cases[k].ncpus + 1, b, err, sizeof(err)), -EINVAL);
		ck_assert(!sr_ok(&r));
		ck_assert_ptr_nonnull(strstr(err, "CPU interfaces"));
		/* Every truncation is refused, none reads past the end (ASan). */
		for (size_t len = 0; len < out.len; len++) {
			uint8_t *copy = malloc(len ? len : 1);

			memcpy(copy, out.data, len);
			sreader_init(&r, copy, len);
			err[0] = 0;
			ck_assert_int_eq(gic_state_read(&r, cases[k].ncpus, b, err, sizeof(err)), -EINVAL);
			ck_assert(!sr_ok(&r));
			ck_assert(err[0]);
			free(copy);
		}
		sbuf_free(&out);
		sbuf_free(&again);
	}
	free(a);
	free(b);
}
END_TEST

/* Patch the u32 (or byte) at off of a valid one-vCPU blob and read it as a restore does: the result and the message. */
static int gic_patched(size_t off, uint32_t v, uint8_t byte_only, char *err)
{
	struct gic_state *s = malloc(sizeof(*s));
	struct sbuf out;
	struct sreader r;
	int ret;

	fill_gic(s, 1, true, 1);
	sbuf_init(&out);
	gic_state_write(s, &out);
	if (byte_only)
		out.data[off] = (uint8_t)v;
	else
		memcpy(out.data + off, &v, 4);
	sreader_init(&r, out.data, out.len);
	ret = gic_state_read(&r, 1, s, err, 128);
	if (ret)
		ck_assert(!sr_ok(&r));
	else if (!sr_done(&r))
		ret = -EINVAL; /* bytes left over: vm_restore_state() refuses them */
	sbuf_free(&out);
	free(s);
	return ret;
}

START_TEST(gic_hostile_headers)
{
	const size_t cpu0 = 16 + 4 * (GIC_DIST_WORDS + GIC_LEVEL_WORDS);
	const size_t nap = cpu0 + 4 * GIC_REDIST_WORDS + 8 * GIC_ICC_MAIN;
	char err[128];

	ck_assert_int_eq(gic_patched(0, 0x12345678, 0, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a GICv3 state"));
	ck_assert_int_eq(gic_patched(4, 2, 0, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "version 2"));
	ck_assert_int_eq(gic_patched(8, 256, 0, err), -EINVAL);
	ck_assert_int_eq(gic_patched(12, 0, 0, err), -EINVAL);
	ck_assert_int_eq(gic_patched(12, 0xffffffff, 0, err), -EINVAL);
	for (unsigned bad = 0; bad < 256; bad++) {
		int ret = gic_patched(nap, bad, 1, err);

		/* nap 2 or 4 makes the rest of the blob shift: still a refusal, never a crash. */
		ck_assert_int_eq(ret, (bad == 1 ? 0 : -EINVAL));
	}
	/* The ITS flag is 0 or 1. */
	ck_assert_int_eq(gic_patched(nap + 1 + 16, 2, 1, err), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "ITS flag"));
}
END_TEST

START_TEST(reg_sizes)
{
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_ARM64 | KVM_REG_SIZE_U64 | 1), 8);
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_ARM64 | KVM_REG_SIZE_U32 | 1), 4);
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_ARM64 | KVM_REG_SIZE_U128 | 1), 16);
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_ARM64 | KVM_REG_SIZE_U2048 | 1), 256);
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_ARM64 | (9ull << KVM_REG_SIZE_SHIFT)), 0);   /* 512 bytes */
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_ARM64 | (15ull << KVM_REG_SIZE_SHIFT)), 0);  /* 32 KiB */
	ck_assert_uint_eq(arm64_reg_size(KVM_REG_X86 | KVM_REG_SIZE_U64), 0);
	ck_assert_uint_eq(arm64_reg_size(0), 0);
}
END_TEST

static void vcpu_blob(struct sbuf *out, uint32_t n, bool events)
{
	struct arm64_vcpu_state s = { .mp_state = 5 };
	uint32_t off = 0;

	ck_assert_int_eq(arm64_vcpu_state_alloc(&s, n, (size_t)n * 16), 0);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t size = i % 3 == 0 ? KVM_REG_SIZE_U128 : i % 3 == 1 ? KVM_REG_SIZE_U64 : KVM_REG_SIZE_U32;

		s.regs[i].id = KVM_REG_ARM64 | size | i;
		s.regs[i].size = arm64_reg_size(s.regs[i].id);
		s.regs[i].off = off;
		for (uint32_t b = 0; b < s.regs[i].size; b++)
			s.values[off + b] = (uint8_t)(i * 7 + b);
		off += s.regs[i].size;
	}
	s.nregs = n;
	if (events) {
		s.events_len = ARM64_VCPU_EVENTS_SIZE;
		memset(s.events, 0x5a, sizeof(s.events));
	}
	sbuf_init(out);
	arm64_vcpu_state_write(&s, out);
	ck_assert(!out->oom);
	arm64_vcpu_state_free(&s);
}

START_TEST(vcpu_round_trip_and_truncations)
{
	struct arm64_vcpu_state s;
	struct sbuf out, again;
	struct sreader r;
	char err[128];

	vcpu_blob(&out, 300, true);
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), 0);
	ck_assert(sr_done(&r));
	ck_assert_uint_eq(s.nregs, 300);
	ck_assert_uint_eq(s.mp_state, 5);
	ck_assert_uint_eq(s.events_len, ARM64_VCPU_EVENTS_SIZE);
	sbuf_init(&again);
	arm64_vcpu_state_write(&s, &again);
	ck_assert_uint_eq(again.len, out.len);
	ck_assert_mem_eq(again.data, out.data, out.len);
	arm64_vcpu_state_free(&s);
	sbuf_free(&again);
	for (size_t len = 0; len < out.len; len++) {
		uint8_t *copy = malloc(len ? len : 1);

		memcpy(copy, out.data, len);
		sreader_init(&r, copy, len);
		ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
		ck_assert(!sr_ok(&r));
		ck_assert_ptr_null(s.regs);
		free(copy);
	}
	sbuf_free(&out);
	/* No registers and no events: a valid (if useless) blob. */
	vcpu_blob(&out, 0, false);
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), 0);
	ck_assert(sr_done(&r));
	arm64_vcpu_state_free(&s);
	sbuf_free(&out);
}
END_TEST

START_TEST(vcpu_hostile)
{
	struct arm64_vcpu_state s;
	struct sbuf out;
	struct sreader r;
	char err[128];
	uint32_t v;

	vcpu_blob(&out, 4, true);
	/* events length neither 0 nor 64 */
	v = 65;
	memcpy(out.data + 12, &v, 4);
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "pending events"));
	v = ARM64_VCPU_EVENTS_SIZE;
	memcpy(out.data + 12, &v, 4);
	/* A count far beyond the limit, and one just within it that the blob does not hold. */
	v = 0xffffffff;
	memcpy(out.data + 16 + ARM64_VCPU_EVENTS_SIZE, &v, 4);
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "registers"));
	v = ARM64_VCPU_MAX_REGS;
	memcpy(out.data + 16 + ARM64_VCPU_EVENTS_SIZE, &v, 4);
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
	v = 4;
	memcpy(out.data + 16 + ARM64_VCPU_EVENTS_SIZE, &v, 4);
	/* A register id of another architecture, and one whose size is too large. */
	{
		size_t id0 = 20 + ARM64_VCPU_EVENTS_SIZE;
		uint64_t id = KVM_REG_X86 | KVM_REG_SIZE_U64, keep;

		memcpy(&keep, out.data + id0, 8);
		memcpy(out.data + id0, &id, 8);
		sreader_init(&r, out.data, out.len);
		ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
		ck_assert_ptr_nonnull(strstr(err, "not an arm64 register"));
		id = KVM_REG_ARM64 | (12ull << KVM_REG_SIZE_SHIFT);
		memcpy(out.data + id0, &id, 8);
		sreader_init(&r, out.data, out.len);
		ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
		memcpy(out.data + id0, &keep, 8);
	}
	/* Wrong magic and version. */
	out.data[0] ^= 1;
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
	out.data[0] ^= 1;
	out.data[4] = 2;
	sreader_init(&r, out.data, out.len);
	ck_assert_int_eq(arm64_vcpu_state_read(&r, &s, err, sizeof(err)), -EINVAL);
	sbuf_free(&out);
}
END_TEST

START_TEST(random_bytes)
{
	struct gic_state *g = malloc(sizeof(*g));
	uint8_t buf[4096];
	char err[128];

	srand(7);
	for (unsigned k = 0; k < 2000; k++) {
		size_t len = (size_t)rand() % sizeof(buf);
		struct arm64_vcpu_state s;
		struct sreader r;

		for (size_t i = 0; i < len; i++)
			buf[i] = (uint8_t)rand();
		/* Half of them with a valid magic and version, so the reading gets further. */
		if (k & 1 && len >= 8) {
			uint32_t m = k & 2 ? GIC_STATE_MAGIC : ARM64_VCPU_STATE_MAGIC, v = 1;

			memcpy(buf, &m, 4);
			memcpy(buf + 4, &v, 4);
		}
		sreader_init(&r, buf, len);
		if (gic_state_read(&r, 1 + k % 4, g, err, sizeof(err)))
			ck_assert(!sr_ok(&r));
		sreader_init(&r, buf, len);
		if (arm64_vcpu_state_read(&r, &s, err, sizeof(err)) == 0)
			arm64_vcpu_state_free(&s);
		else
			ck_assert(!sr_ok(&r));
	}
	free(g);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("arm64_state");
	TCase *tc = tcase_create("arm64_state");

	tcase_add_test(tc, tables_match_the_format);
	tcase_add_test(tc, active_priority_registers_by_priority_bits);
	tcase_add_test(tc, gic_round_trip);
	tcase_add_test(tc, gic_hostile_headers);
	tcase_add_test(tc, reg_sizes);
	tcase_add_test(tc, vcpu_round_trip_and_truncations);
	tcase_add_test(tc, vcpu_hostile);
	tcase_add_test(tc, random_bytes);
	tcase_set_timeout(tc, 60);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
