/* vms.c: owns the collection of the agent's VMs (see vms.h): making and
 * deleting them, finding them by name, loading them back after an agent
 * restart, and hearing from xenstore which of their domains changed. One
 * VM's life is vm.c's; which VM may use which image is vms-images.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <systemd/sd-id128.h>
#include <unistd.h>

#include "console-log.h"
#include "events.h"
#include "fileio.h"
#include "instance.h"
#include "log.h"
#include "networks.h"
#include "vm.h"

struct vms *vms_free(struct vms *v) {
        if (!v)
                return NULL;
        /* Running domains keep running: the agent is not their parent. */
        for (size_t i = 0; i < v->n; i++)
                vm_free(v->vm[i]);
        networks_free(v->nets);
        v->watch = sd_event_source_disable_unref(v->watch);
        domain_toolstack_free(v->ts);
        console_log_pool_free(v->logs);
        events_free(v->events);
        safe_close(v->state_fd);
        safe_close(v->vms_fd);
        safe_close(v->images_fd);
        sd_event_unref(v->event);
        free(v);
        return NULL;
}

bool vms_have_xen(const struct vms *v) {
        return v->ts != NULL;
}

void vms_set_transition_hook(struct vms *v, vm_transition_hook_t hook, void *userdata) {
        v->hook = hook;
        v->hook_userdata = userdata;
}

struct vm *vms_find(struct vms *v, const char *name) {
        for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->vm[i]->spec.name, name) == 0)
                        return v->vm[i];
        return NULL;
}
/* Removes DIR/name recursively (a VM's directory: files and one level of
 * log directories, nothing deeper). */
static int remove_tree(int dir_fd, const char *name) {
        int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        DIR *d;
        struct dirent *de;

        if (fd < 0)
                return unlinkat(dir_fd, name, 0) < 0 && errno != ENOENT ? negative_errno() : 0;
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return negative_errno();
        }
        while ((de = readdir(d))) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (de->d_type == DT_DIR)
                        (void) remove_tree(dirfd(d), de->d_name);
                else
                        (void) unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
        return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 ? negative_errno() : 0;
}

int vms_delete(struct vms *v, struct vm *vm, struct error *err) {
        char name[VM_NAME_MAX + 1];
        struct vm_spec spec;
        size_t i;
        int r;

        if (vm_state_has_domain(vm->state))
                return error_set(err, -EBUSY, ERROR_VM_RUNNING, NULL,
                                 "VM %s runs: destroy or shut it down before deleting it", vm->spec.name);
        for (i = 0; i < v->n && v->vm[i] != vm; i++)
                ;
        if (i == v->n)
                return error_set(err, -ENOENT, ERROR_VM_NOT_FOUND, "name", "there is no VM named %s", vm->spec.name);
        snprintf(name, sizeof(name), "%s", vm->spec.name);
        r = remove_tree(v->vms_fd, vm->spec.name);
        if (r < 0)
                log_warning_errno(r, "VM %s: removing its directory failed, ignoring", vm->spec.name);
        spec = vm->spec;
        vm_free(vm);
        v->vm[i] = v->vm[--v->n];
        vms_nics_changed(v, &spec);
        (void) events_append(v->events, "vm_deleted", name, NULL);
        return 0;
}

/* Whether the spec fits the host as Xen sees it now (it may fit later, or
 * not, when other VMs come and go). */
static int check_host(struct vms *v, const struct vm_spec *s, struct error *err) {
        uint64_t free_mib;
        unsigned cpus;

        if (!v->ts || domain_host_resources(v->ts, &free_mib, &cpus) < 0)
                return 0;
        if (s->vcpus > cpus)
                return error_set(err, -E2BIG, ERROR_EXCEEDS_HOST, "vcpus", "vcpus %u is more than the host's %u CPUs",
                                 s->vcpus, cpus);
        if (s->memory_mib > free_mib)
                return error_set(err, -E2BIG, ERROR_EXCEEDS_HOST, "memory_mib",
                                 "memory_mib %u is more than the host's %llu MiB free", s->memory_mib,
                                 (unsigned long long) free_mib);
        return 0;
}

int vms_create(struct vms *v, const struct vm_spec *spec, struct vm **ret, struct error *err) {
        struct vm_spec s = *spec;
        sd_id128_t uuid;
        struct vm *vm;
        json_t *j;
        int r;

        if (vms_find(v, s.name))
                return error_set(err, -EEXIST, ERROR_ALREADY_EXISTS, "name", "a VM named %s exists", s.name);
        if (v->n >= VMS_MAX)
                return error_set(err, -ENOSPC, ERROR_TOO_MANY_VMS, NULL, "this host keeps at most %d VMs", VMS_MAX);
        /* A VM that would not start for a missing image or a busy disk is
         * not made either. */
        r = vms_check_boot(v, &s, NULL, NULL, err);
        if (r >= 0)
                r = vms_check_disks(v, NULL, &s, s.start, err);
        if (r >= 0)
                r = check_host(v, &s, err);
        if (r >= 0)
                r = vms_assign_nics(v, &s, err);
        if (r < 0)
                return r;
        /* A random (version 4) UUID. */
        r = sd_id128_randomize(&uuid);
        if (r < 0)
                return error_set(err, r, ERROR_INTERNAL, NULL, "no randomness for a uuid");
        memcpy(s.uuid, uuid.bytes, sizeof(s.uuid));

        r = vm_new(v, &s, &vm);
        if (r < 0)
                (void) remove_tree(v->vms_fd, s.name); /* what of it was made */
        if (r == -ENOSPC || r == -EDQUOT) {
                log_warning("The agent's state file system is full: VM %s was not created.", s.name);
                return error_set(err, r, ERROR_INSUFFICIENT_STORAGE, NULL,
                                 "the agent's state file system is full: cannot make the VM's directory");
        }
        if (r < 0)
                return error_set(err, r, ERROR_INTERNAL, NULL, "cannot make the VM's directory: %s", strerror(-r));
        vm->generation = 1;
        j = vm_spec_to_disk_json(&s);
        r = j ? json_write_atomic(vm->dir_fd, "spec.json", j) : -ENOMEM;
        json_decref(j);
        if (r >= 0)
                r = vm_save(vm);
        if (r < 0) {
                vm_free(vm);
                (void) remove_tree(v->vms_fd, s.name);
                if (r == -ENOSPC || r == -EDQUOT) {
                        log_warning("The agent's state file system is full: VM %s was not created.", s.name);
                        return error_set(err, r, ERROR_INSUFFICIENT_STORAGE, NULL,
                                         "the agent's state file system is full: cannot store the VM (free space "
                                         "and try again)");
                }
                return error_set(err, r, ERROR_INTERNAL, NULL, "cannot store the VM: %s", strerror(-r));
        }
        v->vm[v->n++] = vm;
        vms_nics_changed(v, &s);
        (void) events_append(v->events, "vm_created", s.name,
                             json_pack("{s:s,s:I}", "state", vm_state_to_string(vm->state), "generation",
                                       (json_int_t) vm->generation));
        *ret = vm;
        return 0;
}

/* A domain changed state (xenstore @releaseDomain): each of ours with a
 * domain finds out whether it was its. */
static void on_release(const char *path _unused_, void *userdata) {
        struct vms *v = userdata;

        for (size_t i = 0; i < v->n; i++)
                vm_domain_changed(v->vm[i]);
}

static int on_watch(sd_event_source *s _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        struct vms *v = userdata;
        int r = domain_toolstack_read_watches(v->ts, on_release, v);

        if (r < 0)
                log_warning_errno(r, "Reading xenstore's watch events failed, ignoring");
        return 0;
}

/* The VM stored in directory name of STATE/vms, or NULL (not a VM's, or
 * unreadable: left alone). */
static struct vm *vms_load_one(struct vms *v, const char *name) {
        struct error err = { 0 };
        struct vm_spec s;
        struct vm *vm;
        int dfd, r;
        json_t *j;

        if (!spec_name_is_valid(name, VM_NAME_MAX))
                return NULL;
        dfd = openat(v->vms_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0)
                return NULL;
        j = json_read_at(dfd, "spec.json");
        safe_close(dfd);
        r = j ? vm_spec_from_disk(j, &s, &err) : -ENOENT;
        json_decref(j);
        if (r < 0 || strcmp(s.name, name) != 0) {
                log_warning("VM directory %s has no valid spec.json (%s), ignoring", name,
                            r < 0 && err.code ? err.message : "missing or misnamed");
                return NULL;
        }
        r = vm_new(v, &s, &vm);
        if (r < 0) {
                log_warning_errno(r, "VM %s cannot be opened, ignoring", name);
                return NULL;
        }

        j = json_read_at(vm->dir_fd, "run.json");
        vm_recover(vm, j);
        json_decref(j);
        return vm;
}

static void vms_load(struct vms *v) {
        _cleanup_close_ int fd = dup(v->vms_fd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        struct dirent *de;

        if (!d)
                return;
        TAKE_FD(fd);
        rewinddir(d);
        while ((de = readdir(d)) && v->n < VMS_MAX) {
                struct vm *vm;

                if (de->d_name[0] == '.')
                        continue;
                vm = vms_load_one(v, de->d_name);
                if (vm)
                        v->vm[v->n++] = vm;
        }
        closedir(d);
}

/* Domains of the agent's VMs that no VM owns: built by an agent that died
 * before it recorded the domid (a build cut short, or run.json not yet
 * saved), or a second copy. Xen's handle of each is its VM's uuid, so they
 * are found by it. One that runs, of a VM without a domain, is adopted;
 * the others (a build cut short is still paused) are destroyed: never two
 * domains of one VM, and nothing left behind. Domains of other toolstacks
 * (other uuids) are left alone. */
static void vms_sweep(struct vms *v) {
        uint32_t domids[VMS_MAX * 4];
        size_t n = 0;

        if (!v->ts || domain_list(v->ts, domids, ELEMENTSOF(domids), &n) < 0)
                return;
        for (size_t i = 0; i < n; i++) {
                struct domain_state st;
                bool owned = false;
                struct vm *of = NULL;

                static const uint8_t none[16];

                if (domain_get_state(v->ts, domids[i], &st) < 0 || st.state == DOMAIN_GONE ||
                    memcmp(st.uuid, none, sizeof(none)) == 0)
                        continue;
                for (size_t k = 0; k < v->n; k++) {
                        if (vm_owns_domain(v->vm[k], domids[i]))
                                owned = true;
                        if (memcmp(v->vm[k]->spec.uuid, st.uuid, sizeof(st.uuid)) == 0)
                                of = v->vm[k];
                }
                if (owned || !of)
                        continue;
                if (vm_adopt(of, domids[i]) >= 0) {
                        log_notice("Domain %u (%s) is VM %s's, which had not recorded it (an agent died before it "
                                   "did): adopted.", domids[i], st.name[0] ? st.name : "no name", of->spec.name);
                        continue;
                }
                log_warning("Domain %u (%s) belongs to VM %s but is not its domain (an agent died before it "
                            "recorded it, or it is a second copy): destroying it", domids[i],
                            st.name[0] ? st.name : "no name", of->spec.name);
                (void) domain_destroy(v->ts, domids[i]);
        }
}

/* Whether the agent starts for the first time since the host booted: the
 * host's boot id is not the one STATE/host.json holds (which then gets it).
 * Without a boot id (not Linux?), never. Without a record (a new state
 * directory, or host.json removed or unreadable), it is: the agent cannot
 * tell, and an autostart VM that is not running is what autostart asks to
 * start (an operator removes host.json to make the agent act as after a
 * host boot). */
static bool vms_first_start_since_boot(struct vms *v) {
        char id[SD_ID128_STRING_MAX];
        sd_id128_t boot;
        const char *old;
        bool first;
        json_t *j;
        int r;

        if (sd_id128_get_boot(&boot) < 0)
                return false;
        sd_id128_to_string(boot, id);
        j = json_read_at(v->state_fd, "host.json");
        old = json_string_value(json_object_get(j, "boot_id"));
        first = !old || strcmp(old, id) != 0;
        json_decref(j);
        if (!first)
                return false;
        j = json_pack("{s:s}", "boot_id", id);
        r = j ? json_write_atomic(v->state_fd, "host.json", j) : -ENOMEM;
        json_decref(j);
        if (r < 0)
                log_warning_errno(r, "Saving the host's boot id failed (autostart VMs may start again at the next "
                                  "agent restart), ignoring");
        return true;
}

/* After a host boot, the VMs whose spec says autostart start (the others
 * stay stopped, with their logs). A failure is the journal's: the VM stays
 * stopped and says why at its next start. */
static void vms_autostart(struct vms *v) {
        if (!v->ts || !v->host_booted)
                return;
        for (size_t i = 0; i < v->n; i++) {
                struct vm *vm = v->vm[i];
                struct error err = { 0 };

                if (!vm->spec.autostart || vm_state_has_domain(vm->state))
                        continue;
                if (vm_start(vm, &err) < 0)
                        log_error_errno(err.r, "VM %s: autostart after the host's boot failed: %s", vm->spec.name,
                                        err.message);
                else
                        log_info("VM %s: started (autostart after the host's boot).", vm->spec.name);
        }
}

/* The default limits of all logs together: a quarter of the state file
 * system, and 15 % of it kept free (journald's SystemKeepFree). */
static void default_log_limits(int fd, uint64_t *max_bytes, uint64_t *keep_free) {
        struct statvfs st;
        uint64_t size;

        *max_bytes = *keep_free = 0;
        if (fstatvfs(fd, &st) < 0)
                return;
        size = (uint64_t) st.f_blocks * st.f_frsize;
        *max_bytes = size / 4;
        *keep_free = size / 100 * 15;
}

void vms_set_log_limits(struct vms *v, uint64_t max_bytes, uint64_t keep_free) {
        console_log_pool_set_limits(v->logs, max_bytes, keep_free);
}

int vms_cpu_times(const struct vms *v, uint64_t *ret_ns, size_t n) {
        uint32_t domids[VMS_MAX];

        if (n > v->n)
                n = v->n;
        if (!v->ts)
                return -EOPNOTSUPP;
        for (size_t i = 0; i < n; i++)
                domids[i] = v->vm[i]->domid ? v->vm[i]->domid : UINT32_MAX;
        return domain_cpu_times(v->ts, domids, n, ret_ns);
}

void vms_log_limits(const struct vms *v, uint64_t *max_bytes, uint64_t *keep_free, uint64_t *bytes) {
        console_log_pool_limits(v->logs, max_bytes, keep_free);
        *bytes = console_log_pool_bytes(v->logs);
}

int vms_new(sd_event *event, const char *state_dir, const char *firmware_dir, struct vms **ret) {
        struct vms *v = calloc(1, sizeof(*v));
        uint64_t max_bytes, keep_free;
        int state_fd, r;

        if (!v)
                return -ENOMEM;
        v->event = sd_event_ref(event);
        v->vms_fd = v->images_fd = v->state_fd = -1;
        if ((size_t) snprintf(v->firmware_dir, sizeof(v->firmware_dir), "%s",
                              firmware_dir ? firmware_dir : VMS_FIRMWARE_DIR) >= sizeof(v->firmware_dir) ||
            (size_t) snprintf(v->images_dir, sizeof(v->images_dir), "%s/images", state_dir) >= sizeof(v->images_dir)) {
                r = -ENAMETOOLONG;
                goto fail;
        }
        state_fd = v->state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = open_dir_at(state_fd, "vms", &v->vms_fd);
        if (r >= 0)
                r = open_dir_at(state_fd, "images", &v->images_fd);
        if (r >= 0)
                r = console_log_pool_new(state_fd, &v->logs);
        /* The event log first: what the loading below finds (a VM that
         * stopped while the agent was away, autostarts) follows the
         * agent's start in it. */
        if (r >= 0)
                r = events_open(event, state_fd, &v->events);
        if (r < 0)
                goto fail;
        (void) events_append(v->events, "agent_started", NULL,
                             json_pack("{s:s,s:o}", "instance_id", instance_id(), "boot_id",
                                       *instance_boot_id() ? json_string(instance_boot_id()) : json_null()));
        default_log_limits(state_fd, &max_bytes, &keep_free);
        console_log_pool_set_limits(v->logs, max_bytes, keep_free);

        /* Without Xen (a host build) the API still answers, with 503s. */
        if (domain_toolstack_open(&v->ts) >= 0) {
                r = sd_event_add_io(event, &v->watch, domain_toolstack_watch_fd(v->ts), EPOLLIN, on_watch, v);
                if (r < 0)
                        goto fail;
        }
        r = vms_networks_open(v, state_dir);
        if (r < 0)
                goto fail;
        v->host_booted = v->ts && vms_first_start_since_boot(v);
        vms_load(v);
        vms_networks_serve(v);
        vms_sweep(v);
        vms_autostart(v);
        *ret = v;
        return 0;
fail:
        vms_free(v);
        return r;
}

sd_event *vms_event(const struct vms *v) {
        return v->event;
}

struct events *vms_events(struct vms *v) {
        return v->events;
}

size_t vms_count(const struct vms *v) {
        return v->n;
}

struct vm *vms_get(const struct vms *v, size_t i) {
        return i < v->n ? v->vm[i] : NULL;
}

json_t *vms_to_json(const struct vms *v) {
        json_t *a = json_array();

        for (size_t i = 0; i < v->n; i++)
                json_array_append_new(a, vm_to_json(v->vm[i]));
        return json_pack("{s:o}", "vms", a);
}
