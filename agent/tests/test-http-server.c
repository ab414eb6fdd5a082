/* test-http-server.c: the real libmicrohttpd server on 127.0.0.1, driven by
 * sd-event in this thread, spoken to over a raw socket. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "api.h"
#include "auth.h"
#include "http-server.h"
#include "throttle.h"
#include "xen.h"

#define TOKEN "http-test-token-0123456789"

struct fixture {
        sd_event *event;
        struct auth *auth;
        struct xen *xen;
        struct api *api;
        struct http_server *server;
        int port;
};

struct reply {
        char raw[256 * 1024];
        size_t size;
        int status;
        const char *body; /* into raw, NUL-terminated */
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        struct sockaddr_storage ss;
        socklen_t len;
        int fd;

        if (!f || sd_event_new(&f->event) < 0 || auth_new(TOKEN, strlen(TOKEN), &f->auth, NULL) < 0 ||
            xen_new(&f->xen) < 0 || api_new(f->auth, f->xen, &HOST_PATHS_DEFAULT, NULL, &f->api) < 0)
                return -1;
        if (address_parse("127.0.0.1:0", &ss, &len) < 0)
                return -1;
        fd = address_listen(&ss, len);
        if (fd < 0)
                return -1;
        f->port = address_local_port(fd);
        if (f->port <= 0 || http_server_new(f->event, fd, f->api, NULL, &f->server) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        http_server_free(f->server);
        api_free(f->api);
        xen_free(f->xen);
        auth_free(f->auth);
        sd_event_unref(f->event);
        free(f);
        return 0;
}

static uint64_t now_ms(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000 + (uint64_t) ts.tv_nsec / 1000000;
}

static int connect_to(int port) {
        struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t) port) };
        int fd;

        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        assert_true(fd >= 0);
        /* The kernel completes the handshake from the listen backlog, so a
         * blocking connect returns before the server has run at all. */
        if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) < 0) {
                int r = -errno;

                close(fd);
                return r;
        }
        return fd;
}

/* Sends request, then runs the server until it closes the connection.
 * Returns how many bytes came back. */
static size_t exchange_raw(struct fixture *f, const char *request, size_t len, struct reply *r) {
        uint64_t deadline = now_ms() + 5000;
        size_t sent = 0;
        int fd;

        memset(r, 0, sizeof(*r));
        fd = connect_to(f->port);
        assert_true(fd >= 0);
        assert_int_equal(fcntl(fd, F_SETFL, O_NONBLOCK), 0);

        for (;;) {
                ssize_t n;

                assert_true(now_ms() < deadline);
                if (sent < len) {
                        n = send(fd, request + sent, len - sent, MSG_NOSIGNAL);
                        if (n > 0)
                                sent += (size_t) n;
                        else if (errno == EPIPE || errno == ECONNRESET)
                                sent = len; /* the server answered early and hung up */
                }
                assert_true(sd_event_run(f->event, 10 * 1000) >= 0);
                n = recv(fd, r->raw + r->size, sizeof(r->raw) - 1 - r->size, 0);
                if (n > 0)
                        r->size += (size_t) n;
                else if (n == 0 || errno == ECONNRESET)
                        break;
                else
                        assert_true(errno == EAGAIN);
        }
        close(fd);
        r->raw[r->size] = '\0';
        return r->size;
}

static void exchange(struct fixture *f, const char *request, size_t len, struct reply *r) {
        char *sep;

        exchange_raw(f, request, len, r);
        assert_true(sscanf(r->raw, "HTTP/1.1 %d ", &r->status) == 1);
        sep = strstr(r->raw, "\r\n\r\n");
        assert_non_null(sep);
        r->body = sep + 4;
}

static void get(struct fixture *f, const char *method, const char *path, const char *extra_headers,
                struct reply *r) {
        char req[4096];
        int n;

        n = snprintf(req, sizeof(req), "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n%s\r\n", method,
                     path, extra_headers ? extra_headers : "");
        exchange(f, req, (size_t) n, r);
}

/* The value of a response header (case-insensitive name), copied out. */
static const char *header(const struct reply *r, const char *name, char *buf, size_t size) {
        size_t n = strlen(name);

        for (const char *p = strstr(r->raw, "\r\n"); p && p + 2 < r->body; p = strstr(p + 2, "\r\n")) {
                const char *line = p + 2, *end = strstr(line, "\r\n");

                if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
                        line += n + 1;
                        while (*line == ' ')
                                line++;
                        snprintf(buf, size, "%.*s", (int) (end - line), line);
                        return buf;
                }
        }
        return NULL;
}

static void assert_json_error(const struct reply *r, int status, const char *code) {
        char buf[256];
        json_error_t err;
        json_t *j, *e;

        assert_int_equal(r->status, status);
        assert_non_null(header(r, "Content-Type", buf, sizeof(buf)));
        assert_string_equal(buf, "application/json");
        j = json_loads(r->body, 0, &err);
        assert_non_null(j);
        e = json_object_get(j, "error");
        assert_true(json_is_object(e));
        assert_string_equal(json_string_value(json_object_get(e, "code")), code);
        assert_true(json_is_string(json_object_get(e, "message")));
        json_decref(j);
}

static void test_healthz(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        char buf[256];
        json_t *j;

        get(f, "GET", "/healthz", NULL, r);
        assert_int_equal(r->status, 200);
        assert_string_equal(header(r, "content-type", buf, sizeof(buf)), "application/json");
        j = json_loads(r->body, 0, NULL);
        assert_non_null(j);
        assert_string_equal(json_string_value(json_object_get(j, "status")), "ok");
        json_decref(j);

        get(f, "HEAD", "/healthz", NULL, r);
        assert_int_equal(r->status, 200);
        assert_string_equal(r->body, "");
        free(r);
}

static void test_unauthorized(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        char buf[256];

        get(f, "GET", "/v1/host", NULL, r);
        assert_json_error(r, 401, "unauthorized");
        assert_string_equal(header(r, "WWW-Authenticate", buf, sizeof(buf)), "Bearer realm=\"xvmd\"");

        get(f, "GET", "/v1/host", "Authorization: Bearer not-the-token-at-all\r\n", r);
        assert_json_error(r, 401, "unauthorized");
        assert_non_null(header(r, "WWW-Authenticate", buf, sizeof(buf)));

        get(f, "GET", "/v1/host", "Authorization: Basic dXNlcjpwYXNz\r\n", r);
        assert_json_error(r, 401, "unauthorized");

        /* Unknown /v1 paths look the same as known ones without a token. */
        get(f, "GET", "/v1/does-not-exist", NULL, r);
        assert_json_error(r, 401, "unauthorized");
        free(r);
}

static void test_not_found(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        char buf[256];

        get(f, "GET", "/v1/does-not-exist", "Authorization: Bearer " TOKEN "\r\n", r);
        assert_json_error(r, 404, "not_found");
        assert_null(header(r, "WWW-Authenticate", buf, sizeof(buf)));
        get(f, "GET", "/nothing", NULL, r);
        assert_json_error(r, 404, "not_found");
        get(f, "GET", "/healthz?x=1", NULL, r); /* the query is not part of the path */
        assert_int_equal(r->status, 200);
        free(r);
}

static void test_method_not_allowed(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        char buf[256];

        get(f, "POST", "/healthz", "Content-Length: 0\r\n", r);
        assert_json_error(r, 405, "method_not_allowed");
        assert_string_equal(header(r, "Allow", buf, sizeof(buf)), "GET, HEAD");

        get(f, "DELETE", "/v1/host", "Authorization: Bearer " TOKEN "\r\n", r);
        assert_json_error(r, 405, "method_not_allowed");
        assert_string_equal(header(r, "Allow", buf, sizeof(buf)), "GET, HEAD");
        free(r);
}

static void test_body_too_large(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        static const char chunked[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                                      "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
        size_t big = 1024 * 1024;
        char *req = malloc(2 * big + 256);
        int n;

        /* Announced: answered from the headers, the body never sent. */
        get(f, "GET", "/healthz", "Content-Length: 1000000\r\n", r);
        assert_json_error(r, 413, "payload_too_large");

        /* Announced and sent anyway: still answered, no hang. */
        n = sprintf(req, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                         "Content-Length: %zu\r\n\r\n", big);
        memset(req + n, 'x', big);
        exchange(f, req, (size_t) n + big, r);
        assert_json_error(r, 413, "payload_too_large");

        /* Unannounced (chunked): measured while it arrives. */
        exchange(f, chunked, sizeof(chunked) - 1, r);
        assert_json_error(r, 413, "payload_too_large");

        /* Unannounced and endless: read up to a point, then cut off. */
        n = sprintf(req, "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n%zx\r\n", 2 * big);
        memset(req + n, 'x', 2 * big);
        assert_int_equal(exchange_raw(f, req, (size_t) n + 2 * big, r), 0);

        /* Authentication still comes first. */
        get(f, "GET", "/v1/host", "Content-Length: 1000000\r\n", r);
        assert_json_error(r, 401, "unauthorized");
        free(req);
        free(r);
}

static void test_host_without_xen(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        json_t *j;

        if (access("/proc/xen/privcmd", F_OK) == 0 || access("/dev/xen/privcmd", F_OK) == 0) {
                free(r);
                skip(); /* under Xen this would be a real answer */
        }

        get(f, "GET", "/v1/host", "Authorization: Bearer " TOKEN "\r\n", r);
        /* Exactly a 503 saying Xen is unavailable: no made-up host values. */
        assert_json_error(r, 503, "xen_unavailable");
        j = json_loads(r->body, 0, NULL);
        assert_int_equal(json_object_size(j), 1);
        json_decref(j);
        free(r);
}

static void test_keep_alive(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        static const char two[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n"
                                  "GET /nothing HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        const char *second;

        exchange(f, two, sizeof(two) - 1, r);
        assert_int_equal(r->status, 200);
        second = strstr(r->body, "HTTP/1.1 404");
        assert_non_null(second);
        free(r);
}

static void test_free_closes_listener(void **state) {
        struct fixture *f = *state;

        f->server = http_server_free(f->server);
        assert_int_equal(connect_to(f->port), -ECONNREFUSED);
        assert_null(http_server_free(NULL));
}

/* Ten wrong tokens from one address are answered 401; then every attempt
 * from it, the right token too, is a 429 with Retry-After; a request with
 * no token is not an attempt. */
static void test_wrong_tokens_are_throttled(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        char buf[64];

        for (int i = 0; i < THROTTLE_FAILURES; i++) {
                get(f, "GET", "/v1/vms", "Authorization: Bearer wrong-token-wrong-token\r\n", r);
                assert_json_error(r, 401, "unauthorized");
        }
        get(f, "GET", "/v1/vms", "Authorization: Bearer wrong-token-wrong-token\r\n", r);
        assert_json_error(r, 429, "too_many_logins");
        assert_non_null(header(r, "Retry-After", buf, sizeof(buf)));
        assert_true(atoi(buf) >= 55 && atoi(buf) <= 60);
        get(f, "GET", "/v1/vms", "Authorization: Bearer " TOKEN "\r\n", r);
        assert_json_error(r, 429, "too_many_logins");
        get(f, "GET", "/v1/vms", NULL, r);
        assert_json_error(r, 401, "unauthorized");
        free(r);
}

/* Runs the server for ms milliseconds. */
static void run_for(struct fixture *f, uint64_t ms) {
        uint64_t end = now_ms() + ms;

        while (now_ms() < end)
                assert_true(sd_event_run(f->event, 10 * 1000) >= 0);
}

/* Whether the server closed fd (EOF or reset), after running it a moment. */
static bool closed_by_server(struct fixture *f, int fd) {
        char c;
        ssize_t n;

        run_for(f, 50);
        n = recv(fd, &c, 1, MSG_DONTWAIT);
        return n == 0 || (n < 0 && errno == ECONNRESET);
}

/* One address may hold HTTP_STRANGERS_PER_ADDRESS connections that no
 * request authenticated; more are closed as they come. Closing one makes
 * room; a connection whose request carried the token no longer counts. */
static void test_strangers_per_address(void **state) {
        struct fixture *f = *state;
        struct reply *r = malloc(sizeof(*r));
        static const char authed[] = "GET /v1/host HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " TOKEN
                                     "\r\n\r\n";
        int fds[HTTP_STRANGERS_PER_ADDRESS], extra, trusted;
        char buf[4096];

        for (int i = 0; i < HTTP_STRANGERS_PER_ADDRESS; i++) {
                fds[i] = connect_to(f->port);
                assert_true(fds[i] >= 0);
                run_for(f, 5);
        }
        for (int i = 0; i < HTTP_STRANGERS_PER_ADDRESS; i++)
                assert_false(closed_by_server(f, fds[i]));
        extra = connect_to(f->port);
        assert_true(extra >= 0);
        assert_true(closed_by_server(f, extra));
        close(extra);

        /* One goes: one may come, and with the token it is kept. */
        close(fds[0]);
        run_for(f, 20);
        trusted = connect_to(f->port);
        assert_true(trusted >= 0);
        assert_int_equal(send(trusted, authed, sizeof(authed) - 1, MSG_NOSIGNAL), (ssize_t) sizeof(authed) - 1);
        run_for(f, 100);
        assert_true(recv(trusted, buf, sizeof(buf), MSG_DONTWAIT) > 0);
        /* answered, and not with 401 (without Xen, /v1/host is a 503) */
        assert_memory_equal(buf, "HTTP/1.1 ", 9);
        assert_memory_not_equal(buf, "HTTP/1.1 401", 12);
        /* ... and no longer counts: there is room for another stranger. */
        fds[0] = connect_to(f->port);
        assert_true(fds[0] >= 0);
        assert_false(closed_by_server(f, fds[0]));
        extra = connect_to(f->port);
        assert_true(closed_by_server(f, extra));
        close(extra);

        for (int i = 0; i < HTTP_STRANGERS_PER_ADDRESS; i++)
                close(fds[i]);
        close(trusted);
        free(r);
}

/* A stranger that does not bring a whole request in
 * HTTP_STRANGER_REQUEST_SEC is cut; one that answered in time gets the same
 * time again for its next request; a trusted one is not timed. */
static void test_strangers_are_timed(void **state) {
        struct fixture *f = *state;
        static const char part[] = "GET /healthz HTTP/1.1\r\nHost: localh";
        static const char whole[] = "GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n";
        static const char authed[] = "GET /v1/host HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer " TOKEN
                                     "\r\n\r\n";
        int slow = connect_to(f->port), idle = connect_to(f->port), again = connect_to(f->port),
            trusted = connect_to(f->port);
        uint64_t t0 = now_ms(), cut_at = 0;
        char buf[4096];

        assert_true(slow >= 0 && idle >= 0 && again >= 0 && trusted >= 0);
        assert_int_equal(send(slow, part, sizeof(part) - 1, MSG_NOSIGNAL), (ssize_t) sizeof(part) - 1);
        assert_int_equal(send(trusted, authed, sizeof(authed) - 1, MSG_NOSIGNAL), (ssize_t) sizeof(authed) - 1);
        run_for(f, (HTTP_STRANGER_REQUEST_SEC - 2) * 1000ULL);
        /* 2 s before the deadline: `again` answers a public request, which
         * gives it a whole new period. */
        assert_int_equal(send(again, whole, sizeof(whole) - 1, MSG_NOSIGNAL), (ssize_t) sizeof(whole) - 1);
        run_for(f, 100);
        assert_true(recv(again, buf, sizeof(buf), MSG_DONTWAIT) > 0);
        assert_false(closed_by_server(f, slow));
        while (!cut_at && now_ms() - t0 < (HTTP_STRANGER_REQUEST_SEC + 3) * 1000ULL)
                if (closed_by_server(f, slow))
                        cut_at = now_ms();
        assert_true(cut_at > 0);
        assert_true(cut_at - t0 >= HTTP_STRANGER_REQUEST_SEC * 1000ULL - 100);
        assert_true(closed_by_server(f, idle));
        assert_false(closed_by_server(f, again));
        assert_true(recv(trusted, buf, sizeof(buf), MSG_DONTWAIT) > 0);
        assert_false(closed_by_server(f, trusted));
        close(slow);
        close(idle);
        close(again);
        close(trusted);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_healthz, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unauthorized, setup, teardown),
                cmocka_unit_test_setup_teardown(test_not_found, setup, teardown),
                cmocka_unit_test_setup_teardown(test_method_not_allowed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_body_too_large, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_without_xen, setup, teardown),
                cmocka_unit_test_setup_teardown(test_keep_alive, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_closes_listener, setup, teardown),
                cmocka_unit_test_setup_teardown(test_strangers_per_address, setup, teardown),
                cmocka_unit_test_setup_teardown(test_strangers_are_timed, setup, teardown),
                cmocka_unit_test_setup_teardown(test_wrong_tokens_are_throttled, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
