/* test-vms.c: the collection of VMs (vms.c, vm.c, vms-images.c) on a host
 * without Xen, in a temp state directory: what a VM is made of on disk, the
 * checks before it is made, the requests its state refuses, which images
 * are in use, deletion (its hubs' watchers told gone, its directory
 * removed), a failed save, and an agent restart that reads it all back.
 * What needs a domain (start, a guest's reboot, recovery of a running one)
 * is shown on the board (tests/board). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api.h"
#include "core.h"
#include "fileio.h"
#include "instance.h"
#include "test-util.h"

struct fixture {
        struct test_dir *dir;
        sd_event *event;
        struct vms *vms;
        int images_fd;
};

static void put_file(int dir_fd, const char *name, const char *content) {
        int fd = openat(dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, content, strlen(content)), (ssize_t) strlen(content));
        close(fd);
}

static void open_vms(struct fixture *f) {
        assert_int_equal(vms_new(f->event, f->dir->tmp, NULL, &f->vms), 0);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(test_dir_setup((void **) &f->dir), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        open_vms(f);
        f->images_fd = openat(f->dir->dfd, "images", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->images_fd >= 0);
        put_file(f->images_fd, "kernel", "not really an Image");
        put_file(f->images_fd, "disk", "a disk");
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        vms_free(f->vms);
        close(f->images_fd);
        sd_event_unref(f->event);
        test_dir_teardown((void **) &f->dir);
        free(f);
        return 0;
}

static void spec_of(const char *json, struct vm_spec *s) {
        struct error e = { 0 };
        json_t *j = json_loads(json, 0, NULL);

        assert_non_null(j);
        if (vm_spec_from_request(j, s, &e) < 0)
                fail_msg("%s: %s", json, e.message);
        json_decref(j);
}

static struct vm *create(struct fixture *f, const char *json) {
        struct error e = { 0 };
        struct vm_spec s;
        struct vm *vm = NULL;

        spec_of(json, &s);
        if (vms_create(f->vms, &s, &vm, &e) < 0)
                fail_msg("%s: %s", json, e.message);
        return vm;
}

/* vms_create()'s refusal of json: its code, field and status. */
static void expect_refused(struct fixture *f, const char *json, enum error_code code, const char *field,
                           unsigned status) {
        struct error e = { 0 };
        struct vm_spec s;
        struct vm *vm = NULL;

        spec_of(json, &s);
        assert_true(vms_create(f->vms, &s, &vm, &e) < 0);
        assert_null(vm);
        assert_string_equal(error_code_name(e.code), error_code_name(code));
        if (field)
                assert_string_equal(e.field, field);
        else
                assert_null(e.field);
        assert_int_equal(api_error_status(e.code), status);
}

/* The run.json of the VM directory at path (under the state directory). */
static json_t *read_run(struct fixture *f, const char *path) {
        int fd = openat(f->dir->dfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        json_t *j;

        assert_true(fd >= 0);
        j = json_read_at(fd, "run.json");
        close(fd);
        assert_non_null(j);
        return j;
}

/* A new VM: stopped, a version 4 UUID, spec.json and run.json on disk, a
 * hub for each console it has. */
static void test_create(void **state) {
        struct fixture *f = *state;
        struct vm *vm = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false}");
        struct vm *b = create(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"consoles\":[\"pv\"],\"start\":false}");
        json_t *j = vm_to_json(vm), *run;
        const char *uuid;
        struct stat st;

        assert_false(vms_have_xen(f->vms));
        assert_ptr_equal(vms_find(f->vms, "a"), vm);
        assert_null(vms_find(f->vms, "c"));
        assert_int_equal(vm_state(vm), VM_STOPPED);
        assert_string_equal(vm_state_name(vm), "stopped");
        assert_int_equal(vm_boot_count(vm), 0);
        uuid = json_string_value(json_object_get(json_object_get(j, "spec"), "uuid"));
        assert_non_null(uuid);
        assert_int_equal(strlen(uuid), 36);
        assert_int_equal(uuid[14], '4');
        assert_non_null(strchr("89ab", uuid[19]));
        assert_true(json_is_null(json_object_get(j, "domid")));
        json_decref(j);

        assert_int_equal(fstatat(f->dir->dfd, "vms/a/spec.json", &st, 0), 0);
        run = read_run(f, "vms/a");
        assert_non_null(run);
        assert_string_equal(json_string_value(json_object_get(run, "state")), "stopped");
        assert_int_equal(json_integer_value(json_object_get(run, "domid")), 0);
        json_decref(run);

        assert_non_null(vm_console_hub(vm, VM_CONSOLE_PV));
        assert_non_null(vm_console_hub(vm, VM_CONSOLE_VUART));
        assert_non_null(vm_console_hub(b, VM_CONSOLE_PV));
        assert_null(vm_console_hub(b, VM_CONSOLE_VUART));
        assert_null(vm_console_log(b, VM_CONSOLE_VUART));
}

/* What vms_create() checks before anything is made. */
static void test_create_refused(void **state) {
        struct fixture *f = *state;
        struct stat st;

        create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false}");
        expect_refused(f, "{\"name\":\"a\",\"kernel\":\"kernel\"}", ERROR_ALREADY_EXISTS, "name", 409);
        expect_refused(f, "{\"name\":\"b\",\"kernel\":\"nope\"}", ERROR_UNKNOWN_IMAGE, "kernel", 422);
        expect_refused(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"ramdisk\":\"nope\"}", ERROR_UNKNOWN_IMAGE,
                       "ramdisk", 422);
        expect_refused(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"disks\":[{\"image\":\"disk\"},{\"image\":\"x\"}]}",
                       ERROR_UNKNOWN_IMAGE, "disks[1].image", 422);
        /* Nothing of the refused ones is on disk. */
        assert_true(fstatat(f->dir->dfd, "vms/b", &st, 0) < 0);
}

/* A firmware VM: refused while the firmware directory lacks its file, made
 * once it is there; the host lists what is installed. */
static void test_firmware(void **state) {
        struct fixture *f = *state;
        char dir[PATH_MAX];
        int fd;

        /* The fixture's agent looks in the default directory, which this
         * host need not have: a second collection with one of the test's. */
        vms_free(f->vms);
        assert_int_equal(mkdirat(f->dir->dfd, "firmware", 0700), 0);
        snprintf(dir, sizeof(dir), "%s/firmware", f->dir->tmp);
        assert_int_equal(vms_new(f->event, f->dir->tmp, dir, &f->vms), 0);
        assert_false(vms_have_firmware(f->vms, VM_FIRMWARE_UEFI));
        assert_false(vms_have_firmware(f->vms, VM_FIRMWARE_NONE));
        expect_refused(f, "{\"name\":\"u\",\"firmware\":\"uefi\",\"disks\":[{\"image\":\"disk\"}]}",
                       ERROR_UNKNOWN_FIRMWARE, "firmware", 422);
        fd = openat(f->dir->dfd, "firmware", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(fd >= 0);
        put_file(fd, "uefi", "not really EDK2");
        assert_int_equal(mkdirat(fd, "uboot-efi", 0700), 0); /* not a file: not installed */
        close(fd);
        assert_true(vms_have_firmware(f->vms, VM_FIRMWARE_UEFI));
        assert_false(vms_have_firmware(f->vms, VM_FIRMWARE_UBOOT_EFI));
        create(f, "{\"name\":\"u\",\"firmware\":\"uefi\",\"start\":false,\"disks\":[{\"image\":\"disk\"}]}");
        expect_refused(f, "{\"name\":\"b\",\"firmware\":\"uboot-efi\"}", ERROR_UNKNOWN_FIRMWARE, "firmware", 422);
        /* UEFI's default: ACPI tables for the guest. */
        assert_true(vm_get_spec(vms_find(f->vms, "u"))->acpi);
}

static void test_too_many(void **state) {
        struct fixture *f = *state;

        for (int i = 0; i < VMS_MAX; i++) {
                char json[128];

                snprintf(json, sizeof(json), "{\"name\":\"vm%d\",\"kernel\":\"kernel\",\"consoles\":[\"pv\"]}", i);
                create(f, json);
        }
        expect_refused(f, "{\"name\":\"one-more\",\"kernel\":\"kernel\"}", ERROR_TOO_MANY_VMS, NULL, 409);
}

/* A stopped VM refuses what needs a domain, each with its code. */
static void test_stopped_refuses(void **state) {
        struct fixture *f = *state;
        struct vm *vm = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false}");
        struct error e = { 0 };

        assert_true(vm_start(vm, &e) < 0);
        assert_int_equal(e.code, ERROR_XEN_UNAVAILABLE); /* no Xen here */
        assert_true(vm_shutdown(vm, 10, &e) < 0);
        assert_int_equal(e.code, ERROR_VM_NOT_RUNNING);
        assert_true(vm_reboot(vm, &e) < 0);
        assert_int_equal(e.code, ERROR_VM_NOT_RUNNING);
        assert_true(vm_pause(vm, &e) < 0);
        assert_int_equal(e.code, ERROR_VM_NOT_RUNNING);
        assert_true(vm_resume(vm, &e) < 0);
        assert_int_equal(e.code, ERROR_VM_NOT_PAUSED);
        assert_true(vm_destroy(vm, &e) < 0);
        assert_int_equal(e.code, ERROR_VM_NOT_RUNNING);
        assert_true(vm_console_write(vm, VM_CONSOLE_PV, "x", 1, &e) < 0);
        assert_int_equal(e.code, ERROR_VM_NOT_RUNNING);
        /* Nothing changed. */
        assert_int_equal(vm_state(vm), VM_STOPPED);
        assert_int_equal(vm_boot_count(vm), 0);
}

/* An image a VM names can be neither replaced nor deleted, until the VM is
 * gone; images are listed with their users. */
static void test_images_in_use(void **state) {
        struct fixture *f = *state;
        struct vm *vm = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"disks\":[{\"image\":\"disk\"}]}");
        struct image_upload *u = NULL;
        struct error e = { 0 };
        json_t *list, *users = NULL;
        size_t i;
        json_t *img;

        assert_true(vms_image_delete(f->vms, "disk", &e) < 0);
        assert_int_equal(e.code, ERROR_IMAGE_IN_USE);
        assert_string_equal(e.field, "name");
        assert_true(vms_image_upload_begin(f->vms, "kernel", 5, NULL, &u, &e) < 0);
        assert_int_equal(e.code, ERROR_IMAGE_IN_USE);
        assert_null(u);
        assert_true(vms_image_delete(f->vms, "nope", &e) < 0);
        assert_int_equal(e.code, ERROR_IMAGE_NOT_FOUND);

        list = vms_images_to_json(f->vms);
        json_array_foreach(json_object_get(list, "images"), i, img)
                if (strcmp(json_string_value(json_object_get(img, "name")), "disk") == 0)
                        users = json_object_get(img, "used_by");
        assert_int_equal(json_array_size(users), 1);
        assert_string_equal(json_string_value(json_array_get(users, 0)), "a");
        json_decref(list);

        assert_int_equal(vms_delete(f->vms, vm, &e), 0);
        assert_int_equal(vms_image_delete(f->vms, "disk", &e), 0);
        assert_int_equal(vms_image_upload_begin(f->vms, "kernel", 5, NULL, &u, &e), 0);
        assert_int_equal(vms_image_upload_write(u, "12345", 5), 0);
        u = vms_image_upload_free(u);
}

struct gone_watch {
        struct console_watch w;
        unsigned changes, gone;
};

static void on_change(struct console_watch *w, bool gone) {
        struct gone_watch *g = (struct gone_watch *) w;

        if (gone)
                g->gone++;
        else
                g->changes++;
}

/* Deleting a VM: its consoles' watchers hear gone, its directory (logs
 * included) goes. */
static void test_delete(void **state) {
        struct fixture *f = *state;
        struct vm *vm = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false}");
        struct gone_watch pv = { .w.on_change = on_change }, vuart = { .w.on_change = on_change };
        struct error e = { 0 };
        struct stat st;

        assert_int_equal(console_hub_watch(vm_console_hub(vm, VM_CONSOLE_PV), &pv.w), 0);
        assert_int_equal(console_hub_watch(vm_console_hub(vm, VM_CONSOLE_VUART), &vuart.w), 0);
        assert_int_equal(fstatat(f->dir->dfd, "vms/a/pv", &st, 0), 0);
        assert_int_equal(vms_delete(f->vms, vm, &e), 0);
        assert_int_equal(pv.gone, 1);
        assert_int_equal(vuart.gone, 1);
        assert_null(pv.w.hub);
        console_hub_unwatch(&pv.w); /* harmless after gone */
        assert_null(vms_find(f->vms, "a"));
        assert_true(fstatat(f->dir->dfd, "vms/a", &st, 0) < 0);
        /* The name is free again. */
        create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false}");
}

/* A run state that cannot be saved makes no VM, and leaves nothing behind. */
static void test_save_fails(void **state) {
        struct fixture *f = *state;
        struct error e = { 0 };
        struct vm_spec s;
        struct vm *vm = NULL;
        struct stat st;

        /* The temporary file run.json is written through is a directory. */
        assert_int_equal(mkdirat(f->dir->dfd, "vms/a", 0700), 0);
        assert_int_equal(mkdirat(f->dir->dfd, "vms/a/.run.json.tmp", 0700), 0);
        spec_of("{\"name\":\"a\",\"kernel\":\"kernel\"}", &s);
        assert_true(vms_create(f->vms, &s, &vm, &e) < 0);
        assert_int_equal(e.code, ERROR_INTERNAL);
        assert_non_null(strstr(e.message, "cannot store the VM"));
        assert_null(vms_find(f->vms, "a"));
        assert_true(fstatat(f->dir->dfd, "vms/a", &st, 0) < 0);
}

/* An agent restart: the VMs come back from disk as they were (a crash stays
 * a crash, the boot count stays), their logs continue, and what is not a
 * VM's directory is left alone. */
static void test_restart(void **state) {
        struct fixture *f = *state;
        struct vm *vm = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false}");
        int dfd;
        json_t *run;

        create(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"start\":false}");
        assert_int_equal(console_log_append(vm_console_log(vm, VM_CONSOLE_PV), "hello", 5), 0);
        f->vms = vms_free(f->vms);

        /* b crashed in its last life, on its third boot, as domain 7. */
        dfd = openat(f->dir->dfd, "vms/b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        run = json_pack("{s:i,s:i,s:s}", "boot_count", 3, "domid", 7, "state", "crashed");
        assert_int_equal(json_write_atomic(dfd, "run.json", run), 0);
        json_decref(run);
        close(dfd);
        /* Not VMs: a directory without a spec, one whose spec names
         * another VM. */
        assert_int_equal(mkdirat(f->dir->dfd, "vms/junk", 0700), 0);
        assert_int_equal(mkdirat(f->dir->dfd, "vms/c", 0700), 0);
        dfd = openat(f->dir->dfd, "vms/c", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        put_file(dfd, "spec.json",
                 "{\"name\":\"d\",\"kernel\":\"kernel\",\"uuid\":\"01234567-89ab-4def-8123-456789abcdef\"}");
        close(dfd);

        open_vms(f);
        vm = vms_find(f->vms, "a");
        assert_non_null(vm);
        assert_int_equal(vm_state(vm), VM_STOPPED);
        assert_int_equal(console_log_end(vm_console_log(vm, VM_CONSOLE_PV)), 5);
        vm = vms_find(f->vms, "b");
        assert_non_null(vm);
        assert_int_equal(vm_state(vm), VM_CRASHED);
        assert_int_equal(vm_boot_count(vm), 3);
        assert_null(vms_find(f->vms, "junk"));
        assert_null(vms_find(f->vms, "c"));
        assert_null(vms_find(f->vms, "d"));
        /* The domain is gone (no Xen even): run.json says so now. */
        run = read_run(f, "vms/b");
        assert_int_equal(json_integer_value(json_object_get(run, "domid")), 0);
        assert_string_equal(json_string_value(json_object_get(run, "state")), "crashed");
        assert_int_equal(json_integer_value(json_object_get(run, "boot_count")), 3);
        json_decref(run);
}

/* The events from seq on, as "TYPE:VM" words ("TYPE" without a VM), and
 * the newest of them parsed in *last (for the caller to check). */
static void events_since(struct fixture *f, uint64_t seq, char *out, size_t size, json_t **last) {
        struct events *ev = vms_events(f->vms);
        char buf[EVENTS_LINE_MAX];

        *out = '\0';
        *last = NULL;
        while (events_read(ev, &seq, buf, sizeof(buf)) > 0) {
                json_t *j = json_loads(buf, 0, NULL);
                const char *vm = json_string_value(json_object_get(j, "vm"));
                size_t n = strlen(out);

                assert_non_null(j);
                snprintf(out + n, size - n, "%s%s%s%s", n ? " " : "", json_string_value(json_object_get(j, "type")),
                         vm ? ":" : "", vm ? vm : "");
                json_decref(*last);
                *last = j;
                seq++;
        }
}

/* What the collection records in the event log: the agent's start (its
 * instance id, as the headers say it), a VM made, its log's budget
 * removing segments, a lease, an image removed, the VM deleted; and after a
 * restart, a VM that ran when the agent stopped and whose domain is gone. */
static void test_events(void **state) {
        struct fixture *f = *state;
        struct events *ev = vms_events(f->vms);
        struct error e = { 0 };
        char types[512], chunk[4096];
        uint64_t seq;
        json_t *last;
        struct vm *vm;
        int dfd;

        events_since(f, 1, types, sizeof(types), &last);
        assert_string_equal(types, "agent_started");
        assert_string_equal(json_string_value(json_object_get(last, "instance_id")), instance_id());
        assert_true(json_is_string(json_object_get(last, "boot_id")) || json_is_null(json_object_get(last, "boot_id")));
        json_decref(last);

        seq = events_next(ev);
        vm = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false,\"log_max_bytes\":65536}");
        events_since(f, seq, types, sizeof(types), &last);
        assert_string_equal(types, "vm_created:a");
        assert_string_equal(json_string_value(json_object_get(last, "state")), "stopped");
        json_decref(last);

        /* 64 KiB of budget: segments of 16 KiB, the oldest going past it. */
        seq = events_next(ev);
        memset(chunk, 'x', sizeof(chunk));
        for (int i = 0; i < 24; i++)
                assert_int_equal(console_log_append(vm_console_log(vm, VM_CONSOLE_PV), chunk, sizeof(chunk)), 0);
        events_since(f, seq, types, sizeof(types), &last);
        assert_non_null(last);
        assert_string_equal(json_string_value(json_object_get(last, "type")), "log_removed");
        assert_string_equal(json_string_value(json_object_get(last, "console")), "pv");
        assert_string_equal(json_string_value(json_object_get(last, "reason")), "budget");
        assert_true(json_integer_value(json_object_get(last, "bytes")) > 0);
        assert_int_equal(json_integer_value(json_object_get(last, "log_start")),
                         (json_int_t) console_log_start(vm_console_log(vm, VM_CONSOLE_PV)));
        json_decref(last);

        seq = events_next(ev);
        vm_console_lease_changed(vm, VM_CONSOLE_VUART, "stolen", 7);
        assert_int_equal(vms_image_delete(f->vms, "disk", &e), 0);
        assert_int_equal(vms_delete(f->vms, vm, &e), 0);
        events_since(f, seq, types, sizeof(types), &last);
        assert_string_equal(types, "console_lease:a image_removed vm_deleted:a");
        json_decref(last);
        {
                char buf[EVENTS_LINE_MAX];
                json_t *j;

                assert_true(events_read(ev, &seq, buf, sizeof(buf)) > 0);
                j = json_loads(buf, 0, NULL);
                assert_string_equal(json_string_value(json_object_get(j, "console")), "vuart");
                assert_string_equal(json_string_value(json_object_get(j, "event")), "stolen");
                assert_int_equal(json_integer_value(json_object_get(j, "viewer")), 7);
                json_decref(j);
        }

        /* b ran when the agent stopped; its domain is gone when it returns. */
        create(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"start\":false}");
        seq = events_next(ev);
        f->vms = vms_free(f->vms);
        dfd = openat(f->dir->dfd, "vms/b", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        last = json_pack("{s:i,s:i,s:s}", "boot_count", 2, "domid", 7, "state", "running");
        assert_int_equal(json_write_atomic(dfd, "run.json", last), 0);
        json_decref(last);
        close(dfd);
        open_vms(f);
        ev = vms_events(f->vms);
        events_since(f, seq, types, sizeof(types), &last);
        assert_string_equal(types, "agent_started vm_stopped:b");
        assert_string_equal(json_string_value(json_object_get(last, "reason")), "vanished");
        assert_string_equal(json_string_value(json_object_get(last, "state")), "stopped");
        assert_int_equal(json_integer_value(json_object_get(last, "boot")), 2);
        json_decref(last);
}

/* Networks without Xen (records only): default from the start, NICs get
 * distinct MACs and the lowest free addresses, the refusals, a network in
 * use, and all of it back after a restart. */
static void test_networks(void **state) {
        struct fixture *f = *state;
        struct error e = { 0 };
        json_t *j, *n;
        struct vm *a, *b;

        j = vms_networks_to_json(f->vms);
        assert_int_equal(json_array_size(json_object_get(j, "networks")), 1);
        n = json_array_get(json_object_get(j, "networks"), 0);
        assert_string_equal(json_string_value(json_object_get(n, "name")), "default");
        assert_string_equal(json_string_value(json_object_get(n, "subnet")), "169.254.1.0/24");
        assert_false(json_is_true(json_object_get(n, "active")));
        json_decref(j);

        assert_int_equal(vms_network_create(f->vms, "lab", "169.254.2.0/30", &j, &e), 0);
        json_decref(j);
        assert_true(vms_network_create(f->vms, "lab2", "169.254.2.0/24", &j, &e) < 0);
        assert_string_equal(error_code_name(e.code), "subnet_overlap");
        assert_string_equal(e.field, "subnet");
        assert_true(vms_network_create(f->vms, "lab", "169.254.3.0/24", &j, &e) < 0);
        assert_string_equal(error_code_name(e.code), "already_exists");

        a = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"start\":false,\"nics\":[{},{\"network\":\"lab\"}]}");
        b = create(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"start\":false,\"nics\":[{\"mac\":\"00:16:3e:00:00:09\"}]}");
        assert_int_equal(vm_get_spec(a)->nics[0].address, 0xa9fe0102);
        assert_int_equal(vm_get_spec(a)->nics[1].address, 0xa9fe0202);
        assert_int_equal(vm_get_spec(b)->nics[0].address, 0xa9fe0103);
        assert_int_equal(vm_get_spec(a)->nics[0].mac[0], 0x00);
        assert_int_equal(vm_get_spec(a)->nics[0].mac[2], 0x3e);
        assert_false(vm_get_spec(a)->nics[0].mac[3] & 0x80);
        assert_memory_not_equal(vm_get_spec(a)->nics[0].mac, vm_get_spec(a)->nics[1].mac, 6);

        expect_refused(f, "{\"name\":\"c\",\"kernel\":\"kernel\",\"nics\":[{\"network\":\"nope\"}]}",
                       ERROR_UNKNOWN_NETWORK, "nics[0].network", 422);
        expect_refused(f, "{\"name\":\"c\",\"kernel\":\"kernel\",\"nics\":[{\"mac\":\"00:16:3e:00:00:09\"}]}",
                       ERROR_MAC_IN_USE, "nics[0].mac", 409);
        /* a /30 holds one guest */
        expect_refused(f, "{\"name\":\"c\",\"kernel\":\"kernel\",\"nics\":[{\"network\":\"lab\"}]}",
                       ERROR_NETWORK_FULL, "nics[0].network", 409);

        assert_true(vms_network_delete(f->vms, "lab", &e) < 0);
        assert_string_equal(error_code_name(e.code), "network_in_use");
        assert_true(vms_network_delete(f->vms, "default", &e) < 0);
        assert_string_equal(error_code_name(e.code), "network_in_use");
        assert_true(vms_network_delete(f->vms, "nope", &e) < 0);
        assert_string_equal(error_code_name(e.code), "network_not_found");

        /* An agent restart keeps networks, MACs and addresses. */
        vms_free(f->vms);
        open_vms(f);
        a = vms_find(f->vms, "a");
        assert_non_null(a);
        assert_int_equal(vm_get_spec(a)->nics[1].address, 0xa9fe0202);
        j = vms_network_to_json(f->vms, "lab");
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "nics")), 1);
        json_decref(j);

        /* The address a deleted VM had is free again. */
        assert_int_equal(vms_delete(f->vms, vms_find(f->vms, "b"), &e), 0);
        b = create(f, "{\"name\":\"d\",\"kernel\":\"kernel\",\"start\":false,\"nics\":[{}]}");
        assert_int_equal(vm_get_spec(b)->nics[0].address, 0xa9fe0103);
        assert_int_equal(vms_delete(f->vms, vms_find(f->vms, "a"), &e), 0);
        assert_int_equal(vms_network_delete(f->vms, "lab", &e), 0);
        assert_null(vms_network_to_json(f->vms, "lab"));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_create, setup, teardown),
                cmocka_unit_test_setup_teardown(test_create_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_firmware, setup, teardown),
                cmocka_unit_test_setup_teardown(test_too_many, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stopped_refuses, setup, teardown),
                cmocka_unit_test_setup_teardown(test_images_in_use, setup, teardown),
                cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
                cmocka_unit_test_setup_teardown(test_save_fails, setup, teardown),
                cmocka_unit_test_setup_teardown(test_restart, setup, teardown),
                cmocka_unit_test_setup_teardown(test_events, setup, teardown),
                cmocka_unit_test_setup_teardown(test_networks, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
