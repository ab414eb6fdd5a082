/* auth.c: owns the API's bearer token (see auth.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "auth.h"
#include "fileio.h"

struct auth {
        /* Zero-padded to the maximum so the comparison never depends on the
         * token's length. */
        unsigned char token[AUTH_TOKEN_MAX];
        size_t len;
};

static bool is_ows(char c) {
        return c == ' ' || c == '\t';
}

static bool is_visible(unsigned char c) {
        return c > 0x20 && c < 0x7f;
}

int auth_new(const char *token, size_t len, struct auth **ret, const char **ret_why) {
        struct auth *a;
        const char *why = NULL;
        int r = -EINVAL;

        if (len < AUTH_TOKEN_MIN)
                why = "is shorter than 16 characters";
        else if (len > AUTH_TOKEN_MAX) {
                why = "is longer than 512 characters";
                r = -E2BIG;
        } else
                for (size_t i = 0; i < len; i++)
                        if (!is_visible((unsigned char) token[i])) {
                                why = "contains spaces or control characters";
                                break;
                        }
        if (why) {
                if (ret_why)
                        *ret_why = why;
                return r;
        }

        a = calloc(1, sizeof(*a));
        if (!a)
                return -ENOMEM;
        memcpy(a->token, token, len);
        a->len = len;
        *ret = a;
        return 0;
}

int auth_new_from_file(const char *path, struct auth **ret, const char **ret_why) {
        _cleanup_close_ int fd = -1;
        char buf[AUTH_TOKEN_FILE_MAX + 1];
        size_t len = 0;
        ssize_t n;
        struct stat st;
        int r;

        *ret_why = "cannot be opened";
        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return negative_errno();
        if (fstat(fd, &st) < 0)
                return negative_errno();
        if (!S_ISREG(st.st_mode)) {
                *ret_why = "is not a regular file";
                return -EINVAL;
        }
        if (st.st_mode & 077) {
                *ret_why = "is accessible by group or other (chmod 600 it)";
                return -EPERM;
        }

        *ret_why = "cannot be read";
        n = read_full(fd, buf, sizeof(buf));
        if (n < 0)
                return (int) n;
        len = (size_t) n;
        if (len == sizeof(buf)) {
                *ret_why = "is larger than 4096 bytes";
                return -EFBIG;
        }

        while (len > 0 && (is_ows(buf[len - 1]) || buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
        if (len == 0) {
                *ret_why = "is empty";
                r = -ENODATA;
        } else
                r = auth_new(buf, len, ret, ret_why);
        explicit_bzero(buf, sizeof(buf));
        return r;
}

struct auth *auth_free(struct auth *a) {
        if (!a)
                return NULL;
        explicit_bzero(a, sizeof(*a));
        free(a);
        return NULL;
}

int auth_parse_bearer(const char *header, const char **ret_token, size_t *ret_len) {
        static const char scheme[] = "bearer";
        const char *p, *end;
        size_t n;

        if (!header)
                return -ENODATA;
        p = header;
        end = header + strlen(header);
        while (p < end && is_ows(*p))
                p++;
        while (end > p && is_ows(end[-1]))
                end--;
        if (p == end)
                return -ENODATA;

        for (n = 0; p + n < end && !is_ows(p[n]); n++)
                ;
        if (n != sizeof(scheme) - 1 || strncasecmp(p, scheme, n) != 0)
                return -EPROTONOSUPPORT;
        p += n;
        while (p < end && is_ows(*p))
                p++;
        if (p == end)
                return -EBADMSG;
        for (const char *q = p; q < end; q++)
                if (!is_visible((unsigned char) *q))
                        return -EBADMSG;

        *ret_token = p;
        *ret_len = (size_t) (end - p);
        return 0;
}

bool auth_check(const struct auth *a, const char *authorization) {
        const char *token;
        size_t len;

        if (!a || auth_parse_bearer(authorization, &token, &len) < 0)
                return false;
        return auth_check_token(a, token, len);
}

bool auth_check_token(const struct auth *a, const char *token, size_t len) {
        unsigned char given[AUTH_TOKEN_MAX] = { 0 };
        volatile unsigned char diff = 0;

        if (!a || !token)
                return false;
        /* The length of what the client sent is no secret; ours is. */
        if (len > AUTH_TOKEN_MAX)
                return false;
        memcpy(given, token, len);

        for (size_t i = 0; i < AUTH_TOKEN_MAX; i++)
                diff |= given[i] ^ a->token[i];
        diff |= (unsigned char) (len != a->len);

        explicit_bzero(given, sizeof(given));
        return diff == 0;
}
