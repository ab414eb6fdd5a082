/* api-host.c: the host's routes: GET /healthz (the agent answers) and
 * GET /v1/host (the machine, from Xen and dom0's firmware tables, and
 * what it has left for guests). */
#include "api-internal.h"

void api_host_healthz(struct api_call *call) {
        api_response_json(call->resp, 200, json_pack("{s:s}", "status", "ok"));
}

/* What the host has left for guests, as a scheduler placing VMs wants it
 * (Pacemaker's utilization): Xen's free memory, and the vCPUs and VM slots
 * taken by VMs that hold a domain (running or paused). vCPUs may be
 * overcommitted: free is then 0. */
static json_t *capacity_json(const struct vms *vms, const struct host_info *h) {
        uint64_t vcpus = 0, with_domain = 0;
        size_t n = vms ? vms_count(vms) : 0;

        for (size_t i = 0; i < n; i++) {
                const struct vm *vm = vms_get(vms, i);

                if (vm_state(vm) == VM_RUNNING || vm_state(vm) == VM_PAUSED) {
                        vcpus += vm_get_spec(vm)->vcpus;
                        with_domain++;
                }
        }
        return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I}", "memory_mib_free", (json_int_t) h->memory_free_mib,
                         "vcpus_used", (json_int_t) vcpus,
                         "vcpus_free", (json_int_t) (h->cpus > vcpus ? h->cpus - vcpus : 0),
                         "vms_max", (json_int_t) VMS_MAX, "vms", (json_int_t) n,
                         "vms_with_domain", (json_int_t) with_domain);
}

/* The firmware VMs may boot here ("firmware" in a VM spec): those installed. */
static json_t *firmware_json(const struct vms *vms) {
        json_t *a = json_array();

        for (int f = VM_FIRMWARE_NONE + 1; a && vms && f < _VM_FIRMWARE_MAX; f++)
                if (vms_have_firmware(vms, f))
                        json_array_append_new(a, json_string(vm_firmware_name(f)));
        return a;
}

void api_host_get(struct api_call *call) {
        struct error err = { 0 };
        struct host_info info;
        json_t *j;

        if (host_info_read(call->api->xen, &call->api->paths, &info, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        j = host_info_to_json(&info);
        if (j && (json_object_set_new(j, "capacity", capacity_json(call->api->vms, &info)) < 0 ||
                  json_object_set_new(j, "firmware", firmware_json(call->api->vms)) < 0)) {
                json_decref(j);
                j = NULL;
        }
        api_response_json(call->resp, 200, j);
}
