/* networks.h: owns the host's guest networks. A network is a name, an IPv4
 * subnet and, on a host with Xen, a Linux bridge in dom0 (xvbr<N>) that
 * holds the subnet's first address, with one dnsmasq (a child of the agent)
 * that gives each guest NIC of the network the address the agent chose for
 * it, by MAC, and nobody else one. Nothing routes between networks or from
 * a network to dom0's uplink: dom0 does not forward.
 *
 * On disk: STATE/networks/NAME.json ({"name", "subnet", "bridge"}), written
 * atomically. dnsmasq's files (config, hosts, leases) live in a run
 * directory (/run/xvmd/networks), which survives an agent restart but not
 * the host's: guests keep their leases across the first.
 *
 * A network named "default" exists from the start and cannot be deleted.
 * Bridges outlive the agent: a restart finds them and leaves their ports
 * (running guests' vifs) alone. dnsmasq does not: it is the agent's child,
 * restarted with a growing delay (1 s doubling to 60 s) when it dies.
 *
 * Single-threaded, on the agent's event loop. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "errors.h"
#include "macro.h"
#include "net-addr.h"

#define NETWORKS_MAX 16
#define NETWORK_NAME_MAX 32
#define NETWORK_DEFAULT "default"
#define NETWORK_DEFAULT_SUBNET "169.254.1.0/24"
#define NETWORKS_RUN_DIR "/run/xvmd/networks"
#define NETWORK_LEASE_SECONDS 3600
#define NETWORK_HOSTS_MAX (64 * 8)      /* NICs on one network: every NIC the host may have (VMS_MAX * VM_NICS_MAX) */

struct networks;
struct network;

/* Which guest NICs a network serves: the caller (the VMs) fills hosts with
 * at most max (MAC, address) pairs and returns how many. */
typedef size_t (*networks_hosts_t)(const char *network, struct net_host *hosts, size_t max, void *userdata);

struct networks_config {
        const char *state_dir;          /* STATE: networks/ goes under it */
        const char *run_dir;            /* NULL: NETWORKS_RUN_DIR */
        const char *default_subnet;     /* NULL: NETWORK_DEFAULT_SUBNET */
        bool live;                      /* make bridges and run dnsmasq (dom0); false: records only */
        const char *dnsmasq;            /* NULL: "/usr/sbin/dnsmasq" */
};

/* Loads the networks on disk and makes "default" if it is missing. With
 * live, each network's bridge is made (or found) and its dnsmasq started
 * once networks_set_hosts_source() has been called. Returns 0 or -errno. */
int networks_new(sd_event *event, const struct networks_config *c, struct networks **ret);
/* Stops the dnsmasqs (SIGTERM); bridges stay. Takes NULL. */
struct networks *networks_free(struct networks *n);
DEFINE_CLEANUP_FUNC(struct networks, networks_free);

/* Sets who says which NICs each network serves, and (live) starts every
 * network's dnsmasq with them. */
void networks_set_hosts_source(struct networks *n, networks_hosts_t hosts, void *userdata);

struct network *networks_find(const struct networks *n, const char *name);
size_t networks_count(const struct networks *n);
struct network *networks_get(const struct networks *n, size_t i);

/* A new network: name (1..NETWORK_NAME_MAX of [A-Za-z0-9._-]), subnet as
 * net_subnet_parse() takes it, overlapping neither another network nor an
 * address dom0 already has. The bridge and dnsmasq come up before it is
 * reported made. Errors name "name" or "subnet". */
int networks_create(struct networks *n, const char *name, const char *subnet, struct network **ret,
                    struct error *err);
/* Removes a network no NIC uses (the caller checks that): its dnsmasq, its
 * bridge, its files. "default" is refused. */
int networks_delete(struct networks *n, struct network *net, struct error *err);

const char *network_name(const struct network *net);
const struct net_subnet *network_subnet(const struct network *net);
/* The bridge's name ("xvbr3"); its address is the subnet's gateway. */
const char *network_bridge(const struct network *net);
/* Whether the bridge exists now (live only) and its dnsmasq runs. */
bool network_active(const struct network *net);

/* The hosts the network serves changed (a NIC came or went): dnsmasq's
 * hosts file is written again and dnsmasq told (SIGHUP). */
void network_hosts_changed(struct network *net);

/* Whether addr is leased by dnsmasq to a MAC other than mac (a deleted
 * VM's lease that has not run out): such an address is not given to a new
 * NIC, since dnsmasq would refuse to hand it over. */
bool network_address_leased_elsewhere(const struct network *net, uint32_t addr, const uint8_t mac[static 6]);
/* The lease dnsmasq gave mac, if it has not run out: 0 with the address
 * and expiry (seconds since the epoch, 0: never), or -ENOENT. */
int network_lease(const struct network *net, const uint8_t mac[static 6], uint32_t *ret_addr,
                  uint64_t *ret_expiry);

/* Who hears of dom0's links as they are made or change (live only; see
 * netlink_watch_read()): fn(name, userdata) for each report, and
 * fn(NULL, userdata) when the kernel dropped some, so that every link
 * waited for must be looked at again. */
typedef void (*networks_link_t)(const char *ifname, void *userdata);
void networks_set_link_watch(struct networks *n, networks_link_t fn, void *userdata);

/* Puts vif ifname on the network's bridge (what Xen's vif-bridge does). */
int network_plug(struct network *net, const char *ifname, struct error *err);
struct netlink_link_stats;
/* A link's counters as dom0 sees them (-ENODEV when it is gone). */
int networks_link_stats(struct networks *n, const char *ifname, struct netlink_link_stats *ret);

/* {"name", "subnet", "gateway", "bridge", "active", "dhcp": {"running",
 * "restarts"}}; nics is the caller's count of NICs on it. */
json_t *network_to_json(const struct network *net, unsigned nics);
