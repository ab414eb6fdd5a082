/* api-consoles.c: a VM's consoles' routes: POST .../consoles/C/input (bytes
 * for the guest), GET .../consoles/C/log (a page of the log, or with
 * ?follow=1 the log as it grows, as a watcher of the console's hub) and GET
 * .../consoles/C/ws (the websocket viewer, console-ws.c). */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "api-internal.h"
#include "console-ws.h"
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

static int parse_offset(const char *s, uint64_t *ret) {
        uint64_t n = 0;

        if (!s || !*s || strlen(s) > 20)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                n = n * 10 + (uint64_t) (*s - '0');
        }
        *ret = n;
        return 0;
}

/* ?from=OFFSET into *ret (the log's start if absent), or false with a 416
 * in the answer when it is past the log's end or no offset at all. An
 * offset below the log's start (its bytes removed by the budget) is taken:
 * the caller says what was skipped. */
static bool parse_from(struct api_call *call, struct console_log *log, uint64_t *ret) {
        const char *from = api_query(call, "from");
        uint64_t end = console_log_end(log);

        *ret = console_log_start(log);
        if (from && (parse_offset(from, ret) < 0 || *ret > end)) {
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
};

static ssize_t log_stream_read(struct api_stream *as, void *buf, size_t max) {
        struct log_stream *s = (struct log_stream *) as;
        struct console_log *log;
        ssize_t n;

        if (!s->watch.hub)
                return -EPIPE; /* the VM is gone, its log with it */
        log = console_hub_log(s->watch.hub);
        n = console_log_read(log, s->offset, buf, max);
        /* The budget removed bytes the follower had not read: it is not
         * skipped over silently. The stream ends where the follower stood;
         * a reconnect with from= is answered from the log's start and told
         * how much it missed (X-Xvmd-Log-Skipped). */
        if (n == -ENODATA && s->offset < console_log_start(log))
                return -EPIPE;
        if (n == -ENODATA) {
                s->offset = console_log_seek_data(log, s->offset);
                n = console_log_read(log, s->offset, buf, max);
        }
        if (n < 0)
                return n;
        s->offset += (uint64_t) n;
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

static void follow(struct api_call *call, uint64_t offset) {
        struct log_stream *st = calloc(1, sizeof(*st));

        if (!st) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        st->base = (struct api_stream) { .read = log_stream_read, .free = log_stream_free };
        st->watch.on_change = log_stream_changed;
        st->offset = offset;
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

void api_console_log(struct api_call *call) {
        const char *follow_arg = api_query(call, "follow");
        struct console_log *log = vm_console_log(call->vm, call->console);
        uint64_t end = console_log_end(log), off;
        size_t want;
        ssize_t n;
        char *buf;

        if (!parse_from(call, log, &off))
                return;
        if (follow_arg && strcmp(follow_arg, "0") != 0 && strcmp(follow_arg, "1") != 0) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, "follow", "follow must be 0 or 1");
                return;
        }
        off = skip_removed(call, log, off);
        if (follow_arg && strcmp(follow_arg, "1") == 0) {
                follow(call, off);
                return;
        }

        want = end - off > API_LOG_CHUNK_MAX ? API_LOG_CHUNK_MAX : (size_t) (end - off);
        buf = malloc(want ? want : 1);
        if (!buf) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        n = want ? console_log_read(log, off, buf, want) : 0;
        if (n < 0) {
                free(buf);
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "reading the log failed: %s", strerror((int) -n));
                return;
        }
        call->resp->status = 200;
        call->resp->raw = buf;
        call->resp->raw_size = (size_t) n;
        call->resp->content_type = "application/octet-stream";
        api_response_header(call->resp, "X-Xvmd-Log-Start", "%llu", (unsigned long long) off);
        api_response_header(call->resp, "X-Xvmd-Log-End", "%llu", (unsigned long long) (off + (uint64_t) n));
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
        struct ws_handshake_request hs = {
                .method = call->req->method,
                .upgrade = api_header(call, "Upgrade"),
                .connection = api_header(call, "Connection"),
                .version = api_header(call, "Sec-WebSocket-Version"),
                .key = api_header(call, "Sec-WebSocket-Key"),
        };
        char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
        struct ws_handshake_error hs_err;
        struct error err = { 0 };
        struct ws_upgrade *w;
        uint64_t off;

        if (!parse_from(call, vm_console_log(call->vm, call->console), &off))
                return;
        if (ws_handshake_check(&hs, &hs_err) < 0) {
                bool upgrade = hs_err.status == 426;

                api_response_error(call->resp,
                                   upgrade                 ? ERROR_UPGRADE_REQUIRED
                                   : hs_err.status == 405 ? ERROR_BAD_HANDSHAKE_METHOD
                                                           : ERROR_BAD_HANDSHAKE,
                                   hs_err.header, "%s", hs_err.message);
                if (upgrade) {
                        api_response_header(call->resp, "Upgrade", "websocket");
                        api_response_header(call->resp, "Sec-WebSocket-Version", WS_HANDSHAKE_VERSION);
                }
                return;
        }
        if (console_ws_admit(call->api->viewers, call->vm, call->console, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        if (ws_handshake_accept(hs.key, accept) < 0 || !(w = calloc(1, sizeof(*w)))) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "cannot answer the handshake");
                return;
        }
        w->base = (struct api_upgrade) { .start = ws_upgrade_start, .free = ws_upgrade_free };
        w->viewers = call->api->viewers;
        snprintf(w->vm, sizeof(w->vm), "%s", vm_name(call->vm));
        w->console = call->console;
        w->from_set = api_query(call, "from") != NULL;
        w->from = off;
        api_response_done(call->resp);
        call->resp->status = 101;
        call->resp->empty = true;
        call->resp->upgrade = &w->base;
        api_response_header(call->resp, "Upgrade", "websocket");
        api_response_header(call->resp, "Sec-WebSocket-Accept", "%s", accept);
}
