/* log-stamp.c: a console log's lines with their times (see log-stamp.h). */
#include <errno.h>
#include <string.h>

#include "log-stamp.h"

void log_stamper_init(struct log_stamper *st, struct console_log *log) {
        *st = (struct log_stamper) { .log = log, .line_start = true };
}

static void stamp_for(struct log_stamper *st, uint64_t offset) {
        int64_t t;
        int r;

        if (st->known && offset < st->valid_until)
                return;
        r = console_log_time_of(st->log, offset, &t, &st->valid_until);
        /* "Up to the end so far": a mark may come with the next append. */
        if (st->valid_until == UINT64_MAX)
                st->valid_until = console_log_end(st->log);
        if (r < 0) {
                memcpy(st->stamp, "- ", 3);
                st->stamp_len = 2;
                if (r != -ENOENT)
                        st->valid_until = offset + 1; /* a read error: look again at the next line */
        } else {
                timestamp_format(t, st->stamp);
                st->stamp_len = strlen(st->stamp);
                st->stamp[st->stamp_len++] = ' ';
                st->stamp[st->stamp_len] = 0;
        }
        st->known = true;
}

size_t log_stamp_lines(struct log_stamper *st, uint64_t offset, const uint8_t *raw, size_t n, uint8_t *out,
                       size_t out_max, size_t *used) {
        size_t i = 0, o = 0;

        while (i < n) {
                if (st->line_start) {
                        stamp_for(st, offset + i);
                        if (out_max - o < st->stamp_len + 1)
                                break;
                        memcpy(out + o, st->stamp, st->stamp_len);
                        o += st->stamp_len;
                        st->line_start = false;
                } else if (o == out_max)
                        break;
                out[o++] = raw[i];
                st->line_start = raw[i++] == '\n';
        }
        *used = i;
        return o;
}
