/* test-console-ws.c: the console viewers (console-ws.c) on a stub VM layer.
 * The test defines the few functions of vms.h that console-ws.c calls, over
 * fake VMs whose console logs and hubs are real (console-log.c and
 * console-hub.c, in a temp directory), so it can append output, change a
 * VM's state, see the input written and delete a VM, and the hub's real
 * news coalescing paces what viewers hear. Each viewer is a websocket client on a socketpair, played by the test,
 * with sd-event running in this thread. Time is the monotonic clock plus a
 * skew the test moves on (see sd_event_now() below), so that a 5 s stall
 * takes no 5 s.
 *
 * The executable is built from console-ws.c and the modules it needs rather
 * than linking xvmd-core, whose vm.c defines the same functions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "console-log.h"
#include "console-ws.h"
#include "test-util.h"
#include "test-ws-client.h"
#include "console-hub.h"
#include "vms.h"
#include "ws.h"

#define MAX_VMS 4
#define MAX_CLIENTS (CONSOLE_VIEWERS_TOTAL_MAX + 8)
#define KiB 1024

/* ---- the clock ---- */

/* Added to the monotonic clock by sd_event_now(), the clock ws.c reads (it
 * measures how long a viewer's socket stays full). */
static uint64_t clock_skew;

/* Stands in for libsystemd's: the executable's definition wins for the
 * modules linked into it. sd-event's own timers still run on the real clock,
 * so the timers ws.c arms (keep-alive, close handshake) only move further
 * away as the skew grows. */
int sd_event_now(sd_event *e, clockid_t clock, uint64_t *usec) {
        struct timespec ts;

        if (!e || !usec)
                return -EINVAL;
        if (clock_gettime(clock, &ts) < 0)
                return -errno;
        *usec = (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000 + clock_skew;
        return 0;
}

/* ---- the stub VM layer ---- */

/* A VM as console-ws.c sees it through vms.h; its consoles' logs and hubs
 * are the real ones. */
struct vm {
        char name[32];
        struct console_log *logs[_VM_CONSOLE_MAX];
        struct console_hub *hubs[_VM_CONSOLE_MAX];
        enum vm_state state;
        unsigned boot_count;
        struct bytes input[_VM_CONSOLE_MAX]; /* what vm_console_write() took */
        unsigned writes;
        bool busy; /* vm_console_write() refuses (console_busy) */
        char leases[256]; /* what vm_console_lease_changed() heard: "EVENT:VIEWER " each */
};

struct vms {
        struct vm *vm[MAX_VMS];
        size_t n;
};

struct vm *vms_find(struct vms *v, const char *name) {
        for (size_t i = 0; i < v->n; i++)
                if (strcmp(v->vm[i]->name, name) == 0)
                        return v->vm[i];
        return NULL;
}

const char *vm_state_name(const struct vm *vm) {
        return vm_state_to_string(vm->state);
}

unsigned vm_boot_count(const struct vm *vm) {
        return vm->boot_count;
}

const char *vm_console_to_string(enum vm_console c) {
        return c == VM_CONSOLE_PV ? "pv" : "vuart";
}

struct console_hub *vm_console_hub(struct vm *vm, enum vm_console c) {
        return vm->hubs[c];
}

struct console_log *vm_console_log(struct vm *vm, enum vm_console c) {
        return vm->logs[c];
}

ssize_t vm_console_write(struct vm *vm, enum vm_console c, const void *data, size_t n, struct error *err) {
        if (vm->busy)
                return error_set(err, -EAGAIN, ERROR_CONSOLE_BUSY, NULL, "the guest does not read its input");
        bytes_add(&vm->input[c], data, n);
        vm->writes++;
        return (ssize_t) n;
}

void vm_console_lease_changed(struct vm *vm, enum vm_console c, const char *event, unsigned viewer) {
        size_t n = strlen(vm->leases);

        snprintf(vm->leases + n, sizeof(vm->leases) - n, "%s%s:%u ", c == VM_CONSOLE_PV ? "" : "vuart-", event,
                 viewer);
}

/* Whether anyone watches the VM's console (its hub has watchers). */
static bool watched(const struct vm *vm, enum vm_console c) {
        return vm->hubs[c] && console_hub_watchers(vm->hubs[c]) > 0;
}

/* ---- the test's side ---- */

/* A text message a client got, and how many binary bytes came before it. */
struct msg {
        json_t *j;
        size_t at;
};

struct fixture;

struct client {
        struct fixture *f;
        int fd;                 /* the client's end */
        int sfd;                /* the server's end, until done() closes it */
        bool done;              /* console-ws gave the socket back */
        bool paused;            /* settle() does not read for it */
        bool eof;
        struct bytes rx;        /* read, not parsed yet */
        struct bytes out;       /* the binary messages' bytes, in order */
        struct msg *msgs;       /* the text messages, parsed */
        size_t n_msgs, seen;
        bool got_close;
        uint16_t close_code;
};

struct fixture {
        char *tmp;
        int dfd;
        sd_event *event;
        struct vms vms;
        struct vm *vm; /* "alpha", with both consoles */
        struct console_ws *hubs;
        struct client *clients[MAX_CLIENTS];
        size_t n_clients;
};

/* Log contents that tell every offset from its neighbours. */
static uint8_t pattern_byte(uint64_t o) {
        return (uint8_t) (o ^ (o >> 7) ^ (o >> 15) ^ (o >> 23));
}

static struct vm *vm_add(struct fixture *f, const char *name, bool vuart) {
        static const char *const dirs[] = { [VM_CONSOLE_PV] = "pv", [VM_CONSOLE_VUART] = "vuart" };
        struct vm *vm = calloc(1, sizeof(*vm));

        assert_non_null(vm);
        assert_true(f->vms.n < MAX_VMS);
        snprintf(vm->name, sizeof(vm->name), "%s", name);
        vm->state = VM_RUNNING;
        vm->boot_count = 1;
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                char dir[64];

                if (c == VM_CONSOLE_VUART && !vuart)
                        continue;
                snprintf(dir, sizeof(dir), "%s-%s", name, dirs[c]);
                assert_int_equal(console_log_open(f->dfd, dir, &vm->logs[c]), 0);
                assert_int_equal(console_hub_new(f->event, vm->logs[c], &vm->hubs[c]), 0);
        }
        f->vms.vm[f->vms.n++] = vm;
        return vm;
}

/* n bytes of guest output, appended in one piece; the watchers hear of it. */
static void vm_output(struct vm *vm, enum vm_console c, size_t n) {
        uint64_t end = console_log_end(vm->logs[c]);
        uint8_t *p = malloc(n);

        assert_non_null(p);
        for (size_t i = 0; i < n; i++)
                p[i] = pattern_byte(end + i);
        assert_int_equal(console_log_append(vm->logs[c], p, n), 0);
        free(p);
}

static void vm_set_state(struct vm *vm, enum vm_state state, unsigned boot_count) {
        vm->state = state;
        vm->boot_count = boot_count;
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                if (vm->hubs[c])
                        console_hub_notify(vm->hubs[c]); /* what vm.c's transitions do */
}

/* What vms_delete() does: the watchers learn the log is gone, then the VM
 * and its logs are freed (ASan sees any later use). */
static void vm_delete(struct fixture *f, struct vm *vm) {
        for (size_t i = 0; i < f->vms.n; i++)
                if (f->vms.vm[i] == vm) {
                        f->vms.vm[i] = f->vms.vm[--f->vms.n];
                        break;
                }
        for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                vm->hubs[c] = console_hub_free(vm->hubs[c]); /* the watchers hear gone */
        for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                vm->logs[c] = console_log_free(vm->logs[c]);
                bytes_free(&vm->input[c]);
        }
        if (f->vm == vm)
                f->vm = NULL;
        free(vm);
}

/* ---- clients ---- */

/* Writes all of data, letting the server read meanwhile; false if the
 * server's end is gone. */
static bool client_write(struct client *cl, const void *data, size_t len) {
        const uint8_t *p = data;

        while (len > 0) {
                ssize_t n = send(cl->fd, p, len, MSG_NOSIGNAL);

                if (n < 0) {
                        if (errno == EPIPE || errno == ECONNRESET)
                                return false;
                        assert_int_equal(errno, EAGAIN);
                        assert_true(sd_event_run(cl->f->event, 10 * 1000) >= 0);
                        continue;
                }
                p += n;
                len -= (size_t) n;
        }
        return true;
}

static void client_frame(struct client *cl, struct rframe *fr) {
        struct bytes b = { 0 };
        json_error_t e;

        assert_true(fr->fin);
        switch (fr->opcode) {
        case OP_BINARY:
                assert_false(cl->got_close);
                bytes_add(&cl->out, fr->payload, fr->len);
                break;
        case OP_TEXT: {
                json_t *j = json_loadb((const char *) fr->payload, fr->len, JSON_REJECT_DUPLICATES, &e);
                struct msg *m;

                if (!j)
                        fail_msg("not JSON: %s (%s)", (const char *) fr->payload, e.text);
                assert_false(cl->got_close);
                m = realloc(cl->msgs, (cl->n_msgs + 1) * sizeof(*m));
                assert_non_null(m);
                cl->msgs = m;
                cl->msgs[cl->n_msgs++] = (struct msg) { .j = j, .at = cl->out.len };
                break;
        }
        case OP_CLOSE:
                assert_false(cl->got_close);
                assert_true(fr->len >= 2);
                cl->got_close = true;
                cl->close_code = (uint16_t) (fr->payload[0] << 8 | fr->payload[1]);
                /* The answer a client gives (the server may be gone). */
                close_frame(&b, cl->close_code, NULL, 0);
                (void) client_write(cl, b.data, b.len);
                break;
        case OP_PING:
                frame(&b, true, OP_PONG, fr->payload, fr->len);
                (void) client_write(cl, b.data, b.len);
                break;
        default:
                fail_msg("unexpected opcode %u", fr->opcode);
        }
        bytes_free(&b);
}

/* Reads up to max bytes of what the server sent and takes in the whole
 * frames. Returns the count read. */
static size_t client_read(struct client *cl, size_t max) {
        uint8_t buf[16 * KiB];
        struct rframe fr;
        size_t total = 0;

        while (cl->fd >= 0 && !cl->eof && total < max) {
                size_t want = max - total < sizeof(buf) ? max - total : sizeof(buf);
                ssize_t n = read(cl->fd, buf, want);

                if (n < 0) {
                        assert_int_equal(errno, EAGAIN);
                        break;
                }
                if (n == 0)
                        cl->eof = true;
                bytes_add(&cl->rx, buf, (size_t) n);
                total += (size_t) n;
        }
        while (parse_frame(&cl->rx, &fr)) {
                client_frame(cl, &fr);
                free(fr.payload);
        }
        if (cl->eof)
                assert_int_equal(cl->rx.len, 0); /* no frame cut short */
        return total;
}

/* Whether a hub has news of output its watchers are yet to hear (it tells
 * them at most every CONSOLE_HUB_NEWS_USEC, on the real clock). */
static bool news_pending(const struct fixture *f) {
        for (size_t i = 0; i < f->vms.n; i++)
                for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                        if (f->vms.vm[i]->hubs[c] && console_hub_news_pending(f->vms.vm[i]->hubs[c]))
                                return true;
        return false;
}

/* Runs the loop until nothing is left to do, pending news included; true if
 * anything ran. */
static bool run_idle(struct fixture *f) {
        for (int i = 0; i < 100000; i++) {
                int r = sd_event_run(f->event, 0);

                assert_true(r >= 0);
                if (r == 0 && !news_pending(f))
                        return i > 0;
                if (r == 0)
                        assert_true(sd_event_run(f->event, 50 * 1000) >= 0);
        }
        fail_msg("the event loop never went idle");
        return true;
}

/* Runs the loop and lets every client that is not paused read, until
 * neither has anything more to do. */
static void settle(struct fixture *f) {
        for (int i = 0; i < 100000; i++) {
                bool busy = run_idle(f);

                for (size_t k = 0; k < f->n_clients; k++)
                        if (!f->clients[k]->paused && client_read(f->clients[k], SIZE_MAX) > 0)
                                busy = true;
                if (!busy)
                        return;
        }
        fail_msg("the viewers never settled");
}

static void on_done(void *arg) {
        struct client *cl = arg;

        assert_false(cl->done);
        cl->done = true;
        cl->sfd = safe_close(cl->sfd);
}

/* paused: the client reads nothing yet (see settle()). */
static struct client *join_ex(struct fixture *f, const char *vm, enum vm_console c, bool from_set, uint64_t from,
                              const struct bytes *extra, bool paused) {
        struct client *cl = calloc(1, sizeof(*cl));
        int sv[2];

        assert_non_null(cl);
        assert_true(f->n_clients < MAX_CLIENTS);
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        assert_int_equal(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
        *cl = (struct client) { .f = f, .sfd = sv[0], .fd = sv[1], .paused = paused };
        f->clients[f->n_clients++] = cl;
        console_ws_join(f->hubs, vm, c, from_set, from, cl->sfd, extra ? extra->data : NULL,
                          extra ? extra->len : 0, on_done, cl);
        settle(f);
        return cl;
}

/* A viewer of alpha's console c, from the log's end or from offset from. */
static struct client *join(struct fixture *f, enum vm_console c) {
        return join_ex(f, "alpha", c, false, 0, NULL, false);
}

static struct client *join_from(struct fixture *f, enum vm_console c, uint64_t from) {
        return join_ex(f, "alpha", c, true, from, NULL, false);
}

static void client_send(struct client *cl, uint8_t opcode, const void *data, size_t len) {
        struct bytes b = { 0 };

        frame(&b, true, opcode, data, len);
        assert_true(client_write(cl, b.data, b.len));
        bytes_free(&b);
        settle(cl->f);
}

static void client_request(struct client *cl, const char *json) {
        client_send(cl, OP_TEXT, json, strlen(json));
}

/* The client closes with 1000, and sees the handshake through. */
static void client_leave(struct client *cl) {
        struct bytes b = { 0 };

        close_frame(&b, WS_CLOSE_NORMAL, "bye", 3);
        assert_true(client_write(cl, b.data, b.len));
        bytes_free(&b);
        settle(cl->f);
        assert_true(cl->got_close);
        assert_int_equal(cl->close_code, WS_CLOSE_NORMAL);
        assert_true(cl->eof);
        assert_true(cl->done);
}

/* The client's socket goes away without a close frame (a browser killed). */
static void client_hang_up(struct client *cl) {
        cl->fd = safe_close(cl->fd);
        settle(cl->f);
        assert_true(cl->done);
}

/* The server closed with code: the close frame came, then (the client
 * having answered) the end of the socket. */
static void expect_closed(struct client *cl, uint16_t code) {
        assert_true(cl->got_close);
        assert_int_equal(cl->close_code, code);
        assert_true(cl->eof);
        assert_true(cl->done);
}

static void client_free(struct client *cl) {
        safe_close(cl->fd);
        safe_close(cl->sfd);
        for (size_t i = 0; i < cl->n_msgs; i++)
                json_decref(cl->msgs[i].j);
        free(cl->msgs);
        bytes_free(&cl->rx);
        bytes_free(&cl->out);
        free(cl);
}

/* ---- what clients got ---- */

static json_t *next_msg(struct client *cl) {
        if (cl->seen >= cl->n_msgs)
                fail_msg("no more messages (%zu seen)", cl->seen);
        return cl->msgs[cl->seen++].j;
}

static void expect_no_msg(struct client *cl) {
        if (cl->seen < cl->n_msgs) {
                char *s = json_dumps(cl->msgs[cl->seen].j, JSON_COMPACT);

                fail_msg("unexpected message %s", s);
        }
}

static json_int_t int_field(json_t *j, const char *key) {
        json_t *v = json_object_get(j, key);

        if (!json_is_integer(v))
                fail_msg("%s is not an integer", key);
        return json_integer_value(v);
}

static const char *string_field(json_t *j, const char *key) {
        json_t *v = json_object_get(j, key);

        if (!json_is_string(v))
                fail_msg("%s is not a string", key);
        return json_string_value(v);
}

/* An id field that is an integer, or null (0). */
static json_int_t id_field(json_t *j, const char *key) {
        json_t *v = json_object_get(j, key);

        if (json_is_null(v))
                return 0;
        return int_field(j, key);
}

static json_t *expect_type(struct client *cl, const char *type) {
        json_t *j = next_msg(cl);

        assert_string_equal(string_field(j, "type"), type);
        return j;
}

static void expect_presence(struct client *cl, json_int_t viewers, json_int_t writer) {
        json_t *j = expect_type(cl, "presence");

        assert_int_equal(int_field(j, "viewers"), viewers);
        assert_int_equal(id_field(j, "writer"), writer);
        assert_int_equal(json_object_size(j), 3);
}

static void expect_lease(struct client *cl, const char *event, json_int_t writer, json_int_t by) {
        json_t *j = expect_type(cl, "lease");

        assert_string_equal(string_field(j, "event"), event);
        assert_int_equal(id_field(j, "writer"), writer);
        assert_int_equal(int_field(j, "by"), by);
        assert_int_equal(json_object_size(j), 4);
}

static void expect_error(struct client *cl, const char *code) {
        json_t *j = expect_type(cl, "error");

        assert_string_equal(string_field(j, "code"), code);
        assert_true(strlen(string_field(j, "message")) > 0);
}

static json_int_t viewer_id(struct client *cl) {
        assert_true(cl->n_msgs > 0);
        return int_field(cl->msgs[0].j, "viewer");
}

/* Skips the hello and presence messages of joining. */
static void skip_join(struct client *cl) {
        expect_type(cl, "hello");
        expect_type(cl, "presence");
}

/* Compares n bytes of got with the log from offset on. */
static void assert_log_bytes(struct console_log *log, uint64_t offset, const uint8_t *got, size_t n) {
        uint8_t *want = malloc(n + 1);
        size_t have = 0;

        assert_non_null(want);
        while (have < n) {
                ssize_t r = console_log_read(log, offset + have, want + have, n - have);

                assert_true(r > 0);
                have += (size_t) r;
        }
        if (n && memcmp(got, want, n) != 0)
                fail_msg("bytes from offset %llu differ from the log", (unsigned long long) offset);
        free(want);
}

/* The client's binary bytes are the log from hello's offset on, except for
 * what skipped messages announced, each where it came in the stream: no
 * gap, no duplicate, nothing out of order. Returns the log offset after the
 * last byte received; *skips (if not NULL) counts the skipped messages. */
static uint64_t check_stream(struct client *cl, struct console_log *log, unsigned *skips) {
        uint64_t offset;
        size_t pos = 0;
        unsigned n_skips = 0;

        assert_true(cl->n_msgs > 0);
        assert_string_equal(string_field(cl->msgs[0].j, "type"), "hello");
        assert_int_equal(cl->msgs[0].at, 0);
        offset = (uint64_t) int_field(cl->msgs[0].j, "offset");
        for (size_t i = 0; i <= cl->n_msgs; i++) {
                size_t at = i < cl->n_msgs ? cl->msgs[i].at : cl->out.len;

                assert_log_bytes(log, offset, cl->out.data + pos, at - pos);
                offset += at - pos;
                pos = at;
                if (i < cl->n_msgs && strcmp(string_field(cl->msgs[i].j, "type"), "skipped") == 0) {
                        json_int_t from = int_field(cl->msgs[i].j, "from"), to = int_field(cl->msgs[i].j, "to");

                        assert_int_equal(from, offset);
                        assert_true(to > from);
                        offset = (uint64_t) to;
                        n_skips++;
                }
        }
        if (skips)
                *skips = n_skips;
        return offset;
}

/* ---- fixture ---- */

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f)
                return -1;
        clock_skew = 0;
        f->tmp = test_mkdtemp();
        if (!f->tmp)
                return -1;
        f->dfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (f->dfd < 0 || sd_event_new(&f->event) < 0)
                return -1;
        if (console_ws_new(f->event, &f->vms, &f->hubs) < 0)
                return -1;
        f->vm = vm_add(f, "alpha", true);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        f->hubs = console_ws_free(f->hubs);
        for (size_t i = 0; i < f->n_clients; i++) {
                /* Every socket was given back, and every watch dropped. */
                assert_true(f->clients[i]->done);
                client_free(f->clients[i]);
        }
        while (f->vms.n > 0) {
                struct vm *vm = f->vms.vm[0];

                for (int c = 0; c < _VM_CONSOLE_MAX; c++)
                        assert_false(watched(vm, (enum vm_console) c));
                vm_delete(f, vm);
        }
        sd_event_unref(f->event);
        close(f->dfd);
        test_rm_rf(f->tmp);
        free(f->tmp);
        free(f);
        return 0;
}

/* ---- tests ---- */

/* Without from: the hello names everything and starts at the log's end;
 * output that comes later arrives once, in order. */
static void test_hello_live(void **state) {
        struct fixture *f = *state;
        struct client *a, *b;
        json_t *j;

        vm_output(f->vm, VM_CONSOLE_PV, 100);
        a = join(f, VM_CONSOLE_PV);
        j = expect_type(a, "hello");
        assert_string_equal(string_field(j, "vm"), "alpha");
        assert_string_equal(string_field(j, "console"), "pv");
        assert_true(int_field(j, "viewer") > 0);
        assert_int_equal(int_field(j, "offset"), 100);
        assert_int_equal(int_field(j, "log_start"), 0);
        assert_int_equal(int_field(j, "log_end"), 100);
        assert_int_equal(int_field(j, "viewers"), 1);
        assert_true(json_is_null(json_object_get(j, "writer")));
        assert_string_equal(string_field(j, "vm_state"), "running");
        assert_int_equal(int_field(j, "boot_count"), 1);
        assert_int_equal(json_object_size(j), 11);
        expect_presence(a, 1, 0);
        expect_no_msg(a);
        assert_int_equal(a->out.len, 0);

        vm_output(f->vm, VM_CONSOLE_PV, 1);
        settle(f);
        vm_output(f->vm, VM_CONSOLE_PV, 5000);
        vm_output(f->vm, VM_CONSOLE_PV, 20 * KiB);
        settle(f);
        assert_int_equal(a->out.len, 1 + 5000 + 20 * KiB);
        assert_int_equal(check_stream(a, f->vm->logs[VM_CONSOLE_PV], NULL), console_log_end(f->vm->logs[VM_CONSOLE_PV]));
        expect_no_msg(a);

        /* The other console has its own log and viewers; ids stay unique. */
        vm_output(f->vm, VM_CONSOLE_VUART, 7);
        b = join(f, VM_CONSOLE_VUART);
        j = expect_type(b, "hello");
        assert_string_equal(string_field(j, "console"), "vuart");
        assert_int_equal(int_field(j, "offset"), 7);
        assert_int_equal(int_field(j, "viewers"), 1);
        assert_true(int_field(j, "viewer") != viewer_id(a));
        expect_presence(b, 1, 0);
        vm_output(f->vm, VM_CONSOLE_VUART, 3);
        settle(f);
        assert_int_equal(b->out.len, 3);
        assert_int_equal(check_stream(b, f->vm->logs[VM_CONSOLE_VUART], NULL), 10);
        assert_int_equal(a->out.len, 1 + 5000 + 20 * KiB); /* nothing of vuart's */
        expect_no_msg(a);
}

/* With from: the log from there on, then what follows. */
static void test_hello_from(void **state) {
        struct fixture *f = *state;
        struct console_log *log = f->vm->logs[VM_CONSOLE_PV];
        struct client *a, *b, *c;
        json_t *j;

        vm_output(f->vm, VM_CONSOLE_PV, 100);
        a = join_from(f, VM_CONSOLE_PV, 40);
        j = expect_type(a, "hello");
        assert_int_equal(int_field(j, "offset"), 40);
        assert_int_equal(int_field(j, "log_end"), 100);
        expect_presence(a, 1, 0);
        assert_int_equal(a->out.len, 60);

        b = join_from(f, VM_CONSOLE_PV, 0);
        j = expect_type(b, "hello");
        assert_int_equal(int_field(j, "offset"), 0);
        assert_int_equal(int_field(j, "viewers"), 2);
        assert_int_equal(b->out.len, 100);

        c = join_from(f, VM_CONSOLE_PV, 100);
        assert_int_equal(int_field(expect_type(c, "hello"), "offset"), 100);
        assert_int_equal(c->out.len, 0);

        vm_output(f->vm, VM_CONSOLE_PV, 50);
        settle(f);
        assert_int_equal(check_stream(a, log, NULL), 150);
        assert_int_equal(check_stream(b, log, NULL), 150);
        assert_int_equal(check_stream(c, log, NULL), 150);
        assert_int_equal(a->out.len, 110);
        assert_int_equal(b->out.len, 150);
        assert_int_equal(c->out.len, 50);
}

/* A replay of a log much larger than a viewer's queue arrives whole to a
 * client that reads; the queue never holds it all at once. */
static void test_replay_large(void **state) {
        struct fixture *f = *state;
        struct console_log *log = f->vm->logs[VM_CONSOLE_PV];
        struct client *a;
        unsigned skips;

        for (int i = 0; i < 16; i++)
                vm_output(f->vm, VM_CONSOLE_PV, 64 * KiB);
        a = join_from(f, VM_CONSOLE_PV, 0);
        assert_int_equal(a->out.len, 1024 * KiB);
        assert_int_equal(check_stream(a, log, &skips), 1024 * KiB);
        assert_int_equal(skips, 0);

        /* sync: the next byte is right after the last one received. */
        client_request(a, "{\"type\":\"sync\"}");
        skip_join(a);
        assert_int_equal(int_field(expect_type(a, "sync"), "offset"), 1024 * KiB);
        expect_no_msg(a);
}

/* Everyone hears of a viewer joining and leaving, whichever way it leaves;
 * the last one leaving drops the hub's watch (checked in teardown). */
static void test_presence(void **state) {
        struct fixture *f = *state;
        struct client *a, *b, *c;

        a = join(f, VM_CONSOLE_PV);
        skip_join(a);
        b = join(f, VM_CONSOLE_PV);
        assert_int_equal(int_field(expect_type(b, "hello"), "viewers"), 2);
        expect_presence(b, 2, 0);
        expect_presence(a, 2, 0);
        c = join(f, VM_CONSOLE_PV);
        skip_join(c);
        expect_presence(a, 3, 0);
        expect_presence(b, 3, 0);
        assert_true(viewer_id(a) != viewer_id(b) && viewer_id(b) != viewer_id(c) && viewer_id(a) != viewer_id(c));
        assert_true(watched(f->vm, VM_CONSOLE_PV));

        client_leave(b);
        expect_presence(a, 2, 0);
        expect_presence(c, 2, 0);
        client_hang_up(c);
        expect_presence(a, 1, 0);
        expect_no_msg(a);
        expect_no_msg(b);
        client_leave(a);
        assert_false(watched(f->vm, VM_CONSOLE_PV));

        /* A new viewer makes a new hub. */
        a = join(f, VM_CONSOLE_PV);
        assert_int_equal(int_field(expect_type(a, "hello"), "viewers"), 1);
        assert_true(watched(f->vm, VM_CONSOLE_PV));
}

static void test_lease(void **state) {
        struct fixture *f = *state;
        struct client *a, *b, *c;
        json_int_t ia, ib, ic;

        a = join(f, VM_CONSOLE_PV);
        b = join(f, VM_CONSOLE_PV);
        c = join(f, VM_CONSOLE_PV);
        ia = viewer_id(a), ib = viewer_id(b), ic = viewer_id(c);
        a->seen = a->n_msgs, b->seen = b->n_msgs, c->seen = c->n_msgs;

        /* take: everyone sees it. */
        client_request(a, "{\"type\":\"lease\",\"action\":\"take\"}");
        expect_lease(a, "taken", ia, ia);
        expect_lease(b, "taken", ia, ia);
        expect_lease(c, "taken", ia, ia);

        /* Another take is refused, to that viewer only; the holder's own
         * take and a release by someone else change nothing. */
        client_request(b, "{\"type\":\"lease\",\"action\":\"take\"}");
        expect_error(b, "lease_held");
        client_request(a, "{\"type\":\"lease\",\"action\":\"take\"}");
        client_request(c, "{\"type\":\"lease\",\"action\":\"release\"}");
        client_request(a, "{\"type\":\"lease\",\"action\":\"steal\"}");
        expect_no_msg(a);
        expect_no_msg(b);
        expect_no_msg(c);

        /* A late joiner's hello and presence name the writer. */
        {
                struct client *d = join(f, VM_CONSOLE_PV);

                assert_int_equal(id_field(expect_type(d, "hello"), "writer"), ia);
                expect_presence(d, 4, ia);
                expect_presence(a, 4, ia);
                expect_presence(b, 4, ia);
                expect_presence(c, 4, ia);
                client_leave(d);
                expect_presence(a, 3, ia);
                expect_presence(b, 3, ia);
                expect_presence(c, 3, ia);
        }

        /* steal: the previous holder sees it stolen, like everyone. */
        client_request(b, "{\"type\":\"lease\",\"action\":\"steal\"}");
        expect_lease(a, "stolen", ib, ib);
        expect_lease(b, "stolen", ib, ib);
        expect_lease(c, "stolen", ib, ib);

        client_request(b, "{\"type\":\"lease\",\"action\":\"release\"}");
        expect_lease(a, "released", 0, ib);
        expect_lease(b, "released", 0, ib);
        expect_lease(c, "released", 0, ib);

        /* Stealing a free lease takes it. */
        client_request(c, "{\"type\":\"lease\",\"action\":\"steal\"}");
        expect_lease(a, "taken", ic, ic);
        expect_lease(b, "taken", ic, ic);
        expect_lease(c, "taken", ic, ic);

        /* The holder leaving frees it: "left", then the presence. */
        client_hang_up(c);
        expect_lease(a, "left", 0, ic);
        expect_presence(a, 2, 0);
        expect_lease(b, "left", 0, ic);
        expect_presence(b, 2, 0);
        expect_no_msg(a);
        expect_no_msg(b);
        expect_no_msg(c);

        /* And someone can take it again. */
        client_request(a, "{\"type\":\"lease\",\"action\":\"take\"}");
        expect_lease(a, "taken", ia, ia);
        expect_lease(b, "taken", ia, ia);

        /* The event log heard each change, and only the changes. */
        {
                char want[256];

                snprintf(want, sizeof(want), "taken:%u stolen:%u released:%u taken:%u left:%u taken:%u ",
                         (unsigned) ia, (unsigned) ib, (unsigned) ib, (unsigned) ic, (unsigned) ic, (unsigned) ia);
                assert_string_equal(f->vm->leases, want);
        }
}

/* Input only from the lease holder, exactly as sent. */
static void test_input(void **state) {
        struct fixture *f = *state;
        struct bytes *in = &f->vm->input[VM_CONSOLE_PV];
        struct client *a, *b;
        uint8_t *big;

        a = join(f, VM_CONSOLE_PV);
        b = join(f, VM_CONSOLE_PV);
        a->seen = a->n_msgs, b->seen = b->n_msgs;

        client_send(a, OP_BINARY, "ls\n", 3);
        expect_error(a, "no_lease");
        assert_int_equal(f->vm->writes, 0);
        assert_int_equal(in->len, 0);

        client_request(a, "{\"type\":\"lease\",\"action\":\"take\"}");
        a->seen = a->n_msgs, b->seen = b->n_msgs;
        client_send(a, OP_BINARY, "ls\n", 3);
        client_send(b, OP_BINARY, "rm -rf /\n", 9);
        expect_error(b, "no_lease");
        client_send(a, OP_BINARY, "\x00\xff\x1b[A", 5);
        assert_int_equal(f->vm->writes, 2);
        assert_int_equal(in->len, 8);
        assert_memory_equal(in->data, "ls\n\x00\xff\x1b[A", 8);

        /* The largest message, in one write. */
        big = malloc(CONSOLE_WS_MESSAGE_MAX);
        assert_non_null(big);
        for (size_t i = 0; i < CONSOLE_WS_MESSAGE_MAX; i++)
                big[i] = pattern_byte(i);
        client_send(a, OP_BINARY, big, CONSOLE_WS_MESSAGE_MAX);
        assert_int_equal(f->vm->writes, 3);
        assert_int_equal(in->len, 8 + CONSOLE_WS_MESSAGE_MAX);
        assert_memory_equal(in->data + 8, big, CONSOLE_WS_MESSAGE_MAX);
        free(big);

        /* The VM layer's refusal reaches the viewer, with its code. */
        f->vm->busy = true;
        client_send(a, OP_BINARY, "x", 1);
        expect_error(a, "console_busy");
        f->vm->busy = false;

        /* Nothing went to the other console. */
        assert_int_equal(f->vm->input[VM_CONSOLE_VUART].len, 0);
        expect_no_msg(a);
        expect_no_msg(b);
        assert_int_equal(a->out.len, 0);
}

/* Requests that are not requests; bytes the HTTP server read past the
 * upgrade request come first. */
static void test_requests(void **state) {
        struct fixture *f = *state;
        static const char *const bad[] = {
                "hello", "{}", "[]", "{\"type\":\"lease\"}", "{\"type\":\"lease\",\"action\":\"grab\"}",
                "{\"type\":\"SYNC\"}", "{\"type\":\"sync\",\"type\":\"sync\"}",
        };
        static const char take[] = "{\"type\":\"lease\",\"action\":\"take\"}";
        struct bytes extra = { 0 };
        struct client *a;

        frame(&extra, true, OP_TEXT, take, strlen(take));
        a = join_ex(f, "alpha", VM_CONSOLE_PV, false, 0, &extra, false);
        bytes_free(&extra);
        skip_join(a);
        expect_lease(a, "taken", viewer_id(a), viewer_id(a));

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                client_request(a, bad[i]);
                expect_error(a, "bad_request");
        }
        expect_no_msg(a);
        assert_false(a->got_close);
}

/* sync answers with the offset of the next binary byte: the hello's offset
 * plus the bytes received. */
static void test_sync(void **state) {
        struct fixture *f = *state;
        struct client *a, *b;
        json_int_t hello_offset;

        vm_output(f->vm, VM_CONSOLE_PV, 10 * KiB);
        a = join_from(f, VM_CONSOLE_PV, 1234);
        hello_offset = int_field(expect_type(a, "hello"), "offset");
        expect_type(a, "presence");
        client_request(a, "{\"type\":\"sync\"}");
        assert_int_equal(int_field(expect_type(a, "sync"), "offset"), hello_offset + (json_int_t) a->out.len);
        assert_int_equal(hello_offset + (json_int_t) a->out.len, 10 * KiB);

        vm_output(f->vm, VM_CONSOLE_PV, 333);
        settle(f);
        client_request(a, "{\"type\":\"sync\"}");
        assert_int_equal(int_field(expect_type(a, "sync"), "offset"), hello_offset + (json_int_t) a->out.len);
        assert_int_equal(hello_offset + (json_int_t) a->out.len, 10 * KiB + 333);

        /* A live viewer: its offset is the log's end. */
        b = join(f, VM_CONSOLE_PV);
        skip_join(b);
        client_request(b, "{\"type\":\"sync\"}");
        assert_int_equal(int_field(expect_type(b, "sync"), "offset"), 10 * KiB + 333);
        assert_int_equal(b->out.len, 0);
}

/* Bytes the log does not hold are announced with skipped: below its start
 * (old segments removed), or in a gap a power loss left. */
static void test_log_gaps(void **state) {
        struct fixture *f = *state;
        struct vm *gamma, *delta;
        struct client *a, *b;
        uint8_t data[50];
        unsigned skips;
        json_t *j;

        for (size_t i = 0; i < sizeof(data); i++)
                data[i] = pattern_byte(i);
        /* Offsets 50..99 held by no segment. */
        assert_int_equal(test_write_file(f->tmp, "gamma-pv/00000000000000000000.log", data, 50, 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "gamma-pv/00000000000000000100.log", data, 10, 0600), 0);
        /* Nothing below 1000. */
        assert_int_equal(test_write_file(f->tmp, "delta-pv/00000000000000001000.log", data, 5, 0600), 0);
        gamma = vm_add(f, "gamma", false);
        delta = vm_add(f, "delta", false);

        a = join_ex(f, "gamma", VM_CONSOLE_PV, true, 0, NULL, false);
        assert_int_equal(check_stream(a, gamma->logs[VM_CONSOLE_PV], &skips), 110);
        assert_int_equal(skips, 1);
        assert_int_equal(a->out.len, 60);
        skip_join(a);
        j = expect_type(a, "skipped");
        assert_int_equal(int_field(j, "from"), 50);
        assert_int_equal(int_field(j, "to"), 100);
        expect_no_msg(a);

        b = join_ex(f, "delta", VM_CONSOLE_PV, true, 0, NULL, false);
        j = expect_type(b, "hello");
        assert_int_equal(int_field(j, "offset"), 0);
        assert_int_equal(int_field(j, "log_start"), 1000);
        assert_int_equal(int_field(j, "log_end"), 1005);
        expect_type(b, "presence");
        j = expect_type(b, "skipped");
        assert_int_equal(int_field(j, "from"), 0);
        assert_int_equal(int_field(j, "to"), 1000);
        assert_int_equal(check_stream(b, delta->logs[VM_CONSOLE_PV], &skips), 1005);
        assert_int_equal(skips, 1);
        assert_int_equal(b->out.len, 5);
}

/* Guest output while a viewer reads nothing, in pieces. */
static void output_while_paused(struct fixture *f, size_t total) {
        for (size_t n = 0; n < total; n += 4 * KiB) {
                vm_output(f->vm, VM_CONSOLE_PV, 4 * KiB);
                settle(f);
        }
}

static void pause_client(struct client *cl) {
        /* For AF_UNIX the sender's buffer is what counts (console-ws sets
         * it); a small receive buffer does no harm. */
        assert_int_equal(setsockopt(cl->fd, SOL_SOCKET, SO_RCVBUF, &(int) { 4 * KiB }, sizeof(int)), 0);
        cl->paused = true;
}

/* A viewer whose socket stays full for the stall bound and that is far
 * behind when it reads again is moved on to the last LAG_KEEP bytes, told
 * with skipped; the bytes before and after are all there. */
static void test_stall_skip(void **state) {
        struct fixture *f = *state;
        struct console_log *log = f->vm->logs[VM_CONSOLE_PV];
        struct client *a, *b;
        unsigned skips;
        json_t *j = NULL;

        vm_output(f->vm, VM_CONSOLE_PV, 1000);
        a = join(f, VM_CONSOLE_PV);
        b = join(f, VM_CONSOLE_PV); /* reads all along */
        pause_client(a);
        output_while_paused(f, 512 * KiB);
        assert_true(a->out.len < 256 * KiB); /* what the queue and the socket hold */
        clock_skew += CONSOLE_VIEWER_STALL_USEC + 1000 * 1000;

        a->paused = false;
        settle(f);
        assert_int_equal(check_stream(a, log, &skips), console_log_end(log));
        assert_int_equal(skips, 1);
        for (size_t i = 0; i < a->n_msgs; i++)
                if (strcmp(string_field(a->msgs[i].j, "type"), "skipped") == 0)
                        j = a->msgs[i].j;
        assert_int_equal(int_field(j, "to"), console_log_end(log) - CONSOLE_VIEWER_LAG_KEEP);
        assert_true(int_field(j, "to") - int_field(j, "from") > CONSOLE_VIEWER_LAG_MAX - CONSOLE_VIEWER_LAG_KEEP);
        assert_int_equal(check_stream(b, log, &skips), console_log_end(log));
        assert_int_equal(skips, 0);

        /* Then it follows as before. */
        vm_output(f->vm, VM_CONSOLE_PV, 100);
        settle(f);
        assert_int_equal(check_stream(a, log, &skips), console_log_end(log));
        assert_int_equal(skips, 1);
}

/* Stuck long but not far behind, or far behind but not stuck long: every
 * byte, no skip. */
static void test_stall_no_skip(void **state) {
        struct fixture *f = *state;
        struct console_log *log = f->vm->logs[VM_CONSOLE_PV];
        struct client *a;
        unsigned skips;

        /* No more than LAG_MAX in all, well past what the queue and the
         * socket hold. */
        a = join(f, VM_CONSOLE_PV);
        pause_client(a);
        output_while_paused(f, CONSOLE_VIEWER_LAG_MAX);
        clock_skew += 10 * CONSOLE_VIEWER_STALL_USEC;
        a->paused = false;
        settle(f);
        assert_int_equal(check_stream(a, log, &skips), console_log_end(log));
        assert_int_equal(skips, 0);

        pause_client(a);
        output_while_paused(f, 512 * KiB);
        clock_skew += CONSOLE_VIEWER_STALL_USEC / 2;
        a->paused = false;
        settle(f);
        assert_int_equal(check_stream(a, log, &skips), console_log_end(log));
        assert_int_equal(skips, 0);
        assert_int_equal(a->out.len, console_log_end(log));
}

/* A client that reads slowly, but keeps reading, gets every byte: a replay
 * from 0, with live output coming for a while. Each step it reads 16 KiB
 * and a second passes, so its queue takes longer than the stall bound to
 * drain, while its socket never stays full that long. (The kernel wakes a
 * writer only once most of the socket's buffer is free, 3 steps here: a
 * client that reads much more slowly looks stalled.) */
static void test_slow_reader(void **state) {
        struct fixture *f = *state;
        struct console_log *log = f->vm->logs[VM_CONSOLE_PV];
        struct client *a;
        unsigned skips;

        for (int i = 0; i < 16; i++)
                vm_output(f->vm, VM_CONSOLE_PV, 64 * KiB);
        a = join_ex(f, "alpha", VM_CONSOLE_PV, true, 0, NULL, true); /* only the reads below */
        for (int step = 1;; step++) {
                size_t n;

                assert_true(step < 1000);
                n = client_read(a, 16 * KiB);
                clock_skew += 1000 * 1000;
                if (step <= 20)
                        vm_output(f->vm, VM_CONSOLE_PV, 4 * KiB);
                settle(f);
                if (step > 20 && n == 0)
                        break;
        }
        assert_int_equal(check_stream(a, log, &skips), console_log_end(log));
        assert_int_equal(skips, 0);
        assert_int_equal(a->out.len, console_log_end(log));
}

/* A change of state or boot count reaches the viewers of both consoles;
 * output alone sends no vm message. */
static void test_vm_state(void **state) {
        struct fixture *f = *state;
        struct client *a, *b;
        json_t *j;

        a = join(f, VM_CONSOLE_PV);
        b = join(f, VM_CONSOLE_VUART);
        a->seen = a->n_msgs, b->seen = b->n_msgs;

        vm_set_state(f->vm, VM_PAUSED, 1);
        settle(f);
        for (int i = 0; i < 2; i++) {
                j = expect_type(i ? b : a, "vm");
                assert_string_equal(string_field(j, "state"), "paused");
                assert_int_equal(int_field(j, "boot_count"), 1);
                assert_int_equal(json_object_size(j), 3);
        }

        vm_output(f->vm, VM_CONSOLE_PV, 10);
        vm_set_state(f->vm, VM_PAUSED, 1); /* no change */
        settle(f);
        expect_no_msg(a);
        expect_no_msg(b);
        assert_int_equal(a->out.len, 10);

        /* A reboot: same state, next boot. */
        vm_set_state(f->vm, VM_RUNNING, 1);
        vm_set_state(f->vm, VM_RUNNING, 2);
        settle(f);
        for (int i = 0; i < 2; i++) {
                struct client *cl = i ? b : a;

                j = expect_type(cl, "vm");
                assert_string_equal(string_field(j, "state"), "running");
                assert_int_equal(int_field(j, "boot_count"), 1);
                j = expect_type(cl, "vm");
                assert_string_equal(string_field(j, "state"), "running");
                assert_int_equal(int_field(j, "boot_count"), 2);
                expect_no_msg(cl);
        }

        /* A late joiner's hello has the current state. */
        vm_set_state(f->vm, VM_STOPPED, 2);
        j = expect_type(join(f, VM_CONSOLE_PV), "hello");
        assert_string_equal(string_field(j, "vm_state"), "stopped");
        assert_int_equal(int_field(j, "boot_count"), 2);
}

/* Deleting the VM closes every viewer of its consoles with 4404, a stuck
 * one too once it reads; the freed VM and logs are never touched again. */
static void test_vm_deleted(void **state) {
        struct fixture *f = *state;
        struct client *a, *b, *c, *d, *other;
        struct vm *beta = vm_add(f, "beta", false);

        vm_output(f->vm, VM_CONSOLE_PV, 10);
        a = join(f, VM_CONSOLE_PV);
        b = join(f, VM_CONSOLE_PV);
        c = join(f, VM_CONSOLE_VUART);
        d = join(f, VM_CONSOLE_PV);
        other = join_ex(f, "beta", VM_CONSOLE_PV, false, 0, NULL, false);
        client_request(b, "{\"type\":\"lease\",\"action\":\"take\"}");
        pause_client(d);
        output_while_paused(f, 256 * KiB);

        vm_delete(f, f->vm);
        settle(f);
        expect_closed(a, CONSOLE_WS_CLOSE_VM_DELETED);
        expect_closed(b, CONSOLE_WS_CLOSE_VM_DELETED);
        expect_closed(c, CONSOLE_WS_CLOSE_VM_DELETED);
        assert_false(d->got_close);
        d->paused = false;
        settle(f);
        expect_closed(d, CONSOLE_WS_CLOSE_VM_DELETED);
        assert_false(other->got_close);

        /* A viewer that comes for it afterwards is turned away the same way. */
        a = join(f, VM_CONSOLE_PV);
        expect_closed(a, CONSOLE_WS_CLOSE_VM_DELETED);
        assert_int_equal(a->n_msgs, 0);
        a = join_ex(f, "nosuchvm", VM_CONSOLE_PV, false, 0, NULL, false);
        expect_closed(a, CONSOLE_WS_CLOSE_VM_DELETED);

        /* The other VM's viewer did not notice. */
        vm_output(beta, VM_CONSOLE_PV, 5);
        settle(f);
        assert_int_equal(other->out.len, 5);
        expect_type(other, "hello");
        expect_presence(other, 1, 0);
        expect_no_msg(other);
}

/* CONSOLE_VIEWERS_MAX per console, CONSOLE_VIEWERS_TOTAL_MAX in all: the
 * admission says no, and a viewer that comes anyway is closed with 1008
 * without the others hearing of it. */
static void test_viewers_max(void **state) {
        struct fixture *f = *state;
        struct vm *beta = vm_add(f, "beta", true);
        struct error err = { 0 };
        struct client *first, *late;

        for (int i = 0; i < CONSOLE_VIEWERS_MAX; i++) {
                assert_int_equal(console_ws_admit(f->hubs, f->vm, VM_CONSOLE_PV, &err), 0);
                late = join(f, VM_CONSOLE_PV);
                assert_false(late->got_close);
        }
        first = f->clients[0];
        assert_int_equal(int_field(first->msgs[first->n_msgs - 1].j, "viewers"), CONSOLE_VIEWERS_MAX);
        first->seen = first->n_msgs;

        assert_int_equal(console_ws_admit(f->hubs, f->vm, VM_CONSOLE_PV, &err), -EUSERS);
        assert_string_equal(error_code_name(err.code), "too_many_viewers"); /* 503: test-api */
        late = join(f, VM_CONSOLE_PV);
        expect_closed(late, WS_CLOSE_POLICY);
        assert_int_equal(late->n_msgs, 0);
        expect_no_msg(first);

        /* The other console of the same VM is another hub. */
        for (int i = 0; i < CONSOLE_VIEWERS_TOTAL_MAX - CONSOLE_VIEWERS_MAX; i++) {
                assert_int_equal(console_ws_admit(f->hubs, f->vm, VM_CONSOLE_VUART, &err), 0);
                assert_false(join(f, VM_CONSOLE_VUART)->got_close);
        }

        /* Then all are taken. */
        err = (struct error) { 0 };
        assert_int_equal(console_ws_admit(f->hubs, beta, VM_CONSOLE_PV, &err), -EUSERS);
        assert_string_equal(error_code_name(err.code), "too_many_viewers"); /* 503: test-api */
        late = join_ex(f, "beta", VM_CONSOLE_PV, false, 0, NULL, false);
        expect_closed(late, WS_CLOSE_POLICY);
        assert_false(watched(beta, VM_CONSOLE_PV)); /* its room went with it */

        /* One leaving makes room. */
        client_leave(first);
        assert_int_equal(console_ws_admit(f->hubs, beta, VM_CONSOLE_PV, &err), 0);
        late = join_ex(f, "beta", VM_CONSOLE_PV, false, 0, NULL, false);
        assert_false(late->got_close);
        assert_int_equal(int_field(expect_type(late, "hello"), "viewers"), 1);
}

/* Freeing the hubs (the agent stops, its event loop done) tells every
 * viewer 1001 at once, ahead of output still queued (it is in the log), and
 * gives every socket back; ASan checks that nothing leaks. */
static void test_hubs_free(void **state) {
        struct fixture *f = *state;
        struct client *a, *b, *c;

        vm_output(f->vm, VM_CONSOLE_PV, 100);
        a = join(f, VM_CONSOLE_PV);
        b = join_from(f, VM_CONSOLE_PV, 0);
        c = join(f, VM_CONSOLE_VUART);
        client_request(b, "{\"type\":\"lease\",\"action\":\"take\"}");
        vm_output(f->vm, VM_CONSOLE_PV, 50); /* queued, not sent yet */

        f->hubs = console_ws_free(f->hubs);
        assert_true(a->done && b->done && c->done);
        assert_false(watched(f->vm, VM_CONSOLE_PV));
        assert_false(watched(f->vm, VM_CONSOLE_VUART));
        for (int i = 0; i < 3; i++) {
                struct client *cl = i == 0 ? a : i == 1 ? b : c;

                client_read(cl, SIZE_MAX);
                assert_true(cl->eof);
                assert_true(cl->got_close);
                assert_int_equal(cl->close_code, WS_CLOSE_GOING_AWAY);
        }
        assert_int_equal(a->out.len, 0);
        assert_int_equal(b->out.len, 100);
        assert_int_equal(check_stream(b, f->vm->logs[VM_CONSOLE_PV], NULL), 100);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_hello_live, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hello_from, setup, teardown),
                cmocka_unit_test_setup_teardown(test_replay_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_presence, setup, teardown),
                cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
                cmocka_unit_test_setup_teardown(test_input, setup, teardown),
                cmocka_unit_test_setup_teardown(test_requests, setup, teardown),
                cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
                cmocka_unit_test_setup_teardown(test_log_gaps, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stall_skip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_stall_no_skip, setup, teardown),
                cmocka_unit_test_setup_teardown(test_slow_reader, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_state, setup, teardown),
                cmocka_unit_test_setup_teardown(test_vm_deleted, setup, teardown),
                cmocka_unit_test_setup_teardown(test_viewers_max, setup, teardown),
                cmocka_unit_test_setup_teardown(test_hubs_free, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
