/* vm-spec.c: owns the VM spec's rules (see vm-spec.h). Each field is parsed
 * by one entry of a table, which names the field in every error. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "line-match.h"
#include "macro.h"
#include "net-addr.h"
#include "vm-spec.h"

#define fail(err, code, field, ...) error_set(err, -EINVAL, code, field, __VA_ARGS__)

bool spec_name_is_valid(const char *s, size_t max) {
        size_t n = strlen(s);

        if (n == 0 || n > max || s[0] == '.' || s[0] == '-')
                return false;
        for (size_t i = 0; i < n; i++) {
                char c = s[i];

                if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
                      c == '_' || c == '-'))
                        return false;
        }
        return true;
}

static int parse_name(const json_t *v, const char *field, char *out, size_t max, struct error *err) {
        if (!json_is_string(v))
                return fail(err, ERROR_INVALID_FIELD, field, "%s must be a string", field);
        if (!spec_name_is_valid(json_string_value(v), max))
                return fail(err, ERROR_INVALID_NAME, field,
                            "%s must be 1 to %zu characters of A-Z a-z 0-9 . _ -, not starting with . or -",
                            field, max);
        snprintf(out, max + 1, "%s", json_string_value(v));
        return 0;
}

static int parse_uint(const json_t *v, const char *field, unsigned min, unsigned max, unsigned *out,
                      struct error *err) {
        json_int_t i;

        if (!json_is_integer(v))
                return fail(err, ERROR_INVALID_FIELD, field, "%s must be an integer", field);
        i = json_integer_value(v);
        if (i < (json_int_t) min || i > (json_int_t) max)
                return fail(err, ERROR_OUT_OF_RANGE, field, "%s must be between %u and %u", field, min, max);
        *out = (unsigned) i;
        return 0;
}

static int field_name(const json_t *v, struct vm_spec *s, struct error *err) {
        return parse_name(v, "name", s->name, VM_NAME_MAX, err);
}

static int field_vcpus(const json_t *v, struct vm_spec *s, struct error *err) {
        return parse_uint(v, "vcpus", 1, VM_VCPUS_MAX, &s->vcpus, err);
}

static int field_memory(const json_t *v, struct vm_spec *s, struct error *err) {
        return parse_uint(v, "memory_mib", VM_MEMORY_MIB_MIN, VM_MEMORY_MIB_MAX, &s->memory_mib, err);
}

static const char *const firmware_names[_VM_FIRMWARE_MAX] = {
        [VM_FIRMWARE_UEFI] = "uefi",
        [VM_FIRMWARE_UBOOT_EFI] = "uboot-efi",
};

const char *vm_firmware_name(enum vm_firmware f) {
        return f > VM_FIRMWARE_NONE && f < _VM_FIRMWARE_MAX ? firmware_names[f] : NULL;
}

static int field_firmware(const json_t *v, struct vm_spec *s, struct error *err) {
        if (json_is_null(v))
                return 0;
        if (json_is_string(v))
                for (int f = VM_FIRMWARE_NONE + 1; f < _VM_FIRMWARE_MAX; f++)
                        if (strcmp(json_string_value(v), firmware_names[f]) == 0) {
                                s->firmware = f;
                                s->acpi = f == VM_FIRMWARE_UEFI;
                                return 0;
                        }
        return fail(err, ERROR_INVALID_FIELD, "firmware", "firmware must be \"uefi\", \"uboot-efi\" or null");
}

/* After firmware, whose default it overrides. */
static int field_acpi(const json_t *v, struct vm_spec *s, struct error *err) {
        if (!json_is_boolean(v))
                return fail(err, ERROR_INVALID_FIELD, "acpi", "acpi must be true or false");
        if (json_is_true(v) && s->firmware != VM_FIRMWARE_UEFI)
                return fail(err, ERROR_INVALID_FIELD, "acpi",
                            "acpi needs \"firmware\": \"uefi\" (only EDK2 hands ACPI tables to the OS)");
        s->acpi = json_is_true(v);
        return 0;
}

static int field_kernel(const json_t *v, struct vm_spec *s, struct error *err) {
        if (json_is_null(v)) {
                s->kernel[0] = '\0'; /* a firmware's VM, as stored */
                return 0;
        }
        return parse_name(v, "kernel", s->kernel, IMAGE_NAME_MAX, err);
}

static int field_ramdisk(const json_t *v, struct vm_spec *s, struct error *err) {
        if (json_is_null(v)) {
                s->ramdisk[0] = '\0';
                return 0;
        }
        return parse_name(v, "ramdisk", s->ramdisk, IMAGE_NAME_MAX, err);
}

static int field_cmdline(const json_t *v, struct vm_spec *s, struct error *err) {
        const char *c;

        if (!json_is_string(v))
                return fail(err, ERROR_INVALID_FIELD, "cmdline", "cmdline must be a string");
        c = json_string_value(v);
        if (json_string_length(v) > VM_CMDLINE_MAX)
                return fail(err, ERROR_OUT_OF_RANGE, "cmdline", "cmdline is longer than %d bytes",
                            VM_CMDLINE_MAX);
        for (const char *p = c; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f)
                        return fail(err, ERROR_INVALID_FIELD, "cmdline",
                                    "cmdline must not contain control characters");
        if (strlen(c) != json_string_length(v))
                return fail(err, ERROR_INVALID_FIELD, "cmdline", "cmdline must not contain NUL");
        snprintf(s->cmdline, sizeof(s->cmdline), "%s", c);
        return 0;
}

static int field_consoles(const json_t *v, struct vm_spec *s, struct error *err) {
        bool pv = false, vuart = false;
        size_t i;
        json_t *e;

        if (!json_is_array(v))
                return fail(err, ERROR_INVALID_FIELD, "consoles", "consoles must be an array of \"pv\", \"vuart\"");
        json_array_foreach(v, i, e) {
                const char *c = json_string_value(e);
                bool *seen = !c ? NULL : strcmp(c, "pv") == 0 ? &pv : strcmp(c, "vuart") == 0 ? &vuart : NULL;

                if (!seen)
                        return fail(err, ERROR_SPEC_UNKNOWN_CONSOLE, "consoles",
                                    "consoles may hold only \"pv\" and \"vuart\"");
                if (*seen)
                        return fail(err, ERROR_INVALID_FIELD, "consoles", "consoles lists %s twice", c);
                *seen = true;
        }
        if (!pv)
                return fail(err, ERROR_INVALID_FIELD, "consoles",
                            "consoles must include \"pv\": Xen always gives a guest its PV console");
        s->vuart = vuart;
        return 0;
}

/* One element of "disks": {"image": NAME, "readonly": BOOL}. */
static int parse_disk(const json_t *v, size_t i, struct vm_disk *d, struct error *err) {
        const json_t *image, *ro;
        const char *key;
        json_t *e;

        if (!json_is_object(v))
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "disks", i, NULL),
                            "disks[%zu] must be an object like {\"image\": \"NAME\", \"readonly\": false}", i);
        json_object_foreach((json_t *) (uintptr_t) v, key, e)
                if (strcmp(key, "image") != 0 && strcmp(key, "readonly") != 0)
                        return fail(err, ERROR_UNKNOWN_FIELD, error_field_index(err, "disks", i, NULL),
                                    "unknown field \"%.64s\" in disks[%zu] (image, readonly)", key, i);
        image = json_object_get(v, "image");
        if (!image)
                return fail(err, ERROR_MISSING_FIELD, error_field_index(err, "disks", i, "image"),
                            "disks[%zu].image is required", i);
        if (!json_is_string(image))
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "disks", i, "image"),
                            "disks[%zu].image must be a string", i);
        if (!spec_name_is_valid(json_string_value(image), IMAGE_NAME_MAX))
                return fail(err, ERROR_INVALID_NAME, error_field_index(err, "disks", i, "image"),
                            "disks[%zu].image must be 1 to %d characters of A-Z a-z 0-9 . _ -, not starting with . or -",
                            i, IMAGE_NAME_MAX);
        ro = json_object_get(v, "readonly");
        if (ro && !json_is_boolean(ro))
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "disks", i, "readonly"),
                            "disks[%zu].readonly must be true or false", i);
        snprintf(d->image, sizeof(d->image), "%s", json_string_value(image));
        d->readonly = ro && json_is_true(ro);
        return 0;
}

static int field_disks(const json_t *v, struct vm_spec *s, struct error *err) {
        size_t i;
        json_t *e;

        if (!json_is_array(v))
                return fail(err, ERROR_INVALID_FIELD, "disks",
                            "disks must be an array of {\"image\": \"NAME\", \"readonly\": false}");
        if (json_array_size(v) > VM_DISKS_MAX)
                return fail(err, ERROR_OUT_OF_RANGE, "disks", "a VM has at most %d disks", VM_DISKS_MAX);
        json_array_foreach(v, i, e) {
                int r = parse_disk(e, i, &s->disks[i], err);

                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (strcmp(s->disks[j].image, s->disks[i].image) == 0)
                                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "disks", i, "image"),
                                            "disks lists image %s twice", s->disks[i].image);
        }
        s->n_disks = (unsigned) json_array_size(v);
        return 0;
}

/* One element of "nics": {"network": NAME, "mac": MAC}, and from disk
 * also "address". */
static int parse_nic(const json_t *v, size_t i, bool from_disk, struct vm_nic *n, struct error *err) {
        const char *key;
        json_t *e;

        *n = (struct vm_nic) { .network = "default" };
        if (!json_is_object(v))
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "nics", i, NULL),
                            "nics[%zu] must be an object like {\"network\": \"default\", \"mac\": \"00:16:3e:01:02:03\"}",
                            i);
        json_object_foreach((json_t *) (uintptr_t) v, key, e) {
                if (strcmp(key, "network") != 0 && strcmp(key, "mac") != 0 &&
                    !(from_disk && strcmp(key, "address") == 0))
                        return fail(err, ERROR_UNKNOWN_FIELD, error_field_index(err, "nics", i, NULL),
                                    "unknown field \"%.64s\" in nics[%zu] (network, mac)", key, i);
        }
        e = json_object_get(v, "network");
        if (e && !(json_is_string(e) && spec_name_is_valid(json_string_value(e), VM_NETWORK_NAME_MAX)))
                return fail(err, ERROR_INVALID_NAME, error_field_index(err, "nics", i, "network"),
                            "nics[%zu].network must be a network's name: 1 to %d characters of A-Z a-z 0-9 . _ -, "
                            "not starting with . or -",
                            i, VM_NETWORK_NAME_MAX);
        if (e)
                snprintf(n->network, sizeof(n->network), "%s", json_string_value(e));
        e = json_object_get(v, "mac");
        if (e) {
                const char *field = error_field_index(err, "nics", i, "mac");
                int r;

                if (!json_is_string(e))
                        return fail(err, ERROR_INVALID_FIELD, field, "nics[%zu].mac must be a string like "
                                    "\"00:16:3e:01:02:03\"", i);
                r = net_mac_parse(json_string_value(e), field, n->mac, err);
                if (r < 0)
                        return r;
                /* netback gives every vif this one; the bridge takes it too */
                if (net_mac_equal(n->mac, (const uint8_t[6]) { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff }))
                        return fail(err, ERROR_INVALID_FIELD, field,
                                    "nics[%zu].mac fe:ff:ff:ff:ff:ff is what dom0's vifs use", i);
                n->mac_set = true;
        }
        if (from_disk) {
                e = json_object_get(v, "address");
                if (!n->mac_set || !json_is_string(e) || net_addr_parse(json_string_value(e), &n->address) < 0)
                        return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "nics", i, NULL),
                                    "nics[%zu] must have a mac and an address", i);
        }
        return 0;
}

static int parse_nics(const json_t *v, bool from_disk, struct vm_spec *s, struct error *err) {
        size_t i;
        json_t *e;

        if (!json_is_array(v))
                return fail(err, ERROR_INVALID_FIELD, "nics", "nics must be an array of {\"network\": \"NAME\"}");
        if (json_array_size(v) > VM_NICS_MAX)
                return fail(err, ERROR_OUT_OF_RANGE, "nics", "a VM has at most %d network interfaces", VM_NICS_MAX);
        json_array_foreach(v, i, e) {
                int r = parse_nic(e, i, from_disk, &s->nics[i], err);
                if (r < 0)
                        return r;
                for (size_t j = 0; j < i; j++)
                        if (s->nics[i].mac_set && s->nics[j].mac_set && net_mac_equal(s->nics[i].mac, s->nics[j].mac))
                                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "nics", i, "mac"),
                                            "nics[%zu].mac is also nics[%zu]'s", i, j);
        }
        s->n_nics = (unsigned) json_array_size(v);
        return 0;
}

static int field_nics(const json_t *v, struct vm_spec *s, struct error *err) {
        return parse_nics(v, false, s, err);
}

static int field_nics_disk(const json_t *v, struct vm_spec *s, struct error *err) {
        return parse_nics(v, true, s, err);
}

static int parse_alert(const json_t *e, size_t i, struct vm_alert *a, struct error *err) {
        const char *key, *pattern;
        char why[128];
        struct line_match m;
        json_t *v;

        if (!json_is_object(e))
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "alerts", i, NULL),
                            "an alert is {\"pattern\": \"TEXT\", \"regex\": false, \"console\": \"pv\"}");
        json_object_foreach((json_t *) (uintptr_t) e, key, v)
                if (strcmp(key, "pattern") != 0 && strcmp(key, "regex") != 0 && strcmp(key, "console") != 0)
                        return fail(err, ERROR_UNKNOWN_FIELD, error_field_index(err, "alerts", i, NULL),
                                    "unknown field \"%.64s\" in an alert", key);
        *a = (struct vm_alert) { .console = -1 };
        v = json_object_get(e, "regex");
        if (v && !json_is_boolean(v))
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "alerts", i, "regex"),
                            "regex must be true or false");
        a->regex = json_is_true(v);
        v = json_object_get(e, "console");
        if (v) {
                const char *c = json_string_value(v);

                if (c && strcmp(c, "pv") == 0)
                        a->console = 0;
                else if (c && strcmp(c, "vuart") == 0)
                        a->console = 1;
                else
                        return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "alerts", i, "console"),
                                    "console must be \"pv\" or \"vuart\" (or left out: both)");
        }
        pattern = json_string_value(json_object_get(e, "pattern"));
        if (!pattern)
                return fail(err, ERROR_MISSING_FIELD, error_field_index(err, "alerts", i, "pattern"),
                            "an alert needs a pattern");
        if (line_match_init(&m, pattern, a->regex, 0, why, sizeof(why)) < 0)
                return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "alerts", i, "pattern"), "%s", why);
        line_match_done(&m);
        snprintf(a->pattern, sizeof(a->pattern), "%s", pattern);
        return 0;
}

static int field_alerts(const json_t *v, struct vm_spec *s, struct error *err) {
        size_t i;
        json_t *e;

        if (!json_is_array(v))
                return fail(err, ERROR_INVALID_FIELD, "alerts", "alerts must be an array of {\"pattern\": ...}");
        if (json_array_size(v) > VM_ALERTS_MAX)
                return fail(err, ERROR_OUT_OF_RANGE, "alerts", "a VM has at most %d alerts", VM_ALERTS_MAX);
        json_array_foreach(v, i, e) {
                int r = parse_alert(e, i, &s->alerts[i], err);

                if (r < 0)
                        return r;
                /* consoles comes before alerts in the table: it is known. */
                if (s->alerts[i].console == 1 && !s->vuart)
                        return fail(err, ERROR_INVALID_FIELD, error_field_index(err, "alerts", i, "console"),
                                    "the VM has no vuart console (consoles)");
        }
        s->n_alerts = (unsigned) json_array_size(v);
        return 0;
}

static int field_start(const json_t *v, struct vm_spec *s, struct error *err) {
        if (!json_is_boolean(v))
                return fail(err, ERROR_INVALID_FIELD, "start", "start must be true or false");
        s->start = json_is_true(v);
        return 0;
}

static int field_autostart(const json_t *v, struct vm_spec *s, struct error *err) {
        if (!json_is_boolean(v))
                return fail(err, ERROR_INVALID_FIELD, "autostart", "autostart must be true or false");
        s->autostart = json_is_true(v);
        return 0;
}

static int field_log_max_bytes(const json_t *v, struct vm_spec *s, struct error *err) {
        json_int_t i;

        if (!json_is_integer(v))
                return fail(err, ERROR_INVALID_FIELD, "log_max_bytes", "log_max_bytes must be an integer");
        i = json_integer_value(v);
        if (i < (json_int_t) VM_LOG_MAX_BYTES_MIN || i > (json_int_t) VM_LOG_MAX_BYTES_MAX)
                return fail(err, ERROR_OUT_OF_RANGE, "log_max_bytes", "log_max_bytes must be between %llu and %llu",
                            (unsigned long long) VM_LOG_MAX_BYTES_MIN, (unsigned long long) VM_LOG_MAX_BYTES_MAX);
        s->log_max_bytes = (uint64_t) i;
        return 0;
}

static int field_uuid(const json_t *v, struct vm_spec *s, struct error *err) {
        const char *u = json_string_value(v);
        unsigned b[16];

        if (!u || strlen(u) != 36 ||
            sscanf(u, "%2x%2x%2x%2x-%2x%2x-%2x%2x-%2x%2x-%2x%2x%2x%2x%2x%2x", &b[0], &b[1], &b[2], &b[3], &b[4],
                   &b[5], &b[6], &b[7], &b[8], &b[9], &b[10], &b[11], &b[12], &b[13], &b[14], &b[15]) != 16)
                return fail(err, ERROR_INVALID_FIELD, "uuid", "uuid must look like 01234567-89ab-cdef-0123-456789abcdef");
        for (int i = 0; i < 16; i++)
                s->uuid[i] = (uint8_t) b[i];
        return 0;
}

struct field {
        const char *name;
        int (*parse)(const json_t *v, struct vm_spec *s, struct error *err);
        bool required;
        bool request;   /* accepted in a request */
        bool disk;      /* accepted from disk */
};

static const struct field fields[] = {
        { "name", field_name, true, true, true },
        { "vcpus", field_vcpus, false, true, true },
        { "memory_mib", field_memory, false, true, true },
        { "firmware", field_firmware, false, true, true },
        { "acpi", field_acpi, false, true, true },
        { "kernel", field_kernel, false, true, true },
        { "ramdisk", field_ramdisk, false, true, true },
        { "cmdline", field_cmdline, false, true, true },
        { "consoles", field_consoles, false, true, true },
        { "disks", field_disks, false, true, true },
        { "log_max_bytes", field_log_max_bytes, false, true, true },
        { "autostart", field_autostart, false, true, true },
        { "alerts", field_alerts, false, true, true },
        { "nics", field_nics, false, true, false },
        { "nics", field_nics_disk, false, false, true },
        { "start", field_start, false, true, false },
        { "uuid", field_uuid, true, false, true },
};

static int parse(const json_t *body, bool from_disk, struct vm_spec *ret, struct error *err) {
        struct vm_spec s = {
                .vcpus = 1,
                .memory_mib = 256,
                .vuart = true,
                .start = true,
                .log_max_bytes = VM_LOG_MAX_BYTES_DEFAULT,
        };
        const char *key;
        json_t *v;

        if (!json_is_object(body))
                return fail(err, ERROR_INVALID_JSON, NULL, "the body must be a JSON object");

        json_object_foreach((json_t *) (uintptr_t) body, key, v) {
                const struct field *f = NULL;

                for (size_t i = 0; i < ELEMENTSOF(fields); i++)
                        if (strcmp(fields[i].name, key) == 0 && (from_disk ? fields[i].disk : fields[i].request))
                                f = &fields[i];
                if (!f)
                        return fail(err, ERROR_UNKNOWN_FIELD, NULL, "unknown field \"%.64s\"", key);
        }
        for (size_t i = 0; i < ELEMENTSOF(fields); i++) {
                const struct field *f = &fields[i];
                int r;

                if (!(from_disk ? f->disk : f->request))
                        continue;
                v = json_object_get(body, f->name);
                if (!v) {
                        if (f->required)
                                return fail(err, ERROR_MISSING_FIELD, f->name, "%s is required", f->name);
                        continue;
                }
                r = f->parse(v, &s, err);
                if (r < 0)
                        return r;
        }
        /* A kernel, or a firmware that boots the disk's OS: one of them. */
        if (s.firmware == VM_FIRMWARE_NONE && !s.kernel[0])
                return fail(err, ERROR_MISSING_FIELD, "kernel", "kernel is required (or a firmware)");
        if (s.firmware != VM_FIRMWARE_NONE) {
                static const char *const not_with[] = { "kernel", "ramdisk", "cmdline" };

                for (size_t i = 0; i < ELEMENTSOF(not_with); i++) {
                        v = json_object_get(body, not_with[i]);
                        if (v && !json_is_null(v) && !(json_is_string(v) && !json_string_value(v)[0]))
                                return fail(err, ERROR_INVALID_FIELD, not_with[i],
                                            "a VM with firmware %s boots the OS of its first disk, which brings "
                                            "its own; %s is not for it",
                                            vm_firmware_name(s.firmware), not_with[i]);
                }
        }
        *ret = s;
        return 0;
}

int vm_spec_from_request(const json_t *body, struct vm_spec *ret, struct error *err) {
        return parse(body, false, ret, err);
}

int vm_spec_from_disk(const json_t *j, struct vm_spec *ret, struct error *err) {
        return parse(j, true, ret, err);
}

void vm_uuid_format(const uint8_t u[16], char buf[static VM_UUID_STRING_MAX]) {
        snprintf(buf, VM_UUID_STRING_MAX, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0],
                 u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
}

json_t *vm_spec_to_json(const struct vm_spec *s) {
        char uuid[VM_UUID_STRING_MAX];
        json_t *disks = json_array(), *j;

        for (unsigned i = 0; disks && i < s->n_disks; i++)
                json_array_append_new(disks, json_pack("{s:s,s:b}", "image", s->disks[i].image, "readonly",
                                                       s->disks[i].readonly));

        vm_uuid_format(s->uuid, uuid);
        j = json_pack("{s:s,s:s,s:I,s:I,s:s?,s:b,s:s?,s:o,s:s,s:[s*s*],s:o*,s:I,s:b}", "name", s->name, "uuid",
                      uuid, "vcpus", (json_int_t) s->vcpus, "memory_mib", (json_int_t) s->memory_mib, "firmware",
                      vm_firmware_name(s->firmware), "acpi", s->acpi, "kernel", s->kernel[0] ? s->kernel : NULL,
                      "ramdisk", s->ramdisk[0] ? json_string(s->ramdisk) : json_null(), "cmdline", s->cmdline,
                      "consoles", "pv", s->vuart ? "vuart" : NULL, "disks", disks, "log_max_bytes",
                      (json_int_t) s->log_max_bytes, "autostart", s->autostart);
        if (j) {
                json_t *nics = json_array();

                for (unsigned i = 0; nics && i < s->n_nics; i++) {
                        const struct vm_nic *n = &s->nics[i];
                        char mac[NET_MAC_STRLEN], addr[NET_ADDR_STRLEN];

                        net_mac_format(n->mac, mac);
                        net_addr_format(n->address, addr);
                        json_array_append_new(nics, json_pack("{s:s,s:s?,s:s?}", "network", n->network, "mac",
                                                              n->mac_set ? mac : NULL, "address",
                                                              n->address ? addr : NULL));
                }
                if (json_object_set_new(j, "nics", nics) < 0) {
                        json_decref(j);
                        j = NULL;
                }
        }
        /* Only when there are some: a spec.json without alerts stays one an
         * older agent reads. */
        if (j && s->n_alerts > 0) {
                json_t *alerts = json_array();

                for (unsigned i = 0; alerts && i < s->n_alerts; i++) {
                        const struct vm_alert *a = &s->alerts[i];
                        json_t *o = json_pack("{s:s,s:b}", "pattern", a->pattern, "regex", a->regex);

                        if (o && a->console >= 0)
                                json_object_set_new(o, "console", json_string(a->console == 0 ? "pv" : "vuart"));
                        json_array_append_new(alerts, o);
                }
                if (json_object_set_new(j, "alerts", alerts) < 0) {
                        json_decref(j);
                        j = NULL;
                }
        }
        return j;
}

json_t *vm_spec_to_disk_json(const struct vm_spec *s) {
        json_t *j = vm_spec_to_json(s);

        if (j && s->firmware == VM_FIRMWARE_NONE) {
                json_object_del(j, "firmware");
                json_object_del(j, "acpi");
        }
        if (j && s->n_nics == 0)
                json_object_del(j, "nics");
        return j;
}

bool vm_spec_uses_image(const struct vm_spec *s, const char *name) {
        if ((s->kernel[0] && strcmp(s->kernel, name) == 0) || (s->ramdisk[0] && strcmp(s->ramdisk, name) == 0))
                return true;
        for (unsigned i = 0; i < s->n_disks; i++)
                if (strcmp(s->disks[i].image, name) == 0)
                        return true;
        return false;
}
