/* port-forward.c: owns the agent's port forwards (see port-forward.h): a
 * websocket and a TCP connection each, and the bytes between them.
 *
 * Every event of a forward (its socket, its timer, its websocket's
 * callbacks) ends in step(), the one place that decides what follows from
 * where the two sides are: whether to read the guest's socket, whether the
 * websocket receives, when to close the websocket after the guest's EOF,
 * when to shut the TCP side down, and when the forward is over and freed.
 * Nothing touches a forward after step(). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "port-forward.h"
#include "ws.h"

/* What a forward's queue to the guest may hold at the very most (see the
 * header): the websocket stops receiving at PORT_FORWARD_TCP_QUEUE, after
 * which one message and ws_feed()'s bytes may still come. */
#define TCP_OUT_MAX (PORT_FORWARD_TCP_QUEUE + PORT_FORWARD_MESSAGE_MAX + WS_FEED_MAX)
/* Reads of the guest's socket per event (then the loop's other sources run). */
#define READS_PER_EVENT 16

enum tcp_state {
        TCP_NONE,       /* reserved, or started without a socket yet */
        TCP_CONNECTING, /* connect() under way, bounded by the timer */
        TCP_OPEN,       /* bytes flow */
        TCP_LINGER,     /* our side shut down; waiting for the guest's EOF, bounded by the timer */
        TCP_CLOSED,     /* the socket is closed */
};

struct port_forward {
        struct port_forwards *owner;    /* NULL once the collection is gone (a reservation left over) */
        struct port_forward *next;
        char vm[VM_NAME_MAX + 1];
        uint16_t port;
        bool started;
        char target[INET_ADDRSTRLEN + 8]; /* "10.0.0.5:22" */

        /* The client's side. */
        struct ws_conn *ws;             /* NULL once its end was reported (or before it started) */
        void (*done)(void *arg);        /* gives the upgraded socket back */
        void *done_arg;
        bool receive_off;               /* ws_set_receive(false) */
        bool ws_closed;                 /* we closed it, or it ended: no more messages */
        bool client_eof;                /* an empty message: the client sends no more bytes */
        char end[WS_REASON_MAX + 1];    /* how the forward ended, for the journal */

        /* The guest's side. */
        enum tcp_state tcp;
        int fd;
        sd_event_source *io;
        sd_event_source *timer;         /* the connect's timeout, then the linger */
        bool guest_eof;                 /* the guest shut its side down (read() returned 0) */
        bool shut_wr;                   /* we shut ours down (SHUT_WR) */
        bool io_parked;                 /* io off: a hang-up while the guest's bytes are not wanted */
        bool linger_armed;
        uint8_t *out;                   /* for the guest: out_len bytes from out_off */
        size_t out_off, out_len, out_cap;
        uint8_t in[PORT_FORWARD_READ_MAX]; /* read from the guest, not yet queued to the websocket */
        size_t in_len;
        uint64_t bytes_to_guest, bytes_from_guest;
};

struct port_forwards {
        sd_event *event;
        struct port_forwards_config config;
        struct port_forward *forwards;  /* reserved and started */
};

int port_forwards_new(sd_event *event, const struct port_forwards_config *config, struct port_forwards **ret) {
        struct port_forwards *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->event = sd_event_ref(event);
        if (config)
                p->config = *config;
        if (p->config.max_total == 0)
                p->config.max_total = PORT_FORWARDS_MAX;
        if (p->config.max_per_vm == 0)
                p->config.max_per_vm = PORT_FORWARDS_PER_VM_MAX;
        if (p->config.connect_timeout_usec == 0)
                p->config.connect_timeout_usec = PORT_FORWARD_CONNECT_USEC;
        if (p->config.linger_usec == 0)
                p->config.linger_usec = PORT_FORWARD_LINGER_USEC;
        *ret = p;
        return 0;
}

unsigned port_forwards_count(const struct port_forwards *p, const char *vm) {
        unsigned n = 0;

        for (const struct port_forward *f = p->forwards; f; f = f->next)
                if (!vm || strcmp(f->vm, vm) == 0)
                        n++;
        return n;
}

size_t port_forwards_buffered(const struct port_forwards *p) {
        size_t n = 0;

        for (const struct port_forward *f = p->forwards; f; f = f->next)
                n += f->out_len + f->in_len + (f->ws ? ws_queued_bytes(f->ws) : 0);
        return n;
}

int port_forward_reserve(struct port_forwards *p, const char *vm, uint16_t port, struct port_forward **ret,
                         struct error *err) {
        struct port_forward *f;

        if (port_forwards_count(p, NULL) >= p->config.max_total)
                return error_set(err, -EUSERS, ERROR_TOO_MANY_FORWARDS, NULL,
                                 "the agent already carries %u port forwards, its limit", p->config.max_total);
        if (port_forwards_count(p, vm) >= p->config.max_per_vm)
                return error_set(err, -EUSERS, ERROR_TOO_MANY_FORWARDS, NULL,
                                 "VM %s already has %u port forwards, the limit per VM", vm, p->config.max_per_vm);
        f = calloc(1, sizeof(*f));
        if (!f)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "out of memory");
        f->owner = p;
        f->fd = -1;
        f->port = port;
        snprintf(f->vm, sizeof(f->vm), "%s", vm);
        f->next = p->forwards;
        p->forwards = f;
        *ret = f;
        return 0;
}

/* ---- the guest's side ---- */

static void tcp_close(struct port_forward *f) {
        f->io = sd_event_source_disable_unref(f->io);
        f->timer = sd_event_source_disable_unref(f->timer);
        f->fd = safe_close(f->fd);
        f->tcp = TCP_CLOSED;
        f->io_parked = false;
        free(f->out);
        f->out = NULL;
        f->out_off = f->out_len = f->out_cap = 0;
        /* What was read from the guest (in) may still go to the client. */
}

/* Closes the websocket (once) with code and reason; what was queued before
 * goes out first. */
static void ws_end(struct port_forward *f, uint16_t code, const char *format, ...) _printf_(3, 4);
static void ws_end(struct port_forward *f, uint16_t code, const char *format, ...) {
        char reason[WS_REASON_MAX + 1];
        va_list ap;

        if (f->ws_closed)
                return;
        va_start(ap, format);
        vsnprintf(reason, sizeof(reason), format, ap);
        va_end(ap);
        /* A reason cut inside a UTF-8 sequence would be refused: ours are
         * ASCII (addresses, strerror() in the C locale). */
        snprintf(f->end, sizeof(f->end), "%s", reason);
        f->ws_closed = true;
        if (f->ws && ws_close(f->ws, code, reason) < 0)
                (void) ws_close(f->ws, code, NULL);
}

/* The connect failed (errno e): the websocket says how. */
static void connect_failed(struct port_forward *f, int e) {
        tcp_close(f);
        if (e == ECONNREFUSED)
                ws_end(f, PORT_FORWARD_REFUSED, "%s refused the connection", f->target);
        else if (e == ETIMEDOUT)
                ws_end(f, PORT_FORWARD_TIMEOUT, "%s did not answer the connect", f->target);
        else
                ws_end(f, PORT_FORWARD_UNREACHABLE, "cannot connect to %s: %s", f->target, strerror(e));
}

/* The established connection broke (errno e). What the guest sent before
 * still goes out. */
static void tcp_failed(struct port_forward *f, int e) {
        if (f->in_len > 0 && f->ws && ws_is_open(f->ws) && ws_send_binary(f->ws, f->in, f->in_len) == 0)
                f->in_len = 0;
        tcp_close(f);
        if (e == ECONNRESET || e == EPIPE)
                ws_end(f, PORT_FORWARD_RESET, "%s reset the connection", f->target);
        else
                ws_end(f, PORT_FORWARD_RESET, "the connection to %s failed: %s", f->target, strerror(e));
}

/* Appends to the queue for the guest; false if it would pass TCP_OUT_MAX
 * (never, while receiving stops in time) or memory ran out. */
static bool out_append(struct port_forward *f, const uint8_t *data, size_t len) {
        if (len == 0)
                return true;
        if (f->out_len + len > TCP_OUT_MAX)
                return false;
        if (f->out_off > 0 && f->out_off + f->out_len + len > f->out_cap) {
                memmove(f->out, f->out + f->out_off, f->out_len);
                f->out_off = 0;
        }
        if (f->out_len + len > f->out_cap) {
                size_t cap = f->out_cap ? f->out_cap : 16 * 1024;
                uint8_t *p;

                while (cap < f->out_len + len)
                        cap *= 2;
                if (cap > TCP_OUT_MAX)
                        cap = TCP_OUT_MAX;
                p = realloc(f->out, cap);
                if (!p)
                        return false;
                f->out = p;
                f->out_cap = cap;
        }
        memcpy(f->out + f->out_off + f->out_len, data, len);
        f->out_len += len;
        return true;
}

/* Bytes for the guest's socket, as far as it takes them now: how many it
 * took, or -errno. */
static ssize_t tcp_send(struct port_forward *f, const uint8_t *data, size_t len) {
        ssize_t n;

        do
                n = send(f->fd, data, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        while (n < 0 && errno == EINTR);
        if (n < 0)
                return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
        f->bytes_to_guest += (uint64_t) n;
        return n;
}

/* Sends the queue to the guest as far as its socket takes it. */
static void tcp_flush(struct port_forward *f) {
        while (f->out_len > 0) {
                ssize_t n = tcp_send(f, f->out + f->out_off, f->out_len);

                if (n < 0) {
                        tcp_failed(f, (int) -n);
                        return;
                }
                if (n == 0)
                        return;
                f->out_off += (size_t) n;
                f->out_len -= (size_t) n;
        }
        /* Empty: its memory goes until the next time the guest lags. */
        free(f->out);
        f->out = NULL;
        f->out_off = f->out_cap = 0;
}

/* Hands what was read from the guest to the websocket, if its queue takes
 * it (else on_writable comes back for it). */
static void push_in(struct port_forward *f) {
        int r;

        if (f->in_len == 0 || !f->ws || f->ws_closed)
                return;
        r = ws_send_binary(f->ws, f->in, f->in_len);
        if (r == -ENOBUFS)
                return;
        if (r < 0 && r != -ESHUTDOWN)
                ws_end(f, WS_CLOSE_INTERNAL_ERROR, "cannot queue the guest's bytes: %s", strerror(-r));
        f->in_len = 0;
}

/* Whether the guest's socket is to be read now: the websocket has room. */
static bool want_guest_bytes(const struct port_forward *f) {
        return f->tcp == TCP_OPEN && !f->guest_eof && f->ws && !f->ws_closed && f->in_len == 0 &&
               ws_queued_bytes(f->ws) < PORT_FORWARD_WS_HIGH;
}

static void tcp_read(struct port_forward *f) {
        for (int i = 0; i < READS_PER_EVENT; i++) {
                uint8_t discard[4096];
                bool keep = f->tcp == TCP_OPEN;
                ssize_t n;

                if (keep && !want_guest_bytes(f))
                        return;
                n = read(f->fd, keep ? f->in : discard, keep ? sizeof(f->in) : sizeof(discard));
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno != EAGAIN && errno != EWOULDBLOCK) {
                                if (keep)
                                        tcp_failed(f, errno);
                                else
                                        tcp_close(f); /* lingering: it is over either way */
                        }
                        return;
                }
                if (n == 0) {
                        f->guest_eof = true;
                        if (!keep)
                                tcp_close(f); /* the guest closed its side after ours */
                        return;
                }
                if (keep) {
                        f->bytes_from_guest += (uint64_t) n;
                        f->in_len = (size_t) n;
                        push_in(f);
                }
        }
}

/* ---- what follows ---- */

static void forward_free(struct port_forward *f);

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata);

static void arm_timer(struct port_forward *f, uint64_t usec) {
        uint64_t now = 0;
        int r;

        (void) sd_event_now(f->owner->event, CLOCK_MONOTONIC, &now);
        if (f->timer)
                r = sd_event_source_set_time(f->timer, now + usec) < 0
                            ? -EIO
                            : sd_event_source_set_enabled(f->timer, SD_EVENT_ONESHOT);
        else
                r = sd_event_add_time(f->owner->event, &f->timer, CLOCK_MONOTONIC, now + usec, 0, on_timer, f);
        if (r < 0) {
                /* Without a timer nothing bounds the wait: give up now. */
                log_warning_errno(r, "Port forward to %s: cannot arm a timer, closing", f->target);
                tcp_close(f);
                ws_end(f, WS_CLOSE_INTERNAL_ERROR, "cannot arm a timer");
        }
}

/* What the forward's state asks for (see the top of this file). Returns
 * false once the forward is freed. */
static bool step(struct port_forward *f) {
        uint32_t events = 0;

        push_in(f);
        /* The guest is done sending and all it sent is queued: the
         * websocket closes after it. */
        if (f->guest_eof && f->in_len == 0)
                ws_end(f, WS_CLOSE_NORMAL, "%s closed the connection", f->target);
        /* Every other end of the connection closed the websocket already
         * with its own code; this one says it ended, whatever the way. */
        if (f->tcp == TCP_CLOSED && !f->guest_eof)
                ws_end(f, PORT_FORWARD_RESET, "the connection to %s ended", f->target);

        /* No client, or one that broke the protocol, before the connect
         * completed: nothing to carry. */
        if (f->ws_closed && (f->tcp == TCP_CONNECTING || f->tcp == TCP_NONE))
                tcp_close(f);
        /* The client sends nothing more: once its bytes are out, our side
         * of the connection ends; the guest has linger to end its own. */
        if (f->ws_closed && (f->tcp == TCP_OPEN || f->tcp == TCP_LINGER) && !f->linger_armed) {
                f->linger_armed = true;
                arm_timer(f, f->owner->config.linger_usec);
        }
        if (f->ws_closed && f->tcp == TCP_OPEN && f->out_len == 0) {
                if ((!f->shut_wr && shutdown(f->fd, SHUT_WR) < 0) || f->guest_eof)
                        tcp_close(f);
                else
                        f->tcp = TCP_LINGER;
        }
        /* The client's EOF: once its bytes are out, the guest sees it too,
         * and its answer still comes. */
        if (f->client_eof && !f->shut_wr && f->tcp == TCP_OPEN && f->out_len == 0) {
                f->shut_wr = true;
                if (shutdown(f->fd, SHUT_WR) < 0)
                        tcp_failed(f, errno);
        }

        /* Parked on a hang-up, with no one to read the rest for: the end. */
        if (f->io_parked && f->tcp != TCP_CLOSED && f->ws_closed)
                tcp_close(f);

        /* Receiving: off while the guest's queue is full, on once it is
         * empty (and while the websocket closes, ws reads by itself). */
        if (f->ws && !f->ws_closed) {
                bool off = f->out_len >= PORT_FORWARD_TCP_QUEUE || (f->receive_off && f->out_len > 0);

                if (off != f->receive_off) {
                        f->receive_off = off;
                        (void) ws_set_receive(f->ws, !off);
                }
        }

        if (!f->ws && f->tcp == TCP_CLOSED) {
                forward_free(f);
                return false;
        }

        if (f->io_parked && want_guest_bytes(f)) {
                f->io_parked = false;
                if (sd_event_source_set_enabled(f->io, SD_EVENT_ON) < 0) {
                        tcp_close(f);
                        ws_end(f, WS_CLOSE_INTERNAL_ERROR, "cannot watch the connection");
                        return step(f);
                }
        }
        if (f->io) {
                if (f->tcp == TCP_CONNECTING || f->out_len > 0)
                        events |= EPOLLOUT;
                if (want_guest_bytes(f) || f->tcp == TCP_LINGER)
                        events |= EPOLLIN;
                if (sd_event_source_set_io_events(f->io, events) < 0) {
                        tcp_close(f);
                        ws_end(f, WS_CLOSE_INTERNAL_ERROR, "cannot watch the connection");
                        return step(f);
                }
        }
        return true;
}

static void connect_done(struct port_forward *f) {
        int e = 0;
        socklen_t len = sizeof(e);

        if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0)
                e = errno;
        if (e != 0) {
                connect_failed(f, e);
                return;
        }
        f->tcp = TCP_OPEN;
        f->timer = sd_event_source_disable_unref(f->timer);
        tcp_flush(f); /* what the client sent meanwhile */
}

static int on_tcp_io(sd_event_source *s _unused_, int fd _unused_, uint32_t revents, void *userdata) {
        struct port_forward *f = userdata;

        if (f->tcp == TCP_CONNECTING) {
                connect_done(f);
        } else if (revents & EPOLLERR) {
                int e = 0;
                socklen_t len = sizeof(e);

                if (getsockopt(f->fd, SOL_SOCKET, SO_ERROR, &e, &len) < 0 || e == 0)
                        e = EIO;
                if (f->tcp == TCP_LINGER)
                        tcp_close(f);
                else
                        tcp_failed(f, e);
        } else {
                if (revents & EPOLLOUT)
                        tcp_flush(f);
                if (f->tcp != TCP_CLOSED && (revents & (EPOLLIN | EPOLLHUP)))
                        tcp_read(f);
                /* Both directions are shut (the guest's FIN after ours,
                 * or the connection is gone), and epoll says so whatever
                 * it is asked, again and again: what is left to read waits
                 * with the socket unwatched until the websocket has room
                 * (nothing can be written to it anyway). */
                if (f->tcp != TCP_CLOSED && (revents & EPOLLHUP) && !want_guest_bytes(f)) {
                        if (f->tcp == TCP_LINGER || f->guest_eof)
                                tcp_close(f);
                        else if (sd_event_source_set_enabled(f->io, SD_EVENT_OFF) >= 0)
                                f->io_parked = true;
                        else
                                tcp_failed(f, EIO);
                }
        }
        (void) step(f);
        return 0;
}

static int on_timer(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct port_forward *f = userdata;

        if (f->tcp == TCP_CONNECTING) {
                tcp_close(f);
                ws_end(f, PORT_FORWARD_TIMEOUT, "%s did not answer the connect in %llu s", f->target,
                       (unsigned long long) (f->owner->config.connect_timeout_usec / 1000000));
        } else
                tcp_close(f); /* the linger is over: what the guest still had to take or say is dropped */
        (void) step(f);
        return 0;
}

/* ---- the client's side ---- */

static void on_binary(struct ws_conn *c, const uint8_t *data, size_t len) {
        struct port_forward *f = ws_userdata(c);
        size_t done = 0;

        if (f->tcp == TCP_CLOSED)
                return; /* the websocket is closing already */
        if (f->client_eof) {
                ws_end(f, WS_CLOSE_PROTOCOL_ERROR, "bytes after the client's end of data (an empty message)");
                (void) step(f);
                return;
        }
        if (len == 0) {
                f->client_eof = true;
                (void) step(f);
                return;
        }
        if (f->tcp == TCP_OPEN && f->out_len == 0) {
                ssize_t n = tcp_send(f, data, len);

                if (n < 0) {
                        tcp_failed(f, (int) -n);
                        (void) step(f);
                        return;
                }
                done = (size_t) n;
        }
        if (!out_append(f, data + done, len - done)) {
                tcp_close(f);
                ws_end(f, WS_CLOSE_INTERNAL_ERROR, "out of memory for the bytes to %s", f->target);
        }
        (void) step(f);
}

static void on_text(struct ws_conn *c, const char *text _unused_, size_t len _unused_) {
        struct port_forward *f = ws_userdata(c);

        ws_end(f, WS_CLOSE_UNSUPPORTED_DATA, "a port forward carries binary messages only");
        (void) step(f);
}

static void on_writable(struct ws_conn *c) {
        (void) step(ws_userdata(c));
}

static void on_close(struct ws_conn *c, uint16_t code, const char *reason) {
        struct port_forward *f = ws_userdata(c);

        if (!f->ws_closed)
                snprintf(f->end, sizeof(f->end), "the client closed (%u%s%s)", code, *reason ? ": " : "", reason);
        f->ws_closed = true;
        f->ws = ws_free(c);
        if (f->done)
                f->done(f->done_arg);
        f->done = NULL;
        if (f->tcp == TCP_CONNECTING || f->tcp == TCP_NONE)
                tcp_close(f);
        (void) step(f);
}

static const struct ws_callbacks forward_callbacks = {
        .on_text = on_text,
        .on_binary = on_binary,
        .on_close = on_close,
        .on_writable = on_writable,
};

/* ---- coming and going ---- */

static void forward_unlink(struct port_forward *f) {
        if (!f->owner)
                return;
        for (struct port_forward **p = &f->owner->forwards; *p; p = &(*p)->next)
                if (*p == f) {
                        *p = f->next;
                        break;
                }
        f->owner = NULL;
}

static void forward_free(struct port_forward *f) {
        if (f->started)
                log_info("Port forward to VM %s port %u (%s) ended: %s; %llu bytes to the guest, %llu from it.",
                         f->vm, f->port, f->target, f->end[0] ? f->end : "closed",
                         (unsigned long long) f->bytes_to_guest, (unsigned long long) f->bytes_from_guest);
        forward_unlink(f);
        tcp_close(f);
        f->ws = ws_free(f->ws);
        if (f->done)
                f->done(f->done_arg);
        free(f);
}

void port_forward_unreserve(struct port_forward *f) {
        if (f)
                forward_free(f);
}

/* The connect to target on a new non-blocking socket; the websocket closes
 * if it cannot even start. */
static void tcp_start(struct port_forward *f, const struct sockaddr_in *target) {
        int r;

        f->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (f->fd < 0) {
                ws_end(f, WS_CLOSE_INTERNAL_ERROR, "cannot make a socket: %s", strerror(errno));
                tcp_close(f);
                return;
        }
        /* A relay of keystrokes and their echoes: no waiting for ACKs. */
        (void) setsockopt(f->fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
        r = sd_event_add_io(f->owner->event, &f->io, f->fd, EPOLLOUT, on_tcp_io, f);
        if (r < 0) {
                ws_end(f, WS_CLOSE_INTERNAL_ERROR, "cannot watch a socket: %s", strerror(-r));
                tcp_close(f);
                return;
        }
        f->tcp = TCP_CONNECTING;
        if (connect(f->fd, (const struct sockaddr *) target, sizeof(*target)) == 0) {
                f->tcp = TCP_OPEN;
                return;
        }
        if (errno != EINPROGRESS) {
                connect_failed(f, errno);
                return;
        }
        arm_timer(f, f->owner->config.connect_timeout_usec);
}

void port_forward_start(struct port_forward *f, const struct sockaddr_in *target, int fd, const void *extra,
                        size_t extra_size, void (*done)(void *arg), void *done_arg) {
        const struct ws_config config = {
                .max_message = PORT_FORWARD_MESSAGE_MAX,
                .max_queued = PORT_FORWARD_WS_QUEUE,
                .low_water = PORT_FORWARD_WS_LOW,
        };
        char addr[INET_ADDRSTRLEN];
        int r;

        f->done = done;
        f->done_arg = done_arg;
        if (!f->owner) {
                forward_free(f); /* the agent is stopping */
                return;
        }
        f->started = true;
        if (!inet_ntop(AF_INET, &target->sin_addr, addr, sizeof(addr)))
                snprintf(addr, sizeof(addr), "?");
        snprintf(f->target, sizeof(f->target), "%s:%u", addr, ntohs(target->sin_port));

        (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int) { 1 }, sizeof(int));
        r = ws_new(f->owner->event, fd, &config, &forward_callbacks, f, &f->ws);
        if (r >= 0 && extra_size > 0)
                r = ws_feed(f->ws, extra, extra_size);
        if (r < 0) {
                log_warning_errno(r, "Cannot start the websocket of a port forward to %s", f->target);
                snprintf(f->end, sizeof(f->end), "the websocket could not start");
                forward_free(f);
                return;
        }
        tcp_start(f, target);
        (void) step(f);
}

struct port_forwards *port_forwards_free(struct port_forwards *p) {
        if (!p)
                return NULL;
        while (p->forwards) {
                struct port_forward *f = p->forwards;

                if (!f->started) {
                        forward_unlink(f); /* its unreserve or start frees it */
                        continue;
                }
                /* The event loop is done: say so as far as the socket takes
                 * it now, without waiting for the close handshake. */
                snprintf(f->end, sizeof(f->end), "the agent is stopping");
                f->ws = ws_close_free(f->ws, WS_CLOSE_GOING_AWAY, "the agent is stopping");
                forward_free(f);
        }
        sd_event_unref(p->event);
        free(p);
        return NULL;
}
