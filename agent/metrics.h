/* metrics.h: owns the Prometheus text exposition format (version 0.0.4) as
 * the agent writes it: a text that grows as it is written, families each
 * with its # HELP and # TYPE lines (once: a family named twice is an
 * error), samples whose label values are escaped (backslash, double quote,
 * newline), integers written exactly and floats as the shortest text that
 * reads back the same, and histograms with cumulative buckets ending in
 * le="+Inf". It knows nothing of what is measured (api-metrics.c collects).
 *
 * Samples belong to the family last begun and carry its name (a
 * histogram's _bucket, _sum and _count lines are written by the one call).
 * Labels come as name, value pairs ending with NULL. The first failure
 * (no memory, a bad name, a family twice, a sample of the wrong type)
 * sticks: what follows is ignored and metrics_finish() returns it. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define METRICS_NAME_MAX 128
#define METRICS_FAMILIES_MAX 128

enum metrics_type {
        METRICS_COUNTER,
        METRICS_GAUGE,
        METRICS_HISTOGRAM,
};

struct metrics {
        char *buf;
        size_t len, size;
        int error;
        enum metrics_type type;                 /* of the family begun last */
        char family[METRICS_NAME_MAX];          /* "" before the first */
        char *families[METRICS_FAMILIES_MAX];   /* every family begun */
        size_t n_families;
};

#define METRICS_INIT ((struct metrics) { 0 })

/* Frees what is still written (after metrics_finish(): nothing). */
void metrics_done(struct metrics *m);

/* [a-zA-Z_:][a-zA-Z0-9_:]* and [a-zA-Z_][a-zA-Z0-9_]* (not "__..."). */
bool metrics_name_is_valid(const char *name);
bool metrics_label_name_is_valid(const char *name);

/* The shortest text that strtod() reads back as v; "+Inf", "-Inf", "NaN".
 * size must be at least 32. */
void metrics_format_double(double v, char *buf, size_t size);

/* Begins a family: its # HELP (help escaped) and # TYPE lines. */
void metrics_family(struct metrics *m, const char *name, enum metrics_type type, const char *help);

/* One sample of the current counter or gauge, then its labels. */
void metrics_u64(struct metrics *m, uint64_t value, ...) __attribute__((sentinel));
void metrics_double(struct metrics *m, double value, ...) __attribute__((sentinel));

/* One histogram of the current histogram family: n upper bounds in
 * increasing order, counts[i] observations in bucket i (above bounds[i-1],
 * at most bounds[i]; counts[n]: above the last), not cumulative; sum of the
 * observed values; then its labels (no "le"). */
void metrics_histogram(struct metrics *m, const double *bounds, const uint64_t *counts, size_t n, double sum, ...)
        __attribute__((sentinel));

/* Hands over the text (malloc'd, NUL-terminated, *ret_size bytes without
 * the NUL), or returns the first failure and frees it. */
int metrics_finish(struct metrics *m, char **ret, size_t *ret_size);
