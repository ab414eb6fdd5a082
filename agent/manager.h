/* manager.h: owns everything the running daemon has: the options, the event
 * loop and its signal sources, the bearer token, the Xen handles, the API and
 * the HTTP server. Set up in that order and torn down in the reverse. */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "macro.h"

struct manager_config {
        const char *listen;     /* "ADDR:PORT"; unused under socket activation */
        const char *token_file;
        const char *metrics_token_file; /* a token for GET /metrics only (a scraper's); NULL: none */
        /* https and wss with this certificate and key (tls.h); without them
         * plain HTTP, served only on a loopback address or a Unix socket
         * unless plain_http says the operator wants it anywhere. */
        const char *tls_cert;
        const char *tls_key;
        bool plain_http;
        const char *state_dir;
        const char *firmware_dir;       /* NULL: vms.h's VMS_FIRMWARE_DIR */
        const char *web_dir;    /* the web console's files */
        /* All console logs together: at most this many bytes, and this much
         * of the state file system kept free; UINT64_MAX: the defaults
         * (vms.h), 0: no such limit. */
        uint64_t logs_max_bytes;
        uint64_t logs_keep_free;
        /* dom0's scheduler weight (a guest's is 256), so that the agent and
         * the backends in dom0 keep their share of the CPUs when guests run
         * flat out; 0 leaves it as it is. */
        unsigned dom0_weight;
};

#define MANAGER_CONFIG_DEFAULT                         \
        ((struct manager_config) {                     \
                .listen = "0.0.0.0:8080",              \
                .token_file = "/etc/xvmd/token",       \
                .state_dir = "/var/lib/xvmd",          \
                .web_dir = "/usr/share/xvmd/web",      \
                .logs_max_bytes = UINT64_MAX,          \
                .logs_keep_free = UINT64_MAX,          \
                .dom0_weight = 512,                    \
        })

struct manager;

/* Logs what went wrong itself (the daemon layer), then returns it. */
int manager_new(const struct manager_config *config, struct manager **ret);
struct manager *manager_free(struct manager *m);
DEFINE_CLEANUP_FUNC(struct manager, manager_free);

/* Tells systemd it is ready and runs until SIGTERM or SIGINT. */
int manager_run(struct manager *m);
