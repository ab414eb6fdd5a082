/* timestamp.c: RFC 3339 and relative times (see timestamp.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "timestamp.h"

#define NS 1000000000LL

static bool leap(long y) {
        return y % 4 == 0 && (y % 100 != 0 || (y / 100) % 4 == 0); /* a century only every fourth */
}

/* Days from 1970-01-01 to y-m-d (proleptic Gregorian; y >= 1970). */
static int64_t days_from_epoch(long y, int m, int d) {
        static const int before[12] = { 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334 };
        int64_t days = 0;

        for (long k = 1970; k < y; k++)
                days += leap(k) ? 366 : 365;
        days += before[m - 1] + (m > 2 && leap(y)) + d - 1;
        return days;
}

void timestamp_format(int64_t ns, char buf[static TIMESTAMP_MAX]) {
        int64_t secs = ns >= 0 ? ns / NS : (ns - NS + 1) / NS;
        int64_t days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400;
        int64_t rem = secs - days * 86400;
        int ms = (int) ((ns - secs * NS) / 1000000);
        long y = 1970;
        int m = 1;

        if (days < 0) { /* before 1970: not a time the agent records */
                snprintf(buf, TIMESTAMP_MAX, "1970-01-01T00:00:00.000Z");
                return;
        }
        while (days >= (leap(y) ? 366 : 365)) {
                days -= leap(y) ? 366 : 365;
                y++;
        }
        for (;;) {
                static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
                int l = len[m - 1] + (m == 2 && leap(y));

                if (days < l)
                        break;
                days -= l;
                m++;
        }
        /* Every field within its digits (int64 nanoseconds end in 2262). */
        snprintf(buf, TIMESTAMP_MAX, "%04u-%02u-%02uT%02u:%02u:%02u.%03uZ", (unsigned) y % 10000u, (unsigned) m % 100u,
                 (unsigned) (days + 1) % 100u, (unsigned) (rem / 3600) % 100u, (unsigned) (rem / 60 % 60) % 100u,
                 (unsigned) (rem % 60) % 100u, (unsigned) ms % 1000u);
}

/* n decimal digits at *p (exactly n), advancing it. */
static bool digits(const char **p, int n, long *ret) {
        long v = 0;

        for (int i = 0; i < n; i++) {
                if ((*p)[i] < '0' || (*p)[i] > '9')
                        return false;
                v = v * 10 + ((*p)[i] - '0');
        }
        *p += n;
        *ret = v;
        return true;
}

static int parse_relative(const char *s, int64_t now, int64_t *ret) {
        const char *p = s + 1;
        int64_t n = 0, unit;

        if (*p < '0' || *p > '9')
                return -EINVAL;
        for (; *p >= '0' && *p <= '9'; p++) {
                if (n > (INT64_MAX / NS) / 1000)
                        return -EINVAL;
                n = n * 10 + (*p - '0');
        }
        switch (*p) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return -EINVAL;
        }
        if (p[1] != 0 || n > INT64_MAX / NS / unit)
                return -EINVAL;
        *ret = now - n * unit * NS;
        return 0;
}

int timestamp_parse(const char *s, int64_t now, int64_t *ret) {
        static const int len[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
        long y, mo, d, h, mi, sec, oh = 0, om = 0;
        int64_t frac = 0, scale = NS, t;
        const char *p = s;
        int sign = 0;

        if (!s)
                return -EINVAL;
        if (s[0] == '-')
                return parse_relative(s, now, ret);
        if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' || !digits(&p, 2, &d) ||
            (*p != 'T' && *p != 't' && *p != ' '))
                return -EINVAL;
        p++;
        if (!digits(&p, 2, &h) || *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec))
                return -EINVAL;
        if (*p == '.') {
                p++;
                if (*p < '0' || *p > '9')
                        return -EINVAL;
                for (; *p >= '0' && *p <= '9'; p++)
                        if (scale > 1) {
                                scale /= 10;
                                frac += (*p - '0') * scale;
                        }
        }
        if (*p == 'Z' || *p == 'z')
                p++;
        else if (*p == '+' || *p == '-') {
                sign = *p++ == '+' ? 1 : -1;
                if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) || oh > 23 || om > 59)
                        return -EINVAL;
        } else
                return -EINVAL;
        if (*p != 0 || y < 1970 || mo < 1 || mo > 12 || d < 1 || d > len[mo - 1] + (mo == 2 && leap(y)) ||
            h > 23 || mi > 59 || sec > 60)
                return -EINVAL;
        if (sec == 60) /* a leap second: the next second's start */
                sec = 59, frac = NS - 1;
        t = ((days_from_epoch(y, (int) mo, (int) d) * 24 + h) * 60 + mi) * 60 + sec - sign * (oh * 3600 + om * 60);
        if (t < 0 || t > (INT64_MAX - NS) / NS)
                return -EINVAL;
        *ret = t * NS + frac;
        return 0;
}
