/* domain.c: owns the ARM64 toolstack (see domain.h). The build follows the
 * order Xen's own toolstack uses (create, xenstore skeleton, vCPUs, memory,
 * event channels, P2M pool, image, device tree, magic pages, grants,
 * vpl011, disks, introduce), because several steps depend on the earlier ones:
 * the event channels must exist before the magic pages record them, the
 * grants must be seeded before xenstored maps the store ring, and the vpl011
 * needs its page populated but the domain not yet unpaused.
 *
 * Built only for aarch64: Xen's public headers describe the ARM domain
 * configuration only there. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <xenctrl.h>
#include <xenguest.h>
#include <xenstore.h>
#include <xen/hvm/params.h>

#include "domain.h"
#include "guest-acpi.h"
#include "guest-dt.h"

/* Xen's toolstack gives xenstore/console rings this many bytes of output
 * buffer in its `limit` key; we write it for any other backend's sake. */
#define CONSOLE_LIMIT "1048576"

/* Extra KiB above the guest's RAM for Xen's own per-domain pages. */
#define MAXMEM_SLACK_KIB 1024

/* 128 MiB of P2M pool per domain on top of the per-vCPU and per-MiB part. */
#define PAGING_EXTRA_MIB 128

struct domain_toolstack {
        xc_interface *xch;
        struct xs_handle *xsh;
};

static void quiet_vmessage(struct xentoollog_logger *l, xentoollog_level level, int errnoval,
                           const char *context, const char *format, va_list ap) {
        (void) l; (void) level; (void) errnoval; (void) context; (void) format; (void) ap;
}

static void quiet_progress(struct xentoollog_logger *l, const char *context, const char *doing_what,
                           int percent, unsigned long done, unsigned long total) {
        (void) l; (void) context; (void) doing_what; (void) percent; (void) done; (void) total;
}

static void quiet_destroy(struct xentoollog_logger *l) {
        (void) l;
}

static xentoollog_logger quiet_logger = {
        .vmessage = quiet_vmessage,
        .progress = quiet_progress,
        .destroy = quiet_destroy,
};

int domain_toolstack_open(struct domain_toolstack **ret) {
        struct domain_toolstack *t = calloc(1, sizeof(*t));
        int r;

        if (!t)
                return -ENOMEM;
        t->xch = xc_interface_open(&quiet_logger, &quiet_logger, 0);
        if (!t->xch) {
                r = negative_errno();
                goto fail;
        }
        t->xsh = xs_open(0);
        if (!t->xsh) {
                r = negative_errno();
                goto fail;
        }
        if (!xs_watch(t->xsh, "@releaseDomain", "release")) {
                r = negative_errno();
                goto fail;
        }
        *ret = t;
        return 0;
fail:
        domain_toolstack_free(t);
        return r;
}

struct domain_toolstack *domain_toolstack_free(struct domain_toolstack *t) {
        if (!t)
                return NULL;
        if (t->xsh)
                xs_close(t->xsh);
        if (t->xch)
                xc_interface_close(t->xch);
        free(t);
        return NULL;
}

int domain_toolstack_watch_fd(struct domain_toolstack *t) {
        return xs_fileno(t->xsh);
}

int domain_toolstack_read_watches(struct domain_toolstack *t, void (*on_event)(const char *path, void *userdata),
                                  void *userdata) {
        /* xs_fileno() is readable when a watch event is queued; read them
         * all without blocking. */
        for (;;) {
                char **ev = xs_check_watch(t->xsh);

                if (!ev)
                        return errno == EAGAIN ? 0 : negative_errno();
                on_event(ev[XS_WATCH_PATH], userdata);
                free(ev);
        }
}

/* ---- xenstore helpers, each within the caller's transaction ---- */

struct xs_txn {
        struct xs_handle *xsh;
        xs_transaction_t t;
        int error;              /* first failure, negative errno */
        const char *failed;     /* the path that failed */
};

static void txn_write(struct xs_txn *x, const char *value, const char *format, ...) _printf_(3, 4);
/* Formats a key's path; false (and x->error set) if an earlier step failed
 * or the path does not fit. */
static bool txn_path(struct xs_txn *x, char path[static 256], const char *format, va_list ap) _printf_(3, 0);
static bool txn_path(struct xs_txn *x, char path[static 256], const char *format, va_list ap) {
        int n;

        if (x->error)
                return false;
        n = vsnprintf(path, 256, format, ap);
        if (n < 0 || n >= 256) {
                x->error = -ENAMETOOLONG;
                return false;
        }
        return true;
}

static void txn_write(struct xs_txn *x, const char *value, const char *format, ...) {
        char path[256];
        va_list ap;
        bool ok;

        va_start(ap, format);
        ok = txn_path(x, path, format, ap);
        va_end(ap);
        if (!ok)
                return;
        if (!xs_write(x->xsh, x->t, path, value, strlen(value))) {
                x->error = negative_errno();
                x->failed = "xenstore write";
        }
}

/* Sets permissions: owner (with "everyone else" access other) plus, if
 * reader is not UINT32_MAX, read access for reader. */
static void txn_perms(struct xs_txn *x, uint32_t owner, unsigned other, uint32_t reader, const char *format, ...)
        _printf_(5, 6);
static void txn_perms(struct xs_txn *x, uint32_t owner, unsigned other, uint32_t reader, const char *format, ...) {
        struct xs_permissions perms[2] = {
                { .id = owner, .perms = other },
                { .id = reader, .perms = XS_PERM_READ },
        };
        char path[256];
        va_list ap;
        bool ok;

        va_start(ap, format);
        ok = txn_path(x, path, format, ap);
        va_end(ap);
        if (!ok)
                return;
        if (!xs_set_permissions(x->xsh, x->t, path, perms, reader == UINT32_MAX ? 1 : 2)) {
                x->error = negative_errno();
                x->failed = "xenstore permissions";
        }
}

/* Runs fill() in a transaction, retrying when xenstored says EAGAIN (another
 * writer raced us). */
static int xs_transact(struct xs_handle *xsh, void (*fill)(struct xs_txn *x, const void *arg), const void *arg) {
        for (int attempt = 0; attempt < 16; attempt++) {
                struct xs_txn x = { .xsh = xsh };

                x.t = xs_transaction_start(xsh);
                if (x.t == XBT_NULL)
                        return negative_errno();
                fill(&x, arg);
                if (x.error) {
                        (void) xs_transaction_end(xsh, x.t, true);
                        return x.error;
                }
                if (xs_transaction_end(xsh, x.t, false))
                        return 0;
                if (errno != EAGAIN)
                        return negative_errno();
        }
        return -EAGAIN;
}

static void uuid_string(const uint8_t u[16], char s[37]) {
        snprintf(s, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
                 u[0], u[1], u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13],
                 u[14], u[15]);
}

struct skeleton_arg {
        uint32_t domid;
        const struct domain_config *c;
};

/* The keys a domain has before it is built: its directory tree with the
 * guest's and dom0's rights, its name and uuid. */
static void fill_skeleton(struct xs_txn *x, const void *arg) {
        const struct skeleton_arg *a = arg;
        uint32_t d = a->domid;
        char uuid[37], vm[64];
        static const char *const guest_rw[] = { "data", "drivers", "feature", "attr", "error", "control/shutdown",
                                                "control/feature-poweroff", "control/feature-reboot",
                                                "control/feature-suspend", "control/sysrq",
                                                "device/suspend/event-channel" };

        uuid_string(a->c->uuid, uuid);
        snprintf(vm, sizeof(vm), "/vm/%s", uuid);

        xs_rm(x->xsh, x->t, vm);
        txn_write(x, "", "%s", vm);
        txn_perms(x, 0, XS_PERM_NONE, d, "%s", vm);
        txn_write(x, "", "/local/domain/%u", d);
        txn_perms(x, 0, XS_PERM_NONE, d, "/local/domain/%u", d);

        txn_write(x, vm, "/local/domain/%u/vm", d);
        txn_write(x, a->c->name, "/local/domain/%u/name", d);
        txn_write(x, a->c->name, "%s/name", vm);
        txn_write(x, uuid, "%s/uuid", vm);

        for (const char *const *k = (const char *const[]) { "cpu", "memory", "device", "control", NULL }; *k; k++) {
                txn_write(x, "", "/local/domain/%u/%s", d, *k);
                txn_perms(x, 0, XS_PERM_NONE, d, "/local/domain/%u/%s", d, *k);
        }
        for (size_t i = 0; i < ELEMENTSOF(guest_rw); i++) {
                txn_write(x, "", "/local/domain/%u/%s", d, guest_rw[i]);
                txn_perms(x, d, XS_PERM_NONE, UINT32_MAX, "/local/domain/%u/%s", d, guest_rw[i]);
        }
        txn_write(x, "1", "/local/domain/%u/control/platform-feature-multiprocessor-suspend", d);
        txn_write(x, "1", "/local/domain/%u/control/platform-feature-xs_reset_watches", d);
}

struct post_arg {
        uint32_t domid;
        const struct domain_config *c;
        uint32_t store_port;
        uint64_t store_gfn;
        uint64_t console_gfn, vuart_gfn;
        uint32_t console_port, vuart_port;
};

/* The keys written once the domain is built: memory, store ring, vCPUs, and
 * both consoles' frontend and backend directories (vuart first: a console
 * backend that watches the console directory then finds both). */
static void fill_post(struct xs_txn *x, const void *arg) {
        const struct post_arg *a = arg;
        uint32_t d = a->domid;
        char v[64], uuid[37];
        struct timespec ts;

        snprintf(v, sizeof(v), "%llu", (unsigned long long) a->c->memory_mib * 1024);
        txn_write(x, v, "/local/domain/%u/memory/static-max", d);
        txn_write(x, v, "/local/domain/%u/memory/target", d);
        txn_write(x, "0", "/local/domain/%u/memory/videoram", d);
        snprintf(v, sizeof(v), "%u", d);
        txn_write(x, v, "/local/domain/%u/domid", d);
        snprintf(v, sizeof(v), "%u", a->store_port);
        txn_write(x, v, "/local/domain/%u/store/port", d);
        snprintf(v, sizeof(v), "%llu", (unsigned long long) a->store_gfn);
        txn_write(x, v, "/local/domain/%u/store/ring-ref", d);
        for (unsigned i = 0; i < a->c->vcpus; i++)
                txn_write(x, "online", "/local/domain/%u/cpu/%u/availability", d, i);
        uuid_string(a->c->uuid, uuid);
        clock_gettime(CLOCK_REALTIME, &ts);
        snprintf(v, sizeof(v), "%lld.%02ld", (long long) ts.tv_sec, ts.tv_nsec / 10000000);
        txn_write(x, v, "/vm/%s/start_time", uuid);

        /* "type" names the backend; a value other than "xenconsoled" keeps
         * a stray xenconsoled away from rings that are ours. */
        if (a->vuart_gfn) {
                txn_write(x, "", "/local/domain/%u/vuart/0", d);
                txn_perms(x, 0, XS_PERM_NONE, d, "/local/domain/%u/vuart/0", d);
                txn_write(x, "/local/domain/0/backend/vuart", "/local/domain/%u/vuart/0/backend", d);
                snprintf(v, sizeof(v), "%u", a->vuart_port);
                txn_write(x, v, "/local/domain/%u/vuart/0/port", d);
                snprintf(v, sizeof(v), "%llu", (unsigned long long) a->vuart_gfn);
                txn_write(x, v, "/local/domain/%u/vuart/0/ring-ref", d);
                txn_write(x, CONSOLE_LIMIT, "/local/domain/%u/vuart/0/limit", d);
                txn_write(x, "xvmd", "/local/domain/%u/vuart/0/type", d);
        }
        txn_write(x, "", "/local/domain/%u/console", d);
        txn_perms(x, 0, XS_PERM_NONE, d, "/local/domain/%u/console", d);
        txn_write(x, "/local/domain/0/backend/console", "/local/domain/%u/console/backend", d);
        txn_write(x, "0", "/local/domain/%u/console/backend-id", d);
        snprintf(v, sizeof(v), "%u", a->console_port);
        txn_write(x, v, "/local/domain/%u/console/port", d);
        snprintf(v, sizeof(v), "%llu", (unsigned long long) a->console_gfn);
        txn_write(x, v, "/local/domain/%u/console/ring-ref", d);
        txn_write(x, CONSOLE_LIMIT, "/local/domain/%u/console/limit", d);
        txn_write(x, "xvmd", "/local/domain/%u/console/type", d);
        txn_write(x, "pty", "/local/domain/%u/console/output", d);
}

/* One PV disk, as libxl writes a "phy" disk (libxl_disk.c: device_disk_add,
 * libxl_device.c: libxl__device_generic_add), except that the agent is its
 * own hotplug script: the block device already exists, so `physical-device`
 * (hex major:minor, which xen-blkback waits for) goes in with the rest and
 * no `script` key is written. The frontend directory belongs to the guest
 * (dom0 may read), the backend directory to dom0 (the guest may read). */
static void fill_disk(struct xs_txn *x, uint32_t d, unsigned index, const struct domain_disk *disk) {
        unsigned devid = (202u << 8) | (index << 4);    /* xvd<a + index>, partition 0 */
        char fe[96], be[96], v[64], vdev[8];

        snprintf(fe, sizeof(fe), "/local/domain/%u/device/vbd/%u", d, devid);
        snprintf(be, sizeof(be), "/local/domain/0/backend/vbd/%u/%u", d, devid);
        snprintf(vdev, sizeof(vdev), "xvd%c", (int) ('a' + index));

        txn_write(x, "", "%s", fe);
        txn_perms(x, d, XS_PERM_NONE, 0, "%s", fe);
        txn_write(x, be, "%s/backend", fe);
        txn_write(x, "0", "%s/backend-id", fe);
        txn_write(x, "1", "%s/state", fe);
        snprintf(v, sizeof(v), "%u", devid);
        txn_write(x, v, "%s/virtual-device", fe);
        txn_write(x, "disk", "%s/device-type", fe);
        txn_write(x, "1", "%s/trusted", fe);

        txn_write(x, "", "%s", be);
        txn_perms(x, 0, XS_PERM_NONE, d, "%s", be);
        txn_write(x, fe, "%s/frontend", be);
        snprintf(v, sizeof(v), "%u", d);
        txn_write(x, v, "%s/frontend-id", be);
        txn_write(x, "1", "%s/online", be);
        txn_write(x, "0", "%s/removable", be);
        txn_write(x, "1", "%s/bootable", be);
        txn_write(x, "1", "%s/state", be);
        txn_write(x, vdev, "%s/dev", be);
        txn_write(x, "phy", "%s/type", be);
        txn_write(x, disk->readonly ? "r" : "w", "%s/mode", be);
        txn_write(x, "disk", "%s/device-type", be);
        txn_write(x, "0", "%s/discard-enable", be);
        txn_write(x, "xen", "%s/specification", be);
        txn_write(x, disk->params, "%s/params", be);
        txn_write(x, disk->node, "%s/physical-device-path", be);
        snprintf(v, sizeof(v), "%x:%x", disk->major, disk->minor);
        txn_write(x, v, "%s/physical-device", be);
}

/* One vif, as libxl writes it (libxl_nic.c: libxl__set_xenstore_nic) with
 * the vbd's permissions. Linux 6.1's netback fails its probe without a
 * `script` key, though nobody runs it here: the agent does the script's
 * work (networks.c puts vifD.N on the bridge, then domain_vif_connected()).
 * `hotplug-status` starts empty; netback connects once it says
 * "connected". */
static void fill_vif(struct xs_txn *x, uint32_t d, unsigned index, const struct domain_nic *nic) {
        char fe[96], be[96], v[64];

        snprintf(fe, sizeof(fe), "/local/domain/%u/device/vif/%u", d, index);
        snprintf(be, sizeof(be), "/local/domain/0/backend/vif/%u/%u", d, index);
        snprintf(v, sizeof(v), "%02x:%02x:%02x:%02x:%02x:%02x", nic->mac[0], nic->mac[1], nic->mac[2], nic->mac[3],
                 nic->mac[4], nic->mac[5]);

        txn_write(x, "", "%s", fe);
        txn_perms(x, d, XS_PERM_NONE, 0, "%s", fe);
        txn_write(x, be, "%s/backend", fe);
        txn_write(x, "0", "%s/backend-id", fe);
        txn_write(x, "1", "%s/state", fe);
        txn_write(x, v, "%s/mac", fe);
        txn_write(x, "1", "%s/trusted", fe);

        txn_write(x, "", "%s", be);
        txn_perms(x, 0, XS_PERM_NONE, d, "%s", be);
        txn_write(x, fe, "%s/frontend", be);
        txn_write(x, v, "%s/mac", be);
        snprintf(v, sizeof(v), "%u", d);
        txn_write(x, v, "%s/frontend-id", be);
        txn_write(x, "1", "%s/online", be);
        txn_write(x, "1", "%s/state", be);
        txn_write(x, "xvmd", "%s/script", be);
        txn_write(x, nic->bridge, "%s/bridge", be);
        snprintf(v, sizeof(v), "%u", index);
        txn_write(x, v, "%s/handle", be);
        txn_write(x, v, "%s/handle", fe);
        txn_write(x, "vif", "%s/type", be);
        txn_write(x, "", "%s/hotplug-status", be);
}

struct disks_arg {
        uint32_t domid;
        const struct domain_config *c;
};

static void fill_disks(struct xs_txn *x, const void *arg) {
        const struct disks_arg *a = arg;

        for (unsigned i = 0; i < a->c->n_disks; i++)
                fill_disk(x, a->domid, i, &a->c->disks[i]);
        for (unsigned i = 0; i < a->c->n_nics; i++)
                fill_vif(x, a->domid, i, &a->c->nics[i]);
}

/* Every failure of domain_build(): the step that failed, in the words of
 * the API's error. */
#define build_fail(e, r, format, ...) \
        error_set(e, r, ERROR_BUILD_FAILED, NULL, "building the domain failed: " format, ##__VA_ARGS__)

static void remove_keys(struct domain_toolstack *t, uint32_t domid) {
        char path[64], *vm;
        unsigned len;

        snprintf(path, sizeof(path), "/local/domain/%u/vm", domid);
        vm = xs_read(t->xsh, XBT_NULL, path, &len);
        if (vm && strncmp(vm, "/vm/", 4) == 0 && !strchr(vm + 4, '/'))
                xs_rm(t->xsh, XBT_NULL, vm);
        free(vm);
        snprintf(path, sizeof(path), "/local/domain/%u", domid);
        xs_rm(t->xsh, XBT_NULL, path);
        snprintf(path, sizeof(path), "/local/domain/0/backend/console/%u", domid);
        xs_rm(t->xsh, XBT_NULL, path);
        snprintf(path, sizeof(path), "/local/domain/0/backend/vuart/%u", domid);
        xs_rm(t->xsh, XBT_NULL, path);
        snprintf(path, sizeof(path), "/local/domain/0/backend/vbd/%u", domid);
        xs_rm(t->xsh, XBT_NULL, path);
        snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u", domid);
        xs_rm(t->xsh, XBT_NULL, path);
}

int domain_build(struct domain_toolstack *t, const struct domain_config *c, struct domain_built *ret,
                 struct error *err) {
        struct xen_domctl_createdomain cfg = {
                .flags = XEN_DOMCTL_CDF_hvm | XEN_DOMCTL_CDF_hap,
                .max_vcpus = c->vcpus,
                .max_evtchn_port = 1023,
                .max_grant_frames = -1,
                .max_maptrack_frames = -1,
                .grant_opts = XEN_DOMCTL_GRANT_version(1),
                .arch = {
                        .gic_version = XEN_DOMCTL_CONFIG_GIC_NATIVE,
                        .tee_type = XEN_DOMCTL_CONFIG_TEE_NONE,
                        /* The vpl011's SPI 32 must be inside the vGIC. */
                        .nr_spis = c->vuart ? 1 : 0,
                },
        };
        struct xc_dom_image *dom = NULL;
        void *dt = NULL, *acpi = NULL;
        size_t dt_size = 0, acpi_size = 0;
        uint32_t domid = 0, vuart_port = 0;
        int store_port, console_port, r;
        uint8_t seed[64];
        xc_dominfo_t info;

        if (c->n_disks > DOMAIN_DISKS_MAX)
                return build_fail(err, -E2BIG, "at most %d disks", DOMAIN_DISKS_MAX);
        if (c->n_nics > DOMAIN_NICS_MAX)
                return build_fail(err, -E2BIG, "at most %d network interfaces", DOMAIN_NICS_MAX);
        memcpy(cfg.handle, c->uuid, sizeof(cfg.handle));
        if (xc_domain_create(t->xch, &domid, &cfg) < 0)
                return build_fail(err, negative_errno(), "xc_domain_create: %s", strerror(errno));

        r = xs_transact(t->xsh, fill_skeleton, &(struct skeleton_arg) { .domid = domid, .c = c });
        if (r < 0) {
                build_fail(err, r, "writing the xenstore skeleton: %s", strerror(-r));
                goto fail;
        }
        if (xc_domain_max_vcpus(t->xch, domid, c->vcpus) < 0) {
                r = build_fail(err, negative_errno(), "xc_domain_max_vcpus(%u): %s", c->vcpus,
                           strerror(errno));
                goto fail;
        }
        /* How Xen signals the guest's event channels: PPI 31, level, active
         * low. The device tree says so too (/hypervisor/interrupts), but a
         * Linux booted with ACPI reads only this (xen_acpi_guest_init);
         * libxl sets it for every Arm guest. */
        if (xc_hvm_param_set(t->xch, domid, HVM_PARAM_CALLBACK_IRQ,
                             (uint64_t) HVM_PARAM_CALLBACK_TYPE_PPI << 56 |
                                     (uint64_t) HVM_PARAM_CALLBACK_TYPE_PPI_FLAG_LOW_LEVEL << 8 |
                                     GUEST_DT_EVTCHN_PPI) < 0) {
                r = build_fail(err, negative_errno(), "setting the event channel interrupt: %s", strerror(errno));
                goto fail;
        }
        /* The ACPI tables, for the GIC Xen chose: pages of the guest outside
         * its RAM, so counted in its maximum as libxl does. */
        if (c->acpi) {
                struct guest_acpi_config ac = {
                        .nr_vcpus = c->vcpus,
                        .gic_version = cfg.arch.gic_version == XEN_DOMCTL_CONFIG_GIC_V3 ? 3 : 2,
                        .vpl011 = c->vuart,
                };

                acpi = malloc(GUEST_ACPI_SIZE_MAX);
                r = acpi ? guest_acpi_build(&ac, acpi, GUEST_ACPI_SIZE_MAX, &acpi_size) : -ENOMEM;
                if (r < 0) {
                        r = build_fail(err, r == -ENOMEM ? r : -EINVAL, "building the guest's ACPI tables: %s",
                                       guest_acpi_strerror(r));
                        goto fail;
                }
        }
        if (xc_domain_setmaxmem(t->xch, domid,
                                (uint64_t) c->memory_mib * 1024 + MAXMEM_SLACK_KIB +
                                        (acpi_size + XC_PAGE_SIZE - 1) / XC_PAGE_SIZE * (XC_PAGE_SIZE / 1024)) < 0) {
                r = build_fail(err, negative_errno(), "xc_domain_setmaxmem: %s", strerror(errno));
                goto fail;
        }
        store_port = xc_evtchn_alloc_unbound(t->xch, domid, 0);
        console_port = xc_evtchn_alloc_unbound(t->xch, domid, 0);
        if (store_port < 0 || console_port < 0) {
                r = build_fail(err, negative_errno(), "xc_evtchn_alloc_unbound: %s", strerror(errno));
                goto fail;
        }
        /* Without this the domain's page tables come from a 16-page pool
         * and populating its RAM fails with ENOMEM. */
        if (xc_set_paging_mempool_size(t->xch, domid,
                                       ((uint64_t) 256 * c->vcpus + c->memory_mib + PAGING_EXTRA_MIB) * 4 * 1024) <
            0) {
                r = build_fail(err, negative_errno(), "xc_set_paging_mempool_size: %s", strerror(errno));
                goto fail;
        }

        dom = xc_dom_allocate(t->xch, NULL, NULL);
        if (!dom) {
                r = build_fail(err, -ENOMEM, "xc_dom_allocate failed");
                goto fail;
        }
        dom->container_type = XC_DOM_HVM_CONTAINER;
        if (xc_dom_kernel_file(dom, c->kernel) != 0) {
                r = build_fail(err, -EINVAL, "loading the kernel image %s failed", c->kernel);
                goto fail;
        }
        if (c->ramdisk && xc_dom_module_file(dom, c->ramdisk, NULL) != 0) {
                r = build_fail(err, -EINVAL, "loading the ramdisk %s failed", c->ramdisk);
                goto fail;
        }
        dom->console_evtchn = (unsigned) console_port;
        dom->console_domid = 0;
        dom->xenstore_evtchn = (unsigned) store_port;
        dom->xenstore_domid = 0;
        dom->max_vcpus = c->vcpus;

        if (xc_dom_boot_xen_init(dom, t->xch, domid) != 0 || xc_dom_rambase_init(dom, GUEST_RAM_BASE) != 0) {
                r = build_fail(err, -EIO, "xc_dom_boot_xen_init failed");
                goto fail;
        }
        if (xc_dom_parse_image(dom) != 0) {
                r = build_fail(err, -EINVAL, "the kernel is not an arm64 Image (no loader accepts it)");
                goto fail;
        }

        if (getrandom(seed, sizeof(seed), GRND_NONBLOCK) != (ssize_t) sizeof(seed))
                memset(seed, 0, sizeof(seed));
        {
                struct guest_dt_params p = {
                        .gic_version = cfg.arch.gic_version == XEN_DOMCTL_CONFIG_GIC_V3 ? 3 : 2,
                        .nr_vcpus = c->vcpus,
                        .cmdline = c->cmdline,
                        .has_initrd = c->ramdisk != NULL,
                        .vpl011 = c->vuart,
                        .stdout_kind = c->stdout_vuart ? GUEST_DT_STDOUT_VUART : GUEST_DT_STDOUT_NONE,
                        .clock_frequency = cfg.arch.clock_frequency,
                        .xen_version_compat = "4.17",
                        .acpi_size = acpi_size,
                        .rng_seed = seed,
                        .rng_seed_len = sizeof(seed),
                };

                r = guest_dt_build(&p, &dt, &dt_size);
                if (r < 0) {
                        build_fail(err, r, "building the device tree: %s", strerror(-r));
                        goto fail;
                }
        }
        /* libxenguest keeps the pointer, not a copy: dt lives until release. */
        if (xc_dom_devicetree_mem(dom, dt, dt_size) != 0) {
                r = build_fail(err, -EIO, "xc_dom_devicetree_mem failed");
                goto fail;
        }
        if (xc_dom_mem_init(dom, c->memory_mib) != 0) {
                r = build_fail(err, -ENOMEM, "xc_dom_mem_init(%u MiB) failed", c->memory_mib);
                goto fail;
        }
        if (xc_dom_boot_mem_init(dom) != 0) {
                r = build_fail(err, -ENOMEM, "allocating the guest's memory failed (xc_dom_boot_mem_init)");
                goto fail;
        }

        if (xc_domain_getinfo(t->xch, domid, 1, &info) != 1 || info.domid != domid) {
                r = build_fail(err, -ESRCH, "xc_domain_getinfo failed");
                goto fail;
        }
        {
                struct guest_dt_layout l = {
                        .bank_size = { (uint64_t) dom->rambank_size[0] << XC_PAGE_SHIFT,
                                       (uint64_t) dom->rambank_size[1] << XC_PAGE_SHIFT },
                        .gpaddr_bits = info.gpaddr_bits,
                };

                if (c->ramdisk) {
                        l.has_initrd = true;
                        l.initrd_start = dom->modules[0].seg.vstart;
                        l.initrd_end = dom->modules[0].seg.vend;
                }
                r = guest_dt_finalise(dt, &l);
                if (r < 0) {
                        build_fail(err, r, "finalising the device tree: %s", strerror(-r));
                        goto fail;
                }
        }
        /* libxenguest copies the tables into the guest while it builds the
         * image (xc_dom_load_acpi); they are ours to free afterwards. */
        if (acpi) {
                dom->acpi_modules[0].data = acpi;
                dom->acpi_modules[0].length = (uint32_t) acpi_size;
                dom->acpi_modules[0].guest_addr_out = GUEST_DT_ACPI_BASE;
        }
        if (xc_dom_build_image(dom) != 0) {
                r = build_fail(err, -EIO, "xc_dom_build_image failed");
                goto fail;
        }
        if (xc_dom_boot_image(dom) != 0) {
                r = build_fail(err, -EIO, "xc_dom_boot_image failed");
                goto fail;
        }
        if (xc_dom_gnttab_init(dom) != 0) {
                r = build_fail(err, -EIO, "xc_dom_gnttab_init failed");
                goto fail;
        }
        if (c->vuart && xc_dom_vuart_init(t->xch, XEN_DOMCTL_VUART_TYPE_VPL011, domid, 0, dom->vuart_gfn,
                                          &vuart_port) != 0) {
                r = build_fail(err, negative_errno(), "xc_dom_vuart_init: %s", strerror(errno));
                goto fail;
        }

        {
                struct post_arg a = {
                        .domid = domid,
                        .c = c,
                        .store_port = (uint32_t) store_port,
                        .store_gfn = dom->xenstore_pfn,
                        .console_gfn = dom->console_pfn,
                        .console_port = (uint32_t) console_port,
                        .vuart_gfn = c->vuart ? dom->vuart_gfn : 0,
                        .vuart_port = vuart_port,
                };

                r = xs_transact(t->xsh, fill_post, &a);
                if (r < 0) {
                        build_fail(err, r, "writing the domain's xenstore keys: %s", strerror(-r));
                        goto fail;
                }
                /* Before the guest runs: U-Boot and Linux enumerate
                 * device/vbd once, early (and the vifs with them). */
                r = xs_transact(t->xsh, fill_disks, &(struct disks_arg) { .domid = domid, .c = c });
                if (r < 0) {
                        build_fail(err, r, "writing the disks' and vifs' xenstore keys: %s", strerror(-r));
                        goto fail;
                }
                if (!xs_introduce_domain(t->xsh, domid, a.store_gfn, a.store_port)) {
                        r = build_fail(err, negative_errno(), "xs_introduce_domain: %s", strerror(errno));
                        goto fail;
                }
                *ret = (struct domain_built) {
                        .domid = domid,
                        .gic_version = cfg.arch.gic_version == XEN_DOMCTL_CONFIG_GIC_V3 ? 3 : 2,
                        .pv = { .gfn = a.console_gfn, .remote_port = a.console_port },
                        .vuart = { .gfn = a.vuart_gfn, .remote_port = a.vuart_port },
                };
        }
        xc_dom_release(dom);
        free(dt);
        free(acpi);
        return 0;

fail:
        if (dom)
                xc_dom_release(dom);
        free(dt);
        free(acpi);
        (void) xc_domain_destroy(t->xch, domid);
        remove_keys(t, domid);
        return r;
}

int domain_unpause(struct domain_toolstack *t, uint32_t domid) {
        return xc_domain_unpause(t->xch, domid) < 0 ? negative_errno() : 0;
}

int domain_pause(struct domain_toolstack *t, uint32_t domid) {
        return xc_domain_pause(t->xch, domid) < 0 ? negative_errno() : 0;
}

int domain_request_shutdown(struct domain_toolstack *t, uint32_t domid, bool reboot) {
        char path[64];
        const char *v = reboot ? "reboot" : "poweroff";

        snprintf(path, sizeof(path), "/local/domain/%u/control/shutdown", domid);
        return xs_write(t->xsh, XBT_NULL, path, v, strlen(v)) ? 0 : negative_errno();
}

int domain_vif_connected(struct domain_toolstack *t, uint32_t domid, unsigned index) {
        char path[96];

        snprintf(path, sizeof(path), "/local/domain/0/backend/vif/%u/%u/hotplug-status", domid, index);
        return xs_write(t->xsh, XBT_NULL, path, "connected", strlen("connected")) ? 0 : negative_errno();
}

/* libxl first asks each disk backend to close (online 0, state 5) and
 * waits up to 10 s for state 6 before it destroys the domain. The agent
 * removes the keys after the domain is gone instead: xen-blkback's xenbus
 * watch sees its backend directory vanish and unregisters the device, which
 * unmaps the dead guest's ring and closes the block device (the loop device
 * then clears itself); nothing waits. */
int domain_destroy(struct domain_toolstack *t, uint32_t domid) {
        int r = 0;

        if (xc_domain_destroy(t->xch, domid) < 0 && errno != ESRCH)
                r = negative_errno();
        remove_keys(t, domid);
        return r;
}

int domain_get_state(struct domain_toolstack *t, uint32_t domid, struct domain_state *ret) {
        xc_dominfo_t info;
        char path[64], *name;
        unsigned len;
        int n;

        *ret = (struct domain_state) { .state = DOMAIN_GONE };
        n = xc_domain_getinfo(t->xch, domid, 1, &info);
        if (n < 0)
                return negative_errno();
        if (n == 0 || info.domid != domid)
                return 0;
        memcpy(ret->uuid, info.handle, sizeof(ret->uuid));
        if (info.dying)
                ret->state = DOMAIN_DYING;
        else if (info.crashed)
                ret->state = DOMAIN_CRASHED;
        else if (info.shutdown) {
                ret->state = info.shutdown_reason == DOMAIN_SHUTDOWN_CRASH ? DOMAIN_CRASHED : DOMAIN_SHUTDOWN;
                ret->shutdown_reason = (int) info.shutdown_reason;
        } else if (info.paused)
                ret->state = DOMAIN_PAUSED;
        else
                ret->state = DOMAIN_RUNNING;

        snprintf(path, sizeof(path), "/local/domain/%u/name", domid);
        name = xs_read(t->xsh, XBT_NULL, path, &len);
        if (name && len < sizeof(ret->name))
                memcpy(ret->name, name, len + 1);
        free(name);
        return 0;
}

static int read_u64(struct domain_toolstack *t, uint32_t domid, const char *key, uint64_t *ret) {
        char path[96], *v, *end;
        unsigned len;
        unsigned long long n;

        snprintf(path, sizeof(path), "/local/domain/%u/%s", domid, key);
        v = xs_read(t->xsh, XBT_NULL, path, &len);
        if (!v)
                return negative_errno();
        errno = 0;
        n = strtoull(v, &end, 10);
        if (errno || end == v || *end) {
                free(v);
                return -EBADMSG;
        }
        free(v);
        *ret = n;
        return 0;
}

int domain_get_rings(struct domain_toolstack *t, uint32_t domid, struct domain_built *ret) {
        uint64_t gfn, port;
        int r;

        *ret = (struct domain_built) { .domid = domid };
        r = read_u64(t, domid, "console/ring-ref", &gfn);
        if (r < 0)
                return r;
        r = read_u64(t, domid, "console/port", &port);
        if (r < 0)
                return r;
        ret->pv = (struct domain_ring) { .gfn = gfn, .remote_port = (uint32_t) port };
        if (read_u64(t, domid, "vuart/0/ring-ref", &gfn) == 0 && read_u64(t, domid, "vuart/0/port", &port) == 0)
                ret->vuart = (struct domain_ring) { .gfn = gfn, .remote_port = (uint32_t) port };
        return 0;
}

int domain_list(struct domain_toolstack *t, uint32_t *domids, size_t max, size_t *ret_n) {
        xc_domaininfo_t info[64];
        uint32_t next = 1;
        size_t n = 0;

        for (;;) {
                int got = xc_domain_getinfolist(t->xch, next, ELEMENTSOF(info), info);

                if (got < 0)
                        return negative_errno();
                for (int i = 0; i < got; i++)
                        if (info[i].domain != 0 && n < max)
                                domids[n++] = info[i].domain;
                if (got < (int) ELEMENTSOF(info))
                        break;
                next = info[got - 1].domain + 1;
        }
        *ret_n = n;
        return 0;
}

int domain_cpu_times(struct domain_toolstack *t, const uint32_t *domids, size_t n, uint64_t *ret_ns) {
        xc_domaininfo_t info[64];
        uint32_t next = 1;

        for (size_t j = 0; j < n; j++)
                ret_ns[j] = UINT64_MAX;
        for (;;) {
                int got = xc_domain_getinfolist(t->xch, next, ELEMENTSOF(info), info);

                if (got < 0)
                        return negative_errno();
                for (int i = 0; i < got; i++)
                        for (size_t j = 0; j < n; j++)
                                if (domids[j] == info[i].domain)
                                        ret_ns[j] = info[i].cpu_time;
                if (got < (int) ELEMENTSOF(info))
                        return 0;
                next = info[got - 1].domain + 1;
        }
}

static int read_sysfs_u64(const char *dir, const char *name, uint64_t *ret) {
        char path[160], buf[32];
        ssize_t n;
        int fd;

        snprintf(path, sizeof(path), "%s/%s", dir, name);
        fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        n = read(fd, buf, sizeof(buf) - 1);
        close(fd);
        if (n <= 0)
                return n < 0 ? negative_errno() : -EIO;
        buf[n] = '\0';
        *ret = strtoull(buf, NULL, 10);
        return 0;
}

int domain_disk_stats(uint32_t domid, unsigned index, struct domain_disk_stats *ret) {
        char dir[96];
        uint64_t rd_sect = 0, wr_sect = 0;
        int r;

        snprintf(dir, sizeof(dir), "/sys/bus/xen-backend/devices/vbd-%u-%u/statistics", domid,
                 (202u << 8) | (index << 4));
        r = read_sysfs_u64(dir, "rd_sect", &rd_sect);
        if (r >= 0)
                r = read_sysfs_u64(dir, "wr_sect", &wr_sect);
        if (r >= 0)
                r = read_sysfs_u64(dir, "rd_req", &ret->read_ops);
        if (r >= 0)
                r = read_sysfs_u64(dir, "wr_req", &ret->write_ops);
        if (r < 0)
                return r;
        /* blkback counts sectors of 2^9 bytes whatever the disk's block size. */
        ret->read_bytes = rd_sect << 9;
        ret->write_bytes = wr_sect << 9;
        return 0;
}

int domain_host_resources(struct domain_toolstack *t, uint64_t *ret_free_mib, unsigned *ret_cpus) {
        xc_physinfo_t p = { 0 };

        if (xc_physinfo(t->xch, &p) < 0)
                return negative_errno();
        *ret_free_mib = p.free_pages >> (20 - XC_PAGE_SHIFT);
        *ret_cpus = p.nr_cpus;
        return 0;
}
