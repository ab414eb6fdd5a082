/* vm-state.c: owns the rules of a VM's life (see vm-state.h). */
#include <string.h>

#include "macro.h"
#include "vm-state.h"

static const char *const state_names[_VM_STATE_MAX] = {
        [VM_STOPPED] = "stopped",
        [VM_RUNNING] = "running",
        [VM_PAUSED] = "paused",
        [VM_CRASHED] = "crashed",
};

static const char *const event_names[_VM_EVENT_MAX] = {
        [VM_EVENT_STARTED] = "started",
        [VM_EVENT_PAUSED] = "paused",
        [VM_EVENT_RESUMED] = "resumed",
        [VM_EVENT_POWERED_OFF] = "powered_off",
        [VM_EVENT_REBOOTED] = "rebooted",
        [VM_EVENT_CRASHED] = "crashed",
        [VM_EVENT_DESTROYED] = "destroyed",
        [VM_EVENT_VANISHED] = "vanished",
        [VM_EVENT_RECOVERED_RUNNING] = "recovered_running",
        [VM_EVENT_RECOVERED_PAUSED] = "recovered_paused",
};

/* next[state][event] + 1: 0 (the zero of the table) is "cannot happen". */
#define TO(s) ((s) + 1)
static const signed char next[_VM_STATE_MAX][_VM_EVENT_MAX] = {
        [VM_STOPPED] = {
                [VM_EVENT_STARTED] = TO(VM_RUNNING),
                [VM_EVENT_RECOVERED_RUNNING] = TO(VM_RUNNING),
                [VM_EVENT_RECOVERED_PAUSED] = TO(VM_PAUSED),
        },
        [VM_CRASHED] = {
                [VM_EVENT_STARTED] = TO(VM_RUNNING),
                [VM_EVENT_RECOVERED_RUNNING] = TO(VM_RUNNING),
                [VM_EVENT_RECOVERED_PAUSED] = TO(VM_PAUSED),
        },
        [VM_RUNNING] = {
                [VM_EVENT_PAUSED] = TO(VM_PAUSED),
                [VM_EVENT_POWERED_OFF] = TO(VM_STOPPED),
                [VM_EVENT_REBOOTED] = TO(VM_STOPPED),
                [VM_EVENT_CRASHED] = TO(VM_CRASHED),
                [VM_EVENT_DESTROYED] = TO(VM_STOPPED),
                [VM_EVENT_VANISHED] = TO(VM_STOPPED),
        },
        [VM_PAUSED] = {
                [VM_EVENT_RESUMED] = TO(VM_RUNNING),
                [VM_EVENT_POWERED_OFF] = TO(VM_STOPPED),
                [VM_EVENT_REBOOTED] = TO(VM_STOPPED),
                [VM_EVENT_CRASHED] = TO(VM_CRASHED),
                [VM_EVENT_DESTROYED] = TO(VM_STOPPED),
                [VM_EVENT_VANISHED] = TO(VM_STOPPED),
        },
};

const char *vm_state_to_string(enum vm_state s) {
        return s >= 0 && s < _VM_STATE_MAX ? state_names[s] : "invalid";
}

const char *vm_event_to_string(enum vm_event e) {
        return e >= 0 && e < _VM_EVENT_MAX ? event_names[e] : "invalid";
}

enum vm_state vm_state_next(enum vm_state s, enum vm_event e) {
        if (s < 0 || s >= _VM_STATE_MAX || e < 0 || e >= _VM_EVENT_MAX || next[s][e] == 0)
                return _VM_STATE_INVALID;
        return (enum vm_state) (next[s][e] - 1);
}

bool vm_state_has_domain(enum vm_state s) {
        return s == VM_RUNNING || s == VM_PAUSED;
}

static const char *const exit_names[_VM_EXIT_MAX] = {
        [VM_EXIT_NONE] = "none",
        [VM_EXIT_POWEROFF] = "poweroff",
        [VM_EXIT_REBOOT] = "reboot",
        [VM_EXIT_CRASH] = "crash",
        [VM_EXIT_WATCHDOG] = "watchdog",
        [VM_EXIT_REBOOT_LOOP] = "reboot_loop",
        [VM_EXIT_DESTROY] = "destroy",
        [VM_EXIT_VANISHED] = "vanished",
        [VM_EXIT_HOST_REBOOT] = "host_reboot",
};

const char *vm_exit_to_string(enum vm_exit x) {
        return x >= 0 && x < _VM_EXIT_MAX ? exit_names[x] : "none";
}

enum vm_exit vm_exit_from_string(const char *s) {
        for (int x = 0; s && x < _VM_EXIT_MAX; x++)
                if (strcmp(s, exit_names[x]) == 0)
                        return (enum vm_exit) x;
        return VM_EXIT_NONE;
}
