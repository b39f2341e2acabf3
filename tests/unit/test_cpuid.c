// SPDX-License-Identifier: Apache-2.0
/*
 * CPUID topology patching: each vCPU gets its APIC id and a coherent view of N cores; and what is added to
 * KVM's supported table: TSC-deadline, the brand string.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

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

/* A fake host: extended leaves up to 0x80000008, a brand string the tests recognise. */
static const char fake_brand[48] = "Fake CPU 9000 @ 4.20GHz";
static void fake_host(uint32_t leaf, uint32_t out[4])
{
	memset(out, 0, 4 * sizeof(uint32_t));
	if (leaf == 0x80000000)
		out[0] = 0x80000008;
	else if (leaf >= 0x80000002 && leaf <= 0x80000004)
		memcpy(out, fake_brand + (leaf - 0x80000002) * 16, 16);
}

static void host_without_brand(uint32_t leaf, uint32_t out[4])
{
	memset(out, 0, 4 * sizeof(uint32_t));
	if (leaf == 0x80000000)
		out[0] = 0x80000001;
}

/* The brand string as the guest reads it: 0x80000002..4, eax ebx ecx edx each. */
static void brand_of(struct kvm_cpuid2 *c, char out[49])
{
	for (uint32_t fn = 0x80000002; fn <= 0x80000004; fn++) {
		const struct kvm_cpuid_entry2 *e = leaf(c, fn, 0);
		uint32_t r[4];

		ck_assert_ptr_nonnull(e);
		r[0] = e->eax, r[1] = e->ebx, r[2] = e->ecx, r[3] = e->edx;
		memcpy(out + (fn - 0x80000002) * 16, r, 16);
	}
	out[48] = 0;
}

/* The test table with room for extra entries. */
static struct kvm_cpuid2 *roomy(unsigned extra)
{
	struct kvm_cpuid2 *t = table();
	size_t sz = sizeof(*t) + (t->nent + extra) * sizeof(t->entries[0]);
	struct kvm_cpuid2 *c = calloc(1, sz);

	memcpy(c, t, sizeof(*t) + t->nent * sizeof(t->entries[0]));
	free(t);
	return c;
}

START_TEST(tsc_deadline_with_the_capability)
{
	struct kvm_cpuid2 *c = roomy(4);

	leaf(c, 1, 0)->ecx = 0;
	ck_assert_int_eq(x86_cpuid_complete(c, c->nent + 4, false, fake_host), 0);
	ck_assert(!(leaf(c, 1, 0)->ecx & (1u << 24)));
	ck_assert_int_eq(x86_cpuid_complete(c, c->nent + 4, true, fake_host), 0);
	ck_assert(leaf(c, 1, 0)->ecx & (1u << 24));
	x86_cpuid_patch(c, 0, 2); /* the per-vCPU patch keeps it */
	ck_assert(leaf(c, 1, 0)->ecx & (1u << 24));
	free(c);
}
END_TEST

START_TEST(brand_added_when_missing)
{
	struct kvm_cpuid2 *c = roomy(4);
	uint32_t n = c->nent;
	char brand[49];

	ck_assert_ptr_null(leaf(c, 0x80000000, 0));
	ck_assert_int_eq(x86_cpuid_complete(c, n + 4, false, fake_host), 0);
	ck_assert_uint_eq(c->nent, n + 4);
	ck_assert_uint_ge(leaf(c, 0x80000000, 0)->eax, 0x80000004);
	brand_of(c, brand);
	ck_assert_str_eq(brand, fake_brand);
	/* The leaves already there are untouched. */
	ck_assert_uint_eq(leaf(c, 0x40000000, 0)->ebx, 0x4b4d564b);
	/* Done: a second pass changes nothing. */
	ck_assert_int_eq(x86_cpuid_complete(c, n + 4, false, fake_host), 0);
	ck_assert_uint_eq(c->nent, n + 4);
	free(c);
}
END_TEST

START_TEST(brand_zero_filled_max_raised)
{
	struct kvm_cpuid2 *c = roomy(4);
	char brand[49];
	uint32_t n;

	/* KVM's table has the leaves but zero, and a maximum extended leaf below them. */
	for (uint32_t fn = 0x80000000; fn <= 0x80000004; fn++) {
		if (fn == 0x80000001)
			continue;
		c->entries[c->nent] = (struct kvm_cpuid_entry2){ .function = fn };
		c->nent++;
	}
	leaf(c, 0x80000000, 0)->eax = 0x80000001;
	leaf(c, 0x80000000, 0)->ebx = 0x68747541; /* "Auth": the vendor stays */
	n = c->nent;
	ck_assert_int_eq(x86_cpuid_complete(c, n, false, fake_host), 0);
	ck_assert_uint_eq(c->nent, n);
	ck_assert_uint_eq(leaf(c, 0x80000000, 0)->eax, 0x80000004);
	ck_assert_uint_eq(leaf(c, 0x80000000, 0)->ebx, 0x68747541);
	brand_of(c, brand);
	ck_assert_str_eq(brand, fake_brand);
	free(c);
}
END_TEST

START_TEST(brand_from_kvm_kept)
{
	static const char kvm_brand[48] = "KVM's own brand";
	struct kvm_cpuid2 *c = roomy(4);
	char brand[49];

	c->entries[c->nent++] = (struct kvm_cpuid_entry2){ .function = 0x80000000, .eax = 0x80000008 };
	for (uint32_t fn = 0x80000002; fn <= 0x80000004; fn++) {
		struct kvm_cpuid_entry2 *e = &c->entries[c->nent++];
		uint32_t r[4];

		memcpy(r, kvm_brand + (fn - 0x80000002) * 16, 16);
		*e = (struct kvm_cpuid_entry2){ .function = fn, .eax = r[0], .ebx = r[1], .ecx = r[2], .edx = r[3] };
	}
	ck_assert_int_eq(x86_cpuid_complete(c, c->nent, false, fake_host), 0);
	ck_assert_uint_eq(leaf(c, 0x80000000, 0)->eax, 0x80000008); /* never lowered */
	brand_of(c, brand);
	ck_assert_str_eq(brand, kvm_brand);
	free(c);
}
END_TEST

START_TEST(brand_no_room_or_none_on_host)
{
	struct kvm_cpuid2 *c = roomy(4);
	uint32_t n = c->nent;

	/* Three free entries for four leaves: refused, the table as it was; TSC-deadline still set. */
	leaf(c, 1, 0)->ecx = 0;
	ck_assert_int_eq(x86_cpuid_complete(c, n + 3, true, fake_host), -ENOSPC);
	ck_assert_uint_eq(c->nent, n);
	ck_assert(leaf(c, 1, 0)->ecx & (1u << 24));
	/* A host without a brand string: nothing is made up. */
	ck_assert_int_eq(x86_cpuid_complete(c, n + 4, false, host_without_brand), 0);
	ck_assert_uint_eq(c->nent, n);
	free(c);
}
END_TEST

START_TEST(host_brand_read)
{
	uint32_t r[4];
	char brand[49] = { 0 };

	x86_host_cpuid(0x80000000, r);
	if (r[0] < 0x80000004)
		return; /* this host has no brand string */
	for (uint32_t fn = 0x80000002; fn <= 0x80000004; fn++) {
		x86_host_cpuid(fn, r);
		memcpy(brand + (fn - 0x80000002) * 16, r, 16);
	}
	ck_assert_uint_gt(strlen(brand), 0);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("cpuid");
	TCase *tc = tcase_create("cpuid");

	tcase_add_test(tc, topology_4_cpus);
	tcase_add_test(tc, single_cpu_has_no_htt);
	tcase_add_test(tc, tsc_deadline_with_the_capability);
	tcase_add_test(tc, brand_added_when_missing);
	tcase_add_test(tc, brand_zero_filled_max_raised);
	tcase_add_test(tc, brand_from_kvm_kept);
	tcase_add_test(tc, brand_no_room_or_none_on_host);
	tcase_add_test(tc, host_brand_read);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
