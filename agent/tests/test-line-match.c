/* test-line-match.c: a pattern found in a byte stream fed in pieces of any
 * size (line-match.c): literal and regular, split anywhere, within a line
 * only, in long lines, after skipped bytes; the line as JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "line-match.h"

/* Feeds text in pieces of `step` bytes from offset `from`; returns whether
 * it was found and where. */
static bool feed(const char *pattern, bool regex, const char *text, size_t len, size_t step, uint64_t from,
                 uint64_t *off, uint64_t *end) {
        struct line_match m;
        char why[128];
        bool found = false;

        assert_int_equal(line_match_init(&m, pattern, regex, from, why, sizeof(why)), 0);
        for (size_t i = 0; i < len && !found; i += step)
                found = line_match_take(&m, text + i, len - i < step ? len - i : step, off, end);
        line_match_done(&m);
        return found;
}

static void test_literal_split_anywhere(void **state) {
        const char text[] = "boot...\nDebian login: ";
        uint64_t off, end;

        (void) state;
        for (size_t step = 1; step <= sizeof(text); step++) {
                assert_true(feed("login:", false, text, sizeof(text) - 1, step, 100, &off, &end));
                assert_int_equal(off, 100 + 15);
                assert_int_equal(end, 100 + 21);
        }
        /* Never across a newline. */
        assert_false(feed("ab", false, "xa\nbx\n", 6, 1, 0, &off, &end));
        assert_false(feed("nope", false, text, sizeof(text) - 1, 3, 0, &off, &end));
}

static void test_regex(void **state) {
        const char text[] = "[    1.0] Kernel panic - not syncing: VFS\n";
        uint64_t off, end;

        (void) state;
        assert_true(feed("panic - .*: [A-Z]+$", true, text, sizeof(text) - 1, 5, 0, &off, &end));
        assert_int_equal(off, 17);
        assert_int_equal(end, 41);
        /* $ is the end of a line (its newline), not of what came so far. */
        assert_false(feed("[a-z]+$", true, "abc", 3, 1, 0, &off, &end));
        assert_true(feed("[a-z]+$", true, "abc\n", 4, 1, 0, &off, &end));
        assert_int_equal(end, 3);
        /* ^ is the start of a line, not of a piece. */
        assert_true(feed("^login", true, "xx\nlogin", 8, 1, 0, &off, &end));
        assert_int_equal(off, 3);
        assert_false(feed("^login", true, "xxlogin", 7, 1, 0, &off, &end));
        /* A NUL in the line does not end it. */
        assert_true(feed("b+c", true, "a\0bbc", 5, 2, 0, &off, &end));
        assert_int_equal(off, 2);
}

static void test_bad_patterns(void **state) {
        struct line_match m;
        char why[128] = "", big[LINE_MATCH_PATTERN_MAX + 2];

        (void) state;
        assert_int_equal(line_match_init(&m, "(", true, 0, why, sizeof(why)), -EINVAL);
        assert_true(why[0] != '\0');
        /* What would let a client stall the agent: back-references, intervals. */
        assert_int_equal(line_match_init(&m, "(a|aa)*\\1b", true, 0, why, sizeof(why)), -EINVAL);
        assert_int_equal(line_match_init(&m, "((a{1,30}){1,30}){1,30}", true, 0, why, sizeof(why)), -EINVAL);
        /* An escaped brace or backslash is a literal, and fine. */
        assert_int_equal(line_match_init(&m, "a\\{b\\\\1", true, 0, why, sizeof(why)), 0);
        line_match_done(&m);
        /* A literal pattern may hold anything. */
        assert_int_equal(line_match_init(&m, "x{1}\\1", false, 0, why, sizeof(why)), 0);
        line_match_done(&m);
        assert_int_equal(line_match_init(&m, "", false, 0, why, sizeof(why)), -EINVAL);
        assert_int_equal(line_match_init(&m, "a\nb", false, 0, why, sizeof(why)), -EINVAL);
        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        assert_int_equal(line_match_init(&m, big, false, 0, why, sizeof(why)), -EINVAL);
}

static void test_long_lines(void **state) {
        static char text[3 * LINE_MATCH_LINE_MAX];
        uint64_t off, end;

        (void) state;
        /* A pattern across a window's edge is still found (windows overlap). */
        memset(text, 'x', sizeof(text));
        memcpy(text + LINE_MATCH_LINE_MAX - 3, "needle", 6);
        assert_true(feed("needle", false, text, sizeof(text), 1000, 7, &off, &end));
        assert_int_equal(off, 7 + LINE_MATCH_LINE_MAX - 3);
        memset(text, 'x', sizeof(text));
        memcpy(text + 2 * LINE_MATCH_LINE_MAX + 100, "needle", 6);
        assert_true(feed("needle", false, text, sizeof(text), 333, 0, &off, &end));
        assert_int_equal(off, 2 * LINE_MATCH_LINE_MAX + 100);
        /* ^ is a line's start, not a window's. */
        memset(text, 'x', sizeof(text));
        memcpy(text + LINE_MATCH_REGEX_LINE_MAX * 3 / 4, "root#", 5);
        assert_false(feed("^root#", true, text, sizeof(text), 500, 0, &off, &end));
        text[LINE_MATCH_LINE_MAX] = '\n';
        memcpy(text + LINE_MATCH_LINE_MAX + 1, "root#", 5);
        assert_true(feed("^root#", true, text, sizeof(text), 500, 0, &off, &end));
        assert_int_equal(off, LINE_MATCH_LINE_MAX + 1);
        /* A regular expression's windows are smaller, and overlap too. */
        memset(text, 'x', sizeof(text));
        memcpy(text + LINE_MATCH_REGEX_LINE_MAX - 2, "ab+c", 4);
        memcpy(text + LINE_MATCH_REGEX_LINE_MAX - 2, "abbc", 4);
        assert_true(feed("ab+c", true, text, sizeof(text), 100, 0, &off, &end));
        assert_int_equal(off, LINE_MATCH_REGEX_LINE_MAX - 2);
}

static void test_restart(void **state) {
        struct line_match m;
        char why[64];
        uint64_t off, end;

        (void) state;
        assert_int_equal(line_match_init(&m, "abcd", false, 0, why, sizeof(why)), 0);
        assert_false(line_match_take(&m, "ab", 2, &off, &end));
        /* Bytes were skipped: what came before is not the same line. */
        line_match_restart(&m, 50);
        assert_false(line_match_take(&m, "cd", 2, &off, &end));
        assert_true(line_match_take(&m, " abcd", 5, &off, &end));
        assert_int_equal(off, 53);
        line_match_done(&m);
}

static void test_whole_lines(void **state) {
        struct line_match m;
        char why[64];
        uint64_t off, end;

        (void) state;
        assert_int_equal(line_match_init(&m, "panic", false, 0, why, sizeof(why)), 0);
        line_match_set_whole_lines(&m, true);
        /* Found once the line is whole, with all of it. */
        assert_false(line_match_take(&m, "Kernel panic - not", 18, &off, &end));
        assert_true(line_match_take(&m, " syncing\nnext", 13, &off, &end));
        assert_int_equal(off, 7);
        assert_int_equal(m.line_len, strlen("Kernel panic - not syncing"));
        line_match_done(&m);
}

static void test_line_json(void **state) {
        struct line_match m;
        char why[64];
        uint64_t off, end;
        json_t *j;
        static const char text[] = "prev\n\xc3\xa9 \xff\x00 ok\r";

        (void) state;
        assert_int_equal(line_match_init(&m, "ok", false, 0, why, sizeof(why)), 0);
        assert_true(line_match_take(&m, text, sizeof(text) - 1, &off, &end));
        assert_int_equal(off, 11);
        j = line_match_line_json(&m, LINE_MATCH_LINE_MAX);
        assert_non_null(j);
        /* é stays, 0xff and NUL become U+FFFD. */
        assert_string_equal(json_string_value(j), "\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd ok");
        json_decref(j);
        line_match_done(&m);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_literal_split_anywhere),
                cmocka_unit_test(test_regex),
                cmocka_unit_test(test_bad_patterns),
                cmocka_unit_test(test_long_lines),
                cmocka_unit_test(test_restart),
                cmocka_unit_test(test_whole_lines),
                cmocka_unit_test(test_line_json),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
