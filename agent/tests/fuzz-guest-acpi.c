/* fuzz-guest-acpi.c: libFuzzer target for the guest ACPI table builder. The
 * input picks a config (GIC versions and vCPU counts inside and outside the
 * valid ranges, the UART or not) and a buffer (none, small, odd, exact, one
 * short, large), a heap block of exactly that size so ASan sees any write
 * past it. Checks that a bad config is refused with its errno and nothing
 * written, a short buffer with -ENOBUFS and the needed length, and that a
 * built blob reads back (acpi-reader.h: checksums, every table inside the
 * blob's length and tiling it, a GICC and a processor device per vCPU, the
 * UART's SPCR and device exactly when asked) with nothing past it touched.
 * Not built by meson; build and run it with agent/tests/fuzz guest-acpi
 * SECONDS, or:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iagent \
 *         agent/tests/fuzz-guest-acpi.c agent/guest-acpi.c -o fuzz-guest-acpi
 *   ./fuzz-guest-acpi -max_total_time=60 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "acpi-reader.h"
#include "fuzz.h"
#include "guest-acpi.h"

#define CANARY 0xa5

static uint32_t take(const uint8_t **p, size_t *left, int bytes) {
        uint32_t v = 0;

        for (int i = 0; i < bytes && *left > 0; i++, (*p)++, (*left)--)
                v = v << 8 | **p;
        return v;
}

static int valid(const struct guest_acpi_config *c) {
        if (c->gic_version != 2 && c->gic_version != 3)
                return -EPROTONOSUPPORT;
        if (c->nr_vcpus < 1 || c->nr_vcpus > (c->gic_version == 2 ? 8u : 128u))
                return -ERANGE;
        return 0;
}

static void check_blob(const struct guest_acpi_config *c, const uint8_t *buf, size_t len) {
        static struct acpi_blob b;
        static struct aml_tree t;
        const struct acpi_table *madt, *dsdt;
        unsigned gicc = 0, cpus = 0, uarts = 0;

        CHECK(len > 0 && len % 8 == 0 && len <= GUEST_ACPI_SIZE_MAX);
        CHECK(acpi_read_blob(&b, buf, len, UINT64_C(0x20000000)) == NULL);
        CHECK((acpi_find(&b, "SPCR") != NULL) == c->vpl011);
        CHECK(acpi_find(&b, "GTDT") != NULL);
        madt = acpi_find(&b, "APIC");
        CHECK(madt != NULL);
        for (size_t off = 44; off < madt->len;) {
                const uint8_t *e = madt->p + off;

                CHECK(madt->len - off >= 2 && e[1] >= 2 && e[1] <= madt->len - off);
                if (e[0] == 0x0b) {
                        CHECK(e[1] == 80); /* a GICC's length, before its fields are read */
                        CHECK(rd32(e + 8) == gicc);
                        CHECK(rd64(e + 68) == ((gicc & 0xf) | (uint64_t) (gicc >> 4) << 8));
                        gicc++;
                }
                off += e[1];
        }
        CHECK(gicc == c->nr_vcpus);
        dsdt = acpi_find(&b, "DSDT");
        CHECK(dsdt != NULL);
        CHECK(aml_read_dsdt(dsdt, &t) == NULL);
        for (size_t i = 0; i < t.n_dev; i++) {
                if (strcmp(t.dev[i].hid, "ACPI0007") == 0) {
                        CHECK(t.dev[i].has_uid && t.dev[i].uid == cpus);
                        cpus++;
                } else if (strcmp(t.dev[i].hid, "ARMH0011") == 0)
                        uarts++;
                else
                        CHECK(0);
        }
        CHECK(cpus == c->nr_vcpus && uarts == (c->vpl011 ? 1u : 0u));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct guest_acpi_config c;
        uint32_t gic, vcpus, mode, raw;
        size_t need = 0, len, bufsize;
        uint8_t *buf;
        int want, r;

        gic = take(&data, &size, 1);
        vcpus = take(&data, &size, 2);
        mode = take(&data, &size, 1);
        raw = take(&data, &size, 2);

        /* Mostly near the edges of the valid ranges, now and then anything. */
        c.gic_version = gic & 0x80 ? gic : gic % 5;
        c.nr_vcpus = vcpus & 0x8000 ? vcpus : vcpus % 140;
        c.vpl011 = mode & 1;
        want = valid(&c);

        len = 7;
        r = guest_acpi_build(&c, NULL, 0, &len);
        if (want < 0) {
                CHECK(r == want && len == 7);
                return 0;
        }
        CHECK(r == -ENOBUFS && len > 0 && len <= GUEST_ACPI_SIZE_MAX);
        need = len;

        switch ((mode >> 1) % 6) {
        case 0: bufsize = raw % 64; break;                      /* tiny */
        case 1: bufsize = raw % (GUEST_ACPI_SIZE_MAX + 64); break; /* anything */
        case 2: bufsize = need; break;
        case 3: bufsize = need - 1; break;
        case 4: bufsize = need + raw % 9; break;                /* odd, just above */
        default: bufsize = GUEST_ACPI_SIZE_MAX; break;
        }
        buf = malloc(bufsize ? bufsize : 1);
        if (!buf)
                return 0;
        memset(buf, CANARY, bufsize);
        len = 0;
        r = guest_acpi_build(&c, buf, bufsize, &len);
        if (bufsize < need) {
                CHECK(r == -ENOBUFS && len == need);
                for (size_t i = 0; i < bufsize; i++)
                        CHECK(buf[i] == CANARY);
        } else {
                CHECK(r == 0 && len == need);
                for (size_t i = len; i < bufsize; i++)
                        CHECK(buf[i] == CANARY);
                check_blob(&c, buf, len);
        }
        free(buf);
        return 0;
}
