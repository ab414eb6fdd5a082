/* api-networks.c: the handlers of /v1/networks: list, one, make (a body of
 * {"name", "subnet"} and nothing else), delete. What a network is and its
 * rules are the core's (networks.h, through vms.h). */
#include <string.h>

#include "api-internal.h"

void api_networks_list(struct api_call *call) {
        api_response_json(call->resp, 200, vms_networks_to_json(call->api->vms));
}

void api_network_get(struct api_call *call) {
        json_t *j = vms_network_to_json(call->api->vms, call->cap[0]);

        if (!j) {
                api_response_error(call->resp, ERROR_NETWORK_NOT_FOUND, "name", "there is no network named %s",
                                   call->cap[0]);
                return;
        }
        api_response_json(call->resp, 200, j);
}

void api_networks_create(struct api_call *call) {
        struct error err = { 0 };
        const char *key, *name, *subnet;
        json_t *body, *v, *j = NULL;

        body = api_body_json(call);
        if (!body)
                return;
        if (!json_is_object(body)) {
                api_response_error(call->resp, ERROR_INVALID_JSON, NULL, "the body must be a JSON object");
                goto out;
        }
        json_object_foreach(body, key, v) {
                if (strcmp(key, "name") != 0 && strcmp(key, "subnet") != 0) {
                        api_response_error(call->resp, ERROR_UNKNOWN_FIELD, NULL,
                                           "unknown field \"%.64s\" (name, subnet)", key);
                        goto out;
                }
        }
        static const char *const required[] = { "name", "subnet" };
        for (size_t i = 0; i < 2; i++) {
                v = json_object_get(body, required[i]);
                if (!v) {
                        api_response_error(call->resp, ERROR_MISSING_FIELD, required[i], "%s is required",
                                           required[i]);
                        goto out;
                }
                if (!json_is_string(v)) {
                        api_response_error(call->resp, ERROR_INVALID_FIELD, required[i], "%s must be a string",
                                           required[i]);
                        goto out;
                }
        }
        name = json_string_value(json_object_get(body, "name"));
        subnet = json_string_value(json_object_get(body, "subnet"));
        if (vms_network_create(call->api->vms, name, subnet, &j, &err) < 0) {
                api_response_fail(call->resp, &err);
                goto out;
        }
        api_response_header(call->resp, "Location", "/v1/networks/%s", name);
        api_response_json(call->resp, 201, j);
out:
        json_decref(body);
}

void api_network_delete(struct api_call *call) {
        struct error err = { 0 };

        if (vms_network_delete(call->api->vms, call->cap[0], &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_empty(call->resp);
}
