/* vms-networks.c: which VM's NICs are on which network (networks.h): a new
 * VM's NICs get their MACs (unique on the host) and addresses (unique in
 * their subnet, and not one a gone VM's lease still holds), each network's
 * DHCP server hears of the NICs it serves, and a network with NICs on it is
 * not deleted. Also where a port forward goes (vms_port_target()). */
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "log.h"
#include "networks.h"
#include "vm.h"

static size_t hosts_of(const char *network, struct net_host *hosts, size_t max, void *userdata) {
        const struct vms *v = userdata;
        size_t n = 0;

        for (size_t i = 0; i < v->n; i++)
                for (unsigned k = 0; k < v->vm[i]->spec.n_nics; k++) {
                        const struct vm_nic *nic = &v->vm[i]->spec.nics[k];

                        if (strcmp(nic->network, network) != 0 || nic->address == 0)
                                continue;
                        if (n == max) {
                                log_warning("network %s: more than %zu NICs, the DHCP server serves the first",
                                            network, max);
                                return n;
                        }
                        memcpy(hosts[n].mac, nic->mac, sizeof(hosts[n].mac));
                        hosts[n].addr = nic->address;
                        n++;
                }
        return n;
}

int vms_networks_open(struct vms *v, const char *state_dir) {
        struct networks_config c = {
                .state_dir = state_dir,
                .live = v->ts != NULL,
        };

        return networks_new(v->event, &c, &v->nets);
}

/* A link appeared or changed in dom0: if it is a vif netback made for a VM
 * (vifD.N), that VM looks at its vifs; NULL (reports were lost): every VM
 * does. */
static void link_of(const char *ifname, void *userdata) {
        struct vms *v = userdata;
        unsigned domid, nic;
        char rest;

        if (!ifname) {
                for (size_t i = 0; i < v->n; i++)
                        vm_nics_look(v->vm[i]);
                return;
        }
        if (sscanf(ifname, "vif%u.%u%c", &domid, &nic, &rest) != 2 || domid == 0)
                return;
        for (size_t i = 0; i < v->n; i++)
                if (v->vm[i]->domid == domid) {
                        vm_nics_look(v->vm[i]);
                        return;
                }
}

void vms_networks_serve(struct vms *v) {
        networks_set_hosts_source(v->nets, hosts_of, v);
        networks_set_link_watch(v->nets, link_of, v);
}

static bool mac_taken(const struct vms *v, const struct vm_spec *s, unsigned upto, const uint8_t mac[static 6]) {
        for (size_t i = 0; i < v->n; i++)
                for (unsigned k = 0; k < v->vm[i]->spec.n_nics; k++)
                        if (net_mac_equal(v->vm[i]->spec.nics[k].mac, mac))
                                return true;
        for (unsigned k = 0; k < upto; k++)
                if (s->nics[k].mac_set && net_mac_equal(s->nics[k].mac, mac))
                        return true;
        return false;
}

struct pick {
        const struct vms *v;
        const struct vm_spec *s;
        unsigned upto;
        const struct network *net;
        const uint8_t *mac;
};

static bool address_used(uint32_t addr, void *userdata) {
        const struct pick *p = userdata;
        const char *name = network_name(p->net);

        for (size_t i = 0; i < p->v->n; i++)
                for (unsigned k = 0; k < p->v->vm[i]->spec.n_nics; k++) {
                        const struct vm_nic *nic = &p->v->vm[i]->spec.nics[k];
                        if (nic->address == addr && strcmp(nic->network, name) == 0)
                                return true;
                }
        for (unsigned k = 0; k < p->upto; k++)
                if (p->s->nics[k].address == addr && strcmp(p->s->nics[k].network, name) == 0)
                        return true;
        return network_address_leased_elsewhere(p->net, addr, p->mac);
}

int vms_assign_nics(struct vms *v, struct vm_spec *s, struct error *err) {
        /* Every check first: the MACs the request gave, then the networks. */
        for (unsigned i = 0; i < s->n_nics; i++) {
                struct vm_nic *n = &s->nics[i];
                char mac[NET_MAC_STRLEN];

                if (!networks_find(v->nets, n->network))
                        return error_set(err, -ENOENT, ERROR_UNKNOWN_NETWORK,
                                         error_field_index(err, "nics", i, "network"), "there is no network named %s",
                                         n->network);
                net_mac_format(n->mac, mac);
                if (n->mac_set && mac_taken(v, s, 0, n->mac))
                        return error_set(err, -EEXIST, ERROR_MAC_IN_USE, error_field_index(err, "nics", i, "mac"),
                                         "MAC %s is another VM's", mac);
        }
        for (unsigned i = 0; i < s->n_nics; i++) {
                struct vm_nic *n = &s->nics[i];
                struct network *net = networks_find(v->nets, n->network);
                struct pick p = { .v = v, .s = s, .upto = i, .net = net, .mac = n->mac };
                char subnet[NET_SUBNET_STRLEN];
                int r;

                for (int tries = 0; !n->mac_set && tries < 16; tries++) {
                        r = net_mac_random(n->mac);
                        if (r < 0)
                                return error_set(err, r, ERROR_INTERNAL, NULL, "no randomness for a MAC");
                        n->mac_set = !mac_taken(v, s, i, n->mac);
                }
                if (!n->mac_set)
                        return error_set(err, -EEXIST, ERROR_INTERNAL, NULL, "could not draw a MAC no VM has");
                r = net_subnet_pick(network_subnet(net), address_used, &p, &n->address);
                if (r < 0) {
                        net_subnet_format(network_subnet(net), subnet);
                        return error_set(err, r, ERROR_NETWORK_FULL, error_field_index(err, "nics", i, "network"),
                                         "network %s (%s) has no address left", n->network, subnet);
                }
        }
        return 0;
}

void vms_nics_changed(struct vms *v, const struct vm_spec *s) {
        for (unsigned i = 0; i < s->n_nics; i++) {
                struct network *net = networks_find(v->nets, s->nics[i].network);
                bool seen = false;

                for (unsigned k = 0; k < i; k++)
                        seen |= strcmp(s->nics[k].network, s->nics[i].network) == 0;
                if (net && !seen)
                        network_hosts_changed(net);
        }
}

static unsigned nics_on(const struct vms *v, const char *network, char *first_vm, size_t size) {
        unsigned n = 0;

        for (size_t i = 0; i < v->n; i++)
                for (unsigned k = 0; k < v->vm[i]->spec.n_nics; k++)
                        if (strcmp(v->vm[i]->spec.nics[k].network, network) == 0) {
                                if (n++ == 0 && first_vm)
                                        snprintf(first_vm, size, "%s", v->vm[i]->spec.name);
                        }
        return n;
}

json_t *vms_networks_to_json(const struct vms *v) {
        json_t *a = json_array();

        for (size_t i = 0; a && i < networks_count(v->nets); i++) {
                const struct network *net = networks_get(v->nets, i);
                json_array_append_new(a, network_to_json(net, nics_on(v, network_name(net), NULL, 0)));
        }
        return json_pack("{s:o}", "networks", a);
}

json_t *vms_network_to_json(const struct vms *v, const char *name) {
        const struct network *net = networks_find(v->nets, name);

        return net ? network_to_json(net, nics_on(v, name, NULL, 0)) : NULL;
}

int vms_network_create(struct vms *v, const char *name, const char *subnet, json_t **ret, struct error *err) {
        struct network *net;
        int r;

        r = networks_create(v->nets, name, subnet, &net, err);
        if (r < 0)
                return r;
        (void) events_append(v->events, "network_created", NULL,
                             json_pack("{s:s,s:s}", "network", name, "subnet", subnet));
        *ret = network_to_json(net, 0);
        return 0;
}

int vms_network_delete(struct vms *v, const char *name, struct error *err) {
        struct network *net = networks_find(v->nets, name);
        char vm[VM_NAME_MAX + 1] = "";
        unsigned n;
        int r;

        if (!net)
                return error_set(err, -ENOENT, ERROR_NETWORK_NOT_FOUND, "name", "there is no network named %s", name);
        n = nics_on(v, name, vm, sizeof(vm));
        if (n > 0)
                return error_set(err, -EBUSY, ERROR_NETWORK_IN_USE, "name",
                                 "network %s has %u NIC%s (VM %s%s): delete those VMs first", name, n, n == 1 ? "" : "s",
                                 vm, n > 1 ? " and others" : "");
        r = networks_delete(v->nets, net, err);
        if (r < 0)
                return r;
        (void) events_append(v->events, "network_deleted", NULL, json_pack("{s:s}", "network", name));
        return 0;
}

int vms_port_target(struct vms *v, const char *name, uint16_t port, struct sockaddr_in *ret, struct error *err) {
        struct vm *vm = vms_find(v, name);
        const struct vm_nic *nic;
        const struct network *net;
        uint32_t addr;

        if (!vm)
                return error_set(err, -ENOENT, ERROR_VM_NOT_FOUND, "name", "there is no VM named %s", name);
        if (!vm_state_has_domain(vm->state))
                return error_set(err, -ESRCH, ERROR_VM_NOT_RUNNING, NULL, "VM %s is not running", name);
        if (vm->spec.n_nics == 0)
                return error_set(err, -ENOENT, ERROR_VM_NO_ADDRESS, NULL, "VM %s has no network interface", name);
        nic = &vm->spec.nics[0];
        net = networks_find(v->nets, nic->network);
        /* Only where the DHCP server sent the VM's address: a guest that
         * took another address on the bridge is not reached by it. */
        if (!net || network_lease(net, nic->mac, &addr, NULL) < 0 || addr != nic->address)
                return error_set(err, -EAGAIN, ERROR_VM_NO_ADDRESS, NULL,
                                 "VM %s's first NIC has no DHCP lease (yet): is its network up in the guest?", name);
        *ret = (struct sockaddr_in) {
                .sin_family = AF_INET,
                .sin_port = htons(port),
                .sin_addr.s_addr = htonl(addr),
        };
        return 0;
}

_Static_assert(NETWORK_HOSTS_MAX >= VMS_MAX * VM_NICS_MAX, "a network's DHCP server serves every NIC the host may have");
