/* test-auth.c: the bearer header parser, the token check, the token file. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "auth.h"
#include "test-util.h"

#define TOKEN "0123456789abcdef-TOKEN"

static void test_parse(void **state) {
        (void) state;
        const char *t;
        size_t n;

        assert_int_equal(auth_parse_bearer("Bearer abc", &t, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(t, "abc", 3);

        /* The scheme is case-insensitive (RFC 7235 section 2.1). */
        assert_int_equal(auth_parse_bearer("bearer abc", &t, &n), 0);
        assert_int_equal(auth_parse_bearer("BEARER abc", &t, &n), 0);
        assert_int_equal(auth_parse_bearer("bEaReR abc", &t, &n), 0);

        /* Spaces around and between. */
        assert_int_equal(auth_parse_bearer("Bearer    abc", &t, &n), 0);
        assert_int_equal(n, 3);
        assert_int_equal(auth_parse_bearer("  Bearer abc  ", &t, &n), 0);
        assert_int_equal(n, 3);
        assert_memory_equal(t, "abc", 3);
        assert_int_equal(auth_parse_bearer("Bearer\tabc\t", &t, &n), 0);
        assert_int_equal(n, 3);

        /* base64-ish tokens with padding. */
        assert_int_equal(auth_parse_bearer("Bearer a+b/c==", &t, &n), 0);
        assert_int_equal(n, 7);
}

static void test_parse_rejects(void **state) {
        (void) state;
        const char *t;
        size_t n;

        assert_int_equal(auth_parse_bearer(NULL, &t, &n), -ENODATA);
        assert_int_equal(auth_parse_bearer("", &t, &n), -ENODATA);
        assert_int_equal(auth_parse_bearer("   ", &t, &n), -ENODATA);
        assert_int_equal(auth_parse_bearer("Basic dXNlcjpwYXNz", &t, &n), -EPROTONOSUPPORT);
        assert_int_equal(auth_parse_bearer("Bearerabc", &t, &n), -EPROTONOSUPPORT);
        assert_int_equal(auth_parse_bearer("Bear abc", &t, &n), -EPROTONOSUPPORT);
        assert_int_equal(auth_parse_bearer("Bearers abc", &t, &n), -EPROTONOSUPPORT);
        assert_int_equal(auth_parse_bearer("abc", &t, &n), -EPROTONOSUPPORT);
        assert_int_equal(auth_parse_bearer("Bearer", &t, &n), -EBADMSG);
        assert_int_equal(auth_parse_bearer("Bearer   ", &t, &n), -EBADMSG);
        assert_int_equal(auth_parse_bearer("Bearer a b", &t, &n), -EBADMSG);
        assert_int_equal(auth_parse_bearer("Bearer a\x01", &t, &n), -EBADMSG);
        assert_int_equal(auth_parse_bearer("Bearer a\x7f", &t, &n), -EBADMSG);
        assert_int_equal(auth_parse_bearer("Bearer \xc3\xa9t\xc3\xa9", &t, &n), -EBADMSG);
}

static struct auth *make(const char *token) {
        struct auth *a = NULL;

        assert_int_equal(auth_new(token, strlen(token), &a, NULL), 0);
        return a;
}

static void test_check(void **state) {
        (void) state;
        struct auth *a = make(TOKEN);
        char big[AUTH_TOKEN_MAX + 64];

        assert_true(auth_check(a, "Bearer " TOKEN));
        assert_true(auth_check(a, "bearer " TOKEN));
        assert_true(auth_check(a, "  BEARER   " TOKEN "  "));

        assert_false(auth_check(a, NULL));
        assert_false(auth_check(a, ""));
        assert_false(auth_check(a, "Bearer"));
        assert_false(auth_check(a, "Basic " TOKEN));
        assert_false(auth_check(a, TOKEN));
        /* Prefixes and suffixes of the token, and one character off at either end. */
        assert_false(auth_check(a, "Bearer 0123456789abcdef-TOKE"));
        assert_false(auth_check(a, "Bearer 0"));
        assert_false(auth_check(a, "Bearer " TOKEN "N"));
        assert_false(auth_check(a, "Bearer " TOKEN TOKEN));
        assert_false(auth_check(a, "Bearer x" TOKEN));
        assert_false(auth_check(a, "Bearer 1123456789abcdef-TOKEN"));
        assert_false(auth_check(a, "Bearer 0123456789abcdef-TOKEn"));
        assert_false(auth_check(a, "Bearer " TOKEN " extra"));

        /* Longer than any token can be. */
        strcpy(big, "Bearer ");
        memset(big + 7, 'a', sizeof(big) - 8);
        big[sizeof(big) - 1] = '\0';
        assert_false(auth_check(a, big));

        assert_false(auth_check(NULL, "Bearer " TOKEN));
        auth_free(a);
}

static void test_check_max_length(void **state) {
        (void) state;
        char token[AUTH_TOKEN_MAX + 1], header[AUTH_TOKEN_MAX + 16];
        struct auth *a;

        memset(token, 'z', AUTH_TOKEN_MAX);
        token[AUTH_TOKEN_MAX] = '\0';
        a = make(token);
        snprintf(header, sizeof(header), "Bearer %s", token);
        assert_true(auth_check(a, header));
        header[strlen(header) - 1] = 'y';
        assert_false(auth_check(a, header));
        auth_free(a);
}

static void test_new_rejects(void **state) {
        (void) state;
        struct auth *a = NULL;
        char big[AUTH_TOKEN_MAX + 2];
        struct error why = { 0 };

        assert_int_equal(auth_new("short", 5, &a, &why), -EINVAL);
        assert_non_null(strstr(why.message, "shorter"));
        assert_int_equal(auth_new("0123456789abcde", 15, &a, &why), -EINVAL);
        assert_int_equal(auth_new("0123456789 abcdef", 17, &a, &why), -EINVAL);
        assert_non_null(strstr(why.message, "spaces"));
        assert_int_equal(auth_new("0123456789abcdef\n", 17, &a, &why), -EINVAL);
        memset(big, 'a', sizeof(big));
        assert_int_equal(auth_new(big, sizeof(big), &a, &why), -E2BIG);
        assert_null(a);
        assert_int_equal(auth_new("0123456789abcdef", 16, &a, &why), 0);
        assert_non_null(a);
        assert_null(auth_free(a));
        assert_null(auth_free(NULL));
}

static int setup(void **state) {
        char *root = test_mkdtemp();

        if (!root)
                return -1;
        *state = root;
        return 0;
}

static int teardown(void **state) {
        test_rm_rf(*state);
        free(*state);
        return 0;
}

/* Writes the token file and loads it; returns auth_new_from_file()'s result. */
static int load(const char *root, const char *content, size_t size, mode_t mode, struct auth **a, struct error *why) {
        char path[4096];

        assert_int_equal(test_write_file(root, "token", content, size, mode), 0);
        snprintf(path, sizeof(path), "%s/token", root);
        *a = NULL;
        return auth_new_from_file(path, a, why);
}

static void test_file(void **state) {
        const char *root = *state;
        struct auth *a;
        struct error why = { 0 };

        /* Trailing whitespace and newlines go; the rest is the token. */
        assert_int_equal(load(root, TOKEN "\n", strlen(TOKEN) + 1, 0600, &a, &why), 0);
        assert_true(auth_check(a, "Bearer " TOKEN));
        assert_false(auth_check(a, "Bearer " TOKEN "\n"));
        auth_free(a);

        assert_int_equal(load(root, TOKEN " \t\r\n\n", strlen(TOKEN) + 5, 0400, &a, &why), 0);
        assert_true(auth_check(a, "Bearer " TOKEN));
        auth_free(a);

        assert_int_equal(load(root, TOKEN, strlen(TOKEN), 0600, &a, &why), 0);
        assert_true(auth_check(a, "Bearer " TOKEN));
        auth_free(a);
}

static void test_file_rejects(void **state) {
        const char *root = *state;
        char path[4096], big[AUTH_TOKEN_FILE_MAX + 10];
        struct auth *a;
        struct error why = { 0 };

        assert_int_equal(load(root, TOKEN, strlen(TOKEN), 0640, &a, &why), -EPERM);
        assert_non_null(strstr(why.message, "group or other"));
        assert_null(a);
        assert_int_equal(load(root, TOKEN, strlen(TOKEN), 0604, &a, &why), -EPERM);
        assert_int_equal(load(root, TOKEN, strlen(TOKEN), 0610, &a, &why), -EPERM);
        assert_int_equal(load(root, TOKEN, strlen(TOKEN), 0601, &a, &why), -EPERM);

        assert_int_equal(load(root, "", 0, 0600, &a, &why), -ENODATA);
        assert_non_null(strstr(why.message, "empty"));
        assert_int_equal(load(root, " \n\n\t", 4, 0600, &a, &why), -ENODATA);
        assert_int_equal(load(root, "abc\n", 4, 0600, &a, &why), -EINVAL);
        assert_non_null(strstr(why.message, "shorter than 16"));
        assert_int_equal(load(root, "0123456789abcde\n", 16, 0600, &a, &why), -EINVAL);
        assert_int_equal(load(root, "0123456789\nabcdef\n", 18, 0600, &a, &why), -EINVAL);
        assert_int_equal(load(root, "0123456789\0abcdef", 17, 0600, &a, &why), -EINVAL);

        memset(big, 'a', sizeof(big));
        assert_int_equal(load(root, big, sizeof(big), 0600, &a, &why), -EFBIG);
        assert_int_equal(load(root, big, AUTH_TOKEN_MAX + 1, 0600, &a, &why), -E2BIG);

        snprintf(path, sizeof(path), "%s/missing", root);
        assert_int_equal(auth_new_from_file(path, &a, &why), -ENOENT);
        assert_true(why.message[0] != 0);

        assert_int_equal(auth_new_from_file(root, &a, &why), -EINVAL);
        assert_non_null(strstr(why.message, "regular file"));
        assert_null(a);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_parse),
                cmocka_unit_test(test_parse_rejects),
                cmocka_unit_test(test_check),
                cmocka_unit_test(test_check_max_length),
                cmocka_unit_test(test_new_rejects),
                cmocka_unit_test_setup_teardown(test_file, setup, teardown),
                cmocka_unit_test_setup_teardown(test_file_rejects, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
