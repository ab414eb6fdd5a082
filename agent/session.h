/* session.h: owns the browser sessions: a browser trades the bearer token once
 * (POST /v1/session) for a random session id, which it then sends as an
 * HttpOnly cookie. Sessions live in memory only, are few (the oldest goes
 * first), and end after a fixed lifetime or on logout. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

#define SESSION_COOKIE "xvmd_session"
#define SESSIONS_MAX 64
#define SESSION_LIFETIME_SEC (12 * 3600)
#define SESSION_ID_LEN 64       /* hex of 32 random bytes */

struct sessions;

int sessions_new(struct sessions **ret);
struct sessions *sessions_free(struct sessions *s);
DEFINE_CLEANUP_FUNC(struct sessions, sessions_free);

/* Starts a session at now (CLOCK_MONOTONIC, µs) and writes its id. When the
 * table is full the session closest to its end makes room. */
int sessions_create(struct sessions *s, uint64_t now, char id[static SESSION_ID_LEN + 1]);

/* Whether id (the session cookie's value, as the HTTP server parsed it; may
 * be NULL) names a live session; *expires_in (if not NULL) gets the seconds
 * it has left. The lookup's time does not depend on where an id differs. */
bool sessions_check(struct sessions *s, const char *id, uint64_t now, uint64_t *expires_in);

/* Ends the session id names, if any. */
void sessions_end(struct sessions *s, const char *id);
