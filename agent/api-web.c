/* api-web.c: the browser's routes and who may call the API: the bearer token
 * or the web console's session cookie (POST/GET/DELETE /v1/session), and the
 * web console's files (GET /, GET /assets/NAME). */
#include <fcntl.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api-internal.h"
#include "fileio.h"

/* The web console's files are small; a bigger one is a mistake. */
#define API_WEB_FILE_MAX (8 * 1024 * 1024)

static const char *req_header(const struct api_request *req, const char *name) {
        return req->header ? req->header(req->query_ctx, name) : NULL;
}

/* The session id the request's cookie carries, or NULL. */
static const char *req_session(const struct api_request *req) {
        return req->cookie ? req->cookie(req->query_ctx, SESSION_COOKIE) : NULL;
}

/* Whether Origin names this agent as the client reached it (Host). */
static bool origin_is_self(const struct api *a, const struct api_request *req) {
        const char *origin = req_header(req, "Origin"), *host = req_header(req, "Host"), *rest;

        if (!origin || !host || !*host)
                return false;
        /* Over TLS, a page served in cleartext is not this agent's. */
        if (!a->tls && strncasecmp(origin, "http://", 7) == 0)
                rest = origin + 7;
        else if (strncasecmp(origin, "https://", 8) == 0)
                rest = origin + 8;
        else
                return false;
        return strcasecmp(rest, host) == 0;
}

/* A client that got the token wrong too often (throttle.h) is told to
 * wait, whatever it presents now: true with the 429 in resp. */
static bool login_throttled(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct throttle_key key = throttle_key_of(req->peer);
        unsigned wait = throttle_wait(&a->logins, &key, api_now_usec());

        if (!wait)
                return false;
        api_response_error(resp, ERROR_TOO_MANY_LOGINS, NULL,
                           "too many wrong tokens from this address: %d in a minute; try again in %u s",
                           THROTTLE_FAILURES, wait);
        api_response_header(resp, "Retry-After", "%u", wait);
        return true;
}

static void login_failed(struct api *a, const struct api_request *req) {
        struct throttle_key key = throttle_key_of(req->peer);

        throttle_failed(&a->logins, &key, api_now_usec());
}

bool api_authenticated(struct api *a, const struct api_request *req, struct api_response *resp) {
        const char *session = req_session(req);

        /* A token presented is a login attempt, and counted; a request with
         * none (or with only a session cookie, which may have ended by
         * itself) is not. */
        if (req->authorization && login_throttled(a, req, resp))
                return false;
        if (auth_check(a->auth, req->authorization))
                return true;
        /* The scraper's token opens the metrics, and nothing else. */
        if (a->metrics_auth && strcmp(req->path, "/metrics") == 0 &&
            (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
            auth_check(a->metrics_auth, req->authorization))
                return true;
        if (req->authorization && !(a->metrics_auth && auth_check(a->metrics_auth, req->authorization)))
                login_failed(a, req);
        if (!req->authorization && sessions_check(a->sessions, session, api_now_usec(), NULL)) {
                bool unsafe = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;

                if ((unsafe || req_header(req, "Upgrade")) && !origin_is_self(a, req)) {
                        api_response_error(resp, ERROR_BAD_ORIGIN, NULL,
                                           "a request with the session cookie must come from the agent's own "
                                           "page (Origin)");
                        return false;
                }
                return true;
        }
        api_response_error(resp, ERROR_UNAUTHORIZED, NULL,
                           req->authorization ? "the bearer token is not valid"
                           : session          ? "the session has ended: log in again"
                                              : "an Authorization: Bearer token (or a session cookie) is required");
        resp->challenge = true;
        return false;
}

/* ---- the browser's session ---- */

void api_session_create(struct api_call *call) {
        const struct api_request *req = call->req;
        char id[SESSION_ID_LEN + 1];
        json_t *body, *token;
        const char *key;
        json_t *v;

        body = req->body_size ? json_loadb(req->body, req->body_size, JSON_REJECT_DUPLICATES, NULL) : NULL;
        if (!json_is_object(body)) {
                json_decref(body);
                api_response_error(call->resp, ERROR_INVALID_JSON, NULL, "the body must be {\"token\": \"...\"}");
                return;
        }
        json_object_foreach(body, key, v)
                if (strcmp(key, "token") != 0) {
                        api_response_error(call->resp, ERROR_UNKNOWN_FIELD, NULL, "unknown field \"%.64s\"", key);
                        json_decref(body);
                        return;
                }
        token = json_object_get(body, "token");
        if (!json_is_string(token)) {
                api_response_error(call->resp, ERROR_INVALID_FIELD, "token", "token must be a string");
                json_decref(body);
                return;
        }
        if (login_throttled(call->api, req, call->resp)) {
                json_decref(body);
                return;
        }
        if (!auth_check_token(call->api->auth, json_string_value(token), json_string_length(token))) {
                json_decref(body);
                login_failed(call->api, req);
                api_response_error(call->resp, ERROR_UNAUTHORIZED, "token", "the token is not valid");
                return;
        }
        json_decref(body);
        if (sessions_create(call->api->sessions, api_now_usec(), id) < 0) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "no randomness for a session id");
                return;
        }
        api_response_empty(call->resp);
        api_response_header(call->resp, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d%s",
                            SESSION_COOKIE, id, SESSION_LIFETIME_SEC, call->api->tls ? "; Secure" : "");
        api_response_header(call->resp, "Cache-Control", "no-store");
        explicit_bzero(id, sizeof(id));
}

void api_session_get(struct api_call *call) {
        uint64_t left = 0;
        bool cookie = !auth_check(call->api->auth, call->req->authorization) &&
                      sessions_check(call->api->sessions, req_session(call->req), api_now_usec(), &left);

        api_response_json(call->resp, 200,
                          json_pack("{s:b,s:s,s:o}", "authenticated", 1, "via", cookie ? "cookie" : "bearer",
                                    "expires_in", cookie ? json_integer((json_int_t) left) : json_null()));
        api_response_header(call->resp, "Cache-Control", "no-store");
}

void api_session_delete(struct api_call *call) {
        sessions_end(call->api->sessions, req_session(call->req));
        api_response_empty(call->resp);
        api_response_header(call->resp, "Set-Cookie", "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0%s",
                            SESSION_COOKIE, call->api->tls ? "; Secure" : "");
}

/* ---- the web console's files ---- */

static const char *content_type_of(const char *name) {
        static const struct {
                const char *ext, *type;
        } types[] = {
                { ".html", "text/html; charset=utf-8" },
                { ".js", "text/javascript; charset=utf-8" },
                { ".mjs", "text/javascript; charset=utf-8" },
                { ".css", "text/css; charset=utf-8" },
                { ".svg", "image/svg+xml" },
                { ".png", "image/png" },
                { ".ico", "image/x-icon" },
                { ".json", "application/json" },
                { ".txt", "text/plain; charset=utf-8" },
                { ".map", "application/json" },
                { ".woff2", "font/woff2" },
        };
        const char *dot = strrchr(name, '.');

        for (size_t i = 0; dot && i < ELEMENTSOF(types); i++)
                if (strcmp(dot, types[i].ext) == 0)
                        return types[i].type;
        return "application/octet-stream";
}

/* GET / and GET /assets/NAME: a file of the web folder, by one plain name. */
void api_web_file(struct api_call *call) {
        struct api_response *resp = call->resp;
        const char *name = "index.html", *web_dir = call->api->web_dir;
        _cleanup_close_ int dir = -1, fd = -1;
        struct stat st;
        ssize_t done;
        char *buf;

        if (strcmp(call->req->path, "/") != 0) {
                if (!spec_name_is_valid(call->cap[0], 100)) {
                        api_response_error(resp, ERROR_NOT_FOUND, NULL, "there is nothing at %s", call->req->path);
                        return;
                }
                name = call->cap[0];
        }
        dir = open(web_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fd = dir < 0 ? -1 : openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                api_response_error(resp, ERROR_NOT_FOUND, NULL,
                                   dir < 0 ? "this agent has no web console (%s is missing)" : "there is nothing at %s",
                                   dir < 0 ? web_dir : call->req->path);
                return;
        }
        if (st.st_size > API_WEB_FILE_MAX) {
                api_response_error(resp, ERROR_INTERNAL, NULL, "%s is too large to serve", name);
                return;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                api_response_error(resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        done = read_full(fd, buf, (size_t) st.st_size);
        if (done < 0) {
                free(buf);
                api_response_error(resp, ERROR_INTERNAL, NULL, "%s cannot be read", name);
                return;
        }
        api_response_done(resp);
        resp->status = 200;
        resp->raw = buf;
        resp->raw_size = (size_t) done;
        resp->content_type = content_type_of(name);
        api_response_header(resp, "Cache-Control", "no-cache");
        api_response_header(resp, "X-Content-Type-Options", "nosniff");
        if (strcmp(name, "index.html") == 0) {
                /* Scripts and connections only from the agent itself. */
                api_response_header(resp, "Content-Security-Policy",
                                    "default-src 'self'; connect-src 'self'; style-src 'self' 'unsafe-inline'; "
                                    "img-src 'self' data:; frame-ancestors 'none'");
                api_response_header(resp, "X-Frame-Options", "DENY");
        }
}
