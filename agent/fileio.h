/* fileio.h: reading a small file whole, EINTR and short reads handled; for
 * the agent's token, sysfs and device-tree files, and the web console's
 * files. */
#pragma once

#include <stddef.h>
#include <sys/types.h>

/* Reads from fd until size bytes or end of file. Returns how many bytes it
 * read (size means the file may hold more), or -errno. */
ssize_t read_full(int fd, void *buf, size_t size);
