/* test-console-hub.c: who watches a console's log (console-hub.c), on a real
 * log in a temp directory and a real sd-event loop: news of output comes on
 * a later turn (after a burst, at most every CONSOLE_HUB_NEWS_USEC), a state change is
 * told at once, the end is told once with gone, and watchers may leave from
 * inside their own call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <time.h>

#include "console-hub.h"
#include "console-log.h"
#include "test-util.h"

struct counter {
        struct console_watch w;
        unsigned changes, gone;
        uint64_t end_seen;              /* the log's end at the last change */
        struct console_watch *unwatch;  /* unwatched on the next change */
        struct console_log *log;
};

struct fixture {
        struct test_dir *dir;
        sd_event *event;
        struct console_log *log;
        struct console_hub *hub;
};

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static void on_change(struct console_watch *w, bool gone) {
        struct counter *c = (struct counter *) w;

        if (gone) {
                assert_null(w->hub);
                c->gone++;
                return;
        }
        assert_non_null(w->hub);
        c->changes++;
        c->end_seen = console_log_end(console_hub_log(w->hub));
        if (c->unwatch) {
                console_hub_unwatch(c->unwatch);
                c->unwatch = NULL;
        }
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(test_dir_setup((void **) &f->dir), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(console_log_open(f->dir->dfd, "pv", &f->log), 0);
        assert_int_equal(console_hub_new(f->event, f->log, &f->hub), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        console_hub_free(f->hub);
        console_log_free(f->log);
        sd_event_unref(f->event);
        test_dir_teardown((void **) &f->dir);
        free(f);
        return 0;
}

static void output(struct fixture *f, const char *s) {
        assert_int_equal(console_log_append(f->log, s, strlen(s)), 0);
}

/* Runs the loop until no news is pending (bounded: 1 s). */
static void run_until_told(struct fixture *f) {
        uint64_t until = now_usec() + 1000 * 1000;

        while (console_hub_news_pending(f->hub)) {
                assert_true(now_usec() < until);
                assert_true(sd_event_run(f->event, 100 * 1000) >= 0);
        }
        assert_true(sd_event_run(f->event, 0) >= 0);
}

static void watch(struct fixture *f, struct counter *c) {
        *c = (struct counter) { .w.on_change = on_change };
        assert_int_equal(console_hub_watch(f->hub, &c->w), 0);
}

/* Output is told on a later turn of the loop, never inside the append. */
static void test_output_told_later(void **state) {
        struct fixture *f = *state;
        struct counter a, b;

        watch(f, &a);
        watch(f, &b);
        assert_int_equal(console_hub_watchers(f->hub), 2);
        output(f, "hello\n");
        assert_int_equal(a.changes, 0);
        assert_true(console_hub_news_pending(f->hub));
        run_until_told(f);
        assert_int_equal(a.changes, 1);
        assert_int_equal(b.changes, 1);
        assert_int_equal(a.end_seen, 6);
        assert_false(console_hub_news_pending(f->hub));
        console_hub_unwatch(&a.w);
        console_hub_unwatch(&b.w);
        assert_int_equal(console_hub_watchers(f->hub), 0);
}

/* Output soon after news of a burst waits for the interval and is told
 * once, however many appends came meanwhile. */
static void test_output_coalesced(void **state) {
        struct fixture *f = *state;
        char burst[CONSOLE_HUB_BURST_BYTES + 1];
        struct counter a;
        uint64_t told, second;

        memset(burst, 'b', CONSOLE_HUB_BURST_BYTES);
        burst[CONSOLE_HUB_BURST_BYTES] = '\0';
        watch(f, &a);
        output(f, "one");
        output(f, burst);
        run_until_told(f);
        assert_int_equal(a.changes, 1);
        told = now_usec();
        for (int i = 0; i < 100; i++)
                output(f, "x");
        assert_true(console_hub_news_pending(f->hub));
        /* Not yet: the interval since the last news has not passed (if
         * this machine took longer than that for 100 appends, the timer is
         * simply due: only the count below must hold). */
        assert_true(sd_event_run(f->event, 0) >= 0);
        if (now_usec() < told + CONSOLE_HUB_NEWS_USEC / 2)
                assert_int_equal(a.changes, 1);
        run_until_told(f);
        second = now_usec();
        assert_int_equal(a.changes, 2);
        assert_int_equal(a.end_seen, 3 + CONSOLE_HUB_BURST_BYTES + 100);
        assert_true(second >= told + CONSOLE_HUB_NEWS_USEC - 1000);
        console_hub_unwatch(&a.w);
}

/* Typing: after news of a few bytes, the next few are told on the next
 * turn, not held for the interval. */
static void test_small_output_not_held(void **state) {
        struct fixture *f = *state;
        struct counter a;
        uint64_t told;

        watch(f, &a);
        output(f, "a");
        run_until_told(f);
        told = now_usec();
        output(f, "b");
        for (int i = 0; i < 3 && a.changes < 2; i++)
                assert_true(sd_event_run(f->event, 0) >= 0);
        assert_int_equal(a.changes, 2);
        assert_int_equal(a.end_seen, 2);
        /* Only meaningful if the machine was quick (see above). */
        if (now_usec() < told + CONSOLE_HUB_NEWS_USEC / 2)
                assert_false(console_hub_news_pending(f->hub));
        console_hub_unwatch(&a.w);
}

/* Nobody watches: nothing is scheduled. */
static void test_no_watchers(void **state) {
        struct fixture *f = *state;

        output(f, "into the void");
        assert_false(console_hub_news_pending(f->hub));
        assert_int_equal(sd_event_run(f->event, 0), 0);
}

/* A state change is told at once, and takes the pending news with it. */
static void test_notify_at_once(void **state) {
        struct fixture *f = *state;
        struct counter a;

        watch(f, &a);
        output(f, "last words");
        assert_true(console_hub_news_pending(f->hub));
        console_hub_notify(f->hub);
        assert_int_equal(a.changes, 1);
        assert_int_equal(a.end_seen, 10);
        assert_false(console_hub_news_pending(f->hub));
        run_until_told(f);
        assert_int_equal(a.changes, 1);
        console_hub_unwatch(&a.w);
}

/* The end: pending output first, then gone, once each; the hub never
 * touches the watch again, and unwatching it is harmless. */
static void test_free_tells_gone(void **state) {
        struct fixture *f = *state;
        struct counter a, b;

        watch(f, &a);
        watch(f, &b);
        output(f, "bye");
        f->hub = console_hub_free(f->hub);
        assert_int_equal(a.changes, 1);
        assert_int_equal(a.end_seen, 3);
        assert_int_equal(a.gone, 1);
        assert_int_equal(b.gone, 1);
        assert_null(a.w.hub);
        console_hub_unwatch(&a.w);
        /* The log no longer calls the hub. */
        output(f, "after");
        assert_int_equal(sd_event_run(f->event, 0), 0);
        assert_int_equal(a.changes, 1);
}

/* A watcher may leave from inside its own call; the others are still told. */
static void test_unwatch_inside(void **state) {
        struct fixture *f = *state;
        struct counter a, b, c;

        watch(f, &a);
        watch(f, &b);
        watch(f, &c);
        /* Watchers are told newest first: c, b, a; c and a leave. */
        c.unwatch = &c.w;
        a.unwatch = &a.w;
        console_hub_notify(f->hub);
        assert_int_equal(c.changes, 1);
        assert_int_equal(b.changes, 1);
        assert_int_equal(a.changes, 1);
        assert_int_equal(console_hub_watchers(f->hub), 1);
        console_hub_notify(f->hub);
        assert_int_equal(b.changes, 2);
        assert_int_equal(c.changes, 1);
        assert_int_equal(a.changes, 1);
        console_hub_unwatch(&b.w);
}

static void test_watcher_limit(void **state) {
        struct fixture *f = *state;
        struct counter *w = calloc(CONSOLE_HUB_WATCHERS_MAX + 1, sizeof(*w));

        assert_non_null(w);
        for (int i = 0; i < CONSOLE_HUB_WATCHERS_MAX; i++)
                watch(f, &w[i]);
        w[CONSOLE_HUB_WATCHERS_MAX].w.on_change = on_change;
        assert_int_equal(console_hub_watch(f->hub, &w[CONSOLE_HUB_WATCHERS_MAX].w), -EMFILE);
        console_hub_unwatch(&w[3].w);
        assert_int_equal(console_hub_watch(f->hub, &w[CONSOLE_HUB_WATCHERS_MAX].w), 0);
        for (int i = 0; i <= CONSOLE_HUB_WATCHERS_MAX; i++)
                console_hub_unwatch(&w[i].w);
        assert_int_equal(console_hub_watchers(f->hub), 0);
        free(w);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_output_told_later, setup, teardown),
                cmocka_unit_test_setup_teardown(test_output_coalesced, setup, teardown),
                cmocka_unit_test_setup_teardown(test_small_output_not_held, setup, teardown),
                cmocka_unit_test_setup_teardown(test_no_watchers, setup, teardown),
                cmocka_unit_test_setup_teardown(test_notify_at_once, setup, teardown),
                cmocka_unit_test_setup_teardown(test_free_tells_gone, setup, teardown),
                cmocka_unit_test_setup_teardown(test_unwatch_inside, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watcher_limit, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
