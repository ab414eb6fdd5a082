/* throttle.h: failed logins, counted per client address, so that nobody can
 * guess at the token fast. An address whose requests presented a wrong
 * token THROTTLE_FAILURES times within THROTTLE_WINDOW_USEC of the first is
 * refused any further attempt (429 with Retry-After) until that window
 * ends. An IPv4 address is one client; IPv6 clients are counted by their
 * /64, which one host is normally given whole. The table has room for
 * THROTTLE_ADDRESSES addresses: a new one takes the place of one whose
 * window is over, else of the one with the fewest failures (so that a
 * client cannot push a throttled address out by trying from many others
 * cheaply: an address that is refused stays). Pure logic, no clock of its
 * own: the caller says what time it is. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#define THROTTLE_FAILURES 10
#define THROTTLE_WINDOW_USEC (60ULL * 1000 * 1000)
#define THROTTLE_ADDRESSES 256

struct throttle_key {
        uint8_t family;                 /* AF_INET, AF_INET6, or 0 (other: all one client) */
        uint8_t bytes[8];               /* IPv4: 4 bytes; IPv6: the /64 */
};

struct throttle_entry {
        struct throttle_key key;
        uint64_t window_start_usec;
        unsigned failures;
};

struct throttle {
        struct throttle_entry e[THROTTLE_ADDRESSES];
        unsigned n;
};

/* The client's key from its address (NULL: the "other" key). */
struct throttle_key throttle_key_of(const struct sockaddr *sa);

/* 0 if a login from key may be judged now, else the whole seconds until
 * it may (at least 1). */
unsigned throttle_wait(const struct throttle *t, const struct throttle_key *key, uint64_t now_usec);

/* One more failed login from key. */
void throttle_failed(struct throttle *t, const struct throttle_key *key, uint64_t now_usec);
