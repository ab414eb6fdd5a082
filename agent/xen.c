/* xen.c: owns the agent's handles on the hypervisor (see xen.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xenctrl.h>
#include <xenhypfs.h>

#include "gzip.h"
#include "xen.h"

struct xen {
        xc_interface *xch;
        xenhypfs_handle *hypfs;
};

/* Without a logger of their own the libraries print to stderr; the daemon
 * layer reports failures once, from the errno these functions return. */
static void quiet_vmessage(struct xentoollog_logger *l _unused_, xentoollog_level level _unused_,
                           int errnoval _unused_, const char *context _unused_,
                           const char *format _unused_, va_list ap _unused_) {
}

static void quiet_destroy(struct xentoollog_logger *l _unused_) {
}

static xentoollog_logger quiet_logger = {
        .vmessage = quiet_vmessage,
        .destroy = quiet_destroy,
};

/* A failed step: xen_unavailable, with the step and the errno in words. */
static int fail(struct error *e, int r, const char *what) {
        return error_set(e, r, ERROR_XEN_UNAVAILABLE, NULL, "%s: %s", what, strerror(-r));
}

int xen_new(struct xen **ret) {
        struct xen *x = calloc(1, sizeof(*x));

        if (!x)
                return -ENOMEM;
        *ret = x;
        return 0;
}

struct xen *xen_free(struct xen *x) {
        if (!x)
                return NULL;
        if (x->hypfs)
                xenhypfs_close(x->hypfs);
        if (x->xch)
                xc_interface_close(x->xch);
        free(x);
        return NULL;
}

static int open_xc(struct xen *x, struct error *err) {
        if (x->xch)
                return 0;
        x->xch = xc_interface_open(&quiet_logger, &quiet_logger, 0);
        if (!x->xch) {
                return fail(err, negative_errno(), "opening libxenctrl (is this dom0 under Xen?)");
        }
        return 0;
}

static int open_hypfs(struct xen *x, struct error *err) {
        if (x->hypfs)
                return 0;
        x->hypfs = xenhypfs_open(&quiet_logger, 0);
        if (!x->hypfs) {
                return fail(err, negative_errno(), "opening libxenhypfs (Xen built without CONFIG_HYPFS?)");
        }
        return 0;
}

int xen_get_version(struct xen *x, struct xen_version *ret, struct error *err) {
        xen_extraversion_t extra;
        int r, v;

        r = open_xc(x, err);
        if (r < 0)
                return r;

        v = xc_version(x->xch, XENVER_version, NULL);
        if (v < 0) {
                return fail(err, negative_errno(), "xc_version(XENVER_version)");
        }
        memset(extra, 0, sizeof(extra));
        if (xc_version(x->xch, XENVER_extraversion, &extra) < 0) {
                return fail(err, negative_errno(), "xc_version(XENVER_extraversion)");
        }

        *ret = (struct xen_version) {
                .major = (unsigned) v >> 16,
                .minor = (unsigned) v & 0xffff,
        };
        /* Xen NUL-pads the field but need not terminate a full one. */
        memcpy(ret->extra, extra, strnlen(extra, sizeof(extra)));
        return 0;
}

int xen_get_physinfo(struct xen *x, struct xen_physinfo *ret, struct error *err) {
        xc_physinfo_t info = { 0 };
        int r;

        r = open_xc(x, err);
        if (r < 0)
                return r;

        if (xc_physinfo(x->xch, &info) < 0) {
                return fail(err, negative_errno(), "xc_physinfo()");
        }

        *ret = (struct xen_physinfo) {
                .nr_cpus = info.nr_cpus,
                .total_mib = info.total_pages >> (20 - XC_PAGE_SHIFT),
                .free_mib = info.free_pages >> (20 - XC_PAGE_SHIFT),
        };
        return 0;
}

int xen_set_dom0_weight(struct xen *x, unsigned weight, unsigned *ret_old, struct error *err) {
        int r, sched;

        r = open_xc(x, err);
        if (r < 0)
                return r;
        if (weight == 0 || weight > UINT16_MAX)
                return fail(err, -EINVAL, "a scheduler weight is 1 to 65535");
        if (xc_sched_id(x->xch, &sched) < 0)
                return fail(err, negative_errno(), "xc_sched_id()");
        if (sched == XEN_SCHEDULER_CREDIT2) {
                struct xen_domctl_sched_credit2 p = { 0 };

                if (xc_sched_credit2_domain_get(x->xch, 0, &p) < 0)
                        return fail(err, negative_errno(), "xc_sched_credit2_domain_get(0)");
                *ret_old = p.weight;
                p.weight = (uint16_t) weight;
                if (xc_sched_credit2_domain_set(x->xch, 0, &p) < 0)
                        return fail(err, negative_errno(), "xc_sched_credit2_domain_set(0)");
        } else if (sched == XEN_SCHEDULER_CREDIT) {
                struct xen_domctl_sched_credit p = { 0 };

                if (xc_sched_credit_domain_get(x->xch, 0, &p) < 0)
                        return fail(err, negative_errno(), "xc_sched_credit_domain_get(0)");
                *ret_old = p.weight;
                p.weight = (uint16_t) weight;
                if (xc_sched_credit_domain_set(x->xch, 0, &p) < 0)
                        return fail(err, negative_errno(), "xc_sched_credit_domain_set(0)");
        } else
                return fail(err, -EOPNOTSUPP, "Xen's scheduler has no weights");
        return 0;
}

/* xenhypfs_read() would inflate too, but hands back a buffer without its
 * length or a terminating NUL (the gzip'd .config has none), so read raw and
 * inflate here, bounded. */
int xen_read_build_config(struct xen *x, char **ret, size_t *ret_size, struct error *err) {
        _cleanup_free_ void *raw = NULL;
        _cleanup_free_ struct xenhypfs_dirent *dirent = NULL;
        int r;

        r = open_hypfs(x, err);
        if (r < 0)
                return r;

        raw = xenhypfs_read_raw(x->hypfs, "/buildinfo/config", &dirent);
        if (!raw) {
                return fail(err, negative_errno(),
                            "reading hypfs /buildinfo/config (Xen built without CONFIG_HYPFS_CONFIG?)");
        }
        if (dirent->type != xenhypfs_type_string && dirent->type != xenhypfs_type_blob) {
                return fail(err, -EBADMSG, "hypfs /buildinfo/config is not a string");
        }

        if (dirent->encoding == xenhypfs_enc_gzip) {
                r = gzip_inflate(raw, dirent->size, XEN_BUILD_CONFIG_MAX, ret, ret_size);
                return r < 0 ? fail(err, r, "inflating hypfs /buildinfo/config") : 0;
        }
        if (dirent->size > XEN_BUILD_CONFIG_MAX) {
                return fail(err, -EFBIG, "hypfs /buildinfo/config is too large");
        }
        *ret_size = dirent->size;
        *ret = TAKE_PTR(raw);
        return 0;
}
