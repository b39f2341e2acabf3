/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small AML (ACPI Machine Language) byte-code builder for the DSDT.
 *
 * Objects are appended to a growable buffer. Errors are sticky: after the first
 * failure (-ENOMEM, -EINVAL for a bad name or value, -E2BIG for an object too
 * large for a PkgLength) every call is a no-op and aml_error() reports it, so a
 * whole table is built and checked once at the end.
 *
 * Objects with a body (Scope, Device, Package, Method, Field, If) are opened with a call
 * that returns a mark and closed with aml_end(mark): the PkgLength is encoded
 * (1 to 4 bytes) once the body is known and inserted in front of it.
 *
 *	size_t dev = aml_device(a, "COM1");
 *	aml_name(a, "_HID");
 *	aml_eisaid(a, "PNP0501");
 *	aml_end(a, dev);
 *
 * Resource descriptors are built in a second struct aml with the aml_res_*
 * helpers and turned into a ResourceTemplate (a Buffer ending in an end tag)
 * by aml_resource_template().
 */
#ifndef VMM_X86_AML_H
#define VMM_X86_AML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AML_PKGLENGTH_MAX 0x0fffffffu /* 28 bits: the largest value a 4-byte PkgLength holds */

struct aml {
	uint8_t *buf;
	size_t len;
	size_t cap;
	int err; /* 0, or the first -errno */
};

void aml_init(struct aml *a);
void aml_free(struct aml *a);
/* 0, or the first error any call on a met. */
int aml_error(const struct aml *a);

/* Raw bytes (a ready-made term, a descriptor). */
void aml_bytes(struct aml *a, const void *data, size_t len);

/*
 * Encode PkgLength for a body of body_len bytes (the value counts its own bytes
 * too). Returns the number of bytes written to out (1..4), or 0 if too large.
 */
size_t aml_pkglength(uint8_t out[4], size_t body_len);

/*
 * A NameString: an optional '\' (root) or '^' prefixes, then 1..n segments of up
 * to 4 characters separated by '.', each padded with '_': "\\_SB.COM1", "_HID".
 */
void aml_namestring(struct aml *a, const char *name);

/* Name (name, <next term>): the caller appends the value right after. */
void aml_name(struct aml *a, const char *name);

/* Integers in their shortest encoding: Zero, One, Byte/Word/DWord/QWordConst. */
void aml_int(struct aml *a, uint64_t v);
/* A String constant (ASCII, no NUL inside). */
void aml_string(struct aml *a, const char *s);
/* EisaId ("PNP0501"): three upper-case letters and four hex digits, as a DWordConst. */
void aml_eisaid(struct aml *a, const char *id);
/* Buffer (len) { data }. */
void aml_buffer(struct aml *a, const void *data, size_t len);

/* Open an object with a body; close it with aml_end(a, mark). */
size_t aml_scope(struct aml *a, const char *name);
size_t aml_device(struct aml *a, const char *name);
/* Package (nelems) { ... }: the caller appends exactly nelems terms. */
size_t aml_package(struct aml *a, uint8_t nelems);
/* Method (name, nargs, Serialized/NotSerialized). */
size_t aml_method(struct aml *a, const char *name, unsigned nargs, bool serialized);
void aml_end(struct aml *a, size_t mark);

enum aml_region_space { AML_REGION_SYSTEM_MEMORY = 0, AML_REGION_SYSTEM_IO = 1 };

/* OperationRegion (name, space, offset, len). */
void aml_operation_region(struct aml *a, const char *name, enum aml_region_space space, uint64_t offset,
			  uint64_t len);

/* Field flags: one access type, optionally Lock (else NoLock), one update rule (Preserve is 0). */
#define AML_FIELD_ANY_ACC 0x00
#define AML_FIELD_BYTE_ACC 0x01
#define AML_FIELD_WORD_ACC 0x02
#define AML_FIELD_DWORD_ACC 0x03
#define AML_FIELD_QWORD_ACC 0x04
#define AML_FIELD_LOCK 0x10
#define AML_FIELD_PRESERVE 0x00
#define AML_FIELD_WRITE_AS_ONES 0x20
#define AML_FIELD_WRITE_AS_ZEROS 0x40

/* Field (region, flags) { ... }: the caller appends aml_field_unit()s, then aml_end(a, mark). */
size_t aml_field(struct aml *a, const char *region, uint8_t flags);
/* A named field of bits bits (1..AML_PKGLENGTH_MAX) inside a Field; name is one NameSeg ("GDAT"). */
void aml_field_unit(struct aml *a, const char *name, uint32_t bits);

/* If (predicate) { ... }: the caller appends the predicate, then the body, then aml_end(a, mark). */
size_t aml_if(struct aml *a);

/*
 * Operators, in AML's prefix order: each call appends the opcode and the caller appends the operands right
 * after, in the order given.
 *	aml_store:   Store (source, target)
 *	aml_and:     And (operand, operand, target): aml_no_target() when only the value is used
 *	aml_lequal:  LEqual (operand, operand)
 *	aml_lnot:    LNot (operand); LNotEqual (a, b) is LNot (LEqual (a, b))
 *	aml_notify:  Notify (object, value)
 */
void aml_store(struct aml *a);
void aml_and(struct aml *a);
void aml_lequal(struct aml *a);
void aml_lnot(struct aml *a);
void aml_notify(struct aml *a);
/* Operands: Local0..Local7, Arg0..Arg6, and the empty target. */
void aml_local(struct aml *a, unsigned n);
void aml_arg(struct aml *a, unsigned n);
void aml_no_target(struct aml *a);

/* Resource descriptors, appended to a separate buffer rt. */
/* IO (Decode16, min, max, align, len). */
void aml_res_io(struct aml *rt, uint16_t min, uint16_t max, uint8_t align, uint8_t len);
/* IRQNoFlags () { irq }: ISA IRQ 0..15, edge, active high, exclusive. */
void aml_res_irq_noflags(struct aml *rt, uint8_t irq);
/* Memory32Fixed (ReadWrite or ReadOnly, base, len). */
void aml_res_memory32_fixed(struct aml *rt, bool rw, uint32_t base, uint32_t len);
/* Interrupt (ResourceConsumer, Edge or Level, ActiveHigh, Exclusive) { gsi }. */
void aml_res_interrupt(struct aml *rt, bool edge, uint32_t gsi);

enum aml_space { AML_SPACE_MEMORY = 0, AML_SPACE_IO = 1, AML_SPACE_BUS = 2 };

/* Type-specific flags of a memory range: cacheability (_MEM) and ReadWrite. */
#define AML_MEM_RW 0x01
#define AML_MEM_NONCACHEABLE 0x00
#define AML_MEM_CACHEABLE 0x02
#define AML_MEM_PREFETCHABLE 0x06
/* Type-specific flags of an I/O range: EntireRange. */
#define AML_IO_ENTIRE_RANGE 0x03

/*
 * Word/DWord/QWord address space descriptors (WordBusNumber, WordIO, DWordMemory,
 * QWordMemory...) for [min, max]: fixed min and max, positive decode, granularity
 * and translation 0, length max - min + 1. producer: ResourceProducer (a bridge's
 * windows) rather than ResourceConsumer.
 */
void aml_res_word(struct aml *rt, enum aml_space space, bool producer, uint8_t type_flags, uint16_t min,
		  uint16_t max);
void aml_res_dword(struct aml *rt, enum aml_space space, bool producer, uint8_t type_flags, uint32_t min,
		   uint32_t max);
void aml_res_qword(struct aml *rt, enum aml_space space, bool producer, uint8_t type_flags, uint64_t min,
		   uint64_t max);

/* ResourceTemplate () { rt }: rt's descriptors and an end tag, as a Buffer appended to a. */
void aml_resource_template(struct aml *a, const struct aml *rt);

#endif
