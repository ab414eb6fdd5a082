/* test-throttle.c: failed logins per address (throttle.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "throttle.h"

#define SEC 1000000ULL

static struct throttle_key v4(const char *text) {
        struct sockaddr_in sin = { .sin_family = AF_INET };

        assert_int_equal(inet_pton(AF_INET, text, &sin.sin_addr), 1);
        return throttle_key_of((struct sockaddr *) &sin);
}

static struct throttle_key v6(const char *text) {
        struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6 };

        assert_int_equal(inet_pton(AF_INET6, text, &sin6.sin6_addr), 1);
        return throttle_key_of((struct sockaddr *) &sin6);
}

/* Ten failures are let through; the eleventh attempt waits till the window
 * that began with the first is over, and no longer. */
static void test_eleventh_waits(void **state) {
        struct throttle *t = calloc(1, sizeof(*t));
        struct throttle_key a = v4("10.0.2.2"), b = v4("10.0.2.3");
        uint64_t t0 = 1000 * SEC;

        (void) state;
        for (int i = 0; i < THROTTLE_FAILURES; i++) {
                assert_int_equal(throttle_wait(t, &a, t0 + (uint64_t) i * SEC), 0);
                throttle_failed(t, &a, t0 + (uint64_t) i * SEC);
        }
        assert_int_equal(throttle_wait(t, &a, t0 + 10 * SEC), 50);
        assert_int_equal(throttle_wait(t, &a, t0 + 59 * SEC + 1), 1);
        assert_int_equal(throttle_wait(t, &b, t0 + 10 * SEC), 0);       /* another client */
        assert_int_equal(throttle_wait(t, &a, t0 + 60 * SEC), 0);
        /* A new window: one failure is not enough to wait. */
        throttle_failed(t, &a, t0 + 61 * SEC);
        assert_int_equal(throttle_wait(t, &a, t0 + 61 * SEC), 0);
        free(t);
}

/* IPv6 clients count by /64; IPv4-mapped ones as IPv4; unknown families
 * are one client. */
static void test_keys(void **state) {
        struct throttle_key a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff::9"), c = v6("2001:db8:1:3::1");
        struct throttle_key m = v6("::ffff:10.0.2.2"), four = v4("10.0.2.2"), none = throttle_key_of(NULL);

        (void) state;
        assert_memory_equal(&a, &b, sizeof(a));
        assert_memory_not_equal(&a, &c, sizeof(a));
        assert_memory_equal(&m, &four, sizeof(m));
        assert_int_equal(none.family, 0);
}

/* A full table: many addresses failing once cannot push out one that is
 * being refused; a finished window's place is taken first. */
static void test_full_table(void **state) {
        struct throttle *t = calloc(1, sizeof(*t));
        struct throttle_key bad = v4("192.0.2.1");
        uint64_t t0 = 5000 * SEC;

        (void) state;
        for (int i = 0; i < THROTTLE_FAILURES; i++)
                throttle_failed(t, &bad, t0);
        for (unsigned i = 0; i < 4 * THROTTLE_ADDRESSES; i++) {
                struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(0x0a000000u + i) };
                struct throttle_key k = throttle_key_of((struct sockaddr *) &sin);

                throttle_failed(t, &k, t0 + SEC);
        }
        assert_true(t->n <= THROTTLE_ADDRESSES);
        assert_true(throttle_wait(t, &bad, t0 + 2 * SEC) > 0);
        free(t);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_eleventh_waits),
                cmocka_unit_test(test_keys),
                cmocka_unit_test(test_full_table),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
