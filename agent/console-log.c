/* console-log.c: owns the log of one VM console, a directory of segment files
 * addressed by stable byte offsets (see console-log.h). */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "console-index.h"
#include "console-log.h"
#include "line-match.h"

#define SEGMENT_DIGITS 20 /* UINT64_MAX has 20 decimal digits */
#define SEGMENT_SUFFIX ".log"
#define SEGMENT_NAME_LEN (SEGMENT_DIGITS + sizeof(SEGMENT_SUFFIX) - 1)

struct segment {
        uint64_t start;
        uint64_t size; /* bytes it holds; the last one grows with each append */
};

struct console_log {
        int dir_fd;
        int fd; /* the last segment, O_APPEND */
        struct segment *segments; /* ascending start, never empty once open */
        size_t n_segments, allocated;
        uint64_t held; /* the segments' sizes together */
        uint64_t budget; /* 0: unbounded */
        uint64_t segment_max; /* a segment ends past this (a quarter of the budget); 0: never */
        bool dirty; /* appended since the last fdatasync */

        int cursor_fd; /* DIR/ring-cursor once written or read, or -1 */
        struct console_index *index; /* DIR/index, or NULL if it could not be opened */
        uint64_t index_trimmed; /* its size after the last trim for its size */
        int64_t (*clock)(void *userdata);
        void *clock_userdata;

        /* An earlier segment kept open between reads, or -1. */
        int read_fd;
        size_t read_index;

        console_log_append_cb on_append;
        void *userdata;
        console_log_remove_cb on_remove;
        void *remove_userdata;

        struct console_log_pool *pool;  /* or NULL */
        struct console_log *pool_next, *pool_prev;
};

struct console_log_pool {
        int fs_fd;                      /* borrowed: a directory of the file system */
        uint64_t max_bytes;             /* 0: no total budget */
        uint64_t keep_free;             /* 0: no floor */
        uint64_t held;                  /* its logs' bytes together */
        uint64_t unchecked;             /* appended since free space was last looked at */
        struct console_log *logs;
};

static void closedirp(DIR **d) {
        if (*d)
                closedir(*d);
}

static void segment_name(uint64_t start, char name[static SEGMENT_NAME_LEN + 1]) {
        snprintf(name, SEGMENT_NAME_LEN + 1, "%020" PRIu64 SEGMENT_SUFFIX, start);
}

/* Only the exact form segment_name() makes: 20 digits, then ".log". */
static bool segment_parse(const char *name, uint64_t *ret) {
        uint64_t v = 0;

        if (strlen(name) != SEGMENT_NAME_LEN || strcmp(name + SEGMENT_DIGITS, SEGMENT_SUFFIX) != 0)
                return false;
        for (size_t i = 0; i < SEGMENT_DIGITS; i++) {
                unsigned d;

                if (name[i] < '0' || name[i] > '9')
                        return false;
                d = (unsigned) (name[i] - '0');
                if (v > (UINT64_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        *ret = v;
        return true;
}

static int segment_cmp(const void *a, const void *b) {
        const struct segment *x = a, *y = b;

        return (x->start > y->start) - (x->start < y->start);
}

static struct segment *last_segment(const struct console_log *l) {
        return &l->segments[l->n_segments - 1];
}

static int segments_reserve(struct console_log *l, size_t n) {
        struct segment *s;
        size_t want;

        if (n <= l->allocated)
                return 0;
        want = l->allocated ? l->allocated * 2 : 8;
        if (want < n)
                want = n;
        s = reallocarray(l->segments, want, sizeof(*s));
        if (!s)
                return -ENOMEM;
        l->segments = s;
        l->allocated = want;
        return 0;
}

static bool valid_dir_name(const char *name) {
        size_t n = strnlen(name, NAME_MAX + 1);

        return n > 0 && n <= NAME_MAX && name[0] != '.' && !strchr(name, '/');
}

/* Reads every segment name in l->dir_fd with its size, sorted by start. */
static int list_segments(struct console_log *l) {
        _cleanup_(closedirp) DIR *d = NULL;
        struct dirent *de;
        int fd;

        fd = openat(l->dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d) {
                safe_close(fd);
                return negative_errno();
        }
        for (;;) {
                struct stat st;
                uint64_t start;
                int r;

                errno = 0;
                de = readdir(d);
                if (!de) {
                        if (errno != 0)
                                return negative_errno();
                        break;
                }
                if (!segment_parse(de->d_name, &start))
                        continue;
                if (fstatat(l->dir_fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                        return negative_errno();
                if (!S_ISREG(st.st_mode))
                        return -EBADMSG;
                r = segments_reserve(l, l->n_segments + 1);
                if (r < 0)
                        return r;
                l->segments[l->n_segments++] = (struct segment) {
                        .start = start,
                        .size = (uint64_t) st.st_size,
                };
        }
        if (l->n_segments > 1)
                qsort(l->segments, l->n_segments, sizeof(*l->segments), segment_cmp);
        return 0;
}

/* Opens (creating) the segment that starts at start, for appending. */
static int segment_open_append(int dir_fd, uint64_t start, bool create, struct stat *ret_st) {
        char name[SEGMENT_NAME_LEN + 1];
        int fd;

        segment_name(start, name);
        fd = openat(dir_fd, name, O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | (create ? O_CREAT : 0), 0600);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, ret_st) < 0) {
                int r = negative_errno();

                safe_close(fd);
                return r;
        }
        if (!S_ISREG(ret_st->st_mode)) {
                safe_close(fd);
                return -EBADMSG;
        }
        return fd;
}

int console_log_open(int dir_fd, const char *name, struct console_log **ret) {
        _cleanup_(console_log_freep) struct console_log *l = NULL;
        struct segment *last;
        struct stat st;
        bool created_dir = false;
        int r;

        if (!valid_dir_name(name))
                return -EINVAL;

        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->dir_fd = l->fd = l->read_fd = l->cursor_fd = -1;

        if (mkdirat(dir_fd, name, 0700) == 0)
                created_dir = true;
        else if (errno != EEXIST)
                return negative_errno();
        l->dir_fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (l->dir_fd < 0)
                return negative_errno();
        if (created_dir && dir_fd >= 0)
                (void) fsync(dir_fd); /* best effort: the new entry in the parent */

        r = list_segments(l);
        if (r < 0)
                return r;

        if (l->n_segments == 0) {
                r = segments_reserve(l, 1);
                if (r < 0)
                        return r;
                l->fd = segment_open_append(l->dir_fd, 0, true, &st);
                if (l->fd < 0)
                        return l->fd;
                if (fsync(l->dir_fd) < 0)
                        return negative_errno();
                l->segments[l->n_segments++] = (struct segment) { .start = 0, .size = (uint64_t) st.st_size };
        } else {
                last = last_segment(l);
                l->fd = segment_open_append(l->dir_fd, last->start, false, &st);
                if (l->fd < 0)
                        return l->fd;
                last->size = (uint64_t) st.st_size; /* the fd's view, not the listing's */
        }

        /* A segment reaching into the next one (only damage can do that)
         * ends where the next begins: the later segment owns those offsets. */
        for (size_t i = 0; i + 1 < l->n_segments; i++)
                if (l->segments[i].size > l->segments[i + 1].start - l->segments[i].start)
                        l->segments[i].size = l->segments[i + 1].start - l->segments[i].start;
        last = last_segment(l);
        if (last->size > UINT64_MAX - last->start)
                return -EBADMSG;
        for (size_t i = 0; i < l->n_segments; i++)
                l->held += l->segments[i].size;

        /* The index is a help: a log without one still works. */
        if (console_index_open(l->dir_fd, &l->index) < 0)
                l->index = NULL;

        *ret = TAKE_PTR(l);
        return 0;
}

struct console_log *console_log_free(struct console_log *l) {
        if (!l)
                return NULL;
        console_log_set_pool(l, NULL);
        if (l->fd >= 0 && l->dirty)
                (void) fdatasync(l->fd);
        safe_close(l->read_fd);
        safe_close(l->cursor_fd);
        console_index_free(l->index);
        safe_close(l->fd);
        safe_close(l->dir_fd);
        free(l->segments);
        free(l);
        return NULL;
}

uint64_t console_log_start(const struct console_log *l) {
        return l->segments[0].start;
}

uint64_t console_log_end(const struct console_log *l) {
        const struct segment *last = last_segment(l);

        return last->start + last->size;
}

size_t console_log_segments(const struct console_log *l) {
        return l->n_segments;
}

uint64_t console_log_bytes(const struct console_log *l) {
        return l->held;
}

uint64_t console_log_removed(const struct console_log *l) {
        return console_log_start(l);
}

uint64_t console_log_budget(const struct console_log *l) {
        return l->budget;
}

/* Adds (or takes) bytes to the log's count and its pool's. */
static void count(struct console_log *l, uint64_t n, bool add) {
        l->held = add ? l->held + n : l->held - n;
        if (l->pool) {
                l->pool->held = add ? l->pool->held + n : l->pool->held - n;
                if (add)
                        l->pool->unchecked += n;
        }
}

/* The index's size limit: a 64th of the budget (a mark is 24 bytes). */
static uint64_t index_max(const struct console_log *l) {
        return l->budget / 64;
}

static int64_t log_now(const struct console_log *l) {
        struct timespec ts;

        if (l->clock)
                return l->clock(l->clock_userdata);
        (void) clock_gettime(CLOCK_REALTIME, &ts);
        return (int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Removes the oldest segment (never the last one), and says so. */
static int remove_first(struct console_log *l, enum console_log_removal why) {
        char name[SEGMENT_NAME_LEN + 1];
        uint64_t size = l->segments[0].size;

        segment_name(l->segments[0].start, name);
        if (unlinkat(l->dir_fd, name, 0) < 0 && errno != ENOENT)
                return negative_errno();
        count(l, size, false);
        memmove(l->segments, l->segments + 1, (l->n_segments - 1) * sizeof(*l->segments));
        l->n_segments--;
        if (l->index)
                console_index_trim(l->index, l->segments[0].start, index_max(l));
        if (l->read_fd >= 0) {
                if (l->read_index == 0)
                        l->read_fd = safe_close(l->read_fd);
                else
                        l->read_index--;
        }
        if (l->on_remove && size > 0)
                l->on_remove(l, size, why, l->remove_userdata);
        return 0;
}

/* Whole old segments go while the log holds more than its budget, or has
 * as many segments as it may. */
static void trim(struct console_log *l) {
        while (l->n_segments > 1 &&
               ((l->budget > 0 && l->held > l->budget) || l->n_segments >= CONSOLE_LOG_SEGMENTS_MAX))
                if (remove_first(l, CONSOLE_LOG_REMOVED_BUDGET) < 0)
                        return; /* tried again at the next append */
}

/* The pool's log holding the most bytes that it can give (a segment besides
 * its last): the chattiest console pays first. */
static struct console_log *pool_victim(const struct console_log_pool *p) {
        struct console_log *best = NULL;

        for (struct console_log *l = p->logs; l; l = l->pool_next)
                if (l->n_segments > 1 && (!best || l->held > best->held))
                        best = l;
        return best;
}

static uint64_t fs_avail(const struct console_log_pool *p) {
        struct statvfs st;

        if (fstatvfs(p->fs_fd, &st) < 0)
                return UINT64_MAX; /* cannot tell: the writes will */
        return (uint64_t) st.f_bavail * st.f_frsize;
}

/* Whole old segments go, from the biggest logs first, while the pool holds
 * more than its budget or the file system has less free than its floor
 * (looked at once per CONSOLE_LOG_POOL_CHECK_BYTES appended, not at every
 * append). */
static void pool_trim(struct console_log_pool *p, bool check_now) {
        uint64_t avail = UINT64_MAX;

        if (p->keep_free > 0 && (check_now || p->unchecked >= CONSOLE_LOG_POOL_CHECK_BYTES)) {
                avail = fs_avail(p);
                p->unchecked = 0;
        }
        while ((p->max_bytes > 0 && p->held > p->max_bytes) || avail < p->keep_free) {
                struct console_log *l = pool_victim(p);
                uint64_t size;

                if (!l)
                        return;
                size = l->segments[0].size;
                if (remove_first(l, CONSOLE_LOG_REMOVED_POOL) < 0)
                        return;
                if (avail != UINT64_MAX)
                        avail = avail + size < avail ? UINT64_MAX : avail + size;
        }
}

int console_log_pool_new(int fs_fd, struct console_log_pool **ret) {
        struct console_log_pool *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->fs_fd = fs_fd;
        *ret = p;
        return 0;
}

struct console_log_pool *console_log_pool_free(struct console_log_pool *p) {
        if (!p)
                return NULL;
        while (p->logs)
                console_log_set_pool(p->logs, NULL);
        free(p);
        return NULL;
}

void console_log_pool_set_limits(struct console_log_pool *p, uint64_t max_bytes, uint64_t keep_free) {
        p->max_bytes = max_bytes;
        p->keep_free = keep_free;
        pool_trim(p, true);
}

uint64_t console_log_pool_bytes(const struct console_log_pool *p) {
        return p->held;
}

void console_log_pool_limits(const struct console_log_pool *p, uint64_t *max_bytes, uint64_t *keep_free) {
        *max_bytes = p->max_bytes;
        *keep_free = p->keep_free;
}

void console_log_set_pool(struct console_log *l, struct console_log_pool *p) {
        if (l->pool) {
                if (l->pool_prev)
                        l->pool_prev->pool_next = l->pool_next;
                else
                        l->pool->logs = l->pool_next;
                if (l->pool_next)
                        l->pool_next->pool_prev = l->pool_prev;
                l->pool->held -= l->held;
                l->pool = NULL;
                l->pool_next = l->pool_prev = NULL;
        }
        if (!p)
                return;
        l->pool = p;
        l->pool_next = p->logs;
        if (p->logs)
                p->logs->pool_prev = l;
        p->logs = l;
        p->held += l->held;
        pool_trim(p, false);
}

void console_log_set_on_remove(struct console_log *l, console_log_remove_cb cb, void *userdata) {
        l->on_remove = cb;
        l->remove_userdata = userdata;
}

void console_log_set_budget(struct console_log *l, uint64_t max_bytes) {
        if (max_bytes > 0 && max_bytes < CONSOLE_LOG_BUDGET_MIN)
                max_bytes = CONSOLE_LOG_BUDGET_MIN;
        l->budget = max_bytes;
        l->segment_max = max_bytes / 4;
        trim(l);
}

void console_log_set_on_append(struct console_log *l, console_log_append_cb cb, void *userdata) {
        l->on_append = cb;
        l->userdata = userdata;
}

/* How much of chunk the last segment takes before it is full, starting a new
 * segment first if it is (a failure to start one leaves the old one to grow). */
static size_t segment_room(struct console_log *l, size_t chunk) {
        uint64_t size = last_segment(l)->size;

        if (l->segment_max == 0)
                return chunk;
        if (size >= l->segment_max) {
                if (console_log_rotate(l) < 0)
                        return chunk;
                size = 0;
        }
        return l->segment_max - size < chunk ? (size_t) (l->segment_max - size) : chunk;
}

int console_log_append(struct console_log *l, const void *data, size_t n) {
        const uint8_t *p = data;
        uint64_t first = console_log_end(l);
        size_t done = 0;
        int r = 0;

        if (n == 0)
                return 0;
        if (n > UINT64_MAX - console_log_end(l))
                return -EFBIG;

        while (done < n) {
                size_t chunk = segment_room(l, n - done);
                ssize_t k;

                if (chunk > SSIZE_MAX)
                        chunk = SSIZE_MAX;
                k = write(l->fd, p + done, chunk);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        r = negative_errno();
                        break;
                }
                if (k == 0) { /* not for a regular file; never spin on it */
                        r = -EIO;
                        break;
                }
                done += (size_t) k;
                last_segment(l)->size += (uint64_t) k;
                count(l, (uint64_t) k, true);
                l->dirty = true;
        }

        if (done > 0 && l->index) {
                uint64_t bytes, limit = index_max(l) > CONSOLE_INDEX_MIN_BYTES ? index_max(l) : CONSOLE_INDEX_MIN_BYTES;

                console_index_appended(l->index, first, log_now(l));
                /* Past its limit, and twice what the last trim left (boots
                 * and ends alone may stay above the limit: no rewrite at
                 * every append then). */
                bytes = console_index_bytes(l->index);
                if (bytes > limit && bytes >= 2 * l->index_trimmed) {
                        console_index_trim(l->index, console_log_start(l), index_max(l));
                        l->index_trimmed = console_index_bytes(l->index);
                }
        }
        trim(l);
        if (l->pool)
                pool_trim(l->pool, r == -ENOSPC || r == -EDQUOT);
        if (done > 0 && l->on_append)
                l->on_append(l, l->userdata);
        return r;
}

/* The index of the segment that would hold offset: the last one starting at
 * or before it. False when offset is below the first segment. */
static bool segment_find(const struct console_log *l, uint64_t offset, size_t *ret) {
        size_t lo = 0, hi = l->n_segments;

        if (offset < l->segments[0].start)
                return false;
        while (hi - lo > 1) { /* segments[lo].start <= offset < segments[hi].start */
                size_t mid = lo + (hi - lo) / 2;

                if (l->segments[mid].start <= offset)
                        lo = mid;
                else
                        hi = mid;
        }
        *ret = lo;
        return true;
}

static int segment_read_fd(struct console_log *l, size_t i) {
        char name[SEGMENT_NAME_LEN + 1];

        if (i == l->n_segments - 1)
                return l->fd;
        if (l->read_fd >= 0 && l->read_index == i)
                return l->read_fd;
        l->read_fd = safe_close(l->read_fd);
        segment_name(l->segments[i].start, name);
        l->read_fd = openat(l->dir_fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
        if (l->read_fd < 0)
                return negative_errno();
        l->read_index = i;
        return l->read_fd;
}

ssize_t console_log_read(struct console_log *l, uint64_t offset, void *buf, size_t max) {
        uint64_t end = console_log_end(l);
        uint8_t *p = buf;
        size_t got = 0;

        if (offset > end)
                return -ERANGE;
        if (max > SSIZE_MAX)
                max = SSIZE_MAX;

        while (got < max && offset < end) {
                const struct segment *s;
                uint64_t in_seg, avail;
                size_t i, want;
                ssize_t k;
                int fd;

                if (!segment_find(l, offset, &i))
                        return got > 0 ? (ssize_t) got : -ENODATA;
                s = &l->segments[i];
                in_seg = offset - s->start;
                if (in_seg >= s->size) /* a gap before the next segment */
                        return got > 0 ? (ssize_t) got : -ENODATA;
                if (in_seg > INT64_MAX)
                        return got > 0 ? (ssize_t) got : -EOVERFLOW;
                avail = s->size - in_seg;
                want = max - got < avail ? max - got : (size_t) avail;

                fd = segment_read_fd(l, i);
                if (fd < 0)
                        return got > 0 ? (ssize_t) got : fd;
                k = pread(fd, p + got, want, (off_t) in_seg);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return got > 0 ? (ssize_t) got : negative_errno();
                }
                if (k == 0) /* the file is shorter than it was: truncated behind our back */
                        return got > 0 ? (ssize_t) got : -EIO;
                got += (size_t) k;
                offset += (uint64_t) k;
        }
        return (ssize_t) got;
}

uint64_t console_log_seek_data(const struct console_log *l, uint64_t offset) {
        uint64_t end = console_log_end(l);

        if (offset >= end)
                return end;
        for (size_t i = 0; i < l->n_segments; i++) {
                const struct segment *s = &l->segments[i];

                if (s->size == 0)
                        continue;
                if (offset < s->start)
                        return s->start;
                if (offset - s->start < s->size)
                        return offset;
        }
        return end;
}

void console_log_set_clock(struct console_log *l, int64_t (*now)(void *userdata), void *userdata) {
        l->clock = now;
        l->clock_userdata = userdata;
}

int console_log_boot_begin(struct console_log *l, uint32_t boot) {
        return l->index ? console_index_boot(l->index, console_log_end(l), boot, log_now(l)) : -ENOENT;
}

int console_log_boot_end(struct console_log *l, uint32_t boot, int exit) {
        return l->index ? console_index_end(l->index, console_log_end(l), boot, exit, log_now(l)) : -ENOENT;
}

static uint64_t clamp_offset(const struct console_log *l, uint64_t o) {
        uint64_t start = console_log_start(l), end = console_log_end(l);

        return o < start ? start : o > end ? end : o;
}

int console_log_offset_since(struct console_log *l, int64_t t, uint64_t *ret) {
        uint64_t o;
        int r = l->index ? console_index_offset_since(l->index, t, console_log_end(l), &o) : -ENOENT;

        if (r < 0)
                return r;
        *ret = clamp_offset(l, o);
        return 0;
}

int console_log_offset_until(struct console_log *l, int64_t t, uint64_t *ret) {
        uint64_t o;
        int r = l->index ? console_index_offset_until(l->index, t, console_log_end(l), &o) : -ENOENT;

        if (r < 0)
                return r;
        *ret = clamp_offset(l, o);
        return 0;
}

int console_log_time_of(struct console_log *l, uint64_t offset, int64_t *ret, uint64_t *ret_next) {
        *ret_next = UINT64_MAX;
        return l->index ? console_index_time_of(l->index, offset, ret, ret_next) : -ENOENT;
}

int console_log_boots(struct console_log *l, struct console_index_boot **ret, size_t *n) {
        struct console_index_boot *b;
        size_t count, keep = 0;
        int r;

        if (!l->index)
                return -ENOENT;
        r = console_index_boots(l->index, console_log_end(l), &b, &count);
        if (r < 0)
                return r;
        /* Boots wholly below the log's start are gone with their bytes. */
        for (size_t i = 0; i < count; i++)
                if (b[i].start_offset >= console_log_start(l) || b[i].end_offset > console_log_start(l))
                        b[keep++] = b[i];
        *ret = b;
        *n = keep;
        return 0;
}

/* The cursor on disk: a fixed record, little-endian, with a magic and a
 * check so that a file from elsewhere or damaged reads as none. */
#define CURSOR_FILE "ring-cursor"
#define CURSOR_MAGIC UINT64_C(0x31525543444d5658) /* "XVMDCUR1" */
struct cursor_record {
        uint64_t magic;
        uint64_t ring_id;
        uint64_t end;
        uint64_t ring_cons;
        uint64_t check;
};

static uint64_t cursor_check(const struct cursor_record *c) {
        /* FNV-1a over the fields before it. */
        const uint8_t *p = (const uint8_t *) c;
        uint64_t h = UINT64_C(0xcbf29ce484222325);

        for (size_t i = 0; i < offsetof(struct cursor_record, check); i++)
                h = (h ^ p[i]) * UINT64_C(0x100000001b3);
        return h;
}

static int cursor_open(struct console_log *l) {
        if (l->cursor_fd < 0) {
                l->cursor_fd = openat(l->dir_fd, CURSOR_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
                if (l->cursor_fd < 0)
                        return negative_errno();
        }
        return 0;
}

int console_log_put_cursor(struct console_log *l, const struct console_log_cursor *c) {
        struct cursor_record rec = {
                .magic = htole64(CURSOR_MAGIC),
                .ring_id = htole64(c->ring_id),
                .end = htole64(c->end),
                .ring_cons = htole64(c->ring_cons),
        };
        ssize_t n;
        int r;

        r = cursor_open(l);
        if (r < 0)
                return r;
        rec.check = htole64(cursor_check(&rec));
        n = pwrite(l->cursor_fd, &rec, sizeof(rec), 0);
        if (n < 0)
                return negative_errno();
        return n == (ssize_t) sizeof(rec) ? 0 : -EIO;
}

int console_log_get_cursor(struct console_log *l, struct console_log_cursor *ret) {
        struct cursor_record rec;
        ssize_t n;

        if (l->cursor_fd < 0) {
                l->cursor_fd = openat(l->dir_fd, CURSOR_FILE, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
                if (l->cursor_fd < 0)
                        return negative_errno();
        }
        n = pread(l->cursor_fd, &rec, sizeof(rec), 0);
        if (n < 0)
                return negative_errno();
        if (n == 0)
                return -ENOENT;
        if (n != (ssize_t) sizeof(rec) || le64toh(rec.magic) != CURSOR_MAGIC ||
            le64toh(rec.check) != cursor_check(&rec) || le64toh(rec.ring_cons) > UINT32_MAX)
                return -EBADMSG;
        *ret = (struct console_log_cursor) {
                .ring_id = le64toh(rec.ring_id),
                .end = le64toh(rec.end),
                .ring_cons = (uint32_t) le64toh(rec.ring_cons),
        };
        return 0;
}

int console_log_sync(struct console_log *l) {
        if (!l->dirty)
                return 0;
        if (fdatasync(l->fd) < 0)
                return negative_errno();
        l->dirty = false;
        return 0;
}

int console_log_rotate(struct console_log *l) {
        char name[SEGMENT_NAME_LEN + 1];
        uint64_t start = console_log_end(l);
        struct stat st;
        int fd, r;

        if (last_segment(l)->size == 0)
                return 0;
        if (l->n_segments >= CONSOLE_LOG_SEGMENTS_MAX)
                return -E2BIG;
        r = segments_reserve(l, l->n_segments + 1);
        if (r < 0)
                return r;

        /* The old segment reaches the disk before the new one exists, so a
         * power loss can only ever shorten the last segment. */
        if (fdatasync(l->fd) < 0)
                return negative_errno();
        l->dirty = false;

        fd = segment_open_append(l->dir_fd, start, true, &st);
        if (fd < 0)
                return fd;
        if (st.st_size != 0) {
                safe_close(fd);
                return -EEXIST;
        }
        if (fsync(l->dir_fd) < 0) {
                /* Not sure the entry is on disk: take it back, or a reopen
                 * could find it and hand its offsets to the wrong segment. */
                r = negative_errno();
                safe_close(fd);
                segment_name(start, name);
                (void) unlinkat(l->dir_fd, name, 0);
                return r;
        }

        safe_close(l->fd);
        l->fd = fd;
        l->segments[l->n_segments++] = (struct segment) { .start = start, .size = 0 };
        return 0;
}

int console_log_scan(struct console_log *l, struct line_match *m, size_t max,
                     bool (*on_match)(void *arg, uint64_t offset, uint64_t end), void *arg) {
        char buf[16384];

        while (max > 0 && m->cursor < console_log_end(l)) {
                uint64_t left = console_log_end(l) - m->cursor, off, end;
                size_t want = left < sizeof(buf) ? (size_t) left : sizeof(buf), done = 0;
                ssize_t n;

                if (m->cursor < console_log_start(l))
                        line_match_restart(m, console_log_start(l));
                n = console_log_read(l, m->cursor, buf, want < max ? want : max);
                if (n == -ENODATA) {
                        line_match_restart(m, console_log_seek_data(l, m->cursor));
                        continue;
                }
                if (n <= 0)
                        return n < 0 ? (int) n : -EIO;
                max -= (size_t) n;
                while (done < (size_t) n) {
                        uint64_t before = m->cursor;

                        if (!line_match_take(m, buf + done, (size_t) n - done, &off, &end))
                                break;
                        done += (size_t) (m->cursor - before);
                        if (!on_match(arg, off, end))
                                return m->cursor < console_log_end(l);
                }
        }
        return m->cursor < console_log_end(l);
}
