/* api-internal.h: what the API's files share (see api.h): the api object,
 * the call a handler gets (its request, its answer, the path's captures and
 * what the route's preconditions found), the routes' preconditions, and the
 * handlers of each resource file. */
#pragma once

#include "api.h"
#include "auth.h"
#include "session.h"

struct api {
        const struct auth *auth;
        struct xen *xen;
        struct host_paths paths;
        struct vms *vms;
        struct console_ws *viewers;
        struct sessions *sessions;
        char *web_dir;
};

#define API_CAPS_MAX 2          /* "*" segments in a route's path */
#define API_CAP_MAX 128         /* a segment longer than this matches no route */

/* What must hold before a route's handler runs; api.c checks it once for
 * every route, answers when it does not, and fills the call. */
enum api_needs {
        API_NEEDS_NOTHING,
        API_NEEDS_VMS,          /* the VM manager (else 503 xen_unavailable) */
        API_NEEDS_VM,           /* ... and call->vm, the VM named by the first "*" (else 404) */
        API_NEEDS_CONSOLE,      /* ... and call->console, the console named by the second "*" */
        API_NEEDS_VIEWERS,      /* API_NEEDS_CONSOLE, and the websocket viewers */
};

struct api_call {
        struct api *api;
        const struct api_route *route;
        const struct api_request *req;
        struct api_response *resp;
        char cap[API_CAPS_MAX][API_CAP_MAX];    /* the path's "*" segments, in order */
        struct vm *vm;
        enum vm_console console;
};

typedef void (*api_handler_t)(struct api_call *call);

/* A query-string argument or a request header by name, or NULL. */
const char *api_query(const struct api_call *call, const char *key);
const char *api_header(const struct api_call *call, const char *name);

/* The request's body as JSON, or NULL with a 400 already in the answer. */
json_t *api_body_json(struct api_call *call);

/* Answers: a JSON body (consumed), or 204 with none. */
void api_response_json(struct api_response *resp, unsigned status, json_t *body);
void api_response_empty(struct api_response *resp);

/* CLOCK_MONOTONIC in µs, for the sessions. */
uint64_t api_now_usec(void);

/* Authentication (api-web.c): whether the request carries the token or a
 * live session cookie (with our own Origin where a cookie alone would let
 * another site act); fills the answer (401 or 403) when not. */
bool api_authenticated(struct api *a, const struct api_request *req, struct api_response *resp);

/* The handlers, by resource. */
void api_host_healthz(struct api_call *call);
void api_host_get(struct api_call *call);

void api_web_file(struct api_call *call);
void api_session_create(struct api_call *call);
void api_session_get(struct api_call *call);
void api_session_delete(struct api_call *call);

void api_vms_list(struct api_call *call);
void api_vms_create(struct api_call *call);
void api_vm_get(struct api_call *call);
void api_vm_delete(struct api_call *call);
void api_vm_action(struct api_call *call);

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
