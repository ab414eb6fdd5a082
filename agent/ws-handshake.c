/* ws-handshake.c: the RFC 6455 opening handshake, server side (see ws-handshake.h).
 * SHA-1 and base64 come from nettle. */
#include <assert.h>
#include <errno.h>
#include <nettle/base64.h>
#include <nettle/sha1.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "ws-handshake.h"

/* A header value can be long, but not this long in any honest request. */
#define WS_HANDSHAKE_VALUE_MAX 4096

static_assert(BASE64_ENCODE_RAW_LENGTH(SHA1_DIGEST_SIZE) == WS_HANDSHAKE_ACCEPT_LEN, "accept length");

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

/* True if the comma-separated list holds token (ASCII case-insensitive),
 * allowing optional whitespace around each element. */
static bool list_has_token(const char *list, const char *token) {
        size_t tlen = strlen(token);
        const char *p = list;

        if (strnlen(list, WS_HANDSHAKE_VALUE_MAX + 1) > WS_HANDSHAKE_VALUE_MAX)
                return false;
        while (*p) {
                const char *start, *end;

                while (is_ows(*p) || *p == ',')
                        p++;
                start = p;
                while (*p && *p != ',')
                        p++;
                end = p;
                while (end > start && is_ows(end[-1]))
                        end--;
                if ((size_t) (end - start) == tlen && strncasecmp(start, token, tlen) == 0)
                        return true;
        }
        return false;
}

static bool is_base64_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
               c == '/';
}

/* 22 base64 characters and "==", decoding to 16 bytes that encode back to
 * the same text (so the last character's 4 unused bits are zero). */
static bool key_valid(const char *key) {
        struct base64_decode_ctx ctx;
        uint8_t raw[BASE64_DECODE_LENGTH(WS_HANDSHAKE_KEY_LEN)];
        char back[BASE64_ENCODE_RAW_LENGTH(16)];
        size_t n = sizeof(raw);

        if (strnlen(key, WS_HANDSHAKE_KEY_LEN + 1) != WS_HANDSHAKE_KEY_LEN)
                return false;
        for (size_t i = 0; i < WS_HANDSHAKE_KEY_LEN - 2; i++)
                if (!is_base64_char(key[i]))
                        return false;
        if (key[22] != '=' || key[23] != '=')
                return false;

        base64_decode_init(&ctx);
        if (!base64_decode_update(&ctx, &n, raw, WS_HANDSHAKE_KEY_LEN, key) || !base64_decode_final(&ctx))
                return false;
        if (n != 16)
                return false;
        base64_encode_raw(back, 16, raw);
        return memcmp(back, key, sizeof(back)) == 0;
}

static int fail(struct ws_handshake_error *ret, unsigned status, const char *header, const char *message) {
        if (ret)
                *ret = (struct ws_handshake_error) {
                        .status = status,
                        .header = header,
                        .message = message,
                };
        return -EINVAL;
}

int ws_handshake_check(const struct ws_handshake_request *req, struct ws_handshake_error *ret_error) {
        if (!req->method || strcmp(req->method, "GET") != 0)
                return fail(ret_error, 405, NULL, "a WebSocket upgrade must be a GET request");
        if (!req->upgrade)
                return fail(ret_error, 426, "Upgrade", "this resource needs a WebSocket upgrade (Upgrade: websocket)");
        if (!list_has_token(req->upgrade, "websocket"))
                return fail(ret_error, 426, "Upgrade", "the Upgrade header does not name websocket");
        if (!req->connection || !list_has_token(req->connection, "upgrade"))
                return fail(ret_error, 426, "Connection", "the Connection header does not hold the token upgrade");
        if (!req->version)
                return fail(ret_error, 426, "Sec-WebSocket-Version", "Sec-WebSocket-Version is missing (we speak 13)");
        if (strcmp(req->version, WS_HANDSHAKE_VERSION) != 0)
                return fail(ret_error, 426, "Sec-WebSocket-Version", "unsupported WebSocket version (we speak 13)");
        if (!req->key)
                return fail(ret_error, 400, "Sec-WebSocket-Key", "Sec-WebSocket-Key is missing");
        if (!key_valid(req->key))
                return fail(ret_error, 400, "Sec-WebSocket-Key",
                            "Sec-WebSocket-Key is not the base64 encoding of 16 bytes");
        return 0;
}

int ws_handshake_accept(const char *key, char ret[static WS_HANDSHAKE_ACCEPT_LEN + 1]) {
        struct sha1_ctx ctx;
        uint8_t digest[SHA1_DIGEST_SIZE];
        size_t n;

        if (!key)
                return -EINVAL;
        n = strnlen(key, WS_HANDSHAKE_VALUE_MAX + 1);
        if (n > WS_HANDSHAKE_VALUE_MAX)
                return -EINVAL;

        sha1_init(&ctx);
        sha1_update(&ctx, n, (const uint8_t *) key);
        sha1_update(&ctx, strlen(WS_HANDSHAKE_GUID), (const uint8_t *) WS_HANDSHAKE_GUID);
        sha1_digest(&ctx, sizeof(digest), digest);
        base64_encode_raw(ret, sizeof(digest), digest);
        ret[WS_HANDSHAKE_ACCEPT_LEN] = '\0';
        return 0;
}
