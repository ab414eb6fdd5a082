/* images.c: owns the image files in STATE/images/ (see images.h). */
#include <errno.h>
#include <fcntl.h>
#include <nettle/base16.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "images.h"
#include "log.h"

/* How often (in bytes written) the free space is looked at again. */
#define IMAGE_SPACE_CHECK_EVERY (4ULL * 1024 * 1024)

struct image_upload {
        int dir_fd;                     /* borrowed */
        int fd;                         /* O_TMPFILE: nameless until finished */
        char name[IMAGE_NAME_MAX + 1];
        char expect[IMAGE_SHA256_HEX + 1];      /* "" for no expectation */
        struct sha256_ctx sha;
        uint64_t size;
        uint64_t next_space_check;
        struct error failure;           /* code ERROR_NONE while all is well */
};

static bool is_sha256_hex(const char *s) {
        size_t n = 0;

        for (; s[n]; n++)
                if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
                        return false;
        return n == IMAGE_SHA256_HEX;
}

static uint64_t space_left(int fd) {
        struct statvfs st;
        uint64_t avail;

        if (fstatvfs(fd, &st) < 0)
                return UINT64_MAX; /* cannot tell; the writes will */
        avail = (uint64_t) st.f_bavail * st.f_frsize;
        return avail > IMAGE_FREE_RESERVE ? avail - IMAGE_FREE_RESERVE : 0;
}

static int no_room(struct error *err, uint64_t need) {
        return error_set(err, -ENOSPC, ERROR_INSUFFICIENT_STORAGE, NULL,
                    "the image store cannot take %llu more bytes (it keeps %llu MiB free)",
                    (unsigned long long) need, (unsigned long long) (IMAGE_FREE_RESERVE >> 20));
}

int image_upload_begin(int images_fd, const char *name, uint64_t announced, const char *expect_sha256,
                       struct image_upload **ret, struct error *err) {
        struct image_upload *u;

        if (!spec_name_is_valid(name, IMAGE_NAME_MAX))
                return error_set(err, -EINVAL, ERROR_INVALID_NAME, "name",
                            "an image name is 1 to %d characters of A-Z a-z 0-9 . _ -, not starting with . or -",
                            IMAGE_NAME_MAX);
        if (expect_sha256 && !is_sha256_hex(expect_sha256))
                return error_set(err, -EINVAL, ERROR_INVALID_FIELD, "sha256",
                            "sha256 must be 64 lower-case hexadecimal digits");
        if (announced != UINT64_MAX && announced > IMAGE_SIZE_MAX)
                return error_set(err, -EFBIG, ERROR_PAYLOAD_TOO_LARGE, NULL, "an image may be at most %llu bytes",
                            (unsigned long long) IMAGE_SIZE_MAX);
        if (announced != UINT64_MAX && announced > space_left(images_fd))
                return no_room(err, announced);

        u = calloc(1, sizeof(*u));
        if (!u)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "out of memory");
        u->dir_fd = images_fd;
        u->fd = openat(images_fd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
        if (u->fd < 0) {
                int r = negative_errno();

                free(u);
                return error_set(err, r, ERROR_INTERNAL, NULL, "cannot create a file for the upload: %s",
                            strerror(-r));
        }
        snprintf(u->name, sizeof(u->name), "%s", name);
        if (expect_sha256)
                snprintf(u->expect, sizeof(u->expect), "%s", expect_sha256);
        sha256_init(&u->sha);
        u->next_space_check = IMAGE_SPACE_CHECK_EVERY;
        *ret = u;
        return 0;
}

static int upload_fail(struct image_upload *u, struct error *err) {
        if (err)
                *err = u->failure;
        return -EIO;
}

int image_upload_write(struct image_upload *u, const void *data, size_t n, struct error *err) {
        const uint8_t *p = data;
        size_t done = 0;

        if (u->failure.code != ERROR_NONE)
                return upload_fail(u, err);
        if (n > IMAGE_SIZE_MAX - u->size) {
                error_set(&u->failure, -EFBIG, ERROR_PAYLOAD_TOO_LARGE, NULL, "an image may be at most %llu bytes",
                     (unsigned long long) IMAGE_SIZE_MAX);
                return upload_fail(u, err);
        }
        if (u->size + n >= u->next_space_check) {
                if (space_left(u->fd) < n) {
                        no_room(&u->failure, n);
                        return upload_fail(u, err);
                }
                u->next_space_check = u->size + n + IMAGE_SPACE_CHECK_EVERY;
        }
        while (done < n) {
                ssize_t w = write(u->fd, p + done, n - done);

                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == ENOSPC || errno == EDQUOT)
                                no_room(&u->failure, n - done);
                        else
                                error_set(&u->failure, -errno, ERROR_INTERNAL, NULL, "writing the image failed: %s",
                                     strerror(errno));
                        return upload_fail(u, err);
                }
                done += (size_t) w;
        }
        sha256_update(&u->sha, n, p);
        u->size += n;
        return 0;
}

static void sidecar_name(const char *name, char *buf, size_t size) {
        snprintf(buf, size, ".%s.sha256", name);
}

/* The digest beside the image, written through a temporary name. */
static int write_sidecar(int dir_fd, const char *name, const char *hex) {
        char path[IMAGE_NAME_MAX + 16], tmp[IMAGE_NAME_MAX + 24];
        _cleanup_close_ int fd = -1;
        char line[IMAGE_SHA256_HEX + 2];
        int n;

        sidecar_name(name, path, sizeof(path));
        snprintf(tmp, sizeof(tmp), "%s.tmp", path);
        fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
        if (fd < 0)
                return negative_errno();
        n = snprintf(line, sizeof(line), "%s\n", hex);
        if (write(fd, line, (size_t) n) != n || fsync(fd) < 0)
                return errno ? -errno : -EIO;
        if (renameat(dir_fd, tmp, dir_fd, path) < 0)
                return negative_errno();
        return 0;
}

int image_upload_finish(struct image_upload *u, bool *replaced, uint64_t *size, char *sha256,
                        struct error *err) {
        uint8_t digest[SHA256_DIGEST_SIZE];
        char proc[64], tmp[IMAGE_NAME_MAX + 32], side[IMAGE_NAME_MAX + 16];
        static unsigned counter;
        int r;

        if (u->failure.code != ERROR_NONE)
                return upload_fail(u, err);
        sha256_digest(&u->sha, sizeof(digest), digest);
        base16_encode_update(sha256, sizeof(digest), digest);
        sha256[BASE16_ENCODE_LENGTH(sizeof(digest))] = '\0';
        if (u->expect[0] && strcmp(u->expect, sha256) != 0)
                return error_set(err, -EBADMSG, ERROR_DIGEST_MISMATCH, "sha256",
                            "the body's SHA-256 is %s, not the %s asked for; nothing was stored", sha256, u->expect);
        if (fsync(u->fd) < 0) {
                r = negative_errno();
                return error_set(err, r, r == -ENOSPC ? ERROR_INSUFFICIENT_STORAGE : ERROR_INTERNAL, NULL,
                                 "syncing the image failed: %s", strerror(-r));
        }

        /* Give the file a hidden name, then move it over the image's. */
        snprintf(proc, sizeof(proc), "/proc/self/fd/%d", u->fd);
        snprintf(tmp, sizeof(tmp), ".upload-%s.%u.%ld", u->name, counter++, (long) getpid());
        if (linkat(AT_FDCWD, proc, u->dir_fd, tmp, AT_SYMLINK_FOLLOW) < 0) {
                r = negative_errno();
                return error_set(err, r, ERROR_INTERNAL, NULL, "cannot link the image: %s", strerror(-r));
        }
        *replaced = image_exists(u->dir_fd, u->name);
        /* A stale digest must never describe the new file. */
        sidecar_name(u->name, side, sizeof(side));
        (void) unlinkat(u->dir_fd, side, 0);
        if (renameat(u->dir_fd, tmp, u->dir_fd, u->name) < 0) {
                r = negative_errno();
                (void) unlinkat(u->dir_fd, tmp, 0);
                return error_set(err, r, ERROR_INTERNAL, NULL, "cannot put the image in place: %s", strerror(-r));
        }
        r = write_sidecar(u->dir_fd, u->name, sha256);
        if (r < 0) /* the image is in place; it shows no digest */
                log_warning_errno(r, "Image %s: recording its SHA-256 failed, ignoring", u->name);
        (void) fsync(u->dir_fd);
        *size = u->size;
        return 0;
}

const char *image_upload_name(const struct image_upload *u) {
        return u->name;
}

struct image_upload *image_upload_free(struct image_upload *u) {
        if (!u)
                return NULL;
        safe_close(u->fd);
        free(u);
        return NULL;
}

bool image_exists(int images_fd, const char *name) {
        struct stat st;

        return spec_name_is_valid(name, IMAGE_NAME_MAX) && fstatat(images_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               S_ISREG(st.st_mode);
}

int image_remove(int images_fd, const char *name) {
        char side[IMAGE_NAME_MAX + 16];

        if (!image_exists(images_fd, name))
                return -ENOENT;
        sidecar_name(name, side, sizeof(side));
        (void) unlinkat(images_fd, side, 0);
        if (unlinkat(images_fd, name, 0) < 0)
                return negative_errno();
        (void) fsync(images_fd);
        return 0;
}

static bool read_sidecar(int images_fd, const char *name, char *hex) {
        char side[IMAGE_NAME_MAX + 16], buf[IMAGE_SHA256_HEX + 2];
        _cleanup_close_ int fd = -1;
        ssize_t n;

        sidecar_name(name, side, sizeof(side));
        fd = openat(images_fd, side, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return false;
        n = read(fd, buf, sizeof(buf));
        if (n < IMAGE_SHA256_HEX)
                return false;
        buf[IMAGE_SHA256_HEX] = '\0';
        if (!is_sha256_hex(buf))
                return false;
        memcpy(hex, buf, IMAGE_SHA256_HEX + 1);
        return true;
}

json_t *image_to_json(int images_fd, const char *name) {
        char hex[IMAGE_SHA256_HEX + 1];
        struct stat st;

        if (!spec_name_is_valid(name, IMAGE_NAME_MAX) || fstatat(images_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !S_ISREG(st.st_mode))
                return NULL;
        return json_pack("{s:s,s:I,s:o}", "name", name, "size", (json_int_t) st.st_size, "sha256",
                         read_sidecar(images_fd, name, hex) ? json_string(hex) : json_null());
}
