/* vm-nics.c: a VM's PV network interfaces while its domain runs. The
 * toolstack writes each vif's keys with the domain (domain.c); Linux's
 * netback then makes netdev vifD.N on its own time. What Xen's vif-bridge
 * script would do next is done here: once the domain runs, each vif that
 * exists is put on its network's bridge (networks.c) and its backend's
 * `hotplug-status` set to connected, which lets netback connect; a vif
 * made later is plugged when the kernel reports it (the networks' link
 * watch calls vm_nics_look()), so nothing polls. A VM still waiting after
 * 30 s says so in the log, once. An agent that restarts while the VM runs
 * does the same again, which changes nothing on a vif already in place.
 * Teardown needs nothing: removing the backend's keys makes netback free
 * the vif, which leaves the bridge with it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "netlink.h"
#include "networks.h"
#include "vm.h"

#define LATE_US (30ULL * 1000 * 1000)

static void vif_name(const struct vm *vm, unsigned i, char buf[static NETLINK_IFNAME_MAX]) {
        /* domids are below 0x7ff0, NICs at most VM_NICS_MAX */
        snprintf(buf, NETLINK_IFNAME_MAX, "vif%u.%u", vm->domid & 0xffff, i % VM_NICS_MAX);
}

int vm_nics_config(struct vm *vm, struct domain_nic *nics, struct error *err) {
        for (unsigned i = 0; i < vm->spec.n_nics; i++) {
                const struct vm_nic *n = &vm->spec.nics[i];
                struct network *net = networks_find(vm->owner->nets, n->network);

                if (!net)
                        return error_set(err, -ENOENT, ERROR_UNKNOWN_NETWORK,
                                         error_field_index(err, "nics", i, "network"), "there is no network named %s",
                                         n->network);
                memcpy(nics[i].mac, n->mac, sizeof(nics[i].mac));
                nics[i].bridge = network_bridge(net);
        }
        return 0;
}

/* One look at each vif not yet in place; true when none is left to wait for. */
static bool plug_pass(struct vm *vm) {
        bool left = false;

        for (unsigned i = 0; i < vm->spec.n_nics; i++) {
                struct network *net = networks_find(vm->owner->nets, vm->spec.nics[i].network);
                char ifname[NETLINK_IFNAME_MAX];
                struct error err = { 0 };
                int r;

                if (vm->nics_done & (1u << i))
                        continue;
                vif_name(vm, i, ifname);
                if (!net) {
                        vm->nics_done |= 1u << i;
                        continue;
                }
                r = network_plug(net, ifname, &err);
                if (r == -ENODEV) {
                        left = true;    /* netback has not made it yet */
                        continue;
                }
                vm->nics_done |= 1u << i;
                if (r < 0) {
                        log_warning("VM %s: putting %s on bridge %s failed: %s", vm->spec.name, ifname,
                                    network_bridge(net), err.message);
                        continue;
                }
                r = domain_vif_connected(vm->owner->ts, vm->domid, i);
                if (r < 0)
                        log_warning_errno(r, "VM %s: writing %s's hotplug-status failed", vm->spec.name, ifname);
                else
                        vm->nics_plugged |= 1u << i;
        }
        return !left;
}

static int on_late(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct vm *vm = userdata;

        vm->nic_timer = sd_event_source_disable_unref(vm->nic_timer);
        if (vm->nics_waiting)
                log_warning("VM %s: netback has made no vif for %u of its NICs in 30 s; each comes up when it does",
                            vm->spec.name, vm->spec.n_nics - (unsigned) __builtin_popcount(vm->nics_done));
        return 0;
}

void vm_nics_start(struct vm *vm) {
        vm_nics_stop(vm);
        if (vm->spec.n_nics == 0 || vm->domid == 0 || !vm->owner->ts)
                return;
        vm->nics_waiting = true;
        vm_nics_look(vm);
        if (vm->nics_waiting &&
            sd_event_add_time_relative(vm->owner->event, &vm->nic_timer, CLOCK_MONOTONIC, LATE_US, 0, on_late, vm) < 0)
                log_warning("VM %s: cannot set a timer for late vifs", vm->spec.name);
}

void vm_nics_look(struct vm *vm) {
        if (!vm->nics_waiting || vm->domid == 0)
                return;
        if (plug_pass(vm)) {
                vm->nics_waiting = false;
                vm->nic_timer = sd_event_source_disable_unref(vm->nic_timer);
        }
}

void vm_nics_stop(struct vm *vm) {
        vm->nic_timer = sd_event_source_disable_unref(vm->nic_timer);
        vm->nics_waiting = false;
        vm->nics_done = vm->nics_plugged = 0;
}

int vm_nic_get_stats(const struct vm *vm, unsigned i, struct vm_nic_stats *ret) {
        char ifname[NETLINK_IFNAME_MAX];
        struct netlink_link_stats st;
        int r;

        if (vm->domid == 0 || i >= vm->spec.n_nics)
                return -ENOENT;
        vif_name(vm, i, ifname);
        r = networks_link_stats(vm->owner->nets, ifname, &st);
        if (r < 0)
                return r;
        /* The guest's view: what dom0's vif sends, the guest receives. */
        *ret = (struct vm_nic_stats) { .rx_bytes = st.tx_bytes, .rx_packets = st.tx_packets,
                                       .tx_bytes = st.rx_bytes, .tx_packets = st.rx_packets };
        return 0;
}

json_t *vm_nics_to_json(const struct vm *vm) {
        json_t *a = json_array();

        for (unsigned i = 0; a && i < vm->spec.n_nics; i++) {
                const struct vm_nic *n = &vm->spec.nics[i];
                const struct network *net = networks_find(vm->owner->nets, n->network);
                char mac[NET_MAC_STRLEN], addr[NET_ADDR_STRLEN], ifname[NETLINK_IFNAME_MAX];
                struct vm_nic_stats st = { 0 };
                json_t *o, *lease = json_null();
                uint32_t leased;
                uint64_t expiry;
                bool running = vm->domid != 0;

                net_mac_format(n->mac, mac);
                net_addr_format(n->address, addr);
                vif_name(vm, i, ifname);
                if (net && network_lease(net, n->mac, &leased, &expiry) == 0) {
                        char la[NET_ADDR_STRLEN];

                        net_addr_format(leased, la);
                        lease = json_pack("{s:s,s:I}", "address", la, "expires", (json_int_t) expiry);
                }
                (void) vm_nic_get_stats(vm, i, &st);
                o = json_pack("{s:s,s:s,s:s,s:s?,s:b,s:o,s:I,s:I,s:I,s:I}", "network", n->network, "mac", mac, "address",
                              addr, "vif", running ? ifname : NULL, "connected",
                              running && (vm->nics_plugged & (1u << i)), "lease", lease, "rx_bytes",
                              (json_int_t) st.rx_bytes, "rx_packets", (json_int_t) st.rx_packets, "tx_bytes",
                              (json_int_t) st.tx_bytes, "tx_packets", (json_int_t) st.tx_packets);
                json_array_append_new(a, o);
        }
        return a;
}
