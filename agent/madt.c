/* madt.c: reads the GIC version out of an ACPI MADT (see madt.h). */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "madt.h"

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

int madt_gic_version(const uint8_t *buf, size_t size) {
        bool have_gicd = false, have_gicr = false;
        unsigned version = 0;
        size_t end, off;

        if (!buf || size < MADT_HEADER_SIZE || memcmp(buf, "APIC", 4) != 0)
                return -EBADMSG;

        /* Trust the header's length only as far as the bytes we really have. */
        end = le32(buf + 4);
        if (end < MADT_HEADER_SIZE || end > size)
                return -EBADMSG;

        for (off = MADT_HEADER_SIZE; off < end;) {
                uint8_t type, len;

                if (end - off < 2)
                        return -EBADMSG;
                type = buf[off];
                len = buf[off + 1];
                if (len < 2 || len > end - off)
                        return -EBADMSG;

                if (type == MADT_TYPE_GICD) {
                        if (len < MADT_GICD_SIZE)
                                return -EBADMSG;
                        have_gicd = true;
                        version = buf[off + MADT_GICD_VERSION_OFFSET];
                } else if (type == MADT_TYPE_GICR)
                        have_gicr = true;

                off += len;
        }

        if (!have_gicd)
                return -ENOENT;
        if (version == 0)
                return have_gicr ? 3 : 2;
        if (version > 4)
                return -EPROTONOSUPPORT;
        return (int) version;
}
