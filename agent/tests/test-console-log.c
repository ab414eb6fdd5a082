/* test-console-log.c: the segmented console log in a temp directory: offsets
 * stable across appends, reopen and rotation, reads across segments, and
 * what a crash or damage can leave on disk. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console-log.h"
#include "line-match.h"
#include "test-util.h"

#define SEG0 "00000000000000000000.log"

static struct console_log *open_log(struct test_dir *f) {
        struct console_log *l = NULL;

        assert_int_equal(console_log_open(f->dfd, "console", &l), 0);
        assert_non_null(l);
        return l;
}

static void fill_pattern(uint8_t *p, size_t n, uint64_t offset) {
        for (size_t i = 0; i < n; i++) {
                uint64_t o = offset + i;

                p[i] = (uint8_t) (o ^ (o >> 8) ^ (o >> 16));
        }
}

/* Reads [offset, offset + n) in one call and compares it with the pattern. */
static void assert_pattern(struct console_log *l, uint64_t offset, size_t n) {
        uint8_t *got = malloc(n + 1), *want = malloc(n + 1);

        assert_non_null(got);
        assert_non_null(want);
        fill_pattern(want, n, offset);
        assert_int_equal(console_log_read(l, offset, got, n), n);
        assert_memory_equal(got, want, n);
        free(got);
        free(want);
}

static void append_pattern(struct console_log *l, size_t n) {
        uint8_t *p = malloc(n);

        assert_non_null(p);
        fill_pattern(p, n, console_log_end(l));
        assert_int_equal(console_log_append(l, p, n), 0);
        free(p);
}

static void test_empty(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        struct stat st;
        char buf[8];

        assert_int_equal(console_log_start(l), 0);
        assert_int_equal(console_log_end(l), 0);
        assert_int_equal(console_log_segments(l), 1);
        assert_int_equal(console_log_read(l, 0, buf, sizeof(buf)), 0);
        assert_int_equal(console_log_read(l, 1, buf, sizeof(buf)), -ERANGE);
        assert_int_equal(console_log_read(l, UINT64_MAX, buf, sizeof(buf)), -ERANGE);
        assert_int_equal(console_log_seek_data(l, 0), 0);
        assert_int_equal(console_log_append(l, "", 0), 0);
        assert_int_equal(console_log_end(l), 0);
        assert_int_equal(console_log_rotate(l), 0); /* nothing to end */
        assert_int_equal(console_log_segments(l), 1);
        assert_int_equal(console_log_sync(l), 0);

        assert_int_equal(fstatat(f->dfd, "console", &st, 0), 0);
        assert_true(S_ISDIR(st.st_mode));
        assert_int_equal(st.st_mode & 0077, 0);
        assert_int_equal(fstatat(f->dfd, "console/" SEG0, &st, 0), 0);
        assert_true(S_ISREG(st.st_mode));
        assert_int_equal(st.st_size, 0);
        assert_int_equal(st.st_mode & 0077, 0);
        console_log_free(l);

        /* Reopening an empty log is still empty. */
        l = open_log(f);
        assert_int_equal(console_log_end(l), 0);
        console_log_free(l);
        assert_null(console_log_free(NULL));
}

static void test_roundtrip(void **state) {
        struct test_dir *f = *state;
        _cleanup_(console_log_freep) struct console_log *l = open_log(f);
        char buf[64];

        assert_int_equal(console_log_append(l, "hello", 5), 0);
        assert_int_equal(console_log_append(l, ", world", 7), 0);
        assert_int_equal(console_log_end(l), 12);
        assert_int_equal(console_log_read(l, 0, buf, sizeof(buf)), 12);
        assert_memory_equal(buf, "hello, world", 12);
        assert_int_equal(console_log_read(l, 7, buf, sizeof(buf)), 5);
        assert_memory_equal(buf, "world", 5);
        assert_int_equal(console_log_read(l, 2, buf, 3), 3); /* bounded by max */
        assert_memory_equal(buf, "llo", 3);
        assert_int_equal(console_log_read(l, 3, buf, 0), 0);
        assert_int_equal(console_log_read(l, 12, buf, sizeof(buf)), 0);
        assert_int_equal(console_log_read(l, 13, buf, sizeof(buf)), -ERANGE);

        /* Binary data, NULs included. */
        assert_int_equal(console_log_append(l, "\0\xff\0", 3), 0);
        assert_int_equal(console_log_read(l, 12, buf, sizeof(buf)), 3);
        assert_memory_equal(buf, "\0\xff\0", 3);
}

static void test_reopen_keeps_offsets(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);

        append_pattern(l, 1000);
        console_log_free(l);

        l = open_log(f);
        assert_int_equal(console_log_start(l), 0);
        assert_int_equal(console_log_end(l), 1000);
        append_pattern(l, 234);
        assert_int_equal(console_log_end(l), 1234);
        assert_pattern(l, 0, 1234);
        console_log_free(l);

        l = open_log(f);
        assert_int_equal(console_log_end(l), 1234);
        assert_pattern(l, 999, 235);
        console_log_free(l);
}

static void test_rotate(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        struct stat st;
        char buf[32];

        append_pattern(l, 100);
        assert_int_equal(console_log_rotate(l), 0);
        assert_int_equal(console_log_segments(l), 2);
        assert_int_equal(console_log_end(l), 100);
        assert_int_equal(console_log_rotate(l), 0); /* the new one is empty: no-op */
        assert_int_equal(console_log_segments(l), 2);
        assert_int_equal(console_log_read(l, 100, buf, sizeof(buf)), 0);
        append_pattern(l, 50);
        assert_int_equal(console_log_end(l), 150);

        assert_int_equal(fstatat(f->dfd, "console/" SEG0, &st, 0), 0);
        assert_int_equal(st.st_size, 100);
        assert_int_equal(fstatat(f->dfd, "console/00000000000000000100.log", &st, 0), 0);
        assert_int_equal(st.st_size, 50);

        /* One read crosses the boundary. */
        assert_pattern(l, 90, 20);
        assert_pattern(l, 0, 150);
        assert_pattern(l, 100, 50);

        /* A third segment; reads hop between the older ones. */
        assert_int_equal(console_log_rotate(l), 0);
        append_pattern(l, 7);
        assert_int_equal(console_log_segments(l), 3);
        assert_pattern(l, 10, 5);
        assert_pattern(l, 120, 5);
        assert_pattern(l, 20, 5);
        assert_pattern(l, 0, 157);
        console_log_free(l);

        l = open_log(f);
        assert_int_equal(console_log_segments(l), 3);
        assert_int_equal(console_log_start(l), 0);
        assert_int_equal(console_log_end(l), 157);
        assert_pattern(l, 0, 157);
        append_pattern(l, 3);
        assert_int_equal(fstatat(f->dfd, "console/00000000000000000150.log", &st, 0), 0);
        assert_int_equal(st.st_size, 10);
        assert_pattern(l, 145, 15);
        console_log_free(l);
}

static void test_big_odd_chunks(void **state) {
        struct test_dir *f = *state;
        enum { TOTAL = 1 << 20 };
        struct console_log *l = open_log(f);
        uint8_t *src = malloc(TOTAL), *dst = malloc(TOTAL);
        uint32_t rng = 4242;
        size_t off = 0;

        assert_non_null(src);
        assert_non_null(dst);
        fill_pattern(src, TOTAL, 0);
        while (off < TOTAL) {
                size_t n;

                rng = rng * 1103515245 + 12345;
                n = 1 + (rng >> 16) % 4093;
                if (n > TOTAL - off)
                        n = TOTAL - off;
                assert_int_equal(console_log_append(l, src + off, n), 0);
                off += n;
                if ((rng >> 8) % 97 == 0) /* now and then a new segment */
                        assert_int_equal(console_log_rotate(l), 0);
        }
        assert_int_equal(console_log_end(l), TOTAL);
        assert_true(console_log_segments(l) > 1);

        /* Read back in other odd sizes, after a reopen. */
        console_log_free(l);
        l = open_log(f);
        assert_int_equal(console_log_end(l), TOTAL);
        off = 0;
        while (off < TOTAL) {
                ssize_t k;

                rng = rng * 1103515245 + 12345;
                k = console_log_read(l, off, dst + off, 1 + (rng >> 16) % 7001);
                assert_true(k > 0);
                off += (size_t) k;
        }
        assert_memory_equal(dst, src, TOTAL);
        assert_int_equal(console_log_read(l, TOTAL, dst, 1), 0);
        console_log_free(l);
        free(src);
        free(dst);
}

static void test_torn_last_segment(void **state) {
        struct test_dir *f = *state;
        uint8_t data[100];
        struct console_log *l;

        /* A rotation that made the new file and then crashed. */
        fill_pattern(data, sizeof(data), 0);
        assert_int_equal(test_write_file(f->tmp, "console/" SEG0, data, sizeof(data), 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000000100.log", "", 0, 0600), 0);
        l = open_log(f);
        assert_int_equal(console_log_segments(l), 2);
        assert_int_equal(console_log_end(l), 100);
        append_pattern(l, 20);
        assert_pattern(l, 0, 120);
        console_log_free(l);
}

static void test_empty_dir_exists(void **state) {
        struct test_dir *f = *state;
        struct console_log *l;

        assert_int_equal(test_mkdir(f->tmp, "console"), 0);
        l = open_log(f);
        assert_int_equal(console_log_end(l), 0);
        append_pattern(l, 5);
        assert_pattern(l, 0, 5);
        console_log_free(l);
}

static void test_gap(void **state) {
        struct test_dir *f = *state;
        uint8_t data[50], buf[200];
        struct console_log *l;

        /* Segment 0 lost its tail (power loss without the rotation's sync):
         * offsets 50..99 are held by nobody. */
        fill_pattern(data, 50, 0);
        assert_int_equal(test_write_file(f->tmp, "console/" SEG0, data, 50, 0600), 0);
        fill_pattern(data, 10, 100);
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000000100.log", data, 10, 0600), 0);
        l = open_log(f);
        assert_int_equal(console_log_start(l), 0);
        assert_int_equal(console_log_end(l), 110);
        assert_int_equal(console_log_read(l, 40, buf, sizeof(buf)), 10); /* short before the gap */
        assert_int_equal(console_log_read(l, 50, buf, sizeof(buf)), -ENODATA);
        assert_int_equal(console_log_read(l, 99, buf, sizeof(buf)), -ENODATA);
        assert_int_equal(console_log_seek_data(l, 0), 0);
        assert_int_equal(console_log_seek_data(l, 49), 49);
        assert_int_equal(console_log_seek_data(l, 50), 100);
        assert_int_equal(console_log_seek_data(l, 105), 105);
        assert_int_equal(console_log_seek_data(l, 500), 110);
        assert_pattern(l, 100, 10);
        console_log_free(l);
}

static void test_start_not_zero(void **state) {
        struct test_dir *f = *state;
        uint8_t data[5], buf[16];
        struct console_log *l;

        /* Older segments removed (the budget, later). */
        fill_pattern(data, 5, 1000);
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000001000.log", data, 5, 0600), 0);
        l = open_log(f);
        assert_int_equal(console_log_start(l), 1000);
        assert_int_equal(console_log_end(l), 1005);
        assert_int_equal(console_log_read(l, 0, buf, sizeof(buf)), -ENODATA);
        assert_int_equal(console_log_read(l, 999, buf, sizeof(buf)), -ENODATA);
        assert_int_equal(console_log_seek_data(l, 0), 1000);
        assert_pattern(l, 1000, 5);
        assert_int_equal(console_log_read(l, 1006, buf, sizeof(buf)), -ERANGE);
        console_log_free(l);
}

static void test_overlap_clamped(void **state) {
        struct test_dir *f = *state;
        uint8_t data[200], buf[300];
        struct console_log *l;

        /* Damage: segment 0 holds 200 bytes but segment 100 exists. The
         * later segment owns offsets from 100 on. */
        memset(data, 'a', sizeof(data));
        assert_int_equal(test_write_file(f->tmp, "console/" SEG0, data, 200, 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000000100.log", "bbbbbbbbbb", 10, 0600), 0);
        l = open_log(f);
        assert_int_equal(console_log_end(l), 110);
        assert_int_equal(console_log_read(l, 0, buf, sizeof(buf)), 110);
        assert_int_equal(buf[99], 'a');
        assert_memory_equal(buf + 100, "bbbbbbbbbb", 10);
        console_log_free(l);
}

static void test_other_files_ignored(void **state) {
        struct test_dir *f = *state;
        struct console_log *l;

        assert_int_equal(test_write_file(f->tmp, "console/" SEG0, "abc", 3, 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "console/notes.txt", "x", 1, 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "console/5.log", "xxxxx", 5, 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "console/" SEG0 ".tmp", "x", 1, 0600), 0);
        assert_int_equal(test_write_file(f->tmp, "console/99999999999999999999.log", "x", 1, 0600), 0); /* > 2^64 */
        assert_int_equal(test_write_file(f->tmp, "console/0000000000000000000x.log", "x", 1, 0600), 0);
        assert_int_equal(test_mkdir(f->tmp, "console/subdir"), 0);
        l = open_log(f);
        assert_int_equal(console_log_segments(l), 1);
        assert_int_equal(console_log_end(l), 3);
        console_log_free(l);
}

static void test_bad_names_and_entries(void **state) {
        struct test_dir *f = *state;
        static const char *const bad[] = { "", ".", "..", ".hidden", "a/b", "/abs", "a/" };
        struct console_log *l = NULL;
        char longname[300];

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
                assert_int_equal(console_log_open(f->dfd, bad[i], &l), -EINVAL);
        memset(longname, 'n', sizeof(longname) - 1);
        longname[sizeof(longname) - 1] = '\0';
        assert_int_equal(console_log_open(f->dfd, longname, &l), -EINVAL);
        assert_null(l);

        /* A directory where a segment should be. */
        assert_int_equal(test_mkdir(f->tmp, "dirseg/" SEG0), 0);
        assert_int_equal(console_log_open(f->dfd, "dirseg", &l), -EBADMSG);

        /* A symlink where a segment should be. */
        assert_int_equal(test_mkdir(f->tmp, "linkseg"), 0);
        assert_int_equal(symlinkat("/etc/passwd", f->dfd, "linkseg/" SEG0), 0);
        assert_int_equal(console_log_open(f->dfd, "linkseg", &l), -EBADMSG);

        /* The log directory itself is not followed through a symlink. */
        assert_int_equal(test_mkdir(f->tmp, "real"), 0);
        assert_int_equal(symlinkat("real", f->dfd, "link"), 0);
        assert_true(console_log_open(f->dfd, "link", &l) < 0);

        /* A file where the directory should be. */
        assert_int_equal(test_write_file(f->tmp, "file", "x", 1, 0600), 0);
        assert_int_equal(console_log_open(f->dfd, "file", &l), -ENOTDIR);
        assert_null(l);

        /* AT_FDCWD with a name works too. */
        {
                char *cwd = getcwd(NULL, 0);

                assert_non_null(cwd);
                assert_int_equal(chdir(f->tmp), 0);
                assert_int_equal(console_log_open(AT_FDCWD, "cwdlog", &l), 0);
                l = console_log_free(l);
                assert_int_equal(chdir(cwd), 0);
                free(cwd);
        }
}

struct counter {
        unsigned calls;
        uint64_t last_end;
};

static void on_append(struct console_log *l, void *userdata) {
        struct counter *c = userdata;
        char buf[4];

        c->calls++;
        c->last_end = console_log_end(l);
        /* Reading from the callback is allowed. */
        assert_true(console_log_read(l, c->last_end - 1, buf, sizeof(buf)) == 1);
}

static void test_on_append(void **state) {
        struct test_dir *f = *state;
        _cleanup_(console_log_freep) struct console_log *l = open_log(f);
        struct counter c = { 0 };

        console_log_set_on_append(l, on_append, &c);
        assert_int_equal(console_log_append(l, "abc", 3), 0);
        assert_int_equal(c.calls, 1);
        assert_int_equal(c.last_end, 3);
        assert_int_equal(console_log_append(l, "", 0), 0); /* no bytes, no call */
        assert_int_equal(c.calls, 1);
        assert_int_equal(console_log_rotate(l), 0); /* no bytes either */
        assert_int_equal(c.calls, 1);
        assert_int_equal(console_log_append(l, "de", 2), 0);
        assert_int_equal(c.calls, 2);
        assert_int_equal(c.last_end, 5);
        console_log_set_on_append(l, NULL, NULL);
        assert_int_equal(console_log_append(l, "f", 1), 0);
        assert_int_equal(c.calls, 2);
}

/* A write that fails halfway (here RLIMIT_FSIZE, in real life ENOSPC):
 * the bytes that made it keep their offsets, end tells how many. */
static void test_partial_append(void **state) {
        struct test_dir *f = *state;
        _cleanup_(console_log_freep) struct console_log *l = open_log(f);
        struct rlimit old, lim;
        void (*old_handler)(int);
        struct counter c = { 0 };
        uint8_t data[100];
        uint64_t before;
        int r;

        append_pattern(l, 10);
        console_log_set_on_append(l, on_append, &c);
        assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
        lim = old;
        lim.rlim_cur = 60;
        old_handler = signal(SIGXFSZ, SIG_IGN);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);

        before = console_log_end(l);
        fill_pattern(data, sizeof(data), before);
        r = console_log_append(l, data, sizeof(data));

        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        signal(SIGXFSZ, old_handler);

        assert_int_equal(r, -EFBIG);
        assert_int_equal(console_log_end(l), 60);
        assert_int_equal(c.calls, 1); /* 50 bytes did arrive */
        /* The caller retries exactly the rest. */
        assert_int_equal(console_log_append(l, data + (console_log_end(l) - before),
                                            sizeof(data) - (console_log_end(l) - before)), 0);
        assert_int_equal(console_log_end(l), 110);
        assert_pattern(l, 0, 110);
}

static void test_rotate_name_taken(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);

        append_pattern(l, 10);
        /* Someone else's non-empty file under the next segment's name. */
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000000010.log", "zz", 2, 0600), 0);
        assert_int_equal(console_log_rotate(l), -EEXIST);
        assert_int_equal(console_log_segments(l), 1);
        append_pattern(l, 5); /* still appends to segment 0 */
        assert_pattern(l, 0, 15);
        console_log_free(l);

        /* An empty file there is taken over. */
        l = NULL;
        test_rm_rf(f->tmp);
        assert_int_equal(mkdir(f->tmp, 0700), 0);
        close(f->dfd);
        f->dfd = open(f->tmp, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        assert_true(f->dfd >= 0);
        l = open_log(f);
        append_pattern(l, 10);
        assert_int_equal(test_write_file(f->tmp, "console/00000000000000000010.log", "", 0, 0600), 0);
        assert_int_equal(console_log_rotate(l), 0);
        assert_int_equal(console_log_segments(l), 2);
        append_pattern(l, 5);
        assert_pattern(l, 0, 15);
        console_log_free(l);
}

/* The bytes the files of dir "console" hold together, as the disk sees it. */
static uint64_t bytes_on_disk(struct test_dir *f) {
        int dfd = openat(f->dfd, "console", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR *d = fdopendir(dfd);
        struct dirent *de;
        uint64_t total = 0;

        assert_non_null(d);
        while ((de = readdir(d))) {
                struct stat st;

                size_t len = strlen(de->d_name);

                /* Segments only: the index and the cursor are beside them. */
                if (len > 4 && strcmp(de->d_name + len - 4, ".log") == 0 &&
                    fstatat(dirfd(d), de->d_name, &st, 0) == 0)
                        total += (uint64_t) st.st_size;
        }
        closedir(d);
        return total;
}

/* A budget: segments of a quarter of it, whole old ones removed past it,
 * offsets unchanged, the newest bytes always held, and it all survives a
 * reopen. */
#define BUDGET (256 * 1024)
static void test_budget(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        uint64_t total = 0;

        console_log_set_budget(l, BUDGET);
        assert_int_equal(console_log_budget(l), BUDGET);
        /* 3 MiB in pieces of odd sizes, some larger than a segment. */
        for (size_t n = 1000; total < 3 * 1024 * 1024; n = n * 7 % 150001 + 1) {
                append_pattern(l, n);
                total += n;
                assert_true(console_log_bytes(l) <= BUDGET + n);
                assert_int_equal(console_log_bytes(l) + console_log_removed(l), total);
                assert_int_equal(console_log_end(l), total);
        }
        assert_true(console_log_removed(l) > 0);
        assert_int_equal(console_log_removed(l), console_log_start(l));
        assert_true(console_log_bytes(l) <= BUDGET);
        assert_true(console_log_bytes(l) >= BUDGET - BUDGET / 4);
        assert_int_equal(bytes_on_disk(f), console_log_bytes(l));
        /* Every segment but the last is full; the budget holds 4 or 5. */
        assert_true(console_log_segments(l) >= 4 && console_log_segments(l) <= 5);
        /* What is held is the newest, exactly; below start is gone. */
        assert_pattern(l, console_log_start(l), (size_t) console_log_bytes(l));
        assert_int_equal(console_log_read(l, console_log_start(l) - 1, (uint8_t[1]) { 0 }, 1), -ENODATA);
        assert_int_equal(console_log_seek_data(l, 0), console_log_start(l));

        /* A reopen finds the same. */
        total = console_log_start(l);
        l = console_log_free(l);
        l = open_log(f);
        assert_int_equal(console_log_start(l), total);
        assert_int_equal(console_log_bytes(l) + console_log_removed(l), console_log_end(l));
        /* A smaller budget applies at once (whole segments: the last one
         * stays whatever its size), and to what comes next. */
        console_log_set_budget(l, BUDGET / 2);
        assert_true(console_log_start(l) > total);
        assert_true(console_log_bytes(l) <= BUDGET / 2);
        append_pattern(l, BUDGET);
        assert_true(console_log_bytes(l) <= BUDGET / 2);
        assert_pattern(l, console_log_start(l), (size_t) console_log_bytes(l));
        assert_int_equal(bytes_on_disk(f), console_log_bytes(l));
        console_log_free(l);
}

/* A budget below the minimum is the minimum. */
static void test_budget_minimum(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);

        console_log_set_budget(l, 1);
        assert_int_equal(console_log_budget(l), CONSOLE_LOG_BUDGET_MIN);
        append_pattern(l, 4 * CONSOLE_LOG_BUDGET_MIN);
        assert_true(console_log_bytes(l) <= CONSOLE_LOG_BUDGET_MIN);
        assert_true(console_log_bytes(l) > 0);
        console_log_set_budget(l, 0);
        assert_int_equal(console_log_budget(l), 0);
        console_log_free(l);
}

struct removals {
        uint64_t bytes[2];
        unsigned calls;
};

static void on_remove(struct console_log *l _unused_, uint64_t bytes, enum console_log_removal why,
                      void *userdata) {
        struct removals *r = userdata;

        r->bytes[why] += bytes;
        r->calls++;
}

/* Logs in a pool: past the pool's total budget the biggest log pays, whole
 * segments at a time; the quiet one keeps its history; removals are told
 * with their reason; a log that leaves the pool takes its bytes with it. */
static void test_pool(void **state) {
        struct test_dir *f = *state;
        struct console_log *chatty = NULL, *quiet = NULL;
        struct console_log_pool *pool = NULL;
        struct removals rc = { 0 }, rq = { 0 };
        uint64_t max, keep;

        assert_int_equal(console_log_open(f->dfd, "chatty", &chatty), 0);
        assert_int_equal(console_log_open(f->dfd, "quiet", &quiet), 0);
        assert_int_equal(console_log_pool_new(f->dfd, &pool), 0);
        console_log_set_on_remove(chatty, on_remove, &rc);
        console_log_set_on_remove(quiet, on_remove, &rq);
        console_log_set_budget(chatty, BUDGET);
        console_log_set_budget(quiet, BUDGET);
        console_log_set_pool(chatty, pool);
        console_log_set_pool(quiet, pool);
        console_log_pool_set_limits(pool, BUDGET, 0);
        console_log_pool_limits(pool, &max, &keep);
        assert_int_equal(max, BUDGET);
        assert_int_equal(keep, 0);

        append_pattern(quiet, BUDGET / 4 + 1000); /* two segments */
        for (int i = 0; i < 40; i++)
                append_pattern(chatty, 10000);
        assert_int_equal(console_log_pool_bytes(pool), console_log_bytes(chatty) + console_log_bytes(quiet));
        assert_true(console_log_pool_bytes(pool) <= BUDGET);
        /* The quiet log kept every byte; the chatty one paid, for the pool. */
        assert_int_equal(console_log_removed(quiet), 0);
        assert_true(console_log_removed(chatty) > 0);
        assert_int_equal(rq.calls, 0);
        assert_int_equal(rc.bytes[CONSOLE_LOG_REMOVED_POOL], console_log_removed(chatty));
        assert_int_equal(rc.bytes[CONSOLE_LOG_REMOVED_BUDGET], 0);
        assert_pattern(chatty, console_log_start(chatty), (size_t) console_log_bytes(chatty));

        /* Its own budget, when it is the smaller limit: told as such. */
        console_log_pool_set_limits(pool, 0, 0);
        console_log_set_budget(chatty, BUDGET / 2);
        assert_true(rc.bytes[CONSOLE_LOG_REMOVED_BUDGET] > 0);

        /* A free floor no file system has: everything but the last segment
         * of each log goes, the biggest first. */
        console_log_pool_set_limits(pool, 0, UINT64_MAX / 2);
        assert_int_equal(console_log_segments(chatty), 1);
        assert_int_equal(console_log_segments(quiet), 1);
        assert_true(rq.bytes[CONSOLE_LOG_REMOVED_POOL] > 0);
        append_pattern(quiet, 100);
        assert_pattern(quiet, console_log_start(quiet), (size_t) console_log_bytes(quiet));

        /* Leaving the pool takes a log's bytes out of it. */
        console_log_set_pool(quiet, NULL);
        assert_int_equal(console_log_pool_bytes(pool), console_log_bytes(chatty));
        console_log_free(quiet); /* out of the pool already */
        console_log_free(chatty); /* leaves it on its way */
        assert_int_equal(console_log_pool_bytes(pool), 0);
        console_log_pool_free(pool);
}

/* The backend's ring cursor: none at first, the last one put survives a
 * reopen, a damaged file reads as damaged, and it is not a segment. */
static void test_cursor(void **state) {
        struct test_dir *f = *state;
        struct console_log_cursor c = { 0 };
        struct console_log *l = open_log(f);

        assert_int_equal(console_log_get_cursor(l, &c), -ENOENT);
        assert_int_equal(console_log_put_cursor(l, &(struct console_log_cursor) { .ring_id = 7, .end = 3,
                                                                                 .ring_cons = 9 }),
                         0);
        assert_int_equal(console_log_put_cursor(l, &(struct console_log_cursor) { .ring_id = 8, .end = UINT64_MAX,
                                                                                 .ring_cons = UINT32_MAX }),
                         0);
        append_pattern(l, 10);
        console_log_free(l);

        l = open_log(f);
        assert_int_equal(console_log_segments(l), 1);
        assert_int_equal(console_log_end(l), 10);
        assert_int_equal(console_log_get_cursor(l, &c), 0);
        assert_int_equal(c.ring_id, 8);
        assert_int_equal(c.end, UINT64_MAX);
        assert_int_equal(c.ring_cons, UINT32_MAX);
        console_log_free(l);

        /* One flipped byte, then a short file. */
        {
                char path[4096];
                uint8_t rec[40];
                int fd;

                snprintf(path, sizeof(path), "%s/console/ring-cursor", f->tmp);
                fd = open(path, O_RDWR);
                assert_true(fd >= 0);
                assert_int_equal(pread(fd, rec, sizeof(rec), 0), sizeof(rec));
                rec[12] ^= 1;
                assert_int_equal(pwrite(fd, rec, sizeof(rec), 0), sizeof(rec));
                l = open_log(f);
                assert_int_equal(console_log_get_cursor(l, &c), -EBADMSG);
                console_log_free(l);
                assert_int_equal(ftruncate(fd, 5), 0);
                close(fd);
        }
        l = open_log(f);
        assert_int_equal(console_log_get_cursor(l, &c), -EBADMSG);
        assert_int_equal(console_log_end(l), 10);
        console_log_free(l);
}

static bool count_match(void *arg, uint64_t offset, uint64_t end) {
        uint64_t *seen = arg;

        seen[seen[0] + 1] = offset;
        seen[0]++;
        (void) end;
        return seen[0] < 3; /* the third ends the scan */
}

static void test_scan(void **state) {
        struct test_dir *f = *state;
        struct console_log *l = open_log(f);
        struct line_match m;
        uint64_t seen[8] = { 0 };
        char why[64];

        assert_int_equal(console_log_append(l, "a PANIC\nb\nc PAN", strlen("a PANIC\nb\nc PAN")), 0);
        assert_int_equal(console_log_rotate(l), 0);
        /* Across a segment boundary, and a line matches once. */
        assert_int_equal(console_log_append(l, "IC PANIC\nPANIC\nPANIC\nend", strlen("IC PANIC\nPANIC\nPANIC\nend")),
                         0);
        assert_int_equal(line_match_init(&m, "PANIC", false, 0, why, sizeof(why)), 0);
        /* max bounds what one call reads. */
        assert_int_equal(console_log_scan(l, &m, 4, count_match, seen), 1);
        assert_int_equal(seen[0], 0);
        assert_int_equal(console_log_scan(l, &m, SIZE_MAX, count_match, seen), 1); /* ended by the third */
        assert_int_equal(seen[0], 3);
        assert_int_equal(seen[1], 2);
        assert_int_equal(seen[2], 12);
        assert_int_equal(seen[3], 24);
        seen[0] = 0;
        assert_int_equal(console_log_scan(l, &m, SIZE_MAX, count_match, seen), 0);
        assert_int_equal(seen[0], 1);
        assert_int_equal(seen[1], 30);
        line_match_done(&m);
        console_log_free(l);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_empty, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_roundtrip, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_reopen_keeps_offsets, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_rotate, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_big_odd_chunks, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_torn_last_segment, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_empty_dir_exists, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_gap, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_start_not_zero, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_overlap_clamped, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_other_files_ignored, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_bad_names_and_entries, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_on_append, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_partial_append, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_rotate_name_taken, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_budget, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_budget_minimum, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_pool, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_cursor, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_scan, test_dir_setup, test_dir_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
