/* madt.h: owns nothing; reads the GIC version out of an ACPI MADT ("APIC")
 * table. Pure: a buffer in, a version out, every length checked. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#define MADT_HEADER_SIZE 44      /* ACPI header (36) + local IC address (4) + flags (4) */
#define MADT_TYPE_GICC 0x0B
#define MADT_TYPE_GICD 0x0C
#define MADT_TYPE_GICR 0x0E
#define MADT_GICD_SIZE 24
#define MADT_GICD_VERSION_OFFSET 20

/* Returns the GIC version (1..4) from the GIC distributor entry. A GICD that
 * says 0 ("unspecified") is v3 if a GICR entry exists, else v2, as Linux
 * decides. Errors: -EBADMSG for a malformed table (bad signature, a length that
 * is zero, too short or runs past the end), -ENOENT when there is no GICD,
 * -EPROTONOSUPPORT for a version this code does not know. */
int madt_gic_version(const uint8_t *buf, size_t size);
