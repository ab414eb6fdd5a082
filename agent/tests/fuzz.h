/* fuzz.h: what every libFuzzer target of the agent (fuzz-*.c, built by
 * agent/tests/fuzz) shares: the entry point libFuzzer calls, and CHECK(),
 * which turns a broken invariant into a crash libFuzzer keeps as an input. */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(x)                        \
        do {                            \
                if (!(x))               \
                        abort();        \
        } while (0)
