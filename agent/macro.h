/* macro.h: owns nothing; the cleanup and ownership helpers every module uses. */
#pragma once

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define _unused_ __attribute__((unused))
#define _printf_(a, b) __attribute__((format(printf, a, b)))

#define ELEMENTSOF(x) (sizeof(x) / sizeof((x)[0]))

/* Hand a pointer or fd over to a new owner, leaving the cleanup nothing to do. */
#define TAKE_PTR(p) ({ __typeof__(p) _p = (p); (p) = NULL; _p; })
#define TAKE_FD(fd) ({ int _fd = (fd); (fd) = -1; _fd; })

/* For types whose destructor takes NULL and returns NULL (foo_free() style). */
#define DEFINE_CLEANUP_FUNC(type, func)                 \
        static inline void func##p(type **p) {          \
                if (*p)                                 \
                        *p = func(*p);                  \
        }

static inline void freep(void *p) {
        free(*(void **) p);
}
#define _cleanup_free_ _cleanup_(freep)

/* Closes an fd and returns -1, so "fd = safe_close(fd);" keeps the field honest. */
static inline int safe_close(int fd) {
        if (fd >= 0) {
                int saved = errno;
                close(fd);
                errno = saved;
        }
        return -1;
}

static inline void closep(int *fd) {
        *fd = safe_close(*fd);
}
#define _cleanup_close_ _cleanup_(closep)

/* errno as a negative return value, never 0 even if a library forgot to set it. */
static inline int negative_errno(void) {
        return errno > 0 ? -errno : -EIO;
}
