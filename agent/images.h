/* images.h: owns the image files in STATE/images/ (guest kernels, ramdisks,
 * disks), one regular file per name: uploads, streamed to an unnamed
 * temporary file and hashed (SHA-256) on the way, appear under their name
 * only once complete (a failed or cut upload leaves nothing behind, and an
 * image being replaced stays whole until then); listing and removal. Which
 * VMs use an image is the caller's business (vms.c). */
#pragma once

#include <jansson.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"
#include "vm-spec.h"

/* An upload must leave this much free on the file system (on the board,
 * images live in dom0's memory); IMAGE_SIZE_MAX is in vm-spec.h. */
#define IMAGE_FREE_RESERVE (64ULL * 1024 * 1024)
#define IMAGE_SHA256_HEX 64

struct image_upload;

/* Starts an upload of name into the folder images_fd. announced is the
 * Content-Length (UINT64_MAX if none); expect_sha256 (64 hex digits, or NULL)
 * makes image_upload_finish() refuse a body with another digest. Returns 0,
 * or a negative errno with *err filled (a bad name or digest, too large, no
 * room). */
int image_upload_begin(int images_fd, const char *name, uint64_t announced, const char *expect_sha256,
                       struct image_upload **ret, struct error *err);
/* Appends body bytes. Once it has failed, it keeps failing with the same
 * error (too large past IMAGE_SIZE_MAX, no room when the disk is full). */
int image_upload_write(struct image_upload *u, const void *data, size_t n, struct error *err);
/* Checks the digest, syncs and puts the file in place under its name
 * (replacing any earlier image of that name). *replaced tells whether one
 * existed. *size and sha256 (IMAGE_SHA256_HEX + 1 bytes) describe it. */
int image_upload_finish(struct image_upload *u, bool *replaced, uint64_t *size, char *sha256,
                        struct error *err);
const char *image_upload_name(const struct image_upload *u);
struct image_upload *image_upload_free(struct image_upload *u);
DEFINE_CLEANUP_FUNC(struct image_upload, image_upload_free);

/* Whether name is an image (a regular file) in images_fd. */
bool image_exists(int images_fd, const char *name);
/* Removes an image and what is recorded about it; -ENOENT if there is none. */
int image_remove(int images_fd, const char *name);
/* {"name","size","sha256"} for one image; sha256 is null when the image was
 * put there by other means than an upload (and no digest was recorded). */
json_t *image_to_json(int images_fd, const char *name);
