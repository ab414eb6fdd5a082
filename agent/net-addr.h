/* net-addr.h: owns the rules of a guest network's addresses, pure logic and
 * no system call but getrandom(): IPv4 subnets (parsing, overlap, the
 * gateway, picking a free guest address), MAC addresses (parsing, Xen's
 * random ones), and the text of the files of the dnsmasq that serves one
 * network's DHCP: its config, its hosts file, and the lookup of a MAC in
 * the leases file it writes.
 *
 * Addresses are uint32_t in host byte order (169.254.1.0 is 0xa9fe0100).
 * A subnet's layout: its network address, then the gateway (the bridge's
 * address, the first host), then the guests' addresses, then broadcast. */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define NET_PREFIX_MIN 16               /* 65533 guests */
#define NET_PREFIX_MAX 30               /* one guest */

#define NET_ADDR_STRLEN 16              /* "255.255.255.255" and its NUL */
#define NET_SUBNET_STRLEN 19            /* "255.255.255.255/32" and its NUL */
#define NET_MAC_STRLEN 18               /* "00:16:3e:aa:bb:cc" and its NUL */

/* dnsmasq's lease time: its own minimum is two minutes. */
#define NET_LEASE_SECONDS_MIN 120
#define NET_LEASE_SECONDS_MAX (365U * 24 * 3600)

#define NET_IFNAME_MAX 15               /* IFNAMSIZ less its NUL */
#define NET_PATH_MAX 1024

struct net_subnet {
        uint32_t network;               /* host bits zero */
        uint8_t prefix;                 /* NET_PREFIX_MIN..NET_PREFIX_MAX */
};

/* "169.254.1.0/24": a strict dotted quad (each part 0..255 without leading
 * zeros, no spaces or signs), "/", a prefix of 16..30 without leading zeros.
 * Refused: another form (ERROR_INVALID_FIELD), a prefix out of range
 * (ERROR_OUT_OF_RANGE), a network in 0.0.0.0/8, 127.0.0.0/8 (loopback) or
 * 224.0.0.0/3 (multicast and reserved), and host bits set ("... is not a
 * network address: did you mean 169.254.1.0/24?"), each ERROR_INVALID_FIELD
 * naming field. Returns 0 or -EINVAL. */
int net_subnet_parse(const char *s, const char *field, struct net_subnet *ret, struct error *err);
void net_subnet_format(const struct net_subnet *s, char buf[static NET_SUBNET_STRLEN]);

/* Whether a and b share any address: one holds the other (or they are the
 * same). Adjacent subnets do not overlap. */
bool net_subnet_overlaps(const struct net_subnet *a, const struct net_subnet *b);
/* Whether addr is in s, its network and broadcast addresses included. */
bool net_subnet_contains(const struct net_subnet *s, uint32_t addr);
uint32_t net_subnet_netmask(const struct net_subnet *s);
uint32_t net_subnet_broadcast(const struct net_subnet *s);
/* The first host address: the bridge's. */
uint32_t net_subnet_gateway(const struct net_subnet *s);
/* How many addresses guests can have: all but network, gateway, broadcast. */
uint32_t net_subnet_hosts(const struct net_subnet *s);
/* The lowest guest address (gateway + 1 .. broadcast - 1) that used() says
 * is free (used NULL: all are). Returns 0, or -ENOSPC when all are used. */
int net_subnet_pick(const struct net_subnet *s, bool (*used)(uint32_t addr, void *userdata), void *userdata,
                    uint32_t *ret);

/* A strict dotted quad as in net_subnet_parse(). Returns 0 or -EINVAL. */
int net_addr_parse(const char *s, uint32_t *ret);
void net_addr_format(uint32_t addr, char buf[static NET_ADDR_STRLEN]);

/* "00:16:3e:aa:bb:cc": exactly 17 characters, six pairs of hex digits of
 * either case separated by ':'. Refused, each ERROR_INVALID_FIELD naming
 * field: another form, all zeros, broadcast, multicast (bit 0 of the first
 * octet set). Returns 0 or -EINVAL. */
int net_mac_parse(const char *s, const char *field, uint8_t ret[static 6], struct error *err);
/* Lower case. */
void net_mac_format(const uint8_t mac[static 6], char buf[static NET_MAC_STRLEN]);
bool net_mac_equal(const uint8_t a[static 6], const uint8_t b[static 6]);
/* A random MAC as libxl makes one: Xen's OUI 00:16:3e (unicast, globally
 * administered), then r0 & 0x7f, r1, r2 from getrandom(). Returns 0 or a
 * negative errno (getrandom() failed: no weaker fallback). */
int net_mac_random(uint8_t ret[static 6]);

/* What one network's dnsmasq is given. */
struct net_dnsmasq_config {
        const char *bridge;             /* the interface it serves: 1..15 of A-Z a-z 0-9 . _ - */
        struct net_subnet subnet;       /* it listens on the subnet's gateway address */
        const char *hosts_path;         /* absolute, of A-Z a-z 0-9 . _ - + / */
        const char *leases_path;        /* the same */
        uint32_t lease_seconds;         /* NET_LEASE_SECONDS_MIN..NET_LEASE_SECONDS_MAX */
};

/* The text of dnsmasq's config file (dnsmasq 2.90): DHCP only (port=0) on
 * the bridge alone, bound to the gateway address, addresses only for the
 * MACs of the hosts file (dhcp-range's "static" mode: a guest cannot drain
 * the pool with made-up MACs), no router or DNS option, neither
 * /etc/resolv.conf nor /etc/hosts read, logs to stderr, no pid file. The
 * caller passes --conf-file=PATH (so /etc/dnsmasq.conf is not read) and
 * --keep-in-foreground, and decides the user. Returns 0 and a malloc'd
 * string in *ret, -EINVAL for a field out of the rules above (nothing may
 * smuggle a line or a comma into the file), or -ENOMEM. */
int net_dnsmasq_conf(const struct net_dnsmasq_config *c, char **ret);

struct net_host {
        uint8_t mac[6];
        uint32_t addr;
};

/* The text of dnsmasq's hosts file: one "MAC,ADDR" line each ("" for none).
 * Duplicates are the caller's to avoid. Returns 0 and a malloc'd string in
 * *ret, or -ENOMEM. */
int net_dnsmasq_hosts(const struct net_host *hosts, size_t n, char **ret);

/* The lease of mac in the text of a dnsmasq leases file: lines of
 * "EXPIRY MAC ADDR HOSTNAME CLIENTID" (EXPIRY in seconds since the epoch, 0
 * for never). The hostname and client id come from the guest: only the
 * first three fields are read, each strictly, and a line must have a space
 * after ADDR, so that one cut inside ADDR (a torn write, no final newline)
 * is not taken for a shorter address. Any other line (garbage, DHCPv6's
 * "duid" and IAID lines, a non-Ethernet hardware address, NUL bytes) is
 * skipped. text need not end in NUL or newline; only its len bytes are read.
 * The first matching line wins (dnsmasq writes one line per lease). Returns
 * 0 with *ret_addr and *ret_expiry (either may be NULL), or -ENOENT. */
int net_leases_find(const char *text, size_t len, const uint8_t mac[static 6], uint32_t *ret_addr,
                    uint64_t *ret_expiry);
