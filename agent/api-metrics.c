/* api-metrics.c: GET /metrics, the agent's counts in the Prometheus text
 * format (metrics.h writes it), and the HTTP counts every answer adds to
 * (api_observe()). A scrape runs on the event loop, so it reads only what
 * the agent holds in memory, plus Xen's physinfo and version and one sweep
 * of domain infos for the VMs' CPU time (hypercalls that return at once),
 * and dom0's disk backends' counts in sysfs (files the kernel fills at
 * once); no xenstore, no hypfs, no firmware tables, no file on disk. */
#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api-internal.h"
#include "console-ws.h"
#include "metrics.h"

/* The histogram's upper bounds, 1 ms to 10 s. */
static const uint64_t duration_bounds_usec[API_DURATION_BUCKETS] = {
        1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

/* The methods counted by name; any other is "other", so that a client
 * cannot make new series by inventing methods. */
static const char *const method_names[] = {
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other",
};

static uint8_t method_index(const char *method) {
        for (size_t i = 0; i + 1 < ELEMENTSOF(method_names); i++)
                if (strcmp(method, method_names[i]) == 0)
                        return (uint8_t) i;
        return (uint8_t) (ELEMENTSOF(method_names) - 1);
}

static void count_answer(struct api_http_stats *h, size_t route, uint8_t method, unsigned status) {
        struct api_http_count *c;

        for (size_t i = 0; i < h->n_counts; i++) {
                c = &h->counts[i];
                if (c->route == route && c->method == method && c->status == status) {
                        c->n++;
                        return;
                }
        }
        if (h->n_counts == h->size_counts) {
                size_t size = h->size_counts ? h->size_counts * 2 : 32;

                if (size > API_HTTP_COUNTS_MAX)
                        size = API_HTTP_COUNTS_MAX;
                c = h->n_counts < size ? realloc(h->counts, size * sizeof(*c)) : NULL;
                if (!c) {
                        h->dropped++;
                        return;
                }
                h->counts = c;
                h->size_counts = size;
        }
        h->counts[h->n_counts++] = (struct api_http_count) {
                .route = (uint8_t) route, .method = method, .status = (uint16_t) status, .n = 1,
        };
}

void api_observe(struct api *a, const char *method, const char *path, unsigned status, uint64_t start_usec) {
        struct api_http_stats *h = &a->http;
        uint64_t now = api_now_usec(), usec = now > start_usec ? now - start_usec : 0;
        size_t route = api_route_template(path), b = 0;

        while (b < API_DURATION_BUCKETS && usec > duration_bounds_usec[b])
                b++;
        h->buckets[route][b]++;
        h->sum_usec[route] += usec;
        count_answer(h, route, method_index(method), status > UINT16_MAX ? UINT16_MAX : status);
}

void api_observe_stranger_refused(struct api *a) {
        a->http.strangers_refused++;
}

void api_observe_stranger_cut(struct api *a) {
        a->http.strangers_cut++;
}

void api_observe_tls_handshake_failed(struct api *a) {
        a->http.tls_handshakes_failed++;
}

/* ---- the scrape ---- */

static void write_agent(struct metrics *m, const struct api *a) {
        metrics_family(m, "xvmd_up", METRICS_GAUGE, "The agent answers (always 1).");
        metrics_u64(m, 1, NULL);
        metrics_family(m, "xvmd_build_info", METRICS_GAUGE, "The agent's version (always 1).");
        metrics_u64(m, 1, "version", XVMD_VERSION, NULL);
        metrics_family(m, "xvmd_start_time_seconds", METRICS_GAUGE,
                       "When the agent started, in seconds since the Unix epoch.");
        metrics_double(m, a->started_realtime, NULL);
        if (!a->vms)
                return;
        /* The event log (GET /v1/events). */
        metrics_family(m, "xvmd_events_total", METRICS_COUNTER, "Events the agent recorded since it started.");
        metrics_u64(m, events_appended(vms_events(a->vms)), NULL);
        metrics_family(m, "xvmd_events_unstored_total", METRICS_COUNTER,
                       "Events that could not be stored on disk when they happened (a full disk).");
        metrics_u64(m, events_unstored(vms_events(a->vms)), NULL);
        metrics_family(m, "xvmd_event_streams", METRICS_GAUGE, "Clients following GET /v1/events.");
        metrics_u64(m, events_watchers(vms_events(a->vms)), NULL);
}

/* Xen's version (XENVER_version and _extraversion: two hypercalls) and
 * physinfo (XEN_SYSCTL_physinfo: one), both answered by the hypervisor at
 * once; on a host without Xen, xvmd_xen_up 0 and nothing else. */
static void write_host(struct metrics *m, struct api *a) {
        struct xen_physinfo pi = { 0 };
        struct xen_version v = { 0 };
        struct error err = { 0 };
        char version[64];
        bool up;

        up = a->xen && xen_get_physinfo(a->xen, &pi, &err) >= 0;
        metrics_family(m, "xvmd_xen_up", METRICS_GAUGE, "Whether the agent can ask Xen (its physinfo answered).");
        metrics_u64(m, up, NULL);
        if (!up)
                return;

        metrics_family(m, "xvmd_xen_info", METRICS_GAUGE, "The hypervisor's version (always 1).");
        if (xen_get_version(a->xen, &v, &err) >= 0 &&
            host_format_xen_version(v.major, v.minor, v.extra, version, sizeof(version)) >= 0)
                metrics_u64(m, 1, "version", version, NULL);

        metrics_family(m, "xvmd_host_cpus", METRICS_GAUGE, "The host's CPUs (Xen's physinfo).");
        metrics_u64(m, pi.nr_cpus, NULL);
        metrics_family(m, "xvmd_host_memory_bytes", METRICS_GAUGE,
                       "The host's memory, in whole MiB (Xen's physinfo total_pages).");
        metrics_u64(m, pi.total_mib << 20, NULL);
        metrics_family(m, "xvmd_host_memory_free_bytes", METRICS_GAUGE,
                       "The host's memory no domain has, in whole MiB (Xen's physinfo free_pages).");
        metrics_u64(m, pi.free_mib << 20, NULL);
}

static void write_vms(struct metrics *m, const struct vms *vms) {
        size_t n = vms_count(vms);
        uint64_t max_bytes, keep_free, bytes, cpu_ns[VMS_MAX];

        metrics_family(m, "xvmd_vm_info", METRICS_GAUGE, "A VM the agent manages, with its uuid (always 1).");
        for (size_t i = 0; i < n; i++) {
                const struct vm *vm = vms_get(vms, i);
                char uuid[VM_UUID_STRING_MAX];

                vm_uuid_format(vm_get_spec(vm)->uuid, uuid);
                metrics_u64(m, 1, "vm", vm_name(vm), "uuid", uuid, NULL);
        }
        metrics_family(m, "xvmd_vm_state", METRICS_GAUGE, "1 for the state the VM is in, 0 for the others.");
        for (size_t i = 0; i < n; i++) {
                const struct vm *vm = vms_get(vms, i);

                for (int s = 0; s < _VM_STATE_MAX; s++)
                        metrics_u64(m, vm_state(vm) == (enum vm_state) s, "vm", vm_name(vm), "state",
                                    vm_state_to_string((enum vm_state) s), NULL);
        }
        metrics_family(m, "xvmd_vm_vcpus", METRICS_GAUGE, "The VM's virtual CPUs (its spec).");
        for (size_t i = 0; i < n; i++)
                metrics_u64(m, vm_get_spec(vms_get(vms, i))->vcpus, "vm", vm_name(vms_get(vms, i)), NULL);
        metrics_family(m, "xvmd_vm_memory_bytes", METRICS_GAUGE, "The VM's memory (its spec).");
        for (size_t i = 0; i < n; i++)
                metrics_u64(m, (uint64_t) vm_get_spec(vms_get(vms, i))->memory_mib << 20, "vm",
                            vm_name(vms_get(vms, i)), NULL);
        metrics_family(m, "xvmd_vm_boots_total", METRICS_COUNTER,
                       "The VM's boots (its boot_count, kept across agent restarts).");
        for (size_t i = 0; i < n; i++)
                metrics_u64(m, vm_boot_count(vms_get(vms, i)), "vm", vm_name(vms_get(vms, i)), NULL);
        metrics_family(m, "xvmd_vm_exits_total", METRICS_COUNTER,
                       "The VM's boots that ended each way since the agent started.");
        for (size_t i = 0; i < n; i++)
                for (int x = VM_EXIT_NONE + 1; x < _VM_EXIT_MAX; x++)
                        metrics_u64(m, vm_exits(vms_get(vms, i), (enum vm_exit) x), "vm", vm_name(vms_get(vms, i)),
                                    "reason", vm_exit_to_string((enum vm_exit) x), NULL);
        metrics_family(m, "xvmd_vm_last_exit_info", METRICS_GAUGE,
                       "How the VM's last boot ended (always 1; reason \"none\": it never ended).");
        for (size_t i = 0; i < n; i++)
                metrics_u64(m, 1, "vm", vm_name(vms_get(vms, i)), "reason",
                            vm_exit_to_string(vm_exit_reason(vms_get(vms, i))), NULL);

        /* One hypercall for every VM's domain; a VM without one has no
         * sample (its CPU time went with its domain). */
        if (vms_cpu_times(vms, cpu_ns, n) >= 0) {
                metrics_family(m, "xvmd_vm_cpu_seconds_total", METRICS_COUNTER,
                               "CPU time the VM's domain has used, all vCPUs (Xen's cpu_time; from 0 at each boot).");
                for (size_t i = 0; i < n; i++)
                        if (cpu_ns[i] != UINT64_MAX)
                                metrics_double(m, (double) cpu_ns[i] / 1e9, "vm", vm_name(vms_get(vms, i)), NULL);
        }

        vms_log_limits(vms, &max_bytes, &keep_free, &bytes);
        metrics_family(m, "xvmd_console_logs_bytes", METRICS_GAUGE, "What all console logs hold on disk.");
        metrics_u64(m, bytes, NULL);
        metrics_family(m, "xvmd_console_logs_max_bytes", METRICS_GAUGE,
                       "The budget of all console logs together (0: none).");
        metrics_u64(m, max_bytes, NULL);
}

/* A counter of one kind of device (disk, NIC): its name, its help, where
 * in the device's stats it is. */
struct device_family {
        const char *name, *help;
        size_t offset;
};

/* One row of a device: fills its stats and the values of its two labels
 * (beside "vm"); false when the device has none now (no domain). */
typedef bool (*device_row_t)(const struct vm *vm, unsigned k, void *stats, char id[static 16], const char **what);

/* Every family, with a row for each device k < count(spec) of each VM. */
static void write_devices(struct metrics *m, const struct vms *vms, const struct device_family *families, size_t nf,
                          const char *id_label, const char *what_label, unsigned (*count)(const struct vm_spec *s),
                          device_row_t row) {
        size_t n = vms_count(vms);

        for (size_t f = 0; f < nf; f++) {
                metrics_family(m, families[f].name, METRICS_COUNTER, families[f].help);
                for (size_t i = 0; i < n; i++) {
                        const struct vm *vm = vms_get(vms, i);

                        for (unsigned k = 0; k < count(vm_get_spec(vm)); k++) {
                                uint64_t st[8]; /* either stats struct */
                                char id[16];
                                const char *what;
                                uint64_t v;

                                if (!row(vm, k, st, id, &what))
                                        continue;
                                memcpy(&v, (const char *) st + families[f].offset, sizeof(v));
                                metrics_u64(m, v, "vm", vm_name(vm), id_label, id, what_label, what, NULL);
                        }
                }
        }
}

static unsigned disks_of(const struct vm_spec *s) {
        return s->n_disks;
}

static bool disk_row(const struct vm *vm, unsigned k, void *stats, char id[static 16], const char **what) {
        static_assert(sizeof(struct vm_disk_stats) <= 8 * sizeof(uint64_t), "write_devices() holds it");
        if (vm_disk_get_stats(vm, k, stats) < 0)
                return false;
        snprintf(id, 16, "xvd%c", (char) ('a' + k % 26));
        *what = vm_get_spec(vm)->disks[k].image;
        return true;
}

/* Each disk of each VM with a domain, as dom0's backend counted it. */
static void write_disks(struct metrics *m, const struct vms *vms) {
        static const struct device_family families[] = {
                { "xvmd_vm_disk_read_bytes_total", "Bytes the guest read from the disk, this boot (xen-blkback).",
                  offsetof(struct vm_disk_stats, read_bytes) },
                { "xvmd_vm_disk_written_bytes_total", "Bytes the guest wrote to the disk, this boot (xen-blkback).",
                  offsetof(struct vm_disk_stats, write_bytes) },
                { "xvmd_vm_disk_reads_total", "Read requests of the guest to the disk, this boot (xen-blkback).",
                  offsetof(struct vm_disk_stats, read_ops) },
                { "xvmd_vm_disk_writes_total", "Write requests of the guest to the disk, this boot (xen-blkback).",
                  offsetof(struct vm_disk_stats, write_ops) },
        };

        write_devices(m, vms, families, ELEMENTSOF(families), "disk", "image", disks_of, disk_row);
}

static unsigned nics_of(const struct vm_spec *s) {
        return s->n_nics;
}

static bool nic_row(const struct vm *vm, unsigned k, void *stats, char id[static 16], const char **what) {
        static_assert(sizeof(struct vm_nic_stats) <= 8 * sizeof(uint64_t), "write_devices() holds it");
        if (vm_nic_get_stats(vm, k, stats) < 0)
                return false;
        snprintf(id, 16, "eth%u", k % VM_NICS_MAX);
        *what = vm_get_spec(vm)->nics[k].network;
        return true;
}

/* Each NIC of each VM with a domain, as dom0's vif counted it (the
 * guest's view: received is what the vif sent). */
static void write_nics(struct metrics *m, const struct vms *vms) {
        static const struct device_family families[] = {
                { "xvmd_vm_nic_received_bytes_total", "Bytes the guest received on the NIC, this boot (its vif).",
                  offsetof(struct vm_nic_stats, rx_bytes) },
                { "xvmd_vm_nic_received_packets_total", "Packets the guest received on the NIC, this boot.",
                  offsetof(struct vm_nic_stats, rx_packets) },
                { "xvmd_vm_nic_sent_bytes_total", "Bytes the guest sent on the NIC, this boot (its vif).",
                  offsetof(struct vm_nic_stats, tx_bytes) },
                { "xvmd_vm_nic_sent_packets_total", "Packets the guest sent on the NIC, this boot.",
                  offsetof(struct vm_nic_stats, tx_packets) },
        };

        write_devices(m, vms, families, ELEMENTSOF(families), "nic", "network", nics_of, nic_row);
}

/* One console as a scrape sees it. */
struct console_row {
        const struct vm *vm;
        const char *console;
        struct vm_console_stats st;
        uint64_t viewers;
        uint64_t writer;
        uint64_t connected;
        uint64_t corrupt;
};

#define STAT(field) offsetof(struct console_row, st.field)
#define ROW(field) offsetof(struct console_row, field)

static const struct {
        const char *name;
        enum metrics_type type;
        const char *help;
        size_t offset;          /* of a uint64_t in struct console_row */
} console_families[] = {
        { "xvmd_console_output_bytes_total", METRICS_COUNTER,
          "Bytes the guest wrote to the console and the agent logged, since the agent started.", STAT(bytes_out) },
        { "xvmd_console_input_bytes_total", METRICS_COUNTER,
          "Bytes of input the agent put in the guest's ring, since the agent started.", STAT(bytes_in) },
        { "xvmd_console_logged_bytes_total", METRICS_COUNTER,
          "Every byte the console's log ever took (its end offset, kept across agent restarts).", STAT(log_end) },
        { "xvmd_console_log_bytes", METRICS_GAUGE, "Bytes the console's log holds on disk.", STAT(log_bytes) },
        { "xvmd_console_log_max_bytes", METRICS_GAUGE, "The console log's budget.", STAT(log_max_bytes) },
        { "xvmd_console_log_removed_bytes_total", METRICS_COUNTER,
          "Bytes the console's log removed, oldest first, to stay within its budget.", STAT(log_removed) },
        { "xvmd_console_events_total", METRICS_COUNTER,
          "Event channel notifications of the console the agent handled, since it started.", STAT(events) },
        { "xvmd_console_deferred_total", METRICS_COUNTER,
          "Times the console's events were left masked to the end of a period (its cost limit).", STAT(deferred) },
        { "xvmd_console_ring_errors_total", METRICS_COUNTER,
          "Broken ring indexes the console's guest wrote (the ring is then corrupt).", STAT(ring_errors) },
        { "xvmd_console_log_errors_total", METRICS_COUNTER,
          "Appends the console's log refused (the bytes stayed in the ring).", STAT(log_errors) },
        { "xvmd_console_viewers_skipped_bytes_total", METRICS_COUNTER,
          "Bytes websocket viewers were moved past (removed by the budget, or left behind by a stalled viewer).",
          STAT(viewers_skipped) },
        { "xvmd_console_connected", METRICS_GAUGE, "Whether the agent serves the console's ring.", ROW(connected) },
        { "xvmd_console_corrupt", METRICS_GAUGE, "Whether the console's ring is corrupt and left alone.",
          ROW(corrupt) },
        { "xvmd_console_viewers", METRICS_GAUGE, "Websocket viewers of the console.", ROW(viewers) },
        { "xvmd_console_writer_lease", METRICS_GAUGE, "Whether a viewer holds the console's writer lease.",
          ROW(writer) },
};

static void write_consoles(struct metrics *m, const struct api *a) {
        struct console_row rows[VMS_MAX * _VM_CONSOLE_MAX];
        size_t n = 0;

        for (size_t i = 0; i < vms_count(a->vms); i++) {
                const struct vm *vm = vms_get(a->vms, i);

                for (int c = 0; c < _VM_CONSOLE_MAX && n < ELEMENTSOF(rows); c++) {
                        struct console_row *row = &rows[n];
                        bool writer = false;

                        if (vm_console_get_stats(vm, (enum vm_console) c, &row->st) < 0)
                                continue;
                        row->vm = vm;
                        row->console = vm_console_to_string((enum vm_console) c);
                        row->viewers = a->viewers ? console_ws_viewers(a->viewers, vm, (enum vm_console) c, &writer)
                                                  : 0;
                        row->writer = writer;
                        row->connected = row->st.served && !row->st.corrupt;
                        row->corrupt = row->st.corrupt;
                        n++;
                }
        }
        for (size_t f = 0; f < ELEMENTSOF(console_families); f++) {
                metrics_family(m, console_families[f].name, console_families[f].type, console_families[f].help);
                for (size_t i = 0; i < n; i++) {
                        uint64_t v;

                        memcpy(&v, (const char *) &rows[i] + console_families[f].offset, sizeof(v));
                        metrics_u64(m, v, "vm", vm_name(rows[i].vm), "console", rows[i].console, NULL);
                }
        }
}

static void write_http(struct metrics *m, const struct api_http_stats *h) {
        double bounds[API_DURATION_BUCKETS];
        char status[8];

        metrics_family(m, "xvmd_http_requests_total", METRICS_COUNTER,
                       "HTTP answers by route template, method and status.");
        for (size_t i = 0; i < h->n_counts; i++) {
                const struct api_http_count *c = &h->counts[i];
                const char *route = api_route_template_name(c->route);

                snprintf(status, sizeof(status), "%u", (unsigned) c->status);
                metrics_u64(m, c->n, "route", route ? route : "unmatched", "method", method_names[c->method],
                            "status", status, NULL);
        }
        metrics_family(m, "xvmd_http_requests_uncounted_total", METRICS_COUNTER,
                       "HTTP answers left out of xvmd_http_requests_total (too many route, method and status "
                       "triples).");
        metrics_u64(m, h->dropped, NULL);
        metrics_family(m, "xvmd_http_strangers_refused_total", METRICS_COUNTER,
                       "Connections refused as they came: their address already had 32 that no request had "
                       "authenticated yet.");
        metrics_u64(m, h->strangers_refused, NULL);
        metrics_family(m, "xvmd_http_strangers_cut_total", METRICS_COUNTER,
                       "Connections no request had authenticated yet, cut for not bringing a whole request within "
                       "10 s of their start or last answer.");
        metrics_u64(m, h->strangers_cut, NULL);
        metrics_family(m, "xvmd_http_tls_handshakes_failed_total", METRICS_COUNTER,
                       "TLS handshakes that failed: clients that spoke plain HTTP, did not trust the certificate "
                       "or offered nothing in common.");
        metrics_u64(m, h->tls_handshakes_failed, NULL);

        for (size_t b = 0; b < API_DURATION_BUCKETS; b++)
                bounds[b] = (double) duration_bounds_usec[b] / 1e6;
        metrics_family(m, "xvmd_http_request_duration_seconds", METRICS_HISTOGRAM,
                       "From a request's headers to its answer's, by route template (a stream or an upgrade: to "
                       "its headers).");
        for (size_t r = 0; r < API_ROUTES_MAX; r++) {
                const char *route = api_route_template_name(r);
                uint64_t total = 0;

                for (size_t b = 0; b <= API_DURATION_BUCKETS; b++)
                        total += h->buckets[r][b];
                if (total == 0)
                        continue;
                metrics_histogram(m, bounds, h->buckets[r], API_DURATION_BUCKETS, (double) h->sum_usec[r] / 1e6,
                                  "route", route ? route : "unmatched", NULL);
        }
}

int api_metrics_write(struct api *a, char **ret, size_t *ret_size) {
        struct metrics m = METRICS_INIT;

        write_agent(&m, a);
        write_host(&m, a);
        if (a->vms) {
                write_vms(&m, a->vms);
                write_disks(&m, a->vms);
                write_nics(&m, a->vms);
                write_consoles(&m, a);
        }
        write_http(&m, &a->http);
        return metrics_finish(&m, ret, ret_size);
}

void api_metrics_get(struct api_call *call) {
        struct api_response *resp = call->resp;
        char *text;
        size_t size;
        int r;

        r = api_metrics_write(call->api, &text, &size);
        if (r < 0) {
                api_response_error(resp, ERROR_INTERNAL, NULL, "writing the metrics failed: %s", strerror(-r));
                return;
        }
        api_response_done(resp);
        resp->status = 200;
        resp->raw = text;
        resp->raw_size = size;
        resp->content_type = METRICS_CONTENT_TYPE;
        api_response_header(resp, "Cache-Control", "no-store");
}
