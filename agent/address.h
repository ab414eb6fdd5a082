/* address.h: owns nothing; turns "ADDR:PORT" into a listening TCP socket. */
#pragma once

#include <sys/socket.h>

/* "0.0.0.0:8080", "127.0.0.1:0", "[::]:8080", "[::1]:8080". Numeric addresses
 * only: a daemon that starts before the network must not depend on DNS.
 * Returns 0 or -EINVAL. */
int address_parse(const char *s, struct sockaddr_storage *ret, socklen_t *ret_len);

/* A non-blocking, close-on-exec TCP socket bound to sa and listening.
 * Returns the fd or a negative errno. */
int address_listen(const struct sockaddr_storage *sa, socklen_t len);

/* The port a socket is bound to, or a negative errno. */
int address_local_port(int fd);
