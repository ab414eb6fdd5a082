/* instance.c: owns the agent's instance id and the host's boot id (see
 * instance.h). Made at the first call and kept for the life of the process:
 * the agent is single-threaded, so the first call comes from the event
 * loop's thread (or from manager_new(), before it). */
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>
#include <systemd/sd-id128.h>

#include "instance.h"

static char id[INSTANCE_ID_MAX];
static char boot[INSTANCE_ID_MAX];
static int made;

static void make(void) {
        sd_id128_t x;

        if (made)
                return;
        made = 1;
        if (sd_id128_randomize(&x) >= 0)
                sd_id128_to_string(x, id);
        else {
                struct timespec ts;

                clock_gettime(CLOCK_REALTIME, &ts);
                snprintf(id, sizeof(id), "%016llx%08llx%08llx", (unsigned long long) ts.tv_sec,
                         (unsigned long long) ts.tv_nsec, (unsigned long long) getpid() & 0xffffffffULL);
        }
        if (sd_id128_get_boot(&x) >= 0)
                sd_id128_to_string(x, boot);
}

const char *instance_id(void) {
        make();
        return id;
}

const char *instance_boot_id(void) {
        make();
        return boot;
}
