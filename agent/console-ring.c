/* console-ring.c: the backend's side of a Xen console ring (see console-ring.h).
 *
 * Ordering, as Xen's console protocol needs it (tools/console/daemon/io.c uses
 * xen_mb()/xen_wmb() at the same places):
 *   out: load out_cons, out_prod; full barrier; read the bytes; full barrier;
 *        store out_cons. The first barrier keeps the byte loads after the
 *        out_prod load that published them, the second keeps them before the
 *        out_cons store that lets the guest overwrite them.
 *   in:  load in_cons, in_prod; full barrier; write the bytes; release
 *        barrier; store in_prod. The first barrier keeps our byte stores
 *        after the in_cons load that freed the space (a load-to-store order,
 *        which needs a full barrier), the second publishes them before
 *        in_prod.
 * On aarch64 both fences are "dmb ish", which covers every CPU the guest or
 * Xen can run on. The byte arrays are volatile so the compiler neither
 * re-reads nor merges accesses the other side can race with. */
#include <errno.h>

#include "console-ring.h"

#define OUT_MASK (CONSOLE_RING_OUT_SIZE - 1)
#define IN_MASK (CONSOLE_RING_IN_SIZE - 1)

static inline uint32_t load_idx(const volatile uint32_t *p) {
        return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static inline void store_idx(volatile uint32_t *p, uint32_t v) {
        __atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static inline void full_barrier(void) {
        __atomic_thread_fence(__ATOMIC_SEQ_CST);
}

static inline void write_barrier(void) {
        __atomic_thread_fence(__ATOMIC_RELEASE);
}

/* One consistent reading of out's indexes. */
static int out_snapshot(const volatile struct console_ring *r, uint32_t *ret_cons, uint32_t *ret_queued) {
        uint32_t cons = load_idx(&r->out_cons);
        uint32_t prod = load_idx(&r->out_prod);
        uint32_t queued = prod - cons;

        if (queued > CONSOLE_RING_OUT_SIZE)
                return -EPROTO;
        *ret_cons = cons;
        *ret_queued = queued;
        return 0;
}

static int in_snapshot(const volatile struct console_ring *r, uint32_t *ret_prod, uint32_t *ret_space) {
        uint32_t cons = load_idx(&r->in_cons);
        uint32_t prod = load_idx(&r->in_prod);
        uint32_t queued = prod - cons;

        if (queued > CONSOLE_RING_IN_SIZE)
                return -EPROTO;
        *ret_prod = prod;
        *ret_space = CONSOLE_RING_IN_SIZE - queued;
        return 0;
}

/* Copies n (<= CONSOLE_RING_OUT_SIZE) bytes starting at index cons. */
static void out_copy(const volatile struct console_ring *r, uint32_t cons, uint8_t *buf, uint32_t n) {
        for (uint32_t i = 0; i < n; i++)
                buf[i] = r->out[(cons + i) & OUT_MASK];
}

int console_ring_out_pending(const volatile struct console_ring *r) {
        uint32_t cons, queued;
        int k;

        k = out_snapshot(r, &cons, &queued);
        if (k < 0)
                return k;
        return (int) queued;
}

int console_ring_in_space(const volatile struct console_ring *r) {
        uint32_t prod, space;
        int k;

        k = in_snapshot(r, &prod, &space);
        if (k < 0)
                return k;
        return (int) space;
}

/* Copies up to max queued bytes of out, reading each index once; *ret_cons
 * is the out_cons the copy started at. Shared by peek and read. */
static ssize_t out_take(const volatile struct console_ring *r, void *buf, size_t max, uint32_t *ret_cons) {
        uint32_t queued, n;
        int k;

        k = out_snapshot(r, ret_cons, &queued);
        if (k < 0)
                return k;
        n = max < queued ? (uint32_t) max : queued;
        if (n == 0)
                return 0;
        full_barrier();
        out_copy(r, *ret_cons, buf, n);
        return (ssize_t) n;
}

ssize_t console_ring_peek_out(const volatile struct console_ring *r, void *buf, size_t max) {
        uint32_t cons;

        return out_take(r, buf, max, &cons);
}

int console_ring_consume_out(volatile struct console_ring *r, size_t n) {
        uint32_t cons, queued;
        int k;

        k = out_snapshot(r, &cons, &queued);
        if (k < 0)
                return k;
        if (n > queued)
                return -EINVAL;
        if (n == 0)
                return 0;
        full_barrier(); /* the caller's reads of the bytes come before the guest may reuse them */
        store_idx(&r->out_cons, cons + (uint32_t) n);
        return 0;
}

ssize_t console_ring_read_out(volatile struct console_ring *r, void *buf, size_t max) {
        uint32_t cons;
        ssize_t n = out_take(r, buf, max, &cons);

        if (n <= 0)
                return n;
        full_barrier();
        store_idx(&r->out_cons, cons + (uint32_t) n);
        return n;
}

int64_t console_ring_skip_logged(volatile struct console_ring *r, uint32_t cons_then, uint64_t logged) {
        uint32_t cons, queued, done, rest;
        int k;

        k = out_snapshot(r, &cons, &queued);
        if (k < 0)
                return k;
        done = cons - cons_then;
        if (logged > UINT32_MAX || done > logged)
                return -EPROTO;
        rest = (uint32_t) logged - done;
        if (rest > queued)
                return -EPROTO;
        if (rest == 0)
                return 0;
        full_barrier();
        store_idx(&r->out_cons, cons + rest);
        return rest;
}

ssize_t console_ring_write_in(volatile struct console_ring *r, const void *data, size_t len) {
        const uint8_t *p = data;
        uint32_t prod, space, n;
        int k;

        k = in_snapshot(r, &prod, &space);
        if (k < 0)
                return k;
        n = len < space ? (uint32_t) len : space;
        if (n == 0)
                return 0;
        full_barrier();
        for (uint32_t i = 0; i < n; i++)
                r->in[(prod + i) & IN_MASK] = p[i];
        write_barrier();
        store_idx(&r->in_prod, prod + n);
        return (ssize_t) n;
}
