/* log.c: owns the daemon's stderr log (see log.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static const char *const level_prefix[] = {
        [LOG_LEVEL_ERR] = SD_ERR,
        [LOG_LEVEL_WARNING] = SD_WARNING,
        [LOG_LEVEL_NOTICE] = SD_NOTICE,
        [LOG_LEVEL_INFO] = SD_INFO,
        [LOG_LEVEL_DEBUG] = SD_DEBUG,
};

static int use_prefix = -1; /* not decided yet */

int log_internalv(int level, int error, const char *format, va_list ap) {
        const char *prefix = "";
        char text[1024];
        int saved = errno;

        /* The "<N>" prefix is for journald; a person at a terminal gets plain lines. */
        if (use_prefix < 0)
                use_prefix = !isatty(STDERR_FILENO);
        if (use_prefix && level >= LOG_LEVEL_ERR && level <= LOG_LEVEL_DEBUG)
                prefix = level_prefix[level];

        vsnprintf(text, sizeof(text), format, ap);
        fprintf(stderr, "%s%s%s%s\n", prefix, text, error ? ": " : "", error ? strerror(abs(error)) : "");

        errno = saved;
        return error;
}

int log_internal(int level, int error, const char *format, ...) {
        va_list ap;
        int r;

        va_start(ap, format);
        r = log_internalv(level, error, format, ap);
        va_end(ap);
        return r;
}
