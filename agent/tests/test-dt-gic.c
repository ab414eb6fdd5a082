/* test-dt-gic.c: finding the GIC in a device tree directory, and the host
 * readers that choose between it and the ACPI MADT, on fixture trees. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "dt-gic.h"
#include "host.h"
#include "madt.h"
#include "test-util.h"

#define PROP(s) s, sizeof(s) /* a string property keeps its NUL */

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

static void add_prop(const char *root, const char *rel, const void *data, size_t size) {
        assert_int_equal(test_write_file(root, rel, data, size, 0444), 0);
}

static void test_compatible_list(void **state) {
        (void) state;
        assert_int_equal(dt_gic_version_from_compatible(PROP("arm,gic-v3")), 3);
        assert_int_equal(dt_gic_version_from_compatible(PROP("arm,cortex-a15-gic\0arm,cortex-a9-gic")), 2);
        assert_int_equal(dt_gic_version_from_compatible(PROP("arm,gic-400")), 2);
        assert_int_equal(dt_gic_version_from_compatible(PROP("vendor,thing\0arm,arm11mp-gic")), 2);
        /* Whole strings only: the ITS and prefixes are not the GIC. */
        assert_int_equal(dt_gic_version_from_compatible(PROP("arm,gic-v3-its")), 0);
        assert_int_equal(dt_gic_version_from_compatible(PROP("arm,gic-v")), 0);
        assert_int_equal(dt_gic_version_from_compatible(PROP("xarm,gic-v3")), 0);
        /* No terminating NUL (a truncated property) still reads in bounds. */
        assert_int_equal(dt_gic_version_from_compatible("arm,gic-v3", 10), 3);
        assert_int_equal(dt_gic_version_from_compatible("arm,gic-v3", 5), 0);
        assert_int_equal(dt_gic_version_from_compatible("", 0), 0);
        assert_int_equal(dt_gic_version_from_compatible(PROP("\0\0")), 0);
}

static void test_v3_at_root(void **state) {
        const char *root = *state;

        add_prop(root, "compatible", PROP("linux,dummy-virt"));
        add_prop(root, "interrupt-controller@8000000/compatible", PROP("arm,gic-v3"));
        add_prop(root, "interrupt-controller@8000000/interrupt-controller", "", 0);
        add_prop(root, "chosen/bootargs", PROP("console=hvc0"));
        assert_int_equal(dt_gic_version(root), 3);
}

static void test_v2_nested(void **state) {
        const char *root = *state;

        add_prop(root, "soc/bus@0/intc@3001000/compatible", PROP("arm,cortex-a15-gic\0arm,cortex-a9-gic"));
        add_prop(root, "soc/bus@0/intc@3001000/interrupt-controller", "", 0);
        assert_int_equal(dt_gic_version(root), 2);
}

static void test_other_controllers_ignored(void **state) {
        const char *root = *state;

        /* A GPIO block is an interrupt controller too; a GIC without the
         * property is not one we count. */
        add_prop(root, "gpio@9030000/compatible", PROP("arm,pl061\0arm,primecell"));
        add_prop(root, "gpio@9030000/interrupt-controller", "", 0);
        add_prop(root, "fake/compatible", PROP("arm,gic-v3"));
        assert_int_equal(dt_gic_version(root), -ENOENT);

        add_prop(root, "intc/compatible", PROP("arm,gic-400"));
        add_prop(root, "intc/interrupt-controller", "", 0);
        assert_int_equal(dt_gic_version(root), 2);
}

static void test_its_is_not_the_gic(void **state) {
        const char *root = *state;

        add_prop(root, "intc/its/compatible", PROP("arm,gic-v3-its"));
        add_prop(root, "intc/its/interrupt-controller", "", 0);
        assert_int_equal(dt_gic_version(root), -ENOENT);
}

static void test_missing_root(void **state) {
        char path[4096];

        snprintf(path, sizeof(path), "%s/nonexistent", (const char *) *state);
        assert_int_equal(dt_gic_version(path), -ENOENT);
}

static void test_symlinks_not_followed(void **state) {
        const char *root = *state;
        char path[4096], target[4096];

        /* A loop back to the root, and a link to a GIC elsewhere: neither is walked. */
        snprintf(path, sizeof(path), "%s/loop", root);
        assert_int_equal(symlink(".", path), 0);
        snprintf(target, sizeof(target), "%s/outside", root);
        add_prop(root, "outside/gic/compatible", PROP("arm,gic-v3"));
        add_prop(root, "outside/gic/interrupt-controller", "", 0);
        snprintf(path, sizeof(path), "%s/tree", root);
        assert_int_equal(mkdir(path, 0755), 0);
        snprintf(path, sizeof(path), "%s/tree/link", root);
        assert_int_equal(symlink(target, path), 0);
        snprintf(path, sizeof(path), "%s/tree", root);
        assert_int_equal(dt_gic_version(path), -ENOENT);
}

static void test_deep_tree_bounded(void **state) {
        const char *root = *state;
        char rel[4096] = "";

        for (int i = 0; i < 40; i++)
                strcat(rel, "n/");
        strcat(rel, "compatible");
        add_prop(root, rel, PROP("arm,gic-v3"));
        rel[strlen(rel) - strlen("compatible")] = '\0';
        strcat(rel, "interrupt-controller");
        add_prop(root, rel, "", 0);
        /* Deeper than any real tree: not reached, and the walk ends. */
        assert_int_equal(dt_gic_version(root), -ENOENT);
}

static void write_madt(const char *sys, uint8_t version, bool gicr) {
        uint8_t t[128] = { 'A', 'P', 'I', 'C' };
        size_t n = MADT_HEADER_SIZE;

        t[n] = MADT_TYPE_GICD;
        t[n + 1] = MADT_GICD_SIZE;
        t[n + MADT_GICD_VERSION_OFFSET] = version;
        n += MADT_GICD_SIZE;
        if (gicr) {
                t[n] = MADT_TYPE_GICR;
                t[n + 1] = 16;
                n += 16;
        }
        t[4] = (uint8_t) n;
        assert_int_equal(test_write_file(sys, "firmware/acpi/tables/APIC", t, n, 0400), 0);
}

static void test_host_dt_boot(void **state) {
        const char *root = *state;
        char sys[4096], proc[4096];
        struct host_paths paths = { .sys = sys, .proc = proc };
        enum dom0_boot boot = DOM0_BOOT_ACPI;
        struct error what = { 0 };

        snprintf(sys, sizeof(sys), "%s/sys", root);
        snprintf(proc, sizeof(proc), "%s/proc", root);
        assert_int_equal(test_mkdir(root, "sys/firmware"), 0);
        assert_int_equal(host_read_dom0_boot(&paths, &boot), 0);
        assert_int_equal(boot, DOM0_BOOT_DT);

        /* Neither tree: the reader says it found nothing, never a default. */
        assert_int_equal(host_read_gic_version(&paths, boot, &what), -ENOENT);
        assert_int_equal(what.code, ERROR_FIRMWARE_UNAVAILABLE); /* and it says what was read */
        assert_true(what.message[0] != 0);

        /* Only the sysfs tree (no /proc/device-tree link). */
        add_prop(sys, "firmware/devicetree/base/intc/compatible", PROP("arm,gic-400"));
        add_prop(sys, "firmware/devicetree/base/intc/interrupt-controller", "", 0);
        assert_int_equal(host_read_gic_version(&paths, boot, &what), 2);

        /* /proc/device-tree comes first when present. */
        add_prop(proc, "device-tree/intc/compatible", PROP("arm,gic-v3"));
        add_prop(proc, "device-tree/intc/interrupt-controller", "", 0);
        assert_int_equal(host_read_gic_version(&paths, boot, &what), 3);
}

static void test_host_acpi_boot(void **state) {
        const char *root = *state;
        char sys[4096];
        struct host_paths paths = { .sys = sys, .proc = root };
        enum dom0_boot boot = DOM0_BOOT_DT;
        struct error what = { 0 };

        snprintf(sys, sizeof(sys), "%s/sys", root);
        assert_int_equal(test_mkdir(root, "sys/firmware/acpi/tables"), 0);
        assert_int_equal(host_read_dom0_boot(&paths, &boot), 0);
        assert_int_equal(boot, DOM0_BOOT_ACPI);

        /* ACPI boot but no MADT: an error naming the table. */
        assert_int_equal(host_read_gic_version(&paths, boot, &what), -ENOENT);
        assert_non_null(strstr(what.message, "APIC"));

        write_madt(sys, 3, true);
        assert_int_equal(host_read_gic_version(&paths, boot, &what), 3);
        write_madt(sys, 0, false);
        assert_int_equal(host_read_gic_version(&paths, boot, &what), 2);
        write_madt(sys, 0, true);
        assert_int_equal(host_read_gic_version(&paths, boot, &what), 3);

        /* A broken table is an error, not a guess. */
        assert_int_equal(test_write_file(sys, "firmware/acpi/tables/APIC", "APIC", 4, 0400), 0);
        assert_int_equal(host_read_gic_version(&paths, boot, &what), -EBADMSG);
        assert_non_null(strstr(what.message, "APIC"));
}

static void test_host_acpi_is_a_directory(void **state) {
        const char *root = *state;
        char sys[4096];
        struct host_paths paths = { .sys = sys, .proc = root };
        enum dom0_boot boot = DOM0_BOOT_ACPI;

        /* A file where the directory should be is not ACPI. */
        snprintf(sys, sizeof(sys), "%s/sys", root);
        assert_int_equal(test_write_file(root, "sys/firmware/acpi/tables", "", 0, 0644), 0);
        assert_int_equal(host_read_dom0_boot(&paths, &boot), 0);
        assert_int_equal(boot, DOM0_BOOT_DT);

        /* No /sys at all is a DT boot too. */
        snprintf(sys, sizeof(sys), "%s/none", root);
        boot = DOM0_BOOT_ACPI;
        assert_int_equal(host_read_dom0_boot(&paths, &boot), 0);
        assert_int_equal(boot, DOM0_BOOT_DT);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_compatible_list),
                cmocka_unit_test_setup_teardown(test_v3_at_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_v2_nested, setup, teardown),
                cmocka_unit_test_setup_teardown(test_other_controllers_ignored, setup, teardown),
                cmocka_unit_test_setup_teardown(test_its_is_not_the_gic, setup, teardown),
                cmocka_unit_test_setup_teardown(test_missing_root, setup, teardown),
                cmocka_unit_test_setup_teardown(test_symlinks_not_followed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_deep_tree_bounded, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_dt_boot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_acpi_boot, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_acpi_is_a_directory, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
