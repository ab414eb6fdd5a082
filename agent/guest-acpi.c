/* guest-acpi.c: builds a guest's ACPI tables (see guest-acpi.h), field by
 * field in little-endian through one bounded writer, and the DSDT's AML
 * through a small encoder on the same writer. A build runs twice: once only
 * counting (the layout: where each table starts, how long the blob is), then
 * writing with those addresses; the two must agree. Field layouts are the
 * ACPI 6.2 specification's (5.2 for the tables, 6.4 for resource
 * descriptors, 20 for AML). An AML package is written once its body has
 * been counted, so its length takes the fewest bytes and nothing moves. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "guest-acpi.h"
#include "guest-dt.h"
#include "macro.h"

/* What every table's header says of its maker: ours, padded with spaces. */
#define OEM_ID                  "XVMD  "        /* 6 bytes */
#define OEM_TABLE_ID            "XENGUEST"      /* 8 bytes */
#define OEM_REVISION            1
#define CREATOR_ID              "XVMD"
#define CREATOR_REVISION        1

#define TABLE_ALIGN             8
#define HEADER_SIZE             36              /* the common table header */
#define HEADER_LENGTH_OFFSET    4
#define HEADER_CHECKSUM_OFFSET  9

#define RSDP_REVISION           2
#define RSDP_SIZE               36
#define RSDP_V1_SIZE            20              /* what the first checksum covers */
#define RSDP_CHECKSUM_OFFSET    8
#define RSDP_EXT_CHECKSUM_OFFSET 32

#define XSDT_REVISION           1
#define FADT_REVISION           6               /* FADT 6.2: the major ... */
#define FADT_MINOR_REVISION     2               /* ... and the minor version */
#define MADT_REVISION           4               /* ACPI 6.0 to 6.2 */
#define GTDT_REVISION           2               /* ACPI 6.0 to 6.2: no EL2 virtual timer */
#define SPCR_REVISION           2
#define DSDT_REVISION           2               /* 2 and up: AML integers are 64-bit */

/* FADT flags and ARM boot flags (5.2.9, table 5-35 and 5-37). */
#define FADT_HW_REDUCED_ACPI    (UINT32_C(1) << 20)
#define FADT_ARM_PSCI_COMPLIANT (1u << 0)
#define FADT_ARM_PSCI_USE_HVC   (1u << 1)
#define FADT_HYPERVISOR_ID      "XenVMM\0"      /* 8 bytes with the string's own NUL */

/* MADT entries (5.2.12). */
#define MADT_GICC               0x0b
#define MADT_GICD               0x0c
#define MADT_GICR               0x0e
#define MADT_GICC_LEN           80
#define MADT_GICD_LEN           24
#define MADT_GICR_LEN           16
#define MADT_GICC_ENABLED       (1u << 0)

/* GTDT timer flags (5.2.24): level-triggered (bit 0 clear), active low. */
#define GTDT_TIMER_ACTIVE_LOW   (1u << 1)
#define GTDT_NOT_PRESENT        UINT64_MAX      /* CntControlBase, CntReadBase */

/* SPCR (Microsoft's Serial Port Console Redirection table, revision 2),
 * whose interface types are the DBG2 table's serial subtypes. */
#define SPCR_SBSA_GENERIC_UART  0x0e            /* ACPI_DBG2_ARM_SBSA_GENERIC */
#define SPCR_IRQ_TYPE_GIC       (1u << 3)
#define SPCR_BAUD_115200        7               /* not 0 ("as is"), which older kernels refuse */
#define SPCR_STOP_BITS_1        1
#define SPCR_TERMINAL_VT_UTF8   2
#define SPCR_PCI_NONE           0xffffu

/* Generic Address Structure (5.2.3.2). */
#define GAS_SYSTEM_MEMORY       0
#define GAS_ACCESS_DWORD        3

/* AML opcodes and prefixes (20.2). */
#define AML_ZERO_OP             0x00
#define AML_ONE_OP              0x01
#define AML_NAME_OP             0x08
#define AML_BYTE_PREFIX         0x0a
#define AML_WORD_PREFIX         0x0b
#define AML_DWORD_PREFIX        0x0c
#define AML_STRING_PREFIX       0x0d
#define AML_QWORD_PREFIX        0x0e
#define AML_SCOPE_OP            0x10
#define AML_BUFFER_OP           0x11
#define AML_EXT_OP_PREFIX       0x5b
#define AML_DEVICE_OP           0x82            /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR           '\\'
#define AML_NAMESEG_LEN         4
#define AML_PKGLEN_MAX          ((UINT32_C(1) << 28) - 1)

/* Resource descriptors (6.4): large items, then the small end tag. */
#define RES_MEMORY32_FIXED      0x86
#define RES_EXTENDED_IRQ        0x89
#define RES_END_TAG             0x79
#define RES_MEMORY32_FIXED_LEN  9               /* the body after type and length */
#define RES_MEMORY_READ_WRITE   (1u << 0)
#define RES_IRQ_CONSUMER        (1u << 0)       /* level (bit 1 clear), high (bit 2 clear), exclusive (bit 3 clear) */
#define RES_TEMPLATE_MAX        32

/* A processor device's name: 'C' and the vCPU's index in three hex digits
 * (C000..C07F for 128 vCPUs). */
#define CPU_NAME_FORMAT         "C%03X"
#define UART_DEVICE_NAME        "COM0"
#define HID_PROCESSOR           "ACPI0007"
#define HID_SBSA_UART           "ARMH0011"

/* The writer: bytes go to data[0..cap) at len, or are only counted when data
 * is NULL; a write past cap sets overflow and writes nothing more. */
struct out {
        uint8_t *data;
        size_t cap;
        size_t len;
        bool overflow;
};

/* Where each table starts (offsets into the blob) and the blob's length. */
struct layout {
        size_t xsdt, fadt, madt, gtdt, spcr, dsdt;
        size_t total;
};

static bool writing(const struct out *o) {
        return o->data && !o->overflow;
}

static void put(struct out *o, const void *p, size_t n) {
        if (o->overflow || n > o->cap - o->len) {
                o->overflow = true;
                return;
        }
        if (o->data)
                memcpy(o->data + o->len, p, n);
        o->len += n;
}

static void put_zeros(struct out *o, size_t n) {
        static const uint8_t zeros[TABLE_ALIGN * 4];

        while (n > 0) {
                size_t k = n < sizeof(zeros) ? n : sizeof(zeros);

                put(o, zeros, k);
                n -= k;
        }
}

static void put_u8(struct out *o, uint8_t v) {
        put(o, &v, 1);
}

static void put_le(struct out *o, uint64_t v, size_t n) {
        uint8_t b[8];

        for (size_t i = 0; i < n; i++)
                b[i] = (uint8_t) (v >> (8 * i));
        put(o, b, n);
}

static void put_u16(struct out *o, uint16_t v) {
        put_le(o, v, 2);
}

static void put_u32(struct out *o, uint32_t v) {
        put_le(o, v, 4);
}

static void put_u64(struct out *o, uint64_t v) {
        put_le(o, v, 8);
}

/* A Generic Address Structure for a memory-mapped register. */
static void put_gas_memory(struct out *o, unsigned bits, uint8_t access_size, uint64_t address) {
        put_u8(o, GAS_SYSTEM_MEMORY);
        put_u8(o, (uint8_t) bits);
        put_u8(o, 0); /* bit offset */
        put_u8(o, access_size);
        put_u64(o, address);
}

static void patch_u32(struct out *o, size_t off, uint32_t v) {
        if (!writing(o) || off + 4 > o->len)
                return;
        for (size_t i = 0; i < 4; i++)
                o->data[off + i] = (uint8_t) (v >> (8 * i));
}

static uint8_t sum8(const uint8_t *p, size_t n) {
        uint8_t s = 0;

        while (n--)
                s = (uint8_t) (s + *p++);
        return s;
}

/* Makes bytes [start, start + n) sum to 0 through the byte at start + at. */
static void checksum(struct out *o, size_t start, size_t n, size_t at) {
        if (!writing(o) || start + n > o->len)
                return;
        o->data[start + at] = 0;
        o->data[start + at] = (uint8_t) -sum8(o->data + start, n);
}

static void pad_to_align(struct out *o) {
        put_zeros(o, (TABLE_ALIGN - o->len % TABLE_ALIGN) % TABLE_ALIGN);
}

static uint64_t guest_address(size_t off) {
        return GUEST_DT_ACPI_BASE + off;
}

/* --- tables --- */

/* The common header with length and checksum left for table_end(). */
static size_t table_begin(struct out *o, const char sig[static 4], uint8_t revision) {
        size_t start = o->len;

        put(o, sig, 4);
        put_u32(o, 0);          /* length */
        put_u8(o, revision);
        put_u8(o, 0);           /* checksum */
        put(o, OEM_ID, 6);
        put(o, OEM_TABLE_ID, 8);
        put_u32(o, OEM_REVISION);
        put(o, CREATOR_ID, 4);
        put_u32(o, CREATOR_REVISION);
        return start;
}

static void table_end(struct out *o, size_t start) {
        size_t n = o->len - start;

        patch_u32(o, start + HEADER_LENGTH_OFFSET, (uint32_t) n);
        checksum(o, start, n, HEADER_CHECKSUM_OFFSET);
        pad_to_align(o);
}

static void write_rsdp(struct out *o, const struct layout *l) {
        size_t start = o->len;

        put(o, "RSD PTR ", 8);
        put_u8(o, 0);                   /* checksum of the first 20 bytes */
        put(o, OEM_ID, 6);
        put_u8(o, RSDP_REVISION);
        put_u32(o, 0);                  /* RsdtAddress: none, the XSDT is the root */
        put_u32(o, RSDP_SIZE);
        put_u64(o, guest_address(l->xsdt));
        put_u8(o, 0);                   /* extended checksum, of all 36 */
        put_zeros(o, 3);
        checksum(o, start, RSDP_V1_SIZE, RSDP_CHECKSUM_OFFSET);
        checksum(o, start, RSDP_SIZE, RSDP_EXT_CHECKSUM_OFFSET);
        pad_to_align(o);
}

static void write_xsdt(struct out *o, const struct guest_acpi_config *cfg, const struct layout *l) {
        size_t start = table_begin(o, "XSDT", XSDT_REVISION);

        put_u64(o, guest_address(l->fadt));
        put_u64(o, guest_address(l->madt));
        put_u64(o, guest_address(l->gtdt));
        if (cfg->vpl011)
                put_u64(o, guest_address(l->spcr));
        table_end(o, start);
}

static void write_fadt(struct out *o, const struct layout *l) {
        size_t start = table_begin(o, "FACP", FADT_REVISION);
        uint64_t dsdt = guest_address(l->dsdt);

        put_u32(o, 0);                  /* FIRMWARE_CTRL: no FACS, hardware-reduced */
        /* The 32-bit DSDT as well as X_DSDT: XenAcpiPlatformDxe reads only
         * this one; the blob sits below 4 GiB, and both say the same. */
        put_u32(o, (uint32_t) dsdt);
        put_u8(o, 0);                   /* reserved */
        put_u8(o, 0);                   /* Preferred_PM_Profile: unspecified */
        put_u16(o, 0);                  /* SCI_INT: none when hardware-reduced */
        put_u32(o, 0);                  /* SMI_CMD */
        put_zeros(o, 4);                /* ACPI_ENABLE, ACPI_DISABLE, S4BIOS_REQ, PSTATE_CNT */
        put_zeros(o, 8 * 4);            /* PM1a/b_EVT, PM1a/b_CNT, PM2_CNT, PM_TMR, GPE0/1 blocks */
        put_zeros(o, 8);                /* their lengths, GPE1_BASE, CST_CNT */
        put_zeros(o, 4 * 2);            /* P_LVL2/3_LAT, FLUSH_SIZE, FLUSH_STRIDE */
        put_zeros(o, 5);                /* DUTY_OFFSET, DUTY_WIDTH, DAY_ALRM, MON_ALRM, CENTURY */
        put_u16(o, 0);                  /* IAPC_BOOT_ARCH */
        put_u8(o, 0);                   /* reserved */
        put_u32(o, FADT_HW_REDUCED_ACPI);
        put_zeros(o, 12);               /* RESET_REG: none */
        put_u8(o, 0);                   /* RESET_VALUE */
        put_u16(o, FADT_ARM_PSCI_COMPLIANT | FADT_ARM_PSCI_USE_HVC);
        put_u8(o, FADT_MINOR_REVISION);
        put_u64(o, 0);                  /* X_FIRMWARE_CTRL */
        put_u64(o, dsdt);               /* X_DSDT */
        put_zeros(o, 8 * 12);           /* X_PM1a_EVT_BLK .. X_GPE1_BLK */
        put_zeros(o, 2 * 12);           /* SLEEP_CONTROL_REG, SLEEP_STATUS_REG */
        put(o, FADT_HYPERVISOR_ID, 8);
        table_end(o, start);
}

static void write_gicc(struct out *o, unsigned gic_version, unsigned vcpu) {
        put_u8(o, MADT_GICC);
        put_u8(o, MADT_GICC_LEN);
        put_u16(o, 0);                                  /* reserved */
        /* GICv2: the vCPU's bit in GICD_ITARGETSR; GICv3 (no legacy mode) 0. */
        put_u32(o, gic_version == 2 ? vcpu : 0);        /* CPU interface number */
        put_u32(o, vcpu);                               /* ACPI processor UID = the DSDT's _UID */
        put_u32(o, MADT_GICC_ENABLED);
        put_u32(o, 0);                                  /* parking protocol version: none */
        put_u32(o, 0);                                  /* performance interrupt: no PMU */
        put_u64(o, 0);                                  /* parked address */
        put_u64(o, gic_version == 2 ? GUEST_DT_GICC_BASE : 0);
        put_u64(o, 0);                                  /* GICV */
        put_u64(o, 0);                                  /* GICH */
        put_u32(o, 0);                                  /* VGIC maintenance interrupt */
        put_u64(o, 0);                                  /* GICR base: the GICR entry says it */
        put_u64(o, guest_dt_vcpu_mpidr(vcpu));
        put_u8(o, 0);                                   /* processor power efficiency class */
        put_zeros(o, 3);                                /* reserved */
}

static void write_madt(struct out *o, const struct guest_acpi_config *cfg) {
        size_t start = table_begin(o, "APIC", MADT_REVISION);
        bool v3 = cfg->gic_version == 3;

        put_u32(o, 0);                  /* local interrupt controller address: none */
        put_u32(o, 0);                  /* flags: no PC-AT dual 8259 */
        for (unsigned i = 0; i < cfg->nr_vcpus; i++)
                write_gicc(o, cfg->gic_version, i);

        put_u8(o, MADT_GICD);
        put_u8(o, MADT_GICD_LEN);
        put_u16(o, 0);                  /* reserved */
        put_u32(o, 0);                  /* GIC ID */
        put_u64(o, v3 ? GUEST_DT_GICV3_GICD_BASE : GUEST_DT_GICD_BASE);
        put_u32(o, 0);                  /* system vector base */
        put_u8(o, (uint8_t) cfg->gic_version);
        put_zeros(o, 3);

        if (v3) {
                /* The whole region, as guest-dt.c's GIC node: never scaled. */
                put_u8(o, MADT_GICR);
                put_u8(o, MADT_GICR_LEN);
                put_u16(o, 0);
                put_u64(o, GUEST_DT_GICV3_GICR0_BASE);
                put_u32(o, (uint32_t) GUEST_DT_GICV3_GICR0_SIZE);
        }
        table_end(o, start);
}

static void write_gtdt(struct out *o) {
        size_t start = table_begin(o, "GTDT", GTDT_REVISION);

        put_u64(o, GTDT_NOT_PRESENT);                   /* CntControlBase */
        put_u32(o, 0);                                  /* reserved */
        /* The three PPIs of guest-dt.c's timer node, level-triggered and
         * active low as there; Xen gives a guest no EL2 timer. */
        put_u32(o, GUEST_DT_TIMER_PHYS_S_PPI);
        put_u32(o, GTDT_TIMER_ACTIVE_LOW);
        put_u32(o, GUEST_DT_TIMER_PHYS_NS_PPI);
        put_u32(o, GTDT_TIMER_ACTIVE_LOW);
        put_u32(o, GUEST_DT_TIMER_VIRT_PPI);
        put_u32(o, GTDT_TIMER_ACTIVE_LOW);
        put_u32(o, 0);                                  /* non-secure EL2 timer: none */
        put_u32(o, 0);
        put_u64(o, GTDT_NOT_PRESENT);                   /* CntReadBase */
        put_u32(o, 0);                                  /* platform timer count */
        put_u32(o, (uint32_t) (o->len - start + 4));    /* their offset: the table's end */
        table_end(o, start);
}

static void write_spcr(struct out *o) {
        size_t start = table_begin(o, "SPCR", SPCR_REVISION);

        put_u8(o, SPCR_SBSA_GENERIC_UART);
        put_zeros(o, 3);
        /* Xen's vpl011 takes 8-, 16- and 32-bit accesses and the SBSA asks
         * for 32: Linux's spcr.c makes that "pl011,mmio32". */
        put_gas_memory(o, 32, GAS_ACCESS_DWORD, GUEST_DT_PL011_BASE);
        put_u8(o, SPCR_IRQ_TYPE_GIC);
        put_u8(o, 0);                                   /* PC-AT IRQ */
        put_u32(o, GUEST_DT_VPL011_SPI);                /* GSIV = INTID (32: SPI 0) */
        put_u8(o, SPCR_BAUD_115200);
        put_u8(o, 0);                                   /* no parity */
        put_u8(o, SPCR_STOP_BITS_1);
        put_u8(o, 0);                                   /* no flow control */
        put_u8(o, SPCR_TERMINAL_VT_UTF8);
        put_u8(o, 0);                                   /* language: reserved */
        put_u16(o, SPCR_PCI_NONE);                      /* PCI device ID: not PCI */
        put_u16(o, SPCR_PCI_NONE);                      /* PCI vendor ID */
        put_zeros(o, 3);                                /* PCI bus, device, function */
        put_u32(o, 0);                                  /* PCI flags */
        put_u8(o, 0);                                   /* PCI segment */
        put_u32(o, 0);                                  /* reserved */
        table_end(o, start);
}

/* --- AML --- */

/* A package's length (20.2.4): the package's bytes including the length
 * itself, in 1 to 4 bytes. */
static size_t aml_pkglen_size(size_t content) {
        if (content + 1 < 0x40)
                return 1;
        if (content + 2 < 0x1000)
                return 2;
        if (content + 3 < 0x100000)
                return 3;
        return 4;
}

static void aml_pkglen(struct out *o, size_t content) {
        size_t n = aml_pkglen_size(content), total = content + n;

        if (total > AML_PKGLEN_MAX) {
                o->overflow = true;
                return;
        }
        if (n == 1) {
                put_u8(o, (uint8_t) total);
                return;
        }
        /* Lead byte: the count of bytes that follow, the low nibble. */
        put_u8(o, (uint8_t) ((n - 1) << 6 | (total & 0xf)));
        for (size_t i = 1; i < n; i++)
                put_u8(o, (uint8_t) (total >> (4 + 8 * (i - 1))));
}

typedef void (*aml_body)(struct out *o, const void *ctx);

/* PkgLength and what body writes: a counting run of body first says how
 * long that is, so nothing is written twice or moved afterwards. */
static void aml_pkg(struct out *o, aml_body body, const void *ctx) {
        struct out count = { .cap = SIZE_MAX };

        body(&count, ctx);
        if (count.overflow) {
                o->overflow = true;
                return;
        }
        aml_pkglen(o, count.len);
        body(o, ctx);
}

static void aml_nameseg(struct out *o, const char *name) {
        put(o, name, AML_NAMESEG_LEN);
}

static void aml_integer(struct out *o, uint64_t v) {
        if (v == 0)
                put_u8(o, AML_ZERO_OP);
        else if (v == 1)
                put_u8(o, AML_ONE_OP);
        else if (v <= UINT8_MAX) {
                put_u8(o, AML_BYTE_PREFIX);
                put_u8(o, (uint8_t) v);
        } else if (v <= UINT16_MAX) {
                put_u8(o, AML_WORD_PREFIX);
                put_u16(o, (uint16_t) v);
        } else if (v <= UINT32_MAX) {
                put_u8(o, AML_DWORD_PREFIX);
                put_u32(o, (uint32_t) v);
        } else {
                put_u8(o, AML_QWORD_PREFIX);
                put_u64(o, v);
        }
}

static void aml_name_string(struct out *o, const char *name, const char *s) {
        put_u8(o, AML_NAME_OP);
        aml_nameseg(o, name);
        put_u8(o, AML_STRING_PREFIX);
        put(o, s, strlen(s) + 1);
}

static void aml_name_integer(struct out *o, const char *name, uint64_t v) {
        put_u8(o, AML_NAME_OP);
        aml_nameseg(o, name);
        aml_integer(o, v);
}

struct bytes {
        const uint8_t *p;
        size_t n;
};

static void buffer_body(struct out *o, const void *ctx) {
        const struct bytes *b = ctx;

        aml_integer(o, b->n);   /* BufferSize */
        put(o, b->p, b->n);
}

static void aml_name_buffer(struct out *o, const char *name, const uint8_t *p, size_t n) {
        struct bytes b = { p, n };

        put_u8(o, AML_NAME_OP);
        aml_nameseg(o, name);
        put_u8(o, AML_BUFFER_OP);
        aml_pkg(o, buffer_body, &b);
}

/* Scope (...) { body }: body starts with the scope's name. */
static void aml_scope(struct out *o, aml_body body, const void *ctx) {
        put_u8(o, AML_SCOPE_OP);
        aml_pkg(o, body, ctx);
}

/* Device (...) { body }: body starts with the device's NameSeg. */
static void aml_device(struct out *o, aml_body body, const void *ctx) {
        put_u8(o, AML_EXT_OP_PREFIX);
        put_u8(o, AML_DEVICE_OP);
        aml_pkg(o, body, ctx);
}

/* ResourceTemplate () { Memory32Fixed (ReadWrite, base, size)
 * Interrupt (ResourceConsumer, Level, ActiveHigh, Exclusive) { gsiv } },
 * as a buffer's bytes. Returns their number, 0 if they did not fit. */
static size_t uart_resources(uint8_t out[static RES_TEMPLATE_MAX]) {
        struct out o = { .data = out, .cap = RES_TEMPLATE_MAX };

        put_u8(&o, RES_MEMORY32_FIXED);
        put_u16(&o, RES_MEMORY32_FIXED_LEN);
        put_u8(&o, RES_MEMORY_READ_WRITE);
        put_u32(&o, (uint32_t) GUEST_DT_PL011_BASE);
        put_u32(&o, (uint32_t) GUEST_DT_PL011_SIZE);

        put_u8(&o, RES_EXTENDED_IRQ);
        put_u16(&o, 2 + 4);             /* flags, count, one interrupt */
        put_u8(&o, RES_IRQ_CONSUMER);
        put_u8(&o, 1);
        put_u32(&o, GUEST_DT_VPL011_SPI);

        put_u8(&o, RES_END_TAG);
        put_u8(&o, 0);                  /* checksum 0: "treated as correct" */
        return o.overflow ? 0 : o.len;
}

/* Device (Cnnn) { Name (_HID, "ACPI0007") Name (_UID, n) } */
static void cpu_body(struct out *o, const void *ctx) {
        unsigned vcpu = *(const unsigned *) ctx;
        char name[AML_NAMESEG_LEN + 1];

        snprintf(name, sizeof(name), CPU_NAME_FORMAT, vcpu & 0xfffu);
        aml_nameseg(o, name);
        aml_name_string(o, "_HID", HID_PROCESSOR);
        aml_name_integer(o, "_UID", vcpu);      /* = the GICC's processor UID */
}

/* Linux's amba-pl011.c binds ARMH0011 (sbsa_uart_acpi_match) and, with no
 * device tree node, runs it at 115200 baud. */
static void uart_body(struct out *o, const void *ctx) {
        uint8_t res[RES_TEMPLATE_MAX];
        size_t n = uart_resources(res);

        (void) ctx;
        if (n == 0) {
                o->overflow = true;
                return;
        }
        aml_nameseg(o, UART_DEVICE_NAME);
        aml_name_string(o, "_HID", HID_SBSA_UART);
        aml_name_integer(o, "_UID", 0);
        aml_name_buffer(o, "_CRS", res, n);
}

static void sb_body(struct out *o, const void *ctx) {
        const struct guest_acpi_config *cfg = ctx;

        put_u8(o, AML_ROOT_CHAR);
        aml_nameseg(o, "_SB_");
        for (unsigned i = 0; i < cfg->nr_vcpus; i++)
                aml_device(o, cpu_body, &i);
        if (cfg->vpl011)
                aml_device(o, uart_body, NULL);
}

static void write_dsdt(struct out *o, const struct guest_acpi_config *cfg) {
        size_t start = table_begin(o, "DSDT", DSDT_REVISION);

        aml_scope(o, sb_body, cfg);
        table_end(o, start);
}

/* --- the blob --- */

/* Writes every table in order, recording where each starts in *got; with
 * o->data NULL it only counts. Tables pointing at others take the
 * addresses from *l (the counting pass's result when writing). */
static void write_blob(struct out *o, const struct guest_acpi_config *cfg, const struct layout *l, struct layout *got) {
        write_rsdp(o, l);
        got->xsdt = o->len;
        write_xsdt(o, cfg, l);
        got->fadt = o->len;
        write_fadt(o, l);
        got->madt = o->len;
        write_madt(o, cfg);
        got->gtdt = o->len;
        write_gtdt(o);
        got->spcr = o->len;
        if (cfg->vpl011)
                write_spcr(o);
        got->dsdt = o->len;
        write_dsdt(o, cfg);
        got->total = o->len;
}

static int config_validate(const struct guest_acpi_config *cfg) {
        unsigned max_vcpus = guest_dt_max_vcpus(cfg->gic_version);

        if (!max_vcpus)
                return -EPROTONOSUPPORT;
        if (cfg->nr_vcpus < 1 || cfg->nr_vcpus > max_vcpus)
                return -ERANGE;
        return 0;
}

int guest_acpi_build(const struct guest_acpi_config *cfg, void *buf, size_t size, size_t *len) {
        struct layout l = { 0 }, written = { 0 };
        struct out o = { .cap = GUEST_ACPI_SIZE_MAX };
        int r;

        if (!cfg || !len || (!buf && size > 0))
                return -EINVAL;
        r = config_validate(cfg);
        if (r < 0)
                return r;

        /* Counting: no size depends on an address, so the zeros this pass
         * writes into the pointers do not change where the tables land. */
        write_blob(&o, cfg, &written, &l);
        if (o.overflow)
                return -EIO;
        if (size < l.total) {
                *len = l.total;
                return -ENOBUFS;
        }

        /* Writing, with the addresses just learnt; it must land on them. */
        o = (struct out) { .data = buf, .cap = l.total };
        memset(buf, 0, l.total);
        write_blob(&o, cfg, &l, &written);
        if (o.overflow || memcmp(&written, &l, sizeof(l)) != 0) {
                memset(buf, 0, l.total);
                return -EIO;
        }
        *len = l.total;
        return 0;
}

const char *guest_acpi_strerror(int r) {
        switch (r) {
        case 0:
                return "success";
        case -EINVAL:
                return "invalid arguments to the ACPI table builder";
        case -EPROTONOSUPPORT:
                return "GIC version for the ACPI tables is neither 2 nor 3";
        case -ERANGE:
                return "vCPU count for the ACPI tables is 0 or above the GIC's limit (8 on GICv2, 128 on GICv3)";
        case -ENOBUFS:
                return "buffer too small for the ACPI tables";
        case -EIO:
                return "internal error of the ACPI table builder";
        default:
                return "unknown ACPI table error";
        }
}
