/* guest-dt.h: owns a guest's flattened device tree, from the blob built
 * before the memory layout is known to the placeholders patched in after it.
 * Pure libfdt: every Xen fact arrives in the parameters or is one of the
 * constants below, so this module builds and tests without Xen. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The ARM guest platform that Xen 4.17 gives every domU, as numbers.
 * Addresses and sizes: xen/include/public/arch-arm.h ("Virtual machine
 * platform"); phandle, cell counts and IRQ types:
 * xen/include/public/device_tree_defs.h. Named GUEST_DT_* rather than Xen's
 * GUEST_* so that a file including both this header and <xenctrl.h> (which
 * pulls in arch-arm.h) does not redefine a macro. */
#define GUEST_DT_GICD_BASE              UINT64_C(0x03001000) /* GUEST_GICD_BASE (GICv2) */
#define GUEST_DT_GICD_SIZE              UINT64_C(0x00001000) /* GUEST_GICD_SIZE */
#define GUEST_DT_GICC_BASE              UINT64_C(0x03002000) /* GUEST_GICC_BASE */
#define GUEST_DT_GICC_SIZE              UINT64_C(0x00002000) /* GUEST_GICC_SIZE */
#define GUEST_DT_GICV3_GICD_BASE        UINT64_C(0x03001000) /* GUEST_GICV3_GICD_BASE */
#define GUEST_DT_GICV3_GICD_SIZE        UINT64_C(0x00010000) /* GUEST_GICV3_GICD_SIZE */
#define GUEST_DT_GICV3_GICR0_BASE       UINT64_C(0x03020000) /* GUEST_GICV3_GICR0_BASE, vCPU 0..127 */
#define GUEST_DT_GICV3_GICR0_SIZE       UINT64_C(0x01000000) /* GUEST_GICV3_GICR0_SIZE, never scaled */
#define GUEST_DT_PL011_BASE             UINT64_C(0x22000000) /* GUEST_PL011_BASE */
#define GUEST_DT_PL011_SIZE             UINT64_C(0x00001000) /* GUEST_PL011_SIZE */
#define GUEST_DT_GNTTAB_BASE            UINT64_C(0x38000000) /* GUEST_GNTTAB_BASE */
#define GUEST_DT_GNTTAB_SIZE            UINT64_C(0x01000000) /* GUEST_GNTTAB_SIZE */
#define GUEST_DT_ACPI_BASE              UINT64_C(0x20000000) /* GUEST_ACPI_BASE: guest-acpi.c's tables */
#define GUEST_DT_ACPI_SIZE              UINT64_C(0x02000000) /* GUEST_ACPI_SIZE, the window for them */
#define GUEST_DT_RAM0_BASE              UINT64_C(0x40000000) /* GUEST_RAM0_BASE */
#define GUEST_DT_RAM0_SIZE              UINT64_C(0xc0000000) /* GUEST_RAM0_SIZE, 3 GiB */
#define GUEST_DT_RAM1_BASE              UINT64_C(0x0200000000) /* GUEST_RAM1_BASE */
#define GUEST_DT_RAM1_SIZE              UINT64_C(0xfe00000000) /* GUEST_RAM1_SIZE, 1016 GiB */
#define GUEST_DT_RAM_BANKS              2                    /* GUEST_RAM_BANKS */

#define GUEST_DT_MAX_VCPUS              128 /* GUEST_MAX_VCPUS (GICv3) */
#define GUEST_DT_GICV2_MAX_VCPUS        8   /* xen/arch/arm/vgic.c: vgic_max_vcpus */

#define GUEST_DT_TIMER_VIRT_PPI         27 /* GUEST_TIMER_VIRT_PPI */
#define GUEST_DT_TIMER_PHYS_S_PPI       29 /* GUEST_TIMER_PHYS_S_PPI */
#define GUEST_DT_TIMER_PHYS_NS_PPI      30 /* GUEST_TIMER_PHYS_NS_PPI */
#define GUEST_DT_EVTCHN_PPI             31 /* GUEST_EVTCHN_PPI */
#define GUEST_DT_VPL011_SPI             32 /* GUEST_VPL011_SPI */

#define GUEST_DT_PSCI_CPU_OFF           1 /* PSCI_cpu_off */
#define GUEST_DT_PSCI_CPU_ON            2 /* PSCI_cpu_on */

#define GUEST_DT_PHANDLE_GIC            65000 /* GUEST_PHANDLE_GIC */
#define GUEST_DT_ROOT_ADDRESS_CELLS     2     /* GUEST_ROOT_ADDRESS_CELLS */
#define GUEST_DT_ROOT_SIZE_CELLS        2     /* GUEST_ROOT_SIZE_CELLS */
#define GUEST_DT_IRQ_TYPE_LEVEL_HIGH    4     /* DT_IRQ_TYPE_LEVEL_HIGH */
#define GUEST_DT_IRQ_TYPE_LEVEL_LOW     8     /* DT_IRQ_TYPE_LEVEL_LOW */

/* Not Xen's: our own choices and limits. */
#define GUEST_DT_UART_PATH              "/sbsa-uart@22000000"
#define GUEST_DT_UART_SPEED             115200
#define GUEST_DT_RNG_SEED_MAX           128                  /* bytes; libxl always gives 128 */
#define GUEST_DT_SIZE_MIN               4096                 /* first buffer tried */
#define GUEST_DT_SIZE_MAX               (1024 * 1024)        /* libxl's FDT_MAX_SIZE */
#define GUEST_DT_EXT_REGION_ALIGN       UINT64_C(0x200000)   /* 2 MiB, as libxl */
#define GUEST_DT_EXT_REGION_MIN_SIZE    UINT64_C(0x4000000)  /* 64 MiB, libxl's EXT_REGION_MIN_SIZE */

/* The most vCPUs a guest of that GIC version may have (Xen's vGIC limits);
 * 0 for a version that is neither 2 nor 3. */
static inline unsigned guest_dt_max_vcpus(unsigned gic_version) {
        return gic_version == 2 ? GUEST_DT_GICV2_MAX_VCPUS : gic_version == 3 ? GUEST_DT_MAX_VCPUS : 0;
}

/* A vCPU's MPIDR affinity as Xen gives it (vcpuid_to_vaffinity in
 * xen/arch/arm/include/asm/domain.h, libxl__compute_mpdir): Aff0 = the id's low 4 bits,
 * Aff1 = the next 8. The one definition of it: the device tree's cpu@ nodes
 * and the ACPI MADT's GICC entries (guest-acpi.c) both use it. */
static inline uint32_t guest_dt_vcpu_mpidr(unsigned vcpu) {
        return (vcpu & 0xfu) | (((vcpu >> 4) & 0xffu) << 8);
}

/* Where the guest's console is announced. PV needs nothing in the tree: the
 * kernel finds hvc0 through /hypervisor and "console=hvc0" in the cmdline. */
enum guest_dt_stdout {
        GUEST_DT_STDOUT_NONE,
        GUEST_DT_STDOUT_VUART,  /* /chosen/stdout-path = GUEST_DT_UART_PATH; needs vpl011 */
        GUEST_DT_STDOUT_PV,
};

struct guest_dt_params {
        unsigned gic_version;                   /* 2 or 3: the version Xen resolved, never "native" */
        unsigned nr_vcpus;                      /* 1..8 (GICv2), 1..128 (GICv3) */
        const char *cmdline;                    /* NULL or "" → no /chosen/bootargs */
        bool has_initrd;                        /* → 8-byte initrd placeholders in /chosen */
        bool vpl011;                            /* → the SBSA UART node, SPI 32 */
        enum guest_dt_stdout stdout_kind;       /* "stdout" is a macro in <stdio.h> */
        uint32_t clock_frequency;               /* arch.clock_frequency; 0 → CNTFRQ is trusted */
        const char *xen_version_compat;         /* "4.17": digits and dots, at most 15 chars */
        uint64_t acpi_size;                     /* 0, or the ACPI tables' bytes at GUEST_DT_ACPI_BASE:
                                                 * → /chosen/module@20000000, "xen,guest-acpi" */
        const void *rng_seed;                   /* NULL → no /chosen/rng-seed */
        size_t rng_seed_len;                    /* 1..GUEST_DT_RNG_SEED_MAX when rng_seed is set */
};

/* Known once libxenguest has placed memory and modules. */
struct guest_dt_layout {
        uint64_t bank_size[GUEST_DT_RAM_BANKS]; /* RAM populated per bank, bytes, 4 KiB multiples */
        bool has_initrd;                        /* must match guest_dt_params.has_initrd */
        uint64_t initrd_start;                  /* guest physical, [start, end) */
        uint64_t initrd_end;
        unsigned gpaddr_bits;                   /* guest IPA width (xc_domain_getinfo), 32..64 */
};

/* Builds the tree with libfdt's sequential-write API, trying a 4 KiB buffer
 * and doubling it up to 1 MiB. Memory nodes, the initrd properties and
 * /hypervisor/reg are full-size placeholders for guest_dt_finalise(). On
 * success *ret_blob (free() it) holds exactly *ret_size = fdt_totalsize bytes.
 * Returns -EINVAL for bad parameters (nothing is built), -E2BIG if the tree
 * does not fit in 1 MiB, -ENOMEM, or a mapped libfdt error (see below). */
int guest_dt_build(const struct guest_dt_params *p, void **ret_blob, size_t *ret_size);

/* Patches a blob from guest_dt_build() in place, never growing it (the size
 * already handed to libxenguest must stay true): memory@ reg = <base size>,
 * an empty bank's node turned into NOPs; the initrd start/end; /hypervisor/reg
 * = the grant-table window, then one extended region per bank (from the end
 * of its RAM rounded up to 2 MiB to the end of the bank or of the IPA space,
 * kept if >= 64 MiB), written shorter than the placeholder. Call it once.
 * Returns the blob's fdt_totalsize (unchanged) on success; -EINVAL for a bad
 * layout or one that disagrees with the blob about the initrd; otherwise a
 * mapped libfdt error, with the blob possibly half patched (discard it). */
int guest_dt_finalise(void *blob, const struct guest_dt_layout *l);

/* libfdt errors come back as negative errno, mapped in one place:
 *   FDT_ERR_NOTFOUND                                   → -ENOENT  (a node or placeholder is missing)
 *   FDT_ERR_EXISTS                                     → -EEXIST
 *   FDT_ERR_NOSPACE                                    → -ENOSPC  (buffer or placeholder too small)
 *   FDT_ERR_TRUNCATED, BADMAGIC, BADVERSION,
 *   BADSTRUCTURE, BADLAYOUT, ALIGNMENT, BADOFFSET,
 *   BADNCELLS                                          → -EBADMSG (not a well-formed tree)
 *   FDT_ERR_BADPATH, BADPHANDLE, BADSTATE, BADVALUE,
 *   BADOVERLAY, NOPHANDLES, BADFLAGS                   → -EINVAL
 *   FDT_ERR_INTERNAL, anything else                    → -EIO
 * guest_dt_strerror() says what a return of this module means, for the
 * caller's log line; it never returns NULL. */
const char *guest_dt_strerror(int r);
