/* console.c: owns one console backend (see console.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <xenevtchn.h>
#include <xenforeignmemory.h>

#include "console-log.h"
#include "console-ring.h"
#include "console.h"
#include "log.h"

/* When the log refuses bytes (disk full), try again after this long; the
 * bytes stay in the ring meanwhile and the guest waits. */
#define CONSOLE_RETRY_USEC (1000 * 1000)

/* Fairness: one dispatch of the event loop moves at most this much of one
 * console's output; the rest waits for the console's next turn (a defer
 * source, queued behind every other source already pending), so a guest
 * that writes as fast as it can, or moves its ring's index without end,
 * shares the loop with the API, the other consoles and the viewers. */
#define CONSOLE_PUMP_MAX_BYTES (8 * CONSOLE_RING_OUT_SIZE)

/* Cost. Within each period of CONSOLE_PERIOD_USEC a console gets
 *  - CONSOLE_SMALL_TURNS turns that moved little: a guest that notifies
 *    for every few bytes (Xen's vpl011 notifies for every byte the guest
 *    writes) would otherwise cost a turn of the loop, and its system calls
 *    and hypercalls, per byte;
 *  - CONSOLE_BUSY_USEC of the agent's time, however much it moves: a
 *    guest that floods at full speed gets a share of the agent, not all;
 * and all consoles together get CONSOLE_ALL_BUSY_USEC, so that the API and
 * the viewers always have the rest; a console that hit no limit of its own
 * (a keystroke's echo) may go on up to twice that, so that a flood
 * elsewhere does not make it wait for the period's end. Past a limit the
 * console's event channel stays masked (Xen only marks it pending) until
 * the period ends, and its next turn moves what piled up meanwhile: the
 * guest waits for room, nothing is lost. A turn's cost is the whole
 * dispatch, from the event's read to the guest's notification.
 *
 * Priority. A console that hit a limit of its own in its period, or is
 * polled (below), runs below everything else of the loop
 * (CONSOLE_PRIORITY_BULK) until a period in which it did neither: the API,
 * the websockets and quiet consoles go first whenever both are pending, so
 * a keystroke's echo waits for at most the one turn being made, not for the
 * queue of a flood's. The price: while clients keep the loop busy without a
 * pause, flooding consoles wait (their guests wait for room; nothing is
 * lost). A flood moves at most a ring (2 KiB) per poll: 4 polls per period
 * as the only flood (some 800 KiB/s where turns are cheap), 1 with others
 * (some 200 KiB/s each; xenconsoled's own limit, 30 events per 200 ms,
 * allows some 300 KiB/s), less where the limits above bind first. */
#define CONSOLE_PERIOD_USEC (10 * 1000)
#define CONSOLE_SMALL_TURNS 4
#define CONSOLE_SMALL_BYTES (CONSOLE_RING_OUT_SIZE / 4)
#define CONSOLE_BUSY_USEC 1500
#define CONSOLE_ALL_BUSY_USEC 2500
#define CONSOLE_POLL_USEC 2500
#define CONSOLE_PRIORITY_BULK (SD_EVENT_PRIORITY_NORMAL + 10)

/* The agent's one event loop runs every backend: their shared period. */
static struct {
        uint64_t period_start;
        uint64_t busy;
        unsigned bulk;          /* consoles at CONSOLE_PRIORITY_BULK */
} all_consoles;

/* The log's cursor is written at most this often (and when the backend
 * goes): a cursor older than the log's end still says exactly which ring
 * bytes the log holds, as long as less than 4 GiB came since. */
#define CONSOLE_CURSOR_USEC (1000 * 1000)

struct console_backend {
        sd_event *event;
        uint32_t domid;
        char name[96];                  /* VM/console, for messages */
        struct console_log *log;        /* borrowed */
        bool log_refusing;              /* the log refused bytes last time: said so once */
        uint64_t ring_id;               /* this ring's number in the log's cursor */
        char corrupt[160];              /* why the ring is no longer served, or "" */

        xenforeignmemory_handle *fmem;
        volatile struct console_ring *ring;
        xenevtchn_handle *xce;
        evtchn_port_t local_port;
        bool bound;
        sd_event_source *io;
        sd_event_source *retry;
        sd_event_source *more;          /* the next turn of a console with more output */
        sd_event_source *rearm;         /* the end of a period in which the console used up its small turns */
        uint64_t period_start;          /* CLOCK_MONOTONIC µs */
        unsigned small_turns;
        uint64_t busy;                  /* µs of turns in the period */
        bool limited;                   /* hit a limit in the period */
        bool bulk;                      /* its sources run at CONSOLE_PRIORITY_BULK */
        size_t moved;                   /* bytes the last turn moved */
        uint64_t cursor_time;           /* when the cursor was last written */
        bool cursor_dirty;              /* output moved since */

        uint8_t *input;                 /* queued input, input_len bytes */
        size_t input_len;

        struct console_backend_stats stats;
};

static void save_cursor(struct console_backend *b);

struct console_backend *console_backend_free(struct console_backend *b) {
        if (!b)
                return NULL;
        b->retry = sd_event_source_disable_unref(b->retry);
        b->more = sd_event_source_disable_unref(b->more);
        b->rearm = sd_event_source_disable_unref(b->rearm);
        if (b->bulk)
                all_consoles.bulk--;
        b->io = sd_event_source_disable_unref(b->io);
        if (b->cursor_dirty && b->ring && b->log)
                save_cursor(b);
        if (b->bound)
                (void) xenevtchn_unbind(b->xce, b->local_port);
        if (b->xce)
                xenevtchn_close(b->xce);
        if (b->ring)
                (void) xenforeignmemory_unmap(b->fmem, (void *) (uintptr_t) b->ring, 1);
        if (b->fmem)
                xenforeignmemory_close(b->fmem);
        sd_event_unref(b->event);
        free(b->input);
        free(b);
        return NULL;
}

static int notify(struct console_backend *b) {
        return xenevtchn_notify(b->xce, b->local_port) < 0 ? negative_errno() : 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void schedule_retry(struct console_backend *b) {
        uint64_t now;

        if (sd_event_now(b->event, CLOCK_MONOTONIC, &now) < 0)
                return;
        if (!b->retry) {
                if (sd_event_add_time(b->event, &b->retry, CLOCK_MONOTONIC, now + CONSOLE_RETRY_USEC, 0,
                                      on_retry, b) < 0)
                        return;
        } else {
                (void) sd_event_source_set_time(b->retry, now + CONSOLE_RETRY_USEC);
        }
        (void) sd_event_source_set_enabled(b->retry, SD_EVENT_ONESHOT);
}

/* Stores where the log and the ring stand (the log's cursor, see
 * console-log.h), so that a restarted agent consumes what the log already
 * holds instead of logging it twice. A failure costs only that guarantee. */
static void save_cursor(struct console_backend *b) {
        struct console_log_cursor c = {
                .ring_id = b->ring_id,
                .end = console_log_end(b->log),
                .ring_cons = __atomic_load_n(&b->ring->out_cons, __ATOMIC_RELAXED),
        };

        if (console_log_put_cursor(b->log, &c) >= 0)
                b->cursor_dirty = false;
        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &b->cursor_time);
}

/* After a turn that moved output: the cursor, unless written recently. */
static void maybe_save_cursor(struct console_backend *b) {
        uint64_t now = 0;

        b->cursor_dirty = true;
        (void) sd_event_now(b->event, CLOCK_MONOTONIC, &now);
        if (now - b->cursor_time >= CONSOLE_CURSOR_USEC)
                save_cursor(b);
}

/* The other side broke the ring's rules: the ring is no longer read or
 * written (the event channel stays masked, so notifications cost nothing),
 * the log keeps what it has, and the API says why until the domain goes. */
static void mark_corrupt(struct console_backend *b, const char *which) {
        uint32_t cons, prod;

        b->stats.ring_errors++;
        if (b->corrupt[0])
                return;
        if (strcmp(which, "out") == 0) {
                cons = __atomic_load_n(&b->ring->out_cons, __ATOMIC_RELAXED);
                prod = __atomic_load_n(&b->ring->out_prod, __ATOMIC_RELAXED);
        } else {
                cons = __atomic_load_n(&b->ring->in_cons, __ATOMIC_RELAXED);
                prod = __atomic_load_n(&b->ring->in_prod, __ATOMIC_RELAXED);
        }
        snprintf(b->corrupt, sizeof(b->corrupt), "the guest's %s ring claims %u queued bytes (prod %u, cons %u), "
                 "more than its %u", which, prod - cons, prod, cons,
                 strcmp(which, "out") == 0 ? CONSOLE_RING_OUT_SIZE : CONSOLE_RING_IN_SIZE);
        log_error("The console of %s is corrupt: %s; no longer served (its log is kept; destroy and start the VM "
                  "to serve it again)", b->name, b->corrupt);
        (void) sd_event_source_set_enabled(b->io, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(b->more, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(b->retry, SD_EVENT_OFF);
        (void) sd_event_source_set_enabled(b->rearm, SD_EVENT_OFF);
}

static int on_more(sd_event_source *s, void *userdata);

/* The priority of the console's sources (see "Priority" above). */
static int64_t priority_of(const struct console_backend *b) {
        return b->bulk ? CONSOLE_PRIORITY_BULK : SD_EVENT_PRIORITY_NORMAL;
}

/* Gives the console another turn after every source already pending. */
static void schedule_more(struct console_backend *b) {
        if (!b->more) {
                if (sd_event_add_defer(b->event, &b->more, on_more, b) < 0)
                        return;
                (void) sd_event_source_set_priority(b->more, priority_of(b));
        }
        (void) sd_event_source_set_enabled(b->more, SD_EVENT_ONESHOT);
}

/* Moves what the guest queued into the log (up to CONSOLE_PUMP_MAX_BYTES
 * per turn), then as much queued input as the ring takes; one notification
 * covers both. */
static int pump(struct console_backend *b) {
        uint8_t buf[CONSOLE_RING_OUT_SIZE];
        bool progress = false;
        size_t moved = 0;
        uint64_t before;
        ssize_t n;
        int r;

        b->moved = 0;
        if (b->corrupt[0])
                return 0;
        for (;;) {
                if (moved >= CONSOLE_PUMP_MAX_BYTES) {
                        schedule_more(b);
                        break;
                }
                n = console_ring_peek_out(b->ring, buf, sizeof(buf));
                if (n < 0) {
                        mark_corrupt(b, "out");
                        break;
                }
                if (n == 0)
                        break;
                before = console_log_end(b->log);
                r = console_log_append(b->log, buf, (size_t) n);
                if (r < 0) {
                        /* Consume what the log took (it keeps its offsets);
                         * the rest stays in the ring and the guest waits. */
                        uint64_t took = console_log_end(b->log) - before;

                        if (took > 0) {
                                (void) console_ring_consume_out(b->ring, (size_t) took);
                                b->stats.bytes_out += took;
                                progress = true;
                        }
                        b->stats.log_errors++;
                        if (!b->log_refusing)
                                log_warning_errno(r, "The console log of %s takes no more output; the guest waits "
                                                  "until it does (trying every second)", b->name);
                        b->log_refusing = true;
                        schedule_retry(b);
                        break;
                }
                if (b->log_refusing) {
                        log_notice("The console log of %s takes output again.", b->name);
                        b->log_refusing = false;
                }
                (void) console_ring_consume_out(b->ring, (size_t) n);
                b->stats.bytes_out += (uint64_t) n;
                moved += (size_t) n;
                progress = true;
                /* Only a full ring is drained again at once (its writer
                 * waits for room). A slow writer is not chased byte by
                 * byte: what it writes next comes with its next event (the
                 * port was unmasked before this turn) or, while the console
                 * is polled, with its next poll. */
                if ((size_t) n < CONSOLE_RING_OUT_SIZE)
                        break;
        }
        b->moved = moved;
        if (moved > 0)
                maybe_save_cursor(b);

        if (b->input_len > 0 && !b->corrupt[0]) {
                n = console_ring_write_in(b->ring, b->input, b->input_len);
                if (n < 0)
                        mark_corrupt(b, "in");
                else if (n > 0) {
                        memmove(b->input, b->input + n, b->input_len - (size_t) n);
                        b->input_len -= (size_t) n;
                        b->stats.bytes_in += (uint64_t) n;
                        progress = true;
                }
        }

        return progress && !b->corrupt[0] ? notify(b) : 0;
}

static uint64_t monotonic_usec(void) {
        struct timespec ts;

        (void) clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

static bool may_take_turn(struct console_backend *b);
static void take_turn(struct console_backend *b, uint64_t t0);

static int on_more(sd_event_source *s, void *userdata) {
        uint64_t t0 = monotonic_usec();

        (void) s;
        if (may_take_turn(userdata))
                take_turn(userdata, t0);
        return 0;
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        (void) s; (void) usec;
        (void) pump(userdata);
        return 0;
}

static bool schedule_rearm(struct console_backend *b, uint64_t end);

/* One turn, its cost counted from t0, when its dispatch began: the port
 * unmasked (events that come during the turn bring the next one), the ring
 * pumped. */
static void take_turn(struct console_backend *b, uint64_t t0) {
        uint64_t spent;

        /* A console over its limits is polled: its port stays masked while
         * each turn finds much output (a flood), and its next turn comes
         * CONSOLE_POLL_USEC later while it has time left in its period and
         * is the only flood, else at the period's end, without the event's read and unmask (two
         * system calls a turn, which on a flood cost as much as the log's
         * write). A turn that finds little unmasks it again (Xen then
         * delivers what came meanwhile), so that typing is never polled. */
        if (!b->bulk)
                (void) xenevtchn_unmask(b->xce, b->local_port);
        (void) pump(b);
        if (b->bulk && !b->corrupt[0]) {
                if (b->moved >= CONSOLE_SMALL_BYTES) {
                        uint64_t now = monotonic_usec(), next = b->period_start + CONSOLE_PERIOD_USEC;

                        /* Polled sooner only as the one flood: with others
                         * it would mostly be refused, a wakeup for nothing. */
                        if (all_consoles.bulk == 1 && b->busy + (now - t0) < CONSOLE_BUSY_USEC &&
                            all_consoles.busy + (now - t0) < CONSOLE_ALL_BUSY_USEC && now + CONSOLE_POLL_USEC < next)
                                next = now + CONSOLE_POLL_USEC;
                        b->limited = true; /* polled: it stays bulk while it floods */
                        if (!schedule_rearm(b, next))
                                (void) xenevtchn_unmask(b->xce, b->local_port);
                } else {
                        /* Events again; a poll still armed would only cost a
                         * turn. */
                        if (b->rearm)
                                (void) sd_event_source_set_enabled(b->rearm, SD_EVENT_OFF);
                        (void) xenevtchn_unmask(b->xce, b->local_port);
                }
        }
        spent = monotonic_usec() - t0;
        b->busy += spent;
        all_consoles.busy += spent;
        if (b->moved < CONSOLE_SMALL_BYTES)
                b->small_turns++;
}

static int on_rearm(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata);

static void set_bulk(struct console_backend *b, bool bulk) {
        int64_t priority;

        if (b->bulk == bulk)
                return;
        b->bulk = bulk;
        priority = priority_of(b);
        if (bulk)
                all_consoles.bulk++;
        else
                all_consoles.bulk--;
        (void) sd_event_source_set_priority(b->io, priority);
        if (b->more)
                (void) sd_event_source_set_priority(b->more, priority);
        if (b->rearm)
                (void) sd_event_source_set_priority(b->rearm, priority);
}

/* Whether the console may take a turn now; if not, its port stays masked
 * until its period, or all consoles' period, ends. */
static bool may_take_turn(struct console_backend *b) {
        uint64_t now = monotonic_usec(), end, all_limit;

        if (now - b->period_start >= CONSOLE_PERIOD_USEC) {
                if (now - b->period_start >= 2 * CONSOLE_PERIOD_USEC || !b->limited)
                        set_bulk(b, false);
                b->period_start = now;
                b->small_turns = 0;
                b->busy = 0;
                b->limited = false;
        }
        if (now - all_consoles.period_start >= CONSOLE_PERIOD_USEC) {
                all_consoles.period_start = now;
                all_consoles.busy = 0;
        }
        all_limit = b->bulk ? CONSOLE_ALL_BUSY_USEC : 2 * CONSOLE_ALL_BUSY_USEC;
        if (b->small_turns < CONSOLE_SMALL_TURNS && b->busy < CONSOLE_BUSY_USEC && all_consoles.busy < all_limit)
                return true;
        b->stats.deferred++;
        if (b->small_turns >= CONSOLE_SMALL_TURNS || b->busy >= CONSOLE_BUSY_USEC) {
                /* A limit of its own: bulk. Waiting only for the others
                 * (all consoles' limit) does not make it so. */
                b->limited = true;
                set_bulk(b, true);
                end = b->period_start + CONSOLE_PERIOD_USEC;
        } else
                end = all_consoles.period_start + CONSOLE_PERIOD_USEC;
        return !schedule_rearm(b, end); /* no timer: serve it now rather than never */
}

/* The console's next turn at end (CLOCK_MONOTONIC µs), its port masked till
 * then; false if there is no timer for it. Accuracy: a millisecond, so that
 * the loop wakes once for the consoles whose periods end together. */
static bool schedule_rearm(struct console_backend *b, uint64_t end) {
        if (!b->rearm) {
                if (sd_event_add_time(b->event, &b->rearm, CLOCK_MONOTONIC, end, 1000, on_rearm, b) < 0)
                        return false;
                (void) sd_event_source_set_priority(b->rearm, priority_of(b));
        } else if (sd_event_source_set_time(b->rearm, end) < 0)
                return false;
        return sd_event_source_set_enabled(b->rearm, SD_EVENT_ONESHOT) >= 0;
}

static int on_rearm(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        struct console_backend *b = userdata;
        uint64_t t0 = monotonic_usec();

        /* A period ended: what piled up moves (or waits for the next). */
        if (may_take_turn(b))
                take_turn(b, t0);
        return 0;
}

static int on_event(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        struct console_backend *b = userdata;
        uint64_t t0 = monotonic_usec();
        xenevtchn_port_or_error_t port;

        (void) s; (void) fd; (void) revents;
        port = xenevtchn_pending(b->xce);
        if (port < 0)
                return 0;
        b->stats.events++;
        /* The evtchn device masks a port when it delivers it; it stays so
         * while the console is over a limit. */
        if (may_take_turn(b))
                take_turn(b, t0);
        return 0;
}

/* A restarted agent takes over a ring it served before: the bytes the log
 * stored after the cursor, and so after the ring's out_cons of then, are
 * consumed rather than stored again. Without a cursor for this ring (an
 * older agent, a write that failed) they may repeat, and the journal says
 * so. */
static void resume(struct console_backend *b) {
        struct console_log_cursor c;
        uint64_t end = console_log_end(b->log);
        int64_t skipped;
        int r;

        r = console_log_get_cursor(b->log, &c);
        if (r < 0 || c.ring_id != b->ring_id || c.end > end) {
                log_notice("The console of %s has no record of where the agent stood in its ring; output still in "
                           "the ring may be logged twice", b->name);
                return;
        }
        skipped = console_ring_skip_logged(b->ring, c.ring_cons, end - c.end);
        if (skipped < 0)
                log_warning("The console of %s: the ring's indexes do not fit what the log holds (%llu bytes since "
                            "the agent's record); output may be logged twice", b->name,
                            (unsigned long long) (end - c.end));
        else if (skipped > 0)
                log_info("The console of %s: %lld bytes still in the ring were logged before the agent's restart; "
                         "consumed them without logging them again.", b->name, (long long) skipped);
}

int console_backend_new(sd_event *event, const char *name, uint32_t domid, uint64_t gfn, uint32_t remote_port,
                        struct console_log *log, uint64_t ring_id, bool take_over,
                        struct console_backend **ret) {
        _cleanup_(console_backend_freep) struct console_backend *b = NULL;
        xen_pfn_t pfn = (xen_pfn_t) gfn;
        xenevtchn_port_or_error_t port;
        void *page;
        int r;

        b = calloc(1, sizeof(*b));
        if (!b)
                return -ENOMEM;
        b->event = sd_event_ref(event);
        b->domid = domid;
        snprintf(b->name, sizeof(b->name), "%s", name);
        b->log = log;
        b->ring_id = ring_id;

        b->fmem = xenforeignmemory_open(NULL, 0);
        if (!b->fmem)
                return negative_errno();
        page = xenforeignmemory_map(b->fmem, domid, PROT_READ | PROT_WRITE, 1, &pfn, NULL);
        if (!page)
                return negative_errno();
        b->ring = page;

        b->xce = xenevtchn_open(NULL, 0);
        if (!b->xce)
                return negative_errno();
        port = xenevtchn_bind_interdomain(b->xce, domid, remote_port);
        if (port < 0)
                return negative_errno();
        b->local_port = (evtchn_port_t) port;
        b->bound = true;

        r = sd_event_add_io(event, &b->io, xenevtchn_fd(b->xce), EPOLLIN, on_event, b);
        if (r < 0)
                return r;

        if (take_over)
                resume(b);
        save_cursor(b);
        r = pump(b);
        if (r < 0)
                return r;
        *ret = TAKE_PTR(b);
        return 0;
}

ssize_t console_backend_write(struct console_backend *b, const void *data, size_t n) {
        size_t take;

        if (!b->input) {
                b->input = malloc(CONSOLE_BACKEND_INPUT_MAX);
                if (!b->input)
                        return -ENOMEM;
        }
        take = CONSOLE_BACKEND_INPUT_MAX - b->input_len;
        if (take > n)
                take = n;
        memcpy(b->input + b->input_len, data, take);
        b->input_len += take;
        (void) pump(b);
        return (ssize_t) take;
}

int console_backend_kick(struct console_backend *b) {
        return pump(b);
}

const char *console_backend_corrupt(const struct console_backend *b) {
        return b->corrupt[0] ? b->corrupt : NULL;
}

void console_backend_get_stats(const struct console_backend *b, struct console_backend_stats *ret) {
        *ret = b->stats;
}
