/* api-wait.c: GET /v1/vms/NAME/consoles/C/wait?pattern=P: a long poll that
 * answers once P appears in the console's log at or after ?from= (200, the
 * match's offsets and its line), or after ?timeout= seconds (408
 * wait_timeout), so that scripts wait for a prompt instead of sleeping in a
 * loop. The pattern is literal, or with ?regex=1 a POSIX extended regular
 * expression; either is matched within one line, so a match may straddle
 * two reads of the ring, two segments or two boots, never a newline.
 *
 * A waiter is a deferred answer (api.h) and a watcher of the console's hub:
 * it scans what the log holds from `from`, a bounded piece per turn of the
 * loop, then what the guest appends. Every waiter ends by itself (its
 * timeout); the VM's deletion ends it with 404. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "api-internal.h"
#include "line-match.h"

#define WAIT_TIMEOUT_DEFAULT_SEC 30
#define WAIT_TIMEOUT_MAX_SEC 3600
/* Scanned per turn of the event loop, so that a wait from far back in a
 * large log does not hold up everything else. */
#define WAIT_SCAN_CHUNK (64 * 1024)
/* Waiters of all consoles together (each also takes one of its console's
 * hub watchers). */
#define WAITERS_MAX 64 /* well below the HTTP connection limit */

/* Scanning runs below the API and the consoles' own turns, in pieces. */
#define API_WAIT_PRIORITY (SD_EVENT_PRIORITY_NORMAL + 10)

static unsigned n_waiters;

struct waiter {
        struct api_deferred base;
        struct console_watch watch;
        sd_event_source *scan;          /* scans more while enabled */
        sd_event_source *timer;
        struct line_match m;            /* the pattern, and the line being scanned */
        /* The answer, once there is one. */
        bool done;
        bool found;
        uint64_t match_offset, match_end;
        enum error_code code;
        char message[160];
};

static struct waiter *of_watch(struct console_watch *w) {
        return (struct waiter *) ((char *) w - offsetof(struct waiter, watch));
}

/* Ends the wait (once): the answer is ready, the server takes it. */
static void finish(struct waiter *w) {
        if (w->done)
                return;
        w->done = true;
        (void) sd_event_source_set_enabled(w->scan, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(w->timer, SD_EVENT_OFF);
        console_hub_unwatch(&w->watch);
        if (w->base.ready)
                w->base.ready(w->base.ready_arg);
}

static void fail(struct waiter *w, enum error_code code, const char *message) {
        w->code = code;
        snprintf(w->message, sizeof(w->message), "%s", message);
        finish(w);
}

static bool on_found(void *arg, uint64_t offset, uint64_t end) {
        struct waiter *w = arg;

        w->found = true;
        w->match_offset = offset;
        w->match_end = end;
        return false; /* one is all a wait wants */
}

/* Scans up to WAIT_SCAN_CHUNK of what the log holds past the cursor; more
 * waits for the next turn (scan stays on) or for the guest (it goes off). */
static void scan_some(struct waiter *w) {
        struct console_log *log = w->watch.hub ? console_hub_log(w->watch.hub) : NULL;
        int r;

        if (!log) {
                fail(w, ERROR_VM_NOT_FOUND, "the VM was deleted while waiting");
                return;
        }
        r = console_log_scan(log, &w->m, WAIT_SCAN_CHUNK, on_found, w);
        if (w->found) {
                finish(w);
                return;
        }
        if (r < 0) {
                fail(w, ERROR_INTERNAL, "the console's log cannot be read");
                return;
        }
        (void) sd_event_source_set_enabled(w->scan, r > 0 ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int on_scan(sd_event_source *s _unused_, void *userdata) {
        scan_some(userdata);
        return 0;
}

static int on_timeout(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        fail(userdata, ERROR_WAIT_TIMEOUT, "the pattern did not appear in time");
        return 0;
}

static void on_change(struct console_watch *watch, bool gone) {
        struct waiter *w = of_watch(watch);

        if (gone) {
                fail(w, ERROR_VM_NOT_FOUND, "the VM was deleted while waiting");
                return;
        }
        (void) sd_event_source_set_enabled(w->scan, SD_EVENT_ON);
}

static void waiter_answer(struct api_deferred *d, struct api_response *ret) {
        struct waiter *w = (struct waiter *) d;

        *ret = (struct api_response) { 0 };
        if (!w->found) {
                api_response_error(ret, w->code, NULL, "%s", w->message);
                return;
        }
        api_response_json(ret, 200, json_pack("{s:I,s:I,s:o}", "offset", (json_int_t) w->match_offset, "end",
                                              (json_int_t) w->match_end, "line", line_match_line_json(&w->m, LINE_MATCH_LINE_MAX)));
}

static void waiter_free(struct api_deferred *d) {
        struct waiter *w = (struct waiter *) d;

        console_hub_unwatch(&w->watch);
        sd_event_source_disable_unref(w->scan);
        sd_event_source_disable_unref(w->timer);
        line_match_done(&w->m);
        n_waiters--;
        free(w);
}

void api_console_wait(struct api_call *call) {
        const char *pattern = api_query(call, "pattern"), *regex = api_query(call, "regex");
        const char *from = api_query(call, "from"), *timeout = api_query(call, "timeout");
        struct console_log *log = vm_console_log(call->vm, call->console);
        uint64_t start = console_log_start(log), end = console_log_end(log), off = start;
        uint64_t sec = WAIT_TIMEOUT_DEFAULT_SEC, now;
        sd_event *event = vms_event(call->api->vms);
        struct waiter *w;
        char why[128];
        int r;

        if (!pattern || !*pattern || strlen(pattern) > LINE_MATCH_PATTERN_MAX || strchr(pattern, '\n')) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, "pattern",
                                   "pattern must be 1 to %d bytes of one line", LINE_MATCH_PATTERN_MAX);
                return;
        }
        if (regex && strcmp(regex, "0") != 0 && strcmp(regex, "1") != 0) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, "regex", "regex must be 0 or 1");
                return;
        }
        if (from && (api_parse_u64(from, &off) < 0 || off > end)) {
                api_response_error(call->resp, ERROR_OFFSET_OUT_OF_RANGE, "from",
                                   "from must be an offset of at most %llu, the log's end", (unsigned long long) end);
                return;
        }
        if (timeout && (api_parse_u64(timeout, &sec) < 0 || sec == 0 || sec > WAIT_TIMEOUT_MAX_SEC)) {
                api_response_error(call->resp, ERROR_OUT_OF_RANGE, "timeout", "timeout must be 1 to %d seconds",
                                   WAIT_TIMEOUT_MAX_SEC);
                return;
        }
        if (n_waiters >= WAITERS_MAX) {
                api_response_error(call->resp, ERROR_TOO_MANY_FOLLOWERS, NULL, "the agent already has %d waiters",
                                   WAITERS_MAX);
                return;
        }
        w = calloc(1, sizeof(*w));
        if (!w) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        n_waiters++;
        w->base = (struct api_deferred) { .answer = waiter_answer, .free = waiter_free };
        w->watch.on_change = on_change;
        r = line_match_init(&w->m, pattern, regex && strcmp(regex, "1") == 0, off < start ? start : off, why,
                            sizeof(why));
        if (r < 0) {
                waiter_free(&w->base);
                api_response_error(call->resp, ERROR_INVALID_FIELD, "pattern",
                                   "pattern is not a POSIX extended regular expression: %s", why);
                return;
        }
        r = sd_event_add_defer(event, &w->scan, on_scan, w);
        if (r >= 0)
                r = sd_event_source_set_priority(w->scan, API_WAIT_PRIORITY);
        if (r >= 0)
                r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r >= 0)
                r = sd_event_add_time(event, &w->timer, CLOCK_MONOTONIC, now + sec * 1000000, 1000, on_timeout, w);
        if (r < 0) {
                waiter_free(&w->base);
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "cannot set up the wait");
                return;
        }
        if (console_hub_watch(vm_console_hub(call->vm, call->console), &w->watch) < 0) {
                waiter_free(&w->base);
                api_response_error(call->resp, ERROR_TOO_MANY_FOLLOWERS, NULL,
                                   "this console already has %d followers and waiters", CONSOLE_HUB_WATCHERS_MAX);
                return;
        }
        api_response_done(call->resp);
        call->resp->deferred = &w->base;
}
