/* gzip.h: owns nothing; inflates a gzip buffer into memory, with a cap on the
 * output so a small hostile input cannot make a huge allocation. */
#pragma once

#include <stddef.h>

/* *ret is malloc'd, not NUL-terminated. Returns 0, -EFBIG past max bytes of
 * output, -EBADMSG for input that is not a complete gzip stream, -ENOMEM. */
int gzip_inflate(const void *in, size_t in_size, size_t max, char **ret, size_t *ret_size);
