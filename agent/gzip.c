/* gzip.c: inflates a gzip buffer into memory (see gzip.h). */
#include <errno.h>
#include <stdint.h>
#include <zlib.h>

#include "gzip.h"
#include "macro.h"

int gzip_inflate(const void *in, size_t in_size, size_t max, char **ret, size_t *ret_size) {
        _cleanup_free_ char *out = NULL;
        size_t allocated = 0;
        z_stream z = { 0 };
        int zr;

        if (in_size > UINT32_MAX)
                return -EFBIG;
        if (inflateInit2(&z, MAX_WBITS + 16) != Z_OK) /* +16: gzip header and trailer, nothing else */
                return -ENOMEM;

        z.next_in = (Bytef *) (uintptr_t) in; /* zlib's API is not const-correct */
        z.avail_in = (uInt) in_size;
        do {
                if (z.total_out == allocated) {
                        size_t want = allocated ? allocated * 2 : 64 * 1024;
                        char *p;

                        if (allocated >= max + 1) {
                                zr = Z_BUF_ERROR;
                                break;
                        }
                        if (want > max + 1)
                                want = max + 1; /* one past max tells "too big" from "exactly max" */
                        p = realloc(out, want);
                        if (!p) {
                                zr = Z_MEM_ERROR;
                                break;
                        }
                        out = p;
                        allocated = want;
                }
                z.next_out = (Bytef *) out + z.total_out;
                z.avail_out = (uInt) (allocated - z.total_out);
                zr = inflate(&z, Z_NO_FLUSH);
        } while (zr == Z_OK);

        *ret_size = z.total_out;
        inflateEnd(&z);
        if (zr == Z_MEM_ERROR)
                return -ENOMEM;
        if (*ret_size > max)
                return -EFBIG;
        /* Z_BUF_ERROR here means the input ended before the stream did. */
        if (zr != Z_STREAM_END)
                return -EBADMSG;
        *ret = TAKE_PTR(out);
        return 0;
}
