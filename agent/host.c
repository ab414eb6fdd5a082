/* host.c: owns the description of the machine the agent runs on (see host.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "dt-gic.h"
#include "fileio.h"
#include "host.h"
#include "macro.h"
#include "madt.h"
#include "xen-config.h"
#include "xen.h"

#define MADT_MAX (64 * 1024)

json_t *host_info_to_json(const struct host_info *h) {
        return json_pack("{s:{s:s,s:{s:b,s:b,s:b}},s:i,s:s,s:I,s:{s:I,s:I}}",
                         "xen",
                         "version", h->xen_version,
                         "config",
                         "NEW_VGIC", h->xen_config.new_vgic,
                         "ACPI", h->xen_config.acpi,
                         "SBSA_VUART_CONSOLE", h->xen_config.sbsa_vuart_console,
                         "gic_version", h->gic_version,
                         "dom0_boot", h->dom0_boot == DOM0_BOOT_ACPI ? "acpi" : "dt",
                         "cpus", (json_int_t) h->cpus,
                         "memory_mib",
                         "total", (json_int_t) h->memory_total_mib,
                         "free", (json_int_t) h->memory_free_mib);
}

int host_format_xen_version(unsigned major, unsigned minor, const char *extra, char *buf, size_t size) {
        int n = snprintf(buf, size, "%u.%u%s", major, minor, extra ? extra : "");

        return n < 0 || (size_t) n >= size ? -ENOBUFS : 0;
}

static char *path_join(char *buf, size_t size, const char *root, const char *rel) {
        int n = snprintf(buf, size, "%s/%s", root, rel);

        return n < 0 || (size_t) n >= size ? NULL : buf;
}

int host_read_dom0_boot(const struct host_paths *paths, enum dom0_boot *ret) {
        char p[4096];
        struct stat st;

        if (!path_join(p, sizeof(p), paths->sys, "firmware/acpi/tables"))
                return -ENAMETOOLONG;
        if (stat(p, &st) < 0) {
                if (errno != ENOENT && errno != ENOTDIR)
                        return negative_errno();
                *ret = DOM0_BOOT_DT;
        } else
                *ret = S_ISDIR(st.st_mode) ? DOM0_BOOT_ACPI : DOM0_BOOT_DT;
        return 0;
}

static int read_file_bounded(const char *path, uint8_t *buf, size_t size, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        ssize_t n;

        *ret_size = 0;
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        n = read_full(fd, buf, size);
        if (n < 0)
                return (int) n;
        if ((size_t) n == size)
                return -EFBIG;
        *ret_size = (size_t) n;
        return 0;
}

/* A failed read of dom0's firmware tables: firmware_unavailable, with what
 * was being read and the errno in words. */
static int firmware_fail(struct error *e, int r, const char *what) {
        return error_set(e, r, ERROR_FIRMWARE_UNAVAILABLE, NULL, "%s: %s", what, strerror(-r));
}

int host_read_gic_version(const struct host_paths *paths, enum dom0_boot boot, struct error *err) {
        static const char dt_what[] = "finding the GIC node in dom0's device tree";
        char p[4096];
        int r;

        if (boot == DOM0_BOOT_ACPI) {
                static const char what[] = "reading the ACPI MADT (/sys/firmware/acpi/tables/APIC)";
                _cleanup_free_ uint8_t *buf = NULL;
                size_t size;

                if (!path_join(p, sizeof(p), paths->sys, "firmware/acpi/tables/APIC"))
                        return firmware_fail(err, -ENAMETOOLONG, what);
                buf = malloc(MADT_MAX);
                if (!buf)
                        return firmware_fail(err, -ENOMEM, what);
                r = read_file_bounded(p, buf, MADT_MAX, &size);
                if (r < 0)
                        return firmware_fail(err, r, what);
                r = madt_gic_version(buf, size);
                return r < 0 ? firmware_fail(err, r, "parsing the ACPI MADT (/sys/firmware/acpi/tables/APIC)") : r;
        }

        /* /proc/device-tree is normally a link to /sys/firmware/devicetree/base,
         * but either may be missing (no procfs link, sysfs without it). */
        if (!path_join(p, sizeof(p), paths->proc, "device-tree"))
                return firmware_fail(err, -ENAMETOOLONG, dt_what);
        r = dt_gic_version(p);
        if (r != -ENOENT)
                return r < 0 ? firmware_fail(err, r, dt_what) : r;
        if (!path_join(p, sizeof(p), paths->sys, "firmware/devicetree/base"))
                return firmware_fail(err, -ENAMETOOLONG, dt_what);
        r = dt_gic_version(p);
        return r < 0 ? firmware_fail(err, r, dt_what) : r;
}

static int read_xen(struct xen *x, struct host_info *h, struct error *err) {
        _cleanup_(xen_config_freep) struct xen_config *config = NULL;
        _cleanup_free_ char *text = NULL;
        struct xen_version v;
        struct xen_physinfo pi;
        size_t size;
        int r;

        r = xen_get_version(x, &v, err);
        if (r < 0)
                return r;
        r = host_format_xen_version(v.major, v.minor, v.extra, h->xen_version, sizeof(h->xen_version));
        if (r < 0)
                return error_set(err, r, ERROR_XEN_UNAVAILABLE, NULL, "formatting the Xen version: %s",
                                 strerror(-r));

        r = xen_get_physinfo(x, &pi, err);
        if (r < 0)
                return r;
        h->cpus = pi.nr_cpus;
        h->memory_total_mib = pi.total_mib;
        h->memory_free_mib = pi.free_mib;

        r = xen_read_build_config(x, &text, &size, err);
        if (r < 0)
                return r;
        r = xen_config_parse(text, size, &config);
        if (r < 0)
                return error_set(err, r, ERROR_XEN_UNAVAILABLE, NULL, "parsing hypfs /buildinfo/config: %s",
                                 strerror(-r));
        h->xen_config.new_vgic = xen_config_enabled(config, "NEW_VGIC");
        h->xen_config.acpi = xen_config_enabled(config, "ACPI");
        h->xen_config.sbsa_vuart_console = xen_config_enabled(config, "SBSA_VUART_CONSOLE");
        return 0;
}

int host_info_read(struct xen *x, const struct host_paths *paths, struct host_info *ret, struct error *err) {
        struct host_info h = { 0 };
        int r;

        r = read_xen(x, &h, err);
        if (r < 0)
                return r;
        r = host_read_dom0_boot(paths, &h.dom0_boot);
        if (r < 0)
                return firmware_fail(err, r, "checking /sys/firmware/acpi/tables");
        r = host_read_gic_version(paths, h.dom0_boot, err);
        if (r < 0)
                return r;
        h.gic_version = r;

        *ret = h;
        return 0;
}
