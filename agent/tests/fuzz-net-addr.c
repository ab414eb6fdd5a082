/* fuzz-net-addr.c: libFuzzer target for the parsers of net-addr.c. The input
 * plays a hostile guest's leases file (the first 6 bytes are the MAC looked
 * up, the rest the file, in a heap block of exactly its size so that ASan
 * sees any read past it), and, as a NUL-terminated string, an address, a
 * subnet and a MAC from a request. Checks that a lease found is a line of
 * the file as dnsmasq writes it ("EXPIRY MAC ADDR "), and that whatever a
 * parser accepts formats back to its input (lower case for a MAC).
 * Not built by meson; build and run it with agent/tests/fuzz net-addr
 * SECONDS, or:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iagent \
 *         agent/tests/fuzz-net-addr.c agent/net-addr.c agent/errors.c -o fuzz-net-addr
 *   ./fuzz-net-addr -max_total_time=60 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "net-addr.h"

static void check_leases(const uint8_t *data, size_t size) {
        char *text, *lower, line[64];
        uint8_t mac[6];
        char m[NET_MAC_STRLEN], a[NET_ADDR_STRLEN];
        uint32_t addr;
        uint64_t expiry;
        size_t len;
        int n;

        if (size < 6)
                return;
        memcpy(mac, data, 6);
        len = size - 6;
        text = malloc(len ? len : 1);
        lower = malloc(len + 1);
        if (!text || !lower) {
                free(text);
                free(lower);
                return;
        }
        memcpy(text, data + 6, len);
        if (net_leases_find(text, len, mac, &addr, &expiry) == 0) {
                for (size_t i = 0; i < len; i++)
                        lower[i] = text[i] >= 'A' && text[i] <= 'Z' ? (char) (text[i] - 'A' + 'a') : text[i];
                lower[len] = '\0';
                net_mac_format(mac, m);
                net_addr_format(addr, a);
                /* The expiry may have leading zeros in the file. */
                n = snprintf(line, sizeof(line), " %s %s ", m, a);
                CHECK(n > 0 && (size_t) n < sizeof(line));
                CHECK(memmem(lower, len, line, (size_t) n) != NULL);
                CHECK(net_leases_find(text, len, mac, NULL, NULL) == 0);
        } else
                CHECK(net_leases_find(text, len, mac, NULL, NULL) == -ENOENT);
        free(text);
        free(lower);
}

static void check_strings(const uint8_t *data, size_t size) {
        char *s = malloc(size + 1);
        char buf[NET_SUBNET_STRLEN], lower[NET_MAC_STRLEN];
        struct net_subnet sn;
        struct error e;
        uint32_t addr;
        uint8_t mac[6];

        if (!s)
                return;
        memcpy(s, data, size);
        s[size] = '\0';
        if (net_addr_parse(s, &addr) == 0) {
                net_addr_format(addr, buf);
                CHECK(strcmp(buf, s) == 0);
        }
        if (net_subnet_parse(s, "subnet", &sn, &e) == 0) {
                net_subnet_format(&sn, buf);
                CHECK(strcmp(buf, s) == 0);
                CHECK(sn.prefix >= NET_PREFIX_MIN && sn.prefix <= NET_PREFIX_MAX);
                CHECK(net_subnet_contains(&sn, net_subnet_gateway(&sn)));
                CHECK(net_subnet_hosts(&sn) == (1U << (32 - sn.prefix)) - 3);
        } else
                CHECK(e.field && strcmp(e.field, "subnet") == 0 && e.message[0]);
        if (net_mac_parse(s, "mac", mac, &e) == 0) {
                CHECK(strlen(s) == NET_MAC_STRLEN - 1);
                for (size_t i = 0; i < NET_MAC_STRLEN; i++)
                        lower[i] = s[i] >= 'A' && s[i] <= 'Z' ? (char) (s[i] - 'A' + 'a') : s[i];
                net_mac_format(mac, buf);
                CHECK(strcmp(buf, lower) == 0);
                CHECK(!(mac[0] & 1));
        } else
                CHECK(e.field && strcmp(e.field, "mac") == 0 && e.message[0]);
        free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        check_leases(data, size);
        check_strings(data, size);
        return 0;
}
