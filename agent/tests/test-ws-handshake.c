/* test-ws-handshake.c: the server's side of the RFC 6455 opening handshake:
 * a browser's request passes, each bad header is named with the right
 * status, and the accept value matches the RFC's own example. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <string.h>

#include "ws-handshake.h"

/* RFC 6455 section 1.3 (and 4.2.2's example). */
#define RFC_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define RFC_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

static struct ws_handshake_request good(void) {
        return (struct ws_handshake_request) {
                .method = "GET",
                .upgrade = "websocket",
                .connection = "Upgrade",
                .version = "13",
                .key = RFC_KEY,
        };
}

static void test_rfc_example(void **state) {
        char accept[WS_HANDSHAKE_ACCEPT_LEN + 1];

        (void) state;
        assert_int_equal(ws_handshake_accept(RFC_KEY, accept), 0);
        assert_string_equal(accept, RFC_ACCEPT);
        assert_int_equal(strlen(accept), WS_HANDSHAKE_ACCEPT_LEN);
        assert_int_equal(ws_handshake_accept(NULL, accept), -EINVAL);
}

static void test_good_requests(void **state) {
        static const struct {
                const char *upgrade, *connection;
        } forms[] = {
                { "websocket", "Upgrade" },
                { "WebSocket", "upgrade" },                 /* case does not matter */
                { "WEBSOCKET", "UPGRADE" },
                { "h2c, websocket", "keep-alive, Upgrade" }, /* token lists (Firefox sends the second) */
                { " websocket ,foo", "Upgrade , keep-alive" },
                { "foo,\twebsocket\t", "close,upgrade" },
                { ",,websocket,,", ",Upgrade," },
        };
        struct ws_handshake_error e;

        (void) state;
        for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
                struct ws_handshake_request r = good();

                r.upgrade = forms[i].upgrade;
                r.connection = forms[i].connection;
                memset(&e, 0, sizeof(e));
                if (ws_handshake_check(&r, &e) != 0)
                        fail_msg("form %zu rejected: %s", i, e.message);
        }
        /* Other valid keys: all zero bytes, all ones. */
        {
                struct ws_handshake_request r = good();

                r.key = "AAAAAAAAAAAAAAAAAAAAAA==";
                assert_int_equal(ws_handshake_check(&r, &e), 0);
                r.key = "/////////////////////w==";
                assert_int_equal(ws_handshake_check(&r, &e), 0);
        }
}

static void expect_bad(const struct ws_handshake_request *r, unsigned status, const char *header) {
        struct ws_handshake_error e = { 0 };

        assert_int_equal(ws_handshake_check(r, &e), -EINVAL);
        assert_int_equal(e.status, status);
        if (header)
                assert_string_equal(e.header, header);
        else
                assert_null(e.header);
        assert_non_null(e.message);
        assert_true(strlen(e.message) > 10);
}

static void test_bad_method(void **state) {
        struct ws_handshake_request r = good();

        (void) state;
        r.method = "POST";
        expect_bad(&r, 405, NULL);
        r.method = "get"; /* methods are case-sensitive */
        expect_bad(&r, 405, NULL);
        r.method = NULL;
        expect_bad(&r, 405, NULL);
}

static void test_bad_upgrade(void **state) {
        static const char *const values[] = { "", "websockets", "web socket", "h2c", "websocket/13x,", "xwebsocket" };
        struct ws_handshake_request r = good();

        (void) state;
        r.upgrade = NULL;
        expect_bad(&r, 426, "Upgrade");
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                r.upgrade = values[i];
                expect_bad(&r, 426, "Upgrade");
        }
}

static void test_bad_connection(void **state) {
        static const char *const values[] = { "", "keep-alive", "upgrades", "keep-alive upgrade", "close" };
        struct ws_handshake_request r = good();

        (void) state;
        r.connection = NULL;
        expect_bad(&r, 426, "Connection");
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                r.connection = values[i];
                expect_bad(&r, 426, "Connection");
        }
}

static void test_bad_version(void **state) {
        static const char *const values[] = { "", "8", "12", "14", "13 ", "013", "13, 8" };
        struct ws_handshake_request r = good();

        (void) state;
        r.version = NULL;
        expect_bad(&r, 426, "Sec-WebSocket-Version");
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                r.version = values[i];
                expect_bad(&r, 426, "Sec-WebSocket-Version");
        }
}

static void test_bad_key(void **state) {
        static const char *const values[] = {
                "",
                "dGhlIHNhbXBsZSBub25jZQ",       /* no padding */
                "dGhlIHNhbXBsZSBub25jZQ=",      /* short padding */
                "dGhlIHNhbXBsZSBub25jZQ===",    /* 25 characters */
                "dGhlIHNhbXBsZSBub25j",         /* 15 bytes */
                "dGhlIHNhbXBsZSBub25jZSE=",     /* 17 bytes */
                "dGhlIHNhbXBsZSBub25jZR==",     /* non-canonical: unused bits set */
                "dGhlIHNhbXBsZSBub2 5jZQ==",    /* a space inside */
                "dGhlIHNhbXBsZSBub2-5jZQ==",    /* URL-safe alphabet */
                "dGhlIHNhbXBsZSBub25jZQ=A",
                "==dGhlIHNhbXBsZSBub25jZQ",
                "dGhlIHNhbXBsZSBub25jZQ==dGhlIHNhbXBsZSBub25jZQ==",
        };
        struct ws_handshake_request r = good();

        (void) state;
        r.key = NULL;
        expect_bad(&r, 400, "Sec-WebSocket-Key");
        for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
                r.key = values[i];
                expect_bad(&r, 400, "Sec-WebSocket-Key");
        }
}

/* The first bad part is the one named. */
static void test_order(void **state) {
        struct ws_handshake_request r = { .method = "GET" };
        struct ws_handshake_error e;

        (void) state;
        assert_int_equal(ws_handshake_check(&r, &e), -EINVAL);
        assert_string_equal(e.header, "Upgrade");
        assert_int_equal(e.status, 426);
        /* A NULL error pointer is allowed. */
        assert_int_equal(ws_handshake_check(&r, NULL), -EINVAL);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_rfc_example),
                cmocka_unit_test(test_good_requests),
                cmocka_unit_test(test_bad_method),
                cmocka_unit_test(test_bad_upgrade),
                cmocka_unit_test(test_bad_connection),
                cmocka_unit_test(test_bad_version),
                cmocka_unit_test(test_bad_key),
                cmocka_unit_test(test_order),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
