/* dt-gic.h: owns nothing; finds the GIC version in a device tree exposed as a
 * directory of nodes and property files (/proc/device-tree). */
#pragma once

#include <stddef.h>

/* Returns 3 or 2 from the first node that has an "interrupt-controller"
 * property and a GIC "compatible" string; -ENOENT if no such node, or the
 * negative errno of opening dt_root. Symlinks are not followed and the walk
 * stops at a fixed depth. */
int dt_gic_version(const char *dt_root);

/* Pure: the GIC version named by a "compatible" property (a list of
 * NUL-terminated strings, size bytes), 0 if it names no GIC this code knows. */
int dt_gic_version_from_compatible(const char *list, size_t size);
