/* test-ws-client.h: owns nothing; the client's side of a websocket for the
 * unit tests that talk to ws.c over a socketpair: frames built by hand
 * (masked unless a test wants otherwise) and the server's frames parsed and
 * checked. Include it after cmocka.h. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define OP_CONT 0x0
#define OP_TEXT 0x1
#define OP_BINARY 0x2
#define OP_CLOSE 0x8
#define OP_PING 0x9
#define OP_PONG 0xa

/* A growable byte string, for the client's frames and for what it reads. */
struct bytes {
        uint8_t *data;
        size_t len, cap;
};

/* One frame the server sent. */
struct rframe {
        bool fin;
        uint8_t opcode;
        uint8_t *payload; /* malloc'd, NUL-terminated */
        size_t len;
};

static inline void bytes_add(struct bytes *b, const void *data, size_t n) {
        if (b->len + n > b->cap) {
                size_t cap = b->cap ? b->cap : 256;

                while (cap < b->len + n)
                        cap *= 2;
                b->data = realloc(b->data, cap);
                assert_non_null(b->data);
                b->cap = cap;
        }
        if (n)
                memcpy(b->data + b->len, data, n);
        b->len += n;
}

static inline void bytes_free(struct bytes *b) {
        free(b->data);
        *b = (struct bytes) { 0 };
}

/* Appends one frame; rsv goes into bits 4-6 of the first byte as it is.
 * Lengths use the shortest encoding unless force_len_bytes asks for 2 or 8. */
static inline void frame_ex(struct bytes *b, bool fin, uint8_t rsv, uint8_t opcode, const void *payload, size_t len,
                            bool masked, int force_len_bytes) {
        static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d }; /* RFC 6455's example key */
        const uint8_t *p = payload;
        uint8_t hdr[14];
        size_t n = 0;
        uint8_t m = masked ? 0x80 : 0;

        hdr[n++] = (uint8_t) ((fin ? 0x80 : 0) | (rsv & 7) << 4 | (opcode & 0xf));
        if (len < 126 && force_len_bytes == 0)
                hdr[n++] = (uint8_t) (m | len);
        else if (len <= 0xffff && force_len_bytes != 8) {
                hdr[n++] = m | 126;
                hdr[n++] = (uint8_t) (len >> 8);
                hdr[n++] = (uint8_t) len;
        } else {
                hdr[n++] = m | 127;
                for (int i = 7; i >= 0; i--)
                        hdr[n++] = (uint8_t) ((uint64_t) len >> (8 * i));
        }
        if (masked) {
                memcpy(hdr + n, key, 4);
                n += 4;
        }
        bytes_add(b, hdr, n);
        for (size_t i = 0; i < len; i++) {
                uint8_t c = masked ? p[i] ^ key[i & 3] : p[i];

                bytes_add(b, &c, 1);
        }
}

static inline void frame(struct bytes *b, bool fin, uint8_t opcode, const void *payload, size_t len) {
        frame_ex(b, fin, 0, opcode, payload, len, true, 0);
}

static inline void close_frame(struct bytes *b, uint16_t code, const char *reason, size_t reason_len) {
        uint8_t p[128];

        assert_true(reason_len <= 123);
        p[0] = (uint8_t) (code >> 8);
        p[1] = (uint8_t) code;
        if (reason_len)
                memcpy(p + 2, reason, reason_len);
        frame(b, true, OP_CLOSE, p, 2 + reason_len);
}

/* Parses one whole frame off the front of rx (what the client read); false
 * if it is not all there. Server frames must be unmasked, with RSV bits
 * clear and lengths in their shortest form. */
static inline bool parse_frame(struct bytes *rx, struct rframe *fr) {
        const uint8_t *p = rx->data;
        size_t have = rx->len, hlen = 2;
        uint64_t len;

        if (have < 2)
                return false;
        assert_int_equal(p[0] & 0x70, 0);
        assert_int_equal(p[1] & 0x80, 0); /* a server never masks */
        len = p[1] & 0x7f;
        if (len == 126) {
                if (have < 4)
                        return false;
                len = (uint64_t) p[2] << 8 | p[3];
                assert_true(len >= 126);
                hlen = 4;
        } else if (len == 127) {
                if (have < 10)
                        return false;
                len = 0;
                for (int i = 0; i < 8; i++)
                        len = len << 8 | p[2 + i];
                assert_true(len > 0xffff);
                hlen = 10;
        }
        if (have - hlen < len)
                return false;
        fr->fin = p[0] & 0x80;
        fr->opcode = p[0] & 0xf;
        fr->len = (size_t) len;
        fr->payload = malloc(fr->len + 1);
        assert_non_null(fr->payload);
        memcpy(fr->payload, p + hlen, fr->len);
        fr->payload[fr->len] = '\0';
        memmove(rx->data, p + hlen + len, have - hlen - len);
        rx->len -= hlen + (size_t) len;
        if (fr->opcode & 0x8)
                assert_true(fr->fin && fr->len <= 125);
        return true;
}
