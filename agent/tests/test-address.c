/* test-address.c: parsing --listen and binding it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "address.h"

static void test_ipv4(void **state) {
        (void) state;
        struct sockaddr_storage ss;
        struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
        socklen_t len;

        assert_int_equal(address_parse("0.0.0.0:8080", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET);
        assert_int_equal(len, sizeof(struct sockaddr_in));
        assert_int_equal(ntohs(sin->sin_port), 8080);
        assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_ANY));

        assert_int_equal(address_parse("127.0.0.1:0", &ss, &len), 0);
        assert_int_equal(ntohs(sin->sin_port), 0);
        assert_int_equal(sin->sin_addr.s_addr, htonl(INADDR_LOOPBACK));

        assert_int_equal(address_parse("10.0.2.15:65535", &ss, &len), 0);
        assert_int_equal(ntohs(sin->sin_port), 65535);
}

static void test_ipv6(void **state) {
        (void) state;
        struct sockaddr_storage ss;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
        socklen_t len;

        assert_int_equal(address_parse("[::]:8080", &ss, &len), 0);
        assert_int_equal(ss.ss_family, AF_INET6);
        assert_int_equal(len, sizeof(struct sockaddr_in6));
        assert_int_equal(ntohs(sin6->sin6_port), 8080);
        assert_true(IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr));

        assert_int_equal(address_parse("[::1]:1", &ss, &len), 0);
        assert_true(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
}

static void test_rejects(void **state) {
        (void) state;
        static const char *const bad[] = {
                "", ":", ":8080", "8080", "0.0.0.0", "0.0.0.0:", "0.0.0.0:65536", "0.0.0.0:-1",
                "0.0.0.0:+80", "0.0.0.0:80a", "0.0.0.0:123456", "0.0.0.0: 80", "localhost:8080",
                "1.2.3:80", "1.2.3.4.5:80", "::1:8080", "[::1]8080", "[::1]:", "[]:80", "[::1:80",
                "[1.2.3.4]:80", "[::1]:80:80", "0.0.0.0:80 ",
        };
        struct sockaddr_storage ss;
        socklen_t len;

        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
                print_message("%s\n", bad[i]);
                assert_int_equal(address_parse(bad[i], &ss, &len), -EINVAL);
        }
        assert_int_equal(address_parse(NULL, &ss, &len), -EINVAL);
}

static void test_listen(void **state) {
        (void) state;
        struct sockaddr_storage ss;
        socklen_t len;
        int fd, port;

        assert_int_equal(address_parse("127.0.0.1:0", &ss, &len), 0);
        fd = address_listen(&ss, len);
        assert_true(fd >= 0);
        port = address_local_port(fd);
        assert_true(port > 0);
        close(fd);

        assert_int_equal(address_local_port(-1), -EBADF);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_ipv4),
                cmocka_unit_test(test_ipv6),
                cmocka_unit_test(test_rejects),
                cmocka_unit_test(test_listen),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
