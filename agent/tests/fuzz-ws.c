/* fuzz-ws.c: libFuzzer target for the WebSocket layer: the input plays a
 * hostile client on a socketpair, after the upgrade. Its first byte picks the
 * limits and what the owner does (echo messages, close, free the connection
 * inside a callback, take part of the input through ws_feed()); the rest is
 * written to the socket as is, then the client half-closes and reads what
 * the server sent until the server is done. Checks, besides the sanitizers:
 *   - on_close exactly once, or never when the owner freed the connection;
 *     the server always finishes (the event loop never idles before that);
 *   - every text message delivered is UTF-8, no message passes max_message;
 *   - every frame the server sends is unmasked, FIN set, RSV clear, a known
 *     opcode, in its shortest length form; control frames at most 125 bytes;
 *   - a close frame is the last frame, its code is one a server may send, and
 *     on_close reports exactly that code (1005 for an empty one); with no
 *     close frame sent, on_close reports 1006.
 * Not built by meson; build and run it with agent/tests/fuzz ws SECONDS, or:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iagent \
 *         agent/tests/fuzz-ws.c agent/ws.c agent/utf8.c -lsystemd -lwslay -o fuzz-ws
 *   ./fuzz-ws -max_total_time=120 -dict=agent/tests/fuzz-ws.dict CORPUS_DIR */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz.h"
#include "utf8.h"
#include "ws.h"

struct run {
        struct ws_conn *ws;
        uint8_t flags;
        size_t max_message;
        int messages;
        int closes;
        uint16_t close_code;
        bool freed;

        /* The client's view of what the server sent. */
        uint8_t *out;
        size_t out_len, out_cap;
        bool close_seen;
        uint16_t close_sent; /* the code in the server's close frame */
};

enum {
        F_MAX_MESSAGE = 3,      /* 2 bits: 125, 1000, 4096, 65536 */
        F_ECHO_TEXT = 1 << 2,
        F_ECHO_BINARY = 1 << 3,
        F_CLOSE_ON_2ND = 1 << 4,
        F_FREE_ON_3RD = 1 << 5,
        F_FEED = 1 << 6,        /* the first input byte after the flags says how much goes through ws_feed() */
        F_SMALL_QUEUE = 1 << 7,   /* max_queued 4 KiB, low_water 512 */
};

static void on_message(struct run *r, struct ws_conn *c) {
        r->messages++;
        if ((r->flags & F_CLOSE_ON_2ND) && r->messages == 2)
                CHECK(ws_close(c, 4000 + (uint16_t) r->messages, "owner closes") == 0);
        if ((r->flags & F_FREE_ON_3RD) && r->messages == 3) {
                r->ws = ws_free(c);
                r->freed = true;
        }
}

static void on_text(struct ws_conn *c, const char *utf8, size_t len) {
        struct run *r = ws_userdata(c);
        int k;

        CHECK(!r->freed && r->closes == 0);
        CHECK(len <= r->max_message);
        CHECK(utf8_valid(utf8, len));
        if (r->flags & F_ECHO_TEXT) {
                k = ws_send_text(c, utf8, len);
                CHECK(k == 0 || k == -ENOBUFS || k == -ESHUTDOWN);
        }
        on_message(r, c);
}

static void on_binary(struct ws_conn *c, const uint8_t *data, size_t len) {
        struct run *r = ws_userdata(c);
        int k;

        CHECK(!r->freed && r->closes == 0);
        CHECK(len <= r->max_message);
        if (r->flags & F_ECHO_BINARY) {
                k = ws_send_binary(c, data, len);
                CHECK(k == 0 || k == -ENOBUFS || k == -ESHUTDOWN);
        }
        on_message(r, c);
}

static void on_close(struct ws_conn *c, uint16_t code, const char *reason) {
        struct run *r = ws_userdata(c);

        CHECK(!r->freed);
        CHECK(reason && strlen(reason) <= WS_REASON_MAX);
        CHECK(ws_send_text(c, "x", 1) == -ESHUTDOWN);
        r->closes++;
        r->close_code = code;
}

static void on_writable(struct ws_conn *c) {
        struct run *r = ws_userdata(c);

        CHECK(!r->freed && r->closes == 0);
}

static const struct ws_callbacks callbacks = {
        .on_text = on_text,
        .on_binary = on_binary,
        .on_close = on_close,
        .on_writable = on_writable,
};

static bool server_may_send(uint16_t code) {
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

/* Checks and consumes the whole frames at the front of what was read. */
static void parse_output(struct run *r) {
        size_t off = 0;

        for (;;) {
                const uint8_t *p = r->out + off;
                size_t have = r->out_len - off, hlen = 2;
                uint64_t len;
                uint8_t opcode;

                if (have < 2)
                        break;
                CHECK(!r->close_seen); /* nothing after a close frame */
                CHECK((p[0] & 0xf0) == 0x80);
                CHECK((p[1] & 0x80) == 0);
                opcode = p[0] & 0xf;
                CHECK(opcode == 0x1 || opcode == 0x2 || opcode == 0x8 || opcode == 0x9 || opcode == 0xa);
                len = p[1] & 0x7f;
                if (len == 126) {
                        if (have < 4)
                                break;
                        len = (uint64_t) p[2] << 8 | p[3];
                        CHECK(len >= 126);
                        hlen = 4;
                } else if (len == 127) {
                        if (have < 10)
                                break;
                        len = 0;
                        for (int i = 0; i < 8; i++)
                                len = len << 8 | p[2 + i];
                        CHECK(len > 0xffff && len < (1ULL << 31));
                        hlen = 10;
                }
                if (have - hlen < len)
                        break;
                if (opcode & 0x8)
                        CHECK(len <= 125);
                if (opcode == 0x1)
                        CHECK(utf8_valid(p + hlen, (size_t) len));
                if (opcode == 0x8) {
                        CHECK(len != 1);
                        r->close_seen = true;
                        r->close_sent = WS_CLOSE_NO_STATUS;
                        if (len >= 2) {
                                r->close_sent = (uint16_t) (p[hlen] << 8 | p[hlen + 1]);
                                CHECK(server_may_send(r->close_sent));
                                CHECK(utf8_valid(p + hlen + 2, (size_t) len - 2));
                        }
                }
                off += hlen + (size_t) len;
        }
        memmove(r->out, r->out + off, r->out_len - off);
        r->out_len -= off;
}

static void client_read(struct run *r, int fd) {
        for (;;) {
                ssize_t n;

                if (r->out_cap - r->out_len < 4096) {
                        r->out_cap = r->out_cap ? r->out_cap * 2 : 65536;
                        r->out = realloc(r->out, r->out_cap);
                        CHECK(r->out);
                }
                n = read(fd, r->out + r->out_len, r->out_cap - r->out_len);
                if (n <= 0)
                        break;
                r->out_len += (size_t) n;
        }
        parse_output(r);
}

static bool done(const struct run *r) {
        return r->closes > 0 || r->freed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const size_t max_messages[] = { 125, 1000, 4096, 65536 };
        static sd_event *event;
        struct run r = { 0 };
        struct ws_config cfg = {
                .ping_interval_usec = WS_NEVER,
                .idle_timeout_usec = WS_NEVER,
        };
        int sv[2];
        size_t fed = 0;

        if (size < 1 || size > 256 * 1024)
                return 0;
        if (!event)
                CHECK(sd_event_new(&event) >= 0);
        r.flags = data[0];
        data++, size--;
        r.max_message = max_messages[r.flags & F_MAX_MESSAGE];
        cfg.max_message = r.max_message;
        if (r.flags & F_SMALL_QUEUE) {
                cfg.max_queued = 4096;
                cfg.low_water = 512;
        }

        CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
        CHECK(ws_new(event, sv[0], &cfg, &callbacks, &r, &r.ws) == 0);
        if ((r.flags & F_FEED) && size > 0) {
                fed = data[0] < size ? data[0] : size;
                CHECK(ws_feed(r.ws, data, fed) == 0);
        }

        /* The client writes everything, then half-closes and reads. */
        for (size_t off = fed; off < size && !done(&r);) {
                ssize_t n = write(sv[1], data + off, size - off);

                if (n > 0)
                        off += (size_t) n;
                else
                        CHECK(errno == EAGAIN || errno == EPIPE || errno == ECONNRESET);
                CHECK(sd_event_run(event, 0) >= 0);
                client_read(&r, sv[1]);
        }
        shutdown(sv[1], SHUT_WR);
        for (int i = 0; !done(&r); i++) {
                int k = sd_event_run(event, 0);

                CHECK(k >= 0);
                client_read(&r, sv[1]);
                /* Idle and not done would mean waiting on a timer, yet
                 * everything needed to finish has happened. */
                CHECK(k > 0 || done(&r));
                CHECK(i < 1000000);
        }
        client_read(&r, sv[1]);

        CHECK(r.closes <= 1);
        if (r.closes == 1) {
                if (r.close_seen)
                        CHECK(r.close_code == r.close_sent);
                else
                        CHECK(r.close_code == WS_CLOSE_ABNORMAL);
        }
        CHECK(r.out_len == 0 || !r.close_seen);

        ws_free(r.ws);
        close(sv[0]);
        close(sv[1]);
        free(r.out);
        /* Nothing of this input may be left in the loop. */
        CHECK(sd_event_run(event, 0) == 0);
        return 0;
}
