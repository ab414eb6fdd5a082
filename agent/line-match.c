/* line-match.c: a pattern matched within lines of a byte stream (see line-match.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "line-match.h"
#include "utf8.h"

int line_match_init(struct line_match *m, const char *pattern, bool regex, uint64_t from, char *why, size_t size) {
        size_t n = strlen(pattern);
        int r;

        *m = (struct line_match) { .pattern_len = n, .cursor = from, .line_start = from,
                                   .window = regex ? LINE_MATCH_REGEX_LINE_MAX : LINE_MATCH_LINE_MAX };
        if (n == 0 || n > LINE_MATCH_PATTERN_MAX || memchr(pattern, '\n', n)) {
                snprintf(why, size, "a pattern is 1 to %d bytes of one line", LINE_MATCH_PATTERN_MAX);
                return -EINVAL;
        }
        memcpy(m->pattern, pattern, n + 1);
        if (regex) {
                /* glibc's matcher takes exponential time on back-references
                 * and builds huge automata from nested intervals: a client's
                 * pattern must not stall the agent, so neither is taken. */
                for (size_t i = 0; i < n; i++) {
                        if (pattern[i] == '\\' && i + 1 < n) {
                                if (pattern[i + 1] >= '0' && pattern[i + 1] <= '9') {
                                        snprintf(why, size, "back-references (\\1 ...) are not taken");
                                        return -EINVAL;
                                }
                                i++;
                        } else if (pattern[i] == '{') {
                                snprintf(why, size, "intervals ({m,n}) are not taken; repeat the atom");
                                return -EINVAL;
                        }
                }
                r = regcomp(&m->re, pattern, REG_EXTENDED);
                if (r != 0) {
                        regerror(r, &m->re, why, size);
                        return -EINVAL;
                }
                m->regex = true;
        }
        return 0;
}

void line_match_done(struct line_match *m) {
        if (m->regex)
                regfree(&m->re);
        m->regex = false;
}

void line_match_restart(struct line_match *m, uint64_t offset) {
        m->cursor = m->line_start = offset;
        m->line_len = 0;
        m->line[0] = '\0';
        m->cut = false;
        m->matched = false;
}

/* Whether the line as it stands holds the pattern; its offsets if so. A
 * line is complete once its newline came: before, `$` does not match at
 * its end (REG_NOTEOL), since more of the line may follow; nor `^` at the
 * start of a window that begins inside a line (REG_NOTBOL). */
static bool try_line(const struct line_match *m, bool complete, uint64_t *ret_offset, uint64_t *ret_end) {
        if (m->regex) {
                regmatch_t r = { .rm_so = 0, .rm_eo = (regoff_t) m->line_len };

                /* REG_STARTEND: the line may hold NUL bytes. */
                if (regexec(&m->re, m->line, 1, &r, REG_STARTEND | (complete ? 0 : REG_NOTEOL) | (m->cut ? REG_NOTBOL : 0)) != 0)
                        return false;
                *ret_offset = m->line_start + (uint64_t) r.rm_so;
                *ret_end = m->line_start + (uint64_t) r.rm_eo;
                return true;
        }
        const char *p = memmem(m->line, m->line_len, m->pattern, m->pattern_len);

        if (!p)
                return false;
        *ret_offset = m->line_start + (uint64_t) (p - m->line);
        *ret_end = *ret_offset + m->pattern_len;
        return true;
}

bool line_match_take(struct line_match *m, const void *data, size_t n, uint64_t *ret_offset, uint64_t *ret_end) {
        const char *d = data;

        while (n > 0) {
                const char *nl = memchr(d, '\n', n);
                size_t piece = nl ? (size_t) (nl - d) : n, room;
                bool complete;

                if (m->line_len == m->window) {
                        size_t keep = m->window / 4;

                        memmove(m->line, m->line + m->window - keep, keep);
                        m->line_start += m->window - keep;
                        m->line_len = keep;
                        m->cut = true;
                }
                room = m->window - m->line_len;
                if (piece > room)
                        piece = room;
                memcpy(m->line + m->line_len, d, piece);
                m->line_len += piece;
                m->line[m->line_len] = '\0';
                m->cursor += piece;
                d += piece;
                n -= piece;
                complete = n > 0 && *d == '\n';
                if (!m->matched && (piece > 0 || (complete && m->regex)) &&
                    (!m->whole_lines || complete || m->line_len == m->window) &&
                    try_line(m, complete, ret_offset, ret_end)) {
                        m->matched = true;
                        return true;
                }
                if (complete) {
                        /* The line ends: the next starts after its newline. */
                        m->cursor++;
                        d++;
                        n--;
                        line_match_restart(m, m->cursor);
                }
        }
        return false;
}

json_t *line_match_line_json(const struct line_match *m, size_t max) {
        size_t n = m->line_len < max ? m->line_len : max, o = 0;
        char *text;
        json_t *j;

        if (n > 0 && m->line[n - 1] == '\r')
                n--;
        text = malloc(n * 3 + 1);
        if (!text)
                return NULL;
        for (size_t i = 0; i < n;) {
                struct utf8_state st = UTF8_STATE_INIT;
                size_t k = i;
                bool ok = m->line[i] != '\0';

                /* One whole sequence from i, or U+FFFD for its first byte. */
                while (ok && k < n) {
                        ok = utf8_step(&st, (uint8_t) m->line[k]);
                        if (!ok)
                                break;
                        k++;
                        if (st.need == 0)
                                break;
                }
                if (ok && st.need == 0 && k > i) {
                        memcpy(text + o, m->line + i, k - i);
                        o += k - i;
                        i = k;
                } else {
                        memcpy(text + o, "\xef\xbf\xbd", 3);
                        o += 3;
                        i++;
                }
        }
        j = json_stringn(text, o);
        free(text);
        return j;
}
