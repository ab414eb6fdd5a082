/* address.c: turns "ADDR:PORT" into a listening TCP socket (see address.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "macro.h"

static int parse_port(const char *s, uint16_t *ret) {
        unsigned long v = 0;

        if (*s == '\0' || strlen(s) > 5)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (unsigned long) (*s - '0');
        }
        if (v > 65535)
                return -EINVAL;
        *ret = (uint16_t) v;
        return 0;
}

int address_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len) {
        char host[INET6_ADDRSTRLEN];
        const char *colon;
        uint16_t port;
        size_t n;

        if (!s)
                return -EINVAL;
        memset(ret, 0, sizeof(*ret));

        if (s[0] == '[') {
                struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) ret;
                const char *close = strchr(s, ']');

                if (!close || close[1] != ':')
                        return -EINVAL;
                n = (size_t) (close - s - 1);
                if (n == 0 || n >= sizeof(host))
                        return -EINVAL;
                memcpy(host, s + 1, n);
                host[n] = '\0';
                if (parse_port(close + 2, &port) < 0 || inet_pton(AF_INET6, host, &sin6->sin6_addr) != 1)
                        return -EINVAL;
                sin6->sin6_family = AF_INET6;
                sin6->sin6_port = htons(port);
                *ret_len = sizeof(*sin6);
                return 0;
        }

        struct sockaddr_in *sin = (struct sockaddr_in *) ret;

        colon = strrchr(s, ':');
        if (!colon)
                return -EINVAL;
        n = (size_t) (colon - s);
        if (n == 0 || n >= sizeof(host))
                return -EINVAL;
        memcpy(host, s, n);
        host[n] = '\0';
        if (parse_port(colon + 1, &port) < 0 || inet_pton(AF_INET, host, &sin->sin_addr) != 1)
                return -EINVAL;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        *ret_len = sizeof(*sin);
        return 0;
}

int address_listen(const struct sockaddr_storage *sa, socklen_t len) {
        _cleanup_close_ int fd = -1;
        int one = 1;

        fd = socket(sa->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return negative_errno();
        /* A restart must not wait out TIME_WAIT connections of the last run. */
        if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
                return negative_errno();
        if (bind(fd, (const struct sockaddr *) sa, len) < 0)
                return negative_errno();
        if (listen(fd, SOMAXCONN) < 0)
                return negative_errno();
        return TAKE_FD(fd);
}

int address_local_port(int fd) {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);

        if (getsockname(fd, (struct sockaddr *) &ss, &len) < 0)
                return negative_errno();
        if (ss.ss_family == AF_INET)
                return ntohs(((struct sockaddr_in *) &ss)->sin_port);
        if (ss.ss_family == AF_INET6)
                return ntohs(((struct sockaddr_in6 *) &ss)->sin6_port);
        return -EAFNOSUPPORT;
}
