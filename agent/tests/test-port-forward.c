/* test-port-forward.c: the port forwards (port-forward.c) between a
 * websocket client on a socketpair and a TCP server on 127.0.0.1, both
 * played by the test in this thread around sd-event: echo, a guest that
 * closes or resets, a client that closes or breaks the protocol, a refused,
 * an unreachable and a timed-out connect, transfers of some MiB each way
 * checked byte for byte with a slow reader on the other side (the forward's
 * buffers stay within their bound, and fill up to where they stop taking
 * more), the limits, and the agent stopping. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "port-forward.h"
#include "test-ws-client.h"
#include "ws.h"

#define KiB 1024
#define MiB (1024 * 1024)
/* What one forward may hold (port-forward.h): its queue to the guest, one
 * read from the guest, its websocket's queue. */
#define FORWARD_BUFFERED_MAX                                                                                      \
        (PORT_FORWARD_TCP_QUEUE + PORT_FORWARD_MESSAGE_MAX + WS_FEED_MAX + PORT_FORWARD_READ_MAX +                 \
         PORT_FORWARD_WS_QUEUE)

/* One forward's two ends, as the test holds them. */
struct client {
        int cfd;                /* the websocket client's end */
        int sfd;                /* the agent's end, until done() closes it */
        bool done;
        int gfd;                /* the guest's end, once accepted */
        struct bytes rx;        /* read by the client, not parsed yet */
        struct bytes got;       /* the binary messages' bytes */
        bool sent_close;        /* the client closed first: the close it gets is the echo */
        bool got_close;
        uint16_t close_code;
        char close_reason[WS_REASON_MAX + 1];
};

struct fixture {
        sd_event *event;
        struct port_forwards *pf;
        int lfd;                        /* the guest's listening socket */
        struct sockaddr_in addr;        /* where it listens */
};

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static uint8_t pattern_byte(uint64_t o) {
        return (uint8_t) (o ^ (o >> 7) ^ (o >> 15) ^ (o >> 23));
}

static void on_done(void *arg) {
        struct client *c = arg;

        assert_false(c->done);
        c->done = true;
        close(c->sfd);
        c->sfd = -1;
}

static void set_nonblock(int fd) {
        assert_int_equal(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static int listen_on_loopback(int backlog, struct sockaddr_in *ret) {
        socklen_t len = sizeof(*ret);
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

        assert_true(fd >= 0);
        *ret = (struct sockaddr_in) { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        assert_int_equal(bind(fd, (struct sockaddr *) ret, sizeof(*ret)), 0);
        assert_int_equal(listen(fd, backlog), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *) ret, &len), 0);
        return fd;
}

static int setup_with(void **state, const struct port_forwards_config *config) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || sd_event_new(&f->event) < 0 || port_forwards_new(f->event, config, &f->pf) < 0)
                return -1;
        f->lfd = listen_on_loopback(16, &f->addr);
        *state = f;
        return 0;
}

static int setup(void **state) {
        /* A short linger and connect timeout, so that their tests are quick. */
        const struct port_forwards_config config = {
                .max_total = 6,
                .max_per_vm = 4,
                .connect_timeout_usec = 200 * 1000,
                .linger_usec = 200 * 1000,
        };

        return setup_with(state, &config);
}

static int teardown(void **state) {
        struct fixture *f = *state;

        port_forwards_free(f->pf);
        close(f->lfd);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

/* ---- the client and the guest ---- */

static void client_free(struct client *c) {
        if (c->cfd >= 0)
                close(c->cfd);
        if (c->gfd >= 0)
                close(c->gfd);
        bytes_free(&c->rx);
        bytes_free(&c->got);
        assert_true(c->done); /* the forward gave its socket back */
        free(c);
}

/* A forward to target (the fixture's server if NULL) with a client on it;
 * extra is what the HTTP server read past the request. */
static struct client *forward_ex(struct fixture *f, const char *vm, const struct sockaddr_in *target,
                                 const void *extra, size_t extra_size) {
        struct client *c = calloc(1, sizeof(*c));
        struct port_forward *fw = NULL;
        struct error err = { 0 };
        int sv[2];

        assert_non_null(c);
        c->gfd = -1;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        c->sfd = sv[0];
        c->cfd = sv[1];
        set_nonblock(c->cfd);
        if (port_forward_reserve(f->pf, vm, 22, &fw, &err) < 0)
                fail_msg("reserve: %s", err.message);
        port_forward_start(fw, target ? target : &f->addr, c->sfd, extra, extra_size, on_done, c);
        return c;
}

static struct client *forward(struct fixture *f) {
        return forward_ex(f, "vm", NULL, NULL, 0);
}

/* Reads and parses what the agent sent the client; answers its close. */
static void client_read(struct client *c, size_t max) {
        uint8_t buf[16 * KiB];
        struct rframe fr;

        while (max > 0) {
                ssize_t n = read(c->cfd, buf, max < sizeof(buf) ? max : sizeof(buf));

                if (n <= 0)
                        break;
                bytes_add(&c->rx, buf, (size_t) n);
                max -= (size_t) n;
        }
        while (parse_frame(&c->rx, &fr)) {
                if (fr.opcode == OP_BINARY) {
                        assert_false(c->got_close);
                        bytes_add(&c->got, fr.payload, fr.len);
                } else if (fr.opcode == OP_CLOSE) {
                        struct bytes b = { 0 };

                        assert_false(c->got_close);
                        assert_true(fr.len >= 2);
                        c->got_close = true;
                        c->close_code = (uint16_t) (fr.payload[0] << 8 | fr.payload[1]);
                        snprintf(c->close_reason, sizeof(c->close_reason), "%.*s", (int) fr.len - 2,
                                 (char *) fr.payload + 2);
                        if (!c->sent_close) {
                                close_frame(&b, c->close_code, NULL, 0);
                                (void) send(c->cfd, b.data, b.len, MSG_NOSIGNAL);
                                bytes_free(&b);
                        }
                } else
                        fail_msg("unexpected frame, opcode %u", fr.opcode);
                free(fr.payload);
        }
}

/* One turn of the loop (waiting at most ms), then the client reads. */
static void turn(struct fixture *f, struct client *c, uint64_t ms) {
        assert_true(sd_event_run(f->event, ms * 1000) >= 0);
        if (c && c->cfd >= 0)
                client_read(c, SIZE_MAX);
}

/* Turns until cond holds (at most 5 s). */
#define RUN_UNTIL(f, c, cond)                                                   \
        do {                                                                    \
                uint64_t _t0 = now_ms();                                        \
                while (!(cond)) {                                               \
                        if (now_ms() - _t0 > 5000)                              \
                                fail_msg("timed out waiting for %s", #cond);    \
                        turn((f), (c), 5);                                      \
                }                                                               \
        } while (0)

static void guest_accept(struct fixture *f, struct client *c) {
        uint64_t t0 = now_ms();

        while ((c->gfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) < 0) {
                assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
                if (now_ms() - t0 > 5000)
                        fail_msg("the forward never connected");
                turn(f, c, 5);
        }
}

/* A binary message from the client. */
static void client_send(struct client *c, const void *data, size_t len) {
        struct bytes b = { 0 };

        frame(&b, true, OP_BINARY, data, len);
        assert_int_equal(write(c->cfd, b.data, b.len), (ssize_t) b.len);
        bytes_free(&b);
}

/* The client's close frame. */
static void client_close(struct client *c, uint16_t code, const char *reason) {
        struct bytes b = { 0 };

        close_frame(&b, code, reason, reason ? strlen(reason) : 0);
        assert_int_equal(write(c->cfd, b.data, b.len), (ssize_t) b.len);
        c->sent_close = true;
        bytes_free(&b);
}

/* Both ends go away; the forward ends. */
static void finish(struct fixture *f, struct client *c) {
        close(c->cfd);
        c->cfd = -1;
        if (c->gfd >= 0)
                close(c->gfd);
        c->gfd = -1;
        RUN_UNTIL(f, c, c->done && port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
}

/* Reads what the guest got, at most max bytes, into got. Returns
 * false at EOF. */
static bool guest_read(struct client *c, struct bytes *got, size_t max) {
        uint8_t buf[16 * KiB];

        while (max > 0) {
                ssize_t n = read(c->gfd, buf, max < sizeof(buf) ? max : sizeof(buf));

                if (n == 0)
                        return false;
                if (n < 0) {
                        assert_true(errno == EAGAIN || errno == EWOULDBLOCK);
                        return true;
                }
                bytes_add(got, buf, (size_t) n);
                max -= (size_t) n;
        }
        return true;
}

static void expect_closed(struct fixture *f, struct client *c, uint16_t code, const char *reason_part) {
        RUN_UNTIL(f, c, c->got_close && c->done);
        assert_int_equal(c->close_code, code);
        if (reason_part && !strstr(c->close_reason, reason_part))
                fail_msg("close reason \"%s\" lacks \"%s\"", c->close_reason, reason_part);
}

/* ---- tests ---- */

/* Bytes both ways; the guest's close closes the websocket with 1000, after
 * what it sent. */
static void test_echo(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        struct bytes got = { 0 };
        char target[64];

        guest_accept(f, c);
        client_send(c, "hello", 5);
        RUN_UNTIL(f, c, (guest_read(c, &got, SIZE_MAX), got.len == 5));
        assert_memory_equal(got.data, "hello", 5);
        assert_int_equal(write(c->gfd, "world", 5), 5);
        RUN_UNTIL(f, c, c->got.len == 5);
        assert_memory_equal(c->got.data, "world", 5);
        assert_int_equal(port_forwards_count(f->pf, NULL), 1);
        assert_int_equal(port_forwards_count(f->pf, "vm"), 1);
        assert_int_equal(port_forwards_count(f->pf, "other"), 0);

        /* The guest's last words, then its close. */
        assert_int_equal(write(c->gfd, "bye", 3), 3);
        close(c->gfd);
        c->gfd = -1;
        snprintf(target, sizeof(target), "127.0.0.1:%u closed", ntohs(f->addr.sin_port));
        expect_closed(f, c, WS_CLOSE_NORMAL, target);
        assert_int_equal(c->got.len, 8);
        assert_memory_equal(c->got.data, "worldbye", 8);
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        bytes_free(&got);
        client_free(c);
}

/* What the client sent before the upgrade was done (extra) and before the
 * connect completed reaches the guest, in order. */
static void test_bytes_before_connect(void **state) {
        struct fixture *f = *state;
        struct bytes extra = { 0 }, got = { 0 };
        struct client *c;

        frame(&extra, true, OP_BINARY, "early ", 6);
        c = forward_ex(f, "vm", NULL, extra.data, extra.len);
        client_send(c, "and then", 8);
        guest_accept(f, c);
        RUN_UNTIL(f, c, (guest_read(c, &got, SIZE_MAX), got.len == 14));
        assert_memory_equal(got.data, "early and then", 14);
        bytes_free(&got);
        bytes_free(&extra);
        finish(f, c);
}

/* The client's close: its bytes go out, then the guest sees EOF; the
 * forward ends once the guest closes too, or after the linger. */
static void test_client_close(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        struct bytes got = { 0 };
        uint64_t t0;

        guest_accept(f, c);
        client_send(c, "last", 4);
        client_close(c, WS_CLOSE_NORMAL, "done");
        RUN_UNTIL(f, c, c->got_close && c->done);
        assert_int_equal(c->close_code, WS_CLOSE_NORMAL); /* the echo */
        /* The guest reads the bytes, then EOF; it closes: the forward is over. */
        RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX));
        assert_int_equal(got.len, 4);
        assert_memory_equal(got.data, "last", 4);
        assert_int_equal(port_forwards_count(f->pf, NULL), 1);
        close(c->gfd);
        c->gfd = -1;
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);

        /* A guest that keeps talking and never closes: the linger ends it. */
        c = forward(f);
        guest_accept(f, c);
        assert_int_equal(write(c->gfd, "ignored", 7), 7);
        client_close(c, WS_CLOSE_GOING_AWAY, NULL);
        t0 = now_ms();
        RUN_UNTIL(f, c, c->done);
        got.len = 0;
        RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX)); /* our side's EOF */
        while (port_forwards_count(f->pf, NULL) > 0) {
                assert_int_equal(write(c->gfd, "more", 4), 4);
                turn(f, c, 10);
                if (now_ms() - t0 > 5000)
                        fail_msg("the linger did not end the forward");
        }
        assert_true(now_ms() - t0 >= 150);
        client_free(c);

        /* A client that goes away without a close frame ends it the same way. */
        c = forward(f);
        guest_accept(f, c);
        close(c->cfd);
        c->cfd = -1;
        RUN_UNTIL(f, c, c->done);
        got.len = 0;
        RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX));
        close(c->gfd);
        c->gfd = -1;
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
        bytes_free(&got);
}

/* The client's end of data (an empty message): the guest sees EOF after
 * the bytes before it, and its answer still comes; bytes after it are a
 * protocol error. */
static void test_client_eof(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        struct bytes got = { 0 };

        guest_accept(f, c);
        client_send(c, "request", 7);
        client_send(c, "", 0);
        RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX));
        assert_int_equal(got.len, 7);
        assert_memory_equal(got.data, "request", 7);
        assert_int_equal(write(c->gfd, "answer", 6), 6);
        RUN_UNTIL(f, c, c->got.len == 6);
        assert_memory_equal(c->got.data, "answer", 6);
        assert_false(c->got_close);
        close(c->gfd);
        c->gfd = -1;
        expect_closed(f, c, WS_CLOSE_NORMAL, "closed the connection");
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);

        c = forward(f);
        guest_accept(f, c);
        client_send(c, "", 0);
        client_send(c, "more", 4);
        expect_closed(f, c, WS_CLOSE_PROTOCOL_ERROR, "end of data");
        got.len = 0;
        RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX));
        assert_int_equal(got.len, 0);
        bytes_free(&got);
        finish(f, c);
}

static void test_refused(void **state) {
        struct fixture *f = *state;
        struct sockaddr_in closed;
        struct client *c;
        int fd = listen_on_loopback(1, &closed);

        close(fd); /* nothing listens there now */
        c = forward_ex(f, "vm", &closed, NULL, 0);
        client_send(c, "lost", 4);
        expect_closed(f, c, PORT_FORWARD_REFUSED, "refused");
        assert_int_equal(c->got.len, 0);
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
}

/* A connect that fails otherwise: TCP to the broadcast address has no
 * route (ENETUNREACH, or whatever this host says). */
static void test_unreachable(void **state) {
        struct fixture *f = *state;
        struct sockaddr_in bcast = { .sin_family = AF_INET, .sin_port = htons(9),
                                     .sin_addr.s_addr = htonl(INADDR_BROADCAST) };
        struct client *c = forward_ex(f, "vm", &bcast, NULL, 0);

        expect_closed(f, c, PORT_FORWARD_UNREACHABLE, "cannot connect to 255.255.255.255:9");
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
}

/* A guest that does not answer the SYN: a listener whose accept queue is
 * full drops it. */
static void test_connect_timeout(void **state) {
        struct fixture *f = *state;
        struct sockaddr_in full;
        int lfd = listen_on_loopback(0, &full), fillers[4];
        struct client *c;
        uint64_t t0;

        for (size_t i = 0; i < ELEMENTSOF(fillers); i++) {
                fillers[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
                assert_true(fillers[i] >= 0);
                assert_true(connect(fillers[i], (struct sockaddr *) &full, sizeof(full)) == 0 ||
                            errno == EINPROGRESS);
        }
        t0 = now_ms();
        c = forward_ex(f, "vm", &full, NULL, 0);
        expect_closed(f, c, PORT_FORWARD_TIMEOUT, "did not answer");
        assert_true(now_ms() - t0 >= 190);
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);

        /* The client may leave while the connect is under way. */
        c = forward_ex(f, "vm", &full, NULL, 0);
        turn(f, c, 5);
        close(c->cfd);
        c->cfd = -1;
        RUN_UNTIL(f, c, c->done && port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
        for (size_t i = 0; i < ELEMENTSOF(fillers); i++)
                close(fillers[i]);
        close(lfd);
}

/* A guest that resets the connection: 4004, after what it sent before. */
static void test_reset(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        struct linger lg = { .l_onoff = 1, .l_linger = 0 };

        guest_accept(f, c);
        assert_int_equal(write(c->gfd, "abc", 3), 3);
        RUN_UNTIL(f, c, c->got.len == 3);
        assert_int_equal(setsockopt(c->gfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
        close(c->gfd);
        c->gfd = -1;
        expect_closed(f, c, PORT_FORWARD_RESET, "reset");
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
}

/* A text message is not what this websocket carries: 1003. */
static void test_text_refused(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        struct bytes b = { 0 };

        guest_accept(f, c);
        frame(&b, true, OP_TEXT, "ls", 2);
        assert_int_equal(write(c->cfd, b.data, b.len), (ssize_t) b.len);
        expect_closed(f, c, WS_CLOSE_UNSUPPORTED_DATA, "binary");
        /* The guest sees our side end. */
        {
                struct bytes got = { 0 };

                RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX));
                assert_int_equal(got.len, 0);
                bytes_free(&got);
        }
        bytes_free(&b);
        client_free(c);
}

enum { TRANSFER = 6 * MiB };

/* Client to guest, 6 MiB, the guest reading slowly: the forward stops
 * receiving once its queue to the guest is full, stays within its bound,
 * and every byte arrives in order. */
static void test_upload_slow_guest(void **state) {
        struct fixture *f = *state;
        struct client *c;
        struct bytes wire = { 0 }, got = { 0 };
        size_t sent = 0, max_buffered = 0;
        unsigned turns = 0;
        int small = 16 * KiB;
        uint64_t t0 = now_ms();
        uint8_t *chunk = malloc(16 * KiB);

        assert_non_null(chunk);
        /* A small receive window from the handshake on (set later, it
         * would shrink one already offered). */
        assert_int_equal(setsockopt(f->lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        c = forward(f);
        guest_accept(f, c);
        while (got.len < TRANSFER) {
                size_t b;

                /* The client writes as much as its socket takes, one frame
                 * of 16 KiB at a time. */
                while (sent < TRANSFER && wire.len == 0) {
                        size_t n = TRANSFER - sent < 16 * KiB ? TRANSFER - sent : 16 * KiB;

                        for (size_t i = 0; i < n; i++)
                                chunk[i] = pattern_byte(sent + i);
                        frame(&wire, true, OP_BINARY, chunk, n);
                        sent += n;
                }
                if (wire.len > 0) {
                        ssize_t n = write(c->cfd, wire.data, wire.len);

                        if (n > 0) {
                                memmove(wire.data, wire.data + n, wire.len - (size_t) n);
                                wire.len -= (size_t) n;
                        } else
                                assert_int_equal(errno, EAGAIN);
                }
                turn(f, c, 0);
                b = port_forwards_buffered(f->pf);
                assert_true(b <= FORWARD_BUFFERED_MAX);
                if (b > max_buffered)
                        max_buffered = b;
                /* The guest: a few KiB now and then. */
                if (++turns % 3 == 0)
                        assert_true(guest_read(c, &got, 8 * KiB));
                if (now_ms() - t0 > 20000)
                        fail_msg("stuck at %zu bytes of %d (sent %zu, buffered %zu)", got.len, TRANSFER, sent,
                                 port_forwards_buffered(f->pf));
                assert_false(c->got_close);
        }
        for (size_t i = 0; i < got.len; i++)
                if (got.data[i] != pattern_byte(i))
                        fail_msg("byte %zu differs", i);
        /* The queue to the guest filled up to where receiving stops. */
        assert_true(max_buffered >= PORT_FORWARD_TCP_QUEUE);
        free(chunk);
        bytes_free(&wire);
        bytes_free(&got);
        finish(f, c);
}

/* Guest to client, 6 MiB, the client reading slowly: the forward stops
 * reading the guest while the websocket's queue is full, stays within its
 * bound, and every byte arrives in order; then the guest's close. */
static void test_download_slow_client(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        size_t written = 0, max_buffered = 0;
        int small = 16 * KiB;
        uint64_t t0 = now_ms();
        uint8_t chunk[16 * KiB];
        unsigned turns = 0;

        assert_int_equal(setsockopt(c->sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        assert_int_equal(setsockopt(c->cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        guest_accept(f, c);
        while (c->got.len < TRANSFER) {
                size_t b;

                /* The guest writes as fast as its socket takes it. */
                while (written < TRANSFER) {
                        size_t n = TRANSFER - written < sizeof(chunk) ? TRANSFER - written : sizeof(chunk);
                        ssize_t w;

                        for (size_t i = 0; i < n; i++)
                                chunk[i] = pattern_byte(written + i);
                        w = write(c->gfd, chunk, n);
                        if (w < 0) {
                                assert_int_equal(errno, EAGAIN);
                                break;
                        }
                        written += (size_t) w;
                }
                if (written == TRANSFER && c->gfd >= 0) {
                        close(c->gfd);
                        c->gfd = -1;
                }
                assert_true(sd_event_run(f->event, 0) >= 0);
                b = port_forwards_buffered(f->pf);
                assert_true(b <= FORWARD_BUFFERED_MAX);
                if (b > max_buffered)
                        max_buffered = b;
                /* The client: a few KiB now and then. */
                if (++turns % 3 == 0)
                        client_read(c, 8 * KiB);
                if (now_ms() - t0 > 30000)
                        fail_msg("stuck at %zu bytes of %d", c->got.len, TRANSFER);
        }
        for (size_t i = 0; i < c->got.len; i++)
                if (c->got.data[i] != pattern_byte(i))
                        fail_msg("byte %zu differs", i);
        assert_int_equal(c->got.len, TRANSFER);
        /* The websocket's queue filled up to where reading stops. */
        assert_true(max_buffered >= PORT_FORWARD_WS_HIGH);
        expect_closed(f, c, WS_CLOSE_NORMAL, "closed the connection");
        client_free(c);
}

/* The client's end of data, then a long answer that the client reads
 * slowly, the guest closing once it has written it: both directions are
 * shut while most of it still waits in the agent's socket, and all of it
 * arrives before the 1000. */
static void test_answer_after_both_ends(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f);
        size_t written = 0;
        int small = 16 * KiB;
        uint64_t t0 = now_ms();
        uint8_t chunk[16 * KiB];
        unsigned turns = 0;

        assert_int_equal(setsockopt(c->sfd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
        assert_int_equal(setsockopt(c->cfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
        guest_accept(f, c);
        client_send(c, "", 0);
        {
                struct bytes got = { 0 };

                RUN_UNTIL(f, c, !guest_read(c, &got, SIZE_MAX));
                bytes_free(&got);
        }
        while (!c->got_close) {
                while (c->gfd >= 0 && written < 2 * MiB) {
                        size_t n = 2 * MiB - written < sizeof(chunk) ? 2 * MiB - written : sizeof(chunk);
                        ssize_t w;

                        for (size_t i = 0; i < n; i++)
                                chunk[i] = pattern_byte(written + i);
                        w = write(c->gfd, chunk, n);
                        if (w < 0) {
                                assert_int_equal(errno, EAGAIN);
                                break;
                        }
                        written += (size_t) w;
                }
                if (written == 2 * MiB && c->gfd >= 0) {
                        close(c->gfd);
                        c->gfd = -1;
                }
                assert_true(sd_event_run(f->event, 1000) >= 0);
                if (++turns % 4 == 0)
                        client_read(c, 4 * KiB);
                if (now_ms() - t0 > 20000)
                        fail_msg("stuck at %zu bytes", c->got.len);
        }
        assert_int_equal(c->close_code, WS_CLOSE_NORMAL);
        assert_int_equal(c->got.len, 2 * MiB);
        for (size_t i = 0; i < c->got.len; i++)
                if (c->got.data[i] != pattern_byte(i))
                        fail_msg("byte %zu differs", i);
        RUN_UNTIL(f, c, c->done && port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
}

/* In all and per VM; reserved forwards count; over a limit the reservation
 * is refused, naming the limit. */
static void test_limits(void **state) {
        struct fixture *f = *state; /* at most 6, 4 per VM */
        struct port_forward *r[8];
        struct error err = { 0 };
        struct client *c;

        for (int i = 0; i < 4; i++)
                assert_int_equal(port_forward_reserve(f->pf, "a", 22, &r[i], &err), 0);
        assert_true(port_forward_reserve(f->pf, "a", 22, &r[4], &err) < 0);
        assert_string_equal(error_code_name(err.code), "too_many_forwards");
        assert_non_null(strstr(err.message, "VM a already has 4 port forwards"));
        assert_int_equal(port_forward_reserve(f->pf, "b", 80, &r[4], &err), 0);
        c = forward_ex(f, "b", NULL, NULL, 0); /* the sixth, started */
        assert_int_equal(port_forwards_count(f->pf, NULL), 6);
        assert_int_equal(port_forwards_count(f->pf, "a"), 4);
        assert_int_equal(port_forwards_count(f->pf, "b"), 2);
        err = (struct error) { 0 };
        assert_true(port_forward_reserve(f->pf, "c", 22, &r[5], &err) < 0);
        assert_string_equal(error_code_name(err.code), "too_many_forwards");
        assert_non_null(strstr(err.message, "already carries 6 port forwards"));

        /* One that never starts gives its place back. */
        port_forward_unreserve(r[0]);
        assert_int_equal(port_forward_reserve(f->pf, "c", 22, &r[5], &err), 0);
        for (int i = 1; i < 6; i++)
                port_forward_unreserve(r[i]);
        /* So does one that ends. */
        guest_accept(f, c);
        close(c->gfd);
        c->gfd = -1;
        expect_closed(f, c, WS_CLOSE_NORMAL, NULL);
        RUN_UNTIL(f, c, port_forwards_count(f->pf, NULL) == 0);
        client_free(c);
}

/* The agent stops: 1001 to the clients, their sockets given back; a
 * reservation left over is freed by its own unreserve or start. */
static void test_agent_stops(void **state) {
        struct fixture *f = *state;
        struct client *c = forward(f), *late;
        struct port_forward *r1 = NULL, *r2 = NULL;
        struct error err = { 0 };
        struct bytes got = { 0 };
        int sv[2];

        guest_accept(f, c);
        assert_int_equal(port_forward_reserve(f->pf, "vm", 22, &r1, &err), 0);
        assert_int_equal(port_forward_reserve(f->pf, "vm", 22, &r2, &err), 0);
        f->pf = port_forwards_free(f->pf);
        assert_true(c->done);
        client_read(c, SIZE_MAX);
        assert_true(c->got_close);
        assert_int_equal(c->close_code, WS_CLOSE_GOING_AWAY);
        assert_false(guest_read(c, &got, SIZE_MAX)); /* closed */
        port_forward_unreserve(r1);
        late = calloc(1, sizeof(*late));
        assert_non_null(late);
        late->gfd = -1;
        assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        late->sfd = sv[0];
        late->cfd = sv[1];
        port_forward_start(r2, &f->addr, late->sfd, NULL, 0, on_done, late);
        assert_true(late->done);
        client_free(late);
        client_free(c);
        bytes_free(&got);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_echo, setup, teardown),
                cmocka_unit_test_setup_teardown(test_bytes_before_connect, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_close, setup, teardown),
                cmocka_unit_test_setup_teardown(test_client_eof, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unreachable, setup, teardown),
                cmocka_unit_test_setup_teardown(test_connect_timeout, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
                cmocka_unit_test_setup_teardown(test_text_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_upload_slow_guest, setup, teardown),
                cmocka_unit_test_setup_teardown(test_download_slow_client, setup, teardown),
                cmocka_unit_test_setup_teardown(test_answer_after_both_ends, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
                cmocka_unit_test_setup_teardown(test_agent_stops, setup, teardown),
        };

        /* What the agent does too: a write to a closed socket is EPIPE. */
        signal(SIGPIPE, SIG_IGN);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
