// SPDX-License-Identifier: Apache-2.0
/* CPUID topology patching: each vCPU gets its APIC id and a coherent view of N cores. */
#include <check.h>
#include <stdlib.h>

#include "x86/cpu.h"
#include "unit.h"

static struct kvm_cpuid2 *table(void)
{
	static const uint32_t leaves[][2] = { { 1, 0 }, { 4, 0 }, { 4, 1 }, { 0xb, 0 }, { 0xb, 1 }, { 0xb, 2 },
					      { 0x80000008, 0 }, { 0x8000001e, 0 }, { 0x40000000, 0 } };
	size_t n = sizeof(leaves) / sizeof(leaves[0]);
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));

	c->nent = (uint32_t)n;
	for (size_t i = 0; i < n; i++) {
		c->entries[i].function = leaves[i][0];
		c->entries[i].index = leaves[i][1];
		c->entries[i].eax = 0xdeadbeef;
		c->entries[i].ebx = 0x4b4d564b; /* "KVMK" in the hypervisor leaf must survive */
	}
	return c;
}

static struct kvm_cpuid_entry2 *leaf(struct kvm_cpuid2 *c, uint32_t fn, uint32_t idx)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == idx)
			return &c->entries[i];
	return NULL;
}

START_TEST(topology_4_cpus)
{
	struct kvm_cpuid2 *c = table();

	x86_cpuid_patch(c, 3, 4);
	ck_assert_uint_eq(leaf(c, 1, 0)->ebx >> 24, 3);
	ck_assert_uint_eq((leaf(c, 1, 0)->ebx >> 16) & 0xff, 4);
	ck_assert(leaf(c, 1, 0)->edx & (1u << 28));
	ck_assert(leaf(c, 1, 0)->ecx & (1u << 31));
	ck_assert_uint_eq(leaf(c, 4, 1)->eax >> 26, 3);
	ck_assert_uint_eq(leaf(c, 0xb, 0)->ebx, 1);
	ck_assert_uint_eq(leaf(c, 0xb, 1)->ebx, 4);
	ck_assert_uint_eq(leaf(c, 0xb, 1)->eax, 2);
	ck_assert_uint_eq(leaf(c, 0xb, 1)->edx, 3);
	ck_assert_uint_eq((leaf(c, 0xb, 2)->ecx >> 8) & 0xff, 0); /* end of the levels */
	ck_assert_uint_eq(leaf(c, 0x80000008, 0)->ecx & 0xff, 3);
	ck_assert_uint_eq(leaf(c, 0x8000001e, 0)->eax, 3);
	ck_assert_uint_eq(leaf(c, 0x40000000, 0)->ebx, 0x4b4d564b);
	free(c);
}
END_TEST

START_TEST(single_cpu_has_no_htt)
{
	struct kvm_cpuid2 *c = table();

	leaf(c, 1, 0)->edx = 1u << 28;
	x86_cpuid_patch(c, 0, 1);
	ck_assert(!(leaf(c, 1, 0)->edx & (1u << 28)));
	ck_assert_uint_eq(leaf(c, 0xb, 1)->eax, 0);
	ck_assert_uint_eq(leaf(c, 0xb, 1)->ebx, 1);
	free(c);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("cpuid");

	tcase_add_test(tc, topology_4_cpus);
	tcase_add_test(tc, single_cpu_has_no_htt);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
