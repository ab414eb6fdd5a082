/* api-internal.h: what the API's files share (see api.h): the api object,
 * the call a handler gets (its request, its answer, the path's captures and
 * what the route's preconditions found), the routes' preconditions, and the
 * handlers of each resource file. */
#pragma once

#include "api.h"
#include "auth.h"
#include "session.h"
#include "throttle.h"

/* Every answer's count by route, method and status, and its duration by
 * route (api_observe(), in api-metrics.c). Durations are kept in µs
 * against the bounds of API_DURATION_BOUNDS_USEC. */
#define API_ROUTES_MAX (API_ROUTE_UNMATCHED + 1) /* rows: the routes, then the unmatched */
#define API_DURATION_BUCKETS 13
#define API_HTTP_COUNTS_MAX 512         /* route, method, status triples kept; more are not counted */

struct api_http_count {
        uint8_t route;                  /* api_route_template() */
        uint8_t method;                 /* an index of api-metrics.c's method names */
        uint16_t status;
        uint64_t n;
};

struct api_http_stats {
        struct api_http_count *counts;
        size_t n_counts, size_counts;
        uint64_t dropped;               /* answers past API_HTTP_COUNTS_MAX triples */
        uint64_t buckets[API_ROUTES_MAX][API_DURATION_BUCKETS + 1]; /* not cumulative; the last: above 10 s */
        uint64_t sum_usec[API_ROUTES_MAX];
        uint64_t strangers_refused, strangers_cut; /* http-server.h */
        uint64_t tls_handshakes_failed;
};

struct api {
        const struct auth *auth;
        const struct auth *metrics_auth;        /* GET /metrics only; NULL: none */
        bool tls;                       /* served over https: the cookie is Secure, an Origin https:// */
        struct xen *xen;
        struct host_paths paths;
        struct vms *vms;
        struct console_ws *viewers;
        struct port_forwards *forwards;
        struct sessions *sessions;
        struct throttle logins;         /* failed ones, by client address */
        char *web_dir;
        double started_realtime;        /* CLOCK_REALTIME s when the API was made */
        struct api_http_stats http;
};

#define API_CAPS_MAX 2          /* "{name}" segments in a route's path */
#define API_CAP_MAX 128         /* a segment longer than this matches no route */

/* What must hold before a route's handler runs; api.c checks it once for
 * every route, answers when it does not, and fills the call. */
enum api_needs {
        API_NEEDS_NOTHING,
        API_NEEDS_VMS,          /* the VM manager (else 503 xen_unavailable) */
        API_NEEDS_VM,           /* ... and call->vm, the VM named by the first "{...}" (else 404) */
        API_NEEDS_CONSOLE,      /* ... and call->console, the console named by the second "{...}" */
        API_NEEDS_VIEWERS,      /* API_NEEDS_CONSOLE, and the websocket viewers */
        API_NEEDS_PORT,         /* the port forwards, call->vm (no If-Match), and call->port, the port named by
                                 * the second "{...}" (else 400 invalid_field port) */
};

struct api_call {
        struct api *api;
        const struct api_route *route;
        const struct api_request *req;
        struct api_response *resp;
        char cap[API_CAPS_MAX][API_CAP_MAX];    /* the path's "{...}" segments, in order */
        struct vm *vm;
        enum vm_console console;
        uint16_t port;
};

typedef void (*api_handler_t)(struct api_call *call);

/* A query-string argument or a request header by name, or NULL. */
const char *api_query(const struct api_call *call, const char *key);
const char *api_header(const struct api_call *call, const char *name);
/* A request's number (an offset, a seq, seconds): 1 to 20 decimal digits,
 * no sign or space, at most UINT64_MAX. -EINVAL otherwise (and for NULL). */
int api_parse_u64(const char *s, uint64_t *ret);
/* If-Match (see api.c); api_check_if_match answers 412 when it fails. */
bool api_if_match(const char *value, const char *etag);
bool api_check_if_match(struct api_call *call, const struct vm *vm);
/* A VM's JSON as the answer, with its ETag. */
void api_response_vm(struct api_response *resp, unsigned status, const struct vm *vm);

/* A websocket route's upgrade (api.c): whether the request is a valid one
 * (ws-handshake.h), with its Sec-WebSocket-Accept in accept; false with the
 * refusal (400, 405, 426) in the answer. Then the 101 that hands the
 * connection to u (consumed). */
bool api_ws_handshake(struct api_call *call, char *accept, size_t accept_size);
void api_response_upgrade(struct api_call *call, struct api_upgrade *u, const char *accept);

/* The request's body as JSON, or NULL with a 400 already in the answer. */
json_t *api_body_json(struct api_call *call);

/* Answers: a JSON body (consumed), or 204 with none. */
void api_response_json(struct api_response *resp, unsigned status, json_t *body);
void api_response_empty(struct api_response *resp);

/* CLOCK_REALTIME in s. */
double api_realtime(void);

/* Authentication (api-web.c): whether the request carries the token or a
 * live session cookie (with our own Origin where a cookie alone would let
 * another site act); fills the answer (401 or 403) when not. */
bool api_authenticated(struct api *a, const struct api_request *req, struct api_response *resp);

/* The handlers, by resource. */
void api_host_healthz(struct api_call *call);
void api_host_get(struct api_call *call);
void api_metrics_get(struct api_call *call);
void api_events_get(struct api_call *call);
/* The text GET /metrics answers (metrics.h's format), or -ENOMEM. */
int api_metrics_write(struct api *a, char **ret, size_t *ret_size);

void api_web_file(struct api_call *call);
void api_session_create(struct api_call *call);
void api_session_get(struct api_call *call);
void api_session_delete(struct api_call *call);

void api_vms_list(struct api_call *call);
void api_vms_create(struct api_call *call);
void api_vm_get(struct api_call *call);
void api_vm_put(struct api_call *call);
void api_console_wait(struct api_call *call);
void api_vm_delete(struct api_call *call);
void api_vm_action(struct api_call *call);

void api_networks_list(struct api_call *call);
void api_networks_create(struct api_call *call);
void api_network_get(struct api_call *call);
void api_network_delete(struct api_call *call);
void api_images_list(struct api_call *call);
void api_image_put(struct api_call *call);
void api_image_delete(struct api_call *call);
/* An upload's admission (PUT /v1/images/NAME), before its body comes. */
struct api_upload *api_image_upload_begin(struct api_call *call);
struct api_upload *api_upload_new(struct image_upload *image);
struct image_upload *api_upload_image(struct api_upload *u);

void api_console_input(struct api_call *call);
void api_console_log(struct api_call *call);
void api_console_boots(struct api_call *call);
void api_console_ws(struct api_call *call);

void api_port_ws(struct api_call *call);
