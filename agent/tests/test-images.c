/* test-images.c: the image store in a temp directory: an upload appears only
 * when finished and with the right digest, a failed or abandoned one leaves
 * nothing, replacing keeps the old file whole until the new one is in, and
 * names and sizes are checked before a byte is written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api.h"
#include "images.h"
#include "test-util.h"

/* SHA-256 of "hello\n" and of "" */
#define HELLO_SHA "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
#define EMPTY_SHA "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* The folder's entries, sorted, joined by spaces. */
static void listing(struct test_dir *f, char *buf, size_t size) {
        struct dirent **list;
        int n = scandir(f->tmp, &list, NULL, alphasort);

        assert_true(n >= 0);
        buf[0] = '\0';
        for (int i = 0; i < n; i++) {
                if (strcmp(list[i]->d_name, ".") != 0 && strcmp(list[i]->d_name, "..") != 0) {
                        size_t len = strlen(buf);

                        snprintf(buf + len, size - len, "%s%s", len ? " " : "", list[i]->d_name);
                }
                free(list[i]);
        }
        free(list);
}

static void upload(struct test_dir *f, const char *name, const char *text, bool expect_replaced) {
        struct image_upload *u = NULL;
        struct error err = { 0 };
        char sha[IMAGE_SHA256_HEX + 1];
        uint64_t size;
        bool replaced;

        assert_int_equal(image_upload_begin(f->dfd, name, strlen(text), NULL, &u, &err), 0);
        assert_int_equal(image_upload_write(u, text, strlen(text), &err), 0);
        assert_int_equal(image_upload_finish(u, &replaced, &size, sha, &err), 0);
        assert_int_equal(replaced, expect_replaced);
        assert_int_equal(size, strlen(text));
        image_upload_free(u);
}

static void test_upload_appears_when_finished(void **state) {
        struct test_dir *f = *state;
        struct image_upload *u = NULL;
        struct error err = { 0 };
        char sha[IMAGE_SHA256_HEX + 1], names[256];
        uint64_t size;
        bool replaced;
        json_t *j;

        assert_int_equal(image_upload_begin(f->dfd, "kernel", UINT64_MAX, HELLO_SHA, &u, &err), 0);
        assert_int_equal(image_upload_write(u, "hel", 3, &err), 0);
        assert_int_equal(image_upload_write(u, "lo\n", 3, &err), 0);
        /* Nothing has a name yet. */
        listing(f, names, sizeof(names));
        assert_string_equal(names, "");
        assert_false(image_exists(f->dfd, "kernel"));

        assert_int_equal(image_upload_finish(u, &replaced, &size, sha, &err), 0);
        image_upload_free(u);
        assert_false(replaced);
        assert_int_equal(size, 6);
        assert_string_equal(sha, HELLO_SHA);
        listing(f, names, sizeof(names));
        assert_string_equal(names, ".kernel.sha256 kernel");

        j = image_to_json(f->dfd, "kernel");
        assert_non_null(j);
        assert_int_equal(json_integer_value(json_object_get(j, "size")), 6);
        assert_string_equal(json_string_value(json_object_get(j, "sha256")), HELLO_SHA);
        json_decref(j);
}

static void test_empty_image(void **state) {
        struct test_dir *f = *state;
        struct image_upload *u = NULL;
        struct error err = { 0 };
        char sha[IMAGE_SHA256_HEX + 1];
        uint64_t size;
        bool replaced;

        assert_int_equal(image_upload_begin(f->dfd, "empty", 0, NULL, &u, &err), 0);
        assert_int_equal(image_upload_finish(u, &replaced, &size, sha, &err), 0);
        image_upload_free(u);
        assert_int_equal(size, 0);
        assert_string_equal(sha, EMPTY_SHA);
}

static void test_abandoned_upload_leaves_nothing(void **state) {
        struct test_dir *f = *state;
        struct image_upload *u = NULL;
        struct error err = { 0 };
        char names[256];

        upload(f, "disk", "old contents", false);
        assert_int_equal(image_upload_begin(f->dfd, "disk", UINT64_MAX, NULL, &u, &err), 0);
        assert_int_equal(image_upload_write(u, "new", 3, &err), 0);
        image_upload_free(u); /* the client went away */
        listing(f, names, sizeof(names));
        assert_string_equal(names, ".disk.sha256 disk");
        {
                json_t *j = image_to_json(f->dfd, "disk");

                assert_int_equal(json_integer_value(json_object_get(j, "size")), strlen("old contents"));
                json_decref(j);
        }
}

static void test_digest_mismatch_stores_nothing(void **state) {
        struct test_dir *f = *state;
        struct image_upload *u = NULL;
        struct error err = { 0 };
        char sha[IMAGE_SHA256_HEX + 1], names[256];
        uint64_t size;
        bool replaced;

        upload(f, "k", "first\n", false);
        assert_int_equal(image_upload_begin(f->dfd, "k", UINT64_MAX, EMPTY_SHA, &u, &err), 0);
        assert_int_equal(image_upload_write(u, "hello\n", 6, &err), 0);
        assert_true(image_upload_finish(u, &replaced, &size, sha, &err) < 0);
        image_upload_free(u);
        assert_int_equal(api_error_status(err.code), 422);
        assert_string_equal(err.field, "sha256");
        assert_non_null(strstr(err.message, HELLO_SHA));
        listing(f, names, sizeof(names));
        assert_string_equal(names, ".k.sha256 k");
}

static void test_replace(void **state) {
        struct test_dir *f = *state;
        char names[256];
        json_t *j;

        upload(f, "k", "one", false);
        upload(f, "k", "hello\n", true);
        listing(f, names, sizeof(names));
        assert_string_equal(names, ".k.sha256 k");
        j = image_to_json(f->dfd, "k");
        assert_string_equal(json_string_value(json_object_get(j, "sha256")), HELLO_SHA);
        json_decref(j);
}

static void test_refused_before_writing(void **state) {
        struct test_dir *f = *state;
        static const char *bad_names[] = { "", ".", "..", ".hidden", "-x", "a/b", "../etc", "a b", "é",
                                           "01234567890123456789012345678901234567890123456789012345678901234" };
        struct image_upload *u = NULL;
        struct error err = { 0 };
        char names[256];

        for (size_t i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
                err = (struct error) { 0 };
                assert_true(image_upload_begin(f->dfd, bad_names[i], 1, NULL, &u, &err) < 0);
                assert_int_equal(api_error_status(err.code), 400);
                assert_string_equal(err.field, "name");
        }
        err = (struct error) { 0 };
        assert_true(image_upload_begin(f->dfd, "big", IMAGE_SIZE_MAX + 1, NULL, &u, &err) < 0);
        assert_int_equal(api_error_status(err.code), 413);
        err = (struct error) { 0 };
        assert_true(image_upload_begin(f->dfd, "x", 1, "ABC", &u, &err) < 0);
        assert_int_equal(api_error_status(err.code), 400);
        assert_string_equal(err.field, "sha256");
        err = (struct error) { 0 };
        /* More than the file system has. */
        assert_true(image_upload_begin(f->dfd, "huge", IMAGE_SIZE_MAX, NULL, &u, &err) < 0 || u);
        if (u) /* this machine has room for it: fine */
                u = image_upload_free(u);
        else
                assert_int_equal(api_error_status(err.code), 507);
        listing(f, names, sizeof(names));
        assert_string_equal(names, "");
}

static void test_remove(void **state) {
        struct test_dir *f = *state;
        char names[256];

        upload(f, "k", "x", false);
        assert_int_equal(image_remove(f->dfd, "k"), 0);
        assert_int_equal(image_remove(f->dfd, "k"), -ENOENT);
        assert_int_equal(image_remove(f->dfd, "../k"), -ENOENT);
        listing(f, names, sizeof(names));
        assert_string_equal(names, "");
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test_setup_teardown(test_upload_appears_when_finished, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_empty_image, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_abandoned_upload_leaves_nothing, test_dir_setup,
                                                test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_digest_mismatch_stores_nothing, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_replace, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_refused_before_writing, test_dir_setup, test_dir_teardown),
                cmocka_unit_test_setup_teardown(test_remove, test_dir_setup, test_dir_teardown),
        };

        return cmocka_run_group_tests(tests, NULL, NULL);
}
