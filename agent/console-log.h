/* console-log.h: owns the log of one VM console: a directory of segment files,
 * an fd on its directory and on its last segment, and the list of segments.
 * Every byte the guest wrote gets a stable offset, counted from 0 since the
 * log was first created, that survives close, reopen and agent restarts.
 *
 * On disk: DIR/ (mode 0700) holds segments named by the offset of their first
 * byte, "%020llu.log" (mode 0600), nothing else that matters. Segment k holds
 * offsets [start_k, start_k + size_k); only the last one grows. Other files
 * in DIR are ignored, so later formats can add their own.
 *
 * Durability: an append is a write(2) that has returned, so the bytes are in
 * the page cache and survive a crash of the agent; they reach the disk when
 * the kernel writes them back, or at console_log_sync(), console_log_rotate()
 * and console_log_free(). A power loss may lose the tail of the last segment
 * since the last sync, never bytes of an earlier segment (rotation syncs it).
 * One fdatasync per append would cost a disk flush per guest line.
 *
 * Budget: with console_log_set_budget(), the log holds at most about that
 * many bytes: a segment ends once it holds a quarter of the budget, and past
 * the budget whole segments go, oldest first. Offsets never change; the
 * first offset still held (console_log_start()) moves up, and every byte
 * below it was removed by the budget (console_log_removed()).
 *
 * Not thread-safe: one owner, e.g. the event loop. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "console-index.h"
#include "macro.h"

struct console_log;

/* A guard against a loop of reboots making segments without end: past it
 * the oldest segments go, as past the byte budget. */
#define CONSOLE_LOG_SEGMENTS_MAX 4096

/* The byte budget (console_log_set_budget()): at least this much, and each
 * segment holds at most a quarter of it, so that the budget frees space in
 * steps of a segment. */
#define CONSOLE_LOG_BUDGET_MIN (64ULL * 1024)

/* Called after every append that added bytes, with the log and userdata.
 * It may read the log but must not append to, rotate or free it. */
typedef void (*console_log_append_cb)(struct console_log *l, void *userdata);

/* Opens (creating it if missing) the log directory `name` under dir_fd
 * (which may be AT_FDCWD). name is one path component: empty, containing '/',
 * starting with '.' or longer than NAME_MAX is -EINVAL. Symlinks are not
 * followed. The log continues at the end of its last segment; an empty
 * directory starts a segment at offset 0. Returns 0, -EBADMSG when a segment
 * name is held by something other than a regular file, or -errno. */
int console_log_open(int dir_fd, const char *name, struct console_log **ret);

/* Best-effort sync, then closes everything. Takes NULL, returns NULL. */
struct console_log *console_log_free(struct console_log *l);
DEFINE_CLEANUP_FUNC(struct console_log, console_log_free);

/* Appends all n bytes (a guest's data: any size), retrying short writes and
 * EINTR, starting a new segment where the budget wants one and removing the
 * oldest past it. Returns 0, or -errno; after an error, the bytes that made
 * it are those between console_log_end() before and after the call (they
 * keep their offsets, the rest were not written), so a caller can retry
 * exactly the remainder. -EFBIG if the offsets would pass 2^64. A failure to
 * start a segment or to remove one is not an error of the append (the log
 * keeps growing its current segment, and tries again at the next). */
int console_log_append(struct console_log *l, const void *data, size_t n);

/* The first offset still stored (0 until old segments are removed) and the
 * offset the next appended byte will get. */
uint64_t console_log_start(const struct console_log *l);
uint64_t console_log_end(const struct console_log *l);

/* Bounds the log to about max_bytes (at least CONSOLE_LOG_BUDGET_MIN; 0:
 * unbounded, the default): applied at once, and at every append. */
void console_log_set_budget(struct console_log *l, uint64_t max_bytes);
uint64_t console_log_budget(const struct console_log *l);
/* The bytes held on disk, and those the budget removed (all below start). */
uint64_t console_log_bytes(const struct console_log *l);
uint64_t console_log_removed(const struct console_log *l);

/* Copies up to max bytes from offset on, across segment boundaries. Returns
 * the count (0 only at offset == end or max == 0), -ERANGE past the end,
 * -ENODATA when no segment holds offset (below start, or bytes a power loss
 * took from a segment; see console_log_seek_data), or -errno. A short count
 * happens at the end and before such a gap. */
ssize_t console_log_read(struct console_log *l, uint64_t offset, void *buf, size_t max);

/* The first offset >= offset that holds a byte, or end: where a reader that
 * got -ENODATA resumes. */
uint64_t console_log_seek_data(const struct console_log *l, uint64_t offset);

/* Feeds the log to a line matcher (line-match.h) from its cursor on, up to
 * max bytes: bytes the budget removed, or a power loss took, are skipped
 * (the matcher starts a new line there). on_match is called for each match
 * with its offsets, and ends the scan by returning false. Returns 1 when
 * the log holds more past the cursor, 0 when the cursor is at its end, or
 * -errno when it cannot be read. */
struct line_match;
int console_log_scan(struct console_log *l, struct line_match *m, size_t max,
                     bool (*on_match)(void *arg, uint64_t offset, uint64_t end), void *arg);

/* Ends the current segment (synced to disk) and starts a new one at the
 * current end, e.g. at a guest reboot. Offsets do not change. A no-op when
 * the current segment is still empty. Returns 0, -E2BIG past
 * CONSOLE_LOG_SEGMENTS_MAX segments, -EEXIST if a non-empty file already has
 * the new segment's name, or -errno; on error the log keeps appending to
 * the current segment. */
int console_log_rotate(struct console_log *l);

/* fdatasync of the last segment, if anything was appended since the last one. */
int console_log_sync(struct console_log *l);

/* Where the console's backend stood in the guest's ring: its out_cons was
 * ring_cons once the log ended at `end`, for the ring ring_id names (the
 * backend's own number for one ring of one boot). Kept beside the segments
 * in DIR/ring-cursor (one small file rewritten in place, not a segment), so
 * that a restarted backend knows which bytes still in the ring the log
 * holds already (console-ring.h: console_ring_skip_logged()). */
struct console_log_cursor {
        uint64_t ring_id;
        uint64_t end;
        uint32_t ring_cons;
};
/* Stores c (one pwrite(2) of a whole record: a SIGKILL cannot tear it). */
int console_log_put_cursor(struct console_log *l, const struct console_log_cursor *c);
/* The last cursor stored: 0, -ENOENT for none, -EBADMSG for a damaged one. */
int console_log_get_cursor(struct console_log *l, struct console_log_cursor *ret);

/* Time and boots (console-index.h: an index beside the segments, exact to
 * the second, never scanning the log). Times are CLOCK_REALTIME in
 * nanoseconds. Without an index (it could not be opened) the log works
 * as before and these answer -ENOENT. */
int console_log_boot_begin(struct console_log *l, uint32_t boot);
int console_log_boot_end(struct console_log *l, uint32_t boot, int exit);
/* The first offset of output appended at or after t, or after t, within
 * [start, end]. */
int console_log_offset_since(struct console_log *l, int64_t t, uint64_t *ret);
int console_log_offset_until(struct console_log *l, int64_t t, uint64_t *ret);
/* When the byte at offset was appended, to the second; -ENOENT if unknown
 * (bytes from before the index). The same answer holds for the bytes up to
 * *ret_next (UINT64_MAX: all that follow so far), so that dating each line
 * of a page costs one lookup per second of output, not one per line. */
int console_log_time_of(struct console_log *l, uint64_t offset, int64_t *ret, uint64_t *ret_next);
/* The boots whose first offset the log still holds or whose end it does:
 * oldest first, *ret malloc'ed. */
int console_log_boots(struct console_log *l, struct console_index_boot **ret, size_t *n);
/* The clock the index reads (tests); NULL: CLOCK_REALTIME. */
void console_log_set_clock(struct console_log *l, int64_t (*now)(void *userdata), void *userdata);

/* Number of segments (for tests and metrics). */
size_t console_log_segments(const struct console_log *l);

/* Replaces the append callback; cb NULL removes it. */
void console_log_set_on_append(struct console_log *l, console_log_append_cb cb, void *userdata);

/* Why old bytes went. */
enum console_log_removal {
        CONSOLE_LOG_REMOVED_BUDGET,     /* the log's own budget */
        CONSOLE_LOG_REMOVED_POOL,       /* its pool's: all logs together, or the file system's free floor */
};

/* Called after a segment was removed, with its size (bytes below the new
 * start); it may read the log. */
typedef void (*console_log_remove_cb)(struct console_log *l, uint64_t bytes, enum console_log_removal why,
                                      void *userdata);
void console_log_set_on_remove(struct console_log *l, console_log_remove_cb cb, void *userdata);

/* A pool: the logs that share one file system, with a budget for all of
 * them together and a floor of free space on the file system kept free
 * (journald's SystemMaxUse and SystemKeepFree). Past either, whole old
 * segments go, from the log holding the most bytes first (the chattiest
 * console pays, not the quiet ones' history); never a log's last segment.
 * Free space is looked at after every CONSOLE_LOG_POOL_CHECK_BYTES appended
 * to the pool, and at once when a write found the disk full. */
#define CONSOLE_LOG_POOL_CHECK_BYTES (1024 * 1024)
struct console_log_pool;
/* fs_fd (borrowed) is a directory of the file system the logs are on. No
 * limits until console_log_pool_set_limits(). */
int console_log_pool_new(int fs_fd, struct console_log_pool **ret);
/* Its logs leave it (they stay open). Takes NULL. */
struct console_log_pool *console_log_pool_free(struct console_log_pool *p);
DEFINE_CLEANUP_FUNC(struct console_log_pool, console_log_pool_free);
/* 0 for either: no such limit. Applied at once. */
void console_log_pool_set_limits(struct console_log_pool *p, uint64_t max_bytes, uint64_t keep_free);
void console_log_pool_limits(const struct console_log_pool *p, uint64_t *max_bytes, uint64_t *keep_free);
uint64_t console_log_pool_bytes(const struct console_log_pool *p);
/* Moves the log into pool p (NULL: out of any), which applies at once. */
void console_log_set_pool(struct console_log *l, struct console_log_pool *p);
