/* vms.h: owns the agent's VMs: each VM's spec and run state on disk
 * (STATE/vms/NAME/), its console logs (they outlive its boots), and while it
 * runs its domain and its console backends. It reacts to domains shutting
 * down (xenstore @releaseDomain): a guest reboot rebuilds the VM with the
 * same spec, a poweroff leaves it stopped, a crash leaves it crashed, and
 * the logs stay.
 *
 * Images (kernels, ramdisks) are files in STATE/images/, by name. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"
#include "vm-spec.h"

struct vms;
struct vm;
struct console_log;

enum vm_console {
        VM_CONSOLE_PV,
        VM_CONSOLE_VUART,
        _VM_CONSOLE_MAX,
};

#define VMS_MAX 64

int vms_new(sd_event *event, const char *state_dir, struct vms **ret);
struct vms *vms_free(struct vms *v);
DEFINE_CLEANUP_FUNC(struct vms, vms_free);

/* Whether the toolstack could be opened (false on a host without Xen). */
bool vms_have_xen(const struct vms *v);

struct vm *vms_find(struct vms *v, const char *name);

/* Each fills *err on failure (status, code, field, message) and returns a
 * negative errno. */
int vms_create(struct vms *v, const struct vm_spec *spec, struct vm **ret, struct spec_error *err);
int vm_start(struct vm *vm, struct spec_error *err);
int vm_shutdown(struct vm *vm, unsigned timeout_sec, struct spec_error *err);
int vm_reboot(struct vm *vm, struct spec_error *err);
int vm_pause(struct vm *vm, struct spec_error *err);
int vm_resume(struct vm *vm, struct spec_error *err);
int vm_destroy(struct vm *vm, struct spec_error *err);
/* Removes a VM that does not run, with its logs. */
int vms_delete(struct vms *v, struct vm *vm, struct spec_error *err);

json_t *vm_to_json(const struct vm *vm);
const char *vm_name(const struct vm *vm);
const char *vm_state_name(const struct vm *vm); /* running, paused, stopped, crashed */
unsigned vm_boot_count(const struct vm *vm);
json_t *vms_to_json(const struct vms *v);

/* A console's log (NULL if the VM has no such console) and its input. */
struct console_log *vm_console_log(struct vm *vm, enum vm_console c);
ssize_t vm_console_write(struct vm *vm, enum vm_console c, const void *data, size_t n, struct spec_error *err);
int vm_console_from_string(const char *s, enum vm_console *ret);

/* A follower of a console's log (e.g. GET .../log?follow=1): told after
 * every append and every change of the VM's state or boot count, and once, with gone, when the VM is deleted (its log with
 * it); after that the VM never touches the watch again. The watch's memory
 * is the caller's; vm_console_unwatch() before freeing it unless it was told
 * gone. At most VM_CONSOLE_WATCHES_MAX per console. */
#define VM_CONSOLE_WATCHES_MAX 64
struct log_watch {
        void (*on_change)(struct log_watch *w, bool gone);
        /* set by vm_console_watch */
        struct vm *vm;
        enum vm_console console;
        struct log_watch *next;
};
int vm_console_watch(struct vm *vm, enum vm_console c, struct log_watch *w);
void vm_console_unwatch(struct log_watch *w);

/* Images (see images.h), each listed with the VMs that name it. An image
 * that a VM names, whatever the VM's state, can be neither replaced nor
 * removed (409): the VM's next start or reboot reads it. */
struct image_upload;
json_t *vms_images_to_json(struct vms *v);
int vms_image_upload_begin(struct vms *v, const char *name, uint64_t announced, const char *expect_sha256,
                           struct image_upload **ret, struct spec_error *err);
/* Puts a complete upload in place; *ret is the image's JSON, *created
 * whether the name is new. */
int vms_image_upload_finish(struct vms *v, struct image_upload *u, json_t **ret, bool *created,
                            struct spec_error *err);
int vms_image_delete(struct vms *v, const char *name, struct spec_error *err);
