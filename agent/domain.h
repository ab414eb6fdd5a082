/* domain.h: owns the agent's toolstack, the code that makes, starts and
 * tears down Xen domUs on ARM64 with libxenctrl, libxenguest and
 * libxenstore (no libxl, no xl). It knows Xen and xenstore; it knows nothing
 * of VMs' names on disk, of HTTP, or of consoles beyond telling where their
 * rings and event channels are.
 *
 * A domain is built paused, with its xenstore keys written and introduced to
 * xenstored; the caller binds the console backends and then unpauses it, so
 * the guest's first byte already has a reader. PV disks are written as
 * frontend and backend directories that dom0's kernel backend picks up; the
 * block devices behind them are the caller's. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "macro.h"

struct domain_toolstack;

/* A PV disk as its backend (Linux xen-blkback in dom0, "phy" type) sees it:
 * a block device by number. The guest sees disk i as xvd<a + i>. */
struct domain_disk {
        const char *params;     /* what the disk is, for people (the image's path) */
        const char *node;       /* the block device's path, e.g. /dev/loop0 */
        uint32_t major, minor;  /* the block device the backend opens */
        bool readonly;
};

/* A PV network interface as Linux xen-netback sees it: vif N of the guest
 * is dom0's netdev vifD.N, which the caller puts on bridge once netback has
 * made it (domain_vif_connected() then lets netback connect). */
struct domain_nic {
        uint8_t mac[6];
        const char *bridge;     /* for people reading xenstore: the agent enslaves it itself */
};

#define DOMAIN_NICS_MAX 8
#define DOMAIN_DISKS_MAX 16     /* xvda..xvdp: the compact virtual-device numbers */

struct domain_config {
        const char *name;       /* xenstore name, already validated */
        uint8_t uuid[16];
        unsigned vcpus;
        unsigned memory_mib;
        const char *kernel;     /* path of an arm64 Image (or gzip'd one) */
        const char *ramdisk;    /* path, or NULL */
        const char *cmdline;    /* guest bootargs, or NULL */
        bool acpi;              /* ACPI tables for the guest (guest-acpi.h), for UEFI firmware */
        bool vuart;             /* an emulated SBSA UART (vpl011) */
        bool stdout_vuart;      /* /chosen/stdout-path points at it */
        const struct domain_disk *disks;
        unsigned n_disks;       /* at most DOMAIN_DISKS_MAX */
        const struct domain_nic *nics;
        unsigned n_nics;        /* at most DOMAIN_NICS_MAX */
};

/* Where one console's shared ring is and which guest event channel port
 * the backend binds to. */
struct domain_ring {
        uint64_t gfn;           /* 0: no such console */
        uint32_t remote_port;
};

struct domain_built {
        uint32_t domid;
        int gic_version;        /* 2 or 3, what Xen chose */
        struct domain_ring pv;
        struct domain_ring vuart;
};

enum domain_run_state {
        DOMAIN_GONE,            /* no such domain (destroyed) */
        DOMAIN_RUNNING,         /* running or blocked */
        DOMAIN_PAUSED,
        DOMAIN_SHUTDOWN,        /* see shutdown_reason */
        DOMAIN_CRASHED,
        DOMAIN_DYING,
};

enum domain_shutdown_reason {
        DOMAIN_SHUTDOWN_POWEROFF = 0,
        DOMAIN_SHUTDOWN_REBOOT = 1,
        DOMAIN_SHUTDOWN_SUSPEND = 2,
        DOMAIN_SHUTDOWN_CRASH = 3,
        DOMAIN_SHUTDOWN_WATCHDOG = 4,
        DOMAIN_SHUTDOWN_SOFT_RESET = 5,
};

struct domain_state {
        enum domain_run_state state;
        int shutdown_reason;    /* DOMAIN_SHUTDOWN_*, valid in DOMAIN_SHUTDOWN */
        char name[64];          /* xenstore name, "" if none */
        uint8_t uuid[16];       /* Xen's handle of the domain (the VM's uuid, for the agent's) */
};

/* Opens libxenctrl and libxenstore. -EOPNOTSUPP where the agent is not built
 * for ARM64 (the unit-test build on x86). */
int domain_toolstack_open(struct domain_toolstack **ret);
struct domain_toolstack *domain_toolstack_free(struct domain_toolstack *t);
DEFINE_CLEANUP_FUNC(struct domain_toolstack, domain_toolstack_free);

/* The fd of the toolstack's xenstore connection, readable when a watch fires,
 * and the call that drains it. The toolstack watches @releaseDomain (a domain
 * shut down, crashed or went away) from the start; on_event is called with
 * the token for each event read. */
int domain_toolstack_watch_fd(struct domain_toolstack *t);
int domain_toolstack_read_watches(struct domain_toolstack *t, void (*on_event)(const char *path, void *userdata),
                                  void *userdata);

/* Builds the domain, paused. On failure nothing is left behind (domain
 * destroyed, keys removed) and *err (build_failed) names the step that
 * failed. */
int domain_build(struct domain_toolstack *t, const struct domain_config *c, struct domain_built *ret,
                 struct error *err);

int domain_unpause(struct domain_toolstack *t, uint32_t domid);
int domain_pause(struct domain_toolstack *t, uint32_t domid);

/* Asks the guest to power off or reboot through xenstore control/shutdown
 * (the PV protocol); the guest acknowledges by clearing the key. */
int domain_request_shutdown(struct domain_toolstack *t, uint32_t domid, bool reboot);

/* Destroys the domain and removes every xenstore key the toolstack wrote for
 * it (the disk backends' directories too: the kernel backend then lets go of
 * its block devices). The caller must have released its console mappings first, or the
 * domain lingers as dying until it does. Destroying a domain that is gone
 * is not an error. */
int domain_destroy(struct domain_toolstack *t, uint32_t domid);

int domain_get_state(struct domain_toolstack *t, uint32_t domid, struct domain_state *ret);

/* Reads back, from the keys domain_build wrote, where a running domain's
 * console rings are: how a restarted agent finds its consoles again. */
int domain_get_rings(struct domain_toolstack *t, uint32_t domid, struct domain_built *ret);

/* Lists domids other than dom0 (for finding domains after an agent restart). */
int domain_list(struct domain_toolstack *t, uint32_t *domids, size_t max, size_t *ret_n);

/* The CPU time each of domids[0..n) has used, in ns (Xen's cpu_time, all
 * its vCPUs), UINT64_MAX for a domid Xen does not list: one sweep of
 * xc_domain_getinfolist (a hypercall that returns at once), however many. */
int domain_cpu_times(struct domain_toolstack *t, const uint32_t *domids, size_t n, uint64_t *ret_ns);

/* What dom0's xen-blkback counted for disk index (xvda + index) of domid
 * since the disk was connected (sysfs .../vbd-D-DEVID/statistics: files the
 * kernel fills at once). -ENOENT while it has no backend device. */
struct domain_disk_stats {
        uint64_t read_bytes, write_bytes, read_ops, write_ops;
};
int domain_disk_stats(uint32_t domid, unsigned index, struct domain_disk_stats *ret);

/* Vif index of domid is on its bridge: its backend's `hotplug-status` is
 * "connected", which xen-netback waits for before it connects (Xen's
 * vif-bridge script writes it; the agent is that script). */
int domain_vif_connected(struct domain_toolstack *t, uint32_t domid, unsigned index);

/* Free memory of the hypervisor, in MiB, and its physical CPU count. */
int domain_host_resources(struct domain_toolstack *t, uint64_t *ret_free_mib, unsigned *ret_cpus);
