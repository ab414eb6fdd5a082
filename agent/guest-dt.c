/* guest-dt.c: builds and finalises a guest's device tree with libfdt (see
 * guest-dt.h). The nodes are written in plain sequence, in the order libxl
 * writes them; every libfdt error becomes a negative errno in fdt_errno(). */
#include <errno.h>
#include <inttypes.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-dt.h"
#include "macro.h"

/* Bounds of the local arrays the property helpers fill. */
#define PROP_CELLS_MAX          12      /* the timer's three interrupts need 9 */
#define PROP_STRINGS_MAX        128     /* a compatible list, version included */
#define REG_RANGES_MAX          (1 + GUEST_DT_RAM_BANKS) /* /hypervisor/reg */
#define NODE_NAME_MAX           32
#define VERSION_COMPAT_MAX      15

/* An interrupt specifier's third cell: the CPU mask (all four, as libxl)
 * above the trigger type. */
#define IRQ_CPU_MASK_ALL        (0xfu << 8)

struct range {
        uint64_t base;
        uint64_t size;
};

struct irq {
        unsigned number;        /* GIC INTID: 16..31 PPI, 32.. SPI */
        uint32_t type;          /* GUEST_DT_IRQ_TYPE_* */
};

static const uint64_t bank_base[GUEST_DT_RAM_BANKS] = { GUEST_DT_RAM0_BASE, GUEST_DT_RAM1_BASE };
static const uint64_t bank_max[GUEST_DT_RAM_BANKS] = { GUEST_DT_RAM0_SIZE, GUEST_DT_RAM1_SIZE };

/* The one place libfdt's codes (negative FDT_ERR_*) turn into negative errno;
 * the table is in guest-dt.h. Non-negative values (offsets) pass through. */
static int fdt_errno(int r) {
        if (r >= 0)
                return r;
        switch (-r) {
        case FDT_ERR_NOTFOUND:
                return -ENOENT;
        case FDT_ERR_EXISTS:
                return -EEXIST;
        case FDT_ERR_NOSPACE:
                return -ENOSPC;
        case FDT_ERR_TRUNCATED:
        case FDT_ERR_BADMAGIC:
        case FDT_ERR_BADVERSION:
        case FDT_ERR_BADSTRUCTURE:
        case FDT_ERR_BADLAYOUT:
        case FDT_ERR_ALIGNMENT:
        case FDT_ERR_BADOFFSET:
        case FDT_ERR_BADNCELLS:
                return -EBADMSG;
        case FDT_ERR_BADPATH:
        case FDT_ERR_BADPHANDLE:
        case FDT_ERR_BADSTATE:
        case FDT_ERR_BADVALUE:
        case FDT_ERR_BADOVERLAY:
        case FDT_ERR_NOPHANDLES:
        case FDT_ERR_BADFLAGS:
                return -EINVAL;
        default:
                return -EIO;
        }
}

/* Runs a libfdt call; on failure returns its error as negative errno. */
#define FDT_TRY(expr)                                   \
        do {                                            \
                int _fdt_r = (expr);                    \
                if (_fdt_r < 0)                         \
                        return fdt_errno(_fdt_r);       \
        } while (0)

/* Runs one of this file's helpers, which already return negative errno. */
#define TRY(expr)                                       \
        do {                                            \
                int _try_r = (expr);                    \
                if (_try_r < 0)                         \
                        return _try_r;                  \
        } while (0)

const char *guest_dt_strerror(int r) {
        switch (r) {
        case 0:
                return "success";
        case -EINVAL:
                return "invalid device-tree parameters or layout";
        case -E2BIG:
                return "device tree does not fit in 1 MiB";
        case -ENOSPC:
                return "device-tree buffer or placeholder too small";
        case -ENOENT:
                return "device-tree node or property missing";
        case -EEXIST:
                return "device-tree node or property already exists";
        case -EBADMSG:
                return "not a well-formed device-tree blob";
        case -ENOMEM:
                return "out of memory";
        case -EFBIG:
                return "device tree grew past its allocation";
        case -EIO:
                return "internal libfdt error";
        default:
                return "unknown device-tree error";
        }
}

static uint64_t align_up(uint64_t v, uint64_t align) {
        return (v + align - 1) & ~(align - 1);
}

/* --- property helpers: each returns 0 or negative errno --- */

static int prop_cells(void *fdt, const char *name, const uint32_t *v, size_t n) {
        fdt32_t be[PROP_CELLS_MAX];

        if (n > ELEMENTSOF(be))
                return -EIO;
        for (size_t i = 0; i < n; i++)
                be[i] = cpu_to_fdt32(v[i]);
        FDT_TRY(fdt_property(fdt, name, be, (int) (n * sizeof(be[0]))));
        return 0;
}

static int prop_u32(void *fdt, const char *name, uint32_t v) {
        return prop_cells(fdt, name, &v, 1);
}

/* A string list ("a\0b\0"), as "compatible" wants. */
static int prop_strings(void *fdt, const char *name, const char *const *s, size_t n) {
        char buf[PROP_STRINGS_MAX];
        size_t len = 0;

        for (size_t i = 0; i < n; i++) {
                size_t l = strlen(s[i]) + 1;

                if (l > sizeof(buf) - len)
                        return -EIO;
                memcpy(buf + len, s[i], l);
                len += l;
        }
        FDT_TRY(fdt_property(fdt, name, buf, (int) len));
        return 0;
}

/* With 2 address and 2 size cells, each number is one big-endian 64-bit
 * pair of cells. Returns the encoded length in bytes. */
static size_t reg_encode(fdt64_t *out, const struct range *r, size_t n) {
        for (size_t i = 0; i < n; i++) {
                out[2 * i] = cpu_to_fdt64(r[i].base);
                out[2 * i + 1] = cpu_to_fdt64(r[i].size);
        }
        return n * 2 * sizeof(fdt64_t);
}

/* "reg" in the root's cell sizes; all zeros makes a placeholder. */
static int prop_reg(void *fdt, const struct range *r, size_t n) {
        fdt64_t be[2 * REG_RANGES_MAX];
        size_t len;

        if (n > REG_RANGES_MAX)
                return -EIO;
        len = reg_encode(be, r, n);
        FDT_TRY(fdt_property(fdt, "reg", be, (int) len));
        return 0;
}

/* "interrupts" in the GIC's three cells (is-PPI, number from 16 or 32,
 * CPU mask | type), and the interrupt-parent that goes with it. */
static int prop_interrupts(void *fdt, const struct irq *irqs, size_t n) {
        uint32_t cells[PROP_CELLS_MAX];

        if (3 * n > ELEMENTSOF(cells))
                return -EIO;
        for (size_t i = 0; i < n; i++) {
                bool ppi = irqs[i].number < 32;

                cells[3 * i] = ppi ? 1 : 0;
                cells[3 * i + 1] = irqs[i].number - (ppi ? 16 : 32);
                cells[3 * i + 2] = IRQ_CPU_MASK_ALL | irqs[i].type;
        }
        TRY(prop_cells(fdt, "interrupts", cells, 3 * n));
        return prop_u32(fdt, "interrupt-parent", GUEST_DT_PHANDLE_GIC);
}

/* --- nodes, in libxl's order --- */

static int write_root_props(void *fdt, const struct guest_dt_params *p) {
        char model[NODE_NAME_MAX], compat[NODE_NAME_MAX];

        snprintf(model, sizeof(model), "XENVM-%s", p->xen_version_compat);
        snprintf(compat, sizeof(compat), "xen,xenvm-%s", p->xen_version_compat);
        FDT_TRY(fdt_property_string(fdt, "model", model));
        TRY(prop_strings(fdt, "compatible", (const char *const[]) { compat, "xen,xenvm" }, 2));
        TRY(prop_u32(fdt, "interrupt-parent", GUEST_DT_PHANDLE_GIC));
        TRY(prop_u32(fdt, "#address-cells", GUEST_DT_ROOT_ADDRESS_CELLS));
        return prop_u32(fdt, "#size-cells", GUEST_DT_ROOT_SIZE_CELLS);
}

static int write_chosen(void *fdt, const struct guest_dt_params *p) {
        FDT_TRY(fdt_begin_node(fdt, "chosen"));
        if (p->cmdline && p->cmdline[0])
                FDT_TRY(fdt_property_string(fdt, "bootargs", p->cmdline));
        if (p->stdout_kind == GUEST_DT_STDOUT_VUART)
                FDT_TRY(fdt_property_string(fdt, "stdout-path", GUEST_DT_UART_PATH));
        if (p->has_initrd) {
                /* 64-bit so that finalise can patch in place. */
                FDT_TRY(fdt_property_u64(fdt, "linux,initrd-start", 0));
                FDT_TRY(fdt_property_u64(fdt, "linux,initrd-end", 0));
        }
        if (p->rng_seed)
                FDT_TRY(fdt_property(fdt, "rng-seed", p->rng_seed, (int) p->rng_seed_len));
        /* The guest's ACPI tables, as a module UEFI firmware (EDK2's
         * XenAcpiPlatformDxe) looks for by its compatible. Their size is
         * known before the build, so no placeholder. */
        if (p->acpi_size) {
                char name[NODE_NAME_MAX];
                const struct range r = { GUEST_DT_ACPI_BASE, p->acpi_size };

                snprintf(name, sizeof(name), "module@%" PRIx64, GUEST_DT_ACPI_BASE);
                FDT_TRY(fdt_begin_node(fdt, name));
                TRY(prop_strings(fdt, "compatible", (const char *const[]) { "xen,guest-acpi", "multiboot,module" },
                                 2));
                TRY(prop_reg(fdt, &r, 1));
                FDT_TRY(fdt_end_node(fdt));
        }
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static int write_cpus(void *fdt, const struct guest_dt_params *p) {
        FDT_TRY(fdt_begin_node(fdt, "cpus"));
        TRY(prop_u32(fdt, "#address-cells", 1));
        TRY(prop_u32(fdt, "#size-cells", 0));
        for (unsigned i = 0; i < p->nr_vcpus; i++) {
                uint32_t mpidr = guest_dt_vcpu_mpidr(i);
                char name[NODE_NAME_MAX];

                snprintf(name, sizeof(name), "cpu@%" PRIx32, mpidr);
                FDT_TRY(fdt_begin_node(fdt, name));
                FDT_TRY(fdt_property_string(fdt, "device_type", "cpu"));
                FDT_TRY(fdt_property_string(fdt, "compatible", "arm,armv8"));
                FDT_TRY(fdt_property_string(fdt, "enable-method", "psci"));
                TRY(prop_u32(fdt, "reg", mpidr));
                FDT_TRY(fdt_end_node(fdt));
        }
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static int write_psci(void *fdt) {
        FDT_TRY(fdt_begin_node(fdt, "psci"));
        TRY(prop_strings(fdt, "compatible",
                         (const char *const[]) { "arm,psci-1.0", "arm,psci-0.2", "arm,psci" }, 3));
        FDT_TRY(fdt_property_string(fdt, "method", "hvc"));
        TRY(prop_u32(fdt, "cpu_off", GUEST_DT_PSCI_CPU_OFF));
        TRY(prop_u32(fdt, "cpu_on", GUEST_DT_PSCI_CPU_ON));
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static void memory_node_path(char *buf, size_t size, unsigned bank) {
        snprintf(buf, size, "/memory@%" PRIx64, bank_base[bank]);
}

static int write_memory(void *fdt) {
        static const struct range placeholder = { 0, 0 };

        for (unsigned i = 0; i < GUEST_DT_RAM_BANKS; i++) {
                char path[NODE_NAME_MAX];

                memory_node_path(path, sizeof(path), i);
                FDT_TRY(fdt_begin_node(fdt, path + 1));
                FDT_TRY(fdt_property_string(fdt, "device_type", "memory"));
                TRY(prop_reg(fdt, &placeholder, 1));
                FDT_TRY(fdt_end_node(fdt));
        }
        return 0;
}

static int write_gic(void *fdt, const struct guest_dt_params *p) {
        static const struct range v2_reg[] = {
                { GUEST_DT_GICD_BASE, GUEST_DT_GICD_SIZE },
                { GUEST_DT_GICC_BASE, GUEST_DT_GICC_SIZE },
        };
        static const struct range v3_reg[] = {
                { GUEST_DT_GICV3_GICD_BASE, GUEST_DT_GICV3_GICD_SIZE },
                { GUEST_DT_GICV3_GICR0_BASE, GUEST_DT_GICV3_GICR0_SIZE },
        };
        const struct range *reg = p->gic_version == 3 ? v3_reg : v2_reg;
        char name[NODE_NAME_MAX];

        snprintf(name, sizeof(name), "interrupt-controller@%" PRIx64, reg[0].base);
        FDT_TRY(fdt_begin_node(fdt, name));
        if (p->gic_version == 3)
                TRY(prop_strings(fdt, "compatible", (const char *const[]) { "arm,gic-v3" }, 1));
        else
                TRY(prop_strings(fdt, "compatible",
                                 (const char *const[]) { "arm,cortex-a15-gic", "arm,cortex-a9-gic" }, 2));
        TRY(prop_u32(fdt, "#interrupt-cells", 3));
        TRY(prop_u32(fdt, "#address-cells", 0));
        FDT_TRY(fdt_property(fdt, "interrupt-controller", NULL, 0));
        /* GICv3: the redistributor region is always the full 16 MiB for 128
         * vCPUs, never scaled to nr_vcpus (as libxl's make_gicv3_node). */
        TRY(prop_reg(fdt, reg, 2));
        TRY(prop_u32(fdt, "linux,phandle", GUEST_DT_PHANDLE_GIC));
        TRY(prop_u32(fdt, "phandle", GUEST_DT_PHANDLE_GIC));
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static int write_timer(void *fdt, const struct guest_dt_params *p) {
        static const struct irq irqs[] = {
                { GUEST_DT_TIMER_PHYS_S_PPI, GUEST_DT_IRQ_TYPE_LEVEL_LOW },
                { GUEST_DT_TIMER_PHYS_NS_PPI, GUEST_DT_IRQ_TYPE_LEVEL_LOW },
                { GUEST_DT_TIMER_VIRT_PPI, GUEST_DT_IRQ_TYPE_LEVEL_LOW },
        };

        FDT_TRY(fdt_begin_node(fdt, "timer"));
        FDT_TRY(fdt_property_string(fdt, "compatible", "arm,armv8-timer"));
        TRY(prop_interrupts(fdt, irqs, ELEMENTSOF(irqs)));
        /* Set when CNTFRQ cannot be trusted; the kernel then uses this. */
        if (p->clock_frequency)
                TRY(prop_u32(fdt, "clock-frequency", p->clock_frequency));
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static int write_hypervisor(void *fdt, const struct guest_dt_params *p) {
        static const struct range placeholder[REG_RANGES_MAX] = { { 0, 0 } };
        static const struct irq evtchn = { GUEST_DT_EVTCHN_PPI, GUEST_DT_IRQ_TYPE_LEVEL_LOW };
        char compat[NODE_NAME_MAX];

        snprintf(compat, sizeof(compat), "xen,xen-%s", p->xen_version_compat);
        FDT_TRY(fdt_begin_node(fdt, "hypervisor"));
        TRY(prop_strings(fdt, "compatible", (const char *const[]) { compat, "xen,xen" }, 2));
        /* Region 0 the grant table, then an extended region per RAM bank. */
        TRY(prop_reg(fdt, placeholder, ELEMENTSOF(placeholder)));
        TRY(prop_interrupts(fdt, &evtchn, 1));
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static int write_uart(void *fdt) {
        static const struct range reg = { GUEST_DT_PL011_BASE, GUEST_DT_PL011_SIZE };
        static const struct irq spi = { GUEST_DT_VPL011_SPI, GUEST_DT_IRQ_TYPE_LEVEL_HIGH };

        /* The name is the path without its leading '/'. */
        FDT_TRY(fdt_begin_node(fdt, &GUEST_DT_UART_PATH[1]));
        FDT_TRY(fdt_property_string(fdt, "compatible", "arm,sbsa-uart"));
        TRY(prop_reg(fdt, &reg, 1));
        TRY(prop_interrupts(fdt, &spi, 1));
        /* The SBSA UART has no clock: Linux's sbsa_uart_probe requires this. */
        TRY(prop_u32(fdt, "current-speed", GUEST_DT_UART_SPEED));
        FDT_TRY(fdt_end_node(fdt));
        return 0;
}

static int write_tree(void *fdt, size_t size, const struct guest_dt_params *p) {
        FDT_TRY(fdt_create(fdt, (int) size));
        FDT_TRY(fdt_finish_reservemap(fdt));
        FDT_TRY(fdt_begin_node(fdt, ""));
        TRY(write_root_props(fdt, p));
        TRY(write_chosen(fdt, p));
        TRY(write_cpus(fdt, p));
        TRY(write_psci(fdt));
        TRY(write_memory(fdt));
        TRY(write_gic(fdt, p));
        TRY(write_timer(fdt, p));
        TRY(write_hypervisor(fdt, p));
        if (p->vpl011)
                TRY(write_uart(fdt));
        FDT_TRY(fdt_end_node(fdt));
        FDT_TRY(fdt_finish(fdt));
        return 0;
}

static bool version_compat_valid(const char *s) {
        size_t n;

        if (!s)
                return false;
        n = strnlen(s, VERSION_COMPAT_MAX + 1);
        return n > 0 && n <= VERSION_COMPAT_MAX && strspn(s, "0123456789.") == n;
}

static int params_validate(const struct guest_dt_params *p) {
        if (!p)
                return -EINVAL;
        if (p->nr_vcpus < 1 || p->nr_vcpus > guest_dt_max_vcpus(p->gic_version))
                return -EINVAL; /* also an unknown GIC version: 0 vCPUs allowed */
        switch (p->stdout_kind) {
        case GUEST_DT_STDOUT_NONE:
        case GUEST_DT_STDOUT_PV:
                break;
        case GUEST_DT_STDOUT_VUART:
                if (!p->vpl011)
                        return -EINVAL;
                break;
        default:
                return -EINVAL;
        }
        if (!version_compat_valid(p->xen_version_compat))
                return -EINVAL;
        if (p->rng_seed && (p->rng_seed_len < 1 || p->rng_seed_len > GUEST_DT_RNG_SEED_MAX))
                return -EINVAL;
        if (!p->rng_seed && p->rng_seed_len != 0)
                return -EINVAL;
        if (p->acpi_size > GUEST_DT_ACPI_SIZE)
                return -EINVAL;
        return 0;
}

int guest_dt_build(const struct guest_dt_params *p, void **ret_blob, size_t *ret_size) {
        int r;

        if (!ret_blob || !ret_size)
                return -EINVAL;
        r = params_validate(p);
        if (r < 0)
                return r;

        for (size_t size = GUEST_DT_SIZE_MIN; size <= GUEST_DT_SIZE_MAX; size *= 2) {
                _cleanup_free_ void *fdt = calloc(1, size);
                size_t total;
                void *shrunk;

                if (!fdt)
                        return -ENOMEM;
                r = write_tree(fdt, size, p);
                if (r == -ENOSPC)
                        continue;
                if (r < 0)
                        return r;

                /* fdt_finish() packs the blob; it can only be smaller than
                 * the buffer, and finalise never makes it bigger. */
                total = fdt_totalsize(fdt);
                if (total > size)
                        return -EFBIG;
                shrunk = realloc(fdt, total);
                if (shrunk)
                        fdt = shrunk;
                *ret_blob = TAKE_PTR(fdt);
                *ret_size = total;
                return 0;
        }
        return -E2BIG;
}

/* --- finalisation --- */

static int layout_validate(const struct guest_dt_layout *l) {
        if (!l)
                return -EINVAL;
        if (l->gpaddr_bits < 32 || l->gpaddr_bits > 64)
                return -EINVAL;
        for (unsigned i = 0; i < GUEST_DT_RAM_BANKS; i++)
                if (l->bank_size[i] > bank_max[i] || l->bank_size[i] % 4096 != 0)
                        return -EINVAL;
        /* RAM fills bank 0 first: a guest always has some there. */
        if (l->bank_size[0] == 0)
                return -EINVAL;
        if (l->has_initrd && l->initrd_end < l->initrd_start)
                return -EINVAL;
        return 0;
}

static int finalise_initrd(void *fdt, const struct guest_dt_layout *l) {
        fdt64_t start = cpu_to_fdt64(l->initrd_start), end = cpu_to_fdt64(l->initrd_end);
        int node;

        node = fdt_path_offset(fdt, "/chosen");
        FDT_TRY(node);
        /* Zeros left in the tree would point the kernel at address 0. */
        if ((fdt_getprop(fdt, node, "linux,initrd-start", NULL) != NULL) != l->has_initrd)
                return -EINVAL;
        if (!l->has_initrd)
                return 0;
        /* Same length as the placeholder, or libfdt says -FDT_ERR_NOSPACE. */
        FDT_TRY(fdt_setprop_inplace(fdt, node, "linux,initrd-start", &start, sizeof(start)));
        FDT_TRY(fdt_setprop_inplace(fdt, node, "linux,initrd-end", &end, sizeof(end)));
        return 0;
}

static int finalise_bank(void *fdt, unsigned bank, uint64_t size) {
        struct range reg = { bank_base[bank], size };
        fdt64_t be[2];
        char path[NODE_NAME_MAX];
        size_t len;
        int node;

        memory_node_path(path, sizeof(path), bank);
        node = fdt_path_offset(fdt, path);
        FDT_TRY(node);
        if (size == 0) {
                /* NOPs in place: nothing after it moves, the size stays. */
                FDT_TRY(fdt_nop_node(fdt, node));
                return 0;
        }
        len = reg_encode(be, &reg, 1);
        FDT_TRY(fdt_setprop_inplace(fdt, node, "reg", be, (int) len));
        return 0;
}

/* The grant-table window, then per bank the space above its RAM (from the
 * next 2 MiB boundary to the end of the bank or of the IPA space) if it is
 * at least 64 MiB: the guest may map foreign and granted pages there. */
static size_t hypervisor_regions(const struct guest_dt_layout *l, struct range *out) {
        uint64_t ipa_end = l->gpaddr_bits >= 64 ? UINT64_MAX : UINT64_C(1) << l->gpaddr_bits;
        size_t n = 0;

        out[n++] = (struct range) { GUEST_DT_GNTTAB_BASE, GUEST_DT_GNTTAB_SIZE };
        for (unsigned i = 0; i < GUEST_DT_RAM_BANKS; i++) {
                uint64_t start = bank_base[i] + align_up(l->bank_size[i], GUEST_DT_EXT_REGION_ALIGN);
                uint64_t end = bank_base[i] + bank_max[i];

                if (end > ipa_end)
                        end = ipa_end;
                if (end > start && end - start >= GUEST_DT_EXT_REGION_MIN_SIZE)
                        out[n++] = (struct range) { start, end - start };
        }
        return n;
}

static int finalise_hypervisor(void *fdt, const struct guest_dt_layout *l) {
        struct range regions[REG_RANGES_MAX];
        fdt64_t be[2 * REG_RANGES_MAX];
        size_t len;
        int node, old_len;

        len = reg_encode(be, regions, hypervisor_regions(l, regions));
        node = fdt_path_offset(fdt, "/hypervisor");
        FDT_TRY(node);
        if (!fdt_getprop(fdt, node, "reg", &old_len))
                return fdt_errno(old_len);
        /* Shrinking a property moves what follows down and leaves the
         * totalsize alone; growing it could need room the blob lacks. */
        if (len > (size_t) old_len)
                return -ENOSPC;
        FDT_TRY(fdt_setprop(fdt, node, "reg", be, (int) len));
        return 0;
}

int guest_dt_finalise(void *blob, const struct guest_dt_layout *l) {
        uint32_t before;
        int r;

        if (!blob)
                return -EINVAL;
        r = layout_validate(l);
        if (r < 0)
                return r;
        FDT_TRY(fdt_check_header(blob));
        before = fdt_totalsize(blob);

        TRY(finalise_initrd(blob, l));
        for (unsigned i = 0; i < GUEST_DT_RAM_BANKS; i++)
                TRY(finalise_bank(blob, i, l->bank_size[i]));
        TRY(finalise_hypervisor(blob, l));

        if (fdt_totalsize(blob) > before)
                return -EFBIG;
        /* fdt_check_header() refuses a totalsize above INT_MAX. */
        return (int) fdt_totalsize(blob);
}
