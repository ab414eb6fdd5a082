/* test-timestamp.c: RFC 3339 written and read back, offsets, fractions,
 * relative times, and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "timestamp.h"

#define NS 1000000000LL

static void test_format(void **state) {
        char b[TIMESTAMP_MAX];

        (void) state;
        timestamp_format(0, b);
        assert_string_equal(b, "1970-01-01T00:00:00.000Z");
        timestamp_format(1764582017LL * NS + 123456789, b);
        assert_string_equal(b, "2025-12-01T09:40:17.123Z");
        timestamp_format(951782400LL * NS, b); /* a leap day */
        assert_string_equal(b, "2000-02-29T00:00:00.000Z");
        timestamp_format(7258118399LL * NS + 999 * 1000000LL, b);
        assert_string_equal(b, "2199-12-31T23:59:59.999Z");
}

static void test_parse(void **state) {
        int64_t t = 0, now = 1764582017LL * NS;

        (void) state;
        assert_int_equal(timestamp_parse("2025-12-01T09:40:17Z", 0, &t), 0);
        assert_int_equal(t, 1764582017LL * NS);
        assert_int_equal(timestamp_parse("2025-12-01t09:40:17.5z", 0, &t), 0);
        assert_int_equal(t, 1764582017LL * NS + NS / 2);
        assert_int_equal(timestamp_parse("2025-12-01T10:40:17.123456789123+01:00", 0, &t), 0);
        assert_int_equal(t, 1764582017LL * NS + 123456789);
        assert_int_equal(timestamp_parse("2025-12-01T04:10:17-05:30", 0, &t), 0);
        assert_int_equal(t, 1764582017LL * NS);
        assert_int_equal(timestamp_parse("2000-02-29T00:00:00Z", 0, &t), 0);
        assert_int_equal(t, 951782400LL * NS);
        /* Written, then read back. */
        {
                char b[TIMESTAMP_MAX];

                timestamp_format(now + 42 * 1000000LL, b);
                assert_int_equal(timestamp_parse(b, 0, &t), 0);
                assert_int_equal(t, now + 42 * 1000000LL);
        }
        /* Relative to now. */
        assert_int_equal(timestamp_parse("-5m", now, &t), 0);
        assert_int_equal(t, now - 300 * NS);
        assert_int_equal(timestamp_parse("-90s", now, &t), 0);
        assert_int_equal(t, now - 90 * NS);
        assert_int_equal(timestamp_parse("-2h", now, &t), 0);
        assert_int_equal(t, now - 7200 * NS);
        assert_int_equal(timestamp_parse("-1d", now, &t), 0);
        assert_int_equal(t, now - 86400 * NS);
}

static void test_refused(void **state) {
        static const char *const bad[] = {
                "", "-", "-5", "-m", "-5x", "-5mm", "5m", "-99999999999999999999d",
                "2025-12-01", "2025-12-01T09:40:17", "2025-12-01T09:40:17+0100", "2025-12-01T09:40:17Zx",
                "2025-13-01T00:00:00Z", "2025-02-29T00:00:00Z", "2025-12-32T00:00:00Z", "2025-12-01T24:00:00Z",
                "2025-12-01T09:60:00Z", "1969-12-31T23:59:59Z", "2025-12-01T09:40:17.Z", "2025-12-01T09:40:17+24:00",
                "1970-01-01T00:00:00+00:01", "x025-12-01T09:40:17Z", "2263-01-01T00:00:00Z",
        };
        int64_t t;

        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                int r = timestamp_parse(bad[i], 1764582017LL * NS, &t);

                if (r != -EINVAL)
                        fail_msg("%s was accepted", bad[i]);
        }
        assert_int_equal(timestamp_parse(NULL, 0, &t), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_format),
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_refused),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
