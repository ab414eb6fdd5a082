/* session.c: owns the browser sessions (see session.h). */
#include <errno.h>
#include <nettle/base16.h>
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
        base16_encode_update(pick->id, sizeof(raw), raw);
        pick->id[SESSION_ID_LEN] = '\0';
        pick->expires = now + SESSION_LIFETIME_SEC * USEC_PER_SEC;
        memcpy(id, pick->id, SESSION_ID_LEN + 1);
        explicit_bzero(raw, sizeof(raw));
        return 0;
}

/* Whether id looks like one of ours: SESSION_ID_LEN lower-case hex digits. */
static bool id_valid(const char *id) {
        return id && strlen(id) == SESSION_ID_LEN && strspn(id, "0123456789abcdef") == SESSION_ID_LEN;
}

/* Compares every byte, whatever differs first. */
static bool id_equal(const char *a, const char *b) {
        unsigned char d = 0;

        for (size_t i = 0; i < SESSION_ID_LEN; i++)
                d |= (unsigned char) (a[i] ^ b[i]);
        return d == 0;
}

static struct session *lookup(struct sessions *s, const char *id, uint64_t now) {
        struct session *found = NULL;

        if (!id_valid(id))
                return NULL;
        for (size_t i = 0; i < SESSIONS_MAX; i++) {
                struct session *x = &s->slot[i];

                if (x->id[0] && id_equal(x->id, id) && x->expires > now)
                        found = x;
        }
        return found;
}

bool sessions_check(struct sessions *s, const char *id, uint64_t now, uint64_t *expires_in) {
        struct session *x = lookup(s, id, now);

        if (x && expires_in)
                *expires_in = (x->expires - now) / USEC_PER_SEC;
        return x != NULL;
}

void sessions_end(struct sessions *s, const char *id) {
        struct session *x = lookup(s, id, 0);

        if (x)
                explicit_bzero(x, sizeof(*x));
}
