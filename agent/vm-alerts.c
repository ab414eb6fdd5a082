/* vm-alerts.c: a VM's alerts (its spec's "alerts"): for each alert and each
 * console it names, a watcher of the console's hub that scans what the
 * guest writes, from the log's end when the VM is loaded or made, and turns
 * each line that matches, once it is whole, into a console_alert event
 * (with the line, so not what came of it so far). A guest that prints
 * its panic in a loop cannot fill the event log: each watcher sends at
 * most VM_ALERT_BURST events a minute and counts the lines it held back in
 * the next one's "suppressed" (lines held back with no later match are
 * not told). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "console-hub.h"
#include "console-log.h"
#include "events.h"
#include "line-match.h"
#include "vm.h"

#define VM_ALERT_BURST 10
#define VM_ALERT_WINDOW_NS (60ULL * 1000 * 1000 * 1000)
/* An event holds this much of the line (events are at most EVENTS_LINE_MAX). */
#define VM_ALERT_LINE_MAX (EVENTS_LINE_MAX / 4)

struct vm_alert_watch {
        struct console_watch watch;
        struct vm *vm;
        enum vm_console console;
        const struct vm_alert *alert;   /* in vm->spec */
        struct line_match m;
        uint64_t window_start_ns;       /* CLOCK_MONOTONIC */
        unsigned in_window;
        uint64_t suppressed;
};

static uint64_t monotonic_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000ULL + (uint64_t) ts.tv_nsec;
}

/* The line for the event: its first VM_ALERT_LINE_MAX bytes, fewer when
 * escaping makes them longer in JSON (a control byte takes 6: a guest's
 * line must not make the event too long to record). */
static json_t *line_json(const struct line_match *m) {
        for (size_t max = VM_ALERT_LINE_MAX;; max /= 2) {
                json_t *j = line_match_line_json(m, max);
                char *text = j ? json_dumps(j, JSON_ENCODE_ANY) : NULL;
                size_t n = text ? strlen(text) : 0;

                free(text);
                if (!j || n <= VM_ALERT_LINE_MAX || max < 16)
                        return j;
                json_decref(j);
        }
}

static void fire(struct vm_alert_watch *a, uint64_t offset) {
        uint64_t now = monotonic_ns();
        json_t *j;

        if (now - a->window_start_ns >= VM_ALERT_WINDOW_NS) {
                a->window_start_ns = now;
                a->in_window = 0;
        }
        if (a->in_window >= VM_ALERT_BURST) {
                a->suppressed++;
                return;
        }
        a->in_window++;
        j = json_pack("{s:s,s:s,s:b,s:I,s:o,s:I}", "console", a->console == VM_CONSOLE_PV ? "pv" : "vuart",
                      "pattern", a->alert->pattern, "regex", a->alert->regex, "offset", (json_int_t) offset, "line",
                      line_json(&a->m), "suppressed", (json_int_t) a->suppressed);
        a->suppressed = 0;
        (void) events_append(a->vm->owner->events, "console_alert", a->vm->spec.name, j);
}

static bool on_match(void *arg, uint64_t offset, uint64_t end _unused_) {
        fire(arg, offset);
        return true;
}

static void on_change(struct console_watch *w, bool gone) {
        struct vm_alert_watch *a = (struct vm_alert_watch *) ((char *) w - offsetof(struct vm_alert_watch, watch));

        /* All the guest wrote (its rate is the console's to bound); a log
         * that cannot be read is tried again at the next output. */
        if (!gone)
                (void) console_log_scan(a->vm->logs[a->console], &a->m, SIZE_MAX, on_match, a);
}

int vm_alerts_start(struct vm *vm) {
        for (unsigned i = 0; i < vm->spec.n_alerts; i++)
                for (int c = 0; c < _VM_CONSOLE_MAX; c++) {
                        const struct vm_alert *alert = &vm->spec.alerts[i];
                        struct vm_alert_watch *a;
                        char why[128];

                        if (!vm->hubs[c] || (alert->console >= 0 && alert->console != c))
                                continue;
                        a = calloc(1, sizeof(*a));
                        if (!a)
                                return -ENOMEM;
                        *a = (struct vm_alert_watch) { .vm = vm, .console = (enum vm_console) c, .alert = alert,
                                                       .window_start_ns = monotonic_ns() };
                        a->watch.on_change = on_change;
                        if (line_match_init(&a->m, alert->pattern, alert->regex, console_log_end(vm->logs[c]), why,
                                            sizeof(why)) < 0) {
                                free(a);
                                return -EINVAL; /* the spec's parse took it: not expected */
                        }
                        line_match_set_whole_lines(&a->m, true);
                        if (console_hub_watch(vm->hubs[c], &a->watch) < 0) {
                                line_match_done(&a->m);
                                free(a);
                                return -EMFILE;
                        }
                        vm->alerts[vm->n_alerts++] = a;
                }
        return 0;
}

void vm_alerts_stop(struct vm *vm) {
        for (unsigned i = 0; i < vm->n_alerts; i++) {
                console_hub_unwatch(&vm->alerts[i]->watch);
                line_match_done(&vm->alerts[i]->m);
                free(vm->alerts[i]);
        }
        vm->n_alerts = 0;
}
