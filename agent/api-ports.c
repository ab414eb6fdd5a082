/* api-ports.c: a VM's ports: GET /v1/vms/NAME/ports/PORT/ws, a websocket
 * that carries one TCP connection from dom0 to the guest's address and port
 * (port-forward.c). Everything that can be refused is refused here, as
 * HTTP, before the upgrade: the handshake, where the forward would go
 * (vms_port_target()), the limits; the connect itself starts once the 101
 * is out, and its failure is a close code. */
#include <stdlib.h>

#include "api-internal.h"
#include "port-forward.h"
#include "ws-handshake.h"

struct port_upgrade {
        struct api_upgrade base;
        struct port_forward *forward;   /* reserved */
        struct sockaddr_in target;
};

static void port_upgrade_start(struct api_upgrade *u, int fd, const void *extra, size_t extra_size,
                               void (*done)(void *arg), void *done_arg) {
        struct port_upgrade *p = (struct port_upgrade *) u;

        port_forward_start(p->forward, &p->target, fd, extra, extra_size, done, done_arg);
        free(p);
}

static void port_upgrade_free(struct api_upgrade *u) {
        struct port_upgrade *p = (struct port_upgrade *) u;

        port_forward_unreserve(p->forward);
        free(p);
}

void api_port_ws(struct api_call *call) {
        char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];
        struct error err = { 0 };
        struct sockaddr_in target;
        struct port_forward *f;
        struct port_upgrade *p;

        if (!api_ws_handshake(call, accept, sizeof(accept)))
                return;
        if (vms_port_target(call->api->vms, vm_name(call->vm), call->port, &target, &err) < 0 ||
            port_forward_reserve(call->api->forwards, vm_name(call->vm), call->port, &f, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        p = calloc(1, sizeof(*p));
        if (!p) {
                port_forward_unreserve(f);
                api_response_error(call->resp, ERROR_INTERNAL, NULL, "out of memory");
                return;
        }
        p->base = (struct api_upgrade) { .start = port_upgrade_start, .free = port_upgrade_free };
        p->forward = f;
        p->target = target;
        api_response_upgrade(call, &p->base, accept);
}
