// SPDX-License-Identifier: Apache-2.0
/* Hardware-reduced ACPI tables (RSDP, XSDT, FADT, DSDT, MADT, MCFG) written into low guest memory. */
#include "x86/acpi.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "devices/pci.h"
#include "x86/aml.h"

#define OEM_ID "VMM   "
#define OEM_TABLE_ID "VMMTABLE"
#define OEM_REVISION 1
#define CREATOR_ID "VMM "
#define CREATOR_REVISION 1
#define HYPERVISOR_VENDOR "VMMVMM  "

#define TABLE_ALIGN 16
#define XSDT_MAX_ENTRIES 8
#define MAX_APIC_ID 0xfe /* 0xff is the broadcast id; the IOAPIC takes id ncpus */

/* ACPI 6.5 layouts. */
struct acpi_rsdp {
	char signature[8];
	uint8_t checksum; /* over the first 20 bytes (the ACPI 1.0 structure) */
	char oem_id[6];
	uint8_t revision;
	uint32_t rsdt_address;
	uint32_t length;
	uint64_t xsdt_address;
	uint8_t extended_checksum; /* over the whole structure */
	uint8_t reserved[3];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_rsdp) == 36, "RSDP layout");
#define RSDP_V1_LEN 20

struct acpi_header {
	char signature[4];
	uint32_t length;
	uint8_t revision;
	uint8_t checksum;
	char oem_id[6];
	char oem_table_id[8];
	uint32_t oem_revision;
	char creator_id[4];
	uint32_t creator_revision;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_header) == 36, "SDT header layout");

/* Generic Address Structure. */
struct acpi_gas {
	uint8_t space_id;
	uint8_t bit_width;
	uint8_t bit_offset;
	uint8_t access_size;
	uint64_t address;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_gas) == 12, "GAS layout");
#define GAS_SYSTEM_IO 1
#define GAS_ACCESS_BYTE 1

struct acpi_fadt {
	struct acpi_header h;
	uint32_t firmware_ctrl;
	uint32_t dsdt;
	uint8_t reserved0;
	uint8_t preferred_pm_profile;
	uint16_t sci_int;
	uint32_t smi_cmd;
	uint8_t acpi_enable;
	uint8_t acpi_disable;
	uint8_t s4bios_req;
	uint8_t pstate_cnt;
	uint32_t pm1a_evt_blk;
	uint32_t pm1b_evt_blk;
	uint32_t pm1a_cnt_blk;
	uint32_t pm1b_cnt_blk;
	uint32_t pm2_cnt_blk;
	uint32_t pm_tmr_blk;
	uint32_t gpe0_blk;
	uint32_t gpe1_blk;
	uint8_t pm1_evt_len;
	uint8_t pm1_cnt_len;
	uint8_t pm2_cnt_len;
	uint8_t pm_tmr_len;
	uint8_t gpe0_blk_len;
	uint8_t gpe1_blk_len;
	uint8_t gpe1_base;
	uint8_t cst_cnt;
	uint16_t p_lvl2_lat;
	uint16_t p_lvl3_lat;
	uint16_t flush_size;
	uint16_t flush_stride;
	uint8_t duty_offset;
	uint8_t duty_width;
	uint8_t day_alrm;
	uint8_t mon_alrm;
	uint8_t century;
	uint16_t iapc_boot_arch;
	uint8_t reserved1;
	uint32_t flags;
	struct acpi_gas reset_reg;
	uint8_t reset_value;
	uint16_t arm_boot_arch;
	uint8_t minor_version;
	uint64_t x_firmware_ctrl;
	uint64_t x_dsdt;
	struct acpi_gas x_pm1a_evt_blk;
	struct acpi_gas x_pm1b_evt_blk;
	struct acpi_gas x_pm1a_cnt_blk;
	struct acpi_gas x_pm1b_cnt_blk;
	struct acpi_gas x_pm2_cnt_blk;
	struct acpi_gas x_pm_tmr_blk;
	struct acpi_gas x_gpe0_blk;
	struct acpi_gas x_gpe1_blk;
	struct acpi_gas sleep_control_reg;
	struct acpi_gas sleep_status_reg;
	char hypervisor_vendor_id[8];
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_fadt) == 276, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, iapc_boot_arch) == 109, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, flags) == 112, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, reset_reg) == 116, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, minor_version) == 131, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, x_dsdt) == 140, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, sleep_control_reg) == 244, "FADT layout");
_Static_assert(offsetof(struct acpi_fadt, hypervisor_vendor_id) == 268, "FADT layout");
#define FADT_REVISION 6
#define FADT_MINOR_VERSION 5
#define FADT_PWR_BUTTON (1u << 4)  /* no fixed power button */
#define FADT_SLP_BUTTON (1u << 5)  /* no fixed sleep button */
#define FADT_RESET_REG_SUP (1u << 10)
#define FADT_HW_REDUCED_ACPI (1u << 20)
#define IAPC_BOOT_VGA_NOT_PRESENT (1u << 2)

struct acpi_madt {
	struct acpi_header h;
	uint32_t lapic_address;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_madt) == 44, "MADT layout");
#define MADT_REVISION 5

struct madt_lapic {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint8_t apic_id;
	uint32_t flags;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_lapic) == 8, "MADT local APIC layout");
#define MADT_TYPE_LAPIC 0
#define MADT_LAPIC_ENABLED 1

struct madt_ioapic {
	uint8_t type;
	uint8_t length;
	uint8_t ioapic_id;
	uint8_t reserved;
	uint32_t address;
	uint32_t gsi_base;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_ioapic) == 12, "MADT I/O APIC layout");
#define MADT_TYPE_IOAPIC 1

struct madt_lapic_nmi {
	uint8_t type;
	uint8_t length;
	uint8_t processor_uid;
	uint16_t flags;
	uint8_t lint;
} __attribute__((packed));
_Static_assert(sizeof(struct madt_lapic_nmi) == 6, "MADT local APIC NMI layout");
#define MADT_TYPE_LAPIC_NMI 4
#define MADT_ALL_PROCESSORS 0xff

struct acpi_mcfg {
	struct acpi_header h;
	uint64_t reserved;
	/* One configuration space base address allocation. */
	uint64_t base;
	uint16_t segment;
	uint8_t start_bus;
	uint8_t end_bus;
	uint32_t reserved1;
} __attribute__((packed));
_Static_assert(sizeof(struct acpi_mcfg) == 60, "MCFG layout");
#define MCFG_REVISION 1

/* Where the next table goes, and the tables the XSDT will list. */
struct builder {
	const struct guest_mem *m;
	uint64_t next;
	uint64_t xsdt[XSDT_MAX_ENTRIES];
	unsigned nr_xsdt;
};

static uint8_t checksum(const void *p, size_t len)
{
	const uint8_t *b = p;
	uint8_t sum = 0;

	for (size_t i = 0; i < len; i++)
		sum += b[i];
	return (uint8_t)-sum;
}

static void header_init(struct acpi_header *h, const char sig[4], uint32_t len, uint8_t revision)
{
	memcpy(h->signature, sig, 4);
	h->length = len;
	h->revision = revision;
	memcpy(h->oem_id, OEM_ID, 6);
	memcpy(h->oem_table_id, OEM_TABLE_ID, 8);
	h->oem_revision = OEM_REVISION;
	memcpy(h->creator_id, CREATOR_ID, 4);
	h->creator_revision = CREATOR_REVISION;
}

/* Reserve len bytes, TABLE_ALIGN-aligned, in the ACPI region. */
static int alloc(struct builder *b, size_t len, uint64_t *gpa)
{
	uint64_t at = (b->next + TABLE_ALIGN - 1) & ~(uint64_t)(TABLE_ALIGN - 1);

	if (len > ACPI_TABLES_END - at)
		return -ENOSPC;
	*gpa = at;
	b->next = at + len;
	return 0;
}

/* Checksum a complete SDT (header first) and copy it into guest memory. */
static int place(struct builder *b, void *table, size_t len, uint64_t *gpa)
{
	struct acpi_header *h = table;
	int ret;

	ret = alloc(b, len, gpa);
	if (ret)
		return ret;
	h->checksum = 0;
	h->checksum = checksum(table, len);
	return gmem_write(b->m, *gpa, table, len);
}

/* Place a table and list it in the XSDT. */
static int add_table(struct builder *b, void *table, size_t len)
{
	uint64_t gpa;
	int ret;

	if (b->nr_xsdt == XSDT_MAX_ENTRIES)
		return -ENOSPC;
	ret = place(b, table, len, &gpa);
	if (ret)
		return ret;
	b->xsdt[b->nr_xsdt++] = gpa;
	return 0;
}

/*
 * \_SB.PCI0: the host bridge of segment 0, bus 0 with its windows, and the _PRT in GSI form (no link
 * devices): INTx pin p of slot s is GSI pci_intx_gsi(s, p). Then a motherboard resource (PNP0C02)
 * holding the ECAM, which Linux wants to see reserved before it uses MCFG.
 */
static void build_pci_aml(struct aml *a, const struct acpi_config *cfg)
{
	const uint64_t base64 = cfg->pci_mmio64_base;
	struct aml rt;
	size_t dev, prt, entry;

	dev = aml_device(a, "PCI0");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0A08");
	aml_name(a, "_CID");
	aml_eisaid(a, "PNP0A03");
	aml_name(a, "_SEG");
	aml_int(a, 0);
	aml_name(a, "_BBN");
	aml_int(a, 0);
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_CRS");
	aml_init(&rt);
	aml_res_word(&rt, AML_SPACE_BUS, true, 0, 0, 0);
	aml_res_io(&rt, PCI_CONFIG_PORT, PCI_CONFIG_PORT, 0x01, PCI_CONFIG_PORT_LEN);
	aml_res_word(&rt, AML_SPACE_IO, true, AML_IO_ENTIRE_RANGE, 0x0000, PCI_CONFIG_PORT - 1);
	aml_res_word(&rt, AML_SPACE_IO, true, AML_IO_ENTIRE_RANGE, 0x0d00, 0xffff); /* 0xcf8..0xcff and a gap: as PCs */
	aml_res_dword(&rt, AML_SPACE_MEMORY, true, AML_MEM_NONCACHEABLE | AML_MEM_RW, (uint32_t)PCI_MMIO32_BASE,
		      (uint32_t)(PCI_MMIO32_BASE + PCI_MMIO32_SIZE - 1));
	aml_res_qword(&rt, AML_SPACE_MEMORY, true, AML_MEM_NONCACHEABLE | AML_MEM_RW, base64,
		      base64 + PCI_MMIO64_SIZE - 1);
	aml_resource_template(a, &rt);
	aml_free(&rt);
	aml_name(a, "_PRT");
	prt = aml_package(a, (PCI_SLOTS - 1) * 4);
	for (unsigned slot = 1; slot < PCI_SLOTS; slot++) {
		for (unsigned pin = 0; pin < 4; pin++) {
			entry = aml_package(a, 4);
			aml_int(a, (uint64_t)slot << 16 | 0xffff); /* any function of the slot */
			aml_int(a, pin);
			aml_int(a, 0); /* Source: none, so the next element is a GSI */
			aml_int(a, pci_intx_gsi(slot, pin));
			aml_end(a, entry);
		}
	}
	aml_end(a, prt);
	aml_end(a, dev);

	dev = aml_device(a, "PCIR");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C02");
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_CRS");
	aml_init(&rt);
	aml_res_memory32_fixed(&rt, true, (uint32_t)PCI_ECAM_BASE, (uint32_t)PCI_ECAM_SIZE);
	aml_resource_template(a, &rt);
	aml_free(&rt);
	aml_end(a, dev);
}

/*
 * \_SB.PWRB, a power button (PNP0C0C), and \_SB.GED0, the Generic Event Device (ACPI0013) behind it: its
 * interrupt makes the OS run _EVT (Arg0: the GSI, ACPI 6.5 section 5.6.9), which reads the event byte (reading
 * clears it) and, for bit 0, sends the button a Notify 0x80 ("pressed"). Linux: drivers/acpi/evged.c, button.c.
 */
static void build_ged_aml(struct aml *a, const struct acpi_config *cfg)
{
	struct aml rt;
	size_t dev, field, method, cond;

	dev = aml_device(a, "PWRB");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0C0C");
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_end(a, dev);

	dev = aml_device(a, "GED0");
	aml_name(a, "_HID");
	aml_string(a, "ACPI0013");
	aml_name(a, "_UID");
	aml_int(a, 0);
	aml_name(a, "_CRS");
	aml_init(&rt);
	aml_res_interrupt(&rt, true, cfg->ged_gsi);
	aml_resource_template(a, &rt);
	aml_free(&rt);
	aml_operation_region(a, "GDST", AML_REGION_SYSTEM_IO, cfg->ged_io_base, 1);
	field = aml_field(a, "GDST", AML_FIELD_BYTE_ACC | AML_FIELD_PRESERVE);
	aml_field_unit(a, "GDAT", 8);
	aml_end(a, field);

	method = aml_method(a, "_EVT", 1, true);
	aml_store(a); /* Local0 = GDAT: read once, as reading clears */
	aml_namestring(a, "GDAT");
	aml_local(a, 0);
	cond = aml_if(a); /* If (Local0 & One) */
	aml_and(a);
	aml_local(a, 0);
	aml_int(a, 1);
	aml_no_target(a);
	aml_notify(a); /* Notify (PWRB, 0x80): found in \_SB by the namespace search */
	aml_namestring(a, "PWRB");
	aml_int(a, 0x80);
	aml_end(a, cond);
	aml_end(a, method);
	aml_end(a, dev);
}

static void build_dsdt_aml(struct aml *a, const struct acpi_config *cfg)
{
	struct aml rt;
	size_t pkg, sb, dev;

	/* \_S5: SLP_TYPa, SLP_TYPb and two reserved values; Linux takes SLP_TYPa from element 0. */
	aml_name(a, "\\_S5");
	pkg = aml_package(a, 4);
	aml_int(a, cfg->s5_slp_typ);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_int(a, 0);
	aml_end(a, pkg);

	sb = aml_scope(a, "\\_SB");

	dev = aml_device(a, "COM1");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0501");
	aml_name(a, "_UID");
	aml_int(a, 1);
	aml_name(a, "_CRS");
	aml_init(&rt);
	aml_res_io(&rt, cfg->com1_port, cfg->com1_port, 0x01, 0x08);
	aml_res_irq_noflags(&rt, cfg->com1_irq);
	aml_resource_template(a, &rt);
	aml_free(&rt);
	aml_end(a, dev);

	dev = aml_device(a, "RTC");
	aml_name(a, "_HID");
	aml_eisaid(a, "PNP0B00");
	aml_name(a, "_CRS");
	aml_init(&rt);
	aml_res_io(&rt, cfg->rtc_port, cfg->rtc_port, 0x01, 0x02);
	aml_resource_template(a, &rt);
	aml_free(&rt);
	aml_end(a, dev);

	if (cfg->pci)
		build_pci_aml(a, cfg);
	if (cfg->ged)
		build_ged_aml(a, cfg);
	aml_end(a, sb);
}

static int build_dsdt(struct builder *b, const struct acpi_config *cfg, uint64_t *gpa)
{
	struct acpi_header h = { 0 };
	struct aml a;
	int ret;

	aml_init(&a);
	aml_bytes(&a, &h, sizeof(h)); /* room for the header, filled in below */
	build_dsdt_aml(&a, cfg);
	ret = aml_error(&a);
	if (!ret && a.len > UINT32_MAX)
		ret = -E2BIG;
	if (!ret) {
		header_init(&h, "DSDT", (uint32_t)a.len, 2); /* revision 2: 64-bit integers */
		memcpy(a.buf, &h, sizeof(h));
		ret = place(b, a.buf, a.len, gpa);
	}
	aml_free(&a);
	return ret;
}

static struct acpi_gas pm_reg(uint64_t port)
{
	return (struct acpi_gas){
		.space_id = GAS_SYSTEM_IO,
		.bit_width = 8,
		.bit_offset = 0,
		.access_size = GAS_ACCESS_BYTE,
		.address = port,
	};
}

static int build_fadt(struct builder *b, const struct acpi_config *cfg, uint64_t dsdt)
{
	struct acpi_fadt f = { 0 };

	header_init(&f.h, "FACP", sizeof(f), FADT_REVISION);
	f.minor_version = FADT_MINOR_VERSION;
	f.dsdt = (uint32_t)dsdt; /* the tables live below 1 MiB */
	f.x_dsdt = dsdt;
	f.flags = FADT_HW_REDUCED_ACPI | FADT_RESET_REG_SUP | FADT_PWR_BUTTON | FADT_SLP_BUTTON;
	/* Legacy devices, 8042, MSI and the CMOS RTC are not declared absent; only VGA is. */
	f.iapc_boot_arch = IAPC_BOOT_VGA_NOT_PRESENT;
	f.reset_reg = pm_reg(cfg->pm_io_base + 2u);
	f.reset_value = cfg->reset_value;
	f.sleep_control_reg = pm_reg(cfg->pm_io_base + 0u);
	f.sleep_status_reg = pm_reg(cfg->pm_io_base + 1u);
	memcpy(f.hypervisor_vendor_id, HYPERVISOR_VENDOR, 8);
	return add_table(b, &f, sizeof(f));
}

static int build_madt(struct builder *b, const struct acpi_config *cfg)
{
	const struct madt_ioapic io = {
		.type = MADT_TYPE_IOAPIC,
		.length = sizeof(io),
		.ioapic_id = (uint8_t)cfg->ncpus, /* after the local APIC ids */
		.address = IOAPIC_ADDR,
		.gsi_base = 0,
	};
	const struct madt_lapic_nmi nmi = {
		.type = MADT_TYPE_LAPIC_NMI,
		.length = sizeof(nmi),
		.processor_uid = MADT_ALL_PROCESSORS,
		.flags = 0, /* conforms to the bus */
		.lint = 1,
	};
	struct acpi_madt madt = {
		.lapic_address = LAPIC_ADDR,
		.flags = 0, /* no PCAT_COMPAT: hardware-reduced, no 8259 */
	};
	size_t len = sizeof(madt) + cfg->ncpus * sizeof(struct madt_lapic) + sizeof(io) + sizeof(nmi);
	uint8_t *t = calloc(1, len);
	size_t off = sizeof(madt);
	int ret;

	if (!t)
		return -ENOMEM;
	header_init(&madt.h, "APIC", (uint32_t)len, MADT_REVISION);
	memcpy(t, &madt, sizeof(madt));
	for (unsigned i = 0; i < cfg->ncpus; i++) {
		const struct madt_lapic l = {
			.type = MADT_TYPE_LAPIC,
			.length = sizeof(l),
			.processor_uid = (uint8_t)i,
			.apic_id = (uint8_t)i,
			.flags = MADT_LAPIC_ENABLED,
		};

		memcpy(t + off, &l, sizeof(l));
		off += sizeof(l);
	}
	memcpy(t + off, &io, sizeof(io));
	off += sizeof(io);
	memcpy(t + off, &nmi, sizeof(nmi));
	ret = add_table(b, t, len);
	free(t);
	return ret;
}

static int build_mcfg(struct builder *b)
{
	struct acpi_mcfg t = {
		.base = PCI_ECAM_BASE,
		.segment = 0,
		.start_bus = 0,
		.end_bus = 0, /* PCI_ECAM_SIZE covers bus 0 only */
	};

	header_init(&t.h, "MCFG", sizeof(t), MCFG_REVISION);
	return add_table(b, &t, sizeof(t));
}

static int build_xsdt(struct builder *b, uint64_t *gpa)
{
	struct {
		struct acpi_header h;
		uint64_t entry[XSDT_MAX_ENTRIES];
	} __attribute__((packed)) x = { 0 };
	size_t len = sizeof(x.h) + b->nr_xsdt * sizeof(uint64_t);

	header_init(&x.h, "XSDT", (uint32_t)len, 1);
	memcpy(x.entry, b->xsdt, b->nr_xsdt * sizeof(uint64_t));
	return place(b, &x, len, gpa);
}

static int build_rsdp(struct builder *b, uint64_t at, uint64_t xsdt)
{
	struct acpi_rsdp r = { 0 };

	memcpy(r.signature, "RSD PTR ", 8);
	memcpy(r.oem_id, OEM_ID, 6);
	r.revision = 2;
	r.rsdt_address = 0;
	r.length = sizeof(r);
	r.xsdt_address = xsdt;
	r.checksum = checksum(&r, RSDP_V1_LEN);
	r.extended_checksum = checksum(&r, sizeof(r));
	return gmem_write(b->m, at, &r, sizeof(r));
}

int acpi_build(const struct guest_mem *m, const struct acpi_config *cfg, uint64_t *rsdp_gpa)
{
	struct builder b = { .m = m, .next = ACPI_TABLES_START };
	uint64_t rsdp, dsdt, xsdt;
	int ret;

	if (cfg->ncpus == 0 || cfg->ncpus > MAX_APIC_ID || cfg->com1_irq > 15)
		return -EINVAL;
	if (cfg->pci && (cfg->pci_mmio64_base < (1ull << 32) || cfg->pci_mmio64_base > UINT64_MAX - PCI_MMIO64_SIZE))
		return -EINVAL;
	if (cfg->ged && cfg->ged_io_base == 0)
		return -EINVAL;
	if (!gmem_ptr(m, ACPI_TABLES_START, ACPI_TABLES_END - ACPI_TABLES_START))
		return -EFAULT; /* guest RAM does not reach 1 MiB */

	/* The RSDP first, at ACPI_TABLES_START; it is written last, once the XSDT's address is known. */
	ret = alloc(&b, sizeof(struct acpi_rsdp), &rsdp);
	ret = ret ?: build_dsdt(&b, cfg, &dsdt);
	ret = ret ?: build_fadt(&b, cfg, dsdt);
	ret = ret ?: build_madt(&b, cfg);
	if (cfg->pci)
		ret = ret ?: build_mcfg(&b);
	ret = ret ?: build_xsdt(&b, &xsdt);
	ret = ret ?: build_rsdp(&b, rsdp, xsdt);
	if (ret)
		return ret;
	*rsdp_gpa = rsdp;
	return 0;
}
