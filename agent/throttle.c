/* throttle.c: failed logins per client address (see throttle.h). */
#include <netinet/in.h>
#include <string.h>

#include "throttle.h"

struct throttle_key throttle_key_of(const struct sockaddr *sa) {
        struct throttle_key k = { 0 };

        if (sa && sa->sa_family == AF_INET) {
                k.family = AF_INET;
                memcpy(k.bytes, &((const struct sockaddr_in *) sa)->sin_addr, 4);
        } else if (sa && sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) sa)->sin6_addr;

                if (IN6_IS_ADDR_V4MAPPED(a)) {  /* an IPv4 client of a dual-stack socket */
                        k.family = AF_INET;
                        memcpy(k.bytes, a->s6_addr + 12, 4);
                } else {
                        k.family = AF_INET6;
                        memcpy(k.bytes, a->s6_addr, 8);
                }
        }
        return k;
}

static bool key_equal(const struct throttle_key *a, const struct throttle_key *b) {
        return a->family == b->family && memcmp(a->bytes, b->bytes, sizeof(a->bytes)) == 0;
}

static bool over(const struct throttle_entry *e, uint64_t now) {
        return now - e->window_start_usec >= THROTTLE_WINDOW_USEC;
}

static int find(const struct throttle *t, const struct throttle_key *key) {
        for (unsigned i = 0; i < t->n; i++)
                if (key_equal(&t->e[i].key, key))
                        return (int) i;
        return -1;
}

unsigned throttle_wait(const struct throttle *t, const struct throttle_key *key, uint64_t now_usec) {
        int i = find(t, key);
        const struct throttle_entry *e = i >= 0 ? &t->e[i] : NULL;
        uint64_t left;

        if (!e || over(e, now_usec) || e->failures < THROTTLE_FAILURES)
                return 0;
        left = e->window_start_usec + THROTTLE_WINDOW_USEC - now_usec;
        return (unsigned) ((left + 999999) / 1000000);
}

void throttle_failed(struct throttle *t, const struct throttle_key *key, uint64_t now_usec) {
        int found = find(t, key);
        struct throttle_entry *e = found >= 0 ? &t->e[found] : NULL;
        bool fresh = !e;

        if (!e && t->n < THROTTLE_ADDRESSES)
                e = &t->e[t->n++];
        if (!e) {
                /* Full: a finished window's place, else the fewest failures'. */
                e = &t->e[0];
                for (unsigned i = 0; i < t->n; i++) {
                        if (over(&t->e[i], now_usec)) {
                                e = &t->e[i];
                                break;
                        }
                        if (t->e[i].failures < e->failures)
                                e = &t->e[i];
                }
        }
        if (fresh || over(e, now_usec)) {
                e->key = *key;
                e->window_start_usec = now_usec;
                e->failures = 0;
        }
        if (e->failures < UINT32_MAX)
                e->failures++;
}
