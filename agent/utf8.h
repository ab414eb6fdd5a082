/* utf8.h: owns nothing; a strict UTF-8 validator (RFC 3629, the table of
 * well-formed byte sequences in Unicode 15 section 3.9): no overlong forms,
 * no surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no stray
 * continuation bytes, no sequence cut short. WebSocket text messages and
 * close reasons must pass it (RFC 6455 section 8.1).
 *
 * It can run over a stream fed in pieces, one byte at a time if need be:
 * the state carries a sequence across pieces. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct utf8_state {
        uint8_t need;   /* continuation bytes still to come in the current sequence */
        uint8_t lo, hi; /* the range the next continuation byte must fall in */
};

#define UTF8_STATE_INIT ((struct utf8_state) { 0, 0x80, 0xbf })

/* Takes one byte. Returns false if it makes the text ill-formed; the state
 * is then meaningless and the stream must be rejected. */
static inline bool utf8_step(struct utf8_state *s, uint8_t b) {
        if (s->need > 0) {
                if (b < s->lo || b > s->hi)
                        return false;
                s->need--;
                s->lo = 0x80;
                s->hi = 0xbf;
                return true;
        }
        if (b < 0x80)
                return true;
        if (b < 0xc2) /* a continuation byte, or C0/C1 (always overlong) */
                return false;
        if (b < 0xe0) {
                s->need = 1;
        } else if (b < 0xf0) {
                s->need = 2;
                if (b == 0xe0)
                        s->lo = 0xa0; /* below: overlong */
                else if (b == 0xed)
                        s->hi = 0x9f; /* above: surrogates */
        } else if (b < 0xf5) {
                s->need = 3;
                if (b == 0xf0)
                        s->lo = 0x90; /* below: overlong */
                else if (b == 0xf4)
                        s->hi = 0x8f; /* above: past U+10FFFF */
        } else
                return false;
        return true;
}

/* True when the bytes taken so far end between two characters. */
static inline bool utf8_complete(const struct utf8_state *s) {
        return s->need == 0;
}

/* Takes n bytes; false at the first one that makes the text ill-formed. */
bool utf8_feed(struct utf8_state *s, const void *data, size_t n);

/* True if data is well-formed UTF-8 from start to end (n may be 0). */
bool utf8_valid(const void *data, size_t n);
