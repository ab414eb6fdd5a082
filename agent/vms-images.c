/* vms-images.c: owns which VM may use which image (see vms.h and vm.h): an
 * image a VM names can be neither replaced nor removed; a writable disk is
 * its image's only user among running VMs, read-only disks of one image may
 * be shared. The files themselves are images.c's. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "images.h"
#include "vm.h"

int vms_image_path(struct vms *v, const char *name, char *buf, size_t size) {
        struct stat st;

        if (fstatat(v->images_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return -ENOENT;
        snprintf(buf, size, "/proc/self/fd/%d/%s", v->images_fd, name);
        return 0;
}

int vms_firmware_path(const struct vms *v, enum vm_firmware f, char *buf, size_t size) {
        const char *name = vm_firmware_name(f);
        struct stat st;

        if (!name || (size_t) snprintf(buf, size, "%s/%s", v->firmware_dir, name) >= size)
                return -ENOENT;
        if (stat(buf, &st) < 0 || !S_ISREG(st.st_mode))
                return -ENOENT;
        return 0;
}

bool vms_have_firmware(const struct vms *v, enum vm_firmware f) {
        char path[PATH_MAX];

        return vms_firmware_path(v, f, path, sizeof(path)) == 0;
}

int vms_check_boot(struct vms *v, const struct vm_spec *s, char *kernel, char *ramdisk, struct error *err) {
        char k[PATH_MAX], r[PATH_MAX];

        if (!kernel)
                kernel = k;
        if (!ramdisk)
                ramdisk = r;
        ramdisk[0] = '\0';
        if (s->firmware != VM_FIRMWARE_NONE) {
                if (vms_firmware_path(v, s->firmware, kernel, PATH_MAX) < 0)
                        return error_set(err, -ENOENT, ERROR_UNKNOWN_FIRMWARE, "firmware",
                                         "this host has no firmware %s installed (GET /v1/host lists what it has)",
                                         vm_firmware_name(s->firmware));
                return 0;
        }
        if (vms_image_path(v, s->kernel, kernel, PATH_MAX) < 0)
                return error_set(err, -ENOENT, ERROR_UNKNOWN_IMAGE, "kernel", "no image %s", s->kernel);
        if (s->ramdisk[0] && vms_image_path(v, s->ramdisk, ramdisk, PATH_MAX) < 0)
                return error_set(err, -ENOENT, ERROR_UNKNOWN_IMAGE, "ramdisk", "no image %s", s->ramdisk);
        return 0;
}

/* The running VM other than self whose disks clash with disk d: one that
 * uses d's image with either of the two disks writable. */
static const struct vm *image_clash(const struct vms *v, const struct vm *self, const struct vm_disk *d) {
        for (size_t i = 0; i < v->n; i++) {
                const struct vm *o = v->vm[i];

                if (o == self || !vm_state_has_domain(o->state))
                        continue;
                for (unsigned k = 0; k < o->spec.n_disks; k++)
                        if (strcmp(o->spec.disks[k].image, d->image) == 0 && !(d->readonly && o->spec.disks[k].readonly))
                                return o;
        }
        return NULL;
}

int vms_check_disks(struct vms *v, const struct vm *self, const struct vm_spec *s, bool starting,
                    struct error *err) {
        char path[PATH_MAX];

        for (unsigned i = 0; i < s->n_disks; i++) {
                const struct vm_disk *d = &s->disks[i];
                const struct vm *o;

                if (vms_image_path(v, d->image, path, sizeof(path)) < 0)
                        return error_set(err, -ENOENT, ERROR_UNKNOWN_IMAGE, error_field_index(err, "disks", i, "image"),
                                         "no image %s", d->image);
                if (starting && (o = image_clash(v, self, d)))
                        return error_set(err, -EBUSY, ERROR_IMAGE_IN_USE, error_field_index(err, "disks", i, "image"),
                                         "image %s is a disk of running VM %s; only read-only disks share an image",
                                         d->image, o->spec.name);
        }
        return 0;
}

/* The VMs naming an image, as a JSON array of names. */
static json_t *image_users(const struct vms *v, const char *name) {
        json_t *a = json_array();

        for (size_t i = 0; i < v->n; i++)
                if (vm_spec_uses_image(&v->vm[i]->spec, name))
                        json_array_append_new(a, json_string(v->vm[i]->spec.name));
        return a;
}

static int refuse_if_used(const struct vms *v, const char *name, const char *what, struct error *err) {
        for (size_t i = 0; i < v->n; i++)
                if (vm_spec_uses_image(&v->vm[i]->spec, name))
                        return error_set(err, -EBUSY, ERROR_IMAGE_IN_USE, "name",
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
                           struct image_upload **ret, struct error *err) {
        int r = image_upload_begin(v->images_fd, name, announced, expect_sha256, ret, err);

        if (r < 0)
                return r;
        r = refuse_if_used(v, name, "replaced", err);
        if (r < 0)
                *ret = image_upload_free(*ret);
        return r;
}

int vms_image_upload_write(struct image_upload *u, const void *data, size_t n) {
        return image_upload_write(u, data, n, NULL);
}

struct image_upload *vms_image_upload_free(struct image_upload *u) {
        return image_upload_free(u);
}

int vms_image_upload_finish(struct vms *v, struct image_upload *u, json_t **ret, bool *created,
                            struct error *err) {
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
        (void) events_append(v->events, "image_added", NULL,
                             json_pack("{s:s,s:I,s:s,s:b}", "image", name, "size", (json_int_t) size, "sha256", sha256,
                                       "replaced", replaced));
        *ret = json_pack("{s:s,s:I,s:s,s:[]}", "name", name, "size", (json_int_t) size, "sha256", sha256, "used_by");
        return *ret ? 0 : error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "out of memory");
}

int vms_image_delete(struct vms *v, const char *name, struct error *err) {
        int r;

        if (!image_exists(v->images_fd, name))
                return error_set(err, -ENOENT, ERROR_IMAGE_NOT_FOUND, "name", "there is no image named %.64s", name);
        r = refuse_if_used(v, name, "deleted", err);
        if (r < 0)
                return r;
        r = image_remove(v->images_fd, name);
        if (r < 0)
                return error_set(err, r, ERROR_INTERNAL, NULL, "removing image %s failed: %s", name, strerror(-r));
        (void) events_append(v->events, "image_removed", NULL, json_pack("{s:s}", "image", name));
        return 0;
}
