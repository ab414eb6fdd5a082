/* domain-none.c: the toolstack where the agent is not built for ARM64 (the
 * unit-test build on x86): every call says so, so that the rest of the agent
 * builds and its API answers xen_unavailable instead of pretending. */
#include <errno.h>
#include <stddef.h>

#include "domain.h"

int domain_toolstack_open(struct domain_toolstack **ret) {
        *ret = NULL;
        return -EOPNOTSUPP;
}

struct domain_toolstack *domain_toolstack_free(struct domain_toolstack *t) {
        (void) t;
        return NULL;
}

int domain_toolstack_watch_fd(struct domain_toolstack *t) {
        (void) t;
        return -EOPNOTSUPP;
}

int domain_toolstack_read_watches(struct domain_toolstack *t, void (*on_event)(const char *path, void *userdata),
                                  void *userdata) {
        (void) t; (void) on_event; (void) userdata;
        return -EOPNOTSUPP;
}

int domain_build(struct domain_toolstack *t, const struct domain_config *c, struct domain_built *ret,
                 struct error *err) {
        (void) t; (void) c; (void) ret;
        return error_set(err, -EOPNOTSUPP, ERROR_XEN_UNAVAILABLE, NULL, "this agent is built without a toolstack");
}

int domain_unpause(struct domain_toolstack *t, uint32_t domid) {
        (void) t; (void) domid;
        return -EOPNOTSUPP;
}

int domain_pause(struct domain_toolstack *t, uint32_t domid) {
        (void) t; (void) domid;
        return -EOPNOTSUPP;
}

int domain_request_shutdown(struct domain_toolstack *t, uint32_t domid, bool reboot) {
        (void) t; (void) domid; (void) reboot;
        return -EOPNOTSUPP;
}

int domain_destroy(struct domain_toolstack *t, uint32_t domid) {
        (void) t; (void) domid;
        return -EOPNOTSUPP;
}

int domain_get_state(struct domain_toolstack *t, uint32_t domid, struct domain_state *ret) {
        (void) t; (void) domid; (void) ret;
        return -EOPNOTSUPP;
}

int domain_list(struct domain_toolstack *t, uint32_t *domids, size_t max, size_t *ret_n) {
        (void) t; (void) domids; (void) max; (void) ret_n;
        return -EOPNOTSUPP;
}

int domain_cpu_times(struct domain_toolstack *t, const uint32_t *domids, size_t n, uint64_t *ret_ns) {
        (void) t; (void) domids; (void) n; (void) ret_ns;
        return -EOPNOTSUPP;
}

int domain_vif_connected(struct domain_toolstack *t _unused_, uint32_t domid _unused_, unsigned index _unused_) {
        return -EOPNOTSUPP;
}

int domain_disk_stats(uint32_t domid, unsigned index, struct domain_disk_stats *ret) {
        (void) domid; (void) index; (void) ret;
        return -EOPNOTSUPP;
}

int domain_host_resources(struct domain_toolstack *t, uint64_t *ret_free_mib, unsigned *ret_cpus) {
        (void) t; (void) ret_free_mib; (void) ret_cpus;
        return -EOPNOTSUPP;
}

int domain_get_rings(struct domain_toolstack *t, uint32_t domid, struct domain_built *ret) {
        (void) t; (void) domid; (void) ret;
        return -EOPNOTSUPP;
}
