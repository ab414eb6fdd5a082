/* manager.c: owns everything the running daemon has (see manager.h). */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "address.h"
#include "api.h"
#include "auth.h"
#include "console-ws.h"
#include "host.h"
#include "http-server.h"
#include "log.h"
#include "manager.h"
#include "port-forward.h"
#include "tls.h"
#include "vms.h"
#include "xen.h"

struct manager {
        char *state_dir;
        sd_event *event;
        sd_event_source *sigterm, *sigint;
        struct auth *auth;
        struct auth *metrics_auth;      /* NULL: no metrics token */
        struct tls_credentials *tls;    /* NULL: plain HTTP */
        struct xen *xen;
        struct api *api;
        struct vms *vms;
        struct console_ws *viewers;
        struct port_forwards *forwards;
        struct http_server *http;
};

/* The state directory, made if missing: under systemd, StateDirectory=
 * makes it (and its parents) before the agent starts; by hand, its parent
 * must exist. */
static int make_state_dir(const char *path) {
        struct stat st;

        if (mkdir(path, 0700) < 0 && errno != EEXIST)
                return negative_errno();
        if (stat(path, &st) < 0)
                return negative_errno();
        return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

/* Every change of a VM's state, in the journal (the transition hook of
 * vms.h; the event log is told by the core itself, before the hook). */
static void on_transition(struct vm *vm, enum vm_state from, enum vm_event event, void *userdata _unused_) {
        log_info("VM %s: %s (%s -> %s), boot %u.", vm_name(vm), vm_event_to_string(event), vm_state_to_string(from),
                 vm_state_name(vm), vm_boot_count(vm));
}

static int on_signal(sd_event_source *src, const struct signalfd_siginfo *si, void *userdata _unused_) {
        log_info("Received %s, stopping.", strsignal((int) si->ssi_signo));
        (void) sd_notify(0, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(src), 0);
}

/* The socket systemd passed (socket activation), or one bound to listen. */
static int open_listen_socket(const char *listen) {
        struct sockaddr_storage sa;
        socklen_t len;
        int n, fd;

        n = sd_listen_fds(1);
        if (n < 0)
                return log_error_errno(n, "Cannot read the sockets passed by systemd");
        if (n > 1)
                return log_error_errno(-EINVAL, "systemd passed %d sockets, expected one", n);
        if (n == 1) {
                fd = SD_LISTEN_FDS_START;
                if (sd_is_socket(fd, AF_UNSPEC, SOCK_STREAM, 1) <= 0)
                        return log_error_errno(-ENOTSOCK, "The fd systemd passed is not a listening stream socket");
                log_info("Listening on the socket passed by systemd (--listen ignored).");
                return fd;
        }

        if (address_parse(listen, &sa, &len) < 0)
                return log_error_errno(-EINVAL, "Invalid --listen '%s': expected ADDR:PORT, e.g. 0.0.0.0:8080 or [::]:8080",
                                       listen);
        fd = address_listen(&sa, len);
        if (fd < 0)
                return log_error_errno(fd, "Cannot listen on %s", listen);
        log_info("Listening on %s.", listen);
        return fd;
}

/* Plain HTTP carries the token and the session cookie readable: it is
 * served only where nobody else can listen, unless the operator says so. */
static int check_plain_http(int fd, const struct manager_config *config) {
        struct sockaddr_storage sa = { 0 };
        socklen_t len = sizeof(sa);

        if (getsockname(fd, (struct sockaddr *) &sa, &len) < 0)
                return log_error_errno(negative_errno(), "Cannot read the listening socket's address");
        if (tls_address_is_local((const struct sockaddr *) &sa))
                return 0;
        if (config->plain_http) {
                log_warning("Serving plain HTTP on an address other hosts reach (--plain-http): the token and "
                            "session cookies cross the network readable.");
                return 0;
        }
        return log_error_errno(-EPERM, "Refusing to start: plain HTTP on an address other hosts reach would carry "
                               "the token readable; give --tls-cert and --tls-key, listen on a loopback address, "
                               "or say --plain-http");
}

int manager_new(const struct manager_config *config, struct manager **ret) {
        _cleanup_(manager_freep) struct manager *m = NULL;
        _cleanup_close_ int fd = -1;
        struct error err = { 0 };
        sigset_t mask;
        int r;

        m = calloc(1, sizeof(*m));
        if (!m)
                return log_error_errno(-ENOMEM, "Cannot start");

        r = auth_new_from_file(config->token_file, &m->auth, &err);
        if (r < 0)
                return log_error_errno(r, "Refusing to start: %s", err.message);
        if (config->metrics_token_file) {
                r = auth_new_from_file(config->metrics_token_file, &m->metrics_auth, &err);
                if (r < 0)
                        return log_error_errno(r, "Refusing to start: the metrics token: %s", err.message);
        }
        if (!config->tls_cert != !config->tls_key)
                return log_error_errno(-EINVAL, "Refusing to start: --tls-cert and --tls-key go together");
        if (config->tls_cert) {
                r = tls_credentials_load(config->tls_cert, config->tls_key, &m->tls, &err);
                if (r < 0)
                        return log_error_errno(r, "Refusing to start: %s", err.message);
        }
        /* The socket before anything else is touched (Xen, the state
         * directory): a refusal changes nothing. */
        fd = open_listen_socket(config->listen);
        if (fd < 0)
                return fd;
        if (!m->tls) {
                r = check_plain_http(fd, config);
                if (r < 0)
                        return r;
        }

        m->state_dir = strdup(config->state_dir);
        if (!m->state_dir)
                return log_error_errno(-ENOMEM, "Cannot start");
        r = make_state_dir(m->state_dir);
        if (r < 0)
                return log_error_errno(r, "Cannot create the state directory %s", m->state_dir);

        r = sd_event_new(&m->event);
        if (r < 0)
                return log_error_errno(r, "Cannot create the event loop");

        /* sd-event takes signals from a signalfd, which needs them blocked
         * (SIGCHLD too: the networks' dnsmasq children, sd_event_add_child);
         * a peer that hangs up must not kill the daemon either. Children
         * unblock them all before exec. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
                return log_error_errno(negative_errno(), "Cannot block SIGTERM, SIGINT and SIGCHLD");
        signal(SIGPIPE, SIG_IGN);
        r = sd_event_add_signal(m->event, &m->sigterm, SIGTERM, on_signal, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, &m->sigint, SIGINT, on_signal, m);
        if (r < 0)
                return log_error_errno(r, "Cannot watch for SIGTERM and SIGINT");

        r = xen_new(&m->xen);
        if (r >= 0)
                r = api_new(m->auth, m->xen, &HOST_PATHS_DEFAULT, config->web_dir, &m->api);
        if (r < 0)
                return log_error_errno(r, "Cannot start");
        api_set_metrics_auth(m->api, m->metrics_auth);

        if (config->dom0_weight > 0) {
                unsigned old = 0;

                r = xen_set_dom0_weight(m->xen, config->dom0_weight, &old, &err);
                if (r < 0)
                        log_warning_errno(r, "Setting dom0's scheduler weight failed: %s; ignoring", err.message);
                else
                        log_info("Dom0's scheduler weight: %u (was %u; a guest's is %u), so that the agent and "
                                 "dom0's backends keep their share of the CPUs when guests run flat out.",
                                 config->dom0_weight, old, XEN_DEFAULT_WEIGHT);
        }

        r = vms_new(m->event, m->state_dir, config->firmware_dir, &m->vms);
        if (r < 0)
                return log_error_errno(r, "Cannot open the VMs in %s", m->state_dir);
        vms_set_transition_hook(m->vms, on_transition, NULL);
        {
                uint64_t max_bytes, keep_free, bytes;

                vms_log_limits(m->vms, &max_bytes, &keep_free, &bytes);
                if (config->logs_max_bytes != UINT64_MAX)
                        max_bytes = config->logs_max_bytes;
                if (config->logs_keep_free != UINT64_MAX)
                        keep_free = config->logs_keep_free;
                vms_set_log_limits(m->vms, max_bytes, keep_free);
                vms_log_limits(m->vms, &max_bytes, &keep_free, &bytes);
                log_info("Console logs: %llu bytes held; at most %llu in all (0: no limit), keeping %llu bytes of %s "
                         "free.", (unsigned long long) bytes, (unsigned long long) max_bytes,
                         (unsigned long long) keep_free, m->state_dir);
        }
        if (!vms_have_xen(m->vms))
                log_warning("No access to Xen's toolstack interfaces: VM routes will answer 503.");
        r = console_ws_new(m->event, m->vms, &m->viewers);
        if (r < 0)
                return log_error_errno(r, "Cannot start");
        api_set_vms(m->api, m->vms, m->viewers);
        r = port_forwards_new(m->event, NULL, &m->forwards);
        if (r < 0)
                return log_error_errno(r, "Cannot start");
        api_set_forwards(m->api, m->forwards);

        api_set_tls(m->api, m->tls);
        r = http_server_new(m->event, TAKE_FD(fd), m->api, m->tls, &m->http);
        if (r < 0)
                return log_error_errno(r, "Cannot start the HTTP server");
        log_info("Serving %s.", m->tls ? "https and wss (TLS 1.2 and 1.3)" : "plain HTTP");

        *ret = TAKE_PTR(m);
        return 0;
}

struct manager *manager_free(struct manager *m) {
        if (!m)
                return NULL;
        /* Websockets first (viewers, port forwards): their sockets go back
         * to the HTTP server. */
        console_ws_free(m->viewers);
        port_forwards_free(m->forwards);
        http_server_free(m->http);
        api_free(m->api);
        vms_free(m->vms);
        xen_free(m->xen);
        sd_event_source_disable_unref(m->sigint);
        sd_event_source_disable_unref(m->sigterm);
        sd_event_unref(m->event);
        auth_free(m->auth);
        auth_free(m->metrics_auth);
        tls_credentials_free(m->tls);
        free(m->state_dir);
        free(m);
        return NULL;
}

int manager_run(struct manager *m) {
        int r;

        (void) sd_notify(0, "READY=1\nSTATUS=Serving the API.");
        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "The event loop failed");
        return 0;
}
