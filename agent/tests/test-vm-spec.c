/* test-vm-spec.c: the rules of a VM spec: names, every field of a create
 * request, defaults, unknown fields, PV disks, and the round trip through
 * disk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "api.h"
#include "vm-spec.h"

static int parse(const char *text, struct vm_spec *s, struct error *e) {
        json_error_t je;
        json_t *j = json_loads(text, JSON_ALLOW_NUL, &je);
        int r;

        assert_non_null(j);
        memset(e, 0, sizeof(*e));
        r = vm_spec_from_request(j, s, e);
        json_decref(j);
        return r;
}

static void expect_error(const char *text, unsigned status, const char *code, const char *field) {
        struct error e;
        struct vm_spec s;

        assert_int_equal(parse(text, &s, &e), -EINVAL);
        assert_int_equal(api_error_status(e.code), status);
        assert_string_equal(error_code_name(e.code), code);
        if (field)
                assert_string_equal(e.field, field);
        else
                assert_null(e.field);
        assert_true(strlen(e.message) > 0);
}

static void test_names(void **state) {
        (void) state;
        assert_true(spec_name_is_valid("a", 48));
        assert_true(spec_name_is_valid("web-1.prod_2", 48));
        assert_false(spec_name_is_valid("", 48));
        assert_false(spec_name_is_valid(".", 48));
        assert_false(spec_name_is_valid("..", 48));
        assert_false(spec_name_is_valid(".hidden", 48));
        assert_false(spec_name_is_valid("-rf", 48));
        assert_false(spec_name_is_valid("a/b", 48));
        assert_false(spec_name_is_valid("a\\b", 48));
        assert_false(spec_name_is_valid("a b", 48));
        assert_false(spec_name_is_valid("a\nb", 48));
        assert_false(spec_name_is_valid("é", 48));
        assert_true(spec_name_is_valid("abcd", 4));
        assert_false(spec_name_is_valid("abcde", 4));
}

static void test_defaults(void **state) {
        struct error e;
        struct vm_spec s;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\"}", &s, &e), 0);
        assert_string_equal(s.name, "g");
        assert_string_equal(s.kernel, "k");
        assert_int_equal(s.vcpus, 1);
        assert_int_equal(s.memory_mib, 256);
        assert_string_equal(s.ramdisk, "");
        assert_string_equal(s.cmdline, "");
        assert_true(s.vuart);
        assert_true(s.start);
        assert_int_equal(s.n_disks, 0);
        assert_int_equal(s.log_max_bytes, VM_LOG_MAX_BYTES_DEFAULT);
        assert_false(s.autostart);
}

/* Each console's log budget: bounded both ways, kept on disk, and the
 * default for a spec stored before it existed. */
static void test_log_max_bytes(void **state) {
        struct error e;
        struct vm_spec s, back;
        json_t *j;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"log_max_bytes\":4194304}", &s, &e), 0);
        assert_int_equal(s.log_max_bytes, 4194304);
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"log_max_bytes\":65535}", 400, "out_of_range",
                     "log_max_bytes");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"log_max_bytes\":1073741825}", 400, "out_of_range",
                     "log_max_bytes");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"log_max_bytes\":\"16M\"}", 400, "invalid_field",
                     "log_max_bytes");
        j = vm_spec_to_json(&s);
        assert_int_equal(json_integer_value(json_object_get(j, "log_max_bytes")), 4194304);
        json_object_set_new(j, "uuid", json_string("00112233-4455-6677-8899-aabbccddeeff"));
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_int_equal(back.log_max_bytes, 4194304);
        json_object_del(j, "log_max_bytes");
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_int_equal(back.log_max_bytes, VM_LOG_MAX_BYTES_DEFAULT);
        assert_false(back.autostart);
        json_decref(j);

        /* autostart: a boolean, kept on disk. */
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"autostart\":true}", &s, &e), 0);
        assert_true(s.autostart);
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"autostart\":1}", 400, "invalid_field", "autostart");
        j = vm_spec_to_json(&s);
        json_object_set_new(j, "uuid", json_string("00112233-4455-6677-8899-aabbccddeeff"));
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_true(back.autostart);
        json_decref(j);
}

static void test_full(void **state) {
        struct error e;
        struct vm_spec s;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"vcpus\":2,\"memory_mib\":512,\"kernel\":\"k\",\"ramdisk\":\"r\","
                               "\"cmdline\":\"console=hvc0 quiet\",\"consoles\":[\"pv\"],\"start\":false}",
                               &s, &e),
                         0);
        assert_int_equal(s.vcpus, 2);
        assert_int_equal(s.memory_mib, 512);
        assert_string_equal(s.ramdisk, "r");
        assert_string_equal(s.cmdline, "console=hvc0 quiet");
        assert_false(s.vuart);
        assert_false(s.start);
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"ramdisk\":null,\"consoles\":[\"vuart\",\"pv\"]}",
                               &s, &e),
                         0);
        assert_true(s.vuart);
}

static void test_bad_fields(void **state) {
        char big[VM_CMDLINE_MAX + 64];

        (void) state;
        expect_error("[]", 400, "invalid_json", NULL);
        expect_error("{\"kernel\":\"k\"}", 400, "missing_field", "name");
        expect_error("{\"name\":\"g\"}", 400, "missing_field", "kernel");
        expect_error("{\"name\":\"../x\",\"kernel\":\"k\"}", 400, "invalid_name", "name");
        expect_error("{\"name\":7,\"kernel\":\"k\"}", 400, "invalid_field", "name");
        expect_error("{\"name\":\"g\",\"kernel\":\"/boot/vmlinuz\"}", 400, "invalid_name", "kernel");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"ramdisk\":\"..\"}", 400, "invalid_name", "ramdisk");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"vcpus\":0}", 400, "out_of_range", "vcpus");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"vcpus\":129}", 400, "out_of_range", "vcpus");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"vcpus\":1.5}", 400, "invalid_field", "vcpus");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"vcpus\":\"2\"}", 400, "invalid_field", "vcpus");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"memory_mib\":8}", 400, "out_of_range", "memory_mib");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"memory_mib\":-1}", 400, "out_of_range", "memory_mib");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"memory_mib\":99999999999}", 400, "out_of_range",
                     "memory_mib");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"consoles\":[]}", 400, "invalid_field", "consoles");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"consoles\":[\"vuart\"]}", 400, "invalid_field", "consoles");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"consoles\":[\"pv\",\"pv\"]}", 400, "invalid_field",
                     "consoles");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"consoles\":[\"pv\",3]}", 400, "unknown_console", "consoles");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"consoles\":\"pv\"}", 400, "invalid_field", "consoles");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"cmdline\":\"a\\nb\"}", 400, "invalid_field", "cmdline");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"cmdline\":\"a\\u0000b\"}", 400, "invalid_field",
                     "cmdline");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"start\":1}", 400, "invalid_field", "start");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"uuid\":\"x\"}", 400, "unknown_field", NULL);
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"Name\":\"x\"}", 400, "unknown_field", NULL);

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        {
                json_t *j = json_pack("{s:s,s:s,s:s}", "name", "g", "kernel", "k", "cmdline", big);
                struct error e;
                struct vm_spec s;

                assert_int_equal(vm_spec_from_request(j, &s, &e), -EINVAL);
                assert_string_equal(e.field, "cmdline");
                json_decref(j);
        }
}

static void test_disks(void **state) {
        struct error e;
        struct vm_spec s;
        json_t *j, *a;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[]}", &s, &e), 0);
        assert_int_equal(s.n_disks, 0);
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"root\"},"
                               "{\"image\":\"data.img\",\"readonly\":true},{\"image\":\"s\",\"readonly\":false}]}",
                               &s, &e),
                         0);
        assert_int_equal(s.n_disks, 3);
        assert_string_equal(s.disks[0].image, "root");
        assert_false(s.disks[0].readonly);
        assert_string_equal(s.disks[1].image, "data.img");
        assert_true(s.disks[1].readonly);
        assert_false(s.disks[2].readonly);

        /* As many as allowed, and one more. */
        a = json_array();
        for (int i = 0; i < VM_DISKS_MAX; i++) {
                char name[16];

                snprintf(name, sizeof(name), "d%d", i);
                json_array_append_new(a, json_pack("{s:s}", "image", name));
        }
        j = json_pack("{s:s,s:s,s:O}", "name", "g", "kernel", "k", "disks", a);
        assert_int_equal(vm_spec_from_request(j, &s, &e), 0);
        assert_int_equal(s.n_disks, VM_DISKS_MAX);
        json_decref(j);
        json_array_append_new(a, json_pack("{s:s}", "image", "one-more"));
        j = json_pack("{s:s,s:s,s:o}", "name", "g", "kernel", "k", "disks", a);
        memset(&e, 0, sizeof(e));
        assert_int_equal(vm_spec_from_request(j, &s, &e), -EINVAL);
        assert_int_equal(api_error_status(e.code), 400);
        assert_string_equal(error_code_name(e.code), "out_of_range");
        assert_string_equal(e.field, "disks");
        json_decref(j);

        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":{\"image\":\"a\"}}", 400, "invalid_field",
                     "disks");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[\"a\"]}", 400, "invalid_field", "disks[0]");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"a\"},{}]}", 400, "missing_field",
                     "disks[1].image");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":7}]}", 400, "invalid_field",
                     "disks[0].image");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"../etc/shadow\"}]}", 400,
                     "invalid_name", "disks[0].image");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"\"}]}", 400, "invalid_name",
                     "disks[0].image");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"a\",\"readonly\":\"yes\"}]}", 400,
                     "invalid_field", "disks[0].readonly");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"a\",\"mode\":\"w\"}]}", 400,
                     "unknown_field", "disks[0]");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"disks\":[{\"image\":\"a\"},{\"image\":\"a\",\"readonly\":true}]}",
                     400, "invalid_field", "disks[1].image");

        /* Fields named outside this module, and without an error to fill. */
        assert_string_equal(error_field_index(&e, "disks", 5, "image"), "disks[5].image");
        assert_string_equal(error_field_index(&e, "disks", 7, NULL), "disks[7]");
        assert_string_equal(error_field_index(NULL, "disks", 7, "image"), "disks");
}

static void test_disk_round_trip(void **state) {
        struct error e;
        struct vm_spec s, back;
        json_t *j;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"vcpus\":2,\"kernel\":\"k\",\"ramdisk\":\"r\",\"cmdline\":\"x=1\","
                               "\"disks\":[{\"image\":\"root\"},{\"image\":\"ro\",\"readonly\":true}]}",
                               &s, &e),
                         0);
        for (int i = 0; i < 16; i++)
                s.uuid[i] = (uint8_t) (i * 17);
        j = vm_spec_to_json(&s);
        assert_non_null(j);
        assert_null(json_object_get(j, "start"));
        assert_string_equal(json_string_value(json_object_get(j, "uuid")), "00112233-4455-6677-8899-aabbccddeeff");
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_string_equal(back.name, "g");
        assert_int_equal(back.vcpus, 2);
        assert_string_equal(back.ramdisk, "r");
        assert_string_equal(back.cmdline, "x=1");
        assert_true(back.vuart);
        assert_memory_equal(back.uuid, s.uuid, 16);
        assert_int_equal(back.n_disks, 2);
        assert_string_equal(back.disks[0].image, "root");
        assert_false(back.disks[0].readonly);
        assert_string_equal(back.disks[1].image, "ro");
        assert_true(back.disks[1].readonly);
        /* A spec stored before disks existed has none. */
        json_object_del(j, "disks");
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_int_equal(back.n_disks, 0);
        /* A request may not carry a uuid; the disk must. */
        json_object_del(j, "uuid");
        assert_int_equal(vm_spec_from_disk(j, &back, &e), -EINVAL);
        assert_string_equal(e.field, "uuid");
        json_decref(j);
}

static void test_alerts(void **state) {
        struct error e;
        struct vm_spec s, back;
        json_t *j;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{\"pattern\":\"Kernel panic\"},"
                               "{\"pattern\":\"^Oops: [0-9]+\",\"regex\":true,\"console\":\"vuart\"}]}",
                               &s, &e),
                         0);
        assert_int_equal(s.n_alerts, 2);
        assert_string_equal(s.alerts[0].pattern, "Kernel panic");
        assert_false(s.alerts[0].regex);
        assert_int_equal(s.alerts[0].console, -1);
        assert_true(s.alerts[1].regex);
        assert_int_equal(s.alerts[1].console, 1);
        j = vm_spec_to_json(&s);
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_int_equal(back.n_alerts, 2);
        assert_string_equal(back.alerts[1].pattern, "^Oops: [0-9]+");
        assert_int_equal(back.alerts[1].console, 1);
        json_decref(j);
        /* Without alerts, the stored spec has no such field (an older agent reads it). */
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\"}", &s, &e), 0);
        j = vm_spec_to_json(&s);
        assert_null(json_object_get(j, "alerts"));
        json_decref(j);

        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":{}}", 400, "invalid_field", "alerts");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{}]}", 400, "missing_field", "alerts[0].pattern");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{\"pattern\":\"\"}]}", 400, "invalid_field",
                     "alerts[0].pattern");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{\"pattern\":\"(a)\\\\1\",\"regex\":true}]}", 400,
                     "invalid_field", "alerts[0].pattern");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{\"pattern\":\"x\",\"console\":\"com1\"}]}", 400,
                     "invalid_field", "alerts[0].console");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{\"pattern\":\"x\",\"colour\":1}]}", 400,
                     "unknown_field", "alerts[0]");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"alerts\":[{\"pattern\":\"1\"},{\"pattern\":\"2\"},"
                     "{\"pattern\":\"3\"},{\"pattern\":\"4\"},{\"pattern\":\"5\"},{\"pattern\":\"6\"},"
                     "{\"pattern\":\"7\"},{\"pattern\":\"8\"},{\"pattern\":\"9\"}]}",
                     400, "out_of_range", "alerts");
}

/* A firmware instead of a kernel: what it allows, its ACPI default, and the
 * round trip through disk (kernel null, firmware named). */
static void test_firmware(void **state) {
        struct error e;
        struct vm_spec s, back;
        json_t *j;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"firmware\":\"uefi\",\"disks\":[{\"image\":\"os\"}]}", &s, &e), 0);
        assert_int_equal(s.firmware, VM_FIRMWARE_UEFI);
        assert_true(s.acpi);
        assert_string_equal(s.kernel, "");
        assert_false(vm_spec_uses_image(&s, ""));
        assert_true(vm_spec_uses_image(&s, "os"));
        assert_int_equal(parse("{\"name\":\"g\",\"firmware\":\"uefi\",\"acpi\":false}", &s, &e), 0);
        assert_false(s.acpi);
        assert_int_equal(parse("{\"name\":\"g\",\"firmware\":\"uboot-efi\",\"cmdline\":\"\",\"ramdisk\":null}", &s,
                               &e),
                         0);
        assert_int_equal(s.firmware, VM_FIRMWARE_UBOOT_EFI);
        assert_false(s.acpi);
        assert_string_equal(vm_firmware_name(s.firmware), "uboot-efi");
        assert_null(vm_firmware_name(VM_FIRMWARE_NONE));

        j = vm_spec_to_json(&s);
        assert_true(json_is_null(json_object_get(j, "kernel")));
        assert_string_equal(json_string_value(json_object_get(j, "firmware")), "uboot-efi");
        assert_true(json_is_false(json_object_get(j, "acpi")));
        json_object_set_new(j, "uuid", json_string("00112233-4455-6677-8899-aabbccddeeff"));
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_int_equal(back.firmware, VM_FIRMWARE_UBOOT_EFI);
        assert_string_equal(back.kernel, "");
        json_decref(j);

        /* A direct kernel boot shows firmware null and acpi false, and
         * keeps neither on disk (an older agent reads its spec.json). */
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\"}", &s, &e), 0);
        j = vm_spec_to_json(&s);
        assert_true(json_is_null(json_object_get(j, "firmware")));
        assert_true(json_is_false(json_object_get(j, "acpi")));
        json_decref(j);
        j = vm_spec_to_disk_json(&s);
        assert_null(json_object_get(j, "firmware"));
        assert_null(json_object_get(j, "acpi"));
        json_object_set_new(j, "uuid", json_string("00112233-4455-6677-8899-aabbccddeeff"));
        assert_int_equal(vm_spec_from_disk(j, &back, &e), 0);
        assert_int_equal(back.firmware, VM_FIRMWARE_NONE);
        assert_false(back.acpi);
        json_decref(j);
        assert_int_equal(parse("{\"name\":\"g\",\"firmware\":\"uefi\"}", &s, &e), 0);
        j = vm_spec_to_disk_json(&s);
        assert_string_equal(json_string_value(json_object_get(j, "firmware")), "uefi");
        assert_true(json_is_true(json_object_get(j, "acpi")));
        json_decref(j);

        expect_error("{\"name\":\"g\",\"firmware\":\"bios\"}", 400, "invalid_field", "firmware");
        expect_error("{\"name\":\"g\",\"firmware\":1}", 400, "invalid_field", "firmware");
        expect_error("{\"name\":\"g\",\"firmware\":\"uefi\",\"kernel\":\"k\"}", 400, "invalid_field", "kernel");
        expect_error("{\"name\":\"g\",\"firmware\":\"uefi\",\"ramdisk\":\"r\"}", 400, "invalid_field", "ramdisk");
        expect_error("{\"name\":\"g\",\"firmware\":\"uefi\",\"cmdline\":\"quiet\"}", 400, "invalid_field",
                     "cmdline");
        expect_error("{\"name\":\"g\",\"firmware\":\"uboot-efi\",\"acpi\":true}", 400, "invalid_field", "acpi");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"acpi\":true}", 400, "invalid_field", "acpi");
        expect_error("{\"name\":\"g\",\"firmware\":\"uefi\",\"acpi\":1}", 400, "invalid_field", "acpi");
        expect_error("{\"name\":\"g\",\"firmware\":null}", 400, "missing_field", "kernel");
        expect_error("{\"name\":\"g\",\"kernel\":null}", 400, "missing_field", "kernel");
}

/* "nics": defaults, the MAC's rules, the limits; from disk with addresses. */
static void test_nics(void **state) {
        struct error e = { 0 };
        struct vm_spec s, back;
        json_t *j, *out;

        (void) state;
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{},{\"network\":\"lab\","
                               "\"mac\":\"00:16:3E:AA:bb:01\"}]}", &s, &e), 0);
        assert_int_equal(s.n_nics, 2);
        assert_string_equal(s.nics[0].network, "default");
        assert_false(s.nics[0].mac_set);
        assert_string_equal(s.nics[1].network, "lab");
        assert_true(s.nics[1].mac_set);
        assert_int_equal(s.nics[1].mac[3], 0xaa);
        assert_int_equal(s.nics[0].address, 0);

        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":{}}", 400, "invalid_field", "nics");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[3]}", 400, "invalid_field", "nics[0]");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{},{},{},{},{},{},{},{},{}]}", 400,
                     "out_of_range", "nics");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"network\":\"../x\"}]}", 400,
                     "invalid_name", "nics[0].network");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"network\":7}]}", 400, "invalid_name",
                     "nics[0].network");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"mac\":\"00:16:3e:00:00\"}]}", 400,
                     "invalid_field", "nics[0].mac");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"mac\":\"ff:ff:ff:ff:ff:ff\"}]}", 400,
                     "invalid_field", "nics[0].mac");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"mac\":\"00:00:00:00:00:00\"}]}", 400,
                     "invalid_field", "nics[0].mac");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"mac\":\"fe:ff:ff:ff:ff:ff\"}]}", 400,
                     "invalid_field", "nics[0].mac");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"mac\":\"00:16:3e:00:00:01\"},"
                     "{\"mac\":\"00:16:3e:00:00:01\"}]}", 400, "invalid_field", "nics[1].mac");
        expect_error("{\"name\":\"g\",\"kernel\":\"k\",\"nics\":[{\"address\":\"169.254.1.2\"}]}", 400,
                     "unknown_field", "nics[0]");

        /* Once the agent gave MAC and address, the spec round-trips through disk. */
        s.nics[0].mac_set = true;
        memcpy(s.nics[0].mac, (uint8_t[]) { 0x00, 0x16, 0x3e, 0x01, 0x02, 0x03 }, 6);
        s.nics[0].address = 0xa9fe0102;
        s.nics[1].address = 0xa9fe0203;
        out = vm_spec_to_disk_json(&s);
        assert_non_null(out);
        assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(out, "nics"), 0),
                                                              "address")), "169.254.1.2");
        assert_int_equal(vm_spec_from_disk(out, &back, &e), 0);
        assert_int_equal(back.n_nics, 2);
        assert_memory_equal(back.nics[0].mac, s.nics[0].mac, 6);
        assert_int_equal(back.nics[1].address, 0xa9fe0203);
        json_decref(out);
        /* From disk a NIC must have both. */
        j = json_loads("{\"name\":\"g\",\"uuid\":\"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9\",\"kernel\":\"k\","
                       "\"nics\":[{\"network\":\"default\"}]}", 0, NULL);
        assert_int_equal(vm_spec_from_disk(j, &back, &e), -EINVAL);
        json_decref(j);
        /* Without NICs, spec.json has no "nics" (an older agent reads it). */
        assert_int_equal(parse("{\"name\":\"g\",\"kernel\":\"k\"}", &s, &e), 0);
        out = vm_spec_to_disk_json(&s);
        assert_null(json_object_get(out, "nics"));
        json_decref(out);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_names),
                cmocka_unit_test(test_defaults),
                cmocka_unit_test(test_full),
                cmocka_unit_test(test_log_max_bytes),
                cmocka_unit_test(test_bad_fields),
                cmocka_unit_test(test_nics),
                cmocka_unit_test(test_disks),
                cmocka_unit_test(test_disk_round_trip),
                cmocka_unit_test(test_alerts),
                cmocka_unit_test(test_firmware),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
