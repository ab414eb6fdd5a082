/* api-vms.c: the VMs' routes: GET and POST /v1/vms, GET, PUT and DELETE
 * /v1/vms/NAME, and the actions POST /v1/vms/NAME/ACTION (a table). */
#include <string.h>

#include "api-internal.h"

#define API_SHUTDOWN_TIMEOUT_DEFAULT 60
#define API_SHUTDOWN_TIMEOUT_MAX 3600

void api_vms_list(struct api_call *call) {
        api_response_json(call->resp, 200, vms_to_json(call->api->vms));
}

/* Makes the VM of a spec and starts it if it says so: 201 (with `error`
 * if it was made but did not start). */
static void create(struct api_call *call, const struct vm_spec *spec) {
        struct error err = { 0 };
        struct vm *vm;
        char etag[VM_ETAG_MAX];

        if (vms_create(call->api->vms, spec, &vm, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        if (spec->start && vm_start(vm, &err) < 0) {
                /* The VM exists (stopped); say why it did not start. */
                json_t *j = vm_to_json(vm);

                json_object_set_new(j, "error", json_pack("{s:s,s:s}", "code", error_code_name(err.code), "message",
                                                          err.message));
                api_response_json(call->resp, 201, j);
                vm_etag(vm, etag);
                api_response_header(call->resp, "ETag", "%s", etag);
                api_response_header(call->resp, "Cache-Control", "no-store");
                return;
        }
        api_response_vm(call->resp, 201, vm);
}

void api_vms_create(struct api_call *call) {
        struct error err = { 0 };
        struct vm_spec spec;
        json_t *body;

        body = api_body_json(call);
        if (!body)
                return;
        if (vm_spec_from_request(body, &spec, &err) < 0) {
                json_decref(body);
                api_response_fail(call->resp, &err);
                return;
        }
        json_decref(body);
        create(call, &spec);
}

void api_response_vm(struct api_response *resp, unsigned status, const struct vm *vm) {
        char etag[VM_ETAG_MAX];

        api_response_json(resp, status, vm_to_json(vm));
        vm_etag(vm, etag);
        api_response_header(resp, "ETag", "%s", etag);
        /* The tag names the spec, not the state the body shows. */
        api_response_header(resp, "Cache-Control", "no-store");
}

void api_vm_get(struct api_call *call) {
        api_response_vm(call->resp, 200, call->vm);
}

/* PUT /v1/vms/NAME: makes the VM as POST /v1/vms does (201), or confirms
 * it: the same spec again is 200 with the VM as it is (a retried request
 * does no harm, and does not start it again), another spec is 409
 * spec_conflict (a spec cannot change yet). The body's name, if given, is
 * the path's. If-Match holds as on every route of a VM (on one that does
 * not exist, only 412). */
void api_vm_put(struct api_call *call) {
        struct error err = { 0 };
        struct vm_spec spec;
        struct vm *vm;
        json_t *body, *name;
        int r;

        body = api_body_json(call);
        if (!body)
                return;
        name = json_object_get(body, "name");
        if (!name)
                json_object_set_new(body, "name", json_string(call->cap[0]));
        else if (!json_is_string(name) || strcmp(json_string_value(name), call->cap[0]) != 0) {
                json_decref(body);
                api_response_error(call->resp, ERROR_INVALID_FIELD, "name",
                                   "the body's name must be the path's (%s), or left out", call->cap[0]);
                return;
        }
        r = vm_spec_from_request(body, &spec, &err);
        json_decref(body);
        if (r < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        vm = vms_find(call->api->vms, spec.name);
        if (!api_check_if_match(call, vm))
                return;
        if (vm) {
                if (!vm_spec_matches(vm, &spec)) {
                        api_response_error(call->resp, ERROR_SPEC_CONFLICT, NULL,
                                           "VM %s exists with another spec (GET it to see; delete it to make it "
                                           "anew)", spec.name);
                        return;
                }
                api_response_vm(call->resp, 200, vm);
                return;
        }
        create(call, &spec);
}

void api_vm_delete(struct api_call *call) {
        struct error err = { 0 };

        if (vms_delete(call->api->vms, call->vm, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_empty(call->resp);
}

struct action_args {
        unsigned timeout_sec;           /* shutdown */
};

static int action_start(struct vm *vm, const struct action_args *a _unused_, struct error *err) {
        return vm_start(vm, err);
}

static int action_shutdown(struct vm *vm, const struct action_args *a, struct error *err) {
        return vm_shutdown(vm, a->timeout_sec, err);
}

static int action_reboot(struct vm *vm, const struct action_args *a _unused_, struct error *err) {
        return vm_reboot(vm, err);
}

static int action_pause(struct vm *vm, const struct action_args *a _unused_, struct error *err) {
        return vm_pause(vm, err);
}

static int action_resume(struct vm *vm, const struct action_args *a _unused_, struct error *err) {
        return vm_resume(vm, err);
}

static int action_destroy(struct vm *vm, const struct action_args *a _unused_, struct error *err) {
        return vm_destroy(vm, err);
}

/* shutdown and reboot are requests to the guest: 202, the VM's state
 * follows once the guest acts. Only shutdown takes a body. */
static const struct action {
        const char *name;
        int (*run)(struct vm *vm, const struct action_args *a, struct error *err);
        unsigned status;
        bool takes_timeout;
} actions[] = {
        { "start", action_start, 200, false },
        { "shutdown", action_shutdown, 202, true },
        { "reboot", action_reboot, 202, false },
        { "pause", action_pause, 200, false },
        { "resume", action_resume, 200, false },
        { "destroy", action_destroy, 200, false },
};

/* The body of an action (NULL: an unknown one), {"timeout_sec": N} for
 * shutdown, nothing for the others; false with a 400 in the answer when it
 * is not that. */
static bool parse_action_body(struct api_call *call, const struct action *act, struct action_args *args) {
        json_t *body, *t;
        const char *key;
        json_t *v;

        args->timeout_sec = API_SHUTDOWN_TIMEOUT_DEFAULT;
        if (call->req->body_size == 0)
                return true;
        body = api_body_json(call);
        if (!body)
                return false;
        if (!json_is_object(body)) {
                json_decref(body);
                api_response_error(call->resp, ERROR_INVALID_JSON, NULL, "the body must be a JSON object");
                return false;
        }
        json_object_foreach(body, key, v)
                if (!act || !act->takes_timeout || strcmp(key, "timeout_sec") != 0) {
                        api_response_error(call->resp, ERROR_UNKNOWN_FIELD, NULL, "unknown field \"%.64s\"", key);
                        json_decref(body);
                        return false;
                }
        t = json_object_get(body, "timeout_sec");
        if (t && (!json_is_integer(t) || json_integer_value(t) < 0 ||
                  json_integer_value(t) > API_SHUTDOWN_TIMEOUT_MAX)) {
                api_response_error(call->resp, ERROR_OUT_OF_RANGE, "timeout_sec",
                                   "timeout_sec must be an integer between 0 and %d", API_SHUTDOWN_TIMEOUT_MAX);
                json_decref(body);
                return false;
        }
        if (t)
                args->timeout_sec = (unsigned) json_integer_value(t);
        json_decref(body);
        return true;
}

void api_vm_action(struct api_call *call) {
        const char *name = call->cap[1];
        const struct action *act = NULL;
        struct error err = { 0 };
        struct action_args args;

        for (size_t i = 0; i < ELEMENTSOF(actions) && !act; i++)
                if (strcmp(actions[i].name, name) == 0)
                        act = &actions[i];
        if (!parse_action_body(call, act, &args))
                return;
        if (!act) {
                api_response_error(call->resp, ERROR_NOT_FOUND, NULL,
                                   "unknown action %.64s (start, shutdown, reboot, pause, resume, destroy)", name);
                return;
        }
        if (act->run(call->vm, &args, &err) < 0) {
                api_response_fail(call->resp, &err);
                return;
        }
        api_response_vm(call->resp, act->status, call->vm);
}
