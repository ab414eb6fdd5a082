/* test-console-ring.c: the backend's ring arithmetic against a simulated
 * guest, including one that writes garbage into the indexes. The ring is a
 * heap block of exactly sizeof(struct console_ring), so AddressSanitizer
 * reports any access outside it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "console-ring.h"

static int setup(void **state) {
        struct console_ring *r = calloc(1, sizeof(*r));

        if (!r)
                return -1;
        *state = r;
        return 0;
}

static int teardown(void **state) {
        free(*state);
        return 0;
}

/* The guest's side of out: what a frontend does (no checks, it is the test). */
static void guest_put(struct console_ring *r, const void *data, size_t n) {
        const uint8_t *p = data;

        for (size_t i = 0; i < n; i++)
                r->out[(r->out_prod + i) & (CONSOLE_RING_OUT_SIZE - 1)] = p[i];
        r->out_prod += (uint32_t) n;
}

/* The guest's side of in. */
static void guest_get(struct console_ring *r, void *buf, size_t n) {
        uint8_t *p = buf;

        for (size_t i = 0; i < n; i++)
                p[i] = r->in[(r->in_cons + i) & (CONSOLE_RING_IN_SIZE - 1)];
        r->in_cons += (uint32_t) n;
}

static void fill_pattern(uint8_t *p, size_t n, uint32_t seed) {
        for (size_t i = 0; i < n; i++)
                p[i] = (uint8_t) (seed + i * 7 + (i >> 8));
}

static void test_layout(void **state) {
        (void) state;
        assert_true(sizeof(struct console_ring) <= CONSOLE_RING_PAGE_SIZE);
        assert_int_equal(offsetof(struct console_ring, out), 1024);
        assert_int_equal(offsetof(struct console_ring, out_prod), 3084);
}

static void test_empty(void **state) {
        struct console_ring *r = *state;
        uint8_t buf[16];

        memset(buf, 0xaa, sizeof(buf));
        assert_int_equal(console_ring_out_pending(r), 0);
        assert_int_equal(console_ring_in_space(r), CONSOLE_RING_IN_SIZE);
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), 0);
        assert_int_equal(console_ring_peek_out(r, buf, sizeof(buf)), 0);
        assert_int_equal(console_ring_consume_out(r, 0), 0);
        assert_int_equal(console_ring_consume_out(r, 1), -EINVAL);
        assert_int_equal(r->out_cons, 0);
        assert_int_equal(buf[0], 0xaa);

        /* Indexes equal but far from 0 is just as empty. */
        r->out_cons = r->out_prod = 0x12345678;
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), 0);
        assert_int_equal(r->out_cons, 0x12345678);
}

static void test_read_simple(void **state) {
        struct console_ring *r = *state;
        char buf[64];

        guest_put(r, "hello, world\n", 13);
        assert_int_equal(console_ring_out_pending(r), 13);
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), 13);
        assert_memory_equal(buf, "hello, world\n", 13);
        assert_int_equal(r->out_cons, 13);
        assert_int_equal(console_ring_out_pending(r), 0);

        /* max 0 reads and consumes nothing. */
        guest_put(r, "x", 1);
        assert_int_equal(console_ring_read_out(r, buf, 0), 0);
        assert_int_equal(r->out_cons, 13);
}

static void test_partial_reads(void **state) {
        struct console_ring *r = *state;
        uint8_t data[1000], got[1000];
        size_t off = 0;

        fill_pattern(data, sizeof(data), 3);
        guest_put(r, data, sizeof(data));
        while (off < sizeof(data)) {
                size_t want = sizeof(data) - off < 30 ? sizeof(data) - off : 30;

                assert_int_equal(console_ring_read_out(r, got + off, 30), want);
                off += want;
                assert_int_equal(console_ring_out_pending(r), sizeof(data) - off);
        }
        assert_memory_equal(got, data, sizeof(data));
        assert_int_equal(console_ring_read_out(r, got, 30), 0);
}

static void test_exactly_full(void **state) {
        struct console_ring *r = *state;
        static uint8_t data[CONSOLE_RING_OUT_SIZE], got[CONSOLE_RING_OUT_SIZE + 10];

        fill_pattern(data, sizeof(data), 11);
        r->out_cons = r->out_prod = 700; /* full, and not aligned to the array */
        guest_put(r, data, sizeof(data));
        assert_int_equal(console_ring_out_pending(r), CONSOLE_RING_OUT_SIZE);
        assert_int_equal(console_ring_read_out(r, got, sizeof(got)), CONSOLE_RING_OUT_SIZE);
        assert_memory_equal(got, data, sizeof(data));
        assert_int_equal(r->out_cons, 700 + CONSOLE_RING_OUT_SIZE);
        assert_int_equal(console_ring_out_pending(r), 0);
}

static void test_wrap_index_overflow(void **state) {
        struct console_ring *r = *state;
        uint8_t data[300], got[300];

        fill_pattern(data, sizeof(data), 5);
        r->out_cons = r->out_prod = UINT32_MAX - 99; /* 100 bytes before 2^32 */
        guest_put(r, data, sizeof(data));
        assert_int_equal(r->out_prod, 200); /* the guest's index wrapped */
        assert_int_equal(console_ring_out_pending(r), 300);
        assert_int_equal(console_ring_read_out(r, got, 150), 150);
        assert_int_equal(r->out_cons, 50);
        assert_int_equal(console_ring_read_out(r, got + 150, 1000), 150);
        assert_memory_equal(got, data, sizeof(data));
        assert_int_equal(r->out_cons, 200);

        /* A full ring straddling 2^32. */
        {
                static uint8_t big[CONSOLE_RING_OUT_SIZE], bgot[CONSOLE_RING_OUT_SIZE];

                fill_pattern(big, sizeof(big), 9);
                r->out_cons = r->out_prod = UINT32_MAX - 1000;
                guest_put(r, big, sizeof(big));
                assert_int_equal(console_ring_read_out(r, bgot, sizeof(bgot)), CONSOLE_RING_OUT_SIZE);
                assert_memory_equal(bgot, big, sizeof(big));
                assert_int_equal(r->out_cons, CONSOLE_RING_OUT_SIZE - 1001);
        }
}

static void test_hostile_out(void **state) {
        struct console_ring *r = *state;
        static const struct {
                uint32_t cons, prod;
        } bad[] = {
                { 0, CONSOLE_RING_OUT_SIZE + 1 },           /* one more than fits */
                { 100, 99 },                                /* prod behind cons */
                { 0, UINT32_MAX },
                { 0, 0x80000000u },
                { UINT32_MAX - 10, CONSOLE_RING_OUT_SIZE }, /* across 2^32, too many */
                { 0xdeadbeef, 0x0badf00d },
        };
        uint8_t buf[CONSOLE_RING_OUT_SIZE * 2];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r->out_cons = bad[i].cons;
                r->out_prod = bad[i].prod;
                memset(buf, 0x5a, sizeof(buf));
                assert_int_equal(console_ring_out_pending(r), -EPROTO);
                assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), -EPROTO);
                assert_int_equal(console_ring_peek_out(r, buf, sizeof(buf)), -EPROTO);
                assert_int_equal(console_ring_consume_out(r, 1), -EPROTO);
                /* Nothing consumed, nothing copied. */
                assert_int_equal(r->out_cons, bad[i].cons);
                assert_int_equal(r->out_prod, bad[i].prod);
                assert_int_equal(buf[0], 0x5a);
        }

        /* Garbage that happens to be in range is the guest's own loss: the
         * copy stays inside the array whatever the indexes are. */
        r->out_cons = 0xfffffffe;
        r->out_prod = 0xfffffffe + CONSOLE_RING_OUT_SIZE;
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), CONSOLE_RING_OUT_SIZE);
        assert_int_equal(r->out_cons, r->out_prod);

        /* The guest rewrites out_cons behind our back after a good read:
         * the next read sees a corrupt ring and leaves it alone. */
        r->out_cons = r->out_prod = 0;
        guest_put(r, "abc", 3);
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), 3);
        r->out_cons = 0x41414141;
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), -EPROTO);
        assert_int_equal(r->out_cons, 0x41414141);
}

static void test_peek_consume(void **state) {
        struct console_ring *r = *state;
        char buf[16];

        r->out_cons = r->out_prod = UINT32_MAX - 2;
        guest_put(r, "0123456789", 10);
        assert_int_equal(console_ring_peek_out(r, buf, 4), 4);
        assert_memory_equal(buf, "0123", 4);
        assert_int_equal(r->out_cons, UINT32_MAX - 2); /* peek consumes nothing */
        assert_int_equal(console_ring_peek_out(r, buf, sizeof(buf)), 10);
        assert_memory_equal(buf, "0123456789", 10);

        assert_int_equal(console_ring_consume_out(r, 11), -EINVAL);
        assert_int_equal(console_ring_consume_out(r, 4), 0);
        assert_int_equal(r->out_cons, 1); /* wrapped */
        assert_int_equal(console_ring_peek_out(r, buf, sizeof(buf)), 6);
        assert_memory_equal(buf, "456789", 6);
        assert_int_equal(console_ring_consume_out(r, 6), 0);
        assert_int_equal(console_ring_out_pending(r), 0);
}

static void test_write_in(void **state) {
        struct console_ring *r = *state;
        uint8_t data[1500], got[1500];

        fill_pattern(data, sizeof(data), 17);
        assert_int_equal(console_ring_write_in(r, data, 1000), 1000);
        assert_int_equal(r->in_prod, 1000);
        assert_int_equal(console_ring_in_space(r), 24);

        /* Only what fits is taken. */
        assert_int_equal(console_ring_write_in(r, data + 1000, 100), 24);
        assert_int_equal(console_ring_in_space(r), 0);
        assert_int_equal(console_ring_write_in(r, data + 1024, 100), 0);
        assert_int_equal(r->in_prod, CONSOLE_RING_IN_SIZE);

        guest_get(r, got, 1024);
        assert_memory_equal(got, data, 1024);
        assert_int_equal(console_ring_in_space(r), CONSOLE_RING_IN_SIZE);

        /* len 0 writes nothing. */
        assert_int_equal(console_ring_write_in(r, data, 0), 0);
        assert_int_equal(r->in_prod, CONSOLE_RING_IN_SIZE);
}

static void test_write_in_wrap(void **state) {
        struct console_ring *r = *state;
        uint8_t data[CONSOLE_RING_IN_SIZE], got[CONSOLE_RING_IN_SIZE];

        fill_pattern(data, sizeof(data), 23);
        r->in_cons = r->in_prod = UINT32_MAX - 9;
        assert_int_equal(console_ring_write_in(r, data, sizeof(data)), CONSOLE_RING_IN_SIZE);
        assert_int_equal(r->in_prod, CONSOLE_RING_IN_SIZE - 10);
        assert_int_equal(console_ring_in_space(r), 0);
        guest_get(r, got, 500);
        assert_memory_equal(got, data, 500);
        assert_int_equal(console_ring_in_space(r), 500);
        assert_int_equal(console_ring_write_in(r, data, 600), 500);
        guest_get(r, got, CONSOLE_RING_IN_SIZE);
        assert_memory_equal(got, data + 500, CONSOLE_RING_IN_SIZE - 500);
        assert_memory_equal(got + CONSOLE_RING_IN_SIZE - 500, data, 500);
}

static void test_hostile_in(void **state) {
        struct console_ring *r = *state;
        static const struct {
                uint32_t cons, prod;
        } bad[] = {
                { 0, CONSOLE_RING_IN_SIZE + 1 },
                { 1, 0 }, /* the guest claims to have consumed more than we produced */
                { 0, UINT32_MAX },
                { 0x80000000u, 0 },
        };
        uint8_t in_before[CONSOLE_RING_IN_SIZE];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                r->in_cons = bad[i].cons;
                r->in_prod = bad[i].prod;
                memcpy(in_before, r->in, sizeof(in_before));
                assert_int_equal(console_ring_in_space(r), -EPROTO);
                assert_int_equal(console_ring_write_in(r, "zzzz", 4), -EPROTO);
                assert_int_equal(r->in_prod, bad[i].prod);
                assert_int_equal(r->in_cons, bad[i].cons);
                assert_memory_equal(r->in, in_before, sizeof(in_before));
        }

        /* Out's corruption does not affect in, and the other way round. */
        r->in_cons = r->in_prod = 0;
        r->out_cons = 0;
        r->out_prod = 0xffff0000u;
        assert_int_equal(console_ring_write_in(r, "ok", 2), 2);
}

/* A long stream through the ring in random chunk sizes on both sides,
 * starting just before the indexes wrap: every byte arrives once, in order. */
static void test_stream(void **state) {
        struct console_ring *r = *state;
        enum { TOTAL = 1 << 20 };
        uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL);
        size_t sent = 0, received = 0;
        uint32_t rng = 12345;

        assert_non_null(src);
        assert_non_null(dst);
        fill_pattern(src, TOTAL, 77);
        r->out_cons = r->out_prod = UINT32_MAX - 5000;
        while (received < TOTAL) {
                size_t space = CONSOLE_RING_OUT_SIZE - (uint32_t) (r->out_prod - r->out_cons);
                size_t put, want;
                ssize_t n;

                rng = rng * 1103515245 + 12345;
                put = (rng >> 16) % (space + 1);
                if (put > TOTAL - sent)
                        put = TOTAL - sent;
                guest_put(r, src + sent, put);
                sent += put;

                rng = rng * 1103515245 + 12345;
                want = (rng >> 16) % 3000;
                n = console_ring_read_out(r, dst + received, want < TOTAL - received ? want : TOTAL - received);
                assert_true(n >= 0);
                received += (size_t) n;
        }
        assert_int_equal(sent, TOTAL);
        assert_memory_equal(dst, src, TOTAL);
        free(src);
        free(dst);
}

/* A restart between storing bytes and consuming them: the bytes the log
 * holds already are skipped, whatever part of them was consumed. */
static void test_skip_logged(void **state) {
        struct console_ring *r = *state;
        uint8_t buf[CONSOLE_RING_OUT_SIZE];

        r->out_cons = r->out_prod = UINT32_MAX - 100; /* across the wrap */
        guest_put(r, "0123456789", 10);
        /* Logged 10 since cons_then, none consumed: all 10 go. */
        assert_int_equal(console_ring_skip_logged(r, UINT32_MAX - 100, 10), 10);
        assert_int_equal(r->out_cons, UINT32_MAX - 90);
        assert_int_equal(console_ring_out_pending(r), 0);

        /* Logged 6, 4 of them consumed: 2 go, the rest stays for the log. */
        guest_put(r, "abcdefgh", 8);
        assert_int_equal(console_ring_consume_out(r, 4), 0);
        assert_int_equal(console_ring_skip_logged(r, UINT32_MAX - 90, 6), 2);
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), 2);
        assert_memory_equal(buf, "gh", 2);

        /* Everything logged was consumed: nothing to do. */
        guest_put(r, "xyz", 3);
        assert_int_equal(console_ring_read_out(r, buf, sizeof(buf)), 3);
        assert_int_equal(console_ring_skip_logged(r, r->out_cons - 3, 3), 0);
        assert_int_equal(console_ring_skip_logged(r, r->out_cons, 0), 0);
}

static void test_skip_logged_hostile(void **state) {
        struct console_ring *r = *state;
        uint32_t cons;

        r->out_cons = r->out_prod = 1000;
        guest_put(r, "abcd", 4);
        cons = r->out_cons;
        /* The log says more than the ring ever queued. */
        assert_int_equal(console_ring_skip_logged(r, 1000, 5), -EPROTO);
        /* More consumed than logged (cons_then after cons: from the future). */
        assert_int_equal(console_ring_skip_logged(r, 1001, 2), -EPROTO);
        assert_int_equal(console_ring_skip_logged(r, 1000, (uint64_t) UINT32_MAX + 2), -EPROTO);
        /* A corrupt ring. */
        r->out_prod = r->out_cons + CONSOLE_RING_OUT_SIZE + 1;
        assert_int_equal(console_ring_skip_logged(r, 1000, 1), -EPROTO);
        assert_int_equal(r->out_cons, cons);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_layout),
                cmocka_unit_test_setup_teardown(test_empty, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_simple, setup, teardown),
                cmocka_unit_test_setup_teardown(test_partial_reads, setup, teardown),
                cmocka_unit_test_setup_teardown(test_exactly_full, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrap_index_overflow, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_out, setup, teardown),
                cmocka_unit_test_setup_teardown(test_peek_consume, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_in, setup, teardown),
                cmocka_unit_test_setup_teardown(test_write_in_wrap, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hostile_in, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
                cmocka_unit_test_setup_teardown(test_skip_logged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_skip_logged_hostile, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
