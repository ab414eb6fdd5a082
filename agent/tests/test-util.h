/* test-util.h: owns nothing; temp-dir fixtures shared by the unit tests. */
#pragma once

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller frees the string. */
static inline char *test_mkdtemp(void) {
        const char *tmp = getenv("TMPDIR");
        char *p;

        if (asprintf(&p, "%s/xvmd-test-XXXXXX", tmp && *tmp ? tmp : "/tmp") < 0)
                return NULL;
        if (!mkdtemp(p)) {
                free(p);
                return NULL;
        }
        return p;
}

static inline int test_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw);
static inline void test_rm_rf(const char *path);

/* A cmocka fixture: a fresh temp dir (tmp) and an fd on it (dfd); *state
 * points at it. */
struct test_dir {
        char *tmp;
        int dfd;
};

static inline int test_dir_setup(void **state) {
        struct test_dir *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        *state = d;
        d->dfd = -1;
        d->tmp = test_mkdtemp();
        if (!d->tmp)
                return -1;
        d->dfd = open(d->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        return d->dfd < 0 ? -1 : 0;
}

static inline int test_dir_teardown(void **state) {
        struct test_dir *d = *state;

        if (d->dfd >= 0)
                close(d->dfd);
        test_rm_rf(d->tmp);
        free(d->tmp);
        free(d);
        return 0;
}

static inline int test_rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st, (void) type, (void) ftw;
        return remove(path);
}

static inline void test_rm_rf(const char *path) {
        if (path)
                nftw(path, test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* mkdir -p root/rel; with leaf false, only the directories above rel's last part. */
static inline int test_mkdirs(const char *root, const char *rel, int leaf) {
        char path[PATH_MAX];
        char *s;

        if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        for (s = path + 1; *s; s++)
                if (*s == '/') {
                        *s = '\0';
                        if (mkdir(path, 0755) < 0 && errno != EEXIST)
                                return -errno;
                        *s = '/';
                }
        if (leaf && mkdir(path, 0755) < 0 && errno != EEXIST)
                return -errno;
        return 0;
}

static inline int test_mkdir(const char *root, const char *rel) {
        return test_mkdirs(root, rel, 1);
}

/* Creates root/rel, with the directories above it, holding size bytes. */
static inline int test_write_file(const char *root, const char *rel, const void *data, size_t size, mode_t mode) {
        char path[PATH_MAX];
        int fd, r;

        r = test_mkdirs(root, rel, 0);
        if (r < 0)
                return r;
        if (snprintf(path, sizeof(path), "%s/%s", root, rel) >= (int) sizeof(path))
                return -ENAMETOOLONG;
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                return -errno;
        if (fchmod(fd, mode) < 0 || write(fd, data, size) != (ssize_t) size) {
                close(fd);
                return -EIO;
        }
        close(fd);
        return 0;
}
