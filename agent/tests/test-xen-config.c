/* test-xen-config.c: the Kconfig parser, on real and on hostile text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xen-config.h"

static struct xen_config *parse_n(const char *text, size_t len) {
        struct xen_config *c = NULL;

        assert_int_equal(xen_config_parse(text, len, &c), 0);
        assert_non_null(c);
        return c;
}

static struct xen_config *parse(const char *text) {
        return parse_n(text, strlen(text));
}

/* What `make olddefconfig` writes for the bundled hypervisor, abridged. */
static const char bundled[] =
        "#\n"
        "# Automatically generated file; DO NOT EDIT.\n"
        "# Xen/arm 4.17.5 Configuration\n"
        "#\n"
        "CONFIG_CC_IS_GCC=y\n"
        "CONFIG_GCC_VERSION=120200\n"
        "CONFIG_ARM_64=y\n"
        "CONFIG_ARM=y\n"
        "CONFIG_ARCH_DEFCONFIG=\"arch/arm/configs/arm64_defconfig\"\n"
        "\n"
        "#\n"
        "# Architecture Features\n"
        "#\n"
        "CONFIG_ACPI=y\n"
        "# CONFIG_GICV3 is not set\n"
        "CONFIG_NEW_VGIC=y\n"
        "CONFIG_SBSA_VUART_CONSOLE=y\n"
        "CONFIG_NR_CPUS=128\n"
        "CONFIG_HYPFS=y\n"
        "CONFIG_HYPFS_CONFIG=y\n"
        "# CONFIG_DEBUG is not set\n";

static void test_bundled(void **state) {
        (void) state;
        struct xen_config *c = parse(bundled);

        assert_true(xen_config_enabled(c, "NEW_VGIC"));
        assert_true(xen_config_enabled(c, "ACPI"));
        assert_true(xen_config_enabled(c, "SBSA_VUART_CONSOLE"));
        assert_false(xen_config_enabled(c, "GICV3"));
        assert_null(xen_config_get(c, "GICV3"));
        assert_false(xen_config_enabled(c, "DEBUG"));
        assert_string_equal(xen_config_get(c, "NR_CPUS"), "128");
        assert_false(xen_config_enabled(c, "NR_CPUS"));
        assert_string_equal(xen_config_get(c, "ARCH_DEFCONFIG"), "arch/arm/configs/arm64_defconfig");
        assert_int_equal(xen_config_count(c), 13);
        xen_config_free(c);
}

static void test_absent(void **state) {
        (void) state;
        struct xen_config *c = parse("CONFIG_A=y\n");

        assert_false(xen_config_enabled(c, "B"));
        assert_null(xen_config_get(c, "B"));
        /* Names are looked up without the prefix; the prefixed form is not a name. */
        assert_null(xen_config_get(c, "CONFIG_A"));
        assert_false(xen_config_enabled(c, ""));
        assert_false(xen_config_enabled(c, NULL));
        assert_false(xen_config_enabled(NULL, "A"));
        xen_config_free(c);
}

static void test_empty(void **state) {
        (void) state;
        struct xen_config *c = parse_n(NULL, 0);

        assert_int_equal(xen_config_count(c), 0);
        assert_false(xen_config_enabled(c, "ACPI"));
        xen_config_free(c);

        c = parse("\n\n\n");
        assert_int_equal(xen_config_count(c), 0);
        xen_config_free(c);
}

static void test_no_trailing_newline(void **state) {
        (void) state;
        struct xen_config *c = parse("CONFIG_A=y\nCONFIG_B=y");

        assert_true(xen_config_enabled(c, "A"));
        assert_true(xen_config_enabled(c, "B"));
        xen_config_free(c);

        c = parse("# CONFIG_A is not set");
        assert_int_equal(xen_config_count(c), 1);
        assert_false(xen_config_enabled(c, "A"));
        xen_config_free(c);
}

static void test_crlf(void **state) {
        (void) state;
        struct xen_config *c = parse("CONFIG_A=y\r\n# CONFIG_B is not set\r\nCONFIG_S=\"x y\"\r\nCONFIG_C=y\r");

        assert_true(xen_config_enabled(c, "A"));
        assert_int_equal(xen_config_count(c), 4);
        assert_null(xen_config_get(c, "B"));
        assert_string_equal(xen_config_get(c, "S"), "x y");
        assert_true(xen_config_enabled(c, "C"));
        xen_config_free(c);
}

static void test_last_wins(void **state) {
        (void) state;
        struct xen_config *c = parse("CONFIG_A=y\n# CONFIG_A is not set\n# CONFIG_B is not set\nCONFIG_B=y\n"
                                     "CONFIG_N=1\nCONFIG_N=2\n");

        assert_false(xen_config_enabled(c, "A"));
        assert_true(xen_config_enabled(c, "B"));
        assert_string_equal(xen_config_get(c, "N"), "2");
        xen_config_free(c);
}

static void test_values(void **state) {
        (void) state;
        struct xen_config *c = parse("CONFIG_M=m\n"
                                     "CONFIG_N=n\n"
                                     "CONFIG_YES=yes\n"
                                     "CONFIG_HEX=0x1f\n"
                                     "CONFIG_NEG=-3\n"
                                     "CONFIG_S=\"a\\\"b\\\\c\"\n"
                                     "CONFIG_EMPTY=\"\"\n");

        assert_false(xen_config_enabled(c, "M"));
        assert_string_equal(xen_config_get(c, "M"), "m");
        assert_false(xen_config_enabled(c, "N"));
        assert_false(xen_config_enabled(c, "YES"));
        assert_string_equal(xen_config_get(c, "HEX"), "0x1f");
        assert_string_equal(xen_config_get(c, "NEG"), "-3");
        assert_string_equal(xen_config_get(c, "S"), "a\"b\\c");
        assert_string_equal(xen_config_get(c, "EMPTY"), "");
        xen_config_free(c);
}

static void test_malformed_lines_skipped(void **state) {
        (void) state;
        struct xen_config *c = parse("CONFIG_=y\n"
                                     "CONFIG_X\n"
                                     "CONFIG X=y\n"
                                     "CONFIG_Y =y\n"
                                     " CONFIG_LEAD=y\n"
                                     "config_lower=y\n"
                                     "CONFIG_BARE=\n"
                                     "CONFIG_SPACE=a b\n"
                                     "CONFIG_UNTERMINATED=\"abc\n"
                                     "CONFIG_BADQUOTE=\"a\"b\"\n"
                                     "CONFIG_TRAILING_ESCAPE=\"a\\\"\n"
                                     "#CONFIG_P is not set\n"
                                     "# CONFIG_Q is not set, really\n"
                                     "# CONFIG_R is not\n"
                                     "# CONFIG_ is not set\n"
                                     "# just a comment\n"
                                     "=y\n"
                                     "CONFIG_GOOD=y\n");

        assert_int_equal(xen_config_count(c), 1);
        assert_true(xen_config_enabled(c, "GOOD"));
        assert_null(xen_config_get(c, "LEAD"));
        assert_null(xen_config_get(c, "UNTERMINATED"));
        xen_config_free(c);
}

static void test_embedded_nul(void **state) {
        (void) state;
        static const char text[] = "CONFIG_A=y\0junk\nCONFIG_\0B=y\nCONFIG_C=\"x\0y\"\nCONFIG_D=y";
        struct xen_config *c = parse_n(text, sizeof(text) - 1);

        assert_false(xen_config_enabled(c, "A"));
        assert_null(xen_config_get(c, "B"));
        assert_null(xen_config_get(c, "C"));
        assert_true(xen_config_enabled(c, "D"));
        assert_int_equal(xen_config_count(c), 1);
        xen_config_free(c);
}

static void test_length_is_respected(void **state) {
        (void) state;
        /* Only "CONFIG_A=y\nCONFIG_B" is handed over: B has no '=' in range. */
        static const char text[] = "CONFIG_A=y\nCONFIG_B=y\n";
        struct xen_config *c = parse_n(text, 19);

        assert_true(xen_config_enabled(c, "A"));
        assert_false(xen_config_enabled(c, "B"));
        xen_config_free(c);
}

static void test_long_lines(void **state) {
        (void) state;
        size_t n = 4 * 1024 * 1024;
        char *text = malloc(n + 64);
        struct xen_config *c;
        size_t len;

        assert_non_null(text);

        /* A 4 MiB string value, then a 4 MiB name, then a line that counts. */
        len = (size_t) sprintf(text, "CONFIG_S=\"");
        memset(text + len, 'v', n);
        len += n;
        len += (size_t) sprintf(text + len, "\"\nCONFIG_A=y\n");
        c = parse_n(text, len);
        assert_int_equal(strlen(xen_config_get(c, "S")), n);
        assert_true(xen_config_enabled(c, "A"));
        xen_config_free(c);

        len = (size_t) sprintf(text, "CONFIG_");
        memset(text + len, 'N', n);
        len += n;
        len += (size_t) sprintf(text + len, "=y\nCONFIG_B=y");
        c = parse_n(text, len);
        assert_int_equal(xen_config_count(c), 2);
        assert_true(xen_config_enabled(c, "B"));
        xen_config_free(c);

        /* A 4 MiB line of garbage with no newline at all. */
        memset(text, '#', n);
        c = parse_n(text, n);
        assert_int_equal(xen_config_count(c), 0);
        xen_config_free(c);

        free(text);
}

static void test_many_entries(void **state) {
        (void) state;
        size_t n = 10000, len = 0;
        char *text = malloc(n * 32);
        struct xen_config *c;
        char name[32];

        assert_non_null(text);
        for (size_t i = 0; i < n; i++)
                len += (size_t) sprintf(text + len, "CONFIG_OPT%zu=%s\n", i, i % 2 ? "y" : "n");
        c = parse_n(text, len);
        assert_int_equal(xen_config_count(c), n);
        snprintf(name, sizeof(name), "OPT%zu", n - 1);
        assert_true(xen_config_enabled(c, name));
        assert_false(xen_config_enabled(c, "OPT0"));
        xen_config_free(c);
        free(text);
}

static void test_free_null(void **state) {
        (void) state;
        assert_null(xen_config_free(NULL));
        assert_int_equal(xen_config_count(NULL), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_bundled),
                cmocka_unit_test(test_absent),
                cmocka_unit_test(test_empty),
                cmocka_unit_test(test_no_trailing_newline),
                cmocka_unit_test(test_crlf),
                cmocka_unit_test(test_last_wins),
                cmocka_unit_test(test_values),
                cmocka_unit_test(test_malformed_lines_skipped),
                cmocka_unit_test(test_embedded_nul),
                cmocka_unit_test(test_length_is_respected),
                cmocka_unit_test(test_long_lines),
                cmocka_unit_test(test_many_entries),
                cmocka_unit_test(test_free_null),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
