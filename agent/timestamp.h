/* timestamp.h: owns nothing; wall-clock times as the API writes and reads
 * them: RFC 3339 in UTC with milliseconds ("2026-12-01T09:50:17.123Z"), and
 * times a client gives: RFC 3339 with any offset and fraction, or relative
 * to now ("-5m": five minutes ago; s, m, h, d). Times are nanoseconds since
 * the epoch (CLOCK_REALTIME). Pure. */
#pragma once

#include <stdint.h>

#define TIMESTAMP_MAX 32 /* with the terminating NUL */

/* Writes ns as RFC 3339 UTC with milliseconds; buf holds TIMESTAMP_MAX. */
void timestamp_format(int64_t ns, char buf[static TIMESTAMP_MAX]);

/* Parses s (RFC 3339, or -N followed by s, m, h or d, counted back from
 * now). Returns 0, or -EINVAL for anything else (a date that does not
 * exist, a time before 1970 or past 2262 (where int64 nanoseconds end), trailing bytes, an overflow). */
int timestamp_parse(const char *s, int64_t now, int64_t *ret);
