/* vm.h: the core's own view of one VM and of the collection's fields a VM
 * uses; private to vm.c (one VM: its life, its domain, its consoles and
 * disks, its run state on disk), vms.c (the collection) and vms-images.c
 * (which VM may use which image). The front end sees only vms.h. */
#pragma once

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "console.h"
#include "domain.h"
#include "loop.h"
#include "vms.h"

struct vm {
        struct vms *owner;
        struct vm_spec spec;
        enum vm_state state;            /* changed by vm_transition() only */
        uint32_t domid;                 /* 0: no domain */
        unsigned boot_count;
        uint64_t generation;            /* of its spec: 1, and one more at each change (run.json has it, so that
                                         * an older agent still reads spec.json) */
        enum vm_exit exit_reason;       /* how the last boot ended */
        uint64_t exits[_VM_EXIT_MAX];   /* boots that ended each way since the agent started */
        int64_t exit_time_ns;           /* when the last boot ended (CLOCK_REALTIME), 0: unknown */
        unsigned exit_boot;             /* which boot it was (boot_count then) */
        bool stopping;                  /* a shutdown was asked for */
        sd_event_source *shutdown_timer;
        sd_event_source *restart;       /* the start after a guest's reboot, a turn of the loop later */
        sd_event_source *resave;        /* retries a run.json that could not be saved (a full disk) */
        uint64_t reboots[VM_REBOOT_LOOP_COUNT]; /* CLOCK_MONOTONIC µs of the last guest reboots, a ring */
        unsigned n_reboots;             /* reboots seen (the ring's next slot: n_reboots % COUNT) */
        int dir_fd;                     /* STATE/vms/NAME */
        struct console_log *logs[_VM_CONSOLE_MAX];
        struct console_hub *hubs[_VM_CONSOLE_MAX];
        struct console_backend *backends[_VM_CONSOLE_MAX];
        struct console_backend_stats backends_done[_VM_CONSOLE_MAX]; /* summed over the backends that went */
        struct loop_device disks[VM_DISKS_MAX]; /* bound while it runs (this agent started it) */
        struct vm_alert_watch *alerts[VM_ALERTS_MAX * _VM_CONSOLE_MAX]; /* vm-alerts.c */
        unsigned n_alerts;
        bool nics_waiting;              /* vm-nics.c: for netback's vifs (link reports) */
        sd_event_source *nic_timer;     /* says so once if they are late */
        uint32_t nics_done;             /* a bit per NIC: looked after (on its bridge, or failed) */
        uint32_t nics_plugged;          /* a bit per NIC: on its bridge and connected */
};

/* The spec's alerts as watchers of the consoles' hubs (vm-alerts.c), from
 * the logs' ends on; stopped before the hubs go. */
int vm_alerts_start(struct vm *vm);
void vm_alerts_stop(struct vm *vm);

/* The NICs as the toolstack takes them (unknown_network for a network
 * that is gone); then, once the domain exists, its vifs put on their
 * bridges (vm-nics.c); stopped when the domain goes. */
int vm_nics_config(struct vm *vm, struct domain_nic *nics, struct error *err);
void vm_nics_start(struct vm *vm);
void vm_nics_stop(struct vm *vm);
/* A link of the VM's may have appeared: plugs the vifs it still waits for. */
void vm_nics_look(struct vm *vm);
json_t *vm_nics_to_json(const struct vm *vm);

/* vms-networks.c: the networks opened (bridges and DHCP only with Xen),
 * then served once the VMs are loaded; a new spec's NICs given their MACs
 * and addresses (unknown_network, mac_in_use, network_full naming the
 * field); the DHCP servers of a spec's networks told its NICs came or went. */
int vms_networks_open(struct vms *v, const char *state_dir);
void vms_networks_serve(struct vms *v);
int vms_assign_nics(struct vms *v, struct vm_spec *s, struct error *err);
void vms_nics_changed(struct vms *v, const struct vm_spec *s);

struct vms {
        sd_event *event;
        int vms_fd, images_fd;
        char images_dir[PATH_MAX];      /* for the disks' `params` */
        char firmware_dir[PATH_MAX];
        struct domain_toolstack *ts;    /* NULL without Xen */
        struct networks *nets;          /* the guest networks (bridges and DHCP only with Xen) */
        int state_fd;                   /* STATE, for the logs' pool */
        struct console_log_pool *logs;  /* every console log: their total budget and free floor */
        sd_event_source *watch;
        bool host_booted;               /* the agent's first start since the host booted */
        struct events *events;          /* the host's event log (STATE/events) */
        vm_transition_hook_t hook;
        void *hook_userdata;
        struct vm *vm[VMS_MAX];
        size_t n;
};

/* A VM of the collection, stopped, with its directory and its logs opened
 * (made if missing); not yet in v->vm[]. */
int vm_new(struct vms *v, const struct vm_spec *spec, struct vm **ret);
/* Tells the logs' watchers they are gone, releases what runs (the domain
 * keeps running: the agent is not its parent) and frees. Takes NULL. */
void vm_free(struct vm *vm);

/* Writes run.json (boot count, domid, state). */
int vm_save(struct vm *vm);

/* After an agent restart: run.json as it was (NULL if there is none), the
 * domain it names taken back if it still runs under the VM's name, and the
 * result saved. */
void vm_recover(struct vm *vm, json_t *run);

/* Takes domain domid (Xen's handle is the VM's uuid, but run.json does not
 * name it: an agent died before it saved it) as the VM's own, if the VM has
 * no domain, the domain was unpaused and its consoles bind: 0, or -errno
 * (the caller destroys it). */
int vm_adopt(struct vm *vm, uint32_t domid);

/* Whether domid is the VM's domain. */
bool vm_owns_domain(const struct vm *vm, uint32_t domid);

/* Xen says something of the VM's domain (its @releaseDomain fired). */
void vm_domain_changed(struct vm *vm);

/* The image's path as the toolstack opens it (through the store's fd), or
 * -ENOENT if it is not a regular file of the store. */
int vms_image_path(struct vms *v, const char *name, char *buf, size_t size);
/* The path of firmware f's file (which must exist), as vms_image_path(). */
int vms_firmware_path(const struct vms *v, enum vm_firmware f, char *buf, size_t size);
/* The kernel (or firmware) and ramdisk a spec boots exist: unknown_image
 * or unknown_firmware naming the field otherwise. Paths into kernel and
 * ramdisk (PATH_MAX each; ramdisk "" for none), either may be NULL. */
int vms_check_boot(struct vms *v, const struct vm_spec *s, char *kernel, char *ramdisk, struct error *err);
/* Every disk's image exists, and, when the VM is starting, none is used by
 * another running VM in a way that clashes (a writable disk is its image's
 * only user). self is the VM itself (NULL while it is being made). */
int vms_check_disks(struct vms *v, const struct vm *self, const struct vm_spec *s, bool starting,
                    struct error *err);
