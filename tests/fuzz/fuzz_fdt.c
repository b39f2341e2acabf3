// SPDX-License-Identifier: Apache-2.0
/*
 * fuzz_fdt: the arm64 guest's device tree (src/arm64/fdt.c): arm64_fdt_build() on configs decoded from the
 * input: vCPU counts and MPIDRs, every address range and size (overlapping, empty, wrapping), SPIs, PCI
 * slots, the initrd, the command line (long, any bytes) and the buffer's length, checked against the
 * header's contract with libfdt reading the result back.
 *
 * Input: u8 flags: bit 0 the MPIDRs come from the input (else KVM's: 16 per Aff1 cluster, bit 31 set);
 * bit 1 an initrd (16 MiB into RAM, 1 MiB); bit 2 an rng seed; bit 3 no ITS; bit 4 no 64-bit PCI window;
 * bit 5 a NULL command line; bit 6 the buffer's length comes from the input (else ARM64_FDT_MAX); bit 7
 * the calls with a NULL or misaligned buffer too. u8 ncpus, u8 PCI slots, [bit 6: u32 length, modulo
 * ARM64_FDT_MAX + 64 KiB + 1], u16 command-line length and its bytes, u8 long: the command line grows by
 * long x 8 KiB copies of its last byte ('x' when empty); [bit 0: ncpus u64 MPIDRs]. Then until the input
 * ends, changes to the config, which starts as arm64/layout.h's machine with 64 MiB of RAM and ncpus'
 * redistributors: u8 sel: bits 0-4 a field (of the 24 numbers of struct arm64_fdt_config, modulo),
 * bits 5-6: 0 a u64 value, 1 the field + s16 x 4 KiB, 2 the field + s16, 3 u8 r, u8 d: with a delta of
 * d % 5 - 2 (-2..2; the other modes reach further), a base moves to the end of range r (bit 7: its base)
 * + delta, a size makes its range end there, an SPI or the seed takes the value of field r + delta
 * (ranges that touch, overlap by a byte, or coincide).
 *
 * Checked beyond the sanitizers (each buffer ends where ASan sees a byte past it):
 * - the result is 0, -EINVAL or -ENOSPC; -EINVAL exactly for a config the header calls senseless (an
 *   independent reading of it: vCPUs, distinct affinities, enough redistributors, ranges non-empty, not
 *   wrapping, not overlapping, the 32-bit window below 4 GiB, the initrd in RAM, SPIs in range and not
 *   shared, the ECAM size and slot count) or a NULL or misaligned buffer;
 * - on success the tree passes fdt_check_full(), fits in len, has no reserved entries, and says what
 *   the config does: /chosen/bootargs is the command line byte for byte, stdout-path and serial0 name the
 *   UART, the memory node's reg, one cpu node per vCPU with its affinity, the initrd and rng-seed
 *   properties exactly when asked, the ITS and msi-map exactly with an ITS, the PCI ranges and an
 *   interrupt-map entry per slot and pin on the swizzled SPI;
 * - with the length from the input, it is the smallest buffer that works: a buffer of exactly its size
 *   gives the same bytes, one byte less gives -ENOSPC and no valid magic; -ENOSPC for a valid config
 *   means even ARM64_FDT_MAX bytes are too few or the tree is longer than the length given.
 */
#include <errno.h>
#include <stddef.h>

#include <libfdt.h>
#include <sanitizer/asan_interface.h>

#include "arm64/fdt.h"
#include "arm64/layout.h"
#include "fuzz.h"

#define KIB (1ull << 10)
#define MIB (1ull << 20)
#define GIB (1ull << 30)
#define AFF_MASK 0xff00ffffffull
#define MAX_SPI 987
#define LONG_UNIT (8 * KIB)

/* The numbers of the config the input may change, in struct order. */
static const struct {
	size_t off;
	bool u32;
} fields[] = {
#define F64(f) { offsetof(struct arm64_fdt_config, f), false }
#define F32(f) { offsetof(struct arm64_fdt_config, f), true }
	F64(ram_base), F64(ram_size), F64(initrd_start), F64(initrd_size), F64(gicd_base), F64(gicd_size),
	F64(gicr_base), F64(gicr_size), F64(its_base), F64(its_size), F64(uart_base), F64(uart_size),
	F32(uart_spi), F64(rtc_base), F64(rtc_size), F32(rtc_spi), F64(pci_ecam_base), F64(pci_ecam_size),
	F64(pci_mmio32_base), F64(pci_mmio32_size), F64(pci_mmio64_base), F64(pci_mmio64_size), F32(pci_intx_spi),
	F64(rng_seed),
#undef F64
#undef F32
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static uint64_t get_field(const struct arm64_fdt_config *c, unsigned i)
{
	const uint8_t *p = (const uint8_t *)c + fields[i].off;
	uint32_t v32;
	uint64_t v64;

	if (fields[i].u32) {
		memcpy(&v32, p, sizeof(v32));
		return v32;
	}
	memcpy(&v64, p, sizeof(v64));
	return v64;
}

static void set_field(struct arm64_fdt_config *c, unsigned i, uint64_t v)
{
	uint8_t *p = (uint8_t *)c + fields[i].off;
	uint32_t v32 = (uint32_t)v;

	if (fields[i].u32)
		memcpy(p, &v32, sizeof(v32));
	else
		memcpy(p, &v, sizeof(v));
}

/* The ranges of the config: the fields of each base and size. */
static const struct {
	unsigned base, size;
} ranges[] = {
	{ 0, 1 } /* RAM */, { 2, 3 } /* initrd */, { 4, 5 } /* GICD */, { 6, 7 } /* GICR */, { 8, 9 } /* ITS */,
	{ 10, 11 } /* UART */, { 13, 14 } /* RTC */, { 16, 17 } /* ECAM */, { 18, 19 } /* MMIO32 */,
	{ 20, 21 } /* MMIO64 */,
};
#define NRANGES (sizeof(ranges) / sizeof(ranges[0]))

/*
 * A value for field i placed against range r (bits 0-6, modulo; bit 7: its base, else its end) + delta:
 * a base goes there, a size makes its own range end there; any other field takes field r's value +
 * delta. Ranges that touch, overlap by a byte or miss by one are a change or two away.
 */
static uint64_t relative(const struct arm64_fdt_config *c, unsigned i, uint8_t r, int delta)
{
	unsigned k = (r & 0x7f) % NRANGES;
	uint64_t anchor = get_field(c, ranges[k].base) + (r & 0x80 ? 0 : get_field(c, ranges[k].size));

	for (unsigned j = 0; j < NRANGES; j++) {
		if (i == ranges[j].base)
			return anchor + (uint64_t)(int64_t)delta;
		if (i == ranges[j].size)
			return anchor - get_field(c, ranges[j].base) + (uint64_t)(int64_t)delta;
	}
	return get_field(c, (r & 0x7f) % NFIELDS) + (uint64_t)(int64_t)delta;
}

/* --- what the header says makes a config senseless, read independently of fdt.c --- */

struct rng {
	uint64_t base, size;
};

/* Non-empty and not wrapping past 2^64. */
static bool rng_ok(struct rng r)
{
	return r.size && r.base + (r.size - 1) >= r.base;
}

/* Two ranges (both rng_ok()) share a byte. */
static bool rng_meet(struct rng a, struct rng b)
{
	return a.base <= b.base + (b.size - 1) && b.base <= a.base + (a.size - 1);
}

static bool config_valid(const struct arm64_fdt_config *c)
{
	struct rng r[9];
	unsigned n = 0;
	uint32_t intx = c->pci_intx_spi;

	if (c->ncpus < 1 || c->ncpus > ARM64_MAX_CPUS || !c->mpidr || !c->cmdline)
		return false;
	for (unsigned i = 0; i < c->ncpus; i++)
		for (unsigned j = i + 1; j < c->ncpus; j++)
			if ((c->mpidr[i] & AFF_MASK) == (c->mpidr[j] & AFF_MASK))
				return false;
	if (c->gicr_size < (uint64_t)c->ncpus * ARM64_GICR_STRIDE)
		return false;
	if (c->pci_ecam_size % MIB || c->pci_ecam_size > 256 * MIB)
		return false;
	if (c->pci_slots < 1 || c->pci_slots > 32)
		return false;
	if (c->uart_spi > MAX_SPI || c->rtc_spi > MAX_SPI || intx > MAX_SPI - 3 || c->uart_spi == c->rtc_spi)
		return false;
	if ((c->uart_spi >= intx && c->uart_spi <= intx + 3) || (c->rtc_spi >= intx && c->rtc_spi <= intx + 3))
		return false;
	r[n++] = (struct rng){ c->ram_base, c->ram_size };
	r[n++] = (struct rng){ c->gicd_base, c->gicd_size };
	r[n++] = (struct rng){ c->gicr_base, c->gicr_size };
	if (c->its_size)
		r[n++] = (struct rng){ c->its_base, c->its_size };
	r[n++] = (struct rng){ c->uart_base, c->uart_size };
	r[n++] = (struct rng){ c->rtc_base, c->rtc_size };
	r[n++] = (struct rng){ c->pci_ecam_base, c->pci_ecam_size };
	r[n++] = (struct rng){ c->pci_mmio32_base, c->pci_mmio32_size };
	if (c->pci_mmio64_size)
		r[n++] = (struct rng){ c->pci_mmio64_base, c->pci_mmio64_size };
	for (unsigned i = 0; i < n; i++)
		if (!rng_ok(r[i]))
			return false;
	for (unsigned i = 0; i < n; i++)
		for (unsigned j = i + 1; j < n; j++)
			if (rng_meet(r[i], r[j]))
				return false;
	if (c->pci_mmio32_base + (c->pci_mmio32_size - 1) > UINT32_MAX)
		return false;
	if (c->initrd_size) {
		struct rng rd = { c->initrd_start, c->initrd_size };

		if (!rng_ok(rd) || rd.base < c->ram_base ||
		    rd.base + (rd.size - 1) > c->ram_base + (c->ram_size - 1))
			return false;
	}
	return true;
}

/* --- reading the tree back --- */

static uint32_t be32_at(const void *p, size_t cell)
{
	return fdt32_ld((const fdt32_t *)((const uint8_t *)p + 4 * cell));
}

static uint64_t be64_at(const void *p, size_t cell)
{
	return (uint64_t)be32_at(p, cell) << 32 | be32_at(p, cell + 1);
}

/* Property name of the node at path: its value, *len its length; NULL when absent. */
static const void *prop(const void *fdt, const char *path, const char *name, int *len)
{
	int node = fdt_path_offset(fdt, path);

	*len = -1;
	return node < 0 ? NULL : fdt_getprop(fdt, node, name, len);
}

static bool has_prop(const void *fdt, const char *path, const char *name)
{
	int len;

	return prop(fdt, path, name, &len) != NULL;
}

static void check_reg(const void *fdt, const char *path, uint64_t base, uint64_t size)
{
	int len;
	const void *v = prop(fdt, path, "reg", &len);

	FUZZ_CHECK(v && len == 16 && be64_at(v, 0) == base && be64_at(v, 2) == size);
}

static void check_tree(const void *fdt, size_t len, const struct arm64_fdt_config *c)
{
	char path[128], uart[40];
	const void *v;
	int n, node, cpus, count;

	FUZZ_CHECK(fdt_magic(fdt) == FDT_MAGIC && fdt_totalsize(fdt) <= len && fdt_totalsize(fdt) <= ARM64_FDT_MAX);
	FUZZ_CHECK(fdt_check_full(fdt, fdt_totalsize(fdt)) == 0);
	FUZZ_CHECK(fdt_num_mem_rsv(fdt) == 0);

	/* /chosen/bootargs is the command line, byte for byte, and nothing after its NUL. */
	v = prop(fdt, "/chosen", "bootargs", &n);
	FUZZ_CHECK(v && (size_t)n == strlen(c->cmdline) + 1 && !memcmp(v, c->cmdline, (size_t)n));
	snprintf(uart, sizeof(uart), "/serial@%llx", (unsigned long long)c->uart_base);
	v = prop(fdt, "/chosen", "stdout-path", &n);
	FUZZ_CHECK(v && (size_t)n == strlen(uart) + 1 && !memcmp(v, uart, (size_t)n));
	v = prop(fdt, "/aliases", "serial0", &n);
	FUZZ_CHECK(v && (size_t)n == strlen(uart) + 1 && !memcmp(v, uart, (size_t)n));
	check_reg(fdt, uart, c->uart_base, c->uart_size);
	v = prop(fdt, uart, "interrupts", &n);
	FUZZ_CHECK(v && n == 12 && be32_at(v, 0) == 0 && be32_at(v, 1) == c->uart_spi);

	snprintf(path, sizeof(path), "/memory@%llx", (unsigned long long)c->ram_base);
	check_reg(fdt, path, c->ram_base, c->ram_size);
	snprintf(path, sizeof(path), "/rtc@%llx", (unsigned long long)c->rtc_base);
	check_reg(fdt, path, c->rtc_base, c->rtc_size);
	v = prop(fdt, path, "interrupts", &n);
	FUZZ_CHECK(v && n == 12 && be32_at(v, 1) == c->rtc_spi);

	/* One cpu node per vCPU, in order, named and numbered by its affinity. */
	cpus = fdt_path_offset(fdt, "/cpus");
	FUZZ_CHECK(cpus >= 0);
	count = 0;
	fdt_for_each_subnode(node, fdt, cpus) {
		uint64_t aff = c->mpidr[count < (int)c->ncpus ? count : 0] & AFF_MASK;
		const char *name = fdt_get_name(fdt, node, &n);

		snprintf(path, sizeof(path), "cpu@%llx", (unsigned long long)aff);
		FUZZ_CHECK(count < (int)c->ncpus && name);
		FUZZ_CHECK((size_t)n == strlen(path) && !memcmp(name, path, (size_t)n));
		v = fdt_getprop(fdt, node, "reg", &n);
		FUZZ_CHECK(v && n == 8 && be64_at(v, 0) == aff);
		count++;
	}
	FUZZ_CHECK(count == (int)c->ncpus);

	FUZZ_CHECK(has_prop(fdt, "/chosen", "linux,initrd-start") == (c->initrd_size != 0));
	if (c->initrd_size) {
		v = prop(fdt, "/chosen", "linux,initrd-start", &n);
		FUZZ_CHECK(n == 8 && be64_at(v, 0) == c->initrd_start);
		v = prop(fdt, "/chosen", "linux,initrd-end", &n);
		FUZZ_CHECK(v && n == 8 && be64_at(v, 0) == c->initrd_start + c->initrd_size);
	}
	FUZZ_CHECK(has_prop(fdt, "/chosen", "rng-seed") == (c->rng_seed != 0));
	FUZZ_CHECK(has_prop(fdt, "/chosen", "kaslr-seed") == (c->rng_seed != 0));

	snprintf(path, sizeof(path), "/interrupt-controller@%llx", (unsigned long long)c->gicd_base);
	v = prop(fdt, path, "reg", &n);
	FUZZ_CHECK(v && n == 32 && be64_at(v, 0) == c->gicd_base && be64_at(v, 2) == c->gicd_size &&
		   be64_at(v, 4) == c->gicr_base && be64_at(v, 6) == c->gicr_size);
	snprintf(path + strlen(path), sizeof(path) - strlen(path), "/msi-controller@%llx",
		 (unsigned long long)c->its_base);
	FUZZ_CHECK((fdt_path_offset(fdt, path) >= 0) == (c->its_size != 0));
	if (c->its_size)
		check_reg(fdt, path, c->its_base, c->its_size);

	snprintf(path, sizeof(path), "/pcie@%llx", (unsigned long long)c->pci_ecam_base);
	check_reg(fdt, path, c->pci_ecam_base, c->pci_ecam_size);
	FUZZ_CHECK(has_prop(fdt, path, "msi-map") == (c->its_size != 0));
	v = prop(fdt, path, "bus-range", &n);
	FUZZ_CHECK(v && n == 8 && be32_at(v, 0) == 0 && be32_at(v, 1) == c->pci_ecam_size / MIB - 1);
	v = prop(fdt, path, "ranges", &n);
	FUZZ_CHECK(v && n == (c->pci_mmio64_size ? 56 : 28));
	FUZZ_CHECK(be64_at(v, 1) == c->pci_mmio32_base && be64_at(v, 3) == c->pci_mmio32_base &&
		   be64_at(v, 5) == c->pci_mmio32_size);
	if (c->pci_mmio64_size)
		FUZZ_CHECK(be64_at(v, 8) == c->pci_mmio64_base && be64_at(v, 12) == c->pci_mmio64_size);
	v = prop(fdt, path, "interrupt-map", &n);
	FUZZ_CHECK(v && (size_t)n == (size_t)c->pci_slots * 4 * 10 * 4);
	for (unsigned dev = 0; dev < c->pci_slots; dev++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			size_t e = (dev * 4 + pin) * 10;

			FUZZ_CHECK(be32_at(v, e) == dev << 11 && be32_at(v, e + 3) == pin + 1);
			FUZZ_CHECK(be32_at(v, e + 8) == c->pci_intx_spi + (dev + pin) % 4);
		}
	}
}

/*
 * The buffers: the last len bytes (rounded to 8-byte alignment) of one region kept for the whole run, its
 * bytes past len poisoned, so that ASan sees a byte written past the buffer as if it were allocated at
 * exactly len. libfdt's fdt_create() clears the whole buffer: a fresh 2 MiB one per call would cost page
 * faults, not the code under test, most of the time.
 */
#define REGION (ARM64_FDT_MAX + 64 * KIB + 8)

static uint8_t *region(size_t len)
{
	static uint8_t *r;
	size_t start = (REGION - len) & ~(size_t)7;

	if (!r)
		r = malloc(REGION);
	FUZZ_CHECK(r && len <= REGION - 8);
	ASAN_UNPOISON_MEMORY_REGION(r, REGION);
	ASAN_POISON_MEMORY_REGION(r + start + len, REGION - start - len);
	return r + start;
}

/* Build into a buffer of exactly len bytes (NULL for 0), its first bytes zeroed. */
static int build(const struct arm64_fdt_config *c, size_t len, uint8_t **out)
{
	uint8_t *buf = len ? region(len) : NULL;

	if (buf)
		memset(buf, 0, len < 64 ? len : 64);
	*out = buf;
	return arm64_fdt_build(c, buf, len);
}

/* The shortest buffer that works: the same bytes in exactly need bytes, -ENOSPC in one less. */
static void check_minimal(const struct arm64_fdt_config *c, const uint8_t *tree)
{
	size_t need = fdt_totalsize(tree);
	uint8_t *ref = malloc(need), *buf;

	if (!ref)
		return;
	memcpy(ref, tree, need);
	FUZZ_CHECK(build(c, need, &buf) == 0 && fdt_totalsize(buf) == need && !memcmp(buf, ref, need));
	FUZZ_CHECK(build(c, need - 1, &buf) == -ENOSPC);
	FUZZ_CHECK(need - 1 < 4 || fdt_magic(buf) != FDT_MAGIC);
	free(ref);
}

/* KVM's MPIDR_EL1 for vCPU i: bit 31 (RES1), 16 per Aff1 cluster. */
static uint64_t kvm_mpidr(unsigned i)
{
	return 1ull << 31 | (uint64_t)((i >> 12) & 0xff) << 16 | (uint64_t)((i >> 4) & 0xff) << 8 | (i & 0xf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz f = fz_init(data, size);
	uint8_t flags = fz_u8(&f);
	unsigned ncpus = fz_u8(&f), slots = fz_u8(&f);
	size_t len = flags & 0x40 ? fz_u32(&f) % (ARM64_FDT_MAX + 64 * KIB + 1) : ARM64_FDT_MAX;
	size_t cl_len, long_len;
	const uint8_t *cl_bytes = fz_take(&f, fz_u16(&f), &cl_len);
	uint64_t *mpidr = malloc((ncpus ? ncpus : 1) * sizeof(*mpidr));
	char *cmdline;
	uint8_t *buf;
	bool valid;
	int ret;

	long_len = fz_u8(&f) * LONG_UNIT;
	cmdline = malloc(cl_len + long_len + 1);
	if (!mpidr || !cmdline) {
		free(mpidr);
		free(cmdline);
		return 0;
	}
	memcpy(cmdline, cl_bytes, cl_len);
	memset(cmdline + cl_len, cl_len ? cl_bytes[cl_len - 1] : 'x', long_len);
	cmdline[cl_len + long_len] = '\0';
	for (unsigned i = 0; i < ncpus; i++)
		mpidr[i] = flags & 1 ? fz_u64(&f) : kvm_mpidr(i);

	struct arm64_fdt_config c = {
		.ncpus = ncpus,
		.mpidr = mpidr,
		.ram_base = ARM64_RAM_BASE,
		.ram_size = 64 * MIB,
		.cmdline = flags & 0x20 ? NULL : cmdline,
		.initrd_start = flags & 2 ? ARM64_RAM_BASE + 16 * MIB : 0,
		.initrd_size = flags & 2 ? MIB : 0,
		.gicd_base = ARM64_GICD_BASE,
		.gicd_size = ARM64_GICD_SIZE,
		.gicr_base = ARM64_GICR_BASE,
		.gicr_size = (uint64_t)(ncpus ? ncpus : 1) * ARM64_GICR_STRIDE,
		.its_base = ARM64_ITS_BASE,
		.its_size = flags & 8 ? 0 : ARM64_ITS_SIZE,
		.uart_base = ARM64_UART_BASE,
		.uart_size = ARM64_UART_SIZE,
		.uart_spi = ARM64_UART_SPI,
		.rtc_base = ARM64_RTC_BASE,
		.rtc_size = ARM64_RTC_SIZE,
		.rtc_spi = ARM64_RTC_SPI,
		.pci_ecam_base = ARM64_PCI_ECAM_BASE,
		.pci_ecam_size = ARM64_PCI_ECAM_SIZE,
		.pci_mmio32_base = ARM64_PCI_MMIO32_BASE,
		.pci_mmio32_size = ARM64_PCI_MMIO32_SIZE,
		.pci_mmio64_base = 512 * GIB,
		.pci_mmio64_size = flags & 0x10 ? 0 : 512 * GIB,
		.pci_intx_spi = ARM64_PCI_INTX_SPI,
		.pci_slots = slots,
		.rng_seed = flags & 4 ? 0x0123456789abcdefull : 0,
	};

	while (fz_left(&f)) {
		uint8_t sel = fz_u8(&f);
		unsigned i = (sel & 31) % NFIELDS;
		uint64_t v = get_field(&c, i);

		switch ((sel >> 5) & 3) {
		case 0:
			v = fz_u64(&f);
			break;
		case 1:
			v += (uint64_t)(int64_t)(int16_t)fz_u16(&f) * 4096;
			break;
		case 2:
			v += (uint64_t)(int64_t)(int16_t)fz_u16(&f);
			break;
		default: {
			uint8_t r = fz_u8(&f);

			v = relative(&c, i, r, fz_u8(&f) % 5 - 2);
			break;
		}
		}
		set_field(&c, i, v);
	}

	valid = config_valid(&c);
	ret = build(&c, len, &buf);
	FUZZ_CHECK(ret == 0 || ret == -EINVAL || ret == -ENOSPC);
	if (!valid)
		FUZZ_CHECK(ret == -EINVAL);
	else
		FUZZ_CHECK(ret != -EINVAL);
	if (ret == 0) {
		check_tree(buf, len, &c);
		/* Three builds cost three times one (libfdt looks strings up with a memcmp at every offset). */
		if (flags & 0x40)
			check_minimal(&c, buf);
	} else if (ret == -ENOSPC) {
		uint8_t *big;
		int r2;

		FUZZ_CHECK(len < 4 || fdt_magic(buf) != FDT_MAGIC);
		/* Too small a buffer, or a tree past what the boot protocol takes. */
		if (len < ARM64_FDT_MAX) {
			r2 = build(&c, ARM64_FDT_MAX, &big);
			FUZZ_CHECK(r2 == 0 || r2 == -ENOSPC);
			FUZZ_CHECK(r2 == -ENOSPC || fdt_totalsize(big) > len);
		}
	}

	if (flags & 0x80) {
		/* A buffer NULL with a length, or not 8-byte aligned: -EINVAL whatever the config. */
		uint8_t *odd = malloc(4 * KIB + 4);

		FUZZ_CHECK(arm64_fdt_build(&c, NULL, 4 * KIB) == -EINVAL);
		FUZZ_CHECK(arm64_fdt_build(&c, NULL, 0) == (valid ? -ENOSPC : -EINVAL));
		if (odd) {
			FUZZ_CHECK(arm64_fdt_build(&c, odd + 4, 4 * KIB) == -EINVAL);
			free(odd);
		}
		FUZZ_CHECK(arm64_fdt_build(NULL, NULL, 0) == -EINVAL);
	}
	free(mpidr);
	free(cmdline);
	return 0;
}
