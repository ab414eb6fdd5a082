/* main.c: owns the command line; everything else belongs to the manager. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "manager.h"
#include "vms.h"

static void help(void) {
        printf("Usage: xvmd [OPTIONS]\n"
               "Host agent for Xen on ARM64: a REST API in dom0.\n\n"
               "  --listen ADDR:PORT   address to serve on (default 0.0.0.0:8080; ignored\n"
               "                       when systemd passes a socket)\n"
               "  --token-file PATH    file holding the API bearer token, mode 0600 or\n"
               "                       stricter (default /etc/xvmd/token)\n"
               "  --metrics-token-file PATH\n"
               "                       a second token, good for GET /metrics only (a\n"
               "                       Prometheus server's), mode 0600 or stricter\n"
               "  --tls-cert PATH      serve https and wss with this certificate (PEM, the\n"
               "                       server's first, then its chain)\n"
               "  --tls-key PATH       ... and its private key (PEM, mode 0600 or stricter)\n"
               "  --plain-http         without TLS, serve plain HTTP on any address (by\n"
               "                       default only on a loopback one: the token would\n"
               "                       cross the network readable)\n"
               "  --state-dir PATH     where the agent keeps its state (default /var/lib/xvmd)\n"
               "  --web-dir PATH       the web console's files (default /usr/share/xvmd/web)\n"
               "  --firmware-dir PATH  the firmware VMs may boot (default " VMS_FIRMWARE_DIR ")\n"
               "  --logs-max-bytes N   all console logs together hold at most N bytes\n"
               "                       (default: a quarter of the state file system; 0: no limit)\n"
               "  --logs-keep-free N   keep N bytes of the state file system free of logs\n"
               "                       (default: 15 %% of it; 0: no floor)\n"
               "  --dom0-weight N      dom0's weight under Xen's credit schedulers, against a\n"
               "                       guest's 256 (default 512; 0 leaves it as it is)\n"
               "  --help               show this help\n"
               "  --version            show the version\n");
}

/* A decimal number of bytes (no suffix), below UINT64_MAX. */
static int parse_bytes(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;

        if (!*s || *s == '-')
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno || *end || v >= UINT64_MAX)
                return -EINVAL;
        *ret = v;
        return 0;
}

/* Returns 1 to run, 0 to exit successfully, -EINVAL on a bad command line. */
static int parse_argv(int argc, char *argv[], struct manager_config *config) {
        enum { ARG_LISTEN = 0x100, ARG_TOKEN_FILE, ARG_METRICS_TOKEN_FILE, ARG_STATE_DIR, ARG_WEB_DIR, ARG_FIRMWARE_DIR,
               ARG_LOGS_MAX, ARG_LOGS_FREE, ARG_DOM0_WEIGHT, ARG_TLS_CERT, ARG_TLS_KEY, ARG_PLAIN_HTTP,
               ARG_VERSION };
        static const struct option options[] = {
                { "listen", required_argument, NULL, ARG_LISTEN },
                { "token-file", required_argument, NULL, ARG_TOKEN_FILE },
                { "metrics-token-file", required_argument, NULL, ARG_METRICS_TOKEN_FILE },
                { "tls-cert", required_argument, NULL, ARG_TLS_CERT },
                { "tls-key", required_argument, NULL, ARG_TLS_KEY },
                { "plain-http", no_argument, NULL, ARG_PLAIN_HTTP },
                { "state-dir", required_argument, NULL, ARG_STATE_DIR },
                { "web-dir", required_argument, NULL, ARG_WEB_DIR },
                { "firmware-dir", required_argument, NULL, ARG_FIRMWARE_DIR },
                { "logs-max-bytes", required_argument, NULL, ARG_LOGS_MAX },
                { "logs-keep-free", required_argument, NULL, ARG_LOGS_FREE },
                { "dom0-weight", required_argument, NULL, ARG_DOM0_WEIGHT },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case ARG_LISTEN:
                        config->listen = optarg;
                        break;
                case ARG_TOKEN_FILE:
                        config->token_file = optarg;
                        break;
                case ARG_METRICS_TOKEN_FILE:
                        config->metrics_token_file = optarg;
                        break;
                case ARG_TLS_CERT:
                        config->tls_cert = optarg;
                        break;
                case ARG_TLS_KEY:
                        config->tls_key = optarg;
                        break;
                case ARG_PLAIN_HTTP:
                        config->plain_http = true;
                        break;
                case ARG_STATE_DIR:
                        config->state_dir = optarg;
                        break;
                case ARG_WEB_DIR:
                        config->web_dir = optarg;
                        break;
                case ARG_FIRMWARE_DIR:
                        config->firmware_dir = optarg;
                        break;
                case ARG_LOGS_MAX:
                case ARG_LOGS_FREE:
                        if (parse_bytes(optarg, c == ARG_LOGS_MAX ? &config->logs_max_bytes
                                                                  : &config->logs_keep_free) < 0) {
                                fprintf(stderr, "xvmd: %s wants a number of bytes, not '%s'\n",
                                        c == ARG_LOGS_MAX ? "--logs-max-bytes" : "--logs-keep-free", optarg);
                                return -EINVAL;
                        }
                        break;
                case ARG_DOM0_WEIGHT: {
                        char *end = NULL;
                        unsigned long w;

                        errno = 0;
                        w = strtoul(optarg, &end, 10);
                        if (errno || !end || *end || end == optarg || optarg[0] == '-' || w > 65535) {
                                fprintf(stderr, "xvmd: --dom0-weight wants 0 to 65535, not '%s'\n", optarg);
                                return -EINVAL;
                        }
                        config->dom0_weight = (unsigned) w;
                        break;
                }
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("xvmd %s\n", XVMD_VERSION);
                        return 0;
                default:
                        return -EINVAL; /* getopt_long has said why */
                }
        if (optind < argc) {
                fprintf(stderr, "xvmd: unexpected argument '%s' (try --help)\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

int main(int argc, char *argv[]) {
        _cleanup_(manager_freep) struct manager *m = NULL;
        struct manager_config config = MANAGER_CONFIG_DEFAULT;
        int r;

        r = parse_argv(argc, argv, &config);
        if (r <= 0)
                return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
        if (manager_new(&config, &m) < 0)
                return EXIT_FAILURE;
        return manager_run(m) < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
