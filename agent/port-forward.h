/* port-forward.h: owns the agent's port forwards, each one websocket (ws.h,
 * on the socket of an HTTP upgrade: GET /v1/vms/NAME/ports/PORT/ws, in
 * api-ports.c) carrying one TCP connection that the agent opens from dom0 to
 * a guest's address and port, like `kubectl port-forward`; and the limits on
 * how many there are, in all and per VM. It knows no VM beyond its name: the
 * API asks the core where the forward goes (vms_port_target()) and hands the
 * address over.
 *
 * Binary messages carry the connection's bytes, both ways; their boundaries
 * mean nothing. An empty one from the client is its end of data: once the
 * bytes before it are out, the agent shuts its side of the connection down
 * (SHUT_WR), and the guest's answer still comes until the guest closes
 * (then 1000); bytes after it are a protocol error (1002). The agent never
 * sends an empty message. A text message from the client is refused (1003).
 *
 * One forward's life: reserved before the upgrade (port_forward_reserve(),
 * where the limits hold; reserved ones count), started once the 101 is out
 * (port_forward_start(): its websocket, and a non-blocking connect bounded
 * by connect_timeout; the client's bytes wait for it), or dropped if it never
 * starts (port_forward_unreserve()). It ends:
 *   - when the guest closes its side (EOF): what the guest sent goes out,
 *     then the websocket closes with 1000;
 *   - when the connect fails or times out, or the connection breaks: the
 *     websocket closes with one of the codes below;
 *   - when the client closes (or its websocket ends any other way): the
 *     bytes still queued for the guest go out, then the agent shuts its
 *     side down (SHUT_WR) and closes the socket once the guest closed its
 *     own, or after linger (what the guest sends meanwhile is dropped);
 *   - when the agent stops (port_forwards_free()): 1001, and the TCP
 *     connection is closed at once.
 *
 * Close codes (besides ws.h's own: 1007, 1009, 1011, and the client's
 * code echoed), each with a reason that names the target:
 *   1000                         the guest closed the connection
 *   1001                         the agent is stopping
 *   1002                         bytes from the client after its empty
 *                                message (and ws.h's protocol errors)
 *   1003                         a text message from the client
 *   4001 PORT_FORWARD_REFUSED    the guest refused the connection (nothing
 *                                listens on the port)
 *   4002 PORT_FORWARD_TIMEOUT    the connect did not complete in
 *                                connect_timeout (10 s)
 *   4003 PORT_FORWARD_UNREACHABLE the connect failed otherwise (no route to
 *                                the guest, ...; the reason says how)
 *   4004 PORT_FORWARD_RESET      the established connection broke: the
 *                                guest reset it, or an I/O error
 *
 * Backpressure both ways, every buffer bounded:
 *   guest -> client: the guest's socket is read 16 KiB at most at a time,
 *     each read one binary message; reading stops while the websocket's
 *     queue holds 64 KiB or more (or refused the last read) and starts again
 *     when the queue has drained to 16 KiB;
 *   client -> guest: what the guest's socket does not take at once waits in
 *     a queue; once it holds 64 KiB, the websocket stops receiving
 *     (ws_set_receive(): the client is held back by TCP's flow control)
 *     until the queue is empty.
 * Memory per forward, at most about 540 KiB besides the kernel's socket
 * buffers: this object with one read from the guest (16.5 KiB), the queue to
 * the guest (below 64 KiB, plus what comes after receiving stops: a message
 * of 64 KiB and the 64 KiB of ws_feed(): 192 KiB), the websocket's incoming
 * side (about 2 x 64 KiB + 8 KiB) and its outgoing queue (128 KiB, plus 64
 * KiB for pongs: ws.h).
 *
 * Single-threaded, on the agent's event loop. */
#pragma once

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "core.h"
#include "macro.h"

#define PORT_FORWARDS_MAX 64                            /* in all, reserved ones included */
#define PORT_FORWARDS_PER_VM_MAX 16
#define PORT_FORWARD_CONNECT_USEC (10ULL * 1000 * 1000)
#define PORT_FORWARD_LINGER_USEC (10ULL * 1000 * 1000)
#define PORT_FORWARD_MESSAGE_MAX (64 * 1024)            /* longest message from the client */
#define PORT_FORWARD_READ_MAX (16 * 1024)               /* one read of the guest's socket: one message */
#define PORT_FORWARD_WS_QUEUE (128 * 1024)              /* the websocket's max_queued */
#define PORT_FORWARD_WS_HIGH (64 * 1024)                /* the guest's socket is not read from here */
#define PORT_FORWARD_WS_LOW (16 * 1024)                 /* ... until the queue has drained to this */
#define PORT_FORWARD_TCP_QUEUE (64 * 1024)              /* queued for the guest: the websocket stops receiving */

enum {
        PORT_FORWARD_REFUSED = 4001,
        PORT_FORWARD_TIMEOUT = 4002,
        PORT_FORWARD_UNREACHABLE = 4003,
        PORT_FORWARD_RESET = 4004,
};

struct port_forwards;
struct port_forward;

/* Limits and timers; a field left 0 takes the default in brackets. */
struct port_forwards_config {
        unsigned max_total;             /* [PORT_FORWARDS_MAX] */
        unsigned max_per_vm;            /* [PORT_FORWARDS_PER_VM_MAX] */
        uint64_t connect_timeout_usec;  /* [PORT_FORWARD_CONNECT_USEC] */
        uint64_t linger_usec;           /* [PORT_FORWARD_LINGER_USEC] */
};

/* config may be NULL (all defaults). */
int port_forwards_new(sd_event *event, const struct port_forwards_config *config, struct port_forwards **ret);
/* Closes every forward (1001, the agent is stopping; its TCP connection at
 * once); a reserved one is left to its port_forward_unreserve() or
 * port_forward_start(), which then only frees it. Takes NULL. */
struct port_forwards *port_forwards_free(struct port_forwards *p);
DEFINE_CLEANUP_FUNC(struct port_forwards, port_forwards_free);

/* Forwards reserved or under way: of the VM named vm, or all (vm NULL). */
unsigned port_forwards_count(const struct port_forwards *p, const char *vm);
/* Bytes the forwards hold in the agent's memory now: their queues to the
 * guests, their reads from them, their websockets' outgoing queues. */
size_t port_forwards_buffered(const struct port_forwards *p);

/* Before the upgrade: one more forward to port of the VM named vm, counted
 * from now on. Fills *err (too_many_forwards, naming the limit) when it
 * would pass one, or internal_error. */
int port_forward_reserve(struct port_forwards *p, const char *vm, uint16_t port, struct port_forward **ret,
                         struct error *err);
/* A reserved forward that will not start (the client went away before the
 * 101). */
void port_forward_unreserve(struct port_forward *f);

/* After the upgrade: the forward's websocket on fd (extra: bytes the HTTP
 * server read past the request) and its connection to target. done(done_arg)
 * is called once the forward no longer uses fd, which the caller then closes;
 * it may come before this returns. Consumes the reservation. */
void port_forward_start(struct port_forward *f, const struct sockaddr_in *target, int fd, const void *extra,
                        size_t extra_size, void (*done)(void *arg), void *done_arg);
