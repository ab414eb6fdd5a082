/* loop.c: owns loop device bindings (see loop.h). A free device comes from
 * /dev/loop-control (LOOP_CTL_GET_FREE); LOOP_CONFIGURE binds the file and
 * sets the flags in one step, so no other process ever sees the device bound
 * without autoclear. Two binders can be handed the same free device: the
 * loser gets EBUSY and asks again. Kernels before 5.8 have no LOOP_CONFIGURE
 * and get LOOP_SET_FD then LOOP_SET_STATUS64. */
#include <errno.h>
#include <fcntl.h>
#include <linux/loop.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "loop.h"

#define LOOP_ATTACH_TRIES 16

static int configure(int loop_fd, int file_fd, bool readonly, const char *name) {
        struct loop_config cfg = {
                .fd = (uint32_t) file_fd,
                .info = { .lo_flags = LO_FLAGS_AUTOCLEAR | (readonly ? LO_FLAGS_READ_ONLY : 0) },
        };

        snprintf((char *) cfg.info.lo_file_name, sizeof(cfg.info.lo_file_name), "%s", name);
        if (ioctl(loop_fd, LOOP_CONFIGURE, &cfg) == 0)
                return 0;
        if (errno != EINVAL && errno != ENOTTY)
                return negative_errno();

        /* Before 5.8: bind, then set the flags (autoclear and read-only
         * are both settable here; read-only follows file_fd's mode). */
        if (ioctl(loop_fd, LOOP_SET_FD, file_fd) < 0)
                return negative_errno();
        if (ioctl(loop_fd, LOOP_SET_STATUS64, &cfg.info) < 0) {
                int r = negative_errno();

                (void) ioctl(loop_fd, LOOP_CLR_FD, 0);
                return r;
        }
        return 0;
}

int loop_attach(int file_fd, bool readonly, const char *name, struct loop_device *ret) {
        _cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
        int r = -EBUSY;

        if (ctl < 0)
                return negative_errno();
        if (!readonly) {
                int mode = fcntl(file_fd, F_GETFL);

                if (mode < 0)
                        return negative_errno();
                readonly = (mode & O_ACCMODE) == O_RDONLY;
        }
        for (int attempt = 0; attempt < LOOP_ATTACH_TRIES; attempt++) {
                _cleanup_close_ int fd = -1;
                struct stat st;
                char node[32];
                int n = ioctl(ctl, LOOP_CTL_GET_FREE);

                if (n < 0)
                        return negative_errno();
                snprintf(node, sizeof(node), "/dev/loop%d", n);
                fd = open(node, (readonly ? O_RDONLY : O_RDWR) | O_CLOEXEC);
                if (fd < 0)
                        return negative_errno();
                r = configure(fd, file_fd, readonly, name);
                if (r == -EBUSY)
                        continue;       /* someone else bound it first */
                if (r < 0)
                        return r;
                if (fstat(fd, &st) < 0 || !S_ISBLK(st.st_mode))
                        return -ENODEV;
                *ret = (struct loop_device) {
                        .fd = TAKE_FD(fd),
                        .major = major(st.st_rdev),
                        .minor = minor(st.st_rdev),
                };
                snprintf(ret->node, sizeof(ret->node), "%s", node);
                return 0;
        }
        return r;
}

void loop_release(struct loop_device *l) {
        l->fd = safe_close(l->fd);
}
