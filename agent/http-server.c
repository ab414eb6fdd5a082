/* http-server.c: owns the libmicrohttpd daemon and its sd-event sources (see http-server.h). */
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include "api.h"
#include "http-server.h"
#include "log.h"
#include "tls.h"

/* MHD's timeout is advisory; don't sleep past this even if it says more. */
#define HTTP_MAX_SLEEP_USEC (60ULL * 1000 * 1000)

/* How much of an unannounced oversized body is read (and dropped) so that the
 * client can still be told 413. */
#define HTTP_DISCARD_MAX (1024 * 1024)

#define HTTP_REFUSAL_LOG_USEC (HTTP_REFUSAL_LOG_SEC * 1000ULL * 1000)

/* When MHD asks to run again at once without a socket to wake it (data
 * GnuTLS holds decrypted but MHD has not read), it runs again this much
 * later: the rest of the loop (the consoles, their logs) keeps its turn. */
#define HTTP_BUSY_USEC 2000ULL

/* libmicrohttpd's words for a TLS handshake that failed. */
#define MHD_TLS_HANDSHAKE_FAILED "received handshake message out of context"

/* A suspended connection (a stream with nothing to send yet, or a
 * deferred answer). MHD does not watch it, so the server does: a client
 * that hangs up is seen at once (its stream or wait ends), and every one
 * is resumed before the daemon stops (MHD aborts on one still suspended). */
struct suspension {
        struct http_server *server;
        struct MHD_Connection *connection;
        sd_event_source *hup;           /* the client's socket, for its hang-up */
        bool suspended;
        bool gone;                      /* the client hung up */
        struct suspension *prev, *next;
};

/* One per connection, from MHD's start notice to its close: whether a
 * request on it has authenticated, and till when a stranger's may take to
 * bring its request (http-server.h). */
struct http_conn {
        struct http_server *server;
        int fd;
        struct sockaddr_storage peer;
        bool trusted;
        bool cut;                       /* shut down: MHD closes it next */
        uint64_t deadline_usec;         /* CLOCK_MONOTONIC; 0: none now (answering, or trusted) */
        struct http_conn *prev, *next;
};

struct http_server {
        sd_event *event;
        struct api *api;
        struct MHD_Daemon *mhd;
        sd_event_source *io;
        sd_event_source *timer;
        sd_event_source *stranger_timer; /* the earliest stranger's deadline */
        struct http_conn *conns;        /* a list */
        uint64_t refusals_logged_usec;  /* refusals are logged once per HTTP_REFUSAL_LOG_USEC */
        unsigned refusals_unlogged;
        uint64_t handshakes_logged_usec; /* failed handshakes likewise */
        unsigned handshakes_unlogged;
        bool kick;      /* run MHD again at once (a connection was resumed) */
        unsigned quiet_closes; /* connections closed for a client's hang-up, whose MHD message is not a fault */
        struct suspension *suspended;   /* a list */
};

/* One per request, from its first header to its completion. */
struct http_request {
        uint64_t start_usec;            /* when the headers came in (api_now_usec()) */
        const struct api_route *route; /* NULL once answered */
        char *body;
        size_t size;
        bool too_large;
        size_t discarded; /* body bytes thrown away once too_large or the upload failed */
        struct api_upload *upload;      /* an upload route's body goes here */
        bool upload_failed;
        struct api_upgrade *upgrade;    /* a 101 not yet started */
        struct api_deferred *deferred;  /* an answer to come (the connection is suspended till it is ready) */
        bool deferred_ready;
        struct suspension susp;
};

static void http_server_kick(struct http_server *s);
static void conn_answering(struct MHD_Connection *c);
static void conn_trust(struct MHD_Connection *c);

/* Takes p off the server's list (and its watch off the loop). */
static void unlist(struct suspension *p) {
        if (!p->suspended)
                return;
        p->suspended = false;
        p->hup = sd_event_source_disable_unref(p->hup);
        if (p->prev)
                p->prev->next = p->next;
        else
                p->server->suspended = p->next;
        if (p->next)
                p->next->prev = p->prev;
        p->prev = p->next = NULL;
}

static void resume(struct suspension *p) {
        if (!p->suspended)
                return;
        unlist(p);
        MHD_resume_connection(p->connection);
        /* MHD handles a resumed connection in its next run; make sure there
         * is one now rather than when some socket next wakes it (a resume
         * may come from inside an MHD callback). */
        if (p->server->timer)
                http_server_kick(p->server);
}

static int on_hup(sd_event_source *src _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        struct suspension *p = userdata;

        p->gone = true;
        resume(p);
        return 0;
}

static void suspend(struct suspension *p, struct http_server *s, struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);

        if (p->suspended)
                return;
        p->server = s;
        p->connection = c;
        MHD_suspend_connection(c);
        p->suspended = true;
        p->prev = NULL;
        p->next = s->suspended;
        if (p->next)
                p->next->prev = p;
        s->suspended = p;
        /* Without the watch, a client that goes away is seen only when its
         * answer is written. */
        if (info && sd_event_add_io(s->event, &p->hup, info->connect_fd, EPOLLRDHUP, on_hup, p) < 0)
                p->hup = NULL;
}

/* An upgraded connection's handle, for giving the socket back. */
struct upgraded {
        struct http_server *server;
        struct MHD_UpgradeResponseHandle *urh;
};

static void upgraded_done(void *arg) {
        struct upgraded *u = arg;

        MHD_upgrade_action(u->urh, MHD_UPGRADE_ACTION_CLOSE);
        /* MHD closes the socket in its next run. */
        http_server_kick(u->server);
        free(u);
}

static void on_upgrade(void *cls, struct MHD_Connection *c _unused_, void *req_cls, const char *extra_in,
                       size_t extra_in_size, MHD_socket sock, struct MHD_UpgradeResponseHandle *urh) {
        struct http_server *s = cls;
        struct http_request *rq = req_cls;
        struct api_upgrade *up = rq ? rq->upgrade : NULL;
        struct upgraded *u = calloc(1, sizeof(*u));

        if (rq)
                rq->upgrade = NULL;
        if (!up || !u) {
                if (up)
                        up->free(up);
                free(u);
                MHD_upgrade_action(urh, MHD_UPGRADE_ACTION_CLOSE);
                return;
        }
        u->server = s;
        u->urh = urh;
        up->start(up, sock, extra_in, extra_in_size, upgraded_done, u);
}

/* A deferred answer is ready: its request is taken up again (on_request). */
static void deferred_ready(void *arg) {
        struct http_request *rq = arg;

        rq->deferred_ready = true;
        resume(&rq->susp);
}

static const char oom_body[] = "{\"error\":{\"code\":\"internal_error\",\"message\":\"out of memory\"}}\n";

/* A streamed answer: MHD pulls bytes with stream_reader; when the stream has
 * none yet the connection is suspended, and the stream's wake resumes it. */
struct stream_ctx {
        struct api_stream *stream;
        struct MHD_Connection *connection;
        struct http_server *server;
        struct suspension susp;
};


static void stream_wake(void *arg) {
        struct stream_ctx *ctx = arg;

        resume(&ctx->susp);
}

static ssize_t stream_reader(void *cls, uint64_t pos _unused_, char *buf, size_t max) {
        struct stream_ctx *ctx = cls;
        ssize_t n;

        if (ctx->susp.gone) {
                ctx->server->quiet_closes++;
                return MHD_CONTENT_READER_END_WITH_ERROR; /* the client hung up */
        }
        n = ctx->stream->read(ctx->stream, buf, max);
        if (n > 0)
                return n;
        if (n < 0)
                return MHD_CONTENT_READER_END_OF_STREAM;
        suspend(&ctx->susp, ctx->server, ctx->connection);
        return 0;
}

static void stream_free(void *cls) {
        struct stream_ctx *ctx = cls;

        /* Not expected while suspended (MHD frees a response once its
         * connection ends), but a list entry must not outlive its memory. */
        unlist(&ctx->susp);
        ctx->stream->free(ctx->stream);
        free(ctx);
}

static enum MHD_Result send_response(struct http_server *server, struct MHD_Connection *c, const char *method,
                                     const char *url, struct api_response *resp, struct http_request *rq) {
        struct MHD_Response *response = NULL;
        unsigned status = resp->status;
        enum MHD_Result ret;
        char *text = NULL;
        size_t n = 0;

        conn_answering(c);

        if (resp->upgrade) {
                response = rq ? MHD_create_response_for_upgrade(on_upgrade, server) : NULL;
                if (response) {
                        rq->upgrade = resp->upgrade; /* on_upgrade or on_request_completed takes it */
                        resp->upgrade = NULL;
                }
        } else if (resp->stream) {
                struct stream_ctx *ctx = calloc(1, sizeof(*ctx));

                if (ctx) {
                        ctx->stream = resp->stream;
                        ctx->connection = c;
                        ctx->server = server;
                        response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_reader,
                                                                     ctx, stream_free);
                        if (response) {
                                resp->stream->wake = stream_wake;
                                resp->stream->wake_arg = ctx;
                                resp->stream = NULL; /* stream_free owns it now */
                        } else
                                free(ctx);
                }
        } else if (resp->empty)
                response = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        else if (resp->raw) {
                response = MHD_create_response_from_buffer(resp->raw_size, resp->raw, MHD_RESPMEM_MUST_FREE);
                if (response)
                        resp->raw = NULL; /* MHD frees it */
        } else if (resp->body)
                text = json_dumps(resp->body, JSON_COMPACT);
        if (text) {
                char *p;

                n = strlen(text);
                p = realloc(text, n + 2);
                if (p) {
                        text = p;
                        text[n++] = '\n';
                        text[n] = '\0';
                        response = MHD_create_response_from_buffer(n, text, MHD_RESPMEM_MUST_FREE);
                }
                if (!response)
                        free(text);
        }
        if (!response) {
                status = MHD_HTTP_INTERNAL_SERVER_ERROR;
                response = MHD_create_response_from_buffer(sizeof(oom_body) - 1, (void *) (uintptr_t) oom_body,
                                                           MHD_RESPMEM_PERSISTENT);
                if (!response) {
                        api_response_done(resp);
                        return MHD_NO;
                }
        }

        if (!resp->empty)
                MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                        resp->content_type ? resp->content_type
                                                                             : "application/json");
        for (size_t i = 0; i < ELEMENTSOF(resp->extra); i++)
                if (resp->extra[i].name)
                        MHD_add_response_header(response, resp->extra[i].name, resp->extra[i].value);
        if (resp->allow[0])
                MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, resp->allow);
        MHD_add_response_header(response, "X-Xvmd-Instance-Id", api_instance_id(server->api));
        if (*api_boot_id(server->api))
                MHD_add_response_header(response, "X-Xvmd-Boot-Id", api_boot_id(server->api));
        if (resp->challenge)
                MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer realm=\"xvmd\"");

        if (status >= 500) {
                json_t *message = json_object_get(json_object_get(resp->body, "error"), "message");

                log_warning("%s %s: %u: %s", method, url, status,
                            json_is_string(message) ? json_string_value(message) : "internal error");
        }

        ret = MHD_queue_response(c, status, response);
        MHD_destroy_response(response);
        /* Every answer passes here: the metrics count it. */
        api_observe(server->api, method, url, status, rq ? rq->start_usec : api_now_usec());
        api_response_done(resp);
        return ret;
}

static uint64_t content_length(struct MHD_Connection *c) {
        const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        uint64_t n = 0;

        if (!v || !*v)
                return API_CONTENT_LENGTH_UNKNOWN;
        for (; *v; v++) {
                if (*v < '0' || *v > '9' || n > (UINT64_MAX - 9) / 10)
                        return API_CONTENT_LENGTH_UNKNOWN;
                n = n * 10 + (uint64_t) (*v - '0');
        }
        return n;
}

static const char *query_arg(const void *ctx, const char *key) {
        return MHD_lookup_connection_value((struct MHD_Connection *) (uintptr_t) ctx, MHD_GET_ARGUMENT_KIND, key);
}

static const char *header_value(const void *ctx, const char *name) {
        return MHD_lookup_connection_value((struct MHD_Connection *) (uintptr_t) ctx, MHD_HEADER_KIND, name);
}

static const char *cookie_value(const void *ctx, const char *name) {
        return MHD_lookup_connection_value((struct MHD_Connection *) (uintptr_t) ctx, MHD_COOKIE_KIND, name);
}

static struct api_request make_request(struct MHD_Connection *c, const char *method, const char *url) {
        const union MHD_ConnectionInfo *peer = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

        return (struct api_request) {
                .peer = peer ? peer->client_addr : NULL,
                .method = method,
                .path = url,
                .query = query_arg,
                .query_ctx = c,
                .header = header_value,
                .cookie = cookie_value,
                .authorization = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
                .content_length = content_length(c),
        };
}

static enum MHD_Result on_request(void *userdata, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version _unused_, const char *upload_data, size_t *upload_size,
                                  void **con_cls) {
        struct http_server *s = userdata;
        struct http_request *rq = *con_cls;
        struct api_response resp = { 0 };
        struct api_request req;

        if (!rq) {
                /* First call: headers only. */
                rq = calloc(1, sizeof(*rq));
                if (!rq)
                        return MHD_NO;
                rq->start_usec = api_now_usec();
                *con_cls = rq;
                req = make_request(c, method, url);
                rq->route = api_admit(s->api, &req, &resp, &rq->upload);
                if (resp.authenticated)
                        conn_trust(c);
                if (!rq->route)
                        return send_response(s, c, method, url, &resp, rq);
                return MHD_YES;
        }

        if (rq->deferred) {
                /* Resumed: the deferred answer is ready, the client hung up,
                 * the daemon stops, or MHD called early. */
                if (rq->susp.gone) {
                        /* MHD closes the connection and calls it an
                         * application error; it is the client's leaving. */
                        s->quiet_closes++;
                        return MHD_NO; /* on_request_completed frees the deferred */
                }
                if (!rq->deferred_ready) {
                        suspend(&rq->susp, s, c);
                        return MHD_YES;
                }
                rq->deferred->answer(rq->deferred, &resp);
                rq->deferred->free(rq->deferred);
                rq->deferred = NULL;
                return send_response(s, c, method, url, &resp, rq);
        }

        if (!rq->route) {
                /* Answered already; let MHD drop the rest of the body. */
                *upload_size = 0;
                return MHD_YES;
        }

        if (*upload_size > 0 && rq->upload) {
                if (!rq->upload_failed && api_upload_write(rq->upload, upload_data, *upload_size) < 0)
                        rq->upload_failed = true;
                if (rq->upload_failed) {
                        /* The handler says why once the body has ended; as
                         * for 413 below, only so much is waited for. */
                        rq->discarded += *upload_size;
                        if (rq->discarded > HTTP_DISCARD_MAX)
                                return MHD_NO;
                }
                *upload_size = 0;
                return MHD_YES;
        }

        if (*upload_size > 0) {
                size_t max = api_route_body_max(rq->route);

                if (!rq->too_large && *upload_size > max - rq->size) {
                        rq->too_large = true;
                        free(rq->body);
                        rq->body = NULL;
                        rq->size = 0;
                }
                if (rq->too_large) {
                        /* MHD (0.9.75) cannot answer before the body ends, so the
                         * 413 waits for it; a client that keeps on sending is cut off. */
                        rq->discarded += *upload_size;
                        if (rq->discarded > HTTP_DISCARD_MAX)
                                return MHD_NO;
                } else {
                        char *p = realloc(rq->body, rq->size + *upload_size + 1);

                        if (!p)
                                return MHD_NO;
                        memcpy(p + rq->size, upload_data, *upload_size);
                        rq->size += *upload_size;
                        p[rq->size] = '\0';
                        rq->body = p;
                }
                *upload_size = 0;
                return MHD_YES;
        }

        /* Last call: the whole body is in. */
        if (rq->too_large)
                api_response_body_too_large(&resp, rq->route);
        else {
                req = make_request(c, method, url);
                req.body = rq->body;
                req.body_size = rq->size;
                req.upload = rq->upload;
                api_dispatch(s->api, rq->route, &req, &resp);
        }
        rq->route = NULL;
        if (resp.deferred) {
                /* The answer comes later: hold the request till it is ready. */
                rq->deferred = resp.deferred;
                resp.deferred = NULL;
                api_response_done(&resp);
                rq->deferred->ready = deferred_ready;
                rq->deferred->ready_arg = rq;
                suspend(&rq->susp, s, c);
                return MHD_YES;
        }
        return send_response(s, c, method, url, &resp, rq);
}

/* Every connection gets TCP keepalive: a client that vanishes without a
 * FIN (its host lost power, a partition) is found within about two minutes
 * even while its stream or wait is quiet, and its slot freed (the hang-up
 * watch sees the socket's error). */
#define HTTP_KEEPALIVE_IDLE_SEC 60
#define HTTP_KEEPALIVE_INTERVAL_SEC 10
#define HTTP_KEEPALIVE_COUNT 6

/* ---- strangers (http-server.h) ---- */

static uint64_t mono_usec(const struct http_server *s) {
        uint64_t now = 0;

        (void) sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        return now;
}

static bool same_address(const struct sockaddr *a, const struct sockaddr_storage *b) {
        if (a->sa_family != b->ss_family)
                return false;
        if (a->sa_family == AF_INET)
                return ((const struct sockaddr_in *) a)->sin_addr.s_addr ==
                       ((const struct sockaddr_in *) b)->sin_addr.s_addr;
        if (a->sa_family == AF_INET6)
                return memcmp(&((const struct sockaddr_in6 *) a)->sin6_addr,
                              &((const struct sockaddr_in6 *) b)->sin6_addr, sizeof(struct in6_addr)) == 0;
        return true;    /* a Unix socket's clients are all one */
}

/* The stranger timer at the earliest deadline, or off. */
static void strangers_rearm(struct http_server *s) {
        uint64_t first = 0;

        if (!s->stranger_timer)
                return;
        for (const struct http_conn *c = s->conns; c; c = c->next)
                if (!c->trusted && !c->cut && c->deadline_usec && (!first || c->deadline_usec < first))
                        first = c->deadline_usec;
        if (!first) {
                (void) sd_event_source_set_enabled(s->stranger_timer, SD_EVENT_OFF);
                return;
        }
        if (sd_event_source_set_time(s->stranger_timer, first) < 0 ||
            sd_event_source_set_enabled(s->stranger_timer, SD_EVENT_ONESHOT) < 0)
                log_warning("Cannot arm the timer of connections without a token");
}

/* Shuts the socket down (MHD sees its end and closes the connection as for
 * any client that left) rather than closing it under MHD's feet. */
static int on_stranger_timer(sd_event_source *src _unused_, uint64_t usec _unused_, void *userdata) {
        struct http_server *s = userdata;
        uint64_t now = mono_usec(s);
        unsigned n = 0;

        for (struct http_conn *c = s->conns; c; c = c->next) {
                if (c->trusted || c->cut || !c->deadline_usec || c->deadline_usec > now)
                        continue;
                (void) shutdown(c->fd, SHUT_RDWR);
                c->cut = true;
                s->quiet_closes++;
                api_observe_stranger_cut(s->api);
                n++;
        }
        if (n)
                log_info("Cut %u connection(s) that brought no whole request in %d s and no token", n,
                         HTTP_STRANGER_REQUEST_SEC);
        strangers_rearm(s);
        return 0;
}

/* MHD's accept policy: a stranger's address may have so many. */
static enum MHD_Result on_accept(void *userdata, const struct sockaddr *addr, socklen_t addrlen _unused_) {
        struct http_server *s = userdata;
        unsigned strangers = 0;
        uint64_t now;

        for (const struct http_conn *c = s->conns; c; c = c->next)
                if (!c->trusted && !c->cut && same_address(addr, &c->peer))
                        strangers++;
        if (strangers < HTTP_STRANGERS_PER_ADDRESS)
                return MHD_YES;
        api_observe_stranger_refused(s->api);
        s->refusals_unlogged++;
        now = mono_usec(s);
        if (now - s->refusals_logged_usec >= HTTP_REFUSAL_LOG_USEC) {
                log_warning("Refused %u connection(s): their address has %d others without a token",
                            s->refusals_unlogged, HTTP_STRANGERS_PER_ADDRESS);
                s->refusals_logged_usec = now;
                s->refusals_unlogged = 0;
        }
        return MHD_NO;
}

static struct http_conn *conn_of(struct MHD_Connection *c) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

        return info ? info->socket_context : NULL;
}

/* A stranger's request has its answer: no deadline while it is sent. */
static void conn_answering(struct MHD_Connection *c) {
        struct http_conn *conn = conn_of(c);

        if (conn && !conn->trusted && conn->deadline_usec) {
                conn->deadline_usec = 0;
                strangers_rearm(conn->server);
        }
}

/* The request authenticated: the connection is no stranger's any more. */
static void conn_trust(struct MHD_Connection *c) {
        struct http_conn *conn = conn_of(c);

        if (conn && !conn->trusted) {
                conn->trusted = true;
                conn->deadline_usec = 0;
                strangers_rearm(conn->server);
        }
}

static void on_connection(void *userdata, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe) {
        struct http_server *s = userdata;
        const union MHD_ConnectionInfo *info;
        int on = 1, idle = HTTP_KEEPALIVE_IDLE_SEC, interval = HTTP_KEEPALIVE_INTERVAL_SEC, count = HTTP_KEEPALIVE_COUNT;
        struct http_conn *conn;

        if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
                conn = *socket_context;
                if (!conn)
                        return;
                if (conn->prev)
                        conn->prev->next = conn->next;
                else
                        s->conns = conn->next;
                if (conn->next)
                        conn->next->prev = conn->prev;
                *socket_context = NULL;
                free(conn);
                strangers_rearm(s);
                return;
        }
        if (toe != MHD_CONNECTION_NOTIFY_STARTED)
                return;
        info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (!info)
                return;
        /* Best effort: a socket that refuses keeps working without. */
        (void) setsockopt(info->connect_fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
        (void) setsockopt(info->connect_fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
        (void) setsockopt(info->connect_fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval, sizeof(interval));
        (void) setsockopt(info->connect_fd, IPPROTO_TCP, TCP_KEEPCNT, &count, sizeof(count));

        conn = calloc(1, sizeof(*conn));
        if (!conn)
                return; /* not counted, not timed: out of memory, MHD's own limits still hold */
        conn->server = s;
        conn->fd = info->connect_fd;
        info = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        if (info && info->client_addr) {
                socklen_t len = info->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                : info->client_addr->sa_family == AF_INET ? sizeof(struct sockaddr_in)
                                                                          : sizeof(sa_family_t);
                memcpy(&conn->peer, info->client_addr, len);
        }
        conn->deadline_usec = mono_usec(s) + HTTP_STRANGER_REQUEST_SEC * 1000000ULL;
        conn->next = s->conns;
        if (s->conns)
                s->conns->prev = conn;
        s->conns = conn;
        *socket_context = conn;
        strangers_rearm(s);
}

static void on_request_completed(void *userdata _unused_, struct MHD_Connection *c, void **con_cls,
                                 enum MHD_RequestTerminationCode toe _unused_) {
        struct http_request *rq = *con_cls;
        struct http_conn *conn = conn_of(c);

        /* A stranger's next request has its time from now. */
        if (conn && !conn->trusted && !conn->cut) {
                conn->deadline_usec = mono_usec(conn->server) + HTTP_STRANGER_REQUEST_SEC * 1000000ULL;
                strangers_rearm(conn->server);
        }

        if (!rq)
                return;
        api_upload_free(rq->upload);
        if (rq->upgrade)
                rq->upgrade->free(rq->upgrade);
        if (rq->deferred)
                rq->deferred->free(rq->deferred);
        unlist(&rq->susp); /* as in stream_free */
        free(rq->body);
        free(rq);
        *con_cls = NULL;
}

_printf_(2, 0) static void on_mhd_log(void *userdata, const char *format, va_list ap) {
        struct http_server *s = userdata;
        char text[512];
        size_t n;

        vsnprintf(text, sizeof(text), format, ap);
        if (s && strstr(text, MHD_TLS_HANDSHAKE_FAILED)) {
                uint64_t now = mono_usec(s);

                api_observe_tls_handshake_failed(s->api);
                s->handshakes_unlogged++;
                if (now - s->handshakes_logged_usec >= HTTP_REFUSAL_LOG_USEC) {
                        log_warning("%u TLS handshake(s) failed: clients that spoke plain HTTP to the https "
                                    "port, or that do not trust the certificate", s->handshakes_unlogged);
                        s->handshakes_logged_usec = now;
                        s->handshakes_unlogged = 0;
                }
                return;
        }
        if (s && s->quiet_closes > 0 && (strstr(text, "internal error") || strstr(text, "application error"))) {
                s->quiet_closes--;
                return;
        }
        n = strlen(text);
        while (n > 0 && text[n - 1] == '\n')
                text[--n] = '\0';
        log_warning("libmicrohttpd: %s", text);
}

/* Lets MHD do what is due, then sets the timer for when it next wants to
 * run even if no socket wakes it (connection timeouts, pending data). */
static int http_server_process(struct http_server *s) {
        MHD_UNSIGNED_LONG_LONG ms;
        uint64_t now, usec;
        int r;

        s->kick = false;
        if (MHD_run(s->mhd) != MHD_YES)
                log_warning("libmicrohttpd: MHD_run() failed");
        if (s->kick) {
                /* Resumed from inside that run: MHD picks such connections up
                 * only at the start of a run. */
                r = sd_event_source_set_time(s->timer, 0);
                return r < 0 ? r : sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
        }

        if (MHD_get_timeout(s->mhd, &ms) != MHD_YES)
                return sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);

        r = sd_event_now(s->event, CLOCK_MONOTONIC, &now);
        if (r < 0)
                return r;
        usec = ms >= HTTP_MAX_SLEEP_USEC / 1000 ? HTTP_MAX_SLEEP_USEC : ms == 0 ? HTTP_BUSY_USEC : ms * 1000;
        r = sd_event_source_set_time(s->timer, now + usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

static void http_server_kick(struct http_server *s) {
        s->kick = true;
        if (sd_event_source_set_time(s->timer, 0) >= 0)
                (void) sd_event_source_set_enabled(s->timer, SD_EVENT_ONESHOT);
}

/* An error returned from here would make sd-event disable the source and so
 * silence the server for good; log it and carry on instead. */
static int on_io(sd_event_source *src _unused_, int fd _unused_, uint32_t revents _unused_, void *userdata) {
        int r = http_server_process(userdata);

        if (r < 0)
                log_warning_errno(r, "Cannot re-arm the HTTP timer");
        return 0;
}

static int on_timer(sd_event_source *src _unused_, uint64_t usec _unused_, void *userdata) {
        int r = http_server_process(userdata);

        if (r < 0)
                log_warning_errno(r, "Cannot re-arm the HTTP timer");
        return 0;
}

int http_server_new(sd_event *event, int listen_fd, struct api *api, const struct tls_credentials *tls,
                    struct http_server **ret) {
        _cleanup_(http_server_freep) struct http_server *s = NULL;
        _cleanup_close_ int fd = listen_fd;
        const union MHD_DaemonInfo *info;
        struct MHD_OptionItem tls_options[] = {
                { MHD_OPTION_HTTPS_MEM_CERT, 0, tls ? tls->cert : NULL },
                { MHD_OPTION_HTTPS_MEM_KEY, 0, tls ? tls->key : NULL },
                { MHD_OPTION_HTTPS_PRIORITIES, 0, (void *) (uintptr_t) TLS_PRIORITIES },
                { MHD_OPTION_END, 0, NULL },
        };
        unsigned mhd_flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_ALLOW_UPGRADE | MHD_USE_ERROR_LOG;
        int r, flags;

        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
                return negative_errno();

        s = calloc(1, sizeof(*s));
        if (!s)
                return -ENOMEM;
        s->event = sd_event_ref(event);
        s->api = api;

        if (tls)
                mhd_flags |= MHD_USE_TLS;
        s->mhd = MHD_start_daemon(mhd_flags, 0, on_accept, s, on_request, s,
                                  MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, s,
                                  MHD_OPTION_LISTEN_SOCKET, (MHD_socket) fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned int) HTTP_CONNECTION_LIMIT,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) HTTP_CONNECTION_TIMEOUT_SEC,
                                  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HTTP_CONNECTION_MEMORY_LIMIT,
                                  MHD_OPTION_NOTIFY_COMPLETED, on_request_completed, NULL,
                                  MHD_OPTION_NOTIFY_CONNECTION, on_connection, s,
                                  MHD_OPTION_ARRAY, tls ? tls_options : tls_options + 3,
                                  MHD_OPTION_END);
        if (!s->mhd) {
                /* Whether MHD closed the socket on its way out depends on where
                 * it failed; in this single-threaded process the number cannot
                 * have been reused meanwhile, so ask the kernel. */
                if (fcntl(fd, F_GETFD) < 0)
                        TAKE_FD(fd);
                return -EIO; /* MHD says why only in its log */
        }
        TAKE_FD(fd); /* MHD closes it when it stops */

        info = MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info || info->epoll_fd < 0)
                return -EIO;

        r = sd_event_add_io(event, &s->io, info->epoll_fd, EPOLLIN, on_io, s);
        if (r < 0)
                return r;
        r = sd_event_add_time(event, &s->timer, CLOCK_MONOTONIC, 0, 1000, on_timer, s);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(s->timer, SD_EVENT_OFF);
        if (r < 0)
                return r;
        r = sd_event_add_time(event, &s->stranger_timer, CLOCK_MONOTONIC, 0, 100 * 1000, on_stranger_timer, s);
        if (r < 0)
                return r;
        r = sd_event_source_set_enabled(s->stranger_timer, SD_EVENT_OFF);
        if (r < 0)
                return r;

        *ret = TAKE_PTR(s);
        return 0;
}

struct http_server *http_server_free(struct http_server *s) {
        if (!s)
                return NULL;
        /* Sources first: the epoll fd they watch dies with the daemon. */
        s->timer = sd_event_source_disable_unref(s->timer);
        s->io = sd_event_source_disable_unref(s->io);
        /* MHD aborts when stopped with a connection still suspended: resume
         * each (it then ends them, and on_request_completed frees theirs). */
        while (s->suspended)
                resume(s->suspended);
        if (s->mhd)
                MHD_stop_daemon(s->mhd);        /* closes every connection: s->conns empties */
        s->stranger_timer = sd_event_source_disable_unref(s->stranger_timer);
        sd_event_unref(s->event);
        free(s);
        return NULL;
}
