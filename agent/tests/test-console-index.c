/* test-console-index.c: a console log's time index on a clock the test
 * moves: marks at most once a second, lookups by time to the second, boots
 * with how they ended, a clock that steps back, trimming with the log's
 * budget, and an index that survives reopening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "console-index.h"
#include "console-log.h"
#include "test-util.h"

#define SEC 1000000000LL
#define T0 (1764582000LL * SEC) /* 2025-12-01T09:40:00Z */

static int64_t now;

static int64_t test_clock(void *userdata) {
        (void) userdata;
        return now;
}

static struct console_log *open_log(struct test_dir *f) {
        struct console_log *l = NULL;

        assert_int_equal(console_log_open(f->dfd, "console", &l), 0);
        console_log_set_clock(l, test_clock, NULL);
        return l;
}

static void put(struct console_log *l, const char *s) {
        assert_int_equal(console_log_append(l, s, strlen(s)), 0);
}

static uint64_t since(struct console_log *l, int64_t t) {
        uint64_t o = UINT64_MAX;

        assert_int_equal(console_log_offset_since(l, t, &o), 0);
        return o;
}

static uint64_t until(struct console_log *l, int64_t t) {
        uint64_t o = UINT64_MAX;

        assert_int_equal(console_log_offset_until(l, t, &o), 0);
        return o;
}

static void test_marks_and_lookups(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        int64_t t;
        uint64_t next;

        /* An empty index knows nothing. */
        assert_int_equal(console_log_offset_since(l, T0, &(uint64_t) { 0 }), -ENOENT);
        assert_int_equal(console_log_time_of(l, 0, &t, &next), -ENOENT);

        now = T0;
        put(l, "a\n");                  /* [0, 2) at T0: a mark */
        now = T0 + SEC / 2;
        put(l, "b\n");                  /* [2, 4) within the second: no mark */
        now = T0 + 10 * SEC;
        put(l, "c\n");                  /* [4, 6) at T0+10: a mark */
        now = T0 + 20 * SEC + 1;
        put(l, "d\n");                  /* [6, 8) at T0+20 */

        assert_int_equal(console_log_time_of(l, 0, &t, &next), 0);
        assert_int_equal(t, T0);
        assert_int_equal(console_log_time_of(l, 3, &t, &next), 0);
        assert_int_equal(t, T0);
        assert_int_equal(next, 4); /* T0 holds up to the next mark */
        assert_int_equal(console_log_time_of(l, 4, &t, &next), 0);
        assert_int_equal(t, T0 + 10 * SEC);

        assert_int_equal(since(l, T0 - SEC), 0);        /* before everything */
        assert_int_equal(since(l, T0), 0);
        assert_int_equal(since(l, T0 + SEC / 4), 0);    /* within the first second: from its start */
        assert_int_equal(since(l, T0 + 5 * SEC), 4);    /* between: from the next mark */
        assert_int_equal(since(l, T0 + 10 * SEC), 4);
        assert_int_equal(since(l, T0 + 15 * SEC), 6);
        assert_int_equal(since(l, T0 + 60 * SEC), 8);   /* after everything: the end */

        assert_int_equal(until(l, T0 - SEC), 0);
        assert_int_equal(until(l, T0), 4);              /* a..b came within T0's second */
        assert_int_equal(until(l, T0 + 10 * SEC), 6);
        assert_int_equal(until(l, T0 + 60 * SEC), 8);
        console_log_free(l);

        /* Reopened: the same answers. */
        l = open_log(f);
        assert_int_equal(since(l, T0 + 5 * SEC), 4);
        assert_int_equal(console_log_time_of(l, 7, &t, &next), 0);
        assert_int_equal(t, T0 + 20 * SEC); /* kept to the millisecond */
        assert_int_equal(next, UINT64_MAX);
        console_log_free(l);
}

static void test_clock_steps_back(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        int64_t t;
        uint64_t next;

        now = T0 + 100 * SEC;
        put(l, "late\n");
        now = T0;                       /* the clock stepped back an hour */
        put(l, "early\n");
        assert_int_equal(console_log_time_of(l, 5, &t, &next), 0);
        assert_int_equal(t, T0 + 100 * SEC); /* never before what came first */
        now = T0 + 102 * SEC;
        put(l, "x\n");
        assert_int_equal(since(l, T0 + 101 * SEC + SEC / 2), 11);
        console_log_free(l);
}

static void test_boots(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        struct console_index_boot *b = NULL;
        size_t n = 0;

        now = T0;
        assert_int_equal(console_log_boot_begin(l, 1), 0);
        put(l, "boot one\n");
        now = T0 + 5 * SEC;
        assert_int_equal(console_log_boot_end(l, 1, 2), 0);
        assert_int_equal(console_log_rotate(l), 0);
        now = T0 + 6 * SEC;
        assert_int_equal(console_log_boot_begin(l, 2), 0);
        put(l, "two\n");
        /* Boot 2 never recorded its end (the agent died), boot 3 began. */
        now = T0 + 9 * SEC;
        assert_int_equal(console_log_boot_begin(l, 3), 0);
        put(l, "three\n");

        assert_int_equal(console_log_boots(l, &b, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(b[0].boot, 1);
        assert_int_equal(b[0].start_offset, 0);
        assert_int_equal(b[0].end_offset, 9);
        assert_int_equal(b[0].start_ns, T0);
        assert_int_equal(b[0].end_ns, T0 + 5 * SEC);
        assert_int_equal(b[0].exit, 2);
        assert_int_equal(b[1].boot, 2);
        assert_int_equal(b[1].start_offset, 9);
        assert_int_equal(b[1].end_offset, 13);
        assert_int_equal(b[1].end_ns, 0);
        assert_int_equal(b[1].exit, -1);
        assert_int_equal(b[2].boot, 3);
        assert_int_equal(b[2].start_offset, 13);
        assert_int_equal(b[2].end_offset, 19); /* running: the log's end */
        assert_int_equal(b[2].exit, -1);
        free(b);
        console_log_free(l);

        /* The boots kept in memory are read back from the file at open. */
        l = open_log(f);
        assert_int_equal(console_log_boots(l, &b, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(b[0].end_ns, T0 + 5 * SEC);
        assert_int_equal(b[0].exit, 2);
        assert_int_equal(b[1].end_offset, 13);
        assert_int_equal(b[2].start_ns, T0 + 9 * SEC);
        free(b);
        console_log_free(l);
}

/* With a budget, the index follows the log: boots whose bytes were removed
 * go, and a chatty console's marks are thinned to stay within bounds. */
static void test_trim(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        struct console_index_boot *b = NULL;
        char line[4096];
        size_t n = 0;
        int64_t t;
        uint64_t next;

        memset(line, 'x', sizeof(line) - 2);
        line[sizeof(line) - 2] = '\n';
        line[sizeof(line) - 1] = 0;
        console_log_set_budget(l, CONSOLE_LOG_BUDGET_MIN);
        now = T0;
        assert_int_equal(console_log_boot_begin(l, 1), 0);
        /* 200 KiB, one line a second: more than the budget and the index's
         * minimum (64 KiB: 2730 records) is not reached, so only the records
         * of removed segments go. */
        for (int i = 0; i < 50; i++) {
                now = T0 + i * SEC;
                put(l, line);
        }
        assert_int_equal(console_log_boot_end(l, 1, 1), 0);
        assert_int_equal(console_log_rotate(l), 0);
        assert_int_equal(console_log_boot_begin(l, 2), 0);
        for (int i = 50; i < 100; i++) {
                now = T0 + i * SEC;
                put(l, line);
        }
        assert_true(console_log_start(l) > 50 * 4095); /* boot 1's bytes are gone */
        assert_int_equal(console_log_boots(l, &b, &n), 0);
        assert_int_equal(n, 1);
        assert_int_equal(b[0].boot, 2);
        free(b);
        /* The first byte held is still dated. */
        assert_int_equal(console_log_time_of(l, console_log_start(l), &t, &next), 0);
        assert_true(t >= T0 + 50 * SEC && t <= T0 + 99 * SEC);
        console_log_free(l);
}

/* Unbounded by the budget, the index still stays within its minimum size:
 * a mark every second for 10000 seconds is thinned. */
static void test_thin(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        int64_t t;
        uint64_t next;

        console_log_set_budget(l, CONSOLE_LOG_BUDGET_MIN);
        for (int i = 0; i < 10000; i++) {
                now = T0 + i * SEC;
                put(l, ".");
        }
        assert_int_equal(console_log_end(l), 10000);
        /* Lookups still answer, less precisely for old bytes. */
        assert_int_equal(console_log_time_of(l, 9999, &t, &next), 0);
        assert_int_equal(t, T0 + 9999 * SEC);
        assert_true(since(l, T0 + 5000 * SEC) <= 5000);
        assert_true(until(l, T0 + 5000 * SEC) >= 5001);
        console_log_free(l);
        {
                struct console_index *x = NULL;
                int dfd = openat(f->dfd, "console", O_RDONLY | O_DIRECTORY);

                assert_true(dfd >= 0);
                assert_int_equal(console_index_open(dfd, &x), 0);
                assert_true(console_index_bytes(x) <= CONSOLE_INDEX_MIN_BYTES + 24);
                console_index_free(x);
                close(dfd);
        }
}

/* Boots and ends alone above the index's limit: it is not rewritten at
 * every append (its inode would change each time). */
static void test_boots_above_the_limit(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        struct stat st;
        ino_t ino;
        int rewrites = 0;

        console_log_set_budget(l, CONSOLE_LOG_BUDGET_MIN);
        now = T0;
        for (uint32_t b = 1; b <= 3000; b++) {
                assert_int_equal(console_log_boot_begin(l, b), 0);
                put(l, "x");
                assert_int_equal(console_log_boot_end(l, b, 1), 0);
        }
        assert_int_equal(fstatat(f->dfd, "console/index", &st, 0), 0);
        ino = st.st_ino;
        for (int i = 0; i < 100; i++) {
                put(l, "y");
                assert_int_equal(fstatat(f->dfd, "console/index", &st, 0), 0);
                if (st.st_ino != ino)
                        rewrites++, ino = st.st_ino;
        }
        assert_true(rewrites <= 1);
        console_log_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_marks_and_lookups, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_clock_steps_back, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_boots, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_trim, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_thin, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_boots_above_the_limit, test_dir_setup, test_dir_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
