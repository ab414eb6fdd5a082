/* auth.h: owns the API's bearer token and the check of a request's
 * Authorization header against it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "errors.h"
#include "macro.h"

#define AUTH_TOKEN_MIN 16
#define AUTH_TOKEN_MAX 512
#define AUTH_TOKEN_FILE_MAX 4096

struct auth;

/* The token must be AUTH_TOKEN_MIN..AUTH_TOKEN_MAX visible ASCII characters
 * (no spaces or control characters). Returns 0, -EINVAL, -E2BIG or -ENOMEM;
 * on -EINVAL/-E2BIG *err (if not NULL) says why in words. */
int auth_new(const char *token, size_t len, struct auth **ret, struct error *err);

/* Reads the token from a regular file that group and other cannot access
 * (mode & 077 == 0); trailing whitespace is stripped. On failure returns the
 * negative errno and fills *err with words for the operator. */
int auth_new_from_file(const char *path, struct auth **ret, struct error *err);

struct auth *auth_free(struct auth *a);
DEFINE_CLEANUP_FUNC(struct auth, auth_free);

/* Parses "Bearer <token>" (scheme case-insensitive, RFC 7235 section 2.1;
 * spaces around and between are tolerated). On success *ret_token points into
 * header. Errors: -ENODATA (NULL or blank), -EPROTONOSUPPORT (another scheme),
 * -EBADMSG (no token, or a token with whitespace in it). */
int auth_parse_bearer(const char *header, const char **ret_token, size_t *ret_len);

/* Whether the Authorization header carries the token. The comparison takes
 * the same time whatever the token's length or where the first mismatch is. */
bool auth_check(const struct auth *a, const char *authorization);
/* The same check for a bare token (a browser's login). */
bool auth_check_token(const struct auth *a, const char *token, size_t len);
