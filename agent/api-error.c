/* api-error.c: owns the HTTP status of every error code (errors.h), and
 * the JSON body of every error answer (see api.h). The one place the core's
 * errors meet HTTP. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api-internal.h"

static const unsigned short statuses[_ERROR_CODE_MAX] = {
        [ERROR_NONE] = 500,                     /* an error that says nothing is a bug */
        [ERROR_INTERNAL] = 500,
        [ERROR_INVALID_JSON] = 400,
        [ERROR_INVALID_FIELD] = 400,
        [ERROR_UNKNOWN_FIELD] = 400,
        [ERROR_MISSING_FIELD] = 400,
        [ERROR_INVALID_NAME] = 400,
        [ERROR_OUT_OF_RANGE] = 400,
        [ERROR_SPEC_UNKNOWN_CONSOLE] = 400,
        [ERROR_PAYLOAD_TOO_LARGE] = 413,
        [ERROR_UNKNOWN_IMAGE] = 422,
        [ERROR_UNKNOWN_FIRMWARE] = 422,
        [ERROR_UNKNOWN_NETWORK] = 422,
        [ERROR_EXCEEDS_HOST] = 422,
        [ERROR_DIGEST_MISMATCH] = 422,
        [ERROR_NOT_FOUND] = 404,
        [ERROR_VM_NOT_FOUND] = 404,
        [ERROR_IMAGE_NOT_FOUND] = 404,
        [ERROR_NETWORK_NOT_FOUND] = 404,
        [ERROR_UNKNOWN_CONSOLE] = 404,
        [ERROR_OFFSET_OUT_OF_RANGE] = 416,
        [ERROR_BOOT_NOT_FOUND] = 404,
        [ERROR_ALREADY_EXISTS] = 409,
        [ERROR_TOO_MANY_VMS] = 409,
        [ERROR_VM_RUNNING] = 409,
        [ERROR_VM_NOT_RUNNING] = 409,
        [ERROR_VM_NOT_PAUSED] = 409,
        [ERROR_VM_NO_ADDRESS] = 409,
        [ERROR_IMAGE_IN_USE] = 409,
        [ERROR_NETWORK_IN_USE] = 409,
        [ERROR_SUBNET_OVERLAP] = 409,
        [ERROR_MAC_IN_USE] = 409,
        [ERROR_TOO_MANY_NETWORKS] = 409,
        [ERROR_NETWORK_FULL] = 409,
        [ERROR_CONSOLE_CORRUPT] = 409,
        [ERROR_SPEC_CONFLICT] = 409,
        [ERROR_PRECONDITION_FAILED] = 412,
        [ERROR_INSUFFICIENT_STORAGE] = 507,
        [ERROR_XEN_UNAVAILABLE] = 503,
        [ERROR_FIRMWARE_UNAVAILABLE] = 503,
        [ERROR_CONSOLE_BUSY] = 503,
        [ERROR_TOO_MANY_VIEWERS] = 503,
        [ERROR_TOO_MANY_FOLLOWERS] = 503,
        [ERROR_TOO_MANY_FORWARDS] = 503,
        [ERROR_TIME_INDEX_UNAVAILABLE] = 503,
        [ERROR_WAIT_TIMEOUT] = 408,
        [ERROR_BUILD_FAILED] = 500,
        [ERROR_DISK_FAILED] = 500,
        [ERROR_CONSOLE_FAILED] = 500,
        [ERROR_START_FAILED] = 500,
        [ERROR_SHUTDOWN_FAILED] = 500,
        [ERROR_REBOOT_FAILED] = 500,
        [ERROR_PAUSE_FAILED] = 500,
        [ERROR_RESUME_FAILED] = 500,
        [ERROR_STATE_NOT_SAVED] = 500,
        [ERROR_UNAUTHORIZED] = 401,
        [ERROR_TOO_MANY_LOGINS] = 429,
        [ERROR_BAD_ORIGIN] = 403,
        [ERROR_METHOD_NOT_ALLOWED] = 405,
        [ERROR_UPGRADE_REQUIRED] = 426,
        [ERROR_BAD_HANDSHAKE] = 400,
        [ERROR_BAD_HANDSHAKE_METHOD] = 405,
};

unsigned api_error_status(enum error_code code) {
        return code < _ERROR_CODE_MAX && statuses[code] ? statuses[code] : 500;
}

static void response_error(struct api_response *resp, enum error_code code, const char *field, const char *message) {
        json_t *error, *body;

        error = json_pack("{s:s,s:s}", "code", error_code_name(code), "message", message);
        if (error && field && json_object_set_new(error, "field", json_string(field)) < 0) {
                json_decref(error);
                error = NULL;
        }
        body = error ? json_pack("{s:o}", "error", error) : NULL;
        api_response_json(resp, api_error_status(code), body);
        /* Headers of an answer that was under way are not the error's. */
        memset(resp->extra, 0, sizeof(resp->extra));
}

void api_response_error(struct api_response *resp, enum error_code code, const char *field, const char *format,
                        ...) {
        char message[512];
        va_list ap;

        va_start(ap, format);
        vsnprintf(message, sizeof(message), format, ap);
        va_end(ap);
        response_error(resp, code, field, message);
}

void api_response_fail(struct api_response *resp, const struct error *e) {
        response_error(resp, e->code == ERROR_NONE ? ERROR_INTERNAL : e->code, e->field,
                       e->code == ERROR_NONE ? "internal error" : e->message);
}
