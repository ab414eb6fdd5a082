/* loop.h: owns one binding of a file to a Linux loop device, the block
 * device a PV disk's backend (xen-blkback) opens. The binding is made with
 * the kernel's autoclear flag: it lasts while anyone (the agent's fd, the
 * backend) holds the device open and goes away by itself after the last
 * close, so neither a crash of the agent nor a lost backend leaves a loop
 * device behind. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

struct loop_device {
        int fd;                 /* holds the binding until the backend opens it; -1 when closed */
        uint32_t major, minor;
        char node[32];          /* /dev/loopN */
};

#define LOOP_DEVICE_INIT { .fd = -1 }

/* Binds file_fd (opened read-write, or read-only) to a free loop device,
 * read-only if readonly or if file_fd cannot write. name is recorded as the
 * device's file name (LOOP_GET_STATUS64, truncated to 63 bytes). */
int loop_attach(int file_fd, bool readonly, const char *name, struct loop_device *ret);

/* Drops the agent's hold; the binding ends once the backend lets go too. */
void loop_release(struct loop_device *l);
