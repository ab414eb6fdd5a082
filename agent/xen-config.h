/* xen-config.h: owns a parsed copy of Xen's build configuration, the Kconfig
 * ".config" text that hypfs serves at /buildinfo/config. Pure: text in,
 * lookups out; no I/O. */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#include "macro.h"

struct xen_config;

/* Parses len bytes of text (need not be NUL-terminated and may contain NULs).
 * Understands "CONFIG_NAME=value" (value bare or "quoted") and
 * "# CONFIG_NAME is not set"; anything else is skipped, because one odd line
 * must not hide the rest. A later line for the same name replaces an earlier
 * one, as in Kconfig. Returns 0 or -ENOMEM. */
int xen_config_parse(const char *text, size_t len, struct xen_config **ret);

struct xen_config *xen_config_free(struct xen_config *c);
DEFINE_CLEANUP_FUNC(struct xen_config, xen_config_free);

/* name is without the "CONFIG_" prefix. Returns the value (unquoted for
 * strings), or NULL when the option is absent or "is not set". */
const char *xen_config_get(const struct xen_config *c, const char *name);

/* True only for "=y": absent, "is not set", "=m" or anything else is false. */
bool xen_config_enabled(const struct xen_config *c, const char *name);

size_t xen_config_count(const struct xen_config *c);
