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

static void set_what(const char **ret_what, const char *what) {
        if (ret_what)
                *ret_what = what;
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

static int open_xc(struct xen *x, const char **ret_what) {
        if (x->xch)
                return 0;
        x->xch = xc_interface_open(&quiet_logger, &quiet_logger, 0);
        if (!x->xch) {
                set_what(ret_what, "opening libxenctrl (is this dom0 under Xen?)");
                return negative_errno();
        }
        return 0;
}

static int open_hypfs(struct xen *x, const char **ret_what) {
        if (x->hypfs)
                return 0;
        x->hypfs = xenhypfs_open(&quiet_logger, 0);
        if (!x->hypfs) {
                set_what(ret_what, "opening libxenhypfs (Xen built without CONFIG_HYPFS?)");
                return negative_errno();
        }
        return 0;
}

int xen_get_version(struct xen *x, struct xen_version *ret, const char **ret_what) {
        xen_extraversion_t extra;
        int r, v;

        r = open_xc(x, ret_what);
        if (r < 0)
                return r;

        v = xc_version(x->xch, XENVER_version, NULL);
        if (v < 0) {
                set_what(ret_what, "xc_version(XENVER_version)");
                return negative_errno();
        }
        memset(extra, 0, sizeof(extra));
        if (xc_version(x->xch, XENVER_extraversion, &extra) < 0) {
                set_what(ret_what, "xc_version(XENVER_extraversion)");
                return negative_errno();
        }

        *ret = (struct xen_version) {
                .major = (unsigned) v >> 16,
                .minor = (unsigned) v & 0xffff,
        };
        /* Xen NUL-pads the field but need not terminate a full one. */
        memcpy(ret->extra, extra, strnlen(extra, sizeof(extra)));
        return 0;
}

int xen_get_physinfo(struct xen *x, struct xen_physinfo *ret, const char **ret_what) {
        xc_physinfo_t info = { 0 };
        int r;

        r = open_xc(x, ret_what);
        if (r < 0)
                return r;

        if (xc_physinfo(x->xch, &info) < 0) {
                set_what(ret_what, "xc_physinfo()");
                return negative_errno();
        }

        *ret = (struct xen_physinfo) {
                .nr_cpus = info.nr_cpus,
                .total_mib = info.total_pages >> (20 - XC_PAGE_SHIFT),
                .free_mib = info.free_pages >> (20 - XC_PAGE_SHIFT),
        };
        return 0;
}

/* xenhypfs_read() would inflate too, but hands back a buffer without its
 * length or a terminating NUL (the gzip'd .config has none), so read raw and
 * inflate here, bounded. */
int xen_read_build_config(struct xen *x, char **ret, size_t *ret_size, const char **ret_what) {
        _cleanup_free_ void *raw = NULL;
        _cleanup_free_ struct xenhypfs_dirent *dirent = NULL;
        int r;

        r = open_hypfs(x, ret_what);
        if (r < 0)
                return r;

        raw = xenhypfs_read_raw(x->hypfs, "/buildinfo/config", &dirent);
        if (!raw) {
                set_what(ret_what, "reading hypfs /buildinfo/config (Xen built without CONFIG_HYPFS_CONFIG?)");
                return negative_errno();
        }
        if (dirent->type != xenhypfs_type_string && dirent->type != xenhypfs_type_blob) {
                set_what(ret_what, "hypfs /buildinfo/config is not a string");
                return -EBADMSG;
        }

        if (dirent->encoding == xenhypfs_enc_gzip) {
                r = gzip_inflate(raw, dirent->size, XEN_BUILD_CONFIG_MAX, ret, ret_size);
                if (r < 0)
                        set_what(ret_what, "inflating hypfs /buildinfo/config");
                return r;
        }
        if (dirent->size > XEN_BUILD_CONFIG_MAX) {
                set_what(ret_what, "hypfs /buildinfo/config is too large");
                return -EFBIG;
        }
        *ret_size = dirent->size;
        *ret = TAKE_PTR(raw);
        return 0;
}
