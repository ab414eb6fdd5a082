/* events.h: owns the host's event log: what happened to the VMs, their
 * consoles and the images, for clients that follow it (GET /v1/events)
 * instead of polling. Each event is one JSON object:
 *
 *   {"seq":42,"time":"2026-12-01T09:50:17.123Z","type":"vm_started","vm":"g1",...}
 *
 * seq is the host's sequence number: one more for each event, never reused,
 * kept across agent restarts (and, by a reservation on disk, across a power
 * loss: see events.c); time is when the agent recorded it (timestamp.h);
 * vm names the VM where there is one; the rest is the type's own. A reader
 * follows the log with a cursor (events_cursor_step()), which says when
 * events it wanted are not held: before it started (a reset: the client
 * relists) or while it read (it lagged: its stream ends).
 *
 * The log holds the last EVENTS_KEEP events, in memory (for the streams)
 * and in STATE/events/ (for the next start): files of JSON lines, one per
 * event, EVENTS_FILE_EVENTS to a file, named by the seq of their first
 * event ("%020llu.jsonl"); past EVENTS_FILES files the oldest goes. A line
 * that does not parse (the tail a kill -9 or a full disk tore) is ignored.
 * An event that cannot be stored (a full disk) is still told to the
 * watchers, counted (events_unstored()) and stored with the next one that
 * can be; the agent carries on.
 *
 * Watchers (the front end's event streams) hear of new events on a later
 * turn of the event loop, never from inside the call that appended them,
 * and read them themselves (events_read()) from their own cursor.
 *
 * Not thread-safe: one owner, the event loop. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

#include "macro.h"

struct events;

#define EVENTS_KEEP 4096                        /* events held (memory, and at least this many on disk) */
#define EVENTS_FILE_EVENTS (EVENTS_KEEP / 2)    /* events per file */
#define EVENTS_FILES 3                          /* files kept: two full ones and the one being written */
#define EVENTS_LINE_MAX 2048                    /* one event's JSON text, with its NUL; longer ones are refused */
#define EVENTS_WATCHERS_MAX 32                  /* watchers at a time (event streams) */

/* A watcher: its memory is the caller's. on_change runs on a later turn of
 * the loop after one or more appends, with gone once the log is freed
 * (after which the log never touches the watch again). It may unwatch
 * itself (not another watcher) and read the log; it must not free it. */
struct events_watch {
        void (*on_change)(struct events_watch *w, bool gone);
        /* set by events_watch() */
        struct events *events;
        struct events_watch *next;
};

/* Opens (making it if missing) the directory "events" under state_fd
 * (borrowed), reads back what it holds and continues after the newest
 * event. event may be NULL (no watchers are then told: tests). -errno when
 * the directory cannot be opened; damaged files are not an error. */
int events_open(sd_event *event, int state_fd, struct events **ret);
/* Watchers are told gone. Takes NULL. */
struct events *events_free(struct events *e);
DEFINE_CLEANUP_FUNC(struct events, events_free);

/* Records an event of this type (a name of the API's: "vm_started"), about
 * VM vm (NULL for none), with fields (an object of the type's own fields,
 * consumed; NULL for none): its seq and time are added. Returns its seq, or
 * 0 when it could not be made at all (out of memory, or longer than
 * EVENTS_LINE_MAX: logged). Storing it on disk is best effort. */
uint64_t events_append(struct events *e, const char *type, const char *vm, json_t *fields);

/* The seq of the oldest event held (events_next() when none is), and the
 * seq the next event will get. */
uint64_t events_first(const struct events *e);
uint64_t events_next(const struct events *e);

/* The first event held whose seq is at least *seq: its JSON text (one line,
 * without a newline) copied to buf (size at least EVENTS_LINE_MAX), its seq
 * to *seq. Returns the text's length, or 0 when no such event is held yet. */
size_t events_read(const struct events *e, uint64_t *seq, char *buf, size_t size);

/* Where one reader stands: the seq of the next event it wants. */
struct events_cursor {
        uint64_t next;
        bool started;   /* it took a first step: a loss from here on is its lag */
};

/* A cursor after event since (the reader has every event up to it; 0 for
 * all), or at the next event to come (from_now). -ERANGE for a since that
 * no event has had yet (at or past events_next()). */
int events_cursor_init(const struct events *e, struct events_cursor *c, bool from_now, uint64_t since);

enum events_step {
        EVENTS_STEP_NONE,       /* it has every event so far */
        EVENTS_STEP_EVENT,      /* the next event is in buf */
        EVENTS_STEP_RESET,      /* events after *ret_since up to *ret_next - 1 are not held (they left the ring
                                 * before the reader got to them, or a power loss or a full disk lost them): it
                                 * goes on at *ret_next */
        EVENTS_STEP_LAGGED,     /* events it had yet to read left the ring: it cannot go on (*ret_since: the
                                 * last one it got) */
};
/* The reader's next step; buf as for events_read(), *ret_len the text's
 * length for EVENTS_STEP_EVENT. */
enum events_step events_cursor_step(const struct events *e, struct events_cursor *c, char *buf, size_t size,
                                    size_t *ret_len, uint64_t *ret_since, uint64_t *ret_next);

/* -EMFILE past EVENTS_WATCHERS_MAX. */
int events_watch(struct events *e, struct events_watch *w);
/* Takes a watch that was never added, or was told gone. */
void events_unwatch(struct events_watch *w);
unsigned events_watchers(const struct events *e);

/* Events recorded since the log was opened, and those of them that could
 * not be stored on disk (a full or failing disk). */
uint64_t events_appended(const struct events *e);
uint64_t events_unstored(const struct events *e);
