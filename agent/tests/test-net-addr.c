/* test-net-addr.c: a guest network's addresses: dotted quads, subnets (every
 * refusal, overlap, the gateway, picking a guest's address), MACs (every
 * refusal, Xen's random ones), dnsmasq's config and hosts files (and the
 * config through dnsmasq --test, where dnsmasq is installed), and the
 * lookup in a leases file a hostile guest has written into. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "api.h"
#include "net-addr.h"
#include "test-util.h"

#define ADDR(a, b, c, d) ((uint32_t) (a) << 24 | (uint32_t) (b) << 16 | (uint32_t) (c) << 8 | (uint32_t) (d))

static struct net_subnet subnet(const char *s) {
        struct net_subnet n;
        struct error e = { 0 };

        assert_int_equal(net_subnet_parse(s, "subnet", &n, &e), 0);
        return n;
}

static void expect_subnet_error(const char *s, const char *code, const char *message) {
        struct net_subnet n = { .network = 42, .prefix = 42 };
        struct error e = { 0 };

        print_message("%s\n", s ? s : "(null)");
        assert_int_equal(net_subnet_parse(s, "subnet", &n, &e), -EINVAL);
        assert_int_equal(api_error_status(e.code), 400);
        assert_string_equal(error_code_name(e.code), code);
        assert_string_equal(e.field, "subnet");
        if (message)
                assert_string_equal(e.message, message);
        assert_int_equal(n.network, 42); /* untouched */
        assert_int_equal(n.prefix, 42);
}

static void expect_mac_error(const char *s, const char *message) {
        uint8_t m[6] = { 1, 2, 3, 4, 5, 6 }, before[6] = { 1, 2, 3, 4, 5, 6 };
        struct error e = { 0 };

        print_message("%s\n", s ? s : "(null)");
        assert_int_equal(net_mac_parse(s, "mac", m, &e), -EINVAL);
        assert_string_equal(error_code_name(e.code), "invalid_field");
        assert_string_equal(e.field, "mac");
        assert_string_equal(e.message, message);
        assert_memory_equal(m, before, 6);
}

static void test_addr(void **state) {
        static const char *const good[] = { "0.0.0.0", "169.254.1.0", "255.255.255.255", "10.0.0.1", "1.22.133.4" };
        static const char *const bad[] = {
                "", ".", "1.2.3", "1.2.3.4.", ".1.2.3.4", "1.2.3.4.5", "1..2.3", "01.2.3.4", "1.2.3.04", "1.2.3.00",
                "256.1.1.1", "1.2.3.999", "1.2.3.1000", " 1.2.3.4", "1.2.3.4 ", "1.2.3.4\n", "+1.2.3.4", "-1.2.3.4",
                "1.2.3.a", "0x1.2.3.4", "1,2,3,4", "1.2.3.4/24", "::1", "1.2.3.4x", "4294967295",
        };
        char buf[NET_ADDR_STRLEN];
        uint32_t a;

        (void) state;
        assert_int_equal(net_addr_parse("169.254.1.2", &a), 0);
        assert_int_equal(a, ADDR(169, 254, 1, 2));
        for (size_t i = 0; i < ELEMENTSOF(good); i++) {
                assert_int_equal(net_addr_parse(good[i], &a), 0);
                net_addr_format(a, buf);
                assert_string_equal(buf, good[i]);
        }
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                print_message("%s\n", bad[i]);
                a = 7;
                assert_int_equal(net_addr_parse(bad[i], &a), -EINVAL);
                assert_int_equal(a, 7);
        }
        assert_int_equal(net_addr_parse(NULL, &a), -EINVAL);
        net_addr_format(UINT32_MAX, buf);
        assert_string_equal(buf, "255.255.255.255");
}

static void test_subnet_parse(void **state) {
        static const char *const round[] = { "169.254.1.0/24", "10.0.0.0/16", "192.168.7.252/30", "172.16.128.0/17",
                                             "223.255.255.0/24", "1.2.0.0/16" };
        const char *form = "subnet must be an IPv4 network as ADDRESS/PREFIX, e.g. 169.254.1.0/24";
        const char *range = "subnet's prefix must be between /16 (65533 guests) and /30 (one guest)";
        char buf[NET_SUBNET_STRLEN];
        struct net_subnet n;

        (void) state;
        n = subnet("169.254.1.0/24");
        assert_int_equal(n.network, ADDR(169, 254, 1, 0));
        assert_int_equal(n.prefix, 24);
        for (size_t i = 0; i < ELEMENTSOF(round); i++) {
                n = subnet(round[i]);
                net_subnet_format(&n, buf);
                assert_string_equal(buf, round[i]);
        }

        expect_subnet_error("169.254.1.5/24", "invalid_field",
                            "subnet 169.254.1.5/24 is not a network address: did you mean 169.254.1.0/24?");
        expect_subnet_error("10.1.2.3/16", "invalid_field",
                            "subnet 10.1.2.3/16 is not a network address: did you mean 10.1.0.0/16?");
        expect_subnet_error("192.168.7.253/30", "invalid_field",
                            "subnet 192.168.7.253/30 is not a network address: did you mean 192.168.7.252/30?");

        expect_subnet_error("169.254.1.0/15", "out_of_range", range);
        expect_subnet_error("169.254.1.0/31", "out_of_range", range);
        expect_subnet_error("169.254.1.0/32", "out_of_range", range);
        expect_subnet_error("169.254.1.0/0", "out_of_range", range);
        expect_subnet_error("169.254.1.0/8", "out_of_range", range);
        expect_subnet_error("169.254.1.0/99", "out_of_range", range);

        expect_subnet_error("0.0.0.0/16", "invalid_field", "subnet must not be in 0.0.0.0/8 (\"this network\")");
        expect_subnet_error("127.0.0.0/24", "invalid_field", "subnet must not be in 127.0.0.0/8 (loopback)");
        expect_subnet_error("224.0.0.0/24", "invalid_field",
                            "subnet must not be in 224.0.0.0/3 (multicast and reserved)");
        expect_subnet_error("255.255.255.0/24", "invalid_field",
                            "subnet must not be in 224.0.0.0/3 (multicast and reserved)");

        {
                static const char *const bad[] = {
                        NULL, "", "/", "/24", "169.254.1.0", "169.254.1.0/", "169.254.1.0/024", "169.254.1.0/+24",
                        "169.254.1.0/-24", "169.254.1.0/24 ", " 169.254.1.0/24", "169.254.1.0 /24", "169.254.1.0/ 24",
                        "169.254.01.0/24", "169.254.1/24", "169.254.1.0.0/24", "169.254.256.0/24", "169.254.1.0/24/24",
                        "169.254.1.0/2a", "169.254.1.0/100", "169.254.1.0/24\n", "169.254.1.0\\24",
                        "255.255.255.255/300", "169.254.1.0/24xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
                };

                for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                        expect_subnet_error(bad[i], "invalid_field", form);
        }
}

static void test_subnet_math(void **state) {
        struct net_subnet s24 = subnet("169.254.1.0/24"), s16 = subnet("10.7.0.0/16"),
                          s30 = subnet("192.168.7.252/30");

        (void) state;
        assert_int_equal(net_subnet_netmask(&s24), ADDR(255, 255, 255, 0));
        assert_int_equal(net_subnet_netmask(&s16), ADDR(255, 255, 0, 0));
        assert_int_equal(net_subnet_netmask(&s30), ADDR(255, 255, 255, 252));
        assert_int_equal(net_subnet_gateway(&s24), ADDR(169, 254, 1, 1));
        assert_int_equal(net_subnet_gateway(&s30), ADDR(192, 168, 7, 253));
        assert_int_equal(net_subnet_broadcast(&s24), ADDR(169, 254, 1, 255));
        assert_int_equal(net_subnet_broadcast(&s16), ADDR(10, 7, 255, 255));
        assert_int_equal(net_subnet_broadcast(&s30), ADDR(192, 168, 7, 255));
        assert_int_equal(net_subnet_hosts(&s24), 253);
        assert_int_equal(net_subnet_hosts(&s16), 65533);
        assert_int_equal(net_subnet_hosts(&s30), 1);

        assert_true(net_subnet_contains(&s24, ADDR(169, 254, 1, 0)));
        assert_true(net_subnet_contains(&s24, ADDR(169, 254, 1, 77)));
        assert_true(net_subnet_contains(&s24, ADDR(169, 254, 1, 255)));
        assert_false(net_subnet_contains(&s24, ADDR(169, 254, 0, 255)));
        assert_false(net_subnet_contains(&s24, ADDR(169, 254, 2, 0)));
        assert_true(net_subnet_contains(&s30, ADDR(192, 168, 7, 254)));
        assert_false(net_subnet_contains(&s30, ADDR(192, 168, 7, 251)));
        assert_false(net_subnet_contains(&s30, ADDR(192, 168, 8, 0)));
}

static bool overlap_both(const char *a, const char *b) {
        struct net_subnet x = subnet(a), y = subnet(b);
        bool r = net_subnet_overlaps(&x, &y);

        assert_true(r == net_subnet_overlaps(&y, &x)); /* symmetric */
        return r;
}

static void test_overlaps(void **state) {
        (void) state;
        /* identical */
        assert_true(overlap_both("169.254.1.0/24", "169.254.1.0/24"));
        assert_true(overlap_both("10.0.0.0/16", "10.0.0.0/16"));
        /* nested, at either end and inside */
        assert_true(overlap_both("10.0.0.0/16", "10.0.0.0/24"));
        assert_true(overlap_both("10.0.0.0/16", "10.0.255.252/30"));
        assert_true(overlap_both("10.0.0.0/16", "10.0.77.0/24"));
        assert_true(overlap_both("169.254.1.0/24", "169.254.1.128/25"));
        /* same network, different prefixes */
        assert_true(overlap_both("169.254.0.0/16", "169.254.0.0/30"));
        /* adjacent */
        assert_false(overlap_both("169.254.1.0/24", "169.254.2.0/24"));
        assert_false(overlap_both("169.254.0.0/24", "169.254.1.0/24"));
        assert_false(overlap_both("192.168.7.252/30", "192.168.8.0/30"));
        assert_false(overlap_both("192.168.7.248/30", "192.168.7.252/30"));
        assert_false(overlap_both("10.0.0.0/16", "10.1.0.0/16"));
        assert_false(overlap_both("10.0.0.0/16", "10.1.0.0/24"));
        assert_false(overlap_both("10.1.0.0/16", "10.0.255.0/24"));
        /* apart */
        assert_false(overlap_both("10.0.0.0/16", "172.16.0.0/16"));
}

struct used_set {
        uint32_t addrs[8];
        size_t n;
        unsigned calls;
};

static bool is_used(uint32_t addr, void *userdata) {
        struct used_set *u = userdata;

        u->calls++;
        for (size_t i = 0; i < u->n; i++)
                if (u->addrs[i] == addr)
                        return true;
        return false;
}

static bool all_used(uint32_t addr, void *userdata) {
        unsigned *calls = userdata;

        (void) addr;
        (*calls)++;
        return true;
}

static void test_pick(void **state) {
        struct net_subnet s24 = subnet("169.254.1.0/24"), s30 = subnet("192.168.7.252/30"),
                          s16 = subnet("10.7.0.0/16");
        struct used_set u = { 0 };
        unsigned calls = 0;
        uint32_t a = 0;

        (void) state;
        /* first free: gateway + 1 */
        assert_int_equal(net_subnet_pick(&s24, is_used, &u, &a), 0);
        assert_int_equal(a, ADDR(169, 254, 1, 2));
        assert_int_equal(net_subnet_pick(&s24, NULL, NULL, &a), 0);
        assert_int_equal(a, ADDR(169, 254, 1, 2));

        /* skips used ones, takes a hole */
        u = (struct used_set) { .addrs = { ADDR(169, 254, 1, 2), ADDR(169, 254, 1, 3), ADDR(169, 254, 1, 5) }, .n = 3 };
        assert_int_equal(net_subnet_pick(&s24, is_used, &u, &a), 0);
        assert_int_equal(a, ADDR(169, 254, 1, 4));
        u.addrs[u.n++] = a;
        assert_int_equal(net_subnet_pick(&s24, is_used, &u, &a), 0);
        assert_int_equal(a, ADDR(169, 254, 1, 6));

        /* full: every guest address asked about once, never the network,
         * the gateway or broadcast */
        a = 99;
        assert_int_equal(net_subnet_pick(&s24, all_used, &calls, &a), -ENOSPC);
        assert_int_equal(calls, 253);
        assert_int_equal(a, 99);
        calls = 0;
        assert_int_equal(net_subnet_pick(&s16, all_used, &calls, &a), -ENOSPC);
        assert_int_equal(calls, 65533);

        /* /30: one guest address */
        u = (struct used_set) { 0 };
        assert_int_equal(net_subnet_pick(&s30, is_used, &u, &a), 0);
        assert_int_equal(a, ADDR(192, 168, 7, 254));
        u.addrs[u.n++] = a;
        u.calls = 0;
        assert_int_equal(net_subnet_pick(&s30, is_used, &u, &a), -ENOSPC);
        assert_int_equal(u.calls, 1);

        /* the gateway, network or broadcast "used" changes nothing */
        u = (struct used_set) {
                .addrs = { ADDR(169, 254, 1, 0), ADDR(169, 254, 1, 1), ADDR(169, 254, 1, 255) },
                .n = 3,
        };
        assert_int_equal(net_subnet_pick(&s24, is_used, &u, &a), 0);
        assert_int_equal(a, ADDR(169, 254, 1, 2));
}

static void test_mac_parse(void **state) {
        const char *form =
                "mac must be a MAC address as six pairs of hex digits separated by ':', e.g. 00:16:3e:12:34:56";
        static const char *const bad[] = {
                NULL, "", "00:16:3e:aa:bb", "00:16:3e:aa:bb:cc:", "00:16:3e:aa:bb:cc:dd", "00-16-3e-aa-bb-cc",
                "0016.3eaa.bbcc", "00163eaabbcc", "0:16:3e:aa:bb:cc", "00:16:3e:aa:bb:c", "00:16:3e:aa:bb:ccc",
                " 00:16:3e:aa:bb:cc", "00:16:3e:aa:bb:cc ", "00:16:3e:aa:bb:cc\n", "00:16:3g:aa:bb:cc",
                "00:16:3e:aa:bb:+c", "00::16:3e:aa:bb:c", "00:16:3e:aa:bb:cc00:16:3e:aa:bb:cc",
                "00:16:3e:aa:bb;cc", "0x:16:3e:aa:bb:cc",
        };
        uint8_t m[6];
        char buf[NET_MAC_STRLEN];
        struct error e = { 0 };

        (void) state;
        assert_int_equal(net_mac_parse("00:16:3e:aa:bb:cc", "mac", m, &e), 0);
        assert_memory_equal(m, ((uint8_t[]) { 0x00, 0x16, 0x3e, 0xaa, 0xbb, 0xcc }), 6);
        net_mac_format(m, buf);
        assert_string_equal(buf, "00:16:3e:aa:bb:cc");
        assert_int_equal(net_mac_parse("00:16:3E:AA:Bb:cC", "mac", m, &e), 0);
        net_mac_format(m, buf);
        assert_string_equal(buf, "00:16:3e:aa:bb:cc");
        /* locally administered unicast is a guest's right */
        assert_int_equal(net_mac_parse("02:00:00:00:00:01", "mac", m, &e), 0);
        assert_int_equal(net_mac_parse("fe:ff:ff:ff:ff:ff", "mac", m, &e), 0);

        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                expect_mac_error(bad[i], form);
        expect_mac_error("00:00:00:00:00:00", "mac must not be 00:00:00:00:00:00");
        expect_mac_error("ff:ff:ff:ff:ff:ff", "mac must not be the broadcast address ff:ff:ff:ff:ff:ff");
        expect_mac_error("FF:FF:FF:FF:FF:FF", "mac must not be the broadcast address ff:ff:ff:ff:ff:ff");
        expect_mac_error("01:00:5E:00:00:01", "mac 01:00:5e:00:00:01 is a multicast address (bit 0 of its first "
                                              "octet is set): a guest's MAC must be unicast");
        expect_mac_error("33:33:00:00:00:01", "mac 33:33:00:00:00:01 is a multicast address (bit 0 of its first "
                                              "octet is set): a guest's MAC must be unicast");
        expect_mac_error("ff:ff:ff:ff:ff:fe", "mac ff:ff:ff:ff:ff:fe is a multicast address (bit 0 of its first "
                                              "octet is set): a guest's MAC must be unicast");
}

static void test_mac_random(void **state) {
        uint8_t m[6], first[6];
        char buf[NET_MAC_STRLEN];
        struct error e = { 0 };
        bool differ = false;

        (void) state;
        assert_int_equal(net_mac_random(first), 0);
        for (int i = 0; i < 256; i++) {
                assert_int_equal(net_mac_random(m), 0);
                assert_memory_equal(m, ((uint8_t[]) { 0x00, 0x16, 0x3e }), 3);
                assert_int_equal(m[0] & 1, 0); /* unicast */
                assert_int_equal(m[0] & 2, 0); /* globally administered: Xen's OUI */
                assert_true(m[3] < 0x80);      /* libxl's half of the OUI's space */
                net_mac_format(m, buf);
                assert_int_equal(net_mac_parse(buf, "mac", m, &e), 0);
                differ |= !net_mac_equal(m, first);
        }
        assert_true(differ);
        assert_true(net_mac_equal(first, first));
}

static const struct net_dnsmasq_config good_config = {
        .bridge = "xvmbr0",
        .subnet = { .network = ADDR(169, 254, 1, 0), .prefix = 24 },
        .hosts_path = "/var/lib/xvmd/net/default/hosts",
        .leases_path = "/var/lib/xvmd/net/default/leases",
        .lease_seconds = 3600,
};

static void test_dnsmasq_conf(void **state) {
        struct net_dnsmasq_config c;
        char *text = NULL;

        (void) state;
        assert_int_equal(net_dnsmasq_conf(&good_config, &text), 0);
        assert_string_equal(text, "# dnsmasq for the guest network 169.254.1.0/24 on xvmbr0, written by xvmd: DHCP "
                                  "only, static leases.\n"
                                  "port=0\n"
                                  "bind-interfaces\n"
                                  "interface=xvmbr0\n"
                                  "except-interface=lo\n"
                                  "listen-address=169.254.1.1\n"
                                  "dhcp-range=169.254.1.0,static,255.255.255.0,3600\n"
                                  "dhcp-hostsfile=/var/lib/xvmd/net/default/hosts\n"
                                  "dhcp-leasefile=/var/lib/xvmd/net/default/leases\n"
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
                                  "pid-file=\n");
        /* nothing the caller leaves to dnsmasq's defaults or the command line */
        assert_null(strstr(text, "keep-in-foreground"));
        assert_null(strstr(text, "user="));
        free(text);

        c = good_config;
        c.subnet = (struct net_subnet) { .network = ADDR(10, 7, 0, 0), .prefix = 16 };
        c.lease_seconds = NET_LEASE_SECONDS_MIN;
        assert_int_equal(net_dnsmasq_conf(&c, &text), 0);
        assert_non_null(strstr(text, "\nlisten-address=10.7.0.1\n"));
        assert_non_null(strstr(text, "\ndhcp-range=10.7.0.0,static,255.255.0.0,120\n"));
        free(text);

        /* What could smuggle a line, an option or a list into the file. */
        {
                static const char *const bad_bridges[] = {
                        NULL, "", "xvmbr0\nport=53", "a,b", "a b", "br#0", "br\"0", "br/0", "br:0",
                        "abcdefghijklmnop", /* 16 */
                };
                static const char *const bad_paths[] = {
                        NULL, "", "/", "hosts", "./hosts", "/a\nport=53", "/a b", "/a,b", "/a#b", "/a\"b", "/a\\b",
                        "/a\tb", "/é",
                };

                for (size_t i = 0; i < ELEMENTSOF(bad_bridges); i++) {
                        c = good_config;
                        c.bridge = bad_bridges[i];
                        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
                }
                c = good_config;
                c.bridge = "abcdefghijklmno"; /* 15 */
                assert_int_equal(net_dnsmasq_conf(&c, &text), 0);
                free(text);
                for (size_t i = 0; i < ELEMENTSOF(bad_paths); i++) {
                        c = good_config;
                        c.hosts_path = bad_paths[i];
                        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
                        c = good_config;
                        c.leases_path = bad_paths[i];
                        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
                }
        }
        {
                char *long_path = malloc(NET_PATH_MAX + 2);

                assert_non_null(long_path);
                memset(long_path, 'a', NET_PATH_MAX + 1);
                long_path[0] = '/';
                long_path[NET_PATH_MAX + 1] = '\0';
                c = good_config;
                c.hosts_path = long_path;
                assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
                long_path[NET_PATH_MAX] = '\0';
                assert_int_equal(net_dnsmasq_conf(&c, &text), 0);
                free(text);
                free(long_path);
        }
        c = good_config;
        c.lease_seconds = NET_LEASE_SECONDS_MIN - 1;
        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
        c.lease_seconds = NET_LEASE_SECONDS_MAX + 1;
        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
        c.lease_seconds = NET_LEASE_SECONDS_MAX;
        assert_int_equal(net_dnsmasq_conf(&c, &text), 0);
        free(text);
        c = good_config;
        c.subnet.network |= 5; /* host bits */
        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
        c = good_config;
        c.subnet.prefix = 31;
        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
        c.subnet.prefix = 8;
        assert_int_equal(net_dnsmasq_conf(&c, &text), -EINVAL);
}

/* The config held against dnsmasq's own parser, where dnsmasq is installed
 * (Debian's dnsmasq-base; skipped without it). */
static void test_dnsmasq_conf_syntax(void **state) {
        static const char *const dnsmasq_paths[] = { "/usr/sbin/dnsmasq", "/sbin/dnsmasq" };
        const char *dnsmasq = NULL;
        char *text = NULL, *conf = NULL, *dir;
        pid_t pid;
        int status, fd;

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(dnsmasq_paths); i++)
                if (access(dnsmasq_paths[i], X_OK) == 0)
                        dnsmasq = dnsmasq_paths[i];
        if (!dnsmasq)
                skip();
        dir = test_mkdtemp();
        assert_non_null(dir);
        assert_true(asprintf(&conf, "%s/dnsmasq.conf", dir) > 0);
        assert_int_equal(net_dnsmasq_conf(&good_config, &text), 0);
        fd = open(conf, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        assert_true(fd >= 0);
        assert_int_equal(write(fd, text, strlen(text)), (ssize_t) strlen(text));
        close(fd);
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                char *arg;

                if (asprintf(&arg, "--conf-file=%s", conf) < 0)
                        _exit(127);
                execl(dnsmasq, "dnsmasq", "--test", arg, (char *) NULL);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        assert_int_equal(WEXITSTATUS(status), 0);
        test_rm_rf(dir);
        free(dir);
        free(conf);
        free(text);
}

static void test_dnsmasq_hosts(void **state) {
        const struct net_host hosts[] = {
                { .mac = { 0x00, 0x16, 0x3e, 0x0a, 0xbb, 0xcc }, .addr = ADDR(169, 254, 1, 2) },
                { .mac = { 0x02, 0x00, 0x00, 0x00, 0x00, 0x01 }, .addr = ADDR(169, 254, 1, 3) },
                { .mac = { 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff }, .addr = ADDR(255, 255, 255, 255) },
        };
        char *text = NULL;

        (void) state;
        assert_int_equal(net_dnsmasq_hosts(hosts, 0, &text), 0);
        assert_string_equal(text, "");
        free(text);
        assert_int_equal(net_dnsmasq_hosts(hosts, 1, &text), 0);
        assert_string_equal(text, "00:16:3e:0a:bb:cc,169.254.1.2\n");
        free(text);
        assert_int_equal(net_dnsmasq_hosts(hosts, ELEMENTSOF(hosts), &text), 0);
        assert_string_equal(text, "00:16:3e:0a:bb:cc,169.254.1.2\n"
                                  "02:00:00:00:00:01,169.254.1.3\n"
                                  "fe:ff:ff:ff:ff:ff,255.255.255.255\n");
        free(text);
        assert_int_equal(net_dnsmasq_hosts(hosts, SIZE_MAX / 2, &text), -ENOMEM);
}

/* Looks up mac in exactly len bytes of a heap copy of text (no NUL after
 * it), so ASan sees any read past the end. */
static int find(const char *text, size_t len, const char *mac, uint32_t *addr, uint64_t *expiry) {
        uint8_t m[6];
        struct error e = { 0 };
        char *copy = malloc(len ? len : 1);
        int r;

        assert_non_null(copy);
        assert_int_equal(net_mac_parse(mac, "mac", m, &e), 0);
        memcpy(copy, text, len);
        r = net_leases_find(copy, len, m, addr, expiry);
        free(copy);
        return r;
}

static int finds(const char *text, const char *mac, uint32_t *addr, uint64_t *expiry) {
        return find(text, strlen(text), mac, addr, expiry);
}

static void test_leases(void **state) {
        const char *file = "1700000000 00:16:3e:00:00:02 169.254.1.2 guest-a 01:00:16:3e:00:00:02\n"
                           "1700000123 00:16:3e:00:00:03 169.254.1.3 * *\n"
                           "0 00:16:3e:00:00:04 169.254.1.4 forever *\n"
                           "duid 00:01:00:01:2c:3b:4d:5e:52:54:00:12:34:56\n"
                           "1700000000 1234567 fd00::2 guest-v6 00:01:00:01\n";
        uint32_t addr = 0;
        uint64_t expiry = 0;

        (void) state;
        assert_int_equal(finds(file, "00:16:3e:00:00:02", &addr, &expiry), 0);
        assert_int_equal(addr, ADDR(169, 254, 1, 2));
        assert_int_equal(expiry, 1700000000);
        assert_int_equal(finds(file, "00:16:3E:00:00:03", &addr, &expiry), 0);
        assert_int_equal(addr, ADDR(169, 254, 1, 3));
        assert_int_equal(expiry, 1700000123);
        assert_int_equal(finds(file, "00:16:3e:00:00:04", &addr, &expiry), 0);
        assert_int_equal(addr, ADDR(169, 254, 1, 4));
        assert_int_equal(expiry, 0);
        assert_int_equal(finds(file, "00:16:3e:00:00:04", NULL, NULL), 0);
        addr = 7;
        expiry = 7;
        assert_int_equal(finds(file, "00:16:3e:00:00:05", &addr, &expiry), -ENOENT);
        assert_int_equal(addr, 7);
        assert_int_equal(expiry, 7);
        assert_int_equal(finds("", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);
        assert_int_equal(finds("\n\n\n", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);

        /* Upper case in the file (dnsmasq writes lower), as well. */
        assert_int_equal(finds("5 00:16:3E:AA:BB:CC 169.254.1.9 * *\n", "00:16:3e:aa:bb:cc", &addr, &expiry), 0);
        assert_int_equal(addr, ADDR(169, 254, 1, 9));

        /* Garbage around a good line: each skipped. */
        {
                const char *g = "garbage\n"
                                "\n"
                                " 1 00:16:3e:00:00:02 169.254.1.20 * *\n"       /* leading space */
                                "1  00:16:3e:00:00:02 169.254.1.21 * *\n"       /* two spaces */
                                "1 00:16:3e:00:00:02  169.254.1.22 * *\n"
                                "-1 00:16:3e:00:00:02 169.254.1.23 * *\n"
                                "1x 00:16:3e:00:00:02 169.254.1.24 * *\n"
                                "99999999999999999999 00:16:3e:00:00:02 169.254.1.25 * *\n" /* > UINT64_MAX */
                                "1 00:16:3e:00:00:0 169.254.1.26 * *\n"
                                "1 00:16:3e:00:00:022 169.254.1.27 * *\n"
                                "1 01-00:16:3e:00:00:02 169.254.1.28 * *\n"     /* a hardware type */
                                "1 00:16:3e:00:00:02 169.254.1.256 * *\n"
                                "1 00:16:3e:00:00:02 169.254.01.29 * *\n"
                                "1 00:16:3e:00:00:02 fd00::2 * *\n"
                                "1 00:16:3e:00:00:02\n"
                                "1 00:16:3e:00:00:02 \n"
                                "1 00:16:3e:00:00:02 169.254.1.30\n"           /* no space after ADDR */
                                "1 00:16:3e:00:00:02 169.254.1.31\t* *\n"
                                "1\n"
                                "1 \n"
                                "18446744073709551615 00:16:3e:00:00:02 169.254.1.2 * *\n";

                assert_int_equal(finds(g, "00:16:3e:00:00:02", &addr, &expiry), 0);
                assert_int_equal(addr, ADDR(169, 254, 1, 2));
                assert_int_equal(expiry, UINT64_MAX);
        }

        /* A NUL byte: its line is skipped, the next one read. */
        {
                const char nul[] = "1 00:16:3e:00:00:02 169.254.1\0.5 * *\n2 00:16:3e:00:00:02 169.254.1.6 * *\n";

                assert_int_equal(find(nul, sizeof(nul) - 1, "00:16:3e:00:00:02", &addr, &expiry), 0);
                assert_int_equal(addr, ADDR(169, 254, 1, 6));
                assert_int_equal(expiry, 2);
        }

        /* Duplicate MACs: the first line wins. */
        assert_int_equal(finds("10 00:16:3e:00:00:02 169.254.1.2 * *\n"
                               "20 00:16:3e:00:00:02 169.254.1.3 * *\n",
                               "00:16:3e:00:00:02", &addr, &expiry),
                         0);
        assert_int_equal(addr, ADDR(169, 254, 1, 2));
        assert_int_equal(expiry, 10);

        /* No newline at the end: the last line counts if ADDR is whole (a
         * space follows it), whatever became of the guest's fields. */
        assert_int_equal(finds("1 00:16:3e:00:00:09 169.254.1.9 * *\n3 00:16:3e:00:00:02 169.254.1.7 gue",
                               "00:16:3e:00:00:02", &addr, &expiry),
                         0);
        assert_int_equal(addr, ADDR(169, 254, 1, 7));
        assert_int_equal(expiry, 3);
        assert_int_equal(finds("3 00:16:3e:00:00:02 169.254.1.7 ", "00:16:3e:00:00:02", &addr, &expiry), 0);
        /* ... and not if it is torn in ADDR: "169.254.1.1" may be "169.254.1.17". */
        assert_int_equal(finds("3 00:16:3e:00:00:02 169.254.1.1", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);
        assert_int_equal(finds("3 00:16:3e:00:00:02 169.254.1.", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);
        assert_int_equal(finds("3 00:16:3e:00:00:02", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);
        assert_int_equal(finds("3 00:16:3e:00:0", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);
        assert_int_equal(finds("3", "00:16:3e:00:00:02", &addr, &expiry), -ENOENT);

        /* Long lines: a hostname and client id of 100 KB each (more than
         * dnsmasq writes), then a long line of garbage, then the lease. */
        {
                size_t big = 100 * 1024, n = 0;
                char *t = malloc(4 * big);

                assert_non_null(t);
                n += (size_t) sprintf(t + n, "1 00:16:3e:00:00:03 169.254.1.3 ");
                memset(t + n, 'h', big);
                n += big;
                t[n++] = ' ';
                memset(t + n, 'c', big);
                n += big;
                t[n++] = '\n';
                memset(t + n, '9', big); /* digits, as an EXPIRY would be */
                n += big;
                t[n++] = '\n';
                n += (size_t) sprintf(t + n, "2 00:16:3e:00:00:02 169.254.1.8 * *");
                assert_int_equal(find(t, n, "00:16:3e:00:00:02", &addr, &expiry), 0);
                assert_int_equal(addr, ADDR(169, 254, 1, 8));
                assert_int_equal(find(t, n, "00:16:3e:00:00:03", &addr, &expiry), 0);
                assert_int_equal(addr, ADDR(169, 254, 1, 3));
                free(t);
        }
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_addr),
                cmocka_unit_test(test_subnet_parse),
                cmocka_unit_test(test_subnet_math),
                cmocka_unit_test(test_overlaps),
                cmocka_unit_test(test_pick),
                cmocka_unit_test(test_mac_parse),
                cmocka_unit_test(test_mac_random),
                cmocka_unit_test(test_dnsmasq_conf),
                cmocka_unit_test(test_dnsmasq_conf_syntax),
                cmocka_unit_test(test_dnsmasq_hosts),
                cmocka_unit_test(test_leases),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
