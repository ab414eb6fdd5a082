/* fuzz-console-ring.c: libFuzzer target for the console ring arithmetic: the
 * input plays a hostile guest that sets the indexes and the bytes between the
 * backend's calls. Checks that nothing is touched outside the ring (the ring
 * is a heap block of exactly its size, so ASan sees any overrun) and that each
 * call either does its documented job or reports -EPROTO and changes nothing.
 * Not built by meson; build and run it with agent/tests/fuzz console-ring
 * SECONDS, or:
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE -Iagent \
 *         agent/tests/fuzz-console-ring.c agent/console-ring.c -o fuzz-console-ring
 *   ./fuzz-console-ring -max_total_time=60 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "console-ring.h"
#include "fuzz.h"

static uint32_t take32(const uint8_t **p, size_t *left) {
        uint32_t v = 0;

        for (int i = 0; i < 4 && *left > 0; i++, (*p)++, (*left)--)
                v = v << 8 | **p;
        return v;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        struct console_ring *r = malloc(sizeof(*r));
        uint8_t buf[CONSOLE_RING_OUT_SIZE + 64], in_before[CONSOLE_RING_IN_SIZE];

        if (!r)
                return 0;
        memset(r, 0, sizeof(*r));
        while (size > 0) {
                uint8_t op = *data++;
                uint32_t arg, cons, prod;
                ssize_t n;
                int k;

                size--;
                arg = take32(&data, &size);
                switch (op % 8) {
                case 0: /* the guest sets out's indexes */
                        r->out_cons = arg;
                        r->out_prod = take32(&data, &size);
                        break;
                case 1: /* the guest sets in's indexes */
                        r->in_cons = arg;
                        r->in_prod = take32(&data, &size);
                        break;
                case 2: /* the guest writes a byte anywhere in its arrays */
                        r->out[arg % CONSOLE_RING_OUT_SIZE] = (uint8_t) (arg >> 16);
                        r->in[arg % CONSOLE_RING_IN_SIZE] = (uint8_t) (arg >> 24);
                        break;
                case 3: /* the guest produces honestly */
                        r->out_prod += arg % (CONSOLE_RING_OUT_SIZE + 1);
                        break;
                case 4:
                case 5: {
                        size_t max = arg % sizeof(buf);

                        cons = r->out_cons;
                        prod = r->out_prod;
                        n = op % 8 == 4 ? console_ring_read_out(r, buf, max) : console_ring_peek_out(r, buf, max);
                        if (n < 0) {
                                CHECK(n == -EPROTO);
                                CHECK(prod - cons > CONSOLE_RING_OUT_SIZE);
                                CHECK(r->out_cons == cons && r->out_prod == prod);
                                break;
                        }
                        CHECK(prod - cons <= CONSOLE_RING_OUT_SIZE);
                        CHECK((size_t) n <= max && (uint32_t) n <= prod - cons);
                        CHECK((size_t) n == max || (uint32_t) n == prod - cons);
                        for (ssize_t i = 0; i < n; i++)
                                CHECK(buf[i] == r->out[(cons + (uint32_t) i) % CONSOLE_RING_OUT_SIZE]);
                        CHECK(r->out_cons == (op % 8 == 4 ? cons + (uint32_t) n : cons));
                        break;
                }
                case 6:
                        cons = r->out_cons;
                        prod = r->out_prod;
                        k = console_ring_consume_out(r, arg % (CONSOLE_RING_OUT_SIZE + 2));
                        if (k == 0)
                                CHECK(r->out_cons == cons + arg % (CONSOLE_RING_OUT_SIZE + 2));
                        else
                                CHECK(r->out_cons == cons && (k == -EPROTO || k == -EINVAL));
                        break;
                case 7: {
                        size_t len = arg % (CONSOLE_RING_IN_SIZE + 64);

                        memset(buf, (int) (arg >> 16), sizeof(buf));
                        cons = r->in_cons;
                        prod = r->in_prod;
                        memcpy(in_before, r->in, sizeof(in_before));
                        n = console_ring_write_in(r, buf, len);
                        if (n < 0) {
                                CHECK(n == -EPROTO && prod - cons > CONSOLE_RING_IN_SIZE);
                                CHECK(r->in_prod == prod && memcmp(in_before, r->in, sizeof(in_before)) == 0);
                                break;
                        }
                        CHECK(prod - cons <= CONSOLE_RING_IN_SIZE);
                        CHECK((size_t) n <= len && (uint32_t) n <= CONSOLE_RING_IN_SIZE - (prod - cons));
                        CHECK((size_t) n == len || (uint32_t) n == CONSOLE_RING_IN_SIZE - (prod - cons));
                        CHECK(r->in_prod == prod + (uint32_t) n);
                        for (ssize_t i = 0; i < n; i++)
                                CHECK(r->in[(prod + (uint32_t) i) % CONSOLE_RING_IN_SIZE] == buf[0]);
                        break;
                }
                }
        }
        free(r);
        return 0;
}
