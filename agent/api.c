/* api.c: owns the REST API's routing table and handlers (see api.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "api.h"
#include "auth.h"
#include "console-log.h"
#include "fileio.h"
#include "console-ws.h"
#include "host.h"
#include "images.h"
#include "session.h"
#include "vms.h"
#include "ws-handshake.h"

struct api {
        const struct auth *auth;
        struct xen *xen;
        struct host_paths paths;
        struct vms *vms;
        struct console_hubs *hubs;
        struct sessions *sessions;
        char *web_dir;
};

/* The web console's files are small; a bigger one is a mistake. */
#define API_WEB_FILE_MAX (8 * 1024 * 1024)

/* Bodies: JSON requests are small; console input is a few keystrokes or a
 * pasted script. A log answer carries at most this much; clients page with
 * ?from= (the X-Xvmd-Log-End header says where this answer ends, an empty
 * answer that the log does; GET /v1/vms/NAME has each log's end). */
#define API_JSON_BODY_MAX (64 * 1024)
#define API_INPUT_BODY_MAX (16 * 1024)
#define API_LOG_CHUNK_MAX (4 * 1024 * 1024)
#define API_SHUTDOWN_TIMEOUT_DEFAULT 60
#define API_SHUTDOWN_TIMEOUT_MAX 3600

typedef void (*api_handler_t)(struct api *a, const struct api_request *req, struct api_response *resp);

struct api_route {
        const char *method;
        const char *path;
        size_t body_max;
        api_handler_t handler;
        enum route_body { BODY_BUFFERED, BODY_UPLOAD } body; /* BODY_UPLOAD: streamed to an api_upload */
};

struct api_upload {
        struct image_upload *image;
};

static void handle_healthz(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_host(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_vms_list(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_vms_create(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_vm_get(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_vm_delete(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_vm_action(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_console_input(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_console_log(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_console_ws(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_images_list(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_web(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_session_create(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_session_get(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_session_delete(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_image_put(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_image_delete(struct api *a, const struct api_request *req, struct api_response *resp);

static const struct api_route routes[] = {
        { "GET", "/", 0, handle_web, BODY_BUFFERED },
        { "GET", "/assets/*", 0, handle_web, BODY_BUFFERED },
        { "GET", "/healthz", 0, handle_healthz, BODY_BUFFERED },
        { "POST", "/v1/session", API_JSON_BODY_MAX, handle_session_create, BODY_BUFFERED },
        { "GET", "/v1/session", 0, handle_session_get, BODY_BUFFERED },
        { "DELETE", "/v1/session", 0, handle_session_delete, BODY_BUFFERED },
        { "GET", "/v1/host", 0, handle_host, BODY_BUFFERED },
        { "GET", "/v1/images", 0, handle_images_list, BODY_BUFFERED },
        { "PUT", "/v1/images/*", IMAGE_SIZE_MAX, handle_image_put, BODY_UPLOAD },
        { "DELETE", "/v1/images/*", 0, handle_image_delete, BODY_BUFFERED },
        { "GET", "/v1/vms", 0, handle_vms_list, BODY_BUFFERED },
        { "POST", "/v1/vms", API_JSON_BODY_MAX, handle_vms_create, BODY_BUFFERED },
        { "GET", "/v1/vms/*", 0, handle_vm_get, BODY_BUFFERED },
        { "DELETE", "/v1/vms/*", 0, handle_vm_delete, BODY_BUFFERED },
        { "POST", "/v1/vms/*/*", API_JSON_BODY_MAX, handle_vm_action, BODY_BUFFERED },
        { "POST", "/v1/vms/*/consoles/*/input", API_INPUT_BODY_MAX, handle_console_input, BODY_BUFFERED },
        { "GET", "/v1/vms/*/consoles/*/log", 0, handle_console_log, BODY_BUFFERED },
        { "GET", "/v1/vms/*/consoles/*/ws", 0, handle_console_ws, BODY_BUFFERED },
};

/* Matches path against a route pattern; "*" takes one non-empty segment,
 * copied to caps (at most ncaps, each < cap_size, else no match). */
static bool path_match(const char *pattern, const char *path, char caps[][128], size_t ncaps) {
        size_t n = 0;

        while (*pattern && *path) {
                if (*pattern == '*') {
                        size_t len = strcspn(path, "/");

                        if (len == 0 || len >= 128)
                                return false;
                        if (caps) {
                                if (n >= ncaps)
                                        return false;
                                memcpy(caps[n], path, len);
                                caps[n][len] = '\0';
                        }
                        n++;
                        pattern++;
                        path += len;
                        continue;
                }
                if (*pattern != *path)
                        return false;
                pattern++;
                path++;
        }
        return *pattern == '\0' && *path == '\0';
}

int api_new(const struct auth *auth, struct xen *xen, const struct host_paths *paths, const char *web_dir,
            struct api **ret) {
        struct api *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        *a = (struct api) { .auth = auth, .xen = xen, .paths = *paths };
        a->web_dir = strdup(web_dir ? web_dir : API_WEB_DIR_DEFAULT);
        if (!a->web_dir || sessions_new(&a->sessions) < 0) {
                api_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

void api_set_vms(struct api *a, struct vms *vms, struct console_hubs *hubs) {
        a->vms = vms;
        a->hubs = hubs;
}

struct api *api_free(struct api *a) {
        if (!a)
                return NULL;
        sessions_free(a->sessions);
        free(a->web_dir);
        free(a);
        return NULL;
}

static void allow_append(char *allow, size_t size, const char *method) {
        size_t n = strlen(allow);

        snprintf(allow + n, size - n, "%s%s", n ? ", " : "", method);
}

int api_route_lookup(const char *method, const char *path, const struct api_route **ret,
                     char *allow, size_t allow_size) {
        bool path_known = false;

        if (allow_size > 0)
                allow[0] = '\0';
        if (strcmp(method, "HEAD") == 0)
                method = "GET";

        for (size_t i = 0; i < ELEMENTSOF(routes); i++) {
                if (!path_match(routes[i].path, path, NULL, 0))
                        continue;
                if (strcmp(routes[i].method, method) == 0) {
                        *ret = &routes[i];
                        return 0;
                }
                path_known = true;
                allow_append(allow, allow_size, routes[i].method);
                if (strcmp(routes[i].method, "GET") == 0)
                        allow_append(allow, allow_size, "HEAD");
        }
        return path_known ? -EOPNOTSUPP : -ENOENT;
}

bool api_path_needs_auth(const char *path) {
        return strncmp(path, "/v1", 3) == 0 && (path[3] == '\0' || path[3] == '/');
}

size_t api_route_body_max(const struct api_route *route) {
        return route->body_max;
}

void api_response_done(struct api_response *resp) {
        json_decref(resp->body);
        resp->body = NULL;
        free(resp->raw);
        resp->raw = NULL;
        if (resp->stream)
                resp->stream->free(resp->stream);
        resp->stream = NULL;
        if (resp->upgrade)
                resp->upgrade->free(resp->upgrade);
        resp->upgrade = NULL;
}

static void response_json(struct api_response *resp, unsigned status, json_t *body) {
        api_response_done(resp);
        resp->status = status;
        resp->body = body;
}

void api_response_error(struct api_response *resp, unsigned status, const char *code, const char *field,
                        const char *format, ...) {
        json_t *error, *body;
        char message[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);

        error = json_pack("{s:s,s:s}", "code", code, "message", message);
        if (error && field && json_object_set_new(error, "field", json_string(field)) < 0) {
                json_decref(error);
                error = NULL;
        }
        body = error ? json_pack("{s:o}", "error", error) : NULL;
        response_json(resp, status, body);
}

void api_response_header(struct api_response *resp, const char *name, const char *format, ...) {
        va_list ap;

        for (size_t i = 0; i < ELEMENTSOF(resp->extra); i++)
                if (!resp->extra[i].name) {
                        resp->extra[i].name = name;
                        va_start(ap, format);
                        vsnprintf(resp->extra[i].value, sizeof(resp->extra[i].value), format, ap);
                        va_end(ap);
                        return;
                }
}

void api_response_body_too_large(struct api_response *resp, const struct api_route *route) {
        api_response_error(resp, 413, "payload_too_large", NULL,
                           "the request body is larger than the %zu bytes %s %s accepts",
                           route->body_max, route->method, route->path);
}

static struct api_upload *upload_begin(struct api *a, const struct api_request *req, struct api_response *resp);

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

static const char *header(const struct api_request *req, const char *name) {
        return req->header ? req->header(req->query_ctx, name) : NULL;
}

/* POST /v1/session is how one authenticates. */
static bool is_login(const struct api_request *req) {
        return strcmp(req->method, "POST") == 0 && strcmp(req->path, "/v1/session") == 0;
}

/* Whether Origin names this agent as the client reached it (Host). */
static bool origin_is_self(const struct api_request *req) {
        const char *origin = header(req, "Origin"), *host = header(req, "Host"), *rest;

        if (!origin || !host || !*host)
                return false;
        if (strncasecmp(origin, "http://", 7) == 0)
                rest = origin + 7;
        else if (strncasecmp(origin, "https://", 8) == 0)
                rest = origin + 8;
        else
                return false;
        return strcasecmp(rest, host) == 0;
}

/* Bearer token, or a session cookie; with the cookie, a request that
 * changes something or opens a websocket must come from our own page. Fills
 * *resp (401 or 403) when not. */
static bool authenticated(struct api *a, const struct api_request *req, struct api_response *resp) {
        const char *cookie = header(req, "Cookie");

        if (auth_check(a->auth, req->authorization))
                return true;
        if (!req->authorization && sessions_check(a->sessions, cookie, now_usec(), NULL)) {
                bool unsafe = strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0;

                if ((unsafe || header(req, "Upgrade")) && !origin_is_self(req)) {
                        api_response_error(resp, 403, "bad_origin", NULL,
                                           "a request with the session cookie must come from the agent's own "
                                           "page (Origin)");
                        return false;
                }
                return true;
        }
        api_response_error(resp, 401, "unauthorized", NULL,
                           req->authorization ? "the bearer token is not valid"
                           : cookie && strstr(cookie, SESSION_COOKIE "=")
                                   ? "the session has ended: log in again"
                                   : "an Authorization: Bearer token (or a session cookie) is required");
        resp->challenge = true;
        return false;
}

const struct api_route *api_admit(struct api *a, const struct api_request *req, struct api_response *resp,
                                  struct api_upload **upload) {
        const struct api_route *route;
        int r;

        *resp = (struct api_response) { 0 };
        *upload = NULL;

        /* Authenticate before routing, so that without the token nothing can
         * be learnt about which /v1 paths exist. */
        if (api_path_needs_auth(req->path) && !is_login(req) && !authenticated(a, req, resp))
                return NULL;

        r = api_route_lookup(req->method, req->path, &route, resp->allow, sizeof(resp->allow));
        if (r == -ENOENT) {
                api_response_error(resp, 404, "not_found", NULL, "there is nothing at %s", req->path);
                return NULL;
        }
        if (r < 0) {
                api_response_error(resp, 405, "method_not_allowed", NULL, "%s does not take %s (only %s)",
                                   req->path, req->method, resp->allow);
                return NULL;
        }

        if (req->content_length != API_CONTENT_LENGTH_UNKNOWN && req->content_length > route->body_max) {
                api_response_body_too_large(resp, route);
                return NULL;
        }
        if (route->body == BODY_UPLOAD) {
                *upload = upload_begin(a, req, resp);
                if (!*upload)
                        return NULL;
        }
        return route;
}

void api_dispatch(struct api *a, const struct api_route *route, const struct api_request *req,
                  struct api_response *resp) {
        route->handler(a, req, resp);
}

/* ---- the browser's session ---- */

static void handle_session_create(struct api *a, const struct api_request *req, struct api_response *resp) {
        char id[SESSION_ID_LEN + 1];
        json_error_t e;
        json_t *body, *token;
        const char *key;
        json_t *v;

        body = req->body_size ? json_loadb(req->body, req->body_size, JSON_REJECT_DUPLICATES, &e) : NULL;
        if (!json_is_object(body)) {
                json_decref(body);
                api_response_error(resp, 400, "invalid_json", NULL, "the body must be {\"token\": \"...\"}");
                return;
        }
        json_object_foreach(body, key, v)
                if (strcmp(key, "token") != 0) {
                        api_response_error(resp, 400, "unknown_field", NULL, "unknown field \"%.64s\"", key);
                        json_decref(body);
                        return;
                }
        token = json_object_get(body, "token");
        if (!json_is_string(token)) {
                api_response_error(resp, 400, "invalid_field", "token", "token must be a string");
                json_decref(body);
                return;
        }
        if (!auth_check_token(a->auth, json_string_value(token), json_string_length(token))) {
                json_decref(body);
                api_response_error(resp, 401, "unauthorized", "token", "the token is not valid");
                return;
        }
        json_decref(body);
        if (sessions_create(a->sessions, now_usec(), id) < 0) {
                api_response_error(resp, 500, "internal_error", NULL, "no randomness for a session id");
                return;
        }
        api_response_done(resp);
        resp->status = 204;
        resp->empty = true;
        api_response_header(resp, "Set-Cookie", "%s=%s; Path=/; HttpOnly; SameSite=Strict; Max-Age=%d",
                            SESSION_COOKIE, id, SESSION_LIFETIME_SEC);
        api_response_header(resp, "Cache-Control", "no-store");
        explicit_bzero(id, sizeof(id));
}

static void handle_session_get(struct api *a, const struct api_request *req, struct api_response *resp) {
        uint64_t left = 0;
        bool cookie = !auth_check(a->auth, req->authorization) &&
                      sessions_check(a->sessions, header(req, "Cookie"), now_usec(), &left);

        response_json(resp, 200, json_pack("{s:b,s:s,s:o}", "authenticated", 1, "via", cookie ? "cookie" : "bearer",
                                           "expires_in", cookie ? json_integer((json_int_t) left) : json_null()));
        api_response_header(resp, "Cache-Control", "no-store");
}

static void handle_session_delete(struct api *a, const struct api_request *req, struct api_response *resp) {
        sessions_end(a->sessions, header(req, "Cookie"));
        api_response_done(resp);
        resp->status = 204;
        resp->empty = true;
        api_response_header(resp, "Set-Cookie", "%s=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0", SESSION_COOKIE);
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
static void handle_web(struct api *a, const struct api_request *req, struct api_response *resp) {
        char caps[1][128];
        const char *name = "index.html";
        _cleanup_close_ int dir = -1, fd = -1;
        struct stat st;
        ssize_t done;
        char *buf;

        if (strcmp(req->path, "/") != 0) {
                if (!path_match("/assets/*", req->path, caps, 1) || !spec_name_is_valid(caps[0], 100)) {
                        api_response_error(resp, 404, "not_found", NULL, "there is nothing at %s", req->path);
                        return;
                }
                name = caps[0];
        }
        dir = open(a->web_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        fd = dir < 0 ? -1 : openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
                api_response_error(resp, 404, "not_found", NULL,
                                   dir < 0 ? "this agent has no web console (%s is missing)" : "there is nothing at %s",
                                   dir < 0 ? a->web_dir : req->path);
                return;
        }
        if (st.st_size > API_WEB_FILE_MAX) {
                api_response_error(resp, 500, "internal_error", NULL, "%s is too large to serve", name);
                return;
        }
        buf = malloc((size_t) st.st_size + 1);
        if (!buf) {
                api_response_error(resp, 500, "internal_error", NULL, "out of memory");
                return;
        }
        done = read_full(fd, buf, (size_t) st.st_size);
        if (done < 0) {
                free(buf);
                api_response_error(resp, 500, "internal_error", NULL, "%s cannot be read", name);
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

static void handle_healthz(struct api *a _unused_, const struct api_request *req _unused_,
                           struct api_response *resp) {
        response_json(resp, 200, json_pack("{s:s}", "status", "ok"));
}

static void handle_host(struct api *a, const struct api_request *req _unused_, struct api_response *resp) {
        struct host_failure failure;
        struct host_info info;
        int r;

        r = host_info_read(a->xen, &a->paths, &info, &failure);
        if (r < 0) {
                api_response_error(resp, 503, failure.xen ? "xen_unavailable" : "firmware_unavailable", NULL,
                                   "%s: %s", failure.what, strerror(-r));
                return;
        }
        response_json(resp, 200, host_info_to_json(&info));
}

/* ---- VMs, images, consoles ---- */

static void response_spec_error(struct api_response *resp, const struct spec_error *e) {
        api_response_error(resp, e->status ? e->status : 500, e->code ? e->code : "internal_error", e->field,
                           "%s", e->message);
}

/* The VM named by the path's first "*", or NULL with a 404 (or 503 without
 * the VM manager) already in *resp. */
static struct vm *path_vm(struct api *a, const struct api_request *req, const char *pattern, char caps[][128],
                          size_t ncaps, struct api_response *resp) {
        struct vm *vm;

        if (!a->vms) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no VMs here");
                return NULL;
        }
        if (!path_match(pattern, req->path, caps, ncaps) || !spec_name_is_valid(caps[0], VM_NAME_MAX)) {
                api_response_error(resp, 404, "vm_not_found", "name", "there is no VM by that name");
                return NULL;
        }
        vm = vms_find(a->vms, caps[0]);
        if (!vm)
                api_response_error(resp, 404, "vm_not_found", "name", "there is no VM named %s", caps[0]);
        return vm;
}

static json_t *parse_json_body(const struct api_request *req, struct api_response *resp) {
        json_error_t e;
        json_t *j;

        if (!req->body || req->body_size == 0) {
                api_response_error(resp, 400, "invalid_json", NULL, "the request needs a JSON body");
                return NULL;
        }
        j = json_loadb(req->body, req->body_size, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                api_response_error(resp, 400, "invalid_json", NULL, "the body is not valid JSON: %s (line %d)",
                                   e.text, e.line);
        return j;
}

static void handle_images_list(struct api *a, const struct api_request *req _unused_, struct api_response *resp) {
        if (!a->vms) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no images here");
                return;
        }
        response_json(resp, 200, vms_images_to_json(a->vms));
}

/* PUT /v1/images/NAME[?sha256=HEX]: the body, streamed to disk. */
static struct api_upload *upload_begin(struct api *a, const struct api_request *req, struct api_response *resp) {
        const char *sha256 = req->query ? req->query(req->query_ctx, "sha256") : NULL;
        struct spec_error err = { 0 };
        struct api_upload *u;
        char caps[1][128];

        if (!a->vms) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no images here");
                return NULL;
        }
        if (!path_match("/v1/images/*", req->path, caps, 1)) {
                api_response_error(resp, 400, "invalid_name", "name", "that is not an image name");
                return NULL;
        }
        u = calloc(1, sizeof(*u));
        if (!u) {
                api_response_error(resp, 500, "internal_error", NULL, "out of memory");
                return NULL;
        }
        if (vms_image_upload_begin(a->vms, caps[0], req->content_length, sha256, &u->image, &err) < 0) {
                free(u);
                response_spec_error(resp, &err);
                return NULL;
        }
        return u;
}

int api_upload_write(struct api_upload *u, const void *data, size_t n) {
        return image_upload_write(u->image, data, n, NULL);
}

struct api_upload *api_upload_free(struct api_upload *u) {
        if (u) {
                image_upload_free(u->image);
                free(u);
        }
        return NULL;
}

static void handle_image_put(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct spec_error err = { 0 };
        bool created;
        json_t *j;

        if (!req->upload || vms_image_upload_finish(a->vms, req->upload->image, &j, &created, &err) < 0) {
                response_spec_error(resp, &err);
                return;
        }
        response_json(resp, created ? 201 : 200, j);
}

static void handle_image_delete(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct spec_error err = { 0 };
        char caps[1][128];

        if (!a->vms) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no images here");
                return;
        }
        if (!path_match("/v1/images/*", req->path, caps, 1) || vms_image_delete(a->vms, caps[0], &err) < 0) {
                if (!err.status)
                        spec_error_set(&err, 404, "image_not_found", "name", -ENOENT, "there is no such image");
                response_spec_error(resp, &err);
                return;
        }
        api_response_done(resp);
        resp->status = 204;
        resp->empty = true;
}

static void handle_vms_list(struct api *a, const struct api_request *req _unused_, struct api_response *resp) {
        if (!a->vms) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no VMs here");
                return;
        }
        response_json(resp, 200, vms_to_json(a->vms));
}

static void handle_vms_create(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct spec_error err = { 0 };
        struct vm_spec spec;
        struct vm *vm;
        json_t *body;
        int r;

        if (!a->vms) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no VMs here");
                return;
        }
        body = parse_json_body(req, resp);
        if (!body)
                return;
        r = vm_spec_from_request(body, &spec, &err);
        json_decref(body);
        if (r < 0) {
                response_spec_error(resp, &err);
                return;
        }
        r = vms_create(a->vms, &spec, &vm, &err);
        if (r < 0) {
                response_spec_error(resp, &err);
                return;
        }
        if (spec.start && vm_start(vm, &err) < 0) {
                /* The VM exists (stopped); say why it did not start. */
                json_t *j = vm_to_json(vm);

                json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", err.code ? err.code : "start_failed",
                                                          "message", err.message));
                response_json(resp, 201, j);
                return;
        }
        response_json(resp, 201, vm_to_json(vm));
}

static void handle_vm_get(struct api *a, const struct api_request *req, struct api_response *resp) {
        char caps[1][128];
        struct vm *vm = path_vm(a, req, "/v1/vms/*", caps, 1, resp);

        if (vm)
                response_json(resp, 200, vm_to_json(vm));
}

static void handle_vm_delete(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct spec_error err = { 0 };
        char caps[1][128];
        struct vm *vm = path_vm(a, req, "/v1/vms/*", caps, 1, resp);

        if (!vm)
                return;
        if (vms_delete(a->vms, vm, &err) < 0) {
                response_spec_error(resp, &err);
                return;
        }
        api_response_done(resp);
        resp->status = 204;
        resp->empty = true;
}

static void handle_vm_action(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct spec_error err = { 0 };
        char caps[2][128];
        struct vm *vm = path_vm(a, req, "/v1/vms/*/*", caps, 2, resp);
        const char *action = caps[1];
        unsigned timeout = API_SHUTDOWN_TIMEOUT_DEFAULT;
        int r;

        if (!vm)
                return;
        /* Only shutdown takes a body: {"timeout_sec": N}. */
        if (req->body_size > 0) {
                json_t *body = parse_json_body(req, resp), *t;
                const char *key;
                json_t *v;

                if (!body)
                        return;
                if (!json_is_object(body)) {
                        json_decref(body);
                        api_response_error(resp, 400, "invalid_json", NULL, "the body must be a JSON object");
                        return;
                }
                json_object_foreach(body, key, v) {
                        if (strcmp(action, "shutdown") != 0 || strcmp(key, "timeout_sec") != 0) {
                                api_response_error(resp, 400, "unknown_field", NULL, "unknown field \"%.64s\"", key);
                                json_decref(body);
                                return;
                        }
                }
                t = json_object_get(body, "timeout_sec");
                if (t && (!json_is_integer(t) || json_integer_value(t) < 0 ||
                          json_integer_value(t) > API_SHUTDOWN_TIMEOUT_MAX)) {
                        api_response_error(resp, 400, "out_of_range", "timeout_sec",
                                           "timeout_sec must be an integer between 0 and %d",
                                           API_SHUTDOWN_TIMEOUT_MAX);
                        json_decref(body);
                        return;
                }
                if (t)
                        timeout = (unsigned) json_integer_value(t);
                json_decref(body);
        }

        if (strcmp(action, "start") == 0)
                r = vm_start(vm, &err);
        else if (strcmp(action, "shutdown") == 0)
                r = vm_shutdown(vm, timeout, &err);
        else if (strcmp(action, "reboot") == 0)
                r = vm_reboot(vm, &err);
        else if (strcmp(action, "pause") == 0)
                r = vm_pause(vm, &err);
        else if (strcmp(action, "resume") == 0)
                r = vm_resume(vm, &err);
        else if (strcmp(action, "destroy") == 0)
                r = vm_destroy(vm, &err);
        else {
                api_response_error(resp, 404, "not_found", NULL,
                                   "unknown action %.64s (start, shutdown, reboot, pause, resume, destroy)", action);
                return;
        }
        if (r < 0) {
                response_spec_error(resp, &err);
                return;
        }
        /* shutdown and reboot are requests to the guest: 202, the VM's state
         * follows once the guest acts. */
        response_json(resp, strcmp(action, "shutdown") == 0 || strcmp(action, "reboot") == 0 ? 202 : 200,
                      vm_to_json(vm));
}

static struct vm *path_console(struct api *a, const struct api_request *req, const char *pattern,
                               enum vm_console *ret, struct api_response *resp) {
        char caps[2][128];
        struct vm *vm = path_vm(a, req, pattern, caps, 2, resp);

        if (!vm)
                return NULL;
        if (vm_console_from_string(caps[1], ret) < 0 || !vm_console_log(vm, *ret)) {
                api_response_error(resp, 404, "unknown_console", "console",
                                   "VM %s has no console %.64s (pv%s)", caps[0], caps[1],
                                   vm_console_log(vm, VM_CONSOLE_VUART) ? ", vuart" : "");
                return NULL;
        }
        return vm;
}

static void handle_console_input(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct spec_error err = { 0 };
        enum vm_console c;
        struct vm *vm = path_console(a, req, "/v1/vms/*/consoles/*/input", &c, resp);

        if (!vm)
                return;
        if (vm_console_write(vm, c, req->body, req->body_size, &err) < 0) {
                response_spec_error(resp, &err);
                return;
        }
        api_response_done(resp);
        resp->status = 204;
        resp->empty = true;
}

static int parse_offset(const char *s, uint64_t *ret) {
        uint64_t n = 0;

        if (!s || !*s || strlen(s) > 20)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || n > (UINT64_MAX - 9) / 10)
                        return -EINVAL;
                n = n * 10 + (uint64_t) (*s - '0');
        }
        *ret = n;
        return 0;
}

/* GET .../log?follow=1: the log from an offset on, then every byte as it is
 * appended, until the client goes or the VM is deleted. */
struct log_stream {
        struct api_stream base;
        struct log_watch watch;
        struct console_log *log;        /* NULL once the VM is gone */
        uint64_t offset;
};

static ssize_t log_stream_read(struct api_stream *as, void *buf, size_t max) {
        struct log_stream *s = (struct log_stream *) as;
        ssize_t n;

        if (!s->log)
                return -EPIPE;
        n = console_log_read(s->log, s->offset, buf, max);
        if (n == -ENODATA) {
                s->offset = console_log_seek_data(s->log, s->offset);
                n = console_log_read(s->log, s->offset, buf, max);
        }
        if (n < 0)
                return n;
        s->offset += (uint64_t) n;
        return n;
}

static void log_stream_free(struct api_stream *as) {
        struct log_stream *s = (struct log_stream *) as;

        vm_console_unwatch(&s->watch);
        free(s);
}

static void log_stream_changed(struct log_watch *w, bool gone) {
        struct log_stream *s = (struct log_stream *) ((char *) w - offsetof(struct log_stream, watch));

        if (gone)
                s->log = NULL;
        if (s->base.wake)
                s->base.wake(s->base.wake_arg);
}

static void handle_console_log(struct api *a, const struct api_request *req, struct api_response *resp) {
        const char *follow = req->query ? req->query(req->query_ctx, "follow") : NULL;
        enum vm_console c;
        struct vm *vm = path_console(a, req, "/v1/vms/*/consoles/*/log", &c, resp);
        const char *from = req->query ? req->query(req->query_ctx, "from") : NULL;
        struct console_log *log;
        uint64_t start, end, off;
        size_t want;
        ssize_t n;
        char *buf;

        if (!vm)
                return;
        log = vm_console_log(vm, c);
        start = console_log_start(log);
        end = console_log_end(log);
        off = start;
        if (from && (parse_offset(from, &off) < 0 || off < start || off > end)) {
                api_response_error(resp, 416, "offset_out_of_range", "from",
                                   "from must be an offset between %llu and %llu", (unsigned long long) start,
                                   (unsigned long long) end);
                return;
        }
        if (follow && strcmp(follow, "0") != 0) {
                struct log_stream *st;
                int r;

                if (strcmp(follow, "1") != 0) {
                        api_response_error(resp, 400, "invalid_field", "follow", "follow must be 0 or 1");
                        return;
                }
                st = calloc(1, sizeof(*st));
                if (!st) {
                        api_response_error(resp, 500, "internal_error", NULL, "out of memory");
                        return;
                }
                st->base = (struct api_stream) { .read = log_stream_read, .free = log_stream_free };
                st->watch.on_change = log_stream_changed;
                st->log = log;
                st->offset = off;
                r = vm_console_watch(vm, c, &st->watch);
                if (r < 0) {
                        free(st);
                        api_response_error(resp, 503, "too_many_followers", NULL,
                                           "this console already has %d followers", VM_CONSOLE_WATCHES_MAX);
                        return;
                }
                api_response_done(resp);
                resp->status = 200;
                resp->stream = &st->base;
                resp->content_type = "application/octet-stream";
                api_response_header(resp, "X-Xvmd-Log-Start", "%llu", (unsigned long long) off);
                return;
        }

        want = end - off > API_LOG_CHUNK_MAX ? API_LOG_CHUNK_MAX : (size_t) (end - off);
        buf = malloc(want ? want : 1);
        if (!buf) {
                api_response_error(resp, 500, "internal_error", NULL, "out of memory");
                return;
        }
        n = want ? console_log_read(log, off, buf, want) : 0;
        if (n < 0) {
                free(buf);
                api_response_error(resp, 500, "internal_error", NULL, "reading the log failed: %s",
                                   strerror((int) -n));
                return;
        }
        api_response_done(resp);
        resp->status = 200;
        resp->raw = buf;
        resp->raw_size = (size_t) n;
        resp->content_type = "application/octet-stream";
        api_response_header(resp, "X-Xvmd-Log-Start", "%llu", (unsigned long long) off);
        api_response_header(resp, "X-Xvmd-Log-End", "%llu", (unsigned long long) (off + (uint64_t) n));
}

/* GET .../ws: a websocket viewer (api/console-websocket.md). Everything that
 * can be refused is refused here, as HTTP; the viewer itself starts once
 * the 101 is out. */
struct ws_upgrade {
        struct api_upgrade base;
        struct console_hubs *hubs;
        char vm[VM_NAME_MAX + 1];
        enum vm_console console;
        bool from_set;
        uint64_t from;
};

static void ws_upgrade_start(struct api_upgrade *u, int fd, const void *extra, size_t extra_size,
                             void (*done)(void *arg), void *done_arg) {
        struct ws_upgrade *w = (struct ws_upgrade *) u;

        console_hubs_join(w->hubs, w->vm, w->console, w->from_set, w->from, fd, extra, extra_size, done, done_arg);
        free(w);
}

static void ws_upgrade_free(struct api_upgrade *u) {
        free(u);
}

static void handle_console_ws(struct api *a, const struct api_request *req, struct api_response *resp) {
        struct ws_handshake_request hs = {
                .method = req->method,
                .upgrade = header(req, "Upgrade"),
                .connection = header(req, "Connection"),
                .version = header(req, "Sec-WebSocket-Version"),
                .key = header(req, "Sec-WebSocket-Key"),
        };
        const char *from = req->query ? req->query(req->query_ctx, "from") : NULL;
        char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
        struct ws_handshake_error hs_err;
        struct spec_error err = { 0 };
        struct ws_upgrade *w;
        struct console_log *log;
        enum vm_console c;
        struct vm *vm;
        uint64_t off = 0;

        if (!a->hubs) {
                api_response_error(resp, 503, "xen_unavailable", NULL, "the agent manages no VMs here");
                return;
        }
        vm = path_console(a, req, "/v1/vms/*/consoles/*/ws", &c, resp);
        if (!vm)
                return;
        log = vm_console_log(vm, c);
        if (from && (parse_offset(from, &off) < 0 || off < console_log_start(log) || off > console_log_end(log))) {
                api_response_error(resp, 416, "offset_out_of_range", "from",
                                   "from must be an offset between %llu and %llu",
                                   (unsigned long long) console_log_start(log),
                                   (unsigned long long) console_log_end(log));
                return;
        }
        if (ws_handshake_check(&hs, &hs_err) < 0) {
                api_response_error(resp, hs_err.status, hs_err.status == 426 ? "upgrade_required" : "bad_handshake",
                                   hs_err.header, "%s", hs_err.message);
                if (hs_err.status == 426) {
                        api_response_header(resp, "Upgrade", "websocket");
                        api_response_header(resp, "Sec-WebSocket-Version", WS_HANDSHAKE_VERSION);
                }
                return;
        }
        if (console_hubs_admit(a->hubs, vm, c, &err) < 0) {
                response_spec_error(resp, &err);
                return;
        }
        if (ws_handshake_accept(hs.key, accept) < 0 || !(w = calloc(1, sizeof(*w)))) {
                api_response_error(resp, 500, "internal_error", NULL, "cannot answer the handshake");
                return;
        }
        w->base = (struct api_upgrade) { .start = ws_upgrade_start, .free = ws_upgrade_free };
        w->hubs = a->hubs;
        snprintf(w->vm, sizeof(w->vm), "%s", vm_name(vm));
        w->console = c;
        w->from_set = from != NULL;
        w->from = off;
        api_response_done(resp);
        resp->status = 101;
        resp->empty = true;
        resp->upgrade = &w->base;
        api_response_header(resp, "Upgrade", "websocket");
        api_response_header(resp, "Sec-WebSocket-Accept", "%s", accept);
}
