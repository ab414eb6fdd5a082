/* test-guest-acpi-iasl.c: the guest ACPI tables held against ACPICA's iasl
 * (Debian's acpica-tools), a second opinion that owes nothing to our
 * reader: each table of a few configs is written to a file, disassembled
 * with `iasl -d` (which must succeed and flag nothing) and compiled back
 * with `iasl -oa`, which must give our bytes again (all but the checksum
 * and the compiler's ID and revision, which iasl writes as its own). The
 * RSDP is left out: iasl disassembles it only inside an acpidump. Exits 77
 * (meson's "skipped") when iasl is not on the PATH. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "acpi-reader.h"
#include "guest-acpi.h"
#include "macro.h"
#include "test-util.h"

#define BASE UINT64_C(0x20000000)
#define IASL_EXIT_SKIP 77

static bool on_path(const char *prog) {
        const char *path = getenv("PATH");
        char *copy, *dir, *save = NULL;
        bool found = false;

        if (!path)
                return false;
        copy = strdup(path);
        if (!copy)
                return false;
        for (dir = strtok_r(copy, ":", &save); dir && !found; dir = strtok_r(NULL, ":", &save)) {
                char *p;

                if (asprintf(&p, "%s/%s", *dir ? dir : ".", prog) < 0)
                        break;
                found = access(p, X_OK) == 0;
                free(p);
        }
        free(copy);
        return found;
}

/* Runs iasl in dir with its output in dir/log; returns its exit status. */
static int run_iasl(const char *dir, const char *const *args, size_t n) {
        char *argv[8];
        pid_t pid;
        int status;

        assert_true(n + 2 <= ELEMENTSOF(argv));
        pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
                int fd;

                /* execvp() wants them writable: copies, in the child. */
                argv[0] = strdup("iasl");
                for (size_t i = 0; i < n; i++)
                        argv[1 + i] = strdup(args[i]);
                argv[1 + n] = NULL;
                if (chdir(dir) < 0)
                        _exit(126);
                fd = open("log", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
                        _exit(126);
                execvp("iasl", argv);
                _exit(127);
        }
        assert_int_equal(waitpid(pid, &status, 0), pid);
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *slurp(const char *dir, const char *name, size_t *len) {
        char *path, *data;
        FILE *f;
        long n;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "rb");
        if (!f)
                fail_msg("iasl wrote no %s", path);
        free(path);
        assert_int_equal(fseek(f, 0, SEEK_END), 0);
        n = ftell(f);
        assert_true(n >= 0);
        rewind(f);
        data = malloc((size_t) n + 1);
        assert_non_null(data);
        assert_int_equal(fread(data, 1, (size_t) n, f), (size_t) n);
        data[n] = '\0';
        fclose(f);
        *len = (size_t) n;
        return data;
}

static void spill(const char *dir, const char *name, const void *p, size_t n) {
        char *path;
        FILE *f;

        assert_true(asprintf(&path, "%s/%s", dir, name) > 0);
        f = fopen(path, "wb");
        assert_non_null(f);
        assert_int_equal(fwrite(p, 1, n, f), n);
        assert_int_equal(fclose(f), 0);
        free(path);
}

static void check_table(const char *dir, const struct acpi_table *t) {
        char dat[16], dsl[16], aml[16];
        size_t len;
        char *text, *log;
        uint8_t *back;

        snprintf(dat, sizeof(dat), "%s.dat", t->sig);
        snprintf(dsl, sizeof(dsl), "%s.dsl", t->sig);
        snprintf(aml, sizeof(aml), "%s.aml", t->sig);
        spill(dir, dat, t->p, t->len);

        if (run_iasl(dir, (const char *const[]) { "-d", dat }, 2) != 0) {
                log = slurp(dir, "log", &len);
                fail_msg("iasl -d %s failed:\n%s", dat, log);
        }
        /* iasl marks what it could not make sense of with "****". */
        text = slurp(dir, dsl, &len);
        if (strstr(text, "****"))
                fail_msg("iasl -d %s flags a problem:\n%s", dat, text);
        free(text);

        if (run_iasl(dir, (const char *const[]) { "-oa", "-vs", dsl }, 3) != 0) {
                log = slurp(dir, "log", &len);
                fail_msg("iasl %s failed:\n%s", dsl, log);
        }
        log = slurp(dir, "log", &len);
        if (!strstr(log, "0 Errors, 0 Warnings, 0 Remarks"))
                fail_msg("iasl %s:\n%s", dsl, log);
        free(log);

        back = (uint8_t *) slurp(dir, aml, &len);
        assert_int_equal(len, t->len);
        for (size_t i = 0; i < len; i++) {
                /* Byte 9 is the checksum; 28..35 the compiler's ID and revision. */
                if (i == 9 || (i >= 28 && i < 36))
                        continue;
                if (back[i] != t->p[i])
                        fail_msg("%s: iasl's round trip differs at byte %zu (0x%02x, ours 0x%02x)", t->sig, i,
                                 back[i], t->p[i]);
        }
        free(back);
}

static void check_config(unsigned gic, unsigned n, bool uart) {
        struct guest_acpi_config cfg = { .nr_vcpus = n, .gic_version = gic, .vpl011 = uart };
        uint8_t *buf = malloc(GUEST_ACPI_SIZE_MAX);
        struct acpi_blob *b = malloc(sizeof(*b));
        char *dir = test_mkdtemp();
        const char *e;
        size_t len;

        assert_non_null(buf);
        assert_non_null(b);
        assert_non_null(dir);
        assert_int_equal(guest_acpi_build(&cfg, buf, GUEST_ACPI_SIZE_MAX, &len), 0);
        e = acpi_read_blob(b, buf, len, BASE);
        if (e)
                fail_msg("%s", e);
        check_table(dir, &b->xsdt);
        for (size_t i = 0; i < b->n_entries; i++)
                check_table(dir, &b->entries[i]);
        check_table(dir, &b->dsdt);
        test_rm_rf(dir);
        free(dir);
        free(b);
        free(buf);
}

static void test_gicv2_one_vcpu_uart(void **state) {
        (void) state;
        check_config(2, 1, true);
}

static void test_gicv2_eight_vcpus(void **state) {
        (void) state;
        check_config(2, 8, false);
}

static void test_gicv3_seventeen_vcpus_uart(void **state) {
        (void) state;
        check_config(3, 17, true);
}

static void test_gicv3_max_vcpus_uart(void **state) {
        (void) state;
        check_config(3, 128, true);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_gicv2_one_vcpu_uart),
                cmocka_unit_test(test_gicv2_eight_vcpus),
                cmocka_unit_test(test_gicv3_seventeen_vcpus_uart),
                cmocka_unit_test(test_gicv3_max_vcpus_uart),
        };

        if (!on_path("iasl")) {
                fprintf(stderr, "iasl not found (apt-get install acpica-tools): skipped\n");
                return IASL_EXIT_SKIP;
        }
        return cmocka_run_group_tests(tests, NULL, NULL);
}
