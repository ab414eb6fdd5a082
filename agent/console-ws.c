/* console-ws.c: owns the websocket viewers of the VMs' consoles (see
 * console-ws.h). Each console someone watches has a room: its viewers and
 * its writer lease; the room is one watcher of the console's hub
 * (console-hub.h), which tells it of output, state changes and the end. */
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "console-ws.h"
#include "core.h"
#include "log.h"
#include "ws.h"

/* How much of the log one read takes. */
#define VIEWER_CHUNK (16 * 1024)

struct room;

struct viewer {
        struct room *room;
        struct ws_conn *ws;
        unsigned id;
        uint64_t cursor;                /* log offset of the next byte to send */
        bool blocked;                   /* its queue filled up since it last drained */
        void (*done)(void *arg);        /* gives the socket back */
        void *done_arg;
        struct viewer *next;
};

struct room {
        struct console_ws *owner;
        struct vm *vm;                  /* NULL once deleted */
        enum vm_console console;
        struct console_watch watch;     /* on the console's hub */
        struct viewer *viewers;
        unsigned n_viewers;
        struct viewer *writer;          /* the lease holder, or NULL */
        const char *last_state;
        unsigned last_boot;
        struct room *next;
};

struct console_ws {
        sd_event *event;
        struct vms *vms;
        struct room *rooms;
        unsigned n_viewers;             /* in all rooms */
        unsigned next_id;               /* viewer ids: unique while the agent runs */
};

int console_ws_new(sd_event *event, struct vms *vms, struct console_ws **ret) {
        struct console_ws *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->vms = vms;
        *ret = h;
        return 0;
}

/* ---- messages ---- */

/* Sends j (consumed) as a text message; a viewer whose queue is full of
 * output has no room for it either, and simply misses it. */
static int send_json(struct viewer *v, json_t *j) {
        char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;
        int r = text ? ws_send_text(v->ws, text, strlen(text)) : -ENOMEM;

        free(text);
        json_decref(j);
        return r;
}

static json_t *writer_json(const struct room *room) {
        return room->writer ? json_integer(room->writer->id) : json_null();
}

static void broadcast(struct room *room, json_t *j) {
        for (struct viewer *v = room->viewers; v; v = v->next)
                send_json(v, json_deep_copy(j));
        json_decref(j);
}

static void broadcast_presence(struct room *room) {
        broadcast(room, json_pack("{s:s,s:I,s:o}", "type", "presence", "viewers", (json_int_t) room->n_viewers,
                                 "writer", writer_json(room)));
}

/* A change of the writer lease, to the room and to the host's event log
 * (not once the VM is gone: its deletion says it all). */
static void broadcast_lease(struct room *room, const char *event, struct viewer *by) {
        broadcast(room, json_pack("{s:s,s:o,s:s,s:I}", "type", "lease", "writer", writer_json(room), "event", event,
                                 "by", (json_int_t) by->id));
        if (room->vm)
                vm_console_lease_changed(room->vm, room->console, event, by->id);
}

static void send_error(struct viewer *v, const char *code, const char *message) {
        send_json(v, json_pack("{s:s,s:s,s:s}", "type", "error", "code", code, "message", message));
}

static int send_skipped(struct viewer *v, uint64_t from, uint64_t to) {
        int r = send_json(v, json_pack("{s:s,s:I,s:I}", "type", "skipped", "from", (json_int_t) from, "to", (json_int_t) to));

        if (r >= 0 && v->room && v->room->watch.hub && to > from)
                console_hub_count_skipped(v->room->watch.hub, to - from);
        return r;
}

/* ---- output ---- */

/* Sends the viewer what the log has past its cursor, as far as its queue
 * allows; called on new output and when its socket drains. */
static void viewer_pump(struct viewer *v) {
        struct room *room = v->room;
        struct console_log *log = room->watch.hub ? console_hub_log(room->watch.hub) : NULL;
        uint8_t buf[VIEWER_CHUNK];
        uint64_t start, end;

        if (!log || !ws_is_open(v->ws))
                return;
        start = console_log_start(log);
        end = console_log_end(log);
        if (v->cursor < start) {
                if (send_skipped(v, v->cursor, start) < 0)
                        return;
                v->cursor = start;
        }
        while (v->cursor < end) {
                uint64_t left = end - v->cursor;
                ssize_t n;

                if (ws_queued_bytes(v->ws) >= CONSOLE_VIEWER_QUEUE) {
                        /* The socket takes nothing more for now: from here
                         * until the queue drains, see how long it stays
                         * full (a wait under way counts whole). */
                        if (!v->blocked) {
                                v->blocked = true;
                                (void) ws_take_write_stall(v->ws);
                        }
                        break;
                }
                n = console_log_read(log, v->cursor, buf, left < sizeof(buf) ? (size_t) left : sizeof(buf));

                if (n == -ENODATA) {
                        uint64_t next = console_log_seek_data(log, v->cursor);

                        if (send_skipped(v, v->cursor, next) < 0)
                                break;
                        v->cursor = next;
                        continue;
                }
                if (n <= 0 || ws_send_binary(v->ws, buf, (size_t) n) < 0)
                        break;
                v->cursor += (uint64_t) n;
        }
}

static void room_changed(struct console_watch *w, bool gone);

/* ---- viewers coming and going ---- */

static void room_free(struct room *room) {
        struct console_ws *h = room->owner;

        for (struct room **p = &h->rooms; *p; p = &(*p)->next)
                if (*p == room) {
                        *p = room->next;
                        break;
                }
        console_hub_unwatch(&room->watch);
        free(room);
}

static void viewer_free(struct viewer *v) {
        ws_free(v->ws);
        if (v->done)
                v->done(v->done_arg);
        free(v);
}

/* Takes the viewer out of its room, tells the others, and frees it. */
static void viewer_leave(struct viewer *v) {
        struct room *room = v->room;

        for (struct viewer **p = &room->viewers; *p; p = &(*p)->next)
                if (*p == v) {
                        *p = v->next;
                        room->n_viewers--;
                        room->owner->n_viewers--;
                        break;
                }
        if (room->writer == v) {
                room->writer = NULL;
                broadcast_lease(room, "left", v);
        }
        broadcast_presence(room);
        viewer_free(v);
        if (!room->viewers)
                room_free(room);
}

static void on_close(struct ws_conn *c, uint16_t code _unused_, const char *reason _unused_) {
        struct viewer *v = ws_userdata(c);

        if (v->room)
                viewer_leave(v);
        else
                viewer_free(v); /* refused at the door */
}

/* The socket drains again. A viewer whose socket took nothing for a while
 * (it stopped reading) and that is far behind is moved on to recent output
 * rather than fed megabytes of the past (it can fetch those from the log);
 * one that merely reads slowly, so that its queue takes long to drain but
 * its socket keeps taking bytes, or replays a long log, gets every byte. */
static void on_writable(struct ws_conn *c) {
        struct viewer *v = ws_userdata(c);
        struct console_log *log = v->room && v->room->watch.hub ? console_hub_log(v->room->watch.hub) : NULL;

        if (log && v->blocked && ws_take_write_stall(v->ws) >= CONSOLE_VIEWER_STALL_USEC) {
                uint64_t end = console_log_end(log);

                if (end - v->cursor > CONSOLE_VIEWER_LAG_MAX &&
                    send_skipped(v, v->cursor, end - CONSOLE_VIEWER_LAG_KEEP) >= 0)
                        v->cursor = end - CONSOLE_VIEWER_LAG_KEEP;
        }
        v->blocked = false;
        if (v->room)
                viewer_pump(v);
}

static void on_binary(struct ws_conn *c, const uint8_t *data, size_t len) {
        struct viewer *v = ws_userdata(c);
        struct room *room = v->room;
        struct error err = { 0 };

        if (room->writer != v) {
                send_error(v, "no_lease", room->writer ? "another viewer holds the writer lease: steal it to type"
                                                      : "take the writer lease to type");
                return;
        }
        if (!room->vm) {
                send_error(v, "vm_not_running", "the VM is gone");
                return;
        }
        if (vm_console_write(room->vm, room->console, data, len, &err) < 0)
                send_error(v, error_code_name(err.code), err.message);
}

static void on_text(struct ws_conn *c, const char *text, size_t len) {
        struct viewer *v = ws_userdata(c);
        struct room *room = v->room;
        json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
        const char *type = json_string_value(json_object_get(j, "type"));
        const char *action = json_string_value(json_object_get(j, "action"));

        if (type && strcmp(type, "sync") == 0)
                send_json(v, json_pack("{s:s,s:I}", "type", "sync", "offset", (json_int_t) v->cursor));
        else if (type && strcmp(type, "lease") == 0 && action && strcmp(action, "take") == 0) {
                if (room->writer && room->writer != v)
                        send_error(v, "lease_held", "another viewer holds the writer lease (steal it to take it)");
                else if (!room->writer) {
                        room->writer = v;
                        broadcast_lease(room, "taken", v);
                }
        } else if (type && strcmp(type, "lease") == 0 && action && strcmp(action, "steal") == 0) {
                if (room->writer != v) {
                        bool taken = !room->writer;

                        room->writer = v;
                        broadcast_lease(room, taken ? "taken" : "stolen", v);
                }
        } else if (type && strcmp(type, "lease") == 0 && action && strcmp(action, "release") == 0) {
                if (room->writer == v) {
                        room->writer = NULL;
                        broadcast_lease(room, "released", v);
                }
        } else
                send_error(v, "bad_request",
                           "requests are {\"type\":\"sync\"} or {\"type\":\"lease\",\"action\":\"take|steal|release\"}");
        json_decref(j);
}

static const struct ws_callbacks viewer_callbacks = {
        .on_text = on_text,
        .on_binary = on_binary,
        .on_close = on_close,
        .on_writable = on_writable,
};

/* New output, a state change, or the VM's deletion. */
static void room_changed(struct console_watch *w, bool gone) {
        struct room *room = (struct room *) ((char *) w - offsetof(struct room, watch));
        const char *state;

        if (gone) {
                /* The log goes with the VM: nothing more to send. */
                room->vm = NULL;
                for (struct viewer *v = room->viewers; v; v = v->next)
                        (void) ws_close(v->ws, CONSOLE_WS_CLOSE_VM_DELETED, "the VM was deleted");
                return;
        }
        state = vm_state_name(room->vm);
        if (state != room->last_state || vm_boot_count(room->vm) != room->last_boot) {
                room->last_state = state;
                room->last_boot = vm_boot_count(room->vm);
                broadcast(room, json_pack("{s:s,s:s,s:I}", "type", "vm", "state", state, "boot_count",
                                         (json_int_t) room->last_boot));
        }
        for (struct viewer *v = room->viewers; v; v = v->next)
                viewer_pump(v);
}

static struct room *room_find(const struct console_ws *h, const struct vm *vm, enum vm_console c) {
        for (struct room *room = h->rooms; room; room = room->next)
                if (room->vm == vm && room->console == c)
                        return room;
        return NULL;
}

unsigned console_ws_viewers(const struct console_ws *h, const struct vm *vm, enum vm_console c, bool *ret_writer) {
        const struct room *room = room_find(h, vm, c);

        if (ret_writer)
                *ret_writer = room && room->writer;
        return room ? room->n_viewers : 0;
}

int console_ws_admit(struct console_ws *h, struct vm *vm, enum vm_console c, struct error *err) {
        struct room *room = room_find(h, vm, c);

        if (room && room->n_viewers >= CONSOLE_VIEWERS_MAX)
                return error_set(err, -EUSERS, ERROR_TOO_MANY_VIEWERS, NULL,
                                 "this console already has %d viewers", CONSOLE_VIEWERS_MAX);
        if (h->n_viewers >= CONSOLE_VIEWERS_TOTAL_MAX)
                return error_set(err, -EUSERS, ERROR_TOO_MANY_VIEWERS, NULL,
                                 "the agent already serves %d console viewers", CONSOLE_VIEWERS_TOTAL_MAX);
        return 0;
}

static struct room *room_get(struct console_ws *h, struct vm *vm, enum vm_console c) {
        struct room *room = room_find(h, vm, c);

        if (room)
                return room;
        room = calloc(1, sizeof(*room));
        if (!room)
                return NULL;
        *room = (struct room) { .owner = h, .vm = vm, .console = c };
        room->watch.on_change = room_changed;
        if (console_hub_watch(vm_console_hub(vm, c), &room->watch) < 0) {
                free(room);
                return NULL;
        }
        room->last_state = vm_state_name(vm);
        room->last_boot = vm_boot_count(vm);
        room->next = h->rooms;
        h->rooms = room;
        return room;
}

void console_ws_join(struct console_ws *h, const char *vm_name, enum vm_console c, bool from_set, uint64_t from,
                     int fd, const void *extra, size_t extra_size, void (*done)(void *arg), void *done_arg) {
        const struct ws_config config = { .max_message = CONSOLE_WS_MESSAGE_MAX };
        struct vm *vm = vms_find(h->vms, vm_name);
        struct console_log *log = vm ? vm_console_log(vm, c) : NULL;
        struct viewer *v = calloc(1, sizeof(*v));
        struct room *room = NULL;
        uint16_t refuse = 0;
        const char *why = NULL;
        int r;

        if (!v) {
                done(done_arg);
                return;
        }
        v->done = done;
        v->done_arg = done_arg;
        /* The kernel's buffer is part of a viewer's queue too: keep it small,
         * so that a stalled viewer costs little and is seen to be stalled. */
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &(int) { CONSOLE_VIEWER_SNDBUF }, sizeof(int));
        /* A keystroke's echo goes out at once, not after the last frame's
         * ACK (ws.c corks a frame's header to its payload with MSG_MORE). */
        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
        r = ws_new(h->event, fd, &config, &viewer_callbacks, v, &v->ws);
        if (r >= 0 && extra_size > 0)
                r = ws_feed(v->ws, extra, extra_size);
        if (r < 0) {
                log_warning_errno(r, "Cannot start a console websocket");
                viewer_free(v);
                return;
        }

        /* The VM may have gone, or the console filled up, since the
         * request was admitted. */
        if (!log) {
                refuse = CONSOLE_WS_CLOSE_VM_DELETED;
                why = "the VM was deleted";
        } else if (!(room = room_get(h, vm, c))) {
                refuse = WS_CLOSE_INTERNAL_ERROR;
                why = "out of memory";
        } else if (room->n_viewers >= CONSOLE_VIEWERS_MAX || h->n_viewers >= CONSOLE_VIEWERS_TOTAL_MAX) {
                refuse = WS_CLOSE_POLICY;
                why = "too many viewers";
        }
        if (refuse) {
                /* In no room; on_close frees it once the close is done. */
                (void) ws_close(v->ws, refuse, why);
                if (room && !room->viewers)
                        room_free(room);
                return;
        }

        v->room = room;
        v->id = ++h->next_id;
        v->cursor = console_log_end(log);
        if (from_set)
                v->cursor = from;
        v->next = room->viewers;
        room->viewers = v;
        room->n_viewers++;
        h->n_viewers++;
        send_json(v, json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:I,s:o,s:s,s:I}", "type", "hello", "vm", vm_name,
                               "console", vm_console_to_string(c), "viewer", (json_int_t) v->id, "offset",
                               (json_int_t) v->cursor, "log_start", (json_int_t) console_log_start(log), "log_end",
                               (json_int_t) console_log_end(log), "viewers", (json_int_t) room->n_viewers, "writer",
                               writer_json(room), "vm_state", vm_state_name(vm), "boot_count",
                               (json_int_t) vm_boot_count(vm)));
        broadcast_presence(room);
        viewer_pump(v);
}

struct console_ws *console_ws_free(struct console_ws *h) {
        if (!h)
                return NULL;
        while (h->rooms) {
                struct room *room = h->rooms;

                /* The agent is stopping, its event loop done: say so as
                 * far as the socket takes it now, without waiting for the
                 * close handshake. */
                while (room->viewers) {
                        struct viewer *v = room->viewers;

                        room->viewers = v->next;
                        h->n_viewers--;
                        v->ws = ws_close_free(v->ws, WS_CLOSE_GOING_AWAY, "the agent is stopping");
                        viewer_free(v);
                }
                room_free(room);
        }
        sd_event_unref(h->event);
        free(h);
        return NULL;
}
