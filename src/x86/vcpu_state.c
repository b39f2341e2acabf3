// SPDX-License-Identifier: Apache-2.0
/* x86 vCPU and VM (irqchip, PIT, kvm-clock) state for snapshots: see vcpu_state.h. */
#include "x86/vcpu_state.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define MSR_IA32_TSC_ADJUST 0x3b
#define MSR_KVM_ASYNC_PF_INT 0x4b564d06
#define MSR_IA32_APICBASE_BSP (1u << 8)
/* KVM_GET_MSRS and KVM_SET_MSRS take fewer than 256 entries (the kernel's MAX_IO_MSRS) per call. */
#define MSR_BATCH 128u
/* The legacy XSAVE area (struct kvm_xsave without its flexible tail): KVM_GET_XSAVE/KVM_SET_XSAVE size. */
#define XSAVE_LEGACY ((uint32_t)sizeof(struct kvm_xsave))

_Static_assert(sizeof(struct kvm_msr_entry) == 16, "kvm_msr_entry layout");
_Static_assert(sizeof(struct kvm_irqchip) == 520, "kvm_irqchip layout");
_Static_assert(sizeof(struct kvm_lapic_state) == KVM_APIC_REG_SIZE, "kvm_lapic_state layout");
_Static_assert(sizeof(struct kvm_xsave) == 4096, "kvm_xsave layout");

/* A vCPU blob, parsed and checked before any of it goes to KVM. */
struct vcpu_blob {
	uint32_t tsc_khz;
	struct kvm_regs regs;
	struct kvm_sregs sregs;
	uint8_t *xsave;
	uint32_t xsave_len;
	bool has_xcrs;
	struct kvm_xcrs xcrs;
	struct kvm_debugregs dregs;
	struct kvm_lapic_state lapic;
	struct kvm_msr_entry *msrs;
	uint32_t nmsrs;
	struct kvm_vcpu_events events;
	struct kvm_mp_state mp;
};

/* One ioctl whose failure is logged as "<what>: <NAME> failed: <reason>"; its result, or -errno. */
static int kvm_call(int fd, unsigned long req, void *arg, const char *name, const char *what, const struct vlog *log)
{
	int r = ioctl(fd, req, arg);

	if (r < 0) {
		r = -errno;
		vlog_err(log, "%s: %s failed: %s", what, name, strerror(-r));
	}
	return r;
}
#define KCALL(fd, req, arg, what) kvm_call((fd), (req), (arg), #req, (what), log)

static void put_struct(struct sbuf *b, const void *p, uint32_t n)
{
	sbuf_u32(b, n);
	sbuf_put(b, p, n);
}

/* True (and logged) when the saved state ended before name: a truncated blob. */
static bool truncated(const struct sreader *in, const char *name, const char *what, const struct vlog *log)
{
	if (sr_ok(in))
		return false;
	vlog_err(log, "%s: the saved state is truncated (it ends in %s)", what, name);
	return true;
}

/*
 * A length-prefixed struct of exactly size bytes; with optional, a length of 0 means absent (false, in still
 * good). Anything else is logged and marks in bad. Every parse failure below is logged once, where it is found.
 */
static bool get_struct(struct sreader *in, void *p, uint32_t size, bool optional, const char *name,
		       const char *what, const struct vlog *log)
{
	uint32_t len = sr_u32(in);

	memset(p, 0, size);
	if (truncated(in, name, what, log))
		return false;
	if (len == 0 && optional)
		return false;
	if (len != size) {
		vlog_err(log, "%s: %s is %u bytes, expected %u", what, name, len, size);
		sr_fail(in);
		return false;
	}
	sr_get(in, p, size);
	return !truncated(in, name, what, log);
}

static size_t remaining(const struct sreader *in)
{
	return in->bad ? 0 : in->len - in->off;
}

static bool get_header(struct sreader *in, uint32_t magic, uint32_t version, const char *what,
		       const struct vlog *log)
{
	uint32_t m = sr_u32(in), v = sr_u32(in);

	if (truncated(in, "the header", what, log))
		return false;
	if (m != magic || v != version) {
		vlog_err(log, "%s: not a version %u state (magic %#x, version %u)", what, version, m, v);
		sr_fail(in);
		return false;
	}
	return true;
}

/* --- vCPU save ------------------------------------------------------------------------------------ */

/* KVM's list of MSRs to save (KVM_GET_MSR_INDEX_LIST on /dev/kvm); free() *out. */
static int msr_index_list(int kvm_fd, const struct vlog *log, uint32_t **out, uint32_t *n)
{
	static const char what[] = "vCPU save";
	struct kvm_msr_list probe = { .nmsrs = 0 }, *l;
	int ret;

	*out = NULL;
	*n = 0;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) == 0)
		return 0; /* an empty list */
	if (errno != E2BIG) {
		ret = -errno;
		vlog_err(log, "%s: KVM_GET_MSR_INDEX_LIST failed: %s", what, strerror(-ret));
		return ret;
	}
	if (probe.nmsrs > X86_VCPU_MAX_MSRS) {
		vlog_err(log, "%s: KVM reports %u MSRs, more than %u", what, probe.nmsrs, X86_VCPU_MAX_MSRS);
		return -E2BIG;
	}
	l = calloc(1, sizeof(*l) + (size_t)probe.nmsrs * sizeof(l->indices[0]));
	if (!l)
		return -ENOMEM;
	l->nmsrs = probe.nmsrs;
	ret = KCALL(kvm_fd, KVM_GET_MSR_INDEX_LIST, l, what);
	if (ret < 0) {
		free(l);
		return ret;
	}
	*out = malloc((size_t)l->nmsrs * sizeof(uint32_t) + 1);
	if (!*out) {
		free(l);
		return -ENOMEM;
	}
	memcpy(*out, l->indices, (size_t)l->nmsrs * sizeof(uint32_t));
	*n = l->nmsrs;
	free(l);
	return 0;
}

/* Restore writes these first: TSC_ADJUST before the TSC, the async-PF vector before async PF is enabled. */
static bool msr_early(uint32_t index)
{
	return index == MSR_IA32_TSC_ADJUST || index == MSR_KVM_ASYNC_PF_INT;
}

/*
 * Read every MSR of idx[0..n) that reads on this vCPU into *out (*nout of them, early ones first). KVM_GET_MSRS
 * stops at the first MSR it cannot read and returns how many it did: that one is skipped and the batch goes on.
 */
static int read_msrs(int vcpu_fd, const uint32_t *idx, uint32_t n, const struct vlog *log,
		     struct kvm_msr_entry **out, uint32_t *nout)
{
	struct kvm_msrs *m = malloc(sizeof(*m) + MSR_BATCH * sizeof(struct kvm_msr_entry));
	struct kvm_msr_entry *e = calloc((size_t)n + 1, sizeof(*e)), *sorted = calloc((size_t)n + 1, sizeof(*e));
	uint32_t got = 0, pos = 0, k, i, j = 0;
	int ret = 0;

	if (!m || !e || !sorted) {
		ret = -ENOMEM;
		goto out;
	}
	while (pos < n) {
		k = n - pos < MSR_BATCH ? n - pos : MSR_BATCH;
		memset(m, 0, sizeof(*m) + k * sizeof(struct kvm_msr_entry));
		m->nmsrs = k;
		for (i = 0; i < k; i++)
			m->entries[i].index = idx[pos + i];
		ret = KCALL(vcpu_fd, KVM_GET_MSRS, m, "vCPU save");
		if (ret < 0)
			goto out;
		if ((uint32_t)ret > k) {
			vlog_err(log, "vCPU save: KVM_GET_MSRS read %d of %u MSRs", ret, k);
			ret = -EIO;
			goto out;
		}
		memcpy(e + got, m->entries, (size_t)ret * sizeof(*e));
		got += (uint32_t)ret;
		pos += (uint32_t)ret;
		if ((uint32_t)ret < k) {
			vlog_debug(log, "vCPU save: MSR %#x does not read on this vCPU: left out", idx[pos]);
			pos++;
		}
	}
	for (i = 0; i < got; i++)
		if (msr_early(e[i].index))
			sorted[j++] = e[i];
	for (i = 0; i < got; i++)
		if (!msr_early(e[i].index))
			sorted[j++] = e[i];
	*out = sorted;
	*nout = got;
	sorted = NULL;
	ret = 0;
out:
	free(m);
	free(e);
	free(sorted);
	return ret;
}

/* The XSAVE area: KVM_GET_XSAVE2 with the VM's size where KVM has it, else the 4 KiB KVM_GET_XSAVE. */
static int read_xsave(int vm_fd, int vcpu_fd, const struct vlog *log, uint8_t **out, uint32_t *len)
{
	int size = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	uint32_t n = size > (int)XSAVE_LEGACY ? (uint32_t)size : XSAVE_LEGACY;
	uint8_t *buf;
	int ret;

	if (n > X86_XSAVE_MAX || n % 4) {
		vlog_err(log, "vCPU save: KVM's XSAVE area is %u bytes, more than %u or not whole words", n,
			 X86_XSAVE_MAX);
		return -E2BIG;
	}
	buf = calloc(1, n);
	if (!buf)
		return -ENOMEM;
	if (size > 0)
		ret = KCALL(vcpu_fd, KVM_GET_XSAVE2, buf, "vCPU save");
	else
		ret = KCALL(vcpu_fd, KVM_GET_XSAVE, buf, "vCPU save");
	if (ret < 0) {
		free(buf);
		return ret;
	}
	*out = buf;
	*len = n;
	return 0;
}

int x86_vcpu_save(int kvm_fd, int vm_fd, int vcpu_fd, const struct vlog *log, struct sbuf *out)
{
	static const char what[] = "vCPU save";
	struct vcpu_blob b = { 0 };
	uint32_t *idx = NULL, nidx = 0;
	int ret, khz;

	khz = ioctl(vcpu_fd, KVM_GET_TSC_KHZ, 0);
	if (khz < 0)
		vlog_debug(log, "%s: KVM_GET_TSC_KHZ failed (%s): the TSC rate is not recorded", what, strerror(errno));
	b.tsc_khz = khz > 0 ? (uint32_t)khz : 0;
	if ((ret = KCALL(vcpu_fd, KVM_GET_REGS, &b.regs, what)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_GET_SREGS, &b.sregs, what)) < 0 ||
	    (ret = read_xsave(vm_fd, vcpu_fd, log, &b.xsave, &b.xsave_len)) < 0)
		goto out;
	b.has_xcrs = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XCRS) > 0;
	if ((b.has_xcrs && (ret = KCALL(vcpu_fd, KVM_GET_XCRS, &b.xcrs, what)) < 0) ||
	    (ret = KCALL(vcpu_fd, KVM_GET_DEBUGREGS, &b.dregs, what)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_GET_LAPIC, &b.lapic, what)) < 0 ||
	    (ret = msr_index_list(kvm_fd, log, &idx, &nidx)) < 0 ||
	    (ret = read_msrs(vcpu_fd, idx, nidx, log, &b.msrs, &b.nmsrs)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_GET_VCPU_EVENTS, &b.events, what)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_GET_MP_STATE, &b.mp, what)) < 0)
		goto out;

	sbuf_u32(out, X86_VCPU_STATE_MAGIC);
	sbuf_u32(out, X86_VCPU_STATE_VERSION);
	sbuf_u32(out, b.tsc_khz);
	put_struct(out, &b.regs, sizeof(b.regs));
	put_struct(out, &b.sregs, sizeof(b.sregs));
	put_struct(out, b.xsave, b.xsave_len);
	if (b.has_xcrs)
		put_struct(out, &b.xcrs, sizeof(b.xcrs));
	else
		sbuf_u32(out, 0);
	put_struct(out, &b.dregs, sizeof(b.dregs));
	put_struct(out, &b.lapic, sizeof(b.lapic));
	sbuf_u32(out, b.nmsrs);
	for (uint32_t i = 0; i < b.nmsrs; i++) {
		sbuf_u32(out, b.msrs[i].index);
		sbuf_u64(out, b.msrs[i].data);
	}
	put_struct(out, &b.events, sizeof(b.events));
	put_struct(out, &b.mp, sizeof(b.mp));
	ret = out->oom ? -ENOMEM : 0;
	vlog_debug(log, "%s: %u MSRs (of %u listed), XSAVE %u bytes, TSC %u kHz", what, b.nmsrs, nidx, b.xsave_len,
		   b.tsc_khz);
out:
	free(idx);
	free(b.msrs);
	free(b.xsave);
	return ret;
}

/* --- vCPU restore --------------------------------------------------------------------------------- */

static void blob_free(struct vcpu_blob *b)
{
	free(b->xsave);
	free(b->msrs);
}

/* Parse and check a whole vCPU blob; -EINVAL (logged, in marked bad) when it is malformed. */
static int vcpu_parse(struct sreader *in, const struct vlog *log, struct vcpu_blob *b)
{
	static const char what[] = "vCPU restore";

	if (!get_header(in, X86_VCPU_STATE_MAGIC, X86_VCPU_STATE_VERSION, what, log))
		goto bad;
	b->tsc_khz = sr_u32(in);
	if (truncated(in, "the TSC rate", what, log) ||
	    !get_struct(in, &b->regs, sizeof(b->regs), false, "kvm_regs", what, log) ||
	    !get_struct(in, &b->sregs, sizeof(b->sregs), false, "kvm_sregs", what, log))
		goto bad;

	b->xsave_len = sr_u32(in);
	if (truncated(in, "the XSAVE length", what, log))
		goto bad;
	if (b->xsave_len < XSAVE_LEGACY || b->xsave_len > X86_XSAVE_MAX || b->xsave_len % 4 ||
	    b->xsave_len > remaining(in)) {
		vlog_err(log, "%s: an XSAVE area of %u bytes (%zu bytes left)", what, b->xsave_len, remaining(in));
		goto bad;
	}
	b->xsave = malloc(b->xsave_len);
	if (!b->xsave)
		return -ENOMEM;
	sr_get(in, b->xsave, b->xsave_len);
	if (truncated(in, "the XSAVE area", what, log))
		goto bad;

	b->has_xcrs = get_struct(in, &b->xcrs, sizeof(b->xcrs), true, "kvm_xcrs", what, log);
	if (!sr_ok(in))
		goto bad; /* logged */
	if (b->has_xcrs && b->xcrs.nr_xcrs > KVM_MAX_XCRS) {
		vlog_err(log, "%s: %u XCRs, more than %u", what, b->xcrs.nr_xcrs, KVM_MAX_XCRS);
		goto bad;
	}
	if (!get_struct(in, &b->dregs, sizeof(b->dregs), false, "kvm_debugregs", what, log) ||
	    !get_struct(in, &b->lapic, sizeof(b->lapic), false, "kvm_lapic_state", what, log))
		goto bad;

	b->nmsrs = sr_u32(in);
	if (truncated(in, "the MSR count", what, log))
		goto bad;
	if (b->nmsrs > X86_VCPU_MAX_MSRS || (size_t)b->nmsrs * 12 > remaining(in)) {
		vlog_err(log, "%s: %u MSRs (%zu bytes left)", what, b->nmsrs, remaining(in));
		goto bad;
	}
	b->msrs = calloc((size_t)b->nmsrs + 1, sizeof(*b->msrs));
	if (!b->msrs)
		return -ENOMEM;
	for (uint32_t i = 0; i < b->nmsrs; i++) {
		b->msrs[i].index = sr_u32(in);
		b->msrs[i].data = sr_u64(in);
	}
	if (truncated(in, "the MSRs", what, log))
		goto bad;
	if (!get_struct(in, &b->events, sizeof(b->events), false, "kvm_vcpu_events", what, log) ||
	    !get_struct(in, &b->mp, sizeof(b->mp), false, "kvm_mp_state", what, log))
		goto bad;
	return 0;
bad:
	sr_fail(in); /* already logged */
	return -EINVAL;
}

/* The TSC rate: the saved one where it differs from this host's and KVM can scale; else a warning. */
static int restore_tsc_khz(int vm_fd, int vcpu_fd, const struct vcpu_blob *b, const struct vlog *log)
{
	int here;

	if (!b->tsc_khz)
		return 0;
	here = kvm_call(vcpu_fd, KVM_GET_TSC_KHZ, NULL, "KVM_GET_TSC_KHZ", "vCPU restore", log);
	if (here < 0)
		return here;
	if ((uint32_t)here == b->tsc_khz)
		return 0;
	if (ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_TSC_CONTROL) > 0 &&
	    ioctl(vcpu_fd, KVM_SET_TSC_KHZ, (unsigned long)b->tsc_khz) == 0) {
		vlog_debug(log, "vCPU restore: TSC set to the saved %u kHz (this host: %d kHz)", b->tsc_khz, here);
		return 0;
	}
	/* Once per VM: the boot vCPU warns, the others say it in the debug log. */
	vlog(log, (b->sregs.apic_base & MSR_IA32_APICBASE_BSP) ? VMM_LOG_WARN : VMM_LOG_DEBUG,
	     "the snapshot's TSC ran at %u kHz, this host's at %d kHz and KVM cannot scale it: guest time may drift",
	     b->tsc_khz, here);
	return 0;
}

/* The XSAVE area in the size KVM_SET_XSAVE reads here; state beyond it that is not zero cannot be restored. */
static int restore_xsave(int vm_fd, int vcpu_fd, const struct vcpu_blob *b, const struct vlog *log)
{
	int size = ioctl(vm_fd, KVM_CHECK_EXTENSION, KVM_CAP_XSAVE2);
	uint32_t n = size > (int)XSAVE_LEGACY ? (uint32_t)size : XSAVE_LEGACY;
	uint8_t *buf;
	int ret;

	for (uint32_t i = n; i < b->xsave_len; i++) {
		if (b->xsave[i]) {
			vlog_err(log, "vCPU restore: the saved XSAVE state needs %u bytes, KVM here takes %u",
				 b->xsave_len, n);
			return -EINVAL;
		}
	}
	if (n > X86_XSAVE_MAX)
		return -E2BIG;
	buf = calloc(1, n);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, b->xsave, b->xsave_len < n ? b->xsave_len : n);
	ret = KCALL(vcpu_fd, KVM_SET_XSAVE, buf, "vCPU restore");
	free(buf);
	return ret < 0 ? ret : 0;
}

/* Every MSR, in the saved order, in batches; KVM_SET_MSRS returns how many it set: fewer is an error. */
static int restore_msrs(int vcpu_fd, const struct vcpu_blob *b, const struct vlog *log)
{
	struct kvm_msrs *m = malloc(sizeof(*m) + MSR_BATCH * sizeof(struct kvm_msr_entry));
	int ret = 0;

	if (!m)
		return -ENOMEM;
	for (uint32_t pos = 0; pos < b->nmsrs; pos += MSR_BATCH) {
		uint32_t k = b->nmsrs - pos < MSR_BATCH ? b->nmsrs - pos : MSR_BATCH;

		memset(m, 0, sizeof(*m));
		m->nmsrs = k;
		memcpy(m->entries, b->msrs + pos, k * sizeof(struct kvm_msr_entry));
		ret = KCALL(vcpu_fd, KVM_SET_MSRS, m, "vCPU restore");
		if (ret < 0)
			break;
		if ((uint32_t)ret != k) {
			const struct kvm_msr_entry *e = &b->msrs[pos + ((uint32_t)ret < k ? (uint32_t)ret : 0)];

			vlog_err(log, "vCPU restore: KVM_SET_MSRS refused MSR %#x (value %#llx)", e->index,
				 (unsigned long long)e->data);
			ret = -EINVAL;
			break;
		}
		ret = 0;
	}
	free(m);
	return ret;
}

/*
 * The order (as QEMU, Firecracker and Cloud Hypervisor do it, for these reasons):
 * - the TSC rate before the TSC MSR, whose offset KVM computes at the rate in force;
 * - registers, then special registers (which carry the APIC base: before the LAPIC), XSAVE, XCRs, debug
 *   registers; KVM_SET_REGS drops a pending exception, so the events come later;
 * - the LAPIC before the MSRs: KVM ignores a TSC-deadline write unless the LAPIC timer is in that mode;
 * - the MSRs (TSC_ADJUST and the async-PF vector first, as saved);
 * - the pending events (exception, interrupt, NMI, SMM, latched INIT) after everything that clears them;
 * - the MP state last: KVM checks it against the latched INIT the events restore.
 */
int x86_vcpu_restore(int vm_fd, int vcpu_fd, const struct vlog *log, struct sreader *in)
{
	static const char what[] = "vCPU restore";
	struct vcpu_blob b = { 0 };
	int ret = vcpu_parse(in, log, &b);

	if (ret < 0)
		goto out;
	b.dregs.flags = 0;
	b.xcrs.flags = 0;
	/* What KVM_GET_VCPU_EVENTS does not flag but did report: restore the NMI pending count and SIPI vector. */
	b.events.flags |= KVM_VCPUEVENT_VALID_NMI_PENDING | KVM_VCPUEVENT_VALID_SIPI_VECTOR;
	if ((ret = restore_tsc_khz(vm_fd, vcpu_fd, &b, log)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_SET_REGS, &b.regs, what)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_SET_SREGS, &b.sregs, what)) < 0 ||
	    (ret = restore_xsave(vm_fd, vcpu_fd, &b, log)) < 0 ||
	    (b.has_xcrs && (ret = KCALL(vcpu_fd, KVM_SET_XCRS, &b.xcrs, what)) < 0) ||
	    (ret = KCALL(vcpu_fd, KVM_SET_DEBUGREGS, &b.dregs, what)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_SET_LAPIC, &b.lapic, what)) < 0 ||
	    (ret = restore_msrs(vcpu_fd, &b, log)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_SET_VCPU_EVENTS, &b.events, what)) < 0 ||
	    (ret = KCALL(vcpu_fd, KVM_SET_MP_STATE, &b.mp, what)) < 0)
		goto out;
	ret = 0;
out:
	blob_free(&b);
	return ret;
}

/* --- VM ------------------------------------------------------------------------------------------- */

static const char *const chip_names[3] = { "PIC master", "PIC slave", "IOAPIC" };

int x86_vm_save(int vm_fd, const struct vlog *log, struct sbuf *out)
{
	static const char what[] = "VM save";
	struct kvm_irqchip chips[3];
	struct kvm_pit_state2 pit = { 0 };
	struct kvm_clock_data clock = { 0 };
	bool has_irqchip = true, has_pit = true;
	int ret;

	for (unsigned i = 0; i < 3 && has_irqchip; i++) {
		chips[i] = (struct kvm_irqchip){ .chip_id = i };
		if (ioctl(vm_fd, KVM_GET_IRQCHIP, &chips[i]) < 0) {
			if (i == 0 && errno == ENXIO) {
				has_irqchip = false; /* no in-kernel PIC and IOAPIC */
				break;
			}
			ret = -errno;
			vlog_err(log, "%s: KVM_GET_IRQCHIP (%s) failed: %s", what, chip_names[i], strerror(-ret));
			return ret;
		}
	}
	if (ioctl(vm_fd, KVM_GET_PIT2, &pit) < 0) {
		if (errno != ENXIO) {
			ret = -errno;
			vlog_err(log, "%s: KVM_GET_PIT2 failed: %s", what, strerror(-ret));
			return ret;
		}
		has_pit = false;
	}
	if ((ret = KCALL(vm_fd, KVM_GET_CLOCK, &clock, what)) < 0)
		return ret;

	sbuf_u32(out, X86_VM_STATE_MAGIC);
	sbuf_u32(out, X86_VM_STATE_VERSION);
	for (unsigned i = 0; i < 3; i++) {
		if (has_irqchip)
			put_struct(out, &chips[i], sizeof(chips[i]));
		else
			sbuf_u32(out, 0);
	}
	if (has_pit)
		put_struct(out, &pit, sizeof(pit));
	else
		sbuf_u32(out, 0);
	put_struct(out, &clock, sizeof(clock));
	return out->oom ? -ENOMEM : 0;
}

int x86_vm_restore(int vm_fd, const struct vlog *log, struct sreader *in)
{
	static const char what[] = "VM restore";
	struct kvm_irqchip chips[3];
	struct kvm_pit_state2 pit;
	struct kvm_clock_data saved, clock = { 0 };
	bool has_chip[3], has_pit;
	int ret;

	if (!get_header(in, X86_VM_STATE_MAGIC, X86_VM_STATE_VERSION, what, log))
		goto bad;
	for (unsigned i = 0; i < 3; i++) {
		has_chip[i] = get_struct(in, &chips[i], sizeof(chips[i]), true, chip_names[i], what, log);
		if (!sr_ok(in))
			goto bad; /* logged */
		if (has_chip[i] && chips[i].chip_id != i) {
			vlog_err(log, "%s: the %s state is that of chip %u", what, chip_names[i], chips[i].chip_id);
			goto bad;
		}
	}
	has_pit = get_struct(in, &pit, sizeof(pit), true, "kvm_pit_state2", what, log);
	if (!sr_ok(in) || !get_struct(in, &saved, sizeof(saved), false, "kvm_clock_data", what, log))
		goto bad;

	for (unsigned i = 0; i < 3; i++) {
		if (has_chip[i] && ioctl(vm_fd, KVM_SET_IRQCHIP, &chips[i]) < 0) {
			ret = -errno;
			vlog_err(log, "%s: KVM_SET_IRQCHIP (%s) failed: %s", what, chip_names[i], strerror(-ret));
			return ret;
		}
	}
	if (has_pit && (ret = KCALL(vm_fd, KVM_SET_PIT2, &pit, what)) < 0)
		return ret;
	/*
	 * Flags 0: kvm-clock reads the saved value again, so guest time goes on from the snapshot. KVM_CLOCK_REALTIME
	 * would add the wall time since the save (right for a live migration, not for restoring the same snapshot
	 * again and again).
	 */
	clock.clock = saved.clock;
	if ((ret = KCALL(vm_fd, KVM_SET_CLOCK, &clock, what)) < 0)
		return ret;
	return 0;
bad:
	sr_fail(in); /* already logged */
	return -EINVAL;
}
