/* test-tls.c: the certificate and key files the agent accepts and those it
 * refuses (tls.c), and which listening addresses count as local. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "tls.h"

static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n";
static const char key_pem[] = "-----BEGIN PRIVATE KEY-----\nMIGHfake\n-----END PRIVATE KEY-----\n";

struct dir {
        char path[64];
        char cert[96], key[96];
};

static void write_file(const char *path, const void *data, size_t size, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

        assert_true(fd >= 0);
        assert_int_equal(write(fd, data, size), (ssize_t) size);
        assert_int_equal(fchmod(fd, mode), 0);
        close(fd);
}

static int setup(void **state) {
        struct dir *d = calloc(1, sizeof(*d));

        if (!d)
                return -1;
        strcpy(d->path, "/tmp/test-tls-XXXXXX");
        if (!mkdtemp(d->path))
                return -1;
        snprintf(d->cert, sizeof(d->cert), "%s/cert.pem", d->path);
        snprintf(d->key, sizeof(d->key), "%s/key.pem", d->path);
        *state = d;
        return 0;
}

static int teardown(void **state) {
        struct dir *d = *state;

        unlink(d->cert);
        unlink(d->key);
        rmdir(d->path);
        free(d);
        return 0;
}

/* Loads the pair and returns the errno, with the message in why. */
static int load(struct dir *d, char *why, size_t size) {
        struct tls_credentials *t = NULL;
        struct error err = { 0 };
        int r = tls_credentials_load(d->cert, d->key, &t, &err);

        if (r == 0) {
                assert_non_null(t);
                assert_string_equal(t->cert, cert_pem);
                tls_credentials_free(t);
                snprintf(why, size, "%s", "");
        } else {
                assert_null(t);
                snprintf(why, size, "%s", err.message);
        }
        return r;
}

static void test_good_pair(void **state) {
        struct dir *d = *state;
        char why[512];

        write_file(d->cert, cert_pem, strlen(cert_pem), 0644);
        write_file(d->key, key_pem, strlen(key_pem), 0600);
        assert_int_equal(load(d, why, sizeof(why)), 0);

        /* The older labels of a key are keys too. */
        write_file(d->key, "-----BEGIN EC PRIVATE KEY-----\nx\n-----END EC PRIVATE KEY-----\n", 62, 0400);
        assert_int_equal(load(d, why, sizeof(why)), 0);
}

static void test_refused(void **state) {
        struct dir *d = *state;
        char why[512], big[TLS_CERT_FILE_MAX + 2];

        write_file(d->cert, cert_pem, strlen(cert_pem), 0644);

        /* A key others may read. */
        write_file(d->key, key_pem, strlen(key_pem), 0640);
        assert_int_equal(load(d, why, sizeof(why)), -EPERM);
        assert_non_null(strstr(why, d->key));
        assert_non_null(strstr(why, "chmod 600"));

        /* A key that is not one, or is locked. */
        write_file(d->key, cert_pem, strlen(cert_pem), 0600);
        assert_int_equal(load(d, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "no PEM private key"));
        write_file(d->key, "-----BEGIN ENCRYPTED PRIVATE KEY-----\nx\n-----END ENCRYPTED PRIVATE KEY-----\n", 76,
                   0600);
        assert_int_equal(load(d, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "encrypted"));
        write_file(d->key, "-----BEGIN PRIVATE KEY-----\n\0\n", 30, 0600);
        assert_int_equal(load(d, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "NUL"));

        /* A missing key, a directory for one. */
        unlink(d->key);
        assert_int_equal(load(d, why, sizeof(why)), -ENOENT);
        assert_non_null(strstr(why, "cannot be opened"));
        assert_int_equal(mkdir(d->key, 0700), 0);
        assert_int_equal(load(d, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "not a regular file"));
        rmdir(d->key);
        write_file(d->key, key_pem, strlen(key_pem), 0600);

        /* A certificate that is something else, or too big. */
        write_file(d->cert, key_pem, strlen(key_pem), 0644);
        assert_int_equal(load(d, why, sizeof(why)), -EINVAL);
        assert_non_null(strstr(why, "no PEM certificate"));
        memset(big, 'A', sizeof(big));
        memcpy(big, cert_pem, strlen(cert_pem));
        write_file(d->cert, big, sizeof(big), 0644);
        assert_int_equal(load(d, why, sizeof(why)), -EFBIG);
        assert_non_null(strstr(why, "larger than 65536 bytes"));
        /* Just at the limit is fine. */
        write_file(d->cert, big, TLS_CERT_FILE_MAX, 0644);
        {
                struct tls_credentials *t = NULL;
                struct error err = { 0 };

                assert_int_equal(tls_credentials_load(d->cert, d->key, &t, &err), 0);
                assert_int_equal(strlen(t->cert), TLS_CERT_FILE_MAX);
                tls_credentials_free(t);
        }
}

static bool local4(const char *text) {
        struct sockaddr_in sa = { .sin_family = AF_INET };

        assert_int_equal(inet_pton(AF_INET, text, &sa.sin_addr), 1);
        return tls_address_is_local((struct sockaddr *) &sa);
}

static bool local6(const char *text) {
        struct sockaddr_in6 sa = { .sin6_family = AF_INET6 };

        assert_int_equal(inet_pton(AF_INET6, text, &sa.sin6_addr), 1);
        return tls_address_is_local((struct sockaddr *) &sa);
}

static void test_local_addresses(void **state _unused_) {
        struct sockaddr_un un = { .sun_family = AF_UNIX };

        assert_true(local4("127.0.0.1"));
        assert_true(local4("127.255.0.9"));
        assert_false(local4("0.0.0.0"));
        assert_false(local4("10.0.2.15"));
        assert_false(local4("128.0.0.1"));
        assert_true(local6("::1"));
        assert_true(local6("::ffff:127.0.0.1"));
        assert_false(local6("::"));
        assert_false(local6("::ffff:10.0.0.1"));
        assert_false(local6("fe80::1"));
        assert_true(tls_address_is_local((struct sockaddr *) &un));
        assert_false(tls_address_is_local(NULL));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_good_pair, setup, teardown),
                cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
                cmocka_unit_test(test_local_addresses),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
