/* errors.c: owns the error type's names and its filling (see errors.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

#include "errors.h"

static const char *const code_names[_ERROR_CODE_MAX] = {
        [ERROR_NONE] = "none",
        [ERROR_INTERNAL] = "internal_error",
        [ERROR_INVALID_JSON] = "invalid_json",
        [ERROR_INVALID_FIELD] = "invalid_field",
        [ERROR_UNKNOWN_FIELD] = "unknown_field",
        [ERROR_MISSING_FIELD] = "missing_field",
        [ERROR_INVALID_NAME] = "invalid_name",
        [ERROR_OUT_OF_RANGE] = "out_of_range",
        [ERROR_SPEC_UNKNOWN_CONSOLE] = "unknown_console",
        [ERROR_PAYLOAD_TOO_LARGE] = "payload_too_large",
        [ERROR_UNKNOWN_IMAGE] = "unknown_image",
        [ERROR_UNKNOWN_FIRMWARE] = "unknown_firmware",
        [ERROR_UNKNOWN_NETWORK] = "unknown_network",
        [ERROR_EXCEEDS_HOST] = "exceeds_host",
        [ERROR_DIGEST_MISMATCH] = "digest_mismatch",
        [ERROR_NOT_FOUND] = "not_found",
        [ERROR_VM_NOT_FOUND] = "vm_not_found",
        [ERROR_IMAGE_NOT_FOUND] = "image_not_found",
        [ERROR_NETWORK_NOT_FOUND] = "network_not_found",
        [ERROR_UNKNOWN_CONSOLE] = "unknown_console",
        [ERROR_OFFSET_OUT_OF_RANGE] = "offset_out_of_range",
        [ERROR_BOOT_NOT_FOUND] = "boot_not_found",
        [ERROR_ALREADY_EXISTS] = "already_exists",
        [ERROR_TOO_MANY_VMS] = "too_many_vms",
        [ERROR_VM_RUNNING] = "vm_running",
        [ERROR_VM_NOT_RUNNING] = "vm_not_running",
        [ERROR_VM_NOT_PAUSED] = "vm_not_paused",
        [ERROR_VM_NO_ADDRESS] = "vm_no_address",
        [ERROR_IMAGE_IN_USE] = "image_in_use",
        [ERROR_NETWORK_IN_USE] = "network_in_use",
        [ERROR_SUBNET_OVERLAP] = "subnet_overlap",
        [ERROR_MAC_IN_USE] = "mac_in_use",
        [ERROR_TOO_MANY_NETWORKS] = "too_many_networks",
        [ERROR_NETWORK_FULL] = "network_full",
        [ERROR_CONSOLE_CORRUPT] = "console_corrupt",
        [ERROR_SPEC_CONFLICT] = "spec_conflict",
        [ERROR_PRECONDITION_FAILED] = "precondition_failed",
        [ERROR_INSUFFICIENT_STORAGE] = "insufficient_storage",
        [ERROR_XEN_UNAVAILABLE] = "xen_unavailable",
        [ERROR_FIRMWARE_UNAVAILABLE] = "firmware_unavailable",
        [ERROR_CONSOLE_BUSY] = "console_busy",
        [ERROR_TOO_MANY_VIEWERS] = "too_many_viewers",
        [ERROR_TOO_MANY_FOLLOWERS] = "too_many_followers",
        [ERROR_TOO_MANY_FORWARDS] = "too_many_forwards",
        [ERROR_TIME_INDEX_UNAVAILABLE] = "time_index_unavailable",
        [ERROR_WAIT_TIMEOUT] = "wait_timeout",
        [ERROR_BUILD_FAILED] = "build_failed",
        [ERROR_DISK_FAILED] = "disk_failed",
        [ERROR_CONSOLE_FAILED] = "console_failed",
        [ERROR_START_FAILED] = "start_failed",
        [ERROR_SHUTDOWN_FAILED] = "shutdown_failed",
        [ERROR_REBOOT_FAILED] = "reboot_failed",
        [ERROR_PAUSE_FAILED] = "pause_failed",
        [ERROR_RESUME_FAILED] = "resume_failed",
        [ERROR_STATE_NOT_SAVED] = "state_not_saved",
        [ERROR_UNAUTHORIZED] = "unauthorized",
        [ERROR_TOO_MANY_LOGINS] = "too_many_logins",
        [ERROR_BAD_ORIGIN] = "bad_origin",
        [ERROR_METHOD_NOT_ALLOWED] = "method_not_allowed",
        [ERROR_UPGRADE_REQUIRED] = "upgrade_required",
        [ERROR_BAD_HANDSHAKE] = "bad_handshake",
        [ERROR_BAD_HANDSHAKE_METHOD] = "bad_handshake",
};

const char *error_code_name(enum error_code code) {
        return code < _ERROR_CODE_MAX && code_names[code] ? code_names[code] : "internal_error";
}

int error_set(struct error *e, int r, enum error_code code, const char *field, const char *format, ...) {
        va_list ap;

        if (r >= 0)
                r = -EINVAL;
        if (e) {
                e->code = code;
                e->r = r;
                e->field = field;
                va_start(ap, format);
                vsnprintf(e->message, sizeof(e->message), format, ap);
                va_end(ap);
        }
        return r;
}

const char *error_field_index(struct error *e, const char *array, size_t index, const char *sub) {
        if (!e)
                return array;
        if (sub)
                snprintf(e->field_buf, sizeof(e->field_buf), "%s[%zu].%s", array, index, sub);
        else
                snprintf(e->field_buf, sizeof(e->field_buf), "%s[%zu]", array, index);
        return e->field_buf;
}
