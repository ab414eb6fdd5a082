/* test-metrics.c: the Prometheus text writer (metrics.c: escaping, numbers,
 * HELP and TYPE once per family, cumulative histograms) and GET /metrics
 * (api-metrics.c) on a host without Xen: VMs in a temp state directory, a
 * few answers counted, and a whole scrape checked line by line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api-internal.h"
#include "auth.h"
#include "metrics.h"
#include "test-util.h"
#include "xen.h"

#define TOKEN "test-token-0123456789"

/* The text m holds so far (finished; m is reset). */
static char *finish(struct metrics *m) {
        char *text = NULL;
        size_t size = 0;

        assert_int_equal(metrics_finish(m, &text, &size), 0);
        assert_non_null(text);
        assert_int_equal(strlen(text), size);
        return text;
}

static void test_family_and_samples(void **state) {
        (void) state;
        struct metrics m = METRICS_INIT;
        char *text;

        metrics_family(&m, "xvmd_things_total", METRICS_COUNTER, "Things.");
        metrics_u64(&m, 18446744073709551615ULL, NULL);
        metrics_u64(&m, 0, "vm", "a", "console", "pv", NULL);
        metrics_family(&m, "xvmd_temperature", METRICS_GAUGE, "A gauge.");
        metrics_double(&m, 0.25, NULL);
        text = finish(&m);
        assert_string_equal(text,
                            "# HELP xvmd_things_total Things.\n"
                            "# TYPE xvmd_things_total counter\n"
                            "xvmd_things_total 18446744073709551615\n"
                            "xvmd_things_total{vm=\"a\",console=\"pv\"} 0\n"
                            "# HELP xvmd_temperature A gauge.\n"
                            "# TYPE xvmd_temperature gauge\n"
                            "xvmd_temperature 0.25\n");
        free(text);

        /* Nothing at all is an empty text, not an error. */
        m = METRICS_INIT;
        text = finish(&m);
        assert_string_equal(text, "");
        free(text);
}

static void test_escaping(void **state) {
        (void) state;
        struct metrics m = METRICS_INIT;
        char *text;

        metrics_family(&m, "xvmd_x", METRICS_GAUGE, "Help with a \\ backslash,\na newline and \"quotes\".");
        metrics_u64(&m, 1, "v", "a\\b\"c\nd", "w", "", NULL);
        text = finish(&m);
        assert_string_equal(text,
                            "# HELP xvmd_x Help with a \\\\ backslash,\\na newline and \"quotes\".\n"
                            "# TYPE xvmd_x gauge\n"
                            "xvmd_x{v=\"a\\\\b\\\"c\\nd\",w=\"\"} 1\n");
        free(text);
}

static void test_numbers(void **state) {
        (void) state;
        static const struct {
                double v;
                const char *text;
        } cases[] = {
                { 0, "0" },
                { 10, "10" },
                { 1000000, "1000000" },
                { 0.001, "0.001" },
                { 0.0025, "0.0025" },
                { 2.5, "2.5" },
                { 0.1, "0.1" },
                { 1718000000.125, "1718000000.125" },
                { 1e300, "1e+300" },
                { -1.5, "-1.5" },
        };
        char buf[32];

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                metrics_format_double(cases[i].v, buf, sizeof(buf));
                assert_string_equal(buf, cases[i].text);
        }
        metrics_format_double(INFINITY, buf, sizeof(buf));
        assert_string_equal(buf, "+Inf");
        metrics_format_double(-INFINITY, buf, sizeof(buf));
        assert_string_equal(buf, "-Inf");
        metrics_format_double(NAN, buf, sizeof(buf));
        assert_string_equal(buf, "NaN");
        /* Whatever the value, the text reads back as it. */
        for (double v = 1e-9; v < 1e12; v *= 3.7) {
                metrics_format_double(v, buf, sizeof(buf));
                assert_true(strtod(buf, NULL) == v);
        }
}

static void test_histogram(void **state) {
        (void) state;
        static const double bounds[] = { 0.001, 0.01, 1 };
        static const uint64_t counts[] = { 2, 0, 3, 1 };
        struct metrics m = METRICS_INIT;
        char *text;

        metrics_family(&m, "xvmd_wait_seconds", METRICS_HISTOGRAM, "Waits.");
        metrics_histogram(&m, bounds, counts, ELEMENTSOF(bounds), 4.5, "route", "/v1/vms/{name}", NULL);
        text = finish(&m);
        assert_string_equal(text,
                            "# HELP xvmd_wait_seconds Waits.\n"
                            "# TYPE xvmd_wait_seconds histogram\n"
                            "xvmd_wait_seconds_bucket{route=\"/v1/vms/{name}\",le=\"0.001\"} 2\n"
                            "xvmd_wait_seconds_bucket{route=\"/v1/vms/{name}\",le=\"0.01\"} 2\n"
                            "xvmd_wait_seconds_bucket{route=\"/v1/vms/{name}\",le=\"1\"} 5\n"
                            "xvmd_wait_seconds_bucket{route=\"/v1/vms/{name}\",le=\"+Inf\"} 6\n"
                            "xvmd_wait_seconds_sum{route=\"/v1/vms/{name}\"} 4.5\n"
                            "xvmd_wait_seconds_count{route=\"/v1/vms/{name}\"} 6\n");
        free(text);
}

static void expect_failure(struct metrics *m, int error) {
        char *text = NULL;
        size_t size = 0;

        assert_int_equal(metrics_finish(m, &text, &size), error);
        assert_null(text);
}

static void test_refused(void **state) {
        (void) state;
        static const double unordered[] = { 1, 0.5 };
        static const uint64_t counts[] = { 0, 0, 0 };
        struct metrics m;

        /* A family twice: its HELP and TYPE would come twice. */
        m = METRICS_INIT;
        metrics_family(&m, "xvmd_a", METRICS_GAUGE, "A.");
        metrics_family(&m, "xvmd_b", METRICS_GAUGE, "B.");
        metrics_family(&m, "xvmd_a", METRICS_GAUGE, "A again.");
        metrics_u64(&m, 1, NULL);
        expect_failure(&m, -EEXIST);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd-bad", METRICS_GAUGE, "A bad name.");
        expect_failure(&m, -EINVAL);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd_a", METRICS_GAUGE, "A.");
        metrics_u64(&m, 1, "bad-label", "x", NULL);
        expect_failure(&m, -EINVAL);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd_a", METRICS_GAUGE, "A.");
        metrics_u64(&m, 1, "__reserved", "x", NULL);
        expect_failure(&m, -EINVAL);

        /* A sample before any family, or of the wrong kind. */
        m = METRICS_INIT;
        metrics_u64(&m, 1, NULL);
        expect_failure(&m, -EINVAL);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd_h", METRICS_HISTOGRAM, "H.");
        metrics_u64(&m, 1, NULL);
        expect_failure(&m, -EINVAL);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd_g", METRICS_GAUGE, "G.");
        metrics_histogram(&m, unordered, counts, 1, 0, NULL);
        expect_failure(&m, -EINVAL);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd_h", METRICS_HISTOGRAM, "H.");
        metrics_histogram(&m, unordered, counts, ELEMENTSOF(unordered), 0, NULL);
        expect_failure(&m, -EINVAL);

        m = METRICS_INIT;
        metrics_family(&m, "xvmd_h", METRICS_HISTOGRAM, "H.");
        metrics_histogram(&m, unordered, counts, 1, 0, "le", "1", NULL);
        expect_failure(&m, -EINVAL);

        assert_true(metrics_name_is_valid("xvmd_a:b_9"));
        assert_false(metrics_name_is_valid("9a"));
        assert_false(metrics_name_is_valid(""));
        assert_true(metrics_label_name_is_valid("vm"));
        assert_false(metrics_label_name_is_valid("a:b"));
}

/* ---- a whole scrape ---- */

struct fixture {
        struct test_dir *dir;
        sd_event *event;
        struct auth *auth;
        struct xen *xen;
        struct api *api;
        struct vms *vms;
};

static int scrape_setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        int fd;

        assert_non_null(f);
        assert_int_equal(test_dir_setup((void **) &f->dir), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(vms_new(f->event, f->dir->tmp, NULL, &f->vms), 0);
        fd = openat(f->dir->dfd, "images/kernel", O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
        assert_int_equal(auth_new(TOKEN, strlen(TOKEN), &f->auth, NULL), 0);
        assert_int_equal(xen_new(&f->xen), 0);
        assert_int_equal(api_new(f->auth, f->xen, &HOST_PATHS_DEFAULT, NULL, &f->api), 0);
        api_set_vms(f->api, f->vms, NULL);
        *state = f;
        return 0;
}

static int scrape_teardown(void **state) {
        struct fixture *f = *state;

        api_free(f->api);
        xen_free(f->xen);
        auth_free(f->auth);
        vms_free(f->vms);
        sd_event_unref(f->event);
        test_dir_teardown((void **) &f->dir);
        free(f);
        return 0;
}

static struct vm *create(struct fixture *f, const char *json) {
        struct error e = { 0 };
        struct vm_spec s;
        struct vm *vm = NULL;
        json_t *j = json_loads(json, 0, NULL);

        assert_non_null(j);
        if (vm_spec_from_request(j, &s, &e) < 0)
                fail_msg("%s: %s", json, e.message);
        json_decref(j);
        if (vms_create(f->vms, &s, &vm, &e) < 0)
                fail_msg("%s: %s", json, e.message);
        return vm;
}

/* The sample's value of series (its name and labels as written), or -1. */
static double value_of(const char *text, const char *series) {
        size_t n = strlen(series);

        for (const char *p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
                if (strncmp(p, series, n) == 0 && p[n] == ' ')
                        return strtod(p + n + 1, NULL);
        return -1;
}

/* The family a sample's name belongs to: a histogram's lines drop their
 * suffix. */
static void family_of(const char *name, char *buf, size_t size, const char *const *histograms, size_t n) {
        snprintf(buf, size, "%s", name);
        for (size_t i = 0; i < n; i++) {
                size_t len = strlen(histograms[i]);

                if (strncmp(name, histograms[i], len) == 0 &&
                    (strcmp(name + len, "_bucket") == 0 || strcmp(name + len, "_sum") == 0 ||
                     strcmp(name + len, "_count") == 0)) {
                        snprintf(buf, size, "%s", histograms[i]);
                        return;
                }
        }
}

/* Each line is a comment (HELP, then TYPE, once per family) or a sample of
 * the family described last; no series twice; no family split. */
static void check_exposition(const char *text) {
        char *copy = strdup(text), *save = NULL, *line;
        char *series[1024], *families[256], *histograms[64];
        size_t n_series = 0, n_families = 0, n_histograms = 0;
        char current[METRICS_NAME_MAX] = "";
        bool help_seen = false;

        assert_non_null(copy);
        assert_true(text[0] == '\0' || text[strlen(text) - 1] == '\n');
        for (line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
                char name[METRICS_NAME_MAX], family[METRICS_NAME_MAX], type[16];

                if (strncmp(line, "# HELP ", 7) == 0) {
                        assert_int_equal(sscanf(line + 7, "%127s", name), 1);
                        for (size_t i = 0; i < n_families; i++)
                                if (strcmp(families[i], name) == 0)
                                        fail_msg("family %s described twice", name);
                        assert_true(n_families < ELEMENTSOF(families));
                        families[n_families++] = strdup(name);
                        snprintf(current, sizeof(current), "%s", name);
                        help_seen = true;
                        continue;
                }
                if (strncmp(line, "# TYPE ", 7) == 0) {
                        assert_true(help_seen);
                        help_seen = false;
                        assert_int_equal(sscanf(line + 7, "%127s %15s", name, type), 2);
                        assert_string_equal(name, current);
                        assert_true(strcmp(type, "counter") == 0 || strcmp(type, "gauge") == 0 ||
                                    strcmp(type, "histogram") == 0);
                        if (strcmp(type, "counter") == 0)
                                assert_non_null(strstr(name, "_total"));
                        if (strcmp(type, "histogram") == 0) {
                                assert_true(n_histograms < ELEMENTSOF(histograms));
                                histograms[n_histograms++] = strdup(name);
                        }
                        continue;
                }
                assert_true(line[0] != '#');
                assert_false(help_seen);
                /* A sample: name, labels, one space, value. */
                assert_int_equal(sscanf(line, "%127[a-zA-Z0-9_:]", name), 1);
                assert_true(strncmp(name, "xvmd_", 5) == 0);
                family_of(name, family, sizeof(family), (const char *const *) histograms, n_histograms);
                if (strcmp(family, current) != 0)
                        fail_msg("%s outside its family (after %s)", line, current);
                assert_non_null(strrchr(line, ' '));
                *strrchr(line, ' ') = '\0';
                for (size_t i = 0; i < n_series; i++)
                        if (strcmp(series[i], line) == 0)
                                fail_msg("series %s twice", line);
                assert_true(n_series < ELEMENTSOF(series));
                series[n_series++] = strdup(line);
        }
        for (size_t i = 0; i < n_series; i++)
                free(series[i]);
        for (size_t i = 0; i < n_families; i++)
                free(families[i]);
        for (size_t i = 0; i < n_histograms; i++)
                free(histograms[i]);
        free(copy);
}

static char *scrape(struct fixture *f) {
        char *text = NULL;
        size_t size = 0;

        assert_int_equal(api_metrics_write(f->api, &text, &size), 0);
        assert_int_equal(strlen(text), size);
        check_exposition(text);
        return text;
}

static void test_scrape(void **state) {
        struct fixture *f = *state;
        uint64_t now = api_now_usec();
        char *text, info[128];
        struct vm *a;
        json_t *j;

        /* Nothing yet: the agent's own families, no duplicates. */
        text = scrape(f);
        assert_true(value_of(text, "xvmd_up") == 1);
        assert_true(value_of(text, "xvmd_build_info{version=\"" XVMD_VERSION "\"}") == 1);
        assert_true(value_of(text, "xvmd_start_time_seconds") > 1e9);
        assert_true(value_of(text, "xvmd_xen_up") == 0); /* no Xen here: no host families */
        assert_null(strstr(text, "xvmd_host_cpus "));
        free(text);

        a = create(f, "{\"name\":\"a\",\"kernel\":\"kernel\",\"vcpus\":2,\"memory_mib\":128,\"start\":false}");
        j = vm_to_json(a);
        snprintf(info, sizeof(info), "xvmd_vm_info{vm=\"a\",uuid=\"%s\"}",
                 json_string_value(json_object_get(json_object_get(j, "spec"), "uuid")));
        json_decref(j);
        create(f, "{\"name\":\"b\",\"kernel\":\"kernel\",\"consoles\":[\"pv\"],\"start\":false}");
        api_observe(f->api, "GET", "/v1/vms/a", 200, now);
        api_observe(f->api, "GET", "/v1/vms/b", 200, now);
        api_observe(f->api, "DELETE", "/v1/vms/a", 409, now);
        api_observe(f->api, "GET", "/v1/vms/a/consoles/pv/log", 200, now - 3 * 1000 * 1000);
        api_observe(f->api, "BREW", "/no/such/path\"\n", 404, now);
        api_observe(f->api, "GET", "/metrics", 401, now);

        text = scrape(f);
        assert_true(value_of(text, info) == 1);
        assert_true(value_of(text, "xvmd_vm_state{vm=\"a\",state=\"stopped\"}") == 1);
        assert_true(value_of(text, "xvmd_vm_state{vm=\"a\",state=\"running\"}") == 0);
        assert_true(value_of(text, "xvmd_vm_state{vm=\"b\",state=\"crashed\"}") == 0);
        assert_true(value_of(text, "xvmd_vm_vcpus{vm=\"a\"}") == 2);
        assert_true(value_of(text, "xvmd_vm_memory_bytes{vm=\"a\"}") == 128.0 * 1024 * 1024);
        assert_true(value_of(text, "xvmd_vm_boots_total{vm=\"a\"}") == 0);
        assert_true(value_of(text, "xvmd_vm_last_exit_info{vm=\"a\",reason=\"none\"}") == 1);
        /* a has both consoles, b only pv. */
        assert_true(value_of(text, "xvmd_console_connected{vm=\"a\",console=\"pv\"}") == 0);
        assert_true(value_of(text, "xvmd_console_output_bytes_total{vm=\"a\",console=\"vuart\"}") == 0);
        assert_true(value_of(text, "xvmd_console_viewers{vm=\"b\",console=\"pv\"}") == 0);
        assert_true(value_of(text, "xvmd_console_writer_lease{vm=\"b\",console=\"pv\"}") == 0);
        assert_true(value_of(text, "xvmd_console_log_max_bytes{vm=\"b\",console=\"pv\"}") > 0);
        assert_true(value_of(text, "xvmd_console_log_bytes{vm=\"b\",console=\"vuart\"}") == -1);

        /* Answers by route template, never by raw path; other methods as
         * "other". */
        assert_true(value_of(text, "xvmd_http_requests_total{route=\"/v1/vms/{name}\",method=\"GET\",status=\"200\"}")
                    == 2);
        assert_true(value_of(text,
                             "xvmd_http_requests_total{route=\"/v1/vms/{name}\",method=\"DELETE\",status=\"409\"}")
                    == 1);
        assert_true(value_of(text, "xvmd_http_requests_total{route=\"unmatched\",method=\"other\",status=\"404\"}")
                    == 1);
        assert_true(value_of(text, "xvmd_http_requests_total{route=\"/metrics\",method=\"GET\",status=\"401\"}") == 1);
        assert_null(strstr(text, "/v1/vms/a"));
        assert_null(strstr(text, "no/such"));
        /* GET and DELETE of /v1/vms/{name} share one histogram. */
        assert_true(value_of(text, "xvmd_http_request_duration_seconds_count{route=\"/v1/vms/{name}\"}") == 3);
        assert_true(value_of(text, "xvmd_http_request_duration_seconds_bucket{route=\"/v1/vms/{name}\",le=\"+Inf\"}")
                    == 3);
        /* The log's 3 s: above 2.5 s, within 5 s. */
        assert_true(value_of(text, "xvmd_http_request_duration_seconds_bucket{route=\"/v1/vms/{name}/consoles/"
                                   "{console}/log\",le=\"2.5\"}") == 0);
        assert_true(value_of(text, "xvmd_http_request_duration_seconds_bucket{route=\"/v1/vms/{name}/consoles/"
                                   "{console}/log\",le=\"5\"}") == 1);
        assert_true(value_of(text, "xvmd_http_request_duration_seconds_sum{route=\"/v1/vms/{name}/consoles/"
                                   "{console}/log\"}") >= 3);
        free(text);
}

/* GET /metrics through admission: the token first, then its text. */
static void test_route(void **state) {
        struct fixture *f = *state;
        struct api_request req = { .method = "GET", .path = "/metrics", .content_length = 0 };
        struct api_response resp;
        const struct api_route *route;
        struct api_upload *upload;

        assert_true(api_path_needs_auth("/metrics"));
        assert_false(api_path_needs_auth("/metrics/x"));
        assert_null(api_admit(f->api, &req, &resp, &upload));
        assert_int_equal(resp.status, 401);
        api_response_done(&resp);

        req.authorization = "Bearer " TOKEN;
        route = api_admit(f->api, &req, &resp, &upload);
        assert_non_null(route);
        api_dispatch(f->api, route, &req, &resp);
        assert_int_equal(resp.status, 200);
        assert_string_equal(resp.content_type, "text/plain; version=0.0.4; charset=utf-8");
        assert_non_null(resp.raw);
        assert_int_equal(strlen(resp.raw), resp.raw_size);
        check_exposition(resp.raw);
        api_response_done(&resp);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_family_and_samples),
                cmocka_unit_test(test_escaping),
                cmocka_unit_test(test_numbers),
                cmocka_unit_test(test_histogram),
                cmocka_unit_test(test_refused),
                cmocka_unit_test_setup_teardown(test_scrape, scrape_setup, scrape_teardown),
                cmocka_unit_test_setup_teardown(test_route, scrape_setup, scrape_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
