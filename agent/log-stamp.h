/* log-stamp.h: owns nothing; dates the lines of a console log as ?timestamps=1
 * answers them: each line starts with the time its first byte was appended
 * (console_log_time_of()), RFC 3339 in UTC to the millisecond, and a space;
 * "- " for bytes older than the log's index. The bytes on disk stay raw. A
 * stamper carries a line's state from one page (or one chunk of a followed
 * stream) to the next. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core.h"
#include "timestamp.h"

#define LOG_STAMP_MAX TIMESTAMP_MAX /* a stamp and its space, with room for a NUL */

struct log_stamper {
        struct console_log *log;
        bool line_start;        /* the next byte begins a line */
        bool known;             /* a stamp is cached: */
        uint64_t valid_until;   /* it holds for offsets below this */
        char stamp[LOG_STAMP_MAX + 1];
        size_t stamp_len;
};

/* A stamper whose next byte begins a line. */
void log_stamper_init(struct log_stamper *st, struct console_log *log);

/* Copies n raw bytes of the log (from offset on) to out with each line's
 * stamp, as many as fit in out_max; *used says how many raw bytes went. A
 * stamp never goes without its line's first byte. Returns the bytes written. */
size_t log_stamp_lines(struct log_stamper *st, uint64_t offset, const uint8_t *raw, size_t n, uint8_t *out,
                       size_t out_max, size_t *used);
