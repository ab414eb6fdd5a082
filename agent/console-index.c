/* console-index.c: owns the time index of one console log (see
 * console-index.h). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "console-index.h"

#define INDEX_FILE "index"
#define INDEX_TMP "index.tmp"

/* A flag of a record's kind: the marks after it were thinned out, so the
 * bytes from it to the next record may have come later than a second after
 * it (up to the next record's time). */
#define KIND_COARSE 0x100
#define KIND(r) ((r)->kind & 0xff)

/* On disk, little-endian. */
struct disk_record {
        uint64_t offset;
        int64_t time;
        uint32_t boot;
        uint16_t kind;
        int16_t exit;
};
_Static_assert(sizeof(struct disk_record) == 24, "24-byte records");

struct record {
        uint64_t offset;
        int64_t time;
        uint32_t boot;
        uint16_t kind;
        int16_t exit;
};

struct console_index {
        int dir_fd;             /* borrowed */
        int fd;
        uint64_t n;             /* records in the file */
        bool have_last;
        struct record last;
        /* The file's boot and end records, in its order: GET .../boots and
         * ?boot=N are answered from memory, without reading the file. */
        struct record *boots;
        size_t n_boots, boots_cap;
        bool boots_stale;       /* memory failed them: read the file again when asked */
};

static int read_all(struct console_index *x, struct record **ret);

static bool is_boot_or_end(const struct record *r) {
        return KIND(r) == CONSOLE_INDEX_BOOT || KIND(r) == CONSOLE_INDEX_END;
}

static int remember_boot(struct console_index *x, const struct record *r) {
        if (x->n_boots == x->boots_cap) {
                size_t cap = x->boots_cap ? 2 * x->boots_cap : 16;
                struct record *b = reallocarray(x->boots, cap, sizeof(*b));

                if (!b)
                        return -ENOMEM;
                x->boots = b;
                x->boots_cap = cap;
        }
        x->boots[x->n_boots++] = *r;
        return 0;
}

/* The boot and end records of recs[0, n), remembered instead of those of
 * before (or, without memory for them, marked to be read again). */
static void remember_boots(struct console_index *x, const struct record *recs, uint64_t n) {
        x->n_boots = 0;
        x->boots_stale = false;
        for (uint64_t i = 0; i < n; i++)
                if (is_boot_or_end(&recs[i]) && remember_boot(x, &recs[i]) < 0) {
                        x->boots_stale = true;
                        return;
                }
}

/* Reads the boots from the file again, if memory failed them before. */
static int refresh_boots(struct console_index *x) {
        struct record *all = NULL;
        int r;

        if (!x->boots_stale)
                return 0;
        r = read_all(x, &all);
        if (r < 0)
                return r;
        remember_boots(x, all, x->n);
        free(all);
        return x->boots_stale ? -ENOMEM : 0;
}

static void to_disk(const struct record *r, struct disk_record *d) {
        *d = (struct disk_record) {
                .offset = htole64(r->offset),
                .time = (int64_t) htole64((uint64_t) r->time),
                .boot = htole32(r->boot),
                .kind = htole16(r->kind),
                .exit = (int16_t) htole16((uint16_t) r->exit),
        };
}

static void from_disk(const struct disk_record *d, struct record *r) {
        *r = (struct record) {
                .offset = le64toh(d->offset),
                .time = (int64_t) le64toh((uint64_t) d->time),
                .boot = le32toh(d->boot),
                .kind = le16toh(d->kind),
                .exit = (int16_t) le16toh((uint16_t) d->exit),
        };
}

static int read_record(struct console_index *x, uint64_t i, struct record *ret) {
        struct disk_record d;
        ssize_t k = pread(x->fd, &d, sizeof(d), (off_t) (i * sizeof(d)));

        if (k < 0)
                return negative_errno();
        if (k != (ssize_t) sizeof(d))
                return -EIO;
        from_disk(&d, ret);
        return 0;
}

static int open_file(struct console_index *x) {
        struct stat st;

        x->fd = openat(x->dir_fd, INDEX_FILE, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (x->fd < 0)
                return negative_errno();
        if (fstat(x->fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode))
                return -EBADMSG;
        x->n = (uint64_t) st.st_size / sizeof(struct disk_record);
        /* A torn last record (a power loss) is dropped. */
        if ((uint64_t) st.st_size % sizeof(struct disk_record) != 0 &&
            ftruncate(x->fd, (off_t) (x->n * sizeof(struct disk_record))) < 0)
                return negative_errno();
        x->have_last = x->n > 0 && read_record(x, x->n - 1, &x->last) == 0;
        return 0;
}

/* Opens the file and remembers its boots (read once, here; if that fails,
 * when they are first asked for). */
static int load(struct console_index *x) {
        int r = open_file(x);

        if (r < 0)
                return r;
        x->boots_stale = true;
        (void) refresh_boots(x);
        return 0;
}

int console_index_open(int dir_fd, struct console_index **ret) {
        _cleanup_(console_index_freep) struct console_index *x = calloc(1, sizeof(*x));
        int r;

        if (!x)
                return -ENOMEM;
        x->dir_fd = dir_fd;
        x->fd = -1;
        r = load(x);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(x);
        return 0;
}

struct console_index *console_index_free(struct console_index *x) {
        if (!x)
                return NULL;
        safe_close(x->fd);
        free(x->boots);
        free(x);
        return NULL;
}

uint64_t console_index_bytes(const struct console_index *x) {
        return x->n * sizeof(struct disk_record);
}

static int append(struct console_index *x, struct record *r) {
        struct disk_record d;
        ssize_t k;

        /* To the millisecond, as the API writes times: a time a client read
         * off a stamp finds the very record it came from. */
        r->time -= r->time % 1000000;
        /* Sorted by offset and by time, whatever the clock does. */
        if (x->have_last) {
                if (r->time < x->last.time)
                        r->time = x->last.time;
                if (r->offset < x->last.offset)
                        return -EINVAL;
        }
        to_disk(r, &d);
        k = pwrite(x->fd, &d, sizeof(d), (off_t) (x->n * sizeof(d)));
        if (k < 0)
                return negative_errno();
        if (k != (ssize_t) sizeof(d))
                return -EIO; /* the torn record is dropped at the next open, or overwritten by the next */
        x->n++;
        x->last = *r;
        x->have_last = true;
        /* Without memory for it, the boot is in the file: the boots are
         * read from there when next asked for. */
        if (is_boot_or_end(r) && !x->boots_stale && remember_boot(x, r) < 0)
                x->boots_stale = true;
        return 0;
}

void console_index_appended(struct console_index *x, uint64_t offset, int64_t now) {
        if (x->have_last && now - x->last.time < CONSOLE_INDEX_MARK_NS)
                return;
        (void) append(x, &(struct record) { .offset = offset, .time = now, .kind = CONSOLE_INDEX_MARK, .exit = -1 });
}

int console_index_boot(struct console_index *x, uint64_t offset, uint32_t boot, int64_t now) {
        return append(x, &(struct record) { .offset = offset, .time = now, .boot = boot, .kind = CONSOLE_INDEX_BOOT,
                                            .exit = -1 });
}

int console_index_end(struct console_index *x, uint64_t offset, uint32_t boot, int exit, int64_t now) {
        return append(x, &(struct record) { .offset = offset, .time = now, .boot = boot, .kind = CONSOLE_INDEX_END,
                                            .exit = (int16_t) exit });
}

/* The number of leading records for which pred(record, key) holds (pred
 * holds for a prefix of the file): a binary search. -errno on a read error. */
static int64_t count_prefix(struct console_index *x, bool (*pred)(const struct record *r, int64_t key), int64_t key) {
        uint64_t lo = 0, hi = x->n; /* pred holds below lo, fails at hi and above */

        while (lo < hi) {
                uint64_t mid = lo + (hi - lo) / 2;
                struct record r;
                int k = read_record(x, mid, &r);

                if (k < 0)
                        return k;
                if (pred(&r, key))
                        lo = mid + 1;
                else
                        hi = mid;
        }
        return (int64_t) lo;
}

static bool time_le(const struct record *r, int64_t t) {
        return r->time <= t;
}

static bool offset_le(const struct record *r, int64_t o) {
        return r->offset <= (uint64_t) o;
}

static bool offset_lt(const struct record *r, int64_t o) {
        return r->offset < (uint64_t) o;
}

/* The offset of record i, or end past the last one. */
static int offset_of(struct console_index *x, uint64_t i, uint64_t end, uint64_t *ret) {
        struct record r;
        int k;

        if (i == x->n) {
                *ret = end;
                return 0;
        }
        k = read_record(x, i, &r);
        if (k < 0)
                return k;
        *ret = r.offset;
        return 0;
}

int console_index_offset_since(struct console_index *x, int64_t t, uint64_t end, uint64_t *ret) {
        struct record r;
        int64_t i;
        int k;

        if (x->n == 0)
                return -ENOENT;
        i = count_prefix(x, time_le, t); /* records [0, i) are at or before t */
        if (i < 0)
                return (int) i;
        if (i == 0) {
                *ret = 0; /* everything the index knows came after t (and what it does not, too) */
                return 0;
        }
        k = read_record(x, (uint64_t) i - 1, &r);
        if (k < 0)
                return k;
        if (t - r.time < CONSOLE_INDEX_MARK_NS || (r.kind & KIND_COARSE)) {
                *ret = r.offset; /* what came from it on may be after t: from its first byte */
                return 0;
        }
        return offset_of(x, (uint64_t) i, end, ret);
}

int console_index_offset_until(struct console_index *x, int64_t t, uint64_t end, uint64_t *ret) {
        int64_t i;

        if (x->n == 0)
                return -ENOENT;
        i = count_prefix(x, time_le, t);
        if (i < 0)
                return (int) i;
        return offset_of(x, (uint64_t) i, end, ret);
}

int console_index_time_of(struct console_index *x, uint64_t offset, int64_t *ret, uint64_t *ret_next) {
        struct record r;
        int64_t i;
        int k;

        if (offset > INT64_MAX)
                return -ENOENT;
        i = count_prefix(x, offset_le, (int64_t) offset);
        if (i < 0)
                return (int) i;
        *ret_next = UINT64_MAX;
        if ((uint64_t) i < x->n) {
                k = read_record(x, (uint64_t) i, &r);
                if (k < 0)
                        return k;
                *ret_next = r.offset;
        }
        if (i == 0)
                return -ENOENT;
        k = read_record(x, (uint64_t) i - 1, &r);
        if (k < 0)
                return k;
        *ret = r.time;
        return 0;
}

/* Reads every record (at most max_bytes worth) into a new array. */
static int read_all(struct console_index *x, struct record **ret) {
        struct disk_record *d;
        struct record *all;
        ssize_t k;

        d = malloc(x->n * sizeof(*d) + 1);
        all = malloc(x->n * sizeof(*all) + 1);
        if (!d || !all) {
                free(d);
                free(all);
                return -ENOMEM;
        }
        k = x->n ? pread(x->fd, d, x->n * sizeof(*d), 0) : 0;
        if (k < 0 || (uint64_t) k != x->n * sizeof(*d)) {
                int r = k < 0 ? negative_errno() : -EIO;

                free(d);
                free(all);
                return r;
        }
        for (uint64_t i = 0; i < x->n; i++)
                from_disk(&d[i], &all[i]);
        free(d);
        *ret = all;
        return 0;
}

int console_index_boots(struct console_index *x, uint64_t end, struct console_index_boot **ret, size_t *n) {
        struct console_index_boot *boots = NULL;
        size_t count = 0;
        int r = refresh_boots(x);

        if (r < 0)
                return r;
        for (size_t i = 0; i < x->n_boots; i++)
                if (KIND(&x->boots[i]) == CONSOLE_INDEX_BOOT)
                        count++; /* at most this many */
        boots = calloc(count + 1, sizeof(*boots));
        if (!boots)
                return -ENOMEM;
        count = 0;
        for (size_t i = 0; i < x->n_boots; i++) {
                const struct record *rec = &x->boots[i];

                if (KIND(rec) == CONSOLE_INDEX_BOOT && count > 0 && boots[count - 1].boot == rec->boot &&
                    boots[count - 1].end_ns == 0) {
                        /* A start that failed, and the one that followed. */
                        boots[count - 1].start_offset = rec->offset;
                        boots[count - 1].start_ns = rec->time;
                } else if (KIND(rec) == CONSOLE_INDEX_BOOT) {
                        /* A boot that never recorded its end ended where the next began. */
                        if (count > 0 && boots[count - 1].end_ns == 0)
                                boots[count - 1].end_offset = rec->offset;
                        boots[count++] = (struct console_index_boot) {
                                .boot = rec->boot,
                                .start_offset = rec->offset,
                                .end_offset = end,
                                .start_ns = rec->time,
                                .exit = -1,
                        };
                } else if (KIND(rec) == CONSOLE_INDEX_END && count > 0 && boots[count - 1].boot == rec->boot &&
                           boots[count - 1].end_ns == 0) {
                        boots[count - 1].end_offset = rec->offset;
                        boots[count - 1].end_ns = rec->time;
                        boots[count - 1].exit = rec->exit;
                }
        }
        *ret = boots;
        *n = count;
        return 0;
}

/* Writes records [0, n) as the whole new file. */
static int rewrite(struct console_index *x, const struct record *recs, size_t n) {
        struct disk_record *d = malloc(n * sizeof(*d) + 1);
        int fd, r = 0;
        ssize_t k;

        if (!d)
                return -ENOMEM;
        for (size_t i = 0; i < n; i++)
                to_disk(&recs[i], &d[i]);
        fd = openat(x->dir_fd, INDEX_TMP, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                free(d);
                return negative_errno();
        }
        k = n ? write(fd, d, n * sizeof(*d)) : 0;
        free(d);
        if (k < 0 || (size_t) k != n * sizeof(struct disk_record))
                r = k < 0 ? negative_errno() : -EIO;
        safe_close(fd);
        if (r >= 0 && renameat(x->dir_fd, INDEX_TMP, x->dir_fd, INDEX_FILE) < 0)
                r = negative_errno();
        if (r < 0) {
                (void) unlinkat(x->dir_fd, INDEX_TMP, 0);
                return r;
        }
        x->fd = safe_close(x->fd);
        r = open_file(x);
        if (r < 0)
                return r;
        remember_boots(x, recs, n);
        return 0;
}

void console_index_trim(struct console_index *x, uint64_t start, uint64_t max_bytes) {
        uint64_t max_records, below;
        struct record *all = NULL;
        size_t keep = 0;
        int64_t i;

        if (max_bytes < CONSOLE_INDEX_MIN_BYTES)
                max_bytes = CONSOLE_INDEX_MIN_BYTES;
        max_records = max_bytes / sizeof(struct disk_record);
        if (start > INT64_MAX)
                return;
        i = count_prefix(x, offset_lt, (int64_t) start);
        if (i < 0)
                return;
        /* Records below start go, but for the last one (it still dates the
         * bytes from start on) and the beginning of the boot start is in. */
        below = i > 0 ? (uint64_t) i - 1 : 0;
        /* Rewrite only for a good reason: too big, or half of it obsolete. */
        if (x->n <= max_records && (below < 64 || below < x->n / 2))
                return;
        if (read_all(x, &all) < 0)
                return;
        if (i > 0) {
                int64_t boot = -1;

                for (int64_t k = 0; k < i; k++)
                        if (KIND(&all[k]) == CONSOLE_INDEX_BOOT)
                                boot = k;
                        else if (KIND(&all[k]) == CONSOLE_INDEX_END && boot >= 0 && all[k].boot == all[boot].boot)
                                boot = -1; /* that boot ended below start: gone with its bytes */
                if (boot >= 0 && boot < i - 1) {
                        all[keep++] = all[boot];
                        all[keep - 1].kind |= KIND_COARSE; /* what follows it was dropped */
                }
        }
        for (uint64_t k = below; k < x->n; k++)
                all[keep++] = all[k];
        /* Thin to half the limit: every other mark goes, oldest first, the
         * last record always stays; the record before a dropped one becomes
         * coarse. */
        while (keep > max_records / 2) {
                size_t out = 0, before = keep;
                bool drop = false;

                for (size_t k = 0; k < keep; k++) {
                        bool mark = KIND(&all[k]) == CONSOLE_INDEX_MARK && k > 0 && k + 1 < keep;

                        if (mark && (drop = !drop)) {
                                all[out - 1].kind |= KIND_COARSE;
                                continue;
                        }
                        all[out++] = all[k];
                }
                keep = out;
                if (keep == before)
                        break; /* only boots and ends left */
        }
        (void) rewrite(x, all, keep);
        free(all);
}
