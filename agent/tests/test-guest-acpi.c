/* test-guest-acpi.c: the guest ACPI tables read back with this directory's
 * own reader (acpi-reader.h, which shares nothing with the builder): the
 * RSDP and XSDT, every table's checksum and place, the FADT's flags, a GICC
 * per vCPU for every count on both GIC versions, the GTDT's PPIs, the SPCR,
 * the DSDT's devices; bad configs and small buffers. Expected values are
 * spelled out here from Xen's guest layout, not taken from guest-dt.h. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "acpi-reader.h"
#include "guest-acpi.h"
#include "madt.h"

#define BASE            UINT64_C(0x20000000)
#define GICD_V2         UINT64_C(0x03001000)
#define GICC_V2         UINT64_C(0x03002000)
#define GICD_V3         UINT64_C(0x03001000)
#define GICR_V3         UINT64_C(0x03020000)
#define GICR_V3_LEN     UINT32_C(0x01000000)
#define UART_BASE       UINT32_C(0x22000000)
#define UART_GSIV       32      /* SPI 0, GUEST_VPL011_SPI */

struct built {
        uint8_t buf[GUEST_ACPI_SIZE_MAX];
        size_t len;
        struct acpi_blob blob;
};

static struct built *build(unsigned gic, unsigned vcpus, bool uart) {
        struct guest_acpi_config cfg = { .nr_vcpus = vcpus, .gic_version = gic, .vpl011 = uart };
        struct built *b = calloc(1, sizeof(*b));
        const char *e;

        assert_non_null(b);
        assert_int_equal(guest_acpi_build(&cfg, b->buf, sizeof(b->buf), &b->len), 0);
        e = acpi_read_blob(&b->blob, b->buf, b->len, BASE);
        if (e)
                fail_msg("GICv%u, %u vCPUs, uart %d: %s", gic, vcpus, uart, e);
        return b;
}

static const struct acpi_table *table(const struct built *b, const char *sig) {
        const struct acpi_table *t = acpi_find(&b->blob, sig);

        if (!t)
                fail_msg("no %s table", sig);
        return t;
}

/* An MPIDR as Xen's vcpuid_to_vaffinity makes it, for spot values. */
static uint64_t mpidr_of(unsigned i) {
        return (i % 16) | (uint64_t) (i / 16) << 8;
}

static void test_rsdp_xsdt(void **state) {
        (void) state;
        for (int uart = 0; uart <= 1; uart++) {
                struct built *b = build(3, 2, uart);
                const char *want[] = { "FACP", "APIC", "GTDT", "SPCR" };

                assert_int_equal(rd64(b->buf + 24), BASE + b->blob.xsdt.off);
                assert_memory_equal(b->buf + 9, "XVMD  ", 6);
                assert_int_equal(b->blob.n_entries, uart ? 4 : 3);
                for (size_t i = 0; i < b->blob.n_entries; i++)
                        assert_string_equal(b->blob.entries[i].sig, want[i]);
                /* Every table's header, as the reader checked its sum. */
                for (size_t i = 0; i < b->blob.n_entries; i++)
                        assert_memory_equal(b->blob.entries[i].p + 10, "XVMD  XENGUEST", 14);
                assert_int_equal(b->blob.dsdt.off + b->blob.dsdt.len + 7 - (b->blob.dsdt.off + b->blob.dsdt.len + 7) % 8,
                                 b->len);
                free(b);
        }
}

static void test_fadt(void **state) {
        struct built *b = build(2, 1, false);
        const struct acpi_table *f = table(b, "FACP");

        (void) state;
        assert_int_equal(f->len, 276);
        /* Linux's arm64 acpi_fadt_sanity_check: 5.1 or newer, HW-reduced. */
        assert_int_equal(f->p[8], 6);
        assert_int_equal(f->p[131], 2);
        assert_int_equal(rd32(f->p + 112), UINT32_C(1) << 20);
        assert_int_equal(rd16(f->p + 129), 0x3); /* PSCI_COMPLIANT | PSCI_USE_HVC */
        assert_int_equal(rd64(f->p + 140), BASE + b->blob.dsdt.off);
        assert_int_equal(rd32(f->p + 40), BASE + b->blob.dsdt.off);
        assert_int_equal(rd32(f->p + 36), 0); /* no FACS */
        assert_int_equal(rd64(f->p + 132), 0);
        assert_memory_equal(f->p + 268, "XenVMM\0\0", 8);
        free(b);
}

static void check_madt(unsigned gic, unsigned n) {
        struct built *b = build(gic, n, false);
        const struct acpi_table *m = table(b, "APIC");
        unsigned gicc = 0, gicd = 0, gicr = 0;
        size_t off = 44;

        assert_int_equal(rd32(m->p + 36), 0);
        assert_int_equal(rd32(m->p + 40), 0);
        while (off < m->len) {
                const uint8_t *e = m->p + off;

                assert_true(m->len - off >= 2);
                assert_true(e[1] >= 2 && e[1] <= m->len - off);
                switch (e[0]) {
                case 0x0b:
                        assert_int_equal(e[1], 80);
                        /* In vCPU order, and none left zero (libxl's bug). */
                        assert_int_equal(rd32(e + 8), gicc);            /* processor UID */
                        assert_int_equal(rd32(e + 4), gic == 2 ? gicc : 0);
                        assert_int_equal(rd32(e + 12), 1);              /* enabled */
                        assert_int_equal(rd64(e + 32), gic == 2 ? GICC_V2 : 0);
                        assert_int_equal(rd64(e + 60), 0);
                        assert_int_equal(rd64(e + 68), mpidr_of(gicc));
                        gicc++;
                        break;
                case 0x0c:
                        assert_int_equal(e[1], 24);
                        assert_int_equal(rd64(e + 8), gic == 2 ? GICD_V2 : GICD_V3);
                        assert_int_equal(e[20], gic);
                        gicd++;
                        break;
                case 0x0e:
                        assert_int_equal(e[1], 16);
                        assert_int_equal(rd64(e + 4), GICR_V3);
                        assert_int_equal(rd32(e + 12), GICR_V3_LEN);
                        gicr++;
                        break;
                default:
                        fail_msg("MADT entry of type %u", e[0]);
                }
                off += e[1];
        }
        assert_int_equal(off, m->len);
        assert_int_equal(gicc, n);
        assert_int_equal(gicd, 1);
        assert_int_equal(gicr, gic == 3 ? 1 : 0);
        /* And the agent's own MADT reader (the host's GIC) agrees. */
        assert_int_equal(madt_gic_version(m->p, m->len), (int) gic);
        free(b);
}

static void test_madt_gicv2(void **state) {
        (void) state;
        for (unsigned n = 1; n <= 8; n++)
                check_madt(2, n);
}

static void test_madt_gicv3(void **state) {
        static const unsigned counts[] = { 1, 2, 3, 4, 5, 6, 7, 8, 15, 16, 17, 64, 127, 128 };

        (void) state;
        for (size_t i = 0; i < sizeof(counts) / sizeof(counts[0]); i++)
                check_madt(3, counts[i]);
}

static void test_mpidr_spots(void **state) {
        struct built *b = build(3, 128, false);
        const struct acpi_table *m = table(b, "APIC");
        static const struct { unsigned vcpu; uint64_t mpidr; } spots[] = {
                { 0, 0x0 }, { 1, 0x1 }, { 15, 0xf }, { 16, 0x100 }, { 17, 0x101 }, { 127, 0x70f },
        };

        (void) state;
        for (size_t i = 0; i < sizeof(spots) / sizeof(spots[0]); i++)
                assert_int_equal(rd64(m->p + 44 + 80 * spots[i].vcpu + 68), spots[i].mpidr);
        free(b);
}

static void test_gtdt(void **state) {
        struct built *b = build(3, 4, true);
        const struct acpi_table *g = table(b, "GTDT");

        (void) state;
        assert_int_equal(g->p[8], 2);
        assert_int_equal(g->len, 96);
        assert_int_equal(rd64(g->p + 36), UINT64_MAX);  /* CntControlBase */
        assert_int_equal(rd32(g->p + 48), 29);          /* secure EL1 */
        assert_int_equal(rd32(g->p + 52), 0x2);         /* level, active low */
        assert_int_equal(rd32(g->p + 56), 30);          /* non-secure EL1 */
        assert_int_equal(rd32(g->p + 60), 0x2);
        assert_int_equal(rd32(g->p + 64), 27);          /* virtual */
        assert_int_equal(rd32(g->p + 68), 0x2);
        assert_int_equal(rd32(g->p + 72), 0);           /* no EL2 timer */
        assert_int_equal(rd64(g->p + 80), UINT64_MAX);  /* CntReadBase */
        assert_int_equal(rd32(g->p + 88), 0);           /* no platform timers */
        assert_int_equal(rd32(g->p + 92), 96);
        free(b);
}

static void test_spcr(void **state) {
        struct built *b = build(2, 2, true), *none = build(2, 2, false);
        const struct acpi_table *s = table(b, "SPCR");

        (void) state;
        assert_null(acpi_find(&none->blob, "SPCR"));
        assert_int_equal(s->p[8], 2);
        assert_int_equal(s->len, 80);
        assert_int_equal(s->p[36], 0x0e);               /* ARM SBSA Generic UART */
        assert_int_equal(s->p[40], 0);                  /* system memory */
        assert_int_equal(s->p[41], 32);                 /* bit width */
        assert_int_equal(s->p[42], 0);
        assert_int_equal(s->p[43], 3);                  /* DWORD: "mmio32" */
        assert_int_equal(rd64(s->p + 44), UART_BASE);
        assert_int_equal(s->p[52], 0x08);               /* ARM GIC */
        assert_int_equal(rd32(s->p + 54), UART_GSIV);
        assert_int_equal(s->p[58], 7);                  /* 115200 baud (the vpl011 has no rate) */
        assert_int_equal(s->p[60], 1);                  /* stop bits */
        assert_int_equal(rd16(s->p + 64), 0xffff);      /* not PCI */
        assert_int_equal(rd16(s->p + 66), 0xffff);
        free(b);
        free(none);
}

/* The _CRS of the UART: Memory32Fixed then an Extended Interrupt, ended. */
static void check_uart_crs(const struct aml_device *d) {
        const uint8_t *r = d->crs;

        assert_non_null(r);
        assert_int_equal(d->crs_len, 12 + 9 + 2);
        assert_int_equal(r[0], 0x86);
        assert_int_equal(rd16(r + 1), 9);
        assert_int_equal(r[3], 1);                      /* read-write */
        assert_int_equal(rd32(r + 4), UART_BASE);
        assert_int_equal(rd32(r + 8), 0x1000);
        assert_int_equal(r[12], 0x89);
        assert_int_equal(rd16(r + 13), 6);
        assert_int_equal(r[15], 0x01);                  /* consumer, level, active high, exclusive */
        assert_int_equal(r[16], 1);
        assert_int_equal(rd32(r + 17), UART_GSIV);
        assert_int_equal(r[21], 0x79);                  /* end tag */
}

static void check_dsdt(unsigned gic, unsigned n, bool uart) {
        struct built *b = build(gic, n, uart);
        struct aml_tree *t = calloc(1, sizeof(*t));
        unsigned cpus = 0, uarts = 0;
        const char *e;

        assert_non_null(t);
        assert_int_equal(b->blob.dsdt.p[8], 2);
        e = aml_read_dsdt(&b->blob.dsdt, t);
        if (e)
                fail_msg("DSDT of %u vCPUs: %s", n, e);
        assert_int_equal(t->sb_scopes, 1);
        for (size_t i = 0; i < t->n_dev; i++) {
                const struct aml_device *d = &t->dev[i];
                char name[5];

                assert_int_equal(d->depth, 1);
                assert_true(d->has_hid && d->has_uid);
                if (strcmp(d->hid, "ACPI0007") == 0) {
                        /* In order: the uid is the MADT's GICC uid. */
                        assert_int_equal(d->uid, cpus);
                        snprintf(name, sizeof(name), "C%03X", cpus);
                        assert_string_equal(d->name, name);
                        assert_null(d->crs);
                        cpus++;
                } else if (strcmp(d->hid, "ARMH0011") == 0) {
                        assert_int_equal(d->uid, 0);
                        check_uart_crs(d);
                        uarts++;
                } else
                        fail_msg("device %s with _HID %s", d->name, d->hid);
        }
        assert_int_equal(cpus, n);
        assert_int_equal(uarts, uart ? 1 : 0);
        free(t);
        free(b);
}

static void test_dsdt(void **state) {
        (void) state;
        for (unsigned n = 1; n <= 8; n++) {
                check_dsdt(2, n, n % 2);
                check_dsdt(3, n, !(n % 2));
        }
        check_dsdt(3, 63, true);
        check_dsdt(3, 128, true);
        check_dsdt(3, 128, false);
}

static void test_sizes(void **state) {
        static const struct { unsigned gic, n; bool uart; } cfgs[] = {
                { 2, 1, false }, { 2, 1, true }, { 2, 8, true }, { 3, 1, true }, { 3, 8, true }, { 3, 128, false }, { 3, 128, true },
        };
        uint8_t *buf = malloc(GUEST_ACPI_SIZE_MAX + 64);

        (void) state;
        assert_non_null(buf);
        for (size_t i = 0; i < sizeof(cfgs) / sizeof(cfgs[0]); i++) {
                struct guest_acpi_config cfg = { .nr_vcpus = cfgs[i].n, .gic_version = cfgs[i].gic, .vpl011 = cfgs[i].uart };
                size_t need = 0, len = 0;

                /* Asking first tells the exact size. */
                assert_int_equal(guest_acpi_build(&cfg, NULL, 0, &need), -ENOBUFS);
                assert_true(need > 0 && need <= GUEST_ACPI_SIZE_MAX && need % 8 == 0);
                memset(buf, 0xa5, GUEST_ACPI_SIZE_MAX + 64);
                assert_int_equal(guest_acpi_build(&cfg, buf, need, &len), 0);
                assert_int_equal(len, need);
                /* Nothing past the blob is touched. */
                for (size_t k = len; k < GUEST_ACPI_SIZE_MAX + 64; k++)
                        assert_int_equal(buf[k], 0xa5);
                print_message("GICv%u, %3u vCPUs, uart %d: %zu bytes\n", cfgs[i].gic, cfgs[i].n, cfgs[i].uart, len);
        }
        free(buf);
}

static void test_deterministic(void **state) {
        struct built *a = build(3, 17, true), *b = build(3, 17, true);

        (void) state;
        assert_int_equal(a->len, b->len);
        assert_memory_equal(a->buf, b->buf, a->len);
        free(a);
        free(b);
}

static void test_bad_configs(void **state) {
        static const struct { unsigned gic, n; int want; } bad[] = {
                { 2, 0, -ERANGE }, { 3, 0, -ERANGE }, { 2, 9, -ERANGE }, { 3, 129, -ERANGE }, { 3, 4096, -ERANGE },
                { 0, 1, -EPROTONOSUPPORT }, { 1, 1, -EPROTONOSUPPORT }, { 4, 1, -EPROTONOSUPPORT },
                { 0, 0, -EPROTONOSUPPORT },
        };
        struct guest_acpi_config ok = { .nr_vcpus = 1, .gic_version = 2 };
        uint8_t buf[GUEST_ACPI_SIZE_MAX];
        size_t len = 12345, need;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                struct guest_acpi_config cfg = { .nr_vcpus = bad[i].n, .gic_version = bad[i].gic, .vpl011 = true };

                memset(buf, 0x5a, sizeof(buf));
                assert_int_equal(guest_acpi_build(&cfg, buf, sizeof(buf), &len), bad[i].want);
                assert_int_equal(len, 12345);
                assert_int_equal(buf[0], 0x5a);
        }
        assert_int_equal(guest_acpi_build(NULL, buf, sizeof(buf), &len), -EINVAL);
        assert_int_equal(guest_acpi_build(&ok, buf, sizeof(buf), NULL), -EINVAL);
        assert_int_equal(guest_acpi_build(&ok, NULL, 64, &len), -EINVAL);

        /* One byte short, and every smaller size: refused, untouched. */
        assert_int_equal(guest_acpi_build(&ok, NULL, 0, &need), -ENOBUFS);
        for (size_t size = 0; size < need; size += size < 64 ? 1 : 61) {
                memset(buf, 0x5a, sizeof(buf));
                len = 0;
                assert_int_equal(guest_acpi_build(&ok, buf, size, &len), -ENOBUFS);
                assert_int_equal(len, need);
                for (size_t k = 0; k < sizeof(buf); k++)
                        assert_int_equal(buf[k], 0x5a);
        }
        assert_int_equal(guest_acpi_build(&ok, buf, need - 1, &len), -ENOBUFS);
        assert_int_equal(guest_acpi_build(&ok, buf, need, &len), 0);

        /* Each error has its own words. */
        assert_string_equal(guest_acpi_strerror(0), "success");
        assert_non_null(strstr(guest_acpi_strerror(-ERANGE), "vCPU"));
        assert_non_null(strstr(guest_acpi_strerror(-EPROTONOSUPPORT), "GIC version"));
        assert_non_null(strstr(guest_acpi_strerror(-ENOBUFS), "too small"));
        assert_non_null(guest_acpi_strerror(-EINVAL));
        assert_non_null(guest_acpi_strerror(-12345));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rsdp_xsdt),
                cmocka_unit_test(test_fadt),
                cmocka_unit_test(test_madt_gicv2),
                cmocka_unit_test(test_madt_gicv3),
                cmocka_unit_test(test_mpidr_spots),
                cmocka_unit_test(test_gtdt),
                cmocka_unit_test(test_spcr),
                cmocka_unit_test(test_dsdt),
                cmocka_unit_test(test_sizes),
                cmocka_unit_test(test_deterministic),
                cmocka_unit_test(test_bad_configs),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
