/* test-log-stamp.c: lines of a console log dated as ?timestamps=1 answers
 * them, page by page into small buffers: every line stamped once, with the
 * time of its first byte, the raw bytes unchanged, nothing lost at a page's
 * edge, and "- " for bytes the index does not know. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "log-stamp.h"
#include "test-util.h"

#define SEC 1000000000LL
#define T0 (1764582000LL * SEC) /* 2025-12-01T09:40:00Z */

static int64_t now;

static int64_t test_clock(void *userdata) {
        (void) userdata;
        return now;
}

/* All of the log from offset, stamped through out buffers of out_max. */
static size_t stamp_all(struct console_log *l, uint64_t offset, size_t out_max, char *dst) {
        struct log_stamper st;
        uint8_t raw[256], out[256];
        size_t total = 0;

        log_stamper_init(&st, l);
        for (;;) {
                ssize_t n = console_log_read(l, offset, raw, sizeof(raw));
                size_t used, k = 0;

                assert_true(n >= 0);
                if (n == 0)
                        return total;
                /* The raw bytes go in as they fit, each out buffer full. */
                while (k < (size_t) n) {
                        size_t o = log_stamp_lines(&st, offset + k, raw + k, (size_t) n - k, out, out_max, &used);

                        assert_true(o > 0);
                        memcpy(dst + total, out, o);
                        total += o;
                        k += used;
                }
                offset += (uint64_t) n;
        }
}

static void test_stamps(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = NULL;
        char got[4096];
        size_t n;

        assert_int_equal(console_log_open(f->dfd, "console", &l), 0);
        /* Bytes from before the index knew anything: "- ". */
        console_log_set_clock(l, test_clock, NULL);
        now = T0;
        assert_int_equal(console_log_append(l, "first\nsec", 9), 0);
        now = T0 + SEC / 2;
        assert_int_equal(console_log_append(l, "ond\n", 4), 0);     /* same second */
        now = T0 + 3 * SEC + 250000000;
        assert_int_equal(console_log_append(l, "third\n\nfou", 10), 0);
        now = T0 + 4 * SEC;
        assert_int_equal(console_log_append(l, "rth", 3), 0);        /* a line's tail, later */

        static const char want[] = "2025-12-01T09:40:00.000Z first\n"
                                   "2025-12-01T09:40:00.000Z second\n"
                                   "2025-12-01T09:40:03.250Z third\n"
                                   "2025-12-01T09:40:03.250Z \n"
                                   "2025-12-01T09:40:03.250Z fourth";
        for (size_t out_max = 26; out_max <= 256; out_max += 23) {
                n = stamp_all(l, 0, out_max, got);
                assert_int_equal(n, strlen(want));
                assert_memory_equal(got, want, n);
        }
        /* From the middle of a line: that line's rest gets the stamp of its
         * first byte read. */
        n = stamp_all(l, 8, 256, got);
        got[n] = 0;
        assert_string_equal(got, "2025-12-01T09:40:00.000Z cond\n"
                                 "2025-12-01T09:40:03.250Z third\n"
                                 "2025-12-01T09:40:03.250Z \n"
                                 "2025-12-01T09:40:03.250Z fourth");
        console_log_free(l);
}

static void test_unknown_times(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = NULL;
        char got[256];
        size_t n;

        /* A log written before it had an index: its index is empty. */
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000000000.log", "old\nlines\n", 10, 0600), 0);
        assert_int_equal(console_log_open(f->dfd, "console", &l), 0);
        console_log_set_clock(l, test_clock, NULL);
        now = T0;
        assert_int_equal(console_log_append(l, "new\n", 4), 0);
        n = stamp_all(l, 0, 256, got);
        got[n] = 0;
        assert_string_equal(got, "- old\n- lines\n2025-12-01T09:40:00.000Z new\n");
        console_log_free(l);
}

/* A follower's stamper at the log's end: a line appended later gets its
 * own time, not that of the last line it stamped. */
static void test_stamps_at_the_end(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = NULL;
        struct log_stamper st;
        uint8_t out[128];
        size_t used, n;

        assert_int_equal(console_log_open(f->dfd, "console", &l), 0);
        console_log_set_clock(l, test_clock, NULL);
        log_stamper_init(&st, l);
        now = T0;
        assert_int_equal(console_log_append(l, "a\n", 2), 0);
        n = log_stamp_lines(&st, 0, (const uint8_t *) "a\n", 2, out, sizeof(out), &used);
        assert_int_equal(used, 2);
        assert_memory_equal(out, "2025-12-01T09:40:00.000Z a\n", n);
        now = T0 + 10 * SEC;
        assert_int_equal(console_log_append(l, "b\n", 2), 0);
        n = log_stamp_lines(&st, 2, (const uint8_t *) "b\n", 2, out, sizeof(out), &used);
        assert_memory_equal(out, "2025-12-01T09:40:10.000Z b\n", n);
        console_log_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_stamps, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_unknown_times, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_stamps_at_the_end, test_dir_setup, test_dir_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
