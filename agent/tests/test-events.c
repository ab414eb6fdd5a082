/* test-events.c: the host's event log (events.c) in a temp state directory:
 * sequence numbers one apart and kept across a reopen, the ring holding the
 * newest EVENTS_KEEP, a torn last line ignored (and cut off), files rotated
 * by count with the oldest removed, a power loss's gap, a full disk (a file
 * size limit) caught up on or, at a stop, its numbers kept, and readers' cursors told of a reset, of their
 * lag and of a resume point in the future; watchers told on a later turn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "events.h"
#include "fileio.h"
#include "instance.h"
#include "test-util.h"

struct fixture {
        struct test_dir *dir;
        sd_event *event;
        struct events *events;
};

static void reopen(struct fixture *f) {
        f->events = events_free(f->events);
        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
}

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));

        assert_non_null(f);
        assert_int_equal(test_dir_setup((void **) &f->dir), 0);
        assert_int_equal(sd_event_new(&f->event), 0);
        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        events_free(f->events);
        sd_event_unref(f->event);
        test_dir_teardown((void **) &f->dir);
        free(f);
        return 0;
}

static uint64_t append(struct fixture *f, const char *vm, unsigned i) {
        return events_append(f->events, "vm_started", vm, json_pack("{s:I}", "boot", (json_int_t) i));
}

/* The event of exactly this seq, parsed (it must be held). */
static json_t *event_at(struct fixture *f, uint64_t seq) {
        char buf[EVENTS_LINE_MAX];
        uint64_t s = seq;
        json_t *j;

        assert_true(events_read(f->events, &s, buf, sizeof(buf)) > 0);
        assert_int_equal(s, seq);
        j = json_loads(buf, 0, NULL);
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "seq")), (json_int_t) seq);
        return j;
}

/* The files of STATE/events named like the log's, and the oldest's seq. */
static unsigned count_files(struct fixture *f, uint64_t *oldest) {
        int fd = openat(f->dir->dfd, "events", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(fd);
        struct dirent *de;
        unsigned n = 0;

        assert_non_null(d);
        *oldest = UINT64_MAX;
        while ((de = readdir(d))) {
                size_t len = strlen(de->d_name);

                if (len > 6 && strcmp(de->d_name + len - 6, ".jsonl") == 0) {
                        uint64_t seq = strtoull(de->d_name, NULL, 10);

                        n++;
                        if (seq < *oldest)
                                *oldest = seq;
                }
        }
        closedir(d);
        return n;
}

/* One more each, from 1; the fields in order, with a time; after a reopen
 * (an agent restart) the events are there and the numbers go on. */
static void test_seq(void **state) {
        struct fixture *f = *state;
        json_t *j;

        assert_int_equal(events_next(f->events), 1);
        assert_int_equal(events_first(f->events), 1);
        assert_int_equal(append(f, "g1", 1), 1);
        assert_int_equal(events_append(f->events, "image_removed", NULL, json_pack("{s:s}", "image", "k")), 2);
        assert_int_equal(append(f, "g1", 2), 3);
        assert_int_equal(events_next(f->events), 4);

        j = event_at(f, 1);
        assert_string_equal(json_string_value(json_object_get(j, "type")), "vm_started");
        assert_string_equal(json_string_value(json_object_get(j, "vm")), "g1");
        assert_int_equal(json_integer_value(json_object_get(j, "boot")), 1);
        /* RFC 3339 UTC with milliseconds. */
        assert_int_equal(strlen(json_string_value(json_object_get(j, "time"))), strlen("2026-12-01T09:50:17.123Z"));
        json_decref(j);
        j = event_at(f, 2);
        assert_null(json_object_get(j, "vm"));
        assert_string_equal(json_string_value(json_object_get(j, "image")), "k");
        json_decref(j);
        {
                /* seq first, as a reader of the raw line sees it. */
                char buf[EVENTS_LINE_MAX];
                uint64_t s = 3;

                assert_true(events_read(f->events, &s, buf, sizeof(buf)) > 0);
                assert_memory_equal(buf, "{\"seq\":3,\"time\":", 16);
        }

        reopen(f);
        assert_int_equal(events_first(f->events), 1);
        assert_int_equal(events_next(f->events), 4);
        j = event_at(f, 3);
        assert_int_equal(json_integer_value(json_object_get(j, "boot")), 2);
        json_decref(j);
        assert_int_equal(append(f, "g1", 3), 4);
        reopen(f);
        assert_int_equal(events_next(f->events), 5);
        assert_int_equal(events_appended(f->events), 0);
        assert_int_equal(events_unstored(f->events), 0);
}

/* The ring holds the newest EVENTS_KEEP, in memory and after a reopen; the
 * files on disk are at most EVENTS_FILES, the oldest removed as they go. */
static void test_ring_and_rotation(void **state) {
        struct fixture *f = *state;
        const uint64_t total = 2 * EVENTS_KEEP + 100;
        uint64_t oldest;
        json_t *j;

        for (uint64_t i = 1; i <= total; i++)
                assert_int_equal(append(f, "g1", (unsigned) i), i);
        assert_int_equal(events_next(f->events), total + 1);
        assert_int_equal(events_first(f->events), total + 1 - EVENTS_KEEP);
        j = event_at(f, total + 1 - EVENTS_KEEP);
        json_decref(j);
        {
                char buf[EVENTS_LINE_MAX];
                uint64_t s = 1; /* the first held at or after 1 */

                assert_true(events_read(f->events, &s, buf, sizeof(buf)) > 0);
                assert_int_equal(s, total + 1 - EVENTS_KEEP);
                s = total + 1;
                assert_int_equal(events_read(f->events, &s, buf, sizeof(buf)), 0);
        }

        assert_int_equal(count_files(f, &oldest), EVENTS_FILES);
        /* Files of EVENTS_FILE_EVENTS each, named by their first seq: the
         * newest is partly filled, the two before it full. */
        assert_int_equal(oldest, (total - 1) / EVENTS_FILE_EVENTS * EVENTS_FILE_EVENTS + 1 -
                                         (EVENTS_FILES - 1) * EVENTS_FILE_EVENTS);
        assert_true(total - oldest + 1 >= EVENTS_KEEP);

        reopen(f);
        assert_int_equal(events_next(f->events), total + 1);
        assert_int_equal(events_first(f->events), total + 1 - EVENTS_KEEP);
        j = event_at(f, total);
        assert_int_equal(json_integer_value(json_object_get(j, "boot")), (json_int_t) total);
        json_decref(j);
        assert_int_equal(count_files(f, &oldest), EVENTS_FILES);
}

/* A line torn by kill -9 (or a full disk) is ignored, and cut off so that
 * the next line does not join it; a damaged line in the middle is skipped. */
static void test_torn_line(void **state) {
        struct fixture *f = *state;
        char buf[EVENTS_LINE_MAX];
        int fd, dfd;
        uint64_t s;
        json_t *j;

        for (unsigned i = 1; i <= 3; i++)
                append(f, "g1", i);
        f->events = events_free(f->events);

        dfd = openat(f->dir->dfd, "events", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        fd = openat(dfd, "00000000000000000001.jsonl", O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "{\"seq\":4,\"time\":\"20", 20), 20);
        close(fd);
        /* A restart in the same boot trusts the files, not the reservation. */
        (void) unlinkat(dfd, "reserved", 0);

        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
        assert_int_equal(events_next(f->events), 4);
        assert_int_equal(append(f, "g1", 4), 4);
        j = event_at(f, 4);
        json_decref(j);
        f->events = events_free(f->events);

        /* Damage in the middle: a line of garbage, and one going backwards. */
        fd = openat(dfd, "00000000000000000001.jsonl", O_WRONLY | O_APPEND | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, "garbage\n{\"seq\":2}\n", 18), 18);
        close(fd);
        close(dfd);
        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
        assert_int_equal(events_next(f->events), 5);
        assert_int_equal(append(f, "g1", 5), 5);
        reopen(f);
        for (uint64_t seq = 1; seq <= 5; seq++) {
                s = seq;
                assert_true(events_read(f->events, &s, buf, sizeof(buf)) > 0);
                assert_int_equal(s, seq);
        }
        assert_int_equal(events_next(f->events), 6);
}

/* After a start in another boot of the host (it may have lost power), the
 * numbers continue past the reservation, and a reader resuming within the
 * gap is told of a reset. */
static void test_power_loss(void **state) {
        struct fixture *f = *state;
        struct events_cursor c;
        char buf[EVENTS_LINE_MAX];
        uint64_t since, next;
        json_t *j;
        size_t len;
        int dfd;

        for (unsigned i = 1; i <= 3; i++)
                append(f, "g1", i);
        f->events = events_free(f->events);
        dfd = openat(f->dir->dfd, "events", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(dfd >= 0);
        j = json_pack("{s:I,s:s}", "next", (json_int_t) 5000, "boot_id", "0123456789abcdef0123456789abcdef");
        assert_int_equal(json_write_atomic(dfd, "reserved", j), 0);
        json_decref(j);

        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
        assert_int_equal(events_next(f->events), 5000);
        assert_int_equal(events_first(f->events), 1);
        assert_int_equal(append(f, "g1", 4), 5000);

        /* From 2: event 3, then the gap. */
        assert_int_equal(events_cursor_init(f->events, &c, false, 2), 0);
        assert_int_equal(events_cursor_step(f->events, &c, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_EVENT);
        assert_memory_equal(buf, "{\"seq\":3,", 9);
        assert_int_equal(events_cursor_step(f->events, &c, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_RESET);
        assert_int_equal(since, 3);
        assert_int_equal(next, 5000);
        assert_int_equal(events_cursor_step(f->events, &c, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_EVENT);
        assert_memory_equal(buf, "{\"seq\":5000,", 12);
        assert_int_equal(events_cursor_step(f->events, &c, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_NONE);

        /* The same boot: the files are the truth (a kill -9 lost nothing). */
        f->events = events_free(f->events);
        j = json_pack("{s:I,s:s}", "next", (json_int_t) 9000, "boot_id", instance_boot_id());
        assert_int_equal(json_write_atomic(dfd, "reserved", j), 0);
        json_decref(j);
        close(dfd);
        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
        assert_int_equal(events_next(f->events), 5001);
}

/* Readers' cursors: from now, from 0, from a point the ring left (reset,
 * then on from the oldest), one that falls behind (lagged, and it stays
 * so), and a resume point no event had yet. */
static void test_cursor(void **state) {
        struct fixture *f = *state;
        struct events_cursor now, all, old, slow;
        char buf[EVENTS_LINE_MAX];
        uint64_t since = 0, next = 0;
        size_t len = 0;

        assert_int_equal(events_cursor_init(f->events, &now, false, 0), 0); /* 0: all there is, even nothing */
        assert_int_equal(events_cursor_step(f->events, &now, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_NONE);
        assert_int_equal(events_cursor_init(f->events, &now, true, 0), 0);
        assert_int_equal(events_cursor_step(f->events, &now, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_NONE);
        append(f, "g1", 1);
        assert_int_equal(events_cursor_init(f->events, &all, false, 0), 0);
        assert_int_equal(events_cursor_init(f->events, &old, false, 1), 0);
        assert_int_equal(events_cursor_init(f->events, &old, false, 2), -ERANGE);
        assert_int_equal(events_cursor_step(f->events, &now, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_EVENT);
        assert_int_equal(len, strlen(buf));
        assert_memory_equal(buf, "{\"seq\":1,", 9);
        assert_int_equal(events_cursor_step(f->events, &all, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_EVENT);
        assert_int_equal(events_cursor_step(f->events, &all, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_NONE);

        /* slow is under way at 2; then the ring moves past it. */
        assert_int_equal(events_cursor_init(f->events, &slow, true, 0), 0);
        assert_int_equal(events_cursor_step(f->events, &slow, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_NONE);
        for (unsigned i = 2; i <= EVENTS_KEEP + 10; i++)
                append(f, "g1", i);
        assert_int_equal(events_first(f->events), 11);

        /* A resume point the ring left: reset (what is missing), then on. */
        assert_int_equal(events_cursor_init(f->events, &old, false, 3), 0);
        assert_int_equal(events_cursor_step(f->events, &old, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_RESET);
        assert_int_equal(since, 3);
        assert_int_equal(next, 11);
        assert_int_equal(events_cursor_step(f->events, &old, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_EVENT);
        assert_memory_equal(buf, "{\"seq\":11,", 10);
        /* Since 0 with event 1 gone: a reset too. */
        assert_int_equal(events_cursor_init(f->events, &all, false, 0), 0);
        assert_int_equal(events_cursor_step(f->events, &all, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_RESET);
        assert_int_equal(since, 0);
        assert_int_equal(next, 11);

        /* The reader that was under way lagged: it is told so, again and
         * again, and not moved on. */
        assert_int_equal(events_cursor_step(f->events, &slow, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_LAGGED);
        assert_int_equal(since, 1);
        assert_int_equal(events_cursor_step(f->events, &slow, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_LAGGED);

        /* Since the newest: only what comes. */
        assert_int_equal(events_cursor_init(f->events, &now, false, events_next(f->events) - 1), 0);
        assert_int_equal(events_cursor_step(f->events, &now, buf, sizeof(buf), &len, &since, &next), EVENTS_STEP_NONE);
        assert_int_equal(events_cursor_init(f->events, &now, false, events_next(f->events)), -ERANGE);
}

/* A full disk (a file size limit here) keeps no event from the watchers
 * or the readers; the events are stored, in order, once the disk takes
 * them again. */
static void test_full_disk(void **state) {
        struct fixture *f = *state;
        struct rlimit old, lim;
        struct stat st;
        int fd;

        append(f, "g1", 1);
        fd = openat(f->dir->dfd, "events/00000000000000000001.jsonl", O_RDONLY | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(fstat(fd, &st), 0);
        close(fd);

        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t) st.st_size + 10; /* the next line does not fit */
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        assert_int_equal(append(f, "g1", 2), 2);
        assert_int_equal(append(f, "g1", 3), 3);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(events_unstored(f->events), 2);
        json_decref(event_at(f, 2));

        /* The disk has room again: the next append stores all three. */
        assert_int_equal(append(f, "g1", 4), 4);
        reopen(f);
        assert_int_equal(events_next(f->events), 5);
        for (uint64_t seq = 1; seq <= 4; seq++)
                json_decref(event_at(f, seq));
}

/* A clean stop while the disk is full: the events it could not store are
 * lost, but their numbers are not given out again. */
static void test_full_disk_stop(void **state) {
        struct fixture *f = *state;
        struct rlimit old, lim;
        char buf[EVENTS_LINE_MAX];
        struct stat st;
        uint64_t s = 2;

        append(f, "g1", 1);
        assert_int_equal(fstatat(f->dir->dfd, "events/00000000000000000001.jsonl", &st, 0), 0);
        signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = (rlim_t) st.st_size + 10;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
        append(f, "g1", 2);
        append(f, "g1", 3);
        f->events = events_free(f->events);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);

        assert_int_equal(events_open(f->event, f->dir->dfd, &f->events), 0);
        assert_int_equal(events_next(f->events), 4);
        assert_int_equal(events_read(f->events, &s, buf, sizeof(buf)), 0);
        assert_int_equal(append(f, "g1", 4), 4);
}

struct counting_watch {
        struct events_watch w;
        unsigned changes, gone;
        bool unwatch;   /* on_change unwatches itself */
};

static void on_change(struct events_watch *w, bool gone) {
        struct counting_watch *c = (struct counting_watch *) w;

        if (gone)
                c->gone++;
        else
                c->changes++;
        if (c->unwatch && !gone)
                events_unwatch(w);
}

/* Watchers hear on a later turn of the loop, once for a burst; one may
 * unwatch itself; at most EVENTS_WATCHERS_MAX; freeing the log tells them
 * gone. */
static void test_watchers(void **state) {
        struct fixture *f = *state;
        struct counting_watch a = { .w.on_change = on_change }, b = { .w.on_change = on_change, .unwatch = true };
        struct counting_watch many[EVENTS_WATCHERS_MAX];

        assert_int_equal(events_watch(f->events, &a.w), 0);
        assert_int_equal(events_watch(f->events, &b.w), 0);
        assert_int_equal(events_watchers(f->events), 2);
        append(f, "g1", 1);
        append(f, "g1", 2);
        assert_int_equal(a.changes, 0); /* not from inside the append */
        while (sd_event_run(f->event, 0) > 0)
                ;
        assert_int_equal(a.changes, 1);
        assert_int_equal(b.changes, 1);
        assert_int_equal(events_watchers(f->events), 1);
        assert_null(b.w.events);

        append(f, "g1", 3);
        while (sd_event_run(f->event, 0) > 0)
                ;
        assert_int_equal(a.changes, 2);
        assert_int_equal(b.changes, 1);
        /* Nothing new: nothing told. */
        while (sd_event_run(f->event, 0) > 0)
                ;
        assert_int_equal(a.changes, 2);

        for (unsigned i = 0; i < EVENTS_WATCHERS_MAX - 1; i++) {
                many[i] = (struct counting_watch) { .w.on_change = on_change };
                assert_int_equal(events_watch(f->events, &many[i].w), 0);
        }
        many[EVENTS_WATCHERS_MAX - 1] = (struct counting_watch) { .w.on_change = on_change };
        assert_int_equal(events_watch(f->events, &many[EVENTS_WATCHERS_MAX - 1].w), -EMFILE);
        for (unsigned i = 0; i < EVENTS_WATCHERS_MAX - 1; i++)
                events_unwatch(&many[i].w);
        events_unwatch(&many[EVENTS_WATCHERS_MAX - 1].w); /* never added */

        f->events = events_free(f->events);
        assert_int_equal(a.gone, 1);
        assert_null(a.w.events);
        assert_int_equal(b.gone, 0);
        events_unwatch(&a.w); /* told gone: a no-op */
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_seq, setup, teardown),
                cmocka_unit_test_setup_teardown(test_ring_and_rotation, setup, teardown),
                cmocka_unit_test_setup_teardown(test_torn_line, setup, teardown),
                cmocka_unit_test_setup_teardown(test_power_loss, setup, teardown),
                cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_disk, setup, teardown),
                cmocka_unit_test_setup_teardown(test_full_disk_stop, setup, teardown),
                cmocka_unit_test_setup_teardown(test_watchers, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
