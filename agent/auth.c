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

/* Why a token cannot be one, or NULL if it can; *r gets the errno. */
static const char *token_problem(const char *token, size_t len, int *r) {
        *r = -EINVAL;
        if (len < AUTH_TOKEN_MIN)
                return "is shorter than 16 characters";
        if (len > AUTH_TOKEN_MAX) {
                *r = -E2BIG;
                return "is longer than 512 characters";
        }
        for (size_t i = 0; i < len; i++)
                if (!is_visible((unsigned char) token[i]))
                        return "contains spaces or control characters";
        return NULL;
}

int auth_new(const char *token, size_t len, struct auth **ret, struct error *err) {
        struct auth *a;
        int r;
        const char *why = token_problem(token, len, &r);

        if (why)
                return error_set(err, r, ERROR_INVALID_FIELD, "token", "the token %s", why);
        a = calloc(1, sizeof(*a));
        if (!a)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "out of memory");
        memcpy(a->token, token, len);
        a->len = len;
        *ret = a;
        return 0;
}

/* A token file refused: why, in words for the operator. */
static int file_fail(struct error *err, int r, const char *path, const char *why) {
        return error_set(err, r, ERROR_INTERNAL, NULL, "the token file %s %s", path, why);
}

int auth_new_from_file(const char *path, struct auth **ret, struct error *err) {
        _cleanup_close_ int fd = -1;
        char buf[AUTH_TOKEN_FILE_MAX + 1];
        size_t len = 0;
        ssize_t n;
        struct stat st;
        const char *why;
        int r;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return file_fail(err, negative_errno(), path, "cannot be opened");
        if (fstat(fd, &st) < 0)
                return file_fail(err, negative_errno(), path, "cannot be opened");
        if (!S_ISREG(st.st_mode))
                return file_fail(err, -EINVAL, path, "is not a regular file");
        if (st.st_mode & 077)
                return file_fail(err, -EPERM, path, "is accessible by group or other (chmod 600 it)");

        n = read_full(fd, buf, sizeof(buf));
        if (n < 0)
                return file_fail(err, (int) n, path, "cannot be read");
        len = (size_t) n;
        if (len == sizeof(buf))
                return file_fail(err, -EFBIG, path, "is larger than 4096 bytes");

        while (len > 0 && (is_ows(buf[len - 1]) || buf[len - 1] == '\n' || buf[len - 1] == '\r'))
                len--;
        if (len == 0)
                r = file_fail(err, -ENODATA, path, "is empty");
        else if ((why = token_problem(buf, len, &r)))
                r = file_fail(err, r, path, why);
        else
                r = auth_new(buf, len, ret, err);
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
