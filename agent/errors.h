/* errors.h: owns the one error type of the agent: what failed, as a negative
 * errno, a stable code (the API's "code", e.g. "vm_not_running"), the
 * request field at fault and a message for people. The core (VMs, images,
 * consoles, logs, the toolstack) fills it and knows nothing of HTTP; the
 * front end turns the code into an HTTP status in one table
 * (api-error.c), and the daemon into a journal line.
 *
 * A code names what happened, not how it is shown: two codes may share a
 * wire name when the same word means two answers (an unknown console in a
 * request body is a bad request, in a path a missing resource). */
#pragma once

#include <stddef.h>

#include "macro.h"

enum error_code {
        ERROR_NONE,                     /* nothing failed (yet) */
        ERROR_INTERNAL,                 /* internal_error: out of memory, an I/O error, a bug */

        /* The request is malformed. */
        ERROR_INVALID_JSON,
        ERROR_INVALID_FIELD,
        ERROR_UNKNOWN_FIELD,
        ERROR_MISSING_FIELD,
        ERROR_INVALID_NAME,
        ERROR_OUT_OF_RANGE,
        ERROR_SPEC_UNKNOWN_CONSOLE,     /* unknown_console, in a VM spec */
        ERROR_PAYLOAD_TOO_LARGE,

        /* Well-formed, but refers to what is not there or cannot be. */
        ERROR_UNKNOWN_IMAGE,
        ERROR_UNKNOWN_FIRMWARE,         /* a firmware this host has not installed */
        ERROR_UNKNOWN_NETWORK,          /* a NIC's network that does not exist */
        ERROR_EXCEEDS_HOST,
        ERROR_DIGEST_MISMATCH,
        ERROR_NOT_FOUND,                /* nothing at that path */
        ERROR_VM_NOT_FOUND,
        ERROR_IMAGE_NOT_FOUND,
        ERROR_NETWORK_NOT_FOUND,
        ERROR_UNKNOWN_CONSOLE,          /* unknown_console, in a path */
        ERROR_OFFSET_OUT_OF_RANGE,
        ERROR_BOOT_NOT_FOUND,           /* a boot the log does not hold */

        /* Refused in the current state. */
        ERROR_ALREADY_EXISTS,
        ERROR_TOO_MANY_VMS,
        ERROR_VM_RUNNING,
        ERROR_VM_NOT_RUNNING,
        ERROR_VM_NOT_PAUSED,
        ERROR_VM_NO_ADDRESS,            /* a forward to a VM without a NIC, or without a lease on it */
        ERROR_IMAGE_IN_USE,
        ERROR_NETWORK_IN_USE,           /* a network NICs use, or the default one */
        ERROR_SUBNET_OVERLAP,
        ERROR_MAC_IN_USE,               /* another VM's NIC has that MAC */
        ERROR_TOO_MANY_NETWORKS,
        ERROR_NETWORK_FULL,             /* no address left in the subnet */
        ERROR_CONSOLE_CORRUPT,          /* input to a console whose ring broke its rules */
        ERROR_SPEC_CONFLICT,            /* PUT of a VM that exists with another spec */
        ERROR_PRECONDITION_FAILED,      /* If-Match names another generation of the VM */

        /* The host cannot do it now. */
        ERROR_INSUFFICIENT_STORAGE,
        ERROR_XEN_UNAVAILABLE,
        ERROR_FIRMWARE_UNAVAILABLE,
        ERROR_CONSOLE_BUSY,
        ERROR_TOO_MANY_VIEWERS,
        ERROR_TOO_MANY_FOLLOWERS,
        ERROR_TOO_MANY_FORWARDS,        /* port forwards: the agent's limit, or the VM's */
        ERROR_TIME_INDEX_UNAVAILABLE,   /* since/until of a log whose time index is not there */
        ERROR_WAIT_TIMEOUT,             /* a wait's pattern did not appear in its time */

        /* A step of the toolstack failed. */
        ERROR_BUILD_FAILED,
        ERROR_DISK_FAILED,
        ERROR_CONSOLE_FAILED,
        ERROR_START_FAILED,
        ERROR_SHUTDOWN_FAILED,
        ERROR_REBOOT_FAILED,
        ERROR_PAUSE_FAILED,
        ERROR_RESUME_FAILED,
        ERROR_STATE_NOT_SAVED,          /* the change happened, but its record on disk failed */

        /* The front end's own. */
        ERROR_UNAUTHORIZED,
        ERROR_TOO_MANY_LOGINS,          /* failed logins from the client's address (throttle.h) */
        ERROR_BAD_ORIGIN,
        ERROR_METHOD_NOT_ALLOWED,
        ERROR_UPGRADE_REQUIRED,
        ERROR_BAD_HANDSHAKE,
        ERROR_BAD_HANDSHAKE_METHOD,     /* bad_handshake, for a method other than GET */

        _ERROR_CODE_MAX,
};

#define ERROR_MESSAGE_MAX 256

struct error {
        enum error_code code;
        int r;                          /* negative errno */
        const char *field;              /* static, field_buf, or NULL */
        char message[ERROR_MESSAGE_MAX];
        char field_buf[48];             /* a field named with an index (any size_t) */
};

/* The code's stable name ("vm_not_running"). */
const char *error_code_name(enum error_code code);

/* Fills *e (if not NULL) and returns r if negative, else -EINVAL, so that
 * "return error_set(e, r, ...);" passes the errno on. */
int error_set(struct error *e, int r, enum error_code code, const char *field, const char *format, ...)
        _printf_(5, 6);

/* The name of an element's field, "array[index].sub" (or "array[index]" if
 * sub is NULL), kept in e's own storage; array itself if e is NULL. */
const char *error_field_index(struct error *e, const char *array, size_t index, const char *sub);
