/* vm-spec.h: owns what a VM is made of as its user asked for it (name,
 * vCPUs, memory, images, command line, consoles, PV disks and NICs) and
 * the rules every field must follow: the JSON of POST /v1/vms in, the JSON
 * kept on disk and shown by GET out. Pure: checks against the host (free memory, existing images)
 * are the caller's. */
#pragma once

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "errors.h"

#define VM_NAME_MAX 48
#define IMAGE_NAME_MAX 64
#define IMAGE_SIZE_MAX (1024ULL * 1024 * 1024) /* no image is larger */
#define VM_CMDLINE_MAX 1024
#define VM_VCPUS_MAX 128        /* Xen's limit for a GICv3 guest; GICv2 allows 8 */
#define VM_MEMORY_MIB_MIN 32
#define VM_MEMORY_MIB_MAX (1024 * 1024) /* 1 TiB: Xen's guest RAM banks hold 3 GiB + 1016 GiB */
#define VM_DISKS_MAX 8          /* xvda..xvdh */
/* Each console's log budget (console-log.h): oldest bytes go past it. */
#define VM_LOG_MAX_BYTES_DEFAULT (16ULL * 1024 * 1024)
#define VM_LOG_MAX_BYTES_MIN (64ULL * 1024)
#define VM_LOG_MAX_BYTES_MAX (1024ULL * 1024 * 1024)

/* What the guest's vCPU runs first: the kernel image of the spec (direct
 * boot), or UEFI firmware installed with the agent, which boots the OS of
 * the VM's first disk (a GPT disk with an EFI System Partition). */
enum vm_firmware {
        VM_FIRMWARE_NONE,
        VM_FIRMWARE_UEFI,               /* "uefi": EDK2's ArmVirtXen */
        VM_FIRMWARE_UBOOT_EFI,          /* "uboot-efi": U-Boot's xenguest board, its EFI loader */
        _VM_FIRMWARE_MAX,
};
/* A firmware's name in the API and its file's in the firmware directory;
 * NULL for VM_FIRMWARE_NONE. */
const char *vm_firmware_name(enum vm_firmware f);

/* A PV disk: an image from the store, seen by the guest as xvd<a + index>. */
struct vm_disk {
        char image[IMAGE_NAME_MAX + 1];
        bool readonly;
};

/* A PV network interface on one of the host's networks (networks.h): the
 * guest's ethN for nics[N], dom0's vifD.N. Its MAC is the user's, or one
 * the agent draws when the VM is made; its address is the one the agent
 * gives it in the network's subnet then, which the network's DHCP server
 * hands over to that MAC only. Both stay for the VM's life. */
#define VM_NICS_MAX 8
#define VM_NETWORK_NAME_MAX 32
struct vm_nic {
        char network[VM_NETWORK_NAME_MAX + 1];
        uint8_t mac[6];
        bool mac_set;                           /* a request gave it, or it was drawn */
        uint32_t address;                       /* IPv4, host byte order; 0: none yet (a request) */
};

/* An alert: a pattern (line-match.h) whose every matching line of a
 * console's output becomes a console_alert event. */
#define VM_ALERTS_MAX 8
#define VM_ALERT_PATTERN_MAX 256
struct vm_alert {
        char pattern[VM_ALERT_PATTERN_MAX + 1];
        bool regex;
        int console;                            /* an enum vm_console, or -1: both */
};

struct vm_spec {
        char name[VM_NAME_MAX + 1];
        unsigned vcpus;
        unsigned memory_mib;
        enum vm_firmware firmware;
        bool acpi;                              /* guest ACPI tables (only with "uefi", its default) */
        char kernel[IMAGE_NAME_MAX + 1];        /* "" with a firmware */
        char ramdisk[IMAGE_NAME_MAX + 1];       /* "" for none */
        char cmdline[VM_CMDLINE_MAX + 1];       /* "" with a firmware */
        bool vuart;                             /* the PV console always exists */
        bool start;                             /* only in requests */
        uint8_t uuid[16];
        struct vm_disk disks[VM_DISKS_MAX];
        unsigned n_disks;
        uint64_t log_max_bytes;                 /* per console */
        bool autostart;                         /* started when the agent first starts after a host boot */
        struct vm_alert alerts[VM_ALERTS_MAX];
        unsigned n_alerts;
        struct vm_nic nics[VM_NICS_MAX];
        unsigned n_nics;
};

/* A name for a VM or an image: 1..max characters of [A-Za-z0-9._-], not
 * starting with '.' or '-'. Safe as one path component. */
bool spec_name_is_valid(const char *s, size_t max);

/* Parses and checks a POST /v1/vms body. Unknown fields are refused (a typo
 * must not be silently ignored). Defaults: vcpus 1, memory_mib 256,
 * consoles ["pv","vuart"], cmdline "", ramdisk none, disks none, start true,
 * autostart false, no firmware.
 * A VM has a kernel or a "firmware" ("uefi", "uboot-efi"), never both: with
 * a firmware, kernel, ramdisk and cmdline are refused (the OS on the disk
 * brings its own). "acpi" (guest ACPI tables beside the device tree) is
 * only for "uefi", and its default there.
 * "disks" is an array of at most VM_DISKS_MAX {"image": NAME, "readonly":
 * false}; an image may appear once. "nics" is an array of at most
 * VM_NICS_MAX {"network": NAME (default "default"), "mac": "00:16:3e:..."
 * (optional)}; a MAC may appear once (the network's existence and other
 * VMs' MACs are the caller's to check). log_max_bytes (each console's log
 * budget) defaults to VM_LOG_MAX_BYTES_DEFAULT, also for a spec stored
 * before it existed. The uuid is left for the caller. Returns 0, or -EINVAL with *err filled. */
int vm_spec_from_request(const json_t *body, struct vm_spec *ret, struct error *err);

/* Whether the spec names image name (as kernel, ramdisk or a disk). */
bool vm_spec_uses_image(const struct vm_spec *s, const char *name);

/* The spec as stored and shown (without "start"), and back from disk. */
json_t *vm_spec_to_json(const struct vm_spec *s);
/* A uuid as the API writes it (8-4-4-4-12 lowercase hex); buf holds 37. */
#define VM_UUID_STRING_MAX 37
void vm_uuid_format(const uint8_t u[16], char buf[static VM_UUID_STRING_MAX]);
int vm_spec_from_disk(const json_t *j, struct vm_spec *ret, struct error *err);
/* The spec as spec.json keeps it: vm_spec_to_json() without "firmware" and
 * "acpi" for a VM that boots a kernel and without "nics" when it has none,
 * so that an older agent (which refuses fields it does not know) still
 * reads it after a rollback. */
json_t *vm_spec_to_disk_json(const struct vm_spec *s);
