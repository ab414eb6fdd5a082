/* console-hub.h: owns who watches one console's log: its watchers (the
 * websocket viewers of console-ws.c and the ?follow=1 readers of
 * api-consoles.c alike), and when they hear of what happened. A hub is made
 * with its console's log and lives as long as it (the VM owns both):
 *
 *   - new output: watchers hear of it on a later turn of the event loop;
 *     after news of a burst, not before CONSOLE_HUB_NEWS_USEC have passed
 *     (see console-hub.c for why);
 *   - a change of the VM's state or boot count (console_hub_notify()): at
 *     once, after any output they were yet to hear of;
 *   - the end (console_hub_free(), the VM is deleted with its log): once,
 *     with gone, after which the hub never touches the watch again.
 *
 * A watcher reads the log itself (console_hub_log()), from its own cursor and
 * at its own pace: the hub keeps no copy of the output. */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "macro.h"

struct console_hub;
struct console_log;

/* At most this many watchers per console. */
#define CONSOLE_HUB_WATCHERS_MAX 64
/* How often at most the watchers hear of new output while it comes in
 * bursts of at least CONSOLE_HUB_BURST_BYTES. */
#define CONSOLE_HUB_NEWS_USEC (5 * 1000)
#define CONSOLE_HUB_BURST_BYTES 1024

/* A watcher: its memory is the caller's. on_change may unwatch itself (not
 * another watcher), and must not free the hub. */
struct console_watch {
        void (*on_change)(struct console_watch *w, bool gone);
        /* set by console_hub_watch() */
        struct console_hub *hub;
        struct console_watch *next;
};

/* The hub of log (borrowed: it must outlive the hub), which it hooks
 * (console_log_set_on_append) to hear of output. */
int console_hub_new(sd_event *event, struct console_log *log, struct console_hub **ret);
/* Watchers get the output they were yet to hear of, then gone. Takes NULL. */
struct console_hub *console_hub_free(struct console_hub *h);
DEFINE_CLEANUP_FUNC(struct console_hub, console_hub_free);

struct console_log *console_hub_log(const struct console_hub *h);

/* -EMFILE past CONSOLE_HUB_WATCHERS_MAX. */
int console_hub_watch(struct console_hub *h, struct console_watch *w);
/* Takes a watch that was never added, or was told gone. */
void console_hub_unwatch(struct console_watch *w);
unsigned console_hub_watchers(const struct console_hub *h);

/* Watchers (websocket viewers) count here the bytes they were moved past
 * (removed by the budget, or left behind by a stalled viewer), so that the
 * count outlives them: the metrics read it. */
void console_hub_count_skipped(struct console_hub *h, uint64_t bytes);
uint64_t console_hub_skipped(const struct console_hub *h);

/* Something besides output changed (the VM's state): tell every watcher now. */
void console_hub_notify(struct console_hub *h);
/* Whether watchers are yet to hear of output (a news timer is pending). */
bool console_hub_news_pending(const struct console_hub *h);
