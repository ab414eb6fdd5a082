/* vms.h: the agent's VMs as the front end sees them. The collection (vms.c)
 * owns every VM: its spec and run state on disk (STATE/vms/NAME/), its
 * console logs and their hubs (they outlive its boots), and while it runs
 * its domain, its console backends and its disks (vm.c). It reacts to
 * domains shutting down (xenstore @releaseDomain): a guest reboot rebuilds
 * the VM with the same spec, a poweroff leaves it stopped, a crash leaves it
 * crashed, and the logs stay. Every change of a VM's state goes through one
 * function (vm_transition() in vm.c), under the rules of vm-state.h, and is
 * told to the host's event log (events.h, vms_events()) and to one hook
 * (vms_set_transition_hook()).
 *
 * Images (kernels, ramdisks, disks) are files in STATE/images/ (images.h),
 * by name; which VM may use which is vms-images.c's. */
#pragma once

#include <jansson.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "errors.h"
#include "macro.h"
#include "vm-spec.h"
#include "vm-state.h"

struct vms;
struct vm;
struct events;
struct console_hub;
struct console_log;
struct image_upload;

enum vm_console {
        VM_CONSOLE_PV,
        VM_CONSOLE_VUART,
        _VM_CONSOLE_MAX,
};

#define VMS_MAX 64

/* The VMs kept in STATE_DIR/vms, their images in STATE_DIR/images, the
 * firmware they may boot in firmware_dir (NULL: VMS_FIRMWARE_DIR). */
int vms_new(sd_event *event, const char *state_dir, const char *firmware_dir, struct vms **ret);
/* The event loop the VMs run on (the front end's timers go on it too). */
sd_event *vms_event(const struct vms *v);
struct vms *vms_free(struct vms *v);
DEFINE_CLEANUP_FUNC(struct vms, vms_free);

/* Whether the toolstack could be opened (false on a host without Xen). */
bool vms_have_xen(const struct vms *v);

/* All console logs together (console-log.h's pool): at most max_bytes, and
 * keep_free bytes of the state file system kept free; 0 for no such limit.
 * By default a quarter of the file system, and 15 % of it free. */
void vms_set_log_limits(struct vms *v, uint64_t max_bytes, uint64_t keep_free);
void vms_log_limits(const struct vms *v, uint64_t *max_bytes, uint64_t *keep_free, uint64_t *bytes);

/* Called after every change of any VM's state, with the state it left and
 * the event that moved it (the VM's new state is vm_state()). One hook;
 * NULL removes it. It is set after vms_new(), so it misses what loading
 * did; the event log does not: the core records every change itself, in
 * vm_transition(), before it calls the hook. */
typedef void (*vm_transition_hook_t)(struct vm *vm, enum vm_state from, enum vm_event event, void *userdata);
void vms_set_transition_hook(struct vms *v, vm_transition_hook_t hook, void *userdata);

/* The directory of the firmware files VMs may boot (vm-spec.h's
 * vm_firmware_name() is each file's name), unless vms_new() is given one. */
#define VMS_FIRMWARE_DIR "/usr/share/xvmd/firmware"
/* Whether firmware f is installed (a regular file in that directory). */
bool vms_have_firmware(const struct vms *v, enum vm_firmware f);

struct vm *vms_find(struct vms *v, const char *name);

/* The host's event log (events.h), opened in STATE/events by vms_new(),
 * which records agent_started in it before it loads the VMs. The core
 * records the VMs' events (created, each change of state, deleted), the
 * images' and the console logs' budget removals; the front end reads it
 * and records the viewers' lease changes through
 * vm_console_lease_changed(). */
struct events *vms_events(struct vms *v);
/* A websocket viewer's writer lease on console c changed: event is
 * "taken", "released", "stolen" or "left" (the viewer that held it went),
 * viewer the viewer's id (console-ws.c's). */
void vm_console_lease_changed(struct vm *vm, enum vm_console c, const char *event, unsigned viewer);

/* Each fills *err on failure and returns a negative errno. A change that
 * happened but could not be saved on disk is state_not_saved. */
int vms_create(struct vms *v, const struct vm_spec *spec, struct vm **ret, struct error *err);
int vm_start(struct vm *vm, struct error *err);
int vm_shutdown(struct vm *vm, unsigned timeout_sec, struct error *err);
int vm_reboot(struct vm *vm, struct error *err);
int vm_pause(struct vm *vm, struct error *err);
int vm_resume(struct vm *vm, struct error *err);
int vm_destroy(struct vm *vm, struct error *err);
/* Removes a VM that does not run, with its logs (their watchers are told
 * gone). */
int vms_delete(struct vms *v, struct vm *vm, struct error *err);

json_t *vm_to_json(const struct vm *vm);
json_t *vms_to_json(const struct vms *v);
const char *vm_name(const struct vm *vm);
enum vm_state vm_state(const struct vm *vm);
const char *vm_state_name(const struct vm *vm); /* vm_state_to_string(vm_state(vm)) */
unsigned vm_boot_count(const struct vm *vm);
const struct vm_spec *vm_get_spec(const struct vm *vm);
enum vm_exit vm_exit_reason(const struct vm *vm); /* how its last boot ended */
uint64_t vm_exits(const struct vm *vm, enum vm_exit x); /* boots that ended so since the agent started */
/* The VM's entity tag, "UUID-GENERATION" in double quotes (RFC 9110): it
 * names this VM (a VM made again under the same name has another uuid) at
 * this generation of its spec, not its state (answers that carry it say
 * Cache-Control: no-store, so no cache takes it for the body's).
 * buf holds VM_ETAG_MAX. */
#define VM_ETAG_MAX 64
void vm_etag(const struct vm *vm, char buf[static VM_ETAG_MAX]);
/* Whether spec (a request's: no uuid) is the VM's own spec. */
bool vm_spec_matches(const struct vm *vm, const struct vm_spec *spec);

/* The VMs in the order they were made or loaded: vms_get() for i below
 * vms_count(). */
size_t vms_count(const struct vms *v);
struct vm *vms_get(const struct vms *v, size_t i);

/* The CPU time of each VM's domain in ns, in vms_get() order (n of them,
 * at most vms_count()), UINT64_MAX for a VM without a domain: one
 * hypercall for all, for the metrics. -EOPNOTSUPP without Xen. */
int vms_cpu_times(const struct vms *v, uint64_t *ret_ns, size_t n);

/* Where a forward to the VM's port goes (the front end's port forwards,
 * GET /v1/vms/NAME/ports/PORT/ws): the leased IPv4 address of its first NIC,
 * with port, into *ret. Fails with vm_not_found for no VM of that name,
 * vm_not_running for one that does not run, and vm_no_address (naming the
 * NIC) for one without a NIC or without a lease on it. For now no VM has a
 * NIC: every running VM is vm_no_address. */
int vms_port_target(struct vms *vms, const char *name, uint16_t port, struct sockaddr_in *ret, struct error *err);

/* "pv", "vuart", and back (-EINVAL for another name). */
const char *vm_console_to_string(enum vm_console c);
int vm_console_from_string(const char *s, enum vm_console *ret);

/* A console's hub (console-hub.h: who watches its log) and its log, or NULL
 * if the VM has no such console; and its input. */
struct console_hub *vm_console_hub(struct vm *vm, enum vm_console c);
struct console_log *vm_console_log(struct vm *vm, enum vm_console c);
ssize_t vm_console_write(struct vm *vm, enum vm_console c, const void *data, size_t n, struct error *err);

/* One console's counts, for the agent's metrics: no Xen call, no I/O. The
 * backend's counts are over every boot since the agent started (each
 * boot's backend adds its own when it goes); the log's are the log's own
 * and survive restarts. */
struct vm_console_stats {
        bool served;            /* a backend serves the ring (the VM has a domain) */
        bool corrupt;           /* ... and found the ring's indexes broken */
        uint64_t bytes_out;     /* guest -> log */
        uint64_t bytes_in;      /* input -> guest */
        uint64_t events;        /* event channel notifications handled */
        uint64_t deferred;      /* events left masked to the end of a period */
        uint64_t ring_errors;   /* corrupt indexes seen */
        uint64_t log_errors;    /* appends the log refused */
        uint64_t log_end;       /* every byte ever logged (the log's end offset) */
        uint64_t log_bytes;     /* held on disk */
        uint64_t log_max_bytes; /* its budget */
        uint64_t log_removed;   /* removed by the budget */
        uint64_t viewers_skipped; /* bytes viewers were told they skipped */
};
/* What dom0's disk backend counted for the VM's disk i (in spec order)
 * since its guest connected it, this boot: -ENOENT without a domain or a
 * connected disk. Files the kernel fills (sysfs), no Xen call. */
struct vm_disk_stats {
        uint64_t read_bytes, write_bytes, read_ops, write_ops;
};
int vm_disk_get_stats(const struct vm *vm, unsigned i, struct vm_disk_stats *ret);
/* What NIC i of a VM with a domain moved this boot, the guest's view (rx:
 * what it received), from dom0's vif; -ENOENT without a domain or a vif. */
struct vm_nic_stats {
        uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
};
int vm_nic_get_stats(const struct vm *vm, unsigned i, struct vm_nic_stats *ret);

/* -ENOENT if the VM has no such console. */
int vm_console_get_stats(const struct vm *vm, enum vm_console c, struct vm_console_stats *ret);

/* Images (see images.h), each listed with the VMs that name it. An image
 * that a VM names, whatever the VM's state, can be neither replaced nor
 * removed (image_in_use): the VM's next start or reboot reads it. */
/* The guest networks (networks.h): listed, one by name (NULL: none), made
 * (name, subnet; errors name the field), deleted (network_in_use while a
 * VM has a NIC on it, and for "default"). */
json_t *vms_networks_to_json(const struct vms *v);
json_t *vms_network_to_json(const struct vms *v, const char *name);
int vms_network_create(struct vms *v, const char *name, const char *subnet, json_t **ret, struct error *err);
int vms_network_delete(struct vms *v, const char *name, struct error *err);

json_t *vms_images_to_json(struct vms *v);
int vms_image_upload_begin(struct vms *v, const char *name, uint64_t announced, const char *expect_sha256,
                           struct image_upload **ret, struct error *err);
/* Bytes of the body; once it failed it keeps failing (image_upload_write()). */
int vms_image_upload_write(struct image_upload *u, const void *data, size_t n);
struct image_upload *vms_image_upload_free(struct image_upload *u);
/* Puts a complete upload in place; *ret is the image's JSON, *created
 * whether the name is new. */
int vms_image_upload_finish(struct vms *v, struct image_upload *u, json_t **ret, bool *created,
                            struct error *err);
int vms_image_delete(struct vms *v, const char *name, struct error *err);
