/* console-ring.h: owns nothing; the backend's side of a Xen console ring, the
 * shared page that both the PV console and the vpl011 (sbsa_uart) use. Pure
 * arithmetic over a pointer to that page: no mapping, no event channels.
 *
 * The other side (the guest, or Xen itself for vpl011) writes the page while
 * we read it and may write anything, so every index is read exactly once per
 * call, every byte position is masked into its array, and a ring whose
 * indexes claim more queued bytes than it can hold is reported as corrupt
 * (-EPROTO) without being touched. Not thread-safe: one backend per ring. */
#pragma once

#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CONSOLE_RING_IN_SIZE 1024u  /* backend -> guest */
#define CONSOLE_RING_OUT_SIZE 2048u /* guest -> backend */
#define CONSOLE_RING_PAGE_SIZE 4096u

/* Mirrors Xen's struct xencons_interface (xen/include/public/io/console.h).
 * Indexes run freely over all of uint32_t; the byte position is
 * index & (size - 1) and the queued count is prod - cons, both modulo 2^32.
 * out: the guest produces (out_prod), we consume (out_cons).
 * in: we produce (in_prod), the guest consumes (in_cons). */
struct console_ring {
        uint8_t in[CONSOLE_RING_IN_SIZE];
        uint8_t out[CONSOLE_RING_OUT_SIZE];
        uint32_t in_cons, in_prod;
        uint32_t out_cons, out_prod;
};

static_assert(offsetof(struct console_ring, in) == 0, "xencons_interface layout");
static_assert(offsetof(struct console_ring, out) == 1024, "xencons_interface layout");
static_assert(offsetof(struct console_ring, in_cons) == 3072, "xencons_interface layout");
static_assert(offsetof(struct console_ring, in_prod) == 3076, "xencons_interface layout");
static_assert(offsetof(struct console_ring, out_cons) == 3080, "xencons_interface layout");
static_assert(offsetof(struct console_ring, out_prod) == 3084, "xencons_interface layout");
static_assert(sizeof(struct console_ring) <= CONSOLE_RING_PAGE_SIZE, "fits in the shared page");
/* The masks below need power-of-two sizes. */
static_assert((CONSOLE_RING_IN_SIZE & (CONSOLE_RING_IN_SIZE - 1)) == 0, "power of two");
static_assert((CONSOLE_RING_OUT_SIZE & (CONSOLE_RING_OUT_SIZE - 1)) == 0, "power of two");

/* Bytes the guest has queued in out (0..CONSOLE_RING_OUT_SIZE), or -EPROTO. */
int console_ring_out_pending(const volatile struct console_ring *r);

/* Free bytes in in (0..CONSOLE_RING_IN_SIZE), or -EPROTO. */
int console_ring_in_space(const volatile struct console_ring *r);

/* Copies up to max queued bytes of out into buf and consumes them (stores
 * out_cons). Returns the count (0 when empty or max is 0), or -EPROTO with
 * nothing consumed. The caller notifies the other side after a non-zero
 * return (vpl011 stalls the guest's TX otherwise). */
ssize_t console_ring_read_out(volatile struct console_ring *r, void *buf, size_t max);

/* The same copy without consuming: for a caller that must store the bytes
 * before it lets the guest overwrite them (e.g. keep them in the ring while
 * the log's disk is full). */
ssize_t console_ring_peek_out(const volatile struct console_ring *r, void *buf, size_t max);

/* Consumes n bytes of out, normally the count a peek returned. Returns 0,
 * -EPROTO for a corrupt ring or -EINVAL if fewer than n bytes are queued. */
int console_ring_consume_out(volatile struct console_ring *r, size_t n);

/* After a restart of the backend: the log stored `logged` bytes of out since
 * the moment out_cons was cons_then, and some of them (out_cons - cons_then)
 * were consumed before the restart. Consumes the rest, so that no byte is
 * stored twice, and returns how many that was (0: none). -EPROTO with
 * nothing changed if the ring does not fit that story (a corrupt ring, or
 * indexes the guest moved): more consumed than logged, or fewer queued than
 * the log says it took. */
int64_t console_ring_skip_logged(volatile struct console_ring *r, uint32_t cons_then, uint64_t logged);

/* Copies up to len bytes of data into the free space of in and publishes
 * them (stores in_prod). Returns the count written (0 when in is full), or
 * -EPROTO with nothing written. The caller notifies after a non-zero return. */
ssize_t console_ring_write_in(volatile struct console_ring *r, const void *data, size_t len);
