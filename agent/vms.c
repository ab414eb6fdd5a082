/* vms.c: owns the agent's VMs (see vms.h).
 *
 * On disk, per VM, in STATE/vms/NAME/:
 *   spec.json   what the user asked for (written once, atomically)
 *   run.json    boot count, and the domid while it runs (atomically replaced)
 *   pv/, vuart/ the console logs (console-log.h)
 * A restarted agent reads them back and re-attaches to domains still
 * running under the same name.
 *
 * A PV disk is an image bound to a loop device (loop.h) while its VM runs.
 * A writable disk is its image's only user among running VMs; read-only
 * disks of one image may be shared. The agent holds each loop device open
 * until the VM's teardown; the binding then ends when dom0's backend lets go
 * of it (autoclear), so a restarted agent has nothing to re-take. */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console-log.h"
#include "console.h"
#include "domain.h"
#include "images.h"
#include "loop.h"
#include "vms.h"

enum vm_state {
        VM_STOPPED,
        VM_RUNNING,
        VM_PAUSED,
        VM_CRASHED,
};

static const char *const state_names[] = {
        [VM_STOPPED] = "stopped",
        [VM_RUNNING] = "running",
        [VM_PAUSED] = "paused",
        [VM_CRASHED] = "crashed",
};

static const char *const console_names[] = {
        [VM_CONSOLE_PV] = "pv",
        [VM_CONSOLE_VUART] = "vuart",
};

struct vm {
        struct vms *owner;
        struct vm_spec spec;
        enum vm_state state;
        uint32_t domid;                 /* 0: no domain */
        unsigned boot_count;
        bool stopping;                  /* a shutdown was asked for */
        sd_event_source *shutdown_timer;
        int dir_fd;
        struct console_log *logs[_VM_CONSOLE_MAX];
        struct console_backend *backends[_VM_CONSOLE_MAX];
        struct log_watch *watches[_VM_CONSOLE_MAX];
        unsigned n_watches[_VM_CONSOLE_MAX];
        sd_event_source *news[_VM_CONSOLE_MAX]; /* new output, for the watchers soon (on_log_append) */
        uint64_t news_last[_VM_CONSOLE_MAX];    /* when the watchers last heard (CLOCK_MONOTONIC) */
        struct loop_device disks[VM_DISKS_MAX]; /* bound while it runs (this agent started it) */
};

struct vms {
        sd_event *event;
        int vms_fd, images_fd;
        char images_dir[PATH_MAX];      /* for the disks' `params` */
        struct domain_toolstack *ts;    /* NULL without Xen */
        sd_event_source *watch;
        struct vm *vm[VMS_MAX];
        size_t n;
};

#define errf spec_error_set

/* How often at most a console's watchers hear of new output (on_log_append). */
#define VM_NEWS_INTERVAL_USEC (5 * 1000)

/* Writes a JSON document to dir_fd/name through a temporary file, fsync and
 * rename, so that a crash leaves the old or the new file, never a torn one. */
static int write_json_atomic(int dir_fd, const char *name, json_t *j) {
        char tmp[NAME_MAX + 1];
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        _cleanup_close_ int fd = -1;
        size_t len, done = 0;

        if (!text)
                return -ENOMEM;
        len = strlen(text);
        snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        while (done < len) {
                ssize_t n = write(fd, text + done, len - done);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                done += (size_t) n;
        }
        if (fsync(fd) < 0 || renameat(dir_fd, tmp, dir_fd, name) < 0)
                return negative_errno();
        (void) fsync(dir_fd);
        return 0;
}

static json_t *read_json(int dir_fd, const char *name) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return NULL;
        return json_loadfd(fd, JSON_REJECT_DUPLICATES, NULL);
}

/* Whether the console's watchers are yet to hear of output (on_log_append). */
static bool news_pending(const struct vm *vm, int c) {
        int enabled = SD_EVENT_OFF;

        return vm->news[c] && sd_event_source_get_enabled(vm->news[c], &enabled) >= 0 && enabled != SD_EVENT_OFF;
}

static void notify_watches(struct vm *vm, int c) {
        if (vm->news[c])
                (void) sd_event_source_set_enabled(vm->news[c], SD_EVENT_OFF);
        (void) sd_event_now(vm->owner->event, CLOCK_MONOTONIC, &vm->news_last[c]);
        for (struct log_watch *w = vm->watches[c], *next; w; w = next) {
                next = w->next; /* on_change may unwatch */
                w->on_change(w, false);
        }
}

/* Saves the run state; every change of state or boot count comes through
 * here, so the consoles' watchers hear of it here too. */
static int save_run(struct vm *vm) {
        json_t *j = json_pack("{s:I,s:I,s:s}", "boot_count", (json_int_t) vm->boot_count, "domid",
                              (json_int_t) vm->domid, "state", state_names[vm->state]);
        int r;

        if (!j)
                return -ENOMEM;
        r = write_json_atomic(vm->dir_fd, "run.json", j);
        json_decref(j);
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                notify_watches(vm, c);
        return r;
}

/* Drops the agent's hold on the disks' loop devices (each one's binding
 * ends once dom0's backend has let go of it too). */
static void vm_release_disks(struct vm *vm) {
        for (int i = 0; i < VM_DISKS_MAX; i++)
                loop_release(&vm->disks[i]);
}

static void vm_free(struct vm *vm) {
        if (!vm)
                return;
        /* Followers get the last output, then learn the log is gone; they
         * must not come back. */
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                if (news_pending(vm, c))
                        notify_watches(vm, c);
                vm->news[c] = sd_event_source_disable_unref(vm->news[c]);
        }
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                while (vm->watches[c]) {
                        struct log_watch *w = vm->watches[c];

                        vm->watches[c] = w->next;
                        w->vm = NULL;
                        w->on_change(w, true);
                }
        vm->shutdown_timer = sd_event_source_disable_unref(vm->shutdown_timer);
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                vm->backends[c] = console_backend_free(vm->backends[c]);
                vm->logs[c] = console_log_free(vm->logs[c]);
        }
        vm_release_disks(vm);
        safe_close(vm->dir_fd);
        free(vm);
}

struct vms *vms_free(struct vms *v) {
        if (!v)
                return NULL;
        /* Running domains keep running: the agent is not their parent. */
        for (size_t i = 0; i < v->n; i++)
                vm_free(v->vm[i]);
        v->watch = sd_event_source_disable_unref(v->watch);
        domain_toolstack_free(v->ts);
        safe_close(v->vms_fd);
        safe_close(v->images_fd);
        sd_event_unref(v->event);
        free(v);
        return NULL;
}

bool vms_have_xen(const struct vms *v) {
        return v->ts != NULL;
}

struct vm *vms_find(struct vms *v, const char *name) {
        for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->vm[i]->spec.name, name) == 0)
                        return v->vm[i];
        return NULL;
}

static int open_subdir(int parent, const char *name, int *ret) {
        int fd;

        if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

static int on_news(sd_event_source *s, uint64_t usec _unused_, void *userdata) {
        struct vm *vm = userdata;

        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                if (vm->news[c] == s)
                        notify_watches(vm, c);
        return 0;
}

/* New output in a console's log. The watchers (websocket viewers, log
 * followers) hear of it on a later turn of the event loop, not now: the
 * console backend is in the middle of draining the ring, and the guest gets
 * its ring back (and its event) before any viewer's socket is written to.
 * And they hear at most once per VM_NEWS_INTERVAL_USEC: a keystroke's echo
 * after a quiet spell goes out on the next turn, while a flood goes out in
 * frames of many ring-fulls rather than one frame (and two send()s) per
 * 2 KiB ring, which costs dom0 more than the log itself. A pending source
 * at the ring's priority runs before the ring's later events, so a flood
 * cannot starve the viewers. */
static void on_log_append(struct console_log *l, void *userdata) {
        struct vm *vm = userdata;

        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                uint64_t now, due;

                if (vm->logs[c] != l || !vm->watches[c])
                        continue;
                if (news_pending(vm, c))
                        continue; /* they will hear of this too */
                if (sd_event_now(vm->owner->event, CLOCK_MONOTONIC, &now) < 0)
                        now = 0;
                due = vm->news_last[c] + VM_NEWS_INTERVAL_USEC;
                if (due < now)
                        due = now;
                if (!vm->news[c]) {
                        if (sd_event_add_time(vm->owner->event, &vm->news[c], CLOCK_MONOTONIC, due, 1,
                                              on_news, vm) < 0) {
                                notify_watches(vm, c); /* no memory for the source: tell them now */
                                continue;
                        }
                } else
                        (void) sd_event_source_set_time(vm->news[c], due);
                (void) sd_event_source_set_enabled(vm->news[c], SD_EVENT_ONESHOT);
        }
}

static int vm_open_logs(struct vm *vm) {
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                int r;

                if (c == VM_CONSOLE_VUART && !vm->spec.vuart)
                        continue;
                r = console_log_open(vm->dir_fd, console_names[c], &vm->logs[c]);
                if (r < 0)
                        return r;
                console_log_set_on_append(vm->logs[c], on_log_append, vm);
        }
        return 0;
}

int vm_console_watch(struct vm *vm, enum vm_console c, struct log_watch *w) {
        if (!vm->logs[c])
                return -ENOENT;
        if (vm->n_watches[c] >= VM_CONSOLE_WATCHES_MAX)
                return -EMFILE;
        w->vm = vm;
        w->console = c;
        w->next = vm->watches[c];
        vm->watches[c] = w;
        vm->n_watches[c]++;
        return 0;
}

void vm_console_unwatch(struct log_watch *w) {
        struct vm *vm = w->vm;

        if (!vm)
                return;
        for (struct log_watch **p = &vm->watches[w->console]; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        vm->n_watches[w->console]--;
                        break;
                }
        w->vm = NULL;
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
                vm->backends[c] = console_backend_free(vm->backends[c]);
        }
        if (vm->domid != 0 && vm->owner->ts)
                (void) domain_destroy(vm->owner->ts, vm->domid);
        vm_release_disks(vm);
        vm->domid = 0;
        vm->stopping = false;
}

static int vm_attach_consoles(struct vm *vm, const struct domain_built *b) {
        const struct domain_ring *rings[_VM_CONSOLE_MAX] = { &b->pv, &b->vuart };

        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                char name[96];
                int r;

                if (!vm->logs[c] || rings[c]->gfn == 0)
                        continue;
                snprintf(name, sizeof(name), "%s/%s", vm->spec.name, console_names[c]);
                r = console_backend_new(vm->owner->event, name, b->domid, rings[c]->gfn, rings[c]->remote_port,
                                        vm->logs[c], &vm->backends[c]);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int image_path(struct vms *v, const char *name, char *buf, size_t size) {
        struct stat st;

        if (fstatat(v->images_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return -ENOENT;
        snprintf(buf, size, "/proc/self/fd/%d/%s", v->images_fd, name);
        return 0;
}

static bool vm_has_domain(const struct vm *vm) {
        return vm->state == VM_RUNNING || vm->state == VM_PAUSED;
}

/* The running VM other than self whose disks clash with disk d: one that
 * uses d's image with either of the two disks writable. */
static const struct vm *image_clash(const struct vms *v, const struct vm *self, const struct vm_disk *d) {
        for (size_t i = 0; i < v->n; i++) {
                const struct vm *o = v->vm[i];

                if (o == self || !vm_has_domain(o))
                        continue;
                for (unsigned k = 0; k < o->spec.n_disks; k++)
                        if (strcmp(o->spec.disks[k].image, d->image) == 0 && !(d->readonly && o->spec.disks[k].readonly))
                                return o;
        }
        return NULL;
}

/* Every disk's image exists, and none is in use in a way that clashes. */
static int check_disks(struct vms *v, const struct vm *self, const struct vm_spec *s, bool starting,
                       struct spec_error *err) {
        char path[PATH_MAX];

        for (unsigned i = 0; i < s->n_disks; i++) {
                const struct vm_disk *d = &s->disks[i];
                const struct vm *o;

                if (image_path(v, d->image, path, sizeof(path)) < 0)
                        return errf(err, 422, "unknown_image", spec_error_disk_field(err, i, "image"), -ENOENT,
                                    "no image %s", d->image);
                if (starting && (o = image_clash(v, self, d)))
                        return errf(err, 409, "image_in_use", spec_error_disk_field(err, i, "image"), -EBUSY,
                                    "image %s is a disk of running VM %s; only read-only disks share an image",
                                    d->image, o->spec.name);
        }
        return 0;
}

/* Binds each disk's image to a loop device, described for the toolstack. */
static int vm_attach_disks(struct vm *vm, struct domain_disk *disks, char (*params)[PATH_MAX],
                           struct spec_error *err) {
        struct vms *v = vm->owner;

        for (unsigned i = 0; i < vm->spec.n_disks; i++) {
                const struct vm_disk *d = &vm->spec.disks[i];
                _cleanup_close_ int fd = openat(v->images_fd, d->image,
                                                (d->readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NOFOLLOW);
                int r;

                if (fd < 0) {
                        int e = errno;

                        return errf(err, e == ENOENT ? 422 : 500, e == ENOENT ? "unknown_image" : "disk_failed",
                                    spec_error_disk_field(err, i, "image"), -e, "cannot open image %s: %s", d->image,
                                    strerror(e));
                }
                if ((size_t) snprintf(params[i], PATH_MAX, "%s/%s", v->images_dir, d->image) >= PATH_MAX)
                        return errf(err, 500, "disk_failed", spec_error_disk_field(err, i, "image"), -ENAMETOOLONG,
                                    "the path of image %s is too long", d->image);
                r = loop_attach(fd, d->readonly, params[i], &vm->disks[i]);
                if (r < 0)
                        return errf(err, 500, "disk_failed", spec_error_disk_field(err, i, "image"), r,
                                    "cannot bind image %s to a loop device: %s", d->image, strerror(-r));
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

int vm_start(struct vm *vm, struct spec_error *err) {
        struct vms *v = vm->owner;
        char kernel[PATH_MAX], ramdisk[PATH_MAX], why[256] = "";
        struct domain_disk disks[VM_DISKS_MAX];
        char params[VM_DISKS_MAX][PATH_MAX];
        struct domain_config c = {
                .name = vm->spec.name,
                .vcpus = vm->spec.vcpus,
                .memory_mib = vm->spec.memory_mib,
                .kernel = kernel,
                .ramdisk = vm->spec.ramdisk[0] ? ramdisk : NULL,
                .cmdline = vm->spec.cmdline,
                .vuart = vm->spec.vuart,
                .disks = disks,
                .n_disks = vm->spec.n_disks,
        };
        struct domain_built b;
        int r;

        if (!v->ts)
                return errf(err, 503, "xen_unavailable", NULL, -EOPNOTSUPP, "the agent has no access to Xen");
        if (vm->state == VM_RUNNING || vm->state == VM_PAUSED)
                return errf(err, 409, "vm_running", NULL, -EBUSY, "VM %s already runs", vm->spec.name);
        memcpy(c.uuid, vm->spec.uuid, sizeof(c.uuid));
        if (image_path(v, vm->spec.kernel, kernel, sizeof(kernel)) < 0)
                return errf(err, 422, "unknown_image", "kernel", -ENOENT, "no image %s", vm->spec.kernel);
        if (vm->spec.ramdisk[0] && image_path(v, vm->spec.ramdisk, ramdisk, sizeof(ramdisk)) < 0)
                return errf(err, 422, "unknown_image", "ramdisk", -ENOENT, "no image %s", vm->spec.ramdisk);
        r = check_disks(v, vm, &vm->spec, true, err);
        if (r < 0)
                return r;
        r = vm_attach_disks(vm, disks, params, err);
        if (r < 0) {
                vm_release_disks(vm);
                return r;
        }

        r = domain_build(v->ts, &c, &b, why, sizeof(why));
        if (r < 0) {
                vm_release_disks(vm);
                return errf(err, 500, "build_failed", NULL, r, "building the domain failed: %s", why);
        }
        vm->domid = b.domid;
        r = vm_attach_consoles(vm, &b);
        if (r < 0) {
                vm_teardown(vm);
                return errf(err, 500, "console_failed", NULL, r, "attaching the consoles failed: %s", strerror(-r));
        }
        r = domain_unpause(v->ts, b.domid);
        if (r < 0) {
                vm_teardown(vm);
                return errf(err, 500, "start_failed", NULL, r, "unpausing the domain failed: %s", strerror(-r));
        }
        vm->state = VM_RUNNING;
        vm->boot_count++;
        (void) save_run(vm);
        return 0;
}

static int on_shutdown_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        struct vm *vm = userdata;

        (void) s; (void) usec;
        /* The guest did not power off in time: pull the plug. */
        vm_teardown(vm);
        vm->state = VM_STOPPED;
        (void) save_run(vm);
        return 0;
}

int vm_shutdown(struct vm *vm, unsigned timeout_sec, struct spec_error *err) {
        uint64_t now;
        int r;

        if (vm->state != VM_RUNNING && vm->state != VM_PAUSED)
                return errf(err, 409, "vm_not_running", NULL, -EINVAL, "VM %s does not run", vm->spec.name);
        r = domain_request_shutdown(vm->owner->ts, vm->domid, false);
        if (r < 0)
                return errf(err, 500, "shutdown_failed", NULL, r, "asking the guest to power off failed: %s",
                            strerror(-r));
        /* A paused guest cannot see the request: let it run, and say so. If
         * it stays paused, the timer below still ends it. */
        if (vm->state == VM_PAUSED && domain_unpause(vm->owner->ts, vm->domid) >= 0) {
                vm->state = VM_RUNNING;
                (void) save_run(vm);
        }
        vm->stopping = true;
        vm->shutdown_timer = sd_event_source_disable_unref(vm->shutdown_timer);
        (void) sd_event_now(vm->owner->event, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(vm->owner->event, &vm->shutdown_timer, CLOCK_MONOTONIC,
                              now + (uint64_t) timeout_sec * 1000000, 0, on_shutdown_timeout, vm);
        return r < 0 ? errf(err, 500, "internal_error", NULL, r, "cannot arm the shutdown timer") : 0;
}

int vm_reboot(struct vm *vm, struct spec_error *err) {
        int r;

        if (vm->state != VM_RUNNING)
                return errf(err, 409, "vm_not_running", NULL, -EINVAL, "VM %s does not run", vm->spec.name);
        r = domain_request_shutdown(vm->owner->ts, vm->domid, true);
        return r < 0 ? errf(err, 500, "reboot_failed", NULL, r, "asking the guest to reboot failed: %s",
                            strerror(-r))
                     : 0;
}

int vm_pause(struct vm *vm, struct spec_error *err) {
        int r;

        if (vm->state != VM_RUNNING)
                return errf(err, 409, "vm_not_running", NULL, -EINVAL, "VM %s is not running", vm->spec.name);
        r = domain_pause(vm->owner->ts, vm->domid);
        if (r < 0)
                return errf(err, 500, "pause_failed", NULL, r, "pausing failed: %s", strerror(-r));
        vm->state = VM_PAUSED;
        (void) save_run(vm);
        return 0;
}

int vm_resume(struct vm *vm, struct spec_error *err) {
        int r;

        if (vm->state != VM_PAUSED)
                return errf(err, 409, "vm_not_paused", NULL, -EINVAL, "VM %s is not paused", vm->spec.name);
        r = domain_unpause(vm->owner->ts, vm->domid);
        if (r < 0)
                return errf(err, 500, "resume_failed", NULL, r, "resuming failed: %s", strerror(-r));
        vm->state = VM_RUNNING;
        (void) save_run(vm);
        return 0;
}

int vm_destroy(struct vm *vm, struct spec_error *err) {
        if (vm->state != VM_RUNNING && vm->state != VM_PAUSED)
                return errf(err, 409, "vm_not_running", NULL, -EINVAL, "VM %s does not run", vm->spec.name);
        vm_teardown(vm);
        vm->state = VM_STOPPED;
        (void) save_run(vm);
        return 0;
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

int vms_delete(struct vms *v, struct vm *vm, struct spec_error *err) {
        size_t i;

        if (vm->state == VM_RUNNING || vm->state == VM_PAUSED)
                return errf(err, 409, "vm_running", NULL, -EBUSY,
                            "VM %s runs: destroy or shut it down before deleting it", vm->spec.name);
        for (i = 0; i < v->n && v->vm[i] != vm; i++)
                ;
        if (i == v->n)
                return -ENOENT;
        (void) remove_tree(v->vms_fd, vm->spec.name);
        vm_free(vm);
        v->vm[i] = v->vm[--v->n];
        return 0;
}

static int vm_new(struct vms *v, const struct vm_spec *spec, struct vm **ret) {
        struct vm *vm = calloc(1, sizeof(*vm));
        int r;

        if (!vm)
                return -ENOMEM;
        vm->owner = v;
        vm->spec = *spec;
        vm->dir_fd = -1;
        for (int i = 0; i < VM_DISKS_MAX; i++)
                vm->disks[i] = (struct loop_device) LOOP_DEVICE_INIT;
        r = open_subdir(v->vms_fd, spec->name, &vm->dir_fd);
        if (r >= 0)
                r = vm_open_logs(vm);
        if (r < 0) {
                vm_free(vm);
                return r;
        }
        *ret = vm;
        return 0;
}

int vms_create(struct vms *v, const struct vm_spec *spec, struct vm **ret, struct spec_error *err) {
        struct vm_spec s = *spec;
        char path[PATH_MAX];
        struct vm *vm;
        json_t *j;
        int r;

        if (vms_find(v, s.name))
                return errf(err, 409, "already_exists", "name", -EEXIST, "a VM named %s exists", s.name);
        if (v->n >= VMS_MAX)
                return errf(err, 409, "too_many_vms", NULL, -ENOSPC, "this host keeps at most %d VMs", VMS_MAX);
        if (image_path(v, s.kernel, path, sizeof(path)) < 0)
                return errf(err, 422, "unknown_image", "kernel", -ENOENT, "no image %s", s.kernel);
        if (s.ramdisk[0] && image_path(v, s.ramdisk, path, sizeof(path)) < 0)
                return errf(err, 422, "unknown_image", "ramdisk", -ENOENT, "no image %s", s.ramdisk);
        /* A VM that would not start for a busy disk is not made either. */
        r = check_disks(v, NULL, &s, s.start, err);
        if (r < 0)
                return r;
        if (v->ts) {
                uint64_t free_mib;
                unsigned cpus;

                if (domain_host_resources(v->ts, &free_mib, &cpus) == 0) {
                        if (s.vcpus > cpus)
                                return errf(err, 422, "exceeds_host", "vcpus", -E2BIG,
                                            "vcpus %u is more than the host's %u CPUs", s.vcpus, cpus);
                        if (s.memory_mib > free_mib)
                                return errf(err, 422, "exceeds_host", "memory_mib", -E2BIG,
                                            "memory_mib %u is more than the host's %llu MiB free", s.memory_mib,
                                            (unsigned long long) free_mib);
                }
        }
        if (getrandom(s.uuid, sizeof(s.uuid), 0) != (ssize_t) sizeof(s.uuid))
                return errf(err, 500, "internal_error", NULL, -EIO, "no randomness for a uuid");
        s.uuid[6] = (uint8_t) ((s.uuid[6] & 0x0f) | 0x40);      /* version 4 */
        s.uuid[8] = (uint8_t) ((s.uuid[8] & 0x3f) | 0x80);      /* variant 1 */

        r = vm_new(v, &s, &vm);
        if (r < 0)
                return errf(err, 500, "internal_error", NULL, r, "cannot make the VM's directory: %s", strerror(-r));
        j = vm_spec_to_json(&s);
        r = j ? write_json_atomic(vm->dir_fd, "spec.json", j) : -ENOMEM;
        json_decref(j);
        if (r >= 0)
                r = save_run(vm);
        if (r < 0) {
                vm_free(vm);
                (void) remove_tree(v->vms_fd, s.name);
                return errf(err, 500, "internal_error", NULL, r, "cannot store the VM: %s", strerror(-r));
        }
        v->vm[v->n++] = vm;
        *ret = vm;
        return 0;
}

/* A domain changed state (xenstore @releaseDomain): find out which of ours
 * and act on it. */
static void on_release(const char *path, void *userdata) {
        struct vms *v = userdata;

        (void) path;
        for (size_t i = 0; i < v->n; i++) {
                struct vm *vm = v->vm[i];
                struct domain_state st;
                bool reboot = false;

                if (vm->domid == 0 || domain_get_state(v->ts, vm->domid, &st) < 0)
                        continue;
                switch (st.state) {
                case DOMAIN_RUNNING:
                case DOMAIN_PAUSED:
                        continue;
                case DOMAIN_SHUTDOWN:
                        reboot = st.shutdown_reason == DOMAIN_SHUTDOWN_REBOOT && !vm->stopping;
                        vm_teardown(vm);
                        vm->state = st.shutdown_reason == DOMAIN_SHUTDOWN_WATCHDOG ? VM_CRASHED : VM_STOPPED;
                        break;
                case DOMAIN_CRASHED:
                        vm_teardown(vm);
                        vm->state = VM_CRASHED;
                        break;
                case DOMAIN_DYING:
                case DOMAIN_GONE:
                        vm_teardown(vm);
                        vm->state = VM_STOPPED;
                        break;
                }
                (void) save_run(vm);
                if (reboot)
                        (void) vm_start(vm, NULL);
        }
}

static int on_watch(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct vms *v = userdata;

        (void) s; (void) fd; (void) revents;
        (void) domain_toolstack_read_watches(v->ts, on_release, v);
        return 0;
}

/* After an agent restart: the VM ran with domid D; if D still runs under the
 * VM's name, take its consoles back. */
static void vm_recover(struct vm *vm, json_t *run) {
        struct vms *v = vm->owner;
        json_int_t domid = json_integer_value(json_object_get(run, "domid"));
        const char *state = json_string_value(json_object_get(run, "state"));
        struct domain_state st;
        struct domain_built b;

        vm->boot_count = (unsigned) json_integer_value(json_object_get(run, "boot_count"));
        vm->state = state && strcmp(state, "crashed") == 0 ? VM_CRASHED : VM_STOPPED;
        if (!v->ts || domid <= 0 || domid >= 0x7ff0)
                return;
        if (domain_get_state(v->ts, (uint32_t) domid, &st) < 0 || strcmp(st.name, vm->spec.name) != 0 ||
            (st.state != DOMAIN_RUNNING && st.state != DOMAIN_PAUSED))
                return;
        if (domain_get_rings(v->ts, (uint32_t) domid, &b) < 0)
                return;
        vm->domid = (uint32_t) domid;
        if (vm_attach_consoles(vm, &b) < 0) {
                for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                        vm->backends[c] = console_backend_free(vm->backends[c]);
                vm->domid = 0;
                return;
        }
        vm->state = st.state == DOMAIN_PAUSED ? VM_PAUSED : VM_RUNNING;
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
                struct spec_error err;
                struct vm_spec s;
                struct vm *vm;
                int dfd;
                json_t *j;

                if (!spec_name_is_valid(de->d_name, VM_NAME_MAX))
                        continue;
                dfd = openat(v->vms_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
                if (dfd < 0)
                        continue;
                j = read_json(dfd, "spec.json");
                safe_close(dfd);
                if (!j || vm_spec_from_disk(j, &s, &err) < 0 || strcmp(s.name, de->d_name) != 0) {
                        json_decref(j);
                        continue;
                }
                json_decref(j);
                if (vm_new(v, &s, &vm) < 0)
                        continue;
                j = read_json(vm->dir_fd, "run.json");
                if (j)
                        vm_recover(vm, j);
                json_decref(j);
                v->vm[v->n++] = vm;
                (void) save_run(vm);
        }
        closedir(d);
}

int vms_new(sd_event *event, const char *state_dir, struct vms **ret) {
        _cleanup_close_ int state_fd = -1;
        struct vms *v = calloc(1, sizeof(*v));
        int r;

        if (!v)
                return -ENOMEM;
        v->event = sd_event_ref(event);
        v->vms_fd = v->images_fd = -1;
        if ((size_t) snprintf(v->images_dir, sizeof(v->images_dir), "%s/images", state_dir) >= sizeof(v->images_dir)) {
                r = -ENAMETOOLONG;
                goto fail;
        }
        state_fd = open(state_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (state_fd < 0) {
                r = negative_errno();
                goto fail;
        }
        r = open_subdir(state_fd, "vms", &v->vms_fd);
        if (r >= 0)
                r = open_subdir(state_fd, "images", &v->images_fd);
        if (r < 0)
                goto fail;

        /* Without Xen (a host build) the API still answers, with 503s. */
        if (domain_toolstack_open(&v->ts) >= 0) {
                r = sd_event_add_io(event, &v->watch, domain_toolstack_watch_fd(v->ts), EPOLLIN, on_watch, v);
                if (r < 0)
                        goto fail;
        }
        vms_load(v);
        *ret = v;
        return 0;
fail:
        vms_free(v);
        return r;
}

json_t *vm_to_json(const struct vm *vm) {
        json_t *consoles = json_object();
        json_t *j;

        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                struct console_backend_stats st = { 0 };

                if (!vm->logs[c])
                        continue;
                if (vm->backends[c])
                        console_backend_get_stats(vm->backends[c], &st);
                json_object_set_new(consoles, console_names[c],
                                    json_pack("{s:I,s:I,s:b}", "log_start",
                                              (json_int_t) console_log_start(vm->logs[c]), "log_end",
                                              (json_int_t) console_log_end(vm->logs[c]), "connected",
                                              vm->backends[c] != NULL));
        }
        j = json_pack("{s:s,s:s,s:o,s:I,s:o,s:o}", "name", vm->spec.name, "state", state_names[vm->state],
                      "domid", vm->domid ? json_integer(vm->domid) : json_null(), "boot_count",
                      (json_int_t) vm->boot_count, "spec", vm_spec_to_json(&vm->spec), "consoles", consoles);
        return j;
}

json_t *vms_to_json(const struct vms *v) {
        json_t *a = json_array();

        for (size_t i = 0; i < v->n; i++)
                json_array_append_new(a, vm_to_json(v->vm[i]));
        return json_pack("{s:o}", "vms", a);
}

const char *vm_name(const struct vm *vm) {
        return vm->spec.name;
}

const char *vm_state_name(const struct vm *vm) {
        return state_names[vm->state];
}

unsigned vm_boot_count(const struct vm *vm) {
        return vm->boot_count;
}

struct console_log *vm_console_log(struct vm *vm, enum vm_console c) {
        return vm->logs[c];
}

int vm_console_from_string(const char *s, enum vm_console *ret) {
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                if (strcmp(s, console_names[c]) == 0) {
                        *ret = (enum vm_console) c;
                        return 0;
                }
        return -EINVAL;
}

ssize_t vm_console_write(struct vm *vm, enum vm_console c, const void *data, size_t n, struct spec_error *err) {
        ssize_t r;

        if (!vm->logs[c])
                return errf(err, 404, "unknown_console", "console", -ENOENT, "VM %s has no %s console",
                            vm->spec.name, console_names[c]);
        if (!vm->backends[c])
                return errf(err, 409, "vm_not_running", NULL, -EINVAL, "VM %s does not run", vm->spec.name);
        r = console_backend_write(vm->backends[c], data, n);
        if (r < 0)
                return errf(err, 500, "internal_error", NULL, (int) r, "console input failed");
        if ((size_t) r < n)
                return errf(err, 503, "console_busy", NULL, -EAGAIN,
                            "the guest is not reading its console: only %zd of %zu bytes were queued", r, n);
        return r;
}

/* The VMs naming an image, as a JSON array of names. */
static json_t *image_users(const struct vms *v, const char *name) {
        json_t *a = json_array();

        for (size_t i = 0; i < v->n; i++)
                if (vm_spec_uses_image(&v->vm[i]->spec, name))
                        json_array_append_new(a, json_string(v->vm[i]->spec.name));
        return a;
}

static int refuse_if_used(const struct vms *v, const char *name, const char *what, struct spec_error *err) {
        for (size_t i = 0; i < v->n; i++)
                if (vm_spec_uses_image(&v->vm[i]->spec, name))
                        return errf(err, 409, "image_in_use", "name", -EBUSY,
                                    "image %s cannot be %s: VM %s uses it (delete the VM first)", name, what,
                                    v->vm[i]->spec.name);
        return 0;
}

json_t *vms_images_to_json(struct vms *v) {
        _cleanup_close_ int fd = dup(v->images_fd);
        DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
        json_t *a = json_array();
        struct dirent *de;

        if (!d)
                return json_pack("{s:o}", "images", a);
        TAKE_FD(fd);
        rewinddir(d);
        while ((de = readdir(d))) {
                json_t *j = image_to_json(v->images_fd, de->d_name);

                if (!j)
                        continue;
                json_object_set_new(j, "used_by", image_users(v, de->d_name));
                json_array_append_new(a, j);
        }
        closedir(d);
        return json_pack("{s:o}", "images", a);
}

int vms_image_upload_begin(struct vms *v, const char *name, uint64_t announced, const char *expect_sha256,
                           struct image_upload **ret, struct spec_error *err) {
        int r = image_upload_begin(v->images_fd, name, announced, expect_sha256, ret, err);

        if (r < 0)
                return r;
        r = refuse_if_used(v, name, "replaced", err);
        if (r < 0)
                *ret = image_upload_free(*ret);
        return r;
}

int vms_image_upload_finish(struct vms *v, struct image_upload *u, json_t **ret, bool *created,
                            struct spec_error *err) {
        char sha256[IMAGE_SHA256_HEX + 1];
        const char *name = image_upload_name(u);
        bool replaced;
        uint64_t size;
        int r;

        /* A VM may have come to name it while the body was coming in. */
        r = refuse_if_used(v, name, "replaced", err);
        if (r < 0)
                return r;
        r = image_upload_finish(u, &replaced, &size, sha256, err);
        if (r < 0)
                return r;
        *created = !replaced;
        *ret = json_pack("{s:s,s:I,s:s,s:[]}", "name", name, "size", (json_int_t) size, "sha256", sha256, "used_by");
        return *ret ? 0 : errf(err, 500, "internal_error", NULL, -ENOMEM, "out of memory");
}

int vms_image_delete(struct vms *v, const char *name, struct spec_error *err) {
        int r;

        if (!image_exists(v->images_fd, name))
                return errf(err, 404, "image_not_found", "name", -ENOENT, "there is no image named %.64s", name);
        r = refuse_if_used(v, name, "deleted", err);
        if (r < 0)
                return r;
        r = image_remove(v->images_fd, name);
        if (r < 0)
                return errf(err, 500, "internal_error", NULL, r, "removing image %s failed: %s", name, strerror(-r));
        return 0;
}
