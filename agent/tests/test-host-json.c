/* test-host-json.c: the exact JSON shape of GET /v1/host, read back with
 * jansson, and the Xen version string. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "host.h"

static const struct host_info sample = {
        .xen_version = "4.17.5",
        .xen_config = { .new_vgic = true, .acpi = true, .sbsa_vuart_console = false },
        .gic_version = 2,
        .dom0_boot = DOM0_BOOT_ACPI,
        .cpus = 2,
        .memory_total_mib = 2048,
        .memory_free_mib = 1400,
};

/* Serialises and parses back, so what is checked is what a client sees. */
static json_t *roundtrip(const struct host_info *h) {
        json_t *j = host_info_to_json(h), *back;
        json_error_t err;
        char *text;

        assert_non_null(j);
        text = json_dumps(j, JSON_COMPACT);
        assert_non_null(text);
        back = json_loads(text, JSON_REJECT_DUPLICATES, &err);
        assert_non_null(back);
        free(text);
        json_decref(j);
        return back;
}

static void assert_keys(json_t *obj, const char *const *keys, size_t n) {
        assert_true(json_is_object(obj));
        assert_int_equal(json_object_size(obj), n);
        for (size_t i = 0; i < n; i++)
                assert_non_null(json_object_get(obj, keys[i]));
}

static void test_shape(void **state) {
        (void) state;
        static const char *const top[] = { "xen", "gic_version", "dom0_boot", "cpus", "memory_mib" };
        static const char *const xen[] = { "version", "config" };
        static const char *const config[] = { "NEW_VGIC", "ACPI", "SBSA_VUART_CONSOLE" };
        static const char *const memory[] = { "total", "free" };
        json_t *j = roundtrip(&sample), *x, *c, *m;

        assert_keys(j, top, 5);
        x = json_object_get(j, "xen");
        assert_keys(x, xen, 2);
        assert_string_equal(json_string_value(json_object_get(x, "version")), "4.17.5");
        c = json_object_get(x, "config");
        assert_keys(c, config, 3);
        assert_true(json_is_true(json_object_get(c, "NEW_VGIC")));
        assert_true(json_is_true(json_object_get(c, "ACPI")));
        assert_true(json_is_false(json_object_get(c, "SBSA_VUART_CONSOLE")));

        assert_true(json_is_integer(json_object_get(j, "gic_version")));
        assert_int_equal(json_integer_value(json_object_get(j, "gic_version")), 2);
        assert_string_equal(json_string_value(json_object_get(j, "dom0_boot")), "acpi");
        assert_true(json_is_integer(json_object_get(j, "cpus")));
        assert_int_equal(json_integer_value(json_object_get(j, "cpus")), 2);

        m = json_object_get(j, "memory_mib");
        assert_keys(m, memory, 2);
        assert_int_equal(json_integer_value(json_object_get(m, "total")), 2048);
        assert_int_equal(json_integer_value(json_object_get(m, "free")), 1400);
        json_decref(j);
}

static void test_dt_v3(void **state) {
        (void) state;
        struct host_info h = sample;
        json_t *j;

        h.dom0_boot = DOM0_BOOT_DT;
        h.gic_version = 3;
        h.xen_config.new_vgic = false;
        h.xen_config.acpi = false;
        h.xen_config.sbsa_vuart_console = true;
        j = roundtrip(&h);
        assert_string_equal(json_string_value(json_object_get(j, "dom0_boot")), "dt");
        assert_int_equal(json_integer_value(json_object_get(j, "gic_version")), 3);
        assert_true(json_is_false(json_object_get(json_object_get(json_object_get(j, "xen"), "config"), "NEW_VGIC")));
        json_decref(j);
}

static void test_large_numbers(void **state) {
        (void) state;
        struct host_info h = sample;
        json_t *j;

        /* 16 TiB of RAM and 4 billion CPUs survive the trip exactly. */
        h.memory_total_mib = 16ULL * 1024 * 1024;
        h.memory_free_mib = 0;
        h.cpus = UINT32_MAX;
        j = roundtrip(&h);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "memory_mib"), "total")), 16LL * 1024 * 1024);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "memory_mib"), "free")), 0);
        assert_int_equal(json_integer_value(json_object_get(j, "cpus")), (json_int_t) UINT32_MAX);
        json_decref(j);
}

static void test_xen_version(void **state) {
        (void) state;
        char buf[64];

        assert_int_equal(host_format_xen_version(4, 17, ".5", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "4.17.5");
        assert_int_equal(host_format_xen_version(4, 17, "", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "4.17");
        assert_int_equal(host_format_xen_version(4, 17, NULL, buf, sizeof(buf)), 0);
        assert_string_equal(buf, "4.17");
        assert_int_equal(host_format_xen_version(4, 18, "-rc", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "4.18-rc");
        assert_int_equal(host_format_xen_version(4, 17, ".5+72-g01140da4e8", buf, sizeof(buf)), 0);
        assert_string_equal(buf, "4.17.5+72-g01140da4e8");
        assert_int_equal(host_format_xen_version(4, 17, ".5", buf, 6), -ENOBUFS);
        assert_int_equal(host_format_xen_version(4, 17, ".5", buf, 7), 0);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_shape),
                cmocka_unit_test(test_dt_v3),
                cmocka_unit_test(test_large_numbers),
                cmocka_unit_test(test_xen_version),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
