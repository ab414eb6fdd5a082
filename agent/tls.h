/* tls.h: owns the agent's TLS certificate and key: read once at start from
 * the files the command line names, checked the way the token file is, and
 * held in memory (PEM) for libmicrohttpd's GnuTLS, which serves https:// and
 * wss:// with them. */
#pragma once

#include <stdbool.h>
#include <sys/socket.h>

#include "errors.h"
#include "macro.h"

/* A certificate chain (the server's first) and its private key, PEM. */
#define TLS_CERT_FILE_MAX (64 * 1024)
#define TLS_KEY_FILE_MAX (16 * 1024)

/* TLS 1.3 and 1.2 only, GnuTLS's NORMAL ciphers otherwise, the server's
 * order of preference. */
#define TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:%SERVER_PRECEDENCE"

struct tls_credentials {
        char *cert;     /* NUL-terminated PEM */
        char *key;      /* NUL-terminated PEM; wiped when freed */
};

/* Reads both files. The key must be a regular file that neither group nor
 * others may read (chmod 600), like the token; each must be PEM of its kind
 * ("-----BEGIN CERTIFICATE-----", "-----BEGIN ... PRIVATE KEY-----") and no
 * bigger than its maximum. On failure err says which file and why. Whether
 * the key fits the certificate is GnuTLS's to say when the server starts. */
int tls_credentials_load(const char *cert_path, const char *key_path, struct tls_credentials **ret,
                         struct error *err);
struct tls_credentials *tls_credentials_free(struct tls_credentials *t);
DEFINE_CLEANUP_FUNC(struct tls_credentials, tls_credentials_free);

/* Whether a listening address is one only this host can reach: IPv4
 * 127.0.0.0/8, IPv6 ::1 (or an IPv4-mapped loopback), or a Unix socket.
 * Plain HTTP is served only there unless the operator says otherwise. */
bool tls_address_is_local(const struct sockaddr *sa);
