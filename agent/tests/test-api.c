/* test-api.c: routing, authentication order and error bodies, without sockets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "api.h"
#include "api-internal.h"
#include "auth.h"
#include "xen.h"

#define TOKEN "test-token-0123456789"

struct fixture {
        struct auth *auth;
        struct xen *xen;
        struct api *api;
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        if (!f || auth_new(TOKEN, strlen(TOKEN), &f->auth, NULL) < 0 || xen_new(&f->xen) < 0 ||
            api_new(f->auth, f->xen, &HOST_PATHS_DEFAULT, NULL, &f->api) < 0)
                return -1;
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        api_free(f->api);
        xen_free(f->xen);
        auth_free(f->auth);
        free(f);
        return 0;
}

static const char *error_code(const struct api_response *r) {
        return json_string_value(json_object_get(json_object_get(r->body, "error"), "code"));
}

static void test_lookup(void **state) {
        (void) state;
        const struct api_route *route = NULL;
        char allow[64];

        assert_int_equal(api_route_lookup("GET", "/healthz", &route, allow, sizeof(allow)), 0);
        assert_non_null(route);
        assert_int_equal(api_route_body_max(route), 0);
        assert_int_equal(api_route_lookup("HEAD", "/healthz", &route, allow, sizeof(allow)), 0);
        assert_int_equal(api_route_lookup("GET", "/v1/host", &route, allow, sizeof(allow)), 0);

        assert_int_equal(api_route_lookup("POST", "/healthz", &route, allow, sizeof(allow)), -EOPNOTSUPP);
        assert_string_equal(allow, "GET, HEAD");
        assert_int_equal(api_route_lookup("DELETE", "/v1/host", &route, allow, sizeof(allow)), -EOPNOTSUPP);
        assert_string_equal(allow, "GET, HEAD");
        /* Methods are case-sensitive (RFC 9110 section 9.1). */
        assert_int_equal(api_route_lookup("get", "/healthz", &route, allow, sizeof(allow)), -EOPNOTSUPP);

        assert_int_equal(api_route_lookup("GET", "/nope", &route, allow, sizeof(allow)), -ENOENT);
        assert_string_equal(allow, "");
        assert_int_equal(api_route_lookup("GET", "/v1/host/", &route, allow, sizeof(allow)), -ENOENT);
        assert_int_equal(api_route_lookup("GET", "/V1/HOST", &route, allow, sizeof(allow)), -ENOENT);
        assert_int_equal(api_route_lookup("GET", "", &route, allow, sizeof(allow)), -ENOENT);

        /* A small buffer truncates the list but stays terminated. */
        assert_int_equal(api_route_lookup("POST", "/healthz", &route, allow, 4), -EOPNOTSUPP);
        assert_string_equal(allow, "GET");
}

static void test_needs_auth(void **state) {
        (void) state;
        assert_true(api_path_needs_auth("/v1"));
        assert_true(api_path_needs_auth("/v1/"));
        assert_true(api_path_needs_auth("/v1/host"));
        assert_true(api_path_needs_auth("/v1/nothing/here"));
        assert_false(api_path_needs_auth("/v10"));
        assert_false(api_path_needs_auth("/v"));
        assert_false(api_path_needs_auth("/"));
        assert_false(api_path_needs_auth("/healthz"));
        assert_true(api_path_needs_auth("/metrics"));
        assert_false(api_path_needs_auth("/metricsx"));
        assert_false(api_path_needs_auth(""));
}

static const struct api_route *admit(struct fixture *f, const char *method, const char *path, const char *authz,
                                     uint64_t content_length, struct api_response *resp) {
        struct api_request req = {
                .method = method,
                .path = path,
                .authorization = authz,
                .content_length = content_length,
        };
        struct api_upload *u;

        return api_admit(f->api, &req, resp, &u);
}

static void test_admit_unauthorized(void **state) {
        struct fixture *f = *state;
        struct api_response resp;

        assert_null(admit(f, "GET", "/v1/host", NULL, API_CONTENT_LENGTH_UNKNOWN, &resp));
        assert_int_equal(resp.status, 401);
        assert_true(resp.challenge);
        assert_string_equal(error_code(&resp), "unauthorized");
        assert_null(json_object_get(json_object_get(resp.body, "error"), "field"));
        assert_non_null(json_string_value(json_object_get(json_object_get(resp.body, "error"), "message")));
        api_response_done(&resp);

        assert_null(admit(f, "GET", "/v1/host", "Bearer wrong-token-0123456789", 0, &resp));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);

        /* Unknown /v1 paths and wrong methods say nothing before authentication. */
        assert_null(admit(f, "GET", "/v1/secret", NULL, 0, &resp));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);
        assert_null(admit(f, "POST", "/v1/host", "Basic abc", 0, &resp));
        assert_int_equal(resp.status, 401);
        assert_string_equal(resp.allow, "");
        api_response_done(&resp);
}

static void test_admit_routing(void **state) {
        struct fixture *f = *state;
        struct api_response resp;

        assert_non_null(admit(f, "GET", "/v1/host", "bearer " TOKEN, API_CONTENT_LENGTH_UNKNOWN, &resp));
        assert_null(resp.body);

        assert_null(admit(f, "GET", "/v1/nothing", "Bearer " TOKEN, 0, &resp));
        assert_int_equal(resp.status, 404);
        assert_string_equal(error_code(&resp), "not_found");
        assert_false(resp.challenge);
        api_response_done(&resp);

        assert_null(admit(f, "PUT", "/v1/host", "Bearer " TOKEN, 0, &resp));
        assert_int_equal(resp.status, 405);
        assert_string_equal(error_code(&resp), "method_not_allowed");
        assert_string_equal(resp.allow, "GET, HEAD");
        api_response_done(&resp);

        /* Outside /v1 no token is needed, and a wrong one does not matter. */
        assert_non_null(admit(f, "GET", "/healthz", NULL, 0, &resp));
        assert_non_null(admit(f, "GET", "/healthz", "Bearer nope", 0, &resp));
        assert_null(admit(f, "GET", "/nothing-here", NULL, 0, &resp));
        assert_int_equal(resp.status, 404);
        api_response_done(&resp);
        /* The web console's page and files need no token either. */
        assert_non_null(admit(f, "GET", "/", NULL, 0, &resp));
        assert_non_null(admit(f, "GET", "/assets/app.js", NULL, 0, &resp));
}

/* Headers for the cookie tests: name=value pairs, NULL-terminated. */
static const char *const *test_headers;

static const char *lookup_header(const void *ctx _unused_, const char *name) {
        for (const char *const *h = test_headers; h && *h; h += 2)
                if (strcasecmp(h[0], name) == 0)
                        return h[1];
        return NULL;
}

/* What the HTTP server does with the Cookie header (MHD_COOKIE_KIND): the
 * value of one cookie by name, from "a=b; c=d". */
static const char *lookup_cookie(const void *ctx _unused_, const char *name) {
        static char value[256];
        const char *h = lookup_header(NULL, "Cookie");
        size_t n = strlen(name);

        while (h && *h) {
                size_t len;

                h += strspn(h, " ;");
                len = strcspn(h, ";");
                if (len > n && strncmp(h, name, n) == 0 && h[n] == '=') {
                        snprintf(value, sizeof(value), "%.*s", (int) (len - n - 1), h + n + 1);
                        return value;
                }
                h += len;
        }
        return NULL;
}

static unsigned admit_with(struct fixture *f, const char *method, const char *path, const char *const *headers) {
        struct api_request req = { .method = method, .path = path, .header = lookup_header,
                                   .cookie = lookup_cookie, .content_length = 0 };
        struct api_response resp;
        struct api_upload *u;
        const struct api_route *route;

        test_headers = headers;
        req.authorization = lookup_header(NULL, "Authorization");
        route = api_admit(f->api, &req, &resp, &u);
        api_response_done(&resp);
        return route ? 200 : resp.status;
}

static void test_session_cookie(void **state) {
        struct fixture *f = *state;
        struct api_request req = { .method = "POST", .path = "/v1/session", .header = lookup_header };
        char cookie[200], bad_cookie[200];
        struct api_response resp;
        struct api_upload *u;
        const struct api_route *route;
        const char *set_cookie = NULL;

        /* A wrong token gets no session. */
        test_headers = NULL;
        req.body = "{\"token\":\"wrong-token-wrong-token\"}";
        req.body_size = strlen(req.body);
        route = api_admit(f->api, &req, &resp, &u);
        assert_non_null(route); /* the login itself needs no authentication */
        api_dispatch(f->api, route, &req, &resp);
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);

        req.body = "{\"token\":\"" TOKEN "\"}";
        req.body_size = strlen(req.body);
        api_dispatch(f->api, route, &req, &resp);
        assert_int_equal(resp.status, 204);
        for (size_t i = 0; i < ELEMENTSOF(resp.extra); i++)
                if (resp.extra[i].name && strcmp(resp.extra[i].name, "Set-Cookie") == 0)
                        set_cookie = resp.extra[i].value;
        assert_non_null(set_cookie);
        assert_non_null(strstr(set_cookie, "HttpOnly"));
        assert_non_null(strstr(set_cookie, "SameSite=Strict"));
        snprintf(cookie, sizeof(cookie), "other=1; %.*s", (int) strcspn(set_cookie, ";"), set_cookie);
        api_response_done(&resp);
        snprintf(bad_cookie, sizeof(bad_cookie), "%s", cookie);
        bad_cookie[strlen(bad_cookie) - 1] ^= 1;

        /* Reading with the cookie needs no Origin... */
        assert_int_equal(admit_with(f, "GET", "/v1/host", (const char *[]) { "Cookie", cookie, NULL }), 200);
        assert_int_equal(admit_with(f, "GET", "/v1/host", (const char *[]) { "Cookie", bad_cookie, NULL }), 401);
        /* ...changing something or opening a websocket does. */
        assert_int_equal(admit_with(f, "DELETE", "/v1/vms/x", (const char *[]) { "Cookie", cookie, NULL }), 403);
        assert_int_equal(admit_with(f, "DELETE", "/v1/vms/x",
                                    (const char *[]) { "Cookie", cookie, "Host", "127.0.0.1:8080", "Origin",
                                                       "http://evil.example", NULL }),
                         403);
        assert_int_equal(admit_with(f, "GET", "/v1/vms/x/consoles/pv/ws",
                                    (const char *[]) { "Cookie", cookie, "Host", "127.0.0.1:8080", "Upgrade",
                                                       "websocket", NULL }),
                         403);
        /* A port forward's websocket, the same. */
        assert_int_equal(admit_with(f, "GET", "/v1/vms/x/ports/22/ws",
                                    (const char *[]) { "Cookie", cookie, "Host", "127.0.0.1:8080", "Upgrade",
                                                       "websocket", NULL }),
                         403);
        assert_int_equal(admit_with(f, "GET", "/v1/vms/x/ports/22/ws",
                                    (const char *[]) { "Cookie", cookie, "Host", "127.0.0.1:8080", "Upgrade",
                                                       "websocket", "Origin", "http://127.0.0.1:8080", NULL }),
                         200);
        assert_int_equal(admit_with(f, "GET", "/v1/vms/x/ports/22/ws",
                                    (const char *[]) { "Upgrade", "websocket", NULL }),
                         401);
        assert_int_equal(admit_with(f, "DELETE", "/v1/vms/x",
                                    (const char *[]) { "Cookie", cookie, "Host", "127.0.0.1:8080", "Origin",
                                                       "http://127.0.0.1:8080", NULL }),
                         200);
        /* A wrong bearer token is not saved by a good cookie. */
        assert_int_equal(admit_with(f, "GET", "/v1/host",
                                    (const char *[]) { "Cookie", cookie, "Authorization", "Bearer nope", NULL }),
                         401);

        /* Logging out ends it. */
        test_headers = (const char *[]) { "Cookie", cookie, "Host", "h:1", "Origin", "http://h:1", NULL };
        req = (struct api_request) { .method = "DELETE", .path = "/v1/session", .header = lookup_header,
                                     .cookie = lookup_cookie };
        route = api_admit(f->api, &req, &resp, &u);
        assert_non_null(route);
        api_dispatch(f->api, route, &req, &resp);
        assert_int_equal(resp.status, 204);
        api_response_done(&resp);
        assert_int_equal(admit_with(f, "GET", "/v1/host", (const char *[]) { "Cookie", cookie, NULL }), 401);
}

static void test_admit_body_limit(void **state) {
        struct fixture *f = *state;
        struct api_response resp;
        const struct api_route *route;

        assert_null(admit(f, "GET", "/healthz", NULL, 1, &resp));
        assert_int_equal(resp.status, 413);
        assert_string_equal(error_code(&resp), "payload_too_large");
        api_response_done(&resp);

        assert_null(admit(f, "GET", "/v1/host", "Bearer " TOKEN, UINT64_MAX - 1, &resp));
        assert_int_equal(resp.status, 413);
        api_response_done(&resp);

        /* POST /v1/vms comes after GET /v1/vms in the table: the 413 must
         * not say Allow (only a 405 does; api/openapi.yaml). */
        assert_null(admit(f, "POST", "/v1/vms", "Bearer " TOKEN, 1024 * 1024, &resp));
        assert_int_equal(resp.status, 413);
        assert_string_equal(resp.allow, "");
        api_response_done(&resp);

        /* Unannounced (chunked) bodies are measured as they arrive. */
        route = admit(f, "GET", "/healthz", NULL, API_CONTENT_LENGTH_UNKNOWN, &resp);
        assert_non_null(route);
        api_response_body_too_large(&resp, route);
        assert_int_equal(resp.status, 413);
        assert_string_equal(error_code(&resp), "payload_too_large");
        api_response_done(&resp);
}

static void test_error_body(void **state) {
        (void) state;
        struct api_response resp = { 0 };
        json_t *e;

        api_response_error(&resp, ERROR_INVALID_FIELD, "name", "name must be %d characters or fewer", 64);
        assert_int_equal(resp.status, 400);
        assert_int_equal(json_object_size(resp.body), 1);
        e = json_object_get(resp.body, "error");
        assert_int_equal(json_object_size(e), 3);
        assert_string_equal(json_string_value(json_object_get(e, "code")), "invalid_field");
        assert_string_equal(json_string_value(json_object_get(e, "field")), "name");
        assert_string_equal(json_string_value(json_object_get(e, "message")), "name must be 64 characters or fewer");

        /* A second error replaces the first without leaking it. */
        api_response_error(&resp, ERROR_NOT_FOUND, NULL, "gone");
        e = json_object_get(resp.body, "error");
        assert_int_equal(json_object_size(e), 2);
        assert_null(json_object_get(e, "field"));
        api_response_done(&resp);
        api_response_done(&resp);
}

/* The statuses the API documents for the core's errors: a few that are
 * easy to get wrong (the same word, two answers). */
static void test_error_status(void **state) {
        (void) state;
        assert_int_equal(api_error_status(ERROR_INVALID_FIELD), 400);
        assert_int_equal(api_error_status(ERROR_SPEC_UNKNOWN_CONSOLE), 400);
        assert_int_equal(api_error_status(ERROR_UNKNOWN_CONSOLE), 404);
        assert_string_equal(error_code_name(ERROR_SPEC_UNKNOWN_CONSOLE), error_code_name(ERROR_UNKNOWN_CONSOLE));
        assert_int_equal(api_error_status(ERROR_UNKNOWN_IMAGE), 422);
        assert_int_equal(api_error_status(ERROR_VM_NOT_RUNNING), 409);
        assert_int_equal(api_error_status(ERROR_TOO_MANY_VIEWERS), 503);
        assert_int_equal(api_error_status(ERROR_INSUFFICIENT_STORAGE), 507);
        assert_int_equal(api_error_status(ERROR_STATE_NOT_SAVED), 500);
        assert_int_equal(api_error_status(ERROR_BAD_HANDSHAKE_METHOD), 405);
        assert_int_equal(api_error_status(ERROR_NONE), 500);
        assert_int_equal(api_error_status(_ERROR_CODE_MAX), 500);
        for (int c = ERROR_INTERNAL; c < _ERROR_CODE_MAX; c++) {
                unsigned s = api_error_status((enum error_code) c);

                assert_true(s >= 400 && s < 600);
                assert_string_not_equal(error_code_name((enum error_code) c), "none");
        }
}

static void test_dispatch(void **state) {
        struct fixture *f = *state;
        struct api_response resp;
        const struct api_route *route;
        struct api_request req = { .method = "GET", .path = "/healthz" };
        struct api_upload *upload;

        route = api_admit(f->api, &req, &resp, &upload);
        assert_non_null(route);
        api_dispatch(f->api, route, &req, &resp);
        assert_int_equal(resp.status, 200);
        assert_string_equal(json_string_value(json_object_get(resp.body, "status")), "ok");
        assert_int_equal(json_object_size(resp.body), 1);
        api_response_done(&resp);
}

static void test_metrics_token(void **state) {
        struct fixture *f = *state;
        struct api_response resp;
        struct auth *scraper;
        const char *bearer = "Bearer scraper-token-0123456789";

        assert_int_equal(auth_new("scraper-token-0123456789", 24, &scraper, NULL), 0);
        /* Without it set, the scraper's token is nobody's. */
        assert_null(admit(f, "GET", "/metrics", bearer, 0, &resp));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);
        api_set_metrics_auth(f->api, scraper);
        assert_non_null(admit(f, "GET", "/metrics", bearer, 0, &resp));
        api_response_done(&resp);
        /* It opens nothing else. */
        assert_null(admit(f, "GET", "/v1/vms", bearer, 0, &resp));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);
        assert_null(admit(f, "GET", "/v1/host", bearer, 0, &resp));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);
        assert_null(admit(f, "POST", "/metrics", bearer, 0, &resp));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);
        /* The API's token still opens the metrics. */
        assert_non_null(admit(f, "GET", "/metrics", "Bearer " TOKEN, 0, &resp));
        api_response_done(&resp);
        api_set_metrics_auth(f->api, NULL);
        auth_free(scraper);
}

static void test_if_match(void **state) {
        const char *tag = "\"0f1e-1\"";

        (void) state;
        assert_true(api_if_match("*", tag));
        assert_false(api_if_match("*", NULL));            /* no VM: even * fails */
        assert_false(api_if_match(tag, NULL));
        assert_true(api_if_match(tag, tag));
        assert_true(api_if_match("\"other\", \"0f1e-1\"", tag));
        assert_true(api_if_match(" \"0f1e-1\" ,\"x\"", tag));
        assert_false(api_if_match("\"0f1e-2\"", tag));   /* another generation */
        assert_false(api_if_match("\"0f1e-1\"x", tag));
        assert_false(api_if_match("W/\"0f1e-1\"", tag)); /* weak: never, the comparison is strong */
        assert_false(api_if_match("0f1e-1", tag));        /* unquoted */
        assert_false(api_if_match("", tag));
        assert_false(api_if_match(",,", tag));
}

static void test_host_without_xen(void **state) {
        struct fixture *f = *state;
        struct api_response resp;
        const struct api_route *route;
        struct api_request req = { .method = "GET", .path = "/v1/host", .authorization = "Bearer " TOKEN };
        struct api_upload *upload;
        const char *message;

        if (access("/proc/xen/privcmd", F_OK) == 0 || access("/dev/xen/privcmd", F_OK) == 0)
                skip(); /* under Xen this would be a real answer */

        route = api_admit(f->api, &req, &resp, &upload);
        assert_non_null(route);
        api_dispatch(f->api, route, &req, &resp);
        /* No Xen: an error that says what failed, never made-up numbers. */
        assert_int_equal(resp.status, 503);
        assert_string_equal(error_code(&resp), "xen_unavailable");
        message = json_string_value(json_object_get(json_object_get(resp.body, "error"), "message"));
        assert_non_null(strstr(message, "libxenctrl"));
        assert_null(json_object_get(resp.body, "xen"));
        api_response_done(&resp);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_lookup),
                cmocka_unit_test(test_needs_auth),
                cmocka_unit_test_setup_teardown(test_admit_unauthorized, setup, teardown),
                cmocka_unit_test_setup_teardown(test_admit_routing, setup, teardown),
                cmocka_unit_test_setup_teardown(test_session_cookie, setup, teardown),
                cmocka_unit_test(test_error_status),
                cmocka_unit_test_setup_teardown(test_admit_body_limit, setup, teardown),
                cmocka_unit_test(test_error_body),
                cmocka_unit_test_setup_teardown(test_dispatch, setup, teardown),
                cmocka_unit_test_setup_teardown(test_host_without_xen, setup, teardown),
                cmocka_unit_test(test_if_match),
                cmocka_unit_test_setup_teardown(test_metrics_token, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
