/* net-addr.c: owns the rules of a guest network's addresses and the text of
 * its dnsmasq's files (see net-addr.h). Every parser here takes a length and
 * reads no byte past it; none trusts a NUL to end its input. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "macro.h"
#include "net-addr.h"

#define fail(err, code, field, ...) error_set(err, -EINVAL, code, field, __VA_ARGS__)

static bool is_digit(char c) {
        return c >= '0' && c <= '9';
}

static int hex_value(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -1;
}

/* A decimal number of 1..max_digits digits without a leading zero (but "0"),
 * exactly n bytes of s. Returns the value or -1. */
static long parse_decimal(const char *s, size_t n, size_t max_digits) {
        long v = 0;

        if (n == 0 || n > max_digits || (n > 1 && s[0] == '0'))
                return -1;
        for (size_t i = 0; i < n; i++) {
                if (!is_digit(s[i]))
                        return -1;
                v = v * 10 + (s[i] - '0');
        }
        return v;
}

/* A strict dotted quad of exactly n bytes of s. */
static int parse_addr(const char *s, size_t n, uint32_t *ret) {
        uint32_t a = 0;
        size_t i = 0;

        for (int part = 0; part < 4; part++) {
                size_t start = i;
                long v;

                while (i < n && s[i] != '.')
                        i++;
                v = parse_decimal(s + start, i - start, 3);
                if (v < 0 || v > 255)
                        return -EINVAL;
                a = a << 8 | (uint32_t) v;
                if (part < 3) {
                        if (i == n)
                                return -EINVAL;
                        i++; /* the dot */
                }
        }
        if (i != n)
                return -EINVAL;
        *ret = a;
        return 0;
}

int net_addr_parse(const char *s, uint32_t *ret) {
        if (!s)
                return -EINVAL;
        return parse_addr(s, strlen(s), ret);
}

void net_addr_format(uint32_t addr, char buf[static NET_ADDR_STRLEN]) {
        snprintf(buf, NET_ADDR_STRLEN, "%u.%u.%u.%u", addr >> 24, addr >> 16 & 0xff, addr >> 8 & 0xff,
                 addr & 0xff);
}

static uint32_t prefix_mask(unsigned prefix) {
        return prefix == 0 ? 0 : prefix >= 32 ? UINT32_MAX : UINT32_MAX << (32 - prefix);
}

int net_subnet_parse(const char *s, const char *field, struct net_subnet *ret, struct error *err) {
        struct net_subnet n;
        const char *slash;
        char have[NET_SUBNET_STRLEN], want[NET_SUBNET_STRLEN];
        uint32_t addr;
        long prefix;
        size_t len;

        len = s ? strnlen(s, NET_SUBNET_STRLEN) : 0;
        slash = s ? memchr(s, '/', len) : NULL;
        if (!slash || len == NET_SUBNET_STRLEN || parse_addr(s, (size_t) (slash - s), &addr) < 0 ||
            (prefix = parse_decimal(slash + 1, len - (size_t) (slash - s) - 1, 2)) < 0)
                return fail(err, ERROR_INVALID_FIELD, field,
                            "%s must be an IPv4 network as ADDRESS/PREFIX, e.g. 169.254.1.0/24", field);
        if (prefix < NET_PREFIX_MIN || prefix > NET_PREFIX_MAX)
                return fail(err, ERROR_OUT_OF_RANGE, field,
                            "%s's prefix must be between /%d (65533 guests) and /%d (one guest)", field,
                            NET_PREFIX_MIN, NET_PREFIX_MAX);
        switch (addr >> 24) {
        case 0:
                return fail(err, ERROR_INVALID_FIELD, field, "%s must not be in 0.0.0.0/8 (\"this network\")",
                            field);
        case 127:
                return fail(err, ERROR_INVALID_FIELD, field, "%s must not be in 127.0.0.0/8 (loopback)", field);
        default:
                if (addr >> 24 >= 224)
                        return fail(err, ERROR_INVALID_FIELD, field,
                                    "%s must not be in 224.0.0.0/3 (multicast and reserved)", field);
        }
        n = (struct net_subnet) { .network = addr & prefix_mask((unsigned) prefix), .prefix = (uint8_t) prefix };
        if (n.network != addr) {
                snprintf(have, sizeof(have), "%.*s", (int) len, s);
                net_subnet_format(&n, want);
                return fail(err, ERROR_INVALID_FIELD, field, "%s %s is not a network address: did you mean %s?",
                            field, have, want);
        }
        *ret = n;
        return 0;
}

void net_subnet_format(const struct net_subnet *s, char buf[static NET_SUBNET_STRLEN]) {
        char a[NET_ADDR_STRLEN];

        net_addr_format(s->network, a);
        snprintf(buf, NET_SUBNET_STRLEN, "%s/%u", a, s->prefix <= 32 ? (unsigned) s->prefix : 32U);
}

bool net_subnet_overlaps(const struct net_subnet *a, const struct net_subnet *b) {
        uint32_t m = prefix_mask(a->prefix < b->prefix ? a->prefix : b->prefix);

        return (a->network & m) == (b->network & m);
}

bool net_subnet_contains(const struct net_subnet *s, uint32_t addr) {
        return (addr & prefix_mask(s->prefix)) == s->network;
}

uint32_t net_subnet_netmask(const struct net_subnet *s) {
        return prefix_mask(s->prefix);
}

uint32_t net_subnet_broadcast(const struct net_subnet *s) {
        return s->network | ~prefix_mask(s->prefix);
}

uint32_t net_subnet_gateway(const struct net_subnet *s) {
        return s->network + 1;
}

uint32_t net_subnet_hosts(const struct net_subnet *s) {
        uint32_t size = ~prefix_mask(s->prefix) + 1;

        return size > 3 ? size - 3 : 0;
}

int net_subnet_pick(const struct net_subnet *s, bool (*used)(uint32_t addr, void *userdata), void *userdata,
                    uint32_t *ret) {
        uint32_t last = net_subnet_broadcast(s) - 1;

        for (uint32_t a = net_subnet_gateway(s) + 1; a <= last && a > s->network; a++)
                if (!used || !used(a, userdata)) {
                        *ret = a;
                        return 0;
                }
        return -ENOSPC;
}

/* Six pairs of hex digits separated by ':', exactly 17 bytes of s. */
static int parse_mac(const char *s, size_t n, uint8_t ret[static 6]) {
        uint8_t m[6];

        if (n != NET_MAC_STRLEN - 1)
                return -EINVAL;
        for (int i = 0; i < 6; i++) {
                int hi = hex_value(s[3 * i]), lo = hex_value(s[3 * i + 1]);

                if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
                        return -EINVAL;
                m[i] = (uint8_t) (hi << 4 | lo);
        }
        memcpy(ret, m, sizeof(m));
        return 0;
}

int net_mac_parse(const char *s, const char *field, uint8_t ret[static 6], struct error *err) {
        static const uint8_t zero[6], broadcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
        char text[NET_MAC_STRLEN];
        uint8_t m[6];

        if (!s || parse_mac(s, strnlen(s, NET_MAC_STRLEN), m) < 0)
                return fail(err, ERROR_INVALID_FIELD, field,
                            "%s must be a MAC address as six pairs of hex digits separated by ':', "
                            "e.g. 00:16:3e:12:34:56",
                            field);
        if (net_mac_equal(m, zero))
                return fail(err, ERROR_INVALID_FIELD, field, "%s must not be 00:00:00:00:00:00", field);
        if (net_mac_equal(m, broadcast))
                return fail(err, ERROR_INVALID_FIELD, field,
                            "%s must not be the broadcast address ff:ff:ff:ff:ff:ff", field);
        if (m[0] & 1) {
                net_mac_format(m, text);
                return fail(err, ERROR_INVALID_FIELD, field,
                            "%s %s is a multicast address (bit 0 of its first octet is set): a guest's MAC "
                            "must be unicast",
                            field, text);
        }
        memcpy(ret, m, sizeof(m));
        return 0;
}

void net_mac_format(const uint8_t mac[static 6], char buf[static NET_MAC_STRLEN]) {
        snprintf(buf, NET_MAC_STRLEN, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}

bool net_mac_equal(const uint8_t a[static 6], const uint8_t b[static 6]) {
        return memcmp(a, b, 6) == 0;
}

int net_mac_random(uint8_t ret[static 6]) {
        uint8_t r[3];
        size_t got = 0;

        while (got < sizeof(r)) {
                ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return negative_errno();
                }
                got += (size_t) n;
        }
        ret[0] = 0x00;
        ret[1] = 0x16;
        ret[2] = 0x3e;
        ret[3] = r[0] & 0x7f;
        ret[4] = r[1];
        ret[5] = r[2];
        return 0;
}

/* What may go into dnsmasq's config file unquoted: no space, newline, comma,
 * '#' or quote can reach it. */
static bool ifname_is_valid(const char *s) {
        size_t n = s ? strnlen(s, NET_IFNAME_MAX + 1) : 0;

        if (n == 0 || n > NET_IFNAME_MAX)
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || is_digit(s[i]) ||
                      s[i] == '.' || s[i] == '_' || s[i] == '-'))
                        return false;
        return true;
}

static bool path_is_valid(const char *s) {
        size_t n = s ? strnlen(s, NET_PATH_MAX + 1) : 0;

        if (n < 2 || n > NET_PATH_MAX || s[0] != '/')
                return false;
        for (size_t i = 0; i < n; i++)
                if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') || is_digit(s[i]) ||
                      s[i] == '.' || s[i] == '_' || s[i] == '-' || s[i] == '+' || s[i] == '/'))
                        return false;
        return true;
}

int net_dnsmasq_conf(const struct net_dnsmasq_config *c, char **ret) {
        char network[NET_ADDR_STRLEN], netmask[NET_ADDR_STRLEN], gateway[NET_ADDR_STRLEN];
        char subnet[NET_SUBNET_STRLEN];
        char *text;

        if (!ifname_is_valid(c->bridge) || !path_is_valid(c->hosts_path) || !path_is_valid(c->leases_path) ||
            c->subnet.prefix < NET_PREFIX_MIN || c->subnet.prefix > NET_PREFIX_MAX ||
            (c->subnet.network & ~prefix_mask(c->subnet.prefix)) != 0 ||
            c->lease_seconds < NET_LEASE_SECONDS_MIN || c->lease_seconds > NET_LEASE_SECONDS_MAX)
                return -EINVAL;
        net_addr_format(c->subnet.network, network);
        net_addr_format(net_subnet_netmask(&c->subnet), netmask);
        net_addr_format(net_subnet_gateway(&c->subnet), gateway);
        net_subnet_format(&c->subnet, subnet);
        if (asprintf(&text,
                     "# dnsmasq for the guest network %s on %s, written by xvmd: DHCP only, static leases.\n"
                     "port=0\n"
                     "bind-interfaces\n"
                     "interface=%s\n"
                     "except-interface=lo\n"
                     "listen-address=%s\n"
                     "dhcp-range=%s,static,%s,%" PRIu32 "\n"
                     "dhcp-hostsfile=%s\n"
                     "dhcp-leasefile=%s\n"
                     "dhcp-authoritative\n"
                     "dhcp-no-override\n"
                     "# No router and no DNS server: an option without data is not sent.\n"
                     "dhcp-option=3\n"
                     "dhcp-option=6\n"
                     "no-resolv\n"
                     "no-hosts\n"
                     "log-facility=-\n"
                     "# A guest decides how often it asks: its routine exchanges are not logged.\n"
                     "quiet-dhcp\n"
                     "pid-file=\n",
                     subnet, c->bridge, c->bridge, gateway, network, netmask, c->lease_seconds, c->hosts_path,
                     c->leases_path) < 0)
                return -ENOMEM;
        *ret = text;
        return 0;
}

int net_dnsmasq_hosts(const struct net_host *hosts, size_t n, char **ret) {
        /* "00:16:3e:aa:bb:cc,255.255.255.255\n" */
        const size_t line_max = NET_MAC_STRLEN - 1 + 1 + NET_ADDR_STRLEN - 1 + 1;
        char *text, *p;

        if (n > (SIZE_MAX - 1) / line_max)
                return -ENOMEM;
        text = malloc(n * line_max + 1);
        if (!text)
                return -ENOMEM;
        p = text;
        *p = '\0';
        for (size_t i = 0; i < n; i++) {
                char mac[NET_MAC_STRLEN], addr[NET_ADDR_STRLEN];

                net_mac_format(hosts[i].mac, mac);
                net_addr_format(hosts[i].addr, addr);
                p += snprintf(p, line_max + 1, "%s,%s\n", mac, addr);
        }
        *ret = text;
        return 0;
}

/* One line of a leases file, without its newline: "EXPIRY MAC ADDR ...". */
static int parse_lease(const char *s, size_t n, uint8_t mac[static 6], uint32_t *addr, uint64_t *expiry) {
        const char *sp;
        uint64_t e = 0;
        size_t i = 0;

        while (i < n && is_digit(s[i])) {
                unsigned d = (unsigned) (s[i] - '0');

                if (e > (UINT64_MAX - d) / 10)
                        return -EINVAL;
                e = e * 10 + d;
                i++;
        }
        if (i == 0 || i == n || s[i] != ' ')
                return -EINVAL;
        i++;
        if (n - i < NET_MAC_STRLEN || s[i + NET_MAC_STRLEN - 1] != ' ' ||
            parse_mac(s + i, NET_MAC_STRLEN - 1, mac) < 0)
                return -EINVAL;
        i += NET_MAC_STRLEN;
        sp = memchr(s + i, ' ', n - i);
        if (!sp || parse_addr(s + i, (size_t) (sp - (s + i)), addr) < 0)
                return -EINVAL;
        *expiry = e;
        return 0;
}

int net_leases_find(const char *text, size_t len, const uint8_t mac[static 6], uint32_t *ret_addr,
                    uint64_t *ret_expiry) {
        size_t pos = 0;

        while (pos < len) {
                const char *nl = memchr(text + pos, '\n', len - pos);
                size_t end = nl ? (size_t) (nl - text) : len;
                uint8_t m[6];
                uint32_t addr;
                uint64_t expiry;

                if (parse_lease(text + pos, end - pos, m, &addr, &expiry) == 0 && net_mac_equal(m, mac)) {
                        if (ret_addr)
                                *ret_addr = addr;
                        if (ret_expiry)
                                *ret_expiry = expiry;
                        return 0;
                }
                pos = end + 1;
        }
        return -ENOENT;
}
