/* vm.c: owns one VM (see vm.h and vms.h): its life under the rules of
 * vm-state.h, its domain while it runs, the backends of its consoles, its
 * disks' loop devices and its run state on disk.
 *
 * On disk, in STATE/vms/NAME/:
 *   spec.json   what the user asked for (written once, by vms.c)
 *   run.json    boot count, state, exit reason, and the domid while it runs
 *               (atomically replaced)
 *   pv/, vuart/ the console logs (console-log.h)
 *
 * A PV disk is an image bound to a loop device (loop.h) while its VM runs.
 * The agent holds each loop device open until the VM's teardown; the binding
 * then ends when dom0's backend lets go of it (autoclear), so a restarted
 * agent has nothing to re-take.
 *
 * Failures nobody asked about (a guest's reboot that cannot be rebuilt, a
 * state save after the guest powered off) are logged here, once; those a
 * request caused go back to it in its struct error. */
#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "console-hub.h"
#include "console-log.h"
#include "console.h"
#include "events.h"
#include "fileio.h"
#include "log.h"
#include "timestamp.h"
#include "vm.h"

static_assert(VM_LOG_MAX_BYTES_MIN >= CONSOLE_LOG_BUDGET_MIN, "every spec's budget is one the log takes");

static const char *const console_names[_VM_CONSOLE_MAX] = {
        [VM_CONSOLE_PV] = "pv",
        [VM_CONSOLE_VUART] = "vuart",
};

const char *vm_console_to_string(enum vm_console c) {
        return c >= 0 && c < _VM_CONSOLE_MAX ? console_names[c] : "invalid";
}

int vm_console_from_string(const char *s, enum vm_console *ret) {
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                if (strcmp(s, console_names[c]) == 0) {
                        *ret = (enum vm_console) c;
                        return 0;
                }
        return -EINVAL;
}

int vm_save(struct vm *vm) {
        json_t *j = json_pack("{s:I,s:I,s:s,s:s,s:I,s:I,s:I}", "boot_count", (json_int_t) vm->boot_count, "domid",
                              (json_int_t) vm->domid, "state", vm_state_to_string(vm->state), "exit_reason",
                              vm_exit_to_string(vm->exit_reason), "exit_time_ns", (json_int_t) vm->exit_time_ns,
                              "exit_boot", (json_int_t) vm->exit_boot, "generation", (json_int_t) vm->generation);
        int r;

        if (!j)
                return -ENOMEM;
        r = json_write_atomic(vm->dir_fd, "run.json", j);
        json_decref(j);
        return r;
}

/* A run.json that could not be saved is tried again this often, until it
 * is: the agent recovers by itself once the disk has room again. */
#define VM_RESAVE_USEC (5 * 1000 * 1000)

static int on_resave(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        struct vm *vm = userdata;
        int r = vm_save(vm);

        if (r >= 0) {
                log_notice("VM %s: its state is saved again.", vm->spec.name);
                return sd_event_source_set_enabled(s, SD_EVENT_OFF);
        }
        (void) sd_event_source_set_time_relative(s, VM_RESAVE_USEC);
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}

static void vm_schedule_resave(struct vm *vm) {
        int r = 0;

        if (!vm->resave)
                r = sd_event_add_time_relative(vm->owner->event, &vm->resave, CLOCK_MONOTONIC, VM_RESAVE_USEC, 0,
                                               on_resave, vm);
        else
                r = sd_event_source_set_time_relative(vm->resave, VM_RESAVE_USEC);
        if (r >= 0)
                r = sd_event_source_set_enabled(vm->resave, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "VM %s: cannot schedule another try at saving its state, ignoring", vm->spec.name);
}

/* A change of the VM's state in the host's event log (events.h), as a
 * client following GET /v1/events sees it: each with the VM's new state
 * and its boot (for vm_rebooted, the boot that follows). A guest's reboot
 * is vm_rebooted (the old domain is gone), then vm_started once the new one
 * runs. A restarted agent that takes a domain back says nothing of it: the
 * VM did not change (agent_started says the agent restarted). */
static void vm_record(struct vm *vm, enum vm_event e) {
        const char *type, *reason = NULL;
        unsigned boot = vm->boot_count;
        json_t *j;

        switch (e) {
        case VM_EVENT_STARTED:
                type = "vm_started";
                break;
        case VM_EVENT_PAUSED:
                type = "vm_paused";
                break;
        case VM_EVENT_RESUMED:
                type = "vm_resumed";
                break;
        case VM_EVENT_REBOOTED:
                type = "vm_rebooted";
                boot++;
                break;
        case VM_EVENT_POWERED_OFF:
        case VM_EVENT_DESTROYED:
        case VM_EVENT_VANISHED:
                type = "vm_stopped";
                reason = vm_exit_to_string(vm->exit_reason);
                break;
        case VM_EVENT_CRASHED:
                type = "vm_crashed";
                reason = vm_exit_to_string(vm->exit_reason);
                break;
        default:
                return;
        }
        j = json_pack("{s:s,s:I}", "state", vm_state_to_string(vm->state), "boot", (json_int_t) boot);
        if (j && reason)
                json_object_set_new(j, "reason", json_string(reason));
        (void) events_append(vm->owner->events, type, vm->spec.name, j);
}

/* The one place a VM's state changes. The change is made, saved, told to
 * the consoles' watchers, to the event log and to the collection's hook. Returns -EINVAL (and
 * changes nothing) if the event cannot happen in the VM's state; a failed
 * save goes to *err as state_not_saved, or to the journal when nobody asked
 * (err NULL): the state in memory is the truth either way. */
static int vm_transition(struct vm *vm, enum vm_event e, struct error *err) {
        enum vm_state from = vm->state, to = vm_state_next(from, e);
        int r;

        if (to == _VM_STATE_INVALID) {
                log_error("VM %s: %s cannot happen while %s, ignoring", vm->spec.name, vm_event_to_string(e),
                          vm_state_to_string(from));
                return error_set(err, -EINVAL, ERROR_INTERNAL, NULL, "VM %s cannot be %s while %s", vm->spec.name,
                                 vm_event_to_string(e), vm_state_to_string(from));
        }
        vm->state = to;
        if (e == VM_EVENT_STARTED)
                vm->boot_count++;
        /* The logs' indexes hear how each boot ended (vm_start() told them
         * where it began). */
        if (vm_state_has_domain(from) && !vm_state_has_domain(to))
                for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                        if (vm->logs[c])
                                (void) console_log_boot_end(vm->logs[c], vm->boot_count, (int) vm->exit_reason);
        r = vm_save(vm);
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                if (vm->hubs[c])
                        console_hub_notify(vm->hubs[c]);
        vm_record(vm, e);
        if (vm->owner->hook)
                vm->owner->hook(vm, from, e, vm->owner->hook_userdata);
        if (r < 0) {
                vm_schedule_resave(vm);
                if (!err)
                        return log_error_errno(r, "VM %s: %s, but saving its state failed (trying again every %d s)",
                                               vm->spec.name, vm_event_to_string(e), VM_RESAVE_USEC / 1000000);
                return error_set(err, r, ERROR_STATE_NOT_SAVED, NULL, "VM %s is %s, but saving that failed: %s",
                                 vm->spec.name, vm_state_to_string(to), strerror(-r));
        }
        return 0;
}

/* Why a request that needs event e is refused in the VM's state, or 0. */
static int vm_check(struct vm *vm, enum vm_event e, struct error *err) {
        if (vm_state_next(vm->state, e) != _VM_STATE_INVALID)
                return 0;
        switch (e) {
        case VM_EVENT_STARTED:
                return error_set(err, -EBUSY, ERROR_VM_RUNNING, NULL, "VM %s already runs", vm->spec.name);
        case VM_EVENT_RESUMED:
                return error_set(err, -EINVAL, ERROR_VM_NOT_PAUSED, NULL, "VM %s is not paused", vm->spec.name);
        case VM_EVENT_PAUSED:
                return error_set(err, -EINVAL, ERROR_VM_NOT_RUNNING, NULL, "VM %s is not running", vm->spec.name);
        default:
                return error_set(err, -EINVAL, ERROR_VM_NOT_RUNNING, NULL, "VM %s does not run", vm->spec.name);
        }
}

/* Drops the agent's hold on the disks' loop devices (each one's binding
 * ends once dom0's backend has let go of it too). */
static void vm_release_disks(struct vm *vm) {
        for (int i = 0; i < VM_DISKS_MAX; i++)
                loop_release(&vm->disks[i]);
}

/* Frees console c's backend, its counts added to those of the backends
 * before it (the metrics' totals over every boot). */
static void vm_release_backend(struct vm *vm, int c) {
        struct console_backend_stats st;
        struct console_backend_stats *done = &vm->backends_done[c];

        if (!vm->backends[c])
                return;
        console_backend_get_stats(vm->backends[c], &st);
        done->bytes_out += st.bytes_out;
        done->bytes_in += st.bytes_in;
        done->events += st.events;
        done->deferred += st.deferred;
        done->ring_errors += st.ring_errors;
        done->log_errors += st.log_errors;
        vm->backends[c] = console_backend_free(vm->backends[c]);
}

/* Releases the domain's consoles (their mappings keep a dead domain alive),
 * the domain itself (with its disks' backends) and the agent's hold on the
 * disks' loop devices. The rings are drained one last time first: a guest's
 * last words (a panic, "Power down") may still sit there when the news of
 * its shutdown (xenstore) is handled before its last console event. */
static void vm_teardown(struct vm *vm) {
        vm->shutdown_timer = sd_event_source_disable_unref(vm->shutdown_timer);
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                if (vm->backends[c])
                        (void) console_backend_kick(vm->backends[c]);
                vm_release_backend(vm, c);
        }
        if (vm->domid != 0 && vm->owner->ts) {
                int r = domain_destroy(vm->owner->ts, vm->domid);

                if (r < 0)
                        log_warning_errno(r, "VM %s: destroying domain %u failed, ignoring", vm->spec.name,
                                          vm->domid);
        }
        vm_release_disks(vm);
        vm_nics_stop(vm);
        vm->domid = 0;
        vm->stopping = false;
}

void vm_free(struct vm *vm) {
        if (!vm)
                return;
        vm->restart = sd_event_source_disable_unref(vm->restart);
        vm->resave = sd_event_source_disable_unref(vm->resave);
        vm_alerts_stop(vm);
        /* Watchers get the last output, then learn the log is gone. */
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                vm->hubs[c] = console_hub_free(vm->hubs[c]);
        vm->shutdown_timer = sd_event_source_disable_unref(vm->shutdown_timer);
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                vm->backends[c] = console_backend_free(vm->backends[c]);
                vm->logs[c] = console_log_free(vm->logs[c]);
        }
        vm_release_disks(vm);
        vm_nics_stop(vm);
        safe_close(vm->dir_fd);
        free(vm);
}

/* Old bytes of a log went: the journal and the event log say when, how
 * much and why. */
static void on_log_remove(struct console_log *l, uint64_t bytes, enum console_log_removal why, void *userdata) {
        struct vm *vm = userdata;
        const char *name = vm->logs[VM_CONSOLE_PV] == l ? "pv" : "vuart";

        (void) events_append(vm->owner->events, "log_removed", vm->spec.name,
                             json_pack("{s:s,s:I,s:I,s:s}", "console", name, "bytes", (json_int_t) bytes, "log_start",
                                       (json_int_t) console_log_start(l), "reason",
                                       why == CONSOLE_LOG_REMOVED_BUDGET ? "budget" : "pool"));

        if (why == CONSOLE_LOG_REMOVED_BUDGET)
                log_info("The console log of %s/%s removed its oldest %llu bytes to stay within its budget of %llu "
                         "bytes; it now holds offsets %llu to %llu.", vm->spec.name, name, (unsigned long long) bytes,
                         (unsigned long long) console_log_budget(l), (unsigned long long) console_log_start(l),
                         (unsigned long long) console_log_end(l));
        else
                log_notice("The console log of %s/%s removed its oldest %llu bytes to keep all logs within their "
                           "budget and the state file system's free floor; it now holds offsets %llu to %llu.",
                           vm->spec.name, name, (unsigned long long) bytes, (unsigned long long) console_log_start(l),
                           (unsigned long long) console_log_end(l));
}

static int vm_open_logs(struct vm *vm) {
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                int r;

                if (c == VM_CONSOLE_VUART && !vm->spec.vuart)
                        continue;
                r = console_log_open(vm->dir_fd, console_names[c], &vm->logs[c]);
                if (r >= 0)
                        r = console_hub_new(vm->owner->event, vm->logs[c], &vm->hubs[c]);
                if (r < 0)
                        return r;
                console_log_set_on_remove(vm->logs[c], on_log_remove, vm);
                console_log_set_budget(vm->logs[c], vm->spec.log_max_bytes);
                console_log_set_pool(vm->logs[c], vm->owner->logs);
        }
        return 0;
}

int vm_new(struct vms *v, const struct vm_spec *spec, struct vm **ret) {
        struct vm *vm = calloc(1, sizeof(*vm));
        int r;

        if (!vm)
                return -ENOMEM;
        vm->owner = v;
        vm->spec = *spec;
        vm->state = VM_STOPPED;
        vm->dir_fd = -1;
        for (int i = 0; i < VM_DISKS_MAX; i++)
                vm->disks[i] = (struct loop_device) LOOP_DEVICE_INIT;
        r = open_dir_at(v->vms_fd, spec->name, &vm->dir_fd);
        if (r >= 0)
                r = vm_open_logs(vm);
        if (r >= 0)
                r = vm_alerts_start(vm);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        *ret = vm;
        return 0;
}

/* Binds a backend to each console ring of domain b. take_over: an earlier
 * agent served these rings (console.h); else this is a new boot. Each
 * ring's id in the logs' cursors is its boot's number and its domid. */
static int vm_attach_consoles(struct vm *vm, const struct domain_built *b, bool take_over) {
        const struct domain_ring *rings[_VM_CONSOLE_MAX] = { &b->pv, &b->vuart };
        uint64_t ring_id = (uint64_t) (take_over ? vm->boot_count : vm->boot_count + 1) << 32 | b->domid;

        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                char name[96];
                int r;

                if (!vm->logs[c] || rings[c]->gfn == 0)
                        continue;
                snprintf(name, sizeof(name), "%s/%s", vm->spec.name, console_names[c]);
                r = console_backend_new(vm->owner->event, name, b->domid, rings[c]->gfn, rings[c]->remote_port,
                                        vm->logs[c], ring_id, take_over, &vm->backends[c]);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Binds each disk's image to a loop device, described for the toolstack. */
static int vm_attach_disks(struct vm *vm, struct domain_disk *disks, char (*params)[PATH_MAX], struct error *err) {
        struct vms *v = vm->owner;

        for (unsigned i = 0; i < vm->spec.n_disks; i++) {
                const struct vm_disk *d = &vm->spec.disks[i];
                _cleanup_close_ int fd = openat(v->images_fd, d->image,
                                                (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
                const char *field = error_field_index(err, "disks", i, "image");
                int r;

                if (fd < 0) {
                        int e = errno;

                        return error_set(err, -e, e == ENOENT ? ERROR_UNKNOWN_IMAGE : ERROR_DISK_FAILED, field,
                                         "cannot open image %s: %s", d->image, strerror(e));
                }
                if ((size_t) snprintf(params[i], PATH_MAX, "%s/%s", v->images_dir, d->image) >= PATH_MAX)
                        return error_set(err, -ENAMETOOLONG, ERROR_DISK_FAILED, field,
                                         "the path of image %s is too long", d->image);
                r = loop_attach(fd, d->readonly, params[i], &vm->disks[i]);
                if (r < 0)
                        return error_set(err, r, ERROR_DISK_FAILED, field, "cannot bind image %s to a loop device: %s",
                                         d->image, strerror(-r));
                disks[i] = (struct domain_disk) {
                        .params = params[i],
                        .node = vm->disks[i].node,
                        .major = vm->disks[i].major,
                        .minor = vm->disks[i].minor,
                        .readonly = d->readonly,
                };
        }
        return 0;
}

int vm_start(struct vm *vm, struct error *err) {
        struct vms *v = vm->owner;
        char kernel[PATH_MAX], ramdisk[PATH_MAX];
        struct domain_disk disks[VM_DISKS_MAX];
        char params[VM_DISKS_MAX][PATH_MAX];
        struct domain_nic nics[VM_NICS_MAX];
        struct domain_config c = {
                .name = vm->spec.name,
                .vcpus = vm->spec.vcpus,
                .memory_mib = vm->spec.memory_mib,
                .kernel = kernel,
                .ramdisk = vm->spec.ramdisk[0] ? ramdisk : NULL,
                .cmdline = vm->spec.firmware == VM_FIRMWARE_NONE ? vm->spec.cmdline : NULL,
                .acpi = vm->spec.acpi,
                .vuart = vm->spec.vuart,
                .disks = disks,
                .n_disks = vm->spec.n_disks,
                .nics = nics,
                .n_nics = vm->spec.n_nics,
        };
        struct domain_built b;
        int r;

        if (!v->ts)
                return error_set(err, -EOPNOTSUPP, ERROR_XEN_UNAVAILABLE, NULL, "the agent has no access to Xen");
        r = vm_check(vm, VM_EVENT_STARTED, err);
        if (r < 0)
                return r;
        memcpy(c.uuid, vm->spec.uuid, sizeof(c.uuid));
        r = vms_check_boot(v, &vm->spec, kernel, ramdisk, err);
        if (r < 0)
                return r;
        r = vms_check_disks(v, vm, &vm->spec, true, err);
        if (r < 0)
                return r;
        r = vm_nics_config(vm, nics, err);
        if (r < 0)
                return r;
        r = vm_attach_disks(vm, disks, params, err);
        if (r < 0) {
                vm_release_disks(vm);
                return r;
        }

        r = domain_build(v->ts, &c, &b, err);
        if (r < 0) {
                vm_release_disks(vm);
                return r;
        }
        vm->domid = b.domid;
        /* A start that is not the guest's own reboot begins a new count of
         * reboots (a VM stopped for a reboot loop may be started again). */
        if (vm->exit_reason != VM_EXIT_REBOOT)
                vm->n_reboots = 0;
        /* Each boot's output starts a segment of its own, and its index
         * says where the boot began (before the guest can write). */
        for (int k = 0; k < _VM_CONSOLE_MAX; k++) {
                if (!vm->logs[k])
                        continue;
                if ((r = console_log_rotate(vm->logs[k])) < 0)
                        log_warning_errno(r, "VM %s: starting a new segment of its %s log failed, ignoring",
                                          vm->spec.name, console_names[k]);
                (void) console_log_boot_begin(vm->logs[k], vm->boot_count + 1);
        }
        r = vm_attach_consoles(vm, &b, false);
        if (r < 0) {
                vm_teardown(vm);
                return error_set(err, r, ERROR_CONSOLE_FAILED, NULL, "attaching the consoles failed: %s",
                                 strerror(-r));
        }
        r = domain_unpause(v->ts, b.domid);
        if (r < 0) {
                vm_teardown(vm);
                return error_set(err, r, ERROR_START_FAILED, NULL, "unpausing the domain failed: %s", strerror(-r));
        }
        vm_nics_start(vm);
        return vm_transition(vm, VM_EVENT_STARTED, err);
}

/* How the boot ended, counted (metrics) and kept (run.json, the API). */
static void vm_set_exit(struct vm *vm, enum vm_exit x) {
        struct timespec ts;

        vm->exit_reason = x;
        if (x <= VM_EXIT_NONE || x >= _VM_EXIT_MAX)
                return;
        vm->exits[x]++;
        clock_gettime(CLOCK_REALTIME, &ts);
        vm->exit_time_ns = (int64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
        vm->exit_boot = vm->boot_count;
}

static int on_shutdown_timeout(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct vm *vm = userdata;

        /* The guest did not power off in time: pull the plug. */
        vm_teardown(vm);
        vm_set_exit(vm, VM_EXIT_DESTROY);
        (void) vm_transition(vm, VM_EVENT_DESTROYED, NULL);
        return 0;
}

int vm_shutdown(struct vm *vm, unsigned timeout_sec, struct error *err) {
        uint64_t now;
        int r, saved = 0;

        r = vm_check(vm, VM_EVENT_POWERED_OFF, err);
        if (r < 0)
                return r;
        r = domain_request_shutdown(vm->owner->ts, vm->domid, false);
        if (r < 0)
                return error_set(err, r, ERROR_SHUTDOWN_FAILED, NULL, "asking the guest to power off failed: %s",
                                 strerror(-r));
        /* A paused guest cannot see the request: let it run, and say so. If
         * it stays paused, the timer below still ends it. A failed save of
         * that is answered once the shutdown is under way all the same. */
        if (vm->state == VM_PAUSED && domain_unpause(vm->owner->ts, vm->domid) >= 0)
                saved = vm_transition(vm, VM_EVENT_RESUMED, err);
        vm->stopping = true;
        vm->shutdown_timer = sd_event_source_disable_unref(vm->shutdown_timer);
        (void) sd_event_now(vm->owner->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(vm->owner->event, &vm->shutdown_timer, CLOCK_MONOTONIC,
                              now + (uint64_t) timeout_sec * 1000000, 0, on_shutdown_timeout, vm);
        if (r < 0)
                return error_set(err, r, ERROR_INTERNAL, NULL, "cannot arm the shutdown timer");
        return saved;
}

int vm_reboot(struct vm *vm, struct error *err) {
        int r;

        /* A paused guest cannot see the request. */
        if (vm->state != VM_RUNNING)
                return error_set(err, -EINVAL, ERROR_VM_NOT_RUNNING, NULL, "VM %s does not run", vm->spec.name);
        r = domain_request_shutdown(vm->owner->ts, vm->domid, true);
        return r < 0 ? error_set(err, r, ERROR_REBOOT_FAILED, NULL, "asking the guest to reboot failed: %s",
                                 strerror(-r))
                     : 0;
}

/* Pause and resume: one domain call and one transition each. */
static int vm_pause_or_resume(struct vm *vm, enum vm_event e, struct error *err) {
        bool pause = e == VM_EVENT_PAUSED;
        int r = vm_check(vm, e, err);

        if (r < 0)
                return r;
        r = pause ? domain_pause(vm->owner->ts, vm->domid) : domain_unpause(vm->owner->ts, vm->domid);
        if (r < 0)
                return error_set(err, r, pause ? ERROR_PAUSE_FAILED : ERROR_RESUME_FAILED, NULL, "%s failed: %s",
                                 pause ? "pausing" : "resuming", strerror(-r));
        return vm_transition(vm, e, err);
}

int vm_pause(struct vm *vm, struct error *err) {
        return vm_pause_or_resume(vm, VM_EVENT_PAUSED, err);
}

int vm_resume(struct vm *vm, struct error *err) {
        return vm_pause_or_resume(vm, VM_EVENT_RESUMED, err);
}

int vm_destroy(struct vm *vm, struct error *err) {
        int r = vm_check(vm, VM_EVENT_DESTROYED, err);

        if (r < 0)
                return r;
        vm_teardown(vm);
        vm_set_exit(vm, VM_EXIT_DESTROY);
        return vm_transition(vm, VM_EVENT_DESTROYED, err);
}

/* What Xen's word on the domain means for the VM, or -1 for nothing (it
 * runs on); *ret_exit says how the boot ended. */
static int domain_event(const struct vm *vm, const struct domain_state *st, enum vm_exit *ret_exit) {
        switch (st->state) {
        case DOMAIN_RUNNING:
        case DOMAIN_PAUSED:
                return -1;
        case DOMAIN_SHUTDOWN:
                if (st->shutdown_reason == DOMAIN_SHUTDOWN_WATCHDOG) {
                        *ret_exit = VM_EXIT_WATCHDOG;
                        return VM_EVENT_CRASHED;
                }
                /* A reboot after a shutdown was asked for is a poweroff. */
                if (st->shutdown_reason == DOMAIN_SHUTDOWN_REBOOT && !vm->stopping) {
                        *ret_exit = VM_EXIT_REBOOT;
                        return VM_EVENT_REBOOTED;
                }
                *ret_exit = VM_EXIT_POWEROFF;
                return VM_EVENT_POWERED_OFF;
        case DOMAIN_CRASHED:
                *ret_exit = VM_EXIT_CRASH;
                return VM_EVENT_CRASHED;
        case DOMAIN_DYING:
        case DOMAIN_GONE:
                break;
        }
        *ret_exit = VM_EXIT_VANISHED;
        return VM_EVENT_VANISHED;
}

/* A guest reboot at time now: whether it makes VM_REBOOT_LOOP_COUNT within
 * VM_REBOOT_LOOP_SEC (the oldest of the last COUNT, this one included, is
 * that recent). */
static bool vm_reboot_loops(struct vm *vm, uint64_t now) {
        vm->reboots[vm->n_reboots % VM_REBOOT_LOOP_COUNT] = now;
        vm->n_reboots++;
        /* The next slot to fill holds the oldest of the last COUNT. */
        return vm->n_reboots >= VM_REBOOT_LOOP_COUNT &&
               now - vm->reboots[vm->n_reboots % VM_REBOOT_LOOP_COUNT] < (uint64_t) VM_REBOOT_LOOP_SEC * 1000000;
}

/* The new boot after a guest's reboot, in a turn of the event loop of its
 * own (not inside the xenstore callback that saw the old domain go). It is
 * not made if something else happened meanwhile (a start, a delete). */
static int on_restart(sd_event_source *s _unused_, void *userdata) {
        struct vm *vm = userdata;
        struct error err = { 0 };

        if (vm->state != VM_STOPPED || vm->exit_reason != VM_EXIT_REBOOT)
                return 0;
        /* Nobody asked: the journal hears of a failure (the VM stays stopped,
         * or runs with its state unsaved). */
        if (vm_start(vm, &err) < 0)
                log_error_errno(err.r, "VM %s: after the guest's reboot, now %s: %s, ignoring", vm->spec.name,
                                vm_state_to_string(vm->state), err.message);
        return 0;
}

static void vm_schedule_restart(struct vm *vm) {
        int r = 0;

        if (!vm->restart)
                r = sd_event_add_defer(vm->owner->event, &vm->restart, on_restart, vm);
        if (r >= 0)
                r = sd_event_source_set_enabled(vm->restart, SD_EVENT_ONESHOT);
        if (r < 0)
                log_error_errno(r, "VM %s: cannot schedule its new boot after the guest's reboot, ignoring",
                                vm->spec.name);
}

void vm_domain_changed(struct vm *vm) {
        struct domain_state st;
        enum vm_exit x = VM_EXIT_NONE;
        uint64_t now = 0;
        int e;

        if (vm->domid == 0 || domain_get_state(vm->owner->ts, vm->domid, &st) < 0)
                return;
        e = domain_event(vm, &st, &x);
        if (e < 0)
                return;
        (void) sd_event_now(vm->owner->event, CLOCK_MONOTONIC, &now);
        if (e == VM_EVENT_REBOOTED && vm_reboot_loops(vm, now)) {
                log_warning("VM %s rebooted %d times within %d s: stopped as crashed (reboot_loop); start it "
                            "again once it is fixed", vm->spec.name, VM_REBOOT_LOOP_COUNT, VM_REBOOT_LOOP_SEC);
                e = VM_EVENT_CRASHED;
                x = VM_EXIT_REBOOT_LOOP;
        }
        vm_teardown(vm);
        vm_set_exit(vm, x);
        (void) vm_transition(vm, (enum vm_event) e, NULL);
        if (e == VM_EVENT_REBOOTED)
                vm_schedule_restart(vm);
}

/* Takes back domain domid if it is the VM's (Xen's handle is the VM's
 * uuid; its xenstore name, when it can be read, the VM's name): its console
 * rings found again from xenstore and their backends bound. Returns the
 * event that says how it was found, or -1. A domain that ended while the
 * agent was away (powered off, rebooted, crashed) is taken back as
 * running, for its last output, and *ret_ended says so. Not strict (the
 * domain run.json names): a domain whose consoles cannot be bound is taken
 * back all the same, without them, rather than left to nobody. Strict (a
 * domain run.json does not name): only a domain that was unpaused and
 * whose consoles bind. */
static int vm_take_back(struct vm *vm, json_int_t domid, bool strict, bool *ret_ended) {
        struct vms *v = vm->owner;
        struct domain_state st;
        struct domain_built b;
        int r;

        if (!v->ts || domid <= 0 || domid >= 0x7ff0)
                return -1;
        if (domain_get_state(v->ts, (uint32_t) domid, &st) < 0 ||
            memcmp(st.uuid, vm->spec.uuid, sizeof(st.uuid)) != 0 ||
            (st.name[0] && strcmp(st.name, vm->spec.name) != 0) ||
            (st.state != DOMAIN_RUNNING && st.state != DOMAIN_PAUSED && st.state != DOMAIN_SHUTDOWN &&
             st.state != DOMAIN_CRASHED) ||
            (strict && st.state == DOMAIN_PAUSED))
                return -1;
        *ret_ended = st.state == DOMAIN_SHUTDOWN || st.state == DOMAIN_CRASHED;
        r = domain_get_rings(v->ts, (uint32_t) domid, &b);
        if (r < 0 && strict)
                return -1;
        vm->domid = (uint32_t) domid;
        if (r < 0 || vm_attach_consoles(vm, &b, true) < 0) {
                for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                        vm_release_backend(vm, c);
                if (strict) {
                        vm->domid = 0;
                        return -1;
                }
                log_warning("VM %s: its domain %u runs, but its consoles could not be taken back; they are not served "
                            "until the VM is destroyed and started again", vm->spec.name, (unsigned) domid);
        }
        return st.state == DOMAIN_PAUSED ? VM_EVENT_RECOVERED_PAUSED : VM_EVENT_RECOVERED_RUNNING;
}

/* A domain taken back: the recovery is the VM's state, and one that ended
 * while the agent was away has the outcome it would have had (a reboot
 * boots again, a crash is crashed). news: the VM was not known to run (an
 * agent died before it recorded the domain), so its start is news to the
 * event log. */
static void vm_taken_back(struct vm *vm, int e, bool ended, bool news) {
        (void) vm_transition(vm, (enum vm_event) e, NULL);
        vm_nics_start(vm);
        if (news)
                vm_record(vm, VM_EVENT_STARTED);
        if (ended)
                vm_domain_changed(vm);
}

int vm_adopt(struct vm *vm, uint32_t domid) {
        bool ended = false;
        int e;

        if (vm_state_has_domain(vm->state))
                return -EBUSY;
        e = vm_take_back(vm, domid, true, &ended);
        if (e < 0)
                return -ENOENT;
        vm_taken_back(vm, e, ended, true);
        return 0;
}

bool vm_owns_domain(const struct vm *vm, uint32_t domid) {
        return vm->domid != 0 && vm->domid == domid;
}

void vm_recover(struct vm *vm, json_t *run) {
        const char *state = json_string_value(json_object_get(run, "state"));
        bool ended = false, ran = state && (strcmp(state, "running") == 0 || strcmp(state, "paused") == 0);
        struct domain_state st;
        json_int_t domid;
        int e, r;

        /* As the agent left it; a domain that is gone left it stopped (a
         * crash stays a crash). */
        vm->boot_count = (unsigned) json_integer_value(json_object_get(run, "boot_count"));
        vm->exit_reason = vm_exit_from_string(json_string_value(json_object_get(run, "exit_reason")));
        vm->exit_time_ns = json_integer_value(json_object_get(run, "exit_time_ns"));
        /* Saved by an older agent: its spec's first generation. */
        vm->generation = json_integer_value(json_object_get(run, "generation")) > 0
                                 ? (uint64_t) json_integer_value(json_object_get(run, "generation"))
                                 : 1;
        vm->exit_boot = json_object_get(run, "exit_boot") ? (unsigned) json_integer_value(json_object_get(run, "exit_boot"))
                                                         : vm->boot_count; /* saved by an older agent */
        vm->state = state && strcmp(state, "crashed") == 0 ? VM_CRASHED : VM_STOPPED;
        domid = json_integer_value(json_object_get(run, "domid"));
        e = vm_take_back(vm, domid, false, &ended);
        if (e >= 0) {
                vm_taken_back(vm, e, ended, !ran);
                return;
        }
        /* It ran and its domain is gone: the host rebooted, or other hands
         * destroyed it while the agent was away. (A domain of its that is
         * still there is the sweep's: vms.c adopts or destroys it.) */
        if (ran && !(vm->owner->ts && domid > 0 && domid < 0x7ff0 &&
                     domain_get_state(vm->owner->ts, (uint32_t) domid, &st) >= 0 && st.state != DOMAIN_GONE &&
                     memcmp(st.uuid, vm->spec.uuid, sizeof(st.uuid)) == 0)) {
                vm_set_exit(vm, vm->owner->host_booted ? VM_EXIT_HOST_REBOOT : VM_EXIT_VANISHED);
                log_notice("VM %s ran when the agent stopped, and its domain is gone (%s): now stopped.",
                           vm->spec.name, vm->owner->host_booted ? "the host rebooted" : "destroyed by other hands");
                for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                        if (vm->logs[c])
                                (void) console_log_boot_end(vm->logs[c], vm->boot_count, (int) vm->exit_reason);
                vm_record(vm, VM_EVENT_VANISHED); /* vm_stopped, with the reason just set */
        }
        /* A guest's reboot whose new boot the agent did not get to make. */
        if (vm->state == VM_STOPPED && vm->exit_reason == VM_EXIT_REBOOT && !ran && !vm->owner->host_booted)
                vm_schedule_restart(vm);
        r = vm_save(vm);
        if (r < 0)
                log_warning_errno(r, "VM %s: saving its state failed, ignoring", vm->spec.name);
}

/* How the last boot ended, when and which boot it was; null before any
 * ended; a time of null where it is unknown (an agent older than the
 * record). */
static json_t *last_exit_json(const struct vm *vm) {
        char when[TIMESTAMP_MAX];

        if (vm->exit_reason == VM_EXIT_NONE)
                return json_null();
        timestamp_format(vm->exit_time_ns, when);
        return json_pack("{s:s,s:o,s:I}", "reason", vm_exit_to_string(vm->exit_reason), "time",
                         vm->exit_time_ns > 0 ? json_string(when) : json_null(), "boot", (json_int_t) vm->exit_boot);
}

json_t *vm_to_json(const struct vm *vm) {
        json_t *consoles = json_object();

        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                if (!vm->logs[c])
                        continue;
                const struct console_log *l = vm->logs[c];
                const char *corrupt = vm->backends[c] ? console_backend_corrupt(vm->backends[c]) : NULL;
                json_t *o;

                o = json_pack("{s:s,s:I,s:I,s:I,s:I,s:I,s:b}", "state",
                              corrupt ? "corrupt" : vm->backends[c] ? "connected" : "disconnected", "log_start",
                              (json_int_t) console_log_start(l), "log_end", (json_int_t) console_log_end(l),
                              "log_bytes", (json_int_t) console_log_bytes(l), "log_max_bytes",
                              (json_int_t) console_log_budget(l), "log_removed", (json_int_t) console_log_removed(l),
                              "connected", vm->backends[c] != NULL && !corrupt);
                if (o && corrupt)
                        json_object_set_new(o, "problem", json_string(corrupt));
                json_object_set_new(consoles, console_names[c], o);
        }
        return json_pack("{s:s,s:s,s:o,s:I,s:I,s:o,s:o,s:o,s:o,s:o}", "name", vm->spec.name, "state",
                         vm_state_to_string(vm->state), "domid", vm->domid ? json_integer(vm->domid) : json_null(),
                         "boot_count", (json_int_t) vm->boot_count, "generation", (json_int_t) vm->generation,
                         "exit_reason",
                         vm->exit_reason == VM_EXIT_NONE ? json_null() : json_string(vm_exit_to_string(vm->exit_reason)),
                         "last_exit", last_exit_json(vm), "spec", vm_spec_to_json(&vm->spec), "consoles", consoles,
                         "nics", vm_nics_to_json(vm));
}

const char *vm_name(const struct vm *vm) {
        return vm->spec.name;
}

enum vm_state vm_state(const struct vm *vm) {
        return vm->state;
}

const char *vm_state_name(const struct vm *vm) {
        return vm_state_to_string(vm->state);
}

unsigned vm_boot_count(const struct vm *vm) {
        return vm->boot_count;
}

const struct vm_spec *vm_get_spec(const struct vm *vm) {
        return &vm->spec;
}

enum vm_exit vm_exit_reason(const struct vm *vm) {
        return vm->exit_reason;
}

void vm_etag(const struct vm *vm, char buf[static VM_ETAG_MAX]) {
        char uuid[VM_UUID_STRING_MAX];

        vm_uuid_format(vm->spec.uuid, uuid);
        snprintf(buf, VM_ETAG_MAX, "\"%s-%llu\"", uuid, (unsigned long long) vm->generation);
}

bool vm_spec_matches(const struct vm *vm, const struct vm_spec *spec) {
        struct vm_spec s = *spec;
        json_t *a, *b;
        bool same;

        memcpy(s.uuid, vm->spec.uuid, sizeof(s.uuid));
        /* The agent drew the MACs a request left out, and gave the addresses. */
        for (unsigned i = 0; i < s.n_nics && i < vm->spec.n_nics; i++) {
                if (!s.nics[i].mac_set) {
                        memcpy(s.nics[i].mac, vm->spec.nics[i].mac, sizeof(s.nics[i].mac));
                        s.nics[i].mac_set = true;
                }
                s.nics[i].address = vm->spec.nics[i].address;
        }
        a = vm_spec_to_json(&s);
        b = vm_spec_to_json(&vm->spec);
        same = a && b && json_equal(a, b);
        json_decref(a);
        json_decref(b);
        return same;
}

uint64_t vm_exits(const struct vm *vm, enum vm_exit x) {
        return x > VM_EXIT_NONE && x < _VM_EXIT_MAX ? vm->exits[x] : 0;
}

struct console_hub *vm_console_hub(struct vm *vm, enum vm_console c) {
        return vm->hubs[c];
}

struct console_log *vm_console_log(struct vm *vm, enum vm_console c) {
        return vm->logs[c];
}

ssize_t vm_console_write(struct vm *vm, enum vm_console c, const void *data, size_t n, struct error *err) {
        ssize_t r;

        if (!vm->logs[c])
                return error_set(err, -ENOENT, ERROR_UNKNOWN_CONSOLE, "console", "VM %s has no %s console",
                                 vm->spec.name, console_names[c]);
        if (!vm->backends[c])
                return error_set(err, -EINVAL, ERROR_VM_NOT_RUNNING, NULL, "VM %s does not run", vm->spec.name);
        if (console_backend_corrupt(vm->backends[c]))
                return error_set(err, -EPROTO, ERROR_CONSOLE_CORRUPT, "console",
                                 "the %s console of VM %s is corrupt and no longer served: %s (destroy and start the "
                                 "VM to serve it again)", console_names[c], vm->spec.name,
                                 console_backend_corrupt(vm->backends[c]));
        r = console_backend_write(vm->backends[c], data, n);
        if (r < 0)
                return error_set(err, (int) r, ERROR_INTERNAL, NULL, "console input failed");
        if ((size_t) r < n)
                return error_set(err, -EAGAIN, ERROR_CONSOLE_BUSY, NULL,
                                 "the guest is not reading its console: only %zd of %zu bytes were queued", r, n);
        return r;
}

int vm_disk_get_stats(const struct vm *vm, unsigned i, struct vm_disk_stats *ret) {
        struct domain_disk_stats st;
        int r;

        if (vm->domid == 0 || i >= vm->spec.n_disks)
                return -ENOENT;
        r = domain_disk_stats(vm->domid, i, &st);
        if (r < 0)
                return r;
        *ret = (struct vm_disk_stats) { .read_bytes = st.read_bytes, .write_bytes = st.write_bytes,
                                        .read_ops = st.read_ops, .write_ops = st.write_ops };
        return 0;
}

int vm_console_get_stats(const struct vm *vm, enum vm_console c, struct vm_console_stats *ret) {
        const struct console_backend_stats *done;
        struct console_backend_stats now = { 0 };
        const struct console_log *l;

        if (c < 0 || c >= _VM_CONSOLE_MAX || !vm->logs[c])
                return -ENOENT;
        l = vm->logs[c];
        done = &vm->backends_done[c];
        if (vm->backends[c])
                console_backend_get_stats(vm->backends[c], &now);
        *ret = (struct vm_console_stats) {
                .served = vm->backends[c] != NULL,
                .corrupt = vm->backends[c] && console_backend_corrupt(vm->backends[c]),
                .bytes_out = done->bytes_out + now.bytes_out,
                .bytes_in = done->bytes_in + now.bytes_in,
                .events = done->events + now.events,
                .deferred = done->deferred + now.deferred,
                .ring_errors = done->ring_errors + now.ring_errors,
                .log_errors = done->log_errors + now.log_errors,
                .log_end = console_log_end(l),
                .log_bytes = console_log_bytes(l),
                .log_max_bytes = console_log_budget(l),
                .log_removed = console_log_removed(l),
                .viewers_skipped = vm->hubs[c] ? console_hub_skipped(vm->hubs[c]) : 0,
        };
        return 0;
}

void vm_console_lease_changed(struct vm *vm, enum vm_console c, const char *event, unsigned viewer) {
        (void) events_append(vm->owner->events, "console_lease", vm->spec.name,
                             json_pack("{s:s,s:s,s:I}", "console", vm_console_to_string(c), "event", event, "viewer",
                                       (json_int_t) viewer));
}
