/* ws-handshake.h: owns nothing; the server's side of the RFC 6455 opening
 * handshake (section 4.2): checks that an HTTP request asks for a WebSocket
 * upgrade the way the RFC says it must, and computes the Sec-WebSocket-Accept
 * value of the 101 answer. No I/O and no HTTP library: the HTTP layer looks
 * the headers up (case-insensitively, as MHD does) and hands their values
 * over, then answers with what this module says. */
#pragma once

#include <stdint.h>

#define WS_HANDSHAKE_VERSION "13"                              /* the only version we speak */
#define WS_HANDSHAKE_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" /* RFC 6455 section 1.3 */
#define WS_HANDSHAKE_KEY_LEN 24    /* base64 of 16 bytes */
#define WS_HANDSHAKE_ACCEPT_LEN 28 /* base64 of a SHA-1 digest (20 bytes) */

/* The request's method and header values; NULL for an absent header. */
struct ws_handshake_request {
        const char *method;
        const char *upgrade;    /* Upgrade */
        const char *connection; /* Connection */
        const char *version;    /* Sec-WebSocket-Version */
        const char *key;        /* Sec-WebSocket-Key */
};

/* Why a request is not a valid upgrade, for a JSON error body. */
struct ws_handshake_error {
        /* The status to answer: 405 for a method other than GET (send
         * "Allow: GET"), 426 when the request does not ask for a WebSocket
         * upgrade or asks for a version other than 13 (send "Upgrade:
         * websocket", "Connection: Upgrade" and "Sec-WebSocket-Version: 13"),
         * 400 for a malformed Sec-WebSocket-Key. */
        unsigned status;
        const char *header;  /* the header at fault ("Sec-WebSocket-Key"), NULL for the method */
        const char *message; /* one sentence, static */
};

/* Checks, in this order: method GET; Upgrade a comma-separated token list
 * holding "websocket"; Connection a token list holding "upgrade" (both
 * case-insensitive, spaces and tabs around tokens allowed); version exactly
 * "13"; key the canonical base64 of exactly 16 bytes. Returns 0, or -EINVAL
 * with *ret_error saying what is wrong with the first bad part. */
int ws_handshake_check(const struct ws_handshake_request *req, struct ws_handshake_error *ret_error);

/* Sec-WebSocket-Accept for key: base64(SHA-1(key || GUID)), NUL-terminated
 * in ret. key is taken as given (ws_handshake_check() it first). Returns 0
 * or -EINVAL for a NULL or absurdly long key. */
int ws_handshake_accept(const char *key, char ret[static WS_HANDSHAKE_ACCEPT_LEN + 1]);
