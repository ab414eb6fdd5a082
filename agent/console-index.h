/* console-index.h: owns the time index of one console log: a file beside its
 * segments (DIR/index) of fixed 24-byte records, in offset order, saying
 * when the log reached an offset and where each boot of the VM began and
 * ended, and how. console-log.c keeps it; callers use console-log.h.
 *
 * Records:
 *   mark  the byte at offset was appended at time. A mark is added at the
 *         first byte of an append that comes a second or more after the
 *         last record, so every byte was appended within a second after the
 *         time of the last record at or before its offset: times are exact
 *         to the second, and a quiet console costs nothing.
 *   boot  boot number N began at offset, at time.
 *   end   boot N ended at offset, at time, for a reason (enum vm_exit).
 * Times are kept to the millisecond (as the API writes them) and never go
 * back (a clock stepped back records the last time again),
 * so offsets and times are both sorted and a lookup is a binary search of
 * the file: nothing scans the log, and marks cost no memory. The boot and
 * end records are also kept in memory (read once, at open), so listing the
 * boots reads nothing.
 *
 * Bounded: records below the log's first offset are dropped, and past its
 * size limit every other mark goes (boots and ends stay), by rewriting the
 * file whole (a new file renamed over the old). The index is a help, not
 * the log: a failed write costs precision, never bytes. Not thread-safe. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "macro.h"

struct console_index;

enum console_index_kind {
        CONSOLE_INDEX_MARK = 1,
        CONSOLE_INDEX_BOOT = 2,
        CONSOLE_INDEX_END = 3,
};

/* A mark comes at most this often (nanoseconds): the index's precision. */
#define CONSOLE_INDEX_MARK_NS 1000000000LL
/* The index of a log keeps at least this many bytes before it thins. */
#define CONSOLE_INDEX_MIN_BYTES (64 * 1024)

struct console_index_boot {
        uint32_t boot;
        uint64_t start_offset, end_offset;      /* end: the log's end while it runs */
        int64_t start_ns, end_ns;               /* CLOCK_REALTIME; end 0 while it runs */
        int exit;                               /* enum vm_exit, -1 while it runs or if never recorded */
};

/* Opens (creating it) DIR/index in the log directory dir_fd (borrowed). */
int console_index_open(int dir_fd, struct console_index **ret);
struct console_index *console_index_free(struct console_index *x);
DEFINE_CLEANUP_FUNC(struct console_index, console_index_free);

/* Bytes from offset on were just appended, at time now: a mark if the last
 * record is a second old or more. */
void console_index_appended(struct console_index *x, uint64_t offset, int64_t now);
/* Boot number boot begins (its first byte will be at offset), or ends. */
int console_index_boot(struct console_index *x, uint64_t offset, uint32_t boot, int64_t now);
int console_index_end(struct console_index *x, uint64_t offset, uint32_t boot, int exit, int64_t now);

/* The first offset of output appended at or after time t, to the second:
 * the offset of a record, or `end` when nothing came after t. -ENOENT for
 * an empty index. */
int console_index_offset_since(struct console_index *x, int64_t t, uint64_t end, uint64_t *ret);
/* The first offset of output appended after time t (to the second), or end. */
int console_index_offset_until(struct console_index *x, int64_t t, uint64_t end, uint64_t *ret);
/* When the byte at offset was appended (that of the last record at or
 * before it): 0, or -ENOENT if no record is. *ret_next is the offset of the
 * next record (UINT64_MAX if none): the same time holds up to it. */
int console_index_time_of(struct console_index *x, uint64_t offset, int64_t *ret, uint64_t *ret_next);

/* The boots the index knows, oldest first (*ret malloc'ed, *n of them);
 * end is the log's end, for a boot that has not ended. */
int console_index_boots(struct console_index *x, uint64_t end, struct console_index_boot **ret, size_t *n);

/* Drops records below start, and thins marks while the file is larger than
 * max_bytes (at least CONSOLE_INDEX_MIN_BYTES). */
void console_index_trim(struct console_index *x, uint64_t start, uint64_t max_bytes);

/* The file's size, for tests. */
uint64_t console_index_bytes(const struct console_index *x);
