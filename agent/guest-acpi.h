/* guest-acpi.h: owns a guest's ACPI tables: one blob, built for guest
 * physical address GUEST_DT_ACPI_BASE (0x20000000, where Xen ARM guests get
 * theirs), that UEFI firmware (EDK2's XenAcpiPlatformDxe) finds through the
 * device tree's /chosen "xen,guest-acpi" module and installs for the OS.
 * Pure: a config in, bytes out, no Xen and no allocation, so it builds and
 * tests anywhere.
 *
 * The blob, in order, each table 8-byte aligned and checksummed, every
 * address in it absolute (guest physical):
 *   RSDP  revision 2, with the extended checksum, pointing at the XSDT
 *   XSDT  FADT, MADT, GTDT, then SPCR when the guest has the SBSA UART
 *   FADT  6.2: HW_REDUCED_ACPI, PSCI over HVC, DSDT and X_DSDT, "XenVMM"
 *   MADT  revision 4: a GICC per vCPU, the GICD, on GICv3 the GICR region
 *   GTDT  revision 2: the generic timer's PPIs as guest-dt.c's timer node
 *   SPCR  revision 2: the SBSA UART (vpl011), 32-bit accesses, GIC GSIV
 *   DSDT  revision 2: \_SB.Cnnn (ACPI0007) per vCPU, \_SB.COM0 (ARMH0011)
 * The layout of the guest (GIC bases, timer PPIs, the UART) is guest-dt.h's
 * GUEST_DT_* constants, and each GICC's MPIDR is guest_dt_vcpu_mpidr(),
 * as in the device tree. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The blob's size is exact and known from the config alone (see
 * guest_acpi_build()); no config needs more than this. A unit test holds
 * the largest config (128 vCPUs, GICv3, the UART) against it. */
#define GUEST_ACPI_SIZE_MAX             (16 * 1024)

struct guest_acpi_config {
        unsigned nr_vcpus;      /* 1..8 (GICv2), 1..128 (GICv3): GUEST_DT_*MAX_VCPUS */
        unsigned gic_version;   /* 2 or 3: the version Xen resolved */
        bool vpl011;            /* the SBSA UART: an SPCR and \_SB.COM0 */
};

/* Builds the tables into buf (size bytes) for the guest address
 * GUEST_DT_ACPI_BASE and sets *len to the blob's length, at most
 * GUEST_ACPI_SIZE_MAX; the bytes of buf past *len are untouched. buf may be
 * NULL with size 0 to learn the length: that returns -ENOBUFS with *len set.
 * Returns 0 or a negative errno, nothing written to buf (or *len unless
 * said) on an error:
 *   -EINVAL           cfg or len is NULL, or buf is NULL with a size
 *   -EPROTONOSUPPORT  gic_version is neither 2 nor 3
 *   -ERANGE           nr_vcpus is 0 or above the GIC version's limit
 *   -ENOBUFS          size is below the length needed (*len says it)
 *   -EIO              an internal inconsistency (a bug; buf then holds zeros)
 * guest_acpi_strerror() says what each means, for the caller's log line. */
int guest_acpi_build(const struct guest_acpi_config *cfg, void *buf, size_t size, size_t *len);

/* Never NULL. */
const char *guest_acpi_strerror(int r);
