/* ws.h: owns the server's side of one WebSocket connection (RFC 6455) once
 * its HTTP upgrade is done: a wslay event context, an sd-event io source on
 * the connection's socket (EPOLLIN always, EPOLLOUT only while there is
 * something to write), a keep-alive timer that pings the peer and drops it
 * when it stays silent, a timer bounding the close handshake, and the frames
 * queued for the peer. The socket itself stays the caller's: ws never closes
 * it (a socket from MHD's upgrade is closed with MHD_upgrade_action(urh,
 * MHD_UPGRADE_ACTION_CLOSE)), and stops using it once it reports the close.
 *
 * Incoming bytes pass a checker before wslay sees them, so that every
 * protocol error is answered with the close code RFC 6455 asks for (wslay
 * answers some with a close frame without a code, echoes an invalid close
 * reason when it arrives in pieces, and takes a 1-byte close payload as "no
 * code"). The checker and wslay together enforce: client frames masked; no
 * reserved bits or opcodes; control frames unfragmented and at most 125
 * bytes; lengths minimally encoded; continuation frames only inside a
 * fragmented message and no new message inside one (control frames may come
 * between fragments); a message no longer than max_message; text messages and
 * close reasons well-formed UTF-8 (utf8.h); close codes 1000-1003, 1007-1011
 * or 3000-4999. A ping is answered with a pong carrying its payload; a close
 * with a close echoing its code (without the reason), sent once what was
 * queued before has gone out.
 *
 * Memory is bounded: incoming, about 2 * max_message (wslay's reassembly and
 * the message it hands over) plus two 4 KiB buffers; outgoing, max_queued
 * plus a little for control frames; a peer that floods pings without reading
 * the pongs is dropped.
 *
 * Close codes this layer uses (RFC 6455 section 7.4.1):
 *   1000 WS_CLOSE_NORMAL          sent by ws_close() callers; echoed
 *   1002 WS_CLOSE_PROTOCOL_ERROR  sent: a frame breaking the rules above, an
 *                                 invalid close code, a 1-byte close payload
 *   1005 WS_CLOSE_NO_STATUS       reported only: the peer's close had no code
 *   1006 WS_CLOSE_ABNORMAL        reported only: the connection ended with no
 *                                 close handshake (EOF, I/O error, keep-alive
 *                                 timeout); nothing is sent
 *   1007 WS_CLOSE_INVALID_DATA    sent: a text message or a close reason that
 *                                 is not UTF-8
 *   1008 WS_CLOSE_POLICY          sent: the peer floods pings without reading
 *                                 the pongs
 *   1009 WS_CLOSE_TOO_BIG         sent: a message longer than max_message
 *   1011 WS_CLOSE_INTERNAL_ERROR  sent: out of memory or a wslay failure
 * Any other valid code can be sent with ws_close() and is echoed when the
 * peer sends it.
 *
 * Single-threaded, like the rest of the agent. Callbacks never run inside a
 * ws_*() call, only from the event loop. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

struct ws_conn;

enum {
        WS_CLOSE_NORMAL = 1000,
        WS_CLOSE_GOING_AWAY = 1001,
        WS_CLOSE_PROTOCOL_ERROR = 1002,
        WS_CLOSE_UNSUPPORTED_DATA = 1003,
        WS_CLOSE_NO_STATUS = 1005,
        WS_CLOSE_ABNORMAL = 1006,
        WS_CLOSE_INVALID_DATA = 1007,
        WS_CLOSE_POLICY = 1008,
        WS_CLOSE_TOO_BIG = 1009,
        WS_CLOSE_INTERNAL_ERROR = 1011,
};

/* The longest close reason a close frame holds (125 - 2 bytes of code). */
#define WS_REASON_MAX 123

/* For the timeouts of struct ws_config: never. */
#define WS_NEVER UINT64_MAX

/* Limits and timers; a field left 0 takes the default in brackets. */
struct ws_config {
        size_t max_message;          /* longest incoming message, all fragments together [64 KiB]; at least 125 */
        size_t max_queued;           /* outgoing payload bytes queued; ws_send_*() refuses past it [1 MiB] */
        size_t low_water;            /* on_writable once the queue drains to this many bytes [16 KiB] */
        uint64_t ping_interval_usec; /* a ping this often [30 s]; WS_NEVER: no pings */
        uint64_t idle_timeout_usec;  /* nothing at all received for this long: drop, 1006 [75 s]; WS_NEVER */
        uint64_t close_timeout_usec; /* longest wait for a close handshake to finish [5 s] */
};

/* What the owner hears. Each gets the connection; ws_userdata() gives the
 * owner's pointer back. Inside any of them the owner may send, close, or
 * free the connection. */
struct ws_callbacks {
        /* A whole text message, checked UTF-8; not NUL-terminated. */
        void (*on_text)(struct ws_conn *c, const char *utf8, size_t len);
        /* A whole binary message. */
        void (*on_binary)(struct ws_conn *c, const uint8_t *data, size_t len);
        /* The connection is over, for whatever reason; called exactly once,
         * unless ws_free() comes first. code is the peer's code when the
         * peer closed (1005 if it gave none), the code we sent when we did
         * (ws_close(), or an error in the peer's frames), 1006 when there was
         * no close handshake. reason is valid during the call only. After
         * it, ws no longer touches the socket: the owner closes it (here or
         * later) and must still ws_free() the connection. */
        void (*on_close)(struct ws_conn *c, uint16_t code, const char *reason);
        /* Optional: the outgoing queue, after having grown past low_water,
         * has drained to low_water or less; or, after ws_send_*() refused a
         * message (-ENOBUFS), the socket took some of the queue (a queue of
         * many small messages can be full below low_water). */
        void (*on_writable)(struct ws_conn *c);
};

/* Starts the protocol on fd, a connected stream socket (non-blocking mode is
 * set here) whose upgrade answer is already sent. fd is borrowed, event is
 * referenced. config may be NULL (all defaults). callbacks is copied;
 * on_close is required. */
int ws_new(sd_event *event, int fd, const struct ws_config *config, const struct ws_callbacks *callbacks,
           void *userdata, struct ws_conn **ret);

/* Bytes the HTTP layer read from the socket past the upgrade request (MHD's
 * extra_in), to be handled as if read from the socket before anything else.
 * Call it right after ws_new(), at most WS_FEED_MAX bytes in all (-E2BIG
 * otherwise); they are handled from the event loop. */
#define WS_FEED_MAX (64 * 1024)
int ws_feed(struct ws_conn *c, const void *data, size_t len);

/* Drops the connection at once, without a close frame and without
 * on_close. Takes NULL. Inside a callback the memory goes only once the
 * callback returns, but nothing more is called. */
struct ws_conn *ws_free(struct ws_conn *c);
DEFINE_CLEANUP_FUNC(struct ws_conn, ws_free);

void *ws_userdata(const struct ws_conn *c);

/* True until a close handshake starts (either side) or the connection ends:
 * messages can be sent and are delivered. */
bool ws_is_open(const struct ws_conn *c);

/* Receiving off (on false) or on again, for an owner that cannot take
 * more messages for now (a forward whose other side is full). While it is
 * off and the connection open, nothing is read from the socket, so the
 * peer's frames wait in the kernel's buffers and TCP's flow control holds
 * the peer back; the idle timeout does not run (the silence is ours: it
 * starts again when receiving is back on); pings still go out, and
 * sending is unaffected. Called from on_binary or on_text, the messages
 * whose bytes were read with that one's may still come (at most
 * WS_FEED_MAX bytes of them); otherwise none comes until it is on. A
 * close handshake reads again by itself (the peer's close is awaited).
 * Returns 0, or a negative errno when the connection failed (on_close
 * follows from the event loop). */
int ws_set_receive(struct ws_conn *c, bool on);

/* Queue a message (the data is copied). Returns 0; -EINVAL for text that is
 * not UTF-8; -ENOBUFS when the queue would pass max_queued (counting a small
 * overhead per message); -ESHUTDOWN once the connection is closing or
 * closed; -ENOMEM. */
int ws_send_text(struct ws_conn *c, const char *utf8, size_t len);
int ws_send_binary(struct ws_conn *c, const void *data, size_t len);

/* Payload bytes of the messages not yet completely written to the socket
 * (a message counts whole until its last byte is out), pongs and close
 * included. What the owner's per-viewer memory bound should look at. */
size_t ws_queued_bytes(const struct ws_conn *c);

/* How long the socket kept us waiting: the longest time, in µs, from our
 * having bytes for it to its taking some, among the waits that ended since
 * the last call and the one under way (counted from its start). Each call
 * starts a new measure. A peer that stopped reading makes one long wait,
 * one that reads slowly many short ones (the kernel has room again once the
 * peer read a good part of the socket's buffer). */
uint64_t ws_take_write_stall(struct ws_conn *c);

/* Starts the close handshake: sends a close frame with code (1000-1003,
 * 1007-1011 or 3000-4999) and reason (NULL or UTF-8 of at most
 * WS_REASON_MAX bytes) once the messages queued before it are out, delivers
 * and accepts no more messages, and reports on_close (with this code) once
 * the peer answers, or after close_timeout_usec. Returns 0,
 * also when a close is already under way or done; -EINVAL for a bad code
 * or reason. */
int ws_close(struct ws_conn *c, uint16_t code, const char *reason);

/* For an owner that stops at once, its event loop done (the agent exits):
 * ws_close(), then one try at writing the close frame, ahead of the messages
 * queued but after one half sent, as far as the socket takes it without
 * waiting; then ws_free(). Inside a callback of c it only frees. Takes
 * NULL, returns NULL. */
struct ws_conn *ws_close_free(struct ws_conn *c, uint16_t code, const char *reason);
