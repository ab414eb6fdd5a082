/* http-server.h: owns the libmicrohttpd daemon, its listening socket and the
 * sd-event sources that drive it (MHD runs no thread of its own), plus the
 * per-request state between the first header and the last body byte.
 * Requests go to the api; its answers go out as JSON. */
#pragma once

#include <systemd/sd-event.h>

#include "macro.h"

struct api;
struct http_server;

#define HTTP_CONNECTION_LIMIT 256
#define HTTP_CONNECTION_TIMEOUT_SEC 60
#define HTTP_CONNECTION_MEMORY_LIMIT (64 * 1024)

/* Takes ownership of listen_fd (a listening TCP socket), even on failure.
 * event and api are borrowed and must outlive the server. */
int http_server_new(sd_event *event, int listen_fd, struct api *api, struct http_server **ret);
struct http_server *http_server_free(struct http_server *s);
DEFINE_CLEANUP_FUNC(struct http_server, http_server_free);
