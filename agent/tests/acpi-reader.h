/* acpi-reader.h: owns nothing; a small, independent reader of an ACPI blob
 * as guest-acpi.c builds it, for test-guest-acpi.c and fuzz-guest-acpi.c.
 * It shares no code or constant with the builder: offsets and values are
 * spelled out here from the ACPI 6.2 specification. Every function returns
 * NULL when all is well, else a message naming the first fault. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ACPI_READER_MAX_TABLES  8
#define ACPI_READER_MAX_DEVICES 160
#define ACPI_READER_MAX_DEPTH   8

static inline uint16_t rd16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t rd32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

static inline uint64_t rd64(const uint8_t *p) {
        return (uint64_t) rd32(p) | (uint64_t) rd32(p + 4) << 32;
}

static inline uint8_t acpi_sum(const uint8_t *p, size_t n) {
        uint8_t s = 0;

        while (n--)
                s = (uint8_t) (s + *p++);
        return s;
}

struct acpi_table {
        char sig[5];
        size_t off;             /* in the blob */
        size_t len;             /* the header's length */
        const uint8_t *p;
};

struct acpi_blob {
        const uint8_t *data;
        size_t len;
        uint64_t base;                  /* the blob's guest address */
        struct acpi_table xsdt;
        struct acpi_table entries[ACPI_READER_MAX_TABLES];     /* the XSDT's, in order */
        size_t n_entries;
        struct acpi_table dsdt;         /* through the FADT */
        char msg[160];
};

/* A table header at guest address addr: inside the blob, 8-byte aligned,
 * a length that fits, a zero checksum. */
static inline const char *acpi_table_at(struct acpi_blob *b, uint64_t addr, struct acpi_table *t) {
        uint64_t off;

        if (addr < b->base || addr - b->base >= b->len)
                return "a table address outside the blob";
        off = addr - b->base;
        if (off % 8 != 0)
                return "a table not 8-byte aligned";
        if (b->len - off < 36)
                return "a table header past the blob's end";
        t->off = (size_t) off;
        t->p = b->data + off;
        memcpy(t->sig, t->p, 4);
        t->sig[4] = '\0';
        t->len = rd32(t->p + 4);
        if (t->len < 36 || t->len > b->len - off)
                return "a table length below its header or past the blob's end";
        if (acpi_sum(t->p, t->len) != 0)
                return "a table checksum does not sum to zero";
        return NULL;
}

static inline const struct acpi_table *acpi_find(const struct acpi_blob *b, const char *sig) {
        for (size_t i = 0; i < b->n_entries; i++)
                if (memcmp(b->entries[i].sig, sig, 4) == 0)
                        return &b->entries[i];
        if (memcmp(sig, "DSDT", 4) == 0 && b->dsdt.p)
                return &b->dsdt;
        return NULL;
}

static inline int acpi_cmp_off(const void *a, const void *b) {
        size_t x = (*(const struct acpi_table *const *) a)->off, y = (*(const struct acpi_table *const *) b)->off;

        return x < y ? -1 : x > y;
}

/* The whole blob: RSDP at its start, the XSDT and each of its entries, the
 * FADT's DSDT; together (with the RSDP) they tile the blob, each followed
 * only by the padding to the next 8 bytes. */
static inline const char *acpi_read_blob(struct acpi_blob *b, const void *data, size_t len, uint64_t base) {
        static struct acpi_table rsdp_range;
        const struct acpi_table *order[ACPI_READER_MAX_TABLES + 3];
        const struct acpi_table *fadt;
        const uint8_t *p = data;
        const char *e;
        size_t n = 0, end = 0;
        uint64_t dsdt32, xdsdt;

        memset(b, 0, sizeof(*b));
        b->data = p;
        b->len = len;
        b->base = base;
        if (len < 36)
                return "shorter than an RSDP";
        if (memcmp(p, "RSD PTR ", 8) != 0)
                return "no RSDP signature at the start";
        if (p[15] != 2)
                return "RSDP revision is not 2";
        if (acpi_sum(p, 20) != 0)
                return "RSDP checksum (first 20 bytes) does not sum to zero";
        if (rd32(p + 20) != 36)
                return "RSDP length is not 36";
        if (acpi_sum(p, 36) != 0)
                return "RSDP extended checksum does not sum to zero";
        if (rd32(p + 16) != 0)
                return "RSDP has an RSDT address";
        e = acpi_table_at(b, rd64(p + 24), &b->xsdt);
        if (e)
                return e;
        if (memcmp(b->xsdt.sig, "XSDT", 4) != 0)
                return "the RSDP's XSDT is not an XSDT";
        if ((b->xsdt.len - 36) % 8 != 0)
                return "XSDT length is not a whole number of entries";
        b->n_entries = (b->xsdt.len - 36) / 8;
        if (b->n_entries > ACPI_READER_MAX_TABLES)
                return "XSDT has too many entries";
        for (size_t i = 0; i < b->n_entries; i++) {
                e = acpi_table_at(b, rd64(b->xsdt.p + 36 + 8 * i), &b->entries[i]);
                if (e)
                        return e;
                for (size_t j = 0; j < i; j++)
                        if (memcmp(b->entries[j].sig, b->entries[i].sig, 4) == 0)
                                return "two XSDT entries of one signature";
        }
        fadt = acpi_find(b, "FACP");
        if (!fadt)
                return "no FADT in the XSDT";
        if (fadt->len < 276)
                return "FADT shorter than 6.x's 276 bytes";
        dsdt32 = rd32(fadt->p + 40);
        xdsdt = rd64(fadt->p + 140);
        if (xdsdt == 0 || dsdt32 != xdsdt)
                return "FADT's DSDT and X_DSDT are not one non-zero address";
        e = acpi_table_at(b, xdsdt, &b->dsdt);
        if (e)
                return e;
        if (memcmp(b->dsdt.sig, "DSDT", 4) != 0)
                return "the FADT's DSDT is not a DSDT";

        rsdp_range = (struct acpi_table) { .off = 0, .len = 36, .p = p };
        order[n++] = &rsdp_range;
        order[n++] = &b->xsdt;
        for (size_t i = 0; i < b->n_entries; i++)
                order[n++] = &b->entries[i];
        order[n++] = &b->dsdt;
        qsort(order, n, sizeof(order[0]), acpi_cmp_off);
        for (size_t i = 0; i < n; i++) {
                if (order[i]->off != end) {
                        snprintf(b->msg, sizeof(b->msg), "table %zu (%.4s) at %zu, not at %zu: overlap or gap",
                                 i, (const char *) order[i]->p, order[i]->off, end);
                        return b->msg;
                }
                end = (order[i]->off + order[i]->len + 7) & ~(size_t) 7;
                for (size_t k = order[i]->off + order[i]->len; k < end && k < len; k++)
                        if (p[k] != 0)
                                return "padding between tables is not zero";
        }
        if (end != len)
                return "the blob's length is not the end of its last table";
        return NULL;
}

/* --- AML, the little of it the builder emits --- */

struct aml_device {
        char name[5];
        char hid[16];
        bool has_hid, has_uid;
        uint64_t uid;
        const uint8_t *crs;
        size_t crs_len;
        unsigned depth;         /* 1: directly in Scope(\_SB) */
};

struct aml_tree {
        struct aml_device dev[ACPI_READER_MAX_DEVICES];
        size_t n_dev;
        unsigned sb_scopes;     /* Scope(\_SB) seen */
};

/* PkgLength at p (20.2.4): *total counts from p; *hdr is its own bytes. */
static inline const char *aml_pkglen(const uint8_t *p, size_t left, size_t *total, size_t *hdr) {
        size_t count, v;

        if (left < 1)
                return "PkgLength past the end";
        count = p[0] >> 6;
        if (left < count + 1)
                return "PkgLength bytes past the end";
        if (count == 0)
                v = p[0] & 0x3f;
        else {
                if (p[0] & 0x30)
                        return "PkgLength with reserved bits set";
                v = p[0] & 0x0f;
                for (size_t i = 1; i <= count; i++)
                        v |= (size_t) p[i] << (4 + 8 * (i - 1));
        }
        if (v < count + 1 || v > left)
                return "PkgLength shorter than itself or past its parent";
        *total = v;
        *hdr = count + 1;
        return NULL;
}

static inline bool aml_nameseg_ok(const uint8_t *s) {
        for (int i = 0; i < 4; i++) {
                bool upper = s[i] >= 'A' && s[i] <= 'Z', digit = s[i] >= '0' && s[i] <= '9';

                if (!(upper || s[i] == '_' || (i > 0 && digit)))
                        return false;
        }
        return true;
}

/* An integer constant; *used its bytes. */
static inline const char *aml_int(const uint8_t *p, size_t left, uint64_t *v, size_t *used) {
        static const size_t width[] = { [0x0a] = 1, [0x0b] = 2, [0x0c] = 4, [0x0e] = 8 };

        if (left < 1)
                return "integer past the end";
        if (p[0] == 0x00 || p[0] == 0x01) {
                *v = p[0];
                *used = 1;
                return NULL;
        }
        if (p[0] == 0xff) {
                *v = UINT64_MAX;
                *used = 1;
                return NULL;
        }
        if (p[0] < sizeof(width) / sizeof(width[0]) && width[p[0]]) {
                size_t w = width[p[0]];

                if (left < 1 + w)
                        return "integer bytes past the end";
                *v = 0;
                for (size_t i = 0; i < w; i++)
                        *v |= (uint64_t) p[1 + i] << (8 * i);
                *used = 1 + w;
                return NULL;
        }
        return "not an integer constant";
}

static inline const char *aml_terms(const uint8_t *p, size_t n, struct aml_tree *t, struct aml_device *cur,
                                    unsigned depth);

/* Name (NAME, object) in the device cur (or outside any). */
static inline const char *aml_name(const uint8_t *p, size_t left, struct aml_device *cur, size_t *used) {
        const uint8_t *seg = p + 1, *obj = p + 5;
        size_t rest;
        const char *e;

        if (left < 6)
                return "Name past the end";
        rest = left - 5;
        if (!aml_nameseg_ok(seg))
                return "Name with a bad NameSeg";
        if (obj[0] == 0x0d) {           /* String */
                const uint8_t *nul = memchr(obj + 1, 0, rest - 1);
                size_t slen;

                if (!nul)
                        return "String without its NUL";
                slen = (size_t) (nul - (obj + 1));
                for (size_t i = 0; i < slen; i++)
                        if (obj[1 + i] < 0x01 || obj[1 + i] > 0x7f)
                                return "String with a non-ASCII byte";
                if (cur && memcmp(seg, "_HID", 4) == 0) {
                        if (slen >= sizeof(cur->hid))
                                return "_HID too long";
                        memcpy(cur->hid, obj + 1, slen);
                        cur->hid[slen] = '\0';
                        cur->has_hid = true;
                }
                *used = 5 + 1 + slen + 1;
                return NULL;
        }
        if (obj[0] == 0x11) {           /* Buffer */
                size_t total, hdr, iu;
                uint64_t size;

                e = aml_pkglen(obj + 1, rest - 1, &total, &hdr);
                if (e)
                        return e;
                e = aml_int(obj + 1 + hdr, total - hdr, &size, &iu);
                if (e)
                        return e;
                if (size != total - hdr - iu)
                        return "Buffer size is not its bytes' count";
                if (cur && memcmp(seg, "_CRS", 4) == 0) {
                        cur->crs = obj + 1 + hdr + iu;
                        cur->crs_len = (size_t) size;
                }
                *used = 5 + 1 + total;
                return NULL;
        }
        {
                uint64_t v;
                size_t iu;

                e = aml_int(obj, rest, &v, &iu);
                if (e)
                        return "Name of an object that is not a string, buffer or integer";
                if (cur && memcmp(seg, "_UID", 4) == 0) {
                        cur->uid = v;
                        cur->has_uid = true;
                }
                *used = 5 + iu;
                return NULL;
        }
}

static inline const char *aml_terms(const uint8_t *p, size_t n, struct aml_tree *t, struct aml_device *cur,
                                    unsigned depth) {
        size_t i = 0;

        if (depth > ACPI_READER_MAX_DEPTH)
                return "AML nested too deep";
        while (i < n) {
                const char *e;
                size_t total, hdr, used;

                if (p[i] == 0x08) {             /* NameOp */
                        e = aml_name(p + i, n - i, cur, &used);
                        if (e)
                                return e;
                        i += used;
                } else if (p[i] == 0x10) {      /* ScopeOp PkgLength '\' NameSeg TermList */
                        const uint8_t *body;

                        e = aml_pkglen(p + i + 1, n - i - 1, &total, &hdr);
                        if (e)
                                return e;
                        body = p + i + 1 + hdr;
                        if (total - hdr < 5 || body[0] != '\\' || !aml_nameseg_ok(body + 1))
                                return "Scope without a rooted NameSeg";
                        if (memcmp(body + 1, "_SB_", 4) != 0 || cur || depth != 0)
                                return "a Scope other than \\_SB at the top";
                        t->sb_scopes++;
                        e = aml_terms(body + 5, total - hdr - 5, t, NULL, depth + 1);
                        if (e)
                                return e;
                        i += 1 + total;
                } else if (p[i] == 0x5b && i + 1 < n && p[i + 1] == 0x82) {    /* DeviceOp */
                        struct aml_device *d;
                        const uint8_t *body;

                        e = aml_pkglen(p + i + 2, n - i - 2, &total, &hdr);
                        if (e)
                                return e;
                        body = p + i + 2 + hdr;
                        if (total - hdr < 4 || !aml_nameseg_ok(body))
                                return "Device without a NameSeg";
                        if (t->n_dev == ACPI_READER_MAX_DEVICES)
                                return "too many devices";
                        d = &t->dev[t->n_dev++];
                        memset(d, 0, sizeof(*d));
                        memcpy(d->name, body, 4);
                        d->depth = depth;
                        e = aml_terms(body + 4, total - hdr - 4, t, d, depth + 1);
                        if (e)
                                return e;
                        i += 2 + total;
                } else
                        return "an AML opcode the builder never emits";
        }
        return NULL;
}

/* The DSDT's AML after its header. */
static inline const char *aml_read_dsdt(const struct acpi_table *dsdt, struct aml_tree *t) {
        memset(t, 0, sizeof(*t));
        if (dsdt->p[8] < 2)
                return "DSDT revision below 2 (32-bit integers)";
        return aml_terms(dsdt->p + 36, dsdt->len - 36, t, NULL, 0);
}
