/* test-api-events.c: GET /v1/events (api-events.c) through the API's
 * admission and dispatch, on a real collection of VMs (no Xen) in a temp
 * state directory: the two formats, the resume point (since=,
 * Last-Event-ID, neither), the stream's wake and reads of any size, reset
 * and lagged, refused requests naming their field, and the limit of
 * streams. The HTTP side of a stream (chunks, suspension) is
 * http-server.c's, shown on the board. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"
#include "auth.h"
#include "test-util.h"
#include "xen.h"

#define TOKEN "test-token-0123456789"

struct fixture {
        struct test_dir *dir;
        sd_event *event;
        struct auth *auth;
        struct xen *xen;
        struct vms *vms;
        struct api *api;
};

/* One request's query and headers: NULL-terminated name/value pairs. */
struct args {
        const char *query[6];
        const char *headers[6];
};

static const char *lookup(const char *const *kv, const char *key) {
        for (size_t i = 0; kv[i]; i += 2)
                if (strcasecmp(kv[i], key) == 0)
                        return kv[i + 1];
        return NULL;
}

static const char *query_of(const void *ctx, const char *key) {
        return lookup(((const struct args *) ctx)->query, key);
}

static const char *header_of(const void *ctx, const char *name) {
        return lookup(((const struct args *) ctx)->headers, name);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(test_dir_setup((void **) &f->dir), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(auth_new(TOKEN, strlen(TOKEN), &f->auth, NULL), 0);
        assert_int_equal(xen_new(&f->xen), 0);
        assert_int_equal(vms_new(f->event, f->dir->tmp, NULL, &f->vms), 0);
        assert_int_equal(api_new(f->auth, f->xen, &HOST_PATHS_DEFAULT, NULL, &f->api), 0);
        api_set_vms(f->api, f->vms, NULL);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        api_free(f->api);
        vms_free(f->vms);
        xen_free(f->xen);
        auth_free(f->auth);
        sd_event_unref(f->event);
        test_dir_teardown((void **) &f->dir);
        free(f);
        return 0;
}

/* GET /v1/events with a; the answer in *resp (to api_response_done()). */
static void get(struct fixture *f, const struct args *a, struct api_response *resp) {
        struct api_request req = {
                .method = "GET",
                .path = "/v1/events",
                .query = query_of,
                .query_ctx = a,
                .header = header_of,
                .authorization = "Bearer " TOKEN,
                .content_length = API_CONTENT_LENGTH_UNKNOWN,
        };
        struct api_upload *upload = NULL;
        const struct api_route *route = api_admit(f->api, &req, resp, &upload);

        assert_non_null(route);
        assert_null(upload);
        api_dispatch(f->api, route, &req, resp);
}

static void expect_error(struct fixture *f, const struct args *a, unsigned status, const char *code,
                         const char *field) {
        struct api_response resp;
        json_t *e;

        get(f, a, &resp);
        assert_int_equal(resp.status, status);
        assert_null(resp.stream);
        e = json_object_get(resp.body, "error");
        assert_string_equal(json_string_value(json_object_get(e, "code")), code);
        if (field)
                assert_string_equal(json_string_value(json_object_get(e, "field")), field);
        api_response_done(&resp);
}

static unsigned wakes;

static void on_wake(void *arg _unused_) {
        wakes++;
}

/* A stream's answer: 200, its type, no caching; its wake set as the HTTP
 * server would. */
static struct api_stream *expect_stream(struct api_response *resp, const char *type) {
        assert_int_equal(resp->status, 200);
        assert_non_null(resp->stream);
        assert_string_equal(resp->content_type, type);
        assert_string_equal(resp->extra[0].name, "Cache-Control");
        assert_string_equal(resp->extra[0].value, "no-store");
        resp->stream->wake = on_wake;
        return resp->stream;
}

/* What the stream has now, read max bytes at a time, NUL-terminated. */
static ssize_t drain(struct api_stream *s, char *buf, size_t size, size_t max) {
        size_t n = 0;
        ssize_t r = 0;

        while (n + max < size && (r = s->read(s, buf + n, max)) > 0)
                n += (size_t) r;
        buf[n] = '\0';
        return r < 0 && n == 0 ? r : (ssize_t) n;
}

static void run(struct fixture *f) {
        while (sd_event_run(f->event, 0) > 0)
                ;
}

static uint64_t append(struct fixture *f, const char *type) {
        return events_append(vms_events(f->vms), type, "g1", NULL);
}

/* By default only what comes, one JSON object per line; the stream is
 * woken once for a burst, on a later turn. */
static void test_from_now(void **state) {
        struct fixture *f = *state;
        struct args a = { 0 };
        struct api_response resp;
        struct api_stream *s;
        char buf[4096], want[128];
        uint64_t seq;

        get(f, &a, &resp);
        s = expect_stream(&resp, "application/x-ndjson");
        assert_int_equal(drain(s, buf, sizeof(buf), 4096), 0);
        wakes = 0;
        seq = append(f, "vm_paused");
        append(f, "vm_resumed");
        assert_int_equal(wakes, 0);
        run(f);
        assert_int_equal(wakes, 1);
        /* Read in pieces of 7 bytes: whole lines all the same. */
        assert_true(drain(s, buf, sizeof(buf), 7) > 0);
        snprintf(want, sizeof(want), "{\"seq\":%llu,\"time\":\"", (unsigned long long) seq);
        assert_memory_equal(buf, want, strlen(want));
        assert_non_null(strstr(buf, "\"type\":\"vm_paused\",\"vm\":\"g1\"}\n{\"seq\":"));
        assert_non_null(strstr(buf, "\"type\":\"vm_resumed\",\"vm\":\"g1\"}\n"));
        assert_int_equal(buf[strlen(buf) - 1], '\n');
        assert_int_equal(drain(s, buf, sizeof(buf), 4096), 0);
        api_response_done(&resp);
}

/* since=0 is all the log holds (the agent's start first); since wins over
 * Last-Event-ID; Server-Sent Events when Accept names them: retry, then
 * id and data per event. */
static void test_since_and_sse(void **state) {
        struct fixture *f = *state;
        struct args all = { .query = { "since", "0" } };
        struct args sse = { .headers = { "Last-Event-ID", "1", "Accept", "text/html, text/event-stream;q=0.9" } };
        struct args both = { .query = { "since", "2" }, .headers = { "Last-Event-ID", "0" } };
        struct api_response resp;
        char buf[8192];
        json_t *j;

        append(f, "vm_started"); /* 2, after agent_started */
        append(f, "vm_stopped"); /* 3 */

        get(f, &all, &resp);
        assert_true(drain(expect_stream(&resp, "application/x-ndjson"), buf, sizeof(buf), 4096) > 0);
        j = json_loadb(buf, strcspn(buf, "\n"), 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(j, "seq")), 1);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "agent_started");
        json_decref(j);
        api_response_done(&resp);

        get(f, &sse, &resp);
        assert_true(drain(expect_stream(&resp, "text/event-stream"), buf, sizeof(buf), 4096) > 0);
        assert_memory_equal(buf, "retry: 3000\nid: 1\n\nid: 2\ndata: {\"seq\":2,", 39);
        assert_non_null(strstr(buf, "\"vm_started\",\"vm\":\"g1\"}\n\nid: 3\ndata: {\"seq\":3,"));
        assert_memory_equal(buf + strlen(buf) - 2, "\n\n", 2);
        api_response_done(&resp);

        get(f, &both, &resp);
        assert_true(drain(expect_stream(&resp, "application/x-ndjson"), buf, sizeof(buf), 4096) > 0);
        assert_memory_equal(buf, "{\"seq\":3,", 9);
        assert_int_equal(strchr(buf, '\n')[1], '\0'); /* only event 3 */
        api_response_done(&resp);
}

/* Refusals name their field: not a number, a seq no event had yet. */
static void test_refused(void **state) {
        struct fixture *f = *state;
        struct args bad = { .query = { "since", "12a" } }, neg = { .headers = { "Last-Event-ID", "-1" } };
        struct args empty = { .query = { "since", "" } }, future = { .query = { "since", "2" } };
        struct args huge = { .query = { "since", "99999999999999999999" } };

        expect_error(f, &bad, 400, "invalid_field", "since");
        expect_error(f, &neg, 400, "invalid_field", "Last-Event-ID");
        expect_error(f, &empty, 400, "invalid_field", "since");
        expect_error(f, &huge, 400, "invalid_field", "since");
        expect_error(f, &future, 400, "out_of_range", "since");
}

/* A resume point the ring left: reset first (since, next), then on from
 * the oldest held. A stream that falls behind by more than the ring: lagged,
 * then the end. */
static void test_reset_and_lagged(void **state) {
        struct fixture *f = *state;
        struct args old = { .query = { "since", "1" } }, now = { 0 };
        struct api_response resp, slow;
        struct api_stream *s;
        static char buf[1 << 20];
        uint64_t first;
        json_t *j;

        get(f, &now, &slow);
        expect_stream(&slow, "application/x-ndjson");
        assert_int_equal(drain(slow.stream, buf, sizeof(buf), 4096), 0);
        for (unsigned i = 0; i < EVENTS_KEEP + 5; i++)
                append(f, "vm_paused");
        first = events_first(vms_events(f->vms));
        assert_true(first > 2);

        get(f, &old, &resp);
        s = expect_stream(&resp, "application/x-ndjson");
        assert_true(drain(s, buf, sizeof(buf), 16384) > 0);
        j = json_loadb(buf, strcspn(buf, "\n"), 0, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "reset");
        assert_int_equal(json_integer_value(json_object_get(j, "since")), 1);
        assert_int_equal(json_integer_value(json_object_get(j, "next")), (json_int_t) first);
        assert_null(json_object_get(j, "seq"));
        json_decref(j);
        j = json_loadb(strchr(buf, '\n') + 1, strcspn(strchr(buf, '\n') + 1, "\n"), 0, NULL);
        assert_int_equal(json_integer_value(json_object_get(j, "seq")), (json_int_t) first);
        json_decref(j);
        api_response_done(&resp);

        assert_true(drain(slow.stream, buf, sizeof(buf), 4096) > 0);
        j = json_loads(buf, JSON_DISABLE_EOF_CHECK, NULL);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "lagged");
        assert_int_equal(json_integer_value(json_object_get(j, "oldest")), (json_int_t) first);
        json_decref(j);
        assert_int_equal(strchr(buf, '\n')[1], '\0'); /* nothing after it */
        assert_true(slow.stream->read(slow.stream, buf, sizeof(buf)) < 0);
        api_response_done(&slow);
}

/* At most EVENTS_WATCHERS_MAX streams; one that ends frees its place. */
static void test_limit(void **state) {
        struct fixture *f = *state;
        struct api_response resp[EVENTS_WATCHERS_MAX];
        struct args a = { 0 };

        for (unsigned i = 0; i < EVENTS_WATCHERS_MAX; i++) {
                get(f, &a, &resp[i]);
                assert_int_equal(resp[i].status, 200);
        }
        expect_error(f, &a, 503, "too_many_followers", NULL);
        api_response_done(&resp[0]);
        get(f, &a, &resp[0]);
        assert_int_equal(resp[0].status, 200);
        for (unsigned i = 0; i < EVENTS_WATCHERS_MAX; i++)
                api_response_done(&resp[i]);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_from_now, setup, teardown),
                cmocka_unit_test_setup_teardown(test_since_and_sse, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test_setup_teardown(test_reset_and_lagged, setup, teardown),
                cmocka_unit_test_setup_teardown(test_limit, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
