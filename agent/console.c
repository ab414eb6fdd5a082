/* console.c: owns one console backend (see console.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>

#include "console-log.h"
#include "console-ring.h"
#include "console.h"
#include "log.h"

/* When the log refuses bytes (disk full), try again after this long; the
 * bytes stay in the ring meanwhile and the guest waits. */
#define CONSOLE_RETRY_USEC (1000 * 1000)

struct console_backend {
        sd_event *event;
        uint32_t domid;
        char name[96];                  /* VM/console, for messages */
        struct console_log *log;        /* borrowed */
        bool log_refusing;              /* the log refused bytes last time: said so once */

        xenforeignmemory_handle *fmem;
        volatile struct console_ring *ring;
        xenevtchn_handle *xce;
        evtchn_port_t local_port;
        bool bound;
        sd_event_source *io;
        sd_event_source *retry;

        uint8_t *input;                 /* queued input, input_len bytes */
        size_t input_len;

        struct console_backend_stats stats;
};

struct console_backend *console_backend_free(struct console_backend *b) {
        if (!b)
                return NULL;
        b->retry = sd_event_source_disable_unref(b->retry);
        b->io = sd_event_source_disable_unref(b->io);
        if (b->bound)
                (void) xenevtchn_unbind(b->xce, b->local_port);
        if (b->xce)
                xenevtchn_close(b->xce);
        if (b->ring)
                (void) xenforeignmemory_unmap(b->fmem, (void *) (uintptr_t) b->ring, 1);
        if (b->fmem)
                xenforeignmemory_close(b->fmem);
        sd_event_unref(b->event);
        free(b->input);
        free(b);
        return NULL;
}

static int notify(struct console_backend *b) {
        return xenevtchn_notify(b->xce, b->local_port) < 0 ? negative_errno() : 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_retry(struct console_backend *b) {
        uint64_t now;

        if (sd_event_now(b->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!b->retry) {
                if (sd_event_add_time(b->event, &b->retry, CLOCK_MONOTONIC, now + CONSOLE_RETRY_USEC, 0,
                                      on_retry, b) < 0)
                        return;
        } else {
                (void) sd_event_source_set_time(b->retry, now + CONSOLE_RETRY_USEC);
        }
        (void) sd_event_source_set_enabled(b->retry, SD_EVENT_ONESHOT);
}

/* Moves everything the guest queued into the log, then as much queued input
 * as the ring takes; one notification covers both. */
static int pump(struct console_backend *b) {
        uint8_t buf[CONSOLE_RING_OUT_SIZE];
        bool progress = false;
        uint64_t before;
        ssize_t n;
        int r;

        for (;;) {
                n = console_ring_peek_out(b->ring, buf, sizeof(buf));
                if (n < 0) {
                        b->stats.ring_errors++;
                        break;
                }
                if (n == 0)
                        break;
                before = console_log_end(b->log);
                r = console_log_append(b->log, buf, (size_t) n);
                if (r < 0) {
                        /* Consume what the log took (it keeps its offsets);
                         * the rest stays in the ring and the guest waits. */
                        uint64_t took = console_log_end(b->log) - before;

                        if (took > 0) {
                                (void) console_ring_consume_out(b->ring, (size_t) took);
                                b->stats.bytes_out += took;
                                progress = true;
                        }
                        b->stats.log_errors++;
                        if (!b->log_refusing)
                                log_warning_errno(r, "The console log of %s takes no more output; the guest waits "
                                                  "until it does (trying every second)", b->name);
                        b->log_refusing = true;
                        schedule_retry(b);
                        break;
                }
                if (b->log_refusing) {
                        log_notice("The console log of %s takes output again.", b->name);
                        b->log_refusing = false;
                }
                (void) console_ring_consume_out(b->ring, (size_t) n);
                b->stats.bytes_out += (uint64_t) n;
                progress = true;
        }

        if (b->input_len > 0) {
                n = console_ring_write_in(b->ring, b->input, b->input_len);
                if (n < 0)
                        b->stats.ring_errors++;
                else if (n > 0) {
                        memmove(b->input, b->input + n, b->input_len - (size_t) n);
                        b->input_len -= (size_t) n;
                        b->stats.bytes_in += (uint64_t) n;
                        progress = true;
                }
        }

        return progress ? notify(b) : 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s; (void) usec;
        (void) pump(userdata);
        return 0;
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct console_backend *b = userdata;
        xenevtchn_port_or_error_t port;

        (void) s; (void) fd; (void) revents;
        port = xenevtchn_pending(b->xce);
        if (port < 0)
                return 0;
        b->stats.events++;
        /* The evtchn device masks a port when it delivers it. */
        (void) xenevtchn_unmask(b->xce, (evtchn_port_t) port);
        (void) pump(b);
        return 0;
}

int console_backend_new(sd_event *event, const char *name, uint32_t domid, uint64_t gfn, uint32_t remote_port,
                        struct console_log *log, struct console_backend **ret) {
        _cleanup_(console_backend_freep) struct console_backend *b = NULL;
        xen_pfn_t pfn = (xen_pfn_t) gfn;
        xenevtchn_port_or_error_t port;
        void *page;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(event);
        b->domid = domid;
        snprintf(b->name, sizeof(b->name), "%s", name);
        b->log = log;

        b->fmem = xenforeignmemory_open(NULL, 0);
        if (!b->fmem)
                return negative_errno();
        page = xenforeignmemory_map(b->fmem, domid, PROT_READ | PROT_WRITE, 1, &pfn, NULL);
        if (!page)
                return negative_errno();
        b->ring = page;

        b->xce = xenevtchn_open(NULL, 0);
        if (!b->xce)
                return negative_errno();
        port = xenevtchn_bind_interdomain(b->xce, domid, remote_port);
        if (port < 0)
                return negative_errno();
        b->local_port = (evtchn_port_t) port;
        b->bound = true;

        r = sd_event_add_io(event, &b->io, xenevtchn_fd(b->xce), EPOLLIN, on_event, b);
        if (r < 0)
                return r;

        r = pump(b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

ssize_t console_backend_write(struct console_backend *b, const void *data, size_t n) {
        size_t take;

        if (!b->input) {
                b->input = malloc(CONSOLE_BACKEND_INPUT_MAX);
                if (!b->input)
                        return -ENOMEM;
        }
        take = CONSOLE_BACKEND_INPUT_MAX - b->input_len;
        if (take > n)
                take = n;
        memcpy(b->input + b->input_len, data, take);
        b->input_len += take;
        (void) pump(b);
        return (ssize_t) take;
}

int console_backend_kick(struct console_backend *b) {
        return pump(b);
}

void console_backend_get_stats(const struct console_backend *b, struct console_backend_stats *ret) {
        *ret = b->stats;
}
