/* test-utf8.c: the strict UTF-8 validator, on the edges of every rule
 * (overlongs, surrogates, the end of Unicode, cut sequences) and fed in
 * pieces. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"

struct sample {
        const char *bytes;
        size_t len;
};

#define S(x) { x, sizeof(x) - 1 }

static const struct sample good[] = {
        S(""),
        S("plain ASCII, with \t and \x7f"),
        S("\x00"),                       /* NUL is a character */
        S("\xc2\x80"),                   /* U+0080, the first 2-byte one */
        S("\xdf\xbf"),                   /* U+07FF */
        S("\xe0\xa0\x80"),               /* U+0800, the first 3-byte one */
        S("\xed\x9f\xbf"),               /* U+D7FF, just below the surrogates */
        S("\xee\x80\x80"),               /* U+E000, just above them */
        S("\xef\xbf\xbf"),               /* U+FFFF */
        S("\xf0\x90\x80\x80"),           /* U+10000, the first 4-byte one */
        S("\xf4\x8f\xbf\xbf"),           /* U+10FFFF, the last one */
        S("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80"), /* hello with é, €, an emoji */
        S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"), /* RFC 6455 test string "κόσμε" */
};

static const struct sample bad[] = {
        S("\x80"),                       /* a lone continuation byte */
        S("\xbf"),
        S("a\x80z"),
        S("\xc0\x80"),                   /* overlong NUL */
        S("\xc0\xaf"),                   /* overlong '/' */
        S("\xc1\xbf"),                   /* overlong U+007F */
        S("\xe0\x80\xaf"),               /* overlong '/' in 3 bytes */
        S("\xe0\x9f\xbf"),               /* overlong U+07FF */
        S("\xf0\x80\x80\xaf"),           /* overlong '/' in 4 bytes */
        S("\xf0\x8f\xbf\xbf"),           /* overlong U+FFFF */
        S("\xed\xa0\x80"),               /* U+D800, a high surrogate */
        S("\xed\xbf\xbf"),               /* U+DFFF, a low surrogate */
        S("\xed\xa0\xbd\xed\xb8\x80"),   /* a surrogate pair, CESU-8 style */
        S("\xf4\x90\x80\x80"),           /* U+110000, past the end */
        S("\xf5\x80\x80\x80"),           /* lead bytes that cannot start anything */
        S("\xf7\xbf\xbf\xbf"),
        S("\xf8\x88\x80\x80\x80"),       /* old 5-byte form */
        S("\xfc\x84\x80\x80\x80\x80"),   /* old 6-byte form */
        S("\xfe"),
        S("\xff"),
        S("\xc2"),                       /* cut: 2-byte sequence missing its end */
        S("\xe2\x82"),                   /* cut: € without its last byte */
        S("\xf0\x9f\x98"),               /* cut: emoji without its last byte */
        S("\xc2\x41"),                   /* a continuation byte that is not one */
        S("\xe2\x28\xa1"),
        S("\xf0\x9f\x98\x41"),
        S("\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80" "edited"),
};

static void test_good(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
                if (!utf8_valid(good[i].bytes, good[i].len))
                        fail_msg("good sample %zu rejected", i);
        }
}

static void test_bad(void **state) {
        (void) state;
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                if (utf8_valid(bad[i].bytes, bad[i].len))
                        fail_msg("bad sample %zu accepted", i);
        }
}

/* The same verdict whatever the pieces: one byte at a time, and cut at every
 * point in two. */
static void test_pieces(void **state) {
        (void) state;
        for (int g = 0; g < 2; g++) {
                const struct sample *set = g ? bad : good;
                size_t count = g ? sizeof(bad) / sizeof(bad[0]) : sizeof(good) / sizeof(good[0]);

                for (size_t i = 0; i < count; i++) {
                        const uint8_t *p = (const uint8_t *) set[i].bytes;
                        size_t n = set[i].len;
                        struct utf8_state s = UTF8_STATE_INIT;
                        bool ok = true;

                        for (size_t j = 0; j < n && ok; j++)
                                ok = utf8_feed(&s, p + j, 1);
                        assert_int_equal(ok && utf8_complete(&s), !g);

                        for (size_t cut = 0; cut <= n; cut++) {
                                s = UTF8_STATE_INIT;
                                ok = utf8_feed(&s, p, cut) && utf8_feed(&s, p + cut, n - cut);
                                assert_int_equal(ok && utf8_complete(&s), !g);
                        }
                }
        }
}

/* A sequence cut short is incomplete, not wrong, until the stream ends. */
static void test_incomplete(void **state) {
        struct utf8_state s = UTF8_STATE_INIT;

        (void) state;
        assert_true(utf8_feed(&s, "\xf0\x9f", 2));
        assert_false(utf8_complete(&s));
        assert_true(utf8_feed(&s, "\x98", 1));
        assert_false(utf8_complete(&s));
        assert_true(utf8_feed(&s, "\x80", 1));
        assert_true(utf8_complete(&s));
        assert_false(utf8_valid("\xf0\x9f", 2));
}

/* Every code point from 0 to U+10FFFF, encoded by hand: exactly the
 * non-surrogates pass; every 2-, 3- and 4-byte overlong form of the small
 * ones fails. */
static size_t encode(uint32_t cp, uint8_t *out) {
        if (cp < 0x80) {
                out[0] = (uint8_t) cp;
                return 1;
        }
        if (cp < 0x800) {
                out[0] = (uint8_t) (0xc0 | cp >> 6);
                out[1] = (uint8_t) (0x80 | (cp & 0x3f));
                return 2;
        }
        if (cp < 0x10000) {
                out[0] = (uint8_t) (0xe0 | cp >> 12);
                out[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
                out[2] = (uint8_t) (0x80 | (cp & 0x3f));
                return 3;
        }
        out[0] = (uint8_t) (0xf0 | cp >> 18);
        out[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
        out[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
        out[3] = (uint8_t) (0x80 | (cp & 0x3f));
        return 4;
}

static void test_all_code_points(void **state) {
        uint8_t b[4];

        (void) state;
        for (uint32_t cp = 0; cp <= 0x10ffff; cp++) {
                size_t n = encode(cp, b);
                bool surrogate = cp >= 0xd800 && cp <= 0xdfff;

                if (utf8_valid(b, n) == surrogate)
                        fail_msg("U+%04X judged wrongly", cp);
        }
        /* Overlong forms: the longer encodings of code points that have a
         * shorter one. */
        for (uint32_t cp = 0; cp < 0x10000; cp += cp < 0x100 ? 1 : 0x3f) {
                uint8_t o[4];

                if (cp < 0x800) { /* as 3 bytes */
                        o[0] = 0xe0;
                        o[1] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
                        o[2] = (uint8_t) (0x80 | (cp & 0x3f));
                        assert_false(utf8_valid(o, 3));
                }
                if (cp < 0x80) { /* as 2 bytes */
                        o[0] = (uint8_t) (0xc0 | cp >> 6);
                        o[1] = (uint8_t) (0x80 | (cp & 0x3f));
                        assert_false(utf8_valid(o, 2));
                }
                /* as 4 bytes */
                o[0] = 0xf0;
                o[1] = (uint8_t) (0x80 | ((cp >> 12) & 0x3f));
                o[2] = (uint8_t) (0x80 | ((cp >> 6) & 0x3f));
                o[3] = (uint8_t) (0x80 | (cp & 0x3f));
                assert_false(utf8_valid(o, 4));
        }
        /* Past U+10FFFF with a valid-looking F4 lead. */
        for (uint32_t cp = 0x110000; cp < 0x140000; cp += 0x1001) {
                size_t n = encode(cp, b);

                assert_int_equal(n, 4);
                assert_false(utf8_valid(b, n));
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_good),
                cmocka_unit_test(test_bad),
                cmocka_unit_test(test_pieces),
                cmocka_unit_test(test_incomplete),
                cmocka_unit_test(test_all_code_points),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
