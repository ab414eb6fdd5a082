/* events.c: owns the host's event log (see events.h): the ring of the last
 * EVENTS_KEEP events in memory, the files that hold them in STATE/events/,
 * the next sequence number and who watches.
 *
 * Durability: an event is stored by one write(2) of its line to the newest
 * file, opened O_APPEND. Once write() has returned, the line is in the page
 * cache and survives a crash or kill -9 of the agent; the kernel writes it
 * back within seconds. There is no fsync per event: events come in bursts
 * (a reboot loop, a flood that makes the budget remove segments, many
 * viewers taking a lease), and a disk flush for each would stall the event
 * loop that serves the consoles, for a record whose loss in a power cut
 * costs a client a relist, not a VM. A finished file is synced when the
 * next one starts.
 *
 * What a power loss could cost is the newest events, and with them the
 * sequence numbers they had: the next start would hand those numbers out
 * again, to other events, and a client resuming from one of them would
 * silently get the wrong events. So the numbers are reserved ahead, in
 * STATE/events/reserved ({"next": N, "boot_id": B}, replaced atomically and
 * synced): no seq at or past N has been handed out during boot B of the
 * host, and before one is, N moves on by EVENTS_RESERVE (a sync per
 * EVENTS_RESERVE events); a clean stop writes the exact next seq
 * ("clean": true), which the next start continues at. After a stop that
 * was not clean, a start in another boot of the host (it may have lost
 * power) continues at N, or after the newest event read back if that is
 * later; the numbers in between are a gap that a resuming client is told
 * of (a reset). A start in the same boot (the agent was killed, the page
 * cache kept every line it wrote) continues after the newest event read
 * back.
 *
 * A full disk: the event is held in memory and told to the watchers all the
 * same; the next append writes every event still unstored first, in order,
 * so the files keep no hole once the disk has room again. Only events still
 * unstored when the agent dies are lost (and, in the same boot, their
 * numbers given out again: the journal said storing failed).
 *
 * Reading back: each file's lines in order; a line that is not a JSON
 * object with a seq above the one before it is ignored (a tail torn by
 * kill -9 or by a full disk, or bytes a power loss left as zeros). The
 * newest file is cut after its last newline, so that the next line does not
 * join a torn one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "events.h"
#include "fileio.h"
#include "instance.h"
#include "log.h"
#include "timestamp.h"

/* Sequence numbers reserved on disk at a time. */
#define EVENTS_RESERVE 1024
/* A file is read back up to this size: more than its events can fill. */
#define EVENTS_FILE_READ_MAX ((size_t) EVENTS_FILE_EVENTS * EVENTS_LINE_MAX)
#define FILE_NAME_LEN 26 /* 20 digits and ".jsonl" */

struct entry {
        uint64_t seq;
        char *text;     /* the event's JSON, without a newline */
        size_t len;
};

struct events {
        sd_event *event;                /* NULL: watchers are never told (tests) */
        sd_event_source *tell;          /* a defer source, on while watchers are yet to hear */
        int dir_fd;                     /* STATE/events */
        uint64_t files[EVENTS_FILES];   /* the files on disk, by the seq in their name, oldest first */
        unsigned n_files;
        int fd;                         /* the newest file, -1 while no file takes appends */
        unsigned file_lines;            /* lines in it */
        uint64_t next;                  /* the seq the next event gets */
        uint64_t reserved;              /* no seq at or past this was handed out (STATE/events/reserved) */
        uint64_t stored;                /* the newest event on disk (every one before it is, or was lost) */
        struct entry ring[EVENTS_KEEP]; /* the events held, oldest at head */
        size_t head, n;
        uint64_t appended, unstored;
        bool store_failing;             /* said once in the journal, until storing works again */
        bool reserve_failing;
        struct events_watch *watches;
        unsigned n_watches;
};

static void file_name(uint64_t first, char buf[static FILE_NAME_LEN + 1]) {
        snprintf(buf, FILE_NAME_LEN + 1, "%020" PRIu64 ".jsonl", first);
}

/* Whether name is a file of the log, and the seq it is named by. */
static bool parse_file_name(const char *name, uint64_t *ret) {
        uint64_t n = 0;

        if (strlen(name) != FILE_NAME_LEN || strcmp(name + 20, ".jsonl") != 0)
                return false;
        for (int i = 0; i < 20; i++) {
                if (name[i] < '0' || name[i] > '9' || n > (UINT64_MAX - 9) / 10)
                        return false;
                n = n * 10 + (uint64_t) (name[i] - '0');
        }
        *ret = n;
        return true;
}

/* Adds an event to the ring (taking text), the oldest going when it is full. */
static void ring_push(struct events *e, uint64_t seq, char *text, size_t len) {
        struct entry *x;

        if (e->n == EVENTS_KEEP) {
                x = &e->ring[e->head];
                free(x->text);
                e->head = (e->head + 1) % EVENTS_KEEP;
                e->n--;
        }
        x = &e->ring[(e->head + e->n) % EVENTS_KEEP];
        *x = (struct entry) { .seq = seq, .text = text, .len = len };
        e->n++;
}

static const struct entry *ring_at(const struct events *e, size_t i) {
        return &e->ring[(e->head + i) % EVENTS_KEEP];
}

/* Moves the reservation past seq, if it is not already. */
/* clean: next is exact (a clean stop), not a reservation ahead. */
static int write_reserved(struct events *e, uint64_t next, bool clean) {
        json_t *j = json_pack("{s:I,s:s,s:b}", "next", (json_int_t) next, "boot_id", instance_boot_id(), "clean", clean);
        int r = j ? json_write_atomic(e->dir_fd, "reserved", j) : -ENOMEM;

        json_decref(j);
        return r;
}

static void reserve(struct events *e, uint64_t seq) {
        int r;

        if (seq < e->reserved)
                return;
        r = write_reserved(e, seq + EVENTS_RESERVE, false);
        if (r >= 0) {
                e->reserved = seq + EVENTS_RESERVE;
                e->reserve_failing = false;
                return;
        }
        /* Carry on: only a power loss before the events reach the disk
         * could then give their numbers out again. */
        if (!e->reserve_failing)
                log_warning_errno(r, "Reserving event sequence numbers in events/reserved failed (after a power loss "
                                  "some could be given out again), ignoring");
        e->reserve_failing = true;
}

/* Reads one file back into the ring; *last is the newest seq so far.
 * Returns the number of lines the file holds, and cuts the file after its
 * last newline when cut is set. */
static unsigned read_file(struct events *e, uint64_t first, uint64_t *last, bool cut, unsigned *damaged) {
        char name[FILE_NAME_LEN + 1];
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t end = 0, lines = 0;
        struct stat st;
        ssize_t n;

        file_name(first, name);
        fd = openat(e->dir_fd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
                return 0;
        buf = malloc(EVENTS_FILE_READ_MAX);
        if (!buf)
                return 0;
        n = read_full(fd, buf, EVENTS_FILE_READ_MAX);
        if (n <= 0)
                return 0;
        for (size_t i = 0; i < (size_t) n;) {
                char *nl = memchr(buf + i, '\n', (size_t) n - i);
                size_t len;
                json_t *j;
                json_int_t seq;

                if (!nl)
                        break; /* a torn last line */
                len = (size_t) (nl - (buf + i));
                lines++;
                j = len > 0 && len < EVENTS_LINE_MAX ? json_loadb(buf + i, len, JSON_REJECT_DUPLICATES, NULL) : NULL;
                seq = json_integer_value(json_object_get(j, "seq"));
                if (json_is_object(j) && seq > 0 && (uint64_t) seq > *last) {
                        char *text = strndup(buf + i, len);

                        if (text) {
                                ring_push(e, (uint64_t) seq, text, len);
                                *last = (uint64_t) seq;
                        }
                } else
                        (*damaged)++;
                json_decref(j);
                i += len + 1;
                end = i;
        }
        if (cut && end < (size_t) n && ftruncate(fd, (off_t) end) < 0)
                log_warning_errno(negative_errno(), "Cutting the torn line off events/%s failed, ignoring", name);
        return (unsigned) lines;
}

static int compare_u64(const void *a, const void *b) {
        uint64_t x = *(const uint64_t *) a, y = *(const uint64_t *) b;

        return x < y ? -1 : x > y;
}

/* The files of the log, oldest first; those past the newest EVENTS_FILES
 * are removed (a log from an agent that kept more). */
static int list_files(struct events *e) {
        _cleanup_close_ int fd = dup(e->dir_fd);
        uint64_t found[EVENTS_FILES * 4];
        size_t n = 0, skip;
        struct dirent *de;
        DIR *d;

        if (fd < 0)
                return negative_errno();
        d = fdopendir(fd);
        if (!d)
                return negative_errno();
        TAKE_FD(fd);
        rewinddir(d);
        while ((de = readdir(d))) {
                uint64_t seq;

                if (!parse_file_name(de->d_name, &seq))
                        continue;
                if (n == ELEMENTSOF(found)) {
                        /* More than expected: the oldest found so far goes now. */
                        char name[FILE_NAME_LEN + 1];

                        qsort(found, n, sizeof(*found), compare_u64);
                        file_name(found[0], name);
                        (void) unlinkat(e->dir_fd, name, 0);
                        memmove(found, found + 1, (n - 1) * sizeof(*found));
                        n--;
                }
                found[n++] = seq;
        }
        closedir(d);
        qsort(found, n, sizeof(*found), compare_u64);
        skip = n > EVENTS_FILES ? n - EVENTS_FILES : 0;
        for (size_t i = 0; i < skip; i++) {
                char name[FILE_NAME_LEN + 1];

                file_name(found[i], name);
                (void) unlinkat(e->dir_fd, name, 0);
        }
        e->n_files = (unsigned) (n - skip);
        memcpy(e->files, found + skip, e->n_files * sizeof(*found));
        return 0;
}

static int on_tell(sd_event_source *s _unused_, void *userdata) {
        struct events *e = userdata;

        for (struct events_watch *w = e->watches, *next; w; w = next) {
                next = w->next; /* on_change may unwatch */
                w->on_change(w, false);
        }
        return 0;
}

int events_open(sd_event *event, int state_fd, struct events **ret) {
        struct events *e = calloc(1, sizeof(*e));
        unsigned damaged = 0, lines = 0;
        const char *boot;
        uint64_t last = 0;
        json_t *j;
        int r;

        if (!e)
                return -ENOMEM;
        e->fd = e->dir_fd = -1;
        e->event = event ? sd_event_ref(event) : NULL;
        r = open_dir_at(state_fd, "events", &e->dir_fd);
        if (r >= 0)
                r = list_files(e);
        if (r < 0) {
                events_free(e);
                return r;
        }
        for (unsigned i = 0; i < e->n_files; i++)
                lines = read_file(e, e->files[i], &last, i + 1 == e->n_files, &damaged);
        if (damaged > 0)
                log_notice("The event log held %u damaged lines (torn by a crash or a full disk), ignored.", damaged);

        e->next = last + 1;
        j = json_read_at(e->dir_fd, "reserved");
        boot = json_string_value(json_object_get(j, "boot_id"));
        if (json_is_true(json_object_get(j, "clean")) &&
            (uint64_t) json_integer_value(json_object_get(j, "next")) > e->next)
                /* A clean stop whose last events a full disk kept out of
                 * the files: their numbers stay given out. */
                e->next = (uint64_t) json_integer_value(json_object_get(j, "next"));
        else if (json_integer_value(json_object_get(j, "next")) > 0 && (!boot || !*boot || !*instance_boot_id() || strcmp(boot, instance_boot_id()) != 0) &&
                 (uint64_t) json_integer_value(json_object_get(j, "next")) > e->next) {
                /* Another boot of the host: numbers that may have been
                 * given out, then lost with the page cache. */
                e->next = (uint64_t) json_integer_value(json_object_get(j, "next"));
                log_notice("The event log continues at %" PRIu64 " (the newest event it holds is %" PRIu64
                           "): the host may have lost power before the rest reached the disk.", e->next, last);
        }
        json_decref(j);
        e->stored = e->next - 1;
        e->reserved = 0; /* the next event reserves again, from where this start stands */

        /* The newest file takes appends while it has room. */
        if (e->n_files > 0 && lines < EVENTS_FILE_EVENTS) {
                char name[FILE_NAME_LEN + 1];

                file_name(e->files[e->n_files - 1], name);
                e->fd = openat(e->dir_fd, name, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
                e->file_lines = lines;
        }
        if (event) {
                r = sd_event_add_defer(event, &e->tell, on_tell, e);
                if (r >= 0)
                        r = sd_event_source_set_enabled(e->tell, SD_EVENT_OFF);
                if (r < 0) {
                        events_free(e);
                        return r;
                }
        }
        *ret = e;
        return 0;
}

static void store_pending(struct events *e);

struct events *events_free(struct events *e) {
        if (!e)
                return NULL;
        /* A clean stop: what is unstored gets a last try, the file goes to
         * disk, and the next start continues exactly here. */
        if (e->dir_fd >= 0 && e->appended > 0) {
                store_pending(e);
                if (e->fd >= 0)
                        (void) fdatasync(e->fd);
                if (write_reserved(e, e->next, true) < 0 && e->reserved == 0)
                        log_warning("Recording the next event sequence number failed, ignoring");
        }
        e->tell = sd_event_source_disable_unref(e->tell);
        while (e->watches) {
                struct events_watch *w = e->watches;

                e->watches = w->next;
                w->events = NULL;
                w->next = NULL;
                w->on_change(w, true);
        }
        for (size_t i = 0; i < e->n; i++)
                free(e->ring[(e->head + i) % EVENTS_KEEP].text);
        safe_close(e->fd);
        safe_close(e->dir_fd);
        sd_event_unref(e->event);
        free(e);
        return NULL;
}

/* Starts a new file for the event seq: the one before synced and closed,
 * the oldest past EVENTS_FILES removed. */
static int start_file(struct events *e, uint64_t seq) {
        char name[FILE_NAME_LEN + 1];
        int fd;

        if (e->fd >= 0) {
                (void) fdatasync(e->fd);
                e->fd = safe_close(e->fd);
        }
        file_name(seq, name);
        /* A file of that name holds no event (its seqs would be below
         * next): one made by a start that died before writing to it. */
        fd = openat(e->dir_fd, name, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0)
                return negative_errno();
        if (e->n_files > 0 && e->files[e->n_files - 1] == seq)
                e->n_files--;
        while (e->n_files >= EVENTS_FILES) {
                file_name(e->files[0], name);
                if (unlinkat(e->dir_fd, name, 0) < 0 && errno != ENOENT)
                        log_warning_errno(negative_errno(), "Removing the old event file %s failed, ignoring", name);
                memmove(e->files, e->files + 1, (e->n_files - 1) * sizeof(*e->files));
                e->n_files--;
        }
        e->files[e->n_files++] = seq;
        e->fd = fd;
        e->file_lines = 0;
        return 0;
}

/* Writes the line, all of it or nothing: a short write (a full disk) is cut
 * off again, and if even that fails the file takes no more lines (the torn
 * one is ignored when read back). */
static int store(struct events *e, uint64_t seq, const char *text, size_t len) {
        size_t done = 0;
        struct stat st;
        char line[EVENTS_LINE_MAX + 1];
        int r;

        if (e->fd < 0 || e->file_lines >= EVENTS_FILE_EVENTS) {
                r = start_file(e, seq);
                if (r < 0)
                        return r;
        }
        memcpy(line, text, len);
        line[len] = '\n';
        if (fstat(e->fd, &st) < 0)
                return negative_errno();
        while (done < len + 1) {
                ssize_t n = write(e->fd, line + done, len + 1 - done);

                if (n < 0 && errno == EINTR)
                        continue;
                if (n <= 0) {
                        r = n < 0 ? negative_errno() : -EIO;
                        if (done > 0 && ftruncate(e->fd, st.st_size) < 0)
                                e->fd = safe_close(e->fd);
                        return r;
                }
                done += (size_t) n;
        }
        e->file_lines++;
        return 0;
}

/* Stores every event not yet on disk, oldest first, up to the first that
 * fails. One that left the ring unstored is lost. */
static void store_pending(struct events *e) {
        int r = 0;

        while (e->stored + 1 < e->next) {
                uint64_t seq = e->stored + 1, back = e->next - seq; /* 1: the newest */
                const struct entry *x;

                if (back > e->n) {
                        e->stored = e->next - 1 - e->n;
                        continue;
                }
                x = ring_at(e, e->n - back);
                r = store(e, x->seq, x->text, x->len);
                if (r < 0)
                        break;
                e->stored = seq;
        }
        if (r < 0 && !e->store_failing) {
                e->unstored++;
                log_warning_errno(r, "Storing events in events/ failed: they are streamed all the same and stored "
                                  "once the disk takes them, but a restart before then loses them (counted, "
                                  "said once), ignoring");
                e->store_failing = true;
        } else if (r < 0)
                e->unstored++;
        else if (e->store_failing) {
                log_notice("Events are stored again (%" PRIu64 " could not be at first).", e->unstored);
                e->store_failing = false;
        }
}

uint64_t events_append(struct events *e, const char *type, const char *vm, json_t *fields) {
        char when[TIMESTAMP_MAX];
        struct timespec ts;
        uint64_t seq = e->next;
        char *text;
        size_t len;
        json_t *j;

        clock_gettime(CLOCK_REALTIME, &ts);
        timestamp_format((int64_t) ts.tv_sec * 1000000000LL + ts.tv_nsec, when);
        j = json_pack("{s:I,s:s,s:s}", "seq", (json_int_t) seq, "time", when, "type", type);
        if (j && vm)
                json_object_set_new(j, "vm", json_string(vm));
        if (j && fields)
                json_object_update_missing(j, fields); /* seq, time, type and vm are the log's */
        json_decref(fields);
        text = j ? json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
        json_decref(j);
        len = text ? strlen(text) : 0;
        if (!text || len >= EVENTS_LINE_MAX) {
                log_error("The event %s%s%s could not be recorded (%s), ignoring", type, vm ? " of VM " : "",
                          vm ? vm : "", text ? "too long" : "out of memory");
                free(text);
                return 0;
        }

        reserve(e, seq);
        e->next++;
        e->appended++;
        ring_push(e, seq, text, len);
        store_pending(e);
        if (e->tell && e->watches)
                (void) sd_event_source_set_enabled(e->tell, SD_EVENT_ONESHOT);
        return seq;
}

uint64_t events_first(const struct events *e) {
        return e->n > 0 ? ring_at(e, 0)->seq : e->next;
}

uint64_t events_next(const struct events *e) {
        return e->next;
}

size_t events_read(const struct events *e, uint64_t *seq, char *buf, size_t size) {
        size_t lo = 0, hi = e->n;
        const struct entry *x;

        /* The ring is in seq order (with gaps only where a start jumped
         * past numbers it could not account for). */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;

                if (ring_at(e, mid)->seq < *seq)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo == e->n)
                return 0;
        x = ring_at(e, lo);
        if (x->len >= size)
                return 0; /* not with a buffer of EVENTS_LINE_MAX */
        memcpy(buf, x->text, x->len);
        buf[x->len] = '\0';
        *seq = x->seq;
        return x->len;
}

int events_cursor_init(const struct events *e, struct events_cursor *c, bool from_now, uint64_t since) {
        if (!from_now && since >= e->next)
                return -ERANGE;
        *c = (struct events_cursor) { .next = from_now ? e->next : since + 1 };
        return 0;
}

enum events_step events_cursor_step(const struct events *e, struct events_cursor *c, char *buf, size_t size,
                                    size_t *ret_len, uint64_t *ret_since, uint64_t *ret_next) {
        uint64_t seq = c->next;
        size_t n = events_read(e, &seq, buf, size);
        bool started = c->started;

        c->started = true;
        if (n == 0)
                seq = e->next; /* none held from its cursor on: the next to come */
        if (seq > c->next) {
                *ret_since = c->next - 1;
                *ret_next = seq;
                /* Once under way, events can leave only by being
                 * overwritten: the reader fell behind. */
                if (started && c->next < events_first(e))
                        return EVENTS_STEP_LAGGED;
                c->next = seq;
                return EVENTS_STEP_RESET;
        }
        if (n == 0)
                return EVENTS_STEP_NONE;
        *ret_len = n;
        c->next = seq + 1;
        return EVENTS_STEP_EVENT;
}

int events_watch(struct events *e, struct events_watch *w) {
        if (e->n_watches >= EVENTS_WATCHERS_MAX)
                return -EMFILE;
        w->events = e;
        w->next = e->watches;
        e->watches = w;
        e->n_watches++;
        return 0;
}

void events_unwatch(struct events_watch *w) {
        struct events *e = w->events;

        if (!e)
                return;
        for (struct events_watch **p = &e->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        e->n_watches--;
                        break;
                }
        w->events = NULL;
        w->next = NULL;
}

unsigned events_watchers(const struct events *e) {
        return e->n_watches;
}

uint64_t events_appended(const struct events *e) {
        return e->appended;
}

uint64_t events_unstored(const struct events *e) {
        return e->unstored;
}
