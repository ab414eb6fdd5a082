/* fileio.c: reading a small file whole (see fileio.h). */
#include <errno.h>
#include <unistd.h>

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
