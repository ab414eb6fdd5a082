/* api.h: owns the REST API: its routing table (api.c), the handlers of each
 * resource (api-vms.c, api-images.c, api-consoles.c, api-ports.c,
 * api-events.c, api-host.c, api-web.c), who must authenticate, how large a body may be,
 * the JSON every answer carries and the HTTP status of every error
 * (api-error.c). Knows
 * nothing of sockets or of libmicrohttpd; http-server.c feeds it requests.
 * It reaches the core only through core.h. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.h"
#include "macro.h"

struct auth;
struct xen;
struct api;
struct api_route;

#define API_CONTENT_LENGTH_UNKNOWN UINT64_MAX

/* A request body taken as it comes (an image upload) rather than kept in
 * memory: the route's admission opens it, the HTTP server feeds it, the
 * handler finishes it. */
struct api_upload;

struct sockaddr;

struct api_request {
        const char *method;
        const char *path;          /* without the query string */
        /* A query-string argument by name, or NULL (may be NULL itself). */
        const char *(*query)(const void *ctx, const char *key);
        const void *query_ctx;
        /* A request header by name (case-insensitive), or NULL (may be NULL itself). */
        const char *(*header)(const void *ctx, const char *name);
        /* A cookie's value by name, or NULL (may be NULL itself). */
        const char *(*cookie)(const void *ctx, const char *name);
        const char *authorization; /* the header, or NULL */
        const struct sockaddr *peer; /* the client's address, or NULL */
        uint64_t content_length;   /* API_CONTENT_LENGTH_UNKNOWN if not announced */
        const char *body;
        size_t body_size;
        struct api_upload *upload; /* for upload routes, instead of body */
};

/* A body produced as it comes (a followed log). read() returns bytes (> 0),
 * 0 when there is nothing yet, or < 0 at the end of the stream; when it has
 * returned 0, the stream calls wake(wake_arg) once there is more or it ends.
 * free() releases it. */
struct api_stream {
        ssize_t (*read)(struct api_stream *s, void *buf, size_t max);
        void (*free)(struct api_stream *s);
        void (*wake)(void *arg);        /* set by the HTTP server */
        void *wake_arg;
};

/* An answer that upgrades the connection (101, a websocket): once the 101
 * is out, start() gets the socket and bytes already read past the request,
 * and calls done(done_arg) when it no longer uses the socket (the HTTP
 * server then closes it). start() consumes the upgrade; free() is for one
 * that never started (the client went away first). */
struct api_upgrade {
        void (*start)(struct api_upgrade *u, int fd, const void *extra, size_t extra_size, void (*done)(void *arg),
                      void *done_arg);
        void (*free)(struct api_upgrade *u);
};

struct api_response;

/* An answer that comes later (a long poll: GET .../wait). The server holds
 * the request (its connection suspended) until the deferred calls
 * ready(ready_arg), then asks answer() for the answer and frees it. free()
 * also ends one whose client went away first. A suspended connection is
 * not watched: a client that goes away is seen when the answer is sent, so
 * every deferred must end by itself (a timeout). */
struct api_deferred {
        void (*answer)(struct api_deferred *d, struct api_response *ret);
        void (*free)(struct api_deferred *d);
        void (*ready)(void *arg);       /* set by the HTTP server */
        void *ready_arg;
};

struct api_response {
        unsigned status;
        json_t *body;       /* owned; NULL only if memory ran out, or for raw/empty answers */
        char *raw;          /* owned (malloc): a non-JSON body, raw_size bytes, of content_type */
        size_t raw_size;
        const char *content_type;
        bool empty;         /* no body at all (204) */
        struct api_stream *stream; /* owned: a streamed body of content_type */
        struct api_upgrade *upgrade; /* owned: with status 101 */
        struct api_deferred *deferred; /* owned: the answer comes later (status unused) */
        struct {
                const char *name;
                char value[160];
        } extra[4];         /* more headers, name NULL when unused (see api_response_header) */
        char allow[64];     /* for 405: the Allow header, else "" */
        bool challenge;     /* for 401: send WWW-Authenticate */
        bool authenticated; /* the request carried a valid token or session (api_admit) */
};

#define API_WEB_DIR_DEFAULT "/usr/share/xvmd/web"

/* auth and xen are borrowed and must outlive the api. web_dir holds the web
 * console's files (NULL: API_WEB_DIR_DEFAULT). */
int api_new(const struct auth *auth, struct xen *xen, const struct host_paths *paths, const char *web_dir,
            struct api **ret);
struct api *api_free(struct api *a);
DEFINE_CLEANUP_FUNC(struct api, api_free);

/* The agent's instance id (random at each start) and the host's boot id
 * (Linux's; "" where there is none), 32 hex digits: every answer carries
 * them (X-Xvmd-Instance-Id, X-Xvmd-Boot-Id), so that a client sees that
 * the agent restarted or the host rebooted between two of its requests.
 * instance.h makes them, so that the event log's agent_started says the
 * same. */
const char *api_instance_id(const struct api *a);
const char *api_boot_id(const struct api *a);

struct console_ws;
/* The VMs the /v1/vms routes act on, and their consoles' websocket viewers
 * (both borrowed); without them those routes answer 503. */
/* A second token (borrowed), good for GET /metrics only: a scraper's,
 * which can read no VM and change nothing. NULL: none. */
void api_set_metrics_auth(struct api *a, const struct auth *metrics_auth);
/* The server speaks TLS: the session cookie is marked Secure, and a
 * browser's Origin must be https://. */
void api_set_tls(struct api *a, bool tls);

void api_set_vms(struct api *a, struct vms *vms, struct console_ws *viewers);

struct port_forwards;
/* The port forwards (port-forward.h, borrowed) that GET
 * /v1/vms/NAME/ports/PORT/ws starts; without them that route answers 503. */
void api_set_forwards(struct api *a, struct port_forwards *forwards);

/* Pure routing. HEAD is looked up as GET. A route's path may hold "{name}"
 * segments, each matching one non-empty segment of the request's path. Returns 0 with *ret set, -ENOENT for
 * an unknown path, or -EOPNOTSUPP for a known path with another method, with
 * the methods it takes written to allow (e.g. "GET, HEAD"; "" otherwise). */
int api_route_lookup(const char *method, const char *path, const struct api_route **ret,
                     char *allow, size_t allow_size);

/* /v1 and below, and /metrics. */
bool api_path_needs_auth(const char *path);

/* The row of the routing table whose path (its template: "/v1/vms/{name}")
 * matches path, whatever the method (the first of that path), or
 * API_ROUTE_UNMATCHED; and that template by its row (NULL for
 * API_ROUTE_UNMATCHED). */
#define API_ROUTE_UNMATCHED 31      /* below 256: api_http_count keeps it in a byte */
size_t api_route_template(const char *path);
const char *api_route_template_name(size_t i);

/* CLOCK_MONOTONIC in µs. */
uint64_t api_now_usec(void);

/* Every answer the HTTP server sends, for the metrics (GET /metrics): its
 * request's method and path, its status, and when the request's headers
 * came in (api_now_usec()). A streamed answer or an upgrade counts when its
 * headers go. */
void api_observe(struct api *a, const char *method, const char *path, unsigned status, uint64_t start_usec);
/* A stranger's connection (http-server.h) refused at accept (its address
 * had HTTP_STRANGERS_PER_ADDRESS), or cut for a request that took too long:
 * counted for the metrics. */
void api_observe_stranger_refused(struct api *a);
void api_observe_stranger_cut(struct api *a);
/* A TLS handshake that failed (a client that spoke plain HTTP, or did not
 * trust the certificate, or any other): counted for the metrics. */
void api_observe_tls_handshake_failed(struct api *a);

/* First phase, once the headers are in. Returns the route whose handler will
 * take the request (read at most api_route_body_max() bytes of body for it),
 * or NULL with *resp holding the answer (401, 404, 405, or 413 when the
 * announced length is already too large, or why an upload cannot start).
 * For an upload route *upload is set: feed it the body with
 * api_upload_write() instead of keeping it, pass it in the request to
 * api_dispatch(), and api_upload_free() it when the request is done. */
const struct api_route *api_admit(struct api *a, const struct api_request *req, struct api_response *resp,
                                  struct api_upload **upload);
/* < 0 once the upload has failed (the handler then answers why); the rest of
 * the body should then be dropped. */
int api_upload_write(struct api_upload *u, const void *data, size_t n);
struct api_upload *api_upload_free(struct api_upload *u);
size_t api_route_body_max(const struct api_route *route);

/* Second phase, once the body is in. Always fills *resp. */
void api_dispatch(struct api *a, const struct api_route *route, const struct api_request *req,
                  struct api_response *resp);

/* The 413 for a body that grew past the route's limit while it was read. */
void api_response_body_too_large(struct api_response *resp, const struct api_route *route);

/* The HTTP status that answers an error of this code: the one place the
 * core's errors (errors.h) meet HTTP. */
unsigned api_error_status(enum error_code code);

/* Fills *resp with {"error":{"code":...,"message":...,"field":...}} and the
 * code's status; field may be NULL. */
void api_response_error(struct api_response *resp, enum error_code code, const char *field, const char *format, ...)
        _printf_(4, 5);
/* The same for an error the core filled in. */
void api_response_fail(struct api_response *resp, const struct error *e);

/* Adds a header to *resp (silently dropped when all extra slots are used:
 * a programming error the tests catch). */
void api_response_header(struct api_response *resp, const char *name, const char *format, ...) _printf_(3, 4);

/* Frees what *resp owns. */
void api_response_done(struct api_response *resp);
