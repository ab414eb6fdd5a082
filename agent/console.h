/* console.h: owns the backend of one console of one running domain (its PV
 * console or its vpl011): the foreign mapping of the shared ring page, an
 * event channel handle bound to the guest's port (an sd-event source), and
 * the input waiting for room in the ring. Every byte the guest writes is
 * appended to the console's log (borrowed: the log outlives the domain and
 * its boots) before it is consumed from the ring, so a byte leaves the ring
 * only once it is stored.
 *
 * After each turn the log's cursor records how far the ring was consumed
 * for how much log (console-log.h), so that a restarted agent neither loses
 * nor repeats a byte. One turn moves a bounded amount, then other sources
 * of the event loop get theirs. A ring whose indexes break the protocol is
 * marked corrupt and left alone. A guest that notifies for every few bytes
 * gets a few such turns per 10 ms; its event channel stays masked for the
 * rest of the period, so what it writes meanwhile moves in one turn.
 *
 * Event driven: no polling. An event from the other side means "output
 * queued" or "input consumed"; after draining or filling the ring the backend
 * notifies back (for the vpl011, Xen recomputes the UART's FIFO flags only
 * on that notification). */
#pragma once

#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

struct console_backend;
struct console_log;

/* Input bytes that may wait for room in the guest's ring; past this,
 * console_backend_write() takes only what fits. */
#define CONSOLE_BACKEND_INPUT_MAX (64 * 1024)

/* Maps the ring page gfn of domid, binds remote_port, and drains what is
 * already queued. name (e.g. "web1/pv") is for the agent's own log.
 * ring_id names this ring (one boot's) in the log's cursor; take_over says
 * that an earlier agent served the ring (a restart), so what the log holds
 * already is consumed, not logged twice (exactly once across kill -9). */
int console_backend_new(sd_event *event, const char *name, uint32_t domid, uint64_t gfn, uint32_t remote_port,
                        struct console_log *log, uint64_t ring_id, bool take_over,
                        struct console_backend **ret);

/* Unbinds and unmaps (the domain cannot die while a mapping stays). */
struct console_backend *console_backend_free(struct console_backend *b);
DEFINE_CLEANUP_FUNC(struct console_backend, console_backend_free);

/* Queues input for the guest. Returns the count taken (all of n unless the
 * queue is near CONSOLE_BACKEND_INPUT_MAX), or -errno. */
ssize_t console_backend_write(struct console_backend *b, const void *data, size_t n);

/* Drains the ring again (after the log failed to take bytes; before
 * teardown, for what the guest wrote last). */
int console_backend_kick(struct console_backend *b);

/* Why the ring is no longer served (the guest broke its indexes), or NULL. */
const char *console_backend_corrupt(const struct console_backend *b);

struct console_backend_stats {
        uint64_t bytes_out;     /* guest -> log */
        uint64_t bytes_in;      /* queue -> guest */
        uint64_t events;
        uint64_t deferred;      /* events left masked to the end of a period (console.c: cost) */
        uint64_t ring_errors;   /* corrupt indexes seen */
        uint64_t log_errors;    /* appends that failed (bytes kept in the ring) */
};
void console_backend_get_stats(const struct console_backend *b, struct console_backend_stats *ret);
