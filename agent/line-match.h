/* line-match.h: owns a pattern and the line of a byte stream being scanned
 * for it (GET .../wait): a literal pattern, or a POSIX extended regular
 * expression, matched within one line as the bytes come, in pieces of any
 * size; the line is tried after every piece, so that a prompt with no
 * newline after it yet is found (a regular expression's `$` matches only
 * once the line's newline came). A line longer than LINE_MATCH_LINE_MAX
 * (LINE_MATCH_REGEX_LINE_MAX for a regular expression, whose matching
 * takes time quadratic in the line at worst) is matched in windows of that
 * size, each keeping the last quarter of the one before (a literal pattern
 * is never missed; a regular expression's match longer than that may be).
 * Pure (no I/O). */
#pragma once

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#define LINE_MATCH_PATTERN_MAX 256
#define LINE_MATCH_LINE_MAX 4096
#define LINE_MATCH_REGEX_LINE_MAX 1024

struct line_match {
        char pattern[LINE_MATCH_PATTERN_MAX + 1];
        size_t pattern_len;
        bool regex;
        regex_t re;
        uint64_t cursor;                        /* the stream offset of the next byte */
        uint64_t line_start;                    /* the offset of line[0] */
        char line[LINE_MATCH_LINE_MAX + 1];     /* the line so far, NUL after it */
        size_t line_len;
        size_t window;                          /* LINE_MATCH_LINE_MAX or LINE_MATCH_REGEX_LINE_MAX */
        bool cut;                               /* line[0] is inside a line (the window moved on) */
        bool matched;                           /* this line matched already: it is not tried again */
        bool whole_lines;                       /* tried only once whole (its newline, or a full window) */
};

/* pattern: 1 to LINE_MATCH_PATTERN_MAX bytes without a newline (-EINVAL
 * otherwise); a regular expression that does not compile, or has a
 * back-reference or an interval ({m,n}: what makes glibc's matcher slow
 * beyond bounds), is -EINVAL with why (size bytes) saying why. Scanning
 * starts at offset from. */
int line_match_init(struct line_match *m, const char *pattern, bool regex, uint64_t from, char *why, size_t size);
void line_match_done(struct line_match *m);

/* Tries a line only once it is whole: its newline came, or it fills a
 * window (an alert wants the line, not what came of it so far; a wait
 * wants a prompt that has no newline yet, and leaves this off). */
static inline void line_match_set_whole_lines(struct line_match *m, bool on) {
        m->whole_lines = on;
}

/* Takes the next n bytes; true once the pattern is found, with its first
 * offset and the one after its last (the cursor then stands after the
 * match's piece: m->cursor minus the cursor before says how much of data
 * was taken). A line matches once: taking more finds the next line that
 * matches. */
bool line_match_take(struct line_match *m, const void *data, size_t n, uint64_t *ret_offset, uint64_t *ret_end);

/* The stream goes on at offset (bytes were skipped): a new line starts. */
void line_match_restart(struct line_match *m, uint64_t offset);

/* The current line as a JSON string, its first max bytes at most: bytes
 * that are not UTF-8 (and NUL) become U+FFFD, a trailing CR goes. NULL
 * without memory. */
json_t *line_match_line_json(const struct line_match *m, size_t max);
