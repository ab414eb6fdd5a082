/* host.h: owns the description of the machine the agent runs on (GET /v1/host):
 * a plain struct, its JSON form, and the readers that fill it from Xen and
 * from dom0's firmware tables. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

struct xen;

enum dom0_boot {
        DOM0_BOOT_DT,
        DOM0_BOOT_ACPI,
};

struct host_info {
        char xen_version[64];
        struct {
                bool new_vgic, acpi, sbsa_vuart_console;
        } xen_config;
        int gic_version;
        enum dom0_boot dom0_boot;
        uint32_t cpus;
        uint64_t memory_total_mib, memory_free_mib;
};

/* Where the readers look; tests point these at fixture directories. */
struct host_paths {
        const char *sys;  /* "/sys" */
        const char *proc; /* "/proc" */
};

#define HOST_PATHS_DEFAULT ((struct host_paths) { .sys = "/sys", .proc = "/proc" })

/* Returns a new reference, or NULL on ENOMEM. */
json_t *host_info_to_json(const struct host_info *h);

/* "4.17" plus extraversion ".5" gives "4.17.5"; "-rc" or "+xyz" are appended
 * unchanged too. Returns 0, or -ENOBUFS if buf is too small. */
int host_format_xen_version(unsigned major, unsigned minor, const char *extra, char *buf, size_t size);

/* Fills *ret from Xen and the firmware tables. Nothing is guessed: on any
 * failure returns the negative errno and fills *err (xen_unavailable when
 * Xen could not be asked, firmware_unavailable for dom0's tables). */
int host_info_read(struct xen *x, const struct host_paths *paths, struct host_info *ret, struct error *err);

/* The readers host_info_read() uses, each on its own for tests. */
int host_read_dom0_boot(const struct host_paths *paths, enum dom0_boot *ret);
int host_read_gic_version(const struct host_paths *paths, enum dom0_boot boot, struct error *err);
