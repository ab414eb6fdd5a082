/* ws.c: one server-side WebSocket connection on wslay (see ws.h).
 *
 * Bytes read from the socket go first through the checker below, which
 * follows the frame headers and payloads on its own and stops at the first
 * byte that breaks a rule or at the first byte of a close frame; wslay gets
 * only the bytes before that point, so it never sees a frame that it would
 * answer wrongly, and never sees a close frame at all: closes are handled
 * here. wslay does the rest: reassembly of fragmented messages, the pong
 * answering each ping, framing and queueing what we send.
 *
 * Where the connection is in its life, the close handshake included, is one
 * variable (enum ws_state): start_close() is the one way into a close,
 * whoever starts it, and end_conn() the one way out.
 *
 * Callbacks to the owner run with `dispatching` set; ws_free() inside one
 * only marks the connection, and the handler that was running frees it on
 * its way out. on_close is always the last thing a handler does, after
 * which it touches nothing, so the owner may free the connection in it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <wslay/wslay.h>

#include "utf8.h"
#include "ws.h"

#define WS_DEFAULT_MAX_MESSAGE (64 * 1024)
#define WS_DEFAULT_MAX_QUEUED (1024 * 1024)
#define WS_DEFAULT_LOW_WATER (16 * 1024)
#define WS_DEFAULT_PING_USEC (30ULL * 1000 * 1000)
#define WS_DEFAULT_IDLE_USEC (75ULL * 1000 * 1000)
#define WS_DEFAULT_CLOSE_USEC (5ULL * 1000 * 1000)

/* Counted per queued message on top of its payload: wslay's bookkeeping. */
#define WS_MSG_OVERHEAD 64
/* Queued control frames (pongs) may take this much past max_queued before
 * the peer counts as flooding us with pings it does not read the answers to. */
#define WS_CONTROL_SLACK (64 * 1024)

#define WS_READ_SIZE 4096
#define WS_READS_PER_WAKEUP 16 /* then let other sources run */
#define WS_DRAIN_MAX (64 * 1024)

enum {
        OP_CONTINUATION = 0x0,
        OP_TEXT = 0x1,
        OP_BINARY = 0x2,
        OP_CLOSE = 0x8,
        OP_PING = 0x9,
        OP_PONG = 0xa,
};

enum check_state {
        CHECK_HEADER,
        CHECK_PAYLOAD,
        CHECK_DONE, /* after a close frame or a broken rule: nothing more is looked at */
};

/* Follows the client's frames byte by byte. */
struct ws_check {
        enum check_state state;
        size_t max_message;

        /* The frame being read. */
        uint8_t hdr[14];
        size_t hdr_len, hdr_need;
        bool fin;
        uint8_t opcode;
        uint8_t mask[4];
        uint64_t len, off;

        /* The data message being read, maybe over several frames. */
        bool in_message; /* fragments of it are still to come */
        bool text;
        uint64_t message_len;
        struct utf8_state utf8;

        uint8_t close[125]; /* a close frame's payload, unmasked */

        /* Once CHECK_DONE: the code to fail with (error_reason says why),
         * or 0 after a valid close frame from the peer. */
        uint16_t error;
        const char *error_reason;
        uint16_t close_code; /* the peer's, WS_CLOSE_NO_STATUS when it gave none */
        char close_reason[WS_REASON_MAX + 1];
};

/* Where the connection is in its life: the close handshake is this one
 * variable, changed only by the functions under "the close handshake"
 * below (and finish()). "Our close frame" is the one we send: our own when
 * we close first (ws_close(), a rule the peer broke, a failure here), else
 * the echo of the peer's. wslay reads the peer's frames in OPEN,
 * CLOSE_WAIT_QUEUE and CLOSE_SENT_WAIT_PEER only (reading()); the other
 * closing states have told it to stop. The transitions:
 *
 *   from                    on                                     to
 *   OPEN                    ws_close()                             CLOSE_WAIT_QUEUE
 *   OPEN, CLOSE_WAIT_QUEUE, the peer's close frame, or an error    CLOSE_LAST_WAIT_QUEUE
 *    CLOSE_LAST_WAIT_QUEUE, (which replaces our close frame not
 *    CLOSE_UNQUEUED         queued yet)
 *   CLOSE_WAIT_QUEUE        EOF                                    CLOSE_LAST_WAIT_QUEUE
 *   CLOSE_WAIT_QUEUE        our close frame queued                 CLOSE_SENT_WAIT_PEER
 *   CLOSE_LAST_WAIT_QUEUE   our close frame queued                 CLOSE_LAST_SENDING
 *   CLOSE_*_WAIT_QUEUE      our close frame cannot be queued       CLOSE_UNQUEUED
 *   CLOSE_SENT_WAIT_PEER    the peer's close frame, an error, EOF  CLOSE_LAST_SENDING
 *   CLOSE_LAST_SENDING      wslay sent our close frame             FINISHING
 *   OPEN                    EOF, an I/O error, keep-alive timeout  FINISHING (1006)
 *   any CLOSE_*             the close timer, an I/O error, EOF     FINISHING (the code of
 *                           with nothing left to send              the first close frame)
 *   OPEN, any CLOSE_*       an sd-event call failed                FINISHING (1011)
 *   FINISHING               the dispatch ends: on_close            DONE
 *
 * Our close frame is queued once the messages queued before it have gone
 * out, or at once when there are none or it is an error's (ahead of them):
 * then its *_WAIT_QUEUE state lasts only inside start_close(). The states
 * from CLOSE_WAIT_QUEUE to CLOSE_UNQUEUED are the closing ones (closing()):
 * the close timer runs, the ping timer does not, ws_send_*() refuses, no
 * message is delivered. */
enum ws_state {
        WS_OPEN,                  /* messages flow both ways */
        WS_CLOSE_WAIT_QUEUE,      /* we close first (ws_close()); our close frame waits for the messages
                                   * queued before it; then we wait for the peer's */
        WS_CLOSE_SENT_WAIT_PEER,  /* we closed first; our close frame is queued or sent; the peer's is
                                   * awaited */
        WS_CLOSE_LAST_WAIT_QUEUE, /* nothing more is awaited from the peer (its close came, or EOF); our
                                   * close frame waits for the messages queued before it */
        WS_CLOSE_LAST_SENDING,    /* nothing more is awaited from the peer; our close frame is queued: the
                                   * handshake is over once wslay has sent it */
        WS_CLOSE_UNQUEUED,        /* our close frame could not be queued (out of memory): the close timer,
                                   * set to fire at once, ends the connection; the peer's close frame or an
                                   * error until then tries again */
        WS_FINISHING,             /* on_close(report_code, report_reason) at the end of this dispatch */
        WS_DONE,                  /* on_close was called */
};

/* Who starts a close (start_close()). */
enum close_by {
        CLOSE_BY_OWNER, /* ws_close(), ws_close_free(): then the peer's close is awaited */
        CLOSE_BY_PEER,  /* its close frame: answered with its code, without the reason */
        CLOSE_BY_ERROR, /* a rule broken by the peer, or a failure here */
};

/* Where a close frame goes among the messages queued (start_close()). */
enum close_order {
        CLOSE_AFTER_QUEUE,    /* once they have gone out (pongs included) */
        CLOSE_AHEAD_OF_QUEUE, /* now, ahead of them (wslay sends control frames first) */
};

struct ws_conn {
        sd_event *event;
        int fd;                         /* borrowed */
        sd_event_source *io;
        sd_event_source *ping_timer;    /* NULL when neither pings nor the idle timeout are on */
        sd_event_source *close_timer;
        sd_event_source *feed_source;
        wslay_event_context_ptr wslay;
        struct ws_config config;
        struct ws_callbacks cb;
        void *userdata;

        struct ws_check check;
        const uint8_t *rx;              /* bytes the checker passed, for wslay's recv callback */
        size_t rx_len;
        uint8_t *fed;                   /* from ws_feed(), not handled yet */
        size_t fed_len;
        bool started;                   /* a handler ran: too late for ws_feed() */
        bool eof;                       /* the peer will send nothing more: read() returned 0 */

        enum ws_state state;
        /* Our close frame, while it waits for the queue (CLOSE_*_WAIT_QUEUE):
         * its code (0: none) and reason. */
        uint16_t frame_code;
        char frame_reason[WS_REASON_MAX + 1];
        /* What on_close reports: while closing, the first close frame of the
         * handshake, whichever side sent it; once FINISHING, the final word. */
        uint16_t report_code;
        char report_reason[WS_REASON_MAX + 1];

        bool above_low_water;
        bool refused;                   /* ws_send_*() said -ENOBUFS since the last on_writable */
        bool receive_off;               /* ws_set_receive(c, false) */
        bool io_parked;                 /* the io source is off: a hang-up while receiving is off */
        bool write_waiting;             /* we have bytes for the socket, since write_wait_start */
        uint64_t write_wait_start;
        uint64_t write_wait_max;        /* the longest wait that ended since ws_take_write_stall() */
        bool dispatching;
        bool free_requested;
        uint64_t last_rx_usec;
        uint64_t next_ping_usec;
};

static bool close_code_valid(uint16_t code) {
        return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) || (code >= 3000 && code <= 4999);
}

static void copy_reason(char dst[static WS_REASON_MAX + 1], const void *src, size_t len) {
        if (len > WS_REASON_MAX)
                len = WS_REASON_MAX;
        if (len > 0)
                memcpy(dst, src, len);
        dst[len] = '\0';
}

/* ---- the checker ---- */

static void check_init(struct ws_check *k, size_t max_message) {
        *k = (struct ws_check) {
                .state = CHECK_HEADER,
                .max_message = max_message,
                .hdr_need = 2,
                .utf8 = UTF8_STATE_INIT,
        };
}

/* Returns false, for "return check_fail(...)" in the checks below. */
static bool check_fail(struct ws_check *k, uint16_t code, const char *reason) {
        k->state = CHECK_DONE;
        k->error = code;
        k->error_reason = reason;
        return false;
}

static bool is_control(uint8_t opcode) {
        return opcode & 0x8;
}

static bool is_text_payload(const struct ws_check *k) {
        return k->text && (k->opcode == OP_TEXT || k->opcode == OP_CONTINUATION);
}

/* Byte 0: FIN, RSV1-3, opcode, and whether the opcode fits in the sequence.
 * Each check_*() returns false once it failed the frame. */
static bool check_first_byte(struct ws_check *k) {
        uint8_t b = k->hdr[0];

        k->fin = b & 0x80;
        k->opcode = b & 0x0f;
        if (b & 0x70)
                return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set (no extension was negotiated)");
        switch (k->opcode) {
        case OP_CONTINUATION:
                if (!k->in_message)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "continuation frame with no message to continue");
                break;
        case OP_TEXT:
        case OP_BINARY:
                if (k->in_message)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "new message inside a fragmented one");
                k->text = k->opcode == OP_TEXT;
                k->message_len = 0;
                k->utf8 = UTF8_STATE_INIT;
                break;
        case OP_CLOSE:
        case OP_PING:
        case OP_PONG:
                if (!k->fin)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
                break;
        default:
                return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "reserved opcode");
        }
        return true;
}

/* The frame's length is known: does the message still fit? */
static bool check_length(struct ws_check *k) {
        if (is_control(k->opcode))
                return true; /* at most 125, checked already */
        if (k->len > k->max_message - k->message_len)
                return check_fail(k, WS_CLOSE_TOO_BIG, "message too big");
        return true;
}

static bool check_close_frame(struct ws_check *k) {
        uint16_t code;

        k->state = CHECK_DONE;
        if (k->len == 0) {
                k->close_code = WS_CLOSE_NO_STATUS;
                k->close_reason[0] = '\0';
                return true;
        }
        if (k->len == 1)
                return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "close frame with a 1-byte payload");
        code = (uint16_t) (k->close[0] << 8 | k->close[1]);
        if (!close_code_valid(code))
                return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "invalid close code");
        if (!utf8_valid(k->close + 2, (size_t) k->len - 2))
                return check_fail(k, WS_CLOSE_INVALID_DATA, "close reason is not UTF-8");
        k->close_code = code;
        copy_reason(k->close_reason, k->close + 2, (size_t) k->len - 2);
        return true;
}

static bool check_frame_end(struct ws_check *k) {
        k->state = CHECK_HEADER;
        k->hdr_len = 0;
        k->hdr_need = 2;
        switch (k->opcode) {
        case OP_CONTINUATION:
        case OP_TEXT:
        case OP_BINARY:
                k->in_message = !k->fin;
                if (k->fin && k->text && !utf8_complete(&k->utf8))
                        return check_fail(k, WS_CLOSE_INVALID_DATA, "text message ends inside a UTF-8 sequence");
                return true;
        case OP_CLOSE:
                return check_close_frame(k);
        default:
                return true;
        }
}

/* One more header byte is in hdr. */
static bool check_header_byte(struct ws_check *k) {
        if (k->hdr_len == 1)
                return check_first_byte(k);

        if (k->hdr_len == 2) {
                uint8_t len7 = k->hdr[1] & 0x7f;

                if (!(k->hdr[1] & 0x80))
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "unmasked frame from the client");
                if (is_control(k->opcode) && len7 > 125)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "control frame longer than 125 bytes");
                k->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + 4;
                if (len7 < 126) {
                        k->len = len7;
                        return check_length(k);
                }
                return true;
        }

        if (k->hdr_need > 6 && k->hdr_len == k->hdr_need - 4) {
                uint64_t len = 0;

                for (size_t i = 2; i < k->hdr_len; i++)
                        len = len << 8 | k->hdr[i];
                if (k->hdr_len == 4 && len < 126)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "frame length not minimally encoded");
                if (k->hdr_len == 10 && len <= 0xffff)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "frame length not minimally encoded");
                if (len >> 63)
                        return check_fail(k, WS_CLOSE_PROTOCOL_ERROR, "frame length has its top bit set");
                k->len = len;
                return check_length(k);
        }

        if (k->hdr_len == k->hdr_need) {
                memcpy(k->mask, k->hdr + k->hdr_len - 4, 4);
                k->off = 0;
                if (!is_control(k->opcode))
                        k->message_len += k->len;
                k->state = CHECK_PAYLOAD;
                if (k->len == 0)
                        return check_frame_end(k);
        }
        return true;
}

/* Runs n bytes through the checker. Returns how many of them, from the
 * first, wslay may see: all, or fewer once a close frame starts or a rule
 * is broken (the checker is then CHECK_DONE and ignores the rest). */
static size_t check_feed(struct ws_check *k, const uint8_t *p, size_t n) {
        size_t i = 0, pass = 0;

        while (i < n && k->state != CHECK_DONE) {
                if (k->state == CHECK_HEADER) {
                        k->hdr[k->hdr_len++] = p[i++];
                        (void) check_header_byte(k);
                } else {
                        uint64_t left = k->len - k->off;
                        size_t m = n - i < left ? n - i : (size_t) left;

                        if (is_text_payload(k)) {
                                for (size_t j = 0; j < m; j++)
                                        if (!utf8_step(&k->utf8, p[i + j] ^ k->mask[(k->off + j) & 3])) {
                                                (void) check_fail(k, WS_CLOSE_INVALID_DATA, "text message is not UTF-8");
                                                return pass;
                                        }
                        } else if (k->opcode == OP_CLOSE) {
                                for (size_t j = 0; j < m; j++)
                                        k->close[k->off + j] = p[i + j] ^ k->mask[(k->off + j) & 3];
                        }
                        i += m;
                        k->off += m;
                        if (k->off == k->len)
                                (void) check_frame_end(k);
                }
                if (k->state == CHECK_DONE)
                        break;
                if (k->opcode != OP_CLOSE)
                        pass = i;
        }
        return pass;
}

/* ---- the close handshake ---- */

/* What the queue counts against max_queued. */
static size_t queue_cost(const struct ws_conn *c) {
        return wslay_event_get_queued_msg_length(c->wslay) +
               wslay_event_get_queued_msg_count(c->wslay) * WS_MSG_OVERHEAD;
}

/* A close handshake is under way (the close timer runs). */
static bool closing(const struct ws_conn *c) {
        return c->state != WS_OPEN && c->state != WS_FINISHING && c->state != WS_DONE;
}

/* on_close is due or done: nothing more is read, written or started. */
static bool ended(const struct ws_conn *c) {
        return c->state == WS_FINISHING || c->state == WS_DONE;
}

/* wslay reads the peer's frames: the connection is open, or we wait for the
 * peer's answer to our close frame. */
static bool reading(const struct ws_conn *c) {
        return c->state == WS_OPEN || c->state == WS_CLOSE_WAIT_QUEUE || c->state == WS_CLOSE_SENT_WAIT_PEER;
}

/* The owner turned receiving off, and the connection is open (a close
 * handshake reads again: the peer's close frame is awaited). */
static bool receive_paused(const struct ws_conn *c) {
        return c->receive_off && c->state == WS_OPEN;
}

/* Our close frame is not queued yet: it waits for the queue to drain. */
static bool close_waits_for_queue(const struct ws_conn *c) {
        return c->state == WS_CLOSE_WAIT_QUEUE || c->state == WS_CLOSE_LAST_WAIT_QUEUE;
}

/* reason may be NULL (none), or report_reason itself. */
static void set_report(struct ws_conn *c, uint16_t code, const char *reason) {
        c->report_code = code;
        if (reason != c->report_reason)
                copy_reason(c->report_reason, reason ? reason : "", reason ? strlen(reason) : 0);
}

/* Every end goes through here: the connection ends at the end of this
 * dispatch (finish()) with on_close(code, reason); the first end wins. */
static void end_conn(struct ws_conn *c, uint16_t code, const char *reason) {
        if (ended(c))
                return;
        set_report(c, code, reason);
        c->state = WS_FINISHING;
}

/* Ends without (more of) a handshake: EOF, an I/O error, the keep-alive
 * timeout, the close timer. on_close says 1006 and why when no close
 * handshake had started, else the handshake's first close frame. */
static void abort_conn(struct ws_conn *c, const char *why) {
        if (closing(c))
                end_conn(c, c->report_code, c->report_reason);
        else
                end_conn(c, WS_CLOSE_ABNORMAL, why);
}

static void arm_timer(struct ws_conn *c, sd_event_source *s, uint64_t usec) {
        if (!s)
                return;
        if (sd_event_source_set_time(s, usec) < 0 || sd_event_source_set_enabled(s, SD_EVENT_ONESHOT) < 0)
                end_conn(c, WS_CLOSE_INTERNAL_ERROR, "cannot arm a timer");
}

static uint64_t now_usec(struct ws_conn *c) {
        uint64_t now = 0;

        (void) sd_event_now(c->event, CLOCK_MONOTONIC, &now);
        return now;
}

/* Nothing more is awaited from the peer (it closed, broke a rule, or went
 * away): once our close frame is out, the handshake is over. */
static void stop_awaiting_peer(struct ws_conn *c) {
        if (c->state == WS_CLOSE_WAIT_QUEUE)
                c->state = WS_CLOSE_LAST_WAIT_QUEUE;
        else if (c->state == WS_CLOSE_SENT_WAIT_PEER)
                c->state = WS_CLOSE_LAST_SENDING;
        else
                return;
        wslay_event_shutdown_read(c->wslay);
}

/* Queues our close frame (frame_code, frame_reason), which waited in a
 * CLOSE_*_WAIT_QUEUE state, ahead of what is still queued (wslay sends
 * control frames first). */
static void queue_close_frame(struct ws_conn *c) {
        size_t len = c->frame_code ? strlen(c->frame_reason) : 0;
        int r = wslay_event_queue_close(c->wslay, c->frame_code, (const uint8_t *) c->frame_reason, len);

        if (r < 0 && r != WSLAY_ERR_NO_MORE_MSG) {
                /* No way to tell the peer: give up now (the close timer
                 * fires at once, also when called outside a dispatch). */
                c->state = WS_CLOSE_UNQUEUED;
                wslay_event_shutdown_read(c->wslay);
                arm_timer(c, c->close_timer, 0);
                return;
        }
        /* Queued (WSLAY_ERR_NO_MORE_MSG: wslay queued one of its own, which
         * it should never need to). */
        c->state = c->state == WS_CLOSE_WAIT_QUEUE ? WS_CLOSE_SENT_WAIT_PEER : WS_CLOSE_LAST_SENDING;
}

/* Every close starts here: the owner's (ws_close(), ws_close_free()), the
 * peer's close frame, a rule the peer broke (found by the checker or by
 * wslay), a failure here; by says which, and order where our close frame
 * goes among the messages queued. From OPEN, the close timer starts, and
 * code and reason become what on_close reports and what our close frame
 * says (answering the peer's: its code alone, or nothing for 1005). Once
 * closing, the owner's close does nothing; the others take the place of our
 * close frame if it is not queued yet, and else only end the wait for the
 * peer's (the first close frame of the handshake stays the reported one). */
static void start_close(struct ws_conn *c, enum close_by by, enum close_order order, uint16_t code,
                        const char *reason) {
        bool was_open = c->state == WS_OPEN;

        switch (c->state) {
        case WS_OPEN:
                break;
        case WS_CLOSE_WAIT_QUEUE:
        case WS_CLOSE_LAST_WAIT_QUEUE:
        case WS_CLOSE_UNQUEUED:
                if (by == CLOSE_BY_OWNER)
                        return;
                break;
        case WS_CLOSE_SENT_WAIT_PEER:
                if (by != CLOSE_BY_OWNER)
                        stop_awaiting_peer(c);
                return;
        case WS_CLOSE_LAST_SENDING:
        case WS_FINISHING:
        case WS_DONE:
                return;
        }

        if (by != CLOSE_BY_OWNER)
                wslay_event_shutdown_read(c->wslay);
        if (was_open) {
                if (c->ping_timer)
                        (void) sd_event_source_set_enabled(c->ping_timer, SD_EVENT_OFF);
                arm_timer(c, c->close_timer, now_usec(c) + c->config.close_timeout_usec);
                if (ended(c))
                        return;
        }
        set_report(c, code, reason);
        if (by == CLOSE_BY_PEER) {
                c->frame_code = code == WS_CLOSE_NO_STATUS ? 0 : code;
                c->frame_reason[0] = '\0';
        } else {
                c->frame_code = code;
                copy_reason(c->frame_reason, reason ? reason : "", reason ? strlen(reason) : 0);
        }
        c->state = by == CLOSE_BY_OWNER ? WS_CLOSE_WAIT_QUEUE : WS_CLOSE_LAST_WAIT_QUEUE;
        /* After the queue unless told otherwise: wslay would send it ahead
         * of the data queued, and nothing after it. */
        if (order == CLOSE_AHEAD_OF_QUEUE || wslay_event_get_queued_msg_count(c->wslay) == 0)
                queue_close_frame(c);
}

/* The socket took bytes: a wait for it to take some ends. */
static void write_wait_end(struct ws_conn *c) {
        uint64_t waited;

        if (!c->write_waiting)
                return;
        c->write_waiting = false;
        waited = now_usec(c) - c->write_wait_start;
        if (waited > c->write_wait_max)
                c->write_wait_max = waited;
}

/* ---- wslay's callbacks ---- */

static ssize_t wslay_recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags _unused_,
                             void *userdata) {
        struct ws_conn *c = userdata;
        size_t n = len < c->rx_len ? len : c->rx_len;

        if (n == 0) {
                wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
                return -1;
        }
        memcpy(buf, c->rx, n);
        c->rx += n;
        c->rx_len -= n;
        return (ssize_t) n;
}

static ssize_t wslay_send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                             void *userdata) {
        struct ws_conn *c = userdata;
        int f = MSG_NOSIGNAL | MSG_DONTWAIT | ((flags & WSLAY_MSG_MORE) ? MSG_MORE : 0);
        ssize_t n;

        do
                n = send(c->fd, data, len, f);
        while (n < 0 && errno == EINTR);
        if (n < 0) {
                if (errno == EAGAIN || errno == EWOULDBLOCK)
                        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
                else
                        wslay_event_set_error(ctx, WSLAY_ERR_CALLBACK_FAILURE);
                return -1;
        }
        if (n > 0)
                write_wait_end(c);
        return n;
}

/* A server never masks. */
static int wslay_genmask_cb(wslay_event_context_ptr ctx _unused_, uint8_t *buf _unused_, size_t len _unused_,
                            void *userdata _unused_) {
        return -1;
}

static void wslay_msg_cb(wslay_event_context_ptr ctx _unused_, const struct wslay_event_on_msg_recv_arg *arg,
                         void *userdata) {
        static const uint8_t empty[1];
        struct ws_conn *c = userdata;
        const uint8_t *msg = arg->msg ? arg->msg : empty;

        if (c->free_requested || c->state != WS_OPEN)
                return;
        switch (arg->opcode) {
        case WSLAY_TEXT_FRAME:
                /* The checker saw every byte already; cheap enough to be sure. */
                if (!utf8_valid(msg, arg->msg_length)) {
                        /* Also stops wslay's reading: this is its last message. */
                        start_close(c, CLOSE_BY_ERROR, CLOSE_AHEAD_OF_QUEUE, WS_CLOSE_INVALID_DATA,
                                    "text message is not UTF-8");
                        return;
                }
                if (c->cb.on_text)
                        c->cb.on_text(c, (const char *) msg, arg->msg_length);
                break;
        case WSLAY_BINARY_FRAME:
                if (c->cb.on_binary)
                        c->cb.on_binary(c, msg, arg->msg_length);
                break;
        default:
                break; /* pings (wslay queued the pong), pongs */
        }
}

/* ---- I/O ---- */

/* Bytes from the peer, in order. */
static void handle_input(struct ws_conn *c, const uint8_t *p, size_t n) {
        size_t pass;
        int r;

        c->last_rx_usec = now_usec(c);
        if (c->check.state == CHECK_DONE)
                return; /* after a close frame or an error: ignored */
        pass = check_feed(&c->check, p, n);
        if (pass > 0 && reading(c)) {
                c->rx = p;
                c->rx_len = pass;
                r = wslay_event_recv(c->wslay);
                c->rx = NULL;
                c->rx_len = 0;
                if (c->free_requested)
                        return;
                if (r == WSLAY_ERR_NOMEM)
                        start_close(c, CLOSE_BY_ERROR, CLOSE_AHEAD_OF_QUEUE, WS_CLOSE_INTERNAL_ERROR,
                                    "out of memory");
                else if (r < 0 || (!wslay_event_get_read_enabled(c->wslay) && reading(c)))
                        start_close(c, CLOSE_BY_ERROR, CLOSE_AHEAD_OF_QUEUE, WS_CLOSE_INTERNAL_ERROR,
                                    "the websocket library stopped reading");
        }
        if (c->check.state == CHECK_DONE) {
                if (c->check.error)
                        start_close(c, CLOSE_BY_ERROR, CLOSE_AHEAD_OF_QUEUE, c->check.error, c->check.error_reason);
                else
                        start_close(c, CLOSE_BY_PEER, CLOSE_AFTER_QUEUE, c->check.close_code,
                                    c->check.close_reason);
        }
        if (queue_cost(c) > c->config.max_queued + WS_CONTROL_SLACK)
                start_close(c, CLOSE_BY_ERROR, CLOSE_AHEAD_OF_QUEUE, WS_CLOSE_POLICY,
                            "too many pings whose pongs are not read");
}

static void handle_fed(struct ws_conn *c) {
        _cleanup_free_ uint8_t *p = TAKE_PTR(c->fed);
        size_t n = c->fed_len;

        c->fed_len = 0;
        if (p)
                handle_input(c, p, n);
}

static void do_read(struct ws_conn *c) {
        uint8_t buf[WS_READ_SIZE];

        for (int i = 0; i < WS_READS_PER_WAKEUP; i++) {
                ssize_t n = read(c->fd, buf, sizeof(buf));

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK)
                                abort_conn(c, "read error");
                        return;
                }
                if (n == 0) {
                        c->eof = true;
                        return;
                }
                handle_input(c, buf, (size_t) n);
                if (c->free_requested || ended(c) || receive_paused(c))
                        return;
        }
}

static void do_write(struct ws_conn *c) {
        size_t before = wslay_event_get_queued_msg_length(c->wslay), after;

        for (int i = 0; i < 2; i++) {
                if (wslay_event_want_write(c->wslay) && wslay_event_send(c->wslay) < 0) {
                        abort_conn(c, "write error");
                        return;
                }
                if (!close_waits_for_queue(c) || wslay_event_get_queued_msg_count(c->wslay) > 0)
                        break;
                queue_close_frame(c);
        }
        after = wslay_event_get_queued_msg_length(c->wslay);
        /* Drained to low_water; or, after a refusal, some of the queue went
         * (many small messages cost more than their bytes: the queue may
         * refuse one while below low_water). */
        if ((c->above_low_water && after <= c->config.low_water) || (c->refused && after < before)) {
                c->above_low_water = false;
                c->refused = false;
                if (c->cb.on_writable && c->state == WS_OPEN)
                        c->cb.on_writable(c);
        }
}

static void update_io(struct ws_conn *c) {
        uint32_t events = c->eof || receive_paused(c) ? 0 : EPOLLIN;

        if (!c->io)
                return;
        if (c->io_parked && !receive_paused(c)) {
                c->io_parked = false;
                if (sd_event_source_set_enabled(c->io, SD_EVENT_ON) < 0) {
                        end_conn(c, WS_CLOSE_INTERNAL_ERROR, "cannot watch the socket");
                        return;
                }
        }
        if (wslay_event_want_write(c->wslay) ||
            (close_waits_for_queue(c) && wslay_event_get_queued_msg_count(c->wslay) == 0)) {
                events |= EPOLLOUT;
                /* Bytes for the socket: a wait for it to take some starts,
                 * unless one is under way. */
                if (!c->write_waiting) {
                        c->write_waiting = true;
                        c->write_wait_start = now_usec(c);
                }
        }
        if (sd_event_source_set_io_events(c->io, events) < 0)
                end_conn(c, WS_CLOSE_INTERNAL_ERROR, "cannot watch the socket");
}

/* Reads what is left so that closing the socket sends FIN rather than RST
 * (which could destroy our close frame before the peer reads it). */
static void drain(struct ws_conn *c) {
        uint8_t buf[WS_READ_SIZE];

        for (size_t total = 0; total < WS_DRAIN_MAX;) {
                ssize_t n = read(c->fd, buf, sizeof(buf));

                if (n <= 0)
                        break;
                total += (size_t) n;
        }
}

static void stop_sources(struct ws_conn *c) {
        c->io = sd_event_source_disable_unref(c->io);
        c->ping_timer = sd_event_source_disable_unref(c->ping_timer);
        c->close_timer = sd_event_source_disable_unref(c->close_timer);
        c->feed_source = sd_event_source_disable_unref(c->feed_source);
}

static void destroy(struct ws_conn *c) {
        stop_sources(c);
        wslay_event_context_free(c->wslay);
        free(c->fed);
        sd_event_unref(c->event);
        free(c);
}

/* FINISHING to DONE: reports the end. The caller touches nothing after: c
 * may be gone. */
static void finish(struct ws_conn *c) {
        char reason[WS_REASON_MAX + 1];
        uint16_t code = c->report_code;

        memcpy(reason, c->report_reason, sizeof(reason));
        c->state = WS_DONE;
        stop_sources(c);
        drain(c);
        c->cb.on_close(c, code, reason);
}

static void dispatch_begin(struct ws_conn *c) {
        c->dispatching = true;
        c->started = true;
}

/* Every handler ends here. */
static int dispatch_end(struct ws_conn *c) {
        c->dispatching = false;
        if (c->free_requested) {
                destroy(c);
                return 0;
        }
        if (c->state == WS_DONE)
                return 0;
        if (c->eof && c->state != WS_FINISHING) {
                /* Nothing more will come; but a peer that half-closed after
                 * its close frame still gets our answer (or the close timer
                 * ends it). */
                stop_awaiting_peer(c);
                if (!closing(c) || !(close_waits_for_queue(c) || wslay_event_want_write(c->wslay)))
                        abort_conn(c, "connection closed without a close frame");
        }
        if (c->state == WS_CLOSE_LAST_SENDING && wslay_event_get_close_sent(c->wslay))
                end_conn(c, c->report_code, c->report_reason); /* the handshake is over */
        if (c->state == WS_FINISHING) {
                finish(c);
                return 0;
        }
        update_io(c);
        if (c->state == WS_FINISHING) /* update_io failed */
                finish(c);
        return 0;
}

static int on_io(sd_event_source *s _unused_, int fd _unused_, uint32_t revents, void *userdata) {
        struct ws_conn *c = userdata;

        dispatch_begin(c);
        if (receive_paused(c) && (revents & (EPOLLHUP | EPOLLERR))) {
                /* epoll reports a hang-up whatever it was asked: the
                 * socket stays unwatched until receiving is on again, when
                 * what the peer sent before it is read (then EOF, or the
                 * error). Nothing could be written to it anyway. */
                c->io_parked = true;
                if (sd_event_source_set_enabled(c->io, SD_EVENT_OFF) < 0)
                        end_conn(c, WS_CLOSE_INTERNAL_ERROR, "cannot watch the socket");
                return dispatch_end(c);
        }
        if (c->fed && !receive_paused(c))
                handle_fed(c);
        if (!c->free_requested && !ended(c) && !receive_paused(c) && (revents & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                do_read(c);
        /* Also after a read only: the input may have queued a pong or a close. */
        if (!c->free_requested && !ended(c))
                do_write(c);
        return dispatch_end(c);
}

static int on_feed(sd_event_source *s _unused_, void *userdata) {
        struct ws_conn *c = userdata;

        dispatch_begin(c);
        if (!receive_paused(c))
                handle_fed(c); /* else ws_set_receive() brings it back */
        if (!c->free_requested && !ended(c))
                do_write(c);
        return dispatch_end(c);
}

static void arm_ping_timer(struct ws_conn *c) {
        uint64_t next = WS_NEVER;

        if (c->config.ping_interval_usec != WS_NEVER)
                next = c->next_ping_usec;
        if (c->config.idle_timeout_usec != WS_NEVER && !receive_paused(c) &&
            c->last_rx_usec + c->config.idle_timeout_usec < next)
                next = c->last_rx_usec + c->config.idle_timeout_usec;
        if (next != WS_NEVER)
                arm_timer(c, c->ping_timer, next);
}

static int on_ping_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct ws_conn *c = userdata;
        uint64_t now = now_usec(c);

        dispatch_begin(c);
        if (c->state == WS_OPEN) {
                if (c->config.idle_timeout_usec != WS_NEVER && !receive_paused(c) &&
                    now >= c->last_rx_usec + c->config.idle_timeout_usec)
                        abort_conn(c, "keep-alive timeout");
                else {
                        if (c->config.ping_interval_usec != WS_NEVER && now >= c->next_ping_usec) {
                                struct wslay_event_msg ping = { .opcode = WSLAY_PING };

                                if (wslay_event_queue_msg(c->wslay, &ping) == WSLAY_ERR_NOMEM)
                                        start_close(c, CLOSE_BY_ERROR, CLOSE_AHEAD_OF_QUEUE,
                                                    WS_CLOSE_INTERNAL_ERROR, "out of memory");
                                c->next_ping_usec = now + c->config.ping_interval_usec;
                        }
                        if (c->state == WS_OPEN)
                                arm_ping_timer(c);
                }
        }
        return dispatch_end(c);
}

static int on_close_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct ws_conn *c = userdata;

        dispatch_begin(c);
        if (closing(c))
                abort_conn(c, "close timeout");
        return dispatch_end(c);
}

/* ---- the owner's interface ---- */

static void config_fill(struct ws_config *cfg) {
        if (cfg->max_message == 0)
                cfg->max_message = WS_DEFAULT_MAX_MESSAGE;
        if (cfg->max_message < 125)
                cfg->max_message = 125;
        if (cfg->max_queued == 0)
                cfg->max_queued = WS_DEFAULT_MAX_QUEUED;
        if (cfg->low_water == 0)
                cfg->low_water = WS_DEFAULT_LOW_WATER;
        if (cfg->low_water > cfg->max_queued)
                cfg->low_water = cfg->max_queued;
        if (cfg->ping_interval_usec == 0)
                cfg->ping_interval_usec = WS_DEFAULT_PING_USEC;
        if (cfg->idle_timeout_usec == 0)
                cfg->idle_timeout_usec = WS_DEFAULT_IDLE_USEC;
        if (cfg->close_timeout_usec == 0 || cfg->close_timeout_usec == WS_NEVER)
                cfg->close_timeout_usec = WS_DEFAULT_CLOSE_USEC;
}

int ws_new(sd_event *event, int fd, const struct ws_config *config, const struct ws_callbacks *callbacks,
           void *userdata, struct ws_conn **ret) {
        static const struct wslay_event_callbacks wcb = {
                .recv_callback = wslay_recv_cb,
                .send_callback = wslay_send_cb,
                .genmask_callback = wslay_genmask_cb,
                .on_msg_recv_callback = wslay_msg_cb,
        };
        _cleanup_(ws_freep) struct ws_conn *c = NULL;
        uint64_t now;
        int flags, r;

        if (!event || fd < 0 || !callbacks || !callbacks->on_close || !ret)
                return -EINVAL;
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return negative_errno();

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;
        c->event = sd_event_ref(event);
        c->fd = fd;
        if (config)
                c->config = *config;
        config_fill(&c->config);
        c->cb = *callbacks;
        c->userdata = userdata;
        check_init(&c->check, c->config.max_message);

        if (wslay_event_context_server_init(&c->wslay, &wcb, c) != 0)
                return -ENOMEM;
        wslay_event_config_set_max_recv_msg_length(c->wslay, c->config.max_message);

        r = sd_event_now(event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        c->last_rx_usec = now;

        r = sd_event_add_io(event, &c->io, fd, EPOLLIN, on_io, c);
        if (r < 0)
                return r;
        /* Made now, so that starting a close cannot fail for want of memory. */
        r = sd_event_add_time(event, &c->close_timer, CLOCK_MONOTONIC, 0, 0, on_close_timer, c);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(c->close_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        if (c->config.ping_interval_usec != WS_NEVER || c->config.idle_timeout_usec != WS_NEVER) {
                c->next_ping_usec = c->config.ping_interval_usec == WS_NEVER ? WS_NEVER
                                                                             : now + c->config.ping_interval_usec;
                r = sd_event_add_time(event, &c->ping_timer, CLOCK_MONOTONIC, 0, 0, on_ping_timer, c);
                if (r < 0)
                        return r;
                arm_ping_timer(c);
                if (c->state == WS_FINISHING)
                        return -EIO;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

int ws_feed(struct ws_conn *c, const void *data, size_t len) {
        uint8_t *p;
        int r;

        if (len == 0)
                return 0;
        if (c->started || c->state != WS_OPEN)
                return -EBUSY;
        if (len > WS_FEED_MAX - c->fed_len)
                return -E2BIG;
        p = realloc(c->fed, c->fed_len + len);
        if (!p)
                return -ENOMEM;
        memcpy(p + c->fed_len, data, len);
        c->fed = p;
        c->fed_len += len;
        if (!c->feed_source) {
                r = sd_event_add_defer(c->event, &c->feed_source, on_feed, c);
                if (r < 0)
                        return r;
        }
        return 0;
}

struct ws_conn *ws_free(struct ws_conn *c) {
        if (!c)
                return NULL;
        if (c->dispatching) {
                /* Inside a callback: the handler frees it on its way out. */
                c->free_requested = true;
                memset(&c->cb, 0, sizeof(c->cb));
                return NULL;
        }
        destroy(c);
        return NULL;
}

void *ws_userdata(const struct ws_conn *c) {
        return c->userdata;
}

bool ws_is_open(const struct ws_conn *c) {
        return c->state == WS_OPEN && !c->free_requested;
}

int ws_set_receive(struct ws_conn *c, bool on) {
        int r;

        if (c->receive_off == !on || c->free_requested || ended(c))
                return 0;
        c->receive_off = !on;
        if (on) {
                /* The silence was ours: the idle timeout starts again. */
                c->last_rx_usec = now_usec(c);
                if (c->state == WS_OPEN && c->ping_timer)
                        arm_ping_timer(c);
                /* Bytes of ws_feed() that waited: handled from the loop. */
                if (c->fed && c->feed_source) {
                        r = sd_event_source_set_enabled(c->feed_source, SD_EVENT_ONESHOT);
                        if (r < 0) {
                                end_conn(c, WS_CLOSE_INTERNAL_ERROR, "cannot resume reading");
                                arm_timer(c, c->close_timer, 0); /* on_close from the loop */
                                return r;
                        }
                }
        }
        update_io(c);
        return 0;
}

static int queue_message(struct ws_conn *c, uint8_t opcode, const void *data, size_t len) {
        struct wslay_event_msg msg = {
                .opcode = opcode,
                .msg = data,
                .msg_length = len,
        };
        int r;

        if (!ws_is_open(c))
                return -ESHUTDOWN;
        if (len > c->config.max_queued || queue_cost(c) + WS_MSG_OVERHEAD + len > c->config.max_queued) {
                c->refused = true;
                return -ENOBUFS;
        }
        r = wslay_event_queue_msg(c->wslay, &msg);
        if (r == WSLAY_ERR_NOMEM)
                return -ENOMEM;
        if (r == WSLAY_ERR_NO_MORE_MSG)
                return -ESHUTDOWN;
        if (r < 0)
                return -EINVAL;
        if (wslay_event_get_queued_msg_length(c->wslay) > c->config.low_water)
                c->above_low_water = true;
        update_io(c);
        return 0;
}

int ws_send_text(struct ws_conn *c, const char *utf8, size_t len) {
        if (!utf8_valid(utf8, len))
                return -EINVAL;
        return queue_message(c, WSLAY_TEXT_FRAME, utf8, len);
}

int ws_send_binary(struct ws_conn *c, const void *data, size_t len) {
        return queue_message(c, WSLAY_BINARY_FRAME, data, len);
}

size_t ws_queued_bytes(const struct ws_conn *c) {
        return wslay_event_get_queued_msg_length(c->wslay);
}

uint64_t ws_take_write_stall(struct ws_conn *c) {
        uint64_t longest = c->write_wait_max;

        if (c->write_waiting && now_usec(c) - c->write_wait_start > longest)
                longest = now_usec(c) - c->write_wait_start;
        c->write_wait_max = 0;
        return longest;
}

/* What ws_close() takes (ws.h). */
static bool close_args_valid(uint16_t code, const char *reason) {
        size_t len = reason ? strlen(reason) : 0;

        return close_code_valid(code) && len <= WS_REASON_MAX && utf8_valid(reason, len);
}

int ws_close(struct ws_conn *c, uint16_t code, const char *reason) {
        if (!close_args_valid(code, reason))
                return -EINVAL;
        if (c->state != WS_OPEN || c->free_requested)
                return 0;
        start_close(c, CLOSE_BY_OWNER, CLOSE_AFTER_QUEUE, code, reason);
        update_io(c);
        return 0;
}

struct ws_conn *ws_close_free(struct ws_conn *c, uint16_t code, const char *reason) {
        if (!c)
                return NULL;
        if (!c->dispatching && c->state != WS_DONE) {
                /* Ours, or the answer to the peer's: now, not after the queue. */
                if (close_args_valid(code, reason))
                        start_close(c, CLOSE_BY_OWNER, CLOSE_AHEAD_OF_QUEUE, code, reason);
                if (close_waits_for_queue(c))
                        queue_close_frame(c);
                if (wslay_event_want_write(c->wslay))
                        (void) wslay_event_send(c->wslay);
                drain(c);
        }
        return ws_free(c);
}
