/* fileio.c: reading a small file whole, and JSON state files (see fileio.h). */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "macro.h"

#include "fileio.h"

ssize_t read_full(int fd, void *buf, size_t size) {
        size_t have = 0;

        while (have < size) {
                ssize_t n = read(fd, (char *) buf + have, size - have);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                have += (size_t) n;
        }
        return (ssize_t) have;
}

int open_dir_at(int parent, const char *name, int *ret) {
        int fd;

        if (mkdirat(parent, name, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return negative_errno();
        *ret = fd;
        return 0;
}

int json_write_atomic(int dir_fd, const char *name, json_t *j) {
        char tmp[NAME_MAX + 1];
        _cleanup_free_ char *text = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
        _cleanup_close_ int fd = -1;
        size_t len, done = 0;

        if (!text)
                return -ENOMEM;
        len = strlen(text);
        if ((size_t) snprintf(tmp, sizeof(tmp), ".%s.tmp", name) >= sizeof(tmp))
                return -ENAMETOOLONG;
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

json_t *json_read_at(int dir_fd, const char *name) {
        _cleanup_close_ int fd = openat(dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

        if (fd < 0)
                return NULL;
        return json_loadfd(fd, JSON_REJECT_DUPLICATES, NULL);
}
