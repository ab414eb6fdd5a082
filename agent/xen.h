/* xen.h: owns the agent's handles on the hypervisor (libxenctrl, libxenhypfs)
 * and is the only module that calls those libraries, so their error habits
 * (-1 plus errno, NULL plus errno, a stderr logger) stop here. Handles are
 * opened on first use and kept; a failed open is retried on the next call. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "macro.h"

#define XEN_EXTRAVERSION_MAX 16

struct xen;

struct xen_version {
        unsigned major, minor;
        char extra[XEN_EXTRAVERSION_MAX + 1]; /* e.g. ".5", "-rc", "" */
};

struct xen_physinfo {
        uint32_t nr_cpus;
        uint64_t total_mib, free_mib;
};

int xen_new(struct xen **ret);
struct xen *xen_free(struct xen *x);
DEFINE_CLEANUP_FUNC(struct xen, xen_free);

/* Each returns 0 or a negative errno; on failure *err (if not NULL) is
 * xen_unavailable and names the step that failed. */
int xen_get_version(struct xen *x, struct xen_version *ret, struct error *err);
int xen_get_physinfo(struct xen *x, struct xen_physinfo *ret, struct error *err);

/* Sets dom0's weight under Xen's credit or credit2 scheduler (a guest's
 * default is XEN_DEFAULT_WEIGHT), its weight before in *ret_old; -EOPNOTSUPP
 * under a scheduler without weights. */
#define XEN_DEFAULT_WEIGHT 256
int xen_set_dom0_weight(struct xen *x, unsigned weight, unsigned *ret_old, struct error *err);

/* The Kconfig text Xen was built with (hypfs /buildinfo/config), inflated,
 * not NUL-terminated, at most XEN_BUILD_CONFIG_MAX bytes. *ret is malloc'd. */
#define XEN_BUILD_CONFIG_MAX (1024 * 1024)
int xen_read_build_config(struct xen *x, char **ret, size_t *ret_size, struct error *err);
