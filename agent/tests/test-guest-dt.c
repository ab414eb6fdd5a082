/* test-guest-dt.c: the guest device-tree builder and its finalisation, every
 * node and property read back with libfdt. Expected values are spelled out
 * as cells here rather than derived from guest-dt.h where it matters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <libfdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guest-dt.h"
#include "macro.h"

#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

/* A literal string list with its final NUL, e.g. STRS("a\0b"). */
#define STRS(s) s, sizeof(s)
#define CELLS(...) ((const uint32_t[]) { __VA_ARGS__ }), ELEMENTSOF(((const uint32_t[]) { __VA_ARGS__ }))
#define NAMES(...) ((const char *const[]) { __VA_ARGS__ }), ELEMENTSOF(((const char *const[]) { __VA_ARGS__ }))

static uint8_t seed[GUEST_DT_RNG_SEED_MAX];

static struct guest_dt_params params_minimal(unsigned gic, unsigned vcpus) {
        return (struct guest_dt_params) {
                .gic_version = gic,
                .nr_vcpus = vcpus,
                .stdout_kind = GUEST_DT_STDOUT_NONE,
                .xen_version_compat = "4.17",
        };
}

/* The 2-vCPU GICv2 guest with everything switched on. */
static struct guest_dt_params params_full(void) {
        struct guest_dt_params p = params_minimal(2, 2);

        p.cmdline = "console=ttyAMA0 root=/dev/xvda rw";
        p.has_initrd = true;
        p.vpl011 = true;
        p.stdout_kind = GUEST_DT_STDOUT_VUART;
        p.clock_frequency = 62500000;
        p.rng_seed = seed;
        p.rng_seed_len = sizeof(seed);
        return p;
}

static void *build_ok(const struct guest_dt_params *p) {
        void *blob = NULL;
        size_t size = 0;

        assert_int_equal(guest_dt_build(p, &blob, &size), 0);
        assert_non_null(blob);
        assert_int_equal(fdt_check_header(blob), 0);
        assert_int_equal(fdt_check_full(blob, size), 0);
        assert_int_equal(fdt_totalsize(blob), size);
        assert_true(size <= GUEST_DT_SIZE_MAX);
        return blob;
}

static int node_at(const void *fdt, const char *path) {
        int node = fdt_path_offset(fdt, path);

        if (node < 0)
                fail_msg("no node %s: %s", path, fdt_strerror(node));
        return node;
}

static void assert_no_node(const void *fdt, const char *path) {
        assert_int_equal(fdt_path_offset(fdt, path), -FDT_ERR_NOTFOUND);
}

static void assert_no_prop(const void *fdt, const char *path, const char *name) {
        int len;

        assert_null(fdt_getprop(fdt, node_at(fdt, path), name, &len));
        assert_int_equal(len, -FDT_ERR_NOTFOUND);
}

static void assert_prop_bytes(const void *fdt, const char *path, const char *name, const void *want, size_t want_len) {
        const void *v;
        int len;

        v = fdt_getprop(fdt, node_at(fdt, path), name, &len);
        if (!v)
                fail_msg("no %s in %s", name, path);
        assert_int_equal(len, want_len);
        assert_memory_equal(v, want, want_len);
}

static void assert_prop_string(const void *fdt, const char *path, const char *name, const char *want) {
        assert_prop_bytes(fdt, path, name, want, strlen(want) + 1);
}

static void assert_prop_cells(const void *fdt, const char *path, const char *name, const uint32_t *want, size_t n) {
        const uint8_t *v;
        int len;

        v = fdt_getprop(fdt, node_at(fdt, path), name, &len);
        if (!v)
                fail_msg("no %s in %s", name, path);
        assert_int_equal(len, n * 4);
        for (size_t i = 0; i < n; i++) {
                fdt32_t be;

                memcpy(&be, v + 4 * i, 4);
                assert_int_equal(fdt32_to_cpu(be), want[i]);
        }
}

static void assert_prop_zero(const void *fdt, const char *path, const char *name, size_t want_len) {
        static const uint8_t zeros[64];

        assert_true(want_len <= sizeof(zeros));
        assert_prop_bytes(fdt, path, name, zeros, want_len);
}

/* The node's properties, exactly these, in this order. */
static void assert_prop_names(const void *fdt, const char *path, const char *const *names, size_t n) {
        size_t i = 0;
        int off;

        fdt_for_each_property_offset(off, fdt, node_at(fdt, path)) {
                const char *name;

                assert_non_null(fdt_getprop_by_offset(fdt, off, &name, NULL));
                if (i >= n)
                        fail_msg("%s: unexpected property %s", path, name);
                assert_string_equal(name, names[i]);
                i++;
        }
        assert_int_equal(off, -FDT_ERR_NOTFOUND);
        assert_int_equal(i, n);
}

/* The node's children, exactly these, in this order (NOPs are invisible). */
static void assert_subnodes(const void *fdt, const char *path, const char *const *names, size_t n) {
        size_t i = 0;
        int sub;

        fdt_for_each_subnode(sub, fdt, node_at(fdt, path)) {
                const char *name = fdt_get_name(fdt, sub, NULL);

                assert_non_null(name);
                if (i >= n)
                        fail_msg("%s: unexpected node %s", path, name);
                assert_string_equal(name, names[i]);
                i++;
        }
        assert_int_equal(i, n);
}

static void assert_interrupts_parent(const void *fdt, const char *path) {
        assert_prop_cells(fdt, path, "interrupt-parent", CELLS(65000));
}

/* --- build --- */

static void test_full_v2_guest(void **state) {
        struct guest_dt_params p = params_full();
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        fdt = build_ok(&p);

        assert_int_equal(fdt_num_mem_rsv(fdt), 0);
        assert_subnodes(fdt, "/", NAMES("chosen", "cpus", "psci", "memory@40000000", "memory@200000000",
                                        "interrupt-controller@3001000", "timer", "hypervisor",
                                        "sbsa-uart@22000000"));

        assert_prop_names(fdt, "/", NAMES("model", "compatible", "interrupt-parent", "#address-cells", "#size-cells"));
        assert_prop_string(fdt, "/", "model", "XENVM-4.17");
        assert_prop_bytes(fdt, "/", "compatible", STRS("xen,xenvm-4.17\0xen,xenvm"));
        assert_interrupts_parent(fdt, "/");
        assert_prop_cells(fdt, "/", "#address-cells", CELLS(2));
        assert_prop_cells(fdt, "/", "#size-cells", CELLS(2));

        assert_prop_names(fdt, "/chosen", NAMES("bootargs", "stdout-path", "linux,initrd-start", "linux,initrd-end",
                                                "rng-seed"));
        assert_subnodes(fdt, "/chosen", NULL, 0);
        assert_prop_string(fdt, "/chosen", "bootargs", "console=ttyAMA0 root=/dev/xvda rw");
        assert_prop_string(fdt, "/chosen", "stdout-path", "/sbsa-uart@22000000");
        assert_prop_zero(fdt, "/chosen", "linux,initrd-start", 8);
        assert_prop_zero(fdt, "/chosen", "linux,initrd-end", 8);
        assert_prop_bytes(fdt, "/chosen", "rng-seed", seed, sizeof(seed));
        /* stdout-path must name a node that exists. */
        assert_true(fdt_path_offset(fdt, "/sbsa-uart@22000000") >= 0);

        assert_prop_names(fdt, "/cpus", NAMES("#address-cells", "#size-cells"));
        assert_prop_cells(fdt, "/cpus", "#address-cells", CELLS(1));
        assert_prop_cells(fdt, "/cpus", "#size-cells", CELLS(0));
        assert_subnodes(fdt, "/cpus", NAMES("cpu@0", "cpu@1"));
        for (int i = 0; i < 2; i++) {
                const char *path = i ? "/cpus/cpu@1" : "/cpus/cpu@0";

                assert_prop_names(fdt, path, NAMES("device_type", "compatible", "enable-method", "reg"));
                assert_prop_string(fdt, path, "device_type", "cpu");
                assert_prop_bytes(fdt, path, "compatible", STRS("arm,armv8"));
                assert_prop_string(fdt, path, "enable-method", "psci");
                assert_prop_cells(fdt, path, "reg", CELLS((uint32_t) i));
        }

        assert_prop_names(fdt, "/psci", NAMES("compatible", "method", "cpu_off", "cpu_on"));
        assert_prop_bytes(fdt, "/psci", "compatible", STRS("arm,psci-1.0\0arm,psci-0.2\0arm,psci"));
        assert_prop_string(fdt, "/psci", "method", "hvc");
        assert_prop_cells(fdt, "/psci", "cpu_off", CELLS(1));
        assert_prop_cells(fdt, "/psci", "cpu_on", CELLS(2));

        assert_prop_names(fdt, "/memory@40000000", NAMES("device_type", "reg"));
        assert_prop_string(fdt, "/memory@40000000", "device_type", "memory");
        assert_prop_zero(fdt, "/memory@40000000", "reg", 16);
        assert_prop_names(fdt, "/memory@200000000", NAMES("device_type", "reg"));
        assert_prop_string(fdt, "/memory@200000000", "device_type", "memory");
        assert_prop_zero(fdt, "/memory@200000000", "reg", 16);

        assert_prop_names(fdt, "/interrupt-controller@3001000",
                          NAMES("compatible", "#interrupt-cells", "#address-cells", "interrupt-controller", "reg",
                                "linux,phandle", "phandle"));
        assert_prop_bytes(fdt, "/interrupt-controller@3001000", "compatible",
                          STRS("arm,cortex-a15-gic\0arm,cortex-a9-gic"));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "#interrupt-cells", CELLS(3));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "#address-cells", CELLS(0));
        assert_prop_bytes(fdt, "/interrupt-controller@3001000", "interrupt-controller", "", 0);
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "reg",
                          CELLS(0, 0x03001000, 0, 0x1000, 0, 0x03002000, 0, 0x2000));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "linux,phandle", CELLS(65000));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "phandle", CELLS(65000));
        assert_int_equal(fdt_node_offset_by_phandle(fdt, 65000), node_at(fdt, "/interrupt-controller@3001000"));

        assert_prop_names(fdt, "/timer", NAMES("compatible", "interrupts", "interrupt-parent", "clock-frequency"));
        assert_prop_bytes(fdt, "/timer", "compatible", STRS("arm,armv8-timer"));
        assert_prop_cells(fdt, "/timer", "interrupts", CELLS(1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08));
        assert_interrupts_parent(fdt, "/timer");
        assert_prop_cells(fdt, "/timer", "clock-frequency", CELLS(62500000));

        assert_prop_names(fdt, "/hypervisor", NAMES("compatible", "reg", "interrupts", "interrupt-parent"));
        assert_prop_bytes(fdt, "/hypervisor", "compatible", STRS("xen,xen-4.17\0xen,xen"));
        assert_prop_zero(fdt, "/hypervisor", "reg", 3 * 16);
        assert_prop_cells(fdt, "/hypervisor", "interrupts", CELLS(1, 15, 0xf08));
        assert_interrupts_parent(fdt, "/hypervisor");

        assert_prop_names(fdt, "/sbsa-uart@22000000",
                          NAMES("compatible", "reg", "interrupts", "interrupt-parent", "current-speed"));
        assert_prop_bytes(fdt, "/sbsa-uart@22000000", "compatible", STRS("arm,sbsa-uart"));
        assert_prop_cells(fdt, "/sbsa-uart@22000000", "reg", CELLS(0, 0x22000000, 0, 0x1000));
        assert_prop_cells(fdt, "/sbsa-uart@22000000", "interrupts", CELLS(0, 0, 0xf04));
        assert_interrupts_parent(fdt, "/sbsa-uart@22000000");
        assert_prop_cells(fdt, "/sbsa-uart@22000000", "current-speed", CELLS(115200));
}

static void test_minimal_v3_guest(void **state) {
        struct guest_dt_params p = params_minimal(3, 1);
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        fdt = build_ok(&p);

        /* No uart; everything else is always there. */
        assert_subnodes(fdt, "/", NAMES("chosen", "cpus", "psci", "memory@40000000", "memory@200000000",
                                        "interrupt-controller@3001000", "timer", "hypervisor"));
        assert_no_node(fdt, "/sbsa-uart@22000000");
        /* No cmdline, initrd, stdout or seed: an empty /chosen. */
        assert_prop_names(fdt, "/chosen", NULL, 0);
        assert_subnodes(fdt, "/cpus", NAMES("cpu@0"));
        assert_prop_cells(fdt, "/cpus/cpu@0", "reg", CELLS(0));

        assert_prop_names(fdt, "/interrupt-controller@3001000",
                          NAMES("compatible", "#interrupt-cells", "#address-cells", "interrupt-controller", "reg",
                                "linux,phandle", "phandle"));
        assert_prop_bytes(fdt, "/interrupt-controller@3001000", "compatible", STRS("arm,gic-v3"));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "#interrupt-cells", CELLS(3));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "#address-cells", CELLS(0));
        assert_prop_bytes(fdt, "/interrupt-controller@3001000", "interrupt-controller", "", 0);
        /* The full 16 MiB of redistributors even for one vCPU. */
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "reg",
                          CELLS(0, 0x03001000, 0, 0x10000, 0, 0x03020000, 0, 0x1000000));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "linux,phandle", CELLS(65000));
        assert_prop_cells(fdt, "/interrupt-controller@3001000", "phandle", CELLS(65000));

        /* clock-frequency 0: CNTFRQ is trusted, no property. */
        assert_prop_names(fdt, "/timer", NAMES("compatible", "interrupts", "interrupt-parent"));
        assert_no_prop(fdt, "/timer", "clock-frequency");
}

static void test_empty_cmdline(void **state) {
        struct guest_dt_params p = params_minimal(2, 1);
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        p.cmdline = "";
        fdt = build_ok(&p);
        assert_no_prop(fdt, "/chosen", "bootargs");
}

/* ACPI tables for UEFI firmware: a module node under /chosen, with the
 * blob's address and size; none without them; no more than the window. */
static void test_acpi_module(void **state) {
        static const char compat[] = "xen,guest-acpi\0multiboot,module";
        struct guest_dt_params p = params_minimal(3, 4);
        void *blob = NULL;
        size_t size = 0;
        void *fdt;

        (void) state;
        fdt = build_ok(&p);
        assert_subnodes(fdt, "/chosen", NULL, 0);
        free(fdt);

        p.acpi_size = 0x1234;
        fdt = build_ok(&p);
        assert_subnodes(fdt, "/chosen", NAMES("module@20000000"));
        assert_prop_names(fdt, "/chosen/module@20000000", NAMES("compatible", "reg"));
        assert_prop_bytes(fdt, "/chosen/module@20000000", "compatible", compat, sizeof(compat));
        assert_prop_cells(fdt, "/chosen/module@20000000", "reg", CELLS(0, 0x20000000, 0, 0x1234));
        free(fdt);

        p.acpi_size = GUEST_DT_ACPI_SIZE + 1;
        assert_int_equal(guest_dt_build(&p, &blob, &size), -EINVAL);
        assert_null(blob);
}

static void test_vpl011_without_stdout(void **state) {
        struct guest_dt_params p = params_minimal(3, 1);
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        p.vpl011 = true;
        p.stdout_kind = GUEST_DT_STDOUT_PV;
        p.cmdline = "console=hvc0";
        fdt = build_ok(&p);
        /* The UART is there for ttyAMA0, but the console is the PV one. */
        assert_prop_cells(fdt, "/sbsa-uart@22000000", "reg", CELLS(0, 0x22000000, 0, 0x1000));
        assert_prop_names(fdt, "/chosen", NAMES("bootargs"));
        assert_prop_string(fdt, "/chosen", "bootargs", "console=hvc0");
}

static void test_other_version(void **state) {
        struct guest_dt_params p = params_minimal(3, 1);
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        p.xen_version_compat = "4.19";
        fdt = build_ok(&p);
        assert_prop_string(fdt, "/", "model", "XENVM-4.19");
        assert_prop_bytes(fdt, "/", "compatible", STRS("xen,xenvm-4.19\0xen,xenvm"));
        assert_prop_bytes(fdt, "/hypervisor", "compatible", STRS("xen,xen-4.19\0xen,xen"));
}

static void check_cpus(unsigned gic, unsigned n) {
        struct guest_dt_params p = params_minimal(gic, n);
        _cleanup_free_ void *fdt = NULL;
        unsigned count = 0;
        int sub;

        fdt = build_ok(&p);
        fdt_for_each_subnode(sub, fdt, node_at(fdt, "/cpus")) {
                /* Aff0 counts 0..15, then Aff1 (bits 15:8) takes the rest. */
                uint32_t want = ((count / 16) << 8) | (count % 16);
                char name[32], path[64];

                snprintf(name, sizeof(name), "cpu@%x", want);
                snprintf(path, sizeof(path), "/cpus/%s", name);
                assert_string_equal(fdt_get_name(fdt, sub, NULL), name);
                assert_prop_cells(fdt, path, "reg", &want, 1);
                assert_prop_string(fdt, path, "enable-method", "psci");
                count++;
        }
        assert_int_equal(count, n);
}

static void test_cpus(void **state) {
        _cleanup_free_ void *fdt = NULL;
        struct guest_dt_params p = params_minimal(3, 128);

        (void) state;
        check_cpus(2, 1);
        check_cpus(2, 2);
        check_cpus(2, 8);
        check_cpus(3, 1);
        check_cpus(3, 2);
        check_cpus(3, 8);
        check_cpus(3, 17);
        check_cpus(3, 128);

        /* Spelled out: vCPU 16 is Aff1 1, Aff0 0, not 0x10. */
        fdt = build_ok(&p);
        assert_prop_cells(fdt, "/cpus/cpu@f", "reg", CELLS(0xf));
        assert_prop_cells(fdt, "/cpus/cpu@100", "reg", CELLS(0x100));
        assert_prop_cells(fdt, "/cpus/cpu@101", "reg", CELLS(0x101));
        assert_prop_cells(fdt, "/cpus/cpu@70f", "reg", CELLS(0x70f));
        assert_no_node(fdt, "/cpus/cpu@10");
        assert_no_node(fdt, "/cpus/cpu@800");
}

static void test_invalid_params(void **state) {
        struct guest_dt_params p;
        void *blob = NULL;
        size_t size = 0;

        (void) state;
#define BUILD_EINVAL(expr)                                                      \
        do {                                                                    \
                p = params_full();                                              \
                expr;                                                           \
                assert_int_equal(guest_dt_build(&p, &blob, &size), -EINVAL);   \
                assert_null(blob);                                              \
        } while (0)

        BUILD_EINVAL(p.gic_version = 4);
        BUILD_EINVAL(p.gic_version = 0);
        BUILD_EINVAL(p.gic_version = 1);
        BUILD_EINVAL(p.nr_vcpus = 0);
        BUILD_EINVAL(p.nr_vcpus = 9);
        BUILD_EINVAL((p.gic_version = 3, p.nr_vcpus = 0));
        BUILD_EINVAL((p.gic_version = 3, p.nr_vcpus = 129));
        BUILD_EINVAL(p.vpl011 = false);         /* stdout vuart without the uart */
        BUILD_EINVAL(p.stdout_kind = (enum guest_dt_stdout) 7);
        BUILD_EINVAL(p.xen_version_compat = NULL);
        BUILD_EINVAL(p.xen_version_compat = "");
        BUILD_EINVAL(p.xen_version_compat = "4.17\"x");
        BUILD_EINVAL(p.xen_version_compat = "4.17-rc");
        BUILD_EINVAL(p.xen_version_compat = "4.17.0.0.0.0.000"); /* 16 chars */
        BUILD_EINVAL(p.rng_seed_len = GUEST_DT_RNG_SEED_MAX + 1);
        BUILD_EINVAL(p.rng_seed_len = 0);
        BUILD_EINVAL(p.rng_seed = NULL);        /* with a length */
#undef BUILD_EINVAL

        assert_int_equal(guest_dt_build(NULL, &blob, &size), -EINVAL);
        p = params_full();
        assert_int_equal(guest_dt_build(&p, NULL, &size), -EINVAL);
        assert_int_equal(guest_dt_build(&p, &blob, NULL), -EINVAL);
        assert_null(blob);

        /* The edges that are fine. */
        p = params_full();
        p.nr_vcpus = 8;
        free(build_ok(&p));
        p.gic_version = 3;
        p.nr_vcpus = 128;
        free(build_ok(&p));
        p.xen_version_compat = "4.17.0.0.0.0.00"; /* 15 chars */
        free(build_ok(&p));
        p.rng_seed_len = 1;
        free(build_ok(&p));
}

static void test_buffer_growth(void **state) {
        struct guest_dt_params p = params_minimal(3, 128);
        _cleanup_free_ char *cmdline = NULL;
        _cleanup_free_ void *fdt = NULL;
        unsigned cpus = 0;
        int sub;

        (void) state;
        /* 128 cpus and a 100 KB cmdline need several doublings of 4 KiB. */
        cmdline = malloc(100 * 1000 + 1);
        assert_non_null(cmdline);
        memset(cmdline, 'x', 100 * 1000);
        cmdline[100 * 1000] = '\0';
        p.cmdline = cmdline;
        fdt = build_ok(&p);
        assert_true(fdt_totalsize(fdt) > 100 * 1000);
        assert_prop_string(fdt, "/chosen", "bootargs", cmdline);
        fdt_for_each_subnode(sub, fdt, node_at(fdt, "/cpus"))
                cpus++;
        assert_int_equal(cpus, 128);
        assert_prop_names(fdt, "/hypervisor", NAMES("compatible", "reg", "interrupts", "interrupt-parent"));
}

static void test_too_big(void **state) {
        struct guest_dt_params p = params_minimal(2, 1);
        _cleanup_free_ char *cmdline = NULL;
        void *blob = NULL;
        size_t size = 0;

        (void) state;
        cmdline = malloc(GUEST_DT_SIZE_MAX + 1);
        assert_non_null(cmdline);
        memset(cmdline, 'x', GUEST_DT_SIZE_MAX);
        cmdline[GUEST_DT_SIZE_MAX] = '\0';
        p.cmdline = cmdline;
        assert_int_equal(guest_dt_build(&p, &blob, &size), -E2BIG);
        assert_null(blob);
}

/* --- finalise --- */

static void *finalise_ok(const struct guest_dt_params *p, const struct guest_dt_layout *l) {
        void *fdt = build_ok(p);
        uint32_t before = fdt_totalsize(fdt);
        int r;

        r = guest_dt_finalise(fdt, l);
        if (r < 0)
                fail_msg("guest_dt_finalise: %s", guest_dt_strerror(r));
        /* Never grows: the size handed to libxenguest stays true. */
        assert_int_equal(r, before);
        assert_int_equal(fdt_totalsize(fdt), before);
        assert_int_equal(fdt_check_full(fdt, before), 0);
        return fdt;
}

static void test_finalise_512m(void **state) {
        struct guest_dt_params p = params_full();
        struct guest_dt_layout l = {
                .bank_size = { 512 * MiB, 0 },
                .has_initrd = true,
                .initrd_start = 0x48000000,
                .initrd_end = 0x48200000,
                .gpaddr_bits = 40,
        };
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        fdt = finalise_ok(&p, &l);

        assert_prop_cells(fdt, "/memory@40000000", "reg", CELLS(0, 0x40000000, 0, 0x20000000));
        /* The empty bank is gone: NOPs, invisible to a parser. */
        assert_no_node(fdt, "/memory@200000000");
        assert_subnodes(fdt, "/", NAMES("chosen", "cpus", "psci", "memory@40000000",
                                        "interrupt-controller@3001000", "timer", "hypervisor",
                                        "sbsa-uart@22000000"));
        /* Grant table; bank 0 above 512 MiB up to 4 GiB; all of bank 1. */
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000,
                                0, 0x60000000, 0, 0xa0000000,
                                0x2, 0x00000000, 0xfe, 0x00000000));
        /* Nodes after the shrunk property are intact. */
        assert_prop_cells(fdt, "/hypervisor", "interrupts", CELLS(1, 15, 0xf08));
        assert_interrupts_parent(fdt, "/hypervisor");
        assert_prop_cells(fdt, "/sbsa-uart@22000000", "current-speed", CELLS(115200));
        assert_prop_string(fdt, "/chosen", "stdout-path", "/sbsa-uart@22000000");
}

static void test_finalise_4g(void **state) {
        struct guest_dt_params p = params_minimal(3, 4);
        struct guest_dt_layout l = {
                .bank_size = { 3 * GiB, 1 * GiB },
                .gpaddr_bits = 40,
        };
        _cleanup_free_ void *fdt = NULL;

        (void) state;
        fdt = finalise_ok(&p, &l);

        assert_prop_cells(fdt, "/memory@40000000", "reg", CELLS(0, 0x40000000, 0, 0xc0000000));
        assert_prop_cells(fdt, "/memory@200000000", "reg", CELLS(0x2, 0, 0, 0x40000000));
        /* Bank 0 is full: no region there; bank 1 from 9 GiB to 1 TiB. */
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000,
                                0x2, 0x40000000, 0xfd, 0xc0000000));
        assert_prop_cells(fdt, "/timer", "interrupts", CELLS(1, 13, 0xf08, 1, 14, 0xf08, 1, 11, 0xf08));
}

static void test_extended_regions(void **state) {
        struct guest_dt_params p = params_minimal(2, 1);
        struct guest_dt_layout l = {
                .bank_size = { 512 * MiB, 0 },
                .gpaddr_bits = 32,
        };
        void *fdt;

        (void) state;
        /* 32-bit IPA: bank 0's region still ends at 4 GiB; bank 1 is
         * entirely beyond the IPA space. */
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000, 0, 0x60000000, 0, 0xa0000000));
        free(fdt);

        /* 36-bit IPA (64 GiB) clips bank 1's region. */
        l.gpaddr_bits = 36;
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000, 0, 0x60000000, 0, 0xa0000000,
                                0x2, 0, 0xe, 0));
        free(fdt);

        /* A 64-bit IPA is limited by the banks alone. */
        l.gpaddr_bits = 64;
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000, 0, 0x60000000, 0, 0xa0000000,
                                0x2, 0, 0xfe, 0));
        free(fdt);

        /* Used RAM not on a 2 MiB boundary: the region starts at the next. */
        l.gpaddr_bits = 40;
        l.bank_size[0] = 512 * MiB + 4096;
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/memory@40000000", "reg", CELLS(0, 0x40000000, 0, 0x20001000));
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000, 0, 0x60200000, 0, 0x9fe00000,
                                0x2, 0, 0xfe, 0));
        free(fdt);

        /* Less than 64 MiB left in bank 0 (32 MiB): no region there. */
        l.bank_size[0] = 3 * GiB - 32 * MiB;
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000, 0x2, 0, 0xfe, 0));
        free(fdt);

        /* Exactly 64 MiB left is kept. */
        l.bank_size[0] = 3 * GiB - 64 * MiB;
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/hypervisor", "reg",
                          CELLS(0, 0x38000000, 0, 0x01000000, 0, 0xfc000000, 0, 0x04000000,
                                0x2, 0, 0xfe, 0));
        free(fdt);

        /* Both banks full up to a 32-bit IPA: the grant table alone. */
        l.bank_size[0] = 3 * GiB;
        l.gpaddr_bits = 32;
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/hypervisor", "reg", CELLS(0, 0x38000000, 0, 0x01000000));
        free(fdt);
}

static void test_finalise_initrd(void **state) {
        static const uint8_t start[8] = { 0, 0, 0, 0, 0x48, 0, 0, 0 };
        static const uint8_t end[8] = { 0, 0, 0, 0, 0x48, 0x12, 0x34, 0x56 };
        struct guest_dt_params p = params_full();
        struct guest_dt_layout l = {
                .bank_size = { 1 * GiB, 0 },
                .has_initrd = true,
                .initrd_start = 0x48000000,
                .initrd_end = 0x48123456,
                .gpaddr_bits = 40,
        };
        void *fdt;

        (void) state;
        fdt = finalise_ok(&p, &l);
        assert_prop_bytes(fdt, "/chosen", "linux,initrd-start", start, sizeof(start));
        assert_prop_bytes(fdt, "/chosen", "linux,initrd-end", end, sizeof(end));
        assert_prop_names(fdt, "/chosen", NAMES("bootargs", "stdout-path", "linux,initrd-start", "linux,initrd-end",
                                                "rng-seed"));
        free(fdt);

        /* Above 4 GiB the high cells matter. */
        l.initrd_start = UINT64_C(0x2000000000);
        l.initrd_end = UINT64_C(0x2000001000);
        fdt = finalise_ok(&p, &l);
        assert_prop_cells(fdt, "/chosen", "linux,initrd-start", CELLS(0x20, 0));
        assert_prop_cells(fdt, "/chosen", "linux,initrd-end", CELLS(0x20, 0x1000));
        free(fdt);

        /* The blob and the layout must agree about the initrd. */
        fdt = build_ok(&p);
        l.has_initrd = false;
        assert_int_equal(guest_dt_finalise(fdt, &l), -EINVAL);
        free(fdt);

        p.has_initrd = false;
        fdt = build_ok(&p);
        l.has_initrd = true;
        assert_int_equal(guest_dt_finalise(fdt, &l), -EINVAL);
        free(fdt);

        l.has_initrd = false;
        fdt = finalise_ok(&p, &l);
        assert_no_prop(fdt, "/chosen", "linux,initrd-start");
        assert_no_prop(fdt, "/chosen", "linux,initrd-end");
        free(fdt);
}

static void test_finalise_invalid(void **state) {
        struct guest_dt_params p = params_full();
        const struct guest_dt_layout good = {
                .bank_size = { 512 * MiB, 0 },
                .has_initrd = true,
                .initrd_start = 0x48000000,
                .initrd_end = 0x48001000,
                .gpaddr_bits = 40,
        };
        struct guest_dt_layout l;
        _cleanup_free_ void *fdt = NULL;
        uint8_t junk[256];

        (void) state;
        fdt = build_ok(&p);

#define FINALISE_EINVAL(expr)                                                   \
        do {                                                                    \
                l = good;                                                       \
                expr;                                                           \
                assert_int_equal(guest_dt_finalise(fdt, &l), -EINVAL);         \
        } while (0)

        FINALISE_EINVAL(l.gpaddr_bits = 0);
        FINALISE_EINVAL(l.gpaddr_bits = 31);
        FINALISE_EINVAL(l.gpaddr_bits = 65);
        FINALISE_EINVAL(l.bank_size[0] = 0);
        FINALISE_EINVAL(l.bank_size[0] = 3 * GiB + 4096);
        FINALISE_EINVAL(l.bank_size[0] = 512 * MiB + 1);
        FINALISE_EINVAL(l.bank_size[1] = UINT64_C(0xfe00000000) + 4096);
        FINALISE_EINVAL(l.initrd_end = l.initrd_start - 1);
#undef FINALISE_EINVAL
        assert_int_equal(guest_dt_finalise(fdt, NULL), -EINVAL);
        assert_int_equal(guest_dt_finalise(NULL, &good), -EINVAL);

        /* Rejected layouts left the blob alone. */
        assert_prop_zero(fdt, "/memory@40000000", "reg", 16);
        assert_prop_zero(fdt, "/hypervisor", "reg", 48);

        /* Not a device tree. */
        memset(junk, 0, sizeof(junk));
        assert_int_equal(guest_dt_finalise(junk, &good), -EBADMSG);

        /* A tree without our placeholders. */
        assert_int_equal(fdt_create_empty_tree(junk, sizeof(junk)), 0);
        assert_int_equal(guest_dt_finalise(junk, &good), -ENOENT);
}

static void test_totalsize_never_grows(void **state) {
        static const unsigned vcpus[] = { 1, 2, 8, 17, 128 };
        static const uint64_t ram[][2] = {
                { 64 * MiB, 0 },
                { 512 * MiB, 0 },
                { 3 * GiB, 0 },
                { 3 * GiB, 1 * GiB },
                { 3 * GiB, UINT64_C(0xfe00000000) },
        };

        (void) state;
        for (size_t i = 0; i < ELEMENTSOF(vcpus); i++)
                for (size_t j = 0; j < ELEMENTSOF(ram); j++)
                        for (int flags = 0; flags < 4; flags++) {
                                struct guest_dt_params p = params_minimal(vcpus[i] <= 8 && (flags & 1) ? 2 : 3,
                                                                          vcpus[i]);
                                struct guest_dt_layout l = {
                                        .bank_size = { ram[j][0], ram[j][1] },
                                        .has_initrd = flags & 2,
                                        .initrd_start = 0x48000000,
                                        .initrd_end = 0x49000000,
                                        .gpaddr_bits = 40,
                                };

                                p.has_initrd = flags & 2;
                                p.vpl011 = flags & 1;
                                p.cmdline = flags & 1 ? "console=ttyAMA0" : NULL;
                                /* finalise_ok checks size, return and structure. */
                                free(finalise_ok(&p, &l));
                        }
}

static void test_strerror(void **state) {
        (void) state;
        assert_string_equal(guest_dt_strerror(-E2BIG), "device tree does not fit in 1 MiB");
        assert_string_equal(guest_dt_strerror(-EBADMSG), "not a well-formed device-tree blob");
        assert_non_null(guest_dt_strerror(-EPIPE));
        assert_non_null(guest_dt_strerror(0));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_full_v2_guest),
                cmocka_unit_test(test_minimal_v3_guest),
                cmocka_unit_test(test_empty_cmdline),
                cmocka_unit_test(test_acpi_module),
                cmocka_unit_test(test_vpl011_without_stdout),
                cmocka_unit_test(test_other_version),
                cmocka_unit_test(test_cpus),
                cmocka_unit_test(test_invalid_params),
                cmocka_unit_test(test_buffer_growth),
                cmocka_unit_test(test_too_big),
                cmocka_unit_test(test_finalise_512m),
                cmocka_unit_test(test_finalise_4g),
                cmocka_unit_test(test_extended_regions),
                cmocka_unit_test(test_finalise_initrd),
                cmocka_unit_test(test_finalise_invalid),
                cmocka_unit_test(test_totalsize_never_grows),
                cmocka_unit_test(test_strerror),
        };

        for (size_t i = 0; i < sizeof(seed); i++)
                seed[i] = (uint8_t) (i * 7 + 3);
        return cmocka_run_group_tests(tests, NULL, NULL);
}
