/* http-server.h: owns the libmicrohttpd daemon, its listening socket and the
 * sd-event sources that drive it (MHD runs no thread of its own), plus the
 * per-request state between the first header and the last body byte.
 * Requests go to the api; its answers go out as JSON. */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

struct api;
struct http_server;
struct tls_credentials;

#define HTTP_CONNECTION_LIMIT 256
#define HTTP_CONNECTION_TIMEOUT_SEC 60
#define HTTP_CONNECTION_MEMORY_LIMIT (64 * 1024)

/* A connection is a stranger's until one of its requests authenticates
 * (a valid token or session). Strangers are bounded so that clients
 * without a token cannot take the server from those with one: at most
 * HTTP_STRANGERS_PER_ADDRESS connections from one address (more are refused
 * as they come), and each must bring a whole request, headers and body,
 * within HTTP_STRANGER_REQUEST_SEC of its start or of its last answer, or
 * it is cut (a slow or silent client: slowloris). */
#define HTTP_STRANGERS_PER_ADDRESS 32
#define HTTP_STRANGER_REQUEST_SEC 10

/* Failed TLS handshakes (plain HTTP to the https port, clients that do not
 * trust the certificate) are counted for the metrics and logged at most
 * once per HTTP_REFUSAL_LOG_SEC, with how many. */
#define HTTP_REFUSAL_LOG_SEC 10

/* Takes ownership of listen_fd (a listening TCP socket), even on failure.
 * With tls the server speaks https and wss only (tls.h), without it plain
 * HTTP. event, api and tls are borrowed and must outlive the server. */
int http_server_new(sd_event *event, int listen_fd, struct api *api, const struct tls_credentials *tls,
                    struct http_server **ret);
struct http_server *http_server_free(struct http_server *s);
DEFINE_CLEANUP_FUNC(struct http_server, http_server_free);
