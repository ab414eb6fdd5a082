/* session.c: owns the browser sessions (see session.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "session.h"

#define USEC_PER_SEC 1000000ULL

struct session {
        char id[SESSION_ID_LEN + 1];    /* "" when the slot is free */
        uint64_t expires;               /* CLOCK_MONOTONIC µs */
};

struct sessions {
        struct session slot[SESSIONS_MAX];
};

int sessions_new(struct sessions **ret) {
        struct sessions *s = calloc(1, sizeof(*s));

        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

struct sessions *sessions_free(struct sessions *s) {
        if (s) {
                explicit_bzero(s, sizeof(*s));
                free(s);
        }
        return NULL;
}

int sessions_create(struct sessions *s, uint64_t now, char id[static SESSION_ID_LEN + 1]) {
        uint8_t raw[SESSION_ID_LEN / 2];
        struct session *pick = &s->slot[0];
        size_t got = 0;

        while (got < sizeof(raw)) {
                ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                got += (size_t) n;
        }
        for (size_t i = 0; i < SESSIONS_MAX; i++) {
                struct session *x = &s->slot[i];

                if (!x->id[0] || x->expires <= now) {
                        pick = x;
                        break;
                }
                if (x->expires < pick->expires)
                        pick = x;
        }
        for (size_t i = 0; i < sizeof(raw); i++)
                snprintf(pick->id + 2 * i, 3, "%02x", raw[i]);
        pick->expires = now + SESSION_LIFETIME_SEC * USEC_PER_SEC;
        memcpy(id, pick->id, SESSION_ID_LEN + 1);
        explicit_bzero(raw, sizeof(raw));
        return 0;
}

bool session_cookie_parse(const char *h, char id[static SESSION_ID_LEN + 1]) {
        static const char name[] = SESSION_COOKIE "=";

        /* RFC 6265 section 4.2.1: pairs separated by "; ". */
        while (h && *h) {
                size_t len;

                h += strspn(h, " \t;");
                len = strcspn(h, ";");
                if (len > sizeof(name) - 1 && strncmp(h, name, sizeof(name) - 1) == 0) {
                        const char *v = h + sizeof(name) - 1;
                        size_t vlen = len - (sizeof(name) - 1);

                        while (vlen > 0 && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                                vlen--;
                        if (vlen != SESSION_ID_LEN || strspn(v, "0123456789abcdef") < SESSION_ID_LEN)
                                return false;
                        memcpy(id, v, SESSION_ID_LEN);
                        id[SESSION_ID_LEN] = '\0';
                        return true;
                }
                h += len;
        }
        return false;
}

/* Compares every byte, whatever differs first. */
static bool id_equal(const char *a, const char *b) {
        unsigned char d = 0;

        for (size_t i = 0; i < SESSION_ID_LEN; i++)
                d |= (unsigned char) (a[i] ^ b[i]);
        return d == 0;
}

static struct session *lookup(struct sessions *s, const char *cookie_header, uint64_t now) {
        char id[SESSION_ID_LEN + 1];
        struct session *found = NULL;

        if (!session_cookie_parse(cookie_header, id))
                return NULL;
        for (size_t i = 0; i < SESSIONS_MAX; i++) {
                struct session *x = &s->slot[i];

                if (x->id[0] && id_equal(x->id, id) && x->expires > now)
                        found = x;
        }
        explicit_bzero(id, sizeof(id));
        return found;
}

bool sessions_check(struct sessions *s, const char *cookie_header, uint64_t now, uint64_t *expires_in) {
        struct session *x = lookup(s, cookie_header, now);

        if (x && expires_in)
                *expires_in = (x->expires - now) / USEC_PER_SEC;
        return x != NULL;
}

void sessions_end(struct sessions *s, const char *cookie_header) {
        struct session *x = lookup(s, cookie_header, 0);

        if (x)
                explicit_bzero(x, sizeof(*x));
}
