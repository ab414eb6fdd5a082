/* fdt.c: the few facts the tiny guest needs from its flattened device tree
 * (/chosen/bootargs, the SBSA UART's base, the GIC's version and
 * distributor base), found in one walk over the structure block. Reads go
 * byte by byte: the MMU is off, so memory is Device memory and must not be
 * read unaligned. */
#include "tiny.h"

#define FDT_MAGIC 0xd00dfeedu
#define FDT_BEGIN_NODE 1
#define FDT_END_NODE 2
#define FDT_PROP 3
#define FDT_NOP 4
#define FDT_END 9

static uint32_t be32(const uint8_t *p) {
        return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 | (uint32_t) p[2] << 8 | p[3];
}

static int streq(const char *a, const char *b) {
        while (*a && *a == *b)
                a++, b++;
        return *a == *b;
}

/* Whether the string list (compatible's value) holds s. */
static bool has_string(const char *list, uint32_t len, const char *s) {
        for (uint32_t i = 0; i < len; i += (uint32_t) strlen(list + i) + 1)
                if (streq(list + i, s))
                        return true;
        return false;
}

static uint64_t read_cells(const uint8_t *p, uint32_t cells) {
        uint64_t v = 0;

        while (cells--)
                v = v << 32 | be32(p), p += 4;
        return v;
}

bool fdt_scan(const void *blob, struct dt_info *out) {
        const uint8_t *fdt = blob;
        enum { OTHER, UART, GIC2, GIC3 } kind = OTHER;
        const uint8_t *p, *end, *reg = NULL;
        const char *strings;
        uint32_t addr_cells = 2, reg_len = 0;
        int depth = 0;
        bool chosen = false;

        *out = (struct dt_info) { .bootargs = "" };
        if (!fdt || be32(fdt) != FDT_MAGIC)
                return false;
        p = fdt + be32(fdt + 8);
        end = p + be32(fdt + 36);
        strings = (const char *) fdt + be32(fdt + 12);
        while (p + 4 <= end) {
                uint32_t token = be32(p);

                p += 4;
                if (token == FDT_BEGIN_NODE) {
                        const char *name = (const char *) p;

                        depth++;
                        if (depth == 2) {
                                chosen = streq(name, "chosen");
                                kind = OTHER;
                                reg = NULL;
                        }
                        p += (strlen(name) + 4) & ~3u;
                } else if (token == FDT_END_NODE) {
                        if (depth == 2 && reg && reg_len >= addr_cells * 4) {
                                if (kind == UART)
                                        out->uart_base = read_cells(reg, addr_cells);
                                if (kind == GIC2 || kind == GIC3) {
                                        out->gic_version = kind == GIC3 ? 3 : 2;
                                        out->gic_dist_base = read_cells(reg, addr_cells);
                                }
                        }
                        depth--;
                } else if (token == FDT_PROP) {
                        uint32_t len = be32(p);
                        const char *name = strings + be32(p + 4);
                        const uint8_t *val = p + 8;

                        p = val + ((len + 3) & ~3u);
                        if (depth == 1 && streq(name, "#address-cells") && len == 4)
                                addr_cells = be32(val);
                        if (depth != 2)
                                continue;
                        if (chosen && streq(name, "bootargs") && len > 0 && val[len - 1] == 0)
                                out->bootargs = (const char *) val;
                        if (streq(name, "reg"))
                                reg = val, reg_len = len;
                        if (streq(name, "compatible")) {
                                const char *c = (const char *) val;

                                if (has_string(c, len, "arm,sbsa-uart") || has_string(c, len, "arm,pl011"))
                                        kind = UART;
                                else if (has_string(c, len, "arm,gic-v3"))
                                        kind = GIC3;
                                else if (has_string(c, len, "arm,cortex-a15-gic") || has_string(c, len, "arm,gic-400"))
                                        kind = GIC2;
                        }
                } else if (token == FDT_END) {
                        break;
                } else if (token != FDT_NOP) {
                        return false;
                }
        }
        return true;
}
