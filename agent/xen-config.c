/* xen-config.c: owns a parsed copy of Xen's build configuration (see xen-config.h). */
#include <stdlib.h>
#include <string.h>

#include "xen-config.h"

struct xen_config_entry {
        char *name;
        char *value; /* NULL: "is not set" */
};

struct xen_config {
        struct xen_config_entry *entries;
        size_t n, allocated;
};

static const char prefix[] = "CONFIG_";
#define PREFIX_LEN (sizeof(prefix) - 1)
static const char not_set[] = " is not set";
#define NOT_SET_LEN (sizeof(not_set) - 1)

static bool is_name_char(char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

static size_t name_span(const char *s, size_t len) {
        size_t i = 0;

        while (i < len && is_name_char(s[i]))
                i++;
        return i;
}

static bool has_prefix(const char *s, size_t len, const char *p, size_t plen) {
        return len >= plen && memcmp(s, p, plen) == 0;
}

/* "..." with \" and \\ escapes, as Kconfig writes strings. Returns NULL with
 * *bad set if the quoting is broken, NULL with !*bad on ENOMEM. */
static char *unquote(const char *s, size_t len, bool *bad) {
        char *out, *o;

        *bad = false;
        if (len < 2 || s[0] != '"' || s[len - 1] != '"') {
                *bad = true;
                return NULL;
        }
        out = o = malloc(len - 1);
        if (!out)
                return NULL;
        for (size_t i = 1; i < len - 1; i++) {
                if (s[i] == '\\') {
                        if (++i >= len - 1)
                                goto broken;
                } else if (s[i] == '"' || s[i] == '\0')
                        goto broken;
                *o++ = s[i];
        }
        *o = '\0';
        return out;

broken:
        free(out);
        *bad = true;
        return NULL;
}

static char *copy_bare(const char *s, size_t len, bool *bad) {
        char *out;

        /* A bare value is one word: y, m, 123, 0x1f. */
        *bad = len == 0 || memchr(s, '\0', len) || memchr(s, ' ', len) || memchr(s, '\t', len);
        if (*bad)
                return NULL;
        out = malloc(len + 1);
        if (!out)
                return NULL;
        memcpy(out, s, len);
        out[len] = '\0';
        return out;
}

static int add_entry(struct xen_config *c, const char *name, size_t name_len, char *value) {
        struct xen_config_entry *e;
        char *n;

        if (c->n == c->allocated) {
                size_t want = c->allocated ? c->allocated * 2 : 64;

                e = realloc(c->entries, want * sizeof(*e));
                if (!e)
                        return -ENOMEM;
                c->entries = e;
                c->allocated = want;
        }
        n = malloc(name_len + 1);
        if (!n)
                return -ENOMEM;
        memcpy(n, name, name_len);
        n[name_len] = '\0';
        c->entries[c->n++] = (struct xen_config_entry) { .name = n, .value = value };
        return 0;
}

static int parse_line(struct xen_config *c, const char *s, size_t len) {
        size_t name_len;
        char *value;
        bool bad;
        int r;

        if (len > 0 && s[len - 1] == '\r')
                len--;

        if (has_prefix(s, len, "# ", 2)) {
                s += 2, len -= 2;
                if (!has_prefix(s, len, prefix, PREFIX_LEN))
                        return 0;
                s += PREFIX_LEN, len -= PREFIX_LEN;
                name_len = name_span(s, len);
                if (name_len == 0 || len - name_len != NOT_SET_LEN ||
                    memcmp(s + name_len, not_set, NOT_SET_LEN) != 0)
                        return 0;
                return add_entry(c, s, name_len, NULL);
        }

        if (!has_prefix(s, len, prefix, PREFIX_LEN))
                return 0;
        s += PREFIX_LEN, len -= PREFIX_LEN;
        name_len = name_span(s, len);
        if (name_len == 0 || name_len == len || s[name_len] != '=')
                return 0;

        const char *v = s + name_len + 1;
        size_t vlen = len - name_len - 1;

        value = vlen > 0 && v[0] == '"' ? unquote(v, vlen, &bad) : copy_bare(v, vlen, &bad);
        if (!value)
                return bad ? 0 : -ENOMEM;
        r = add_entry(c, s, name_len, value);
        if (r < 0)
                free(value);
        return r;
}

int xen_config_parse(const char *text, size_t len, struct xen_config **ret) {
        _cleanup_(xen_config_freep) struct xen_config *c = NULL;
        int r;

        c = calloc(1, sizeof(*c));
        if (!c)
                return -ENOMEM;

        while (len > 0) {
                const char *nl = memchr(text, '\n', len);
                size_t line = nl ? (size_t) (nl - text) : len;

                r = parse_line(c, text, line);
                if (r < 0)
                        return r;
                if (!nl)
                        break;
                text += line + 1;
                len -= line + 1;
        }

        *ret = TAKE_PTR(c);
        return 0;
}

struct xen_config *xen_config_free(struct xen_config *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n; i++) {
                free(c->entries[i].name);
                free(c->entries[i].value);
        }
        free(c->entries);
        free(c);
        return NULL;
}

const char *xen_config_get(const struct xen_config *c, const char *name) {
        if (!c || !name)
                return NULL;
        /* From the end: the last line for a name is the one that counts. */
        for (size_t i = c->n; i > 0; i--)
                if (strcmp(c->entries[i - 1].name, name) == 0)
                        return c->entries[i - 1].value;
        return NULL;
}

bool xen_config_enabled(const struct xen_config *c, const char *name) {
        const char *v = xen_config_get(c, name);

        return v && strcmp(v, "y") == 0;
}

size_t xen_config_count(const struct xen_config *c) {
        return c ? c->n : 0;
}
