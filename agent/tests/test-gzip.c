/* test-gzip.c: bounded gzip inflation, as used on hypfs /buildinfo/config. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "gzip.h"
#include "xen-config.h"

/* What `gzip -c` makes of data. *ret is malloc'd. */
static size_t gzip(const void *data, size_t size, uint8_t **ret) {
        z_stream z = { 0 };
        size_t cap = deflateBound(&z, size) + 64;
        uint8_t *out = malloc(cap);

        assert_non_null(out);
        assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, MAX_WBITS + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *) (uintptr_t) data;
        z.avail_in = (uInt) size;
        z.next_out = out;
        z.avail_out = (uInt) cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size = z.total_out;
        deflateEnd(&z);
        *ret = out;
        return size;
}

static const char config[] = "CONFIG_ARM_64=y\n# CONFIG_GICV3 is not set\nCONFIG_NEW_VGIC=y\n"
                             "CONFIG_ACPI=y\nCONFIG_SBSA_VUART_CONSOLE=y";

static void test_roundtrip_into_parser(void **state) {
        (void) state;
        struct xen_config *c = NULL;
        uint8_t *gz;
        size_t gz_size, size;
        char *text;

        gz_size = gzip(config, strlen(config), &gz);
        assert_int_equal(gzip_inflate(gz, gz_size, 1024 * 1024, &text, &size), 0);
        assert_int_equal(size, strlen(config));
        assert_memory_equal(text, config, size);

        /* No NUL at the end: the parser is given the length. */
        assert_int_equal(xen_config_parse(text, size, &c), 0);
        assert_true(xen_config_enabled(c, "NEW_VGIC"));
        assert_true(xen_config_enabled(c, "SBSA_VUART_CONSOLE"));
        assert_false(xen_config_enabled(c, "GICV3"));
        xen_config_free(c);
        free(text);
        free(gz);
}

static void test_empty_stream(void **state) {
        (void) state;
        uint8_t *gz;
        size_t gz_size, size;
        char *text = NULL;

        gz_size = gzip("", 0, &gz);
        assert_int_equal(gzip_inflate(gz, gz_size, 16, &text, &size), 0);
        assert_int_equal(size, 0);
        free(text);
        free(gz);
}

static void test_bad_input(void **state) {
        (void) state;
        static const uint8_t junk[] = "this is not gzip at all";
        uint8_t *gz, zlib_stream[256];
        uLongf zlib_size = sizeof(zlib_stream);
        size_t gz_size, size;
        char *text = NULL;

        assert_int_equal(gzip_inflate(junk, 0, 1024, &text, &size), -EBADMSG);
        assert_int_equal(gzip_inflate(junk, sizeof(junk), 1024, &text, &size), -EBADMSG);

        /* zlib framing is not gzip. */
        assert_int_equal(compress(zlib_stream, &zlib_size, (const Bytef *) config, sizeof(config)), Z_OK);
        assert_int_equal(gzip_inflate(zlib_stream, zlib_size, 1024, &text, &size), -EBADMSG);

        /* Every truncation, and a flipped byte in the body (the CRC catches it). */
        gz_size = gzip(config, strlen(config), &gz);
        for (size_t n = 0; n < gz_size; n++) {
                uint8_t *copy = malloc(n ? n : 1);

                memcpy(copy, gz, n);
                assert_int_equal(gzip_inflate(copy, n, 1024, &text, &size), -EBADMSG);
                free(copy);
        }
        gz[gz_size - 6] ^= 0x01;
        assert_int_equal(gzip_inflate(gz, gz_size, 1024, &text, &size), -EBADMSG);
        assert_null(text);
        free(gz);
}

static void test_cap(void **state) {
        (void) state;
        size_t n = strlen(config), size;
        char *text = NULL;
        uint8_t *gz;
        size_t gz_size;

        gz_size = gzip(config, n, &gz);
        assert_int_equal(gzip_inflate(gz, gz_size, n, &text, &size), 0);
        free(text);
        text = NULL;
        assert_int_equal(gzip_inflate(gz, gz_size, n - 1, &text, &size), -EFBIG);
        assert_null(text);
        free(gz);
}

static void test_bomb(void **state) {
        (void) state;
        size_t big = 64 * 1024 * 1024, size;
        char *zeros = calloc(1, big), *text = NULL;
        uint8_t *gz;
        size_t gz_size;

        /* 64 MiB of zeros is about 64 KiB of gzip; stop at the 1 MiB cap. */
        assert_non_null(zeros);
        gz_size = gzip(zeros, big, &gz);
        free(zeros);
        assert_true(gz_size < 128 * 1024);
        assert_int_equal(gzip_inflate(gz, gz_size, 1024 * 1024, &text, &size), -EFBIG);
        assert_null(text);
        free(gz);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_roundtrip_into_parser),
                cmocka_unit_test(test_empty_stream),
                cmocka_unit_test(test_bad_input),
                cmocka_unit_test(test_cap),
                cmocka_unit_test(test_bomb),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
