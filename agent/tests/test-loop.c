/* test-loop.c: binding a file to a loop device, read-write and read-only,
 * and the binding ending by itself once the last holder closes it. Needs
 * root and the loop driver with device nodes (a plain host or VM); where
 * there are none (a container), the tests are skipped. */
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
#include <sys/sysmacros.h>
#include <unistd.h>

#include "loop.h"
#include "test-util.h"

struct fixture {
        char *dir;
        char path[PATH_MAX];
};

static int setup(void **state) {
        struct fixture *f = calloc(1, sizeof(*f));
        int fd;

        assert_non_null(f);
        f->dir = test_mkdtemp();
        assert_non_null(f->dir);
        snprintf(f->path, sizeof(f->path), "%s/disk.img", f->dir);
        fd = open(f->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        assert_int_equal(ftruncate(fd, 1 << 20), 0);
        close(fd);
        *state = f;
        return 0;
}

static int teardown(void **state) {
        struct fixture *f = *state;

        test_rm_rf(f->dir);
        free(f->dir);
        free(f);
        return 0;
}

/* Whether /sys says loop device n is bound to a file. */
static bool bound(unsigned n) {
        char p[64];

        snprintf(p, sizeof(p), "/sys/block/loop%u/loop/backing_file", n);
        return access(p, F_OK) == 0;
}

/* A 0/1 attribute of loop device n under /sys/block/loopN/. */
static bool flag(unsigned n, const char *name) {
        char p[80], v[8] = "";
        FILE *fp;

        snprintf(p, sizeof(p), "/sys/block/loop%u/%s", n, name);
        fp = fopen(p, "re");
        if (!fp)
                return false;
        if (!fgets(v, sizeof(v), fp))
                v[0] = '\0';
        fclose(fp);
        return v[0] == '1';
}

/* Attaches f's file, or skips the test where loop devices cannot be had. */
static struct loop_device attach_or_skip(struct fixture *f, int flags, bool readonly) {
        struct loop_device l = LOOP_DEVICE_INIT;
        int fd = open(f->path, flags | O_CLOEXEC);
        int r;

        assert_true(fd >= 0);
        r = loop_attach(fd, readonly, f->path, &l);
        close(fd);      /* the loop device holds its own reference */
        if (r == -ENOENT || r == -EACCES || r == -EPERM || r == -ENXIO || r == -ENODEV) {
                print_message("no loop devices here (%s): skipped\n", strerror(-r));
                skip();
        }
        assert_int_equal(r, 0);
        return l;
}

static void test_read_write(void **state) {
        struct fixture *f = *state;
        struct loop_device l = attach_or_skip(f, O_RDWR, false);
        struct stat st;
        char node[32];

        assert_true(l.fd >= 0);
        assert_int_equal(l.major, 7);
        snprintf(node, sizeof(node), "/dev/loop%u", l.minor);
        assert_string_equal(l.node, node);
        assert_int_equal(stat(l.node, &st), 0);
        assert_true(S_ISBLK(st.st_mode));
        assert_int_equal(major(st.st_rdev), l.major);
        assert_int_equal(minor(st.st_rdev), l.minor);
        assert_true(bound(l.minor));
        assert_true(flag(l.minor, "loop/autoclear"));
        assert_false(flag(l.minor, "ro"));
        /* Writes through the device reach the file. */
        assert_int_equal(pwrite(l.fd, "xvmd", 4, 4096), 4);
        assert_int_equal(fsync(l.fd), 0);

        /* The last close ends the binding (the kernel clears it as the
         * device is released; give it a moment). */
        unsigned n = l.minor;
        loop_release(&l);
        assert_int_equal(l.fd, -1);
        for (int i = 0; i < 100 && bound(n); i++)
                usleep(10000);
        assert_false(bound(n));
        loop_release(&l);       /* twice is harmless */
        {
                char buf[4];
                int fd = open(f->path, O_RDONLY | O_CLOEXEC);

                assert_int_equal(pread(fd, buf, 4, 4096), 4);
                assert_memory_equal(buf, "xvmd", 4);
                close(fd);
        }
}

static void test_read_only(void **state) {
        struct fixture *f = *state;
        struct loop_device a = attach_or_skip(f, O_RDONLY, false);     /* a read-only fd makes it read-only */
        struct loop_device b = attach_or_skip(f, O_RDWR, true);        /* so does asking */

        assert_int_not_equal(a.minor, b.minor);
        assert_true(flag(a.minor, "ro"));
        assert_true(flag(b.minor, "ro"));
        assert_int_equal(pwrite(b.fd, "x", 1, 0), -1);
        loop_release(&a);
        loop_release(&b);
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
                cmocka_unit_test_setup_teardown(test_read_only, setup, teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
