/* api-events.c: GET /v1/events, the host's event log (events.h) as a
 * stream: the events after a resume point (?since=SEQ, or the
 * Last-Event-ID header a browser's EventSource sends when it reconnects),
 * or without one only those to come (as a Kubernetes watch without a
 * resourceVersion, or docker events), then every event as it is recorded,
 * until the client goes or falls behind. Each stream is a watcher of the
 * log and reads it from its own cursor at its own pace.
 *
 * Two formats of the same events: one JSON object per line
 * (application/x-ndjson, for curl and programs), or Server-Sent Events
 * (text/event-stream, when the request's Accept names it): "id: SEQ" and
 * "data: JSON" per event, no "event:" field, so that EventSource's
 * onmessage gets every type; a "retry:" first.
 *
 * Events a stream cannot give are never skipped silently. A resume point
 * whose next events the log no longer holds gets a first
 * {"type":"reset",...} (the client relists, then reads on from the oldest
 * held); a stream whose cursor the ring overwrote gets {"type":"lagged",...}
 * and ends. Neither has a seq or an SSE id: a reconnect resumes from the
 * last real event the client got. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api-internal.h"
#include "timestamp.h"

/* The browser waits this long before it reconnects a dropped stream. */
#define EVENTS_SSE_RETRY_MSEC 3000

struct event_stream {
        struct api_stream base;
        struct events_watch watch;
        struct events_cursor cursor;
        bool sse;
        bool ended;                     /* lagged said: the stream ends once out is sent */
        char out[EVENTS_LINE_MAX + 64]; /* the piece being sent, framed */
        size_t out_len, out_pos;
};

static void now_string(char buf[static TIMESTAMP_MAX]) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        timestamp_format((int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec, buf);
}

/* Frames one event (seq > 0) or one of the stream's own messages (seq 0)
 * into out. */
static void frame(struct event_stream *s, uint64_t seq, const char *text, size_t len) {
        int n;

        if (!s->sse)
                n = snprintf(s->out, sizeof(s->out), "%.*s\n", (int) len, text);
        else if (seq > 0)
                n = snprintf(s->out, sizeof(s->out), "id: %llu\ndata: %.*s\n\n", (unsigned long long) seq, (int) len,
                             text);
        else
                n = snprintf(s->out, sizeof(s->out), "data: %.*s\n\n", (int) len, text);
        s->out_len = n > 0 && (size_t) n < sizeof(s->out) ? (size_t) n : 0;
        s->out_pos = 0;
}

/* reset and lagged: what the stream says of events it cannot give. */
static void frame_notice(struct event_stream *s, const char *type, uint64_t since, uint64_t next) {
        char when[TIMESTAMP_MAX], text[256];

        now_string(when);
        if (strcmp(type, "reset") == 0)
                snprintf(text, sizeof(text), "{\"type\":\"reset\",\"time\":\"%s\",\"since\":%llu,\"next\":%llu}", when,
                         (unsigned long long) since, (unsigned long long) next);
        else
                snprintf(text, sizeof(text), "{\"type\":\"lagged\",\"time\":\"%s\",\"since\":%llu,\"oldest\":%llu}",
                         when, (unsigned long long) since, (unsigned long long) next);
        frame(s, 0, text, strlen(text));
}

/* The next piece into out: false when there is none yet. */
static bool fill(struct event_stream *s) {
        struct events *ev = s->watch.events;
        char text[EVENTS_LINE_MAX];
        uint64_t since = 0, next = 0;
        size_t len = 0;

        if (!ev || s->ended)
                return false;
        switch (events_cursor_step(ev, &s->cursor, text, sizeof(text), &len, &since, &next)) {
        case EVENTS_STEP_EVENT:
                frame(s, s->cursor.next - 1, text, len);
                return true;
        case EVENTS_STEP_RESET:
                frame_notice(s, "reset", since, next);
                return true;
        case EVENTS_STEP_LAGGED:
                frame_notice(s, "lagged", since, events_first(ev));
                s->ended = true;
                return true;
        case EVENTS_STEP_NONE:
                break;
        }
        return false;
}

static ssize_t event_stream_read(struct api_stream *as, void *buf, size_t max) {
        struct event_stream *s = (struct event_stream *) as;
        size_t done = 0;

        while (done < max) {
                size_t n;

                if (s->out_pos == s->out_len && !fill(s))
                        break;
                n = s->out_len - s->out_pos;
                if (n > max - done)
                        n = max - done;
                memcpy((char *) buf + done, s->out + s->out_pos, n);
                s->out_pos += n;
                done += n;
        }
        if (done > 0)
                return (ssize_t) done;
        /* Lagged and said so, or the log is gone (the agent stops). */
        return s->ended || !s->watch.events ? -EPIPE : 0;
}

static void event_stream_free(struct api_stream *as) {
        struct event_stream *s = (struct event_stream *) as;

        events_unwatch(&s->watch);
        free(s);
}

static void event_stream_changed(struct events_watch *w, bool gone _unused_) {
        struct event_stream *s = (struct event_stream *) ((char *) w - offsetof(struct event_stream, watch));

        if (s->base.wake)
                s->base.wake(s->base.wake_arg);
}

/* Whether the Accept header names text/event-stream (with any parameters;
 * q=0 refuses it). */
static bool wants_sse(const char *accept) {
        while (accept && *accept) {
                size_t n;

                accept += strspn(accept, " \t,");
                n = strcspn(accept, ",");
                if (strncasecmp(accept, "text/event-stream", 17) == 0 &&
                    (n == 17 || accept[17] == ';' || accept[17] == ' ' || accept[17] == '\t')) {
                        const char *q = strstr(accept, "q=");

                        return !(q && q < accept + n && strtod(q + 2, NULL) == 0.0);
                }
                accept += n;
        }
        return false;
}

void api_events_get(struct api_call *call) {
        struct events *ev = vms_events(call->api->vms);
        const char *since = api_query(call, "since"), *field = "since";
        struct event_stream *s;
        uint64_t seq = 0, after;

        if (!since) {
                since = api_header(call, "Last-Event-ID");
                field = "Last-Event-ID";
        }
        if (since && api_parse_u64(since, &seq) < 0) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, field,
                                   "%s must be the seq of an event (0 for all the log holds)", field);
                return;
        }
        s = calloc(1, sizeof(*s));
        if (!s) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        if (events_cursor_init(ev, &s->cursor, !since, seq) < 0) {
                free(s);
                api_response_error(call->resp, ERROR_OUT_OF_RANGE, field,
                                   "%s %llu is past the newest event (%llu): this host never had that event (its "
                                   "state was lost?); list again, and follow without %s", field,
                                   (unsigned long long) seq, (unsigned long long) events_next(ev) - 1, field);
                return;
        }
        s->watch.on_change = event_stream_changed;
        if (events_watch(ev, &s->watch) < 0) {
                free(s);
                api_response_error(call->resp, ERROR_TOO_MANY_FOLLOWERS, NULL,
                                   "the agent already serves %d event streams", EVENTS_WATCHERS_MAX);
                return;
        }
        s->base = (struct api_stream) { .read = event_stream_read, .free = event_stream_free };
        s->sse = wants_sse(api_header(call, "Accept"));
        /* Where the stream starts, so that a client that gets no event
         * before it reconnects resumes from there, not from the new "now":
         * a header, and for EventSource an id with no data (it sets the
         * last event id and dispatches nothing). */
        after = since ? seq : events_next(ev) - 1;
        if (s->sse) {
                int n = snprintf(s->out, sizeof(s->out), "retry: %d\nid: %llu\n\n", EVENTS_SSE_RETRY_MSEC,
                                 (unsigned long long) after);

                s->out_len = n > 0 ? (size_t) n : 0;
        }
        call->resp->status = 200;
        call->resp->stream = &s->base;
        call->resp->content_type = s->sse ? "text/event-stream" : "application/x-ndjson";
        api_response_header(call->resp, "Cache-Control", "no-store");
        api_response_header(call->resp, "X-Xvmd-Events-After", "%llu", (unsigned long long) after);
}
