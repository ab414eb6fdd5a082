/* netlink.h: owns the agent's rtnetlink sockets (NETLINK_ROUTE, over
 * libmnl) and is the only module that speaks netlink: the guest networks'
 * bridges, their addresses, and the vifs that netback makes, enslaved to
 * them as Xen's vif-bridge script would. Every call on struct netlink is
 * one or a few synchronous requests, each answered by the kernel's ACK (or
 * a dump's end) before the next; the socket waits at most
 * NETLINK_TIMEOUT_MS for each answer, so a stuck kernel costs the agent's
 * one thread a failed call (-ETIMEDOUT), not a hang. struct netlink_watch
 * (below) is the other socket: the kernel's link reports, read without
 * waiting when the event loop says they came. Interface names are checked before use (1 to
 * 15 bytes, no '/', no whitespace: NETLINK_IFNAME_MAX).
 *
 * On failure each returns a negative errno and fills *err (if not NULL):
 * invalid_name for a bad name, out_of_range for a bad prefix, otherwise
 * internal_error with the step, the errno and the kernel's own words
 * (extended ACK) where it gave some.
 *
 * Not thread-safe: one owner, the event loop. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "errors.h"
#include "macro.h"

#define NETLINK_IFNAME_MAX 16           /* IFNAMSIZ: 15 bytes and the NUL */
#define NETLINK_TIMEOUT_MS 2000         /* per answer awaited (SO_RCVTIMEO) */

struct netlink;

int netlink_open(struct netlink **ret, struct error *err);
struct netlink *netlink_free(struct netlink *nl);
DEFINE_CLEANUP_FUNC(struct netlink, netlink_free);

/* Makes sure the Linux bridge name exists with the IPv4 address addr/prefix
 * (addr in host byte order, prefix 1 to 32) and is up. A missing bridge is
 * created (kind "bridge", STP off, forward delay 0); an existing one keeps
 * its settings and its ports (the agent restarting while guests run), and
 * an address already there is left as is. Any other IPv4 address of the
 * bridge is removed, so that it ends with exactly this one (a broadcast
 * address is set for prefixes up to 30). A link of that name that is not a
 * bridge is an error (-EEXIST). */
int netlink_bridge_ensure(struct netlink *nl, const char *name, uint32_t addr, uint8_t prefix, struct error *err);

/* Deletes the link name (a bridge's ports are released, not deleted);
 * 0 if there is none. */
int netlink_link_delete(struct netlink *nl, const char *name, struct error *err);

/* What Xen's vif-bridge does for "online", over netlink: ifname down, its
 * MTU set to the bridge's, its master set to bridge, up. A link already up
 * in bridge with the bridge's MTU is left alone (it carries a running
 * guest's traffic). -ENODEV if either is missing, -EINVAL if bridge is not
 * a bridge or ifname cannot be its port (a bridge, loopback), refused
 * before ifname is touched. */
int netlink_link_enslave(struct netlink *nl, const char *ifname, const char *bridge, struct error *err);

/* The link's ifindex (> 0), -ENODEV if there is none, or another negative
 * errno (-EINVAL for a bad name). */
int netlink_link_index(struct netlink *nl, const char *name);

/* The name of the link's master (a bridge), "" if it has none. */
int netlink_link_master(struct netlink *nl, const char *name, char master[static NETLINK_IFNAME_MAX],
                        struct error *err);

/* The link's counters (IFLA_STATS64), as the kernel keeps them since the
 * link was made. */
struct netlink_link_stats {
        uint64_t rx_bytes, rx_packets, tx_bytes, tx_packets;
};
int netlink_link_stats(struct netlink *nl, const char *name, struct netlink_link_stats *ret, struct error *err);

/* The names of bridge's ports, in ifindex order: the first max of them in
 * names (which may be NULL if max is 0), and how many there are in *ret_n
 * (which may be more than max). */
int netlink_bridge_ports(struct netlink *nl, const char *bridge, char (*names)[NETLINK_IFNAME_MAX], size_t max,
                         size_t *ret_n, struct error *err);

/* A watch on dom0's links: a second socket, subscribed to the kernel's link
 * reports (RTNLGRP_LINK), non-blocking, for the event loop to wait on. It
 * tells when netback makes a vif, so that nobody polls for one. */
struct netlink_watch;

int netlink_watch_open(struct netlink_watch **ret, struct error *err);
struct netlink_watch *netlink_watch_free(struct netlink_watch *w);
DEFINE_CLEANUP_FUNC(struct netlink_watch, netlink_watch_free);
/* The socket to wait on for EPOLLIN. */
int netlink_watch_fd(const struct netlink_watch *w);

/* Takes what the kernel queued, without waiting (at most
 * NETLINK_WATCH_BATCH datagrams a call; the socket stays readable if more
 * are left): fn(name, userdata) for each link reported made or changed
 * (RTM_NEWLINK with a valid name). -ENOBUFS when the kernel dropped reports
 * because the queue was full: the caller must look again at every link it
 * waits for. Malformed reports are skipped. */
#define NETLINK_WATCH_BATCH 16
typedef void (*netlink_link_fn)(const char *name, void *userdata);
int netlink_watch_read(struct netlink_watch *w, netlink_link_fn fn, void *userdata);
