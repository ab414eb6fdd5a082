/* utf8.c: the strict UTF-8 validator (see utf8.h). */
#include "utf8.h"

bool utf8_feed(struct utf8_state *s, const void *data, size_t n) {
        const uint8_t *p = data;

        for (size_t i = 0; i < n; i++)
                if (!utf8_step(s, p[i]))
                        return false;
        return true;
}

bool utf8_valid(const void *data, size_t n) {
        struct utf8_state s = UTF8_STATE_INIT;

        return utf8_feed(&s, data, n) && utf8_complete(&s);
}
