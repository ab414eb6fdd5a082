/* api.c: owns the REST API's routing table and handlers (see api.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "auth.h"
#include "console-log.h"
#include "host.h"
#include "images.h"
#include "vms.h"

struct api {
        const struct auth *auth;
        struct xen *xen;
        struct host_paths paths;
        struct vms *vms;
};

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
static void handle_images_list(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_image_put(struct api *a, const struct api_request *req, struct api_response *resp);
static void handle_image_delete(struct api *a, const struct api_request *req, struct api_response *resp);

static const struct api_route routes[] = {
        { "GET", "/healthz", 0, handle_healthz, BODY_BUFFERED },
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

int api_new(const struct auth *auth, struct xen *xen, const struct host_paths *paths, struct api **ret) {
        struct api *a = calloc(1, sizeof(*a));

        if (!a)
                return -ENOMEM;
        *a = (struct api) { .auth = auth, .xen = xen, .paths = *paths };
        *ret = a;
        return 0;
}

void api_set_vms(struct api *a, struct vms *vms) {
        a->vms = vms;
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

static struct api_upload *upload_begin(struct api *a, const struct api_request *req, struct api_response *resp);

const struct api_route *api_admit(struct api *a, const struct api_request *req, struct api_response *resp,
                                  struct api_upload **upload) {
        const struct api_route *route;
        int r;

        *resp = (struct api_response) { 0 };
        *upload = NULL;

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
                resp->extra[0].name = "X-Xvmd-Log-Start";
                snprintf(resp->extra[0].value, sizeof(resp->extra[0].value), "%llu", (unsigned long long) off);
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
        resp->extra[0].name = "X-Xvmd-Log-Start";
        snprintf(resp->extra[0].value, sizeof(resp->extra[0].value), "%llu", (unsigned long long) off);
        resp->extra[1].name = "X-Xvmd-Log-End";
        snprintf(resp->extra[1].value, sizeof(resp->extra[1].value), "%llu", (unsigned long long) (off + (uint64_t) n));
}
