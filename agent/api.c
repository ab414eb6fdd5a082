/* api.c: owns the REST API's routing table (see api.h): which method and
 * path go to which handler, with which body limit and preconditions; the
 * lookup that hands the handler the path's captures; admission (auth, 404,
 * 405, 413) and dispatch. The handlers live in one file per resource. */
#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api-internal.h"
#include "instance.h"
#include "ws-handshake.h"

/* Bodies: JSON requests are small; console input is a few keystrokes or a
 * pasted script. */
#define API_JSON_BODY_MAX (64 * 1024)
#define API_INPUT_BODY_MAX (16 * 1024)

enum route_body {
        BODY_BUFFERED,
        BODY_UPLOAD,            /* streamed to an api_upload as it comes */
};

struct api_route {
        const char *method;
        const char *path;
        size_t body_max;
        api_handler_t handler;
        enum route_body body;
        enum api_needs needs;
};

struct api_upload {
        struct image_upload *image;
};

static const struct api_route routes[] = {
        { "GET", "/", 0, api_web_file, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "GET", "/assets/{file}", 0, api_web_file, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "GET", "/healthz", 0, api_host_healthz, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "POST", "/v1/session", API_JSON_BODY_MAX, api_session_create, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "GET", "/v1/session", 0, api_session_get, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "DELETE", "/v1/session", 0, api_session_delete, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "GET", "/v1/host", 0, api_host_get, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "GET", "/metrics", 0, api_metrics_get, BODY_BUFFERED, API_NEEDS_NOTHING },
        { "GET", "/v1/events", 0, api_events_get, BODY_BUFFERED, API_NEEDS_VMS },
        { "GET", "/v1/images", 0, api_images_list, BODY_BUFFERED, API_NEEDS_VMS },
        { "PUT", "/v1/images/{image}", IMAGE_SIZE_MAX, api_image_put, BODY_UPLOAD, API_NEEDS_VMS },
        { "DELETE", "/v1/images/{image}", 0, api_image_delete, BODY_BUFFERED, API_NEEDS_VMS },
        { "GET", "/v1/networks", 0, api_networks_list, BODY_BUFFERED, API_NEEDS_VMS },
        { "POST", "/v1/networks", API_JSON_BODY_MAX, api_networks_create, BODY_BUFFERED, API_NEEDS_VMS },
        { "GET", "/v1/networks/{network}", 0, api_network_get, BODY_BUFFERED, API_NEEDS_VMS },
        { "DELETE", "/v1/networks/{network}", 0, api_network_delete, BODY_BUFFERED, API_NEEDS_VMS },
        { "GET", "/v1/vms", 0, api_vms_list, BODY_BUFFERED, API_NEEDS_VMS },
        { "POST", "/v1/vms", API_JSON_BODY_MAX, api_vms_create, BODY_BUFFERED, API_NEEDS_VMS },
        { "GET", "/v1/vms/{name}", 0, api_vm_get, BODY_BUFFERED, API_NEEDS_VM },
        { "PUT", "/v1/vms/{name}", API_JSON_BODY_MAX, api_vm_put, BODY_BUFFERED, API_NEEDS_VMS },
        { "DELETE", "/v1/vms/{name}", 0, api_vm_delete, BODY_BUFFERED, API_NEEDS_VM },
        { "POST", "/v1/vms/{name}/{action}", API_JSON_BODY_MAX, api_vm_action, BODY_BUFFERED, API_NEEDS_VM },
        { "POST", "/v1/vms/{name}/consoles/{console}/input", API_INPUT_BODY_MAX, api_console_input, BODY_BUFFERED,
          API_NEEDS_CONSOLE },
        { "GET", "/v1/vms/{name}/consoles/{console}/log", 0, api_console_log, BODY_BUFFERED, API_NEEDS_CONSOLE },
        { "GET", "/v1/vms/{name}/consoles/{console}/boots", 0, api_console_boots, BODY_BUFFERED, API_NEEDS_CONSOLE },
        { "GET", "/v1/vms/{name}/consoles/{console}/wait", 0, api_console_wait, BODY_BUFFERED, API_NEEDS_CONSOLE },
        { "GET", "/v1/vms/{name}/consoles/{console}/ws", 0, api_console_ws, BODY_BUFFERED, API_NEEDS_VIEWERS },
        { "GET", "/v1/vms/{name}/ports/{port}/ws", 0, api_port_ws, BODY_BUFFERED, API_NEEDS_PORT },
};

static_assert(ELEMENTSOF(routes) <= API_ROUTE_UNMATCHED, "api_http_stats has a row for every route");

/* Matches path against a route pattern; a "{name}" segment takes one
 * non-empty segment shorter than API_CAP_MAX, copied to caps (if not
 * NULL). */
static bool path_match(const char *pattern, const char *path, char caps[API_CAPS_MAX][API_CAP_MAX]) {
        size_t n = 0;

        while (*pattern && *path) {
                if (*pattern == '{') {
                        size_t len = strcspn(path, "/");

                        if (len == 0 || len >= API_CAP_MAX || n >= API_CAPS_MAX)
                                return false;
                        if (caps) {
                                memcpy(caps[n], path, len);
                                caps[n][len] = '\0';
                        }
                        n++;
                        pattern += strcspn(pattern, "}");
                        if (*pattern)
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
        *a = (struct api) { .auth = auth, .xen = xen, .paths = *paths, .started_realtime = api_realtime() };
        a->web_dir = strdup(web_dir ? web_dir : API_WEB_DIR_DEFAULT);
        if (!a->web_dir || sessions_new(&a->sessions) < 0) {
                api_free(a);
                return -ENOMEM;
        }
        *ret = a;
        return 0;
}

const char *api_instance_id(const struct api *a _unused_) {
        return instance_id();
}

const char *api_boot_id(const struct api *a _unused_) {
        return instance_boot_id();
}

void api_set_metrics_auth(struct api *a, const struct auth *metrics_auth) {
        a->metrics_auth = metrics_auth;
}

void api_set_tls(struct api *a, bool tls) {
        a->tls = tls;
}

void api_set_vms(struct api *a, struct vms *vms, struct console_ws *viewers) {
        a->vms = vms;
        a->viewers = viewers;
}

void api_set_forwards(struct api *a, struct port_forwards *forwards) {
        a->forwards = forwards;
}

struct api *api_free(struct api *a) {
        if (!a)
                return NULL;
        sessions_free(a->sessions);
        free(a->http.counts);
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
                if (!path_match(routes[i].path, path, NULL))
                        continue;
                if (strcmp(routes[i].method, method) == 0) {
                        if (allow_size > 0)
                                allow[0] = '\0'; /* only a 405 says what else the path takes */
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
        return (strncmp(path, "/v1", 3) == 0 && (path[3] == '\0' || path[3] == '/')) || strcmp(path, "/metrics") == 0;
}

size_t api_route_template(const char *path) {
        for (size_t i = 0; i < ELEMENTSOF(routes); i++)
                if (path_match(routes[i].path, path, NULL)) {
                        /* The first route of that path: every method of
                         * a path shares its row. */
                        for (size_t j = 0; j < i; j++)
                                if (strcmp(routes[j].path, routes[i].path) == 0)
                                        return j;
                        return i;
                }
        return API_ROUTE_UNMATCHED;
}

const char *api_route_template_name(size_t i) {
        return i < ELEMENTSOF(routes) ? routes[i].path : NULL;
}

size_t api_route_body_max(const struct api_route *route) {
        return route->body_max;
}

double api_realtime(void) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

uint64_t api_now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000ULL + (uint64_t) ts.tv_nsec / 1000;
}

const char *api_query(const struct api_call *call, const char *key) {
        return call->req->query ? call->req->query(call->req->query_ctx, key) : NULL;
}

int api_parse_u64(const char *s, uint64_t *ret) {
        uint64_t n = 0;

        if (!s || !*s || strlen(s) > 20)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || n > (UINT64_MAX - (uint64_t) (*s - '0')) / 10)
                        return -EINVAL;
                n = n * 10 + (uint64_t) (*s - '0');
        }
        *ret = n;
        return 0;
}

const char *api_header(const struct api_call *call, const char *name) {
        return call->req->header ? call->req->header(call->req->query_ctx, name) : NULL;
}

json_t *api_body_json(struct api_call *call) {
        json_error_t e;
        json_t *j;

        if (!call->req->body || call->req->body_size == 0) {
                api_response_error(call->resp, ERROR_INVALID_JSON, NULL, "the request needs a JSON body");
                return NULL;
        }
        j = json_loadb(call->req->body, call->req->body_size, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                api_response_error(call->resp, ERROR_INVALID_JSON, NULL, "the body is not valid JSON: %s (line %d)",
                                   e.text, e.line);
        return j;
}

/* Whether an If-Match value (RFC 9110 13.1.1: "*", or a list of entity
 * tags) holds for etag, or for a VM that does not exist (etag NULL). Weak
 * tags never match (the comparison is strong). */
bool api_if_match(const char *value, const char *etag) {
        while (*value) {
                size_t n;

                value += strspn(value, " \t,");
                n = strcspn(value, ",");
                while (n > 0 && (value[n - 1] == ' ' || value[n - 1] == '\t'))
                        n--;
                if (n == 1 && *value == '*')
                        return etag != NULL;
                if (etag && n == strlen(etag) && strncmp(value, etag, n) == 0)
                        return true;
                value += n;
                value += strcspn(value, ",");
        }
        return false;
}

/* A request's If-Match on the VM it names (GET, PUT, DELETE and the
 * actions of /v1/vms/NAME): 412 when it names another VM of that name or
 * another generation of its spec. */
bool api_check_if_match(struct api_call *call, const struct vm *vm) {
        const char *want = api_header(call, "If-Match");
        char etag[VM_ETAG_MAX];

        if (!want)
                return true;
        if (vm)
                vm_etag(vm, etag);
        if (api_if_match(want, vm ? etag : NULL))
                return true;
        if (vm)
                api_response_error(call->resp, ERROR_PRECONDITION_FAILED, "If-Match",
                                   "VM %s is now %s, not what If-Match names", vm_name(vm), etag);
        else
                api_response_error(call->resp, ERROR_PRECONDITION_FAILED, "If-Match",
                                   "there is no VM named %s, and If-Match names one", call->cap[0]);
        return false;
}

/* The route's preconditions (enum api_needs), checked in this order; false
 * with the answer filled when one does not hold. */
static bool preconditions_hold(struct api_call *call) {
        enum api_needs needs = call->route->needs;
        struct api *a = call->api;

        if (needs == API_NEEDS_NOTHING)
                return true;
        if (!a->vms || (needs == API_NEEDS_VIEWERS && !a->viewers) || (needs == API_NEEDS_PORT && !a->forwards)) {
                api_response_error(call->resp, ERROR_XEN_UNAVAILABLE, NULL, "the agent manages no %s here",
                                   strncmp(call->route->path, "/v1/images", 10) == 0   ? "images"
                                   : strncmp(call->route->path, "/v1/events", 10) == 0 ? "events"
                                   : needs == API_NEEDS_PORT                           ? "port forwards"
                                                                                       : "VMs");
                return false;
        }
        if (needs == API_NEEDS_VMS)
                return true;
        if (!spec_name_is_valid(call->cap[0], VM_NAME_MAX)) {
                api_response_error(call->resp, ERROR_VM_NOT_FOUND, "name", "there is no VM by that name");
                return false;
        }
        call->vm = vms_find(a->vms, call->cap[0]);
        if (!call->vm) {
                api_response_error(call->resp, ERROR_VM_NOT_FOUND, "name", "there is no VM named %s", call->cap[0]);
                return false;
        }
        if (needs == API_NEEDS_VM)
                return api_check_if_match(call, call->vm); /* the VM's own routes; its consoles' ignore it */
        if (needs == API_NEEDS_PORT) {
                uint64_t port;

                if (api_parse_u64(call->cap[1], &port) < 0 || port < 1 || port > 65535) {
                        api_response_error(call->resp, ERROR_INVALID_FIELD, "port",
                                           "port must be a TCP port number, 1 to 65535 (not %.64s)", call->cap[1]);
                        return false;
                }
                call->port = (uint16_t) port;
                return true;
        }
        if (vm_console_from_string(call->cap[1], &call->console) < 0 || !vm_console_hub(call->vm, call->console)) {
                api_response_error(call->resp, ERROR_UNKNOWN_CONSOLE, "console", "VM %s has no console %.64s (pv%s)",
                                   call->cap[0], call->cap[1],
                                   vm_console_hub(call->vm, VM_CONSOLE_VUART) ? ", vuart" : "");
                return false;
        }
        return true;
}

/* The call for a request on its route: captures taken, preconditions
 * checked. */
static bool call_begin(struct api_call *call, struct api *a, const struct api_route *route,
                       const struct api_request *req, struct api_response *resp) {
        *call = (struct api_call) { .api = a, .route = route, .req = req, .resp = resp };
        if (!path_match(route->path, req->path, call->cap)) {
                api_response_error(resp, ERROR_NOT_FOUND, NULL, "there is nothing at %s", req->path);
                return false;
        }
        return preconditions_hold(call);
}

/* POST /v1/session is how one authenticates. */
static bool is_login(const struct api_request *req) {
        return strcmp(req->method, "POST") == 0 && strcmp(req->path, "/v1/session") == 0;
}

const struct api_route *api_admit(struct api *a, const struct api_request *req, struct api_response *resp,
                                  struct api_upload **upload) {
        const struct api_route *route;
        struct api_call call;
        int r;

        *resp = (struct api_response) { 0 };
        *upload = NULL;

        /* Authenticate before routing, so that without the token nothing can
         * be learnt about which /v1 paths exist. */
        if (api_path_needs_auth(req->path) && !is_login(req)) {
                if (!api_authenticated(a, req, resp))
                        return NULL;
                resp->authenticated = true;
        }

        r = api_route_lookup(req->method, req->path, &route, resp->allow, sizeof(resp->allow));
        if (r == -ENOENT) {
                api_response_error(resp, ERROR_NOT_FOUND, NULL, "there is nothing at %s", req->path);
                return NULL;
        }
        if (r < 0) {
                api_response_error(resp, ERROR_METHOD_NOT_ALLOWED, NULL, "%s does not take %s (only %s)", req->path,
                                   req->method, resp->allow);
                return NULL;
        }

        if (req->content_length != API_CONTENT_LENGTH_UNKNOWN && req->content_length > route->body_max) {
                api_response_body_too_large(resp, route);
                return NULL;
        }
        if (route->body == BODY_UPLOAD) {
                if (!call_begin(&call, a, route, req, resp))
                        return NULL;
                *upload = api_image_upload_begin(&call);
                if (!*upload)
                        return NULL;
        }
        return route;
}

void api_dispatch(struct api *a, const struct api_route *route, const struct api_request *req,
                  struct api_response *resp) {
        struct api_call call;

        if (call_begin(&call, a, route, req, resp))
                route->handler(&call);
}

void api_response_body_too_large(struct api_response *resp, const struct api_route *route) {
        api_response_error(resp, ERROR_PAYLOAD_TOO_LARGE, NULL,
                           "the request body is larger than the %zu bytes %s %s accepts", route->body_max,
                           route->method, route->path);
}

/* ---- websocket upgrades ---- */

bool api_ws_handshake(struct api_call *call, char *accept, size_t accept_size) {
        struct ws_handshake_request hs = {
                .method = call->req->method,
                .upgrade = api_header(call, "Upgrade"),
                .connection = api_header(call, "Connection"),
                .version = api_header(call, "Sec-WebSocket-Version"),
                .key = api_header(call, "Sec-WebSocket-Key"),
        };
        struct ws_handshake_error hs_err;
        bool upgrade;

        if (ws_handshake_check(&hs, &hs_err) < 0) {
                upgrade = hs_err.status == 426;
                api_response_error(call->resp,
                                   upgrade                 ? ERROR_UPGRADE_REQUIRED
                                   : hs_err.status == 405 ? ERROR_BAD_HANDSHAKE_METHOD
                                                           : ERROR_BAD_HANDSHAKE,
                                   hs_err.header, "%s", hs_err.message);
                if (upgrade) {
                        api_response_header(call->resp, "Upgrade", "websocket");
                        api_response_header(call->resp, "Sec-WebSocket-Version", WS_HANDSHAKE_VERSION);
                }
                return false;
        }
        if (accept_size < WS_HANDSHAKE_ACCEPT_LEN + 1 || ws_handshake_accept(hs.key, accept) < 0) {
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "cannot answer the handshake");
                return false;
        }
        return true;
}

void api_response_upgrade(struct api_call *call, struct api_upgrade *u, const char *accept) {
        api_response_done(call->resp);
        call->resp->status = 101;
        call->resp->empty = true;
        call->resp->upgrade = u;
        api_response_header(call->resp, "Upgrade", "websocket");
        api_response_header(call->resp, "Sec-WebSocket-Accept", "%s", accept);
}

/* ---- uploads ---- */

int api_upload_write(struct api_upload *u, const void *data, size_t n) {
        return vms_image_upload_write(u->image, data, n);
}

struct api_upload *api_upload_free(struct api_upload *u) {
        if (u) {
                vms_image_upload_free(u->image);
                free(u);
        }
        return NULL;
}

struct image_upload *api_upload_image(struct api_upload *u) {
        return u ? u->image : NULL;
}

struct api_upload *api_upload_new(struct image_upload *image) {
        struct api_upload *u = calloc(1, sizeof(*u));

        if (u)
                u->image = image;
        return u;
}

/* ---- answers ---- */

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
        if (resp->deferred)
                resp->deferred->free(resp->deferred);
        resp->deferred = NULL;
}

void api_response_json(struct api_response *resp, unsigned status, json_t *body) {
        api_response_done(resp);
        resp->status = status;
        resp->body = body;
}

void api_response_empty(struct api_response *resp) {
        api_response_done(resp);
        resp->status = 204;
        resp->empty = true;
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
