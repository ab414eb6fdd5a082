/* test-madt.c: the MADT parser on hand-built tables, good and broken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "madt.h"

struct table {
        uint8_t buf[1024];
        size_t size;
};

static void put32(uint8_t *p, uint32_t v) {
        p[0] = (uint8_t) v;
        p[1] = (uint8_t) (v >> 8);
        p[2] = (uint8_t) (v >> 16);
        p[3] = (uint8_t) (v >> 24);
}

static void table_init(struct table *t) {
        memset(t, 0, sizeof(*t));
        memcpy(t->buf, "APIC", 4);
        t->buf[8] = 5; /* revision */
        memcpy(t->buf + 10, "XVMDTS", 6);
        t->size = MADT_HEADER_SIZE;
        put32(t->buf + 4, (uint32_t) t->size);
}

/* Appends a subtable of the given type and length; its body is zero. */
static uint8_t *table_add(struct table *t, uint8_t type, uint8_t len) {
        uint8_t *p = t->buf + t->size;

        p[0] = type;
        p[1] = len;
        t->size += len < 2 ? 2 : len;
        put32(t->buf + 4, (uint32_t) t->size);
        return p;
}

static void add_gicc(struct table *t, unsigned n) {
        for (unsigned i = 0; i < n; i++)
                table_add(t, MADT_TYPE_GICC, 80);
}

static void add_gicd(struct table *t, uint8_t version) {
        uint8_t *p = table_add(t, MADT_TYPE_GICD, MADT_GICD_SIZE);

        put32(p + 8, 0x08000000); /* base address, low half */
        p[MADT_GICD_VERSION_OFFSET] = version;
}

static void add_gicr(struct table *t) {
        table_add(t, MADT_TYPE_GICR, 16);
}

static int parse(const struct table *t) {
        return madt_gic_version(t->buf, t->size);
}

static void test_v2(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicc(&t, 2);
        add_gicd(&t, 2);
        assert_int_equal(parse(&t), 2);
}

static void test_v3(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicc(&t, 4);
        add_gicd(&t, 3);
        add_gicr(&t);
        assert_int_equal(parse(&t), 3);
}

static void test_v4_and_v1(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicd(&t, 4);
        add_gicr(&t);
        assert_int_equal(parse(&t), 4);

        table_init(&t);
        add_gicd(&t, 1);
        assert_int_equal(parse(&t), 1);
}

static void test_unspecified_falls_back(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicc(&t, 1);
        add_gicd(&t, 0);
        add_gicr(&t);
        assert_int_equal(parse(&t), 3);

        /* GICR before the GICD counts the same. */
        table_init(&t);
        add_gicr(&t);
        add_gicd(&t, 0);
        assert_int_equal(parse(&t), 3);

        table_init(&t);
        add_gicc(&t, 1);
        add_gicd(&t, 0);
        assert_int_equal(parse(&t), 2);
}

static void test_unknown_version(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicd(&t, 5);
        assert_int_equal(parse(&t), -EPROTONOSUPPORT);
}

static void test_no_gicd(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        assert_int_equal(parse(&t), -ENOENT);
        add_gicc(&t, 2);
        add_gicr(&t);
        assert_int_equal(parse(&t), -ENOENT);
}

static void test_unknown_subtables_skipped(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        table_add(&t, 0x7f, 3);
        table_add(&t, 0x0F, 20); /* ITS */
        add_gicd(&t, 3);
        table_add(&t, 0xff, 2);
        assert_int_equal(parse(&t), 3);
}

static void test_truncated(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicc(&t, 1);
        add_gicd(&t, 2);
        /* The header promises more than the buffer holds. */
        assert_int_equal(madt_gic_version(t.buf, t.size - 1), -EBADMSG);
        assert_int_equal(madt_gic_version(t.buf, MADT_HEADER_SIZE - 1), -EBADMSG);
        assert_int_equal(madt_gic_version(t.buf, 0), -EBADMSG);
        assert_int_equal(madt_gic_version(NULL, 100), -EBADMSG);

        /* A header length shorter than the header itself. */
        put32(t.buf + 4, MADT_HEADER_SIZE - 1);
        assert_int_equal(parse(&t), -EBADMSG);
        put32(t.buf + 4, 0);
        assert_int_equal(parse(&t), -EBADMSG);
}

static void test_header_length_bounds_the_walk(void **state) {
        (void) state;
        struct table t;
        size_t end;

        table_init(&t);
        add_gicd(&t, 2);
        end = t.size;
        add_gicr(&t);
        /* Bytes past the header's length are not part of the table. */
        put32(t.buf + 4, (uint32_t) end);
        assert_int_equal(parse(&t), 2);
}

static void test_zero_length_subtable(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicd(&t, 3);
        table_add(&t, MADT_TYPE_GICC, 0);
        assert_int_equal(parse(&t), -EBADMSG);

        table_init(&t);
        table_add(&t, MADT_TYPE_GICC, 1);
        add_gicd(&t, 3);
        assert_int_equal(parse(&t), -EBADMSG);
}

static void test_length_past_end(void **state) {
        (void) state;
        struct table t;
        uint8_t *p;

        table_init(&t);
        add_gicd(&t, 2);
        p = table_add(&t, MADT_TYPE_GICC, 80);
        p[1] = 81;
        assert_int_equal(parse(&t), -EBADMSG);

        p[1] = 255;
        assert_int_equal(parse(&t), -EBADMSG);
}

static void test_gicd_too_short(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        table_add(&t, MADT_TYPE_GICD, MADT_GICD_VERSION_OFFSET);
        assert_int_equal(parse(&t), -EBADMSG);
}

static void test_lone_trailing_byte(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicd(&t, 2);
        t.buf[t.size] = MADT_TYPE_GICR;
        t.size++;
        put32(t.buf + 4, (uint32_t) t.size);
        assert_int_equal(parse(&t), -EBADMSG);
}

static void test_bad_signature(void **state) {
        (void) state;
        struct table t;

        table_init(&t);
        add_gicd(&t, 2);
        memcpy(t.buf, "FACP", 4);
        assert_int_equal(parse(&t), -EBADMSG);
}

static void test_every_truncation(void **state) {
        (void) state;
        struct table t;

        /* No cut of a good table reads past what it is given (ASan watches). */
        table_init(&t);
        add_gicc(&t, 2);
        add_gicd(&t, 3);
        add_gicr(&t);
        for (size_t n = 0; n < t.size; n++) {
                uint8_t *copy = malloc(n ? n : 1); /* exact size, so ASan sees any overread */

                assert_non_null(copy);
                memcpy(copy, t.buf, n);
                assert_int_equal(madt_gic_version(copy, n), -EBADMSG);
                if (n >= 8) {
                        put32(copy + 4, (uint32_t) n);
                        (void) madt_gic_version(copy, n);
                }
                free(copy);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_v2),
                cmocka_unit_test(test_v3),
                cmocka_unit_test(test_v4_and_v1),
                cmocka_unit_test(test_unspecified_falls_back),
                cmocka_unit_test(test_unknown_version),
                cmocka_unit_test(test_no_gicd),
                cmocka_unit_test(test_unknown_subtables_skipped),
                cmocka_unit_test(test_truncated),
                cmocka_unit_test(test_header_length_bounds_the_walk),
                cmocka_unit_test(test_zero_length_subtable),
                cmocka_unit_test(test_length_past_end),
                cmocka_unit_test(test_gicd_too_short),
                cmocka_unit_test(test_lone_trailing_byte),
                cmocka_unit_test(test_bad_signature),
                cmocka_unit_test(test_every_truncation),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
