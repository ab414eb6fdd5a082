/* fileio.h: reading a small file whole, EINTR and short reads handled (for
 * the agent's token, sysfs and device-tree files, and the web console's
 * files), and the JSON state files of the VMs, replaced atomically. */
#pragma once

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

/* Reads from fd until size bytes or end of file. Returns how many bytes it
 * read (size means the file may hold more), or -errno. */
ssize_t read_full(int fd, void *buf, size_t size);

/* Opens directory name under parent (symlinks not followed), making it
 * (mode 0700) if it is missing. */
int open_dir_at(int parent, const char *name, int *ret);

/* A JSON document written to dir_fd/name through a temporary file, fsync and
 * rename, so that a crash leaves the old or the new file, never a torn one.
 * Returns 0 or -errno. */
int json_write_atomic(int dir_fd, const char *name, json_t *j);
/* The JSON document in dir_fd/name (symlinks not followed), or NULL. */
json_t *json_read_at(int dir_fd, const char *name);
