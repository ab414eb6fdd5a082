/* metrics.c: owns the Prometheus text exposition format as the agent
 * writes it (see metrics.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "metrics.h"

static bool is_alpha(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

bool metrics_name_is_valid(const char *name) {
        if (!name || !(is_alpha(name[0]) || name[0] == ':'))
                return false;
        for (const char *p = name + 1; *p; p++)
                if (!is_alpha(*p) && !is_digit(*p) && *p != ':')
                        return false;
        return strlen(name) < METRICS_NAME_MAX;
}

bool metrics_label_name_is_valid(const char *name) {
        if (!name || !is_alpha(name[0]) || strncmp(name, "__", 2) == 0)
                return false;
        for (const char *p = name + 1; *p; p++)
                if (!is_alpha(*p) && !is_digit(*p))
                        return false;
        return true;
}

void metrics_format_double(double v, char *buf, size_t size) {
        if (isnan(v)) {
                snprintf(buf, size, "NaN");
                return;
        }
        if (isinf(v)) {
                snprintf(buf, size, v > 0 ? "+Inf" : "-Inf");
                return;
        }
        if (v == floor(v) && fabs(v) < 1e15) {
                snprintf(buf, size, "%.0f", v); /* 10, not 1e+01 */
                return;
        }
        for (int precision = 1; precision <= 17; precision++) {
                snprintf(buf, size, "%.*g", precision, v);
                if (strtod(buf, NULL) == v)
                        return;
        }
}

static int fail(struct metrics *m, int r) {
        if (m->error == 0)
                m->error = r;
        return r;
}

static int reserve(struct metrics *m, size_t n) {
        size_t size;
        char *p;

        if (m->error < 0)
                return m->error;
        if (m->size - m->len > n)
                return 0;
        size = m->size ? m->size : 4096;
        while (size - m->len <= n) {
                if (size > SIZE_MAX / 2)
                        return fail(m, -ENOMEM);
                size *= 2;
        }
        p = realloc(m->buf, size);
        if (!p)
                return fail(m, -ENOMEM);
        m->buf = p;
        m->size = size;
        return 0;
}

static void put(struct metrics *m, const char *s, size_t n) {
        if (reserve(m, n) < 0)
                return;
        memcpy(m->buf + m->len, s, n);
        m->len += n;
        m->buf[m->len] = '\0';
}

static void puts_(struct metrics *m, const char *s) {
        put(m, s, strlen(s));
}

/* s with backslash and newline escaped, and the double quote too in a
 * label value. */
static void put_escaped(struct metrics *m, const char *s, bool quote) {
        for (const char *p = s; *p; p++) {
                const char *run = p;

                while (*p && *p != '\\' && *p != '\n' && !(quote && *p == '"'))
                        p++;
                put(m, run, (size_t) (p - run));
                if (!*p)
                        break;
                puts_(m, *p == '\\' ? "\\\\" : *p == '\n' ? "\\n" : "\\\"");
        }
}

static const char *type_name(enum metrics_type type) {
        switch (type) {
        case METRICS_COUNTER:
                return "counter";
        case METRICS_GAUGE:
                return "gauge";
        case METRICS_HISTOGRAM:
                return "histogram";
        }
        return "untyped";
}

void metrics_family(struct metrics *m, const char *name, enum metrics_type type, const char *help) {
        char *copy;

        if (m->error < 0)
                return;
        if (!metrics_name_is_valid(name) || m->n_families >= METRICS_FAMILIES_MAX) {
                fail(m, -EINVAL);
                return;
        }
        for (size_t i = 0; i < m->n_families; i++)
                if (strcmp(m->families[i], name) == 0) {
                        fail(m, -EEXIST);
                        return;
                }
        copy = strdup(name);
        if (!copy) {
                fail(m, -ENOMEM);
                return;
        }
        m->families[m->n_families++] = copy;
        snprintf(m->family, sizeof(m->family), "%s", name);
        m->type = type;

        puts_(m, "# HELP ");
        puts_(m, name);
        puts_(m, " ");
        put_escaped(m, help, false);
        puts_(m, "\n# TYPE ");
        puts_(m, name);
        puts_(m, " ");
        puts_(m, type_name(type));
        puts_(m, "\n");
}

/* name{labels...,extra_name="extra_value"} value; the labels from ap
 * (consumed), extra_name NULL for none. */
static void put_sample(struct metrics *m, const char *suffix, va_list ap, const char *extra_name,
                       const char *extra_value, const char *value) {
        bool first = true;
        const char *label;

        puts_(m, m->family);
        puts_(m, suffix);
        while ((label = va_arg(ap, const char *))) {
                const char *v = va_arg(ap, const char *);

                if (!metrics_label_name_is_valid(label) || !v ||
                    (m->type == METRICS_HISTOGRAM && strcmp(label, "le") == 0)) {
                        fail(m, -EINVAL);
                        return;
                }
                puts_(m, first ? "{" : ",");
                first = false;
                puts_(m, label);
                puts_(m, "=\"");
                put_escaped(m, v, true);
                puts_(m, "\"");
        }
        if (extra_name) {
                puts_(m, first ? "{" : ",");
                first = false;
                puts_(m, extra_name);
                puts_(m, "=\"");
                put_escaped(m, extra_value, true);
                puts_(m, "\"");
        }
        if (!first)
                puts_(m, "}");
        puts_(m, " ");
        puts_(m, value);
        puts_(m, "\n");
}

/* A sample of a counter or gauge family has been begun. */
static bool scalar_family(struct metrics *m) {
        if (m->error < 0)
                return false;
        if (!m->family[0] || m->type == METRICS_HISTOGRAM) {
                fail(m, -EINVAL);
                return false;
        }
        return true;
}

void metrics_u64(struct metrics *m, uint64_t value, ...) {
        char text[32];
        va_list ap;

        if (!scalar_family(m))
                return;
        snprintf(text, sizeof(text), "%" PRIu64, value);
        va_start(ap, value);
        put_sample(m, "", ap, NULL, NULL, text);
        va_end(ap);
}

void metrics_double(struct metrics *m, double value, ...) {
        char text[32];
        va_list ap;

        if (!scalar_family(m))
                return;
        metrics_format_double(value, text, sizeof(text));
        va_start(ap, value);
        put_sample(m, "", ap, NULL, NULL, text);
        va_end(ap);
}

void metrics_histogram(struct metrics *m, const double *bounds, const uint64_t *counts, size_t n, double sum, ...) {
        char text[32], le[32];
        uint64_t total = 0;
        va_list ap;

        if (m->error < 0)
                return;
        if (!m->family[0] || m->type != METRICS_HISTOGRAM) {
                fail(m, -EINVAL);
                return;
        }
        for (size_t i = 0; i + 1 < n; i++)
                if (!(bounds[i] < bounds[i + 1])) {
                        fail(m, -EINVAL);
                        return;
                }
        for (size_t i = 0; i <= n; i++) {
                total += counts[i];
                snprintf(text, sizeof(text), "%" PRIu64, total);
                if (i < n)
                        metrics_format_double(bounds[i], le, sizeof(le));
                else
                        snprintf(le, sizeof(le), "+Inf");
                va_start(ap, sum);
                put_sample(m, "_bucket", ap, "le", le, text);
                va_end(ap);
        }
        metrics_format_double(sum, text, sizeof(text));
        va_start(ap, sum);
        put_sample(m, "_sum", ap, NULL, NULL, text);
        va_end(ap);
        snprintf(text, sizeof(text), "%" PRIu64, total);
        va_start(ap, sum);
        put_sample(m, "_count", ap, NULL, NULL, text);
        va_end(ap);
}

void metrics_done(struct metrics *m) {
        for (size_t i = 0; i < m->n_families; i++)
                free(m->families[i]);
        m->n_families = 0;
        free(m->buf);
        m->buf = NULL;
        m->len = m->size = 0;
}

int metrics_finish(struct metrics *m, char **ret, size_t *ret_size) {
        int r = m->error;

        if (r >= 0)
                r = reserve(m, 0); /* an empty text is still a string */
        if (r < 0) {
                metrics_done(m);
                return r;
        }
        m->buf[m->len] = '\0';
        *ret = TAKE_PTR(m->buf);
        *ret_size = m->len;
        metrics_done(m);
        return 0;
}
