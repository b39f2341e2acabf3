// SPDX-License-Identifier: Apache-2.0
/*
 * The x86 vCPU and VM state blobs (src/x86/vcpu_state.c). Without KVM: hostile input (empty, every truncation,
 * wrong magic and version, wrong struct sizes, absurd MSR counts and XSAVE lengths) is refused with -EINVAL and
 * one log line, before any ioctl (the fds are -1: a blob that parses fails with -EBADF instead). With a usable
 * /dev/kvm (unit.vcpu-state-kvm runs it, in the nested test host if need be): a real-mode guest that counts on
 * port 0x10 is saved after a few runs and restored into two fresh VMs, which go on counting from there with the
 * same registers, LAPIC, irqchip, PIT, MSRs, FPU, debug registers and kvm-clock.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "snapshot/sbuf.h"
#include "unit.h"
#include "x86/vcpu_state.h"

static int log_lines;
static bool echo_log; /* print what the library logs (the KVM case, outside its hostile-input loops) */

static void count_log(void *opaque, enum vmm_log_level level, const char *msg)
{
	(void)opaque;
	if (level <= VMM_LOG_WARN)
		log_lines++;
	if (echo_log)
		printf("log %d: %s\n", (int)level, msg);
}

static const struct vlog test_log = { .fn = count_log, .level = VMM_LOG_DEBUG };

/* --- hand-built blobs ------------------------------------------------------------------------------ */

struct shape {
	uint32_t magic, version;
	uint32_t regs_len, xsave_len, nmsrs, nr_xcrs;
	bool no_xcrs;
};

static const struct shape good = {
	.magic = X86_VCPU_STATE_MAGIC,
	.version = X86_VCPU_STATE_VERSION,
	.regs_len = sizeof(struct kvm_regs),
	.xsave_len = 4096,
	.nmsrs = 3,
	.nr_xcrs = 1,
};

static void put_zeros(struct sbuf *b, uint32_t n)
{
	static const uint8_t z[4096];

	sbuf_u32(b, n);
	while (n) {
		uint32_t k = n < sizeof(z) ? n : sizeof(z);

		sbuf_put(b, z, k);
		n -= k;
	}
}

/* A vCPU blob of zeroed structs, as the header documents it; tsc_khz 0 (unknown) so no TSC ioctl comes first. */
static void vcpu_blob(struct sbuf *b, const struct shape *s)
{
	struct kvm_xcrs xcrs = { .nr_xcrs = s->nr_xcrs };

	sbuf_init(b);
	sbuf_u32(b, s->magic);
	sbuf_u32(b, s->version);
	sbuf_u32(b, 0);
	put_zeros(b, s->regs_len);
	put_zeros(b, sizeof(struct kvm_sregs));
	put_zeros(b, s->xsave_len);
	if (s->no_xcrs) {
		sbuf_u32(b, 0);
	} else {
		sbuf_u32(b, sizeof(xcrs));
		sbuf_put(b, &xcrs, sizeof(xcrs));
	}
	put_zeros(b, sizeof(struct kvm_debugregs));
	put_zeros(b, sizeof(struct kvm_lapic_state));
	sbuf_u32(b, s->nmsrs);
	for (uint32_t i = 0; i < s->nmsrs && i < 16; i++) {
		sbuf_u32(b, 0xc0000081 + i);
		sbuf_u64(b, i);
	}
	put_zeros(b, sizeof(struct kvm_vcpu_events));
	put_zeros(b, sizeof(struct kvm_mp_state));
	ck_assert(!b->oom);
}

static int vcpu_restore_buf(const void *p, size_t len, struct sreader *r)
{
	sreader_init(r, p, len);
	return x86_vcpu_restore(-1, -1, &test_log, r);
}

/* Refused as malformed: -EINVAL, the reader marked bad, exactly one line logged. */
static void vcpu_refused(const void *p, size_t len)
{
	struct sreader r;

	log_lines = 0;
	ck_assert_int_eq(vcpu_restore_buf(p, len, &r), -EINVAL);
	ck_assert(!sr_ok(&r));
	ck_assert_int_eq(log_lines, 1);
}

static void vcpu_shape_refused(const struct shape *s)
{
	struct sbuf b;

	vcpu_blob(&b, s);
	vcpu_refused(b.data, b.len);
	sbuf_free(&b);
}

START_TEST(vcpu_good_blob_reaches_kvm)
{
	struct shape s = good;
	struct sbuf b;
	struct sreader r;

	/* It parses, so the restore goes to KVM: with no vCPU (fd -1), the first ioctl fails. */
	vcpu_blob(&b, &s);
	ck_assert_int_eq(vcpu_restore_buf(b.data, b.len, &r), -EBADF);
	ck_assert(sr_done(&r));
	sbuf_free(&b);
	/* Without XCRs and MSRs, and with a larger (XSAVE2) area, it parses too. */
	s.no_xcrs = true;
	s.nmsrs = 0;
	s.xsave_len = 8192;
	vcpu_blob(&b, &s);
	ck_assert_int_eq(vcpu_restore_buf(b.data, b.len, &r), -EBADF);
	ck_assert(sr_done(&r));
	sbuf_free(&b);
}
END_TEST

START_TEST(vcpu_every_truncation)
{
	struct sbuf b;

	vcpu_refused(NULL, 0);
	vcpu_blob(&b, &good);
	for (size_t n = 0; n < b.len; n++)
		vcpu_refused(b.data, n);
	sbuf_free(&b);
}
END_TEST

START_TEST(vcpu_bad_header_and_sizes)
{
	struct shape s;

	s = good, s.magic = X86_VM_STATE_MAGIC;
	vcpu_shape_refused(&s);
	s = good, s.version = X86_VCPU_STATE_VERSION + 1;
	vcpu_shape_refused(&s);
	s = good, s.version = 0;
	vcpu_shape_refused(&s);
	s = good, s.regs_len = sizeof(struct kvm_regs) + 1;
	vcpu_shape_refused(&s);
	s = good, s.regs_len = 0; /* not optional */
	vcpu_shape_refused(&s);
	s = good, s.nr_xcrs = KVM_MAX_XCRS + 1;
	vcpu_shape_refused(&s);
	s = good, s.xsave_len = 4095; /* below the legacy area */
	vcpu_shape_refused(&s);
	s = good, s.xsave_len = 4098; /* not whole words */
	vcpu_shape_refused(&s);
	s = good, s.xsave_len = X86_XSAVE_MAX + 4;
	vcpu_shape_refused(&s);
}
END_TEST

/* Absurd counts and lengths, with little data behind them: refused without allocating what they claim. */
START_TEST(vcpu_absurd_lengths)
{
	struct shape s;
	struct sbuf b;
	size_t off;

	s = good, s.nmsrs = 1000000000u;
	vcpu_shape_refused(&s);
	s = good, s.nmsrs = X86_VCPU_MAX_MSRS + 1;
	vcpu_shape_refused(&s);
	/* An XSAVE length of 1e9 and of 4 GiB - 4, written over a good blob's XSAVE length. */
	vcpu_blob(&b, &good);
	off = 12 + 4 + sizeof(struct kvm_regs) + 4 + sizeof(struct kvm_sregs);
	b.data[off] = 0x00, b.data[off + 1] = 0xca, b.data[off + 2] = 0x9a, b.data[off + 3] = 0x3b;
	vcpu_refused(b.data, b.len);
	memset(b.data + off, 0xfc, 1), memset(b.data + off + 1, 0xff, 3);
	vcpu_refused(b.data, b.len);
	sbuf_free(&b);
}
END_TEST

/* Random bytes and random corruptions of a good blob never crash: they are refused or reach KVM (-EBADF). */
START_TEST(vcpu_garbage)
{
	struct sbuf b;
	struct sreader r;
	uint8_t junk[512];
	unsigned seed = 12;

	for (int i = 0; i < 2000; i++) {
		for (size_t j = 0; j < sizeof(junk); j++)
			junk[j] = (uint8_t)rand_r(&seed);
		if (i & 1) {
			junk[0] = 0x76, junk[1] = 0x43, junk[2] = 0x50, junk[3] = 0x55; /* the magic */
			junk[4] = 1, junk[5] = junk[6] = junk[7] = 0;
		}
		ck_assert_int_eq(vcpu_restore_buf(junk, (size_t)rand_r(&seed) % sizeof(junk), &r), -EINVAL);
	}
	vcpu_blob(&b, &good);
	for (int i = 0; i < 2000; i++) {
		uint8_t *copy = malloc(b.len);
		int ret;

		memcpy(copy, b.data, b.len);
		copy[(size_t)rand_r(&seed) % b.len] ^= (uint8_t)(1u << (rand_r(&seed) % 8));
		ret = vcpu_restore_buf(copy, b.len, &r);
		ck_assert(ret == -EINVAL || ret == -EBADF);
		free(copy);
	}
	sbuf_free(&b);
}
END_TEST

/* A VM blob: three irqchips (or none), a PIT (or none), the clock. */
static void vm_blob(struct sbuf *b, uint32_t version, bool irqchip, bool pit, int bad_chip)
{
	sbuf_init(b);
	sbuf_u32(b, X86_VM_STATE_MAGIC);
	sbuf_u32(b, version);
	for (uint32_t i = 0; i < 3; i++) {
		struct kvm_irqchip c = { .chip_id = (int)i == bad_chip ? i + 1 : i };

		if (!irqchip) {
			sbuf_u32(b, 0);
			continue;
		}
		sbuf_u32(b, sizeof(c));
		sbuf_put(b, &c, sizeof(c));
	}
	if (pit)
		put_zeros(b, sizeof(struct kvm_pit_state2));
	else
		sbuf_u32(b, 0);
	put_zeros(b, sizeof(struct kvm_clock_data));
	ck_assert(!b->oom);
}

static int vm_restore_buf(const void *p, size_t len, struct sreader *r)
{
	sreader_init(r, p, len);
	return x86_vm_restore(-1, &test_log, r);
}

static void vm_refused(const void *p, size_t len)
{
	struct sreader r;

	log_lines = 0;
	ck_assert_int_eq(vm_restore_buf(p, len, &r), -EINVAL);
	ck_assert(!sr_ok(&r));
	ck_assert_int_eq(log_lines, 1);
}

START_TEST(vm_blobs)
{
	struct sbuf b;
	struct sreader r;

	vm_blob(&b, X86_VM_STATE_VERSION, true, true, -1);
	ck_assert_int_eq(vm_restore_buf(b.data, b.len, &r), -EBADF);
	ck_assert(sr_done(&r));
	vm_refused(NULL, 0);
	for (size_t n = 0; n < b.len; n++)
		vm_refused(b.data, n);
	/* A clock length of 1e9 at the very end. */
	memset(b.data + b.len - sizeof(struct kvm_clock_data) - 4, 0xff, 4);
	vm_refused(b.data, b.len);
	sbuf_free(&b);
	/* No irqchip, no PIT: parses (the clock then fails on fd -1). */
	vm_blob(&b, X86_VM_STATE_VERSION, false, false, -1);
	ck_assert_int_eq(vm_restore_buf(b.data, b.len, &r), -EBADF);
	ck_assert(sr_done(&r));
	sbuf_free(&b);
	vm_blob(&b, X86_VM_STATE_VERSION + 1, true, true, -1);
	vm_refused(b.data, b.len);
	sbuf_free(&b);
	for (int chip = 0; chip < 3; chip++) {
		vm_blob(&b, X86_VM_STATE_VERSION, true, true, chip);
		vm_refused(b.data, b.len);
		sbuf_free(&b);
	}
	/* A vCPU blob is not a VM blob, nor the other way round. */
	vm_blob(&b, X86_VM_STATE_VERSION, true, true, -1);
	vcpu_refused(b.data, b.len);
	sbuf_free(&b);
	vcpu_blob(&b, &good);
	vm_refused(b.data, b.len);
	sbuf_free(&b);
}
END_TEST

/* --- a KVM round trip ------------------------------------------------------------------------------ */

#define MEM_SIZE 0x100000
#define CODE 0x1000
#define COUNT_PORT 0x10
#define MSR_IA32_TSC 0x10
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_KERNEL_GS_BASE 0xc0000102
#define MSR_KVM_WALL_CLOCK_NEW 0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01

struct tvm {
	int kvm, vm, vcpu;
	struct kvm_run *run;
	size_t run_size;
	uint8_t *mem;
};

/* A VM as the VMM makes one (TSS, memory, irqchip, PIT) with one vCPU given KVM's supported CPUID. */
static bool tvm_create(struct tvm *t)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	struct kvm_userspace_memory_region region = { .slot = 0, .memory_size = MEM_SIZE };
	struct kvm_cpuid2 *cpuid;
	int mmap_size;

	t->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (t->kvm < 0)
		return false;
	t->vm = ioctl(t->kvm, KVM_CREATE_VM, 0);
	if (t->vm < 0) {
		close(t->kvm);
		return false;
	}
	ck_assert_int_eq(ioctl(t->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul), 0);
	t->mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(t->mem, MAP_FAILED);
	region.userspace_addr = (uintptr_t)t->mem;
	ck_assert_int_eq(ioctl(t->vm, KVM_SET_USER_MEMORY_REGION, &region), 0);
	ck_assert_int_eq(ioctl(t->vm, KVM_CREATE_IRQCHIP, 0), 0);
	ck_assert_int_eq(ioctl(t->vm, KVM_CREATE_PIT2, &pit), 0);
	t->vcpu = ioctl(t->vm, KVM_CREATE_VCPU, 0);
	ck_assert_int_ge(t->vcpu, 0);
	cpuid = calloc(1, sizeof(*cpuid) + 256 * sizeof(struct kvm_cpuid_entry2));
	ck_assert_ptr_nonnull(cpuid);
	cpuid->nent = 256;
	ck_assert_int_eq(ioctl(t->kvm, KVM_GET_SUPPORTED_CPUID, cpuid), 0);
	ck_assert_int_eq(ioctl(t->vcpu, KVM_SET_CPUID2, cpuid), 0);
	free(cpuid);
	mmap_size = ioctl(t->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	ck_assert_int_gt(mmap_size, 0);
	t->run_size = (size_t)mmap_size;
	t->run = mmap(NULL, t->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, t->vcpu, 0);
	ck_assert_ptr_ne(t->run, MAP_FAILED);
	return true;
}

static void tvm_destroy(struct tvm *t)
{
	munmap(t->run, t->run_size);
	munmap(t->mem, MEM_SIZE);
	close(t->vcpu);
	close(t->vm);
	close(t->kvm);
}

/* Run until the guest's next OUT to the count port; the byte it wrote. */
static uint8_t run_to_out(struct tvm *t)
{
	ck_assert_int_eq(ioctl(t->vcpu, KVM_RUN, 0), 0);
	ck_assert_msg(t->run->exit_reason == KVM_EXIT_IO, "exit reason %u", t->run->exit_reason);
	ck_assert_uint_eq(t->run->io.direction, KVM_EXIT_IO_OUT);
	ck_assert_uint_eq(t->run->io.port, COUNT_PORT);
	ck_assert_uint_eq(t->run->io.size, 1);
	return ((uint8_t *)t->run)[t->run->io.data_offset];
}

/* What the VMM's pause does: re-enter with immediate_exit so KVM finishes the last OUT, and stop. */
static void park(struct tvm *t)
{
	t->run->immediate_exit = 1;
	ck_assert_int_eq(ioctl(t->vcpu, KVM_RUN, 0), -1);
	ck_assert_int_eq(errno, EINTR);
	t->run->immediate_exit = 0;
}

static void get_msrs(int vcpu, const uint32_t *idx, uint64_t *val, unsigned n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[8];
	} m = { .h.nmsrs = n };

	ck_assert_uint_le(n, 8);
	for (unsigned i = 0; i < n; i++)
		m.e[i].index = idx[i];
	ck_assert_int_eq(ioctl(vcpu, KVM_GET_MSRS, &m), (int)n);
	for (unsigned i = 0; i < n; i++)
		val[i] = m.e[i].data;
}

static void set_msrs(int vcpu, const uint32_t *idx, const uint64_t *val, unsigned n)
{
	struct {
		struct kvm_msrs h;
		struct kvm_msr_entry e[8];
	} m = { .h.nmsrs = n };

	for (unsigned i = 0; i < n; i++)
		m.e[i] = (struct kvm_msr_entry){ .index = idx[i], .data = val[i] };
	ck_assert_int_eq(ioctl(vcpu, KVM_SET_MSRS, &m), (int)n);
}

static struct kvm_irqchip get_chip(int vm, uint32_t id)
{
	struct kvm_irqchip c = { .chip_id = id };

	ck_assert_int_eq(ioctl(vm, KVM_GET_IRQCHIP, &c), 0);
	return c;
}

static uint64_t get_clock(int vm)
{
	struct kvm_clock_data c = { 0 };

	ck_assert_int_eq(ioctl(vm, KVM_GET_CLOCK, &c), 0);
	return c.clock;
}

/*
 * Give xmm0 and xmm7 distinctive values through the XSAVE area with its SSE bit set (KVM_SET_FPU writes the
 * registers but not XSTATE_BV, so XSAVE would report them in their initial state); *fpu: what KVM_GET_FPU shows.
 */
static void set_xmm(struct tvm *t, struct kvm_fpu *fpu)
{
	int size = ioctl(t->vm, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	size_t n = size > 4096 ? (size_t)size : 4096;
	uint8_t *x = calloc(1, n);
	uint64_t bv;

	ck_assert_ptr_nonnull(x);
	ck_assert_int_eq(ioctl(t->vcpu, size > 0 ? KVM_GET_XSAVE2 : KVM_GET_XSAVE, x), 0);
	for (int i = 0; i < 16; i++)
		x[160 + i] = (uint8_t)(0xa0 + i); /* xmm0 in the legacy area */
	x[160 + 7 * 16 + 3] = 0x77;
	memcpy(&bv, x + 512, 8);
	bv |= 3; /* x87 and SSE state present */
	memcpy(x + 512, &bv, 8);
	ck_assert_int_eq(ioctl(t->vcpu, KVM_SET_XSAVE, x), 0);
	free(x);
	ck_assert_int_eq(ioctl(t->vcpu, KVM_GET_FPU, fpu), 0);
	ck_assert_uint_eq(fpu->xmm[0][15], 0xaf);
	ck_assert_uint_eq(fpu->xmm[7][3], 0x77);
}

/* The MSRs the test sets before the save and compares after the restore. */
static const uint32_t msr_idx[] = { MSR_STAR, MSR_LSTAR, MSR_KERNEL_GS_BASE, MSR_KVM_SYSTEM_TIME_NEW,
				    MSR_KVM_WALL_CLOCK_NEW };
static const uint64_t msr_val[] = { 0x0023001000000000ull, 0xffffffff81a00000ull, 0xffff888012345000ull,
				    0x2001, 0x3000 };
#define NMSR_TEST (sizeof(msr_idx) / sizeof(msr_idx[0]))

/* Guest code, real mode at CODE: inc eax; out 0x10, al; jmp back. */
static const uint8_t guest_code[] = { 0x66, 0x40, 0xe6, COUNT_PORT, 0xeb, 0xfa };

START_TEST(kvm_round_trip)
{
	struct tvm a, b;
	struct kvm_regs regs, ra, rb;
	struct kvm_sregs sregs, sa, sb;
	struct kvm_fpu fpu, fb;
	struct kvm_debugregs dbg = { 0 }, da, db;
	struct kvm_lapic_state la, lb;
	struct kvm_xcrs xa, xb;
	struct kvm_mp_state mpa, mpb;
	struct kvm_vcpu_events ea, eb;
	struct kvm_pit_state2 pa, pb;
	struct kvm_irqchip ca[3], cb;
	struct kvm_clock_data clk = { .clock = 1000ull * 1000000000ull };
	uint64_t va[NMSR_TEST], vb[NMSR_TEST], tsc_a, tsc_b, clock_a, clock_b, clock_a_now;
	uint32_t tsc_idx = MSR_IA32_TSC;
	uint64_t tsc_start = 1ull << 40;
	struct sbuf vm_state, cpu_state;
	struct sreader r;
	bool xcrs = false;

	if (!tvm_create(&a)) {
		/* unit.vcpu-state-kvm runs this case where KVM is (VMM_REQUIRE_KVM=1), in the test host if need be. */
		ck_assert_msg(!getenv("VMM_REQUIRE_KVM"), "kvm_round_trip: no usable /dev/kvm: %s", strerror(errno));
		printf("kvm_round_trip: skipped here, no usable /dev/kvm (unit.vcpu-state-kvm runs it)\n");
		return;
	}
	echo_log = true;
	memcpy(a.mem + CODE, guest_code, sizeof(guest_code));
	/* kvm-clock far from 0, so a restore that forgot it shows. */
	ck_assert_int_eq(ioctl(a.vm, KVM_SET_CLOCK, &clk), 0);

	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_SREGS, &sregs), 0);
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	ck_assert_int_eq(ioctl(a.vcpu, KVM_SET_SREGS, &sregs), 0);
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE;
	regs.rflags = 2;
	regs.rax = 0x11223300;
	regs.rbx = 0x0123456789abcdefull;
	regs.rdx = 0xfeedface;
	regs.r15 = 0x1515151515151515ull;
	ck_assert_int_eq(ioctl(a.vcpu, KVM_SET_REGS, &regs), 0);
	set_xmm(&a, &fpu);
	dbg.db[0] = 0x12340000;
	dbg.db[3] = 0x56780000;
	dbg.dr6 = 0xffff0ff0;
	dbg.dr7 = 0x400;
	ck_assert_int_eq(ioctl(a.vcpu, KVM_SET_DEBUGREGS, &dbg), 0);
	set_msrs(a.vcpu, msr_idx, msr_val, NMSR_TEST);
	set_msrs(a.vcpu, &tsc_idx, &tsc_start, 1);

	for (int i = 1; i <= 3; i++)
		ck_assert_uint_eq(run_to_out(&a), i);
	park(&a);

	/* What the test compares against, read just before the save. */
	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_REGS, &ra), 0);
	ck_assert_uint_eq(ra.rax, 0x11223303);
	ck_assert_uint_eq(ra.rip, CODE + 4); /* after the OUT: park() finished it */
	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_SREGS, &sa), 0);
	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_DEBUGREGS, &da), 0);
	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_LAPIC, &la), 0);
	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_MP_STATE, &mpa), 0);
	ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_VCPU_EVENTS, &ea), 0);
	if (ioctl(a.vm, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0) {
		xcrs = true;
		ck_assert_int_eq(ioctl(a.vcpu, KVM_GET_XCRS, &xa), 0);
	}
	ck_assert_int_eq(ioctl(a.vm, KVM_GET_PIT2, &pa), 0);
	for (uint32_t i = 0; i < 3; i++)
		ca[i] = get_chip(a.vm, i);
	get_msrs(a.vcpu, &tsc_idx, &tsc_a, 1);
	clock_a = get_clock(a.vm);
	ck_assert_uint_ge(tsc_a, tsc_start);
	ck_assert_uint_ge(clock_a, clk.clock);

	sbuf_init(&vm_state);
	sbuf_init(&cpu_state);
	ck_assert_int_eq(x86_vm_save(a.vm, &test_log, &vm_state), 0);
	ck_assert_int_eq(x86_vcpu_save(a.kvm, a.vm, a.vcpu, &test_log, &cpu_state), 0);
	printf("kvm_round_trip: VM state %zu bytes, vCPU state %zu bytes\n", vm_state.len, cpu_state.len);

	/* Every truncation of the real blobs is refused before any ioctl. */
	echo_log = false;
	for (size_t n = 0; n < cpu_state.len; n++)
		vcpu_refused(cpu_state.data, n);
	for (size_t n = 0; n < vm_state.len; n++)
		vm_refused(vm_state.data, n);
	echo_log = true;

	/* Two restores of the same snapshot, each into a fresh VM, while the first VM still exists. */
	for (int round = 0; round < 2; round++) {
		struct timespec pause = { .tv_nsec = 50 * 1000000 };

		nanosleep(&pause, NULL); /* time passes between the save and the restore */
		ck_assert(tvm_create(&b));
		memcpy(b.mem, a.mem, MEM_SIZE); /* guest memory is the snapshot layer's job */
		sreader_init(&r, vm_state.data, vm_state.len);
		ck_assert_int_eq(x86_vm_restore(b.vm, &test_log, &r), 0);
		ck_assert(sr_done(&r));
		sreader_init(&r, cpu_state.data, cpu_state.len);
		ck_assert_int_eq(x86_vcpu_restore(b.vm, b.vcpu, &test_log, &r), 0);
		ck_assert(sr_done(&r));

		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_REGS, &rb), 0);
		ck_assert_mem_eq(&rb, &ra, sizeof(ra));
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_SREGS, &sb), 0);
		ck_assert_mem_eq(&sb, &sa, sizeof(sa));
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_FPU, &fb), 0);
		ck_assert_mem_eq(fb.xmm, fpu.xmm, sizeof(fpu.xmm));
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_DEBUGREGS, &db), 0);
		ck_assert_uint_eq(db.db[0], da.db[0]);
		ck_assert_uint_eq(db.db[3], da.db[3]);
		ck_assert_uint_eq(db.dr7, da.dr7);
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_LAPIC, &lb), 0);
		ck_assert_mem_eq(lb.regs, la.regs, sizeof(la.regs));
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_MP_STATE, &mpb), 0);
		ck_assert_uint_eq(mpb.mp_state, mpa.mp_state);
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_VCPU_EVENTS, &eb), 0);
		ck_assert_mem_eq(&eb.exception, &ea.exception, sizeof(ea.exception));
		ck_assert_mem_eq(&eb.interrupt, &ea.interrupt, sizeof(ea.interrupt));
		ck_assert_mem_eq(&eb.nmi, &ea.nmi, sizeof(ea.nmi));
		ck_assert_uint_eq(eb.sipi_vector, ea.sipi_vector);
		if (xcrs) {
			ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_XCRS, &xb), 0);
			ck_assert_uint_eq(xb.nr_xcrs, xa.nr_xcrs);
			ck_assert_mem_eq(xb.xcrs, xa.xcrs, xa.nr_xcrs * sizeof(xa.xcrs[0]));
		}
		get_msrs(b.vcpu, msr_idx, vb, NMSR_TEST);
		get_msrs(a.vcpu, msr_idx, va, NMSR_TEST);
		for (unsigned i = 0; i < NMSR_TEST; i++) {
			ck_assert_msg(vb[i] == msr_val[i] && va[i] == msr_val[i], "MSR %#x: %#llx restored, %#llx set",
				      msr_idx[i], (unsigned long long)vb[i], (unsigned long long)msr_val[i]);
		}
		/*
		 * The TSC goes on from the saved value (a fresh vCPU's would be near 0). Not to the cycle: the nested
		 * test host's CPUs disagree on their TSCs by some microseconds (measured: the restored TSC read about
		 * 190,000 cycles below the one read before the save), so reads on two host CPUs can go backwards;
		 * 2^30 cycles is half a second at 2 GHz.
		 */
		get_msrs(b.vcpu, &tsc_idx, &tsc_b, 1);
		printf("kvm_round_trip: TSC before the save %llu, after the restore %llu\n", (unsigned long long)tsc_a,
		       (unsigned long long)tsc_b);
		ck_assert_uint_ge(tsc_b + (1ull << 30), tsc_a);
		ck_assert_uint_lt(tsc_b, tsc_a + (1ull << 36));
		for (uint32_t i = 0; i < 3; i++) {
			cb = get_chip(b.vm, i);
			ck_assert_msg(memcmp(&cb, &ca[i], sizeof(cb)) == 0, "irqchip %u differs after restore", i);
		}
		ck_assert_int_eq(ioctl(b.vm, KVM_GET_PIT2, &pb), 0);
		for (int i = 0; i < 3; i++) {
			ck_assert_int_eq(pb.channels[i].count, pa.channels[i].count);
			ck_assert_uint_eq(pb.channels[i].mode, pa.channels[i].mode);
			ck_assert_uint_eq(pb.channels[i].gate, pa.channels[i].gate);
			ck_assert_uint_eq(pb.channels[i].rw_mode, pa.channels[i].rw_mode);
		}
		ck_assert_uint_eq(pb.flags, pa.flags);
		/* kvm-clock goes on from the saved value: not back, and not on by the time since the save. */
		clock_b = get_clock(b.vm);
		clock_a_now = get_clock(a.vm);
		printf("kvm_round_trip: kvm-clock saved >= %llu ns, restored %llu ns, first VM now %llu ns\n",
		       (unsigned long long)clock_a, (unsigned long long)clock_b, (unsigned long long)clock_a_now);
		ck_assert_uint_ge(clock_b, clock_a);
		ck_assert_uint_lt(clock_b, clock_a_now);

		/* The restored guest counts on from 3, with its other registers intact. */
		ck_assert_uint_eq(run_to_out(&b), 4);
		ck_assert_uint_eq(run_to_out(&b), 5);
		park(&b);
		ck_assert_int_eq(ioctl(b.vcpu, KVM_GET_REGS, &rb), 0);
		ck_assert_uint_eq(rb.rax, 0x11223305);
		ck_assert_uint_eq(rb.rbx, 0x0123456789abcdefull);
		ck_assert_uint_eq(rb.rdx, 0xfeedface);
		ck_assert_uint_eq(rb.r15, 0x1515151515151515ull);
		tvm_destroy(&b);
	}
	/* The first VM is untouched by all this. */
	ck_assert_uint_eq(run_to_out(&a), 4);
	sbuf_free(&vm_state);
	sbuf_free(&cpu_state);
	tvm_destroy(&a);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("vcpu_state");
	TCase *tc = tcase_create("blobs"), *kvm = tcase_create("kvm");

	tcase_add_test(tc, vcpu_good_blob_reaches_kvm);
	tcase_add_test(tc, vcpu_every_truncation);
	tcase_add_test(tc, vcpu_bad_header_and_sizes);
	tcase_add_test(tc, vcpu_absurd_lengths);
	tcase_add_test(tc, vcpu_garbage);
	tcase_add_test(tc, vm_blobs);
	suite_add_tcase(s, tc);
	tcase_add_test(kvm, kvm_round_trip);
	tcase_set_timeout(kvm, 120);
	suite_add_tcase(s, kvm);
	return unit_run(s);
}
