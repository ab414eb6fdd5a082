/* tls.c: the agent's certificate and key, read and checked (see tls.h). */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fileio.h"
#include "tls.h"

static int file_fail(struct error *err, int r, const char *what, const char *path, const char *why) {
        return error_set(err, r, ERROR_INTERNAL, NULL, "the TLS %s %s %s", what, path, why);
}

/* Whether text holds a PEM block whose label is label, or ends with it
 * (" PRIVATE KEY" matches "EC PRIVATE KEY", "RSA PRIVATE KEY" and
 * "PRIVATE KEY") when suffix is true. */
static bool has_pem_block(const char *text, const char *label, bool suffix) {
        static const char begin[] = "-----BEGIN ";
        size_t n = strlen(label);

        for (const char *p = strstr(text, begin); p; p = strstr(p + 1, begin)) {
                const char *l = p + sizeof(begin) - 1, *end = strstr(l, "-----");

                if (!end || memchr(l, '\n', (size_t) (end - l)))
                        continue;
                if ((size_t) (end - l) == n && memcmp(l, label, n) == 0)
                        return true;
                if (suffix && (size_t) (end - l) > n && memcmp(end - n, label, n) == 0)
                        return true;
        }
        return false;
}

/* The whole of a small file as a string; private files must not be open
 * to group or others. */
static int read_pem(const char *what, const char *path, size_t max, bool private, char **ret, struct error *err) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        char *buf;
        ssize_t n;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return file_fail(err, negative_errno(), what, path, "cannot be opened");
        if (fstat(fd, &st) < 0)
                return file_fail(err, negative_errno(), what, path, "cannot be opened");
        if (!S_ISREG(st.st_mode))
                return file_fail(err, -EINVAL, what, path, "is not a regular file");
        if (private && (st.st_mode & 077))
                return file_fail(err, -EPERM, what, path, "is accessible by group or other (chmod 600 it)");
        buf = malloc(max + 1);
        if (!buf)
                return file_fail(err, -ENOMEM, what, path, "cannot be read (out of memory)");
        n = read_full(fd, buf, max + 1);
        if (n < 0 || (size_t) n > max) {
                explicit_bzero(buf, max + 1);
                free(buf);
                if (n < 0)
                        return file_fail(err, (int) n, what, path, "cannot be read");
                return error_set(err, -EFBIG, ERROR_INTERNAL, NULL, "the TLS %s %s is larger than %zu bytes", what,
                                 path, max);
        }
        buf[n] = '\0';
        if (memchr(buf, '\0', (size_t) n)) {
                explicit_bzero(buf, max + 1);
                free(buf);
                return file_fail(err, -EINVAL, what, path, "is not PEM text (it holds a NUL byte)");
        }
        *ret = buf;
        return 0;
}

int tls_credentials_load(const char *cert_path, const char *key_path, struct tls_credentials **ret,
                         struct error *err) {
        _cleanup_(tls_credentials_freep) struct tls_credentials *t = NULL;
        int r;

        t = calloc(1, sizeof(*t));
        if (!t)
                return error_set(err, -ENOMEM, ERROR_INTERNAL, NULL, "out of memory");
        r = read_pem("certificate", cert_path, TLS_CERT_FILE_MAX, false, &t->cert, err);
        if (r < 0)
                return r;
        if (!has_pem_block(t->cert, "CERTIFICATE", false))
                return file_fail(err, -EINVAL, "certificate", cert_path,
                                 "holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        r = read_pem("key", key_path, TLS_KEY_FILE_MAX, true, &t->key, err);
        if (r < 0)
                return r;
        if (!has_pem_block(t->key, "PRIVATE KEY", true))
                return file_fail(err, -EINVAL, "key", key_path, "holds no PEM private key (-----BEGIN PRIVATE KEY-----)");
        if (has_pem_block(t->key, "ENCRYPTED PRIVATE KEY", false))
                return file_fail(err, -EINVAL, "key", key_path, "is encrypted: the agent has no passphrase to open it");
        *ret = TAKE_PTR(t);
        return 0;
}

struct tls_credentials *tls_credentials_free(struct tls_credentials *t) {
        if (!t)
                return NULL;
        if (t->key) {
                explicit_bzero(t->key, strlen(t->key));
                free(t->key);
        }
        free(t->cert);
        free(t);
        return NULL;
}

bool tls_address_is_local(const struct sockaddr *sa) {
        if (!sa)
                return false;
        if (sa->sa_family == AF_UNIX)
                return true;
        if (sa->sa_family == AF_INET)
                return (ntohl(((const struct sockaddr_in *) (const void *) sa)->sin_addr.s_addr) >> 24) == 127;
        if (sa->sa_family == AF_INET6) {
                const struct in6_addr *a = &((const struct sockaddr_in6 *) (const void *) sa)->sin6_addr;

                if (IN6_IS_ADDR_LOOPBACK(a))
                        return true;
                return IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127;
        }
        return false;
}
