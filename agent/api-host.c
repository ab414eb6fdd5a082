/* api-host.c: the host's routes: GET /healthz (the agent answers) and
 * GET /v1/host (the machine, from Xen and dom0's firmware tables). */
#include "api-internal.h"

void api_host_healthz(struct api_call *call) {
        api_response_json(call->resp, 200, json_pack("{s:s}", "status", "ok"));
}

void api_host_get(struct api_call *call) {
        struct error err = { 0 };
        struct host_info info;

        if (host_info_read(call->api->xen, &call->api->paths, &info, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_json(call->resp, 200, host_info_to_json(&info));
}
