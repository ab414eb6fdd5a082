/* api-consoles.c: a VM's consoles' routes: POST .../consoles/C/input (bytes
 * for the guest), GET .../consoles/C/log (a page of the log, chosen by
 * offset, boot or time, raw or with each line's time, or with ?follow=1 the
 * log as it grows, as a watcher of the console's hub), GET .../boots (the
 * boots the log holds) and GET .../consoles/C/ws (the websocket viewer,
 * console-ws.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api-internal.h"
#include "console-ws.h"
#include "log-stamp.h"
#include "timestamp.h"
#include "ws-handshake.h"

/* A log answer carries at most this much; clients page with ?from= (the
 * X-Xvmd-Log-End header says where this answer ends, an empty answer that
 * the log does; GET /v1/vms/NAME has each log's end). */
#define API_LOG_CHUNK_MAX (4 * 1024 * 1024)

void api_console_input(struct api_call *call) {
        struct error err = { 0 };

        if (vm_console_write(call->vm, call->console, call->req->body, call->req->body_size, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_empty(call->resp);
}

/* ?from=OFFSET into *ret (the log's start if absent), or false with a 416
 * in the answer when it is past the log's end or no offset at all. An
 * offset below the log's start (its bytes removed by the budget) is taken:
 * the caller says what was skipped. */
static bool parse_from(struct api_call *call, struct console_log *log, uint64_t *ret) {
        const char *from = api_query(call, "from");
        uint64_t end = console_log_end(log);

        *ret = console_log_start(log);
        if (from && (api_parse_u64(from, ret) < 0 || *ret > end)) {
                api_response_error(call->resp, ERROR_OFFSET_OUT_OF_RANGE, "from",
                                   "from must be an offset of at most %llu, the log's end", (unsigned long long) end);
                return false;
        }
        return true;
}

/* A reader asking for offsets the budget removed gets the log from its
 * start, and a header that counts what it missed. */
static uint64_t skip_removed(struct api_call *call, struct console_log *log, uint64_t off) {
        uint64_t start = console_log_start(log);

        if (off >= start)
                return off;
        api_response_header(call->resp, "X-Xvmd-Log-Skipped", "%llu", (unsigned long long) (start - off));
        return start;
}

/* GET .../log?follow=1: the log from an offset on, then every byte as it is
 * appended, until the client goes, the VM is deleted, or the budget removes
 * bytes the follower has not read yet. */
struct log_stream {
        struct api_stream base;
        struct console_watch watch;
        uint64_t offset;
        bool timestamps;
        struct log_stamper stamper;
};

static ssize_t log_stream_read(struct api_stream *as, void *buf, size_t max) {
        struct log_stream *s = (struct log_stream *) as;
        struct console_log *log;
        uint8_t raw[16384];
        size_t used;
        ssize_t n;

        if (!s->watch.hub)
                return -EPIPE; /* the VM is gone, its log with it */
        log = console_hub_log(s->watch.hub);
        if (s->timestamps && max > sizeof(raw))
                max = sizeof(raw);
        n = console_log_read(log, s->offset, s->timestamps ? raw : buf, max);
        /* The budget removed bytes the follower had not read: it is not
         * skipped over silently. The stream ends where the follower stood;
         * a reconnect with from= is answered from the log's start and told
         * how much it missed (X-Xvmd-Log-Skipped). */
        if (n == -ENODATA && s->offset < console_log_start(log))
                return -EPIPE;
        if (n == -ENODATA) {
                s->offset = console_log_seek_data(log, s->offset);
                n = console_log_read(log, s->offset, s->timestamps ? raw : buf, max);
        }
        if (n <= 0 || !s->timestamps) {
                if (n > 0)
                        s->offset += (uint64_t) n;
                return n;
        }
        s->stamper.log = log;
        n = (ssize_t) log_stamp_lines(&s->stamper, s->offset, raw, (size_t) n, buf, max, &used);
        s->offset += used;
        return n;
}

static void log_stream_free(struct api_stream *as) {
        struct log_stream *s = (struct log_stream *) as;

        console_hub_unwatch(&s->watch);
        free(s);
}

static void log_stream_changed(struct console_watch *w, bool gone _unused_) {
        struct log_stream *s = (struct log_stream *) ((char *) w - offsetof(struct log_stream, watch));

        if (s->base.wake)
                s->base.wake(s->base.wake_arg);
}

static void follow(struct api_call *call, uint64_t offset, bool timestamps) {
        struct log_stream *st = calloc(1, sizeof(*st));

        if (!st) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        st->base = (struct api_stream) { .read = log_stream_read, .free = log_stream_free };
        st->watch.on_change = log_stream_changed;
        st->offset = offset;
        st->timestamps = timestamps;
        log_stamper_init(&st->stamper, vm_console_log(call->vm, call->console));
        if (console_hub_watch(vm_console_hub(call->vm, call->console), &st->watch) < 0) {
                free(st);
                api_response_error(call->resp, ERROR_TOO_MANY_FOLLOWERS, NULL, "this console already has %d followers",
                                   CONSOLE_HUB_WATCHERS_MAX);
                return;
        }
        call->resp->status = 200;
        call->resp->stream = &st->base;
        call->resp->content_type = "application/octet-stream";
        api_response_header(call->resp, "X-Xvmd-Log-Start", "%llu", (unsigned long long) offset);
}

/* A 0-or-1 query argument into *ret (false if absent); false with a 400
 * in the answer for anything else. */
static bool parse_flag(struct api_call *call, const char *key, bool *ret) {
        const char *v = api_query(call, key);

        *ret = v && strcmp(v, "1") == 0;
        if (v && strcmp(v, "0") != 0 && strcmp(v, "1") != 0) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, key, "%s must be 0 or 1", key);
                return false;
        }
        return true;
}

/* ?since= or ?until= (timestamp.h) into *ret; false with a 400 for a
 * malformed one. *present says whether it was given. */
static bool parse_time(struct api_call *call, const char *key, int64_t *ret, bool *present) {
        const char *v = api_query(call, key);
        struct timespec ts;

        *present = v != NULL;
        if (!v)
                return true;
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        if (timestamp_parse(v, (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec, ret) < 0) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, key,
                                   "%s must be an RFC 3339 time (2026-12-01T09:50:17Z) or one relative to now "
                                   "(-30s, -5m, -2h, -1d)", key);
                return false;
        }
        return true;
}

/* ?boot=N: the offsets of that boot's output into [*lo, *hi); false with a
 * 400 or 404 in the answer. */
static bool parse_boot(struct api_call *call, struct console_log *log, bool *present, uint64_t *lo, uint64_t *hi) {
        const char *v = api_query(call, "boot");
        struct console_index_boot *boots = NULL;
        uint64_t boot;
        size_t n = 0;
        bool found = false;

        *present = v != NULL;
        if (!v)
                return true;
        if (api_parse_u64(v, &boot) < 0 || boot == 0 || boot > UINT32_MAX) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, "boot", "boot must be a boot number (1, 2, ...)");
                return false;
        }
        if (console_log_boots(log, &boots, &n) >= 0)
                for (size_t i = 0; i < n; i++)
                        if (boots[i].boot == boot) {
                                *lo = boots[i].start_offset;
                                *hi = boots[i].end_offset;
                                found = true;
                        }
        free(boots);
        if (!found)
                api_response_error(call->resp, ERROR_BOOT_NOT_FOUND, "boot",
                                   "the log holds no output of boot %llu (GET .../boots lists those it holds)",
                                   (unsigned long long) boot);
        return found;
}

/* Whether the lookup of since or until (its result r) may go on: it
 * answered, or the log holds nothing (its answer is empty whatever the
 * time). Otherwise the answer is a 503. */
static bool time_lookup(struct api_call *call, struct console_log *log, const char *field, int r) {
        if (r >= 0 || console_log_start(log) == console_log_end(log))
                return true;
        api_response_error(call->resp, ERROR_TIME_INDEX_UNAVAILABLE, field,
                           "the time index of this console's log is not available, so %s cannot be answered; "
                           "read by offset (from=) instead", field);
        return false;
}

void api_console_log(struct api_call *call) {
        struct console_log *log = vm_console_log(call->vm, call->console);
        uint64_t end = console_log_end(log), off, hi = end, b_lo = 0, b_hi = end, o;
        bool follow_on, stamps, has_since, has_until, has_boot;
        int64_t since = 0, until = 0;
        struct log_stamper st;
        uint8_t *raw, *buf;
        size_t want, used = 0;
        ssize_t n;

        if (!parse_from(call, log, &off) || !parse_flag(call, "follow", &follow_on) ||
            !parse_flag(call, "timestamps", &stamps) || !parse_time(call, "since", &since, &has_since) ||
            !parse_time(call, "until", &until, &has_until))
                return;
        if (follow_on && (has_until || api_query(call, "boot"))) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, "follow",
                                   "follow cannot end: it takes no until or boot");
                return;
        }
        if (!parse_boot(call, log, &has_boot, &b_lo, &b_hi))
                return;
        /* Each selector narrows [off, hi): from, boot, since, until. */
        if (has_boot) {
                if (!api_query(call, "from") || off < b_lo)
                        off = b_lo;
                if (b_hi < hi)
                        hi = b_hi;
        }
        if (has_since) {
                o = off;
                if (!time_lookup(call, log, "since", console_log_offset_since(log, since, &o)))
                        return;
                if (o > off)
                        off = o;
        }
        if (has_until) {
                o = hi;
                if (!time_lookup(call, log, "until", console_log_offset_until(log, until, &o)))
                        return;
                if (o < hi)
                        hi = o;
        }
        if (off > hi)
                off = hi;
        off = skip_removed(call, log, off);
        if (hi < off)
                hi = off;
        if (follow_on) {
                follow(call, off, stamps);
                return;
        }

        want = hi - off > API_LOG_CHUNK_MAX ? API_LOG_CHUNK_MAX : (size_t) (hi - off);
        raw = malloc(want ? want : 1);
        if (!raw) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        n = want ? console_log_read(log, off, raw, want) : 0;
        if (n < 0) {
                free(raw);
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "reading the log failed: %s", strerror((int) -n));
                return;
        }
        used = (size_t) n;
        buf = raw;
        if (stamps && n > 0) {
                /* The answer stays within API_LOG_CHUNK_MAX with its stamps:
                 * X-Xvmd-Log-End says how far into the log it got. */
                buf = malloc(API_LOG_CHUNK_MAX);
                if (!buf) {
                        free(raw);
                        api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                        return;
                }
                log_stamper_init(&st, log);
                n = (ssize_t) log_stamp_lines(&st, off, raw, (size_t) n, buf, API_LOG_CHUNK_MAX, &used);
                free(raw);
        }
        call->resp->status = 200;
        call->resp->raw = (char *) buf;
        call->resp->raw_size = (size_t) n;
        call->resp->content_type = "application/octet-stream";
        api_response_header(call->resp, "X-Xvmd-Log-Start", "%llu", (unsigned long long) off);
        api_response_header(call->resp, "X-Xvmd-Log-End", "%llu", (unsigned long long) (off + used));
}

/* GET .../boots: each boot whose output the log holds, with where it began
 * and ended, when, and how. */
void api_console_boots(struct api_call *call) {
        struct console_log *log = vm_console_log(call->vm, call->console);
        struct console_index_boot *boots = NULL;
        bool runs = vm_state(call->vm) == VM_RUNNING || vm_state(call->vm) == VM_PAUSED;
        json_t *a = json_array();
        size_t n = 0;

        if (!a) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        if (console_log_boots(log, &boots, &n) < 0)
                n = 0; /* a log without an index knows no boots */
        for (size_t i = 0; i < n; i++) {
                const struct console_index_boot *b = &boots[i];
                char start[TIMESTAMP_MAX], stop[TIMESTAMP_MAX];
                const char *ended;

                if (b->exit >= 0)
                        ended = vm_exit_to_string((enum vm_exit) b->exit);
                else if (runs && b->boot == vm_boot_count(call->vm) && i + 1 == n)
                        ended = "running";
                else
                        ended = "unknown"; /* its end was never recorded (the agent died) */
                timestamp_format(b->start_ns, start);
                timestamp_format(b->end_ns, stop);
                json_array_append_new(a, json_pack("{s:I,s:I,s:I,s:s,s:o,s:s}", "boot", (json_int_t) b->boot,
                                                   "start_offset", (json_int_t) b->start_offset, "end_offset",
                                                   (json_int_t) b->end_offset, "start_time", start, "end_time",
                                                   b->end_ns ? json_string(stop) : json_null(), "ended", ended));
        }
        free(boots);
        api_response_json(call->resp, 200, json_pack("{s:o}", "boots", a));
}

/* GET .../ws: a websocket viewer (api/console-websocket.md). Everything that
 * can be refused is refused here, as HTTP; the viewer itself starts once
 * the 101 is out. */
struct ws_upgrade {
        struct api_upgrade base;
        struct console_ws *viewers;
        char vm[VM_NAME_MAX + 1];
        enum vm_console console;
        bool from_set;
        uint64_t from;
};

static void ws_upgrade_start(struct api_upgrade *u, int fd, const void *extra, size_t extra_size,
                             void (*done)(void *arg), void *done_arg) {
        struct ws_upgrade *w = (struct ws_upgrade *) u;

        console_ws_join(w->viewers, w->vm, w->console, w->from_set, w->from, fd, extra, extra_size, done, done_arg);
        free(w);
}

static void ws_upgrade_free(struct api_upgrade *u) {
        free(u);
}

void api_console_ws(struct api_call *call) {
        char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
        struct error err = { 0 };
        struct ws_upgrade *w;
        uint64_t off;

        if (!parse_from(call, vm_console_log(call->vm, call->console), &off) ||
            !api_ws_handshake(call, accept, sizeof(accept)))
                return;
        if (console_ws_admit(call->api->viewers, call->vm, call->console, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        if (!(w = calloc(1, sizeof(*w)))) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        w->base = (struct api_upgrade) { .start = ws_upgrade_start, .free = ws_upgrade_free };
        w->viewers = call->api->viewers;
        snprintf(w->vm, sizeof(w->vm), "%s", vm_name(call->vm));
        w->console = call->console;
        w->from_set = api_query(call, "from") != NULL;
        w->from = off;
        api_response_upgrade(call, &w->base, accept);
}
