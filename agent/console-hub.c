/* console-hub.c: owns who watches one console's log (see console-hub.h).
 *
 * Why news of output waits: the console backend appends while it drains the
 * guest's ring, and the guest should get its ring back (and its event)
 * before any viewer's socket is written to. And a flood is better sent in
 * frames of many ring-fulls than in one frame (and two send()s) per 2 KiB
 * ring, which costs dom0 more than the log itself. So output is told on the
 * next turn of the loop, except after news that carried a burst (at least
 * CONSOLE_HUB_BURST_BYTES): then the next news waits until
 * CONSOLE_HUB_NEWS_USEC after it. Typing is never held back (each echo is
 * news of a few bytes), a flood is told in frames of many ring-fulls. The
 * news timer runs at the loop's normal priority, above a flooding ring's
 * own turns (console.c), so a flood cannot starve its viewers.
 *
 * Time is read with clock_gettime(), in the clock of sd-event's timers. */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "console-hub.h"
#include "console-log.h"

struct console_hub {
        sd_event *event;
        struct console_log *log;        /* borrowed */
        struct console_watch *watches;
        unsigned n_watches;
        sd_event_source *news;          /* watchers are yet to hear of output while enabled */
        uint64_t news_last;             /* when they last heard (CLOCK_MONOTONIC µs) */
        uint64_t told_end;              /* the log's end they last heard of */
        bool burst;                     /* that news carried a burst */
        uint64_t skipped;               /* bytes watchers were moved past */
};

static uint64_t now_usec(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000 + (uint64_t) ts.tv_nsec / 1000;
}

bool console_hub_news_pending(const struct console_hub *h) {
        int enabled = SD_EVENT_OFF;

        return h->news && sd_event_source_get_enabled(h->news, &enabled) >= 0 && enabled != SD_EVENT_OFF;
}

static void tell(struct console_hub *h) {
        if (h->news)
                (void) sd_event_source_set_enabled(h->news, SD_EVENT_OFF);
        h->news_last = now_usec();
        h->burst = console_log_end(h->log) - h->told_end >= CONSOLE_HUB_BURST_BYTES;
        h->told_end = console_log_end(h->log);
        for (struct console_watch *w = h->watches, *next; w; w = next) {
                next = w->next; /* on_change may unwatch */
                w->on_change(w, false);
        }
}

static int on_news(sd_event_source *s _unused_, uint64_t usec _unused_, void *userdata) {
        tell(userdata);
        return 0;
}

static void on_append(struct console_log *l _unused_, void *userdata) {
        struct console_hub *h = userdata;
        uint64_t now, due;

        if (!h->watches) {
                h->told_end = console_log_end(h->log); /* what a newcomer hears of is after this */
                return;
        }
        if (console_hub_news_pending(h))
                return; /* they will hear of this too */
        now = now_usec();
        due = h->news_last + CONSOLE_HUB_NEWS_USEC;
        if (!h->burst || due <= now)
                due = 1; /* on the next turn */
        if (!h->news) {
                if (sd_event_add_time(h->event, &h->news, CLOCK_MONOTONIC, due, 1, on_news, h) < 0) {
                        tell(h); /* no memory for the source: tell them now */
                        return;
                }
        } else
                (void) sd_event_source_set_time(h->news, due);
        (void) sd_event_source_set_enabled(h->news, SD_EVENT_ONESHOT);
}

int console_hub_new(sd_event *event, struct console_log *log, struct console_hub **ret) {
        struct console_hub *h = calloc(1, sizeof(*h));

        if (!h)
                return -ENOMEM;
        h->event = sd_event_ref(event);
        h->log = log;
        h->told_end = console_log_end(log);
        console_log_set_on_append(log, on_append, h);
        *ret = h;
        return 0;
}

struct console_hub *console_hub_free(struct console_hub *h) {
        if (!h)
                return NULL;
        /* The last output first; then the log is gone, and they must not
         * come back. */
        if (console_hub_news_pending(h))
                tell(h);
        h->news = sd_event_source_disable_unref(h->news);
        while (h->watches) {
                struct console_watch *w = h->watches;

                h->watches = w->next;
                w->hub = NULL;
                w->next = NULL;
                w->on_change(w, true);
        }
        console_log_set_on_append(h->log, NULL, NULL);
        sd_event_unref(h->event);
        free(h);
        return NULL;
}

void console_hub_count_skipped(struct console_hub *h, uint64_t bytes) {
        h->skipped += bytes;
}

uint64_t console_hub_skipped(const struct console_hub *h) {
        return h->skipped;
}

struct console_log *console_hub_log(const struct console_hub *h) {
        return h->log;
}

int console_hub_watch(struct console_hub *h, struct console_watch *w) {
        if (h->n_watches >= CONSOLE_HUB_WATCHERS_MAX)
                return -EMFILE;
        w->hub = h;
        w->next = h->watches;
        h->watches = w;
        h->n_watches++;
        return 0;
}

void console_hub_unwatch(struct console_watch *w) {
        struct console_hub *h = w->hub;

        if (!h)
                return;
        for (struct console_watch **p = &h->watches; *p; p = &(*p)->next)
                if (*p == w) {
                        *p = w->next;
                        h->n_watches--;
                        break;
                }
        w->hub = NULL;
        w->next = NULL;
}

unsigned console_hub_watchers(const struct console_hub *h) {
        return h->n_watches;
}

void console_hub_notify(struct console_hub *h) {
        tell(h);
}
