/* log.h: owns the daemon's stderr log (journald files it by the "<N>"
 * prefix). A failure is logged once, where it is last known: modules return
 * a negative errno (and a struct error) to their caller; only failures no
 * caller hears of (the daemon's set-up, the HTTP server's 5xx answers, what
 * happens to a VM between requests) are logged, with ", ignoring" where the
 * agent carries on. */
#pragma once

#include <stdarg.h>
#include <systemd/sd-daemon.h>

#include "macro.h"

/* Priorities as in syslog(3); the line goes out with the matching "<N>" prefix
 * (SD_ERR...) so journald files it at the right level. */
enum {
        LOG_LEVEL_ERR = 3,
        LOG_LEVEL_WARNING = 4,
        LOG_LEVEL_NOTICE = 5,
        LOG_LEVEL_INFO = 6,
        LOG_LEVEL_DEBUG = 7,
};

/* Logs and returns error (a negative errno, or 0). With error != 0 the text of
 * the errno is appended after ": ". */
int log_internal(int level, int error, const char *format, ...) _printf_(3, 4);
int log_internalv(int level, int error, const char *format, va_list ap) _printf_(3, 0);

#define log_error(...)   log_internal(LOG_LEVEL_ERR, 0, __VA_ARGS__)
#define log_warning(...) log_internal(LOG_LEVEL_WARNING, 0, __VA_ARGS__)
#define log_notice(...)  log_internal(LOG_LEVEL_NOTICE, 0, __VA_ARGS__)
#define log_info(...)    log_internal(LOG_LEVEL_INFO, 0, __VA_ARGS__)

#define log_error_errno(r, ...)   log_internal(LOG_LEVEL_ERR, (r), __VA_ARGS__)
#define log_warning_errno(r, ...) log_internal(LOG_LEVEL_WARNING, (r), __VA_ARGS__)
