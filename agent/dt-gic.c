/* dt-gic.c: finds the GIC version in a device tree directory (see dt-gic.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "dt-gic.h"
#include "fileio.h"
#include "macro.h"

#define DT_MAX_DEPTH 32
#define DT_COMPATIBLE_MAX 4096

static const struct {
        const char *compatible;
        int version;
} gic_compatibles[] = {
        { "arm,gic-v3", 3 },
        { "arm,gic-400", 2 },
        { "arm,cortex-a15-gic", 2 },
        { "arm,cortex-a9-gic", 2 },
        { "arm,arm11mp-gic", 2 },
};

int dt_gic_version_from_compatible(const char *list, size_t size) {
        size_t off = 0;

        while (off < size) {
                const char *s = list + off;
                size_t n = strnlen(s, size - off);

                for (size_t i = 0; i < ELEMENTSOF(gic_compatibles); i++)
                        if (strlen(gic_compatibles[i].compatible) == n &&
                            memcmp(gic_compatibles[i].compatible, s, n) == 0)
                                return gic_compatibles[i].version;
                off += n + 1;
        }
        return 0;
}

static int node_gic_version(int dfd) {
        _cleanup_close_ int fd = -1;
        char buf[DT_COMPATIBLE_MAX];
        ssize_t size;
        struct stat st;

        if (fstatat(dfd, "interrupt-controller", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
                return 0;

        fd = openat(dfd, "compatible", O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0)
                return 0;
        size = read_full(fd, buf, sizeof(buf));
        return size > 0 ? dt_gic_version_from_compatible(buf, (size_t) size) : 0;
}

/* Takes ownership of dfd. */
static int walk(int dfd, unsigned depth) {
        DIR *d;
        struct dirent *de;
        int v;

        v = node_gic_version(dfd);
        if (v > 0 || depth >= DT_MAX_DEPTH) {
                safe_close(dfd);
                return v;
        }

        d = fdopendir(dfd);
        if (!d) {
                safe_close(dfd);
                return 0;
        }
        while (v == 0 && (de = readdir(d))) {
                int child;

                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
                        continue;
                /* A node we cannot read is skipped: the GIC may still be elsewhere. */
                child = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
                if (child >= 0)
                        v = walk(child, depth + 1);
        }
        closedir(d);
        return v;
}

int dt_gic_version(const char *dt_root) {
        int fd, v;

        fd = open(dt_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        v = walk(fd, 0);
        return v > 0 ? v : -ENOENT;
}
