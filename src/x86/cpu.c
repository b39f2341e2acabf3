// SPDX-License-Identifier: Apache-2.0
#include "x86/cpu.h"

#include <cpuid.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "x86/layout.h"

#define CPUID_MAX_ENTRIES 256
#define CPUID_EXTRA_ENTRIES 4 /* what x86_cpuid_complete() may add: 0x80000000, 0x80000002..4 */

#define CPUID_1_ECX_TSC_DEADLINE (1u << 24)
#define CPUID_EXT_MAX 0x80000000u
#define CPUID_BRAND_FIRST 0x80000002u
#define CPUID_BRAND_LAST 0x80000004u
#define XCR0_X87_SSE 0x3ull
#define XCR0_USER_MASK (0x2ffull | (3ull << 17)) /* XCR0 bits: x87..AVX-512, PKRU, AMX */

#define X86_CR0_PE (1ull << 0)
#define X86_CR0_ET (1ull << 4)
#define X86_CR0_PG (1ull << 31)
#define X86_CR4_PAE (1ull << 5)
#define EFER_LME (1ull << 8)
#define EFER_LMA (1ull << 10)

#define MSR_IA32_MISC_ENABLE 0x1a0
#define MSR_MTRR_DEF_TYPE 0x2ff
#define MSR_IA32_SYSENTER_CS 0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_STAR 0xc0000081
#define MSR_LSTAR 0xc0000082
#define MSR_CSTAR 0xc0000083
#define MSR_SYSCALL_MASK 0xc0000084
#define MSR_KERNEL_GS_BASE 0xc0000102

#define APIC_LVT_LINT0 0x350
#define APIC_LVT_LINT1 0x360
#define APIC_MODE_NMI 0x4
#define APIC_MODE_EXTINT 0x7

void x86_host_cpuid(uint32_t leaf, uint32_t out[4])
{
	__cpuid_count(leaf, 0, out[0], out[1], out[2], out[3]);
}

static struct kvm_cpuid_entry2 *find_leaf(struct kvm_cpuid2 *c, uint32_t fn)
{
	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == fn && c->entries[i].index == 0)
			return &c->entries[i];
	return NULL;
}

static bool brand_missing(struct kvm_cpuid2 *c)
{
	bool zero = true;

	for (uint32_t fn = CPUID_BRAND_FIRST; fn <= CPUID_BRAND_LAST; fn++) {
		const struct kvm_cpuid_entry2 *e = find_leaf(c, fn);

		if (!e)
			return true;
		zero = zero && !(e->eax | e->ebx | e->ecx | e->edx);
	}
	return zero;
}

/* The entry of leaf fn, appended (zeroed) if the table lacks it; there must be room. */
static struct kvm_cpuid_entry2 *get_leaf(struct kvm_cpuid2 *c, uint32_t fn)
{
	struct kvm_cpuid_entry2 *e = find_leaf(c, fn);

	if (!e) {
		e = &c->entries[c->nent++];
		memset(e, 0, sizeof(*e));
		e->function = fn;
	}
	return e;
}

static void set_brand(struct kvm_cpuid2 *c, x86_host_cpuid_fn host)
{
	uint32_t r[4];
	struct kvm_cpuid_entry2 *e;

	host(CPUID_EXT_MAX, r);
	if (r[0] < CPUID_BRAND_LAST)
		return; /* the host has no brand string either */
	e = get_leaf(c, CPUID_EXT_MAX);
	if (e->eax < CPUID_BRAND_LAST)
		e->eax = CPUID_BRAND_LAST; /* the guest only reads the brand leaves if the maximum covers them */
	for (uint32_t fn = CPUID_BRAND_FIRST; fn <= CPUID_BRAND_LAST; fn++) {
		host(fn, r);
		e = get_leaf(c, fn);
		e->eax = r[0];
		e->ebx = r[1];
		e->ecx = r[2];
		e->edx = r[3];
	}
}

int x86_cpuid_complete(struct kvm_cpuid2 *c, unsigned capacity, bool tsc_deadline, x86_host_cpuid_fn host)
{
	struct kvm_cpuid_entry2 *leaf1 = find_leaf(c, 1);
	unsigned need = 0;

	if (tsc_deadline && leaf1)
		leaf1->ecx |= CPUID_1_ECX_TSC_DEADLINE;
	if (!brand_missing(c))
		return 0;
	need += !find_leaf(c, CPUID_EXT_MAX);
	for (uint32_t fn = CPUID_BRAND_FIRST; fn <= CPUID_BRAND_LAST; fn++)
		need += !find_leaf(c, fn);
	if (c->nent > capacity || capacity - c->nent < need)
		return -ENOSPC;
	set_brand(c, host);
	return 0;
}

int x86_supported_cpuid(int kvm_fd, const struct vlog *log, struct kvm_cpuid2 **out)
{
	unsigned capacity = CPUID_MAX_ENTRIES + CPUID_EXTRA_ENTRIES;
	struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + capacity * sizeof(c->entries[0]));
	bool tsc_deadline;
	int ret;

	if (!c)
		return -ENOMEM;
	c->nent = CPUID_MAX_ENTRIES;
	if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
		ret = -errno;
		vlog_err(log, "KVM_GET_SUPPORTED_CPUID failed: %s", strerror(errno));
		free(c);
		return ret;
	}
	/* KVM never lists TSC-deadline as supported; Firecracker, Cloud Hypervisor, crosvm and QEMU add it. */
	tsc_deadline = ioctl(kvm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	ret = x86_cpuid_complete(c, capacity, tsc_deadline, x86_host_cpuid);
	if (ret)
		vlog_warn(log, "no room for the processor brand string in the CPUID table: %s", strerror(-ret));
	*out = c;
	return 0;
}

static unsigned bits_for(unsigned n)
{
	unsigned b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

void x86_cpuid_patch(struct kvm_cpuid2 *c, unsigned apic_id, unsigned ncpus)
{
	unsigned shift = bits_for(ncpus);

	for (unsigned i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			e->ebx = (e->ebx & 0x0000ffff) | (apic_id << 24) | ((ncpus > 1 ? ncpus : 1) << 16);
			if (ncpus > 1)
				e->edx |= 1u << 28; /* HTT: more than one logical processor per package */
			else
				e->edx &= ~(1u << 28);
			e->ecx |= 1u << 31; /* running under a hypervisor */
			break;
		case 4:
			/* Cores per package - 1 in 31:26; each cache shared by one thread. */
			e->eax = (e->eax & 0x3fff) | ((ncpus - 1) << 26);
			break;
		case 0xb:
		case 0x1f:
			/* Level 0: SMT (one thread per core); level 1: cores in the package; then invalid. */
			e->edx = apic_id;
			if (e->index == 0) {
				e->eax = 0;
				e->ebx = 1;
				e->ecx = (1u << 8) | 0;
			} else if (e->index == 1) {
				e->eax = shift;
				e->ebx = ncpus;
				e->ecx = (2u << 8) | 1;
			} else {
				e->eax = 0;
				e->ebx = 0;
				e->ecx = e->index;
			}
			break;
		case 0x80000008:
			/* AMD: ApicIdSize in 15:12, NC (cores - 1) in 7:0. */
			e->ecx = (e->ecx & ~0xf0ffu) | (shift << 12) | (ncpus - 1);
			break;
		case 0x8000001e:
			/* AMD: extended APIC id; one thread per compute unit; node 0. */
			e->eax = apic_id;
			e->ebx = apic_id & 0xff;
			e->ecx = 0;
			break;
		default:
			break;
		}
	}
}

static uint64_t gdt_entry(uint16_t flags, uint32_t base, uint32_t limit)
{
	return ((uint64_t)(base & 0xff000000u) << 32) | ((uint64_t)(flags & 0xf0ffu) << 40) |
	       ((uint64_t)(limit & 0x000f0000u) << 32) | ((uint64_t)(base & 0x00ffffffu) << 16) |
	       (uint64_t)(limit & 0x0000ffffu);
}

static const uint64_t *boot_gdt(void)
{
	static uint64_t gdt[5];

	gdt[0] = 0;
	gdt[GDT_CODE64 / 8] = gdt_entry(0xa09b, 0, 0xfffff); /* 64-bit code, present, read/exec */
	gdt[GDT_DATA / 8] = gdt_entry(0xc093, 0, 0xfffff);   /* flat data, read/write */
	gdt[GDT_TSS / 8] = gdt_entry(0x808b, 0, 0xfffff);    /* busy TSS */
	gdt[GDT_CODE32 / 8] = gdt_entry(0xc09b, 0, 0xfffff); /* 32-bit flat code (PVH entry) */
	return gdt;
}

int x86_write_boot_tables(const struct guest_mem *m)
{
	uint64_t pml4 = BOOT_PDPT_ADDR | 3, idt = 0;
	int ret;

	ret = gmem_write(m, BOOT_GDT_ADDR, boot_gdt(), 5 * sizeof(uint64_t));
	ret = ret ?: gmem_write(m, BOOT_IDT_ADDR, &idt, sizeof(idt));
	ret = ret ?: gmem_write(m, BOOT_PML4_ADDR, &pml4, sizeof(pml4));
	for (uint64_t i = 0; i < 4 && !ret; i++) {
		uint64_t pdpte = (BOOT_PD_ADDR + i * 0x1000) | 3;

		ret = gmem_write(m, BOOT_PDPT_ADDR + i * 8, &pdpte, sizeof(pdpte));
	}
	for (uint64_t i = 0; i < 4 * 512 && !ret; i++) {
		uint64_t pde = (i << 21) | 0x83; /* present, writable, 2 MiB page */

		ret = gmem_write(m, BOOT_PD_ADDR + i * 8, &pde, sizeof(pde));
	}
	return ret;
}

static struct kvm_segment seg_from_gdt(uint16_t sel)
{
	uint64_t e = boot_gdt()[sel / 8];
	uint32_t limit = (uint32_t)((e & 0xffff) | ((e >> 32) & 0xf0000));
	bool g = (e >> 55) & 1;

	return (struct kvm_segment){
		.base = (uint32_t)(((e >> 16) & 0xffffff) | ((e >> 32) & 0xff000000)),
		.limit = g ? (limit << 12) | 0xfff : limit,
		.selector = sel,
		.type = (e >> 40) & 0xf,
		.present = (e >> 47) & 1,
		.dpl = (e >> 45) & 3,
		.db = (e >> 54) & 1,
		.s = (e >> 44) & 1,
		.l = (e >> 53) & 1,
		.g = g,
		.avl = (e >> 52) & 1,
		.unusable = !((e >> 47) & 1),
	};
}

static int set_sregs(int fd, const struct x86_boot *b)
{
	struct kvm_sregs s;
	struct kvm_segment data = seg_from_gdt(GDT_DATA);

	if (ioctl(fd, KVM_GET_SREGS, &s) < 0)
		return -errno;
	s.gdt.base = BOOT_GDT_ADDR;
	s.gdt.limit = 5 * 8 - 1;
	s.idt.base = BOOT_IDT_ADDR;
	s.idt.limit = 7;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.tr = seg_from_gdt(GDT_TSS);
	if (b->pvh) {
		/* PVH: 32-bit protected mode, paging off, flat segments. */
		s.cs = seg_from_gdt(GDT_CODE32);
		s.cr0 = X86_CR0_PE | X86_CR0_ET;
		s.cr4 = 0;
		s.efer = 0;
	} else {
		s.cs = seg_from_gdt(GDT_CODE64);
		s.cr3 = BOOT_PML4_ADDR;
		s.cr4 = X86_CR4_PAE;
		s.cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
		s.efer = EFER_LME | EFER_LMA;
	}
	return ioctl(fd, KVM_SET_SREGS, &s) < 0 ? -errno : 0;
}

static int set_regs(int fd, const struct x86_boot *b)
{
	struct kvm_regs r = { .rflags = 2, .rip = b->entry, .rsp = BOOT_STACK_TOP, .rbp = BOOT_STACK_TOP };

	if (b->pvh)
		r.rbx = b->boot_info;
	else
		r.rsi = b->boot_info;
	return ioctl(fd, KVM_SET_REGS, &r) < 0 ? -errno : 0;
}

static int set_msrs(int fd)
{
	static const struct {
		uint32_t index;
		uint64_t data;
	} init[] = {
		{ MSR_IA32_SYSENTER_CS, 0 }, { MSR_IA32_SYSENTER_ESP, 0 }, { MSR_IA32_SYSENTER_EIP, 0 },
		{ MSR_STAR, 0 }, { MSR_CSTAR, 0 }, { MSR_KERNEL_GS_BASE, 0 }, { MSR_SYSCALL_MASK, 0 },
		{ MSR_LSTAR, 0 },
		{ MSR_IA32_MISC_ENABLE, 1 },                  /* fast string operations */
		{ MSR_MTRR_DEF_TYPE, (1u << 11) | 6 },        /* MTRRs on, default write-back */
	};
	/* The header and room for one entry (a struct with a flexible member inside another is a GNU extension). */
	union {
		struct kvm_msrs hdr;
		uint8_t buf[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} one;

	/* One at a time: a host that lacks one of them must not lose the others. */
	for (size_t i = 0; i < sizeof(init) / sizeof(init[0]); i++) {
		memset(&one, 0, sizeof(one));
		one.hdr.nmsrs = 1;
		one.hdr.entries[0].index = init[i].index;
		one.hdr.entries[0].data = init[i].data;
		if (ioctl(fd, KVM_SET_MSRS, &one) < 0)
			return -errno;
	}
	return 0;
}

static int set_fpu(int fd)
{
	struct kvm_fpu f = { .fcw = 0x37f, .mxcsr = 0x1f80 };

	return ioctl(fd, KVM_SET_FPU, &f) < 0 ? -errno : 0;
}

static int set_lapic(int fd)
{
	struct kvm_lapic_state l;
	uint32_t v;

	if (ioctl(fd, KVM_GET_LAPIC, &l) < 0)
		return -errno;
	/* LINT0 delivers the PIC's ExtINT, LINT1 delivers NMI, as a BIOS leaves them. */
	memcpy(&v, &l.regs[APIC_LVT_LINT0], 4);
	v = (v & ~0x700u) | (APIC_MODE_EXTINT << 8);
	memcpy(&l.regs[APIC_LVT_LINT0], &v, 4);
	memcpy(&v, &l.regs[APIC_LVT_LINT1], 4);
	v = (v & ~0x700u) | (APIC_MODE_NMI << 8);
	memcpy(&l.regs[APIC_LVT_LINT1], &v, 4);
	return ioctl(fd, KVM_SET_LAPIC, &l) < 0 ? -errno : 0;
}

/*
 * CPUID 0xD.0 EBX, the XSAVE area size for the features XCR0 enables, is computed by KVM from its
 * idea of the guest's XCR0: at KVM_SET_CPUID2, and again when a guest XSETBV that KVM intercepts
 * changes it. Where the guest's XSETBV does not reach KVM (seen in the nested test host, whose
 * emulated SVM runs it without an exit) the guest kept the size for XCR0 = x87 (576 bytes) after it
 * had enabled AVX, and Linux warned at boot: "XSAVE consistency problem: size 832 != kernel_size
 * 576". So the vCPU starts with XCR0 holding every feature the guest may enable (the value Linux
 * sets; before CR4.OSXSAVE the guest cannot use or see it) and CPUID is set again for it. Best effort.
 */
static void sync_xsave_size(int vcpu_fd, const struct kvm_cpuid2 *c, const struct vlog *log)
{
	struct kvm_xcrs xcrs = { .nr_xcrs = 1 };
	uint64_t mask = 0;

	for (uint32_t i = 0; i < c->nent; i++)
		if (c->entries[i].function == 0xd && c->entries[i].index == 0)
			mask = ((uint64_t)c->entries[i].edx << 32 | c->entries[i].eax) & XCR0_USER_MASK;
	if (!(mask & ~XCR0_X87_SSE))
		return; /* x87 and SSE only: the size never changes */
	xcrs.xcrs[0] = (struct kvm_xcr){ .xcr = 0, .value = mask };
	if (ioctl(vcpu_fd, KVM_SET_XCRS, &xcrs) < 0 || ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		vlog_debug(log, "cannot size CPUID 0xD for XCR0 0x%llx: %s", (unsigned long long)mask, strerror(errno));
}

int x86_vcpu_init(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned id, unsigned ncpus,
		  const struct x86_boot *b, const struct vlog *log)
{
	size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(sz);
	const char *step;
	int ret;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, sz);
	x86_cpuid_patch(c, id, ncpus);
	ret = ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0 ? -errno : 0;
	if (!ret)
		sync_xsave_size(vcpu_fd, c, log);
	free(c);
	step = "KVM_SET_CPUID2";
	if (!ret) {
		step = "setting MSRs";
		ret = set_msrs(vcpu_fd);
	}
	if (!ret) {
		step = "setting the FPU";
		ret = set_fpu(vcpu_fd);
	}
	if (!ret) {
		step = "setting the local APIC";
		ret = set_lapic(vcpu_fd);
	}
	if (!ret && b) {
		step = "setting segment registers";
		ret = set_sregs(vcpu_fd, b);
		if (!ret) {
			step = "setting registers";
			ret = set_regs(vcpu_fd, b);
		}
	}
	if (ret)
		vlog_err(log, "vCPU %u: %s failed: %s", id, step, strerror(-ret));
	return ret;
}

void x86_dump_regs(int vcpu_fd, const struct vlog *log)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		vlog_err(log, "  (registers unavailable: %s)", strerror(errno));
		return;
	}
	vlog_err(log, "  rip=%016llx rsp=%016llx rflags=%016llx", r.rip, r.rsp, r.rflags);
	vlog_err(log, "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", r.rax, r.rbx, r.rcx, r.rdx);
	vlog_err(log, "  rsi=%016llx rdi=%016llx rbp=%016llx r8 =%016llx", r.rsi, r.rdi, r.rbp, r.r8);
	vlog_err(log, "  r9 =%016llx r10=%016llx r11=%016llx r12=%016llx", r.r9, r.r10, r.r11, r.r12);
	vlog_err(log, "  r13=%016llx r14=%016llx r15=%016llx", r.r13, r.r14, r.r15);
	vlog_err(log, "  cs=%04x ss=%04x cr0=%llx cr2=%llx cr3=%llx cr4=%llx efer=%llx", s.cs.selector,
		 s.ss.selector, s.cr0, s.cr2, s.cr3, s.cr4, s.efer);
}
