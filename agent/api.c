/* api.c: owns the REST API's routing table and handlers (see api.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "host.h"

struct api {
        const struct auth *auth;
        struct xen *xen;
        struct host_paths paths;
};

typedef void (*api_handler_t)(struct api *a, const struct api_request *req, struct api_response *resp);

struct api_route {
        const char *method;
        const char *path;
        size_t body_max;
        api_handler_t handler;
};

static void handle_healthz(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_host(struct api *a, const struct api_request *req, struct api_response *resp);

static const struct api_route routes[] = {
        { "GET", "/healthz", 0, handle_healthz },
        { "GET", "/v1/host", 0, handle_host },
};

int api_new(const struct auth *auth, struct xen *xen, const struct host_paths *paths, struct api **ret) {
        struct api *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        *a = (struct api) { .auth = auth, .xen = xen, .paths = *paths };
        *ret = a;
        return 0;
}

struct api *api_free(struct api *a) {
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
                if (strcmp(routes[i].path, path) != 0)
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

void api_response_body_too_large(struct api_response *resp, const struct api_route *route) {
        api_response_error(resp, 413, "payload_too_large", NULL,
                           "the request body is larger than the %zu bytes %s %s accepts",
                           route->body_max, route->method, route->path);
}

const struct api_route *api_admit(struct api *a, const struct api_request *req, struct api_response *resp) {
        const struct api_route *route;
        int r;

        *resp = (struct api_response) { 0 };

        /* Authenticate before routing, so that without the token nothing can
         * be learnt about which /v1 paths exist. */
        if (api_path_needs_auth(req->path) && !auth_check(a->auth, req->authorization)) {
                api_response_error(resp, 401, "unauthorized", NULL,
                                   req->authorization ? "the bearer token is not valid"
                                                      : "an Authorization: Bearer token is required");
                resp->challenge = true;
                return NULL;
        }

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
        return route;
}

void api_dispatch(struct api *a, const struct api_route *route, const struct api_request *req,
                  struct api_response *resp) {
        route->handler(a, req, resp);
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
