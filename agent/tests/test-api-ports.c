/* test-api-ports.c: GET /v1/vms/NAME/ports/PORT/ws (api-ports.c) through
 * the API's admission and dispatch, on a real collection of VMs (no Xen) in
 * a temp state directory: what is refused before the upgrade, as HTTP,
 * each refusal naming its field (the port, the handshake's header), the
 * cookie's Origin rule, and a stopped VM. The forward itself is
 * test-port-forward.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "auth.h"
#include "port-forward.h"
#include "test-util.h"
#include "xen.h"

#define TOKEN "test-token-0123456789"
#define KEY "dGhlIHNhbXBsZSBub25jZQ==" /* RFC 6455's example */

struct fixture {
        struct test_dir *dir;
        sd_event *event;
        struct auth *auth;
        struct xen *xen;
        struct vms *vms;
        struct port_forwards *forwards;
        struct api *api;
};

static const char *const *test_headers;

static const char *header_of(const void *ctx _unused_, const char *name) {
        for (const char *const *h = test_headers; h && *h; h += 2)
                if (strcasecmp(h[0], name) == 0)
                        return h[1];
        return NULL;
}

static const char *const upgrade_headers[] = {
        "Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version", "13", "Sec-WebSocket-Key", KEY, NULL,
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        struct error err = { 0 };
        struct vm_spec spec;
        struct vm *vm;
        json_t *j;

        assert_non_null(f);
        assert_int_equal(test_dir_setup((void **) &f->dir), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(auth_new(TOKEN, strlen(TOKEN), &f->auth, NULL), 0);
        assert_int_equal(xen_new(&f->xen), 0);
        assert_int_equal(vms_new(f->event, f->dir->tmp, NULL, &f->vms), 0);
        assert_int_equal(test_write_file(f->dir->tmp, "images/kernel", "not an Image", 12, 0600), 0);
        j = json_loads("{\"name\":\"g1\",\"kernel\":\"kernel\"}", 0, NULL);
        assert_int_equal(vm_spec_from_request(j, &spec, &err), 0);
        json_decref(j);
        assert_int_equal(vms_create(f->vms, &spec, &vm, &err), 0);
        assert_int_equal(port_forwards_new(f->event, NULL, &f->forwards), 0);
        assert_int_equal(api_new(f->auth, f->xen, &HOST_PATHS_DEFAULT, NULL, &f->api), 0);
        api_set_vms(f->api, f->vms, NULL);
        api_set_forwards(f->api, f->forwards);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        api_free(f->api);
        port_forwards_free(f->forwards);
        vms_free(f->vms);
        xen_free(f->xen);
        auth_free(f->auth);
        sd_event_unref(f->event);
        test_dir_teardown((void **) &f->dir);
        free(f);
        return 0;
}

/* The request's answer in *resp (to api_response_done()). */
static void request(struct fixture *f, const char *method, const char *path, const char *const *headers,
                    struct api_response *resp) {
        struct api_request req = {
                .method = method,
                .path = path,
                .header = header_of,
                .authorization = "Bearer " TOKEN,
                .content_length = 0,
        };
        struct api_upload *upload = NULL;
        const struct api_route *route;

        test_headers = headers;
        route = api_admit(f->api, &req, resp, &upload);
        if (route)
                api_dispatch(f->api, route, &req, resp);
}

static void expect_error(struct fixture *f, const char *method, const char *path, const char *const *headers,
                         unsigned status, const char *code, const char *field) {
        struct api_response resp;
        json_t *e;

        request(f, method, path, headers, &resp);
        assert_int_equal(resp.status, status);
        assert_null(resp.upgrade);
        e = json_object_get(resp.body, "error");
        assert_string_equal(json_string_value(json_object_get(e, "code")), code);
        if (field)
                assert_string_equal(json_string_value(json_object_get(e, "field")), field);
        else
                assert_null(json_object_get(e, "field"));
        api_response_done(&resp);
}

static void test_port_field(void **state) {
        struct fixture *f = *state;
        static const char *const bad[] = { "0", "65536", "99999999999999999999999", "-1", "+22", "22a", "0x16",
                                           " 22" };

        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                char path[128];

                snprintf(path, sizeof(path), "/v1/vms/g1/ports/%s/ws", bad[i]);
                expect_error(f, "GET", path, upgrade_headers, 400, "invalid_field", "port");
        }
        /* The VM comes first: no VM, no port to judge. */
        expect_error(f, "GET", "/v1/vms/nope/ports/0/ws", upgrade_headers, 404, "vm_not_found", "name");
}

static void test_handshake(void **state) {
        struct fixture *f = *state;
        struct api_response resp;
        const char *const bad_key[] = { "Upgrade", "websocket", "Connection", "Upgrade", "Sec-WebSocket-Version",
                                        "13", "Sec-WebSocket-Key", "short", NULL };

        request(f, "GET", "/v1/vms/g1/ports/22/ws", NULL, &resp);
        assert_int_equal(resp.status, 426);
        assert_string_equal(json_string_value(json_object_get(json_object_get(resp.body, "error"), "code")),
                            "upgrade_required");
        api_response_done(&resp);
        expect_error(f, "GET", "/v1/vms/g1/ports/22/ws", bad_key, 400, "bad_handshake", "Sec-WebSocket-Key");
        expect_error(f, "HEAD", "/v1/vms/g1/ports/22/ws", upgrade_headers, 405, "bad_handshake", NULL);

        request(f, "POST", "/v1/vms/g1/ports/22/ws", upgrade_headers, &resp);
        assert_int_equal(resp.status, 405);
        assert_string_equal(resp.allow, "GET, HEAD");
        api_response_done(&resp);
}

/* Where the forward would go, before the upgrade: a stopped VM is refused,
 * and nothing stays reserved. */
static void test_target(void **state) {
        struct fixture *f = *state;

        expect_error(f, "GET", "/v1/vms/g1/ports/22/ws", upgrade_headers, 409, "vm_not_running", NULL);
        assert_int_equal(port_forwards_count(f->forwards, NULL), 0);
        assert_int_equal(api_error_status(ERROR_VM_NO_ADDRESS), 409);
        assert_int_equal(api_error_status(ERROR_TOO_MANY_FORWARDS), 503);
}

/* Without the forwards (an agent set up without them): 503. */
static void test_no_forwards(void **state) {
        struct fixture *f = *state;

        api_set_forwards(f->api, NULL);
        expect_error(f, "GET", "/v1/vms/g1/ports/22/ws", upgrade_headers, 503, "xen_unavailable", NULL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_port_field, setup, teardown),
                cmocka_unit_test_setup_teardown(test_handshake, setup, teardown),
                cmocka_unit_test_setup_teardown(test_target, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_forwards, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
